//! Integration tests for the state snapshots bindings display: `Barrier::state` through
//! a round (filling, draining until every released party has returned, resetting until
//! the broken parties have left, broken), and the waiter counts and hold levels of the
//! locks, the semaphore and the event.

mod common;

use aiosync::raw::{Holder, RawLock, RawReentrantLock, Reentry};
use aiosync::{Barrier, BarrierState, Event, OwnerId, Semaphore};
use common::*;
use std::pin::pin;

#[test]
fn barrier_fills_then_drains_until_every_released_party_has_returned() {
    let b = Barrier::new(3);
    assert_eq!(b.state(), BarrierState::Filling);
    let (_c, w) = counting_waker();
    let mut p1 = pin!(b.wait());
    let mut p2 = pin!(b.wait());
    pending(p1.as_mut(), &w);
    pending(p2.as_mut(), &w);
    assert_eq!(b.state(), BarrierState::Filling);
    assert_eq!(b.n_waiting(), 2);
    // The last arrival releases the round and returns at once.
    let last = ready(pin!(b.wait()), &w).unwrap();
    assert!(last.is_leader());
    assert_eq!(
        b.state(),
        BarrierState::Draining,
        "two released parties still inside"
    );
    assert_eq!(b.n_waiting(), 0);
    ready(p1.as_mut(), &w).unwrap();
    assert_eq!(
        b.state(),
        BarrierState::Draining,
        "one released party still inside"
    );
    ready(p2.as_mut(), &w).unwrap();
    assert_eq!(b.state(), BarrierState::Filling);
}

#[test]
fn barrier_resets_until_the_broken_parties_have_left() {
    let b = Barrier::new(3);
    let (_c, w) = counting_waker();
    let mut p1 = pin!(b.wait());
    pending(p1.as_mut(), &w);
    b.reset();
    assert_eq!(b.state(), BarrierState::Resetting);
    assert!(!b.is_broken());
    // An arrival while resetting waits without counting.
    let mut p2 = pin!(b.wait());
    pending(p2.as_mut(), &w);
    assert_eq!(b.n_waiting(), 0);
    assert!(ready(p1.as_mut(), &w).is_err(), "the reset broke its round");
    assert_eq!(b.state(), BarrierState::Filling);
    pending(p2.as_mut(), &w);
    assert_eq!(b.n_waiting(), 1, "admitted to the new round");
}

#[test]
fn barrier_reset_with_nobody_inside_stays_filling() {
    let b = Barrier::new(2);
    b.reset();
    assert_eq!(b.state(), BarrierState::Filling);
}

#[test]
fn barrier_abort_breaks_until_reset() {
    let b = Barrier::new(2);
    let (_c, w) = counting_waker();
    let mut p = pin!(b.wait());
    pending(p.as_mut(), &w);
    b.abort();
    assert_eq!(b.state(), BarrierState::Broken);
    assert!(ready(p.as_mut(), &w).is_err());
    assert_eq!(b.state(), BarrierState::Broken);
    b.reset();
    assert_eq!(b.state(), BarrierState::Filling);
}

#[test]
fn barrier_is_filling_while_its_leader_runs_the_action() {
    let b = Barrier::with_leader(1).unwrap();
    let (_c, w) = counting_waker();
    match ready(pin!(b.wait_lead()), &w).unwrap() {
        aiosync::Arrival::Lead(lead) => {
            assert_eq!(b.state(), BarrierState::Filling);
            assert_eq!(b.n_waiting(), 1);
            lead.complete().unwrap();
        }
        aiosync::Arrival::Released(_) => panic!("the only party leads"),
    }
    assert_eq!(b.state(), BarrierState::Filling);
}

#[test]
fn barrier_state_names_are_pythons() {
    let names: Vec<String> = [
        BarrierState::Filling,
        BarrierState::Draining,
        BarrierState::Resetting,
        BarrierState::Broken,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(names, ["filling", "draining", "resetting", "broken"]);
}

#[test]
fn lock_counts_its_waiters() {
    let lock = RawLock::new();
    let me = Holder::thread();
    assert!(lock.try_lock(&me));
    assert_eq!(lock.waiters(), 0);
    let (_c, w) = counting_waker();
    let mut a = pin!(lock.lock(Holder::task(OwnerId::new_unique())));
    let mut b = pin!(lock.lock(Holder::task(OwnerId::new_unique())));
    pending(a.as_mut(), &w);
    pending(b.as_mut(), &w);
    assert_eq!(lock.waiters(), 2);
    lock.unlock().unwrap();
    ready(a.as_mut(), &w);
    assert_eq!(lock.waiters(), 1);
}

#[test]
fn reentrant_lock_shows_its_levels_and_waiters() {
    let lock = RawReentrantLock::new();
    assert_eq!(lock.levels(), 0);
    let me = Holder::thread();
    assert_eq!(lock.try_lock(&me, Reentry::Allow), Ok(true));
    assert_eq!(lock.try_lock(&me, Reentry::Allow), Ok(true));
    assert_eq!(lock.levels(), 2);
    let (_c, w) = counting_waker();
    let mut other = pin!(lock.lock(Holder::task(OwnerId::new_unique()), Reentry::Allow));
    pending(other.as_mut(), &w);
    assert_eq!(lock.waiters(), 1);
    assert_eq!(lock.release_all(me.owner()), Ok(2));
    ready(other.as_mut(), &w).unwrap();
    assert_eq!((lock.levels(), lock.waiters()), (1, 0));
}

#[test]
fn semaphore_and_event_count_their_waiters() {
    let sem = Semaphore::new(0);
    let ev = Event::new();
    let (_c, w) = counting_waker();
    let mut s = pin!(sem.acquire());
    let mut e1 = pin!(ev.wait());
    let mut e2 = pin!(ev.wait());
    pending(s.as_mut(), &w);
    pending(e1.as_mut(), &w);
    pending(e2.as_mut(), &w);
    assert_eq!((sem.waiters(), ev.waiters()), (1, 2));
    sem.add_permits(1).unwrap();
    ev.set();
    assert_eq!(ev.waiters(), 0, "a set releases every waiter at once");
    ready(s.as_mut(), &w).forget();
    assert_eq!(sem.waiters(), 0, "the woken acquire left when it ran");
    ready(e1.as_mut(), &w);
    ready(e2.as_mut(), &w);
}
