"""Wrappers for callables: a blocking function with an `.aio` coroutine function beside
it, for coroutine functions, async generator functions and plain functions whose result
is an awaitable, an async iterator or an async context manager."""

from __future__ import annotations

import concurrent.futures
import functools
import inspect
import warnings
from collections.abc import AsyncGenerator, Iterator
from typing import TYPE_CHECKING, Any, Callable

from ._annotations import plain_io
from ._runtime import HIDE, ClosedError

if TYPE_CHECKING:
    from . import Synchronizer

NOWRAP = "_aiosync_nowrap"
NO_INPUT = "_aiosync_no_input_translation"
NO_OUTPUT = "_aiosync_no_output_translation"


# A generator's steps are started inside the loop (not just awaited there): its first
# step registers it with that loop, which finalizes it when the loop is closed.
async def _anext(agen: Any) -> Any:
    return await agen.__anext__()


async def _asend(agen: Any, value: Any) -> Any:
    return await agen.asend(value)


async def _athrow(agen: Any, exc: BaseException) -> Any:
    return await agen.athrow(exc)


async def _aclose(agen: Any) -> Any:
    return await agen.aclose()


class Translation:
    """Whether a callable's arguments and results go through the translation: not when
    turned off (`no_input_translation`, ...), nor where the annotations say no wrapped
    object can be there. Decided on first use, when forward references resolve."""

    __slots__ = ("_f", "_skip_first", "_inp", "_out")

    def __init__(self, f: Any, skip_first: bool = False) -> None:
        self._f, self._skip_first = f, skip_first
        self._inp: bool | None = None
        self._out = True

    def _decide(self) -> bool:
        f = self._f
        plain_in, plain_out = plain_io(f, self._skip_first)
        self._out = getattr(f, NO_OUTPUT, True) and not plain_out
        self._inp = getattr(f, NO_INPUT, True) and not plain_in
        return self._inp

    @property
    def inp(self) -> bool:
        inp = self._inp
        return self._decide() if inp is None else inp

    @property
    def out(self) -> bool:
        if self._inp is None:
            self._decide()
        return self._out


def run_generator_blocking(s: Synchronizer, agen: Any, out: bool) -> Iterator[Any]:
    """A generator driving the async generator `agen` on the synchronizer's loop; leaving
    it early (break, close, garbage) closes `agen` there."""
    rt = s._runtime
    try:
        with HIDE:  # frames of this package leave the traceback of what escapes
            sent = None
            while True:
                try:
                    if sent is None:
                        value = rt.run_blocking(_anext(agen))
                    else:
                        value = rt.run_blocking(_asend(agen, s._translate_in(sent)))
                except StopAsyncIteration:
                    return
                while True:
                    try:
                        sent = yield s._translate_out(value) if out else value
                        break
                    except GeneratorExit:
                        raise
                    except BaseException as e:  # gen.throw(): into the async generator
                        try:
                            value = rt.run_blocking(_athrow(agen, e))
                        except StopAsyncIteration:
                            return
    finally:
        if not rt.closed and hasattr(agen, "aclose"):  # a bare async iterator has none
            rt.finalize_blocking(_aclose(agen), s._asyncgen_finalizer_timeout_seconds)


async def drive_async(
    s: Synchronizer, make: Callable[..., Any], tr: Any, *args: Any, **kwargs: Any
) -> AsyncGenerator[Any, None]:
    """An async generator driving the implementation's async generator `make(*args,
    **kwargs)` on the synchronizer's loop for another loop: items (translated out when
    `tr.out`), `asend` and `athrow` cross over; leaving it early closes the inner one
    there. `.aio` of a wrapped generator function is a `functools.partial` of this, so
    that it is an async generator function itself (no forwarding layer to lose `asend`)."""
    rt = s._runtime
    agen = make(*args, **kwargs)
    out = tr.out
    try:
        with HIDE:  # frames of this package leave the traceback of what escapes
            sent = None
            while True:
                try:
                    if sent is None:
                        value = await rt.run_async(_anext(agen))
                    else:
                        value = await rt.run_async(_asend(agen, s._translate_in(sent)))
                except StopAsyncIteration:
                    return
                while True:
                    try:
                        sent = yield s._translate_out(value) if out else value
                        break
                    except GeneratorExit:
                        raise
                    except BaseException as e:  # athrow(): into the inner generator
                        try:
                            value = await rt.run_async(_athrow(agen, e))
                        except StopAsyncIteration:
                            return
    finally:
        if not rt.closed and hasattr(agen, "aclose"):
            await rt.finalize_async(_aclose(agen), s._asyncgen_finalizer_timeout_seconds)


class _Always:
    """The translation of values that always go through it."""

    inp = out = True


class _Never:
    inp = out = False


ALWAYS = _Always()


def run_generator_async(s: Synchronizer, agen: Any, out: bool) -> AsyncGenerator[Any, None]:
    """`drive_async` over an async iterator that exists already (`__aiter__`)."""
    return drive_async(s, lambda: agen, ALWAYS if out else _Never)


