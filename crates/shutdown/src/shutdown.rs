//! The coordinator handle, its scopes, and the wait for the report.

use std::borrow::Cow;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::AbortHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::builder::ShutdownBuilder;
use crate::driver::drive;
use crate::error::{GuardError, SpawnError};
use crate::guard::ShutdownGuard;
use crate::hooks::Hook;
use crate::phase::Phase;
use crate::readiness::Readiness;
use crate::reason::Reason;
use crate::report::{Outcome, ShutdownReport, TaskOutput, TaskReport};
use crate::scope::{ScopeShared, run_caught};
use crate::shared::Shared;
use crate::signal::ShutdownSignal;

pub(crate) struct Inner {
    pub(crate) shared: Arc<Shared>,
    scopes: Mutex<Vec<Arc<ScopeShared>>>,
    hooks: Mutex<Vec<Hook>>,
    report: watch::Sender<Option<ShutdownReport>>,
    driver_started: AtomicBool,
    listener: Option<AbortHandle>,
}

impl Inner {
    pub(crate) fn scopes(&self) -> Vec<Arc<ScopeShared>> {
        self.scopes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn lock_hooks(&self) -> MutexGuard<'_, Vec<Hook>> {
        self.hooks.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Inner {
    /// Nothing outlives its coordinator silently: the last handle going away aborts every
    /// task still running and removes the signal listener.
    fn drop(&mut self) {
        if let Some(listener) = &self.listener {
            listener.abort();
        }
        for scope in self.scopes() {
            scope.abort_silently();
        }
        // A driver still waiting for the trigger sees the coordinator gone and ends.
        self.shared.wake_trigger_waiters();
    }
}

/// A graceful-shutdown coordinator: named tasks in scopes, guards, ordered phases, one
/// deadline, and a [`ShutdownReport`] that names every task that held things up.
///
/// Cloning is cheap (one `Arc`); every clone drives the same shutdown. When the last clone
/// (and the last [`Scope`]) is dropped, tasks still running are aborted.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// use std::time::Duration;
/// use tidewater_shutdown::{Outcome, Reason, Shutdown, Signals};
///
/// let shutdown = Shutdown::builder()
///     .grace(Duration::from_secs(10))
///     .signals(Signals::none()) // Signals::default() listens for SIGINT and SIGTERM
///     .build()
///     .unwrap();
/// shutdown.spawn("polite", |signal| async move { signal.cancelled().await }).unwrap();
/// shutdown.spawn("stubborn", |_signal| std::future::pending::<()>()).unwrap();
///
/// shutdown.trigger(Reason::requested("deploy"));
/// let report = shutdown.wait().await;
/// assert_eq!(report.task("polite").unwrap().outcome, Outcome::Completed);
/// let stragglers: Vec<_> = report.stragglers().map(|t| t.name.as_ref()).collect();
/// assert_eq!(stragglers, ["stubborn"]);
/// assert_eq!(report.exit_code(), 124);
/// # }
/// ```
#[derive(Clone)]
pub struct Shutdown {
    root: Scope,
}

impl std::fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shutdown")
            .field("phase", &self.phase())
            .field("reason", &self.reason())
            .finish_non_exhaustive()
    }
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown::new()
    }
}

/// A named group of tasks inside a [`Shutdown`], cancelled (and awaited) before the scope it
/// was created from. Cheap to clone.
#[derive(Clone)]
pub struct Scope {
    inner: Arc<Inner>,
    scope: Arc<ScopeShared>,
}

impl std::fmt::Debug for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scope")
            .field("path", &self.scope.path)
            .finish_non_exhaustive()
    }
}

impl Shutdown {
    /// A coordinator with the default settings and **no** signal handlers (so it needs no
    /// runtime to be created); trigger it with [`trigger`](Self::trigger). For signals use
    /// [`Shutdown::builder`].
    #[must_use]
    pub fn new() -> Shutdown {
        ShutdownBuilder::default().build_without_signals()
    }

