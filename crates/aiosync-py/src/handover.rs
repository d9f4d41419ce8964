//! Handing a call between a thread and a Synchronizer's loop thread without either going
//! to sleep while the other is about to answer.
//!
//! A blocking call crosses twice: the caller wakes the loop thread (a write to its
//! selector's self-pipe), and the loop thread wakes the caller (the call's `Event`).
//! Each side also takes the GIL the other just let go of. When the two threads run on
//! different CPUs, every one of those steps that finds the other side asleep costs a
//! wakeup of an idle CPU, which on a virtual machine costs more than the call itself.
//! So each side spins for a bounded time (with the GIL released) where it would sleep:
//! the loop thread for its next call right after serving one, the caller for its
//! result, and each for the other to let go of the GIL before taking it (CPython's GIL
//! puts a waiter to sleep at once). An awaiting caller on another event loop spins too,
//! for at most [`AWAITER_SPIN`] (its loop waits meanwhile, as for one slow callback),
//! since it would otherwise sleep in its own selector. Each bound adapts (see
//! [`Budget`]), so that calls which take long cost no spinning. These are hints only:
//! past its bound each side sleeps as before, and nothing here decides who may proceed.

use crate::bridge;
use crate::event::Event;
use pyo3::prelude::*;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The longest the loop thread looks for the next call after a blocking one.
const LOOP_SPIN: Duration = Duration::from_micros(150);
/// The longest a caller spins for its result before sleeping.
const CALLER_SPIN: Duration = Duration::from_micros(100);
/// The longest an awaiting caller keeps its own loop waiting for a result (it would
/// otherwise sleep in its selector and cost an idle CPU's wakeup).
const AWAITER_SPIN: Duration = Duration::from_micros(50);
/// How long either side waits for the other to let go of the GIL.
const GIL_SPIN: Duration = Duration::from_micros(30);
/// A spin that has stopped paying off is tried again once in this many waits.
const PROBE_EVERY: u32 = 32;

/// The hand-over hints of one Synchronizer's loop (see the module docs).
#[pyclass(frozen, module = "aiosync._aiosync", name = "_Handover")]
pub(crate) struct Handover {
    /// The loop runs on the handover's selector (else callers never wait for `loop_free`).
    attached: AtomicBool,
    /// The loop thread has let go of the GIL to wait for work (from [`Handover::idle`]
    /// until [`Handover::busy`]: it may have taken the GIL back just before the latter).
    loop_free: AtomicBool,
    /// Callers that have handed their call over and will let go of the GIL.
    coming: AtomicUsize,
    /// Calls handed over so far; the loop spins only after one since it last went idle.
    calls: AtomicU64,
    /// `calls` when the loop thread last went idle.
    seen: AtomicU64,
    /// How long the loop thread looks for its next call.
    loop_spin: Budget,
    /// How long a blocking caller spins for its result.
    caller_spin: Budget,
    /// How long an awaiting caller spins for its result.
    awaiter_spin: Budget,
}

/// How long one side spins: halved each time a spin ends empty-handed, down to none at
/// all (then tried again once in [`PROBE_EVERY`] waits), and back to the most after one
/// that found what it waited for. So a synchronizer whose calls take long, or come
/// seldom, soon stops spinning; one whose calls come back to back keeps it.
struct Budget {
    max: Duration,
    /// The current bound, in ns (0: not spinning).
    ns: AtomicU64,
    /// Waits asked for while the bound was 0 (every [`PROBE_EVERY`]th of them probes).
    skipped: AtomicU32,
}

impl Budget {
    const fn new(max: Duration) -> Budget {
        Budget {
            max,
            ns: AtomicU64::new(max.as_nanos() as u64),
            skipped: AtomicU32::new(0),
        }
    }

    /// The bound of the next spin (zero: do not spin).
    fn bound(&self) -> Duration {
        let ns = self.ns.load(Ordering::Relaxed);
        if ns > 0 {
            return Duration::from_nanos(ns);
        }
        if self.skipped.fetch_add(1, Ordering::Relaxed) % PROBE_EVERY == PROBE_EVERY - 1 {
            return self.max;
        }
        Duration::ZERO
    }

    /// Records how a spin ended: found what it waited for or not.
    fn record(&self, found: bool) {
        let ns = if found {
            self.max.as_nanos() as u64
        } else {
            let half = self.ns.load(Ordering::Relaxed) / 2;
            if half < (self.max / 8).as_nanos() as u64 {
                0
            } else {
                half
            }
        };
        self.ns.store(ns, Ordering::Relaxed);
    }

    /// Spins (as [`spin_until`]) for at most the current bound, capped at `cap`, and
    /// records the outcome; true if `done` became true.
    fn spin(&self, cap: Duration, done: impl FnMut() -> bool) -> bool {
        let bound = self.bound().min(cap);
        if bound.is_zero() {
            return false;
        }
        let found = spin_until(bound, done);
        self.record(found);
        found
    }
}

/// Polls `done` until it is true (then true) or `bound` has passed (then false),
/// yielding the CPU between polls: where the other side runs on this same CPU, it gets to
/// run at once instead of after the spin.
fn spin_until(bound: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if done() {
            return true;
        }
        if start.elapsed() >= bound {
            return false;
        }
        std::thread::yield_now();
    }
}

