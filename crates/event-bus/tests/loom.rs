//! loom models of the ring, lag accounting, wake-ups and mixed policies.
//!
//! Run with `RUSTFLAGS="--cfg tidewater_loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release
//! -p tidewater-event-bus --test loom`. Each model states the invariant it checks.
#![cfg(tidewater_loom)]

use loom::sync::atomic::{AtomicBool, Ordering};
use loom::thread;
use std::future::Future;
use tidewater_event_bus::{
    EventBus, Overflow, RecvError, Start, SubscribeOptions, Subscriber, Topic, TopicOptions,
    TryRecvError,
};

fn topic(capacity: usize) -> Topic<u64> {
    Topic::new("loom", TopicOptions { capacity }).unwrap()
}

fn opts(capacity: usize, overflow: Overflow) -> SubscribeOptions {
    SubscribeOptions {
        capacity,
        overflow,
        start: Start::Now,
    }
}

/// Checks one receive against the events published so far: every event carries its own
/// sequence number as payload, sequence numbers only grow, and a `Lagged { missed }` is
/// followed by exactly the event `missed` after the last one seen. Returns false when empty.
fn step(sub: &mut Subscriber<u64>, expect_next: &mut u64, seen: &mut u64) -> bool {
    match sub.try_recv() {
        Ok(event) => {
            assert_eq!(
                event.seq(),
                *expect_next,
                "an event vanished without a Lagged report"
            );
            assert_eq!(
                *event,
                event.seq(),
                "a slot was read after it was overwritten"
            );
            *expect_next += 1;
            *seen += 1;
            true
        }
        Err(TryRecvError::Lagged { missed }) => {
            assert!(missed > 0);
            *expect_next += missed;
            *seen += missed;
            true
        }
        Err(TryRecvError::Empty | TryRecvError::Closed) => false,
    }
}

/// One receive attempt; yields to the other threads when nothing is there yet. (loom does
/// not reorder a bare load before a later store of another thread: the yield lets it explore
/// the publisher running between the reader's steps.)
fn poll(sub: &mut Subscriber<u64>, expect_next: &mut u64, seen: &mut u64) {
    if !step(sub, expect_next, seen) {
        thread::yield_now();
    }
}

/// Ring wrap-around at capacity 1 and 2: a reader racing a publisher that laps it never reads
/// an overwritten slot, and received + missed == published, exactly.
#[test]
fn ring_wraps_at_capacity_one_and_two() {
    for capacity in [1, 2] {
        loom::model(move || {
            let t = topic(capacity);
            let mut sub = t.subscribe();
            let publisher = {
                let t = t.clone();
                thread::spawn(move || {
                    for i in 0..3 {
                        t.publish(i);
                    }
                })
            };
            let (mut next, mut seen) = (0, 0);
            for _ in 0..2 {
                poll(&mut sub, &mut next, &mut seen);
            }
            publisher.join().unwrap();
            while step(&mut sub, &mut next, &mut seen) {}
            assert_eq!(seen, 3, "missed counts must add up to what was skipped");
            assert_eq!(next, 3, "the newest event is always delivered");
        });
    }
}

/// Two plain `Lag` ring readers on their own threads share a chunk (read locks, taken at the
/// same time) while a publisher laps them: neither reads an overwritten slot, and for each
/// the events received plus the `missed` counts equal the events published, exactly.
#[test]
fn two_ring_readers_share_a_chunk_while_the_publisher_laps_them() {
    loom::model(|| {
        let t = topic(2);
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let mut sub = t.subscribe();
                thread::spawn(move || {
                    let (mut next, mut seen) = (0, 0);
                    poll(&mut sub, &mut next, &mut seen);
                    poll(&mut sub, &mut next, &mut seen);
                    (sub, next, seen)
                })
            })
            .collect();
        for i in 0..3 {
            t.publish(i);
        }
        for reader in readers {
            let (mut sub, mut next, mut seen) = reader.join().unwrap();
            while step(&mut sub, &mut next, &mut seen) {}
            assert_eq!(seen, 3, "missed counts must add up to what was skipped");
            let m = sub.metrics();
            assert_eq!(m.delivered + m.lagged, 3);
        }
    });
}

