//! Integration tests for `aiosync::Barrier`: construction, arrival indices and one leader
//! per round (threads, tasks and both). Abort / reset, cancellation and the blocking
//! timeout are in `barrier_abort_timeout.rs`.

mod common;

use aiosync::{Barrier, BarrierWaitResult, BrokenBarrierError, ZeroPartiesError};
use common::barrier::*;
use common::*;
use std::sync::Arc;
use std::time::Duration;

// ---------------------------------------------------------------------------------------
// helpers

/// Checks that each round's results are the indices `0..parties` with exactly one leader.
/// `per_party[p][r]` is party `p`'s result in round `r`.
fn check_rounds(per_party: &[Vec<BarrierWaitResult>], parties: usize, rounds: usize) {
    assert_eq!(per_party.len(), parties);
    for results in per_party {
        assert_eq!(results.len(), rounds);
    }
    for r in 0..rounds {
        let mut idx: Vec<usize> = per_party.iter().map(|v| v[r].index()).collect();
        idx.sort_unstable();
        assert_eq!(
            idx,
            (0..parties).collect::<Vec<_>>(),
            "round {r}: indices are a permutation of 0..{parties}"
        );
        let leaders: Vec<usize> = (0..parties)
            .filter(|&p| per_party[p][r].is_leader())
            .collect();
        assert_eq!(leaders.len(), 1, "round {r}: exactly one leader");
        assert_eq!(
            per_party[leaders[0]][r].index(),
            parties - 1,
            "the leader arrived last"
        );
    }
}

// ---------------------------------------------------------------------------------------
// construction

#[test]
#[should_panic(expected = "Barrier::new(0)")]
fn new_zero_parties_panics() {
    let _ = Barrier::new(0);
}

#[test]
fn try_new_zero_parties_errs() {
    let e = Barrier::try_new(0).unwrap_err();
    assert_eq!(e, ZeroPartiesError);
    assert!(!e.to_string().is_empty());
    let b = Barrier::try_new(3).unwrap();
    assert_eq!(b.parties(), 3);
    assert_eq!(b.n_waiting(), 0);
    assert!(!b.is_broken());
    let dbg = format!("{b:?}");
    assert!(dbg.contains("parties: 3"), "{dbg}");
    assert_eq!(BrokenBarrierError.to_string(), "barrier is broken");
}

#[test]
fn single_party_barrier_never_waits() {
    let b = Barrier::new(1);
    for _ in 0..3 {
        let r = b.wait_blocking().unwrap();
        assert_eq!(r.index(), 0);
        assert!(r.is_leader());
        let r = futures_lite::future::block_on(b.wait()).unwrap();
        assert!(r.is_leader());
        let r = b.wait_blocking_timeout(Duration::ZERO).unwrap();
        assert!(r.is_leader());
    }
    assert_eq!(b.n_waiting(), 0);
}

// ---------------------------------------------------------------------------------------
// one round, by hand

#[test]
fn indices_follow_arrival_and_the_last_is_leader() {
    let b = Barrier::new(3);
    assert_eq!(b.parties(), 3);
    let mut p0 = Party::queued(&b);
    let mut p1 = Party::queued(&b);
    assert_eq!(b.n_waiting(), 2);
    assert!(
        p0.poll().is_pending(),
        "re-polling does not complete the round"
    );
    assert_eq!(b.n_waiting(), 2, "re-polling does not queue twice");

    let mut p2 = Party::new(&b);
    let r2 = p2.ready().unwrap();
    assert_eq!(r2.index(), 2);
    assert!(r2.is_leader());
    assert_eq!(b.n_waiting(), 0, "the round was released");
    assert_eq!(p0.wakes(), 1);
    assert_eq!(p1.wakes(), 1);

    let r0 = p0.ready().unwrap();
    let r1 = p1.ready().unwrap();
    assert_eq!((r0.index(), r0.is_leader()), (0, false));
    assert_eq!((r1.index(), r1.is_leader()), (1, false));
}

