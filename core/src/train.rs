//! Training: count pieces, then learn merges.
//!
//! The two phases are separate and public, so counting can run anywhere (threads,
//! machines) and its tables be merged before one merge phase:
//! [`PieceCounts`] (count, merge two tables) and [`train_from_counts`].
//!
//! **Selection rule** (the one karpathy's `rustbpe` uses, which decides parity): each
//! step merges the adjacent pair with the highest count, counting every adjacent
//! window of every piece weighted by the piece's count; on equal counts the smallest
//! `(left_id, right_id)` wins. Bytes have ids 0–255 and merge `k` gets id `256 + k`.
//! Merges are applied left to right without overlap. Training stops early, without
//! error, when no pair is left.
//!
//! Design notes
//! - Incremental: after a merge only the words that contain the pair are rewritten, and
//!   only the pairs they touch change count. A lazy max-heap holds `(count, pair)` jobs;
//!   a popped job whose count is stale is pushed back with the current count. This is
//!   exact because a pair only gains occurrences in the step that creates its newest
//!   token, so stored counts are never below current ones.
//! - Counts are `u64` (pair counts `i64` while deltas are applied): no 32-bit overflow
//!   on large corpora.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use hashbrown::HashMap;
use rayon::prelude::*;

use crate::encode::Tokenizer;
use crate::error::{Error, Result};
use crate::pattern::Pattern;

/// The counting phase's result: how often each unique piece occurred.
///
/// Memory grows with the number of unique pieces, not with the amount of text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PieceCounts {
    counts: HashMap<Box<[u8]>, u64>,
    texts: u64,
    bytes: u64,
}

impl PieceCounts {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts the pieces of one text.
    ///
    /// # Errors
    /// [`crate::ErrorKind::BadPattern`] if the regex engine fails; the table is then unchanged.
    pub fn count_text(pattern: &Pattern, text: &str) -> Result<Self> {
        let mut local = PieceCounts::new();
        pattern.for_each_piece(text, |piece| local.add_piece(piece.as_bytes(), 1))?;
        local.texts = 1;
        local.bytes = text.len() as u64;
        Ok(local)
    }

    /// Counts many texts in parallel (each text is split on its own).
    ///
    /// # Errors
    /// The first regex failure; no partial table is returned.
    pub fn count_batch<S: AsRef<str> + Sync>(pattern: &Pattern, texts: &[S]) -> Result<Self> {
        texts
            .par_iter()
            .try_fold(PieceCounts::new, |mut acc, text| {
                let text = text.as_ref();
                pattern.for_each_piece(text, |piece| acc.add_piece(piece.as_bytes(), 1))?;
                acc.texts += 1;
                acc.bytes += text.len() as u64;
                Ok(acc)
            })
            .try_reduce(PieceCounts::new, |mut a, b| {
                a.merge(b);
                Ok(a)
            })
    }

    /// Adds `count` occurrences of `piece`.
    pub fn add_piece(&mut self, piece: &[u8], count: u64) {
        if let Some(c) = self.counts.get_mut(piece) {
            *c += count;
        } else {
            self.counts.insert(piece.into(), count);
        }
    }

    /// Adds every count of `other` into `self` (order does not matter).
    pub fn merge(&mut self, other: PieceCounts) {
        let (mut big, small) = if self.counts.len() >= other.counts.len() {
            (std::mem::take(self), other)
        } else {
            (other, std::mem::take(self))
        };
        for (piece, c) in small.counts {
            *big.counts.entry(piece).or_insert(0) += c;
        }
        big.texts += small.texts;
        big.bytes += small.bytes;
        *self = big;
    }

    /// Number of unique pieces.
    pub fn len(&self) -> usize {
        self.counts.len()
    }

    /// Whether no piece was counted.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// Number of texts counted.
    pub fn texts(&self) -> u64 {
        self.texts
    }

    /// Number of text bytes counted.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The count of one piece (0 if unseen).
    pub fn get(&self, piece: &[u8]) -> u64 {
        self.counts.get(piece).copied().unwrap_or(0)
    }

