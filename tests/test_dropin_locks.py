"""aiosync as a drop-in for threading's and asyncio's locks, where the two differ: the
lock `Condition()` makes (an RLock to threads, a Lock to tasks), weak references, reprs
that carry both formats, Barrier reset()/abort() acting when awaited, the type names in
CPython's messages, and threading.Semaphore's negative timeouts."""

from __future__ import annotations

import asyncio
import gc
import inspect
import pickle
import re
import warnings
import weakref

import aiosync
import pytest
from conftest import DEADLINE, join_all, run_in_thread, wait_until

CLASSES = {
    "Lock": aiosync.Lock,
    "RLock": aiosync.RLock,
    "Semaphore": aiosync.Semaphore,
    "BoundedSemaphore": aiosync.BoundedSemaphore,
    "Event": aiosync.Event,
    "Condition": aiosync.Condition,
    "Barrier": lambda: aiosync.Barrier(2),
}


def at(obj) -> str:
    return f"{id(obj):#x}"


# -- 1. Condition()'s own lock ---------------------------------------------------------


def test_condition_lock_is_an_rlock_to_threads():
    cond = aiosync.Condition()
    assert cond.acquire() and cond.acquire(False)  # the thread re-enters
    with cond:
        cond.notify()  # the owner may notify at any level
    seen = []

    def other():
        seen.append(cond.acquire(False))
        with pytest.raises(RuntimeError):
            cond.release()
        with pytest.raises(RuntimeError):
            cond.notify()

    join_all([run_in_thread(other)])
    assert seen == [False]
    cond.release()
    cond.release()
    with pytest.raises(RuntimeError):
        cond.release()
    assert not cond.locked()


def test_condition_wait_gives_back_every_level_of_a_thread():
    cond = aiosync.Condition()
    got = []

    def notifier():
        with cond:
            got.append(True)
            cond.notify()

    with cond, cond:
        t = run_in_thread(notifier)
        assert cond.wait(DEADLINE) is True
        assert got == [True]
        assert "count=2" not in repr(cond)  # the Condition's repr shows no count
    join_all([t])
    assert not cond.locked()


def test_condition_lock_is_a_lock_to_tasks(arun):
    async def main():
        cond = aiosync.Condition()
        woken = []

        async def waiter():
            await cond.acquire()
            woken.append(await cond.wait())
            # Returns holding the lock, which another task then releases.

        t = asyncio.create_task(waiter())
        await asyncio.sleep(0)
        async with cond:
            cond.notify()
        await t
        assert woken == [True] and cond.locked()
        cond.notify()  # under another task's hold: allowed, as for asyncio's Lock
        cond.release()
        assert not cond.locked()

    arun(main())


def test_condition_task_reentry_is_an_error_not_a_hang(arun):
    async def main():
        cond = aiosync.Condition()
        async with cond:
            with pytest.raises(RuntimeError, match="re-entering"):
                await cond.acquire()
            with pytest.raises(RuntimeError, match="re-entering"):
                async with cond:
                    pass
            assert cond.locked()
            # A blocking acquire here could only wait for this loop: refused too.
            with pytest.raises(RuntimeError, match="deadlock"):
                cond.acquire_blocking()
        assert not cond.locked()

    arun(main())


def test_condition_task_waits_under_another_task_s_hold(arun):
    async def main():
        cond = aiosync.Condition()
        await cond.acquire()  # the main task's hold
        done = []

        async def other():
            await cond.wait()  # asyncio lets any task wait while the lock is held
            done.append(True)
            cond.release()

        t = asyncio.create_task(other())
        await asyncio.sleep(0)
        assert not cond.locked()
        async with cond:
            cond.notify()
        await t
        assert done == [True] and not cond.locked()

    arun(main())


def test_condition_thread_and_tasks_share_the_default_lock(loop_threads):
    cond = aiosync.Condition()
    items: list[int] = []
    (lp,) = loop_threads(1)

    async def consumer():
        async with cond:
            await cond.wait_for(lambda: len(items) >= 3)
            return list(items)

    fut = asyncio.run_coroutine_threadsafe(consumer(), lp)
    for i in range(3):
        with cond:
            items.append(i)
            cond.notify_all()
    assert fut.result(DEADLINE) == [0, 1, 2]


def test_condition_docstring_and_readme_tell_the_choice():
    assert "RLock" in aiosync.Condition.__doc__ and "Lock" in aiosync.Condition.__doc__
    assert "RuntimeError" in aiosync.Condition.__doc__


# -- 2. weak references ----------------------------------------------------------------


@pytest.mark.parametrize("make", [*CLASSES.values(), aiosync.RWLock], ids=[*CLASSES, "RWLock"])
def test_weakref(make):
    obj = make()
    ref = weakref.ref(obj)
    assert ref() is obj
    del obj
    gc.collect()
    assert ref() is None


