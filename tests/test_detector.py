"""Detection in a process of its own (`GUARDGATE_DETECTION=process`): the request path hands the
signals over and keeps serving, whatever the detector does."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from tests.admin.admin_client import TOKEN, admin, chat
from tests.admin.attack_traffic import attack, send, simulate
from tests.gateway import GG_SECRET, running_mock, running_sidecar

from guardgate.deployment import Deployment
from guardgate.detection import GateRequest
from guardgate.detector import DetectorProcess, ProcessDetection
from guardgate.detector._frames import encode
from guardgate.detector._worker import Detector, serve
from guardgate.detector.calls import ClusterActivityQuery, ClustersQuery
from guardgate.model import ApiKind, Tier
from guardgate.protocols.endpoints import api_for_path
from guardgate.settings import load_settings
from guardgate.testing import running_redis

BODY = {"model": "m", "messages": [{"role": "user", "content": "Think step by step: 2+2?"}]}


def _guard(**overrides: Any) -> Deployment:
    return Deployment.from_settings(
        load_settings(secret=GG_SECRET, detection="process", **overrides)
    )


def _process(deployment: Deployment) -> DetectorProcess:
    assert isinstance(deployment.detection, ProcessDetection)
    return deployment.detection.process


async def _observe(guard: Deployment, key: str, ip: str = "203.0.113.7") -> str:
    """One request through the gate (its signals queued for the detector); its account."""
    headers = [(b"content-type", b"application/json"), (b"authorization", f"Bearer {key}".encode())]
    raw = json.dumps(BODY).encode()
    admission = await guard.gate.admit(GateRequest(ApiKind.OPENAI_CHAT, headers, ip, raw, BODY))
    return admission.decision.verdict.account


async def _until(check: Any, seconds: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_verdicts_come_back_and_the_key_stays_in_the_server() -> None:
    guard = _guard()
    detector = _process(guard)
    sent: list[Any] = []  # the requests as sent: (api, headers, peer, body, ts, account, ...)
    flush = detector._flush

    def spy() -> None:
        sent.extend(detector._batch)
        flush()

    detector._flush = spy  # type: ignore[method-assign]
    await guard.start()
    try:
        accounts = [await _observe(guard, f"sk-detector-{i}") for i in range(5)]
        await _until(lambda: detector.judged == 5)
        for account in accounts:
            verdict = detector.verdict(account)
            assert verdict.account == account and verdict.cluster
        # The detector gets the account id; the raw key never leaves this process.
        assert all(b"sk-detector" not in value for item in sent for _, value in item[1])
        assert {item[5] for item in sent} == set(accounts)
        assert await guard.detection.clusters() == await detector.call(ClustersQuery())
    finally:
        await guard.close()
    assert detector.pid is None
    assert not detector.faults.counts, "a normal shutdown is no fault"


async def test_a_killed_detector_is_counted_and_restarted() -> None:
    guard = _guard()
    detector = _process(guard)
    await guard.start()
    try:
        await _observe(guard, "sk-before")
        await _until(lambda: detector.judged == 1)
        first = detector.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        await _until(lambda: detector.faults.counts["detector"] >= 1)
        # Requests are still answered (with the verdicts known) while it is down.
        account = await _observe(guard, "sk-during")
        assert guard.gate.policy.decide(detector.verdict(account)).verdict.tier is Tier.NORMAL
        await _until(lambda: detector.pid not in (None, first))
        assert detector.restarts == 1
        await _observe(guard, "sk-after")
        await _until(lambda: detector.judged >= 2)
        assert isinstance(await guard.detection.clusters(), dict)
    finally:
        await guard.close()


async def test_a_stalled_detector_costs_dropped_signals_not_memory() -> None:
    guard = _guard()
    detector = _process(guard)
    detector._backlog = 256 * 1024  # a small queue, to fill it quickly
    await guard.start()
    pid = detector.pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    try:
        for i in range(20_000):
            await _observe(guard, f"sk-flood-{i % 50}")
            if i % 100 == 99:
                await asyncio.sleep(0.006)  # let the queued frames go out
        assert detector.dropped > 0
        assert detector.faults.counts["detector_backlog"] == detector.dropped
        buffered = detector._writer.transport.get_write_buffer_size()  # type: ignore[union-attr]
        assert buffered < 2 * 256 * 1024 + 1024 * 1024
    finally:
        os.kill(pid, signal.SIGCONT)
    try:
        await _until(lambda: detector.judged == 50)
    finally:
        await guard.close()


@pytest.mark.timeout(300)
def test_a_sidecar_with_a_detector_process_finds_the_farm(tmp_path: Path) -> None:
    sim = simulate(tmp_path)
    farm = sim.members_of("hydra_farm")
    with (
        running_mock() as mock,
        running_sidecar(
            mock.url, admin_token=TOKEN, trusted_proxies="127.0.0.1/32", detection="process"
        ) as gate,
    ):
        attack(gate.url, sim)
        # The farm asks again under its current cluster (the last part of the day `attack`
        # sends again need not hold any of its requests).
        send(gate.url, sim.lines_of("hydra_farm")[-20:])
        with admin(gate.url) as ops:
            listed = ops.get("clusters", params={"limit": 1000}).json()["clusters"]
            details = [ops.get(f"clusters/{c['cluster']}").json() for c in listed]
            found = max(details, key=lambda d: len({m["account"] for m in d["members"]} & farm))
            members = {m["account"] for m in found["members"]}
            assert len(members & farm) >= len(farm) // 2
            # The sidecar applied the detector's verdicts: they name the farm's cluster.
            account = ops.get(f"accounts/{next(iter(members & farm))}").json()
            assert account["cluster"] == found["summary"]["cluster"]
            # The detector keeps the activity record.
            assert account["requests"] > 0 and account["recent"]
            assert found["summary"]["requests"] > 0 and found["summary"]["history"]


def test_the_activity_record_shows_the_decisions_the_server_took() -> None:
    """With a detector process the detector records, but the server decides: an operator
    override applied by the server is what the admin API shows for the request."""
    with (
        running_mock() as mock,
        running_sidecar(mock.url, admin_token=TOKEN, detection="process") as gate,
        admin(gate.url) as ops,
    ):
        key = "sk-activity-0001"
        account = ops.post("accounts/lookup", json={"api_key": key}).json()["account"]
        assert chat(gate.url, key).status_code == 200
        ops.put(f"overrides/account/{account}", json={"tier": "blocked", "note": "test"})
        assert chat(gate.url, key).status_code == 403
        deadline = time.monotonic() + 20
        while (seen := ops.get(f"accounts/{account}")).status_code != 200 or len(
            seen.json()["recent"]
        ) < 2:
            assert time.monotonic() < deadline, "the detector never recorded both requests"
            time.sleep(0.05)
        newest, first = seen.json()["recent"][:2]
        assert (first["tier"], first["actions"]) == ("normal", [])
        assert (newest["tier"], newest["actions"]) == ("blocked", ["blocked"])
        assert seen.json()["engine_tier"] == "normal" and seen.json()["tier"] == "blocked"
        clusters = ops.get("clusters").json()["clusters"]
        assert all(c["requests"] >= 1 for c in clusters)


async def test_the_detector_process_reaches_the_verdicts_of_inline_detection(
    tmp_path: Path,
) -> None:
    """The same simulated day, with its own timestamps, through both: the same tier, cluster and
    reasons for every account, and scores within the detector's reporting step."""
    sim = simulate(tmp_path)
    clock = [0.0]
    inline = Deployment.from_settings(
        load_settings(secret=GG_SECRET, detection="inline"), lambda: clock[0]
    )
    process = Deployment.from_settings(
        load_settings(secret=GG_SECRET, detection="process"), lambda: clock[0]
    )
    detector = _process(process)
    await inline.start()
    await process.start()
    expected = {}
    try:
        for rec in sim.lines:
            clock[0] = float(rec["ts"])  # type: ignore[arg-type]
            api = api_for_path(str(rec["path"]))
            assert api is not None
            headers = [(k.lower().encode(), v.encode()) for k, v in dict(rec["headers"]).items()]  # type: ignore[call-overload]
            body: dict[str, Any] = rec["body"]  # type: ignore[assignment]
            raw = json.dumps(body).encode()
            peer = str(rec["ip"])
            request = GateRequest(api, headers, peer, raw, body)
            verdict = (await inline.gate.admit(request)).decision.verdict
            await inline.detection.drain()
            expected[verdict.account] = verdict
            await process.gate.admit(request)
        await detector.call(ClustersQuery())  # answered after every request was observed
        got = {a: detector.verdict(a) for a in expected}
    finally:
        await inline.close()
        await process.close()
    flagged = [a for a, v in expected.items() if v.tier is not Tier.NORMAL]
    assert flagged, "the simulated day flags nobody: nothing to compare"
    for account, want in expected.items():
        have = got[account]
        assert (have.tier, have.cluster, have.cluster_size, have.reasons) == (
            want.tier,
            want.cluster,
            want.cluster_size,
            want.reasons,
        )
        assert abs(have.score - want.score) < 0.01


