"""aiosync.Condition: asyncio semantics, threading semantics (plain and RLock-based), and
one Condition shared by a producer thread and consumer tasks in two loops (after
CPython's test_asyncio/test_locks.py ConditionTests and lock_tests.py ConditionTests)."""

import asyncio
import re
import threading

import aiosync
import pytest
from conftest import DEADLINE, join_all, run_in_loop_thread, run_in_thread, wait_until


def n_waiters(cond) -> int:
    """The waiter count the repr shows (asyncio's `, waiters:N`, absent when none)."""
    m = re.search(r"\[(?:un)?locked(?:, waiters:(\d+))?\]>$", repr(cond))
    assert m, repr(cond)
    return int(m.group(1) or 0)


# -- asyncio -------------------------------------------------------------------------


def test_async_wait(arun):
    # CPython's test_wait, step by step.
    async def main():
        cond = aiosync.Condition()
        result = []

        async def c(i):
            await cond.acquire()
            if await cond.wait():
                result.append(i)
            return True

        t1 = asyncio.create_task(c(1))
        t2 = asyncio.create_task(c(2))
        t3 = asyncio.create_task(c(3))

        await asyncio.sleep(0)
        assert result == []
        assert not cond.locked()
        assert n_waiters(cond) == 3

        assert await cond.acquire() is True
        cond.notify()
        await asyncio.sleep(0)
        assert result == []  # notified, but the lock is still ours
        assert cond.locked()

        cond.release()
        await asyncio.sleep(0)
        assert result == [1]
        assert cond.locked()

        cond.notify(2)
        await asyncio.sleep(0)
        assert result == [1]
        assert cond.locked()

        cond.release()
        await asyncio.sleep(0)
        assert result == [1, 2]
        assert cond.locked()

        cond.release()
        await asyncio.sleep(0)
        assert result == [1, 2, 3]
        assert cond.locked()

        for t in (t1, t2, t3):
            assert t.done()
            assert t.result() is True
        cond.release()
        assert n_waiters(cond) == 0

    arun(main())


def test_wait_unacquired(arun):
    async def main():
        cond = aiosync.Condition()
        with pytest.raises(RuntimeError):
            await cond.wait()
        assert n_waiters(cond) == 0

    arun(main())


def test_notify_unacquired():
    cond = aiosync.Condition()
    with pytest.raises(RuntimeError):
        cond.notify()
    with pytest.raises(RuntimeError):
        cond.notify_all()
    with pytest.raises(RuntimeError):
        cond.notify(3)


def test_notify_unacquired_in_loop(arun):
    async def main():
        cond = aiosync.Condition()
        with pytest.raises(RuntimeError):
            cond.notify()
        with pytest.raises(RuntimeError):
            cond.notify_all()

    arun(main())


def test_wait_for(arun):
    # CPython's test_wait_for: a notify with the predicate false leaves the waiter waiting.
    async def main():
        cond = aiosync.Condition()
        presult = False
        calls = 0

        def predicate():
            nonlocal calls
            calls += 1
            return presult

        result = []

        async def c1():
            await cond.acquire()
            value = await cond.wait_for(predicate)
            result.append(value)
            cond.release()
            return True

        t = asyncio.create_task(c1())
        await asyncio.sleep(0)
        assert result == []
        assert calls == 1

        await cond.acquire()
        cond.notify()
        cond.release()
        for _ in range(3):
            await asyncio.sleep(0)
        assert result == []
        assert calls == 2
        assert not t.done()

        presult = ["truthy", "value"]
        await cond.acquire()
        cond.notify()
        cond.release()
        assert await asyncio.wait_for(t, DEADLINE) is True
        assert result == [["truthy", "value"]]  # wait_for gives the predicate's value
        assert not cond.locked()

    arun(main())


def test_wait_for_unacquired(arun):
    async def main():
        cond = aiosync.Condition()
        # A predicate already true needs no lock.
        assert await cond.wait_for(lambda: [1, 2, 3]) == [1, 2, 3]
        with pytest.raises(RuntimeError):
            await cond.wait_for(lambda: False)

    arun(main())


def test_notify_n_is_fifo(arun):
    async def main():
        cond = aiosync.Condition()
        order = []

        async def c(i):
            async with cond:
                assert await cond.wait() is True
                order.append(i)

        tasks = []
        for i in range(7):
            tasks.append(asyncio.create_task(c(i)))
            await asyncio.sleep(0)  # queue them in a known order
        assert n_waiters(cond) == 7

        async with cond:
            cond.notify(1)
        for _ in range(4):
            await asyncio.sleep(0)
        assert order == [0]

        async with cond:
            cond.notify(2)
        for _ in range(6):
            await asyncio.sleep(0)
        assert order == [0, 1, 2]
        assert n_waiters(cond) == 4

        async with cond:
            cond.notify(1)
            cond.notify(2048)  # more than there are: everyone left
        await asyncio.wait_for(asyncio.gather(*tasks), DEADLINE)
        assert order == list(range(7))
        assert n_waiters(cond) == 0

    arun(main())


