//! The shutdown sequence on paused time: outcomes, deadline, guards, scopes, hooks, policies.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tidewater_shutdown::{
    BuildError, FailurePolicy, GuardError, Outcome, Phase, Reason, Shutdown, Signals, SpawnError,
};

fn quiet(grace: Duration) -> Shutdown {
    Shutdown::builder()
        .grace(grace)
        .signals(Signals::none())
        .progress_interval(None)
        .build()
        .unwrap()
}

#[derive(Debug)]
struct Boom;
impl std::fmt::Display for Boom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("boom")
    }
}

#[tokio::test(start_paused = true)]
async fn every_outcome_kind_is_reported_with_its_time() {
    let shutdown = quiet(Duration::from_secs(10));
    shutdown
        .spawn("completes", |signal| async move {
            signal.cancelled().await;
            tokio::time::sleep(Duration::from_secs(1)).await;
        })
        .unwrap();
    shutdown
        .spawn("fails", |signal| async move {
            signal.cancelled().await;
            tokio::time::sleep(Duration::from_secs(2)).await;
            Err::<(), _>(Boom)
        })
        .unwrap();
    shutdown
        .spawn("panics", |signal| async move {
            signal.cancelled().await;
            tokio::time::sleep(Duration::from_secs(3)).await;
            if signal.is_triggered() {
                panic!("kaboom {}", 7);
            }
        })
        .unwrap();
    shutdown
        .spawn("ignores", |_signal| std::future::pending::<()>())
        .unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(shutdown.trigger(Reason::requested("test")));
    let report = shutdown.wait().await;

    let line = |name: &str| report.task(name).unwrap().clone();
    assert_eq!(line("completes").outcome, Outcome::Completed);
    assert_eq!(line("completes").elapsed, Duration::from_secs(6));
    assert_eq!(line("fails").outcome, Outcome::Failed("boom".into()));
    assert_eq!(line("fails").elapsed, Duration::from_secs(7));
    assert_eq!(line("panics").outcome, Outcome::Panicked("kaboom 7".into()));
    assert_eq!(line("panics").elapsed, Duration::from_secs(8));
    assert_eq!(line("ignores").outcome, Outcome::Aborted);
    assert_eq!(line("ignores").elapsed, Duration::from_secs(15));
    assert_eq!(line("ignores").scope, "root");
    assert_eq!(report.tasks.len(), 4);
    assert_eq!(report.elapsed, Duration::from_secs(10));
    assert!(report.deadline_hit);
    assert!(!report.forced);
    assert_eq!(report.exit_code(), 1, "a failure outranks the timeout");
    let phases: Vec<Phase> = report.phases.iter().map(|(p, _)| *p).collect();
    assert_eq!(
        phases,
        [
            Phase::Draining,
            Phase::Cancelling,
            Phase::Aborting,
            Phase::Done
        ]
    );
    assert_eq!(shutdown.phase(), Phase::Done);
    let text = report.to_string();
    assert!(text.contains("root/ignores: timed out, aborted"), "{text}");
}

#[tokio::test(start_paused = true)]
async fn deadline_aborts_the_straggler_and_progress_names_it() {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&lines);
    let shutdown = Shutdown::builder()
        .grace(Duration::from_secs(30))
        .signals(Signals::none())
        .progress_interval(Some(Duration::from_secs(10)))
        .on_progress(move |p| sink.lock().unwrap().push(p.to_string()))
        .build()
        .unwrap();
    let workers = shutdown.scope("workers").unwrap();
    workers
        .spawn("stuck-consumer", |_signal| std::future::pending::<()>())
        .unwrap();
    shutdown
        .spawn("quick", |signal| async move { signal.await })
        .unwrap();
    shutdown.trigger(Reason::requested("deploy"));
    let report = shutdown.wait().await;
    let stragglers: Vec<String> = report
        .stragglers()
        .map(|t| format!("{}/{}", t.scope, t.name))
        .collect();
    // The root scope's turn never came: the child scope held the sequence until the deadline,
    // so both are named, root first (scopes in registration order).
    assert_eq!(stragglers, ["root/quick", "root/workers/stuck-consumer"]);
    assert_eq!(report.exit_code(), 124);
    let lines = lines.lock().unwrap();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].contains("root/workers/stuck-consumer (10.0s)"),
        "{lines:?}"
    );
    assert!(lines[1].contains("10.0s to the deadline"), "{lines:?}");
}

