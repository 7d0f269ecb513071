//! loom models of the lock-free cores: the window counters and the permit accounting.
//! Run with `RUSTFLAGS="--cfg tidewater_loom" cargo test --release -p tidewater-rate-limiter --lib -- loom`.

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

use crate::limit::{LimitCore, Pool};
use crate::window::{WindowCounter, WindowKind};

const SEC_MICROS: u64 = 1_000_000;
const SEC: u64 = 1_000_000_000;

/// Invariant: however the takes interleave, a window never counts more than its limit,
/// and no take that fits is refused (exactly `limit` of 3 unit takes pass).
fn never_over_admits(kind: WindowKind, now: u64) {
    loom::model(move || {
        let counter = Arc::new(WindowCounter::new(kind, 2, SEC_MICROS));
        // A previous-window count the sliding estimate has fully faded out of by `now`.
        let handles: Vec<_> = (0..3)
            .map(|_| {
                let c = Arc::clone(&counter);
                thread::spawn(move || usize::from(c.try_take(now, 1).allowed))
            })
            .collect();
        let admitted: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(admitted, 2, "{kind:?} admitted {admitted} of limit 2");
    });
}

#[test]
fn loom_fixed_window_never_over_admits() {
    never_over_admits(WindowKind::Fixed, SEC / 2);
}

#[test]
fn loom_sliding_window_never_over_admits() {
    never_over_admits(WindowKind::Sliding, SEC / 2);
}

/// Invariant: a parameter change racing with takes neither loses a count nor resets the
/// window: with one of two already used, at most one more passes. And it never leaves the
/// state written under the replaced parameters (readers would carry its counts over unaged,
/// and a full window would refuse everything forever): long after, a take passes again.
#[test]
fn loom_window_change_keeps_counts() {
    loom::model(|| {
        let counter = Arc::new(WindowCounter::new(WindowKind::Sliding, 2, SEC_MICROS));
        assert!(counter.try_take(10, 1).allowed);
        let c1 = Arc::clone(&counter);
        let taker = thread::spawn(move || usize::from(c1.try_take(20, 1).allowed));
        let c2 = Arc::clone(&counter);
        let changer = thread::spawn(move || c2.set(30, 2, 2 * SEC_MICROS));
        let admitted = taker.join().unwrap() + usize::from(counter.try_take(40, 1).allowed);
        changer.join().unwrap();
        assert_eq!(admitted, 1, "the limit of 2 was already half used");
        assert!(
            counter.try_take(10 * SEC, 2).allowed,
            "windows long past still count"
        );
    });
}

/// A pool of permits as one counter (tokio's semaphore in production).
struct Counter(AtomicUsize);

impl Pool for Counter {
    fn add(&self, n: usize) {
        self.0.fetch_add(n, Ordering::AcqRel);
    }

    fn try_take(&self) -> bool {
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok()
    }
}

/// Invariant: with permits released while the limit is lowered, once everything settles
/// `available + in use - debt == limit` (no permit created or lost), and the debt is
/// never left unpaid while idle permits exist beyond the limit.
#[test]
fn loom_permit_accounting_survives_a_limit_change() {
    loom::model(|| {
        let core = Arc::new(LimitCore::new(3));
        let pool = Arc::new(Counter(AtomicUsize::new(0))); // all 3 permits in use
        let releasers: Vec<_> = (0..2)
            .map(|_| {
                let (core, pool) = (Arc::clone(&core), Arc::clone(&pool));
                thread::spawn(move || core.release(&*pool))
            })
            .collect();
        core.set_limit(1, &*pool);
        for r in releasers {
            r.join().unwrap();
        }
        let (available, in_use, debt) = (pool.0.load(Ordering::Acquire), 1, core.debt());
        assert_eq!(
            available + in_use - debt,
            1,
            "available {available}, debt {debt}"
        );
        assert!(available + in_use <= 1 + debt);
    });
}

/// Invariant: raising the limit cancels debt before adding permits, so a raise racing
/// with a release never leaves more permits than the limit.
#[test]
fn loom_permit_accounting_raise_cancels_debt() {
    loom::model(|| {
        let core = Arc::new(LimitCore::new(2));
        let pool = Arc::new(Counter(AtomicUsize::new(0))); // both in use
        core.set_limit(1, &*pool); // one permit of debt
        let (c, p) = (Arc::clone(&core), Arc::clone(&pool));
        let releaser = thread::spawn(move || c.release(&*p));
        let (c, p) = (Arc::clone(&core), Arc::clone(&pool));
        let raiser = thread::spawn(move || c.set_limit(2, &*p));
        releaser.join().unwrap();
        raiser.join().unwrap();
        let (available, debt) = (pool.0.load(Ordering::Acquire), core.debt());
        assert_eq!((available, debt), (1, 0), "one in use, limit 2");
    });
}

/// A pool like tokio's semaphore, whose `add` may hand a permit straight to a queued waiter
/// (irrevocably): flags any permit returned once the lowered limit is in force.
struct Watched {
    pool: Counter,
    /// Set once `set_limit` has returned.
    lowered: loom::sync::atomic::AtomicBool,
}

impl Pool for Watched {
    fn add(&self, n: usize) {
        assert!(
            n == 0 || !self.lowered.load(Ordering::SeqCst),
            "a permit went back into circulation after the limit fell to the permits in use"
        );
        self.pool.add(n);
    }

    fn try_take(&self) -> bool {
        self.pool.try_take()
    }
}

/// Invariant: once `set_limit` lowering the limit has returned, no release puts a permit back
/// into circulation while the permits in use still exceed the new limit (with tokio's
/// semaphore it would go straight to a waiter: over-admission). Two permits are in use, one is
/// released while the limit drops to 1: afterwards nothing is idle and no debt is left.
#[test]
fn loom_lowering_the_limit_never_lets_a_release_over_admit() {
    loom::model(|| {
        let core = Arc::new(LimitCore::new(2));
        let pool = Arc::new(Watched {
            pool: Counter(AtomicUsize::new(0)), // both permits in use
            lowered: loom::sync::atomic::AtomicBool::new(false),
        });
        let releaser = {
            let (core, pool) = (Arc::clone(&core), Arc::clone(&pool));
            thread::spawn(move || core.release(&*pool))
        };
        core.set_limit(1, &*pool);
        pool.lowered.store(true, Ordering::SeqCst);
        releaser.join().unwrap();
        let (available, debt) = (pool.pool.0.load(Ordering::Acquire), core.debt());
        assert_eq!((available, debt), (0, 0), "one in use, limit 1");
    });
}
