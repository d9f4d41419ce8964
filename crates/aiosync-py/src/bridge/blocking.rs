//! The threading form of every wait: block with the GIL released, and still let Ctrl-C
//! through on the main thread.

use super::event_loop::is_main_thread;
use pyo3::prelude::*;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

/// How long a blocking wait on the main thread sleeps between checks for signals.
const SIGNAL_SLICE: Duration = Duration::from_millis(20);

/// Blocks with the GIL released until `fut` completes or `timeout` passes. On the main
/// thread it wakes every few milliseconds to run signal handlers (Ctrl-C), keeping its
/// place in line; if a handler raises, the future is dropped (cancel safe) and the error
/// propagates.
pub(crate) fn block<F>(
    py: Python<'_>,
    fut: F,
    timeout: Option<Duration>,
) -> PyResult<Option<F::Output>>
where
    F: Future + Send,
    F::Output: Send,
{
    if !is_main_thread(py) {
        return Ok(py.detach(|| aiosync::block_on(fut, timeout)));
    }
    let mut fut = Box::pin(fut);
    let r = block_main(py, fut.as_mut(), timeout);
    // Dropping may run its cancel path, which takes the primitive's lock: not with the GIL
    // (a priority queue compares items under that lock with the GIL).
    py.detach(move || drop(fut));
    r
}

/// [`block`] on the main thread: waits in slices of [`SIGNAL_SLICE`], running signal
/// handlers (with the GIL) between them; the caller drops `fut`.
fn block_main<F>(
    py: Python<'_>,
    mut fut: Pin<&mut F>,
    timeout: Option<Duration>,
) -> PyResult<Option<F::Output>>
where
    F: Future + Send,
    F::Output: Send,
{
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    loop {
        let slice = match deadline {
            Some(d) => d
                .saturating_duration_since(Instant::now())
                .min(SIGNAL_SLICE),
            None => SIGNAL_SLICE,
        };
        let f = fut.as_mut();
        if let Some(v) = py.detach(move || aiosync::block_on(f, Some(slice))) {
            return Ok(Some(v));
        }
        py.check_signals()?;
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(None);
        }
    }
}
