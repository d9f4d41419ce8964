"""aiosync.Synchronizer against synchronicity and a hand-written loop thread.

Run: .venv/bin/python benches/python_synchronizer_bench.py [--quick]
     .venv/bin/python benches/python_synchronizer_bench.py --pair [--procs N] [--place P]

`--pair` times only aiosync and the baseline, `f()` and `await f.aio()`, side by side (no
synchronicity loop thread competing for the cores), and reports per call how often each
thread slept (each sleep costs a wake-up), was preempted and migrated, and the CPUs it
was last seen on. `--procs N` runs it in N fresh processes one after the other and adds
the median and range over them. `--place same` pins the caller and both loop threads to
one CPU, `--place split` the caller to one CPU and the loop threads to another: on
several cores a call costs what the scheduler's placement of the threads makes it, and
pinning compares the implementations under the same placement. The full run also prints
how often each loop thread slept per call (about 1: it ran on another CPU than the
caller and was woken for every call; well below 1: it shared the caller's CPU).

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


async def native_id() -> int:
    return threading.get_native_id()


def make_subjects() -> tuple[dict[str, dict[str, Callable[[int], None]]], dict[str, int]]:
    """The scenarios of each implementation, and the native id of its loop thread."""
    s = Synchronizer()
    sy = synchronicity.Synchronizer()
    base = Baseline()
    out: dict[str, dict[str, Callable[[int], None]]] = {}
    tids = {
        "aiosync": s.wrap(native_id)(),
        "synchronicity": sy.wrap(native_id)(),
        "baseline": base.call(native_id()),
    }
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
    return out, tids


def thread_stats(tid: int) -> tuple[int, list[int]]:
    """The CPU thread `tid` of this process last ran on, and its counts of sleeps
    (voluntary context switches: each needs a wake-up), preemptions and migrations
    (these only where the kernel has scheduler statistics)."""
    with open(f"/proc/self/task/{tid}/stat") as fh:
        cpu = int(fh.read().rsplit(")", 1)[1].split()[36])
    with open(f"/proc/self/task/{tid}/status") as fh:
        ctxt = {k: int(v) for k, _, v in (ln.partition(":") for ln in fh) if "ctxt" in k}
    counts = [ctxt["voluntary_ctxt_switches"], ctxt["nonvoluntary_ctxt_switches"], 0]
    try:
        with open(f"/proc/self/task/{tid}/sched") as fh:
            for ln in fh:
                k, _, v = ln.partition(":")
                if k.strip() == "se.nr_migrations":
                    counts[2] = int(v)
    except OSError:
        pass
    return cpu, counts


def pair(rounds: int, n: int, place: str | None) -> dict[str, float]:
    """`f()` and `await f.aio()` of aiosync and the baseline only, interleaved; prints
    the medians, the sleeps, preemptions and migrations per call of each thread and
    where the threads ran. `place`: None leaves the threads to the scheduler, "same"
    pins all to one CPU, "split" the caller to one CPU and both loop threads to another."""
    s = Synchronizer()
    base = Baseline()
    wf = s.wrap(f)
    tids = {
        "caller": threading.get_native_id(),
        "aiosync loop": s.wrap(native_id)(),
        "baseline loop": base.call(native_id()),
    }
    if place is not None:
        cpus = sorted(os.sched_getaffinity(0))
        other = cpus[0] if place == "same" else cpus[1]
        os.sched_setaffinity(tids["caller"], {cpus[0]})
        os.sched_setaffinity(tids["aiosync loop"], {other})
        os.sched_setaffinity(tids["baseline loop"], {other})

    def a_blocking(k: int) -> None:
        for i in range(k):
            wf(i)

    def b_blocking(k: int) -> None:
        for i in range(k):
            base.call(f(i))

    def a_aio(k: int) -> None:
        async def run() -> None:
            for i in range(k):
                await wf.aio(i)

        asyncio.run(run())

    def b_aio(k: int) -> None:
        async def run() -> None:
            for i in range(k):
                await base.acall(f(i))

        asyncio.run(run())

    subjects = {
        ("aiosync", "f()"): (a_blocking, "aiosync loop"),
        ("baseline", "f()"): (b_blocking, "baseline loop"),
        ("aiosync", "await f.aio()"): (a_aio, "aiosync loop"),
        ("baseline", "await f.aio()"): (b_aio, "baseline loop"),
    }
    samples: dict[tuple[str, str], list[float]] = {}
    events: dict[tuple[str, str, str], list[list[float]]] = {}
    seen: dict[str, set[int]] = {}
    keys = list(subjects)
    for r in range(rounds):
        for j in range(len(keys)):
            key = keys[(r + j) % len(keys)]
            run, loop_name = subjects[key]
            before = {t: thread_stats(tids[t])[1] for t in ("caller", loop_name)}
            t0 = time.perf_counter()
            run(n)
            us = (time.perf_counter() - t0) / n * 1e6
            samples.setdefault(key, []).append(us)
            for t in ("caller", loop_name):
                cpu, after = thread_stats(tids[t])
                seen.setdefault(t, set()).add(cpu)
                delta = [(a - b) / n for a, b in zip(after, before[t])]
                events.setdefault((*key, t), []).append(delta)
    med = {f"{impl} {sc}": statistics.median(v) for (impl, sc), v in samples.items()}
    print(f"pid {os.getpid()}: " + ", ".join(f"{k} {v:.1f} µs" for k, v in med.items()))
    for (impl, sc, t), v in events.items():
        sl, pre, mig = (statistics.median(col) for col in zip(*v))
        print(
            f"  {impl} {sc}, {t}: per call {sl:.2f} sleeps, {pre:.2f} preempted, "
            f"{mig:.2f} migrations"
        )
    print("  last CPUs seen: " + ", ".join(f"{t} {sorted(c)}" for t, c in seen.items()))
    return med


def pair_procs(procs: int, quick: bool, place: str | None) -> None:
    """`--pair` in `procs` fresh processes: each one's figures, then the median and the
    range over them."""
    import json
    import subprocess

    per: dict[str, list[float]] = {}
    for _ in range(procs):
        cmd = [sys.executable, os.path.abspath(__file__), "--pair", "--json"]
        if quick:
            cmd.append("--quick")
        if place:
            cmd += ["--place", place]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        lines = out.splitlines()
        print("\n".join(lines[:-1]))
        for k, v in json.loads(lines[-1]).items():
            per.setdefault(k, []).append(v)
    print(f"\nover {procs} processes, µs per call: median [min–max]")
    for k, v in per.items():
        print(f"  {k}: {statistics.median(v):.1f} [{min(v):.1f}–{max(v):.1f}]")
    for sc in ("f()", "await f.aio()"):
        ratios = [a / b for a, b in zip(per[f"aiosync {sc}"], per[f"baseline {sc}"])]
        print(
            f"  aiosync / baseline {sc}: {statistics.median(ratios):.2f}x "
            f"[{min(ratios):.2f}x–{max(ratios):.2f}x]"
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer rounds")
    ap.add_argument("--pair", action="store_true", help="aiosync and the baseline only")
    ap.add_argument("--procs", type=int, default=0, help="--pair in N fresh processes")
    ap.add_argument(
        "--place",
        choices=("same", "split"),
        help="--pair with the threads pinned: all on one CPU, or the loops on another",
    )
    ap.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.procs:
        pair_procs(args.procs, args.quick, args.place)
        return
    if args.pair:
        import json

        med = pair(*((7, 200) if args.quick else (31, 300)), args.place)
        if args.json:
            print(json.dumps(med))
        sys.stdout.flush()
        os._exit(0)
    n, rounds = (200, 7) if args.quick else (300, 31)
    counts = {"echo(10k ints)": 20}
    subjects, tids = make_subjects()
    impls = list(subjects)
    names = list(subjects["baseline"])
    samples: dict[tuple[str, str], list[float]] = {}
    sleeps: dict[tuple[str, str], list[float]] = {}
    for r in range(rounds):
        for scenario in names:
            k = counts.get(scenario, n)
            order = impls[r % 3 :] + impls[: r % 3]
            for impl in order:
                before = thread_stats(tids[impl])[1][0]
                t0 = time.perf_counter()
                subjects[impl][scenario](k)
                us = (time.perf_counter() - t0) / k * 1e6
                samples.setdefault((impl, scenario), []).append(us)
                after = thread_stats(tids[impl])[1][0]
                sleeps.setdefault((impl, scenario), []).append((after - before) / k)
    med = {key: statistics.median(v) for key, v in samples.items()}
    print(f"CPython {sys.version.split()[0]}, median of {rounds} rounds, µs per operation\n")
    print("| scenario | aiosync | synchronicity | baseline | vs synchronicity | vs baseline |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for scenario in names:
        a, s, b = (med[(i, scenario)] for i in ("aiosync", "synchronicity", "baseline"))
        print(f"| {scenario} | {a:.1f} | {s:.1f} | {b:.1f} | {a / s:.2f}x | {a / b:.2f}x |")
    fm = med[("aiosync", "obj.m()")] / med[("aiosync", "f()")]
    print(f"\naiosync obj.m() / f(): {fm:.2f}x")
    # A loop thread on the caller's CPU is mostly preempted, not woken (~0.1-0.3 sleeps
    # per call); one on another CPU sleeps and is woken once per call (1.00).
    print("loop thread sleeps per call (f(), .aio, obj.m()): ", end="")
    print(
        ", ".join(
            f"{impl} "
            + "/".join(
                f"{statistics.median(sleeps[(impl, sc)]):.2f}"
                for sc in ("f()", "await f.aio()", "obj.m()")
            )
            for impl in impls
        )
    )
    os._exit(0)  # the synchronizers' loop threads are daemons; skip their teardown


if __name__ == "__main__":
    main()
