//! Integration tests for `aiosync::Queue`: the three orderings, FIFO backpressure on both
//! sides (deterministic poll tests), `task_done`/`join`, both kinds of `shutdown`,
//! cancellation storms that must neither lose nor duplicate an item, and one queue shared
//! by OS threads and tokio tasks at once.

mod common;

use aiosync::{PutError, Queue, QueueShutDown, TaskDoneError, TryGetError, TryPutError};
use common::*;
use futures_lite::future::{block_on, poll_once};
use std::collections::HashSet;
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::task::{Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// A small deterministic pseudo-random generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// An item that counts, per id, how many times it was dropped.
struct Tracked {
    id: usize,
    drops: Arc<Vec<AtomicUsize>>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.drops[self.id].fetch_add(1, Ordering::SeqCst);
    }
}

fn drop_counters(n: usize) -> Arc<Vec<AtomicUsize>> {
    Arc::new((0..n).map(|_| AtomicUsize::new(0)).collect())
}

fn drops_of(d: &[AtomicUsize]) -> Vec<usize> {
    d.iter().map(|c| c.load(Ordering::SeqCst)).collect()
}

/// Sorts and checks `got` is exactly `0..n` (every id once, none missing or extra).
#[track_caller]
fn assert_exactly_ids(mut got: Vec<u64>, n: u64) {
    let len = got.len();
    got.sort_unstable();
    got.dedup();
    assert_eq!(got.len(), len, "an item was received twice");
    assert_eq!(got, (0..n).collect::<Vec<_>>(), "items lost");
}

// ---------------------------------------------------------------------------------------
// 1. Orderings
// ---------------------------------------------------------------------------------------

#[test]
fn fifo_lifo_and_priority_orderings() {
    let input = [5, 1, 4, 1, 2, 3, 9, 0];
    let drain = |q: &Queue<i32>| {
        let mut out = Vec::new();
        while let Ok(v) = q.try_get() {
            out.push(v);
        }
        out
    };

    let fifo = Queue::new(0);
    let lifo = Queue::lifo(0);
    let prio = Queue::priority(0);
    for v in input {
        fifo.try_put(v).unwrap();
        lifo.try_put(v).unwrap();
        prio.try_put(v).unwrap();
    }
    assert_eq!((fifo.len(), lifo.len(), prio.len()), (8, 8, 8));
    assert_eq!(drain(&fifo), input);
    let mut rev = input;
    rev.reverse();
    assert_eq!(drain(&lifo), rev);
    let mut sorted = input;
    sorted.sort();
    assert_eq!(drain(&prio), sorted);
    assert!(fifo.is_empty() && lifo.is_empty() && prio.is_empty());

    // The same through the async and blocking forms, interleaving puts and gets.
    block_on(async {
        let lifo = Queue::lifo(3);
        lifo.put(1).await.unwrap();
        lifo.put(2).await.unwrap();
        assert_eq!(lifo.get().await, Ok(2));
        lifo.put(3).await.unwrap();
        lifo.put(4).await.unwrap();
        assert!(lifo.is_full());
        assert_eq!(lifo.get().await, Ok(4));
        assert_eq!(lifo.get_blocking(), Ok(3));
        assert_eq!(lifo.get().await, Ok(1));

        let prio = Queue::priority(0);
        for (p, name) in [(3, "c"), (1, "a"), (2, "b"), (1, "a2")] {
            prio.put((p, name)).await.unwrap();
        }
        assert_eq!(prio.get().await, Ok((1, "a")));
        prio.put_blocking((0, "z")).unwrap();
        assert_eq!(prio.get().await, Ok((0, "z")));
        assert_eq!(prio.get().await, Ok((1, "a2")));
        assert_eq!(prio.get_blocking(), Ok((2, "b")));
        assert_eq!(prio.get().await, Ok((3, "c")));
    });
}

