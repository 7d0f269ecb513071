//! The admission / close / drain state machine shared by both pools.
//!
//! It is tokio-free (wakers only), so loom can explore it (`tests/loom.rs`). The pools wrap it:
//! the async pool parks workers as tasks, the blocking pool as threads.
//!
//! Two counters track the slots: `admitted` (slots ever reserved, with the closed bit in the
//! same word) is written only by submitters, `released` (slots ever given back: a job taken,
//! or a reservation dropped unused) only by workers; the *reserved* slots (jobs admitted but
//! not yet taken) are the difference. Submitters keep `released` as last seen on their own
//! cache line and read the workers' line only when that stale value says "full"; workers keep
//! a copy of the closed bit on theirs and read `admitted` only once the core is closed. So a
//! steady stream does not bounce one line between submitter and worker on every job. Stale
//! values only err on the safe side: `released` never goes down, so a submitter's old copy
//! can only make the queue look fuller.
//!
//! A submitter reserves a slot (CAS on `admitted`, fails when closed or full), then pushes into
//! the bounded queue, which therefore never overflows. A worker pops, then releases the slot.
//! Because reservation and the closed bit share one word, a job is admitted either before
//! `close` (and then a worker takes it before exiting: workers exit only when the pool is
//! closed *and* no slot is reserved) or not at all (and is handed back). The release of the
//! last slot of a closed core wakes the idle workers so they exit: fences in that check, in
//! `close` and in a worker going to sleep make sure one of them sees the other (see
//! `Core::release`).
//!
//! Two "check, then sleep" races need care, and both use the same Dekker pattern (each side
//! publishes, `fence(SeqCst)`, then reads the other side's flag):
//! - an idle worker publishes `idle_count` then re-tries the queue; a submitter pushes then reads
//!   `idle_count`;
//! - a waiting submitter publishes `space_count` then re-tries the reservation; a worker
//!   releases a slot then reads `space_count`, and hands the freed slot straight to the oldest
//!   waiter (FIFO among waiters; `try_submit` can still take a slot nobody waits for).
//!
//! A wake-up goes to one idle worker, and a submit skips it while a worker holds the search
//! token (it polls the queue, or runs jobs that each finish quickly, and checked in lately), so
//! a worker that gives the token up with jobs queued, or whose fresh idle entry a submit took
//! while it was about to take a job anyway, passes the wake-up on when more jobs wait
//! (`Core::pass_on`): otherwise two submits could both miss a sleeping worker (skipped, or
//! both spent on one re-registering worker) and leave a job queued next to it.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crossbeam_utils::CachePadded;

use crate::sync::{
    Arc, AtomicBool, AtomicU8, AtomicU64, AtomicUsize, BoundedQueue, Mutex, Ordering, fence, lock,
};

/// The closed bit of `admitted`.
const CLOSED: usize = 1;
/// One slot in either counter. Both count in steps of two, so that they wrap at the same
/// modulus (`admitted` keeps its lowest bit for `CLOSED`).
const ONE_SLOT: usize = 2;

const WAITING: u8 = 0;
const GRANTED: u8 = 1;
const REFUSED: u8 = 2;

/// Why the core refused a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Every slot is reserved.
    Full,
    /// The core was closed.
    Closed,
}

/// The bounded admission queue with close and drain.
pub struct Core<J> {
    queue: BoundedQueue<J>,
    capacity: usize,
    /// The submitters' line.
    admission: CachePadded<Admission>,
    /// The workers' line.
    release: CachePadded<Release>,
    aborting: AtomicBool,
    live_workers: AtomicUsize,
    /// Mirrors `waiters.idle.len()`, readable without the lock.
    idle_count: AtomicUsize,
    /// The search token: 0 when free; else the stamp (never 0) at which its holder last
    /// checked in. See [`Core::search`].
    searcher: AtomicU64,
    /// Ticks after which a token holder that has not checked in no longer stops submits from
    /// waking a sleeping worker: it may be stuck in a long poll.
    check_in_limit: u64,
    /// Mirrors `waiters.space.len()`, readable without the lock.
    space_count: AtomicUsize,
    waiters: Mutex<Waiters>,
}

