"""Queues: exception classes, orderings, nowait and blocking forms, timeouts, join."""

import asyncio
import inspect
import queue
import threading
import time

import aiosync
import pytest
from _queue_helpers import ALL, ALL_THREADED, QueueShutDown, T, settle
from conftest import (
    join_all,
    rerun_in_subprocess,
    run_in_loop_thread,
    run_in_thread,
)

ORDER = {
    aiosync.Queue: [111, 333, 222],
    aiosync.LifoQueue: [222, 333, 111],
    aiosync.PriorityQueue: [111, 222, 333],
}
QUEUE_SIZE = 5


def do_blocking_test(block_func, block_args, trigger_func, trigger_args):
    """CPython's do_blocking_test: `block_func` must not return before `trigger_func` ran."""
    triggered = threading.Event()

    def trigger():
        time.sleep(0.02)  # only makes it likely that block_func is waiting already
        triggered.set()
        trigger_func(*trigger_args)

    blocker = run_in_thread(block_func, *block_args)
    trig = run_in_thread(trigger)
    join_all([blocker, trig], T)
    assert triggered.is_set(), "blocking call returned before it was unblocked"
    return blocker.result


# --- exceptions -----------------------------------------------------------------------


def test_exception_classes_are_asyncio_and_queue_ones():
    assert issubclass(aiosync.QueueEmpty, asyncio.QueueEmpty)
    assert issubclass(aiosync.QueueEmpty, queue.Empty)
    assert issubclass(aiosync.QueueFull, asyncio.QueueFull)
    assert issubclass(aiosync.QueueFull, queue.Full)
    assert issubclass(QueueShutDown, Exception)
    for base in (getattr(asyncio, "QueueShutDown", None), getattr(queue, "ShutDown", None)):
        if base is not None:  # Python 3.13+
            assert issubclass(QueueShutDown, base)


@pytest.mark.parametrize("cls", ALL)
def test_nowait_errors_are_caught_by_both_spellings(cls):
    q = cls(1)
    q.put_nowait(1)
    with pytest.raises(asyncio.QueueFull):
        q.put_nowait(2)
    with pytest.raises(queue.Full):
        q.put_nowait(2)
    assert q.qsize() == 1
    assert q.get_nowait() == 1
    with pytest.raises(asyncio.QueueEmpty):
        q.get_nowait()
    with pytest.raises(queue.Empty):
        q.get_nowait()
    assert q.qsize() == 0


# --- orderings and sizes ----------------------------------------------------------------


@pytest.mark.parametrize("cls", ALL)
def test_simple_queue_threading(cls):
    """CPython test_queue.BaseQueueTestMixin.simple_queue_test."""
    q = cls(QUEUE_SIZE)
    assert q.maxsize == QUEUE_SIZE
    assert q.empty() and not q.full() and q.qsize() == 0
    for v in (111, 333, 222):
        q.put(v)
    assert [q.get(), q.get(), q.get()] == ORDER[cls]
    for i in range(QUEUE_SIZE - 1):
        q.put(i)
        assert q.qsize() == i + 1
    assert not q.full()
    last, full = 2 * QUEUE_SIZE, 3 * 2 * QUEUE_SIZE
    q.put(last)
    assert q.full() and not q.empty() and q.qsize() == QUEUE_SIZE
    for attempt in (
        lambda: q.put(full, block=False),
        lambda: q.put(full, False),
        lambda: q.put(full, timeout=0.01),
        lambda: q.put(full, True, 0.01),
        lambda: q.put_nowait(full),
    ):
        with pytest.raises(aiosync.QueueFull):
            attempt()
    assert q.qsize() == QUEUE_SIZE
    # A blocking put, released by a get in another thread.
    do_blocking_test(q.put, (full,), q.get, ())
    do_blocking_test(q.put, (full, True, 10), q.get, ())
    assert q.qsize() == QUEUE_SIZE
    for _ in range(QUEUE_SIZE):
        q.get()
    assert q.empty() and q.qsize() == 0
    for attempt in (
        lambda: q.get(block=False),
        lambda: q.get(False),
        lambda: q.get(timeout=0.01),
        lambda: q.get(True, 0.01),
        q.get_nowait,
    ):
        with pytest.raises(aiosync.QueueEmpty):
            attempt()
    # A blocking get, released by a put in another thread.
    assert do_blocking_test(q.get, (), q.put, ("empty",)) == "empty"
    assert do_blocking_test(q.get, (True, 10), q.put, ("empty",)) == "empty"
    assert q.empty()


