//! Behaviour of the public API: typed topics, policies, filters, wildcards, replay, closing,
//! cancellation and metrics.
#![cfg(not(tidewater_loom))]

use futures::{FutureExt, StreamExt};
use std::time::Duration;
use tidewater_event_bus::{
    EventBus, Lagged, MAX_TOPIC_CAPACITY, Overflow, PublishError, RecvError, Start, SubscribeError,
    SubscribeOptions, Topic, TopicError, TopicOptions, TryRecvError,
};

fn opts(capacity: usize, overflow: Overflow) -> SubscribeOptions {
    SubscribeOptions {
        capacity,
        overflow,
        start: Start::Now,
    }
}

fn topic(capacity: usize) -> Topic<u64> {
    Topic::new("t", TopicOptions { capacity }).unwrap()
}

fn drain(sub: &mut tidewater_event_bus::Subscriber<u64>) -> Vec<Result<u64, u64>> {
    let mut out = Vec::new();
    loop {
        match sub.try_recv() {
            Ok(e) => out.push(Ok(*e)),
            Err(TryRecvError::Lagged { missed }) => out.push(Err(missed)),
            Err(_) => return out,
        }
    }
}

#[test]
fn topics_are_typed_and_shared_by_name() {
    let bus = EventBus::new();
    let a = bus.topic::<u64>("orders.eu").unwrap();
    let b = bus.topic::<u64>("orders.eu").unwrap();
    let mut sub = a.subscribe();
    assert_eq!(b.publish(5), 1);
    assert_eq!(*sub.try_recv().unwrap(), 5);
    let err = bus.topic::<String>("orders.eu").unwrap_err();
    assert!(matches!(err, TopicError::TypeMismatch { .. }));
    assert!(err.to_string().contains("u64"), "{err}");
    assert!(matches!(
        bus.topic::<u64>("bad..name"),
        Err(TopicError::InvalidName { .. })
    ));
    assert!(matches!(
        bus.topic::<u64>("a.*"),
        Err(TopicError::InvalidName { .. })
    ));
    assert!(matches!(
        bus.topic_with::<u8>("x", TopicOptions { capacity: 0 }),
        Err(TopicError::InvalidCapacity { capacity: 0 })
    ));
    // A ring that large would be allocated up front: refused, not an aborting allocation.
    let too_large = MAX_TOPIC_CAPACITY + 1;
    let err = bus
        .topic_with::<u8>(
            "x",
            TopicOptions {
                capacity: too_large,
            },
        )
        .unwrap_err();
    assert_eq!(
        err,
        TopicError::InvalidCapacity {
            capacity: too_large
        }
    );
    assert!(err.to_string().contains("allocated up front"), "{err}");
    assert_eq!(bus.topic_names(), vec!["orders.eu".to_string()]);
    bus.close();
    assert_eq!(bus.topic::<u64>("new").unwrap_err(), TopicError::BusClosed);
    assert!(a.is_closed());
}

#[test]
fn publish_without_subscribers_is_zero_and_retained_for_replay() {
    let t = topic(4);
    for i in 0..6 {
        assert_eq!(t.publish(i), 0);
    }
    let mut last3 = t
        .subscribe_with(SubscribeOptions {
            start: Start::Last(3),
            ..opts(4, Overflow::Lag)
        })
        .unwrap();
    assert_eq!(drain(&mut last3), vec![Ok(3), Ok(4), Ok(5)]);
    // Replay never exceeds what the topic retains.
    let mut all = t
        .subscribe_with(SubscribeOptions {
            start: Start::Last(100),
            ..opts(64, Overflow::Block)
        })
        .unwrap();
    assert_eq!(drain(&mut all), vec![Ok(2), Ok(3), Ok(4), Ok(5)]);
    assert_eq!(t.metrics().published, 6);
}

#[test]
fn bad_subscriber_capacity_is_an_error() {
    let t = topic(4);
    assert_eq!(
        t.subscribe_with(opts(0, Overflow::Lag)).unwrap_err(),
        SubscribeError::InvalidCapacity { capacity: 0 }
    );
    assert!(t.subscribe_with(opts(usize::MAX, Overflow::Block)).is_err());
}

