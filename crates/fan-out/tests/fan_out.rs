//! Behaviour of `FanOut` on paused tokio time: order, policies, timeouts, deadline,
//! cancellation, panics, the concurrency limit, snoozing, cancel safety; plus the
//! gather helpers and `par_fan_out`.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use tidewater_fan_out::{
    ErrorPolicy, FanOut, ItemError, Stop, first_ok, from_stream, hedged, par_fan_out, quorum,
};
use tokio::time::{Instant, sleep};
use tokio_util::sync::CancellationToken;

fn limit(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n).unwrap()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Counts live item futures: +1 when created, -1 when dropped (finished or cancelled).
#[derive(Clone, Default)]
struct Live(Arc<AtomicUsize>);

struct LiveGuard(Arc<AtomicUsize>);

impl Live {
    fn enter(&self) -> LiveGuard {
        self.0.fetch_add(1, Ordering::SeqCst);
        LiveGuard(Arc::clone(&self.0))
    }
    fn now(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[tokio::test(start_paused = true)]
async fn ordered_results_keep_input_order_even_when_completion_is_reversed() {
    let fan = FanOut::new(limit(4));
    let out = fan
        .run(0..10u64, |i| async move {
            sleep(ms(100 - i * 10)).await;
            Ok::<_, ()>(i)
        })
        .await;
    assert_eq!(out.unwrap(), (0..10).collect::<Vec<_>>());
}

#[tokio::test(start_paused = true)]
async fn unordered_results_come_in_completion_order() {
    let fan = FanOut::new(limit(4)).unordered();
    let out = fan
        .run([40u64, 10, 30, 20], |d| async move {
            sleep(ms(d)).await;
            Ok::<_, ()>(d)
        })
        .await;
    assert_eq!(out.unwrap(), vec![10, 20, 30, 40]);
}

#[tokio::test(start_paused = true)]
async fn borrowing_inputs_and_non_send_futures_work_in_task() {
    let words = vec![String::from("a"), String::from("bcd")];
    let local = std::rc::Rc::new(5usize);
    let fan = FanOut::new(limit(2));
    let out = fan
        .run(&words, |w| {
            let local = std::rc::Rc::clone(&local);
            async move { Ok::<_, ()>(w.len() + *local) }
        })
        .await;
    assert_eq!(out.unwrap(), vec![6, 8]);
}

#[tokio::test(start_paused = true)]
async fn fail_fast_cancels_outstanding_items_and_stops_pulling() {
    let live = Live::default();
    let pulled = Arc::new(AtomicUsize::new(0));
    let p = Arc::clone(&pulled);
    let inputs = (0..100u64).inspect(move |_| {
        p.fetch_add(1, Ordering::SeqCst);
    });
    let fan = FanOut::new(limit(3));
    let err = fan
        .run(inputs, |i| {
            let guard = live.enter();
            async move {
                let _guard = guard;
                sleep(ms(if i == 1 { 5 } else { 10 })).await;
                if i == 1 { Err("boom") } else { Ok(i) }
            }
        })
        .await
        .unwrap_err();
    assert_eq!(err.stop, Some(Stop::FailFast { index: 1 }));
    assert_eq!(err.failures, vec![(1, ItemError::Failed("boom"))]);
    assert!(err.completed.is_empty());
    // Items 0 and 2 were running; the failure is seen before the freed slot is refilled.
    assert_eq!(err.unfinished, vec![0, 2]);
    assert_eq!(err.pulled, 3);
    assert_eq!(pulled.load(Ordering::SeqCst), 3);
    assert_eq!(live.now(), 0, "every cancelled item future was dropped");
}

#[tokio::test(start_paused = true)]
async fn collect_all_reports_every_failure_by_index() {
    let fan = FanOut::new(limit(3)).error_policy(ErrorPolicy::CollectAll);
    let err = fan
        .run(0..10u32, |i| async move {
            sleep(ms(u64::from(10 - i))).await;
            if i % 3 == 0 { Err(i) } else { Ok(i * 2) }
        })
        .await
        .unwrap_err();
    assert_eq!(err.stop, None);
    let failed: Vec<usize> = err.failures.iter().map(|(i, _)| *i).collect();
    assert_eq!(failed, vec![0, 3, 6, 9]);
    assert_eq!(err.failures[1].1, ItemError::Failed(3));
    assert!(err.to_string().contains("4 of 10 items failed"));
    assert_eq!(
        err.completed,
        vec![(1, 2), (2, 4), (4, 8), (5, 10), (7, 14), (8, 16)]
    );
    assert!(err.unfinished.is_empty());
    assert_eq!(err.pulled, 10);
}

#[tokio::test(start_paused = true)]
async fn skip_returns_only_successes_in_order() {
    let fan = FanOut::new(limit(2)).error_policy(ErrorPolicy::Skip);
    let out = fan
        .run(0..6u32, |i| async move {
            sleep(ms(u64::from(6 - i))).await;
            if i % 2 == 0 { Err(()) } else { Ok(i) }
        })
        .await;
    assert_eq!(out.unwrap(), vec![1, 3, 5]);
}

#[tokio::test(start_paused = true)]
async fn item_timeout_fails_only_the_slow_item() {
    for spawned in [false, true] {
        let fan = FanOut::new(limit(4))
            .error_policy(ErrorPolicy::CollectAll)
            .item_timeout(ms(50));
        let job = |i: u64| async move {
            sleep(ms(if i == 2 { 1_000 } else { 10 })).await;
            Ok::<_, ()>(i)
        };
        let err = if spawned {
            fan.spawned().run(0..5u64, job).await
        } else {
            fan.run(0..5u64, job).await
        }
        .unwrap_err();
        assert_eq!(err.failures, vec![(2, ItemError::TimedOut(ms(50)))]);
        assert_eq!(err.completed.len(), 4);
    }
}

#[tokio::test(start_paused = true)]
async fn huge_item_timeout_means_no_timeout() {
    let fan = FanOut::new(limit(2)).item_timeout(Duration::MAX);
    let out = fan
        .run(0..3u64, |i| async move {
            sleep(ms(i)).await;
            Ok::<_, ()>(i)
        })
        .await;
    assert_eq!(out.unwrap(), vec![0, 1, 2]);
}

#[tokio::test(start_paused = true)]
async fn deadline_returns_partial_results_and_names_unfinished_items() {
    let live = Live::default();
    let fan = FanOut::new(limit(2)).deadline(Instant::now() + ms(25));
    let err = fan
        .run(0..10u64, |i| {
            let guard = live.enter();
            async move {
                let _guard = guard;
                sleep(ms(10)).await;
                Ok::<_, ()>(i)
            }
        })
        .await
        .unwrap_err();
    assert_eq!(err.stop, Some(Stop::Deadline));
    assert_eq!(err.completed, vec![(0, 0), (1, 1), (2, 2), (3, 3)]);
    assert_eq!(err.unfinished, vec![4, 5]);
    assert_eq!(err.pulled, 6);
    assert_eq!(live.now(), 0);
}

#[tokio::test(start_paused = true)]
async fn cancellation_token_stops_the_run() {
    let token = CancellationToken::new();
    let trigger = token.clone();
    tokio::spawn(async move {
        sleep(ms(15)).await;
        trigger.cancel();
    });
    let fan = FanOut::new(limit(1)).cancel_on(token).spawned();
    let err = fan
        .run(0..10u64, |i| async move {
            sleep(ms(10)).await;
            Ok::<_, ()>(i)
        })
        .await
        .unwrap_err();
    assert_eq!(err.stop, Some(Stop::Cancelled));
    assert_eq!(err.completed, vec![(0, 0)]);
    assert_eq!(err.unfinished, vec![1]);
}

#[tokio::test(start_paused = true)]
async fn panics_are_isolated_per_item_in_both_modes() {
    let job = |i: u32| async move {
        sleep(ms(1)).await;
        assert!(i != 3, "item three exploded");
        Ok::<_, ()>(i)
    };
    let fan = FanOut::new(limit(2)).error_policy(ErrorPolicy::CollectAll);
    let in_task = fan.run(0..5u32, job).await.unwrap_err();
    let spawned = fan.clone().spawned().run(0..5u32, job).await.unwrap_err();
    for err in [in_task, spawned] {
        assert_eq!(err.failures.len(), 1);
        let (index, failure) = &err.failures[0];
        assert_eq!(*index, 3);
        assert!(matches!(failure, ItemError::Panicked(m) if m.contains("item three exploded")));
        assert_eq!(err.completed.len(), 4);
    }
}

#[tokio::test(start_paused = true)]
async fn a_panic_while_creating_the_future_is_an_item_error() {
    let fan = FanOut::new(limit(2)).error_policy(ErrorPolicy::CollectAll);
    let err = fan
        .run(0..3u32, |i| {
            assert!(i != 1, "bad input");
            async move { Ok::<_, ()>(i) }
        })
        .await
        .unwrap_err();
    assert!(matches!(&err.failures[..], [(1, ItemError::Panicked(_))]));
    assert_eq!(err.completed, vec![(0, 0), (2, 2)]);
}

/// Held by an item future: panics if the future is dropped before it finished.
struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("item destructor exploded");
        }
    }
}