# -- 3. reprs --------------------------------------------------------------------------


def test_lock_repr(arun):
    async def main():
        lock = aiosync.Lock()
        a = at(lock)
        assert repr(lock) == f"<unlocked aiosync.Lock object at {a} [unlocked]>"
        await lock.acquire()
        assert repr(lock) == f"<locked aiosync.Lock object at {a} [locked]>"
        waiters = [asyncio.create_task(lock.acquire()) for _ in range(2)]
        await asyncio.sleep(0)
        assert repr(lock) == f"<locked aiosync.Lock object at {a} [locked, waiters:2]>"
        for w in waiters:
            w.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
        lock.release()

    arun(main())


def test_rlock_repr_is_threading_s():
    lock = aiosync.RLock()
    assert repr(lock) == f"<unlocked aiosync.RLock object count=0 at {at(lock)}>"
    with lock, lock:
        assert repr(lock) == f"<locked aiosync.RLock object count=2 at {at(lock)}>"


def test_condition_repr(arun):
    async def main():
        cond = aiosync.Condition()
        a = at(cond)
        assert repr(cond) == f"<unlocked aiosync.Condition object at {a} [unlocked]>"

        async def waiter():
            async with cond:
                await cond.wait()

        tasks = [asyncio.create_task(waiter()) for _ in range(2)]
        await asyncio.sleep(0)
        await cond.acquire()
        assert repr(cond) == f"<locked aiosync.Condition object at {a} [locked, waiters:2]>"
        cond.notify_all()
        cond.release()
        await asyncio.gather(*tasks)

    arun(main())


def test_event_repr(arun):
    async def main():
        ev = aiosync.Event()
        a = at(ev)
        assert repr(ev) == f"<<aiosync.Event at {a}: unset> object at {a} [unset]>"
        t = asyncio.create_task(ev.wait())
        await asyncio.sleep(0)
        assert repr(ev).endswith(": unset> object at " + a + " [unset, waiters:1]>")
        ev.set()
        await t
        assert repr(ev) == f"<<aiosync.Event at {a}: set> object at {a} [set]>"

    arun(main())


def test_semaphore_reprs(arun):
    async def main():
        sem = aiosync.BoundedSemaphore(3)
        a = at(sem)
        expect = f"<<aiosync.BoundedSemaphore at {a}: value=3/3> object at {a} [unlocked, value:3]>"
        assert repr(sem) == expect
        for _ in range(3):
            await sem.acquire()
        t = asyncio.create_task(sem.acquire())
        await asyncio.sleep(0)
        expect = f"<<aiosync.BoundedSemaphore at {a}: value=0/3> object at {a} [locked, waiters:1]>"
        assert repr(sem) == expect
        sem.release()
        await t
        plain = aiosync.Semaphore(2)
        assert repr(plain).startswith(f"<<aiosync.Semaphore at {at(plain)}: value=2> ")

    arun(main())


def test_barrier_repr_shows_the_core_s_states(arun):
    async def main():
        b = aiosync.Barrier(3)
        a = at(b)

        def shows(threading_part, asyncio_part):
            inner = f"<aiosync.Barrier at {a}: {threading_part}>"
            assert repr(b) == f"<{inner} object at {a} [{asyncio_part}]>"

        shows("waiters=0/3", "filling, waiters:0/3")
        states = []

        async def party():
            await b.wait()
            states.append(re.search(r"\[(\w+)", repr(b)).group(1))

        tasks = [asyncio.create_task(party()) for _ in range(2)]
        await asyncio.sleep(0)
        shows("waiters=2/3", "filling, waiters:2/3")
        await b.wait()  # the last arrival: the round drains while the others return
        shows("waiters=0/3", "draining, waiters:0/3")
        await asyncio.gather(*tasks)
        assert states == ["draining", "filling"]  # the last one out sees it fill again
        blocked = asyncio.create_task(b.wait())
        await asyncio.sleep(0)
        await b.reset()
        shows("waiters=0/3", "resetting, waiters:0/3")
        with pytest.raises(aiosync.BrokenBarrierError):
            await blocked
        shows("waiters=0/3", "filling, waiters:0/3")
        await b.abort()
        shows("broken", "broken")

    arun(main())


def test_subclass_repr_names_the_subclass():
    class MyCondition(aiosync.Condition):
        pass

    cond = MyCondition()
    name = f"{__name__}.test_subclass_repr_names_the_subclass.<locals>.MyCondition"
    assert repr(cond) == f"<unlocked {name} object at {at(cond)} [unlocked]>"


# -- 4. Barrier reset() / abort() ------------------------------------------------------


