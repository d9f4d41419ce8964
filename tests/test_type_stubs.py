"""`python -m aiosync.type_stubs`: the stub it writes for a library passes `mypy --strict`,
lets mypy accept the blocking API and `.aio` used rightly (code that also runs), and makes
mypy report each wrong use."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import aiosync.type_stubs
import pytest

pytestmark = pytest.mark.timeout(240)

LIBRARY = '''
"""A small library written async, offered blocking."""

from __future__ import annotations

import contextlib
import enum
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable
from typing import Generic, TypeVar

from typing_extensions import Self

from aiosync import Synchronizer, classproperty

s = Synchronizer()
T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
VERSION = "1.0"
LIMIT: int = 10


class Color(enum.Enum):
    RED = 1
    BLUE = 2


class _Counter:
    """Counts."""

    label: str

    def __init__(self, start: int = 0) -> None:
        self.n = start
        self.label = "c"

    async def add(self, k: int) -> int:
        """Adds k."""
        self.n += k
        return self.n

    async def steps(self, n: int) -> AsyncIterator[str]:
        for i in range(n):
            yield str(i)

    def peek(self) -> int:
        return self.n

    @property
    def value(self) -> int:
        return self.n

    @value.setter
    def value(self, v: int) -> None:
        self.n = v

    @staticmethod
    async def make(start: int) -> _Counter:
        return _Counter(start)

    @classmethod
    async def zero(cls) -> _Counter:
        return cls(0)

    @classproperty
    @classmethod
    def kind(cls) -> str:
        return "counter"

    async def merge(self, others: list[_Counter]) -> dict[str, _Counter]:
        return {o.label: o for o in others}

    def later(self) -> Awaitable[int]:
        return self.add(0)

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[int]:
        yield self.n

    async def __aenter__(self) -> _Counter:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def __aiter__(self) -> AsyncIterator[int]:
        for i in range(self.n):
            yield i


Counter = s.wrap(_Counter, name="Counter")


@s.wrap
async def double(x: int) -> int:
    """Twice x."""
    return 2 * x


@s.wrap
async def count(n: int, *, step: int = 1) -> AsyncGenerator[int, None]:
    for i in range(0, n, step):
        yield i


@s.wrap
async def bump(c: _Counter, by: int = 1) -> _Counter:
    await c.add(by)
    return c


@s.wrap
async def ident(x: T) -> T:
    return x


@s.wrap
async def weird(x: NotDefinedAnywhere) -> int:  # noqa: F821
    return 1


class _Base:
    async def ping(self) -> str:
        return "pong"

    async def me(self) -> Self:
        return self


class _Child(_Base):
    async def parent(self) -> _Base:
        return _Base()


# (A class deriving from a wrapper would count as wrapped already: derive from _Base.)
Child = s.wrap(_Child, name="Child")  # wraps _Base too, as BlockingBase
Base = s.wrap(_Base, name="Base")  # the same wrapper, under the name Base


@s.wrap
class Box(Generic[T]):
    def __init__(self, v: T) -> None:
        self.v = v

    async def get(self) -> T:
        return self.v

    async def put(self, v: T) -> list[T]:
        self.v = v
        return [v]


@s.wrap
class Reader(Generic[T_co]):
    def __init__(self, v: T_co) -> None:
        self.v = v

    async def read(self) -> T_co:
        return self.v


def plain(x: int, *, flag: bool = False) -> str:
    return f"{x}{flag}"


async def plain_async(x: int) -> list[_Counter]:
    return []
'''

GOOD = """
from __future__ import annotations

import asyncio
from collections.abc import Generator

from libmod import (
    LIMIT, VERSION, Base, Box, Child, Color, Counter, Reader, bump, count, double, ident, plain,
    s, weird,
)


def blocking() -> None:
    a: int = double(2)
    assert a == 4
    g: Generator[int, None, None] = count(6, step=2)
    assert list(g) == [0, 2, 4]
    c = Counter(1)
    n: int = c.add(2)
    assert n == 3
    strs: list[str] = list(c.steps(2))
    assert strs == ["0", "1"]
    p: int = c.peek()
    v: int = c.value
    c.value = 5
    assert (p, v, c.value) == (3, 3, 5)
    made: Counter = Counter.make(7)
    zero: Counter = Counter.zero()
    kind: str = Counter.kind
    assert (made.peek(), zero.peek(), kind) == (7, 0, "counter")
    other: Counter = bump(c, 2)
    assert other.peek() == 7
    merged: dict[str, Counter] = c.merge([c])
    assert merged["c"].peek() == 7
    later: int = c.later()
    assert later == 7
    with c.session() as at:
        s1: int = at
    with c as inside:
        q: int = inside.add(1)
    assert (s1, q) == (7, 8)
    items: list[int] = [i for i in Counter(3)]
    assert items == [0, 1, 2]
    box = Box(3)
    got: int = box.get()
    lst: list[int] = box.put(4)
    assert (got, lst) == (3, [4])
    reader: Reader[object] = Reader(1)  # covariant
    assert reader.read() == 1
    me: Child = Child().me()
    pong: str = me.ping()
    up: Base = Child().parent()
    assert (pong, up.ping()) == ("pong", "pong")
    same: str = ident("x")
    w: int = weird(object())
    text: str = plain(1, flag=True)
    assert (same, w, text, VERSION, LIMIT, Color.RED.value) == ("x", 1, "1True", "1.0", 10, 1)


