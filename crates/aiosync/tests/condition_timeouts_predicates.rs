//! Integration tests for `aiosync::Condition` with `aiosync::Mutex`: blocking waits with
//! a timeout, predicates (`wait_for*`, async, blocking and polled by hand), and a
//! producer/consumer mixing threads and tokio tasks.

mod common;

use aiosync::{Condition, Mutex};
use common::*;
use std::collections::VecDeque;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::task::Poll;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------
// blocking with timeout

#[test]
fn wait_blocking_timeout_times_out_with_the_lock_held() {
    let m = Arc::new(Mutex::new(5u32));
    let c = Condition::new();
    let start = Instant::now();
    let (mut g, notified) = c.wait_blocking_timeout(m.lock_blocking(), Duration::from_millis(30));
    assert!(!notified);
    assert!(start.elapsed() >= Duration::from_millis(30));
    assert!(m.is_locked(), "the lock is held again");
    {
        let m = m.clone();
        let other = spawn_bounded(move || m.try_lock().is_none());
        assert!(other.join(), "another thread cannot take it");
    }
    assert_eq!(c.waiters(), 0, "the timed-out waiter left the queue");
    *g += 1;
    drop(g);
    assert_eq!(*m.lock_blocking(), 6);
}

#[test]
fn wait_blocking_timeout_notified_in_time() {
    let pair = Arc::new((Mutex::new(false), Condition::new()));
    let (locked_tx, locked_rx) = mpsc::channel::<()>();
    let waiter = {
        let pair = pair.clone();
        spawn_bounded(move || {
            let (m, c) = &*pair;
            let g = m.lock_blocking();
            locked_tx.send(()).unwrap();
            let start = Instant::now();
            let (g, notified) = c.wait_blocking_timeout(g, LIMIT);
            (notified, *g, start.elapsed())
        })
    };
    locked_rx.recv_timeout(LIMIT).unwrap();
    let (m, c) = &*pair;
    // The waiter queues before it releases the lock, so once we hold it, it is queued.
    let mut g = m.lock_blocking();
    assert_eq!(c.waiters(), 1);
    *g = true;
    assert!(c.notify_one());
    drop(g);
    let (notified, value, took) = waiter.join();
    assert!(notified);
    assert!(value);
    assert!(took < LIMIT);
}

// ---------------------------------------------------------------------------------------
// predicates

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_async_checks_the_predicate() {
    within(async {
        let pair = Arc::new((Mutex::new(0u32), Condition::new()));
        let checks = Arc::new(AtomicUsize::new(0));
        let waiter = {
            let (pair, checks) = (pair.clone(), checks.clone());
            tokio::spawn(async move {
                let (m, c) = &*pair;
                let g = c
                    .wait_for(m.lock().await, |v| {
                        checks.fetch_add(1, Ordering::SeqCst);
                        *v >= 3
                    })
                    .await;
                *g
            })
        };
        let (m, c) = &*pair;
        for _ in 0..3 {
            *m.lock().await += 1;
            c.notify_all();
            tokio::task::yield_now().await;
        }
        let v = waiter.await.unwrap();
        assert!(v >= 3);
        assert!(checks.load(Ordering::SeqCst) >= 1);

        // Already true: returns without waiting.
        let g = c.wait_for(m.lock().await, |v| *v == 3).await;
        assert_eq!(*g, 3);
    })
    .await;
}

#[test]
fn wait_for_blocking_checks_the_predicate() {
    let pair = Arc::new((Mutex::new(0u32), Condition::new()));
    let waiter = {
        let pair = pair.clone();
        spawn_bounded(move || {
            let (m, c) = &*pair;
            *c.wait_for_blocking(m.lock_blocking(), |v| *v >= 3)
        })
    };
    let (m, c) = &*pair;
    for _ in 0..3 {
        *m.lock_blocking() += 1;
        c.notify_all();
    }
    assert_eq!(waiter.join(), 3);
    let g = c.wait_for_blocking(m.lock_blocking(), |v| *v == 3);
    assert_eq!(*g, 3, "already true: no wait");
}

