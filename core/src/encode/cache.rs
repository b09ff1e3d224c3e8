//! Per-thread caches for the tokenizers a thread used most recently.
//!
//! Encoding remembers work per thread and per tokenizer: the merged short pieces
//! ([`super::merge`]) and the backtracking search's pair checks and merge histories
//! ([`super::backtrack`]). Both keep their values in a [`Recent`] in a `thread_local!`,
//! reached through [`with_recent`]. The contract, for every such cache:
//! - A value belongs to one tokenizer, named by its unique id (`Tokenizer::id`, never
//!   reused in the process; clones share it, and their ranks). So no lock is taken, no
//!   thread sees another's value, and a value is never used for another tokenizer's ranks.
//! - At most `SLOTS` values per thread, most recently used first; a tokenizer met when
//!   all slots are taken takes over the least recently used one (whose value the cache
//!   may reuse or drop). Each value bounds its own size (its module says how).
//! - A call that finds the thread's cache already in use (a merge re-entered on the same
//!   thread) or gone (the thread is exiting) runs without it, with the same result.

use std::cell::RefCell;
use std::thread::LocalKey;

/// One thread's values for the `SLOTS` tokenizers it used most recently (see the module
/// notes).
pub(super) struct Recent<T, const SLOTS: usize> {
    /// `(tokenizer id, value)`, most recently used first.
    slots: Vec<(u64, T)>,
}

impl<T, const SLOTS: usize> Recent<T, SLOTS> {
    pub(super) const fn new() -> Self {
        Recent { slots: Vec::new() }
    }

    /// The value for tokenizer `owner`, now the most recently used. If there is none,
    /// `make` makes it, given the least recently used value when all slots are taken
    /// (to reuse its storage, or drop it).
    #[inline]
    pub(super) fn get(&mut self, owner: u64, make: impl FnOnce(Option<T>) -> T) -> &mut T {
        match self.slots.iter().position(|s| s.0 == owner) {
            Some(0) => {}
            Some(i) => self.slots[..=i].rotate_right(1),
            None => {
                let old = if self.slots.len() < SLOTS { None } else { self.slots.pop().map(|s| s.1) };
                self.slots.insert(0, (owner, make(old)));
            }
        }
        &mut self.slots[0].1
    }

    /// The value for `owner`, if the thread has one (without making it the most recent).
    #[cfg(test)]
    pub(super) fn peek(&self, owner: u64) -> Option<&T> {
        self.slots.iter().find(|s| s.0 == owner).map(|s| &s.1)
    }
}

/// Runs `f` with this thread's value in `cache` for tokenizer `owner` (made by `make` as
/// in [`Recent::get`]), or with `None` if the cache is in use or gone (see the module
/// notes).
#[inline]
pub(super) fn with_recent<T: 'static, const SLOTS: usize, R>(
    cache: &'static LocalKey<RefCell<Recent<T, SLOTS>>>,
    owner: u64,
    make: impl FnOnce(Option<T>) -> T,
    f: impl FnOnce(Option<&mut T>) -> R,
) -> R {
    let mut f = Some(f);
    let done = cache.try_with(|c| match c.try_borrow_mut() {
        Ok(mut recent) => f.take().map(|f| f(Some(recent.get(owner, make)))),
        Err(_) => None,
    });
    match (done, f) {
        (Ok(Some(r)), _) => r,
        (_, Some(f)) => f(None),
        // `f` was taken only by the branch that returned its result.
        (_, None) => unreachable!(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_most_recent_and_hands_back_the_least_recent() {
        let mut r: Recent<Vec<u64>, 2> = Recent::new();
        r.get(1, |old| {
            assert!(old.is_none());
            vec![1]
        });
        r.get(2, |_| vec![2]).push(20);
        assert_eq!(r.get(1, |_| unreachable!()), &[1]); // 1 is now the most recent
        let reused = std::cell::Cell::new(None);
        r.get(3, |old| {
            reused.set(old.clone());
            vec![3]
        });
        assert_eq!(reused.take(), Some(vec![2, 20]), "2 was the least recently used");
        assert!(r.peek(2).is_none() && r.peek(1).is_some() && r.peek(3).is_some());
    }

    thread_local! {
        static CACHE: RefCell<Recent<u32, 2>> = const { RefCell::new(Recent::new()) };
    }

    #[test]
    fn a_reentrant_call_runs_without_the_cache() {
        let got = with_recent(
            &CACHE,
            7,
            |_| 5,
            |outer| {
                let inner = with_recent(&CACHE, 7, |_| 6, |inner| inner.is_none());
                (outer.copied(), inner)
            },
        );
        assert_eq!(got, (Some(5), true));
    }
}
