//! The fenced store (`Client::fenced_set` / `fenced_get`) against a real redis-server,
//! and the stale holder it exists for.

mod common;

use aiosync_redis::{Client, Error};
use common::{wait_ready, wait_until, Server};
use std::time::{Duration, Instant};

const LEASE: Duration = Duration::from_millis(600);

fn client(s: &Server) -> Client {
    Client::open(&s.url(), "t", LEASE).expect("connect")
}

#[test]
fn a_write_needs_a_token_at_least_the_stored_one() {
    let s = Server::start();
    let c = client(&s);
    assert_eq!(c.fenced_get("k").unwrap(), None);
    assert!(c.fenced_set("k", "a", 10).unwrap(), "first write");
    assert!(c.fenced_set("k", "b", 10).unwrap(), "the same hold again");
    assert!(!c.fenced_set("k", "c", 9).unwrap(), "an older token");
    assert_eq!(c.fenced_get("k").unwrap(), Some((b"b".to_vec(), 10)));
    assert!(
        c.fenced_set("k", [0u8, 255, 1], 11).unwrap(),
        "a newer token"
    );
    assert_eq!(c.fenced_get("k").unwrap(), Some((vec![0, 255, 1], 11)));
    assert!(!c.fenced_set("k", "d", 10).unwrap());
    assert_eq!(c.fenced_get("k").unwrap(), Some((vec![0, 255, 1], 11)));
    // Other keys are fenced apart; tokens up to 2^53 are exact.
    assert!(c.fenced_set("other", "x", 1).unwrap());
    assert!(c.fenced_set("big", "x", (1 << 53) - 1).unwrap());
    assert!(!c.fenced_set("big", "y", (1 << 53) - 2).unwrap());
    assert!(matches!(
        c.fenced_set("big", "z", (1 << 53) + 1),
        Err(Error::Config(_))
    ));
    // The store lives under the namespace, beside the value.
    let t: String = redis::cmd("HGET")
        .arg("t:fenced:{k}")
        .arg("t")
        .query(&mut s.conn())
        .unwrap();
    assert_eq!(t, "11");
}

#[test]
fn writes_of_one_hold_after_another_follow_their_tokens() {
    let s = Server::start();
    let c = client(&s);
    wait_ready(&c);
    let lock = c.lock("w");
    for i in 0..5 {
        let h = lock.lock_blocking().unwrap();
        assert!(c.fenced_set("w", format!("{i}"), h.token()).unwrap());
        h.release().unwrap();
    }
    let (v, _) = c.fenced_get("w").unwrap().unwrap();
    assert_eq!(v, b"4");
}

#[test]
fn a_paused_holders_stale_write_is_refused() {
    let s = Server::start();
    let (paused, next) = (client(&s), client(&s));
    wait_ready(&paused);
    let stale = paused.lock("p").lock_blocking().unwrap();
    assert!(paused.fenced_set("doc", "old", stale.token()).unwrap());
    // The holder stops renewing (a long GC pause): its lease runs out on the server.
    paused.suspend_heartbeat(true);
    let t0 = Instant::now();
    let fresh = next
        .lock("p")
        .lock_blocking_timeout(LEASE * 3)
        .unwrap()
        .expect("the paused holder's lock comes back within a lease and a beat");
    assert!(t0.elapsed() <= LEASE + LEASE / 3 + Duration::from_millis(300));
    assert!(fresh.token() > stale.token());
    assert!(next.fenced_set("doc", "new", fresh.token()).unwrap());
    // The paused holder wakes up: its own view says lost, and the store refuses it even
    // if it does not look.
    paused.suspend_heartbeat(false);
    assert!(matches!(stale.check(), Err(Error::LeaseLost)));
    assert!(!paused.fenced_set("doc", "stale", stale.token()).unwrap());
    assert_eq!(
        next.fenced_get("doc").unwrap(),
        Some((b"new".to_vec(), fresh.token()))
    );
    assert!(matches!(stale.release(), Err(Error::LeaseLost)));
    fresh.check().unwrap();
    assert!(next.fenced_set("doc", "newer", fresh.token()).unwrap());
    fresh.release().unwrap();
    wait_until("the lock is free", Duration::from_secs(2), || {
        s.zcard("t:lock:{p}:held") == 0
    });
}
