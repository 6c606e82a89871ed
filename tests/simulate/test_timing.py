"""The simulator's timing pieces."""

from __future__ import annotations

import random

from guardgate.simulate.timing import WorkerPool


def test_worker_pool_sends_each_item_when_a_worker_is_free() -> None:
    pool = WorkerPool(random.Random(7), 100.0, 3)
    first = pool.take()
    assert 100.0 <= first <= 102.0
    pool.busy_for(50.0)  # the first worker waits for a long answer
    sent = []
    for _ in range(4):
        at = pool.take()
        sent.append(at)
        pool.busy_for(10.0)
    # The two idle workers take the next items, one after the other, before the busy one is back.
    assert sent == sorted(sent)
    assert all(at < first + 50.0 for at in sent[:2])
    assert pool.finished() >= first + 50.0


def test_worker_pool_of_one_is_sequential() -> None:
    pool = WorkerPool(random.Random(1), 0.0, 1)
    times = []
    for _ in range(3):
        times.append(pool.take())
        pool.busy_for(5.0)
    assert times[1] - times[0] == 5.0 and times[2] - times[1] == 5.0
    assert pool.finished() == times[2] + 5.0
