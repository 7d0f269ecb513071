//! An ingest service built from every tidewater crate.
//!
//! ```text
//! cargo run --release -p tidewater --features full --example ingest -- --jobs 2000 --rate 200 --workers 4
//! ```
//!
//! - **intake** (a [`Shutdown`] task): leases jobs from a synthetic queue in small batches
//!   (accepted), paces them with a [`TokenBucket`] and sends them into the pipeline.
//! - **pipeline** (a [`Pipeline`] cancelled in [`CancelMode::Drain`] by the shutdown signal):
//!   `checksum` runs CPU-bound work on a [`BlockingPool`]; `store` writes every job to a
//!   simulated backend with [`hedged`] requests; the sink counts completed jobs.
//! - **progress** (a [`Shutdown`] task): subscribes to the stage events on the [`EventBus`] and
//!   draws a progress bar on stderr, at most five times a second.
//! - Ctrl-C (or `--jobs` done) triggers the shutdown: intake stops and hands its leased jobs
//!   back (returned), every job already inside the pipeline finishes, and the shutdown report,
//!   the pipeline report and a summary line are printed. Every accepted job is completed or
//!   returned; `lost` must be 0.
use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tidewater::event_bus::{EventBus, Overflow, RecvError, Start, SubscribeOptions, Topic};
use tidewater::fan_out::hedged;
use tidewater::pipeline::{CancelMode, ErrorPolicy, Failed, Pipeline, PipelineReport};
use tidewater::shutdown::{Shutdown, ShutdownSignal, Signals};
use tidewater::token_bucket::TokenBucket;
use tidewater::worker_pool::BlockingPool;
use tokio::sync::mpsc;

/// Jobs the intake leases from the queue at a time.
const LEASE: u64 = 16;
/// How long a backend call may take before a second (hedged) attempt starts.
const HEDGE_AFTER: Duration = Duration::from_millis(25);
/// How often a job is retried when both hedged attempts fail.
const STORE_TRIES: u32 = 3;
/// The least time between two progress lines.
const REDRAW: Duration = Duration::from_millis(200);

/// Command-line settings.
#[derive(Debug, Clone, Copy)]
struct Args {
    jobs: u64,
    rate: u32,
    workers: usize,
}

impl Args {
    fn parse() -> Result<Self, String> {
        let mut args = Args {
            jobs: 2000,
            rate: 200,
            workers: 4,
        };
        let mut it = std::env::args().skip(1);
        while let Some(flag) = it.next() {
            if flag == "--help" || flag == "-h" {
                return Err(String::new());
            }
            let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
            let bad = |e: std::num::ParseIntError| format!("{flag} {value}: {e}");
            match flag.as_str() {
                "--jobs" => args.jobs = value.parse().map_err(bad)?,
                "--rate" => args.rate = value.parse().map_err(bad)?,
                "--workers" => args.workers = value.parse().map_err(bad)?,
                _ => return Err(format!("unknown flag {flag}")),
            }
        }
        if args.rate == 0 || args.workers == 0 {
            return Err("--rate and --workers must be at least 1".into());
        }
        Ok(args)
    }
}

/// One unit of work.
#[derive(Debug, Clone, Copy)]
struct Job {
    id: u64,
    digest: u64,
}

/// A stage of the service, as named in events and the progress line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Accepted,
    Checksummed,
    Stored,
    Completed,
    Returned,
}

/// What the stages publish on the bus.
#[derive(Debug, Clone, Copy)]
struct StageEvent {
    stage: Stage,
    jobs: u64,
}

/// The counters the summary is computed from.
#[derive(Debug, Default)]
struct Tally {
    accepted: AtomicU64,
    completed: AtomicU64,
    returned: AtomicU64,
}

/// The stage-event topic, closed when the last publisher drops its handle, so the progress
/// task sees the end of the stream.
struct Events(Topic<StageEvent>);

impl Events {
    async fn publish(&self, stage: Stage, jobs: u64) {
        // A closed topic only means nobody draws progress any more.
        let _ = self.0.publish_async(StageEvent { stage, jobs }).await;
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        self.0.close();
    }
}

