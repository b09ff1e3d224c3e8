//! Training: count pieces, then learn merges.
//!
//! The two phases are separate and public, so counting can run anywhere (threads,
//! machines) and its tables be merged before one merge phase:
//! [`PieceCounts`] (count, merge two tables; `crate::counts`) and [`train_from_counts`].
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
//! - Piece counts are `u64`, saturating at [`MAX_COUNT`]. Pair counts are sums of
//!   piece counts and may exceed `u64` in a crafted or merged table: they are `i64`
//!   when the table's weighted windows fit in it (every real corpus), else `i128`.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use hashbrown::HashMap;

use crate::counts::PieceCounts;
use crate::encode::Tokenizer;
use crate::error::{Error, Result};
use crate::pattern::Pattern;

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

/// A pair count: `i64` when the table's total of weighted windows fits (every pair
/// count, and every value it passes through while deltas are applied, is at most that
/// total), else `i128` (piece counts are below 2^48 and windows below 2^64: no overflow).
trait Count: Copy + Ord + std::ops::AddAssign {
    const ZERO: Self;
    /// `weight` occurrences, added (`delta > 0`) or removed.
    fn signed(weight: u64, delta: i64) -> Self;
}

impl Count for i64 {
    const ZERO: Self = 0;
    #[inline]
    fn signed(weight: u64, delta: i64) -> Self {
        delta * weight as i64
    }
}

impl Count for i128 {
    const ZERO: Self = 0;
    #[inline]
    fn signed(weight: u64, delta: i64) -> Self {
        i128::from(delta) * i128::from(weight)
    }
}

struct MergeJob<C> {
    count: C,
    pair: Pair,
    /// Ascending indices of the words that may contain `pair`.
    words: Vec<u32>,
}

impl<C: Count> PartialEq for MergeJob<C> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl<C: Count> Eq for MergeJob<C> {}
impl<C: Count> PartialOrd for MergeJob<C> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<C: Count> Ord for MergeJob<C> {
    /// Max-heap order: higher count first, then the smaller pair.
    fn cmp(&self, other: &Self) -> Ordering {
        self.count.cmp(&other.count).then_with(|| other.pair.cmp(&self.pair))
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
    Ok(learn_merges(counts, (vocab_size - 256) as usize, None))
}

/// The merge phase: up to `num_merges` merges, reporting to `progress` if given.
fn learn_merges(counts: &PieceCounts, num_merges: usize, progress: Option<&Progress>) -> TrainResult {
    let windows: u128 = counts.iter().map(|(p, c)| u128::from(c) * p.len().saturating_sub(1) as u128).sum();
    if windows <= i64::MAX as u128 {
        learn_merges_with::<i64>(counts, num_merges, progress)
    } else {
        learn_merges_with::<i128>(counts, num_merges, progress)
    }
}

fn learn_merges_with<C: Count>(
    counts: &PieceCounts,
    num_merges: usize,
    progress: Option<&Progress>,
) -> TrainResult {
    if let Some(p) = progress {
        p.merges_done.store(0, Relaxed);
        p.merges_total.store(num_merges as u64, Relaxed);
    }

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
    let mut pair_counts: HashMap<Pair, C> = HashMap::new();
    let mut where_: HashMap<Pair, Vec<u32>> = HashMap::new();
    for (wi, w) in words.iter().enumerate() {
        for p in w.windows(2) {
            let pair = (p[0], p[1]);
            *pair_counts.entry(pair).or_insert(C::ZERO) += C::signed(weights[wi], 1);
            note_word(where_.entry(pair).or_default(), wi as u32);
        }
    }
    let mut heap: BinaryHeap<MergeJob<C>> =
        where_.into_iter().map(|(pair, words)| MergeJob { count: pair_counts[&pair], pair, words }).collect();

    // ---- Merge loop ----
    // Never size anything by `vocab_size` alone: it comes from the caller and may be huge.
    let mut merges: Vec<Pair> = Vec::with_capacity(num_merges.min(heap.len()));
    let mut new_words: HashMap<Pair, Vec<u32>> = HashMap::new();
    while merges.len() < num_merges {
        let Some(mut job) = heap.pop() else { break };
        let current = pair_counts.get(&job.pair).copied().unwrap_or(C::ZERO);
        if current <= C::ZERO {
            continue;
        }
        if job.count != current {
            job.count = current;
            heap.push(job);
            continue;
        }
        let new_id = 256 + merges.len() as u32;
        merges.push(job.pair);
        for &wi in &job.words {
            let weight = weights[wi as usize];
            merge_word(&mut words[wi as usize], job.pair, new_id, |pair, delta| {
                *pair_counts.entry(pair).or_insert(C::ZERO) += C::signed(weight, delta);
                if delta > 0 {
                    note_word(new_words.entry(pair).or_default(), wi);
                }
            });
        }
        for (pair, words) in new_words.drain() {
            let c = pair_counts.get(&pair).copied().unwrap_or(C::ZERO);
            if c > C::ZERO {
                heap.push(MergeJob { count: c, pair, words });
            }
        }
        if let Some(p) = progress {
            p.merges_done.store(merges.len() as u64, Relaxed);
        }
    }
    if let Some(p) = progress {
        // Stopped early (no pair left): the total is what was reached.
        p.merges_total.store(merges.len() as u64, Relaxed);
    }
    TrainResult { merges }
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

/// How far a trainer is, readable from any thread while it works.
#[derive(Debug, Default)]
pub struct Progress {
    texts: AtomicU64,
    bytes: AtomicU64,
    merges_done: AtomicU64,
    merges_total: AtomicU64,
}

/// A snapshot of [`Progress`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProgressSnapshot {
    /// Texts counted so far.
    pub texts: u64,
    /// Text bytes counted so far.
    pub bytes: u64,
    /// Merges learned so far by the running (or last) finish.
    pub merges_done: u64,
    /// Merges the running (or last) finish aims for.
    pub merges_total: u64,
}

impl Progress {
    /// The current values.
    pub fn snapshot(&self) -> ProgressSnapshot {
        ProgressSnapshot {
            texts: self.texts.load(Relaxed),
            bytes: self.bytes.load(Relaxed),
            merges_done: self.merges_done.load(Relaxed),
            merges_total: self.merges_total.load(Relaxed),
        }
    }
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
#[derive(Debug)]
pub struct Trainer {
    pattern: Pattern,
    counts: PieceCounts,
    special_tokens: Vec<String>,
    /// The shared pool's size for parallel work (the `pools` module; 0: one per core), or
    /// None for the caller's current rayon pool.
    threads: Option<usize>,
    progress: Arc<Progress>,
}

impl Trainer {
    /// A trainer that splits with `pattern`.
    pub fn new(pattern: Pattern) -> Self {
        Trainer {
            pattern,
            counts: PieceCounts::new(),
            special_tokens: Vec::new(),
            threads: None,
            progress: Arc::default(),
        }
    }

