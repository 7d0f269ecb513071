//! `Pipeline<T>`: the builder. Nothing runs until a sink is called; then every stage becomes a
//! tokio task (and `map_blocking` work goes to tokio's blocking threads).

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

use futures_core::Stream;
use futures_util::FutureExt as _;
use futures_util::future::Either;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::error::{BoxError, ConfigProblem, panic_message};
use crate::handoff::BatchQueue;
use crate::link::{Inlet, Outlet};
use crate::policy::{CancelMode, ErrorPolicy, Failed};
use crate::run::{Launcher, StageCtx, StageSpec};
use crate::stage_async::{self, OneLane, OrderedLanes, Settled, UnorderedLanes};
use crate::{source, stage_batch, stage_sync};

/// The capacity of the queue after each stage unless [`Pipeline::buffer`] says otherwise.
pub const DEFAULT_BUFFER: usize = 1024;

/// The most items one `map_blocking` job takes.
const MAX_CHUNK: usize = 64;

type LaunchFn<T> = Box<dyn FnOnce(&mut Launcher) -> Arc<BatchQueue<T>> + Send>;

/// A multi-stage pipeline whose stages run concurrently, each as its own task, joined by bounded
/// queues.
///
/// Build it from a source ([`from_iter`](Self::from_iter), [`from_stream`](Self::from_stream),
/// [`from_receiver`](Self::from_receiver)), add stages, and end with a sink
/// ([`collect`](Self::collect), [`for_each`](Self::for_each), [`run_into`](Self::run_into),
/// [`into_stream`](Self::into_stream)). Nothing runs before the sink is called.
///
/// # Guarantees
/// - **Stages overlap.** Each stage is a tokio task, so two slow stages take about the time of one.
/// - **Bounded memory.** Each queue holds at most its [`buffer`](Self::buffer) capacity
///   (default [`DEFAULT_BUFFER`]); a stage holds at most about one batch plus its concurrency.
/// - **Order.** [`map`](Self::map), [`try_map`](Self::try_map), [`map_blocking`](Self::map_blocking)
///   and every synchronous stage keep the order of items; [`map_unordered`](Self::map_unordered)
///   emits in completion order.
/// - **Nothing lost silently.** Every item is delivered, filtered, failed or dropped, and counted
///   so in the [`PipelineReport`](crate::PipelineReport): for every stage,
///   `items_in == items_out + filtered + errors + dropped` once the run is over.
/// - **Panics** in user code become [`PipelineErrorKind::StagePanicked`](crate::PipelineErrorKind::StagePanicked)
///   naming the stage.
///
/// # Example
/// ```
/// use tidewater_pipeline::Pipeline;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tidewater_pipeline::PipelineError> {
/// let (out, report) = Pipeline::from_iter(1..=100u64)
///     .map(8, |x| async move { x * 2 })
///     .name("double")
///     .filter(|x| x.is_multiple_of(3))
///     .collect()
///     .await?;
/// assert_eq!(out.len(), 33);
/// assert_eq!(report.stage("double").map(|s| s.items_out), Some(100));
/// assert!(report.is_balanced());
/// # Ok(())
/// # }
/// ```
#[must_use = "a pipeline does nothing until a sink (collect, for_each, run_into, into_stream) runs it"]
pub struct Pipeline<T> {
    pub(crate) launch: LaunchFn<T>,
    pub(crate) specs: Vec<StageSpec>,
    pub(crate) cancel: Option<(CancellationToken, CancelMode)>,
    pub(crate) invalid: Option<(usize, ConfigProblem)>,
}

impl<T> fmt::Debug for Pipeline<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pipeline")
            .field(
                "stages",
                &self
                    .specs
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("cancel", &self.cancel.as_ref().map(|c| c.1))
            .finish_non_exhaustive()
    }
}

fn source_spec() -> Vec<StageSpec> {
    vec![StageSpec {
        name: "source".to_owned(),
        kind: "source",
        capacity: DEFAULT_BUFFER,
    }]
}

