"""CPython's own test suites for threading, queue and asyncio primitives, run on aiosync.

The suites are read from the running interpreter's `test` package (the one next to its
standard library); if that package, or one of the four suites, is missing or would skip
itself, importing this module raises `ImportError`, so pytest reports a collection error
rather than silently running nothing.

How each suite is pointed at aiosync:

- `test.lock_tests` holds abstract base classes parametrised by class attributes, exactly
  as `test_threading.py` uses them: here each base is subclassed with
  `locktype = staticmethod(aiosync.Lock)`, `eventtype`, `condtype`, `semtype`,
  `barriertype` (plus `ConditionAsRLockTests`, a `Condition` used as its own RLock, as
  in `test_threading.py`). Nothing is patched: `threading.Lock()` and
  `threading.BrokenBarrierError` inside the suite stay the real ones, so the suite also
  checks that aiosync accepts a foreign lock and raises an exception `threading` knows.
- `test.test_queue` parametrises its mixins by a `queue` class attribute (it sets it to
  `py_queue` / `c_queue`, made with `import_fresh_module`). Each mixin is subclassed with
  `queue` set to a module-like namespace whose `Queue`, `LifoQueue`, `PriorityQueue`,
  `Empty`, `Full` and `ShutDown` are aiosync's. The `SimpleQueue` tests are not run:
  aiosync has no SimpleQueue.
- `test.test_asyncio.test_locks` and `test.test_asyncio.test_queues` name their classes
  as `asyncio.Lock` etc., some at class-definition time (`q_class = asyncio.Queue`), so
  patching module globals after import would be too late and patching the real `asyncio`
  module would change asyncio itself (and every other user of it in this process).
  Instead each file is executed afresh as a private module (`aiosync_stdlib.<name>`; the
  copy in `sys.modules["test..."]` is never touched) whose `__builtins__` has an
  `__import__` that answers `import asyncio` with a proxy module: the proxy's
  `Lock`, `Condition`, `Event`, `Semaphore`, `BoundedSemaphore`, `Barrier`,
  `BrokenBarrierError`, `Queue`, `LifoQueue`, `PriorityQueue`, `QueueEmpty`, `QueueFull`
  and `QueueShutDown` are aiosync's and every other attribute is the real asyncio's
  (`asyncio.sleep`, `create_task`, `TaskGroup`, ...). The hook applies only to code
  compiled from that file (functions resolve builtins through their own globals), so
  asyncio's internals and every other module keep the real classes.

The `unittest.TestCase` classes so made are module globals here, named with a prefix
(`Threading`, `QueueModule`, `Asyncio`) so pytest collects them with distinct ids such as
`AsyncioLockTests::test_repr`. Tests listed in `excluded.py` (private attributes only)
are replaced by a `unittest.skip` with the reason given there. Every test has a 30 s
timeout (pytest-timeout), so a hang shows as a failure.
"""

from __future__ import annotations

import asyncio
import builtins
import importlib.util
import sys
import sysconfig
import types
import unittest
from pathlib import Path
from typing import Any

import aiosync
import pytest

pytestmark = pytest.mark.timeout(30)

_HERE = Path(__file__).resolve().parent


