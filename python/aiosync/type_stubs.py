"""Type stubs for the blocking API a `Synchronizer` makes: `python -m aiosync.type_stubs MODULE`.

`Synchronizer.wrap` builds its wrappers at run time, so a type checker sees only the
implementation's `async` signatures. This writes `MODULE.pyi` beside the module's file,
in which every module-level object a synchronizer made has its blocking signatures:

- a wrapped coroutine function `f` becomes a protocol whose `__call__` blocks and whose
  `aio` is the coroutine function; an async generator function's `__call__` returns a
  `typing.Generator` and its `aio` a `typing.AsyncGenerator`;
- a wrapped class gets blocking methods with `.aio` beside each (a protocol per method),
  its properties, static and class methods, `with` / `async with` where the implementation
  is an async context manager and `for` / `async for` where it has `__aiter__`;
- implementation classes named in the wrapped API's annotations become their wrappers.

Everything else at module level (functions, classes, constants, type variables, aliases)
keeps its own signatures. String annotations are resolved in the module they were
written in; those that cannot be are `typing.Any`. `--stdout` prints the stub instead.

```python
import pathlib, subprocess, sys, tempfile, textwrap

lib = '''
from aiosync import Synchronizer
s = Synchronizer()

@s.wrap
async def square(x: int) -> int:
    return x * x
'''
with tempfile.TemporaryDirectory() as d:
    pathlib.Path(d, "lib.py").write_text(textwrap.dedent(lib))
    out = subprocess.run([sys.executable, "-m", "aiosync.type_stubs", "--stdout", "lib"],
                         cwd=d, capture_output=True, text=True, check=True).stdout
    assert "def __call__(self, x: int) -> int: ..." in out
    assert "async def aio(self, x: int) -> int: ..." in out
    assert "square: __square_spec" in out
```
"""

from __future__ import annotations

import argparse
import enum
import importlib
import inspect
import os
import sys
import types
import typing
from pathlib import Path
from typing import Any

import typing_extensions

from aiosync._synchronizer import Synchronizer, classproperty
from aiosync._synchronizer._stubs import (
    CM_HELPER_SOURCE,
    EMPTY,
    Ctx,
    Writer,
    doc_lines,
    first_name,
    kind_of,
    signature,
    stub_def,
)

_ORIGINAL = "_aiosync_original"
_OWNER = "_aiosync_synchronizer"
_NOWRAP = "_aiosync_nowrap"
_MODULE_SKIP = frozenset(
    "__name__ __doc__ __file__ __builtins__ __spec__ __loader__ __package__ __cached__"
    " __annotations__ __path__ __all__".split()
)
# Class attributes that are never members of a stub (nor, for wrappers, of the wrapper).
_CLASS_SKIP = frozenset(
    "__dict__ __weakref__ __module__ __qualname__ __doc__ __slots__ __new__ __init_subclass__"
    " __class_getitem__ __getattribute__ __setattr__ __delattr__ __del__ __orig_bases__"
    " __parameters__ __annotations__ __firstlineno__ __static_attributes__"
    " __abstractmethods__ _abc_impl".split()
)
_ASYNC_PROTOCOL = frozenset({"__aenter__", "__aexit__", "__aiter__", "__anext__", "__getattr__"})
# What `from typing import ...` brings in is not the module's own.
# `Self` within a method's protocol: a type parameter of the protocol, given `Self`.
_SELF_MARK = typing.TypeVar("_SELF_MARK")
_TYPING_IDS = frozenset(
    id(v)
    for m in (typing, typing_extensions)
    for v in vars(m).values()
    if not isinstance(v, (int, float, str, bytes, type(None)))
)


def _wrapper(obj: Any) -> bool:
    """Whether `obj` is a class or function a Synchronizer made (not an instance)."""
    if not (inspect.isclass(obj) or inspect.isroutine(obj)):
        return False
    d = getattr(obj, "__dict__", None)
    return d is not None and _ORIGINAL in d and isinstance(d.get(_OWNER), Synchronizer)


