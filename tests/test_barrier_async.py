"""Barrier: construction and errors, then the asyncio semantics."""

import asyncio
import threading

import aiosync
import pytest
from conftest import DEADLINE

N = 5


async def gather_tasks(n, coro, timeout=DEADLINE):
    tasks = [asyncio.create_task(coro()) for _ in range(n)]
    return await asyncio.wait_for(asyncio.gather(*tasks), timeout)


# -- construction, errors ------------------------------------------------------------


def test_parties_must_be_positive():
    with pytest.raises(ValueError):
        aiosync.Barrier(0)
    with pytest.raises(ValueError):
        aiosync.Barrier(-4)
    b = aiosync.Barrier(3)
    assert b.parties == 3
    assert b.n_waiting == 0
    assert b.broken is False


def test_broken_barrier_error_is_asyncio_and_threading_one():
    err = aiosync.BrokenBarrierError
    assert issubclass(err, threading.BrokenBarrierError)
    assert issubclass(err, RuntimeError)
    assert issubclass(err, asyncio.BrokenBarrierError)  # Python 3.11+
    b = aiosync.Barrier(2)
    b.abort()
    with pytest.raises(aiosync.BrokenBarrierError) as exc_info:
        b.wait()
    assert isinstance(exc_info.value, asyncio.BrokenBarrierError)
    assert isinstance(exc_info.value, threading.BrokenBarrierError)


def test_repr():
    b = aiosync.Barrier(3)
    at = f"{id(b):#x}"
    assert repr(b) == (
        f"<<aiosync.Barrier at {at}: waiters=0/3> object at {at} [filling, waiters:0/3]>"
    )
    b.abort()
    assert repr(b) == f"<<aiosync.Barrier at {at}: broken> object at {at} [broken]>"


def test_not_awaitable_itself(arun):
    async def main():
        with pytest.raises(TypeError):
            await aiosync.Barrier(2)

    arun(main())


# -- asyncio -------------------------------------------------------------------------


def test_async_indices_are_arrival_order(arun):
    async def main():
        barrier = aiosync.Barrier(N)
        tasks = []
        for i in range(N):
            tasks.append(asyncio.create_task(barrier.wait()))
            await asyncio.sleep(0)
            assert barrier.n_waiting == (i + 1) % N
        assert await asyncio.wait_for(asyncio.gather(*tasks), DEADLINE) == list(range(N))
        assert barrier.n_waiting == 0
        assert not barrier.broken

    arun(main())


def test_async_with_gives_index(arun):
    async def main():
        barrier = aiosync.Barrier(3)
        results = []

        async def coro():
            async with barrier as i:
                results.append(i)

        await gather_tasks(3, coro)
        assert sorted(results) == [0, 1, 2]
        assert barrier.n_waiting == 0
        assert not barrier.broken

    arun(main())


def test_filling_one_task(arun):
    async def main():
        barrier = aiosync.Barrier(1)

        async def f():
            async with barrier as i:
                return i

        assert await f() == 0
        assert await barrier.wait() == 0
        assert barrier.n_waiting == 0
        assert not barrier.broken

    arun(main())


def test_filling_task_by_task(arun):
    async def main():
        barrier = aiosync.Barrier(3)
        t1 = asyncio.create_task(barrier.wait())
        await asyncio.sleep(0)
        assert barrier.n_waiting == 1
        t2 = asyncio.create_task(barrier.wait())
        await asyncio.sleep(0)
        assert barrier.n_waiting == 2
        assert not t1.done() and not t2.done()
        t3 = asyncio.create_task(barrier.wait())
        assert await asyncio.wait_for(asyncio.gather(t1, t2, t3), DEADLINE) == [0, 1, 2]
        assert barrier.n_waiting == 0
        assert not barrier.broken

    arun(main())


def test_filling_tasks_wait_twice(arun):
    async def main():
        barrier = aiosync.Barrier(N)
        first, second = [], []

        async def coro():
            async with barrier as i:
                first.append(i)
                async with barrier as j:
                    second.append(j)
                    return j

        res = await gather_tasks(N, coro)
        assert sorted(first) == list(range(N))
        assert sorted(second) == list(range(N))
        assert sorted(res) == list(range(N))
        assert barrier.n_waiting == 0
        assert not barrier.broken

    arun(main())


