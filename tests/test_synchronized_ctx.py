"""A synchronized callable as its own context manager, as wrapt documents for its
`synchronized`: the decorated function can be used in a `with` statement, which takes the
lock its calls take (`with func:`), and, since wrapt 2.2, in `async with`, which takes the
async lock of the same owner. aiosync extends it to bound methods (`with obj.method:`,
`async with obj.amethod:` take the instance's locks, as `with synchronized(obj):` does) and
to decorators with options. Then the bound method itself: a bound method as Python (and
wrapt) make one. Where it is simple, the same test runs against wrapt (when installed).

Exclusion is shown with the lock held elsewhere: the call that must be kept out gets
GRACE seconds to (wrongly) get in and must finish once the holder lets go.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import pickle
import sys
import threading
import weakref

import aiosync
import pytest
from aiosync import _aiosync, synchronized
from conftest import join_all, run_in_thread

try:
    import wrapt
except ImportError:  # pragma: no cover - the comparison is optional
    wrapt = None

GRACE = 0.1
SHORT = 5.0
_ATTR = "__aiosync_synchronized__"

DECORATORS = [pytest.param(synchronized, id="aiosync")]
if wrapt is not None:
    DECORATORS.append(pytest.param(wrapt.synchronized, id="wrapt"))


def held_in_thread(cm):
    """Enters `cm` (`with`) in a thread and keeps it until `leave` is set."""
    entered, leave = threading.Event(), threading.Event()

    def hold():
        with cm:
            entered.set()
            assert leave.wait(SHORT)

    t = run_in_thread(hold)
    assert entered.wait(SHORT)
    return leave, t


def assert_excluded(call, leave, holder):
    """`call()` in another thread waits while the holder holds, then runs."""
    t = run_in_thread(call)
    t.join(GRACE)
    assert t.is_alive(), "got in while the lock was held"
    leave.set()
    join_all([holder, t], SHORT)
    return t.result


def assert_not_excluded(call, leave, holder):
    t = run_in_thread(call)
    join_all([t], SHORT)
    leave.set()
    join_all([holder], SHORT)
    return t.result


# -- `with func:` ------------------------------------------------------------------------


@pytest.mark.parametrize("deco", DECORATORS)
def test_with_function_takes_the_lock_its_calls_take(deco):
    @deco
    def func():
        return "called"

    leave, holder = held_in_thread(func)
    assert assert_excluded(func, leave, holder) == "called"
    # And the other way round: a call in progress keeps `with func:` out.
    entered, release = threading.Event(), threading.Event()

    @deco
    def slow():
        entered.set()
        assert release.wait(SHORT)

    t = run_in_thread(slow)
    assert entered.wait(SHORT)

    def enter():
        with slow:
            return "entered"

    assert assert_excluded(enter, release, t) == "entered"


@pytest.mark.parametrize("deco", DECORATORS)
def test_with_function_is_reentrant_and_gives_the_lock(deco):
    @deco
    def func():
        return "called"

    with func as lock:
        assert func() == "called"  # the same thread: the lock is reentrant
        with func as again:
            assert again is lock
        assert callable(lock.acquire) and callable(lock.release)
    assert lock.acquire(blocking=False)  # released: free again
    lock.release()


@pytest.mark.parametrize("deco", DECORATORS)
def test_with_function_releases_on_error(deco):
    @deco
    def func():
        return "called"

    with pytest.raises(KeyError):
        with func:
            raise KeyError("inside")
    t = run_in_thread(func)  # another thread gets in at once
    join_all([t], SHORT)
    assert t.result == "called"


@pytest.mark.parametrize("deco", DECORATORS)
def test_functions_have_locks_of_their_own(deco):
    @deco
    def one():
        return 1

    @deco
    def two():
        return 2

    leave, holder = held_in_thread(one)
    assert assert_not_excluded(two, leave, holder) == 2


def test_with_function_from_many_threads_keeps_count():
    """One function's context is shared by every thread that enters it."""
    state = {"n": 0}

    @synchronized
    def bump():
        state["n"] += 1

    def worker():
        for _ in range(300):
            with bump:
                n = state["n"]
                bump()  # reentrant: one more
                state["n"] = n + 2

    join_all([run_in_thread(worker) for _ in range(4)], SHORT * 4)
    assert state["n"] == 4 * 300 * 2


