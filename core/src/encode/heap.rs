//! The O(n log n) merge for any piece and any rank table: a linked list of tokens and a
//! priority queue of pairs.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::backtrack::LongMerges;
use super::merge::SCAN_MAX;
use super::Tokenizer;

impl Tokenizer {
    /// O(n log n) merge for any piece and any rank table: a doubly linked list of tokens
    /// and a priority queue of `(rank, position)` with lazy deletion. Popping the least
    /// `(rank, position)` whose pair is still current is exactly tiktoken's "lowest rank,
    /// leftmost" choice.
    pub(super) fn merge_heap(&self, piece: &[u8], out: &mut Vec<u32>) {
        self.merge_heap_with(piece, out, self.long_merges(), u32::MAX);
    }

    /// [`Tokenizer::merge_heap`] with pairs that join into more than [`SCAN_MAX`] bytes
    /// looked up in `long` by their ids (exact by fact 3 of [`super::backtrack`]; a lookup costs the
    /// same whatever the tokens' length), except that the pair spanning all of `piece`
    /// has rank `whole` if that is not `u32::MAX`. Returns the last pair merged.
    pub(super) fn merge_heap_with(
        &self,
        piece: &[u8],
        out: &mut Vec<u32>,
        long: &LongMerges,
        whole: u32,
    ) -> (u32, u32) {
        if piece.len() < 1 << 32 {
            self.merge_heap_keyed::<u64>(piece, out, long, whole)
        } else {
            self.merge_heap_keyed::<u128>(piece, out, long, whole)
        }
    }

    fn merge_heap_keyed<K: HeapKey>(
        &self,
        piece: &[u8],
        out: &mut Vec<u32>,
        long: &LongMerges,
        whole: u32,
    ) -> (u32, u32) {
        const NONE: usize = usize::MAX;
        let n = piece.len();
        let mut next: Vec<usize> = (1..=n).map(|i| if i == n { NONE } else { i }).collect();
        let mut prev: Vec<usize> = (0..n).map(|i| if i == 0 { NONE } else { i - 1 }).collect();
        let mut ids: Vec<u32> = piece.iter().map(|&b| self.byte_ranks[b as usize]).collect();
        let pair_rank = |next: &[usize], ids: &[u32], i: usize| -> u32 {
            let j = next[i];
            if j == NONE {
                return u32::MAX;
            }
            let end = if next[j] == NONE { n } else { next[j] };
            if end - i <= SCAN_MAX {
                self.rank(&piece[i..end])
            } else if i == 0 && end == n && whole != u32::MAX {
                whole
            } else if end - i > self.max_token_len {
                u32::MAX
            } else {
                long.rank(ids[i], ids[j])
            }
        };
        // The rank of the pair that token `i` starts; `u32::MAX` if none, or if `i` was
        // merged away (so its entries in the heap are stale).
        let mut cur: Vec<u32> = (0..n).map(|i| pair_rank(&next, &ids, i)).collect();
        let mut queue: PairQueue<K> = PairQueue::new(
            cur.iter().enumerate().filter(|(_, &r)| r != u32::MAX).map(|(i, &r)| K::new(r, i)).collect(),
        );
        let mut last = (u32::MAX, u32::MAX);
        while let Some(key) = queue.pop() {
            let (r, i) = (key.rank(), key.pos());
            if cur[i] != r {
                continue;
            }
            let j = next[i];
            cur[j] = u32::MAX;
            last = (ids[i], ids[j]);
            ids[i] = r;
            next[i] = next[j];
            if next[j] != NONE {
                prev[next[j]] = i;
            }
            cur[i] = pair_rank(&next, &ids, i);
            if cur[i] != u32::MAX {
                queue.push(K::new(cur[i], i));
            }
            let p = prev[i];
            if p != NONE {
                cur[p] = pair_rank(&next, &ids, p);
                if cur[p] != u32::MAX {
                    queue.push(K::new(cur[p], p));
                }
            }
        }
        let mut i = 0;
        while i != NONE {
            out.push(ids[i]);
            i = next[i];
        }
        last
    }
}

/// The heap merge's priority queue: a sorted queue, and a heap for what arrives out of
/// order. The initial pairs are sorted into the queue; a pair made by a merge goes to
/// the queue's back when it sorts after it, else to the heap. Merges of one rank go left
/// to right, so the pairs they make mostly arrive in order: on long runs (where a heap of
/// a million entries spent most of the merge in `pop`'s cache misses) nearly every
/// operation is at an end of the queue.
struct PairQueue<K> {
    queue: std::collections::VecDeque<K>,
    heap: BinaryHeap<Reverse<K>>,
}

impl<K: HeapKey> PairQueue<K> {
    fn new(mut keys: Vec<K>) -> Self {
        keys.sort_unstable();
        PairQueue { queue: keys.into(), heap: BinaryHeap::new() }
    }

    #[inline]
    fn push(&mut self, key: K) {
        if self.queue.back().is_none_or(|&b| b <= key) {
            self.queue.push_back(key);
        } else {
            self.heap.push(Reverse(key));
        }
    }

    /// The least key.
    #[inline]
    fn pop(&mut self) -> Option<K> {
        match (self.queue.front(), self.heap.peek()) {
            (Some(&q), Some(&Reverse(h))) if h < q => self.heap.pop().map(|r| r.0),
            (Some(_), _) => self.queue.pop_front(),
            (None, _) => self.heap.pop().map(|r| r.0),
        }
    }
}

/// A heap merge's entry: a pair's rank and its position, ordered by rank, then position
/// (one integer: the queue moves and compares 8 bytes per entry, not 16).
trait HeapKey: Ord + Copy {
    fn new(rank: u32, pos: usize) -> Self;
    fn rank(self) -> u32;
    fn pos(self) -> usize;
}

/// For pieces shorter than 4 GiB.
impl HeapKey for u64 {
    #[inline]
    fn new(rank: u32, pos: usize) -> Self {
        u64::from(rank) << 32 | pos as u64
    }
    #[inline]
    fn rank(self) -> u32 {
        (self >> 32) as u32
    }
    #[inline]
    fn pos(self) -> usize {
        (self & 0xffff_ffff) as usize
    }
}

impl HeapKey for u128 {
    #[inline]
    fn new(rank: u32, pos: usize) -> Self {
        u128::from(rank) << 64 | pos as u128
    }
    #[inline]
    fn rank(self) -> u32 {
        (self >> 64) as u32
    }
    #[inline]
    fn pos(self) -> usize {
        self as u64 as usize
    }
}
