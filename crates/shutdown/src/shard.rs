//! One lock-protected shard of a scope's running tasks, laid out for the common case.
//!
//! Most tasks end soon after they start, before the next spawn comes round to their shard. Such
//! a task lives in the shard's *fast slot*, which shares the first cache line with the lock
//! word, the running count and the completed count: a spawn and the task's end each move that
//! one line between the spawning thread and the worker, instead of the lock's line plus a table
//! slot's. When the fast slot is taken (the previous task still runs), and when a task first
//! waits (it leaves a waker for aborts), the entry lives in the [`Table`] instead.

use std::borrow::Cow;
use std::task::Waker;

use tokio::time::Instant;

use crate::report::TaskReport;
use crate::table::{Entry, Key, Table};

/// Where a running task is: the fast slot or a table slot. Stale keys never match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TaskKey(Key);

/// `Key` index that means "the fast slot".
const FAST: usize = usize::MAX;

struct FastEntry {
    name: Cow<'static, str>,
    started: Instant,
}

/// `repr(C)`, hot fields first: behind the mutex's lock word they fill exactly the first cache
/// line; everything below is touched only on slower paths (or read, never written, by spawns).
/// The running count is not stored: it is the table's plus the fast slot's.
#[repr(C)]
pub(crate) struct Shard {
    fast: Option<FastEntry>,
    fast_generation: u32,
    /// Tasks that completed normally before the trigger: counted, not listed.
    pub(crate) completed_before_trigger: u64,
    // --- cold ---
    /// The other running tasks. With the fast slot, the shard's running count (kept under
    /// the lock: no shared counter to bounce).
    table: Table,
    /// No task may start any more: the scope was cancelled.
    pub(crate) closed: bool,
    /// Report lines, with the instant each task ended.
    pub(crate) records: Vec<(Instant, TaskReport)>,
    /// Failure lines from before the trigger beyond the per-scope bound.
    pub(crate) records_dropped: u64,
}

impl Shard {
    pub(crate) fn new() -> Shard {
        Shard {
            fast: None,
            fast_generation: 0,
            completed_before_trigger: 0,
            table: Table::default(),
            closed: false,
            records: Vec::new(),
            records_dropped: 0,
        }
    }

    /// Running tasks of this shard.
    pub(crate) fn live(&self) -> usize {
        self.table.live() + usize::from(self.fast.is_some())
    }

    fn is_fast(&self, key: TaskKey) -> bool {
        key.0.index() == FAST && self.fast.is_some() && key.0.generation() == self.fast_generation
    }

    /// Record a task that starts now.
    pub(crate) fn insert(&mut self, name: Cow<'static, str>, started: Instant) -> TaskKey {
        if self.fast.is_none() {
            self.fast = Some(FastEntry { name, started });
            return TaskKey(Key::new(FAST, self.fast_generation));
        }
        TaskKey(self.table.insert(Entry {
            name,
            started,
            waker: None,
        }))
    }

    /// Remove a task's entry: `(name, started)`, or `None` if it is gone (aborted).
    pub(crate) fn remove(&mut self, key: TaskKey) -> Option<(Cow<'static, str>, Instant)> {
        if self.is_fast(key) {
            self.fast_generation = self.fast_generation.wrapping_add(1);
            self.fast.take().map(|fast| (fast.name, fast.started))
        } else if key.0.index() == FAST {
            None
        } else {
            self.table.remove(key.0).map(|e| (e.name, e.started))
        }
    }

    /// Leave `waker` with the task so an abort can wake it. A task in the fast slot moves to
    /// the table (the slot has no room for a waker): the returned key replaces the old one.
    /// `None`: the entry is gone (the task was aborted and reported).
    pub(crate) fn set_waker(&mut self, key: TaskKey, waker: &Waker) -> Option<TaskKey> {
        if self.is_fast(key) {
            let fast = self.fast.take()?;
            self.fast_generation = self.fast_generation.wrapping_add(1);
            return Some(TaskKey(self.table.insert(Entry {
                name: fast.name,
                started: fast.started,
                waker: Some(waker.clone()),
            })));
        }
        if key.0.index() == FAST {
            return None;
        }
        let entry = self.table.get_mut(key.0)?;
        match &mut entry.waker {
            Some(stored) => stored.clone_from(waker),
            empty @ None => *empty = Some(waker.clone()),
        }
        Some(key)
    }

    /// Remove every running task (fast slot first, then oldest table slot first).
    pub(crate) fn drain(&mut self) -> Vec<Entry> {
        let mut out = Vec::with_capacity(self.live());
        if let Some(fast) = self.fast.take() {
            self.fast_generation = self.fast_generation.wrapping_add(1);
            out.push(Entry {
                name: fast.name,
                started: fast.started,
                waker: None,
            });
        }
        out.append(&mut self.table.drain());
        out
    }

    /// `(name, started)` of every running task.
    pub(crate) fn running(&self) -> impl Iterator<Item = (&Cow<'static, str>, Instant)> {
        let fast = self.fast.as_ref().map(|fast| (&fast.name, fast.started));
        fast.into_iter()
            .chain(self.table.iter().map(|e| (&e.name, e.started)))
    }
}

