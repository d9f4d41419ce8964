"""synchronized beyond wrapt: __slots__, loops and threads, reentrant, shared, timeout."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import gc
import time
import weakref

import aiosync
import pytest
from _synchronized_helpers import (
    _ATTR,
    GRACE,
    SHORT,
    TIMEOUT,
    Counter,
    Probe,
    Slotted,
    SlottedNoWeakref,
    _abump,
    _bump,
    _ctx_touch,
    a_assert_excluded,
    a_hold,
    assert_excluded,
    assert_not_excluded,
    hold_in_thread,
)
from aiosync import _aiosync, synchronized
from conftest import DEADLINE, join_all, run_in_loop_thread, run_in_thread

# -- 4. beyond wrapt ------------------------------------------------------------------


@pytest.fixture
def quiet_gc():
    """No automatic collection during the test: the registry's size then changes only
    through what the test itself does."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def test_slots_object_gets_a_lock_freed_with_it(arun, quiet_gc):
    before = _aiosync._box_table_len()[0]
    a, b = Slotted(), Slotted()
    assert not hasattr(a, "__dict__")
    a.inc()
    arun(a.ainc())
    assert (a.n, a.a) == (1, 1)
    assert _aiosync._box_table_len()[0] == before + 1
    box = _aiosync._registered_box(a)
    assert isinstance(box.sync, aiosync.RLock) and not box.locked()
    # Per instance: the same object is kept out, another is not.
    leave, holder = hold_in_thread(a.hold)
    assert_excluded(a.touch, leave, holder)
    leave, holder = hold_in_thread(a.hold)
    assert_not_excluded(b.touch, leave, holder)
    # The context forms take the same locks.
    with synchronized(a) as lock:
        assert lock is box.sync
    leave, holder = hold_in_thread(a.hold)
    assert_excluded(functools.partial(_ctx_touch, a), leave, holder)
    assert _aiosync._box_table_len()[0] == before + 2
    # Freed with the object.
    ref = weakref.ref(a)
    del a, box, lock, holder, leave
    gc.collect()
    assert ref() is None
    assert _aiosync._registered_box(b) is not None
    assert _aiosync._box_table_len()[0] == before + 1
    del b
    gc.collect()
    assert _aiosync._box_table_len()[0] == before


def test_objects_without_weakref_or_dict_get_a_lock_while_in_use(arun, quiet_gc):
    before_counts = _aiosync._box_table_len()
    s = SlottedNoWeakref()
    with pytest.raises(TypeError):
        weakref.ref(s)

    def registered():
        return _aiosync._registered_box(s) is not None

    # While a call holds the lock its entry exists, and others are kept out.
    leave, holder = hold_in_thread(s.hold)
    assert registered()
    assert_excluded(s.touch, leave, holder)
    leave, holder = hold_in_thread(s.hold)
    assert_excluded(lambda: _ctx_touch(s), leave, holder)
    other = SlottedNoWeakref()
    leave, holder = hold_in_thread(s.hold)
    assert_not_excluded(other.touch, leave, holder)
    # Exact counts from several threads, async too.
    join_all([run_in_thread(lambda: [s.inc() for _ in range(100)]) for _ in range(3)])
    assert s.n == 300 and s.sync_probe.max_inside == 1

    async def ten():
        await asyncio.gather(*(s.ainc() for _ in range(10)))

    arun(ten())
    assert s.a == 10 and s.async_probe.max_inside == 1
    # Errors leave nothing behind.
    with pytest.raises(ZeroDivisionError):
        s.fail()
    with pytest.raises(ZeroDivisionError):
        arun(s.afail())
    # Once no call holds or waits, the entry is gone.
    assert not registered()
    assert _aiosync._box_table_len() == before_counts

    # Builtin objects that refuse attributes and weak references work as well.
    token = object()

    def hold_token(entered, leave):
        with synchronized(token):
            entered.set()
            assert leave.wait(DEADLINE)

    leave, holder = hold_in_thread(hold_token)
    assert_excluded(lambda: _ctx_touch(token), leave, holder)
    assert _aiosync._box_table_len() == before_counts


