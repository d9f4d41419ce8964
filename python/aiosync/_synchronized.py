"""`synchronized`: "one caller at a time in here", for sync and async code alike.

The locks are aiosync's, so a synchronized object can be used from several threads and
several event loops at once. Rules follow wrapt's `synchronized` (per-function,
per-instance, per-class locks, created lazily and at most once), plus: objects with
`__slots__` work, `reentrant=True` gives a per-task reentrant async lock, a task that
re-enters its own non-reentrant async lock gets `RuntimeError` at once instead of a
hang, `shared=True` makes sync and async methods exclude each other, and `timeout=`
raises `TimeoutError`.

A decorated function or method is a native `_aiosync._Synchronized` (bound to an
instance, a `_aiosync._SynchronizedMethod`): under a plain `@synchronized` (sync, or
`async def`) it takes the same boxes' locks without a Python frame and leaves whatever is
out of the ordinary to the Python wrappers below; with options, it calls them. Either is
also its own context manager, as wrapt's: `with func:`, `with obj.method:`,
`async with obj.amethod:` take the locks that `with synchronized(...)` would (`_Context`).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import sys
import types
from typing import Any, Callable, TypeVar, overload

from . import _aiosync
from ._aiosync import Lock, RLock

_ATTR = "__aiosync_synchronized__"

# The locks of one owner (function, instance or class), made on first use: `sync` (an
# RLock) and one task-owned async lock whose re-entry rule (refused, or allowed for
# `reentrant=True`) is the core's. Where an owner keeps its box (its `__dict__`, its
# class namespace, or a table by id for `__slots__` and builtins) is the extension's.
_Box = _aiosync._ObjectLocks


def _box_of(owner: Any) -> tuple[_Box, bool]:
    """The owner's box, and whether it is use-counted (must be `_leave`-d)."""
    return _aiosync._box_of(owner, _ATTR, _Box)


_leave = _aiosync._leave_box


class _Options:
    __slots__ = ("reentrant", "shared", "timeout", "lock")

    def __init__(
        self, reentrant: bool, shared: bool, timeout: float | None, lock: Any = None
    ) -> None:
        self.reentrant = reentrant
        self.shared = shared
        self.timeout = timeout
        self.lock = lock


def _timeout_error(timeout: float) -> TimeoutError:
    return TimeoutError(f"could not acquire the synchronized lock within {timeout} s")


def _acquire_sync(lock: Any, timeout: float | None) -> None:
    if timeout is None:
        lock.acquire(True)
    elif not lock.acquire(True, timeout):
        raise _timeout_error(timeout)


def _is_async_lock(lock: Any) -> bool:
    """Whether `lock.acquire()` gives an awaitable in a running loop."""
    return isinstance(lock, (Lock, RLock, _aiosync.Semaphore)) or inspect.iscoroutinefunction(
        getattr(lock, "acquire", None)
    )


async def _acquire_async(lock: Any, timeout: float | None) -> None:
    if not _is_async_lock(lock):
        # A threading lock given to `synchronized(lock)`: it can only block.
        _acquire_sync(lock, timeout)
        return
    if timeout is None:
        await lock.acquire()
        return
    try:
        await asyncio.wait_for(lock.acquire(), timeout)
    except asyncio.TimeoutError:
        raise _timeout_error(timeout) from None


class _Held:
    """What one async entry holds, to release it afterwards."""

    __slots__ = ("lock", "box")

    def __init__(self, lock: Any, box: _Box | None) -> None:
        self.lock = lock
        self.box = box

    def release(self) -> None:
        if self.box is not None:
            self.box.leave()
        else:
            self.lock.release()


async def _enter_async(box: _Box, opts: _Options) -> _Held:
    if opts.lock is not None:
        await _acquire_async(opts.lock, opts.timeout)
        return _Held(opts.lock, None)
    if opts.shared:
        lock = box.sync
        await _acquire_async(lock, opts.timeout)
        return _Held(lock, None)
    # One async lock per owner, shared by plain and reentrant entries.
    if opts.timeout is None:
        await box.enter(opts.reentrant)
    else:
        try:
            await asyncio.wait_for(box.enter(opts.reentrant), opts.timeout)
        except asyncio.TimeoutError:
            raise _timeout_error(opts.timeout) from None
    return _Held(box, box)


