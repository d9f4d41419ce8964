"""Condition: the waiter list is native; this module handles the lock around it."""

from __future__ import annotations

import asyncio
from typing import Any, Callable, TypeVar

from . import _aiosync
from ._aiosync import Lock, RLock, _ConditionCore

T = TypeVar("T")

_running_loop = _aiosync._running_loop


class Condition:
    """A condition variable usable from threads and any number of event loops.

    `Condition(lock=None)` makes its own `Lock`; pass an `aiosync.Lock` or `aiosync.RLock`
    to share one. asyncio spelling: `async with cond`, `await cond.wait()`,
    `await cond.wait_for(pred)`. threading spelling: `with cond`, `cond.wait(timeout)`,
    `cond.wait_for(pred, timeout)`. Notifications go to waiters oldest first; one given to
    a waiter that is then cancelled goes to the next waiter.
    """

    def __init__(self, lock: Lock | RLock | None = None) -> None:
        if lock is None:
            lock = Lock()
        self._lock = lock
        self._core = _ConditionCore()
        self.acquire = lock.acquire
        self.release = lock.release
        self.locked = lock.locked

    def __enter__(self) -> bool:
        return self._lock.__enter__()

    def __exit__(self, *args: Any) -> None:
        self._lock.__exit__(*args)

    def __aenter__(self) -> Any:
        return self._lock.__aenter__()

    def __aexit__(self, *args: Any) -> Any:
        return self._lock.__aexit__(*args)

    def __repr__(self) -> str:
        return f"<aiosync.Condition [{self._lock!r}, waiters={self._core.waiters}]>"

    def _is_owned(self) -> bool:
        lock = self._lock
        if isinstance(lock, RLock):
            return lock._is_owned()
        return lock.locked()

    def _release_save(self) -> int:
        lock = self._lock
        if isinstance(lock, RLock):
            return lock._release_save()
        lock.release()
        return 1

    # -- asyncio ---------------------------------------------------------------------

    async def _wait_async(self) -> bool:
        if not self._is_owned():
            raise RuntimeError("cannot wait on un-acquired lock")
        listener = self._core.listen()
        levels = self._release_save()
        notified = False
        try:
            await listener.wait()
            notified = True
            return True
        finally:
            # The lock is taken back even if the wait was cancelled, before the
            # cancellation propagates (asyncio.Condition's rule).
            cancelled = None
            taken = 0
            while taken < levels:
                try:
                    await self._lock.acquire()
                    taken += 1
                except asyncio.CancelledError as e:
                    cancelled = e
            if cancelled is not None:
                if notified:
                    # Notified, then cancelled: the notification goes to the next waiter.
                    self._core.notify(1)
                raise cancelled

    async def _wait_for_async(self, predicate: Callable[[], T]) -> T:
        result = predicate()
        while not result:
            await self._wait_async()
            result = predicate()
        return result

    # -- threading -------------------------------------------------------------------

    def _wait_blocking(self, timeout: float | None) -> bool:
        if not self._is_owned():
            raise RuntimeError("cannot wait on un-acquired lock")
        listener = self._core.listen()
        levels = self._release_save()
        try:
            return listener.wait_blocking(timeout)
        finally:
            for _ in range(levels):
                self._lock.acquire(True)

    def _wait_for_blocking(self, predicate: Callable[[], T], timeout: float | None) -> T:
        import time

        end = None if timeout is None else time.monotonic() + timeout
        result = predicate()
        while not result:
            if end is not None:
                left = end - time.monotonic()
                if left <= 0:
                    break
                self._wait_blocking(left)
            else:
                self._wait_blocking(None)
            result = predicate()
        return result

    # -- either, by context ----------------------------------------------------------

    def wait(self, timeout: float | None = None) -> Any:
        """asyncio: `await cond.wait()` (True). threading: `cond.wait(timeout)` -> bool."""
        if timeout is None and _running_loop() is not None:
            return self._wait_async()
        return self._wait_blocking(timeout)

    def wait_for(self, predicate: Callable[[], T], timeout: float | None = None) -> Any:
        """Waits until `predicate()` is true and returns its last value."""
        if timeout is None and _running_loop() is not None:
            return self._wait_for_async(predicate)
        return self._wait_for_blocking(predicate, timeout)

    def notify(self, n: int = 1) -> None:
        """Wakes up to `n` waiters, oldest first. The lock must be held."""
        if not self._is_owned():
            raise RuntimeError("cannot notify on un-acquired lock")
        self._core.notify(n)

    def notify_all(self) -> None:
        """Wakes every waiter. The lock must be held."""
        if not self._is_owned():
            raise RuntimeError("cannot notify on un-acquired lock")
        self._core.notify_all()

    notifyAll = notify_all  # noqa: N815 - threading's old spelling
