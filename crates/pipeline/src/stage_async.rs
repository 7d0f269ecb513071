//! The engine of every stage that runs work units concurrently: `map`, `map_unordered`,
//! `try_map`, `map_blocking` and `rate_limit`.
//!
//! A unit is a future covering one item (async stages) or a chunk of items (`map_blocking`).
//! Up to `concurrency` units run at once. Results go to an output buffer that is handed on as
//! soon as the stage would otherwise wait, or when it reaches a batch, so a slow stage passes
//! items on one by one while a fast one moves them in batches.

use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::task::{Context, Poll};

use futures_core::Stream;
use futures_util::stream::{FuturesOrdered, FuturesUnordered};
use tokio::time::Instant;

use crate::error::{BoxError, PipelineErrorKind};
use crate::link::{Inlet, Outlet};
use crate::metrics::StageMetrics;
use crate::run::StageCtx;

/// How a unit ended.
pub(crate) enum Settled<U> {
    /// One item done.
    Out(U),
    /// One item failed, counted and skipped (or dead-lettered); the run goes on.
    Failed(String),
    /// One item failed under `FailFast`: the run stops.
    FailFast(BoxError),
    /// User code panicked on one item: the run stops.
    Panicked(String),
    /// The dead-letter receiver is gone: the item is counted as an error and the run stops.
    DeadLetterClosed(String),
    /// A chunk (`map_blocking`): outputs in order, then possibly a panic on the next item, and
    /// `dropped` items after it that were not processed.
    Chunk {
        outs: Vec<U>,
        panic: Option<String>,
        dropped: usize,
    },
}

