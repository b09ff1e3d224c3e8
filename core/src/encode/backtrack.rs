//! Long pieces in linear time: tiktoken's result, found by backtracking search.
//!
//! Design notes
//! - Write `BPE(s)` for tiktoken's merge of the bytes `s` (lowest rank, leftmost first,
//!   where a pair's rank is the rank of its concatenated bytes), and call a token
//!   sequence *valid* if it is `BPE` of its own bytes. Three facts, all true for any rank
//!   table (no assumption that tokens were built from pairs):
//!   1. A contiguous part of a valid sequence is valid. Before the first merge that
//!      crosses the part's edges (there is none: the sequence is the final result), the
//!      merges inside the part happen in the order the part alone would do them, since
//!      each was the lowest-ranked, leftmost pair of the whole.
//!   2. If `[.., p]` and `[p, ..]` are valid, so is `[.., p, ..]`: by the same argument
//!      each side's merges interleave without ever making a pair across `p`'s edges the
//!      lowest, or the side that contains that pair would have merged it.
//!   3. Every token that a merge of any bytes makes is made by the merge of its own
//!      bytes, and by the same last step. (No merge crossed the token's edges before it
//!      was made, so by the argument of fact 1 the merges inside it are its own merges,
//!      in the same order.) So a token whose own bytes do not merge back into it is in
//!      no result and never made, and two adjacent tokens `a`, `b` ever merge only if
//!      `(a, b)` is the last step of the merge of `a ++ b`.
//! - So a token sequence covering the piece is *the* result exactly when its first token
//!   is valid alone and every adjacent pair `(p, t)` is valid (`BPE(p ++ t) == [p, t]`).
//!   The search below builds such a sequence left to right: take the longest token at
//!   the current position that is compatible with the previous one; if none is, give up
//!   the previous token and try its next shorter alternative. The result is unique, so
//!   the search cannot end anywhere else.
//! - By fact 1 the valid sequence ending at a position is unique, so a position once
//!   found to be a dead end stays one (`dead`), and each position is given up at most
//!   once: the work is linear in the piece times the number of tokens that start at a
//!   position.
//! - A pair check replays each token's own merge history (computed once per token with
//!   the scan) in rank order, looking only at the pair across the middle: a few steps,
//!   no merge of the joined bytes.
//! - Candidates are the tokens of at most [`SCAN_MAX`] bytes, so that the work per byte
//!   is bounded whatever the rank table: a trie walk of at most `SCAN_MAX + 1` bytes, at
//!   most `SCAN_MAX` candidates, histories of fewer than `SCAN_MAX` steps. (OpenAI's
//!   tokens are at most 128 bytes.) A longer token that its own bytes merge back into
//!   (by fact 3 the only ones that can be in a result) is in the trie as its first
//!   `SCAN_MAX + 1` bytes, marked: a walk that reaches a mark gives the piece up to the
//!   heap merge, O(n log n). A result with a long token is always given up so: the
//!   tokens before the first long one are a valid sequence of candidates (fact 1), and
//!   the search explores every position such a sequence reaches before it declares a
//!   position dead, so it walks from where the long token starts.
//! - The heap merge looks up pairs that join into more than [`SCAN_MAX`] bytes by their
//!   two ids in [`LongMerges`] (fact 3: only a token's own last step makes it), not by
//!   hashing their bytes: a hash costs the join's length, which long tokens make up to
//!   the longest token's, per lookup.
//! - A piece with a long periodic run (`-` or a space repeated, `ab` repeated: runs of
//!   [`RUN_MIN`] bytes or more, periods of up to [`PERIOD_MAX`] bytes) is merged run by
//!   run ([`Tokenizer::merge_runs`]): where a run's merge repeats one token, the
//!   criterion above lets the repeats be checked and written without a search at each
//!   position, where the search alone backs out of a dead end at almost every byte.
//! - Checks and histories are memoized per thread and tokenizer ([`Memo`], in a
//!   [`Recent`] of [`MEMO_SLOTS`] tokenizers): a direct-mapped pair table (long pieces
//!   are repetitive, so most checks are hits) and a history slot per vocabulary id.
//! - Tokens are found with a byte trie in compressed-row form, built the first time a
//!   tokenizer meets a long piece, with a table for the first two levels. The trie and
//!   [`LongMerges`] are published without a lock (first finished build wins): a process
//!   forked while another thread builds one must not find a lock held by a thread it
//!   does not have.

use std::cell::RefCell;
use std::sync::Arc;

use hashbrown::HashMap;

use super::cache::{with_recent, Recent};
use super::merge::SCAN_MAX;
use super::Tokenizer;
use crate::bytemap::{concat, pack};

/// A byte trie of the search's candidates (see the module notes). Node 0 is the root;
/// node `v`'s children are `edges[first[v]..first[v + 1]]`, sorted by byte; `token[v]`
/// is the id whose bytes spell the path to `v`, or `NO_TOKEN`. Paths deeper than
/// [`SCAN_MAX`] are the first `SCAN_MAX + 1` bytes of long tokens (their marks).
pub(super) struct Trie {
    first: Vec<u32>,
    edges: Vec<(u8, u32)>,
    token: Vec<u32>,
    /// The node two bytes down, indexed by those bytes (big-endian), or `NO_TOKEN`:
    /// skips the two widest levels.
    depth2: Vec<u32>,
}

