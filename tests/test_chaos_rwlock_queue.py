"""Seeded chaos tests for RWLock and the queues."""

from __future__ import annotations

import asyncio
import threading
import time

import aiosync
import pytest
from _chaos_helpers import (
    PARTIES,
    SECS,
    SLACK,
    Aborted,
    Chaos,
    _timeout_here,
    amaybe_yield,
    ashort,
    cancel_child,
    cancelled,
    maybe_yield,
    raises,
    run_mixed,
    short,
    timed,
)

# Longer runs (AIOSYNC_CHAOS_SECS) get a longer pytest-timeout than the file default.
pytestmark = pytest.mark.timeout(SECS + SLACK + 20)


# ---------------------------------------------------------------------------------------
# RWLock: readers share, writers exclude (counters), writers may also read


def test_rwlock():
    ctx = Chaos("rwlock")
    rw = aiosync.RWLock()
    book = threading.Lock()  # guards the counters only
    st = {"n": 0, "readers": 0, "writers": 0, "max_readers": 0, "writes": 0}
    reads = [0] * PARTIES

    def enter_read():
        with book:
            st["readers"] += 1
            st["max_readers"] = max(st["max_readers"], st["readers"])
            writers, n, writes = st["writers"], st["n"], st["writes"]
        ctx.check(writers == 0, "a reader next to a writer")
        ctx.check(n == writes, "a reader saw a write in progress")

    def leave_read():
        with book:
            st["readers"] -= 1

    def enter_write():
        with book:
            st["writers"] += 1
            writers, readers = st["writers"], st["readers"]
        ctx.check(writers == 1, "two writers at once")
        ctx.check(readers == 0, "a writer next to readers")

    def leave_write():
        with book:
            st["writers"] -= 1

    def read_section(w, rng):
        enter_read()
        try:
            maybe_yield(rng)
            reads[w] += 1
        finally:
            leave_read()

    def write_section(rng):
        enter_write()
        try:
            v = st["n"]
            maybe_yield(rng)
            if rng.random() < 0.2:
                with rw.reader_lock:  # a writer may also read
                    ctx.check(st["n"] == v, "the value changed under a writer")
            st["n"] = v + 1
            st["writes"] += 1
        finally:
            leave_write()

    async def aread_section(w, rng):
        enter_read()
        try:
            await amaybe_yield(rng)
            reads[w] += 1
        finally:
            leave_read()

    async def awrite_section(rng):
        enter_write()
        try:
            v = st["n"]
            await amaybe_yield(rng)
            if rng.random() < 0.2:
                async with rw.reader_lock:
                    ctx.check(st["n"] == v, "the value changed under a writer")
            st["n"] = v + 1  # a cancel above skips the write and its count together
            st["writes"] += 1
        finally:
            leave_write()

    def thread_fn(w, rng):
        while ctx.running():
            write = rng.random() < 0.35
            side = rw.writer_lock if write else rw.reader_lock
            form = rng.randrange(5)
            if form == 0:
                with side:
                    write_section(rng) if write else read_section(w, rng)
                continue
            if form == 1:
                ok = side.acquire(blocking=False)
            elif form == 2:
                ok = side.acquire(timeout=short(rng))
            elif form == 3:
                ok = side.acquire(True, short(rng))
            else:
                ok = side.acquire()
            if ok:
                try:
                    write_section(rng) if write else read_section(w, rng)
                finally:
                    side.release()

    async def attempt(w, rng, write):
        """Acquire, section, release, all in one task (the owner)."""
        side = rw.writer_lock if write else rw.reader_lock
        async with side:
            await (awrite_section(rng) if write else aread_section(w, rng))

    async def task_fn(w, rng):
        while ctx.running():
            write = rng.random() < 0.35
            side = rw.writer_lock if write else rw.reader_lock
            form = rng.randrange(5)
            if form == 0:
                await attempt(w, rng, write)
            elif form == 1:
                await cancel_child(attempt(w, rng, write), rng)
            elif form == 2:
                # The whole attempt under wait_for: its own task owns and releases.
                await timed(attempt(w, rng, write), ashort(rng))
            elif form == 3 and _timeout_here is not None:
                try:
                    async with _timeout_here(ashort(rng)):
                        await side.acquire()
                except TimeoutError:
                    continue
                try:
                    await (awrite_section(rng) if write else aread_section(w, rng))
                finally:
                    side.release()
            else:
                await side.acquire()
                try:
                    await (awrite_section(rng) if write else aread_section(w, rng))
                finally:
                    side.release()

    run_mixed(ctx, thread_fn, task_fn)
    ctx.check(st["n"] == st["writes"], f"lost updates: n={st['n']}, writes={st['writes']}")
    ctx.check(st["readers"] == 0 and st["writers"] == 0, "holders still counted")
    ctx.check(not rw.reader_lock.locked, "reader lock still held at the end")
    ctx.check(not rw.writer_lock.locked, "writer lock still held at the end")
    ctx.check(st["writes"] > 0 and sum(reads) > 0, "no write or no read at all")
    ctx.check(st["max_readers"] >= 2, f"readers never shared (max {st['max_readers']})")
    # Readers share across threads and keep a writer out; the lock is whole afterwards.
    ctx.check(rw.reader_lock.acquire(blocking=False), "an idle RWLock refused a reader")
    other = {}

    def second_reader():
        other["w"] = rw.writer_lock.acquire(blocking=False)
        if other["w"]:
            rw.writer_lock.release()
        other["r"] = rw.reader_lock.acquire(blocking=False)
        if other["r"]:
            rw.reader_lock.release()

    t = threading.Thread(target=second_reader, daemon=True)
    t.start()
    t.join(ctx.left())
    rw.reader_lock.release()
    ctx.check(other.get("r") is True, "a second reader (another thread) was refused")
    ctx.check(other.get("w") is False, "a writer got in next to a reader")
    ctx.check(rw.writer_lock.acquire(blocking=False), "an idle RWLock refused a writer")
    rw.writer_lock.release()
    print(
        f"chaos rwlock: {st['writes']} writes, {sum(reads)} reads, "
        f"up to {st['max_readers']} readers at once"
    )