    /// The split pattern.
    pub fn pattern(&self) -> &Pattern {
        &self.pattern
    }

    /// Sets the special tokens. [`Trainer::finish`] gives them the ids right after the
    /// last merge, in this order (nanochat's convention); they count in `vocab_size`.
    ///
    /// # Errors
    /// [`crate::ErrorKind::InvalidArg`] for an empty or repeated token.
    pub fn set_special_tokens(&mut self, tokens: Vec<String>) -> Result<()> {
        {
            let mut seen = hashbrown::HashSet::new();
            for t in &tokens {
                if t.is_empty() {
                    return Err(Error::invalid_arg("a special token is the empty string"));
                }
                if !seen.insert(t.as_str()) {
                    return Err(Error::invalid_arg(format!("special token {t:?} is given twice")));
                }
            }
        }
        self.special_tokens = tokens;
        Ok(())
    }

    /// The special tokens.
    pub fn special_tokens(&self) -> &[String] {
        &self.special_tokens
    }

    /// Runs this trainer's parallel work (batch counting) on the process's shared pool of
    /// `n` threads (0: one per core, or `RAYON_NUM_THREADS`). Without this call the work
    /// runs on the caller's current rayon pool.
    ///
    /// The shared pools are started on first use and shared by every caller in the
    /// process: a pool has at most 4 threads per core (more asked for run on that many),
    /// the pools of the 4 most recently used sizes are kept, and a forked child starts
    /// its own.
    ///
    /// # Errors
    /// [`crate::ErrorKind::InvalidArg`] if the threads cannot be started.
    pub fn set_num_threads(&mut self, n: usize) -> Result<()> {
        crate::pools::shared(n)?;
        self.threads = Some(n);
        Ok(())
    }

    /// Runs the parallel work on the shared default pool (started on first use), as
    /// `set_num_threads(0)` without starting it now: the C ABI's default.
    pub(crate) fn use_shared_pool(&mut self) {
        self.threads = Some(0);
    }