async def asynchronous() -> None:
    a: int = await double.aio(2)
    ys: list[int] = [y async for y in count.aio(3)]
    c = Counter(1)
    n: int = await c.add.aio(2)
    strs: list[str] = [x async for x in c.steps.aio(2)]
    made: Counter = await Counter.make.aio(1)
    zero: Counter = await Counter.zero.aio()
    other: Counter = await bump.aio(c)
    async with c.session() as at:
        s1: int = at
    async with c as inside:
        q: int = await inside.add.aio(1)
    items: list[int] = [i async for i in Counter(2)]
    got: str = await Box("s").get.aio()
    me: Child = await Child().me.aio()
    assert (a, ys, n, strs, made.peek(), zero.peek()) == (4, [0, 1, 2], 3, ["0", "1"], 1, 0)
    assert (other.peek(), s1, q, items, got, await me.ping.aio()) == (5, 4, 5, [0, 1], "s", "pong")


if __name__ == "__main__":
    blocking()
    asyncio.run(asynchronous())
    s.close()
    print("ok")
"""

# Each wrong use, with what mypy says about it.
WRONG = [
    ("a: str = double(1)", 'expression has type "int", variable has type "str"'),
    ("b: str = await double.aio(1)", 'expression has type "int", variable has type "str"'),
    ("d: str = Counter(1).add(1)", 'expression has type "int", variable has type "str"'),
    ('Counter(1).add("x")', 'has incompatible type "str"; expected "int"'),
    ("e: int = await Counter(1).add(1)", 'Incompatible types in "await"'),
    ("f: str = await Counter.make.aio(1)", 'expression has type "Counter", variable has type'),
    ("bump(3)", 'has incompatible type "int"; expected "Counter"'),
    ("for x in count.aio(3): pass", '"AsyncGenerator[int, None]" has no attribute "__iter__"'),
    ("async for x in count(3): pass", 'has no attribute "__aiter__"'),
    ("for y in Counter(1): y.upper()", '"int" has no attribute "upper"'),
    ("g: str = Box(1).get()", 'expression has type "int", variable has type "str"'),
    ("Counter(1).nothing()", '"Counter" has no attribute "nothing"'),
    ("h: str = Counter(1).value", 'expression has type "int", variable has type "str"'),
    ("with Counter(1).session() as k: k.upper()", '"int" has no attribute "upper"'),
    ("count(3, 1)", "Too many positional arguments"),
    ("i: Child = Base().me()", 'expression has type "Base", variable has type "Child"'),
]


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp_path), env.get("PYTHONPATH")]))
    return env


def _run(tmp_path: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=tmp_path,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _mypy(tmp_path: Path, *files: str) -> subprocess.CompletedProcess[str]:
    return _run(tmp_path, "-m", "mypy", "--strict", "--no-incremental", *files, timeout=200)


@pytest.fixture
def lib(tmp_path: Path) -> Path:
    (tmp_path / "libmod.py").write_text(LIBRARY, encoding="utf-8")
    r = _run(tmp_path, "-m", "aiosync.type_stubs", "libmod")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "libmod.pyi").is_file()
    assert "libmod.pyi" in r.stdout
    return tmp_path


def test_the_stub_has_the_blocking_api(lib):
    stub = (lib / "libmod.pyi").read_text(encoding="utf-8")
    for line in [
        "class __double_spec(typing_extensions.Protocol):",
        "def __call__(self, x: int) -> int:",
        "async def aio(self, x: int) -> int: ...",
        "double: __double_spec",
        "def __call__(self, n: int, *, step: int = ...) -> "
        "collections.abc.Generator[int, None, None]: ...",
        "def aio(self, n: int, *, step: int = ...) -> collections.abc.AsyncGenerator[int, None]",
        # the implementation class is the wrapper in the wrapped API
        "def __call__(self, c: Counter, by: int = ...) -> Counter: ...",
        "make: typing.ClassVar[__make_spec]",
        "def __enter__(self) -> Counter: ...",
        "async def __aexit__(self, *exc: object) -> None: ...",
        "def __iter__(self) -> collections.abc.Iterator[int]: ...",
        "kind: typing.ClassVar[str]",
        "def session(self) -> _BlockingAsyncCM[int]: ...",
        "def later(self) -> int: ...",
        "class Child(Base):",
        "me: __me_spec[typing_extensions.Self]",
        "get: __get_spec[T]",
        '_T_co_inner_co = typing.TypeVar("_T_co_inner_co", covariant=True)',
        # an annotation that names nothing is Any, without a crash
        "def __call__(self, x: typing.Any) -> int: ...",
        # everything else keeps its own signature (the implementation class too)
        "def plain(x: int, *, flag: bool = ...) -> str: ...",
        "async def plain_async(x: int) -> list[_Counter]: ...",
        "async def add(self, k: int) -> int:",
        "VERSION: str",
        "LIMIT: int",
        'T = typing.TypeVar("T")',
        "class Color(enum.Enum):",
        "s: aiosync.Synchronizer",
    ]:
        assert line in stub, line
    assert '"""Twice x."""' in stub
    assert "NotDefinedAnywhere" not in stub
    assert "_aiosync_" not in stub


def test_right_usage_passes_mypy_strict_and_runs(lib):
    (lib / "use_ok.py").write_text(GOOD, encoding="utf-8")
    r = _mypy(lib, "use_ok.py", "libmod.pyi")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Success: no issues found in 2 source files" in r.stdout
    r = _run(lib, "use_ok.py", timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"


def test_wrong_usage_fails_mypy_with_the_expected_messages(lib):
    lines = ["from libmod import Base, Box, Child, Counter, bump, count, double", ""]
    lines += ["", "async def wrong() -> None:"]
    expected: dict[int, str] = {}
    for code, message in WRONG:
        lines.append("    " + code)
        expected[len(lines)] = message
    (lib / "use_bad.py").write_text("\n".join(lines) + "\n", encoding="utf-8")
    r = _mypy(lib, "use_bad.py")
    assert r.returncode == 1, r.stdout + r.stderr
    errors: dict[int, list[str]] = {}
    for m in re.finditer(r"^use_bad\.py:(\d+): error: (.*)$", r.stdout, re.M):
        errors.setdefault(int(m.group(1)), []).append(m.group(2))
    for line, message in expected.items():
        got = errors.get(line, [])
        assert any(message in e for e in got), (line, message, got, r.stdout)
    assert set(errors) <= set(expected), r.stdout  # none in the stub, none elsewhere


def test_stdout_prints_the_stub_and_writes_nothing(tmp_path):
    (tmp_path / "libmod.py").write_text(LIBRARY, encoding="utf-8")
    r = _run(tmp_path, "-m", "aiosync.type_stubs", "--stdout", "libmod")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("# Generated by `python -m aiosync.type_stubs libmod`.")
    assert "double: __double_spec" in r.stdout
    assert not (tmp_path / "libmod.pyi").exists()


def test_a_module_that_cannot_be_imported_fails_clearly(tmp_path):
    r = _run(tmp_path, "-m", "aiosync.type_stubs", "no_such_module")
    assert r.returncode != 0
    assert "cannot import 'no_such_module': ModuleNotFoundError" in r.stderr
    (tmp_path / "broken.py").write_text("raise RuntimeError('boom')\n", encoding="utf-8")
    r = _run(tmp_path, "-m", "aiosync.type_stubs", "broken")
    assert r.returncode != 0
    assert "cannot import 'broken': RuntimeError: boom" in r.stderr
    assert not (tmp_path / "broken.pyi").exists()


def test_a_package_stub_goes_beside_its_init_and_names_reexports(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "_impl.py").write_text(
        textwrap.dedent(
            """
            class _Api:
                async def get(self, key: str) -> bytes:
                    return key.encode()

            def helper(x: int) -> int:
                return x
            """
        ),
        encoding="utf-8",
    )
    (pkg / "__init__.py").write_text(
        textwrap.dedent(
            """
            from aiosync import Synchronizer
            from . import _impl
            from ._impl import helper

            s = Synchronizer()
            Api = s.wrap(_impl._Api, name="Api")
            __all__ = ["Api", "helper"]
            """
        ),
        encoding="utf-8",
    )
    r = _run(tmp_path, "-m", "aiosync.type_stubs", "pkg")
    assert r.returncode == 0, r.stderr
    stub = (pkg / "__init__.pyi").read_text(encoding="utf-8")
    assert '__all__ = ["Api", "helper"]' in stub
    assert "from pkg._impl import helper as helper" in stub
    assert "def __call__(self, key: str) -> bytes: ..." in stub
    (tmp_path / "use.py").write_text(
        "from pkg import Api, helper\n\nx: bytes = Api().get('k')\ny: int = helper(1)\n",
        encoding="utf-8",
    )
    r = _mypy(tmp_path, "use.py")
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_module_docstring_example_runs(tmp_path):
    doc = aiosync.type_stubs.__doc__ or ""
    blocks = re.findall(r"```python\n(.*?)```", doc, re.S)
    assert len(blocks) == 1
    path = tmp_path / "example.py"
    path.write_text(blocks[0], encoding="utf-8")
    r = subprocess.run(
        [sys.executable, str(path)], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert r.returncode == 0, r.stderr