    /// Every `(piece, count)`, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], u64)> + '_ {
        self.counts.iter().map(|(p, &c)| (&**p, c))
    }
}

/// The merges learned by [`train_from_counts`], in order: merge `k` made token `256 + k`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrainResult {
    /// `(left_id, right_id)` of each merge.
    pub merges: Vec<(u32, u32)>,
}

impl TrainResult {
    /// The bytes of every token, ids `0..256 + merges.len()`.
    pub fn token_bytes(&self) -> Vec<Vec<u8>> {
        let mut tokens: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
        for &(l, r) in &self.merges {
            let mut t = tokens[l as usize].clone();
            t.extend_from_slice(&tokens[r as usize]);
            tokens.push(t);
        }
        tokens
    }

    /// A tokenizer whose ranks are these tokens' ids.
    pub fn into_tokenizer(&self, pattern: Pattern) -> Result<Tokenizer> {
        let pairs = self.token_bytes().into_iter().zip(0u32..).collect();
        Tokenizer::from_ranks(pairs, pattern)
    }
}

type Pair = (u32, u32);

struct MergeJob {
    count: u64,
    pair: Pair,
    /// Ascending indices of the words that may contain `pair`.
    words: Vec<u32>,
}

impl PartialEq for MergeJob {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for MergeJob {}
impl PartialOrd for MergeJob {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for MergeJob {
    /// Max-heap order: higher count first, then the smaller pair.
    fn cmp(&self, other: &Self) -> Ordering {
        self.count
            .cmp(&other.count)
            .then_with(|| other.pair.cmp(&self.pair))
    }
}

/// Pushes `w` onto a word list unless it is already its last entry.
fn note_word(list: &mut Vec<u32>, w: u32) {
    if list.last() != Some(&w) {
        list.push(w);
    }
}

/// Learns up to `vocab_size - 256` merges from piece counts.
///
/// # Errors
/// [`crate::ErrorKind::InvalidArg`] if `vocab_size < 256`.
pub fn train_from_counts(counts: &PieceCounts, vocab_size: u32) -> Result<TrainResult> {
    if vocab_size < 256 {
        return Err(Error::invalid_arg(format!(
            "vocab_size must be at least 256 (one token per byte), got {vocab_size}"
        )));
    }
    let num_merges = (vocab_size - 256) as usize;

    // ---- Words: unique pieces of two or more bytes, as byte ids ----
    let mut words: Vec<Vec<u32>> = Vec::with_capacity(counts.len());
    let mut weights: Vec<u64> = Vec::with_capacity(counts.len());
    for (piece, c) in counts.iter() {
        if piece.len() >= 2 && c > 0 {
            words.push(piece.iter().map(|&b| u32::from(b)).collect());
            weights.push(c);
        }
    }

    // ---- Initial pair counts and where each pair occurs ----
    let mut pair_counts: HashMap<Pair, i64> = HashMap::new();
    let mut where_: HashMap<Pair, Vec<u32>> = HashMap::new();
    for (wi, w) in words.iter().enumerate() {
        for p in w.windows(2) {
            let pair = (p[0], p[1]);
            *pair_counts.entry(pair).or_insert(0) += weights[wi] as i64;
            note_word(where_.entry(pair).or_default(), wi as u32);
        }
    }
    let mut heap: BinaryHeap<MergeJob> = where_
        .into_iter()
        .map(|(pair, words)| MergeJob {
            count: pair_counts[&pair] as u64,
            pair,
            words,
        })
        .collect();

    // ---- Merge loop ----
    // Never size anything by `vocab_size` alone: it comes from the caller and may be huge.
    let mut merges: Vec<Pair> = Vec::with_capacity(num_merges.min(heap.len()));
    let mut new_words: HashMap<Pair, Vec<u32>> = HashMap::new();
    while merges.len() < num_merges {
        let Some(mut job) = heap.pop() else { break };
        let current = pair_counts.get(&job.pair).copied().unwrap_or(0);
        if current <= 0 {
            continue;
        }
        if job.count != current as u64 {
            job.count = current as u64;
            heap.push(job);
            continue;
        }
        let new_id = 256 + merges.len() as u32;
        merges.push(job.pair);
        for &wi in &job.words {
            let weight = weights[wi as usize] as i64;
            merge_word(&mut words[wi as usize], job.pair, new_id, |pair, delta| {
                *pair_counts.entry(pair).or_insert(0) += delta * weight;
                if delta > 0 {
                    note_word(new_words.entry(pair).or_default(), wi);
                }
            });
        }
        for (pair, words) in new_words.drain() {
            let c = pair_counts.get(&pair).copied().unwrap_or(0);
            if c > 0 {
                heap.push(MergeJob {
                    count: c as u64,
                    pair,
                    words,
                });
            }
        }
    }
    Ok(TrainResult { merges })
}

/// Replaces each non-overlapping occurrence of `pair` in `word`, left to right, by
/// `new_id`, reporting each change of adjacent-pair counts to `delta`.
fn merge_word(word: &mut Vec<u32>, pair: Pair, new_id: u32, mut delta: impl FnMut(Pair, i64)) {
    let (a, b) = pair;
    let n = word.len();
    if n < 2 {
        return;
    }
    let mut out = 0; // write cursor: word[..out] is the merged prefix
    let mut i = 0;
    while i < n {
        if i + 1 < n && word[i] == a && word[i + 1] == b {
            if out > 0 {
                let left = word[out - 1];
                delta((left, a), -1);
                delta((left, new_id), 1);
            }
            delta((a, b), -1);
            if i + 2 < n {
                let right = word[i + 2];
                delta((b, right), -1);
                delta((new_id, right), 1);
            }
            word[out] = new_id;
            i += 2;
        } else {
            word[out] = word[i];
            i += 1;
        }
        out += 1;
    }
    word.truncate(out);
}

/// A streaming trainer: feed text as often as you like, then finish to a vocab size.
///
/// # Example
/// ```
/// let mut t = bpekit::Trainer::new(bpekit::Pattern::default_pattern());
/// t.feed("low lower lowest").unwrap();
/// let tok = t.finish(300).unwrap();
/// assert!(tok.vocab_size() > 256);
/// ```
#[derive(Debug, Clone)]
pub struct Trainer {
    pattern: Pattern,
    counts: PieceCounts,
}

impl Trainer {
    /// A trainer that splits with `pattern`.
    pub fn new(pattern: Pattern) -> Self {
        Trainer {
            pattern,
            counts: PieceCounts::new(),
        }
    }

