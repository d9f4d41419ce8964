"""aiosync.redis against a real redis-server that the fixture starts (never skipped)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time

import aiosync.redis as ar
import pytest
from _redis_helpers import redis_server

LEASE = 0.6


server = redis_server


def _client(url: str) -> ar.Client:
    return ar.Client(url, namespace="t", lease=LEASE)


def _check_intervals(intervals: list[tuple[float, float, int]]) -> None:
    intervals.sort()
    for (_, end, tok), (start, _, tok2) in zip(intervals, intervals[1:]):
        assert end <= start, "hold intervals overlap"
        assert tok < tok2, "tokens follow the order of the holds"


def test_threads_and_two_loops_on_one_client(server: str) -> None:
    client = _client(server)
    lock = client.Lock("m")
    state = {"n": 0}
    intervals: list[tuple[float, float, int]] = []
    errors: list[BaseException] = []

    def critical(hold) -> None:
        start = time.monotonic()
        v = state["n"]
        time.sleep(0.0002)
        state["n"] = v + 1
        intervals.append((start, time.monotonic(), hold.token))

    def thread_main() -> None:
        for _ in range(20):
            with lock as hold:
                critical(hold)

    async def task_main() -> None:
        for _ in range(10):
            async with lock as hold:
                critical(hold)

    async def loop_main() -> None:
        await asyncio.gather(task_main(), task_main())

    def loop_thread() -> None:
        try:
            asyncio.run(asyncio.wait_for(loop_main(), 30))
        except BaseException as e:  # noqa: BLE001 - re-raised below
            errors.append(e)

    threads = [threading.Thread(target=thread_main) for _ in range(2)]
    threads += [threading.Thread(target=loop_thread) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert state["n"] == 2 * 20 + 2 * 2 * 10
    _check_intervals(intervals)


WORKER = """
import sys, time, aiosync.redis as ar
url, counter, log = sys.argv[1:4]
lock = ar.Client(url, namespace="t", lease=0.6).Lock("p")
for _ in range(15):
    with lock as hold:
        start = time.monotonic()
        with open(counter) as f:
            n = int(f.read())
        with open(counter, "w") as f:
            f.write(str(n + 1))
        with open(log, "a") as f:
            f.write(f"{start} {time.monotonic()} {hold.token}\\n")
"""


def test_several_processes_exact_counter(server: str, tmp_path) -> None:
    counter, log = tmp_path / "counter", tmp_path / "log"
    counter.write_text("0")
    log.write_text("")
    procs = [
        subprocess.Popen([sys.executable, "-c", WORKER, server, str(counter), str(log)])
        for _ in range(3)
    ]
    for p in procs:
        assert p.wait(60) == 0
    assert counter.read_text() == "45"
    rows = [line.split() for line in log.read_text().splitlines()]
    _check_intervals([(float(a), float(b), int(t)) for a, b, t in rows])


def test_acquire_forms(server: str) -> None:
    a, b = _client(server), _client(server)
    hold = a.Lock("f").acquire()
    assert hold and hold.token > 0
    assert b.Lock("f").acquire(blocking=False) is False
    start = time.monotonic()
    assert b.Lock("f").acquire(timeout=0.2) is False
    assert 0.2 <= time.monotonic() - start < 0.35
    hold.release()
    again = b.Lock("f").acquire(blocking=False)
    assert again and again.token > hold.token
    again.release()
    with pytest.raises(RuntimeError):
        again.release()


def test_cancelled_async_acquire_leaves_the_queue(server: str) -> None:
    a, b = _client(server), _client(server)
    hold = a.Lock("c").acquire()

    async def main() -> None:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(b.Lock("c").acquire(), 0.1)
        waiter = asyncio.ensure_future(b.Lock("c").acquire())
        await asyncio.sleep(0.05)
        released = time.monotonic()
        await asyncio.get_running_loop().run_in_executor(None, hold.release)
        got = await asyncio.wait_for(waiter, 2)
        assert time.monotonic() - released < 0.2
        got.release()

    asyncio.run(main())


def test_lost_lease_is_seen_and_release_leaves_the_new_owner_alone(server: str) -> None:
    dead, live = _client(server), _client(server)
    lost = dead.Lock("l").acquire()
    dead._suspend_heartbeat(True)
    start = time.monotonic()
    hold = live.Lock("l").acquire(timeout=5)
    assert hold, "the next waiter gets the lock after the lease"
    assert time.monotonic() - start < LEASE + LEASE / 3 + 0.3
    with pytest.raises(ar.LeaseLost):
        lost.check()
    with pytest.raises(ar.LeaseLost):
        lost.release()
    hold.check()
    assert live.Lock("l").acquire(blocking=False) is False
    hold.release()


def test_with_block_ends_in_lease_lost(server: str) -> None:
    client = _client(server)
    with pytest.raises(ar.LeaseLost):
        with client.Lock("w"):
            client._suspend_heartbeat(True)
            time.sleep(LEASE + 0.1)
