"""Annotations for `aiosync.type_stubs`: resolved (string ones too, where they can be),
rewritten for the blocking API (implementation classes become their wrappers, awaitables
their results, async iterators iterators) and written as stub source, with the imports
the stub needs. What cannot be resolved or named is written `typing.Any`."""

from __future__ import annotations

import asyncio
import builtins
import collections
import collections.abc as cabc
import concurrent.futures
import contextlib
import enum
import inspect
import os
import queue
import re
import sys
import types
import typing
import weakref
from pathlib import Path
from typing import Any, Callable, Generic, TypeVar, cast

import typing_extensions

EMPTY: Any = inspect.Parameter.empty
_T_co = TypeVar("_T_co", covariant=True)


class BlockingAsyncContextManager(Generic[_T_co]):
    """Stands, in rewritten annotations, for an async context manager made usable with
    `with` too (what a blocking call gives for one); the stub declares it when used."""


CM_HELPER = "_BlockingAsyncCM"
CM_HELPER_SOURCE = """\
_BlockingAsyncCM_T = typing.TypeVar("_BlockingAsyncCM_T", covariant=True)

class _BlockingAsyncCM(typing_extensions.Protocol[_BlockingAsyncCM_T]):
    def __enter__(self) -> _BlockingAsyncCM_T: ...
    def __exit__(self, *exc: object) -> bool | None: ...
    async def __aenter__(self) -> _BlockingAsyncCM_T: ...
    async def __aexit__(self, *exc: object) -> bool | None: ..."""

# Names of `typing` that older Pythons only have in `typing_extensions`.
_NEWER_TYPING = frozenset(
    "Self ParamSpec Concatenate TypeAlias TypeGuard TypeIs Never LiteralString Unpack"
    " TypeVarTuple Required NotRequired ReadOnly".split()
)
_SELF = tuple({id(x): x for x in (typing_extensions.Self, getattr(typing, "Self", None))}.values())
_TYPEVARS = (TypeVar, typing_extensions.ParamSpec, typing_extensions.TypeVarTuple)
_UNIONS = tuple(x for x in (typing.Union, getattr(types, "UnionType", None)) if x is not None)
_ASYNC_ITERS = (cabc.AsyncGenerator, cabc.AsyncIterator, cabc.AsyncIterable)

# How many type arguments a bare generic class takes (`dict` is `dict[Any, Any]`), and the
# variance of each (+1 covariant, -1 contravariant, 0 invariant) where its type variables
# do not say (any other generic is invariant in all).
# Subscripted at run time with computed arguments (a type checker sees no types here).
_GENERATOR: Any = typing.Generator
_ASYNC_GENERATOR: Any = typing.AsyncGenerator

_ONE_CO = (
    *(cabc.Iterable, cabc.Iterator, cabc.Awaitable, cabc.AsyncIterable, cabc.AsyncIterator),
    *(cabc.Reversible, cabc.Container, cabc.Collection, cabc.Sequence, cabc.Set),
    *(cabc.KeysView, cabc.ValuesView, frozenset, type, BlockingAsyncContextManager),
)
_ONE: tuple[Any, ...] = (
    list,
    set,
    collections.deque,
    collections.Counter,
    cabc.MutableSequence,
    cabc.MutableSet,
)
_ONE += (re.Pattern, re.Match, queue.Queue, asyncio.Queue, asyncio.Future, asyncio.Task)
_ONE += (concurrent.futures.Future, weakref.ref, os.PathLike)
_TWO = (dict, collections.defaultdict, collections.OrderedDict, collections.ChainMap)
_VARIANCE: dict[Any, tuple[int, ...]] = {
    **{c: (1,) for c in _ONE_CO},
    **{c: (0,) for c in _ONE},
    **{c: (0, 0) for c in (*_TWO, cabc.MutableMapping)},
    cabc.Generator: (1, -1, 1),
    cabc.AsyncGenerator: (1, -1),
    cabc.Coroutine: (1, -1, 1),
    cabc.Mapping: (0, 1),
    cabc.ItemsView: (1, 1),
    contextlib.AbstractContextManager: (1,),
    contextlib.AbstractAsyncContextManager: (1,),
}


