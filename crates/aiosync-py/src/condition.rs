//! Condition: conversion only; the wait / release / re-acquire / cancel protocol is the
//! core's (`aiosync::Condition::wait_raw`, and `wait_external_blocking_with` over a lock
//! from outside aiosync).

use crate::bridge::Flag;
use crate::bridge::{self, mode, wait_timeout_arg, Mode, Owned, PyPoll};
use crate::dual_lock::DualLock;
use crate::foreign_lock::{ForeignLock, ForeignParts};
use crate::locks::{Lock, RLock};
use crate::owners;
use crate::repr;
use aiosync::raw::{Holder, RawDualLock, RawLock, RawReentrantLock, Relock};
use aiosync::{Condition as CoreCondition, RawWait, RawWaitError};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use pyo3::IntoPyObjectExt;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// A condition variable and its lock, kept alive together by waits in flight.
struct Parts<L> {
    cond: CoreCondition,
    lock: Arc<L>,
}

/// The lock under a Condition.
enum Kind {
    Plain(Arc<Parts<RawLock>>),
    Reentrant(Arc<Parts<RawReentrantLock>>),
    /// Its own lock (`Condition()`).
    Dual(Arc<Parts<RawDualLock>>),
    /// A lock from outside aiosync (`threading.Lock()`, ...): threading forms only.
    Foreign(Box<ForeignParts>),
}

/// A condition variable usable from threads and any number of event loops.
///
/// `Condition(lock=None)` makes its own lock; pass an `aiosync.Lock` or `aiosync.RLock`
/// to share one. Notifications go to waiters oldest first; one given to a waiter that is
/// then cancelled goes to the next waiter.
///
/// Any other lock object (`threading.Lock()`, `threading.RLock()`, anything with
/// `acquire()` and `release()`) is used as `threading.Condition` uses it (its
/// `_release_save`, `_acquire_restore` and `_is_owned` where it has them), in the
/// threading forms only: taking such a lock back after a wait can only block the thread,
/// which on an event loop would stall every task of it, so an asyncio form (`await
/// cond.wait()`, `async with cond`, `acquire()` with no argument where a loop runs) raises
/// `TypeError`.
///
/// Its own lock is what each world's `Condition()` makes: to threading calls
/// (`with cond`, `cond.acquire()` without a running loop) an `RLock`, as
/// `threading.Condition()`'s — the thread may take it again while it holds it, and
/// another thread cannot release it (`RuntimeError`); to asyncio calls (`async with
/// cond`, `await cond.acquire()`) a `Lock`, as `asyncio.Condition()`'s — any task may
/// release it or wait or notify under it. A task acquiring it again while it holds it
/// gets `RuntimeError` at once (asyncio's would wait for itself forever).
#[pyclass(frozen, subclass, weakref, module = "aiosync", name = "Condition")]
pub(crate) struct Condition {
    kind: Kind,
    lock: Py<PyAny>,
}

pub(crate) fn not_held(what: &str) -> PyErr {
    PyRuntimeError::new_err(format!("cannot {what} on un-acquired lock"))
}

/// An asyncio wait, optionally looping on a predicate (`wait_for`).
struct WaitPoll<L: Relock + Send + Sync + 'static> {
    parts: Arc<Parts<L>>,
    holder: Holder,
    predicate: Option<Py<PyAny>>,
    wait: Option<Owned<Parts<L>, RawWait<'static, L>>>,
}

impl<L: Relock + Send + Sync + 'static> WaitPoll<L> {
    fn start(&mut self) {
        let holder = self.holder;
        self.wait = Some(Owned::new(self.parts.clone(), move |p| {
            p.cond.wait_raw(&*p.lock, holder)
        }));
    }
}