/// Lag accounting with two readers of different capacities on one ring and on a queue
/// subscriber: for each, the `missed` counts plus the events received equal the events
/// published, and the subscriber's `lagged` metric equals the reported misses.
#[test]
fn lag_accounting_adds_up() {
    loom::model(|| {
        let t = topic(2);
        let mut ring = t.subscribe_with(opts(1, Overflow::Lag)).unwrap();
        let mut queue = t
            .subscribe_filtered_with(opts(1, Overflow::Lag), |_| true)
            .unwrap();
        let publisher = {
            let t = t.clone();
            thread::spawn(move || {
                for i in 0..3 {
                    t.publish(i);
                }
            })
        };
        let reader = thread::spawn(move || {
            let (mut next, mut seen) = (0, 0);
            poll(&mut queue, &mut next, &mut seen);
            (queue, next, seen)
        });
        let (mut next, mut seen) = (0, 0);
        poll(&mut ring, &mut next, &mut seen);
        publisher.join().unwrap();
        while step(&mut ring, &mut next, &mut seen) {}
        assert_eq!(seen, 3);
        let (mut queue, mut qnext, mut qseen) = reader.join().unwrap();
        while step(&mut queue, &mut qnext, &mut qseen) {}
        assert_eq!(qseen, 3);
        let (rm, qm) = (ring.metrics(), queue.metrics());
        assert_eq!(rm.delivered + rm.lagged, 3);
        assert_eq!(qm.delivered + qm.lagged, 3);
    });
}

/// No lost wake-up under `Block`: a lossless publisher parked on a full subscriber of
/// capacity 1 and a receiver parked on an empty one always wake each other (loom reports a
/// deadlock otherwise), and the subscriber sees every event, in order.
#[test]
fn block_has_no_lost_wakeup() {
    loom::model(|| {
        let t = topic(1);
        let mut sub = t.subscribe_with(opts(1, Overflow::Block)).unwrap();
        let publisher = {
            let t = t.clone();
            thread::spawn(move || {
                for i in 0..3 {
                    t.blocking_publish(i).unwrap();
                }
            })
        };
        for i in 0..3 {
            assert_eq!(*sub.blocking_recv().unwrap(), i);
        }
        publisher.join().unwrap();
    });
}

/// The same for a `Block` subscriber with its own queue (a filtered one; plain `Block`
/// subscribers read the ring behind a gate): publisher and receiver parked on a queue of
/// capacity 1 always wake each other, and every event arrives in order.
#[test]
fn queued_block_has_no_lost_wakeup() {
    loom::model(|| {
        let t = topic(1);
        let mut sub = t
            .subscribe_filtered_with(opts(1, Overflow::Block), |_| true)
            .unwrap();
        let publisher = {
            let t = t.clone();
            thread::spawn(move || {
                for i in 0..3 {
                    t.blocking_publish(i).unwrap();
                }
            })
        };
        for i in 0..3 {
            assert_eq!(*sub.blocking_recv().unwrap(), i);
        }
        publisher.join().unwrap();
    });
}

/// No lost wake-up on the ring: a reader parked in `blocking_recv` is woken by a publish and
/// by a close racing its registration.
///
/// (The reader runs on the spawned thread: a stale unpark, harmless with std threads, would
/// trip loom's `join` if it hit the main thread.)
#[test]
fn ring_reader_has_no_lost_wakeup() {
    loom::model(|| {
        let t = topic(2);
        let mut sub = t.subscribe();
        let got = std::sync::Arc::new(AtomicBool::new(false));
        let reader = {
            let got = got.clone();
            thread::spawn(move || {
                assert_eq!(*sub.blocking_recv().unwrap(), 7);
                got.store(true, Ordering::Release);
                assert_eq!(sub.blocking_recv().unwrap_err(), RecvError::Closed);
            })
        };
        t.publish(7);
        // Close only once the event arrived, so a wake-up lost by the publish is not hidden
        // by the close's wake-up.
        while !got.load(Ordering::Acquire) {
            thread::yield_now();
        }
        drop(t); // the last handle closes the topic
        reader.join().unwrap();
    });
}

