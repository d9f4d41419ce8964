//! `Queue` cancellation: dropped getters/putters pass items and room on; cancellation storms lose and duplicate nothing.

mod common;

use aiosync::{Queue, QueueShutDown, TryGetError, TryPutError};
use common::queue::*;
use common::*;
use futures_lite::future::{block_on, poll_once};
use std::collections::HashSet;
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::thread;
use std::time::Duration;

// ---------------------------------------------------------------------------------------
// 5. Cancellation
// ---------------------------------------------------------------------------------------

#[test]
fn woken_getter_dropped_before_it_runs_passes_the_item_on() {
    let q = Queue::new(0);
    let (c1, k1) = counting_waker();
    let (c2, k2) = counting_waker();
    let mut g1 = Box::pin(q.get());
    let mut g2 = Box::pin(q.get());
    pending(g1.as_mut(), &k1);
    pending(g2.as_mut(), &k2);
    q.try_put(42).unwrap();
    assert_eq!((wakes(&c1), wakes(&c2)), (1, 0));
    drop(g1); // woken, never polled again
    assert_eq!(wakes(&c2), 1, "next getter not woken for the item");
    assert_eq!(ready(g2.as_mut(), &k2), Ok(42));
    assert!(q.is_empty());

    // With no getter left, the item stays in the queue for the next one.
    let mut g3 = Box::pin(q.get());
    pending(g3.as_mut(), &k1);
    q.try_put(43).unwrap();
    drop(g3);
    assert_eq!(q.len(), 1);
    assert_eq!(q.try_get(), Ok(43), "item lost with a cancelled getter");
}

/// Like above, but the first getter has waited past the fairness timeout when the item
/// arrives, so it is *handed* the item (not just woken). The sleep only puts it past the
/// timeout; what is asserted holds on either path.
#[test]
fn getter_handed_an_item_then_dropped_passes_it_on() {
    let q = Queue::new(0);
    let (c1, k1) = counting_waker();
    let (c2, k2) = counting_waker();
    let mut g1 = Box::pin(q.get());
    let mut g2 = Box::pin(q.get());
    pending(g1.as_mut(), &k1);
    pending(g2.as_mut(), &k2);
    q.try_put(1).unwrap(); // starts the head's fairness clock, wakes g1
    thread::sleep(Duration::from_millis(2));
    q.try_put(2).unwrap(); // now starving: handed over directly
    assert_eq!(wakes(&c1), 1);
    drop(g1);
    assert!(wakes(&c2) >= 1, "next getter not woken");
    let first = ready(g2.as_mut(), &k2).unwrap();
    let second = q.try_get().unwrap();
    let mut both = [first, second];
    both.sort();
    assert_eq!(both, [1, 2]);
    assert_eq!(q.try_get(), Err(TryGetError::Empty));
}

#[test]
fn woken_putter_dropped_passes_the_room_on_and_inserts_nothing() {
    let q = Queue::new(1);
    q.try_put(0).unwrap();
    let (c1, k1) = counting_waker();
    let (c2, k2) = counting_waker();
    let mut p1 = Box::pin(q.put(1));
    let mut p2 = Box::pin(q.put(2));
    pending(p1.as_mut(), &k1);
    pending(p2.as_mut(), &k2);
    assert_eq!(q.try_get(), Ok(0));
    assert_eq!((wakes(&c1), wakes(&c2)), (1, 0));
    drop(p1); // woken, dropped: its item is not inserted
    assert_eq!(wakes(&c2), 1, "next putter not woken for the room");
    assert!(q.is_empty());
    assert_eq!(ready(p2.as_mut(), &k2), Ok(()));
    assert_eq!(q.try_get(), Ok(2));
    assert_eq!(q.unfinished_tasks(), 2, "a dropped put counted as a task");
}

/// Lost wake-up: a getter waits (g1); two items arrive, which wakes g1 only (g1 alone was
/// queued); before g1 runs, a second getter on the same thread (g2) queues behind it (it
/// may not overtake a waiter of its own thread). When g1 takes the first item, the second
/// one is still there and g2 must be woken for it. Nothing wakes g2: it waits, with an
/// item in the queue, until some later put.
#[test]
fn getter_queued_behind_a_woken_getter_is_woken_for_the_second_item() {
    let q = Queue::new(0);
    let (c1, k1) = counting_waker();
    let (c2, k2) = counting_waker();
    let mut g1 = pin!(q.get());
    pending(g1.as_mut(), &k1);
    q.try_put(1).unwrap();
    q.try_put(2).unwrap();
    assert_eq!(wakes(&c1), 1);
    let mut g2 = pin!(q.get());
    pending(g2.as_mut(), &k2);
    assert_eq!(ready(g1.as_mut(), &k1), Ok(1));
    assert_eq!(q.len(), 1);
    assert_eq!(wakes(&c2), 1, "getter left unwoken while an item is queued");
    assert_eq!(ready(g2.as_mut(), &k2), Ok(2));
}

