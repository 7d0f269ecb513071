//! The shutdown sequence: Draining -> Cancelling -> (Aborting) -> Done, against one deadline.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::{Instant, sleep_until};

use crate::hooks::Hook;
use crate::phase::Phase;
use crate::progress::Progress;
use crate::report::{HookReport, Outcome, ShutdownReport};
use crate::shutdown::Inner;

/// How a bounded wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Done,
    Deadline,
    Forced,
}

struct Run<'a> {
    inner: &'a Inner,
    started: Instant,
    deadline: Instant,
    phases: Vec<(Phase, Duration)>,
    hooks: Vec<HookReport>,
}

/// A point so far away it never comes (`Instant + Duration::MAX` would overflow).
fn far_future(from: Instant) -> Instant {
    from + Duration::from_secs(100 * 365 * 24 * 3600)
}

/// `from + after`, or [`far_future`] when that overflows (a `Duration::MAX` setting): the
/// driver must never panic, or `wait()` would never get its report.
fn later(from: Instant, after: Duration) -> Instant {
    from.checked_add(after).unwrap_or_else(|| far_future(from))
}

impl Run<'_> {
    fn enter(&mut self, phase: Phase) {
        if self.inner.shared.core.advance(phase).is_ok() {
            self.phases.push((
                phase,
                Instant::now().saturating_duration_since(self.started),
            ));
        }
    }

    fn progress(&self, phase: Phase) {
        let now = Instant::now();
        let mut running = Vec::new();
        for scope in self.inner.scopes() {
            scope.running(now, &mut running);
        }
        let progress = Progress {
            phase,
            since_trigger: now.saturating_duration_since(self.started),
            until_deadline: self.deadline.saturating_duration_since(now),
            guards: self.inner.shared.core.live_guards(),
            running,
        };
        // The hook is the user's: if it panics, that line is lost, not the shutdown (a
        // panicking driver never sends the report, and `wait()` would wait for ever).
        let hook = &self.inner.shared.config.progress;
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| hook(&progress)));
    }

    /// Wait for `work` until the deadline (or `bound`), logging progress; a forced shutdown
    /// ends the wait too when `forceable`.
    async fn bounded(
        &self,
        work: impl Future<Output = ()>,
        bound: Instant,
        forceable: bool,
        phase: Phase,
    ) -> End {
        tokio::pin!(work);
        let period = self.inner.shared.config.progress_interval;
        let start = Instant::now();
        let mut next_log = period.map_or_else(|| far_future(start), |p| later(start, p));
        loop {
            tokio::select! {
                biased;
                () = self.inner.shared.wait_forced(), if forceable => return End::Forced,
                () = &mut work => return End::Done,
                () = sleep_until(bound) => return End::Deadline,
                () = sleep_until(next_log) => {
                    self.progress(phase);
                    next_log = period.map_or_else(|| far_future(start), |p| later(next_log, p));
                }
            }
        }
    }

    async fn run_hooks(&mut self, phase: Phase, bound: Instant, forceable: bool) -> End {
        let hooks: Vec<Hook> = {
            let mut all = self.inner.lock_hooks();
            let (mine, rest) = std::mem::take(&mut *all)
                .into_iter()
                .partition(|h| h.phase == phase);
            *all = rest;
            mine
        };
        let mut end = End::Done;
        for hook in hooks {
            let started = Instant::now();
            let mut outcome = Outcome::Aborted;
            if end == End::Done {
                let work = async {
                    outcome = (hook.run)().await;
                };
                end = self.bounded(work, bound, forceable, phase).await;
            }
            self.hooks.push(HookReport {
                phase,
                name: hook.name,
                outcome,
                elapsed: Instant::now().saturating_duration_since(started),
            });
        }
        end
    }
}

/// Drive one shutdown from the trigger to `Done` and build the report.
pub(crate) async fn drive(inner: Arc<Inner>) -> ShutdownReport {
    let shared = Arc::clone(&inner.shared);
    shared.wait_triggered().await;
    let started = shared.triggered_at().unwrap_or_else(Instant::now);
    let deadline = later(started, shared.config.grace);
    let mut run = Run {
        inner: &inner,
        started,
        deadline,
        phases: vec![(Phase::Draining, Duration::ZERO)],
        hooks: Vec::new(),
    };

    let mut end = run.run_hooks(Phase::Draining, deadline, true).await;
    if end == End::Done {
        end = run
            .bounded(shared.wait_drained(), deadline, true, Phase::Draining)
            .await;
    }
    if end == End::Done {
        run.enter(Phase::Cancelling);
        end = run.run_hooks(Phase::Cancelling, deadline, true).await;
        // Newest open scope first; re-read each time so a scope born meanwhile is not missed.
        while end == End::Done {
            let next = inner.scopes().into_iter().rev().find(|s| !s.is_closed());
            let Some(scope) = next else { break };
            scope.cancel();
            end = run
                .bounded(scope.idle(), deadline, true, Phase::Cancelling)
                .await;
        }
    }
    let deadline_hit = end == End::Deadline;
    let forced = end == End::Forced || shared.core.is_forced();
    if end != End::Done {
        run.enter(Phase::Aborting);
        // Until none is left: a task of a scope not aborted yet may create a child scope (and
        // spawn into it) meanwhile, after the list was read. Ends, since a scope can only be
        // created inside an open one and every abort closes one.
        loop {
            let open: Vec<_> = inner
                .scopes()
                .into_iter()
                .filter(|scope| !scope.is_aborted())
                .collect();
            if open.is_empty() {
                break;
            }
            open.iter().for_each(|scope| scope.abort_all());
        }
        let bound = later(Instant::now(), shared.config.abort_timeout);
        run.run_hooks(Phase::Aborting, bound, false).await;
    }
    run.enter(Phase::Done);
    let bound = later(Instant::now(), shared.config.abort_timeout);
    run.run_hooks(Phase::Done, bound.max(deadline), false).await;

    let mut tasks = Vec::new();
    let mut completed_before_trigger = 0;
    let mut records_dropped = 0;
    for scope in inner.scopes() {
        let (lines, completed, dropped) = scope.take_records();
        tasks.extend(lines);
        completed_before_trigger += completed;
        records_dropped += dropped;
    }
    ShutdownReport {
        reason: shared
            .core
            .reason()
            .unwrap_or_else(|| crate::Reason::requested("unknown")),
        elapsed: Instant::now().saturating_duration_since(started),
        phases: run.phases,
        deadline_hit,
        forced,
        tasks,
        hooks: run.hooks,
        main: None,
        guards_outstanding: shared.core.live_guards(),
        completed_before_trigger,
        records_dropped,
    }
}
