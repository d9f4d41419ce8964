"""synchronized: reentrant sync locks, async locks across awaits, with / async with."""

from __future__ import annotations

import asyncio
import inspect
import threading
import types

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
from aiosync import synchronized
from conftest import DEADLINE, join_all, run_in_thread

# -- 2. reentrant sync locks; async locks held across awaits --------------------------


@synchronized
def _recurse(n):
    return 0 if n == 0 else 1 + _recurse(n - 1)


def test_sync_lock_is_reentrant():
    obj = Counter()

    def nested():
        results = [obj.outer(), _recurse(5)]  # method -> method (-> with), and recursion
        with synchronized(obj):
            results.append(obj.outer())
        return results

    t = run_in_thread(nested)
    join_all([t], SHORT)  # a deadlock fails here
    assert t.result == [2, 5, 2]
    # Reentrant for the owner thread only: another thread is still kept out.
    leave, holder = hold_in_thread(obj.hold)
    assert assert_excluded(obj.outer, leave, holder) == 2


def test_sync_calls_are_serialised_across_threads():
    obj = Counter()
    THREADS, CALLS = 4, 200
    barrier = threading.Barrier(THREADS)

    def worker():
        barrier.wait(DEADLINE)
        for _ in range(CALLS):
            obj.inc()

    join_all([run_in_thread(worker) for _ in range(THREADS)])
    assert obj.n == THREADS * CALLS
    assert obj.sync_probe.max_inside == 1


def test_sync_lock_is_released_on_error():
    obj = Counter()
    with pytest.raises(ZeroDivisionError):
        obj.fail()
    t = run_in_thread(obj.touch)
    join_all([t], SHORT)
    assert t.result == "touched"


class AsyncKinds:
    a = 0
    probe = Probe()
    fstate = types.SimpleNamespace(a=0)
    fprobe = Probe()

    @synchronized
    @classmethod
    async def cinc(cls):
        await _abump(cls, "a", cls.probe)

    @synchronized
    @staticmethod
    async def sinc():
        await _abump(AsyncKinds.fstate, "a", AsyncKinds.fprobe)


@synchronized
async def _afinc(state, probe):
    await _abump(state, "a", probe)


def test_async_def_holds_its_lock_across_awaits(arun):
    async def main():
        # Without the lock, ten read-await-write increments lose updates...
        bare = Counter()
        await asyncio.gather(*(_abump(bare, "a", bare.async_probe) for _ in range(10)))
        assert bare.a < 10 and bare.async_probe.max_inside > 1
        # ...with it they end at exactly ten: a method, also on a __slots__ object...
        for obj in (Counter(), Slotted(), SlottedNoWeakref()):
            await asyncio.gather(*(obj.ainc() for _ in range(10)))
            assert obj.a == 10, type(obj)
            assert obj.async_probe.max_inside == 1
        # ...a plain function (whatever its arguments), a classmethod, a staticmethod.
        state, probe = types.SimpleNamespace(a=0), Probe()
        await asyncio.gather(*(_afinc(state, probe) for _ in range(10)))
        assert state.a == 10 and probe.max_inside == 1
        await asyncio.gather(*(AsyncKinds.cinc() for _ in range(10)))
        assert AsyncKinds.a == 10 and AsyncKinds.probe.max_inside == 1
        await asyncio.gather(*(AsyncKinds().sinc() for _ in range(10)))
        assert AsyncKinds.fstate.a == 10 and AsyncKinds.fprobe.max_inside == 1

    arun(main())


def test_async_lock_is_taken_inside_the_coroutine(arun):
    obj = Counter()

    async def main():
        entered, leave = asyncio.Event(), asyncio.Event()
        unstarted = obj.ahold(entered, leave)  # made, never started: holds nothing
        assert await asyncio.wait_for(obj.atouch(), SHORT) == "atouched"
        unstarted.close()
        box = vars(obj)[_ATTR]
        assert not box.locked()
        leave, holder = await a_hold(obj)
        assert box.locked()  # held while the coroutine runs
        leave.set()
        await asyncio.wait_for(holder, SHORT)
        assert not box.locked()

    arun(main())


