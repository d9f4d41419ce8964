"""Public stand-ins for the CPython tests in `excluded.py` that check public behaviour
through a private attribute: each says which test it stands for, and checks the same
property through public calls only (a waiter left behind shows as a lock handed to no
one, a notification swallowed, a queue slot taken)."""

from __future__ import annotations

import asyncio
import threading

import aiosync
import pytest

DEADLINE = 10.0
pytestmark = pytest.mark.timeout(30)


def run(coro_fn):
    return asyncio.run(asyncio.wait_for(coro_fn(), DEADLINE))


def test_rlock_levels_count_like_recursion_count():
    """ThreadingRLockTests::test_recursion_count (`_recursion_count()`): each level is
    released once, the last release frees it for other threads, one more raises."""
    lock = aiosync.RLock()
    for _ in range(3):
        assert lock.acquire()
    other_got = []

    def other():
        other_got.append(lock.acquire(False))

    for expected_other in (False, False, False):
        t = threading.Thread(target=other)
        t.start()
        t.join(DEADLINE)
        assert other_got.pop() is expected_other
        lock.release()
    t = threading.Thread(target=other)
    t.start()
    t.join(DEADLINE)
    assert other_got.pop() is True  # free after the third release
    with pytest.raises(RuntimeError):
        aiosync.RLock().release()


def test_lock_cancelled_acquire_leaves_no_waiter():
    """AsyncioLockTests::test_acquire_cancel (`_waiters` empty afterwards): a phantom
    waiter would be handed the lock by the next release."""

    async def main():
        lock = aiosync.Lock()
        assert await lock.acquire()
        task = asyncio.create_task(lock.acquire())
        asyncio.get_running_loop().call_soon(task.cancel)
        with pytest.raises(asyncio.CancelledError):
            await task
        lock.release()
        assert not lock.locked()  # handed to no one
        assert await lock.acquire()

    run(main)


def test_lock_cancel_race_moves_on_to_the_next_waiter():
    """AsyncioLockTests::test_cancel_race and ::test_finished_waiter_cancelled: B is
    cancelled as A releases; C gets the lock. (asyncio gives it to C within one loop
    iteration; aiosync learns of B's cancellation when B's task runs, so C may get it
    one iteration later — the bound here is a deadline, not an iteration count.)"""

    async def main():
        lock = aiosync.Lock()
        order = []

        async def lockit(name, blocker):
            await lock.acquire()
            try:
                order.append(name)
                if blocker is not None:
                    await blocker
            finally:
                lock.release()

        fa = asyncio.get_running_loop().create_future()
        ta = asyncio.create_task(lockit("A", fa))
        await asyncio.sleep(0)
        assert lock.locked()
        tb = asyncio.create_task(lockit("B", None))
        await asyncio.sleep(0)
        tc = asyncio.create_task(lockit("C", None))
        await asyncio.sleep(0)
        fa.set_result(None)
        tb.cancel()
        await asyncio.wait_for(tc, DEADLINE)
        assert ta.done() and tb.cancelled()
        assert order == ["A", "C"]
        assert not lock.locked()

    run(main)


def test_event_cancelled_wait_and_set_clear():
    """AsyncioEventTests::test_wait_cancel and ::test_clear_with_waiters: a cancelled wait
    leaves the event usable; `set()` then `clear()` still wakes the waiter of that moment,
    exactly once."""

    async def main():
        ev = aiosync.Event()
        wait = asyncio.create_task(ev.wait())
        asyncio.get_running_loop().call_soon(wait.cancel)
        with pytest.raises(asyncio.CancelledError):
            await wait
        result = []

        async def c1():
            if await ev.wait():
                result.append(1)
            return True

        t = asyncio.create_task(c1())
        await asyncio.sleep(0)
        assert result == []
        ev.set()
        ev.clear()
        assert not ev.is_set()
        ev.set()
        ev.set()
        assert await asyncio.wait_for(t, DEADLINE)
        assert result == [1]

    run(main)


def test_condition_cancelled_wait_swallows_no_notification():
    """AsyncioConditionTests::test_wait_cancel (`_waiters` empty, lock held again): the
    cancelled wait takes the lock back, and a later notify goes to a live waiter."""

    async def main():
        cond = aiosync.Condition()
        await cond.acquire()
        wait = asyncio.create_task(cond.wait())
        asyncio.get_running_loop().call_soon(wait.cancel)
        with pytest.raises(asyncio.CancelledError):
            await wait
        assert cond.locked()
        cond.release()

        async def waiter():
            async with cond:
                return await cond.wait()

        w = asyncio.create_task(waiter())
        await asyncio.sleep(0)
        async with cond:
            cond.notify(1)  # would be lost on a phantom waiter
        assert await asyncio.wait_for(w, DEADLINE) is True

    run(main)