const NO_TOKEN: u32 = u32::MAX;

impl std::fmt::Debug for Trie {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Trie({} nodes)", self.token.len())
    }
}

impl Trie {
    /// Builds the trie of `tokens` (bytes, id); an id may be `NO_TOKEN` (a mark: a path
    /// and no token).
    fn new<'a>(tokens: impl Iterator<Item = (&'a [u8], u32)>) -> Trie {
        // Sort by bytes, comparing the first eight as one big-endian integer first (most
        // pairs differ there, and one integer compare is cheaper than a memcmp).
        let prefix = |t: &[u8]| {
            let mut k = [0u8; 8];
            let n = t.len().min(8);
            k[..n].copy_from_slice(&t[..n]);
            u64::from_be_bytes(k)
        };
        let mut sorted: Vec<(u64, &[u8], u32)> = tokens.map(|(t, id)| (prefix(t), t, id)).collect();
        sorted.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)));
        // Insert in sorted order: a token shares its first `lcp` bytes with the previous
        // one, so its path starts where the previous path's `lcp`-th node is, and the rest
        // is new nodes. Edges are collected as (parent, byte, child), already in byte
        // order per parent, then grouped by parent.
        let mut token = vec![NO_TOKEN];
        let mut raw: Vec<(u32, u8, u32)> = Vec::with_capacity(sorted.len() * 2);
        let mut path: Vec<u32> = vec![0]; // path[d]: the node at depth d of the previous token
        let mut prev: &[u8] = &[];
        for (_, bytes, id) in sorted {
            let lcp = bytes.iter().zip(prev).take_while(|(a, b)| a == b).count();
            path.truncate(lcp + 1);
            for &b in &bytes[lcp..] {
                let child = token.len() as u32;
                raw.push((path[path.len() - 1], b, child));
                token.push(NO_TOKEN);
                path.push(child);
            }
            token[path[bytes.len()] as usize] = id;
            prev = bytes;
        }
        let mut first = vec![0u32; token.len() + 1];
        for &(parent, _, _) in &raw {
            first[parent as usize + 1] += 1;
        }
        for i in 1..first.len() {
            first[i] += first[i - 1];
        }
        let mut fill = first.clone();
        let mut edges = vec![(0u8, 0u32); raw.len()];
        for (parent, b, child) in raw {
            edges[fill[parent as usize] as usize] = (b, child);
            fill[parent as usize] += 1;
        }
        let mut trie = Trie { first, edges, token, depth2: Vec::new() };
        let mut depth2 = vec![NO_TOKEN; 1 << 16];
        for a in 0..=255u8 {
            if let Some(node) = trie.child(0, a) {
                for b in 0..=255u8 {
                    if let Some(node) = trie.child(node, b) {
                        depth2[usize::from(a) << 8 | usize::from(b)] = node;
                    }
                }
            }
        }
        trie.depth2 = depth2;
        trie
    }

    #[inline]
    fn child(&self, node: u32, byte: u8) -> Option<u32> {
        let kids = &self.edges[self.first[node as usize] as usize..self.first[node as usize + 1] as usize];
        if kids.len() == 256 {
            return Some(kids[byte as usize].1); // a full node (the root): direct index
        }
        if kids.len() <= 8 {
            return kids.iter().find(|e| e.0 == byte).map(|e| e.1);
        }
        kids.binary_search_by_key(&byte, |e| e.0).ok().map(|i| kids[i].1)
    }

    /// Appends `(length, id)` of every token that is a prefix of `text`, shortest first.
    /// Returns false if a long token's mark is a prefix of `text` (then `out` is not to
    /// be used).
    #[inline]
    fn prefixes(&self, text: &[u8], out: &mut Vec<(u32, u32)>) -> bool {
        out.clear();
        let mut node = 0;
        if text.len() >= 2 {
            let Some(first) = self.child(0, text[0]) else { return true };
            let id = self.token[first as usize];
            if id != NO_TOKEN {
                out.push((1, id));
            }
            node = self.depth2[usize::from(text[0]) << 8 | usize::from(text[1])];
            if node == NO_TOKEN {
                return true;
            }
            let id = self.token[node as usize];
            if id != NO_TOKEN {
                out.push((2, id));
            }
        }
        let skip = if node == 0 { 0 } else { 2 };
        for (i, &b) in text.iter().enumerate().skip(skip) {
            let Some(next) = self.child(node, b) else { return true };
            node = next;
            let id = self.token[node as usize];
            if id != NO_TOKEN {
                out.push((i as u32 + 1, id));
            }
        }
        // All of `text` is a path: only long tokens' marks are deeper than `SCAN_MAX`.
        text.len() <= SCAN_MAX
    }
}

/// How the tokens longer than [`SCAN_MAX`] are made: for each one that the merge of its
/// own bytes makes, the two tokens that merge last, `left << 32 | right` → its id. By
/// fact 3 of the module notes no other pair of tokens ever merges into a long token.
#[derive(Debug, Default)]
pub(super) struct LongMerges {
    by_pair: HashMap<u64, u32>,
}

