//! Typed errors.

use std::borrow::Cow;
use std::fmt;
use std::io;

use crate::phase::Phase;
use crate::reason::SignalKind;

/// Why [`ShutdownBuilder::build`](crate::ShutdownBuilder::build) failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum BuildError {
    /// Signal handling needs a Tokio runtime; `build` was called outside one.
    NoRuntime,
    /// This platform has no such signal (a Windows console event on Unix, or the reverse).
    UnsupportedSignal(SignalKind),
    /// The operating system refused to install the handler.
    Signal {
        /// The signal that could not be registered.
        kind: SignalKind,
        /// The error the operating system returned.
        source: io::Error,
    },
    /// The grace period was zero: every task would be aborted at once.
    ZeroGrace,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::NoRuntime => f.write_str(
                "signal handlers need a Tokio runtime: call build() inside #[tokio::main] or Runtime::block_on, or use Signals::none()",
            ),
            BuildError::UnsupportedSignal(kind) => {
                write!(f, "{kind} does not exist on this platform; remove it from Signals")
            }
            BuildError::Signal { kind, source } => {
                write!(f, "could not install a handler for {kind}: {source}")
            }
            BuildError::ZeroGrace => f.write_str(
                "the grace period is zero, so every task would be aborted at once; give it at least a few milliseconds",
            ),
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BuildError::Signal { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Why a task, scope or hook was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SpawnError {
    /// The scope was already cancelled by the shutdown; nothing new may start in it.
    ScopeClosed {
        /// The scope's path.
        scope: String,
        /// The shutdown's phase at the time.
        phase: Phase,
    },
    /// Spawning needs a Tokio runtime and none is running on this thread.
    NoRuntime,
    /// A phase hook was registered for a phase that has no hooks (`Running`) or has already begun.
    PhasePassed(Phase),
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpawnError::ScopeClosed { scope, phase } => write!(
                f,
                "scope {scope} is closed (shutdown is {phase}); nothing new may start in it"
            ),
            SpawnError::NoRuntime => {
                f.write_str("no Tokio runtime on this thread: spawn from inside the runtime")
            }
            SpawnError::PhasePassed(phase) => write!(
                f,
                "cannot add a hook for phase {phase}: it has no hooks or has already begun"
            ),
        }
    }
}

impl std::error::Error for SpawnError {}

/// Why [`Shutdown::guard`](crate::Shutdown::guard) refused a guard.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GuardError {
    /// Shutdown has started: new work must not begin. Reject the request (e.g. HTTP 503).
    ShuttingDown {
        /// The guard's name.
        name: Cow<'static, str>,
        /// The phase at the time.
        phase: Phase,
    },
    /// More guards than the counter can hold are alive (about `usize::MAX / 8`).
    TooMany,
}

impl fmt::Display for GuardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GuardError::ShuttingDown { name, phase } => write!(
                f,
                "guard {name} refused: shutdown is {phase}; reject new work (for example with HTTP 503)"
            ),
            GuardError::TooMany => f.write_str("too many live guards; one is probably leaked"),
        }
    }
}

impl std::error::Error for GuardError {}
