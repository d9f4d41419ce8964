//! Integration tests for a barrier's leader phase: `Barrier::with_action` (the last
//! arrival runs an action before anyone of the round is released; a panicking action
//! breaks the barrier) and `Barrier::with_leader` + `wait_lead` / `wait_lead_blocking`
//! (a `Lead` completes, fails or is dropped; abort and reset during the lead; arrivals
//! during the lead; a blocking timeout).

mod common;

use aiosync::{Arrival, Barrier, BarrierWaitResult, BrokenBarrierError, LeadWait};
use common::*;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A wait that is meant to time out.
const SHORT: Duration = Duration::from_millis(20);

/// The `Lead` a hand-polled `wait_lead` must have ended with.
#[track_caller]
fn lead<'a>(w: &mut Hand<LeadWait<'a>>) -> aiosync::Lead<'a> {
    match w.ready() {
        Ok(Arrival::Lead(lead)) => lead,
        Ok(Arrival::Released(r)) => panic!("expected to lead, was released: {r:?}"),
        Err(e) => panic!("expected to lead, got {e}"),
    }
}

/// The release a hand-polled `wait_lead` must have ended with.
#[track_caller]
fn released(w: &mut Hand<LeadWait<'_>>) -> BarrierWaitResult {
    match w.ready() {
        Ok(Arrival::Released(r)) => r,
        Ok(Arrival::Lead(_)) => panic!("expected a release, was handed the lead"),
        Err(e) => panic!("expected a release, got {e}"),
    }
}

/// A hand-polled `wait_lead` that must end with `BrokenBarrierError`.
#[track_caller]
fn broken(w: &mut Hand<LeadWait<'_>>) {
    match w.ready() {
        Err(BrokenBarrierError) => {}
        Ok(Arrival::Lead(_)) => panic!("expected a broken barrier, was handed the lead"),
        Ok(Arrival::Released(r)) => panic!("expected a broken barrier, was released: {r:?}"),
    }
}

/// A new `wait_lead`, polled once: it must wait.
fn waiting(b: &Barrier) -> Hand<LeadWait<'_>> {
    let mut w = Hand::new(b.wait_lead());
    w.pending();
    w
}

// ---------------------------------------------------------------------------------------
// with_action
// ---------------------------------------------------------------------------------------

/// When things happened, as positions in one sequence (0: never).
struct Order {
    seq: AtomicUsize,
    actions: AtomicUsize,
    action_at: Vec<AtomicUsize>,
    released_at: [Vec<AtomicUsize>; 2],
    leaders: Vec<AtomicUsize>,
}

impl Order {
    fn new(rounds: usize) -> Order {
        let slots =
            || -> Vec<AtomicUsize> { (0..rounds + 1).map(|_| AtomicUsize::new(0)).collect() };
        Order {
            seq: AtomicUsize::new(1),
            actions: AtomicUsize::new(0),
            action_at: slots(),
            released_at: [slots(), slots()],
            leaders: slots(),
        }
    }

    fn action(&self) {
        let round = self.actions.fetch_add(1, Ordering::SeqCst);
        let at = self.seq.fetch_add(1, Ordering::SeqCst);
        self.action_at[round].store(at, Ordering::SeqCst);
    }

