"""Condition, asyncio spelling: cancellation and timeouts, RLock-based conditions."""

import asyncio

import aiosync
import pytest
from _condition_helpers import n_waiters
from conftest import DEADLINE


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