impl LongMerges {
    /// The token that `left` and `right` merge into, if their bytes joined are longer
    /// than [`SCAN_MAX`]; `u32::MAX` if none.
    #[inline]
    pub(super) fn rank(&self, left: u32, right: u32) -> u32 {
        if self.by_pair.is_empty() {
            return u32::MAX;
        }
        self.by_pair.get(&(u64::from(left) << 32 | u64::from(right))).copied().unwrap_or(u32::MAX)
    }
}

impl Tokenizer {
    /// The search trie (see the module notes), built on first use.
    pub(super) fn trie(&self) -> &Trie {
        self.trie.get_or_init(|| Box::new(Arc::new(self.build_trie(self.long_merges()))))
    }

    /// How long tokens are made (see [`LongMerges`]), computed on first use.
    pub(super) fn long_merges(&self) -> &LongMerges {
        self.long_merges.get_or_init(|| Box::new(Arc::new(self.build_long_merges())))
    }

    /// Computes [`LongMerges`]: each long token's own bytes merged with the heap, in
    /// order of length, so that the pairs its merge looks up by ids (joins shorter than
    /// it) are known. Linear-logarithmic in the long tokens' total length.
    fn build_long_merges(&self) -> LongMerges {
        if self.max_token_len <= SCAN_MAX {
            return LongMerges::default();
        }
        let mut long: Vec<(usize, u32)> =
            self.tokens().filter(|(t, _)| t.len() > SCAN_MAX).map(|(t, id)| (t.len(), id)).collect();
        long.sort_unstable();
        let mut merges = LongMerges::default();
        let mut out = Vec::new();
        for (_, id) in long {
            out.clear();
            let bytes = self.token_bytes(id).unwrap_or_default();
            let last = self.merge_heap_with(bytes, &mut out, &merges, id);
            if out[..] == [id] {
                merges.by_pair.insert(u64::from(last.0) << 32 | u64::from(last.1), id);
            }
        }
        merges
    }

    /// The search's trie: the tokens of at most [`SCAN_MAX`] bytes, and a mark for each
    /// long token in `long`.
    fn build_trie(&self, long: &LongMerges) -> Trie {
        let made: hashbrown::HashSet<u32> = long.by_pair.values().copied().collect();
        Trie::new(self.tokens().filter_map(|(t, id)| match t.len() {
            0..=SCAN_MAX => Some((t, id)),
            _ => made.contains(&id).then(|| (&t[..=SCAN_MAX], NO_TOKEN)),
        }))
    }
}

/// Slots in the pair-check memo (a power of two) ...
const PAIR_SLOTS: usize = 1 << 16;
/// ... and once the thread meets a piece of `BIG_PIECE` bytes or more, where the pairs
/// are many (1 MiB of CJK without a space, say) and a larger table keeps more of them.
const PAIR_SLOTS_BIG: usize = 1 << 18;
const BIG_PIECE: usize = 1 << 16;

/// One merge in a token's merge of its own bytes: the new token (its rank), then the
/// first and the last token of the sequence after it.
#[derive(Debug, Clone, Copy)]
struct Step {
    rank: u32,
    first: u32,
    last: u32,
}

const UNKNOWN: (u32, u32) = (u32::MAX, 0);

/// Merge steps a thread's memo keeps before it starts over.
const MAX_STEPS: usize = 1 << 20;

/// What a thread's searches have learned about one tokenizer's tokens and pairs. Its
/// size is bounded by the pair table's slots, a history slot per vocabulary id and
/// [`MAX_STEPS`].
#[derive(Default)]
struct Memo {
    /// Recent pair checks, direct-mapped: `left << 32 | right` (`left == NO_TOKEN`:
    /// `right` alone); `u64::MAX` marks an empty slot. Their answers are the bits of
    /// `valid`. (Keys and answers apart make a slot 8 bytes, so more of the table stays
    /// in the core's cache.)
    pairs: Vec<u64>,
    valid: Vec<u64>,
    /// Token id → its merge history `steps[start..start + len]`: `(start, len)`;
    /// `UNKNOWN` if not computed yet, and `len == u32::MAX` if the token's bytes do not
    /// merge back into it.
    histories: Vec<(u32, u32)>,
    steps: Vec<Step>,
    bytes: Vec<u8>,
    ids: Vec<u32>,
}

/// Tokenizers a thread keeps a memo for at once (each holds a pair table of
/// `PAIR_SLOTS` or `PAIR_SLOTS_BIG` entries, which once grown stays so for the thread's
/// life, and a history slot per vocabulary id).
const MEMO_SLOTS: usize = 2;

thread_local! {
    static MEMOS: RefCell<Recent<Memo, MEMO_SLOTS>> = const { RefCell::new(Recent::new()) };
}

impl Memo {
    /// A memo for another tokenizer, in the storage of `old` (the thread's least recently
    /// used memo, if all slots are taken): its tables keep their size.
    fn reuse(old: Option<Memo>) -> Memo {
        let mut memo = old.unwrap_or_default();
        memo.clear();
        memo
    }

    fn clear(&mut self) {
        self.pairs.fill(u64::MAX);
        self.histories.clear();
        self.steps.clear();
    }

