//! Helpers shared by `synchronized.rs` and `synchronized_fns_types.rs`: the file-wide
//! lock the tests take in turn, the registry check, racy counters, and bounded calls on
//! other threads.

// Each test binary compiles this module on its own and uses only part of it.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::mpsc;
use std::time::Duration;

/// How long a call that must stay blocked is watched (it cannot finish, whatever the load).
pub const BLOCKED: Duration = Duration::from_millis(50);

pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn assert_registry_empty() {
    assert_eq!(aiosync::__private::registry_len(), 0, "registry leaked");
}

/// Read, let others run, write: loses updates unless calls exclude each other.
pub fn racy_add(n: &AtomicUsize) {
    let v = n.load(Relaxed);
    std::thread::yield_now();
    n.store(v + 1, Relaxed);
}

pub async fn racy_add_async(n: &AtomicUsize) {
    let v = n.load(Relaxed);
    tokio::task::yield_now().await;
    n.store(v + 1, Relaxed);
}

/// Runs `f` on a new thread; `Some(result)` if it returns within `wait`.
pub fn on_thread<R: Send + 'static>(
    f: impl FnOnce() -> R + Send + 'static,
) -> impl FnMut(Duration) -> Option<R> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    move |wait| rx.recv_timeout(wait).ok()
}

pub const THREADS: usize = 8;
pub const CALLS: usize = 500;

pub fn hammer(f: impl Fn() + Sync) {
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| (0..CALLS).for_each(|_| f()));
        }
    });
}