/// A panic in the destructor of an item dropped by its timeout never hangs the run, in
/// either mode: the item is reported as timed out. Spawned, the task used to panic before it
/// reported, so the driver waited for it forever. The outer timeout only turns such a hang
/// into a failure: on paused time it fires at once when nothing else can move.
#[tokio::test(start_paused = true)]
async fn a_panic_while_dropping_an_item_never_hangs_the_run() {
    let job = |i: u32| async move {
        let armed = PanicsOnDrop;
        sleep(ms(u64::from(i) * 10)).await;
        std::mem::forget(armed);
        Ok::<_, ()>(i)
    };
    let fan = FanOut::new(limit(2))
        .error_policy(ErrorPolicy::CollectAll)
        .item_timeout(ms(15));
    for spawned in [false, true] {
        let run = async {
            if spawned {
                fan.clone().spawned().run(0..3u32, job).await
            } else {
                fan.run(0..3u32, job).await
            }
        };
        let err = tokio::time::timeout(Duration::from_secs(3600), run)
            .await
            .unwrap_or_else(|_| panic!("the run hung (spawned: {spawned})"))
            .unwrap_err();
        assert_eq!(err.completed, vec![(0, 0), (1, 1)], "spawned: {spawned}");
        assert!(
            matches!(&err.failures[..], [(2, ItemError::TimedOut(_))]),
            "spawned: {spawned}: {:?}",
            err.failures
        );
    }
}

