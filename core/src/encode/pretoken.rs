//! The pretoken cache: a fixed-size table from short pieces to their tokens, one per
//! thread and tokenizer, in front of every route of [`super::merge`] for pieces of up to
//! [`SHORT_MAX`] bytes (whole tokens included; pieces of one and two bytes only on the
//! chunked path, see [`super::merge`]).
//!
//! Design notes
//! - Why cache whole tokens too: the rank table is megabytes (cl100k's short tokens
//!   alone are 4 MiB of lines, o200k's 8 MiB), so a lookup in it is mostly a cache
//!   miss, while the pieces that make up most of a text are a few thousand, and one
//!   table answers every short piece in one probe whatever route it would take.
//! - Shape: open addressing over pairs of 32-byte entries, each pair one 64-byte-aligned
//!   cache line. An entry is the packed key of [`pack`](crate::bytemap::pack), up to
//!   [`INLINE`] ids and a count. A key hashes (two multiplications of its halves, top
//!   bits) to a pair and sits in the first free entry of that pair or the next ones
//!   (entry 0 of a pair fills before entry 1); a lookup stops at the first pair whose
//!   entry 1 is free. Nothing is evicted one by one: a piece seen once is answered from
//!   then on, until the table starts over (below). (A 2-way set-associative table of fixed size lost
//!   pieces to conflicts: on text that repeats a few thousand distinct pieces a few
//!   percent of lookups missed, and each miss of a piece that is not a token cost a
//!   merge of thousands of instructions.)
//! - Size: it starts at [`MIN_PAIRS`] pairs and doubles at half load, up to [`MAX_PAIRS`]
//!   pairs; at that size it fills to 3/4, then starts over empty. The load is a trade of
//!   memory for speed: a key that is not in its home pair costs a second line and a
//!   mispredicted branch, and at 3/4 load about one key in five is not (2 MB of English
//!   in documents, cached, ran 7-8% slower at 3/4 than at 1/2); at the largest size,
//!   room for more pieces is worth more. Distinct pieces of 3 to 15 bytes in
//!   8 MB of each sample (cl100k's split): English 99K, code 51K, multilingual 127K; the
//!   largest table holds 786K. A table that starts over loses the common pieces with the
//!   rest, and each is merged again: with a largest table of 196K, 16 MB of the
//!   multilingual sample encoded a second time ran at 103-106 MB/s (o200k_base), with
//!   this one at 190-205 (English and code, whose pieces fit either, unchanged); at 98K,
//!   English started over every few MB and ran 1.7x slower. The lookups of a table this
//!   size miss the core's caches, which is why [`super::merge`] requests a chunk of
//!   pieces' lines before using them.
//!   Text whose pieces never repeat (random bytes as latin-1) fills any size, and there
//!   [`super::merge`] turns the cache off.
//! - Pieces of more than [`INLINE`] tokens (rare but for CJK and Thai: a piece of 15
//!   bytes has at most 15) keep their ids in a side arena of at most [`ARENA_MAX`] ids;
//!   the entry holds the offset and the arena's epoch, and the arena starts over (a new
//!   epoch, so older such entries miss) when full.
//! - Memory bound per table: `MAX_PAIRS * 64` bytes plus the arena, `4 * ARENA_MAX`
//!   bytes: 33 MiB (and 16 MiB more for a moment while the table doubles to its largest
//!   size), reached only by text with that many distinct short pieces (more than 262K:
//!   the table grows as it fills); a thread that encodes a few pages holds a table of
//!   128 KiB. The arena holds about as many ids as
//!   a full table's CJK or Thai pieces have beyond their first three. The per-thread
//!   total is in [`super::merge`]'s notes.
//! - The keys are exact (the whole packed piece, its length included), so a collision
//!   costs a probe of the next pair, never a wrong answer. The empty key (0) marks a
//!   free entry and is never looked up: pieces here have a byte or more.

use crate::bytemap::SHORT_MAX;

/// Pairs of a new table (a power of two).
const MIN_PAIRS: usize = 1 << 11;
/// Pairs of the largest table (a power of two): 32 MiB.
pub(super) const MAX_PAIRS: usize = 1 << 19;

/// Ids stored in the entry itself.
pub(super) const INLINE: usize = 3;

/// Ids in a table's side arena before it starts over.
pub(super) const ARENA_MAX: usize = 1 << 18;
const _: () = assert!(ARENA_MAX >= SHORT_MAX, "a piece's ids always fit in an empty arena");

#[derive(Clone, Copy, Default)]
#[repr(C)]
struct Entry {
    /// The packed piece; 0 for a free entry.
    key: u128,
    /// The ids if `n <= INLINE`; else `[arena offset, arena epoch, _]`.
    ids: [u32; INLINE],
    n: u32,
}

