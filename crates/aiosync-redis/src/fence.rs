//! A fenced store: values in Redis that only the newest holder of a lock may overwrite.
//!
//! A lease ends on the server whether or not its holder noticed: a holder paused (by a
//! GC, a swap storm, a stopped VM) past its lease may wake up and write after the lock
//! went to someone else. The [fencing token](crate::Hold::token) is the defence: it
//! strictly increases per lock name, so the storage keeps the token of the last write
//! beside the value and refuses a write that carries an older one.
//!
//! [`Client::fenced_set`] does that in one Lua script (atomic on the server): it writes
//! `value` and `token` together if `token` is **at least** the stored one, and refuses
//! it otherwise. At least, not strictly greater: one hold may write the same key many
//! times with its own token, while any older hold is refused. Tokens of one lock are
//! never given twice, so an equal token is always the same hold.
//!
//! Fence a key by one lock only: tokens of different lock names are not ordered
//! against each other.
//!
//! In SQL the same pattern is a conditional update (one statement, so atomic), with the
//! row created once with `fence = 0`:
//!
//! ```sql
//! UPDATE items SET value = ?, fence = ? WHERE id = ? AND fence <= ?
//! -- binds: new value, token, id, token; 0 rows updated = a stale holder was refused
//! ```
//!
//! (`fence < ?` instead refuses a second write under the same hold.)
//!
//! The stored token lives as long as the key: on a server without persistence a
//! restart loses both. Put the data that must survive in storage that keeps it, with
//! its own fence column as above.
//!
//! ```no_run
//! use std::time::Duration;
//! let client = aiosync_redis::Client::open("redis://127.0.0.1/", "app", Duration::from_secs(10))?;
//! let hold = client.lock("report").lock_blocking()?;
//! if !client.fenced_set("report:latest", b"v2", hold.token())? {
//!     // a newer holder wrote already: this hold is stale, stop.
//! }
//! let (value, token) = client.fenced_get("report:latest")?.expect("written above");
//! assert!(token >= hold.token() && !value.is_empty());
//! hold.release()?;
//! # Ok::<(), aiosync_redis::Error>(())
//! ```

use crate::{Client, Error};
use redis::Script;
use std::sync::OnceLock;

/// KEYS: the fenced hash (fields `v`: the value, `t`: the token of its write).
/// ARGV: value, token. Writes both if the token is at least the stored one: 1, else 0.
const FENCED_SET: &str = r#"
local cur = redis.call('HGET', KEYS[1], 't')
if cur and tonumber(cur) > tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 't', ARGV[2])
return 1
"#;

/// Tokens are compared as Lua numbers (doubles): exact up to 2^53, which a token (the
/// server's clock in microseconds at the most) stays below until the year 2255.
const MAX_TOKEN: u64 = 1 << 53;

fn script() -> &'static Script {
    static SCRIPT: OnceLock<Script> = OnceLock::new();
    SCRIPT.get_or_init(|| Script::new(FENCED_SET))
}

impl Client {
    fn fenced_key(&self, key: &str) -> String {
        format!("{}:fenced:{{{key}}}", self.shared.namespace)
    }

    /// Writes `value` under `key` (in this client's namespace) with the fencing `token`
    /// of the hold that writes it, if no write with a greater token came before: `true`
    /// if written, `false` if refused (a newer holder wrote; nothing changed). An equal
    /// token (the same hold writing again) is accepted. See [the module docs](crate::fence).
    ///
    /// `Err(Config)` for a token above 2^53 (no [`Hold`](crate::Hold) gives one).
    ///
    /// ```no_run
    /// # let client = aiosync_redis::Client::open("redis://127.0.0.1/", "app", std::time::Duration::from_secs(5))?;
    /// assert!(client.fenced_set("k", "new", 20)?);
    /// assert!(client.fenced_set("k", "again", 20)?); // the same token: the same hold
    /// assert!(!client.fenced_set("k", "stale", 10)?);
    /// assert_eq!(client.fenced_get("k")?, Some((b"again".to_vec(), 20)));
    /// # Ok::<(), aiosync_redis::Error>(())
    /// ```
    pub fn fenced_set(
        &self,
        key: &str,
        value: impl AsRef<[u8]>,
        token: u64,
    ) -> Result<bool, Error> {
        if token > MAX_TOKEN {
            return Err(Error::Config(format!(
                "fencing token {token} is above 2^53"
            )));
        }
        let key = self.fenced_key(key);
        let value = value.as_ref();
        let written: i64 = self
            .shared
            .run(|c| script().key(&key).arg(value).arg(token).invoke(c))?;
        Ok(written == 1)
    }

    /// The value under `key` and the token it was written with, if any.
    ///
    /// ```no_run
    /// # let client = aiosync_redis::Client::open("redis://127.0.0.1/", "app", std::time::Duration::from_secs(5))?;
    /// if let Some((value, token)) = client.fenced_get("k")? {
    ///     println!("{} bytes, written under token {token}", value.len());
    /// }
    /// # Ok::<(), aiosync_redis::Error>(())
    /// ```
    pub fn fenced_get(&self, key: &str) -> Result<Option<(Vec<u8>, u64)>, Error> {
        let key = self.fenced_key(key);
        let (value, token): (Option<Vec<u8>>, Option<u64>) = self
            .shared
            .run(|c| redis::cmd("HMGET").arg(&key).arg("v").arg("t").query(c))?;
        Ok(value.zip(token))
    }
}
