//! The client: one command connection, one pub/sub thread that wakes waiters, one
//! heartbeat thread that renews every hold and makes every waiter re-check.

use crate::event::Event as RedisEvent;
use crate::gate::Gate;
use crate::hold::HoldState;
use crate::lock::{Lock, RwLock, Semaphore};
use crate::rlock::RLock;
use crate::scripts::Scripts;
use crate::Error;
use threads::{heartbeat, listen, spawn, watchdog};

mod conn;
mod threads;
mod wire;
use aiosync::Event;
use conn::Conn;
pub(crate) use conn::Via;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A connection to one Redis server, shared by every thread and task of the process.
///
/// Cloning is cheap and gives the same client. The client runs two threads: one listens
/// on its pub/sub channel and wakes the waiter a release handed a lock to; the other, a
/// heartbeat every third of the lease, renews every hold and makes every waiter re-check
/// (so a lost message or a crashed holder only delays a waiter by one beat).
///
/// ```no_run
/// use std::time::Duration;
/// let client = aiosync_redis::Client::open("redis://127.0.0.1/", "app", Duration::from_secs(10))?;
/// let hold = client.lock("report").lock_blocking()?;
/// println!("fencing token {}", hold.token());
/// hold.release()?;
/// # Ok::<(), aiosync_redis::Error>(())
/// ```
#[derive(Clone)]
pub struct Client {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("namespace", &self.shared.namespace)
            .field("lease", &self.shared.lease)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Shared {
    pub(crate) namespace: String,
    pub(crate) lease: Duration,
    /// This client's part of every waiter id; its wake channel is `NS:wake:ID`.
    pub(crate) id: String,
    redis: redis::Client,
    conn: Mutex<Option<Conn>>,
    /// The fast connection: async callers make their round trips on it inline while the
    /// server answers within `FAST_BOUND` (`conn.rs`); dropped at the first slower answer (their
    /// calls then go through the I/O thread, which opens it again once answers are fast).
    fast: Mutex<Option<Conn>>,
    /// The server's ids of connections dropped after an unanswered request: killed before
    /// the next request on another connection (see `conn.rs`).
    zombies: Mutex<Vec<i64>>,
    pub(crate) scripts: Scripts,
    seq: AtomicU64,
    /// Waiter id → the event its waiter sleeps on.
    waiters: Mutex<HashMap<String, Arc<Event>>>,
    /// Waiter id of a hold → its state, for the heartbeat.
    holds: Mutex<HashMap<String, Arc<HoldState>>>,
    /// Work put off while the server did not answer (a dropped waiter leaving its
    /// queue), done by the heartbeat.
    deferred: Mutex<Vec<Deferred>>,
    heartbeat_suspended: AtomicBool,
    stop: AtomicBool,
    /// Feeds the I/O thread, which makes the round trips of async callers (so that an
    /// executor's thread never waits on the server).
    io: std::sync::mpsc::Sender<IoJob>,
    /// The server's start (its clock, ms), never earlier than the real one; read on
    /// every new connection, for the restart quarantine (see `scripts.rs`).
    server_start: AtomicI64,
    /// The longest lease of the namespace this client has seen (ms), its own at least:
    /// a restart without persistence loses the server's record of it.
    longest_lease: AtomicU64,
}

impl Client {
    /// Connects to the server at `url` (`redis://host:port/db`). Every key lives under
    /// `namespace`; `lease` is how long a hold survives without renewal (its holder's
    /// heartbeat renews it every `lease / 3`), so a crashed holder's lock comes back
    /// after at most `lease`.
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// let client = aiosync_redis::Client::open("redis://127.0.0.1:6379/", "app", Duration::from_secs(5))?;
    /// # Ok::<(), aiosync_redis::Error>(())
    /// ```
    pub fn open(url: &str, namespace: &str, lease: Duration) -> Result<Client, Error> {
        if lease < Duration::from_millis(30) {
            return Err(Error::Config("lease must be at least 30 ms".into()));
        }
        let redis = redis::Client::open(url)?;
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let id = format!("{:x}{:x}", nanos, std::process::id());
        let (io, jobs) = std::sync::mpsc::channel::<IoJob>();
        std::thread::Builder::new()
            .name("aiosync-redis-io".into())
            .spawn(move || {
                // Ends when the client (the only sender) is gone.
                for job in jobs {
                    job();
                }
            })
            .map_err(|e| Error::Config(format!("cannot start the client's I/O thread: {e}")))?;
        let shared = Arc::new(Shared {
            io,
            namespace: namespace.to_owned(),
            lease,
            id,
            redis,
            conn: Mutex::new(None),
            fast: Mutex::new(None),
            zombies: Mutex::new(Vec::new()),
            scripts: Scripts::new(),
            seq: AtomicU64::new(0),
            waiters: Mutex::new(HashMap::new()),
            holds: Mutex::new(HashMap::new()),
            deferred: Mutex::new(Vec::new()),
            heartbeat_suspended: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            server_start: AtomicI64::new(i64::MAX),
            longest_lease: AtomicU64::new(lease.as_millis() as u64),
        });
        // Fail here, not at the first lock, if the server cannot be reached.
        shared.run(|c| redis::cmd("PING").query::<String>(c))?;
        let pubsub = shared
            .redis
            .get_connection_with_timeout(shared.io_timeout())?;
        // Wait for the subscription, so no handoff to this client's waiters goes unheard.
        let (ready, subscribed) = std::sync::mpsc::channel();
        spawn("aiosync-redis-pubsub", &shared, move |w| {
            listen(w, pubsub, ready)
        });
        let _ = subscribed.recv_timeout(shared.io_timeout());
        shared.open_fast();
        spawn("aiosync-redis-heartbeat", &shared, heartbeat);
        spawn("aiosync-redis-watchdog", &shared, watchdog);
        Ok(Client { shared })
    }

