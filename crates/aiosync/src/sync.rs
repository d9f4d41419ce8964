//! One facade for std vs loom, so the rest of the crate never names `std::sync` directly.
//!
//! Under `--cfg loom` every atomic, the internal lock, thread parking and the clock come
//! from loom (or are made deterministic), so the model tests explore the real code.

#[cfg(not(loom))]
mod imp {
    pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
    pub(crate) use std::thread::{current as current_thread, park, park_timeout, Thread};
    pub(crate) use std::time::Instant;

    /// The internal lock guarding each wait list: short critical sections, never held
    /// while a waker runs.
    pub(crate) type Lock<T> = parking_lot::Mutex<T>;
    pub(crate) type LockGuard<'a, T> = parking_lot::MutexGuard<'a, T>;

    #[inline]
    pub(crate) fn lock<T>(m: &Lock<T>) -> LockGuard<'_, T> {
        m.lock()
    }

    #[inline]
    pub(crate) fn now() -> Instant {
        Instant::now()
    }

    #[inline]
    pub(crate) fn spin_loop() {
        std::hint::spin_loop()
    }

    #[inline]
    pub(crate) fn yield_now() {
        std::thread::yield_now()
    }

    macro_rules! thread_local_impl {
        ($($t:tt)*) => { std::thread_local!($($t)*); };
    }
    pub(crate) use thread_local_impl as thread_local;
}

#[cfg(loom)]
mod imp {
    pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
    pub(crate) use loom::thread::{current as current_thread, park, Thread};
    pub(crate) use std::time::Instant;

    pub(crate) type Lock<T> = loom::sync::Mutex<T>;
    pub(crate) type LockGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

    pub(crate) fn lock<T>(m: &Lock<T>) -> LockGuard<'_, T> {
        m.lock().unwrap()
    }

    /// Loom does not model time: every waiter looks freshly queued, so the model explores
    /// the barging paths; `kernel::set_always_fair` makes it explore the handoff paths.
    pub(crate) fn now() -> Instant {
        use std::sync::OnceLock;
        static EPOCH: OnceLock<Instant> = OnceLock::new();
        *EPOCH.get_or_init(Instant::now)
    }

    pub(crate) fn park_timeout(_: std::time::Duration) {
        loom::thread::park()
    }

    pub(crate) fn spin_loop() {
        loom::thread::yield_now()
    }

    pub(crate) fn yield_now() {
        loom::thread::yield_now()
    }

    // loom's thread_local! has no `const { .. }` form: drop the `const`.
    macro_rules! thread_local_impl {
        ($(#[$a:meta])* static $name:ident: $t:ty = const { $init:expr };) => {
            loom::thread_local!($(#[$a])* static $name: $t = $init;);
        };
        ($($t:tt)*) => { loom::thread_local!($($t)*); };
    }
    pub(crate) use thread_local_impl as thread_local;
}

pub(crate) use imp::*;
