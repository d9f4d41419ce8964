#!/usr/bin/env python3
"""Python benchmark: aiosync against asyncio, threading, aiologic, aiorwlock, janus, culsans.

Setup and run (from the repository root):

    ./scripts/venv.sh                       # builds aiosync into .venv (release)
    .venv/bin/python -m pip install aiologic aiorwlock janus culsans
    .venv/bin/python benches/python_bench.py | tee /tmp/pybench.txt

Every scenario runs side by side in one process: each implementation gets one warm-up
pass, then `--repeats` (default 5) timed passes, interleaved round-robin (the order
rotates every round) so machine noise hits every implementation alike. The table shows
the median and the best time per operation and the ratio aiosync / that implementation
(below 1 means aiosync is faster). A missing comparison package shows as "n/a".

Each pass also checks its result (exact final counters, mutual exclusion, queue order),
so a broken primitive cannot look fast: a failed check is reported as FAILED in the table
and makes the script exit with status 1.

Scenarios 4 and 5 use a bare `counter += 1` body. On a GIL build the interpreter only
switches threads at calls and backward jumps, so a lock written in C is never preempted
while held there: those two measure acquisition while the threads (and loops) take turns
on the GIL, with little real lock contention (when this was written, aiosync's lock
never had to wait in scenario 4).
The extra scenarios 4b and 5b (no goals) add `time.sleep(0)` inside the critical section,
which releases the GIL while the lock is held, so the other threads really contend, wait
and get woken across threads; they are also what proves mutual exclusion across threads
(an overlap is counted and reported). Timing uses time.perf_counter only; nothing is
asserted about times. Progress goes to stderr, the report to stdout.

Options: --repeats N, --scale F (multiplies every operation count), --only 1,4b,7,7f
(scenario 7 is RWLock's default mode, 7f its fast=True mode).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import os
import platform
import statistics
import sys
import threading
from dataclasses import dataclass, field
from time import perf_counter, sleep
from typing import Any, Callable


def _optional(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


aiosync = _optional("aiosync")
aiologic = _optional("aiologic")
aiorwlock = _optional("aiorwlock")
janus = _optional("janus")
culsans = _optional("culsans")

HANG_TIMEOUT = 120.0  # seconds; a pass that takes longer is reported as hung


class Broken(Exception):
    """A correctness check failed (or a pass hung)."""


def check(ok: bool, what: str) -> None:
    if not ok:
        raise Broken(what)


def _version(mod: Any, dist: str) -> str:
    if mod is None:
        return "not installed"
    try:
        from importlib.metadata import version

        return version(dist)
    except Exception:
        return getattr(mod, "__version__", "?")


# --------------------------------------------------------------------------------------
# Helpers: run a coroutine on a fresh loop, run threads with a common start.


def run_async(coro_fn: Callable[[], Any]) -> Any:
    async def guarded() -> Any:
        try:
            return await asyncio.wait_for(coro_fn(), HANG_TIMEOUT)
        except asyncio.TimeoutError:
            raise Broken(f"hung (> {HANG_TIMEOUT:.0f} s)") from None

    return asyncio.run(guarded())


def run_threads(n_threads: int, body: Callable[[], None]) -> float:
    """Runs `body` in `n_threads` daemon threads started together; returns the wall time
    from the first thread's start to the last thread's end (each thread stamps its own
    times, so the main thread's GIL wait does not count)."""
    barrier = threading.Barrier(n_threads)
    starts: list[float] = []
    ends: list[float] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            barrier.wait(timeout=30)
            starts.append(perf_counter())
            body()
            ends.append(perf_counter())
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=target, daemon=True) for _ in range(n_threads)]
    for t in threads:
        t.start()
    deadline = perf_counter() + HANG_TIMEOUT
    for t in threads:
        t.join(max(0.0, deadline - perf_counter()))
    if any(t.is_alive() for t in threads):
        raise Broken(f"hung (> {HANG_TIMEOUT:.0f} s)")
    if errors:
        e = errors[0]
        if isinstance(e, Broken):
            raise e
        raise Broken(f"{type(e).__name__}: {e}") from e
    return max(ends) - min(starts)


