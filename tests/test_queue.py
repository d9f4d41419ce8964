"""Queue, LifoQueue and PriorityQueue: asyncio.Queue and queue.Queue on one object.

Mirrors CPython's Lib/test/test_asyncio/test_queues.py and Lib/test/test_queue.py where
they apply (orderings, nowait calls, blocking calls, join/task_done, the 3.13 shutdown
semantics), then covers what only a shared queue has: cancel safety across the fast and
slow paths, janus-style views, and threads and event loops on one queue.
"""

import asyncio
import inspect
import queue
import threading
import time
from collections import Counter

import aiosync
import pytest
from conftest import (
    join_all,
    rerun_in_subprocess,
    run_in_loop_thread,
    run_in_thread,
    run_python_isolated,
)

ALL = [aiosync.Queue, aiosync.LifoQueue, aiosync.PriorityQueue]
ORDER = {
    aiosync.Queue: [111, 333, 222],
    aiosync.LifoQueue: [222, 333, 111],
    aiosync.PriorityQueue: [111, 222, 333],
}
QUEUE_SIZE = 5
T = 5.0  # deadline for a single wait inside a test

QueueShutDown = aiosync.QueueShutDown

# Threads calling task_done while others put: a PriorityQueue compares with Python code
# under its lock, so every one of its operations releases the GIL first (or the two
# would deadlock); see test_priority_queue_put_vs_task_done_deadlock.
ALL_THREADED = [
    aiosync.Queue,
    aiosync.LifoQueue,
    aiosync.PriorityQueue,
]


async def settle(rounds: int = 5) -> None:
    """Lets every ready task of this loop run a few steps (deterministic: one loop)."""
    for _ in range(rounds):
        await asyncio.sleep(0)


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
