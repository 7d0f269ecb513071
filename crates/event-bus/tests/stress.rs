//! Real-thread stress of the publish protocols (tail lock, gate limits, conversions, the
//! topic lock while queues exist) with exact counts. No timing assertions: every check is
//! on what was delivered, missed, dropped and reported.
#![cfg(not(tidewater_loom))]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use tidewater_event_bus::{
    EventBus, Overflow, RecvError, Start, SubscribeOptions, Topic, TopicOptions, TryRecvError,
};

const LOSSLESS: u64 = 1 << 32;

fn opts(capacity: usize, overflow: Overflow, start: Start) -> SubscribeOptions {
    SubscribeOptions {
        capacity,
        overflow,
        start,
    }
}

/// A lossless and a non-waiting publisher race subscribers of every kind that come and go
/// (lossless ones that hold the lossless publisher at their limit and then leave, filtered
/// ones that send publishers through the topic lock and back, ones starting at the last `k`
/// events) on a ring of several chunks. A lossless subscriber living throughout receives every
/// lossless event in order and accounts for every event as received or dropped; a `Lag` one
/// as received or missed; sequence numbers are dense; `published` and `reached` are exact.
#[test]
fn publishers_and_churning_subscribers_keep_exact_counts() {
    const N: u64 = 5_000;
    let t = Topic::<u64>::new("stress", TopicOptions { capacity: 64 }).unwrap();
    let mut lossless_sub = t
        .subscribe_with(opts(2, Overflow::Block, Start::Now))
        .unwrap();
    let mut lag_sub = t
        .subscribe_with(opts(8, Overflow::Lag, Start::Now))
        .unwrap();
    let reached = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let lossless = {
        let (t, reached) = (t.clone(), reached.clone());
        thread::spawn(move || {
            for i in 0..N {
                let n = t.blocking_publish(LOSSLESS | i).unwrap();
                reached.fetch_add(n as u64, Ordering::Relaxed);
            }
        })
    };
    let plain = {
        let (t, reached) = (t.clone(), reached.clone());
        thread::spawn(move || {
            for i in 0..N {
                reached.fetch_add(t.publish(i) as u64, Ordering::Relaxed);
                if i % 64 == 0 {
                    thread::yield_now();
                }
            }
        })
    };
    let churn = {
        let (t, done) = (t.clone(), done.clone());
        thread::spawn(move || {
            let mut round = 0u64;
            while !done.load(Ordering::Acquire) {
                round += 1;
                let k = (round % 4) as usize;
                let mut sub = match round % 3 {
                    0 => t.subscribe_with(opts(1 + k % 2, Overflow::Block, Start::Last(k))),
                    1 => t.subscribe_filtered_with(opts(4, Overflow::Block, Start::Last(k)), |v| {
                        v % 2 == 0
                    }),
                    _ => t.subscribe_with(opts(4, Overflow::Lag, Start::Last(k))),
                }
                .unwrap();
                let mut last = None;
                for _ in 0..(round % 5) {
                    match sub.try_recv() {
                        Ok(e) => {
                            assert!(last.is_none_or(|l| e.seq() > l), "went backwards");
                            last = Some(e.seq());
                        }
                        Err(TryRecvError::Lagged { .. }) => {
                            assert_eq!(round % 3, 2, "a lossless subscriber lagged");
                        }
                        Err(_) => break,
                    }
                }
            }
        })
    };
    let lag_reader = thread::spawn(move || {
        let (mut next, mut received, mut missed) = (0, 0, 0);
        loop {
            match lag_sub.blocking_recv() {
                Ok(e) => {
                    assert_eq!(e.seq(), next, "an event vanished without a lag report");
                    next += 1;
                    received += 1;
                }
                Err(RecvError::Lagged { missed: m }) => {
                    next += m;
                    missed += m;
                }
                Err(RecvError::Closed) => break,
            }
        }
        assert_eq!(lag_sub.metrics().lagged, missed);
        assert_eq!(lag_sub.metrics().delivered, received);
        next
    });
    // Closes the topic once both publishers and the churn are done.
    let closer = {
        let t = t.clone();
        thread::spawn(move || {
            lossless.join().unwrap();
            plain.join().unwrap();
            done.store(true, Ordering::Release);
            churn.join().unwrap();
            t.close();
        })
    };
    let (mut next_lossless, mut received, mut last_seq) = (0, 0u64, None);
    loop {
        match lossless_sub.blocking_recv() {
            Ok(e) => {
                assert!(last_seq.is_none_or(|l| e.seq() > l), "went backwards");
                last_seq = Some(e.seq());
                received += 1;
                if *e & LOSSLESS != 0 {
                    assert_eq!(*e, LOSSLESS | next_lossless, "a lossless event is missing");
                    next_lossless += 1;
                }
            }
            Err(RecvError::Closed) => break,
            Err(e) => panic!("a lossless subscriber got {e:?}"),
        }
    }
    closer.join().unwrap();
    assert_eq!(next_lossless, N);
    let m = t.metrics();
    assert_eq!(m.published, 2 * N, "every publish got a sequence number");
    assert_eq!(
        lag_reader.join().unwrap(),
        2 * N,
        "the lag reader accounted for all"
    );
    assert_eq!(
        received + lossless_sub.metrics().dropped,
        2 * N,
        "received + dropped == published"
    );
    assert_eq!(
        m.reached,
        reached.load(Ordering::Relaxed),
        "reached is exact"
    );
}

/// Wildcard subscriptions created while new matching topics appear and publish at once: a
/// subscription starting at the last event of each topic receives every topic's first event
/// exactly once (attached at the topic's creation, or replayed when it subscribes).
#[test]
fn wildcard_subscriptions_racing_new_topics_see_each_event_once() {
    for round in 0..20 {
        let bus = EventBus::new();
        let creator = {
            let bus = bus.clone();
            thread::spawn(move || {
                for i in 0..50u64 {
                    let topic = bus.topic::<u64>(&format!("orders.{i}")).unwrap();
                    assert!(topic.publish(i) <= 1);
                }
            })
        };
        if round % 2 == 0 {
            thread::yield_now();
        }
        let mut sub = bus
            .subscribe_pattern::<u64>("orders.*", opts(64, Overflow::Lag, Start::Last(1)))
            .unwrap();
        creator.join().unwrap();
        let mut seen = vec![0; 50];
        loop {
            match sub.try_recv() {
                Ok(e) => {
                    assert_eq!(e.topic(), Some(format!("orders.{}", *e).as_str()));
                    seen[*e as usize] += 1;
                }
                Err(TryRecvError::Empty) => break,
                Err(e) => panic!("{e:?}"),
            }
        }
        assert!(seen.iter().all(|&n| n == 1), "round {round}: {seen:?}");
    }
}
