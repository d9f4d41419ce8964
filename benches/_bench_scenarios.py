"""python_bench.py scenario table: implementations and goals per scenario."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from _bench_bodies import (
    S3_TASKS,
    S4_LOOPS,
    S4_TASKS_PER_LOOP,
    S4C_TASKS_PER_LOOP,
    S5_THREADS,
    S6_MAXSIZE,
    S7_READERS,
    S7_WRITERS,
    aiologic,
    aiorwlock,
    aiosync,
    culsans,
    janus,
    s1_async_uncontended,
    s2_thread_uncontended,
    s3_tasks_contended,
    s4_two_loops,
    s5_threads_contended,
    s6_queue,
    s7_rwlock,
)

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
