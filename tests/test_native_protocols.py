"""The protocols that moved into the core: a Barrier action shared by a thread and a task,
Condition waits cancelled while waiting or while re-taking the lock, RWLock ownership."""

from __future__ import annotations

import asyncio
import threading

import aiosync
import pytest

from tests.conftest import DEADLINE, join_all, run_in_loop_thread, run_in_thread

ROUNDS = 50


def test_barrier_action_shared_by_a_thread_and_a_task():
    # Each round: one party is an OS thread, the other an asyncio task on a loop in
    # another thread; whichever arrives last runs the action, before either goes on.
    log: list[str] = []
    guard = threading.Lock()
    rounds_seen = []

    def action():
        with guard:
            log.append("action")

    b = aiosync.Barrier(2, action=action)

    def thread_party():
        for i in range(ROUNDS):
            b.wait(DEADLINE)
            with guard:
                # The action of this round already ran: one per round so far.
                rounds_seen.append(log.count("action") >= i + 1)

    async def task_party():
        for i in range(ROUNDS):
            await b.wait()
            with guard:
                rounds_seen.append(log.count("action") >= i + 1)

    t = run_in_thread(thread_party)
    lt = run_in_loop_thread(task_party)
    join_all([t, lt])
    assert log.count("action") == ROUNDS
    assert len(rounds_seen) == 2 * ROUNDS and all(rounds_seen)
    assert not b.broken and b.n_waiting == 0


def test_barrier_action_that_raises_breaks_the_barrier_for_thread_and_task():
    calls = []

    def action():
        calls.append(1)
        raise ZeroDivisionError

    b = aiosync.Barrier(2, action=action)
    outcomes: list[str] = []

    def thread_party():
        try:
            b.wait(DEADLINE)
            outcomes.append("passed")
        except ZeroDivisionError:
            outcomes.append("action error")
        except aiosync.BrokenBarrierError:
            outcomes.append("broken")

    async def task_party():
        try:
            await b.wait()
            outcomes.append("passed")
        except ZeroDivisionError:
            outcomes.append("action error")
        except aiosync.BrokenBarrierError:
            outcomes.append("broken")

    join_all([run_in_thread(thread_party), run_in_loop_thread(task_party)])
    # The leader sees the action's error, the other party BrokenBarrierError.
    assert sorted(outcomes) == ["action error", "broken"]
    assert calls == [1] and b.broken
    b.reset()
    assert not b.broken


def test_condition_cancel_while_waiting_retakes_the_lock_before_raising(arun):
    async def main():
        cond = aiosync.Condition()
        seen = {}
        entered = asyncio.Event()

        async def waiter():
            async with cond:
                entered.set()  # then waits without yielding first
                try:
                    await cond.wait()
                except asyncio.CancelledError:
                    seen["locked_in_handler"] = cond.locked()
                    raise

        t = asyncio.create_task(waiter())
        await entered.wait()
        assert not cond.locked()  # the waiter waits, the lock released
        t.cancel()
        with pytest.raises(asyncio.CancelledError):
            await t
        assert seen["locked_in_handler"] is True
        assert not cond.locked()  # released by `async with` on the way out

    arun(main())


def test_condition_cancel_while_retaking_the_lock_passes_the_notification_on(arun):
    async def main():
        cond = aiosync.Condition()
        order: list[str] = []

        async def waiter(name):
            async with cond:
                await cond.wait()
                order.append(name)

        a = asyncio.create_task(waiter("a"))
        b = asyncio.create_task(waiter("b"))
        for _ in range(5):
            await asyncio.sleep(0)
        async with cond:
            cond.notify(1)  # to `a`, which then waits for the lock we hold
            await asyncio.sleep(0)
            a.cancel()  # cancelled while re-taking the lock
        with pytest.raises(asyncio.CancelledError):
            await a
        # `a`'s notification went on to `b`.
        await asyncio.wait_for(b, DEADLINE)
        assert order == ["b"] and not cond.locked()

    arun(main())


def test_condition_over_rlock_restores_every_level_for_thread_and_task(arun):
    lock = aiosync.RLock()
    cond = aiosync.Condition(lock)
    levels_after = []

    def thread_waiter():
        with cond, cond:  # two levels
            assert cond.wait(0.01) is False  # nobody notifies: times out
            levels_after.append(lock._release_save())
            lock._acquire_restore(2)

    join_all([run_in_thread(thread_waiter)])
    assert levels_after == [2] and not lock.locked()

    async def main():
        async with lock:
            async with lock:

                async def notifier():
                    async with cond:
                        cond.notify()

                n = asyncio.create_task(notifier())
                assert await cond.wait() is True
                assert lock._is_owned()
                await n
        assert not lock.locked()

    arun(main())


def test_rwlock_owner_is_the_awaiting_task_and_upgrade_is_refused(arun):
    async def main():
        rw = aiosync.RWLock()
        async with rw.writer_lock:
            async with rw.reader_lock:  # a writer may also read
                assert rw.reader_lock.locked and rw.writer_lock.locked
            with pytest.raises(RuntimeError):
                rw.reader_lock.release()  # not held any more
        async with rw.reader_lock:
            with pytest.raises(RuntimeError, match="upgrade"):
                await rw.writer_lock.acquire()
        # A lock made in one task and awaited in another belongs to the awaiting task.
        t = asyncio.create_task(rw.writer_lock.acquire())
        assert await t is True
        with pytest.raises(RuntimeError):
            rw.writer_lock.release()  # this task does not hold it
        assert rw.writer_lock.locked

    arun(main())


def test_blocking_acquire_on_the_loop_thread_that_holds_it_raises(arun):
    async def main():
        for lock in (aiosync.Lock(), aiosync.RLock()):
            async with lock:
                with pytest.raises(RuntimeError, match="deadlock"):
                    lock.acquire(True)
        rw = aiosync.RWLock()
        loop = asyncio.get_running_loop()
        async with rw.reader_lock:
            fut = loop.create_future()

            def callback():
                # Sync code on the loop's thread (no task): its blocking write would
                # wait for this loop's reader, which can never run again.
                try:
                    fut.set_result(rw.writer_lock.acquire(True, 1))
                except RuntimeError as e:
                    fut.set_result(str(e))

            loop.call_soon(callback)
            assert "deadlock" in await fut

    arun(main())
