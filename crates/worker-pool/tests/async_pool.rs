//! Behaviour of `WorkerPool`: limits, backpressure, handles, panics, shutdown accounting.
#![cfg(not(tidewater_loom))]

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tidewater_worker_pool::{
    BuildError, JobError, JobHandle, MAX_WORKERS, PoolClosed, SubmitTimeoutError, TrySubmitError,
    WorkerPool,
};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

fn pool(workers: usize, capacity: usize) -> WorkerPool {
    WorkerPool::builder()
        .workers(workers)
        .queue_capacity(capacity)
        .name("test")
        .build()
        .unwrap()
}

/// Polls a future once without a runtime waker; `Some` if it finished.
fn poll_once<F: Future + Unpin>(future: &mut F) -> Option<F::Output> {
    let mut cx = Context::from_waker(Waker::noop());
    match std::pin::Pin::new(future).poll(&mut cx) {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}

/// Submits a job that holds the (single) worker until `release` is sent, and lets the worker
/// take it, so the queue is empty again.
async fn occupy_the_worker(pool: &WorkerPool) -> (oneshot::Sender<()>, JobHandle<()>) {
    let (release, gate) = oneshot::channel::<()>();
    let blocker = pool
        .submit(async move {
            let _ = gate.await;
        })
        .await
        .unwrap();
    tokio::task::yield_now().await;
    (release, blocker)
}

#[test]
fn zero_sizes_and_missing_runtime_are_typed_errors() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let guard = rt.enter();
    assert!(matches!(
        WorkerPool::builder().workers(0).build(),
        Err(BuildError::ZeroWorkers)
    ));
    assert!(matches!(
        WorkerPool::builder().queue_capacity(0).build(),
        Err(BuildError::ZeroQueueCapacity)
    ));
    // Sizes that would abort on allocation (or start a million tasks) are refused too.
    assert!(matches!(
        WorkerPool::builder().queue_capacity(usize::MAX).build(),
        Err(BuildError::QueueCapacityTooLarge {
            capacity: usize::MAX
        })
    ));
    assert!(matches!(
        WorkerPool::builder().workers(MAX_WORKERS + 1).build(),
        Err(BuildError::TooManyWorkers { workers }) if workers == MAX_WORKERS + 1
    ));
    drop(guard);
    let err = WorkerPool::builder().build().unwrap_err();
    assert!(matches!(err, BuildError::NoRuntime));
    assert!(err.to_string().contains("runtime"));
    // An explicit handle works outside the runtime context.
    let pool = WorkerPool::builder()
        .runtime(rt.handle().clone())
        .workers(1)
        .build()
        .unwrap();
    let value = rt.block_on(async { pool.submit(async { 5 }).await.unwrap().await });
    assert_eq!(value, Ok(5));
}

#[tokio::test(start_paused = true)]
async fn never_more_than_workers_run_at_once() {
    let pool = pool(3, 100);
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::new();
    for _ in 0..20 {
        let running = running.clone();
        let peak = peak.clone();
        handles.push(
            pool.submit(async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(10)).await;
                running.fetch_sub(1, Ordering::SeqCst);
            })
            .await
            .unwrap(),
        );
        assert!(pool.metrics().running <= 3);
    }
    for handle in handles {
        handle.await.unwrap();
    }
    assert_eq!(peak.load(Ordering::SeqCst), 3);
    let metrics = pool.metrics();
    assert_eq!(metrics.completed, 20);
    assert_eq!(metrics.started, 20);
    assert_eq!(metrics.workers, 3);
    assert!(metrics.queue_wait_max >= metrics.queue_wait_mean());
}