/// The same lost wake-up on the putting side.
#[test]
fn putter_queued_behind_a_woken_putter_is_woken_for_the_second_place() {
    let q = Queue::new(2);
    q.try_put(1).unwrap();
    q.try_put(2).unwrap();
    let (c1, k1) = counting_waker();
    let (c2, k2) = counting_waker();
    let mut p1 = pin!(q.put(3));
    pending(p1.as_mut(), &k1);
    assert_eq!(q.try_get(), Ok(1));
    assert_eq!(q.try_get(), Ok(2));
    assert_eq!(wakes(&c1), 1);
    let mut p2 = pin!(q.put(4));
    pending(p2.as_mut(), &k2);
    assert_eq!(ready(p1.as_mut(), &k1), Ok(()));
    assert_eq!(q.len(), 1);
    assert_eq!(wakes(&c2), 1, "putter left unwoken while there is room");
    assert_eq!(ready(p2.as_mut(), &k2), Ok(()));
}

/// The lost wake-up as a user meets it, on a tokio current-thread runtime: a consumer
/// task waits, two items are put, and the main task (same thread) calls `get()` before the
/// consumer has run. The main task then hangs although an item is in the queue.
/// (`biased` select: the deadline is checked first, so a late poll cannot hide the hang.)
#[test]
fn get_on_a_single_threaded_runtime_does_not_hang_with_an_item_queued() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let q = Arc::new(Queue::new(0));
        let consumer = {
            let q = q.clone();
            tokio::spawn(async move { q.get().await })
        };
        tokio::task::yield_now().await; // the consumer runs and waits
        q.try_put(1).unwrap();
        q.try_put(2).unwrap();
        let sleep = tokio::time::sleep(Duration::from_secs(2));
        tokio::select! {
            biased;
            _ = sleep => panic!("get() hung with {} item(s) queued", q.len()),
            r = q.get() => assert!(r.is_ok()),
        }
        assert!(consumer.await.unwrap().is_ok());
    });
}

/// Tracks pending futures the way an executor would: which were woken since last polled.
struct Polled<F> {
    fut: Pin<Box<F>>,
    count: Arc<CountingWaker>,
    waker: Waker,
    seen: usize,
    tag: u64,
}

impl<F: Future> Polled<F> {
    /// Polls once; `Some(output)` if it completed.
    fn poll(&mut self) -> Option<F::Output> {
        self.seen = wakes(&self.count);
        match poll(self.fut.as_mut(), &self.waker) {
            Poll::Ready(v) => Some(v),
            Poll::Pending => None,
        }
    }
    fn woken(&self) -> bool {
        wakes(&self.count) > self.seen
    }
}

fn start<F: Future>(fut: F, tag: u64) -> Result<F::Output, Polled<F>> {
    let (count, waker) = counting_waker();
    let mut p = Polled {
        fut: Box::pin(fut),
        count,
        waker,
        seen: 0,
        tag,
    };
    match p.poll() {
        Some(v) => Ok(v),
        None => Err(p),
    }
}

/// Polls every woken future until none is; returns the outputs of those that completed
/// (with their tags).
fn run_woken<F: Future>(list: &mut Vec<Polled<F>>) -> Vec<(u64, F::Output)> {
    let mut out = Vec::new();
    loop {
        let mut progressed = false;
        let mut i = 0;
        while i < list.len() {
            if list[i].woken() {
                progressed = true;
                if let Some(v) = list[i].poll() {
                    let p = list.swap_remove(i);
                    out.push((p.tag, v));
                    continue;
                }
            }
            i += 1;
        }
        if !progressed {
            return out;
        }
    }
}

/// Polls every waiting future once, woken or not (a spurious wake-up for each), and
/// returns the outputs of those that completed (with their tags).
fn poll_all<F: Future>(list: &mut Vec<Polled<F>>) -> Vec<(u64, F::Output)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < list.len() {
        if let Some(v) = list[i].poll() {
            out.push((list.swap_remove(i).tag, v));
        } else {
            i += 1;
        }
    }
    out
}

/// Thousands of get futures, each polled once and then dropped or kept, interleaved with
/// puts, on one thread: every item put is received exactly once.
#[test]
fn get_cancellation_storm_loses_and_duplicates_nothing() {
    get_storm(false);
}

