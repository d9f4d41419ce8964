//! Lock against a real redis-server (started by `common::Server`).

mod common;

use aiosync_redis::{Client, Error};
use common::Server;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const LEASE: Duration = Duration::from_millis(600);

fn client(s: &Server) -> Client {
    Client::open(&s.url(), "t", LEASE).expect("connect")
}

fn queue_len(s: &Server, name: &str) -> usize {
    redis::cmd("ZCARD")
        .arg(format!("t:lock:{{{name}}}:queue"))
        .query(&mut s.conn())
        .unwrap()
}

fn wait_queue_len(s: &Server, name: &str, n: usize) {
    let start = Instant::now();
    while queue_len(s, name) != n {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "queue never reached {n}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn mutual_exclusion_across_clients_and_threads() {
    let s = Server::start();
    let clients = [client(&s), client(&s)];
    let counter = Arc::new(AtomicUsize::new(0));
    let intervals = Arc::new(Mutex::new(Vec::new()));
    let mut threads = Vec::new();
    for t in 0..4 {
        let lock = clients[t % 2].lock("m");
        let (counter, intervals) = (counter.clone(), intervals.clone());
        threads.push(std::thread::spawn(move || {
            for _ in 0..25 {
                let hold = lock.lock_blocking().unwrap();
                let start = Instant::now();
                // A non-atomic read-modify-write: lost updates show a double grant.
                let v = counter.load(Ordering::SeqCst);
                std::thread::sleep(Duration::from_micros(200));
                counter.store(v + 1, Ordering::SeqCst);
                let end = Instant::now();
                intervals.lock().unwrap().push((start, end, hold.token()));
                hold.release().unwrap();
            }
        }));
    }
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(counter.load(Ordering::SeqCst), 100);
    let mut iv = intervals.lock().unwrap().clone();
    iv.sort_by_key(|i| i.0);
    for w in iv.windows(2) {
        assert!(w[0].1 <= w[1].0, "hold intervals overlap");
        assert!(w[0].2 < w[1].2, "tokens follow the order of the holds");
    }
}

#[test]
fn waiters_are_served_in_fifo_order() {
    let s = Server::start();
    let (a, b) = (client(&s), client(&s));
    let first = a.lock("f").lock_blocking().unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut threads = Vec::new();
    for i in 0..5 {
        let lock = if i % 2 == 0 { b.lock("f") } else { a.lock("f") };
        let order = order.clone();
        threads.push(std::thread::spawn(move || {
            let hold = lock.lock_blocking().unwrap();
            order.lock().unwrap().push(i);
            hold.release().unwrap();
        }));
        wait_queue_len(&s, "f", i + 1);
    }
    first.release().unwrap();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3, 4]);
}

#[test]
fn crashed_holder_comes_back_to_the_next_waiter_within_one_lease() {
    let s = Server::start();
    let (dead, live) = (client(&s), client(&s));
    let lost = dead.lock("c").lock_blocking().unwrap();
    let t0 = Instant::now();
    dead.suspend_heartbeat(true);
    let waiter = live.lock("c");
    let got = std::thread::spawn(move || waiter.lock_blocking().map(|h| (h, t0.elapsed())));
    let (hold, after) = got.join().unwrap().unwrap();
    // One lease from the last renewal (at most one beat before t0), plus one beat of
    // re-check and slack.
    assert!(
        after <= LEASE + LEASE / 3 + Duration::from_millis(200),
        "{after:?}"
    );
    assert!(matches!(lost.check(), Err(Error::LeaseLost)));
    // Releasing the lost hold errs and leaves the new owner's lock alone.
    assert!(matches!(lost.release(), Err(Error::LeaseLost)));
    hold.check().unwrap();
    assert!(live.lock("c").try_lock().unwrap().is_none());
    hold.release().unwrap();
    assert!(live.lock("c").try_lock().unwrap().is_some());
}

#[test]
fn leases_are_renewed_while_held() {
    let s = Server::start();
    let c = client(&s);
    let hold = c.lock("r").lock_blocking().unwrap();
    std::thread::sleep(LEASE * 3);
    hold.check().unwrap();
    assert!(c.lock("r").try_lock().unwrap().is_none());
    hold.release().unwrap();
}