/// A getter waiting on a LIFO or priority queue is handed an item put later, and the
/// order holds for what is put while it waits.
#[test]
fn waiting_getters_on_lifo_and_priority_queues() {
    let q = Queue::priority(0);
    let (c, k) = counting_waker();
    let mut g = pin!(q.get());
    pending(g.as_mut(), &k);
    q.try_put(7).unwrap();
    assert_eq!(wakes(&c), 1);
    q.try_put(3).unwrap();
    // The getter takes the smallest item present when it runs.
    assert_eq!(ready(g.as_mut(), &k), Ok(3));
    assert_eq!(q.try_get(), Ok(7));

    let q = Queue::lifo(0);
    let mut g = pin!(q.get());
    pending(g.as_mut(), &k);
    q.try_put("x").unwrap();
    q.try_put("y").unwrap();
    assert_eq!(ready(g.as_mut(), &k), Ok("y"));
    assert_eq!(q.try_get(), Ok("x"));
}

#[test]
fn unbounded_queue_never_waits() {
    let q = Queue::new(0);
    assert_eq!(q.maxsize(), 0);
    for i in 0..10_000 {
        q.try_put(i).unwrap();
    }
    assert!(!q.is_full());
    let (c, k) = counting_waker();
    let mut p = pin!(q.put(10_000));
    assert_eq!(ready(p.as_mut(), &k), Ok(()));
    assert_eq!(wakes(&c), 0);
    assert_eq!(q.len(), 10_001);
    assert_eq!(q.unfinished_tasks(), 10_001);
    assert_eq!(q.try_get(), Ok(0));
}

// ---------------------------------------------------------------------------------------
// 2. Bounded backpressure
// ---------------------------------------------------------------------------------------

#[test]
fn bounded_put_waits_until_a_get_makes_room() {
    let q = Queue::new(2);
    assert_eq!(q.maxsize(), 2);
    q.try_put(1).unwrap();
    q.try_put(2).unwrap();
    assert!(q.is_full());

    let (c, k) = counting_waker();
    let mut p = pin!(q.put(3));
    pending(p.as_mut(), &k);
    pending(p.as_mut(), &k);
    assert_eq!(wakes(&c), 0);
    assert_eq!(q.len(), 2, "a pending put inserted its item");

    assert_eq!(q.try_get(), Ok(1));
    assert_eq!(wakes(&c), 1, "putter not woken when room was made");
    assert_eq!(ready(p.as_mut(), &k), Ok(()));
    assert!(q.is_full());
    assert_eq!(q.try_get(), Ok(2));
    assert_eq!(q.try_get(), Ok(3));
    assert_eq!(q.try_get(), Err(TryGetError::Empty));
}

#[test]
fn waiting_putters_are_served_in_fifo_order() {
    const N: usize = 5;
    let q = Queue::new(1);
    q.try_put(100).unwrap();
    let wk: Vec<_> = (0..N).map(|_| counting_waker()).collect();
    let mut puts: Vec<_> = (0..N).map(|i| Some(Box::pin(q.put(i)))).collect();
    for (p, (_, k)) in puts.iter_mut().zip(&wk) {
        pending(p.as_mut().unwrap().as_mut(), k);
    }
    // Nobody on this thread overtakes the queued putters.
    assert!(matches!(q.try_put(99), Err(TryPutError::Full(99))));

    let mut got = vec![q.try_get().unwrap()];
    for i in 0..N {
        assert_eq!(wakes(&wk[i].0), 1, "putter {i} not woken in turn");
        for (j, (c, _)) in wk.iter().enumerate().skip(i + 1) {
            assert_eq!(wakes(c), 0, "putter {j} woken out of turn");
        }
        // Later putters cannot complete first, whatever the poll order.
        for j in (i + 1..N).rev() {
            pending(puts[j].as_mut().unwrap().as_mut(), &wk[j].1);
        }
        let mut p = puts[i].take().unwrap();
        assert_eq!(ready(p.as_mut(), &wk[i].1), Ok(()));
        assert!(q.is_full());
        got.push(q.try_get().unwrap());
    }
    assert_eq!(got, [100, 0, 1, 2, 3, 4]);
    assert!(q.is_empty());
}

