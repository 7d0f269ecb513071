//! What a task receives: the news that its scope is being cancelled.

use std::future::IntoFuture;
use std::sync::Arc;

use tokio_util::sync::{
    CancellationToken, WaitForCancellationFuture, WaitForCancellationFutureOwned,
};

use crate::phase::Phase;
use crate::reason::Reason;
use crate::scope::ScopeShared;

/// Handed to every task spawned by [`Shutdown::spawn`](crate::Shutdown::spawn): tells the task
/// that its scope is being cancelled and why.
///
/// It fires in the [`Cancelling`](Phase::Cancelling) phase, when the task's scope's turn comes
/// (newest scope first), not at the trigger: draining comes first.
///
/// - [`is_triggered`](Self::is_triggered) is one atomic load (no lock), for hot loops.
/// - [`cancelled`](Self::cancelled) (or `.await` on the signal itself) waits for it.
/// - [`token`](Self::token) hands a [`CancellationToken`] to libraries that take one.
/// - [`reason`](Self::reason) says why the shutdown happened.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use tidewater_shutdown::{Reason, Shutdown};
///
/// let shutdown = Shutdown::new();
/// shutdown.spawn("worker", |signal| async move {
///     let mut jobs = 0_u64;
///     while !signal.is_triggered() {
///         jobs += 1; // do one unit of work
///         tokio::task::yield_now().await;
///     }
///     assert_eq!(signal.reason(), Some(Reason::requested("deploy")));
/// }).unwrap();
/// shutdown.trigger(Reason::requested("deploy"));
/// assert!(shutdown.wait().await.is_clean());
/// # }
/// ```
#[derive(Clone)]
pub struct ShutdownSignal {
    scope: Arc<ScopeShared>,
}

impl std::fmt::Debug for ShutdownSignal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShutdownSignal")
            .field("scope", &self.scope.path)
            .field("triggered", &self.is_triggered())
            .finish()
    }
}

impl ShutdownSignal {
    pub(crate) fn new(scope: Arc<ScopeShared>) -> ShutdownSignal {
        ShutdownSignal { scope }
    }

    /// Whether this task's scope has been cancelled. Lock-free: a single atomic load.
    #[must_use]
    #[inline]
    pub fn is_triggered(&self) -> bool {
        self.scope.is_cancelled()
    }

    /// Wait until this task's scope is cancelled.
    ///
    /// Cancel safe: dropping the future loses nothing; a new one resolves just the same.
    pub fn cancelled(&self) -> WaitForCancellationFuture<'_> {
        self.scope.token().cancelled()
    }

    /// A child of the scope's token, for libraries that take a [`CancellationToken`]. It is
    /// cancelled with the scope; cancelling it yourself does not cancel the scope.
    #[must_use]
    pub fn token(&self) -> CancellationToken {
        self.scope.token().child_token()
    }

    /// Why shutdown was triggered (`None` while the service runs).
    #[must_use]
    pub fn reason(&self) -> Option<Reason> {
        self.scope.shared.core.reason()
    }

    /// The shutdown's current phase.
    #[must_use]
    pub fn phase(&self) -> Phase {
        self.scope.shared.core.phase()
    }

    /// The path of this task's scope (`root/http`).
    #[must_use]
    pub fn scope_path(&self) -> &str {
        &self.scope.path
    }
}

impl IntoFuture for ShutdownSignal {
    type Output = ();
    type IntoFuture = WaitForCancellationFutureOwned;

    /// Waiting on the signal itself: `signal.await`.
    fn into_future(self) -> Self::IntoFuture {
        self.scope.token().clone().cancelled_owned()
    }
}
