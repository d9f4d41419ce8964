//! Lock, Semaphore and RwLock: handles on a gate (see `gate.rs`) with a weight.

use crate::gate::Gate;
use crate::hold::{Hold, LeaseWatch};
use crate::Error;
use aiosync::OwnerId;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A lock shared by every client of the same server and namespace, granted in FIFO
/// order; also each side of an [`RwLock`]. Get one with [`Client::lock`](crate::Client::lock).
///
/// ```no_run
/// # let client = aiosync_redis::Client::open("redis://127.0.0.1/", "app", std::time::Duration::from_secs(5))?;
/// let lock = client.lock("orders");
/// if let Some(hold) = lock.try_lock()? {
///     hold.check()?; // still ours?
///     hold.release()?;
/// }
/// # Ok::<(), aiosync_redis::Error>(())
/// ```
#[derive(Clone)]
pub struct Lock {
    gate: Arc<Gate>,
    weight: u64,
}

impl std::fmt::Debug for Lock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lock")
            .field("name", &self.gate.name)
            .finish()
    }
}

impl Lock {
    pub(crate) fn from_gate(gate: Arc<Gate>, weight: u64) -> Lock {
        Lock { gate, weight }
    }

    /// The lock's name.
    ///
    /// ```no_run
    /// # let client = aiosync_redis::Client::open("redis://127.0.0.1/", "app", std::time::Duration::from_secs(5))?;
    /// assert_eq!(client.lock("orders").name(), "orders");
    /// # Ok::<(), aiosync_redis::Error>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.gate.name
    }

    /// Takes the lock if it is free and nobody waits for it, without waiting.
    ///
    /// ```no_run
    /// # let client = aiosync_redis::Client::open("redis://127.0.0.1/", "app", std::time::Duration::from_secs(5))?;
    /// match client.lock("orders").try_lock()? {
    ///     Some(hold) => hold.release()?,
    ///     None => println!("busy"),
    /// }
    /// # Ok::<(), aiosync_redis::Error>(())
    /// ```
    pub fn try_lock(&self) -> Result<Option<Hold>, Error> {
        self.gate.try_acquire(self.weight)
    }

    /// Waits for the lock, on any executor. Each poll that re-checks makes one blocking
    /// round trip to the server (tens of microseconds on a local network); the waits
    /// between them sleep on an [`aiosync::Event`] woken by the client's pub/sub thread.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future leaves the queue; if a release handed the lock to it in the
    /// meantime, it passes the lock on to the next waiter. So it works under any timeout
    /// combinator, and nothing is leaked.
    ///
    /// ```no_run
    /// # let client = aiosync_redis::Client::open("redis://127.0.0.1/", "app", std::time::Duration::from_secs(5))?;
    /// let lock = client.lock("orders");
    /// let hold = aiosync::block_on(lock.lock(), None).expect("no timeout")?;
    /// hold.release()?;
    /// # Ok::<(), aiosync_redis::Error>(())
    /// ```
    pub async fn lock(&self) -> Result<Hold, Error> {
        self.gate.acquire(self.weight).await
    }

    /// Waits for the lock, blocking the thread.
    ///
    /// ```no_run
    /// # let client = aiosync_redis::Client::open("redis://127.0.0.1/", "app", std::time::Duration::from_secs(5))?;
    /// let hold = client.lock("orders").lock_blocking()?;
    /// # Ok::<(), aiosync_redis::Error>(())
    /// ```
    pub fn lock_blocking(&self) -> Result<Hold, Error> {
        self.gate
            .acquire_blocking(self.weight, None)
            .map(|h| h.expect("no deadline, so a hold"))
    }

    /// Waits for the lock until `timeout` has passed (a deadline: re-checks do not
    /// extend it), blocking the thread; `None` if it did not come in time, and the
    /// waiter has then left the queue.
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # let client = aiosync_redis::Client::open("redis://127.0.0.1/", "app", Duration::from_secs(5))?;
    /// if let Some(hold) = client.lock("orders").lock_blocking_timeout(Duration::from_millis(500))? {
    ///     hold.release()?;
    /// }
    /// # Ok::<(), aiosync_redis::Error>(())
    /// ```
    pub fn lock_blocking_timeout(&self, timeout: Duration) -> Result<Option<Hold>, Error> {
        self.gate
            .acquire_blocking(self.weight, Some(Instant::now() + timeout))
    }

    /// Keeps `hold` as `owner`'s, for code spelled `acquire()` … `release()` without a
    /// guard (the Python binding): [`Lock::release_kept`] gives it back.
    ///
    /// ```no_run
    /// # let client = aiosync_redis::Client::open("redis://127.0.0.1/", "app", std::time::Duration::from_secs(5))?;
    /// use aiosync::OwnerId;
    /// let lock = client.lock("orders");
    /// lock.keep(OwnerId::current_thread(), lock.lock_blocking()?);
    /// lock.release_kept(OwnerId::current_thread())?;
    /// # Ok::<(), aiosync_redis::Error>(())
    /// ```
    pub fn keep(&self, owner: OwnerId, hold: Hold) {
        self.gate.keep(owner, hold);
    }

    /// Releases the latest hold kept for `owner`, else (as `threading.Lock` lets any
    /// thread release) the oldest one kept by anyone; `Err(NotHeld)` if none is kept.
    ///
    /// ```no_run
    /// # let client = aiosync_redis::Client::open("redis://127.0.0.1/", "app", std::time::Duration::from_secs(5))?;
    /// use aiosync::OwnerId;
    /// let lock = client.lock("orders");
    /// assert!(lock.release_kept(OwnerId::current_thread()).is_err());
    /// # Ok::<(), aiosync_redis::Error>(())
    /// ```
    pub fn release_kept(&self, owner: OwnerId) -> Result<(), Error> {
        match self.gate.take_kept(owner, true) {
            Some(h) => h.release(),
            None => Err(Error::NotHeld),
        }
    }

    /// As [`Lock::release_kept`], the round trip made on the client's I/O thread (see
    /// [`Hold::release_async`]); the hold is taken back at once.
    ///
    /// # Cancel safety
    ///
    /// The release is under way once this is called; dropping the future only stops
    /// waiting for its outcome.
    pub fn release_kept_async(
        &self,
        owner: OwnerId,
    ) -> impl std::future::Future<Output = Result<(), Error>> + Send {
        let hold = self.gate.take_kept(owner, true);
        let pending = hold.map(Hold::release_async);
        async move {
            match pending {
                Some(p) => p.await,
                None => Err(Error::NotHeld),
            }
        }
    }

    /// Releases the kept hold whose fencing token is `token`; `Err(NotHeld)` if none is.
    pub fn release_kept_token(&self, token: u64) -> Result<(), Error> {
        match self.gate.take_kept_token(token) {
            Some(h) => h.release(),
            None => Err(Error::NotHeld),
        }
    }

    /// Whether a hold with fencing token `token` is kept by this handle.
    pub fn keeps_token(&self, token: u64) -> bool {
        self.gate.keeps_token(token)
    }

    /// The watch of the kept hold whose fencing token is `token`.
    pub fn kept_watch(&self, token: u64) -> Option<LeaseWatch> {
        self.gate.kept_watch(token)
    }

    /// How many holds this handle keeps (for `owner`, or for anyone).
    pub fn kept(&self, owner: Option<OwnerId>) -> usize {
        self.gate.kept_by(owner)
    }

    /// Whether anyone (any client) holds this gate now: one round trip.
    ///
    /// ```no_run
    /// # let client = aiosync_redis::Client::open("redis://127.0.0.1/", "app", std::time::Duration::from_secs(5))?;
    /// let lock = client.lock("orders");
    /// let hold = lock.lock_blocking()?;
    /// assert!(lock.locked()?);
    /// # Ok::<(), aiosync_redis::Error>(())
    /// ```
    pub fn locked(&self) -> Result<bool, Error> {
        let (_, weight) = self.gate.held()?;
        Ok(weight > 0)
    }
}

