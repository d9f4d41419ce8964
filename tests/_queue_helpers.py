"""Shared helpers for the queue tests: queue classes, orderings, settle, blocking checks."""

import asyncio

import aiosync

ALL = [aiosync.Queue, aiosync.LifoQueue, aiosync.PriorityQueue]
T = 5.0  # deadline for a single wait inside a test
QueueShutDown = aiosync.QueueShutDown


# Threads calling task_done while others put: a PriorityQueue compares with Python code
# under its lock, so every one of its operations releases the GIL first (or the two
# would deadlock); see test_priority_queue_put_vs_task_done_deadlock.
ALL_THREADED = [
    aiosync.Queue,
    aiosync.LifoQueue,
    aiosync.PriorityQueue,
]


async def settle(rounds: int = 5) -> None:
    """Lets every ready task of this loop run a few steps (deterministic: one loop)."""
    for _ in range(rounds):
        await asyncio.sleep(0)
