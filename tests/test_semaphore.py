"""aiosync.Semaphore and BoundedSemaphore: asyncio semantics, threading semantics, and
one limiter shared by threads and two event loops (after CPython's
test_asyncio/test_locks.py SemaphoreTests and lock_tests.py semaphore tests)."""

import asyncio
import threading

import aiosync
import pytest
from conftest import DEADLINE, join_all, run_in_loop_thread, run_in_thread, wait_until

BOTH = pytest.mark.parametrize("cls", [aiosync.Semaphore, aiosync.BoundedSemaphore])


# -- construction --------------------------------------------------------------------


@BOTH
def test_initial_value(cls):
    assert cls()._value == 1
    assert cls(5)._value == 5
    assert cls(value=2)._value == 2
    assert cls(0).locked()
    assert not cls(1).locked()


@BOTH
def test_negative_initial_value_raises(cls):
    with pytest.raises(ValueError):
        cls(-1)
    with pytest.raises(ValueError):
        cls(value=-10)


def test_bounded_is_a_semaphore():
    assert isinstance(aiosync.BoundedSemaphore(), aiosync.Semaphore)


def test_repr():
    sem = aiosync.Semaphore(2)
    at = f"{id(sem):#x}"
    assert repr(sem) == f"<<aiosync.Semaphore at {at}: value=2> object at {at} [unlocked, value:2]>"
    sem.acquire()
    assert repr(sem).endswith(": value=1> object at " + at + " [unlocked, value:1]>")
    sem.acquire()
    assert repr(sem).endswith(": value=0> object at " + at + " [locked]>")
    assert "value=3/3>" in repr(aiosync.BoundedSemaphore(3))


def test_semaphore_itself_is_not_awaitable(arun):
    async def main():
        sem = aiosync.Semaphore()
        with pytest.raises(TypeError):
            await sem
        assert not sem.locked()
        assert sem._value == 1

    arun(main())


# -- asyncio -------------------------------------------------------------------------


def test_async_acquire(arun):
    # CPython's test_acquire: waiters are served in FIFO order, before a later task.
    async def main():
        sem = aiosync.Semaphore(3)
        result = []
        assert await sem.acquire() is True
        assert await sem.acquire() is True
        assert not sem.locked()

        async def c(i):
            assert await sem.acquire() is True
            result.append(i)
            return True

        t1 = asyncio.create_task(c(1))
        t2 = asyncio.create_task(c(2))
        t3 = asyncio.create_task(c(3))
        await asyncio.sleep(0)
        assert result == [1]
        assert sem.locked()
        assert sem._value == 0

        t4 = asyncio.create_task(c(4))
        sem.release()
        sem.release()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert result == [1, 2, 3]  # the queued ones, not the newcomer t4
        assert sem.locked()
        assert sem._value == 0
        assert t1.done() and t2.done() and t3.done()
        assert not t4.done()

        sem.release()
        assert await asyncio.wait_for(asyncio.gather(t1, t2, t3, t4), DEADLINE) == [True] * 4
        assert result == [1, 2, 3, 4]

    arun(main())


def test_async_context_manager(arun):
    async def main():
        sem = aiosync.Semaphore(2)
        async with sem as v:
            assert v is None
            assert sem._value == 1
            async with sem:
                assert sem.locked()
        assert sem._value == 2

    arun(main())


def test_acquire_cancel(arun):
    # CPython's test_acquire_cancel: a cancelled acquire takes nothing.
    async def main():
        sem = aiosync.Semaphore()
        await sem.acquire()
        acquire = asyncio.create_task(sem.acquire())
        asyncio.get_running_loop().call_soon(acquire.cancel)
        with pytest.raises(asyncio.CancelledError):
            await acquire
        sem.release()
        assert sem._value == 1
        assert not sem.locked()

    arun(main())


def test_acquire_cancel_before_awoken(arun):
    # CPython's test_acquire_cancel_before_awoken.
    async def main():
        sem = aiosync.Semaphore(value=0)
        t1 = asyncio.create_task(sem.acquire())
        t2 = asyncio.create_task(sem.acquire())
        t3 = asyncio.create_task(sem.acquire())
        t4 = asyncio.create_task(sem.acquire())
        await asyncio.sleep(0)

        t1.cancel()
        t2.cancel()
        sem.release()

        await asyncio.wait_for(t3, DEADLINE)
        for _ in range(3):
            await asyncio.sleep(0)
        assert t3.result() is True
        assert not t4.done()
        assert sem._value == 0

        t4.cancel()
        await asyncio.gather(t1, t2, t4, return_exceptions=True)
        assert t1.cancelled() and t2.cancelled() and t4.cancelled()
        assert sem._value == 0  # t3 still holds the only permit

    arun(main())


