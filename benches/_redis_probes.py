"""Probes of the server for benches/python_redis_bench.py: its command counters, its
script time, MONITOR's requests, its clock, and a PING on a bare socket."""

from __future__ import annotations

import os
import socket
import threading
import time
import urllib.parse
from collections import Counter
from typing import Any

import redis


def cmdstats(mon: Any) -> Counter[str]:
    info = mon.info("commandstats")
    c = Counter({k.removeprefix("cmdstat_"): v["calls"] for k, v in info.items()})
    c.pop("info", None)
    return c


def script_usec(mon: Any) -> float:
    """The server's total time in EVALSHA so far (µs; includes the commands inside)."""
    return float(mon.info("commandstats").get("cmdstat_evalsha", {}).get("usec", 0))


def raw_ping(url: str, ops: int, poll: bool) -> float:
    """µs per PING on a bare socket: the reply read by blocking, or by polling."""
    u = urllib.parse.urlparse(url)
    with socket.create_connection((u.hostname or "127.0.0.1", u.port or 6379)) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def once() -> None:
            s.sendall(b"PING\r\n")
            if not poll:
                s.recv(64)
                return
            while True:
                try:
                    if s.recv(64, socket.MSG_DONTWAIT):
                        return
                except BlockingIOError:
                    os.sched_yield()

        for _ in range(100):
            once()
        t = time.perf_counter()
        for _ in range(ops):
            once()
        return (time.perf_counter() - t) / ops * 1e6


def describe(c: Counter[str], per: float = 1.0) -> str:
    """`4.0 (evalsha 2.0, hget 2.0)`: total, then the largest few."""
    total = sum(c.values()) / per
    parts = [f"{k} {v / per:.3g}" for k, v in c.most_common(5) if v > 0]
    return f"{total:.3g} ({', '.join(parts)})" if parts else "0"


class Monitor:
    """Collects the top-level requests that MONITOR shows, with the server's timestamps."""

    def __init__(self, url: str) -> None:
        self.seen: list[tuple[float, str]] = []
        self._m = redis.Redis.from_url(url).monitor()
        self._m.__enter__()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        try:
            for c in self._m.listen():
                if c["client_type"] != "lua":
                    words = c["command"].split()
                    label = words[0].upper()
                    if label == "EVALSHA" and len(words) > 2:
                        label += f"/{words[2]}keys"  # aiosync: 10 acquire or release, 1 renew
                    self.seen.append((float(c["time"]), label))
        except Exception:  # closed by stop()
            pass

    def between(self, t0: float, t1: float) -> Counter[str]:
        return Counter(lbl for t, lbl in self.seen if t0 <= t <= t1 and lbl not in ("TIME", "INFO"))

    def stop(self) -> None:
        try:
            self._m.connection.disconnect()
        except Exception:
            pass


def server_time(mon: Any) -> float:
    s, us = mon.time()
    return s + us / 1e6
