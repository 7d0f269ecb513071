//! The `FanOut` builder and its entry points in both modes.

use std::future::{Future, poll_fn};
use std::marker::PhantomData;
use std::num::NonZeroUsize;
use std::time::Duration;

use futures_core::Stream;
use tokio::runtime::Handle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::collect::Collect;
use crate::config::{ErrorPolicy, Settings};
use crate::driver::Driver;
use crate::engine::Engine;
use crate::error::{FanOutError, ItemError, Stop};
use crate::in_task::InTaskEngine;
use crate::inputs::InputSource;
use crate::inputs::IntoInputs;
use crate::queue::Queue;
use crate::spawned::SpawnedEngine;
use crate::stream::{ItemStream, for_each};

/// Mode marker: items run inside the task that awaits the fan-out (the default). They may
/// borrow from the caller and need not be `Send`; they share one core.
#[derive(Debug, Clone, Copy, Default)]
pub struct InTask;

/// Mode marker: every item runs as its own tokio task, on every core of the runtime.
/// Items must be `Send + 'static`; they keep running while the consumer is busy.
#[derive(Debug, Clone, Copy, Default)]
pub struct Spawned;

/// Runs an async function over many inputs with at most `limit` running at once.
///
/// # Guarantees
///
/// - **Concurrency**: never more than `limit` items in flight; while inputs remain, a new
///   item starts as soon as one finishes, in the same poll (the engine is refilled
///   greedily, it never waits for the consumer to ask). `run` always keeps `limit` in
///   flight; an ordered *stream* also stops starting items once an item is `2 × limit`
///   positions ahead of the oldest undelivered one (that bounds its reorder buffer).
/// - **No snoozing**: every woken item is polled on the next poll of the fan-out, and
///   [`for_each`](Self::for_each) keeps polling items while its consumer is busy.
/// - **Order**: [`ordered`](Self::ordered) (the default) delivers in input order,
///   [`unordered`](Self::unordered) in completion order. Every item is delivered once.
/// - **Failures** (an `Err`, a panic, a timeout) are handled by the
///   [`ErrorPolicy`]; a panic never escapes an item.
/// - **Memory**: `O(limit)` besides the results themselves.
/// - **Cancel safety**: dropping the future of `run`/`for_each` or the stream drops (or,
///   when spawned, aborts) every in-flight item; nothing keeps running in the background.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use std::num::NonZeroUsize;
/// use tidewater_fan_out::{ErrorPolicy, FanOut};
///
/// let names = ["a", "bb", "ccc"];
/// let fan = FanOut::new(NonZeroUsize::new(2).unwrap()).error_policy(ErrorPolicy::CollectAll);
/// // In-task mode may borrow: `names` is not 'static here.
/// let lens = fan.run(names.iter(), |s| async move { Ok::<_, String>(s.len()) }).await;
/// assert_eq!(lens.unwrap(), vec![1, 2, 3]);
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use = "a FanOut does nothing until `run`, `stream` or `for_each` is called"]
pub struct FanOut<M = InTask> {
    settings: Settings,
    mode: PhantomData<M>,
}

impl FanOut<InTask> {
    /// A fan-out running at most `limit` items at once, in-task, ordered, fail-fast.
    pub fn new(limit: NonZeroUsize) -> Self {
        Self {
            settings: Settings::new(limit),
            mode: PhantomData,
        }
    }
}

impl<M> FanOut<M> {
    /// The concurrency limit.
    #[must_use]
    pub fn limit(&self) -> NonZeroUsize {
        self.settings.limit
    }

    /// Deliver results in input order (the default).
    pub fn ordered(mut self) -> Self {
        self.settings.ordered = true;
        self
    }

    /// Deliver results in completion order (no reorder buffer).
    pub fn unordered(mut self) -> Self {
        self.settings.ordered = false;
        self
    }

    /// What a failed item does to the run (default [`ErrorPolicy::FailFast`]).
    pub fn error_policy(mut self, policy: ErrorPolicy) -> Self {
        self.settings.policy = policy;
        self
    }

