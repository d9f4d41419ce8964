"""Seeded chaos tests for Event, Condition and Barrier."""

from __future__ import annotations

import asyncio
import re
import threading
import time

import aiosync
import pytest
from _chaos_helpers import (
    PARTIES,
    SECS,
    SLACK,
    TASKS,
    THREADS,
    Chaos,
    _timeout_here,
    amaybe_yield,
    ashort,
    cancelled,
    maybe_yield,
    run_mixed,
    short,
    timed,
)

# Longer runs (AIOSYNC_CHAOS_SECS) get a longer pytest-timeout than the file default.
pytestmark = pytest.mark.timeout(SECS + SLACK + 20)


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


def waiters_in_repr(obj) -> int | None:
    """The waiter count the repr shows (asyncio's `waiters:N`), if it shows one."""
    m = re.search(r"waiters:(\d+)", repr(obj))
    return int(m.group(1)) if m else None


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