#[test]
fn waiting_getters_are_served_in_fifo_order() {
    const N: usize = 5;
    let q = Queue::new(0);
    let wk: Vec<_> = (0..N).map(|_| counting_waker()).collect();
    let mut gets: Vec<_> = (0..N).map(|_| Some(Box::pin(q.get()))).collect();
    for (g, (_, k)) in gets.iter_mut().zip(&wk) {
        pending(g.as_mut().unwrap().as_mut(), k);
    }
    for i in 0..N {
        q.try_put(i * 10).unwrap();
        assert_eq!(wakes(&wk[i].0), 1, "getter {i} not woken in turn");
        for (j, (c, _)) in wk.iter().enumerate().skip(i + 1) {
            assert_eq!(wakes(c), 0, "getter {j} woken out of turn");
        }
        for j in (i + 1..N).rev() {
            pending(gets[j].as_mut().unwrap().as_mut(), &wk[j].1);
        }
        // A newcomer on this thread does not take the item first.
        assert_eq!(q.try_get(), Err(TryGetError::Empty));
        let (_, kn) = counting_waker();
        let mut newcomer = Box::pin(q.get());
        pending(newcomer.as_mut(), &kn);
        drop(newcomer);
        let mut g = gets[i].take().unwrap();
        assert_eq!(ready(g.as_mut(), &wk[i].1), Ok(i * 10));
    }
    assert!(q.is_empty());
}

#[test]
fn try_put_when_full_gives_the_item_back_and_try_get_when_empty_fails() {
    let q = Queue::new(1);
    assert_eq!(q.try_get(), Err(TryGetError::Empty));
    q.try_put(String::from("first")).unwrap();
    match q.try_put(String::from("second")) {
        Err(TryPutError::Full(s)) => assert_eq!(s, "second"),
        other => panic!("expected Full, got {other:?}"),
    }
    let e = q.try_put(String::from("third")).unwrap_err();
    assert!(e.to_string().contains("full"));
    assert_eq!(e.into_inner(), "third");
    assert_eq!(q.len(), 1);
    assert_eq!(q.unfinished_tasks(), 1, "a refused put counted as a task");
    assert_eq!(q.try_get().as_deref(), Ok("first"));
    assert_eq!(q.try_get(), Err(TryGetError::Empty));
}

#[test]
fn blocking_timeouts_report_full_and_empty_and_leave_no_trace() {
    let short = Duration::from_millis(20);
    let q = Queue::new(1);

    let t = Instant::now();
    assert_eq!(q.get_blocking_timeout(short), Err(TryGetError::Empty));
    assert!(t.elapsed() >= short);
    // The timed-out getter is gone: a put and try_get work directly.
    q.try_put(vec![1]).unwrap();

    let t = Instant::now();
    match q.put_blocking_timeout(vec![2], short) {
        Err(TryPutError::Full(v)) => assert_eq!(v, [2]),
        other => panic!("expected Full, got {other:?}"),
    }
    assert!(t.elapsed() >= short);
    assert_eq!(q.len(), 1);
    assert_eq!(q.try_get(), Ok(vec![1]));
    q.try_put(vec![3]).expect("a timed-out putter left a trace");
    assert_eq!(q.get_blocking_timeout(short), Ok(vec![3]));
    assert_eq!(q.unfinished_tasks(), 2);

    // A timeout still running when the item arrives succeeds.
    let q = Arc::new(Queue::new(1));
    let (tx, rx) = mpsc::channel();
    let getter = {
        let q = q.clone();
        thread::spawn(move || {
            tx.send(()).unwrap();
            q.get_blocking_timeout(LIMIT)
        })
    };
    rx.recv_timeout(LIMIT).unwrap();
    q.put_blocking(5).unwrap();
    assert_eq!(join_within(getter, LIMIT), Ok(5));

    q.try_put(6).unwrap();
    let (tx, rx) = mpsc::channel();
    let putter = {
        let q = q.clone();
        thread::spawn(move || {
            tx.send(()).unwrap();
            q.put_blocking_timeout(7, LIMIT)
        })
    };
    rx.recv_timeout(LIMIT).unwrap();
    assert_eq!(q.get_blocking(), Ok(6));
    assert!(join_within(putter, LIMIT).is_ok());
    assert_eq!(q.try_get(), Ok(7));
}

