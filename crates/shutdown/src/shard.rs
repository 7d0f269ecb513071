//! One shard of a scope's running tasks: names behind a lock the spawning thread keeps to
//! itself, and one *ended* bit per task that the task's end sets without any lock.
//!
//! Each spawning thread keeps to one shard, so the shard's lock and its registry stay in that
//! thread's cache, and a spawn writes nothing the workers touch. A task that ends normally
//! before the trigger only sets its bit (one `fetch_or` on a word of 64 bits that the workers
//! share with each other, not with the spawner): no lock, no name moved. The spawner sweeps set
//! bits (counting the quiet ends) when it runs out of free slots, so memory stays O(peak
//! running tasks) however many tasks a service spawns over its life. Everything else takes the
//! lock: an end that leaves a report line, the abort, the waker a task leaves at its first
//! `Pending`, the progress log. Whoever sets a task's bit owns its report (its line, or its
//! count), so each task is reported exactly once. A slot is handed out again only after the
//! sweep cleared its bit, and never after an abort (which closes the shard): the bit a late
//! task of an aborted scope sets never lands on a newer task.

use std::borrow::Cow;
use std::sync::{OnceLock, PoisonError};
use std::task::Waker;

use tokio::time::Instant;

use crate::report::TaskReport;
use crate::sync::{AtomicU64, Mutex, MutexGuard, Ordering};

/// Slots in the first chunk; chunk `k` holds `FIRST << k`. Small under loom, so that the
/// models reach a second chunk.
const FIRST: usize = if cfg!(tidewater_loom) { 2 } else { 64 };
/// Chunks after the first: 2^38 slots in all, far more than memory can hold entries for.
const MORE: usize = 32;

/// The chunk holding `index` and the offset inside it.
fn locate(index: usize) -> (usize, usize) {
    let scaled = index / FIRST + 1;
    let chunk = (usize::BITS - 1 - scaled.leading_zeros()) as usize;
    (chunk, index - FIRST * ((1 << chunk) - 1))
}

/// A running task's slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TaskKey {
    index: usize,
}

/// What the report needs of a running task.
pub(crate) struct Entry {
    pub(crate) name: Cow<'static, str>,
    pub(crate) started: Instant,
    /// Left by the task when it first waits, so an abort can wake it to drop its future.
    pub(crate) waker: Option<Waker>,
}

/// The part of a shard behind its lock.
pub(crate) struct Registry {
    /// No task may start any more: the scope was cancelled (or aborted).
    pub(crate) closed: bool,
    /// By slot, in chunks like the bits: `Some` from the spawn until the end or abort that
    /// reports the task takes it, or the sweep clears a quiet end's.
    entries: Vec<Vec<Option<Entry>>>,
    /// Slots made so far.
    len: usize,
    /// Slots with their bit clear and no entry: handed out by `insert`.
    free: Vec<usize>,
    /// Tasks that completed normally before the trigger: counted by the sweep, not listed.
    pub(crate) completed_before_trigger: u64,
    /// Report lines, with the instant each task ended.
    pub(crate) records: Vec<(Instant, TaskReport)>,
    /// Failure lines from before the trigger beyond the per-scope bound.
    pub(crate) records_dropped: u64,
}

/// `repr(C)`: the bit chunks' addresses, read by every task's end, come first; the lock the
/// spawner writes sits after them, on a line of its own.
#[repr(C)]
pub(crate) struct Shard {
    first: Box<[AtomicU64]>,
    more: [OnceLock<Box<[AtomicU64]>>; MORE],
    registry: Mutex<Registry>,
}

/// The bits for `slots` slots.
fn bits(slots: usize) -> Box<[AtomicU64]> {
    (0..slots.div_ceil(64)).map(|_| AtomicU64::new(0)).collect()
}

impl Shard {
    pub(crate) fn new() -> Shard {
        Shard {
            first: bits(FIRST),
            more: std::array::from_fn(|_| OnceLock::new()),
            registry: Mutex::new(Registry {
                closed: false,
                entries: Vec::new(),
                len: 0,
                free: Vec::new(),
                completed_before_trigger: 0,
                records: Vec::new(),
                records_dropped: 0,
            }),
        }
    }

