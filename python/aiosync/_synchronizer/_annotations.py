"""Translation decided once from a callable's annotations.

Arguments and results are walked (through `list`, `tuple` and `dict`) to swap wrapped
objects for their implementations and back. A parameter or result whose annotation says
it can hold no wrapped object (`int`, `str`, `bytes`, `list[int]`, `dict[str, float]`,
`int | None`, ...) need not be walked; an unannotated one, `Any`, a class, a type
variable or anything unresolvable keeps the walk. Annotations are trusted: one that
says `int` where a wrapped object comes back lets that object through untranslated.
"""

from __future__ import annotations

import collections.abc as cabc
import inspect
import types
import typing
from typing import Any

# Types none of whose values is, or holds, a wrapped object.
_LEAVES = frozenset({int, float, complex, str, bytes, bytearray, bool, type(None), range})
# Containers whose arguments say what they hold.
_CONTAINERS = frozenset(
    {
        list,
        tuple,
        dict,
        set,
        frozenset,
        cabc.Sequence,
        cabc.MutableSequence,
        cabc.Mapping,
        cabc.MutableMapping,
        cabc.Set,
        cabc.MutableSet,
        cabc.Collection,
        cabc.Iterable,
    }
)
# What an `async def` or a function annotated as returning one gives: its last argument
# is the value that crosses back (for generators, each item).
_WRAPPED_RESULT = frozenset(
    {
        cabc.Awaitable,
        cabc.Coroutine,
        cabc.AsyncIterator,
        cabc.AsyncIterable,
        cabc.AsyncGenerator,
        cabc.Iterator,
        cabc.Generator,
    }
)
_GENERATORS = frozenset({cabc.AsyncGenerator, cabc.Generator})


def is_plain(tp: Any) -> bool:
    """Whether a value of annotation `tp` can never be or hold a wrapped object."""
    if tp is None or tp in _LEAVES:
        return True
    if isinstance(tp, typing.TypeVar) or tp is Any:
        return False
    origin = typing.get_origin(tp)
    if origin is None:
        return False
    args = typing.get_args(tp)
    if origin is typing.Union or origin is types.UnionType:
        return all(is_plain(a) for a in args)
    if origin is typing.Literal:
        return True
    if origin is typing.Annotated:
        return is_plain(args[0])
    if origin in _CONTAINERS:
        return bool(args) and all(a is Ellipsis or is_plain(a) for a in args)
    return False


def _result(tp: Any) -> Any:
    """The annotation of what crosses back for a declared result `tp`."""
    origin = typing.get_origin(tp)
    if origin in _WRAPPED_RESULT:
        args = typing.get_args(tp)
        if not args:
            return Any
        # AsyncGenerator[Y, S] / Generator[Y, S, R]: the items are what cross back.
        return args[0] if origin in _GENERATORS else args[-1]
    return tp


def plain_io(f: Any, skip_first: bool) -> tuple[bool, bool]:
    """(inputs plain, output plain) for the callable `f`, from its annotations: `False`
    wherever a walk may be needed. `skip_first` leaves out `self` (or `cls`)."""
    try:
        hints = typing.get_type_hints(f, include_extras=True)
        params = list(inspect.signature(f).parameters.values())
    except Exception:  # unresolvable names, builtins without a signature, ...
        return False, False
    if skip_first:
        params = params[1:]
    inp = all(p.name in hints and is_plain(hints[p.name]) for p in params)
    if "return" not in hints:
        return inp, False
    ret = hints["return"]
    if not inspect.iscoroutinefunction(f):  # generators, functions returning awaitables
        ret = _result(ret)
    return inp, is_plain(ret)


__all__ = ["is_plain", "plain_io"]
