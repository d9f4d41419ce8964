#!/usr/bin/env python3
"""Benchmark: aiosync.redis.Lock against redis-py's Lock and python-redis-lock's Lock.

Run it with `scripts/bench-redis.sh` (a pinned bench venv, its own redis-server), or by
hand against a server that holds nothing else (it reads the server's command counters):

    .venv-bench/bin/python benches/python_redis_bench.py --url redis://127.0.0.1:PORT/

Scenarios (every implementation in the same run; the order rotates every round):

1. uncontended `with lock: pass`, one process: time per acquire+release, and the commands
   the server ran per acquire+release (INFO commandstats, including those inside scripts).
   Also one PING round trip through redis-py, and on a bare socket read two ways: blocking
   in `recv`, and polling (`MSG_DONTWAIT`, yielding the CPU between tries) as aiosync's
   connections wait for a reply.
2. the same with `async with` (aiosync and redis.asyncio; python-redis-lock has none).
3. handoff: two processes take turns; a waiter is queued while the other holds. The
   latency is from the holder's timestamp just before its release to the waiter's first
   timestamp inside the lock (time.monotonic_ns: CLOCK_MONOTONIC is system-wide on Linux).
   Holds last 5 ms plus a random part as long as the implementation's retry period, so a
   polling waiter is caught at a random phase of its sleep.
4. four processes contend for `--seconds` each round: acquire, hold 1 ms, release, think
   1 ms. Acquisitions/s, the worst process's distance from the mean count, p99 wait
   (from calling acquire to holding). Also checks that no two holds overlapped.
5. polling: one process holds for `--poll-window` seconds while three others wait; the
   requests that reached the server meanwhile (MONITOR, top-level only) and the commands
   it executed (commandstats delta, including those inside Lua scripts).

Every implementation uses a 10 s lease (redis-py `timeout=`, python-redis-lock `expire=`);
aiosync alone renews it (every lease/3), the others would let a long hold expire.
Progress goes to stderr, the markdown report to stdout. Adding another primitive (RLock,
Semaphore, ...): add `Impl` entries with its `kind` and run with `--kind`.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import random
import statistics
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable

import aiosync.redis as ar
import redis
import redis.asyncio
from _redis_probes import Monitor, cmdstats, describe, raw_ping, script_usec, server_time

try:
    import redis_lock
except ImportError:  # the comparison is optional, as are its table cells
    redis_lock = None

LEASE = 10.0
now = time.monotonic_ns


# --------------------------------------------------------------------------------------
# Implementations. `make` gives a blocking context manager, `make_async` an async one.


@dataclass(frozen=True)
class Impl:
    name: str
    kind: str  # the primitive it stands for: "Lock" (later "RLock", "Semaphore", ...)
    connect: Callable[[str], Any]
    make: Callable[[Any, str], Any]
    connect_async: Callable[[str], Any] | None = None  # called inside the event loop
    make_async: Callable[[Any, str], Any] | None = None
    poll: float = 0.0  # a waiter's retry period in seconds; 0: woken by the server
    ours: bool = False


def _aiosync(url: str) -> Any:
    return ar.Client(url, namespace="bench", lease=LEASE)


def _ours(client: Any, name: str) -> Any:
    return client.Lock(name)


def _rp_lock(sleep: float) -> Callable[[Any, str], Any]:
    return lambda r, name: r.lock(f"rp{sleep}:{name}", timeout=LEASE, sleep=sleep)


def _prl_lock(r: Any, name: str) -> Any:
    return redis_lock.Lock(r, f"prl:{name}", expire=int(LEASE))


R, RA = redis.Redis.from_url, redis.asyncio.Redis.from_url
IMPLS = [
    Impl("aiosync", "Lock", _aiosync, _ours, _aiosync, _ours, ours=True),
    Impl("redis-py", "Lock", R, _rp_lock(0.1), RA, _rp_lock(0.1), poll=0.1),
    Impl("redis-py sleep=1ms", "Lock", R, _rp_lock(0.001), RA, _rp_lock(0.001), poll=0.001),
]
if redis_lock is not None:
    IMPLS.append(Impl("python-redis-lock", "Lock", R, _prl_lock))
BY_NAME = {i.name: i for i in IMPLS}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def rotated(items: list[Any], r: int) -> list[Any]:
    k = r % len(items)
    return items[k:] + items[:k]


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


# --------------------------------------------------------------------------------------
# Scenarios 1 and 2: one process, no contention.


def uncontended(impls: list[Impl], a: argparse.Namespace, mon: Any) -> dict[str, Any]:
    times: dict[str, list[float]] = {i.name: [] for i in impls}
    cmds: dict[str, str] = {}
    lua: dict[str, list[float]] = {i.name: [] for i in impls}
    locks = {i.name: i.make(i.connect(a.url), f"u{os.getpid()}") for i in impls}
    for lk in locks.values():
        for _ in range(100):
            with lk:
                pass
    for r in range(a.rounds):
        for impl in rotated(impls, r):
            lk = locks[impl.name]
            before, us = cmdstats(mon), script_usec(mon)
            t = time.perf_counter()
            for _ in range(a.ops):
                with lk:
                    pass
            times[impl.name].append((time.perf_counter() - t) / a.ops * 1e6)
            cmds[impl.name] = describe(cmdstats(mon) - before, a.ops)
            lua[impl.name].append((script_usec(mon) - us) / a.ops)
    reqs = {}
    for impl in impls:  # untimed: the requests (round trips) each acquire+release makes
        monitor, t0 = Monitor(a.url), server_time(mon)
        for _ in range(100):
            with locks[impl.name]:
                pass
        t1 = server_time(mon)
        time.sleep(0.1)
        reqs[impl.name] = describe(monitor.between(t0, t1), 100)
        monitor.stop()
    t = time.perf_counter()
    for _ in range(a.ops):
        mon.ping()
    ping = (time.perf_counter() - t) / a.ops * 1e6
    raw = {poll: raw_ping(a.url, a.ops, poll) for poll in (False, True)}
    return {"us": times, "cmds": cmds, "reqs": reqs, "ping": ping, "lua": lua, "raw": raw}


async def _async_pass(impl: Impl, a: argparse.Namespace, name: str) -> float:
    assert impl.connect_async and impl.make_async
    lk = impl.make_async(impl.connect_async(a.url), name)
    for _ in range(100):
        async with lk:
            pass
    t = time.perf_counter()
    for _ in range(a.ops):
        async with lk:
            pass
    return (time.perf_counter() - t) / a.ops * 1e6


def uncontended_async(impls: list[Impl], a: argparse.Namespace) -> dict[str, Any]:
    live = [i for i in impls if i.make_async is not None]
    times: dict[str, list[float]] = {i.name: [] for i in live}
    for r in range(a.rounds):
        for impl in rotated(live, r):
            us = asyncio.run(_async_pass(impl, a, f"ua{os.getpid()}"))
            times[impl.name].append(us)
    return {"us": times}


# --------------------------------------------------------------------------------------
# Worker processes (spawned, so no client thread is ever forked). Each records its holds
# as (t_request, t_got, t_release) in monotonic ns and sends them back.


def _pingpong(
    impl_name: str,
    url: str,
    name: str,
    role: int,
    seconds: float,
    conn: Any,
    barrier: Any,
    out: Any,
) -> None:
    impl = BY_NAME[impl_name]
    lk = impl.make(impl.connect(url), name)
    rng = random.Random(role)
    holds = []
    with lk:  # warm-up: scripts loaded, connection open
        pass
    barrier.wait()
    end = now() + int(seconds * 1e9)
    msg = "go" if role == 0 else conn.recv()
    while msg == "go":
        t_req = now()
        with lk:
            t_got = now()
            last = t_got >= end
            conn.send("stop" if last else "go")  # the peer starts waiting now
            time.sleep(0.005 + rng.random() * impl.poll)
            t_rel = now()
        holds.append((t_req, t_got, t_rel))
        msg = "stop" if last else conn.recv()
    out.put((role, holds))


def _contend(
    impl_name: str, url: str, name: str, role: int, seconds: float, barrier: Any, out: Any
) -> None:
    impl = BY_NAME[impl_name]
    lk = impl.make(impl.connect(url), name)
    with lk:
        pass
    barrier.wait()
    start = now()
    end = start + int(seconds * 1e9)
    holds = []
    while now() < end:
        t_req = now()
        with lk:
            t_got = now()
            time.sleep(0.001)
            t_rel = now()
        holds.append((t_req, t_got, t_rel))
        time.sleep(0.001)
    out.put((role, (start, holds)))


def _poll_worker(
    impl_name: str, url: str, name: str, role: int, held: Any, waiting: Any, go: Any, out: Any
) -> None:
    impl = BY_NAME[impl_name]
    lk = impl.make(impl.connect(url), name)
    if role == 0:
        with lk:
            held.set()
            go.wait()
    else:
        held.wait()
        waiting.release()
        with lk:
            pass
    out.put((role, None))


def run_procs(
    target: Callable[..., None],
    n: int,
    args: tuple[Any, ...],
    extra: Callable[[int], tuple[Any, ...]] = lambda r: (),
) -> dict[int, Any]:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args, r, *extra(r), out)) for r in range(n)]
    for p in procs:
        p.start()
    results = dict(out.get(timeout=300) for _ in procs)
    for p in procs:
        p.join(timeout=30)
    return results


def overlaps(holds: list[tuple[int, int, int]]) -> int:
    """Holds that began before the previous one's release was even called."""
    s = sorted(holds, key=lambda h: h[1])
    return sum(1 for p, q in zip(s, s[1:]) if q[1] < p[2])


