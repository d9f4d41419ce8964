"""`aiosync.Synchronizer`'s rules: Ctrl-C, cancellation, fork, exit, close, translation,
asyncify, generators. Signal, fork and exit tests run in a child that prints markers."""

import asyncio
import inspect
import os
import subprocess
import sys
import textwrap
import threading
import time

import aiosync
import pytest

DEADLINE = 10.0
pytestmark = pytest.mark.timeout(60)
needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork() is POSIX only")


@pytest.fixture
def s():
    with aiosync.Synchronizer() as s:
        yield s


def run_child(code: str, timeout: float = 30.0) -> subprocess.CompletedProcess:
    """Runs `code` in a fresh interpreter; a hang past `timeout` fails (TimeoutExpired)."""
    args = [sys.executable, "-c", textwrap.dedent(code)]
    return subprocess.run(args, timeout=timeout, capture_output=True, text=True)


async def until(ev: threading.Event, timeout: float = DEADLINE) -> None:
    deadline = time.monotonic() + timeout
    while not ev.is_set():
        assert time.monotonic() < deadline, "event not set in time"
        await asyncio.sleep(0.001)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, DEADLINE))


# -- 1. Ctrl-C during a blocking call --------------------------------------------------
SLOW = """
import asyncio, os, signal, threading, aiosync
signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started ignoring it
s = aiosync.Synchronizer()
lock, counts, started = threading.Lock(), {"start": 0, "finally": 0}, threading.Event()
def count(key):
    with lock: counts[key] += 1
    print(key, flush=True)
@s.wrap
async def slow():
    count("start")
    started.set()
    try: await asyncio.sleep(60)
    finally: count("finally")
ping = s.wrap(asyncio.sleep)  # ping(0): a round trip through the loop
"""
ONCE = """
def killer():
    started.wait(10) and os.kill(os.getpid(), signal.SIGINT)
threading.Thread(target=killer, daemon=True).start()
try:
    slow(); print("returned", flush=True)
except KeyboardInterrupt:
    print("keyboardinterrupt", flush=True)
s.close(); print("exit", flush=True)
"""
MANY = """
def killer(i, go):
    go.wait(10)
    if i % 4 == 3:  # surely inside the task
        started.wait(10)
    else:  # from at once (before the task can exist) to later
        for _ in range(i * 400): pass
    os.kill(os.getpid(), signal.SIGINT)
ping(0)
for i in range(20):
    started.clear(); go = threading.Event(); outcome = "returned"
    t = threading.Thread(target=killer, args=(i, go), daemon=True); t.start()
    try:
        go.set(); slow()
    except KeyboardInterrupt:
        outcome = "ki"
    t.join(10)
    ping(0)  # every task queued before it has taken its first step
    with lock:
        print("row", i, outcome, t.is_alive(), counts["start"], counts["finally"], flush=True)
s.close(); print("done", flush=True)
"""


def test_ctrl_c_cancels_the_inner_task_and_waits_for_its_finally():
    r = run_child(SLOW + ONCE)
    assert r.stdout.splitlines() == ["start", "finally", "keyboardinterrupt", "exit"], r.stderr
    assert r.returncode == 0 and r.stderr == ""


def test_ctrl_c_at_any_moment_never_hangs_nor_leaks_a_task():
    # ping(0) first: the loop thread is up before any signal (see the test after this).
    r = run_child(SLOW + MANY)
    out = r.stdout.splitlines()
    rows = [line.split()[1:] for line in out if line.startswith("row ")]
    assert out[-1:] == ["done"] and len(rows) == 20, (r.stdout, r.stderr)
    for i, outcome, alive, st, fi in rows:
        assert outcome == "ki" and alive == "False", (i, outcome, alive)
        assert st == fi, f"iteration {i}: {int(st) - int(fi)} task(s) still running"
    assert r.returncode == 0 and r.stderr == ""


