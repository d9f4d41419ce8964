//! The Python extension `aiosync._aiosync`: conversion and glue only; every wait, handoff
//! and state machine lives in the `aiosync` crate.

use pyo3::prelude::*;

mod barrier;
mod bridge;
mod condition;
mod errors;
mod event;
mod locks;
mod object_lock;
mod owners;
mod queue;
mod rwlock;
mod semaphore;
mod synchronized;

#[pymodule]
fn _aiosync(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<locks::Lock>()?;
    m.add_class::<locks::RLock>()?;
    m.add_class::<semaphore::Semaphore>()?;
    m.add_class::<semaphore::BoundedSemaphore>()?;
    m.add_class::<event::Event>()?;
    m.add_class::<barrier::Barrier>()?;
    m.add_class::<condition::Condition>()?;
    m.add_class::<queue::Queue>()?;
    m.add_class::<queue::LifoQueue>()?;
    m.add_class::<queue::PriorityQueue>()?;
    m.add_class::<rwlock::RWLock>()?;
    m.add_class::<rwlock::RWSide>()?;
    m.add_class::<object_lock::ObjectLocks>()?;
    m.add_class::<synchronized::Synchronized>()?;
    synchronized::mark_method_descriptor(&m.py().get_type::<synchronized::Synchronized>());
    m.add_class::<synchronized::SynchronizedMethod>()?;
    m.add_function(wrap_pyfunction!(synchronized::_box_of, m)?)?;
    m.add_function(wrap_pyfunction!(synchronized::_leave_box, m)?)?;
    m.add_function(wrap_pyfunction!(synchronized::_registered_box, m)?)?;
    m.add_function(wrap_pyfunction!(synchronized::_box_table_len, m)?)?;
    m.add_class::<bridge::Ready>()?;
    m.add_function(wrap_pyfunction!(bridge::_running_loop, m)?)?;
    m.add_function(wrap_pyfunction!(bridge::_current_task, m)?)?;
    m.add_class::<bridge::Waiter>()?;
    Ok(())
}
