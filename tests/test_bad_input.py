"""Bad input, table-driven: each case is written once over a namespace of classes and run
against the standard library's (threading + queue, or asyncio) and against aiosync's,
side by side. aiosync must raise the same exception type (or a subclass of it, as
`aiosync.QueueEmpty` is both `queue.Empty` and `asyncio.QueueEmpty`) — or nothing where
the standard library raises nothing — and never hang."""

from __future__ import annotations

import asyncio
import queue
import sys
import threading
import types
from typing import Any, Callable

import aiosync
import pytest

THREADING = types.SimpleNamespace(
    Lock=threading.Lock,
    RLock=threading.RLock,
    Semaphore=threading.Semaphore,
    BoundedSemaphore=threading.BoundedSemaphore,
    Event=threading.Event,
    Condition=threading.Condition,
    Barrier=threading.Barrier,
    Queue=queue.Queue,
    LifoQueue=queue.LifoQueue,
    PriorityQueue=queue.PriorityQueue,
)

NAN, BIG = float("nan"), 1e100


def _unheld_release_other_thread(m: Any) -> None:
    lock = m.RLock()
    lock.acquire()
    err: list[BaseException] = []

    def other() -> None:
        try:
            lock.release()
        except BaseException as e:  # reported to the main thread
            err.append(e)

    t = threading.Thread(target=other)
    t.start()
    t.join(10)
    assert not t.is_alive()
    lock.release()
    if err:
        raise err[0]


class _NoRelease:
    """An object with `acquire()` but no `release()`: not a lock."""

    def acquire(self, *args: Any) -> bool:
        return True


def _foreign_wait_unheld(m: Any) -> None:
    m.Condition(threading.Lock()).wait(1)


def _foreign_notify(m: Any, make: Callable[[], Any]) -> None:
    m.Condition(make()).notify()


def _foreign_wait_bad_timeout(m: Any) -> None:
    cond = m.Condition(threading.Lock())
    with cond:
        cond.wait("x")


def _unorderable(m: Any) -> None:
    q = m.PriorityQueue()
    q.put(1)
    q.put("a")


def _unorderable_then_get(m: Any) -> None:
    # The refused item is not in the queue: one get, then empty.
    q = m.PriorityQueue()
    q.put(1)
    try:
        q.put("a")
    except TypeError:
        pass
    assert q.get_nowait() == 1
    q.get_nowait()


def _get_negative_timeout_with_item(m: Any) -> None:
    q = m.Queue()
    q.put(1)
    q.get(timeout=-1)


def _maxsize_set_wrong_type(m: Any) -> None:
    q = m.Queue()
    q.maxsize = "x"
    q.put(1)


def _maxsize_shrunk_below_size(m: Any) -> None:
    q = m.Queue(3)
    q.put(1)
    q.put(2)
    q.maxsize = 1
    q.put_nowait(3)


def _task_done_twice(m: Any) -> None:
    q = m.Queue()
    q.put(1)
    q.get()
    q.task_done()
    q.task_done()


def _bounded_over_release(m: Any) -> None:
    s = m.BoundedSemaphore(1)
    s.release()


def _wait_unheld(m: Any) -> None:
    m.Condition().wait(0.01)


def _full_put_block0(m: Any) -> None:
    q = m.Queue(1)
    q.put(1)
    q.put(2, 0)


def _full_put_nowait(m: Any) -> None:
    q = m.Queue(1)
    q.put_nowait(1)
    q.put_nowait(2)


