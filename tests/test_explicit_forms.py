"""The explicit forms (`acquire_async()` / `acquire_blocking()`, and likewise for `wait`,
`put`, `get`, `join`) do the same whatever runs in the calling thread, and an awaitable
from the contextual forms that is dropped without being awaited warns as a coroutine
would, having done nothing."""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import sys
import warnings

import aiosync
import pytest
from conftest import DEADLINE

_pool = concurrent.futures.ThreadPoolExecutor(2)


def run_in_thread(fn) -> concurrent.futures.Future:
    """`fn()` on another thread (with no event loop), its result through a future."""
    return _pool.submit(fn)


LOCKS = {
    "Lock": aiosync.Lock,
    "RLock": aiosync.RLock,
    "Semaphore": lambda: aiosync.Semaphore(1),
    "BoundedSemaphore": lambda: aiosync.BoundedSemaphore(1),
    "RWLock.writer_lock": lambda: aiosync.RWLock().writer_lock,
    "Condition": aiosync.Condition,
}


def _locked(lock) -> bool:
    locked = lock.locked
    return locked if isinstance(locked, bool) else locked()


@pytest.mark.parametrize("make", LOCKS.values(), ids=LOCKS.keys())
def test_acquire_blocking_blocks_even_with_a_loop_running(make):
    lock = make()

    async def main():
        got = lock.acquire_blocking()
        assert got is True  # a bool, not an awaitable
        assert _locked(lock)
        # Held by another thread: a non-blocking and a timed acquire fail, as threading's.
        other = run_in_thread(
            lambda: (lock.acquire_blocking(False), lock.acquire_blocking(True, 0.01))
        )
        assert other.result(DEADLINE) == (False, False)
        lock.release()
        assert not _locked(lock)

    asyncio.run(main())


@pytest.mark.parametrize("make", LOCKS.values(), ids=LOCKS.keys())
def test_acquire_async_is_an_awaitable_and_needs_a_loop(make):
    lock = make()
    with pytest.raises(RuntimeError, match="no running event loop"):
        lock.acquire_async()
    assert not _locked(lock)

    async def main():
        assert await lock.acquire_async() is True
        assert _locked(lock)
        lock.release()

    asyncio.run(main())


def test_acquire_blocking_on_the_loop_thread_that_holds_the_lock_raises():
    lock = aiosync.Lock()

    async def main():
        await lock.acquire_async()
        # A task of this thread's running loop holds it: waiting here could never end.
        with pytest.raises(RuntimeError, match="deadlock"):
            lock.acquire_blocking()
        lock.release()

    asyncio.run(main())


def test_explicit_waits_of_event_condition_barrier():
    ev, cond, barrier = aiosync.Event(), aiosync.Condition(), aiosync.Barrier(2)
    with pytest.raises(RuntimeError, match="no running event loop"):
        ev.wait_async()
    assert ev.wait_blocking(0.001) is False

    async def main():
        assert ev.wait_blocking(0.001) is False  # blocking even in a loop
        run_in_thread(ev.set).result(DEADLINE)
        assert await ev.wait_async() is True

        assert cond.acquire_blocking() is True
        assert cond.wait_blocking(0.001) is False
        assert cond.wait_for_blocking(lambda: 42) == 42
        cond.release()
        await cond.acquire_async()
        assert await cond.wait_for_async(lambda: "ready") == "ready"
        waiting = asyncio.ensure_future(cond.wait_async())
        # The thread gets the lock only once the wait gave it up, as a waiter.
        notifier = run_in_thread(lambda: _notify(cond))
        assert await asyncio.wait_for(waiting, DEADLINE) is True
        notifier.result(DEADLINE)
        cond.release()

        other = run_in_thread(lambda: barrier.wait_blocking(DEADLINE))
        index = await asyncio.wait_for(barrier.wait_async(), DEADLINE)
        assert sorted([index, other.result(DEADLINE)]) == [0, 1]

    asyncio.run(main())


def _notify(cond):
    with cond:
        cond.notify()


def test_explicit_queue_forms():
    q = aiosync.Queue(1)
    with pytest.raises(RuntimeError, match="no running event loop"):
        q.put_async(1)

    async def main():
        q.put_blocking("a")  # blocking even in a loop
        with pytest.raises(aiosync.QueueFull):
            q.put_blocking("b", True, 0.001)
        assert await q.get_async() == "a"
        await q.put_async("b")
        assert q.get_blocking() == "b"
        with pytest.raises(aiosync.QueueEmpty):
            q.get_blocking(False)
        q.task_done()
        q.task_done()
        await asyncio.wait_for(q.join_async(), DEADLINE)
        q.join_blocking()

    asyncio.run(main())


def _never_awaited(what: str):
    return pytest.warns(RuntimeWarning, match=rf"{what} was never awaited")


def _drop(awaitable) -> None:
    del awaitable
    gc.collect()


@pytest.mark.parametrize("make", LOCKS.values(), ids=LOCKS.keys())
def test_an_acquire_never_awaited_warns_and_takes_nothing(make):
    lock = make()

    async def main():
        with _never_awaited(r"acquire\(\)"):
            _drop(lock.acquire())  # sync code on a loop's thread: a mistake
        assert not _locked(lock)

    asyncio.run(main())


def test_waits_puts_and_gets_never_awaited_warn():
    ev, q = aiosync.Event(), aiosync.Queue()

    async def main():
        with _never_awaited(r"Event\.wait\(\)"):
            _drop(ev.wait())
        ev.set()
        with _never_awaited(r"Event\.wait\(\)"):
            _drop(ev.wait())  # already set: its fast path warns too
        with _never_awaited(r"Queue\.put\(\)"):
            _drop(q.put(1))
        assert q.qsize() == 0  # nothing was put
        with _never_awaited(r"Queue\.get\(\)"):
            _drop(q.get())
        b = aiosync.Barrier(1)
        with _never_awaited(r"Barrier\.wait\(\)"):
            _drop(b.wait())
        assert b.n_waiting == 0

    asyncio.run(main())


def test_awaited_or_closed_awaitables_do_not_warn():
    lock, ev, q = aiosync.Lock(), aiosync.Event(), aiosync.Queue()
    ev.set()

    async def main():
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert await lock.acquire()
            lock.release()
            assert await ev.wait()
            await q.put(1)
            assert await q.get() == 1
            a = lock.acquire()
            a.close()  # closed like a coroutine: no warning
            _drop(a)
            t = asyncio.ensure_future(lock.acquire())
            assert await asyncio.wait_for(t, DEADLINE)
            lock.release()
            gc.collect()

    asyncio.run(main())


def test_a_never_awaited_warning_turned_into_an_error_is_reported_not_raised(monkeypatch):
    lock = aiosync.Lock()
    seen = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: seen.append(u.exc_type))

    async def main():
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            _drop(lock.acquire())

    asyncio.run(main())
    assert seen == [RuntimeWarning]
    assert not lock.locked()


def test_testing_an_awaitable_for_truth_warns_at_once():
    """`if lock.acquire():` in sync code on a loop's thread: the awaitable is true, so it
    warns there (and, unawaited, again when dropped)."""
    lock = aiosync.Lock()

    async def main():
        with _never_awaited(r"Lock\.acquire\(\)"):
            with pytest.warns(RuntimeWarning, match="always true"):
                pending = lock.acquire()
                assert pending
            del pending
            gc.collect()
        assert not lock.locked()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            pending = lock.acquire_async()
            with pytest.raises(RuntimeWarning):
                bool(pending)
            pending.close()  # closed: no second warning

    asyncio.run(main())
