//! Semaphore, RwLock, RLock and Event against a real redis-server (`common::Server`).

mod common;

use aiosync::OwnerId;
use aiosync_redis::{Client, Error};
use common::{wait_until, Server};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

const LEASE: Duration = Duration::from_millis(600);
/// Any wait that should end does so well within this.
const BOUND: Duration = Duration::from_secs(5);

fn client(s: &Server) -> Client {
    Client::open(&s.url(), "t", LEASE).expect("connect")
}

fn wait_for(what: &str, f: impl FnMut() -> bool) {
    wait_until(what, BOUND, f);
}

#[test]
fn semaphore_admits_at_most_its_value_across_clients() {
    let s = Server::start();
    let inside = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let mut threads = Vec::new();
    for c in 0..3 {
        let cl = client(&s);
        for _ in 0..2 {
            let (cl, inside, most) = (cl.clone(), inside.clone(), most.clone());
            threads.push(std::thread::spawn(move || {
                let sem = cl.semaphore("pool", 2);
                for _ in 0..15 {
                    let p = sem.acquire_blocking().unwrap();
                    let n = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(n, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_micros(300 + c * 100));
                    inside.fetch_sub(1, Ordering::SeqCst);
                    p.release().unwrap();
                }
            }));
        }
    }
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(
        most.load(Ordering::SeqCst),
        2,
        "two permits, both used, never three"
    );
    assert_eq!(client(&s).semaphore("pool", 2).taken().unwrap(), 0);
}

#[test]
fn added_permits_let_a_waiter_in_and_bounded_refuses_them() {
    let s = Server::start();
    let a = client(&s);
    let sem = a.semaphore("p", 1);
    let _first = sem.acquire_blocking().unwrap();
    let (tx, rx) = mpsc::channel();
    let b = client(&s).semaphore("p", 1);
    let t = std::thread::spawn(move || {
        let p = b.acquire_blocking().unwrap();
        tx.send(()).unwrap();
        p.release().unwrap();
    });
    wait_for("waiter queued", || s.zcard("t:sem:{p}:queue") == 1);
    assert!(rx.try_recv().is_err(), "one permit, taken");
    assert_eq!(sem.add_permits(1).unwrap(), 2);
    rx.recv_timeout(BOUND)
        .expect("the added permit reached the waiter");
    t.join().unwrap();
    let bounded = a.bounded_semaphore("q", 1);
    assert!(matches!(
        bounded.add_permits(1),
        Err(Error::TooManyReleases)
    ));
}

#[test]
fn a_crashed_holders_permit_comes_back() {
    let s = Server::start();
    let dead = client(&s);
    let permit = dead.semaphore("p", 1).acquire_blocking().unwrap();
    dead.suspend_heartbeat(true);
    std::mem::forget(permit);
    let start = Instant::now();
    let p = client(&s)
        .semaphore("p", 1)
        .acquire_blocking_timeout(BOUND)
        .unwrap()
        .expect("the permit came back");
    assert!(start.elapsed() < LEASE * 2, "took {:?}", start.elapsed());
    p.release().unwrap();
}

#[test]
fn readers_share_and_a_writer_excludes_them() {
    let s = Server::start();
    let rw = client(&s).rwlock("cat");
    let other = client(&s).rwlock("cat");
    let r1 = rw.reader().lock_blocking().unwrap();
    let r2 = other.reader().try_lock().unwrap().expect("readers share");
    assert!(other.writer().try_lock().unwrap().is_none());
    r1.release().unwrap();
    assert!(
        other.writer().try_lock().unwrap().is_none(),
        "one reader left"
    );
    r2.release().unwrap();
    let w = other.writer().try_lock().unwrap().expect("free now");
    assert!(rw.reader().try_lock().unwrap().is_none());
    assert!(rw.writer().try_lock().unwrap().is_none());
    w.release().unwrap();
}

#[test]
fn a_waiting_writer_holds_back_later_readers_then_they_enter_together() {
    let s = Server::start();
    let rw = client(&s).rwlock("cat");
    let r = rw.reader().lock_blocking().unwrap();
    let (tx, rx) = mpsc::channel();
    let wcl = client(&s).rwlock("cat");
    let txw = tx.clone();
    let writer = std::thread::spawn(move || {
        let w = wcl.writer().lock_blocking().unwrap();
        txw.send("w").unwrap();
        std::thread::sleep(Duration::from_millis(20));
        txw.send("w-out").unwrap();
        w.release().unwrap();
    });
    wait_for("writer queued", || s.zcard("t:rw:{cat}:queue") == 1);
    // Readers arriving now queue behind the writer, even though a reader holds.
    assert!(rw.reader().try_lock().unwrap().is_none());
    let mut readers = Vec::new();
    for i in 0..2 {
        let (rcl, tx) = (client(&s).rwlock("cat"), tx.clone());
        readers.push(std::thread::spawn(move || {
            let h = rcl.reader().lock_blocking().unwrap();
            tx.send(if i == 0 { "r0" } else { "r1" }).unwrap();
            // Both readers hold at once: each waits for the other's arrival.
            std::thread::sleep(Duration::from_millis(20));
            h.release().unwrap();
        }));
        wait_for("reader queued", || s.zcard("t:rw:{cat}:queue") == 2 + i);
    }
    r.release().unwrap();
    let order: Vec<_> = (0..4).map(|_| rx.recv_timeout(BOUND).unwrap()).collect();
    assert_eq!(&order[..2], ["w", "w-out"]);
    writer.join().unwrap();
    for t in readers {
        t.join().unwrap();
    }
}

