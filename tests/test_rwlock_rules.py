"""RWLock: writer preference, read-to-write upgrade, release errors, own-loop blocking."""

import asyncio
import threading

import aiosync
import pytest
from _rwlock_helpers import T, acquire_within, in_other_thread, settle, try_side
from conftest import join_all, run_in_loop_thread, run_in_thread, wait_until


def wait_for_writer_queued(rw) -> None:
    """Returns once a writer waits: only a waiting writer makes a free-for-readers lock
    refuse a new reader (the lock must be read-held, by someone, when this is called)."""
    wait_until(lambda: not try_side(rw.reader_lock), timeout=T)


# --- writer preference -------------------------------------------------------------------------


def test_writer_preference_asyncio(arun):
    """A waiting writer blocks new readers; the readers queued meanwhile go in together
    after it, and a writer queued after them waits for them."""

    async def main():
        rw = aiosync.RWLock()
        log = []
        both_in = asyncio.Event()
        inside = 0

        async def writer(name):
            async with rw.writer_lock:
                log.append(f"{name} in")
                await settle()
                log.append(f"{name} out")

        async def reader(name):
            nonlocal inside
            async with rw.reader_lock:
                log.append(f"{name} in")
                inside += 1
                if inside == 2:
                    both_in.set()
                await asyncio.wait_for(both_in.wait(), T)  # R1 and R2 are in together
                log.append(f"{name} out")

        await rw.reader_lock.acquire()  # held by this task
        w = asyncio.create_task(writer("W"))
        await settle()
        assert not w.done() and log == []
        r1 = asyncio.create_task(reader("R1"))
        r2 = asyncio.create_task(reader("R2"))
        await settle()
        assert log == []  # new readers wait behind the waiting writer...
        assert try_side(rw.reader_lock) is False  # ...and so does a thread's reader
        w2 = asyncio.create_task(writer("W2"))
        await settle()
        assert log == []
        rw.reader_lock.release()
        await asyncio.wait_for(asyncio.gather(w, r1, r2, w2), T)
        return log

    log = arun(main(), 2 * T)
    assert log[:2] == ["W in", "W out"]
    assert sorted(log[2:4]) == ["R1 in", "R2 in"]
    assert sorted(log[4:6]) == ["R1 out", "R2 out"]
    assert log[6:] == ["W2 in", "W2 out"]


def test_writer_preference_threads_and_a_loop():
    """A writer waiting in a thread blocks new readers from other threads and from an
    event loop; the loop's readers, queued behind it, go in after it.

    (Reader *threads* started just before the release are not checked for order: a
    running thread may take a free lock ahead of a woken waiter for a short while, by
    the design's eventual-fairness rule, and a thread cannot be seen to have queued.)"""
    rw = aiosync.RWLock()
    log = []
    log_lock = threading.Lock()
    queued = threading.Event()

    def writer():
        with rw.writer_lock:
            with log_lock:
                log.append("W")

    async def loop_readers():
        async def one(name):
            async with rw.reader_lock:
                with log_lock:
                    log.append(name)

        tasks = [asyncio.create_task(one(f"R{i}")) for i in range(3)]
        await settle()
        assert not any(t.done() for t in tasks)  # behind the waiting writer
        queued.set()
        await asyncio.wait_for(asyncio.gather(*tasks), T)

    rw.reader_lock.acquire()  # held by this thread
    w = run_in_thread(writer)
    wait_for_writer_queued(rw)  # a new reader (thread) is refused: the writer waits
    readers = run_in_loop_thread(loop_readers, timeout=2 * T)
    assert queued.wait(T)
    assert log == []
    rw.reader_lock.release()
    join_all([w, readers], T)
    assert log[0] == "W"
    assert sorted(log[1:]) == ["R0", "R1", "R2"]


def test_timed_out_writer_does_not_strand_readers_queued_behind_it():
    rw = aiosync.RWLock()
    rw.reader_lock.acquire()
    w = run_in_thread(lambda: rw.writer_lock.acquire(timeout=0.3))
    wait_for_writer_queued(rw)

    # This reader queues behind the waiting writer; when the writer gives up, the reader
    # must get in beside the reader that still holds the lock.
    def late_reader():
        ok = rw.reader_lock.acquire(timeout=T)
        if ok:
            rw.reader_lock.release()
        return ok

    r = run_in_thread(late_reader)
    join_all([w, r], T)
    assert w.result is False
    assert r.result is True
    rw.reader_lock.release()
    assert not rw.reader_lock.locked
    assert try_side(rw.writer_lock) is True


# --- per-task (per-thread) ownership ------------------------------------------------------------


