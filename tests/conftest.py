"""Shared fixtures: every test starts from an environment without GUARDGATE_* variables; the
slowest test modules are collected first."""

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


SLOWEST_FIRST = (
    "tests/test_detector.py",
    "tests/admin/test_api.py",
    "tests/admin/test_audit.py",
    "tests/admin/test_dashboard.py",
    "tests/protocols/test_reasoning_completions.py",
    "tests/test_heap.py",
    "tests/protocols/test_reasoning_openai_chat.py",
    "tests/load/test_load.py",
    "tests/test_examples.py",
    "tests/store/test_same_clusters.py",
    "tests/faults/test_redis_outage.py",
    "tests/linking/test_simulated.py",
)
"""The modules that took longest (15-60 s each in a worker on a loaded 2-core machine), longest
first. The README's `-n 4 --dist loadscope --no-loadscope-reorder` hands whole modules to the
workers in collection order: started first, these do not leave one worker running alone at the
end while the others idle."""


@pytest.hookimpl(trylast=True)  # after pytest's own reordering by fixture scope
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: i for i, path in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))
