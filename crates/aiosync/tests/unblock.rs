//! `#[aiosync::unblock]`: a blocking implementation made awaitable, from tokio and from a
//! runtime-free executor; `&mut self` under the lock, an iterator as a stream (dropped
//! early: the producer stops), panics resumed, a call cancelled after it started.
#![cfg(all(feature = "facade", feature = "macros"))]

use aiosync::facade::CallError;
use futures_lite::StreamExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct Counter {
    n: u64,
    produced: Arc<AtomicUsize>,
}

#[derive(Debug, PartialEq)]
pub enum CounterError {
    Facade(CallError),
    TooBig,
}

impl From<CallError> for CounterError {
    fn from(e: CallError) -> Self {
        CounterError::Facade(e)
    }
}

#[aiosync::unblock]
impl Counter {
    pub fn new_counter(produced: Arc<AtomicUsize>) -> Self {
        Counter { n: 0, produced }
    }

    pub fn bump(&mut self, by: u64) -> Result<u64, CounterError> {
        if by > 100 {
            return Err(CounterError::TooBig);
        }
        std::thread::sleep(Duration::from_millis(1)); // blocking work
        self.n += by;
        Ok(self.n)
    }

    pub fn get(&self) -> u64 {
        self.n
    }

    pub fn thread_name(&self) -> Option<String> {
        std::thread::current().name().map(str::to_owned)
    }

    #[unblock(iter)]
    pub fn naturals(&self) -> impl Iterator<Item = u64> + '_ {
        (0..).inspect(|_| {
            self.produced.fetch_add(1, SeqCst);
        })
    }

    pub fn boom(&self) {
        panic!("blocking boom")
    }

    pub fn slow(&self, done: Arc<AtomicUsize>) {
        std::thread::sleep(Duration::from_millis(50));
        done.fetch_add(1, SeqCst);
    }
}

async fn scenario() {
    let produced = Arc::new(AtomicUsize::new(0));
    let c = AsyncCounter::new_counter(produced.clone()).await.unwrap();
    assert_eq!(c.bump(2).await, Ok(2));
    assert_eq!(c.bump(1000).await, Err(CounterError::TooBig));
    // Many calls at once from one task: they overlap on the pool, `&mut` ones exclude.
    let calls: Vec<_> = (0..8).map(|_| c.bump(1)).collect();
    for call in calls {
        call.await.unwrap();
    }
    assert_eq!(c.get().await, Ok(10));
    assert_ne!(
        c.thread_name().await.unwrap(),
        std::thread::current().name().map(str::to_owned)
    );

    // An infinite iterator as a stream: dropped after 5 items, the producer stops.
    let first: Vec<u64> = c.naturals().take(5).collect().await;
    assert_eq!(first, [0, 1, 2, 3, 4]);
    let t = Instant::now();
    let mut last = usize::MAX;
    while t.elapsed() < Duration::from_secs(5) {
        let now = produced.load(SeqCst);
        if now == last {
            break;
        }
        last = now;
        std::thread::sleep(Duration::from_millis(20));
    }
    // At most the queue's bound (16), the 5 read and the one in hand.
    assert!(last <= 5 + 16 + 1, "the producer ran on: {last}");

    // A call cancelled after it started runs to its end; its result is dropped.
    let done = Arc::new(AtomicUsize::new(0));
    let slow = c.slow(done.clone());
    let cancelled = futures_lite::future::or(async { slow.await.ok() }, async {
        futures_lite::future::yield_now().await;
        std::thread::sleep(Duration::from_millis(5)); // let the pool start it
        None
    })
    .await;
    assert_eq!(cancelled, None);
    let t = Instant::now();
    while done.load(SeqCst) == 0 && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(done.load(SeqCst), 1);
}

#[test]
fn from_a_runtime_free_executor() {
    futures_lite::future::block_on(scenario());
}

#[tokio::test]
async fn from_tokio() {
    scenario().await;
}

#[test]
fn panics_are_resumed_in_the_awaiting_task() {
    let c = futures_lite::future::block_on(AsyncCounter::new_counter(Default::default())).unwrap();
    let payload = catch_unwind(AssertUnwindSafe(|| {
        futures_lite::future::block_on(c.boom())
    }))
    .unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"blocking boom"));
    assert_eq!(futures_lite::future::block_on(c.get()), Ok(0));
}