# -- `async with func:` ----------------------------------------------------------------


@pytest.mark.parametrize("deco", DECORATORS)
def test_async_with_function_excludes_its_async_calls(deco, arun):
    order = []

    @deco
    async def afunc(tag):
        order.append(tag)

    async def main():
        async def later():
            await afunc("call")

        async with afunc:
            task = asyncio.ensure_future(later())
            for _ in range(5):
                await asyncio.sleep(0)
            order.append("block done")
        await task

    arun(main())
    assert order == ["block done", "call"]


def test_async_with_function_refuses_its_own_task_at_once(arun):
    """aiosync's async lock is task-owned and not reentrant: a call inside the block by
    the same task gets RuntimeError at once (wrapt's asyncio.Lock would hang)."""

    @synchronized
    async def afunc():
        return "called"

    async def main():
        async with afunc:
            with pytest.raises(RuntimeError, match="re-entered"):
                await afunc()
        assert await afunc() == "called"

    arun(main())


def test_async_with_function_from_another_loop_waits(arun):
    """The async lock is shared by every loop: a loop in another thread waits."""

    @synchronized
    async def afunc():
        return "called"

    async def main():
        async with afunc:
            fut = asyncio.wrap_future(
                asyncio.run_coroutine_threadsafe(afunc(), other_loop), loop=None
            )
            await asyncio.sleep(GRACE)
            assert not fut.done()
        assert await asyncio.wait_for(fut, SHORT) == "called"

    other_loop = asyncio.new_event_loop()
    t = threading.Thread(target=other_loop.run_forever, daemon=True)
    t.start()
    try:
        arun(main())
    finally:
        other_loop.call_soon_threadsafe(other_loop.stop)
        t.join(SHORT)
        other_loop.close()


@pytest.mark.parametrize("deco", DECORATORS)
def test_sync_and_async_forms_take_different_locks(deco, arun):
    """As in wrapt: `with` takes the sync (thread) lock, `async with` the async one."""

    @deco
    def func():
        pass

    async def main():
        with func:
            async with func:
                return "both"

    assert arun(main()) == "both"


def test_async_with_cancelled_while_waiting_takes_nothing(arun):
    @synchronized
    async def afunc():
        return "called"

    async def main():
        async def enter():
            async with afunc:
                pass

        async with afunc:
            waiting = asyncio.ensure_future(enter())
            await asyncio.sleep(0)
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
        assert await asyncio.wait_for(afunc(), SHORT) == "called"

    arun(main())


# -- methods: `with obj.method:` ---------------------------------------------------------


class Account:
    def __init__(self) -> None:
        self.balance = 0

    @synchronized
    def deposit(self, amount):
        self.balance += amount
        return self.balance

    @synchronized
    async def adeposit(self, amount):
        balance = self.balance
        await asyncio.sleep(0)
        self.balance = balance + amount
        return self.balance

    @synchronized
    @staticmethod
    def audit():
        return "audited"

    @synchronized
    @classmethod
    def open(cls):
        return cls()


class Slotted:
    __slots__ = ("balance", "__weakref__")

    def __init__(self) -> None:
        self.balance = 0

    @synchronized
    def deposit(self, amount):
        self.balance += amount
        return self.balance


def test_with_method_takes_the_instance_lock():
    a, b = Account(), Account()
    leave, holder = held_in_thread(a.deposit)
    assert assert_excluded(lambda: a.deposit(1), leave, holder) == 1
    leave, holder = held_in_thread(a.deposit)
    assert assert_not_excluded(lambda: b.deposit(1), leave, holder) == 1
    # The same lock as `with synchronized(a):` and as every sync method of `a`.
    with a.deposit as lock:
        with synchronized(a) as same:
            assert same is lock
        assert lock is vars(a)[_ATTR].sync
        assert a.deposit(2) == 3  # reentrant in this thread
    leave, holder = held_in_thread(synchronized(a))
    assert assert_excluded(lambda: a.deposit(1), leave, holder) == 4