    /// The split pattern.
    pub fn pattern(&self) -> &Pattern {
        &self.pattern
    }

    /// Counts one text.
    ///
    /// # Errors
    /// [`crate::ErrorKind::BadPattern`] if the regex engine fails; nothing is counted then.
    pub fn feed(&mut self, text: &str) -> Result<()> {
        let local = PieceCounts::count_text(&self.pattern, text)?;
        self.counts.merge(local);
        Ok(())
    }

    /// Counts a batch of texts in parallel.
    ///
    /// # Errors
    /// As [`Trainer::feed`]; nothing of the batch is counted then.
    pub fn feed_batch<S: AsRef<str> + Sync>(&mut self, texts: &[S]) -> Result<()> {
        let local = PieceCounts::count_batch(&self.pattern, texts)?;
        self.counts.merge(local);
        Ok(())
    }

    /// Adds a counts table made elsewhere (e.g. on another machine).
    pub fn add_counts(&mut self, counts: PieceCounts) {
        self.counts.merge(counts);
    }

    /// The counts so far.
    pub fn counts(&self) -> &PieceCounts {
        &self.counts
    }

    /// Learns the merges and returns them (the trainer keeps its counts).
    ///
    /// # Errors
    /// As [`train_from_counts`].
    pub fn train(&self, vocab_size: u32) -> Result<TrainResult> {
        train_from_counts(&self.counts, vocab_size)
    }

