"""RWLock: aiorwlock's surface (reader_lock / writer_lock, reader / writer, acquire,
release, locked, `async with`) plus the threading spelling (`with`, acquire(blocking,
timeout)) on the same object, from threads and several event loops at once."""

import asyncio
import threading
import time

import aiosync
import pytest
from conftest import join_all, run_in_loop_thread, run_in_thread, wait_until

T = 5.0  # deadline for a single wait inside a test


async def settle(rounds: int = 5) -> None:
    """Lets every ready task of this loop run a few steps (deterministic: one loop)."""
    for _ in range(rounds):
        await asyncio.sleep(0)


async def acquire_within(side, timeout: float = T) -> bool:
    """`await side.acquire()` with a deadline, in the calling task (which then owns the
    lock). Not `asyncio.wait_for`: before Python 3.12 it runs the acquire in a task of
    its own, and ownership is per task."""
    async with asyncio.timeout(timeout):
        return await side.acquire()


def in_other_thread(fn, *args):
    """Runs `fn(*args)` on a fresh thread (another owner) and returns its result."""
    t = run_in_thread(fn, *args)
    join_all([t], T)
    return t.result


def try_side(side) -> bool:
    """Non-blocking acquire from another thread, released at once if it succeeded."""

    def attempt():
        if side.acquire(blocking=False):
            side.release()
            return True
        return False

    return in_other_thread(attempt)


def wait_for_writer_queued(rw) -> None:
    """Returns once a writer waits: only a waiting writer makes a free-for-readers lock
    refuse a new reader (the lock must be read-held, by someone, when this is called)."""
    wait_until(lambda: not try_side(rw.reader_lock), timeout=T)


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
