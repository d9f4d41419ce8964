"""aiosync.Event: asyncio semantics, threading semantics, and one Event shared by threads
and several event loops (after CPython's test_asyncio/test_locks.py EventTests and
lock_tests.py EventTests)."""

import asyncio
import signal
import threading
import time

import aiosync
import pytest
from conftest import DEADLINE, join_all, run_in_thread

# -- asyncio -------------------------------------------------------------------------


def test_repr():
    ev = aiosync.Event()
    assert repr(ev).endswith("[unset]>")
    ev.set()
    assert repr(ev).endswith("[set]>")
    ev.clear()
    assert repr(ev).endswith("[unset]>")


def test_async_wait(arun):
    # CPython's test_wait: waiters queued before set() and a task started after it all
    # complete on the next loop iteration, in asyncio's order.
    async def main():
        ev = aiosync.Event()
        assert not ev.is_set()
        result = []

        async def c(i):
            if await ev.wait():
                result.append(i)

        t1 = asyncio.create_task(c(1))
        t2 = asyncio.create_task(c(2))
        await asyncio.sleep(0)
        assert result == []

        t3 = asyncio.create_task(c(3))
        ev.set()
        await asyncio.sleep(0)
        assert result == [3, 1, 2]
        for t in (t1, t2, t3):
            assert t.done()
            assert t.result() is None

    arun(main())


def test_async_wait_on_set_returns_true(arun):
    async def main():
        ev = aiosync.Event()
        ev.set()
        assert (await ev.wait()) is True
        assert ev.is_set()

    arun(main())


def test_async_wait_returns_true_when_woken(arun):
    async def main():
        ev = aiosync.Event()
        t = asyncio.create_task(ev.wait())
        await asyncio.sleep(0)
        assert not t.done()
        ev.set()
        assert (await asyncio.wait_for(t, DEADLINE)) is True

    arun(main())


def test_clear(arun):
    async def main():
        ev = aiosync.Event()
        assert not ev.is_set()
        ev.set()
        assert ev.is_set()
        ev.clear()
        assert not ev.is_set()
        ev.clear()
        assert not ev.is_set()

    arun(main())


def test_set_then_clear_wakes_every_current_waiter(arun):
    # CPython's test_clear_with_waiters, with several waiters.
    async def main():
        ev = aiosync.Event()
        result = []

        async def c(i):
            if await ev.wait():
                result.append(i)
            return True

        tasks = [asyncio.create_task(c(i)) for i in range(5)]
        await asyncio.sleep(0)
        assert result == []

        ev.set()
        ev.clear()
        assert not ev.is_set()

        done, pending = await asyncio.wait(tasks, timeout=DEADLINE)
        assert not pending, "a waiter that was waiting when set() ran was not woken"
        assert sorted(result) == list(range(5))
        assert all(t.result() is True for t in tasks)

        # A waiter that starts after the clear() waits for the next set().
        late = asyncio.create_task(ev.wait())
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert not late.done()
        ev.set()
        assert await asyncio.wait_for(late, DEADLINE) is True

    arun(main())


def test_set_twice_then_clear_wakes_once(arun):
    async def main():
        ev = aiosync.Event()
        woken = []

        async def c():
            woken.append(await ev.wait())

        t = asyncio.create_task(c())
        await asyncio.sleep(0)
        ev.set()
        ev.clear()
        ev.set()
        ev.set()
        await asyncio.wait_for(t, DEADLINE)
        assert woken == [True]
        assert ev.is_set()

    arun(main())


