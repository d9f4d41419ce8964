"""`aiosync.Synchronizer`: write a library once, async, and offer it blocking too.

A synchronizer runs its own event loop on its own thread. `wrap` (or `create_blocking`)
turns coroutine functions, async generator functions, classes and async context managers
into blocking ones, each with an `.aio` form that runs on the synchronizer's loop for
callers on any other loop. The spelling is synchronicity's, so code written for it runs
with `from aiosync import Synchronizer`.
"""

from __future__ import annotations

import inspect
import os
import threading
import warnings
import weakref
from asyncio import events as asyncio_events
from typing import Any, Callable, TypeVar

from ._asyncify import WorkerPool, asyncify_class, asyncify_function
from ._classes import IMPL, classproperty, impl_of, wrap_class
from ._functions import NO_INPUT, NO_OUTPUT, NOWRAP, wrap_function
from ._runtime import ClosedError, DeadlockError, Runtime, SynchronizerError

F = TypeVar("F")

_ORIGINAL = "_aiosync_original"
_OWNER = "_aiosync_synchronizer"
_SCALARS = frozenset({int, float, str, bytes, bool, type(None), complex})
_counter = iter(range(1, 1 << 62))
_counter_lock = threading.Lock()


class Synchronizer:
    """An event loop on its own thread, and the wrappers that run code on it.

    ```python
    import asyncio
    from aiosync import Synchronizer

    s = Synchronizer()

    @s.wrap
    async def square(x: int) -> int:
        await asyncio.sleep(0)
        return x * x

    assert square(7) == 49                 # blocks
    assert asyncio.run(square.aio(7)) == 49  # awaited from another loop
    s.close()
    ```

    The loop thread starts on first use without blocking the caller (a running loop is
    never made to wait for it). `close()` (or leaving `with Synchronizer() as s:`)
    cancels its tasks, finalizes suspended async generators and joins the thread.
    """

    def __init__(
        self,
        multiwrap_warning: bool = False,
        async_leakage_warning: bool = True,
        blocking_in_async_callback: Callable[[Any], None] | None = None,
        *,
        asyncify_workers: int | None = None,
    ):
        with _counter_lock:
            self._id = next(_counter)
        workers = asyncify_workers or min(32, (os.cpu_count() or 1) + 4)
        self._pool = WorkerPool(workers, f"aiosync-asyncify-{self._id}")
        self._attr = f"_aiosync_wrapper_{self._id}"
        self._runtime = Runtime(f"aiosync-synchronizer-{self._id}")
        self._instances: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
        self._multiwrap_warning = multiwrap_warning
        # Called with the implementation function when its blocking form is called from
        # a thread running an event loop (which the call then blocks).
        self._blocking_in_async_callback = blocking_in_async_callback
        # How long closing a suspended generator early waits for its `finally`; past
        # that it goes on in the background on the loop.
        self._asyncgen_finalizer_timeout_seconds = 10.0
        self._async_leakage_warning = async_leakage_warning

    # -- lifecycle --------------------------------------------------------------------

    def close(self) -> None:
        """Cancels the tasks, finalizes suspended async generators on the loop, stops it
        and joins its thread (bounded). Idempotent; a call afterwards raises. The
        `asyncify` workers stop after the jobs already queued; an asyncified call made
        afterwards raises too."""
        self._runtime.close()
        self._pool.close(timeout=10.0)

    def _close_loop(self) -> None:
        self.close()

    def __enter__(self) -> Synchronizer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def _thread(self) -> threading.Thread | None:
        """The loop's thread while it runs (None before the first call and in a forked
        child until its first call), under synchronicity's private name."""
        return self._runtime._thread

    def _get_loop(self, start: bool = False) -> Any:
        return self._runtime.loop() if start else self._runtime._loop

    # -- wrapping ---------------------------------------------------------------------

    def wrap(self, obj: F, name: str | None = None, target_module: str | None = None) -> F:
        """The blocking form of `obj` (a coroutine or async generator function, a function
        returning an awaitable, a class); made once: wrapping again gives the same."""
        return self._wrap(obj, name, target_module)  # type: ignore[no-any-return]

    def create_blocking(
        self, obj: F, name: str | None = None, target_module: str | None = None
    ) -> F:
        """Another name for `wrap`."""
        return self.wrap(obj, name, target_module)

    def _wrap(self, obj: Any, name: str | None, target_module: str | None) -> Any:
        done = _own_dict(obj).get(self._attr) if _has_dict(obj) else None
        if done is None and getattr(obj, _OWNER, None) is self:
            done = obj  # one of this synchronizer's own wrappers
        if done is not None:
            if self._multiwrap_warning:
                warnings.warn(
                    f"{obj!r} is wrapped already; wrapping it again gives the same",
                    stacklevel=3,
                )
            return done
        new: Any
        if inspect.isclass(obj):
            new = wrap_class(self, obj, name, target_module)
        elif callable(obj):
            new = wrap_function(self, obj, name, target_module)
        else:
            raise TypeError(f"cannot wrap {obj!r}: not a class or a callable")
        self._mark(new, obj)
        try:
            setattr(obj, self._attr, new)
        except (AttributeError, TypeError):
            pass
        return new

    def _mark(self, wrapper: Any, original: Any) -> None:
        setattr(wrapper, _ORIGINAL, original)
        setattr(wrapper, _OWNER, self)

    def asyncify(self, obj: F) -> F:
        """The reverse of `wrap`: blocking code made awaitable from any loop.

        A function becomes a coroutine function, a generator function an async generator
        function (leaving `async for` early closes the generator), a class one whose
        public methods are coroutine functions, with `async with` for `__enter__` /
        `__exit__` and `async for` for `__iter__`. The blocking code runs on this
        synchronizer's bounded pool of worker threads (`asyncify_workers`, by default
        `min(32, cpu_count + 4)`); the awaiting loop is never blocked.

        ```python
        import asyncio, time
        from aiosync import Synchronizer

        with Synchronizer() as s:
            @s.asyncify
            def slow_square(x: int) -> int:
                time.sleep(0.01)
                return x * x

            async def main() -> list[int]:
                return list(await asyncio.gather(*(slow_square(i) for i in range(4))))

            assert asyncio.run(main()) == [0, 1, 4, 9]
        ```

        Cancel safety: cancelling an awaiter whose call has not started yet means the
        call never runs; once it runs, the awaiter is released at once and the blocking
        code finishes on its worker (a thread cannot be interrupted).
        """
        return self._asyncify(obj)  # type: ignore[no-any-return]

    def _asyncify(self, obj: Any) -> Any:
        if self._runtime.closed:
            raise ClosedError("this Synchronizer is closed")
        if inspect.isclass(obj):
            return asyncify_class(self._pool, obj)
        if callable(obj):
            return asyncify_function(self._pool, obj)
        raise TypeError(f"cannot asyncify {obj!r}: not a class or a callable")

    def nowrap(self, obj: F) -> F:
        """Leaves a method of a wrapped class as it is (it runs with the wrapper as self)."""
        setattr(obj, NOWRAP, True)
        return obj

    def no_input_translation(self, obj: F) -> F:
        setattr(obj, NO_INPUT, False)
        return obj

    def no_output_translation(self, obj: F) -> F:
        setattr(obj, NO_OUTPUT, False)
        return obj

    def no_io_translation(self, obj: F) -> F:
        return self.no_input_translation(self.no_output_translation(obj))

    def is_synchronized(self, obj: Any) -> bool:
        """Whether `obj` (a class, a function, or an instance of a wrapped class) was made
        by this synchronizer."""
        target = obj if inspect.isclass(obj) or inspect.isfunction(obj) else type(obj)
        return getattr(target, _OWNER, None) is self

    def create_callback(self, f: Callable[..., Any]) -> Callable[..., Any]:
        """`f` (a blocking or an async function of the wrapped API's users), made callable
        with `await` from the implementation: it runs on a worker thread, with the
        arguments translated out and the result translated in."""
        return _Callback(self, f)

    def _note_blocking(self, f: Any) -> None:
        """`blocking_in_async_callback(f)` if this thread runs an event loop."""
        if asyncio_events._get_running_loop() is not None:
            assert self._blocking_in_async_callback is not None
            self._blocking_in_async_callback(f)

    # -- translation ------------------------------------------------------------------

    def _bind(self, wrapper: Any, impl: Any) -> None:
        object.__setattr__(wrapper, IMPL, impl)
        self._remember(impl, wrapper)

    def _remember(self, impl: Any, wrapper: Any) -> None:
        d = getattr(impl, "__dict__", None)
        if isinstance(d, dict):
            d[self._attr] = wrapper
        else:
            try:
                self._instances[impl] = wrapper
            except TypeError:
                pass

    def _wrapper_of(self, impl: Any) -> Any:
        d = getattr(impl, "__dict__", None)
        if isinstance(d, dict):
            return d.get(self._attr)
        try:
            return self._instances.get(impl)
        except TypeError:
            return None

    def _impl_class(self, wcls: type) -> type:
        for c in wcls.__mro__:
            if getattr(c, _OWNER, None) is self and _ORIGINAL in c.__dict__:
                return c.__dict__[_ORIGINAL]  # type: ignore[no-any-return]
        raise TypeError(f"{wcls!r} is not a class wrapped by this synchronizer")

    def _translate_in(self, obj: Any) -> Any:
        t = type(obj)
        if t in _SCALARS:
            return obj
        if t is list:
            return [self._translate_in(v) for v in obj]
        if t is tuple:
            return tuple(self._translate_in(v) for v in obj)
        if t is dict:
            return {k: self._translate_in(v) for k, v in obj.items()}
        if getattr(t, _OWNER, None) is self:
            try:
                return impl_of(obj)
            except AttributeError:
                return obj
        if isinstance(obj, type) and getattr(obj, _OWNER, None) is self:
            return obj.__dict__.get(_ORIGINAL, obj)
        return obj

    def _translate_out(self, obj: Any) -> Any:
        t = type(obj)
        if t in _SCALARS:
            return obj
        if t is list:
            return [self._translate_out(v) for v in obj]
        if t is tuple:
            return tuple(self._translate_out(v) for v in obj)
        if t is dict:
            return {k: self._translate_out(v) for k, v in obj.items()}
        wcls = t.__dict__.get(self._attr)
        if wcls is not None:
            w = self._wrapper_of(obj)
            if w is None:
                w = wcls.__new__(wcls)
                self._bind(w, obj)
            return w
        if isinstance(obj, type):
            return obj.__dict__.get(self._attr, obj)
        return obj


def _has_dict(obj: Any) -> bool:
    return isinstance(getattr(obj, "__dict__", None), (dict, type(type.__dict__)))


def _own_dict(obj: Any) -> Any:
    return obj.__dict__


class _Callback:
    """What `create_callback` gives: awaitable from the implementation's loop."""

    def __init__(self, s: Synchronizer, f: Callable[..., Any]) -> None:
        self._s, self._f = s, f

    def _invoke(self, args: Any, kwargs: Any) -> Any:
        import asyncio

        res = self._f(*args, **kwargs)
        if inspect.isawaitable(res):
            return asyncio.run(_as_coro(res))
        if inspect.isasyncgen(res) or inspect.isgenerator(res):
            raise TypeError("a callback cannot be a generator")
        return res

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        import asyncio

        args, kwargs = self._s._translate_out(args), self._s._translate_out(kwargs)
        res = await asyncio.get_running_loop().run_in_executor(None, self._invoke, args, kwargs)
        return self._s._translate_in(res)


async def _as_coro(aw: Any) -> Any:
    return await aw


__all__ = [
    "ClosedError",
    "DeadlockError",
    "Synchronizer",
    "SynchronizerError",
    "classproperty",
]
