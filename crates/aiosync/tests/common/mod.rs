//! Helpers shared by the integration tests: a counting waker and functions to poll a
//! future by hand, and bounded waits (threads, tasks, runtimes) so that a hang fails the
//! test instead of stalling it.

// Each test binary compiles this module on its own and uses only part of it.
#![allow(dead_code)]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

// Helpers shared by one group of test files each.
pub mod barrier;
pub mod chaos;
pub mod queue;
pub mod raw;
pub mod rwlock;
// `#[synchronized]` and its registry exist only with the `macros` feature.
#[cfg(feature = "macros")]
pub mod synchronized;

/// Every wait in the tests that could hang fails after this long instead.
pub const LIMIT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------
// Polling by hand

/// A waker that counts how often it was woken.
#[derive(Default)]
pub struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A new counting waker: the counter (for [`wakes`]) and the waker itself.
pub fn counting_waker() -> (Arc<CountingWaker>, Waker) {
    let c = Arc::new(CountingWaker::default());
    (c.clone(), Waker::from(c))
}

/// How often `c` has been woken so far.
pub fn wakes(c: &CountingWaker) -> usize {
    c.0.load(Ordering::SeqCst)
}

/// Polls `f` once with `w`.
pub fn poll<F: Future>(f: Pin<&mut F>, w: &Waker) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(w))
}

/// Polls `f` once with `w`; it must be ready.
#[track_caller]
pub fn ready<F: Future>(f: Pin<&mut F>, w: &Waker) -> F::Output {
    match poll(f, w) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("future expected to be ready is pending"),
    }
}

/// Polls `f` once with `w`; it must be pending.
#[track_caller]
pub fn pending<F: Future>(f: Pin<&mut F>, w: &Waker) {
    assert!(
        poll(f, w).is_pending(),
        "future expected to be pending is ready"
    );
}

/// One counting waker, to poll one future by hand.
pub struct Probe {
    count: Arc<CountingWaker>,
    waker: Waker,
}

impl Probe {
    pub fn new() -> Probe {
        let (count, waker) = counting_waker();
        Probe { count, waker }
    }

    pub fn wakes(&self) -> usize {
        wakes(&self.count)
    }

    pub fn poll<F: Future>(&self, fut: Pin<&mut F>) -> Poll<F::Output> {
        poll(fut, &self.waker)
    }
}

// ---------------------------------------------------------------------------------------
// Bounded waits

/// Joins `h`, failing the test if it has not finished within `limit`.
#[track_caller]
pub fn join_within<T>(h: thread::JoinHandle<T>, limit: Duration) -> T {
    let deadline = Instant::now() + limit;
    while !h.is_finished() {
        assert!(
            Instant::now() < deadline,
            "thread did not finish within {limit:?}"
        );
        thread::sleep(Duration::from_millis(1));
    }
    h.join().expect("thread panicked")
}

/// A thread whose result is awaited for at most [`LIMIT`].
pub struct Bounded<T> {
    rx: mpsc::Receiver<T>,
    handle: thread::JoinHandle<()>,
}

/// Runs `f` on a new thread; [`Bounded::join`] waits for its result.
pub fn spawn_bounded<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Bounded<T> {
    let (tx, rx) = mpsc::channel();
    let handle = thread::spawn(move || {
        let _ = tx.send(f());
    });
    Bounded { rx, handle }
}

impl<T> Bounded<T> {
    /// The thread's result, failing the test if it takes longer than [`LIMIT`] (and
    /// passing on the thread's panic if it panicked).
    pub fn join(self) -> T {
        match self.rx.recv_timeout(LIMIT) {
            Ok(v) => {
                self.handle.join().expect("thread panicked after sending");
                v
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => match self.handle.join() {
                Err(panic) => std::panic::resume_unwind(panic),
                Ok(()) => unreachable!("thread ended without a result"),
            },
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("thread did not finish within {LIMIT:?}")
            }
        }
    }
}

/// Runs `fut`, failing the test if it takes longer than [`LIMIT`].
pub async fn within<F: Future>(fut: F) -> F::Output {
    tokio::time::timeout(LIMIT, fut)
        .await
        .expect("async test did not finish in time")
}

/// A fresh multi-thread tokio runtime with `workers` worker threads, time and I/O enabled.
pub fn runtime(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .unwrap()
}

/// Runs `f` on a fresh multi-thread tokio runtime, failing after [`LIMIT`].
pub fn run_mt<F: Future>(workers: usize, f: F) -> F::Output {
    runtime(workers)
        .block_on(async { tokio::time::timeout(LIMIT, f).await })
        .expect("async test timed out")
}

// ---------------------------------------------------------------------------------------
// Hand-polled futures and bounded condition checks (raw, condition_raw, barrier_action)

/// A boxed future polled by hand with its own counting waker.
pub struct Hand<F: Future> {
    probe: Probe,
    fut: Pin<Box<F>>,
}

impl<F: Future> Hand<F> {
    pub fn new(fut: F) -> Hand<F> {
        Hand {
            probe: Probe::new(),
            fut: Box::pin(fut),
        }
    }

    pub fn poll(&mut self) -> Poll<F::Output> {
        self.probe.poll(self.fut.as_mut())
    }

    /// Polls once; the future must be ready.
    #[track_caller]
    pub fn ready(&mut self) -> F::Output {
        match self.poll() {
            Poll::Ready(v) => v,
            Poll::Pending => panic!("future expected to be ready is pending"),
        }
    }

    /// Polls once; the future must be pending.
    #[track_caller]
    pub fn pending(&mut self) {
        assert!(
            self.poll().is_pending(),
            "future expected to be pending is ready"
        );
    }

    /// How often the future's waker has been woken.
    pub fn wakes(&self) -> usize {
        self.probe.wakes()
    }

    /// The future itself (for methods such as `RawWait::cancel`).
    pub fn inner(&mut self) -> &mut F
    where
        F: Unpin,
    {
        Pin::get_mut(self.fut.as_mut())
    }
}

/// Waits until `cond` holds (checked every millisecond), failing after [`LIMIT`]. Only
/// used to learn that another thread has reached a blocking wait (queued, released, ...).
#[track_caller]
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + LIMIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        thread::sleep(Duration::from_millis(1));
    }
}