    /// Configure grace period, signals, failure policy and logging.
    pub fn builder() -> ShutdownBuilder {
        ShutdownBuilder::default()
    }

    pub(crate) fn from_parts(shared: Arc<Shared>, listener: Option<AbortHandle>) -> Shutdown {
        let root = Arc::new(ScopeShared::new(
            "root".to_owned(),
            Arc::clone(&shared),
            CancellationToken::new(),
        ));
        let inner = Arc::new(Inner {
            shared,
            scopes: Mutex::new(vec![Arc::clone(&root)]),
            hooks: Mutex::new(Vec::new()),
            report: watch::Sender::new(None),
            driver_started: AtomicBool::new(false),
            listener,
        });
        Shutdown {
            root: Scope { inner, scope: root },
        }
    }

    fn shared(&self) -> &Arc<Shared> {
        &self.root.inner.shared
    }

    /// The root scope (path `root`): what [`spawn`](Self::spawn) on the coordinator uses.
    #[must_use]
    pub fn root(&self) -> &Scope {
        &self.root
    }

    /// Spawn a named task in the root scope; see [`Scope::spawn`].
    ///
    /// # Errors
    /// See [`Scope::spawn`].
    pub fn spawn<F, Fut>(
        &self,
        name: impl Into<Cow<'static, str>>,
        task: F,
    ) -> Result<(), SpawnError>
    where
        F: FnOnce(ShutdownSignal) -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: TaskOutput,
    {
        self.root.spawn(name, task)
    }

    /// A child scope of the root; see [`Scope::scope`].
    ///
    /// # Errors
    /// See [`Scope::scope`].
    pub fn scope(&self, name: &str) -> Result<Scope, SpawnError> {
        self.root.scope(name)
    }

    /// Hold the shutdown in `Draining` while the guard lives (an in-flight request, say).
    ///
    /// # Errors
    /// [`GuardError::ShuttingDown`] once shutdown was triggered: new work must not start.
    pub fn guard(&self, name: impl Into<Cow<'static, str>>) -> Result<ShutdownGuard, GuardError> {
        self.root.guard(name)
    }

    /// The root scope's signal, for code that is not a spawned task (an accept loop in `main`).
    #[must_use]
    pub fn signal(&self) -> ShutdownSignal {
        self.root.signal()
    }

    /// Run `hook` when `phase` begins (hooks of one phase run one after the other, in the
    /// order added). Hooks in `Draining` and `Cancelling` are bounded by the deadline; hooks
    /// in `Aborting` and `Done` by the abort timeout. Each gets a line in the report.
    ///
    /// # Errors
    /// [`SpawnError::PhasePassed`] for `Running` or a phase that has already begun.
    pub fn on_phase<F, Fut>(
        &self,
        phase: Phase,
        name: impl Into<Cow<'static, str>>,
        hook: F,
    ) -> Result<(), SpawnError>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: TaskOutput,
    {
        let mut hooks = self.root.inner.lock_hooks();
        if phase == Phase::Running || self.phase() >= phase {
            return Err(SpawnError::PhasePassed(phase));
        }
        hooks.push(Hook::new(phase, name.into(), move || {
            Box::pin(run_caught(async move { hook().await }))
        }));
        Ok(())
    }

    /// Start the shutdown with `reason`. Readiness turns false at once and new guards are
    /// refused. Returns `true` for the call that triggered, `false` if it had been already
    /// (the first reason is kept).
    #[allow(clippy::must_use_candidate)] // callers rarely care who won
    pub fn trigger(&self, reason: Reason) -> bool {
        self.shared().trigger(reason)
    }