impl<T: Send + 'static> Pipeline<T> {
    fn source<F, Fut>(body: F) -> Self
    where
        F: FnOnce(Outlet<T>, StageCtx) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let launch = Box::new(move |l: &mut Launcher| {
            let queue = l.queue::<T>(0);
            let task = body(Outlet::new(Arc::clone(&queue)), l.ctx(0));
            l.spawn(0, task);
            queue
        });
        Self {
            launch,
            specs: source_spec(),
            cancel: None,
            invalid: None,
        }
    }

    /// A pipeline over the items of an iterator. The iterator runs in the source task, so it
    /// should not block for long (wrap blocking input in [`from_receiver`](Self::from_receiver)).
    #[allow(
        clippy::should_implement_trait,
        reason = "the iterator must be Send + 'static, which FromIterator cannot require"
    )]
    pub fn from_iter<I>(iter: I) -> Self
    where
        I: IntoIterator<Item = T>,
        I::IntoIter: Send + 'static,
    {
        let iter = iter.into_iter();
        Self::source(move |out, ctx| source::from_iter(iter, out, ctx))
    }

    /// A pipeline over the items of a stream.
    pub fn from_stream<S>(stream: S) -> Self
    where
        S: Stream<Item = T> + Send + 'static,
    {
        Self::source(move |out, ctx| source::from_stream(stream, out, ctx))
    }

    /// A pipeline over the items sent to a tokio channel, until every sender is dropped.
    ///
    /// Under [`CancelMode::Drain`] the receiver is closed (senders get an error) and what was
    /// already sent is drained into the pipeline, so nothing sent successfully is lost.
    pub fn from_receiver(rx: mpsc::Receiver<T>) -> Self {
        Self::source(move |out, ctx| source::from_receiver(rx, out, ctx))
    }

    /// Adds a stage: `body` runs as its own task between the last queue and a new one.
    fn stage<U, F, Fut>(mut self, kind: &'static str, body: F) -> Pipeline<U>
    where
        U: Send + 'static,
        F: FnOnce(Inlet<T>, Outlet<U>, StageCtx) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let index = self.specs.len();
        self.specs.push(StageSpec {
            name: format!("{kind}#{index}"),
            kind,
            capacity: DEFAULT_BUFFER,
        });
        let prev = self.launch;
        let launch = Box::new(move |l: &mut Launcher| {
            let upstream = prev(l);
            let ctx = l.ctx(index);
            let inlet = Inlet::new(upstream, Arc::clone(&ctx.metrics));
            let queue = l.queue::<U>(index);
            let task = body(inlet, Outlet::new(Arc::clone(&queue)), ctx);
            l.spawn(index, task);
            queue
        });
        Pipeline {
            launch,
            specs: self.specs,
            cancel: self.cancel,
            invalid: self.invalid,
        }
    }

    fn invalid_if(mut self, bad: bool, problem: ConfigProblem) -> Self {
        if bad && self.invalid.is_none() {
            self.invalid = Some((self.specs.len() - 1, problem));
        }
        self
    }

    /// Names the stage added last (or the source), for the report and errors.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        if let Some(last) = self.specs.last_mut() {
            last.name = name.into();
        }
        self
    }

    /// Sets the capacity, in items, of the queue after the stage added last (or the source).
    /// A capacity of `0` makes the run fail with [`ConfigProblem::ZeroCapacity`].
    pub fn buffer(mut self, capacity: usize) -> Self {
        if let Some(last) = self.specs.last_mut() {
            last.capacity = capacity;
        }
        self.invalid_if(capacity == 0, ConfigProblem::ZeroCapacity)
    }

    /// Cancels the run when `token` fires, in the given [`CancelMode`].
    pub fn cancel_on(mut self, token: CancellationToken, mode: CancelMode) -> Self {
        self.cancel = Some((token, mode));
        self
    }

    /// Maps every item through an async function, running up to `concurrency` calls at once and
    /// keeping the input order. A panic fails the run with the stage's name.
    pub fn map<U, F, Fut>(self, concurrency: usize, mut f: F) -> Pipeline<U>
    where
        U: Send + 'static,
        F: FnMut(T) -> Fut + Send + 'static,
        Fut: Future<Output = U> + Send + 'static,
    {
        self.stage("map", move |inlet, outlet, ctx| {
            let start = move |pending: &mut VecDeque<T>, _free: usize| {
                let unit = guarded(&mut f, pending.pop_front()?, emit);
                Some((unit, 1))
            };
            concurrent(inlet, outlet, ctx, concurrency, true, start)
        })
        .invalid_if(concurrency == 0, ConfigProblem::ZeroConcurrency)
    }

    /// Like [`map`](Self::map) but emits results in completion order, so one slow item does not
    /// hold back the others.
    pub fn map_unordered<U, F, Fut>(self, concurrency: usize, mut f: F) -> Pipeline<U>
    where
        U: Send + 'static,
        F: FnMut(T) -> Fut + Send + 'static,
        Fut: Future<Output = U> + Send + 'static,
    {
        self.stage("map_unordered", move |inlet, outlet, ctx| {
            let start = move |pending: &mut VecDeque<T>, _free: usize| {
                let unit = guarded(&mut f, pending.pop_front()?, emit);
                Some((unit, 1))
            };
            concurrent(inlet, outlet, ctx, concurrency, false, start)
        })
        .invalid_if(concurrency == 0, ConfigProblem::ZeroConcurrency)
    }

    /// Maps every item through a CPU-bound function on tokio's blocking threads, with up to
    /// `concurrency` jobs at once, keeping the order. Items go to the threads in chunks (at most
    /// 64 per job), so the per-item cost stays small. A job already running finishes even if the
    /// run is aborted (its results are then dropped and counted).
    pub fn map_blocking<U, F>(self, concurrency: usize, f: F) -> Pipeline<U>
    where
        U: Send + 'static,
        F: Fn(T) -> U + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        self.stage("map_blocking", move |inlet, outlet, ctx| {
            let start = move |pending: &mut VecDeque<T>, free: usize| {
                if pending.is_empty() {
                    return None;
                }
                let take = pending.len().div_ceil(free.max(1)).clamp(1, MAX_CHUNK);
                let chunk: Vec<T> = pending.drain(..take).collect();
                let f = Arc::clone(&f);
                let job = tokio::task::spawn_blocking(move || {
                    let mut outs = Vec::with_capacity(chunk.len());
                    let mut items = chunk.into_iter();
                    for item in items.by_ref() {
                        match catch_unwind(AssertUnwindSafe(|| f(item))) {
                            Ok(u) => outs.push(u),
                            Err(payload) => {
                                return Settled::Chunk {
                                    outs,
                                    panic: Some(panic_message(&*payload)),
                                    dropped: items.len(),
                                };
                            }
                        }
                    }
                    Settled::Chunk {
                        outs,
                        panic: None,
                        dropped: 0,
                    }
                });
                let unit = job.map(move |joined| {
                    joined.unwrap_or_else(|e| Settled::Chunk {
                        outs: Vec::new(),
                        panic: Some(format!("blocking job lost: {e}")),
                        dropped: take - 1,
                    })
                });
                Some((unit, take))
            };
            concurrent(inlet, outlet, ctx, concurrency, true, start)
        })
        .invalid_if(concurrency == 0, ConfigProblem::ZeroConcurrency)
    }

    /// Maps every item through a fallible async function, up to `concurrency` at once, keeping
    /// the order. Items whose function returns `Err` are handled by `policy`
    /// ([`ErrorPolicy::FailFast`], [`Skip`](ErrorPolicy::Skip) or
    /// [`DeadLetter`](ErrorPolicy::DeadLetter)) and always counted in the stage's `errors`.
    ///
    /// `T: Clone` is needed to hand the failed item to a dead-letter channel; the item is cloned
    /// only under [`ErrorPolicy::DeadLetter`] (wrap large items in an `Arc`).
    pub fn try_map<U, E, F, Fut>(
        self,
        concurrency: usize,
        policy: ErrorPolicy<T, E>,
        mut f: F,
    ) -> Pipeline<U>
    where
        T: Clone,
        U: Send + 'static,
        E: fmt::Display + Into<BoxError> + Send + 'static,
        F: FnMut(T) -> Fut + Send + 'static,
        Fut: Future<Output = Result<U, E>> + Send + 'static,
    {
        self.stage("try_map", move |inlet, outlet, ctx| {
            let stage = ctx.metrics.name().to_owned();
            let start = move |pending: &mut VecDeque<T>, _free: usize| {
                let item = pending.pop_front()?;
                let on_error = match &policy {
                    ErrorPolicy::FailFast => OnError::FailFast,
                    ErrorPolicy::Skip => OnError::Skip,
                    ErrorPolicy::DeadLetter(tx) => {
                        OnError::DeadLetter(tx.clone(), item.clone(), stage.clone())
                    }
                };
                let unit = guarded(&mut f, item, move |result| match result {
                    Ok(u) => Either::Left(emit(u)),
                    Err(e) => Either::Right(on_error.handle(e)),
                });
                Some((unit, 1))
            };
            concurrent(inlet, outlet, ctx, concurrency, true, start)
        })
        .invalid_if(concurrency == 0, ConfigProblem::ZeroConcurrency)
    }

    /// Keeps the items for which `keep` returns `true`; the others are counted in `filtered`.
    pub fn filter<F>(self, mut keep: F) -> Self
    where
        F: FnMut(&T) -> bool + Send + 'static,
    {
        self.stage("filter", move |inlet, outlet, ctx| {
            stage_sync::run(inlet, outlet, ctx, false, move |item, out: &mut Vec<T>| {
                let pass = keep(&item);
                if pass {
                    out.push(item);
                }
                pass
            })
        })
    }

    /// Maps every item and keeps the `Some`s; `None`s are counted in `filtered`.
    pub fn filter_map<U, F>(self, mut f: F) -> Pipeline<U>
    where
        U: Send + 'static,
        F: FnMut(T) -> Option<U> + Send + 'static,
    {
        self.stage("filter_map", move |inlet, outlet, ctx| {
            stage_sync::run(inlet, outlet, ctx, false, move |item, out| match f(item) {
                Some(u) => {
                    out.push(u);
                    true
                }
                None => false,
            })
        })
    }

    /// Replaces every item with the items of the iterator `f` returns, in order. In the report,
    /// `items_out` counts input items, `emitted` the outputs.
    pub fn flat_map<U, I, F>(self, mut f: F) -> Pipeline<U>
    where
        U: Send + 'static,
        I: IntoIterator<Item = U>,
        F: FnMut(T) -> I + Send + 'static,
    {
        self.stage("flat_map", move |inlet, outlet, ctx| {
            stage_sync::run(inlet, outlet, ctx, true, move |item, out| {
                out.extend(f(item));
                true
            })
        })
    }

    /// Calls `f` on every item and passes it on unchanged.
    pub fn inspect<F>(self, mut f: F) -> Self
    where
        F: FnMut(&T) + Send + 'static,
    {
        self.stage("inspect", move |inlet, outlet, ctx| {
            stage_sync::run(inlet, outlet, ctx, false, move |item, out: &mut Vec<T>| {
                f(&item);
                out.push(item);
                true
            })
        })
    }

    /// Groups items into batches of at most `max_items`. A partial batch is flushed `max_wait`
    /// after its first item arrived, even if no more input comes (a `max_wait` of zero flushes
    /// whatever is available at once), and at the end of input. `max_items == 0` makes the run fail
    /// with [`ConfigProblem::ZeroBatchSize`]. In the report, `emitted` counts batches.
    pub fn batch(self, max_items: usize, max_wait: Duration) -> Pipeline<Vec<T>> {
        self.stage("batch", move |inlet, outlet, ctx| {
            stage_batch::run(inlet, outlet, ctx, max_items, max_wait)
        })
        .invalid_if(max_items == 0, ConfigProblem::ZeroBatchSize)
    }

    /// Paces items through a shared token bucket: one token per item, waiting FIFO-fair for it.
    /// Clones of the bucket share it, so several pipelines (or other code) can share one budget.
    #[cfg(feature = "token-bucket")]
    #[cfg_attr(docsrs, doc(cfg(feature = "token-bucket")))]
    pub fn rate_limit<C>(self, bucket: &tidewater_token_bucket::TokenBucket<C>) -> Self
    where
        C: tidewater_token_bucket::Clock,
        tidewater_token_bucket::TokenBucket<C>: Clone + Send + Sync + 'static,
    {
        let bucket = bucket.clone();
        self.stage("rate_limit", move |inlet, outlet, ctx| {
            let start = move |pending: &mut VecDeque<T>, _free: usize| {
                let item = pending.pop_front()?;
                let bucket = bucket.clone();
                let unit = async move {
                    match bucket.acquire(1).await {
                        Ok(()) => Settled::Out(item),
                        Err(e) => Settled::FailFast(Box::new(e)),
                    }
                };
                Some((unit, 1))
            };
            stage_async::run((inlet, outlet, ctx), 1, OneLane::new(), start)
        })
    }
}

