#!/usr/bin/env python3
"""Scenarios 7 and 7f of python_bench.py taken apart: the same RWLock workload (`async
with`, `await asyncio.sleep(0)` inside) with readers only, readers and writers, writers
only, for aiosync and aiorwlock side by side in each mode (the default `fast=False`, where
an acquire that did not wait yields once to the loop, and `fast=True`), plus the bare
`sleep(0)` floor of 55 tasks.

    .venv/bin/python -m pip install aiorwlock
    .venv/bin/python benches/python_rwlock_parts.py

Prints microseconds per acquisition (best of 3 passes); every pass checks that the
counts are exact and that no writer overlapped anyone.
"""

from __future__ import annotations

import asyncio
import time

import aiorwlock
import aiosync

N = 1000


async def run(rw, readers: int, writers: int) -> float:
    r, w = rw.reader_lock, rw.writer_lock
    st = {"reads": 0, "writes": 0, "inside": 0, "writer": False, "bad": 0}

    async def reader() -> None:
        for _ in range(N):
            async with r:
                st["inside"] += 1
                st["bad"] += st["writer"]
                await asyncio.sleep(0)
                st["inside"] -= 1
                st["reads"] += 1

    async def writer() -> None:
        for _ in range(N):
            async with w:
                st["bad"] += st["writer"] or st["inside"] > 0
                st["writer"] = True
                await asyncio.sleep(0)
                st["writer"] = False
                st["writes"] += 1

    t = time.perf_counter()
    await asyncio.gather(*[reader() for _ in range(readers)], *[writer() for _ in range(writers)])
    dt = time.perf_counter() - t
    assert (st["reads"], st["writes"], st["bad"]) == (readers * N, writers * N, 0), st
    return dt / ((readers + writers) * N) * 1e6


async def bare(tasks: int) -> float:
    async def f() -> None:
        for _ in range(N):
            await asyncio.sleep(0)

    t = time.perf_counter()
    await asyncio.gather(*[f() for _ in range(tasks)])
    return (time.perf_counter() - t) / (tasks * N) * 1e6


def main() -> None:
    print("| mode | readers | writers | aiosync µs | aiorwlock µs | aiosync / aiorwlock |")
    print("|---|---:|---:|---:|---:|---:|")
    for fast in (False, True):
        mode = "fast=True" if fast else "default"
        for readers, writers in [(50, 0), (50, 5), (0, 5)]:
            ours = min(
                asyncio.run(run(aiosync.RWLock(fast=fast), readers, writers)) for _ in range(3)
            )
            theirs = min(
                asyncio.run(run(aiorwlock.RWLock(fast=fast), readers, writers)) for _ in range(3)
            )
            ratio = ours / theirs
            print(f"| {mode} | {readers} | {writers} | {ours:.2f} | {theirs:.2f} | {ratio:.2f}x |")
    print(
        f"\nbare `await sleep(0)`, 55 tasks: {min(asyncio.run(bare(55)) for _ in range(3)):.2f} µs"
    )


if __name__ == "__main__":
    main()