/// The storm above, also asserting liveness: once every woken getter has run, no item
/// sits in the queue while a getter waits unwoken. Fails through the lost wake-up shown
/// by `getter_queued_behind_a_woken_getter_is_woken_for_the_second_item`.
#[test]
fn get_cancellation_storm_never_strands_an_item() {
    get_storm(true);
}

fn get_storm(check_liveness: bool) {
    let q = Queue::new(0);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut waiting: Vec<Polled<aiosync::Get<'_, u64>>> = Vec::new();
    let mut received = Vec::new();
    let mut next = 0u64;
    for step in 0..30_000u64 {
        match rng.below(8) {
            0..=2 => match start(q.get(), step) {
                Ok(v) => received.push(v.unwrap()),
                Err(p) => waiting.push(p),
            },
            3 | 4 => {
                q.try_put(next).unwrap();
                next += 1;
            }
            5 if !waiting.is_empty() => {
                let i = rng.below(waiting.len());
                drop(waiting.swap_remove(i)); // cancelled (woken or not)
            }
            6 if !waiting.is_empty() => {
                let i = rng.below(waiting.len());
                if let Some(v) = waiting[i].poll() {
                    received.push(v.unwrap());
                    waiting.swap_remove(i);
                }
            }
            _ => {
                for (_, v) in run_woken(&mut waiting) {
                    received.push(v.unwrap());
                }
                if check_liveness {
                    assert!(
                        waiting.is_empty() || q.is_empty(),
                        "step {step}: {} item(s) queued while {} getter(s) wait unwoken",
                        q.len(),
                        waiting.len()
                    );
                } else if rng.below(4) == 0 {
                    for (_, v) in poll_all(&mut waiting) {
                        received.push(v.unwrap());
                    }
                }
            }
        }
    }
    for (_, v) in run_woken(&mut waiting) {
        received.push(v.unwrap());
    }
    if check_liveness {
        assert!(waiting.is_empty() || q.is_empty(), "item stranded");
    }
    drop(waiting);
    while let Ok(v) = q.try_get() {
        received.push(v);
    }
    assert!(next > 5000);
    assert_exactly_ids(received, next);
    assert_eq!(q.unfinished_tasks() as u64, next);
}

/// Thousands of put futures on a full bounded queue, each polled once and then dropped
/// or kept: a dropped put never inserts, a completed one inserts exactly once.
#[test]
fn put_cancellation_storm_inserts_exactly_the_completed_puts() {
    put_storm(false);
}

/// The storm above, also asserting liveness: once every woken putter has run, no room
/// is left while a putter waits unwoken.
#[test]
fn put_cancellation_storm_never_strands_room() {
    put_storm(true);
}

fn put_storm(check_liveness: bool) {
    let q = Queue::new(4);
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    let mut waiting: Vec<Polled<aiosync::Put<'_, u64>>> = Vec::new();
    let mut completed = HashSet::new();
    let mut dropped = HashSet::new();
    let mut received = Vec::new();
    let mut next = 0u64;
    for step in 0..30_000u64 {
        match rng.below(9) {
            0..=2 => {
                let id = next;
                next += 1;
                match start(q.put(id), id) {
                    Ok(r) => {
                        r.unwrap();
                        completed.insert(id);
                    }
                    Err(p) => waiting.push(p),
                }
            }
            3 | 4 => {
                if let Ok(v) = q.try_get() {
                    received.push(v);
                }
            }
            5 => {
                // A get polled once and dropped if it has to wait.
                if let Some(v) = block_on(poll_once(q.get())) {
                    received.push(v.unwrap());
                }
            }
            6 if !waiting.is_empty() => {
                let i = rng.below(waiting.len());
                dropped.insert(waiting.swap_remove(i).tag);
            }
            7 if !waiting.is_empty() => {
                let i = rng.below(waiting.len());
                if let Some(r) = waiting[i].poll() {
                    r.unwrap();
                    completed.insert(waiting.swap_remove(i).tag);
                }
            }
            _ => {
                for (id, r) in run_woken(&mut waiting) {
                    r.unwrap();
                    completed.insert(id);
                }
                if check_liveness {
                    assert!(
                        waiting.is_empty() || q.is_full(),
                        "step {step}: room left while {} putter(s) wait unwoken",
                        waiting.len()
                    );
                } else if rng.below(4) == 0 {
                    for (id, r) in poll_all(&mut waiting) {
                        r.unwrap();
                        completed.insert(id);
                    }
                }
            }
        }
        assert!(q.len() <= 4, "bounded queue overfilled");
    }
    for (id, r) in run_woken(&mut waiting) {
        r.unwrap();
        completed.insert(id);
    }
    dropped.extend(waiting.drain(..).map(|p| p.tag));
    while let Ok(v) = q.try_get() {
        received.push(v);
    }
    assert!(!dropped.is_empty() && completed.len() > 1000);
    assert_eq!(completed.len() + dropped.len(), next as usize);
    let got: HashSet<u64> = received.iter().copied().collect();
    assert_eq!(got.len(), received.len(), "an item was received twice");
    assert!(got.is_disjoint(&dropped), "a dropped put inserted its item");
    assert_eq!(got, completed, "a completed put's item was lost");
    assert_eq!(q.unfinished_tasks(), completed.len());
}

