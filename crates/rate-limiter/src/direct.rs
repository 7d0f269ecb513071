//! [`RateLimiter`]: one limit shared by every caller.

use std::sync::PoisonError;
use std::time::Duration;

use tidewater_token_bucket::{Clock, DefaultClock, TokenBucket, TryAcquireError};

use crate::algorithm::Algorithm;
use crate::decision::Decision;
use crate::error::{CheckError, ExceedsLimit, RateLimited};
use crate::quota::{Quota, QuotaError};
use crate::window::{Verdict, WindowCounter, WindowKind};

/// One rate limit shared by every caller (clone it in an `Arc` to share).
///
/// # Guarantees
/// - **No over-admission**: under any interleaving of threads, GCRA never admits more than
///   `burst + elapsed / interval` requests, and the window counters never count more than the
///   limit in a window (loom-checked).
/// - **Peek is free**: [`peek`](Self::peek) answers exactly like [`check`](Self::check) but
///   counts nothing.
/// - **Fair waiting**: [`until_ready`](Self::until_ready) waiters are served in arrival order
///   (GCRA: tidewater-token-bucket's FIFO queue with exact timing; windows: a FIFO turn).
///   Cancel-safe: dropping a waiting future gives back whatever it held.
/// - **Atomic reconfiguration**: [`set_quota`](Self::set_quota) carries what was used over
///   to the new quota; no request sees half of each, and a change never refills anything.
/// - **No panics on input**: bad quotas are a [`QuotaError`], `n` above the burst is
///   [`ExceedsLimit`].
///
/// ```
/// use tidewater_rate_limiter::{Algorithm, Quota, RateLimiter};
///
/// let limiter = RateLimiter::new(Quota::per_second(10)?.allow_burst(2)?);
/// assert!(limiter.check().is_ok());
/// assert!(limiter.check().is_ok());
/// let limited = limiter.check().unwrap_err();
/// assert!(limited.retry_after.as_millis() <= 100);
///
/// let sliding = RateLimiter::with_algorithm(Quota::per_minute(100)?, Algorithm::SlidingWindow)?;
/// assert!(sliding.peek().is_ok());
/// # Ok::<(), tidewater_rate_limiter::QuotaError>(())
/// ```
#[derive(Debug)]
pub struct RateLimiter<C: Clock = DefaultClock> {
    engine: Engine<C>,
    quota: std::sync::Mutex<Quota>,
}

#[derive(Debug)]
enum Engine<C: Clock> {
    Gcra(TokenBucket<C>),
    Window(Window<C>),
}

#[derive(Debug)]
struct Window<C> {
    counter: WindowCounter,
    clock: C,
    origin: u64,
    /// Waiters take turns here (tokio's mutex is FIFO), so `until_ready` is fair.
    turn: tokio::sync::Mutex<()>,
}

impl<C: Clock> Window<C> {
    fn now(&self) -> u64 {
        self.clock.now().saturating_sub(self.origin)
    }
}

impl RateLimiter<DefaultClock> {
    /// A GCRA limiter for `quota` on the default clock.
    #[must_use]
    pub fn new(quota: Quota) -> Self {
        Self::build(quota, Algorithm::Gcra, DefaultClock::default())
            .unwrap_or_else(|_| unreachable_quota())
    }

    /// A limiter for `quota` counted by `algorithm`, on the default clock.
    ///
    /// # Errors
    /// A [`QuotaError`] when the window algorithms cannot represent the quota (a burst
    /// above [`MAX_WINDOW_LIMIT`](crate::MAX_WINDOW_LIMIT), or a window under 1 µs).
    pub fn with_algorithm(quota: Quota, algorithm: Algorithm) -> Result<Self, QuotaError> {
        Self::build(quota, algorithm, DefaultClock::default())
    }
}

/// A validated [`Quota`] always builds a GCRA bucket; this is the typed fallback for the
/// impossible case, kept as a function so the constructors stay panic-free in spirit.
#[cold]
fn unreachable_quota() -> ! {
    unreachable!("a Quota is validated against the GCRA parameters when it is built")
}