#[test]
fn wait_for_blocking_timeout_with_a_predicate() {
    let m = Mutex::new(0u32);
    let c = Condition::new();

    // Already true.
    let start = Instant::now();
    let (g, ok) = c.wait_for_blocking_timeout(m.lock_blocking(), LIMIT, |v| *v == 0);
    assert!(ok);
    assert!(start.elapsed() < LIMIT);
    drop(g);

    // Never true: gives up after the timeout, lock held, even if notified meanwhile.
    let start = Instant::now();
    let (g, ok) =
        c.wait_for_blocking_timeout(m.lock_blocking(), Duration::from_millis(30), |v| *v == 1);
    assert!(!ok);
    assert!(start.elapsed() >= Duration::from_millis(30));
    assert!(m.is_locked());
    assert_eq!(*g, 0);
    drop(g);
    assert_eq!(c.waiters(), 0);

    // Becomes true from another thread, after notifications that do not satisfy it.
    let pair = Arc::new((Mutex::new(0u32), Condition::new()));
    let (locked_tx, locked_rx) = mpsc::channel::<()>();
    let waiter = {
        let pair = pair.clone();
        spawn_bounded(move || {
            let (m, c) = &*pair;
            let g = m.lock_blocking();
            locked_tx.send(()).unwrap();
            let (g, ok) = c.wait_for_blocking_timeout(g, LIMIT, |v| *v == 3);
            (ok, *g)
        })
    };
    locked_rx.recv_timeout(LIMIT).unwrap();
    let (m, c) = &*pair;
    for _ in 0..3 {
        *m.lock_blocking() += 1;
        c.notify_all();
    }
    assert_eq!(waiter.join(), (true, 3));
}

#[test]
fn wait_for_async_polled_by_hand() {
    let m = Mutex::new(0u32);
    let c = Condition::new();
    let p = Probe::new();
    let mut fut = pin!(c.wait_for(m.try_lock().unwrap(), |v| *v == 2));
    assert!(p.poll(fut.as_mut()).is_pending());
    assert!(!m.is_locked());

    *m.try_lock().unwrap() = 1;
    assert_eq!(c.notify_all(), 1);
    assert!(
        p.poll(fut.as_mut()).is_pending(),
        "predicate still false: waits again"
    );
    assert_eq!(c.waiters(), 1);
    assert!(!m.is_locked());

    *m.try_lock().unwrap() = 2;
    assert_eq!(c.notify_all(), 1);
    match p.poll(fut.as_mut()) {
        Poll::Ready(g) => assert_eq!(*g, 2),
        Poll::Pending => panic!("predicate holds"),
    };
}

// ---------------------------------------------------------------------------------------
// producer / consumer across threads and tasks

struct Shared {
    queue: VecDeque<u64>,
    producers_left: usize,
}

const CAPACITY: usize = 8;
const PER_PRODUCER: u64 = 1000;

struct Channel {
    state: Mutex<Shared>,
    not_empty: Condition,
    not_full: Condition,
}

impl Channel {
    fn put_blocking(&self, item: u64) {
        let mut g = self
            .not_full
            .wait_for_blocking(self.state.lock_blocking(), |s| s.queue.len() < CAPACITY);
        g.queue.push_back(item);
        drop(g);
        self.not_empty.notify_one();
    }

    async fn put(&self, item: u64) {
        let mut g = self
            .not_full
            .wait_for(self.state.lock().await, |s| s.queue.len() < CAPACITY)
            .await;
        g.queue.push_back(item);
        drop(g);
        self.not_empty.notify_one();
    }

    fn producer_done(&self) {
        self.state.lock_blocking().producers_left -= 1;
        self.not_empty.notify_all();
    }

    fn get_blocking(&self) -> Option<u64> {
        let mut g = self.state.lock_blocking();
        loop {
            if let Some(v) = g.queue.pop_front() {
                drop(g);
                self.not_full.notify_one();
                return Some(v);
            }
            if g.producers_left == 0 {
                return None;
            }
            g = self.not_empty.wait_blocking(g);
        }
    }

    async fn get(&self) -> Option<u64> {
        let mut g = self.state.lock().await;
        loop {
            if let Some(v) = g.queue.pop_front() {
                drop(g);
                self.not_full.notify_one();
                return Some(v);
            }
            if g.producers_left == 0 {
                return None;
            }
            g = self.not_empty.wait(g).await;
        }
    }
}

