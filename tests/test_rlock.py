"""aiosync.RLock: reentrant per thread (threading calls) and per task (asyncio calls),
release by a non-owner is an error, and one RLock shared by threads and event loops
(after CPython's lock_tests.py RLockTests)."""

import asyncio
import threading

import aiosync
import pytest
from conftest import DEADLINE, join_all, run_in_loop_thread, run_in_thread

# -- threading -----------------------------------------------------------------------


def test_repr():
    lock = aiosync.RLock()
    at = f"{id(lock):#x}"
    assert repr(lock) == f"<unlocked aiosync.RLock object count=0 at {at}>"
    with lock, lock:
        assert repr(lock) == f"<locked aiosync.RLock object count=2 at {at}>"


def test_threading_reacquire():
    lock = aiosync.RLock()
    assert lock.acquire() is True
    assert lock.acquire() is True
    assert lock.acquire(blocking=False) is True
    assert lock.acquire(timeout=0.01) is True
    for _ in range(3):
        lock.release()
        assert lock.locked()
    lock.release()
    assert not lock.locked()
    with pytest.raises(RuntimeError):
        lock.release()


def test_threading_release_unacquired():
    lock = aiosync.RLock()
    with pytest.raises(RuntimeError):
        lock.release()
    lock.acquire()
    lock.acquire()
    lock.release()
    lock.acquire()
    lock.release()
    lock.release()
    with pytest.raises(RuntimeError):
        lock.release()
    assert not lock.locked()


def test_threading_bad_arguments():
    lock = aiosync.RLock()
    with pytest.raises(ValueError):
        lock.acquire(blocking=False, timeout=1)
    with pytest.raises(ValueError):
        lock.acquire(timeout=-5)
    assert not lock.locked()


def test_threading_release_by_other_thread_raises():
    lock = aiosync.RLock()
    lock.acquire()
    t = run_in_thread(lock.release)
    t.join(DEADLINE)
    assert len(t.errors) == 1 and isinstance(t.errors[0], RuntimeError)
    assert lock.locked()
    lock.release()
    assert not lock.locked()


def test_threading_other_thread_is_excluded():
    lock = aiosync.RLock()
    lock.acquire()
    lock.acquire()

    def try_it():
        return lock.acquire(False), lock.acquire(timeout=0.01), lock._is_owned()

    t = run_in_thread(try_it)
    join_all([t])
    assert t.result == (False, False, False)
    lock.release()
    t = run_in_thread(try_it)
    join_all([t])
    assert t.result == (False, False, False)  # still held: one level is left
    lock.release()

    def take_and_give():
        assert lock.acquire(timeout=DEADLINE)
        owned = lock._is_owned()
        lock.release()
        return owned

    t = run_in_thread(take_and_give)
    join_all([t])
    assert t.result is True
    assert not lock.locked()


def test_threading_waiter_gets_it_after_last_level():
    lock = aiosync.RLock()
    lock.acquire()
    lock.acquire()
    got = threading.Event()

    def waiter():
        with lock:
            got.set()

    t = run_in_thread(waiter)
    lock.release()
    assert not got.wait(0.01)  # one level still held
    lock.release()
    assert got.wait(DEADLINE)
    join_all([t])
    assert not lock.locked()


def test_threading_is_owned():
    lock = aiosync.RLock()
    assert not lock._is_owned()
    lock.acquire()
    assert lock._is_owned()
    lock.acquire()
    assert lock._is_owned()
    t = run_in_thread(lock._is_owned)
    join_all([t])
    assert t.result is False
    lock.release()
    assert lock._is_owned()
    lock.release()
    assert not lock._is_owned()


def test_threading_with():
    lock = aiosync.RLock()
    with lock as entered:
        assert entered is True
        with lock:
            assert lock.locked()
        assert lock.locked()
    assert not lock.locked()
    with pytest.raises(ZeroDivisionError):
        with lock:
            with lock:
                raise ZeroDivisionError
    assert not lock.locked()


def test_threading_counter_exact():
    lock = aiosync.RLock()
    state = {"n": 0}
    rounds = 2000

    def worker():
        for _ in range(rounds):
            with lock:
                with lock:
                    v = state["n"]
                state["n"] = v + 1

    join_all([run_in_thread(worker) for _ in range(4)])
    assert state["n"] == 4 * rounds
    assert not lock.locked()


