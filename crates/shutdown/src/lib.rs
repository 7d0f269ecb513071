//! Graceful shutdown for Tokio services: **one deadline, every task named, nothing silently
//! lost.**
//!
//! A [`Shutdown`] runs named tasks in nested [`Scope`]s, holds [`ShutdownGuard`]s for in-flight
//! work, and on a signal (or [`Shutdown::trigger`]) walks through ordered [`Phase`]s:
//!
//! 1. **Draining**: readiness turns false, new guards are refused, live guards are awaited.
//! 2. **Cancelling**: scopes are signalled newest first (children before parents), each
//!    scope's tasks awaited.
//! 3. **Aborting**: only if the grace period ran out (or a second signal came): remaining
//!    tasks are aborted and named.
//! 4. **Done**: [`Shutdown::wait`] returns a [`ShutdownReport`] with a line per task (scope
//!    path, outcome, time taken) and an exit code.
//!
//! A second `SIGINT`/`SIGTERM` skips to `Aborting`; a third exits with code 130. While the
//! shutdown waits, a line every few seconds names the tasks still running.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use tidewater_shutdown::{Outcome, Phase, Reason, Shutdown, Signals};
//!
//! let shutdown = Shutdown::builder()
//!     .grace(Duration::from_secs(25))
//!     .signals(Signals::none()) // a service would keep Signals::default()
//!     .build()?;
//! let http = shutdown.scope("http")?;
//! http.spawn("server", |signal| async move {
//!     signal.cancelled().await; // stop accepting, finish in-flight requests
//!     Ok::<_, std::io::Error>(())
//! })?;
//! shutdown.spawn("metrics-flusher", |signal| async move { signal.await })?;
//! shutdown.on_phase(Phase::Done, "flush-logs", || async {})?;
//!
//! shutdown.trigger(Reason::requested("example"));
//! let report = shutdown.wait().await;
//! assert!(report.tasks.iter().all(|t| t.outcome == Outcome::Completed));
//! assert_eq!(report.task("server").unwrap().scope, "root/http");
//! assert_eq!(report.exit_code(), 0);
//! # Ok(()) }
//! ```
//!
//! See `docs/shutdown.md` for Kubernetes and systemd settings and full server examples.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod builder;
#[doc(hidden)]
pub mod core;
mod driver;
mod error;
mod guard;
mod hooks;
mod live;
mod os_signals;
mod phase;
mod progress;
mod readiness;
mod reason;
mod report;
mod scope;
mod shard;
mod shared;
mod shutdown;
mod signal;
mod sync;

pub use builder::ShutdownBuilder;
pub use error::{BuildError, GuardError, SpawnError};
pub use guard::ShutdownGuard;
pub use os_signals::{FORCED_EXIT_CODE, Signals};
pub use phase::Phase;
pub use progress::{Progress, RunningTask};
pub use readiness::Readiness;
pub use reason::{Reason, SignalKind};
pub use report::{HookReport, Outcome, ShutdownReport, TaskOutput, TaskReport};
pub use shared::FailurePolicy;
pub use shutdown::{Scope, Shutdown};
pub use signal::ShutdownSignal;
pub use tokio_util::sync::CancellationToken;