/// Mixed policies on one topic: only the `Block` subscriber holds the publisher back (an
/// unread `DropNewest` and a lagging ring reader never do), the `Block` subscriber sees every
/// event, and the others account for every event as received, missed or dropped.
#[test]
fn mixed_policies_only_block_gates() {
    loom::model(|| {
        let t = topic(1);
        let mut block = t.subscribe_with(opts(1, Overflow::Block)).unwrap();
        let mut drop_newest = t.subscribe_with(opts(1, Overflow::DropNewest)).unwrap();
        let mut lag = t.subscribe();
        let publisher = {
            let t = t.clone();
            thread::spawn(move || {
                for i in 0..2 {
                    t.blocking_publish(i).unwrap();
                }
            })
        };
        for i in 0..2 {
            assert_eq!(*block.blocking_recv().unwrap(), i);
        }
        publisher.join().unwrap();
        let (mut next, mut seen) = (0, 0);
        while step(&mut lag, &mut next, &mut seen) {}
        assert_eq!(seen, 2);
        assert_eq!(*drop_newest.try_recv().unwrap(), 0);
        assert_eq!(drop_newest.metrics().dropped, 1);
    });
}

/// A lossless ring reader (`Block`, served by the shared ring through its gate) racing
/// non-waiting publishes that find it full and convert it into a queue subscriber: it still
/// receives every event a publish reported reaching it, exactly once and in order, never a
/// lag, and received + dropped == published.
#[test]
fn full_lossless_reader_converts_without_loss() {
    loom::model(|| {
        let t = topic(2);
        let mut sub = t.subscribe_with(opts(1, Overflow::Block)).unwrap();
        let publisher = {
            let t = t.clone();
            thread::spawn(move || (0..3).map(|i| t.publish(i)).sum::<usize>())
        };
        let mut received = Vec::new();
        let mut take = |sub: &mut Subscriber<u64>| match sub.try_recv() {
            Ok(event) => {
                assert_eq!(*event, event.seq());
                received.push(event.seq());
                true
            }
            Err(TryRecvError::Empty) => false,
            Err(e) => panic!("a lossless subscriber got {e:?}"),
        };
        if !take(&mut sub) {
            thread::yield_now();
        }
        let reached = publisher.join().unwrap();
        while take(&mut sub) {}
        assert!(
            received.windows(2).all(|w| w[0] < w[1]),
            "order: {received:?}"
        );
        assert_eq!(received.len(), reached, "every reached event is received");
        assert_eq!(
            received.len() as u64 + sub.metrics().dropped,
            3,
            "received + dropped == published"
        );
    });
}

/// A queued `Block` subscriber that frees room mid-batch wakes a publisher waiting for it,
/// even if it then stops receiving: the publisher's "I am waiting" and the subscriber's
/// "I received" must not both go unseen (a store-buffering race without a fence pair).
#[test]
fn queued_block_wakes_its_publisher_mid_batch() {
    loom::model(|| {
        let t = topic(4);
        let mut sub = t
            .subscribe_filtered_with(opts(4, Overflow::Block), |_| true)
            .unwrap();
        for i in 0..4 {
            assert_eq!(t.publish(i), 1);
        }
        let publisher = thread::spawn(move || {
            t.blocking_publish(4).unwrap();
        });
        // One receive frees one slot (a quarter of 4: a release step); the subscriber then
        // holds the other three and receives nothing more until the publisher is done.
        assert_eq!(*sub.blocking_recv().unwrap(), 0);
        publisher.join().unwrap();
    });
}

/// Topics `orders.a` and `orders.b`, and a `Block` subscriber of capacity 1 to `orders.*`.
fn two_topics_and_a_wildcard_block_subscriber()
-> (EventBus, Topic<u64>, Topic<u64>, Subscriber<u64>) {
    let bus = EventBus::new();
    let a = bus.topic::<u64>("orders.a").unwrap();
    let b = bus.topic::<u64>("orders.b").unwrap();
    let sub = bus
        .subscribe_pattern::<u64>("orders.*", opts(1, Overflow::Block))
        .unwrap();
    (bus, a, b, sub)
}

