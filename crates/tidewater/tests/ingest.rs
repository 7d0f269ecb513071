//! Runs the `ingest` example as a child process and checks that its summary accounts for
//! every job: once to the end, and once interrupted with SIGINT in the middle.
#![cfg(feature = "full")]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `cargo <args>` for this package, with the example's features, in the caller's target dir.
fn cargo(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO"));
    command
        .args(args)
        .args([
            "--quiet",
            "-p",
            "tidewater",
            "--features",
            "full",
            "--example",
            "ingest",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    command
}

/// The numbers of the `summary: accepted=.. completed=.. returned=.. lost=..` line.
fn summary(stdout: &str) -> HashMap<String, u64> {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("summary: "))
        .unwrap_or_else(|| panic!("no summary line in:\n{stdout}"));
    let numbers: HashMap<String, u64> = line["summary: ".len()..]
        .split_whitespace()
        .map(|pair| {
            let (key, value) = pair.split_once('=').expect("key=value");
            (key.to_owned(), value.parse().expect("a number"))
        })
        .collect();
    for key in ["accepted", "completed", "returned", "lost"] {
        assert!(numbers.contains_key(key), "{key} missing in {line}");
    }
    numbers
}

#[test]
fn runs_to_the_end_and_accounts_for_every_job() {
    let output = cargo(&["run"])
        .args(["--", "--jobs", "200", "--rate", "2000", "--workers", "2"])
        .output()
        .expect("cargo runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "ingest failed: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let s = summary(&stdout);
    assert_eq!(s["accepted"], 200);
    assert_eq!(s["completed"], 200);
    assert_eq!(s["returned"], 0);
    assert_eq!(s["lost"], 0);
    assert!(stdout.contains("pipeline Completed"), "{stdout}");
    assert!(stdout.contains("shutdown ("), "{stdout}");
}

/// The path of the built example, from cargo's JSON messages.
#[cfg(unix)]
fn build_example() -> String {
    let output = cargo(&["build", "--message-format=json"])
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "build failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let messages = String::from_utf8_lossy(&output.stdout);
    let marker = "\"executable\":\"";
    messages
        .lines()
        .filter(|l| l.contains("\"name\":\"ingest\""))
        .find_map(|l| {
            let start = l.find(marker)? + marker.len();
            let len = l[start..].find('"')?;
            Some(l[start..start + len].to_owned())
        })
        .unwrap_or_else(|| panic!("no executable for ingest in:\n{messages}"))
}

/// SIGINT, unless this process ignores it (a shell's background job does, and the child would
/// inherit that): then SIGTERM, which the example handles the same way.
#[cfg(unix)]
fn interrupt_signal() -> &'static str {
    let ignored = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let mask = status.lines().find(|l| l.starts_with("SigIgn:"))?;
            u64::from_str_radix(mask["SigIgn:".len()..].trim(), 16).ok()
        })
        .is_some_and(|mask| mask & (1 << (2 - 1)) != 0);
    if ignored { "-TERM" } else { "-INT" }
}

#[cfg(unix)]
#[test]
fn sigint_in_the_middle_drains_without_losing_jobs() {
    const JOBS: u64 = 1_000_000;
    let binary = build_example();
    let mut child = Command::new(binary)
        .args([
            "--jobs",
            &JOBS.to_string(),
            "--rate",
            "500",
            "--workers",
            "2",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("example starts");
    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    // The banner is printed once the signal handlers are installed.
    let mut banner = String::new();
    stdout.read_line(&mut banner).expect("banner");
    assert!(banner.starts_with("ingest:"), "{banner}");
    std::thread::sleep(Duration::from_millis(700));
    let killed = Command::new("/usr/bin/kill")
        .args([interrupt_signal(), &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());

    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("child status") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("ingest did not stop within 30 s of the signal");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).expect("stdout");
    assert!(status.success(), "ingest failed: {status}\n{rest}");
    let s = summary(&rest);
    assert_eq!(s["lost"], 0, "{rest}");
    assert_eq!(s["accepted"], s["completed"] + s["returned"], "{rest}");
    assert!(s["accepted"] > 0, "{rest}");
    assert!(s["completed"] < JOBS, "{rest}");
    assert!(rest.contains("shutdown (received SIG"), "{rest}");
}
