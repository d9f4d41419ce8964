"""Shared machinery for the seeded chaos tests (test_chaos_*.py).

ONE object per primitive used at once by 4 OS threads (threading
spelling, random short timeouts) and 3 event loops, each in its own thread, with several
tasks each (asyncio spelling, random `asyncio.wait_for` timeouts and `task.cancel()`).
Operations are drawn from a PRNG seeded per worker; then the END STATE is checked exactly:
counters equal the critical sections that completed, permits are back, every queued item
came out exactly once, no waiter is left where the API can tell.

- `AIOSYNC_CHAOS_SEED=<int>` replays the operation choices of a seed (thread timing is not
  reproducible: a timing-dependent failure may need a few runs); else a random seed.
  Every failure message names the seed.
- `AIOSYNC_CHAOS_SECS=<float>` is how long each scenario runs (default 1.5 s; the chaos
  files then take about 25 s in all).

Every wait has a deadline, so a hang fails the test (with the seed) instead of stalling.
"""

from __future__ import annotations

import asyncio
import os
import random
import threading
import time

THREADS = 4
LOOPS = 3
TASKS = 3  # per loop
PARTIES = THREADS + LOOPS * TASKS  # workers: threads 0..3, then the tasks


def _seed() -> int:
    s = os.environ.get("AIOSYNC_CHAOS_SEED")
    return int(s, 0) if s else random.SystemRandom().randrange(2**63)


SEED = _seed()
SECS = float(os.environ.get("AIOSYNC_CHAOS_SECS", "1.5"))
SLACK = 20.0  # beyond SECS, for draining and the end checks; every wait ends by then


# asyncio.timeout (3.11+) cancels the current task, so the lock's owner stays the same
# task (wait_for wraps the awaitable in a task of its own before 3.12).
_timeout_here = getattr(asyncio, "timeout", None)


class Aborted(Exception):
    """Another worker failed: stop waiting for it."""


class Chaos:
    """One scenario: its name, seeds, deadlines, and failure reporting."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.stop_at = time.monotonic() + SECS
        self.hard = self.stop_at + SLACK
        self.failed = threading.Event()
        node = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" ", 1)[0]
        self.replay = f'"{node}"' if node else f"tests/test_chaos_*.py -k {name}"
        print(f"chaos {name}: AIOSYNC_CHAOS_SEED={SEED} AIOSYNC_CHAOS_SECS={SECS}")

    def running(self) -> bool:
        return time.monotonic() < self.stop_at

    def left(self) -> float:
        return max(0.0, self.hard - time.monotonic())

    def rng(self, worker: int) -> random.Random:
        return random.Random(f"{SEED}:{self.name}:{worker}")

    def tag(self, msg: str) -> str:
        return f"chaos {self.name} (replay: AIOSYNC_CHAOS_SEED={SEED} pytest {self.replay}): {msg}"

    def check(self, cond: object, msg: str) -> None:
        if not cond:
            raise AssertionError(self.tag(msg))

    def spin_until(self, pred, what: str) -> None:
        """Polls `pred()` from a thread until true; fails at the deadline."""
        while not pred():
            if self.failed.is_set():
                raise Aborted
            self.check(time.monotonic() < self.hard, f"stuck waiting for {what}")
            time.sleep(0.0002)

    async def aspin_until(self, pred, what: str) -> None:
        """Polls `pred()` from a task until true; fails at the deadline."""
        n = 0
        while not pred():
            if self.failed.is_set():
                raise Aborted
            self.check(time.monotonic() < self.hard, f"stuck waiting for {what}")
            n += 1
            await asyncio.sleep(0 if n < 50 else 0.0005)


def short(rng: random.Random) -> float:
    """A timeout for a blocking call: zero a quarter of the time, else up to 2 ms."""
    return 0.0 if rng.random() < 0.25 else rng.uniform(0, 0.002)


def ashort(rng: random.Random) -> float:
    """A timeout for an asyncio call: zero a quarter of the time, else up to 3 ms."""
    return 0.0 if rng.random() < 0.25 else rng.uniform(0, 0.003)


async def timed(aw, t: float):
    """`asyncio.wait_for(aw, t)`; None if it timed out."""
    try:
        return await asyncio.wait_for(aw, t)
    except asyncio.TimeoutError:
        return None


async def cancelled(aw, rng: random.Random):
    """Runs `aw` as a task and cancels it after 0-2 loop turns; its result, or None if
    the cancel took effect."""
    fut = asyncio.ensure_future(aw)
    for _ in range(rng.randrange(3)):
        await asyncio.sleep(0)
    fut.cancel()
    try:
        return await fut
    except asyncio.CancelledError:
        return None


async def cancel_child(coro, rng: random.Random) -> None:
    """Runs `coro` as a child task and cancels it at a random moment (maybe while it
    waits, maybe inside its critical section, maybe after it finished)."""
    fut = asyncio.ensure_future(coro)
    for _ in range(rng.randrange(4)):
        await asyncio.sleep(0)
    fut.cancel()
    try:
        await fut
    except asyncio.CancelledError:
        pass


def maybe_yield(rng: random.Random) -> None:
    """Inside a thread's critical section: sometimes let the GIL go."""
    r = rng.random()
    if r < 0.4:
        time.sleep(0)
    elif r < 0.42:
        time.sleep(0.0003)


