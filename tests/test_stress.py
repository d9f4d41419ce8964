"""Mixed stress: ONE object each of Lock, RLock, Semaphore, Queue and RWLock, used at the
same time by 4 OS threads (blocking API) and 3 event loops, each in its own thread (async
API, several tasks per loop). Counters are read-modify-write with a yield point inside
the critical section, so any lost exclusion shows up as a lost update; queue items carry
unique ids, so any lost or duplicated item shows up in the multiset comparison. Every
wait has a deadline: a deadlock fails the test instead of hanging it."""

import asyncio
import threading
import time
from collections import Counter

import aiosync
from conftest import run_in_loop_thread, run_in_thread

THREADS = 4
LOOPS = 3
TASKS = 4  # per loop
DEADLINE = 25.0  # for a whole test; a healthy run takes well under 2 s per test


class Deadline:
    def __init__(self, seconds: float = DEADLINE) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return max(0.0, self.end - time.monotonic())


def join_before(workers, deadline: Deadline) -> None:
    """Joins every worker by one shared deadline, then re-raises the first error."""
    for t in workers:
        t.join(deadline.left())
    stuck = [t for t in workers if t.is_alive()]
    assert not stuck, f"{len(stuck)} worker(s) still running at the deadline (deadlock?)"
    for t in workers:
        for e in getattr(t, "errors", []):
            raise e


def run_mixed(thread_fn, task_fn, deadline: Deadline) -> None:
    """Runs `thread_fn(i)` on THREADS threads and `task_fn(loop_index, k)` as TASKS tasks
    on each of LOOPS event loops, all released at once."""
    start = threading.Barrier(THREADS + LOOPS, timeout=deadline.left())

    def thread_main(i):
        start.wait()
        thread_fn(i)

    async def loop_main(lp):
        await asyncio.get_running_loop().run_in_executor(None, start.wait)
        await asyncio.gather(*(task_fn(lp, k) for k in range(TASKS)))

    workers = [run_in_thread(thread_main, i) for i in range(THREADS)]
    workers += [
        run_in_loop_thread(lambda lp=lp: loop_main(lp), timeout=deadline.left())
        for lp in range(LOOPS)
    ]
    join_before(workers, deadline)


THREAD_ROUNDS = 4000
TASK_ROUNDS = 800
TOTAL = THREADS * THREAD_ROUNDS + LOOPS * TASKS * TASK_ROUNDS


def test_lock_stress():
    lock = aiosync.Lock()
    state = {"n": 0, "inside": 0}
    deadline = Deadline()

    def enter():
        state["inside"] += 1
        assert state["inside"] == 1, "two holders at once"
        assert lock.locked()

    def leave():
        state["inside"] -= 1

    def thread_fn(i):
        for r in range(THREAD_ROUNDS):
            if r % 3 == 0:
                while not lock.acquire(timeout=0.001):
                    pass
            elif r % 3 == 1:
                while not lock.acquire(blocking=False):
                    time.sleep(0)
            else:
                assert lock.acquire() is True
            try:
                enter()
                v = state["n"]
                time.sleep(0)  # yield the GIL inside the critical section
                state["n"] = v + 1
                leave()
            finally:
                lock.release()

    async def task_fn(lp, k):
        for r in range(TASK_ROUNDS):
            if r % 2:
                async with lock:
                    enter()
                    v = state["n"]
                    await asyncio.sleep(0)
                    state["n"] = v + 1
                    leave()
            else:
                assert await lock.acquire() is True
                try:
                    enter()
                    v = state["n"]
                    await asyncio.sleep(0)
                    state["n"] = v + 1
                    leave()
                finally:
                    lock.release()

    run_mixed(thread_fn, task_fn, deadline)
    assert state["n"] == TOTAL
    assert not lock.locked()
    assert lock.acquire(blocking=False) is True
    lock.release()


