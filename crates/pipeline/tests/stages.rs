//! Stage behaviour: ordering, error policies, batching, panics, overlap, bad settings, sinks.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use tidewater_pipeline::{
    ConfigProblem, ErrorPolicy, Failed, Outcome, Pipeline, PipelineErrorKind,
};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep};

/// A deterministic "random" delay per item.
fn jitter(x: u64) -> Duration {
    Duration::from_millis((x * 7919) % 13 + 1)
}

#[tokio::test(start_paused = true)]
async fn map_keeps_order_with_concurrency() {
    let (out, report) = Pipeline::from_iter(0..500u64)
        .map(16, |x| async move {
            sleep(jitter(x)).await;
            x * 3
        })
        .collect()
        .await
        .unwrap();
    assert_eq!(out, (0..500).map(|x| x * 3).collect::<Vec<_>>());
    assert!(report.is_balanced(), "{report}");
    assert_eq!(report.outcome, Outcome::Completed);
}

#[tokio::test(start_paused = true)]
async fn map_concurrency_is_used_and_bounded() {
    let live = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (l, p) = (live.clone(), peak.clone());
    let start = Instant::now();
    let (out, _) = Pipeline::from_iter(0..64u32)
        .map(8, move |x| {
            let (l, p) = (l.clone(), p.clone());
            async move {
                let now = l.fetch_add(1, Ordering::SeqCst) + 1;
                p.fetch_max(now, Ordering::SeqCst);
                sleep(Duration::from_millis(100)).await;
                l.fetch_sub(1, Ordering::SeqCst);
                x
            }
        })
        .collect()
        .await
        .unwrap();
    assert_eq!(out.len(), 64);
    assert_eq!(peak.load(Ordering::SeqCst), 8);
    // 64 items / 8 at a time * 100 ms.
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(800) && took < Duration::from_millis(900),
        "{took:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn map_unordered_emits_in_completion_order() {
    let (out, report) = Pipeline::from_iter([300u64, 100, 200])
        .map_unordered(3, |ms| async move {
            sleep(Duration::from_millis(ms)).await;
            ms
        })
        .collect()
        .await
        .unwrap();
    assert_eq!(out, vec![100, 200, 300]);
    assert!(report.is_balanced());
}

#[tokio::test(start_paused = true)]
async fn map_blocking_keeps_order() {
    let (out, report) = Pipeline::from_iter(0..2_000u64)
        .map_blocking(2, |x| x.wrapping_mul(x))
        .name("square")
        .collect()
        .await
        .unwrap();
    assert_eq!(out, (0..2_000u64).map(|x| x * x).collect::<Vec<_>>());
    let s = report.stage("square").unwrap();
    assert_eq!((s.items_in, s.items_out), (2_000, 2_000));
}

#[tokio::test(start_paused = true)]
async fn sync_stages_count_what_they_do() {
    let seen = Arc::new(AtomicUsize::new(0));
    let s2 = seen.clone();
    let (out, report) = Pipeline::from_iter(0..100u32)
        .filter(|x| x.is_multiple_of(2))
        .name("even")
        .filter_map(|x| (!x.is_multiple_of(10)).then_some(x))
        .name("no-tens")
        .flat_map(|x| vec![x; (x % 3) as usize])
        .name("repeat")
        .inspect(move |_| {
            s2.fetch_add(1, Ordering::Relaxed);
        })
        .collect()
        .await
        .unwrap();
    let expected: Vec<u32> = (0..100u32)
        .filter(|x| x.is_multiple_of(2))
        .filter(|x| !x.is_multiple_of(10))
        .flat_map(|x| vec![x; (x % 3) as usize])
        .collect();
    assert_eq!(out, expected);
    assert_eq!(seen.load(Ordering::Relaxed), expected.len());
    assert_eq!(report.stage("even").unwrap().filtered, 50);
    assert_eq!(report.stage("no-tens").unwrap().filtered, 10);
    let repeat = report.stage("repeat").unwrap();
    assert_eq!(
        (repeat.items_in, repeat.items_out, repeat.emitted),
        (40, 40, expected.len() as u64)
    );
    assert!(report.is_balanced(), "{report}");
}

#[derive(Debug)]
struct Odd(u32);
impl std::fmt::Display for Odd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "odd item {}", self.0)
    }
}
impl std::error::Error for Odd {}