/// A counting semaphore shared across processes, granted in FIFO order: each holder
/// takes one permit. Get one with [`Client::semaphore`](crate::Client::semaphore).
///
/// ```no_run
/// # let client = aiosync_redis::Client::open("redis://127.0.0.1/", "app", std::time::Duration::from_secs(5))?;
/// let sem = client.semaphore("downloads", 2);
/// let a = sem.acquire_blocking()?;
/// let b = sem.acquire_blocking()?;
/// assert!(sem.try_acquire()?.is_none());
/// # Ok::<(), aiosync_redis::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Semaphore {
    lock: Lock,
    bounded: bool,
}

impl Semaphore {
    pub(crate) fn new(gate: Gate, bounded: bool) -> Semaphore {
        Semaphore {
            lock: Lock::from_gate(Arc::new(gate), 1),
            bounded,
        }
    }

    /// The permits as a [`Lock`] handle (each "lock" is one permit): for the forms with
    /// a timeout, [`Lock::keep`] and the like.
    ///
    /// ```no_run
    /// # let client = aiosync_redis::Client::open("redis://127.0.0.1/", "app", std::time::Duration::from_secs(5))?;
    /// let sem = client.semaphore("downloads", 2);
    /// let permit = sem.permits().lock_blocking_timeout(std::time::Duration::from_secs(1))?;
    /// # Ok::<(), aiosync_redis::Error>(())
    /// ```
    pub fn permits(&self) -> &Lock {
        &self.lock
    }

