"""aiosync.redis: the fenced store, and a Semaphore shared by several processes."""

from __future__ import annotations

import subprocess
import sys
import time

import aiosync.redis as ar
import pytest
from _redis_helpers import redis_server

LEASE = 0.6

server = redis_server


def _client(url: str) -> ar.Client:
    return ar.Client(url, namespace="f", lease=LEASE)


def test_a_paused_holders_stale_write_is_refused(server: str) -> None:
    paused, live = _client(server), _client(server)
    old = paused.Lock("report").acquire()
    assert paused.fenced_set("report:latest", b"v1", old.token)
    # The holder stops renewing, as a process stopped by a GC pause or SIGSTOP would.
    paused._suspend_heartbeat(True)
    new = live.Lock("report").acquire(timeout=5)
    assert new, "the lock goes on after the lease"
    assert new.token > old.token
    assert live.fenced_set("report:latest", "v2", new.token)
    # The paused holder wakes up and writes before it checks its lease: refused.
    assert not paused.fenced_set("report:latest", b"stale", old.token)
    assert live.fenced_get("report:latest") == (b"v2", new.token)
    # The same hold may write again under its own token.
    assert live.fenced_set("report:latest", bytearray(b"v3"), new.token)
    assert paused.fenced_get("report:latest") == (b"v3", new.token)
    with pytest.raises(ar.LeaseLost):
        old.release()
    new.release()


def test_fenced_store_bad_input(server: str) -> None:
    client = _client(server)
    assert client.fenced_get("missing") is None
    with pytest.raises(ValueError, match="not negative"):
        client.fenced_set("k", b"v", -1)
    with pytest.raises(ValueError, match="2\\^53"):
        client.fenced_set("k", b"v", 2**60)
    with pytest.raises(TypeError, match="bytes or str"):
        client.fenced_set("k", 12, 1)  # type: ignore[arg-type]
    assert client.fenced_get("k") is None, "refused writes leave nothing"


SEM_WORKER = """
import sys, time, aiosync.redis as ar
url, log = sys.argv[1:3]
sem = ar.Client(url, namespace="f", lease=0.6).Semaphore("s", 2)
for _ in range(12):
    with sem:
        start = time.monotonic()
        time.sleep(0.002)
        with open(log, "a") as f:
            f.write(f"{start} {time.monotonic()}\\n")
"""


def test_semaphore_of_two_across_four_processes(server: str, tmp_path) -> None:
    log = tmp_path / "log"
    log.write_text("")
    procs = [
        subprocess.Popen([sys.executable, "-c", SEM_WORKER, server, str(log)]) for _ in range(4)
    ]
    for p in procs:
        assert p.wait(60) == 0
    rows = [tuple(map(float, line.split())) for line in log.read_text().splitlines()]
    assert len(rows) == 48
    # Sweep the intervals: never more than two holders at once.
    events = sorted([(a, 1) for a, _ in rows] + [(b, -1) for _, b in rows])
    inside = most = 0
    for _, step in events:
        inside += step
        most = max(most, inside)
    assert most <= 2, f"{most} holders at once"
    # The semaphore is whole again: both permits can be had at once, and a third cannot.
    sem = _client(server).Semaphore("s", 2)
    a, b = sem.acquire(timeout=5), sem.acquire(timeout=5)
    assert a and b
    assert sem.acquire(blocking=False) is False
    started = time.monotonic()
    assert sem.acquire(timeout=0.2) is False
    assert time.monotonic() - started < 1.0, "a timeout is one deadline"
    a.release()
    b.release()