/// Written by submitters on every reservation.
struct Admission {
    /// `(slots ever reserved << 1) | CLOSED`.
    admitted: AtomicUsize,
    /// `Release::released` as some submitter last read it (never above it).
    released_seen: AtomicUsize,
}

/// Written by workers on every job they take.
struct Release {
    /// Slots ever given back, times [`ONE_SLOT`].
    released: AtomicUsize,
    /// A copy of the closed bit where releases read it, so they read `admitted` only once
    /// the core is closed.
    closed: AtomicBool,
}

struct Waiters {
    idle: Vec<(usize, Waker)>,
    space: VecDeque<(Arc<AtomicU8>, Waker)>,
    /// Waiters granted a slot that have not claimed it yet (their future has not seen the
    /// grant): [`Core::abort`] takes those slots back.
    granted: Vec<Arc<AtomicU8>>,
    drained: Vec<Waker>,
}

impl<J> fmt::Debug for Core<J> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Core")
            .field("capacity", &self.capacity)
            .field("reserved", &self.reserved())
            .field("closed", &self.is_closed())
            .field("live_workers", &self.live_workers.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl<J> Core<J> {
    /// A core with `capacity` slots served by `workers` workers (both at least 1; the pools'
    /// builders check this).
    #[must_use]
    pub fn new(capacity: usize, workers: usize) -> Self {
        Self::with_history(capacity, workers, 0)
    }

    /// [`new`](Self::new), with both counters as if `slots` slots had already been reserved
    /// and given back (modulo their range). Both counters wrap after `usize::MAX / 2 + 1`
    /// slots (2^31 jobs on a 32-bit target: minutes of a busy service), so tests start near
    /// the wrap with this to show that admission, close and drain do not care where it is.
    #[must_use]
    pub fn with_history(capacity: usize, workers: usize, slots: usize) -> Self {
        let start = slots.wrapping_mul(ONE_SLOT);
        Self {
            queue: BoundedQueue::new(capacity.max(1)),
            capacity: capacity.max(1),
            admission: CachePadded::new(Admission {
                admitted: AtomicUsize::new(start),
                released_seen: AtomicUsize::new(start),
            }),
            release: CachePadded::new(Release {
                released: AtomicUsize::new(start),
                closed: AtomicBool::new(false),
            }),
            aborting: AtomicBool::new(false),
            live_workers: AtomicUsize::new(workers),
            idle_count: AtomicUsize::new(0),
            searcher: AtomicU64::new(0),
            check_in_limit: u64::MAX,
            space_count: AtomicUsize::new(0),
            waiters: Mutex::new(Waiters {
                idle: Vec::with_capacity(workers),
                space: VecDeque::new(),
                granted: Vec::new(),
                drained: Vec::new(),
            }),
        }
    }

    /// Sets how many ticks (of the clock whose stamps are passed to [`search`](Self::search),
    /// [`Search::check_in`], [`Permit::push_at`] and [`try_submit_at`](Self::try_submit_at))
    /// a token holder may go without checking in before submits wake a sleeping worker in
    /// spite of it. Default: never.
    #[must_use]
    pub fn with_check_in_limit(mut self, ticks: u64) -> Self {
        self.check_in_limit = ticks;
        self
    }

    /// See [`with_check_in_limit`](Self::with_check_in_limit).
    #[must_use]
    pub fn check_in_limit(&self) -> u64 {
        self.check_in_limit
    }

    /// The number of slots.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Jobs admitted but not yet taken by a worker.
    #[must_use]
    pub fn reserved(&self) -> usize {
        // Both counters only grow: `released` unchanged around the read of `admitted` makes
        // the pair a snapshot of one instant.
        let mut released = self.release.released.load(Ordering::SeqCst);
        loop {
            let admitted = self.admission.admitted.load(Ordering::SeqCst) & !CLOSED;
            let again = self.release.released.load(Ordering::SeqCst);
            if again == released {
                return admitted.wrapping_sub(released) / ONE_SLOT;
            }
            released = again;
        }
    }

    /// Whether intake is closed.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.admission.admitted.load(Ordering::Acquire) & CLOSED != 0
    }

    /// Whether the deadline passed: workers cancel what they pop instead of running it.
    #[must_use]
    pub fn is_aborting(&self) -> bool {
        self.aborting.load(Ordering::Acquire)
    }

    /// Workers that have not exited yet.
    #[must_use]
    pub fn live_workers(&self) -> usize {
        self.live_workers.load(Ordering::Acquire)
    }

    /// Closed and every admitted job taken by a worker: no job will ever be queued again.
    #[must_use]
    pub fn is_finished(&self) -> bool {
        // `admitted` no longer changes once closed, and `released` never passes it: read in
        // this order, equal means every slot was given back.
        let admitted = self.admission.admitted.load(Ordering::SeqCst);
        admitted & CLOSED != 0 && self.release.released.load(Ordering::SeqCst) == admitted & !CLOSED
    }

    /// Finished, and every worker exited (so every taken job is done).
    #[must_use]
    pub fn is_drained(&self) -> bool {
        self.is_finished() && self.live_workers() == 0
    }

    /// Reserves one slot without waiting.
    ///
    /// # Errors
    /// [`Refusal::Closed`] once closed, [`Refusal::Full`] when every slot is reserved.
    pub fn try_reserve(&self) -> Result<Permit<'_, J>, Refusal> {
        self.reserve_slot().map(|()| Permit { core: self })
    }

    fn reserve_slot(&self) -> Result<(), Refusal> {
        let admission = &*self.admission;
        let limit = self.capacity * ONE_SLOT;
        // Acquire (here and on a failed CAS): the admission read comes with the releases its
        // submitter had seen, so `released` below is never older than `admitted` implies.
        let mut admitted = admission.admitted.load(Ordering::Acquire);
        loop {
            if admitted & CLOSED != 0 {
                return Err(Refusal::Closed);
            }
            // A stale `released` makes the queue look fuller than it is, never emptier: only
            // then read the workers' line (SeqCst: a waiting submitter's re-check after it
            // registers must see a release that did not see it registered).
            let seen = admission.released_seen.load(Ordering::Relaxed);
            if admitted.wrapping_sub(seen) >= limit {
                let released = self.release.released.load(Ordering::SeqCst);
                if released != seen {
                    admission.released_seen.store(released, Ordering::Relaxed);
                }
                let used = admitted.wrapping_sub(released);
                if used > limit {
                    // More than every slot (or below zero): `admitted` was read before other
                    // submits and releases that `released` already counts. Read it again.
                    admitted = admission.admitted.load(Ordering::SeqCst);
                    continue;
                }
                if used == limit {
                    return Err(Refusal::Full);
                }
            }
            match admission.admitted.compare_exchange_weak(
                admitted,
                admitted.wrapping_add(ONE_SLOT),
                Ordering::SeqCst,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(()),
                Err(actual) => admitted = actual,
            }
        }
    }

    /// Retries [`try_reserve`](Self::try_reserve) while the core is full and no submitter
    /// waits for space, calling `pause(round)` (round 0, 1, ..) before each try; gives up when
    /// `pause` returns `false`.
    ///
    /// For sync submitters before they park: workers free slots far more often than a park
    /// and a wake-up cost. Submitters already waiting are served first (FIFO), so this never
    /// tries while one waits. `None`: still full, someone waits, or `pause` gave up; then
    /// [`reserve`](Self::reserve) waits in line.
    pub fn reserve_soon(
        &self,
        mut pause: impl FnMut(u32) -> bool,
    ) -> Option<Result<Permit<'_, J>, Refusal>> {
        let mut round = 0;
        loop {
            if self.space_count.load(Ordering::Relaxed) > 0 || !pause(round) {
                return None;
            }
            match self.try_reserve() {
                Err(Refusal::Full) => round += 1,
                other => return Some(other),
            }
        }
    }

    /// Reserves a slot, waiting for one while the queue is full.
    ///
    /// Cancel safe: dropping the future gives up its place in line, and a slot granted to it
    /// but not yet used goes to the next waiter.
    pub fn reserve(&self) -> Reserve<'_, J> {
        Reserve {
            core: self,
            waiter: None,
        }
    }

    /// Admits `job` without waiting, as [`try_submit_at`](Self::try_submit_at) with a stamp
    /// that never finds the token holder late.
    ///
    /// # Errors
    /// Hands the job back with the reason when the core is full or closed.
    pub fn try_submit(&self, job: J) -> Result<(), (Refusal, J)> {
        self.try_submit_at(job, 0)
    }

    /// Admits `job` without waiting; `now` is the caller's stamp (see [`Permit::push_at`]).
    ///
    /// # Errors
    /// Hands the job back with the reason when the core is full or closed.
    pub fn try_submit_at(&self, job: J, now: u64) -> Result<(), (Refusal, J)> {
        match self.reserve_slot() {
            Ok(()) => {
                self.push_reserved(job, now);
                Ok(())
            }
            Err(refusal) => Err((refusal, job)),
        }
    }

    fn push_reserved(&self, job: J, now: u64) {
        // Cannot fail: at most `capacity` slots are reserved, and the queue only holds jobs
        // whose slot is still reserved. Should that ever break, the job still is not lost.
        let mut job = job;
        while let Err(back) = self.queue.push(job) {
            job = back;
            crate::sync::spin();
        }
        fence(Ordering::SeqCst);
        // The token holder will find the job itself: waking a sleeper would cost a syscall
        // for nothing, and on a busy machine a second worker thread contending for the
        // queue. (A holder gives the token up before it registers as idle or waits on a
        // pending job, then fences and re-checks the queue, so a job it misses is never
        // stranded.) Unless it has not checked in for a while: then it may be stuck in a long
        // poll, and the job would wait for it.
        if self.idle_count.load(Ordering::Relaxed) > 0
            && (!self.token_held() || self.holder_is_late(now))
        {
            self.wake_one_idle();
        }
    }

    /// Whether a worker holds the search token.
    #[must_use]
    pub fn token_held(&self) -> bool {
        self.searcher.load(Ordering::Relaxed) != 0
    }

    /// Whether a worker holds the search token and has not checked in within the limit
    /// before `now`: it may be stuck in a long poll.
    #[must_use]
    pub fn holder_is_late(&self, now: u64) -> bool {
        let holder = self.searcher.load(Ordering::Relaxed);
        holder != 0 && now.saturating_sub(holder) > self.check_in_limit
    }

    /// Takes the search token, stamped `now`: the caller polls the queue before it goes to
    /// sleep, and may keep the token while the jobs it then takes finish quickly (checking in
    /// with [`Search::check_in`]). While a worker holds it, submits do not wake sleeping
    /// workers, unless its last check-in is older than the check-in limit. Give it up
    /// ([`Search::hand_off`], or drop it) before [`next_job`](Self::next_job) or before
    /// waiting on anything.
    ///
    /// Only one worker holds it at a time (`None` if another one does): on a busy machine
    /// every spinning worker takes a CPU from the submitters.
    pub fn search(&self, now: u64) -> Option<Search<'_, J>> {
        self.searcher
            .compare_exchange(0, now.max(1), Ordering::SeqCst, Ordering::Relaxed)
            .ok()
            .map(|_| Search { core: self })
    }

    /// Called by a worker where a submit's wake-up may have missed the sleepers: if more jobs
    /// are admitted and nobody holds the search token, wakes a sleeping worker for them. Two
    /// such cases:
    /// - the submit skipped it because this worker held the token (the worker's first
    ///   `next_job` poll after it gave the token up, and `Search::hand_off`);
    /// - the submit spent it on this worker: it took the entry this worker had just
    ///   registered (re-polled without a job for it, or woken by an earlier submit whose job
    ///   another worker took), while this worker was about to take a job anyway.
    ///
    /// Not on every job taken in `next_job`: a worker woken for a job and taking one spent
    /// nothing meant for another, and waking a second worker there would cost a wake-up per
    /// job in a burst.
    ///
    /// Dekker pattern with a worker going to sleep (registers, fences, re-checks the queue)
    /// and with submitters (push, fence, read `idle_count`).
    fn pass_on(&self) {
        self.wake_for_queued(1);
    }

    /// Called by a worker that will not come back to the queue soon (its job waits on
    /// something, or just ran long) while jobs may be queued: wakes up to one sleeping worker
    /// per queued job, unless another worker holds the search token (it will be back for
    /// them soon, or a submit will find it late). Without this a burst queued while one worker
    /// held the token would wait for that worker alone.
    ///
    /// Same Dekker pattern as [`pass_on`](Self::pass_on).
    pub fn spread(&self) {
        self.wake_for_queued(usize::MAX);
    }

    /// [`pass_on`](Self::pass_on) and [`spread`](Self::spread): after the fence, wakes up to
    /// `at_most` sleeping workers, one per queued job, if nobody holds the search token. The
    /// cheap reads come first: the count of queued jobs reads both counters' lines.
    fn wake_for_queued(&self, at_most: usize) {
        fence(Ordering::SeqCst);
        if self.idle_count.load(Ordering::Relaxed) == 0
            || self.searcher.load(Ordering::Relaxed) != 0
        {
            return;
        }
        match self.reserved().min(at_most) {
            0 => {}
            1 => self.wake_one_idle(),
            n => self.wake_idle(n),
        }
    }

    fn wake_one_idle(&self) {
        let waker = {
            let mut waiters = lock(&self.waiters);
            let waker = waiters.idle.pop().map(|(_, waker)| waker);
            self.idle_count.store(waiters.idle.len(), Ordering::Relaxed);
            waker
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Wakes up to `n` idle workers, most recently idle first.
    fn wake_idle(&self, n: usize) {
        let woken: Vec<Waker> = {
            let mut waiters = lock(&self.waiters);
            let keep = waiters.idle.len().saturating_sub(n);
            let woken = waiters.idle.drain(keep..).map(|(_, waker)| waker).collect();
            self.idle_count.store(waiters.idle.len(), Ordering::Relaxed);
            woken
        };
        for waker in woken {
            waker.wake();
        }
    }

    fn wake_all_idle(&self) {
        let idle = {
            let mut waiters = lock(&self.waiters);
            self.idle_count.store(0, Ordering::Relaxed);
            std::mem::take(&mut waiters.idle)
        };
        for (_, waker) in idle {
            waker.wake();
        }
    }

    /// Takes the oldest queued job, if any.
    pub fn try_pop(&self) -> Option<J> {
        let job = self.queue.pop()?;
        self.release();
        Some(job)
    }

    /// Gives a reserved slot back: to the oldest waiting submitter if there is one; and when
    /// it was the last slot of a closed core, wakes the idle workers so they exit.
    ///
    /// The last-slot check reads the workers' copy of the closed bit, and `admitted` (the
    /// submitters' line) only once that is set. If this release misses the copy, its fence
    /// comes before that of any worker going to sleep after [`close`](Self::close) set it
    /// (the worker registers under the lock `close` then takes, fences, then checks
    /// [`is_finished`](Self::is_finished)): `close` wakes the workers registered before it,
    /// and those registering after see this release.
    fn release(&self) {
        let release = &*self.release;
        let released = release
            .released
            .fetch_add(ONE_SLOT, Ordering::SeqCst)
            .wrapping_add(ONE_SLOT);
        fence(Ordering::SeqCst);
        if self.space_count.load(Ordering::Relaxed) > 0 {
            self.grant_waiters();
        }
        if !release.closed.load(Ordering::Acquire) {
            return;
        }
        let admitted = self.admission.admitted.load(Ordering::SeqCst);
        if admitted & CLOSED != 0 && admitted & !CLOSED == released {
            self.wake_all_idle();
        }
    }

    fn grant_waiters(&self) {
        let mut granted = Vec::new();
        {
            let mut waiters = lock(&self.waiters);
            while !waiters.space.is_empty() && self.reserve_slot().is_ok() {
                if let Some((flag, waker)) = waiters.space.pop_front() {
                    flag.store(GRANTED, Ordering::Release);
                    waiters.granted.push(flag);
                    granted.push(waker);
                }
            }
            self.space_count
                .store(waiters.space.len(), Ordering::Relaxed);
        }
        for waker in granted {
            waker.wake();
        }
    }

    /// Waits for the next job as worker `worker` (an index unique per worker); `None` once the
    /// core is closed and every admitted job was taken.
    pub fn next_job(&self, worker: usize) -> NextJob<'_, J> {
        NextJob {
            core: self,
            worker,
            registered: false,
        }
    }

    /// Removes `worker`'s idle entry; `false` if a wake-up had already taken it.
    fn unregister_idle(&self, worker: usize) -> bool {
        let mut waiters = lock(&self.waiters);
        let before = waiters.idle.len();
        waiters.idle.retain(|(id, _)| *id != worker);
        self.idle_count.store(waiters.idle.len(), Ordering::Relaxed);
        waiters.idle.len() != before
    }

    /// Stops intake: later submits are refused, waiting submitters are refused, idle workers
    /// wake to drain. Returns `true` for the call that closed it.
    pub fn close(&self) -> bool {
        let previous = self.admission.admitted.fetch_or(CLOSED, Ordering::SeqCst);
        if previous & CLOSED != 0 {
            return false;
        }
        self.release.closed.store(true, Ordering::Release);
        let (refused, idle) = {
            let mut waiters = lock(&self.waiters);
            let refused: Vec<_> = waiters
                .space
                .drain(..)
                .map(|(flag, waker)| {
                    flag.store(REFUSED, Ordering::Release);
                    waker
                })
                .collect();
            self.space_count.store(0, Ordering::Relaxed);
            self.idle_count.store(0, Ordering::Relaxed);
            (refused, std::mem::take(&mut waiters.idle))
        };
        for waker in refused {
            waker.wake();
        }
        for (_, waker) in idle {
            waker.wake();
        }
        true
    }

    /// Marks the deadline as passed: from now on workers cancel what they pop. Slots granted
    /// to waiting submitters that have not claimed them yet are taken back (those submits are
    /// refused as closed), so that every slot still reserved belongs to a submit that is about
    /// to queue its job without waiting: the drain then ends once those are queued and taken,
    /// whether or not the refused submitters' futures are ever polled again.
    pub fn abort(&self) {
        self.aborting.store(true, Ordering::Release);
        let revoked = {
            let mut waiters = lock(&self.waiters);
            let revoked = waiters.granted.len();
            for flag in waiters.granted.drain(..) {
                flag.store(REFUSED, Ordering::Release);
            }
            revoked
        };
        for _ in 0..revoked {
            self.release();
        }
    }

    /// Called by each worker as it exits.
    pub fn worker_exited(&self) {
        self.live_workers.fetch_sub(1, Ordering::AcqRel);
        let drained = std::mem::take(&mut lock(&self.waiters).drained);
        for waker in drained {
            waker.wake();
        }
    }

    /// Resolves once the core is closed, every admitted job was taken and every worker exited.
    pub fn drained(&self) -> Drained<'_, J> {
        Drained { core: self }
    }
}