async def _call_holding(
    box: _Box, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Runs `func` holding the box's async lock (no options: not reentrant)."""
    await box.enter()
    try:
        return await func(*args, **kwargs)
    finally:
        box.leave()


def _sync_lock(box: _Box, opts: _Options) -> Any:
    return opts.lock if opts.lock is not None else box.sync


def _native(
    func: Callable[..., Any],
    fallback: Callable[..., Any],
    context: Callable[[Any], Any],
    *,
    box: _Box | None = None,
    kind: str = "sync",
    direct: bool = False,
) -> Callable[..., Any]:
    """The native form of a wrapper. `direct` (a plain wrapper): calls take the same locks
    without a Python frame, looking up the instance's box themselves and leaving every
    other case (no box yet, no `__dict__`, a class) to `fallback`, the Python wrapper; else
    every call goes to `fallback`. `context(owner)` gives the context manager of `with` on
    it (`owner`: the instance it is bound to, or None). `kind`: "sync", "async" (a
    coroutine function) or "agen" (an async generator function), which `inspect` must
    see; where it cannot be made to (3.9), `fallback` itself is the wrapper."""
    if kind != "sync" and not _can_mark(func, kind):
        return fallback
    native = _aiosync._Synchronized(func, fallback, _ATTR, context, box, kind == "async", direct)
    functools.update_wrapper(native, func)
    if kind != "sync":
        _mark(native, func, kind)
    return native


def _can_mark(func: Any, kind: str) -> bool:
    """Whether `inspect.iscoroutinefunction` (or `isasyncgenfunction`) can be made true
    for a native wrapper: 3.12+ mark a coroutine function, 3.10+ take a function-like
    object with a `__code__`, 3.9 only real functions."""
    if kind == "async" and hasattr(inspect, "markcoroutinefunction"):
        return True
    code = getattr(func, "__code__", None)
    return sys.version_info >= (3, 10) and isinstance(code, types.CodeType)


def _mark(native: Any, func: Any, kind: str) -> None:
    """Makes `inspect.iscoroutinefunction(native)` (or `isasyncgenfunction`) true, as it is
    for `func`."""
    if kind == "async" and hasattr(inspect, "markcoroutinefunction"):  # Python 3.12+
        inspect.markcoroutinefunction(native)
    else:
        # Otherwise only a function-like object (one with a `__code__`) can say it.
        native.__code__ = func.__code__
        native.__defaults__ = getattr(func, "__defaults__", None)
        native.__kwdefaults__ = getattr(func, "__kwdefaults__", None)


def _wrap(func: Callable[..., Any], kind: str, opts: _Options) -> Callable[..., Any]:
    fn_box = _Box()
    per_object = kind != "function"
    classmethod_ = kind == "classmethod"
    fn_context = None if per_object else _Context(None, opts, fn_box)

    def context(owner: Any) -> _Context:
        """What `with` on the wrapper (bound to `owner`, or not) takes."""
        if fn_context is not None:
            return fn_context
        if owner is None:
            name = getattr(func, "__name__", "method")
            raise TypeError(
                f"a synchronized method locks its instance: use `with obj.{name}:` "
                f"(or `with synchronized(obj):`), not the function itself"
            )
        if classmethod_ and not isinstance(owner, type):
            owner = type(owner)
        return _Context(owner, opts)

    def native(fallback: Callable[..., Any], **how: Any) -> Callable[..., Any]:
        # A function's box, also when calls go to `fallback`: decorating it again sees
        # a per-function lock (`_decorate`).
        return _native(func, fallback, context, box=None if per_object else fn_box, **how)

    def box_for(args: tuple[Any, ...]) -> tuple[_Box, Any, bool]:
        if not per_object:
            return fn_box, None, False
        if not args:
            raise TypeError("a synchronized method needs its self (or cls) argument")
        owner = args[0]
        if classmethod_ and not isinstance(owner, type):
            owner = type(owner)
        box, counted = _box_of(owner)
        return box, owner, counted

    plain = opts.lock is None and not opts.shared and not opts.reentrant and opts.timeout is None

    if inspect.isasyncgenfunction(func):

        @functools.wraps(func)
        async def agen_wrapper(*args: Any, **kwargs: Any) -> Any:
            box, owner, counted = box_for(args)
            try:
                held = await _enter_async(box, opts)
                try:
                    async for item in func(*args, **kwargs):
                        yield item
                finally:
                    held.release()
            finally:
                if counted:
                    _leave(owner)

        return native(agen_wrapper, kind="agen")

    if inspect.iscoroutinefunction(func):
        if plain:
            if per_object and not classmethod_:

                @functools.wraps(func)
                async def async_method_wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
                    return await async_wrapper(self, *args, **kwargs)

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                box, owner, counted = box_for(args)
                try:
                    return await _call_holding(box, func, args, kwargs)
                finally:
                    if counted:
                        _leave(owner)

            if classmethod_:
                return native(async_wrapper, kind="async")
            if per_object:
                return native(async_method_wrapper, kind="async", direct=True)
            return native(async_wrapper, kind="async", direct=True)

        @functools.wraps(func)
        async def async_wrapper_opts(*args: Any, **kwargs: Any) -> Any:
            box, owner, counted = box_for(args)
            try:
                held = await _enter_async(box, opts)
                try:
                    return await func(*args, **kwargs)
                finally:
                    held.release()
            finally:
                if counted:
                    _leave(owner)

        return native(async_wrapper_opts, kind="async")

    if opts.lock is None and opts.timeout is None:
        if per_object and not classmethod_:

            @functools.wraps(func)
            def method_wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
                box, counted = _box_of(self)
                try:
                    with box.sync:
                        return func(self, *args, **kwargs)
                finally:
                    if counted:
                        _leave(self)

            return native(method_wrapper, direct=True)

        @functools.wraps(func)
        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            box, owner, counted = box_for(args)
            try:
                with box.sync:
                    return func(*args, **kwargs)
            finally:
                if counted:
                    _leave(owner)

        if per_object:  # a classmethod: the class's box, through the Python path
            return native(sync_wrapper)
        return native(sync_wrapper, direct=True)

    @functools.wraps(func)
    def sync_wrapper_opts(*args: Any, **kwargs: Any) -> Any:
        box, owner, counted = box_for(args)
        try:
            lock = _sync_lock(box, opts)
            _acquire_sync(lock, opts.timeout)
            try:
                return func(*args, **kwargs)
            finally:
                lock.release()
        finally:
            if counted:
                _leave(owner)

    return native(sync_wrapper_opts)


def _is_method(func: Callable[..., Any]) -> bool:
    """Defined in a class body (its qualified name says so) with a first parameter named
    `self` or `cls` (a function later made a staticmethod has neither)."""
    qualname = getattr(func, "__qualname__", "")
    parts = qualname.split(".")
    if len(parts) < 2 or parts[-2] == "<locals>":
        return False
    code = getattr(func, "__code__", None)
    if code is None or code.co_argcount == 0:
        return False
    return code.co_varnames[0] in ("self", "cls")


class _Context:
    """`with synchronized(obj):` / `async with synchronized(obj):`; with `box`, the locks
    of that box (a synchronized function's own, for `with func:`).

    One context may be entered by several threads and tasks at once: each entry pushes
    what it took and each exit pops one, and for one owner every entry takes the same."""

    __slots__ = ("_owner", "_opts", "_held", "_sync", "_counted", "_fixed")

    def __init__(self, owner: Any, opts: _Options, box: _Box | None = None) -> None:
        self._owner = owner
        self._opts = opts
        self._fixed = box
        self._held: list[Any] = []
        self._sync: list[Any] = []
        self._counted: list[bool] = []

    def _box(self) -> _Box:
        if self._opts.lock is not None:
            self._counted.append(False)
            return _Box()  # unused: the given lock is taken
        if self._fixed is not None:
            self._counted.append(False)
            return self._fixed
        box, counted = _box_of(self._owner)
        self._counted.append(counted)
        return box

    def _done(self) -> None:
        if self._counted.pop():
            _leave(self._owner)

    def __enter__(self) -> Any:
        box = self._box()
        lock = _sync_lock(box, self._opts)
        try:
            _acquire_sync(lock, self._opts.timeout)
        except BaseException:
            self._done()
            raise
        self._sync.append(lock)
        return lock

    def __exit__(self, *exc: Any) -> None:
        self._sync.pop().release()
        self._done()

    async def __aenter__(self) -> Any:
        """Takes the owner's async lock (or the given one) for the current task.

        Cancel safety: cancelled (or timed out) while waiting, it takes nothing."""
        box = self._box()
        try:
            held = await _enter_async(box, self._opts)
        except BaseException:
            self._done()
            raise
        self._held.append(held)
        return held.lock

    async def __aexit__(self, *exc: Any) -> None:
        """Releases what `__aenter__` took; never waits (nothing to cancel)."""
        self._held.pop().release()
        self._done()


class _ClassProxy:
    """A class decorated with `@synchronized`: creating instances takes the class lock,
    and `with synchronized(C)` takes it too. Everything else goes to the class."""

    def __init__(self, cls: type, opts: _Options) -> None:
        object.__setattr__(self, "_cls", cls)
        object.__setattr__(self, "_ctx", _Context(cls, opts))
        for name in ("__doc__", "__module__", "__name__", "__qualname__"):
            object.__setattr__(self, name, getattr(cls, name, None))
        object.__setattr__(self, "__wrapped__", cls)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self._ctx:
            return self._cls(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cls, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._cls, name, value)

    def __instancecheck__(self, obj: Any) -> bool:
        return isinstance(obj, self._cls)

    def __subclasscheck__(self, cls: type) -> bool:
        return issubclass(cls, self._cls)

    def __mro_entries__(self, bases: tuple[Any, ...]) -> tuple[type]:
        return (self._cls,)

    def __enter__(self) -> Any:
        return self._ctx.__enter__()

    def __exit__(self, *exc: Any) -> None:
        self._ctx.__exit__(*exc)

    async def __aenter__(self) -> Any:
        """`async with synchronized(C):`. Cancel safety: as `_Context.__aenter__`."""
        return await self._ctx.__aenter__()

    async def __aexit__(self, *exc: Any) -> None:
        """Releases what `__aenter__` took; never waits."""
        await self._ctx.__aexit__(*exc)

    def __repr__(self) -> str:
        return f"<synchronized {self._cls!r}>"


F = TypeVar("F", bound=Callable[..., Any])


@overload
def synchronized(wrapped: F, /) -> F: ...


@overload
def synchronized(
    wrapped: None = None,
    /,
    *,
    reentrant: bool = False,
    shared: bool = False,
    timeout: float | None = None,
) -> Callable[[F], F]: ...


@overload
def synchronized(
    wrapped: Any,
    /,
    *,
    reentrant: bool = False,
    shared: bool = False,
    timeout: float | None = None,
) -> Any: ...


def synchronized(
    wrapped: Any = None,
    /,
    *,
    reentrant: bool = False,
    shared: bool = False,
    timeout: float | None = None,
) -> Any:
    """Serialises callers: a decorator for functions, methods and classes, and a context
    manager for any object.

    - `@synchronized` on a function: one lock per function; on a method: one lock per
      instance; over `@classmethod` or on a class: one lock per class; on a
      `@staticmethod`: one lock per function. Locks are created lazily, once.
    - A sync callable holds a reentrant lock (per thread) for the call. An `async def`
      (or async generator) holds an aiosync lock inside the coroutine, across its
      awaits, usable from any event loop and thread.
    - `with synchronized(obj):` and `async with synchronized(obj):` take the same locks
      the decorated methods of `obj` take. `synchronized(lock)` for an object with
      `acquire`/`release` uses that lock.
    - A decorated callable is its own context manager, as wrapt's: `with func:` takes the
      lock calls of `func` take, `with obj.method:` the one of `obj` (as
      `with synchronized(obj):`), and `async with func:` / `async with obj.amethod:` the
      async lock of the same owner (cancelled while waiting for it, they take nothing).
    - `reentrant=True`: the async lock is reentrant per task. `shared=True`: sync and
      async code of one object exclude each other through one lock. `timeout=`: raise
      `TimeoutError` if the lock cannot be had in time.
    """
    opts = _Options(reentrant, shared, timeout)
    if wrapped is None:
        return functools.partial(_decorate, opts=opts)
    return _decorate(wrapped, opts=opts)


def _decorate(wrapped: Any, opts: _Options) -> Any:
    if isinstance(wrapped, _ClassProxy):
        return _Context(wrapped._cls, opts)
    if isinstance(wrapped, staticmethod):
        return staticmethod(_wrap(wrapped.__func__, "function", opts))
    if isinstance(wrapped, classmethod):
        return classmethod(_wrap(wrapped.__func__, "classmethod", opts))
    if isinstance(wrapped, type):
        return _ClassProxy(wrapped, opts)
    if isinstance(wrapped, _aiosync._Synchronized):
        # Decorated twice: the same kind of lock as the inner one.
        return _wrap(wrapped, "function" if wrapped._locks is not None else "method", opts)
    if inspect.isfunction(wrapped) or inspect.ismethod(wrapped):
        kind = "method" if inspect.isfunction(wrapped) and _is_method(wrapped) else "function"
        return _wrap(wrapped, kind, opts)
    if hasattr(wrapped, "acquire") and hasattr(wrapped, "release") and not callable(wrapped):
        return _LockContext(wrapped, opts)
    if callable(wrapped) and not hasattr(wrapped, "__dict__"):
        return _wrap(wrapped, "function", opts)
    return _Context(wrapped, opts)


class _LockContext(_Context):
    """`synchronized(lock)`: a context manager and decorator that use `lock` itself."""

    __slots__ = ()

    def __init__(self, lock: Any, opts: _Options) -> None:
        super().__init__(lock, _Options(opts.reentrant, opts.shared, opts.timeout, lock))

    def __call__(self, func: Callable[..., Any]) -> Callable[..., Any]:
        return _wrap(func, "function", self._opts)