def test_round_waits_for_everyone(arun):
    # Nobody leaves a round before the last party has arrived.
    async def main():
        barrier = aiosync.Barrier(N)
        arrived = 0
        seen = []

        async def coro():
            nonlocal arrived
            for _ in range(3):
                arrived += 1
                await barrier.wait()
                seen.append(arrived)
                await barrier.wait()  # nobody starts the next round early

        await gather_tasks(N, coro)
        assert seen == [N] * N + [2 * N] * N + [3 * N] * N

    arun(main())


def test_blocking_tasks_while_draining(arun):
    # CPython's test_blocking_tasks_while_draining.
    async def main():
        rewait = 2
        barrier = aiosync.Barrier(N)
        barrier_nowaiting = aiosync.Barrier(N - rewait)
        rewait_n = rewait

        async def coro():
            nonlocal rewait_n
            await barrier.wait()
            if rewait_n > 0:
                rewait_n -= 1
                await barrier.wait()
            else:
                await barrier_nowaiting.wait()
                await barrier.wait()

        await gather_tasks(N, coro)
        assert barrier.n_waiting == 0
        assert barrier_nowaiting.n_waiting == 0

    arun(main())


def test_filling_tasks_cancel_one(arun):
    # CPython's test_filling_tasks_cancel_one: a cancelled party is withdrawn.
    async def main():
        barrier = aiosync.Barrier(3)
        results = []

        async def coro():
            results.append(await barrier.wait())

        t1 = asyncio.create_task(coro())
        await asyncio.sleep(0)
        assert barrier.n_waiting == 1
        t2 = asyncio.create_task(coro())
        await asyncio.sleep(0)
        assert barrier.n_waiting == 2

        t1.cancel()
        await asyncio.sleep(0)
        assert barrier.n_waiting == 1
        with pytest.raises(asyncio.CancelledError):
            await t1
        assert t1.cancelled()

        t3 = asyncio.create_task(coro())
        await asyncio.sleep(0)
        assert barrier.n_waiting == 2
        assert not t2.done() and not t3.done()

        t4 = asyncio.create_task(coro())
        await asyncio.wait_for(asyncio.gather(t2, t3, t4), DEADLINE)
        assert sorted(results) == [0, 1, 2]
        assert barrier.n_waiting == 0
        assert not barrier.broken

    arun(main())


def test_wait_for_timeout_withdraws_the_party(arun):
    async def main():
        barrier = aiosync.Barrier(2)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(barrier.wait(), 0.01)
        assert barrier.n_waiting == 0
        assert not barrier.broken  # unlike a threading timeout, a cancel does not break it
        assert await gather_tasks(2, barrier.wait) == [0, 1]

    arun(main())


def test_reset_unused_barrier(arun):
    async def main():
        barrier = aiosync.Barrier(1)
        await barrier.reset()
        assert barrier.n_waiting == 0
        assert not barrier.broken
        assert await barrier.wait() == 0

    arun(main())


def test_reset_breaks_current_waiters(arun):
    # CPython's test_reset_barrier_while_tasks_waiting.
    async def main():
        barrier = aiosync.Barrier(N)
        errors = []

        async def coro():
            try:
                await barrier.wait()
            except aiosync.BrokenBarrierError as e:
                errors.append(e)

        tasks = [asyncio.create_task(coro()) for _ in range(N - 1)]
        await asyncio.sleep(0)
        assert barrier.n_waiting == N - 1
        await barrier.reset()
        await asyncio.wait_for(asyncio.gather(*tasks), DEADLINE)

        assert len(errors) == N - 1
        for e in errors:
            assert isinstance(e, asyncio.BrokenBarrierError)
            assert isinstance(e, threading.BrokenBarrierError)
        assert barrier.n_waiting == 0
        assert not barrier.broken
        # Usable again at once.
        assert sorted(await gather_tasks(N, barrier.wait)) == list(range(N))

    arun(main())


def test_reset_while_waiting_and_waiting_again(arun):
    # CPython's test_reset_barrier_while_tasks_waiting_and_waiting_again.
    async def main():
        barrier = aiosync.Barrier(N)
        results1 = []
        results2 = []

        async def coro1():
            try:
                await barrier.wait()
            except asyncio.BrokenBarrierError:
                results1.append(True)
            finally:
                await barrier.wait()
                results2.append(True)

        async def coro2():
            async with barrier:
                results2.append(True)

        tasks = [asyncio.create_task(coro1()) for _ in range(N - 1)]
        await asyncio.sleep(0)
        await barrier.reset()
        await asyncio.sleep(0)
        tasks.append(asyncio.create_task(coro2()))
        await asyncio.wait_for(asyncio.gather(*tasks), DEADLINE)

        assert not barrier.broken
        assert results1 == [True] * (N - 1)
        assert results2 == [True] * N
        assert barrier.n_waiting == 0

    arun(main())


