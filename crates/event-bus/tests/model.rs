//! proptest: random publish/receive sequences against a reference model of every policy.
//!
//! Checked on every step: each receive equals the model's answer (event, `Lagged { missed }`
//! or empty), sequence numbers never go backwards, `publish` reaches the subscribers the model
//! says. At the end: for `Lag` subscribers received + missed == published, for `DropNewest`
//! and `Block` (with the non-waiting `publish`) received + dropped == published.
#![cfg(not(tidewater_loom))]

use proptest::prelude::*;
use std::collections::VecDeque;
use tidewater_event_bus::{
    Overflow, Start, SubscribeOptions, Subscriber, Topic, TopicOptions, TryRecvError,
};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Got {
    Event(u64),
    Lagged(u64),
    Empty,
}

/// A subscriber reading the topic's ring: prefetches the rest of a chunk of slots.
struct RingModel {
    next: u64,
    prefetched: u64,
    keep: u64,
    chunk: u64,
}

impl RingModel {
    fn recv(&mut self, published: u64) -> Got {
        if self.prefetched > 0 {
            self.prefetched -= 1;
            return Got::Event(self.next - self.prefetched - 1);
        }
        if self.next >= published {
            return Got::Empty;
        }
        if published - self.next > self.keep {
            let missed = published - self.keep - self.next;
            self.next = published - self.keep;
            return Got::Lagged(missed);
        }
        let chunk_end = (self.next / self.chunk + 1) * self.chunk;
        let count = published.min(chunk_end) - self.next;
        self.next += count;
        self.prefetched = count - 1;
        Got::Event(self.next - count)
    }
}

/// A subscriber with its own queue: shared queue, pulled batch, pending lag.
struct QueueModel {
    capacity: usize,
    overflow: Overflow,
    shared: VecDeque<u64>,
    batch: VecDeque<u64>,
    missed: u64,
    dropped: u64,
}

impl QueueModel {
    fn publish(&mut self, seq: u64) -> bool {
        if self.shared.len() + self.batch.len() >= self.capacity {
            match self.overflow {
                Overflow::Lag => {
                    self.missed += 1;
                    if self.shared.pop_front().is_none() {
                        return false;
                    }
                }
                _ => {
                    self.dropped += 1;
                    return false;
                }
            }
        }
        self.shared.push_back(seq);
        true
    }

    fn recv(&mut self) -> Got {
        if let Some(seq) = self.batch.pop_front() {
            return Got::Event(seq);
        }
        if self.missed > 0 {
            return Got::Lagged(std::mem::take(&mut self.missed));
        }
        std::mem::swap(&mut self.shared, &mut self.batch);
        self.batch.pop_front().map_or(Got::Empty, Got::Event)
    }
}

fn got(sub: &mut Subscriber<u64>) -> Got {
    match sub.try_recv() {
        Ok(e) => {
            assert_eq!(*e, e.seq(), "payload travels with its sequence number");
            Got::Event(e.seq())
        }
        Err(TryRecvError::Lagged { missed }) => Got::Lagged(missed),
        Err(TryRecvError::Empty) => Got::Empty,
        Err(TryRecvError::Closed) => panic!("topic is open"),
    }
}