#[test]
fn lag_skips_oldest_reports_once_and_continues() {
    for filtered in [false, true] {
        let t = topic(8);
        let mut sub = if filtered {
            t.subscribe_filtered_with(opts(4, Overflow::Lag), |_| true)
                .unwrap()
        } else {
            t.subscribe_with(opts(4, Overflow::Lag)).unwrap()
        };
        for i in 0..10 {
            t.publish(i);
        }
        assert_eq!(
            drain(&mut sub),
            vec![Err(6), Ok(6), Ok(7), Ok(8), Ok(9)],
            "filtered={filtered}"
        );
        t.publish(10);
        assert_eq!(drain(&mut sub), vec![Ok(10)]);
        let m = sub.metrics();
        assert_eq!((m.delivered, m.lagged, m.dropped), (5, 6, 0));
    }
}

#[test]
fn ring_lag_beyond_topic_capacity_counts_exactly() {
    let t = topic(2);
    let mut sub = t.subscribe();
    for i in 0..7 {
        t.publish(i);
    }
    assert_eq!(drain(&mut sub), vec![Err(5), Ok(5), Ok(6)]);
}

#[test]
fn drop_newest_keeps_queue_and_counts() {
    let t = topic(8);
    let mut sub = t.subscribe_with(opts(3, Overflow::DropNewest)).unwrap();
    let reached: Vec<usize> = (0..5).map(|i| t.publish(i)).collect();
    assert_eq!(reached, vec![1, 1, 1, 0, 0]);
    assert_eq!(drain(&mut sub), vec![Ok(0), Ok(1), Ok(2)]);
    assert_eq!(sub.metrics().dropped, 2);
    assert_eq!(t.metrics().dropped, 2);
}

#[test]
fn non_waiting_publish_reports_full_block_subscriber_as_not_reached() {
    let t = topic(8);
    let mut block = t.subscribe_with(opts(1, Overflow::Block)).unwrap();
    let mut lag = t.subscribe();
    assert_eq!(t.publish(1), 2);
    assert_eq!(t.publish(2), 1);
    assert_eq!(block.metrics().dropped, 1);
    assert_eq!(drain(&mut block), vec![Ok(1)]);
    assert_eq!(drain(&mut lag), vec![Ok(1), Ok(2)]);
}

#[tokio::test(start_paused = true)]
async fn publish_async_waits_only_for_block_subscribers() {
    let t = topic(4);
    let mut block = t.subscribe_with(opts(2, Overflow::Block)).unwrap();
    let mut lag = t.subscribe_with(opts(1, Overflow::Lag)).unwrap();
    let mut drop_newest = t.subscribe_with(opts(1, Overflow::DropNewest)).unwrap();
    assert_eq!(t.publish_async(0).await.unwrap(), 3);
    assert_eq!(t.publish_async(1).await.unwrap(), 2); // drop_newest is full
    let mut third = Box::pin(t.publish_async(2));
    assert!(
        (&mut third).now_or_never().is_none(),
        "block subscriber is full"
    );
    assert_eq!(*block.recv().await.unwrap(), 0);
    assert_eq!(third.await.unwrap(), 2);
    assert_eq!(drain(&mut block), vec![Ok(1), Ok(2)]);
    assert_eq!(drain(&mut lag), vec![Err(2), Ok(2)]);
    assert_eq!(drain(&mut drop_newest), vec![Ok(0)]);
}

#[tokio::test(start_paused = true)]
async fn dropped_publish_future_publishes_nothing() {
    let t = topic(4);
    let mut block = t.subscribe_with(opts(1, Overflow::Block)).unwrap();
    t.publish_async(0).await.unwrap();
    {
        let mut blocked = Box::pin(t.publish_async(1));
        assert!((&mut blocked).now_or_never().is_none());
    }
    assert_eq!(t.metrics().published, 1);
    assert_eq!(drain(&mut block), vec![Ok(0)]);
    t.publish_async(2).await.unwrap();
    let e = block.recv().await.unwrap();
    assert_eq!((e.seq(), *e), (1, 2));
}

