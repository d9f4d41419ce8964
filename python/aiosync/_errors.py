"""Exceptions that are at once the asyncio and the threading/queue ones."""

from __future__ import annotations

import asyncio
import queue
import threading


def _bases(*candidates: type | None) -> tuple[type, ...]:
    found = tuple(c for c in candidates if c is not None)
    return found or (Exception,)


# The bases depend on the Python version (asyncio's exist from 3.11 / 3.13 on).
class BrokenBarrierError(
    *_bases(getattr(asyncio, "BrokenBarrierError", None), threading.BrokenBarrierError)  # type: ignore[misc]
):
    """A wait on a broken (aborted or reset) Barrier."""


class QueueEmpty(asyncio.QueueEmpty, queue.Empty):
    """`get_nowait()` (or a non-blocking / timed-out `get`) found the queue empty."""


class QueueFull(asyncio.QueueFull, queue.Full):
    """`put_nowait()` (or a non-blocking / timed-out `put`) found the queue full."""


class QueueShutDown(
    *_bases(getattr(asyncio, "QueueShutDown", None), getattr(queue, "ShutDown", None))  # type: ignore[misc]
):
    """A put on a shut-down queue, or a get on one that is shut down and empty."""