    /// Whether [`Semaphore::add_permits`] is refused.
    pub fn is_bounded(&self) -> bool {
        self.bounded
    }

    /// Takes a permit if one is free and nobody waits, without waiting.
    pub fn try_acquire(&self) -> Result<Option<Hold>, Error> {
        self.lock.try_lock()
    }

    /// Waits for a permit, on any executor.
    ///
    /// # Cancel safety
    ///
    /// As [`Lock::lock`]: a dropped wait leaves the queue and passes on a permit granted
    /// to it meanwhile.
    ///
    /// ```no_run
    /// # let client = aiosync_redis::Client::open("redis://127.0.0.1/", "app", std::time::Duration::from_secs(5))?;
    /// let sem = client.semaphore("downloads", 2);
    /// let permit = aiosync::block_on(sem.acquire(), None).expect("no timeout")?;
    /// # Ok::<(), aiosync_redis::Error>(())
    /// ```
    pub async fn acquire(&self) -> Result<Hold, Error> {
        self.lock.lock().await
    }

    /// Waits for a permit, blocking the thread.
    pub fn acquire_blocking(&self) -> Result<Hold, Error> {
        self.lock.lock_blocking()
    }

    /// Waits for a permit until `timeout`, blocking the thread; `None` if none came.
    pub fn acquire_blocking_timeout(&self, timeout: Duration) -> Result<Option<Hold>, Error> {
        self.lock.lock_blocking_timeout(timeout)
    }

    /// Adds `n` permits for good, for every client (what `threading.Semaphore.release()`
    /// does without a matching acquire), and grants the waiters they let in; returns the
    /// number of permits now. `Err(TooManyReleases)` on a bounded semaphore.
    ///
    /// ```no_run
    /// # let client = aiosync_redis::Client::open("redis://127.0.0.1/", "app", std::time::Duration::from_secs(5))?;
    /// let sem = client.semaphore("downloads", 2);
    /// assert_eq!(sem.add_permits(1)?, 3);
    /// # Ok::<(), aiosync_redis::Error>(())
    /// ```
    pub fn add_permits(&self, n: u64) -> Result<u64, Error> {
        if self.bounded {
            return Err(Error::TooManyReleases);
        }
        self.lock.gate.add(n)
    }

    /// Whether every permit is taken now (a new acquire would wait): one round trip.
    ///
    /// ```no_run
    /// # let client = aiosync_redis::Client::open("redis://127.0.0.1/", "app", std::time::Duration::from_secs(5))?;
    /// let sem = client.semaphore("downloads", 1);
    /// let permit = sem.acquire_blocking()?;
    /// assert!(sem.locked()?);
    /// # Ok::<(), aiosync_redis::Error>(())
    /// ```
    pub fn locked(&self) -> Result<bool, Error> {
        let (taken, _) = self.lock.gate.held()?;
        Ok(taken >= self.lock.gate.capacity_now()?)
    }

    /// How many permits are taken now, over every client: one round trip.
    pub fn taken(&self) -> Result<u64, Error> {
        Ok(self.lock.gate.held()?.0)
    }
}

/// A readers-writer lock shared across processes: many readers or one writer, in FIFO
/// order. Get one with [`Client::rwlock`](crate::Client::rwlock).
///
/// ```no_run
/// # let client = aiosync_redis::Client::open("redis://127.0.0.1/", "app", std::time::Duration::from_secs(5))?;
/// let rw = client.rwlock("catalog");
/// let w = rw.writer().lock_blocking()?;
/// assert!(rw.reader().try_lock()?.is_none());
/// w.release()?;
/// # Ok::<(), aiosync_redis::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct RwLock {
    reader: Lock,
    writer: Lock,
}

impl RwLock {
    pub(crate) fn new(gate: Arc<Gate>) -> RwLock {
        RwLock {
            reader: Lock::from_gate(gate.clone(), 1),
            writer: Lock::from_gate(gate, crate::scripts::RW_CAPACITY),
        }
    }

    /// The shared side: each hold is one reader.
    pub fn reader(&self) -> &Lock {
        &self.reader
    }

    /// The exclusive side: a hold excludes every reader and other writer.
    pub fn writer(&self) -> &Lock {
        &self.writer
    }
}