# (id, operation over a namespace of classes)
THREAD_CASES: list[tuple[str, Callable[[Any], Any]]] = [
    ("Semaphore(-1)", lambda m: m.Semaphore(-1)),
    ("Semaphore('x')", lambda m: m.Semaphore("x")),
    ("Semaphore(None)", lambda m: m.Semaphore(None)),
    ("BoundedSemaphore(-1)", lambda m: m.BoundedSemaphore(-1)),
    ("BoundedSemaphore over-release", _bounded_over_release),
    ("Semaphore.acquire(timeout=-2)", lambda m: m.Semaphore().acquire(timeout=-2)),
    ("Semaphore.acquire(False, 1)", lambda m: m.Semaphore(0).acquire(False, 1)),
    ("Semaphore.release(0)", lambda m: m.Semaphore().release(0)),
    ("Barrier(0)", lambda m: m.Barrier(0)),
    ("Barrier(-1)", lambda m: m.Barrier(-1)),
    ("Barrier('x')", lambda m: m.Barrier("x")),
    ("Barrier.wait(timeout='x')", lambda m: m.Barrier(1).wait("x")),
    ("Lock.acquire(timeout='x')", lambda m: m.Lock().acquire(timeout="x")),
    ("Lock.acquire(timeout=-2)", lambda m: m.Lock().acquire(timeout=-2)),
    ("Lock.acquire(timeout=nan)", lambda m: m.Lock().acquire(timeout=NAN)),
    ("Lock.acquire(timeout=1e100)", lambda m: m.Lock().acquire(timeout=BIG)),
    ("Lock.acquire(False, 1)", lambda m: m.Lock().acquire(False, 1)),
    ("Lock.acquire(blocking='x')", lambda m: m.Lock().acquire("x")),
    ("Lock.acquire(0)", lambda m: m.Lock().acquire(0)),
    ("Lock.release() unheld", lambda m: m.Lock().release()),
    ("RLock.release() unheld", lambda m: m.RLock().release()),
    ("RLock.acquire(timeout=-2)", lambda m: m.RLock().acquire(timeout=-2)),
    ("RLock.acquire(timeout=1e100)", lambda m: m.RLock().acquire(timeout=BIG)),
    ("RLock released by another thread", _unheld_release_other_thread),
    ("Condition.notify() unheld", lambda m: m.Condition().notify()),
    ("Condition.notify_all() unheld", lambda m: m.Condition().notify_all()),
    ("Condition.wait() unheld", _wait_unheld),
    ("Condition(lock=1)", lambda m: m.Condition(1).acquire()),
    ("Condition(no release())", lambda m: m.Condition(_NoRelease()).acquire()),
    ("Condition(threading.Lock()).wait() unheld", _foreign_wait_unheld),
    ("Condition(threading.Lock()).notify() unheld", lambda m: _foreign_notify(m, threading.Lock)),
    ("Condition(threading.RLock()).notify() unheld", lambda m: _foreign_notify(m, threading.RLock)),
    ("Condition(threading.Lock()).wait('x')", _foreign_wait_bad_timeout),
    ("Event.wait('x')", lambda m: m.Event().wait("x")),
    ("Event.wait(-1)", lambda m: m.Event().wait(-1)),
    ("Queue.get(timeout=-1)", lambda m: m.Queue().get(timeout=-1)),
    ("Queue.put(x, timeout=-1)", lambda m: m.Queue().put(1, timeout=-1)),
    ("Queue.get(timeout='x')", lambda m: m.Queue().get(timeout="x")),
    ("Queue.get(0)", lambda m: m.Queue().get(0)),
    ("Queue.get(False, 5)", lambda m: m.Queue().get(False, 5)),
    ("Queue.put(x, 1) into free space", lambda m: m.Queue().put(1, 1)),
    ("Queue(1).put(x, 0) when full", _full_put_block0),
    ("Queue(1).put_nowait() when full", _full_put_nowait),
    ("Queue.get_nowait() empty", lambda m: m.Queue().get_nowait()),
    ("Queue.task_done() too often", _task_done_twice),
    ("Queue(1.5)", lambda m: m.Queue(1.5).put(1)),
    ("Queue(-1) unbounded", lambda m: [m.Queue(-1).put(i) for i in range(3)]),
    ("PriorityQueue unorderable items", _unorderable),
    ("PriorityQueue unorderable item, then get", _unorderable_then_get),
    ("Queue(1).put(x, timeout=-1)", lambda m: m.Queue(1).put(1, timeout=-1)),
    ("Queue(1).put(x, False, -1)", lambda m: m.Queue(1).put(1, False, -1)),
    ("Queue.get(False, -1) empty", lambda m: m.Queue().get(False, -1)),
    ("Queue.get(timeout=-1) with an item", _get_negative_timeout_with_item),
    ("Queue.put(x, timeout='x') unbounded", lambda m: m.Queue().put(1, timeout="x")),
    ("Queue('x')", lambda m: m.Queue("x").put(1)),
    ("Queue(None)", lambda m: m.Queue(None).put(1)),
    ("Queue(10**30)", lambda m: m.Queue(10**30).put_nowait(1)),
    ("Queue(nan) unbounded", lambda m: [m.Queue(NAN).put_nowait(i) for i in range(3)]),
    ("Queue.maxsize = 'x'", _maxsize_set_wrong_type),
    ("Queue.maxsize = 1 with two items", _maxsize_shrunk_below_size),
]


