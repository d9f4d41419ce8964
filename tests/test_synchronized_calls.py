"""synchronized: metadata, method binding, results, coroutine protocol, pickling."""

from __future__ import annotations

import asyncio
import copy
import inspect
import pickle

import aiosync
import pytest
from _synchronized_helpers import (
    _ATTR,
    SHORT,
    Counter,
    _f_touch,
    _Methods,
    a_hold,
    assert_excluded,
    assert_not_excluded,
    hold_in_thread,
)
from aiosync import synchronized

# -- 5. metadata, coroutine-ness, method binding --------------------------------------


def _plain(a, b=1, *, c=2):
    """Plain doc."""
    return a + b + c


async def _coro(a, b=1):
    """Coro doc."""
    return a + b


async def _agen(n):
    """Agen doc."""
    for i in range(n):
        yield i


_DECORATORS = {
    "bare": synchronized,
    "called": synchronized(),
    "timeout": synchronized(timeout=1.0),
    "reentrant": synchronized(reentrant=True),
    "shared": synchronized(shared=True),
    "lock-like": synchronized(aiosync.Lock()),
}


@pytest.mark.parametrize("deco", list(_DECORATORS), ids=list(_DECORATORS))
@pytest.mark.parametrize("original", [_plain, _coro, _agen], ids=["sync", "coroutine", "agen"])
def test_functools_wraps_metadata(original, deco):
    wrapped = _DECORATORS[deco](original)
    for attr in ("__name__", "__qualname__", "__doc__", "__module__"):
        assert getattr(wrapped, attr) == getattr(original, attr), attr
    assert wrapped.__wrapped__ is original
    assert inspect.signature(wrapped) == inspect.signature(original)
    assert inspect.iscoroutinefunction(wrapped) is inspect.iscoroutinefunction(original)
    assert inspect.isasyncgenfunction(wrapped) is inspect.isasyncgenfunction(original)


class Meta:
    def method(self, x, y=0):
        """Method doc."""
        return x + y

    async def amethod(self, x):
        """Amethod doc."""
        return x

    @classmethod
    def cmethod(cls, x):
        """Cmethod doc."""
        return cls, x

    @classmethod
    async def acmethod(cls, x):
        return cls, x

    @staticmethod
    def smethod(x):
        """Smethod doc."""
        return x

    @staticmethod
    async def asmethod(x):
        return x


class SyncMeta:
    method = synchronized(Meta.__dict__["method"])
    amethod = synchronized(Meta.__dict__["amethod"])
    cmethod = synchronized(Meta.__dict__["cmethod"])
    acmethod = synchronized(Meta.__dict__["acmethod"])
    smethod = synchronized(Meta.__dict__["smethod"])
    asmethod = synchronized(Meta.__dict__["asmethod"])


def test_method_metadata_and_coroutine_ness(arun):
    plain, sync = Meta(), SyncMeta()
    for name in ("method", "amethod", "cmethod", "acmethod", "smethod", "asmethod"):
        before, after = getattr(plain, name), getattr(sync, name)
        assert after.__name__ == before.__name__ and after.__doc__ == before.__doc__, name
        assert inspect.signature(after) == inspect.signature(before), name
        assert inspect.iscoroutinefunction(after) is inspect.iscoroutinefunction(before), name
        via_class = getattr(SyncMeta, name)
        assert inspect.iscoroutinefunction(via_class) is inspect.iscoroutinefunction(
            getattr(Meta, name)
        ), name
    assert inspect.iscoroutinefunction(sync.amethod) and not inspect.iscoroutinefunction(
        sync.method
    )
    assert SyncMeta.__dict__["method"].__wrapped__ is Meta.__dict__["method"]
    assert SyncMeta.__dict__["cmethod"].__func__.__wrapped__ is Meta.__dict__["cmethod"].__func__
    assert sync.method(1, y=2) == 3 and arun(sync.amethod(4)) == 4
    assert sync.cmethod(5) == (SyncMeta, 5) and arun(SyncMeta.acmethod(6)) == (SyncMeta, 6)
    assert sync.smethod(7) == 7 and arun(SyncMeta.asmethod(8)) == 8


def test_method_binding(arun):
    obj = Counter()
    bound = obj.touch
    assert inspect.ismethod(bound)
    assert bound.__self__ is obj and bound.__func__ is _Methods.__dict__["touch"]
    assert Counter.touch is _Methods.__dict__["touch"]
    assert bound() == "touched" and Counter.touch(obj) == "touched"
    assert arun(Counter.atouch(obj)) == "atouched"
    # Class.method(obj) takes obj's lock, like obj.method().
    leave, holder = hold_in_thread(obj.hold)
    assert assert_excluded(lambda: Counter.touch(obj), leave, holder) == "touched"
    leave, holder = hold_in_thread(Counter.hold, obj)
    assert assert_excluded(obj.touch, leave, holder) == "touched"


