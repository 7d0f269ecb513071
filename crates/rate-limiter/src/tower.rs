//! Tower middleware (feature `tower`): rate limits and concurrency limits as layers.
//!
//! Every layer sheds instead of queueing: a request over the limit is answered at once
//! with a [`ServiceError`] that carries `retry_after` (for a `429` with `Retry-After`),
//! and the inner service is not called. Layers are `Clone` and clones share one limiter,
//! so a layer can be applied to many connections.
//!
//! ```
//! use std::sync::Arc;
//! use tidewater_rate_limiter::tower::{KeyedRateLimitLayer, ServiceError};
//! use tidewater_rate_limiter::{KeyedRateLimiter, Quota};
//! use tower::{Layer, Service, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let limiter = Arc::new(KeyedRateLimiter::new(Quota::per_second(1)?));
//! // The key of a request: here the client name in a (client, body) pair.
//! let layer = KeyedRateLimitLayer::new(limiter, |req: &(&'static str, u32)| req.0);
//! let mut svc = layer.layer(service_fn(|req: (&'static str, u32)| async move {
//!     Ok::<_, std::convert::Infallible>(req.1 * 2)
//! }));
//! assert_eq!(svc.ready().await?.call(("alice", 21)).await?, 42);
//! match svc.ready().await?.call(("alice", 1)).await {
//!     Err(ServiceError::RateLimited(limited)) => assert!(limited.retry_after.as_millis() <= 1000),
//!     other => panic!("expected a rate limit, got {other:?}"),
//! }
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, Hash};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::TryFutureExt;
use futures_util::future::{Either, MapErr, Ready, ready};
use tidewater_token_bucket::{Clock, DefaultClock};
use tower_layer::Layer;
use tower_service::Service;

use crate::concurrency::{ConcurrencyLimiter, OwnedPermit};
use crate::direct::RateLimiter;
use crate::error::{KeyedError, RateLimited};
use crate::keyed::KeyedRateLimiter;

/// The error of a limited service: refused by a limiter, or the inner service's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceError<E> {
    /// Over the rate limit: answer `429 Too Many Requests` with `Retry-After`.
    RateLimited(RateLimited),
    /// A keyed limiter's key table is full (see [`WhenFull`](crate::WhenFull)).
    TooManyKeys {
        /// The configured cap.
        max_keys: usize,
    },
    /// Every concurrency permit is in use: answer `503 Service Unavailable`.
    Overloaded,
    /// The inner service failed.
    Inner(E),
}

impl<E> ServiceError<E> {
    /// How long the client should wait before retrying, when a limiter knows.
    #[must_use]
    pub const fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited(r) => Some(r.retry_after),
            _ => None,
        }
    }
}

impl<E: fmt::Display> fmt::Display for ServiceError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RateLimited(r) => r.fmt(f),
            Self::TooManyKeys { max_keys } => {
                write!(
                    f,
                    "rate limiter tracks its maximum of {max_keys} keys: try again later"
                )
            }
            Self::Overloaded => f.write_str("every concurrency permit is in use: try again later"),
            Self::Inner(e) => e.fmt(f),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for ServiceError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Inner(e) => Some(e),
            _ => None,
        }
    }
}

/// The response future of the rate-limit services: an immediate refusal, or the inner call.
pub type RateLimitFuture<F, T, E> =
    Either<Ready<Result<T, ServiceError<E>>>, MapErr<F, fn(E) -> ServiceError<E>>>;

fn pass<F: Future<Output = Result<T, E>>, T, E>(call: F) -> RateLimitFuture<F, T, E> {
    Either::Right(call.map_err(ServiceError::Inner as fn(E) -> ServiceError<E>))
}

/// Applies a shared [`RateLimiter`] to every request.
#[derive(Debug)]
pub struct RateLimitLayer<C: Clock = DefaultClock> {
    limiter: Arc<RateLimiter<C>>,
}

impl<C: Clock> Clone for RateLimitLayer<C> {
    fn clone(&self) -> Self {
        Self {
            limiter: Arc::clone(&self.limiter),
        }
    }
}

impl<C: Clock> RateLimitLayer<C> {
    /// A layer checking `limiter` once per request.
    #[must_use]
    pub const fn new(limiter: Arc<RateLimiter<C>>) -> Self {
        Self { limiter }
    }
}

impl<S, C: Clock> Layer<S> for RateLimitLayer<C> {
    type Service = RateLimit<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimit {
            inner,
            limiter: Arc::clone(&self.limiter),
        }
    }
}

/// The service of [`RateLimitLayer`].
#[derive(Debug)]
pub struct RateLimit<S, C: Clock = DefaultClock> {
    inner: S,
    limiter: Arc<RateLimiter<C>>,
}

impl<S: Clone, C: Clock> Clone for RateLimit<S, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            limiter: Arc::clone(&self.limiter),
        }
    }
}

impl<S: Service<Req>, Req, C: Clock> Service<Req> for RateLimit<S, C> {
    type Response = S::Response;
    type Error = ServiceError<S::Error>;
    type Future = RateLimitFuture<S::Future, S::Response, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(ServiceError::Inner)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        match self.limiter.check() {
            Ok(()) => pass(self.inner.call(req)),
            Err(limited) => Either::Left(ready(Err(ServiceError::RateLimited(limited)))),
        }
    }
}

/// Applies a [`KeyedRateLimiter`] with the key taken from each request by a closure.
pub struct KeyedRateLimitLayer<
    K,
    F,
    C: Clock = DefaultClock,
    H = std::collections::hash_map::RandomState,