def test_read_to_write_upgrade_raises(arun):
    async def main():
        rw = aiosync.RWLock()
        async with rw.reader_lock:
            with pytest.raises(RuntimeError):
                await rw.writer_lock.acquire()
            assert rw.reader_lock.locked and not rw.writer_lock.locked
        assert not rw.reader_lock.locked
        async with rw.writer_lock:  # nothing was left behind
            pass

    arun(main(), T)

    rw = aiosync.RWLock()
    with rw.reader_lock:
        with pytest.raises(RuntimeError):
            rw.writer_lock.acquire()
        with pytest.raises(RuntimeError):
            rw.writer_lock.acquire(timeout=0.01)
        with pytest.raises(RuntimeError):
            with rw.writer_lock:
                pass
        assert rw.reader_lock.locked and not rw.writer_lock.locked
    assert not rw.reader_lock.locked
    assert try_side(rw.writer_lock) is True


def test_writer_may_take_the_read_lock(arun):
    async def main():
        rw = aiosync.RWLock()
        async with rw.writer_lock:
            async with rw.reader_lock:
                assert rw.writer_lock.locked
            async with rw.writer_lock:  # a writer re-entering its write lock
                assert rw.writer_lock.locked
            assert rw.writer_lock.locked
        assert not rw.reader_lock.locked and not rw.writer_lock.locked

        # Releasing the write lock first leaves a read lock, with no writer in between.
        await rw.writer_lock.acquire()
        await rw.reader_lock.acquire()
        rw.writer_lock.release()
        assert not rw.writer_lock.locked and rw.reader_lock.locked
        assert try_side(rw.reader_lock) is True
        assert try_side(rw.writer_lock) is False
        with pytest.raises(RuntimeError):
            await rw.writer_lock.acquire()  # now only a reader: no upgrade
        rw.reader_lock.release()
        assert not rw.reader_lock.locked
        assert try_side(rw.writer_lock) is True

    arun(main(), T)

    rw = aiosync.RWLock()
    with rw.writer_lock:
        with rw.reader_lock:
            assert rw.writer_lock.locked
        assert rw.writer_lock.locked
    assert not rw.writer_lock.locked and not rw.reader_lock.locked


def test_release_without_holding_raises(arun):
    rw = aiosync.RWLock()
    with pytest.raises(RuntimeError):
        rw.reader_lock.release()
    with pytest.raises(RuntimeError):
        rw.writer_lock.release()
    with rw.reader_lock:
        with pytest.raises(RuntimeError):
            rw.writer_lock.release()  # holds only the read lock
        assert rw.reader_lock.locked
    with pytest.raises(RuntimeError):
        rw.reader_lock.release()  # released once already

    async def main():
        with pytest.raises(RuntimeError):
            rw.reader_lock.release()
        with pytest.raises(RuntimeError):
            rw.writer_lock.release()
        await rw.reader_lock.acquire()
        rw.reader_lock.release()
        with pytest.raises(RuntimeError):
            rw.reader_lock.release()

    arun(main(), T)
    assert not rw.reader_lock.locked and not rw.writer_lock.locked


def test_release_by_another_owner_raises(arun):
    async def main():
        rw = aiosync.RWLock()
        await rw.writer_lock.acquire()

        async def other():
            rw.writer_lock.release()

        with pytest.raises(RuntimeError):
            await asyncio.create_task(other())
        assert rw.writer_lock.locked
        rw.writer_lock.release()
        assert not rw.writer_lock.locked

    arun(main(), T)

    rw = aiosync.RWLock()
    rw.reader_lock.acquire()
    with pytest.raises(RuntimeError):
        in_other_thread(rw.reader_lock.release)
    assert rw.reader_lock.locked
    rw.reader_lock.release()
    assert not rw.reader_lock.locked


def test_reentrant_read_while_a_writer_waits_does_not_deadlock(arun):
    async def main():
        rw = aiosync.RWLock()
        await rw.reader_lock.acquire()
        w = asyncio.create_task(rw.writer_lock.acquire())
        await settle()
        assert not w.done()
        # The same task reads again: its hold covers it, so it must not queue behind w.
        await acquire_within(rw.reader_lock)
        rw.reader_lock.release()
        await settle()
        assert not w.done()  # one read still held
        rw.reader_lock.release()
        await asyncio.wait_for(w, T)
        assert rw.writer_lock.locked

    arun(main(), T)


def test_blocking_acquire_on_own_loop_raises(arun):
    async def main():
        rw = aiosync.RWLock()
        await rw.reader_lock.acquire()

        async def other_task():
            # Blocks this very loop, so the holder can never release: must raise.
            return rw.writer_lock.acquire(timeout=0.2)

        with pytest.raises(RuntimeError):
            await asyncio.create_task(other_task())

    arun(main(), T)