#[tokio::test(start_paused = true)]
async fn try_submit_hands_the_job_back_when_full_and_queue_stays_bounded() {
    let pool = pool(1, 2);
    let (release, blocker) = occupy_the_worker(&pool).await;
    let a = pool.try_submit(async { 1 }).unwrap();
    let b = pool.try_submit(async { 2 }).unwrap();
    assert_eq!(pool.metrics().queued, 2);
    match pool.try_submit(async { 3 }) {
        Err(TrySubmitError::Full(job)) => assert_eq!(job.await, 3),
        other => panic!("expected Full, got {other:?}"),
    }
    assert!(pool.metrics().queued <= 2);
    assert_eq!(pool.metrics().rejected, 1);
    release.send(()).unwrap();
    blocker.await.unwrap();
    assert_eq!(a.await, Ok(1));
    assert_eq!(b.await, Ok(2));
}

#[tokio::test(start_paused = true)]
async fn submit_waits_for_space_and_wakes_when_it_frees() {
    let pool = pool(1, 1);
    let (release, blocker) = occupy_the_worker(&pool).await;
    let queued = pool.submit(async { "queued" }).await.unwrap();
    let waiting = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.submit(async { "waited" }).await.unwrap().await })
    };
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert!(!waiting.is_finished(), "queue is full: submit must wait");
    release.send(()).unwrap();
    blocker.await.unwrap();
    assert_eq!(queued.await, Ok("queued"));
    assert_eq!(waiting.await.unwrap(), Ok("waited"));
}

