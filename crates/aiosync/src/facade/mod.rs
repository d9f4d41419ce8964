//! A blocking API over async code (feature `facade`, on tokio): the runtime behind
//! [`#[aiosync::blocking]`](macro@crate::blocking), usable on its own.
//!
//! | item | what it is |
//! | --- | --- |
//! | [`Runtime`] | a tokio runtime on its own thread; [`block_on`](Runtime::block_on) calls into it from synchronous code |
//! | [`Task`] | spawned work: joined blocking or awaited, detached, cancelled on drop |
//! | [`Iter`] | a [`Stream`] read as a blocking iterator |
//! | [`unblock`], [`iter_stream`] | the reverse: a blocking closure run on a bounded pool and awaited, a blocking producer read as a [`Stream`] |
//! | [`CallError`] | why a call gave no result: in the runtime, shut down, timed out |
//!
//! A call from a plain thread polls the future on the calling thread, with the
//! runtime's context entered (the runtime thread only drives I/O, timers and spawned
//! tasks), so threads do not queue behind one another and a trivial call costs a few
//! hundred nanoseconds, not a round trip through a channel. A call from inside a tokio
//! context is run on the runtime thread while the caller blocks; the future may borrow
//! either way. Misuse gives an error, never a hang or a panic: a call on the runtime's
//! own thread, or nested inside a call it drives, is [`CallError::InRuntime`].
//!
//! ```
//! use aiosync::facade::Runtime;
//! use std::time::Duration;
//!
//! let rt = Runtime::new()?;
//! let n = rt.block_on(async {
//!     tokio::time::sleep(Duration::from_millis(1)).await;
//!     tokio::spawn(async { 2 }).await.unwrap() // tokio::spawn works: the context is entered
//! })?;
//! assert_eq!(n, 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # When not to use it
//!
//! - The program is async already: call the async API (a blocking call inside a task
//!   blocks its executor thread, although it does not hang).
//! - One-off blocking in a program built around one tokio runtime: its own
//!   `Runtime::block_on` is enough.

mod error;
mod iter;
mod runtime;
mod stream;
mod task;

pub use error::CallError;
pub use futures_core::Stream;
pub use iter::Iter;
pub use runtime::{Builder, Runtime};
pub use stream::{iter_stream, IterStream};
pub use task::{unblock, Task};
