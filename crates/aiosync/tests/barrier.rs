//! Integration tests for `aiosync::Barrier`: construction, arrival indices and one leader
//! per round (threads, tasks and both), abort / reset, cancellation while filling, and
//! a blocking timeout breaking the barrier.

mod common;

use aiosync::{Barrier, BarrierWait, BarrierWaitResult, BrokenBarrierError, ZeroPartiesError};
use common::*;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

type WaitOutput = Result<BarrierWaitResult, BrokenBarrierError>;

// ---------------------------------------------------------------------------------------
// helpers

/// A hand-polled `BarrierWait` with its own counting waker.
struct Party<'a> {
    count: Arc<CountingWaker>,
    waker: Waker,
    fut: Pin<Box<BarrierWait<'a>>>,
}

impl<'a> Party<'a> {
    fn new(b: &'a Barrier) -> Party<'a> {
        let (count, waker) = counting_waker();
        Party {
            count,
            waker,
            fut: Box::pin(b.wait()),
        }
    }

    /// A new party, polled once: it must queue (the round is not full).
    fn queued(b: &'a Barrier) -> Party<'a> {
        let before = b.n_waiting();
        let mut p = Party::new(b);
        assert!(p.poll().is_pending(), "the round is not full yet");
        assert_eq!(b.n_waiting(), before + 1);
        p
    }

    fn poll(&mut self) -> Poll<WaitOutput> {
        poll(self.fut.as_mut(), &self.waker)
    }

    fn wakes(&self) -> usize {
        wakes(&self.count)
    }

    fn ready(&mut self) -> WaitOutput {
        match self.poll() {
            Poll::Ready(r) => r,
            Poll::Pending => panic!("party should be done"),
        }
    }
}

/// Waits until `cond` holds (checked every millisecond), failing after [`LIMIT`]. Used
/// only to learn that a thread blocked in `wait_blocking` has queued.
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + LIMIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

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

// ---------------------------------------------------------------------------------------
// abort and reset

#[test]
fn abort_fails_current_and_later_waits_until_reset() {
    let b = Barrier::new(3);
    let mut p0 = Party::queued(&b);
    let mut p1 = Party::queued(&b);

    b.abort();
    assert!(b.is_broken());
    assert_eq!(b.n_waiting(), 0);
    assert_eq!(p0.wakes(), 1);
    assert_eq!(p1.wakes(), 1);
    assert_eq!(p0.ready(), Err(BrokenBarrierError));
    assert_eq!(p1.ready(), Err(BrokenBarrierError));

    // Later waits fail at once, in every form.
    assert_eq!(Party::new(&b).ready(), Err(BrokenBarrierError));
    assert_eq!(b.wait_blocking(), Err(BrokenBarrierError));
    assert_eq!(b.wait_blocking_timeout(LIMIT), Err(BrokenBarrierError));
    assert_eq!(
        futures_lite::future::block_on(b.wait()),
        Err(BrokenBarrierError)
    );
    b.abort(); // aborting twice is fine
    assert!(b.is_broken());
    assert_eq!(b.n_waiting(), 0);

    b.reset();
    assert!(!b.is_broken());
    let mut q0 = Party::queued(&b);
    let mut q1 = Party::queued(&b);
    assert_eq!(Party::new(&b).ready().unwrap().index(), 2);
    assert_eq!(q0.ready().unwrap().index(), 0);
    assert_eq!(q1.ready().unwrap().index(), 1);
}

#[test]
fn reset_fails_the_current_round_and_the_barrier_is_reusable() {
    let b = Barrier::new(3);
    let mut p0 = Party::queued(&b);
    let mut p1 = Party::queued(&b);

    b.reset();
    assert!(!b.is_broken(), "reset does not leave the barrier broken");
    assert_eq!(b.n_waiting(), 0);
    assert_eq!(p0.ready(), Err(BrokenBarrierError));
    assert_eq!(p1.ready(), Err(BrokenBarrierError));

    // A fresh round needs all three parties again.
    let mut q0 = Party::queued(&b);
    let mut q1 = Party::queued(&b);
    let mut q2 = Party::new(&b);
    assert_eq!(q2.ready().unwrap().index(), 2);
    assert_eq!(q0.ready().unwrap().index(), 0);
    assert_eq!(q1.ready().unwrap().index(), 1);
}

#[test]
fn abort_fails_released_parties_that_have_not_returned() {
    // As Python's barriers: a party released but not yet returned sees the abort.
    let b = Barrier::new(2);
    let mut p0 = Party::queued(&b);
    assert!(Party::new(&b).ready().unwrap().is_leader());
    b.abort();
    assert_eq!(p0.ready().map(|r| r.index()), Err(BrokenBarrierError));
    assert!(b.is_broken());
    b.reset();
    assert!(!b.is_broken());
    let mut q0 = Party::queued(&b);
    assert_eq!(Party::new(&b).ready().unwrap().index(), 1);
    assert_eq!(q0.ready().unwrap().index(), 0);
}

#[test]
fn abort_releases_blocked_threads_and_tasks() {
    const THREADS: usize = 2;
    const TASKS: usize = 2;
    let b = Arc::new(Barrier::new(THREADS + TASKS + 1));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let b = b.clone();
            spawn_bounded(move || b.wait_blocking())
        })
        .collect();
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let b = b.clone();
            rt.spawn(async move { b.wait().await })
        })
        .collect();
    wait_until("every party queued", || b.n_waiting() == THREADS + TASKS);

    b.abort();
    for t in threads {
        assert_eq!(t.join(), Err(BrokenBarrierError));
    }
    rt.block_on(within(async {
        for t in tasks {
            assert_eq!(t.await.unwrap(), Err(BrokenBarrierError));
        }
    }));
    assert!(b.is_broken());
}

