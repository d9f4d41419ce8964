//! A stream read as a blocking iterator.

use super::{CallError, Runtime, Stream};
use std::pin::Pin;

/// A [`Stream`] read as a blocking [`Iterator`]: each item is a
/// [`Runtime::block_on`] of the stream's next one. Dropping it drops the stream inside
/// the runtime's context (so the stream's I/O resources are released there, and a
/// server sees the connection close at once).
///
/// `next` ends the iteration on a [`CallError`] as at the end of the stream;
/// [`try_next`](Iter::try_next) tells the two apart.
///
/// ```
/// let rt = aiosync::facade::Runtime::new()?;
/// let mut it = rt.iter(futures_lite::stream::iter(["a", "b"]));
/// assert_eq!(it.try_next()?, Some("a"));
/// assert_eq!(it.next(), Some("b"));
/// assert_eq!(it.try_next()?, None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Iter<S: Stream> {
    stream: Option<Pin<Box<S>>>,
    rt: Runtime,
}

impl<S: Stream> std::fmt::Debug for Iter<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Iter").field("rt", &self.rt).finish()
    }
}

impl<S: Stream> Iter<S> {
    pub(super) fn new(stream: S, rt: Runtime) -> Iter<S> {
        Iter {
            stream: Some(Box::pin(stream)),
            rt,
        }
    }

    /// The runtime the iterator blocks on.
    ///
    /// ```
    /// let rt = aiosync::facade::Runtime::new()?;
    /// assert!(rt.iter(futures_lite::stream::empty::<()>()).runtime().same_as(&rt));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn runtime(&self) -> &Runtime {
        &self.rt
    }
}

impl<S> Iter<S>
where
    S: Stream + Send,
    S::Item: Send,
{
    /// The next item, `Ok(None)` at the end of the stream.
    ///
    /// # Errors
    ///
    /// As [`Runtime::block_on`].
    ///
    /// ```
    /// let rt = aiosync::facade::Runtime::new()?;
    /// let mut it = rt.iter(futures_lite::stream::once(7));
    /// assert_eq!(it.try_next()?, Some(7));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_next(&mut self) -> Result<Option<S::Item>, CallError> {
        let Some(stream) = self.stream.as_mut() else {
            return Ok(None);
        };
        self.rt
            .block_on(std::future::poll_fn(|cx| stream.as_mut().poll_next(cx)))
    }
}

impl<S> Iterator for Iter<S>
where
    S: Stream + Send,
    S::Item: Send,
{
    type Item = S::Item;

    fn next(&mut self) -> Option<S::Item> {
        self.try_next().ok().flatten()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.stream {
            Some(s) => (0, s.size_hint().1),
            None => (0, Some(0)),
        }
    }
}

impl<S: Stream> Drop for Iter<S> {
    fn drop(&mut self) {
        let _enter = self.rt.inner.handle.enter();
        self.stream = None;
    }
}
