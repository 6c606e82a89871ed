"""The collector's policy: after start-up and after each tenure, a full collection walks only
what is new, however much state the process holds. Run in a child process: the policy is
process-wide, and the test process's own objects must stay collectable."""

from __future__ import annotations

import subprocess
import sys
import textwrap

_CHILD = textwrap.dedent(
    """
    import asyncio, gc, sys, weakref
    from guardgate.heap import HeapPolicy, keep_heap

    class Entry:
        def __init__(self, n):
            self.values = [float(n), float(n + 1)]

    async def main(tenure):
        state = {f"account-{i}": Entry(i) for i in range(50_000)}
        if tenure:
            keep_heap(HeapPolicy(tenure=0.05))
        await asyncio.sleep(0.3)
        walked = len(gc.get_objects())
        probe = weakref.ref(state["account-7"])
        del state
        print(walked, probe() is None)

    asyncio.run(main(float(sys.argv[1])))
    """
)


def _child(tenure: float) -> tuple[int, bool]:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(tenure)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.split()
    return int(out[0]), out[1] == "True"


def test_a_full_collection_walks_none_of_the_state_once_tenured() -> None:
    untouched, _ = _child(0)
    walked, freed = _child(1)
    # 50,000 entries are 100,000 tracked objects (each entry and its list).
    assert untouched > 100_000
    assert walked < 5_000
    # Tenured state is still freed by reference counting when it is dropped.
    assert freed


def test_new_survivors_are_tenured_in_turn() -> None:
    code = textwrap.dedent(
        """
        import asyncio, gc
        from guardgate.heap import HeapPolicy, keep_heap

        async def main():
            keep_heap(HeapPolicy(tenure=0.05))
            frozen = gc.get_freeze_count()
            later = [[i] for i in range(20_000)]
            await asyncio.sleep(0.3)
            print(gc.get_freeze_count() - frozen >= 20_000, len(gc.get_objects()) < 5_000)

        asyncio.run(main())
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    ).stdout.split()
    assert out == ["True", "True"]


def test_the_sidecar_leaves_no_cyclic_garbage_per_request() -> None:
    # Tenuring freezes what is alive each second, requests in flight included: a request that
    # left a reference cycle behind would leak it for good. Garbage is counted with the
    # collector off, through the sidecar and, for the client's own share, straight to the
    # upstream.
    code = textwrap.dedent(
        """
        import gc, httpx
        from guardgate.settings import load_settings
        from guardgate.sidecar import create_app
        from guardgate.testing import ServerThread
        from guardgate.testing.mock_upstream import create_mock_upstream

        body = {"model": "gpt-x", "messages": [{"role": "user", "content": "Hi"}]}
        with ServerThread(create_mock_upstream(b"s")) as upstream:
            settings = load_settings(upstream_url=upstream.url, heap_tenure=0)
            with ServerThread(create_app(settings)) as sidecar, httpx.Client() as client:
                found = []
                for url in (sidecar.url, upstream.url) * 2:
                    gc.collect()
                    gc.disable()
                    for i in range(100):
                        headers = {"authorization": f"Bearer sk-{i % 7}"}
                        client.post(url + "/v1/chat/completions", json=body, headers=headers)
                    found.append(gc.collect())
                    gc.enable()
        print(found[2] - found[3])
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    ).stdout.split()
    assert int(out[-1]) < 100  # under one object a request (a cancelled watch left 15)


def test_a_cycle_frozen_by_mistake_is_freed_at_the_next_reset() -> None:
    code = textwrap.dedent(
        """
        import asyncio, gc, weakref
        from guardgate.heap import HeapPolicy, keep_heap

        class Node:
            pass

        async def main():
            keep_heap(HeapPolicy(tenure=0.05, reset=0.5))
            a, b = Node(), Node()
            a.other, b.other = b, a
            probe = weakref.ref(a)
            await asyncio.sleep(0.15)  # tenured while alive
            del a, b
            await asyncio.sleep(0.15)
            frozen_garbage = probe() is not None
            await asyncio.sleep(0.6)
            print(frozen_garbage, probe() is None)

        asyncio.run(main())
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    ).stdout.split()
    assert out == ["True", "True"]