    /// Trigger with [`Reason::Deadline`] after `after` (a maximum run time).
    ///
    /// # Errors
    /// [`SpawnError::NoRuntime`] outside a Tokio runtime.
    pub fn trigger_after(&self, after: Duration) -> Result<(), SpawnError> {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return Err(SpawnError::NoRuntime);
        };
        let shared = Arc::downgrade(self.shared());
        let at = Instant::now().checked_add(after);
        runtime.spawn(async move {
            let Some(at) = at else { return };
            tokio::time::sleep_until(at).await;
            if let Some(shared) = shared.upgrade() {
                shared.trigger(Reason::Deadline);
            }
        });
        Ok(())
    }

    /// Skip to `Aborting` now (what a second signal does). Triggers first if needed.
    /// Returns `true` for the first call.
    #[allow(clippy::must_use_candidate)] // callers rarely care who won
    pub fn force(&self) -> bool {
        self.shared().force()
    }

    /// Whether shutdown was triggered. One atomic load.
    #[must_use]
    pub fn is_triggered(&self) -> bool {
        self.shared().core.is_triggered()
    }

    /// The current phase.
    #[must_use]
    pub fn phase(&self) -> Phase {
        self.shared().core.phase()
    }

    /// Why shutdown was triggered, once it was.
    #[must_use]
    pub fn reason(&self) -> Option<Reason> {
        self.shared().core.reason()
    }

    /// Resolves once shutdown is triggered. Cancel safe.
    pub async fn triggered(&self) {
        self.shared().wait_triggered().await;
    }

    /// The readiness handle for health endpoints.
    #[must_use]
    pub fn readiness(&self) -> Readiness {
        Readiness::new(Arc::clone(self.shared()))
    }

    /// Wait for the trigger, drive the phases to `Done`, and return the report.
    ///
    /// The phases run in a task of their own, started by the first call: dropping this future
    /// (it is cancel safe) does not stop the shutdown, and every caller gets the same report.
    ///
    /// # Panics
    /// Outside a Tokio runtime (like `tokio::spawn`).
    pub async fn wait(&self) -> ShutdownReport {
        let inner = &self.root.inner;
        if !inner.driver_started.swap(true, Ordering::AcqRel) {
            // Until the trigger the driver holds the coordinator weakly: a `wait()` dropped
            // before it (one that lost a `select!`) must not keep it alive, or dropping the
            // last handle would no longer abort the running tasks. Once triggered, the
            // shutdown goes on whatever becomes of the handles.
            let held = inner.shared.core.is_triggered().then(|| Arc::clone(inner));
            let coordinator = Arc::downgrade(inner);
            let shared = Arc::clone(&inner.shared);
            tokio::spawn(async move {
                shared
                    .wait_triggered_or(|| coordinator.strong_count() == 0)
                    .await;
                let Some(driving) = held.or_else(|| coordinator.upgrade()) else {
                    return; // every handle is gone: its drop aborted the tasks
                };
                let report = drive(Arc::clone(&driving)).await;
                driving.report.send_replace(Some(report));
            });
        }
        let mut receiver = inner.report.subscribe();
        loop {
            if let Some(report) = receiver.borrow_and_update().as_ref() {
                return report.clone();
            }
            // The sender lives in `inner`, which `self` keeps alive: `changed` cannot fail.
            if receiver.changed().await.is_err() {
                continue;
            }
        }
    }

    /// Run `main` (the intake: an accept loop, a consumer) until shutdown is triggered, then
    /// drive the shutdown and return the report with `main`'s line in it.
    ///
    /// If `main` returns first, that triggers shutdown: [`Reason::MainFinished`] when it
    /// completed, [`Reason::TaskFailed`] (name `main`) when it failed or panicked. If shutdown
    /// is triggered first, `main` is dropped right away (draining stops intake) and its line
    /// says `Cancelled`; work that must finish belongs in tasks or under guards.
    ///
    /// Cancel safety: dropping this future drops `main` without triggering; once triggered,
    /// the shutdown goes on (see [`wait`](Self::wait)).
    ///
    /// # Panics
    /// Outside a Tokio runtime.
    pub async fn run_until_shutdown<F>(&self, main: F) -> ShutdownReport
    where
        F: Future,
        F::Output: TaskOutput,
    {
        let started = Instant::now();
        let outcome = tokio::select! {
            biased;
            () = self.triggered() => Outcome::Cancelled,
            outcome = run_caught(main) => outcome,
        };
        let line = TaskReport {
            name: Cow::Borrowed("main"),
            scope: self.root.scope.path.clone(),
            elapsed: Instant::now().saturating_duration_since(started),
            outcome,
        };
        match &line.outcome {
            Outcome::Failed(message) | Outcome::Panicked(message) => {
                self.trigger(Reason::TaskFailed {
                    name: line.name.clone(),
                    scope: line.scope.clone(),
                    message: message.clone(),
                });
            }
            _ => {
                self.trigger(Reason::MainFinished);
            }
        }
        let mut report = self.wait().await;
        report.main = Some(line);
        report
    }
}

