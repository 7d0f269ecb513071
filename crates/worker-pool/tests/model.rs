//! proptest: random operation sequences against simple counting models.
#![cfg(not(tidewater_loom))]

use std::collections::VecDeque;
use std::time::Duration;

use proptest::prelude::*;
use tidewater_worker_pool::admission::{Core, Refusal};
use tidewater_worker_pool::{JobError, TrySubmitError, WorkerPool};

#[derive(Debug, Clone)]
enum CoreOp {
    Submit,
    Pop,
    ReserveAndDrop,
    Close,
}

fn core_op() -> impl Strategy<Value = CoreOp> {
    prop_oneof![
        4 => Just(CoreOp::Submit),
        3 => Just(CoreOp::Pop),
        1 => Just(CoreOp::ReserveAndDrop),
        1 => Just(CoreOp::Close),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The admission core behaves like a bounded FIFO `VecDeque` with a closed flag, wherever
    /// its counters start: fresh, or a few slots before they wrap around (a long-running
    /// service gets there; on a 32-bit target after 2^31 jobs).
    #[test]
    fn core_matches_a_bounded_fifo(
        capacity in 1usize..5,
        history in prop_oneof![Just(0usize), (usize::MAX / 2 - 70)..=(usize::MAX / 2)],
        ops in prop::collection::vec(core_op(), 1..60),
    ) {
        let core = Core::<u32>::with_history(capacity, 1, history);
        let mut model: VecDeque<u32> = VecDeque::new();
        let mut closed = false;
        let mut next = 0;
        for op in ops {
            match op {
                CoreOp::Submit => {
                    next += 1;
                    let expected = if closed {
                        Err(Refusal::Closed)
                    } else if model.len() == capacity {
                        Err(Refusal::Full)
                    } else {
                        Ok(())
                    };
                    // Reserve first: a slot granted beyond capacity then fails here
                    // instead of spinning forever on the full queue inside `try_submit`.
                    let got = match core.try_reserve() {
                        Ok(permit) => {
                            prop_assert_eq!(Ok(()), expected);
                            permit.push(next);
                            Ok(())
                        }
                        Err(_) => core.try_submit(next).map_err(|(refusal, job)| {
                            assert_eq!(job, next, "a refused job comes back");
                            refusal
                        }),
                    };
                    prop_assert_eq!(got, expected);
                    if got.is_ok() {
                        model.push_back(next);
                    }
                }
                CoreOp::Pop => prop_assert_eq!(core.try_pop(), model.pop_front()),
                CoreOp::ReserveAndDrop => {
                    let permit = core.try_reserve();
                    prop_assert_eq!(permit.is_ok(), !closed && model.len() < capacity);
                }
                CoreOp::Close => {
                    prop_assert_eq!(core.close(), !closed);
                    closed = true;
                }
            }
            prop_assert_eq!(core.reserved(), model.len());
            prop_assert!(core.reserved() <= capacity);
            prop_assert_eq!(core.is_closed(), closed);
            prop_assert_eq!(core.is_finished(), closed && model.is_empty());
        }
    }
}

#[derive(Debug, Clone)]
enum PoolOp {
    /// `try_submit` a job that returns, panics, or waits for a later `Yield`.
    Submit(JobKind),
    /// Abort the handle with this index (mod the number of handles).
    Abort(usize),
    /// Let the workers run.
    Yield,
}

#[derive(Debug, Clone, Copy)]
enum JobKind {
    Value,
    Panic,
    Sleep,
}

fn pool_op() -> impl Strategy<Value = PoolOp> {
    prop_oneof![
        3 => Just(PoolOp::Submit(JobKind::Value)),
        1 => Just(PoolOp::Submit(JobKind::Panic)),
        1 => Just(PoolOp::Submit(JobKind::Sleep)),
        1 => (0usize..64).prop_map(PoolOp::Abort),
        2 => Just(PoolOp::Yield),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// On a single-threaded runtime workers only run when the test yields, so a counting model
    /// predicts exactly when `try_submit` is refused; at the end the report must agree with
    /// the handles one by one, and every accepted job is accounted for.
    #[test]
    fn pool_report_matches_a_counting_model(
        workers in 1usize..4,
        capacity in 1usize..6,
        grace_ms in prop_oneof![Just(0u64), Just(5), Just(10_000)],
        ops in prop::collection::vec(pool_op(), 1..40),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(async move {
            let pool = WorkerPool::builder().workers(workers).queue_capacity(capacity).build().unwrap();
            let mut handles = Vec::new();
            let mut aborted_unstarted = Vec::new();
            let mut rejected = 0u64;
            // Jobs admitted since the last yield: no worker has touched them.
            let mut fresh = 0usize;
            for op in ops {
                match op {
                    PoolOp::Submit(kind) => {
                        let before = pool.metrics().queued;
                        let job = async move {
                            match kind {
                                JobKind::Value => 1u8,
                                JobKind::Panic => panic!("model panic"),
                                JobKind::Sleep => {
                                    tokio::time::sleep(Duration::from_millis(20)).await;
                                    2
                                }
                            }
                        };
                        match pool.try_submit(job) {
                            Ok(handle) => {
                                assert!(before < capacity);
                                handles.push(handle);
                                fresh += 1;
                            }
                            Err(TrySubmitError::Full(_)) => {
                                assert_eq!(before, capacity, "refused only when full");
                                rejected += 1;
                            }
                            Err(TrySubmitError::Closed(_)) => panic!("never closed here"),
                        }
                        assert!(pool.metrics().queued <= capacity);
                    }
                    PoolOp::Abort(i) if !handles.is_empty() => {
                        let i = i % handles.len();
                        handles[i].abort();
                        if i + fresh >= handles.len() {
                            aborted_unstarted.push(i);
                        }
                    }
                    PoolOp::Abort(_) => {}
                    PoolOp::Yield => {
                        tokio::task::yield_now().await;
                        fresh = 0;
                    }
                }
                assert!(pool.metrics().running <= workers);
            }
            let report = pool.shutdown(Duration::from_millis(grace_ms)).await;
            let mut tally = [0u64; 3];
            let mut results = Vec::new();
            for handle in handles {
                let result = handle.await;
                match &result {
                    Ok(_) => tally[0] += 1,
                    Err(JobError::Panicked(_)) => tally[1] += 1,
                    Err(JobError::Cancelled) => tally[2] += 1,
                }
                results.push(result);
            }
            for i in aborted_unstarted {
                assert_eq!(results[i], Err(JobError::Cancelled), "aborted before any worker saw it");
            }
            assert_eq!(report.completed, tally[0]);
            assert_eq!(report.panicked, tally[1]);
            assert_eq!(report.cancelled, tally[2]);
            assert_eq!(report.rejected, rejected);
            assert_eq!(report.abandoned, 0);
            if grace_ms == 10_000 {
                assert!(report.drained_in_time);
            }
        });
    }
}
