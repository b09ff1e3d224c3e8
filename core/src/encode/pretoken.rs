//! The pretoken cache: a fixed-size table from short pieces to their tokens, one per
//! thread and tokenizer, in front of every route of [`super::merge`] for pieces of 3 to
//! [`SHORT_MAX`] bytes (whole tokens included).
//!
//! Design notes
//! - Why cache whole tokens too: the rank table is megabytes (cl100k's short tokens
//!   alone are ~1.5 MiB of slots, o200k's 4 MiB), so a lookup in it is mostly a cache
//!   miss, while the pieces that make up most of a text are a few thousand. A table of
//!   the recent pieces that stays in the core's L2 cache answers most of them in one
//!   cache line.
//! - Shape: [`SETS`] sets of two ways; an entry is 32 bytes (the packed key of
//!   [`pack`](crate::bytemap::pack), up to [`INLINE`] ids and a count), a set is one
//!   64-byte-aligned cache line, so a lookup touches one line. A new piece goes to way 0
//!   and moves way 0 to way 1 (the older of the two is dropped). The hash is two
//!   multiplications of the key's halves; its top bits pick the set.
//! - Hit rates of pieces of 3 to 15 bytes on 8 MB of each corpus (cl100k's split; a
//!   2-way table as here, by entries): 4K: English 77%, code 90%, multilingual 65%;
//!   16K: 85%, 93%, 73%; 64K: 90%, 95%, 81%. Direct-mapped loses about 2 points at each
//!   size. 16K entries (512 KiB) is the size kept: it fits the L2 cache of one core
//!   (1 MiB on the machine measured) next to the hot part of the rank table; 64K
//!   entries (2 MiB) do not, and 4K entries miss a third more often than 16K.
//! - A miss is not expensive: a whole token goes to the rank table as before, and a
//!   piece of 6 bytes or more that is not a token to the unbounded-by-pieces
//!   [`super::merge`] piece cache behind this one, so pieces evicted here are rarely
//!   merged again.
//! - Pieces of more than [`INLINE`] tokens (rare but for CJK and Thai: a piece of 15
//!   bytes has at most 15) keep their ids in a side arena of at most [`ARENA_MAX`] ids;
//!   the entry holds the offset and the arena's epoch, and the arena starts over (a new
//!   epoch, so older such entries miss) when full.
//! - Memory bound per table: `SETS * 64` bytes plus the arena, `4 * ARENA_MAX` bytes:
//!   576 KiB, allocated on the first insert. A thread keeps one per tokenizer slot of
//!   [`super::merge`]'s caches (4 slots: at most 2.25 MiB per thread).
//! - The keys are exact (the whole packed piece, its length included), so a collision
//!   costs a miss, never a wrong answer. The empty key (0) is never looked up: pieces
//!   here have 3 bytes or more.

use crate::bytemap::SHORT_MAX;

/// Sets in a table (a power of two): two entries each.
pub(super) const SETS_LOG2: u32 = 13;
const SETS: usize = 1 << SETS_LOG2;

/// Ids stored in the entry itself.
pub(super) const INLINE: usize = 3;

/// Ids in a table's side arena before it starts over.
pub(super) const ARENA_MAX: usize = 1 << 14;
const _: () = assert!(ARENA_MAX >= SHORT_MAX, "a piece's ids always fit in an empty arena");

#[derive(Clone, Copy, Default)]
#[repr(C)]
struct Entry {
    /// The packed piece; 0 for an empty entry.
    key: u128,
    /// The ids if `n <= INLINE`; else `[arena offset, arena epoch, _]`.
    ids: [u32; INLINE],
    n: u32,
}

#[derive(Clone, Copy, Default)]
#[repr(C, align(64))]
struct Set([Entry; 2]);

const _: () = assert!(std::mem::size_of::<Set>() == 64, "a set is one cache line");

/// One thread's pretoken cache for one tokenizer (see the module notes).
pub(super) struct Pretokens {
    sets: Box<[Set]>,
    arena: Vec<u32>,
    epoch: u32,
}

impl Pretokens {
    /// An empty table; its storage is allocated by the first insert (a thread that
    /// encodes one short text does not pay for the whole table).
    pub(super) fn new() -> Pretokens {
        Pretokens { sets: Box::default(), arena: Vec::new(), epoch: 0 }
    }

    /// Empties the table, keeping its storage.
    pub(super) fn clear(&mut self) {
        self.sets.fill(Set::default());
        self.arena.clear();
        self.epoch = 0;
    }