def is_locked(lock: Any) -> bool | None:
    f = getattr(lock, "locked", None)
    return f() if callable(f) else None


# --------------------------------------------------------------------------------------
# Scenario bodies. Each returns a runner: runner(n) -> (seconds, operations).


def s1_async_uncontended(make: Callable[[], Any]) -> Callable[[int], tuple[float, int]]:
    def runner(n: int) -> tuple[float, int]:
        async def main() -> float:
            lock = make()
            count = 0
            t0 = perf_counter()
            for _ in range(n):
                async with lock:
                    count += 1
            t1 = perf_counter()
            check(count == n, f"count {count} != {n}")
            check(is_locked(lock) is not True, "lock still locked after the loop")
            return t1 - t0

        return run_async(main), n

    return runner


def s2_thread_uncontended(make: Callable[[], Any]) -> Callable[[int], tuple[float, int]]:
    def runner(n: int) -> tuple[float, int]:
        lock = make()
        box = [0]

        def body() -> None:
            count = 0
            for _ in range(n):
                with lock:
                    count += 1
            box[0] = count

        dt = run_threads(1, body)
        check(box[0] == n, f"count {box[0]} != {n}")
        check(is_locked(lock) is not True, "lock still locked after the loop")
        return dt, n

    return runner


S3_TASKS = 100


def s3_tasks_contended(make: Callable[[], Any]) -> Callable[[int], tuple[float, int]]:
    def runner(k: int) -> tuple[float, int]:
        async def main() -> float:
            lock = make()
            st = [0, 0, 0]  # count, inside, overlaps

            async def worker() -> None:
                for _ in range(k):
                    async with lock:
                        if st[1]:
                            st[2] += 1
                        st[1] = 1
                        v = st[0]
                        await asyncio.sleep(0)
                        st[0] = v + 1
                        st[1] = 0

            tasks = [asyncio.ensure_future(worker()) for _ in range(S3_TASKS)]
            t0 = perf_counter()
            await asyncio.gather(*tasks)
            t1 = perf_counter()
            check(st[2] == 0, f"{st[2]} overlapping critical sections")
            check(st[0] == S3_TASKS * k, f"count {st[0]} != {S3_TASKS * k}")
            check(is_locked(lock) is not True, "lock still locked at the end")
            return t1 - t0

        return run_async(main), S3_TASKS * k

    return runner


S4_LOOPS = 2
S4_TASKS_PER_LOOP = 4


S4C_TASKS_PER_LOOP = 2


def s4_two_loops(
    make: Callable[[], Any], release_gil: bool = False, yield_inside: bool = False
) -> Callable[[int], tuple[float, int]]:
    """`release_gil`: also call time.sleep(0) inside the critical section (see 4b);
    `yield_inside`: `await asyncio.sleep(0)` inside, with 2 tasks per loop (see 4c)."""
    tasks_per_loop = S4C_TASKS_PER_LOOP if yield_inside else S4_TASKS_PER_LOOP

    def runner(total: int) -> tuple[float, int]:
        per_task = total // (S4_LOOPS * tasks_per_loop)
        ops = per_task * S4_LOOPS * tasks_per_loop
        lock = make()
        st = [0, 0, 0]  # count, inside, overlaps

        async def worker() -> None:
            for _ in range(per_task):
                async with lock:
                    if st[1]:
                        st[2] += 1
                    st[1] = 1
                    st[0] += 1
                    st[1] = 0

        async def worker_releasing() -> None:
            for _ in range(per_task):
                async with lock:
                    if st[1]:
                        st[2] += 1
                    st[1] = 1
                    st[0] += 1
                    sleep(0)  # lets the other thread run while the lock is held
                    st[1] = 0

        async def worker_yielding() -> None:
            for _ in range(per_task):
                async with lock:
                    if st[1]:
                        st[2] += 1
                    st[1] = 1
                    st[0] += 1
                    st[1] = 0
                    await asyncio.sleep(0)  # the other tasks, of both loops, now wait

        work = worker_releasing if release_gil else worker
        if yield_inside:
            work = worker_yielding

        async def loop_main() -> None:
            await asyncio.gather(*(work() for _ in range(tasks_per_loop)))

        def body() -> None:
            # Each thread runs its own loop, created after the common start (a few µs).
            run_async(loop_main)

        dt = run_threads(S4_LOOPS, body)
        check(st[2] == 0, f"{st[2]} overlapping critical sections")
        check(st[0] == ops, f"count {st[0]} != {ops}")
        check(is_locked(lock) is not True, "lock still locked at the end")
        return dt, ops

    return runner


