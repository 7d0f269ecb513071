//! Blocking waits for sync callers: a waker that unparks the waiting thread.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::Instant;

struct Unparker {
    thread: Thread,
    notified: AtomicBool,
}

impl Wake for Unparker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.notified.store(true, Ordering::Release);
        self.thread.unpark();
    }
}

/// Drives futures to completion on the current thread, parking it while they are pending.
/// Reusable, so a blocking worker allocates its waker once.
pub(crate) struct Parker {
    unparker: Arc<Unparker>,
    waker: Waker,
}

impl Parker {
    pub(crate) fn new() -> Self {
        let unparker = Arc::new(Unparker {
            thread: thread::current(),
            notified: AtomicBool::new(false),
        });
        let waker = Waker::from(unparker.clone());
        Self { unparker, waker }
    }

    pub(crate) fn block_on<F: Future>(&self, future: F) -> F::Output {
        let mut future = pin!(future);
        let mut cx = Context::from_waker(&self.waker);
        loop {
            if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                return output;
            }
            while !self.unparker.notified.swap(false, Ordering::Acquire) {
                thread::park();
            }
        }
    }

    /// `None` if `deadline` passed first (`None` deadline: wait forever).
    pub(crate) fn block_on_until<F: Future>(
        &self,
        future: F,
        deadline: Option<Instant>,
    ) -> Option<F::Output> {
        let mut future = pin!(future);
        let mut cx = Context::from_waker(&self.waker);
        loop {
            if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                return Some(output);
            }
            while !self.unparker.notified.swap(false, Ordering::Acquire) {
                match deadline {
                    None => thread::park(),
                    Some(deadline) => {
                        let now = Instant::now();
                        if now >= deadline {
                            return None;
                        }
                        thread::park_timeout(deadline - now);
                    }
                }
            }
        }
    }
}
