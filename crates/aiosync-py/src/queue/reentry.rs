//! A priority queue's comparisons, as Python sees them: a call into the queue from its
//! own `__lt__` raises `RuntimeError` (the core would panic: it says whether this thread
//! is inside the queue's comparator), and an exception of `__lt__` comes out of the put or
//! get that compared, the queue left as it was (the core's promise for a comparator that
//! unwinds). No panic crosses into Python.

use super::Q;
use pyo3::exceptions::PyRuntimeError;
use pyo3::PyErr;
use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

/// `RuntimeError` if the calling thread runs inside `q`'s comparator: a Python `__lt__`
/// calling back into its own queue, whose internal lock this thread holds.
#[inline]
pub(super) fn refuse_inside(q: &Q) -> Result<(), PyErr> {
    if q.in_comparator() {
        Err(PyRuntimeError::new_err(
            "aiosync.PriorityQueue: called from its own comparison (__lt__)",
        ))
    } else {
        Ok(())
    }
}

/// An exception of `__lt__` on its way out of the core, as the payload of an unwind.
struct Raised(PyErr);

/// Leaves the core's comparison with `e`: the core restores the queue, releases its lock
/// and resumes the unwind, which [`compared`] (or [`Compared`]) turns back into `e`. An
/// unwind started this way runs no panic hook (nothing is printed).
pub(super) fn raise(e: PyErr) -> ! {
    resume_unwind(Box::new(Raised(e)))
}

/// Runs `f`, a core call that may compare: an exception of `__lt__` comes out as `Err`.
pub(super) fn compared<R>(f: impl FnOnce() -> R) -> Result<R, PyErr> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| match p.downcast::<Raised>() {
        Ok(raised) => raised.0,
        // Not an exception of `__lt__`: a bug, left to PyO3 as any panic.
        Err(p) => resume_unwind(p),
    })
}

/// A core future of `q` that may compare (a put or a get), refused at every poll inside
/// `q`'s comparator, and ending with the exception of `__lt__` if one is raised.
pub(super) struct Compared<'a, F> {
    q: &'a Q,
    fut: F,
}

impl<'a, F> Compared<'a, F> {
    pub(super) fn new(q: &'a Q, fut: F) -> Self {
        Compared { q, fut }
    }
}

impl<F: Future + Unpin> Future for Compared<'_, F> {
    type Output = Result<F::Output, PyErr>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Err(e) = refuse_inside(this.q) {
            return Poll::Ready(Err(e));
        }
        match compared(|| Pin::new(&mut this.fut).poll(cx)) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}
