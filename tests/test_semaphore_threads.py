"""Semaphores: BoundedSemaphore over-release, threading, threads and loops together."""

import asyncio
import threading

import aiosync
import pytest
from _semaphore_helpers import BOTH
from conftest import DEADLINE, join_all, run_in_loop_thread, run_in_thread, wait_until

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
