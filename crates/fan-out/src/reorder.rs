//! The reorder buffer: results arrive in any order and leave in input order.
//!
//! Holds the results whose index lies in the window `[next, next + window)`; position `k`
//! of the deque is index `next + k`. The driver only starts an item whose index is inside
//! the window, so memory stays `O(window)`; the deque grows on demand, so a huge window
//! costs nothing until it is used.

use std::collections::VecDeque;

/// See the module docs.
#[derive(Debug)]
pub struct Reorder<T> {
    slots: VecDeque<Option<T>>,
    window: usize,
    next: usize,
    held: usize,
}

impl<T> Reorder<T> {
    /// A buffer for a window of `window` (at least 1) input positions.
    #[must_use]
    pub fn new(window: usize) -> Self {
        Self {
            slots: VecDeque::new(),
            window: window.max(1),
            next: 0,
            held: 0,
        }
    }

    /// The index the next `pop` returns.
    #[must_use]
    pub fn next_index(&self) -> usize {
        self.next
    }

    /// The width of the window.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.window
    }

    /// How many results are waiting.
    #[must_use]
    pub fn held(&self) -> usize {
        self.held
    }

    /// Whether an item with `index` may be started (its result would fit the window).
    #[must_use]
    pub fn admits(&self, index: usize) -> bool {
        index >= self.next && index - self.next < self.window
    }

    /// Stores the result of `index`.
    ///
    /// # Errors
    /// Hands the value back when `index` is outside the window or already filled.
    pub fn insert(&mut self, index: usize, value: T) -> Result<(), T> {
        if !self.admits(index) {
            return Err(value);
        }
        let pos = index - self.next;
        if pos >= self.slots.len() {
            self.slots.resize_with(pos + 1, || None);
        }
        let slot = &mut self.slots[pos];
        if slot.is_some() {
            return Err(value);
        }
        *slot = Some(value);
        self.held += 1;
        Ok(())
    }

    /// Takes the result of the next index in order, if it has arrived.
    pub fn pop(&mut self) -> Option<T> {
        let value = self.slots.front_mut()?.take()?;
        self.slots.pop_front();
        self.next += 1;
        self.held -= 1;
        Some(value)
    }
}

#[cfg(all(test, not(tidewater_loom)))]
mod tests {
    use super::Reorder;

    #[test]
    fn delivers_in_order_and_refuses_outside_the_window_or_twice() {
        let mut r = Reorder::new(3);
        assert_eq!(r.insert(3, 'd'), Err('d'), "outside the window");
        assert_eq!(r.insert(2, 'c'), Ok(()));
        assert_eq!(r.insert(2, 'x'), Err('x'), "second result for one index");
        assert_eq!(r.pop(), None, "index 0 has not arrived");
        assert_eq!(r.insert(0, 'a'), Ok(()));
        assert_eq!(r.pop(), Some('a'));
        assert_eq!(r.pop(), None);
        assert_eq!(r.insert(3, 'd'), Ok(()), "the window moved");
        assert_eq!(r.insert(1, 'b'), Ok(()));
        assert_eq!(r.held(), 3);
        let rest: Vec<char> = std::iter::from_fn(|| r.pop()).collect();
        assert_eq!(rest, vec!['b', 'c', 'd']);
        assert_eq!(r.held(), 0);
        assert!(!r.admits(3) && r.admits(4) && r.admits(6) && !r.admits(7));
    }
}