#[derive(Clone, Copy, Default)]
#[repr(C, align(64))]
struct Pair([Entry; 2]);

const _: () = assert!(std::mem::size_of::<Pair>() == 64, "a pair is one cache line");

/// A cached piece's ids (see [`Pretokens::lookup`]).
pub(super) enum Hit<'a> {
    /// All [`INLINE`] slots of the entry, and how many are the piece's ids.
    Inline(&'a [u32; INLINE], usize),
    /// The ids of a piece of more than [`INLINE`] tokens.
    Arena(&'a [u32]),
}

/// One thread's pretoken cache for one tokenizer (see the module notes).
pub(super) struct Pretokens {
    pairs: Box<[Pair]>,
    /// Entries in use.
    len: usize,
    arena: Vec<u32>,
    epoch: u32,
}

/// The pair a packed key hashes to in a table of `pairs` pairs (a power of two).
#[inline(always)]
fn home(key: u128, pairs: usize) -> usize {
    let (lo, hi) = (key as u64, (key >> 64) as u64);
    let h = (lo.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ hi).wrapping_mul(0xd6e8_feb8_6659_fd93);
    // The top bits. (For an empty table the shift is 0 and the index is out of range:
    // callers index with `get`, so every lookup misses.)
    h.checked_shr(64 - pairs.trailing_zeros()).unwrap_or(0) as usize
}

impl Pretokens {
    /// An empty table; its storage is allocated by the first insert (a thread that
    /// encodes one short text does not pay for the whole table).
    pub(super) fn new() -> Pretokens {
        Pretokens { pairs: Box::default(), len: 0, arena: Vec::new(), epoch: 0 }
    }

    /// Empties the table, keeping its storage.
    pub(super) fn clear(&mut self) {
        self.pairs.fill(Pair::default());
        self.len = 0;
        self.arena.clear();
        self.epoch = 0;
    }

    /// The index (pair, entry) of `key` (nonzero), if present.
    #[inline(always)]
    fn find(&self, key: u128) -> Option<(usize, usize)> {
        self.find_from(key, self.home(key))
    }

    /// [`Pretokens::find`] from the key's home pair, already computed.
    #[inline(always)]
    fn find_from(&self, key: u128, home: usize) -> Option<(usize, usize)> {
        let mask = self.pairs.len().wrapping_sub(1);
        let mut i = home;
        loop {
            let pair = &self.pairs.get(i)?.0;
            if pair[0].key == key {
                return Some((i, 0));
            }
            if pair[1].key == key {
                return Some((i, 1));
            }
            if pair[1].key == 0 {
                return None; // (entries fill a pair in order: a free second one ends the walk)
            }
            i = (i + 1) & mask;
        }
    }

    /// The pair a lookup of `key` reads first (out of range while the table is empty).
    #[inline(always)]
    pub(super) fn home(&self, key: u128) -> usize {
        home(key, self.pairs.len())
    }

    /// Starts loading the pair `home` (see [`crate::simd::prefetch`]).
    #[inline(always)]
    pub(super) fn prefetch(&self, home: usize) {
        if let Some(pair) = self.pairs.get(home) {
            crate::simd::prefetch(pair);
        }
    }

    /// The tokens of the piece packed as `key` (nonzero), if cached.
    #[inline]
    pub(super) fn get(&self, key: u128) -> Option<&[u32]> {
        self.get_from(key, self.home(key))
    }

    /// [`Pretokens::get`] given the key's [`Pretokens::home`], as an entry's three
    /// inline id slots and how many of them are ids (so a caller can copy all three
    /// without a branch on the count), or the ids of a longer piece.
    #[inline(always)]
    pub(super) fn lookup(&self, key: u128, home: usize) -> Option<Hit<'_>> {
        let e = self.entry(key, home)?;
        let n = e.n as usize;
        if n <= INLINE {
            return Some(Hit::Inline(&e.ids, n));
        }
        let off = e.ids[0] as usize;
        (e.ids[1] == self.epoch).then(|| Hit::Arena(&self.arena[off..off + n]))
    }

    /// The entry of `key` (nonzero) from its home pair, if present. The home pair's
    /// entry is picked by index, not by a branch (which of the two holds a key is a coin
    /// toss that a branch predictor loses: 8-9% of an encode of cached pieces); a key
    /// in neither walks on, out of line.
    #[inline(always)]
    fn entry(&self, key: u128, home: usize) -> Option<&Entry> {
        let pair = &self.pairs.get(home)?.0;
        let e = &pair[usize::from(pair[0].key != key)];
        if e.key == key {
            Some(e)
        } else {
            self.entry_past_home(key, home)
        }
    }

    /// [`Pretokens::entry`] past the home pair.
    #[inline(never)]
    fn entry_past_home(&self, key: u128, home: usize) -> Option<&Entry> {
        let (i, j) = self.find_from(key, home)?;
        Some(&self.pairs[i].0[j])
    }

    /// [`Pretokens::get`] given the key's [`Pretokens::home`].
    #[inline(always)]
    pub(super) fn get_from(&self, key: u128, home: usize) -> Option<&[u32]> {
        let e = self.entry(key, home)?;
        let n = e.n as usize;
        if n <= INLINE {
            return Some(&e.ids[..n]);
        }
        let off = e.ids[0] as usize;
        (e.ids[1] == self.epoch).then(|| &self.arena[off..off + n])
    }

    /// Caches `ids` (at most [`SHORT_MAX`]) as the tokens of the piece packed as `key`
    /// (after [`Pretokens::get`] missed: the key is absent, or its ids were in an older
    /// arena).
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
                    self.pairs.fill(Pair::default());
                    self.len = 0;
                    self.epoch = 0;
                } else {
                    self.epoch += 1;
                }
            }
            e.ids = [self.arena.len() as u32, self.epoch, 0];
            self.arena.extend_from_slice(ids);
        }
        if n > INLINE {
            if let Some((i, j)) = self.find(key) {
                self.pairs[i].0[j] = e; // its ids were in an older arena
                return;
            }
        }
        if self.len + 1 > self.max_len() {
            self.grow();
        }
        self.place(e);
        self.len += 1;
    }

    /// Puts `e` in the first free entry from its home pair (the load is below 1).
    #[inline]
    fn place(&mut self, e: Entry) {
        let mask = self.pairs.len() - 1;
        let mut i = home(e.key, self.pairs.len());
        loop {
            let pair = &mut self.pairs[i].0;
            if let Some(free) = pair.iter_mut().find(|f| f.key == 0) {
                *free = e;
                return;
            }
            i = (i + 1) & mask;
        }
    }

    /// The entries the table holds before it grows: half its entries below
    /// [`MAX_PAIRS`], three quarters at that size (see the module notes).
    fn max_len(&self) -> usize {
        let pairs = self.pairs.len();
        if pairs < MAX_PAIRS {
            pairs
        } else {
            pairs / 2 * 3
        }
    }

    /// Doubles the table, or empties it at [`MAX_PAIRS`].
    #[cold]
    fn grow(&mut self) {
        let size = match self.pairs.len() {
            0 => MIN_PAIRS,
            n if n >= MAX_PAIRS => {
                // Full at the largest size: start over (see the module notes).
                self.pairs.fill(Pair::default());
                self.len = 0;
                return;
            }
            n => 2 * n,
        };
        let old = std::mem::replace(&mut self.pairs, vec![Pair::default(); size].into_boxed_slice());
        for e in old.iter().flat_map(|p| p.0).filter(|e| e.key != 0) {
            self.place(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bytemap::pack;

    /// Keys of pieces `abc{i}` until `n` have the same home pair in a table of `pairs`.
    fn same_home(n: usize, pairs: usize) -> Vec<u128> {
        let mut by_home: hashbrown::HashMap<usize, Vec<u128>> = hashbrown::HashMap::new();
        for i in 0u32.. {
            let key = pack(format!("abc{i}").as_bytes()).unwrap();
            let keys = by_home.entry(home(key, pairs)).or_default();
            keys.push(key);
            if keys.len() == n {
                return keys.clone();
            }
        }
        unreachable!()
    }

    #[test]
    fn colliding_keys_are_all_kept() {
        let mut p = Pretokens::new();
        let keys = same_home(5, MIN_PAIRS);
        for (i, &k) in keys.iter().enumerate() {
            assert_eq!(p.get(k), None);
            p.insert(k, &[i as u32, 7]);
        }
        assert_eq!(p.pairs.len(), MIN_PAIRS);
        for (i, &k) in keys.iter().enumerate() {
            assert_eq!(p.get(k), Some(&[i as u32, 7][..]));
        }
        p.clear();
        assert!(keys.iter().all(|&k| p.get(k).is_none()));
    }

    #[test]
    fn grows_keeping_entries_then_starts_over_when_full() {
        let mut p = Pretokens::new();
        let key = |i: u32| pack(format!("piece {i}").as_bytes()).unwrap();
        let full = (3 * 2 * MAX_PAIRS / 4) as u32;
        for i in 0..full {
            p.insert(key(i), &[i]);
        }
        assert_eq!((p.pairs.len(), p.len), (MAX_PAIRS, full as usize));
        for i in (0..full).step_by(97) {
            assert_eq!(p.get(key(i)), Some(&[i][..]));
        }
        p.insert(key(full), &[full]);
        assert_eq!((p.pairs.len(), p.len), (MAX_PAIRS, 1), "started over at the largest size");
        assert_eq!((p.get(key(0)), p.get(key(full))), (None, Some(&[full][..])));
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
