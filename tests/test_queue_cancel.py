"""Queues: cancel safety of get and put, and FIFO order of waiters."""

import asyncio
import threading

import aiosync
import pytest
from _queue_helpers import ALL, T, settle
from conftest import (
    join_all,
    run_in_thread,
)

# --- cancellation -----------------------------------------------------------------------


def test_cancelled_get_after_a_put_woke_it_keeps_the_item(arun):
    async def main():
        q = aiosync.Queue()
        getter = asyncio.create_task(q.get())
        await settle()
        q.put_nowait("x")  # hands the item to the waiting getter...
        getter.cancel()  # ...which is cancelled before it runs
        with pytest.raises(asyncio.CancelledError):
            await getter
        assert q.qsize() == 1
        assert q.get_nowait() == "x"

    arun(main(), T)


def test_cancelled_getter_passes_the_item_to_the_next(arun):
    """asyncio test_queues test_get_cancelled_race, and the woken-then-cancelled case."""

    async def main():
        q = aiosync.Queue()
        g1 = asyncio.create_task(q.get())
        g2 = asyncio.create_task(q.get())
        await settle()
        g1.cancel()
        await settle()
        assert g1.done()
        q.put_nowait("a")
        assert await asyncio.wait_for(g2, T) == "a"

        g3 = asyncio.create_task(q.get())
        g4 = asyncio.create_task(q.get())
        await settle()
        q.put_nowait("b")  # earmarked for g3
        g3.cancel()
        assert await asyncio.wait_for(g4, T) == "b"
        with pytest.raises(asyncio.CancelledError):
            await g3
        assert q.empty()

    arun(main(), T)


def test_get_timeouts_leave_no_phantom_getter(arun):
    async def main():
        q = aiosync.Queue()
        for _ in range(5):
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(q.get(), 0.005)
        q.put_nowait(1)
        assert q.qsize() == 1
        assert q.get_nowait() == 1
        with pytest.raises(aiosync.QueueEmpty):
            q.get(timeout=0.005)
        q.put_nowait(2)
        assert q.get_nowait() == 2

    arun(main(), T)


def test_get_within_wait_for_receives_a_later_put(arun):
    """asyncio test_queues test_get_cancelled: the get completes inside wait_for."""

    async def main():
        q = aiosync.Queue()
        task = asyncio.create_task(asyncio.wait_for(q.get(), T))
        await settle()
        q.put_nowait(1)
        assert await task == 1
        assert q.empty()

    arun(main(), 2 * T)


def test_cancelled_get_racing_a_put_from_another_thread_loses_nothing(arun):
    """A put from another thread wakes the getter while the loop cancels it: every item
    ends up either returned by the get or still in the queue, exactly once."""
    rounds = 200
    q = aiosync.Queue()
    go = threading.Semaphore(0)
    stop = object()

    async def main():
        loop = asyncio.get_running_loop()
        put_done = asyncio.Event()

        def producer():
            while True:
                go.acquire()
                item = box[0]
                if item is stop:
                    return
                q.put(item)
                loop.call_soon_threadsafe(put_done.set)

        box = [None]
        prod = run_in_thread(producer)
        received = cancelled = 0
        for i in range(rounds):
            put_done.clear()
            getter = asyncio.create_task(q.get())
            await asyncio.sleep(0)
            box[0] = i
            go.release()
            for _ in range(i % 4):
                await asyncio.sleep(0)
            getter.cancel()
            await asyncio.wait_for(put_done.wait(), T)
            try:
                v = await getter
            except asyncio.CancelledError:
                cancelled += 1
                assert q.get_nowait() == i
            else:
                received += 1
                assert v == i
            assert q.empty()
        box[0] = stop
        go.release()
        join_all([prod], T)
        return received, cancelled

    received, cancelled = arun(main(), 2 * T)
    assert received + cancelled == rounds


def test_cancelled_put_never_inserts(arun):
    async def main():
        q = aiosync.Queue(1)
        q.put_nowait("a")
        putter = asyncio.create_task(q.put("b"))
        await settle()
        putter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await putter
        assert q.get_nowait() == "a"
        assert q.empty()
        q.put_nowait("c")  # the room the cancelled putter waited for is free
        assert q.full()
        for _ in range(3):
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(q.put("d"), 0.005)
        assert q.get_nowait() == "c"
        assert q.empty()

    arun(main(), T)


