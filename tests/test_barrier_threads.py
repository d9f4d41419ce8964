"""Barrier: threading semantics, and one barrier shared by threads and two loops."""

import asyncio
import threading
import time

import aiosync
import pytest
from conftest import DEADLINE, join_all, run_in_loop_thread, run_in_thread, wait_until

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
