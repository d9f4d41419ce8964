"""Queues: backpressure, janus-style views, threads and loops on one queue."""

import asyncio
import threading
from collections import Counter

import aiosync
import pytest
from _queue_helpers import ALL, ALL_THREADED, QueueShutDown, T, settle
from conftest import (
    join_all,
    rerun_in_subprocess,
    run_in_loop_thread,
    run_in_thread,
    run_python_isolated,
)


def test_bounded_backpressure_between_a_thread_and_a_loop(arun):
    q = aiosync.Queue(3)
    n = 300

    def producer():
        for i in range(n):
            q.put(i, timeout=T)

    prod = run_in_thread(producer)

    async def consumer():
        out = []
        for _ in range(n):
            assert q.qsize() <= 3
            out.append(await q.get())
            if len(out) % 7 == 0:
                await asyncio.sleep(0)
        return out

    out = arun(consumer(), T)
    join_all([prod], T)
    assert out == list(range(n))  # one producer, FIFO: order kept
    assert q.empty()


# --- janus-style views ---------------------------------------------------------------------


@pytest.mark.parametrize("cls", ALL)
def test_views_share_one_queue(cls, arun):
    q = cls(2)
    s, a = q.sync_q, q.async_q
    assert s.maxsize == a.maxsize == q.maxsize == 2
    s.put_nowait(1)
    assert q.qsize() == s.qsize() == a.qsize() == 1
    a.put_nowait(2)
    assert q.full() and s.full() and a.full()
    with pytest.raises(aiosync.QueueFull):
        s.put(3, block=False)
    with pytest.raises(aiosync.QueueFull):
        s.put(3, timeout=0.01)
    with pytest.raises(aiosync.QueueFull):
        a.put_nowait(3)
    assert sorted([s.get(), a.get_nowait()]) == [1, 2]
    assert s.empty() and a.empty() and q.empty()
    with pytest.raises(aiosync.QueueEmpty):
        s.get(block=False)
    with pytest.raises(aiosync.QueueEmpty):
        s.get(timeout=0.01)
    with pytest.raises(aiosync.QueueEmpty):
        a.get_nowait()
    assert s.unfinished_tasks == 2
    s.task_done()
    a.task_done()
    assert s.unfinished_tasks == 0
    with pytest.raises(ValueError):
        a.task_done()
    s.join()

    async def main():
        await a.put(5)
        assert s.get_nowait() == 5
        s.task_done()
        await a.join()
        # The sync view blocks even on a loop thread.
        assert s.put(6) is None
        assert s.get(timeout=0.01) == 6
        with pytest.raises(aiosync.QueueEmpty):
            s.get(timeout=0.01)
        s.task_done()
        a.shutdown()
        with pytest.raises(QueueShutDown):
            await a.get()
        with pytest.raises(QueueShutDown):
            s.put(7)

    arun(main(), T)


def test_views_between_thread_and_loop_janus_style(arun):
    q = aiosync.Queue(5)
    n = 200

    def thread_producer():
        for i in range(n):
            q.sync_q.put(i)
        q.sync_q.join()

    async def async_consumer():
        out = []
        for _ in range(n):
            out.append(await q.async_q.get())
            q.async_q.task_done()
        return out

    prod = run_in_thread(thread_producer)
    assert arun(async_consumer(), T) == list(range(n))
    join_all([prod], T)

    def thread_consumer():
        out = [q.sync_q.get(timeout=T) for _ in range(n)]
        for _ in out:
            q.sync_q.task_done()
        return out

    async def async_producer():
        for i in range(n):
            await q.async_q.put(i)
        await asyncio.wait_for(q.async_q.join(), T)

    cons = run_in_thread(thread_consumer)
    arun(async_producer(), T)
    join_all([cons], T)
    assert cons.result == list(range(n))


# --- threads and several loops on one queue ----------------------------------------------------


