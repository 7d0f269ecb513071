//! What happened during a shutdown: one line per task, the reason, and an exit code.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use crate::phase::Phase;
use crate::reason::Reason;

/// How a task (or hook, or the main future) ended.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// It returned `()` or `Ok(_)`.
    Completed,
    /// It returned `Err(e)`; this is `e`'s `Display` text.
    Failed(String),
    /// It panicked; this is the panic message.
    Panicked(String),
    /// It was still running at the deadline (or when shutdown was forced) and was aborted.
    Aborted,
    /// The main future of [`run_until_shutdown`](crate::Shutdown::run_until_shutdown) was
    /// dropped when draining began (intake stops there).
    Cancelled,
}

impl Outcome {
    /// `Failed` or `Panicked`.
    #[must_use]
    pub fn is_failure(&self) -> bool {
        matches!(self, Outcome::Failed(_) | Outcome::Panicked(_))
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Completed => f.write_str("completed"),
            Outcome::Failed(e) => write!(f, "failed: {e}"),
            Outcome::Panicked(m) => write!(f, "panicked: {m}"),
            Outcome::Aborted => f.write_str("timed out, aborted"),
            Outcome::Cancelled => f.write_str("cancelled"),
        }
    }
}

/// What a task's future may return: `()`, or `Result<T, E>` with a displayable error.
pub trait TaskOutput {
    /// Turn the value into an [`Outcome`].
    fn into_outcome(self) -> Outcome;
}

impl TaskOutput for () {
    fn into_outcome(self) -> Outcome {
        Outcome::Completed
    }
}

impl<T, E: fmt::Display> TaskOutput for Result<T, E> {
    fn into_outcome(self) -> Outcome {
        match self {
            Ok(_) => Outcome::Completed,
            Err(e) => Outcome::Failed(e.to_string()),
        }
    }
}

/// One task's line in the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskReport {
    /// The name given to `spawn` (or to `on_phase`).
    pub name: Cow<'static, str>,
    /// The scope path, `root` or `root/http/...`.
    pub scope: String,
    /// How it ended.
    pub outcome: Outcome,
    /// From spawn to its end (or to its abort).
    pub elapsed: Duration,
}

impl fmt::Display for TaskReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}: {} after {:.3}s",
            self.scope,
            self.name,
            self.outcome,
            self.elapsed.as_secs_f64()
        )
    }
}

/// A phase hook's line in the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookReport {
    /// The phase it ran in.
    pub phase: Phase,
    /// The name given to `on_phase`.
    pub name: Cow<'static, str>,
    /// How it ended (`Aborted` if it outlived its budget).
    pub outcome: Outcome,
    /// How long it ran.
    pub elapsed: Duration,
}

/// The result of a shutdown, returned by [`Shutdown::wait`](crate::Shutdown::wait).
///
/// `tasks` holds every task that was running when shutdown was triggered or started after,
/// plus tasks that failed or panicked earlier (up to a bound per scope; `records_dropped`
/// counts the rest). Tasks that completed normally before the trigger are only counted, in
/// `completed_before_trigger`, so a long-running service's memory stays bounded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Why shutdown happened.
    pub reason: Reason,
    /// Each phase entered, with its time since the trigger.
    pub phases: Vec<(Phase, Duration)>,
    /// From the trigger to `Done`.
    pub elapsed: Duration,
    /// True when the grace period ran out before everything finished.
    pub deadline_hit: bool,
    /// True when a repeated signal (or [`Shutdown::force`](crate::Shutdown::force)) skipped to `Aborting`.
    pub forced: bool,
    /// Task lines, in the order they ended.
    pub tasks: Vec<TaskReport>,
    /// Phase hook lines, in the order they ran.
    pub hooks: Vec<HookReport>,
    /// The main future, for [`run_until_shutdown`](crate::Shutdown::run_until_shutdown).
    pub main: Option<TaskReport>,
    /// Guards still alive at `Done` (their owners ignored the deadline).
    pub guards_outstanding: usize,
    /// Tasks that completed normally before the trigger (counted, not listed).
    pub completed_before_trigger: u64,
    /// Failure lines from before the trigger that did not fit the per-scope bound.
    pub records_dropped: u64,
}

impl ShutdownReport {
    /// Tasks aborted at the deadline: the ones that held the shutdown up.
    pub fn stragglers(&self) -> impl Iterator<Item = &TaskReport> {
        self.tasks.iter().filter(|t| t.outcome == Outcome::Aborted)
    }

    /// Tasks that returned an error or panicked.
    pub fn failures(&self) -> impl Iterator<Item = &TaskReport> {
        self.tasks.iter().filter(|t| t.outcome.is_failure())
    }

    /// The task line for `name` (the first, if several tasks share it).
    #[must_use]
    pub fn task(&self, name: &str) -> Option<&TaskReport> {
        self.tasks.iter().find(|t| t.name == name)
    }

    /// True when nothing failed, nothing was aborted and no guard outlived the shutdown.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.exit_code() == 0
    }

    /// The process exit code this shutdown maps to:
    ///
    /// | code | when (first match wins) |
    /// |---|---|
    /// | 130 | forced by a repeated signal or [`Shutdown::force`](crate::Shutdown::force) |
    /// | 1 | a task, hook or the main future failed or panicked, or the reason is `TaskFailed` |
    /// | 124 | the deadline passed: tasks were aborted, hooks cut short or guards left alive |
    /// | 0 | clean |
    #[must_use]
    pub fn exit_code(&self) -> i32 {
        let failed = matches!(self.reason, Reason::TaskFailed { .. })
            || self.tasks.iter().any(|t| t.outcome.is_failure())
            || self.hooks.iter().any(|h| h.outcome.is_failure())
            || self.main.as_ref().is_some_and(|m| m.outcome.is_failure());
        let cut_short = self.deadline_hit
            || self.guards_outstanding > 0
            || self.stragglers().next().is_some()
            || self.hooks.iter().any(|h| h.outcome == Outcome::Aborted);
        if self.forced {
            130
        } else if failed {
            1
        } else if cut_short {
            124
        } else {
            0
        }
    }

    /// [`exit_code`](Self::exit_code) as a [`std::process::ExitCode`], for `fn main() -> ExitCode`.
    #[must_use]
    pub fn process_exit_code(&self) -> std::process::ExitCode {
        // Every code in the table fits in a byte.
        std::process::ExitCode::from(u8::try_from(self.exit_code()).unwrap_or(1))
    }
}

impl fmt::Display for ShutdownReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "shutdown ({}) in {:.3}s, exit code {}",
            self.reason,
            self.elapsed.as_secs_f64(),
            self.exit_code()
        )?;
        for (phase, at) in &self.phases {
            writeln!(f, "  phase {phase} at +{:.3}s", at.as_secs_f64())?;
        }
        if let Some(main) = &self.main {
            writeln!(f, "  main: {main}")?;
        }
        for task in &self.tasks {
            writeln!(f, "  task {task}")?;
        }
        for hook in &self.hooks {
            writeln!(
                f,
                "  hook {}/{}: {} after {:.3}s",
                hook.phase,
                hook.name,
                hook.outcome,
                hook.elapsed.as_secs_f64()
            )?;
        }
        if self.guards_outstanding > 0 {
            writeln!(f, "  {} guard(s) still alive", self.guards_outstanding)?;
        }
        write!(
            f,
            "  {} task(s) completed before the trigger",
            self.completed_before_trigger
        )?;
        if self.records_dropped > 0 {
            write!(
                f,
                ", {} early failure line(s) dropped",
                self.records_dropped
            )?;
        }
        Ok(())
    }
}
