"""python_bench.py helpers and scenario bodies: optional imports, checks, runners."""

from __future__ import annotations

import asyncio
import importlib
import threading
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
