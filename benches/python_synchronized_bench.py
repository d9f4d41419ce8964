"""Per-call overhead of aiosync.synchronized against a hand-written lock and wrapt's.

Run: .venv/bin/python -m pip install wrapt && .venv/bin/python benches/python_synchronized_bench.py

Each figure is the best of 5 runs of N calls of a method that increments a counter; the
ratios compare implementations measured side by side in this one run. Rows "bound once"
call one bound method object N times; rows "`obj.m()`" look the method up on every call,
as code usually does, so they include making the bound method.
"""

from __future__ import annotations

import asyncio
import time

import aiosync
from aiosync import synchronized

try:
    import wrapt
except ImportError:  # pragma: no cover - optional comparison
    wrapt = None

N = 100_000
RUNS = 5


class Subject:
    def __init__(self) -> None:
        self.lock = aiosync.RLock()
        self.alock = aiosync.Lock()
        self.n = 0

    def hand(self) -> None:
        with self.lock:
            self.n += 1

    @synchronized
    def syn(self) -> None:
        self.n += 1

    async def ahand(self) -> None:
        async with self.alock:
            self.n += 1

    @synchronized
    async def asyn(self) -> None:
        self.n += 1

    if wrapt is not None:

        @wrapt.synchronized
        def wr(self) -> None:
            self.n += 1

        @wrapt.synchronized
        async def awr(self) -> None:
            self.n += 1


def best(run) -> float:
    times = []
    for _ in range(RUNS):
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
    return min(times) / N * 1e9


def sync_run(method):
    def run() -> None:
        for _ in range(N):
            method()

    return run


def async_run(method):
    async def loop() -> None:
        for _ in range(N):
            await method()

    return lambda: asyncio.run(loop())


def sync_lookup(s, name):
    """`s.name()` as written in code: looked up (and bound) on every call."""
    if name == "hand":

        def run() -> None:
            for _ in range(N):
                s.hand()

    elif name == "syn":

        def run() -> None:
            for _ in range(N):
                s.syn()

    else:

        def run() -> None:
            for _ in range(N):
                s.wr()

    return run


def async_lookup(s, name):
    """`await s.name()` as written in code: looked up (and bound) on every call."""
    if name == "ahand":

        async def loop() -> None:
            for _ in range(N):
                await s.ahand()

    elif name == "asyn":

        async def loop() -> None:
            for _ in range(N):
                await s.asyn()

    else:

        async def loop() -> None:
            for _ in range(N):
                await s.awr()

    return lambda: asyncio.run(loop())


def main() -> None:
    s = Subject()
    rows = []
    for label, names, make in (
        ("sync method, bound once", ("hand", "syn", "wr"), lambda n: sync_run(getattr(s, n))),
        ("sync method, `obj.m()`", ("hand", "syn", "wr"), lambda n: sync_lookup(s, n)),
        ("async method, bound once", ("ahand", "asyn", "awr"), lambda n: async_run(getattr(s, n))),
        ("async method, `obj.m()`", ("ahand", "asyn", "awr"), lambda n: async_lookup(s, n)),
    ):
        t = {n: best(make(n)) for n in names if hasattr(s, n)}
        hand, syn = t[names[0]], t[names[1]]
        wr = t.get(names[2])
        rows.append((label, hand, syn, wr))
    expected = 2 * RUNS * N
    assert s.n == 2 * expected * (3 if wrapt is not None else 2), s.n
    print(
        "| call | hand-written lock | aiosync.synchronized | wrapt.synchronized "
        "| synchronized / hand | synchronized / wrapt |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for label, hand, syn, wr in rows:
        wr_s = f"{wr:.0f} ns" if wr is not None else "n/a"
        ratio_w = f"{syn / wr:.2f}x" if wr is not None else "n/a"
        cells = [label, f"{hand:.0f} ns", f"{syn:.0f} ns", wr_s, f"{syn / hand:.2f}x", ratio_w]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
