"""RWLock: cancelled and timed-out readers and writers leave nothing behind."""

import asyncio
import threading
import time

import aiosync
import pytest
from _rwlock_helpers import T, acquire_within, settle, try_side
from conftest import join_all, run_in_loop_thread, run_in_thread

# --- cancellation ------------------------------------------------------------------------------


async def assert_free(rw) -> None:
    """Both a write and a read lock can be acquired (nothing is stuck)."""
    assert not rw.reader_lock.locked and not rw.writer_lock.locked
    await acquire_within(rw.writer_lock)
    rw.writer_lock.release()
    await acquire_within(rw.reader_lock)
    rw.reader_lock.release()
    assert try_side(rw.writer_lock) is True
    assert try_side(rw.reader_lock) is True


def test_cancel_pending_reader_and_writer(arun):
    async def main():
        rw = aiosync.RWLock()
        await rw.writer_lock.acquire()
        r = asyncio.create_task(rw.reader_lock.acquire())
        w = asyncio.create_task(rw.writer_lock.acquire())
        await settle()
        r.cancel()
        w.cancel()
        await asyncio.gather(r, w, return_exceptions=True)
        assert r.cancelled() and w.cancelled()
        rw.writer_lock.release()
        await assert_free(rw)

    arun(main(), T)


def test_cancel_pending_writer_lets_queued_readers_in(arun):
    async def main():
        rw = aiosync.RWLock()
        await rw.reader_lock.acquire()
        w = asyncio.create_task(rw.writer_lock.acquire())
        await settle()
        entered = asyncio.Event()

        async def reader():
            async with rw.reader_lock:
                entered.set()

        r = asyncio.create_task(reader())
        await settle()
        assert not entered.is_set()  # behind the waiting writer
        w.cancel()
        # Only readers hold now: the queued reader goes in beside this task's read lock.
        await asyncio.wait_for(entered.wait(), T)
        await asyncio.wait_for(r, T)
        assert w.cancelled()
        rw.reader_lock.release()
        await assert_free(rw)

    arun(main(), T)


def test_cancel_reader_after_release_woke_it(arun):
    async def main():
        rw = aiosync.RWLock()
        await rw.writer_lock.acquire()
        r = asyncio.create_task(rw.reader_lock.acquire())
        r2 = asyncio.create_task(rw.reader_lock.acquire())
        await settle()
        rw.writer_lock.release()  # grants both readers...
        r.cancel()  # ...one of which is cancelled before it runs
        with pytest.raises(asyncio.CancelledError):
            await r
        assert await asyncio.wait_for(r2, T) is True
        assert rw.reader_lock.locked
        # r2's task ended holding its read lock: a writer must still be refused.
        assert try_side(rw.writer_lock) is False

    arun(main(), T)

    async def single():
        rw = aiosync.RWLock()
        await rw.writer_lock.acquire()
        r = asyncio.create_task(rw.reader_lock.acquire())
        await settle()
        rw.writer_lock.release()
        r.cancel()
        with pytest.raises(asyncio.CancelledError):
            await r
        await assert_free(rw)

    arun(single(), T)


def test_cancel_writer_after_release_woke_it(arun):
    async def main():
        rw = aiosync.RWLock()
        await rw.reader_lock.acquire()
        w = asyncio.create_task(rw.writer_lock.acquire())
        await settle()
        entered = asyncio.Event()

        async def reader():
            async with rw.reader_lock:
                entered.set()

        r = asyncio.create_task(reader())
        await settle()
        rw.reader_lock.release()  # grants the writer...
        w.cancel()  # ...which is cancelled before it runs
        with pytest.raises(asyncio.CancelledError):
            await w
        await asyncio.wait_for(entered.wait(), T)  # the reader behind it goes in
        await asyncio.wait_for(r, T)
        await assert_free(rw)

    arun(main(), T)


def test_wait_for_timeouts_leave_nothing_behind(arun):
    async def main():
        rw = aiosync.RWLock()
        holder_ready = threading.Event()
        release = threading.Event()

        def holder():
            with rw.reader_lock:
                holder_ready.set()
                release.wait(T)

        h = run_in_thread(holder)
        assert holder_ready.wait(T)
        for _ in range(5):
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(rw.writer_lock.acquire(), 0.005)
            with pytest.raises(asyncio.TimeoutError):
                await acquire_within(rw.writer_lock, 0.005)
        # No phantom writer left queued: new readers still get in.
        await acquire_within(rw.reader_lock)
        rw.reader_lock.release()
        release.set()
        join_all([h], T)
        await assert_free(rw)

    arun(main(), 2 * T)


def test_cancellation_storm_from_several_loops_leaves_lock_usable():
    """Tasks in two loops and a thread hammer one lock while many pending acquires are
    cancelled by timeouts; afterwards the lock is free and works."""
    rw = aiosync.RWLock()
    counter = {"n": 0}

    async def loop_worker():
        async def one(i):
            for k in range(40):
                side = rw.writer_lock if (i + k) % 3 == 0 else rw.reader_lock
                try:
                    await acquire_within(side, 0.001 * (k % 3))
                except asyncio.TimeoutError:
                    continue
                try:
                    if side is rw.writer_lock:
                        v = counter["n"]
                        await asyncio.sleep(0)
                        counter["n"] = v + 1
                    else:
                        await asyncio.sleep(0)
                finally:
                    side.release()

        await asyncio.gather(*(one(i) for i in range(4)))

    def thread_worker():
        for k in range(60):
            side = rw.writer_lock if k % 2 else rw.reader_lock
            if side.acquire(timeout=0.001 * (k % 3)):
                try:
                    if side is rw.writer_lock:
                        v = counter["n"]
                        time.sleep(0)
                        counter["n"] = v + 1
                finally:
                    side.release()

    workers = [run_in_loop_thread(loop_worker, timeout=3 * T) for _ in range(2)]
    workers.append(run_in_thread(thread_worker))
    join_all(workers, 3 * T)
    assert not rw.reader_lock.locked and not rw.writer_lock.locked
    assert try_side(rw.writer_lock) is True
    assert try_side(rw.reader_lock) is True
    assert rw.writer_lock.acquire(timeout=T) is True
    rw.writer_lock.release()
