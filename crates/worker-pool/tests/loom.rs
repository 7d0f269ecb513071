//! loom models of the admission / close / drain core (`tidewater_worker_pool::admission`).
//!
//! Run: `RUSTFLAGS="--cfg tidewater_loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release -p tidewater-worker-pool --test loom`
#![cfg(tidewater_loom)]

use loom::future::block_on;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;
use tidewater_worker_pool::admission::{Core, Refusal};

/// A worker thread that takes jobs until the core is finished, then exits; joins to the jobs
/// it took.
fn spawn_worker(core: &Arc<Core<u32>>, id: usize) -> thread::JoinHandle<Vec<u32>> {
    let core = core.clone();
    thread::spawn(move || {
        let mut got = Vec::new();
        while let Some(job) = block_on(core.next_job(id)) {
            got.push(job);
        }
        core.worker_exited();
        got
    })
}

/// A submitter thread that waits for a slot (the core is never closed) and queues `job`.
fn spawn_waiting_submitter(core: &Arc<Core<u32>>, job: u32) -> thread::JoinHandle<()> {
    let core = core.clone();
    thread::spawn(move || {
        let permit = block_on(core.reserve()).expect("never closed here");
        permit.push(job);
    })
}

/// Never more jobs admitted than slots: with one slot, two racing submitters and a worker
/// popping once, every admitted job is popped exactly once and at most `capacity` are ever
/// queued.
#[test]
fn never_more_queued_than_capacity() {
    loom::model(|| never_more_queued_than_capacity_from(0));
}

/// Both admission counters count slots in steps of two (the lowest bit of `admitted` is the
/// closed bit), so they wrap after `usize::MAX / 2 + 1` slots: with this history the next
/// reservation wraps `admitted` to zero.
const ONE_BEFORE_THE_WRAP: usize = usize::MAX / 2;

/// [`never_more_queued_than_capacity`] with the first reservation wrapping the counters: the
/// submitters' stale copy of `released` is then numerically above `admitted`.
#[test]
fn never_more_queued_than_capacity_across_the_wrap() {
    loom::model(|| never_more_queued_than_capacity_from(ONE_BEFORE_THE_WRAP));
}

fn never_more_queued_than_capacity_from(history: usize) {
    let core = Arc::new(Core::<u32>::with_history(1, 1, history));
    let accepted = Arc::new(AtomicUsize::new(0));
    let submitters: Vec<_> = (1..=2)
        .map(|id| {
            let core = core.clone();
            let accepted = accepted.clone();
            thread::spawn(move || {
                if core.try_submit(id).is_ok() {
                    accepted.fetch_add(1, Ordering::SeqCst);
                }
                assert!(core.reserved() <= core.capacity());
            })
        })
        .collect();
    let mut popped = usize::from(core.try_pop().is_some());
    assert!(core.reserved() <= core.capacity());
    for submitter in submitters {
        submitter.join().unwrap();
    }
    while core.try_pop().is_some() {
        popped += 1;
    }
    assert_eq!(popped, accepted.load(Ordering::SeqCst));
    assert_eq!(core.reserved(), 0);
}

/// Close racing a submit never loses a job: if the submit was accepted, the worker (which
/// exits only once the core is closed and empty) receives it; if refused, the job comes back.
#[test]
fn close_vs_submit_never_loses_a_job() {
    loom::model(|| {
        let core = Arc::new(Core::<u32>::new(1, 1));
        let submitter = {
            let core = core.clone();
            thread::spawn(move || match core.try_submit(7) {
                Ok(()) => true,
                Err((Refusal::Closed, job)) => {
                    assert_eq!(job, 7);
                    false
                }
                Err((Refusal::Full, _)) => panic!("one slot, one job: cannot be full"),
            })
        };
        let worker = spawn_worker(&core, 0);
        core.close();
        let accepted = submitter.join().unwrap();
        let got = worker.join().unwrap();
        assert_eq!(got, if accepted { vec![7] } else { vec![] });
        assert!(core.is_drained());
    });
}

/// No lost wake-up of a waiting submitter: the queue is full, a submitter waits for space,
/// a worker takes the queued job; the slot it frees must reach the waiter.
#[test]
fn waiting_submitter_is_woken_when_space_frees() {
    loom::model(|| {
        let core = Arc::new(Core::<u32>::new(1, 1));
        assert!(core.try_submit(1).is_ok());
        let submitter = spawn_waiting_submitter(&core, 2);
        assert_eq!(core.try_pop(), Some(1));
        submitter.join().unwrap();
        assert_eq!(core.try_pop(), Some(2));
    });
}