def test_cancelled_waiter_is_dropped(arun):
    # CPython's test_wait_cancel: the cancelled wait raises CancelledError, and a later
    # set() neither resurrects it nor reports an error on the loop.
    async def main():
        loop = asyncio.get_running_loop()
        errors = []
        loop.set_exception_handler(lambda _loop, ctx: errors.append(ctx))
        ev = aiosync.Event()

        wait = asyncio.create_task(ev.wait())
        loop.call_soon(wait.cancel)
        with pytest.raises(asyncio.CancelledError):
            await wait
        assert wait.cancelled()

        # Several cancelled waiters, then a live one: set() must still reach the live one.
        cancelled = [asyncio.create_task(ev.wait()) for _ in range(3)]
        live = asyncio.create_task(ev.wait())
        await asyncio.sleep(0)
        for t in cancelled:
            t.cancel()
        await asyncio.gather(*cancelled, return_exceptions=True)
        assert all(t.cancelled() for t in cancelled)
        assert not live.done()
        ev.set()
        assert await asyncio.wait_for(live, DEADLINE) is True
        for _ in range(3):
            await asyncio.sleep(0)
        assert all(t.cancelled() for t in cancelled)
        assert errors == []

    arun(main())


def test_wait_cancelled_by_wait_for_timeout(arun):
    async def main():
        ev = aiosync.Event()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(ev.wait(), 0.01)
        assert not ev.is_set()
        t = asyncio.create_task(ev.wait())
        await asyncio.sleep(0)
        ev.set()
        assert await asyncio.wait_for(t, DEADLINE) is True

    arun(main())


def test_wait_picks_form_by_context(arun):
    ev = aiosync.Event()
    # No running loop: the threading form, a bool.
    assert ev.wait(0) is False
    ev.set()
    assert ev.wait() is True

    async def main():
        ev2 = aiosync.Event()
        # A timeout is a threading-style argument: blocking form even inside a loop.
        assert ev2.wait(0) is False
        assert ev2.wait(timeout=0.001) is False
        aw = ev2.wait()
        assert not isinstance(aw, bool)
        ev2.set()
        assert (await aw) is True

    arun(main())


# -- threading -----------------------------------------------------------------------


def test_threading_is_set_set_clear():
    ev = aiosync.Event()
    assert ev.is_set() is False
    ev.set()
    assert ev.is_set() is True
    ev.set()
    assert ev.is_set() is True
    ev.clear()
    assert ev.is_set() is False
    ev.clear()
    assert ev.is_set() is False


def test_threading_wait_timeout():
    ev = aiosync.Event()
    assert ev.wait(0) is False
    assert ev.wait(0.01) is False
    assert ev.wait(timeout=0.01) is False
    ev.set()
    assert ev.wait(0) is True
    assert ev.wait(0.01) is True
    assert ev.wait() is True
    ev.clear()
    assert ev.wait(0.001) is False


def test_threading_bad_timeout():
    ev = aiosync.Event()
    with pytest.raises(ValueError):
        ev.wait(float("nan"))


def test_threading_wait_negative_timeout_returns_false():
    ev = aiosync.Event()
    t = run_in_thread(ev.wait, -1)
    t.join(0.5)
    hung = t.is_alive()
    ev.set()  # releases the thread if it hung
    t.join(DEADLINE)
    assert not hung, "Event.wait(-1) on an unset event did not return"
    ev.clear()
    assert ev.wait(-1) is False
    assert ev.wait(-5) is False


@pytest.mark.skipif(not hasattr(signal, "pthread_kill"), reason="needs pthread_kill")
def test_threading_wait_is_interruptible_by_signal_handler():
    class Interrupted(Exception):
        pass

    def handler(signum, frame):
        raise Interrupted

    old = signal.signal(signal.SIGUSR1, handler)
    main_thread = threading.get_ident()
    # The delay only lets the wait start first; an earlier signal would also interrupt.
    kick = threading.Timer(0.05, signal.pthread_kill, (main_thread, signal.SIGUSR1))
    try:
        start = time.monotonic()
        kick.start()
        with pytest.raises(Interrupted):
            aiosync.Event().wait(1.0)
        assert time.monotonic() - start < 0.5, "the handler ran only after the wait ended"
    finally:
        kick.join(DEADLINE)
        signal.signal(signal.SIGUSR1, old)


def test_threading_set_wakes_blocked_threads():
    ev = aiosync.Event()
    n = 6
    started = threading.Barrier(n + 1)

    def waiter():
        started.wait(DEADLINE)
        return ev.wait(DEADLINE), ev.is_set()

    threads = [run_in_thread(waiter) for _ in range(n)]
    started.wait(DEADLINE)
    ev.set()
    join_all(threads)
    assert [t.result for t in threads] == [(True, True)] * n


