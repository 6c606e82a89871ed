"""Instructions per request in the server process, counted by valgrind's callgrind: the mock
upstream alone and with the middleware mounted, and the ratio between them; with `--parts`, also
in process, with each part of the request path removed in turn.

    python benchmarks/bench_instructions.py [--requests 400] [--connections 8] [--parts]

Throughput on a shared 2-core machine drifts from minute to minute (bench_ratio's rounds range
over ±15%), which hides a change of a few µs a request. An instruction count does not drift: the
same code, inputs and environment count the same, whatever else the machine is doing. It leaves
out what instructions do not show (cache misses, the kernel's share of socket work), so it ranks
changes to the request path rather than replacing the wrk figures.

Each target runs under `valgrind --tool=callgrind` (about 50 times slower), is warmed up, has its
counters zeroed, serves `--requests` requests on `--connections` keep-alive connections, and has
its counters dumped. The detector process (its own executable, not followed) is not counted: it
runs on the other core. Signals are sent to it every 0.25 s instead of 5 ms, so that under
valgrind its frames carry as many requests as at full speed whatever the machine's load. Needs
valgrind (`apt-get install valgrind`).

`--parts` drives `bench_request_path.py`'s loop (no server; uvloop) under callgrind in a process
of its own for each line: the mock alone, with the middleware, with each of that benchmark's
parts removed, with all of them removed, and behind a floor middleware that only reads, parses
and replays the body and wraps `send`. Under valgrind the detector process's frames are sent
every 0.25 s instead of 5 ms, so that they carry as many requests as at full speed.
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_gateway import BODY, _wait_up, stop

from guardgate.testing import free_port

HERE = Path(__file__).resolve().parent
_RAW = json.dumps(BODY).encode()
_CONTROL = "callgrind_control"


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
            env={
                **os.environ,
                "GUARDGATE_SECRET": "bench-secret-0123456789",
                # A frame of signals every 5 ms at full speed is one every 0.25 s under callgrind
                # (about 50 times slower): otherwise the frames carry fewer requests the more
                # loaded the machine is, and the count drifts with the load (±8 k a request).
                "BENCH_DETECTOR_FLUSH": "0.25",
                **env,
            },
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_up(f"http://127.0.0.1:{port}", proc, f"{kind} under valgrind", 1200)
            asyncio.run(load(port, args.warmup, args.connections))
            subprocess.run([_CONTROL, "--zero", str(proc.pid)], check=True, capture_output=True)
            asyncio.run(load(port, args.requests, args.connections))
            subprocess.run([_CONTROL, "--dump", str(proc.pid)], check=True, capture_output=True)
            return _total(Path(tmp), proc.pid, args.keep, kind) / args.requests
        finally:
            stop(proc, 60)


def _total(folder: Path, pid: int, keep: str, name: str) -> int:
    """The instruction total of process `pid`'s last callgrind dump in `folder` (copied into
    `keep` as `callgrind.NAME` when given)."""
    dumps = sorted(folder.glob(f"callgrind.out.{pid}.*"))
    if not dumps:
        raise RuntimeError("callgrind wrote no dump")
    if keep:
        shutil.copy(dumps[-1], Path(keep) / f"callgrind.{name.replace(' ', '_')}")
    total = callgrind_total(dumps[-1])
    if total is None:
        raise RuntimeError("no instruction total in the callgrind dump")
    return total


def callgrind_total(dump: Path) -> int | None:
    """The instruction total a callgrind dump reports (None when it has none)."""
    match = re.search(r"^(?:summary|totals): *(\d+)", dump.read_text(errors="replace"), re.M)
    return int(match.group(1)) if match is not None else None


def callgrind_child(
    script: str, child: list[str], env: dict[str, str], folder: str, what: str, *options: str
) -> None:
    """Run `script --child CHILD...` under callgrind (with `options`), its dumps written into
    `folder`; a failed run raises with the tail of its stderr."""
    proc = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            *options,
            f"--callgrind-out-file={folder}/callgrind.out.%p",
            sys.executable,
            script,
            "--child",
            *child,
        ],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    if proc.returncode:
        raise RuntimeError(f"{what} failed:\n{proc.stderr[-2000:]}")


class FloorMiddleware:
    """The least a body-reading middleware does: read the body, parse it (orjson), replay it to
    the app, and watch `send` holding the answer's body."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        orjson.loads(body)
        sent = False

        async def replay() -> Any:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        held: list[bytes] = []

        def watch(message: Any) -> Any:
            if message["type"] == "http.response.body":
                held.append(message.get("body", b""))
            return send(message)

        await self.app(scope, replay, watch)


