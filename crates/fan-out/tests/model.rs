//! proptest: random durations and failures on paused tokio time, checked against a
//! sequential reference model of the schedule (items start in input order whenever one of
//! the `limit` slots is free; item `i` ends at `start + duration`).

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use proptest::prelude::*;
use tidewater_fan_out::{ErrorPolicy, FanOut, FanOutError, ItemError, Stop};

#[derive(Debug, Clone, Copy)]
struct Job {
    ms: u64,
    fails: bool,
}

/// The reference schedule: (start, end) of every item.
fn schedule(jobs: &[Job], limit: usize) -> Vec<(u64, u64)> {
    let mut ends = BinaryHeap::new();
    let mut last_start = 0;
    jobs.iter()
        .map(|job| {
            if ends.len() == limit {
                let Reverse(free_at) = ends.pop().unwrap();
                last_start = last_start.max(free_at);
            }
            let end = last_start + job.ms;
            ends.push(Reverse(end));
            (last_start, end)
        })
        .collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
}

type Out = Result<Vec<usize>, FanOutError<usize, usize>>;

fn run(jobs: &[Job], limit: usize, ordered: bool, policy: ErrorPolicy) -> (Out, usize) {
    let running = Arc::new(AtomicUsize::new(0));
    let max = Arc::new(AtomicUsize::new(0));
    let mut fan = FanOut::new(NonZeroUsize::new(limit).unwrap()).error_policy(policy);
    if !ordered {
        fan = fan.unordered();
    }
    let out = runtime().block_on(fan.run(jobs.iter().copied().enumerate(), |(i, job)| {
        let (running, max) = (running.clone(), max.clone());
        async move {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            max.fetch_max(now, Ordering::SeqCst);
            if job.ms > 0 {
                tokio::time::sleep(Duration::from_millis(job.ms)).await;
            }
            running.fetch_sub(1, Ordering::SeqCst);
            if job.fails { Err(i) } else { Ok(i) }
        }
    }));
    (out, max.load(Ordering::SeqCst))
}

fn jobs() -> impl Strategy<Value = Vec<Job>> {
    prop::collection::vec(
        (0u64..12, prop::bool::weighted(0.2)).prop_map(|(ms, fails)| Job { ms, fails }),
        0..30,
    )
}

fn failed_indices(jobs: &[Job]) -> Vec<usize> {
    (0..jobs.len()).filter(|&i| jobs[i].fails).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn collect_all_and_skip_match_the_sequential_reference(
        jobs in jobs(), limit in 1usize..6, ordered: bool,
    ) {
        let sched = schedule(&jobs, limit);
        let successes: Vec<usize> = (0..jobs.len()).filter(|&i| !jobs[i].fails).collect();
        let (out, max) = run(&jobs, limit, ordered, ErrorPolicy::CollectAll);
        prop_assert!(max <= limit);
        match out {
            Ok(values) => {
                prop_assert!(failed_indices(&jobs).is_empty());
                let mut sorted = values.clone();
                sorted.sort_unstable();
                prop_assert_eq!(&sorted, &successes);
                if ordered {
                    prop_assert_eq!(&values, &successes);
                } else {
                    // Completion order: end times never decrease.
                    prop_assert!(values.windows(2).all(|w| sched[w[0]].1 <= sched[w[1]].1));
                }
            }
            Err(err) => {
                prop_assert_eq!(err.stop, None);
                let failed: Vec<usize> = err.failures.iter().map(|(i, _)| *i).collect();
                prop_assert_eq!(failed, failed_indices(&jobs));
                prop_assert!(err.failures.iter().all(|(i, e)| *e == ItemError::Failed(*i)));
                let done: Vec<usize> = err.completed.iter().map(|(i, _)| *i).collect();
                prop_assert_eq!(done, successes.clone());
                prop_assert!(err.unfinished.is_empty());
                prop_assert_eq!(err.pulled, jobs.len());
            }
        }
        let (skipped, _) = run(&jobs, limit, true, ErrorPolicy::Skip);
        prop_assert_eq!(skipped.unwrap(), successes);
    }

    #[test]
    fn fail_fast_matches_the_reference_schedule(
        jobs in jobs(), limit in 1usize..6, ordered: bool,
    ) {
        let sched = schedule(&jobs, limit);
        let (out, max) = run(&jobs, limit, ordered, ErrorPolicy::FailFast);
        prop_assert!(max <= limit);
        let Some(stop_at) = failed_indices(&jobs).iter().map(|&i| sched[i].1).min() else {
            prop_assert_eq!(out.unwrap().len(), jobs.len());
            return Ok(());
        };
        let err = out.unwrap_err();
        let Some(Stop::FailFast { index }) = err.stop else {
            return Err(TestCaseError::fail("expected a fail-fast stop"));
        };
        prop_assert!(jobs[index].fails);
        prop_assert_eq!(sched[index].1, stop_at);
        // Each pulled input is in exactly one list.
        let mut all = BTreeSet::new();
        for i in err.completed.iter().map(|(i, _)| *i)
            .chain(err.failures.iter().map(|(i, _)| *i))
            .chain(err.unfinished.iter().copied())
        {
            prop_assert!(all.insert(i), "index {} reported twice", i);
        }
        prop_assert_eq!(all, (0..err.pulled).collect::<BTreeSet<_>>());
        for (i, &(start, end)) in sched.iter().enumerate() {
            if end < stop_at && !jobs[i].fails {
                prop_assert!(err.completed.iter().any(|(j, _)| *j == i), "item {} lost", i);
            }
            if end > stop_at {
                prop_assert!(!err.completed.iter().any(|(j, _)| *j == i));
                prop_assert!(!err.failures.iter().any(|(j, _)| *j == i));
                if start < stop_at {
                    prop_assert!(err.unfinished.contains(&i), "running item {} not named", i);
                }
            }
        }
    }

    #[test]
    fn ordered_stream_yields_every_index_in_order(
        jobs in jobs(), limit in 1usize..6,
    ) {
        let fan = FanOut::new(NonZeroUsize::new(limit).unwrap())
            .error_policy(ErrorPolicy::CollectAll);
        let events: Vec<(usize, Result<usize, ItemError<usize>>)> = runtime().block_on(
            fan.stream(jobs.iter().copied().enumerate(), |(i, job)| async move {
                if job.ms > 0 {
                    tokio::time::sleep(Duration::from_millis(job.ms)).await;
                }
                if job.fails { Err(i) } else { Ok(i) }
            })
            .collect(),
        );
        prop_assert_eq!(events.len(), jobs.len());
        for (pos, (index, outcome)) in events.into_iter().enumerate() {
            prop_assert_eq!(pos, index);
            let expected = if jobs[index].fails { Err(ItemError::Failed(index)) } else { Ok(index) };
            prop_assert_eq!(outcome, expected);
        }
    }
}