#[test]
fn producer_consumer_mixing_threads_and_tasks() {
    const THREAD_PRODUCERS: u64 = 2;
    const TASK_PRODUCERS: u64 = 2;
    const THREAD_CONSUMERS: usize = 2;
    const TASK_CONSUMERS: usize = 2;
    let producers = (THREAD_PRODUCERS + TASK_PRODUCERS) as usize;

    let ch = Arc::new(Channel {
        state: Mutex::new(Shared {
            queue: VecDeque::new(),
            producers_left: producers,
        }),
        not_empty: Condition::new(),
        not_full: Condition::new(),
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();

    // Producer `p` produces p * PER_PRODUCER .. (p + 1) * PER_PRODUCER.
    let thread_producers: Vec<_> = (0..THREAD_PRODUCERS)
        .map(|p| {
            let ch = ch.clone();
            spawn_bounded(move || {
                for i in p * PER_PRODUCER..(p + 1) * PER_PRODUCER {
                    ch.put_blocking(i);
                }
                ch.producer_done();
            })
        })
        .collect();
    let task_producers: Vec<_> = (THREAD_PRODUCERS..THREAD_PRODUCERS + TASK_PRODUCERS)
        .map(|p| {
            let ch = ch.clone();
            rt.spawn(async move {
                for i in p * PER_PRODUCER..(p + 1) * PER_PRODUCER {
                    ch.put(i).await;
                }
                // Not `producer_done` (which blocks): the same, with `lock().await`.
                ch.state.lock().await.producers_left -= 1;
                ch.not_empty.notify_all();
            })
        })
        .collect();
    let thread_consumers: Vec<_> = (0..THREAD_CONSUMERS)
        .map(|_| {
            let ch = ch.clone();
            spawn_bounded(move || {
                let mut got = Vec::new();
                while let Some(v) = ch.get_blocking() {
                    got.push(v);
                }
                got
            })
        })
        .collect();
    let task_consumers: Vec<_> = (0..TASK_CONSUMERS)
        .map(|_| {
            let ch = ch.clone();
            rt.spawn(async move {
                let mut got = Vec::new();
                while let Some(v) = ch.get().await {
                    got.push(v);
                }
                got
            })
        })
        .collect();

    let mut all: Vec<u64> = Vec::new();
    for t in thread_producers {
        t.join();
    }
    for t in thread_consumers {
        all.extend(t.join());
    }
    rt.block_on(within(async {
        for t in task_producers {
            t.await.unwrap();
        }
        for t in task_consumers {
            all.extend(t.await.unwrap());
        }
    }));

    let total = (THREAD_PRODUCERS + TASK_PRODUCERS) * PER_PRODUCER;
    assert_eq!(all.len() as u64, total, "every item consumed exactly once");
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len() as u64, total, "no item consumed twice");
    assert_eq!(all, (0..total).collect::<Vec<_>>());
    let s = ch.state.lock_blocking();
    assert!(s.queue.is_empty());
    assert_eq!(s.producers_left, 0);
    assert_eq!(ch.not_empty.waiters(), 0);
    assert_eq!(ch.not_full.waiters(), 0);
}

#[test]
fn notify_one_from_a_task_wakes_a_thread_and_vice_versa() {
    let pair = Arc::new((Mutex::new(0u32), Condition::new()));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    const ROUNDS: u32 = 500;

    // The thread waits for odd values and makes them even; the task the reverse.
    let thread = {
        let pair = pair.clone();
        spawn_bounded(move || {
            let (m, c) = &*pair;
            for _ in 0..ROUNDS {
                let mut g = c.wait_for_blocking(m.lock_blocking(), |v| *v % 2 == 1);
                *g += 1;
                drop(g);
                c.notify_all();
            }
        })
    };
    rt.block_on(within(async {
        let (m, c) = &*pair;
        for _ in 0..ROUNDS {
            let mut g = c.wait_for(m.lock().await, |v| *v % 2 == 0).await;
            *g += 1;
            drop(g);
            c.notify_all();
        }
        let g = c.wait_for(m.lock().await, |v| *v == 2 * ROUNDS).await;
        assert_eq!(*g, 2 * ROUNDS);
    }));
    thread.join();
}
