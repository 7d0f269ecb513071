//! One scope: its cancellation token, its live tasks and the report lines of the ended ones.

use std::borrow::Cow;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};

use futures_util::FutureExt;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::error::SpawnError;
use crate::live::LiveCount;
use crate::progress::RunningTask;
use crate::reason::Reason;
use crate::report::{Outcome, TaskOutput, TaskReport};
use crate::shard::{Entry, Registry, Shard, TaskKey};
use crate::shared::{FailurePolicy, Shared};
use crate::signal::ShutdownSignal;

/// Keeps each shard on cache lines of its own.
#[repr(align(128))]
struct Padded(Shard);

const SHARDS: u8 = 16;
const UNASSIGNED: u8 = u8::MAX;

/// Hands each thread its shard, round robin.
static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static HOME_SHARD: std::cell::Cell<u8> = const { std::cell::Cell::new(UNASSIGNED) };
}

/// The shard this thread registers its spawns in, the same every time: the shard's lock and
/// registry stay in this thread's cache (the workers ending its tasks never take that lock).
#[inline]
fn home_shard() -> u8 {
    HOME_SHARD
        .try_with(|home| {
            if home.get() == UNASSIGNED {
                let next = NEXT_SHARD.fetch_add(1, Ordering::Relaxed) % usize::from(SHARDS);
                home.set(u8::try_from(next).unwrap_or(0));
            }
            home.get()
        })
        .unwrap_or(0) // a spawn from a thread-local destructor: any shard will do
}

/// Aligned so the `Arc`'s reference counts (bumped by every spawn and task end) sit on their
/// own cache lines, apart from the flags every task poll reads.
#[repr(align(128))]
pub(crate) struct ScopeShared {
    pub(crate) path: String,
    pub(crate) shared: Arc<Shared>,
    cancelled: AtomicBool,
    closed: AtomicBool,
    /// Set (before the shards are aborted) when the running tasks are aborted: a task's wrapper
    /// checks it before every poll and, once set, drops the task's future instead.
    aborted: AtomicBool,
    token: CancellationToken,
    shards: Box<[Padded]>,
    /// Running tasks, and how many `idle()` futures wait for none.
    live: LiveCount,
    early_failures: AtomicUsize,
    idle: Notify,
}

/// Extract the message of a panic payload (`&str` or `String`; anything else is named as such).
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}

/// Run a future to its end, turning a panic into [`Outcome::Panicked`].
pub(crate) async fn run_caught<Fut>(future: Fut) -> Outcome
where
    Fut: Future,
    Fut::Output: TaskOutput,
{
    match AssertUnwindSafe(future).catch_unwind().await {
        Ok(output) => output.into_outcome(),
        Err(payload) => Outcome::Panicked(panic_message(payload.as_ref())),
    }
}

impl ScopeShared {
    pub(crate) fn new(path: String, shared: Arc<Shared>, token: CancellationToken) -> ScopeShared {
        ScopeShared {
            path,
            shared,
            cancelled: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            aborted: AtomicBool::new(false),
            token,
            shards: (0..SHARDS).map(|_| Padded(Shard::new())).collect(),
            live: LiveCount::new(usize::from(SHARDS)),
            early_failures: AtomicUsize::new(0),
            idle: Notify::new(),
        }
    }

    fn shard(&self, index: u8) -> &Shard {
        &self.shards[usize::from(index)].0
    }