#[test]
fn put_blocking_waits_for_a_task_to_make_room() {
    let q = Arc::new(Queue::new(2));
    let producer = {
        let q = q.clone();
        thread::spawn(move || {
            for i in 0..200 {
                q.put_blocking(i).unwrap();
                assert!(q.len() <= 2, "bounded queue overfilled");
            }
        })
    };
    let got = run_mt(1, async {
        let mut got = Vec::new();
        for _ in 0..200 {
            got.push(q.get().await.unwrap());
            assert!(q.len() <= 2);
        }
        got
    });
    join_within(producer, LIMIT);
    assert_eq!(got, (0..200).collect::<Vec<_>>());
}

// ---------------------------------------------------------------------------------------
// 3. task_done / join
// ---------------------------------------------------------------------------------------

#[test]
fn join_waits_until_every_item_is_marked_done() {
    let q = Queue::new(0);
    let (c, k) = counting_waker();
    // Nothing unfinished: join is ready at once.
    ready(pin!(q.join()), &k);

    for i in 0..3 {
        q.try_put(i).unwrap();
    }
    assert_eq!(q.unfinished_tasks(), 3);
    let mut j = pin!(q.join());
    pending(j.as_mut(), &k);

    // Taking items does not finish them; task_done does.
    for _ in 0..3 {
        q.try_get().unwrap();
    }
    assert_eq!(q.unfinished_tasks(), 3);
    pending(j.as_mut(), &k);
    q.task_done().unwrap();
    q.task_done().unwrap();
    assert_eq!(q.unfinished_tasks(), 1);
    assert_eq!(wakes(&c), 0);
    pending(j.as_mut(), &k);
    q.task_done().unwrap();
    assert_eq!(wakes(&c), 1, "join not woken by the last task_done");
    assert_eq!(q.unfinished_tasks(), 0);
    ready(j.as_mut(), &k);
    assert!(q.join_blocking_timeout(Duration::ZERO));
}

#[test]
fn task_done_more_times_than_puts_is_an_error() {
    let q = Queue::new(0);
    assert_eq!(q.task_done(), Err(TaskDoneError));
    q.try_put(1).unwrap();
    assert_eq!(q.task_done(), Ok(()));
    assert_eq!(q.task_done(), Err(TaskDoneError));
    assert!(TaskDoneError.to_string().contains("task_done"));
    assert_eq!(q.unfinished_tasks(), 0);
    // The error did not drive the count below zero: one put, one task_done, join ready.
    q.try_put(2).unwrap();
    assert!(!q.join_blocking_timeout(Duration::from_millis(5)));
    q.task_done().unwrap();
    assert!(q.join_blocking_timeout(Duration::ZERO));
}

#[test]
fn several_joiners_are_all_released_and_a_dropped_one_leaves_no_trace() {
    let q = Queue::new(0);
    q.try_put(()).unwrap();
    let wk: Vec<_> = (0..3).map(|_| counting_waker()).collect();
    let mut joins: Vec<_> = (0..3).map(|_| Box::pin(q.join())).collect();
    for (j, (_, k)) in joins.iter_mut().zip(&wk) {
        pending(j.as_mut(), k);
    }
    drop(joins.remove(1)); // cancelled
    q.try_get().unwrap();
    q.task_done().unwrap();
    assert_eq!(
        (wakes(&wk[0].0), wakes(&wk[1].0), wakes(&wk[2].0)),
        (1, 0, 1)
    );
    for (j, (_, k)) in joins.iter_mut().zip([&wk[0], &wk[2]]) {
        ready(j.as_mut(), k);
    }
}

/// A thread in `join_blocking` is released by tokio tasks calling `task_done`, only once
/// they all have.
#[test]
fn join_blocking_on_a_thread_is_released_by_tasks() {
    const N: usize = 500;
    let q = Arc::new(Queue::new(0));
    for i in 0..N {
        q.try_put(i).unwrap();
    }
    assert!(!q.join_blocking_timeout(Duration::from_millis(5)));
    let (tx, rx) = mpsc::channel();
    let joiner = {
        let q = q.clone();
        thread::spawn(move || {
            q.join_blocking();
            let left = q.unfinished_tasks();
            tx.send(left).unwrap();
        })
    };
    let done = Arc::new(AtomicUsize::new(0));
    run_mt(2, async {
        let workers: Vec<_> = (0..4)
            .map(|_| {
                let (q, done) = (q.clone(), done.clone());
                tokio::spawn(async move {
                    while let Ok(v) = q.try_get() {
                        tokio::task::yield_now().await;
                        std::hint::black_box(v);
                        done.fetch_add(1, Ordering::SeqCst);
                        q.task_done().unwrap();
                    }
                })
            })
            .collect();
        for w in workers {
            w.await.unwrap();
        }
    });
    assert_eq!(
        rx.recv_timeout(LIMIT),
        Ok(0),
        "join returned early or never"
    );
    join_within(joiner, LIMIT);
    assert_eq!(done.load(Ordering::SeqCst), N);
    assert_eq!(q.task_done(), Err(TaskDoneError));
}

