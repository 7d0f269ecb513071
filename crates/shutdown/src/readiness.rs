//! The readiness flag for health endpoints.

use std::sync::Arc;

use tokio::sync::watch;

use crate::shared::Shared;

/// Readiness for a health endpoint (a Kubernetes readiness probe, a load balancer check).
///
/// True from the start (unless the builder said otherwise) until shutdown is triggered, then
/// false for good: the load balancer stops sending traffic while the service drains.
///
/// ```
/// use tidewater_shutdown::{Reason, Shutdown};
///
/// let shutdown = Shutdown::new();
/// let ready = shutdown.readiness();
/// assert!(ready.is_ready());
/// shutdown.trigger(Reason::requested("deploy"));
/// assert!(!ready.is_ready());
/// assert!(!*ready.subscribe().borrow());
/// ```
#[derive(Clone)]
pub struct Readiness {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readiness")
            .field("ready", &self.is_ready())
            .finish()
    }
}

impl Readiness {
    pub(crate) fn new(shared: Arc<Shared>) -> Readiness {
        Readiness { shared }
    }

    /// The current readiness. One atomic load.
    #[must_use]
    pub fn is_ready(&self) -> bool {
        self.shared.is_ready()
    }

    /// A watch receiver that sees every change.
    #[must_use]
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.shared.subscribe_ready()
    }

    /// Set readiness (after warm-up, say, or while a dependency is down). Once shutdown was
    /// triggered readiness stays false; returns whether the value now equals `ready`.
    #[allow(clippy::must_use_candidate)] // the answer is only interesting after a trigger
    pub fn set_ready(&self, ready: bool) -> bool {
        self.shared.set_ready_inner(ready, false)
    }
}
