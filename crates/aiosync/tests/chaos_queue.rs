//! Seeded chaos tests of `Queue` in FIFO, LIFO and priority order (see `common/chaos.rs`).

mod common;

use aiosync::Queue;
use common::chaos::*;
use common::{runtime, LIMIT};
use futures_lite::future::poll_once;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Instant;
use tokio::time::timeout;

// ---------------------------------------------------------------------------------------
// Queue (FIFO, LIFO, priority): random puts, gets, task_done and join; then drain

#[derive(Clone, Copy, PartialEq)]
enum Order {
    Fifo,
    Lifo,
    Priority,
}

struct QueueState {
    q: Queue<u64>,
    order: Order,
    workers: usize,
    /// Items put (successfully) by each worker: its ids are `item(w, 0..count)`.
    put_by: Vec<AtomicU64>,
    puts: AtomicU64,
    gets: AtomicU64,
    /// Workers done putting.
    producers_done: AtomicUsize,
    got: std::sync::Mutex<Vec<u64>>,
}

fn item(worker: usize, seq: u64) -> u64 {
    ((worker as u64) << 32) | seq
}

/// One consumer's view: what it got, and per producer the last sequence number seen.
struct Consumer {
    got: Vec<u64>,
    last: HashMap<u64, u64>,
    /// Items got whose task_done is still owed.
    owed: usize,
}

impl Consumer {
    fn new() -> Consumer {
        Consumer {
            got: Vec::new(),
            last: HashMap::new(),
            owed: 0,
        }
    }

    fn got(&mut self, ctx: Ctx, st: &QueueState, v: u64, rng: &mut Rng) {
        let (producer, seq) = (v >> 32, v & 0xFFFF_FFFF);
        check!(
            ctx,
            (producer as usize) < st.workers,
            "an item nobody put: {v:#x}"
        );
        if st.order == Order::Fifo {
            // Items of one producer leave a FIFO queue in the order they were put.
            if let Some(&prev) = self.last.get(&producer) {
                check!(
                    ctx,
                    seq > prev,
                    "FIFO order broken: producer {producer} item {seq} after {prev}"
                );
            }
            self.last.insert(producer, seq);
        }
        self.got.push(v);
        st.gets.fetch_add(1, SeqCst);
        if rng.chance(70) {
            self.done(ctx, st);
        } else {
            self.owed += 1;
        }
    }

    fn done(&mut self, ctx: Ctx, st: &QueueState) {
        let r = st.q.task_done();
        check!(
            ctx,
            r.is_ok(),
            "task_done refused with items outstanding: {r:?}"
        );
    }

    fn pay(&mut self, ctx: Ctx, st: &QueueState) {
        for _ in 0..std::mem::take(&mut self.owed) {
            self.done(ctx, st);
        }
    }

    fn finish(mut self, ctx: Ctx, st: &QueueState) {
        self.pay(ctx, st);
        st.got.lock().unwrap().append(&mut self.got);
    }
}

/// Whether the drain is over: every worker done putting and every item got.
fn drained(st: &QueueState) -> bool {
    st.producers_done.load(SeqCst) == st.workers && st.gets.load(SeqCst) == st.puts.load(SeqCst)
}

