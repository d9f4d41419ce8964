"""Semaphore and BoundedSemaphore: construction, then the asyncio semantics."""

import asyncio

import aiosync
import pytest
from _semaphore_helpers import BOTH
from conftest import DEADLINE

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
