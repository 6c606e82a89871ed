"""The examples in examples/ run as documented: FastAPI with the middleware, the middleware
loaded the way vLLM's server loads `--middleware`, and the sidecar in front of an
OpenAI-compatible server with an unchanged OpenAI SDK client."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import httpx
import openai
import pytest
from tests.admin.admin_client import TOKEN, admin
from tests.gateway import wait_healthy

from guardgate.settings import GuardgateSettings
from guardgate.testing import ServerThread, create_mock_upstream, free_port

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fastapi_example(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("fastapi")
    monkeypatch.setenv("GUARDGATE_ADMIN_TOKEN", TOKEN)
    app = load(EXAMPLES / "fastapi_app.py").app
    with ServerThread(app) as server:
        with openai.OpenAI(base_url=server.url + "/v1", api_key="sk-example-user") as client:
            reply = client.chat.completions.create(
                model="toy", messages=[{"role": "user", "content": "hi"}]
            )
            assert reply.choices[0].message.content == "Here is my answer."
            message = reply.choices[0].message.model_dump()
            assert message["reasoning_content"].startswith("The user asks")

            # The operator marks this account as an extractor: its reasoning is withheld.
            with admin(server.url) as ops:
                account = ops.post("accounts/lookup", json={"api_key": "sk-example-user"}).json()
                ops.put(f"overrides/account/{account['account']}", json={"tier": "extractor"})
            reply = client.chat.completions.create(
                model="toy", messages=[{"role": "user", "content": "hi"}]
            )
            assert reply.choices[0].message.content == "Here is my answer."
            assert not reply.choices[0].message.model_dump().get("reasoning_content")
        scraper = {"authorization": f"Bearer {TOKEN}"}  # the admin token by default
        metrics = httpx.get(server.url + "/_guardgate/metrics", headers=scraper).text
        assert 'guardgate_reasoning_hardened_total{api="openai_chat",policy="strip"} 1.0' in metrics


def _vllm_style_app(dotted: str) -> object:
    """A FastAPI app with `--middleware <dotted>` applied by the same code as vLLM's
    `build_app` (vllm/entrypoints/openai/api_server.py)."""
    from fastapi import FastAPI
    from starlette.requests import Request
    from starlette.responses import Response

    mock = create_mock_upstream()
    app = FastAPI()

    async def chat(request: Request) -> Response:  # stands in for vLLM's handler
        body = await request.body()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=mock)) as client:
            res = await client.post("http://mock/v1/chat/completions", content=body)
        return Response(res.content, res.status_code, media_type="application/json")

    # A plain Starlette route: FastAPI's parameter inspection cannot see this function's
    # locally imported annotations.
    app.add_route("/v1/chat/completions", chat, methods=["POST"])

    module_path, object_name = dotted.rsplit(".", 1)
    imported = getattr(importlib.import_module(module_path), object_name)
    assert inspect.isclass(imported)
    app.add_middleware(imported)
    return app


@pytest.mark.parametrize("detection", ["inline", "process"])
def test_vllm_middleware_flag(monkeypatch: pytest.MonkeyPatch, detection: str) -> None:
    pytest.importorskip("fastapi")
    doc = (EXAMPLES / "vllm.md").read_text()
    assert "--middleware guardgate.GuardgateMiddleware" in doc
    # Every variable the page tells operators to set is a real setting.
    documented = set(re.findall(r"GUARDGATE_([A-Z_]+)", doc))
    fields = {name.upper() for name in GuardgateSettings.model_fields}
    assert documented and documented <= fields, documented - fields

    monkeypatch.setenv("GUARDGATE_ADMIN_TOKEN", TOKEN)
    monkeypatch.setenv("GUARDGATE_ACCOUNT_RPM", "2")
    monkeypatch.setenv("GUARDGATE_DETECTION", detection)
    with ServerThread(_vllm_style_app("guardgate.GuardgateMiddleware")) as server:
        with openai.OpenAI(
            base_url=server.url + "/v1", api_key="sk-vllm-user", max_retries=0
        ) as client:
            for _ in range(2):
                reply = client.chat.completions.create(
                    model="mock-reasoning-content", messages=[{"role": "user", "content": "2+2?"}]
                )
                assert reply.choices[0].message.content
            with pytest.raises(openai.RateLimitError):
                client.chat.completions.create(
                    model="mock-reasoning-content", messages=[{"role": "user", "content": "2+2?"}]
                )
        assert httpx.get(server.url + "/_guardgate/admin/api/overrides").status_code == 401


@contextmanager
def running(cmd: list[str], env: dict[str, str], health: str) -> Iterator[subprocess.Popen[bytes]]:
    """A command run in its own process group, stopped (by its own id) at the end."""
    proc = subprocess.Popen(
        cmd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_healthy(health, proc)
        yield proc
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def _sidecar_client_output(env: dict[str, str], port: int) -> str:
    """What the sidecar example's client prints when pointed at the server on `port`."""
    return subprocess.run(
        [sys.executable, str(EXAMPLES / "sidecar" / "client.py")],
        env={
            **env,
            "OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1",
            "OPENAI_API_KEY": "sk-example",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout


def test_sidecar_example_in_front_of_an_openai_compatible_server() -> None:
    upstream_port, port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GUARDGATE_", "OPENAI_"))}
    guardgate = str(Path(sys.executable).parent / "guardgate")
    with running(
        [guardgate, "mock-upstream", "--port", str(upstream_port)],
        env,
        f"http://127.0.0.1:{upstream_port}/mock/requests",
    ):
        sidecar_env = {
            **env,
            "GUARDGATE_UPSTREAM_URL": f"http://127.0.0.1:{upstream_port}",
            "GUARDGATE_SECRET": "example-secret-0123456789",
            "GUARDGATE_REASONING_POLICY_NORMAL": "strip",
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "PATH": f"{Path(guardgate).parent}:{env.get('PATH', '')}",
        }
        with running(
            ["sh", str(EXAMPLES / "sidecar" / "run.sh")],
            sidecar_env,
            f"http://127.0.0.1:{port}/_guardgate/health",
        ):
            out = _sidecar_client_output(env, port)
            assert "reasoning: (none)" in out  # stripped by the sidecar (policy `strip`)
            assert re.search(r"answer: \S", out)
            # Straight to the server, the same client gets the reasoning.
            assert "reasoning: (none)" not in _sidecar_client_output(env, upstream_port)


def test_sidecar_script_requires_a_secret() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUARDGATE_")}
    res = subprocess.run(
        ["sh", str(EXAMPLES / "sidecar" / "run.sh")], env=env, capture_output=True, text=True
    )
    assert res.returncode != 0
    assert "GUARDGATE_SECRET" in res.stderr


def _documented_uvicorn_command(example: Path) -> list[str]:
    """The `uvicorn ...` command of the example's docstring, as an operator would type it."""
    import shlex

    doc = example.read_text().split('"""')[1]
    joined = doc.replace("\\\n", " ")
    line = next(line for line in joined.splitlines() if "uvicorn " in line)
    words = shlex.split(line[line.index("uvicorn ") :])
    return [sys.executable, "-m", *words]


@pytest.mark.parametrize("trusted", ["", "127.0.0.1/32"])
def test_fastapi_example_run_command_believes_forwarded_for_only_from_trusted_proxies(
    trusted: str,
) -> None:
    pytest.importorskip("fastapi")
    command = _documented_uvicorn_command(EXAMPLES / "fastapi_app.py")
    port = free_port()
    command[command.index("--port") + 1] = str(port)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUARDGATE_")}
    env.update(GUARDGATE_SECRET="example-secret-0123456789", GUARDGATE_ADMIN_TOKEN=TOKEN)
    if trusted:
        env["GUARDGATE_TRUSTED_PROXIES"] = trusted
    url = f"http://127.0.0.1:{port}"
    with (
        running(command, {**env, "PYTHONPATH": str(EXAMPLES.parent)}, url + "/openapi.json"),
        admin(url) as ops,
    ):
        key = "sk-spoofer"
        reply = httpx.post(
            url + "/v1/chat/completions",
            json={"model": "toy", "messages": [{"role": "user", "content": "hi"}]},
            headers={"authorization": f"Bearer {key}", "x-forwarded-for": "9.9.9.9"},
            timeout=10,
        )
        assert reply.status_code == 200
        account = ops.post("accounts/lookup", json={"api_key": key}).json()["account"]
        requests = ops.get(f"accounts/{account}").json()["recent"]
    networks = {r["ip_prefix"] for r in requests}
    # From a peer that is not a trusted proxy the header is ignored; from one that is, believed.
    assert networks == ({"9.9.9.0/24"} if trusted else {"127.0.0.0/24"})


def test_vllm_page_keeps_uvicorn_from_believing_forwarded_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("fastapi")
    import shlex

    doc = (EXAMPLES / "vllm.md").read_text()
    exported = re.search(r"^export FORWARDED_ALLOW_IPS=(\S*)", doc, re.MULTILINE)
    assert exported is not None
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "".join(shlex.split(exported.group(1))))
    monkeypatch.setenv("GUARDGATE_ADMIN_TOKEN", TOKEN)
    # uvicorn (as vLLM starts it: proxy headers on) reads FORWARDED_ALLOW_IPS when configured.
    ask = {"model": "mock-reasoning-content", "messages": [{"role": "user", "content": "x"}]}
    with ServerThread(_vllm_style_app("guardgate.GuardgateMiddleware")) as server:
        reply = httpx.post(
            server.url + "/v1/chat/completions",
            json=ask,
            headers={"authorization": "Bearer sk-vllm-spoof", "x-forwarded-for": "9.9.9.9"},
            timeout=10,
        )
        assert reply.status_code == 200
        with admin(server.url) as ops:
            account = ops.post("accounts/lookup", json={"api_key": "sk-vllm-spoof"}).json()
            recent = ops.get(f"accounts/{account['account']}").json()["recent"]
    assert {r["ip_prefix"] for r in recent} == {"127.0.0.0/24"}


MOCK_CHAT_MODELS = ("mock-reasoning-content", "mock-reasoning", "mock-think", "mock-think-open")


def test_readme_hardening_demo_hides_reasoning_of_every_mock_chat_model() -> None:
    """The README's 'To see hardening' command, as settings: no mock model's reasoning leaks,
    streamed or not."""
    import shlex

    from guardgate.settings import load_settings
    from guardgate.sidecar import create_app

    readme = (EXAMPLES.parent / "README.md").read_text()
    line = next(x for x in readme.splitlines() if x.startswith("GUARDGATE_REASONING_POLICY_NORMAL"))
    words = shlex.split(line)
    env = dict(w.split("=", 1) for w in words[: words.index("guardgate")])
    assert words[words.index("guardgate") :] == ["guardgate", "serve", "--mock-upstream"]
    overrides = {k.removeprefix("GUARDGATE_").lower(): v for k, v in env.items()}
    with ServerThread(create_mock_upstream()) as mock:
        settings = load_settings(upstream_url=mock.url, **overrides)
        with ServerThread(create_app(settings)) as sidecar:
            for model in (
                "mock-reasoning-content",
                "mock-reasoning",
                "mock-think",
                "mock-think-open",
            ):
                ask = {
                    "model": model,
                    "messages": [{"role": "user", "content": "What is 17 * 23?"}],
                }
                direct = httpx.post(mock.url + "/v1/chat/completions", json=ask, timeout=10).text
                assert "Step 2" in direct  # the mock's reasoning
                for stream in (False, True):
                    via = httpx.post(
                        sidecar.url + "/v1/chat/completions",
                        json={**ask, "stream": stream},
                        headers={"authorization": "Bearer sk-demo"},
                        timeout=10,
                    )
                    assert via.status_code == 200
                    assert "Step 2" not in via.text, (model, stream)
                    assert "think>" not in via.text, (model, stream)
