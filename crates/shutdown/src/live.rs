//! How many tasks of a scope are running, and whether anyone waits for none.
//!
//! Counted per shard, so that neither a spawn nor a task's end writes a cache line the other
//! side writes too: a spawn bumps its shard's *spawned* count (under that shard's lock, on a
//! line the spawning thread keeps to itself), a task's end bumps the *ended* count of the
//! shard of the thread it ends on. Running = all spawned - all ended, read ended first: an
//! end read with acquire shows its task's spawn, so the difference never counts an end
//! without its spawn. Only the shards that ever counted something are read (a bit each, set
//! before their first count): typically the spawning thread's and the workers'. The bits are
//! read again between the ends and the spawns, so the spawns of every end read are among them.
//!
//! Waiting for "none running" is a write-then-read handshake: a waiter announces itself, then
//! sums; an end bumps its count, then reads the waiters, and only if someone waits, sums. A
//! sequentially consistent fence between the write and the reads on both sides makes the
//! second of the two see the first, so no waiter sleeps through the last end.

use crate::sync::{AtomicUsize, Ordering, fence};

/// One counter on cache lines of its own.
#[repr(align(128))]
struct Line(AtomicUsize);

fn lines(n: usize) -> Box<[Line]> {
    (0..n).map(|_| Line(AtomicUsize::new(0))).collect()
}

pub(crate) struct LiveCount {
    spawned: Box<[Line]>,
    ended: Box<[Line]>,
    /// Bit `i`: shard `i` has counted something (set before its first count, never cleared).
    touched: Line,
    /// Read by every end that leaves none running; written only by `idle()` waiters.
    waiters: Line,
}

impl LiveCount {
    /// Counts for `shards` shards (at most 64: one bit each).
    pub(crate) fn new(shards: usize) -> LiveCount {
        LiveCount {
            spawned: lines(shards),
            ended: lines(shards),
            touched: Line(AtomicUsize::new(0)),
            waiters: Line(AtomicUsize::new(0)),
        }
    }

    /// A task started in `shard`. Call with that shard's lock held: spawns of one shard are
    /// serialized by it, so a plain read and write count them (no read-modify-write needed).
    #[inline]
    pub(crate) fn started(&self, shard: usize) {
        if let Some(Line(spawned)) = self.spawned.get(shard) {
            let before = spawned.load(Ordering::Relaxed);
            if before == 0 {
                self.touch(shard);
            }
            spawned.store(before + 1, Ordering::Relaxed);
        }
    }

    /// `n` tasks ended, counted in `shard` (the ending thread's own). `true`: someone waits
    /// and none is running any more: wake them.
    pub(crate) fn ended(&self, shard: usize, n: usize) -> bool {
        if n == 0 {
            return false;
        }
        if let Some(Line(ended)) = self.ended.get(shard) {
            // Before the count: whoever sees the count sees the bit (both come before the
            // fence below).
            if ended.load(Ordering::Relaxed) == 0 {
                self.touch(shard);
            }
            // Release: whoever reads this end also sees the task's spawn.
            ended.fetch_add(n, Ordering::Release);
        }
        fence(Ordering::SeqCst);
        self.waiters.0.load(Ordering::Relaxed) > 0 && self.sum() == 0
    }

    /// Spawned minus ended.
    fn sum(&self) -> usize {
        let (spawned, ended) = self.totals();
        spawned.saturating_sub(ended)
    }

    fn touch(&self, shard: usize) {
        if let Some(bit) = 1_usize.checked_shl(u32::try_from(shard).unwrap_or(u32::MAX)) {
            self.touched.0.fetch_or(bit, Ordering::Release);
        }
    }

    /// The counts of the shards marked in `touched`, added up.
    fn total(counts: &[Line], touched: usize, order: Ordering) -> usize {
        let (mut total, mut rest) = (0_usize, touched);
        while rest != 0 {
            let shard = rest.trailing_zeros() as usize;
            rest &= rest - 1;
            if let Some(Line(n)) = counts.get(shard) {
                total = total.wrapping_add(n.load(order));
            }
        }
        total
    }

    /// `(spawned, ended)`, ended read first, so `spawned >= ended`. The bits are read again
    /// for the spawns: an end read with acquire shows its spawn *and* the bit its spawning
    /// shard set before it, but that shard may have counted for the first time after the
    /// first read of the bits (a new spawning thread whose task ended on a worker whose shard
    /// counted long before). Adding up the spawns against the first read would then count
    /// that end without its spawn, and miss a task running all along (loom model
    /// `a_task_running_all_along_is_counted_while_a_new_shard_starts_counting`).
    fn totals(&self) -> (usize, usize) {
        let touched = self.touched.0.load(Ordering::Acquire);
        let ended = Self::total(&self.ended, touched, Ordering::Acquire);
        let touched = self.touched.0.load(Ordering::Acquire);
        let spawned = Self::total(&self.spawned, touched, Ordering::Relaxed);
        (spawned, ended)
    }

