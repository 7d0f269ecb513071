//! Real signals, sent to a child process (handlers are process-wide and never removed, so
//! they must not be installed in the test process). The child is this test binary re-run
//! with `TIDEWATER_SHUTDOWN_CHILD=<scenario>`, filtered to `child_entry`.
#![cfg(unix)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use tidewater_shutdown::{Phase, Shutdown, Signals};

const CHILD: &str = "TIDEWATER_SHUTDOWN_CHILD";

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// The child's side: runs only when the parent set the variable.
#[test]
fn child_entry() {
    let Ok(scenario) = std::env::var(CHILD) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let code = runtime.block_on(async move {
        let shutdown = Shutdown::builder()
            .grace(Duration::from_secs(3600))
            .abort_timeout(Duration::from_secs(3600))
            .signals(Signals::default())
            .progress_interval(None)
            .on_notice(|line| say(&format!("notice: {line}")))
            .build()
            .unwrap();
        shutdown
            .spawn("cooperative", |signal| async move { signal.await })
            .unwrap();
        if scenario != "graceful" {
            shutdown
                .spawn("stubborn", |_signal| std::future::pending::<()>())
                .unwrap();
        }
        if scenario == "third" {
            shutdown
                .on_phase(Phase::Aborting, "hangs", || async {
                    say("aborting");
                    std::future::pending::<()>().await;
                })
                .unwrap();
        }
        say("ready");
        let report = shutdown.wait().await;
        say(&report.to_string());
        report.exit_code()
    });
    std::process::exit(code);
}

struct Parent {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Parent {
    fn start(scenario: &str) -> Parent {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
            .env(CHILD, scenario)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut parent = Parent {
            child,
            lines,
            seen: Vec::new(),
        };
        parent.expect("ready");
        parent
    }

    /// Wait (generously: the machine may be loaded) for a line containing `text`.
    fn expect(&mut self, text: &str) {
        loop {
            match self.lines.recv_timeout(Duration::from_secs(60)) {
                Ok(line) => {
                    let hit = line.contains(text);
                    self.seen.push(line);
                    if hit {
                        return;
                    }
                }
                Err(_) => {
                    let _ = self.child.kill();
                    panic!("child never printed {text:?}; it printed {:#?}", self.seen);
                }
            }
        }
    }

    fn send(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn finish(mut self) -> (i32, String) {
        let status = self.child.wait().unwrap();
        self.seen.extend(self.lines.iter());
        (status.code().unwrap_or(-1), self.seen.join("\n"))
    }
}

#[test]
fn one_sigterm_shuts_down_gracefully_with_exit_code_0() {
    let parent = Parent::start("graceful");
    parent.send("TERM");
    let (code, out) = parent.finish();
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("notice: received SIGTERM: shutting down gracefully"),
        "{out}"
    );
    assert!(out.contains("shutdown (received SIGTERM)"), "{out}");
    assert!(out.contains("root/cooperative: completed"), "{out}");
}

#[test]
fn second_signal_skips_to_abort_and_names_the_straggler() {
    let mut parent = Parent::start("escalate");
    parent.send("INT");
    parent.expect("received SIGINT: shutting down gracefully");
    parent.send("INT");
    let (code, out) = parent.finish();
    assert_eq!(code, 130, "{out}");
    assert!(out.contains("received SIGINT again: aborting"), "{out}");
    assert!(out.contains("root/stubborn: timed out, aborted"), "{out}");
    assert!(out.contains("root/cooperative: completed"), "{out}");
    assert!(out.contains("phase aborting"), "{out}");
}

#[test]
fn third_signal_exits_at_once_with_130() {
    let mut parent = Parent::start("third");
    parent.send("INT");
    parent.expect("received SIGINT: shutting down gracefully");
    parent.send("TERM");
    parent.expect("aborting");
    parent.send("INT");
    let (code, out) = parent.finish();
    assert_eq!(code, 130, "{out}");
    assert!(
        out.contains("received SIGINT a third time: exiting with code 130"),
        "{out}"
    );
    assert!(
        !out.contains("exit code"),
        "no report: the process exited at once\n{out}"
    );
}
