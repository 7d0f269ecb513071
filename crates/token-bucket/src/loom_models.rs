//! loom models of the bucket's concurrent core (run by `cargo xtask loom`).
//!
//! Time is a `ManualClock` that only the main thread moves, outside the racing part, so
//! each model explores every interleaving of the atomics and the queue lock alone.

use std::sync::Arc as StdArc;
use std::task::{Wake, Waker};
use std::time::Duration;

use loom::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use loom::thread;

use crate::queue::Progress;
use crate::sync::Arc;
use crate::waiter::{Step, Waiter};
use crate::{ManualClock, TokenBucket};

const SEC: Duration = Duration::from_secs(1);

fn bucket(capacity: u32, initial: u32) -> (TokenBucket<ManualClock>, ManualClock) {
    let clock = ManualClock::new();
    let bucket = TokenBucket::builder()
        .capacity(capacity)
        .refill(1, SEC)
        .initial(initial)
        .clock(clock.clone())
        .build()
        .expect("valid test configuration");
    (bucket, clock)
}

/// A waker that records that it was woken.
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: StdArc<Self>) {
        self.0.store(true, Ordering::Release);
    }
}

fn flag() -> (StdArc<Flag>, Waker) {
    let flag = StdArc::new(Flag(AtomicBool::new(false)));
    (flag.clone(), Waker::from(flag))
}

/// Invariant: concurrent acquires never grant more than the tokens present, and never
/// fewer (no CAS retry is lost): 3 threads race for 2 tokens, exactly 2 win.
#[test]
fn loom_concurrent_acquires_grant_exactly_the_capacity() {
    loom::model(|| {
        let (b, _clock) = bucket(2, 2);
        let granted = Arc::new(AtomicU32::new(0));
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let (b, granted) = (b.clone(), granted.clone());
                thread::spawn(move || {
                    if b.try_acquire(1).is_ok() {
                        granted.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("no panic");
        }
        assert_eq!(granted.load(Ordering::Relaxed), 2);
        assert_eq!(b.available(), 0);
    });
}

/// Invariant: a waiter's reservation returned on cancel is never lost or duplicated.
/// One token is in the bucket; A asks for 2 (queues, reserves, then is dropped) while B
/// tries for 1. Afterwards B's grant plus what is left equals the one token.
#[test]
fn loom_refund_on_cancel_is_never_lost() {
    loom::model(|| {
        let (b, _clock) = bucket(2, 1);
        let a = {
            let b = b.clone();
            thread::spawn(move || {
                let (_flag, waker) = flag();
                let mut waiter = Waiter::new(b.shared(), 2, None);
                let step = waiter.poll(&waker);
                assert!(matches!(
                    step,
                    Step::Queue(Progress::Sleep(_) | Progress::Parked)
                ));
                drop(waiter); // cancel while waiting
            })
        };
        let got = {
            let b = b.clone();
            thread::spawn(move || u32::from(b.try_acquire(1).is_ok()))
        };
        a.join().expect("no panic");
        let got = got.join().expect("no panic");
        assert_eq!(
            got + b.available(),
            1,
            "the token is neither lost nor doubled"
        );
        assert_eq!(b.status().waiting, 0);
    });
}

/// Invariant: no lost wake-up at hand-off. A is the head; C queues behind it; A is
/// dropped. C must be woken (or find itself the head) and then hold the head position.
#[test]
fn loom_handoff_never_loses_a_wakeup() {
    loom::model(|| {
        let (b, clock) = bucket(1, 0);
        let a_joined = Arc::new(AtomicBool::new(false));
        let a = {
            let (b, a_joined) = (b.clone(), a_joined.clone());
            thread::spawn(move || {
                let (_flag, waker) = flag();
                let mut waiter = Waiter::new(b.shared(), 1, None);
                assert!(matches!(
                    waiter.poll(&waker),
                    Step::Queue(Progress::Sleep(_))
                ));
                a_joined.store(true, Ordering::Release);
                drop(waiter);
            })
        };
        let c = {
            let (b, a_joined, clock) = (b.clone(), a_joined.clone(), clock.clone());
            thread::spawn(move || {
                while !a_joined.load(Ordering::Acquire) {
                    thread::yield_now();
                }
                let (woken, waker) = flag();
                let mut waiter = Waiter::new(b.shared(), 1, None);
                let mut step = waiter.poll(&waker);
                while step == Step::Queue(Progress::Parked) {
                    while !woken.0.load(Ordering::Acquire) {
                        thread::yield_now();
                    }
                    woken.0.store(false, Ordering::Release);
                    step = waiter.poll(&waker);
                }
                // C is now the head and holds the reservation for its one token; A has
                // left the queue, so only C reads the clock from here on.
                assert!(matches!(step, Step::Queue(Progress::Sleep(_))));
                clock.advance(SEC);
                assert_eq!(waiter.poll(&waker), Step::Queue(Progress::Granted));
            })
        };
        a.join().expect("no panic");
        c.join().expect("no panic");
        assert_eq!(b.available(), 0);
        assert_eq!(b.status().waiting, 0);
    });
}

/// Invariant: a rate change racing with acquires neither loses nor invents tokens.
/// Two of four tokens are present; the rate doubles while B takes tokens one at a time.
#[test]
fn loom_rate_change_keeps_the_balance() {
    loom::model(|| {
        let (b, _clock) = bucket(4, 2);
        let changer = {
            let b = b.clone();
            thread::spawn(move || b.set_refill(2, SEC).expect("valid rate"))
        };
        let taker = {
            let b = b.clone();
            thread::spawn(move || (0..2).filter(|_| b.try_acquire(1).is_ok()).count())
        };
        changer.join().expect("no panic");
        let taken = u32::try_from(taker.join().expect("no panic")).expect("small");
        assert_eq!(taken, 2, "both tokens were there throughout");
        assert_eq!(b.available(), 0);
        assert_eq!(b.interval(), SEC / 2);
    });
}

/// Invariant: a request is never granted more tokens than the bucket holds, even when the
/// capacity shrinks below it between its capacity check and its reservation (a reservation
/// takes at most the capacity in force). Three tokens are there and time stands still, so a
/// request for five must never be granted.
#[test]
fn loom_capacity_shrink_never_lets_a_request_through_on_a_clamped_reservation() {
    loom::model(|| {
        let (b, _clock) = bucket(5, 3);
        let shrinker = {
            let b = b.clone();
            thread::spawn(move || b.set_limits(2, 1, SEC).expect("valid limits"))
        };
        let (_flag, waker) = flag();
        let mut waiter = Waiter::new(b.shared(), 5, None);
        let step = waiter.poll(&waker);
        assert_ne!(step, Step::Queue(Progress::Granted), "5 granted out of 3");
        drop(waiter);
        shrinker.join().expect("no panic");
        assert_eq!(
            b.available(),
            2,
            "the 3 tokens, clamped to the new capacity"
        );
        assert_eq!(b.status().waiting, 0);
    });
}
