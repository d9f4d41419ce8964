//! Core futures that a Python object can hold: their borrow of the primitive is erased
//! to `'static` and kept valid by an `Arc`, and their output becomes a Python value.

use pyo3::prelude::*;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// A core future the awaitable drives; its output is already a Python value.
///
/// Both methods are called with the GIL and the driving [`Waiter`](super::Waiter)'s state
/// lock held, so neither may block.
pub(crate) trait PyPoll: Send {
    /// Polls the operation; `Ready` ends the awaitable with that result.
    fn poll(&mut self, py: Python<'_>, cx: &mut Context<'_>) -> Poll<PyResult<Py<PyAny>>>;

    /// Asks a pending operation to stop. `false` (the default): it was dropped, nothing
    /// more to do. `true`: it must still be driven to completion (e.g. a Condition wait
    /// re-taking its lock) before the cancellation propagates.
    fn cancel(&mut self) -> bool {
        false
    }

    /// The operation completed, but its result will never be delivered (the awaitable
    /// was cancelled or closed while it held the result back, see
    /// [`settling_waiter`](super::settling_waiter)): gives back what it took. The default
    /// has nothing to give back.
    fn undo(&mut self) {}
}

/// A [`PyPoll`] whose completed result is given back by `undo` (releasing a lock it took)
/// if the awaitable never delivers it.
struct Undoable<U> {
    inner: Box<dyn PyPoll>,
    undo: Option<U>,
}

impl<U: FnOnce() + Send> PyPoll for Undoable<U> {
    fn poll(&mut self, py: Python<'_>, cx: &mut Context<'_>) -> Poll<PyResult<Py<PyAny>>> {
        self.inner.poll(py, cx)
    }

    fn cancel(&mut self) -> bool {
        self.inner.cancel()
    }

    fn undo(&mut self) {
        self.inner.undo();
        if let Some(undo) = self.undo.take() {
            undo();
        }
    }
}

/// `inner`, with `undo` to run if it completed and its result is never delivered.
pub(crate) fn undoable(
    inner: Box<dyn PyPoll>,
    undo: impl FnOnce() + Send + 'static,
) -> Box<dyn PyPoll> {
    Box::new(Undoable {
        inner,
        undo: Some(undo),
    })
}

/// A future that borrows from an `Arc` it keeps alive (so it can live in a Python object).
pub(crate) struct Owned<P: ?Sized + 'static, F> {
    /// # Safety — borrows from `_owner`'s pointee: must be dropped before `_owner` (see Drop).
    fut: ManuallyDrop<Pin<Box<F>>>,
    _owner: Arc<P>,
}

impl<P: ?Sized + Send + Sync + 'static, F: Future> Owned<P, F> {
    /// `make` gets a reference that lives as long as this value (the `Arc` keeps it).
    pub(crate) fn new(owner: Arc<P>, make: impl FnOnce(&'static P) -> F) -> Self {
        // SAFETY: the `'static` is a lie kept true for as long as the reference is used:
        //   * the pointee outlives `fut`: `_owner` keeps it alive until after `fut` is
        //     dropped (see Drop);
        //   * it never moves: it is behind an `Arc`;
        //   * the reference never leaves this value: outputs are turned into Python values
        //     by the `PyPoll` impls, which never return anything that borrows it.
        let r: &'static P = unsafe { &*Arc::as_ptr(&owner) };
        Owned {
            fut: ManuallyDrop::new(Box::pin(make(r))),
            _owner: owner,
        }
    }

    /// The core future itself (to ask it to stop, say).
    pub(crate) fn get_mut(&mut self) -> &mut F
    where
        F: Unpin,
    {
        Pin::get_mut(self.fut.as_mut())
    }

    /// Polls the core future itself (its output may still borrow the primitive).
    pub(crate) fn poll_inner(&mut self, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.fut.as_mut().poll(cx)
    }
}