# --------------------------------------------------------------------------------------
# Scenarios 3 to 5: several processes.


def handoff(impls: list[Impl], a: argparse.Namespace) -> dict[str, Any]:
    lat: dict[str, list[float]] = {i.name: [] for i in impls}
    bad: dict[str, int] = {i.name: 0 for i in impls}
    ctx = mp.get_context("spawn")
    for r in range(a.rounds):
        for impl in rotated(impls, r):
            log(f"  handoff round {r + 1}: {impl.name}")
            p0, p1 = ctx.Pipe()
            barrier = ctx.Barrier(2)
            res = run_procs(
                _pingpong,
                2,
                (impl.name, a.url, f"h{r}-{os.getpid()}"),
                lambda role, p0=p0, p1=p1, b=barrier: (a.seconds, (p0, p1)[role], b),
            )
            holds = sorted(res[0] + res[1], key=lambda h: h[1])
            bad[impl.name] += overlaps(holds)
            # Each hold after the first was handed over by the previous one.
            lat[impl.name] += [(q[1] - p[2]) / 1e3 for p, q in zip(holds, holds[1:])]
    return {"lat": lat, "bad": bad}


def contention(impls: list[Impl], a: argparse.Namespace) -> dict[str, Any]:
    rate: dict[str, list[float]] = {i.name: [] for i in impls}
    spread: dict[str, list[float]] = {i.name: [] for i in impls}
    waits: dict[str, list[float]] = {i.name: [] for i in impls}
    bad: dict[str, int] = {i.name: 0 for i in impls}
    ctx = mp.get_context("spawn")
    for r in range(a.rounds):
        for impl in rotated(impls, r):
            log(f"  contention round {r + 1}: {impl.name}")
            barrier = ctx.Barrier(a.procs)
            res = run_procs(
                _contend,
                a.procs,
                (impl.name, a.url, f"c{r}-{os.getpid()}"),
                lambda role, b=barrier: (a.seconds, b),
            )
            start = min(s for s, _ in res.values())
            end = start + int(a.seconds * 1e9)
            counts = []
            for _, holds in res.values():
                inside = [h for h in holds if h[1] <= end]
                counts.append(len(inside))
                waits[impl.name] += [(h[1] - h[0]) / 1e6 for h in inside]
            bad[impl.name] += overlaps([h for _, hs in res.values() for h in hs])
            mean = statistics.mean(counts)
            rate[impl.name].append(sum(counts) / a.seconds)
            spread[impl.name].append(max(abs(c / mean - 1) for c in counts) * 100 if mean else 100)
            log(f"    counts {counts}")
    return {"rate": rate, "spread": spread, "waits": waits, "bad": bad}


