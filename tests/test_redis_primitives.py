"""aiosync.redis RLock, Semaphore, BoundedSemaphore, RWLock, Event and the drop-in
spellings (`acquire()` / `release()`), against a real redis-server."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
import weakref

import aiosync.redis as ar
import pytest
from _redis_helpers import redis_server

server = redis_server
LEASE = 0.6
BOUND = 10.0


def _client(url: str) -> ar.Client:
    return ar.Client(url, namespace="t", lease=LEASE)


def test_lock_acquire_release_spelled_as_threading(server: str) -> None:
    lock = _client(server).Lock("m")
    hold = lock.acquire()
    assert hold and hold.token > 0
    assert lock.locked()
    assert lock.acquire(blocking=False) is False
    assert lock.acquire(timeout=0.05) is False
    lock.release()
    assert not lock.locked()
    with pytest.raises(RuntimeError):
        lock.release()
    with pytest.raises(ValueError):
        lock.acquire(False, 1.0)
    # Another thread may release it, as threading.Lock allows.
    lock.acquire()
    t = threading.Thread(target=lock.release)
    t.start()
    t.join(BOUND)
    assert not lock.locked()


def test_semaphore_counts_across_threads_and_loops(server: str) -> None:
    client = _client(server)
    sem = client.Semaphore("s", 2)
    inside = [0, 0]  # now, most
    guard = threading.Lock()

    def enter() -> None:
        with guard:
            inside[0] += 1
            inside[1] = max(inside[1], inside[0])

    def leave() -> None:
        with guard:
            inside[0] -= 1

    def thread_main() -> None:
        for _ in range(8):
            with sem:
                enter()
                time.sleep(0.002)
                leave()

    async def task_main() -> None:
        for _ in range(8):
            async with sem:
                enter()
                await asyncio.sleep(0.002)
                leave()

    def loop_main() -> None:
        async def both() -> None:
            await asyncio.gather(task_main(), task_main())

        asyncio.run(asyncio.wait_for(both(), BOUND))

    threads = [threading.Thread(target=f) for f in (thread_main, thread_main, loop_main)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(BOUND * 2)
    assert not any(t.is_alive() for t in threads)
    assert inside == [0, 2], "two permits, both used, never three"


def test_semaphore_release_without_hold_adds_a_permit_bounded_refuses(server: str) -> None:
    client = _client(server)
    sem = client.Semaphore("s", 1)
    first = sem.acquire()
    assert first
    assert sem.acquire(blocking=False) is False
    sem.release()  # this thread's hold
    sem.release()  # no hold: a permit for good
    a, b = sem.acquire(blocking=False), sem.acquire(blocking=False)
    assert a and b
    bounded = client.BoundedSemaphore("b", 1)
    with pytest.raises(ValueError):
        bounded.release()
    with pytest.raises(ValueError):
        client.Semaphore("neg", -1)


def test_rwlock_readers_share_writer_excludes(server: str) -> None:
    rw = _client(server).RWLock("rw")
    other = _client(server).RWLock("rw")
    r1 = rw.reader_lock.acquire()
    r2 = other.reader_lock.acquire(blocking=False)
    assert r1 and r2
    assert other.writer_lock.acquire(blocking=False) is False
    r1.release()
    r2.release()
    with other.writer_lock as w:
        assert w.token > r2.token
        assert rw.reader_lock.acquire(blocking=False) is False


def test_rlock_reentrant_per_thread_and_per_task(server: str) -> None:
    client = _client(server)
    rl = client.RLock("r")
    with rl:
        with rl:
            token = rl.token
            assert token is not None
            got: list[bool] = []
            t = threading.Thread(target=lambda: got.append(rl.acquire(blocking=False)))
            t.start()
            t.join(BOUND)
            assert got == [False], "another thread is not the owner"
        assert client.Lock("r").acquire(blocking=False) is False, "one level left"
    assert rl.token is None
    with pytest.raises(RuntimeError):
        rl.release()

    async def main() -> tuple[bool, bool]:
        async with rl:
            async with rl:
                inner_owned = rl._is_owned()

            async def other() -> bool:
                return bool(rl._is_owned())

            return inner_owned, await asyncio.ensure_future(other())

    assert asyncio.run(asyncio.wait_for(main(), BOUND)) == (True, False)
    assert client.Lock("r").acquire(blocking=False)


def test_event_wakes_waiters_on_two_loops_and_a_thread(server: str) -> None:
    ev = _client(server).Event("go")
    ev.clear()
    assert not ev.is_set()
    assert ev.wait(0.05) is False
    waiting = threading.Barrier(4, timeout=BOUND)
    results: list[bool] = []

    def thread_waiter() -> None:
        waiting.wait()
        results.append(_client(server).Event("go").wait(BOUND))

    def loop_waiter() -> None:
        async def main() -> bool:
            e = _client(server).Event("go")
            fut = asyncio.ensure_future(e.wait())
            await asyncio.sleep(0)
            await asyncio.get_running_loop().run_in_executor(None, waiting.wait)
            return bool(await fut)

        results.append(asyncio.run(asyncio.wait_for(main(), BOUND)))

    threads = [threading.Thread(target=f) for f in (thread_waiter, loop_waiter, loop_waiter)]
    for t in threads:
        t.start()
    waiting.wait()
    ev.set()
    for t in threads:
        t.join(BOUND)
    assert results == [True, True, True]
    assert ev.is_set()


@pytest.mark.parametrize("kind", ["Lock", "RLock"])
def test_async_with_body_is_cancelled_on_lease_loss(server: str, kind: str) -> None:
    client = _client(server)
    name = kind.lower()
    lock = getattr(client, kind)(name)
    reached: list[str] = []

    async def body() -> None:
        client._suspend_heartbeat(True)
        try:
            await asyncio.sleep(BOUND)
            reached.append("slept through")
        except asyncio.CancelledError:
            reached.append("cancelled")
            raise

    async def main() -> None:
        async with lock as hold:
            if kind == "Lock":
                assert hold.token > 0
                await body()
            else:
                async with lock:  # re-entered: one hold, one watch
                    await body()

    start = time.monotonic()
    with pytest.raises(ar.LeaseLost):
        asyncio.run(asyncio.wait_for(main(), BOUND))
    assert reached == ["cancelled"]
    assert time.monotonic() - start < LEASE + 1.5 + 0.5
    client._suspend_heartbeat(False)
    # The lock is free again for the next holder.
    assert getattr(_client(server), kind)(name).acquire(timeout=BOUND)


def test_async_with_released_in_time_is_not_cancelled_later(server: str) -> None:
    client = _client(server)
    lock = client.Lock("l")

    async def main() -> str:
        for _ in range(3):
            async with lock:
                await asyncio.sleep(0)
        # Past a lease: a watcher left behind would cancel this sleep.
        await asyncio.sleep(LEASE * 1.5)
        return "done"

    assert asyncio.run(asyncio.wait_for(main(), BOUND)) == "done"


def test_a_released_hold_lets_go_of_its_loss_callback(server: str) -> None:
    client = _client(server)
    lock = client.Lock("w")
    refs: list[weakref.ref[object]] = []
    called: list[str] = []

    class Callback:
        def __call__(self) -> None:
            called.append("lost")

    async def main() -> None:
        for _ in range(3):
            hold = await lock.acquire_async()
            cb = Callback()
            hold._on_lost(cb)
            refs.append(weakref.ref(cb))
            del cb
            hold.release()
        await asyncio.sleep(LEASE * 1.5)  # past a lease: a kept watch would fire now

    asyncio.run(asyncio.wait_for(main(), BOUND))
    lock.locked()  # a call into the extension runs the releases it put off
    gc.collect()
    assert called == []
    assert [r() for r in refs] == [None, None, None]