S5_THREADS = 4


def s5_threads_contended(
    make: Callable[[], Any], release_gil: bool = False
) -> Callable[[int], tuple[float, int]]:
    """`release_gil`: also call time.sleep(0) inside the critical section (see 5b)."""

    def runner(total: int) -> tuple[float, int]:
        per_thread = total // S5_THREADS
        ops = per_thread * S5_THREADS
        lock = make()
        st = [0, 0, 0]  # count, inside, overlaps

        def body() -> None:
            for _ in range(per_thread):
                with lock:
                    if st[1]:
                        st[2] += 1
                    st[1] = 1
                    st[0] += 1
                    st[1] = 0

        def body_releasing() -> None:
            for _ in range(per_thread):
                with lock:
                    if st[1]:
                        st[2] += 1
                    st[1] = 1
                    st[0] += 1
                    sleep(0)  # lets another thread run while the lock is held
                    st[1] = 0

        dt = run_threads(S5_THREADS, body_releasing if release_gil else body)
        check(st[2] == 0, f"{st[2]} overlapping critical sections")
        check(st[0] == ops, f"count {st[0]} != {ops}")
        check(is_locked(lock) is not True, "lock still locked at the end")
        return dt, ops

    return runner


S6_MAXSIZE = 64


def s6_queue(make: Callable[[], Any]) -> Callable[[int], tuple[float, int]]:
    """`make()` (called inside the running loop) returns (put, get, close_coro_fn)."""

    def runner(n: int) -> tuple[float, int]:
        async def main() -> float:
            put, get, close = make()
            got = [0, 0]  # items, out-of-order

            async def producer() -> None:
                for i in range(n):
                    await put(i)

            async def consumer() -> None:
                expected = 0
                for _ in range(n):
                    v = await get()
                    if v != expected:
                        got[1] += 1
                    expected += 1
                got[0] = expected

            t0 = perf_counter()
            await asyncio.gather(producer(), consumer())
            t1 = perf_counter()
            if close is not None:
                await close()
            check(got[1] == 0, f"{got[1]} items out of order")
            check(got[0] == n, f"got {got[0]} items != {n}")
            return t1 - t0

        return run_async(main), n

    return runner


S7_READERS = 50
S7_WRITERS = 5


def s7_rwlock(make: Callable[[], Any]) -> Callable[[int], tuple[float, int]]:
    """`make()` returns (reader_lock, writer_lock)."""

    def runner(n: int) -> tuple[float, int]:
        async def main() -> float:
            rlock, wlock = make()
            # writes, reads, readers inside, writer inside, violations
            st = [0, 0, 0, 0, 0]

            async def reader() -> None:
                for _ in range(n):
                    async with rlock:
                        if st[3]:
                            st[4] += 1
                        st[2] += 1
                        await asyncio.sleep(0)
                        if st[3]:
                            st[4] += 1
                        st[2] -= 1
                        st[1] += 1

            async def writer() -> None:
                for _ in range(n):
                    async with wlock:
                        if st[3] or st[2]:
                            st[4] += 1
                        st[3] = 1
                        v = st[0]
                        await asyncio.sleep(0)
                        st[0] = v + 1
                        st[3] = 0

            tasks = [asyncio.ensure_future(reader()) for _ in range(S7_READERS)]
            tasks += [asyncio.ensure_future(writer()) for _ in range(S7_WRITERS)]
            t0 = perf_counter()
            await asyncio.gather(*tasks)
            t1 = perf_counter()
            check(st[4] == 0, f"{st[4]} reader/writer exclusion violations")
            check(st[0] == S7_WRITERS * n, f"writes {st[0]} != {S7_WRITERS * n}")
            check(st[1] == S7_READERS * n, f"reads {st[1]} != {S7_READERS * n}")
            return t1 - t0

        return run_async(main), (S7_READERS + S7_WRITERS) * n

    return runner


