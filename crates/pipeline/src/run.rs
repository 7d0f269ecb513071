//! Starting the stage tasks of one run, stopping them, and collecting the outcome.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::runtime::Handle;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::error::{PipelineError, PipelineErrorKind, panic_message};
use crate::handoff::BatchQueue;
use crate::metrics::StageMetrics;
use crate::policy::CancelMode;
use crate::report::{Outcome, PipelineReport};

/// What every stage of a run shares.
#[derive(Debug)]
pub(crate) struct Ctrl {
    /// Stop now: fired by `CancelMode::Abort`, a failure, or the consumer going away.
    pub(crate) abort: CancellationToken,
    /// Stop the source only (`CancelMode::Drain`).
    pub(crate) drain: Option<CancellationToken>,
    /// Set by the source when it stopped early because of `drain`.
    pub(crate) drained: AtomicBool,
    failure: Mutex<Option<PipelineErrorKind>>,
}

impl Ctrl {
    /// Records the first failure and stops the run.
    pub(crate) fn fail(&self, kind: PipelineErrorKind) {
        if let Ok(mut slot) = self.failure.lock() {
            slot.get_or_insert(kind);
        }
        self.abort.cancel();
    }

    pub(crate) fn is_aborted(&self) -> bool {
        self.abort.is_cancelled()
    }

    fn take_failure(&self) -> Option<PipelineErrorKind> {
        self.failure.lock().ok().and_then(|mut f| f.take())
    }
}

/// What a stage task gets: the run's control and its own counters.
#[derive(Clone, Debug)]
pub(crate) struct StageCtx {
    pub(crate) ctrl: Arc<Ctrl>,
    pub(crate) metrics: Arc<StageMetrics>,
}

impl StageCtx {
    pub(crate) fn panicked(&self, payload: &(dyn std::any::Any + Send)) {
        let message = panic_message(payload);
        self.metrics.add_error(|| format!("panic: {message}"));
        self.ctrl.fail(PipelineErrorKind::StagePanicked {
            stage: self.metrics.name().to_owned(),
            message,
        });
    }
}

/// Builds a run: each stage's launch step registers its task here.
pub(crate) struct Launcher {
    pub(crate) ctrl: Arc<Ctrl>,
    metrics: Vec<Arc<StageMetrics>>,
    capacities: Vec<usize>,
    handles: Vec<(usize, JoinHandle<()>)>,
    runtime: Handle,
}

impl Launcher {
    pub(crate) fn ctx(&self, stage: usize) -> StageCtx {
        StageCtx {
            ctrl: Arc::clone(&self.ctrl),
            metrics: Arc::clone(&self.metrics[stage]),
        }
    }

    /// A fresh output queue for `stage`.
    pub(crate) fn queue<T>(&self, stage: usize) -> Arc<BatchQueue<T>> {
        Arc::new(BatchQueue::new(self.capacities[stage]))
    }

    pub(crate) fn spawn<F>(&mut self, stage: usize, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let metrics = Arc::clone(&self.metrics[stage]);
        let handle = self.runtime.spawn(async move {
            metrics.mark_start();
            task.await;
            metrics.mark_end();
        });
        self.handles.push((stage, handle));
    }
}

/// One stage as configured: its name, kind and output capacity.
#[derive(Debug, Clone)]
pub(crate) struct StageSpec {
    pub(crate) name: String,
    pub(crate) kind: &'static str,
    pub(crate) capacity: usize,
}

/// A started run. Dropping it before [`finish`](Self::finish) aborts the stages.
pub(crate) struct Run {
    pub(crate) ctrl: Arc<Ctrl>,
    metrics: Vec<Arc<StageMetrics>>,
    handles: Vec<(usize, JoinHandle<()>)>,
    started: Instant,
    done: bool,
}

/// Sets up a run over `specs` (source first; the sink's metrics are added last).
pub(crate) fn prepare(
    specs: &[StageSpec],
    cancel: Option<&(CancellationToken, CancelMode)>,
) -> Result<(Launcher, Arc<StageMetrics>), PipelineErrorKind> {
    let runtime = Handle::try_current().map_err(|_| PipelineErrorKind::NoRuntime)?;
    let (abort, drain) = match cancel {
        Some((token, CancelMode::Abort)) => (token.child_token(), None),
        Some((token, CancelMode::Drain)) => (CancellationToken::new(), Some(token.clone())),
        None => (CancellationToken::new(), None),
    };
    let ctrl = Arc::new(Ctrl {
        abort,
        drain,
        drained: AtomicBool::new(false),
        failure: Mutex::new(None),
    });
    let mut metrics: Vec<_> = specs
        .iter()
        .map(|s| Arc::new(StageMetrics::new(s.name.clone(), s.kind)))
        .collect();
    let sink = Arc::new(StageMetrics::new("sink".to_owned(), "sink"));
    metrics.push(Arc::clone(&sink));
    let capacities = specs.iter().map(|s| s.capacity).collect();
    Ok((
        Launcher {
            ctrl,
            metrics,
            capacities,
            handles: Vec::new(),
            runtime,
        },
        sink,
    ))
}

impl Launcher {
    pub(crate) fn into_run(self) -> Run {
        Run {
            ctrl: self.ctrl,
            metrics: self.metrics,
            handles: self.handles,
            started: Instant::now(),
            done: false,
        }
    }
}

/// A report for a run that never started (bad configuration, no runtime).
pub(crate) fn empty_report(specs: &[StageSpec]) -> PipelineReport {
    let mut stages: Vec<_> = specs
        .iter()
        .map(|s| StageMetrics::new(s.name.clone(), s.kind).snapshot())
        .collect();
    stages.push(StageMetrics::new("sink".to_owned(), "sink").snapshot());
    PipelineReport {
        stages,
        elapsed: std::time::Duration::ZERO,
        outcome: Outcome::Failed,
    }
}

impl Run {
    /// A live snapshot.
    pub(crate) fn report(&self, outcome: Outcome) -> PipelineReport {
        PipelineReport {
            stages: self.metrics.iter().map(|m| m.snapshot()).collect(),
            elapsed: self.started.elapsed(),
            outcome,
        }
    }

    /// Stops the stages now (the sink stops itself).
    pub(crate) fn abort(&self) {
        self.ctrl.abort.cancel();
    }

    /// Waits for every stage task, then returns the report or the first failure.
    pub(crate) async fn finish(mut self) -> Result<PipelineReport, PipelineError> {
        for (stage, handle) in std::mem::take(&mut self.handles) {
            if let Err(e) = handle.await {
                let message = if e.is_panic() {
                    panic_message(&*e.into_panic())
                } else {
                    "task cancelled".to_owned()
                };
                self.metrics[stage].mark_end();
                self.ctrl.fail(PipelineErrorKind::StagePanicked {
                    stage: self.metrics[stage].name().to_owned(),
                    message,
                });
            }
        }
        self.done = true;
        if let Some(kind) = self.ctrl.take_failure() {
            return Err(PipelineError::new(kind, self.report(Outcome::Failed)));
        }
        let outcome = if self.ctrl.is_aborted() {
            Outcome::Aborted
        } else if self.ctrl.drained.load(Ordering::Relaxed) {
            Outcome::Drained
        } else {
            Outcome::Completed
        };
        Ok(self.report(outcome))
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if !self.done {
            self.ctrl.abort.cancel();
        }
    }
}
