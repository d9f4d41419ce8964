"""Seeded chaos tests: ONE object per primitive used at once by 4 OS threads (threading
spelling, random short timeouts) and 3 event loops, each in its own thread, with several
tasks each (asyncio spelling, random `asyncio.wait_for` timeouts and `task.cancel()`).
Operations are drawn from a PRNG seeded per worker; then the END STATE is checked exactly:
counters equal the critical sections that completed, permits are back, every queued item
came out exactly once, no waiter is left where the API can tell.

- `AIOSYNC_CHAOS_SEED=<int>` replays the operation choices of a seed (thread timing is not
  reproducible: a timing-dependent failure may need a few runs); else a random seed.
  Every failure message names the seed.
- `AIOSYNC_CHAOS_SECS=<float>` is how long each scenario runs (default 1.5 s; the whole
  file then takes about 25 s).

Every wait has a deadline, so a hang fails the test (with the seed) instead of stalling.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import threading
import time

import aiosync
import pytest

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

# Longer runs (AIOSYNC_CHAOS_SECS) get a longer pytest-timeout than the file default.
pytestmark = pytest.mark.timeout(SECS + SLACK + 20)

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
        self.replay = f'"{node}"' if node else f"tests/test_chaos.py -k {name}"
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


async def within(aw, t: float, same_task: bool):
    """Awaits `aw` for at most `t` seconds; None if it timed out. With `same_task`, in
    the calling task (asyncio.timeout), for primitives owned by a task: before 3.12
    wait_for runs `aw` in a task of its own, which does not own the caller's lock. Where
    asyncio.timeout is missing (before 3.11) that form waits without a limit."""
    if not same_task:
        return await timed(aw, t)
    if _timeout_here is None:
        return await aw
    try:
        async with _timeout_here(t):
            return await aw
    except TimeoutError:
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


def waiters_in_repr(obj) -> int | None:
    """The waiter count the repr shows (asyncio's `waiters:N`), if it shows one."""
    m = re.search(r"waiters:(\d+)", repr(obj))
    return int(m.group(1)) if m else None


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


# ---------------------------------------------------------------------------------------
# Lock


def test_lock():
    ctx = Chaos("lock")
    lock = aiosync.Lock()
    st = {"n": 0, "inside": 0}
    done = [0] * PARTIES

    def enter():
        st["inside"] += 1
        ctx.check(st["inside"] == 1, "two holders of the Lock at once")
        ctx.check(lock.locked(), "a held Lock says it is unlocked")

    def section(rng):
        enter()
        v = st["n"]
        maybe_yield(rng)
        st["n"] = v + 1
        st["inside"] -= 1

    async def asection(rng):
        enter()
        try:
            v = st["n"]
            await amaybe_yield(rng)
            st["n"] = v + 1
        finally:
            st["inside"] -= 1

    def thread_fn(w, rng):
        while ctx.running():
            form = rng.randrange(5)
            if form == 0:
                with lock:
                    section(rng)
                done[w] += 1
                continue
            if form == 1:
                ok = lock.acquire(blocking=False)
            elif form == 2:
                ok = lock.acquire(timeout=short(rng))
            elif form == 3:
                ok = lock.acquire(True, short(rng))
            else:
                ok = lock.acquire()
            if ok:
                try:
                    section(rng)
                    done[w] += 1
                finally:
                    lock.release()

    async def attempt(w, rng):
        async with lock:
            await asection(rng)
            done[w] += 1

    async def task_fn(w, rng):
        while ctx.running():
            form = rng.randrange(6)
            if form == 0:
                await attempt(w, rng)
                continue
            if form == 1:
                # Cancelled while waiting or inside: `async with` must let go either way
                # (a cancel inside the section skips its write and its count).
                await cancel_child(attempt(w, rng), rng)
                continue
            if form == 2:
                ok = await lock.acquire()
            elif form == 3:
                ok = await timed(lock.acquire(), ashort(rng))
            elif form == 4:
                ok = await cancelled(lock.acquire(), rng)
            else:
                ok = lock.acquire(blocking=False)
            if ok:
                try:
                    await asection(rng)
                    done[w] += 1
                finally:
                    lock.release()

    run_mixed(ctx, thread_fn, task_fn)
    ctx.check(st["n"] == sum(done), f"lost updates: n={st['n']}, sections={sum(done)}")
    ctx.check(st["inside"] == 0, "holders left")
    ctx.check(not lock.locked(), "Lock still locked at the end")
    ctx.check(lock.acquire(blocking=False) is True, "an idle Lock cannot be taken")
    lock.release()
    ctx.check(sum(done) > 0, "no critical section at all")
    print(f"chaos lock: {sum(done)} sections")


# ---------------------------------------------------------------------------------------
# RLock (nested levels)


def test_rlock():
    ctx = Chaos("rlock")
    rlock = aiosync.RLock()
    st = {"n": 0, "inside": 0}
    done = [0] * PARTIES  # increments: one per level entered

    def bump(rng):
        v = st["n"]
        maybe_yield(rng)
        st["n"] = v + 1

    async def abump(rng):
        v = st["n"]
        await amaybe_yield(rng)
        st["n"] = v + 1

    def nested(w, rng, depth):
        """Inside the lock: one increment, then maybe one more level."""
        bump(rng)
        done[w] += 1
        if depth >= 3 or rng.random() < 0.5:
            return
        form = rng.randrange(3)
        if form == 0:
            with rlock:
                nested(w, rng, depth + 1)
            return
        ok = rlock.acquire(blocking=False) if form == 1 else rlock.acquire(timeout=0)
        ctx.check(ok is True, "the owning thread could not re-enter its RLock")
        try:
            nested(w, rng, depth + 1)
        finally:
            rlock.release()

    def outer(w, rng):
        st["inside"] += 1
        ctx.check(st["inside"] == 1, "two owners of the RLock at once")
        ctx.check(rlock._is_owned(), "the owner is not _is_owned()")
        try:
            nested(w, rng, 1)
        finally:
            st["inside"] -= 1

    async def anested(w, rng, depth):
        await abump(rng)
        done[w] += 1
        if depth >= 3 or rng.random() < 0.5:
            return
        if rng.random() < 0.5:
            async with rlock:
                await anested(w, rng, depth + 1)
            return
        ok = await rlock.acquire()
        ctx.check(ok is True, "the owning task could not re-enter its RLock")
        try:
            await anested(w, rng, depth + 1)
        finally:
            rlock.release()

    async def aouter(w, rng):
        st["inside"] += 1
        ctx.check(st["inside"] == 1, "two owners of the RLock at once")
        try:
            await anested(w, rng, 1)
        finally:
            st["inside"] -= 1

    def thread_fn(w, rng):
        while ctx.running():
            form = rng.randrange(4)
            if form == 0:
                with rlock:
                    outer(w, rng)
                continue
            if form == 1:
                ok = rlock.acquire(blocking=False)
            elif form == 2:
                ok = rlock.acquire(timeout=short(rng))
            else:
                ok = rlock.acquire()
            if ok:
                try:
                    outer(w, rng)
                finally:
                    rlock.release()

    async def attempt(w, rng):
        async with rlock:
            await aouter(w, rng)

    async def task_fn(w, rng):
        while ctx.running():
            form = rng.randrange(5)
            if form == 0:
                await attempt(w, rng)
                continue
            if form == 1:
                await cancel_child(attempt(w, rng), rng)
                continue
            if form == 2:
                ok = await rlock.acquire()
            elif form == 3:
                ok = await timed(rlock.acquire(), ashort(rng))
            else:
                ok = await cancelled(rlock.acquire(), rng)
            if ok:
                try:
                    await aouter(w, rng)
                finally:
                    rlock.release()

    run_mixed(ctx, thread_fn, task_fn)
    ctx.check(st["n"] == sum(done), f"lost updates: n={st['n']}, increments={sum(done)}")
    ctx.check(not rlock.locked(), "RLock still locked at the end")
    ctx.check(rlock.acquire(blocking=False) is True, "an idle RLock cannot be taken")
    rlock.release()
    ctx.check(not rlock.locked(), "RLock locked after one acquire/release")
    ctx.check(sum(done) > 0, "no critical section at all")
    print(f"chaos rlock: {sum(done)} increments")


# ---------------------------------------------------------------------------------------
# Semaphore / BoundedSemaphore (some holders take two permits, released with release(2))


@pytest.mark.parametrize("kind", ["Semaphore", "BoundedSemaphore"])
def test_semaphore(kind):
    ctx = Chaos(f"semaphore[{kind}]")
    permits = 3
    sem = getattr(aiosync, kind)(permits)
    book = threading.Lock()  # guards the bookkeeping only, never held across a wait
    st = {"inside": 0, "peak": 0}
    done = [0] * PARTIES

    def enter(k):
        with book:
            st["inside"] += k
            st["peak"] = max(st["peak"], st["inside"])
            inside = st["inside"]
        ctx.check(inside <= permits, f"{inside} permits held of {permits}")

    def leave(k, rng):
        with book:
            st["inside"] -= k
        if k == 2 and rng.random() < 0.5:
            sem.release(2)
        else:
            for _ in range(k):
                sem.release()

    def thread_fn(w, rng):
        while ctx.running():
            form = rng.randrange(5)
            if form == 0:
                with sem:
                    enter(1)
                    maybe_yield(rng)
                    with book:
                        st["inside"] -= 1
                done[w] += 1
                continue
            if form == 1:
                ok = sem.acquire(blocking=False)
            elif form == 2:
                ok = sem.acquire(timeout=short(rng))
            elif form == 3:
                ok = sem.acquire(True, short(rng))
            else:
                ok = sem.acquire()
            if not ok:
                continue
            k = 1
            # A second permit, never waited for without a limit (hold and wait).
            if rng.random() < 0.25 and sem.acquire(timeout=short(rng)):
                k = 2
            enter(k)
            maybe_yield(rng)
            leave(k, rng)
            done[w] += 1

    async def attempt(w, rng):
        async with sem:
            enter(1)
            try:
                await amaybe_yield(rng)
            finally:
                with book:
                    st["inside"] -= 1
            done[w] += 1

    async def task_fn(w, rng):
        while ctx.running():
            form = rng.randrange(5)
            if form == 0:
                await attempt(w, rng)
                continue
            if form == 1:
                await cancel_child(attempt(w, rng), rng)
                continue
            if form == 2:
                ok = await sem.acquire()
            elif form == 3:
                ok = await timed(sem.acquire(), ashort(rng))
            else:
                ok = await cancelled(sem.acquire(), rng)
            if not ok:
                continue
            k = 1
            if rng.random() < 0.25 and await timed(sem.acquire(), ashort(rng)):
                k = 2
            enter(k)
            try:
                await amaybe_yield(rng)
            finally:
                leave(k, rng)
            done[w] += 1

    run_mixed(ctx, thread_fn, task_fn)
    ctx.check(st["inside"] == 0, "permits still counted as held")
    ctx.check(sem._value == permits, f"_value {sem._value} != {permits} at the end")
    ctx.check(not sem.locked(), "Semaphore locked at the end")
    for _ in range(permits):
        ctx.check(sem.acquire(blocking=False) is True, "a permit is missing")
    ctx.check(sem.acquire(blocking=False) is False, "a permit too many")
    for _ in range(permits):
        sem.release()
    if kind == "BoundedSemaphore":
        ctx.check(raises(ValueError, sem.release), "release() past the bound not refused")
        ctx.check(sem._value == permits, "a refused release changed _value")
    ctx.check(1 <= st["peak"] <= permits, f"peak {st['peak']}")
    ctx.check(sum(done) > 0, "no acquire at all")
    print(f"chaos semaphore[{kind}]: {sum(done)} acquires, peak {st['peak']}")


# ---------------------------------------------------------------------------------------
# Event: rounds of clear / set; every party must pass every round, and only after its set


def test_event():
    ctx = Chaos("event")
    ev = aiosync.Event()
    book = threading.Lock()
    st = {"round": 0, "set_round": 0, "acks": 0, "stop": False, "rounds": 0, "passes": 0}

    def coordinator():
        rng = ctx.rng(-1)
        r = 0
        while True:
            r += 1
            ev.clear()
            with book:
                st["acks"] = 0
                st["round"] = r
            # Let some parties queue before the set and some arrive after it.
            p = rng.random()
            if p < 0.3:
                time.sleep(0)
            elif p < 0.8:
                time.sleep(rng.uniform(0, 0.0005))
            else:
                time.sleep(rng.uniform(0, 0.003))
            st["set_round"] = r
            ev.set()
            ctx.spin_until(lambda: st["acks"] == PARTIES, "every party to pass the set Event")
            if not ctx.running():
                st["rounds"] = r
                st["stop"] = True
                return

    def passed(r):
        ctx.check(st["set_round"] == r, f"a wait returned before round {r}'s set (cleared)")
        with book:
            st["acks"] += 1
            st["passes"] += 1

    def thread_fn(w, rng):
        last = 0
        while True:
            ctx.spin_until(lambda last=last: st["round"] > last or st["stop"], "next round")
            r = st["round"]
            if r == last:
                return
            last = r
            form = rng.randrange(4)
            if form == 0:
                while not ev.wait(timeout=short(rng)):
                    ctx.check(time.monotonic() < ctx.hard, "Event never set (timed waits)")
            elif form == 1:
                ctx.check(ev.wait() is True, "untimed wait returned False")
            elif form == 2:
                ctx.check(ev.wait(timeout=ctx.left()) is True, "Event never set (one wait)")
            else:
                ctx.spin_until(ev.is_set, "is_set")
            passed(r)

    async def task_fn(w, rng):
        last = 0
        while True:
            await ctx.aspin_until(lambda last=last: st["round"] > last or st["stop"], "next round")
            r = st["round"]
            if r == last:
                return
            last = r
            form = rng.randrange(4)
            if form == 0:
                while not await timed(ev.wait(), ashort(rng)):
                    ctx.check(time.monotonic() < ctx.hard, "Event never set (wait_for)")
            elif form == 1:
                ctx.check(await ev.wait() is True, "await wait() gave not True")
            elif form == 2:
                await cancelled(ev.wait(), rng)  # a waiter queued and cancelled
                await ev.wait()
            else:
                # Two waiters of one task, one of them cut short.
                await asyncio.gather(ev.wait(), timed(ev.wait(), ashort(rng)))
            passed(r)

    run_mixed(ctx, thread_fn, task_fn, extra=[coordinator])
    rounds = st["rounds"]
    ctx.check(rounds > 0, "no round played")
    ctx.check(
        st["passes"] == rounds * PARTIES,
        f"passes {st['passes']} != {PARTIES} parties x {rounds} rounds",
    )
    ctx.check(ev.is_set(), "Event not set after the last round")
    n = waiters_in_repr(ev)
    ctx.check(n in (None, 0), f"{n} waiters left on the Event")
    print(f"chaos event: {rounds} rounds")


# ---------------------------------------------------------------------------------------
# Condition: producers add tokens and notify; consumers wait_for tokens and take them


def _is_producer(w: int) -> bool:
    """Threads 0 and 1, and the first task of each loop, produce; the others consume."""
    return w < 2 if w < THREADS else (w - THREADS) % TASKS == 0


@pytest.mark.parametrize("lock", ["default", "Lock", "RLock"])
def test_condition(lock):
    ctx = Chaos(f"condition[{lock}]")
    owned = lock == "RLock"  # owned by a task: waits must stay in the owning task
    cond = aiosync.Condition() if lock == "default" else aiosync.Condition(getattr(aiosync, lock)())
    st = {"tokens": 0, "produced": 0, "consumed": 0, "done": False}
    producers = sum(map(_is_producer, range(PARTIES)))
    left = [producers]
    book = threading.Lock()
    taken = [0] * PARTIES

    def ready():
        return st["tokens"] > 0 or st["done"]

    def produce(rng):
        k = rng.randrange(1, 4)
        st["tokens"] += k
        st["produced"] += k
        form = rng.randrange(3)
        if form == 0:
            cond.notify(k)
        elif form == 1:
            cond.notify_all()
        else:
            for _ in range(k):
                cond.notify()

    def consume(w) -> bool:
        """Takes a token if there is one; returns whether to stop."""
        if st["tokens"] > 0:
            st["tokens"] -= 1
            st["consumed"] += 1
            taken[w] += 1
            return False
        return st["done"]

    def producer_done():
        with book:
            left[0] -= 1

    def coordinator():
        ctx.spin_until(lambda: left[0] == 0, "the producers to stop")

        # With the producers gone, the consumers (most of them asleep) must take every
        # token left on their own: a notification lost to a cancelled waiter strands one.
        def drained():
            with cond:
                return st["tokens"] == 0

        ctx.spin_until(drained, "the consumers to take the last tokens (lost notify?)")
        with cond:
            st["done"] = True
            cond.notify_all()

    def thread_fn(w, rng):
        if _is_producer(w):
            while ctx.running():
                if rng.random() < 0.5:
                    with cond:
                        produce(rng)
                elif cond.acquire(timeout=short(rng)):
                    try:
                        produce(rng)
                    finally:
                        cond.release()
                if rng.random() < 0.3:
                    time.sleep(rng.uniform(0, 0.0005))
            producer_done()
            return
        while True:
            with cond:
                form = rng.randrange(5)
                if form == 0:
                    cond.wait_for(ready)
                elif form == 1:
                    cond.wait_for(ready, timeout=short(rng))
                elif form == 2:
                    cond.wait(timeout=short(rng))
                elif form == 3:
                    while not ready():
                        cond.wait()
                if consume(w):
                    return

    async def task_fn(w, rng):
        if _is_producer(w):
            while ctx.running():
                if rng.random() < 0.5:
                    async with cond:
                        produce(rng)
                elif await timed(cond.acquire(), ashort(rng)):
                    try:
                        produce(rng)
                    finally:
                        cond.release()
                if rng.random() < 0.3:
                    await asyncio.sleep(0)
            producer_done()
            return
        while True:
            form = rng.randrange(7)
            if form == 6:
                # A whole round in a child task, cancelled at a random moment: while it
                # waits for the lock, waits for a notification, or retakes the lock.
                fut = asyncio.ensure_future(consume_once(w, rng, rng.choice([0, 4])))
                for _ in range(rng.randrange(4)):
                    await asyncio.sleep(0)
                fut.cancel()
                try:
                    stop = await fut
                except asyncio.CancelledError:
                    continue
            else:
                stop = await consume_once(w, rng, form)
            if stop:
                return

    async def consume_once(w, rng, form) -> bool:
        """Waits (in one of several ways) and takes a token; whether to stop."""
        async with cond:
            if form == 0:
                await cond.wait_for(ready)
            elif form == 1:
                # Cancelled: the lock is taken back before the error comes out.
                await within(cond.wait_for(ready), ashort(rng), owned)
            elif form == 2:
                await within(cond.wait(), ashort(rng), owned)
            elif form == 3 and not owned:
                await cancelled(cond.wait(), rng)  # the wait alone, in another task
            elif form == 4:
                while not ready():
                    await cond.wait()
            ctx.check(cond.locked(), "the Condition's lock not held after a wait")
            return consume(w)

    run_mixed(ctx, thread_fn, task_fn, extra=[coordinator])
    ctx.check(st["tokens"] == 0, f"{st['tokens']} tokens left")
    ctx.check(st["produced"] == st["consumed"], f"produced {st['produced']} != consumed")
    ctx.check(sum(taken) == st["produced"], "tokens taken by workers != produced")
    ctx.check(st["produced"] > 0, "nothing produced")
    ctx.check(not cond.locked(), "the Condition's lock is still held")
    n = waiters_in_repr(cond)
    ctx.check(n in (None, 0), f"{n} waiters left on the Condition")
    print(f"chaos condition[{lock}]: {st['produced']} tokens")


# ---------------------------------------------------------------------------------------
# Barrier: odd rounds are gated (one party arrives only after all the others are queued,
# and tasks first withdraw a few cancelled waits), even rounds are free-for-all


def test_barrier():
    ctx = Chaos("barrier")
    b = aiosync.Barrier(PARTIES)
    book = threading.Lock()
    rounds: dict[int, list[int]] = {}
    arrived: dict[int, int] = {}
    last_round = [float("inf")]

    def gate(r: int) -> int:
        """The party that arrives last in gated round r."""
        return (r // 2) % PARTIES

    def arrive(r):
        with book:
            arrived[r] = arrived.get(r, 0) + 1

    def all_queued(r):
        return arrived.get(r, 0) == PARTIES - 1 and b.n_waiting == PARTIES - 1

    def record(w, r, index):
        gated = r % 2 == 1
        ctx.check(0 <= index < PARTIES, f"index {index} out of range")
        if gated and gate(r) == w:
            ctx.check(index == PARTIES - 1, f"the gating party got index {index}, not last")
        with book:
            got = rounds.setdefault(r, [])
            ctx.check(index not in got, f"index {index} twice in round {r}")
            got.append(index)
        if index == PARTIES - 1 and not ctx.running():
            # Others may already be in round r + 1, none past it: it needs this party.
            last_round[0] = min(last_round[0], r + 1)

    def thread_fn(w, rng):
        r = 0
        while r <= last_round[0]:
            gated = r % 2 == 1
            if gated and gate(r) == w:
                ctx.spin_until(lambda r=r: all_queued(r), "the other parties to queue")
            elif gated:
                arrive(r)  # threads do not probe: a threading timeout breaks the barrier
            else:
                maybe_yield(rng)
            index = b.wait() if rng.random() < 0.5 else b.wait(timeout=ctx.left())
            record(w, r, index)
            r += 1

    async def task_fn(w, rng):
        r = 0
        while r <= last_round[0]:
            gated = r % 2 == 1
            if gated and gate(r) == w:
                await ctx.aspin_until(lambda r=r: all_queued(r), "the other parties to queue")
            elif gated:
                for _ in range(rng.randrange(3)):
                    # The round cannot complete yet: the wait must end by the timeout
                    # (or cancel) and withdraw, leaving the barrier whole.
                    if rng.random() < 0.5:
                        got = await timed(b.wait(), ashort(rng))
                    else:
                        got = await cancelled(b.wait(), rng)
                    ctx.check(got is None, f"a cancelled wait passed gated round {r}")
                    ctx.check(not b.broken, "a cancelled asyncio wait broke the barrier")
                arrive(r)
            else:
                await amaybe_yield(rng)
            record(w, r, await b.wait())
            r += 1

    run_mixed(ctx, thread_fn, task_fn)
    last = last_round[0]
    ctx.check(last != float("inf"), "never stopped")
    ctx.check(sorted(rounds) == list(range(int(last) + 1)), "rounds recorded")
    for r, got in rounds.items():
        ctx.check(sorted(got) == list(range(PARTIES)), f"round {r} indices {sorted(got)}")
    ctx.check(b.n_waiting == 0, f"{b.n_waiting} parties left waiting")
    ctx.check(not b.broken, "Barrier broken at the end")
    print(f"chaos barrier: {int(last) + 1} rounds")


# ---------------------------------------------------------------------------------------
# RWLock: readers share, writers exclude (counters), writers may also read


def test_rwlock():
    ctx = Chaos("rwlock")
    rw = aiosync.RWLock()
    book = threading.Lock()  # guards the counters only
    st = {"n": 0, "readers": 0, "writers": 0, "max_readers": 0, "writes": 0}
    reads = [0] * PARTIES

    def enter_read():
        with book:
            st["readers"] += 1
            st["max_readers"] = max(st["max_readers"], st["readers"])
            writers, n, writes = st["writers"], st["n"], st["writes"]
        ctx.check(writers == 0, "a reader next to a writer")
        ctx.check(n == writes, "a reader saw a write in progress")

    def leave_read():
        with book:
            st["readers"] -= 1

    def enter_write():
        with book:
            st["writers"] += 1
            writers, readers = st["writers"], st["readers"]
        ctx.check(writers == 1, "two writers at once")
        ctx.check(readers == 0, "a writer next to readers")

    def leave_write():
        with book:
            st["writers"] -= 1

    def read_section(w, rng):
        enter_read()
        try:
            maybe_yield(rng)
            reads[w] += 1
        finally:
            leave_read()

    def write_section(rng):
        enter_write()
        try:
            v = st["n"]
            maybe_yield(rng)
            if rng.random() < 0.2:
                with rw.reader_lock:  # a writer may also read
                    ctx.check(st["n"] == v, "the value changed under a writer")
            st["n"] = v + 1
            st["writes"] += 1
        finally:
            leave_write()

    async def aread_section(w, rng):
        enter_read()
        try:
            await amaybe_yield(rng)
            reads[w] += 1
        finally:
            leave_read()

    async def awrite_section(rng):
        enter_write()
        try:
            v = st["n"]
            await amaybe_yield(rng)
            if rng.random() < 0.2:
                async with rw.reader_lock:
                    ctx.check(st["n"] == v, "the value changed under a writer")
            st["n"] = v + 1  # a cancel above skips the write and its count together
            st["writes"] += 1
        finally:
            leave_write()

    def thread_fn(w, rng):
        while ctx.running():
            write = rng.random() < 0.35
            side = rw.writer_lock if write else rw.reader_lock
            form = rng.randrange(5)
            if form == 0:
                with side:
                    write_section(rng) if write else read_section(w, rng)
                continue
            if form == 1:
                ok = side.acquire(blocking=False)
            elif form == 2:
                ok = side.acquire(timeout=short(rng))
            elif form == 3:
                ok = side.acquire(True, short(rng))
            else:
                ok = side.acquire()
            if ok:
                try:
                    write_section(rng) if write else read_section(w, rng)
                finally:
                    side.release()

    async def attempt(w, rng, write):
        """Acquire, section, release, all in one task (the owner)."""
        side = rw.writer_lock if write else rw.reader_lock
        async with side:
            await (awrite_section(rng) if write else aread_section(w, rng))

    async def task_fn(w, rng):
        while ctx.running():
            write = rng.random() < 0.35
            side = rw.writer_lock if write else rw.reader_lock
            form = rng.randrange(5)
            if form == 0:
                await attempt(w, rng, write)
            elif form == 1:
                await cancel_child(attempt(w, rng, write), rng)
            elif form == 2:
                # The whole attempt under wait_for: its own task owns and releases.
                await timed(attempt(w, rng, write), ashort(rng))
            elif form == 3 and _timeout_here is not None:
                try:
                    async with _timeout_here(ashort(rng)):
                        await side.acquire()
                except TimeoutError:
                    continue
                try:
                    await (awrite_section(rng) if write else aread_section(w, rng))
                finally:
                    side.release()
            else:
                await side.acquire()
                try:
                    await (awrite_section(rng) if write else aread_section(w, rng))
                finally:
                    side.release()

    run_mixed(ctx, thread_fn, task_fn)
    ctx.check(st["n"] == st["writes"], f"lost updates: n={st['n']}, writes={st['writes']}")
    ctx.check(st["readers"] == 0 and st["writers"] == 0, "holders still counted")
    ctx.check(not rw.reader_lock.locked, "reader lock still held at the end")
    ctx.check(not rw.writer_lock.locked, "writer lock still held at the end")
    ctx.check(st["writes"] > 0 and sum(reads) > 0, "no write or no read at all")
    ctx.check(st["max_readers"] >= 2, f"readers never shared (max {st['max_readers']})")
    # Readers share across threads and keep a writer out; the lock is whole afterwards.
    ctx.check(rw.reader_lock.acquire(blocking=False), "an idle RWLock refused a reader")
    other = {}

    def second_reader():
        other["w"] = rw.writer_lock.acquire(blocking=False)
        if other["w"]:
            rw.writer_lock.release()
        other["r"] = rw.reader_lock.acquire(blocking=False)
        if other["r"]:
            rw.reader_lock.release()

    t = threading.Thread(target=second_reader, daemon=True)
    t.start()
    t.join(ctx.left())
    rw.reader_lock.release()
    ctx.check(other.get("r") is True, "a second reader (another thread) was refused")
    ctx.check(other.get("w") is False, "a writer got in next to a reader")
    ctx.check(rw.writer_lock.acquire(blocking=False), "an idle RWLock refused a writer")
    rw.writer_lock.release()
    print(
        f"chaos rwlock: {st['writes']} writes, {sum(reads)} reads, "
        f"up to {st['max_readers']} readers at once"
    )


# ---------------------------------------------------------------------------------------
# Queue / LifoQueue / PriorityQueue: random puts, gets, task_done, join; then drain


@pytest.mark.parametrize("kind,maxsize", [("Queue", 4), ("LifoQueue", 2), ("PriorityQueue", 5)])
def test_queue(kind, maxsize):
    ctx = Chaos(f"queue[{kind}]")
    q = getattr(aiosync, kind)(maxsize)
    fifo = kind == "Queue"
    book = threading.Lock()
    st = {"puts": 0, "gets": 0, "producers_done": 0}
    put_by = [0] * PARTIES  # worker w put items (w, 0) .. (w, put_by[w] - 1)
    got_all: list = []

    def drained():
        return st["producers_done"] == PARTIES and st["gets"] == st["puts"]

    class Consumer:
        def __init__(self):
            self.got: list = []
            self.last: dict = {}
            self.owed = 0

        def took(self, item, rng):
            producer, seq = item
            ctx.check(0 <= producer < PARTIES, f"an item nobody put: {item!r}")
            if fifo:
                # A FIFO queue gives one producer's items in the order they were put.
                prev = self.last.get(producer, -1)
                ctx.check(seq > prev, f"FIFO order broken: {item!r} after seq {prev}")
                self.last[producer] = seq
            self.got.append(item)
            with book:
                st["gets"] += 1
            if rng.random() < 0.7:
                q.task_done()
            else:
                self.owed += 1

        def pay(self):
            for _ in range(self.owed):
                q.task_done()
            self.owed = 0

        def finish(self):
            self.pay()
            with book:
                got_all.extend(self.got)

    def put_ok(w):
        put_by[w] += 1
        with book:
            st["puts"] += 1

    def producer_done():
        with book:
            st["producers_done"] += 1

    def thread_fn(w, rng):
        me = Consumer()
        while ctx.running():
            op = rng.randrange(10)
            if op < 4:
                item = (w, put_by[w])
                try:
                    if rng.random() < 0.3:
                        q.put_nowait(item)
                    else:
                        q.put(item, timeout=short(rng))
                except aiosync.QueueFull:
                    continue
                put_ok(w)
            elif op < 8:
                try:
                    if rng.random() < 0.3:
                        item = q.get_nowait()
                    else:
                        item = q.get(timeout=short(rng))
                except aiosync.QueueEmpty:
                    continue
                me.took(item, rng)
            else:
                me.pay()
        me.pay()
        producer_done()
        while not drained():
            ctx.check(time.monotonic() < ctx.hard, "queue drain stuck")
            if ctx.failed.is_set():
                raise Aborted
            try:
                me.took(q.get(timeout=short(rng)), rng)
            except aiosync.QueueEmpty:
                pass
        me.finish()

    async def task_fn(w, rng):
        me = Consumer()
        while ctx.running():
            op = rng.randrange(10)
            if op < 4:
                item = (w, put_by[w])
                form = rng.randrange(3)
                if form == 0:
                    try:
                        q.put_nowait(item)
                        ok = True
                    except aiosync.QueueFull:
                        ok = False
                elif form == 1:
                    ok = await timed(_put(q, item), ashort(rng)) is not None
                else:
                    ok = await cancelled(_put(q, item), rng) is not None
                if ok:
                    put_ok(w)
            elif op < 8:
                form = rng.randrange(3)
                if form == 0:
                    try:
                        item = q.get_nowait()
                    except aiosync.QueueEmpty:
                        continue
                elif form == 1:
                    item = await timed(q.get(), ashort(rng))
                else:
                    item = await cancelled(q.get(), rng)
                if item is not None:
                    me.took(item, rng)
            elif op == 8:
                await timed(q.join(), ashort(rng))
            else:
                me.pay()
        me.pay()
        producer_done()
        while not drained():
            ctx.check(time.monotonic() < ctx.hard, "queue drain stuck")
            if ctx.failed.is_set():
                raise Aborted
            item = await timed(q.get(), ashort(rng))
            if item is not None:
                me.took(item, rng)
        me.finish()

    run_mixed(ctx, thread_fn, task_fn)
    expected = sorted((w, s) for w in range(PARTIES) for s in range(put_by[w]))
    got = sorted(got_all)
    if got != expected:
        gs, es = set(got), set(expected)
        dup = len(got) - len(gs)
        raise AssertionError(
            ctx.tag(
                f"items not delivered exactly once: {len(expected)} put, {len(got)} got, "
                f"{dup} duplicated, lost {sorted(es - gs)[:5]}, never put {sorted(gs - es)[:5]}"
            )
        )
    ctx.check(q.empty() and q.qsize() == 0, f"{q.qsize()} items left")
    ctx.check(q.sync_q.unfinished_tasks == 0, f"unfinished_tasks {q.sync_q.unfinished_tasks}")
    t = threading.Thread(target=q.join, daemon=True)
    t.start()
    t.join(ctx.left())
    ctx.check(not t.is_alive(), "join() (threading) did not return")

    async def join():
        await q.join()

    try:
        asyncio.run(asyncio.wait_for(join(), ctx.left()))
    except asyncio.TimeoutError:
        ctx.check(False, "await join() did not return")
    ctx.check(raises(ValueError, q.task_done), "task_done() accepted one call too many")
    ctx.check(len(expected) > 0, "no item put")
    print(f"chaos queue[{kind}]: {len(expected)} items")


async def _put(q, item):
    """`await q.put(item)`, returning True (so that `timed` tells success from timeout)."""
    await q.put(item)
    return True