> {
    limiter: Arc<KeyedRateLimiter<K, C, H>>,
    key_of: F,
}

impl<K, F, C: Clock, H> fmt::Debug for KeyedRateLimitLayer<K, F, C, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedRateLimitLayer")
            .field("limiter", &self.limiter)
            .finish_non_exhaustive()
    }
}

impl<K, F: Clone, C: Clock, H> Clone for KeyedRateLimitLayer<K, F, C, H> {
    fn clone(&self) -> Self {
        Self {
            limiter: Arc::clone(&self.limiter),
            key_of: self.key_of.clone(),
        }
    }
}

impl<K, F, C: Clock, H> KeyedRateLimitLayer<K, F, C, H> {
    /// A layer checking `key_of(&request)` against `limiter`.
    pub const fn new(limiter: Arc<KeyedRateLimiter<K, C, H>>, key_of: F) -> Self {
        Self { limiter, key_of }
    }
}

impl<S, K, F: Clone, C: Clock, H> Layer<S> for KeyedRateLimitLayer<K, F, C, H> {
    type Service = KeyedRateLimit<S, K, F, C, H>;

    fn layer(&self, inner: S) -> Self::Service {
        KeyedRateLimit {
            inner,
            limiter: Arc::clone(&self.limiter),
            key_of: self.key_of.clone(),
        }
    }
}

/// The service of [`KeyedRateLimitLayer`].
pub struct KeyedRateLimit<
    S,
    K,
    F,
    C: Clock = DefaultClock,
    H = std::collections::hash_map::RandomState,
> {
    inner: S,
    limiter: Arc<KeyedRateLimiter<K, C, H>>,
    key_of: F,
}

impl<S: fmt::Debug, K, F, C: Clock, H> fmt::Debug for KeyedRateLimit<S, K, F, C, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedRateLimit")
            .field("inner", &self.inner)
            .field("limiter", &self.limiter)
            .finish_non_exhaustive()
    }
}

impl<S: Clone, K, F: Clone, C: Clock, H> Clone for KeyedRateLimit<S, K, F, C, H> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            limiter: Arc::clone(&self.limiter),
            key_of: self.key_of.clone(),
        }
    }
}

impl<S, Req, K, F, C, H> Service<Req> for KeyedRateLimit<S, K, F, C, H>
where
    S: Service<Req>,
    K: Hash + Eq + Clone,
    F: Fn(&Req) -> K,
    C: Clock,
    H: BuildHasher + Clone,
{
    type Response = S::Response;
    type Error = ServiceError<S::Error>;
    type Future = RateLimitFuture<S::Future, S::Response, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(ServiceError::Inner)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let refused = match self.limiter.check_key(&(self.key_of)(&req)) {
            Ok(()) => return pass(self.inner.call(req)),
            Err(KeyedError::RateLimited(limited)) => ServiceError::RateLimited(limited),
            Err(KeyedError::TooManyKeys { max_keys }) => ServiceError::TooManyKeys { max_keys },
            // One request is never above a burst of at least one.
            Err(KeyedError::ExceedsLimit(_)) => ServiceError::Overloaded,
        };
        Either::Left(ready(Err(refused)))
    }
}

/// Sheds requests beyond `limit` in flight with [`ServiceError::Overloaded`]; each
/// admitted request holds its permit until its response future completes or is dropped.
#[derive(Debug, Clone)]
pub struct ConcurrencyLimitLayer {
    limiter: ConcurrencyLimiter,
}

impl ConcurrencyLimitLayer {
    /// A layer sharing `limiter` among all its services.
    #[must_use]
    pub const fn new(limiter: ConcurrencyLimiter) -> Self {
        Self { limiter }
    }
}

impl<S> Layer<S> for ConcurrencyLimitLayer {
    type Service = ConcurrencyLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ConcurrencyLimit {
            inner,
            limiter: self.limiter.clone(),
        }
    }
}

/// The service of [`ConcurrencyLimitLayer`].
#[derive(Debug, Clone)]
pub struct ConcurrencyLimit<S> {
    inner: S,
    limiter: ConcurrencyLimiter,
}

impl<S: Service<Req>, Req> Service<Req> for ConcurrencyLimit<S> {
    type Response = S::Response;
    type Error = ServiceError<S::Error>;
    type Future = ConcurrencyFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(ServiceError::Inner)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        match self.limiter.try_acquire_owned() {
            Some(permit) => ConcurrencyFuture {
                state: Some((Box::pin(self.inner.call(req)), permit)),
            },
            None => ConcurrencyFuture { state: None },
        }
    }
}

/// The response future of [`ConcurrencyLimit`]: holds the permit until it completes.
#[must_use = "futures do nothing unless polled"]
pub struct ConcurrencyFuture<F> {
    state: Option<(Pin<Box<F>>, OwnedPermit)>,
}

impl<F> fmt::Debug for ConcurrencyFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConcurrencyFuture")
            .field("admitted", &self.state.is_some())
            .finish()
    }
}

impl<F: Future<Output = Result<T, E>>, T, E> Future for ConcurrencyFuture<F> {
    type Output = Result<T, ServiceError<E>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some((call, _permit)) = self.state.as_mut() else {
            return Poll::Ready(Err(ServiceError::Overloaded));
        };
        let out = std::task::ready!(call.as_mut().poll(cx));
        // Release the permit as soon as the response is ready.
        self.state = None;
        Poll::Ready(out.map_err(ServiceError::Inner))
    }
}
