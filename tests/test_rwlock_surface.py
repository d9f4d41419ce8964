"""RWLock as a drop-in for aiorwlock: reprs, `locked`, errors, and aiorwlock's yield to
the event loop after an asyncio acquire (`fast=False`, the default) or its absence
(`fast=True`). Written from aiorwlock's documented behaviour; where it is simple, the same
test runs against aiorwlock itself (when installed), so the two cannot drift apart."""

from __future__ import annotations

import asyncio
import gc

import aiosync
import pytest

try:
    import aiorwlock
except ImportError:  # pragma: no cover - the comparison is optional
    aiorwlock = None

IMPLS = [pytest.param(aiosync.RWLock, id="aiosync")]
if aiorwlock is not None:
    IMPLS.append(pytest.param(aiorwlock.RWLock, id="aiorwlock"))

UNLOCKED = "<RWLock: <ReaderLock: [unlocked]> <WriterLock: [unlocked]>>"


def both_modes(make):
    return [make(), make(fast=True)]


# --- reprs and `locked` ------------------------------------------------------------------


@pytest.mark.parametrize("make", IMPLS)
def test_reprs_of_an_idle_lock(make):
    for rw in both_modes(make):
        assert repr(rw) == UNLOCKED
        assert repr(rw.reader_lock) == "<ReaderLock: [unlocked]>"
        assert repr(rw.writer_lock) == "<WriterLock: [unlocked]>"
        assert rw.reader_lock.locked is False and rw.writer_lock.locked is False


@pytest.mark.parametrize("make", IMPLS)
def test_reprs_and_locked_while_held(make, arun):
    rw = make()
    states = []

    def record():
        states.append((repr(rw), rw.reader_lock.locked, rw.writer_lock.locked))

    async def main():
        async with rw.reader_lock:
            record()
            async with rw.reader_lock:  # a second level of the same reader
                record()
        record()
        async with rw.writer_lock:
            record()
            async with rw.reader_lock:  # the writer also reads
                record()
            record()
        await rw.writer_lock.acquire()
        await rw.reader_lock.acquire()
        rw.writer_lock.release()  # still reading: the read lock stays taken
        record()
        rw.reader_lock.release()
        record()

    arun(main())
    r_only = "<RWLock: <ReaderLock: [locked]> <WriterLock: [unlocked]>>"
    w_only = "<RWLock: <ReaderLock: [unlocked]> <WriterLock: [locked]>>"
    both = "<RWLock: <ReaderLock: [locked]> <WriterLock: [locked]>>"
    assert states == [
        (r_only, True, False),
        (r_only, True, False),
        (UNLOCKED, False, False),
        (w_only, False, True),
        (both, True, True),
        (w_only, False, True),
        (r_only, True, False),
        (UNLOCKED, False, False),
    ]


@pytest.mark.parametrize("make", IMPLS)
def test_reader_lock_locked_while_a_writer_reads(make, arun):
    """`reader_lock.locked` counts a writer that also took the read lock, as aiorwlock's
    does: the reader side is held, by the writer."""
    rw = make()

    async def main():
        async with rw.writer_lock:
            assert not rw.reader_lock.locked
            await rw.reader_lock.acquire()
            assert rw.reader_lock.locked and rw.writer_lock.locked
            assert "<ReaderLock: [locked]>" in repr(rw)
            rw.reader_lock.release()
            assert not rw.reader_lock.locked

    arun(main())


def test_locked_from_another_thread_sees_a_writer_that_reads(arun):
    """aiosync only: the state is shared with threads, which see the same."""
    rw = aiosync.RWLock()

    async def main():
        async with rw.writer_lock, rw.reader_lock:
            seen = await asyncio.to_thread(lambda: (rw.reader_lock.locked, repr(rw)))
            assert seen == (True, "<RWLock: <ReaderLock: [locked]> <WriterLock: [locked]>>")

    arun(main())


# --- the surface: keyword-only fast, errors, `async with` value ----------------------------


@pytest.mark.parametrize("make", IMPLS)
def test_fast_is_keyword_only(make):
    with pytest.raises(TypeError):
        make(True)
    make(fast=False)
    make(fast=True)