    /// Fail an item (with [`ItemError::TimedOut`]) that has not finished `timeout` after it
    /// started. A timeout too large to represent means no timeout. Needs a tokio runtime
    /// with its timer enabled.
    pub fn item_timeout(mut self, timeout: Duration) -> Self {
        self.settings.item_timeout = Some(timeout);
        self
    }

    /// Stop the run at `deadline`: unfinished items are cancelled and reported by index,
    /// finished results are kept. Needs a tokio runtime with its timer enabled.
    pub fn deadline(mut self, deadline: Instant) -> Self {
        self.settings.deadline = Some(deadline);
        self
    }

    /// Stop the run when `token` is cancelled, like a [`deadline`](Self::deadline).
    pub fn cancel_on(mut self, token: CancellationToken) -> Self {
        self.settings.cancel = Some(token);
        self
    }

    /// Run every item as a tokio task (multi-core; items must be `Send + 'static`).
    pub fn spawned(self) -> FanOut<Spawned> {
        FanOut {
            settings: self.settings,
            mode: PhantomData,
        }
    }

    /// Run items inside the awaiting task (the default; items may borrow).
    pub fn in_task(self) -> FanOut<InTask> {
        FanOut {
            settings: self.settings,
            mode: PhantomData,
        }
    }
}

async fn run_driver<S, F, G, Fut, R, E>(
    settings: &Settings,
    mut driver: Driver<S, F, G>,
) -> Result<Vec<R>, FanOutError<E, R>>
where
    S: InputSource,
    F: FnMut(S::Item) -> Fut,
    Fut: Future<Output = Result<R, E>>,
    G: Engine<Fut, R, E>,
{
    let mut sink = Collect::new(settings.ordered);
    poll_fn(|cx| driver.poll_progress(cx, &mut sink)).await;
    sink.finish(settings.policy, driver.stop_reason(), driver.pulled())
}

fn runtime_missing(settings: &Settings, always_needed: bool) -> bool {
    (always_needed || settings.uses_timer()) && Handle::try_current().is_err()
}

impl FanOut<InTask> {
    fn driver<I, F, Fut, R, E>(&self, inputs: I, f: F) -> Driver<I::Source, F, InTaskEngine<Fut>>
    where
        I: IntoInputs,
        F: FnMut(I::Item) -> Fut,
        Fut: Future<Output = Result<R, E>>,
    {
        let missing = runtime_missing(&self.settings, false);
        let engine = InTaskEngine::new(self.settings.item_timeout);
        Driver::new(&self.settings, inputs.into_inputs(), f, engine, missing)
    }

    /// Runs `f` over every input and gathers the results (in input order if
    /// [`ordered`](Self::ordered), else in completion order).
    ///
    /// # Errors
    /// A [`FanOutError`] with every failure by index, every completed result and every
    /// cancelled index, when an item failed (except under [`ErrorPolicy::Skip`]), the
    /// deadline passed or the token was cancelled.
    ///
    /// Cancel safety: dropping this future drops every in-flight item.
    pub async fn run<I, F, Fut, R, E>(&self, inputs: I, f: F) -> Result<Vec<R>, FanOutError<E, R>>
    where
        I: IntoInputs,
        F: FnMut(I::Item) -> Fut,
        Fut: Future<Output = Result<R, E>>,
    {
        run_driver(&self.settings, self.driver(inputs, f)).await
    }

    /// Like [`run`](Self::run), but yields `(index, outcome)` as soon as each can be
    /// delivered. Under [`ErrorPolicy::FailFast`] the failure is yielded, then every
    /// cancelled item as [`ItemError::Cancelled`], then the stream ends; a deadline or
    /// cancellation ends it the same way.
    ///
    /// In-task items advance only while the stream is polled: a consumer that awaits
    /// something an in-flight item must produce first should use
    /// [`for_each`](Self::for_each) or [`spawned`](Self::spawned) instead.
    pub fn stream<I, F, Fut, R, E>(
        &self,
        inputs: I,
        f: F,
    ) -> impl Stream<Item = (usize, Result<R, ItemError<E>>)> + Unpin + use<I, F, Fut, R, E>
    where
        I: IntoInputs,
        F: FnMut(I::Item) -> Fut,
        Fut: Future<Output = Result<R, E>>,
    {
        let queue = Queue::new(self.settings.ordered, self.settings.limit.get());
        ItemStream::new(self.driver(inputs, f), queue)
    }

