"""Test support: a sidecar with the admin API enabled and a client for it."""

from __future__ import annotations

from typing import Any

import httpx

TOKEN = "admin-token-for-tests-0123456789"
PREFIX = "/_guardgate/admin"


def admin(url: str, token: str = TOKEN) -> httpx.Client:
    """An httpx client on the admin API of the sidecar at `url`."""
    return httpx.Client(
        base_url=url + PREFIX + "/api/", headers={"authorization": f"Bearer {token}"}, timeout=10
    )


def chat(url: str, key: str, text: str = "hello there", **extra: Any) -> httpx.Response:
    """One Chat Completions request through the sidecar, sent with API key `key`."""
    body = {"model": "mock-reasoning-content", "messages": [{"role": "user", "content": text}]}
    return httpx.post(
        url + "/v1/chat/completions",
        json={**body, **extra},
        headers={"authorization": f"Bearer {key}"},
        timeout=10,
    )