// ---------------------------------------------------------------------------------------
// 4. shutdown
// ---------------------------------------------------------------------------------------

#[test]
fn graceful_shutdown_fails_puts_and_drains_before_failing_gets() {
    let q = Queue::new(2);
    q.try_put(1).unwrap();
    q.try_put(2).unwrap();
    let (cp, kp) = counting_waker();
    let mut p = pin!(q.put(3));
    pending(p.as_mut(), &kp);

    q.shutdown(false);
    assert!(q.is_shutdown());
    // The waiting putter is released with its item.
    assert_eq!(wakes(&cp), 1, "waiting putter not woken by shutdown");
    assert_eq!(ready(p.as_mut(), &kp), Err(PutError::ShutDown(3)));
    // Every kind of put fails, giving the item back.
    assert_eq!(block_on(q.put(4)), Err(PutError::ShutDown(4)));
    assert_eq!(q.put_blocking(5), Err(PutError::ShutDown(5)));
    assert!(matches!(q.try_put(6), Err(TryPutError::ShutDown(6))));
    assert!(matches!(
        q.put_blocking_timeout(7, LIMIT),
        Err(TryPutError::ShutDown(7))
    ));
    assert!(q.try_put(8).unwrap_err().to_string().contains("shut down"));

    // Getters drain what is left, then fail (every form).
    assert_eq!(q.len(), 2);
    assert_eq!(block_on(q.get()), Ok(1));
    assert_eq!(q.get_blocking(), Ok(2));
    assert_eq!(block_on(q.get()), Err(QueueShutDown(())));
    assert_eq!(q.get_blocking(), Err(QueueShutDown(())));
    assert_eq!(q.try_get(), Err(TryGetError::ShutDown));
    assert_eq!(q.get_blocking_timeout(LIMIT), Err(TryGetError::ShutDown));

    // The drained items still count until done.
    assert_eq!(q.unfinished_tasks(), 2);
    assert!(!q.join_blocking_timeout(Duration::from_millis(5)));
    q.task_done().unwrap();
    q.task_done().unwrap();
    assert!(q.join_blocking_timeout(LIMIT));
}

#[test]
fn graceful_shutdown_releases_waiting_getters_on_an_empty_queue() {
    let q = Arc::new(Queue::<u32>::new(0));
    let wk: Vec<_> = (0..3).map(|_| counting_waker()).collect();
    let mut gets: Vec<_> = (0..3).map(|_| Box::pin(q.get())).collect();
    for (g, (_, k)) in gets.iter_mut().zip(&wk) {
        pending(g.as_mut(), k);
    }
    // And a parked thread, and a tokio task.
    let (tx, rx) = mpsc::channel();
    let thread_getter = {
        let q = q.clone();
        thread::spawn(move || {
            tx.send(()).unwrap();
            q.get_blocking()
        })
    };
    rx.recv_timeout(LIMIT).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let task_getter = {
        let q = q.clone();
        rt.spawn(async move { q.get().await })
    };

    q.shutdown(false);
    for (i, (c, _)) in wk.iter().enumerate() {
        assert_eq!(wakes(c), 1, "waiting getter {i} not woken by shutdown");
    }
    for (g, (_, k)) in gets.iter_mut().zip(&wk) {
        assert_eq!(ready(g.as_mut(), k), Err(QueueShutDown(())));
    }
    assert_eq!(join_within(thread_getter, LIMIT), Err(QueueShutDown(())));
    let r = rt
        .block_on(async { tokio::time::timeout(LIMIT, task_getter).await })
        .expect("task getter not released")
        .unwrap();
    assert_eq!(r, Err(QueueShutDown(())));
}