def test_acquire_hang(arun):
    # CPython's test_acquire_hang.
    async def main():
        sem = aiosync.Semaphore(value=0)
        t1 = asyncio.create_task(sem.acquire())
        t2 = asyncio.create_task(sem.acquire())
        await asyncio.sleep(0)
        t1.cancel()
        sem.release()
        assert await asyncio.wait_for(t2, DEADLINE) is True
        assert sem.locked()

    arun(main())


def test_acquire_no_hang(arun):
    # CPython's test_acquire_no_hang.
    async def main():
        sem = aiosync.Semaphore(1)
        entered = []

        async def c1():
            async with sem:
                await asyncio.sleep(0)
            t2.cancel()

        async def c2():
            async with sem:
                entered.append(True)

        t1 = asyncio.create_task(c1())
        t2 = asyncio.create_task(c2())
        r1, r2 = await asyncio.gather(t1, t2, return_exceptions=True)
        assert r1 is None
        assert isinstance(r2, asyncio.CancelledError)
        assert entered == []
        assert await asyncio.wait_for(sem.acquire(), DEADLINE) is True

    arun(main())


def test_woken_then_cancelled_waiter_passes_its_permit_on(arun):
    async def main():
        sem = aiosync.Semaphore(0)
        t1 = asyncio.create_task(sem.acquire())
        t2 = asyncio.create_task(sem.acquire())
        await asyncio.sleep(0)
        sem.release()  # meant for t1...
        t1.cancel()  # ...which is cancelled before it runs
        with pytest.raises(asyncio.CancelledError):
            await t1
        assert await asyncio.wait_for(t2, DEADLINE) is True
        assert sem._value == 0
        sem.release()
        assert sem._value == 1

    arun(main())


def test_wait_for_timeout_then_usable(arun):
    async def main():
        sem = aiosync.Semaphore(0)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(sem.acquire(), 0.01)
        sem.release()
        assert sem._value == 1
        assert await asyncio.wait_for(sem.acquire(), DEADLINE) is True
        assert sem._value == 0

    arun(main())


def test_release_no_waiters(arun):
    async def main():
        sem = aiosync.Semaphore()
        await sem.acquire()
        assert sem.locked()
        sem.release()
        assert not sem.locked()

    arun(main())


def test_acquire_fifo_order(arun):
    # CPython's test_acquire_fifo_order.
    async def main():
        sem = aiosync.Semaphore(1)
        result = []

        async def coro(tag):
            await sem.acquire()
            result.append(f"{tag}_1")
            await asyncio.sleep(0)
            sem.release()
            await sem.acquire()
            result.append(f"{tag}_2")
            await asyncio.sleep(0)
            sem.release()

        await asyncio.wait_for(asyncio.gather(coro("c1"), coro("c2"), coro("c3")), DEADLINE)
        assert result == ["c1_1", "c2_1", "c3_1", "c1_2", "c2_2", "c3_2"]

    arun(main())


def test_acquire_fifo_order_2(arun):
    # CPython's test_acquire_fifo_order_2.
    async def main():
        sem = aiosync.Semaphore(1)
        result = []

        async def c1():
            await sem.acquire()
            result.append(1)

        async def c2():
            await sem.acquire()
            result.append(2)
            sem.release()
            await sem.acquire()
            result.append(4)

        async def c3():
            await sem.acquire()
            result.append(3)

        tasks = [asyncio.create_task(c()) for c in (c1, c2, c3)]
        await asyncio.sleep(0)
        sem.release()
        sem.release()
        await asyncio.wait_for(asyncio.gather(*tasks), DEADLINE)
        assert result == [1, 2, 3, 4]

    arun(main())


def test_acquire_fifo_order_3(arun):
    # CPython's test_acquire_fifo_order_3: a cancelled waiter loses its place.
    async def main():
        sem = aiosync.Semaphore(0)
        result = []

        async def c(i):
            await sem.acquire()
            result.append(i)

        tasks = [asyncio.create_task(c(i)) for i in (1, 2, 3)]
        await asyncio.sleep(0)
        tasks[0].cancel()
        await asyncio.sleep(0)
        sem.release()
        sem.release()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), DEADLINE)
        assert result == [2, 3]
        assert sem._value == 0

    arun(main())


