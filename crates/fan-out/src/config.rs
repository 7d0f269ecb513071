//! The knobs of a fan-out, shared by every mode.

use std::num::NonZeroUsize;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// What a failed item (error, panic or timeout) does to the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ErrorPolicy {
    /// Stop at the first failure: cancel every outstanding item, start no more, and return
    /// the failure together with whatever completed. The default.
    #[default]
    FailFast,
    /// Run every item; report every failure with its index at the end.
    CollectAll,
    /// Drop failed items from the results and keep going. `run` then returns only the
    /// successes (in order); streams do not yield the failures.
    Skip,
}

/// Everything the builder collects.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) limit: NonZeroUsize,
    pub(crate) ordered: bool,
    pub(crate) policy: ErrorPolicy,
    pub(crate) item_timeout: Option<Duration>,
    pub(crate) deadline: Option<Instant>,
    pub(crate) cancel: Option<CancellationToken>,
}

impl Settings {
    pub(crate) fn new(limit: NonZeroUsize) -> Self {
        Self {
            limit,
            ordered: true,
            policy: ErrorPolicy::FailFast,
            item_timeout: None,
            deadline: None,
            cancel: None,
        }
    }

    /// Whether time must be read (then a tokio runtime with its timer is needed).
    pub(crate) fn uses_timer(&self) -> bool {
        self.item_timeout.is_some() || self.deadline.is_some()
    }
}