/// Where running units live: one reusable slot, or an ordered / unordered set.
///
/// `start` polls a new unit once right away when that cannot break the order: a unit that
/// finishes at once (the common case for cheap async work) then costs no allocation in a set.
pub(crate) trait Lanes<F: Future> {
    /// Starts a unit: `Ready` if it finished at once (it is then not kept), else `Pending`.
    fn start(&mut self, unit: F, cx: &mut Context<'_>) -> Poll<F::Output>;
    /// The next finished unit (in order for ordered lanes); `Ready(None)` if none is running.
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<F::Output>>;
}

/// Concurrency 1: a single slot, allocated once per stage, so no allocation per item.
pub(crate) struct OneLane<F>(Pin<Box<Option<F>>>);

impl<F> OneLane<F> {
    pub(crate) fn new() -> Self {
        Self(Box::pin(None))
    }
}

impl<F: Future> Lanes<F> for OneLane<F> {
    fn start(&mut self, unit: F, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.0.set(Some(unit));
        match self.poll_next(cx) {
            Poll::Ready(Some(out)) => Poll::Ready(out),
            Poll::Ready(None) | Poll::Pending => Poll::Pending,
        }
    }
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<F::Output>> {
        let Some(unit) = self.0.as_mut().as_pin_mut() else {
            return Poll::Ready(None);
        };
        let out = std::task::ready!(unit.poll(cx));
        self.0.set(None);
        Poll::Ready(Some(out))
    }
}

/// Order-keeping lanes: a unit is polled at once only when nothing runs before it.
pub(crate) struct OrderedLanes<F: Future>(FuturesOrdered<Pin<Box<F>>>);

impl<F: Future> OrderedLanes<F> {
    pub(crate) fn new() -> Self {
        Self(FuturesOrdered::new())
    }
}

impl<F: Future> Lanes<F> for OrderedLanes<F> {
    fn start(&mut self, unit: F, cx: &mut Context<'_>) -> Poll<F::Output> {
        let mut unit = Box::pin(unit);
        if self.0.is_empty()
            && let Poll::Ready(out) = unit.as_mut().poll(cx)
        {
            return Poll::Ready(out);
        }
        self.0.push_back(unit);
        Poll::Pending
    }
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<F::Output>> {
        Pin::new(&mut self.0).poll_next(cx)
    }
}

/// Completion-order lanes: every unit is polled at once.
pub(crate) struct UnorderedLanes<F>(FuturesUnordered<Pin<Box<F>>>);

impl<F: Future> UnorderedLanes<F> {
    pub(crate) fn new() -> Self {
        Self(FuturesUnordered::new())
    }
}

impl<F: Future> Lanes<F> for UnorderedLanes<F> {
    fn start(&mut self, unit: F, cx: &mut Context<'_>) -> Poll<F::Output> {
        let mut unit = Box::pin(unit);
        if let Poll::Ready(out) = unit.as_mut().poll(cx) {
            return Poll::Ready(out);
        }
        self.0.push(unit);
        Poll::Pending
    }
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<F::Output>> {
        Pin::new(&mut self.0).poll_next(cx)
    }
}

enum Step {
    Flush,
    Done,
    Abort,
    Fail(PipelineErrorKind),
}

/// Books a settled unit: outputs to `out`, errors counted. Returns the items it covered and the
/// failure that stops the run, if any.
fn settle<U>(
    s: Settled<U>,
    out: &mut Vec<U>,
    m: &StageMetrics,
) -> (usize, Option<PipelineErrorKind>) {
    let stage = || m.name().to_owned();
    match s {
        Settled::Out(u) => {
            out.push(u);
            (1, None)
        }
        Settled::Failed(message) => {
            m.add_error(|| message);
            (1, None)
        }
        Settled::FailFast(source) => {
            m.add_error(|| source.to_string());
            (
                1,
                Some(PipelineErrorKind::StageFailed {
                    stage: stage(),
                    source,
                }),
            )
        }
        Settled::Panicked(message) => {
            m.add_error(|| format!("panic: {message}"));
            (
                1,
                Some(PipelineErrorKind::StagePanicked {
                    stage: stage(),
                    message,
                }),
            )
        }
        Settled::DeadLetterClosed(message) => {
            m.add_error(|| message);
            (
                1,
                Some(PipelineErrorKind::DeadLetterClosed { stage: stage() }),
            )
        }
        Settled::Chunk {
            outs,
            panic,
            dropped,
        } => {
            let taken = outs.len() + dropped + usize::from(panic.is_some());
            out.extend(outs);
            let failure = panic.map(|message| {
                m.add_error(|| format!("panic: {message}"));
                m.add_dropped(dropped);
                PipelineErrorKind::StagePanicked {
                    stage: stage(),
                    message,
                }
            });
            (taken, failure)
        }
    }
}

/// Runs a concurrent stage. `start` takes items from the front of the pending queue (given the
/// number of free lanes) and returns a unit and how many items it covers, or `None` if there is
/// nothing to start.
pub(crate) async fn run<T, U, F, L, S>(
    (mut inlet, outlet, ctx): (Inlet<T>, Outlet<U>, StageCtx),
    concurrency: usize,
    mut lanes: L,
    mut start: S,
) where
    F: Future<Output = Settled<U>>,
    L: Lanes<F>,
    S: FnMut(&mut VecDeque<T>, usize) -> Option<(F, usize)>,
{
    let m = &*ctx.metrics;
    let hint = outlet.batch_hint();
    let mut pending: VecDeque<T> = VecDeque::with_capacity(inlet.max());
    let mut staging: Vec<T> = Vec::with_capacity(inlet.max());
    let mut out: Vec<U> = Vec::with_capacity(hint);
    let mut running = 0usize;
    let mut running_items = 0usize;
    let mut input_done = false;
    let abort = ctx.ctrl.abort.clone();
    let mut aborted = pin!(abort.cancelled());
    loop {
        let mut idle_since = None;
        let mut pulls = 0u32;
        let step = poll_fn(|cx| {
            'fill: loop {
                while running < concurrency {
                    let Some((unit, taken)) = start(&mut pending, concurrency - running) else {
                        break;
                    };
                    match lanes.start(unit, cx) {
                        Poll::Ready(settled) => {
                            if let (_, Some(kind)) = settle(settled, &mut out, m) {
                                return Poll::Ready(Step::Fail(kind));
                            }
                        }
                        Poll::Pending => {
                            running += 1;
                            running_items += taken;
                        }
                    }
                }
                while running > 0 {
                    match lanes.poll_next(cx) {
                        Poll::Ready(Some(settled)) => {
                            running -= 1;
                            let (taken, failure) = settle(settled, &mut out, m);
                            running_items -= taken;
                            if let Some(kind) = failure {
                                return Poll::Ready(Step::Fail(kind));
                            }
                            // Refill at the top of the outer loop.
                            continue 'fill;
                        }
                        Poll::Ready(None) => running = 0,
                        Poll::Pending => break,
                    }
                }
                if out.len() >= hint {
                    return Poll::Ready(Step::Flush);
                }
                if !input_done && pending.len() < concurrency {
                    match inlet.poll_recv(cx, &mut staging) {
                        Poll::Ready(Some(_)) => {
                            pending.extend(staging.drain(..));
                            // A stage whose items all vanish (e.g. skipped errors) must still
                            // return to the scheduler now and then.
                            pulls += 1;
                            if pulls >= 8 {
                                return Poll::Ready(Step::Flush);
                            }
                            continue;
                        }
                        Poll::Ready(None) => input_done = true,
                        Poll::Pending => {}
                    }
                }
                if input_done && running == 0 && pending.is_empty() {
                    return Poll::Ready(Step::Done);
                }
                if !out.is_empty() {
                    return Poll::Ready(Step::Flush);
                }
                if aborted.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Step::Abort);
                }
                if running == 0 && idle_since.is_none() {
                    idle_since = Some(Instant::now());
                }
                return Poll::Pending;
            }
        })
        .await;
        if let Some(t0) = idle_since {
            m.add_idle(t0.elapsed());
        }
        let step = if ctx.ctrl.is_aborted() && !matches!(step, Step::Fail(_)) {
            Step::Abort
        } else {
            step
        };
        match step {
            Step::Abort => {
                m.add_dropped(pending.len() + running_items + out.len());
                return;
            }
            Step::Fail(kind) => {
                m.add_dropped(pending.len() + running_items + out.len());
                ctx.ctrl.fail(kind);
                return;
            }
            Step::Flush | Step::Done => {
                let n = out.len();
                let sent = outlet.send(&mut out, m).await;
                let accepted = n - out.len();
                m.add_out(accepted, accepted);
                if sent.is_err() {
                    m.add_dropped(pending.len() + running_items + out.len());
                    return;
                }
                if matches!(step, Step::Done) {
                    return;
                }
                tokio::task::consume_budget().await;
            }
        }
    }
}