@pytest.mark.parametrize("cls", ALL)
def test_order_asyncio(cls, arun):
    async def main():
        q = cls()
        for v in (111, 333, 222):
            await q.put(v)
        assert q.qsize() == 3
        return [await q.get() for _ in range(3)]

    assert arun(main(), T) == ORDER[cls]


@pytest.mark.parametrize("cls", ALL)
def test_order_with_more_items(cls):
    items = [5, 3, 9, 1, 7, 2, 8, 0, 6, 4]
    q = cls()
    for v in items:
        q.put_nowait(v)
    out = [q.get_nowait() for _ in items]
    expected = {
        aiosync.Queue: items,
        aiosync.LifoQueue: items[::-1],
        aiosync.PriorityQueue: sorted(items),
    }[cls]
    assert out == expected


def test_priority_queue_with_tuples(arun):
    items = [(3, "c"), (1, "b"), (1, "a"), (2, "x"), (0, "z"), (2, "a")]

    q = aiosync.PriorityQueue()
    for it in items:
        q.put(it)
    assert [q.get() for _ in items] == sorted(items)

    async def main():
        q = aiosync.PriorityQueue(2)  # bounded: most puts wait for room
        out = []

        async def producer():
            for it in items:
                await q.put(it)

        async def consumer():
            for _ in items:
                out.append(await q.get())

        await asyncio.gather(producer(), consumer())
        assert q.empty()
        return out

    out = arun(main(), T)
    assert sorted(out) == sorted(items)  # everything, once
    q = aiosync.PriorityQueue()
    q.put_nowait((2, "b"))
    q.put_nowait((2, "a"))
    q.put_nowait((1, "z"))
    assert q.get_nowait() == (1, "z")
    assert q.get_nowait() == (2, "a")  # ties broken by the tuple's next field
    assert q.get_nowait() == (2, "b")


@pytest.mark.parametrize("cls", ALL)
def test_maxsize_full_empty_qsize(cls):
    q = cls(maxsize=2)
    assert q.maxsize == 2
    assert q.empty() and not q.full()
    q.put_nowait(1)
    assert not q.empty() and not q.full() and q.qsize() == 1
    q.put_nowait(2)
    assert q.full() and q.qsize() == 2
    q.get_nowait()
    assert not q.full() and q.qsize() == 1

    for unbounded in (cls(), cls(0), cls(-1)):
        for i in range(1000):
            unbounded.put_nowait(i)
        assert not unbounded.full()
        assert unbounded.qsize() == 1000


# --- which form a call takes ----------------------------------------------------------------


def test_no_running_loop_means_blocking_forms():
    q = aiosync.Queue()
    assert q.put(1) is None
    assert q.get() == 1
    q.task_done()
    assert q.join() is None


def test_threading_style_arguments_inside_a_loop_are_blocking(arun):
    async def main():
        q = aiosync.Queue(1)
        with pytest.raises(aiosync.QueueEmpty):
            q.get(block=False)  # raises now: not an awaitable
        with pytest.raises(aiosync.QueueEmpty):
            q.get(timeout=0.01)
        assert q.put(1, block=False) is None
        with pytest.raises(aiosync.QueueFull):
            q.put(2, timeout=0.01)
        with pytest.raises(aiosync.QueueFull):
            q.put(2, False)
        assert q.get(block=False) == 1
        # No threading arguments and a running loop: awaitables.
        p = q.put(3)
        assert inspect.isawaitable(p)
        await p
        g = q.get()
        assert inspect.isawaitable(g)
        assert await g == 3
        q.task_done()
        q.task_done()  # two items were put (1 and 3)
        j = q.join()
        assert inspect.isawaitable(j)
        await j

    arun(main(), T)


def test_blocking_timeouts_wait_their_time():
    q = aiosync.Queue(1)
    t0 = time.monotonic()
    with pytest.raises(queue.Empty):
        q.get(timeout=0.1)
    assert time.monotonic() - t0 >= 0.09
    with pytest.raises(asyncio.QueueEmpty):
        q.get(timeout=0.01)
    q.put(1)
    t0 = time.monotonic()
    with pytest.raises(queue.Full):
        q.put(2, timeout=0.1)
    assert time.monotonic() - t0 >= 0.09
    with pytest.raises(asyncio.QueueFull):
        q.put(2, block=False)
    assert q.get_nowait() == 1