/// A wildcard `Block` subscriber is one queue fed by several topics, each publishing under
/// its own lock: two lossless publishers on two topics racing for its last slot must not both
/// see room and then have one event dropped as "full". Every event a lossless publish reports
/// delivered is received (loom reports a deadlock or the count differs otherwise).
#[test]
fn wildcard_block_is_lossless_across_topics() {
    loom::model(|| {
        let (_bus, a, b, mut sub) = two_topics_and_a_wildcard_block_subscriber();
        let publishers: Vec<_> = [(a, 1), (b, 2)]
            .into_iter()
            .map(|(t, v)| thread::spawn(move || t.blocking_publish(v).unwrap()))
            .collect();
        let mut got = [*sub.blocking_recv().unwrap(), *sub.blocking_recv().unwrap()];
        got.sort_unstable();
        assert_eq!(got, [1, 2], "both lossless publishes are received");
        for p in publishers {
            assert_eq!(p.join().unwrap(), 1, "each publish reached the subscriber");
        }
        assert_eq!(sub.metrics().dropped, 0);
    });
}

/// A lossless publish that reserved a wildcard queue's slot and then finds another `Block`
/// subscriber full gives the slot back and wakes whoever waits for it: topic `a` has a full
/// lossless subscriber, so its publisher waits for it, while topic `b`'s publisher must get
/// the wildcard subscriber's one slot (loom reports a deadlock if the slot leaks or the
/// waiting publisher is not woken).
#[test]
fn wildcard_reservation_is_given_back_when_the_publish_waits() {
    loom::model(|| {
        let (_bus, a, b, mut wildcard) = two_topics_and_a_wildcard_block_subscriber();
        let mut direct = a.subscribe_with(opts(1, Overflow::Block)).unwrap();
        assert_eq!(a.publish(0), 2);
        assert_eq!(*wildcard.try_recv().unwrap(), 0);
        // `direct` is full; `wildcard` has room for one event.
        let publishers: Vec<_> = [(a, 1), (b, 2)]
            .into_iter()
            .map(|(t, v)| thread::spawn(move || t.blocking_publish(v).unwrap()))
            .collect();
        assert_eq!(
            *wildcard.blocking_recv().unwrap(),
            2,
            "b's event gets the slot"
        );
        assert_eq!(*direct.blocking_recv().unwrap(), 0);
        assert_eq!(*wildcard.blocking_recv().unwrap(), 1);
        assert_eq!(*direct.blocking_recv().unwrap(), 1);
        for p in publishers {
            p.join().unwrap();
        }
        assert_eq!(wildcard.metrics().dropped + direct.metrics().dropped, 0);
    });
}

/// A lossless publisher that waits on a full subscriber is woken by the first slot that
/// subscriber frees, so a subscriber that receives one event and then waits for its publisher
/// (request/response over the bus) cannot deadlock it with room free. Capacity 8, so waking
/// only once a quarter is free (two slots) would be a different, deadlocking policy.
#[test]
fn a_waiting_publisher_wakes_at_the_first_free_slot() {
    waiting_publisher_wakes_at_the_first_free_slot(false, 1);
}

/// The same for a queued (filtered) `Block` subscriber, whose receives free room in its
/// queue rather than at a ring gate.
#[test]
fn a_waiting_publisher_wakes_at_the_first_free_queue_slot() {
    waiting_publisher_wakes_at_the_first_free_slot(true, 2);
}

/// Fills a capacity-8 `Block` subscriber (`filtered`: a queue subscriber, else a ring
/// reader), receives `freed` events and publishes as many into the room they freed; then a
/// publisher waits on the full subscriber while the subscriber receives one more event and
/// nothing else: the publisher must finish on that one freed slot.
fn waiting_publisher_wakes_at_the_first_free_slot(filtered: bool, freed: u64) {
    loom::model(move || {
        let t = topic(8);
        let options = opts(8, Overflow::Block);
        let mut sub = if filtered {
            t.subscribe_filtered_with(options, |_| true)
        } else {
            t.subscribe_with(options)
        }
        .unwrap();
        for i in 0..8 {
            assert_eq!(t.publish(i), 1);
        }
        for i in 0..freed {
            assert_eq!(*sub.try_recv().unwrap(), i);
        }
        for i in 8..8 + freed {
            assert_eq!(t.publish(i), 1, "the freed slots take as many more");
        }
        let publisher = thread::spawn(move || {
            t.blocking_publish(8 + freed).unwrap();
        });
        assert_eq!(*sub.blocking_recv().unwrap(), freed);
        // No more receives: the publisher must finish on the one slot just freed.
        publisher.join().unwrap();
    });
}