impl<L: Relock + Send + Sync + 'static> PyPoll for WaitPoll<L> {
    fn poll(&mut self, py: Python<'_>, cx: &mut Context<'_>) -> Poll<PyResult<Py<PyAny>>> {
        loop {
            if self.wait.is_none() {
                match &self.predicate {
                    None => self.start(),
                    Some(p) => {
                        // Checked with the lock held, before each wait.
                        let v = match p.call0(py) {
                            Ok(v) => v,
                            Err(e) => return Poll::Ready(Err(e)),
                        };
                        match v.is_truthy(py) {
                            Ok(true) => return Poll::Ready(Ok(v)),
                            Ok(false) => self.start(),
                            Err(e) => return Poll::Ready(Err(e)),
                        }
                    }
                }
            }
            let wait = self.wait.as_mut().expect("started above");
            match wait.poll_inner(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(r) => {
                    self.wait = None;
                    match r {
                        Ok(()) if self.predicate.is_some() => continue,
                        Ok(()) => return Poll::Ready(true.into_py_any(py)),
                        Err(RawWaitError::NotHeld) => return Poll::Ready(Err(not_held("wait"))),
                        // The lock is held again; the waiter raises the cancellation.
                        Err(_) => return Poll::Ready(Ok(py.None())),
                    }
                }
            }
        }
    }

    fn cancel(&mut self) -> bool {
        self.wait.as_mut().is_some_and(|w| w.get_mut().cancel())
    }
}

/// A threading wait for at most `timeout`: whether it was notified.
fn wait_blocking<L: Relock + Send + Sync>(
    py: Python<'_>,
    parts: &Parts<L>,
    holder: Holder,
    timeout: Option<Duration>,
) -> PyResult<bool> {
    let mut w = parts
        .cond
        .wait_raw_blocking(&*parts.lock, holder)
        .map_err(|_| not_held("wait"))?;
    let r = bridge::block(py, &mut *w.listener(), timeout);
    // The lock is taken back (also after Ctrl-C) with the GIL released.
    py.detach(move || drop(w));
    Ok(r?.is_some())
}

/// A threading `wait_for`, `wait_once(timeout)` being one wait: the predicate's last value.
fn wait_for_blocking(
    predicate: &Bound<'_, PyAny>,
    timeout: Option<Duration>,
    mut wait_once: impl FnMut(Option<Duration>) -> PyResult<bool>,
) -> PyResult<Py<PyAny>> {
    let end = timeout.and_then(|t| Instant::now().checked_add(t));
    loop {
        let v = predicate.call0()?;
        if v.is_truthy()? {
            return Ok(v.unbind());
        }
        let left = match (timeout, end) {
            (None, _) | (Some(_), None) => None,
            (Some(_), Some(end)) => {
                let left = end.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Ok(v.unbind());
                }
                Some(left)
            }
        };
        wait_once(left)?;
    }
}

impl Condition {
    /// The identity a wait or notify acts for: for a plain lock (no owner) the caller;
    /// for an RLock whichever of the caller's identities owns it (its task, then its
    /// thread). Whether it may wait or notify is the core's rule (`Relock::is_held_by`).
    fn holder(&self, py: Python<'_>, asyncio: bool) -> PyResult<Holder> {
        match &self.kind {
            Kind::Plain(_) if asyncio => owners::caller(py),
            Kind::Plain(_) => Ok(owners::thread()),
            Kind::Reentrant(p) => {
                Ok(owners::owning(py, |o| p.lock.is_owned_by(o))?.unwrap_or_else(owners::thread))
            }
            // Whose hold it is, else the caller (anyone may act under a task's hold).
            Kind::Dual(p) => match owners::owning(py, |o| p.lock.is_owned_by(o))? {
                Some(h) => Ok(h),
                None if asyncio => owners::caller(py),
                None => Ok(owners::thread()),
            },
            // Not asked: a foreign lock tells itself whether the caller holds it.
            Kind::Foreign(_) => Ok(owners::thread()),
        }
    }

    /// Refuses an asyncio form over a foreign lock.
    fn check_async(&self) -> PyResult<()> {
        match &self.kind {
            Kind::Foreign(p) => Err(p.no_async_form()),
            _ => Ok(()),
        }
    }

