"""Condition, threading spelling, and one Condition shared by threads and loops."""

import asyncio
import threading

import aiosync
import pytest
from _condition_helpers import n_waiters
from conftest import DEADLINE, join_all, run_in_loop_thread, run_in_thread, wait_until

# -- threading -----------------------------------------------------------------------


def test_threading_wait_timeout():
    cond = aiosync.Condition()
    with cond:
        assert cond.wait(0) is False
        assert cond.wait(0.01) is False
        assert cond.locked()  # the lock is held again after the timed-out wait
    assert not cond.locked()
    assert n_waiters(cond) == 0


def test_threading_unacquired():
    cond = aiosync.Condition()
    with pytest.raises(RuntimeError):
        cond.wait(0.01)
    with pytest.raises(RuntimeError):
        cond.wait()
    with pytest.raises(RuntimeError):
        cond.notify()
    with pytest.raises(RuntimeError):
        cond.notify_all()


def test_threading_acquire_release():
    cond = aiosync.Condition(aiosync.Lock())
    assert cond.acquire() is True
    assert cond.acquire(False) is False
    assert cond.acquire(timeout=0.01) is False
    cond.release()
    assert cond.acquire(blocking=False) is True
    cond.release()
    # Its own lock is an RLock to threads, as threading.Condition()'s.
    cond = aiosync.Condition()
    assert cond.acquire() is True
    assert cond.acquire(False) is True
    cond.release()
    cond.release()
    with pytest.raises(RuntimeError):
        cond.release()


def test_threading_notify_wakes_one_thread_in_fifo_order():
    cond = aiosync.Condition()
    n = 5
    order = []

    def waiter(i):
        with cond:
            ok = cond.wait(DEADLINE)
            order.append(i)
            return ok

    threads = []
    for i in range(n):
        threads.append(run_in_thread(waiter, i))
        wait_until(lambda i=i: n_waiters(cond) == i + 1)  # queue them in a known order

    for k in range(1, n + 1):
        with cond:
            cond.notify()
        wait_until(lambda k=k: len(order) == k)
        assert n_waiters(cond) == n - k
    join_all(threads)
    assert order == list(range(n))
    assert [t.result for t in threads] == [True] * n


def test_threading_notify_n_and_notify_all():
    cond = aiosync.Condition()
    woken = []

    def waiter(i):
        with cond:
            assert cond.wait(DEADLINE) is True
            woken.append(i)

    threads = [run_in_thread(waiter, i) for i in range(6)]
    wait_until(lambda: n_waiters(cond) == 6)
    with cond:
        cond.notify(2)
    wait_until(lambda: len(woken) == 2)
    assert n_waiters(cond) == 4
    with cond:
        cond.notifyAll()  # threading's old spelling
    join_all(threads)
    assert sorted(woken) == list(range(6))
    assert n_waiters(cond) == 0


def test_threading_wait_for():
    cond = aiosync.Condition()
    state = 0

    def waiter():
        with cond:
            result = cond.wait_for(lambda: state == 4 and "done", DEADLINE)
            assert cond.locked()
            return result, state

    t = run_in_thread(waiter)
    for _ in range(4):
        wait_until(lambda: n_waiters(cond) == 1)
        with cond:
            state += 1
            cond.notify()
    join_all([t])
    assert t.result == ("done", 4)


def test_threading_wait_for_timeout():
    cond = aiosync.Condition()
    with cond:
        assert cond.wait_for(lambda: 0, 0.01) == 0
        assert cond.wait_for(lambda: [], timeout=0) == []
        assert cond.locked()
    # Notified repeatedly with the predicate false: still gives up at the deadline.
    stop = threading.Event()

    def notifier():
        while not stop.is_set():
            with cond:
                cond.notify_all()
            stop.wait(0.001)

    t = run_in_thread(notifier)
    try:
        with cond:
            assert cond.wait_for(lambda: False, 0.05) is False
    finally:
        stop.set()
        join_all([t])