#[tokio::test(start_paused = true)]
async fn recv_is_cancel_safe() {
    for lossless in [false, true] {
        let t = topic(4);
        let mut sub = if lossless {
            t.subscribe_with(opts(4, Overflow::Block)).unwrap()
        } else {
            t.subscribe()
        };
        assert!(sub.recv().now_or_never().is_none());
        t.publish(7);
        assert!(sub.recv().now_or_never().is_some_and(|e| *e.unwrap() == 7));
        let mut buf = Vec::new();
        assert!(sub.recv_many(&mut buf, 4).now_or_never().is_none());
        t.publish(8);
        t.publish(9);
        assert_eq!(sub.recv_many(&mut buf, 4).await.unwrap(), 2);
        assert_eq!(buf.iter().map(|e| **e).collect::<Vec<_>>(), vec![8, 9]);
    }
}

#[tokio::test(start_paused = true)]
async fn stream_surfaces_lag_and_ends_on_close() {
    let t = topic(8);
    let sub = t.subscribe_with(opts(2, Overflow::Lag)).unwrap();
    for i in 0..4 {
        t.publish(i);
    }
    t.close();
    let items: Vec<Result<u64, Lagged>> = sub.map(|r| r.map(|e| *e)).collect().await;
    assert_eq!(items, vec![Err(Lagged { missed: 2 }), Ok(2), Ok(3)]);
}

#[tokio::test(start_paused = true)]
async fn recv_many_stops_at_lag_and_reports_it_next() {
    let t = topic(8);
    let mut sub = t.subscribe_with(opts(2, Overflow::Lag)).unwrap();
    t.publish(0);
    let mut buf = Vec::new();
    // Take 0 into the subscriber, then overflow the rest.
    assert_eq!(*sub.recv().await.unwrap(), 0);
    for i in 1..6 {
        t.publish(i);
    }
    assert_eq!(
        sub.recv_many(&mut buf, 10).await,
        Err(RecvError::Lagged { missed: 3 })
    );
    assert_eq!(sub.recv_many(&mut buf, 10).await, Ok(2));
    assert_eq!(sub.recv_many(&mut buf, 0).await, Ok(0));
}

#[test]
fn try_recv_with_visits_in_place() {
    let t = topic(16);
    let mut ring = t.subscribe();
    let mut queue = t.subscribe_with(opts(64, Overflow::Block)).unwrap();
    for i in 0..40 {
        t.publish(i);
    }
    assert_eq!(
        ring.try_recv_with(5, |_, _| ()),
        Err(TryRecvError::Lagged { missed: 24 })
    );
    for sub in [&mut ring, &mut queue] {
        let mut seen = Vec::new();
        assert_eq!(sub.try_recv_with(5, |seq, v| seen.push((seq, *v))), Ok(5));
        while sub.try_recv_with(3, |seq, v| seen.push((seq, *v))).is_ok() {}
        assert!(
            seen.windows(2)
                .all(|w| w[1].0 == w[0].0 + 1 && w[1].1 == w[1].0)
        );
        assert_eq!(seen.last(), Some(&(39, 39)));
        assert_eq!(sub.try_recv_with(1, |_, _| ()), Err(TryRecvError::Empty));
    }
    assert_eq!(ring.metrics().delivered, 16);
    assert_eq!(queue.metrics().delivered, 40);
}

#[tokio::test(start_paused = true)]
async fn filters_run_before_queueing() {
    let t = topic(8);
    let mut even = t.subscribe_filtered(|v: &u64| v.is_multiple_of(2));
    let reached: Vec<usize> = (0..4).map(|i| t.publish(i)).collect();
    assert_eq!(reached, vec![1, 0, 1, 0]);
    let seqs: Vec<u64> = vec![
        even.recv().await.unwrap().seq(),
        even.recv().await.unwrap().seq(),
    ];
    assert_eq!(seqs, vec![0, 2]);
    assert_eq!(even.metrics().lagged, 0);
}