def test_notify_all(arun):
    async def main():
        cond = aiosync.Condition()
        result = []

        async def c(i):
            await cond.acquire()
            if await cond.wait():
                result.append(i)
                cond.release()
            return True

        tasks = [asyncio.create_task(c(i)) for i in range(1, 4)]
        await asyncio.sleep(0)
        assert result == []

        await cond.acquire()
        cond.notify_all()
        cond.release()
        assert await asyncio.wait_for(asyncio.gather(*tasks), DEADLINE) == [True] * 3
        assert result == [1, 2, 3]
        assert not cond.locked()

    arun(main())


def test_notify_with_no_waiters_is_not_remembered(arun):
    async def main():
        cond = aiosync.Condition()
        async with cond:
            cond.notify()
            cond.notify_all()
        async with cond:
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(cond.wait(), 0.01)
            assert cond.locked()

    arun(main())


def test_repr(arun):
    async def main():
        cond = aiosync.Condition()
        assert "unlocked" in repr(cond)
        assert n_waiters(cond) == 0
        await cond.acquire()
        assert "[locked]" in repr(cond)
        cond.release()

        async def c():
            async with cond:
                await cond.wait()

        tasks = [asyncio.create_task(c()) for _ in range(2)]
        await asyncio.sleep(0)
        assert n_waiters(cond) == 2
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        assert n_waiters(cond) == 0  # cancelled waiters are dropped

    arun(main())


def test_context_manager(arun):
    async def main():
        cond = aiosync.Condition()
        assert not cond.locked()
        async with cond:
            assert cond.locked()
        assert not cond.locked()

    arun(main())


def test_explicit_lock(arun):
    async def f(lock=None, cond=None):
        if lock is None:
            lock = aiosync.Lock()
        if cond is None:
            cond = aiosync.Condition(lock)
        assert not lock.locked()
        assert not cond.locked()
        async with cond:
            assert lock.locked()
            assert cond.locked()
        assert not lock.locked()
        assert not cond.locked()
        async with lock:
            assert lock.locked()
            assert cond.locked()
        assert not lock.locked()
        assert not cond.locked()

    async def main():
        await f()
        await f(aiosync.Lock())
        lock = aiosync.Lock()
        await f(lock, aiosync.Condition(lock))
        rlock = aiosync.RLock()
        await f(rlock, aiosync.Condition(rlock))

    arun(main())


def test_wait_cancel_keeps_lock(arun):
    # CPython's test_wait_cancel.
    async def main():
        cond = aiosync.Condition()
        await cond.acquire()
        wait = asyncio.create_task(cond.wait())
        asyncio.get_running_loop().call_soon(wait.cancel)
        with pytest.raises(asyncio.CancelledError):
            await wait
        assert n_waiters(cond) == 0
        assert cond.locked()
        cond.release()

    arun(main())


def test_cancelled_wait_reacquires_lock_before_propagating(arun):
    async def main():
        cond = aiosync.Condition()
        holder = None
        seen = {}

        async def waiter():
            nonlocal holder
            async with cond:
                holder = "waiter"
                try:
                    holder = None
                    await cond.wait()
                except asyncio.CancelledError:
                    seen["locked"] = cond.locked()
                    seen["holder"] = holder  # None: nobody else holds it now
                    holder = "waiter"
                    raise
                finally:
                    holder = None

        t = asyncio.create_task(waiter())
        await asyncio.sleep(0)
        assert n_waiters(cond) == 1

        # Hold the lock while cancelling: the cancelled wait must wait for it.
        await cond.acquire()
        holder = "main"
        t.cancel()
        for _ in range(5):
            await asyncio.sleep(0)
        assert not t.done(), "CancelledError propagated without the lock"
        assert seen == {}
        holder = None
        cond.release()

        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(t, DEADLINE)
        assert seen == {"locked": True, "holder": None}
        assert not cond.locked()
        assert n_waiters(cond) == 0

    arun(main())


def test_wait_cancel_contested(arun):
    # CPython's test_wait_cancel_contested.
    async def main():
        cond = aiosync.Condition()
        await cond.acquire()
        assert cond.locked()

        wait_task = asyncio.create_task(cond.wait())
        await asyncio.sleep(0)
        assert not cond.locked()

        await cond.acquire()
        assert cond.locked()
        cond.notify()
        asyncio.get_running_loop().call_soon(wait_task.cancel)
        asyncio.get_running_loop().call_soon(cond.release)
        try:
            await wait_task
        except asyncio.CancelledError:
            pass
        assert cond.locked()  # the wait ended (either way) holding the lock

    arun(main())


