"""Shared helpers for the RWLock tests: settling, timed acquires, other threads."""

import asyncio

from conftest import join_all, run_in_thread

T = 5.0  # deadline for a single wait inside a test


async def settle(rounds: int = 5) -> None:
    """Lets every ready task of this loop run a few steps (deterministic: one loop)."""
    for _ in range(rounds):
        await asyncio.sleep(0)


async def acquire_within(side, timeout: float = T) -> bool:
    """`await side.acquire()` with a deadline, in the calling task (which then owns the
    lock). Not `asyncio.wait_for`: before Python 3.12 it runs the acquire in a task of
    its own, and ownership is per task."""
    async with asyncio.timeout(timeout):
        return await side.acquire()


def in_other_thread(fn, *args):
    """Runs `fn(*args)` on a fresh thread (another owner) and returns its result."""
    t = run_in_thread(fn, *args)
    join_all([t], T)
    return t.result


def try_side(side) -> bool:
    """Non-blocking acquire from another thread, released at once if it succeeded."""

    def attempt():
        if side.acquire(blocking=False):
            side.release()
            return True
        return False

    return in_other_thread(attempt)
