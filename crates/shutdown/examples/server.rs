//! An axum-style server loop without axum: a `TcpListener` accept loop, one guard per
//! connection, a readiness flag for the health check, and the report at the end.
//!
//! `cargo run -p tidewater-shutdown --example server`, then `curl localhost:3000` and Ctrl-C
//! (press it again to skip the drain, a third time to exit at once).

use std::time::Duration;

use tidewater_shutdown::{Phase, Shutdown, Signals};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> Result<std::process::ExitCode, Box<dyn std::error::Error>> {
    let shutdown = Shutdown::builder()
        .grace(Duration::from_secs(25)) // Kubernetes gives 30 s by default: keep a margin
        .signals(Signals::default())
        .build()?;
    let readiness = shutdown.readiness();
    shutdown.on_phase(Phase::Done, "flush-logs", || async {
        eprintln!("flushing logs");
    })?;

    let listener = TcpListener::bind("127.0.0.1:3000").await?;
    eprintln!("listening on {}", listener.local_addr()?);
    let accept_loop = {
        let shutdown = shutdown.clone();
        async move {
            loop {
                let (mut socket, _) = listener.accept().await?;
                // A guard per connection: the drain waits for in-flight requests, and a
                // connection that arrives after the trigger is refused.
                let Ok(guard) = shutdown.guard("connection") else {
                    let _ = socket
                        .write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n")
                        .await;
                    continue;
                };
                let ready = readiness.is_ready();
                tokio::spawn(async move {
                    let _guard = guard; // released when the request is done
                    let mut request = [0_u8; 1024];
                    let _ = socket.read(&mut request).await;
                    tokio::time::sleep(Duration::from_millis(200)).await; // "work"
                    let body = if ready { "ok\n" } else { "draining\n" };
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                });
            }
            #[allow(unreachable_code)]
            Ok::<(), std::io::Error>(())
        }
    };

    // The accept loop is the intake: it is dropped when draining begins.
    let report = shutdown.run_until_shutdown(accept_loop).await;
    eprintln!("{report}");
    Ok(report.process_exit_code())
}