class Ctx:
    """Where annotations are read: the namespace strings are evaluated in, whether
    implementation classes become their wrappers, what `Self` means, and the type
    variables written under other names (a nested protocol's own)."""

    __slots__ = ("globalns", "translate", "self_type", "tvars")

    def __init__(
        self,
        globalns: dict[str, Any],
        translate: bool,
        self_type: Any = None,
        tvars: dict[Any, str] | None = None,
    ) -> None:
        self.globalns, self.translate = globalns, translate
        self.self_type, self.tvars = self_type, tvars or {}

    def with_tvars(self, tvars: dict[Any, str]) -> Ctx:
        return Ctx(self.globalns, self.translate, self.self_type, tvars)


@contextlib.contextmanager
def _cm() -> Any:
    yield


@contextlib.asynccontextmanager
async def _acm() -> Any:
    yield


# The code of the function `contextlib.(async)contextmanager` returns, the same for all.
_CM_CODES = {
    getattr(_cm, "__code__", None): contextlib.AbstractContextManager,
    getattr(_acm, "__code__", None): contextlib.AbstractAsyncContextManager,
}


class Signature:
    """A callable's parameters and declared result, with the namespace to read them in;
    `cm`: `contextlib.AbstractAsyncContextManager` (or the blocking one) for a function
    made by `contextlib.asynccontextmanager` (`contextmanager`), whose declared result
    is its generator's."""

    __slots__ = ("params", "ret", "globalns", "cm")

    def __init__(
        self, params: list[inspect.Parameter], ret: Any, globalns: dict[str, Any], cm: Any = None
    ) -> None:
        self.params, self.ret, self.globalns, self.cm = params, ret, globalns, cm


def signature(f: Any) -> Signature:
    """`f`'s signature; one that cannot be had is `(*args: Any, **kwargs: Any) -> Any`."""
    try:
        sig = inspect.signature(f)
        params, ret = list(sig.parameters.values()), sig.return_annotation
    except (TypeError, ValueError):
        params = [
            inspect.Parameter("args", inspect.Parameter.VAR_POSITIONAL),
            inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD),
        ]
        ret = EMPTY
    try:
        g = getattr(inspect.unwrap(f), "__globals__", None)
    except ValueError:
        g = None
    if not isinstance(g, dict):
        mod = sys.modules.get(getattr(f, "__module__", None) or "")
        g = vars(mod) if mod is not None else {}
    return Signature(params, ret, g, _CM_CODES.get(getattr(f, "__code__", None)))


def kind_of(f: Any) -> str:
    """ "agen", "coro" or "sync": what calling the implementation `f` gives."""
    if inspect.isasyncgenfunction(f):
        return "agen"
    return "coro" if inspect.iscoroutinefunction(f) else "sync"


def doc_lines(obj: Any, indent: str) -> list[str]:
    """`obj`'s own docstring (a class's is not inherited), as stub lines."""
    if obj is None:
        return []
    doc = obj.__dict__.get("__doc__") if inspect.isclass(obj) else getattr(obj, "__doc__", None)
    if not doc or not isinstance(doc, str):
        return []
    doc = inspect.cleandoc(doc).replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    if doc.endswith('"') and not doc.endswith('\\"'):
        doc = doc[:-1] + '\\"'
    lines = doc.splitlines()
    if len(lines) == 1:
        return [f'{indent}"""{doc}"""']
    rest = [f"{indent}{ln}" if ln else "" for ln in lines[1:]]
    return [f'{indent}"""{lines[0]}', *rest, f'{indent}"""']


def stub_def(head: str, doc: list[str], indent: str) -> list[str]:
    """A stub function: `head` (`def f(...) -> R`), its docstring if any, and `...`."""
    return [f"{head}:", *doc, f"{indent}    ..."] if doc else [f"{head}: ..."]


