"""aiosync.Synchronizer against synchronicity and a hand-written loop thread.

Run: .venv/bin/python benches/python_synchronizer_bench.py [--quick]

synchronicity is imported from the source distribution the test setup downloads
(`.venv/suites/synchronicity/src`, made by `scripts/venv.sh`). The hand-written baseline is
what a library author writes without either: a loop on a thread and
`asyncio.run_coroutine_threadsafe(...).result()` per call (`wrap_future` from a loop).

Each figure is the median over many rounds of a batch of operations, in µs per operation.
Within a round the three implementations run one batch each, in an order that rotates
from round to round, so that all three meet the same machine (a call's cost here is
mostly two thread wake-ups, whose latency drifts on a virtual machine) and the ratios
compare runs made side by side. Scenarios:

- `f()`: a blocking call of a trivial `async def` (it awaits `sleep(0)`, so it really runs
  as a task on the synchronizer's loop) from a plain thread;
- `await f.aio()`: the same function awaited from the caller's own event loop;
- `obj.m()`: a method of a wrapped class, looked up on every call as code does;
- `gen item`: one item of a blocking iteration over a wrapped async generator;
- `echo(10k ints)`: a function annotated `list[int] -> list[int]` given and returning a
  list of 10 000 ints (the translation of wrapped objects must not walk it).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import threading
import time
from typing import Any, Callable

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", ".venv", "suites", "synchronicity", "src"))

import synchronicity  # noqa: E402
from aiosync import Synchronizer  # noqa: E402


async def f(x: int) -> int:
    await asyncio.sleep(0)
    return x


async def gen(n: int) -> Any:
    for i in range(n):
        yield i


async def echo(xs: list[int]) -> list[int]:
    return xs


class Impl:
    async def m(self, x: int) -> int:
        await asyncio.sleep(0)
        return x


class Baseline:
    """A loop thread and `run_coroutine_threadsafe` per call."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    async def acall(self, coro: Any) -> Any:
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    def iterate(self, agen: Any) -> Any:
        while True:
            try:
                yield self.call(agen.__anext__())
            except StopAsyncIteration:
                return

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()


def make_subjects() -> dict[str, dict[str, Callable[[int], None]]]:
    s = Synchronizer()
    sy = synchronicity.Synchronizer()
    base = Baseline()
    out: dict[str, dict[str, Callable[[int], None]]] = {}
    for label, w in (("aiosync", s), ("synchronicity", sy)):
        wf = w.wrap(f)
        wgen = w.wrap(gen)
        wecho = w.wrap(echo)
        WImpl = w.wrap(Impl)
        obj = WImpl()
        big = list(range(10_000))

        def blocking(n: int, wf: Any = wf) -> None:
            for i in range(n):
                wf(i)

        def aio(n: int, wf: Any = wf) -> None:
            async def run() -> None:
                for i in range(n):
                    await wf.aio(i)

            asyncio.run(run())

        def method(n: int, obj: Any = obj) -> None:
            for i in range(n):
                obj.m(i)

        def items(n: int, wgen: Any = wgen) -> None:
            for _ in wgen(n):
                pass

        def echo_big(n: int, wecho: Any = wecho, big: list[int] = big) -> None:
            for _ in range(n):
                wecho(big)

        out[label] = {
            "f()": blocking,
            "await f.aio()": aio,
            "obj.m()": method,
            "gen item": items,
            "echo(10k ints)": echo_big,
        }

    big = list(range(10_000))
    impl = Impl()

    def b_blocking(n: int) -> None:
        for i in range(n):
            base.call(f(i))

    def b_aio(n: int) -> None:
        async def run() -> None:
            for i in range(n):
                await base.acall(f(i))

        asyncio.run(run())

    def b_method(n: int) -> None:
        for i in range(n):
            base.call(impl.m(i))

    def b_items(n: int) -> None:
        for _ in base.iterate(gen(n)):
            pass

    def b_echo(n: int) -> None:
        for _ in range(n):
            base.call(echo(big))

    out["baseline"] = {
        "f()": b_blocking,
        "await f.aio()": b_aio,
        "obj.m()": b_method,
        "gen item": b_items,
        "echo(10k ints)": b_echo,
    }
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer rounds")
    args = ap.parse_args()
    n, rounds = (200, 7) if args.quick else (300, 31)
    counts = {"echo(10k ints)": 20}
    subjects = make_subjects()
    impls = list(subjects)
    names = list(subjects["baseline"])
    samples: dict[tuple[str, str], list[float]] = {}
    for r in range(rounds):
        for scenario in names:
            k = counts.get(scenario, n)
            order = impls[r % 3 :] + impls[: r % 3]
            for impl in order:
                t0 = time.perf_counter()
                subjects[impl][scenario](k)
                us = (time.perf_counter() - t0) / k * 1e6
                samples.setdefault((impl, scenario), []).append(us)
    med = {key: statistics.median(v) for key, v in samples.items()}
    print(f"CPython {sys.version.split()[0]}, median of {rounds} rounds, µs per operation\n")
    print("| scenario | aiosync | synchronicity | baseline | vs synchronicity | vs baseline |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for scenario in names:
        a, s, b = (med[(i, scenario)] for i in ("aiosync", "synchronicity", "baseline"))
        print(f"| {scenario} | {a:.1f} | {s:.1f} | {b:.1f} | {a / s:.2f}x | {a / b:.2f}x |")
    fm = med[("aiosync", "obj.m()")] / med[("aiosync", "f()")]
    print(f"\naiosync obj.m() / f(): {fm:.2f}x")
    os._exit(0)  # the synchronizers' loop threads are daemons; skip their teardown


if __name__ == "__main__":
    main()