    #[inline]
    pub(crate) fn lock(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The bit words of one chunk (`None` past the chunks made so far).
    fn chunk_bits(&self, chunk: usize) -> Option<&[AtomicU64]> {
        if chunk == 0 {
            Some(&self.first)
        } else {
            self.more.get(chunk - 1)?.get().map(|bits| &**bits)
        }
    }

    /// The word holding a slot's bit, and the bit.
    fn bit(&self, index: usize) -> Option<(&AtomicU64, u64)> {
        let (chunk, offset) = locate(index);
        let word = self.chunk_bits(chunk)?.get(offset / 64)?;
        Some((word, 1 << (offset % 64)))
    }

    fn has_ended(&self, index: usize) -> bool {
        self.bit(index)
            .is_none_or(|(word, bit)| word.load(Ordering::Acquire) & bit != 0)
    }

    /// Set a slot's bit: `true` for the one caller that set it (who reports the task).
    fn claim(&self, index: usize) -> bool {
        self.bit(index)
            .is_some_and(|(word, bit)| word.fetch_or(bit, Ordering::AcqRel) & bit == 0)
    }

    /// Record a task that starts now. `None` once the shard is closed (or, in theory, when
    /// all 2^38 slots are running, which no memory can hold).
    pub(crate) fn insert(
        &self,
        registry: &mut Registry,
        name: Cow<'static, str>,
        started: Instant,
    ) -> Option<TaskKey> {
        if registry.closed {
            return None;
        }
        if registry.free.is_empty() {
            self.refill(registry);
        }
        let index = registry.free.pop()?;
        let (chunk, offset) = locate(index);
        let entry = registry.entries.get_mut(chunk)?.get_mut(offset)?;
        // The bit is clear (the sweep cleared it before freeing the slot): nothing the workers
        // read is written here.
        *entry = Some(Entry {
            name,
            started,
            waker: None,
        });
        Some(TaskKey { index })
    }

    /// Free the slots of ended tasks; add a chunk if that freed at most half of them. Each
    /// slot is looked at once per sweep and a sweep frees (or adds) at least half of them, so
    /// a spawn pays O(1) for it on average, and slots stay at most four times the most tasks
    /// that ever ran at once, plus one first chunk.
    fn refill(&self, registry: &mut Registry) {
        self.sweep(registry);
        if registry.free.len() * 2 > registry.len {
            return;
        }
        let chunk = registry.entries.len();
        let size = FIRST << chunk;
        if chunk > 0 {
            let Some(more) = self.more.get(chunk - 1) else {
                return;
            };
            more.get_or_init(|| bits(size));
        }
        registry.entries.push((0..size).map(|_| None).collect());
        let len = registry.len;
        registry.free.extend((len..len + size).rev());
        registry.len += size;
    }

    /// Free every slot whose bit is set, counting the quiet ends (bit set, entry still there).
    /// In a closed shard only count them: nothing starts there any more, and a bit cleared
    /// there would let a late end of an aborted task (one that read "not triggered" before the
    /// abort and the report's sweep) claim its task again and count its end twice.
    pub(crate) fn sweep(&self, registry: &mut Registry) {
        let Registry {
            closed,
            entries,
            free,
            completed_before_trigger,
            ..
        } = registry;
        if *closed {
            for (index, entry) in entries.iter_mut().flatten().enumerate() {
                if entry.is_some() && self.has_ended(index) {
                    *entry = None;
                    *completed_before_trigger += 1;
                }
            }
            return;
        }
        let first_freed = free.len();
        let mut first_index = 0;
        for (chunk, entries) in entries.iter_mut().enumerate() {
            let chunk_bits = self.chunk_bits(chunk).unwrap_or_default();
            for (at, word) in chunk_bits.iter().enumerate() {
                let ended = word.load(Ordering::Acquire);
                if ended == 0 {
                    continue;
                }
                let mut rest = ended;
                while rest != 0 {
                    let offset = at * 64 + rest.trailing_zeros() as usize;
                    rest &= rest - 1;
                    if entries.get_mut(offset).and_then(Option::take).is_some() {
                        *completed_before_trigger += 1;
                    }
                    free.push(first_index + offset);
                }
                // Only the bits read: one set meanwhile waits for the next sweep.
                word.fetch_and(!ended, Ordering::AcqRel);
            }
            first_index += entries.len();
        }
        // Handed out lowest first: neighbouring spawns share a word of bits.
        free[first_freed..].reverse();
    }

    /// A task ended normally before the trigger: set its bit, nothing else (the sweep counts
    /// it). `false`: it was aborted, and the abort reported it.
    pub(crate) fn end_quietly(&self, key: TaskKey) -> bool {
        self.claim(key.index)
    }

    /// A task ended and leaves a line: its entry, or `None` if the abort reported it.
    pub(crate) fn end(&self, registry: &mut Registry, key: TaskKey) -> Option<Entry> {
        if !self.claim(key.index) {
            return None;
        }
        take(registry, key.index)
    }

    /// Leave `waker` with a running task, so an abort can wake it. `false`: the task was
    /// aborted (and reported), so it must stop now.
    pub(crate) fn set_waker(&self, registry: &mut Registry, key: TaskKey, waker: &Waker) -> bool {
        // Under the lock: an abort sets the bit and takes the waker in one critical section,
        // so a waker left here is either taken by it or refused here.
        if self.has_ended(key.index) {
            return false;
        }
        let (chunk, offset) = locate(key.index);
        let Some(Some(entry)) = registry
            .entries
            .get_mut(chunk)
            .and_then(|c| c.get_mut(offset))
        else {
            return false;
        };
        match &mut entry.waker {
            Some(stored) => stored.clone_from(waker),
            empty @ None => *empty = Some(waker.clone()),
        }
        true
    }

    /// Close the shard and abort every running task: each one's entry, oldest slot first. A
    /// task that ends at the same moment either set its bit first (and reports itself) or
    /// finds it set.
    pub(crate) fn abort(&self, registry: &mut Registry) -> Vec<Entry> {
        registry.closed = true;
        let mut out = Vec::new();
        for (chunk, entries) in registry.entries.iter_mut().enumerate() {
            let chunk_bits = self.chunk_bits(chunk).unwrap_or_default();
            for (offset, entry) in entries.iter_mut().enumerate() {
                if entry.is_none() {
                    continue;
                }
                let Some(word) = chunk_bits.get(offset / 64) else {
                    break;
                };
                let bit = 1 << (offset % 64);
                if word.fetch_or(bit, Ordering::AcqRel) & bit == 0
                    && let Some(entry) = entry.take()
                {
                    out.push(entry);
                }
            }
        }
        out
    }

    /// `(name, started)` of every running task.
    pub(crate) fn running<'a>(
        &'a self,
        registry: &'a Registry,
    ) -> impl Iterator<Item = (&'a Cow<'static, str>, Instant)> {
        registry
            .entries
            .iter()
            .flatten()
            .enumerate()
            .filter_map(|(index, entry)| {
                let entry = entry.as_ref()?;
                (!self.has_ended(index)).then_some((&entry.name, entry.started))
            })
    }
}

