//! The phases of a shutdown, in the only order they can happen.

use std::fmt;

/// Where a [`Shutdown`](crate::Shutdown) is. Phases only ever move forward; a phase may be
/// skipped (a second signal jumps from `Draining` straight to `Aborting`), never revisited.
///
/// | phase | what happens |
/// |---|---|
/// | `Running` | normal operation; guards and tasks are accepted |
/// | `Draining` | readiness is false, new guards are refused, live guards are awaited |
/// | `Cancelling` | scopes are signalled newest first; each scope's tasks are awaited |
/// | `Aborting` | the deadline passed (or a second signal came): remaining tasks are aborted |
/// | `Done` | the report is final |
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Phase {
    /// Normal operation.
    Running = 0,
    /// Shutdown was triggered: readiness is false, intake stopped, guards are awaited.
    Draining = 1,
    /// Tasks are being signalled scope by scope, newest scope first.
    Cancelling = 2,
    /// The deadline passed or shutdown was forced: remaining tasks are aborted.
    Aborting = 3,
    /// Shutdown finished; the report is final.
    Done = 4,
}

impl Phase {
    /// All phases in order.
    pub const ALL: [Phase; 5] = [
        Phase::Running,
        Phase::Draining,
        Phase::Cancelling,
        Phase::Aborting,
        Phase::Done,
    ];

    pub(crate) const fn from_bits(bits: usize) -> Phase {
        match bits {
            0 => Phase::Running,
            1 => Phase::Draining,
            2 => Phase::Cancelling,
            3 => Phase::Aborting,
            _ => Phase::Done,
        }
    }

    /// The phase's name, as used in log lines and the report.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Phase::Running => "running",
            Phase::Draining => "draining",
            Phase::Cancelling => "cancelling",
            Phase::Aborting => "aborting",
            Phase::Done => "done",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
