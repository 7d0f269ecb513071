//! Operating-system signals: first one triggers, second skips to `Aborting`, third exits.

use std::future::poll_fn;
use std::sync::Arc;
use std::task::Poll;

use tokio::task::AbortHandle;

use crate::error::BuildError;
use crate::reason::{Reason, SignalKind};
use crate::shared::Shared;

/// The exit code of the process when a third signal arrives (128 + `SIGINT`).
pub const FORCED_EXIT_CODE: i32 = 130;

/// Which signals a [`Shutdown`](crate::Shutdown) listens for.
///
/// The default is `SIGINT` and `SIGTERM` on Unix, Ctrl-C on Windows. Whatever the set, the
/// first signal triggers shutdown, a second skips to [`Aborting`](crate::Phase::Aborting), a
/// third exits the process with code 130 at once. Handlers stay installed for the life of the
/// process (Tokio never removes them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signals {
    kinds: Vec<SignalKind>,
}

impl Default for Signals {
    fn default() -> Self {
        #[cfg(unix)]
        let kinds = vec![SignalKind::Interrupt, SignalKind::Terminate];
        #[cfg(windows)]
        let kinds = vec![SignalKind::CtrlC];
        #[cfg(not(any(unix, windows)))]
        let kinds = Vec::new();
        Signals { kinds }
    }
}

impl Signals {
    /// No signal handling: shutdown happens only through [`Shutdown::trigger`](crate::Shutdown::trigger).
    #[must_use]
    pub fn none() -> Signals {
        Signals { kinds: Vec::new() }
    }

    /// Also listen for `kind`.
    #[must_use]
    pub fn with(mut self, kind: SignalKind) -> Signals {
        if !self.kinds.contains(&kind) {
            self.kinds.push(kind);
        }
        self
    }

    /// The signals in the set.
    #[must_use]
    pub fn kinds(&self) -> &[SignalKind] {
        &self.kinds
    }
}

/// Hand `line` to the notice hook. The hook is the user's: if it panics, that notice is lost,
/// not the listener (whose next signal must still escalate) nor the third signal's exit.
fn notice(shared: &Shared, line: &str) {
    let hook = &shared.config.notice;
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| hook(line)));
}

/// What one more signal does, given how far the shutdown got.
pub(crate) fn on_signal(shared: &Shared, kind: SignalKind) {
    if shared.trigger(Reason::Signal(kind)) {
        notice(
            shared,
            &format!("received {kind}: shutting down gracefully (send it again to skip to abort)"),
        );
    } else if shared.force() {
        notice(
            shared,
            &format!("received {kind} again: aborting remaining tasks (once more exits at once)"),
        );
    } else {
        notice(
            shared,
            &format!("received {kind} a third time: exiting with code {FORCED_EXIT_CODE}"),
        );
        std::process::exit(FORCED_EXIT_CODE);
    }
}

#[cfg(unix)]
mod platform {
    use std::task::{Context, Poll};

    use tokio::signal::unix::{Signal, SignalKind as Raw, signal};

    use crate::error::BuildError;
    use crate::reason::SignalKind;

    pub(super) struct Stream(Signal);

    pub(super) fn register(kind: SignalKind) -> Result<Stream, BuildError> {
        let raw = match kind {
            SignalKind::Interrupt => Raw::interrupt(),
            SignalKind::Terminate => Raw::terminate(),
            SignalKind::Hangup => Raw::hangup(),
            SignalKind::Quit => Raw::quit(),
            _ => return Err(BuildError::UnsupportedSignal(kind)),
        };
        signal(raw)
            .map(Stream)
            .map_err(|source| BuildError::Signal { kind, source })
    }

    impl Stream {
        pub(super) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Option<()>> {
            self.0.poll_recv(cx)
        }
    }
}

#[cfg(windows)]
mod platform {
    use std::task::{Context, Poll};

    use tokio::signal::windows;

    use crate::error::BuildError;
    use crate::reason::SignalKind;

    pub(super) enum Stream {
        C(windows::CtrlC),
        Break(windows::CtrlBreak),
        Close(windows::CtrlClose),
        Shutdown(windows::CtrlShutdown),
    }

    pub(super) fn register(kind: SignalKind) -> Result<Stream, BuildError> {
        let stream = match kind {
            SignalKind::CtrlC => windows::ctrl_c().map(Stream::C),
            SignalKind::CtrlBreak => windows::ctrl_break().map(Stream::Break),
            SignalKind::CtrlClose => windows::ctrl_close().map(Stream::Close),
            SignalKind::CtrlShutdown => windows::ctrl_shutdown().map(Stream::Shutdown),
            _ => return Err(BuildError::UnsupportedSignal(kind)),
        };
        stream.map_err(|source| BuildError::Signal { kind, source })
    }

    impl Stream {
        pub(super) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Option<()>> {
            match self {
                Stream::C(s) => s.poll_recv(cx),
                Stream::Break(s) => s.poll_recv(cx),
                Stream::Close(s) => s.poll_recv(cx),
                Stream::Shutdown(s) => s.poll_recv(cx),
            }
        }
    }
}

#[cfg(not(any(unix, windows)))]
mod platform {
    use std::task::{Context, Poll};

    use crate::error::BuildError;
    use crate::reason::SignalKind;

    pub(super) enum Stream {}

    pub(super) fn register(kind: SignalKind) -> Result<Stream, BuildError> {
        Err(BuildError::UnsupportedSignal(kind))
    }

    impl Stream {
        pub(super) fn poll(&mut self, _: &mut Context<'_>) -> Poll<Option<()>> {
            match *self {}
        }
    }
}

/// Install the handlers and start the listener task. `None` when the set is empty.
pub(crate) fn listen(
    signals: &Signals,
    shared: &Arc<Shared>,
) -> Result<Option<AbortHandle>, BuildError> {
    if signals.kinds.is_empty() {
        return Ok(None);
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return Err(BuildError::NoRuntime);
    };
    let _entered = runtime.enter();
    let mut streams = Vec::with_capacity(signals.kinds.len());
    for &kind in &signals.kinds {
        streams.push((kind, platform::register(kind)?));
    }
    let shared = Arc::clone(shared);
    let task = runtime.spawn(async move {
        loop {
            let kind = poll_fn(|cx| {
                for (kind, stream) in &mut streams {
                    if let Poll::Ready(Some(())) = stream.poll(cx) {
                        return Poll::Ready(*kind);
                    }
                }
                Poll::Pending
            })
            .await;
            on_signal(&shared, kind);
        }
    });
    Ok(Some(task.abort_handle()))
}

#[cfg(all(test, not(tidewater_loom)))]
mod tests {
    use super::*;
    use crate::shared::{Config, FailurePolicy};
    use std::time::Duration;

    /// A notice hook that panics must not take the listener down with it: the next signal
    /// still escalates (the listener runs `on_signal` in its loop, so a panic there ended it).
    #[test]
    fn a_panicking_notice_hook_never_stops_the_escalation() {
        let shared = Shared::new(Config {
            grace: Duration::from_secs(1),
            abort_timeout: Duration::from_secs(1),
            failure_policy: FailurePolicy::Record,
            progress_interval: None,
            progress: Arc::new(|_| {}),
            notice: Arc::new(|_| panic!("notice hook bug")),
            failure_records_per_scope: 1,
        });
        on_signal(&shared, SignalKind::Terminate);
        assert!(shared.core.is_triggered());
        on_signal(&shared, SignalKind::Terminate);
        assert!(shared.core.is_forced());
    }
}