def test_rlock_stress():
    rlock = aiosync.RLock()
    state = {"n": 0, "inside": 0}
    deadline = Deadline()

    def thread_fn(i):
        for r in range(THREAD_ROUNDS):
            with rlock:
                with rlock:  # re-entered by its owner thread
                    state["inside"] += 1
                    assert state["inside"] == 1, "two owners at once"
                    v = state["n"]
                    time.sleep(0)
                    if r % 4 == 0:
                        assert rlock.acquire(blocking=False) is True  # a third level
                        rlock.release()
                    state["n"] = v + 1
                    state["inside"] -= 1

    async def task_fn(lp, k):
        for r in range(TASK_ROUNDS):
            async with rlock:
                async with rlock:  # re-entered by its owner task
                    state["inside"] += 1
                    assert state["inside"] == 1, "two owners at once"
                    v = state["n"]
                    await asyncio.sleep(0)
                    if r % 4 == 0:
                        assert await rlock.acquire() is True
                        rlock.release()
                    state["n"] = v + 1
                    state["inside"] -= 1

    run_mixed(thread_fn, task_fn, deadline)
    assert state["n"] == TOTAL
    assert not rlock.locked()
    assert rlock.acquire(blocking=False) is True
    rlock.release()


def test_semaphore_stress():
    permits = 3
    sem = aiosync.Semaphore(permits)
    book = threading.Lock()  # guards the bookkeeping only (never held across a wait)
    state = {"inside": 0, "peak": 0, "entries": 0}
    deadline = Deadline()

    def enter():
        with book:
            state["inside"] += 1
            state["entries"] += 1
            state["peak"] = max(state["peak"], state["inside"])
            assert state["inside"] <= permits, "more holders than permits"

    def leave():
        with book:
            state["inside"] -= 1

    def thread_fn(i):
        for r in range(THREAD_ROUNDS):
            if r % 2:
                while not sem.acquire(timeout=0.001):
                    pass
            else:
                assert sem.acquire() is True
            try:
                enter()
                time.sleep(0)
                leave()
            finally:
                sem.release()

    async def task_fn(lp, k):
        for _ in range(TASK_ROUNDS):
            async with sem:
                enter()
                await asyncio.sleep(0)
                leave()

    run_mixed(thread_fn, task_fn, deadline)
    assert state["entries"] == TOTAL
    assert state["inside"] == 0
    assert 1 <= state["peak"] <= permits
    # No permit was lost or duplicated: exactly `permits` can be taken now.
    for _ in range(permits):
        assert sem.acquire(blocking=False) is True
    assert sem.acquire(blocking=False) is False
    for _ in range(permits):
        sem.release()


def test_queue_stress():
    q = aiosync.Queue(16)
    per_producer = 4000
    deadline = Deadline()
    produced_lock = threading.Lock()
    producers_left = [2 + LOOPS * 2]  # 2 producer threads, 2 producer tasks per loop
    all_produced = threading.Event()
    consumed: list = []  # (consumer, item) pairs
    consumed_lock = threading.Lock()

    def producer_done():
        with produced_lock:
            producers_left[0] -= 1
            if producers_left[0] == 0:
                all_produced.set()

    def record(consumer, items):
        with consumed_lock:
            consumed.extend((consumer, it) for it in items)

    def thread_fn(i):
        if i < 2:  # producer
            for s in range(per_producer):
                item = (f"t{i}", s)
                if s % 3 == 0:
                    q.put(item, timeout=deadline.left())
                elif s % 3 == 1:
                    q.sync_q.put(item)
                else:
                    q.put(item)
            producer_done()
        else:  # consumer: until the queue is shut down and drained
            mine = []
            while True:
                try:
                    item = q.get() if len(mine) % 2 else q.get(timeout=deadline.left())
                except aiosync.QueueShutDown:
                    break
                mine.append(item)
                q.task_done()
            record(f"t{i}", mine)

    async def task_fn(lp, k):
        if k < 2:  # producer
            for s in range(per_producer):
                item = (f"l{lp}p{k}", s)
                if s % 2:
                    try:
                        q.put_nowait(item)
                    except aiosync.QueueFull:
                        await q.async_q.put(item)
                else:
                    await q.put(item)
            producer_done()
        else:  # consumer
            mine = []
            while True:
                try:
                    item = await (q.get() if len(mine) % 2 else q.async_q.get())
                except aiosync.QueueShutDown:
                    break
                mine.append(item)
                if len(mine) % 5 == 0:
                    await asyncio.sleep(0)
                q.task_done()
            record(f"l{lp}c{k}", mine)

    def coordinator():
        assert all_produced.wait(deadline.left()), "producers did not finish in time"
        q.join()  # every item got and marked done
        q.shutdown()  # the consumers drain (nothing is left) and stop

    coord = run_in_thread(coordinator)
    run_mixed(thread_fn, task_fn, deadline)
    join_before([coord], deadline)

    producers = [f"t{i}" for i in range(2)]
    producers += [f"l{lp}p{k}" for lp in range(LOOPS) for k in range(2)]
    expected = [(p, s) for p in producers for s in range(per_producer)]
    items = [it for _, it in consumed]
    assert len(items) == len(expected)
    assert Counter(items) == Counter(expected)  # nothing lost, nothing duplicated
    # FIFO: each consumer sees each producer's items in the order they were put.
    last: dict = {}
    for consumer, (producer, s) in consumed:
        assert s > last.get((consumer, producer), -1)
        last[(consumer, producer)] = s
    assert q.empty() and q.sync_q.unfinished_tasks == 0