/// A getter that arrives after a graceful shutdown while an item is still in the queue
/// must not be refused: it either takes the item or waits its turn for it (here the item
/// is earmarked for an earlier getter that was woken but has not run yet; when that one
/// is dropped, the newcomer must get the item).
#[test]
fn getter_after_graceful_shutdown_is_not_refused_while_an_item_is_left() {
    let q = Queue::new(0);
    let (c1, k1) = counting_waker();
    let mut g1 = Box::pin(q.get());
    pending(g1.as_mut(), &k1);
    q.try_put(1).unwrap();
    assert_eq!(wakes(&c1), 1);
    q.shutdown(false);
    assert_eq!(q.len(), 1);

    let (c2, k2) = counting_waker();
    let mut g2 = Box::pin(q.get());
    match poll(g2.as_mut(), &k2) {
        Poll::Ready(Err(QueueShutDown(()))) => {
            panic!(
                "get refused with QueueShutDown while {} item(s) left",
                q.len()
            )
        }
        Poll::Ready(Ok(v)) => {
            // Took the item (asyncio's behaviour); the earlier getter then fails.
            assert_eq!(v, 1);
            assert_eq!(ready(g1.as_mut(), &k1), Err(QueueShutDown(())));
        }
        Poll::Pending => {
            // Waits behind the woken getter; dropping that one hands the item on.
            drop(g1);
            assert_eq!(wakes(&c2), 1);
            assert_eq!(ready(g2.as_mut(), &k2), Ok(1));
        }
    }
}

#[test]
fn graceful_shutdown_releases_a_parked_putter_with_its_item() {
    let q = Arc::new(Queue::new(1));
    q.try_put(String::from("kept")).unwrap();
    let (tx, rx) = mpsc::channel();
    let putter = {
        let q = q.clone();
        thread::spawn(move || {
            tx.send(()).unwrap();
            q.put_blocking(String::from("returned"))
        })
    };
    rx.recv_timeout(LIMIT).unwrap();
    q.shutdown(false);
    let r = join_within(putter, LIMIT);
    assert_eq!(r, Err(PutError::ShutDown(String::from("returned"))));
    assert_eq!(q.get_blocking().as_deref(), Ok("kept"));
    assert_eq!(q.get_blocking(), Err(QueueShutDown(())));
}

#[test]
fn immediate_shutdown_drops_items_exactly_once_and_releases_join() {
    const N: usize = 6;
    let drops = drop_counters(N + 1);
    let item = |id| Tracked {
        id,
        drops: drops.clone(),
    };
    let q = Queue::new(0);
    for id in 0..N {
        q.try_put(item(id)).unwrap();
    }
    let taken = q.try_get().unwrap(); // id 0: out of the queue, not yet done
    assert_eq!(taken.id, 0);
    let (cj, kj) = counting_waker();
    let mut j = Box::pin(q.join());
    pending(j.as_mut(), &kj);
    assert_eq!(q.unfinished_tasks(), N);

    q.shutdown(true);
    // The N-1 items still queued were dropped, once each; the taken one was not.
    assert_eq!(drops_of(&drops), [0, 1, 1, 1, 1, 1, 0]);
    assert!(q.is_empty());
    assert_eq!(
        q.unfinished_tasks(),
        1,
        "dropped items still count as unfinished"
    );
    pending(j.as_mut(), &kj);
    assert_eq!(wakes(&cj), 0);
    assert_eq!(block_on(q.get()).err(), Some(QueueShutDown(())));
    assert_eq!(q.try_get().err(), Some(TryGetError::ShutDown));
    // A refused put gives its item back (not dropped by the queue).
    let back = q.try_put(item(N)).unwrap_err().into_inner();
    assert_eq!(drops_of(&drops)[N], 0);
    drop(back);
    q.task_done().unwrap();
    assert_eq!(wakes(&cj), 1);
    ready(j.as_mut(), &kj);
    drop(j);
    drop(taken);
    drop(q);
    assert_eq!(
        drops_of(&drops),
        [1; N + 1],
        "an item dropped twice or never"
    );
}

