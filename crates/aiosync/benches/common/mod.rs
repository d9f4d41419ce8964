//! Helpers shared by the benchmark files (each compiles this module on its own).

use std::time::Duration;

/// Operations each of `workers` does so that together they do at least `iters`.
pub fn per_worker(iters: u64, workers: u64) -> u64 {
    iters.div_ceil(workers).max(1)
}

/// Scales `elapsed` (for `done` operations) to `iters` operations.
pub fn scale(elapsed: Duration, iters: u64, done: u64) -> Duration {
    if done == iters {
        elapsed
    } else {
        elapsed.mul_f64(iters as f64 / done as f64)
    }
}

/// The tokio runtime of the async groups: 2 workers, like the machine's 2 cores.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}