fn main() -> ExitCode {
    let args = match Args::parse() {
        Ok(args) => args,
        Err(problem) => {
            if !problem.is_empty() {
                eprintln!("ingest: {problem}");
            }
            eprintln!("usage: ingest [--jobs N] [--rate PER_SECOND] [--workers W]");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("ingest: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ingest: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let shutdown = Shutdown::builder()
        .grace(Duration::from_secs(20))
        .signals(Signals::default())
        .build()?;
    let bucket = TokenBucket::builder()
        .capacity((args.rate / 20).max(1))
        .refill(args.rate, Duration::from_secs(1))
        .build()?;
    let pool = BlockingPool::builder()
        .workers(args.workers)
        .queue_capacity(args.workers * 2)
        .name("checksum")
        .build()?;
    let bus = EventBus::new();
    let topic = bus.topic::<StageEvent>("ingest.stages")?;
    let progress = topic.subscribe_with(SubscribeOptions {
        capacity: 1024,
        overflow: Overflow::Block, // lossless: the counts on screen are exact
        start: Start::Now,
    })?;
    let events = Arc::new(Events(topic));
    let tally = Arc::new(Tally::default());
    let pipeline_report = Arc::new(Mutex::new(None::<PipelineReport>));

    shutdown.spawn("progress", move |_signal| {
        draw_progress(progress, args.jobs)
    })?;
    let ingest = shutdown.scope("ingest")?;
    let (jobs_tx, jobs_rx) = mpsc::channel::<Job>(64);
    let (finished_tx, finished_rx) = tokio::sync::oneshot::channel::<()>();
    {
        let (events, tally) = (Arc::clone(&events), Arc::clone(&tally));
        ingest.spawn("intake", move |signal| {
            intake(args.jobs, bucket, jobs_tx, signal, events, tally)
        })?;
    }
    {
        let (events, tally, pool) = (Arc::clone(&events), Arc::clone(&tally), pool.clone());
        let slot = Arc::clone(&pipeline_report);
        ingest.spawn("pipeline", move |signal| async move {
            let result = process(jobs_rx, signal, pool, args.workers, events, tally).await;
            let report = match result {
                Ok(report) => report,
                Err(e) => e.report().clone(),
            };
            if let Ok(mut slot) = slot.lock() {
                *slot = Some(report);
            }
            let _ = finished_tx.send(());
            Ok::<_, String>(())
        })?;
    }
    drop(events);
    println!(
        "ingest: {} jobs at {}/s on {} workers (Ctrl-C drains and stops)",
        args.jobs, args.rate, args.workers
    );

    // `--jobs` done ends the run as "main finished"; Ctrl-C ends it as a signal.
    let shutdown_report = shutdown
        .run_until_shutdown(async move {
            let _ = finished_rx.await;
        })
        .await;
    let pool_report = pool.shutdown_async(Duration::from_secs(5)).await;

    println!("{shutdown_report}");
    if let Some(report) = pipeline_report.lock().ok().and_then(|mut r| r.take()) {
        println!("{report}");
    }
    println!(
        "pool: completed={} panicked={} cancelled={} rejected={}",
        pool_report.completed, pool_report.panicked, pool_report.cancelled, pool_report.rejected
    );
    let accepted = tally.accepted.load(Ordering::Acquire);
    let completed = tally.completed.load(Ordering::Acquire);
    let returned = tally.returned.load(Ordering::Acquire);
    let lost = accepted.saturating_sub(completed + returned);
    println!("summary: accepted={accepted} completed={completed} returned={returned} lost={lost}");
    Ok(if lost == 0 && completed + returned == accepted {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Leases jobs from the synthetic queue, paces them through the token bucket and sends them
/// into the pipeline. On the shutdown signal (or when the pipeline stops taking jobs), the
/// leased jobs not yet sent are handed back to the queue and counted as returned.
async fn intake(
    jobs: u64,
    bucket: TokenBucket,
    tx: mpsc::Sender<Job>,
    signal: ShutdownSignal,
    events: Arc<Events>,
    tally: Arc<Tally>,
) {
    let mut next = 0;
    let mut leased: Vec<Job> = Vec::new();
    'run: while next < jobs || !leased.is_empty() {
        if leased.is_empty() {
            let end = (next + LEASE).min(jobs);
            leased.extend((next..end).rev().map(|id| Job { id, digest: 0 }));
            tally.accepted.fetch_add(end - next, Ordering::AcqRel);
            events.publish(Stage::Accepted, end - next).await;
            next = end;
        }
        tokio::select! {
            biased;
            () = signal.cancelled() => break 'run,
            paced = bucket.acquire(1) => {
                // `acquire(1)` fails only for more than the capacity, which is at least 1.
                if paced.is_err() {
                    break 'run;
                }
            }
        }
        let Some(job) = leased.pop() else { continue };
        if let Err(refused) = tx.send(job).await {
            // The pipeline is draining and no longer takes jobs: hand this one back too.
            leased.push(refused.0);
            break 'run;
        }
    }
    let handed_back = leased.len() as u64;
    if handed_back > 0 {
        tally.returned.fetch_add(handed_back, Ordering::AcqRel);
        events.publish(Stage::Returned, handed_back).await;
    }
}

/// The pipeline: checksum on the blocking pool, store with hedged backend calls, count.
async fn process(
    rx: mpsc::Receiver<Job>,
    signal: ShutdownSignal,
    pool: BlockingPool,
    workers: usize,
    events: Arc<Events>,
    tally: Arc<Tally>,
) -> Result<PipelineReport, tidewater::pipeline::PipelineError> {
    // Jobs a stage could not finish are handed back through this channel, never dropped.
    let (dead_tx, mut dead_rx) = mpsc::channel::<Failed<Job, String>>(256);
    let dead_tally = Arc::clone(&tally);
    let dead_events = Arc::clone(&events);
    let dead_letters = tokio::spawn(async move {
        while let Some(failed) = dead_rx.recv().await {
            eprintln!(
                "\ningest: job {} handed back by {}: {}",
                failed.item.id, failed.stage, failed.error
            );
            dead_tally.returned.fetch_add(1, Ordering::AcqRel);
            dead_events.publish(Stage::Returned, 1).await;
        }
    });

    let (checksum_events, store_events, sink_events) =
        (Arc::clone(&events), Arc::clone(&events), events);
    let result = Pipeline::from_receiver(rx)
        .cancel_on(signal.token(), CancelMode::Drain)
        .name("intake")
        .buffer(32)
        .try_map(
            workers,
            ErrorPolicy::DeadLetter(dead_tx.clone()),
            move |job: Job| {
                let pool = pool.clone();
                let events = Arc::clone(&checksum_events);
                async move {
                    let handle = pool
                        .execute_async(move || checksum(job))
                        .await
                        .map_err(|e| e.to_string())?;
                    let job = handle.await.map_err(|e| e.to_string())?;
                    events.publish(Stage::Checksummed, 1).await;
                    Ok::<_, String>(job)
                }
            },
        )
        .name("checksum")
        .buffer(32)
        .try_map(64, ErrorPolicy::DeadLetter(dead_tx), move |job: Job| {
            let events = Arc::clone(&store_events);
            async move {
                store(job).await?;
                events.publish(Stage::Stored, 1).await;
                Ok::<_, String>(job)
            }
        })
        .name("store")
        .buffer(32)
        .for_each(move |_job| {
            let (events, tally) = (Arc::clone(&sink_events), Arc::clone(&tally));
            async move {
                tally.completed.fetch_add(1, Ordering::AcqRel);
                events.publish(Stage::Completed, 1).await;
            }
        })
        .await;
    // Every dead-letter sender is gone with the pipeline: the collector ends.
    let _ = dead_letters.await;
    result
}

/// The CPU-bound part of a job.
fn checksum(mut job: Job) -> Job {
    let mut x = job.id;
    for _ in 0..20_000 {
        x = mix(x);
    }
    job.digest = x;
    job
}

/// Stores a job on a simulated backend: usually a few milliseconds, sometimes very slow,
/// rarely failing. A hedged request covers the slow calls; a retry covers the failures.
async fn store(job: Job) -> Result<u64, String> {
    let mut last = String::new();
    for round in 0..STORE_TRIES {
        let mut attempt = 0;
        let answer = hedged(HEDGE_AFTER, || {
            attempt += 1;
            backend_call(job, u64::from(round * 2 + attempt))
        })
        .await;
        match answer {
            Ok(ack) => return Ok(ack),
            Err(both) => last = both.to_string(),
        }
    }
    Err(last)
}

async fn backend_call(job: Job, attempt: u64) -> Result<u64, String> {
    let roll = mix(job.digest ^ attempt.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let millis = if roll % 100 < 5 { 300 } else { 1 + roll % 6 };
    tokio::time::sleep(Duration::from_millis(millis)).await;
    if roll % 1000 < 20 {
        Err(format!(
            "backend refused job {} (attempt {attempt})",
            job.id
        ))
    } else {
        Ok(roll)
    }
}

/// splitmix64's finaliser: a cheap, well-mixed pseudo-random step.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Counts the stage events and draws a progress line on stderr until the topic closes.
async fn draw_progress(mut events: tidewater::event_bus::Subscriber<StageEvent>, jobs: u64) {
    let started = Instant::now();
    let mut counts = [0u64; 5];
    let mut drawn = Instant::now();
    loop {
        match events.recv().await {
            Ok(event) => {
                counts[event.stage as usize] += event.jobs;
                if drawn.elapsed() >= REDRAW {
                    drawn = Instant::now();
                    draw(&counts, jobs, started.elapsed());
                }
            }
            Err(RecvError::Lagged { .. }) => {}
            Err(RecvError::Closed) => break,
        }
    }
    draw(&counts, jobs, started.elapsed());
    eprintln!();
}

fn draw(counts: &[u64; 5], jobs: u64, elapsed: Duration) {
    const WIDTH: u64 = 30;
    let [accepted, checksummed, stored, completed, returned] = *counts;
    let filled = (completed * WIDTH)
        .checked_div(jobs)
        .unwrap_or(WIDTH)
        .min(WIDTH);
    let bar: String = (0..WIDTH)
        .map(|i| if i < filled { '#' } else { '.' })
        .collect();
    #[allow(clippy::cast_precision_loss)] // a display value
    let rate = completed as f64 / elapsed.as_secs_f64().max(1e-3);
    let mut err = std::io::stderr().lock();
    let _ = write!(
        err,
        "\r[{bar}] {completed}/{jobs} {rate:.0}/s  accepted {accepted}  checksum {checksummed}  store {stored}  returned {returned} "
    );
    let _ = err.flush();
}