def test_async_lock_is_released_on_error_and_cancellation(arun):
    obj = Counter()

    async def main():
        with pytest.raises(ZeroDivisionError):
            await obj.afail()
        box = vars(obj)[_ATTR]
        assert not box.locked() and not box.held_by_current_task()
        # Cancelled while holding.
        _, holder = await a_hold(obj)
        holder.cancel()
        with pytest.raises(asyncio.CancelledError):
            await holder
        assert not box.locked() and not box.held_by_current_task()
        # Cancelled while waiting.
        leave, holder = await a_hold(obj)
        waiter = asyncio.ensure_future(obj.atouch())
        done, _ = await asyncio.wait({waiter}, timeout=GRACE)
        assert not done
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        leave.set()
        await asyncio.wait_for(holder, SHORT)
        assert not box.locked() and not box.held_by_current_task()
        assert await asyncio.wait_for(obj.atouch(), SHORT) == "atouched"

    arun(main())


class Stream(Counter):
    @synchronized
    async def items(self, tag, n, log):
        self.async_probe.enter()
        try:
            for i in range(n):
                log.append(tag)
                await asyncio.sleep(0)
                yield i
        finally:
            self.async_probe.leave()


def test_async_generator_is_serialised(arun):
    obj = Stream()
    log = []

    async def consume(tag):
        got = []
        async for i in obj.items(tag, 4, log):
            got.append(i)
            await asyncio.sleep(0)
        return got

    async def main():
        results = await asyncio.gather(*(consume(tag) for tag in "abcd"))
        assert results == [[0, 1, 2, 3]] * 4
        assert obj.async_probe.max_inside == 1
        runs = [tag for i, tag in enumerate(log) if i == 0 or log[i - 1] != tag]
        assert sorted(runs) == list("abcd")  # each generator ran start to end alone

        # The lock is held across a yield: a suspended generator keeps others out, and
        # closing it lets them in.
        gen = obj.items("x", 3, log)
        assert await gen.__anext__() == 0
        task = asyncio.ensure_future(obj.atouch())
        done, _ = await asyncio.wait({task}, timeout=GRACE)
        assert not done
        await gen.aclose()
        assert await asyncio.wait_for(task, SHORT) == "atouched"

    arun(main())


@pytest.mark.xfail(
    strict=True,
    reason="bug: after `break` out of `async for` over a synchronized async generator, "
    "the generator's task stays recorded as the lock's holder until the loop runs the "
    "generator's aclose(), so the task's next synchronized call on that object raises "
    "the re-entry RuntimeError although waiting would succeed",
)
def test_async_generator_left_by_break_does_not_block_its_task(arun):
    obj = Stream()

    async def main():
        async for i in obj.items("x", 5, []):
            if i == 1:
                break
        return await obj.atouch()  # no wait_for: it would run this in another task

    assert arun(main(), SHORT) == "atouched"


class Resource:
    def __init__(self):
        self.entered = 0
        self.exited = 0
        self.probe = Probe()

    @synchronized
    async def __aenter__(self):
        await _abump(self, "entered", self.probe)
        return self

    @synchronized
    async def __aexit__(self, *exc):
        await _abump(self, "exited", self.probe)
        return False


def test_async_context_manager_methods_are_serialised(arun):
    r = Resource()
    assert inspect.iscoroutinefunction(Resource.__aenter__)
    assert inspect.iscoroutinefunction(r.__aexit__)

    async def use():
        async with r as got:
            assert got is r
            await asyncio.sleep(0)

    async def main():
        await asyncio.gather(*(use() for _ in range(10)))
        assert r.entered == 10 and r.exited == 10
        assert r.probe.max_inside == 1
        # They take the instance's async lock: held elsewhere, `async with r` waits.
        async with synchronized(r):
            task = asyncio.ensure_future(use())
            done, _ = await asyncio.wait({task}, timeout=GRACE)
        await asyncio.wait_for(task, SHORT)
        assert not done
        assert r.entered == 11 and r.exited == 11

    arun(main())


def test_with_synchronized_obj_shares_the_methods_lock():
    obj = Counter()
    # The context form holds the lock the methods take...
    with synchronized(obj) as lock:
        assert lock is vars(obj)[_ATTR].sync
        assert obj.touch() == "touched"  # reentrant on this thread
        t = run_in_thread(obj.touch)
        t.join(GRACE)
        kept_out = t.is_alive()
    join_all([t], SHORT)
    assert kept_out, "a method ran while `with synchronized(obj)` held the lock"
    # ...and the methods hold the lock the context form takes.
    leave, holder = hold_in_thread(obj.hold)
    assert assert_excluded(lambda: _ctx_touch(obj), leave, holder) == "ctx"
    # Another object's context is separate.
    leave, holder = hold_in_thread(obj.hold)
    assert_not_excluded(lambda: _ctx_touch(Counter()), leave, holder)

    # Both forms mixed on one counter.
    def via_method():
        for _ in range(100):
            obj.inc()

    def via_with():
        for _ in range(100):
            with synchronized(obj):
                _bump(obj, "n", obj.sync_probe)

    join_all([run_in_thread(f) for f in (via_method, via_with, via_method, via_with)])
    assert obj.n == 400 and obj.sync_probe.max_inside == 1


