#!/usr/bin/env python3
"""A/B of `synchronized`'s call paths: this build against another one, in one process,
in interleaved rounds (the order flips every round), so that machine noise hits both
alike; python_synchronized_bench.py compares implementations, this compares builds.

    # the other build: its python/aiosync folder with its extension built in it, copied
    # under another package name, e.g. from a worktree of an older commit:
    cp -r ../base/python/aiosync /tmp/ab/aiosync_base
    .venv/bin/python benches/python_synchronized_ab.py /tmp/ab

The folder given must hold a package `aiosync_base` (the other build); `aiosync` is this
one. Prints the best and the median time per call of each build, and their ratio.
"""

from __future__ import annotations

import asyncio
import importlib
import statistics
import sys
import time

N = 20_000
ROUNDS = 30


def subject(mod):
    class Subject:
        def __init__(self) -> None:
            self.n = 0

        @mod.synchronized
        def syn(self) -> None:
            self.n += 1

        @mod.synchronized
        async def asyn(self) -> None:
            self.n += 1

    return Subject()


def sync_bound(s):
    m = s.syn

    def run() -> None:
        for _ in range(N):
            m()

    return run


def sync_lookup(s):
    def run() -> None:
        for _ in range(N):
            s.syn()

    return run


def async_bound(s):
    m = s.asyn

    async def loop() -> None:
        for _ in range(N):
            await m()

    return lambda: asyncio.run(loop())


def async_lookup(s):
    async def loop() -> None:
        for _ in range(N):
            await s.asyn()

    return lambda: asyncio.run(loop())


CASES = {
    "sync method, bound once": sync_bound,
    "sync method, `obj.m()`": sync_lookup,
    "async method, bound once": async_bound,
    "async method, `obj.m()`": async_lookup,
}


def main() -> None:
    sys.path.insert(0, sys.argv[1])
    builds = {
        "base": importlib.import_module("aiosync_base"),
        "this": importlib.import_module("aiosync"),
    }
    subjects = {name: subject(mod) for name, mod in builds.items()}
    runs = {(c, b): make(subjects[b]) for c, make in CASES.items() for b in builds}
    times: dict[tuple[str, str], list[float]] = {key: [] for key in runs}
    for r in range(ROUNDS):
        order = list(builds) if r % 2 == 0 else list(reversed(builds))
        for case in CASES:
            for b in order:
                t = time.perf_counter()
                runs[(case, b)]()
                times[(case, b)].append((time.perf_counter() - t) / N * 1e9)
    for name, s in subjects.items():
        assert s.n == ROUNDS * N * len(CASES), (name, s.n)
    print("| call | base: best / median | this: best / median | this / base (best) |")
    print("|---|---:|---:|---:|")
    for case in CASES:
        base, this = times[(case, "base")], times[(case, "this")]
        cells = [
            case,
            f"{min(base):.0f} / {statistics.median(base):.0f} ns",
            f"{min(this):.0f} / {statistics.median(this):.0f} ns",
            f"{min(this) / min(base):.2f}x",
        ]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