    /// Sizes the tables for a piece of `piece_len` bytes and a vocabulary of `vocab_size`
    /// ids, and empties the memo if it has grown past [`MAX_STEPS`].
    fn prepare(&mut self, vocab_size: usize, piece_len: usize) {
        let slots = if piece_len >= BIG_PIECE { PAIR_SLOTS_BIG } else { PAIR_SLOTS };
        if self.pairs.len() < slots {
            self.pairs = vec![u64::MAX; slots];
            self.valid = vec![0; slots / 64];
        }
        if self.steps.len() > MAX_STEPS {
            self.clear();
        }
        if self.histories.len() < vocab_size {
            self.histories.resize(vocab_size, UNKNOWN);
        }
    }
}

impl Tokenizer {
    /// The merge history of token `id` (at most [`SCAN_MAX`] bytes) within `memo` (see
    /// [`Step`]). A token whose own bytes do not merge back into it gets `len ==
    /// u32::MAX` and is never valid.
    fn history(&self, id: u32, memo: &mut Memo) -> (u32, u32) {
        let known = memo.histories[id as usize];
        if known != UNKNOWN {
            return known;
        }
        let bytes = self.token_bytes(id).unwrap_or_default();
        debug_assert!(bytes.len() <= SCAN_MAX, "long tokens are never candidates");
        let start = memo.steps.len() as u32;
        let h = if bytes.len() <= 1 {
            (start, 0)
        } else {
            let (mut first, mut last) =
                (self.byte_ranks[bytes[0] as usize], self.byte_ranks[bytes[bytes.len() - 1] as usize]);
            memo.ids.clear();
            let steps = &mut memo.steps;
            self.merge_scan_with(bytes, &mut memo.ids, |is_first, is_last, new| {
                if is_first {
                    first = new;
                }
                if is_last {
                    last = new;
                }
                steps.push(Step { rank: new, first, last });
            });
            if memo.ids[..] == [id] {
                (start, memo.steps.len() as u32 - start)
            } else {
                memo.steps.truncate(start as usize);
                (start, u32::MAX)
            }
        };
        memo.histories[id as usize] = h;
        h
    }

    /// The rank of token `a`'s bytes followed by token `b`'s.
    fn joined_rank(&self, a: u32, b: u32, buf: &mut Vec<u8>) -> u32 {
        let (x, y) = (self.token_bytes(a).unwrap_or_default(), self.token_bytes(b).unwrap_or_default());
        if x.len() + y.len() > self.max_token_len {
            return NO_TOKEN;
        }
        // Short joins (most) are packed from both halves, without copying bytes.
        if let Some(key) = pack(x).zip(pack(y)).and_then(|(p, q)| concat(p, q)) {
            return match *x {
                [a] if y.len() == 1 => self.pair2[usize::from(a) << 8 | usize::from(y[0])],
                _ => self.encoder.get_packed(key).unwrap_or(NO_TOKEN),
            };
        }
        buf.clear();
        buf.extend_from_slice(x);
        buf.extend_from_slice(y);
        self.rank(buf)
    }

