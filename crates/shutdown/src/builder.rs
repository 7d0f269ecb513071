//! Configuration of a [`Shutdown`].

use std::sync::Arc;
use std::time::Duration;

use crate::error::BuildError;
use crate::os_signals::{Signals, listen};
use crate::progress::{NoticeHook, Progress, ProgressHook, stderr_hook, stderr_notice};
use crate::shared::{Config, FailurePolicy, Shared};
use crate::shutdown::Shutdown;

/// Builds a [`Shutdown`]; from [`Shutdown::builder`].
///
/// | setting | default |
/// |---|---|
/// | [`grace`](Self::grace) | 30 s (Kubernetes' default grace period; leave a margin, see the docs) |
/// | [`signals`](Self::signals) | `SIGINT` + `SIGTERM` (Ctrl-C on Windows) |
/// | [`abort_timeout`](Self::abort_timeout) | 1 s |
/// | [`failure_policy`](Self::failure_policy) | [`FailurePolicy::Record`] |
/// | [`progress_interval`](Self::progress_interval) | 5 s, lines to stderr |
/// | [`failure_records_per_scope`](Self::failure_records_per_scope) | 256 |
#[must_use]
pub struct ShutdownBuilder {
    grace: Duration,
    abort_timeout: Duration,
    signals: Signals,
    failure_policy: FailurePolicy,
    progress_interval: Option<Duration>,
    progress: ProgressHook,
    notice: NoticeHook,
    failure_records_per_scope: usize,
    ready: bool,
}

impl std::fmt::Debug for ShutdownBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShutdownBuilder")
            .field("grace", &self.grace)
            .field("abort_timeout", &self.abort_timeout)
            .field("signals", &self.signals)
            .field("failure_policy", &self.failure_policy)
            .field("progress_interval", &self.progress_interval)
            .finish_non_exhaustive()
    }
}

impl Default for ShutdownBuilder {
    fn default() -> Self {
        ShutdownBuilder {
            grace: Duration::from_secs(30),
            abort_timeout: Duration::from_secs(1),
            signals: Signals::default(),
            failure_policy: FailurePolicy::Record,
            progress_interval: Some(Duration::from_secs(5)),
            progress: stderr_hook(),
            notice: stderr_notice(),
            failure_records_per_scope: 256,
            ready: true,
        }
    }
}

impl ShutdownBuilder {
    /// The one deadline: time from the trigger until remaining tasks are aborted.
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Which signals to listen for ([`Signals::none`] for none).
    pub fn signals(mut self, signals: Signals) -> Self {
        self.signals = signals;
        self
    }

    /// Budget for each `Aborting` and `Done` hook (they run after the deadline may have passed).
    pub fn abort_timeout(mut self, timeout: Duration) -> Self {
        self.abort_timeout = timeout;
        self
    }

    /// Whether a failed or panicking task triggers shutdown.
    pub fn failure_policy(mut self, policy: FailurePolicy) -> Self {
        self.failure_policy = policy;
        self
    }

    /// How often to log the tasks still running while shutdown waits; `None` for never.
    pub fn progress_interval(mut self, every: Option<Duration>) -> Self {
        self.progress_interval = every.filter(|d| !d.is_zero());
        self
    }

    /// Where progress lines go (default: `eprintln!` of [`Progress`]'s `Display`).
    pub fn on_progress(mut self, hook: impl Fn(&Progress) + Send + Sync + 'static) -> Self {
        self.progress = Arc::new(hook);
        self
    }

    /// Where one-off notices go ("received SIGTERM: ..."; default: stderr).
    pub fn on_notice(mut self, hook: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.notice = Arc::new(hook);
        self
    }

    /// How many failures before the trigger each scope keeps as report lines (the rest are
    /// counted in `records_dropped`), so a long-running service's memory stays bounded.
    pub fn failure_records_per_scope(mut self, max: usize) -> Self {
        self.failure_records_per_scope = max;
        self
    }

    /// Whether readiness starts true (default) or waits for [`Readiness::set_ready`](crate::Readiness::set_ready).
    pub fn ready_at_start(mut self, ready: bool) -> Self {
        self.ready = ready;
        self
    }

    fn shared(&mut self) -> Arc<Shared> {
        let shared = Shared::new(Config {
            grace: self.grace,
            abort_timeout: self.abort_timeout,
            failure_policy: self.failure_policy,
            progress_interval: self.progress_interval,
            progress: Arc::clone(&self.progress),
            notice: Arc::clone(&self.notice),
            failure_records_per_scope: self.failure_records_per_scope,
        });
        shared.set_ready_inner(self.ready, false);
        Arc::new(shared)
    }

    pub(crate) fn build_without_signals(mut self) -> Shutdown {
        let shared = self.shared();
        Shutdown::from_parts(shared, None)
    }

    /// Install the signal handlers and create the coordinator.
    ///
    /// # Errors
    /// [`BuildError::ZeroGrace`] for a zero grace period; [`BuildError::NoRuntime`] when
    /// signals are requested outside a Tokio runtime; [`BuildError::UnsupportedSignal`] or
    /// [`BuildError::Signal`] when a handler cannot be installed.
    pub fn build(mut self) -> Result<Shutdown, BuildError> {
        if self.grace.is_zero() {
            return Err(BuildError::ZeroGrace);
        }
        let shared = self.shared();
        let listener = listen(&self.signals, &shared)?;
        Ok(Shutdown::from_parts(shared, listener))
    }
}