#[test]
fn reset_releases_a_blocked_thread_which_can_then_rejoin() {
    let b = Arc::new(Barrier::new(2));
    let t = {
        let b = b.clone();
        spawn_bounded(move || {
            let first = b.wait_blocking();
            let second = b.wait_blocking();
            (first, second)
        })
    };
    wait_until("the thread queued", || b.n_waiting() == 1);
    b.reset();
    // The thread's first wait fails; its second one joins a fresh round with us.
    let ours = b.wait_blocking_timeout(LIMIT);
    let (first, second) = t.join();
    assert_eq!(first, Err(BrokenBarrierError));
    let second = second.unwrap();
    let ours = ours.unwrap();
    assert_ne!(second.is_leader(), ours.is_leader());
    let mut idx = [second.index(), ours.index()];
    idx.sort_unstable();
    assert_eq!(idx, [0, 1]);
}

// ---------------------------------------------------------------------------------------
// cancellation

#[test]
fn cancelled_wait_while_filling_withdraws() {
    let b = Barrier::new(3);
    let mut p0 = Party::queued(&b);
    let p1 = Party::queued(&b);
    assert_eq!(b.n_waiting(), 2);

    drop(p1);
    assert_eq!(b.n_waiting(), 1, "the cancelled party left the round");
    assert_eq!(p0.wakes(), 0);

    // The round now needs another party before the last one can release it.
    let mut p2 = Party::queued(&b);
    assert_eq!(b.n_waiting(), 2);
    let mut p3 = Party::new(&b);
    let r3 = p3.ready().unwrap();
    assert_eq!((r3.index(), r3.is_leader()), (2, true));
    assert_eq!(p0.ready().unwrap().index(), 0);
    assert_eq!(p2.ready().unwrap().index(), 1);
    assert!(
        !b.is_broken(),
        "a cancelled wait does not break the barrier"
    );
}

#[test]
fn unpolled_wait_holds_no_place() {
    let b = Barrier::new(2);
    drop(b.wait());
    let w = b.wait();
    assert_eq!(b.n_waiting(), 0);
    drop(w);
    let mut p0 = Party::queued(&b);
    assert!(Party::new(&b).ready().unwrap().is_leader());
    assert_eq!(p0.ready().unwrap().index(), 0);
}