def test_acquire_fifo_order_4(arun):
    # CPython's test_acquire_fifo_order_4: the order holds when a task releases several
    # permits to the queue and then queues itself.
    async def main():
        sem = aiosync.Semaphore(0)
        result = []
        t4 = None

        async def c1():
            await sem.acquire()
            nonlocal t4
            t4 = asyncio.create_task(c4())
            result.append(1)

        async def c2():
            sem.release()
            sem.release()
            sem.release()
            await sem.acquire()
            result.append(2)

        async def c3():
            await sem.acquire()
            result.append(3)

        async def c4():
            result.append(4)

        tasks = [asyncio.create_task(c()) for c in (c1, c2, c3)]
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        await asyncio.wait_for(asyncio.gather(*tasks), DEADLINE)
        await asyncio.wait_for(t4, DEADLINE)
        assert result == [1, 2, 3, 4]
        assert sem._value == 0

    arun(main())


def test_release_n_wakes_n_waiters(arun):
    async def main():
        sem = aiosync.Semaphore(0)
        tasks = [asyncio.create_task(sem.acquire()) for _ in range(5)]
        await asyncio.sleep(0)
        sem.release(3)
        for _ in range(4):
            await asyncio.sleep(0)
        assert [t.done() for t in tasks] == [True, True, True, False, False]
        sem.release(2)
        assert await asyncio.wait_for(asyncio.gather(*tasks), DEADLINE) == [True] * 5
        assert sem._value == 0

    arun(main())


def test_locked(arun):
    async def main():
        sem = aiosync.Semaphore(2)
        assert not sem.locked()
        await sem.acquire()
        assert not sem.locked()
        await sem.acquire()
        assert sem.locked()
        sem.release()
        assert not sem.locked()
        sem.release(2)
        assert not sem.locked()
        assert sem._value == 3  # an unbounded semaphore may grow

    arun(main())


def test_locked_while_permit_is_owed_to_a_waiter(arun):
    async def main():
        sem = aiosync.Semaphore(0)
        waiter = asyncio.create_task(sem.acquire())
        await asyncio.sleep(0)
        sem.release()  # goes to `waiter`, which has not run yet
        newcomer = asyncio.create_task(sem.acquire())
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        try:
            assert waiter.done()  # FIFO: the newcomer had to wait...
            assert not newcomer.done()
        finally:
            newcomer.cancel()
        # ...so right after the release, locked() should have said so.
        sem2 = aiosync.Semaphore(0)
        waiter2 = asyncio.create_task(sem2.acquire())
        await asyncio.sleep(0)
        sem2.release()
        locked = sem2.locked()
        await waiter2
        assert locked

    arun(main())


# -- BoundedSemaphore ----------------------------------------------------------------


def test_bounded_release_not_acquired():
    sem = aiosync.BoundedSemaphore()
    with pytest.raises(ValueError):
        sem.release()
    assert sem._value == 1


def test_bounded_over_release_is_refused_whole():
    sem = aiosync.BoundedSemaphore(3)
    sem.acquire()
    sem.acquire()
    with pytest.raises(ValueError):
        sem.release(3)
    assert sem._value == 1  # nothing was released
    sem.release(2)
    assert sem._value == 3
    with pytest.raises(ValueError):
        sem.release()
    assert sem._value == 3


def test_bounded_over_release_in_async_with(arun):
    async def main():
        sem = aiosync.BoundedSemaphore(1)
        with pytest.raises(ValueError):
            async with sem:
                sem.release()  # the exit's release is one too many
        assert sem._value == 1

    arun(main())


def test_release_n_must_be_positive():
    sem = aiosync.Semaphore(0)
    with pytest.raises(ValueError):
        sem.release(0)
    with pytest.raises(ValueError):
        sem.release(-1)
    assert sem._value == 0


# -- threading -----------------------------------------------------------------------


@BOTH
def test_threading_acquire_arguments(cls):
    sem = cls(2)
    assert sem.acquire() is True
    assert sem.acquire(True) is True
    assert sem.acquire(False) is False
    assert sem.acquire(blocking=False) is False
    assert sem.acquire(timeout=0) is False
    assert sem.acquire(timeout=0.01) is False
    assert sem.acquire(True, 0.01) is False
    with pytest.raises(ValueError):
        sem.acquire(blocking=False, timeout=1)
    assert sem.acquire(timeout=-5) is False  # threading.Semaphore: does not wait
    with pytest.raises(ValueError):
        sem.acquire(False, -1)  # any timeout with blocking=False, as threading's
    sem.release()
    assert sem.acquire(True, 0) is True
    sem.release()
    sem.release()
    assert sem._value == 2


@BOTH
def test_threading_with(cls):
    sem = cls(2)
    with sem as v:
        assert v is True
        assert sem._value == 1
        with sem:
            assert sem.locked()
    assert sem._value == 2
    with pytest.raises(ZeroDivisionError):
        with sem:
            raise ZeroDivisionError
    assert sem._value == 2


