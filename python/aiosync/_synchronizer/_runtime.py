"""The synchronizer's event loop thread, and how calls cross to it and back.

A call made from another thread or another loop starts a task on the synchronizer's loop
and waits for it on an `aiosync.Event`: blocking waits release the GIL and let Ctrl-C
through, asyncio waits are woken on their own loop — no `concurrent.futures` per call.
Where either side would go to sleep just before the other answers, it spins a little
first (the binding's `_Handover`: bounded, adaptive, GIL released).
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import os
import selectors
import sys
import threading
import warnings
import weakref
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Literal

from .._aiosync import Event
from .._aiosync import _Handover as Handover

# Files whose frames are dropped from the tracebacks of exceptions that crossed over.
_HIDDEN_DIRS = (
    os.path.dirname(os.path.abspath(__file__)),
    os.path.dirname(os.path.abspath(asyncio.__file__)),
)


class SynchronizerError(RuntimeError):
    """A misuse of a synchronizer that would deadlock or can no longer work."""


class SynchronizerDeadlockError(SynchronizerError):
    """A blocking call made where it could never finish: on the synchronizer's own loop
    thread, or in a cycle of synchronizers blocking on each other."""


class SynchronizerClosedError(SynchronizerError):
    """A call on a synchronizer after `close()`."""


# The short names this package uses.
DeadlockError = SynchronizerDeadlockError
ClosedError = SynchronizerClosedError


def _hidden(tb: TracebackType) -> bool:
    name = tb.tb_frame.f_code.co_filename
    return name.startswith(_HIDDEN_DIRS)


def clean_traceback(tb: TracebackType | None) -> TracebackType | None:
    """`tb` without the frames of this package and of asyncio (the user's frames only)."""
    frames = []
    while tb is not None:
        if not _hidden(tb):
            frames.append(tb)
        tb = tb.tb_next
    out = None
    for t in reversed(frames):
        out = TracebackType(out, t.tb_frame, t.tb_lasti, t.tb_lineno)
    return out


class HideFrames:
    """`with HideFrames():` around the code that re-raises a user's exception: on the way
    out its traceback loses this package's and asyncio's frames."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, typ: Any, exc: BaseException | None, tb: Any) -> Literal[False]:
        if exc is not None and not isinstance(exc, (KeyboardInterrupt, SynchronizerError)):
            exc.__traceback__ = clean_traceback(exc.__traceback__)
        return False


HIDE = HideFrames()

# Which synchronizer's loop runs on this thread, and which one this thread is blocked on
# (for the cycle check).
_local = threading.local()
_blocked_on: dict[int, Any] = {}  # thread id -> Runtime it waits for
_blocked_lock = threading.Lock()


async def _guarded(aw: Awaitable[Any], call: _Call, pending: set[_Call]) -> None:
    """The task of one call: runs `aw`, records its outcome and wakes the caller itself
    (one loop iteration sooner than a done-callback). Every exception is recorded, none
    escapes: a `KeyboardInterrupt` or `SystemExit` raised here would stop the loop thread
    instead of ending the call."""
    if call.cancelled:  # cancelled before its first step: `aw` never runs
        pending.discard(call)
        _discard(aw)
        call.aw = None
        call.set(None, asyncio.CancelledError())
        return
    call.started = True
    call.aw = None
    try:
        value = await aw
        if call.post is not None:
            value = call.post(value)
    except BaseException as e:
        call.set(None, e)
    else:
        call.set(value, None)
    finally:
        pending.discard(call)


def _discard(aw: Any) -> None:
    """Closes an awaitable that will never run, so that it is not reported as never
    awaited (its call was cancelled or its synchronizer closed first)."""
    close = getattr(aw, "close", None)
    if close is not None:
        close()


class _Call:
    """One call crossing to the loop: its outcome, and the task once started."""

    __slots__ = (
        "done",
        "value",
        "error",
        "task",
        "cancelled",
        "started",
        "aw",
        "post",
        "future",
        "loop",
    )

    def __init__(self, aw: Awaitable[Any], post: Callable[[Any], Any] | None) -> None:
        self.aw: Awaitable[Any] | None = aw
        self.post = post
        self.started = False
        self.done = Event()
        self.value: Any = None
        self.error: BaseException | None = None
        self.task: asyncio.Task[Any] | None = None
        self.cancelled = False
        # `_future=True`: resolved with the outcome, from the loop thread.
        self.future: concurrent.futures.Future[Any] | None = None
        # The loop it was (perhaps) handed to: set just before the hand-over.
        self.loop: asyncio.AbstractEventLoop | None = None

    def set(self, value: Any, error: BaseException | None) -> None:
        """Records the outcome (first one wins) and wakes the caller."""
        if self.done.is_set():
            return
        self.value, self.error = value, error
        self.task = None
        fut = self.future
        if fut is not None:
            if isinstance(error, asyncio.CancelledError):
                fut.cancel()
            elif fut.set_running_or_notify_cancel():  # false if its holder cancelled it
                if error is not None:
                    fut.set_exception(error)
                else:
                    fut.set_result(value)
        self.done.set()

    def outcome(self) -> Any:
        error = self.error
        if error is None:
            return self.value
        self.error = None  # no reference cycle through the traceback
        try:
            with HIDE:
                raise error
        finally:
            del error


class Runtime:
    """The loop thread of one synchronizer: started on first use, restarted after a fork,
    stopped by `close()`."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
        self._pid = os.getpid()
        self._pending: set[_Call] = set()  # calls whose task exists, until it ends
        self._handover = Handover()
        _runtimes.add(self)

    # -- the loop ---------------------------------------------------------------------

    def loop(self) -> asyncio.AbstractEventLoop:
        """The running loop, started if need be. Never waits for the thread: callbacks
        scheduled before the loop runs are run when it starts."""
        loop = self._loop
        if loop is not None and self._pid == os.getpid():
            return loop
        with self._lock:
            if self._closed:
                raise ClosedError("this Synchronizer is closed")
            if self._pid != os.getpid():
                self._after_fork()
            if self._loop is None:
                loop = _new_loop(self._handover)
                thread = threading.Thread(
                    target=self._run, args=(loop,), name=self._name, daemon=True
                )
                try:
                    thread.start()
                finally:
                    # Known only once its thread runs: a Ctrl-C inside `start()` must not
                    # leave a loop that nobody runs for every later call to wait on.
                    if thread.ident is not None:
                        self._loop, self._thread = loop, thread
                    else:
                        loop.close()
            assert self._loop is not None
            return self._loop

    def _run(self, loop: asyncio.AbstractEventLoop) -> None:
        _local.runtime = self
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            try:
                _cancel_all(loop)
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                # Tasks cancelled before their first step never ran `_guarded`: their
                # callers learn here that the close cancelled them, as it did the others.
                for call in list(self._pending):
                    _discard(call.aw)
                    call.set(None, asyncio.CancelledError())
                self._pending.clear()
                asyncio.set_event_loop(None)
                loop.close()

    def _after_fork(self) -> None:
        """In a forked child: the parent's loop thread does not exist here; start afresh
        (the lock was made new with the child, see `_reinit_after_fork`)."""
        self._loop, self._thread = None, None
        self._pid = os.getpid()
        self._pending = set()
        self._handover = Handover()

    def is_loop_thread(self) -> bool:
        return getattr(_local, "runtime", None) is self

    def close(self, timeout: float = 10.0) -> None:
        """Cancels its tasks, finalizes suspended async generators, stops the loop and
        joins the thread. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None or self._pid != os.getpid():
            return
        if self.is_loop_thread():
            loop.stop()  # closed from its own thread: it ends when this callback returns
            return
        try:
            loop.call_soon_threadsafe(loop.stop)
        except RuntimeError:  # already closed
            return
        thread.join(timeout)

    @property
    def closed(self) -> bool:
        return self._closed

    # -- calls ------------------------------------------------------------------------

    def _start(self, call: _Call) -> None:
        if call.cancelled:
            _discard(call.aw)
            call.aw = None
            call.set(None, asyncio.CancelledError())
            return
        # The running loop: `close()` may have let go of `self._loop` already.
        assert call.aw is not None
        self._pending.add(call)
        call.task = asyncio.get_running_loop().create_task(_guarded(call.aw, call, self._pending))

    def _abandon(self, call: _Call) -> None:
        """On the loop: the caller gave up on `call` (Ctrl-C, cancellation). A started
        task is cancelled; one not started yet sees `cancelled` at its first step; a call
        whose hand-over never arrived is ended here."""
        call.cancelled = True
        if call.done.is_set():
            return
        task = call.task
        if task is None:  # `_start` never ran for it: its hand-over was lost
            _discard(call.aw)
            call.aw = None
            call.set(None, asyncio.CancelledError())
        elif call.started:
            task.cancel()  # before its first step, `_guarded` sees `cancelled` instead

    def _schedule(self, call: _Call) -> None:
        """Hands `call` to the loop (starting it if need be)."""
        loop = self.loop()
        call.loop = loop
        loop.call_soon_threadsafe(self._start, call)

    def _give_up(self, call: _Call) -> bool:
        """After an interruption anywhere in `_schedule` or the wait: makes sure the call
        ends (cancelled if it runs). Whether it may still be running (then wait for it)."""
        loop = call.loop
        if loop is None:  # never handed over
            _discard(call.aw)
            call.aw = None
            return False
        call.cancelled = True
        try:
            loop.call_soon_threadsafe(self._abandon, call)
        except RuntimeError:  # its loop is closed: nothing of it runs any more
            return False
        return True

    def submit(
        self,
        aw: Awaitable[Any],
        post: Callable[[Any], Any] | None = None,
        future: concurrent.futures.Future[Any] | None = None,
    ) -> _Call:
        """Starts `aw` on the loop (`post` maps its result there); the call's outcome
        comes through the returned `_Call`, and `future` if given."""
        call = _Call(aw, post)
        call.future = future
        try:
            self._schedule(call)
        except BaseException:
            self._give_up(call)
            raise
        return call

    def run_blocking(self, aw: Awaitable[Any], post: Callable[[Any], Any] | None = None) -> Any:
        """Runs `aw` on the loop, blocking this thread until it ends. Ctrl-C cancels it,
        waits for its cleanup, then raises `KeyboardInterrupt`."""
        if self.is_loop_thread():
            _discard(aw)
            raise DeadlockError(
                "a blocking call from the synchronizer's own event loop thread would never "
                "finish; use `await f.aio(...)` there"
            )
        if getattr(_local, "runtime", None) is None:
            # A plain thread: no loop waits on it, so it can be in no cycle.
            return self._call_blocking(_Call(aw, post))
        me = threading.get_ident()
        # A loop thread blocking on another synchronizer: checked and recorded at once,
        # before the call starts, so that two loop threads blocking on each other's
        # synchronizers see each other, whichever goes first.
        with _blocked_lock:
            try:
                self._check_cycle()
            except BaseException:
                _discard(aw)
                raise
            _blocked_on[me] = self
        try:
            return self._call_blocking(_Call(aw, post))
        finally:
            with _blocked_lock:
                _blocked_on.pop(me, None)

    def _call_blocking(self, call: _Call) -> Any:
        # One `try` from the hand-over to the outcome: a Ctrl-C landing anywhere in it,
        # even as the call is being queued, cancels the inner task and waits for its
        # cleanup before the interruption goes on.
        try:
            self._handover.call(self._schedule, call, call.done)
        except BaseException:
            if self._give_up(call):
                _wait_uninterrupted(call.done)
            raise
        return call.outcome()

    async def run_async(self, aw: Awaitable[Any], post: Callable[[Any], Any] | None = None) -> Any:
        """Runs `aw` on the loop for an awaiting caller on another loop. Cancelling the
        caller cancels the inner task and waits for its cleanup. The caller first waits up
        to 50 µs for the result with the GIL released (its own loop waits too, as it
        would for a callback that long), and only then awaits it; that wait stops while
        results come later than that (see `_Handover`)."""
        if self.is_loop_thread():  # already on the synchronizer's loop
            value = await aw
            return value if post is None else post(value)
        call = _Call(aw, post)
        try:
            if not self._handover.call_awaited(self._schedule, call, call.done):
                await call.done.wait_async()
        except BaseException:
            if not self._give_up(call):
                raise
            while not call.done.is_set():
                try:
                    await call.done.wait_async()
                except asyncio.CancelledError:
                    continue
            raise
        return call.outcome()

    def finalize_blocking(self, aw: Awaitable[Any], timeout: float) -> None:
        """Runs the finalization `aw` (an async generator's `aclose()`) on the loop,
        waiting at most `timeout` seconds: past that it goes on there in the background."""
        if self.is_loop_thread():
            _discard(aw)
            return
        call = self.submit(aw)
        if call.done.wait_blocking(timeout):
            call.outcome()

    async def finalize_async(self, aw: Awaitable[Any], timeout: float) -> None:
        """`finalize_blocking` for an awaiting caller on another loop."""
        if self.is_loop_thread():
            await aw
            return
        call = self.submit(aw)
        try:
            await asyncio.wait_for(call.done.wait_async(), timeout)
        except asyncio.TimeoutError:
            return
        call.outcome()

    def _check_cycle(self) -> None:
        """A blocking call from synchronizer A's loop thread into B, while B's loop thread
        is itself blocked on A: neither loop could ever run the other's call."""
        here = getattr(_local, "runtime", None)
        if here is None:
            return
        seen = {id(here)}
        target: Runtime | None = self
        # The caller holds _blocked_lock.
        while target is not None:
            if id(target) in seen:
                raise DeadlockError(
                    "a cycle of synchronizers blocking on each other's loops would never finish"
                )
            seen.add(id(target))
            thread = target._thread
            target = _blocked_on.get(thread.ident) if thread and thread.ident else None


if sys.platform == "linux":

    class _HandoverSelector(selectors.EpollSelector):
        """The selector of a synchronizer's loop: before it blocks, its loop thread looks
        for the next call a little (see `_Handover.idle`)."""

        def __init__(self, handover: Handover) -> None:
            super().__init__()
            self._handover = handover

        def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
            if timeout is not None and timeout <= 0:
                return super().select(timeout)
            self._handover.idle(self.fileno(), timeout)
            try:
                return super().select(timeout)
            finally:
                self._handover.busy()


def _new_loop(handover: Handover) -> asyncio.AbstractEventLoop:
    """The synchronizer's loop: asyncio's own on a `_HandoverSelector` where the policy
    makes asyncio's default loop on epoll, else whatever the policy makes."""
    if sys.platform != "linux":
        return asyncio.new_event_loop()
    with warnings.catch_warnings():  # the policy system is deprecated from 3.14
        warnings.simplefilter("ignore", DeprecationWarning)
        default = type(asyncio.get_event_loop_policy()) is asyncio.DefaultEventLoopPolicy
    if not default:
        return asyncio.new_event_loop()
    return asyncio.SelectorEventLoop(_HandoverSelector(handover))


def _wait_uninterrupted(done: Event) -> None:
    """Waits for `done`, letting further Ctrl-C presses wait too (the cleanup must end)."""
    while True:
        try:
            done.wait_blocking()
            return
        except KeyboardInterrupt:
            continue


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for t in tasks:
        t.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))


_runtimes: weakref.WeakSet[Runtime] = weakref.WeakSet()


def _reinit_after_fork() -> None:
    for r in list(_runtimes):
        r._lock = threading.Lock()  # it may have been held by a thread that is gone
        r._after_fork()
    global _blocked_lock
    _blocked_lock = threading.Lock()
    _blocked_on.clear()


def _close_all() -> None:
    for r in list(_runtimes):
        try:
            r.close(timeout=2.0)
        except Exception:  # interpreter exit: never print, never hang
            pass


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_after_fork)
atexit.register(_close_all)

__all__ = [
    "ClosedError",
    "DeadlockError",
    "HIDE",
    "Runtime",
    "SynchronizerError",
    "clean_traceback",
]