#[tokio::test(start_paused = true)]
async fn guards_delay_completion_and_late_guards_are_refused() {
    let shutdown = quiet(Duration::from_secs(60));
    let guard = shutdown.guard("request-1").unwrap();
    assert_eq!(guard.name(), "request-1");
    shutdown.trigger(Reason::requested("test"));
    assert!(guard.is_shutting_down());
    assert!(matches!(
        shutdown.guard("request-2"),
        Err(GuardError::ShuttingDown {
            phase: Phase::Draining,
            ..
        })
    ));
    let waiter = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { shutdown.wait().await }
    });
    tokio::time::sleep(Duration::from_secs(20)).await;
    assert!(!waiter.is_finished(), "the guard holds the drain");
    assert_eq!(shutdown.phase(), Phase::Draining);
    drop(guard);
    let report = waiter.await.unwrap();
    assert_eq!(
        report.phases[1],
        (Phase::Cancelling, Duration::from_secs(20))
    );
    assert_eq!(report.guards_outstanding, 0);
    assert_eq!(report.exit_code(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_guard_outliving_the_deadline_is_counted() {
    let shutdown = quiet(Duration::from_secs(5));
    let _leaked = shutdown.guard("leaked").unwrap();
    shutdown.trigger(Reason::requested("test"));
    let report = shutdown.wait().await;
    assert_eq!(report.guards_outstanding, 1);
    assert!(report.deadline_hit);
    assert_eq!(report.exit_code(), 124);
}

#[tokio::test(start_paused = true)]
async fn scopes_are_cancelled_newest_first_children_before_parents() {
    let order = Arc::new(Mutex::new(Vec::new()));
    let shutdown = quiet(Duration::from_secs(60));
    let db = shutdown.scope("db").unwrap();
    let http = shutdown.scope("http").unwrap();
    let conns = http.scope("conns").unwrap();
    assert_eq!(conns.path(), "root/http/conns");
    for (scope, name) in [
        (shutdown.root().clone(), "root-task"),
        (db, "db-pool"),
        (http, "listener"),
        (conns, "conn"),
    ] {
        let order = Arc::clone(&order);
        scope
            .spawn(name, move |signal| async move {
                signal.cancelled().await;
                // Each scope is awaited before the next is signalled.
                tokio::time::sleep(Duration::from_secs(1)).await;
                order.lock().unwrap().push(name);
            })
            .unwrap();
    }
    shutdown.trigger(Reason::requested("test"));
    let report = shutdown.wait().await;
    assert_eq!(
        *order.lock().unwrap(),
        ["conn", "listener", "db-pool", "root-task"]
    );
    assert_eq!(report.elapsed, Duration::from_secs(4));
    assert!(report.is_clean());
}

#[tokio::test(start_paused = true)]
async fn tasks_may_spawn_helpers_until_their_scope_is_cancelled() {
    let shutdown = quiet(Duration::from_secs(60));
    let scope = shutdown.scope("jobs").unwrap();
    let inner = scope.clone();
    scope
        .spawn("parent", move |signal| async move {
            signal.cancelled().await;
            inner.spawn("too-late", |_s| async {})
        })
        .unwrap();
    shutdown.trigger(Reason::requested("test"));
    // Draining: the scope is still open.
    scope
        .spawn("during-drain", |s| async move { s.await })
        .unwrap();
    let report = shutdown.wait().await;
    assert!(matches!(
        report.task("parent").unwrap().outcome,
        Outcome::Failed(ref m) if m.contains("root/jobs is closed")
    ));
    assert_eq!(
        report.task("during-drain").unwrap().outcome,
        Outcome::Completed
    );
    assert!(matches!(
        scope.spawn("after", |_s| async {}),
        Err(SpawnError::ScopeClosed { .. })
    ));
    assert!(matches!(
        shutdown.scope("new"),
        Err(SpawnError::ScopeClosed { .. })
    ));
}

#[tokio::test(start_paused = true)]
async fn hooks_run_per_phase_in_order_and_are_bounded() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let shutdown = Shutdown::builder()
        .grace(Duration::from_secs(10))
        .abort_timeout(Duration::from_secs(2))
        .signals(Signals::none())
        .progress_interval(None)
        .build()
        .unwrap();
    for (phase, name) in [
        (Phase::Done, "flush"),
        (Phase::Draining, "deregister"),
        (Phase::Cancelling, "stop-consumers"),
        (Phase::Draining, "close-listener"),
    ] {
        let seen = Arc::clone(&seen);
        shutdown
            .on_phase(phase, name, move || async move {
                seen.lock().unwrap().push(name);
            })
            .unwrap();
    }
    shutdown
        .on_phase(Phase::Done, "hangs", std::future::pending::<()>)
        .unwrap();
    assert_eq!(
        shutdown.on_phase(Phase::Running, "x", || async {}),
        Err(SpawnError::PhasePassed(Phase::Running))
    );
    shutdown.trigger(Reason::requested("test"));
    assert_eq!(
        shutdown.on_phase(Phase::Draining, "late", || async {}),
        Err(SpawnError::PhasePassed(Phase::Draining))
    );
    let report = shutdown.wait().await;
    assert_eq!(
        *seen.lock().unwrap(),
        ["deregister", "close-listener", "stop-consumers", "flush"]
    );
    let hang = report.hooks.iter().find(|h| h.name == "hangs").unwrap();
    assert_eq!(hang.outcome, Outcome::Aborted);
    // Done hooks get until the deadline when it is still ahead.
    assert_eq!(hang.elapsed, Duration::from_secs(10));
    assert_eq!(report.exit_code(), 124);
}

#[tokio::test(start_paused = true)]
async fn failure_policy_triggers_with_the_failed_task_named() {
    let shutdown = Shutdown::builder()
        .signals(Signals::none())
        .progress_interval(None)
        .failure_policy(FailurePolicy::TriggerOnFailure)
        .build()
        .unwrap();
    let scope = shutdown.scope("ingest").unwrap();
    scope
        .spawn("reader", |_s| async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Err::<(), _>(Boom)
        })
        .unwrap();
    let reason_seen = Arc::new(Mutex::new(None));
    let slot = Arc::clone(&reason_seen);
    shutdown
        .spawn("watcher", move |signal| async move {
            signal.cancelled().await;
            *slot.lock().unwrap() = signal.reason();
        })
        .unwrap();
    let report = shutdown.wait().await;
    let expected = Reason::TaskFailed {
        name: "reader".into(),
        scope: "root/ingest".into(),
        message: "boom".into(),
    };
    assert_eq!(report.reason, expected);
    assert_eq!(*reason_seen.lock().unwrap(), Some(expected));
    assert_eq!(report.exit_code(), 1);
}