# --------------------------------------------------------------------------------------
# Implementations per scenario.


@dataclass
class Impl:
    label: str
    runner: Callable[[int], tuple[float, int]] | None  # None: unavailable
    missing: str = ""
    per_op: list[float] = field(default_factory=list)
    error: str = ""


def impl(label: str, mod: Any, pkg: str, build: Callable[[], Callable[[int], Any]]) -> Impl:
    if mod is None:
        return Impl(label, None, f"{pkg} not installed")
    return Impl(label, build())


def _queue_aiosync() -> tuple[Any, Any, Any]:
    q = aiosync.Queue(S6_MAXSIZE)
    return q.put, q.get, None


def _queue_asyncio() -> tuple[Any, Any, Any]:
    q: asyncio.Queue[int] = asyncio.Queue(S6_MAXSIZE)
    return q.put, q.get, None


def _queue_culsans() -> tuple[Any, Any, Any]:
    q = culsans.Queue(S6_MAXSIZE)
    aq = q.async_q
    return aq.put, aq.get, q.aclose


def _queue_janus() -> tuple[Any, Any, Any]:
    q = janus.Queue(S6_MAXSIZE)
    aq = q.async_q
    return aq.put, aq.get, q.aclose


def _rw(mod: Any, fast: bool) -> Callable[[], tuple[Any, Any]]:
    """(reader_lock, writer_lock) of a fresh `mod.RWLock(fast=fast)`."""

    def make() -> tuple[Any, Any]:
        rw = mod.RWLock(fast=fast)
        return rw.reader_lock, rw.writer_lock

    return make


@dataclass
class Goal:
    ref: str  # label of the reference implementation
    limit: float  # the ratio aiosync / ref must be <= limit
    text: str
    speedup: bool = False  # phrase the verdict as "N x faster"


@dataclass
class Scenario:
    num: str
    title: str
    unit: str
    n: int  # operation count parameter for the runner
    impls: list[Impl]
    goals: list[Goal]
    note: str = ""


