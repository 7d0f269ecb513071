//! Guards: "shutdown must wait for this" (an in-flight request, say).

use std::borrow::Cow;
use std::sync::Arc;

use crate::shared::Shared;

/// Holds the shutdown in [`Draining`](crate::Phase::Draining) while it lives.
///
/// Taken with [`Shutdown::guard`](crate::Shutdown::guard), which refuses once shutdown was
/// triggered: either a guard is admitted before the trigger and the drain waits for it, or it
/// is refused. The drain never finishes while an admitted guard lives (see the loom model
/// `guard_vs_trigger`). Create and drop are one atomic read-modify-write each.
///
/// Guards are counted, not listed: the report says how many outlived the deadline. For a
/// culprit with a name, do the work in a task ([`Shutdown::spawn`](crate::Shutdown::spawn)).
#[must_use = "the shutdown only waits while the guard is alive"]
pub struct ShutdownGuard {
    shared: Arc<Shared>,
    name: Cow<'static, str>,
}

impl std::fmt::Debug for ShutdownGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShutdownGuard")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl ShutdownGuard {
    pub(crate) fn new(shared: Arc<Shared>, name: Cow<'static, str>) -> ShutdownGuard {
        ShutdownGuard { shared, name }
    }

    /// The name it was taken with.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether shutdown was triggered: finish the current unit of work and let go.
    #[must_use]
    pub fn is_shutting_down(&self) -> bool {
        self.shared.core.is_triggered()
    }
}

impl Drop for ShutdownGuard {
    fn drop(&mut self) {
        self.shared.release_guard();
    }
}
