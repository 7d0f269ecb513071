//! A throwaway `redis-server` for the Redis-backed rate limiter's tests and benchmarks.
//!
//! The tests read `TIDEWATER_REDIS_URL`. If it is already set, that server is used as is;
//! otherwise one `redis-server` (or `$TIDEWATER_REDIS_SERVER`) is started on a free
//! loopback port without persistence, and stopped when the guard drops. Without a binary
//! the Redis tests skip and say why, except in CI (`CI=true`), where that is a failure.

use std::env;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// The variable the Redis tests and benchmarks read.
pub(crate) const URL_VAR: &str = "TIDEWATER_REDIS_URL";

/// Keeps the server alive; kills it on drop.
pub(crate) struct RedisGuard {
    child: Option<Child>,
    url: Option<String>,
}

impl RedisGuard {
    /// Adds the server's URL to `command`'s environment, if there is a server.
    pub(crate) fn apply<'c>(&self, command: &'c mut Command) -> &'c mut Command {
        if let Some(url) = &self.url {
            command.env(URL_VAR, url);
        }
        command
    }
}

impl Drop for RedisGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn in_ci() -> bool {
    env::var("CI").is_ok_and(|v| v == "true")
}

/// Finds or starts the server for one step.
pub(crate) fn start() -> Result<RedisGuard, String> {
    if let Ok(url) = env::var(URL_VAR) {
        println!("Redis tests use {URL_VAR}={url}");
        return Ok(RedisGuard {
            child: None,
            url: Some(url),
        });
    }
    let binary = env::var("TIDEWATER_REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free loopback port for redis-server: {e}"))?
        .port();
    let spawned = Command::new(&binary)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let child = match spawned {
        Ok(child) => child,
        Err(e) if in_ci() => {
            return Err(format!(
                "CI=true but `{binary}` cannot be started ({e}): .ci/run installs Debian's redis-server"
            ));
        }
        Err(e) => {
            println!(
                "WARNING: `{binary}` cannot be started ({e}); the Redis tests will be SKIPPED \
                 (install redis-server, or set {URL_VAR})"
            );
            return Ok(RedisGuard {
                child: None,
                url: None,
            });
        }
    };
    let mut guard = RedisGuard {
        child: Some(child),
        url: None,
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return Err(format!(
                "`{binary}` did not listen on 127.0.0.1:{port} within 10 s"
            ));
        }
        thread::sleep(Duration::from_millis(20));
    }
    let url = format!("redis://127.0.0.1:{port}");
    println!("started `{binary}` for the Redis tests: {URL_VAR}={url}");
    guard.url = Some(url);
    Ok(guard)
}
