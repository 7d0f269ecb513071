//! Counters: written by one worker each (no contended read-modify-writes on the hot path),
//! summed on demand into [`Metrics`] and [`PoolReport`].

use std::time::Duration;

use crossbeam_utils::CachePadded;

use crate::job::Outcome;
use crate::stamp::Clock;
use crate::sync::{AtomicBool, AtomicU64, Ordering};

/// A snapshot of a pool's state and counters, from `metrics()`.
///
/// Counters are read one after another while the pool runs, so a snapshot is not atomic as a
/// whole; each counter is exact and never goes down.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Metrics {
    /// Workers the pool runs (fixed for its lifetime).
    pub workers: usize,
    /// Queue slots.
    pub queue_capacity: usize,
    /// Jobs admitted and not yet picked up by a worker.
    pub queued: usize,
    /// Jobs a worker is running right now (at most `workers`).
    pub running: usize,
    /// Jobs that ran to the end and produced a value.
    pub completed: u64,
    /// Jobs that panicked (their handles hold [`JobError::Panicked`](crate::JobError::Panicked)).
    pub panicked: u64,
    /// Jobs cancelled: aborted through the handle, or at the shutdown deadline.
    pub cancelled: u64,
    /// Submissions refused: queue full (`try_*`), timed out, or pool closed.
    pub rejected: u64,
    /// Total time jobs spent queued before a worker picked them up.
    pub queue_wait_total: Duration,
    /// The longest time one job spent queued.
    pub queue_wait_max: Duration,
    /// Jobs picked up by a worker (the denominator of the mean queue wait).
    pub started: u64,
}

impl Metrics {
    /// The mean time a job spent queued, zero before the first job starts.
    #[must_use]
    pub fn queue_wait_mean(&self) -> Duration {
        match u32::try_from(self.started) {
            Ok(0) => Duration::ZERO,
            Ok(n) => self.queue_wait_total / n,
            Err(_) => Duration::from_nanos(
                u64::try_from(self.queue_wait_total.as_nanos() / u128::from(self.started))
                    .unwrap_or(u64::MAX),
            ),
        }
    }
}

/// What `shutdown` did: every job the pool ever accepted is in exactly one of `completed`,
/// `panicked`, `cancelled` or `abandoned`; every refused submission is in `rejected`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct PoolReport {
    /// Jobs that ran to the end and produced a value (the pool does not look inside the value:
    /// a job returning `Err(..)` counts here).
    pub completed: u64,
    /// Jobs that panicked.
    pub panicked: u64,
    /// Jobs cancelled: aborted through their handle, still queued at the deadline, or (async
    /// pool) still running at the deadline.
    pub cancelled: u64,
    /// Submissions refused (queue full, timeout, or closed); those jobs were handed back.
    pub rejected: u64,
    /// Blocking pool only: closures still running at the deadline. A thread cannot be
    /// interrupted, so they run on; their handles resolve when they end.
    pub abandoned: u64,
    /// Whether everything finished within the grace period (nothing was cancelled by the
    /// deadline).
    pub drained_in_time: bool,
}

impl PoolReport {
    /// Jobs that produced no value: panicked, cancelled or abandoned.
    #[must_use]
    pub fn failed(&self) -> u64 {
        self.panicked + self.cancelled + self.abandoned
    }

    /// Every job the pool accepted.
    #[must_use]
    pub fn accepted(&self) -> u64 {
        self.completed + self.failed()
    }
}

#[derive(Default)]
struct WorkerStats {
    started: AtomicU64,
    completed: AtomicU64,
    panicked: AtomicU64,
    cancelled: AtomicU64,
    /// Queue wait in clock ticks, converted to time when read.
    wait_ticks: AtomicU64,
    wait_max_ticks: AtomicU64,
    busy: AtomicBool,
}

/// Only the owning worker writes its counters, so a load and a store replace a locked add.
fn bump(counter: &AtomicU64, by: u64) {
    // Release: a report that reads a job's end has also seen it accepted (see `report`).
    counter.store(
        counter.load(Ordering::Relaxed).wrapping_add(by),
        Ordering::Release,
    );
}

pub(crate) struct Stats {
    clock: Clock,
    workers: Box<[CachePadded<WorkerStats>]>,
    rejected: CachePadded<AtomicU64>,
    /// Jobs admitted into the queue, counted before they become visible to a worker: the
    /// report's ground truth, so a job a worker holds but has not yet marked started is
    /// still counted (as abandoned) by a report taken at that moment.
    accepted: CachePadded<AtomicU64>,
    /// Cancelled straight out of the queue by the shutdown deadline, never seen by a worker.
    cancelled_in_queue: AtomicU64,
}

impl Stats {
    pub(crate) fn new(workers: usize) -> Self {
        Self {
            clock: Clock::new(),
            workers: (0..workers).map(|_| CachePadded::default()).collect(),
            rejected: CachePadded::default(),
            accepted: CachePadded::default(),
            cancelled_in_queue: AtomicU64::new(0),
        }
    }