class StubEmitter:
    """The stub of one module, built from the module as imported."""

    def __init__(self, module: types.ModuleType, stub_targets: frozenset[str] = frozenset()):
        self.module = module
        self.g: dict[str, Any] = vars(module)
        self.w = Writer(module, self._wrapper_of, stub_targets | {module.__name__})
        self.syncs: list[Synchronizer] = []
        self.impl_to_wrapper: dict[int, Any] = {}
        self.inner_tvars: dict[str, str] = {}
        self.parts: list[str] = []

    # -- translation ------------------------------------------------------------------

    def _wrapper_of(self, cls: Any) -> Any:
        w = self.impl_to_wrapper.get(id(cls))
        if w is not None or not isinstance(cls, type) or _ORIGINAL in cls.__dict__:
            return w
        for s in self.syncs:
            try:
                t = s._translate_out(cls)
            except Exception:
                continue
            if t is not cls and isinstance(t, type) and _ORIGINAL in t.__dict__:
                return t
        return None

    def _module_ns(self, obj: Any) -> dict[str, Any]:
        m = sys.modules.get(getattr(obj, "__module__", "") or "")
        return vars(m) if m is not None else self.g

    # -- the module -------------------------------------------------------------------

    def source(self) -> str:
        all_ = self.g.get("__all__")
        explicit = (
            [n for n in all_ if isinstance(n, str)] if isinstance(all_, (list, tuple)) else []
        )
        entries: list[tuple[str, Any]] = []
        for name, obj in list(self.g.items()):
            if name in _MODULE_SKIP or inspect.ismodule(obj) or id(obj) in _TYPING_IDS:
                continue
            if type(obj).__module__ == "__future__":
                continue
            if _wrapper(obj):
                s = obj.__dict__[_OWNER]
                if s not in self.syncs:
                    self.syncs.append(s)
                if inspect.isclass(obj):
                    self.impl_to_wrapper.setdefault(id(obj.__dict__[_ORIGINAL]), obj)
            elif (inspect.isclass(obj) or inspect.isroutine(obj)) and not self._here(obj):
                if name not in explicit:
                    continue  # imported, not re-exported
            entries.append((name, obj))
        for name, obj in entries:
            self.w.reserved.add(name)
            if _wrapper(obj) or (inspect.isclass(obj) and self._here(obj)):
                self.w.local.setdefault(id(obj), name)
            elif isinstance(obj, typing.TypeVar):
                self.w.local.setdefault(id(obj), name)
            elif type(obj).__name__ in ("ParamSpec", "TypeVarTuple"):
                self.w.local.setdefault(id(obj), name)
        for name, obj in entries:
            if inspect.isclass(obj) and not _wrapper(obj) and self.w.local.get(id(obj)) == name:
                self.w.nested_ok.add(name)
        annotations = self.g.get("__annotations__", {})
        for name, obj in entries:
            self.parts.append("\n".join(self._entry(name, obj, annotations)))
        for name, ann in annotations.items() if isinstance(annotations, dict) else ():
            if name not in self.g and isinstance(name, str):
                self.parts.append(f"{name}: {self.w.ann(ann, Ctx(self.g, False))}")
        done = 0
        while done < len(self.w.pending):  # wrapped classes only the stub can name
            wcls = self.w.pending[done]
            done += 1
            self.parts.append("\n".join(self._wrapped_class(self.w.local[id(wcls)], wcls)))
        return self._assemble(explicit if "__all__" in self.g else None)

    def _here(self, obj: Any) -> bool:
        return getattr(obj, "__module__", None) == self.module.__name__

    def _assemble(self, explicit: list[str] | None) -> str:
        head = [f"import {m}" for m in sorted(self.w.imports | {"typing"}) if m != "builtins"]
        if "builtins" in self.w.imports:
            head.insert(0, "import builtins")
        pre: list[str] = []
        if self.w.helpers:
            head.append("import typing_extensions")
            pre.append(CM_HELPER_SOURCE)
        if self.inner_tvars:
            pre.append("\n".join(self.inner_tvars.values()))
        if explicit is not None:
            names = ", ".join(f'"{n}"' for n in explicit if n.isidentifier())
            pre.insert(0, f"__all__ = [{names}]")
        title = f"# Generated by `python -m aiosync.type_stubs {self.module.__name__}`."
        body = "\n\n".join([*pre, *[p for p in self.parts if p]])
        return f"{title}\n{chr(10).join(sorted(set(head)))}\n\n{body}\n"

    def _entry(self, name: str, obj: Any, annotations: Any) -> list[str]:
        w, c = self.w, Ctx(self.g, False)
        first = w.local.get(id(obj))
        if _wrapper(obj):
            if inspect.isclass(obj):
                if first != name:
                    return [f"{name} = {first}"]
                return self._wrapped_class(name, obj)
            return self._dual(
                name,
                obj.__dict__[_ORIGINAL],
                Ctx(self._module_ns(obj), True),
                indent="",
                drop_first=False,
                classvar=False,
                tvars=(),
            )
        if (inspect.isclass(obj) or inspect.isroutine(obj)) and not self._here(obj):
            ref = w.name_of(obj)  # re-exported
            if ref is None:
                return [f"{name}: {w.typing_name('Any')}"]
            mod, _, qual = ref.rpartition(".")
            if mod and mod in w.imports and "." not in qual:
                return [f"from {mod} import {qual} as {name}"]
            return [f"{name} = {ref}"]
        if inspect.isclass(obj):
            if first is not None and first != name:
                return [f"{name} = {first}"]
            return self._plain_class(name, obj, "")
        if isinstance(obj, typing.TypeVar) or type(obj).__name__ in ("ParamSpec", "TypeVarTuple"):
            return [w.typevar(name, obj, c)]
        if inspect.isroutine(obj):
            return self._function(name, obj, Ctx(self._module_ns(obj), False), "")
        if typing.get_origin(obj) is not None:  # a type alias
            return [f"{name}: {w.typing_name('TypeAlias')} = {w.ann(obj, c)}"]
        if isinstance(annotations, dict) and name in annotations:
            return [f"{name}: {w.ann(annotations[name], c)}"]
        return [f"{name}: {w.value_type(obj, c)}"]

    # -- callables --------------------------------------------------------------------

    def _function(self, name: str, f: Any, c: Ctx, indent: str, method: bool = False) -> list[str]:
        """A plain (not wrapped) function or method with its own signature."""
        w, sig = self.w, signature(f)
        c = Ctx(sig.globalns, c.translate, c.self_type, c.tvars)
        kind = kind_of(f)
        ret = w.declared(sig, c)
        if ret is EMPTY:
            if name == "__init__":
                ret = None
            elif kind == "agen":
                ret = typing.AsyncGenerator[Any, Any]
        prefix = "async " if kind == "coro" else ""
        params = w.params(sig.params, c, bare_first=method)
        head = f"{indent}{prefix}def {name}({params}) -> {w.ann(ret, c)}"
        return stub_def(head, doc_lines(f, indent + "    "), indent)

    def _blocking_method(self, name: str, f: Any, c: Ctx, indent: str) -> list[str]:
        """A plain method of a wrapped class: its result made blocking, translated."""
        w, sig = self.w, signature(f)
        c = Ctx(sig.globalns, True, c.self_type, c.tvars)
        ret = None if name == "__init__" else w.convert(w.declared(sig, c), c)
        params = w.params(sig.params, c, bare_first=True)
        head = f"{indent}def {name}({params}) -> {w.ann(ret, c)}"
        return stub_def(head, doc_lines(f, indent + "    "), indent)

    def _inner_tvar(self, tv: Any, uses: set[int]) -> str:
        suffix = "_co" if uses == {1} else "_contra" if uses == {-1} else ""
        kind = type(tv).__name__
        name = "_Self" if tv is _SELF_MARK else f"_{tv.__name__}_inner"
        name += suffix
        if name not in self.inner_tvars:
            mod = self.w.imp("typing" if kind == "TypeVar" else "typing_extensions")
            v = {"_co": ", covariant=True", "_contra": ", contravariant=True"}.get(suffix, "")
            v = v if kind == "TypeVar" else ""
            self.inner_tvars[name] = f'{name} = {mod}.{kind}("{name}"{v})'
        return name

    def _dual(
        self,
        name: str,
        f: Any,
        c: Ctx,
        indent: str,
        drop_first: bool,
        classvar: bool,
        tvars: tuple[Any, ...],
        owner: Any = None,
    ) -> list[str]:
        """A wrapped callable: a protocol whose `__call__` blocks and whose `aio` is the
        async form, and `name` declared of that protocol's type. `tvars`: the enclosing
        class's (`owner`'s) type variables, which the protocol takes as type parameters
        of its own, as it does `Self`."""
        w, sig = self.w, signature(f)
        if classvar and tvars:  # a class variable cannot hold type variables
            self_type = owner[tuple(Any for _ in tvars)]
            c = Ctx(sig.globalns, True, self_type, {tv: w.typing_name("Any") for tv in tvars})
            tvars = ()
        else:
            c = Ctx(sig.globalns, True, _SELF_MARK if owner is not None else None, c.tvars)
        params = sig.params[1:] if drop_first else sig.params
        blocking, aio, aio_async = w.result(w.declared(sig, c), c, kind_of(f))
        uses: dict[Any, set[int]] = {}
        for p in params:
            if p.annotation is not EMPTY:
                w.polarity(p.annotation, c, -1, uses)
        w.polarity(blocking, c, 1, uses)
        w.polarity(aio, c, 1, uses)
        inner: dict[Any, str] = {}
        outer: list[str] = []
        for tv in (*tvars, _SELF_MARK):
            if tv in uses:
                inner[tv] = self._inner_tvar(tv, uses[tv])
                outer.append(w.typing_name("Self") if tv is _SELF_MARK else w.ann(tv, c))
        pc = c.with_tvars({**c.tvars, **inner})
        spec = f"__{name}_spec"
        proto = w.imp("typing_extensions") + ".Protocol"
        if inner:
            proto += "[" + ", ".join(inner.values()) + "]"
        ps = w.params(params, pc, first=first_name(params))
        i2, i3 = indent + "    ", indent + "        "
        spec_ref = spec + (f"[{', '.join(outer)}]" if outer else "")
        if classvar:
            spec_ref = f"{w.typing_name('ClassVar')}[{spec_ref}]"
        return [
            f"{indent}class {spec}({proto}):",
            *stub_def(f"{i2}def __call__({ps}) -> {w.ann(blocking, pc)}", doc_lines(f, i3), i2),
            f"{i2}{'async ' if aio_async else ''}def aio({ps}) -> {w.ann(aio, pc)}: ...",
            "",
            f"{indent}{name}: {spec_ref}",
        ]

    # -- classes ----------------------------------------------------------------------

    def _bases(self, cls: Any, c: Ctx) -> str:
        bases = cls.__dict__.get("__orig_bases__", cls.__bases__)
        out = [self.w.ann(b, c) for b in bases if b is not object]
        out = [b for b in out if not b.endswith(".Any")]
        return f"({', '.join(out)})" if out else ""

    def _annotations(self, cls: Any, c: Ctx, indent: str) -> list[str]:
        anns = cls.__dict__.get("__annotations__", {})
        lines = []
        for k, v in anns.items() if isinstance(anns, dict) else ():
            default = " = ..." if k in cls.__dict__ else ""
            lines.append(f"{indent}{k}: {self.w.ann(v, c)}{default}")
        return lines

    def _property(self, name: str, p: property, c: Ctx, indent: str) -> list[str]:
        w = self.w
        out: list[str] = []
        if p.fget is not None:
            sig = signature(p.fget)
            pc = Ctx(sig.globalns, c.translate, c.self_type, c.tvars)
            ret = sig.ret
            if kind_of(p.fget) == "coro":
                ret = typing.cast(Any, typing.Coroutine)[Any, Any, Any if ret is EMPTY else ret]
            head = f"{indent}def {name}(self) -> {w.ann(ret, pc)}"
            doc = doc_lines(p.fget, indent + "    ")
            out += [f"{indent}@property", *stub_def(head, doc, indent)]
        if p.fset is not None:
            sig = signature(p.fset)
            pc = Ctx(sig.globalns, c.translate, c.self_type, c.tvars)
            ps = w.params(sig.params, pc, bare_first=True)
            out += [f"{indent}@{name}.setter", f"{indent}def {name}({ps}) -> None: ..."]
        if p.fdel is not None:
            out += [f"{indent}@{name}.deleter", f"{indent}def {name}(self) -> None: ..."]
        return out

    def _classproperty(self, name: str, p: classproperty, c: Ctx, indent: str) -> list[str]:
        f = p.fget.__func__
        sig = signature(f)
        pc = Ctx(sig.globalns, c.translate, c.self_type, c.tvars)
        ret = self.w.result(sig.ret, pc, kind_of(f))[0] if c.translate else sig.ret
        return [f"{indent}{name}: {self.w.typing_name('ClassVar')}[{self.w.ann(ret, pc)}]"]

    def _value(self, name: str, v: Any, c: Ctx, indent: str) -> list[str]:
        if name.startswith("__") and name.endswith("__"):
            return []
        if inspect.isclass(v):
            ref = self.w.cls(v, c, bare=False)
            return [f"{indent}{name}: {self.w.typing_name('ClassVar')}[type[{ref}]]"]
        return [f"{indent}{name}: {self.w.value_type(v, c)}"]

    def _plain_class(self, name: str, cls: Any, indent: str) -> list[str]:
        w = self.w
        c = Ctx(self._module_ns(cls), False)
        i2 = indent + "    "
        if issubclass(cls, enum.Enum):
            body = []
            for k, v in cls.__dict__.items():
                member = cls.__members__.get(k)
                if member is not None and member.name == k:
                    val = member.value
                    lit = repr(val) if isinstance(val, (int, str, bool, float)) else "..."
                    body.append(f"{i2}{k} = {lit}")
                elif inspect.isfunction(v) and not k.startswith("_"):
                    body += self._function(k, v, c, i2, method=True)
            return [
                f"{indent}class {name}{self._bases(cls, c)}:",
                *doc_lines(cls, i2),
                *(body or [f"{i2}..."]),
            ]
        td = typing_extensions.is_typeddict(cls)
        if td or (issubclass(cls, tuple) and hasattr(cls, "_fields")):
            nt = not td
            base = w.typing_name("NamedTuple" if nt else "TypedDict")
            total = "" if nt or getattr(cls, "__total__", True) else ", total=False"
            return [
                f"{indent}class {name}({base}{total}):",
                *doc_lines(cls, i2),
                *(self._annotations(cls, c, i2) or [f"{i2}..."]),
            ]
        body = self._annotations(cls, c, i2)
        annotated = set(cls.__dict__.get("__annotations__", {}))
        for k, v in cls.__dict__.items():
            if k in _CLASS_SKIP or k in annotated or k.startswith("_aiosync_"):
                continue
            if isinstance(v, staticmethod):
                body += [f"{i2}@staticmethod", *self._function(k, v.__func__, c, i2)]
            elif isinstance(v, classmethod):
                body += [f"{i2}@classmethod", *self._function(k, v.__func__, c, i2, True)]
            elif isinstance(v, property):
                body += self._property(k, v, c, i2)
            elif isinstance(v, classproperty):
                body += self._classproperty(k, v, c, i2)
            elif inspect.isfunction(v):
                body += self._function(k, v, c, i2, method=True)
            elif inspect.isclass(v) and v.__qualname__ == f"{cls.__qualname__}.{k}":
                body += self._plain_class(k, v, i2)
            else:
                body += self._value(k, v, c, i2)
        return [
            f"{indent}class {name}{self._bases(cls, c)}:",
            *doc_lines(cls, i2),
            *(body or [f"{i2}..."]),
        ]

    def _wrapped_class(self, name: str, wcls: Any) -> list[str]:
        """A class a synchronizer made, from its implementation class."""
        impl = wcls.__dict__[_ORIGINAL]
        tvars = tuple(getattr(wcls, "__parameters__", ()))
        c = Ctx(self._module_ns(impl), True)
        i = "    "
        body = self._annotations(impl, c, i)
        annotated = set(impl.__dict__.get("__annotations__", {}))
        protocols = self._async_protocols(impl, c, i)
        taken = {ln.split("def ")[1].split("(")[0] for ln in protocols if "def " in ln}
        init = impl.__dict__.get("__init__")
        if init is not None and inspect.isfunction(init):
            body += self._blocking_method("__init__", init, c, i)
        for k, v in impl.__dict__.items():
            if k in _CLASS_SKIP or k in annotated or k in taken or k.startswith("_aiosync_"):
                continue
            if k == "__init__":
                continue
            if k in _ASYNC_PROTOCOL or k not in wcls.__dict__:
                continue
            func = getattr(v, "__func__", v)
            if getattr(func, _NOWRAP, False):
                if inspect.isfunction(func):
                    body += self._function(k, func, c, i, method=True)
            elif isinstance(v, staticmethod):
                body += self._dual(k, v.__func__, c, i, False, True, tvars, wcls)
            elif isinstance(v, classmethod):
                body += self._dual(k, v.__func__, c, i, True, True, tvars, wcls)
            elif isinstance(v, property):
                body += self._property(k, v, c, i)
            elif isinstance(v, classproperty):
                body += self._classproperty(k, v, c, i)
            elif kind_of(v) != "sync":
                body += self._dual(k, v, c, i, True, False, tvars, wcls)
            elif inspect.isfunction(v):
                body += self._blocking_method(k, v, c, i)
            else:
                body += self._value(k, v, c, i)
        if "__getattr__" in impl.__dict__:
            body.append(f"{i}def __getattr__(self, name: str) -> {self.w.typing_name('Any')}: ...")
        body += protocols
        return [f"class {name}{self._bases(wcls, c)}:", *doc_lines(wcls, i), *(body or [f"{i}..."])]

    def _async_protocols(self, impl: Any, c: Ctx, i: str) -> list[str]:
        """`with` / `async with`, `for` / `async for`, `next` and `close` / `aclose`, as
        the wrapper offers them for the implementation's async protocols."""
        w, out = self.w, []

        def awaited(f: Any) -> tuple[Any, Ctx]:
            sig = signature(f)
            fc = Ctx(sig.globalns, True, c.self_type, c.tvars)
            return w.result(sig.ret, fc, kind_of(f))[0], fc

        if hasattr(impl, "__aenter__") and hasattr(impl, "__aexit__"):
            enter, ec = awaited(impl.__aenter__)
            sig = signature(impl.__aexit__)
            xc = Ctx(sig.globalns, True, c.self_type, c.tvars)
            ps = w.params(sig.params[1:], xc, first="self")
            ex_s = w.ann(awaited(impl.__aexit__)[0], xc) if sig.ret is not EMPTY else "bool | None"
            out += [
                f"{i}def __enter__(self) -> {w.ann(enter, ec)}: ...",
                f"{i}def __exit__({ps}) -> {ex_s}: ...",
                f"{i}async def __aenter__(self) -> {w.ann(enter, ec)}: ...",
                f"{i}async def __aexit__({ps}) -> {ex_s}: ...",
            ]
        anext = getattr(impl, "__anext__", None)
        item: Any = Any
        ic = c
        if anext is not None:
            item, ic = awaited(anext)
        aiter = getattr(impl, "__aiter__", None)
        if aiter is not None:
            sig = signature(aiter)
            ac = Ctx(sig.globalns, True, c.self_type, c.tvars)
            r = w.resolve(sig.ret, ac)
            returns_self = (
                r is EMPTY
                or r is impl
                or self._wrapper_of(r) is not None
                or any(r is x for x in (typing_extensions.Self, getattr(typing, "Self", None)))
            )
            if not (anext is not None and returns_self):
                item, ic = w.item_types(sig.ret, ac)[0], ac
            it = w.ann(item, ic)
            out += [
                f"{i}def __iter__(self) -> {w.imp('collections.abc')}.Iterator[{it}]: ...",
                f"{i}def __aiter__(self) -> collections.abc.AsyncIterator[{it}]: ...",
            ]
        if anext is not None:
            it = w.ann(item, ic)
            out += [
                f"{i}def __next__(self) -> {it}: ...",
                f"{i}async def __anext__(self) -> {it}: ...",
            ]
        if inspect.iscoroutinefunction(getattr(impl, "aclose", None)):
            r, rc = awaited(impl.aclose)
            out += [
                f"{i}def close(self) -> {w.ann(r, rc)}: ...",
                f"{i}async def aclose(self) -> {w.ann(r, rc)}: ...",
            ]
        return out