    /// Each shard with its registry locked, one at a time.
    fn each_shard(&self) -> impl Iterator<Item = (&Shard, crate::sync::MutexGuard<'_, Registry>)> {
        self.shards
            .iter()
            .map(|padded| (&padded.0, padded.0.lock()))
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    pub(crate) fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// [`abort_all`](Self::abort_all) (or [`abort_silently`](Self::abort_silently)) has begun.
    pub(crate) fn is_aborted(&self) -> bool {
        self.aborted.load(Ordering::Acquire)
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    fn closed_error(&self) -> SpawnError {
        SpawnError::ScopeClosed {
            scope: self.path.clone(),
            phase: self.shared.core.phase(),
        }
    }

    /// Run `register` while this scope provably stays open (its first shard is locked, and
    /// [`cancel`](Self::cancel) closes that shard first).
    pub(crate) fn while_open<T>(&self, register: impl FnOnce() -> T) -> Result<T, SpawnError> {
        let first = self.shard(0).lock();
        if first.closed {
            return Err(self.closed_error());
        }
        let value = register();
        drop(first);
        Ok(value)
    }

    pub(crate) fn spawn<F, Fut>(
        self: &Arc<Self>,
        name: Cow<'static, str>,
        task: F,
    ) -> Result<(), SpawnError>
    where
        F: FnOnce(ShutdownSignal) -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: TaskOutput,
    {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return Err(SpawnError::NoRuntime);
        };
        let shard = home_shard();
        // One short critical section per spawn, on a lock this thread keeps to itself; the
        // runtime's spawn outside it. Counted inside it, so a `cancel` (which closes every
        // shard under its lock) is followed by `idle()` seeing every task it let in.
        let key = {
            let home = self.shard(shard);
            let mut registry = home.lock();
            if registry.closed {
                return Err(self.closed_error());
            }
            let key = home.insert(&mut registry, name, Instant::now());
            // Not closed, so `None` would need 2^38 tasks running in this shard: memory runs
            // out long before.
            let Some(key) = key else {
                return Err(self.closed_error());
            };
            self.live.started(usize::from(shard));
            key
        };
        let mut slot = TaskSlot {
            scope: Arc::clone(self),
            shard,
            key,
            open: true,
            registered: false,
        };
        // No `JoinHandle` is kept (dropping it at once is Tokio's cheap path): an abort is
        // the `aborted` flag plus a wake-up of the waker the task left in its entry. The
        // future is kept small (Tokio moves it by value, twice): the slot is borrowed by the
        // poll hook, not moved into it, and the task's closure is stored once. The signal is
        // made by the worker at the first poll, which keeps the spawning thread's work short.
        let fut = async move {
            if slot.scope.aborted.load(Ordering::Acquire) {
                slot.aborted(); // before it ran
                return;
            }
            let signal = ShutdownSignal::new(Arc::clone(&slot.scope));
            // Calling the closure may panic too: that is the task's panic, not an abort.
            let run = match std::panic::catch_unwind(AssertUnwindSafe(move || task(signal))) {
                Ok(future) => AssertUnwindSafe(future).catch_unwind(),
                Err(payload) => {
                    slot.finish(Outcome::Panicked(panic_message(payload.as_ref())));
                    return;
                }
            };
            let mut run = std::pin::pin!(run);
            std::future::poll_fn(|cx| slot.poll(run.as_mut(), cx)).await;
        };
        drop(runtime.spawn(fut));
        Ok(())
    }

    /// Leave `waker` with the task so an abort can wake it. `false`: the task was aborted
    /// (and reported), so it must stop now.
    fn register_waker(&self, shard: u8, key: TaskKey, waker: &Waker) -> bool {
        let shard = self.shard(shard);
        shard.set_waker(&mut shard.lock(), key, waker)
    }

    /// `n` tasks stopped running: wake `idle()` waiters if none is left.
    fn ended(&self, n: usize) {
        if self.live.ended(usize::from(home_shard()), n) {
            self.idle.notify_waiters();
        }
    }

    fn finish(&self, shard: u8, key: TaskKey, outcome: Outcome) {
        let triggered = self.shared.core.is_triggered();
        // Tasks that complete before the trigger are only counted: skip the clock read.
        // Failures, and tasks the runtime dropped unfinished, are always worth a line.
        let noteworthy = triggered || outcome.is_failure() || outcome == Outcome::Aborted;
        let shard = self.shard(shard);
        if !noteworthy {
            // No lock: the word flips, the shard's sweep counts it later.
            if shard.end_quietly(key) {
                self.ended(1);
            }
            return; // else aborted at the deadline, already reported
        }
        let ended = Instant::now();
        let mut registry = shard.lock();
        let Some(Entry { name, started, .. }) = shard.end(&mut registry, key) else {
            return; // aborted at the deadline, already reported
        };
        let policy = self.shared.config.failure_policy;
        let escalate = match &outcome {
            Outcome::Panicked(_) => policy != FailurePolicy::Record,
            Outcome::Failed(_) => policy == FailurePolicy::TriggerOnFailure,
            _ => false,
        };
        let trigger = escalate.then(|| Reason::TaskFailed {
            name: name.clone(),
            scope: self.path.clone(),
            message: match &outcome {
                Outcome::Failed(m) | Outcome::Panicked(m) => m.clone(),
                _ => String::new(),
            },
        });
        let keep = triggered
            || self.early_failures.fetch_add(1, Ordering::Relaxed)
                < self.shared.config.failure_records_per_scope;
        if keep {
            let line = TaskReport {
                name,
                scope: self.path.clone(),
                elapsed: ended.saturating_duration_since(started),
                outcome,
            };
            registry.records.push((ended, line));
        } else {
            registry.records_dropped += 1;
        }
        drop(registry);
        // After the line is in: whoever sees the scope idle finds it.
        self.ended(1);
        if let Some(reason) = trigger {
            self.shared.trigger(reason);
        }
    }

    /// Resolves once no task of this scope is running. Cancel safe.
    pub(crate) async fn idle(&self) {
        /// Un-registers the waiter however the future ends.
        struct Waiting<'a>(&'a LiveCount);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.wait_ends();
            }
        }
        // Announced before the count is read: the end that leaves none running sees the
        // waiter (see `LiveCount`).
        self.live.wait_begins();
        let _waiting = Waiting(&self.live);
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.live.none_running() {
                return;
            }
            notified.await;
        }
    }

    /// Close the scope to new tasks and signal its tasks.
    pub(crate) fn cancel(&self) {
        self.closed.store(true, Ordering::Release);
        for (shard, mut registry) in self.each_shard() {
            registry.closed = true;
            // Every task still running will leave a line: no regrowth while they all end.
            let running = shard.running(&registry).count();
            registry.records.reserve(running);
        }
        self.cancelled.store(true, Ordering::Release);
        self.token.cancel();
    }

    /// Cancel, then abort every task still running; each gets an `Aborted` line.
    pub(crate) fn abort_all(&self) {
        self.cancel();
        // Before the entries go: a task polled from here on drops its future; one that
        // registers its waker after the drain finds its entry gone and stops too.
        self.aborted.store(true, Ordering::Release);
        let now = Instant::now();
        let mut wake = Vec::new();
        let mut aborted = 0;
        for (shard, mut registry) in self.each_shard() {
            for entry in shard.abort(&mut registry) {
                aborted += 1;
                wake.extend(entry.waker);
                let line = TaskReport {
                    name: entry.name,
                    scope: self.path.clone(),
                    outcome: Outcome::Aborted,
                    elapsed: now.saturating_duration_since(entry.started),
                };
                registry.records.push((now, line));
            }
        }
        wake.into_iter().for_each(Waker::wake);
        self.ended(aborted);
    }

    /// Abort without reporting (the coordinator is gone, nobody will read a report).
    pub(crate) fn abort_silently(&self) {
        self.closed.store(true, Ordering::Release);
        self.aborted.store(true, Ordering::Release);
        let mut wake = Vec::new();
        let mut aborted = 0;
        for (shard, mut registry) in self.each_shard() {
            registry.closed = true;
            for entry in shard.abort(&mut registry) {
                aborted += 1;
                wake.extend(entry.waker);
            }
        }
        wake.into_iter().for_each(Waker::wake);
        self.ended(aborted);
    }

    pub(crate) fn live(&self) -> usize {
        self.live.count()
    }

    pub(crate) fn running(&self, now: Instant, out: &mut Vec<RunningTask>) {
        let start = out.len();
        for (shard, registry) in self.each_shard() {
            out.extend(shard.running(&registry).map(|(name, started)| RunningTask {
                scope: self.path.clone(),
                name: name.clone(),
                running_for: now.saturating_duration_since(started),
            }));
        }
        out[start..].sort_by_key(|t| std::cmp::Reverse(t.running_for));
    }

    /// Move this scope's report lines (in the order the tasks ended) and counters out.
    pub(crate) fn take_records(&self) -> (Vec<TaskReport>, u64, u64) {
        let (mut completed, mut dropped) = (0, 0);
        let mut runs = Vec::with_capacity(usize::from(SHARDS));
        for (shard, mut registry) in self.each_shard() {
            // Count the quiet ends not swept yet.
            shard.sweep(&mut registry);
            let mut run = std::mem::take(&mut registry.records);
            completed += registry.completed_before_trigger;
            dropped += registry.records_dropped;
            // Pushed in the order the tasks ended, give or take a race between two workers:
            // almost sorted already, which a stable sort finds in one pass.
            run.sort_by_key(|(ended, _)| *ended);
            runs.push(run.into_iter().peekable());
        }
        (merge_by_end(runs), completed, dropped)
    }
}

