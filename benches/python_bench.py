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
import gc
import os
import platform
import statistics
import sys
from time import perf_counter

from _bench_bodies import Broken, _version, aiologic, aiorwlock, aiosync, culsans, janus
from _bench_scenarios import Impl, Scenario, scenarios

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