impl<C: Clock> RateLimiter<C> {
    /// A limiter for `quota` counted by `algorithm`, reading time from `clock` (a
    /// [`ManualClock`](tidewater_token_bucket::ManualClock) in tests, a
    /// [`TokioClock`](tidewater_token_bucket::TokioClock) under paused tokio time).
    ///
    /// # Errors
    /// As [`with_algorithm`](RateLimiter::with_algorithm).
    pub fn build(quota: Quota, algorithm: Algorithm, clock: C) -> Result<Self, QuotaError> {
        let engine = match algorithm {
            Algorithm::Gcra => Engine::Gcra(
                TokenBucket::builder()
                    .capacity(quota.burst())
                    .refill(quota.tokens(), quota.period())
                    .clock(clock)
                    .build()?,
            ),
            Algorithm::FixedWindow | Algorithm::SlidingWindow => {
                let (limit, micros) = quota.window_params()?;
                let kind = if algorithm == Algorithm::FixedWindow {
                    WindowKind::Fixed
                } else {
                    WindowKind::Sliding
                };
                Engine::Window(Window {
                    counter: WindowCounter::new(kind, limit, micros),
                    origin: clock.now(),
                    clock,
                    turn: tokio::sync::Mutex::new(()),
                })
            }
        };
        Ok(Self {
            engine,
            quota: std::sync::Mutex::new(quota),
        })
    }

    /// Counts one request if the quota allows it now.
    ///
    /// # Errors
    /// [`RateLimited`] with the wait after which it would pass.
    #[inline(always)]
    pub fn check(&self) -> Result<(), RateLimited> {
        let Engine::Gcra(bucket) = &self.engine else {
            return self.check_window();
        };
        match bucket.try_acquire(1) {
            Ok(()) => Ok(()),
            Err(TryAcquireError::Insufficient { retry_after }) => Err(RateLimited { retry_after }),
            // The burst is at least 1, so one request always fits eventually.
            Err(TryAcquireError::ExceedsCapacity { .. }) => Err(RateLimited {
                retry_after: Duration::MAX,
            }),
        }
    }

    /// [`check`](Self::check) for the window algorithms, out of the GCRA hot path.
    #[inline(never)]
    fn check_window(&self) -> Result<(), RateLimited> {
        match self.check_n(1) {
            Ok(()) => Ok(()),
            Err(CheckError::RateLimited(limited)) => Err(limited),
            // The burst is at least 1, so one request always fits eventually.
            Err(CheckError::ExceedsLimit(_)) => Err(RateLimited {
                retry_after: Duration::MAX,
            }),
        }
    }

    /// Counts `n` requests at once if the quota allows all of them now (all or nothing).
    /// `n == 0` always passes.
    ///
    /// # Errors
    /// [`CheckError::RateLimited`] with the wait, or [`CheckError::ExceedsLimit`] when `n`
    /// is above the burst and can never pass.
    #[inline]
    pub fn check_n(&self, n: u32) -> Result<(), CheckError> {
        match &self.engine {
            Engine::Gcra(bucket) => bucket.try_acquire(n).map_err(from_bucket),
            Engine::Window(w) => from_verdict(w.counter.try_take(w.now(), n), n),
        }
    }

    /// Like [`check`](Self::check), answering with the full [`Decision`] (for headers).
    #[must_use]
    pub fn check_decision(&self) -> Decision {
        self.check_n_decision(1)
    }

    /// Like [`check_n`](Self::check_n), answering with the full [`Decision`].
    #[must_use]
    pub fn check_n_decision(&self, n: u32) -> Decision {
        match &self.engine {
            Engine::Gcra(bucket) => match bucket.try_acquire_status(n) {
                Ok((remaining, full_after)) => Decision {
                    allowed: true,
                    limit: bucket.capacity(),
                    remaining,
                    reset_after: full_after,
                    retry_after: None,
                },
                Err(e) => {
                    let status = bucket.status();
                    Decision {
                        allowed: false,
                        limit: status.capacity,
                        remaining: status.available,
                        reset_after: status.full_after,
                        retry_after: e.retry_after(),
                    }
                }
            },
            Engine::Window(w) => decision_of(w.counter.try_take(w.now(), n)),
        }
    }

    /// Would one request pass now? Answers exactly like [`check`](Self::check) but counts
    /// nothing: "when may I go?".
    ///
    /// # Errors
    /// [`RateLimited`] with the wait after which it would pass.
    pub fn peek(&self) -> Result<(), RateLimited> {
        self.peek_n(1).map_err(|e| RateLimited {
            retry_after: e.retry_after().unwrap_or(Duration::MAX),
        })
    }

