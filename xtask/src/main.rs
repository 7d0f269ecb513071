//! tidewater's project automation: `cargo xtask <command>` (see `cargo xtask help`).
//!
//! Dependency-free on purpose: it must build in seconds on a cold machine. It finds the
//! workspace from its own manifest directory and calls cargo through `$CARGO`, so local runs
//! and CI run the same steps with the same toolchain.

mod bench;
mod cli;
mod features;
mod json;
mod loom;
mod publish;
mod redis_server;
mod steps;
mod workspace;

use std::process::ExitCode;
use std::time::Instant;

use cli::{Command, Step};
use steps::Outcome;
use workspace::Workspace;

fn main() -> ExitCode {
    let command = match cli::parse(std::env::args().skip(1)) {
        Ok(command) => command,
        Err(error) => {
            eprintln!("error: {error}\n\n{}", cli::USAGE);
            return ExitCode::from(2);
        }
    };
    let ws = Workspace::from_env();
    match command {
        Command::Help => {
            print!("{}", cli::USAGE);
            ExitCode::SUCCESS
        }
        Command::Step(step) => {
            let start = Instant::now();
            let records = steps::run_steps(&ws, &[step], false);
            let ok = records.iter().all(|r| r.result.is_ok());
            if let Some(Ok(Outcome::Skipped(_))) = records.first().map(|r| &r.result) {
                println!(
                    "({} skipped after {})",
                    step.name(),
                    steps::seconds(start.elapsed())
                );
            }
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Command::TestAll { keep_going } => {
            let records = steps::run_steps(&ws, &Step::ALL, keep_going);
            print!("{}", steps::summary(&records, Step::ALL.len()));
            if records.iter().all(|r| r.result.is_ok()) && records.len() == Step::ALL.len() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Command::Loom { list: true, .. } => match loom::list_json(&ws) {
            Ok(json) => {
                println!("{json}");
                ExitCode::SUCCESS
            }
            Err(error) => finish(Err(error)),
        },
        Command::Loom { package, .. } => match loom::run(&ws, package.as_deref()) {
            Ok(Outcome::Passed) => ExitCode::SUCCESS,
            Ok(Outcome::Skipped(why)) => {
                println!("loom SKIPPED: {why}");
                ExitCode::SUCCESS
            }
            Err(error) => finish(Err(error)),
        },
        Command::Bench(options) => finish(bench::run(&ws, &options)),
        Command::Dashboard { compare, fixtures } => {
            finish(bench::dashboard(&ws, compare.as_deref(), fixtures))
        }
    }
}

fn finish(result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