def test_threading_acquire_contended():
    sem = aiosync.Semaphore(0)
    started = threading.Barrier(2)

    def f():
        started.wait(DEADLINE)
        return sem.acquire(timeout=DEADLINE)

    t = run_in_thread(f)
    started.wait(DEADLINE)
    sem.release()
    join_all([t])
    assert t.result is True
    assert sem._value == 0


def test_threading_timeout_while_others_wait():
    sem = aiosync.Semaphore(0)
    t = run_in_thread(sem.acquire, True, DEADLINE)
    assert sem.acquire(timeout=0.01) is False
    sem.release()
    join_all([t])
    assert t.result is True
    assert sem._value == 0


def test_threading_multirelease():
    sem = aiosync.Semaphore(0)
    got = []
    lock = threading.Lock()

    def f(i):
        assert sem.acquire(timeout=DEADLINE)
        with lock:
            got.append(i)

    threads = [run_in_thread(f, i) for i in range(5)]
    sem.release(3)
    wait_until(lambda: len(got) == 3)
    assert sem._value == 0
    sem.release(2)
    join_all(threads)
    assert sorted(got) == list(range(5))
    assert sem._value == 0


def test_threading_bounded_over_release_from_other_thread():
    sem = aiosync.BoundedSemaphore(2)
    sem.acquire()
    t = run_in_thread(sem.release)  # any thread may release
    join_all([t])
    assert sem._value == 2
    t = run_in_thread(sem.release)
    t.join(DEADLINE)
    assert len(t.errors) == 1 and isinstance(t.errors[0], ValueError)


def test_blocking_acquire_in_loop_thread_released_by_other_thread(arun):
    async def main():
        sem = aiosync.Semaphore(1)
        await sem.acquire()  # a task of this loop takes the only permit
        # Another thread gives one back (the delay only orders it after the acquire
        # below starts; the expected outcome is the same either way).
        releaser = threading.Timer(0.05, sem.release)
        releaser.start()
        try:
            assert sem.acquire(timeout=DEADLINE) is True
        finally:
            releaser.join(DEADLINE)

    arun(main())


# -- mixed: threads and two loops ----------------------------------------------------


@BOTH
def test_limiter_shared_by_threads_and_loops_never_exceeds_its_value(cls):
    limit = 3
    sem = cls(limit)
    guard = threading.Lock()
    state = {"inside": 0, "max": 0, "entries": 0}
    n_threads, n_loops, tasks_per_loop, rounds = 4, 2, 3, 1000

    def enter():
        with guard:
            state["inside"] += 1
            state["entries"] += 1
            state["max"] = max(state["max"], state["inside"])

    def leave():
        with guard:
            state["inside"] -= 1

    def thread_worker(i):
        for _ in range(rounds):
            if i % 2:
                with sem:
                    enter()
                    leave()
            else:
                assert sem.acquire(timeout=DEADLINE)
                enter()
                leave()
                sem.release()

    async def loop_worker():
        async def task(i):
            for _ in range(rounds):
                if i % 2:
                    async with sem:
                        enter()
                        await asyncio.sleep(0)
                        leave()
                else:
                    assert await sem.acquire()
                    enter()
                    await asyncio.sleep(0)
                    leave()
                    sem.release()

        await asyncio.gather(*(task(i) for i in range(tasks_per_loop)))

    threads = [run_in_thread(thread_worker, i) for i in range(n_threads)]
    threads += [run_in_loop_thread(loop_worker) for _ in range(n_loops)]
    join_all(threads)
    assert state["entries"] == (n_threads + n_loops * tasks_per_loop) * rounds
    assert state["inside"] == 0
    assert 1 <= state["max"] <= limit
    assert sem._value == limit


def test_release_from_thread_wakes_tasks_in_two_loops(loop_threads):
    sem = aiosync.Semaphore(0)
    loops = loop_threads(2)
    queued = threading.Barrier(len(loops) + 1)

    async def acquire_in_loop():
        tasks = [asyncio.create_task(sem.acquire()) for _ in range(2)]
        await asyncio.sleep(0)
        assert not any(t.done() for t in tasks)
        await asyncio.get_running_loop().run_in_executor(None, queued.wait, DEADLINE)
        return await asyncio.wait_for(asyncio.gather(*tasks), DEADLINE)

    futs = [asyncio.run_coroutine_threadsafe(acquire_in_loop(), lp) for lp in loops]
    queued.wait(DEADLINE)
    t = run_in_thread(sem.acquire, True, DEADLINE)
    join_all([run_in_thread(sem.release, 5)])
    join_all([t])
    assert t.result is True
    assert [f.result(DEADLINE) for f in futs] == [[True, True]] * 2
    assert sem._value == 0