/// Merge the shards' sorted runs into one list in end order (earlier shard first on a tie, as
/// a stable sort of their concatenation would). Each line moves once; a heap of run heads
/// keeps it O(n log runs).
fn merge_by_end<I>(mut runs: Vec<std::iter::Peekable<I>>) -> Vec<TaskReport>
where
    I: Iterator<Item = (Instant, TaskReport)> + ExactSizeIterator,
{
    use std::cmp::Reverse;
    let mut merged = Vec::with_capacity(runs.iter().map(ExactSizeIterator::len).sum());
    let mut heads: std::collections::BinaryHeap<Reverse<(Instant, usize)>> = runs
        .iter_mut()
        .enumerate()
        .filter_map(|(at, run)| Some(Reverse((run.peek()?.0, at))))
        .collect();
    while let Some(Reverse((_, at))) = heads.pop() {
        let Some(run) = runs.get_mut(at) else { break };
        if let Some((_, line)) = run.next() {
            merged.push(line);
        }
        if let Some((ended, _)) = run.peek() {
            heads.push(Reverse((*ended, at)));
        }
    }
    merged
}

/// A tracked task's slot in its scope's shard, closed exactly once: by the task's own
/// outcome, or, if Tokio drops the task without finishing it (the runtime shutting down
/// drops unfinished and never-polled tasks alike), as `Aborted` — so no entry outlives its
/// task and a later `wait()` can never hang on a task that no longer exists.
struct TaskSlot {
    scope: Arc<ScopeShared>,
    /// The shard (`u8`: the slot is part of every task's future, which Tokio moves by value).
    shard: u8,
    key: TaskKey,
    open: bool,
    /// The task left its waker in its entry (its first `Pending`): the future is the Tokio
    /// task's own, so its waker never changes.
    registered: bool,
}