def _is_async_cm(obj: Any) -> bool:
    # Looked up on the type, as `async with` does: an instance's own `__getattr__` (an
    # async one, say) must not make it look like a context manager.
    t = type(obj)
    return hasattr(t, "__aenter__") and hasattr(t, "__aexit__") and not hasattr(t, "__enter__")


class ContextManager:
    """An async context manager made usable with `with` (on the synchronizer's loop) and
    with `async with` from any loop."""

    __slots__ = ("_s", "_cm", "_out")

    def __init__(self, s: Synchronizer, cm: Any, out: bool) -> None:
        self._s, self._cm, self._out = s, cm, out

    def __enter__(self) -> Any:
        with HIDE:
            value = self._s._runtime.run_blocking(self._cm.__aenter__())
        return self._s._translate_out(value) if self._out else value

    def __exit__(self, *exc: Any) -> Any:
        with HIDE:
            return self._s._runtime.run_blocking(self._cm.__aexit__(*exc))

    async def __aenter__(self) -> Any:
        with HIDE:
            value = await self._s._runtime.run_async(self._cm.__aenter__())
        return self._s._translate_out(value) if self._out else value

    async def __aexit__(self, *exc: Any) -> Any:
        with HIDE:
            return await self._s._runtime.run_async(self._cm.__aexit__(*exc))


def convert_result(s: Synchronizer, res: Any, out: bool, future: bool) -> Any:
    """What a blocking call gives for the implementation's result `res`."""
    t = type(res)
    if inspect.isasyncgen(res) or (
        hasattr(t, "__anext__") and hasattr(t, "__aiter__") and not inspect.isawaitable(res)
    ):
        return run_generator_blocking(s, res, out)
    if inspect.isawaitable(res):
        post = s._translate_out if out else None
        if future:
            return submit_future(s, res, post)
        with HIDE:
            value = s._runtime.run_blocking(res, post)
        if s._async_leakage_warning and (inspect.iscoroutine(value) or inspect.isasyncgen(value)):
            warnings.warn(
                f"a blocking call returned {value!r}, which only the synchronizer's loop "
                "can run: wrap the function that makes it instead",
                stacklevel=3,
            )
        return value
    if _is_async_cm(res):
        return ContextManager(s, res, out)
    return s._translate_out(res) if out else res


def submit_future(
    s: Synchronizer, aw: Any, post: Callable[[Any], Any] | None
) -> concurrent.futures.Future[Any]:
    """`_future=True`: the call's outcome as a `concurrent.futures.Future`, resolved from
    the loop thread when the task ends (no thread per call)."""
    fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
    s._runtime.submit(aw, post, fut)
    return fut


def wrap_function(
    s: Synchronizer, f: Callable[..., Any], name: str | None, target_module: str | None
) -> Callable[..., Any]:
    """The blocking form of `f`, with `.aio` its async form on the synchronizer's loop."""
    tr = Translation(f)
    is_agen = inspect.isasyncgenfunction(f)

    def blocking(*args: Any, _future: bool = False, **kwargs: Any) -> Any:
        if s._runtime.closed:
            raise ClosedError("this Synchronizer is closed")
        if s._blocking_in_async_callback is not None:
            s._note_blocking(f)
        if tr.inp:
            args, kwargs = s._translate_in(args), s._translate_in(kwargs)
        with HIDE:
            return convert_result(s, f(*args, **kwargs), tr.out, _future)

    if is_agen:

        def make(*args: Any, **kwargs: Any) -> Any:
            if tr.inp:
                args, kwargs = s._translate_in(args), s._translate_in(kwargs)
            return f(*args, **kwargs)

        aio_gen = functools.partial(drive_async, s, make, tr)
        aio: Callable[..., Any] = aio_gen
    else:

        async def aio_call(*args: Any, **kwargs: Any) -> Any:
            if s._runtime.closed:
                raise ClosedError("this Synchronizer is closed")
            if tr.inp:
                args, kwargs = s._translate_in(args), s._translate_in(kwargs)
            with HIDE:
                res = f(*args, **kwargs)
                if inspect.isawaitable(res):
                    value = await s._runtime.run_async(res)
                    return s._translate_out(value) if tr.out else value
                if inspect.isasyncgen(res):
                    raise TypeError("use `async for` over the .aio form of a generator")
                if _is_async_cm(res):
                    return ContextManager(s, res, tr.out)
                return s._translate_out(res) if tr.out else res

        aio = aio_call
    base = name or getattr(f, "__name__", "f")
    pairs: list[tuple[Any, str]] = [(blocking, name or f"blocking_{base}"), (aio, f"aio_{base}")]
    for w, wname in pairs:
        functools.update_wrapper(w, f)
        w.__name__ = wname
        w.__qualname__ = wname if name else getattr(f, "__qualname__", wname)
        if target_module is not None:
            w.__module__ = target_module
        del w.__wrapped__
    blocking.aio = aio  # type: ignore[attr-defined]
    s._mark(blocking, f)
    s._mark(aio, f)
    return blocking
