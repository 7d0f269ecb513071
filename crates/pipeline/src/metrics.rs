//! Live per-stage counters, snapshotted into a [`StageReport`].
//!
//! Each counter has one writer (its stage's task) and is only read for reports, so relaxed
//! `std` atomics suffice: they never order anything, and they are not part of the loom-checked
//! hand-off core.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use tokio::time::Instant;

use crate::report::StageReport;

#[derive(Debug)]
pub(crate) struct StageMetrics {
    name: String,
    kind: &'static str,
    items_in: AtomicU64,
    items_out: AtomicU64,
    emitted: AtomicU64,
    filtered: AtomicU64,
    errors: AtomicU64,
    dropped: AtomicU64,
    blocked_ns: AtomicU64,
    idle_ns: AtomicU64,
    life: Mutex<(Option<Instant>, Option<Instant>)>,
    last_error: Mutex<Option<String>>,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl StageMetrics {
    pub(crate) fn new(name: String, kind: &'static str) -> Self {
        Self {
            name,
            kind,
            items_in: AtomicU64::new(0),
            items_out: AtomicU64::new(0),
            emitted: AtomicU64::new(0),
            filtered: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            blocked_ns: AtomicU64::new(0),
            idle_ns: AtomicU64::new(0),
            life: Mutex::new((None, None)),
            last_error: Mutex::new(None),
        }
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn add_in(&self, n: usize) {
        self.items_in.fetch_add(n as u64, Relaxed);
    }
    /// `done` input items finished, `emitted` outputs handed on.
    pub(crate) fn add_out(&self, done: usize, emitted: usize) {
        self.items_out.fetch_add(done as u64, Relaxed);
        self.emitted.fetch_add(emitted as u64, Relaxed);
    }
    pub(crate) fn add_filtered(&self, n: usize) {
        self.filtered.fetch_add(n as u64, Relaxed);
    }
    pub(crate) fn add_dropped(&self, n: usize) {
        self.dropped.fetch_add(n as u64, Relaxed);
    }
    pub(crate) fn add_error(&self, message: impl FnOnce() -> String) {
        self.errors.fetch_add(1, Relaxed);
        let text = message();
        if let Ok(mut slot) = self.last_error.lock() {
            *slot = Some(text);
        }
    }
    pub(crate) fn add_blocked(&self, d: Duration) {
        self.blocked_ns.fetch_add(nanos(d), Relaxed);
    }
    pub(crate) fn add_idle(&self, d: Duration) {
        self.idle_ns.fetch_add(nanos(d), Relaxed);
    }
    pub(crate) fn mark_start(&self) {
        if let Ok(mut life) = self.life.lock() {
            life.0.get_or_insert_with(Instant::now);
        }
    }
    pub(crate) fn mark_end(&self) {
        if let Ok(mut life) = self.life.lock() {
            life.1.get_or_insert_with(Instant::now);
        }
    }

    pub(crate) fn snapshot(&self) -> StageReport {
        let alive = match self.life.lock().map(|l| *l) {
            Ok((Some(start), Some(end))) => end.saturating_duration_since(start),
            Ok((Some(start), None)) => start.elapsed(),
            _ => Duration::ZERO,
        };
        let blocked = Duration::from_nanos(self.blocked_ns.load(Relaxed));
        let idle = Duration::from_nanos(self.idle_ns.load(Relaxed));
        StageReport {
            name: self.name.clone(),
            kind: self.kind,
            items_in: self.items_in.load(Relaxed),
            items_out: self.items_out.load(Relaxed),
            emitted: self.emitted.load(Relaxed),
            filtered: self.filtered.load(Relaxed),
            errors: self.errors.load(Relaxed),
            dropped: self.dropped.load(Relaxed),
            busy: alive.saturating_sub(blocked).saturating_sub(idle),
            blocked,
            idle,
            last_error: self.last_error.lock().ok().and_then(|e| e.clone()),
        }
    }
}
