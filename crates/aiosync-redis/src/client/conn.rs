//! The client's connections to the server: the command connection (blocking callers, the
//! I/O thread and the heartbeat take turns on it) and the fast connection (async callers'
//! inline round trips while the server answers at once).
//!
//! **Zombies**: a connection dropped after a request went unanswered (a timeout, a
//! stopped server) may still have that request in the server's input buffer, to be run
//! when the server goes on — after a retry or a withdrawal sent on another connection,
//! which would undo their order (a late acquire re-queueing a waiter that had left).
//! Each connection's server-side id is read when it opens; a dropped one's id is kept,
//! and the next connection that runs a request first sends `CLIENT KILL ID` for it. The
//! server runs commands one at a time, so by the reply the zombie's request has either
//! run or can never run: everything sent after comes after it.

use super::wire::Wire;
use super::Shared;
use crate::Error;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

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

/// A connection and its id on the server (`CLIENT ID`).
pub(super) struct Conn {
    c: Wire,
    id: i64,
}

/// Whether `e` leaves the connection in an unknown state (to be dropped and buried).
fn is_broken(e: &redis::RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_timeout()
}

impl Shared {
    /// Runs `f` on the command connection, connecting first if needed. On a connection
    /// error it reconnects and tries once more: every script is idempotent for its id.
    pub(crate) fn run<T>(
        &self,
        f: impl Fn(&mut Wire) -> redis::RedisResult<T>,
    ) -> Result<T, Error> {
        self.run_by(None, f)
    }

    /// As [`Shared::run`], never past `deadline`: socket timeouts are cut to the time
    /// left, and no retry starts after it (a timed wait must not be stretched by
    /// reconnections). An error after the deadline is a timeout error.
    pub(crate) fn run_by<T>(
        &self,
        deadline: Option<Instant>,
        f: impl Fn(&mut Wire) -> redis::RedisResult<T>,
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
                conn.c.set_timeout(io)?;
            }
            let r = self.kill_zombies(conn).and_then(|()| f(&mut conn.c));
            if deadline.is_some() {
                conn.c.set_timeout(self.io_timeout())?;
            }
            match r {
                Ok(v) => return Ok(v),
                Err(e) if is_broken(&e) => {
                    self.bury(slot.take());
                    last = Some(e);
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(last
            .unwrap_or_else(|| (redis::ErrorKind::Io, "deadline passed").into())
            .into())
    }

    /// A new connection, with its socket timeouts set, its id read and the server's start
    /// time read (for the restart quarantine).
    fn connect(&self, timeout: Duration) -> redis::RedisResult<Conn> {
        let mut c = Wire::connect(self.redis.get_connection_info(), timeout)?;
        let ms = server_start(&mut c, &self.namespace)?;
        // A server that refuses `CLIENT ID` (a restricted managed service) gets no
        // zombie killing: -1.
        let id = match redis::cmd("CLIENT").arg("ID").query::<i64>(&mut c) {
            Ok(id) => id,
            Err(e) if is_broken(&e) => return Err(e),
            Err(_) => -1,
        };
        c.set_timeout(self.io_timeout())?;
        self.server_start.store(ms, Ordering::SeqCst);
        Ok(Conn { c, id })
    }

    /// Keeps the id of a connection dropped with a request perhaps unanswered.
    fn bury(&self, conn: Option<Conn>) {
        if let Some(conn) = conn.filter(|c| c.id >= 0) {
            self.zombies.lock().push(conn.id);
        }
    }

    /// Kills every buried connection from `conn` (see the module's doc). An I/O error is
    /// returned (`conn` is broken); a refusal (say, an ACL without `CLIENT KILL`) forgets
    /// the zombies, as nothing better can be done.
    fn kill_zombies(&self, conn: &mut Conn) -> redis::RedisResult<()> {
        let zombies = std::mem::take(&mut *self.zombies.lock());
        for (i, id) in zombies.iter().enumerate() {
            let r = redis::cmd("CLIENT")
                .arg("KILL")
                .arg("ID")
                .arg(id)
                .query::<i64>(&mut conn.c);
            match r {
                Ok(_) => {}
                Err(e) if is_broken(&e) => {
                    self.zombies.lock().extend_from_slice(&zombies[i..]);
                    return Err(e);
                }
                Err(_) => return Ok(()),
            }
        }
        Ok(())
    }

    /// Runs `f` as `via` says: waiting (`Some` always), or on the fast connection.
    pub(crate) fn run_via<T>(
        &self,
        via: Via,
        f: impl Fn(&mut Wire) -> redis::RedisResult<T>,
    ) -> Option<Result<T, Error>> {
        match via {
            Via::Wait(deadline) => Some(self.run_by(deadline, f)),
            Via::Fast => self.run_fast(f),
        }
    }

    /// Runs `f` inline on the fast connection if it is there and free: `None` if not, if
    /// a connection waits to be killed, or if the server did not answer within
    /// [`FAST_BOUND`] (then the caller goes through the I/O thread; every script is
    /// idempotent for its id, so a retry is safe).
    pub(crate) fn run_fast<T>(
        &self,
        f: impl FnOnce(&mut Wire) -> redis::RedisResult<T>,
    ) -> Option<Result<T, Error>> {
        let mut slot = self.fast.try_lock()?;
        if !self.zombies.lock().is_empty() {
            return None;
        }
        let conn = slot.as_mut()?;
        match f(&mut conn.c) {
            Ok(v) => Some(Ok(v)),
            Err(e) if is_broken(&e) => {
                self.bury(slot.take());
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
        if self.kill_zombies(&mut c).is_err() {
            return;
        }
        let t = Instant::now();
        if redis::cmd("PING").query::<String>(&mut c.c).is_err() || t.elapsed() > FAST_RTT {
            return;
        }
        if c.c.set_timeout(FAST_BOUND).is_err() {
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
}

/// When the server started, by its own clock in ms: `INFO`'s uptime is whole seconds, so
/// one second is added to never fall before the real start. The first client to connect
/// to a server's run (its `run_id`, new at every start) records its estimate, and every
/// client of the namespace uses that one, so that they agree when the quarantine ends.
fn server_start(c: &mut Wire, namespace: &str) -> redis::RedisResult<i64> {
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
