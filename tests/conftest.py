"""Shared fixtures: every test starts from an environment without GUARDGATE_* variables."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _clean_guardgate_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("GUARDGATE_"):
            monkeypatch.delenv(name)
    # A fixed secret keeps tests quiet (an unset secret warns) and account ids stable.
    monkeypatch.setenv("GUARDGATE_SECRET", "test-secret-0123456789")
    # Tenuring freezes what a test process leaves behind; tests/test_heap.py turns it on.
    monkeypatch.setenv("GUARDGATE_HEAP_TENURE", "0")
    yield
