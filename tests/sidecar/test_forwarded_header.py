"""Issue 18, finding 5: behind a trusted edge that sets only X-Forwarded-For, a client cannot
choose its own address with a `Forwarded` header: guardgate reads the ONE header configured in
GUARDGATE_FORWARDED_HEADER. A real sidecar (the test client is its trusted edge, 127.0.0.1), the
address read back through the admin API."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from tests.admin.admin_client import TOKEN, admin
from tests.gateway import GG_SECRET, running_mock, settings_for

from guardgate.sidecar import create_app
from guardgate.signals.account import AccountHasher
from guardgate.testing import ServerThread

CHAT: dict[str, Any] = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]}
EDGE = {"trusted_proxies": "127.0.0.1/32", "admin_token": TOKEN}


def _prefix_seen(gate_url: str, key: str, headers: dict[str, str]) -> str:
    reply = httpx.post(
        gate_url + "/v1/chat/completions",
        json=CHAT,
        headers={"authorization": f"Bearer {key}", **headers},
        timeout=10,
    )
    assert reply.status_code == 200
    account = AccountHasher(GG_SECRET.encode()).hash(b"k:" + key.encode())
    with admin(gate_url) as ops:
        recent = ops.get(f"accounts/{account}").json()["recent"]
    prefix: str = recent[-1]["ip_prefix"]
    return prefix


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ({}, "203.0.113.0/24"),  # default: X-Forwarded-For, as the edge set it
        ({"forwarded_header": "forwarded"}, "198.51.100.0/24"),
        ({"forwarded_header": "x-real-ip"}, "192.0.2.0/24"),
    ],
)
def test_only_the_configured_forwarding_header_counts(
    setting: dict[str, str], expected: str
) -> None:
    # Before: `Forwarded` won over X-Forwarded-For whenever present (198.51.100.0/24 here
    # under the default), so a client behind an XFF-only edge chose its own address.
    headers = {
        "x-forwarded-for": "203.0.113.7",
        "forwarded": "for=198.51.100.99",
        "x-real-ip": "192.0.2.5",
    }
    with (
        running_mock() as mock,
        ServerThread(
            create_app(settings_for(mock.url, **EDGE, **setting)), proxy_headers=False
        ) as gate,
    ):
        assert _prefix_seen(gate.url, "sk-edge", headers) == expected
