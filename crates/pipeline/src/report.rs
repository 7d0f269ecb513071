//! The per-stage report every run produces.

use std::fmt;
use std::time::Duration;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// Still running (a live snapshot from [`PipelineStream::report`](crate::PipelineStream::report)).
    Running,
    /// The source ran dry and every item went through.
    Completed,
    /// Cancelled in [`CancelMode::Drain`](crate::CancelMode::Drain): the source stopped early,
    /// everything already inside went through.
    Drained,
    /// Cancelled in [`CancelMode::Abort`](crate::CancelMode::Abort) (or the consumer stopped
    /// early): items inside were dropped and counted.
    Aborted,
    /// A stage failed; see the [`PipelineError`](crate::PipelineError).
    Failed,
}

/// Counters and timings of one stage.
///
/// The accounting invariant, checked by [`is_balanced`](Self::is_balanced) once a run is over:
/// `items_in == items_out + filtered + errors + dropped`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StageReport {
    /// The stage's name (`.name("...")`, or its kind and position such as `map#2`).
    pub name: String,
    /// What kind of stage it is (`source`, `map`, `filter`, `batch`, `sink`, ...).
    pub kind: &'static str,
    /// Items the stage received (for the source: items it took from its input).
    pub items_in: u64,
    /// Input items the stage finished and handed on (for `batch`, items inside emitted batches;
    /// for `flat_map`, items all of whose outputs were handed on; for the sink, items delivered).
    pub items_out: u64,
    /// Output items handed to the next stage (batches for `batch`, outputs for `flat_map`).
    pub emitted: u64,
    /// Items a `filter`/`filter_map` rejected.
    pub filtered: u64,
    /// Items that failed (error or panic), under any [`ErrorPolicy`](crate::ErrorPolicy).
    pub errors: u64,
    /// Items dropped by an abort or a failure elsewhere, counted where they were.
    pub dropped: u64,
    /// Time the stage worked (alive, minus `idle`, minus `blocked`).
    pub busy: Duration,
    /// Time the stage waited for the next stage to make room: a large value means the
    /// bottleneck is downstream.
    pub blocked: Duration,
    /// Time the stage waited for input with nothing to do.
    pub idle: Duration,
    /// The text of the last error counted in `errors`, if any.
    pub last_error: Option<String>,
}

impl StageReport {
    /// `true` if `items_in == items_out + filtered + errors + dropped` (always so once a run is over).
    #[must_use]
    pub fn is_balanced(&self) -> bool {
        self.items_in == self.items_out + self.filtered + self.errors + self.dropped
    }

    /// Items inside the stage right now (0 once a run is over).
    #[must_use]
    pub fn in_flight(&self) -> u64 {
        self.items_in
            .saturating_sub(self.items_out + self.filtered + self.errors + self.dropped)
    }
}

/// The report of a run: one [`StageReport`] per stage, source first, sink last.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PipelineReport {
    /// Every stage in order, from the source to the sink.
    pub stages: Vec<StageReport>,
    /// Time from start to the end of the run (or to now, while running).
    pub elapsed: Duration,
    /// How the run ended.
    pub outcome: Outcome,
}

impl PipelineReport {
    /// The stage with this name.
    #[must_use]
    pub fn stage(&self, name: &str) -> Option<&StageReport> {
        self.stages.iter().find(|s| s.name == name)
    }

    /// The stage that worked the longest (the one to give more concurrency), excluding the
    /// source and the sink.
    #[must_use]
    pub fn bottleneck(&self) -> Option<&StageReport> {
        let inner = self.stages.len().saturating_sub(1);
        self.stages.get(1..inner)?.iter().max_by_key(|s| s.busy)
    }

    /// `true` if every stage [`is_balanced`](StageReport::is_balanced).
    #[must_use]
    pub fn is_balanced(&self) -> bool {
        self.stages.iter().all(StageReport::is_balanced)
    }

    /// Items the sink delivered.
    #[must_use]
    pub fn delivered(&self) -> u64 {
        self.stages.last().map_or(0, |s| s.items_out)
    }

    /// Items the source took in.
    #[must_use]
    pub fn admitted(&self) -> u64 {
        self.stages.first().map_or(0, |s| s.items_in)
    }

    /// Items dropped, over all stages.
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.stages.iter().map(|s| s.dropped).sum()
    }

    /// Items that failed, over all stages.
    #[must_use]
    pub fn errors(&self) -> u64 {
        self.stages.iter().map(|s| s.errors).sum()
    }

    /// Items filtered out, over all stages.
    #[must_use]
    pub fn filtered(&self) -> u64 {
        self.stages.iter().map(|s| s.filtered).sum()
    }
}

impl fmt::Display for PipelineReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "pipeline {:?} in {:?}", self.outcome, self.elapsed)?;
        writeln!(
            f,
            "{:<16} {:>10} {:>10} {:>10} {:>9} {:>7} {:>8} {:>12} {:>12} {:>12}",
            "stage",
            "in",
            "out",
            "emitted",
            "filtered",
            "errors",
            "dropped",
            "busy",
            "blocked",
            "idle"
        )?;
        for s in &self.stages {
            writeln!(
                f,
                "{:<16} {:>10} {:>10} {:>10} {:>9} {:>7} {:>8} {:>12} {:>12} {:>12}",
                s.name,
                s.items_in,
                s.items_out,
                s.emitted,
                s.filtered,
                s.errors,
                s.dropped,
                format!("{:.1?}", s.busy),
                format!("{:.1?}", s.blocked),
                format!("{:.1?}", s.idle)
            )?;
        }
        Ok(())
    }
}
