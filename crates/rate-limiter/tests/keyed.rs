//! Keyed limiter: memory returns to near zero by itself, the key cap holds under
//! concurrent inserts, quotas change for every key at once.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use tidewater_rate_limiter::{KeyedError, KeyedRateLimiter, ManualClock, Quota, WhenFull};

fn quota() -> Quota {
    Quota::per_second(10).unwrap()
}

#[test]
fn a_million_idle_keys_go_away_without_any_call() {
    let clock = ManualClock::new();
    let limiter = KeyedRateLimiter::<u64>::builder(quota())
        .idle_horizon(Duration::from_secs(1))
        .clock(clock.clone())
        .build();
    for key in 0..1_000_000u64 {
        limiter.check_key(&key).unwrap();
    }
    assert_eq!(limiter.len(), 1_000_000);
    // Refill (1 s) + horizon (1 s) is one generation; two of them and a trickle of new
    // keys retire every shard's old generations.
    let mut next = 2_000_000u64;
    for _ in 0..2 {
        clock.advance(Duration::from_secs(3));
        for _ in 0..200 {
            limiter.check_key(&next).unwrap();
            next += 1;
        }
    }
    assert!(limiter.len() <= 400, "{} keys left", limiter.len());
    // Keys that are not idle are never dropped: the newest still remember their use.
    assert!(limiter.peek_key_n(&(next - 1), 10).is_err());
}

#[test]
fn a_key_in_use_is_never_forgotten() {
    let clock = ManualClock::new();
    let limiter = KeyedRateLimiter::<u32>::builder(Quota::per_minute(1).unwrap())
        .idle_horizon(Duration::ZERO)
        .shards(1)
        .clock(clock.clone())
        .build();
    limiter.check_key(&1).unwrap();
    for i in 0..100 {
        clock.advance(Duration::from_secs(1));
        limiter.check_key(&(1000 + i)).unwrap(); // churn drives rotations
    }
    // 100 s later key 1 has refilled: it may be gone, and answers as new.
    limiter.check_key(&1).unwrap();
    clock.advance(Duration::from_secs(30));
    for i in 0..100 {
        limiter.check_key(&(5000 + i)).unwrap();
    }
    let err = limiter.check_key(&1).unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_secs(30)));
}