def test_threading_wait_times_out_while_others_wait():
    ev = aiosync.Event()
    started = threading.Barrier(2)

    def long_waiter():
        started.wait(DEADLINE)
        return ev.wait(DEADLINE)

    t = run_in_thread(long_waiter)
    started.wait(DEADLINE)
    assert ev.wait(0.01) is False  # a timed-out waiter leaves the other one waiting
    assert t.is_alive()
    ev.set()
    join_all([t])
    assert t.result is True


# -- mixed: threads and several loops ------------------------------------------------


def test_set_from_thread_wakes_three_loops_and_threads(loop_threads):
    ev = aiosync.Event()
    loops = loop_threads(3)
    tasks_per_loop = 4
    n_threads = 3

    started = threading.Barrier(n_threads + len(loops) + 1)

    async def loop_waiters():
        tasks = [asyncio.create_task(ev.wait()) for _ in range(tasks_per_loop)]
        await asyncio.sleep(0)  # every task is now queued on the event
        blocked = not any(t.done() for t in tasks)
        await asyncio.get_running_loop().run_in_executor(None, started.wait, DEADLINE)
        return blocked, await asyncio.wait_for(asyncio.gather(*tasks), DEADLINE)

    def thread_waiter():
        started.wait(DEADLINE)
        return ev.wait(DEADLINE)

    futs = [asyncio.run_coroutine_threadsafe(loop_waiters(), lp) for lp in loops]
    threads = [run_in_thread(thread_waiter) for _ in range(n_threads)]
    started.wait(DEADLINE)
    setter = run_in_thread(ev.set)
    join_all([setter, *threads])
    assert [t.result for t in threads] == [True] * n_threads
    for f in futs:
        blocked, results = f.result(DEADLINE)
        assert blocked
        assert results == [True] * tasks_per_loop


def test_set_then_clear_from_thread_wakes_waiters_in_every_loop(loop_threads):
    # Every loop's waiters are registered before the other thread's set(); clear(): all
    # of them must wake although the flag is already down again.
    ev = aiosync.Event()
    loops = loop_threads(3)
    registered = threading.Barrier(len(loops) + 1)

    async def loop_waiters():
        tasks = [asyncio.create_task(ev.wait()) for _ in range(3)]
        await asyncio.sleep(0)  # every task is now queued on the event
        assert not any(t.done() for t in tasks)
        await asyncio.get_running_loop().run_in_executor(None, registered.wait, DEADLINE)
        return await asyncio.wait_for(asyncio.gather(*tasks), DEADLINE)

    futs = [asyncio.run_coroutine_threadsafe(loop_waiters(), lp) for lp in loops]
    registered.wait(DEADLINE)

    def set_clear():
        ev.set()
        ev.clear()

    join_all([run_in_thread(set_clear)])
    assert not ev.is_set()
    for f in futs:
        assert f.result(DEADLINE) == [True, True, True]


def test_set_from_a_loop_wakes_threads_and_other_loops(loop_threads):
    ev = aiosync.Event()
    loops = loop_threads(3)
    started = threading.Barrier(3)  # two waiting threads + the setting loop

    async def wait_in_loop():
        return await asyncio.wait_for(ev.wait(), DEADLINE)

    async def set_in_loop():
        await asyncio.get_running_loop().run_in_executor(None, started.wait, DEADLINE)
        ev.set()
        return await ev.wait()  # already set: no waiting

    def thread_waiter():
        started.wait(DEADLINE)
        return ev.wait(DEADLINE)

    waiting = [asyncio.run_coroutine_threadsafe(wait_in_loop(), lp) for lp in loops[:2]]
    threads = [run_in_thread(thread_waiter) for _ in range(2)]
    setter = asyncio.run_coroutine_threadsafe(set_in_loop(), loops[2])
    assert setter.result(DEADLINE) is True
    join_all(threads)
    assert [t.result for t in threads] == [True, True]
    assert [f.result(DEADLINE) for f in waiting] == [True, True]