def test_wait_cancel_after_notify(arun):
    # CPython's test_wait_cancel_after_notify (bpo-32841).
    async def main():
        cond = aiosync.Condition()
        waited = False

        async def wait_on_cond():
            nonlocal waited
            async with cond:
                waited = True
                await cond.wait()

        waiter = asyncio.create_task(wait_on_cond())
        await asyncio.sleep(0)

        await cond.acquire()
        cond.notify()
        await asyncio.sleep(0)  # the waiter goes on to re-acquire the lock
        waiter.cancel()
        await asyncio.sleep(0)
        cond.release()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(waiter, DEADLINE)
        assert waiter.cancelled()
        assert waited
        assert not cond.locked()

    arun(main())


def test_timeout_in_block(arun):
    async def main():
        cond = aiosync.Condition()
        async with cond:
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(cond.wait(), timeout=0.01)
            assert cond.locked()
        assert not cond.locked()
        assert n_waiters(cond) == 0

    arun(main())


def test_cancelled_error_wakeup_is_reraised_unmodified(arun):
    # CPython's test_cancelled_error_wakeup.
    async def main():
        cond = aiosync.Condition()
        raised = None

        async def func():
            nonlocal raised
            async with cond:
                with pytest.raises(asyncio.CancelledError) as err:
                    await cond.wait_for(lambda: False)
                raised = err.value
                raise raised

        task = asyncio.create_task(func())
        await asyncio.sleep(0)
        task.cancel(msg="foo")
        with pytest.raises(asyncio.CancelledError) as err:
            await task
        assert err.value.args == ("foo",)
        assert err.value is raised

    arun(main())


def test_cancelled_error_reacquire_is_reraised_unmodified(arun):
    # CPython's test_cancelled_error_re_aquire: cancelled while re-acquiring the lock.
    async def main():
        cond = aiosync.Condition()
        wake = False
        raised = None

        async def func():
            nonlocal raised
            async with cond:
                with pytest.raises(asyncio.CancelledError) as err:
                    await cond.wait_for(lambda: wake)
                raised = err.value
                raise raised

        task = asyncio.create_task(func())
        await asyncio.sleep(0)
        await cond.acquire()
        wake = True
        cond.notify()
        await asyncio.sleep(0)
        task.cancel(msg="foo")
        cond.release()
        with pytest.raises(asyncio.CancelledError) as err:
            await asyncio.wait_for(task, DEADLINE)
        assert err.value.args == ("foo",)
        assert err.value is raised

    arun(main())


@pytest.mark.parametrize(
    "relock",
    [
        pytest.param(False, id="cancel-queued"),
        pytest.param(True, id="cancel-relocking"),
    ],
)
def test_cancelled_wakeup_is_not_lost(arun, relock):
    # CPython's test_cancelled_wakeup / test_cancelled_wakeup_relock: a notification
    # given to a waiter that is then cancelled goes to the next waiter.
    async def main():
        cond = aiosync.Condition()
        state = 0

        async def consumer():
            nonlocal state
            async with cond:
                while True:
                    await cond.wait_for(lambda: state != 0)  # noqa: B023 - reads it live
                    if state < 0:
                        return
                    state -= 1
                    cond.notify_all()  # tells the producer (the test) it was consumed

        c = [asyncio.create_task(consumer()) for _ in range(2)]
        await asyncio.sleep(0)
        assert n_waiters(cond) == 2
        async with cond:
            state += 1
            cond.notify(1)
            if relock:
                await asyncio.sleep(0)  # c[0] wakes and queues for the lock
            c[0].cancel()
            # A lost wakeup would leave state at 1 and time out here.
            await asyncio.wait_for(cond.wait_for(lambda: state == 0), 1.0)
            assert state == 0
            state = -1
            cond.notify_all()
        await asyncio.wait_for(c[1], DEADLINE)
        with pytest.raises(asyncio.CancelledError):
            await c[0]

    arun(main())


def test_rlock_condition_async_nested(arun):
    async def main():
        rlock = aiosync.RLock()
        cond = aiosync.Condition(rlock)
        steps = []

        async def waiter():
            await cond.acquire()
            await cond.acquire()
            assert await cond.wait() is True
            steps.append("woken")
            cond.release()
            cond.release()
            with pytest.raises(RuntimeError):
                cond.release()  # exactly two levels were restored

        async def other():
            # Succeeds only if wait() released both levels.
            async with cond:
                steps.append("other")
                cond.notify()

        t = asyncio.create_task(waiter())
        await asyncio.sleep(0)
        assert n_waiters(cond) == 1
        assert not rlock.locked()
        await asyncio.wait_for(asyncio.create_task(other()), DEADLINE)
        await asyncio.wait_for(t, DEADLINE)
        assert steps == ["other", "woken"]
        assert not rlock.locked()

    arun(main())


def test_rlock_condition_wait_by_non_owner_task_raises(arun):
    async def main():
        cond = aiosync.Condition(aiosync.RLock())
        await cond.acquire()

        async def other():
            with pytest.raises(RuntimeError):
                await cond.wait()
            with pytest.raises(RuntimeError):
                cond.notify()

        await asyncio.create_task(other())
        cond.notify()  # the owner may
        cond.release()

    arun(main())


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