impl<P: ?Sized + 'static, F> Drop for Owned<P, F> {
    fn drop(&mut self) {
        // SAFETY: `fut` is dropped once, here, and never used again; `_owner` is dropped
        // only after this body, so the value `fut` borrows is still alive.
        unsafe { ManuallyDrop::drop(&mut self.fut) }
    }
}

// SAFETY: `Owned` is `F` plus an `Arc<P>`; it is sent only where both may go (`F: Send`,
// and `P: Send + Sync` makes `Arc<P>` and the erased `&P` Send).
unsafe impl<P: ?Sized + Send + Sync + 'static, F: Send> Send for Owned<P, F> {}

/// Adapts an `Owned` future with a function from its output to a Python result.
pub(crate) struct Mapped<P: ?Sized + 'static, F, M> {
    /// Always `Some` until dropped.
    fut: Option<Owned<P, F>>,
    map: M,
    /// Poll and drop with the GIL released (the future may take a lock under which
    /// Python code runs: a priority queue's comparisons).
    detach: bool,
}

impl<P: ?Sized + 'static, F, M> Drop for Mapped<P, F, M> {
    fn drop(&mut self) {
        if let Some(fut) = self.fut.take() {
            if self.detach {
                // The cancel path takes the queue's lock: never while holding the GIL.
                let fut = SendPtr(fut);
                Python::attach(|py| py.detach(move || drop(fut)));
            } else {
                drop(fut);
            }
        }
    }
}

/// Moves a value into a GIL-released section (it is only dropped there).
struct SendPtr<T>(T);
// SAFETY: only `Mapped::drop` builds one, around its `Owned` future; a `Mapped` is only
// made by `mapped_with`, whose bounds (`P: Send + Sync`, `F: Send`) make that `Owned`
// `Send`. The wrapper exists because a `Drop` impl cannot repeat those bounds.
unsafe impl<T> Send for SendPtr<T> {}

impl<P, F, M> PyPoll for Mapped<P, F, M>
where
    P: ?Sized + Send + Sync + 'static,
    F: Future + Send,
    F::Output: Send,
    M: FnMut(Python<'_>, F::Output) -> PyResult<Py<PyAny>> + Send,
{
    fn poll(&mut self, py: Python<'_>, cx: &mut Context<'_>) -> Poll<PyResult<Py<PyAny>>> {
        let fut = self.fut.as_mut().expect("polled after drop");
        let polled = if self.detach {
            let waker = cx.waker().clone();
            py.detach(move || fut.poll_inner(&mut Context::from_waker(&waker)))
        } else {
            fut.poll_inner(cx)
        };
        match polled {
            Poll::Ready(v) => Poll::Ready((self.map)(py, v)),
            Poll::Pending => Poll::Pending,
        }
    }

    // `cancel` keeps the default (`false`): every core future wrapped here is cancel safe
    // by being dropped, which the Waiter then does.
}

/// A core future borrowing from `owner`, its output turned into a Python value by `map`.
pub(crate) fn mapped<P, F, M>(
    owner: Arc<P>,
    make: impl FnOnce(&'static P) -> F,
    map: M,
) -> Box<dyn PyPoll>
where
    P: ?Sized + Send + Sync + 'static,
    F: Future + Send + 'static,
    F::Output: Send,
    M: FnMut(Python<'_>, F::Output) -> PyResult<Py<PyAny>> + Send + 'static,
{
    mapped_with(owner, make, map, false)
}

/// As [`mapped`], optionally polling with the GIL released.
pub(crate) fn mapped_with<P, F, M>(
    owner: Arc<P>,
    make: impl FnOnce(&'static P) -> F,
    map: M,
    detach: bool,
) -> Box<dyn PyPoll>
where
    P: ?Sized + Send + Sync + 'static,
    F: Future + Send + 'static,
    F::Output: Send,
    M: FnMut(Python<'_>, F::Output) -> PyResult<Py<PyAny>> + Send + 'static,
{
    Box::new(Mapped {
        fut: Some(Owned::new(owner, make)),
        map,
        detach,
    })
}
