//! `cargo xtask bench` and the dashboard: run the criterion benches, read their results, and
//! write `target/dashboard/{index.html, bench.json, summary.md}`.

pub(crate) mod html;
pub(crate) mod machine;
pub(crate) mod render_check;
pub(crate) mod report;
pub(crate) mod results;
pub(crate) mod text;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use crate::cli::BenchOptions;
use crate::redis_server;
use crate::steps::{Outcome, seconds};
use crate::workspace::{self, Workspace};
use report::{Baseline, Report};

/// Criterion's output directory: `$CRITERION_HOME`, else `<target dir>/criterion` (the
/// rule criterion itself follows).
fn criterion_dir(ws: &Workspace) -> PathBuf {
    std::env::var_os("CRITERION_HOME")
        .map_or_else(|| ws.target_dir.join("criterion"), PathBuf::from)
}

fn baseline_path(ws: &Workspace, name: &str) -> PathBuf {
    ws.target_dir
        .join("bench-baselines")
        .join(format!("{name}.json"))
}

fn fixtures_dir(ws: &Workspace) -> PathBuf {
    ws.root.join("xtask").join("tests").join("fixtures")
}

/// The criterion arguments for a run: `--quick` measures until the estimate is stable
/// (at most `--measurement-time` per benchmark) instead of a fixed 100 samples.
pub(crate) fn criterion_args(options: &BenchOptions) -> Vec<String> {
    let mut args = vec!["--noplot".to_string()];
    if options.quick {
        args.extend(
            [
                "--quick",
                "--warm-up-time",
                "0.5",
                "--measurement-time",
                "1",
            ]
            .map(String::from),
        );
    }
    if let Some(filter) = &options.filter {
        args.push(filter.clone());
    }
    args
}

/// The distinct bench target names, in first-seen order.
pub(crate) fn bench_names<'a>(targets: &[(&str, &'a str)]) -> Vec<&'a str> {
    let mut names = Vec::new();
    for (_, name) in targets {
        if !names.contains(name) {
            names.push(*name);
        }
    }
    names
}

fn load_baseline(path: &Path, name: &str) -> Result<Baseline, String> {
    let text = fs::read_to_string(path).map_err(|e| {
        format!("cannot read baseline `{name}` at {} ({e}); save one first with `cargo xtask bench --save {name}`", path.display())
    })?;
    Baseline::parse(name, &text)
}

fn write_file(path: &Path, contents: &str) -> Result<(), String> {
    fs::write(path, contents).map_err(|e| format!("writing {}: {e}", path.display()))
}

/// Writes the three dashboard files into `dir`.
fn write_dashboard(dir: &Path, report: &Report) -> Result<(), String> {
    fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    write_file(&dir.join("index.html"), &html::page(report))?;
    write_file(&dir.join("bench.json"), &text::bench_json(report))?;
    write_file(&dir.join("summary.md"), &text::summary_markdown(report))?;
    println!(
        "dashboard: {} ({} area(s) compared, {} case(s)); also bench.json and summary.md",
        dir.join("index.html").display(),
        report.areas.len(),
        report.all_cases().count()
    );
    Ok(())
}

/// Reads criterion results and assembles the report.
fn build_report(
    criterion: &Path,
    since: Option<SystemTime>,
    quick: bool,
    baseline: Option<Baseline>,
) -> Result<Report, String> {
    let results = results::read(criterion, since).map_err(|e| e.to_string())?;
    for problem in &results.problems {
        println!("warning: skipped a result: {problem}");
    }
    let mut report = Report::new(
        &results.cases,
        machine::machine(),
        machine::now(),
        machine::toolchain(),
    );
    // A dashboard rebuilt from disk does not know how the benches ran: quick mode takes two
    // samples per benchmark, so that tells.
    report.quick = quick
        || results
            .cases
            .iter()
            .all(|c| c.samples.is_some_and(|n| n <= 2));
    report.notes = results.problems;
    report.baseline = baseline;
    Ok(report)
}

/// Builds the dashboard from xtask's fixture results into `<target>/dashboard-fixtures`.
fn build_fixture_dashboard(ws: &Workspace) -> Result<PathBuf, String> {
    let fixtures = fixtures_dir(ws);
    let baseline = load_baseline(&fixtures.join("baseline.json"), "fixture-baseline")?;
    let mut report = build_report(&fixtures.join("criterion"), None, false, Some(baseline))?;
    report.notes.push("built from xtask's fixture files (tests/fixtures): these numbers are made up, not measured".into());
    let dir = ws.target_dir.join("dashboard-fixtures");
    write_dashboard(&dir, &report)?;
    Ok(dir)
}

/// `cargo xtask dashboard-check [--fixtures]`.
pub(crate) fn dashboard_check(ws: &Workspace, fixtures: bool) -> Result<Outcome, String> {
    let dir = if fixtures {
        build_fixture_dashboard(ws)?
    } else {
        ws.target_dir.join("dashboard")
    };
    render_check::check(&dir)
}

/// `cargo xtask dashboard [--compare NAME] [--fixtures]`: rebuild from results on disk.
pub(crate) fn dashboard(
    ws: &Workspace,
    compare: Option<&str>,
    fixtures: bool,
) -> Result<(), String> {
    if fixtures {
        build_fixture_dashboard(ws)?;
        return Ok(());
    }
    let baseline = compare
        .map(|name| load_baseline(&baseline_path(ws, name), name))
        .transpose()?;
    let report = build_report(&criterion_dir(ws), None, false, baseline)?;
    write_dashboard(&ws.target_dir.join("dashboard"), &report)
}

