//! The facade runtime: a tokio runtime on its own thread, and the blocking calls into it.

use super::{CallError, Iter, Stream, Task};
use crate::kernel::block;
use crate::kernel::scoped::forward_scoped;
use crate::Event;
use std::cell::Cell;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex, Weak};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::runtime::Handle;

thread_local! {
    // The facade whose runtime thread this is (0: none).
    static RUNTIME_OF: Cell<u64> = const { Cell::new(0) };
    // The facade driving a call on this thread right now (0: none).
    static DRIVING: Cell<u64> = const { Cell::new(0) };
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A blocking front door to async code: a tokio runtime on a thread of its own, which
/// drives I/O, timers and spawned tasks, and [`block_on`](Runtime::block_on) to call
/// into it from synchronous code.
///
/// A call from a plain thread polls the future **on the calling thread**, with the
/// runtime's context entered: the runtime thread only delivers readiness, so several
/// threads make progress in parallel and a call costs little more than the future's
/// own work. A call from inside some tokio context (someone else's runtime) is
/// forwarded to the runtime thread instead, and the caller blocks until it is done.
///
/// Clones share one runtime. It stops when the last clone is dropped (on its own
/// thread, waiting at most the shutdown timeout), or at [`shutdown`](Runtime::shutdown).
///
/// ```
/// use aiosync::facade::Runtime;
/// use std::time::Duration;
///
/// let rt = Runtime::new()?;
/// let v = rt.block_on(async {
///     tokio::time::sleep(Duration::from_millis(1)).await; // tokio's timer works
///     41 + 1
/// })?;
/// assert_eq!(v, 42);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Runtime {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    id: u64,
    pub(super) handle: Handle,
    closed: AtomicBool,
    stop: Arc<Event>,
    exited: Arc<Event>,
    thread: StdMutex<Option<JoinHandle<()>>>,
    shutdown_timeout: Duration,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("id", &self.inner.id)
            .field("closed", &self.inner.closed.load(Ordering::Relaxed))
            .finish()
    }
}

/// Settings of a new [`Runtime`]: the name of its thread and how long stopping it may
/// wait for its tasks and blocking jobs.
///
/// ```
/// use std::time::Duration;
/// let rt = aiosync::facade::Runtime::builder()
///     .thread_name("my-client")
///     .shutdown_timeout(Duration::from_millis(100))
///     .build()?;
/// assert_eq!(rt.block_on(async { 1 })?, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    thread_name: String,
    shutdown_timeout: Duration,
}

impl Builder {
    /// The name of the runtime thread (default `aiosync-facade`).
    pub fn thread_name(mut self, name: impl Into<String>) -> Builder {
        self.thread_name = name.into();
        self
    }

    /// How long stopping the runtime waits for its blocking jobs to end (default 1 s).
    /// Its async tasks are dropped at once.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Builder {
        self.shutdown_timeout = timeout;
        self
    }

    /// Starts the runtime thread.
    ///
    /// # Errors
    ///
    /// The OS refused a thread, or tokio its I/O driver.
    pub fn build(self) -> std::io::Result<Runtime> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let handle = rt.handle().clone();
        let stop = Arc::new(Event::new());
        let exited = Arc::new(Event::new());
        let timeout = self.shutdown_timeout;
        let thread = {
            let (stop, exited) = (stop.clone(), exited.clone());
            std::thread::Builder::new()
                .name(self.thread_name)
                .spawn(move || {
                    RUNTIME_OF.with(|c| c.set(id));
                    rt.block_on(stop.wait());
                    // Outside any context now: dropping a runtime is allowed here.
                    rt.shutdown_timeout(timeout);
                    exited.set();
                })?
        };
        Ok(Runtime {
            inner: Arc::new(Inner {
                id,
                handle,
                closed: AtomicBool::new(false),
                stop,
                exited,
                thread: StdMutex::new(Some(thread)),
                shutdown_timeout: timeout,
            }),
        })
    }
}