#[test]
fn rlock_is_reentrant_for_its_owner_and_excludes_others() {
    let s = Server::start();
    let cl = client(&s);
    let rl = cl.rlock("r");
    let outer = rl.lock_blocking().unwrap();
    let inner = rl.lock_blocking().unwrap();
    assert_eq!(inner.token(), outer.token());
    assert_eq!(rl.levels(OwnerId::current_thread()), 2);
    let rl2 = rl.clone();
    let other = std::thread::spawn(move || rl2.try_lock().unwrap().is_some());
    assert!(!other.join().unwrap(), "another thread is not the owner");
    assert!(
        cl.lock("r").try_lock().unwrap().is_none(),
        "the same lock by name"
    );
    let stranger = OwnerId::new_unique();
    assert!(matches!(rl.release_as(stranger), Err(Error::NotOwner)));
    drop(inner);
    assert!(cl.lock("r").try_lock().unwrap().is_none(), "one level left");
    drop(outer);
    assert!(
        cl.lock("r").try_lock().unwrap().is_some(),
        "released at zero"
    );
}

#[test]
fn rlock_tasks_are_owners_apart() {
    let s = Server::start();
    let rl = client(&s).rlock("r");
    let got = aiosync::block_on(
        aiosync::task::scope(async {
            let a = rl.lock().await.unwrap();
            let b = rl.lock().await.unwrap();
            let other = aiosync::task::scope(async { rl.try_lock_as(OwnerId::current()) }).await;
            (a.token() == b.token(), other.unwrap().is_none())
        }),
        Some(BOUND),
    )
    .expect("in time");
    assert_eq!(got, (true, true));
}

#[test]
fn event_set_wakes_waiters_of_every_client() {
    let s = Server::start();
    let ev = client(&s).event("go");
    assert!(!ev.is_set().unwrap());
    assert!(!ev.wait_blocking_timeout(Duration::from_millis(50)).unwrap());
    let mut waiters = Vec::new();
    for _ in 0..3 {
        let e = client(&s).event("go");
        waiters.push(std::thread::spawn(move || e.wait_blocking_timeout(BOUND)));
    }
    wait_for("three waiters", || s.zcard("t:event:{go}:waiters") == 3);
    let start = Instant::now();
    assert_eq!(ev.set().unwrap(), 3);
    // Cleared at once: the waiters were told, so they still return true.
    ev.clear().unwrap();
    for w in waiters {
        assert!(w.join().unwrap().unwrap());
    }
    assert!(
        start.elapsed() < LEASE / 3,
        "woken by the message, not the recheck"
    );
    assert!(!ev.is_set().unwrap());
}

#[test]
fn a_dropped_event_wait_leaves_the_waiters_set() {
    let s = Server::start();
    let ev = client(&s).event("go");
    let r = aiosync::block_on(ev.wait(), Some(Duration::from_millis(100)));
    assert!(r.is_none(), "timed out");
    assert_eq!(s.zcard("t:event:{go}:waiters"), 0);
    ev.set().unwrap();
    aiosync::block_on(ev.wait(), Some(BOUND))
        .expect("set: at once")
        .unwrap();
}

#[test]
fn a_lost_lease_is_seen_by_its_watch_at_the_local_deadline() {
    let s = Server::start();
    let cl = client(&s);
    let hold = cl.lock("l").lock_blocking().unwrap();
    let watch = hold.watch();
    cl.suspend_heartbeat(true);
    let start = Instant::now();
    aiosync::block_on(watch.lost(), Some(BOUND)).expect("lost in time");
    let took = start.elapsed();
    assert!(
        took <= LEASE,
        "the local view ends before the server's: {took:?}"
    );
    assert!(matches!(hold.release(), Err(Error::LeaseLost)));
}

#[test]
fn a_server_younger_than_the_lease_grants_nothing() {
    // It may have restarted and lost the grants of the last lease.
    let s = Server::start();
    let cl = client(&s);
    assert!(cl.lock("l").try_lock().unwrap().is_none(), "quarantined");
    let start = Instant::now();
    let h = cl.lock("l").lock_blocking().unwrap();
    // Uptime is known to the second: the quarantine ends by one lease and a second.
    assert!(start.elapsed() < LEASE + Duration::from_millis(1500));
    h.release().unwrap();
    assert!(
        cl.lock("l").try_lock().unwrap().is_some(),
        "then grants at once"
    );
}

#[test]
fn a_timed_wait_on_a_stopped_server_ends_at_its_deadline() {
    let s = Server::start();
    let cl = Client::open(&s.url(), "t", Duration::from_secs(6)).expect("connect");
    // Past the quarantine (one lease of a young server) before the test proper.
    let wait = Duration::from_secs(8);
    let h = cl
        .lock("l")
        .lock_blocking_timeout(wait)
        .unwrap()
        .expect("granted");
    h.release().unwrap();
    s.pause();
    let start = Instant::now();
    let r = cl
        .lock("l")
        .lock_blocking_timeout(Duration::from_millis(300));
    let took = start.elapsed();
    s.resume();
    assert!(matches!(r, Ok(None)), "a timeout, not a hold: {r:?}");
    // The deadline, plus the bounded attempt to leave the queue: not a socket timeout
    // (2 s here) nor a retry.
    assert!(
        took < Duration::from_millis(300 + 200 + 150),
        "took {took:?}"
    );
}
