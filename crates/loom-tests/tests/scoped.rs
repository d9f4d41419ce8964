//! Loom models of the facade's scoped forwarding (`forward_scoped`): a future borrowing
//! the caller's stack runs on another thread, and every access it makes to the borrowed
//! data happens before the caller returns, whether the executor runs the future to the
//! end, cancels it half-way, or drops it unpolled (a runtime that is shutting down).
//!
//! Run: `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test -p aiosync-loom-tests --release`
#![cfg(loom)]

use aiosync_loom_tests::model;

use aiosync::{forward_scoped, Forwarded};
use loom::cell::UnsafeCell;
use loom::thread;
use std::future::Future;
use std::pin::{pin, Pin};
use std::task::{Context, Poll, Waker};

/// Data on the caller's stack that the forwarded future writes through a shared borrow.
struct Borrowed(UnsafeCell<u32>);

// SAFETY: `Sync` lets the forwarded future reach the cell from the executor's thread;
// the accesses are what the model checks: loom's `UnsafeCell` fails the model if a
// write on one thread and an access on another are not ordered by a happens-before.
unsafe impl Sync for Borrowed {}

impl Borrowed {
    fn bump(&self) {
        // SAFETY: the one writer is the forwarded future; the caller reads only after
        // `forward_scoped` returns, and loom checks that ordering.
        self.0.with_mut(|p| unsafe { *p += 1 });
    }

    fn get(&self) -> u32 {
        // SAFETY: as in `bump`; loom checks the read is ordered after the write.
        self.0.with(|p| unsafe { *p })
    }
}

/// Pending once (waking itself), then ready.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// How the executor thread treats the forwarded future.
#[derive(Clone, Copy)]
enum Executor {
    RunToEnd,
    PollOnceThenDrop,
    DropUnpolled,
}

fn run(executor: Executor) {
    model(move || {
        let data = Borrowed(UnsafeCell::new(0));
        let mut thread = None;
        let out = forward_scoped(
            async {
                data.bump();
                YieldOnce(false).await;
                data.bump();
                7u32
            },
            |task: Forwarded| {
                thread = Some(thread::spawn(move || match executor {
                    Executor::RunToEnd => {
                        loom::future::block_on(task);
                    }
                    Executor::PollOnceThenDrop => {
                        let mut task = pin!(task);
                        let mut cx = Context::from_waker(Waker::noop());
                        assert!(task.as_mut().poll(&mut cx).is_pending());
                    }
                    Executor::DropUnpolled => drop(task),
                }));
            },
        );
        // The frame is about to be left: every write of the future must be visible.
        let seen = data.get();
        match executor {
            Executor::RunToEnd => {
                assert_eq!(out.map(|r| r.unwrap()), Some(7));
                assert_eq!(seen, 2);
            }
            Executor::PollOnceThenDrop => {
                assert!(out.is_none());
                assert_eq!(seen, 1);
            }
            Executor::DropUnpolled => {
                assert!(out.is_none());
                assert_eq!(seen, 0);
            }
        }
        thread.unwrap().join().unwrap();
    });
}

#[test]
fn scoped_forward_run_to_end() {
    run(Executor::RunToEnd);
}

#[test]
fn scoped_forward_cancelled_half_way() {
    run(Executor::PollOnceThenDrop);
}

#[test]
fn scoped_forward_dropped_unpolled() {
    run(Executor::DropUnpolled);
}