def test_one_object_from_three_loops_and_two_threads(loop_threads):
    obj = Counter()
    loops = loop_threads(3)
    N, M = 30, 100

    async def batch():
        await asyncio.gather(*(obj.ainc() for _ in range(N)))

    # One loop holds the async lock: the other two loops wait for it, then get it.
    entered, leave = aiosync.Event(), aiosync.Event()
    held = asyncio.run_coroutine_threadsafe(obj.ahold(entered, leave), loops[0])
    assert entered.wait(SHORT)
    waiting = [asyncio.run_coroutine_threadsafe(batch(), lp) for lp in loops[1:]]
    done, _ = concurrent.futures.wait(waiting, timeout=GRACE)
    leave.set()
    held.result(SHORT)
    for f in waiting:
        f.result(DEADLINE)
    assert not done, "another loop ran while the lock was held"
    assert obj.a == 2 * N

    # All three loops, and two plain threads using the sync method, the `with` form and
    # a loop of their own, at once.
    def plain():
        for i in range(M):
            if i % 2:
                obj.inc()
            else:
                with synchronized(obj):
                    _bump(obj, "n", obj.sync_probe)
        asyncio.run(asyncio.wait_for(batch(), DEADLINE))

    futures = [asyncio.run_coroutine_threadsafe(batch(), lp) for lp in loops]
    threads = [run_in_thread(plain) for _ in range(2)]
    for f in futures:
        f.result(DEADLINE)
    join_all(threads)
    assert obj.a == 2 * N + 3 * N + 2 * N
    assert obj.n == 2 * M
    assert obj.async_probe.max_inside == 1 and obj.sync_probe.max_inside == 1
    # Still usable from yet another loop, in this thread.
    asyncio.run(asyncio.wait_for(obj.ainc(), SHORT))
    assert obj.a == 7 * N + 1


class Nested:
    def __init__(self):
        self.n = 0
        self.probe = Probe()

    @synchronized(reentrant=True)
    async def outer(self):
        return await self.inner() + 1

    @synchronized(reentrant=True)
    async def inner(self):
        async with synchronized(self, reentrant=True):
            await _abump(self, "n", self.probe)
        return 1

    @synchronized(reentrant=True)
    async def ahold(self, entered, leave):
        entered.set()
        await asyncio.wait_for(leave.wait(), DEADLINE)


def test_reentrant_true_gives_a_per_task_reentrant_async_lock(arun):
    obj = Nested()

    async def main():
        assert await asyncio.wait_for(obj.outer(), SHORT) == 2  # outer -> inner -> with
        await asyncio.gather(*(obj.outer() for _ in range(10)))
        assert obj.n == 11 and obj.probe.max_inside == 1
        # Reentrant for the owner task only: another task is kept out.
        leave, holder = await a_hold(obj)
        assert await a_assert_excluded(obj.outer, leave, holder) == 2

    arun(main())


class MixedAsync(Counter):
    @synchronized(reentrant=True)
    async def rtouch(self):
        return "reentrant"


def test_reentrant_and_plain_async_methods_share_the_instance_lock(arun):
    obj = MixedAsync()

    async def main():
        leave, holder = await a_hold(obj)
        await a_assert_excluded(obj.rtouch, leave, holder)

    arun(main())


class Reenter(Counter):
    @synchronized
    async def outer(self):
        return await self.atouch()

    @synchronized
    async def outer_ctx(self):
        async with synchronized(self):
            return "never"

    @synchronized
    async def agen(self):
        yield await self.atouch()


def test_async_reentry_by_the_same_task_raises_at_once(arun):
    obj = Reenter()

    async def main():
        for make in (obj.outer, obj.outer_ctx, lambda: obj.agen().__anext__()):
            t0 = time.monotonic()
            with pytest.raises(RuntimeError):
                await asyncio.wait_for(make(), SHORT)  # a hang is a TimeoutError here
            assert time.monotonic() - t0 < 2.0  # at once, not after the deadline
            # The error left the lock free.
            assert await asyncio.wait_for(obj.atouch(), SHORT) == "atouched"
        # Another task is not the holder: it waits instead of raising.
        leave, holder = await a_hold(obj)
        assert await a_assert_excluded(obj.atouch, leave, holder) == "atouched"

    arun(main())


class SharedCounter(Counter):
    @synchronized(shared=True)
    async def ahold(self, entered, leave):
        entered.set()
        await asyncio.wait_for(leave.wait(), DEADLINE)

    @synchronized(shared=True)
    async def ainc(self):
        await _abump(self, "n", self.sync_probe)  # the sync methods' counter