/// Publishers of a topic with only ring readers are serialized by the lock of the chunk the
/// next event goes to (the tail lock), not by the topic lock: racing publishers whose events
/// straddle a chunk boundary (the loom build has two-slot chunks) still get dense, distinct
/// sequence numbers, each event lands in its own slot, and a reader sees all of them once,
/// each publisher's in its order.
#[test]
fn racing_publishers_get_dense_sequence_numbers_across_chunks() {
    loom::model(|| {
        let t = topic(4);
        let mut sub = t.subscribe();
        assert_eq!(t.publish(0), 1);
        // Events 1..4 cross from the first chunk (slots 0, 1) into the second (2, 3).
        let publishers: Vec<_> = [(10, 2), (20, 1)]
            .into_iter()
            .map(|(base, n)| {
                let t = t.clone();
                thread::spawn(move || {
                    for i in 0..n {
                        assert_eq!(t.publish(base + i), 1);
                    }
                })
            })
            .collect();
        for p in publishers {
            p.join().unwrap();
        }
        let mut got = Vec::new();
        while let Ok(event) = sub.try_recv() {
            assert_eq!(event.seq(), got.len() as u64, "sequence numbers are dense");
            got.push(*event);
        }
        assert_eq!(got.len(), 4, "every event is received: {got:?}");
        let firsts: Vec<_> = got.iter().filter(|v| (10..20).contains(*v)).collect();
        assert_eq!(firsts, [&10, &11], "one publisher's events in its order");
        assert!(got.contains(&20) && got[0] == 0, "{got:?}");
        let m = t.metrics();
        assert_eq!((m.published, m.reached), (4, 4));
    });
}

/// A queue subscription racing publishes that bypass the topic lock (a topic with only ring
/// readers): it replays the retained events before its start and is offered every one
/// published after, so with `Start::Last` covering the whole history it receives every event
/// exactly once, in order: one published between its start and the moment publishers start
/// taking the topic lock would be missing.
#[test]
fn a_queue_subscription_racing_lock_free_publishes_misses_nothing() {
    loom::model(|| {
        let t = topic(4);
        let publisher = {
            let t = t.clone();
            thread::spawn(move || {
                for i in 0..3 {
                    t.publish(i);
                }
            })
        };
        let options = SubscribeOptions {
            capacity: 4,
            overflow: Overflow::Lag,
            start: Start::Last(4),
        };
        let mut sub = t.subscribe_filtered_with(options, |_| true).unwrap();
        t.publish(3);
        publisher.join().unwrap();
        let mut got = Vec::new();
        while let Ok(event) = sub.try_recv() {
            got.push(event.seq());
        }
        assert_eq!(got, [0, 1, 2, 3], "replayed + offered is every event, once");
        assert_eq!(sub.metrics().delivered, 4);
    });
}

/// The same for a lossless ring reader, whose gate must hold back every publish after its
/// start: racing lossless publishes, it receives every event from its start on, never a lag.
#[test]
fn a_lossless_ring_reader_racing_lock_free_publishes_gates_every_later_one() {
    loom::model(|| {
        let t = topic(2);
        let publisher = {
            let t = t.clone();
            thread::spawn(move || {
                for i in 0..3 {
                    t.blocking_publish(i).unwrap();
                }
                // Dropping the last other handle closes the topic.
            })
        };
        let mut sub = t.subscribe_with(opts(1, Overflow::Block)).unwrap();
        drop(t);
        let mut got = Vec::new();
        loop {
            match sub.blocking_recv() {
                Ok(event) => {
                    assert_eq!(*event, event.seq());
                    got.push(event.seq());
                }
                Err(RecvError::Closed) => break,
                Err(e) => panic!("a lossless subscriber got {e:?}"),
            }
        }
        publisher.join().unwrap();
        let start = 3 - got.len() as u64;
        assert_eq!(got, (start..3).collect::<Vec<_>>(), "a gap after the start");
    });
}

