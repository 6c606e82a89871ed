"""docker/: no container engine here, so the files are checked for what they promise and the
image's entrypoint and healthcheck commands are run as the image would run them."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from guardgate.settings import GuardgateSettings
from guardgate.testing import free_port

DOCKER = Path(__file__).resolve().parent.parent / "docker"


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile's final stage as (INSTRUCTION, arguments), continuation lines joined."""
    text = (DOCKER / "Dockerfile").read_text()
    text = re.sub(r"\\\n", " ", text)
    lines = [
        ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")
    ]
    parsed = [(ln.split(None, 1)[0].upper(), ln.split(None, 1)[1]) for ln in lines]
    last_from = max(i for i, (op, _) in enumerate(parsed) if op == "FROM")
    return parsed[last_from:]


def only(op: str) -> str:
    found = [args for name, args in instructions() if name == op]
    assert len(found) == 1, f"expected one {op} in the final stage"
    return found[0]


def test_dockerfile_is_slim_and_non_root() -> None:
    final = instructions()
    assert final[0][1].startswith("python:3.11-slim")
    user = only("USER").split(":")[0]
    assert user not in ("root", "0")
    assert [op for op, _ in final].index("USER") > max(
        i for i, (op, _) in enumerate(final) if op == "RUN"
    ), "USER must come after every RUN"
    assert "/_guardgate/health" in only("HEALTHCHECK")
    assert json.loads(only("ENTRYPOINT")) == ["guardgate"]


def test_entrypoint_and_healthcheck_commands_run() -> None:
    port = free_port()
    cmd = json.loads(only("CMD"))
    assert cmd[:1] == ["serve"] and "0.0.0.0" in cmd
    cmd = [a.replace("0.0.0.0", "127.0.0.1").replace("8080", str(port)) for a in cmd]
    health = json.loads(only("HEALTHCHECK").split("CMD", 1)[1].strip())
    health = [a.replace("8080", str(port)) for a in health]
    assert health[0] == "python"
    guardgate = str(Path(sys.executable).parent / "guardgate")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUARDGATE_")}
    env.update(GUARDGATE_SECRET="docker-test-secret-0123456789")
    proc = subprocess.Popen(
        [guardgate, *cmd],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, "guardgate serve exited"
            probe = subprocess.run([sys.executable, *health[1:]], capture_output=True, check=False)
            if probe.returncode == 0:
                break
            assert time.monotonic() < deadline, probe.stderr.decode()[-500:]
            time.sleep(0.2)
        assert httpx.get(f"http://127.0.0.1:{port}/_guardgate/health").json() == {"status": "ok"}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
    # Once the server is gone the healthcheck fails, as Docker must see it.
    probe = subprocess.run([sys.executable, *health[1:]], capture_output=True, check=False)
    assert probe.returncode != 0


def _env_names(env: object) -> set[str]:
    if isinstance(env, dict):
        return set(env)
    assert isinstance(env, list)
    return {e["name"] if isinstance(e, dict) else str(e).split("=", 1)[0] for e in env}


def _check_settings(names: set[str]) -> None:
    fields = {"GUARDGATE_" + name.upper() for name in GuardgateSettings.model_fields}
    ours = {n for n in names if n.startswith("GUARDGATE_")}
    assert ours <= fields, ours - fields


def test_compose_runs_the_sidecar_with_redis_before_an_upstream() -> None:
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"guardgate", "upstream", "redis"}
    gate = services["guardgate"]
    assert gate["build"]["dockerfile"] == "docker/Dockerfile"
    assert gate["command"][0] == "serve"
    env = gate["environment"]
    _check_settings(_env_names(env))
    assert env["GUARDGATE_UPSTREAM_URL"] == "http://upstream:8000"
    assert env["GUARDGATE_REDIS_URL"] == "redis://redis:6379/0"
    assert gate["depends_on"]["redis"]["condition"] == "service_healthy"
    assert "8080:8080" in gate["ports"]
    assert services["upstream"]["command"][0] == "mock-upstream"
    assert "8000" in [str(p) for p in services["upstream"]["expose"]]
    assert services["redis"]["image"].startswith("redis:")
    assert "ping" in services["redis"]["healthcheck"]["test"]


def test_compose_file_validates_when_docker_is_present() -> None:
    if shutil.which("docker") is None:
        pytest.skip("no docker CLI here; the YAML is checked by the test above")
    plugin = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    if plugin.returncode != 0:
        pytest.skip("the docker CLI has no compose plugin; the YAML is checked by the test above")
    env = {**os.environ, "GUARDGATE_SECRET": "x"}
    subprocess.run(
        ["docker", "compose", "-f", str(DOCKER / "compose.yaml"), "config", "-q"],
        env=env,
        check=True,
        timeout=60,
    )


