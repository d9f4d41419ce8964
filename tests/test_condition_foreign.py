"""aiosync.Condition over a lock from outside aiosync (`threading.Lock()`,
`threading.RLock()`, objects with only `acquire()` / `release()`): used as
`threading.Condition` uses it, threading forms only; the asyncio forms raise TypeError."""

import _thread
import asyncio
import re
import threading

import aiosync
import pytest
from conftest import DEADLINE, join_all, run_in_thread, wait_until


def n_waiters(cond) -> int:
    """The waiter count the repr shows (`waiters:N`, absent when none)."""
    m = re.search(r"waiters:(\d+)\]>$", repr(cond))
    return int(m.group(1)) if m else 0


class OnlyAcquireRelease:
    """A lock with nothing but `acquire()` and `release()`, recording each call."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: list[tuple] = []

    def acquire(self, blocking=True, timeout=-1):
        self.calls.append(("acquire", blocking))
        return self._lock.acquire(blocking, timeout)

    def release(self):
        self.calls.append(("release",))
        self._lock.release()


class Lockish(OnlyAcquireRelease):
    """`OnlyAcquireRelease` with a context manager, as most locks have."""

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


class Failing(Lockish):
    """A lock whose `_release_save`, `_acquire_restore` or `_is_owned` raises when asked."""

    def __init__(self) -> None:
        super().__init__()
        self.fail: set[str] = set()

    def _check(self, what: str) -> None:
        if what in self.fail:
            raise OSError(f"{what} failed")

    def _is_owned(self):
        self._check("is_owned")
        return self._lock.locked()

    def _release_save(self):
        self._check("release_save")
        self._lock.release()
        return "saved"

    def _acquire_restore(self, saved):
        assert saved == "saved"
        self._check("acquire_restore")
        self._lock.acquire()

    def locked(self):
        return self._lock.locked()


# -- the lock is the foreign lock --------------------------------------------------------


def test_acquire_release_and_with_act_on_the_lock():
    lock = threading.Lock()
    cond = aiosync.Condition(lock)
    assert cond.acquire() is True
    assert not lock.acquire(False)
    assert cond.locked() and lock.locked()
    cond.release()
    assert lock.acquire(False)
    assert not cond.acquire(False)
    assert not cond.acquire(True, 0.01)
    assert not cond.acquire_blocking(False)
    lock.release()
    with cond:
        assert not lock.acquire(False)
    assert not lock.locked()
    assert cond.acquire_blocking(timeout=1) is True
    cond.release()
    assert repr(cond).endswith("[unlocked]>"), repr(cond)


def test_wait_times_out_and_holds_the_lock_again():
    lock = threading.Lock()
    cond = aiosync.Condition(lock)
    with cond:
        assert cond.wait(0.05) is False
        assert lock.locked() and not lock.acquire(False)
        assert cond.wait(0) is False
        assert cond.wait(-1) is False
        assert cond.wait_blocking(0.01) is False
        assert lock.locked()
        assert n_waiters(cond) == 0
    assert not lock.locked()


def test_rlock_every_level_released_while_waiting_and_restored():
    rlock = threading.RLock()
    cond = aiosync.Condition(rlock)

    def waiter():
        cond.acquire()
        cond.acquire()  # two levels
        assert cond.wait(DEADLINE) is True
        rlock.release()
        rlock.release()  # both levels were back
        with pytest.raises(RuntimeError):
            rlock.release()

    t = run_in_thread(waiter)
    wait_until(lambda: n_waiters(cond) == 1)
    # Only possible if the waiter released both levels.
    assert rlock.acquire(timeout=DEADLINE)
    cond.notify()
    rlock.release()
    join_all([t])


@pytest.mark.parametrize("make", [threading.Lock, threading.RLock, Lockish])
def test_producers_and_consumers_across_threads_end_exact(make):
    cond = aiosync.Condition(make())
    per_producer, producers, consumers = 300, 3, 3
    total = per_producer * producers
    items: list[int] = []
    taken: list[int] = []

    def produce(base: int) -> None:
        for i in range(per_producer):
            with cond:
                items.append(base + i)
                cond.notify()

    def consume() -> None:
        while True:
            with cond:
                # A lost notification fails here instead of hanging.
                assert cond.wait_for(lambda: items or len(taken) == total, DEADLINE)
                if not items:
                    cond.notify_all()  # everything is taken: release the others
                    return
                taken.append(items.pop())
                if len(taken) == total:
                    cond.notify_all()

    threads = [run_in_thread(consume) for _ in range(consumers)]
    threads += [run_in_thread(produce, p * per_producer) for p in range(producers)]
    join_all(threads)
    assert sorted(taken) == list(range(total))
    assert items == []
    assert n_waiters(cond) == 0


def test_notify_wakes_exactly_n_then_all():
    cond = aiosync.Condition(threading.Lock())
    woken: list[int] = []

    def waiter(i: int) -> None:
        with cond:
            assert cond.wait(DEADLINE) is True
            woken.append(i)

    threads = []
    for i in range(4):
        threads.append(run_in_thread(waiter, i))
        wait_until(lambda i=i: n_waiters(cond) == i + 1)
    with cond:
        cond.notify(2)
    wait_until(lambda: len(woken) == 2)
    assert sorted(woken) == [0, 1]  # oldest first
    assert n_waiters(cond) == 2
    with cond:
        cond.notify_all()
    join_all(threads)
    assert sorted(woken) == [0, 1, 2, 3]


def test_wait_for():
    cond = aiosync.Condition(threading.RLock())
    state = {"n": 0}
    with cond:
        assert cond.wait_for(lambda: "ready") == "ready"  # true at once: no wait
        assert cond.wait_for(lambda: state["n"], 0.02) == 0  # the last (false) value

    def bump() -> None:
        for _ in range(3):
            with cond:
                state["n"] += 1
                cond.notify_all()

    with cond:
        t = run_in_thread(bump)
        assert cond.wait_for(lambda: state["n"] == 3, DEADLINE) is True
        assert cond.wait_for_blocking(lambda: state["n"], 1) == 3
    join_all([t])


# -- who may wait and notify -------------------------------------------------------------


@pytest.mark.parametrize("make", [threading.Lock, threading.RLock, OnlyAcquireRelease])
def test_wait_and_notify_unacquired_raise_runtime_error(make):
    cond = aiosync.Condition(make())
    with pytest.raises(RuntimeError, match="^cannot wait on un-acquired lock$"):
        cond.wait()
    with pytest.raises(RuntimeError, match="^cannot wait on un-acquired lock$"):
        cond.wait_for(lambda: False, 1)
    with pytest.raises(RuntimeError, match="^cannot notify on un-acquired lock$"):
        cond.notify()
    with pytest.raises(RuntimeError, match="^cannot notify on un-acquired lock$"):
        cond.notify_all()


def test_rlock_held_by_another_thread_is_not_the_callers():
    rlock = threading.RLock()
    cond = aiosync.Condition(rlock)
    held, done = threading.Event(), threading.Event()

    def holder() -> None:
        with rlock:
            held.set()
            assert done.wait(DEADLINE)

    t = run_in_thread(holder)
    assert held.wait(DEADLINE)
    with pytest.raises(RuntimeError, match="un-acquired"):
        cond.wait(1)
    with pytest.raises(RuntimeError, match="un-acquired"):
        cond.notify()
    done.set()
    join_all([t])


def test_plain_lock_probe_is_threadings():
    """With no `_is_owned`, ownership is threading's probe: `acquire(False)` failing
    means held (by anyone), and a probe that succeeds is released again."""
    lock = OnlyAcquireRelease()
    cond = aiosync.Condition(lock)
    with pytest.raises(RuntimeError):
        cond.notify()
    assert lock.calls == [("acquire", False), ("release",)]
    lock.calls.clear()
    cond.acquire()
    assert cond.wait(0.01) is False
    cond.release()
    # acquire, probe (fails: held), release to wait, acquire back, release.
    assert lock.calls == [
        ("acquire", True),
        ("acquire", False),
        ("release",),
        ("acquire", True),
        ("release",),
    ]
    assert repr(cond).startswith("<aiosync.Condition object at "), repr(cond)
    # As threading's: `with` is the lock's own context manager, which this one lacks.
    for c in (cond, threading.Condition(lock)):
        with pytest.raises(AttributeError, match="__enter__"), c:
            pass


# -- errors of the foreign lock propagate ------------------------------------------------


@pytest.mark.parametrize("step", ["is_owned", "release_save"])
def test_failing_step_before_the_wait_propagates_and_waits_for_nothing(step):
    lock = Failing()
    cond = aiosync.Condition(lock)
    with cond:
        lock.fail.add(step)
        with pytest.raises(OSError, match=f"^{step} failed$"):
            cond.wait(DEADLINE)
        assert lock.locked(), "not released"
        assert n_waiters(cond) == 0
        if step == "is_owned":
            with pytest.raises(OSError, match="^is_owned failed$"):
                cond.notify()
        lock.fail.clear()
        assert cond.wait(0) is False


def test_failing_restore_propagates():
    lock = Failing()
    cond = aiosync.Condition(lock)
    cond.acquire()
    lock.fail.add("acquire_restore")
    with pytest.raises(OSError, match="^acquire_restore failed$"):
        cond.wait(0.01)
    assert not lock.locked(), "the failed restore left it released"
    assert n_waiters(cond) == 0


def test_interrupted_wait_takes_the_lock_back():
    """Ctrl-C (here `_thread.interrupt_main()`) ends a wait on the main thread; the lock
    is held again before KeyboardInterrupt propagates."""
    assert threading.current_thread() is threading.main_thread()
    lock = threading.Lock()
    cond = aiosync.Condition(lock)

    def interrupt() -> None:
        wait_until(lambda: n_waiters(cond) == 1)
        _thread.interrupt_main()

    t = run_in_thread(interrupt)
    with cond:
        with pytest.raises(KeyboardInterrupt):
            cond.wait(DEADLINE)
        assert lock.locked() and not lock.acquire(False)
        assert n_waiters(cond) == 0
    join_all([t])


# -- no asyncio form ---------------------------------------------------------------------


def test_asyncio_forms_raise_type_error(arun):
    lock = threading.Lock()
    cond = aiosync.Condition(lock)
    msg = r"^Condition over a _thread\.lock has no asyncio form"

    async def main() -> None:
        with pytest.raises(TypeError, match=msg):
            await cond.wait()
        with pytest.raises(TypeError, match=msg):
            await cond.wait_for(lambda: True)
        with pytest.raises(TypeError, match=msg):
            async with cond:
                pass
        with pytest.raises(TypeError, match=msg):
            cond.acquire()  # no argument, a loop running: the asyncio form
        for form in (cond.acquire_async, cond.wait_async, lambda: cond.wait_for_async(bool)):
            with pytest.raises(TypeError, match=msg):
                form()
        assert not lock.locked(), "nothing was taken"
        # The threading forms still work here (they block this loop's thread).
        with cond:
            assert cond.wait(0) is False
        assert cond.acquire(True) is True
        cond.release()

    arun(main())
    assert not lock.locked()


def test_asyncio_lock_refused_when_made():
    with pytest.raises(TypeError, match=r"asyncio\.locks\.Lock: its acquire\(\) is a coroutine"):
        aiosync.Condition(asyncio.Lock())


@pytest.mark.parametrize("obj", [object(), 1, threading.Event()])
def test_object_that_is_no_lock_refused_when_made(obj):
    with pytest.raises(TypeError, match=r"needs a lock with acquire\(\) and release\(\)"):
        aiosync.Condition(obj)


def test_aiosync_locks_keep_their_own_paths(arun):
    """An aiosync lock is not foreign: both worlds still work over it."""
    for lock in (aiosync.Lock(), aiosync.RLock()):
        cond = aiosync.Condition(lock)

        async def main(cond=cond) -> None:
            async with cond:
                assert await asyncio.wait_for(cond.wait_for(lambda: True), DEADLINE)

        arun(main())
        with cond:
            assert cond.wait(0) is False
