//! Drain and abort: nothing is lost, everything is counted, and dropping a run leaks nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tidewater_pipeline::{CancelMode, CancellationToken, Outcome, Pipeline, PipelineReport};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep};

/// Every admitted item ends up delivered, filtered, failed or dropped, and each stage balances.
fn assert_invariant(report: &PipelineReport) {
    assert!(report.is_balanced(), "{report}");
    let accounted = report.delivered() + report.filtered() + report.errors() + report.dropped();
    assert_eq!(report.admitted(), accounted, "{report}");
}

/// A token that fires after `delay`.
fn cancel_after(delay: Duration) -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        sleep(delay).await;
        t.cancel();
    });
    token
}

/// A producer that sends until the channel closes; returns how many sends succeeded.
fn producer(tx: mpsc::Sender<u64>) -> tokio::task::JoinHandle<u64> {
    tokio::spawn(async move {
        let mut sent = 0;
        loop {
            if tx.send(sent).await.is_err() {
                return sent;
            }
            sent += 1;
            if sent.is_multiple_of(16) {
                sleep(Duration::from_millis(1)).await;
            }
        }
    })
}

fn slow_pipeline(
    rx: mpsc::Receiver<u64>,
    token: &CancellationToken,
    mode: CancelMode,
) -> Pipeline<u64> {
    Pipeline::from_receiver(rx)
        .cancel_on(token.clone(), mode)
        .map(4, |x| async move {
            sleep(Duration::from_millis(3)).await;
            x
        })
        .name("slow")
        .buffer(32)
        .filter(|x| !x.is_multiple_of(5))
        .map_blocking(2, |x| x + 1)
        .batch(10, Duration::from_millis(5))
        .flat_map(|b| b)
}

#[tokio::test(start_paused = true)]
async fn drain_delivers_every_item_that_was_sent() {
    let (tx, rx) = mpsc::channel(64);
    let sender = producer(tx);
    let token = cancel_after(Duration::from_millis(200));
    let (out, report) = slow_pipeline(rx, &token, CancelMode::Drain)
        .collect()
        .await
        .unwrap();
    let sent = sender.await.unwrap();
    assert_eq!(report.outcome, Outcome::Drained);
    assert_eq!(report.dropped(), 0, "{report}");
    assert_invariant(&report);
    // Every item whose send succeeded went through.
    assert_eq!(report.admitted(), sent);
    let expected: Vec<u64> = (0..sent)
        .filter(|x| !x.is_multiple_of(5))
        .map(|x| x + 1)
        .collect();
    assert_eq!(out, expected);
}

#[tokio::test(start_paused = true)]
async fn drain_from_iter_stops_the_source_only() {
    let token = cancel_after(Duration::from_millis(50));
    let (out, report) = Pipeline::from_iter(0..u64::MAX)
        .cancel_on(token, CancelMode::Drain)
        .map(2, |x| async move {
            sleep(Duration::from_millis(1)).await;
            x
        })
        .collect()
        .await
        .unwrap();
    assert_eq!(report.outcome, Outcome::Drained);
    assert_eq!(report.dropped(), 0);
    assert_eq!(out.len() as u64, report.admitted());
    assert_eq!(out, (0..report.admitted()).collect::<Vec<_>>());
    assert_invariant(&report);
}

#[tokio::test(start_paused = true)]
async fn abort_stops_now_and_counts_what_it_dropped() {
    let (tx, rx) = mpsc::channel(64);
    let sender = producer(tx);
    let token = cancel_after(Duration::from_millis(200));
    let start = Instant::now();
    let (out, report) = slow_pipeline(rx, &token, CancelMode::Abort)
        .collect()
        .await
        .unwrap();
    assert!(
        start.elapsed() < Duration::from_millis(210),
        "{:?}",
        start.elapsed()
    );
    drop(sender);
    assert_eq!(report.outcome, Outcome::Aborted);
    assert!(report.dropped() > 0, "{report}");
    assert_eq!(out.len() as u64, report.delivered());
    assert_invariant(&report);
}

#[tokio::test(start_paused = true)]
async fn abort_interrupts_a_long_user_future() {
    let token = cancel_after(Duration::from_secs(1));
    let start = Instant::now();
    let (out, report) = Pipeline::from_iter(0..10u32)
        .cancel_on(token, CancelMode::Abort)
        .map(3, |x| async move {
            sleep(Duration::from_secs(3_600)).await;
            x
        })
        .name("forever")
        .collect()
        .await
        .unwrap();
    assert!(start.elapsed() < Duration::from_secs(2));
    assert!(out.is_empty());
    assert_eq!(report.stage("forever").unwrap().dropped, 10, "{report}");
    assert_invariant(&report);
}

/// An item that counts how many of its kind are alive.
struct Tracked(Arc<AtomicUsize>);
impl Tracked {
    fn new(live: &Arc<AtomicUsize>) -> Self {
        live.fetch_add(1, Ordering::SeqCst);
        Self(live.clone())
    }
}
impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[tokio::test(start_paused = true)]
async fn dropping_the_run_at_any_point_leaks_nothing() {
    for cut_ms in 0..40u64 {
        let live = Arc::new(AtomicUsize::new(0));
        let l = live.clone();
        let (tx, rx) = mpsc::channel(16);
        let feeder = tokio::spawn(async move {
            for _ in 0..200 {
                if tx.send(Tracked::new(&l)).await.is_err() {
                    break;
                }
            }
        });
        let run = Pipeline::from_receiver(rx)
            .map(3, |t: Tracked| async move {
                sleep(Duration::from_millis(2)).await;
                t
            })
            .buffer(8)
            .map_blocking(2, |t| t)
            .batch(5, Duration::from_millis(3))
            .for_each(|b| async move {
                sleep(Duration::from_millis(1)).await;
                drop(b);
            });
        // Drop the sink future at a different await point each round.
        let _ = tokio::time::timeout(Duration::from_millis(cut_ms), run).await;
        feeder.await.unwrap();
        sleep(Duration::from_millis(50)).await;
        // Blocking jobs finish on their own threads; give them real time too.
        for _ in 0..200 {
            if live.load(Ordering::SeqCst) == 0 {
                break;
            }
            tokio::task::yield_now().await;
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(
            live.load(Ordering::SeqCst),
            0,
            "items leaked after cutting at {cut_ms} ms"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn abort_interrupts_a_long_for_each() {
    let token = cancel_after(Duration::from_secs(1));
    let start = Instant::now();
    let report = Pipeline::from_iter(0..10u32)
        .cancel_on(token, CancelMode::Abort)
        .for_each(|_| sleep(Duration::from_secs(3_600)))
        .await
        .unwrap();
    assert!(start.elapsed() < Duration::from_secs(2));
    assert_eq!(report.outcome, Outcome::Aborted);
    assert_eq!(report.delivered(), 0);
    assert_invariant(&report);
}
