"""Instructions per request in the server process, counted by valgrind's callgrind: the mock
upstream alone and with the middleware mounted, and the ratio between them.

    python benchmarks/bench_instructions.py [--requests 600] [--connections 8]

Throughput on a shared 2-core machine drifts from minute to minute (bench_ratio's rounds range
over ±15%), which hides a change of a few µs a request. An instruction count does not drift: the
same code, inputs and environment count the same, whatever else the machine is doing. It leaves
out what instructions do not show (cache misses, the kernel's share of socket work), so it ranks
changes to the request path rather than replacing the wrk figures.

Each target runs under `valgrind --tool=callgrind` (about 50 times slower), is warmed up, has its
counters zeroed, serves `--requests` requests on `--connections` keep-alive connections, and has
its counters dumped. The detector process (its own executable, not followed) is not counted: it
runs on the other core. Needs valgrind (`apt-get install valgrind`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_gateway import BODY, _wait_up, stop

from guardgate.testing import free_port

HERE = Path(__file__).resolve().parent
_RAW = json.dumps(BODY).encode()


def _request(port: int) -> bytes:
    return (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Content-Type: application/json\r\nAuthorization: Bearer sk-bench-0001\r\n"
        f"Content-Length: {len(_RAW)}\r\n\r\n"
    ).encode() + _RAW


async def _connection(port: int, count: int) -> None:
    """`count` requests one after another on one keep-alive connection (each answer read whole
    by its content-length before the next is sent)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = _request(port)
    try:
        for _ in range(count):
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"non-200 answer: {head[:80]!r}")
            match = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
            if match is None:
                raise RuntimeError("an answer without content-length")
            await reader.readexactly(int(match.group(1)))
    finally:
        writer.close()


async def load(port: int, requests: int, connections: int) -> None:
    share, extra = divmod(requests, connections)
    await asyncio.gather(
        *(_connection(port, share + (1 if i < extra else 0)) for i in range(connections))
    )


def count(kind: str, args: argparse.Namespace, env: dict[str, str]) -> float:
    """Instructions per request of target `kind` under callgrind."""
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        proc = subprocess.Popen(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}.%p",
                sys.executable,
                str(HERE / "targets.py"),
                kind,
                str(port),
            ],
            env={**os.environ, "GUARDGATE_SECRET": "bench-secret-0123456789", **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_up(f"http://127.0.0.1:{port}", proc, f"{kind} under valgrind", 300)
            asyncio.run(load(port, args.warmup, args.connections))
            control = ["callgrind_control"]
            subprocess.run([*control, "--zero", str(proc.pid)], check=True, capture_output=True)
            asyncio.run(load(port, args.requests, args.connections))
            subprocess.run([*control, "--dump", str(proc.pid)], check=True, capture_output=True)
            dumps = sorted(Path(tmp).glob(f"callgrind.out.{proc.pid}.*"))
            if not dumps:
                raise RuntimeError("callgrind wrote no dump")
            if args.keep:
                shutil.copy(dumps[-1], Path(args.keep) / f"callgrind.{kind}")
            text = dumps[-1].read_text(errors="replace")
            match = re.search(r"^(?:summary|totals): *(\d+)", text, re.M)
            if match is None:
                raise RuntimeError("no instruction total in the callgrind dump")
            return int(match.group(1)) / args.requests
        finally:
            stop(proc, 60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--detection", choices=("process", "inline"), default="process")
    parser.add_argument("--keep", default="", help="copy the dumps into this folder")
    args = parser.parse_args()
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        sys.exit("bench_instructions needs valgrind (apt-get install valgrind)")
    alone = count("mock", args, {})
    print(f"mock upstream alone: {alone / 1e3:,.0f} k instructions a request", flush=True)
    guarded = count("middleware-mock", args, {"GUARDGATE_DETECTION": args.detection})
    print(f"with the middleware: {guarded / 1e3:,.0f} k instructions a request", flush=True)
    print(
        f"\nthe middleware adds {(guarded - alone) / 1e3:,.1f} k instructions a request "
        f"({args.detection} detection, memory state); ratio alone/with {alone / guarded:.3f} "
        f"({args.requests} requests on {args.connections} connections, after {args.warmup})"
    )


if __name__ == "__main__":
    main()