/// `cargo xtask bench`: every bench target of the workspace, then the dashboard.
pub(crate) fn run(ws: &Workspace, options: &BenchOptions) -> Result<(), String> {
    let start = Instant::now();
    // Fail early on a bad --compare, before spending minutes on benches.
    let baseline = options
        .compare
        .as_deref()
        .map(|name| load_baseline(&baseline_path(ws, name), name))
        .transpose()?;
    let packages = ws.packages()?;
    let targets: Vec<(&str, &str)> = packages
        .iter()
        .flat_map(|p| {
            p.bench_targets
                .iter()
                .map(move |b| (p.name.as_str(), b.as_str()))
        })
        .collect();
    if targets.is_empty() {
        return Err("the workspace has no bench targets ([[bench]] with harness = false)".into());
    }
    println!(
        "{} bench target(s): {}",
        targets.len(),
        targets
            .iter()
            .map(|(p, b)| format!("{p}/{b}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    // Compile everything first in one cargo call, so the build uses every core. If some target
    // does not compile, carry on: each target below is then built (or fails) on its own, and
    // the dashboard shows whatever did run.
    if workspace::run(
        ws.cargo()
            .args(["bench", "--workspace", "--no-run", "--bench", "*"]),
    )
    .is_err()
    {
        println!("warning: not every bench target compiles; running the targets one by one");
    }
    // Results older than this run are left out of the dashboard (1 s for coarse file times).
    let since = SystemTime::now() - Duration::from_secs(1);
    let args = criterion_args(options);
    // The Redis-backed limiter is measured against a real server, started for the run.
    let redis = redis_server::start()?;
    let mut failed = Vec::new();
    // One cargo call per bench *name*, always with `--workspace`: features then resolve as in
    // the build above, so nothing recompiles (`-p <package>` would unify features per package
    // and rebuild the dependencies for each one). A name shared by two packages runs both.
    for name in bench_names(&targets) {
        let mut command = ws.cargo();
        command
            .args([
                "bench",
                "--workspace",
                "--no-fail-fast",
                "--bench",
                name,
                "--",
            ])
            .args(&args);
        if workspace::run(redis.apply(&mut command)).is_err() {
            let owners: Vec<String> = targets
                .iter()
                .filter(|(_, b)| *b == name)
                .map(|(p, b)| format!("{p}/{b}"))
                .collect();
            failed.extend(owners);
        }
    }
    let mut report = build_report(&criterion_dir(ws), Some(since), options.quick, baseline)?;
    if !failed.is_empty() {
        report.notes.push(format!(
            "bench target(s) failed, their results are missing or partial: {}",
            failed.join(", ")
        ));
    }
    let dir = ws.target_dir.join("dashboard");
    write_dashboard(&dir, &report)?;
    if let Some(name) = &options.save {
        let path = baseline_path(ws, name);
        let cases: Vec<_> = report.all_cases().map(|(c, _)| c.clone()).collect();
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)
                .map_err(|e| format!("creating {}: {e}", parent.display()))?;
        }
        write_file(
            &path,
            &Baseline::to_json(&cases, &report.date, &report.machine, options.quick),
        )?;
        println!(
            "saved baseline `{name}`: {} (compare later with --compare {name})",
            path.display()
        );
    }
    println!("\n{}", text::summary_markdown(&report));
    let regressions = report.regressions();
    if !regressions.is_empty() {
        println!(
            "{} regression(s) beyond the noise against the baseline (marked in the dashboard)",
            regressions.len()
        );
    }
    match render_check::check(&dir)? {
        Outcome::Passed => {}
        Outcome::Skipped(why) => println!("render check skipped: {why}"),
    }
    println!("bench finished in {}", seconds(start.elapsed()));
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("bench target(s) failed: {}", failed.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_runs_pass_criterions_quick_mode_and_the_filter() {
        let quick = BenchOptions {
            quick: true,
            filter: Some("event_bus".into()),
            ..BenchOptions::default()
        };
        assert_eq!(
            criterion_args(&quick).join(" "),
            "--noplot --quick --warm-up-time 0.5 --measurement-time 1 event_bus"
        );
        assert_eq!(criterion_args(&BenchOptions::default()), ["--noplot"]);
    }

    #[test]
    fn bench_names_are_run_once_each() {
        let targets = [
            ("tidewater-event-bus", "event_bus"),
            ("tidewater-benches", "event_bus"),
            ("tidewater-benches", "fan_out"),
        ];
        assert_eq!(bench_names(&targets), ["event_bus", "fan_out"]);
    }

    #[test]
    fn fixture_dashboard_files_are_written() {
        let dir = std::env::temp_dir().join(format!("xtask-dashboard-{}", std::process::id()));
        let report = report::tests::fixture_report();
        write_dashboard(&dir, &report).unwrap();
        for file in ["index.html", "bench.json", "summary.md"] {
            assert!(
                fs::metadata(dir.join(file)).is_ok_and(|m| m.len() > 100),
                "{file}"
            );
        }
        let _ = fs::remove_dir_all(&dir);
    }
}
