//! What can go wrong with one item, and with a whole run.

use std::any::Any;
use std::fmt;
use std::time::Duration;

/// Why one item did not produce a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemError<E> {
    /// The job returned this error.
    Failed(E),
    /// The job panicked (while being created, polled or dropped); the panic message.
    Panicked(String),
    /// The job did not finish within the configured
    /// [`item_timeout`](crate::FanOut::item_timeout).
    TimedOut(Duration),
    /// The job had started but the run stopped before it finished (fail-fast, deadline or
    /// cancellation). Only streams and `for_each` report this; `run` lists such items in
    /// [`FanOutError::unfinished`].
    Cancelled(Stop),
}

impl<E> ItemError<E> {
    /// The job's own error, if that is what this is.
    pub fn into_failed(self) -> Option<E> {
        match self {
            Self::Failed(e) => Some(e),
            _ => None,
        }
    }
}

impl<E: fmt::Display> fmt::Display for ItemError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Failed(e) => write!(f, "failed: {e}"),
            Self::Panicked(msg) => write!(f, "panicked: {msg}"),
            Self::TimedOut(d) => write!(
                f,
                "timed out after {d:?} (raise FanOut::item_timeout if the job needs longer)"
            ),
            Self::Cancelled(stop) => write!(f, "cancelled before finishing: {stop}"),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for ItemError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Failed(e) => Some(e),
            _ => None,
        }
    }
}

/// Why a run stopped before every input was processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// [`ErrorPolicy::FailFast`](crate::ErrorPolicy::FailFast): the item with this index failed.
    FailFast {
        /// The input index of the first failure.
        index: usize,
    },
    /// The [`deadline`](crate::FanOut::deadline) passed.
    Deadline,
    /// The [`cancel_on`](crate::FanOut::cancel_on) token was cancelled.
    Cancelled,
    /// [`spawned`](crate::FanOut::spawned) mode was used outside a tokio runtime.
    NoRuntime,
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::FailFast { index } => write!(f, "fail-fast after item {index} failed"),
            Self::Deadline => f.write_str("the deadline passed"),
            Self::Cancelled => f.write_str("the cancellation token was cancelled"),
            Self::NoRuntime => f.write_str(
                "spawned mode needs a tokio runtime; call it inside one or use in-task mode",
            ),
        }
    }
}

/// A run that did not succeed completely: everything that is known about every input.
///
/// Nothing is lost: each pulled input is in exactly one of `completed`, `failures` or
/// `unfinished`; inputs at index `pulled` and above were never taken from the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FanOutError<E, R> {
    /// Why the run stopped early, or `None` if it ran to the end with failures
    /// ([`ErrorPolicy::CollectAll`](crate::ErrorPolicy::CollectAll)).
    pub stop: Option<Stop>,
    /// Every failed item with its input index, in index order.
    pub failures: Vec<(usize, ItemError<E>)>,
    /// Every result that did complete, with its input index, in index order.
    pub completed: Vec<(usize, R)>,
    /// Items that had started but were cancelled when the run stopped, in index order.
    pub unfinished: Vec<usize>,
    /// How many inputs were taken from the source (indices `0..pulled`).
    pub pulled: usize,
}

impl<E: fmt::Display, R> fmt::Display for FanOutError<E, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.stop {
            Some(stop) => write!(
                f,
                "fan-out stopped: {stop}; {} completed, {} failed, {} unfinished of {} started",
                self.completed.len(),
                self.failures.len(),
                self.unfinished.len(),
                self.pulled
            )?,
            None => write!(f, "{} of {} items failed", self.failures.len(), self.pulled)?,
        }
        if let Some((index, err)) = self.failures.first() {
            write!(f, " (first: item {index} {err})")?;
        }
        Ok(())
    }
}

impl<E: fmt::Debug + fmt::Display, R: fmt::Debug> std::error::Error for FanOutError<E, R> {}

/// The message of a caught panic payload.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}