    fn run<R: Send>(&self, f: impl FnOnce() -> R + Send) -> Result<R> {
        match self.threads {
            Some(n) => Ok(crate::pools::shared(n)?.install(f)),
            None => Ok(f()),
        }
    }

    /// A handle on this trainer's progress, to read from another thread.
    pub fn progress(&self) -> Arc<Progress> {
        Arc::clone(&self.progress)
    }

    /// Counts one text.
    ///
    /// # Errors
    /// [`crate::ErrorKind::BadPattern`] if the regex engine fails; nothing is counted then.
    pub fn feed(&mut self, text: &str) -> Result<()> {
        let local = PieceCounts::count_text(&self.pattern, text)?;
        self.add_counts(local);
        Ok(())
    }

    /// Counts a batch of texts in parallel.
    ///
    /// # Errors
    /// As [`Trainer::feed`]; nothing of the batch is counted then.
    pub fn feed_batch<S: AsRef<str> + Sync>(&mut self, texts: &[S]) -> Result<()> {
        let local = self.run(|| PieceCounts::count_batch(&self.pattern, texts))??;
        self.add_counts(local);
        Ok(())
    }

    /// Adds a counts table made elsewhere (e.g. on another machine).
    pub fn add_counts(&mut self, counts: PieceCounts) {
        self.progress.texts.fetch_add(counts.texts(), Relaxed);
        self.progress.bytes.fetch_add(counts.bytes(), Relaxed);
        self.counts.merge(counts);
    }

    /// Adds a serialized counts table ([`PieceCounts::to_bytes`]).
    ///
    /// # Errors
    /// [`crate::ErrorKind::BadFormat`] for a damaged table; [`crate::ErrorKind::InvalidArg`]
    /// if it was counted with another pattern. Nothing is added then.
    pub fn add_counts_bytes(&mut self, data: &[u8]) -> Result<()> {
        let (pattern, counts) = PieceCounts::from_bytes(data)?;
        if pattern != self.pattern.as_str() {
            return Err(Error::invalid_arg(format!(
                "the count table was made with another split pattern ({pattern:?}, this trainer uses {:?})",
                self.pattern.as_str()
            )));
        }
        self.add_counts(counts);
        Ok(())
    }

    /// The counts so far.
    pub fn counts(&self) -> &PieceCounts {
        &self.counts
    }

    /// The counts so far, serialized with this trainer's pattern.
    pub fn counts_bytes(&self) -> Vec<u8> {
        self.counts.to_bytes(self.pattern.as_str())
    }

    /// Learns up to `num_merges` merges from the counts (the trainer keeps its counts).
    pub fn train_merges(&self, num_merges: usize) -> TrainResult {
        // (On the calling thread: the merge loop is serial, and on a shared pool it would
        // hold a worker that batch encodes and other trainers wait for.)
        learn_merges(&self.counts, num_merges, Some(&self.progress))
    }