def test_rwlock_stress():
    rw = aiosync.RWLock()
    state = {"n": 0, "a": 0, "b": 0, "writers": 0}
    reads = Counter()
    reads_lock = threading.Lock()
    deadline = Deadline()

    def write_body_start():
        assert state["writers"] == 0, "two writers at once"
        state["writers"] += 1
        state["a"] += 1
        return state["n"]

    def write_body_end(v):
        state["n"] = v + 1
        state["b"] += 1
        state["writers"] -= 1

    def check_read(a):
        assert state["writers"] == 0, "a reader beside a writer"
        assert state["a"] == state["b"] == a, "a writer got in beside a reader"

    def thread_fn(i):
        done = 0
        for r in range(THREAD_ROUNDS):
            if r % 4 == 0:
                with rw.writer_lock:
                    v = write_body_start()
                    time.sleep(0)
                    if r % 8 == 0:
                        with rw.reader_lock:  # a writer may read too
                            time.sleep(0)
                    write_body_end(v)
            elif r % 4 == 1:
                while not rw.reader_lock.acquire(timeout=0.001):
                    pass
                try:
                    a = state["a"]
                    time.sleep(0)
                    check_read(a)
                    done += 1
                finally:
                    rw.reader_lock.release()
            else:
                with rw.reader:
                    a = state["a"]
                    time.sleep(0)
                    check_read(a)
                    done += 1
        with reads_lock:
            reads[f"t{i}"] = done

    async def task_fn(lp, k):
        done = 0
        for r in range(TASK_ROUNDS):
            if r % 4 == 0:
                async with rw.writer:
                    v = write_body_start()
                    await asyncio.sleep(0)
                    if r % 8 == 0:
                        async with rw.reader_lock:
                            await asyncio.sleep(0)
                    write_body_end(v)
            else:
                async with rw.reader_lock:
                    a = state["a"]
                    await asyncio.sleep(0)
                    check_read(a)
                    done += 1
        with reads_lock:
            reads[f"l{lp}t{k}"] = done

    run_mixed(thread_fn, task_fn, deadline)
    writes = THREADS * len(range(0, THREAD_ROUNDS, 4)) + LOOPS * TASKS * len(
        range(0, TASK_ROUNDS, 4)
    )
    assert state["n"] == state["a"] == state["b"] == writes
    assert sum(reads.values()) == THREADS * THREAD_ROUNDS + LOOPS * TASKS * TASK_ROUNDS - writes
    assert not rw.reader_lock.locked and not rw.writer_lock.locked
    assert rw.writer_lock.acquire(blocking=False) is True
    rw.writer_lock.release()
