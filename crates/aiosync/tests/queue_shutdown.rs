//! `Queue` graceful and immediate `shutdown`: puts, gets, waiters, items and `join`.

mod common;

use aiosync::{PutError, Queue, QueueShutDown, TaskDoneError, TryGetError, TryPutError};
use common::queue::*;
use common::*;
use futures_lite::future::block_on;
use std::pin::pin;
use std::sync::{mpsc, Arc};
use std::task::Poll;
use std::thread;
use std::time::Duration;

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