    /// Learns the merges for a tokenizer of `vocab_size` tokens in all (256 bytes, the
    /// merges, then the special tokens) and builds it with the trainer's pattern.
    ///
    /// # Errors
    /// [`crate::ErrorKind::InvalidArg`] if `vocab_size` is below 256 plus the number of
    /// special tokens.
    pub fn finish(&self, vocab_size: u32) -> Result<Tokenizer> {
        let n_special = self.special_tokens.len();
        let base = 256 + n_special as u64;
        if u64::from(vocab_size) < base {
            return Err(Error::invalid_arg(format!(
                "vocab_size must be at least {base} (256 byte tokens + {n_special} special tokens), got {vocab_size}"
            )));
        }
        let result = self.train_merges((u64::from(vocab_size) - base) as usize);
        let first_special = 256 + result.merges.len() as u32;
        let specials =
            self.special_tokens.iter().cloned().zip(first_special..).collect::<Vec<(String, u32)>>();
        result.into_tokenizer(self.pattern.clone())?.with_special_tokens(specials)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counts::MAX_COUNT;
    use proptest::prelude::*;

    /// The obvious O(merges × text) trainer the incremental one must equal.
    fn reference(counts: &PieceCounts, vocab_size: u32) -> Vec<Pair> {
        let mut words: Vec<(Vec<u32>, u64)> =
            counts.iter().map(|(p, c)| (p.iter().map(|&b| b as u32).collect(), c)).collect();
        let mut merges = Vec::new();
        while merges.len() < (vocab_size - 256) as usize {
            let mut pc: std::collections::BTreeMap<Pair, u128> = Default::default();
            for (w, c) in &words {
                for p in w.windows(2) {
                    *pc.entry((p[0], p[1])).or_default() += u128::from(*c);
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
    fn pair_counts_beyond_i64_stay_exact() {
        // 40,000 distinct pieces at the count limit share the pair "ab": its count is
        // 40,000 * 2^48 > 2^63; one saturated run of 50,000 "z" counts "zz" 49,999 * 2^48.
        let mut c = PieceCounts::new();
        for i in 0..40_000u32 {
            let digit = |k: u32| b'0' + (i >> (6 * k) & 63) as u8;
            c.add_piece(&[b'a', b'b', digit(2), digit(1), digit(0)], MAX_COUNT);
        }
        c.add_piece(&[b'z'; 50_000], MAX_COUNT);
        let r = train_from_counts(&c, 262).unwrap();
        assert_eq!(r.merges[0], (u32::from(b'z'), u32::from(b'z')));
        assert_eq!(r.merges[1], (u32::from(b'a'), u32::from(b'b')));
        assert_eq!(r.merges, reference(&c, 262));
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
    fn special_tokens_follow_the_last_merge() {
        let mut t = Trainer::new(Pattern::default_pattern());
        t.feed("ab ab ab").unwrap();
        t.set_special_tokens(vec!["<|bos|>".into(), "<|eos|>".into()]).unwrap();
        // Only 2 merges are possible ("ab", " ab"), so the specials get 258 and 259.
        let tok = t.finish(1000).unwrap();
        assert_eq!(tok.special_token_id("<|bos|>"), Some(258));
        assert_eq!(tok.special_token_id("<|eos|>"), Some(259));
        let tok = t.finish(259).unwrap(); // 256 + 1 merge + 2 specials
        assert_eq!(tok.special_token_id("<|eos|>"), Some(258));
        assert_eq!(tok.vocab_size(), 259);
        assert!(t.finish(257).unwrap_err().message().contains("at least 258"));
        assert!(t.set_special_tokens(vec!["x".into(), "x".into()]).is_err());
        let p = t.progress().snapshot();
        assert_eq!((p.texts, p.bytes, p.merges_done, p.merges_total), (1, 8, 1, 1));
    }

    #[test]
    fn count_tables_roundtrip_and_reject_damage() {
        let mut t = Trainer::new(Pattern::default_pattern());
        t.feed("the cat sat on the mat").unwrap();
        let bytes = t.counts_bytes();
        let (pattern, back) = PieceCounts::from_bytes(&bytes).unwrap();
        assert_eq!(pattern, crate::pattern::CL100K_PATTERN);
        assert_eq!(&back, t.counts());
        let mut u = Trainer::new(Pattern::default_pattern());
        u.add_counts_bytes(&bytes).unwrap();
        u.add_counts_bytes(&bytes).unwrap();
        assert_eq!(u.counts().get(b" the"), 2);
        assert_eq!(u.counts().texts(), 2);
        for cut in [0, 7, 12, bytes.len() - 1] {
            let e = PieceCounts::from_bytes(&bytes[..cut]).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::BadFormat, "cut at {cut}");
        }
        let mut extra = bytes.clone();
        extra.push(0);
        assert_eq!(PieceCounts::from_bytes(&extra).unwrap_err().kind(), crate::ErrorKind::BadFormat);
        for i in 8..bytes.len() {
            let mut flipped = bytes.clone();
            flipped[i] ^= 0x10;
            assert!(PieceCounts::from_bytes(&flipped).is_err(), "flip at {i} accepted");
        }
        let mut other = Trainer::new(Pattern::new(r"\w+").unwrap());
        assert!(other.add_counts_bytes(&bytes).unwrap_err().message().contains("another split pattern"));
        assert_eq!(other.counts().texts(), 0);
    }

    #[test]
    fn thread_count_does_not_change_merges() {
        let texts: Vec<String> =
            (0..300).map(|i| format!("doc {i}: the quick brown fox {}", i % 13)).collect();
        let merges = |threads| {
            let mut t = Trainer::new(Pattern::default_pattern());
            t.set_num_threads(threads).unwrap();
            t.feed_batch(&texts).unwrap();
            t.train_merges(200)
        };
        assert_eq!(merges(1), merges(3));
    }

    #[test]
    fn set_num_threads_documents_the_pool_limits() {
        // The numbers in `Trainer::set_num_threads`' documentation.
        assert_eq!((crate::pools::THREADS_PER_CORE, crate::pools::KEPT_POOLS), (4, 4));
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
        assert_eq!(a.train_merges(44), b.train_merges(44));
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