async def test_close_is_prompt_with_a_backlog_and_redis_gone() -> None:
    """Redis hangs under a flood: the detector judges slowly (each call waits for its timeout)
    and falls behind; shutting down still takes seconds, not the time its backlog would."""
    with running_redis() as redis:
        guard = _guard(redis_url=redis.url, redis_timeout=0.2)
        detector = _process(guard)
        await guard.start()
        await _observe(guard, "sk-first")
        await _until(lambda: detector.judged == 1)
        hung = redis._process.pid
        os.kill(hung, signal.SIGSTOP)
        for i in range(5000):
            await _observe(guard, f"sk-slow-{i % 40}")
            if i % 500 == 499:
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.5)
        assert detector.pid is not None
        started = time.monotonic()
        try:
            await guard.close()
        finally:
            os.kill(hung, signal.SIGCONT)
        assert time.monotonic() - started < 4
        assert detector.pid is None


def test_a_detector_whose_server_died_exits(tmp_path: Path) -> None:
    """The server killed mid-flood (no shutdown): its detector judges what reached the socket
    and exits."""
    script = tmp_path / "server.py"
    script.write_text(
        "import asyncio, json, os, sys\n"
        "from guardgate.deployment import Deployment\n"
        "from guardgate.detection import GateRequest\n"
        "from guardgate.model import ApiKind\n"
        "from guardgate.settings import load_settings\n"
        "async def main():\n"
        "    settings = load_settings(secret='x' * 32, detection='process')\n"
        "    guard = Deployment.from_settings(settings)\n"
        "    await guard.start()\n"
        "    print(guard.detection.process.pid, flush=True)\n"
        "    body = {'model': 'm', 'messages': [{'role': 'user', 'content': 'hi'}]}\n"
        "    raw = json.dumps(body).encode()\n"
        "    for i in range(60000):\n"
        "        headers = [(b'authorization', f'Bearer sk-{i}'.encode())]\n"
        "        request = GateRequest(ApiKind.OPENAI_CHAT, headers, '198.51.100.1', raw, body)\n"
        "        await guard.gate.admit(request)\n"
        "        if i % 1000 == 999:\n"
        "            await asyncio.sleep(0.006)\n"
        "    os._exit(0)\n"
        "asyncio.run(main())\n"
    )
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=True
    )
    child = int(out.stdout.split()[0])
    deadline = time.monotonic() + 2.5
    while _alive(child):
        assert time.monotonic() < deadline, "the orphaned detector is still running"
        time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by init) counts as gone.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(") ")[1][0] != "Z"