#[tokio::test(start_paused = true)]
async fn record_policy_keeps_early_failures_bounded_and_counts_successes() {
    let shutdown = Shutdown::builder()
        .signals(Signals::none())
        .progress_interval(None)
        .failure_records_per_scope(2)
        .build()
        .unwrap();
    for _ in 0..5 {
        shutdown.spawn("ok", |_s| async {}).unwrap();
        shutdown
            .spawn("bad", |_s| async { Err::<(), _>(Boom) })
            .unwrap();
    }
    shutdown.root().idle().await;
    assert!(!shutdown.is_triggered(), "Record does not trigger");
    shutdown.trigger(Reason::requested("test"));
    let report = shutdown.wait().await;
    assert_eq!(report.completed_before_trigger, 5);
    assert_eq!(report.failures().count(), 2);
    assert_eq!(report.records_dropped, 3);
}

#[tokio::test(start_paused = true)]
async fn panic_policy_triggers_on_panic_only() {
    let shutdown = Shutdown::builder()
        .signals(Signals::none())
        .progress_interval(None)
        .failure_policy(FailurePolicy::TriggerOnPanic)
        .build()
        .unwrap();
    shutdown
        .spawn("bad", |_s| async { Err::<(), _>(Boom) })
        .unwrap();
    shutdown.root().idle().await;
    assert!(!shutdown.is_triggered());
    shutdown
        .spawn("worse", |_s| async {
            if true {
                panic!("oh no");
            }
        })
        .unwrap();
    shutdown.triggered().await;
    assert!(matches!(
        shutdown.reason(),
        Some(Reason::TaskFailed { ref message, .. }) if message == "oh no"
    ));
}