fn take(registry: &mut Registry, index: usize) -> Option<Entry> {
    let (chunk, offset) = locate(index);
    registry.entries.get_mut(chunk)?.get_mut(offset)?.take()
}

#[cfg(all(test, not(tidewater_loom)))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn chunks_double_and_cover_every_index() {
        assert_eq!(locate(0), (0, 0));
        assert_eq!(locate(FIRST - 1), (0, FIRST - 1));
        assert_eq!(locate(FIRST), (1, 0));
        assert_eq!(locate(3 * FIRST - 1), (1, 2 * FIRST - 1));
        assert_eq!(locate(3 * FIRST), (2, 0));
        let shard = Shard::new();
        let mut registry = shard.lock();
        let keys: Vec<_> = (0..1000)
            .map(|n| {
                let name = Cow::Owned(n.to_string());
                shard.insert(&mut registry, name, Instant::now()).unwrap()
            })
            .collect();
        assert_eq!(shard.running(&registry).count(), 1000);
        assert_eq!(registry.entries.len(), 5);
        for key in keys {
            assert!(shard.end_quietly(key));
        }
        assert_eq!(shard.running(&registry).count(), 0);
        shard.sweep(&mut registry);
        assert_eq!(registry.completed_before_trigger, 1000);
        assert_eq!(registry.free.len(), registry.len);
    }

    #[test]
    fn quiet_ends_are_swept_and_counted_and_slots_stay_bounded() {
        let shard = Shard::new();
        let mut registry = shard.lock();
        for _ in 0..100_000 {
            let key = shard
                .insert(&mut registry, Cow::Borrowed("short"), Instant::now())
                .unwrap();
            assert!(shard.end_quietly(key));
            assert!(!shard.end_quietly(key), "a task's bit is set once");
        }
        shard.sweep(&mut registry);
        assert_eq!(registry.completed_before_trigger, 100_000);
        assert_eq!(
            registry.len, FIRST,
            "short tasks one after another fit in one chunk"
        );
        assert_eq!(shard.running(&registry).count(), 0);
    }

    #[test]
    fn nothing_starts_after_an_abort_and_aborted_keys_stay_ended() {
        let shard = Shard::new();
        let mut registry = shard.lock();
        let key = shard
            .insert(&mut registry, Cow::Borrowed("a"), Instant::now())
            .unwrap();
        let aborted = shard.abort(&mut registry);
        assert_eq!(aborted.len(), 1);
        assert!(
            shard
                .insert(&mut registry, Cow::Borrowed("b"), Instant::now())
                .is_none()
        );
        assert!(!shard.end_quietly(key));
        assert!(shard.end(&mut registry, key).is_none());
        assert!(!shard.set_waker(&mut registry, key, Waker::noop()));
        shard.sweep(&mut registry);
        assert_eq!(
            registry.completed_before_trigger, 0,
            "aborted, not completed"
        );
    }

    /// The report's sweep after an abort counts the quiet ends that beat the abort, and an
    /// aborted task whose end comes after that sweep is still refused (its end must not be
    /// counted a second time).
    #[test]
    fn an_aborted_tasks_end_is_refused_after_the_reports_sweep() {
        let shard = Shard::new();
        let mut registry = shard.lock();
        let quiet = shard
            .insert(&mut registry, Cow::Borrowed("quiet"), Instant::now())
            .unwrap();
        let late = shard
            .insert(&mut registry, Cow::Borrowed("late"), Instant::now())
            .unwrap();
        assert!(shard.end_quietly(quiet));
        let aborted: Vec<_> = shard.abort(&mut registry);
        assert_eq!(aborted.len(), 1);
        assert_eq!(aborted[0].name, "late");
        shard.sweep(&mut registry);
        assert_eq!(registry.completed_before_trigger, 1);
        assert!(!shard.end_quietly(late), "the abort reported it");
        assert!(shard.end(&mut registry, late).is_none());
        assert!(!shard.end_quietly(quiet));
        shard.sweep(&mut registry);
        assert_eq!(registry.completed_before_trigger, 1, "counted once");
        assert_eq!(shard.running(&registry).count(), 0);
    }

    /// Slots at the edges of words and chunks (63/64, 127/128, 191/192) end, are swept,
    /// reused and aborted like any other: each bit belongs to its own slot.
    #[test]
    fn word_and_chunk_edges_keep_each_task_to_its_own_bit() {
        let shard = Shard::new();
        let mut registry = shard.lock();
        let mut keys: Vec<_> = (0..250)
            .map(|n| {
                let name = Cow::Owned(n.to_string());
                shard.insert(&mut registry, name, Instant::now()).unwrap()
            })
            .collect();
        assert_eq!(keys[63].index, 63);
        assert_eq!(keys[64].index, 64);
        assert_eq!(locate(64), (1, 0));
        assert_eq!(locate(191), (1, 127));
        assert_eq!(locate(192), (2, 0));
        let edges = [0, 62, 63, 64, 127, 128, 191, 192, 249];
        for &edge in &edges {
            assert!(shard.end_quietly(keys[edge]));
        }
        let running: Vec<usize> = shard
            .running(&registry)
            .map(|(name, _)| name.parse().unwrap())
            .collect();
        let want: Vec<usize> = (0..250).filter(|n| !edges.contains(n)).collect();
        assert_eq!(running, want);
        shard.sweep(&mut registry);
        assert_eq!(registry.completed_before_trigger, edges.len() as u64);
        // The freed slots are handed out again, lowest first, and report their new tasks.
        for (n, &edge) in edges.iter().enumerate() {
            let key = shard
                .insert(
                    &mut registry,
                    Cow::Owned(format!("again{n}")),
                    Instant::now(),
                )
                .unwrap();
            assert_eq!(key.index, edge);
            keys[edge] = key;
        }
        let line = shard.end(&mut registry, keys[64]).unwrap();
        assert_eq!(line.name, "again3");
        let mut aborted: Vec<String> = shard
            .abort(&mut registry)
            .into_iter()
            .map(|e| e.name.into_owned())
            .collect();
        aborted.sort();
        assert_eq!(aborted.len(), 249);
        assert!(aborted.contains(&"again8".to_owned()) && !aborted.contains(&"again3".to_owned()));
        shard.sweep(&mut registry);
        assert_eq!(registry.completed_before_trigger, edges.len() as u64);
    }

    #[derive(Debug, Clone, Copy)]
    enum Op {
        Spawn,
        EndQuietly(usize),
        End(usize),
        Wait(usize),
        Sweep,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => Just(Op::Spawn),
            2 => (0usize..64).prop_map(Op::EndQuietly),
            1 => (0usize..64).prop_map(Op::End),
            1 => (0usize..64).prop_map(Op::Wait),
            1 => Just(Op::Sweep),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        /// The shard agrees with a `Vec` of running names: each task is reported exactly once
        /// (a quiet end counted by the sweep, a noted end, or the final abort, with its
        /// entry), and slots stay within four times the most tasks running at once.
        #[test]
        fn shard_matches_a_vec(ops in proptest::collection::vec(op(), 1..200)) {
            let shard = Shard::new();
            let mut registry = shard.lock();
            let mut model: Vec<(TaskKey, String)> = Vec::new();
            let (mut quiet, mut peak) = (0_u64, 0_usize);
            for (n, op) in ops.into_iter().enumerate() {
                match op {
                    Op::Spawn => {
                        let key = shard
                            .insert(&mut registry, Cow::Owned(n.to_string()), Instant::now())
                            .unwrap();
                        model.push((key, n.to_string()));
                        peak = peak.max(model.len());
                    }
                    Op::EndQuietly(pick) if !model.is_empty() => {
                        let (key, _) = model.remove(pick % model.len());
                        prop_assert!(shard.end_quietly(key));
                        quiet += 1;
                    }
                    Op::End(pick) if !model.is_empty() => {
                        let (key, want) = model.remove(pick % model.len());
                        let got = shard.end(&mut registry, key).map(|e| e.name.into_owned());
                        prop_assert_eq!(got, Some(want));
                    }
                    Op::Wait(pick) if !model.is_empty() => {
                        let key = model[pick % model.len()].0;
                        prop_assert!(shard.set_waker(&mut registry, key, Waker::noop()));
                    }
                    Op::Sweep => shard.sweep(&mut registry),
                    _ => {}
                }
                let mut running: Vec<_> =
                    shard.running(&registry).map(|(n, _)| n.to_string()).collect();
                let mut want: Vec<_> = model.iter().map(|(_, n)| n.clone()).collect();
                running.sort();
                want.sort();
                prop_assert_eq!(running, want);
                prop_assert!(registry.len <= 4 * peak + FIRST);
            }
            let mut aborted: Vec<_> = shard
                .abort(&mut registry)
                .into_iter()
                .map(|e| e.name.into_owned())
                .collect();
            let mut want: Vec<_> = model.iter().map(|(_, name)| name.clone()).collect();
            aborted.sort();
            want.sort();
            prop_assert_eq!(aborted, want);
            for (key, _) in &model {
                prop_assert!(!shard.end_quietly(*key), "an aborted task's end is refused");
            }
            shard.sweep(&mut registry);
            prop_assert_eq!(registry.completed_before_trigger, quiet);
        }
    }
}

