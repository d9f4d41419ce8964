//! The client's threads: the pub/sub listener that wakes waiters, the heartbeat that
//! renews holds (and runs put-off work), the watchdog that ends holds at their deadline.

use super::Shared;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

pub(super) fn spawn(
    name: &str,
    shared: &Arc<Shared>,
    f: impl FnOnce(Weak<Shared>) + Send + 'static,
) {
    let weak = Arc::downgrade(shared);
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || f(weak))
        .expect("spawn a client thread");
}

/// The pub/sub thread: a message names the waiter a release handed the lock to.
pub(super) fn listen(
    weak: Weak<Shared>,
    mut conn: redis::Connection,
    ready: std::sync::mpsc::Sender<()>,
) {
    loop {
        // One `PubSub` per connection: dropping it unsubscribes.
        let mut ps = conn.as_pubsub();
        if subscribe(&weak, &mut ps).is_ok() {
            let _ = ready.send(());
            loop {
                let msg = ps.get_message();
                let Some(shared) = weak.upgrade() else { return };
                if shared.stop.load(Ordering::SeqCst) {
                    return;
                }
                match msg {
                    Ok(m) => {
                        if let Ok(id) = m.get_payload::<String>() {
                            let ev = shared.waiters.lock().get(&id).cloned();
                            if let Some(ev) = ev {
                                ev.set();
                            }
                        }
                    }
                    Err(e) if e.is_timeout() => {}
                    Err(_) => break,
                }
            }
        }
        drop(ps);
        // Messages may have been lost while disconnected: everyone re-checks.
        let Some(shared) = weak.upgrade() else { return };
        shared.wake_all();
        drop(shared);
        std::thread::sleep(Duration::from_millis(50));
        let Some(shared) = weak.upgrade() else { return };
        if let Ok(c) = shared
            .redis
            .get_connection_with_timeout(shared.io_timeout())
        {
            conn = c;
        }
    }
}

fn subscribe(weak: &Weak<Shared>, ps: &mut redis::PubSub<'_>) -> redis::RedisResult<()> {
    let Some(shared) = weak.upgrade() else {
        return Err((redis::ErrorKind::Io, "client dropped").into());
    };
    ps.set_read_timeout(Some(Duration::from_millis(200)))?;
    ps.subscribe(format!("{}{}", shared.wake_prefix(), shared.id))
}

/// The watchdog: marks a hold lost at its local deadline, even while the heartbeat is
/// stuck on a server that does not answer, and so wakes whoever watches it.
pub(super) fn watchdog(weak: Weak<Shared>) {
    loop {
        let Some(shared) = weak.upgrade() else { return };
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let mut next = Instant::now() + shared.beat();
        let holds: Vec<_> = shared.holds.lock().values().cloned().collect();
        for h in holds {
            if !h.is_lost() {
                next = next.min(h.deadline());
            }
        }
        drop(shared);
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
    }
}

/// The heartbeat: renews every hold, marks lost the ones it cannot, wakes every waiter.
pub(super) fn heartbeat(weak: Weak<Shared>) {
    let mut next = Instant::now();
    loop {
        let Some(shared) = weak.upgrade() else { return };
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        next += shared.beat();
        if !shared.heartbeat_suspended.load(Ordering::SeqCst) {
            shared.open_fast();
            let jobs = std::mem::take(&mut *shared.deferred.lock());
            for mut job in jobs {
                if !job() {
                    shared.defer(job);
                }
            }
            let holds: Vec<_> = shared.holds.lock().values().cloned().collect();
            for h in holds {
                h.renew(&shared);
            }
            shared.wake_all();
        }
        drop(shared);
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        } else {
            next = now;
        }
    }
}