#[tokio::test(start_paused = true)]
async fn wildcards_cover_existing_and_later_topics_of_the_same_type() {
    let bus = EventBus::new();
    let eu = bus.topic::<u64>("orders.eu").unwrap();
    let _strings = bus.topic::<String>("orders.names").unwrap();
    let mut all = bus
        .subscribe_pattern::<u64>("orders.*", SubscribeOptions::default())
        .unwrap();
    let us = bus.topic::<u64>("orders.us").unwrap();
    let other = bus.topic::<u64>("refunds.us").unwrap();
    eu.publish(1);
    us.publish(2);
    other.publish(3);
    let a = all.recv().await.unwrap();
    let b = all.recv().await.unwrap();
    assert_eq!(
        (*a, a.topic(), *b, b.topic()),
        (1, Some("orders.eu"), 2, Some("orders.us"))
    );
    assert_eq!(all.try_recv().unwrap_err(), TryRecvError::Empty);
    assert!(matches!(
        bus.subscribe_pattern::<u64>("orders.>.x", SubscribeOptions::default()),
        Err(TopicError::InvalidPattern { .. })
    ));
    // A topic closing only detaches it; the bus closing ends the subscription.
    eu.close();
    us.publish(3);
    assert_eq!(*all.recv().await.unwrap(), 3);
    bus.close();
    assert_eq!(all.recv().await.unwrap_err(), RecvError::Closed);
}

#[tokio::test(start_paused = true)]
async fn closing_wakes_parked_receivers_and_publishers() {
    let t = topic(4);
    let mut ring = t.subscribe();
    let mut queue = t.subscribe_with(opts(1, Overflow::Block)).unwrap();
    t.publish(0);
    let r1 =
        tokio::spawn(async move { (ring.recv().await.map(|e| *e), ring.recv().await.map(|e| *e)) });
    let r2 = tokio::spawn(async move {
        let first = queue.recv().await.map(|e| *e);
        let rest = queue.recv().await.map(|e| *e);
        (first, rest)
    });
    let t2 = t.clone();
    let publisher = tokio::spawn(async move {
        t2.publish_async(1).await.ok();
        t2.publish_async(2).await
    });
    tokio::time::sleep(Duration::from_millis(10)).await;
    t.close();
    let (a, b) = r1.await.unwrap();
    assert_eq!(a, Ok(0));
    assert!(b == Err(RecvError::Closed) || b == Ok(1));
    let (first, _) = r2.await.unwrap();
    assert_eq!(first, Ok(0));
    assert!(matches!(
        publisher.await.unwrap(),
        Err(PublishError(_)) | Ok(_)
    ));
    assert_eq!(t.publish(9), 0);
    assert_eq!(t.metrics().rejected, 1);
}

#[tokio::test(start_paused = true)]
async fn dropping_a_subscriber_mid_recv_releases_everything() {
    let t = topic(4);
    let mut block = t.subscribe_with(opts(1, Overflow::Block)).unwrap();
    t.publish_async(0).await.unwrap();
    let t2 = t.clone();
    let publisher = tokio::spawn(async move { t2.publish_async(1).await });
    let receiver = tokio::spawn(async move {
        let mut ring = t.subscribe();
        // Parked in recv when aborted.
        let _ = ring.recv().await;
        drop(ring);
    });
    tokio::time::sleep(Duration::from_millis(1)).await;
    receiver.abort();
    assert!(receiver.await.unwrap_err().is_cancelled());
    {
        let mut pending = Box::pin(block.recv());
        assert!((&mut pending).now_or_never().is_some());
    }
    drop(block); // the lossless publisher must not wait for a gone subscriber
    assert_eq!(publisher.await.unwrap().unwrap(), 0);
}

#[test]
fn closing_topic_by_dropping_last_handle() {
    let t = topic(4);
    let mut sub = t.subscribe();
    t.publish(1);
    drop(t);
    assert_eq!(*sub.try_recv().unwrap(), 1);
    assert_eq!(sub.try_recv().unwrap_err(), TryRecvError::Closed);
}

