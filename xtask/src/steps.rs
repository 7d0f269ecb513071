//! The checks of `cargo xtask test-all`: each prints a banner and its time; `--keep-going`
//! runs them all and lists what failed.

use std::env;
use std::fmt::Write as _;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::cli::Step;
use crate::workspace::{self, Workspace};
use crate::{bench, loom, publish, redis_server};

/// How a step ended when it did not fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Passed,
    /// The step could not run here; the reason is printed loudly and kept for the summary.
    Skipped(String),
}

/// One line of the final summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) step: &'static str,
    pub(crate) result: Result<Outcome, String>,
    pub(crate) elapsed: Duration,
}

fn flags_with(var: &str, extra: &str) -> String {
    match env::var(var) {
        Ok(existing) if !existing.trim().is_empty() => format!("{existing} {extra}"),
        _ => extra.to_string(),
    }
}

fn nextest_installed(ws: &Workspace) -> bool {
    ws.cargo()
        .args(["nextest", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn cargo_step(ws: &Workspace, args: &[&str]) -> Result<Outcome, String> {
    workspace::run(ws.cargo().args(args)).map(|()| Outcome::Passed)
}

/// Runs one step (without banner).
pub(crate) fn run_step(ws: &Workspace, step: Step) -> Result<Outcome, String> {
    match step {
        Step::Fmt => cargo_step(ws, &["fmt", "--all", "--", "--check"]),
        Step::Clippy => cargo_step(
            ws,
            &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--all-features",
                "--",
                "-D",
                "warnings",
            ],
        ),
        Step::Test => {
            let redis = redis_server::start()?;
            if nextest_installed(ws) {
                println!(
                    "cargo-nextest found: unit and integration tests through nextest, doc tests through cargo test"
                );
                workspace::run(redis.apply(ws.cargo().args([
                    "nextest",
                    "run",
                    "--workspace",
                    "--all-features",
                    "--no-fail-fast",
                ])))?;
                cargo_step(ws, &["test", "--doc", "--workspace", "--all-features"])
            } else {
                println!("cargo-nextest not installed: running everything through cargo test");
                workspace::run(redis.apply(ws.cargo().args([
                    "test",
                    "--workspace",
                    "--all-features",
                    "--no-fail-fast",
                ])))
                .map(|()| Outcome::Passed)
            }
        }
        Step::Doc => workspace::run(
            ws.cargo()
                .env("RUSTDOCFLAGS", flags_with("RUSTDOCFLAGS", "-D warnings"))
                .args(["doc", "--workspace", "--no-deps", "--all-features"]),
        )
        .map(|()| Outcome::Passed),
        Step::Loom => loom::run(ws, None),
        // `--bench '*'` selects bench targets only (`--benches` would re-run every lib's unit
        // tests); criterion runs each benchmark once when started in test mode.
        Step::BenchSmoke => {
            let redis = redis_server::start()?;
            workspace::run(redis.apply(ws.cargo().args([
                "test",
                "--workspace",
                "--all-features",
                "--bench",
                "*",
            ])))
            .map(|()| Outcome::Passed)
        }
        Step::DashboardCheck { fixtures } => bench::dashboard_check(ws, fixtures),
        Step::PublishCheck => publish::run(ws),
    }
}

fn banner(title: &str) {
    let line = "=".repeat(72usize.saturating_sub(title.len() + 5));
    println!("\n=== {title} {line}");
}

pub(crate) fn seconds(elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else {
        format!("{}m{:02}s", elapsed.as_secs() / 60, elapsed.as_secs() % 60)
    }
}

/// Runs `steps` in order with banners; stops at the first failure unless `keep_going`.
/// Returns the records of the steps that ran.
pub(crate) fn run_steps(ws: &Workspace, steps: &[Step], keep_going: bool) -> Vec<Record> {
    let mut records = Vec::new();
    for (i, &step) in steps.iter().enumerate() {
        banner(&format!("[{}/{}] {}", i + 1, steps.len(), step.name()));
        let start = Instant::now();
        let result = run_step(ws, step);
        let elapsed = start.elapsed();
        match &result {
            Ok(Outcome::Passed) => println!("--- {} passed in {}", step.name(), seconds(elapsed)),
            Ok(Outcome::Skipped(why)) => {
                println!("\n!!! {} SKIPPED: {why}\n", step.name());
            }
            Err(why) => println!(
                "\n!!! {} FAILED after {}: {why}",
                step.name(),
                seconds(elapsed)
            ),
        }
        let failed = result.is_err();
        records.push(Record {
            step: step.name(),
            result,
            elapsed,
        });
        if failed && !keep_going {
            break;
        }
    }
    records
}

/// The summary table printed after `test-all`.
pub(crate) fn summary(records: &[Record], planned: usize) -> String {
    let mut out =
        String::from("\n=== summary ==========================================================\n");
    let _ = writeln!(out, "{:<17} {:<8} {:>8}  note", "step", "result", "time");
    for record in records {
        let (result, note) = match &record.result {
            Ok(Outcome::Passed) => ("ok", String::new()),
            Ok(Outcome::Skipped(why)) => ("SKIPPED", why.clone()),
            Err(why) => ("FAILED", why.clone()),
        };
        let _ = writeln!(
            out,
            "{:<17} {:<8} {:>8}  {note}",
            record.step,
            result,
            seconds(record.elapsed)
        );
    }
    let total: Duration = records.iter().map(|r| r.elapsed).sum();
    let failed = records.iter().filter(|r| r.result.is_err()).count();
    let skipped = records
        .iter()
        .filter(|r| matches!(r.result, Ok(Outcome::Skipped(_))))
        .count();
    let not_run = planned - records.len();
    let _ = write!(
        out,
        "test-all: {} of {planned} steps ok",
        records.len() - failed - skipped
    );
    if failed > 0 {
        let _ = write!(out, ", {failed} FAILED");
    }
    if skipped > 0 {
        let _ = write!(out, ", {skipped} skipped");
    }
    if not_run > 0 {
        let _ = write!(
            out,
            ", {not_run} not run (stopped at the first failure; --keep-going runs all)"
        );
    }
    let _ = writeln!(out, " in {}", seconds(total));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(step: &'static str, result: Result<Outcome, String>, secs: u64) -> Record {
        Record {
            step,
            result,
            elapsed: Duration::from_secs(secs),
        }
    }

    #[test]
    fn summary_lists_every_result_and_counts() {
        let records = [
            record("fmt", Ok(Outcome::Passed), 1),
            record("loom", Ok(Outcome::Skipped("no models".into())), 2),
            record("test", Err("tests failed".into()), 75),
        ];
        let text = summary(&records, 8);
        assert!(text.contains("fmt               ok"));
        assert!(text.contains("SKIPPED") && text.contains("no models"));
        assert!(text.contains("FAILED") && text.contains("tests failed"));
        assert!(text.contains("1m15s"));
        assert!(
            text.contains("1 of 8 steps ok, 1 FAILED, 1 skipped, 5 not run"),
            "{text}"
        );
    }

    #[test]
    fn times_read_naturally() {
        assert_eq!(seconds(Duration::from_millis(1500)), "1.5s");
        assert_eq!(seconds(Duration::from_secs(125)), "2m05s");
    }
}