impl Scope {
    /// This scope's path (`root/http/conns`).
    #[must_use]
    pub fn path(&self) -> &str {
        &self.scope.path
    }

    /// Spawn a named, tracked task. The closure gets this scope's [`ShutdownSignal`]. The task's
    /// outcome (returned `()`/`Ok`, `Err`, panic, or abort at the deadline) lands in the report;
    /// a failure may trigger shutdown, per [`FailurePolicy`](crate::FailurePolicy).
    ///
    /// Allowed until the scope is cancelled (tasks may spawn helpers while draining); after
    /// that, refused, so no task escapes the wait.
    ///
    /// # Errors
    /// [`SpawnError::ScopeClosed`] once the scope was cancelled, [`SpawnError::NoRuntime`]
    /// outside a Tokio runtime.
    pub fn spawn<F, Fut>(
        &self,
        name: impl Into<Cow<'static, str>>,
        task: F,
    ) -> Result<(), SpawnError>
    where
        F: FnOnce(ShutdownSignal) -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: TaskOutput,
    {
        self.scope.spawn(name.into(), task)
    }

    /// A child scope (path `<this>/<name>`). Scopes are cancelled newest first, so a child is
    /// signalled and awaited before its parent. Its token is a child of this scope's token.
    ///
    /// Scopes live as long as the coordinator: make one per component, not per request.
    ///
    /// # Errors
    /// [`SpawnError::ScopeClosed`] once this scope was cancelled.
    pub fn scope(&self, name: &str) -> Result<Scope, SpawnError> {
        let child = self.scope.while_open(|| {
            let child = Arc::new(ScopeShared::new(
                format!("{}/{name}", self.scope.path),
                Arc::clone(&self.inner.shared),
                self.scope.token().child_token(),
            ));
            self.inner
                .scopes
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(Arc::clone(&child));
            child
        })?;
        Ok(Scope {
            inner: Arc::clone(&self.inner),
            scope: child,
        })
    }

    /// A guard on the whole shutdown; see [`Shutdown::guard`].
    ///
    /// # Errors
    /// [`GuardError::ShuttingDown`] once shutdown was triggered.
    pub fn guard(&self, name: impl Into<Cow<'static, str>>) -> Result<ShutdownGuard, GuardError> {
        let shared = &self.inner.shared;
        let name = name.into();
        match shared.core.try_acquire_guard() {
            Ok(()) => Ok(ShutdownGuard::new(Arc::clone(shared), name)),
            Err(Phase::Running) => Err(GuardError::TooMany),
            Err(phase) => Err(GuardError::ShuttingDown { name, phase }),
        }
    }

    /// This scope's signal.
    #[must_use]
    pub fn signal(&self) -> ShutdownSignal {
        ShutdownSignal::new(Arc::clone(&self.scope))
    }

    /// Resolves when no task of this scope (children not included) is running. Cancel safe.
    pub async fn idle(&self) {
        self.scope.idle().await;
    }

    /// Tasks of this scope running now.
    #[must_use]
    pub fn running(&self) -> usize {
        self.scope.live()
    }
}
