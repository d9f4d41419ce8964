"""The queue surfaces beyond the basics: janus's / culsans' lifecycle (`close`, `closed`,
`wait_closed`, `aclose`) and `sync_q` / `async_q` views, a writable `maxsize` (growing
wakes waiting putters in order, shrinking keeps the items in), subclassing, `Queue[int]`,
float and negative `maxsize` read back as given, unorderable priority items, asyncio's
repr, and queue.Queue's timeout rules.

Waits that could hang are bounded (`asyncio.wait_for`, `Thread.join(timeout)`) so a hang
fails; where a test must know another thread or task is waiting, it waits for the queue's
own repr to say so (`_putters[1]`) under a deadline, never for a fixed time.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
import types
from typing import Any, Callable

import aiosync
import pytest

pytestmark = pytest.mark.timeout(30)

LIMIT = 10.0
QUEUES = [aiosync.Queue, aiosync.LifoQueue, aiosync.PriorityQueue]


def wait_until(what: str, cond: Callable[[], bool]) -> None:
    """Polls `cond` until it holds; fails after LIMIT seconds."""
    deadline = time.monotonic() + LIMIT
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.001)


async def a_wait_until(what: str, cond: Callable[[], bool]) -> None:
    """As `wait_until`, yielding to the loop between checks."""
    deadline = time.monotonic() + LIMIT
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        await asyncio.sleep(0)


async def settle() -> None:
    """Lets every task that was woken on this loop run (a wake on the loop's own thread
    resolves the task's future at once; the task runs on the next iteration)."""
    for _ in range(3):
        await asyncio.sleep(0)


def start(target: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    """Runs `target` on a daemon thread; its result or exception lands in the list."""
    out: list[Any] = []

    def run() -> None:
        try:
            out.append(target())
        except BaseException as e:  # reported to the test's thread
            out.append(e)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


def finish(t: threading.Thread, out: list[Any]) -> Any:
    t.join(LIMIT)
    assert not t.is_alive(), "thread still blocked"
    if isinstance(out[0], BaseException):
        raise out[0]
    return out[0]


# --- janus / culsans lifecycle ---------------------------------------------------------


@pytest.mark.parametrize("cls", QUEUES)
def test_close_refuses_puts_and_gets_and_reports_closed(cls):
    q = cls()
    q.put(1)
    assert not q.closed and not q.sync_q.closed and not q.async_q.closed
    q.close()
    assert q.closed and q.sync_q.closed and q.async_q.closed and q.is_shutdown
    assert q.qsize() == 0, "close() is an immediate shutdown: items are dropped"
    for put in (q.put_nowait, q.sync_q.put, q.sync_q.put_nowait, q.async_q.put_nowait):
        with pytest.raises(aiosync.QueueShutDown):
            put(2)
    with pytest.raises(aiosync.QueueShutDown):
        q.sync_q.get(timeout=LIMIT)
    with pytest.raises(aiosync.QueueShutDown):
        q.get_nowait()
    q.close()  # twice: nothing more happens

    async def main() -> None:
        with pytest.raises(aiosync.QueueShutDown):
            await q.async_q.put(3)
        with pytest.raises(aiosync.QueueShutDown):
            await q.async_q.get()
        await q.wait_closed()
        await q.aclose()

    asyncio.run(main())


def test_close_releases_a_thread_blocked_in_join():
    q = aiosync.Queue()
    q.put(1)
    q.put(2)
    q.get()  # taken and never marked done: join would wait for it forever
    entering = threading.Event()

    def joiner() -> str:
        entering.set()
        q.sync_q.join()
        return "released"

    t, out = start(joiner)
    assert entering.wait(LIMIT)
    q.close()
    assert finish(t, out) == "released"
    assert q.unfinished_tasks == 1
    q.sync_q.join()  # and at once from now on
    q.task_done()  # still counts down


def test_close_releases_a_task_in_join():
    async def main() -> None:
        q = aiosync.Queue()
        await q.put(1)
        await q.get()
        joiner = asyncio.create_task(q.async_q.join())
        await settle()
        assert not joiner.done()
        await q.aclose()
        await asyncio.wait_for(joiner, LIMIT)

    asyncio.run(main())


def test_wait_closed_and_aclose_act_when_awaited():
    async def main() -> None:
        q = aiosync.Queue()
        with pytest.raises(RuntimeError, match="non-closed"):
            await q.wait_closed()
        closing = q.aclose()
        assert not q.closed, "aclose() acted before it was awaited"
        await closing
        assert q.closed
        await q.wait_closed()

    asyncio.run(main())
    # Made before a loop runs, as `asyncio.run(q.aclose())` makes it.
    q = aiosync.Queue()
    asyncio.run(q.aclose())
    assert q.closed


def test_aclose_never_awaited_warns_and_does_nothing():
    async def main() -> None:
        q = aiosync.Queue()
        with pytest.warns(RuntimeWarning, match="never awaited"):
            q.aclose()
        assert not q.closed

    asyncio.run(main())


# --- views -----------------------------------------------------------------------------


@pytest.mark.parametrize("cls", QUEUES)
def test_views_are_one_per_queue_and_share_its_state(cls):
    q = cls(3)
    assert q.sync_q is q.sync_q and q.async_q is q.async_q
    s, a = q.sync_q, q.async_q
    s.put(1)
    a.put_nowait(2)
    assert (s.qsize(), a.qsize(), q.qsize()) == (2, 2, 2)
    assert s.unfinished_tasks == a.unfinished_tasks == q.unfinished_tasks == 2
    assert s.maxsize == a.maxsize == 3
    a.maxsize = 2
    assert q.maxsize == 2 and s.full() and a.full()
    s.get()
    s.task_done()
    assert a.unfinished_tasks == 1


def test_views_between_a_thread_and_a_loop():
    q: aiosync.Queue[int] = aiosync.Queue(2)

    def producer() -> None:
        for i in range(50):
            q.sync_q.put(i)
        q.sync_q.join()

    async def main() -> list[int]:
        t, out = start(producer)
        got = []
        for _ in range(50):
            got.append(await asyncio.wait_for(q.async_q.get(), LIMIT))
            q.async_q.task_done()
        await asyncio.get_running_loop().run_in_executor(None, finish, t, out)
        return got

    assert asyncio.run(main()) == list(range(50))
    assert q.async_q.unfinished_tasks == 0


# --- writable maxsize ------------------------------------------------------------------


def test_growing_wakes_waiting_putters_in_fifo_order():
    async def main() -> None:
        q = aiosync.Queue(1)
        q.put_nowait("x")
        done: list[int] = []

        async def putter(i: int) -> None:
            await q.put(i)
            done.append(i)

        tasks = [asyncio.create_task(putter(i)) for i in range(4)]
        await a_wait_until("four putters wait", lambda: "_putters[4]" in repr(q))
        q.maxsize = 3  # room for two
        await settle()
        assert done == [0, 1]
        assert "_putters[2]" in repr(q)
        q.maxsize = 0  # unbounded: everyone
        await asyncio.wait_for(asyncio.gather(*tasks), LIMIT)
        assert done == [0, 1, 2, 3]
        assert [q.get_nowait() for _ in range(5)] == ["x", 0, 1, 2, 3]

    asyncio.run(main())


def test_growing_releases_a_thread_blocked_in_put():
    q = aiosync.Queue(1)
    q.put(1)
    t, out = start(lambda: q.put(2))
    wait_until("the putter waits", lambda: "_putters[1]" in repr(q))
    q.maxsize = 2
    assert finish(t, out) is None
    assert q.qsize() == 2 and q.full()


@pytest.mark.parametrize("cls", QUEUES)
def test_shrinking_keeps_items_and_puts_wait_until_under_the_new_bound(cls):
    q = cls(3)
    for i in (1, 2, 3):
        q.put(i)
    q.maxsize = 2
    assert q.qsize() == 3 and q.full()
    with pytest.raises(queue.Full):
        q.put_nowait(4)
    q.get()
    assert q.full()
    with pytest.raises(queue.Full):
        q.put(4, timeout=0.01)  # the timeout runs out: the queue holds its new maxsize
    q.get()
    assert not q.full()
    q.put_nowait(4)
    assert q.full()
    with pytest.raises(queue.Full):
        q.put_nowait(5)


def test_shrinking_holds_back_a_waiting_putter_until_under_the_new_bound():
    async def main() -> None:
        q = aiosync.Queue(3)
        for i in range(3):
            q.put_nowait(i)
        putter = asyncio.create_task(q.put(9))
        await a_wait_until("the putter waits", lambda: "_putters[1]" in repr(q))
        q.maxsize = 1
        q.get_nowait()
        await settle()
        assert not putter.done(), "put went in with two items in a queue of maxsize 1"
        q.get_nowait()
        await settle()
        assert not putter.done(), "put went in with one item in a queue of maxsize 1"
        q.get_nowait()
        await asyncio.wait_for(putter, LIMIT)
        assert q.qsize() == 1 and q.full()

    asyncio.run(main())


@pytest.mark.parametrize(
    ("given", "room"),
    [(1.3, 2), (0.5, 1), (2.0, 2), (True, 1), (-1, None), (0, None), (-2.5, None)],
)
def test_maxsize_is_read_back_as_given(given, room):
    for q in (aiosync.Queue(given), aiosync.Queue()):
        q.maxsize = given
        assert q.maxsize == given and type(q.maxsize) is type(given)
        n = 0
        while n < 50:
            try:
                q.put_nowait(n)
            except queue.Full:
                break
            n += 1
        assert n == (room if room is not None else 50)
    assert aiosync.Queue().maxsize == 0 and type(aiosync.Queue().maxsize) is int


def test_maxsize_nan_is_unbounded_and_a_huge_one_is_bounded():
    q = aiosync.Queue(float("nan"))
    for i in range(10):
        q.put_nowait(i)
    assert not q.full()
    huge = aiosync.Queue(10**30)
    assert huge.maxsize == 10**30
    with pytest.raises(ValueError):
        huge.put(1, timeout=-1)  # bounded: queue.Queue reads the timeout


@pytest.mark.parametrize("bad", ["3", None, [1], object()])
def test_maxsize_of_a_wrong_type_is_a_type_error(bad):
    with pytest.raises(TypeError):
        aiosync.Queue(bad)
    q = aiosync.Queue(2)
    with pytest.raises(TypeError):
        q.maxsize = bad
    assert q.maxsize == 2, "a refused maxsize changed the queue"


# --- subclassing -----------------------------------------------------------------------


@pytest.mark.parametrize("cls", QUEUES)
def test_a_subclass_with_its_own_init(cls):
    class Named(cls):  # type: ignore[misc, valid-type]
        def __init__(self, name: str, maxsize: int = 0) -> None:
            self.name = name
            super().__init__(maxsize)

    q = Named("jobs", 2)
    assert (q.name, q.maxsize) == ("jobs", 2)
    q.put(1)
    q.put(2)
    assert q.full()
    assert repr(q).startswith("<Named at 0x")
    assert isinstance(q, aiosync.Queue)

    class Plain(cls):  # type: ignore[misc, valid-type]
        def __init__(self, maxsize: int = 0) -> None:
            super().__init__(maxsize)

    assert Plain(3).maxsize == 3 and Plain().maxsize == 0
    assert Plain[int].__origin__ is Plain


class Failing(aiosync.Queue):
    """queue.Queue's FailingQueueTest, through the public surface: a subclass whose
    operations can be made to fail before they reach the queue."""

    def __init__(self, *args: Any) -> None:
        self.fail_next_put = False
        self.fail_next_get = False
        super().__init__(*args)

    def put(self, item: Any, block: Any = None, timeout: Any = None) -> Any:
        if self.fail_next_put:
            self.fail_next_put = False
            raise RuntimeError("put fails")
        return super().put(item, block, timeout)

    def get(self, block: Any = None, timeout: Any = None) -> Any:
        if self.fail_next_get:
            self.fail_next_get = False
            raise RuntimeError("get fails")
        return super().get(block, timeout)


def test_failing_operations_leave_a_subclassed_queue_consistent():
    q = Failing(3)
    for _ in range(2):  # twice on the same instance, as the CPython test does
        q.put(1)
        q.put(2)
        q.fail_next_put = True
        with pytest.raises(RuntimeError):
            q.put(3, timeout=0.01)
        assert (q.qsize(), q.unfinished_tasks, q.full()) == (2, 2, False)
        q.put(3)
        with pytest.raises(queue.Full):
            q.put(4, False)
        with pytest.raises(queue.Full):
            q.put(4, timeout=0.01)
        assert (q.qsize(), q.unfinished_tasks, q.full()) == (3, 3, True)
        # A blocking put released by a get on another thread.
        t, out = start(lambda: q.put(5))
        wait_until("the putter waits", lambda: "_putters[1]" in repr(q))
        assert q.get() == 1
        finish(t, out)
        q.fail_next_get = True
        with pytest.raises(RuntimeError):
            q.get()
        assert q.qsize() == 3
        assert [q.get() for _ in range(3)] == [2, 3, 5]
        with pytest.raises(queue.Empty):
            q.get(timeout=0.01)
        for _ in range(4):
            q.task_done()
        assert q.unfinished_tasks == 0
        q.join()


# --- generic alias ---------------------------------------------------------------------


@pytest.mark.parametrize("cls", QUEUES)
def test_generic_alias(cls):
    alias = cls[int]
    assert isinstance(alias, types.GenericAlias)
    assert alias.__origin__ is cls and alias.__args__ == (int,)
    assert isinstance(alias(2), cls)
    assert alias(2).maxsize == 2
    assert cls[tuple[int, str]].__args__ == (tuple[int, str],)


# --- unorderable priority items --------------------------------------------------------


def test_an_unorderable_item_is_refused_and_the_queue_is_unchanged():
    q = aiosync.PriorityQueue()
    for v in (3, 1, 2):
        q.put(v)
    before = repr(q)
    for put in (q.put, q.put_nowait, q.sync_q.put, lambda x: q.put(x, timeout=1)):
        with pytest.raises(TypeError, match="not supported"):
            put("a")
        assert repr(q) == before
        assert (q.qsize(), q.unfinished_tasks) == (3, 3)

    async def main() -> None:
        with pytest.raises(TypeError):
            await q.put("a")
        with pytest.raises(TypeError):
            await q.async_q.put("a")

    asyncio.run(main())
    assert [q.get_nowait() for _ in range(3)] == [1, 2, 3]
    with pytest.raises(queue.Empty):
        q.get_nowait()
    q.put("a")  # an empty queue compares nothing


def test_a_custom_comparison_error_propagates_as_raised():
    class Grumpy:
        def __lt__(self, other: object) -> bool:
            raise ArithmeticError("no order today")

    q = aiosync.PriorityQueue()
    q.put(1)
    with pytest.raises(ArithmeticError, match="no order today"):
        q.put(Grumpy())
    assert q.qsize() == 1


def test_a_refused_put_that_waited_for_room_gives_the_room_back():
    async def main() -> None:
        q = aiosync.PriorityQueue(2)
        q.put_nowait(1)
        q.put_nowait(2)
        putter = asyncio.create_task(q.put("a"))
        await a_wait_until("the putter waits", lambda: "_putters[1]" in repr(q))
        assert q.get_nowait() == 1
        with pytest.raises(TypeError):
            await asyncio.wait_for(putter, LIMIT)
        assert (q.qsize(), q.unfinished_tasks) == (1, 2)
        q.put_nowait(0)  # the room the refused put had
        assert q.full()

    asyncio.run(main())


# --- repr ------------------------------------------------------------------------------


def test_repr_and_str_as_asyncio():
    q = aiosync.Queue(maxsize=1.5)
    assert repr(q) == f"<Queue at {id(q):#x} maxsize=1.5>"
    assert str(q) == "<Queue maxsize=1.5>"
    q.put_nowait(1)
    q.put_nowait(2)
    assert str(q) == "<Queue maxsize=1.5 _queue=[1, 2] tasks=2>"
    t, out = start(lambda: q.put(3))
    wait_until("a thread waits to put", lambda: "_putters[1]" in str(q))
    q.get()
    finish(t, out)
    q.shutdown()
    assert str(q) == "<Queue maxsize=1.5 _queue=[2, 3] tasks=3 shutdown>"
    lifo = aiosync.LifoQueue()
    for v in (1, 2, 3):
        lifo.put(v)
    assert "_queue=[1, 2, 3]" in str(lifo)  # put order, as asyncio's list
    empty = aiosync.Queue()
    t, out = start(lambda: empty.get())
    wait_until("a thread waits to get", lambda: "_getters[1]" in str(empty))
    empty.put(0)
    assert finish(t, out) == 0


# --- queue.Queue's timeout rules ---------------------------------------------------------


def test_negative_timeouts_only_where_queue_queue_reads_them():
    q = aiosync.Queue()
    q.put(1, timeout=-1)  # unbounded: put never looks at the timeout
    q.put(2, True, -5)
    with pytest.raises(ValueError, match="non-negative"):
        q.get(timeout=-1)  # read even though an item is there
    with pytest.raises(ValueError):
        q.get(True, -0.5)
    assert q.get(False, -1) == 1  # non-blocking: ignored
    bounded = aiosync.Queue(2)
    with pytest.raises(ValueError, match="non-negative"):
        bounded.put(1, timeout=-1)
    bounded.put(1, False, -1)
    bounded.put_blocking(2, 0, -1)
    with pytest.raises(queue.Full):
        bounded.put(3, 0)


def test_block_takes_truth_values():
    q = aiosync.Queue(1)
    q.put("x", 1)
    with pytest.raises(queue.Full):
        q.put("y", 0)
    with pytest.raises(queue.Full):
        q.put("y", "")
    assert q.get(1) == "x"
    with pytest.raises(queue.Empty):
        q.get(0)
    with pytest.raises(queue.Empty):
        q.get([])