#[test]
fn immediate_shutdown_with_every_item_unfinished_releases_join_at_once() {
    let drops = drop_counters(3);
    let q = Arc::new(Queue::new(3));
    for id in 0..3 {
        q.try_put(Tracked {
            id,
            drops: drops.clone(),
        })
        .unwrap();
    }
    let (tx, rx) = mpsc::channel();
    let joiner = {
        let q = q.clone();
        thread::spawn(move || {
            tx.send(()).unwrap();
            q.join_blocking();
        })
    };
    rx.recv_timeout(LIMIT).unwrap();
    let (cj, kj) = counting_waker();
    let mut j = pin!(q.join());
    pending(j.as_mut(), &kj);
    q.shutdown(true);
    assert_eq!(wakes(&cj), 1);
    ready(j.as_mut(), &kj);
    join_within(joiner, LIMIT);
    assert_eq!(q.unfinished_tasks(), 0);
    assert_eq!(drops_of(&drops), [1, 1, 1]);
    assert_eq!(q.task_done(), Err(TaskDoneError));
}

#[test]
fn immediate_shutdown_fails_waiting_getters_and_putters() {
    let drops = drop_counters(3);
    let item = |id| Tracked {
        id,
        drops: drops.clone(),
    };
    // Waiting getters on an empty queue.
    let q = Queue::<Tracked>::new(1);
    let (cg, kg) = counting_waker();
    let mut g = pin!(q.get());
    pending(g.as_mut(), &kg);
    q.shutdown(true);
    assert_eq!(wakes(&cg), 1);
    assert_eq!(ready(g.as_mut(), &kg).err(), Some(QueueShutDown(())));

    // A waiting putter on a full queue: its item comes back, the queued one is dropped.
    let q = Queue::new(1);
    q.try_put(item(0)).unwrap();
    let (cp, kp) = counting_waker();
    let mut p = pin!(q.put(item(1)));
    pending(p.as_mut(), &kp);
    q.shutdown(true);
    assert_eq!(wakes(&cp), 1);
    let back = match ready(p.as_mut(), &kp) {
        Err(PutError::ShutDown(t)) => t,
        r => panic!("put not refused as shut down: {r:?}"),
    };
    assert_eq!(back.id, 1);
    assert_eq!(drops_of(&drops), [1, 0, 0]);
    assert_eq!(q.unfinished_tasks(), 0);
    drop(back);
    assert_eq!(drops_of(&drops), [1, 1, 0]);

    // A getter handed an item that an immediate shutdown then drops fails cleanly.
    let q = Queue::new(0);
    let (cg, kg) = counting_waker();
    let mut g = pin!(q.get());
    pending(g.as_mut(), &kg);
    q.try_put(item(2)).unwrap();
    assert_eq!(wakes(&cg), 1);
    q.shutdown(true);
    assert_eq!(drops_of(&drops), [1, 1, 1]);
    assert_eq!(ready(g.as_mut(), &kg).err(), Some(QueueShutDown(())));
    assert_eq!(q.unfinished_tasks(), 0);
}

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

// ---------------------------------------------------------------------------------------
// 6. Threads and tasks on one queue
// ---------------------------------------------------------------------------------------

/// How the mixed test waits. `None`: plain `put_blocking` / `get_blocking` / `.await`.
/// `Some(d)`: the same waits bounded by `d` and retried; a wait that times out is
/// cancelled and starts over, which also gets a waiter past the kernel's lost wake-up
/// (see `getter_queued_behind_a_woken_getter_is_woken_for_the_second_item`), so the test
/// stays green until that is fixed.
type Retry = Option<Duration>;

