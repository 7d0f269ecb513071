//! Sinks: the end of a pipeline, which starts the run and returns its report.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::future::poll_fn;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;
use futures_util::FutureExt as _;
use tokio::sync::mpsc;

use crate::builder::Pipeline;
use crate::error::{PipelineError, PipelineErrorKind, panic_message};
use crate::link::Inlet;
use crate::metrics::StageMetrics;
use crate::report::{Outcome, PipelineReport};
use crate::run::{Run, empty_report, prepare};

impl<T: Send + 'static> Pipeline<T> {
    /// Starts every stage task; the caller's task becomes the sink.
    fn start(self) -> Result<(Run, Inlet<T>), PipelineError> {
        if let Some((stage, problem)) = self.invalid {
            let kind = PipelineErrorKind::InvalidConfig {
                stage: self.specs[stage].name.clone(),
                problem,
            };
            return Err(PipelineError::new(kind, empty_report(&self.specs)));
        }
        let (mut launcher, sink) = prepare(&self.specs, self.cancel.as_ref())
            .map_err(|kind| PipelineError::new(kind, empty_report(&self.specs)))?;
        sink.mark_start();
        let queue = (self.launch)(&mut launcher);
        Ok((launcher.into_run(), Inlet::new(queue, sink)))
    }

    /// Runs the pipeline and collects every item, in order, with the report.
    ///
    /// An aborted run (see [`CancelMode::Abort`](crate::CancelMode::Abort)) returns what reached
    /// the sink with an [`Outcome::Aborted`] report. On a failure the collected items are counted
    /// as `dropped` by the sink in the error's report.
    ///
    /// # Errors
    /// The first failure of the run: a stage error under
    /// [`ErrorPolicy::FailFast`](crate::ErrorPolicy::FailFast), a panic, a bad setting, or no tokio runtime.
    ///
    /// Cancel safety: dropping the future aborts the run; items inside are dropped.
    pub async fn collect(self) -> Result<(Vec<T>, PipelineReport), PipelineError> {
        let (run, mut inlet) = self.start()?;
        let mut items = Vec::new();
        while !run.ctrl.is_aborted() && inlet.recv(&mut items).await.is_some() {}
        let sink = Arc::clone(inlet.metrics());
        drop(inlet);
        let delivered = items.len();
        match run.finish_sink(&sink, delivered).await {
            Ok(report) => Ok((items, report)),
            Err(e) => Err(e),
        }
    }

    /// Runs the pipeline, calling `f` on every item in order (one at a time, in the caller's task).
    /// An abort interrupts a running `f` (its item is counted as dropped by the sink).
    ///
    /// # Errors
    /// As for [`collect`](Self::collect); a panic in `f` fails the run as stage `sink`.
    ///
    /// Cancel safety: dropping the future aborts the run; items inside are dropped.
    pub async fn for_each<F, Fut>(self, mut f: F) -> Result<PipelineReport, PipelineError>
    where
        F: FnMut(T) -> Fut,
        Fut: Future<Output = ()>,
    {
        let (run, mut inlet) = self.start()?;
        let sink = Arc::clone(inlet.metrics());
        let abort = run.ctrl.abort.clone();
        let mut aborted = pin!(abort.cancelled());
        let mut batch = Vec::new();
        'run: while !run.ctrl.is_aborted() && inlet.recv(&mut batch).await.is_some() {
            let mut items = batch.drain(..);
            while let Some(item) = items.next() {
                if run.ctrl.is_aborted() {
                    sink.add_dropped(1 + items.len());
                    break 'run;
                }
                let done = match catch_unwind(AssertUnwindSafe(|| f(item))) {
                    Ok(fut) => {
                        let mut fut = pin!(AssertUnwindSafe(fut).catch_unwind());
                        // An abort interrupts a long `f` too (its item counts as dropped).
                        poll_fn(|cx| match fut.as_mut().poll(cx) {
                            Poll::Ready(done) => Poll::Ready(Some(done)),
                            Poll::Pending if aborted.as_mut().poll(cx).is_ready() => {
                                Poll::Ready(None)
                            }
                            Poll::Pending => Poll::Pending,
                        })
                        .await
                    }
                    Err(payload) => Some(Err(payload)),
                };
                let Some(done) = done else {
                    sink.add_dropped(1 + items.len());
                    break 'run;
                };
                if let Err(payload) = done {
                    sink.add_dropped(items.len());
                    let message = panic_message(&*payload);
                    sink.add_error(|| format!("panic: {message}"));
                    run.ctrl.fail(PipelineErrorKind::StagePanicked {
                        stage: "sink".to_owned(),
                        message,
                    });
                    break 'run;
                }
                sink.add_out(1, 1);
            }
        }
        drop(batch);
        drop(inlet);
        run.finish_sink(&sink, 0).await
    }

    /// Runs the pipeline, sending every item in order to `sender`. Waits when the channel is
    /// full (backpressure).
    ///
    /// # Errors
    /// As for [`collect`](Self::collect), plus [`PipelineErrorKind::SinkClosed`] if the receiver
    /// is dropped first (the items that could not be sent are counted as `dropped`).
    ///
    /// Cancel safety: dropping the future aborts the run; items inside are dropped.
    pub async fn run_into(self, sender: mpsc::Sender<T>) -> Result<PipelineReport, PipelineError> {
        let (run, mut inlet) = self.start()?;
        let sink = Arc::clone(inlet.metrics());
        let mut batch: Vec<T> = Vec::new();
        'run: while !run.ctrl.is_aborted() && inlet.recv(&mut batch).await.is_some() {
            let mut items = batch.drain(..);
            while items.len() > 0 {
                let want = items.len().min(sender.max_capacity()).max(1);
                match run
                    .ctrl
                    .abort
                    .run_until_cancelled(sender.reserve_many(want))
                    .await
                {
                    Some(Ok(permits)) => {
                        let mut sent = 0;
                        for (permit, item) in permits.zip(items.by_ref()) {
                            permit.send(item);
                            sent += 1;
                        }
                        sink.add_out(sent, sent);
                    }
                    Some(Err(_)) => {
                        sink.add_dropped(items.len());
                        run.ctrl.fail(PipelineErrorKind::SinkClosed);
                        break 'run;
                    }
                    None => {
                        sink.add_dropped(items.len());
                        break 'run;
                    }
                }
            }
        }
        drop(batch);
        drop(inlet);
        run.finish_sink(&sink, 0).await
    }

    /// Starts the pipeline and returns its output as a [`Stream`], in order. Call
    /// [`PipelineStream::finish`] for the report.
    ///
    /// If the pipeline cannot start (bad setting, no tokio runtime), the stream is empty and
    /// `finish` returns the error.
    #[must_use = "the stream does nothing unless polled; drop it to abort the run"]
    pub fn into_stream(self) -> PipelineStream<T> {
        let state = match self.start() {
            Ok((run, inlet)) => State::Running { run, inlet },
            Err(e) => State::NotStarted(e),
        };
        PipelineStream {
            state,
            buf: VecDeque::new(),
            staging: Vec::new(),
            ended: false,
        }
    }
}