#[tokio::test(start_paused = true)]
async fn force_skips_to_aborting_and_maps_to_130() {
    let shutdown = quiet(Duration::from_secs(3600));
    shutdown
        .spawn("stubborn", |_s| std::future::pending::<()>())
        .unwrap();
    shutdown.trigger(Reason::Signal(tidewater_shutdown::SignalKind::Interrupt));
    let waiter = tokio::spawn({
        let s = shutdown.clone();
        async move { s.wait().await }
    });
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert!(shutdown.force());
    assert!(!shutdown.force());
    let report = waiter.await.unwrap();
    assert!(report.forced);
    assert!(!report.deadline_hit);
    assert_eq!(report.elapsed, Duration::from_secs(7));
    assert_eq!(report.stragglers().count(), 1);
    assert_eq!(report.exit_code(), 130);
}

#[tokio::test(start_paused = true)]
async fn run_until_shutdown_records_main() {
    // main returns: that is the trigger.
    let shutdown = quiet(Duration::from_secs(5));
    let report = shutdown
        .run_until_shutdown(async { tokio::time::sleep(Duration::from_secs(2)).await })
        .await;
    assert_eq!(report.reason, Reason::MainFinished);
    let main = report.main.unwrap();
    assert_eq!(
        (main.outcome, main.elapsed),
        (Outcome::Completed, Duration::from_secs(2))
    );

    // main fails.
    let shutdown = quiet(Duration::from_secs(5));
    let report = shutdown
        .run_until_shutdown(async { Err::<(), _>(Boom) })
        .await;
    assert!(matches!(report.reason, Reason::TaskFailed { ref name, .. } if name == "main"));
    assert_eq!(report.exit_code(), 1);

    // shutdown triggered first: main (the intake) is dropped.
    let shutdown = quiet(Duration::from_secs(5));
    shutdown.trigger_after(Duration::from_secs(3)).unwrap();
    let report = shutdown
        .run_until_shutdown(std::future::pending::<()>())
        .await;
    assert_eq!(report.reason, Reason::Deadline);
    assert_eq!(report.main.as_ref().unwrap().outcome, Outcome::Cancelled);
    assert_eq!(report.exit_code(), 0);
}

#[tokio::test(start_paused = true)]
async fn readiness_flips_false_at_the_trigger_for_good() {
    let shutdown = Shutdown::builder()
        .signals(Signals::none())
        .ready_at_start(false)
        .build()
        .unwrap();
    let ready = shutdown.readiness();
    let mut watch = ready.subscribe();
    assert!(!ready.is_ready());
    assert!(ready.set_ready(true));
    assert!(watch.has_changed().unwrap());
    assert!(*watch.borrow_and_update());
    shutdown.trigger(Reason::requested("test"));
    watch.changed().await.unwrap();
    assert!(!*watch.borrow());
    assert!(!ready.set_ready(true), "cannot become ready again");
    assert!(!ready.is_ready());
}

#[tokio::test(start_paused = true)]
async fn signal_exposes_token_reason_and_phase() {
    let shutdown = quiet(Duration::from_secs(5));
    let signal = shutdown.signal();
    let token = signal.token();
    assert!(!signal.is_triggered() && !token.is_cancelled());
    assert_eq!(signal.reason(), None);
    token.cancel(); // a library cancelling its child token does not cancel the scope
    assert!(!signal.is_triggered());
    shutdown.trigger(Reason::requested("x"));
    assert_eq!(signal.phase(), Phase::Draining);
    assert!(!signal.is_triggered(), "tasks are signalled in Cancelling");
    let report = shutdown.wait().await;
    assert!(signal.is_triggered() && signal.token().is_cancelled());
    assert_eq!(signal.reason(), Some(Reason::requested("x")));
    assert_eq!(signal.scope_path(), "root");
    assert!(report.is_clean());
}

#[tokio::test(start_paused = true)]
async fn wait_is_cancel_safe_and_every_waiter_gets_the_report() {
    let shutdown = quiet(Duration::from_secs(10));
    shutdown
        .spawn("slow", |s| async move {
            s.cancelled().await;
            tokio::time::sleep(Duration::from_secs(4)).await;
        })
        .unwrap();
    shutdown.trigger(Reason::requested("test"));
    // Drop the first wait at its first await point; the shutdown goes on in its own task.
    let first = tokio::time::timeout(Duration::from_secs(1), shutdown.wait()).await;
    assert!(first.is_err());
    let (a, b) = tokio::join!(shutdown.wait(), shutdown.wait());
    assert_eq!(a, b);
    assert_eq!(a.elapsed, Duration::from_secs(4));
    // And the cancelled-future of a signal can be dropped and re-created.
    let signal = shutdown.signal();
    drop(signal.cancelled());
    signal.cancelled().await;
}