@pytest.mark.parametrize("make", IMPLS)
@pytest.mark.parametrize("fast", [False, True])
def test_errors_as_aiorwlock(make, fast, arun):
    rw = make(fast=fast)

    async def main():
        with pytest.raises(RuntimeError, match="Cannot release an un-acquired lock"):
            rw.reader_lock.release()
        with pytest.raises(RuntimeError, match="Cannot release an un-acquired lock"):
            rw.writer_lock.release()
        async with rw.reader_lock:
            with pytest.raises(RuntimeError, match="Cannot upgrade RWLock from read to write"):
                await rw.writer_lock.acquire()
            # The refused upgrade took nothing: the read lock is held once.
            assert rw.reader_lock.locked and not rw.writer_lock.locked
        assert repr(rw) == UNLOCKED

    arun(main())


@pytest.mark.parametrize("make", IMPLS)
@pytest.mark.parametrize("fast", [False, True])
def test_async_with_gives_none(make, fast, arun):
    rw = make(fast=fast)

    async def main():
        async with rw.reader_lock as r:
            assert r is None
        async with rw.writer as w:
            assert w is None

    arun(main())


# --- the yield after an acquire (fast=False) -----------------------------------------------


async def ran_before(acquire) -> bool:
    """Whether a task made ready just before `await acquire()` ran before it returned."""
    ran = []

    async def other():
        ran.append(True)

    task = asyncio.ensure_future(other())
    await acquire()
    before = bool(ran)
    await task
    return before


@pytest.mark.parametrize("make", IMPLS)
@pytest.mark.parametrize("fast", [False, True])
def test_uncontended_acquire_yields_unless_fast(make, fast, arun):
    rw = make(fast=fast)

    async def enter(side):
        await side.__aenter__()

    async def main():
        seen = []
        for side in (rw.reader_lock, rw.writer_lock):
            seen.append(await ran_before(side.acquire))
            side.release()
            seen.append(await ran_before(lambda side=side: enter(side)))
            await side.__aexit__(None, None, None)
        return seen

    assert arun(main()) == [not fast] * 4
    assert repr(rw) == UNLOCKED


@pytest.mark.parametrize("make", IMPLS)
@pytest.mark.parametrize("fast", [False, True])
def test_reentered_acquire_yields_unless_fast(make, fast, arun):
    """aiorwlock also yields after a level taken by an owner that holds the lock (a
    second read, a writer's read, a second write)."""
    rw = make(fast=fast)

    async def main():
        seen = []
        async with rw.writer_lock:
            seen.append(await ran_before(rw.reader_lock.acquire))
            rw.reader_lock.release()
            seen.append(await ran_before(rw.writer_lock.acquire))
            rw.writer_lock.release()
        async with rw.reader_lock:
            seen.append(await ran_before(rw.reader_lock.acquire))
            rw.reader_lock.release()
        return seen

    assert arun(main()) == [not fast] * 3
    assert repr(rw) == UNLOCKED


@pytest.mark.parametrize("make", IMPLS)
@pytest.mark.parametrize("fast", [False, True])
def test_a_looping_task_starves_others_only_when_fast(make, fast, arun):
    """The reason for the yield: a task looping on an uncontended acquire and release
    lets the other tasks of its loop run, once per acquire."""
    rw = make(fast=fast)
    ticks = []

    async def ticker():
        while True:
            ticks.append(None)
            await asyncio.sleep(0)

    async def main():
        t = asyncio.ensure_future(ticker())
        await asyncio.sleep(0)
        start = len(ticks)
        for _ in range(50):
            await rw.reader_lock.acquire()
            rw.reader_lock.release()
            async with rw.writer_lock:
                pass
        done = len(ticks) - start
        t.cancel()
        return done

    done = arun(main())
    assert done == 0 if fast else done >= 100


@pytest.mark.parametrize("make", IMPLS)
def test_an_acquire_that_waited_does_not_yield_again(make, arun):
    """After waiting for the lock the acquire returns as soon as its task runs: the wait
    already let the loop run (aiorwlock yields only on the paths that do not wait)."""
    rw = make()

    async def main():
        order = []
        await rw.writer_lock.acquire()

        async def reader():
            await rw.reader_lock.acquire()
            order.append("reader")
            rw.reader_lock.release()

        task = asyncio.ensure_future(reader())
        for _ in range(3):
            await asyncio.sleep(0)  # the reader now waits
        rw.writer_lock.release()

        async def other():
            for _ in range(3):
                order.append("other")
                await asyncio.sleep(0)

        # Made ready after the reader was woken: with a second yield the reader would
        # come after its first step.
        other_task = asyncio.ensure_future(other())
        await asyncio.gather(task, other_task)
        return order

    order = arun(main())
    assert order[0] == "reader", order


