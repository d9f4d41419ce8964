//! The client's own blocking connection for its requests (not for pub/sub): the same RESP
//! protocol as the `redis` crate's `Connection`, parsed by that crate's `Parser`, but a
//! reply is first waited for by polling the socket, yielding the CPU between polls, for up
//! to [`SPIN`], and only then by blocking in the kernel.
//!
//! Why: a reply that reaches a thread asleep in `read` must wake it, and on a virtual
//! machine whose other CPU is idle that wakeup costs 50–100 µs, more than the server takes
//! to answer an uncontended acquire. A thread that polls is awake when the reply comes:
//! one PING on a bare socket between two CPUs of a virtual machine took 97.9 µs read
//! blocking and 30.8 µs read polling (`scripts/bench-redis.sh --only u`). Every request of this client expects its reply at once
//! (waiting for a lock is done on an [`aiosync::Event`], never on a socket), so the polling
//! is bounded by [`SPIN`] per request.
//!
//! An I/O error or a timeout leaves a reply perhaps half read: the connection then reports
//! itself closed and is dropped by its owner (see `conn.rs`), never reused.

use redis::{ConnectionAddr, ConnectionInfo, ConnectionLike, RedisResult, Value};
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// How long a reply is polled for before the thread blocks for it.
const SPIN: Duration = Duration::from_micros(150);

enum Stream {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(UnixStream),
}

impl Stream {
    fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_nonblocking(on),
            #[cfg(unix)]
            Stream::Unix(s) => s.set_nonblocking(on),
        }
    }

    fn set_timeouts(&self, d: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => {
                s.set_read_timeout(d)?;
                s.set_write_timeout(d)
            }
            #[cfg(unix)]
            Stream::Unix(s) => {
                s.set_read_timeout(d)?;
                s.set_write_timeout(d)
            }
        }
    }

    fn read_some(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            #[cfg(unix)]
            Stream::Unix(s) => s.read(buf),
        }
    }

    fn write_some(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            #[cfg(unix)]
            Stream::Unix(s) => s.write(buf),
        }
    }
}

/// A connection to the server for request–reply traffic.
pub(crate) struct Wire {
    stream: Stream,
    parser: redis::Parser,
    db: i64,
    open: bool,
}

/// The reader the parser pulls from: polls, then blocks (the socket's timeouts apply).
struct Polling<'a>(&'a mut Stream);

