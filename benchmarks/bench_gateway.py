"""Gateway benchmark: the bare app, the app with the middleware mounted, and the sidecar in front
of the bare app, side by side in one run, each in its own process, loaded with `wrk` on loopback.

    python benchmarks/bench_gateway.py [--duration 8] [--connections 32]

Prints requests/s, p50/p99 latency, and the ratios to the bare app. Needs `wrk`
(`apt-get install wrk`). Extra target environments (e.g. GUARDGATE_REDIS_URL) pass through.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from guardgate.testing import free_port

HERE = Path(__file__).resolve().parent
BODY = {
    "model": "mock-reasoning-content",
    "messages": [
        {"role": "system", "content": "You are a careful assistant."},
        {"role": "user", "content": "What is 17 * 23? Think it through."},
    ],
    "max_tokens": 256,
    "temperature": 0.2,
}


@dataclass(frozen=True)
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float


@contextmanager
def target(kind: str, *extra: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """Run one target server in its own process; yields its base URL."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "targets.py"), kind, str(port), *extra],
        env={**os.environ, "GUARDGATE_SECRET": "bench-secret", **(env or {})},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                httpx.post(url + "/v1/chat/completions", json=BODY, timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"target {kind} did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _ms(text: str) -> float:
    value = float(re.sub(r"[a-z]+$", "", text))
    unit = re.sub(r"^[0-9.]+", "", text)
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(name: str, url: str, duration: int, connections: int, stream: bool = False) -> Result:
    """Load `url` with wrk posting the benchmark body; parse throughput and latency."""
    body = {**BODY, "stream": True} if stream else BODY
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(
            'wrk.method = "POST"\n'
            f"wrk.body = {json.dumps(json.dumps(body))}\n"
            'wrk.headers["Content-Type"] = "application/json"\n'
            'wrk.headers["Authorization"] = "Bearer sk-bench-0001"\n'
        )
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{duration}s",
            "--latency",
            "-s",
            script.name,
            url + "/v1/chat/completions",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    os.unlink(script.name)
    if "Non-2xx" in out:
        raise RuntimeError(f"{name}: non-2xx answers under load:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    return Result(name, rps, p50, p99)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    results: list[Result] = []
    with target("bare") as bare:
        run_wrk("warm-up", bare, 2, args.connections)
        results.append(run_wrk("bare app", bare, args.duration, args.connections))
        with target("sidecar", bare) as sidecar:
            run_wrk("warm-up", sidecar, 2, args.connections)
            results.append(run_wrk("sidecar -> bare app", sidecar, args.duration, args.connections))
    with target("mock") as mock:
        run_wrk("warm-up", mock, 2, args.connections)
        results.append(run_wrk("mock upstream", mock, args.duration, args.connections))
        with target("sidecar", mock) as sidecar:
            run_wrk("warm-up", sidecar, 2, args.connections)
            results.append(
                run_wrk("sidecar -> mock upstream", sidecar, args.duration, args.connections)
            )
    with target("middleware") as mounted:
        run_wrk("warm-up", mounted, 2, args.connections)
        results.append(
            run_wrk("app + middleware (memory)", mounted, args.duration, args.connections)
        )
    base = results[0]
    print(f"\n{'target':<32}{'req/s':>10}{'ratio':>8}{'p50 ms':>9}{'p99 ms':>9}")
    for r in results:
        print(f"{r.name:<32}{r.rps:>10.0f}{r.rps / base.rps:>8.2f}{r.p50_ms:>9.2f}{r.p99_ms:>9.2f}")
    print(
        f"\n(wrk -t1 -c{args.connections} -d{args.duration}s, non-stream chat completions, "
        f"{os.cpu_count()} cores)"
    )


if __name__ == "__main__":
    main()