/// The storm across threads: producers and consumers that mostly poll once and drop,
/// or wait with short timeouts (which cancel too), on a small bounded queue. Producers
/// record which puts completed; after they finish, a graceful shutdown lets the consumers
/// drain and stop. Received must equal completed exactly.
#[test]
fn cancellation_storm_across_threads_and_tasks() {
    const PER: u64 = 3000;
    let q = Arc::new(Queue::new(8));
    let producer = |p: u64| {
        let q = q.clone();
        move || {
            let mut rng = Rng(p * 7919 + 17);
            let mut completed = Vec::new();
            for i in 0..PER {
                let mut id = p * PER + i;
                loop {
                    if rng.below(2) == 0 {
                        // Polled once: either in, or dropped with its item (id used up).
                        if let Some(r) = block_on(poll_once(q.put(id))) {
                            r.unwrap();
                            completed.push(id);
                        }
                        break;
                    }
                    match q.put_blocking_timeout(id, Duration::from_micros(200)) {
                        Ok(()) => {
                            completed.push(id);
                            break;
                        }
                        Err(TryPutError::Full(back)) => id = back,
                        Err(e) => panic!("unexpected {e:?}"),
                    }
                }
            }
            completed
        }
    };
    let consumer = |c: u64| {
        let q = q.clone();
        move || {
            let mut rng = Rng(c * 104_729 + 3);
            let mut got = Vec::new();
            loop {
                if rng.below(2) == 0 {
                    match block_on(poll_once(q.get())) {
                        Some(Ok(v)) => got.push(v),
                        Some(Err(QueueShutDown(()))) => return got,
                        None => {}
                    }
                } else {
                    match q.get_blocking_timeout(Duration::from_micros(200)) {
                        Ok(v) => got.push(v),
                        Err(TryGetError::Empty) => {}
                        Err(TryGetError::ShutDown) => return got,
                    }
                }
            }
        }
    };
    let producers: Vec<_> = (0..2).map(|p| thread::spawn(producer(p))).collect();
    let consumers: Vec<_> = (0..2).map(|c| thread::spawn(consumer(c))).collect();

    let (task_completed, task_got) = run_mt(2, async {
        // Async producers and consumers cancelled by tokio timeouts.
        let tproducers: Vec<_> = (2..4u64)
            .map(|p| {
                let q = q.clone();
                tokio::spawn(async move {
                    let mut completed = Vec::new();
                    for i in 0..PER {
                        let id = p * PER + i;
                        let d = Duration::from_micros(100 + (i % 7) * 150);
                        if let Ok(r) = tokio::time::timeout(d, q.put(id)).await {
                            r.unwrap();
                            completed.push(id);
                        }
                    }
                    completed
                })
            })
            .collect();
        let tconsumers: Vec<_> = (0..2)
            .map(|_| {
                let q = q.clone();
                tokio::spawn(async move {
                    let mut got = Vec::new();
                    loop {
                        match tokio::time::timeout(Duration::from_micros(500), q.get()).await {
                            Ok(Ok(v)) => got.push(v),
                            Ok(Err(QueueShutDown(()))) => return got,
                            Err(_elapsed) => {}
                        }
                    }
                })
            })
            .collect();
        let mut completed = Vec::new();
        for p in tproducers {
            completed.extend(p.await.unwrap());
        }
        let threads_completed = tokio::task::spawn_blocking(move || {
            producers
                .into_iter()
                .flat_map(|p| join_within(p, LIMIT))
                .collect::<Vec<_>>()
        })
        .await
        .unwrap();
        completed.extend(threads_completed);
        q.shutdown(false);
        let mut got = Vec::new();
        for c in tconsumers {
            got.extend(c.await.unwrap());
        }
        (completed, got)
    });
    let mut received = task_got;
    for c in consumers {
        received.extend(join_within(c, LIMIT));
    }
    assert!(q.is_empty(), "consumers stopped with items left");
    let completed: HashSet<u64> = task_completed.into_iter().collect();
    let got: HashSet<u64> = received.iter().copied().collect();
    assert_eq!(got.len(), received.len(), "an item was received twice");
    assert_eq!(got, completed, "items lost, or inserted by cancelled puts");
    assert_eq!(q.unfinished_tasks(), completed.len());
}
