//! Send / Sync / Unpin of every public type (after tokio's `tests/async_send_sync.rs`).
//!
//! Each `assert_value!` line is checked at compile time: a positive trait must hold, and
//! a `Not…` trait must *not* hold (the `AmbiguousIf…` traits below make the call
//! ambiguous, hence a compile error, if it does). The `#[test]`s at the end then use the
//! futures and guards for real in `tokio::spawn`ed tasks.
//!
//! What the matrix records (`T` is the protected value):
//!
//! | type | Send | Sync |
//! | --- | --- | --- |
//! | `Mutex<T>`, `Lock<'_, T>`, `LockArc<T>` | `T: Send` | `T: Send` |
//! | `MutexGuard<'_, T>`, `MutexGuardArc<T>` | `T: Send` (unlike std: may be held across `.await` in a spawned task) | `T: Send + Sync` / `T: Sync` |
//! | `ConditionWait<'_, T>` | `T: Send` | `T: Send + Sync` |
//! | `ReentrantMutex<T>`, `ReentrantLock<'_, T>`, `ReentrantLockArc<T>` | `T: Send` | `T: Send` |
//! | `ReentrantMutexGuard<'_, T>` (only gives `&T`) | `T: Sync` | `T: Sync` |
//! | `ReentrantMutexGuardArc<T>` | `T: Send + Sync` | `T: Send + Sync` |
//! | `task::Scoped<F>` | `F: Send` | `F: Sync` |
//! | `ExternalLockError<E>` (`E`: the external lock's error) | `E: Send` | `E: Sync` |
//! | everything else | always | always |
//!
//! So, for example, `MutexGuard<'_, Cell<u32>>`, `MutexGuardArc<Cell<u32>>` and
//! `ConditionWait<'_, Cell<u32>>` are `!Sync`, `ReentrantMutexGuard(Arc)<Cell<u32>>` are
//! `!Send + !Sync` (while `ReentrantMutex<Cell<u32>>` itself is `Send + Sync`), and every
//! type over an `Rc` is `!Send + !Sync`. Every future and guard is `Unpin` (except
//! `Scoped<F>` for a `!Unpin` `F`).

#![allow(dead_code, unreachable_code, unused_variables)]
#![allow(clippy::diverging_sub_expression, clippy::let_unit_value)]

mod common;

use aiosync::task::{self, OwnerId, Scoped};
use aiosync::{
    Acquire, AcquireArc, Barrier, BarrierWait, BarrierWaitResult, BrokenBarrierError, Condition,
    ConditionWait, Event, EventWait, ExternalLockError, Lock, LockArc, Mutex, MutexGuard,
    MutexGuardArc, NoTaskIdError, PermitOverflowError, ReentrantLock, ReentrantLockArc,
    ReentrantMutex, ReentrantMutexGuard, ReentrantMutexGuardArc, Semaphore, SemaphoreGuard,
    SemaphoreGuardArc, ZeroPartiesError,
};
use common::*;
use std::cell::Cell;
use std::marker::PhantomPinned;
use std::rc::Rc;
use std::sync::Arc;

type Ready<T> = std::future::Ready<T>;

fn require_send<T: Send>(_: &T) {}
fn require_sync<T: Sync>(_: &T) {}
fn require_unpin<T: Unpin>(_: &T) {}

/// `AmbiguousIfSend::some_item(&x)` compiles only if `x`'s type is *not* `Send`: for a
/// `Send` type both impls apply and the call is ambiguous.
trait AmbiguousIfSend<A> {
    fn some_item(&self) {}
}
impl<T: ?Sized> AmbiguousIfSend<()> for T {}
impl<T: ?Sized + Send> AmbiguousIfSend<u8> for T {}

/// As [`AmbiguousIfSend`], for `Sync`.
trait AmbiguousIfSync<A> {
    fn some_item(&self) {}
}
impl<T: ?Sized> AmbiguousIfSync<()> for T {}
impl<T: ?Sized + Sync> AmbiguousIfSync<u8> for T {}

/// As [`AmbiguousIfSend`], for `Unpin`.
trait AmbiguousIfUnpin<A> {
    fn some_item(&self) {}
}
impl<T: ?Sized> AmbiguousIfUnpin<()> for T {}
impl<T: ?Sized + Unpin> AmbiguousIfUnpin<u8> for T {}

/// One trait check on a value: `Send` / `NotSend`, `Sync` / `NotSync`, `Unpin` / `NotUnpin`.
macro_rules! check {
    (Send, $v:ident) => {
        require_send(&$v)
    };
    (NotSend, $v:ident) => {
        AmbiguousIfSend::some_item(&$v)
    };
    (Sync, $v:ident) => {
        require_sync(&$v)
    };
    (NotSync, $v:ident) => {
        AmbiguousIfSync::some_item(&$v)
    };
    (Unpin, $v:ident) => {
        require_unpin(&$v)
    };
    (NotUnpin, $v:ident) => {
        AmbiguousIfUnpin::some_item(&$v)
    };
}