impl Run {
    /// Ends the sink (items it delivered in bulk are counted here) and waits for the stages.
    async fn finish_sink(
        self,
        sink: &StageMetrics,
        delivered: usize,
    ) -> Result<PipelineReport, PipelineError> {
        sink.add_out(delivered, delivered);
        sink.mark_end();
        self.finish().await.map_err(|mut e| {
            // The caller never gets the collected items on failure: count them as dropped.
            if delivered > 0 {
                e.move_delivered_to_dropped(delivered as u64);
            }
            e
        })
    }
}

impl PipelineError {
    fn move_delivered_to_dropped(&mut self, n: u64) {
        if let Some(sink) = self.report_mut().stages.last_mut() {
            sink.items_out -= n.min(sink.items_out);
            sink.emitted -= n.min(sink.emitted);
            sink.dropped += n;
        }
    }
}

enum State<T> {
    Running { run: Run, inlet: Inlet<T> },
    NotStarted(PipelineError),
    Finished,
}

/// The output of a running pipeline as a [`Stream`] (from [`Pipeline::into_stream`]).
///
/// Dropping it aborts the run. [`finish`](Self::finish) stops it (if the stream has not ended)
/// and returns the report.
pub struct PipelineStream<T> {
    state: State<T>,
    buf: VecDeque<T>,
    staging: Vec<T>,
    ended: bool,
}

impl<T> fmt::Debug for PipelineStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipelineStream")
            .field("buffered", &self.buf.len())
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

impl<T> PipelineStream<T> {
    /// A live snapshot of the run's report.
    #[must_use]
    pub fn report(&self) -> PipelineReport {
        match &self.state {
            State::Running { run, .. } => run.report(Outcome::Running),
            State::NotStarted(e) => e.report().clone(),
            State::Finished => PipelineReport {
                stages: Vec::new(),
                elapsed: std::time::Duration::ZERO,
                outcome: Outcome::Completed,
            },
        }
    }

    /// Ends the run and returns its report. If the stream has not ended yet, the rest of the run
    /// is aborted and its items are counted as dropped.
    ///
    /// # Errors
    /// The first failure of the run, as for [`Pipeline::collect`].
    ///
    /// Cancel safety: dropping the future leaves the run aborted; its tasks end on their own.
    pub async fn finish(mut self) -> Result<PipelineReport, PipelineError> {
        match std::mem::replace(&mut self.state, State::Finished) {
            State::Running { run, inlet } => {
                if !self.ended {
                    run.abort();
                }
                let sink = Arc::clone(inlet.metrics());
                sink.add_dropped(self.buf.len());
                self.buf.clear();
                drop(inlet);
                run.finish_sink(&sink, 0).await
            }
            State::NotStarted(e) => Err(e),
            State::Finished => Ok(self.report()),
        }
    }
}

// Items are only ever moved in and out by value, never pinned.
impl<T> Unpin for PipelineStream<T> {}

impl<T> Stream for PipelineStream<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = self.get_mut();
        let State::Running { run, inlet } = &mut this.state else {
            return Poll::Ready(None);
        };
        loop {
            if let Some(item) = this.buf.pop_front() {
                inlet.metrics().add_out(1, 1);
                return Poll::Ready(Some(item));
            }
            if this.ended || run.ctrl.is_aborted() {
                this.ended = true;
                return Poll::Ready(None);
            }
            match inlet.poll_recv(cx, &mut this.staging) {
                Poll::Ready(Some(_)) => this.buf.extend(this.staging.drain(..)),
                Poll::Ready(None) => this.ended = true,
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