async def test_a_detector_whose_server_left_mid_answer_ends_quietly() -> None:
    """The server closed the socket with calls still queued (it stopped): answering them finds
    the socket gone, and the detector ends without an error."""
    parent, child = socket.socketpair()
    settings = load_settings(secret=GG_SECRET, detection="inline")
    parent.sendall(encode(("settings", settings, logging.WARNING)))
    for call_id in range(20):
        parent.sendall(encode(("call", call_id, ClusterActivityQuery())))
    parent.close()
    await asyncio.wait_for(serve(child), 20)


async def test_a_stopping_detector_drops_what_it_was_judging_without_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """At SIGTERM the store closes under the requests still being judged (with Redis: 'Connection
    closed by server'): dropped by design, not an error with a traceback in the log. The same
    failure while running is counted and logged."""
    detector = Detector(load_settings(secret=GG_SECRET, detection="inline"))
    await detector.start()

    async def closed(obs: Any) -> Any:
        raise ConnectionError("Connection closed by server.")

    detector.engine.observe = closed  # type: ignore[method-assign]
    headers = [(b"authorization", b"")]
    item = (ApiKind.OPENAI_CHAT.value, headers, "203.0.113.7", json.dumps(BODY).encode(), 1.0)
    item += ("acct", None, None)
    detector.stopping = True
    assert await detector._judge(item) is None
    assert detector.failures == 0 and "could not be observed" not in caplog.text
    detector.stopping = False
    assert await detector._judge(item) is None
    assert detector.failures == 1 and "could not be observed" in caplog.text
    await detector.close()


async def test_a_sigterm_while_the_detector_closes_does_not_cut_the_close(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A server shutting down closes the socket, then sends SIGTERM: the signal finds the
    detector already closing its store (a Redis pool's disconnect), which must finish."""
    entered, release, finished = asyncio.Event(), asyncio.Event(), []
    close = Detector.close

    async def slow_close(self: Detector) -> None:
        entered.set()
        await release.wait()
        await close(self)
        finished.append(True)

    monkeypatch.setattr(Detector, "close", slow_close)
    parent, child = socket.socketpair()
    parent.sendall(encode(("settings", load_settings(secret=GG_SECRET), logging.WARNING)))
    parent.shutdown(socket.SHUT_WR)
    served = asyncio.create_task(serve(child))
    await asyncio.wait_for(entered.wait(), 20)
    os.kill(os.getpid(), signal.SIGTERM)  # the handler `serve` installed on this loop
    await asyncio.sleep(0.05)
    release.set()
    await asyncio.wait_for(served, 20)
    assert finished
    asyncio.get_running_loop().remove_signal_handler(signal.SIGTERM)
    parent.close()
