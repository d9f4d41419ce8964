"""aiosync.Synchronizer's own rules (synchronicity's suite, in tests/synchronicity_suite,
checks the surface it shares with synchronicity): deadlocks raise, cancellation reaches
the inner task and waits for its cleanup, exceptions keep their type, cause and a clean
traceback, close() is bounded and final."""

from __future__ import annotations

import asyncio
import os
import threading
import time
import traceback

import aiosync
import pytest

DEADLINE = 10.0
pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def s():
    with aiosync.Synchronizer() as s:
        yield s


def test_a_blocking_call_from_its_own_loop_raises(s):
    @s.wrap
    async def inner() -> int:
        return 1

    @s.wrap
    async def outer() -> int:
        return inner()  # blocking, on the synchronizer's own loop thread

    with pytest.raises(aiosync.SynchronizerDeadlockError, match="own event loop") as e:
        outer()
    assert isinstance(e.value, RuntimeError)


def test_a_cycle_between_two_synchronizers_raises():
    with aiosync.Synchronizer() as a, aiosync.Synchronizer() as b:
        entered = threading.Event()

        @a.wrap
        async def on_a() -> str:
            return "a"

        @b.wrap
        async def b_calls_a() -> str:
            entered.set()
            return on_a()  # b's loop blocks on a; a's loop is blocked on b

        @a.wrap
        async def a_calls_b() -> str:
            return b_calls_a()

        with pytest.raises(aiosync.SynchronizerDeadlockError, match="cycle"):
            a_calls_b()
        assert entered.is_set()


def test_aio_cancellation_cancels_the_inner_task_and_waits_for_its_cleanup(s):
    events: list[str] = []

    @s.wrap
    async def slow() -> None:
        try:
            events.append("started")
            await asyncio.sleep(DEADLINE)
        except asyncio.CancelledError:
            await asyncio.sleep(0.01)  # cleanup that takes a while
            events.append("cleaned up")
            raise

    async def main() -> None:
        t = asyncio.ensure_future(slow.aio())
        while not events:
            await asyncio.sleep(0.001)
        t.cancel()
        with pytest.raises(asyncio.CancelledError):
            await t
        assert events == ["started", "cleaned up"]  # done before the awaiter went on

    asyncio.run(asyncio.wait_for(main(), DEADLINE))


def test_a_library_coroutine_blocking_its_loop_never_blocks_the_callers(s):
    @s.wrap
    async def hog() -> None:
        time.sleep(0.3)  # blocks the synchronizer's loop only

    async def main() -> float:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        t = asyncio.ensure_future(ticker())
        await hog.aio()
        t.cancel()
        return ticks

    assert asyncio.run(main()) >= 5


class Boom(Exception):
    pass


def test_exceptions_keep_type_cause_and_a_clean_traceback(s):
    @s.wrap
    async def fail() -> None:
        try:
            raise KeyError("inner")
        except KeyError as e:
            raise Boom("boom") from e

    with pytest.raises(Boom) as info:
        fail()
    assert isinstance(info.value.__cause__, KeyError)
    files = [f.filename for f in traceback.extract_tb(info.value.__traceback__)]
    assert all(f == __file__ for f in files), files
    assert any("raise Boom" in line for line in traceback.format_tb(info.value.__traceback__))

    async def main() -> None:
        with pytest.raises(Boom) as info:
            await fail.aio()
        files = [f.filename for f in traceback.extract_tb(info.value.__traceback__)]
        assert all(os.path.dirname(aiosync.__file__) not in f for f in files), files

    asyncio.run(main())


def test_close_is_idempotent_bounded_and_final():
    s = aiosync.Synchronizer()
    finalized = threading.Event()

    @s.wrap
    async def gen():
        try:
            yield 1
            yield 2
        finally:
            finalized.set()

    @s.wrap
    async def forever() -> None:
        await asyncio.sleep(3600)

    it = gen()
    assert next(it) == 1  # suspended inside the generator
    fut = forever(_future=True)
    t0 = time.monotonic()
    s.close()
    s.close()
    assert time.monotonic() - t0 < 5
    assert finalized.wait(DEADLINE)  # finalized on its own loop
    assert fut.cancelled()
    with pytest.raises(aiosync.SynchronizerClosedError):
        forever()


def test_starting_never_blocks_a_running_loop():
    with aiosync.Synchronizer() as s:

        @s.wrap
        async def one() -> int:
            return 1

        async def main() -> int:
            # The loop thread starts here; the call is queued for it, not waited for.
            return await asyncio.wait_for(one.aio(), DEADLINE)

        assert asyncio.run(main()) == 1


def test_a_bare_async_iterator_without_aclose_iterates_both_ways(s):
    class Stream:
        def __init__(self) -> None:
            self.i = 0

        def __aiter__(self) -> Stream:
            return self

        async def __anext__(self) -> int:
            self.i += 1
            if self.i > 3:
                raise StopAsyncIteration
            return self.i

    wrapped = s.wrap(Stream)
    assert list(wrapped()) == [1, 2, 3]

    async def main() -> list[int]:
        return [x async for x in wrapped()]

    assert asyncio.run(main()) == [1, 2, 3]
