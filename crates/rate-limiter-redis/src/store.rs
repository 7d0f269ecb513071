//! [`RedisStore`]: the connection, the server-side GCRA script and the per-call timeout.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::error::{SetupError, StoreFailure};
use crate::limits::Limits;

/// The script's source; see `gcra.lua` for its arguments and arithmetic.
const GCRA_SCRIPT: &str = include_str!("gcra.lua");
/// Default per-call timeout: long enough for a healthy Redis across a data centre, short
/// enough that a request is not held hostage by a sick one.
const DEFAULT_TIMEOUT: Duration = Duration::from_millis(100);
/// Key prefix unless configured.
const DEFAULT_PREFIX: &str = "tidewater:rl:";

/// A connection to Redis that runs GCRA on the server.
///
/// Cheap to clone (clones share one multiplexed, self-reconnecting connection). Every
/// check is one `EVALSHA` of one script: the script is sent once (on the first `NOSCRIPT`)
/// and invoked by its SHA-1 afterwards; it reads the server's clock, so replicas with
/// skewed clocks still share one limit; it stores one short string per key that expires
/// by itself when the key's bucket is full again, so Redis memory is bounded by the keys
/// active within one refill time.
///
/// ```no_run
/// use tidewater_rate_limiter::Quota;
/// use tidewater_rate_limiter_redis::{RedisKeyedRateLimiter, RedisStore};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let store = RedisStore::connect("redis://127.0.0.1:6379").await?;
/// let limiter = RedisKeyedRateLimiter::with_store(Quota::per_second(10)?, store)?;
/// limiter.check_key("client-42").await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    connection: ConnectionManager,
    script: Arc<redis::Script>,
    prefix: Arc<str>,
    timeout: Duration,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("script_sha1", &self.script.get_hash())
            .finish_non_exhaustive()
    }
}

/// Configures a [`RedisStore`]; from [`RedisStore::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct RedisStoreBuilder {
    url: String,
    prefix: String,
    timeout: Duration,
}

/// What the script answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reply {
    pub(crate) allowed: bool,
    pub(crate) granted: u32,
    pub(crate) remaining: u32,
    pub(crate) retry_after: Duration,
    pub(crate) full_after: Duration,
}

/// One script call's request: `need` tokens or nothing, and up to `want` when there is room.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Take {
    pub(crate) need: u32,
    pub(crate) want: u32,
    pub(crate) write: bool,
}

impl RedisStore {
    /// Connects to `url` (`redis://host:port/db`, `rediss://` for TLS if the `redis` crate
    /// is built with it) with the defaults: prefix `tidewater:rl:`, 100 ms per-call timeout.
    ///
    /// # Errors
    /// [`SetupError::InvalidUrl`], or [`SetupError::Unreachable`] when the first
    /// connection fails.
    pub async fn connect(url: &str) -> Result<Self, SetupError> {
        Self::builder(url).connect().await
    }

    /// Starts configuring a store for `url`.
    pub fn builder(url: &str) -> RedisStoreBuilder {
        RedisStoreBuilder {
            url: url.to_owned(),
            prefix: DEFAULT_PREFIX.to_owned(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The prefix put before every key.
    #[must_use]
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The per-call timeout.
    #[must_use]
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub(crate) fn key_of(&self, key: &dyn std::fmt::Display) -> String {
        format!("{}{key}", self.prefix)
    }

    /// Runs the GCRA script once for `key` (already prefixed), within the timeout.
    pub(crate) async fn run(
        &self,
        key: &str,
        limits: Limits,
        take: Take,
    ) -> Result<Reply, StoreFailure> {
        let mut invocation = self.script.key(key);
        invocation
            .arg(limits.interval_nanos)
            .arg(limits.capacity)
            .arg(take.need)
            .arg(take.want)
            .arg(u8::from(take.write));
        let mut connection = self.connection.clone();
        let call = invocation.invoke_async::<(u8, u32, u32, u64, u64)>(&mut connection);
        match tokio::time::timeout(self.timeout, call).await {
            Err(_) => Err(StoreFailure::Timeout {
                after: self.timeout,
            }),
            Ok(Err(error)) => Err(StoreFailure::from_redis(&error)),
            Ok(Ok((allowed, granted, remaining, retry_after, full_after))) => Ok(Reply {
                allowed: allowed == 1,
                granted,
                remaining,
                retry_after: Duration::from_nanos(retry_after),
                full_after: Duration::from_nanos(full_after),
            }),
        }
    }
}

impl RedisStoreBuilder {
    /// The prefix put before every key (default `tidewater:rl:`), so limits share a
    /// database with other data safely. Limiters that must share a limit use the same one.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long one check may wait for Redis (default 100 ms) before the limiter's
    /// [`FailurePolicy`](crate::FailurePolicy) decides instead. Also bounds each
    /// (re)connection attempt.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Connects now, failing if Redis cannot be reached.
    ///
    /// # Errors
    /// [`SetupError::InvalidUrl`], [`SetupError::Zero`] for a zero timeout, or
    /// [`SetupError::Unreachable`].
    pub async fn connect(self) -> Result<RedisStore, SetupError> {
        let (client, config) = self.client()?;
        let connect = ConnectionManager::new_with_config(client, config);
        let connection = match tokio::time::timeout(self.timeout, connect).await {
            Err(_) => Err(StoreFailure::Timeout {
                after: self.timeout,
            }),
            Ok(result) => result.map_err(|e| StoreFailure::from_redis(&e)),
        }
        .map_err(SetupError::Unreachable)?;
        Ok(self.finish(connection))
    }

    /// Returns at once and connects on first use, so a service can start while Redis is
    /// down (its checks follow the failure policy until Redis is back). Needs a Tokio
    /// runtime.
    ///
    /// # Errors
    /// [`SetupError::InvalidUrl`] or [`SetupError::Zero`].
    pub fn connect_lazy(self) -> Result<RedisStore, SetupError> {
        let (client, config) = self.client()?;
        let connection = ConnectionManager::new_lazy_with_config(client, config).map_err(|e| {
            SetupError::InvalidUrl {
                message: e.to_string(),
            }
        })?;
        Ok(self.finish(connection))
    }

    fn client(&self) -> Result<(redis::Client, ConnectionManagerConfig), SetupError> {
        if self.timeout.is_zero() {
            return Err(SetupError::Zero { setting: "timeout" });
        }
        let client =
            redis::Client::open(self.url.as_str()).map_err(|e| SetupError::InvalidUrl {
                message: e.to_string(),
            })?;
        // Reconnection runs in the background; a check never waits longer than the
        // timeout for it, so a short retry budget is enough.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(2)
            .set_max_delay(self.timeout);
        Ok((client, config))
    }

    fn finish(self, connection: ConnectionManager) -> RedisStore {
        RedisStore {
            connection,
            script: Arc::new(redis::Script::new(GCRA_SCRIPT)),
            prefix: self.prefix.into(),
            timeout: self.timeout,
        }
    }
}