    /// Learns the merges and builds a tokenizer with the trainer's pattern.
    ///
    /// # Errors
    /// As [`train_from_counts`].
    pub fn finish(&self, vocab_size: u32) -> Result<Tokenizer> {
        self.train(vocab_size)?.into_tokenizer(self.pattern.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The obvious O(merges × text) trainer the incremental one must equal.
    fn reference(counts: &PieceCounts, vocab_size: u32) -> Vec<Pair> {
        let mut words: Vec<(Vec<u32>, u64)> = counts
            .iter()
            .map(|(p, c)| (p.iter().map(|&b| b as u32).collect(), c))
            .collect();
        let mut merges = Vec::new();
        while merges.len() < (vocab_size - 256) as usize {
            let mut pc: std::collections::BTreeMap<Pair, u64> = Default::default();
            for (w, c) in &words {
                for p in w.windows(2) {
                    *pc.entry((p[0], p[1])).or_default() += c;
                }
            }
            // Highest count; ties to the smallest pair (BTreeMap iterates pairs ascending).
            let Some((&best, _)) = pc.iter().rev().max_by_key(|(_, &c)| c) else {
                break;
            };
            let id = 256 + merges.len() as u32;
            for (w, _) in &mut words {
                merge_word(w, best, id, |_, _| {});
            }
            merges.push(best);
        }
        merges
    }

    fn counts_of(texts: &[&str]) -> PieceCounts {
        PieceCounts::count_batch(&Pattern::default_pattern(), texts).unwrap()
    }

    #[test]
    fn equal_counts_pick_smallest_pair() {
        // "ab" and "cd" both occur twice: (97, 98) < (99, 100) goes first.
        let mut c = PieceCounts::new();
        c.add_piece(b"cd", 2);
        c.add_piece(b"ab", 2);
        let r = train_from_counts(&c, 258).unwrap();
        assert_eq!(r.merges, vec![(97, 98), (99, 100)]);
    }

    #[test]
    fn overlapping_pairs_count_every_window() {
        let mut c = PieceCounts::new();
        c.add_piece(b"aaaa", 1);
        let r = train_from_counts(&c, 260).unwrap();
        assert_eq!(r.merges, vec![(97, 97), (256, 256)]);
    }

    #[test]
    fn stops_early_when_no_pair_is_left() {
        let r = train_from_counts(&counts_of(&["ab"]), 1000).unwrap();
        assert_eq!(r.merges, vec![(97, 98)]);
    }

    #[test]
    fn vocab_below_256_is_an_error() {
        let e = train_from_counts(&PieceCounts::new(), 255).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::InvalidArg);
    }

    #[test]
    fn feeding_in_pieces_equals_one_batch() {
        let texts = ["the cat sat on the mat", "the hat", "that cat, that hat!"];
        let mut a = Trainer::new(Pattern::default_pattern());
        for t in texts {
            a.feed(t).unwrap();
        }
        let mut b = Trainer::new(Pattern::default_pattern());
        b.feed_batch(&texts).unwrap();
        assert_eq!(a.counts(), b.counts());
        assert_eq!(a.counts().texts(), 3);
        assert_eq!(a.train(300).unwrap(), b.train(300).unwrap());
    }

    proptest! {
        #[test]
        fn incremental_equals_reference(texts in proptest::collection::vec("[abc ]{0,30}", 1..8), extra in 0u32..40) {
            let refs: Vec<&str> = texts.iter().map(|s| s.as_str()).collect();
            let c = counts_of(&refs);
            prop_assert_eq!(train_from_counts(&c, 256 + extra).unwrap().merges, reference(&c, 256 + extra));
        }

        #[test]
        fn trained_tokenizer_roundtrips(text in "\\PC{0,200}", probe in "\\PC{0,100}") {
            let mut t = Trainer::new(Pattern::default_pattern());
            t.feed(&text).unwrap();
            let tok = t.finish(300).unwrap();
            let ids = tok.encode_ordinary(&probe).unwrap();
            prop_assert_eq!(tok.decode(&ids).unwrap(), probe.as_bytes());
        }
    }
}
