"""Locks across processes and machines, on one Redis server.

One `Client` per process serves every thread and every event loop at once::

    client = aiosync.redis.Client("redis://127.0.0.1/", namespace="app", lease=10)
    lock = client.Lock("orders")
    with lock as hold:          # or: async with lock as hold
        store.write(data, fence=hold.token)

Waiters are served in FIFO order across every client; a release hands the lock to the
next in line and wakes it by pub/sub. The client's heartbeat renews each hold's lease; a
holder that crashes loses the lock after at most one lease. `hold.check()` raises
`LeaseLost` once the lease is gone, and so does leaving the `with` block.
"""

from __future__ import annotations

import contextvars
from types import TracebackType
from typing import Any

from ._aiosync import redis as _redis

__all__ = ["Client", "Hold", "LeaseLost", "Lock"]

#: Raised by `Hold.check()`, `Hold.release()` and at the end of a `with` block once the
#: hold's lease was lost (the lock may belong to someone else by then).
LeaseLost: type[Exception] = _redis.LeaseLost

#: One acquisition: truthy, with `.token` (its fencing token), `.check()`, `.release()`.
Hold: Any = _redis.Hold


class Client:
    """A connection to one Redis server, shared by every thread and event loop.

    `lease` (seconds) is how long a hold survives without renewal; the client renews
    every hold each `lease / 3`.
    """

    def __init__(self, url: str, *, namespace: str = "aiosync", lease: float = 10.0) -> None:
        self._client = _redis.Client(url, namespace=namespace, lease=lease)

    @property
    def lease(self) -> float:
        return float(self._client.lease)

    def Lock(self, name: str) -> Lock:  # noqa: N802 (the class-like spelling of the issue)
        """The lock named `name`: the same lock for every client of this namespace."""
        return Lock(self._client.Lock(name))

    def _suspend_heartbeat(self, suspended: bool) -> None:
        self._client._suspend_heartbeat(suspended)


class Lock:
    """A FIFO lock shared across processes; `with`, `async with` or `acquire()`.

    `acquire()` in a running event loop (no arguments) gives an awaitable; otherwise it
    blocks: `acquire(blocking=True, timeout=None)` gives a `Hold`, or False if it could
    not be had (`blocking=False`) or the timeout passed. A cancelled asyncio acquire
    leaves the queue.
    """

    def __init__(self, raw: Any) -> None:
        self._raw = raw
        # The holds taken by `with` / `async with`, per thread and per asyncio task.
        self._holds: contextvars.ContextVar[tuple[Any, ...]] = contextvars.ContextVar(
            f"aiosync.redis.Lock({raw.name!r})", default=()
        )

    @property
    def name(self) -> str:
        return str(self._raw.name)

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> Any:
        return self._raw.acquire(blocking, timeout)

    def acquire_blocking(self, blocking: bool = True, timeout: float | None = None) -> Any:
        return self._raw.acquire_blocking(blocking, timeout)

    async def acquire_async(self) -> Any:
        return await self._raw.acquire_async()

    def __enter__(self) -> Any:
        hold = self._raw.acquire_blocking()
        self._holds.set((*self._holds.get(), hold))
        return hold

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._pop().release()

    async def __aenter__(self) -> Any:
        hold = await self._raw.acquire_async()
        self._holds.set((*self._holds.get(), hold))
        return hold

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._pop().release()

    def _pop(self) -> Any:
        holds = self._holds.get()
        if not holds:
            raise RuntimeError("this Lock was not entered in this thread or task")
        self._holds.set(holds[:-1])
        return holds[-1]

    def __repr__(self) -> str:
        return f"<aiosync.redis.Lock {self.name!r}>"