# -- asyncio -------------------------------------------------------------------------


def test_async_reentrant_per_task(arun):
    async def main():
        lock = aiosync.RLock()
        assert await lock.acquire() is True
        assert await lock.acquire() is True
        async with lock:
            async with lock:
                assert lock.locked()
                assert lock._is_owned()
        lock.release()
        assert lock.locked()
        lock.release()
        assert not lock.locked()
        with pytest.raises(RuntimeError):
            lock.release()

    arun(main())


def test_two_tasks_in_one_loop_exclude_each_other(arun):
    # Unlike threading.RLock, the owner is the task, not the (shared) thread.
    async def main():
        lock = aiosync.RLock()
        await lock.acquire()
        await lock.acquire()

        async def acquire():  # in its own task (the owner is the task that calls acquire)
            return await lock.acquire()

        other = asyncio.create_task(acquire())
        for _ in range(3):
            await asyncio.sleep(0)
        assert not other.done()
        lock.release()
        for _ in range(3):
            await asyncio.sleep(0)
        assert not other.done()  # one level is left
        lock.release()
        assert await asyncio.wait_for(other, DEADLINE) is True
        assert lock.locked()
        assert not lock._is_owned()  # the other task owns it, not this one
        with pytest.raises(RuntimeError):
            lock.release()

    arun(main())


def test_release_by_other_task_raises(arun):
    async def main():
        lock = aiosync.RLock()
        await lock.acquire()

        async def other():
            with pytest.raises(RuntimeError):
                lock.release()
            assert not lock._is_owned()

        await asyncio.create_task(other())
        assert lock.locked()
        assert lock._is_owned()
        lock.release()
        assert not lock.locked()

    arun(main())


def test_release_by_other_thread_raises(loop_threads):
    lock = aiosync.RLock()
    (loop,) = loop_threads(1)
    held = threading.Event()
    done = threading.Event()

    async def hold():
        await lock.acquire()
        held.set()
        await loop.run_in_executor(None, done.wait, DEADLINE)
        lock.release()
        return lock.locked()

    fut = asyncio.run_coroutine_threadsafe(hold(), loop)
    assert held.wait(DEADLINE)
    with pytest.raises(RuntimeError):
        lock.release()
    assert lock.locked()
    assert lock.acquire(timeout=0.01) is False
    done.set()
    assert fut.result(DEADLINE) is False


def test_task_cannot_release_a_thread_held_lock(loop_threads):
    lock = aiosync.RLock()
    (loop,) = loop_threads(1)
    lock.acquire()

    async def other():
        try:
            lock.release()
        except RuntimeError:
            return "RuntimeError"
        return "released"

    assert asyncio.run_coroutine_threadsafe(other(), loop).result(DEADLINE) == "RuntimeError"
    assert lock.locked()
    lock.release()
    assert not lock.locked()


def test_tasks_counter_exact(arun):
    async def main():
        lock = aiosync.RLock()
        state = {"n": 0}

        async def worker():
            for _ in range(50):
                async with lock:
                    async with lock:
                        v = state["n"]
                        await asyncio.sleep(0)
                    state["n"] = v + 1

        await asyncio.gather(*(worker() for _ in range(10)))
        assert state["n"] == 500
        assert not lock.locked()

    arun(main())


def test_async_fifo(arun):
    async def main():
        lock = aiosync.RLock()
        order = []

        async def worker(i):
            async with lock:
                async with lock:
                    order.append(i)
                    await asyncio.sleep(0)

        await asyncio.gather(*(worker(i) for i in range(20)))
        assert order == list(range(20))

    arun(main())