/// No lost wake-up of a waiting submitter when the slot frees without a job being taken: the
/// only slot is reserved and then given back unused (a submit cancelled between reserving
/// and pushing) while another submitter waits for space. Every path that gives a slot back
/// must hand it to the waiter.
#[test]
fn a_slot_given_back_unused_reaches_a_waiting_submitter() {
    loom::model(|| {
        let core = Arc::new(Core::<u32>::new(1, 1));
        let permit = core.try_reserve().expect("the only slot");
        let submitter = spawn_waiting_submitter(&core, 2);
        drop(permit);
        submitter.join().unwrap();
        assert_eq!(core.try_pop(), Some(2));
        assert_eq!(core.reserved(), 0);
    });
}

/// No lost wake-up of an idle worker: a worker going to sleep on an empty queue races a
/// submit; the worker must get the job.
#[test]
fn idle_worker_is_woken_by_a_submit() {
    loom::model(|| {
        let core = Arc::new(Core::<u32>::new(2, 1));
        let worker = {
            let core = core.clone();
            thread::spawn(move || block_on(core.next_job(0)))
        };
        assert!(core.try_submit(9).is_ok());
        assert_eq!(worker.join().unwrap(), Some(9));
    });
}

/// A waiter that gives up after being granted a slot passes it on: with one slot held, two
/// submitters wait; one is cancelled (its future dropped) right after the slot frees. The
/// other must still get a slot.
#[test]
fn cancelled_waiter_passes_its_slot_on() {
    loom::model(|| {
        let core = Arc::new(Core::<u32>::new(1, 1));
        assert!(core.try_submit(1).is_ok());
        let quitter = {
            let core = core.clone();
            thread::spawn(move || {
                // Poll once (registering as a waiter if full), then give up.
                let mut reserve = Box::pin(core.reserve());
                let waker = futures_noop_waker();
                let mut cx = std::task::Context::from_waker(&waker);
                if let std::task::Poll::Ready(Ok(permit)) = reserve.as_mut().poll(&mut cx) {
                    drop(permit);
                }
            })
        };
        let stayer = spawn_waiting_submitter(&core, 2);
        assert_eq!(core.try_pop(), Some(1));
        quitter.join().unwrap();
        stayer.join().unwrap();
        assert_eq!(core.try_pop(), Some(2));
    });
}

fn futures_noop_waker() -> std::task::Waker {
    std::task::Waker::noop().clone()
}

/// A searching worker makes submits skip the wake-up; it must still never strand a job: the
/// worker searches (finds nothing), stops searching and sleeps, racing a submit.
#[test]
fn searching_worker_never_strands_a_job() {
    loom::model(|| {
        let core = Arc::new(Core::<u32>::new(2, 1));
        let worker = {
            let core = core.clone();
            thread::spawn(move || {
                if let Some(search) = core.search(1)
                    && let Some(job) = core.try_pop()
                {
                    return Some(search.found(job));
                }
                block_on(core.next_job(0))
            })
        };
        assert!(core.try_submit(4).is_ok());
        assert_eq!(worker.join().unwrap(), Some(4));
    });
}

/// A worker keeps the search token through a streak of quick jobs, so submits meanwhile do
/// not wake the sleepers. When its job then waits on something (say, on a job submitted after
/// it), giving the token up must hand the queued jobs to the sleepers: the holder takes job 1
/// and later hands off while job 2 is submitted (stamped within the check-in limit) and
/// another worker goes to sleep. That worker must get job 2, whichever comes first.
#[test]
fn a_token_holder_waiting_on_its_job_hands_the_queue_to_a_sleeper() {
    loom::model(|| {
        let core = Arc::new(Core::<u32>::new(2, 2).with_check_in_limit(10));
        assert!(core.try_submit(1).is_ok());
        let token = core.search(1).expect("nobody else holds it");
        assert_eq!(core.try_pop(), Some(1));
        let sleeper = {
            let core = core.clone();
            thread::spawn(move || block_on(core.next_job(1)))
        };
        let submitter = {
            let core = core.clone();
            thread::spawn(move || assert!(core.try_submit_at(2, 5).is_ok()))
        };
        token.hand_off();
        submitter.join().unwrap();
        assert_eq!(sleeper.join().unwrap(), Some(2));
    });
}