def stub_source(module: types.ModuleType, stub_targets: frozenset[str] = frozenset()) -> str:
    """The stub of `module` (imported), as source."""
    return StubEmitter(module, stub_targets).source()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m aiosync.type_stubs",
        description="Writes MODULE.pyi (beside the module) with the blocking API of the "
        "objects a Synchronizer made.",
    )
    parser.add_argument("modules", nargs="+", metavar="MODULE", help="a dotted module name")
    parser.add_argument("--stdout", action="store_true", help="print the stub instead")
    args = parser.parse_args(argv)
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    targets = frozenset(args.modules)
    status = 0
    for name in args.modules:
        try:
            module = importlib.import_module(name)
        except BaseException as e:  # noqa: BLE001 - reported, whatever the module raised
            if isinstance(e, KeyboardInterrupt):
                raise
            print(
                f"aiosync.type_stubs: cannot import {name!r}: {type(e).__name__}: {e}",
                file=sys.stderr,
            )
            status = 1
            continue
        source = stub_source(module, targets)
        if args.stdout:
            sys.stdout.write(source)
            continue
        file = getattr(module, "__file__", None)
        if not isinstance(file, str) or not file.endswith(".py"):
            print(
                f"aiosync.type_stubs: {name!r} has no .py file to put a stub beside",
                file=sys.stderr,
            )
            status = 1
            continue
        out = Path(file).with_suffix(".pyi")
        out.write_text(source, encoding="utf-8")
        print(f"wrote {out}")
    return status


if __name__ == "__main__":
    sys.exit(main())