def test_condition_explicit_lock_is_that_lock():
    """AsyncioConditionTests::test_explicit_lock (`cond._lock is lock`): the condition and
    its lock are locked and unlocked together, through either."""

    async def f(lock=None, cond=None):
        if lock is None:
            lock = aiosync.Lock()
        if cond is None:
            cond = aiosync.Condition(lock)
        assert not lock.locked() and not cond.locked()
        async with cond:
            assert lock.locked() and cond.locked()
        assert not lock.locked() and not cond.locked()
        async with lock:
            assert lock.locked() and cond.locked()
        assert not lock.locked() and not cond.locked()

    async def main():
        await f()
        await f(aiosync.Lock())
        lock = aiosync.Lock()
        await f(lock, aiosync.Condition(lock))

    run(main)


def test_condition_from_two_loops():
    """AsyncioConditionTests::test_ambiguous_loops (asyncio's binding to one loop, `_loop`):
    aiosync binds to no loop, so one condition serves two loops at once."""
    cond = aiosync.Condition()
    ready = threading.Event()
    got = []

    def other_loop():
        async def wait():
            async with cond:
                ready.set()
                got.append(await cond.wait())

        asyncio.run(asyncio.wait_for(wait(), DEADLINE))

    t = threading.Thread(target=other_loop)
    t.start()
    assert ready.wait(DEADLINE)

    async def notify():
        async with cond:  # taken once the other loop's wait gave the lock up
            cond.notify_all()

    run(notify)
    t.join(DEADLINE)
    assert got == [True]


def test_semaphore_releases_never_over_grant():
    """AsyncioSemaphoreTests::test_acquire (`_waiters`, `_value`): two releases with three
    tasks waiting let exactly two in, and the third still waits."""

    async def main():
        sem = aiosync.Semaphore(1)
        assert await sem.acquire()
        entered = []

        async def c(i):
            await sem.acquire()
            entered.append(i)

        tasks = [asyncio.create_task(c(i)) for i in range(3)]
        await asyncio.sleep(0)
        assert sem.locked() and entered == []
        sem.release()
        sem.release()
        while len(entered) < 2:
            await asyncio.sleep(0)
        for _ in range(5):
            await asyncio.sleep(0)
        assert len(entered) == 2 and sem.locked()
        sem.release()
        await asyncio.wait_for(asyncio.gather(*tasks), DEADLINE)
        assert sorted(entered) == [0, 1, 2]

    run(main)


def test_semaphore_cancelled_acquire_leaves_no_waiter():
    """AsyncioSemaphoreTests::test_acquire_cancel: after the cancelled acquire, a release
    is free for the next acquirer at once."""

    async def main():
        sem = aiosync.Semaphore()
        await sem.acquire()
        acquire = asyncio.create_task(sem.acquire())
        asyncio.get_running_loop().call_soon(acquire.cancel)
        with pytest.raises(asyncio.CancelledError):
            await acquire
        sem.release()
        assert not sem.locked()
        assert sem.acquire_blocking(False)

    run(main)


def test_barrier_reset_while_half_draining():
    """AsyncioBarrierTests::test_reset_barrier_when_tasks_half_draining (`_count`): a
    reset by a task that passed, while the next round fills, breaks only that round."""
    n = 4

    async def main():
        barrier = aiosync.Barrier(n)
        broken = []
        passed = 0

        async def coro():
            nonlocal passed
            try:
                await barrier.wait()
            except aiosync.BrokenBarrierError:
                broken.append(True)
            else:
                passed += 1
                if passed == n:  # the last one out resets
                    await barrier.reset()

        await asyncio.gather(*(coro() for _ in range(n)))
        assert broken == [] and passed == n
        assert barrier.n_waiting == 0 and not barrier.broken
        assert "resetting" not in repr(barrier)

    run(main)


def test_queue_get_frees_a_slot_for_a_waiting_putter():
    """AsyncioQueueGetTests::test_get_with_putters (a putter future planted in `_putters`):
    a get from a full queue lets the waiting putter in."""

    async def main():
        q = aiosync.Queue(1)
        await q.put(1)
        putter = asyncio.create_task(q.put(2))
        await asyncio.sleep(0)
        assert not putter.done()
        assert await q.get() == 1
        await asyncio.wait_for(putter, DEADLINE)
        assert q.get_nowait() == 2

    run(main)


def test_queue_cancelled_get_and_put_leave_nothing_behind():
    """AsyncioQueueGetTests::test_cancelled_getters_not_being_held_in_self_getters and
    AsyncioQueuePutTests::test_cancelled_puts_not_being_held_in_self_putters: a timed-out
    get takes no later item, and a cancelled put inserts nothing and frees its turn."""

    async def main():
        q = aiosync.Queue(maxsize=5)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(q.get(), 0.01)
        q.put_nowait("x")
        assert q.get_nowait() == "x"  # not swallowed by the cancelled getter

        full = aiosync.Queue(maxsize=1)
        full.put_nowait(1)
        put_task = asyncio.create_task(full.put(2))
        await asyncio.sleep(0)
        put_task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await put_task
        assert full.get_nowait() == 1
        assert full.empty()  # the cancelled put inserted nothing
        full.put_nowait(3)  # and left its turn free
        assert full.full()

    run(main)
