"""Audit lines under the middleware, in a process whose app configured no logging: they reach
stderr by default, a file when asked, nowhere when turned off; and never twice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

APP = """
import asyncio, logging, sys
import httpx
from guardgate import GuardgateMiddleware

async def upstream(scope, receive, send):
    while (await receive()).get("more_body"):
        pass
    body = b'{"choices":[{"index":0,"message":{"role":"assistant","content":"4"}}]}'
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})

if sys.argv[1] == "app-logging":
    logging.basicConfig(level=logging.INFO, format="APP %(name)s %(message)s")
app = GuardgateMiddleware(upstream)

async def main():
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        reply = await client.post(
            "/v1/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "2+2?"}]},
            headers={"authorization": "Bearer sk-audit"},
        )
        assert reply.status_code == 200, reply.text
    await app.deployment.close()

asyncio.run(main())
"""


def _run(
    tmp_path: Path, mode: str = "plain", app: str = APP, **env: str
) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "app.py"
    script.write_text(app)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GUARDGATE_")}
    clean.update(
        GUARDGATE_SECRET="audit-test-secret",
        # Every request's reasoning is stripped: each one writes a decision line.
        GUARDGATE_REASONING_POLICY_NORMAL="strip",
        **env,
    )
    done = subprocess.run(
        [sys.executable, str(script), mode],
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done


def _decisions(text: str) -> list[dict[str, object]]:
    lines = []
    for line in text.splitlines():
        start = line.find('{"event":"decision"')
        if start >= 0:
            lines.append(json.loads(line[start:]))
    return lines


def test_audit_lines_reach_stderr_by_default(tmp_path: Path) -> None:
    done = _run(tmp_path)
    decisions = _decisions(done.stderr)
    assert len(decisions) == 1
    assert decisions[0]["actions"] == ["strip_reasoning", "drop_logprobs"]
    assert "sk-audit" not in done.stderr


def test_an_app_with_its_own_logging_gets_each_line_once(tmp_path: Path) -> None:
    done = _run(tmp_path, "app-logging")
    assert len(_decisions(done.stderr)) == 1
    assert "APP guardgate.audit {" in done.stderr


@pytest.mark.parametrize("mode", ["plain", "app-logging"])
def test_audit_lines_go_to_a_file_only(tmp_path: Path, mode: str) -> None:
    path = tmp_path / "audit.jsonl"
    done = _run(tmp_path, mode, GUARDGATE_AUDIT_LOG=str(path))
    assert _decisions(done.stderr) == []
    assert len(_decisions(path.read_text())) == 1


def test_audit_lines_can_be_turned_off(tmp_path: Path) -> None:
    done = _run(tmp_path, "app-logging", GUARDGATE_AUDIT_LOG="off")
    assert _decisions(done.stderr) == []


def test_a_handler_of_the_apps_own_on_the_audit_logger_replaces_stderr(tmp_path: Path) -> None:
    script = APP.replace(
        "app = GuardgateMiddleware(upstream)",
        "app = GuardgateMiddleware(upstream)\n"
        "mine = logging.StreamHandler(sys.stdout)\n"
        "logging.getLogger('guardgate.audit').addHandler(mine)",
    )
    done = _run(tmp_path, app=script)
    assert _decisions(done.stderr) == []
    assert len(_decisions(done.stdout)) == 1


def test_an_audit_path_that_cannot_be_written_stops_start_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from guardgate import GuardgateMiddleware
    from guardgate.settings import SettingsError

    async def app(scope: object, receive: object, send: object) -> None:
        raise AssertionError("not reached")

    monkeypatch.setenv("GUARDGATE_AUDIT_LOG", str(tmp_path / "missing" / "audit.jsonl"))
    with pytest.raises(SettingsError, match="GUARDGATE_AUDIT_LOG: cannot append"):
        GuardgateMiddleware(app)