def test_cancelled_put_after_a_get_woke_it_passes_the_room_on(arun):
    """asyncio test_queues test_put_cancelled_race, and the woken-then-cancelled case."""

    async def main():
        q = aiosync.Queue(1)
        put_a = asyncio.create_task(q.put("a"))
        put_b = asyncio.create_task(q.put("b"))
        put_c = asyncio.create_task(q.put("X"))
        await settle()
        assert put_a.done() and not put_b.done() and not put_c.done()
        put_c.cancel()
        await settle()
        assert put_c.done()
        assert q.get_nowait() == "a"
        await settle()
        assert put_b.done()
        assert q.get_nowait() == "b"
        assert q.empty()

        q.put_nowait("first")
        p1 = asyncio.create_task(q.put("cancelled"))
        p2 = asyncio.create_task(q.put("second"))
        await settle()
        assert q.get_nowait() == "first"  # the room goes to p1...
        p1.cancel()  # ...which is cancelled before it runs
        with pytest.raises(asyncio.CancelledError):
            await p1
        await asyncio.wait_for(p2, T)
        assert q.get_nowait() == "second"
        assert q.empty()

    arun(main(), T)


async def _get_cancelled_before_it_runs(q):
    q.put_nowait(1)
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(q.get(), 0)
    task = asyncio.ensure_future(q.get())
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert q.qsize() == 1, "a get cancelled before it ever ran took the item"
    assert q.get_nowait() == 1


async def _put_cancelled_before_it_runs(q):
    task = asyncio.ensure_future(q.put("x"))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert q.qsize() == 0, "a put cancelled before it ever ran inserted its item"


@pytest.mark.parametrize(
    "make",
    [asyncio.Queue, aiosync.Queue],
    ids=["asyncio-control", "aiosync"],
)
def test_get_cancelled_before_it_runs_keeps_the_item(make, arun):
    arun(_get_cancelled_before_it_runs(make()), T)


@pytest.mark.parametrize(
    "make",
    [asyncio.Queue, aiosync.Queue],
    ids=["asyncio-control", "aiosync"],
)
def test_put_cancelled_before_it_runs_does_not_insert(make, arun):
    arun(_put_cancelled_before_it_runs(make()), T)


# --- backpressure and fairness -------------------------------------------------------------


@pytest.mark.parametrize("cls", ALL)
def test_waiting_putters_go_in_fifo_order(cls, arun):
    async def main():
        q = cls(2)
        q.put_nowait(-2)
        q.put_nowait(-1)
        done = []

        async def putter(i):
            await q.put(i)
            done.append(i)

        tasks = []
        for i in range(6):
            tasks.append(asyncio.create_task(putter(i)))
            await asyncio.sleep(0)  # queue them in this order
        await settle()
        assert done == []
        assert q.qsize() == 2
        got = []
        while len(got) < 8:
            got.append(q.get_nowait())
            await settle()
            assert q.qsize() <= 2
        await asyncio.wait_for(asyncio.gather(*tasks), T)
        assert done == list(range(6))
        assert sorted(got) == list(range(-2, 6))
        if cls is aiosync.Queue:
            assert got == list(range(-2, 6))

    arun(main(), T)


def test_waiting_getters_served_in_fifo_order(arun):
    async def main():
        q = aiosync.Queue()
        tasks = []
        for _ in range(5):
            tasks.append(asyncio.create_task(q.get()))
            await asyncio.sleep(0)
        await settle()
        for i in range(5):
            q.put_nowait(i)
        assert await asyncio.wait_for(asyncio.gather(*tasks), T) == list(range(5))

    arun(main(), T)


def test_get_with_waiting_putters(arun):
    """asyncio test_queues test_get_with_waiting_putters."""

    async def main():
        q = aiosync.Queue(1)
        asyncio.create_task(q.put("a"))
        asyncio.create_task(q.put("b"))
        await settle()
        assert await asyncio.wait_for(q.get(), T) == "a"
        assert await asyncio.wait_for(q.get(), T) == "b"

    arun(main(), T)