def _load_by_path(name: str, path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_LISTS = _load_by_path("aiosync_stdlib_excluded", _HERE / "excluded.py")
EXCLUDED: dict[str, str] = _LISTS.EXCLUDED
TO_FIX: dict[str, str] = _LISTS.TO_FIX


# --- the interpreter's own `test` package ------------------------------------------------


def _stdlib_test_package() -> Path:
    """The directory of the interpreter's `test` package; ImportError if it is missing,
    is not the one next to the standard library, or skips itself on import."""
    stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()
    try:
        import test  # the interpreter's regression-test package
    except (ImportError, unittest.SkipTest) as e:
        raise ImportError(
            f"the interpreter's `test` package is missing ({e!r}); install the Python "
            "test suite (e.g. Debian's libpython3.X-testsuite) to run tests/stdlib"
        ) from e
    where = Path(test.__file__).resolve().parent
    if where != stdlib / "test":
        raise ImportError(f"`test` resolves to {where}, not the interpreter's {stdlib / 'test'}")
    return where


def _import_suite(name: str) -> types.ModuleType:
    """Imports `test.<...>` normally; a missing module or a module-level SkipTest is an
    ImportError, so collection fails instead of skipping."""
    try:
        return importlib.import_module(name)
    except unittest.SkipTest as e:
        raise ImportError(f"{name} skipped itself on import: {e}") from e


def _suite_path(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise ImportError(f"{name} not found in the interpreter's `test` package")
    path = Path(spec.origin).resolve()
    if not path.is_relative_to(_TEST_DIR):
        raise ImportError(f"{name} resolves to {path}, outside {_TEST_DIR}")
    return path


_TEST_DIR = _stdlib_test_package()
lock_tests = _import_suite("test.lock_tests")
test_queue = _import_suite("test.test_queue")
_import_suite("test.test_asyncio")  # runs its package-level checks (sockets, futures)


# --- substitutes -------------------------------------------------------------------------

queue_namespace = types.ModuleType(
    "aiosync_queue", "A stand-in for the `queue` module, with aiosync's classes."
)
queue_namespace.Queue = aiosync.Queue
queue_namespace.LifoQueue = aiosync.LifoQueue
queue_namespace.PriorityQueue = aiosync.PriorityQueue
queue_namespace.Empty = aiosync.QueueEmpty
queue_namespace.Full = aiosync.QueueFull
queue_namespace.ShutDown = aiosync.QueueShutDown

ASYNCIO_SUBSTITUTES = {
    name: getattr(aiosync, name)
    for name in (
        "Lock",
        "Condition",
        "Event",
        "Semaphore",
        "BoundedSemaphore",
        "Barrier",
        "BrokenBarrierError",
        "Queue",
        "LifoQueue",
        "PriorityQueue",
        "QueueEmpty",
        "QueueFull",
        "QueueShutDown",
    )
}


class _AsyncioProxy(types.ModuleType):
    """`asyncio` as the substituted suites see it: aiosync's primitives, the real asyncio
    for everything else."""

    def __getattr__(self, name: str):
        return getattr(asyncio, name)


asyncio_proxy = _AsyncioProxy("asyncio", asyncio.__doc__)
asyncio_proxy.__dict__.update(ASYNCIO_SUBSTITUTES)


def _hooked_import(name, globals=None, locals=None, fromlist=(), level=0):
    """`__import__` for the substituted suites: `import asyncio` (and the top-level name
    bound by `import asyncio.x`) gives the proxy; `from asyncio import Lock` gets the
    proxy's attributes; anything else is the ordinary import."""
    if level == 0 and (name == "asyncio" or (name.startswith("asyncio.") and not fromlist)):
        builtins.__import__(name, globals, locals, fromlist, level)  # load submodules
        return asyncio_proxy
    return builtins.__import__(name, globals, locals, fromlist, level)


def load_with_aiosync_asyncio(suite: str) -> types.ModuleType:
    """Executes the source of `suite` (e.g. `test.test_asyncio.test_locks`) as a new
    private module in which `import asyncio` yields `asyncio_proxy`."""
    path = _suite_path(suite)
    name = "aiosync_stdlib." + suite.rsplit(".", 1)[-1]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    hooked_builtins = dict(builtins.__dict__)
    hooked_builtins["__import__"] = _hooked_import
    module.__builtins__ = hooked_builtins  # exec() keeps a __builtins__ already present
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except unittest.SkipTest as e:
        raise ImportError(f"{suite} skipped itself on import: {e}") from e
    if module.asyncio is not asyncio_proxy:
        raise ImportError(f"{suite}: `import asyncio` was not redirected to aiosync")
    return module


# --- generating the collected TestCase classes -------------------------------------------

_GENERATED: dict[str, type] = {}


def _copy_function(f: Any) -> Any:
    """A copy of `f` to mark, so that the suite's own function stays unmarked."""
    g = types.FunctionType(f.__code__, f.__globals__, f.__name__, f.__defaults__, f.__closure__)
    g.__dict__.update(f.__dict__)
    g.__qualname__ = f.__qualname__
    return g


def _make(name: str, bases: tuple[type, ...], attrs: dict | None = None) -> type:
    """A TestCase subclass named `name` in this module; its tests listed in EXCLUDED are
    replaced by skips."""
    namespace = {"__module__": __name__, "__qualname__": name, **(attrs or {})}
    probe = type(name, bases, dict(namespace))
    for method in unittest.TestLoader().getTestCaseNames(probe):
        reason = EXCLUDED.get(f"{name}::{method}")
        if reason is not None:
            namespace[method] = unittest.skip(f"excluded: {reason}")(getattr(probe, method))
        elif f"{name}::{method}" in TO_FIX:
            test = unittest.expectedFailure(_copy_function(getattr(probe, method)))
            namespace[method] = pytest.mark.timeout(5)(test)
    cls = type(name, bases, namespace)
    _GENERATED[name] = cls
    globals()[name] = cls
    return cls


# test.lock_tests, as test_threading.py instantiates it
_make("ThreadingLockTests", (lock_tests.LockTests,), {"locktype": staticmethod(aiosync.Lock)})
_make("ThreadingRLockTests", (lock_tests.RLockTests,), {"locktype": staticmethod(aiosync.RLock)})
_make(
    "ThreadingConditionAsRLockTests",
    (lock_tests.RLockTests,),
    {"locktype": staticmethod(aiosync.Condition)},
)
_make("ThreadingEventTests", (lock_tests.EventTests,), {"eventtype": staticmethod(aiosync.Event)})
_make(
    "ThreadingConditionTests",
    (lock_tests.ConditionTests,),
    {"condtype": staticmethod(aiosync.Condition)},
)
_make(
    "ThreadingSemaphoreTests",
    (lock_tests.SemaphoreTests,),
    {"semtype": staticmethod(aiosync.Semaphore)},
)
_make(
    "ThreadingBoundedSemaphoreTests",
    (lock_tests.BoundedSemaphoreTests,),
    {"semtype": staticmethod(aiosync.BoundedSemaphore)},
)
_make(
    "ThreadingBarrierTests",
    (lock_tests.BarrierTests,),
    {"barriertype": staticmethod(aiosync.Barrier)},
)

# test.test_queue, with its `queue` parameter set to aiosync's classes
for _mixin in ("QueueTest", "LifoQueueTest", "PriorityQueueTest", "FailingQueueTest"):
    _make(
        "QueueModule" + _mixin,
        (getattr(test_queue, _mixin), unittest.TestCase),
        {"queue": queue_namespace},
    )

# test.test_asyncio.test_locks / test_queues, with `asyncio.X` redirected to aiosync.X
asyncio_suites = [
    load_with_aiosync_asyncio("test.test_asyncio.test_locks"),
    load_with_aiosync_asyncio("test.test_asyncio.test_queues"),
]
for _suite in asyncio_suites:
    for _name, _cls in sorted(vars(_suite).items()):
        if (
            isinstance(_cls, type)
            and issubclass(_cls, unittest.TestCase)
            and _cls.__module__ == _suite.__name__
        ):
            _make("Asyncio" + _name, (_cls,))

_stale = sorted(
    key
    for key in [*EXCLUDED, *TO_FIX]
    if key.partition("::")[0] not in _GENERATED
    or not callable(getattr(_GENERATED[key.partition("::")[0]], key.partition("::")[2], None))
)
if _stale:
    raise ImportError(f"excluded.py names tests that do not exist: {_stale}")

del _mixin, _suite, _name, _cls, _stale


def teardown_module() -> None:
    """What the asyncio suites' own tearDownModule does."""
    asyncio.set_event_loop_policy(None)
