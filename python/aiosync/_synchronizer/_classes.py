"""Wrapped classes: a new class whose instances hold an implementation instance, with
blocking methods (`.aio` beside each), properties, static and class methods, and the
async protocols (`__aenter__`, `__aiter__`, `__anext__`) offered in both forms."""

from __future__ import annotations

import functools
import inspect
import types
from typing import TYPE_CHECKING, Any, Callable, Generic

from ._functions import (
    NOWRAP,
    ContextManager,
    Translation,
    convert_result,
    drive_async,
    run_generator_async,
    run_generator_blocking,
    wrap_function,
)
from ._runtime import HIDE

if TYPE_CHECKING:
    from . import Synchronizer

IMPL = "_aiosync_impl"

# Attributes a wrapped class never copies or wraps.
_SKIP = frozenset(
    {
        "__dict__",
        "__weakref__",
        "__module__",
        "__qualname__",
        "__doc__",
        "__slots__",
        "__new__",
        "__init_subclass__",
        "__class_getitem__",
        "__getattr__",
        "__getattribute__",
        "__setattr__",
        "__delattr__",
        "__del__",
        "__orig_bases__",
        "__parameters__",
        "__annotations__",
        "__firstlineno__",
        "__static_attributes__",
        "__abstractmethods__",
        "_abc_impl",
        "__aenter__",
        "__aexit__",
        "__aiter__",
        "__anext__",
    }
)


class classproperty:
    """A read-only property of the class itself (`Cls.name`), over a classmethod:

    ```python
    from aiosync import classproperty

    class Config:
        @classproperty
        @classmethod
        def name(cls) -> str:
            return cls.__name__

    assert Config.name == "Config"
    ```

    In a wrapped class, one whose classmethod is `async def` is awaited on the
    synchronizer's loop, blocking.
    """

    def __init__(self, fget: Any) -> None:
        if not isinstance(fget, classmethod):
            raise TypeError("classproperty expects a classmethod (put @classmethod under it)")
        self.fget = fget
        self.__doc__ = getattr(fget.__func__, "__doc__", None)

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        return self.fget.__func__(owner if owner is not None else type(obj))


class _WrappedClassProperty:
    """A classproperty of a wrapped class: run on the implementation class, translated,
    and awaited on the synchronizer's loop if it is a coroutine."""

    def __init__(self, s: Synchronizer, prop: classproperty) -> None:
        self._s, self._f = s, prop.fget.__func__
        self.__doc__ = prop.__doc__

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        impl_cls = self._s._impl_class(owner if owner is not None else type(obj))
        with HIDE:
            return convert_result(self._s, self._f(impl_cls), True, False)


def impl_of(w: Any) -> Any:
    return object.__getattribute__(w, IMPL)


class Method:
    """A wrapped method: called, it blocks; `.aio` is its coroutine function."""

    def __init__(self, s: Synchronizer, f: Callable[..., Any], owner_name: str) -> None:
        self._s, self._f, self._tr = s, f, Translation(f, skip_first=True)
        self.__doc__ = f.__doc__
        self.__name__ = f.__name__
        self.__qualname__ = f"{owner_name}.{f.__name__}"
        self.aio = self._make_aio()
        self.call = self._make_blocking()

    def _make_blocking(self) -> Callable[..., Any]:
        s, f, tr = self._s, self._f, self._tr

        def call(w: Any, *args: Any, _future: bool = False, **kwargs: Any) -> Any:
            if s._blocking_in_async_callback is not None:
                s._note_blocking(f)
            if tr.inp:
                args, kwargs = s._translate_in(args), s._translate_in(kwargs)
            with HIDE:
                return convert_result(s, f(impl_of(w), *args, **kwargs), tr.out, _future)

        return call

    def _make_aio(self) -> Callable[..., Any]:
        s, f, tr = self._s, self._f, self._tr
        if inspect.isasyncgenfunction(f):

            def make(w: Any, *args: Any, **kwargs: Any) -> Any:
                if tr.inp:
                    args, kwargs = s._translate_in(args), s._translate_in(kwargs)
                return f(impl_of(w), *args, **kwargs)

            aio_gen = functools.partial(drive_async, s, make, tr)
            aio: Callable[..., Any] = aio_gen
        else:

            async def aio_call(w: Any, *args: Any, **kwargs: Any) -> Any:
                if tr.inp:
                    args, kwargs = s._translate_in(args), s._translate_in(kwargs)
                with HIDE:
                    res = f(impl_of(w), *args, **kwargs)
                    if inspect.isawaitable(res):
                        res = await s._runtime.run_async(res)
                    return s._translate_out(res) if tr.out else res

            aio = aio_call
        functools.update_wrapper(aio, f)
        del aio.__wrapped__  # type: ignore[attr-defined]
        return aio

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        if obj is None:
            return self
        return BoundMethod(self, obj)

    def __call__(self, w: Any, *args: Any, **kwargs: Any) -> Any:
        return self.call(w, *args, **kwargs)