def test_with_method_on_a_slots_instance():
    before = _aiosync._box_table_len()[0]

    def use() -> weakref.ref:
        s = Slotted()
        leave, holder = held_in_thread(s.deposit)
        assert assert_excluded(lambda: s.deposit(5), leave, holder) == 5
        with s.deposit as lock:
            assert lock is _aiosync._registered_box(s).sync  # its box: in the table, by id
        assert _aiosync._box_table_len()[0] == before + 1
        return weakref.ref(s)

    gone = use()
    assert gone() is None
    assert _aiosync._box_table_len()[0] == before  # weakly referenced: freed with it


def test_with_method_needs_the_instance():
    with pytest.raises(TypeError, match="with obj.deposit"):
        with Account.deposit:
            pass


def test_with_static_method_takes_the_function_lock():
    a = Account()
    leave, holder = held_in_thread(Account.audit)
    assert assert_excluded(a.audit, leave, holder) == "audited"
    leave, holder = held_in_thread(a.audit)
    assert assert_excluded(Account.audit, leave, holder) == "audited"


@pytest.mark.skipif(
    sys.version_info >= (3, 13), reason="classmethod no longer binds through the wrapper"
)
def test_with_class_method_takes_the_class_lock():
    leave, holder = held_in_thread(Account.open)
    assert isinstance(assert_excluded(Account.open, leave, holder), Account)
    with Account.open as lock:
        with synchronized(Account) as same:
            assert same is lock


def test_async_with_method_takes_the_instance_async_lock(arun):
    a, b = Account(), Account()

    async def main():
        async with a.adeposit as box:
            assert box.locked() and box is vars(a)[_ATTR]
            pending = asyncio.ensure_future(a.adeposit(1))
            other = asyncio.ensure_future(b.adeposit(1))
            for _ in range(5):
                await asyncio.sleep(0)
            assert not pending.done() and other.done()
            with pytest.raises(RuntimeError, match="re-entered"):
                await a.adeposit(1)  # this task holds it
        assert await pending == 1
        # The same lock as `async with synchronized(a):`.
        async with synchronized(a):
            assert vars(a)[_ATTR].locked()
            async with b.adeposit:
                pass

    arun(main())


def test_async_with_method_from_threads_and_loops_keeps_count():
    a = Account()

    async def worker():
        for _ in range(100):
            async with a.adeposit:
                balance = a.balance
                await asyncio.sleep(0)
                a.balance = balance + 1
            await a.adeposit(1)

    threads = [run_in_thread(asyncio.run, worker()) for _ in range(3)]
    join_all(threads, SHORT * 4)
    assert a.balance == 3 * 100 * 2


# -- options --------------------------------------------------------------------------


class WithOptions:
    @synchronized(timeout=GRACE)
    def timed(self):
        return "timed"

    @synchronized(reentrant=True)
    async def reentrant(self):
        return "reentrant"

    @synchronized(shared=True)
    async def shared(self):
        return "shared"

    @synchronized(shared=True)
    def shared_sync(self):
        return "shared sync"


def test_with_method_under_a_timeout_raises_timeout_error():
    o = WithOptions()
    leave, holder = held_in_thread(o.timed)

    def enter():
        try:
            with o.timed:
                return "entered"
        except TimeoutError:
            return "timed out"

    t = run_in_thread(enter)
    join_all([t], SHORT)
    assert t.result == "timed out"
    leave.set()
    join_all([holder], SHORT)
    with o.timed:
        assert o.timed() == "timed"


def test_async_with_reentrant_method_lets_its_task_in(arun):
    o = WithOptions()

    async def main():
        async with o.reentrant:
            async with o.reentrant:
                return await o.reentrant()

    assert arun(main()) == "reentrant"