/// `assert_value!(Type: Send, NotSync, Unpin);` — checked at compile time, never run.
macro_rules! assert_value {
    ($type:ty: $($tr:ident),+ $(,)?) => {
        const _: fn() = || {
            let value: $type = todo!();
            $( check!($tr, value); )+
        };
    };
}

/// The same for a value whose type cannot be named (an `async fn`'s future):
/// `assert_expr!(x: Type => expr(x) => Send, ...)` checks `expr`, where `x: &'static Type`.
/// Checked at compile time, never run.
macro_rules! assert_expr {
    ($recv:ident: $rty:ty => $make:expr => $($tr:ident),+ $(,)?) => {
        const _: fn() = || {
            let $recv: &'static $rty = todo!();
            let value = $make;
            $( check!($tr, value); )+
        };
    };
}

// ---------------------------------------------------------------------------------------
// Mutex

assert_value!(Mutex<u32>: Send, Sync, Unpin);
assert_value!(Mutex<Cell<u32>>: Send, Sync, Unpin);
assert_value!(Mutex<Rc<u32>>: NotSend, NotSync, Unpin);
assert_value!(Mutex<PhantomPinned>: Send, Sync, NotUnpin);

assert_value!(MutexGuard<'_, u32>: Send, Sync, Unpin);
assert_value!(MutexGuard<'_, Cell<u32>>: Send, NotSync, Unpin);
assert_value!(MutexGuard<'_, Rc<u32>>: NotSend, NotSync, Unpin);
assert_value!(MutexGuard<'_, PhantomPinned>: Send, Sync, Unpin);

assert_value!(MutexGuardArc<u32>: Send, Sync, Unpin);
assert_value!(MutexGuardArc<Cell<u32>>: Send, NotSync, Unpin);
assert_value!(MutexGuardArc<Rc<u32>>: NotSend, NotSync, Unpin);

assert_value!(Lock<'_, u32>: Send, Sync, Unpin);
assert_value!(Lock<'_, Cell<u32>>: Send, Sync, Unpin);
assert_value!(Lock<'_, Rc<u32>>: NotSend, NotSync, Unpin);
assert_value!(Lock<'_, PhantomPinned>: Send, Sync, Unpin);

assert_value!(LockArc<u32>: Send, Sync, Unpin);
assert_value!(LockArc<Cell<u32>>: Send, Sync, Unpin);
assert_value!(LockArc<Rc<u32>>: NotSend, NotSync, Unpin);

// ---------------------------------------------------------------------------------------
// ReentrantMutex

assert_value!(ReentrantMutex<u32>: Send, Sync, Unpin);
// Sync for `T: Send` (guards are then !Send; `*_as(owner)` needs `T: Sync`).
assert_value!(ReentrantMutex<Cell<u32>>: Send, Sync, Unpin);
assert_value!(ReentrantMutex<Rc<u32>>: NotSend, NotSync, Unpin);

assert_value!(ReentrantMutexGuard<'_, u32>: Send, Sync, Unpin);
assert_value!(ReentrantMutexGuard<'_, Cell<u32>>: NotSend, NotSync, Unpin);
assert_value!(ReentrantMutexGuard<'_, Rc<u32>>: NotSend, NotSync, Unpin);
// Sync but !Send: the guard only hands out `&T`, so `T: Sync` is what it needs.
assert_value!(ReentrantMutexGuard<'_, std::sync::MutexGuard<'static, u32>>: Send, Sync, Unpin);
assert_value!(ReentrantMutexGuardArc<std::sync::MutexGuard<'static, u32>>: NotSend, NotSync, Unpin);

assert_value!(ReentrantMutexGuardArc<u32>: Send, Sync, Unpin);
assert_value!(ReentrantMutexGuardArc<Cell<u32>>: NotSend, NotSync, Unpin);
assert_value!(ReentrantMutexGuardArc<Rc<u32>>: NotSend, NotSync, Unpin);

assert_value!(ReentrantLock<'_, u32>: Send, Sync, Unpin);
assert_value!(ReentrantLock<'_, Cell<u32>>: Send, Sync, Unpin);
assert_value!(ReentrantLock<'_, Rc<u32>>: NotSend, NotSync, Unpin);

assert_value!(ReentrantLockArc<u32>: Send, Sync, Unpin);
assert_value!(ReentrantLockArc<Cell<u32>>: Send, Sync, Unpin);
assert_value!(ReentrantLockArc<Rc<u32>>: NotSend, NotSync, Unpin);

// ---------------------------------------------------------------------------------------
// Semaphore

assert_value!(Semaphore: Send, Sync, Unpin);
assert_value!(SemaphoreGuard<'_>: Send, Sync, Unpin);
assert_value!(SemaphoreGuardArc: Send, Sync, Unpin);
assert_value!(Acquire<'_>: Send, Sync, Unpin);
assert_value!(AcquireArc: Send, Sync, Unpin);
assert_value!(PermitOverflowError: Send, Sync, Unpin);

// ---------------------------------------------------------------------------------------
// Event, Condition, Barrier

assert_value!(Event: Send, Sync, Unpin);
assert_value!(EventWait<'_>: Send, Sync, Unpin);

assert_value!(Condition: Send, Sync, Unpin);
assert_value!(ConditionWait<'_, u32>: Send, Sync, Unpin);
assert_value!(ConditionWait<'_, Cell<u32>>: Send, NotSync, Unpin);
assert_value!(ConditionWait<'_, Rc<u32>>: NotSend, NotSync, Unpin);
assert_value!(ConditionWait<'_, PhantomPinned>: Send, Sync, Unpin);
assert_value!(ExternalLockError<u32>: Send, Sync, Unpin);
assert_value!(ExternalLockError<Rc<u32>>: NotSend, NotSync, Unpin);

assert_value!(Barrier: Send, Sync, Unpin);
assert_value!(BarrierWait<'_>: Send, Sync, Unpin);
assert_value!(BarrierWaitResult: Send, Sync, Unpin);
assert_value!(BrokenBarrierError: Send, Sync, Unpin);
assert_value!(ZeroPartiesError: Send, Sync, Unpin);

// ---------------------------------------------------------------------------------------
// task

assert_value!(OwnerId: Send, Sync, Unpin);
assert_value!(NoTaskIdError: Send, Sync, Unpin);
assert_value!(Scoped<Ready<u32>>: Send, Sync, Unpin);
assert_value!(Scoped<Ready<Rc<u32>>>: NotSend, NotSync, Unpin);
assert_value!(Scoped<Ready<Cell<u32>>>: Send, NotSync, Unpin);
assert_value!(Scoped<PhantomPinned>: Send, Sync, NotUnpin);

// ---------------------------------------------------------------------------------------
// the futures as the methods return them (including `async fn`s, whose types have no name)

assert_expr!(m: Mutex<u32> => m.lock() => Send, Sync, Unpin);
assert_expr!(m: Mutex<Cell<u32>> => m.lock() => Send, Sync, Unpin);
assert_expr!(m: Mutex<Rc<u32>> => m.lock() => NotSend, NotSync, Unpin);
assert_expr!(m: Arc<Mutex<u32>> => m.lock_arc() => Send, Sync, Unpin);
assert_expr!(m: ReentrantMutex<u32> => m.lock() => Send, Sync, Unpin);
assert_expr!(m: ReentrantMutex<u32> => m.lock_as(OwnerId::new_unique()) => Send, Sync, Unpin);
assert_expr!(m: Arc<ReentrantMutex<u32>> => m.lock_arc() => Send, Sync, Unpin);
assert_expr!(s: Semaphore => s.acquire() => Send, Sync, Unpin);
assert_expr!(s: Semaphore => s.acquire_many(2) => Send, Sync, Unpin);
assert_expr!(s: Arc<Semaphore> => s.acquire_arc() => Send, Sync, Unpin);
assert_expr!(s: Arc<Semaphore> => s.acquire_many_arc(2) => Send, Sync, Unpin);
assert_expr!(e: Event => e.wait() => Send, Sync, Unpin);
assert_expr!(b: Barrier => b.wait() => Send, Sync, Unpin);
assert_expr!(p: (Mutex<u32>, Condition) => p.1.wait(p.0.lock_blocking()) => Send, Sync, Unpin);
assert_expr!(p: (Mutex<Cell<u32>>, Condition) => p.1.wait(p.0.lock_blocking()) => Send, NotSync);
// `wait_for` is an `async fn`: its future is Send when `T` and the predicate are.
assert_expr!(p: (Mutex<u32>, Condition) => p.1.wait_for(p.0.lock_blocking(), |v| *v > 0)
    => Send, Sync, NotUnpin);
assert_expr!(p: (Mutex<Cell<u32>>, Condition) => p.1.wait_for(p.0.lock_blocking(), |v| v.get() > 0)
    => Send, NotSync);
assert_expr!(p: (Mutex<Rc<u32>>, Condition) => p.1.wait_for(p.0.lock_blocking(), |v| **v > 0)
    => NotSend, NotSync);
assert_expr!(p: (Mutex<u32>, Condition) => {
    let local = Rc::new(0u32); // a `!Send` predicate makes the future `!Send`
    p.1.wait_for(p.0.lock_blocking(), move |v| *v > *local)
} => NotSend, NotSync);
assert_expr!(u: () => task::scope(async { 1 }) => Send, Sync, NotUnpin);
assert_expr!(u: () => task::scope(std::future::ready(Rc::new(1))) => NotSend, NotSync, Unpin);

// ---------------------------------------------------------------------------------------
// and for real: the futures and guards in spawned tokio tasks

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guards_held_across_await_in_spawned_tasks() {
    within(async {
        let m = Arc::new(Mutex::new(0u32));
        let rm = Arc::new(ReentrantMutex::new(AtomicCounter::default()));
        let sem = Arc::new(Semaphore::new(2));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (m, rm, sem) = (m.clone(), rm.clone(), sem.clone());
                tokio::spawn(async move {
                    {
                        let mut g = m.lock().await;
                        tokio::task::yield_now().await; // a MutexGuard across .await
                        *g += 1;
                    }
                    {
                        let mut g = m.lock_arc().await;
                        tokio::task::yield_now().await;
                        *g += 1;
                    }
                    {
                        let p = sem.acquire().await;
                        tokio::task::yield_now().await;
                        assert_eq!(p.permits(), 1);
                    }
                    {
                        let p = sem.acquire_arc().await;
                        tokio::task::yield_now().await;
                        assert_eq!(p.permits(), 1);
                    }
                    task::scope(async {
                        let a = rm.lock().await.unwrap();
                        tokio::task::yield_now().await;
                        let b = rm.lock().await.unwrap(); // same task: reentrant
                        a.bump();
                        b.bump();
                    })
                    .await;
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*m.lock().await, 16);
        assert_eq!(sem.available_permits(), 2);
        assert_eq!(rm.lock_blocking().get(), 16);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waits_in_spawned_tasks() {
    within(async {
        let ev = Arc::new(Event::new());
        let pair = Arc::new((Mutex::new(0u32), Condition::new()));
        let barrier = Arc::new(Barrier::new(4));
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let (ev, pair, barrier) = (ev.clone(), pair.clone(), barrier.clone());
                tokio::spawn(async move {
                    ev.wait().await;
                    let (m, c) = &*pair;
                    let mut g = c.wait_for(m.lock().await, |v| *v > 0).await;
                    *g += 1;
                    drop(g);
                    barrier.wait().await.unwrap().index()
                })
            })
            .collect();
        ev.set();
        {
            let (m, c) = &*pair;
            *m.lock().await = 1;
            c.notify_all();
        }
        let mut idx = Vec::new();
        for t in tasks {
            idx.push(t.await.unwrap());
        }
        idx.sort_unstable();
        assert_eq!(idx, [0, 1, 2, 3]);
        assert_eq!(*pair.0.lock().await, 5);
    })
    .await;
}

/// A `Sync` counter for the reentrant mutex (whose guards only give `&T`).
#[derive(Default)]
struct AtomicCounter(std::sync::atomic::AtomicU32);

impl AtomicCounter {
    fn bump(&self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    fn get(&self) -> u32 {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[test]
fn matrix_compiles() {
    // The `assert_value!` / `assert_expr!` items above are the test; this just names one
    // of the helpers at run time so the file has a runnable test besides the tokio ones.
    let m = Mutex::new(1u32);
    let g = m.lock_blocking();
    require_send(&g);
    require_sync(&g);
    require_unpin(&g);
    let cell = Mutex::new(Cell::new(1u32));
    let g = cell.lock_blocking();
    require_send(&g);
    AmbiguousIfSync::some_item(&g); // MutexGuard<Cell<_>> is !Sync
}

/// `ReentrantMutex<T>` is `Sync` for every `T: Send` (as parking_lot's): every `&T` stays
/// on the thread of its owner. The `*_as(owner)` methods take an `OwnerId`, which can be
/// copied to another thread, so they exist only for `T: Sync`: with a `Cell` inside, a
/// second thread cannot re-enter with the same id. This is checked at compile time: the
/// trait below is implemented only where `try_lock_as` is callable.
#[test]
fn explicit_owner_locking_needs_a_sync_value() {
    trait LockAs {
        fn can_lock_as(&self) -> bool;
    }
    impl<T: Sync> LockAs for ReentrantMutex<T> {
        fn can_lock_as(&self) -> bool {
            self.try_lock_as(OwnerId::new_unique()).is_some()
        }
    }
    assert!(ReentrantMutex::new(0u32).can_lock_as());
    // `ReentrantMutex::new(Cell::new(0)).try_lock_as(..)` does not compile: `Cell` is not
    // `Sync`. Its thread-owned and task-owned locks still work:
    let m = ReentrantMutex::new(Cell::new(0u32));
    let a = m.lock_blocking();
    let b = m.lock_blocking();
    b.set(a.get() + 1);
    assert_eq!(a.get(), 1);
}
