//! The Python extension `aiosync._aiosync`: conversion and glue only; every wait, handoff
//! and state machine lives in the `aiosync` crate.

use pyo3::prelude::*;

mod aio;
mod errors;
mod event;
mod locks;
mod queue;
mod rwlock;

#[pymodule]
fn _aiosync(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<locks::Lock>()?;
    m.add_class::<locks::RLock>()?;
    m.add_class::<locks::Semaphore>()?;
    m.add_class::<locks::BoundedSemaphore>()?;
    m.add_class::<event::Event>()?;
    m.add_class::<event::Barrier>()?;
    m.add_class::<event::ConditionCore>()?;
    m.add_class::<event::Listener>()?;
    m.add_class::<queue::Queue>()?;
    m.add_class::<queue::LifoQueue>()?;
    m.add_class::<queue::PriorityQueue>()?;
    m.add_class::<rwlock::RwCore>()?;
    m.add_class::<rwlock::RwGuard>()?;
    m.add_class::<aio::Ready>()?;
    m.add_function(wrap_pyfunction!(aio::_running_loop, m)?)?;
    m.add_function(wrap_pyfunction!(aio::_current_task, m)?)?;
    m.add_class::<aio::Waiter>()?;
    Ok(())
}
