//! A worker loop: consumers in a scope, a lock-free check between jobs, a stuck job that the
//! deadline aborts and the report names.
//!
//! `cargo run -p tidewater-shutdown --example worker`: it triggers itself after 2 seconds.

use std::time::Duration;

use tidewater_shutdown::{FailurePolicy, Shutdown, Signals};

#[tokio::main]
async fn main() -> Result<std::process::ExitCode, Box<dyn std::error::Error>> {
    let shutdown = Shutdown::builder()
        .grace(Duration::from_secs(3))
        .signals(Signals::default())
        .failure_policy(FailurePolicy::TriggerOnPanic)
        .progress_interval(Some(Duration::from_secs(1)))
        .build()?;
    let workers = shutdown.scope("workers")?;
    for id in 0..3 {
        workers.spawn(format!("consumer-{id}"), move |signal| async move {
            let mut done = 0_u64;
            // Finish the current job, then stop: the check is one atomic load.
            while !signal.is_triggered() {
                tokio::time::sleep(Duration::from_millis(100)).await; // one job
                done += 1;
            }
            eprintln!(
                "consumer-{id}: {done} jobs, stopping because {:?}",
                signal.reason()
            );
            Ok::<_, std::io::Error>(())
        })?;
    }
    // This one ignores its signal: the deadline aborts it and the report names it.
    workers.spawn("stuck-export", |_signal| std::future::pending::<()>())?;

    shutdown.trigger_after(Duration::from_secs(2))?;
    let report = shutdown.wait().await;
    eprintln!("{report}");
    for straggler in report.stragglers() {
        eprintln!(
            "held up the shutdown: {}/{}",
            straggler.scope, straggler.name
        );
    }
    Ok(report.process_exit_code())
}
