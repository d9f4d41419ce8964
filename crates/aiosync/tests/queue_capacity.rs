//! Integration tests for a queue's changing bound (`Queue::set_maxsize`: growing wakes
//! waiting putters in FIFO order, shrinking keeps the items in and makes puts wait until
//! the queue is under its new bound, whatever happens to places in flight), for priority
//! queues whose comparator refuses an item (`Queue::priority_by`: the queue is left as it
//! was), and for `close`.

mod common;

use aiosync::{PutError, Queue, QueueShutDown, TryGetError, TryPutError};
use common::*;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// Fills `q` with `try_put` until it refuses, and returns how many it took (at most
/// `limit`): the room a queue really has, whatever its counters say.
fn room(q: &Queue<u32>, limit: u32) -> u32 {
    let mut n = 0;
    while n < limit && q.try_put(1000 + n).is_ok() {
        n += 1;
    }
    n
}

// ---------------------------------------------------------------------------------------
// Growing

#[test]
fn growing_wakes_waiting_putters_in_fifo_order() {
    let q = Queue::new(1);
    q.try_put(0).unwrap();
    let mut puts: Vec<_> = (1..=4).map(|i| Hand::new(q.put(i))).collect();
    for p in &mut puts {
        p.pending();
    }
    assert_eq!(q.waiting_putters(), 4);

    q.set_maxsize(3); // room for two: the first two putters, not the others
    assert_eq!(
        puts.iter().map(Hand::wakes).collect::<Vec<_>>(),
        [1, 1, 0, 0]
    );
    // Polled last-first, the later ones still cannot pass the earlier ones.
    puts[3].pending();
    puts[2].pending();
    assert_eq!(puts[1].ready(), Ok(()));
    assert_eq!(puts[0].ready(), Ok(()));
    assert!(q.is_full());

    q.set_maxsize(0); // unbounded: everyone goes
    assert_eq!(puts[2].wakes(), 1);
    assert_eq!(puts[3].wakes(), 1);
    assert_eq!(puts[2].ready(), Ok(()));
    assert_eq!(puts[3].ready(), Ok(()));
    drop(puts);
    // FIFO among the woken ones too: 2 was put before 1 only because it was polled first.
    let got: Vec<u32> = std::iter::from_fn(|| q.try_get().ok()).collect();
    assert_eq!(got, [0, 2, 1, 3, 4]);
    assert_eq!(q.unfinished_tasks(), 5);
}

#[test]
fn growing_releases_a_putter_blocked_on_another_thread() {
    let q = Arc::new(Queue::new(1));
    q.try_put(1).unwrap();
    let t = {
        let q = q.clone();
        spawn_bounded(move || q.put_blocking(2))
    };
    wait_until("the putter waits", || q.waiting_putters() == 1);
    q.set_maxsize(2);
    assert_eq!(t.join(), Ok(()));
    assert_eq!(q.len(), 2);
    assert!(q.is_full());
}

#[test]
fn growing_an_unbounded_queue_to_a_bound_counts_the_items_in_it() {
    let q = Queue::new(0);
    for i in 0..5 {
        q.try_put(i).unwrap();
    }
    q.set_maxsize(3); // five items in, three allowed
    assert!(q.is_full());
    assert!(matches!(q.try_put(9), Err(TryPutError::Full(9))));
    for _ in 0..3 {
        q.try_get().unwrap();
    }
    // Two left of three: room for one.
    assert_eq!(room(&q, 10), 1);
}

// ---------------------------------------------------------------------------------------
// Shrinking

#[test]
fn shrinking_keeps_items_and_puts_wait_until_under_the_new_bound() {
    let q = Queue::new(4);
    for i in 0..4 {
        q.try_put(i).unwrap();
    }
    q.set_maxsize(2);
    assert_eq!(q.len(), 4, "shrinking dropped items");
    let mut p = Hand::new(q.put(10));
    p.pending();
    assert_eq!(q.try_get(), Ok(0));
    assert_eq!(q.try_get(), Ok(1));
    assert_eq!(
        p.wakes(),
        0,
        "putter woken while the queue holds the new maxsize"
    );
    p.pending();
    assert_eq!(q.try_get(), Ok(2)); // one left: under the bound
    assert_eq!(p.wakes(), 1);
    assert_eq!(p.ready(), Ok(()));
    assert!(q.is_full());
    assert!(matches!(q.try_put(11), Err(TryPutError::Full(11))));
}

#[test]
fn shrinking_takes_back_a_free_place_a_putter_was_woken_for() {
    let q = Queue::new(2);
    q.try_put(1).unwrap();
    q.try_put(2).unwrap();
    let mut p = Hand::new(q.put(3));
    p.pending();
    assert_eq!(q.try_get(), Ok(1));
    assert_eq!(p.wakes(), 1); // woken for the free place, has not run yet
    q.set_maxsize(1);
    p.pending(); // the place is gone: one item in, one allowed
    assert_eq!(q.try_get(), Ok(2));
    assert_eq!(p.ready(), Ok(()));
    assert_eq!(q.len(), 1);
    assert_eq!(room(&q, 10), 0);
}