def scenarios(scale: float) -> list[Scenario]:
    def sz(n: int) -> int:
        return max(1, int(n * scale))

    A = "aiosync"
    return [
        Scenario(
            "1",
            "uncontended `async with lock`, one task",
            "acquire+release",
            sz(800_000),
            [
                impl("aiosync.Lock", aiosync, A, lambda: s1_async_uncontended(aiosync.Lock)),
                Impl("asyncio.Lock", s1_async_uncontended(asyncio.Lock)),
                impl(
                    "aiologic.Lock",
                    aiologic,
                    "aiologic",
                    lambda: s1_async_uncontended(aiologic.Lock),
                ),
            ],
            [Goal("asyncio.Lock", 0.75, "<= 0.75x asyncio.Lock")],
        ),
        Scenario(
            "2",
            "uncontended `with lock`, one thread",
            "acquire+release",
            sz(2_000_000),
            [
                impl("aiosync.Lock", aiosync, A, lambda: s2_thread_uncontended(aiosync.Lock)),
                Impl("threading.Lock", s2_thread_uncontended(threading.Lock)),
                impl(
                    "aiologic.Lock",
                    aiologic,
                    "aiologic",
                    lambda: s2_thread_uncontended(aiologic.Lock),
                ),
            ],
            [Goal("threading.Lock", 1.0, "<= 1.0x threading.Lock")],
        ),
        Scenario(
            "3",
            f"{S3_TASKS} tasks contending, `async with lock: await sleep(0)`",
            "acquisition",
            sz(1000),  # per task
            [
                impl("aiosync.Lock", aiosync, A, lambda: s3_tasks_contended(aiosync.Lock)),
                Impl("asyncio.Lock", s3_tasks_contended(asyncio.Lock)),
                impl(
                    "aiologic.Lock", aiologic, "aiologic", lambda: s3_tasks_contended(aiologic.Lock)
                ),
            ],
            [Goal("asyncio.Lock", 1.0, "<= 1.0x asyncio.Lock")],
        ),
        Scenario(
            "4",
            f"{S4_LOOPS} event loops in {S4_LOOPS} threads, {S4_TASKS_PER_LOOP} tasks each, "
            "`async with lock: counter += 1`",
            "acquisition",
            sz(300_000),  # total
            [
                impl("aiosync.Lock", aiosync, A, lambda: s4_two_loops(aiosync.Lock)),
                impl("aiologic.Lock", aiologic, "aiologic", lambda: s4_two_loops(aiologic.Lock)),
            ],
            [Goal("aiologic.Lock", 0.2, ">= 5x faster than aiologic (ratio <= 0.2)", True)],
            note="asyncio.Lock is bound to one loop and cannot take part.",
        ),
        Scenario(
            "4b",
            "as 4, plus `time.sleep(0)` inside the lock (real cross-loop contention)",
            "acquisition",
            sz(6_000),  # total
            [
                impl("aiosync.Lock", aiosync, A, lambda: s4_two_loops(aiosync.Lock, True)),
                impl(
                    "aiologic.Lock", aiologic, "aiologic", lambda: s4_two_loops(aiologic.Lock, True)
                ),
            ],
            [],
            note="dominated, like 5b, by the GIL hand-off that `time.sleep(0)` forces "
            "(threading.Lock pays it too in 5b); 4b and 5b exercise cross-thread waits and "
            "prove mutual exclusion, they do not rank.",
        ),
        Scenario(
            "4c",
            f"{S4_LOOPS} event loops in {S4_LOOPS} threads, {S4C_TASKS_PER_LOOP} tasks each, "
            "`async with lock: await asyncio.sleep(0)` (tasks really wait)",
            "acquisition",
            sz(40_000),  # total
            [
                impl(
                    "aiosync.Lock",
                    aiosync,
                    A,
                    lambda: s4_two_loops(aiosync.Lock, yield_inside=True),
                ),
                impl(
                    "aiologic.Lock",
                    aiologic,
                    "aiologic",
                    lambda: s4_two_loops(aiologic.Lock, yield_inside=True),
                ),
            ],
            [Goal("aiologic.Lock", 0.2, ">= 5x faster than aiologic (ratio <= 0.2)", True)],
        ),
        Scenario(
            "5",
            f"{S5_THREADS} threads contending, `with lock: counter += 1`",
            "acquisition",
            sz(400_000),  # total
            [
                impl("aiosync.Lock", aiosync, A, lambda: s5_threads_contended(aiosync.Lock)),
                Impl("threading.Lock", s5_threads_contended(threading.Lock)),
                impl(
                    "aiologic.Lock",
                    aiologic,
                    "aiologic",
                    lambda: s5_threads_contended(aiologic.Lock),
                ),
            ],
            [Goal("threading.Lock", 2.0, "<= 2x threading.Lock")],
        ),
        Scenario(
            "5b",
            "as 5, plus `time.sleep(0)` inside the lock (real cross-thread contention)",
            "acquisition",
            sz(8_000),  # total
            [
                impl("aiosync.Lock", aiosync, A, lambda: s5_threads_contended(aiosync.Lock, True)),
                Impl("threading.Lock", s5_threads_contended(threading.Lock, True)),
                impl(
                    "aiologic.Lock",
                    aiologic,
                    "aiologic",
                    lambda: s5_threads_contended(aiologic.Lock, True),
                ),
            ],
            [],
        ),
        Scenario(
            "6",
            f"Queue(maxsize={S6_MAXSIZE}), one producer task + one consumer task",
            "item (put+get)",
            sz(600_000),
            [
                impl("aiosync.Queue", aiosync, A, lambda: s6_queue(_queue_aiosync)),
                Impl("asyncio.Queue", s6_queue(_queue_asyncio)),
                impl("culsans.Queue.async_q", culsans, "culsans", lambda: s6_queue(_queue_culsans)),
                impl("janus.Queue.async_q", janus, "janus", lambda: s6_queue(_queue_janus)),
            ],
            [
                Goal("asyncio.Queue", 0.67, "<= 0.67x asyncio.Queue"),
                Goal(
                    "culsans.Queue.async_q",
                    1 / 3,
                    ">= 3x faster than culsans (ratio <= 0.33)",
                    True,
                ),
            ],
        ),
        Scenario(
            "7",
            f"RWLock(), {S7_READERS} reader + {S7_WRITERS} writer tasks, `await sleep(0)` "
            "inside (default mode: each acquire that did not wait yields once)",
            "acquisition",
            sz(2500),  # per task
            [
                impl("aiosync.RWLock()", aiosync, A, lambda: s7_rwlock(_rw(aiosync, False))),
                impl(
                    "aiorwlock.RWLock()",
                    aiorwlock,
                    "aiorwlock",
                    lambda: s7_rwlock(_rw(aiorwlock, False)),
                ),
            ],
            [
                Goal(
                    "aiorwlock.RWLock()", 1 / 3, ">= 3x faster than aiorwlock (ratio <= 0.33)", True
                )
            ],
        ),
        Scenario(
            "7f",
            f"RWLock(fast=True), {S7_READERS} reader + {S7_WRITERS} writer tasks, "
            "`await sleep(0)` inside (no yield after an acquire)",
            "acquisition",
            sz(2500),  # per task
            [
                impl(
                    "aiosync.RWLock(fast=True)", aiosync, A, lambda: s7_rwlock(_rw(aiosync, True))
                ),
                impl(
                    "aiorwlock.RWLock(fast=True)",
                    aiorwlock,
                    "aiorwlock",
                    lambda: s7_rwlock(_rw(aiorwlock, True)),
                ),
            ],
            [
                Goal(
                    "aiorwlock.RWLock(fast=True)",
                    1 / 3,
                    ">= 3x faster than aiorwlock (ratio <= 0.33)",
                    True,
                )
            ],
        ),
    ]


