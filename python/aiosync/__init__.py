"""Synchronization primitives shared by threads and any number of asyncio event loops.

Every class works with asyncio's spelling (`async with lock`, `await q.get()`) and with
threading's (`with lock`, `q.get(timeout=1)`) on the same object at once. Where both
spellings share a method name, threading-style arguments, or no running event loop in
the calling thread, select the blocking form.
"""

from __future__ import annotations

from functools import cached_property
from typing import Generic, TypeVar

from . import _aiosync
from ._aiosync import (
    Barrier,
    BoundedSemaphore,
    Condition,
    Event,
    Lock,
    RLock,
    RWLock,
    Semaphore,
)
from ._errors import BrokenBarrierError, QueueEmpty, QueueFull, QueueShutDown
from ._synchronized import synchronized
from ._synchronizer import ClosedError as SynchronizerClosedError
from ._synchronizer import DeadlockError as SynchronizerDeadlockError
from ._synchronizer import Synchronizer, SynchronizerError, classproperty
from ._views import AsyncQueueView, SyncQueueView

_T = TypeVar("_T")


class _QueueViews(Generic[_T]):
    """`sync_q` / `async_q` views, as janus and culsans have them (one of each per queue)."""

    @cached_property
    def sync_q(self) -> SyncQueueView[_T]:
        return SyncQueueView(self)

    @cached_property
    def async_q(self) -> AsyncQueueView[_T]:
        return AsyncQueueView(self)


# `Queue[int]` at run time is the native class's `__class_getitem__` (a types.GenericAlias,
# as asyncio's and queue's): it comes before Generic's in the MRO.
class Queue(_aiosync.Queue[_T], _QueueViews[_T]):
    """A FIFO queue shared by threads and any number of event loops (asyncio.Queue and
    queue.Queue in one): `put`/`get` with backpressure, `task_done`/`join`, `shutdown`,
    a settable `maxsize`, and janus's `close()` / `aclose()` / `sync_q` / `async_q`."""


class LifoQueue(_aiosync.LifoQueue[_T], Queue[_T]):
    """A last-in first-out Queue."""


class PriorityQueue(_aiosync.PriorityQueue[_T], Queue[_T]):
    """A Queue that gives the smallest item (by `<`) first.

    Items are compared under the queue's internal lock. A put or get whose comparison
    raises (`TypeError` for items that cannot be ordered) raises that error and leaves
    the queue as it was. An item's `__lt__` must not call into its own queue: such a call
    (`qsize()`, `put_nowait()`, ...) raises `RuntimeError` instead of deadlocking."""


__all__ = [
    "AsyncQueueView",
    "Barrier",
    "BoundedSemaphore",
    "BrokenBarrierError",
    "Condition",
    "Event",
    "LifoQueue",
    "Lock",
    "PriorityQueue",
    "Queue",
    "QueueEmpty",
    "QueueFull",
    "QueueShutDown",
    "RLock",
    "RWLock",
    "Semaphore",
    "SyncQueueView",
    "Synchronizer",
    "SynchronizerClosedError",
    "SynchronizerDeadlockError",
    "SynchronizerError",
    "classproperty",
    "synchronized",
]
