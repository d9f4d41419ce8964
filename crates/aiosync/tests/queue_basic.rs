//! `Queue` basics: the three orderings, bounded backpressure on both sides, and `task_done`/`join`.

mod common;

use aiosync::{Queue, TaskDoneError, TryGetError, TryPutError};
use common::*;
use futures_lite::future::block_on;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

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