/// A place handed straight to a putter (the head waited past the fairness timeout, so
/// the release handed it over) that the putter then gives up goes back through the
/// queue: it pays what the shrink owed instead of becoming free room.
#[test]
fn a_handed_place_given_up_after_a_shrink_pays_what_it_owed() {
    let q = Queue::new(2);
    q.try_put(1).unwrap();
    q.try_put(2).unwrap();
    let mut p1 = Hand::new(q.put(3));
    let mut p2 = Hand::new(q.put(4));
    p1.pending();
    p2.pending();
    assert_eq!(q.try_get(), Ok(1)); // starts the head's clock, wakes it
                                    // Past the fairness timeout (about 0.5 ms): the next release hands places over.
    thread::sleep(Duration::from_millis(5));
    assert_eq!(q.try_get(), Ok(2));
    assert_eq!(q.len(), 0);
    q.set_maxsize(1); // both places are handed to putters: one is owed
    drop(p1); // gives its place up: it pays the debt
    assert_eq!(p2.ready(), Ok(())); // a put handed its place before the shrink completes
    assert_eq!(q.len(), 1);
    assert!(
        matches!(q.try_put(5), Err(TryPutError::Full(5))),
        "the given-up place became free room past the new bound"
    );
    assert_eq!(q.try_get(), Ok(4));
    assert_eq!(room(&q, 10), 1);
}

#[test]
fn a_blocking_put_that_times_out_after_a_shrink_leaves_the_bound_exact() {
    let q = Queue::new(3);
    for i in 0..3 {
        q.try_put(i).unwrap();
    }
    q.set_maxsize(1);
    assert!(matches!(
        q.put_blocking_timeout(7, Duration::from_millis(5)),
        Err(TryPutError::Full(7))
    ));
    assert_eq!(q.waiting_putters(), 0);
    for _ in 0..3 {
        q.try_get().unwrap();
    }
    assert_eq!(room(&q, 10), 1);
}

#[test]
fn shrink_and_grow_across_threads_keep_the_count_of_places() {
    let q = Arc::new(Queue::new(8));
    let producers: Vec<_> = (0..2)
        .map(|t| {
            let q = q.clone();
            spawn_bounded(move || {
                for i in 0..200 {
                    q.put_blocking(t * 1000 + i).unwrap();
                }
            })
        })
        .collect();
    let resizer = {
        let q = q.clone();
        spawn_bounded(move || {
            for i in 0..200 {
                q.set_maxsize(1 + i % 8);
            }
            q.set_maxsize(4);
        })
    };
    let mut got = 0;
    while got < 400 {
        if q.get_blocking_timeout(LIMIT).is_ok() {
            got += 1;
        } else {
            panic!("a putter was left waiting with room in the queue");
        }
    }
    for p in producers {
        p.join();
    }
    resizer.join();
    assert!(q.is_empty());
    assert_eq!(room(&q, 100), 4, "places lost or made up while resizing");
}

// ---------------------------------------------------------------------------------------
// Priority queues with a comparator that may refuse

#[test]
fn an_unorderable_item_is_refused_and_the_queue_is_unchanged() {
    let q = Queue::priority_by(0, f64::partial_cmp);
    for v in [3.0, 1.0, 2.0] {
        q.try_put(v).unwrap();
    }
    let before = q.snapshot(|v| *v);
    assert!(matches!(q.try_put(f64::NAN), Err(TryPutError::Unordered(v)) if v.is_nan()));
    assert!(matches!(q.put_blocking(f64::NAN), Err(PutError::Unordered(v)) if v.is_nan()));
    let r = futures_lite::future::block_on(q.put(f64::NAN));
    assert!(matches!(r, Err(PutError::Unordered(v)) if v.is_nan()));
    assert_eq!(q.snapshot(|v| *v), before);
    assert_eq!((q.len(), q.unfinished_tasks()), (3, 3));
    let got: Vec<f64> = std::iter::from_fn(|| q.try_get().ok()).collect();
    assert_eq!(got, [1.0, 2.0, 3.0]);
}

#[test]
fn a_refused_put_that_waited_for_room_gives_the_room_back() {
    let q = Queue::priority_by(2, f64::partial_cmp);
    q.try_put(1.0).unwrap();
    q.try_put(2.0).unwrap();
    let mut p = Hand::new(q.put(f64::NAN));
    p.pending();
    assert_eq!(q.try_get(), Ok(1.0));
    assert!(matches!(p.ready(), Err(PutError::Unordered(v)) if v.is_nan()));
    assert_eq!((q.len(), q.unfinished_tasks()), (1, 2));
    q.try_put(0.5).unwrap(); // the room the refused put had is there
    assert!(q.is_full());
    assert_eq!(q.try_get(), Ok(0.5));
}

// ---------------------------------------------------------------------------------------
// Close

#[test]
fn close_refuses_puts_drops_items_and_releases_joiners() {
    let q = Arc::new(Queue::new(0));
    q.try_put(1).unwrap();
    q.try_put(2).unwrap();
    assert_eq!(q.try_get(), Ok(1)); // taken, never marked done
    let joiner = {
        let q = q.clone();
        spawn_bounded(move || q.join_blocking())
    };
    let mut join = Hand::new(q.join());
    join.pending();
    q.close();
    assert!(q.is_closed() && q.is_shutdown());
    joiner.join();
    assert_eq!(join.wakes(), 1);
    join.ready();
    assert_eq!(q.unfinished_tasks(), 1);
    assert!(q.join_blocking_timeout(Duration::ZERO));
    assert!(matches!(q.try_put(3), Err(TryPutError::ShutDown(3))));
    assert_eq!(q.try_get(), Err(TryGetError::ShutDown));
    assert_eq!(q.get_blocking(), Err(QueueShutDown(())));
    q.task_done().unwrap();
    assert!(q.task_done().is_err());
}
