"""Shared helpers: run a coroutine on a fresh loop in a thread, with a deadline."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any

import pytest

DEADLINE = 20.0


def run_in_loop_thread(coro_factory, *, timeout: float = DEADLINE) -> threading.Thread:
    """Starts a thread that runs `asyncio.run(coro_factory())`; errors are re-raised by join."""
    errors: list[BaseException] = []

    def main() -> None:
        try:
            asyncio.run(asyncio.wait_for(coro_factory(), timeout))
        except BaseException as e:  # noqa: BLE001 - re-raised in the test thread
            errors.append(e)

    t = threading.Thread(target=main, daemon=True)
    t.errors = errors  # type: ignore[attr-defined]
    t.start()
    return t


def join_all(threads, timeout: float = DEADLINE) -> None:
    for t in threads:
        t.join(timeout)
        assert not t.is_alive(), "thread did not finish in time (deadlock?)"
        for e in getattr(t, "errors", []):
            raise e


@pytest.fixture
def arun():
    """Runs a coroutine to completion with a deadline, so a hang fails the test."""

    def run(coro: Coroutine[Any, Any, Any], timeout: float = DEADLINE) -> Any:
        return asyncio.run(asyncio.wait_for(coro, timeout))

    return run


def run_in_thread(fn, *args, **kwargs) -> threading.Thread:
    """Starts a daemon thread running `fn(*args, **kwargs)`; its result is kept in
    `t.result` and its exception re-raised by `join_all`."""
    errors: list[BaseException] = []

    def main() -> None:
        try:
            t.result = fn(*args, **kwargs)  # type: ignore[attr-defined]
        except BaseException as e:  # noqa: BLE001 - re-raised in the test thread
            errors.append(e)

    t = threading.Thread(target=main, daemon=True)
    t.errors = errors  # type: ignore[attr-defined]
    t.result = None  # type: ignore[attr-defined]
    t.start()
    return t


def wait_until(predicate, timeout: float = DEADLINE, interval: float = 0.001) -> None:
    """Polls `predicate()` from a thread until it is true; fails after `timeout` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(interval)


@pytest.fixture
def loop_threads():
    """Factory: `loop_threads(n)` starts n event loops, each running forever in its own
    thread, and returns them; submit work with `asyncio.run_coroutine_threadsafe`. The
    loops are stopped and closed at teardown."""
    started: list[tuple[asyncio.AbstractEventLoop, threading.Thread]] = []

    def start(n: int = 1) -> list[asyncio.AbstractEventLoop]:
        loops = []
        for _ in range(n):
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def main(loop=loop, ready=ready) -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                loop.run_forever()

            t = threading.Thread(target=main, daemon=True)
            t.start()
            assert ready.wait(DEADLINE), "event loop thread did not start"
            started.append((loop, t))
            loops.append(loop)
        return loops

    yield start
    for loop, _ in started:
        loop.call_soon_threadsafe(loop.stop)
    for loop, t in started:
        t.join(DEADLINE)
        if not t.is_alive():
            loop.close()


def run_python_isolated(code: str, timeout: float = DEADLINE, env=None):
    """Runs `code` in a fresh interpreter with a hard deadline and returns the completed
    process; fails the test if the deadline passes. For code that may deadlock while
    holding the GIL: that freezes the whole process, so no deadline inside it (pytest-timeout
    included) can fire, except faulthandler's watchdog, which needs no GIL."""
    import os
    import subprocess
    import sys

    watchdog = f"import faulthandler; faulthandler.dump_traceback_later({timeout!r}, exit=True)\n"
    try:
        r = subprocess.run(
            [sys.executable, "-c", watchdog + code],
            capture_output=True,
            text=True,
            timeout=timeout + 10,
            env={**os.environ, **(env or {})},
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"child interpreter did not finish in {timeout}s (deadlock?)")
    if "Timeout (" in r.stderr:
        msg = f"child interpreter did not finish in {timeout}s (deadlock?)"
        pytest.fail(f"{msg}\n{r.stderr[-3000:]}")
    return r


def rerun_in_subprocess(request, timeout: float = DEADLINE) -> bool:
    """In the test process: runs the calling test alone in a child pytest (xfail markers
    ignored) with a hard deadline, asserts it passed, and returns True; the caller then
    returns. In that child it returns False, and the test runs as usual."""
    import os

    if os.environ.get("AIOSYNC_TEST_CHILD"):
        return False
    root = str(request.config.rootpath)
    args = ["-q", "-s", "--runxfail", "-p", "no:cacheprovider", "-p", "no:faulthandler"]
    args += ["--rootdir", root, request.node.nodeid]
    code = f"import os, sys, pytest\nos.chdir({root!r})\nsys.exit(pytest.main({args!r}))\n"
    r = run_python_isolated(code, timeout, env={"AIOSYNC_TEST_CHILD": "1"})
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    return True
