"""Seeded chaos tests for Lock, RLock, Semaphore and BoundedSemaphore."""

from __future__ import annotations

import threading

import aiosync
import pytest
from _chaos_helpers import (
    PARTIES,
    SECS,
    SLACK,
    Chaos,
    amaybe_yield,
    ashort,
    cancel_child,
    cancelled,
    maybe_yield,
    raises,
    run_mixed,
    short,
    timed,
)

# Longer runs (AIOSYNC_CHAOS_SECS) get a longer pytest-timeout than the file default.
pytestmark = pytest.mark.timeout(SECS + SLACK + 20)


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