    fn wait_async(
        &self,
        py: Python<'_>,
        lp: Bound<'_, PyAny>,
        predicate: Option<Py<PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        // The holder is the caller (as for RLock: `asyncio.wait_for` on 3.11 awaits it in
        // a task of its own). Not held: the awaitable raises when awaited, as asyncio's
        // coroutine does. Over a foreign lock there is no asyncio form (below).
        let holder = self.holder(py, true)?;
        let poll: Box<dyn PyPoll> = match &self.kind {
            Kind::Plain(p) => Box::new(WaitPoll {
                parts: p.clone(),
                holder,
                predicate,
                wait: None,
            }),
            Kind::Reentrant(p) => Box::new(WaitPoll {
                parts: p.clone(),
                holder,
                predicate,
                wait: None,
            }),
            Kind::Dual(p) => Box::new(WaitPoll {
                parts: p.clone(),
                holder,
                predicate,
                wait: None,
            }),
            Kind::Foreign(p) => return Err(p.no_async_form()),
        };
        bridge::waiter(py, lp, Some("Condition.wait()"), poll)
    }

    fn wait_blocking(
        &self,
        py: Python<'_>,
        timeout: Option<f64>,
        predicate: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let t = wait_timeout_arg(timeout)?;
        let holder = self.holder(py, false)?;
        match (&self.kind, predicate) {
            (Kind::Plain(p), None) => wait_blocking(py, p, holder, t)?.into_py_any(py),
            (Kind::Reentrant(p), None) => wait_blocking(py, p, holder, t)?.into_py_any(py),
            (Kind::Dual(p), None) => wait_blocking(py, p, holder, t)?.into_py_any(py),
            (Kind::Foreign(p), None) => p.wait(py, t)?.into_py_any(py),
            (Kind::Plain(p), Some(f)) => {
                wait_for_blocking(f, t, |left| wait_blocking(py, p, holder, left))
            }
            (Kind::Reentrant(p), Some(f)) => {
                wait_for_blocking(f, t, |left| wait_blocking(py, p, holder, left))
            }
            (Kind::Dual(p), Some(f)) => {
                wait_for_blocking(f, t, |left| wait_blocking(py, p, holder, left))
            }
            (Kind::Foreign(p), Some(f)) => wait_for_blocking(f, t, |left| p.wait(py, left)),
        }
    }

    fn notify_n(&self, py: Python<'_>, n: usize) -> PyResult<()> {
        let r = match &self.kind {
            Kind::Plain(p) => p.cond.notify_raw(&*p.lock, &self.holder(py, true)?, n),
            Kind::Reentrant(p) => p.cond.notify_raw(&*p.lock, &self.holder(py, true)?, n),
            Kind::Dual(p) => p.cond.notify_raw(&*p.lock, &self.holder(py, true)?, n),
            Kind::Foreign(p) => return p.notify(py, n),
        };
        r.map(drop).map_err(|_| not_held("notify"))
    }

    fn cond(&self) -> &CoreCondition {
        match &self.kind {
            Kind::Plain(p) => &p.cond,
            Kind::Reentrant(p) => &p.cond,
            Kind::Dual(p) => &p.cond,
            Kind::Foreign(p) => &p.cond,
        }
    }
}

#[pymethods]
impl Condition {
    /// Takes `lock`; any other argument is left to `__init__` to refuse, as for a class
    /// written in Python (so its errors name `Condition.__init__()`).
    #[new]
    #[pyo3(signature = (lock=None, *_args, **_kwargs), text_signature = "(lock=None)")]
    fn new(
        py: Python<'_>,
        lock: Option<Bound<'_, PyAny>>,
        _args: &Bound<'_, PyTuple>,
        _kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let lock = match lock {
            Some(l) if !l.is_none() => l,
            _ => Py::new(py, DualLock::create())?.into_bound(py).into_any(),
        };
        let kind = if let Ok(l) = lock.cast::<DualLock>() {
            Kind::Dual(Arc::new(Parts {
                cond: CoreCondition::new(),
                lock: l.get().raw().clone(),
            }))
        } else if let Ok(l) = lock.cast::<Lock>() {
            Kind::Plain(Arc::new(Parts {
                cond: CoreCondition::new(),
                lock: l.get().raw().clone(),
            }))
        } else if let Ok(l) = lock.cast::<RLock>() {
            Kind::Reentrant(Arc::new(Parts {
                cond: CoreCondition::new(),
                lock: l.get().raw().clone(),
            }))
        } else {
            Kind::Foreign(Box::new(ForeignParts {
                cond: CoreCondition::new(),
                lock: ForeignLock::new(&lock)?,
            }))
        };
        Ok(Condition {
            kind,
            lock: lock.unbind(),
        })
    }

