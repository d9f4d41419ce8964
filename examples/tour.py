"""A tour of aiosync from Python: one object shared by threads and several event loops.

Run: ./scripts/demo.sh (builds the extension into .venv first), or
     .venv/bin/python examples/tour.py
"""

from __future__ import annotations

import asyncio
import threading

import aiosync

ROUNDS = 2000


def run_loop_thread(coro_factory) -> threading.Thread:
    t = threading.Thread(target=lambda: asyncio.run(coro_factory()))
    t.start()
    return t


def lost_update_race() -> None:
    print("1. A lost-update race across two event loops, and its fix")
    state = {"n": 0}

    async def racy() -> None:
        for _ in range(ROUNDS):
            v = state["n"]
            await asyncio.sleep(0)  # another task (or loop) runs here
            state["n"] = v + 1

    threads = [run_loop_thread(racy) for _ in range(2)]
    for t in threads:
        t.join()
    print(f"   without a lock: {state['n']} of {2 * ROUNDS} increments survived")

    state["n"] = 0
    lock = aiosync.Lock()  # asyncio.Lock would fail here: it is bound to one loop

    async def fixed() -> None:
        for _ in range(ROUNDS):
            async with lock:
                v = state["n"]
                await asyncio.sleep(0)
                state["n"] = v + 1

    threads = [run_loop_thread(fixed) for _ in range(2)]
    for t in threads:
        t.join()
    print(f"   with aiosync.Lock shared by both loops: {state['n']} of {2 * ROUNDS}")
    assert state["n"] == 2 * ROUNDS


def threads_and_tasks() -> None:
    print("2. Threads (`with lock`) and tasks (`async with lock`) on one lock")
    lock = aiosync.Lock()
    state = {"n": 0}

    def worker() -> None:
        for _ in range(ROUNDS):
            with lock:
                state["n"] += 1

    async def tasks() -> None:
        async def one() -> None:
            for _ in range(ROUNDS):
                async with lock:
                    v = state["n"]
                    await asyncio.sleep(0)
                    state["n"] = v + 1

        await asyncio.gather(one(), one())

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    loops = [run_loop_thread(tasks)]
    for t in threads + loops:
        t.join()
    print(f"   2 threads + 2 tasks x {ROUNDS}: {state['n']} (expected {4 * ROUNDS})")
    assert state["n"] == 4 * ROUNDS


def event_condition_barrier() -> None:
    print("3. Event, Condition and Barrier across threads and loops")
    go = aiosync.Event()
    barrier = aiosync.Barrier(4)
    indices: list[int] = []

    async def loop_party() -> None:
        assert await go.wait()  # asyncio spelling
        indices.append(await barrier.wait())

    def thread_party() -> None:
        assert go.wait(timeout=10)  # threading spelling, same object
        indices.append(barrier.wait(timeout=10))

    parties = [run_loop_thread(loop_party) for _ in range(2)]
    parties += [threading.Thread(target=thread_party) for _ in range(2)]
    for t in parties[2:]:
        t.start()
    go.set()
    for t in parties:
        t.join()
    print(f"   one set() released all; barrier indices: {sorted(indices)}")
    assert sorted(indices) == [0, 1, 2, 3]

    cond = aiosync.Condition()
    box: list[str] = []

    async def consumer() -> None:
        async with cond:
            await cond.wait_for(lambda: box)

    t = run_loop_thread(consumer)
    # Whether the consumer already waits or not: wait_for checks the predicate first.
    with cond:
        box.append("work")
        cond.notify()
    t.join()
    print(f"   a thread notified a task on another loop: {box}")


def queue_pipeline() -> None:
    print("4. Queue: producer thread -> consumers in two loops, with join and shutdown")
    q = aiosync.Queue(maxsize=8)
    results: list[int] = []
    done = aiosync.Lock()

    async def consumer() -> None:
        while True:
            try:
                n = await q.get()
            except aiosync.QueueShutDown:
                return
            async with done:
                results.append(n * n)
            q.task_done()

    consumers = [run_loop_thread(consumer) for _ in range(2)]
    for n in range(1, 101):
        q.put(n)  # blocks while 8 items wait
    q.join()  # every item processed
    print(f"   join() returned with {len(results)} results")
    q.shutdown()
    for t in consumers:
        t.join()
    assert sorted(results) == [n * n for n in range(1, 101)]
    print(f"   sum of squares 1..100 = {sum(results)}")


def rwlock() -> None:
    print("5. RWLock: readers together, writers alone, per-task ownership")
    rw = aiosync.RWLock()
    state = {"a": 0, "b": 0}
    torn = 0

    async def writer() -> None:
        for _ in range(500):
            async with rw.writer_lock:
                state["a"] += 1
                await asyncio.sleep(0)
                state["b"] += 1

    def reader() -> None:
        nonlocal torn
        for _ in range(500):
            with rw.reader_lock:
                torn += state["a"] != state["b"]

    ts = [run_loop_thread(writer)] + [threading.Thread(target=reader) for _ in range(2)]
    for t in ts[1:]:
        t.start()
    for t in ts:
        t.join()
    print(f"   writes: {state['a']}, torn reads seen: {torn}")
    assert torn == 0

    async def upgrade() -> None:
        async with rw.reader_lock:
            try:
                async with rw.writer_lock:
                    pass
            except RuntimeError as e:
                print(f"   read->write upgrade refused: {e}")

    asyncio.run(upgrade())


def synchronizer() -> None:
    print("6. Synchronizer: one async library, a blocking API and an .aio API")
    with aiosync.Synchronizer() as s:

        class _Counter:  # the library's async implementation
            def __init__(self) -> None:
                self.n = 0

            async def add(self, k: int) -> int:
                await asyncio.sleep(0)
                self.n += k
                return self.n

            async def count_to(self, k: int):
                for i in range(1, k + 1):
                    yield i

        Counter = s.wrap(_Counter, name="Counter")
        c = Counter()
        print(f"   blocking c.add(2): {c.add(2)}; c.count_to(3): {list(c.count_to(3))}")

        async def from_a_loop() -> int:
            return await c.add.aio(3)

        print(f"   awaited from another loop, c.add.aio(3): {asyncio.run(from_a_loop())}")

        @s.wrap
        async def blocks_its_loop() -> None:
            try:
                await asyncio.sleep(60)
            finally:
                print("   a cancelled .aio awaiter: the inner task's finally ran first")

        async def cancel_it() -> None:
            try:
                await asyncio.wait_for(blocks_its_loop.aio(), 0.05)
            except asyncio.TimeoutError:
                print("   ... and then the awaiter saw the timeout")

        asyncio.run(cancel_it())

        @s.asyncify
        def legacy_read(n: int) -> bytes:  # blocking code, made awaitable
            return b"x" * n

        async def use_legacy() -> list[int]:
            return [len(b) for b in await asyncio.gather(legacy_read(1), legacy_read(2))]

        print(f"   asyncify'd blocking function on the worker pool: {asyncio.run(use_legacy())}")
        try:

            @s.wrap
            async def nested() -> int:
                return c.add(1)  # a blocking call on the synchronizer's own loop

            nested()
        except aiosync.SynchronizerDeadlockError as e:
            print(f"   a self-deadlock is an error: {type(e).__name__}")


if __name__ == "__main__":
    lost_update_race()
    threads_and_tasks()
    event_condition_barrier()
    queue_pipeline()
    rwlock()
    synchronizer()
    print("\nTour done.")