/// Spawns a task that never finishes and holds a sender until it is aborted: the receiver
/// reports an error once the task's future is dropped.
fn spawn_holder(shutdown: &Shutdown) -> tokio::sync::oneshot::Receiver<()> {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    shutdown
        .spawn("holder", move |_s| async move {
            let _tx = tx; // dropped when the task is aborted
            std::future::pending::<()>().await;
        })
        .unwrap();
    rx
}

#[tokio::test(start_paused = true)]
async fn dropping_the_last_handle_aborts_running_tasks() {
    let shutdown = quiet(Duration::from_secs(10));
    let rx = spawn_holder(&shutdown);
    tokio::task::yield_now().await;
    drop(shutdown);
    assert!(rx.await.is_err(), "the task was aborted");
}

#[test]
fn construction_errors_are_typed() {
    assert!(matches!(
        Shutdown::builder().build(),
        Err(BuildError::NoRuntime)
    ));
    assert!(matches!(
        Shutdown::builder()
            .grace(Duration::ZERO)
            .signals(Signals::none())
            .build(),
        Err(BuildError::ZeroGrace)
    ));
    let shutdown = Shutdown::new();
    assert_eq!(
        shutdown.spawn("x", |_s| async {}),
        Err(SpawnError::NoRuntime)
    );
    assert_eq!(
        shutdown.trigger_after(Duration::from_secs(1)),
        Err(SpawnError::NoRuntime)
    );
    let e = BuildError::UnsupportedSignal(tidewater_shutdown::SignalKind::CtrlClose);
    assert!(e.to_string().contains("CTRL_CLOSE"));
}

#[tokio::test]
async fn windows_signals_are_refused_on_unix() {
    let err = Shutdown::builder()
        .signals(Signals::none().with(tidewater_shutdown::SignalKind::CtrlBreak))
        .build()
        .unwrap_err();
    assert!(matches!(err, BuildError::UnsupportedSignal(_)));
}

/// Nothing accepted is lost: under a multi-threaded runtime with spawns racing the trigger,
/// every accepted task is either counted as completed before the trigger or has exactly one
/// report line, and every refused spawn got an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_accepted_task_is_accounted_for_under_races() {
    let shutdown = Shutdown::builder()
        .signals(Signals::none())
        .progress_interval(None)
        .build()
        .unwrap();
    let scope = shutdown.scope("load").unwrap();
    let spawners: Vec<_> = (0..2)
        .map(|_| {
            let scope = scope.clone();
            tokio::spawn(async move {
                let mut accepted = 0_u64;
                for i in 0..2_000_u64 {
                    let spawned = scope.spawn(format!("t{i}"), move |signal| async move {
                        if i % 3 == 0 {
                            signal.cancelled().await;
                        }
                    });
                    match spawned {
                        Ok(()) => accepted += 1,
                        Err(SpawnError::ScopeClosed { .. }) => {}
                        Err(e) => panic!("unexpected {e}"),
                    }
                    if i % 64 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
                accepted
            })
        })
        .collect();
    tokio::task::yield_now().await;
    shutdown.trigger(Reason::requested("race"));
    let report = shutdown.wait().await;
    let mut accepted = 0;
    for s in spawners {
        accepted += s.await.unwrap();
    }
    assert_eq!(
        report.completed_before_trigger + report.tasks.len() as u64,
        accepted
    );
    assert!(report.tasks.iter().all(|t| t.outcome == Outcome::Completed));
    assert_eq!(scope.running(), 0);
}

/// The scope goes idle once every task ended, whichever threads spawned and ended them (each
/// spawning thread registers in its own shard, each worker counts ends in its own), and every
/// task that completed before the trigger is counted exactly once, also after many sweeps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_counts_hold_when_tasks_start_and_end_on_different_threads() {
    let shutdown = quiet(Duration::from_secs(10));
    let scope = shutdown.scope("churn").unwrap();
    let mut spawners = tokio::task::JoinSet::new();
    for _ in 0..3 {
        let scope = scope.clone();
        spawners.spawn(async move {
            for i in 0..3_000_u32 {
                scope.spawn("short", |_signal| async {}).unwrap();
                if i % 100 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        });
    }
    while let Some(spawned) = spawners.join_next().await {
        spawned.unwrap();
    }
    scope.idle().await;
    assert_eq!(scope.running(), 0);
    shutdown.trigger(Reason::requested("done"));
    let report = shutdown.wait().await;
    assert_eq!(report.completed_before_trigger, 9_000);
    assert!(report.tasks.is_empty());
}