/// Whether the epoll instance `epfd` has an event ready (level-triggered, so the
/// selector's own poll reports it again).
#[cfg(target_os = "linux")]
fn epoll_ready(epfd: i32) -> bool {
    let mut ev = libc::epoll_event { events: 0, u64: 0 };
    // SAFETY: one valid event buffer of length 1; a bad fd only makes the call fail.
    unsafe { libc::epoll_wait(epfd, &mut ev, 1, 0) > 0 }
}

/// Elsewhere the synchronizer's loop is asyncio's own (see `_new_loop`): never called.
#[cfg(not(target_os = "linux"))]
fn epoll_ready(_epfd: i32) -> bool {
    false
}

/// Takes one off `n` when dropped.
struct Less<'a>(&'a AtomicUsize);

impl Drop for Less<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn more(n: &AtomicUsize) -> Less<'_> {
    n.fetch_add(1, Ordering::SeqCst);
    Less(n)
}

#[pymethods]
impl Handover {
    #[new]
    fn new() -> Self {
        Handover {
            attached: AtomicBool::new(false),
            loop_free: AtomicBool::new(false),
            coming: AtomicUsize::new(0),
            calls: AtomicU64::new(0),
            seen: AtomicU64::new(0),
            loop_spin: Budget::new(LOOP_SPIN),
            caller_spin: Budget::new(CALLER_SPIN),
            awaiter_spin: Budget::new(AWAITER_SPIN),
        }
    }

    /// On the loop thread, before its selector blocks on the epoll instance `epfd` for
    /// `timeout` seconds (None: no bound): if a blocking call came since the last time, looks
    /// for the next (GIL released) for a bounded time, and once one is ready, waits for
    /// a blocking caller that handed it over to let go of the GIL.
    #[pyo3(signature = (epfd, timeout))]
    fn idle(&self, py: Python<'_>, epfd: i32, timeout: Option<f64>) {
        self.attached.store(true, Ordering::Relaxed);
        let calls = self.calls.load(Ordering::Relaxed);
        if self.seen.swap(calls, Ordering::Relaxed) == calls {
            self.loop_free.store(true, Ordering::SeqCst);
            return;
        }
        let cap = match timeout {
            Some(t) if t < LOOP_SPIN.as_secs_f64() => Duration::from_secs_f64(t.max(0.0)),
            _ => LOOP_SPIN,
        };
        py.detach(|| {
            self.loop_free.store(true, Ordering::SeqCst);
            if self.loop_spin.spin(cap, || epoll_ready(epfd)) {
                spin_until(GIL_SPIN, || self.coming.load(Ordering::SeqCst) == 0);
            }
        });
    }

    /// The spin bounds now, in ns: the loop thread's, blocking callers' and awaiting
    /// callers' (for tests).
    fn _budgets(&self) -> (u64, u64, u64) {
        (
            self.loop_spin.ns.load(Ordering::Relaxed),
            self.caller_spin.ns.load(Ordering::Relaxed),
            self.awaiter_spin.ns.load(Ordering::Relaxed),
        )
    }

    /// On the loop thread, once its selector has returned.
    fn busy(&self) {
        self.loop_free.store(false, Ordering::SeqCst);
    }

    /// A blocking call: `schedule(call)` hands it over, then waits for `done` (spinning
    /// first, GIL released, then sleeping); once it is set, waits a little for the loop
    /// thread to let go of the GIL. Ctrl-C on the main thread interrupts the sleep as in
    /// `Event.wait()`.
    fn call(
        &self,
        py: Python<'_>,
        schedule: &Bound<'_, PyAny>,
        call: &Bound<'_, PyAny>,
        done: &Event,
    ) -> PyResult<()> {
        if !self.hand(py, schedule, call, done, &self.caller_spin)? {
            bridge::block(py, done.core().wait(), None)?;
        }
        Ok(())
    }

    /// An awaited call, from another event loop's thread: `schedule(call)` hands it
    /// over, then spins for `done` for a few tens of µs at most (GIL released; the
    /// bound shrinks to nothing while results come later than that). True if it is
    /// set; else the caller awaits it on its loop.
    fn call_awaited(
        &self,
        py: Python<'_>,
        schedule: &Bound<'_, PyAny>,
        call: &Bound<'_, PyAny>,
        done: &Event,
    ) -> PyResult<bool> {
        self.hand(py, schedule, call, done, &self.awaiter_spin)
    }
}

impl Handover {
    /// Hands `call` over with `schedule` and spins for `done` within `budget`; whether it
    /// was set (then also waits a little for the loop thread to let go of the GIL).
    fn hand(
        &self,
        py: Python<'_>,
        schedule: &Bound<'_, PyAny>,
        call: &Bound<'_, PyAny>,
        done: &Event,
        budget: &Budget,
    ) -> PyResult<bool> {
        let coming = more(&self.coming);
        self.calls.fetch_add(1, Ordering::Relaxed);
        schedule.call1((call,))?;
        let ev = done.core();
        Ok(py.detach(|| {
            drop(coming);
            let set = budget.spin(budget.max, || ev.is_set());
            if set && self.attached.load(Ordering::Relaxed) {
                spin_until(GIL_SPIN, || self.loop_free.load(Ordering::SeqCst));
            }
            set
        }))
    }
}
