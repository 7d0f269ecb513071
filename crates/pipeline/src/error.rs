//! What can stop a pipeline run, and the error it returns.

use std::any::Any;
use std::error::Error;
use std::fmt;

use crate::report::PipelineReport;

/// A boxed error from a fallible stage, as kept by [`ErrorPolicy::FailFast`](crate::ErrorPolicy::FailFast).
pub type BoxError = Box<dyn Error + Send + Sync + 'static>;

/// A setting that makes no sense, found when the pipeline is started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigProblem {
    /// A concurrency of `0` would never run anything.
    ZeroConcurrency,
    /// A `buffer(0)` would never let an item through.
    ZeroCapacity,
    /// A `batch(0, _)` would never fill a batch.
    ZeroBatchSize,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ZeroConcurrency => "concurrency is 0; use at least 1",
            Self::ZeroCapacity => "buffer capacity is 0; use at least 1",
            Self::ZeroBatchSize => "batch size is 0; use at least 1",
        })
    }
}

/// Why a pipeline run failed. The stage is named by its [`name`](crate::Pipeline::name) (or its
/// default name, e.g. `map#2`).
#[derive(Debug)]
#[non_exhaustive]
pub enum PipelineErrorKind {
    /// A fallible stage under [`ErrorPolicy::FailFast`](crate::ErrorPolicy::FailFast) returned an error.
    StageFailed {
        /// The stage's name.
        stage: String,
        /// The error the stage returned.
        source: BoxError,
    },
    /// User code in a stage (or in the source or sink) panicked.
    StagePanicked {
        /// The stage's name.
        stage: String,
        /// The panic payload, if it was a string.
        message: String,
    },
    /// The receiver of a [`ErrorPolicy::DeadLetter`](crate::ErrorPolicy::DeadLetter) channel was
    /// dropped, so a failed item could not be handed over (it is counted as an error and the run
    /// stops rather than lose it silently).
    DeadLetterClosed {
        /// The stage's name.
        stage: String,
    },
    /// The receiver behind [`Pipeline::run_into`](crate::Pipeline::run_into) was dropped.
    SinkClosed,
    /// A stage was configured with a value that cannot work.
    InvalidConfig {
        /// The stage's name.
        stage: String,
        /// What is wrong.
        problem: ConfigProblem,
    },
    /// The pipeline was started outside a tokio runtime; stages are tokio tasks.
    NoRuntime,
}

impl PipelineErrorKind {
    /// The stage the failure happened in, if it is tied to one.
    #[must_use]
    pub fn stage(&self) -> Option<&str> {
        match self {
            Self::StageFailed { stage, .. }
            | Self::StagePanicked { stage, .. }
            | Self::DeadLetterClosed { stage }
            | Self::InvalidConfig { stage, .. } => Some(stage),
            Self::SinkClosed | Self::NoRuntime => None,
        }
    }
}

impl fmt::Display for PipelineErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::StageFailed { stage, source } => write!(f, "stage `{stage}` failed: {source}"),
            Self::StagePanicked { stage, message } => {
                write!(f, "stage `{stage}` panicked: {message}")
            }
            Self::DeadLetterClosed { stage } => write!(
                f,
                "stage `{stage}`: the dead-letter receiver was dropped; keep it alive for the whole run"
            ),
            Self::SinkClosed => {
                f.write_str("the sink's receiver was dropped before the pipeline finished")
            }
            Self::InvalidConfig { stage, problem } => write!(f, "stage `{stage}`: {problem}"),
            Self::NoRuntime => f.write_str(
                "a pipeline runs its stages as tokio tasks; start it inside a tokio runtime",
            ),
        }
    }
}

/// A failed run: what went wrong, and the [`PipelineReport`] of everything up to then.
///
/// The report still balances: the failed item is counted in its stage's `errors`, everything
/// else that was inside is counted in `dropped`.
pub struct PipelineError {
    kind: PipelineErrorKind,
    report: Box<PipelineReport>,
}

impl PipelineError {
    pub(crate) fn new(kind: PipelineErrorKind, report: PipelineReport) -> Self {
        Self {
            kind,
            report: Box::new(report),
        }
    }

    /// What went wrong.
    #[must_use]
    pub fn kind(&self) -> &PipelineErrorKind {
        &self.kind
    }

    /// The stage it went wrong in, if any.
    #[must_use]
    pub fn stage(&self) -> Option<&str> {
        self.kind.stage()
    }

    /// The report of the run up to the failure.
    #[must_use]
    pub fn report(&self) -> &PipelineReport {
        &self.report
    }

    pub(crate) fn report_mut(&mut self) -> &mut PipelineReport {
        &mut self.report
    }

    /// Splits into the cause and the report.
    #[must_use]
    pub fn into_parts(self) -> (PipelineErrorKind, PipelineReport) {
        (self.kind, *self.report)
    }
}

impl fmt::Debug for PipelineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipelineError")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for PipelineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.kind, f)
    }
}

impl Error for PipelineError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match &self.kind {
            PipelineErrorKind::StageFailed { source, .. } => Some(&**source),
            _ => None,
        }
    }
}

/// The text of a panic payload.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}