# Where aiosync raises on purpose what the standard library does not: (what it raises, why).
DIFFERENT: dict[str, tuple[type[BaseException], str]] = {
    "Barrier(0)": (ValueError, "as asyncio.Barrier; 3.11's threading.Barrier accepts it and hangs"),
    "Barrier(-1)": (ValueError, "as asyncio.Barrier; 3.11's threading.Barrier accepts it"),
    "Barrier('x')": (TypeError, "threading.Barrier stores any object, then waits never end"),
    "Barrier.wait(timeout='x')": (TypeError, "checked even when no wait is needed"),
    "Condition(lock=1)": (TypeError, "refused when made (threading fails at first use)"),
    "PriorityQueue unorderable item, then get": (
        queue.Empty,
        "a put refused as unorderable leaves the queue as it was; queue.PriorityQueue's "
        "heappush raised after appending, so the refused item is still there to get",
    ),
    "Condition(no release())": (
        TypeError,
        "refused when made, naming what is missing (threading: AttributeError)",
    ),
}

# Differences still to fix: strict, so a fix shows as XPASS until the mark goes.
TO_FIX: set[str] = set()


def _params(cases: list[tuple[str, Callable[[Any], Any]]]) -> list[Any]:
    marks = {
        name: [pytest.mark.xfail(strict=True, reason="not yet the standard library's")]
        for name in TO_FIX
    }
    return [pytest.param(name, fn, id=name, marks=marks.get(name, ())) for name, fn in cases]


def _outcome(fn: Callable[[], Any]) -> type[BaseException] | None:
    try:
        fn()
    except BaseException as e:
        return type(e)
    return None


def _compare(name: str, ref: type[BaseException] | None, ours: type[BaseException] | None) -> None:
    if name in DIFFERENT:
        expected, _why = DIFFERENT[name]
        assert ours is not None and issubclass(ours, expected), ours
        return
    if ref is None:
        assert ours is None, f"the standard library raises nothing; aiosync raises {ours}"
    else:
        assert ours is not None and issubclass(ours, ref), (
            f"the standard library raises {ref.__name__}; aiosync raises "
            f"{ours.__name__ if ours else 'nothing'}"
        )


@pytest.mark.timeout(30)
@pytest.mark.parametrize(("name", "case"), _params(THREAD_CASES))
def test_threading_and_queue_bad_input(name, case):
    _compare(name, _outcome(lambda: case(THREADING)), _outcome(lambda: case(aiosync)))


async def _a_release_unheld(m: Any) -> None:
    m.Lock().release()


async def _a_notify_unheld(m: Any) -> None:
    m.Condition().notify()


async def _a_wait_unheld(m: Any) -> None:
    await m.Condition().wait()


async def _a_wait_for_unheld(m: Any) -> None:
    await m.Condition().wait_for(lambda: True)


async def _a_bounded_over_release(m: Any) -> None:
    m.BoundedSemaphore(1).release()


async def _a_task_done_twice(m: Any) -> None:
    q = m.Queue()
    await q.put(1)
    await q.get()
    q.task_done()
    q.task_done()


async def _a_get_nowait_empty(m: Any) -> None:
    m.Queue().get_nowait()


async def _a_put_nowait_full(m: Any) -> None:
    q = m.Queue(1)
    q.put_nowait(1)
    q.put_nowait(2)