    /// Whether `[left, right]` is what the merge makes of their bytes, given that
    /// `[left]` is (`left == NO_TOKEN`: whether `[right]` is what it makes of its own).
    ///
    /// Merging `left ++ right` runs each side's own merges, interleaved by rank, until
    /// the pair across the middle is the lowest (the leftmost wins ties, and the middle
    /// pair is right of every pair in `left` and left of every pair in `right`). So the
    /// two histories are replayed in rank order, watching only the middle pair.
    fn valid_pair(&self, left: u32, right: u32, memo: &mut Memo) -> bool {
        let key = (u64::from(left) << 32) | u64::from(right);
        let slot =
            (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - memo.pairs.len().trailing_zeros())) as usize;
        let (word, bit) = (slot / 64, 1u64 << (slot % 64));
        if memo.pairs[slot] == key {
            return memo.valid[word] & bit != 0;
        }
        let v = self.check_pair(left, right, memo);
        memo.pairs[slot] = key;
        if v {
            memo.valid[word] |= bit;
        } else {
            memo.valid[word] &= !bit;
        }
        v
    }

    fn check_pair(&self, left: u32, right: u32, memo: &mut Memo) -> bool {
        let (rs, rl) = self.history(right, memo);
        if rl == u32::MAX {
            return false; // `right` alone does not merge into itself
        }
        if left == NO_TOKEN {
            return true;
        }
        let (ls, ll) = self.history(left, memo);
        if ll == u32::MAX {
            return false; // not reached: `left` was checked before it was taken
        }
        let (lb, rb) =
            (self.token_bytes(left).unwrap_or_default(), self.token_bytes(right).unwrap_or_default());
        let mut x = self.byte_ranks[lb[lb.len() - 1] as usize];
        let mut y = self.byte_ranks[rb[0] as usize];
        let lsteps = &memo.steps[ls as usize..(ls + ll) as usize];
        let rsteps = &memo.steps[rs as usize..(rs + rl) as usize];
        let (mut i, mut j) = (0, 0);
        let mut mid = self.joined_rank(x, y, &mut memo.bytes);
        loop {
            let next_l = lsteps.get(i).map_or(NO_TOKEN, |s| s.rank);
            let next_r = rsteps.get(j).map_or(NO_TOKEN, |s| s.rank);
            if mid < next_l && mid <= next_r {
                return false; // the middle pair merges
            }
            if next_l == NO_TOKEN && next_r == NO_TOKEN {
                return true;
            }
            if next_l <= next_r {
                i += 1;
                if lsteps[i - 1].last != x {
                    x = lsteps[i - 1].last;
                    mid = self.joined_rank(x, y, &mut memo.bytes);
                }
            } else {
                j += 1;
                if rsteps[j - 1].first != y {
                    y = rsteps[j - 1].first;
                    mid = self.joined_rank(x, y, &mut memo.bytes);
                }
            }
        }
    }

    /// Merges one long piece (see the module notes); same result as
    /// [`Tokenizer::merge_heap`], which it hands the piece to if it may hold a long token.
    pub(super) fn merge_backtrack(&self, piece: &[u8], out: &mut Vec<u32>) {
        self.merge_backtrack_from(piece, None, out);
    }

    /// [`Tokenizer::merge_backtrack`] of a piece whose first run ([`find_run`]) the
    /// caller has found (`None`: looked for here).
    pub(super) fn merge_backtrack_from(&self, piece: &[u8], run: Option<Run>, out: &mut Vec<u32>) {
        let mut search =
            |memo: &mut Memo| self.merge_runs(piece, run, out, memo) || self.backtrack(piece, out, memo);
        let done = with_recent(&MEMOS, self.id, Memo::reuse, |memo| match memo {
            Some(memo) => search(memo),
            None => search(&mut Memo::default()),
        });
        if !done {
            self.merge_heap(piece, out);
        }
    }

    /// A piece with long periodic runs (see [`find_run`]), merged run by run: false (and
    /// `out` untouched) if it has none, or if a run's merge is not one token repeated.
    ///
    /// The search alone spends, in a run such as `-` repeated, the whole trie walk at
    /// almost every position (each a dead end it backs out of: cl100k_base has
    /// 26 tokens of dashes, up to 96 of them), about half a microsecond a byte. Here each
    /// run costs two searches of a few hundred bytes, whatever its length:
    /// - the search over the text before the run and its first [`RUN_HEAD`] bytes; its
    ///   first token `t` to start at least [`SCAN_MAX`] bytes into the run, at `b`, is
    ///   taken as the run's repeating token, if its length `k` is a multiple of the
    ///   run's period (so `t` repeated spells the run from `b` on) and `(t, t)` is a
    ///   valid pair;
    /// - `t` repeated `q` times from `b`, leaving at least [`RUN_TAIL`] bytes of the run;
    ///   what follows (the rest of the run and of the piece) is merged the same way, its
    ///   first token checked against `t`.
    ///
    /// Exact by the criterion of the module notes: the result is a sequence whose first
    /// token is valid alone and whose adjacent pairs are all valid. The tokens before
    /// `t` and `t` itself are a part of a search's result (fact 1), `(t, t)` and each
    /// boundary between two stretches are checked, and the last stretch is a search's
    /// (or the heap merge's) result. The choices of `b`, `RUN_HEAD` and `RUN_TAIL` only
    /// decide whether the checks pass (they do when the piece's merge repeats `t` along
    /// the run, as it does for the runs of OpenAI's vocabularies); a check that fails
    /// gives the piece back to the search.
    fn merge_runs(&self, piece: &[u8], first: Option<Run>, out: &mut Vec<u32>, memo: &mut Memo) -> bool {
        if piece.len() < RUN_MIN {
            return false;
        }
        let Some(mut run) = first.or_else(|| find_run(piece, 0)) else { return false };
        memo.prepare(self.vocab_size(), RUN_HEAD + RUN_TAIL);
        let start = out.len();
        let (mut cur, mut last) = (0, NO_TOKEN); // piece[..cur] is in `out`, ending with `last`
        let mut head = Vec::new();
        let ok = loop {
            let (lo, hi, period) = run;
            head.clear();
            if !self.backtrack(&piece[cur..lo + RUN_HEAD], &mut head, memo) {
                break false;
            }
            // The first token that starts SCAN_MAX bytes or more into the run.
            let (mut i, mut b) = (0, cur);
            while i < head.len() && b < lo + SCAN_MAX {
                b += self.token_bytes(head[i]).map_or(0, <[u8]>::len);
                i += 1;
            }
            let Some(&t) = head.get(i) else { break false };
            let k = self.token_bytes(t).map_or(0, <[u8]>::len);
            // (Each run has RUN_MIN bytes, far more than RUN_TAIL + SCAN_MAX + RUN_HEAD.)
            let q = hi.saturating_sub(RUN_TAIL + b) / k.max(1);
            if k == 0
                || !k.is_multiple_of(period)
                || q == 0
                || !self.valid_pair(last, head[0], memo)
                || !self.valid_pair(t, t, memo)
            {
                break false;
            }
            out.extend_from_slice(&head[..i]);
            out.extend(std::iter::repeat_n(t, q));
            (cur, last) = (b + q * k, t);
            match find_run(piece, cur) {
                Some(next) if next.0 >= cur => run = next,
                _ => {
                    // The rest: a search's (or the heap merge's) result.
                    head.clear();
                    if !self.backtrack(&piece[cur..], &mut head, memo) {
                        self.merge_heap(&piece[cur..], &mut head);
                    }
                    let ok = self.valid_pair(last, head[0], memo);
                    out.extend_from_slice(&head);
                    break ok;
                }
            }
        };
        if !ok {
            out.truncate(start);
        }
        ok
    }

    /// The search; false (and `out` untouched) if it gives the piece up.
    fn backtrack(&self, piece: &[u8], out: &mut Vec<u32>, memo: &mut Memo) -> bool {
        memo.prepare(self.vocab_size(), piece.len());
        let trie = self.trie();
        let n = piece.len();
        let mut stack: Vec<(u32, usize)> = Vec::with_capacity(n / 4 + 1); // (id, start)
        let mut dead = vec![false; n + 1];
        let mut cands = Vec::new();
        let (mut pos, mut limit) = (0usize, u32::MAX);
        while pos < n {
            if !trie.prefixes(&piece[pos..n.min(pos + SCAN_MAX + 1)], &mut cands) {
                return false; // a long token may start here
            }
            let prev = stack.last().map_or(NO_TOKEN, |t| t.0);
            let found = cands.iter().rev().find(|&&(len, id)| {
                len < limit && !dead[pos + len as usize] && self.valid_pair(prev, id, memo)
            });
            if let Some(&(len, id)) = found {
                stack.push((id, pos));
                pos += len as usize;
                limit = u32::MAX;
                continue;
            }
            dead[pos] = true;
            let Some((_, start)) = stack.pop() else {
                // Unreachable: every single byte is a valid token, and a result with a
                // long token is given up where it starts (see the module notes). Stay
                // correct anyway.
                return false;
            };
            limit = (pos - start) as u32;
            pos = start;
        }
        out.extend(stack.iter().map(|t| t.0));
        true
    }
}