/// The abort at the deadline racing tasks that finish, in a parent scope and its child, with
/// spawns from several threads and from inside tasks racing the trigger: every accepted task
/// is counted as completed before the trigger or has exactly one line (completed or aborted),
/// and nothing is left running. A grace of 50 µs, so the abort meets tasks mid-way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_abort_racing_ends_in_nested_scopes_reports_each_task_once() {
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
    for round in 0..30_u64 {
        let shutdown = quiet(Duration::from_micros(50));
        let parent = shutdown.scope("parent").unwrap();
        let child = parent.scope("child").unwrap();
        let accepted = Arc::new(AtomicU64::new(0));
        let spawners: Vec<_> = (0..2_u64)
            .map(|s| {
                let (parent, child, accepted) = (parent.clone(), child.clone(), accepted.clone());
                tokio::spawn(async move {
                    for i in 0..150_u64 {
                        let scope = if i % 2 == 0 { &parent } else { &child };
                        let (helpers, accepted_inner) = (child.clone(), accepted.clone());
                        let spawned = scope.spawn(format!("{s}.{i}"), move |signal| async move {
                            if i % 5 == 0 {
                                let helper = helpers.spawn(format!("{s}.{i}h"), |_| async {
                                    tokio::task::yield_now().await;
                                });
                                if helper.is_ok() {
                                    accepted_inner.fetch_add(1, Relaxed);
                                }
                            }
                            for _ in 0..(i + round) % 4 {
                                tokio::task::yield_now().await;
                            }
                            if i % 7 == 0 {
                                signal.cancelled().await; // ends when signalled
                            }
                            if i % 11 == 0 {
                                std::future::pending::<()>().await; // only the abort ends it
                            }
                        });
                        if spawned.is_ok() {
                            accepted.fetch_add(1, Relaxed);
                        }
                        if i % 16 == 0 {
                            tokio::task::yield_now().await;
                        }
                    }
                })
            })
            .collect();
        tokio::task::yield_now().await;
        shutdown.trigger(Reason::requested("race"));
        let report = shutdown.wait().await;
        for s in spawners {
            s.await.unwrap();
        }
        let mut names: Vec<_> = report.tasks.iter().map(|t| t.name.to_string()).collect();
        names.sort();
        let lines = names.len();
        names.dedup();
        assert_eq!(names.len(), lines, "a task with two lines");
        assert!(
            report
                .tasks
                .iter()
                .all(|t| matches!(t.outcome, Outcome::Completed | Outcome::Aborted))
        );
        assert_eq!(
            report.completed_before_trigger + lines as u64,
            accepted.load(Relaxed),
            "round {round}: a task lost or counted twice"
        );
        assert_eq!(parent.running() + child.running(), 0);
    }
}

#[tokio::test(start_paused = true)]
async fn dropped_idle_and_triggered_futures_leave_nothing_behind() {
    let shutdown = quiet(Duration::from_secs(10));
    shutdown
        .spawn("sleeper", |_s| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
        })
        .unwrap();
    let root = shutdown.root().clone();
    // Drop each future after its first await point.
    assert!(
        tokio::time::timeout(Duration::from_secs(1), root.idle())
            .await
            .is_err()
    );
    assert!(
        tokio::time::timeout(Duration::from_secs(1), shutdown.triggered())
            .await
            .is_err()
    );
    assert!(
        tokio::time::timeout(Duration::from_secs(1), shutdown.signal().cancelled())
            .await
            .is_err()
    );
    // New ones still resolve.
    root.idle().await;
    assert_eq!(root.running(), 0);
    shutdown.trigger(Reason::requested("test"));
    shutdown.triggered().await;
    let report = shutdown.wait().await;
    assert_eq!(report.completed_before_trigger, 1);
    assert!(report.is_clean());
}