async def amaybe_yield(rng: random.Random) -> None:
    """Inside a task's critical section: sometimes let the loop run others."""
    r = rng.random()
    if r < 0.5:
        await asyncio.sleep(0)
    elif r < 0.52:
        await asyncio.sleep(0.001)


def raises(exc: type[BaseException], fn) -> bool:
    """Whether `fn()` raises `exc`."""
    try:
        fn()
    except exc:
        return True
    return False


def run_mixed(ctx: Chaos, thread_fn, task_fn, extra=()) -> None:
    """Runs `thread_fn(worker, rng)` on THREADS threads, `task_fn(worker, rng)` as TASKS
    tasks on each of LOOPS event loops (each in its own thread), and each `extra()` on a
    thread of its own, released at once; joins all by the deadline and re-raises the
    first failure (with the seed)."""
    start = threading.Barrier(THREADS + LOOPS + len(extra), timeout=ctx.left())
    errors: list[BaseException] = []

    def guard(fn, *args):
        try:
            start.wait()
            fn(*args)
        except BaseException as e:  # noqa: BLE001 - reported by the test thread
            errors.append(e)
            ctx.failed.set()

    async def loop_main(lp: int) -> None:
        await asyncio.get_running_loop().run_in_executor(None, start.wait)
        ids = [THREADS + lp * TASKS + k for k in range(TASKS)]
        await asyncio.gather(*(task_fn(w, ctx.rng(w)) for w in ids))

    def loop_thread(lp: int) -> None:
        try:
            asyncio.run(asyncio.wait_for(loop_main(lp), ctx.left()))
        except asyncio.TimeoutError:
            errors.append(
                AssertionError(ctx.tag(f"loop {lp}: tasks still running at the deadline (a hang)"))
            )
            ctx.failed.set()
        except BaseException as e:  # noqa: BLE001
            errors.append(e)
            ctx.failed.set()

    workers = [
        threading.Thread(target=guard, args=(thread_fn, i, ctx.rng(i)), daemon=True)
        for i in range(THREADS)
    ]
    workers += [
        threading.Thread(target=loop_thread, args=(lp,), daemon=True) for lp in range(LOOPS)
    ]
    workers += [threading.Thread(target=guard, args=(fn,), daemon=True) for fn in extra]
    for t in workers:
        t.start()
    for t in workers:
        t.join(ctx.left())
    real = [e for e in errors if not isinstance(e, Aborted)]
    if real:
        e = real[0]
        if isinstance(e, AssertionError) and "AIOSYNC_CHAOS_SEED" in str(e):
            raise e
        raise AssertionError(ctx.tag(f"a worker failed: {e!r}")) from e
    stuck = sum(t.is_alive() for t in workers)
    ctx.check(not stuck, f"{stuck} worker(s) still running at the deadline (a hang)")