/// A token holder that has not checked in within the limit may be stuck in a long poll: a
/// submit stamped later than that must wake a sleeping worker rather than leave its job to
/// the holder. The holder here never comes back while the job waits.
#[test]
fn a_submit_wakes_a_sleeper_when_the_token_holder_is_late() {
    loom::model(|| {
        let core = Arc::new(Core::<u32>::new(2, 2).with_check_in_limit(10));
        let token = core.search(1).expect("nobody else holds it");
        let sleeper = {
            let core = core.clone();
            thread::spawn(move || block_on(core.next_job(1)))
        };
        assert!(core.try_submit_at(7, 100).is_ok());
        assert_eq!(sleeper.join().unwrap(), Some(7));
        drop(token);
    });
}

/// Close refuses waiting submitters and wakes them: a submitter waiting on a full queue gets
/// `Closed` (it never hangs), and the queued job is still drained.
#[test]
fn close_wakes_and_refuses_waiting_submitters() {
    loom::model(|| {
        let core = Arc::new(Core::<u32>::new(1, 1));
        assert!(core.try_submit(1).is_ok());
        let submitter = {
            let core = core.clone();
            thread::spawn(move || block_on(core.reserve()).map(|permit| permit.push(2)))
        };
        core.close();
        assert_eq!(submitter.join().unwrap().err(), Some(Refusal::Closed));
        assert_eq!(core.try_pop(), Some(1));
        assert!(core.is_finished());
    });
}

/// A sync submitter tries for a slot for a moment before it waits in line
/// (`reserve_soon`), racing a submitter already waiting and a worker freeing slots: every
/// job is admitted and taken exactly once, and nobody is left waiting (no slot leaked, no
/// lost wake-up).
#[test]
fn submitter_trying_before_it_waits_strands_nothing() {
    loom::model(|| {
        let core = Arc::new(Core::<u32>::new(1, 1));
        assert!(core.try_submit(1).is_ok());
        let waiter = {
            let core = core.clone();
            thread::spawn(move || block_on(core.reserve()).expect("open").push(2))
        };
        let trier = {
            let core = core.clone();
            thread::spawn(move || {
                let permit = match core.reserve_soon(|round| {
                    thread::yield_now();
                    round < 2
                }) {
                    Some(reserved) => reserved,
                    None => block_on(core.reserve()),
                };
                permit.expect("open").push(3);
            })
        };
        let mut popped = Vec::new();
        while popped.len() < 3 {
            match core.try_pop() {
                Some(job) => popped.push(job),
                None => thread::yield_now(),
            }
        }
        waiter.join().unwrap();
        trier.join().unwrap();
        assert_eq!(popped[0], 1);
        popped.sort_unstable();
        assert_eq!(popped, [1, 2, 3]);
        assert_eq!(core.reserved(), 0);
    });
}

/// Two jobs, two idle workers: each job reaches a worker, even though each worker takes one
/// job and then stays busy with it (it may be waiting for the other job). One worker starts as
/// the searcher, gives up (its last look may miss the jobs) and goes through `next_job`; the
/// other sleeps. Two ways to strand the second job, both fixed by `pass_on` in `next_job`:
/// - both submits skip the wake-up (a worker searches), the searcher takes one job;
/// - the first submit spends its wake-up on a worker that is re-registering (re-polled
///   without a job for it), the second wakes that same worker again just before it takes
///   the first job, and the other worker sleeps on.
#[test]
fn two_idle_workers_two_jobs_each_job_reaches_a_worker() {
    loom::model(|| {
        let core = Arc::new(Core::<u32>::new(2, 2));
        let search = core.search(1).expect("nobody else searches");
        let sleeper = {
            let core = core.clone();
            thread::spawn(move || block_on(core.next_job(1)))
        };
        let submitter = {
            let core = core.clone();
            thread::spawn(move || {
                assert!(core.try_submit(1).is_ok());
                assert!(core.try_submit(2).is_ok());
            })
        };
        let mine = match core.try_pop() {
            Some(job) => Some(search.found(job)),
            None => {
                drop(search);
                block_on(core.next_job(0))
            }
        };
        submitter.join().unwrap();
        let theirs = sleeper.join().unwrap();
        let mut got = [mine, theirs];
        got.sort_unstable();
        assert_eq!(got, [Some(1), Some(2)]);
    });
}

/// The last slot of a closed core wakes the idle workers so they exit, even when it is a
/// reservation given back unused rather than a job taken: a worker takes the one queued job
/// and sleeps while a submitter holds the other slot, intake closes, then that slot is
/// dropped. The worker must get the job and then see the core finished (it never hangs),
/// whichever of close, the drop, its take and its going to sleep comes first; the take makes
/// the worker side remember a count of admitted slots that the drop must not trust blindly.
#[test]
fn an_unused_slot_given_back_after_close_lets_idle_workers_exit() {
    loom::model(|| {
        let core = Arc::new(Core::<u32>::new(2, 1));
        assert!(core.try_submit(7).is_ok());
        let permit = core.try_reserve().expect("a second free slot");
        let worker = spawn_worker(&core, 0);
        core.close();
        drop(permit);
        assert_eq!(worker.join().unwrap(), [7]);
        assert!(core.is_drained());
    });
}

