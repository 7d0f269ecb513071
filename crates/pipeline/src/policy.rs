//! The vocabulary users configure a run with: error policies and cancellation modes.

use std::fmt;

use tokio::sync::mpsc;

/// What a fallible stage ([`Pipeline::try_map`](crate::Pipeline::try_map)) does with an item whose
/// function returned `Err`.
///
/// Every failed item is counted in the stage's `errors` in the [`PipelineReport`](crate::PipelineReport)
/// (with the last error's text in `last_error`), whatever the policy: nothing is dropped silently.
pub enum ErrorPolicy<T, E> {
    /// Stop the whole pipeline (as [`CancelMode::Abort`]) and return the error from the sink.
    FailFast,
    /// Drop the item, count it, keep going.
    Skip,
    /// Send the item and its error to this channel, count it, keep going. The send waits when the
    /// channel is full (backpressure); if its receiver is gone the run fails with
    /// [`PipelineErrorKind::DeadLetterClosed`](crate::PipelineErrorKind::DeadLetterClosed).
    DeadLetter(mpsc::Sender<Failed<T, E>>),
}

impl<T, E> fmt::Debug for ErrorPolicy<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::FailFast => "FailFast",
            Self::Skip => "Skip",
            Self::DeadLetter(_) => "DeadLetter(..)",
        })
    }
}

/// An item a stage failed on, with its error, as sent to an [`ErrorPolicy::DeadLetter`] channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed<T, E> {
    /// The item as it entered the stage.
    pub item: T,
    /// The error the stage returned for it.
    pub error: E,
    /// The stage's name.
    pub stage: String,
}

/// How a run reacts when its [`CancellationToken`](tokio_util::sync::CancellationToken) fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelMode {
    /// Stop taking items from the source; every item already inside finishes every stage and
    /// reaches the sink. Nothing is dropped.
    Drain,
    /// Stop every stage now. Items inside are dropped and counted per stage in `dropped`.
    Abort,
}
