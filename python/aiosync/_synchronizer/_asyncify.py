"""`Synchronizer.asyncify`: the reverse direction, blocking code made awaitable.

A blocking function becomes a coroutine function, a generator function an async generator
function, a class one whose methods are coroutine functions (`__enter__`/`__exit__` give
`async with`, `__iter__`/`__next__` give `async for`). The blocking code runs on the
synchronizer's bounded pool of worker threads; the awaiting side waits on an
`aiosync.Event`, woken on its own loop, so any number of loops can await at once and none
is ever blocked.
"""

from __future__ import annotations

import functools
import inspect
import os
import threading
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from typing import Any, Callable

from .._aiosync import Event, Queue
from ._runtime import HIDE, ClosedError

_END = object()  # a generator's end, as a step's result


class _Job:
    """One call on a worker: its outcome, and whether its awaiter gave up first."""

    __slots__ = ("fn", "args", "kwargs", "done", "value", "error", "abandoned", "started")

    def __init__(self, fn: Callable[..., Any], args: Any, kwargs: Any) -> None:
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.done = Event()
        self.value: Any = None
        self.error: BaseException | None = None
        self.abandoned = False
        self.started = False

    def run(self) -> None:
        if self.abandoned:  # its awaiter was cancelled before a worker took it
            self.done.set()
            return
        self.started = True
        try:
            self.value = self.fn(*self.args, **self.kwargs)
        except BaseException as e:  # delivered to the awaiter, whatever it is
            self.error = e
        self.fn = self.args = self.kwargs = None  # type: ignore[assignment]
        self.done.set()

    async def result(self) -> Any:
        """The job's outcome. Cancel safe: cancelled before a worker took it, the job never
        runs; cancelled while it runs, the awaiter is released at once and the blocking
        code finishes on its worker (a thread cannot be interrupted)."""
        try:
            await self.done.wait_async()
        except BaseException:
            self.abandoned = True
            raise
        error = self.error
        if error is None:
            return self.value
        self.error = None
        try:
            with HIDE:
                raise error
        finally:
            del error


class WorkerPool:
    """Up to `size` worker threads, started as jobs arrive and none is idle, fed through
    one `aiosync.Queue`. Made anew in a forked child; `close()` stops the workers after
    the jobs already queued."""

    def __init__(self, size: int, name: str) -> None:
        if size < 1:
            raise ValueError("the asyncify pool needs at least one worker")
        self._size, self._name = size, name
        self._lock = threading.Lock()
        self._closed = False
        self._reset()
        _pools.add(self)

    def _after_fork(self) -> None:
        """In a forked child: the workers are gone, and the lock and the job queue may
        have been held by one of them; start afresh (closed stays closed)."""
        closed = self._closed
        self._lock = threading.Lock()
        self._reset()
        self._closed = closed

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._jobs: Any = Queue()  # of _Job, or None to stop a worker
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._closed = False

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> _Job:
        job = _Job(fn, args, kwargs)
        with self._lock:
            if self._closed:
                raise ClosedError("this Synchronizer is closed")
            # `_idle` counts the workers no queued job is meant for: each job takes one,
            # or a new worker while the pool is below its size (else it waits its turn).
            if self._idle > 0:
                self._idle -= 1
            elif len(self._threads) < self._size:
                t = threading.Thread(
                    target=self._work, name=f"{self._name}-{len(self._threads)}", daemon=True
                )
                self._threads.append(t)
                t.start()
            self._jobs.put_nowait(job)
        return job

    def _work(self) -> None:
        while True:
            job = self._jobs.get_blocking()
            if job is None:
                return
            job.run()
            with self._lock:
                self._idle += 1

    def close(self, timeout: float) -> None:
        with self._lock:
            if self._closed or self._pid != os.getpid():
                self._closed = True
                return
            self._closed = True
            threads = list(self._threads)
            for _ in threads:
                self._jobs.put_nowait(None)
        for t in threads:
            t.join(timeout)


_pools: weakref.WeakSet[WorkerPool] = weakref.WeakSet()


def _reinit_after_fork() -> None:
    for pool in list(_pools):
        pool._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_after_fork)


def _step(it: Iterator[Any]) -> Any:
    return next(it, _END)


def _close_after(step: _Job | None, it: Any) -> None:
    """Closes a generator on a worker, once the step that may still run it has ended."""
    if step is not None:
        step.done.wait_blocking()
    close = getattr(it, "close", None)
    if close is not None:
        close()