def poll_round(impl: Impl, a: argparse.Namespace, mon: Any, name: str) -> list[Counter[str]]:
    ctx = mp.get_context("spawn")
    held, go, waiting = ctx.Event(), ctx.Event(), ctx.Semaphore(0)
    monitor = Monitor(a.url)
    result: list[Counter[str]] = []

    def watch() -> None:
        for _ in range(3):
            waiting.acquire()
        time.sleep(0.5)  # the waiters' first attempts are done
        t0, before = server_time(mon), cmdstats(mon)
        time.sleep(a.poll_window)
        t1, after = server_time(mon), cmdstats(mon)
        go.set()
        time.sleep(0.05)
        # One TIME of ours falls inside the window; the INFO calls are left out already.
        result.extend([monitor.between(t0, t1), after - before - Counter({"time": 1})])

    th = threading.Thread(target=watch)
    th.start()
    run_procs(_poll_worker, 4, (impl.name, a.url, name), lambda role: (held, waiting, go))
    th.join()
    monitor.stop()
    return result


def polling(impls: list[Impl], a: argparse.Namespace, mon: Any) -> dict[str, Any]:
    reqs: dict[str, list[Counter[str]]] = {i.name: [] for i in impls}
    cmds: dict[str, list[Counter[str]]] = {i.name: [] for i in impls}
    for r in range(a.poll_rounds):
        for impl in rotated(impls, r):
            log(f"  polling round {r + 1}: {impl.name}")
            q, c = poll_round(impl, a, mon, f"p{r}-{os.getpid()}")
            reqs[impl.name].append(q)
            cmds[impl.name].append(c)
    return {"reqs": reqs, "cmds": cmds}


