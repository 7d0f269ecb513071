//! The live-task table of one scope: a slab with generation-checked keys.
//!
//! A task inserts itself before it is spawned and removes itself when it ends; whoever removes
//! an entry (the task, or the abort at the deadline) writes its report line, so each task gets
//! exactly one line.

use std::borrow::Cow;

use tokio::task::JoinHandle;
use tokio::time::Instant;

pub(crate) struct Entry {
    pub(crate) name: Cow<'static, str>,
    pub(crate) started: Instant,
    pub(crate) abort: Option<JoinHandle<()>>,
}

struct Slot {
    generation: u32,
    entry: Option<Entry>,
}

/// Identifies one entry; stale keys (of removed entries) never match a newer entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Key {
    index: usize,
    generation: u32,
}

#[derive(Default)]
pub(crate) struct Table {
    slots: Vec<Slot>,
    free: Vec<usize>,
    live: usize,
}

impl Table {
    pub(crate) fn insert(&mut self, entry: Entry) -> Key {
        self.live += 1;
        if let Some(index) = self.free.pop() {
            let slot = &mut self.slots[index];
            slot.entry = Some(entry);
            Key {
                index,
                generation: slot.generation,
            }
        } else {
            self.slots.push(Slot {
                generation: 0,
                entry: Some(entry),
            });
            Key {
                index: self.slots.len() - 1,
                generation: 0,
            }
        }
    }

    pub(crate) fn get_mut(&mut self, key: Key) -> Option<&mut Entry> {
        let slot = self.slots.get_mut(key.index)?;
        if slot.generation == key.generation {
            slot.entry.as_mut()
        } else {
            None
        }
    }

    pub(crate) fn remove(&mut self, key: Key) -> Option<Entry> {
        let slot = self.slots.get_mut(key.index)?;
        if slot.generation != key.generation {
            return None;
        }
        let entry = slot.entry.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(key.index);
        self.live -= 1;
        Some(entry)
    }

    #[cfg(test)]
    pub(crate) fn live(&self) -> usize {
        self.live
    }

    /// Remove every entry, oldest slot first.
    pub(crate) fn drain(&mut self) -> Vec<Entry> {
        let mut out = Vec::with_capacity(self.live);
        for (index, slot) in self.slots.iter_mut().enumerate() {
            if let Some(entry) = slot.entry.take() {
                slot.generation = slot.generation.wrapping_add(1);
                self.free.push(index);
                out.push(entry);
            }
        }
        self.live = 0;
        out
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.slots.iter().filter_map(|s| s.entry.as_ref())
    }
}

#[cfg(all(test, not(tidewater_loom)))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry(n: usize) -> Entry {
        Entry {
            name: Cow::Owned(n.to_string()),
            started: Instant::now(),
            abort: None,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        /// The table agrees with a `Vec` of live names, and stale keys never hit.
        #[test]
        fn table_matches_a_vec(ops in proptest::collection::vec((any::<bool>(), 0usize..8), 1..64)) {
            let mut table = Table::default();
            let mut model: Vec<(Key, usize)> = Vec::new();
            let mut stale: Vec<Key> = Vec::new();
            for (n, (insert, pick)) in ops.into_iter().enumerate() {
                if insert || model.is_empty() {
                    let key = table.insert(entry(n));
                    model.push((key, n));
                } else {
                    let (key, want) = model.remove(pick % model.len());
                    let got = table.remove(key).map(|e| e.name.into_owned());
                    prop_assert_eq!(got, Some(want.to_string()));
                    stale.push(key);
                }
                for key in &stale {
                    prop_assert!(table.get_mut(*key).is_none());
                }
                prop_assert_eq!(table.live(), model.len());
                prop_assert_eq!(table.iter().count(), model.len());
            }
            prop_assert_eq!(table.drain().len(), model.len());
            prop_assert_eq!(table.live(), 0);
        }
    }
}