# ---------------------------------------------------------------------------------------
# Queue / LifoQueue / PriorityQueue: random puts, gets, task_done, join; then drain


@pytest.mark.parametrize("kind,maxsize", [("Queue", 4), ("LifoQueue", 2), ("PriorityQueue", 5)])
def test_queue(kind, maxsize):
    ctx = Chaos(f"queue[{kind}]")
    q = getattr(aiosync, kind)(maxsize)
    fifo = kind == "Queue"
    book = threading.Lock()
    st = {"puts": 0, "gets": 0, "producers_done": 0}
    put_by = [0] * PARTIES  # worker w put items (w, 0) .. (w, put_by[w] - 1)
    got_all: list = []

    def drained():
        return st["producers_done"] == PARTIES and st["gets"] == st["puts"]

    class Consumer:
        def __init__(self):
            self.got: list = []
            self.last: dict = {}
            self.owed = 0

        def took(self, item, rng):
            producer, seq = item
            ctx.check(0 <= producer < PARTIES, f"an item nobody put: {item!r}")
            if fifo:
                # A FIFO queue gives one producer's items in the order they were put.
                prev = self.last.get(producer, -1)
                ctx.check(seq > prev, f"FIFO order broken: {item!r} after seq {prev}")
                self.last[producer] = seq
            self.got.append(item)
            with book:
                st["gets"] += 1
            if rng.random() < 0.7:
                q.task_done()
            else:
                self.owed += 1

        def pay(self):
            for _ in range(self.owed):
                q.task_done()
            self.owed = 0

        def finish(self):
            self.pay()
            with book:
                got_all.extend(self.got)

    def put_ok(w):
        put_by[w] += 1
        with book:
            st["puts"] += 1

    def producer_done():
        with book:
            st["producers_done"] += 1

    def thread_fn(w, rng):
        me = Consumer()
        while ctx.running():
            op = rng.randrange(10)
            if op < 4:
                item = (w, put_by[w])
                try:
                    if rng.random() < 0.3:
                        q.put_nowait(item)
                    else:
                        q.put(item, timeout=short(rng))
                except aiosync.QueueFull:
                    continue
                put_ok(w)
            elif op < 8:
                try:
                    if rng.random() < 0.3:
                        item = q.get_nowait()
                    else:
                        item = q.get(timeout=short(rng))
                except aiosync.QueueEmpty:
                    continue
                me.took(item, rng)
            else:
                me.pay()
        me.pay()
        producer_done()
        while not drained():
            ctx.check(time.monotonic() < ctx.hard, "queue drain stuck")
            if ctx.failed.is_set():
                raise Aborted
            try:
                me.took(q.get(timeout=short(rng)), rng)
            except aiosync.QueueEmpty:
                pass
        me.finish()

    async def task_fn(w, rng):
        me = Consumer()
        while ctx.running():
            op = rng.randrange(10)
            if op < 4:
                item = (w, put_by[w])
                form = rng.randrange(3)
                if form == 0:
                    try:
                        q.put_nowait(item)
                        ok = True
                    except aiosync.QueueFull:
                        ok = False
                elif form == 1:
                    ok = await timed(_put(q, item), ashort(rng)) is not None
                else:
                    ok = await cancelled(_put(q, item), rng) is not None
                if ok:
                    put_ok(w)
            elif op < 8:
                form = rng.randrange(3)
                if form == 0:
                    try:
                        item = q.get_nowait()
                    except aiosync.QueueEmpty:
                        continue
                elif form == 1:
                    item = await timed(q.get(), ashort(rng))
                else:
                    item = await cancelled(q.get(), rng)
                if item is not None:
                    me.took(item, rng)
            elif op == 8:
                await timed(q.join(), ashort(rng))
            else:
                me.pay()
        me.pay()
        producer_done()
        while not drained():
            ctx.check(time.monotonic() < ctx.hard, "queue drain stuck")
            if ctx.failed.is_set():
                raise Aborted
            item = await timed(q.get(), ashort(rng))
            if item is not None:
                me.took(item, rng)
        me.finish()

    run_mixed(ctx, thread_fn, task_fn)
    expected = sorted((w, s) for w in range(PARTIES) for s in range(put_by[w]))
    got = sorted(got_all)
    if got != expected:
        gs, es = set(got), set(expected)
        dup = len(got) - len(gs)
        raise AssertionError(
            ctx.tag(
                f"items not delivered exactly once: {len(expected)} put, {len(got)} got, "
                f"{dup} duplicated, lost {sorted(es - gs)[:5]}, never put {sorted(gs - es)[:5]}"
            )
        )
    ctx.check(q.empty() and q.qsize() == 0, f"{q.qsize()} items left")
    ctx.check(q.sync_q.unfinished_tasks == 0, f"unfinished_tasks {q.sync_q.unfinished_tasks}")
    t = threading.Thread(target=q.join, daemon=True)
    t.start()
    t.join(ctx.left())
    ctx.check(not t.is_alive(), "join() (threading) did not return")

    async def join():
        await q.join()

    try:
        asyncio.run(asyncio.wait_for(join(), ctx.left()))
    except asyncio.TimeoutError:
        ctx.check(False, "await join() did not return")
    ctx.check(raises(ValueError, q.task_done), "task_done() accepted one call too many")
    ctx.check(len(expected) > 0, "no item put")
    print(f"chaos queue[{kind}]: {len(expected)} items")


async def _put(q, item):
    """`await q.put(item)`, returning True (so that `timed` tells success from timeout)."""
    await q.put(item)
    return True