fn hammer(limiter: &Arc<KeyedRateLimiter<u64>>, threads: u64, per_thread: u64) -> (u64, u64) {
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let limiter = Arc::clone(limiter);
            std::thread::spawn(move || {
                let (mut ok, mut full) = (0, 0);
                for i in 0..per_thread {
                    match limiter.check_key(&(t * 1_000_000 + i)) {
                        Ok(()) => ok += 1,
                        Err(KeyedError::TooManyKeys { max_keys: 500 }) => full += 1,
                        Err(e) => panic!("unexpected {e}"),
                    }
                    assert!(limiter.len() <= 500);
                }
                (ok, full)
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
}

#[test]
fn max_keys_rejects_under_concurrent_inserts() {
    let limiter = Arc::new(
        KeyedRateLimiter::<u64>::builder(quota())
            .max_keys(NonZeroUsize::new(500).unwrap(), WhenFull::Reject)
            .build(),
    );
    let (ok, full) = hammer(&limiter, 4, 1000);
    assert_eq!(ok, 500, "exactly the cap was admitted as new keys");
    assert_eq!(full, 3500);
    assert_eq!(limiter.len(), 500);
}

#[test]
fn max_keys_evicts_under_concurrent_inserts() {
    let limiter = Arc::new(
        KeyedRateLimiter::<u64>::builder(quota())
            .max_keys(NonZeroUsize::new(500).unwrap(), WhenFull::EvictOldest)
            .build(),
    );
    let (ok, full) = hammer(&limiter, 4, 1000);
    assert_eq!((ok, full), (4000, 0), "every new key served");
    assert!(limiter.len() <= 500);
}

#[test]
fn set_quota_applies_to_every_key_and_keeps_balances() {
    let clock = ManualClock::new();
    let limiter = KeyedRateLimiter::<u8>::builder(Quota::per_second(4).unwrap())
        .clock(clock.clone())
        .build();
    limiter.check_key_n(&1, 4).unwrap(); // key 1 empty
    limiter.set_quota(Quota::per_second(8).unwrap()); // burst 8, but no fresh tokens
    assert!(limiter.check_key(&1).is_err());
    limiter.check_key_n(&2, 8).unwrap(); // new keys get the new burst
    clock.advance(Duration::from_millis(125));
    limiter.check_key(&1).unwrap(); // refills at the new rate
    assert_eq!(limiter.quota(), Quota::per_second(8).unwrap());
}

#[test]
fn retain_recent_forgets_full_buckets_at_once() {
    let clock = ManualClock::new();
    let limiter = KeyedRateLimiter::<u32>::builder(quota())
        .idle_horizon(Duration::ZERO)
        .clock(clock.clone())
        .build();
    for k in 0..1000 {
        limiter.check_key(&k).unwrap();
    }
    limiter.check_key_n(&7, 10).unwrap_err(); // key 7 had one used: 9 left
    limiter.check_key_n(&7, 9).unwrap();
    clock.advance(Duration::from_millis(500));
    limiter.retain_recent();
    assert_eq!(limiter.len(), 1, "only key 7 is still refilling");
    assert!(limiter.is_empty() || limiter.check_key_n(&7, 10).is_err());
}

#[test]
fn decisions_and_headers_per_key() {
    let clock = ManualClock::new();
    let limiter = KeyedRateLimiter::<&str>::builder(Quota::per_second(2).unwrap())
        .clock(clock.clone())
        .build();
    let d = limiter.check_key_decision(&"a");
    assert!(d.allowed);
    assert_eq!(
        (d.limit, d.remaining, d.reset_after),
        (2, 1, Duration::from_millis(500))
    );
    limiter.check_key(&"a").unwrap();
    let d = limiter.check_key_decision(&"a");
    assert!(!d.allowed);
    assert_eq!(d.retry_after, Some(Duration::from_millis(500)));
    assert!(d.headers().contains(&("Retry-After", "1".to_owned())));
    assert!(limiter.check_key_n_decision(&"a", 3).retry_after.is_none());
}

#[tokio::test(start_paused = true)]
async fn until_key_ready_waits_exactly_and_is_cancel_safe() {
    let limiter = KeyedRateLimiter::<u8>::builder(Quota::per_second(1).unwrap())
        .clock(tidewater_rate_limiter::TokioClock::new())
        .build();
    limiter.until_key_ready(&1).await.unwrap();
    let start = tokio::time::Instant::now();
    // A dropped wait takes nothing.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), limiter.until_key_ready(&1))
            .await
            .is_err()
    );
    limiter.until_key_ready(&1).await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    assert!(matches!(
        limiter.until_key_n_ready(&1, 2).await,
        Err(KeyedError::ExceedsLimit(_))
    ));
}

/// Another thread's check, run inside a clock read.
type Hook = Box<dyn FnOnce() + Send>;

/// A clock whose next read runs `hook` after reading the time and before returning it:
/// the hook is another thread's whole check, run between this thread's clock read and its
/// taking of the shard lock (the widest window a preempted thread has).
#[derive(Clone, Default)]
struct PreemptingClock {
    nanos: Arc<std::sync::atomic::AtomicU64>,
    hook: Arc<std::sync::Mutex<Option<Hook>>>,
}

impl PreemptingClock {
    fn set(&self, at: Duration) {
        let nanos = u64::try_from(at.as_nanos()).unwrap();
        self.nanos.store(nanos, std::sync::atomic::Ordering::SeqCst);
    }
}

impl tidewater_rate_limiter::Clock for PreemptingClock {
    fn now(&self) -> u64 {
        let now = self.nanos.load(std::sync::atomic::Ordering::SeqCst);
        let hook = self.hook.lock().unwrap().take();
        if let Some(hook) = hook {
            hook();
        }
        now
    }
}

/// 1 per second, burst 1, no idle horizon, one shard; the clock at 1.0 s.
fn one_per_second_one_shard() -> (
    PreemptingClock,
    Arc<KeyedRateLimiter<&'static str, PreemptingClock>>,
) {
    let clock = PreemptingClock::default();
    let limiter = KeyedRateLimiter::<&str>::builder(Quota::per_second(1).unwrap())
        .idle_horizon(Duration::ZERO)
        .shards(1)
        .clock(clock.clone())
        .build();
    clock.set(Duration::from_millis(1000));
    (clock, Arc::new(limiter))
}

#[test]
fn a_rotation_by_a_preempted_insert_never_forgets_a_key_still_refilling() {
    let (clock, limiter) = one_per_second_one_shard();
    limiter.check_key(&"a").unwrap(); // a generation starts at 1.0 s
    // "b" reads the clock at 2.0 s; before it takes the shard lock, "a" is checked at 2.9 s
    // (a's bucket is full again then, and empty after).
    clock.set(Duration::from_millis(2000));
    let (l, c) = (Arc::clone(&limiter), clock.clone());
    *clock.hook.lock().unwrap() = Some(Box::new(move || {
        c.set(Duration::from_millis(2900));
        l.check_key(&"a").unwrap();
    }));
    limiter.check_key(&"b").unwrap(); // rotates with its (older) 2.0 s
    clock.set(Duration::from_millis(3000));
    limiter.check_key(&"c").unwrap(); // one generation after that rotation
    // a was emptied at 2.9 s: 0.1 s later it holds a tenth of a token.
    let err = limiter.check_key(&"a").unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_millis(900)));
}

#[test]
fn a_key_forgotten_while_a_check_was_preempted_restarts_full_at_the_present() {
    let (clock, limiter) = one_per_second_one_shard();
    limiter.check_key(&"a").unwrap(); // full again at 2.0 s
    // A check of "a" reads the clock at 1.5 s; before it takes the shard lock, two
    // rotations (2.0 s, 3.0 s) forget a, whose bucket is full by then.
    clock.set(Duration::from_millis(1500));
    let (l, c) = (Arc::clone(&limiter), clock.clone());
    *clock.hook.lock().unwrap() = Some(Box::new(move || {
        c.set(Duration::from_millis(2000));
        l.check_key(&"x").unwrap();
        c.set(Duration::from_millis(3000));
        l.check_key(&"y").unwrap();
    }));
    limiter.check_key(&"a").unwrap(); // a's token of 3.0 s
    // At 3.0 s a's bucket (capacity 1) has just been emptied.
    let err = limiter.check_key(&"a").unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_secs(1)));
}