def test_async_with_synchronized_obj_shares_the_async_methods_lock(arun):
    obj = Counter()

    async def ctx():
        async with synchronized(obj):
            return "ctx"

    async def via_with():
        async with synchronized(obj):
            await _abump(obj, "a", obj.async_probe)

    async def main():
        # The context form holds the lock the async methods take...
        async with synchronized(obj) as lock:
            assert lock is vars(obj)[_ATTR]
            task = asyncio.ensure_future(obj.atouch())
            done, _ = await asyncio.wait({task}, timeout=GRACE)
        assert await asyncio.wait_for(task, SHORT) == "atouched"
        assert not done, "an async method ran while `async with synchronized(obj)` held"
        # ...and the async methods hold the lock the context form takes.
        leave, holder = await a_hold(obj)
        assert await a_assert_excluded(ctx, leave, holder) == "ctx"
        # Both forms mixed on one counter.
        await asyncio.gather(*(obj.ainc() for _ in range(5)), *(via_with() for _ in range(5)))
        assert obj.a == 10 and obj.async_probe.max_inside == 1

    arun(main())


@pytest.mark.parametrize("make", [threading.Lock, aiosync.Lock], ids=["threading", "aiosync"])
def test_synchronized_lock_like_uses_that_lock(make):
    lock = make()
    with synchronized(lock) as got:
        assert got is lock and lock.locked()
    assert not lock.locked()

    @synchronized(lock)
    def f():
        assert lock.locked()
        return "f"

    assert f() == "f" and not lock.locked()
    # Held elsewhere, the decorated function waits for it.
    assert lock.acquire()
    t = run_in_thread(f)
    t.join(GRACE)
    kept_out = t.is_alive()
    lock.release()
    join_all([t], SHORT)
    assert kept_out and t.result == "f"
    # With a timeout.
    timed = synchronized(lock, timeout=TIMEOUT)(lambda: lock.locked())
    assert timed() is True
    with lock:
        for call in (timed, lambda: _ctx_timed(lock)):
            t = run_in_thread(call)
            t.join(SHORT)
            assert len(t.errors) == 1 and type(t.errors[0]) is TimeoutError
    assert not lock.locked()


def _ctx_timed(lock):
    with synchronized(lock, timeout=TIMEOUT):
        pass


def test_synchronized_threading_rlock():
    lock = threading.RLock()
    with synchronized(lock):
        assert lock._is_owned()
        with synchronized(lock):  # its own reentrancy
            assert lock._is_owned()
    assert not lock._is_owned()


@pytest.mark.parametrize("make", [asyncio.Lock, aiosync.Lock], ids=["asyncio", "aiosync"])
def test_async_synchronized_lock_like_uses_that_lock(arun, make):
    async def main():
        lock = make()
        async with synchronized(lock) as got:
            assert got is lock and lock.locked()
        assert not lock.locked()
        box = types.SimpleNamespace(n=0)
        probe = Probe()

        @synchronized(lock)
        async def f():
            assert lock.locked()
            await _abump(box, "n", probe)
            return "f"

        assert inspect.iscoroutinefunction(f)
        assert await f() == "f" and not lock.locked()
        await asyncio.gather(*(f() for _ in range(10)))
        assert box.n == 11 and probe.max_inside == 1
        # Held elsewhere, the decorated coroutine waits for it.
        await lock.acquire()
        task = asyncio.ensure_future(f())
        done, _ = await asyncio.wait({task}, timeout=GRACE)
        lock.release()
        assert await asyncio.wait_for(task, SHORT) == "f"
        assert not done

    arun(main())


def test_async_with_a_threading_lock_does_not_leave_it_held(arun):
    lock = threading.Lock()

    async def main():
        try:
            async with synchronized(lock):
                assert lock.locked()
        except TypeError:
            pass  # refusing is fine; leaking the lock is not

    arun(main(), SHORT)
    assert not lock.locked()
