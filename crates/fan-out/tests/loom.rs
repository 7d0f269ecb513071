//! Loom models of the tokio-free core: the wake-up hand-off between item wakers and the
//! driver, and the completion inbox feeding the reorder buffer.
//!
//! Run: `RUSTFLAGS="--cfg tidewater_loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release
//! -p tidewater-fan-out --test loom`.
#![cfg(tidewater_loom)]

use std::task::{Wake, Waker};

use loom::sync::Arc;
use loom::thread;
use tidewater_fan_out::__core::{Inbox, ReadyPage, Reorder, Signal, SlotWaker};

/// A waker that unparks a loom thread (the "driver task").
struct Unpark(thread::Thread);

impl Wake for Unpark {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.unpark();
    }
}

fn driver_waker() -> Waker {
    Waker::from(std::sync::Arc::new(Unpark(thread::current())))
}

/// Invariant: no lost wake-up. Two items are woken from two other threads while the
/// driver polls and parks; the driver sees both ready bits and never sleeps forever
/// (a lost wake-up shows up as a loom deadlock).
#[test]
fn every_woken_slot_is_seen_by_the_driver() {
    loom::model(|| {
        let signal = Arc::new(Signal::new());
        let page = Arc::new(ReadyPage::new());
        let waker = driver_waker();
        signal.begin(&waker);
        let wakers: Vec<_> = (0..2u32)
            .map(|bit| {
                let w = SlotWaker::waker(Arc::clone(&page), bit, Arc::clone(&signal));
                thread::spawn(move || w.wake())
            })
            .collect();
        let mut seen = 0u64;
        loop {
            seen |= page.take();
            if seen == 0b11 {
                break;
            }
            if signal.try_park() {
                thread::park();
                signal.begin(&waker);
            }
        }
        for w in wakers {
            w.join().unwrap();
        }
        assert_eq!(seen, 0b11);
    });
}

/// Invariants: results completed on two threads in scrambled order are delivered in input
/// order, each exactly once; the completion count reaches the number of inputs; the
/// reorder buffer never holds more than its window; and the driver is never left asleep.
#[test]
fn completions_are_delivered_in_order_exactly_once() {
    const N: usize = 4;
    loom::model(|| {
        let signal = Arc::new(Signal::new());
        let inbox = Arc::new(Inbox::new(Arc::clone(&signal)));
        let waker = driver_waker();
        signal.begin(&waker);
        let workers: Vec<_> = [[2usize, 0], [3, 1]]
            .into_iter()
            .map(|order| {
                let inbox = Arc::clone(&inbox);
                thread::spawn(move || {
                    for i in order {
                        inbox.push(i);
                    }
                })
            })
            .collect();
        let mut reorder = Reorder::new(N);
        let mut delivered = Vec::new();
        let mut taken = Vec::new();
        loop {
            inbox.take_all(&mut taken);
            for index in taken.drain(..) {
                assert!(reorder.insert(index, index).is_ok(), "index {index} twice");
                assert!(reorder.held() <= reorder.capacity());
            }
            while let Some(value) = reorder.pop() {
                delivered.push(value);
            }
            if delivered.len() == N {
                break;
            }
            if signal.try_park() {
                thread::park();
                signal.begin(&waker);
            }
        }
        for w in workers {
            w.join().unwrap();
        }
        assert_eq!(delivered, (0..N).collect::<Vec<_>>());
        assert_eq!(inbox.completed(), N);
        assert_eq!(reorder.held(), 0);
    });
}
