"""Gateway benchmark: guardgate side by side with the apps it protects and with its peers, each
target in its own process, loaded with `wrk` on loopback.

    python benchmarks/bench_gateway.py [--duration 8] [--connections 32] [--repeats 1]

Groups, each against its own baseline (ratio = target req/s / baseline req/s):
- `bare app` (the fastest possible upstream): + middleware (memory or Redis state, each with
  detection inline and in a detector process: `GUARDGATE_DETECTION=process`), the sidecar in front
  of it, LiteLLM's proxy in front of it (when `/tmp/litellm-venv` or `--litellm` has it);
- `mock upstream` (a Starlette app writing real answers, an LLM server's HTTP layer): +
  middleware (the same four), the sidecar in front of it;
- `FastAPI app` (an OpenAI-compatible app with pydantic request and response models, as vLLM's
  and SGLang's frontends are built, with the middleware added by `app.add_middleware`): the same
  rows;
- `starlette route` (the same answers from a Starlette endpoint): + slowapi (checked to limit).

For each target: throughput at `--connections` (non-stream and SSE stream), p50/p99 latency at
one connection (added = target - baseline), CPU per request (utime + stime of the target's
process tree over the throughput run, from /proc), and resident memory after the runs. Needs
`wrk` and, for the Redis rows, `redis-server` (started on a free port). No internet needed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from guardgate.testing import free_port, running_redis

HERE = Path(__file__).resolve().parent
TICK = os.sysconf("SC_CLK_TCK")
BODY = {
    "model": "mock-reasoning-content",
    "messages": [
        {"role": "system", "content": "You are a careful assistant."},
        {"role": "user", "content": "What is 17 * 23? Think it through."},
    ],
    "max_tokens": 256,
    "temperature": 0.2,
}
LITELLM = Path("/tmp/litellm-venv/bin/litellm")


@dataclass(frozen=True)
class Load:
    """What one wrk run measured."""

    rps: float
    p50_ms: float
    p99_ms: float
    requests: int


@dataclass(frozen=True)
class Result:
    """Every figure of one target."""

    name: str
    baseline: str
    rps: float
    stream_rps: float
    p50_ms: float
    p99_ms: float
    cpu_us: float
    rss_mb: float
    unjudged: float | None = None
    """Share of guarded requests whose signals a detector process dropped (it fell behind)."""


@dataclass
class Target:
    """A running target: its URL and its process (tree) id."""

    url: str
    pid: int


def _tree(pid: int) -> list[int]:
    """`pid` and its descendants (uvicorn workers, LiteLLM's children)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, ()))
    return out


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process tree, in seconds."""
    total = 0
    for p in _tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICK


def rss_mb(pid: int) -> float:
    """Resident memory of the process tree, in MB."""
    total = 0
    for p in _tree(pid):
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        match = re.search(r"VmRSS:\s+(\d+) kB", status)
        total += int(match.group(1)) if match else 0
    return total / 1024


def _wait_up(url: str, proc: subprocess.Popen[bytes], what: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            answer = httpx.post(
                url + "/v1/chat/completions",
                json=BODY,
                headers={"authorization": "Bearer sk-bench-0001"},
                timeout=5,
            )
            if answer.status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError(f"target {what} did not start")
        time.sleep(0.2)


def stop(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """Terminate `proc`, and kill it if it has not exited within `timeout` seconds."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def target(
    kind: str, *extra: str, env: dict[str, str] | None = None, wait: float = 20
) -> Iterator[Target]:
    """Run one target server (`targets.py KIND`) in its own process (up within `wait` s)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "targets.py"), kind, str(port), *extra],
        env={
            **os.environ,
            "GUARDGATE_SECRET": "bench-secret-0123456789",
            "GUARDGATE_METRICS_TOKEN": METRICS_TOKEN,
            **(env or {}),
        },
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_up(url, proc, kind, wait)
        yield Target(url, proc.pid)
    finally:
        stop(proc, 10)


@contextmanager
def litellm(upstream: str, binary: Path, wait: float = 90) -> Iterator[Target | None]:
    """LiteLLM's proxy forwarding to `upstream` as an OpenAI-compatible server, or None."""
    if not binary.exists():
        print(f"LiteLLM skipped: {binary} not found (pip install 'litellm[proxy]' in a venv)")
        yield None
        return
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "litellm.yaml"
        config.write_text(
            "model_list:\n"
            f"  - model_name: {BODY['model']}\n"
            "    litellm_params:\n"
            f"      model: openai/{BODY['model']}\n"
            f"      api_base: {upstream}/v1\n"
            "      api_key: sk-upstream\n"
            "litellm_settings:\n"
            "  telemetry: false\n"
        )
        env = {
            **os.environ,
            "LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY": "true",
            "LITELLM_LOG": "ERROR",
        }
        proc = subprocess.Popen(
            [str(binary), "--config", str(config), "--port", str(port), "--num_workers", "1"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            try:
                _wait_up(url, proc, "litellm", wait)
            except RuntimeError:
                print("LiteLLM skipped: its proxy did not start or did not answer 200")
                yield None
                return
            yield Target(url, proc.pid)
        finally:
            stop(proc, 15)


@contextmanager
def redis_server() -> Iterator[str | None]:
    """A throwaway redis-server on a free port (None when not installed)."""
    if shutil.which("redis-server") is None:
        print("Redis rows skipped: redis-server not found")
        yield None
        return
    with running_redis() as server:
        yield server.url


def _ms(text: str) -> float:
    value = float(re.sub(r"[a-z]+$", "", text))
    unit = re.sub(r"^[0-9.]+", "", text)
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(url: str, duration: float, connections: int, *, stream: bool = False) -> Load:
    """Load `url` with wrk posting the benchmark body; parse throughput and latency."""
    body = {**BODY, "stream": True} if stream else BODY
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(
            'wrk.method = "POST"\n'
            f"wrk.body = {json.dumps(json.dumps(body))}\n"
            'wrk.headers["Content-Type"] = "application/json"\n'
            'wrk.headers["Authorization"] = "Bearer sk-bench-0001"\n'
        )
    command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "--latency", "-s"]
    try:
        out = subprocess.run(
            [*command, script.name, url + "/v1/chat/completions"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(script.name)
    if "Non-2xx" in out:
        raise RuntimeError(f"{url}: non-2xx answers under load:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\n\s+50%\s+([0-9.]+[a-z]+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\n\s+99%\s+([0-9.]+[a-z]+)", out).group(1))  # type: ignore[union-attr]
    done = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return Load(rps, p50, p99, done)


def measure(name: str, baseline: str, t: Target, args: argparse.Namespace) -> Result:
    """Every figure of one running target (medians over `--repeats`)."""
    run_wrk(t.url, 1, args.connections)  # warm-up
    rps, cpu, stream, p50, p99 = [], [], [], [], []
    for _ in range(args.repeats):
        before = cpu_seconds(t.pid)
        load = run_wrk(t.url, args.duration, args.connections)
        cpu.append((cpu_seconds(t.pid) - before) / load.requests * 1e6)
        rps.append(load.rps)
        stream.append(run_wrk(t.url, args.duration / 2, args.connections, stream=True).rps)
        single = run_wrk(t.url, args.duration / 2, 1)
        p50.append(single.p50_ms)
        p99.append(single.p99_ms)
    med = statistics.median
    result = Result(
        name,
        baseline,
        med(rps),
        med(stream),
        med(p50),
        med(p99),
        med(cpu),
        rss_mb(t.pid),
        unjudged_share(t.url),
    )
    spread = (max(rps) - min(rps)) / med(rps) if len(rps) > 1 else 0.0
    print(f"  {name}: {result.rps:.0f} req/s (spread {spread:.0%})", flush=True)
    return result


METRICS_TOKEN = "bench-metrics-token"
"""The bearer token the benchmark's guardgate targets serve their metrics behind."""


def unjudged_share(url: str) -> float | None:
    """From guardgate's own metrics: the share of requests whose signals no detector judged
    (None for a target that is not guardgate)."""
    try:
        scraper = {"authorization": f"Bearer {METRICS_TOKEN}"}
        answer = httpx.get(url + "/_guardgate/metrics", headers=scraper, timeout=5)
    except httpx.TransportError:
        return None
    if answer.status_code != 200 or not answer.headers["content-type"].startswith("text/plain"):
        return None
    requests = dropped = 0.0
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            if sample.name == "guardgate_requests_total":
                requests += sample.value
            elif sample.name == "guardgate_faults_total" and sample.labels["kind"] in (
                "detector",
                "detector_backlog",
            ):
                dropped += sample.value
    return dropped / requests if requests else None


def slowapi_limits() -> bool:
    """Whether the slowapi target answers 429 past a small limit (it exempts what it cannot
    route, so a target that never limits would measure nothing)."""
    with target("slowapi", env={"BENCH_SLOWAPI_LIMIT": "3/minute"}) as t:
        # `target` already sent one request to see it up.
        codes = [
            httpx.post(
                t.url + "/v1/chat/completions",
                json=BODY,
                headers={"authorization": "Bearer sk-bench-0001"},
            ).status_code
            for _ in range(4)
        ]
    return 429 in codes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=8)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--litellm", type=Path, default=LITELLM, help="the litellm CLI")
    parser.add_argument(
        "--only", default="", help="comma-separated groups: bare,mock,fastapi,slowapi"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench_gateway needs wrk on the PATH (apt-get install wrk)")
    groups = set(args.only.split(",")) if args.only else {"bare", "mock", "fastapi", "slowapi"}
    results: list[Result] = []
    with redis_server() as redis_url:
        redis_env = {"GUARDGATE_REDIS_URL": redis_url} if redis_url else None
        for base_kind, base_name, mounted in (
            ("bare", "bare app", "middleware"),
            ("mock", "mock upstream", "middleware-mock"),
            ("fastapi", "FastAPI app", "middleware-fastapi"),
        ):
            if base_kind not in groups:
                continue
            with target(base_kind) as base:
                results.append(measure(base_name, base_name, base, args))
                with target(mounted, env={"GUARDGATE_DETECTION": "inline"}) as t:
                    results.append(measure("+ middleware (memory)", base_name, t, args))
                with target(mounted, env={"GUARDGATE_DETECTION": "process"}) as t:
                    results.append(measure("+ middleware (memory, detector)", base_name, t, args))
                if redis_env is not None:
                    with target(mounted, env={**redis_env, "GUARDGATE_DETECTION": "inline"}) as t:
                        results.append(measure("+ middleware (Redis)", base_name, t, args))
                    detector_env = {**redis_env, "GUARDGATE_DETECTION": "process"}
                    with target(mounted, env=detector_env) as t:
                        row = "+ middleware (Redis, detector)"
                        results.append(measure(row, base_name, t, args))
                with target("sidecar", base.url) as t:
                    results.append(measure("sidecar in front", base_name, t, args))
                if base_kind == "bare":
                    with litellm(base.url, args.litellm) as t:
                        if t is not None:
                            results.append(measure("LiteLLM proxy in front", base_name, t, args))
    if "slowapi" in groups:
        if slowapi_limits():
            with target("starlette") as t:
                results.append(measure("starlette route", "starlette route", t, args))
            with target("slowapi") as t:
                results.append(measure("+ slowapi", "starlette route", t, args))
        else:
            print("slowapi skipped: it did not limit the route (nothing to measure)")
    report(results, args)


def report(results: list[Result], args: argparse.Namespace) -> None:
    """The side-by-side table."""
    bases = {r.name: r for r in results if r.name == r.baseline}
    head = (
        f"{'target':<34}{'req/s':>8}{'ratio':>7}{'stream/s':>9}{'ratio':>7}"
        f"{'p50 ms':>8}{'+p50':>7}{'p99 ms':>8}{'+p99':>7}{'CPU µs/req':>11}{'RSS MB':>8}"
        f"{'unjudged':>9}"
    )
    print("\n" + head)
    for r in results:
        b = bases[r.baseline]
        if r is b:
            print(f"{r.baseline} --")
        # A stream figure of 0: every streamed answer failed (slowapi's middleware sends a
        # second response start on streams).
        stream = (
            f"{r.stream_rps:>9.0f}{r.stream_rps / b.stream_rps:>7.2f}"
            if r.stream_rps
            else f"{'broken':>9}{'':>7}"
        )
        print(
            f"{r.name:<34}{r.rps:>8.0f}{r.rps / b.rps:>7.2f}{stream}"
            f"{r.p50_ms:>8.2f}{r.p50_ms - b.p50_ms:>+7.2f}"
            f"{r.p99_ms:>8.2f}{r.p99_ms - b.p99_ms:>+7.2f}{r.cpu_us:>11.0f}{r.rss_mb:>8.0f}"
            f"{'' if r.unjudged is None else f'{r.unjudged:.1%}':>9}"
        )
    print(
        f"\n(wrk -t1 -c{args.connections} -d{args.duration:g}s per throughput figure, SSE for "
        f"stream/s, -c1 for latency; median of {args.repeats}; {os.cpu_count()} cores; "
        "CPU µs/req: the target's process tree only, a sidecar's upstream excluded; unjudged: "
        "requests whose signals a detector process dropped because it was behind)"
    )


if __name__ == "__main__":
    main()
