//! Why a shutdown happened.

use std::borrow::Cow;
use std::fmt;

/// An operating-system signal (or Windows console event) that shutdown listens for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SignalKind {
    /// `SIGINT` (Ctrl-C in a terminal). Unix only.
    Interrupt,
    /// `SIGTERM` (what Kubernetes, systemd and `docker stop` send). Unix only.
    Terminate,
    /// `SIGHUP`. Unix only.
    Hangup,
    /// `SIGQUIT`. Unix only.
    Quit,
    /// `CTRL_C_EVENT`. Windows only.
    CtrlC,
    /// `CTRL_BREAK_EVENT`. Windows only.
    CtrlBreak,
    /// `CTRL_CLOSE_EVENT`: Windows kills the process about 5 seconds after it. Windows only.
    CtrlClose,
    /// `CTRL_SHUTDOWN_EVENT`. Windows only.
    CtrlShutdown,
}

impl SignalKind {
    /// The conventional name (`SIGTERM`, `CTRL_C`, ...).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            SignalKind::Interrupt => "SIGINT",
            SignalKind::Terminate => "SIGTERM",
            SignalKind::Hangup => "SIGHUP",
            SignalKind::Quit => "SIGQUIT",
            SignalKind::CtrlC => "CTRL_C",
            SignalKind::CtrlBreak => "CTRL_BREAK",
            SignalKind::CtrlClose => "CTRL_CLOSE",
            SignalKind::CtrlShutdown => "CTRL_SHUTDOWN",
        }
    }
}

impl fmt::Display for SignalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why shutdown was triggered. Set once, by whoever triggered first; readable by every task
/// through [`ShutdownSignal::reason`](crate::ShutdownSignal::reason).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// An operating-system signal arrived.
    Signal(SignalKind),
    /// [`Shutdown::trigger`](crate::Shutdown::trigger) was called with this explanation.
    Requested(Cow<'static, str>),
    /// A task failed or panicked and the failure policy says that ends the service.
    TaskFailed {
        /// The task's name.
        name: Cow<'static, str>,
        /// Its scope path (`root/http`).
        scope: String,
        /// The error's `Display` text or the panic message.
        message: String,
    },
    /// A timer set with [`Shutdown::trigger_after`](crate::Shutdown::trigger_after) fired.
    Deadline,
    /// The main future given to [`Shutdown::run_until_shutdown`](crate::Shutdown::run_until_shutdown) returned.
    MainFinished,
}

impl Reason {
    /// A [`Reason::Requested`] with the given explanation.
    pub fn requested(why: impl Into<Cow<'static, str>>) -> Reason {
        Reason::Requested(why.into())
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Signal(kind) => write!(f, "received {kind}"),
            Reason::Requested(why) => write!(f, "requested: {why}"),
            Reason::TaskFailed {
                name,
                scope,
                message,
            } => write!(f, "task {scope}/{name} failed: {message}"),
            Reason::Deadline => f.write_str("the run deadline passed"),
            Reason::MainFinished => f.write_str("the main future returned"),
        }
    }
}
