"""The cyclic garbage collector's policy for a long-running server: no pause grows with state.

CPython's full collection walks every tracked object in the process. A gateway keeps state for
every account it has seen, so that walk grows with the accounts tracked: at 100k accounts it
took hundreds of milliseconds on a 2-core machine, stalling every request on the event loop.

The policy, installed once per process by `keep_heap`:
- what start-up built (modules, settings, the app) is moved out of the collector's sight
  (`gc.freeze()`);
- then every `tenure` seconds, the objects that survived since the last time are collected once
  (a full collection, which now sees only them: milliseconds) and the survivors frozen in turn.

So each collection sees at most `tenure` seconds' worth of new long-lived objects, whatever the
state's size. Frozen objects are still freed by reference counting when dropped (guardgate's
state holds no cycles); a reference cycle formed among objects after they were frozen is never
collected. Requests in flight are frozen too, so the request path must leave no cycle behind
when it ends (`tests/test_heap.py` counts them through a real sidecar: a cancelled task whose
traceback held its owner left 38 objects a request before `proxy._watch` became a function:
3,611 of them frozen for good after 16 s of load). As a safety net, once every `reset` seconds
the whole heap is unfrozen, collected once and frozen again: the one pause left that grows with
state, bounding what an unforeseen cycle can hold. An app that mounts the middleware and makes
cycles of its own per request should set `GUARDGATE_HEAP_TENURE=0`.
"""

from __future__ import annotations

import asyncio
import gc
import weakref
from dataclasses import dataclass

__all__ = ["HeapPolicy", "keep_heap"]


@dataclass(frozen=True, slots=True)
class HeapPolicy:
    """How often survivors are tenured, and the young generation's threshold."""

    tenure: float = 1.0
    """Seconds between tenures; 0 leaves the collector as Python configured it."""
    reset: float = 3600.0
    """Seconds between collections of the whole heap (unfrozen, collected, frozen again)."""
    young: int = 5000
    """Allocations between young collections (Python's default is 700): a request's short-lived
    objects then mostly die before a collection sees them, so fewer are promoted."""


_installed: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()


def keep_heap(policy: HeapPolicy) -> None:
    """Apply `policy` to this process, from the running event loop (once per loop; later calls
    do nothing)."""
    if policy.tenure <= 0:
        return
    loop = asyncio.get_running_loop()
    if loop in _installed:
        return
    _installed.add(loop)
    _, middle, old = gc.get_threshold()
    gc.set_threshold(policy.young, middle, old)
    gc.collect()
    gc.freeze()

    every = max(1, round(policy.reset / policy.tenure))
    count = 0

    def tenure() -> None:
        nonlocal count
        if loop.is_closed():
            return
        count += 1
        if count % every == 0:
            gc.unfreeze()
        gc.collect()
        gc.freeze()
        loop.call_later(policy.tenure, tenure)

    loop.call_later(policy.tenure, tenure)
