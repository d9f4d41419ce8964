"""Shared helpers for the synchronized tests: probes, holders, exclusion checks, classes."""

from __future__ import annotations

import asyncio
import threading
import time

import aiosync._synchronized as _sync
import pytest
from aiosync import synchronized
from conftest import DEADLINE, join_all, run_in_thread, wait_until

GRACE = 0.1  # how long a call that must be kept out gets to (wrongly) get in
SHORT = 5.0  # bound for what must happen promptly
TIMEOUT = 0.1  # the `timeout=` used below
_ATTR = _sync._ATTR


# -- helpers -------------------------------------------------------------------------


class Probe:
    """Counts the callers inside a section at once (with its own plain lock)."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self.inside = 0
        self.max_inside = 0

    def enter(self) -> None:
        with self._guard:
            self.inside += 1
            self.max_inside = max(self.max_inside, self.inside)

    def leave(self) -> None:
        with self._guard:
            self.inside -= 1


def _bump(obj, attr: str, probe: Probe) -> None:
    """Read, let other threads run, write: loses updates unless callers are serialised."""
    probe.enter()
    try:
        value = getattr(obj, attr)
        time.sleep(0)
        setattr(obj, attr, value + 1)
    finally:
        probe.leave()


async def _abump(obj, attr: str, probe: Probe) -> None:
    """Read, await (and let other threads run), write."""
    probe.enter()
    try:
        value = getattr(obj, attr)
        await asyncio.sleep(0)
        time.sleep(0)
        await asyncio.sleep(0)
        setattr(obj, attr, value + 1)
    finally:
        probe.leave()


def hold_in_thread(hold, *args):
    """Runs `hold(*args, entered, leave)` in a thread until it is inside (holding its
    lock); returns (leave, thread). Set `leave` to let it go."""
    entered, leave = threading.Event(), threading.Event()
    t = run_in_thread(hold, *args, entered, leave)
    wait_until(lambda: entered.is_set() or not t.is_alive(), SHORT)
    if not entered.is_set():
        join_all([t], SHORT)
        pytest.fail("the holder never got in")
    return leave, t


def assert_excluded(call, leave, holder):
    """`call()` (in a thread) must wait while `holder` holds the lock, and run after."""
    t = run_in_thread(call)
    t.join(GRACE)
    kept_out = t.is_alive()
    leave.set()
    join_all([holder, t], SHORT)
    assert kept_out, "ran while the lock was held elsewhere"
    return t.result


def assert_not_excluded(call, leave, holder, bound: float = SHORT):
    """`call()` (in a thread) must finish while `holder` still holds its lock."""
    t = run_in_thread(call)
    t.join(bound)
    finished = not t.is_alive()
    leave.set()
    join_all([holder, t], SHORT)
    assert finished, "waited for a lock it must not share"
    return t.result


async def a_assert_excluded(make_coro, leave, holder):
    """In a loop: `make_coro()` (as a task) must wait while `holder` (a task holding the
    lock until `leave` is set) runs, and finish after."""
    task = asyncio.ensure_future(make_coro())
    done, _ = await asyncio.wait({task}, timeout=GRACE)
    leave.set()
    await asyncio.wait_for(holder, SHORT)
    result = await asyncio.wait_for(task, SHORT)
    assert not done, "ran while the lock was held elsewhere"
    return result


async def a_hold(obj):
    """Starts `obj.ahold` as a task and waits until it holds the lock."""
    entered, leave = asyncio.Event(), asyncio.Event()
    holder = asyncio.ensure_future(obj.ahold(entered, leave))
    await asyncio.wait_for(entered.wait(), SHORT)
    return leave, holder


class _Methods:
    """Synchronized methods shared by a plain class and two `__slots__` classes."""

    __slots__ = ()

    @synchronized
    def hold(self, entered, leave):
        entered.set()
        assert leave.wait(DEADLINE)

    @synchronized
    def touch(self):
        return "touched"

    @synchronized
    def inc(self):
        _bump(self, "n", self.sync_probe)

    @synchronized
    def outer(self):
        return self.inner() + 1

    @synchronized
    def inner(self):
        with synchronized(self):
            return 1

    @synchronized
    def fail(self):
        raise ZeroDivisionError

    @synchronized
    async def ahold(self, entered, leave):
        entered.set()
        await asyncio.wait_for(leave.wait(), DEADLINE)

    @synchronized
    async def atouch(self):
        await asyncio.sleep(0)
        return "atouched"

    @synchronized
    async def ainc(self):
        await _abump(self, "a", self.async_probe)

    @synchronized
    async def afail(self):
        await asyncio.sleep(0)
        raise ZeroDivisionError

    def _init(self):
        self.n = 0
        self.a = 0
        self.sync_probe = Probe()
        self.async_probe = Probe()


class Counter(_Methods):
    def __init__(self):
        self._init()


class Slotted(_Methods):
    __slots__ = ("n", "a", "sync_probe", "async_probe", "__weakref__")

    def __init__(self):
        self._init()


class SlottedNoWeakref(_Methods):
    __slots__ = ("n", "a", "sync_probe", "async_probe")

    def __init__(self):
        self._init()


@synchronized
def _f_touch():
    return "f"


# -- 3. `with synchronized(obj)`, `async with synchronized(obj)`, lock-like objects ---


def _ctx_touch(obj):
    with synchronized(obj):
        return "ctx"