def test_class_decorator_keeps_the_class_metadata():
    class Plain:
        """Plain's doc."""

        def __init__(self, a, b=2):
            pass

    K = synchronized(Plain)
    assert (K.__name__, K.__qualname__, K.__doc__) == (
        Plain.__name__,
        Plain.__qualname__,
        Plain.__doc__,
    )
    assert K.__module__ == Plain.__module__
    assert K.__wrapped__ is Plain
    assert inspect.signature(K) == inspect.signature(Plain)


# -- 6. the calls themselves: results, the coroutine protocol, pickling --------------


class Results(Counter):
    @synchronized
    async def give(self, value, pause):
        if pause:
            await asyncio.sleep(0)
        return value

    @synchronized
    async def pause(self):
        await asyncio.sleep(0)
        return "paused"

    @synchronized
    async def kwargs(self, **kw):
        await asyncio.sleep(0)
        return kw


def test_async_results_come_back_unchanged(arun):
    obj = Results()
    values = [None, 0, "x", (), (1, 2), [3], StopIteration(4), ZeroDivisionError()]

    async def main():
        # The first call (which makes the box) and later ones, returning at once or after
        # a suspension.
        for pause in (False, True):
            for value in values:
                assert await obj.give(value, pause) is value
        # `**kwargs` is the caller's at call time, as for any function.
        kw = {"a": 1}
        coro = obj.kwargs(**kw)
        kw["b"] = 2
        assert await coro == {"a": 1}
        assert not vars(obj)[_ATTR].locked()

    arun(main())


def test_async_calls_are_coroutines_of_one_kind(arun):
    obj = Results()

    async def main():
        first, second = obj.give(1, False), obj.give(2, True)  # before and after the box
        assert type(first) is type(second)
        for coro in (first, second):
            assert asyncio.iscoroutine(coro) and inspect.isawaitable(coro)
            assert coro.__qualname__ == Results.give.__qualname__
        assert await asyncio.ensure_future(first) == 1 and await second == 2
        # The coroutine protocol: a first send must be None (and starts nothing), a
        # finished one is spent, one closed or thrown into before it starts takes nothing.
        coro = obj.give(3, False)
        with pytest.raises(TypeError):
            coro.send(3)
        assert await coro == 3
        with pytest.raises(RuntimeError):
            await coro
        coro = obj.give(4, False)
        coro.close()
        with pytest.raises(ValueError):
            obj.give(5, False).throw(ValueError("thrown"))
        assert not vars(obj)[_ATTR].locked()

    arun(main())


def test_async_call_closed_while_waiting_or_running_releases(arun):
    obj = Results()

    async def main():
        await obj.atouch()  # the box exists: the calls below take it themselves
        box = vars(obj)[_ATTR]
        leave, holder = await a_hold(obj)
        waiting = obj.atouch()
        assert waiting.send(None) is not None  # waits for the lock: yields a future
        waiting.close()  # gives up its place
        leave.set()
        await asyncio.wait_for(holder, SHORT)
        running = obj.pause()
        assert running.send(None) is None  # holds the lock, suspended in the function
        assert box.locked()
        running.close()
        assert not box.locked()
        assert await asyncio.wait_for(obj.atouch(), SHORT) == "atouched"

    arun(main())


def test_decorated_functions_pickle_and_copy_by_reference():
    for fn in (_f_touch, _coro_touch):
        assert pickle.loads(pickle.dumps(fn)) is fn
        assert copy.copy(fn) is fn and copy.deepcopy(fn) is fn
    assert "_f_touch" in repr(_f_touch)


@synchronized
async def _coro_touch():
    return "coro"


def test_decorating_twice_keeps_the_inner_kind_of_lock():
    class Twice(Counter):
        @synchronized(timeout=SHORT)
        @synchronized
        def twice(self):
            return "twice"

    a, b = Twice(), Twice()
    assert a.twice() == "twice"  # the sync lock is reentrant
    # Per instance (the inner lock's kind), not per function.
    leave, holder = hold_in_thread(a.hold)
    assert_not_excluded(b.twice, leave, holder)
    leave, holder = hold_in_thread(a.hold)
    assert assert_excluded(a.twice, leave, holder) == "twice"