/// Two lossless publishers (two events and one) racing for a lossless ring reader of
/// capacity 1 on a one-slot ring:
/// below the gate's limit they publish under the tail lock alone, and the one that reaches it
/// re-reads the gate under the topic lock and waits. Neither may overrun the gate (the second
/// event would overwrite the unreceived first: a lag or a lost event), and neither may sleep
/// through the receive that makes room.
#[test]
fn racing_lossless_publishers_never_overrun_a_gate() {
    loom::model(|| {
        let t = topic(1);
        let mut sub = t.subscribe_with(opts(1, Overflow::Block)).unwrap();
        let publishers: Vec<_> = [&[1, 2][..], &[3]]
            .into_iter()
            .map(|events| {
                let t = t.clone();
                thread::spawn(move || {
                    for &v in events {
                        assert_eq!(t.blocking_publish(v).unwrap(), 1);
                    }
                })
            })
            .collect();
        let mut got = Vec::new();
        for seq in 0..3 {
            let event = sub.blocking_recv().unwrap();
            assert_eq!(event.seq(), seq);
            got.push(*event);
        }
        assert!(got.iter().position(|v| *v == 1) < got.iter().position(|v| *v == 2));
        got.sort_unstable();
        assert_eq!(got, [1, 2, 3]);
        for p in publishers {
            p.join().unwrap();
        }
    });
}

/// A non-waiting publisher that finds a lossless ring reader full converts it into a queue
/// subscriber while a lossless publisher races it: from the conversion on, every publish
/// must go through the topic lock to reach the queue, so the subscriber receives exactly the
/// events the publishes reported reaching it, in order, and received + dropped == published.
#[test]
fn a_gate_converted_while_a_lossless_publisher_races_loses_nothing() {
    loom::model(|| {
        let t = topic(2);
        let mut sub = t.subscribe_with(opts(1, Overflow::Block)).unwrap();
        let done = std::sync::Arc::new(AtomicBool::new(false));
        let lossless = {
            let (t, done) = (t.clone(), done.clone());
            thread::spawn(move || {
                let reached = t.blocking_publish(10).unwrap();
                done.store(true, Ordering::Release);
                reached
            })
        };
        let plain = {
            let t = t.clone();
            thread::spawn(move || t.publish(20) + t.publish(21))
        };
        let mut received = Vec::new();
        let mut take = |sub: &mut Subscriber<u64>| match sub.try_recv() {
            Ok(event) => {
                received.push(*event);
                true
            }
            Err(TryRecvError::Empty) => false,
            Err(e) => panic!("a lossless subscriber got {e:?}"),
        };
        // Keep making room until the lossless publisher is through.
        while !done.load(Ordering::Acquire) {
            if !take(&mut sub) {
                thread::yield_now();
            }
        }
        let reached = lossless.join().unwrap() + plain.join().unwrap();
        while take(&mut sub) {}
        assert_eq!(
            received.len(),
            reached,
            "every reached event is received: {received:?}"
        );
        let plain_order: Vec<_> = received.iter().filter(|v| **v >= 20).collect();
        assert!(plain_order.windows(2).all(|w| w[0] < w[1]), "{received:?}");
        assert_eq!(received.len() as u64 + sub.metrics().dropped, 3);
    });
}

/// A lossless publisher parked at a full lossless ring reader's gate limit is released when
/// that subscriber goes away without making room: it must not wait for a subscriber that is
/// gone, and must not report reaching it either (it never had room; its publish may get
/// through the tail lock alone once the limit rises), and later lossless publishes are not
/// held back by it (loom reports a deadlock otherwise).
#[test]
fn a_publisher_at_a_full_departing_subscribers_gate_is_released() {
    loom::model(|| {
        let t = topic(2);
        let sub = t.subscribe_with(opts(1, Overflow::Block)).unwrap();
        assert_eq!(t.publish(0), 1);
        let publisher = {
            let t = t.clone();
            thread::spawn(move || t.blocking_publish(1).unwrap())
        };
        drop(sub);
        assert_eq!(publisher.join().unwrap(), 0, "it never had room");
        assert_eq!(t.blocking_publish(2).unwrap(), 0);
        let m = t.metrics();
        assert_eq!((m.published, m.reached), (3, 1));
    });
}