#[tokio::test(start_paused = true)]
async fn progress_line_names_ten_and_counts_the_rest() {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&lines);
    let shutdown = Shutdown::builder()
        .grace(Duration::from_secs(3))
        .signals(Signals::none())
        .progress_interval(Some(Duration::from_secs(2)))
        .on_progress(move |p| sink.lock().unwrap().push((p.running.len(), p.to_string())))
        .build()
        .unwrap();
    for i in 0..12 {
        shutdown
            .spawn(format!("stuck-{i}"), |_s| std::future::pending::<()>())
            .unwrap();
    }
    shutdown.trigger(Reason::requested("test"));
    let report = shutdown.wait().await;
    assert_eq!(report.stragglers().count(), 12);
    let lines = lines.lock().unwrap();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].0, 12);
    assert!(lines[0].1.ends_with(" and 2 more"), "{}", lines[0].1);
    assert!(lines[0].1.contains("root/stuck-0 (2.0s)"), "{}", lines[0].1);
}

#[tokio::test(start_paused = true)]
async fn deadline_abort_drops_the_stragglers_future() {
    let shutdown = quiet(Duration::from_secs(5));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    shutdown
        .spawn("ignores-signal", move |_s| async move {
            let _tx = tx; // dropped only when the task's future is dropped
            std::future::pending::<()>().await;
        })
        .unwrap();
    tokio::task::yield_now().await;
    shutdown.trigger(Reason::requested("deploy"));
    let report = shutdown.wait().await;
    assert_eq!(
        report.task("ignores-signal").unwrap().outcome,
        Outcome::Aborted
    );
    let dropped = tokio::time::timeout(Duration::from_secs(3600), rx).await;
    assert!(
        matches!(dropped, Ok(Err(_))),
        "the aborted task's future was dropped"
    );
}

/// Tokio drops a task without finishing it when its runtime shuts down. Its entry must go
/// with it (reported as aborted), or a later `wait()` would wait for a task that no longer
/// exists until the deadline — or forever without one.
#[test]
fn a_task_dropped_by_its_runtime_is_reported_not_waited_for() {
    let first = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let shutdown = first.block_on(async {
        let shutdown = quiet(Duration::from_secs(10));
        shutdown
            .spawn("orphan", |_signal| std::future::pending::<()>())
            .unwrap();
        tokio::task::yield_now().await;
        shutdown
    });
    drop(first); // drops the still-running task
    let second = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    let report = second.block_on(async move {
        assert!(shutdown.trigger(Reason::requested("test")));
        tokio::time::timeout(Duration::from_secs(60), shutdown.wait())
            .await
            .expect("wait() must not hang on a task its runtime dropped")
    });
    assert_eq!(report.task("orphan").unwrap().outcome, Outcome::Aborted);
    assert!(!report.deadline_hit, "nothing was left to wait for");
}

/// A task aborted at the deadline before it was ever polled is named in the report, and its
/// closure never runs afterwards (it was accepted, then cut short, like any straggler).
#[test]
fn a_task_aborted_before_its_first_poll_is_named_and_never_runs() {
    let idle = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let shutdown = idle.block_on(async {
        let shutdown = quiet(Duration::from_secs(10));
        let ran = Arc::clone(&ran);
        shutdown
            .spawn("never-polled", move |_signal| {
                ran.store(true, std::sync::atomic::Ordering::SeqCst);
                std::future::ready(())
            })
            .unwrap();
        shutdown // returned without yielding: `idle` has not polled the task
    });
    let driving = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    let report = driving.block_on(async {
        assert!(shutdown.trigger(Reason::requested("test")));
        shutdown.wait().await
    });
    let line = report.task("never-polled").unwrap();
    assert_eq!(line.outcome, Outcome::Aborted);
    assert_eq!(line.scope, "root");
    assert!(report.deadline_hit);
    idle.block_on(tokio::task::yield_now()); // now the task is polled: it must stop at once
    assert!(
        !ran.load(std::sync::atomic::Ordering::SeqCst),
        "an aborted task's closure ran"
    );
    assert_eq!(shutdown.root().running(), 0);
}

/// Settings at the top of their range never panic the phase driver: a panicking driver never
/// sends the report, so `wait()` would hang for ever.
#[tokio::test(start_paused = true)]
async fn the_largest_durations_never_panic_the_driver_or_hang_wait() {
    for (abort_timeout, progress) in [
        (Duration::MAX, None),
        (Duration::from_secs(1), Some(Duration::MAX)),
        (Duration::MAX, Some(Duration::MAX)),
    ] {
        let shutdown = Shutdown::builder()
            .grace(Duration::from_secs(5))
            .abort_timeout(abort_timeout)
            .progress_interval(progress)
            .on_progress(|_| {})
            .signals(Signals::none())
            .build()
            .unwrap();
        shutdown
            .spawn("stubborn", |_signal| std::future::pending::<()>())
            .unwrap();
        shutdown.trigger(Reason::requested("test"));
        let report = tokio::time::timeout(Duration::from_secs(3600), shutdown.wait())
            .await
            .unwrap_or_else(|_| panic!("wait() hung ({abort_timeout:?}, {progress:?})"));
        assert_eq!(report.task("stubborn").unwrap().outcome, Outcome::Aborted);
    }
}

