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