def test_wakeups_across_threads_and_loops(arun):
    q = aiosync.Queue()
    # A thread blocked in get, woken by a put from a loop.
    getter = run_in_thread(q.get, timeout=T)

    async def put_from_loop():
        await q.put("from-loop")

    arun(put_from_loop(), T)
    join_all([getter], T)
    assert getter.result == "from-loop"

    # A task blocked in get on one loop, woken by a put from another loop.
    ready = threading.Event()

    async def get_in_loop():
        task = asyncio.create_task(q.get())
        await settle()
        ready.set()
        return await asyncio.wait_for(task, T)

    results = []

    async def wrapper():
        results.append(await get_in_loop())

    waiting = run_in_loop_thread(wrapper, timeout=T)
    assert ready.wait(T)
    arun(put_from_loop(), T)
    join_all([waiting], T)
    assert results == ["from-loop"]

    # A task blocked in get, woken by a blocking put from a thread.
    ready.clear()
    results.clear()
    waiting = run_in_loop_thread(wrapper, timeout=T)
    assert ready.wait(T)
    q.put("from-thread")
    join_all([waiting], T)
    assert results == ["from-thread"]


@pytest.mark.parametrize("cls", ALL_THREADED)
def test_threads_and_loops_share_one_queue(cls, request):
    if cls is aiosync.PriorityQueue and rerun_in_subprocess(request, 2.5):
        return
    q = cls(4)
    per_producer = 150
    producers = 4
    consumed: list = []
    consumed_lock = threading.Lock()

    def thread_producer(p):
        for i in range(per_producer):
            q.put((p, i))

    async def loop_producer(p):
        for i in range(per_producer):
            await q.put((p, i))

    def thread_consumer():
        mine = []
        while True:
            try:
                mine.append(q.get())
            except QueueShutDown:
                break
            q.task_done()
        with consumed_lock:
            consumed.extend(mine)

    async def loop_consumer():
        async def one():
            mine = []
            while True:
                try:
                    mine.append(await q.get())
                except QueueShutDown:
                    return mine
                q.task_done()

        for mine in await asyncio.gather(one(), one()):
            with consumed_lock:
                consumed.extend(mine)

    workers = [run_in_thread(thread_producer, 0), run_in_thread(thread_producer, 1)]
    workers += [run_in_loop_thread(lambda p=p: loop_producer(p), timeout=T) for p in (2, 3)]
    consumers = [run_in_thread(thread_consumer)]
    consumers += [run_in_loop_thread(loop_consumer, timeout=2 * T) for _ in range(2)]
    join_all(workers, T)
    join_all([run_in_thread(q.join)], T)
    q.shutdown()
    join_all(consumers, T)
    expected = [(p, i) for p in range(producers) for i in range(per_producer)]
    assert Counter(consumed) == Counter(expected)
    assert len(consumed) == len(expected)


PQ_DEADLOCK_REPRO = """
import threading, time, aiosync
q = aiosync.PriorityQueue()
start = threading.Barrier(2)
puts = [0]

def putter():
    start.wait()
    end = time.monotonic() + 1.0
    while time.monotonic() < end:
        for _ in range(100):
            q.put_nowait(puts[0])
            puts[0] += 1

def finisher():
    start.wait()
    end = time.monotonic() + 1.0
    while time.monotonic() < end:
        try:
            q.task_done()
        except ValueError:
            pass

threads = [threading.Thread(target=f) for f in (putter, finisher)]
for t in threads:
    t.start()
for t in threads:
    t.join()
assert q.qsize() == puts[0]
print("ok")
"""


def test_priority_queue_put_vs_task_done_deadlock():
    """One thread puts into a PriorityQueue while another calls task_done: the putter
    holds the queue's lock and waits for the GIL (to compare), the other holds the GIL and
    waits for the lock. Run in a child interpreter: the deadlock freezes it entirely."""
    r = run_python_isolated(PQ_DEADLOCK_REPRO, timeout=2.5)
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr[-2000:]