def test_negative_timeout_raises_value_error():
    q = aiosync.Queue(QUEUE_SIZE)
    with pytest.raises(ValueError):
        q.put(1, timeout=-0.5)
    with pytest.raises(ValueError):
        q.get(timeout=-0.5)
    assert q.empty()


def test_timeout_minus_one_raises_value_error():
    """CPython test_queue.test_negative_timeout_raises_exception uses exactly -1."""
    q = aiosync.Queue(QUEUE_SIZE)
    with pytest.raises(ValueError):
        q.put(1, timeout=-1)
    with pytest.raises(ValueError):
        q.get(True, timeout=-1)


# --- task_done / join ---------------------------------------------------------------------


@pytest.mark.parametrize("cls", ALL)
def test_task_done_too_many_raises_value_error(cls):
    q = cls()
    with pytest.raises(ValueError):
        q.task_done()
    q.put_nowait(1)
    q.put_nowait(2)
    q.get_nowait()
    q.task_done()
    q.task_done()  # counts items put, not items got (as CPython does)
    with pytest.raises(ValueError):
        q.task_done()
    assert q.sync_q.unfinished_tasks == 0


@pytest.mark.parametrize("cls", ALL_THREADED)
def test_join_with_worker_threads(cls, request):
    """CPython test_queue.queue_join_test, twice on one queue."""
    if cls is aiosync.PriorityQueue and rerun_in_subprocess(request, 2.5):
        return
    q = cls()
    cum = [0]
    cum_lock = threading.Lock()

    def worker():
        while True:
            x = q.get()
            if x < 0:
                q.task_done()
                return
            with cum_lock:
                cum[0] += x
            q.task_done()

    for _ in range(2):
        cum[0] = 0
        workers = [run_in_thread(worker) for _ in range(2)]
        for i in range(100):
            q.put(i)
        joiner = run_in_thread(q.join)
        join_all([joiner], T)
        assert cum[0] == sum(range(100))
        for _ in workers:
            q.put(-1)
        join_all(workers, T)
        join_all([run_in_thread(q.join)], T)
        assert q.sync_q.unfinished_tasks == 0


@pytest.mark.parametrize("cls", ALL)
def test_join_with_worker_tasks(cls, arun):
    """asyncio test_queues test_task_done: workers are cancelled while waiting in get."""

    async def main():
        q = cls()
        for i in range(100):
            q.put_nowait(i)
        total = 0

        async def worker():
            nonlocal total
            while True:
                item = await q.get()
                total += item
                await asyncio.sleep(0)
                q.task_done()

        tasks = [asyncio.create_task(worker()) for _ in range(3)]
        await asyncio.wait_for(q.join(), T)
        assert total == sum(range(100))
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # The cancelled getters took nothing: the queue still works.
        q.put_nowait("after")
        assert q.get_nowait() == "after"

    arun(main(), 2 * T)


def test_join_empty_queue_returns_at_once(arun):
    q = aiosync.Queue()
    q.join()
    q.join()

    async def main():
        await q.join()
        await q.join()

    arun(main(), T)


def test_join_waits_for_every_task_done(arun):
    async def main():
        q = aiosync.Queue()
        q.put_nowait(1)
        q.put_nowait(2)
        joiner = asyncio.create_task(q.join())
        q.get_nowait()
        q.get_nowait()
        await settle()
        assert not joiner.done()  # both items got, none done
        q.task_done()
        await settle()
        assert not joiner.done()
        q.task_done()
        await asyncio.wait_for(joiner, T)

    arun(main(), T)


def test_join_in_thread_released_by_task_done_in_loops():
    q = aiosync.Queue()
    for i in range(40):
        q.put(i)
    joiner = run_in_thread(q.join)

    async def consumer():
        while True:
            try:
                q.get_nowait()
            except aiosync.QueueEmpty:
                return
            await asyncio.sleep(0)
            q.task_done()

    join_all([run_in_loop_thread(consumer, timeout=T) for _ in range(2)], T)
    join_all([joiner], T)
    assert q.sync_q.unfinished_tasks == 0
