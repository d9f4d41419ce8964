"""PriorityQueue items whose `__lt__` calls back into their own queue: `RuntimeError`
instead of a deadlock, and the queue as it was afterwards. An `__lt__` that raises leaves
the queue as it was too. Every scenario runs in a thread joined with a deadline, so a
deadlock fails the test instead of hanging it."""

import asyncio
import threading
from types import SimpleNamespace

import aiosync
import pytest
from _queue_helpers import T
from conftest import join_all, run_in_loop_thread, run_in_thread

OWN = "called from its own comparison"
VALUES = [50, 30, 80, 10, 60, 20]


class Item:
    """An item ordered by `v` whose `<` first runs `ctl.call(q)`, when one is set, and
    records what that call raised."""

    def __init__(self, v, ctl):
        self.v = v
        self.ctl = ctl

    def __lt__(self, other):
        call = self.ctl.call
        if call is not None:
            try:
                call(self.ctl.q)
            except BaseException as e:
                self.ctl.raised.append(e)
                raise
        return self.v < other.v

    def __repr__(self):
        return f"Item({self.v})"


def filled(maxsize=0, values=VALUES):
    ctl = SimpleNamespace(call=None, raised=[], q=None)
    q = aiosync.PriorityQueue(maxsize)
    ctl.q = q
    for v in values:
        q.put_nowait(Item(v, ctl))
    return q, ctl


def in_thread(fn):
    """Runs `fn()` in a thread with a deadline; returns its result, re-raises its error."""
    t = run_in_thread(fn)
    join_all([t], T)
    return t.result


def drain(q):
    out = []
    while not q.empty():
        out.append(q.get_nowait().v)
    return out


def assert_unchanged(q, ctl, before, values=VALUES):
    """The queue holds exactly `values`, in the same heap order, and still works."""
    ctl.call = None
    assert repr(q) == before
    assert q.qsize() == len(values)
    assert q.unfinished_tasks == len(values)
    assert not q.is_shutdown
    q.put_nowait(Item(5, ctl))
    assert drain(q) == [5, *sorted(values)]


CALLS = {
    "qsize": lambda q: q.qsize(),
    "empty": lambda q: q.empty(),
    "full": lambda q: q.full(),
    "put_nowait": lambda q: q.put_nowait(1),
    "put": lambda q: q.put(1, block=False),
    "get_nowait": lambda q: q.get_nowait(),
    "get": lambda q: q.get(timeout=1),
    "task_done": lambda q: q.task_done(),
    "join": lambda q: q.join_blocking(),
    "unfinished_tasks": lambda q: q.unfinished_tasks,
    "maxsize": lambda q: q.maxsize,
    "set maxsize": lambda q: setattr(q, "maxsize", 1),
    "repr": lambda q: repr(q),
    "shutdown": lambda q: q.shutdown(),
    "close": lambda q: q.close(),
}

OUTER = {
    "put_nowait": lambda q, ctl: q.put_nowait(Item(40, ctl)),
    "put": lambda q, ctl: q.put(Item(40, ctl)),
    "put timeout": lambda q, ctl: q.put(Item(40, ctl), timeout=1),
    "get_nowait": lambda q, ctl: q.get_nowait(),
    "get": lambda q, ctl: q.get(),
}


@pytest.mark.parametrize("outer", OUTER)
@pytest.mark.parametrize("call", CALLS)
def test_a_call_from_lt_into_its_own_queue_raises_runtime_error(call, outer):
    q, ctl = filled(maxsize=len(VALUES) + 1)
    before = repr(q)
    ctl.call = CALLS[call]

    def scenario():
        with pytest.raises(RuntimeError, match=OWN):
            OUTER[outer](q, ctl)

    in_thread(scenario)
    # `__lt__` met the error itself (and let it through).
    assert ctl.raised and isinstance(ctl.raised[0], RuntimeError)
    assert_unchanged(q, ctl, before)


