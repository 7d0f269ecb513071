//! Finding (or starting) the Redis server the tests run against.
//!
//! `cargo xtask test-all` starts a `redis-server` on a free port and exports its URL as
//! `TIDEWATER_REDIS_URL`. Without it the Redis tests are skipped with a message saying
//! why, except in CI (`CI=true`), where a missing server is a failure.
#![allow(dead_code, unreachable_pub)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The URL of the server under test, or `None` (after saying so) when the test must skip.
pub fn redis_url(test: &str) -> Option<String> {
    if let Ok(url) = std::env::var("TIDEWATER_REDIS_URL") {
        return Some(url);
    }
    missing(
        test,
        "TIDEWATER_REDIS_URL is not set (`cargo xtask test-all` starts a redis-server and sets it)",
    );
    None
}

/// Skips with a reason, or fails in CI.
pub fn missing(test: &str, why: &str) {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{test}: CI=true but {why}; CI must run the Redis tests against a real server"
    );
    eprintln!("SKIPPED {test}: {why}");
}

/// A key prefix no other test (or earlier run) uses.
pub fn unique_prefix(test: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "tidewater-test:{test}:{}:{nanos}:{}:",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A TCP port nothing listens on right now.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

/// A `redis-server` this test owns (for restart tests), killed on drop.
pub struct OwnServer {
    pub port: u16,
    child: Child,
}

impl OwnServer {
    /// Starts `redis-server` (or `$TIDEWATER_REDIS_SERVER`) on `port` without persistence,
    /// and waits until it accepts connections. `None` (after saying so) if there is no
    /// binary.
    pub async fn start(test: &str, port: u16) -> Option<Self> {
        let binary =
            std::env::var("TIDEWATER_REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_owned());
        let child = match Command::new(&binary)
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(child) => child,
            Err(e) => {
                missing(
                    test,
                    &format!("cannot start {binary}: {e} (install redis-server)"),
                );
                return None;
            }
        };
        let server = Self { port, child };
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(server);
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("{test}: {binary} did not start listening on port {port} within 5 s");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server and waits until its port is closed.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