async def _child(part: str, requests: int, warmup: int) -> None:
    """In the process callgrind runs: drive the mock (behind `part`'s middleware) and have its
    counters zeroed after the warm-up and dumped after `requests` requests."""
    import bench_request_path as path

    from guardgate.detector import _process as detector_process
    from guardgate.middleware import GuardgateMiddleware
    from guardgate.settings import load_settings
    from guardgate.testing import create_mock_upstream

    detector_process.FLUSH_EVERY = 0.25
    app = create_mock_upstream()
    target: Any = app
    guard = None
    if part == "floor":
        target = FloorMiddleware(app)
    elif part != "alone":
        target = GuardgateMiddleware(app, load_settings(detection="process"))
        guard = target.deployment
        await guard.start()
        for name, remove in path.PARTS.items():
            if part in (name, "all"):
                remove(target)
    await path.drive(target, warmup)
    await asyncio.sleep(0.2)
    pid = str(os.getpid())
    # Blocking on purpose: nothing on the loop runs while callgrind is told.
    subprocess.run([_CONTROL, "--zero", pid], check=True, capture_output=True)  # noqa: ASYNC221
    await path.drive(target, requests)
    subprocess.run([_CONTROL, "--dump", pid], check=True, capture_output=True)  # noqa: ASYNC221
    if guard is not None:
        await guard.close()


def count_in_process(part: str, args: argparse.Namespace) -> float:
    """Instructions per request in process, the mock behind `part` (see `_child`)."""
    with tempfile.TemporaryDirectory() as tmp:
        callgrind_child(
            __file__,
            [part, "--requests", str(args.requests), "--warmup", str(args.warmup)],
            {"GUARDGATE_SECRET": "bench-secret-0123456789"},
            tmp,
            f"in-process count of {part!r}",
        )
        pids = {int(p.name.split(".")[2]) for p in Path(tmp).glob("callgrind.out.*.*")}
        if len(pids) != 1:
            raise RuntimeError(f"expected one process's dump, found {sorted(pids)}")
        return _total(Path(tmp), pids.pop(), args.keep, f"in-process {part}") / args.requests


def parts(args: argparse.Namespace) -> None:
    """Print what the middleware adds in process, and what each part of it costs."""
    import bench_request_path as path

    lines = ["alone", "none", *path.PARTS, "all", "floor"]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        counts = dict(zip(lines, pool.map(lambda p: count_in_process(p, args), lines), strict=True))
    alone, whole = counts["alone"], counts["none"]
    print(f"\nin process, the mock alone: {alone / 1e3:,.0f} k instructions a request")
    print(f"  {(whole - alone) / 1e3:6.1f} k  added by the middleware (detector process)")
    for name in (*path.PARTS, "all"):
        what = "every part above" if name == "all" else name
        print(f"  {(whole - counts[name]) / 1e3:6.1f} k  of it: {what}")
    print(f"  {(counts['floor'] - alone) / 1e3:6.1f} k  added by the floor middleware instead")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--detection", choices=("process", "inline"), default="process")
    parser.add_argument("--keep", default="", help="copy the dumps into this folder")
    parser.add_argument("--parts", action="store_true", help="also count in process, by part")
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        uvloop.run(_child(args.child, args.requests, args.warmup))
        return
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
    if args.parts:
        parts(args)


if __name__ == "__main__":
    main()
