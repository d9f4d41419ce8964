//! The binding's shared machinery between aiosync's core futures and Python: every class
//! file only converts arguments and results, and calls in here to wait.
//!
//! - [`event_loop`]: the running-loop cache and the current asyncio task;
//! - [`args`]: argument rules shared by the classes (timeouts, asyncio or threading form);
//! - [`blocking`]: the threading form, a GIL-releasing, Ctrl-C-aware blocking wait;
//! - [`ready`]: an awaitable that is already done (uncontended fast paths);
//! - [`owned`]: core futures made `'static` so a Python object can hold them;
//! - [`waker`]: a waker that resolves an asyncio future on its own loop;
//! - [`waiter`]: the asyncio form, an awaitable that drives a core future (and, for
//!   aiorwlock's non-fast mode, yields once to the loop after an acquire that did not wait).

mod args;
mod blocking;
mod event_loop;
mod owned;
mod ready;
mod waiter;
mod waker;

pub(crate) use args::{
    async_form, blocking_form, blocking_form_as, contextual_acquire, contextual_acquire_as, mode,
    no_loop, timeout_arg, wait_timeout_arg, Flag, IntFlag, Mode, Timeouts,
};
pub(crate) use blocking::block;
pub(crate) use event_loop::{
    _current_task, _running_loop, current_task, init_main_thread, running_loop,
};
pub(crate) use owned::{mapped, mapped_with, undoable, Owned, PyPoll};
pub(crate) use ready::{ready, ready_none, ready_once, throw_arg, Ready};
pub(crate) use waiter::{chained, settling_waiter, waiter, Waiter};