def test_ctrl_c_while_the_loop_thread_starts_leaves_it_usable():
    # Simulated: as if Ctrl-C's handler ran at Thread.start's first line (a check point).
    r = run_child("""
import asyncio, threading, aiosync
sleep, orig = aiosync.Synchronizer().wrap(asyncio.sleep), threading.Thread.start
def start(self):
    threading.Thread.start = orig
    raise KeyboardInterrupt
threading.Thread.start = start
try:
    sleep(0)  # the first call starts the loop thread
except KeyboardInterrupt:
    print("ki", flush=True)
print("second", sleep(0, 1, _future=True).result(timeout=3), flush=True)
""")
    assert r.stdout.splitlines() == ["ki", "second 1"], r.stderr


@pytest.mark.parametrize("where", ["_schedule", "_write_to_self"])  # the latter: at csock.send
def test_ctrl_c_as_the_call_is_queued_still_cancels_it(s, monkeypatch, where):
    from aiosync._synchronizer._runtime import Runtime

    counts, running, let_go = {"start": 0, "finally": 0}, threading.Event(), threading.Event()

    @s.wrap
    async def slow() -> None:
        counts["start"] += 1
        running.set()
        let_go.wait(2)  # running (not suspended) on the loop; bounded: a fix waits for it
        try:
            await asyncio.sleep(60)
        finally:
            counts["finally"] += 1

    ping = s.wrap(asyncio.sleep)
    ping(0)
    target = Runtime if where == "_schedule" else s._get_loop()  # the loop's: once queued
    orig = getattr(target, where)

    def interrupted(*args):  # simulated: Ctrl-C's handler raising at a check point
        orig(*args)
        monkeypatch.undo()
        running.wait(DEADLINE)
        raise KeyboardInterrupt

    monkeypatch.setattr(target, where, interrupted)
    try:
        with pytest.raises(KeyboardInterrupt):
            slow()
    finally:
        monkeypatch.undo()
        let_go.set()
    ping(0)
    assert counts["start"] == counts["finally"]  # cancelled, or never started


# -- 2. cancelling an .aio awaiter -----------------------------------------------------
def test_cancelling_an_aio_awaiter_waits_for_the_inner_finally(s):
    started, cleaned = threading.Event(), threading.Event()

    @s.wrap
    async def slow() -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        finally:
            await asyncio.sleep(0.02)  # cleanup that takes a while, on its own loop
            cleaned.set()

    async def main() -> None:
        t = asyncio.ensure_future(slow.aio())
        await until(started)
        t.cancel()
        with pytest.raises(asyncio.CancelledError):
            await t
        assert cleaned.is_set()  # before the awaiter went on
        started.clear()
        cleaned.clear()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(slow.aio(), 0.05)
        # The inner task either never started or has finished its cleanup already.
        assert cleaned.is_set() or not started.is_set()

    run(main())


# -- 3. fork ---------------------------------------------------------------------------
FORK = """
import asyncio, os, signal, threading, time, aiosync
s = aiosync.Synchronizer()
entered, release, held, let_go = (threading.Event() for _ in range(4))
@s.wrap
async def where(): return threading.get_native_id()
@s.wrap
async def hold():
    entered.set()
    while not release.is_set():
        await asyncio.sleep(0.002)
    return "held"
ag = s.asyncify(lambda: "asyncified")
assert asyncio.run(ag()) == "asyncified"
parent_loop, parent_thread = where(), s._thread
caller = threading.Thread(target=lambda: print("parent", hold(), flush=True), daemon=True)
caller.start()
assert entered.wait(10)  # another thread is in the middle of a blocking call
threading.Thread(target=lambda: [LOCK.acquire(), held.set(), let_go.wait(10), LOCK.release()],
                 daemon=True).start()
assert held.wait(10)
pid = os.fork()
if pid == 0:
    signal.alarm(5)  # a hang kills the child
    try:
        loop = where()  # native ids: pthread idents may be reused across a fork
        print("child", loop != parent_loop, s._thread.native_id == loop,
              parent_thread.is_alive(), asyncio.run(where.aio()) == loop,
              asyncio.run(ag()), flush=True)
    finally:
        os._exit(0)
let_go.set()
deadline = time.monotonic() + 15
while (status := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
    time.sleep(0.01)
status[0] or os.kill(pid, signal.SIGKILL)
print("reaped", status[0] != 0 and os.waitstatus_to_exitcode(status[1]), flush=True)
release.set(); caller.join(10); s.close()
"""