fn put_on_thread(q: &Queue<u64>, id: u64, retry: Retry) {
    let Some(d) = retry else {
        return q.put_blocking(id).unwrap();
    };
    let mut id = id;
    loop {
        match q.put_blocking_timeout(id, d) {
            Ok(()) => return,
            Err(TryPutError::Full(back)) => id = back,
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
}

fn get_on_thread(q: &Queue<u64>, retry: Retry) -> Result<u64, QueueShutDown> {
    let Some(d) = retry else {
        return q.get_blocking();
    };
    loop {
        match q.get_blocking_timeout(d) {
            Ok(v) => return Ok(v),
            Err(TryGetError::Empty) => {}
            Err(TryGetError::ShutDown) => return Err(QueueShutDown(())),
        }
    }
}

async fn put_on_task(q: &Queue<u64>, id: u64, retry: Retry) {
    let Some(d) = retry else {
        return q.put(id).await.unwrap();
    };
    loop {
        if let Ok(r) = tokio::time::timeout(d, q.put(id)).await {
            return r.unwrap();
        }
    }
}

async fn get_on_task(q: &Queue<u64>, retry: Retry) -> Result<u64, QueueShutDown> {
    let Some(d) = retry else {
        return q.get().await;
    };
    loop {
        if let Ok(r) = tokio::time::timeout(d, q.get()).await {
            return r;
        }
    }
}

/// Two producer threads (`put_blocking`) and two producer tasks (`put().await`), two
/// consumer threads and two consumer tasks, one bounded FIFO queue: every id arrives
/// exactly once, each consumer sees each producer's ids in order, `join` returns once all
/// are marked done, and a graceful shutdown then stops the consumers.
///
/// Every wait is bounded (20 ms) and retried: see [`Retry`].
#[test]
fn threads_and_tasks_share_one_bounded_queue() {
    threads_and_tasks_on_one_queue(Some(Duration::from_millis(20)));
}

/// The same with unbounded waits. It hangs now and then (seen about once in 300 runs on
/// a loaded 2-core machine: all four consumers waiting, 19 items queued) through the
/// kernel's lost wake-up; run it in a loop to check a fix.
#[test]
fn threads_and_tasks_share_one_bounded_queue_without_retries() {
    threads_and_tasks_on_one_queue(None);
}

fn threads_and_tasks_on_one_queue(retry: Retry) {
    const PER: u64 = 4000;
    const PRODUCERS: u64 = 4;
    let q = Arc::new(Queue::new(64));
    let thread_producers: Vec<_> = (0..2u64)
        .map(|p| {
            let q = q.clone();
            thread::spawn(move || {
                for i in 0..PER {
                    put_on_thread(&q, p * PER + i, retry);
                }
            })
        })
        .collect();
    let thread_consumers: Vec<_> = (0..2)
        .map(|_| {
            let q = q.clone();
            thread::spawn(move || {
                let mut got = Vec::new();
                while let Ok(v) = get_on_thread(&q, retry) {
                    assert!(q.len() <= 64);
                    got.push(v);
                    q.task_done().unwrap();
                }
                got
            })
        })
        .collect();
    let mut per_consumer = run_mt(2, async {
        let producers: Vec<_> = (2..PRODUCERS)
            .map(|p| {
                let q = q.clone();
                tokio::spawn(async move {
                    for i in 0..PER {
                        put_on_task(&q, p * PER + i, retry).await;
                    }
                })
            })
            .collect();
        let consumers: Vec<_> = (0..2)
            .map(|_| {
                let q = q.clone();
                tokio::spawn(async move {
                    let mut got = Vec::new();
                    while let Ok(v) = get_on_task(&q, retry).await {
                        got.push(v);
                        q.task_done().unwrap();
                    }
                    got
                })
            })
            .collect();
        for p in producers {
            p.await.unwrap();
        }
        tokio::task::spawn_blocking(move || {
            for p in thread_producers {
                join_within(p, LIMIT);
            }
        })
        .await
        .unwrap();
        q.join().await;
        assert_eq!(q.unfinished_tasks(), 0);
        assert!(q.is_empty());
        q.shutdown(false);
        let mut out = Vec::new();
        for c in consumers {
            out.push(c.await.unwrap());
        }
        out
    });
    for c in thread_consumers {
        per_consumer.push(join_within(c, LIMIT));
    }
    // FIFO: a consumer's successive gets take later places in the queue, so it sees each
    // producer's ids in increasing order.
    for (c, got) in per_consumer.iter().enumerate() {
        for p in 0..PRODUCERS {
            let mine: Vec<_> = got.iter().filter(|&&v| v / PER == p).collect();
            assert!(
                mine.windows(2).all(|w| w[0] < w[1]),
                "consumer {c} saw producer {p}'s items out of order"
            );
        }
    }
    let all: Vec<u64> = per_consumer.into_iter().flatten().collect();
    assert_exactly_ids(all, PRODUCERS * PER);
    assert_eq!(q.task_done(), Err(TaskDoneError));
}