# --- cancelled during that yield: the lock is given back -------------------------------


@pytest.mark.parametrize("make", IMPLS)
@pytest.mark.parametrize("write", [False, True], ids=["read", "write"])
@pytest.mark.parametrize("spelling", ["acquire", "async with"])
def test_cancelled_during_the_yield_releases(make, write, spelling, arun):
    rw = make()
    side = rw.writer_lock if write else rw.reader_lock

    async def main():
        entered = []

        async def take():
            if spelling == "acquire":
                await side.acquire()
            else:
                await side.__aenter__()
            entered.append(True)  # never reached: cancelled in the yield
            await asyncio.sleep(3600)

        task = asyncio.ensure_future(take())
        await asyncio.sleep(0)  # the task took the lock and yields once
        assert side.locked and not entered
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not side.locked and not entered
        assert repr(rw) == UNLOCKED
        # Free for everyone: another task takes both sides at once.
        async with rw.writer_lock:
            pass

    arun(main())


@pytest.mark.parametrize("make", IMPLS)
def test_cancelled_reentry_during_the_yield_keeps_the_outer_level(make, arun):
    """A writer cancelled in the yield after taking a read level loses that level only."""
    rw = make()
    seen = []

    async def main():
        async def writer():
            async with rw.writer_lock:
                try:
                    await rw.reader_lock.acquire()  # the writer also reads: yields once
                except asyncio.CancelledError:
                    seen.append((rw.reader_lock.locked, rw.writer_lock.locked))
                    raise

        task = asyncio.ensure_future(writer())
        await asyncio.sleep(0)  # the writer takes the write lock, yields after it
        await asyncio.sleep(0)  # then takes a read level, yields after it
        assert rw.reader_lock.locked and rw.writer_lock.locked
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert repr(rw) == UNLOCKED

    arun(main())
    assert seen == [(False, True)]


@pytest.mark.parametrize("write", [False, True], ids=["read", "write"])
def test_closed_or_dropped_during_the_yield_releases(write, arun):
    """aiosync only: an acquire closed (or dropped) while it holds its result back gives
    the lock back too (aiorwlock's catches only CancelledError and keeps the lock when its
    coroutine is closed there)."""
    rw = aiosync.RWLock()
    side = rw.writer_lock if write else rw.reader_lock

    async def main():
        it = side.acquire().__await__()
        assert it.send(None) is None  # took the lock; a bare yield, as sleep(0)
        assert side.locked
        it.close()
        assert not side.locked
        it = side.acquire().__await__()
        assert next(it) is None and side.locked
        del it
        gc.collect()
        assert not side.locked
        it = side.acquire().__await__()
        assert it.send(None) is None
        with pytest.raises(KeyError):
            it.throw(KeyError("any exception thrown in"))
        assert not side.locked
        # Finished normally: the lock is the caller's.
        it = side.acquire().__await__()
        assert it.send(None) is None
        with pytest.raises(StopIteration) as stop:
            it.send(None)
        assert stop.value.value is True and side.locked
        side.release()
        assert repr(rw) == UNLOCKED

    arun(main())


@pytest.mark.parametrize("make", IMPLS)
@pytest.mark.parametrize("fast", [False, True])
def test_cancelled_while_waiting_takes_nothing(make, fast, arun):
    rw = make(fast=fast)

    async def main():
        await rw.writer_lock.acquire()
        waiting = asyncio.ensure_future(rw.reader_lock.acquire())
        await asyncio.sleep(0)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        rw.writer_lock.release()
        assert repr(rw) == UNLOCKED

    arun(main())


@pytest.mark.parametrize("make", IMPLS)
def test_timeout_in_the_yield_leaves_nothing_held(make, arun):
    """`async with` under a timeout that expires in the yield after the acquire (a zero
    timeout fires at the first suspension) leaves nothing held."""
    rw = make()

    async def main():
        for _ in range(200):
            try:
                async with asyncio.timeout(0):
                    async with rw.reader_lock:
                        await asyncio.sleep(0)
            except TimeoutError:
                pass
            assert repr(rw) == UNLOCKED

    arun(main())