    /// The lock named `name` in this client's namespace: the same lock for every client
    /// of the same server and namespace (and the same as [`Client::rlock`] of that name).
    ///
    /// ```no_run
    /// # let client = aiosync_redis::Client::open("redis://127.0.0.1/", "app", std::time::Duration::from_secs(5))?;
    /// let lock = client.lock("orders");
    /// # Ok::<(), aiosync_redis::Error>(())
    /// ```
    pub fn lock(&self, name: &str) -> Lock {
        Lock::from_gate(Arc::new(Gate::new(self.shared.clone(), "lock", name, 1)), 1)
    }

    /// The reentrant lock named `name`: one owner (a thread, or an async task) at a time
    /// may take it any number of times; across processes it is the lock of that name.
    ///
    /// ```no_run
    /// # let client = aiosync_redis::Client::open("redis://127.0.0.1/", "app", std::time::Duration::from_secs(5))?;
    /// let lock = client.rlock("orders");
    /// let outer = lock.lock_blocking()?;
    /// let inner = lock.lock_blocking()?; // the same thread: at once
    /// assert_eq!(inner.token(), outer.token());
    /// # Ok::<(), aiosync_redis::Error>(())
    /// ```
    pub fn rlock(&self, name: &str) -> RLock {
        RLock::new(self.lock(name))
    }

    /// The semaphore named `name` with `value` permits (give every client the same
    /// value). A crashed holder's permit comes back after at most one lease.
    ///
    /// ```no_run
    /// # let client = aiosync_redis::Client::open("redis://127.0.0.1/", "app", std::time::Duration::from_secs(5))?;
    /// let sem = client.semaphore("downloads", 4);
    /// let permit = sem.acquire_blocking()?;
    /// # Ok::<(), aiosync_redis::Error>(())
    /// ```
    pub fn semaphore(&self, name: &str, value: u64) -> Semaphore {
        Semaphore::new(Gate::new(self.shared.clone(), "sem", name, value), false)
    }

    /// As [`Client::semaphore`], but [`Semaphore::add_permits`] is refused
    /// ([`Error::TooManyReleases`]): the number of permits never grows past `value`.
    ///
    /// ```no_run
    /// # let client = aiosync_redis::Client::open("redis://127.0.0.1/", "app", std::time::Duration::from_secs(5))?;
    /// let sem = client.bounded_semaphore("downloads", 4);
    /// assert!(sem.add_permits(1).is_err());
    /// # Ok::<(), aiosync_redis::Error>(())
    /// ```
    pub fn bounded_semaphore(&self, name: &str, value: u64) -> Semaphore {
        Semaphore::new(Gate::new(self.shared.clone(), "sem", name, value), true)
    }

    /// The readers-writer lock named `name`: many readers or one writer, in arrival order
    /// (a waiting writer holds back the readers that come after it).
    ///
    /// ```no_run
    /// # let client = aiosync_redis::Client::open("redis://127.0.0.1/", "app", std::time::Duration::from_secs(5))?;
    /// let rw = client.rwlock("catalog");
    /// let r1 = rw.reader().lock_blocking()?;
    /// let r2 = rw.reader().lock_blocking()?; // readers share
    /// assert!(rw.writer().try_lock()?.is_none());
    /// # Ok::<(), aiosync_redis::Error>(())
    /// ```
    pub fn rwlock(&self, name: &str) -> RwLock {
        RwLock::new(Arc::new(Gate::new(
            self.shared.clone(),
            "rw",
            name,
            crate::scripts::RW_CAPACITY,
        )))
    }

    /// The event named `name`: a flag every client sees, and waiters woken when it is set.
    ///
    /// ```no_run
    /// # let client = aiosync_redis::Client::open("redis://127.0.0.1/", "app", std::time::Duration::from_secs(5))?;
    /// let ready = client.event("ready");
    /// ready.set()?;
    /// assert!(ready.wait_blocking_timeout(std::time::Duration::from_secs(1))?);
    /// # Ok::<(), aiosync_redis::Error>(())
    /// ```
    pub fn event(&self, name: &str) -> RedisEvent {
        RedisEvent::new(self.shared.clone(), name)
    }