    fn released(&self, party: usize, round: usize, r: BarrierWaitResult) {
        let at = self.seq.fetch_add(1, Ordering::SeqCst);
        self.released_at[party][round].store(at, Ordering::SeqCst);
        if r.is_leader() {
            self.leaders[round].fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[test]
fn action_runs_once_per_round_before_anyone_is_released() {
    const ROUNDS: usize = 300;
    let order = Arc::new(Order::new(ROUNDS));
    let o = order.clone();
    let b = Arc::new(Barrier::with_action(2, move || o.action()));
    let (b1, o1) = (b.clone(), order.clone());
    let thread = spawn_bounded(move || {
        for round in 0..ROUNDS {
            let r = b1.wait_blocking().expect("not broken");
            o1.released(0, round, r);
        }
    });
    let (b2, o2) = (b.clone(), order.clone());
    run_mt(1, async move {
        tokio::spawn(async move {
            for round in 0..ROUNDS {
                let r = b2.wait().await.expect("not broken");
                o2.released(1, round, r);
            }
        })
        .await
        .unwrap();
    });
    thread.join();

    assert_eq!(
        order.actions.load(Ordering::SeqCst),
        ROUNDS,
        "once per round"
    );
    for round in 0..ROUNDS {
        let action = order.action_at[round].load(Ordering::SeqCst);
        assert_ne!(action, 0, "round {round}: the action ran");
        for party in 0..2 {
            let rel = order.released_at[party][round].load(Ordering::SeqCst);
            assert!(
                action < rel,
                "round {round}: party {party} was released before the action ran"
            );
            if round + 1 < ROUNDS {
                let next = order.action_at[round + 1].load(Ordering::SeqCst);
                assert!(
                    rel < next,
                    "round {round}: the next round's action ran before party {party} left"
                );
            }
        }
        assert_eq!(
            order.leaders[round].load(Ordering::SeqCst),
            1,
            "round {round}: exactly one leader"
        );
    }
    assert!(!b.is_broken());
}

#[test]
fn panicking_action_breaks_the_barrier_and_reaches_the_leader() {
    let b = Barrier::with_action(2, || panic!("the action failed"));
    let mut first = Hand::new(b.wait());
    first.pending();
    let mut last = Hand::new(b.wait());
    let panic = catch_unwind(AssertUnwindSafe(|| last.poll())).expect_err("leader panics");
    assert_eq!(panic.downcast_ref::<&str>(), Some(&"the action failed"));
    drop(last);
    assert!(b.is_broken());
    assert_eq!(first.wakes(), 1);
    assert_eq!(first.ready(), Err(BrokenBarrierError));
    assert_eq!(
        b.wait_blocking(),
        Err(BrokenBarrierError),
        "broken until reset"
    );
}

#[test]
fn panicking_action_with_a_thread_and_a_task() {
    const PANIC_AT: usize = 3;
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let b = Arc::new(Barrier::with_action(2, move || {
        if c.fetch_add(1, Ordering::SeqCst) == PANIC_AT {
            panic!("the action failed");
        }
    }));
    #[derive(Debug, PartialEq, Eq)]
    enum End {
        Panicked(usize),
        Broken(usize),
    }
    let b1 = b.clone();
    let thread = spawn_bounded(move || {
        for round in 0.. {
            match catch_unwind(AssertUnwindSafe(|| b1.wait_blocking())) {
                Ok(Ok(_)) => {}
                Ok(Err(BrokenBarrierError)) => return End::Broken(round),
                Err(_) => return End::Panicked(round),
            }
        }
        unreachable!()
    });
    let b2 = b.clone();
    let task_end = run_mt(1, async move {
        for round in 0.. {
            let b = b2.clone();
            match tokio::spawn(async move { b.wait().await }).await {
                Ok(Ok(_)) => {}
                Ok(Err(BrokenBarrierError)) => return End::Broken(round),
                Err(e) => {
                    assert!(e.is_panic());
                    return End::Panicked(round);
                }
            }
        }
        unreachable!()
    });
    let thread_end = thread.join();
    let mut ends = [thread_end, task_end];
    ends.sort_by_key(|e| matches!(e, End::Broken(_)));
    assert_eq!(
        ends,
        [End::Panicked(PANIC_AT), End::Broken(PANIC_AT)],
        "the leader panicked, the other party saw the barrier break"
    );
    assert!(b.is_broken());

    // After a reset the barrier works again, action included.
    b.reset();
    let b3 = b.clone();
    let t = spawn_bounded(move || b3.wait_blocking());
    let mine = b.wait_blocking();
    let theirs = t.join();
    assert!(mine.is_ok() && theirs.is_ok());
    assert_eq!(calls.load(Ordering::SeqCst), PANIC_AT + 2);
}

// ---------------------------------------------------------------------------------------
// with_leader: the Lead
// ---------------------------------------------------------------------------------------

#[test]
fn with_leader_rejects_zero_parties() {
    assert!(Barrier::with_leader(0).is_err());
}

#[test]
fn lead_complete_releases_the_round() {
    let b = Barrier::with_leader(3).unwrap();
    let mut p0 = waiting(&b);
    let mut p1 = waiting(&b);
    let mut p2 = Hand::new(b.wait_lead());
    let l = lead(&mut p2);
    assert_eq!(b.n_waiting(), 3, "the full round waits for its leader");
    p0.pending();
    assert_eq!((p0.wakes(), p1.wakes()), (0, 0), "nobody is released yet");
    let r = l.complete().unwrap();
    assert!(r.is_leader());
    assert_eq!(r.index(), 2);
    assert_eq!((p0.wakes(), p1.wakes()), (1, 1));
    assert_eq!(released(&mut p0).index(), 0);
    assert_eq!(released(&mut p1).index(), 1);
    assert!(!b.is_broken());
    assert_eq!(b.n_waiting(), 0);
}

#[test]
fn lead_fail_breaks_the_barrier() {
    let b = Barrier::with_leader(2).unwrap();
    let mut p0 = waiting(&b);
    let mut p1 = Hand::new(b.wait_lead());
    lead(&mut p1).fail();
    assert!(b.is_broken());
    assert_eq!(p0.wakes(), 1);
    broken(&mut p0);
    broken(&mut Hand::new(b.wait_lead()));
    b.reset();
    assert!(!b.is_broken());
    let mut q0 = waiting(&b);
    let mut q1 = Hand::new(b.wait_lead());
    assert!(lead(&mut q1).complete().unwrap().is_leader());
    assert_eq!(released(&mut q0).index(), 0);
}

#[test]
fn dropped_lead_breaks_the_barrier() {
    let b = Barrier::with_leader(2).unwrap();
    let mut p0 = waiting(&b);
    let mut p1 = Hand::new(b.wait_lead());
    drop(lead(&mut p1));
    assert!(b.is_broken());
    broken(&mut p0);
}

#[test]
fn abort_during_the_lead_fails_complete_for_everyone() {
    let b = Barrier::with_leader(3).unwrap();
    let mut p0 = waiting(&b);
    let mut p1 = waiting(&b);
    let mut p2 = Hand::new(b.wait_lead());
    let l = lead(&mut p2);
    b.abort();
    assert!(b.is_broken());
    assert_eq!(l.complete(), Err(BrokenBarrierError));
    assert!(b.is_broken(), "still broken after the failed completion");
    broken(&mut p0);
    broken(&mut p1);
    broken(&mut Hand::new(b.wait_lead()));
}

#[test]
fn reset_during_the_lead_breaks_the_round_then_the_barrier_works() {
    let b = Barrier::with_leader(2).unwrap();
    let mut p0 = waiting(&b);
    let mut p1 = Hand::new(b.wait_lead());
    let l = lead(&mut p1);
    b.reset();
    assert_eq!(p0.wakes(), 1);
    broken(&mut p0); // leaves before the lead completes
    assert_eq!(l.complete(), Err(BrokenBarrierError));
    assert!(!b.is_broken(), "a reset leaves the barrier usable");
    // The next round completes.
    let mut q0 = waiting(&b);
    let mut q1 = Hand::new(b.wait_lead());
    let r = lead(&mut q1).complete().unwrap();
    assert!(r.is_leader());
    assert_eq!(released(&mut q0).index(), 0);
}

#[test]
fn reset_during_the_lead_with_broken_parties_still_leaving() {
    let b = Barrier::with_leader(2).unwrap();
    let mut p0 = waiting(&b);
    let mut p1 = Hand::new(b.wait_lead());
    let l = lead(&mut p1);
    b.reset();
    // The lead ends while the broken party has not left yet.
    assert_eq!(l.complete(), Err(BrokenBarrierError));
    let mut early = waiting(&b); // held back until the broken party left
    assert_eq!(b.n_waiting(), 0);
    broken(&mut p0);
    assert_eq!(early.wakes(), 1, "admitted once the reset was over");
    early.pending(); // counted now, in the new round
    assert_eq!(b.n_waiting(), 1);
    let mut last = Hand::new(b.wait_lead());
    assert!(lead(&mut last).complete().unwrap().is_leader());
    assert_eq!(released(&mut early).index(), 0);
    assert!(!b.is_broken());
}

/// `Lead::complete`: "BrokenBarrierError if the round broke meanwhile (an abort, a
/// reset, ...)", and `reset`: "parties of the current round get BrokenBarrierError".
/// With one party the leader is the whole round; the reset must still break it.
#[test]
fn reset_during_the_lead_of_a_single_party_breaks_the_round() {
    let b = Barrier::with_leader(1).unwrap();
    let mut p = Hand::new(b.wait_lead());
    let l = lead(&mut p);
    b.reset();
    assert_eq!(l.complete(), Err(BrokenBarrierError));
    assert!(!b.is_broken());
}

#[test]
fn arrivals_during_the_lead_count_in_the_next_round() {
    let b = Barrier::with_leader(2).unwrap();
    let mut p0 = waiting(&b);
    let mut p1 = Hand::new(b.wait_lead());
    let l = lead(&mut p1);
    let mut late = waiting(&b);
    assert_eq!(b.n_waiting(), 2, "the late arrival is not in the led round");
    let r = l.complete().unwrap();
    assert_eq!(r.index(), 1);
    assert_eq!(late.wakes(), 0, "the released party has not left yet");
    late.pending();
    assert_eq!(released(&mut p0).index(), 0);
    assert_eq!(
        late.wakes(),
        1,
        "admitted when the last released party left"
    );
    late.pending(); // now it counts in the new round
    assert_eq!(b.n_waiting(), 1);
    let mut last = Hand::new(b.wait_lead());
    let l = lead(&mut last);
    assert!(l.complete().unwrap().is_leader());
    assert_eq!(released(&mut late).index(), 0);
}

/// With one party nobody of the led round is left to leave, so nothing admits an
/// arrival that came during the lead: it waits forever (with `with_action(1, ..)` too,
/// for a thread arriving while another runs the action).
#[test]
fn single_party_arrival_during_the_lead_is_admitted() {
    let b = Barrier::with_leader(1).unwrap();
    let mut first = Hand::new(b.wait_lead());
    let l = lead(&mut first);
    let mut late = waiting(&b);
    assert!(l.complete().unwrap().is_leader());
    assert_eq!(
        late.wakes(),
        1,
        "the round is over: the late arrival must go on"
    );
    assert!(lead(&mut late).complete().unwrap().is_leader());
}

#[test]
fn withdrawn_party_during_the_lead_fails_complete() {
    let b = Barrier::with_leader(3).unwrap();
    let p0 = waiting(&b);
    let mut p1 = waiting(&b);
    let mut p2 = Hand::new(b.wait_lead());
    let l = lead(&mut p2);
    drop(p0); // a filled round lost a party before its release
    assert_eq!(l.complete(), Err(BrokenBarrierError));
    assert!(b.is_broken());
    broken(&mut p1);
}

#[test]
fn wait_lead_on_an_ordinary_barrier_is_a_plain_wait() {
    let b = Barrier::new(2);
    let mut p0 = waiting(&b);
    let mut p1 = Hand::new(b.wait_lead());
    assert!(
        released(&mut p1).is_leader(),
        "no lead on an ordinary barrier"
    );
    assert_eq!(released(&mut p0).index(), 0);
}

// ---------------------------------------------------------------------------------------
// wait_lead_blocking
// ---------------------------------------------------------------------------------------

#[test]
fn wait_lead_blocking_timeout_breaks_the_barrier() {
    let b = Barrier::with_leader(3).unwrap();
    let mut p0 = waiting(&b);
    match b.wait_lead_blocking(Some(SHORT)) {
        Err(BrokenBarrierError) => {}
        Ok(_) => panic!("the round cannot fill: the wait must time out"),
    }
    assert!(b.is_broken());
    assert_eq!(p0.wakes(), 1);
    broken(&mut p0);
}

#[test]
fn wait_lead_blocking_hands_the_last_arrival_the_lead() {
    let b = Barrier::with_leader(2).unwrap();
    let mut p0 = waiting(&b);
    let l = match b.wait_lead_blocking(Some(LIMIT)) {
        Ok(Arrival::Lead(l)) => l,
        _ => panic!("the last arrival leads"),
    };
    assert_eq!(p0.wakes(), 0);
    assert!(l.complete().unwrap().is_leader());
    assert_eq!(released(&mut p0).index(), 0);
}

#[test]
fn blocked_arrival_timing_out_during_the_lead_breaks_the_round() {
    let b = Barrier::with_leader(2).unwrap();
    let mut p0 = waiting(&b);
    let mut p1 = Hand::new(b.wait_lead());
    let l = lead(&mut p1);
    assert!(b.wait_lead_blocking(Some(SHORT)).is_err());
    assert!(b.is_broken());
    assert_eq!(l.complete(), Err(BrokenBarrierError));
    broken(&mut p0);
}

/// Per-round flags for the mixed leader test.
struct Rounds {
    led: Vec<AtomicUsize>,
    lead_done: Vec<AtomicBool>,
    released: Vec<AtomicUsize>,
}

impl Rounds {
    fn new(n: usize) -> Rounds {
        Rounds {
            led: (0..n).map(|_| AtomicUsize::new(0)).collect(),
            lead_done: (0..n).map(|_| AtomicBool::new(false)).collect(),
            released: (0..n).map(|_| AtomicUsize::new(0)).collect(),
        }
    }

    fn arrived(&self, round: usize, arrival: Result<Arrival<'_>, BrokenBarrierError>) {
        match arrival.expect("not broken") {
            Arrival::Lead(l) => {
                self.led[round].fetch_add(1, Ordering::SeqCst);
                assert_eq!(
                    self.released[round].load(Ordering::SeqCst),
                    0,
                    "round {round}: a party was released during the lead"
                );
                self.lead_done[round].store(true, Ordering::SeqCst);
                assert!(l.complete().expect("round completes").is_leader());
            }
            Arrival::Released(r) => {
                assert!(!r.is_leader());
                assert!(
                    self.lead_done[round].load(Ordering::SeqCst),
                    "round {round}: released before the lead completed"
                );
                self.released[round].fetch_add(1, Ordering::SeqCst);
            }
        }
    }
}

#[test]
fn leader_rounds_with_threads_and_a_task() {
    const ROUNDS: usize = 300;
    let b = Arc::new(Barrier::with_leader(3).unwrap());
    let rounds = Arc::new(Rounds::new(ROUNDS));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (b, rounds) = (b.clone(), rounds.clone());
            spawn_bounded(move || {
                for round in 0..ROUNDS {
                    rounds.arrived(round, b.wait_lead_blocking(None));
                }
            })
        })
        .collect();
    let (b2, r2) = (b.clone(), rounds.clone());
    run_mt(1, async move {
        tokio::spawn(async move {
            for round in 0..ROUNDS {
                r2.arrived(round, b2.wait_lead().await);
            }
        })
        .await
        .unwrap();
    });
    for t in threads {
        t.join();
    }
    for round in 0..ROUNDS {
        assert_eq!(rounds.led[round].load(Ordering::SeqCst), 1, "round {round}");
        assert_eq!(
            rounds.released[round].load(Ordering::SeqCst),
            2,
            "round {round}"
        );
    }
    assert!(!b.is_broken());
}