@needs_fork
def test_fork_while_a_blocking_call_runs_and_the_runtime_lock_is_held():
    # The runtime's lock held by another parent thread at the fork (white-box: it is
    # taken for a moment by each loop() start).
    r = run_child(FORK.replace("LOCK", "s._runtime._lock"))
    out = r.stdout.splitlines()
    assert "child True True False True asyncified" in out, (r.stdout, r.stderr)
    assert "reaped 0" in out and "parent held" in out
    assert r.returncode == 0, r.stderr


@needs_fork
def test_fork_while_the_asyncify_pool_lock_is_held():
    r = run_child(FORK.replace("LOCK", "s._pool._lock"))
    assert "child True True False True asyncified" in r.stdout.splitlines(), r.stdout


# -- 4. interpreter exit ---------------------------------------------------------------
EXIT = """
import asyncio, aiosync
s = aiosync.Synchronizer()
@s.wrap
async def forever(): await asyncio.sleep(3600)
@s.wrap
async def gen():
    try: yield 1
    finally: print("gen finally", flush=True)
fut, it = forever(_future=True), gen()
assert next(it) == 1
assert asyncio.run(s.asyncify(lambda: 5)()) == 5
print("end of main", flush=True)
"""


def test_interpreter_exit_with_pending_work_is_quick_and_quiet():
    r = run_child(EXIT, timeout=20)  # a hang fails
    assert r.stdout.splitlines() == ["end of main", "gen finally"]  # finalized at exit
    assert r.stderr == "" and r.returncode == 0


# -- 5. after close() ------------------------------------------------------------------
def test_calls_after_close_raise_at_once():
    with aiosync.Synchronizer() as s:
        f = s.wrap(asyncio.sleep)
        gen = s.wrap(numbers)
        assert f(0, 1) == 1
        thread = s._thread
        assert thread is not None and thread.is_alive()
    assert not thread.is_alive()  # `with` closed it and joined its thread
    s.close()
    s.close()  # more closes are fine
    t0 = time.monotonic()
    calls = [lambda: f(0), lambda: run(f.aio(0)), lambda: s.asyncify(len)]
    for call in [*calls, lambda: next(gen(1)), lambda: run(gen.aio(1).__anext__())]:
        with pytest.raises(aiosync.SynchronizerClosedError):
            call()
    assert time.monotonic() - t0 < 2
    assert issubclass(aiosync.SynchronizerClosedError, RuntimeError)


def test_an_asyncified_call_after_close_raises():
    s = aiosync.Synchronizer()
    ran: list[int] = []
    af = s.asyncify(lambda: ran.append(1))
    s.close()
    with pytest.raises(aiosync.SynchronizerClosedError):
        run(af())
    assert ran == []


# -- 6. translation identity -----------------------------------------------------------
class Node:
    def __init__(self, v: int) -> None:
        self.v = v


async def numbers(n: int = 100, on_close=None):
    try:
        for i in range(n):
            yield i
    finally:
        if on_close is not None:
            on_close(threading.get_ident())


async def echo(x):
    return x


async def plain(xs: list[int]) -> list[int]:
    return xs


async def takes(n: Node, ns: list[Node]) -> tuple[Node, bool]:
    return n, type(n) is Node and ns[0] is n