def first_name(params: list[inspect.Parameter]) -> str:
    name, taken = "self", {p.name for p in params}
    while name in taken:
        name += "_"
    return name


def _lookup(root: Any, qual: str) -> Any:
    obj = root
    for part in qual.split("."):
        obj = getattr(obj, part, _lookup)
        if obj is _lookup:
            break
    return obj


def _public_modules(mod: str) -> list[str]:
    """Modules an object of module `mod` may be reachable from, the most public first:
    `pkg._impl._x` gives `pkg`, `pkg._impl`, `pkg._impl._x`; `_asyncio` gives `asyncio`."""
    parts = mod.split(".")
    out = [mod]
    while len(parts) > 1 and parts[-1].startswith("_"):
        parts.pop()
        out.append(".".join(parts))
    if mod.startswith("_") and "." not in mod:
        out.append(mod[1:])
    return out[::-1]


def _variance(tv: Any) -> int:
    return (
        1
        if getattr(tv, "__covariant__", False)
        else (-1 if getattr(tv, "__contravariant__", False) else 0)
    )


class Writer:
    """Writes annotations as stub source for the stub of `module`, collecting imports."""

    def __init__(
        self,
        module: types.ModuleType,
        wrapper_of: Callable[[Any], Any],
        stub_targets: frozenset[str],
    ) -> None:
        self.module, self.target = module, module.__name__
        self.wrapper_of = wrapper_of  # an implementation class's wrapper, or None
        self.stub_targets = stub_targets  # modules whose stubs are written with this one
        self.imports: set[str] = set()
        self.local: dict[int, str] = {}  # id of an object the stub defines -> its name
        self.reserved: set[str] = set()  # the stub's top-level names
        self.nested_ok: set[str] = set()  # classes whose nested classes the stub has
        self.pending: list[Any] = []  # wrapped classes the stub must define itself
        self.helpers: set[str] = set()

    def imp(self, module: str) -> str:
        self.imports.add(module)
        return module

    def typing_name(self, name: str) -> str:
        newer = name in _NEWER_TYPING or not hasattr(typing, name)
        return f"{self.imp('typing_extensions' if newer else 'typing')}.{name}"

    def typevar(self, name: str, tv: Any, c: Ctx) -> str:
        """The declaration of the type variable (or ParamSpec, TypeVarTuple) `tv`."""
        kind = type(tv).__name__
        args = [f'"{name}"']
        if kind == "TypeVar":
            args += [self.ann(a, c) for a in getattr(tv, "__constraints__", ())]
        bound = getattr(tv, "__bound__", None)
        if bound is not None:
            args.append(f"bound={self.ann(bound, c)}")
        for v in ("covariant", "contravariant"):
            if getattr(tv, f"__{v}__", False):
                args.append(f"{v}=True")
        mod = "typing" if kind == "TypeVar" else "typing_extensions"
        return f"{name} = {self.imp(mod)}.{kind}({', '.join(args)})"

    def resolve(self, tp: Any, c: Ctx) -> Any:
        """`tp` with a string (or forward reference) evaluated; `Any` if it cannot be."""
        for _ in range(3):
            if isinstance(tp, typing.ForwardRef):
                tp = tp.__forward_arg__
            if not isinstance(tp, str):
                return tp
            try:
                tp = eval(tp, dict(c.globalns))
            except Exception:
                return Any
        return Any

    def adopt(self, wrapper: Any) -> str:
        """A name in the stub for a wrapped class reachable from no stubbed module."""
        name = getattr(wrapper, "__name__", "Wrapped")
        while name in self.reserved:
            name += "_"
        self.reserved.add(name)
        self.local[id(wrapper)] = name
        self.pending.append(wrapper)
        return name

    def name_of(self, obj: Any) -> str | None:
        """How the stub refers to `obj` (a class, a type variable, ...), or None."""
        name = self.local.get(id(obj))
        if name is not None:
            return name
        mod = getattr(obj, "__module__", None)
        qual = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
        if not isinstance(mod, str) or not isinstance(qual, str) or "<" in qual:
            return None
        if mod == "builtins":
            if getattr(builtins, qual, None) is not obj:
                return None  # a descriptor's type, say
            if qual in self.reserved:
                return f"{self.imp('builtins')}.{qual}"
            return qual
        for cand in _public_modules(mod):
            m = sys.modules.get(cand)
            if m is None or _lookup(m, qual) is not obj:
                continue
            if cand == self.target:
                if qual.split(".")[0] in self.nested_ok:
                    return qual
                continue
            if "_aiosync_original" in getattr(obj, "__dict__", {}) and not self._stubbed(m):
                return None  # a wrapper seen as the implementation class without a stub
            return f"{self.imp(cand)}.{qual}"
        return None

    def _stubbed(self, m: types.ModuleType) -> bool:
        f = getattr(m, "__file__", None)
        return m.__name__ in self.stub_targets or (
            isinstance(f, str) and Path(f).with_suffix(".pyi").exists()
        )

    def cls(self, tp: Any, c: Ctx, bare: bool) -> str:
        """A class; `bare`: as a whole annotation (missing type arguments are `Any`)."""
        if tp is BlockingAsyncContextManager:
            self.helpers.add(CM_HELPER)
            name: str | None = CM_HELPER
        else:
            w = self.wrapper_of(tp) if c.translate else None
            if w is not None:
                tp = w
            name = self.name_of(tp)
            if name is None and not c.translate:
                w = self.wrapper_of(tp)
                name = self.name_of(w) if w is not None else None
                tp = w if name is not None else tp
            if name is None and "_aiosync_original" in getattr(tp, "__dict__", {}):
                name = self.adopt(tp)
        if name is None:
            return self.typing_name("Any")
        if not bare:
            return name
        anys = self.typing_name("Any")
        if tp is tuple:
            return f"{name}[{anys}, ...]"
        if tp is cabc.Callable:
            return f"{name}[..., {anys}]"
        n = self.arity(tp)
        return name if n == 0 else f"{name}[{', '.join([anys] * n)}]"

    @staticmethod
    def arity(tp: Any) -> int:
        if tp in _VARIANCE:
            return len(_VARIANCE[tp])
        if isinstance(tp, type) and issubclass(tp, cast(type, Generic)):
            return len(getattr(tp, "__parameters__", ()))
        return 0

    def ann(self, tp: Any, c: Ctx) -> str:
        """The annotation `tp` as stub source."""
        tp = self.resolve(tp, c)
        if tp is None or tp is type(None):
            return "None"
        if tp is Ellipsis:
            return "..."
        if tp is EMPTY:
            return self.typing_name("Any")
        if any(tp is s for s in _SELF):
            if c.self_type is not None:
                return self.ann(c.self_type, c)
            return self.typing_name("Self")
        if isinstance(tp, _TYPEVARS):
            if tp in c.tvars:
                return c.tvars[tp]
            return self.name_of(tp) or self.typing_name("Any")
        if isinstance(tp, (typing_extensions.ParamSpecArgs, typing_extensions.ParamSpecKwargs)):
            base = self.ann(tp.__origin__, c)
            if base.endswith(".Any"):
                return base
            args = isinstance(tp, typing_extensions.ParamSpecArgs)
            return base + (".args" if args else ".kwargs")
        if isinstance(tp, list):
            return "[" + ", ".join(self.ann(a, c) for a in tp) + "]"
        origin = typing.get_origin(tp)
        if origin is not None:
            return self._generic(tp, origin, typing.get_args(tp), c)
        if isinstance(tp, type):
            return self.cls(tp, c, bare=True)
        if hasattr(tp, "__supertype__"):  # a NewType
            return self.name_of(tp) or self.ann(tp.__supertype__, c)
        r = repr(tp)
        for prefix in ("typing.", "typing_extensions."):
            if r.startswith(prefix) and r[len(prefix) :].isidentifier():
                return self.typing_name(r[len(prefix) :])
        return self.typing_name("Any")

    def _literal(self, v: Any, c: Ctx) -> str:
        if isinstance(v, enum.Enum):
            return f"{self.cls(type(v), c, bare=False)}.{v.name}"
        return repr(v)

    def _generic(self, tp: Any, origin: Any, args: tuple[Any, ...], c: Ctx) -> str:
        if origin in _UNIONS:
            parts = list(dict.fromkeys(self.ann(a, c) for a in args))
            return " | ".join(parts)
        if origin is typing.Literal or origin is typing_extensions.Literal:
            return f"{self.typing_name('Literal')}[{', '.join(self._literal(a, c) for a in args)}]"
        if origin is typing.Annotated or origin is typing_extensions.Annotated:
            return self.ann(args[0], c)
        for form in ("ClassVar", "Final", "Required", "NotRequired", "ReadOnly", "Concatenate"):
            if any(origin is getattr(m, form, None) for m in (typing, typing_extensions)):
                inner = ", ".join(self.ann(a, c) for a in args)
                return f"{self.typing_name(form)}[{inner}]"
        if origin is cabc.Callable and args:
            p = args[0]
            if isinstance(p, list):
                ps = "[" + ", ".join(self.ann(a, c) for a in p) + "]"
            else:
                ps = self.ann(p, c)
            return f"{self.imp('collections.abc')}.Callable[{ps}, {self.ann(args[-1], c)}]"
        if not args:
            if origin is tuple and tp != typing.Tuple:  # noqa: UP006 - `tuple[()]` or not
                return "tuple[()]"
            return self.cls(origin, c, bare=True)
        head = self.cls(origin, c, bare=False)
        if head.endswith(".Any"):
            return head
        return f"{head}[{', '.join(self.ann(a, c) for a in args)}]"

    def params(
        self,
        params: list[inspect.Parameter],
        c: Ctx,
        first: str | None = None,
        bare_first: bool = False,
    ) -> str:
        """A parameter list; `first` put before them (a protocol method's `self`);
        `bare_first`: the first parameter (`self`, `cls`) unannotated when it is."""
        out = [first] if first else []
        posonly = star = False
        for i, p in enumerate(params):
            k = p.kind
            if posonly and k is not p.POSITIONAL_ONLY:
                out.append("/")
                posonly = False
            if k is p.POSITIONAL_ONLY:
                posonly = True
            if k is p.KEYWORD_ONLY and not star:
                out.append("*")
            star = star or k in (p.KEYWORD_ONLY, p.VAR_POSITIONAL)
            prefix = "*" if k is p.VAR_POSITIONAL else "**" if k is p.VAR_KEYWORD else ""
            default = " = ..." if p.default is not EMPTY else ""
            if i == 0 and bare_first and p.annotation is EMPTY:
                out.append(f"{prefix}{p.name}{default}")
            else:
                out.append(f"{prefix}{p.name}: {self.ann(p.annotation, c)}{default}")
        if posonly:
            out.append("/")
        return ", ".join(out)

    # -- the blocking API's results ---------------------------------------------------

    def declared(self, sig: Signature, c: Ctx) -> Any:
        """What calling the callable gives, as declared (a context manager for one
        `contextlib.asynccontextmanager` made, not its generator)."""
        if sig.cm is None:
            return sig.ret
        origin, args = self._args(sig.ret, c)
        return sig.cm[args[0] if args and origin is not None else Any]

    def value_type(self, v: Any, c: Ctx) -> str:
        """The annotation of a constant: its class, `Any` for a generic class whose type
        arguments cannot be told."""
        t = type(v)
        if hasattr(t, "__class_getitem__") and t is not tuple and self.arity(t) == 0:
            return self.typing_name("Any")
        return self.ann(t, c)

    def _args(self, tp: Any, c: Ctx) -> tuple[Any, tuple[Any, ...]]:
        tp = self.resolve(tp, c)
        return typing.get_origin(tp), typing.get_args(tp)

    def convert(self, ret: Any, c: Ctx) -> Any:
        """What a blocking call gives where the implementation's plain (not async)
        function returns `ret`: an awaitable's result, an async iterator as a generator,
        an async context manager usable with `with` too."""
        origin, args = self._args(ret, c)
        if origin in (cabc.Awaitable, cabc.Coroutine):
            return args[-1] if args else Any
        if origin is cabc.AsyncGenerator:
            y, s = args if args else (Any, Any)
            return _GENERATOR[y, s, None]
        if origin in (cabc.AsyncIterator, cabc.AsyncIterable):
            return _GENERATOR[args[0] if args else Any, None, None]
        if origin is contextlib.AbstractAsyncContextManager:
            return BlockingAsyncContextManager[args[0] if args else Any]  # type: ignore[misc]
        return Any if ret is EMPTY else ret

    def item_types(self, ret: Any, c: Ctx) -> tuple[Any, Any]:
        """(items, sent values) of an async generator function declared to return `ret`."""
        origin, args = self._args(ret, c)
        if origin is cabc.AsyncGenerator and args:
            return args[0], args[1]
        if origin in _ASYNC_ITERS and args:
            return args[0], None
        return Any, Any

    def result(self, ret: Any, c: Ctx, kind: str) -> tuple[Any, Any, bool]:
        """(blocking result, `.aio` result, whether `.aio` is `async def`) of a wrapped
        callable of `kind` declared to return `ret`."""
        if kind == "agen":
            y, s = self.item_types(ret, c)
            return _GENERATOR[y, s, None], _ASYNC_GENERATOR[y, s], False
        if kind == "coro":
            r = Any if ret is EMPTY else ret
            return r, r, True
        blocking = self.convert(ret, c)
        origin, _ = self._args(ret, c)
        return blocking, blocking if origin not in _ASYNC_ITERS else ret, True

    # -- type variables a nested protocol needs of its own ----------------------------

    def polarity(self, tp: Any, c: Ctx, pos: int, out: dict[Any, set[int]]) -> None:
        """Records, for each type variable in `tp`, whether it is used covariantly (+1),
        contravariantly (-1) or invariantly (0), `tp` itself being in position `pos`."""
        tp = self.resolve(tp, c)
        if any(tp is s for s in _SELF) and c.self_type is not None:
            tp = c.self_type
        if isinstance(tp, _TYPEVARS):
            out.setdefault(tp, set()).add(pos)
            return
        if isinstance(tp, (typing_extensions.ParamSpecArgs, typing_extensions.ParamSpecKwargs)):
            out.setdefault(tp.__origin__, set()).add(0)
            return
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin is None or origin is typing.Literal:
            return
        if origin in _UNIONS or origin in (typing.ClassVar, typing.Final):
            for a in args:
                self.polarity(a, c, pos, out)
        elif origin is typing.Annotated:
            self.polarity(args[0], c, pos, out)
        elif origin is cabc.Callable and args:
            for a in args[0] if isinstance(args[0], list) else [args[0]]:
                self.polarity(a, c, -pos, out)
            self.polarity(args[-1], c, pos, out)
        else:
            if origin is tuple:
                variances: tuple[int, ...] = (1,) * len(args)
            elif origin in _VARIANCE:
                variances = _VARIANCE[origin]
            else:
                variances = tuple(_variance(t) for t in getattr(origin, "__parameters__", ()))
            for i, a in enumerate(args):
                v = variances[i] if i < len(variances) else 0
                self.polarity(a, c, pos * v, out)


__all__ = [
    "CM_HELPER_SOURCE",
    "EMPTY",
    "Ctx",
    "Signature",
    "Writer",
    "doc_lines",
    "first_name",
    "kind_of",
    "signature",
    "stub_def",
]
