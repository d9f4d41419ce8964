"""RWLock with aiorwlock's surface; the lock itself is native (writer-preferring FIFO)."""

from __future__ import annotations

import threading
from typing import Any

from . import _aiosync
from ._aiosync import _RwCore, _RwGuard

_running_loop = _aiosync._running_loop
_current_task = _aiosync._current_task


class _Hold:
    __slots__ = ("reads", "writes", "guard", "thread")

    def __init__(self) -> None:
        self.reads = 0
        self.writes = 0
        self.guard: _RwGuard | None = None
        self.thread = threading.get_ident()


class _Side:
    """`rwlock.reader_lock` or `rwlock.writer_lock`."""

    def __init__(self, rw: RWLock, write: bool) -> None:
        self._rw = rw
        self._write = write

    def __repr__(self) -> str:
        kind = "Writer" if self._write else "Reader"
        return f"<aiosync.RWLock.{kind} [{'locked' if self.locked else 'unlocked'}]>"

    @property
    def locked(self) -> bool:
        """Writer side: a writer holds it. Reader side: readers hold it (aiorwlock's)."""
        core = self._rw._core
        if self._write:
            return core.write_locked
        return core.locked and not core.write_locked

    def acquire(self, blocking: bool | None = None, timeout: float | None = None) -> Any:
        """asyncio: `await lock.acquire()`. threading: `acquire(blocking=True, timeout=None)`."""
        if blocking is None and timeout is None and _running_loop() is not None:
            return self._rw._acquire_async(self._write)
        if timeout is not None:
            if blocking is False:
                raise ValueError("can't specify a timeout for a non-blocking call")
            if timeout < 0 and timeout != -1:
                raise ValueError("timeout value must be a non-negative number")
            if timeout == -1:
                timeout = None
        return self._rw._acquire_blocking(self._write, blocking is not False, timeout)

    def release(self) -> None:
        self._rw._release(self._write)

    async def __aenter__(self) -> None:
        await self._rw._acquire_async(self._write)

    async def __aexit__(self, *args: Any) -> None:
        self._rw._release(self._write)

    def __enter__(self) -> None:
        self._rw._acquire_blocking(self._write, True, None)

    def __exit__(self, *args: Any) -> None:
        self._rw._release(self._write)


class RWLock:
    """A read-write lock shared by threads and any number of event loops.

    Many readers or one writer; a waiting writer blocks new readers, and the readers
    queued meanwhile go in together after it (writer-preferring FIFO). Ownership is per
    asyncio task (per thread for threading calls), as in aiorwlock: a writer may take the
    read lock too, and a reader asking for the write lock gets `RuntimeError` (an upgrade
    would deadlock).
    """

    def __init__(self, *, fast: bool = False) -> None:
        self._core = _RwCore()
        self._holds: dict[Any, _Hold] = {}
        self._reader = _Side(self, False)
        self._writer = _Side(self, True)

    @property
    def reader_lock(self) -> _Side:
        return self._reader

    @property
    def writer_lock(self) -> _Side:
        return self._writer

    reader = reader_lock
    writer = writer_lock

    def __repr__(self) -> str:
        return f"<aiosync.RWLock [{self._reader!r}, {self._writer!r}]>"

    @staticmethod
    def _owner() -> Any:
        task = _current_task()
        return task if task is not None else threading.get_ident()

    def _reenter(self, owner: Any, write: bool) -> bool:
        """Counts a nested acquire the owner's current hold already covers."""
        hold = self._holds.get(owner)
        if hold is None:
            return False
        if write:
            if hold.writes:
                hold.writes += 1
                return True
            raise RuntimeError("Cannot upgrade RWLock from read to write")
        hold.reads += 1  # a reader again, or a writer also reading
        return True

    def _record(self, owner: Any, write: bool, guard: _RwGuard) -> None:
        hold = self._holds.setdefault(owner, _Hold())
        hold.guard = guard
        if write:
            hold.writes += 1
        else:
            hold.reads += 1

    async def _acquire_async(self, write: bool) -> bool:
        owner = self._owner()
        if self._reenter(owner, write):
            return True
        core = self._core
        guard = core.try_write() if write else core.try_read()
        if guard is None:
            guard = await (core.write_async() if write else core.read_async())
        self._record(owner, write, guard)
        return True

    def _acquire_blocking(self, write: bool, blocking: bool, timeout: float | None) -> bool:
        owner = self._owner()
        if self._reenter(owner, write):
            return True
        core = self._core
        guard = core.try_write() if write else core.try_read()
        if guard is None and blocking:
            if _running_loop() is not None:
                me = threading.get_ident()
                holds = list(self._holds.items())  # others change it meanwhile
                if any(h.thread == me and not isinstance(o, int) for o, h in holds):
                    raise RuntimeError(
                        "a blocking RWLock acquire on the thread whose running event loop "
                        "holds it (through a task) would deadlock; use `await` instead"
                    )
            guard = core.write_blocking(timeout) if write else core.read_blocking(timeout)
        if guard is None:
            return False
        self._record(owner, write, guard)
        return True

    def _release(self, write: bool) -> None:
        owner = self._owner()
        hold = self._holds.get(owner)
        if hold is None or (hold.writes if write else hold.reads) == 0:
            raise RuntimeError("Cannot release an un-acquired lock")
        if write:
            hold.writes -= 1
        else:
            hold.reads -= 1
        if hold.writes == 0 and hold.reads == 0:
            del self._holds[owner]
            assert hold.guard is not None
            hold.guard.release()
        elif write and hold.writes == 0 and hold.guard is not None and hold.guard.write:
            # Still reading after the write lock went: keep a read lock, no writer between.
            hold.guard.downgrade()