def test_the_async_forms_raise_runtime_error():
    q, ctl = filled()
    before = repr(q)

    async def main():
        ctl.call = lambda q: q.qsize()
        with pytest.raises(RuntimeError, match=OWN):
            await q.put(Item(40, ctl))
        with pytest.raises(RuntimeError, match=OWN):
            await q.get()
        ctl.call = lambda q: q.put_nowait(Item(1, ctl))
        with pytest.raises(RuntimeError, match=OWN):
            await q.async_q.put(Item(40, ctl))
        with pytest.raises(RuntimeError, match=OWN):
            await q.get_async()
        # An awaitable made inside `__lt__` is refused at once, not when awaited.
        made = []
        ctl.call = lambda q: made.append(q.put_async(1))
        with pytest.raises(RuntimeError, match=OWN):
            await q.put(Item(40, ctl))
        assert not made

    join_all([run_in_loop_thread(main)], T)
    assert_unchanged(q, ctl, before)


class Grumpy(Exception):
    pass


@pytest.mark.parametrize("outer", OUTER)
def test_an_exception_of_lt_leaves_the_queue_as_it_was(outer):
    q, ctl = filled(maxsize=len(VALUES) + 1)
    before = repr(q)

    def grumpy(q):
        raise Grumpy("no order today")

    ctl.call = grumpy

    def scenario():
        with pytest.raises(Grumpy, match="no order today"):
            OUTER[outer](q, ctl)

    in_thread(scenario)
    assert_unchanged(q, ctl, before)


@pytest.mark.parametrize("op", ["put", "get"])
@pytest.mark.parametrize("n", [0, 1])
def test_an_exception_on_a_later_comparison_leaves_the_queue_as_it_was(op, n):
    # Both a put of the smallest item and a get of the smallest compare twice here.
    q, ctl = filled(maxsize=len(VALUES) + 1)
    before = repr(q)
    left = [n]

    def on_nth(_q):
        left[0] -= 1
        if left[0] < 0:
            raise Grumpy(f"comparison {n}")

    ctl.call = on_nth

    def scenario():
        with pytest.raises(Grumpy, match=f"comparison {n}"):
            if op == "put":
                q.put_nowait(Item(5, ctl))
            else:
                q.get_nowait()

    in_thread(scenario)
    assert_unchanged(q, ctl, before)


def test_other_queues_work_from_inside_lt():
    q, ctl = filled()
    other, other_ctl = filled(values=[3, 1, 2])
    fifo = aiosync.Queue()

    def use_others(_q):
        fifo.put_nowait(fifo.qsize())
        other.put_nowait(Item(0, other_ctl))
        assert other.get_nowait().v == 0
        other.task_done()
        assert "_queue=" in repr(other)

    ctl.call = use_others

    def scenario():
        q.put_nowait(Item(5, ctl))
        assert q.get_nowait().v == 5

    in_thread(scenario)
    ctl.call = None
    assert not ctl.raised
    assert fifo.qsize() > 0
    assert drain(other) == [1, 2, 3]
    assert drain(q) == sorted(VALUES)


def test_another_thread_is_not_refused_while_one_compares():
    q, ctl = filled()
    entered, go = threading.Event(), threading.Event()

    def stall(_q):
        if not entered.is_set():
            entered.set()
            assert go.wait(T)

    ctl.call = stall
    putter = run_in_thread(lambda: q.put_nowait(Item(5, ctl)))
    assert entered.wait(T)
    # Not inside: it waits for the lock the comparing thread holds, then answers.
    sizer = run_in_thread(lambda: q.qsize())
    sizer.join(0.05)
    assert sizer.is_alive()
    go.set()
    join_all([putter, sizer], T)
    assert sizer.result == len(VALUES) + 1
    ctl.call = None
    assert drain(q) == [5, *sorted(VALUES)]


def test_a_queue_that_does_not_compare_is_unaffected():
    async def main():
        for cls in (aiosync.Queue, aiosync.LifoQueue):
            q = cls()
            await q.put(1)
            q.put_nowait(2)
            assert q.qsize() == 2
            await q.get()
            q.get_nowait()

    asyncio.run(main())
