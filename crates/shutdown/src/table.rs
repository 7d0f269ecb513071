//! The live-task table of one scope: a slab with generation-checked keys.
//!
//! A task inserts itself before it is spawned and removes itself when it ends; whoever removes
//! an entry (the task, or the abort at the deadline) writes its report line, so each task gets
//! exactly one line.

use std::borrow::Cow;
use std::task::Waker;

use tokio::time::Instant;

pub(crate) struct Entry {
    pub(crate) name: Cow<'static, str>,
    pub(crate) started: Instant,
    /// Left by the task when it first waits, so an abort can wake it to drop its future.
    pub(crate) waker: Option<Waker>,
}

/// One cache line each (the chunk is allocated line-aligned): a spawn and the task's end
/// touch one line of the table, not two.
#[repr(align(64))]
enum Slot {
    Occupied {
        generation: u32,
        entry: Entry,
    },
    /// Vacant slots form a free list through `next` (`usize::MAX` ends it).
    Vacant {
        generation: u32,
        next: usize,
    },
}

/// Identifies one entry; stale keys (of removed entries) never match a newer entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Key {
    index: usize,
    generation: u32,
}

impl Key {
    pub(crate) fn new(index: usize, generation: u32) -> Key {
        Key { index, generation }
    }

    pub(crate) fn index(self) -> usize {
        self.index
    }

    pub(crate) fn generation(self) -> u32 {
        self.generation
    }
}

/// Slots live in chunks that double in size (64, 128, 256, ... slots): growing never moves
/// or frees a buffer, and allocates only O(log n) times (with glibc every allocation of 1 KiB
/// or more walks all freed small chunks, and a task runtime frees many).
const FIRST: usize = 64;
const END: usize = usize::MAX;

/// The chunk holding `index` and the offset inside it.
fn locate(index: usize) -> (usize, usize) {
    let scaled = index / FIRST + 1;
    let chunk = (usize::BITS - 1 - scaled.leading_zeros()) as usize;
    (chunk, index - FIRST * ((1 << chunk) - 1))
}

pub(crate) struct Table {
    chunks: Vec<Vec<Slot>>,
    free: usize,
    len: usize,
    live: usize,
}

impl Default for Table {
    fn default() -> Self {
        Table {
            chunks: Vec::new(),
            free: END,
            len: 0,
            live: 0,
        }
    }
}

impl Table {
    fn slot_mut(&mut self, index: usize) -> Option<&mut Slot> {
        let (chunk, offset) = locate(index);
        self.chunks.get_mut(chunk)?.get_mut(offset)
    }

    pub(crate) fn insert(&mut self, entry: Entry) -> Key {
        self.live += 1;
        if self.free != END {
            let index = self.free;
            if let Some(slot) = self.slot_mut(index)
                && let Slot::Vacant { generation, next } = *slot
            {
                *slot = Slot::Occupied { generation, entry };
                self.free = next;
                return Key { index, generation };
            }
        }
        let index = self.len;
        self.len += 1;
        let (chunk, _) = locate(index);
        if chunk == self.chunks.len() {
            self.chunks.push(Vec::with_capacity(FIRST << chunk));
        }
        if let Some(chunk) = self.chunks.last_mut() {
            chunk.push(Slot::Occupied {
                generation: 0,
                entry,
            });
        }
        Key {
            index,
            generation: 0,
        }
    }

    pub(crate) fn get_mut(&mut self, key: Key) -> Option<&mut Entry> {
        match self.slot_mut(key.index)? {
            Slot::Occupied { generation, entry } if *generation == key.generation => Some(entry),
            _ => None,
        }
    }

    pub(crate) fn remove(&mut self, key: Key) -> Option<Entry> {
        let free = self.free;
        let slot = self.slot_mut(key.index)?;
        match slot {
            Slot::Occupied { generation, .. } if *generation == key.generation => {}
            _ => return None,
        }
        let vacant = Slot::Vacant {
            generation: key.generation.wrapping_add(1),
            next: free,
        };
        let Slot::Occupied { entry, .. } = std::mem::replace(slot, vacant) else {
            return None;
        };
        self.free = key.index;
        self.live -= 1;
        Some(entry)
    }

    /// Entries in the table.
    pub(crate) fn live(&self) -> usize {
        self.live
    }

    /// Remove every entry, oldest slot first.
    pub(crate) fn drain(&mut self) -> Vec<Entry> {
        let mut out = Vec::with_capacity(self.live);
        for index in 0..self.len {
            let free = self.free;
            let Some(slot) = self.slot_mut(index) else {
                break;
            };
            if let Slot::Occupied { generation, .. } = *slot {
                let vacant = Slot::Vacant {
                    generation: generation.wrapping_add(1),
                    next: free,
                };
                if let Slot::Occupied { entry, .. } = std::mem::replace(slot, vacant) {
                    out.push(entry);
                }
                self.free = index;
            }
        }
        self.live = 0;
        out
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.chunks.iter().flatten().filter_map(|slot| match slot {
            Slot::Occupied { entry, .. } => Some(entry),
            Slot::Vacant { .. } => None,
        })
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
            waker: None,
        }
    }

    #[test]
    fn chunks_double_and_cover_every_index() {
        assert_eq!(locate(0), (0, 0));
        assert_eq!(locate(FIRST - 1), (0, FIRST - 1));
        assert_eq!(locate(FIRST), (1, 0));
        assert_eq!(locate(3 * FIRST - 1), (1, 2 * FIRST - 1));
        assert_eq!(locate(3 * FIRST), (2, 0));
        let mut table = Table::default();
        for n in 0..1000 {
            table.insert(entry(n));
        }
        assert_eq!(table.iter().count(), 1000);
        assert_eq!(table.chunks.len(), 5);
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
