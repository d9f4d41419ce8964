//! `aiosync::facade` on its own: the fast path and the forwarded path, misuse refused,
//! panics carried to the caller, shutdown, tasks, iterators and `unblock`.
#![cfg(feature = "facade")]

use aiosync::facade::{unblock, CallError, Runtime};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

#[test]
fn plain_thread_polls_on_the_calling_thread() {
    let rt = Runtime::new().unwrap();
    let me = std::thread::current().id();
    let (polled_on, slept) = rt
        .block_on(async {
            let t = Instant::now();
            tokio::time::sleep(Duration::from_millis(5)).await;
            (std::thread::current().id(), t.elapsed())
        })
        .unwrap();
    assert_eq!(polled_on, me);
    assert!(slept >= Duration::from_millis(5));
}

#[test]
fn four_threads_make_progress_in_parallel() {
    let rt = Runtime::new().unwrap();
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                // `async` first: tokio's `sleep` needs the context when it is made.
                rt.block_on(async { tokio::time::sleep(Duration::from_millis(100)).await })
                    .unwrap()
            });
        }
    });
    // Four 100 ms sleeps at once, not one after another.
    assert!(
        start.elapsed() < Duration::from_millis(350),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn a_call_inside_tokio_is_forwarded_and_may_borrow() {
    let rt = Runtime::new().unwrap();
    let outer = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let text = String::from("borrowed");
    let (len, thread) = outer.block_on(async {
        rt.block_on(async {
            tokio::time::sleep(Duration::from_millis(1)).await;
            (text.len(), std::thread::current().name().map(str::to_owned))
        })
        .unwrap()
    });
    assert_eq!(len, 8);
    assert_eq!(thread.as_deref(), Some("aiosync-facade"));
}

#[test]
fn nested_and_own_thread_calls_are_refused() {
    let rt = Runtime::new().unwrap();
    let nested = rt.block_on(async { rt.block_on(async { 1 }) }).unwrap();
    assert_eq!(nested, Err(CallError::InRuntime));

    let rt2 = rt.clone();
    let on_own_thread = rt
        .spawn(async move { rt2.block_on(async { 1 }) })
        .join()
        .unwrap();
    assert_eq!(on_own_thread, Err(CallError::InRuntime));

    // Joining a task of the runtime from one of its tasks: refused, not a hang.
    let rt3 = rt.clone();
    let join_inside = rt
        .spawn(async move { rt3.spawn(async { 1 }).join() })
        .join()
        .unwrap();
    assert_eq!(join_inside, Err(CallError::InRuntime));
    assert_eq!(rt.block_on(async { 2 }), Ok(2));
}

#[test]
fn panics_reach_the_caller_and_the_runtime_goes_on() {
    let rt = Runtime::new().unwrap();
    let err = catch_unwind(AssertUnwindSafe(|| {
        rt.block_on(async { panic!("fast path boom") })
    }))
    .unwrap_err();
    assert_eq!(err.downcast_ref::<&str>(), Some(&"fast path boom"));
    assert_eq!(rt.block_on(async { 1 }), Ok(1));

    let outer = tokio::runtime::Runtime::new().unwrap();
    let err = catch_unwind(AssertUnwindSafe(|| {
        outer.block_on(async { rt.block_on(async { panic!("forwarded boom") }) })
    }))
    .unwrap_err();
    assert_eq!(err.downcast_ref::<&str>(), Some(&"forwarded boom"));
    assert_eq!(outer.block_on(async { rt.block_on(async { 2 }) }), Ok(2));
    assert_eq!(rt.block_on(async { 3 }), Ok(3));
}

#[test]
fn shutdown_refuses_later_calls_and_cancels_tasks() {
    let rt = Runtime::builder()
        .thread_name("to-stop")
        .shutdown_timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let pending = rt.spawn(std::future::pending::<()>());
    let start = Instant::now();
    rt.shutdown();
    assert!(start.elapsed() < Duration::from_secs(1));
    assert!(rt.is_shutdown());
    assert_eq!(pending.join(), Err(CallError::Shutdown));
    assert_eq!(rt.block_on(async { 1 }), Err(CallError::Shutdown));
    assert_eq!(rt.spawn(async { 1 }).join(), Err(CallError::Shutdown));
}

#[test]
fn a_call_in_flight_ends_with_shutdown_not_a_panic() {
    let rt = Runtime::new().unwrap();
    let outer = tokio::runtime::Runtime::new().unwrap();
    std::thread::scope(|s| {
        let sleeping =
            s.spawn(|| rt.block_on(async { tokio::time::sleep(Duration::from_secs(30)).await }));
        let forwarded = s.spawn(|| {
            outer.block_on(async {
                rt.block_on(async { tokio::time::sleep(Duration::from_secs(30)).await })
            })
        });
        std::thread::sleep(Duration::from_millis(50));
        let t = Instant::now();
        rt.shutdown();
        assert_eq!(sleeping.join().unwrap(), Err(CallError::Shutdown));
        assert_eq!(forwarded.join().unwrap(), Err(CallError::Shutdown));
        assert!(t.elapsed() < Duration::from_secs(5));
    });
}

#[test]
fn dropping_the_last_handle_waits_a_bounded_time() {
    let rt = Runtime::builder()
        .shutdown_timeout(Duration::from_millis(50))
        .build()
        .unwrap();
    rt.unblock(|| std::thread::sleep(Duration::from_secs(3)))
        .detach();
    let t = Instant::now();
    drop(rt);
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
}

#[test]
fn send_sync_matrix() {
    fn send_sync<T: Send + Sync>() {}
    fn send_unpin<T: Send + Unpin>() {}
    send_sync::<Runtime>();
    send_sync::<CallError>();
    send_unpin::<aiosync::facade::Task<u32>>();
    send_unpin::<aiosync::facade::IterStream<u32>>();
    fn send<T: Send>() {}
    send::<aiosync::facade::Iter<futures_lite::stream::Iter<std::vec::IntoIter<u8>>>>();
    fn error<E: std::error::Error + Send + Sync + 'static>() {}
    error::<CallError>();
}

#[test]
fn created_used_and_dropped_inside_someone_elses_runtime() {
    let outer = tokio::runtime::Runtime::new().unwrap();
    outer.block_on(async {
        let rt = Runtime::new().unwrap();
        assert_eq!(rt.block_on(async { 5 }), Ok(5));
        drop(rt); // no "Cannot drop a runtime in a context where blocking is not allowed"
    });
}

#[test]
fn tasks_join_detach_cancel_and_time_out() {
    let rt = Runtime::new().unwrap();
    let mut slow = rt.spawn(async { tokio::time::sleep(Duration::from_secs(60)).await });
    assert_eq!(
        slow.join_timeout(Duration::from_millis(5)),
        Err(CallError::TimedOut)
    );
    assert!(!slow.is_finished());

    // Drop = cancel: the task's future is dropped.
    struct Flag(&'static AtomicUsize);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.fetch_add(1, SeqCst);
        }
    }
    static DROPPED: AtomicUsize = AtomicUsize::new(0);
    let flag = Flag(&DROPPED);
    drop(rt.spawn(async move {
        let _flag = flag;
        std::future::pending::<()>().await
    }));
    let t = Instant::now();
    while DROPPED.load(SeqCst) == 0 && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(DROPPED.load(SeqCst), 1);

    static RAN: AtomicUsize = AtomicUsize::new(0);
    rt.spawn(async { RAN.fetch_add(1, SeqCst) }).detach();
    let t = Instant::now();
    while RAN.load(SeqCst) == 0 && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(RAN.load(SeqCst), 1);
    assert_eq!(futures_lite::future::block_on(rt.spawn(async { 9 })), Ok(9));
}

#[test]
fn unblock_from_tokio_and_from_a_runtime_free_executor() {
    let outer = tokio::runtime::Runtime::new().unwrap();
    assert_eq!(outer.block_on(unblock(|| 1 + 1)), Ok(2));
    assert_eq!(futures_lite::future::block_on(unblock(|| 3)), Ok(3));
    let err = catch_unwind(AssertUnwindSafe(|| {
        futures_lite::future::block_on(unblock(|| panic!("job boom")))
    }))
    .unwrap_err();
    assert_eq!(err.downcast_ref::<&str>(), Some(&"job boom"));
}

#[test]
fn iter_reads_a_stream_and_drops_it_in_context() {
    let rt = Runtime::new().unwrap();
    let v: Vec<i32> = rt.iter(futures_lite::stream::iter(0..5)).collect();
    assert_eq!(v, [0, 1, 2, 3, 4]);
    let outer = tokio::runtime::Runtime::new().unwrap();
    let v: Vec<i32> = outer.block_on(async { rt.iter(futures_lite::stream::iter(0..3)).collect() });
    assert_eq!(v, [0, 1, 2]);
}
