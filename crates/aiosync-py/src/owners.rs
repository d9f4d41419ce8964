//! Who the caller is, for the core's owner-aware raw layer: an asyncio task (the owner
//! of asyncio-style calls) or the calling thread. The binding only derives identities;
//! every rule about them is the core's (`aiosync::raw`).

use crate::bridge::{self, PyPoll};
use aiosync::raw::{Holder, LockError};
use aiosync::OwnerId;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use std::task::{Context, Poll};

/// The calling thread as a holder.
#[inline]
pub(crate) fn thread() -> Holder {
    Holder::thread()
}

/// A task object as a holder: its address is its identity while it lives.
fn task_of(task: &Bound<'_, PyAny>) -> Holder {
    Holder::task(OwnerId::from_raw(task.as_ptr() as u64).expect("an object's address is not zero"))
}

/// The current asyncio task of the running loop `lp`, as a holder.
pub(crate) fn task(py: Python<'_>, lp: &Bound<'_, PyAny>, what: &str) -> PyResult<Holder> {
    let task = bridge::current_task(py, lp)?;
    if task.is_none() {
        return Err(PyRuntimeError::new_err(format!(
            "{what} needs a running asyncio task"
        )));
    }
    Ok(task_of(&task))
}

/// The caller: its asyncio task when a loop runs in this thread and a task is current,
/// else its thread.
pub(crate) fn caller(py: Python<'_>) -> PyResult<Holder> {
    if let Some(lp) = bridge::running_loop(py)? {
        let task = bridge::current_task(py, &lp)?;
        if !task.is_none() {
            return Ok(task_of(&task));
        }
    }
    Ok(thread())
}

/// Of the caller's identities (its task first, then its thread), the one `owns` accepts.
pub(crate) fn owning(py: Python<'_>, owns: impl Fn(OwnerId) -> bool) -> PyResult<Option<Holder>> {
    if let Some(lp) = bridge::running_loop(py)? {
        let task = bridge::current_task(py, &lp)?;
        if !task.is_none() {
            let h = task_of(&task);
            if owns(h.owner()) {
                return Ok(Some(h));
            }
        }
    }
    let h = thread();
    Ok(owns(h.owner()).then_some(h))
}

/// Whether an event loop runs in this thread (a blocking wait would stop it).
pub(crate) fn loop_running(py: Python<'_>) -> PyResult<bool> {
    Ok(bridge::running_loop(py)?.is_some())
}

/// The Python error for a refusal of the core's, naming the class (`what`).
pub(crate) fn lock_error(e: LockError, what: &str) -> PyErr {
    PyRuntimeError::new_err(match e {
        LockError::WouldDeadlock => format!(
            "a blocking {what} acquire on the thread whose running event loop holds it \
             would deadlock; use `await` (or `async with`) instead"
        ),
        other => other.to_string(),
    })
}

/// An operation whose holder is the caller *when it first runs*: an awaitable made in
/// one task and awaited in another (`create_task(lock.acquire())`) belongs to the
/// awaiting task, as a coroutine's body would.
pub(crate) fn deferred<W, S>(who: W, start: S) -> Box<dyn PyPoll>
where
    W: FnOnce(Python<'_>) -> PyResult<Holder> + Send + 'static,
    S: FnOnce(Holder) -> Box<dyn PyPoll> + Send + 'static,
{
    Box::new(Deferred {
        who: Some(who),
        start: Some(start),
        inner: None,
    })
}

struct Deferred<W, S> {
    who: Option<W>,
    start: Option<S>,
    inner: Option<Box<dyn PyPoll>>,
}

impl<W, S> PyPoll for Deferred<W, S>
where
    W: FnOnce(Python<'_>) -> PyResult<Holder> + Send,
    S: FnOnce(Holder) -> Box<dyn PyPoll> + Send,
{
    fn poll(&mut self, py: Python<'_>, cx: &mut Context<'_>) -> Poll<PyResult<Py<PyAny>>> {
        if self.inner.is_none() {
            let (Some(who), Some(start)) = (self.who.take(), self.start.take()) else {
                return Poll::Ready(Err(PyRuntimeError::new_err("polled after completion")));
            };
            match who(py) {
                Ok(h) => self.inner = Some(start(h)),
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        self.inner.as_mut().expect("started above").poll(py, cx)
    }

    fn cancel(&mut self) -> bool {
        self.inner.as_mut().is_some_and(|i| i.cancel())
    }

    fn undo(&mut self) {
        if let Some(i) = self.inner.as_mut() {
            i.undo();
        }
    }
}