    /// Checks the arguments (`__new__` used `lock`).
    #[pyo3(signature = (lock=None))]
    fn __init__(&self, lock: Option<Bound<'_, PyAny>>) {
        let _ = lock;
    }

    /// The lock's `acquire(...)`, with its arguments (see `Lock.acquire`, `RLock.acquire`).
    /// A foreign lock's without arguments where a loop runs would be the asyncio form: a
    /// `TypeError`, as for `wait()`.
    ///
    /// Cancel safety: as the lock's.
    #[pyo3(signature = (*args, **kwargs))]
    fn acquire(
        &self,
        py: Python<'_>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        if let Kind::Foreign(p) = &self.kind {
            let threading_args = !args.is_empty() || kwargs.is_some_and(|k| !k.is_empty());
            if let Mode::Async(_) = mode(py, threading_args)? {
                return Err(p.no_async_form());
            }
        }
        Ok(self
            .lock
            .bind(py)
            .call_method(pyo3::intern!(py, "acquire"), args, kwargs)?
            .unbind())
    }

    fn release(&self, py: Python<'_>) -> PyResult<()> {
        self.lock
            .bind(py)
            .call_method0(pyo3::intern!(py, "release"))
            .map(drop)
    }

    /// Whether the lock is held (a foreign lock's `locked()`).
    fn locked(&self, py: Python<'_>) -> PyResult<bool> {
        match &self.kind {
            Kind::Plain(p) => Ok(p.lock.is_locked()),
            Kind::Reentrant(p) => Ok(p.lock.is_locked()),
            Kind::Dual(p) => Ok(p.lock.is_locked()),
            Kind::Foreign(_) => self
                .lock
                .bind(py)
                .call_method0(pyo3::intern!(py, "locked"))?
                .is_truthy(),
        }
    }

    fn __enter__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(self
            .lock
            .bind(py)
            .call_method0(pyo3::intern!(py, "__enter__"))?
            .unbind())
    }

    #[pyo3(signature = (*args))]
    fn __exit__(&self, py: Python<'_>, args: &Bound<'_, PyTuple>) -> PyResult<()> {
        self.lock
            .bind(py)
            .call_method1(pyo3::intern!(py, "__exit__"), args)
            .map(drop)
    }

    /// `async with cond`: the lock's `__aenter__`. Cancel safety: as the lock's.
    fn __aenter__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.check_async()?;
        Ok(self
            .lock
            .bind(py)
            .call_method0(pyo3::intern!(py, "__aenter__"))?
            .unbind())
    }

    /// The lock's `__aexit__` (releases it).
    #[pyo3(signature = (*args))]
    fn __aexit__(&self, py: Python<'_>, args: &Bound<'_, PyTuple>) -> PyResult<Py<PyAny>> {
        self.check_async()?;
        Ok(self
            .lock
            .bind(py)
            .call_method1(pyo3::intern!(py, "__aexit__"), args)?
            .unbind())
    }

    /// asyncio: `await cond.wait()` (True). threading: `cond.wait(timeout)` -> bool.
    ///
    /// The lock is released while waiting and always held again when it returns, even
    /// when the wait is cancelled (the cancellation propagates after the lock is back);
    /// a notification a cancelled waiter had received goes to the next waiter.
    #[pyo3(signature = (timeout=None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Py<PyAny>> {
        match mode(py, timeout.is_some())? {
            Mode::Async(lp) => self.wait_async(py, lp, None),
            Mode::Blocking => self.wait_blocking(py, timeout, None),
        }
    }

    /// Waits until `predicate()` is true and returns its last value (with a threading
    /// timeout: possibly false). Cancel safety as `wait`.
    #[pyo3(signature = (predicate, timeout=None))]
    fn wait_for(
        &self,
        py: Python<'_>,
        predicate: Bound<'_, PyAny>,
        timeout: Option<f64>,
    ) -> PyResult<Py<PyAny>> {
        match mode(py, timeout.is_some())? {
            Mode::Async(lp) => self.wait_async(py, lp, Some(predicate.unbind())),
            Mode::Blocking => self.wait_blocking(py, timeout, Some(&predicate)),
        }
    }

    /// The asyncio form of the lock's `acquire()` whatever the caller (the lock's own
    /// `acquire_async`). Cancel safety: as `acquire`.
    fn acquire_async(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.check_async()?;
        Ok(self
            .lock
            .bind(py)
            .call_method0(pyo3::intern!(py, "acquire_async"))?
            .unbind())
    }

    /// The threading form of the lock's `acquire()` whatever the caller.
    #[pyo3(
        signature = (blocking=Flag(true), timeout=None),
        text_signature = "($self, blocking=True, timeout=None)"
    )]
    fn acquire_blocking(
        &self,
        py: Python<'_>,
        blocking: Flag,
        timeout: Option<f64>,
    ) -> PyResult<Py<PyAny>> {
        if let Kind::Foreign(p) = &self.kind {
            return p.lock.acquire(py, blocking.0, timeout);
        }
        Ok(self
            .lock
            .bind(py)
            .call_method1(pyo3::intern!(py, "acquire_blocking"), (blocking.0, timeout))?
            .unbind())
    }

    /// The asyncio form of `wait()` whatever the caller: an awaitable giving True.
    ///
    /// Cancel safety: a cancelled wait still takes the lock back before the cancellation
    /// is raised, and a notification it was given goes to the next waiter.
    #[pyo3(name = "wait_async")]
    fn wait_async_py(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.check_async()?;
        bridge::async_form(py, |lp, _| self.wait_async(py, lp, None))
    }

    /// The threading form of `wait(timeout)` whatever the caller: blocks, returns whether
    /// it was notified (False on timeout).
    #[pyo3(name = "wait_blocking", signature = (timeout=None))]
    fn wait_blocking_py(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Py<PyAny>> {
        self.wait_blocking(py, timeout, None)
    }

    /// The asyncio form of `wait_for(predicate)` whatever the caller. Cancel safety: as
    /// `wait_async`.
    fn wait_for_async(&self, py: Python<'_>, predicate: Py<PyAny>) -> PyResult<Py<PyAny>> {
        self.check_async()?;
        bridge::async_form(py, |lp, _| self.wait_async(py, lp, Some(predicate)))
    }

    /// The threading form of `wait_for(predicate, timeout)` whatever the caller.
    #[pyo3(signature = (predicate, timeout=None))]
    fn wait_for_blocking(
        &self,
        py: Python<'_>,
        predicate: Bound<'_, PyAny>,
        timeout: Option<f64>,
    ) -> PyResult<Py<PyAny>> {
        self.wait_blocking(py, timeout, Some(&predicate))
    }

    /// Wakes up to `n` waiters, oldest first. The lock must be held.
    #[pyo3(signature = (n=1))]
    fn notify(&self, py: Python<'_>, n: i64) -> PyResult<()> {
        self.notify_n(py, usize::try_from(n).unwrap_or(0))
    }

    /// Wakes every waiter. The lock must be held.
    fn notify_all(&self, py: Python<'_>) -> PyResult<()> {
        self.notify_n(py, usize::MAX)
    }

    /// threading's old spelling of `notify_all`.
    #[pyo3(name = "notifyAll")]
    fn notify_all_old(&self, py: Python<'_>) -> PyResult<()> {
        self.notify_all(py)
    }

    /// The lock's state in threading's lock format and asyncio's Condition format:
    /// `<locked aiosync.Condition object at 0x… [locked, waiters:1]>`.
    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let this = slf.get();
        let waiters = this.cond().waiters();
        // A foreign lock without `locked()` leaves the state out.
        let Ok(locked) = this.locked(slf.py()) else {
            let extras = repr::extras("", waiters);
            return repr::lock(slf.as_any(), "", "", extras.trim_start_matches(", "));
        };
        let state = if locked { "locked" } else { "unlocked" };
        let extras = repr::extras(state, waiters);
        repr::lock(slf.as_any(), state, "", &extras)
    }
}