def test_wrappers_keep_their_identity_through_calls_and_containers(s):
    BNode, made, seen = s.wrap(Node), s.wrap(lambda v: echo(Node(v))), []
    look = s.wrap(lambda x: seen.append(x) or echo(x))  # records what the implementation got
    n = BNode(1)
    assert look(n) is n and type(seen[-1]) is Node
    out = look([n, (n,), {"k": n}])
    assert out[0] is n and out[1][0] is n and out[2]["k"] is n
    inner = seen[-1]
    assert type(inner[0]) is Node and inner[0] is inner[1][0] is inner[2]["k"]
    m = made(2)
    assert type(m) is BNode and m.v == 2
    assert look(m) is m and look((m, n))[0] is m
    assert run(look.aio({"m": [m]}))["m"][0] is m


@pytest.mark.parametrize("callee_wraps_first", [False, True])
def test_two_synchronizers_never_unwrap_each_others_objects(callee_wraps_first):
    Local = type("Local", (), {})
    with aiosync.Synchronizer() as s1, aiosync.Synchronizer() as s2:
        B2 = s2.wrap(Local) if callee_wraps_first else None
        B1, B2, seen = s1.wrap(Local), B2 or s2.wrap(Local), []
        look = s2.wrap(lambda x: seen.append(x) or echo(x))
        n1, n2 = B1(), B2()
        assert look(n1) is n1 and type(seen[-1]) is B1  # s1's wrapper, not a Local
        assert look([n1])[0] is n1 and type(seen[-1][0]) is B1
        assert look(n2) is n2 and type(seen[-1]) is Local  # its own: unwrapped


# -- 7. annotation-driven translation --------------------------------------------------
def test_plainly_annotated_arguments_are_passed_as_they_are(s):
    xs, seen = [1, 2, 3], []
    assert s.wrap(plain)(xs) is xs and run(s.wrap(plain).aio(xs)) is xs
    out = s.wrap(lambda ys: seen.append(ys) or echo(ys))(xs)  # unannotated
    assert seen[-1] == xs and seen[-1] is not xs  # the walk built a new list
    assert out == xs and out is not xs and out is not seen[-1]
    w = s.wrap(Node)(5)
    back, ok = s.wrap(takes)(w, [w])  # annotated with the implementation class
    assert back is w and ok


# -- 8. asyncify -----------------------------------------------------------------------
class Resource:
    def __init__(self, n: int) -> None:
        self.n, self.log = n, []

    def __enter__(self):
        self.log.append("enter")
        return self

    def __exit__(self, *exc) -> None:
        self.log.append("exit")

    def __iter__(self):
        return iter(range(self.n))

    def add(self, x: int):
        return threading.get_ident(), self.n + x, list(self.log)

    size = property(lambda self: self.n)


def test_asyncify_functions_and_classes_run_on_worker_threads(s):
    af = s.asyncify(lambda x: (threading.get_ident(), x * 2))
    AResource = s.asyncify(Resource)
    assert inspect.iscoroutinefunction(af) and inspect.iscoroutinefunction(AResource.add)
    s.wrap(asyncio.sleep)(0)  # the synchronizer's loop runs

    async def main():
        async with AResource(3) as r:
            assert isinstance(r, AResource)
            items = [v async for v in r]
            tid, v, log = await r.add(1)
        after = (await r.add(0))[2]
        return threading.get_ident(), await af(21), items, tid, v, log, r.size, after

    here, (worker, value), items, tid, v, log, size, after = run(main())
    assert value == 42 and items == [0, 1, 2] and v == 4 and size == 3
    assert log == ["enter"] and after == ["enter", "exit"]
    assert worker not in (here, s._thread.ident) and tid not in (here, s._thread.ident)


def test_two_loops_awaiting_asyncified_calls_both_progress(s):
    a_in, b_done, ticked = threading.Event(), threading.Event(), threading.Event()
    call_a = s.asyncify(lambda: a_in.set() or b_done.wait(DEADLINE))  # waits for call B
    call_b = s.asyncify(lambda: [a_in.wait(DEADLINE) and ticked.wait(DEADLINE), b_done.set()])

    async def tick() -> None:  # runs on loop 1 while call A blocks its worker
        await until(a_in)
        await asyncio.sleep(0)
        ticked.set()

    async def loop1() -> bool:
        return (await asyncio.gather(call_a(), tick()))[0]

    results: dict = {}
    threads = [
        threading.Thread(target=lambda c=c: results.update({c: run(c())})) for c in (loop1, call_b)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DEADLINE + 2)
    assert results == {loop1: True, call_b: [True, None]}


