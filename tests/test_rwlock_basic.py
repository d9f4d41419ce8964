"""RWLock: surface, threading and asyncio APIs, readers together, writer exclusivity."""

import asyncio
import threading
import time

import aiosync
import pytest
from _rwlock_helpers import T, in_other_thread, settle, try_side
from conftest import join_all, run_in_loop_thread, run_in_thread

# --- surface ---------------------------------------------------------------------------


def test_aliases_and_surface():
    rw = aiosync.RWLock()
    assert rw.reader is rw.reader_lock
    assert rw.writer is rw.writer_lock
    assert rw.reader_lock is rw.reader_lock
    assert rw.reader_lock is not rw.writer_lock
    for side in (rw.reader_lock, rw.writer_lock):
        assert callable(side.acquire) and callable(side.release)
        assert side.locked is False
    assert "RWLock" in repr(rw)


def test_threading_api():
    rw = aiosync.RWLock()
    assert rw.reader_lock.acquire() is True  # no running loop: the blocking form
    assert rw.reader_lock.locked and not rw.writer_lock.locked
    assert try_side(rw.reader_lock) is True  # readers share
    assert try_side(rw.writer_lock) is False

    def timed_write():
        t0 = time.monotonic()
        ok = rw.writer_lock.acquire(timeout=0.05)
        return ok, time.monotonic() - t0

    ok, waited = in_other_thread(timed_write)
    assert ok is False and waited >= 0.04
    rw.reader_lock.release()
    assert not rw.reader_lock.locked and not rw.writer_lock.locked

    with rw.writer_lock:
        assert rw.writer_lock.locked
        assert try_side(rw.reader_lock) is False
        assert try_side(rw.writer_lock) is False
        assert in_other_thread(lambda: rw.reader_lock.acquire(timeout=0.02)) is False
    assert not rw.writer_lock.locked
    assert try_side(rw.writer_lock) is True

    with rw.reader:  # a thread re-entering its read lock
        with rw.reader:
            assert rw.reader_lock.locked
        assert rw.reader_lock.locked
    assert not rw.reader_lock.locked


def test_bad_timeout_on_a_held_lock():
    rw = aiosync.RWLock()
    with rw.writer_lock:
        with pytest.raises(ValueError):
            in_other_thread(lambda: rw.writer_lock.acquire(timeout=-5))
        with pytest.raises(ValueError):
            in_other_thread(lambda: rw.reader_lock.acquire(timeout=-5))
    assert not rw.writer_lock.locked


def test_bad_timeout_on_a_free_lock():
    rw = aiosync.RWLock()
    with pytest.raises(ValueError):
        rw.writer_lock.acquire(timeout=-5)
    with pytest.raises(ValueError):
        rw.reader_lock.acquire(blocking=False, timeout=1)


def test_asyncio_api(arun):
    async def main():
        rw = aiosync.RWLock()
        assert await rw.reader_lock.acquire() is True
        assert rw.reader_lock.locked and not rw.writer_lock.locked
        rw.reader_lock.release()
        assert not rw.reader_lock.locked
        assert await rw.writer_lock.acquire() is True
        assert rw.writer_lock.locked
        rw.writer_lock.release()
        assert not rw.writer_lock.locked
        async with rw.writer:
            assert rw.writer_lock.locked
            assert try_side(rw.reader_lock) is False
        async with rw.reader:
            assert rw.reader_lock.locked
            assert try_side(rw.reader_lock) is True
            assert try_side(rw.writer_lock) is False
        assert not rw.reader_lock.locked and not rw.writer_lock.locked

    arun(main(), T)


def test_reader_locked_means_read_held(arun):
    async def main():
        rw = aiosync.RWLock()
        async with rw.writer_lock:
            assert rw.writer_lock.locked
            assert not rw.reader_lock.locked
        async with rw.reader_lock:
            assert rw.reader_lock.locked
            assert not rw.writer_lock.locked

    arun(main(), T)


# --- many readers ----------------------------------------------------------------------


def test_many_readers_at_once_asyncio(arun):
    """Every reader waits, holding the read lock, until all are inside: this deadlocks
    (and times out) unless the readers share the lock."""

    async def main():
        rw = aiosync.RWLock()
        n = 12
        inside = 0
        all_in = asyncio.Event()

        async def reader():
            nonlocal inside
            async with rw.reader_lock:
                inside += 1
                if inside == n:
                    all_in.set()
                await asyncio.wait_for(all_in.wait(), T)
                assert not rw.writer_lock.locked
                assert try_side(rw.writer_lock) is False

        await asyncio.gather(*(reader() for _ in range(n)))
        assert inside == n
        assert not rw.reader_lock.locked

    arun(main(), 2 * T)