def test_reset_while_tasks_draining(arun):
    # CPython's test_reset_barrier_while_tasks_draining: the parties that re-enter while
    # the round drains are not yet waiting, so the last party's reset() leaves them be.
    async def main():
        barrier = aiosync.Barrier(N)
        results1 = []
        results2 = []
        results3 = []
        count = 0

        async def coro():
            nonlocal count
            await barrier.wait()
            count += 1
            if count == N:
                await barrier.reset()
                await barrier.wait()
            else:
                try:
                    await barrier.wait()
                    results1.append(True)
                except Exception:
                    results2.append(True)
            await barrier.wait()
            results3.append(True)

        await gather_tasks(N, coro, timeout=1.0)
        assert not barrier.broken
        assert results1 == [True] * (N - 1)
        assert results2 == []
        assert results3 == [True] * N
        assert barrier.n_waiting == 0

    arun(main())


def test_abort(arun):
    async def main():
        barrier = aiosync.Barrier(N)
        errors = []

        async def coro():
            try:
                await barrier.wait()
            except aiosync.BrokenBarrierError:
                errors.append(True)

        tasks = [asyncio.create_task(coro()) for _ in range(N - 2)]
        await asyncio.sleep(0)
        await barrier.abort()
        await asyncio.wait_for(asyncio.gather(*tasks), DEADLINE)
        assert errors == [True] * (N - 2)
        assert barrier.broken
        assert barrier.n_waiting == 0
        # Later waits fail at once, until reset().
        with pytest.raises(asyncio.BrokenBarrierError):
            await barrier.wait()
        with pytest.raises(aiosync.BrokenBarrierError):
            async with barrier:
                pass
        await barrier.reset()
        assert not barrier.broken
        assert sorted(await gather_tasks(N, barrier.wait)) == list(range(N))

    arun(main())


def test_abort_when_exception(arun):
    # CPython's test_abort_barrier_when_exception (lock_tests' test_abort).
    async def main():
        barrier = aiosync.Barrier(N)
        results1 = []
        results2 = []

        async def coro():
            try:
                async with barrier as i:
                    if i == N // 2:
                        raise RuntimeError
                async with barrier:
                    results1.append(True)
            except aiosync.BrokenBarrierError:
                results2.append(True)
            except RuntimeError:
                await barrier.abort()

        await gather_tasks(N, coro)
        assert barrier.broken
        assert results1 == []
        assert results2 == [True] * (N - 1)
        assert barrier.n_waiting == 0

    arun(main())


def test_abort_when_exception_then_reset(arun):
    # CPython's test_abort_barrier_when_exception_then_resetting (lock_tests'
    # test_abort_and_reset).
    async def main():
        barrier1 = aiosync.Barrier(N)
        barrier2 = aiosync.Barrier(N)
        results1 = []
        results2 = []
        results3 = []

        async def coro():
            try:
                i = await barrier1.wait()
                if i == N // 2:
                    raise RuntimeError
                await barrier1.wait()
                results1.append(True)
            except aiosync.BrokenBarrierError:
                results2.append(True)
            except RuntimeError:
                await barrier1.abort()
            i = await barrier2.wait()
            if i == N // 2:
                await barrier1.reset()
            await barrier2.wait()
            await barrier1.wait()
            results3.append(True)

        await gather_tasks(N, coro)
        assert not barrier1.broken
        assert results1 == []
        assert results2 == [True] * (N - 1)
        assert results3 == [True] * N

    arun(main())


def test_reset_and_abort_are_awaitable_in_asyncio(arun):
    async def main():
        barrier = aiosync.Barrier(2)
        t = asyncio.create_task(barrier.wait())
        await asyncio.sleep(0)
        try:
            await barrier.reset()
        finally:
            (result,) = await asyncio.gather(t, return_exceptions=True)
        assert isinstance(result, asyncio.BrokenBarrierError)
        await barrier.abort()
        assert barrier.broken

    arun(main())