/// loom: a task's first wait and its lock-free end, an abort, and the spawner sweeping and
/// reusing slots, in every order.
#[cfg(all(test, tidewater_loom))]
mod loom_models {
    use super::*;
    use loom::sync::Arc;
    use loom::thread;

    fn name(entry: &Entry) -> &'static str {
        match entry.name {
            Cow::Borrowed(name) => name,
            Cow::Owned(_) => "owned",
        }
    }

    /// Invariants: every task is reported exactly once (by its own end, or by the abort);
    /// a task's quiet end is counted once by the sweeps, even one racing a sweep; nothing
    /// starts after the abort; and a task that left its waker and was aborted gets woken.
    #[test]
    fn each_task_is_reported_once_by_its_end_or_by_the_abort() {
        let started = Instant::now(); // read outside the model: loom never sees the clock
        loom::model(move || {
            let shard = Arc::new(Shard::new());
            // Both slots of the first chunk taken: the next spawn sweeps.
            let (a, b) = {
                let mut registry = shard.lock();
                let a = shard.insert(&mut registry, Cow::Borrowed("a"), started);
                let b = shard.insert(&mut registry, Cow::Borrowed("b"), started);
                (a.unwrap(), b.unwrap())
            };
            let lines = Arc::new(loom::sync::Mutex::new(Vec::new()));

            let task = {
                let (shard, lines) = (Arc::clone(&shard), Arc::clone(&lines));
                thread::spawn(move || {
                    // Its first `Pending` (leaves a waker), then its end, without the lock.
                    let waiting = shard.set_waker(&mut shard.lock(), a, Waker::noop());
                    let quiet = waiting && shard.end_quietly(a);
                    if quiet {
                        lines.lock().unwrap().push("a");
                    }
                    (waiting, quiet)
                })
            };
            let abort = {
                let (shard, lines) = (Arc::clone(&shard), Arc::clone(&lines));
                thread::spawn(move || {
                    let aborted = shard.abort(&mut shard.lock());
                    let mut lines = lines.lock().unwrap();
                    let mut a_woken = None;
                    for entry in aborted {
                        let woken = entry.waker.is_some();
                        let name = name(&entry);
                        if name == "a" {
                            a_woken = Some(woken);
                        }
                        lines.push(name);
                    }
                    a_woken
                })
            };
            // The spawner: b ends quietly, then c starts (sweeping: in b's or a's slot if
            // their bits are set, else in a new chunk) and ends with a line; unless the abort
            // came first.
            let b_quiet = shard.end_quietly(b);
            if b_quiet {
                lines.lock().unwrap().push("b");
            }
            let c = shard.insert(&mut shard.lock(), Cow::Borrowed("c"), started);
            let mut want = vec!["a", "b"];
            if let Some(c) = c {
                want.push("c");
                if let Some(entry) = shard.end(&mut shard.lock(), c) {
                    lines.lock().unwrap().push(name(&entry));
                }
            }
            let (a_waiting, a_quiet) = task.join().unwrap();
            let a_woken = abort.join().unwrap();

            let mut lines = lines.lock().unwrap().clone();
            lines.sort_unstable();
            assert_eq!(lines, want, "each task exactly one line");
            if a_woken.is_some() && a_waiting {
                assert_eq!(
                    a_woken,
                    Some(true),
                    "a left its waker and the abort lost it"
                );
            }
            let mut registry = shard.lock();
            shard.sweep(&mut registry);
            let quiet = u64::from(a_quiet) + u64::from(b_quiet);
            assert_eq!(
                registry.completed_before_trigger, quiet,
                "quiet ends counted once"
            );
            assert_eq!(shard.running(&registry).count(), 0);
        });
    }
}