class BoundMethod:
    """`obj.method`: calling it blocks, `obj.method.aio(...)` is a coroutine."""

    __slots__ = ("_m", "__self__")

    def __init__(self, m: Method, obj: Any) -> None:
        self._m, self.__self__ = m, obj

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._m.call(self.__self__, *args, **kwargs)

    @property
    def aio(self) -> Callable[..., Any]:
        return types.MethodType(self._m.aio, self.__self__)

    @property
    def __doc__(self) -> str | None:  # type: ignore[override]
        return self._m.__doc__

    @property
    def __name__(self) -> str:
        return self._m.__name__

    @property
    def __func__(self) -> Method:
        return self._m

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, BoundMethod)
            and other._m is self._m
            and other.__self__ is self.__self__
        )

    def __hash__(self) -> int:
        return hash((id(self._m), id(self.__self__)))

    def __repr__(self) -> str:
        return f"<bound wrapped method {self._m.__qualname__} of {self.__self__!r}>"


def _wrap_member(s: Synchronizer, cls: type, name: str, value: Any, new_name: str) -> Any:
    """What the wrapped class holds in place of `cls.__dict__[name]`."""
    if getattr(value, NOWRAP, False) or getattr(getattr(value, "__func__", None), NOWRAP, False):
        return value
    if isinstance(value, staticmethod):
        return staticmethod(wrap_function(s, value.__func__, value.__func__.__name__, None))
    if isinstance(value, classmethod):
        return _ClassMethod(s, value.__func__, new_name)
    if isinstance(value, property):
        return _wrap_property(s, value)
    if isinstance(value, classproperty):
        return _WrappedClassProperty(s, value)
    if inspect.iscoroutinefunction(value) or inspect.isasyncgenfunction(value):
        return Method(s, value, new_name)
    if inspect.isfunction(value):
        return _plain_method(s, value)
    if isinstance(value, type):
        return s._translate_out(value)
    return value


def _plain_method(s: Synchronizer, f: Callable[..., Any]) -> Callable[..., Any]:
    """A sync method: runs on the caller's thread, its arguments and result translated
    (and a returned awaitable, async iterator or context manager made blocking)."""
    tr = Translation(f, skip_first=True)

    def method(w: Any, *args: Any, **kwargs: Any) -> Any:
        if tr.inp:
            args, kwargs = s._translate_in(args), s._translate_in(kwargs)
        with HIDE:
            return convert_result(s, f(impl_of(w), *args, **kwargs), tr.out, False)

    functools.update_wrapper(method, f)
    del method.__wrapped__  # type: ignore[attr-defined]
    return method


class _ClassMethod:
    """A wrapped class method: bound to the implementation class of the class used."""

    def __init__(self, s: Synchronizer, f: Callable[..., Any], owner_name: str) -> None:
        self._s, self._f, self._owner = s, f, owner_name

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        wcls = owner if owner is not None else type(obj)
        impl_cls = self._s._impl_class(wcls)
        bound = types.MethodType(self._f, impl_cls)
        return wrap_function(self._s, bound, self._f.__name__, None)


def _wrap_property(s: Synchronizer, p: property) -> property:
    fget, fset, fdel = p.fget, p.fset, p.fdel

    def get(w: Any) -> Any:
        assert fget is not None
        return s._translate_out(fget(impl_of(w)))

    def set_(w: Any, value: Any) -> None:
        assert fset is not None
        fset(impl_of(w), s._translate_in(value))

    def del_(w: Any) -> None:
        assert fdel is not None
        fdel(impl_of(w))

    return property(
        get if fget else None, set_ if fset else None, del_ if fdel else None, p.__doc__
    )


