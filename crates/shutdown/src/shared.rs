//! State shared by every handle, task, guard and signal of one shutdown.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use crate::core::Core;
use crate::progress::{NoticeHook, ProgressHook};
use crate::reason::Reason;

/// What a failed or panicking task does to the rest of the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum FailurePolicy {
    /// Record the failure in the report; keep running (the default, like `tokio::spawn`).
    #[default]
    Record,
    /// A panic triggers shutdown with [`Reason::TaskFailed`]; errors are only recorded.
    TriggerOnPanic,
    /// An error or a panic triggers shutdown with [`Reason::TaskFailed`] (like Go's errgroup).
    TriggerOnFailure,
}

pub(crate) struct Config {
    pub(crate) grace: Duration,
    pub(crate) abort_timeout: Duration,
    pub(crate) failure_policy: FailurePolicy,
    pub(crate) progress_interval: Option<Duration>,
    pub(crate) progress: ProgressHook,
    pub(crate) notice: NoticeHook,
    pub(crate) failure_records_per_scope: usize,
}

pub(crate) struct Shared {
    pub(crate) core: Core,
    pub(crate) config: Config,
    triggered: Notify,
    drained: Notify,
    forced: Notify,
    triggered_at: Mutex<Option<Instant>>,
    ready: AtomicBool,
    ready_tx: watch::Sender<bool>,
}

/// Wait on `notify` until `done()` holds, without missing a notification between the check
/// and the wait (the `Notified` is enabled before `done` is read).
async fn wait_for(notify: &Notify, done: impl Fn() -> bool) {
    loop {
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if done() {
            return;
        }
        notified.await;
    }
}

impl Shared {
    pub(crate) fn new(config: Config) -> Shared {
        Shared {
            core: Core::new(),
            config,
            triggered: Notify::new(),
            drained: Notify::new(),
            forced: Notify::new(),
            triggered_at: Mutex::new(None),
            ready: AtomicBool::new(true),
            ready_tx: watch::Sender::new(true),
        }
    }

    pub(crate) fn trigger(&self, reason: Reason) -> bool {
        let won = {
            let mut at = self
                .triggered_at
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let won = self.core.trigger(reason);
            if won {
                *at = Some(Instant::now());
            }
            won
        };
        if won {
            self.set_ready_inner(false, true);
            self.triggered.notify_waiters();
            // A drain with no guard live must not wait for a release that never comes.
            self.drained.notify_waiters();
        }
        won
    }

    pub(crate) fn force(&self) -> bool {
        self.trigger(Reason::requested("shutdown forced"));
        let first = self.core.force();
        self.forced.notify_waiters();
        first
    }

    pub(crate) fn triggered_at(&self) -> Option<Instant> {
        *self
            .triggered_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn release_guard(&self) {
        if self.core.release_guard() {
            self.drained.notify_waiters();
        }
    }

    pub(crate) async fn wait_triggered(&self) {
        wait_for(&self.triggered, || self.core.is_triggered()).await;
    }

    /// Wait for the trigger or for `gone()` (checked again after each
    /// [`wake_trigger_waiters`](Self::wake_trigger_waiters)).
    pub(crate) async fn wait_triggered_or(&self, gone: impl Fn() -> bool) {
        wait_for(&self.triggered, || self.core.is_triggered() || gone()).await;
    }

    /// Wake every trigger waiter to look again (they re-check; nothing is triggered).
    pub(crate) fn wake_trigger_waiters(&self) {
        self.triggered.notify_waiters();
    }

    pub(crate) async fn wait_forced(&self) {
        wait_for(&self.forced, || self.core.is_forced()).await;
    }

    pub(crate) async fn wait_drained(&self) {
        wait_for(&self.drained, || self.core.guards_drained()).await;
    }

    pub(crate) fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// `force` is set only by the trigger: after it, readiness can never come back.
    pub(crate) fn set_ready_inner(&self, ready: bool, force: bool) -> bool {
        let _ = self.ready_tx.send_if_modified(|current| {
            if !force && self.core.is_triggered() {
                return false;
            }
            self.ready.store(ready, Ordering::Release);
            let changed = *current != ready;
            *current = ready;
            changed
        });
        self.is_ready() == ready
    }

    pub(crate) fn subscribe_ready(&self) -> watch::Receiver<bool> {
        self.ready_tx.subscribe()
    }
}