#[tokio::test(start_paused = true)]
async fn dropping_submit_at_each_await_point_leaks_no_slot() {
    let pool = pool(1, 1);
    let (release, blocker) = occupy_the_worker(&pool).await;
    let queued = pool.submit(async { 1 }).await.unwrap();
    // Full now: a submit registers as a waiter; drop it mid-wait, many times.
    let ran = Arc::new(AtomicBool::new(false));
    for _ in 0..5 {
        let ran = ran.clone();
        let mut submit = Box::pin(pool.submit(async move { ran.store(true, Ordering::SeqCst) }));
        assert!(poll_once(&mut submit).is_none());
        drop(submit);
    }
    // A submit timing out gives the job back and frees its place in line.
    match pool
        .submit_timeout(async { 2 }, Duration::from_millis(5))
        .await
    {
        Err(SubmitTimeoutError::Timeout(job)) => assert_eq!(job.await, 2),
        other => panic!("expected Timeout, got {other:?}"),
    }
    release.send(()).unwrap();
    blocker.await.unwrap();
    assert_eq!(queued.await, Ok(1));
    // The slots all came back: the queue takes a new job at once.
    let after = pool.try_submit(async { 3 }).unwrap();
    assert_eq!(after.await, Ok(3));
    assert!(
        !ran.load(Ordering::SeqCst),
        "a dropped submit must not queue its job"
    );
    let report = pool.shutdown(Duration::from_secs(1)).await;
    assert_eq!(report.completed, 3);
    assert_eq!(report.rejected, 1);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_job_becomes_an_error_and_the_worker_survives() {
    let pool = pool(1, 8);
    let boom = pool.submit(async { panic!("boom {}", 7) }).await.unwrap();
    let fine = pool.submit(async { "still serving" }).await.unwrap();
    assert_eq!(boom.await, Err(JobError::Panicked("boom 7".into())));
    assert_eq!(fine.await, Ok("still serving"));
    let metrics = pool.metrics();
    assert_eq!(
        (metrics.panicked, metrics.completed, metrics.workers),
        (1, 1, 1)
    );
}

#[tokio::test(start_paused = true)]
async fn abort_cancels_queued_and_running_jobs_and_drop_does_not() {
    let pool = pool(1, 8);
    let (_never, gate) = oneshot::channel::<()>();
    let stuck = pool
        .submit(async move {
            let _ = gate.await;
            "never"
        })
        .await
        .unwrap();
    let queued = pool.submit(async { "queued" }).await.unwrap();
    let finished = Arc::new(AtomicBool::new(false));
    let detached = {
        let finished = finished.clone();
        pool.submit(async move { finished.store(true, Ordering::SeqCst) })
            .await
            .unwrap()
    };
    detached.detach();
    tokio::task::yield_now().await;
    queued.abort();
    assert!(queued.is_finished());
    assert_eq!(queued.await, Err(JobError::Cancelled));
    stuck.abort();
    assert_eq!(stuck.await, Err(JobError::Cancelled));
    let report = pool.shutdown(Duration::from_secs(1)).await;
    assert!(finished.load(Ordering::SeqCst), "a detached job still runs");
    assert_eq!((report.completed, report.cancelled), (1, 2));
    assert!(report.drained_in_time);
}

#[tokio::test(start_paused = true)]
async fn shutdown_accounts_for_queued_running_and_late_jobs() {
    let pool = pool(2, 4);
    let mut handles = Vec::new();
    handles.push(pool.submit(async { panic!("early panic") }).await.unwrap());
    // Quick jobs, two that outlive the grace period, two queued behind those.
    for ms in [1, 1, 10_000, 10_000, 1, 1] {
        handles.push(
            pool.submit(async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
            })
            .await
            .unwrap(),
        );
    }
    // Jobs still being submitted while the pool shuts down.
    let submitter = {
        let pool = pool.clone();
        tokio::spawn(async move {
            let mut late = Vec::new();
            let mut refused = 0;
            for _ in 0..3 {
                match pool.submit(async {}).await {
                    Ok(handle) => late.push(handle),
                    Err(PoolClosed) => refused += 1,
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            (late, refused)
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let report = pool.shutdown(Duration::from_millis(500)).await;
    let (late, refused) = submitter.await.unwrap();
    handles.extend(late);
    let accepted = handles.len() as u64;
    let mut tally = [0u64; 3];
    for handle in handles {
        match handle.await {
            Ok(()) => tally[0] += 1,
            Err(JobError::Panicked(_)) => tally[1] += 1,
            Err(JobError::Cancelled) => tally[2] += 1,
        }
    }
    assert!(!report.drained_in_time);
    assert!(refused >= 1, "submits after the close are refused");
    assert_eq!(report.completed, tally[0]);
    assert_eq!(report.panicked, 1);
    assert_eq!(report.panicked, tally[1]);
    assert_eq!(report.cancelled, tally[2]);
    assert!(report.cancelled >= 2, "the two long sleepers");
    assert_eq!(report.rejected, refused);
    assert_eq!(report.accepted(), accepted);
    assert_eq!(report.abandoned, 0);
    assert!(pool.is_closed());
    assert!(matches!(pool.submit(async {}).await, Err(PoolClosed)));
}

#[tokio::test(start_paused = true)]
async fn cancellation_token_starts_the_drain() {
    let token = CancellationToken::new();
    let pool = WorkerPool::builder()
        .workers(1)
        .queue_capacity(4)
        .drain_on(token.clone())
        .build()
        .unwrap();
    let before = pool
        .submit(async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            "ran"
        })
        .await
        .unwrap();
    token.cancel();
    tokio::task::yield_now().await;
    assert!(pool.is_closed());
    assert!(matches!(
        pool.try_submit(async { "late" }),
        Err(TrySubmitError::Closed(_))
    ));
    assert_eq!(before.await, Ok("ran"), "queued work still drains");
    let report = pool.shutdown_on(token, Duration::from_secs(1)).await;
    assert_eq!((report.completed, report.rejected), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn dropping_the_last_pool_handle_still_runs_queued_jobs() {
    let pool = pool(1, 4);
    let handle = pool.submit(async { 11 }).await.unwrap();
    drop(pool);
    assert_eq!(handle.await, Ok(11));
}

#[tokio::test(start_paused = true)]
async fn a_handle_polled_after_it_resolved_reports_cancelled() {
    let pool = pool(1, 4);
    let mut handle = pool.submit(async { 1 }).await.unwrap();
    assert_eq!((&mut handle).await, Ok(1));
    assert_eq!(pin!(handle).await, Err(JobError::Cancelled));
}

#[tokio::test(start_paused = true)]
async fn dropping_shutdown_midway_keeps_the_drain_going() {
    let pool = pool(1, 4);
    let slow = pool
        .submit(async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            "slow"
        })
        .await
        .unwrap();
    let mut shutdown = Box::pin(pool.shutdown(Duration::from_secs(10)));
    assert!(poll_once(&mut shutdown).is_none());
    drop(shutdown);
    assert!(pool.is_closed());
    assert!(matches!(
        pool.try_submit(async { "late" }),
        Err(TrySubmitError::Closed(_))
    ));
    assert_eq!(slow.await, Ok("slow"));
    let report = pool.shutdown(Duration::ZERO).await;
    assert_eq!((report.completed, report.rejected), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn a_panic_in_a_jobs_destructor_is_contained() {
    struct Explodes;
    impl Drop for Explodes {
        fn drop(&mut self) {
            panic!("drop bomb");
        }
    }
    let pool = pool(1, 4);
    let bomb = Explodes;
    let handle = pool
        .submit(async move {
            let _bomb = bomb;
            1
        })
        .await
        .unwrap();
    // The value was produced before the destructor ran; the destructor's panic is contained.
    let _ = handle.await;
    let after = pool.submit(async { 2 }).await.unwrap();
    assert_eq!(after.await, Ok(2));
    assert_eq!(pool.metrics().workers, 1);
}

/// `try_submit` never says `Full` while a slot is free, from several runtime threads: each of
/// two submitting tasks keeps at most two jobs outstanding in a four-slot queue (a slot is
/// given back when a worker takes the job, before its handle resolves).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn try_submit_is_never_refused_with_a_slot_free() {
    let pool = pool(2, 4);
    let submitters: Vec<_> = (0..2)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move {
                for _ in 0..500 {
                    let mut handles = Vec::new();
                    for _ in 0..2 {
                        match pool.try_submit(async { 1u64 }) {
                            Ok(handle) => handles.push(handle),
                            Err(refused) => panic!("refused with a slot free: {refused}"),
                        }
                    }
                    for handle in handles {
                        assert_eq!(handle.await, Ok(1));
                    }
                }
            })
        })
        .collect();
    for submitter in submitters {
        submitter.await.unwrap();
    }
    let report = pool.shutdown(Duration::from_secs(5)).await;
    assert_eq!((report.completed, report.rejected), (2000, 0));
}

/// A submit granted a slot before the close whose future is never polled again does not hold
/// the drain past the deadline: `shutdown` takes the slot back (that submit is refused), so
/// it ends, and its report counts only the jobs whose submits succeeded. (It used to wait for
/// that future forever.)
#[tokio::test(start_paused = true)]
async fn a_granted_submit_never_polled_again_does_not_hold_the_drain() {
    let pool = pool(1, 1);
    let (open_a, gate_a) = oneshot::channel::<()>();
    let a = pool
        .submit(async move {
            let _ = gate_a.await;
        })
        .await
        .unwrap();
    tokio::task::yield_now().await; // the worker takes A
    let b = pool.submit(std::future::pending::<()>()).await.unwrap();
    let mut late = Box::pin(pool.submit(async { "late" }));
    assert!(poll_once(&mut late).is_none(), "B holds the only slot");
    open_a.send(()).unwrap();
    while pool.metrics().started < 2 {
        tokio::task::yield_now().await; // the worker takes B; its slot goes to the late submit
    }
    let report = tokio::time::timeout(Duration::from_secs(60), pool.shutdown(Duration::ZERO))
        .await
        .expect("the drain ends without the granted submit");
    assert_eq!((report.completed, report.cancelled), (1, 1));
    assert_eq!(report.accepted(), 2);
    assert!(matches!(poll_once(&mut late), Some(Err(PoolClosed))));
    assert_eq!(a.await, Ok(()));
    assert_eq!(b.await, Err(JobError::Cancelled));
}

/// A worker running a streak of quick jobs keeps the others asleep, since it comes straight
/// back to the queue. Once its job waits on a job queued after it, it must hand that job to a
/// sleeping worker, or both wait for ever: after each burst of quick jobs, job A waits for
/// job B, submitted right after it and nothing after that.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_waiting_on_a_later_job_after_a_streak_of_quick_ones_completes() {
    let pool = pool(2, 64);
    for round in 0..200 {
        let quick: Vec<_> = (0..40)
            .map(|i| pool.try_submit(async move { i }).unwrap())
            .collect();
        let (send, receive) = oneshot::channel::<u32>();
        let a = pool.submit(receive).await.unwrap();
        let b = pool.submit(async move { send.send(round) }).await.unwrap();
        let waited = tokio::time::timeout(Duration::from_secs(60), async { (a.await, b.await) })
            .await
            .unwrap_or_else(|_| panic!("round {round}: A and B never both ran"));
        assert_eq!(waited, (Ok(Ok(round)), Ok(Ok(()))));
        for (i, handle) in quick.into_iter().enumerate() {
            assert_eq!(handle.await, Ok(i));
        }
    }
}

/// A worker in a streak keeps the others asleep only while it keeps up. A backlog queued
/// behind it must reach the sleeping worker, not wait for the holder alone: here 150
/// CPU-bound jobs of 20 us each (under the 100 us "ran long" limit) are submitted by a task
/// while one worker holds the search token, so every submit skips the wake-up. Job 100 then
/// waits (sleeping its thread, up to 5 s) until some job of the burst has run on another
/// worker (told apart by tokio task id): by then the jobs after it have been queued for
/// about 2 ms, far longer than the check-in limit. (Job 100, not an earlier one: a worker
/// woken from a runtime thread sits in that thread's LIFO slot, which other threads do not
/// steal, until the running worker yields; before this change that was every 64 jobs.)
/// Each round starts from an idle pool; the submitter is spawned by a job and yields 0-3
/// times first, so that in some round it submits while that job's worker searches with the
/// token (in the others, a submit finds the token free and wakes the second worker itself).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_behind_a_streak_reaches_the_sleeping_workers() {
    const WAITER: usize = 100;
    fn spin(duration: Duration) {
        let start = std::time::Instant::now();
        while start.elapsed() < duration {
            std::hint::spin_loop();
        }
    }
    let pool = pool(2, 256);
    for round in 0..12 {
        // Let both workers finish searching and go to sleep.
        tokio::time::sleep(Duration::from_millis(5)).await;
        let workers = Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
        let (send, receive) = oneshot::channel();
        let starter = {
            let pool = pool.clone();
            let workers = workers.clone();
            pool.clone()
                .submit(async move {
                    tokio::spawn(async move {
                        // This job's worker yields to the runtime (its first job in a while),
                        // then takes the token and searches, yielding in between: submit at
                        // each of those points in some round.
                        for _ in 0..round % 4 {
                            tokio::task::yield_now().await;
                        }
                        let burst: Vec<_> = (0..150)
                            .map(|i| {
                                let workers = workers.clone();
                                pool.try_submit(async move {
                                    let seen = {
                                        let mut workers = workers.lock().unwrap();
                                        workers.insert(tokio::task::id());
                                        workers.len()
                                    };
                                    spin(Duration::from_micros(20));
                                    if i != WAITER || seen > 1 {
                                        return true;
                                    }
                                    let start = std::time::Instant::now();
                                    while start.elapsed() < Duration::from_secs(5) {
                                        if workers.lock().unwrap().len() > 1 {
                                            return true;
                                        }
                                        std::thread::sleep(Duration::from_micros(200));
                                    }
                                    false
                                })
                                .unwrap()
                            })
                            .collect();
                        let _ = send.send(burst);
                    });
                })
                .await
                .unwrap()
        };
        starter.await.unwrap();
        let mut other_worker_ran = true;
        for handle in receive.await.unwrap() {
            other_worker_ran &= handle.await.unwrap();
        }
        assert!(
            other_worker_ran,
            "round {round}: the backlog waited for one worker while the other slept"
        );
    }
}