#[test]
fn blocking_api_across_threads() {
    let t = topic(4);
    let mut sub = t.subscribe_with(opts(1, Overflow::Block)).unwrap();
    let t2 = t.clone();
    let publisher = std::thread::spawn(move || {
        for i in 0..100 {
            t2.blocking_publish(i).unwrap();
        }
    });
    for i in 0..100 {
        assert_eq!(*sub.blocking_recv().unwrap(), i);
    }
    publisher.join().unwrap();
    assert!(t.metrics().publisher_blocked > Duration::ZERO || sub.metrics().delivered == 100);
    t.close();
    assert_eq!(sub.blocking_recv().unwrap_err(), RecvError::Closed);
    assert_eq!(t.blocking_publish(1).unwrap_err().0, 1);
}

#[test]
fn subscribe_and_unsubscribe_race_publish() {
    let t = topic(16);
    let publisher = {
        let t = t.clone();
        std::thread::spawn(move || {
            for i in 0..20_000u64 {
                t.publish(i);
            }
        })
    };
    let churn: Vec<_> = [Overflow::Lag, Overflow::DropNewest, Overflow::Block]
        .into_iter()
        .map(|overflow| {
            let t = t.clone();
            std::thread::spawn(move || {
                for round in 0..200 {
                    let mut sub = if round % 2 == 0 {
                        t.subscribe_with(opts(8, overflow)).unwrap()
                    } else {
                        t.subscribe_filtered_with(opts(8, overflow), |v| v % 3 != 0)
                            .unwrap()
                    };
                    let mut last = None;
                    for _ in 0..20 {
                        match sub.try_recv() {
                            Ok(e) => {
                                assert!(
                                    last.is_none_or(|l| e.seq() > l),
                                    "sequence went backwards"
                                );
                                assert_eq!(e.seq(), *e);
                                last = Some(e.seq());
                            }
                            Err(TryRecvError::Lagged { missed }) => assert!(missed > 0),
                            Err(_) => std::thread::yield_now(),
                        }
                    }
                }
            })
        })
        .collect();
    publisher.join().unwrap();
    for c in churn {
        c.join().unwrap();
    }
    assert_eq!(t.subscriber_count(), 0);
    let m = t.metrics();
    assert_eq!(m.published, 20_000);
    assert_eq!(m.subscribers, 0);
}

#[test]
fn payload_is_shared_not_cloned() {
    let t = Topic::<Vec<u8>>::new("big", TopicOptions::default()).unwrap();
    let mut a = t.subscribe();
    let mut b = t.subscribe_with(opts(4, Overflow::Block)).unwrap();
    t.publish(vec![1; 1024]);
    let (ea, eb) = (a.try_recv().unwrap(), b.try_recv().unwrap());
    assert!(std::sync::Arc::ptr_eq(ea.value(), eb.value()));
}

#[test]
fn delivered_counts_are_exact_across_batches_and_drops() {
    let t = topic(64);
    let mut sub = t.subscribe();
    let mut other = t.subscribe();
    for i in 0..40 {
        t.publish(i);
    }
    // Mid-batch: the subscriber's own metrics count every receive.
    for n in 1..=20 {
        assert!(sub.try_recv().is_ok());
        assert_eq!(sub.metrics().delivered, n);
    }
    // Mixing in-place visits with the prefetched batch counts each event once.
    assert_eq!(sub.try_recv_with(7, |_, _| ()), Ok(7));
    assert_eq!(sub.metrics().delivered, 27);
    while sub.try_recv().is_ok() {}
    assert_eq!(sub.metrics().delivered, 40);
    assert_eq!(t.metrics().delivered, 40);
    // A subscriber dropped mid-batch leaves its exact count in the topic's totals.
    for _ in 0..5 {
        assert!(other.try_recv().is_ok());
    }
    assert_eq!(other.metrics().delivered, 5);
    drop(other);
    assert_eq!(t.metrics().delivered, 45);
}