async fn reject_odd(x: u32) -> Result<u32, Odd> {
    sleep(jitter(u64::from(x))).await;
    if x % 2 == 1 { Err(Odd(x)) } else { Ok(x) }
}

#[tokio::test(start_paused = true)]
async fn fail_fast_stops_with_the_stage_name_and_balances() {
    let err = Pipeline::from_iter(0..10_000u32)
        .try_map(4, ErrorPolicy::FailFast, reject_odd)
        .name("parse")
        .map(1, |x| async move { x })
        .collect()
        .await
        .unwrap_err();
    assert_eq!(err.stage(), Some("parse"));
    assert!(matches!(err.kind(), PipelineErrorKind::StageFailed { .. }));
    assert_eq!(err.to_string(), "stage `parse` failed: odd item 1");
    assert!(std::error::Error::source(&err).is_some());
    let report = err.report();
    assert_eq!(report.outcome, Outcome::Failed);
    assert_eq!(report.stage("parse").unwrap().errors, 1);
    assert!(report.is_balanced(), "{report}");
    // Every admitted item is accounted for somewhere.
    let accounted = report.delivered() + report.errors() + report.dropped() + report.filtered();
    assert_eq!(report.admitted(), accounted, "{report}");
}

#[tokio::test(start_paused = true)]
async fn skip_counts_every_error() {
    let (out, report) = Pipeline::from_iter(0..100u32)
        .try_map(8, ErrorPolicy::Skip, reject_odd)
        .name("parse")
        .collect()
        .await
        .unwrap();
    assert_eq!(out, (0..100).step_by(2).collect::<Vec<_>>());
    let parse = report.stage("parse").unwrap();
    assert_eq!(parse.errors, 50);
    assert_eq!(parse.last_error.as_deref(), Some("odd item 99"));
    assert!(report.is_balanced());
}

#[tokio::test(start_paused = true)]
async fn dead_letter_receives_items_and_errors() {
    let (tx, mut rx) = mpsc::channel::<Failed<u32, Odd>>(4);
    let letters = tokio::spawn(async move {
        let mut got = Vec::new();
        while let Some(f) = rx.recv().await {
            got.push((f.item, f.error.0, f.stage));
        }
        got
    });
    let (out, report) = Pipeline::from_iter(0..20u32)
        .try_map(3, ErrorPolicy::DeadLetter(tx), reject_odd)
        .name("parse")
        .collect()
        .await
        .unwrap();
    assert_eq!(out.len(), 10);
    let got = letters.await.unwrap();
    assert_eq!(got.len(), 10);
    assert!(
        got.iter()
            .all(|(item, err, stage)| item == err && item % 2 == 1 && stage == "parse")
    );
    assert_eq!(report.stage("parse").unwrap().errors, 10);
}

#[tokio::test(start_paused = true)]
async fn dead_letter_closed_fails_instead_of_losing() {
    let (tx, rx) = mpsc::channel::<Failed<u32, Odd>>(4);
    drop(rx);
    let err = Pipeline::from_iter(0..20u32)
        .try_map(1, ErrorPolicy::DeadLetter(tx), reject_odd)
        .collect()
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind(), PipelineErrorKind::DeadLetterClosed { .. }),
        "{err}"
    );
    assert!(err.report().is_balanced());
}

#[tokio::test(start_paused = true)]
async fn batch_by_size_then_by_time() {
    let (tx, rx) = mpsc::channel(64);
    let mut stream = Pipeline::from_receiver(rx)
        .batch(4, Duration::from_millis(50))
        .into_stream();
    for i in 0..6u32 {
        tx.send(i).await.unwrap();
    }
    let t0 = Instant::now();
    assert_eq!(stream.next().await, Some(vec![0, 1, 2, 3]));
    assert!(t0.elapsed() < Duration::from_millis(1));
    // Input stalls: the partial batch is flushed on the timer.
    assert_eq!(stream.next().await, Some(vec![4, 5]));
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_millis(50) && waited < Duration::from_millis(52),
        "{waited:?}"
    );
    tx.send(9).await.unwrap();
    drop(tx);
    // End of input flushes at once.
    let t1 = Instant::now();
    assert_eq!(stream.next().await, Some(vec![9]));
    assert!(t1.elapsed() < Duration::from_millis(1));
    assert_eq!(stream.next().await, None);
    let report = stream.finish().await.unwrap();
    let b = &report.stages[1];
    assert_eq!((b.items_in, b.items_out, b.emitted), (7, 7, 3));
    assert!(report.is_balanced(), "{report}");
}