def test_many_readers_at_once_threads_and_loops():
    rw = aiosync.RWLock()
    threads_n, loops_n, tasks_per_loop = 3, 2, 3
    parties = threads_n + loops_n * tasks_per_loop + 1  # + the test thread
    barrier = aiosync.Barrier(parties)

    def thread_reader():
        with rw.reader_lock:
            barrier.wait(T)  # 1: everyone inside
            barrier.wait(T)  # 2: the test thread has checked

    async def loop_readers():
        async def one():
            async with rw.reader_lock:
                await asyncio.wait_for(barrier.wait(), T)
                await asyncio.wait_for(barrier.wait(), T)

        await asyncio.gather(*(one() for _ in range(tasks_per_loop)))

    workers = [run_in_thread(thread_reader) for _ in range(threads_n)]
    workers += [run_in_loop_thread(loop_readers, timeout=2 * T) for _ in range(loops_n)]
    barrier.wait(T)
    # All readers inside at once; a writer cannot get in meanwhile.
    assert rw.reader_lock.locked
    assert rw.writer_lock.acquire(blocking=False) is False
    assert rw.writer_lock.acquire(timeout=0.01) is False
    barrier.wait(T)
    join_all(workers, 2 * T)
    assert not rw.reader_lock.locked
    assert rw.writer_lock.acquire(blocking=False) is True
    rw.writer_lock.release()


# --- writer exclusivity ---------------------------------------------------------------------


def test_writer_exclusivity_asyncio(arun):
    async def main():
        rw = aiosync.RWLock()
        state = {"n": 0, "a": 0, "b": 0, "writing": 0, "reads": 0}
        rounds = 60

        async def writer():
            for _ in range(rounds):
                async with rw.writer_lock:
                    assert state["writing"] == 0
                    state["writing"] += 1
                    v = state["n"]
                    state["a"] += 1
                    await asyncio.sleep(0)  # a yield point inside the critical section
                    state["n"] = v + 1
                    state["b"] += 1
                    state["writing"] -= 1

        async def reader():
            for _ in range(rounds):
                async with rw.reader_lock:
                    assert state["writing"] == 0
                    a = state["a"]
                    await asyncio.sleep(0)
                    assert state["a"] == state["b"] == a  # no writer in between
                    state["reads"] += 1

        await asyncio.gather(*(writer() for _ in range(5)), *(reader() for _ in range(5)))
        return state

    state = arun(main(), 2 * T)
    assert state["n"] == state["a"] == state["b"] == 5 * 60
    assert state["reads"] == 5 * 60


def test_writer_exclusivity_threads_and_loops():
    rw = aiosync.RWLock()
    state = {"n": 0, "a": 0, "b": 0}
    rounds = 150

    def thread_worker():
        for i in range(rounds):
            if i % 3 == 0:
                with rw.writer_lock:
                    v = state["n"]
                    state["a"] += 1
                    time.sleep(0)  # let other threads run inside the critical section
                    state["n"] = v + 1
                    state["b"] += 1
            else:
                with rw.reader_lock:
                    a = state["a"]
                    time.sleep(0)
                    assert state["a"] == state["b"] == a

    async def loop_worker():
        async def one():
            for i in range(rounds):
                if i % 3 == 0:
                    async with rw.writer_lock:
                        v = state["n"]
                        state["a"] += 1
                        await asyncio.sleep(0)
                        state["n"] = v + 1
                        state["b"] += 1
                else:
                    async with rw.reader_lock:
                        a = state["a"]
                        await asyncio.sleep(0)
                        assert state["a"] == state["b"] == a

        await asyncio.gather(one(), one(), one())

    workers = [run_in_thread(thread_worker) for _ in range(2)]
    workers += [run_in_loop_thread(loop_worker, timeout=3 * T) for _ in range(2)]
    join_all(workers, 3 * T)
    writes_per_worker = len(range(0, rounds, 3))
    assert state["n"] == state["a"] == state["b"] == (2 + 2 * 3) * writes_per_worker
    assert not rw.reader_lock.locked and not rw.writer_lock.locked


def test_writer_in_thread_blocks_readers_in_loops():
    rw = aiosync.RWLock()
    rw.writer_lock.acquire()
    queued = threading.Barrier(3, timeout=T)
    entered = []

    async def loop_readers():
        async def one(i):
            async with rw.reader_lock:
                entered.append(i)

        tasks = [asyncio.create_task(one(i)) for i in range(3)]
        await settle()
        assert not any(t.done() for t in tasks)
        await asyncio.get_running_loop().run_in_executor(None, queued.wait)
        await asyncio.wait_for(asyncio.gather(*tasks), T)

    loops = [run_in_loop_thread(loop_readers, timeout=2 * T) for _ in range(2)]
    queued.wait()
    assert entered == []
    rw.writer_lock.release()
    join_all(loops, 2 * T)
    assert sorted(entered) == [0, 0, 1, 1, 2, 2]
