//! A server that fails under a held lock: killed with `kill -9` and restarted (with no
//! persistence, an RDB snapshot, an fsynced AOF), or paused with SIGSTOP past the lease.
//!
//! The property throughout: never two holders at once. A holder's belief is measured by
//! polling `check()` (its last `Ok` is a moment it believed it held); a waiter's by the
//! moment its acquire returned. The first must come before the second.

mod common;

use aiosync_redis::{Client, Error, Hold, Lock};
use common::{wait_ready, wait_until, Persistence, Server};
use std::future::Future;
use std::task::{Context, Waker};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const LEASE: Duration = Duration::from_millis(600);
const BEAT: Duration = Duration::from_millis(200);

fn client(s: &Server, lease: Duration) -> Client {
    Client::open(&s.url(), "t", lease).expect("connect")
}

/// What the holder saw: the last moment `check()` said it held, whether it found the
/// hold lost (else it released it while valid), and what `release()` answered.
struct Held {
    last_ok: Instant,
    lost: bool,
    release: Result<(), Error>,
}

/// Watches `hold` every millisecond; releases it once it is lost, or (still valid) at
/// `keep_until`.
fn watch_holder(hold: Hold, keep_until: Instant) -> JoinHandle<Held> {
    std::thread::spawn(move || {
        let mut last_ok = Instant::now();
        let mut lost = false;
        loop {
            let now = Instant::now();
            if hold.check().is_err() {
                lost = true;
                break;
            }
            last_ok = now;
            if now >= keep_until {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Held {
            last_ok,
            lost,
            release: hold.release(),
        }
    })
}

/// A waiter that retries through the server's absence (an acquire errs while it is
/// down or silent) until `bound`: its hold and the moment it got it.
fn waiter(lock: Lock, bound: Duration) -> JoinHandle<(Hold, Instant)> {
    std::thread::spawn(move || {
        let start = Instant::now();
        loop {
            let left = bound.saturating_sub(start.elapsed());
            assert!(!left.is_zero(), "the waiter got nothing within {bound:?}");
            match lock.lock_blocking_timeout(left) {
                Ok(Some(h)) => return (h, Instant::now()),
                Ok(None) => {}
                Err(Error::Redis(_)) => std::thread::sleep(Duration::from_millis(10)),
                Err(e) => panic!("waiter: {e}"),
            }
        }
    })
}

fn restart_while_held(mode: Persistence) {
    let mut s = Server::start_mode(mode);
    let (a, b) = (client(&s, LEASE), client(&s, LEASE));
    wait_ready(&a);
    let hold = a.lock("r").lock_blocking().unwrap();
    let old_token = hold.token();
    let w = waiter(b.lock("r"), Duration::from_secs(8));
    wait_until("the waiter is queued", Duration::from_secs(5), || {
        s.zcard("t:lock:{r}:queue") == 1
    });
    if mode == Persistence::Rdb {
        s.snapshot();
    }
    let killed = Instant::now();
    s.restart();
    // A holder still valid after the restart keeps the lock a while, then releases.
    let h = watch_holder(hold, killed + LEASE * 3);
    let (new, granted) = w.join().unwrap();
    let held = h.join().unwrap();
    eprintln!(
        "{mode:?}: old holder {} {:?} after the kill, waiter granted {:?} after",
        if held.lost { "lost it" } else { "released it" },
        held.last_ok - killed,
        granted - killed,
    );
    assert!(
        held.last_ok < granted,
        "{mode:?}: double grant: the old holder believed it held {:?} after the waiter got it",
        held.last_ok - granted
    );
    if held.lost {
        assert!(matches!(held.release, Err(Error::LeaseLost)));
    } else {
        held.release.unwrap();
    }
    if mode == Persistence::None {
        assert!(
            held.lost,
            "the server forgot the hold: a renewal must see it"
        );
    }
    assert!(new.token() > old_token, "{} <= {old_token}", new.token());
    // The old holder's release did not harm the new one.
    new.check().unwrap();
    assert!(a.lock("r").try_lock().unwrap().is_none());
    new.release().unwrap();
    assert_eq!(s.zcard("t:lock:{r}:queue"), 0);
    assert_eq!(s.zcard("t:lock:{r}:held"), 0);
}

#[test]
fn restart_without_persistence_while_held_never_grants_twice() {
    restart_while_held(Persistence::None);
}

#[test]
fn restart_from_an_rdb_snapshot_while_held_never_grants_twice() {
    restart_while_held(Persistence::Rdb);
}

#[test]
fn restart_with_an_fsynced_aof_while_held_never_grants_twice() {
    restart_while_held(Persistence::Aof);
}

#[test]
fn a_server_paused_past_the_lease_ends_the_hold_at_the_local_deadline() {
    let s = Server::start();
    let (a, b) = (client(&s, LEASE), client(&s, LEASE));
    wait_ready(&a);
    let hold = a.lock("p").lock_blocking().unwrap();
    let old_token = hold.token();
    let w = waiter(b.lock("p"), Duration::from_secs(8));
    wait_until("the waiter is queued", Duration::from_secs(5), || {
        s.zcard("t:lock:{p}:queue") == 1
    });
    let paused = Instant::now();
    s.pause();
    let resume_at = paused + LEASE * 2;
    let lost_at = loop {
        let now = Instant::now();
        if hold.check().is_err() {
            break now;
        }
        assert!(
            now < resume_at,
            "still held with the server paused past the lease"
        );
        std::thread::sleep(Duration::from_millis(1));
    };
    // The last renewal went out before the pause and at most a beat before it.
    let after = lost_at - paused;
    assert!(after <= LEASE + Duration::from_millis(30), "{after:?}");
    assert!(
        after + BEAT + LEASE / 50 + Duration::from_millis(30) >= LEASE,
        "{after:?}"
    );
    std::thread::sleep(resume_at.saturating_duration_since(Instant::now()));
    s.resume();
    // Lost locally, so the release says so, and touches no one else's hold.
    assert!(matches!(hold.release(), Err(Error::LeaseLost)));
    let (new, granted) = w.join().unwrap();
    assert!(granted > lost_at);
    assert!(new.token() > old_token);
    new.check().unwrap();
    assert!(
        a.lock("p").try_lock().unwrap().is_none(),
        "the new holder's"
    );
    new.release().unwrap();
    assert_eq!(s.zcard("t:lock:{p}:queue"), 0);
    assert_eq!(s.zcard("t:lock:{p}:held"), 0);
}

/// When the waiter behind a paused holder starts, and who else is there.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Case {
    /// It starts waiting after the restart: nothing but the quarantine runs.
    WaitAfter,
    /// As `WaitAfter`, and a third waiter gives up during the quarantine.
    Quitter,
    /// It waits before the restart: its acquire fails while the server is down, and it
    /// tries again (the failed wait withdraws).
    WaitBefore,
}

/// Restarts a server without persistence under a holder whose heartbeat stops just
/// before (a holder paused, still inside its lease), with a waiter as `case` says. The
/// holder's view must end before the waiter is granted.
fn quarantine_holds(holder_lease: Duration, waiter_lease: Duration, case: Case) {
    let mut s = Server::start();
    let (a, b) = (client(&s, holder_lease), client(&s, waiter_lease));
    let c = client(&s, waiter_lease);
    wait_ready(&a);
    let hold = a.lock("q").lock_blocking().unwrap();
    // The others meet the namespace before the restart (a try finds it held), and so
    // learn its longest lease, which the restart loses on the server.
    assert!(b.lock("q").try_lock().unwrap().is_none());
    assert!(c.lock("q").try_lock().unwrap().is_none());
    let mut w = None;
    if case == Case::WaitBefore {
        w = Some(waiter(b.lock("q"), Duration::from_secs(8)));
        wait_until("the waiter is queued", Duration::from_secs(5), || {
            s.zcard("t:lock:{q}:queue") == 1
        });
    }
    a.suspend_heartbeat(true);
    let killed = Instant::now();
    s.restart();
    let h = watch_holder(hold, killed + holder_lease * 2);
    let w = w.unwrap_or_else(|| waiter(b.lock("q"), Duration::from_secs(8)));
    wait_until(
        "the waiter queued on the new server",
        Duration::from_secs(2),
        || s.zcard("t:lock:{q}:queue") == 1,
    );
    if case == Case::Quitter {
        let quitting = c.lock("q");
        let mut fut = Box::pin(quitting.lock());
        let polled = fut.as_mut().poll(&mut Context::from_waker(Waker::noop()));
        assert!(polled.is_pending());
        wait_until("the quitter is queued", Duration::from_secs(2), || {
            s.zcard("t:lock:{q}:queue") == 2
        });
        // Gives up: leaves the queue (the release script runs).
        drop(fut);
    }
    let (new, granted) = w.join().unwrap();
    let held = h.join().unwrap();
    assert!(
        held.last_ok < granted,
        "double grant: the paused holder believed it held {:?} after the waiter got it \
         ({:?} after the kill)",
        held.last_ok - granted,
        granted - killed
    );
    new.release().unwrap();
}

#[test]
fn quarantine_outlasts_a_paused_holder() {
    let lease = Duration::from_millis(1500);
    quarantine_holds(lease, lease, Case::WaitAfter);
}

#[test]
fn quarantine_holds_when_a_waiter_gives_up_during_it() {
    let lease = Duration::from_millis(1500);
    quarantine_holds(lease, lease, Case::Quitter);
}

#[test]
fn quarantine_holds_for_a_waiter_that_waited_through_the_restart() {
    let lease = Duration::from_millis(1500);
    quarantine_holds(lease, lease, Case::WaitBefore);
}

#[test]
fn quarantine_covers_the_longest_lease_of_a_namespace() {
    quarantine_holds(
        Duration::from_millis(3000),
        Duration::from_millis(300),
        Case::WaitAfter,
    );
}
