//! Async callers and a server that stops answering: a poll of an acquire, a release or an
//! event wait never keeps the executor's thread for long (the inline attempt gives up
//! within its bound and the round trip moves to the client's I/O thread), and everything
//! ends right once the server answers again.

mod common;

use aiosync_redis::Client;
use common::{wait_ready, wait_until, Server};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

const LEASE: Duration = Duration::from_secs(3);
const BOUND: Duration = Duration::from_secs(5);
/// The longest a poll may keep the thread while the server is stopped: the inline bound
/// (10 ms) with room for a loaded machine, far below the socket timeout (seconds).
const POLL_MAX: Duration = Duration::from_millis(250);

fn client(s: &Server) -> Client {
    Client::open(&s.url(), "t", LEASE).expect("connect")
}

/// Polls `fut` once with a waker that does nothing; returns the outcome and the time
/// the poll took.
fn timed_poll<F: Future>(fut: Pin<&mut F>) -> (Poll<F::Output>, Duration) {
    let start = Instant::now();
    let r = fut.poll(&mut Context::from_waker(Waker::noop()));
    (r, start.elapsed())
}

#[test]
fn polls_on_a_stopped_server_return_at_once_and_finish_once_it_answers() {
    let s = Server::start();
    let (a, b) = (client(&s), client(&s));
    wait_ready(&a);
    // One async round trip each way while the server answers: inline.
    let lock = b.lock("x");
    let hold = aiosync::block_on(lock.lock(), Some(BOUND))
        .expect("in time")
        .expect("granted");
    aiosync::block_on(hold.release_async(), Some(BOUND))
        .expect("in time")
        .expect("released");

    let held = a.lock("x").lock_blocking().unwrap();
    s.pause();
    // An acquire polled while the server is stopped: pending, and soon.
    let mut acquire = Box::pin(lock.lock());
    let (r, took) = timed_poll(acquire.as_mut());
    assert!(
        r.is_pending(),
        "nobody can be granted a lock while the server is stopped"
    );
    assert!(took < POLL_MAX, "the first poll kept the thread {took:?}");
    // An event wait polled the same way.
    let ev = b.event("e");
    let mut wait = Box::pin(ev.wait());
    let (r, took) = timed_poll(wait.as_mut());
    assert!(r.is_pending());
    assert!(
        took < POLL_MAX,
        "the event wait's poll kept the thread {took:?}"
    );
    // Dropping the pending acquire (a cancelled task) does not wait for the server.
    let start = Instant::now();
    drop(acquire);
    assert!(
        start.elapsed() < POLL_MAX,
        "the drop took {:?}",
        start.elapsed()
    );
    drop(wait);
    s.resume();

    // The dropped waiter left the queue once the server answered, so the next release
    // finds nobody and the lock is free.
    wait_until("the dropped waiter left", BOUND, || {
        s.zcard("t:lock:{x}:queue") == 0
    });
    held.release().unwrap();
    let again = lock.try_lock().unwrap().expect("free: nothing leaked");
    again.release().unwrap();
    wait_until("the event's waiters left", BOUND, || {
        s.zcard("t:event:{e}:waiters") == 0
    });
}

#[test]
fn a_release_on_a_stopped_server_starts_at_once_and_ends_once_it_answers() {
    let s = Server::start();
    let (a, b) = (client(&s), client(&s));
    wait_ready(&a);
    let hold = aiosync::block_on(b.lock("r").lock(), Some(BOUND))
        .expect("in time")
        .expect("granted");
    let token = hold.token();
    s.pause();
    let start = Instant::now();
    let mut release = Box::pin(hold.release_async());
    let (r, _) = timed_poll(release.as_mut());
    assert!(r.is_pending(), "no answer from a stopped server");
    assert!(start.elapsed() < POLL_MAX, "took {:?}", start.elapsed());
    s.resume();
    aiosync::block_on(release, Some(BOUND))
        .expect("in time")
        .expect("released within its lease");
    // Released, not expired: the next holder has it at once, with a later token.
    let next = a.lock("r").try_lock().unwrap().expect("free");
    assert!(next.token() > token);
    next.release().unwrap();
}