async def _a_semaphore_negative(m: Any) -> None:
    m.Semaphore(-1)


async def _a_barrier_zero(m: Any) -> None:
    m.Barrier(0)


async def _a_lock_loop_argument(m: Any) -> None:
    m.Lock(loop=asyncio.get_running_loop())


async def _a_queue_loop_argument(m: Any) -> None:
    m.Queue(loop=asyncio.get_running_loop())


async def _a_event_loop_argument(m: Any) -> None:
    m.Event(loop=asyncio.get_running_loop())


async def _a_condition_foreign_lock(m: Any) -> None:
    m.Condition(threading.Lock())


async def _a_condition_foreign_lock_async_with(m: Any) -> None:
    # asyncio's fails awaiting the bool acquire() returns; aiosync's before taking the lock.
    async with m.Condition(threading.Lock()):
        pass


async def _a_barrier_abort_then_wait(m: Any) -> None:
    b = m.Barrier(2)
    await b.abort()
    await b.wait()


async def _a_queue_float_maxsize(m: Any) -> None:
    q = m.Queue(maxsize=1.5)
    q.put_nowait(1)
    q.put_nowait(2)


async def _a_queue_str_maxsize(m: Any) -> None:
    m.Queue(maxsize="x").put_nowait(1)


async def _a_priority_unorderable(m: Any) -> None:
    q = m.PriorityQueue()
    await q.put(1)
    await q.put("a")


ASYNC_CASES: list[tuple[str, Callable[[Any], Any]]] = [
    ("Lock.release() unheld", _a_release_unheld),
    ("Condition.notify() unheld", _a_notify_unheld),
    ("Condition.wait() unheld", _a_wait_unheld),
    ("Condition.wait_for() unheld", _a_wait_for_unheld),
    ("BoundedSemaphore over-release", _a_bounded_over_release),
    ("Queue.task_done() too often", _a_task_done_twice),
    ("Queue.get_nowait() empty", _a_get_nowait_empty),
    ("Queue.put_nowait() full", _a_put_nowait_full),
    ("Semaphore(-1)", _a_semaphore_negative),
    ("Lock(loop=)", _a_lock_loop_argument),
    ("Queue(loop=)", _a_queue_loop_argument),
    ("Event(loop=)", _a_event_loop_argument),
    ("Condition(threading.Lock())", _a_condition_foreign_lock),
    ("Condition(threading.Lock()) async with", _a_condition_foreign_lock_async_with),
    ("Queue(maxsize=1.5)", _a_queue_float_maxsize),
    ("Queue(maxsize='x')", _a_queue_str_maxsize),
    ("PriorityQueue unorderable put", _a_priority_unorderable),
]
if sys.version_info >= (3, 11):
    ASYNC_CASES += [
        ("Barrier(0)", _a_barrier_zero),
        ("Barrier abort then wait", _a_barrier_abort_then_wait),
    ]


def _a_outcome(case: Callable[[Any], Any], m: Any) -> type[BaseException] | None:
    async def main() -> None:
        await asyncio.wait_for(case(m), 10)

    return _outcome(lambda: asyncio.run(main()))


@pytest.mark.timeout(30)
@pytest.mark.parametrize(("name", "case"), _params(ASYNC_CASES))
def test_asyncio_bad_input(name, case):
    _compare(name, _a_outcome(case, asyncio), _a_outcome(case, aiosync))


def test_put_after_shutdown_raises_shut_down():
    """`shutdown()` is Python 3.13's (compared where the interpreter has it)."""
    q = aiosync.Queue()
    q.shutdown()
    with pytest.raises(aiosync.QueueShutDown):
        q.put(1)
    with pytest.raises(aiosync.QueueShutDown):
        q.get(timeout=1)

    async def main() -> None:
        with pytest.raises(aiosync.QueueShutDown):
            await q.put(1)

    asyncio.run(main())
    if hasattr(queue, "ShutDown"):
        assert issubclass(aiosync.QueueShutDown, queue.ShutDown)
