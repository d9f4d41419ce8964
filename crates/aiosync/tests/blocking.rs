//! `#[aiosync::blocking]` over a small tokio TCP echo client: the generated blocking API
//! from plain threads (one, and four at once), inside `#[tokio::main]`-style runtimes,
//! a stream read as an iterator and dropped early (the server sees it), misuse,
//! shutdown and panics.
#![cfg(all(feature = "facade", feature = "macros"))]

use aiosync::facade::{CallError, Runtime, Stream};
use std::io::{BufRead, BufReader as StdBufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// A blocking std server on 127.0.0.1: echoes lines; on `STREAM` it writes numbered lines
/// until the client goes away, then reports how many it wrote.
fn server() -> (SocketAddr, mpsc::Receiver<usize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (closed_tx, closed_rx) = mpsc::channel();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let closed_tx = closed_tx.clone();
            std::thread::spawn(move || {
                conn.set_nodelay(true).unwrap();
                let mut out = conn.try_clone().unwrap();
                for line in StdBufReader::new(conn).lines() {
                    let Ok(line) = line else { return };
                    if line == "STREAM" {
                        let mut n = 0;
                        while writeln!(out, "item {n}").is_ok() {
                            n += 1;
                            std::thread::sleep(Duration::from_millis(1));
                        }
                        let _ = closed_tx.send(n);
                        return;
                    }
                    // One write per line: no Nagle wait for a second segment.
                    if out.write_all(format!("{line}\n").as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, closed_rx)
}

/// The async implementation, written once.
#[derive(Clone)]
pub struct EchoClient {
    addr: SocketAddr,
    conn: Arc<tokio::sync::Mutex<BufReader<TcpStream>>>,
}

#[aiosync::blocking]
impl EchoClient {
    /// Connects to an echo server.
    pub async fn connect(addr: SocketAddr) -> std::io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(EchoClient {
            addr,
            conn: Arc::new(tokio::sync::Mutex::new(BufReader::new(stream))),
        })
    }

    /// Sends a line and reads it back (a borrowed argument).
    #[blocking(future)]
    pub async fn echo(&self, line: String) -> std::io::Result<String> {
        self.echo_str(&line).await
    }

    /// Sends a line and reads it back.
    pub async fn echo_str(&self, line: &str) -> std::io::Result<String> {
        let mut conn = self.conn.lock().await;
        conn.get_mut()
            .write_all(format!("{line}\n").as_bytes())
            .await?;
        let mut back = String::new();
        conn.read_line(&mut back).await?;
        Ok(back.trim_end().to_owned())
    }

    /// Lines from a new connection, for as long as the caller reads them.
    #[blocking(iter)]
    pub async fn subscribe(
        &self,
    ) -> std::io::Result<impl Stream<Item = std::io::Result<String>> + Send + 'static> {
        let mut stream = TcpStream::connect(self.addr).await?;
        stream.write_all(b"STREAM\n").await?;
        let lines = BufReader::new(stream).lines();
        Ok(futures_lite::stream::unfold(
            lines,
            |mut lines| async move {
                match lines.next_line().await {
                    Ok(Some(l)) => Some((Ok(l), lines)),
                    Ok(None) => None,
                    Err(e) => Some((Err(e), lines)),
                }
            },
        ))
    }

    /// A plain output: becomes `Result<usize, CallError>`.
    pub async fn round_trips(&mut self, n: usize) -> usize {
        for i in 0..n {
            self.echo_str(&i.to_string()).await.unwrap();
        }
        n
    }

    /// Panics inside the async body.
    pub async fn boom(&self) -> u32 {
        tokio::task::yield_now().await;
        panic!("boom in the async body")
    }

    /// Not async: left alone.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

fn call_error(e: &std::io::Error) -> Option<CallError> {
    e.get_ref()?.downcast_ref::<CallError>().copied()
}

#[test]
fn from_plain_main() {
    let (addr, _) = server();
    let mut client = BlockingEchoClient::connect(addr).unwrap();
    assert_eq!(client.echo_str("hello").unwrap(), "hello");
    assert_eq!(client.echo("owned".into()).unwrap(), "owned");
    assert_eq!(client.round_trips(3), Ok(3));
    assert_eq!(client.get_ref().addr(), addr);
    let task = client.echo_future("later".into());
    assert_eq!(task.join().unwrap().unwrap(), "later");
    // The async API of the same client, on an executor that knows nothing of tokio.
    let back = futures_lite::future::block_on(client.aio().echo_str("aio")).unwrap();
    assert_eq!(back, "aio");
    // The raw async value is there too, for callers inside a tokio context.
    let _in = client.runtime().handle().enter();
    let raw = futures_lite::future::block_on(client.get_ref().echo_str("raw")).unwrap();
    assert_eq!(raw, "raw");
    drop(_in);
    let inner: EchoClient = client.into_inner();
    assert_eq!(inner.addr(), addr);
}

#[test]
fn four_threads_at_once() {
    let (addr, _) = server();
    let rt = Runtime::new().unwrap();
    let shared = BlockingEchoClient::connect_on(&rt, addr).unwrap();
    std::thread::scope(|s| {
        for t in 0..4 {
            let (rt, shared) = (&rt, &shared);
            s.spawn(move || {
                let own = BlockingEchoClient::connect_on(rt, addr).unwrap();
                for i in 0..50 {
                    let msg = format!("{t}-{i}");
                    assert_eq!(own.echo_str(&msg).unwrap(), msg);
                    assert_eq!(shared.echo_str(&msg).unwrap(), msg);
                }
            });
        }
    });
}

#[tokio::test]
async fn inside_tokio_main_current_thread() {
    let (addr, _) = server();
    // Created, called and dropped inside someone else's runtime.
    let client = BlockingEchoClient::connect(addr).unwrap();
    assert_eq!(client.echo_str("in tokio").unwrap(), "in tokio");
    drop(client);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inside_tokio_main_multi_thread() {
    let (addr, _) = server();
    let rt = Runtime::new().unwrap();
    let client = BlockingEchoClient::connect_on(&rt, addr).unwrap();
    let word = String::from("borrowed in a worker");
    assert_eq!(client.echo_str(&word).unwrap(), word);
    // The async API is the right one here.
    assert_eq!(client.aio().echo_str("aio").await.unwrap(), "aio");
    drop(client);
    drop(rt);
}

#[test]
fn stream_as_iterator_dropped_early_is_seen_by_the_server() {
    let (addr, closed) = server();
    let client = BlockingEchoClient::connect(addr).unwrap();
    let mut it = client.subscribe().unwrap();
    let first: Vec<String> = it.by_ref().take(3).map(Result::unwrap).collect();
    assert_eq!(first, ["item 0", "item 1", "item 2"]);
    drop(it);
    let wrote = closed
        .recv_timeout(Duration::from_secs(5))
        .expect("the server saw the stream dropped");
    assert!(wrote >= 3);
}

#[test]
fn misuse_is_an_error_not_a_hang() {
    let (addr, _) = server();
    let client = Arc::new(BlockingEchoClient::connect(addr).unwrap());
    // On the runtime's own thread.
    let c = client.clone();
    let on_runtime = client
        .runtime()
        .spawn(async move { c.echo_str("x").map_err(|e| call_error(&e)) })
        .join()
        .unwrap();
    assert_eq!(on_runtime, Err(Some(CallError::InRuntime)));
    // Nested inside a call the facade drives.
    let nested = client
        .runtime()
        .block_on(async { client.echo_str("x").map_err(|e| call_error(&e)) })
        .unwrap();
    assert_eq!(nested, Err(Some(CallError::InRuntime)));
    assert_eq!(client.echo_str("still fine").unwrap(), "still fine");
}

#[test]
fn calls_after_shutdown() {
    let (addr, _) = server();
    let rt = Runtime::new().unwrap();
    let mut client = BlockingEchoClient::connect_on(&rt, addr).unwrap();
    rt.shutdown();
    let e = client.echo_str("late").unwrap_err();
    assert_eq!(call_error(&e), Some(CallError::Shutdown));
    assert_eq!(client.round_trips(1), Err(CallError::Shutdown));
    assert_eq!(
        BlockingEchoClient::connect_on(&rt, addr)
            .map_err(|e| call_error(&e))
            .unwrap_err(),
        Some(CallError::Shutdown)
    );
}

#[test]
fn a_panic_reaches_the_caller_and_the_client_goes_on() {
    let (addr, _) = server();
    let client = BlockingEchoClient::connect(addr).unwrap();
    let payload = catch_unwind(AssertUnwindSafe(|| client.boom())).unwrap_err();
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&"boom in the async body")
    );
    assert_eq!(client.echo_str("after").unwrap(), "after");

    // Forwarded from inside tokio: the payload comes back too.
    let outer = tokio::runtime::Runtime::new().unwrap();
    let payload = outer
        .block_on(async { catch_unwind(AssertUnwindSafe(|| client.boom())) })
        .unwrap_err();
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&"boom in the async body")
    );
    assert_eq!(client.echo_str("after again").unwrap(), "after again");
}