def test_async_with_shared_method_excludes_sync_callers(arun):
    o = WithOptions()

    async def main():
        async with o.shared:
            t = run_in_thread(o.shared_sync)
            await asyncio.sleep(GRACE)
            assert t.is_alive()
        await asyncio.to_thread(join_all, [t], SHORT)
        return t.result

    assert arun(main()) == "shared sync"


def test_with_function_given_a_lock_takes_that_lock():
    lock = aiosync.Lock()

    @synchronized(lock)
    def func():
        return lock.locked()

    with func as got:
        assert got is lock and lock.locked()
    assert not lock.locked() and func() is True


def test_async_generator_function_as_context(arun):
    @synchronized
    async def agen():
        yield 1

    assert inspect.isasyncgenfunction(agen)

    async def main():
        async with agen:
            items = asyncio.ensure_future(_collect(agen()))
            for _ in range(5):
                await asyncio.sleep(0)
            assert not items.done()
        assert await items == [1]

    arun(main())


async def _collect(it):
    return [x async for x in it]


# -- the bound method itself ---------------------------------------------------------


class Plain:
    def method(self, x, y=2):
        """Method doc."""
        return x + y

    async def amethod(self, x):
        return x


class Decorated:
    method = synchronized(Plain.method)
    amethod = synchronized(Plain.amethod)


if wrapt is not None:

    class Wrapped:
        method = wrapt.synchronized(Plain.method)
        amethod = wrapt.synchronized(Plain.amethod)


def _bound_kinds():
    kinds = [pytest.param(Decorated, id="aiosync")]
    if wrapt is not None:
        kinds.append(pytest.param(Wrapped, id="wrapt"))
    return kinds


@pytest.mark.parametrize("cls", _bound_kinds())
def test_bound_method_is_a_method(cls, arun):
    obj, plain = cls(), Plain()
    bound = obj.method
    assert inspect.ismethod(bound) and isinstance(bound, type(plain.method))
    assert bound.__self__ is obj
    if cls is Decorated:  # as Python binds: what the class holds (wrapt: the inner one)
        assert bound.__func__ is cls.__dict__["method"]
    for attr in ("__name__", "__qualname__", "__doc__", "__module__"):
        assert getattr(bound, attr) == getattr(plain.method, attr), attr
    assert inspect.signature(bound) == inspect.signature(plain.method)
    assert inspect.iscoroutinefunction(obj.amethod) and not inspect.iscoroutinefunction(bound)
    assert bound == obj.method and hash(bound) == hash(obj.method)
    assert bound != cls().method
    assert bound(1) == 3 and arun(obj.amethod(4)) == 4
    # `__wrapped__`: the undecorated function bound to the same instance.
    inner = bound.__wrapped__
    assert inner.__self__ is obj and inner.__func__ is Plain.method
    assert inspect.unwrap(bound)(1, y=1) == 2


def test_bound_method_pickles_and_copies_as_its_lookup():
    obj = Decorated()  # no box yet: the instance pickles
    bound = obj.method
    assert bound.__reduce__() == (getattr, (obj, "method"))
    again = pickle.loads(pickle.dumps(bound))
    assert type(again) is type(bound) and again(1) == 3
    assert copy.copy(bound) == bound


def test_bound_method_repr_attributes_and_weak_references():
    obj = Decorated()
    assert repr(obj.method).startswith("<bound method Plain.method of <")
    Decorated.method.custom = "set on the function"
    assert obj.method.custom == "set on the function"  # read from the function
    with pytest.raises(AttributeError, match="'method' object has no attribute 'nope'"):
        obj.method.nope  # noqa: B018 - the lookup is the test
    bound = obj.method
    ref = weakref.ref(bound)
    assert ref() is bound
    del bound
    assert ref() is None


def test_method_call_through_super_and_class_binds_the_same_lock():
    class Child(Account):
        def deposit(self, amount):
            return super().deposit(amount) * 10

    c = Child()
    leave, holder = held_in_thread(synchronized(c))
    assert assert_excluded(lambda: c.deposit(1), leave, holder) == 10
    leave, holder = held_in_thread(Account.deposit.__get__(c, Child))
    assert assert_excluded(lambda: Account.deposit(c, 1), leave, holder) == 2
