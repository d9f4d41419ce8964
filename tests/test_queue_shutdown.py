"""Queues: the 3.13 shutdown semantics, for threads and tasks."""

import asyncio
import threading
import time

import aiosync
import pytest
from _queue_helpers import ALL, QueueShutDown, T, settle
from conftest import (
    join_all,
    run_in_loop_thread,
    run_in_thread,
)

# --- shutdown (Python 3.13 semantics) -------------------------------------------------------


def test_shutdown_allowed_transitions():
    q = aiosync.Queue()
    assert not q.is_shutdown
    q.shutdown()
    assert q.is_shutdown
    q.shutdown(immediate=True)
    assert q.is_shutdown
    q.shutdown(immediate=False)
    assert q.is_shutdown


@pytest.mark.parametrize("immediate", [False, True])
@pytest.mark.parametrize("cls", ALL)
def test_shutdown_empty(cls, immediate, arun):
    q = cls(2)
    q.shutdown(immediate)
    for attempt in (
        lambda: q.put("x"),
        lambda: q.put("x", block=False),
        lambda: q.put("x", timeout=0.01),
        lambda: q.put_nowait("x"),
        q.get,
        lambda: q.get(block=False),
        lambda: q.get(timeout=0.01),
        q.get_nowait,
    ):
        with pytest.raises(QueueShutDown):
            attempt()

    async def main():
        with pytest.raises(QueueShutDown):
            await q.put("x")
        with pytest.raises(QueueShutDown):
            await q.get()
        await q.join()

    arun(main(), T)
    assert q.empty()
    q.join()


@pytest.mark.parametrize("cls", ALL)
def test_shutdown_all_methods_in_one_thread(cls):
    """CPython test_queue.test_shutdown_all_methods_in_one_thread."""
    q = cls(2)
    q.put("L")
    q.put_nowait("O")
    q.shutdown()
    with pytest.raises(QueueShutDown):
        q.put("E")
    with pytest.raises(QueueShutDown):
        q.put_nowait("W")
    got = [q.get(), q.get_nowait()]
    assert sorted(got) == ["L", "O"]
    q.task_done()
    q.task_done()
    with pytest.raises(QueueShutDown):
        q.get()
    with pytest.raises(QueueShutDown):
        q.get_nowait()
    q.join()


@pytest.mark.parametrize("cls", ALL)
def test_shutdown_immediate_all_methods_in_one_thread(cls):
    """CPython test_queue.test_shutdown_immediate_all_methods_in_one_thread."""
    q = cls(2)
    q.put("L")
    q.put_nowait("O")
    q.shutdown(immediate=True)
    assert q.qsize() == 0
    with pytest.raises(QueueShutDown):
        q.put("E")
    with pytest.raises(QueueShutDown):
        q.put_nowait("W")
    with pytest.raises(QueueShutDown):
        q.get()
    with pytest.raises(QueueShutDown):
        q.get_nowait()
    with pytest.raises(ValueError):
        q.task_done()  # the dropped items counted as done
    q.join()


def test_shutdown_getters_drain_then_fail_async(arun):
    async def main():
        q = aiosync.Queue()
        for i in range(5):
            await q.put(i)
        q.shutdown()
        got = []
        with pytest.raises(QueueShutDown):
            while True:
                got.append(await q.get())
        assert got == list(range(5))
        for _ in got:
            q.task_done()
        await asyncio.wait_for(q.join(), T)

    arun(main(), T)


@pytest.mark.parametrize("immediate", [False, True])
def test_shutdown_releases_waiting_getters(immediate):
    q = aiosync.Queue()
    # One getter blocked in a thread, and tasks waiting in two other loops.
    thread_getter = run_in_thread(lambda: pytest.raises(QueueShutDown, q.get))
    started = threading.Barrier(3, timeout=T)

    async def loop_getters():
        tasks = [asyncio.create_task(q.get()) for _ in range(3)]
        await settle()
        await asyncio.get_running_loop().run_in_executor(None, started.wait)
        results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), T)
        assert all(isinstance(r, QueueShutDown) for r in results), results

    loops = [run_in_loop_thread(loop_getters, timeout=T) for _ in range(2)]
    started.wait()
    time.sleep(0.02)  # only makes it likely the thread is waiting already
    q.shutdown(immediate)
    join_all(loops + [thread_getter], T)
    assert q.empty()


@pytest.mark.parametrize("immediate", [False, True])
def test_shutdown_releases_waiting_putters(immediate, arun):
    q = aiosync.Queue(2)
    q.put("a")
    q.put("b")
    thread_putter = run_in_thread(lambda: pytest.raises(QueueShutDown, q.put, "thread"))

    async def main():
        tasks = [asyncio.create_task(q.put(f"task{i}")) for i in range(3)]
        await settle()
        assert not any(t.done() for t in tasks)
        time.sleep(0.02)  # only makes it likely the thread is waiting already
        q.shutdown(immediate)
        results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), T)
        assert all(isinstance(r, QueueShutDown) for r in results), results

    arun(main(), T)
    join_all([thread_putter], T)
    if immediate:
        assert q.qsize() == 0
        with pytest.raises(QueueShutDown):
            q.get_nowait()
    else:
        # The waiting putters inserted nothing: only the two items from before.
        assert [q.get_nowait(), q.get_nowait()] == ["a", "b"]
        with pytest.raises(QueueShutDown):
            q.get_nowait()


def test_shutdown_immediate_with_unfinished_tasks(arun):
    """Only the dropped items count as done: items already got still need task_done."""

    async def main():
        q = aiosync.Queue()
        for i in range(3):
            await q.put(i)
        assert q.get_nowait() == 0
        joiner = asyncio.create_task(q.join())
        thread_joiner = run_in_thread(q.join)
        await settle()
        q.shutdown(immediate=True)
        assert q.qsize() == 0
        assert q.sync_q.unfinished_tasks == 1
        await settle()
        assert not joiner.done()
        assert thread_joiner.is_alive()
        q.task_done()
        await asyncio.wait_for(joiner, T)
        thread_joiner.join(T)
        assert not thread_joiner.is_alive()
        with pytest.raises(ValueError):
            q.task_done()

    arun(main(), T)


def test_shutdown_immediate_releases_join(arun):
    async def main():
        q = aiosync.Queue()
        for i in range(3):
            q.put_nowait(i)
        joiner = asyncio.create_task(q.join())
        await settle()
        assert not joiner.done()
        q.shutdown(immediate=True)
        await asyncio.wait_for(joiner, T)

    arun(main(), T)
