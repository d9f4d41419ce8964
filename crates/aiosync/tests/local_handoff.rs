//! `task::set_local_handoff`: a thread that runs one executor hands a released lock to
//! its own first waiter before the head of the queue (within the fairness window), and
//! only when it opted in.

mod common;
use aiosync::raw::{Holder, RawLock};
use common::*;
use std::sync::Arc;

/// Holds the lock on this thread, queues a blocking waiter on another thread (the head),
/// then a waiter of this thread, and releases: returns whether this thread's waiter was
/// the one woken. Both waiters get the lock in the end.
fn release_with_a_head_elsewhere(local: bool) -> bool {
    aiosync::task::set_local_handoff(local);
    let lock = Arc::new(RawLock::new());
    assert!(lock.try_lock(&Holder::thread()));
    let l2 = lock.clone();
    let head = spawn_bounded(move || {
        let got = l2.lock_blocking(&Holder::thread(), Some(LIMIT), false);
        l2.unlock().unwrap();
        got
    });
    wait_until("the other thread queues", || lock.has_waiters());
    let mut mine = Hand::new(lock.lock(Holder::thread()));
    mine.pending();
    lock.unlock().unwrap();
    let mine_first = mine.wakes() == 1;
    if mine_first {
        mine.ready(); // this thread's waiter took it; the head still waits
        assert!(lock.has_waiters(), "the head was served too");
        lock.unlock().unwrap();
        assert_eq!(head.join(), Ok(true));
    } else {
        assert_eq!(head.join(), Ok(true)); // the head went first, as in FIFO
        wait_until("this thread's waiter is woken", || mine.wakes() == 1);
        mine.ready();
        lock.unlock().unwrap();
    }
    aiosync::task::set_local_handoff(false);
    assert!(!lock.is_locked());
    mine_first
}

#[test]
fn an_opted_in_thread_hands_over_to_its_own_waiter_first() {
    assert!(release_with_a_head_elsewhere(true));
}

#[test]
fn without_opting_in_the_head_goes_first() {
    assert!(!release_with_a_head_elsewhere(false));
}