    /// Would `n` requests pass now? Counts nothing.
    ///
    /// # Errors
    /// As [`check_n`](Self::check_n).
    pub fn peek_n(&self, n: u32) -> Result<(), CheckError> {
        match &self.engine {
            Engine::Gcra(bucket) => bucket.peek(n).map_err(from_bucket),
            Engine::Window(w) => from_verdict(w.counter.peek(w.now(), n), n),
        }
    }

    /// Waits until one request passes, then counts it.
    ///
    /// Fair: waiters are served in arrival order. Cancel-safe: dropping the future before
    /// it completes counts nothing and passes its turn on.
    pub async fn until_ready(&self) {
        // n = 1 never exceeds the burst (at least 1).
        let _ = self.until_n_ready(1).await;
    }

    /// Waits until `n` requests pass at once, then counts them. Fair and cancel-safe like
    /// [`until_ready`](Self::until_ready).
    ///
    /// # Errors
    /// [`ExceedsLimit`] at once when `n` is above the burst (waiting would never help).
    pub async fn until_n_ready(&self, n: u32) -> Result<(), ExceedsLimit> {
        match &self.engine {
            Engine::Gcra(bucket) => bucket.acquire(n).await.map_err(|e| ExceedsLimit {
                requested: e.requested,
                limit: e.capacity,
            }),
            Engine::Window(w) => {
                let _turn = w.turn.lock().await;
                loop {
                    match from_verdict(w.counter.try_take(w.now(), n), n) {
                        Ok(()) => return Ok(()),
                        Err(CheckError::ExceedsLimit(e)) => return Err(e),
                        Err(CheckError::RateLimited(r)) => tokio::time::sleep(r.retry_after).await,
                    }
                }
            }
        }
    }

    /// Replaces the quota at run time, atomically. What was already used carries over
    /// (GCRA: the token balance, clamped to the new burst; windows: the counts), so a
    /// change never grants a fresh burst. GCRA waiters re-time themselves to the new rate.
    ///
    /// # Errors
    /// A [`QuotaError`] when the algorithm cannot represent `quota`; the old quota stays.
    pub fn set_quota(&self, quota: Quota) -> Result<(), QuotaError> {
        let mut current = self.quota.lock().unwrap_or_else(PoisonError::into_inner);
        match &self.engine {
            Engine::Gcra(bucket) => {
                bucket.set_limits(quota.burst(), quota.tokens(), quota.period())?;
            }
            Engine::Window(w) => {
                let (limit, micros) = quota.window_params()?;
                w.counter.set(w.now(), limit, micros);
            }
        }
        *current = quota;
        Ok(())
    }

    /// The quota in force.
    #[must_use]
    pub fn quota(&self) -> Quota {
        *self.quota.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The counting algorithm.
    #[must_use]
    pub fn algorithm(&self) -> Algorithm {
        match &self.engine {
            Engine::Gcra(_) => Algorithm::Gcra,
            Engine::Window(w) => match w.counter.kind() {
                WindowKind::Fixed => Algorithm::FixedWindow,
                WindowKind::Sliding => Algorithm::SlidingWindow,
            },
        }
    }
}

fn from_bucket(e: TryAcquireError) -> CheckError {
    match e {
        TryAcquireError::Insufficient { retry_after } => {
            CheckError::RateLimited(RateLimited { retry_after })
        }
        TryAcquireError::ExceedsCapacity {
            requested,
            capacity,
        } => CheckError::ExceedsLimit(ExceedsLimit {
            requested,
            limit: capacity,
        }),
    }
}

fn from_verdict(v: Verdict, n: u32) -> Result<(), CheckError> {
    match (v.allowed, v.retry_after) {
        (true, _) => Ok(()),
        (false, Some(wait)) => Err(CheckError::RateLimited(RateLimited {
            retry_after: Duration::from_nanos(wait),
        })),
        (false, None) => Err(CheckError::ExceedsLimit(ExceedsLimit {
            requested: n,
            limit: v.limit,
        })),
    }
}

fn decision_of(v: Verdict) -> Decision {
    Decision {
        allowed: v.allowed,
        limit: v.limit,
        remaining: v.remaining,
        reset_after: Duration::from_nanos(v.reset_after),
        retry_after: v.retry_after.map(Duration::from_nanos),
    }
}
