"""Issue 18, finding 4: keys the upstream refuses leave no state behind, and the memory store
stays under its cap. Real sidecar under uvicorn, real HTTP, an upstream that answers 401."""

from __future__ import annotations

import json
import secrets
import time

import httpx
import redis
from starlette.types import Receive, Scope, Send

from guardgate.detection import InlineDetection
from guardgate.engine import Engine
from guardgate.scoring.state import MemoryFeatureStore
from guardgate.sidecar import Sidecar, create_app
from guardgate.store import MemoryStore
from guardgate.testing import ServerThread, running_redis

from ..gateway import settings_for

_REFUSED = json.dumps(
    {"error": {"message": "Incorrect API key provided.", "type": "invalid_request_error"}}
).encode()
BODY = {"model": "gpt-x", "messages": [{"role": "user", "content": "What is 17 * 23?"}]}


async def refusing_upstream(scope: Scope, receive: Receive, send: Send) -> None:
    """An upstream that authenticates no key: 401 to every request."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": 401, "headers": headers})
    await send({"type": "http.response.body", "body": _REFUSED})


def _send_random_keys(url: str, count: int, *, new_prompts: bool = False) -> list[int]:
    """`count` requests, each with a new random key (and, with `new_prompts`, a prompt never
    asked before)."""
    with httpx.Client(base_url=url, timeout=10) as client:
        return [
            client.post(
                "/v1/chat/completions",
                json=_asking(f"What is 17 * {i}?") if new_prompts else BODY,
                headers={"authorization": f"Bearer sk-{secrets.token_hex(16)}"},
            ).status_code
            for i in range(count)
        ]


def _asking(prompt: str) -> dict[str, object]:
    return {**BODY, "messages": [{"role": "user", "content": prompt}]}


METRICS_TOKEN = "metrics-token-0123456789"


def _metrics(url: str) -> str:
    auth = {"authorization": f"Bearer {METRICS_TOKEN}"}
    return httpx.get(url + "/_guardgate/metrics", headers=auth).text


def _engine(app: Sidecar) -> Engine:
    detection = app.deployment.detection
    assert isinstance(detection, InlineDetection)
    return detection.engine


def _forgotten(url: str) -> float:
    text = _metrics(url)
    for line in text.splitlines():
        if line.startswith('guardgate_accounts_forgotten_total{reason="refused"}'):
            return float(line.split()[-1])
    return 0.0


def test_random_keys_refused_upstream_leave_no_memory_state() -> None:
    with ServerThread(refusing_upstream) as upstream:
        app = create_app(settings_for(upstream.url, metrics_token=METRICS_TOKEN))
        with ServerThread(app) as sidecar:
            codes = _send_random_keys(sidecar.url, 60)
            assert codes == [401] * 60  # the client sees the upstream's answer unchanged
            store = _engine(app).store
            features = _engine(app).scorer.store
            assert isinstance(store, MemoryStore) and isinstance(features, MemoryFeatureStore)
            # Forgetting runs in the background, right after each answer starts.
            for _ in range(50):
                if store.accounts == 0 and len(features) == 0:
                    break
                httpx.get(sidecar.url + "/_guardgate/health")
            assert store.accounts == 0
            assert len(features) == 0
            assert _forgotten(sidecar.url) == 60


def _prompts_remembered(features: object, client: redis.Redis) -> int:
    if isinstance(features, MemoryFeatureStore):
        return features.prompts
    # What may stay of scoring in Redis: the models seen and the first request's time.
    left = {k.decode() for k in client.scan_iter("{guardgate:score}*")}
    return len(left - {"{guardgate:score}:m", "{guardgate:score}:t0"})


def test_refused_keys_leave_no_prompt_behind() -> None:
    # Scoring remembers each prompt seen for a week (novelty); a key never proven takes back
    # the prompt its request made known, in memory and in Redis.
    with running_redis() as server, ServerThread(refusing_upstream) as upstream:
        client = redis.Redis.from_url(server.url)
        for redis_url in ("", server.url):
            app = create_app(settings_for(upstream.url, redis_url=redis_url, redis_timeout=5.0))
            with ServerThread(app) as sidecar:
                assert _send_random_keys(sidecar.url, 30, new_prompts=True) == [401] * 30
                features = _engine(app).scorer.store
                for _ in range(50):
                    if _prompts_remembered(features, client) == 0:
                        break
                    httpx.get(sidecar.url + "/_guardgate/health")
                assert _prompts_remembered(features, client) == 0, redis_url
        client.close()


def test_prompts_seen_stay_under_max_prompts() -> None:
    from guardgate.testing.mock_upstream import create_mock_upstream

    with ServerThread(create_mock_upstream(b"mock-upstream-secret")) as upstream:
        settings = settings_for(upstream.url, max_prompts=5, metrics_token=METRICS_TOKEN)
        app = create_app(settings)
        with ServerThread(app) as sidecar:
            assert _send_random_keys(sidecar.url, 12, new_prompts=True) == [200] * 12
            features = _engine(app).scorer.store
            assert isinstance(features, MemoryFeatureStore)
            assert features.prompts == 5
            assert "guardgate_prompts_evicted_total 7.0" in _metrics(sidecar.url)


def test_random_keys_refused_upstream_leave_no_redis_keys() -> None:
    with running_redis() as server, ServerThread(refusing_upstream) as upstream:
        client = redis.Redis.from_url(server.url)
        app = create_app(settings_for(upstream.url, redis_url=server.url, redis_timeout=5.0))
        with ServerThread(app) as sidecar:
            _send_random_keys(sidecar.url, 5)
            settled = client.dbsize()
            codes = _send_random_keys(sidecar.url, 60)
            assert codes == [401] * 60
            grown = client.dbsize()
            for _ in range(50):
                if grown <= settled:
                    break
                httpx.get(sidecar.url + "/_guardgate/health")
                grown = client.dbsize()
        client.close()
    # Before: some 3 keys per refused key, kept for days. After: none of them stays.
    assert grown <= settled


def test_the_memory_store_stays_under_max_accounts() -> None:
    from guardgate.testing.mock_upstream import create_mock_upstream

    with ServerThread(create_mock_upstream(b"mock-upstream-secret")) as upstream:
        app = create_app(settings_for(upstream.url, max_accounts=20, metrics_token=METRICS_TOKEN))
        with ServerThread(app) as sidecar:
            codes = _send_random_keys(sidecar.url, 50)
            assert codes == [200] * 50
            assert _engine(app).store.accounts <= 20  # type: ignore[attr-defined]
            assert len(_engine(app).scorer.store) <= 20  # type: ignore[arg-type]
            text = _metrics(sidecar.url)
            assert 'guardgate_accounts_forgotten_total{reason="evicted"} 30.0' in text


def test_a_detector_process_reports_what_its_state_evicted() -> None:
    # The caps hold in the detector process too, and its evictions reach the server's metrics.
    from guardgate.testing.mock_upstream import create_mock_upstream

    with ServerThread(create_mock_upstream(b"mock-upstream-secret")) as upstream:
        settings = settings_for(
            upstream.url,
            max_accounts=20,
            max_prompts=5,
            detection="process",
            metrics_token=METRICS_TOKEN,
        )
        with ServerThread(create_app(settings)) as sidecar:
            assert _send_random_keys(sidecar.url, 50, new_prompts=True) == [200] * 50
            deadline = time.monotonic() + 20
            wanted = (
                'guardgate_accounts_forgotten_total{reason="evicted"} 30.0',
                "guardgate_prompts_evicted_total 45.0",
            )
            while not all(line in (text := _metrics(sidecar.url)) for line in wanted):
                assert time.monotonic() < deadline, text
                time.sleep(0.05)


_ANSWER = json.dumps(
    {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "gpt-x",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "391."},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
    }
).encode()


async def refusing_on_request(scope: Scope, receive: Receive, send: Send) -> None:
    """An upstream that serves every request but those with `x-refuse` (403)."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    refuse = any(name == b"x-refuse" for name, _ in scope["headers"])
    headers = [(b"content-type", b"application/json")]
    await send(
        {"type": "http.response.start", "status": 403 if refuse else 200, "headers": headers}
    )
    await send({"type": "http.response.body", "body": _REFUSED if refuse else _ANSWER})


def test_a_refusal_does_not_launder_an_account_served_before() -> None:
    with ServerThread(refusing_on_request) as upstream:
        app = create_app(settings_for(upstream.url))
        with ServerThread(app) as sidecar, httpx.Client(base_url=sidecar.url) as client:
            auth = {"authorization": "Bearer sk-served-before"}
            for _ in range(3):
                assert client.post("/v1/chat/completions", json=BODY, headers=auth).is_success
            refused = client.post(
                "/v1/chat/completions", json=BODY, headers={**auth, "x-refuse": "1"}
            )
            assert refused.status_code == 403
            client.get("/_guardgate/health")
            store = _engine(app).store
            assert isinstance(store, MemoryStore)
            assert store.accounts == 1
            assert len(_engine(app).scorer.store) == 1  # type: ignore[arg-type]