async def iterate(pool: WorkerPool, it: Iterator[Any]) -> AsyncGenerator[Any, None]:
    """`it`'s items, each `next()` on a worker; leaving early closes `it` there."""
    step: _Job | None = None
    try:
        while True:
            step = pool.submit(_step, it)
            value = await step.result()
            step = None
            if value is _END:
                return
            yield value
    finally:
        closer = pool.submit(_close_after, step, it)
        if step is None:  # nothing runs `it` now: wait for its cleanup
            await closer.result()


def asyncify_function(pool: WorkerPool, f: Callable[..., Any]) -> Callable[..., Any]:
    """`f` as a coroutine function (an async generator function if `f` is a generator
    function), run on the pool."""
    if inspect.isgeneratorfunction(f):

        async def agen(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            inner = iterate(pool, f(*args, **kwargs))
            try:
                async for v in inner:
                    yield v
            finally:  # closed now, not whenever the loop's finalizer gets to it
                await inner.aclose()

        out: Callable[..., Any] = agen
    else:

        async def call(*args: Any, **kwargs: Any) -> Any:
            res = await pool.submit(f, *args, **kwargs).result()
            if inspect.isgenerator(res):
                return iterate(pool, res)
            return res

        out = call
    functools.update_wrapper(out, f)
    del out.__wrapped__  # type: ignore[attr-defined]
    out._aiosync_original = f  # type: ignore[attr-defined]
    return out


_PROTOCOL = {"__enter__", "__exit__", "__iter__", "__next__"}


def asyncify_class(pool: WorkerPool, cls: type) -> type:
    """A class whose instances hold an instance of `cls` (made in the constructor, on the
    caller's thread) and offer its public methods as coroutine functions run on the pool:
    `async with` for `__enter__`/`__exit__`, `async for` for `__iter__`/`__next__`."""
    ns: dict[str, Any] = {"__doc__": cls.__doc__, "__module__": cls.__module__}

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        object.__setattr__(self, "_aiosync_impl", cls(*args, **kwargs))

    ns["__init__"] = __init__
    for name in dir(cls):
        if name.startswith("_") and name not in _PROTOCOL:
            continue
        raw = inspect.getattr_static(cls, name)
        if isinstance(raw, property):
            ns[name] = property(_reader(name))
        elif isinstance(raw, (staticmethod, classmethod)):
            ns[name] = staticmethod(asyncify_function(pool, getattr(cls, name)))
        elif inspect.isfunction(raw) and name not in _PROTOCOL:
            ns[name] = _method(pool, raw)
    if hasattr(cls, "__enter__") and hasattr(cls, "__exit__"):

        async def __aenter__(self: Any) -> Any:
            impl = self._aiosync_impl
            value = await pool.submit(type(impl).__enter__, impl).result()
            return self if value is impl else value

        async def __aexit__(self: Any, *exc: Any) -> Any:
            impl = self._aiosync_impl
            return await pool.submit(type(impl).__exit__, impl, *exc).result()

        ns["__aenter__"], ns["__aexit__"] = __aenter__, __aexit__
    if hasattr(cls, "__iter__"):

        def __aiter__(self: Any) -> AsyncIterator[Any]:
            return iterate(pool, iter(self._aiosync_impl))

        ns["__aiter__"] = __aiter__
    new = type(f"Async{cls.__name__}", (), ns)
    new.__qualname__ = f"Async{cls.__qualname__}"
    new._aiosync_original = cls  # type: ignore[attr-defined]
    return new


def _reader(name: str) -> Callable[[Any], Any]:
    """A property's getter: reads the implementation's (on the caller's thread)."""

    def get(self: Any) -> Any:
        return getattr(self._aiosync_impl, name)

    return get


def _method(pool: WorkerPool, f: Callable[..., Any]) -> Callable[..., Any]:
    inner = asyncify_function(pool, f)
    if inspect.isgeneratorfunction(f):

        def agen_method(self: Any, *args: Any, **kwargs: Any) -> Any:
            return inner(self._aiosync_impl, *args, **kwargs)

        out: Callable[..., Any] = agen_method
    else:

        async def method(self: Any, *args: Any, **kwargs: Any) -> Any:
            return await inner(self._aiosync_impl, *args, **kwargs)

        out = method
    functools.update_wrapper(out, f)
    del out.__wrapped__  # type: ignore[attr-defined]
    return out


__all__ = ["WorkerPool", "asyncify_class", "asyncify_function", "iterate"]