/// Runs a concurrent stage: one slot when `concurrency <= 1`, else ordered or unordered lanes.
fn concurrent<T, U, F, S>(
    inlet: Inlet<T>,
    outlet: Outlet<U>,
    ctx: StageCtx,
    concurrency: usize,
    keep_order: bool,
    start: S,
) -> impl Future<Output = ()>
where
    F: Future<Output = Settled<U>>,
    S: FnMut(&mut VecDeque<T>, usize) -> Option<(F, usize)>,
{
    let io = (inlet, outlet, ctx);
    if concurrency <= 1 {
        Either::Left(stage_async::run(io, 1, OneLane::new(), start))
    } else if keep_order {
        Either::Right(Either::Left(stage_async::run(
            io,
            concurrency,
            OrderedLanes::new(),
            start,
        )))
    } else {
        Either::Right(Either::Right(stage_async::run(
            io,
            concurrency,
            UnorderedLanes::new(),
            start,
        )))
    }
}

/// Calls `f(item)` and awaits its future, turning a panic in either into `Settled::Panicked`;
/// `done` turns the output into the unit's end.
fn guarded<T, F, Fut, D, DF, U>(
    f: &mut F,
    item: T,
    done: D,
) -> impl Future<Output = Settled<U>> + use<T, F, Fut, D, DF, U>
where
    F: FnMut(T) -> Fut,
    Fut: Future,
    D: FnOnce(Fut::Output) -> DF,
    DF: Future<Output = Settled<U>>,
{
    let made = catch_unwind(AssertUnwindSafe(|| f(item)));
    async move {
        let fut = match made {
            Ok(fut) => fut,
            Err(payload) => return Settled::Panicked(panic_message(&*payload)),
        };
        match AssertUnwindSafe(fut).catch_unwind().await {
            Ok(out) => done(out).await,
            Err(payload) => Settled::Panicked(panic_message(&*payload)),
        }
    }
}

fn emit<U>(u: U) -> std::future::Ready<Settled<U>> {
    std::future::ready(Settled::Out(u))
}

/// What a `try_map` unit does with an error, decided (and the item cloned if needed) before
/// the item is handed to the user's function.
enum OnError<T, E> {
    FailFast,
    Skip,
    DeadLetter(mpsc::Sender<Failed<T, E>>, T, String),
}

impl<T, E: fmt::Display + Into<BoxError>> OnError<T, E> {
    async fn handle<U>(self, error: E) -> Settled<U> {
        match self {
            Self::FailFast => Settled::FailFast(error.into()),
            Self::Skip => Settled::Failed(error.to_string()),
            Self::DeadLetter(tx, item, stage) => {
                let message = error.to_string();
                match tx.send(Failed { item, error, stage }).await {
                    Ok(()) => Settled::Failed(message),
                    Err(_) => Settled::DeadLetterClosed(message),
                }
            }
        }
    }
}