#[derive(Debug, Clone)]
enum Op {
    Publish,
    Recv(usize),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![3 => Just(Op::Publish), 2 => (0..4usize).prop_map(Op::Recv)],
        1..200,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn every_policy_matches_its_model(
        ring_log2 in 0u32..6,
        caps in (1usize..40, 1usize..6, 1usize..6, 1usize..6),
        ops in ops(),
    ) {
        let slots = 1u64 << ring_log2;
        let topic = Topic::<u64>::new("model", TopicOptions { capacity: slots as usize }).unwrap();
        let ring_cap = (caps.0 as u64).min(slots).max(1);
        let opts = |capacity, overflow| SubscribeOptions { capacity, overflow, start: Start::Now };
        let mut subs = [
            topic.subscribe_with(opts(ring_cap as usize, Overflow::Lag)).unwrap(),
            topic.subscribe_filtered_with(opts(caps.1, Overflow::Lag), |_| true).unwrap(),
            topic.subscribe_with(opts(caps.2, Overflow::DropNewest)).unwrap(),
            topic.subscribe_with(opts(caps.3, Overflow::Block)).unwrap(),
        ];
        let mut ring = RingModel { next: 0, prefetched: 0, keep: ring_cap, chunk: slots.min(16) };
        let mut queues: Vec<QueueModel> = [(caps.1, Overflow::Lag), (caps.2, Overflow::DropNewest), (caps.3, Overflow::Block)]
            .into_iter()
            .map(|(capacity, overflow)| QueueModel { capacity, overflow, shared: VecDeque::new(), batch: VecDeque::new(), missed: 0, dropped: 0 })
            .collect();
        let mut published = 0u64;
        let mut last_seen = [None::<u64>; 4];
        let mut seen = [0u64; 4];

        let check = |i: usize, real: Got, expected: Got, last_seen: &mut [Option<u64>; 4], seen: &mut [u64; 4]| {
            prop_assert_eq!(&real, &expected, "subscriber {}", i);
            match real {
                Got::Event(seq) => {
                    prop_assert!(last_seen[i].is_none_or(|l| seq > l), "sequence went backwards");
                    last_seen[i] = Some(seq);
                    seen[i] += 1;
                }
                Got::Lagged(missed) => {
                    prop_assert!(missed > 0);
                    seen[i] += missed;
                }
                Got::Empty => {}
            }
            Ok(())
        };

        for op in ops {
            match op {
                Op::Publish => {
                    let reached = topic.publish(published);
                    let expected = 1 + queues.iter_mut().filter_map(|q| q.publish(published).then_some(())).count();
                    prop_assert_eq!(reached, expected);
                    published += 1;
                }
                Op::Recv(i) => {
                    let expected = if i == 0 { ring.recv(published) } else { queues[i - 1].recv() };
                    let real = got(&mut subs[i]);
                    check(i, real, expected, &mut last_seen, &mut seen)?;
                }
            }
        }
        // Drain everything: every event is accounted for.
        for i in 0..4 {
            loop {
                let expected = if i == 0 { ring.recv(published) } else { queues[i - 1].recv() };
                let real = got(&mut subs[i]);
                let done = real == Got::Empty;
                check(i, real, expected, &mut last_seen, &mut seen)?;
                if done { break; }
            }
        }
        prop_assert_eq!(seen[0], published, "ring Lag: received + missed");
        prop_assert_eq!(seen[1], published, "queue Lag: received + missed");
        prop_assert_eq!(seen[2] + queues[1].dropped, published, "DropNewest: received + dropped");
        prop_assert_eq!(seen[3] + queues[2].dropped, published, "Block: received + dropped");
        prop_assert_eq!(subs[3].metrics().dropped, queues[2].dropped);
        prop_assert_eq!(subs[0].metrics().lagged + subs[0].metrics().delivered, published);
    }

    /// Lossless publishing: a `Block` subscriber sees every event, in order, whatever its
    /// capacity and however receives interleave with publishes.
    #[test]
    fn block_sees_every_event_with_waiting_publish(capacity in 1usize..5, events in 1u64..60) {
        let topic = Topic::<u64>::new("model", TopicOptions { capacity: 4 }).unwrap();
        let mut sub = topic.subscribe_with(SubscribeOptions { capacity, overflow: Overflow::Block, start: Start::Now }).unwrap();
        let mut received = Vec::new();
        for seq in 0..events {
            // Drain when full so the waiting publish never has to wait.
            if topic.metrics().published - received.len() as u64 >= capacity as u64 {
                while let Ok(e) = sub.try_recv() { received.push(e.seq()); }
            }
            prop_assert_eq!(topic.blocking_publish(seq).unwrap(), 1);
        }
        while let Ok(e) = sub.try_recv() { received.push(e.seq()); }
        prop_assert_eq!(received, (0..events).collect::<Vec<_>>());
    }
}