/// Samples the number of running items at half-millisecond offsets, between completions
/// (durations are whole milliseconds): while inputs remain it must equal the limit.
async fn check_limit_is_reached(spawned: bool) {
    let n = 40u64;
    let lim = 5usize;
    let running = Arc::new(AtomicUsize::new(0));
    let started = Arc::new(AtomicUsize::new(0));
    let max_seen = Arc::new(AtomicUsize::new(0));
    let (r, s, m) = (running.clone(), started.clone(), max_seen.clone());
    let job = move |i: u64| {
        let (r, s, m) = (r.clone(), s.clone(), m.clone());
        async move {
            s.fetch_add(1, Ordering::SeqCst);
            let now = r.fetch_add(1, Ordering::SeqCst) + 1;
            m.fetch_max(now, Ordering::SeqCst);
            sleep(ms(1 + (i * 7) % 5)).await;
            r.fetch_sub(1, Ordering::SeqCst);
            Ok::<_, ()>(i)
        }
    };
    let monitor = async {
        sleep(Duration::from_micros(500)).await;
        let mut samples = 0;
        while started.load(Ordering::SeqCst) < n as usize {
            assert_eq!(
                running.load(Ordering::SeqCst),
                lim,
                "in flight fell below the limit"
            );
            samples += 1;
            sleep(ms(1)).await;
        }
        samples
    };
    let fan = FanOut::new(limit(lim));
    let spawned_fan = fan.clone().spawned();
    let (out, samples) = if spawned {
        tokio::join!(spawned_fan.run(0..n, job), monitor)
    } else {
        tokio::join!(fan.run(0..n, job), monitor)
    };
    assert_eq!(out.unwrap().len(), n as usize);
    assert!(samples > 10);
    assert_eq!(max_seen.load(Ordering::SeqCst), lim);
}