#[cfg(all(test, not(tidewater_loom)))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn noop_waker() -> Waker {
        Waker::noop().clone()
    }

    #[test]
    fn the_hot_fields_fill_one_cache_line_behind_the_lock_word() {
        // fast (40) + generation (4, padded to 8) + completed (8) = 56 = 64 - 8.
        assert_eq!(std::mem::size_of::<Option<FastEntry>>(), 40);
        let shard = std::sync::Mutex::new(Shard::new());
        let base = std::ptr::from_ref(&shard) as usize;
        let guard = shard.lock().unwrap();
        let completed = std::ptr::from_ref(&guard.completed_before_trigger) as usize;
        assert!(
            completed + 8 - base <= 64,
            "completed ends at {}",
            completed + 8 - base
        );
    }

    #[test]
    fn a_waiting_task_moves_out_of_the_fast_slot_and_the_old_key_goes_stale() {
        let mut shard = Shard::new();
        let first = shard.insert(Cow::Borrowed("first"), Instant::now());
        let second = shard.insert(Cow::Borrowed("second"), Instant::now());
        assert_ne!(first, second);
        let moved = shard.set_waker(first, &noop_waker()).unwrap();
        assert_ne!(moved, first);
        assert!(shard.remove(first).is_none(), "stale fast key");
        assert!(shard.set_waker(first, &noop_waker()).is_none());
        let third = shard.insert(Cow::Borrowed("third"), Instant::now());
        assert!(
            shard.remove(first).is_none(),
            "a stale key never hits a newer task"
        );
        assert_eq!(shard.live(), 3);
        let mut names: Vec<_> = shard.running().map(|(n, _)| n.to_string()).collect();
        names.sort();
        assert_eq!(names, ["first", "second", "third"]);
        assert_eq!(shard.remove(third).unwrap().0, "third");
        assert_eq!(shard.remove(moved).unwrap().0, "first");
        let drained: Vec<_> = shard.drain().into_iter().map(|e| e.name).collect();
        assert_eq!(drained, ["second"]);
        assert_eq!(shard.live(), 0);
        assert!(shard.remove(second).is_none());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        /// The shard agrees with a `Vec` of running names; stale keys never hit; `live`,
        /// `running` and `drain` see every task exactly once.
        #[test]
        fn shard_matches_a_vec(ops in proptest::collection::vec((0u8..3, 0usize..8), 1..64)) {
            let mut shard = Shard::new();
            let mut model: Vec<(TaskKey, String)> = Vec::new();
            let mut stale: Vec<TaskKey> = Vec::new();
            for (n, (op, pick)) in ops.into_iter().enumerate() {
                match op {
                    0 => {
                        let key = shard.insert(Cow::Owned(n.to_string()), Instant::now());
                        model.push((key, n.to_string()));
                    }
                    1 if !model.is_empty() => {
                        let (key, want) = model.remove(pick % model.len());
                        let got = shard.remove(key).map(|(name, _)| name.into_owned());
                        prop_assert_eq!(got, Some(want));
                        stale.push(key);
                    }
                    _ if !model.is_empty() => {
                        let at = pick % model.len();
                        let old = model[at].0;
                        let new = shard.set_waker(old, &noop_waker());
                        prop_assert!(new.is_some());
                        if let Some(new) = new && new != old {
                            stale.push(old);
                            model[at].0 = new;
                        }
                    }
                    _ => {}
                }
                for key in &stale {
                    prop_assert!(shard.remove(*key).is_none());
                }
                prop_assert_eq!(shard.live(), model.len());
                let mut running: Vec<_> = shard.running().map(|(n, _)| n.to_string()).collect();
                let mut want: Vec<_> = model.iter().map(|(_, n)| n.clone()).collect();
                running.sort();
                want.sort();
                prop_assert_eq!(running, want);
            }
            prop_assert_eq!(shard.drain().len(), model.len());
            prop_assert_eq!(shard.live(), 0);
        }
    }
}

/// loom: a task's first wait and its end, an abort draining the shard, and another spawn, in
/// every order the shard's lock allows.
#[cfg(all(test, tidewater_loom))]
mod loom_models {
    use super::*;
    use loom::sync::{Arc, Mutex};
    use loom::thread;

    /// Invariant: every task is reported exactly once, by its own end or by the abort's drain,
    /// and a key the drain made stale never reaches a task spawned after it.
    #[test]
    fn each_task_is_reported_once_by_its_end_or_by_the_abort() {
        let started = Instant::now(); // read outside the model: loom never sees the clock
        loom::model(move || {
            let shard = Arc::new(Mutex::new(Shard::new()));
            let lines = Arc::new(Mutex::new(Vec::new()));
            let first = shard
                .lock()
                .unwrap()
                .insert(Cow::Borrowed("first"), started);

            let task = {
                let (shard, lines) = (Arc::clone(&shard), Arc::clone(&lines));
                thread::spawn(move || {
                    // Its first `Pending` (leaves a waker), then its end: two critical sections.
                    let moved = shard.lock().unwrap().set_waker(first, Waker::noop());
                    if let Some(key) = moved
                        && let Some((name, _)) = shard.lock().unwrap().remove(key)
                    {
                        // The line it writes is its own, whatever entry its key found.
                        assert_eq!(name, "first", "a task removed another task's entry");
                        lines.lock().unwrap().push(Cow::Borrowed("first"));
                    }
                })
            };
            let abort = {
                let (shard, lines) = (Arc::clone(&shard), Arc::clone(&lines));
                thread::spawn(move || {
                    let drained = shard.lock().unwrap().drain();
                    lines
                        .lock()
                        .unwrap()
                        .extend(drained.into_iter().map(|entry| entry.name));
                })
            };
            let second = shard
                .lock()
                .unwrap()
                .insert(Cow::Borrowed("second"), started);
            let ended = shard.lock().unwrap().remove(second);
            if let Some((name, _)) = ended {
                assert_eq!(name, "second", "a task removed another task's entry");
                lines.lock().unwrap().push(Cow::Borrowed("second"));
            }
            task.join().unwrap();
            abort.join().unwrap();

            let mut lines = lines.lock().unwrap().clone();
            lines.sort();
            assert_eq!(lines, ["first", "second"], "each task exactly one line");
            assert_eq!(shard.lock().unwrap().live(), 0);
        });
    }
}