/// A plain `Block` subscriber reads the shared ring; a non-waiting `publish` that finds it full
/// turns it into a queue subscriber. Nothing it was promised is lost, room stays exact (also
/// for the events of the batch it held at that moment).
#[tokio::test(start_paused = true)]
async fn a_full_lossless_subscriber_stays_exact_when_publish_converts_it() {
    let t = topic(4);
    let mut sub = t.subscribe_with(opts(2, Overflow::Block)).unwrap();
    t.publish_async(0).await.unwrap();
    t.publish_async(1).await.unwrap();
    assert_eq!(*sub.recv().await.unwrap(), 0); // 1 is in the subscriber's batch
    assert_eq!(t.publish_async(2).await.unwrap(), 1);
    let mut waiting = Box::pin(t.publish_async(3));
    assert!(
        (&mut waiting).now_or_never().is_none(),
        "1 and 2 unreceived"
    );
    assert_eq!(t.publish(4), 0, "full: not reached, dropped for it");
    assert_eq!(*sub.recv().await.unwrap(), 1); // from the batch it held: frees a slot
    let published = (&mut waiting).now_or_never().expect("a slot is free again");
    assert_eq!(published.unwrap(), 1);
    assert_eq!(t.publish(5), 0, "2 and 3 unreceived");
    assert_eq!(drain(&mut sub), vec![Ok(2), Ok(3)]);
    assert_eq!(t.publish(6), 1);
    assert_eq!(t.publish_async(7).await.unwrap(), 1);
    assert_eq!(drain(&mut sub), vec![Ok(6), Ok(7)]);
    let m = sub.metrics();
    assert_eq!((m.delivered, m.dropped), (6, 2));
}

/// Closing a topic wakes its lossless publisher parked on a full wildcard `Block` subscriber
/// (which outlives the topic), and hands the event back.
#[test]
fn closing_a_topic_wakes_its_publisher_waiting_for_a_wildcard_subscriber() {
    struct Flag(std::sync::atomic::AtomicBool);
    impl std::task::Wake for Flag {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }
    let bus = EventBus::new();
    let t = bus.topic::<u64>("orders.eu").unwrap();
    let _wildcard = bus
        .subscribe_pattern::<u64>("orders.*", opts(1, Overflow::Block))
        .unwrap();
    assert_eq!(t.publish(0), 1); // now full
    let flag = std::sync::Arc::new(Flag(std::sync::atomic::AtomicBool::new(false)));
    let waker = std::task::Waker::from(flag.clone());
    let mut cx = std::task::Context::from_waker(&waker);
    let mut publish = t.publish_async(1);
    assert!(publish.poll_unpin(&mut cx).is_pending(), "waits for room");
    t.close();
    assert!(
        flag.0.load(std::sync::atomic::Ordering::SeqCst),
        "the parked publisher was not woken by the close"
    );
    match publish.poll_unpin(&mut cx) {
        std::task::Poll::Ready(Err(e)) => assert_eq!(e.0, 1),
        other => panic!("expected the event back, got {other:?}"),
    }
}

/// `Lag` subscribers drained with `try_recv_with`: the `lagged` metric equals the `missed` they
/// were told about, as with `try_recv` (a queue counts each displaced event when it displaces
/// it, so the receive must not count the report again; the ring's is counted once).
#[test]
fn try_recv_with_counts_a_queue_lag_once() {
    let t = topic(16);
    let queue = t
        .subscribe_filtered_with(opts(2, Overflow::Lag), |_| true)
        .unwrap();
    let ring = t.subscribe_with(opts(2, Overflow::Lag)).unwrap();
    for i in 0..5 {
        t.publish(i);
    }
    for mut sub in [queue, ring] {
        let mut seen = Vec::new();
        assert_eq!(
            sub.try_recv_with(usize::MAX, |seq, _| seen.push(seq)),
            Err(TryRecvError::Lagged { missed: 3 })
        );
        assert_eq!(
            sub.try_recv_with(usize::MAX, |seq, _| seen.push(seq)),
            Ok(2)
        );
        assert_eq!(seen, [3, 4]);
        let m = sub.metrics();
        assert_eq!((m.delivered, m.lagged), (2, 3), "{m:?}");
    }
    assert_eq!(t.metrics().lagged, 6);
}