def _protocols(s: Synchronizer, cls: type) -> dict[str, Any]:
    """`with` / `async with`, `for` / `async for` and `next` for the async protocols."""
    ns: dict[str, Any] = {}
    if hasattr(cls, "__aenter__") and hasattr(cls, "__aexit__"):

        def cm(w: Any) -> ContextManager:
            return ContextManager(s, _SelfCM(impl_of(w)), True)

        ns["__enter__"] = lambda w: cm(w).__enter__()
        ns["__exit__"] = lambda w, *exc: cm(w).__exit__(*exc)
        ns["__aenter__"] = lambda w: cm(w).__aenter__()
        ns["__aexit__"] = lambda w, *exc: cm(w).__aexit__(*exc)
    if hasattr(cls, "__aiter__"):
        ns["__iter__"] = lambda w: run_generator_blocking(s, impl_of(w).__aiter__(), True)
        ns["__aiter__"] = lambda w: run_generator_async(s, impl_of(w).__aiter__(), True)
    if hasattr(cls, "__anext__"):

        def next_(w: Any) -> Any:
            try:
                with HIDE:
                    return s._translate_out(s._runtime.run_blocking(impl_of(w).__anext__()))
            except StopAsyncIteration:
                raise StopIteration from None

        async def anext_(w: Any) -> Any:
            with HIDE:
                return s._translate_out(await s._runtime.run_async(impl_of(w).__anext__()))

        ns["__next__"] = next_
        ns["__anext__"] = anext_
    if inspect.iscoroutinefunction(getattr(cls, "aclose", None)):
        # An async iterator's `aclose()` stays awaitable; `close()` is its blocking form.
        def close(w: Any) -> Any:
            with HIDE:
                return s._runtime.run_blocking(impl_of(w).aclose())

        async def aclose(w: Any) -> Any:
            with HIDE:
                return await s._runtime.run_async(impl_of(w).aclose())

        ns["close"], ns["aclose"] = close, aclose
    return ns


class _SelfCM:
    """The implementation instance's own `__aenter__`/`__aexit__`, as a context manager."""

    __slots__ = ("_obj",)

    def __init__(self, obj: Any) -> None:
        self._obj = obj

    def __aenter__(self) -> Any:
        return self._obj.__aenter__()

    def __aexit__(self, *exc: Any) -> Any:
        return self._obj.__aexit__(*exc)


def wrap_class(s: Synchronizer, cls: type, name: str | None, target_module: str | None) -> type:
    new_name = name or f"Blocking{cls.__name__}"
    bases: list[Any] = []
    for base in getattr(cls, "__orig_bases__", cls.__bases__):
        origin = getattr(base, "__origin__", None)
        if base is object or base is Generic or origin is Generic:
            bases.append(base)  # Generic[T] kept: the wrapper is generic too
        elif isinstance(base, type) and base.__module__ != "builtins":
            bases.append(s._wrap(base, None, target_module))
        elif origin is not None and isinstance(origin, type):
            bases.append(s._wrap(origin, None, target_module)[base.__args__])  # type: ignore[union-attr]
        else:
            bases.append(base)
    ns: dict[str, Any] = {
        "__module__": target_module or cls.__module__,
        "__qualname__": new_name,
        "__doc__": cls.__doc__,
    }
    for k, v in cls.__dict__.items():
        # `_aiosync_*`: the marks synchronizers leave on what they wrapped (another
        # synchronizer's wrapper of `cls` must not look like this one's to it).
        if k in _SKIP or k == "__init__" or k.startswith("_aiosync_"):
            continue
        ns[k] = _wrap_member(s, cls, k, v, new_name)
    ns.update(_protocols(s, cls))
    impl_init = cls.__dict__.get("__init__", object.__init__)

    def __init__(w: Any, *args: Any, **kwargs: Any) -> None:
        args, kwargs = s._translate_in(args), s._translate_in(kwargs)
        impl = s._impl_class(type(w))(*args, **kwargs)
        s._bind(w, impl)

    functools.update_wrapper(__init__, impl_init)
    if hasattr(__init__, "__wrapped__"):
        del __init__.__wrapped__
    ns["__init__"] = __init__
    own_getattr = cls.__dict__.get("__getattr__")
    if own_getattr is not None:  # the implementation's own (maybe async) __getattr__
        ns["__getattr__"] = _wrap_member(s, cls, "__getattr__", own_getattr, new_name)
    else:  # attributes the implementation set on itself
        ns["__getattr__"] = lambda w, attr: s._translate_out(getattr(impl_of(w), attr))
    own_setattr = cls.__dict__.get("__setattr__")
    if own_setattr is not None:

        def __setattr__(w: Any, attr: str, value: Any) -> None:
            own_setattr(impl_of(w), attr, s._translate_in(value))

        ns["__setattr__"] = __setattr__
    new_cls = types.new_class(new_name, tuple(bases), exec_body=lambda d: d.update(ns))
    return new_cls