/// `Debug` for the guards and futures that borrow the core: their only state is the borrow.
macro_rules! opaque_debug {
    ($($name:ident),*) => {$(
        impl<J> fmt::Debug for $name<'_, J> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name)).finish_non_exhaustive()
            }
        }
    )*};
}

opaque_debug!(Permit, Search, Drained);

/// A reserved slot: push a job into it, or drop it to give the slot back.
#[must_use = "dropping a permit gives its slot back"]
pub struct Permit<'a, J> {
    core: &'a Core<J>,
}

impl<J> Permit<'_, J> {
    /// [`push_at`](Self::push_at) with a stamp that never finds the token holder late.
    pub fn push(self, job: J) {
        self.push_at(job, 0);
    }

    /// Queues `job` in the reserved slot and wakes an idle worker if there is one and no
    /// worker holding the search token checked in within the limit before `now` (a stamp
    /// from the clock the workers check in with).
    pub fn push_at(self, job: J, now: u64) {
        let core = self.core;
        std::mem::forget(self);
        core.push_reserved(job, now);
    }
}

impl<J> Drop for Permit<'_, J> {
    fn drop(&mut self) {
        self.core.release();
    }
}

/// The search token (see [`Core::search`]); dropping it gives the token up.
#[must_use = "the worker holds the search token until the guard is dropped"]
pub struct Search<'a, J> {
    core: &'a Core<J>,
}

