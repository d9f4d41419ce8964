//! A redis-server that the test starts itself: 127.0.0.1, a free port, a temporary
//! directory, no persistence unless asked; killed when dropped. A missing redis-server
//! fails the test with a message saying how to install it (never a skip).

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub struct Server {
    child: Option<Child>,
    pub port: u16,
    pub dir: PathBuf,
    mode: Persistence,
    /// More arguments for redis-server (say, a password).
    extra: Vec<String>,
    /// The URL the readiness check connects with.
    check_url: String,
}

/// How a test server keeps its data across a `kill -9`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Persistence {
    /// Nothing: a restart starts empty.
    None,
    /// An RDB snapshot, taken only when the test asks ([`Server::snapshot`]): a restart
    /// comes back with the data of the last snapshot.
    Rdb,
    /// An append-only file fsynced on every write: a restart loses nothing.
    Aof,
}

static SEQ: AtomicUsize = AtomicUsize::new(0);

impl Server {
    /// Starts a server with no persistence.
    pub fn start() -> Server {
        Server::start_with(false)
    }

    /// Starts a server; with `persist`, an append-only file fsynced on every write.
    pub fn start_with(persist: bool) -> Server {
        Server::start_mode(if persist {
            Persistence::Aof
        } else {
            Persistence::None
        })
    }

    /// Starts a server that keeps its data as `mode` says.
    pub fn start_mode(mode: Persistence) -> Server {
        Server::start_full(mode, &[], |port, _| format!("redis://127.0.0.1:{port}/"))
    }

    /// Starts a server with no persistence and `extra` arguments (`{dir}` in them is the
    /// server's directory); the readiness check connects to `check_url(port, dir)` (say,
    /// with the password `extra` sets).
    pub fn start_args(extra: &[&str], check_url: impl FnOnce(u16, &Path) -> String) -> Server {
        Server::start_full(Persistence::None, extra, check_url)
    }

    fn start_full(
        mode: Persistence,
        extra: &[&str],
        check_url: impl FnOnce(u16, &Path) -> String,
    ) -> Server {
        let dir = std::env::temp_dir().join(format!(
            "aiosync-redis-test-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).expect("create the server's temporary directory");
        let port = free_port();
        let shown = dir.display().to_string();
        let mut s = Server {
            child: None,
            port,
            extra: extra.iter().map(|a| a.replace("{dir}", &shown)).collect(),
            check_url: check_url(port, &dir),
            dir,
            mode,
        };
        s.spawn();
        s
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new("redis-server");
        cmd.arg("--bind")
            .arg("127.0.0.1")
            .arg("--port")
            .arg(self.port.to_string())
            .arg("--dir")
            .arg(&self.dir)
            .arg("--save")
            .arg("")
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        match self.mode {
            Persistence::Aof => cmd.args(["--appendonly", "yes", "--appendfsync", "always"]),
            // `--save ""` above: no automatic snapshot, only the forced ones; the file
            // is read back at start.
            Persistence::Rdb => cmd.args(["--appendonly", "no", "--dbfilename", "dump.rdb"]),
            Persistence::None => cmd.args(["--appendonly", "no"]),
        };
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!(
                "cannot start redis-server ({e}): these tests need a real Redis server on \
                 PATH; install it (Debian: apt-get install -y redis-server) or run scripts/test.sh"
            )
        });
        self.child = Some(child);
        let start = Instant::now();
        loop {
            if let Ok(c) = redis::Client::open(self.check_url.as_str()) {
                if let Ok(mut conn) = c.get_connection_with_timeout(Duration::from_millis(200)) {
                    if redis::cmd("PING").query::<String>(&mut conn).is_ok() {
                        return;
                    }
                }
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "redis-server did not answer on port {} within 10 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `kill -9` the server.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port and directory.
    pub fn restart(&mut self) {
        self.kill();
        if self.mode == Persistence::None {
            // A snapshot from an earlier `snapshot()` must not come back.
            let _ = std::fs::remove_file(self.dir.join("dump.rdb"));
        }
        self.spawn();
    }

    /// A synchronous `SAVE`: the RDB file now holds everything written so far.
    pub fn snapshot(&self) {
        let r: String = redis::cmd("SAVE").query(&mut self.conn()).expect("SAVE");
        assert_eq!(r, "OK");
    }

    /// The server process's id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server running").id()
    }

    /// `kill -STOP`: the server stops answering (connections still open, as with a
    /// paused VM).
    pub fn pause(&self) {
        signal(self.pid(), "STOP");
    }

    /// `kill -CONT`: the paused server goes on.
    pub fn resume(&self) {
        signal(self.pid(), "CONT");
    }

    /// `ZCARD` of `key`.
    pub fn zcard(&self, key: &str) -> usize {
        redis::cmd("ZCARD")
            .arg(key)
            .query(&mut self.conn())
            .unwrap()
    }

    /// A plain connection, for looking at the keys.
    pub fn conn(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .unwrap()
            .get_connection()
            .unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

/// Sends `SIG` to `pid` with the `kill` command (no libc binding needed).
pub fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "kill -{sig} {pid} failed");
}

/// Waits out the restart quarantine of a fresh server (it grants nothing while younger
/// than the longest lease): polls `try_lock` on a throwaway lock, bounded by 5 s.
pub fn wait_ready(client: &aiosync_redis::Client) {
    let start = Instant::now();
    let lock = client.lock("_ready");
    loop {
        if let Some(h) = lock.try_lock().expect("try_lock") {
            h.release().expect("release");
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the server's quarantine did not end within 5 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Polls `f` every 2 ms until it is true; panics after `bound`.
pub fn wait_until(what: &str, bound: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < bound, "not within {bound:?}: {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}
