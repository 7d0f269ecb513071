//! Behaviour of `BlockingPool`: sync and async use, limits, panics, shutdown accounting.
#![cfg(not(tidewater_loom))]

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tidewater_worker_pool::{
    BlockingPool, BuildError, JobError, MAX_QUEUE_CAPACITY, PoolClosed, SubmitTimeoutError,
    TrySubmitError,
};

fn pool(workers: usize, capacity: usize) -> BlockingPool {
    BlockingPool::builder()
        .workers(workers)
        .queue_capacity(capacity)
        .name("blk")
        .build()
        .unwrap()
}

/// A job that blocks until the returned sender is dropped or sent to.
fn gate() -> (mpsc::Sender<()>, impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel::<()>();
    (tx, move || {
        let _ = rx.recv();
    })
}

#[test]
fn zero_sizes_are_typed_errors() {
    assert!(matches!(
        BlockingPool::builder().workers(0).build(),
        Err(BuildError::ZeroWorkers)
    ));
    let err = BlockingPool::builder()
        .queue_capacity(0)
        .build()
        .unwrap_err();
    assert!(matches!(err, BuildError::ZeroQueueCapacity));
    assert!(err.to_string().contains("queue_capacity"));
    // The largest accepted sizes are fine to ask for; one more is a typed error, not an
    // allocation that aborts the process or a million threads.
    let err = BlockingPool::builder()
        .queue_capacity(MAX_QUEUE_CAPACITY + 1)
        .build()
        .unwrap_err();
    assert!(matches!(err, BuildError::QueueCapacityTooLarge { .. }));
    assert!(err.to_string().contains("slots"));
    let err = BlockingPool::builder()
        .workers(usize::MAX)
        .build()
        .unwrap_err();
    assert!(matches!(
        err,
        BuildError::TooManyWorkers {
            workers: usize::MAX
        }
    ));
}

#[test]
fn runs_closures_and_keeps_its_size_through_panics() {
    let pool = pool(2, 16);
    let threads = Arc::new(Mutex::new(HashSet::new()));
    let mut handles = Vec::new();
    for i in 0..20u32 {
        let threads = threads.clone();
        handles.push(
            pool.execute(move || {
                threads
                    .lock()
                    .unwrap()
                    .insert(std::thread::current().name().map(str::to_owned));
                assert!(i % 5 != 0, "job {i} fails");
                i
            })
            .unwrap(),
        );
    }
    let mut ok = 0;
    for (i, handle) in handles.into_iter().enumerate() {
        match handle.wait() {
            Ok(v) => {
                assert_eq!(v as usize, i);
                ok += 1;
            }
            Err(JobError::Panicked(message)) => assert_eq!(message, format!("job {i} fails")),
            Err(JobError::Cancelled) => panic!("nothing was cancelled"),
        }
    }
    assert_eq!(ok, 16);
    let names = threads.lock().unwrap().clone();
    assert!(
        names.len() <= 2,
        "only the pool's two threads ran jobs: {names:?}"
    );
    assert!(
        names
            .iter()
            .all(|n| n.as_deref().is_some_and(|n| n.starts_with("blk-")))
    );
    let report = pool.shutdown(Duration::from_secs(5));
    assert_eq!((report.completed, report.panicked), (16, 4));
    assert_eq!(pool.metrics().workers, 2);
}

#[test]
fn try_execute_hands_back_and_execute_waits_for_space() {
    let pool = pool(1, 1);
    let (release, blocker) = gate();
    let running = pool.execute(blocker).unwrap();
    while pool.metrics().running == 0 {
        std::thread::yield_now();
    }
    let queued = pool.execute(|| "queued").unwrap();
    let back = match pool.try_execute(|| "refused") {
        Err(TrySubmitError::Full(job)) => job,
        other => panic!("expected Full, got {other:?}"),
    };
    assert_eq!(back(), "refused");
    match pool.execute_timeout(|| "late", Duration::from_millis(1)) {
        Err(SubmitTimeoutError::Timeout(job)) => assert_eq!(job(), "late"),
        other => panic!("expected Timeout, got {other:?}"),
    }
    let waiter = {
        let pool = pool.clone();
        std::thread::spawn(move || pool.execute(|| "waited").unwrap().wait())
    };
    release.send(()).unwrap();
    assert_eq!(running.wait(), Ok(()));
    assert_eq!(queued.wait(), Ok("queued"));
    assert_eq!(waiter.join().unwrap(), Ok("waited"));
    assert_eq!(pool.metrics().rejected, 2);
}