def test_shared_true_makes_sync_and_async_methods_exclude_each_other(arun, loop_threads):
    obj = SharedCounter()

    # A sync method holding the lock keeps a shared async method out...
    leave, holder = hold_in_thread(obj.hold)

    async def kept_out():
        task = asyncio.ensure_future(obj.ainc())
        done, _ = await asyncio.wait({task}, timeout=GRACE)
        leave.set()
        await asyncio.wait_for(task, SHORT)
        return not done

    assert arun(kept_out()), "a shared async method ran while a sync method held the lock"
    join_all([holder], SHORT)

    # ...and a shared async method holding it (on a loop in another thread) keeps sync
    # methods and the `with` form out.
    (loop,) = loop_threads(1)
    entered, leave = aiosync.Event(), aiosync.Event()
    held = asyncio.run_coroutine_threadsafe(obj.ahold(entered, leave), loop)
    assert entered.wait(SHORT)
    waiting = [run_in_thread(obj.inc), run_in_thread(lambda: _ctx_touch(obj))]
    for t in waiting:
        t.join(GRACE)
    kept = all(t.is_alive() for t in waiting)
    leave.set()
    held.result(SHORT)
    join_all(waiting, SHORT)
    assert kept, "a sync method ran while a shared async method held the lock"

    # One counter, bumped by two loops and two threads.
    base = obj.n
    N, M = 30, 100

    async def batch():
        await asyncio.gather(*(obj.ainc() for _ in range(N)))

    loops = [run_in_loop_thread(batch) for _ in range(2)]
    threads = [run_in_thread(lambda: [obj.inc() for _ in range(M)]) for _ in range(2)]
    join_all(loops + threads)
    assert obj.n == base + 2 * N + 2 * M
    assert obj.sync_probe.max_inside == 1


class Timed(Counter):
    @synchronized(timeout=TIMEOUT)
    def timed(self):
        return "timed"

    @synchronized(timeout=TIMEOUT)
    async def atimed(self):
        return "atimed"


def test_timeout_raises_timeout_error_sync():
    obj = Timed()
    assert obj.timed() == "timed"  # a free lock: no error
    leave, holder = hold_in_thread(obj.hold)
    try:
        t0 = time.monotonic()
        with pytest.raises(TimeoutError) as err:
            obj.timed()
        elapsed = time.monotonic() - t0
        with pytest.raises(TimeoutError) as err_ctx:
            with synchronized(obj, timeout=TIMEOUT):
                pass
    finally:
        leave.set()
        join_all([holder], SHORT)
    assert type(err.value) is TimeoutError and type(err_ctx.value) is TimeoutError
    assert TIMEOUT * 0.8 <= elapsed < SHORT
    assert obj.timed() == "timed"  # the timed-out calls left nothing behind
    assert _ctx_touch(obj) == "ctx"


def test_timeout_raises_timeout_error_async(arun, loop_threads):
    obj = Timed()

    async def timed_out():
        t0 = time.monotonic()
        with pytest.raises(TimeoutError) as err:
            await obj.atimed()
        elapsed = time.monotonic() - t0
        with pytest.raises(TimeoutError) as err_ctx:
            async with synchronized(obj, timeout=TIMEOUT):
                pass
        assert type(err.value) is TimeoutError and type(err_ctx.value) is TimeoutError
        assert TIMEOUT * 0.8 <= elapsed < SHORT

    async def main():
        assert await obj.atimed() == "atimed"  # a free lock: no error
        # Held by another task of this loop.
        leave, holder = await a_hold(obj)
        try:
            await timed_out()
        finally:
            leave.set()
            await asyncio.wait_for(holder, SHORT)
        assert await asyncio.wait_for(obj.atimed(), SHORT) == "atimed"

    arun(main())

    # Held by a task on another loop, in another thread.
    (loop,) = loop_threads(1)
    entered, leave = aiosync.Event(), aiosync.Event()
    held = asyncio.run_coroutine_threadsafe(obj.ahold(entered, leave), loop)
    assert entered.wait(SHORT)
    try:
        arun(timed_out())
    finally:
        leave.set()
        held.result(SHORT)
    assert arun(obj.atimed()) == "atimed"
    assert not vars(obj)[_ATTR].locked()
