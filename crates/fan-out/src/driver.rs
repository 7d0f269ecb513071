//! The driver: pulls inputs, keeps the engine filled to the limit, applies the error
//! policy, the deadline and the cancellation token, and hands every outcome to a sink
//! (a collector for `run`, a queue for streams).

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use tokio::time::Sleep;
use tokio_util::sync::WaitForCancellationFutureOwned;

use crate::config::{ErrorPolicy, Settings};
use crate::engine::{Engine, Outcome, panicked};
use crate::error::{ItemError, Stop};
use crate::inputs::InputSource;

/// How many items one poll of the driver may start or poll before it yields to the
/// runtime (it wakes itself first), so a fan-out never hogs its worker thread.
const BUDGET: usize = 512;

/// Where the driver delivers outcomes.
pub(crate) trait Sink<R, E> {
    /// Whether an item with input index `index` may start now.
    fn has_room(&self, index: usize) -> bool;
    /// A finished item (success or a failure the policy reports).
    fn item(&mut self, index: usize, outcome: Outcome<R, E>);
    /// A failure dropped by [`ErrorPolicy::Skip`].
    fn skipped(&mut self, index: usize, error: ItemError<E>);
    /// An item cancelled because the run stopped.
    fn unfinished(&mut self, index: usize, stop: Stop);
}

/// See the module docs.
pub(crate) struct Driver<S, F, G> {
    inputs: S,
    inputs_done: bool,
    f: F,
    engine: G,
    limit: usize,
    policy: ErrorPolicy,
    next: usize,
    stop: Option<Stop>,
    finished: bool,
    deadline: Option<Pin<Box<Sleep>>>,
    cancel: Option<Pin<Box<WaitForCancellationFutureOwned>>>,
    last_waker: Option<Waker>,
}

impl<S, F, G> Driver<S, F, G> {
    /// A driver; `runtime_missing` makes it one that stops at once with
    /// [`Stop::NoRuntime`] (timers and spawning need a tokio runtime).
    pub(crate) fn new(
        settings: &Settings,
        inputs: S,
        f: F,
        engine: G,
        runtime_missing: bool,
    ) -> Self {
        if runtime_missing {
            let mut plain = settings.clone();
            plain.deadline = None;
            plain.cancel = None;
            let mut driver = Self::new(&plain, inputs, f, engine, false);
            driver.stop = Some(Stop::NoRuntime);
            driver.finished = true;
            return driver;
        }
        Self {
            inputs,
            inputs_done: false,
            f,
            engine,
            limit: settings.limit.get(),
            policy: settings.policy,
            next: 0,
            stop: None,
            finished: false,
            deadline: settings
                .deadline
                .map(|at| Box::pin(tokio::time::sleep_until(at))),
            cancel: settings
                .cancel
                .as_ref()
                .map(|token| Box::pin(token.clone().cancelled_owned())),
            last_waker: None,
        }
    }

    pub(crate) fn stop_reason(&self) -> Option<Stop> {
        self.stop
    }

    /// How many inputs were taken from the source.
    pub(crate) fn pulled(&self) -> usize {
        self.next
    }
}

fn route<R, E, K: Sink<R, E>>(
    policy: ErrorPolicy,
    stop: &mut Option<Stop>,
    sink: &mut K,
    index: usize,
    outcome: Outcome<R, E>,
) {
    match outcome {
        Ok(value) => sink.item(index, Ok(value)),
        Err(error) => match policy {
            ErrorPolicy::FailFast => {
                if stop.is_none() {
                    *stop = Some(Stop::FailFast { index });
                }
                sink.item(index, Err(error));
            }
            ErrorPolicy::CollectAll => sink.item(index, Err(error)),
            ErrorPolicy::Skip => sink.skipped(index, error),
        },
    }
}

impl<S, F, G, Fut, R, E> Driver<S, F, G>
where
    S: InputSource,
    F: FnMut(S::Item) -> Fut,
    Fut: Future<Output = Result<R, E>>,
    G: Engine<Fut, R, E>,
{
    fn register(&mut self, waker: &Waker) {
        // Re-registering the same waker skips the signal's lock: the common case.
        if self.last_waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
            self.engine.signal().begin_same();
        } else {
            self.engine.signal().begin(waker);
            self.last_waker = Some(waker.clone());
        }
    }

    /// Makes as much progress as possible. `Ready` once every input is done or the run
    /// stopped (then every started item has been reported to `sink`).
    pub(crate) fn poll_progress<K: Sink<R, E>>(
        &mut self,
        cx: &mut Context<'_>,
        sink: &mut K,
    ) -> Poll<()> {
        if self.finished {
            return Poll::Ready(());
        }
        self.register(cx.waker());
        if self.stop.is_none() {
            if self
                .deadline
                .as_mut()
                .is_some_and(|d| d.as_mut().poll(cx).is_ready())
            {
                self.stop = Some(Stop::Deadline);
            } else if self
                .cancel
                .as_mut()
                .is_some_and(|c| c.as_mut().poll(cx).is_ready())
            {
                self.stop = Some(Stop::Cancelled);
            }
        }
        let mut budget = BUDGET;
        loop {
            let Self {
                inputs,
                inputs_done,
                f,
                engine,
                limit,
                policy,
                next,
                stop,
                ..
            } = self;
            let policy = *policy;
            let mut progressed = false;
            if stop.is_none() {
                progressed |= engine.poll_woken(&mut budget, &mut |i, o| {
                    route(policy, stop, sink, i, o);
                });
            }
            while stop.is_none()
                && !*inputs_done
                && budget > 0
                && engine.in_flight() < *limit
                && sink.has_room(*next)
            {
                match inputs.poll_input(cx) {
                    Poll::Pending => break,
                    Poll::Ready(None) => *inputs_done = true,
                    Poll::Ready(Some(input)) => {
                        progressed = true;
                        budget -= 1;
                        let index = *next;
                        *next += 1;
                        match catch_unwind(AssertUnwindSafe(|| f(input))) {
                            Ok(fut) => engine.start(index, fut, &mut |i, o| {
                                route(policy, stop, sink, i, o);
                            }),
                            Err(payload) => {
                                route(policy, stop, sink, index, Err(panicked(&*payload)));
                            }
                        }
                    }
                }
            }
            if let Some(reason) = *stop {
                // Results that finished meanwhile still go through the policy (a skipped
                // failure stays skipped); the stop reason itself is already fixed.
                let mut fixed = Some(reason);
                engine.cancel_all(&mut |i, o| match o {
                    Some(o) => route(policy, &mut fixed, sink, i, o),
                    None => sink.unfinished(i, reason),
                });
                self.finished = true;
                return Poll::Ready(());
            }
            if *inputs_done && engine.in_flight() == 0 {
                self.finished = true;
                return Poll::Ready(());
            }
            if budget == 0 {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            if !progressed && engine.signal().try_park() {
                return Poll::Pending;
            }
        }
    }
}