def test_threading_wait_negative_timeout_returns_false():
    cond = aiosync.Condition()

    def waiter():
        with cond:
            return cond.wait(-1)

    t = run_in_thread(waiter)
    t.join(0.5)
    hung = t.is_alive()
    with cond:
        cond.notify_all()  # releases the thread if it hung
    join_all([t])
    assert not hung, "Condition.wait(-1) did not return"
    assert t.result is False


def test_threading_rlock_condition_releases_and_restores_all_levels():
    rlock = aiosync.RLock()
    cond = aiosync.Condition(rlock)
    seen = {}

    def waiter():
        cond.acquire()
        cond.acquire()
        with cond:  # three levels
            ok = cond.wait(DEADLINE)
            seen["after_wait_locked"] = rlock.locked()
        cond.release()
        cond.release()
        seen["fully_released"] = not rlock.locked()
        try:
            cond.release()
        except RuntimeError:
            seen["extra_release"] = "RuntimeError"
        return ok

    t = run_in_thread(waiter)
    wait_until(lambda: n_waiters(cond) == 1)
    # Every level is released by the wait, or this would time out (the waiter holds the
    # lock until notified).
    assert cond.acquire(timeout=DEADLINE) is True
    assert rlock._is_owned()
    cond.notify()
    cond.release()
    join_all([t])
    assert t.result is True
    assert seen == {
        "after_wait_locked": True,
        "fully_released": True,
        "extra_release": "RuntimeError",
    }


def test_threading_rlock_condition_timeout_restores_levels():
    cond = aiosync.Condition(aiosync.RLock())
    with cond, cond:
        assert cond.wait(0.01) is False
        # Both levels are back: an other thread cannot take it.
        t = run_in_thread(lambda: cond.acquire(blocking=False))
        join_all([t])
        assert t.result is False
        cond.notify()
    assert not cond.locked()


# -- mixed: threads and several loops ------------------------------------------------


def test_producer_thread_consumer_tasks_in_two_loops():
    cond = aiosync.Condition()
    n_items = 400
    items = []
    done = False
    consumed = {0: [], 1: []}

    async def consumers(loop_no):
        async def consumer():
            got = []
            while True:
                async with cond:
                    await cond.wait_for(lambda: items or done)
                    if not items:
                        return got
                    got.append(items.pop(0))

        results = await asyncio.gather(*(consumer() for _ in range(3)))
        for r in results:
            consumed[loop_no].extend(r)

    def producer():
        nonlocal done
        for i in range(n_items):
            with cond:
                items.append(i)
                cond.notify()
        with cond:
            done = True
            cond.notify_all()

    loops = [run_in_loop_thread(lambda i=i: consumers(i)) for i in range(2)]
    prod = run_in_thread(producer)
    join_all([prod, *loops])
    everything = consumed[0] + consumed[1]
    assert len(everything) == n_items
    assert sorted(everything) == list(range(n_items))
    assert items == []
    assert n_waiters(cond) == 0


def test_notify_all_from_loop_wakes_threads_and_other_loop(loop_threads):
    cond = aiosync.Condition()
    loops = loop_threads(2)
    go = False

    def thread_waiter():
        with cond:
            return cond.wait_for(lambda: go, DEADLINE)

    async def task_waiter():
        async with cond:
            return await cond.wait_for(lambda: go)

    async def notify_all():
        nonlocal go
        async with cond:
            go = "go"
            cond.notify_all()

    threads = [run_in_thread(thread_waiter) for _ in range(3)]
    waiting = [asyncio.run_coroutine_threadsafe(task_waiter(), loops[0]) for _ in range(3)]
    wait_until(lambda: n_waiters(cond) == 6)
    asyncio.run_coroutine_threadsafe(notify_all(), loops[1]).result(DEADLINE)
    join_all(threads)
    assert [t.result for t in threads] == ["go"] * 3
    assert [f.result(DEADLINE) for f in waiting] == ["go"] * 3
    assert not cond.locked()