#[test]
fn timeout_is_a_deadline_and_leaves_the_queue() {
    let s = Server::start();
    let (a, b) = (client(&s), client(&s));
    let hold = a.lock("d").lock_blocking().unwrap();
    let start = Instant::now();
    let r = b
        .lock("d")
        .lock_blocking_timeout(Duration::from_millis(300))
        .unwrap();
    let took = start.elapsed();
    assert!(r.is_none());
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(took < Duration::from_millis(400), "{took:?}");
    assert_eq!(queue_len(&s, "d"), 0);
    hold.release().unwrap();
}

#[test]
fn cancelled_waiter_leaves_the_queue_for_the_next() {
    let s = Server::start();
    let (a, b) = (client(&s), client(&s));
    let hold = a.lock("x").lock_blocking().unwrap();
    // An async wait cancelled by a timeout (the future is dropped while queued).
    let lock = b.lock("x");
    let r = aiosync::block_on(lock.lock(), Some(Duration::from_millis(100)));
    assert!(r.is_none());
    // It leaves from the client's I/O thread, a round trip later.
    wait_queue_len(&s, "x", 0);
    // Queue one that gives up, then one that waits; the first to drop must pass on.
    let quitter = b.lock("x");
    let q = std::thread::spawn(move || {
        quitter
            .lock_blocking_timeout(Duration::from_millis(300))
            .unwrap()
            .is_none()
    });
    wait_queue_len(&s, "x", 1);
    let next = a.lock("x");
    let n = std::thread::spawn(move || {
        let t = Instant::now();
        let h = next.lock_blocking().unwrap();
        (t.elapsed(), h.release())
    });
    wait_queue_len(&s, "x", 2);
    assert!(q.join().unwrap());
    let released = Instant::now();
    hold.release().unwrap();
    let (_, r) = n.join().unwrap();
    r.unwrap();
    assert!(released.elapsed() < Duration::from_millis(100));
}

#[test]
fn async_lock_on_any_executor() {
    let s = Server::start();
    let c = client(&s);
    let lock = c.lock("a");
    let hold = aiosync::block_on(lock.lock(), None).unwrap().unwrap();
    let waiter = c.lock("a");
    let t = std::thread::spawn(move || {
        aiosync::block_on(waiter.lock(), None)
            .unwrap()
            .unwrap()
            .release()
    });
    wait_queue_len(&s, "a", 1);
    hold.release().unwrap();
    t.join().unwrap().unwrap();
}

#[test]
fn tokens_increase_across_a_server_restart_that_lost_the_data() {
    for persist in [false, true] {
        let mut s = Server::start_with(persist);
        let c = client(&s);
        let mut last = 0;
        for _ in 0..3 {
            let h = c.lock("k").lock_blocking().unwrap();
            assert!(h.token() > last);
            last = h.token();
            h.release().unwrap();
        }
        s.restart();
        // The same client reconnects by itself.
        let h = c.lock("k").lock_blocking().unwrap();
        assert!(
            h.token() > last,
            "{} <= {last} (persist {persist})",
            h.token()
        );
        h.release().unwrap();
    }
}

#[test]
fn tokens_count_on_from_a_counter_ahead_of_the_clock_exactly() {
    // A counter ahead of the server's clock in µs (as after a clock stepped back): each
    // token is exactly one more than the last, digit for digit near 2^53.
    let s = Server::start();
    let ahead: u64 = (1 << 53) - 10;
    let _: () = redis::cmd("SET")
        .arg("t:lock:{f}:fence")
        .arg(ahead)
        .query(&mut s.conn())
        .unwrap();
    let c = client(&s);
    for i in 1..=3 {
        let h = c.lock("f").lock_blocking().unwrap();
        assert_eq!(h.token(), ahead + i);
        h.release().unwrap();
    }
    let stored: u64 = redis::cmd("GET")
        .arg("t:lock:{f}:fence")
        .query(&mut s.conn())
        .unwrap();
    assert_eq!(stored, ahead + 3);
    // Behind the clock again (the counter lost): the token is the clock in µs.
    let _: () = redis::cmd("DEL")
        .arg("t:lock:{f}:fence")
        .query(&mut s.conn())
        .unwrap();
    let h = c.lock("f").lock_blocking().unwrap();
    let (secs, us): (u64, u64) = redis::cmd("TIME").query(&mut s.conn()).unwrap();
    let now_us = secs * 1_000_000 + us;
    assert!(
        h.token() <= now_us && h.token() > now_us - 10_000_000,
        "{} vs {now_us}",
        h.token()
    );
    let stored: u64 = redis::cmd("GET")
        .arg("t:lock:{f}:fence")
        .query(&mut s.conn())
        .unwrap();
    assert_eq!(stored, h.token());
    h.release().unwrap();
}