/// A lossless ring reader and its lossless publisher parked in turn at chunk boundaries (the
/// loom build has two-slot chunks: events 0-1, 2-3, then 4 back in the first chunk): the
/// reader registers in the chunk `tail` points into and the publisher of the next event,
/// whichever chunk it starts, wakes it; the publisher parked at the gate is woken by the
/// receive that frees a slot. Every event arrives once, in order.
#[test]
fn lossless_reader_and_publisher_park_across_chunk_boundaries() {
    loom::model(|| {
        let t = topic(4);
        let mut sub = t.subscribe_with(opts(2, Overflow::Block)).unwrap();
        let publisher = {
            let t = t.clone();
            thread::spawn(move || {
                for i in 0..5 {
                    assert_eq!(t.blocking_publish(i).unwrap(), 1);
                }
            })
        };
        for i in 0..5 {
            let event = sub.blocking_recv().unwrap();
            assert_eq!((event.seq(), *event), (i, i));
        }
        publisher.join().unwrap();
    });
}

/// A `Lag` reader parked at a chunk boundary while the publisher laps the ring: it is woken,
/// never reads an overwritten slot, and received + missed == published.
#[test]
fn a_lag_reader_parked_at_a_chunk_boundary_is_woken_and_counts_exactly() {
    loom::model(|| {
        let t = topic(4);
        let mut sub = t.subscribe_with(opts(2, Overflow::Lag)).unwrap();
        assert_eq!(t.publish(0), 1);
        assert_eq!(t.publish(1), 1);
        let publisher = {
            let t = t.clone();
            thread::spawn(move || {
                for i in 2..6 {
                    t.publish(i);
                }
            })
        };
        let (mut next, mut seen) = (0, 0);
        // Take 0 and 1 (the end of the first chunk), then park for event 2 (the next chunk),
        // unless the publisher is ahead by then.
        while seen < 2 {
            assert!(step(&mut sub, &mut next, &mut seen));
        }
        match sub.blocking_recv() {
            Ok(event) => {
                assert_eq!((event.seq(), *event), (next, next));
                next += 1;
                seen += 1;
            }
            Err(RecvError::Lagged { missed }) => {
                next += missed;
                seen += missed;
            }
            Err(RecvError::Closed) => panic!("not closed"),
        }
        publisher.join().unwrap();
        while step(&mut sub, &mut next, &mut seen) {}
        assert_eq!((next, seen), (6, 6));
        let m = sub.metrics();
        assert_eq!(m.delivered + m.lagged, 6, "{m:?}");
    });
}

/// A close racing a lossless publisher parked at a full gate and a reader parked on the ring:
/// both are woken; the publisher either published (then the lossless subscriber receives its
/// event before `Closed`) or gets its event back; the ring reader drains what was published,
/// then sees `Closed`. With and without the lossless subscriber making room before the close.
#[test]
fn close_wakes_a_parked_lossless_publisher_and_a_parked_reader() {
    for make_room in [false, true] {
        loom::model(move || {
            let t = topic(1);
            let mut block = t.subscribe_with(opts(1, Overflow::Block)).unwrap();
            let mut lag = t.subscribe();
            assert_eq!(t.publish(0), 2);
            assert_eq!(*lag.try_recv().unwrap(), 0);
            let publisher = {
                let t = t.clone();
                thread::spawn(move || t.blocking_publish(1).map_err(|e| e.0))
            };
            let reader = thread::spawn(move || {
                let mut got = Vec::new();
                loop {
                    match lag.blocking_recv() {
                        Ok(event) => got.push(*event),
                        Err(RecvError::Closed) => break got,
                        Err(e) => panic!("{e:?}"),
                    }
                }
            });
            let mut rest = Vec::new();
            if make_room {
                rest.push(*block.try_recv().unwrap());
            }
            t.close();
            let published = publisher.join().unwrap();
            let got = reader.join().unwrap();
            loop {
                match block.try_recv() {
                    Ok(event) => rest.push(*event),
                    Err(TryRecvError::Closed) => break,
                    Err(e) => panic!("{e:?}"),
                }
            }
            match published {
                Ok(reached) => {
                    assert!(make_room, "published without room");
                    assert_eq!(reached, 2);
                    assert_eq!((got, rest), (vec![1], vec![0, 1]));
                }
                Err(event) => {
                    assert_eq!(event, 1);
                    assert_eq!((got, rest), (vec![], vec![0]));
                }
            }
        });
    }
}

