"""How a Synchronizer's loop thread and its blocking callers hand calls over: the loop
runs on the handover selector where asyncio's default loop would be epoll-based, the
spins that wait for the other side stop for calls that take long and come back for calls
that come back to back, and another event loop policy keeps its own loop."""

import asyncio
import sys

import aiosync
import pytest
from aiosync._synchronizer import _runtime

pytestmark = pytest.mark.timeout(60)
linux = pytest.mark.skipif(sys.platform != "linux", reason="the handover selector is epoll")


async def _quick(x: int) -> int:
    return x + 1


async def _slow(x: int) -> int:
    await asyncio.sleep(0.005)  # far past either spin (at most 150 µs)
    return x


@linux
def test_the_loop_runs_on_the_handover_selector():
    with aiosync.Synchronizer() as s:
        f = s.wrap(_quick)
        assert f(1) == 2
        loop = s._get_loop(start=True)
        assert isinstance(loop._selector, _runtime._HandoverSelector)


@linux
def test_spins_stop_for_long_calls_and_come_back_for_quick_ones():
    with aiosync.Synchronizer() as s:
        quick, slow = s.wrap(_quick), s.wrap(_slow)
        handover = s._runtime._handover
        assert quick(0) == 1
        # Each slow call leaves both spins empty-handed: halved, then stopped.
        for i in range(8):
            assert slow(i) == i
        assert handover._budgets()[:2] == (0, 0)
        # Back-to-back quick calls: a probe (one wait in 32) finds its result in time and
        # the caller's spin is back, well within 3200 calls even on a loaded machine.
        for i in range(3200):
            assert quick(i) == i + 1
            if handover._budgets()[1] > 0:
                break
        assert handover._budgets()[1] > 0


@linux
def test_an_awaiting_callers_spin_stops_for_long_calls_and_comes_back():
    with aiosync.Synchronizer() as s:
        quick, slow = s.wrap(_quick), s.wrap(_slow)
        handover = s._runtime._handover

        async def main() -> None:
            assert await quick.aio(0) == 1
            # A slow result leaves the awaiter's spin (at most 50 µs of its loop's time)
            # empty-handed: halved, then stopped; the caller's loop then only awaits.
            for i in range(6):
                assert await slow.aio(i) == i
            assert handover._budgets()[2] == 0
            for i in range(3200):
                assert await quick.aio(i) == i + 1
                if handover._budgets()[2] > 0:
                    break
            assert handover._budgets()[2] > 0

        asyncio.run(main())


def test_another_event_loop_policy_keeps_its_own_loop():
    class Policy(asyncio.DefaultEventLoopPolicy):
        made = 0

        def new_event_loop(self):
            Policy.made += 1
            return super().new_event_loop()

    old = asyncio.get_event_loop_policy()
    asyncio.set_event_loop_policy(Policy())
    try:
        with aiosync.Synchronizer() as s:
            f = s.wrap(_quick)
            assert [f(i) for i in range(50)] == list(range(1, 51))
            assert Policy.made == 1
            selector = getattr(_runtime, "_HandoverSelector", None)
            loop = s._get_loop(start=True)
            assert selector is None or not isinstance(loop._selector, selector)
    finally:
        asyncio.set_event_loop_policy(old)


def test_calls_from_many_threads_at_once_all_come_back():
    import threading

    with aiosync.Synchronizer() as s:
        f = s.wrap(_quick)
        out: dict[int, list[int]] = {}
        start = threading.Barrier(4)

        def caller(t: int) -> None:
            start.wait(timeout=10)
            out[t] = [f(i) for i in range(300)]

        threads = [threading.Thread(target=caller, args=(t,)) for t in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=30)
            assert not th.is_alive()
        assert out == {t: list(range(1, 301)) for t in range(4)}
