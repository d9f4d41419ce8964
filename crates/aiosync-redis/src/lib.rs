//! aiosync's Lock, RLock, Semaphore, RwLock and Event across processes and machines, on
//! one Redis server.
//!
//! - [`Client`]: one per process, shared by every thread and task; it owns one command
//!   connection, a pub/sub thread that wakes waiters, a heartbeat that renews leases and
//!   a watchdog that ends holds at their local deadline. Its request connections poll
//!   for a reply briefly before blocking (a wakeup costs more than the server's answer);
//!   the URL may give a password, an ACL user, a database index or a Unix socket (not
//!   TLS).
//! - [`Lock`], [`RLock`], [`Semaphore`] (also bounded), [`RwLock`]: FIFO across every
//!   client; `lock().await` (any executor), `lock_blocking()`,
//!   `lock_blocking_timeout(d)`, `try_lock()` (`acquire*` for a semaphore).
//! - [`Hold`]: one acquisition, with a fencing [`token`](Hold::token) that strictly
//!   increases per name, [`check`](Hold::check) and [`watch`](Hold::watch) for a lost
//!   lease.
//! - [`Event`]: a flag every client sees; `set` wakes every waiter.
//!
//! Every grant, handoff and withdrawal is one Lua script on the server. A release hands
//! the place to the head of the queue inside its script and publishes the waiter's id;
//! waiters also re-check once a heartbeat (a third of the lease), so a lost message or a
//! crashed holder only delays them. A server younger than the longest lease grants
//! nothing (it may have lost grants in a restart): see `scripts.rs`.
//!
//! When not to use it: inside one process, `aiosync::Mutex` is a thousand times faster.
//! Across a Redis failover, a replica that missed a grant can grant the lock again, and a
//! holder paused past its lease may still act: check fencing tokens in the storage.
//!
//! ```no_run
//! use std::time::Duration;
//! let client = aiosync_redis::Client::open("redis://127.0.0.1/", "app", Duration::from_secs(10))?;
//! let lock = client.lock("nightly-report");
//! let hold = lock.lock_blocking()?;
//! // ... write, passing hold.token() to the storage ...
//! hold.release()?;
//! # Ok::<(), aiosync_redis::Error>(())
//! ```

mod client;
mod event;
pub mod fence;
mod gate;
mod hold;
mod lock;
mod rlock;
mod scripts;

pub use client::Client;
pub use event::Event;
pub use hold::{Hold, LeaseWatch};
pub use lock::{Lock, RwLock, Semaphore};
pub use rlock::{RLock, RLockGuard};

/// What can go wrong talking to the lock.
///
/// ```
/// let e = aiosync_redis::Error::LeaseLost;
/// assert_eq!(e.to_string(), "the lease of this hold was lost");
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The hold's lease ran out, or another owner holds the lock now.
    LeaseLost,
    /// The server could not be reached, or answered with an error.
    Redis(redis::RedisError),
    /// A bad argument (such as a too short lease).
    Config(String),
    /// A release of a lock this handle keeps no hold of.
    NotHeld,
    /// A release by an owner that does not hold the reentrant lock.
    NotOwner,
    /// Permits added to a bounded semaphore.
    TooManyReleases,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::LeaseLost => f.write_str("the lease of this hold was lost"),
            Error::Redis(e) => write!(f, "redis: {e}"),
            Error::Config(s) => f.write_str(s),
            Error::NotHeld => f.write_str("release of an unheld lock"),
            Error::NotOwner => f.write_str("cannot release un-acquired lock"),
            Error::TooManyReleases => f.write_str("semaphore released too many times"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Redis(e) => Some(e),
            _ => None,
        }
    }
}

impl From<redis::RedisError> for Error {
    fn from(e: redis::RedisError) -> Error {
        Error::Redis(e)
    }
}
