//! One scope: its cancellation token, its live tasks and the report lines of the ended ones.

use std::borrow::Cow;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures_util::FutureExt;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::error::SpawnError;
use crate::progress::RunningTask;
use crate::reason::Reason;
use crate::report::{Outcome, TaskOutput, TaskReport};
use crate::shared::{FailurePolicy, Shared};
use crate::signal::ShutdownSignal;
use crate::table::{Entry, Key, Table};

pub(crate) struct Tasks {
    table: Table,
    /// No task may start any more: the scope was cancelled.
    closed: bool,
    /// The deadline passed: anything that still slips in is aborted at once.
    aborting: bool,
    idle_waiter: bool,
    records: Vec<TaskReport>,
    completed_before_trigger: u64,
    early_failures: usize,
    records_dropped: u64,
}

pub(crate) struct ScopeShared {
    pub(crate) path: String,
    pub(crate) shared: Arc<Shared>,
    cancelled: AtomicBool,
    token: CancellationToken,
    tasks: Mutex<Tasks>,
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
            token,
            tasks: Mutex::new(Tasks {
                table: Table::default(),
                closed: false,
                aborting: false,
                idle_waiter: false,
                records: Vec::new(),
                completed_before_trigger: 0,
                early_failures: 0,
                records_dropped: 0,
            }),
            idle: Notify::new(),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Tasks> {
        self.tasks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    pub(crate) fn token(&self) -> &CancellationToken {
        &self.token
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Refuse new work unless the scope is open; used before registering a child scope.
    pub(crate) fn ensure_open(&self, tasks: &Tasks) -> Result<(), SpawnError> {
        if tasks.closed {
            Err(SpawnError::ScopeClosed {
                scope: self.path.clone(),
                phase: self.shared.core.phase(),
            })
        } else {
            Ok(())
        }
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
        let key = {
            let mut tasks = self.lock();
            self.ensure_open(&tasks)?;
            tasks.table.insert(Entry {
                name,
                started: Instant::now(),
                abort: None,
            })
        };
        let scope = Arc::clone(self);
        let signal = ShutdownSignal::new(Arc::clone(self));
        let handle = runtime.spawn(async move {
            let outcome = run_caught(async move { task(signal).await }).await;
            scope.finish(key, outcome);
        });
        let mut tasks = self.lock();
        if let Some(entry) = tasks.table.get_mut(key) {
            entry.abort = Some(handle.abort_handle());
        } else if tasks.aborting {
            // The deadline removed (and reported) the entry before its handle was stored.
            handle.abort();
        }
        Ok(())
    }

    fn finish(&self, key: Key, outcome: Outcome) {
        let ended = Instant::now();
        let triggered = self.shared.core.is_triggered();
        let mut tasks = self.lock();
        let Some(entry) = tasks.table.remove(key) else {
            return; // aborted at the deadline, already reported
        };
        let policy = self.shared.config.failure_policy;
        let escalate = match &outcome {
            Outcome::Panicked(_) => policy != FailurePolicy::Record,
            Outcome::Failed(_) => policy == FailurePolicy::TriggerOnFailure,
            _ => false,
        };
        let trigger = escalate.then(|| Reason::TaskFailed {
            name: entry.name.clone(),
            scope: self.path.clone(),
            message: match &outcome {
                Outcome::Failed(m) | Outcome::Panicked(m) => m.clone(),
                _ => String::new(),
            },
        });
        let line = TaskReport {
            name: entry.name,
            scope: self.path.clone(),
            elapsed: ended.saturating_duration_since(entry.started),
            outcome,
        };
        if triggered {
            tasks.records.push(line);
        } else if line.outcome.is_failure() {
            if tasks.early_failures < self.shared.config.failure_records_per_scope {
                tasks.early_failures += 1;
                tasks.records.push(line);
            } else {
                tasks.records_dropped += 1;
            }
        } else {
            tasks.completed_before_trigger += 1;
        }
        let wake = tasks.idle_waiter && tasks.table.live() == 0;
        if wake {
            tasks.idle_waiter = false;
        }
        drop(tasks);
        if wake {
            self.idle.notify_waiters();
        }
        if let Some(reason) = trigger {
            self.shared.trigger(reason);
        }
    }

    /// Resolves once no task of this scope is running.
    pub(crate) async fn idle(&self) {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut tasks = self.lock();
                if tasks.table.live() == 0 {
                    return;
                }
                tasks.idle_waiter = true;
            }
            notified.await;
        }
    }

    /// Close the scope to new tasks and signal its tasks.
    pub(crate) fn cancel(&self) {
        self.lock().closed = true;
        self.cancelled.store(true, Ordering::Release);
        self.token.cancel();
    }

    /// Cancel, then abort every task still running; each gets an `Aborted` line.
    pub(crate) fn abort_all(&self) {
        self.cancel();
        let now = Instant::now();
        let mut tasks = self.lock();
        tasks.aborting = true;
        for entry in tasks.table.drain() {
            if let Some(handle) = &entry.abort {
                handle.abort();
            }
            let line = TaskReport {
                name: entry.name,
                scope: self.path.clone(),
                outcome: Outcome::Aborted,
                elapsed: now.saturating_duration_since(entry.started),
            };
            tasks.records.push(line);
        }
        let wake = tasks.idle_waiter;
        tasks.idle_waiter = false;
        drop(tasks);
        if wake {
            self.idle.notify_waiters();
        }
    }

    /// Abort without reporting (the coordinator is gone, nobody will read a report).
    pub(crate) fn abort_silently(&self) {
        let mut tasks = self.lock();
        tasks.closed = true;
        tasks.aborting = true;
        for entry in tasks.table.drain() {
            if let Some(handle) = entry.abort {
                handle.abort();
            }
        }
    }

    pub(crate) fn live(&self) -> usize {
        self.lock().table.live()
    }

    pub(crate) fn running(&self, now: Instant, out: &mut Vec<RunningTask>) {
        let tasks = self.lock();
        let start = out.len();
        out.extend(tasks.table.iter().map(|e| RunningTask {
            scope: self.path.clone(),
            name: e.name.clone(),
            running_for: now.saturating_duration_since(e.started),
        }));
        out[start..].sort_by_key(|t| std::cmp::Reverse(t.running_for));
    }

    /// Move this scope's report lines and counters out.
    pub(crate) fn take_records(&self) -> (Vec<TaskReport>, u64, u64) {
        let mut tasks = self.lock();
        (
            std::mem::take(&mut tasks.records),
            tasks.completed_before_trigger,
            tasks.records_dropped,
        )
    }
}