def test_kubernetes_sidecar_manifest() -> None:
    docs = [d for d in yaml.safe_load_all((DOCKER / "kubernetes-sidecar.yaml").read_text()) if d]
    objects = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    assert set(objects) == {
        ("Deployment", "llm"),
        ("Service", "llm"),
        ("Deployment", "redis"),
        ("Service", "redis"),
        ("PersistentVolumeClaim", "redis-data"),
    }
    pod = objects["Deployment", "llm"]["spec"]["template"]["spec"]
    containers = {c["name"]: c for c in pod["containers"]}
    gate = containers["guardgate"]
    assert gate["args"][0] == "serve"
    _check_settings(_env_names(gate["env"]))
    env = {e["name"]: e for e in gate["env"]}
    assert env["GUARDGATE_UPSTREAM_URL"]["value"] == "http://127.0.0.1:8000"
    assert "secretKeyRef" in env["GUARDGATE_SECRET"]["valueFrom"]
    # Readiness tells the truth about Redis and vLLM; liveness only that the process answers.
    assert gate["readinessProbe"]["httpGet"]["path"] == "/_guardgate/ready"
    assert gate["livenessProbe"]["httpGet"]["path"] == "/_guardgate/health"
    assert gate["securityContext"]["runAsNonRoot"] is True
    # Clients reach guardgate's port; the model server listens on the pod's loopback only.
    assert objects["Service", "llm"]["spec"]["ports"][0]["targetPort"] == "http"
    assert "127.0.0.1" in containers["vllm"]["args"]
    # The Redis guardgate points at is defined here, with the password both sides read from the
    # same Secret key (Kubernetes expands $(REDIS_PASSWORD) in the URL).
    url = env["GUARDGATE_REDIS_URL"]["value"]
    assert url == "redis://:$(REDIS_PASSWORD)@redis:6379/0"
    assert list(env).index("REDIS_PASSWORD") < list(env).index("GUARDGATE_REDIS_URL")
    password = env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"]
    redis_service = objects["Service", "redis"]["spec"]
    assert redis_service["ports"][0]["port"] == 6379
    redis_pod = objects["Deployment", "redis"]["spec"]["template"]["spec"]
    assert (
        redis_service["selector"]
        == objects["Deployment", "redis"]["spec"]["selector"]["matchLabels"]
    )
    redis = redis_pod["containers"][0]
    assert redis["args"][:2] == ["--requirepass", "$(REDIS_PASSWORD)"]
    assert redis["env"][0]["valueFrom"]["secretKeyRef"] == password
    claim = redis_pod["volumes"][0]["persistentVolumeClaim"]["claimName"]
    assert ("PersistentVolumeClaim", claim) in objects


def _registered_series() -> set[str]:
    """Every series name guardgate's /metrics can expose (counters' `_total`, the histogram's
    `_bucket`, `_sum` and `_count`), read from a fresh registry's exposition."""
    from prometheus_client.parser import text_string_to_metric_families

    from guardgate.metrics import Metrics

    names: set[str] = set()
    for family in text_string_to_metric_families(Metrics().exposition().decode()):
        if family.type == "counter":
            names.add(family.name + "_total")
        elif family.type == "histogram":
            names.update(family.name + suffix for suffix in ("_bucket", "_sum", "_count"))
        else:
            names.add(family.name)
    return names


def _queries(dashboard: dict[str, object]) -> list[str]:
    queries = []
    for panel in dashboard["panels"]:  # type: ignore[attr-defined]
        for target in panel["targets"]:
            queries.append(target["expr"])
    for variable in dashboard["templating"]["list"]:  # type: ignore[index]
        queries.append(variable["query"]["query"])
    return queries


def test_grafana_dashboard_queries_name_only_registered_metrics() -> None:
    dashboard = json.loads((DOCKER / "grafana-dashboard.json").read_text())
    registered = _registered_series()
    assert "guardgate_requests_total" in registered  # the exposition was read
    queries = _queries(dashboard)
    assert len(queries) >= 8
    used = set()
    for query in queries:
        names = set(re.findall(r"\bguardgate_[a-z_]+", query))
        assert names, f"a query names no guardgate metric: {query}"
        used |= names
    assert used <= registered, used - registered
    # Every family guardgate registers has a panel.
    families = {re.sub(r"_(total|bucket|sum|count)$", "", n) for n in registered}
    shown = {re.sub(r"_(total|bucket|sum|count)$", "", n) for n in used}
    assert families <= shown, families - shown
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert all(p["datasource"]["uid"] == "${DS_PROMETHEUS}" for p in dashboard["panels"])


def test_the_dashboard_check_catches_a_misspelt_metric() -> None:
    registered = _registered_series()
    assert "guardgate_request_total" not in registered
    assert "guardgate_rate_limited_total" in registered