impl<J> Search<'_, J> {
    /// Gives the token up with a job found while searching. If more are queued and nobody
    /// else holds the token, wakes a sleeping worker for them, since submits skipped that
    /// while this worker held it.
    pub fn found(self, job: J) -> J {
        let core = self.core;
        drop(self);
        core.pass_on();
        job
    }

    /// Gives the token up because the holder will not be back at the queue soon (its job
    /// waits on something, or it just ran a long one), then [`Core::spread`]s the jobs
    /// queued meanwhile over the sleeping workers.
    pub fn hand_off(self) {
        let core = self.core;
        drop(self);
        core.spread();
    }

    /// Tells submits the holder is still coming back to the queue soon, as of `now`.
    pub fn check_in(&self, now: u64) {
        // Only the holder writes while the token is taken.
        self.core.searcher.store(now.max(1), Ordering::Relaxed);
    }
}

impl<J> Drop for Search<'_, J> {
    fn drop(&mut self) {
        self.core.searcher.store(0, Ordering::SeqCst);
    }
}

/// Future of [`Core::reserve`].
pub struct Reserve<'a, J> {
    core: &'a Core<J>,
    waiter: Option<Arc<AtomicU8>>,
}

impl<J> fmt::Debug for Reserve<'_, J> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reserve")
            .field("waiting", &self.waiter.is_some())
            .finish_non_exhaustive()
    }
}

