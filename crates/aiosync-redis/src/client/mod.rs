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

mod threads;
use aiosync::Event;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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
    conn: Mutex<Option<redis::Connection>>,
    /// The fast connection: async callers make their round trips on it inline while the
    /// server answers within [`FAST_BOUND`]; dropped at the first slower answer (their
    /// calls then go through the I/O thread, which opens it again once answers are fast).
    fast: Mutex<Option<redis::Connection>>,
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

    /// Runs `f` on the command connection, connecting first if needed. On a connection
    /// error it reconnects and tries once more: every script is idempotent for its id.
    pub(crate) fn run<T>(
        &self,
        f: impl Fn(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T, Error> {
        self.run_by(None, f)
    }

    /// As [`Shared::run`], never past `deadline`: socket timeouts are cut to the time
    /// left, and no retry starts after it (a timed wait must not be stretched by
    /// reconnections). An error after the deadline is a timeout error.
    pub(crate) fn run_by<T>(
        &self,
        deadline: Option<Instant>,
        f: impl Fn(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T, Error> {
        let mut slot = match deadline {
            None => self.conn.lock(),
            // Another caller may be stuck on a silent server: wait for it only so long.
            Some(d) => self.conn.try_lock_until(d).ok_or_else(|| {
                Error::from(redis::RedisError::from((
                    redis::ErrorKind::Io,
                    "deadline passed",
                )))
            })?,
        };
        let mut last = None;
        for _ in 0..2 {
            let io = match deadline {
                None => self.io_timeout(),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    left.min(self.io_timeout())
                }
            };
            if slot.is_none() {
                match self.connect(io) {
                    Ok(c) => *slot = Some(c),
                    Err(e) => {
                        last = Some(e);
                        continue;
                    }
                }
            }
            let conn = slot.as_mut().expect("connected above");
            if deadline.is_some() {
                conn.set_read_timeout(Some(io))?;
                conn.set_write_timeout(Some(io))?;
            }
            let r = f(conn);
            if deadline.is_some() {
                conn.set_read_timeout(Some(self.io_timeout()))?;
                conn.set_write_timeout(Some(self.io_timeout()))?;
            }
            match r {
                Ok(v) => return Ok(v),
                Err(e) if e.is_io_error() || e.is_connection_dropped() || e.is_timeout() => {
                    *slot = None;
                    last = Some(e);
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(last
            .unwrap_or_else(|| (redis::ErrorKind::Io, "deadline passed").into())
            .into())
    }

    /// A new command connection, with its socket timeouts set and the server's start
    /// time read (for the restart quarantine).
    fn connect(&self, timeout: Duration) -> redis::RedisResult<redis::Connection> {
        let mut c = self.redis.get_connection_with_timeout(timeout)?;
        c.set_read_timeout(Some(timeout))?;
        c.set_write_timeout(Some(timeout))?;
        let ms = server_start(&mut c, &self.namespace)?;
        c.set_read_timeout(Some(self.io_timeout()))?;
        c.set_write_timeout(Some(self.io_timeout()))?;
        self.server_start.store(ms, Ordering::SeqCst);
        Ok(c)
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

    /// Runs `f` as `via` says: waiting (`Some` always), or on the fast connection.
    pub(crate) fn run_via<T>(
        &self,
        via: Via,
        f: impl Fn(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Option<Result<T, Error>> {
        match via {
            Via::Wait(deadline) => Some(self.run_by(deadline, f)),
            Via::Fast => self.run_fast(f),
        }
    }

    /// Runs `f` inline on the fast connection if it is there and free: `None` if not, or
    /// if the server did not answer within [`FAST_BOUND`] (then the caller goes through
    /// the I/O thread; every script is idempotent for its id, so a retry is safe).
    pub(crate) fn run_fast<T>(
        &self,
        f: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Option<Result<T, Error>> {
        let mut slot = self.fast.try_lock()?;
        let conn = slot.as_mut()?;
        match f(conn) {
            Ok(v) => Some(Ok(v)),
            Err(e) if e.is_io_error() || e.is_connection_dropped() || e.is_timeout() => {
                *slot = None;
                None
            }
            Err(e) => Some(Err(e.into())),
        }
    }

    /// Opens the fast connection if it is missing and the server answers within
    /// [`FAST_RTT`] (at open, then by the heartbeat once a beat).
    pub(crate) fn open_fast(&self) {
        if self.fast.try_lock().is_none_or(|slot| slot.is_some()) {
            return;
        }
        let Ok(mut c) = self.connect(self.io_timeout()) else {
            return;
        };
        let t = Instant::now();
        if redis::cmd("PING").query::<String>(&mut c).is_err() || t.elapsed() > FAST_RTT {
            return;
        }
        if c.set_read_timeout(Some(FAST_BOUND)).is_err()
            || c.set_write_timeout(Some(FAST_BOUND)).is_err()
        {
            return;
        }
        let mut slot = self.fast.lock();
        if slot.is_none() {
            *slot = Some(c);
        }
    }

    /// Whether the command connection is known to be down (without waiting for it).
    pub(crate) fn is_disconnected(&self) -> bool {
        self.conn.try_lock().is_some_and(|slot| slot.is_none())
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

/// How a round trip is made: on the command connection, waiting for it and for the
/// server (until the deadline, if any); or on the fast connection, only if it is free and
/// the server answers at once.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Via {
    Wait(Option<Instant>),
    Fast,
}

/// The longest an async caller's thread (an event loop's, say) waits inline on the
/// server, once: a slower answer drops the fast connection.
pub(crate) const FAST_BOUND: Duration = Duration::from_millis(10);

/// A ping at most this long (re)opens the fast connection.
const FAST_RTT: Duration = Duration::from_millis(1);

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

/// When the server started, by its own clock in ms: `INFO`'s uptime is whole seconds, so
/// one second is added to never fall before the real start. The first client to connect
/// to a server's run (its `run_id`, new at every start) records its estimate, and every
/// client of the namespace uses that one, so that they agree when the quarantine ends.
fn server_start(c: &mut redis::Connection, namespace: &str) -> redis::RedisResult<i64> {
    let info: String = redis::cmd("INFO").arg("server").query(c)?;
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_owned())
            .ok_or((
                redis::ErrorKind::Parse,
                "INFO server lacks a field aiosync needs",
            ))
    };
    let uptime = field("uptime_in_seconds:")?.parse::<i64>().map_err(|_| {
        (
            redis::ErrorKind::Parse,
            "INFO server: bad uptime_in_seconds",
        )
    })?;
    let run_id = field("run_id:")?;
    let major = field("redis_version:")?
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok());
    if major.is_none_or(|m| m < 7) {
        return Err((
            redis::ErrorKind::Client,
            "aiosync-redis needs Redis 7.0 or later",
        )
            .into());
    }
    let (secs, micros): (i64, i64) = redis::cmd("TIME").query(c)?;
    let estimate = secs * 1000 + micros / 1000 - uptime * 1000 + 1000;
    // Kept a day: by then the quarantine is long over (or lasts a lease longer than that,
    // and the clients' estimates differ by a second at most).
    let agreed: Option<i64> = redis::cmd("SET")
        .arg(format!("{namespace}:start:{run_id}"))
        .arg(estimate)
        .arg("NX")
        .arg("GET")
        .arg("PX")
        .arg(86_400_000)
        .query(c)?;
    Ok(agreed.unwrap_or(estimate))
}
