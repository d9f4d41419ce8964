//! A handle to work running on a runtime: joined blocking or awaited, detached, or
//! cancelled by dropping it.

use super::{CallError, Runtime};
use crate::kernel::block;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::task::{JoinError, JoinHandle};

/// Work spawned on a runtime: [`Runtime::spawn`], [`Runtime::unblock`], [`unblock`] or a
/// generated `name_future` method.
///
/// Join it from a thread ([`join`](Task::join), [`join_timeout`](Task::join_timeout)) or
/// await it from any executor (it is a future of `Result<T, CallError>`). Dropping it
/// cancels the task (a blocking job that has started runs on, its result discarded);
/// [`detach`](Task::detach) lets it run. A panic of the task is resumed in the joiner,
/// payload intact.
///
/// ```
/// use aiosync::facade::Runtime;
/// let rt = Runtime::new()?;
/// let task = rt.spawn(async { "done" });
/// assert_eq!(futures_lite::future::block_on(task)?, "done"); // awaited by another executor
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "dropping a Task cancels it; call detach() to let it run"]
pub struct Task<T> {
    handle: Option<JoinHandle<T>>,
    // Keeps the runtime (and so the task) alive while the task is wanted.
    rt: Option<Runtime>,
}

impl<T> std::fmt::Debug for Task<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Task")
            .field("finished", &self.is_finished())
            .finish()
    }
}

impl<T> Task<T> {
    pub(super) fn new(handle: JoinHandle<T>, rt: Option<Runtime>) -> Task<T> {
        Task {
            handle: Some(handle),
            rt,
        }
    }

    /// Whether the task has finished (its result is ready, or it was cancelled).
    ///
    /// ```
    /// let rt = aiosync::facade::Runtime::new()?;
    /// let mut task = rt.spawn(async { 1 });
    /// task.join_timeout(std::time::Duration::from_secs(5))?;
    /// # let task = rt.spawn(async { 1 }); std::thread::sleep(std::time::Duration::from_millis(50));
    /// assert!(task.is_finished());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_finished(&self) -> bool {
        self.handle.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Lets the task run to its end on its own; its result is discarded.
    ///
    /// ```
    /// let rt = aiosync::facade::Runtime::new()?;
    /// rt.spawn(async { println!("in the background") }).detach();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn detach(mut self) {
        self.handle = None;
    }

    /// Blocks until the task ends and returns its output.
    ///
    /// # Errors
    ///
    /// [`CallError::InRuntime`] on the thread of the task's runtime (it would wait for
    /// itself), [`CallError::Shutdown`] if the task was cancelled by a shutdown.
    ///
    /// # Panics
    ///
    /// Resumes the task's panic, with its payload.
    ///
    /// ```
    /// let rt = aiosync::facade::Runtime::new()?;
    /// let task = rt.spawn(async { panic!("boom") });
    /// let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| task.join())).unwrap_err();
    /// assert_eq!(err.downcast_ref::<&str>(), Some(&"boom"));
    /// assert_eq!(rt.block_on(async { 1 })?, 1); // the runtime goes on
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn join(mut self) -> Result<T, CallError> {
        self.refuse_own_thread()?;
        let handle = self.handle.as_mut().expect("a live task has a handle");
        let out = block::block_on(handle, None).expect("no deadline was given");
        self.handle = None;
        finish(out)
    }

    /// Blocks until the task ends or `timeout` passes; the task is still yours after a
    /// timeout (join again, detach or drop it).
    ///
    /// # Errors
    ///
    /// As [`join`](Task::join), and [`CallError::TimedOut`].
    ///
    /// ```
    /// use aiosync::facade::{CallError, Runtime};
    /// use std::time::Duration;
    /// let rt = Runtime::new()?;
    /// let mut task = rt.spawn(async { tokio::time::sleep(Duration::from_secs(60)).await });
    /// assert_eq!(task.join_timeout(Duration::from_millis(10)), Err(CallError::TimedOut));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn join_timeout(&mut self, timeout: Duration) -> Result<T, CallError> {
        self.refuse_own_thread()?;
        let Some(handle) = self.handle.as_mut() else {
            return Err(CallError::Shutdown);
        };
        match block::deadline(timeout) {
            Some(d) => match block::block_on(handle, Some(d)) {
                Some(out) => {
                    self.handle = None;
                    finish(out)
                }
                None => Err(CallError::TimedOut),
            },
            None => {
                let out = block::block_on(handle, None).expect("no deadline was given");
                self.handle = None;
                finish(out)
            }
        }
    }

    fn refuse_own_thread(&self) -> Result<(), CallError> {
        match &self.rt {
            Some(rt) if rt.is_current_runtime_thread() => Err(CallError::InRuntime),
            _ => Ok(()),
        }
    }
}

fn finish<T>(out: Result<T, JoinError>) -> Result<T, CallError> {
    match out {
        Ok(v) => Ok(v),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(CallError::Shutdown),
    }
}

/// # Cancel safety
///
/// Dropping the `Task` before it is ready cancels the task; polling it again after a
/// `Pending` loses nothing.
impl<T> Future for Task<T> {
    type Output = Result<T, CallError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(handle) = self.handle.as_mut() else {
            return Poll::Ready(Err(CallError::Shutdown));
        };
        match Pin::new(handle).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(out) => {
                self.handle = None;
                Poll::Ready(finish(out))
            }
        }
    }
}

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            h.abort();
        }
    }
}

/// Runs the blocking `f` on a bounded pool and returns a [`Task`] to await (or join).
///
/// Inside a tokio runtime it uses that runtime's blocking pool; elsewhere the blocking
/// pool of [`Runtime::shared`]. A job that has started cannot be cancelled: dropping
/// the task only discards its result.
///
/// ```
/// let task = aiosync::facade::unblock(|| std::fs::metadata(".").is_ok());
/// assert!(futures_lite::future::block_on(task)?);
/// # Ok::<(), aiosync::facade::CallError>(())
/// ```
pub fn unblock<F, T>(f: F) -> Task<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match tokio::runtime::Handle::try_current() {
        Ok(h) => Task::new(h.spawn_blocking(f), None),
        Err(_) => Runtime::shared().unblock(f),
    }
}