impl<'a, J> Future for Reserve<'a, J> {
    type Output = Result<Permit<'a, J>, Refusal>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let core = self.core;
        if let Some(flag) = self.waiter.clone() {
            let mut waiters = lock(&core.waiters);
            // Grants and refusals happen under this lock, so this read is definitive.
            match flag.load(Ordering::Acquire) {
                GRANTED => {
                    waiters.granted.retain(|f| !Arc::ptr_eq(f, &flag));
                    drop(waiters);
                    self.waiter = None;
                    return Poll::Ready(Ok(Permit { core }));
                }
                REFUSED => {
                    drop(waiters);
                    self.waiter = None;
                    return Poll::Ready(Err(Refusal::Closed));
                }
                _ => {
                    if let Some(entry) = waiters
                        .space
                        .iter_mut()
                        .find(|(f, _)| Arc::ptr_eq(f, &flag))
                    {
                        entry.1.clone_from(cx.waker());
                    }
                    return Poll::Pending;
                }
            }
        }
        match core.reserve_slot() {
            Ok(()) => return Poll::Ready(Ok(Permit { core })),
            Err(Refusal::Closed) => return Poll::Ready(Err(Refusal::Closed)),
            Err(Refusal::Full) => {}
        }
        let mut waiters = lock(&core.waiters);
        let flag = Arc::new(AtomicU8::new(WAITING));
        waiters.space.push_back((flag.clone(), cx.waker().clone()));
        core.space_count
            .store(waiters.space.len(), Ordering::Relaxed);
        fence(Ordering::SeqCst);
        let retry = core.reserve_slot();
        if retry.is_err() && !core.is_closed() {
            drop(waiters);
            self.waiter = Some(flag);
            return Poll::Pending;
        }
        waiters.space.pop_back();
        core.space_count
            .store(waiters.space.len(), Ordering::Relaxed);
        drop(waiters);
        match retry {
            Ok(()) => Poll::Ready(Ok(Permit { core })),
            Err(_) => Poll::Ready(Err(Refusal::Closed)),
        }
    }
}