impl TaskSlot {
    /// One poll of the task: stop if the scope was aborted, else poll it, record its outcome
    /// when it ends, and leave the waker on its first `Pending`.
    fn poll<R, T>(&mut self, run: Pin<&mut R>, cx: &mut Context<'_>) -> Poll<()>
    where
        R: Future<Output = std::thread::Result<T>>,
        T: TaskOutput,
    {
        if self.scope.aborted.load(Ordering::Acquire) {
            self.aborted();
            return Poll::Ready(());
        }
        if let Poll::Ready(result) = run.poll(cx) {
            let outcome = match result {
                Ok(output) => output.into_outcome(),
                Err(payload) => Outcome::Panicked(panic_message(payload.as_ref())),
            };
            self.finish(outcome);
            return Poll::Ready(());
        }
        if !self.registered {
            if !self.scope.register_waker(self.shard, self.key, cx.waker()) {
                self.aborted(); // meanwhile
                return Poll::Ready(());
            }
            self.registered = true;
        }
        Poll::Pending
    }

    /// The scope was aborted: the entry is gone and already reported `Aborted`.
    fn aborted(&mut self) {
        self.open = false;
    }

    fn finish(&mut self, outcome: Outcome) {
        if std::mem::take(&mut self.open) {
            self.scope.finish(self.shard, self.key, outcome);
        }
    }
}

impl Drop for TaskSlot {
    fn drop(&mut self) {
        self.finish(Outcome::Aborted);
    }
}

#[cfg(all(test, not(tidewater_loom)))]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::Duration;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        /// The merge gives what a stable sort of the concatenated runs gives (ties included).
        #[test]
        fn merge_matches_a_stable_sort(runs in proptest::collection::vec(
            proptest::collection::vec(0u64..6, 0..12), 0..6,
        )) {
            let base = Instant::now();
            let mut all = Vec::new();
            let mut sorted_runs = Vec::new();
            for (r, run) in runs.iter().enumerate() {
                let mut run: Vec<(Instant, TaskReport)> = run
                    .iter()
                    .enumerate()
                    .map(|(i, &t)| {
                        let line = TaskReport {
                            name: Cow::Owned(format!("{r}.{i}")),
                            scope: "root".to_owned(),
                            outcome: Outcome::Completed,
                            elapsed: Duration::ZERO,
                        };
                        (base + Duration::from_millis(t), line)
                    })
                    .collect();
                run.sort_by_key(|(ended, _)| *ended);
                all.extend(run.iter().cloned());
                sorted_runs.push(run.into_iter().peekable());
            }
            all.sort_by_key(|(ended, _)| *ended);
            let want: Vec<_> = all.into_iter().map(|(_, line)| line.name).collect();
            let got: Vec<_> = merge_by_end(sorted_runs).into_iter().map(|l| l.name).collect();
            prop_assert_eq!(got, want);
        }
    }
}