impl Runtime {
    /// A new runtime with default settings (see [`Builder`]).
    ///
    /// # Errors
    ///
    /// The OS refused a thread, or tokio its I/O driver.
    ///
    /// ```
    /// let rt = aiosync::facade::Runtime::new()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new() -> std::io::Result<Runtime> {
        Runtime::builder().build()
    }

    /// Settings for a new runtime.
    ///
    /// ```
    /// let rt = aiosync::facade::Runtime::builder().thread_name("db").build()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn builder() -> Builder {
        Builder {
            thread_name: "aiosync-facade".into(),
            shutdown_timeout: Duration::from_secs(1),
        }
    }

    /// The process-wide runtime: every caller gets a handle to the same one while any
    /// handle lives; it stops when the last one is dropped (the next call starts a new
    /// one).
    ///
    /// # Panics
    ///
    /// If the runtime cannot be started (the OS refused a thread), as
    /// `std::thread::spawn` does.
    ///
    /// ```
    /// use aiosync::facade::Runtime;
    /// let (a, b) = (Runtime::shared(), Runtime::shared());
    /// assert!(a.same_as(&b));
    /// ```
    pub fn shared() -> Runtime {
        static SHARED: StdMutex<Weak<Inner>> = StdMutex::new(Weak::new());
        let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(inner) = shared.upgrade() {
            if !inner.closed.load(Ordering::Acquire) {
                return Runtime { inner };
            }
        }
        let rt = Runtime::builder()
            .thread_name("aiosync-facade-shared")
            .build()
            .expect("failed to start the shared aiosync facade runtime");
        *shared = Arc::downgrade(&rt.inner);
        rt
    }

    /// Whether both handles name the same runtime.
    ///
    /// ```
    /// let rt = aiosync::facade::Runtime::new()?;
    /// assert!(rt.same_as(&rt.clone()));
    /// assert!(!rt.same_as(&aiosync::facade::Runtime::new()?));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn same_as(&self, other: &Runtime) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// The tokio handle of the runtime (to spawn on it, or enter its context).
    ///
    /// ```
    /// let rt = aiosync::facade::Runtime::new()?;
    /// let _guard = rt.handle().enter(); // tokio types can be made here
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn handle(&self) -> &Handle {
        &self.inner.handle
    }

    /// Runs `fut` to completion and returns its output, blocking the calling thread.
    ///
    /// From a plain thread the future is polled right here, with the runtime's context
    /// entered (tokio's I/O, timers and `tokio::spawn` work). From inside a tokio
    /// context it is run on the runtime thread while this thread blocks; the future may
    /// borrow either way. A panic of the future is resumed here with its payload; the
    /// runtime keeps working.
    ///
    /// Make tokio's futures inside the call (`async { sleep(d).await }`, or an async fn
    /// call): `tokio::time::sleep(d)` looks for its runtime when it is made, which for an
    /// argument is before the context is entered.
    ///
    /// # Errors
    ///
    /// - [`CallError::InRuntime`] on the runtime's own thread (a task of it), or from
    ///   inside a call this runtime is driving on this thread: waiting would hang.
    /// - [`CallError::Shutdown`] after [`shutdown`](Runtime::shutdown), or if the
    ///   runtime stops while the call runs (the future is dropped).
    ///
    /// ```
    /// let rt = aiosync::facade::Runtime::new()?;
    /// let name = String::from("borrowed");
    /// assert_eq!(rt.block_on(async { name.len() })?, 8);
    ///
    /// // Nested in a call the runtime drives: refused, not a hang.
    /// let nested = rt.block_on(async { rt.block_on(async { 1 }) })?;
    /// assert_eq!(nested, Err(aiosync::facade::CallError::InRuntime));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn block_on<F>(&self, fut: F) -> Result<F::Output, CallError>
    where
        F: Future + Send,
        F::Output: Send,
    {
        let id = self.inner.id;
        if RUNTIME_OF.with(Cell::get) == id || DRIVING.with(Cell::get) == id {
            return Err(CallError::InRuntime);
        }
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(CallError::Shutdown);
        }
        if Handle::try_current().is_err() {
            // The fast path: poll here. The guards restore the previous state even if
            // the future panics (the panic goes on to the caller, payload intact).
            let _enter = self.inner.handle.enter();
            let _driving = Driving::enter(id);
            let closed = &self.inner.closed;
            let mut fut = std::pin::pin!(fut);
            // Checked before every poll: a shutdown sets `closed` before it stops the
            // drivers, and stopping them wakes what waits on them, so a call in flight
            // ends with `Shutdown` instead of polling a timer or socket whose driver is
            // gone (tokio would panic there).
            let guarded = std::future::poll_fn(|cx| {
                if closed.load(Ordering::Acquire) {
                    return std::task::Poll::Ready(Err(CallError::Shutdown));
                }
                fut.as_mut().poll(cx).map(Ok)
            });
            return block::block_on(guarded, None).expect("no deadline was given");
        }
        self.forward(fut)
    }

    /// Runs `fut` on the runtime thread and blocks until it has been dropped.
    fn forward<F>(&self, fut: F) -> Result<F::Output, CallError>
    where
        F: Future + Send,
        F::Output: Send,
    {
        let handle = &self.inner.handle;
        match forward_scoped(fut, |task| drop(handle.spawn(task))) {
            Some(Ok(v)) => Ok(v),
            Some(Err(payload)) => std::panic::resume_unwind(payload),
            None => Err(CallError::Shutdown),
        }
    }

    /// `fut` polled with the runtime's context entered at every poll, so that an
    /// executor other than tokio (or a tokio runtime other than this one) can poll a
    /// future that uses this runtime's I/O, timers or `tokio::spawn`. What the future
    /// waits for is delivered by the runtime thread.
    ///
    /// # Cancel safety
    ///
    /// As cancel safe as `fut`: dropping the returned future drops `fut`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = aiosync::facade::Runtime::new()?;
    /// // futures_lite's executor knows nothing of tokio; the timer works anyway.
    /// futures_lite::future::block_on(rt.in_context(async {
    ///     tokio::time::sleep(Duration::from_millis(1)).await
    /// }));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn in_context<F: Future>(&self, fut: F) -> impl Future<Output = F::Output> {
        let handle = self.inner.handle.clone();
        async move {
            let mut fut = std::pin::pin!(fut);
            std::future::poll_fn(|cx| {
                let _enter = handle.enter();
                fut.as_mut().poll(cx)
            })
            .await
        }
    }

    /// Spawns `fut` on the runtime; the [`Task`] joins it (blocking or awaited),
    /// detaches it, or cancels it when dropped. Works from any thread, the runtime's
    /// own included.
    ///
    /// ```
    /// let rt = aiosync::facade::Runtime::new()?;
    /// let task = rt.spawn(async { 6 * 7 });
    /// assert_eq!(task.join()?, 42);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn spawn<F>(&self, fut: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Task::new(self.inner.handle.spawn(fut), Some(self.clone()))
    }

    /// Runs the blocking `f` on the runtime's blocking pool; the [`Task`] waits for it.
    /// A job that has started cannot be cancelled: dropping its task only forgets it.
    ///
    /// ```
    /// let rt = aiosync::facade::Runtime::new()?;
    /// assert_eq!(rt.unblock(|| 2 + 2).join()?, 4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn unblock<F, T>(&self, f: F) -> Task<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        Task::new(self.inner.handle.spawn_blocking(f), Some(self.clone()))
    }

    /// Turns a stream into a blocking iterator: each `next` is a
    /// [`block_on`](Runtime::block_on) of the stream's next item.
    ///
    /// ```
    /// use aiosync::facade::Runtime;
    /// let rt = Runtime::new()?;
    /// let items: Vec<u32> = rt.iter(futures_lite::stream::iter([1, 2, 3])).collect();
    /// assert_eq!(items, [1, 2, 3]);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn iter<S: Stream>(&self, stream: S) -> Iter<S> {
        Iter::new(stream, self.clone())
    }

    /// Whether the runtime has been shut down.
    ///
    /// ```
    /// let rt = aiosync::facade::Runtime::new()?;
    /// rt.shutdown();
    /// assert!(rt.is_shutdown());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_shutdown(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }

    /// Stops the runtime for every handle: its tasks are dropped, its blocking jobs
    /// get the shutdown timeout to end, and later calls return [`CallError::Shutdown`].
    /// Waits (at most about the shutdown timeout) for the runtime thread to end, unless
    /// called on that thread.
    ///
    /// ```
    /// use aiosync::facade::{CallError, Runtime};
    /// let rt = Runtime::new()?;
    /// rt.shutdown();
    /// assert_eq!(rt.block_on(async { 1 }), Err(CallError::Shutdown));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn shutdown(&self) {
        self.inner.shutdown();
    }

    pub(super) fn is_current_runtime_thread(&self) -> bool {
        RUNTIME_OF.with(Cell::get) == self.inner.id || DRIVING.with(Cell::get) == self.inner.id
    }
}

impl Inner {
    fn shutdown(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        self.stop.set();
        if RUNTIME_OF.with(Cell::get) == self.id {
            // Dropped by a task of the runtime: it cannot wait for itself; the thread
            // ends on its own once that task yields.
            return;
        }
        // Bounded: the blocking jobs get the timeout, and a little more for the rest.
        let bound = self.shutdown_timeout + Duration::from_millis(500);
        if self.exited.wait_blocking_timeout(bound) {
            let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some(t) = thread {
                let _ = t.join();
            }
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Marks this thread as driving a call of facade `id` (restored on drop, unwinding too).
struct Driving(u64);

impl Driving {
    fn enter(id: u64) -> Driving {
        Driving(DRIVING.with(|c| c.replace(id)))
    }
}

impl Drop for Driving {
    fn drop(&mut self) {
        DRIVING.with(|c| c.set(self.0));
    }
}