    /// Hands every `(index, outcome)` to `consumer` (in input order if ordered), awaiting
    /// each consumer future before the next, while the items keep running: the consumer
    /// may wait on anything, even on work another in-flight item has to do.
    ///
    /// # Errors
    /// The [`Stop`] reason if the run stopped early (the consumer has then seen every
    /// started item, cancelled ones as [`ItemError::Cancelled`]).
    pub async fn for_each<I, F, Fut, R, E, C, CFut>(
        &self,
        inputs: I,
        f: F,
        consumer: C,
    ) -> Result<(), Stop>
    where
        I: IntoInputs,
        F: FnMut(I::Item) -> Fut,
        Fut: Future<Output = Result<R, E>>,
        C: FnMut(usize, Result<R, ItemError<E>>) -> CFut,
        CFut: Future<Output = ()>,
    {
        let queue = Queue::new(self.settings.ordered, self.settings.limit.get());
        for_each(self.driver(inputs, f), queue, consumer).await
    }
}

impl FanOut<Spawned> {
    fn driver<I, F, Fut, R, E>(&self, inputs: I, f: F) -> Driver<I::Source, F, SpawnedEngine<R, E>>
    where
        I: IntoInputs,
        F: FnMut(I::Item) -> Fut,
    {
        let runtime = Handle::try_current().ok();
        let missing = runtime.is_none() || runtime_missing(&self.settings, true);
        let engine = SpawnedEngine::new(runtime, self.settings.item_timeout);
        Driver::new(&self.settings, inputs.into_inputs(), f, engine, missing)
    }

    /// [`FanOut::run`] with every item as a tokio task.
    ///
    /// # Errors
    /// As [`FanOut::run`]; also [`Stop::NoRuntime`] outside a tokio runtime.
    ///
    /// Cancel safety: dropping this future aborts every in-flight task.
    pub async fn run<I, F, Fut, R, E>(&self, inputs: I, f: F) -> Result<Vec<R>, FanOutError<E, R>>
    where
        I: IntoInputs,
        F: FnMut(I::Item) -> Fut,
        Fut: Future<Output = Result<R, E>> + Send + 'static,
        R: Send + 'static,
        E: Send + 'static,
    {
        run_driver(&self.settings, self.driver(inputs, f)).await
    }

    /// [`FanOut::stream`] with every item as a tokio task. Items keep running while the
    /// consumer is busy, so the stream cannot snooze them.
    ///
    /// Outside a tokio runtime the stream ends at once without pulling any input; use
    /// [`run`](Self::run) or [`for_each`](Self::for_each) to get [`Stop::NoRuntime`].
    pub fn stream<I, F, Fut, R, E>(
        &self,
        inputs: I,
        f: F,
    ) -> impl Stream<Item = (usize, Result<R, ItemError<E>>)> + Unpin + use<I, F, Fut, R, E>
    where
        I: IntoInputs,
        F: FnMut(I::Item) -> Fut,
        Fut: Future<Output = Result<R, E>> + Send + 'static,
        R: Send + 'static,
        E: Send + 'static,
    {
        let queue = Queue::new(self.settings.ordered, self.settings.limit.get());
        ItemStream::new(self.driver(inputs, f), queue)
    }

    /// [`FanOut::for_each`] with every item as a tokio task.
    ///
    /// # Errors
    /// As [`FanOut::for_each`].
    pub async fn for_each<I, F, Fut, R, E, C, CFut>(
        &self,
        inputs: I,
        f: F,
        consumer: C,
    ) -> Result<(), Stop>
    where
        I: IntoInputs,
        F: FnMut(I::Item) -> Fut,
        Fut: Future<Output = Result<R, E>> + Send + 'static,
        R: Send + 'static,
        E: Send + 'static,
        C: FnMut(usize, Result<R, ItemError<E>>) -> CFut,
        CFut: Future<Output = ()>,
    {
        let queue = Queue::new(self.settings.ordered, self.settings.limit.get());
        for_each(self.driver(inputs, f), queue, consumer).await
    }
}