    /// The set of a packed key: a multiplicative hash of its two halves, top bits.
    #[inline(always)]
    fn set_of(key: u128) -> usize {
        let (lo, hi) = (key as u64, (key >> 64) as u64);
        let h = (lo.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ hi).wrapping_mul(0xd6e8_feb8_6659_fd93);
        (h >> (64 - SETS_LOG2)) as usize
    }

    /// The tokens of the piece packed as `key` (nonzero), if cached.
    #[inline]
    pub(super) fn get(&self, key: u128) -> Option<&[u32]> {
        let set = &self.sets.get(Self::set_of(key))?.0;
        let e = if set[0].key == key {
            &set[0]
        } else if set[1].key == key {
            &set[1]
        } else {
            return None;
        };
        let n = e.n as usize;
        if n <= INLINE {
            return Some(&e.ids[..n]);
        }
        let off = e.ids[0] as usize;
        (e.ids[1] == self.epoch).then(|| &self.arena[off..off + n])
    }

    /// Caches `ids` (at most [`SHORT_MAX`]) as the tokens of the piece packed as `key`.
    #[inline]
    pub(super) fn insert(&mut self, key: u128, ids: &[u32]) {
        debug_assert!(key != 0 && ids.len() <= SHORT_MAX);
        let n = ids.len();
        let mut e = Entry { key, ids: [0; INLINE], n: n as u32 };
        if n <= INLINE {
            e.ids[..n].copy_from_slice(ids);
        } else {
            if self.arena.len() + n > ARENA_MAX {
                self.arena.clear();
                if self.epoch == u32::MAX {
                    // Entries of every epoch could match again: start over.
                    self.sets.fill(Set::default());
                    self.epoch = 0;
                } else {
                    self.epoch += 1;
                }
            }
            e.ids = [self.arena.len() as u32, self.epoch, 0];
            self.arena.extend_from_slice(ids);
        }
        if self.sets.is_empty() {
            self.sets = vec![Set::default(); SETS].into_boxed_slice();
        }
        let set = &mut self.sets[Self::set_of(key)].0;
        set[1] = set[0];
        set[0] = e;
    }

    /// The set a key goes to, for tests that make collisions.
    #[cfg(test)]
    pub(super) fn set_index(key: u128) -> usize {
        Self::set_of(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bytemap::pack;

    /// Keys of pieces `prefix ++ i` until three land in one set.
    fn three_in_one_set() -> [u128; 3] {
        let mut by_set: hashbrown::HashMap<usize, Vec<u128>> = hashbrown::HashMap::new();
        for i in 0u32.. {
            let key = pack(format!("abc{i}").as_bytes()).unwrap();
            let keys = by_set.entry(Pretokens::set_index(key)).or_default();
            keys.push(key);
            if keys.len() == 3 {
                return [keys[0], keys[1], keys[2]];
            }
        }
        unreachable!()
    }

    #[test]
    fn colliding_keys_keep_the_two_most_recent() {
        let mut p = Pretokens::new();
        let [a, b, c] = three_in_one_set();
        p.insert(a, &[1]);
        p.insert(b, &[2, 3]);
        assert_eq!((p.get(a), p.get(b)), (Some(&[1][..]), Some(&[2, 3][..])));
        p.insert(c, &[4, 5, 6]);
        assert_eq!((p.get(a), p.get(b), p.get(c)), (None, Some(&[2, 3][..]), Some(&[4, 5, 6][..])));
        p.clear();
        assert_eq!((p.get(b), p.get(c)), (None, None));
    }

    #[test]
    fn many_ids_go_to_the_arena_and_miss_after_it_starts_over() {
        let mut p = Pretokens::new();
        let first = pack(b"first piece").unwrap();
        let ids: Vec<u32> = (0..11).collect();
        p.insert(first, &ids);
        assert_eq!(p.get(first), Some(&ids[..]));
        // Fill the arena until it starts over; each entry stays right until then.
        let mut i = 0u32;
        while p.epoch == 0 {
            let key = pack(format!("piece {i}").as_bytes()).unwrap();
            let many: Vec<u32> = (i..i + 4 + i % 8).collect();
            p.insert(key, &many);
            assert_eq!(p.get(key), Some(&many[..]));
            i += 1;
        }
        assert_eq!(p.get(first), None, "its ids were in the old arena");
        assert!(p.arena.len() <= ARENA_MAX);
    }

    #[test]
    fn keys_differing_only_in_length_are_distinct() {
        let mut p = Pretokens::new();
        let (a, b) = (pack(b"ab\0").unwrap(), pack(b"ab\0\0").unwrap());
        p.insert(a, &[7]);
        assert_eq!((p.get(a), p.get(b)), (Some(&[7][..]), None));
    }
}
