"""aiosync.Barrier: asyncio semantics, threading semantics, and one barrier shared by
threads and two event loops over several rounds (after CPython's
test_asyncio/test_locks.py BarrierTests and lock_tests.py BarrierTests)."""

import asyncio
import threading
import time

import aiosync
import pytest
from conftest import DEADLINE, join_all, run_in_loop_thread, run_in_thread, wait_until

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


# -- threading -----------------------------------------------------------------------


def test_threading_indices_over_several_passes():
    n, passes = 5, 3
    barrier = aiosync.Barrier(n)
    results = [[] for _ in range(passes)]
    lock = threading.Lock()

    def worker():
        for p in range(passes):
            i = barrier.wait()
            with lock:
                results[p].append(i)
            barrier.wait()  # everyone recorded pass p before pass p+1 starts

    join_all([run_in_thread(worker) for _ in range(n)])
    for p in range(passes):
        assert sorted(results[p]) == list(range(n))
    assert barrier.n_waiting == 0
    assert not barrier.broken


def test_threading_single_thread():
    b = aiosync.Barrier(1)
    assert b.wait() == 0
    assert b.wait() == 0
    assert b.wait(timeout=0) == 0


def test_threading_wait_timeout_breaks_the_barrier():
    barrier = aiosync.Barrier(3)

    def waiter():
        try:
            barrier.wait(DEADLINE)
        except threading.BrokenBarrierError:
            return "broken"
        return "passed"

    t = run_in_thread(waiter)
    wait_until(lambda: barrier.n_waiting == 1)
    with pytest.raises(threading.BrokenBarrierError):
        barrier.wait(0.02)
    assert barrier.broken
    join_all([t])
    assert t.result == "broken"  # the others are broken out too
    with pytest.raises(aiosync.BrokenBarrierError):
        barrier.wait(DEADLINE)  # broken until reset
    barrier.reset()
    assert not barrier.broken
    assert barrier.n_waiting == 0


def test_threading_default_timeout():
    barrier = aiosync.Barrier(2, timeout=0.02)
    with pytest.raises(threading.BrokenBarrierError):
        barrier.wait()
    assert barrier.broken
    # An explicit timeout wins over the default.
    barrier2 = aiosync.Barrier(2, timeout=0.001)
    t = run_in_thread(barrier2.wait, DEADLINE)
    wait_until(lambda: barrier2.n_waiting == 1)
    mine = barrier2.wait(DEADLINE)
    join_all([t])
    assert sorted([mine, t.result]) == [0, 1]
    assert not barrier2.broken


def test_threading_reset_breaks_waiting_threads():
    barrier = aiosync.Barrier(4)

    def waiter():
        with pytest.raises(threading.BrokenBarrierError):
            barrier.wait(DEADLINE)
        return barrier.wait(DEADLINE)  # the next round

    threads = [run_in_thread(waiter) for _ in range(3)]
    wait_until(lambda: barrier.n_waiting == 3)
    barrier.reset()
    assert not barrier.broken
    wait_until(lambda: barrier.n_waiting == 3)  # back for the next round
    assert barrier.wait(DEADLINE) == 3
    join_all(threads)
    assert sorted(t.result for t in threads) == [0, 1, 2]


def test_threading_abort_breaks_waiting_threads():
    barrier = aiosync.Barrier(3)

    def waiter():
        try:
            barrier.wait(DEADLINE)
        except threading.BrokenBarrierError:
            return True
        return False

    threads = [run_in_thread(waiter) for _ in range(2)]
    wait_until(lambda: barrier.n_waiting == 2)
    barrier.abort()
    join_all(threads)
    assert [t.result for t in threads] == [True, True]
    assert barrier.broken
    assert barrier.n_waiting == 0


def test_threading_bad_timeout():
    # As threading.Barrier: a negative timeout times out at once and breaks the barrier.
    with pytest.raises(threading.BrokenBarrierError):
        aiosync.Barrier(2).wait(-5)
    with pytest.raises(ValueError):
        aiosync.Barrier(2, timeout=-5)


def test_threading_action():
    calls = []
    barrier = aiosync.Barrier(3, action=lambda: calls.append(True))
    join_all([run_in_thread(barrier.wait) for _ in range(3)])
    assert calls == [True]


def test_threading_action_runs_before_anyone_leaves():
    # threading.Barrier: the action runs in one party before the round releases anyone.
    events = []
    guard = threading.Lock()

    def action():
        time.sleep(0.02)  # the others would leave meanwhile if they could
        with guard:
            events.append("action")

    barrier = aiosync.Barrier(3, action=action)

    def party():
        barrier.wait(DEADLINE)
        with guard:
            events.append("left")

    join_all([run_in_thread(party) for _ in range(3)])
    assert events == ["action", "left", "left", "left"]


def test_threading_action_that_raises_breaks_the_round():
    def action():
        raise ValueError("boom")

    barrier = aiosync.Barrier(3, action=action)
    outcomes = []
    guard = threading.Lock()

    def party():
        try:
            barrier.wait(DEADLINE)
            result = "ok"
        except ValueError:
            result = "raised"
        except threading.BrokenBarrierError:
            result = "broken"
        with guard:
            outcomes.append(result)

    join_all([run_in_thread(party) for _ in range(3)])
    assert sorted(outcomes) == ["broken", "broken", "raised"]
    assert barrier.broken


# -- mixed: threads and two loops ----------------------------------------------------


def test_threads_and_two_loops_share_one_barrier_over_rounds():
    n_threads, n_loops, tasks_per_loop, rounds = 2, 2, 2, 8
    parties = n_threads + n_loops * tasks_per_loop
    barrier = aiosync.Barrier(parties)
    guard = threading.Lock()
    arrived = [0] * rounds
    indices = [[] for _ in range(rounds)]
    early = []  # (round, arrivals seen) when someone left a round too early

    def arrive(r):
        with guard:
            arrived[r] += 1

    def left(r, i):
        with guard:
            indices[r].append(i)
            if arrived[r] != parties:
                early.append((r, arrived[r]))

    def thread_worker():
        for r in range(rounds):
            arrive(r)
            left(r, barrier.wait(DEADLINE))

    async def loop_worker():
        async def task():
            for r in range(rounds):
                arrive(r)
                left(r, await barrier.wait())

        await asyncio.gather(*(task() for _ in range(tasks_per_loop)))

    threads = [run_in_thread(thread_worker) for _ in range(n_threads)]
    threads += [run_in_loop_thread(loop_worker) for _ in range(n_loops)]
    join_all(threads)
    assert early == []
    for r in range(rounds):
        assert sorted(indices[r]) == list(range(parties)), r
    assert barrier.n_waiting == 0
    assert not barrier.broken


def test_abort_from_thread_breaks_waiters_in_two_loops(loop_threads):
    barrier = aiosync.Barrier(10)
    loops = loop_threads(2)

    async def waiter():
        try:
            await barrier.wait()
        except asyncio.BrokenBarrierError as e:
            return type(e)
        return None

    futs = [asyncio.run_coroutine_threadsafe(waiter(), lp) for lp in loops for _ in range(2)]
    wait_until(lambda: barrier.n_waiting == 4)
    barrier.abort()
    assert [f.result(DEADLINE) for f in futs] == [aiosync.BrokenBarrierError] * 4
    assert barrier.broken