#[test]
fn next_round_waits_while_the_last_one_drains() {
    // Python's barriers: a party arriving while the released round is still leaving is
    // not counted until every released party has returned.
    let b = Barrier::new(2);
    let mut a0 = Party::queued(&b);
    let mut a1 = Party::new(&b);
    assert!(a1.ready().unwrap().is_leader());

    // a0 has not seen its result yet: b0 waits without counting.
    let mut b0 = Party::new(&b);
    assert!(b0.poll().is_pending());
    assert_eq!(b.n_waiting(), 0, "round 1 is draining");
    let mut b1 = Party::new(&b);
    assert!(
        b1.poll().is_pending(),
        "b1 does not complete a round with b0 yet"
    );
    assert_eq!(b.n_waiting(), 0);
    assert_eq!(
        a0.ready().unwrap().index(),
        0,
        "a0 still gets round 1's result"
    );
    // a0 left: b0 and b1 count when they next run, in the order they run.
    assert!(b0.poll().is_pending());
    assert_eq!(b.n_waiting(), 1);
    assert_eq!(b1.ready().unwrap().index(), 1);
    assert_eq!(b0.ready().unwrap().index(), 0);
    assert_eq!(b.n_waiting(), 0);
}

#[test]
fn released_party_dropped_before_polling_changes_nothing() {
    let b = Barrier::new(2);
    let a0 = Party::queued(&b);
    assert!(Party::new(&b).ready().unwrap().is_leader());
    drop(a0); // released, then cancelled before it looked
    assert_eq!(b.n_waiting(), 0);
    assert!(!b.is_broken());

    let mut c0 = Party::queued(&b);
    let mut c1 = Party::new(&b);
    assert_eq!(c1.ready().unwrap().index(), 1);
    assert_eq!(c0.ready().unwrap().index(), 0);
}

// ---------------------------------------------------------------------------------------
// many rounds

#[test]
fn many_rounds_with_threads() {
    const PARTIES: usize = 4;
    const ROUNDS: usize = 200;
    let b = Arc::new(Barrier::new(PARTIES));
    let threads: Vec<_> = (0..PARTIES)
        .map(|_| {
            let b = b.clone();
            spawn_bounded(move || {
                (0..ROUNDS)
                    .map(|_| b.wait_blocking().unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let results: Vec<_> = threads.into_iter().map(Bounded::join).collect();
    check_rounds(&results, PARTIES, ROUNDS);
    assert_eq!(b.n_waiting(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_rounds_with_tasks() {
    const PARTIES: usize = 5;
    const ROUNDS: usize = 200;
    within(async {
        let b = Arc::new(Barrier::new(PARTIES));
        let tasks: Vec<_> = (0..PARTIES)
            .map(|_| {
                let b = b.clone();
                tokio::spawn(async move {
                    let mut v = Vec::with_capacity(ROUNDS);
                    for _ in 0..ROUNDS {
                        v.push(b.wait().await.unwrap());
                    }
                    v
                })
            })
            .collect();
        let mut results = Vec::new();
        for t in tasks {
            results.push(t.await.unwrap());
        }
        check_rounds(&results, PARTIES, ROUNDS);
        assert_eq!(b.n_waiting(), 0);
    })
    .await;
}

#[test]
fn many_rounds_with_threads_and_tasks() {
    const THREADS: usize = 2;
    const TASKS: usize = 3;
    const PARTIES: usize = THREADS + TASKS;
    const ROUNDS: usize = 200;
    let b = Arc::new(Barrier::new(PARTIES));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();

    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let b = b.clone();
            spawn_bounded(move || {
                (0..ROUNDS)
                    .map(|_| b.wait_blocking().unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let b = b.clone();
            rt.spawn(async move {
                let mut v = Vec::with_capacity(ROUNDS);
                for _ in 0..ROUNDS {
                    v.push(b.wait().await.unwrap());
                }
                v
            })
        })
        .collect();

    let mut results: Vec<_> = threads.into_iter().map(Bounded::join).collect();
    rt.block_on(within(async {
        for t in tasks {
            results.push(t.await.unwrap());
        }
    }));
    check_rounds(&results, PARTIES, ROUNDS);
}

#[test]
fn rounds_from_one_single_threaded_executor() {
    // All parties are futures of one task, polled in a known order: each wait must queue
    // and be woken correctly (no thread parks), and the indices follow the polling order.
    use futures_lite::future::{block_on, zip};
    const ROUNDS: usize = 50;
    let b = Barrier::new(4);
    block_on(async {
        for round in 0..ROUNDS {
            let ((r0, r1), (r2, r3)) = zip(zip(b.wait(), b.wait()), zip(b.wait(), b.wait())).await;
            let rs = [r0.unwrap(), r1.unwrap(), r2.unwrap(), r3.unwrap()];
            let idx: Vec<usize> = rs.iter().map(|r| r.index()).collect();
            assert_eq!(idx, [0, 1, 2, 3], "round {round}");
            let leaders: Vec<bool> = rs.iter().map(|r| r.is_leader()).collect();
            assert_eq!(leaders, [false, false, false, true], "round {round}");
        }
    });
    assert_eq!(b.n_waiting(), 0);
}