impl Read for Polling<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut since: Option<Instant> = None;
        loop {
            match self.0.read_some(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let t = *since.get_or_insert_with(Instant::now);
                    if t.elapsed() >= SPIN {
                        return blocking(self.0, |s| s.read_some(buf));
                    }
                    std::thread::yield_now();
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// Runs `f` with the socket in blocking mode (its timeouts apply), then back to polling.
/// A timeout comes out as `TimedOut`.
fn blocking<T>(s: &mut Stream, f: impl FnOnce(&mut Stream) -> io::Result<T>) -> io::Result<T> {
    s.set_nonblocking(false)?;
    let r = f(s);
    s.set_nonblocking(true)?;
    r.map_err(|e| match e.kind() {
        io::ErrorKind::WouldBlock => io::Error::new(io::ErrorKind::TimedOut, e),
        _ => e,
    })
}

impl Wire {
    /// Connects as `info` says (TCP or a Unix socket; not TLS), authenticates and
    /// selects the database; `timeout` bounds the connect and every later read and write
    /// until [`Wire::set_timeout`] changes it.
    pub(crate) fn connect(info: &ConnectionInfo, timeout: Duration) -> RedisResult<Wire> {
        let stream = match info.addr() {
            ConnectionAddr::Tcp(host, port) => {
                let mut last = None;
                let mut found = None;
                for addr in (host.as_str(), *port).to_socket_addrs()? {
                    match TcpStream::connect_timeout(&addr, timeout) {
                        Ok(s) => {
                            found = Some(s);
                            break;
                        }
                        Err(e) => last = Some(e),
                    }
                }
                let s = match (found, last) {
                    (Some(s), _) => s,
                    (None, Some(e)) => return Err(e.into()),
                    (None, None) => {
                        return Err((redis::ErrorKind::Io, "the host name has no address").into())
                    }
                };
                s.set_nodelay(true)?;
                Stream::Tcp(s)
            }
            #[cfg(unix)]
            ConnectionAddr::Unix(path) => Stream::Unix(UnixStream::connect(path)?),
            _ => {
                return Err((
                    redis::ErrorKind::InvalidClientConfig,
                    "aiosync-redis connects over TCP or a Unix socket (no TLS)",
                )
                    .into())
            }
        };
        stream.set_timeouts(Some(timeout))?;
        stream.set_nonblocking(true)?;
        let settings = info.redis_settings();
        let mut wire = Wire {
            stream,
            parser: redis::Parser::new(),
            db: settings.db(),
            open: true,
        };
        if let Some(password) = settings.password() {
            let mut auth = redis::cmd("AUTH");
            if let Some(user) = settings.username() {
                auth.arg(user);
            }
            auth.arg(password).query::<()>(&mut wire)?;
        }
        if wire.db != 0 {
            redis::cmd("SELECT").arg(wire.db).query::<()>(&mut wire)?;
        }
        Ok(wire)
    }

    /// Sets the read and write timeout of the blocking phase.
    pub(crate) fn set_timeout(&self, d: Duration) -> RedisResult<()> {
        Ok(self.stream.set_timeouts(Some(d))?)
    }

    fn fail<T>(&mut self, e: io::Error) -> RedisResult<T> {
        self.open = false;
        Err(e.into())
    }

    fn send(&mut self, mut bytes: &[u8]) -> RedisResult<()> {
        if !self.open {
            return Err((redis::ErrorKind::Io, "connection closed after an error").into());
        }
        while !bytes.is_empty() {
            let r = match self.stream.write_some(bytes) {
                // The socket's buffer is full (a large value): wait for room.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    blocking(&mut self.stream, |s| s.write_some(bytes))
                }
                r => r,
            };
            match r {
                Ok(0) => return self.fail(io::ErrorKind::WriteZero.into()),
                Ok(n) => bytes = &bytes[n..],
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return self.fail(e),
            }
        }
        Ok(())
    }

    fn recv(&mut self) -> RedisResult<Value> {
        loop {
            let r = self.parser.parse_value(Polling(&mut self.stream));
            match r {
                Ok(Value::Push { .. }) => continue,
                Ok(v) => return Ok(v),
                Err(e) => {
                    // A half-read reply cannot be resynchronized: never reuse this one.
                    self.open = false;
                    return Err(e);
                }
            }
        }
    }
}

impl ConnectionLike for Wire {
    fn req_packed_command(&mut self, cmd: &[u8]) -> RedisResult<Value> {
        self.send(cmd)?;
        self.recv()
    }

    fn req_packed_commands(
        &mut self,
        cmd: &[u8],
        offset: usize,
        count: usize,
    ) -> RedisResult<Vec<Value>> {
        self.send(cmd)?;
        let mut out = Vec::with_capacity(count);
        for i in 0..offset + count {
            let v = self.recv()?;
            if i >= offset {
                out.push(v);
            }
        }
        Ok(out)
    }

    fn get_db(&self) -> i64 {
        self.db
    }

    fn check_connection(&mut self) -> bool {
        redis::cmd("PING").query::<String>(self).is_ok()
    }

    fn is_open(&self) -> bool {
        self.open
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A one-connection fake server: answers each request with the next canned reply,
    /// written in pieces, each after the delay given with it.
    fn fake(replies: Vec<Vec<(Duration, &'static [u8])>>) -> ConnectionInfo {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = [0u8; 4096];
            for pieces in replies {
                if s.read(&mut buf).unwrap_or(0) == 0 {
                    return;
                }
                for (delay, piece) in pieces {
                    std::thread::sleep(delay);
                    s.write_all(piece).unwrap();
                }
            }
            // Keep the connection open until the client goes.
            let _ = s.read(&mut buf);
        });
        redis::IntoConnectionInfo::into_connection_info(format!("redis://127.0.0.1:{port}/"))
            .unwrap()
    }

    #[test]
    fn replies_fast_and_slow_and_split_arrive_whole() {
        let ms = Duration::from_millis;
        let info = fake(vec![
            vec![(Duration::ZERO, b"+PONG\r\n")],
            // Past the polling phase: read by blocking.
            vec![(ms(20), b":42\r\n")],
            // One reply in three writes, the gaps past the polling phase.
            vec![
                (Duration::ZERO, b"*2\r\n$3\r\nab"),
                (ms(20), b"c\r\n"),
                (ms(20), b":7\r\n"),
            ],
        ]);
        let mut w = Wire::connect(&info, Duration::from_secs(5)).unwrap();
        let pong: String = redis::cmd("PING").query(&mut w).unwrap();
        assert_eq!(pong, "PONG");
        let n: i64 = redis::cmd("GET").arg("k").query(&mut w).unwrap();
        assert_eq!(n, 42);
        let v: (String, i64) = redis::cmd("GET").arg("k").query(&mut w).unwrap();
        assert_eq!(v, ("abc".to_owned(), 7));
        assert!(w.is_open());
    }

    #[test]
    fn a_timeout_closes_the_connection_for_good() {
        let info = fake(vec![vec![(Duration::from_millis(300), b"+PONG\r\n")]]);
        let mut w = Wire::connect(&info, Duration::from_secs(5)).unwrap();
        w.set_timeout(Duration::from_millis(50)).unwrap();
        let t = Instant::now();
        let e = redis::cmd("PING").query::<String>(&mut w).unwrap_err();
        assert!(e.is_timeout(), "{e:?}");
        assert!(t.elapsed() < Duration::from_millis(250));
        assert!(!w.is_open());
        // The late reply must never be taken for the next request's.
        assert!(redis::cmd("PING").query::<String>(&mut w).is_err());
    }

    #[test]
    fn a_server_error_is_an_error_and_the_connection_stays() {
        let info = fake(vec![
            vec![(Duration::ZERO, b"-ERR no such thing\r\n")],
            vec![(Duration::ZERO, b"+PONG\r\n")],
        ]);
        let mut w = Wire::connect(&info, Duration::from_secs(5)).unwrap();
        assert!(redis::cmd("NOPE").query::<String>(&mut w).is_err());
        assert!(w.is_open());
        let pong: String = redis::cmd("PING").query(&mut w).unwrap();
        assert_eq!(pong, "PONG");
    }
}