#[tokio::test(start_paused = true)]
async fn in_flight_never_exceeds_and_always_reaches_the_limit_in_task() {
    check_limit_is_reached(false).await;
}

#[tokio::test(start_paused = true)]
async fn in_flight_never_exceeds_and_always_reaches_the_limit_spawned() {
    check_limit_is_reached(true).await;
}

#[tokio::test(start_paused = true)]
async fn ordered_stream_delivers_in_order_and_bounds_its_window() {
    let running = Arc::new(AtomicUsize::new(0));
    let max_ahead = Arc::new(AtomicUsize::new(0));
    let delivered = Arc::new(AtomicUsize::new(0));
    let fan = FanOut::new(limit(3));
    let (r, a, d) = (running.clone(), max_ahead.clone(), delivered.clone());
    let mut stream = fan.stream(0..30usize, move |i| {
        // How far ahead of the consumer this item starts.
        a.fetch_max(i - d.load(Ordering::SeqCst), Ordering::SeqCst);
        let r = r.clone();
        async move {
            r.fetch_add(1, Ordering::SeqCst);
            // Item 0 is slow: later items pile up behind it.
            sleep(ms(if i == 0 { 100 } else { 1 })).await;
            r.fetch_sub(1, Ordering::SeqCst);
            Ok::<_, ()>(i * 10)
        }
    });
    let mut expected = 0;
    while let Some((index, outcome)) = stream.next().await {
        assert_eq!(index, expected);
        assert_eq!(outcome, Ok(index * 10));
        expected += 1;
        delivered.store(expected, Ordering::SeqCst);
    }
    assert_eq!(expected, 30);
    assert!(max_ahead.load(Ordering::SeqCst) < 6, "window is 2 x limit");
}

#[tokio::test(start_paused = true)]
async fn fail_fast_stream_yields_the_failure_then_the_cancelled_items() {
    let fan = FanOut::new(limit(3)).unordered();
    let events: Vec<_> = fan
        .stream(0..10u64, |i| async move {
            sleep(ms(if i == 0 { 1 } else { 50 })).await;
            if i == 0 { Err("first") } else { Ok(i) }
        })
        .collect()
        .await;
    assert_eq!(events[0], (0, Err(ItemError::Failed("first"))));
    let cancelled: Vec<usize> = events[1..].iter().map(|(i, _)| *i).collect();
    assert_eq!(cancelled, vec![1, 2]);
    assert!(
        events[1..]
            .iter()
            .all(|(_, o)| *o == Err(ItemError::Cancelled(Stop::FailFast { index: 0 })))
    );
}

#[tokio::test(start_paused = true)]
async fn stream_inputs_are_pulled_lazily() {
    let fan = FanOut::new(limit(2)).unordered().spawned();
    let source = futures::stream::iter(0..5u64).then(|i| async move {
        sleep(ms(1)).await;
        i
    });
    let mut out = fan
        .run(from_stream(source), |i| async move { Ok::<_, ()>(i + 1) })
        .await
        .unwrap();
    out.sort_unstable();
    assert_eq!(out, vec![1, 2, 3, 4, 5]);
}