    /// Tasks running now (a snapshot).
    pub(crate) fn count(&self) -> usize {
        self.sum()
    }

    /// True when none is running; for a waiter, after [`wait_begins`](Self::wait_begins).
    pub(crate) fn none_running(&self) -> bool {
        fence(Ordering::SeqCst);
        self.sum() == 0
    }

    /// Announce a waiter, before it reads [`none_running`](Self::none_running); pair with
    /// [`wait_ends`](Self::wait_ends).
    pub(crate) fn wait_begins(&self) {
        self.waiters.0.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn wait_ends(&self) {
        self.waiters.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// loom: a waiter checking for "none running" against the last task ends.
#[cfg(all(test, tidewater_loom))]
mod loom_models {
    use super::*;
    use loom::sync::Arc;
    use loom::sync::atomic::Ordering::SeqCst;
    use loom::thread;

    /// Invariant: a waiter that found tasks running is woken by an end that leaves none,
    /// whatever the order of the two ends and the waiter's check. The tasks start in one
    /// shard and end in two others (workers' shards that count their first end).
    #[test]
    fn the_last_end_wakes_a_waiter_that_saw_tasks_running() {
        loom::model(|| {
            let live = Arc::new(LiveCount::new(3));
            live.started(0);
            live.started(0);
            let woken = Arc::new(AtomicUsize::new(0));
            let ends: Vec<_> = (1..3)
                .map(|shard| {
                    let (live, woken) = (Arc::clone(&live), Arc::clone(&woken));
                    thread::spawn(move || {
                        if live.ended(shard, 1) {
                            woken.fetch_add(1, SeqCst);
                        }
                    })
                })
                .collect();
            live.wait_begins();
            let saw_none = live.none_running();
            for end in ends {
                end.join().unwrap();
            }
            assert!(
                saw_none || woken.load(SeqCst) > 0,
                "lost wake-up: the waiter saw tasks running and no end woke it"
            );
            live.wait_ends();
            assert_eq!(live.count(), 0);
        });
    }

    /// Invariant: the totals never count an end without its spawn, for an observer that
    /// did not see the spawn happen (a task started by one thread, ended by another).
    #[test]
    fn an_end_is_never_counted_without_its_spawn() {
        loom::model(|| {
            let live = Arc::new(LiveCount::new(2));
            // An earlier task, started and ended: both shards have counted before.
            live.started(0);
            live.ended(1, 1);
            let observer = {
                let live = Arc::clone(&live);
                thread::spawn(move || {
                    let (spawned, ended) = live.totals();
                    assert!(spawned >= ended, "{ended} ended of {spawned} spawned");
                })
            };
            let spawner = {
                let live = Arc::clone(&live);
                thread::spawn(move || {
                    live.started(0);
                    // The runtime hands the task to a worker, which ends it.
                    let worker = {
                        let live = Arc::clone(&live);
                        thread::spawn(move || live.ended(1, 1))
                    };
                    worker.join().unwrap()
                })
            };
            observer.join().unwrap();
            spawner.join().unwrap();
            assert_eq!(live.count(), 0);
        });
    }

    /// Invariant: a task running all along is always counted (so `idle()` never resolves
    /// under it), while a thread that never spawned before starts a task that ends on a
    /// worker whose shard counted before. The observer's bits may predate the new shard's;
    /// the end it reads must not be set against spawns missing that shard.
    #[test]
    fn a_task_running_all_along_is_counted_while_a_new_shard_starts_counting() {
        loom::model(|| {
            let live = Arc::new(LiveCount::new(3));
            live.started(0); // runs all along
            // An earlier task, started and ended: shards 0 and 1 have counted before.
            live.started(0);
            live.ended(1, 1);
            let observer = {
                let live = Arc::clone(&live);
                thread::spawn(move || {
                    live.wait_begins();
                    assert!(!live.none_running(), "idle while a task runs");
                    live.wait_ends();
                })
            };
            // A new spawning thread (shard 2's first count); a worker of shard 1 ends its task.
            live.started(2);
            let worker = {
                let live = Arc::clone(&live);
                thread::spawn(move || live.ended(1, 1))
            };
            assert!(!worker.join().unwrap(), "nobody may be woken: a task runs");
            observer.join().unwrap();
            assert_eq!(live.count(), 1);
        });
    }
}