/// A submitter held up in the middle of a reservation is never refused while a slot is free:
/// with two slots, it submits once while another thread submits three jobs one at a time and
/// takes each (so at most two jobs are ever queued). Its copy of the counters goes stale
/// meanwhile; it must be refreshed, not trusted to say "full".
#[test]
fn a_delayed_submitter_is_not_refused_while_a_slot_is_free() {
    loom::model(|| a_delayed_submitter_is_not_refused_from(0));
}

/// [`a_delayed_submitter_is_not_refused_while_a_slot_is_free`] with the counters wrapping
/// after the second reservation: the delayed submitter's copy of `admitted` may be from
/// before the wrap and `released` from after it.
#[test]
fn a_delayed_submitter_is_not_refused_across_the_wrap() {
    loom::model(|| a_delayed_submitter_is_not_refused_from(ONE_BEFORE_THE_WRAP - 1));
}

fn a_delayed_submitter_is_not_refused_from(history: usize) {
    let core = Arc::new(Core::<u32>::with_history(2, 1, history));
    let delayed = {
        let core = core.clone();
        thread::spawn(move || core.try_submit(1).is_ok())
    };
    let mut popped = 0;
    for job in 2..=4 {
        assert!(
            core.try_submit(job).is_ok(),
            "at most one other job is queued"
        );
        while core.try_pop().is_some() {
            popped += 1;
        }
    }
    assert!(delayed.join().unwrap(), "refused with a free slot");
    while core.try_pop().is_some() {
        popped += 1;
    }
    assert_eq!(popped, 4);
    assert_eq!(core.reserved(), 0);
}

/// The last job taken after close lets the other, idle, worker exit: one worker takes the only
/// job while intake closes and the other worker goes to sleep. Either the taker sees the core
/// closed and wakes the sleeper, or `close` wakes it, or the sleeper, registering after
/// `close`, sees the job taken; it never sleeps on a finished core.
#[test]
fn the_last_job_taken_after_close_lets_an_idle_worker_exit() {
    loom::model(|| the_last_job_taken_after_close_from(0));
}

/// [`the_last_job_taken_after_close_lets_an_idle_worker_exit`] with the only job's
/// reservation wrapping `admitted` to zero: the closed core's last release compares a
/// wrapped count (and `is_finished` a closed word of just the closed bit).
#[test]
fn the_last_job_taken_after_close_across_the_wrap() {
    loom::model(|| the_last_job_taken_after_close_from(ONE_BEFORE_THE_WRAP));
}

fn the_last_job_taken_after_close_from(history: usize) {
    let core = Arc::new(Core::<u32>::with_history(1, 2, history));
    assert!(core.try_submit(7).is_ok());
    let workers = [spawn_worker(&core, 0), spawn_worker(&core, 1)];
    core.close();
    let mut got: Vec<u32> = workers
        .into_iter()
        .flat_map(|worker| worker.join().unwrap())
        .collect();
    got.sort_unstable();
    assert_eq!(got, [7]);
    assert!(core.is_drained());
}

/// The deadline takes back a slot granted to a waiting submitter that has not claimed it,
/// racing that submitter's claim: the slot is given back exactly once (by the abort or with
/// the job that claimed it), the submitter either queues its job, which the drain takes, or
/// is refused, and the core ends finished with nothing reserved.
#[test]
fn the_deadline_takes_back_an_unclaimed_grant_exactly_once() {
    loom::model(|| {
        let core = Arc::new(Core::<u32>::new(1, 1));
        assert!(core.try_submit(1).is_ok());
        let waiter = {
            let core = core.clone();
            thread::spawn(move || match block_on(core.reserve()) {
                Ok(permit) => {
                    permit.push(2);
                    true
                }
                Err(refusal) => {
                    assert_eq!(refusal, Refusal::Closed);
                    false
                }
            })
        };
        assert_eq!(core.try_pop(), Some(1));
        core.close();
        core.abort();
        let mut drained = Vec::new();
        loop {
            while let Some(job) = core.try_pop() {
                drained.push(job);
            }
            if core.is_finished() {
                break;
            }
            thread::yield_now();
        }
        let queued = waiter.join().unwrap();
        assert_eq!(drained, if queued { vec![2] } else { vec![] });
        assert_eq!(core.reserved(), 0);
        assert_eq!(core.try_pop(), None);
    });
}