/// The futures#2387 "snooze" deadlock: the consumer waits for a lock that an in-flight
/// item holds. `buffered` stops polling the item while the consumer waits: deadlock.
/// `for_each` keeps polling items; a spawned stream's items run on their own.
#[tokio::test(start_paused = true)]
async fn snoozed_items_do_not_deadlock_the_consumer() {
    let lock = Arc::new(tokio::sync::Mutex::new(()));
    let job = {
        let lock = lock.clone();
        move |i: u64| {
            let lock = lock.clone();
            async move {
                sleep(ms(i)).await;
                let _held = lock.lock().await;
                sleep(ms(5)).await;
                Ok::<_, ()>(i)
            }
        }
    };

    // The peer: deadlocks (detected with a timeout on paused time).
    let peer = async {
        let mut s = futures::stream::iter(0..6u64).map(job.clone()).buffered(3);
        while let Some(_item) = s.next().await {
            let _consumer = lock.lock().await;
        }
    };
    assert!(
        tokio::time::timeout(Duration::from_secs(60), peer)
            .await
            .is_err(),
        "the peer was expected to deadlock"
    );

    let seen = AtomicUsize::new(0);
    let fan = FanOut::new(limit(3));
    let done = fan
        .for_each(0..6u64, job.clone(), |_, outcome| {
            assert!(outcome.is_ok());
            seen.fetch_add(1, Ordering::SeqCst);
            let lock = lock.clone();
            async move {
                let _consumer = lock.lock().await;
                sleep(ms(1)).await;
            }
        })
        .await;
    assert_eq!(done, Ok(()));
    assert_eq!(seen.load(Ordering::SeqCst), 6);

    let spawned = fan.clone().spawned();
    let mut s = spawned.stream(0..6u64, job);
    let mut n = 0;
    while let Some((_, outcome)) = s.next().await {
        assert!(outcome.is_ok());
        let _consumer = lock.lock().await;
        sleep(ms(1)).await;
        n += 1;
    }
    assert_eq!(n, 6);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_run_future_cancels_every_item() {
    let live = Live::default();
    let fan = FanOut::new(limit(4));
    let run = fan.run(0..100u64, |i| {
        let guard = live.enter();
        async move {
            let _guard = guard;
            sleep(ms(10 + i)).await;
            Ok::<_, ()>(i)
        }
    });
    assert!(tokio::time::timeout(ms(25), run).await.is_err());
    assert_eq!(live.now(), 0);
}

#[tokio::test(start_paused = true)]
async fn dropping_a_spawned_run_aborts_its_tasks() {
    let live = Live::default();
    let fan = FanOut::new(limit(4)).spawned();
    let run = fan.run(0..100u64, {
        let live = live.clone();
        move |i| {
            let guard = live.enter();
            async move {
                let _guard = guard;
                sleep(ms(10 + i)).await;
                Ok::<_, ()>(i)
            }
        }
    });
    assert!(tokio::time::timeout(ms(25), run).await.is_err());
    // Aborted tasks are dropped by the runtime on its next turn.
    sleep(ms(1)).await;
    assert_eq!(live.now(), 0);
}

#[test]
fn spawned_mode_without_a_runtime_is_a_typed_error() {
    let fan = FanOut::new(limit(2)).spawned();
    let out = futures::executor::block_on(fan.run(0..3u32, |i| async move { Ok::<_, String>(i) }));
    let err = out.unwrap_err();
    assert_eq!(err.stop, Some(Stop::NoRuntime));
    assert_eq!(err.pulled, 0);
    assert!(err.to_string().contains("tokio runtime"));
}

#[test]
fn in_task_mode_needs_no_runtime() {
    let fan = FanOut::new(limit(2)).unordered();
    let out = futures::executor::block_on(fan.run(0..3u32, |i| async move { Ok::<_, ()>(i) }));
    assert_eq!(out.unwrap(), vec![0, 1, 2]);
}

#[tokio::test(start_paused = true)]
async fn limit_one_runs_strictly_one_at_a_time() {
    let running = Arc::new(AtomicUsize::new(0));
    let fan = FanOut::new(limit(1));
    let out = fan
        .run(0..5u64, |i| {
            let running = running.clone();
            async move {
                assert_eq!(running.fetch_add(1, Ordering::SeqCst), 0);
                sleep(ms(5 - i)).await;
                running.fetch_sub(1, Ordering::SeqCst);
                Ok::<_, ()>(i)
            }
        })
        .await;
    assert_eq!(out.unwrap(), vec![0, 1, 2, 3, 4]);
}

#[tokio::test(start_paused = true)]
async fn empty_inputs_finish_immediately() {
    let fan = FanOut::new(limit(3));
    let out = fan
        .run(Vec::<u32>::new(), |i| async move { Ok::<_, ()>(i) })
        .await;
    assert_eq!(out.unwrap(), Vec::<u32>::new());
}

#[tokio::test(start_paused = true)]
async fn first_ok_takes_the_first_success_and_cancels_the_rest() {
    let live = Live::default();
    let attempts = [30u64, 10, 20].map(|d| {
        let guard = live.enter();
        async move {
            let _guard = guard;
            sleep(ms(d)).await;
            if d == 10 {
                Err("fast but wrong")
            } else {
                Ok(d)
            }
        }
    });
    assert_eq!(first_ok(attempts).await, Ok(20));
    assert_eq!(live.now(), 0);

    let all_bad = [1u64, 2].map(|d| async move { if d > 0 { Err(d) } else { Ok(()) } });
    let err = first_ok(all_bad).await.unwrap_err();
    assert_eq!(err.failures.len(), 2);
    let none: Vec<std::future::Ready<Result<(), ()>>> = Vec::new();
    assert!(first_ok(none).await.is_err());
}

#[tokio::test(start_paused = true)]
async fn quorum_needs_k_successes_and_gives_up_early() {
    let votes = [5u64, 1, 3, 2].map(|d| async move {
        sleep(ms(d)).await;
        Ok::<_, ()>(d)
    });
    assert_eq!(quorum(2, votes).await.unwrap(), vec![(1, 1), (3, 2)]);

    let start = Instant::now();
    let votes = [1u64, 2, 100].map(|d| async move {
        sleep(ms(d)).await;
        if d < 100 { Err(d) } else { Ok(d) }
    });
    let err = quorum(2, votes).await.unwrap_err();
    assert_eq!(err.failures.len(), 2);
    assert!(start.elapsed() < ms(100), "gave up once 2 of 3 had failed");

    let too_many = quorum(3, [std::future::ready(Ok::<_, ()>(1))]).await;
    assert_eq!(too_many.unwrap_err().needed, 3);
    assert_eq!(
        quorum(0, [std::future::ready(Ok::<_, ()>(1))]).await,
        Ok(vec![])
    );
}

#[tokio::test(start_paused = true)]
async fn hedged_starts_a_backup_after_the_delay_or_after_a_failure() {
    // The first answers quickly: no backup.
    let calls = AtomicUsize::new(0);
    let out = hedged(ms(50), || {
        calls.fetch_add(1, Ordering::SeqCst);
        async { Ok::<_, ()>("first") }
    })
    .await;
    assert_eq!(out, Ok("first"));
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // The first fails at once: the backup starts without waiting for the delay.
    let start = Instant::now();
    let calls = AtomicUsize::new(0);
    let out = hedged(ms(50), || {
        let n = calls.fetch_add(1, Ordering::SeqCst);
        async move { if n == 0 { Err("down") } else { Ok("backup") } }
    })
    .await;
    assert_eq!(out, Ok("backup"));
    assert_eq!(start.elapsed(), Duration::ZERO);

    // Both fail.
    let err = hedged(ms(5), || async { Err::<(), _>("no") })
        .await
        .unwrap_err();
    assert_eq!(err.failures.len(), 2);
}

#[test]
fn par_fan_out_keeps_order_and_applies_policies() {
    let out = par_fan_out(
        (0..10_000u64).collect::<Vec<_>>(),
        ErrorPolicy::FailFast,
        |x| Ok::<_, ()>(x * 2),
    );
    assert_eq!(
        out.unwrap(),
        (0..10_000u64).map(|x| x * 2).collect::<Vec<_>>()
    );

    let all = par_fan_out(0..100u32, ErrorPolicy::CollectAll, |x| {
        assert!(x != 50, "fifty");
        if x % 10 == 0 { Err(x) } else { Ok(x) }
    })
    .unwrap_err();
    assert_eq!(all.failures.len(), 10);
    assert!(matches!(all.failures[5], (50, ItemError::Panicked(ref m)) if m == "fifty"));
    assert_eq!(all.completed.len(), 90);

    let skip = par_fan_out(0..10u32, ErrorPolicy::Skip, |x| {
        if x < 5 { Err(()) } else { Ok(x) }
    });
    assert_eq!(skip.unwrap(), vec![5, 6, 7, 8, 9]);

    let fast = par_fan_out(0..10_000u32, ErrorPolicy::FailFast, |x| {
        if x == 0 { Err("zero") } else { Ok(x) }
    })
    .unwrap_err();
    assert_eq!(fast.stop, Some(Stop::FailFast { index: 0 }));
    assert_eq!(
        fast.completed.len() + fast.failures.len() + fast.unfinished.len(),
        10_000
    );
}

#[tokio::test(start_paused = true)]
async fn dropping_a_stream_or_a_for_each_mid_way_cancels_every_item() {
    let live = Live::default();
    let fan = FanOut::new(limit(3));
    let job = |i: u64| {
        let guard = live.enter();
        async move {
            let _guard = guard;
            sleep(ms(1 + i % 4)).await;
            Ok::<_, ()>(i)
        }
    };
    let mut stream = fan.stream(0..50u64, job);
    for expected in 0..5 {
        assert_eq!(stream.next().await.map(|(i, _)| i), Some(expected));
    }
    assert!(live.now() > 0);
    drop(stream);
    assert_eq!(live.now(), 0);

    let each = fan.for_each(0..50u64, job, |_, _| sleep(ms(100)));
    assert!(tokio::time::timeout(ms(150), each).await.is_err());
    assert_eq!(live.now(), 0);
}

#[tokio::test(start_paused = true)]
async fn skip_in_an_ordered_stream_moves_past_the_failed_index() {
    let fan = FanOut::new(limit(2)).error_policy(ErrorPolicy::Skip);
    let events: Vec<_> = fan
        .stream(0..6u64, |i| async move {
            sleep(ms(6 - i)).await;
            if i % 2 == 1 { Err(i) } else { Ok(i) }
        })
        .collect()
        .await;
    assert_eq!(events, vec![(0, Ok(0)), (2, Ok(2)), (4, Ok(4))]);
}

#[tokio::test(start_paused = true)]
async fn for_each_reports_a_stop_and_delivers_cancelled_items() {
    let fan = FanOut::new(limit(2));
    let mut seen = Vec::new();
    let stop = fan
        .for_each(
            0..10u64,
            |i| async move {
                sleep(ms(if i == 0 { 1 } else { 10 })).await;
                if i == 0 { Err("zero") } else { Ok(i) }
            },
            |i, outcome| {
                seen.push((i, outcome));
                std::future::ready(())
            },
        )
        .await;
    assert_eq!(stop, Err(Stop::FailFast { index: 0 }));
    assert_eq!(
        seen,
        vec![
            (0, Err(ItemError::Failed("zero"))),
            (1, Err(ItemError::Cancelled(Stop::FailFast { index: 0 })))
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_huge_limit_allocates_only_what_is_used() {
    let fan = FanOut::new(NonZeroUsize::MAX);
    let events: Vec<_> = fan
        .stream(0..5u64, |i| async move {
            sleep(ms(5 - i)).await;
            Ok::<_, ()>(i)
        })
        .collect()
        .await;
    assert_eq!(
        events.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        vec![0, 1, 2, 3, 4]
    );
}
