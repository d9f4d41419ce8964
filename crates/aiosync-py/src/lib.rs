//! The Python extension `aiosync._aiosync`: conversion and glue only; every wait, handoff
//! and state machine lives in the `aiosync` crate.

use pyo3::prelude::*;

mod barrier;
mod bridge;
mod condition;
mod dual_lock;
mod errors;
mod event;
mod foreign_lock;
mod handover;
mod locks;
mod object_lock;
mod owners;
mod queue;
mod redis;
mod repr;
mod rwlock;
mod semaphore;
mod synchronized;

#[pymodule]
fn _aiosync(m: &Bound<'_, PyModule>) -> PyResult<()> {
    bridge::init_main_thread(m.py())?;
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
    m.add_class::<handover::Handover>()?;
    redis::register(m)?;
    plain_type_names(m, PLAIN_NAMED)?;
    Ok(())
}

/// The classes whose type name is their bare name (see [`plain_type_names`]).
const PLAIN_NAMED: &[&str] = &[
    "Lock",
    "RLock",
    "Semaphore",
    "BoundedSemaphore",
    "Event",
    "Barrier",
    "Condition",
];

/// Makes each class's C-level type name (`tp_name`, which CPython prints in messages
/// such as "object Lock can't be used in 'await' expression" and "cannot pickle 'Lock'
/// object") its bare name, as it is for a class written in Python. PyO3 creates the type
/// as "aiosync.Lock", and a type's `tp_name` follows its `__name__` when that is set;
/// `__module__` ("aiosync", from the pyclass) and `__qualname__` stay as they are, so
/// `repr(aiosync.Lock)` is `<class 'aiosync.Lock'>` and the class pickles by reference.
fn plain_type_names(m: &Bound<'_, PyModule>, names: &[&str]) -> PyResult<()> {
    let py = m.py();
    for name in names {
        m.getattr(*name)?
            .setattr(pyo3::intern!(py, "__name__"), *name)?;
    }
    Ok(())
}
