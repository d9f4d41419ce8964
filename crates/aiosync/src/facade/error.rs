//! Why a blocking call through the facade did not run.

use std::fmt;

/// Why a call through a facade [`Runtime`](super::Runtime) could not give a result.
///
/// ```
/// use aiosync::facade::CallError;
/// let e: std::io::Error = CallError::Shutdown.into();
/// assert_eq!(e.to_string(), "the facade runtime is shut down");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CallError {
    /// A blocking call made on the facade runtime's own thread, or from inside a call the
    /// facade is driving on this thread: it could only wait for itself, so it is refused
    /// at once. Use the async form (`aio()`), or spawn the call.
    InRuntime,
    /// The facade runtime has been shut down.
    Shutdown,
    /// A wait with a timeout ran out of time (the task goes on).
    TimedOut,
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CallError::InRuntime => {
                "a blocking call on the facade runtime's own thread (or nested in a call it \
                 drives) would wait for itself; use the async form"
            }
            CallError::Shutdown => "the facade runtime is shut down",
            CallError::TimedOut => "the wait timed out",
        })
    }
}

impl std::error::Error for CallError {}

impl From<CallError> for std::io::Error {
    fn from(e: CallError) -> std::io::Error {
        let kind = match e {
            CallError::InRuntime => std::io::ErrorKind::Other,
            CallError::Shutdown => std::io::ErrorKind::NotConnected,
            CallError::TimedOut => std::io::ErrorKind::TimedOut,
        };
        std::io::Error::new(kind, e)
    }
}