# --------------------------------------------------------------------------------------
# Report.


def fmt_us(us: float) -> str:
    if us >= 1000:
        return f"{us / 1000:.3g} ms"
    return f"{us:.3g} µs"


def row(
    label: str,
    target: str,
    impls: list[Impl],
    vals: dict[str, float],
    show: Callable,
    met: Callable[[float], bool] | None = None,
) -> str:
    ours = vals.get("aiosync")
    cells = []
    for i in impls:
        v = vals.get(i.name)
        if v is None:
            cells.append("n/a")
        elif i.ours or not ours or not v:
            cells.append(show(v))
        else:
            cells.append(f"{show(v)} ({ours / v:.2g}x)")
    verdict = "" if met is None or ours is None else ("met" if met(ours) else "**missed**")
    return f"| {label} | {target} | {' | '.join(cells)} | {verdict} |"


def report(impls: list[Impl], res: dict[str, Any], a: argparse.Namespace) -> list[str]:
    head = "| scenario | target (aiosync) | " + " | ".join(i.name for i in impls) + " | verdict |"
    lines = [head, "|---|---|" + "---|" * len(impls) + "---|"]
    med = statistics.median

    def add(label: str, target: str, vals: dict[str, float], show: Callable = fmt_us,
            met: Callable[[float], bool] | None = None) -> None:  # fmt: skip
        lines.append(row(label, target, impls, vals, show, met))

    def note(label: str, cells: list[str]) -> None:
        lines.append(f"| {label} | | {' | '.join(cells)} | |")

    for key, where in (("u", ""), ("u1", ", client and server on one CPU")):
        if key in res:
            v = {k: med(x) for k, x in res[key]["us"].items()}
            add(f"uncontended `with`{where}", "≤ 100 µs", v, met=lambda x: x <= 100)
            pad = [""] * (len(impls) - 1)
            note(f"one PING round trip{where}", [fmt_us(res[key]["ping"])] + pad)
            for poll, how in ((False, "blocking"), (True, "polling")):
                label = f"one PING on a bare socket, {how} read{where}"
                note(label, [fmt_us(res[key]["raw"][poll])] + pad)
    if "u" in res:
        for key, label in (("reqs", "requests"), ("cmds", "commands run, incl. in Lua")):
            note(f"{label} per acquire+release", [res["u"][key].get(i.name, "") for i in impls])
        lua = res["u"]["lua"]
        note(
            "server time in EVALSHA per acquire+release (INFO commandstats)",
            [fmt_us(med(lua[i.name])) if lua.get(i.name) else "" for i in impls],
        )
    for key, where in (("ua", ""), ("ua1", ", one CPU")):
        if key in res:
            v = {k: med(x) for k, x in res[key]["us"].items()}
            add(f"uncontended `async with`{where}", "≤ 150 µs", v, met=lambda x: x <= 150)
    if "h" in res:
        lat = res["h"]["lat"]
        v = {k: med(x) for k, x in lat.items() if x}
        add("handoff to a waiting process, median", "≤ 1 ms", v, met=lambda x: x <= 1000)
        add("handoff, p99", "", {k: pct(x, 0.99) for k, x in lat.items() if x})
        note(f"handoffs measured (overlaps: {sum(res['h']['bad'].values())})",
             [str(len(lat[i.name])) for i in impls])  # fmt: skip
    if "c" in res:
        c = res["c"]
        v = {k: med(x) for k, x in c["rate"].items()}
        add(f"{a.procs} processes: acquisitions/s", "≥ 550/s", v, lambda x: f"{x:.0f}/s",
            lambda x: x >= 550)  # fmt: skip
        v = {k: max(x) for k, x in c["spread"].items()}
        add("worst process vs mean count (worst round)", "within ±5%", v,
            lambda x: f"±{x:.1f}%", lambda x: x <= 5)  # fmt: skip
        waits = {k: x for k, x in c["waits"].items() if x}
        add("wait p99", "≤ 20 ms", {k: pct(x, 0.99) * 1000 for k, x in waits.items()},
            met=lambda x: x <= 20000)  # fmt: skip
        add("wait median", "", {k: med(x) * 1000 for k, x in waits.items()})
        note("overlapping holds (must be 0)", [str(c["bad"][i.name]) for i in impls])
    if "p" in res:
        p = res["p"]
        for key, label in (("reqs", "requests (MONITOR)"), ("cmds", "commands incl. Lua")):
            v = {k: med(sum(x.values()) for x in xs) for k, xs in p[key].items()}
            add(f"3 waiters, {a.poll_window:g} s: {label}", "~0 + heartbeat", v, "{:.0f}".format)
        lines += ["", "Polling scenario, requests that reached the server, per round:", ""]
        for i in impls:
            lines.append(f"- {i.name}: " + "; ".join(describe(x) for x in p["reqs"][i.name]))
    return lines


