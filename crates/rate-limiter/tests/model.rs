//! Every algorithm against a simple reference model on a manual clock: same allow/deny
//! answers, same `retry_after`, for random sequences of checks, peeks and time steps.

use std::collections::HashMap;
use std::time::Duration;

use proptest::prelude::*;
use tidewater_rate_limiter::{
    Algorithm, CheckError, KeyedError, KeyedRateLimiter, ManualClock, Quota, RateLimiter,
};

#[derive(Debug, Clone)]
enum Op {
    Advance(u64),
    Check(u32),
    Peek(u32),
}

fn ops(max_step: u64, max_n: u32) -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            3 => (0..max_step).prop_map(Op::Advance),
            4 => (0..=max_n).prop_map(Op::Check),
            1 => (0..=max_n).prop_map(Op::Peek),
        ],
        1..60,
    )
}

/// The answer both sides give: `Ok`, `Err(Some(retry_after_ns))`, or `Err(None)` for "never".
type Answer = Result<(), Option<u64>>;

fn answer(r: Result<(), CheckError>) -> Answer {
    r.map_err(|e| {
        e.retry_after()
            .map(|d| u64::try_from(d.as_nanos()).unwrap())
    })
}

/// A token bucket as a continuous balance (nanoseconds of refill), not as GCRA's
/// arrival time: the same rule stated differently.
#[derive(Debug, Clone)]
struct BucketModel {
    cap: u64,
    interval: u64,
    balance: u64,
    last: u64,
}

impl BucketModel {
    fn new(quota: &Quota) -> Self {
        let interval = u64::try_from(quota.replenish_interval().as_nanos()).unwrap();
        let cap = u64::from(quota.burst());
        Self {
            cap,
            interval,
            balance: cap * interval,
            last: 0,
        }
    }

    fn refill(&mut self, now: u64) {
        self.balance = (self.balance + (now - self.last)).min(self.cap * self.interval);
        self.last = now;
    }

    fn take(&mut self, now: u64, n: u32, consume: bool) -> Answer {
        self.refill(now);
        let need = u64::from(n) * self.interval;
        if u64::from(n) > self.cap {
            Err(None)
        } else if self.balance >= need {
            if consume {
                self.balance -= need;
            }
            Ok(())
        } else {
            Err(Some(need - self.balance))
        }
    }

    fn is_full(&self, now: u64) -> bool {
        self.balance + (now - self.last) >= self.cap * self.interval
    }
}

/// Window counters as a log of admitted requests.
struct WindowModel {
    sliding: bool,
    limit: u64,
    window: u64,
    log: Vec<(u64, u64)>,
}

impl WindowModel {
    fn counted(&self, index: u64) -> u64 {
        self.log
            .iter()
            .filter(|(t, _)| t / self.window == index)
            .map(|(_, n)| n)
            .sum()
    }

    fn fits(&self, t: u64, n: u64) -> bool {
        let (w, index) = (u128::from(self.window), t / self.window);
        let curr = u128::from(self.counted(index));
        let prev = if self.sliding && index > 0 {
            u128::from(self.counted(index - 1))
        } else {
            0
        };
        let elapsed = u128::from(t % self.window);
        prev * (w - elapsed) + (curr + u128::from(n)) * w <= u128::from(self.limit) * w
    }

    fn take(&mut self, now: u64, n: u32, consume: bool) -> Answer {
        let n = u64::from(n);
        if n > self.limit {
            return Err(None);
        }
        if self.fits(now, n) {
            if consume && n > 0 {
                self.log.push((now, n));
            }
            return Ok(());
        }
        // The earliest later instant at which it fits: usage only falls with time.
        let (mut lo, mut hi) = (now, now + 2 * self.window);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if self.fits(mid, n) {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        Err(Some(hi - now))
    }
}

fn quota(per_sec: u32, burst: u32) -> Quota {
    Quota::per_second(per_sec)
        .unwrap()
        .allow_burst(burst)
        .unwrap()
}

fn run_direct(
    algorithm: Algorithm,
    quota: Quota,
    ops: &[Op],
    mut model: impl FnMut(u64, u32, bool) -> Answer,
) {
    let clock = ManualClock::new();
    let limiter = RateLimiter::build(quota, algorithm, clock.clone()).unwrap();
    let mut now = 0;
    for (i, op) in ops.iter().enumerate() {
        match *op {
            Op::Advance(d) => {
                now += d;
                clock.advance(Duration::from_nanos(d));
            }
            Op::Check(n) => assert_eq!(
                answer(limiter.check_n(n)),
                model(now, n, true),
                "op {i}: {op:?} at {now}"
            ),
            Op::Peek(n) => assert_eq!(
                answer(limiter.peek_n(n)),
                model(now, n, false),
                "op {i}: {op:?} at {now}"
            ),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn gcra_matches_a_balance_model(per_sec in 1u32..20, burst in 1u32..6, ops in ops(400_000_000, 7)) {
        let q = quota(per_sec, burst);
        let mut model = BucketModel::new(&q);
        run_direct(Algorithm::Gcra, q, &ops, |now, n, consume| model.take(now, n, consume));
    }

    #[test]
    fn fixed_window_matches_a_log_model(per_sec in 1u32..20, burst in 1u32..6, ops in ops(400_000_000, 7)) {
        let q = quota(per_sec, burst);
        let mut model = WindowModel { sliding: false, limit: u64::from(burst), window: u64::try_from(q.window().as_nanos()).unwrap(), log: vec![] };
        run_direct(Algorithm::FixedWindow, q, &ops, |now, n, consume| model.take(now, n, consume));
    }

    #[test]
    fn sliding_window_matches_a_log_model(per_sec in 1u32..20, burst in 1u32..6, ops in ops(400_000_000, 7)) {
        let q = quota(per_sec, burst);
        let mut model = WindowModel { sliding: true, limit: u64::from(burst), window: u64::try_from(q.window().as_nanos()).unwrap(), log: vec![] };
        run_direct(Algorithm::SlidingWindow, q, &ops, |now, n, consume| model.take(now, n, consume));
    }

    /// Eviction never changes an answer: only keys indistinguishable from new ones go.
    #[test]
    fn keyed_matches_one_model_per_key(
        per_sec in 1u32..20,
        burst in 1u32..4,
        steps in prop::collection::vec((0u8..5, 0u64..600_000_000, 0u32..5), 1..120),
    ) {
        let q = quota(per_sec, burst);
        let clock = ManualClock::new();
        let limiter = KeyedRateLimiter::<u8>::builder(q).idle_horizon(Duration::ZERO).shards(2).clock(clock.clone()).build();
        let mut models: HashMap<u8, BucketModel> = HashMap::new();
        let mut now = 0;
        for (key, step, n) in steps {
            now += step;
            clock.advance(Duration::from_nanos(step));
            let model = models.entry(key).or_insert_with(|| BucketModel::new(&q));
            let expected = model.take(now, n, true);
            let got = limiter.check_key_n(&key, n).map_err(|e| match e {
                KeyedError::RateLimited(r) => Some(u64::try_from(r.retry_after.as_nanos()).unwrap()),
                KeyedError::ExceedsLimit(_) => None,
                KeyedError::TooManyKeys { .. } => panic!("no cap configured"),
            });
            prop_assert_eq!(got, expected, "key {} n {} at {}", key, n, now);
            let busy = models.values().filter(|m| !m.is_full(now)).count();
            prop_assert!(limiter.len() >= busy, "a key with state to keep was dropped");
            prop_assert!(limiter.len() <= 5);
        }
    }
}
