import asyncio
import threading

import aiosync
import pytest
from conftest import join_all, run_in_loop_thread


def test_threading_api():
    lock = aiosync.Lock()
    assert lock.acquire() is True
    assert lock.locked()
    assert lock.acquire(blocking=False) is False
    assert lock.acquire(timeout=0.01) is False
    lock.release()
    assert not lock.locked()
    with pytest.raises(RuntimeError):
        lock.release()
    with lock:
        assert lock.locked()
    assert not lock.locked()


def test_bad_arguments():
    lock = aiosync.Lock()
    with pytest.raises(ValueError):
        lock.acquire(blocking=False, timeout=1)
    with pytest.raises(ValueError):
        lock.acquire(timeout=-5)


def test_asyncio_fifo(arun):
    async def main():
        lock = aiosync.Lock()
        order = []

        async def worker(i):
            async with lock:
                order.append(i)
                await asyncio.sleep(0)

        await asyncio.gather(*(worker(i) for i in range(20)))
        return order

    assert arun(main()) == list(range(20))


def test_cancelled_waiter_is_skipped_and_woken_cancelled_passes_on(arun):
    async def main():
        lock = aiosync.Lock()
        await lock.acquire()
        a = asyncio.create_task(lock.acquire())
        b = asyncio.create_task(lock.acquire())
        await asyncio.sleep(0)
        a.cancel()
        lock.release()  # a was cancelled: b must get it
        assert await b is True
        assert lock.locked()
        c = asyncio.create_task(lock.acquire())
        await asyncio.sleep(0)
        lock.release()  # c is woken...
        c.cancel()  # ...and cancelled before it runs: the lock is passed on (free)
        with pytest.raises(asyncio.CancelledError):
            await c
        assert not lock.locked()

    arun(main())


def test_threads_and_loops_share_one_lock():
    lock = aiosync.Lock()
    state = {"n": 0}
    rounds = 500

    async def loop_worker():
        for _ in range(rounds):
            async with lock:
                v = state["n"]
                await asyncio.sleep(0)
                state["n"] = v + 1

    def thread_worker():
        for _ in range(rounds):
            with lock:
                v = state["n"]
                state["n"] = v + 1

    threads = [run_in_loop_thread(loop_worker) for _ in range(3)]
    threads += [threading.Thread(target=thread_worker) for _ in range(4)]
    for t in threads[3:]:
        t.start()
    join_all(threads)
    assert state["n"] == 7 * rounds


def test_blocking_acquire_on_own_loop_raises(arun):
    async def main():
        lock = aiosync.Lock()
        await lock.acquire()
        with pytest.raises(RuntimeError):
            with lock:
                pass
        lock.release()

    arun(main())