#[tokio::test(start_paused = true)]
async fn two_slow_stages_overlap() {
    let start = Instant::now();
    let (out, report) = Pipeline::from_iter(0..100u32)
        .map(1, |x| async move {
            sleep(Duration::from_millis(10)).await;
            x
        })
        .name("a")
        .map(1, |x| async move {
            sleep(Duration::from_millis(10)).await;
            x
        })
        .name("b")
        .collect()
        .await
        .unwrap();
    assert_eq!(out.len(), 100);
    let took = start.elapsed();
    // One stage alone: 1 s. Both in one task: 2 s. Overlapped: 1 s + one item.
    assert!(
        took >= Duration::from_millis(1_010) && took < Duration::from_millis(1_100),
        "{took:?}"
    );
    let a = report.stage("a").unwrap();
    assert!(a.busy >= Duration::from_millis(900), "{report}");
}

#[tokio::test(start_paused = true)]
async fn report_shows_the_bottleneck() {
    let (_, report) = Pipeline::from_iter(0..50u32)
        .map(1, |x| async move { x })
        .name("fast")
        .buffer(4)
        .map(1, |x| async move {
            sleep(Duration::from_millis(20)).await;
            x
        })
        .name("slow")
        .collect()
        .await
        .unwrap();
    assert_eq!(report.bottleneck().map(|s| s.name.as_str()), Some("slow"));
    assert!(
        report.stage("fast").unwrap().blocked > Duration::from_millis(500),
        "{report}"
    );
    assert!(
        report.stage("slow").unwrap().blocked < Duration::from_millis(1),
        "{report}"
    );
}

#[tokio::test(start_paused = true)]
async fn panics_become_errors_with_the_stage_name() {
    let err = Pipeline::from_iter(0..100u32)
        .map(4, |x| async move {
            assert!(x != 42, "boom at {x}");
            x
        })
        .name("explode")
        .collect()
        .await
        .unwrap_err();
    assert_eq!(err.stage(), Some("explode"));
    assert_eq!(err.to_string(), "stage `explode` panicked: boom at 42");
    assert!(err.report().is_balanced(), "{}", err.report());

    let err = Pipeline::from_iter(0..100u32)
        .filter(|x| 10 / (50 - x) > 0)
        .name("div")
        .collect()
        .await
        .unwrap_err();
    assert_eq!(err.stage(), Some("div"));
    assert!(err.report().is_balanced(), "{}", err.report());

    let err = Pipeline::from_iter(0..1_000u32)
        .map_blocking(2, |x| if x == 500 { panic!("cpu boom") } else { x })
        .name("cpu")
        .collect()
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "stage `cpu` panicked: cpu boom");
    assert_eq!(err.report().stage("cpu").unwrap().errors, 1);
    assert!(err.report().is_balanced(), "{}", err.report());

    let err = Pipeline::from_iter(0..10u32)
        .for_each(|x| async move { assert!(x < 5, "sink boom") })
        .await
        .unwrap_err();
    assert_eq!(err.stage(), Some("sink"));
    assert!(err.report().is_balanced(), "{}", err.report());
}

#[tokio::test(start_paused = true)]
async fn bad_settings_are_typed_errors() {
    let cases = [
        (
            Pipeline::from_iter(0..3u32)
                .map(0, |x| async move { x })
                .collect()
                .await,
            ConfigProblem::ZeroConcurrency,
        ),
        (
            Pipeline::from_iter(0..3u32).buffer(0).collect().await,
            ConfigProblem::ZeroCapacity,
        ),
        (
            Pipeline::from_iter(0..3u32)
                .batch(0, Duration::from_secs(1))
                .map(1, |b| async move { b.len() as u32 })
                .collect()
                .await,
            ConfigProblem::ZeroBatchSize,
        ),
    ];
    for (result, expected) in cases {
        let err = result.unwrap_err();
        assert!(
            matches!(err.kind(), PipelineErrorKind::InvalidConfig { problem, .. } if *problem == expected),
            "{err}"
        );
        assert!(!err.to_string().is_empty());
    }
    // Duration::MAX / zero waits are fine.
    let (out, _) = Pipeline::from_iter(0..5u32)
        .batch(2, Duration::MAX)
        .collect()
        .await
        .unwrap();
    assert_eq!(out, vec![vec![0, 1], vec![2, 3], vec![4]]);
    let (out, _) = Pipeline::from_iter(0..5u32)
        .batch(2, Duration::ZERO)
        .collect()
        .await
        .unwrap();
    assert_eq!(out.concat(), vec![0, 1, 2, 3, 4]);
}