def test_asyncified_generator_closes_on_early_break(s):
    closed = threading.Event()

    @s.asyncify
    def count():
        try:
            yield from range(100)
        finally:
            closed.set()

    async def main() -> list[int]:
        got = []
        async for v in count():
            got.append(v)
            if v == 2:
                break
        await until(closed)
        return got

    assert inspect.isasyncgenfunction(count) and run(main()) == [0, 1, 2]


def test_a_cancelled_asyncify_call_that_had_not_started_never_runs():
    with aiosync.Synchronizer(asyncify_workers=1) as s:
        busy, unblock, ran = threading.Event(), threading.Event(), []
        blocker = s.asyncify(lambda: busy.set() or unblock.wait(DEADLINE))
        victim, after = s.asyncify(lambda: ran.append(1)), s.asyncify(lambda: "after")

        async def main() -> None:
            tb = asyncio.ensure_future(blocker())
            await until(busy)  # the only worker is busy
            tv = asyncio.ensure_future(victim())
            await asyncio.sleep(0)  # its first step queues the job
            tv.cancel()
            with pytest.raises(asyncio.CancelledError):
                await tv
            unblock.set()
            assert await tb is True
            assert await after() == "after"  # queued behind the victim's job

        run(main())
        assert ran == []


def test_the_asyncify_pool_is_bounded():
    with aiosync.Synchronizer(asyncify_workers=2) as s:
        lock, active, peak, idents = threading.Lock(), [], [], set()
        two_in, release = threading.Event(), threading.Event()

        @s.asyncify
        def job() -> None:
            with lock:  # counts concurrent entries
                active.append(1)
                peak.append(len(active))
                idents.add(threading.get_ident())
            if len(active) == 2:
                two_in.set()
            release.wait(DEADLINE)
            with lock:
                active.pop()

        async def main() -> None:
            tasks = [asyncio.ensure_future(job()) for _ in range(6)]
            await until(two_in)  # (by now every task has queued its job)
            release.set()
            await asyncio.gather(*tasks)

        run(main())
        assert max(peak) == 2 and len(peak) == 6 and len(idents) == 2


# -- 9. generators: send / throw / early close -----------------------------------------
async def replies(record):
    reply = "first"
    while True:
        try:
            x = yield reply
            record(x)
            reply = f"got {x}"
        except ValueError as e:
            record(f"caught {e}")
            reply = f"caught {e}"


def test_generator_send_and_throw_reach_the_implementation(s):
    log, echo_gen = [], s.wrap(replies)

    async def main() -> list:
        g = echo_gen.aio(log.append)
        out = [await g.__anext__(), await g.asend(1)]
        out += [await g.athrow(ValueError("a")), await g.athrow(ValueError("b"))]
        out.append(await g.asend(2))
        await g.aclose()
        return out

    assert run(main()) == ["first", "got 1", "caught a", "caught b", "got 2"]
    it = echo_gen(log.append)  # the blocking form
    assert next(it) == "first" and it.send(1) == "got 1"
    assert it.throw(ValueError("a")) == "caught a" and it.send(2) == "got 2"
    it.close()
    assert log == [1, "caught a", "caught b", 2, 1, "caught a", 2]


def test_blocking_generator_two_throws_in_a_row(s):
    it = s.wrap(replies)([].append)
    assert next(it) == "first"
    assert it.throw(ValueError("a")) == "caught a"
    assert it.throw(ValueError("b")) == "caught b"


def test_break_in_a_blocking_for_closes_the_generator_on_the_loop(s):
    closed_on, got = [], []
    for v in s.wrap(numbers)(100, closed_on.append):
        got.append(v)
        if v == 2:
            break
    assert got == [0, 1, 2]
    assert closed_on == [s._thread.ident]  # closed already, and on the loop's thread
