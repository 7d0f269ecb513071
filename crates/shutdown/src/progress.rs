//! The periodic "still waiting for ..." line.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::phase::Phase;

/// A task still running while shutdown waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningTask {
    /// The scope path.
    pub scope: String,
    /// The task's name.
    pub name: Cow<'static, str>,
    /// Time since it was spawned.
    pub running_for: Duration,
}

/// How many running tasks the one-line `Display` names (the `running` field has them all).
const SHOWN: usize = 10;

/// A snapshot handed to the progress hook every `progress_interval` while shutdown waits.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// The phase shutdown is in.
    pub phase: Phase,
    /// Time since the trigger.
    pub since_trigger: Duration,
    /// Time left until the deadline (zero once it passed).
    pub until_deadline: Duration,
    /// Live guards.
    pub guards: usize,
    /// Every task still running, oldest first within each scope. `Display` names the first 10.
    pub running: Vec<RunningTask>,
}

impl fmt::Display for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "shutdown {} for {:.1}s ({:.1}s to the deadline): {} guard(s), {} task(s) running",
            self.phase,
            self.since_trigger.as_secs_f64(),
            self.until_deadline.as_secs_f64(),
            self.guards,
            self.running.len()
        )?;
        for (i, task) in self.running.iter().take(SHOWN).enumerate() {
            f.write_str(if i == 0 { ": " } else { ", " })?;
            write!(
                f,
                "{}/{} ({:.1}s)",
                task.scope,
                task.name,
                task.running_for.as_secs_f64()
            )?;
        }
        if self.running.len() > SHOWN {
            write!(f, " and {} more", self.running.len() - SHOWN)?;
        }
        Ok(())
    }
}

/// Where progress lines go. The default writes them to stderr with `eprintln!`.
pub(crate) type ProgressHook = Arc<dyn Fn(&Progress) + Send + Sync>;

pub(crate) fn stderr_hook() -> ProgressHook {
    Arc::new(|progress: &Progress| eprintln!("{progress}"))
}

/// Where one-off notices go ("received SIGTERM ..."). The default writes them to stderr.
pub(crate) type NoticeHook = Arc<dyn Fn(&str) + Send + Sync>;

pub(crate) fn stderr_notice() -> NoticeHook {
    Arc::new(|line: &str| eprintln!("shutdown: {line}"))
}
