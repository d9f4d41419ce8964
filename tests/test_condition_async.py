"""Condition, asyncio spelling: wait, wait_for, notify, repr, explicit locks."""

import asyncio

import aiosync
import pytest
from _condition_helpers import n_waiters
from conftest import DEADLINE

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