impl<J> Drop for Reserve<'_, J> {
    fn drop(&mut self) {
        let Some(flag) = self.waiter.take() else {
            return;
        };
        let core = self.core;
        let mut waiters = lock(&core.waiters);
        match flag.load(Ordering::Acquire) {
            WAITING => {
                waiters.space.retain(|(f, _)| !Arc::ptr_eq(f, &flag));
                core.space_count
                    .store(waiters.space.len(), Ordering::Relaxed);
            }
            GRANTED => {
                waiters.granted.retain(|f| !Arc::ptr_eq(f, &flag));
                drop(waiters);
                // The slot was ours; pass it on so no waiter misses it.
                core.release();
            }
            _ => {}
        }
    }
}

/// Future of [`Core::next_job`].
pub struct NextJob<'a, J> {
    core: &'a Core<J>,
    worker: usize,
    registered: bool,
}

impl<J> fmt::Debug for NextJob<'_, J> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NextJob")
            .field("worker", &self.worker)
            .finish_non_exhaustive()
    }
}

impl<J> Future for NextJob<'_, J> {
    type Output = Option<J>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<J>> {
        let core = self.core;
        // A first poll comes straight from a search that gave up (or from the loop that lost
        // the search to another worker): submits may have skipped waking anyone for jobs
        // this worker will not take. On a later poll this worker was woken for a job, or
        // polled for nothing; either way it spends no wake-up meant for another job, unless
        // a submit takes the entry it registers below.
        let first_poll = !self.registered;
        if let Some(job) = core.try_pop() {
            self.unregister();
            if first_poll {
                core.pass_on();
            }
            return Poll::Ready(Some(job));
        }
        if core.is_finished() {
            self.unregister();
            return Poll::Ready(None);
        }
        {
            let mut waiters = lock(&core.waiters);
            let worker = self.worker;
            match waiters.idle.iter_mut().find(|(id, _)| *id == worker) {
                Some(entry) => entry.1.clone_from(cx.waker()),
                None => waiters.idle.push((worker, cx.waker().clone())),
            }
            core.idle_count.store(waiters.idle.len(), Ordering::Relaxed);
        }
        self.registered = true;
        fence(Ordering::SeqCst);
        if let Some(job) = core.try_pop() {
            // A submit that took the entry just registered spent its wake-up on this worker,
            // which was about to take a job anyway: pass it on.
            let woken = !self.unregister();
            if first_poll || woken {
                core.pass_on();
            }
            return Poll::Ready(Some(job));
        }
        if core.is_finished() {
            self.unregister();
            return Poll::Ready(None);
        }
        Poll::Pending
    }
}

impl<J> NextJob<'_, J> {
    /// `false` if this worker was registered and a wake-up took its entry.
    fn unregister(&mut self) -> bool {
        !std::mem::take(&mut self.registered) || self.core.unregister_idle(self.worker)
    }
}

impl<J> Drop for NextJob<'_, J> {
    fn drop(&mut self) {
        self.unregister();
    }
}

/// Future of [`Core::drained`].
pub struct Drained<'a, J> {
    core: &'a Core<J>,
}

impl<J> Future for Drained<'_, J> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.core.is_drained() {
            return Poll::Ready(());
        }
        let mut waiters = lock(&self.core.waiters);
        // `worker_exited` takes this lock after its decrement, so checking under it is exact.
        if self.core.is_drained() {
            return Poll::Ready(());
        }
        if !waiters.drained.iter().any(|w| w.will_wake(cx.waker())) {
            waiters.drained.push(cx.waker().clone());
        }
        Poll::Pending
    }
}