# --------------------------------------------------------------------------------------
# Driver and report.


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def measure(sc: Scenario, repeats: int) -> None:
    live = [i for i in sc.impls if i.runner is not None]
    log(f"[{sc.num}] {sc.title}")
    t_start = perf_counter()
    # Warm-up: a smaller pass each (imports, caches, first-use paths), untimed.
    for im in live:
        assert im.runner is not None
        try:
            gc.collect()
            im.runner(max(1, sc.n // 5))
        except Broken as e:
            im.error = str(e)
        except Exception as e:
            im.error = f"{type(e).__name__}: {e}"
    for r in range(repeats):
        order = [i for i in live if not i.error]
        if order:
            k = r % len(order)
            order = order[k:] + order[:k]
        for im in order:
            assert im.runner is not None
            gc.collect()
            try:
                dt, ops = im.runner(sc.n)
            except Broken as e:
                im.error = str(e)
                continue
            except Exception as e:
                im.error = f"{type(e).__name__}: {e}"
                continue
            im.per_op.append(dt / ops)
    for im in sc.impls:
        if im.per_op:
            log(f"    {im.label:24s} median {fmt_time(statistics.median(im.per_op))}/op")
        elif im.error:
            log(f"    {im.label:24s} FAILED: {im.error}")
    log(f"    ({perf_counter() - t_start:.1f} s)")


def fmt_time(sec: float) -> str:
    ns = sec * 1e9
    if ns < 10_000:
        return f"{ns:,.0f} ns"
    return f"{ns / 1000:,.1f} µs"


def median(im: Impl) -> float | None:
    return statistics.median(im.per_op) if im.per_op and not im.error else None


def best(im: Impl) -> float | None:
    return min(im.per_op) if im.per_op and not im.error else None


def report(all_sc: list[Scenario], repeats: int, elapsed: float) -> bool:
    """Prints the markdown report; returns True if every correctness check passed."""
    ok = True
    print("## aiosync Python benchmark\n")
    print(
        f"- Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs"
    )
    vers = ", ".join(
        f"{name} {_version(mod, name)}"
        for name, mod in [
            ("aiosync", aiosync),
            ("aiologic", aiologic),
            ("aiorwlock", aiorwlock),
            ("janus", janus),
            ("culsans", culsans),
        ]
    )
    print(f"- {vers}")
    print(
        f"- median and best of {repeats} timed passes per implementation (after one "
        f"warm-up pass), interleaved; total run {elapsed:.0f} s"
    )
    print(
        "- ratio = aiosync time / this implementation's time (median); < 1 means aiosync is faster"
    )
    print("- command: `.venv/bin/python benches/python_bench.py`\n")

    print("| # | scenario | implementation | median / op | best / op | aiosync / this |")
    print("|---|---|---|---:|---:|---:|")
    for sc in all_sc:
        base = sc.impls[0]
        bmed = median(base)
        for j, im in enumerate(sc.impls):
            first = j == 0
            cells = [str(sc.num) if first else "", sc.title if first else "", im.label]
            if im.runner is None:
                cells += ["n/a", "n/a", f"n/a ({im.missing})"]
            elif im.error:
                ok = False
                cells += ["FAILED", "FAILED", im.error.replace("|", "/")]
            else:
                m, b = median(im), best(im)
                assert m is not None and b is not None
                if first:
                    ratio = "—"
                elif bmed is None:
                    ratio = "n/a"
                else:
                    ratio = f"{bmed / m:.2f}x"
                cells += [fmt_time(m), fmt_time(b), ratio]
            print("| " + " | ".join(cells) + " |")
    print()
    print(
        "Time per operation: scenarios 1-2 one acquire+release; 3, 4, 5, 7, 7f one "
        "acquisition (including the hand-off); 6 one item (put + get)."
    )
    for sc in all_sc:
        if sc.note:
            print(f"Scenario {sc.num}: {sc.note}")
    print()

    print("### Goals\n")
    print("| # | goal | aiosync / ref (median) | aiosync / ref (best) | verdict |")
    print("|---|---|---:|---:|---|")
    for sc in all_sc:
        base = sc.impls[0]
        for g in sc.goals:
            ref = next(i for i in sc.impls if i.label == g.ref)
            bm, rm, bb, rb = median(base), median(ref), best(base), best(ref)
            if bm is None or rm is None or bb is None or rb is None:
                why = (
                    "aiosync failed"
                    if base.error
                    else (
                        "reference failed" if ref.error else (ref.missing or base.missing or "n/a")
                    )
                )
                print(f"| {sc.num} | {g.text} | n/a | n/a | n/a ({why}) |")
                continue
            r_med, r_best = bm / rm, bb / rb
            met = r_med <= g.limit
            if g.speedup:
                pace = f"{1 / r_med:.1f}x faster" if r_med <= 1 else f"{r_med:.2f}x slower"
                how = f"{pace}, needs {1 / g.limit:.0f}x faster"
            elif met:
                how = f"{(1 - r_med / g.limit) * 100:.0f}% under the {g.limit:.2f}x limit"
            else:
                how = (
                    f"{r_med:.2f}x vs the {g.limit:.2f}x limit: needs "
                    f"{(1 - g.limit / r_med) * 100:.0f}% less time"
                )
            verdict = f"met ({how})" if met else f"**missed** ({how})"
            print(f"| {sc.num} | {g.text} | {r_med:.2f}x | {r_best:.2f}x | {verdict} |")
    print()
    if not ok:
        print("**Some correctness checks FAILED; their times are not reported.**")
    return ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5, help="timed passes per implementation")
    ap.add_argument("--scale", type=float, default=1.0, help="multiplies operation counts")
    ap.add_argument("--only", default="", help="comma-separated scenarios, e.g. 1,4b,7")
    args = ap.parse_args()

    if aiosync is None:
        log("warning: aiosync is not importable; build it with ./scripts/venv.sh")
    only = {x.strip() for x in args.only.split(",") if x.strip()}
    all_sc = [s for s in scenarios(args.scale) if not only or s.num in only]
    t0 = perf_counter()
    for sc in all_sc:
        measure(sc, args.repeats)
    ok = report(all_sc, args.repeats, perf_counter() - t0)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