/// Pieces shorter than this are not searched for runs; a run is at least this long.
const RUN_MIN: usize = 8 * SCAN_MAX;
/// Periods of the runs looked for, in bytes.
const PERIOD_MAX: usize = 8;
/// Bytes of a run searched with the text before it (see [`Tokenizer::merge_runs`]).
const RUN_HEAD: usize = 3 * SCAN_MAX;
/// Bytes of a run left to the search with the text after it.
const RUN_TAIL: usize = 2 * SCAN_MAX;
const _: () = assert!(RUN_HEAD + RUN_TAIL + SCAN_MAX <= RUN_MIN, "a run holds its head and tail");

/// A run of [`find_run`]'s: `(lo, hi, period)`.
pub(super) type Run = (usize, usize, usize);

/// The run that is most of `piece` (half or more), if there is one: such a piece is
/// better merged by [`Tokenizer::merge_backtrack_from`] (its runs a few searches each)
/// than cut at each byte first.
pub(super) fn mostly_run(piece: &[u8]) -> Option<Run> {
    if piece.len() < RUN_MIN {
        return None;
    }
    find_run(piece, 0).filter(|&(lo, hi, _)| 2 * (hi - lo) >= piece.len())
}

/// The first run in `piece[from..]` of at least [`RUN_MIN`] bytes that repeats with a
/// period of at most [`PERIOD_MAX`] bytes: `(lo, hi, period)`, `piece[i] == piece[i +
/// period]` for `lo <= i < hi - period`, with the smallest such period at the probe
/// that found it. Probes `PROBE` bytes every `RUN_MIN / 2` (a run that long holds a
/// whole probe), so a piece without runs costs a few failed comparisons per probe.
fn find_run(piece: &[u8], from: usize) -> Option<Run> {
    const PROBE: usize = 64;
    let mut x = from;
    while x + PROBE + PERIOD_MAX <= piece.len() {
        for p in 1..=PERIOD_MAX {
            if piece[x..x + PROBE] != piece[x + p..x + p + PROBE] {
                continue;
            }
            // Extended a probe's length at a time, then byte by byte.
            let mut lo = x;
            while lo >= from + PROBE && piece[lo - PROBE..lo] == piece[lo - PROBE + p..lo + p] {
                lo -= PROBE;
            }
            while lo > from && piece[lo - 1] == piece[lo - 1 + p] {
                lo -= 1;
            }
            let mut hi = x + PROBE + p;
            while hi + PROBE <= piece.len() && piece[hi..hi + PROBE] == piece[hi - p..hi - p + PROBE] {
                hi += PROBE;
            }
            while hi < piece.len() && piece[hi] == piece[hi - p] {
                hi += 1;
            }
            if hi - lo >= RUN_MIN {
                return Some((lo, hi, p));
            }
        }
        x += RUN_MIN / 2;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::Pattern;
    use proptest::prelude::*;

    #[test]
    fn backtrack_on_a_big_piece_equals_heap() {
        // Big pieces switch the thread's pair memo to its larger size; shorter ones after
        // keep using it.
        let t = toy();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut piece = Vec::new();
        for _ in 0..70_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            piece.push(b"aabc"[(x % 4) as usize]);
        }
        for part in [&piece[..], &piece[..5_000], &piece[1..]] {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            t.merge_backtrack(part, &mut a);
            t.merge_heap(part, &mut b);
            assert_eq!(a, b);
        }
    }

    /// Three tokenizers (more than a thread keeps memos for) taking turns on long pieces
    /// on one thread: each search uses its own tokenizer's memo.
    #[test]
    fn backtrack_memos_follow_their_tokenizer() {
        let make = |extra: &[&[u8]]| {
            let mut pairs: Vec<(Vec<u8>, u32)> = (0..=255u8).map(|b| (vec![b], b as u32)).collect();
            pairs.extend(extra.iter().enumerate().map(|(i, t)| (t.to_vec(), 256 + i as u32)));
            Tokenizer::from_ranks(pairs, Pattern::default_pattern()).unwrap()
        };
        let toks = [
            make(&[b"ab", b"abab", b"ba"]),
            make(&[b"ba", b"ab", b"bab"]),
            make(&[b"aa", b"bb", b"ab", b"aabb"]),
        ];
        let pieces: Vec<Vec<u8>> =
            (0..12).map(|i| b"ab".iter().cycle().skip(i % 2).take(40 + i * 7).copied().collect()).collect();
        for round in 0..3 {
            for (i, t) in toks.iter().enumerate() {
                let piece = &pieces[(round * 3 + i) % pieces.len()];
                let (mut a, mut b) = (Vec::new(), Vec::new());
                t.merge_backtrack(piece, &mut a);
                t.merge_heap(piece, &mut b);
                assert_eq!(a, b, "tokenizer {i}, round {round}");
            }
        }
    }

    /// Long pieces on the real vocabularies: the backtracking search against the heap,
    /// on runs built from bytes that real tokens chain (letters, spaces, CJK, Latin-1,
    /// digits, raw bytes).
    #[test]
    #[ignore = "needs the shared rank files: BPEKIT_DATA (make test-rust runs it when they exist)"]
    fn backtrack_equals_heap_on_real_vocabularies() {
        let atoms: &[&[u8]] = &[
            b"a",
            b"b",
            b"ab",
            b"aa",
            b"e",
            b"the",
            b" ",
            b"  ",
            b"\n",
            b"\t",
            b"1",
            b"23",
            b"=",
            b"-",
            b".",
            "é".as_bytes(),
            "中".as_bytes(),
            "の".as_bytes(),
            "ж".as_bytes(),
            b"\xff",
            b"\xc3",
            b"\x80",
        ];
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15u64);
        for name in ["cl100k_base", "o200k_base", "r50k_base"] {
            let t = Tokenizer::from_tiktoken(&shared_ranks(name), Pattern::default_pattern()).unwrap();
            for case in 0..300 {
                // A few atoms per piece, so that runs repeat and mix.
                let alphabet: Vec<&[u8]> =
                    (0..1 + case % 4).map(|_| atoms[next() as usize % atoms.len()]).collect();
                let len = SCAN_MAX + 1 + next() as usize % 3000;
                let mut piece = Vec::with_capacity(len + 8);
                while piece.len() < len {
                    piece.extend_from_slice(alphabet[next() as usize % alphabet.len()]);
                }
                let (mut a, mut b) = (Vec::new(), Vec::new());
                t.merge_backtrack(&piece, &mut a);
                t.merge_heap(&piece, &mut b);
                assert_eq!(a, b, "{name}: piece {:?}", String::from_utf8_lossy(&piece));
            }
        }
    }

    /// A piece of `prefix`, `unit` repeated to `len` bytes and `suffix`.
    fn run_piece(prefix: &[u8], unit: &[u8], len: usize, suffix: &[u8]) -> Vec<u8> {
        let mut piece = prefix.to_vec();
        piece.extend(unit.iter().cycle().take(len));
        piece.extend_from_slice(suffix);
        piece
    }

    /// Runs on tables whose tokens of the run's byte come in a random rank order (so
    /// the run's merge need not repeat one token): the run route, where it answers,
    /// equals the heap merge, and it does answer for most tables.
    #[test]
    fn runs_merge_as_the_heap_does_on_random_rank_orders() {
        let mut next = xorshift(0x2545_f491_4f6c_dd1du64);
        let (mut answered, cases) = (0, 60);
        for case in 0..cases {
            let mut extra: Vec<Vec<u8>> =
                (2..=40).filter(|_| !next().is_multiple_of(3)).map(|k| vec![b'-'; k]).collect();
            extra.extend([b"'-".to_vec(), b"-'".to_vec(), b" '".to_vec(), b"-\n".to_vec()]);
            for i in (1..extra.len()).rev() {
                extra.swap(i, next() as usize % (i + 1));
            }
            let t = Tokenizer::from_ranks(bytes_and(extra), Pattern::default_pattern()).unwrap();
            let len = RUN_MIN + next() as usize % 3000;
            let piece = run_piece(b" '", b"-", len, if case % 2 == 0 { b"'" } else { b"-\n" });
            let (mut runs, mut heap) = (Vec::new(), Vec::new());
            t.merge_heap(&piece, &mut heap);
            if t.merge_runs(&piece, None, &mut runs, &mut Memo::default()) {
                answered += 1;
                assert_eq!(runs, heap, "case {case}");
            } else {
                assert!(runs.is_empty(), "a run merge that gives up writes nothing");
            }
            let mut back = Vec::new();
            t.merge_backtrack(&piece, &mut back);
            assert_eq!(back, heap, "case {case}");
        }
        assert!(answered >= cases / 2, "the run route answered {answered} of {cases}");
    }

    /// Several runs of different periods in one piece, with text between them.
    #[test]
    fn pieces_with_several_runs() {
        let t = Tokenizer::from_ranks(
            bytes_and(
                [&b"ab"[..], b"abab", b"aa", b"aaaa", b"ba", b"abc", b"abcabc", b"xy", b"cab"]
                    .iter()
                    .map(|x| x.to_vec()),
            ),
            Pattern::default_pattern(),
        )
        .unwrap();
        let mut piece = Vec::new();
        for (unit, len) in
            [(&b"a"[..], 2000), (b"xyz", 40), (b"ab", 3000), (b"q", 1), (b"abc", 1500), (b"ba", 1100)]
        {
            piece.extend(unit.iter().cycle().take(len));
        }
        let (mut runs, mut heap) = (Vec::new(), Vec::new());
        t.merge_heap(&piece, &mut heap);
        assert!(t.merge_runs(&piece, None, &mut runs, &mut Memo::default()));
        assert_eq!(runs, heap);
        assert_eq!(find_run(&piece, 0), Some((0, 2000, 1)));
        // No run: nothing found, and a short one is not one.
        let plain: Vec<u8> = (0..5000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
        assert_eq!(find_run(&plain, 0), None);
        assert_eq!(find_run(&run_piece(b"x", b"-", RUN_MIN - 1, b"y"), 0), None);
        assert_eq!(find_run(&run_piece(b"x", b"-", RUN_MIN, b"y"), 0), Some((1, 1 + RUN_MIN, 1)));
    }

    /// Runs on the real vocabularies, with the text around them that a split gives
    /// (a quote or space before, a quote or newline after): the run route answers for
    /// runs of one byte and equals the heap merge.
    #[test]
    #[ignore = "needs the shared rank files: BPEKIT_DATA (make test-rust runs it when they exist)"]
    fn runs_on_real_vocabularies() {
        for name in ["cl100k_base", "o200k_base", "r50k_base"] {
            let t = Tokenizer::from_tiktoken(&shared_ranks(name), Pattern::default_pattern()).unwrap();
            for unit in [
                &b"-"[..],
                b" ",
                b"a",
                b"=",
                b"\n",
                b"0",
                b"ab",
                b"-=",
                "\u{e9}".as_bytes(),
                "\u{4e2d}".as_bytes(),
            ] {
                for (i, len) in [RUN_MIN, 1500, 4099, 20_000].into_iter().enumerate() {
                    let (prefix, suffix): (&[u8], &[u8]) =
                        [(&b""[..], &b""[..]), (b" '", b"'"), (b"x", b"\n"), (b" ", b".\n")][i];
                    let piece = run_piece(prefix, unit, len, suffix);
                    let (mut runs, mut heap, mut back) = (Vec::new(), Vec::new(), Vec::new());
                    t.merge_heap(&piece, &mut heap);
                    t.merge_backtrack(&piece, &mut back);
                    let what = format!("{name}: {:?} x {len}", String::from_utf8_lossy(unit));
                    assert_eq!(back, heap, "{what}");
                    let mut whole = Vec::new();
                    t.encode_piece(&piece, &mut whole);
                    assert_eq!(whole, heap, "{what}: encode_piece");
                    let answered = t.merge_runs(&piece, None, &mut runs, &mut Memo::default());
                    if answered {
                        assert_eq!(runs, heap, "{what}");
                    }
                    if unit.len() == 1 {
                        assert!(answered, "{what}: the run route gave up");
                    }
                }
            }
        }
    }

    proptest! {
        #[test]
        fn runs_and_heap_agree(
            unit in proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), Just(b'c')], 1..=PERIOD_MAX),
            prefix in proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), Just(b'c'), Just(b'x')], 0..40),
            suffix in proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), Just(b'c'), Just(b'x')], 0..40),
            len in RUN_MIN..3 * RUN_MIN,
        ) {
            let t = toy();
            let piece = run_piece(&prefix, &unit, len, &suffix);
            let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
            t.merge_backtrack(&piece, &mut a);
            t.merge_heap(&piece, &mut b);
            prop_assert_eq!(&a, &b);
            t.encode_piece(&piece, &mut c);
            if t.token_id(&piece).is_none() {
                prop_assert_eq!(&c, &b);
            }
        }
    }

    proptest! {
        #[test]
        fn backtrack_and_heap_agree(piece in proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), Just(b'c'), any::<u8>()], 1..400)) {
            let t = toy();
            let (mut a, mut b) = (Vec::new(), Vec::new());
            t.merge_backtrack(&piece, &mut a);
            t.merge_heap(&piece, &mut b);
            prop_assert_eq!(&a, &b);
        }
    }
}