def test_barrier_reset_and_abort_act_when_awaited(arun):
    async def main():
        b = aiosync.Barrier(2)
        abort = b.abort()
        assert not b.broken  # nothing yet, as for asyncio's coroutine
        await abort
        assert b.broken
        reset = b.reset()
        assert b.broken
        await reset
        assert not b.broken

    arun(main())


def test_barrier_reset_in_a_task_breaks_the_waiters_it_finds(arun):
    async def main():
        b = aiosync.Barrier(3)
        outcomes = []

        async def party():
            try:
                await b.wait()
                outcomes.append("passed")
            except aiosync.BrokenBarrierError:
                outcomes.append("broken")

        parties = [asyncio.create_task(party()) for _ in range(2)]
        asyncio.create_task(b.reset())  # runs after the parties queued
        await asyncio.gather(*parties)
        assert outcomes == ["broken", "broken"] and not b.broken

    arun(main())


def test_barrier_abort_never_awaited_warns_and_does_nothing(arun):
    async def main():
        b = aiosync.Barrier(2)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            b.abort()
            gc.collect()
        assert not b.broken
        assert any("Barrier.abort() was never awaited" in str(w.message) for w in caught)

    arun(main())


def test_barrier_reset_and_abort_from_a_thread_act_at_once():
    b = aiosync.Barrier(2)
    assert b.abort() is None and b.broken
    assert b.reset() is None and not b.broken
    t = run_in_thread(b.wait)
    wait_until(lambda: b.n_waiting == 1)
    b.abort()
    with pytest.raises(aiosync.BrokenBarrierError):
        join_all([t])


# -- 5. names in messages --------------------------------------------------------------


@pytest.mark.parametrize("name", CLASSES)
def test_type_names(name):
    cls = getattr(aiosync, name)
    assert cls.__module__ == "aiosync" and cls.__qualname__ == name
    assert repr(cls) == f"<class 'aiosync.{name}'>"
    assert pickle.loads(pickle.dumps(cls)) is cls
    with pytest.raises(TypeError, match=f"cannot pickle '{name}' object"):
        pickle.dumps(CLASSES[name]())


@pytest.mark.parametrize("name", CLASSES)
def test_await_on_the_object_names_its_type(arun, name):
    async def main():
        with pytest.raises(TypeError, match=f"^object {name} can't be used in 'await' expression$"):
            await CLASSES[name]()

    arun(main())


@pytest.mark.parametrize("name", CLASSES)
def test_unexpected_arguments_name_init(name):
    cls = getattr(aiosync, name)
    args = (2,) if name == "Barrier" else ()
    msg = rf"^{name}\.__init__\(\) got an unexpected keyword argument 'loop'$"
    with pytest.raises(TypeError, match=msg):
        cls(*args, loop=None)


def test_constructor_arguments_still_checked():
    assert inspect.signature(aiosync.Semaphore) == inspect.signature(lambda value=1: None)
    assert inspect.signature(aiosync.Lock) == inspect.signature(lambda: None)
    with pytest.raises(TypeError, match=r"Lock\.__init__\(\) takes 0 positional"):
        aiosync.Lock(1)
    with pytest.raises(ValueError):
        aiosync.Semaphore(-1)
    with pytest.raises(TypeError):
        aiosync.Condition(object())
    assert aiosync.Semaphore(value=2)._value == 2
    assert aiosync.Barrier(parties=2, timeout=1).parties == 2


def test_subclass_with_its_own_init():
    class Named(aiosync.Semaphore):
        def __init__(self, value, *, name):
            super().__init__(value)
            self.name = name

    # `__new__` takes `value` and leaves the rest to the subclass's `__init__`.
    sem = Named(1, name="n")
    assert sem.name == "n" and sem._value == 1
    with pytest.raises(TypeError, match="name"):
        Named(1)


# -- 6. threading.Semaphore's timeouts -------------------------------------------------


@pytest.mark.parametrize("cls", [aiosync.Semaphore, aiosync.BoundedSemaphore])
def test_semaphore_negative_timeout_does_not_wait(cls):
    sem = cls(1)
    assert sem.acquire(timeout=-2) is True  # free: taken
    assert sem.acquire(timeout=-2) is False  # none free: no wait
    assert sem.acquire(timeout=-1) is False  # -1 too, unlike Lock's "no limit"
    assert sem.acquire_blocking(timeout=-1) is False
    with pytest.raises(ValueError):
        sem.acquire(False, -1)
    sem.release()


def test_lock_timeouts_stay_thread_lock_s():
    lock = aiosync.Lock()
    assert lock.acquire(timeout=-1) is True  # -1: no limit
    assert lock.acquire(False, -1) is False  # allowed with blocking=False
    with pytest.raises(ValueError):
        lock.acquire(timeout=-2)
    lock.release()