#[tokio::test]
async fn tokio_timeout_withdraws_the_party() {
    let b = Barrier::new(2);
    let r = tokio::time::timeout(Duration::from_millis(10), b.wait()).await;
    assert!(r.is_err());
    assert_eq!(b.n_waiting(), 0);
    assert!(!b.is_broken(), "only blocking timeouts break the barrier");
    let (r0, r1) = within(futures_lite::future::zip(b.wait(), b.wait())).await;
    let (r0, r1) = (r0.unwrap(), r1.unwrap());
    assert_eq!((r0.index(), r1.index()), (0, 1));
    assert!(r1.is_leader());
}

// ---------------------------------------------------------------------------------------
// blocking timeout

#[test]
fn wait_blocking_timeout_breaks_the_barrier() {
    let b = Barrier::new(3);
    let mut p0 = Party::queued(&b);

    let start = Instant::now();
    assert_eq!(
        b.wait_blocking_timeout(Duration::from_millis(30)),
        Err(BrokenBarrierError)
    );
    assert!(start.elapsed() >= Duration::from_millis(30));
    assert!(
        b.is_broken(),
        "a blocking timeout breaks the barrier for everyone"
    );
    assert_eq!(b.n_waiting(), 0);
    assert_eq!(p0.wakes(), 1);
    assert_eq!(
        p0.ready(),
        Err(BrokenBarrierError),
        "the other waiter fails too"
    );
    assert_eq!(b.wait_blocking(), Err(BrokenBarrierError));

    b.reset();
    assert!(!b.is_broken());
    let mut round = pin!(futures_lite::future::zip(
        futures_lite::future::zip(b.wait(), b.wait()),
        b.wait()
    ));
    let ((r0, r1), r2) = futures_lite::future::block_on(round.as_mut());
    let idx = [
        r0.unwrap().index(),
        r1.unwrap().index(),
        r2.unwrap().index(),
    ];
    assert_eq!(idx, [0, 1, 2], "the barrier works again after reset");
}

#[test]
fn wait_blocking_timeout_succeeds_when_the_round_completes() {
    let b = Arc::new(Barrier::new(2));
    let t = {
        let b = b.clone();
        spawn_bounded(move || b.wait_blocking_timeout(LIMIT))
    };
    let ours = b.wait_blocking_timeout(LIMIT).unwrap();
    let theirs = t.join().unwrap();
    assert_ne!(ours.is_leader(), theirs.is_leader());
    assert!(!b.is_broken());
}

/// A party whose blocking wait times out at the very moment the last party arrives must
/// see one consistent outcome: either the round completed (both `Ok`), or it timed out
/// and broke the barrier (both `Err`). The timed-out wait decides under the barrier's
/// lock: a result the round handed over meanwhile is kept, otherwise it withdraws and
/// breaks the barrier. The window is a few instructions wide, so this is a stress test:
/// it ran in the seconds (once in some 4 000 to 40 000 tries on 2 cores) before that
/// fix. It runs `AIOSYNC_STRESS_SECS` seconds (default 3).
#[test]
fn wait_blocking_timeout_racing_the_last_arrival_is_consistent() {
    let start = Instant::now();
    let mut i = 0u64;
    let secs = std::env::var("AIOSYNC_STRESS_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    while start.elapsed() < Duration::from_secs(secs) {
        i += 1;
        let b = Arc::new(Barrier::new(2));
        let sync = Arc::new(std::sync::Barrier::new(2));
        // Arrive at offsets spread around the timed party's deadline.
        let off = Duration::from_micros(40 + i % 160);
        let late = {
            let (b, sync) = (b.clone(), sync.clone());
            thread::spawn(move || {
                sync.wait();
                let t0 = Instant::now();
                while t0.elapsed() < off {
                    std::hint::spin_loop();
                }
                b.wait_blocking_timeout(LIMIT)
            })
        };
        sync.wait();
        let timed = b.wait_blocking_timeout(Duration::from_micros(50));
        let other = late.join().unwrap();
        assert_eq!(
            timed.is_ok(),
            other.is_ok(),
            "try {i}: the timed-out party got {timed:?} but the other party got {other:?} \
             (and the barrier is now broken: {})",
            b.is_broken()
        );
    }
}