#[test]
fn shutdown_cancels_queued_and_reports_running_as_abandoned() {
    let pool = pool(1, 4);
    let (release, blocker) = gate();
    let running = pool.execute(blocker).unwrap();
    while pool.metrics().running == 0 {
        std::thread::yield_now();
    }
    let ran = Arc::new(AtomicUsize::new(0));
    let queued: Vec<_> = (0..3)
        .map(|_| {
            let ran = ran.clone();
            pool.execute(move || ran.fetch_add(1, Ordering::SeqCst))
                .unwrap()
        })
        .collect();
    let aborted = pool.execute(|| "aborted").unwrap();
    aborted.abort();
    assert_eq!(aborted.wait(), Err(JobError::Cancelled));
    let report = pool.shutdown(Duration::ZERO);
    assert!(!report.drained_in_time);
    assert_eq!(
        report.abandoned, 1,
        "the blocked closure cannot be interrupted"
    );
    assert_eq!(report.cancelled, 4, "three queued plus the aborted one");
    assert_eq!(report.failed(), 5);
    for handle in queued {
        assert_eq!(handle.wait(), Err(JobError::Cancelled));
    }
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    assert!(matches!(pool.execute(|| ()), Err(PoolClosed)));
    // The abandoned closure still delivers its value when it ends.
    release.send(()).unwrap();
    assert_eq!(running.wait(), Ok(()));
}

