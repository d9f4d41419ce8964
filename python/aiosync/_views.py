"""janus-style views of one Queue: `q.sync_q` (blocking) and `q.async_q` (asyncio).

Each view only forwards to the queue's explicit forms (`put_blocking`, `put_async`, ...);
the queue's state and every rule stay the core's.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

_T = TypeVar("_T")


class SyncQueueView(Generic[_T]):
    """The `queue.Queue` interface of an aiosync queue (blocking calls)."""

    def __init__(self, q: Any) -> None:
        self._q = q

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        self._q.put_blocking(item, block, timeout)

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        return self._q.get_blocking(block, timeout)

    def put_nowait(self, item: Any) -> None:
        self._q.put_nowait(item)

    def get_nowait(self) -> Any:
        return self._q.get_nowait()

    def task_done(self) -> None:
        self._q.task_done()

    def join(self) -> None:
        self._q.join_blocking()

    def qsize(self) -> int:
        return self._q.qsize()

    def empty(self) -> bool:
        return self._q.empty()

    def full(self) -> bool:
        return self._q.full()

    def shutdown(self, immediate: bool = False) -> None:
        self._q.shutdown(immediate)

    @property
    def maxsize(self) -> Any:
        return self._q.maxsize

    @maxsize.setter
    def maxsize(self, value: Any) -> None:
        self._q.maxsize = value

    @property
    def unfinished_tasks(self) -> int:
        return self._q.unfinished_tasks

    @property
    def closed(self) -> bool:
        return self._q.closed


class AsyncQueueView(Generic[_T]):
    """The `asyncio.Queue` interface of an aiosync queue (awaitable calls)."""

    def __init__(self, q: Any) -> None:
        self._q = q

    def put(self, item: Any) -> Any:
        """`await q.async_q.put(item)`. Cancel safety: a cancelled put inserts nothing."""
        return self._q.put_async(item)

    def get(self) -> Any:
        """`await q.async_q.get()`. Cancel safety: a cancelled get takes no item (one
        handed to it goes to the next getter)."""
        return self._q.get_async()

    def put_nowait(self, item: Any) -> None:
        self._q.put_nowait(item)

    def get_nowait(self) -> Any:
        return self._q.get_nowait()

    def task_done(self) -> None:
        self._q.task_done()

    def join(self) -> Any:
        """`await q.async_q.join()`. Cancel safety: cancelling it changes nothing."""
        return self._q.join_async()

    def qsize(self) -> int:
        return self._q.qsize()

    def empty(self) -> bool:
        return self._q.empty()

    def full(self) -> bool:
        return self._q.full()

    def shutdown(self, immediate: bool = False) -> None:
        self._q.shutdown(immediate)

    @property
    def maxsize(self) -> Any:
        return self._q.maxsize

    @maxsize.setter
    def maxsize(self, value: Any) -> None:
        self._q.maxsize = value

    @property
    def unfinished_tasks(self) -> int:
        return self._q.unfinished_tasks

    @property
    def closed(self) -> bool:
        return self._q.closed
