"""Lock, RLock, Semaphore, BoundedSemaphore, RWLock and Event across processes and
machines, on one Redis server.

One `Client` per process serves every thread and every event loop at once::

    client = aiosync.redis.Client("redis://127.0.0.1/", namespace="app", lease=10)
    lock = client.Lock("orders")
    with lock as hold:          # or: async with lock as hold
        store.write(data, fence=hold.token)

Waiters are served in FIFO order across every client; a release hands the place to the
next in line and wakes it by pub/sub. The client's heartbeat renews each hold's lease; a
holder that crashes loses it after at most one lease. `hold.check()` raises `LeaseLost`
once the lease is gone, and so does leaving the `with` block; an `async with` body is
cancelled when its lease is lost and the block ends in `LeaseLost`.
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any

from ._aiosync import redis as _redis

__all__ = [
    "BoundedSemaphore",
    "Client",
    "Event",
    "Hold",
    "LeaseLost",
    "Lock",
    "RLock",
    "RWLock",
    "Semaphore",
]

#: Raised by `Hold.check()`, `Hold.release()` and at the end of a `with` block once the
#: hold's lease was lost (the lock may belong to someone else by then).
LeaseLost: type[Exception] = _redis.LeaseLost

#: One acquisition: truthy, with `.token` (its fencing token), `.check()`, `.release()`.
Hold: Any = _redis.Hold

#: An event across processes: `set()`, `clear()`, `is_set()`, `wait(timeout=None)` (an
#: awaitable in a running loop without a timeout). A cancelled wait only stops waiting.
Event: Any = _redis._Event

_LOST = "aiosync.redis: the lease of this hold was lost"


def _cancel_on_loss(on_lost: Any) -> None:
    """Cancels the current task (with `_LOST`) if the hold whose `_on_lost` this is loses
    its lease while the task runs; nothing watches in Python until then."""
    task = asyncio.current_task()
    if task is None:
        return

    def cancel() -> None:
        if not task.done():
            task.cancel(_LOST)

    on_lost(cancel)


async def _release_after(release: Any, exc: BaseException | None) -> None:
    """Awaits `release()` (the binding's asyncio release) at the end of an `async with`."""
    try:
        await release()
    except LeaseLost:
        if isinstance(exc, asyncio.CancelledError) and exc.args == (_LOST,):
            # The cancellation was ours, to end the body: LeaseLost replaces it.
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
        raise


class Client:
    """A connection to one Redis server, shared by every thread and event loop.

    `lease` (seconds) is how long a hold survives without renewal; the client renews
    every hold each `lease / 3`. A server younger than the lease grants nothing (it may
    have restarted and lost the last grants): the first grant after it starts waits.
    """

    def __init__(self, url: str, *, namespace: str = "aiosync", lease: float = 10.0) -> None:
        self._client = _redis.Client(url, namespace=namespace, lease=lease)

    @property
    def lease(self) -> float:
        """The lease in seconds, as given."""
        return float(self._client.lease)

    # The class-like spellings below mirror `aiosync.Lock()` and friends.
    def Lock(self, name: str) -> Lock:  # noqa: N802
        """The lock named `name`: the same lock for every client of this namespace."""
        return Lock(self._client.Lock(name))

    def RLock(self, name: str) -> RLock:  # noqa: N802
        """The reentrant lock named `name` (across processes, the `Lock` of that name)."""
        return RLock(self._client.RLock(name))

    def Semaphore(self, name: str, value: int = 1) -> Semaphore:  # noqa: N802
        """The semaphore named `name` with `value` permits (give every client the same)."""
        return Semaphore(self._client.Semaphore(name, value))

    def BoundedSemaphore(self, name: str, value: int = 1) -> BoundedSemaphore:  # noqa: N802
        """As `Semaphore`; releasing more than was acquired raises `ValueError`."""
        return BoundedSemaphore(self._client.BoundedSemaphore(name, value))

    def RWLock(self, name: str) -> RWLock:  # noqa: N802
        """The readers-writer lock named `name`: `reader_lock` and `writer_lock`."""
        return RWLock(self._client.RWLock(name))

    def Event(self, name: str) -> Any:  # noqa: N802
        """The event named `name`."""
        return self._client.Event(name)

    def fenced_set(self, key: str, value: bytes | str, token: int) -> bool:
        """Writes `value` under `key` with the fencing `token` if `token` is at least the
        one stored with the current value; returns whether it was written.

        One Lua script, atomic on the server. A holder whose lease ended while it was
        paused, and whose lock went on to a newer holder that wrote, is refused::

            with client.Lock("report") as hold:
                if not client.fenced_set("report:latest", data, hold.token):
                    raise RuntimeError("a newer holder wrote first: this one is stale")

        Fence a key by one lock name only (tokens of different names are not ordered).
        The same check in SQL is one conditional update:
        ``UPDATE t SET v = ?, fence = ? WHERE id = ? AND fence <= ?``.
        It blocks for one round trip; from a loop that must not wait, use
        `asyncio.to_thread`.
        """
        return bool(self._client.fenced_set(key, value, token))

    def fenced_get(self, key: str) -> tuple[bytes, int] | None:
        """The value under `key` and the token it was written with, or None if unset."""
        got = self._client.fenced_get(key)
        return None if got is None else (bytes(got[0]), int(got[1]))

    def _suspend_heartbeat(self, suspended: bool) -> None:
        self._client._suspend_heartbeat(suspended)


class _Gate:
    """`with`, `async with`, `acquire()` and `release()` over one of the crate's gates.

    `acquire()` in a running event loop (no arguments) gives an awaitable; otherwise it
    blocks: `acquire(blocking=True, timeout=None)` gives a `Hold`, or False if it could
    not be had (`blocking=False`) or the timeout passed. The hold is kept for the calling
    task or thread; `release()` gives it back. A cancelled asyncio acquire leaves the
    queue and passes on a grant that reached it meanwhile.
    """

    def __init__(self, raw: Any) -> None:
        self._raw = raw

    @property
    def name(self) -> str:
        """The name given to the client (the same for every process)."""
        return str(self._raw.name)

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> Any:
        """A `Hold`, False, or in a running loop without arguments an awaitable of a hold::

            hold = lock.acquire(timeout=1)
            if hold:
                try:
                    store.write(row, fence=hold.token)
                finally:
                    lock.release()

        Cancel safety (asyncio): a cancelled acquire leaves the queue and passes on a
        grant that reached it meanwhile; nothing stays held.
        """
        return self._raw.acquire(blocking, timeout)

    def acquire_blocking(self, blocking: bool = True, timeout: float | None = None) -> Any:
        """The threading form of `acquire()`, whatever the context."""
        return self._raw.acquire_blocking(blocking, timeout)

    async def acquire_async(self) -> Any:
        """Waits for a hold on the running loop. Cancel safety: as `acquire()`."""
        return await self._raw.acquire_async()

    def release(self) -> None:
        """Gives back the calling task's (else thread's) hold. `LeaseLost` if its lease
        was lost meanwhile (the place is then left to its new owner); `RuntimeError` if
        the caller holds nothing (a Semaphore's instead adds a permit for good)."""
        self._raw.release()

    def locked(self) -> bool:
        """Whether no further hold can be had now (one round trip; a snapshot)."""
        return bool(self._raw.locked())

    def __enter__(self) -> Any:
        return self._raw.acquire_blocking()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._raw.release()

    async def __aenter__(self) -> Any:
        hold = await self._raw.acquire_async()
        _cancel_on_loss(hold._on_lost)
        return hold

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await _release_after(self._raw._release_async, exc)

    def __repr__(self) -> str:
        return repr(self._raw)


class Lock(_Gate):
    """A FIFO lock shared across processes (see `_Gate` for the forms)."""


class Semaphore(_Gate):
    """A FIFO semaphore shared across processes; each hold is one permit. `release()`
    without a hold of this object adds a permit for good, as `threading.Semaphore` does."""


class BoundedSemaphore(Semaphore):
    """As `Semaphore`, but `release()` without a hold raises `ValueError`."""


class RWLock:
    """A readers-writer lock shared across processes, FIFO (a waiting writer holds back
    the readers after it): `reader_lock` and `writer_lock` are locks of their own."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw
        self.reader_lock = _Gate(raw.reader_lock)
        self.writer_lock = _Gate(raw.writer_lock)

    @property
    def reader(self) -> _Gate:
        """`reader_lock`, by a shorter name."""
        return self.reader_lock

    @property
    def writer(self) -> _Gate:
        """`writer_lock`, by a shorter name."""
        return self.writer_lock


class RLock:
    """A reentrant lock across processes: its owner (the asyncio task, else the thread)
    may take it again; `release()` drops one level. `token` is the fencing token of the
    caller's hold. `acquire()` gives True (an awaitable of True in a running loop)."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw

    @property
    def name(self) -> str:
        """The name given to the client (the same for every process)."""
        return str(self._raw.name)

    @property
    def token(self) -> int | None:
        """The fencing token of the caller's hold, or None if it holds nothing."""
        return self._raw.token  # type: ignore[no-any-return]

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> Any:
        """True, False, or in a running loop without arguments an awaitable of True::

            with rlock:
                with rlock:  # the same owner: one level more
                    pass

        Cancel safety (asyncio): a cancelled acquire leaves the queue; a level already
        held is kept.
        """
        return self._raw.acquire(blocking, timeout)

    def acquire_blocking(self, blocking: bool = True, timeout: float | None = None) -> bool:
        """The threading form of `acquire()`, whatever the context."""
        return bool(self._raw.acquire_blocking(blocking, timeout))

    async def acquire_async(self) -> bool:
        """Waits for a level on the running loop. Cancel safety: a cancelled wait leaves
        the queue."""
        return bool(await self._raw.acquire_async())

    def release(self) -> None:
        """Drops one level of the caller's hold; the last gives the lock back (raising
        `LeaseLost` if its lease was lost). `RuntimeError` if the caller holds nothing."""
        self._raw.release()

    def check(self) -> None:
        """Raises `LeaseLost` once the current hold's lease is lost; `RuntimeError` if
        nobody in this process holds it."""
        self._raw.check()

    def _is_owned(self) -> bool:
        return bool(self._raw._is_owned())

    def __enter__(self) -> bool:
        return bool(self._raw.acquire_blocking())

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._raw.release()

    async def __aenter__(self) -> bool:
        outer = not self._raw._is_owned()
        await self._raw.acquire_async()
        if outer:
            _cancel_on_loss(self._raw._on_lost)
        return True

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await _release_after(self._raw._release_async, exc)

    def __repr__(self) -> str:
        return repr(self._raw)
