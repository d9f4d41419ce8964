//! A bounded, seeded chaos run on one lock: 3 clients × 3 threads for a few seconds,
//! each doing at random a blocking hold, a short timeout, a `try_lock`, an async wait
//! dropped while waiting, a hold past the lease, or (one thread per client) a heartbeat
//! suspension that makes its client's holds lose their lease.
//!
//! The seed is printed; `AIOSYNC_CHAOS_SEED=n` replays one. At the end, exactly:
//! a counter incremented (non-atomically) under the lock equals the number of holds
//! that incremented it; the intervals in which holders believed they held (from the
//! first to the last `check()` that said so) never overlap, and their tokens follow
//! their order; no holder, waiter or liveness key is left on the server.

mod common;

use aiosync_redis::{Client, Hold, Lock};
use common::{wait_ready, wait_until, Server};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

const LEASE: Duration = Duration::from_millis(900);
const RUN: Duration = Duration::from_millis(2500);
const CLIENTS: usize = 3;
const THREADS: usize = 3;

/// splitmix64: small, and good enough to pick actions.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.below(hi - lo + 1))
    }
}

#[derive(Default)]
struct Tally {
    /// The counter, read and written back non-atomically under the lock.
    counter: AtomicU64,
    /// How many holds incremented it.
    increments: AtomicU64,
    /// Holds found lost (before the increment, or later), and releases that said so.
    lost: AtomicU64,
    /// (first Ok check, last Ok check, token) of every hold that incremented.
    log: Mutex<Vec<(Instant, Instant, u64)>>,
}

/// The work under a hold: the increment, then `keep` more time with checks, then the
/// release.
fn critical(hold: Hold, keep: Duration, tally: &Tally) {
    let first = Instant::now();
    if hold.check().is_err() {
        tally.lost.fetch_add(1, Ordering::SeqCst);
        let _ = hold.release();
        return;
    }
    let v = tally.counter.load(Ordering::SeqCst);
    std::thread::sleep(Duration::from_micros(100));
    tally.counter.store(v + 1, Ordering::SeqCst);
    tally.increments.fetch_add(1, Ordering::SeqCst);
    let mut last = first;
    let end = Instant::now() + keep;
    loop {
        let t = Instant::now();
        if hold.check().is_err() {
            break;
        }
        last = t;
        if t >= end {
            break;
        }
        std::thread::sleep(Duration::from_millis(5).min(end - t));
    }
    tally.log.lock().unwrap().push((first, last, hold.token()));
    if hold.release().is_err() {
        tally.lost.fetch_add(1, Ordering::SeqCst);
    }
}

fn poll_once<F: Future>(fut: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

fn worker(client: Client, lock: Lock, first_of_client: bool, mut rng: Rng, tally: &Tally) {
    let stop = Instant::now() + RUN;
    while Instant::now() < stop {
        let keep = if rng.below(30) == 0 {
            LEASE + LEASE / 5 // past the lease: the heartbeat must renew it
        } else {
            rng.millis(0, 3)
        };
        match rng.below(100) {
            0..=34 => {
                if let Some(h) = lock.lock_blocking_timeout(Duration::from_secs(2)).unwrap() {
                    critical(h, keep, tally);
                }
            }
            35..=54 => {
                if let Some(h) = lock.lock_blocking_timeout(rng.millis(0, 30)).unwrap() {
                    critical(h, keep, tally);
                }
            }
            55..=69 => {
                if let Some(h) = lock.try_lock().unwrap() {
                    critical(h, keep, tally);
                }
            }
            70..=89 => {
                // An async wait, polled once or twice, then dropped if still waiting.
                let mut fut = Box::pin(lock.lock());
                let mut got = None;
                for _ in 0..=rng.below(2) {
                    if let Poll::Ready(r) = poll_once(fut.as_mut()) {
                        got = Some(r.unwrap());
                        break;
                    }
                    std::thread::sleep(rng.millis(0, 20));
                }
                drop(fut);
                if let Some(h) = got {
                    critical(h, keep, tally);
                }
            }
            _ if first_of_client => {
                client.suspend_heartbeat(true);
                std::thread::sleep(rng.millis(LEASE.as_millis() as u64 / 3, 1300));
                client.suspend_heartbeat(false);
            }
            _ => std::thread::sleep(rng.millis(0, 5)),
        }
    }
}

#[test]
fn chaos_on_one_lock_keeps_it_exclusive_and_leaves_nothing() {
    let seed = std::env::var("AIOSYNC_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    eprintln!("chaos seed {seed} (AIOSYNC_CHAOS_SEED={seed} to replay)");
    let s = Server::start();
    let clients: Vec<Client> = (0..CLIENTS)
        .map(|_| Client::open(&s.url(), "t", LEASE).expect("connect"))
        .collect();
    wait_ready(&clients[0]);
    let tally = Arc::new(Tally::default());
    let started = Instant::now();
    let mut threads = Vec::new();
    for (c, client) in clients.iter().enumerate() {
        for t in 0..THREADS {
            let (client, tally) = (client.clone(), tally.clone());
            let rng =
                Rng(seed ^ ((c * THREADS + t + 1) as u64).wrapping_mul(0x2545_f491_4f6c_dd1d));
            threads.push(std::thread::spawn(move || {
                let lock = client.lock("c");
                worker(client, lock, t == 0, rng, &tally);
            }));
        }
    }
    for t in threads {
        t.join().expect("a chaos thread panicked");
    }
    // Bounded: the longest op that can start before RUN ends is a 2 s wait and a hold
    // past the lease.
    assert!(started.elapsed() < RUN + Duration::from_secs(5));
    let increments = tally.increments.load(Ordering::SeqCst);
    eprintln!(
        "seed {seed}: {increments} holds incremented, {} found lost",
        tally.lost.load(Ordering::SeqCst)
    );
    assert!(increments > 0, "seed {seed}: nobody ever held the lock");
    assert_eq!(
        tally.counter.load(Ordering::SeqCst),
        increments,
        "seed {seed}: lost updates, so two holds overlapped"
    );
    let mut log = tally.log.lock().unwrap().clone();
    log.sort_by_key(|e| e.0);
    for w in log.windows(2) {
        assert!(
            w[0].1 <= w[1].0,
            "seed {seed}: holds {} and {} both believed they held for {:?}",
            w[0].2,
            w[1].2,
            w[0].1 - w[1].0
        );
        assert!(w[0].2 < w[1].2, "seed {seed}: tokens out of order");
    }
    // Nothing left: a dropped async wait may withdraw on the client's I/O thread, a
    // moment after the drop.
    wait_until("no holder, no waiter", Duration::from_secs(2), || {
        s.zcard("t:lock:{c}:queue") == 0 && s.zcard("t:lock:{c}:held") == 0
    });
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("t:lock:{c}:w:*")
        .query(&mut s.conn())
        .unwrap();
    assert!(
        keys.iter().all(|k| k.starts_with("t:lock:{c}:w:r:")),
        "seed {seed}: waiters' liveness keys left: {keys:?}"
    );
    let last = clients[1].lock("c").try_lock().unwrap();
    assert!(last.is_some(), "seed {seed}: the lock is free at the end");
}