#[test]
fn no_runtime_is_a_typed_error() {
    let stream = Pipeline::from_iter(0..3u32).into_stream();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let err = rt.block_on(stream.finish()).unwrap_err();
    assert!(matches!(err.kind(), PipelineErrorKind::NoRuntime), "{err}");
}

#[tokio::test(start_paused = true)]
async fn run_into_and_sink_closed() {
    let (tx, mut rx) = mpsc::channel(8);
    let reader = tokio::spawn(async move {
        let mut n = 0u32;
        while let Some(x) = rx.recv().await {
            assert_eq!(x, n);
            n += 1;
        }
        n
    });
    let report = Pipeline::from_iter(0..1_000u32).run_into(tx).await.unwrap();
    assert_eq!(reader.await.unwrap(), 1_000);
    assert_eq!(report.delivered(), 1_000);

    let (tx, mut rx) = mpsc::channel(8);
    let reader = tokio::spawn(async move {
        for _ in 0..10 {
            rx.recv().await;
        }
    });
    let err = Pipeline::from_iter(0..1_000u32)
        .run_into(tx)
        .await
        .unwrap_err();
    reader.await.unwrap();
    assert!(matches!(err.kind(), PipelineErrorKind::SinkClosed));
    assert!(err.report().is_balanced(), "{}", err.report());
}

#[tokio::test(start_paused = true)]
async fn into_stream_finish_early_counts_the_rest() {
    let mut stream = Pipeline::from_iter(0..10_000u32)
        .map(2, |x| async move { x })
        .into_stream();
    let first: Vec<u32> = stream.by_ref().take(10).collect().await;
    assert_eq!(first, (0..10).collect::<Vec<_>>());
    assert_eq!(stream.report().outcome, Outcome::Running);
    let report = stream.finish().await.unwrap();
    assert_eq!(report.outcome, Outcome::Aborted);
    assert_eq!(report.delivered(), 10);
    assert!(report.is_balanced(), "{report}");
    let accounted = report.delivered() + report.dropped();
    assert_eq!(report.admitted(), accounted, "{report}");
}

#[tokio::test(start_paused = true)]
async fn from_stream_source() {
    let src = futures::stream::iter(0..300u32).then(|x| async move {
        if x.is_multiple_of(50) {
            sleep(Duration::from_millis(1)).await;
        }
        x
    });
    let (out, report) = Pipeline::from_stream(src)
        .map(4, |x| async move { x + 1 })
        .collect()
        .await
        .unwrap();
    assert_eq!(out, (1..=300).collect::<Vec<_>>());
    assert_eq!(report.admitted(), 300);
}

#[tokio::test(start_paused = true)]
async fn report_displays_a_table() {
    let (_, report) = Pipeline::from_iter(0..10u32)
        .map(1, |x| async move { x })
        .name("id")
        .collect()
        .await
        .unwrap();
    let text = report.to_string();
    assert!(
        text.contains("id") && text.contains("source") && text.contains("sink"),
        "{text}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_panicking_source_is_named_and_keeps_what_it_took() {
    let iter = (0..100u32).inspect(|x| assert!(*x != 30, "source boom"));
    let err = Pipeline::from_iter(iter)
        .map(1, |x| async move { x })
        .collect()
        .await
        .unwrap_err();
    assert_eq!(err.stage(), Some("source"));
    assert_eq!(err.to_string(), "stage `source` panicked: source boom");
    assert!(err.report().is_balanced(), "{}", err.report());
}

#[tokio::test(start_paused = true)]
async fn a_stream_source_drains_on_cancel() {
    let token = tidewater_pipeline::CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        sleep(Duration::from_millis(100)).await;
        t.cancel();
    });
    let src = futures::stream::iter(0u64..).then(|x| async move {
        sleep(Duration::from_millis(1)).await;
        x
    });
    let (out, report) = Pipeline::from_stream(src)
        .cancel_on(token, tidewater_pipeline::CancelMode::Drain)
        .map(2, |x| async move { x * 2 })
        .collect()
        .await
        .unwrap();
    assert_eq!(report.outcome, Outcome::Drained);
    assert_eq!(report.dropped(), 0);
    assert_eq!(out.len() as u64, report.admitted());
    assert!(report.admitted() >= 90, "{report}");
}
