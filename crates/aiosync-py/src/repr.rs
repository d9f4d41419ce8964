//! Reprs in the standard library's formats. One object serves threading and asyncio
//! code, so a repr carries both: threading's text first, asyncio's bracketed extras
//! last (`<unlocked aiosync.Lock object at 0x… [unlocked]>`). Where threading's format
//! ends in its state (`<threading.Event at 0x…: set>`), that repr is nested as the
//! class part of asyncio's (`<<aiosync.Event at 0x…: set> object at 0x… [set]>`):
//! threading's tests search for their form, asyncio's match the whole string.

use pyo3::prelude::*;

/// `module.qualname` of `slf`'s class (a subclass shows its own name) and its address.
fn class_and_address(slf: &Bound<'_, PyAny>) -> PyResult<(String, String)> {
    let t = slf.get_type();
    let class = format!("{}.{}", t.module()?, t.qualname()?);
    Ok((class, format!("{:#x}", slf.as_ptr() as usize)))
}

/// asyncio's extras: `state`, then `, waiters:N` when some wait.
pub(crate) fn extras(state: &str, waiters: usize) -> String {
    if waiters == 0 {
        state.to_owned()
    } else {
        format!("{state}, waiters:{waiters}")
    }
}

/// A lock's repr: `<{state} {class} object{detail} at {address} [{extras}]>` (an empty
/// `state` is left out, with its space)
/// (`detail`: threading's `owner=… count=…`, with its leading space, or empty).
pub(crate) fn lock(
    slf: &Bound<'_, PyAny>,
    state: &str,
    detail: &str,
    extras: &str,
) -> PyResult<String> {
    let (class, at) = class_and_address(slf)?;
    let extras = if extras.is_empty() {
        String::new()
    } else {
        format!(" [{extras}]")
    };
    let state = if state.is_empty() {
        String::new()
    } else {
        format!("{state} ")
    };
    Ok(format!("<{state}{class} object{detail} at {at}{extras}>"))
}

/// threading's `<{class} at {address}: {threading}>` nested in asyncio's
/// `<… object at {address} [{asyncio}]>`.
pub(crate) fn nested(slf: &Bound<'_, PyAny>, threading: &str, asyncio: &str) -> PyResult<String> {
    let (class, at) = class_and_address(slf)?;
    Ok(format!(
        "<<{class} at {at}: {threading}> object at {at} [{asyncio}]>"
    ))
}