    /// The pool's clock: stamps for the queue wait and the idle search.
    pub(crate) fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Worker `id` picked up a job stamped `queued_at` when it was queued; returns the stamp
    /// it started at.
    pub(crate) fn started(&self, id: usize, queued_at: u64) -> u64 {
        let now = self.clock.stamp();
        let Some(stats) = self.workers.get(id) else {
            return now;
        };
        let wait = Clock::between(queued_at, now);
        bump(&stats.started, 1);
        bump(&stats.wait_ticks, wait);
        if wait > stats.wait_max_ticks.load(Ordering::Relaxed) {
            stats.wait_max_ticks.store(wait, Ordering::Relaxed);
        }
        stats.busy.store(true, Ordering::Relaxed);
        now
    }

    pub(crate) fn finished(&self, id: usize, outcome: Outcome) {
        let Some(stats) = self.workers.get(id) else {
            return;
        };
        let counter = match outcome {
            Outcome::Completed => &stats.completed,
            Outcome::Panicked => &stats.panicked,
            Outcome::Cancelled => &stats.cancelled,
        };
        bump(counter, 1);
        stats.busy.store(false, Ordering::Release);
    }

    /// A job is about to be pushed into its reserved slot.
    pub(crate) fn accepted(&self) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn rejected(&self) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn cancelled_in_queue(&self) {
        self.cancelled_in_queue.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn metrics(&self, queue_capacity: usize, queued: usize) -> Metrics {
        let mut m = Metrics {
            workers: self.workers.len(),
            queue_capacity,
            queued,
            rejected: self.rejected.load(Ordering::Relaxed),
            cancelled: self.cancelled_in_queue.load(Ordering::Relaxed),
            ..Metrics::default()
        };
        let mut wait_ticks: u64 = 0;
        let mut wait_max = 0;
        for stats in &*self.workers {
            m.started += stats.started.load(Ordering::Relaxed);
            m.completed += stats.completed.load(Ordering::Relaxed);
            m.panicked += stats.panicked.load(Ordering::Relaxed);
            m.cancelled += stats.cancelled.load(Ordering::Relaxed);
            m.running += usize::from(stats.busy.load(Ordering::Relaxed));
            wait_ticks = wait_ticks.saturating_add(stats.wait_ticks.load(Ordering::Relaxed));
            wait_max = wait_max.max(stats.wait_max_ticks.load(Ordering::Relaxed));
        }
        m.queue_wait_total = Duration::from_nanos(self.clock.nanos(wait_ticks));
        m.queue_wait_max = Duration::from_nanos(self.clock.nanos(wait_max));
        m
    }

    /// The report once intake is closed. Every accepted job is in exactly one of completed,
    /// panicked, cancelled or abandoned (still running, or held by a worker that has not yet
    /// marked it started, when the report is taken).
    pub(crate) fn report(&self, drained_in_time: bool) -> PoolReport {
        let mut report = PoolReport {
            rejected: self.rejected.load(Ordering::Relaxed),
            cancelled: self.cancelled_in_queue.load(Ordering::Relaxed),
            drained_in_time,
            ..PoolReport::default()
        };
        let mut ended = report.cancelled;
        for stats in &*self.workers {
            let completed = stats.completed.load(Ordering::Acquire);
            let panicked = stats.panicked.load(Ordering::Acquire);
            let cancelled = stats.cancelled.load(Ordering::Acquire);
            report.completed += completed;
            report.panicked += panicked;
            report.cancelled += cancelled;
            ended += completed + panicked + cancelled;
        }
        // Read after the ends: each end read above was published (Release) after its job
        // was counted accepted, so `accepted >= ended` here.
        let accepted = self.accepted.load(Ordering::Acquire);
        report.abandoned = accepted.saturating_sub(ended);
        report
    }
}

#[cfg(all(test, not(tidewater_loom)))]
mod tests {
    use super::*;

    /// A report taken while a worker holds a job it has not yet marked started (popped, a few
    /// instructions before `started`) still counts that job: as abandoned, not nowhere.
    #[test]
    fn a_job_held_but_not_yet_started_is_in_the_report() {
        let stats = Stats::new(1);
        stats.accepted();
        stats.started(0, stats.clock().stamp());
        stats.finished(0, Outcome::Completed);
        stats.accepted(); // popped by a worker that has not reached `started` yet
        let report = stats.report(false);
        assert_eq!((report.completed, report.abandoned), (1, 1));
        assert_eq!(report.accepted(), 2, "every accepted job is in the report");
    }

    /// Queued jobs cancelled by the deadline and jobs still running are each counted once.
    #[test]
    fn cancelled_in_queue_and_running_jobs_add_up() {
        let stats = Stats::new(2);
        for _ in 0..4 {
            stats.accepted();
        }
        stats.started(0, stats.clock().stamp()); // still running
        stats.started(1, stats.clock().stamp());
        stats.finished(1, Outcome::Panicked);
        stats.cancelled_in_queue();
        stats.cancelled_in_queue();
        let report = stats.report(false);
        assert_eq!(
            (report.panicked, report.cancelled, report.abandoned),
            (1, 2, 1)
        );
        assert_eq!(report.accepted(), 4);
    }
}
