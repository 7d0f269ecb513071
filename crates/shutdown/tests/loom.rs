//! loom models of the lock-free core: guard counting vs trigger, the phase state machine, and
//! the trigger reason. Run with
//! `RUSTFLAGS="--cfg tidewater_loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release -p tidewater-shutdown --test loom`.
#![cfg(tidewater_loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use loom::thread;

use tidewater_shutdown::core::Core;
use tidewater_shutdown::{Phase, Reason};

/// Invariant: the drain is never observed complete while an admitted guard lives; a guard is
/// either admitted before the trigger (and counted) or refused; and the drain's waiter is
/// never left without a wake-up (it saw the drain itself, or the last release told it to wake).
#[test]
fn guard_vs_trigger() {
    loom::model(|| {
        let core = Arc::new(Core::new());
        let holding = Arc::new(AtomicBool::new(false));
        let drained_seen = Arc::new(AtomicBool::new(false));
        let woken = Arc::new(AtomicBool::new(false));

        let worker = {
            let (core, holding, drained_seen, woken) = (
                core.clone(),
                holding.clone(),
                drained_seen.clone(),
                woken.clone(),
            );
            thread::spawn(move || {
                if core.try_acquire_guard().is_ok() {
                    holding.store(true, SeqCst);
                    assert!(
                        !drained_seen.load(SeqCst),
                        "drain completed while a guard was admitted"
                    );
                    holding.store(false, SeqCst);
                    if core.release_guard() {
                        woken.store(true, SeqCst);
                    }
                    true
                } else {
                    false
                }
            })
        };

        core.trigger(Reason::Deadline);
        if core.guards_drained() {
            assert!(!holding.load(SeqCst), "drained while a guard is held");
            drained_seen.store(true, SeqCst);
        }
        let admitted = worker.join().unwrap();
        if admitted {
            assert!(
                drained_seen.load(SeqCst) || woken.load(SeqCst),
                "lost wake-up: the drain waiter saw a guard and nobody woke it"
            );
        }
        assert!(core.guards_drained());
        assert_eq!(core.live_guards(), 0);
    });
}

/// Invariant: a guard admitted after the trigger is impossible: if the trigger completed
/// before the acquire started, the acquire is refused, and no guard ever outlives a drained
/// observation (two guards racing one trigger).
#[test]
fn guards_racing_trigger_are_refused_or_counted() {
    loom::model(|| {
        let core = Arc::new(Core::new());
        let triggered = Arc::new(AtomicBool::new(false));
        let admitted = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let (core, triggered, admitted) =
                    (core.clone(), triggered.clone(), admitted.clone());
                thread::spawn(move || {
                    let trigger_done_before = triggered.load(SeqCst);
                    match core.try_acquire_guard() {
                        Ok(()) => {
                            assert!(!trigger_done_before, "guard admitted after the trigger");
                            admitted.fetch_add(1, SeqCst);
                            core.release_guard()
                        }
                        Err(phase) => {
                            assert_eq!(phase, Phase::Draining);
                            false
                        }
                    }
                })
            })
            .collect();
        core.trigger(Reason::Deadline);
        triggered.store(true, SeqCst);
        let wakes = handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|w| *w)
            .count();
        assert!(wakes <= 1, "more than one last-guard wake-up");
        assert!(core.guards_drained());
    });
}

/// Invariant: phases only move forward and exactly one thread wins each transition, even
/// when threads race to different targets.
#[test]
fn phase_transitions_have_one_winner_and_only_move_forward() {
    loom::model(|| {
        let core = Arc::new(Core::new());
        let wins: Arc<[AtomicUsize; 5]> = Arc::new(Default::default());
        let handles: Vec<_> = [
            [Phase::Draining, Phase::Cancelling],
            [Phase::Cancelling, Phase::Aborting],
            [Phase::Aborting, Phase::Done],
        ]
        .into_iter()
        .map(|targets| {
            let (core, wins) = (core.clone(), wins.clone());
            thread::spawn(move || {
                let mut last = Phase::Running;
                for to in targets {
                    match core.advance(to) {
                        Ok(previous) => {
                            assert!(previous < to);
                            wins[to as usize].fetch_add(1, SeqCst);
                        }
                        Err(current) => assert!(current >= to),
                    }
                    let now = core.phase();
                    assert!(now >= last, "phase went backwards: {last} -> {now}");
                    last = now;
                }
            })
        })
        .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(core.phase(), Phase::Done);
        assert_eq!(wins[Phase::Done as usize].load(SeqCst), 1);
        for phase in [Phase::Draining, Phase::Cancelling, Phase::Aborting] {
            assert!(
                wins[phase as usize].load(SeqCst) <= 1,
                "{phase} entered twice"
            );
        }
    });
}

/// Invariant: exactly one trigger wins, its reason is the one kept, and anyone who sees the
/// shutdown triggered can read that reason.
#[test]
fn one_trigger_wins_and_its_reason_is_visible() {
    loom::model(|| {
        let core = Arc::new(Core::new());
        let a = {
            let core = core.clone();
            thread::spawn(move || core.trigger(Reason::requested("a")))
        };
        let b = {
            let core = core.clone();
            thread::spawn(move || core.trigger(Reason::Deadline))
        };
        let reader = {
            let core = core.clone();
            thread::spawn(move || {
                if core.is_triggered() {
                    assert!(core.reason().is_some(), "triggered but no reason");
                }
            })
        };
        reader.join().unwrap();
        let (a, b) = (a.join().unwrap(), b.join().unwrap());
        assert!(a ^ b, "exactly one trigger wins");
        let expected = if a {
            Reason::requested("a")
        } else {
            Reason::Deadline
        };
        assert_eq!(core.reason(), Some(expected));
    });
}