fn queue_scenario(name: &'static str, order: Order, maxsize: usize) {
    run(name, move |ctx| {
        let workers = THREADS + TASKS;
        let st = Arc::new(QueueState {
            q: match order {
                Order::Fifo => Queue::new(maxsize),
                Order::Lifo => Queue::lifo(maxsize),
                Order::Priority => Queue::priority(maxsize),
            },
            order,
            workers,
            put_by: (0..workers).map(|_| AtomicU64::new(0)).collect(),
            puts: AtomicU64::new(0),
            gets: AtomicU64::new(0),
            producers_done: AtomicUsize::new(0),
            got: std::sync::Mutex::new(Vec::new()),
        });
        let rt = runtime(WORKERS);
        mixed(
            ctx,
            &rt,
            &st,
            THREADS,
            |st, id, mut rng| {
                let q = &st.q;
                let mut seq = 0;
                let mut me = Consumer::new();
                while ctx.running() {
                    match rng.below(10) {
                        0..=3 => {
                            let v = item(id, seq);
                            let ok = match rng.below(3) {
                                0 => q.try_put(v).is_ok(),
                                1 => q.put_blocking_timeout(v, rng.short()).is_ok(),
                                _ => aiosync::block_on(q.put(v), Some(rng.short()))
                                    .is_some_and(|r| r.is_ok()),
                            };
                            if ok {
                                seq += 1;
                                st.puts.fetch_add(1, SeqCst);
                            }
                        }
                        4..=7 => {
                            let v = match rng.below(3) {
                                0 => q.try_get().ok(),
                                1 => q.get_blocking_timeout(rng.short()).ok(),
                                _ => aiosync::block_on(q.get(), Some(rng.short()))
                                    .and_then(|r| r.ok()),
                            };
                            if let Some(v) = v {
                                me.got(ctx, st, v, &mut rng);
                            }
                        }
                        8 => {
                            q.join_blocking_timeout(rng.short());
                        }
                        _ => me.pay(ctx, st),
                    }
                }
                st.put_by[id].store(seq, SeqCst);
                me.pay(ctx, st);
                st.producers_done.fetch_add(1, SeqCst);
                let start = Instant::now();
                while !drained(st) {
                    check!(ctx, start.elapsed() < LIMIT, "queue drain stuck");
                    if let Ok(v) = q.get_blocking_timeout(rng.short()) {
                        me.got(ctx, st, v, &mut rng);
                    }
                }
                me.finish(ctx, st);
            },
            TASKS,
            move |st, id, mut rng| async move {
                let q = &st.q;
                let mut seq = 0;
                let mut me = Consumer::new();
                while ctx.running() {
                    match rng.below(10) {
                        0..=3 => {
                            let v = item(id, seq);
                            let ok = match rng.below(3) {
                                0 => q.try_put(v).is_ok(),
                                1 => matches!(timeout(rng.ashort(), q.put(v)).await, Ok(Ok(()))),
                                _ => matches!(poll_once(q.put(v)).await, Some(Ok(()))),
                            };
                            if ok {
                                seq += 1;
                                st.puts.fetch_add(1, SeqCst);
                            }
                        }
                        4..=7 => {
                            let v = match rng.below(3) {
                                0 => q.try_get().ok(),
                                1 => timeout(rng.ashort(), q.get())
                                    .await
                                    .ok()
                                    .and_then(|r| r.ok()),
                                _ => poll_once(q.get()).await.and_then(|r| r.ok()),
                            };
                            if let Some(v) = v {
                                me.got(ctx, &st, v, &mut rng);
                            }
                        }
                        8 => {
                            let _ = timeout(rng.ashort(), q.join()).await;
                        }
                        _ => me.pay(ctx, &st),
                    }
                }
                st.put_by[id].store(seq, SeqCst);
                me.pay(ctx, &st);
                st.producers_done.fetch_add(1, SeqCst);
                let start = Instant::now();
                while !drained(&st) {
                    check!(ctx, start.elapsed() < LIMIT, "queue drain stuck");
                    if let Ok(Ok(v)) = timeout(rng.ashort(), q.get()).await {
                        me.got(ctx, &st, v, &mut rng);
                    }
                }
                me.finish(ctx, &st);
            },
        );
        let mut got = std::mem::take(&mut *st.got.lock().unwrap());
        got.sort_unstable();
        let mut expected: Vec<u64> = (0..workers)
            .flat_map(|w| (0..st.put_by[w].load(SeqCst)).map(move |s| item(w, s)))
            .collect();
        expected.sort_unstable();
        if got != expected {
            let dup = got.windows(2).filter(|w| w[0] == w[1]).count();
            let g: std::collections::HashSet<_> = got.iter().copied().collect();
            let e: std::collections::HashSet<_> = expected.iter().copied().collect();
            let lost: Vec<_> = e.difference(&g).take(5).collect();
            let extra: Vec<_> = g.difference(&e).take(5).collect();
            panic!(
                "{}: items not delivered exactly once: {} put, {} got, {dup} duplicated, \
                 lost (first 5) {lost:x?}, never put {extra:x?}",
                ctx.tag(),
                expected.len(),
                got.len()
            );
        }
        let q = &st.q;
        check_eq!(ctx, q.len(), 0, "items left in the queue");
        check_eq!(
            ctx,
            q.unfinished_tasks(),
            0,
            "unfinished tasks after matching task_done"
        );
        check!(
            ctx,
            q.join_blocking_timeout(LIMIT),
            "join_blocking did not return"
        );
        let joined = rt.block_on(async { timeout(LIMIT, q.join()).await.is_ok() });
        check!(ctx, joined, "join().await did not return");
        check!(
            ctx,
            q.task_done().is_err(),
            "task_done accepted one call too many"
        );
        check!(
            ctx,
            q.try_get().is_err(),
            "try_get found an item after the drain"
        );
        check!(ctx, !expected.is_empty(), "no item put");
        eprintln!("chaos `{name}`: {} items", expected.len());
    });
}

#[test]
fn queue_fifo() {
    queue_scenario("queue_fifo", Order::Fifo, 4);
}

#[test]
fn queue_lifo() {
    queue_scenario("queue_lifo", Order::Lifo, 2);
}

#[test]
fn queue_priority() {
    queue_scenario("queue_priority", Order::Priority, 5);
}