def test_cancelled_waiter_passes_on(arun):
    async def main():
        lock = aiosync.RLock()

        async def acquire(lk):
            assert await lk.acquire() is True
            return lk._is_owned()

        await lock.acquire()
        a = asyncio.create_task(acquire(lock))
        b = asyncio.create_task(acquire(lock))
        await asyncio.sleep(0)
        a.cancel()
        lock.release()
        assert await asyncio.wait_for(b, DEADLINE) is True
        with pytest.raises(asyncio.CancelledError):
            await a
        assert not lock._is_owned()  # b's task owns it

        lock2 = aiosync.RLock()
        await lock2.acquire()
        d = asyncio.create_task(acquire(lock2))
        await asyncio.sleep(0)
        lock2.release()  # d is woken...
        d.cancel()  # ...and cancelled before it runs: the lock is passed on (free)
        with pytest.raises(asyncio.CancelledError):
            await d
        assert not lock2.locked()
        assert await lock2.acquire() is True
        lock2.release()

    arun(main())


def test_owner_is_the_task_that_calls_acquire(arun):
    # asyncio.wait_for (3.11) and gather run the awaitable in a task of their own: the
    # lock still belongs to the task that called acquire(), which may release it.
    async def main():
        lock = aiosync.RLock()
        assert await asyncio.wait_for(lock.acquire(), DEADLINE) is True
        assert lock._is_owned()
        assert await asyncio.gather(lock.acquire()) == [True]  # reentrant
        lock.release()
        lock.release()
        assert not lock.locked()

    arun(main())


def test_wait_for_timeout_then_usable(arun):
    async def main():
        lock = aiosync.RLock()
        await lock.acquire()

        async def other():
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(lock.acquire(), 0.01)
            assert not lock._is_owned()

        await asyncio.create_task(other())
        lock.release()
        assert not lock.locked()

        async def again():
            async with lock:
                return lock._is_owned()

        assert await asyncio.create_task(again()) is True

    arun(main())


def test_async_with_no_task_raises():
    lock = aiosync.RLock()
    loop = asyncio.new_event_loop()
    try:
        # A running loop but no current task (a plain callback): no owner to record.
        result = []

        def cb():
            try:
                lock.acquire()
            except RuntimeError as e:
                result.append(e)
            loop.stop()

        loop.call_soon(cb)
        loop.run_forever()
        assert len(result) == 1
        assert not lock.locked()
    finally:
        loop.close()


def test_blocking_acquire_on_own_loop_raises():
    lock = aiosync.RLock()
    outcome = []

    async def main():
        await lock.acquire()
        try:
            with lock:
                outcome.append("entered")
        except RuntimeError:
            outcome.append("RuntimeError")

    t = run_in_thread(asyncio.run, main())
    t.join(1.0)
    hung = t.is_alive()  # a hung thread stays parked (daemon) and is abandoned
    assert not hung, "blocking acquire on the owning loop's thread hung"
    assert outcome == ["RuntimeError"]


# -- mixed: threads and loops --------------------------------------------------------


def test_threads_and_loops_counter_exact():
    lock = aiosync.RLock()
    state = {"n": 0}
    rounds = 300

    async def loop_worker():
        async def task():
            for _ in range(rounds):
                async with lock:
                    await lock.acquire()  # reentrant for this task
                    v = state["n"]
                    await asyncio.sleep(0)
                    state["n"] = v + 1
                    lock.release()

        await asyncio.gather(*(task() for _ in range(3)))

    def thread_worker():
        for _ in range(rounds):
            with lock:
                assert lock.acquire(timeout=DEADLINE)
                v = state["n"]
                state["n"] = v + 1
                lock.release()

    threads = [run_in_thread(thread_worker) for _ in range(3)]
    threads += [run_in_loop_thread(loop_worker) for _ in range(2)]
    join_all(threads)
    assert state["n"] == (3 + 2 * 3) * rounds
    assert not lock.locked()


def test_thread_waits_for_task_in_other_loop(loop_threads):
    lock = aiosync.RLock()
    (loop,) = loop_threads(1)
    held = threading.Event()
    go = threading.Event()

    async def hold():
        async with lock:
            async with lock:
                held.set()
                await loop.run_in_executor(None, go.wait, DEADLINE)

    fut = asyncio.run_coroutine_threadsafe(hold(), loop)
    assert held.wait(DEADLINE)
    assert lock.acquire(blocking=False) is False
    go.set()
    assert lock.acquire(timeout=DEADLINE) is True  # once the task left both levels
    fut.result(DEADLINE)
    assert lock._is_owned()
    lock.release()
    assert not lock.locked()
