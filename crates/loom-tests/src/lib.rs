//! Loom models of aiosync live in `tests/`; run them with `--cfg loom` (see README).
//! This library holds what the model files share.

#[cfg(loom)]
use std::future::Future;
#[cfg(loom)]
use std::pin::Pin;
#[cfg(loom)]
use std::task::{Context, Poll, Waker};

/// Checks `f` on every interleaving up to a preemption bound of 3 (each file then runs
/// in about a minute); `LOOM_MAX_PREEMPTIONS` raises it for a deeper search.
#[cfg(loom)]
pub fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(3);
    }
    b.check(f);
}

/// Runs `f` under [`model`] twice: once where running threads may barge, once where every
/// release hands over directly (the head waiter always counts as starving).
#[cfg(loom)]
pub fn both_modes(f: impl Fn() + Sync + Send + 'static) {
    let f = std::sync::Arc::new(f);
    for fair in [false, true] {
        let f = f.clone();
        aiosync::set_always_fair(fair);
        model(move || f());
    }
    aiosync::set_always_fair(false);
}

/// One poll of `f` with a waker that does nothing.
#[cfg(loom)]
pub fn poll_once<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
    Pin::new(f).poll(&mut Context::from_waker(Waker::noop()))
}