/// A scope created (and given a task) by a task of a scope the abort has not reached yet is
/// aborted too: the abort does not stop at the list of scopes it started from. Made
/// deterministic with a waker that runs inside the abort: cancelling the root's token wakes
/// a waiter on a child scope's signal before that child is aborted, which is when a task on
/// another worker could do the same.
#[tokio::test(start_paused = true)]
async fn a_scope_born_during_the_abort_is_aborted_too() {
    use std::task::{Context, Wake, Waker};

    struct Spawner(Mutex<Option<tidewater_shutdown::Scope>>);
    impl Wake for Spawner {
        fn wake(self: Arc<Self>) {
            if let Some(parent) = self.0.lock().unwrap().take() {
                let late = parent.scope("late").expect("the parent is still open");
                late.spawn("late-task", |_signal| std::future::pending::<()>())
                    .expect("the new scope is open");
            }
        }
    }

    let shutdown = quiet(Duration::from_secs(5));
    let child = shutdown.scope("child").unwrap();
    child
        .spawn("stubborn", |_signal| std::future::pending::<()>())
        .unwrap();
    let spawner = Arc::new(Spawner(Mutex::new(Some(child.clone()))));
    let waker = Waker::from(Arc::clone(&spawner));
    let signal = child.signal();
    let mut cancelled = Box::pin(signal.cancelled());
    assert!(
        cancelled
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending()
    );
    // A guard past the deadline: the shutdown goes from Draining straight to Aborting, with
    // every scope still open.
    let _guard = shutdown.guard("stuck").unwrap();
    shutdown.trigger(Reason::requested("test"));
    let report = shutdown.wait().await;
    assert!(spawner.0.lock().unwrap().is_none(), "the waker ran");
    assert_eq!(report.task("stubborn").unwrap().outcome, Outcome::Aborted);
    let late = report
        .task("late-task")
        .expect("a task of a scope born during the abort is in the report");
    assert_eq!(late.outcome, Outcome::Aborted);
    assert_eq!(late.scope, "root/child/late");
}

/// A progress hook that panics loses its line, not the shutdown: the driver goes on, so
/// `wait()` still returns the report (a panicking driver would leave it waiting for ever).
#[tokio::test(start_paused = true)]
async fn a_panicking_progress_hook_never_hangs_wait() {
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let shutdown = Shutdown::builder()
        .grace(Duration::from_secs(5))
        .progress_interval(Some(Duration::from_secs(1)))
        .on_progress(move |_| {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            panic!("progress hook bug");
        })
        .signals(Signals::none())
        .build()
        .unwrap();
    shutdown
        .spawn("stubborn", |_signal| std::future::pending::<()>())
        .unwrap();
    shutdown.trigger(Reason::requested("test"));
    let report = tokio::time::timeout(Duration::from_secs(3600), shutdown.wait())
        .await
        .expect("wait() must not hang when the progress hook panics");
    assert_eq!(report.task("stubborn").unwrap().outcome, Outcome::Aborted);
    assert!(report.deadline_hit);
    assert!(
        calls.load(std::sync::atomic::Ordering::SeqCst) >= 2,
        "the hook keeps being called"
    );
}

/// A `wait()` dropped before the trigger (it lost a `select!`, say) leaves its driver task
/// behind; that task must not keep the coordinator alive, or dropping the last handle would
/// no longer abort the running tasks.
#[tokio::test(start_paused = true)]
async fn dropping_the_last_handle_aborts_tasks_after_an_abandoned_wait() {
    let shutdown = quiet(Duration::from_secs(10));
    let rx = spawn_holder(&shutdown);
    let waited = tokio::time::timeout(Duration::from_secs(1), shutdown.wait()).await;
    assert!(waited.is_err(), "not triggered");
    drop(shutdown);
    let dropped = tokio::time::timeout(Duration::from_secs(3600), rx).await;
    assert!(
        matches!(dropped, Ok(Err(_))),
        "the task was aborted when the last handle went"
    );
}
