//! The Python extension `aiosync._aiosync`: conversion and glue only; every wait, handoff
//! and state machine lives in the `aiosync` crate.

use pyo3::prelude::*;

mod aio;
mod locks;

#[pymodule]
fn _aiosync(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<locks::Lock>()?;
    m.add_class::<locks::RLock>()?;
    m.add_class::<locks::Semaphore>()?;
    m.add_class::<locks::BoundedSemaphore>()?;
    m.add_class::<aio::Ready>()?;
    m.add_class::<aio::Waiter>()?;
    Ok(())
}
