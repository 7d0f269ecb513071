//! tidewater-worker-pool against the peers users pick today: tokio `JoinSet` + `Semaphore(64)`
//! and plain `tokio::spawn` (async jobs), `threadpool` and `rayon::ThreadPool::spawn` (blocking
//! closures). Same workload for each implementation in a group: 100,000 no-op jobs from
//! submission to completion, on 2 worker threads.
//!
//! Async jobs: every implementation collects results as they come in while it submits
//! (`JoinSet::try_join_next`; for handles, the finished ones at the front of a queue) and the
//! rest at the end, so none keeps 100,000 finished jobs alive at once. Keeping them all in a
//! `Vec` (as this file once did for the handle-based implementations, but not for `JoinSet`)
//! mostly measured the allocator: 100,000 live allocations freed in a burst, and a 1.6 MB
//! buffer per iteration that makes glibc consolidate its free lists.

use std::collections::VecDeque;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput};
use tidewater_worker_pool::{BlockingPool, JobHandle, WorkerPool};
use tokio::runtime::{Builder, Runtime};
use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};

const JOBS: usize = 100_000;
const PERMITS: usize = 64;
const THREADS: usize = 2;
const QUEUE: usize = 1024;

fn runtime() -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(THREADS)
        .enable_all()
        .build()
        .expect("runtime")
}

fn group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(JOBS as u64));
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(300));
    g.measurement_time(Duration::from_secs(2));
    g
}

/// Splits `JOBS` over `submitters`.
fn share(submitters: usize, index: usize) -> usize {
    JOBS / submitters + usize::from(index < JOBS % submitters)
}

/// Handles of submitted jobs, oldest first; finished ones are collected from the front.
const REAP_CAPACITY: usize = 2 * QUEUE;

async fn tidewater_async(pool: &WorkerPool, jobs: usize) {
    let mut handles = VecDeque::with_capacity(REAP_CAPACITY);
    for i in 0..jobs {
        handles.push_back(
            pool.submit(async move { black_box(i) })
                .await
                .expect("open"),
        );
        while handles.front().is_some_and(JobHandle::is_finished) {
            if let Some(handle) = handles.pop_front() {
                black_box(handle.await.expect("no panic"));
            }
        }
    }
    for handle in handles {
        black_box(handle.await.expect("no panic"));
    }
}

async fn joinset_semaphore(jobs: usize) {
    let semaphore = Arc::new(Semaphore::new(PERMITS));
    let mut set = JoinSet::new();
    for i in 0..jobs {
        let permit = semaphore.clone().acquire_owned().await.expect("open");
        set.spawn(async move {
            drop(permit);
            black_box(i)
        });
        while let Some(done) = set.try_join_next() {
            black_box(done.expect("no panic"));
        }
    }
    while let Some(done) = set.join_next().await {
        black_box(done.expect("no panic"));
    }
}

async fn tokio_spawn(jobs: usize) {
    let mut handles = VecDeque::with_capacity(REAP_CAPACITY);
    for i in 0..jobs {
        handles.push_back(tokio::spawn(async move { black_box(i) }));
        while handles.front().is_some_and(JoinHandle::is_finished) {
            if let Some(handle) = handles.pop_front() {
                black_box(handle.await.expect("no panic"));
            }
        }
    }
    for handle in handles {
        black_box(handle.await.expect("no panic"));
    }
}

/// Runs `body(share)` on `submitters` tasks at once and waits for all of them.
fn async_submitters<F, Fut>(rt: &Runtime, submitters: usize, body: F)
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    rt.block_on(async {
        if submitters == 1 {
            body(JOBS).await;
            return;
        }
        let tasks: Vec<_> = (0..submitters)
            .map(|i| tokio::spawn(body(share(submitters, i))))
            .collect();
        for task in tasks {
            task.await.expect("submitter");
        }
    });
}

fn async_jobs(c: &mut Criterion, submitters: usize) {
    let name = format!("worker_pool/async_noop_100k_submitters_{submitters}");
    let mut g = group(c, &name);
    let rt = runtime();
    let pool = rt.block_on(async {
        WorkerPool::builder()
            .workers(THREADS)
            .queue_capacity(QUEUE)
            .build()
            .expect("pool")
    });
    g.bench_function("tidewater", |b| {
        b.iter(|| {
            async_submitters(&rt, submitters, |jobs| {
                let pool = pool.clone();
                async move { tidewater_async(&pool, jobs).await }
            });
        });
    });
    g.bench_function("tokio_joinset_semaphore64", |b| {
        b.iter(|| async_submitters(&rt, submitters, joinset_semaphore));
    });
    g.bench_function("tokio_spawn", |b| {
        b.iter(|| async_submitters(&rt, submitters, tokio_spawn));
    });
    g.finish();
}

/// Waits until `done` reaches `JOBS`, then resets it.
fn wait_all(done: &AtomicUsize) {
    while done.load(Ordering::Acquire) < JOBS {
        std::thread::yield_now();
    }
    done.store(0, Ordering::Relaxed);
}

/// Runs `submit(share)` on `submitters` threads at once (the bench thread is one of them).
fn blocking_submitters(submitters: usize, submit: &(dyn Fn(usize) + Sync)) {
    std::thread::scope(|s| {
        for i in 1..submitters {
            s.spawn(move || submit(share(submitters, i)));
        }
        submit(share(submitters, 0));
    });
}

fn blocking_jobs(c: &mut Criterion, submitters: usize) {
    let name = format!("worker_pool/blocking_noop_100k_submitters_{submitters}");
    let mut g = group(c, &name);
    let done = Arc::new(AtomicUsize::new(0));

    let pool = BlockingPool::builder()
        .workers(THREADS)
        .queue_capacity(QUEUE)
        .build()
        .expect("pool");
    g.bench_function("tidewater", |b| {
        b.iter(|| {
            blocking_submitters(submitters, &|jobs| {
                for _ in 0..jobs {
                    let done = done.clone();
                    pool.execute(move || {
                        done.fetch_add(1, Ordering::Release);
                    })
                    .expect("open")
                    .detach();
                }
            });
            wait_all(&done);
        });
    });

    let threadpool = threadpool::ThreadPool::new(THREADS);
    g.bench_function("threadpool", |b| {
        b.iter(|| {
            blocking_submitters(submitters, &|jobs| {
                for _ in 0..jobs {
                    let done = done.clone();
                    threadpool.execute(move || {
                        done.fetch_add(1, Ordering::Release);
                    });
                }
            });
            wait_all(&done);
        });
    });

    let rayon = rayon::ThreadPoolBuilder::new()
        .num_threads(THREADS)
        .build()
        .expect("rayon");
    g.bench_function("rayon_spawn", |b| {
        b.iter(|| {
            blocking_submitters(submitters, &|jobs| {
                for _ in 0..jobs {
                    let done = done.clone();
                    rayon.spawn(move || {
                        done.fetch_add(1, Ordering::Release);
                    });
                }
            });
            wait_all(&done);
        });
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    async_jobs(c, 1);
    async_jobs(c, 2);
    blocking_jobs(c, 1);
    blocking_jobs(c, 2);
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c);
    c.final_summary();
}