#[test]
fn handle_wait_timeout_gives_the_handle_back() {
    let pool = pool(1, 4);
    let (release, blocker) = gate();
    let handle = pool.execute(blocker).unwrap();
    let handle = handle.wait_timeout(Duration::from_millis(1)).unwrap_err();
    release.send(()).unwrap();
    assert_eq!(handle.wait_timeout(Duration::MAX).unwrap(), Ok(()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usable_from_async_code() {
    let pool = pool(2, 2);
    let mut handles = Vec::new();
    for i in 0..10u64 {
        handles.push(pool.execute_async(move || i * 2).await.unwrap());
    }
    let mut sum = 0;
    for handle in handles {
        sum += handle.await.unwrap();
    }
    assert_eq!(sum, 90);
    let token = tokio_util::sync::CancellationToken::new();
    token.cancel();
    let report = pool.shutdown_on(token, Duration::from_secs(5)).await;
    assert!(report.drained_in_time);
    assert_eq!(report.completed, 10);
}

#[test]
fn many_submitters_through_a_tiny_queue_lose_nothing() {
    let pool = pool(2, 2);
    let ran = Arc::new(AtomicUsize::new(0));
    std::thread::scope(|s| {
        for _ in 0..4 {
            let pool = pool.clone();
            let ran = ran.clone();
            s.spawn(move || {
                let handles: Vec<_> = (0..250)
                    .map(|_| {
                        let ran = ran.clone();
                        pool.execute(move || ran.fetch_add(1, Ordering::Relaxed))
                            .unwrap()
                    })
                    .collect();
                for handle in handles {
                    handle.wait().unwrap();
                }
            });
        }
    });
    assert_eq!(ran.load(Ordering::Relaxed), 1000);
    let report = pool.shutdown(Duration::from_secs(5));
    assert_eq!(report.completed, 1000);
    assert!(report.drained_in_time);
    let metrics = pool.metrics();
    assert_eq!(
        (metrics.queued, metrics.running, metrics.started),
        (0, 0, 1000)
    );
}

#[test]
fn errors_explain_themselves() {
    let full: TrySubmitError<()> = TrySubmitError::Full(());
    assert!(full.to_string().contains("full"));
    assert!(full.is_full());
    let timeout: SubmitTimeoutError<u8> = SubmitTimeoutError::Timeout(3);
    assert!(timeout.to_string().contains("timeout"));
    assert_eq!(timeout.into_inner(), 3);
    assert!(
        JobError::Panicked("x".into())
            .to_string()
            .contains("panicked: x")
    );
    assert!(JobError::Cancelled.to_string().contains("cancelled"));
    assert!(PoolClosed.to_string().contains("shut down"));
}

/// Queue wait is measured in clock ticks and converted when read: a job queued behind one
/// that holds the only worker shows a non-zero wait, and the figures stay consistent.
#[test]
fn queue_wait_is_recorded_for_a_job_that_waited() {
    let pool = pool(1, 4);
    let (release, hold) = gate();
    let holder = pool.execute(hold).unwrap();
    let queued = pool.execute(|| 5).unwrap();
    std::thread::sleep(Duration::from_millis(2));
    drop(release);
    holder.wait().unwrap();
    assert_eq!(queued.wait(), Ok(5));
    let metrics = pool.metrics();
    assert_eq!(metrics.started, 2);
    assert!(metrics.queue_wait_total > Duration::ZERO);
    assert!(metrics.queue_wait_max > Duration::ZERO);
    assert!(metrics.queue_wait_total >= metrics.queue_wait_max);
    assert!(metrics.queue_wait_max >= metrics.queue_wait_mean());
}

/// Jobs whose handles are gone (detached, dropped, or aborted and dropped) still run and are
/// counted the same: completed, panicked (in the closure or in its value's destructor),
/// cancelled.
#[test]
fn jobs_without_handles_are_run_and_counted() {
    struct Explodes;
    impl Drop for Explodes {
        fn drop(&mut self) {
            panic!("value bomb");
        }
    }
    let pool = pool(1, 8);
    let (release, hold) = gate();
    pool.execute(hold).unwrap().detach();
    let ran = Arc::new(AtomicUsize::new(0));
    let counter = ran.clone();
    pool.execute(move || counter.fetch_add(1, Ordering::SeqCst))
        .unwrap()
        .detach();
    drop(
        pool.execute(|| -> u32 { panic!("detached panic") })
            .unwrap(),
    );
    pool.execute(|| Explodes).unwrap().detach();
    let aborted = pool.execute(|| 1).unwrap();
    aborted.abort();
    drop(aborted);
    drop(release);
    let report = pool.shutdown(Duration::from_secs(60));
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    assert_eq!(
        (report.completed, report.panicked, report.cancelled),
        (2, 2, 1)
    );
    assert!(report.drained_in_time);
}

/// `try_execute` never says `Full` while a slot is free: two submitters each keep at most two
/// jobs outstanding in a four-slot queue (a job's slot is given back when a worker takes it,
/// before its handle resolves), so every try must succeed. Submitters check the workers'
/// count of slots given back against their own, often stale, copy of it; a copy trusted to
/// say "full", or moved back by the other submitter, would refuse here.
#[test]
fn try_execute_is_never_refused_with_a_slot_free() {
    let pool = pool(2, 4);
    let ran = Arc::new(AtomicUsize::new(0));
    std::thread::scope(|s| {
        for _ in 0..2 {
            let pool = pool.clone();
            let ran = ran.clone();
            s.spawn(move || {
                for _ in 0..500 {
                    let handles: Vec<_> = (0..2)
                        .map(|_| {
                            let ran = ran.clone();
                            match pool.try_execute(move || ran.fetch_add(1, Ordering::Relaxed)) {
                                Ok(handle) => handle,
                                Err(refused) => panic!("refused with a slot free: {refused}"),
                            }
                        })
                        .collect();
                    for handle in handles {
                        handle.wait().unwrap();
                    }
                }
            });
        }
    });
    let report = pool.shutdown(Duration::from_secs(5));
    assert_eq!((report.completed, report.rejected), (2000, 0));
    assert_eq!(ran.load(Ordering::Relaxed), 2000);
}

/// A submit granted a slot before the close but not yet back to claim it when the deadline
/// passes is refused, not accepted after the report: the report accounts for every job whose
/// submit succeeded. (It used to come back `Ok` after `shutdown` returned, its job cancelled
/// by a worker and in none of the report's counts.)
#[test]
fn a_submit_granted_a_slot_but_not_back_at_the_deadline_is_refused() {
    let pool = pool(1, 1);
    let (open_a, gate_a) = mpsc::channel::<()>();
    let (open_b, gate_b) = mpsc::channel::<()>();
    let (b_running, b_started) = mpsc::channel::<()>();
    let a = pool
        .execute(move || {
            let _ = gate_a.recv();
        })
        .unwrap();
    let b = pool
        .execute(move || {
            b_running.send(()).unwrap();
            let _ = gate_b.recv();
        })
        .unwrap();
    let mut late = Box::pin(pool.execute_async(|| "late"));
    let mut cx = Context::from_waker(Waker::noop());
    assert!(
        late.as_mut().poll(&mut cx).is_pending(),
        "B holds the only slot"
    );
    open_a.send(()).unwrap();
    b_started.recv().unwrap(); // the worker took B and handed its slot to the late submit
    let report = pool.shutdown(Duration::ZERO);
    assert_eq!((report.completed, report.abandoned), (1, 1));
    assert_eq!(report.accepted(), 2);
    assert!(matches!(
        late.as_mut().poll(&mut cx),
        Poll::Ready(Err(PoolClosed))
    ));
    drop(open_b);
    assert_eq!(a.wait(), Ok(()));
    assert_eq!(b.wait(), Ok(()));
    assert_eq!(pool.metrics().rejected, 1);
}
