//! Concurrency and adaptive limiters: never above the limit, FIFO, cancel-safe, AIMD.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_like::poll_once;
use tidewater_rate_limiter::{
    AdaptiveConfigError, AdaptiveLimiter, ConcurrencyLimiter, LimitError, ManualClock,
};

mod futures_like {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    /// Polls a future once with a no-op waker.
    pub(crate) fn poll_once<F: Future>(f: F) -> Option<F::Output> {
        let mut f = pin!(f);
        match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(v) => Some(v),
            Poll::Pending => None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn never_more_than_the_limit_in_flight() {
    let limiter = ConcurrencyLimiter::new(3).unwrap();
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let (limiter, in_flight, peak) =
                (limiter.clone(), Arc::clone(&in_flight), Arc::clone(&peak));
            tokio::spawn(async move {
                for _ in 0..20 {
                    let _permit = limiter.acquire().await;
                    let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    tokio::task::yield_now().await;
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert!(peak.load(Ordering::SeqCst) <= 3);
    assert_eq!(limiter.available(), 3, "every permit came back");
}

#[tokio::test(start_paused = true)]
async fn waiters_are_served_in_arrival_order() {
    let limiter = ConcurrencyLimiter::new(1).unwrap();
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let held = limiter.acquire_owned().await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (limiter, order) = (limiter.clone(), Arc::clone(&order));
        tasks.push(tokio::spawn(async move {
            let _p = limiter.acquire().await;
            order.lock().unwrap().push(i);
        }));
        tokio::task::yield_now().await; // task i queues before task i + 1
    }
    drop(held);
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(*order.lock().unwrap(), (0..8).collect::<Vec<_>>());
}

/// A permit released while someone is queued goes to that waiter: an `acquire` (or
/// `try_acquire`) arriving after it never takes the permit first, free-permit fast path or not.
#[tokio::test(start_paused = true)]
async fn a_later_acquire_never_overtakes_a_queued_waiter() {
    let limiter = ConcurrencyLimiter::new(1).unwrap();
    let held = limiter.acquire().await;
    let mut queued = std::pin::pin!(limiter.acquire());
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(queued.as_mut().poll(&mut cx).is_pending());
    drop(held);
    assert!(
        poll_once(limiter.acquire()).is_none(),
        "overtook the waiter"
    );
    assert!(limiter.try_acquire().is_none(), "overtook the waiter");
    assert_eq!(limiter.available(), 0, "the permit is the waiter's");
    let first = queued.as_mut().poll(&mut cx);
    assert!(first.is_ready(), "the waiter holds the released permit");
    drop(first);
    assert_eq!(limiter.available(), 1);
}

#[tokio::test(start_paused = true)]
async fn dropping_a_waiting_acquire_leaks_nothing() {
    let limiter = ConcurrencyLimiter::new(2).unwrap();
    let a = limiter.acquire().await;
    let b = limiter.acquire().await;
    // Cancel at the only await point, repeatedly.
    for _ in 0..10 {
        assert!(poll_once(limiter.acquire()).is_none());
        assert!(
            tokio::time::timeout(Duration::from_millis(1), limiter.acquire())
                .await
                .is_err()
        );
    }
    drop((a, b));
    assert_eq!(limiter.available(), 2);
    let _c = limiter.try_acquire().unwrap();
    let _d = limiter.try_acquire_owned().unwrap();
    assert!(limiter.try_acquire().is_none());
    assert_eq!(limiter.in_flight(), 2);
}

#[tokio::test(start_paused = true)]
async fn lowering_the_limit_drains_and_raising_admits() {
    let limiter = ConcurrencyLimiter::new(3).unwrap();
    let permits: Vec<_> = (0..3)
        .map(|_| limiter.try_acquire_owned().unwrap())
        .collect();
    limiter.set_limit(1).unwrap();
    let mut permits = permits.into_iter();
    drop(permits.next());
    assert!(
        limiter.try_acquire().is_none(),
        "still 2 in flight, limit 1"
    );
    drop(permits.next());
    assert!(limiter.try_acquire().is_none(), "1 in flight, limit 1");
    drop(permits.next());
    assert_eq!(limiter.available(), 1);
    limiter.set_limit(2).unwrap();
    assert_eq!(limiter.available(), 2);
    assert_eq!(limiter.set_limit(0), Err(LimitError::Zero));
    assert!(matches!(
        ConcurrencyLimiter::new(usize::MAX),
        Err(LimitError::TooLarge { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn adaptive_never_exceeds_its_limit_or_ceiling() {
    let limiter = AdaptiveLimiter::builder()
        .initial(4)
        .floor(2)
        .ceiling(6)
        .build()
        .unwrap();
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..32)
        .map(|t| {
            let (limiter, in_flight, peak) =
                (limiter.clone(), Arc::clone(&in_flight), Arc::clone(&peak));
            tokio::spawn(async move {
                for i in 0..30 {
                    let permit = limiter.acquire().await;
                    let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    tokio::task::yield_now().await;
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    if (t + i) % 7 == 0 {
                        permit.dropped();
                    } else {
                        permit.success();
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert!(peak.load(Ordering::SeqCst) <= 6);
    let limit = limiter.limit();
    assert!((2..=6).contains(&limit));
    assert_eq!(
        limiter.available(),
        limit,
        "all permits back, matching the limit"
    );
}

#[tokio::test(start_paused = true)]
async fn adaptive_grows_on_success_and_backs_off_on_slow_or_dropped() {
    let clock = ManualClock::new();
    let limiter = AdaptiveLimiter::builder()
        .initial(2)
        .floor(1)
        .ceiling(4)
        .latency_threshold(Duration::from_millis(100))
        .clock(clock.clone())
        .build()
        .unwrap();
    for _ in 0..2 {
        limiter.acquire().await.success();
    }
    assert_eq!(limiter.limit(), 3);
    let slow = limiter.acquire().await;
    clock.advance(Duration::from_millis(150));
    slow.success();
    assert_eq!(limiter.limit(), 1, "3 * 0.5 rounds down");
    limiter.acquire().await.dropped();
    assert_eq!(limiter.limit(), 1, "floor");
    drop(limiter.acquire().await); // no outcome: neutral
    assert_eq!(
        (limiter.limit(), limiter.available(), limiter.in_flight()),
        (1, 1, 0)
    );
    // Cancelling a waiting acquire leaks nothing here either.
    let held = limiter.acquire().await;
    assert!(poll_once(limiter.acquire()).is_none());
    drop(held);
    assert_eq!(limiter.available(), 1);
}

#[test]
fn adaptive_config_errors_are_typed() {
    assert!(matches!(
        AdaptiveLimiter::builder().floor(0).build(),
        Err(AdaptiveConfigError::Limit(LimitError::Zero))
    ));
    assert!(matches!(
        AdaptiveLimiter::builder().initial(5).ceiling(4).build(),
        Err(AdaptiveConfigError::Bounds { .. })
    ));
    assert!(matches!(
        AdaptiveLimiter::builder().backoff(f64::NAN).build(),
        Err(AdaptiveConfigError::Backoff(_))
    ));
    assert!(matches!(
        AdaptiveLimiter::builder().backoff(1.0).build(),
        Err(AdaptiveConfigError::Backoff(_))
    ));
    assert!(matches!(
        AdaptiveLimiter::builder().increase_by(0).build(),
        Err(AdaptiveConfigError::ZeroIncrease)
    ));
}