    /// The lease given at [`Client::open`].
    ///
    /// ```no_run
    /// # let client = aiosync_redis::Client::open("redis://127.0.0.1/", "app", std::time::Duration::from_secs(5))?;
    /// assert_eq!(client.lease().as_secs(), 5);
    /// # Ok::<(), aiosync_redis::Error>(())
    /// ```
    pub fn lease(&self) -> Duration {
        self.shared.lease
    }

    /// Stops (or restarts) renewing leases, as a crashed or paused holder would: for
    /// failure tests only.
    #[doc(hidden)]
    pub fn suspend_heartbeat(&self, suspended: bool) {
        self.shared
            .heartbeat_suspended
            .store(suspended, Ordering::SeqCst);
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

impl Shared {
    /// Socket timeouts: a third of the lease, so a dead server shows before a hold expires.
    fn io_timeout(&self) -> Duration {
        self.lease / 3
    }

    pub(crate) fn beat(&self) -> Duration {
        self.lease / 3
    }

    pub(crate) fn lease_ms(&self) -> u64 {
        self.lease.as_millis() as u64
    }

    pub(crate) fn longest_lease_ms(&self) -> u64 {
        self.longest_lease.load(Ordering::SeqCst)
    }

    pub(crate) fn saw_lease_ms(&self, ms: i64) {
        if let Ok(ms) = u64::try_from(ms) {
            self.longest_lease.fetch_max(ms, Ordering::SeqCst);
        }
    }

    pub(crate) fn server_start_ms(&self) -> i64 {
        self.server_start.load(Ordering::SeqCst)
    }

    pub(crate) fn next_waiter_id(&self) -> String {
        format!("{}-{}", self.id, self.seq.fetch_add(1, Ordering::Relaxed))
    }

    pub(crate) fn wake_prefix(&self) -> String {
        format!("{}:wake:", self.namespace)
    }

    /// Runs `f` on the client's I/O thread; the returned handle tells when it is done.
    /// Jobs run in the order they were given.
    pub(crate) fn submit<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Arc<Pending<T>> {
        let p = Arc::new(Pending {
            slot: Mutex::new(None),
            done: Event::new(),
        });
        let q = p.clone();
        let job: IoJob = Box::new(move || {
            // A panicking job must not take the I/O thread down with it.
            if let Ok(v) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
                *q.slot.lock() = Some(v);
            }
            q.done.set();
        });
        if let Err(std::sync::mpsc::SendError(job)) = self.io.send(job) {
            job();
        }
        p
    }

    /// Puts `job` off to the heartbeat, which runs it once the server answers again.
    pub(crate) fn defer(&self, job: Deferred) {
        self.deferred.lock().push(job);
    }

    pub(crate) fn add_waiter(&self, id: &str) -> Arc<Event> {
        let ev = Arc::new(Event::new());
        self.waiters.lock().insert(id.to_owned(), ev.clone());
        ev
    }

    pub(crate) fn remove_waiter(&self, id: &str) {
        self.waiters.lock().remove(id);
    }

    pub(crate) fn add_hold(&self, id: &str, state: Arc<HoldState>) {
        self.holds.lock().insert(id.to_owned(), state);
    }

    pub(crate) fn remove_hold(&self, id: &str) {
        self.holds.lock().remove(id);
    }

    fn wake_all(&self) {
        // Collect, unlock, then wake: a woken waiter takes this lock to leave.
        let evs: Vec<_> = self.waiters.lock().values().cloned().collect();
        for ev in evs {
            ev.set();
        }
    }
}

/// The error of an I/O-thread job that panicked (a bug: reported, not propagated).
pub(crate) fn job_panicked() -> Error {
    Error::Redis((redis::ErrorKind::Io, "an aiosync-redis I/O job panicked").into())
}

/// A job for the I/O thread.
type IoJob = Box<dyn FnOnce() + Send>;

/// The outcome of a job on the I/O thread, and the event set when it is there.
pub(crate) struct Pending<T> {
    slot: Mutex<Option<T>>,
    done: Event,
}

impl<T> Pending<T> {
    /// Waits for the job's outcome; `None` if the job panicked.
    ///
    /// Cancel safety: the job runs to its end whether or not this is awaited; what it
    /// gives is dropped with the last handle (on the I/O thread if that is the last).
    pub(crate) async fn outcome(&self) -> Option<T> {
        loop {
            if self.done.is_set() {
                return self.slot.lock().take();
            }
            self.done.wait().await;
        }
    }
}

/// A job put off until the server answers: true once done (or given up), false to be
/// tried again next beat.
pub(crate) type Deferred = Box<dyn FnMut() -> bool + Send>;