def pinned(mon: Any, fn: Callable[[], Any]) -> Any:
    """Runs `fn` with this thread and the server's main thread on one CPU: no wakeup then
    has to cross CPUs (slow on an idle VM), so what is left is the code's own cost."""
    pid = int(mon.info("server")["process_id"])
    keep = os.sched_getaffinity(0), os.sched_getaffinity(pid)
    cpu = {min(keep[0] & keep[1])}
    os.sched_setaffinity(0, cpu)
    os.sched_setaffinity(pid, cpu)
    try:
        return fn()
    finally:
        os.sched_setaffinity(0, keep[0])
        os.sched_setaffinity(pid, keep[1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--kind", default="Lock", help="which primitive's implementations")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--ops", type=int, default=2000, help="operations per uncontended pass")
    ap.add_argument("--seconds", type=float, default=4.0, help="per handoff/contention pass")
    ap.add_argument("--procs", type=int, default=4)
    ap.add_argument("--poll-window", type=float, default=4.0, help="> one heartbeat (3.3 s)")
    ap.add_argument("--poll-rounds", type=int, default=2)
    ap.add_argument("--only", default="u,u1,ua,ua1,h,c,p", help="scenario keys, comma list")
    ap.add_argument("--impls", default="", help="comma list of implementation names")
    a = ap.parse_args()
    impls = [i for i in IMPLS if i.kind == a.kind]
    if a.impls:
        impls = [i for i in impls if i.name in a.impls.split(",")]
    mon = redis.Redis.from_url(a.url)
    mon.config_resetstat()
    only = set(a.only.split(","))
    res: dict[str, Any] = {}
    t = time.perf_counter()
    steps = [
        ("u", "uncontended", lambda: uncontended(impls, a, mon)),
        ("u1", "uncontended, one CPU", lambda: pinned(mon, lambda: uncontended(impls, a, mon))),
        ("ua", "uncontended asyncio", lambda: uncontended_async(impls, a)),
        ("ua1", "asyncio, one CPU", lambda: pinned(mon, lambda: uncontended_async(impls, a))),
        ("h", "handoff", lambda: handoff(impls, a)),
        ("c", "contention", lambda: contention(impls, a)),
        ("p", "polling", lambda: polling(impls, a, mon)),
    ]
    for key, title, fn in steps:
        if key in only:
            log(f"[{key}] {title}")
            res[key] = fn()
    info = mon.info("server")
    print(
        f"redis-server {info['redis_version']}, redis-py {redis.__version__}, "
        f"python-redis-lock {getattr(redis_lock, '__version__', 'n/a')}, "
        f"Python {sys.version.split()[0]}, {os.cpu_count()} cores, {a.rounds} rounds "
        f"(median shown; ratio = aiosync / that one), {time.perf_counter() - t:.0f} s\n"
    )
    print("\n".join(report(impls, res, a)))
    bad = sum(sum(res[k]["bad"].values()) for k in ("h", "c") if k in res)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