/// A `publish_async` future dropped while it waits for a full `Block` subscriber publishes
/// nothing and leaves nothing behind that holds others back: a later lossless publisher
/// racing the subscriber's receives is woken, and the subscriber receives exactly the events
/// of the completed publishes. For a lossless ring reader (gate) and a queue subscriber.
#[test]
fn a_cancelled_publish_async_leaves_no_stale_wait_behind() {
    for filtered in [false, true] {
        loom::model(move || {
            let t = topic(1);
            let mut sub = if filtered {
                t.subscribe_filtered_with(opts(1, Overflow::Block), |_| true)
                    .unwrap()
            } else {
                t.subscribe_with(opts(1, Overflow::Block)).unwrap()
            };
            assert_eq!(t.publish(0), 1); // full
            {
                let mut cancelled = std::pin::pin!(t.publish_async(1));
                let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
                assert!(cancelled.as_mut().poll(&mut cx).is_pending());
            }
            assert_eq!(
                t.metrics().published,
                1,
                "a cancelled publish published nothing"
            );
            let publisher = {
                let t = t.clone();
                thread::spawn(move || t.blocking_publish(2).unwrap())
            };
            let got = [*sub.blocking_recv().unwrap(), *sub.blocking_recv().unwrap()];
            assert_eq!(got, [0, 2]);
            assert_eq!(publisher.join().unwrap(), 1);
            assert_eq!(sub.try_recv().unwrap_err(), TryRecvError::Empty);
        });
    }
}

/// Subscriptions starting at the last `k` retained events racing publishes: a lossless ring
/// reader (`Start::Last(2)`, capacity 2) receives a gap-free run of events ending with the
/// last one published, at least its two, never a lag; a `Lag` ring reader likewise accounts
/// for every event from its start on.
#[test]
fn subscribing_from_the_last_k_racing_publishes_starts_in_the_retained_window() {
    for overflow in [Overflow::Block, Overflow::Lag] {
        loom::model(move || {
            let t = topic(2);
            let publisher = {
                let t = t.clone();
                thread::spawn(move || {
                    for i in 0..3 {
                        t.blocking_publish(i).unwrap();
                    }
                })
            };
            let options = SubscribeOptions {
                capacity: 2,
                overflow,
                start: Start::Last(2),
            };
            let mut sub = t.subscribe_with(options).unwrap();
            drop(t);
            // `start`: where the subscriber started (known at its first event); `next`: the
            // sequence number its next event must have.
            let (mut start, mut next, mut missed, mut got) = (None, 0, 0, 0);
            loop {
                match sub.blocking_recv() {
                    Ok(event) => {
                        assert_eq!(*event, event.seq());
                        if start.is_none() {
                            assert!(event.seq() >= missed, "{missed} missed before {event:?}");
                            start = Some(event.seq() - missed);
                            next = event.seq();
                        }
                        assert_eq!(event.seq(), next, "an event vanished without a report");
                        next += 1;
                        got += 1;
                    }
                    Err(RecvError::Closed) => break,
                    Err(RecvError::Lagged { missed: m }) => {
                        assert_eq!(overflow, Overflow::Lag, "a lossless subscriber lagged");
                        missed += m;
                        next += m;
                    }
                }
            }
            publisher.join().unwrap();
            assert_eq!(next, 3, "the last event is received");
            let start = start.unwrap();
            assert_eq!(got + missed, 3 - start, "received + missed from the start");
            if overflow == Overflow::Block {
                assert!(got >= 2, "the retained two are replayed");
            } else {
                assert_eq!(sub.metrics().lagged, missed);
            }
        });
    }
}

/// A non-waiting publish that finds a lossless ring reader full races that subscriber's
/// departure: whether it converts the subscriber into a queue first or finds it gone, it does
/// not reach it (it never had room), the converted queue goes away with the subscriber, and
/// the counts stay exact.
#[test]
fn a_conversion_racing_the_subscribers_departure_reaches_nobody() {
    loom::model(|| {
        let t = topic(2);
        let sub = t.subscribe_with(opts(1, Overflow::Block)).unwrap();
        assert_eq!(t.publish(0), 1); // full
        let publisher = {
            let t = t.clone();
            thread::spawn(move || t.publish(1))
        };
        drop(sub);
        assert_eq!(publisher.join().unwrap(), 0, "it never had room");
        assert_eq!(t.publish(2), 0);
        let m = t.metrics();
        assert_eq!((m.published, m.reached, m.subscribers), (3, 1, 0));
    });
}
