//! The tokenizer: encode and decode with tiktoken's semantics.
//!
//! A text is split with the pattern; each piece that is a whole token is emitted as
//! is, otherwise its bytes are merged pairwise, always merging the adjacent pair whose
//! concatenation has the lowest rank, the leftmost one on ties (tiktoken's
//! `byte_pair_encode`).
//!
//! Design notes
//! - Three merge routines give identical results (property tests check them against
//!   the definition): a scan that is quadratic but has tiny constants, for short
//!   pieces; a backtracking search ([`long`]), linear, for long pieces; and a heap
//!   routine over a linked list, O(n log n) for any rank table, for the long pieces the
//!   search gives up (those that may hold a token longer than [`SCAN_MAX`] bytes). So the
//!   work on any piece (a megabyte of one letter, say) is linear or O(n log n) in its
//!   length, whatever the rank table.
//! - Token bytes live in one contiguous buffer indexed by an offsets table, so decode
//!   is one lookup and one copy per token.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

use hashbrown::{HashMap, HashSet};
use once_cell::race::OnceBox;

use crate::bytemap::{BytesMap, Key, RankMap, MID_MAX};
use crate::error::{Error, ErrorKind, Result};
use crate::pattern::Pattern;
use crate::ranks;

/// Pieces up to this many bytes are merged with the quadratic scan; tokens longer than
/// this are *long* (see [`long`]: never candidates of the backtracking search).
const SCAN_MAX: usize = 128;
const _: () = assert!(SCAN_MAX <= 255, "merge_scan_n links tokens by u8 byte offsets");

/// Pieces this long or longer (and not whole tokens) are merged by backtracking search:
/// past the cached lengths it beats the scan (100 bytes of one letter: 0.6 µs vs 8 µs).
const BACKTRACK_MIN: usize = MID_MAX + 1;

/// A rank table larger than this many ids per token is refused as implausibly sparse
/// (it would make the id-indexed decode table huge).
const MAX_SPARSITY: usize = 4;

/// A byte-level BPE tokenizer: ranks (token bytes ↔ id) and a split pattern.
///
/// Immutable once built; share it freely across threads.
#[derive(Debug, Clone)]
pub struct Tokenizer {
    /// Identifies the ranks for the per-thread piece cache (clones share it: same ranks).
    id: u64,
    pattern: Pattern,
    encoder: RankMap,
    /// `token_data[starts[id]..starts[id + 1]]` are the bytes of `id` (a rank or a
    /// special token); empty if `id` is unused.
    starts: Vec<usize>,
    token_data: Vec<u8>,
    byte_ranks: [u32; 256],
    /// The rank of every two-byte string (`u32::MAX` if none), indexed big-endian: most
    /// pair lookups in a merge are of two bytes, and this table stays in cache.
    pair2: Vec<u32>,
    /// Length of the longest ranked token, in bytes.
    max_token_len: usize,
    specials: Specials,
    // Tables built on first use. Each is published without a lock ([`OnceBox`]): threads
    // that meet it unbuilt may each build it, the first to finish is kept, and no thread
    // ever waits, so a process forked while some thread was building never blocks on
    // that thread. Clones share the tables built before they were made.
    /// The search trie for long pieces.
    trie: OnceBox<Arc<long::Trie>>,
    /// How long tokens are made, for the heap merge.
    long_merges: OnceBox<Arc<long::LongMerges>>,
    /// The rank ids sorted by their bytes, for [`Tokenizer::encode_with_unstable`].
    sorted_ranks: OnceBox<Arc<[u32]>>,
}

static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// A number never returned twice in this process.
pub(crate) fn unique_id() -> u64 {
    NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Pieces shorter than this merge faster than a cache lookup and insert.
const CACHE_MIN: usize = 6;

/// Tokens kept per cache before it starts over.
const CACHE_MAX_TOKENS: usize = 1 << 18;
/// Tokenizers a thread keeps caches for at once.
const CACHE_SLOTS: usize = 4;

/// A per-thread cache of short pieces that are not whole tokens: piece → its tokens.
/// Words repeat (Zipf), so most such pieces are merged once per thread.
struct PieceCache {
    owner: u64,
    last_use: u64,
    map: BytesMap<(u32, u32)>,
    arena: Vec<u32>,
    /// Lookups and hits in the current window of [`CACHE_WINDOW`] lookups.
    lookups: u32,
    hits: u32,
    /// Pieces left to merge without the cache (see [`CACHE_SKIP`]).
    skip: u32,
}

/// Lookups per window of the cache's hit count.
const CACHE_WINDOW: u32 = 2048;
/// A window with fewer hits than this ...
const CACHE_MIN_HITS: u32 = CACHE_WINDOW / 32;
/// ... turns the cache off for this many pieces, then it is tried again. In text where
/// the pieces do not repeat (random bytes as latin-1: no hits at all) a lookup and an
/// insert per piece cost 10% of the encode; ordinary text hits far more often than this,
/// from a cold cache too (English: over half of the first window).
const CACHE_SKIP: u32 = 1 << 15;

impl PieceCache {
    fn new(owner: u64) -> PieceCache {
        PieceCache {
            owner,
            last_use: 0,
            map: BytesMap::default(),
            arena: Vec::new(),
            lookups: 0,
            hits: 0,
            skip: 0,
        }
    }

    /// Counts a lookup; at the end of a window, turns the cache off if it hit too rarely.
    #[inline]
    fn count(&mut self, hit: bool) {
        self.lookups += 1;
        self.hits += u32::from(hit);
        if self.lookups == CACHE_WINDOW {
            if self.hits < CACHE_MIN_HITS {
                self.skip = CACHE_SKIP;
            }
            self.lookups = 0;
            self.hits = 0;
        }
    }
}

impl PieceCache {
    /// The cache of tokenizer `owner`, taking over the least recently used slot if needed.
    fn for_owner(caches: &mut Vec<PieceCache>, owner: u64) -> &mut PieceCache {
        let clock = caches.iter().map(|c| c.last_use).max().unwrap_or(0) + 1;
        let slot = match caches.iter().position(|c| c.owner == owner) {
            Some(i) => i,
            None if caches.len() < CACHE_SLOTS => {
                caches.push(PieceCache::new(owner));
                caches.len() - 1
            }
            None => {
                let i = (0..caches.len()).min_by_key(|&i| caches[i].last_use).unwrap_or(0);
                caches[i] = PieceCache::new(owner);
                i
            }
        };
        caches[slot].last_use = clock;
        &mut caches[slot]
    }
}

thread_local! {
    static CACHES: std::cell::RefCell<Vec<PieceCache>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Where encoded ids go: a vector, or a counter.
trait Sink {
    fn piece(&mut self, tok: &Tokenizer, piece: &[u8]);
    fn special(&mut self, id: u32);
}

impl Sink for Vec<u32> {
    #[inline]
    fn piece(&mut self, tok: &Tokenizer, piece: &[u8]) {
        tok.encode_piece(piece, self);
    }
    fn special(&mut self, id: u32) {
        self.push(id);
    }
}

/// Counts tokens, encoding each piece into a small reused buffer.
#[derive(Default)]
struct Counter {
    n: usize,
    scratch: Vec<u32>,
}

impl Sink for Counter {
    #[inline]
    fn piece(&mut self, tok: &Tokenizer, piece: &[u8]) {
        if piece.len() == 1 {
            self.n += 1;
        } else {
            // (`encode_piece` looks the whole piece up first; looking here too would
            // probe twice for every piece that is not a token.)
            tok.encode_piece(piece, &mut self.scratch);
            self.n += self.scratch.len();
            self.scratch.clear();
        }
    }
    fn special(&mut self, _: u32) {
        self.n += 1;
    }
}

impl Tokenizer {
    /// Builds a tokenizer from `(token bytes, rank)` pairs and a pattern.
    ///
    /// The pairs are read like a Python dict built from them, which is what tiktoken
    /// does: if the same bytes appear twice, the later rank wins.
    ///
    /// # Errors
    /// [`ErrorKind::BadRanks`] if the table is empty, has an empty token, gives two
    /// tokens the same rank, lacks one of the 256 single bytes (byte-level BPE needs each
    /// of them to encode arbitrary text), or is implausibly sparse.
    pub fn from_ranks(pairs: Vec<(Vec<u8>, u32)>, pattern: Pattern) -> Result<Self> {
        let mut encoder: BytesMap<u32> = BytesMap::with_capacity(pairs.len());
        for (token, rank) in pairs {
            if token.is_empty() {
                return Err(Error::bad_ranks("ranks contain an empty token"));
            }
            encoder.insert(&token, rank);
        }
        let Some(&max_rank) = encoder.values().max() else {
            return Err(Error::bad_ranks("ranks are empty"));
        };
        let n_ids = max_rank as usize + 1;
        if n_ids > encoder.len().saturating_mul(MAX_SPARSITY).max(1 << 16) {
            return Err(Error::bad_ranks(format!(
                "ranks are too sparse: {} tokens but a largest rank of {max_rank}",
                encoder.len()
            )));
        }
        let mut by_rank: Vec<(u32, Key<'_>)> = encoder.iter().map(|(k, &r)| (r, k)).collect();
        by_rank.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| (*a.1).cmp(&*b.1)));
        for w in by_rank.windows(2) {
            if w[0].0 == w[1].0 {
                let (a, b) = (String::from_utf8_lossy(&w[0].1), String::from_utf8_lossy(&w[1].1));
                return Err(Error::bad_ranks(format!(
                    "rank {} is given to two tokens ({a:?} and {b:?})",
                    w[0].0
                )));
            }
        }
        let mut byte_ranks = [0u32; 256];
        for (b, slot) in byte_ranks.iter_mut().enumerate() {
            *slot = *encoder.get(&[b as u8][..]).ok_or_else(|| {
                Error::bad_ranks(format!(
                    "ranks lack the single byte 0x{b:02x}; byte-level BPE needs all 256"
                ))
            })?;
        }
        let mut starts = Vec::with_capacity(n_ids + 1);
        let mut token_data = Vec::new();
        let mut next = by_rank.iter().peekable();
        for id in 0..n_ids as u32 {
            starts.push(token_data.len());
            if let Some((_, token)) = next.next_if(|(r, _)| *r == id) {
                token_data.extend_from_slice(token);
            }
        }
        starts.push(token_data.len());
        drop(by_rank);
        let mut pair2 = vec![u32::MAX; 1 << 16];
        for (token, &rank) in encoder.iter() {
            if let [a, b] = *token {
                pair2[usize::from(a) << 8 | usize::from(b)] = rank;
            }
        }
        let encoder = RankMap::new(&encoder);
        let id = unique_id();
        let max_token_len = starts.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(1);
        Ok(Tokenizer {
            id,
            pattern,
            encoder,
            starts,
            token_data,
            byte_ranks,
            pair2,
            max_token_len,
            specials: Specials::default(),
            trie: OnceBox::new(),
            long_merges: OnceBox::new(),
            sorted_ranks: OnceBox::new(),
        })
    }

    /// Adds special tokens `(text, id)`, replacing any the tokenizer had.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArg`] for an empty or repeated text, a repeated id, or an id
    /// that is already a rank.
    pub fn with_special_tokens(mut self, tokens: Vec<(String, u32)>) -> Result<Self> {
        let old: HashSet<u32> = self.specials.tokens.iter().map(|t| t.1).collect();
        let mut by_text = HashMap::with_capacity(tokens.len());
        let mut ids = HashSet::with_capacity(tokens.len());
        for (text, id) in &tokens {
            if text.is_empty() {
                return Err(Error::invalid_arg("a special token is the empty string"));
            }
            if by_text.insert(text.clone().into_boxed_str(), *id).is_some() {
                return Err(Error::invalid_arg(format!("special token {text:?} is given twice")));
            }
            if !ids.insert(*id) {
                return Err(Error::invalid_arg(format!("id {id} is given to two special tokens")));
            }
            if self.token_bytes(*id).is_some() && !old.contains(id) {
                return Err(Error::invalid_arg(format!(
                    "special token {text:?} has id {id}, which is already the rank of a token"
                )));
            }
        }
        let max_id = tokens.iter().map(|t| t.1).max().unwrap_or(0) as usize;
        if max_id + 1 > self.vocab_size() {
            let limit = (self.encoder.len() + tokens.len()).saturating_mul(MAX_SPARSITY).max(1 << 16);
            if max_id + 1 > limit {
                return Err(Error::invalid_arg(format!("special token id {max_id} is implausibly large")));
            }
        }
        let mut sorted: Vec<(Box<str>, u32)> =
            tokens.into_iter().map(|(t, id)| (t.into_boxed_str(), id)).collect();
        sorted.sort_by_key(|t| t.1);
        // The id table again, in one pass (a long special token or many of them cost
        // their length once): the old special tokens out, the new ones in.
        let n_ids = self.vocab_size().max(max_id + 1);
        let mut starts = Vec::with_capacity(n_ids + 1);
        let mut token_data =
            Vec::with_capacity(self.token_data.len() + sorted.iter().map(|t| t.0.len()).sum::<usize>());
        let mut new = sorted.iter().peekable();
        for id in 0..n_ids as u32 {
            starts.push(token_data.len());
            if let Some((text, _)) = new.next_if(|t| t.1 == id) {
                token_data.extend_from_slice(text.as_bytes());
            } else if !old.contains(&id) {
                token_data.extend_from_slice(self.token_bytes(id).unwrap_or_default());
            }
        }
        starts.push(token_data.len());
        self.starts = starts;
        self.token_data = token_data;
        self.specials = Specials::new(sorted, by_text)?;
        Ok(self)
    }

    /// The special tokens `(text, id)`, in id order.
    pub fn special_tokens(&self) -> impl ExactSizeIterator<Item = (&str, u32)> + '_ {
        self.specials.tokens.iter().map(|(t, id)| (&**t, *id))
    }

    /// The id of a byte string that is one token: a rank, else a special token's text
    /// (tiktoken's `encode_single_token`).
    pub fn single_token_id(&self, bytes: &[u8]) -> Option<u32> {
        self.token_id(bytes)
            .or_else(|| std::str::from_utf8(bytes).ok().and_then(|t| self.special_token_id(t)))
    }

    /// The id of a special token.
    pub fn special_token_id(&self, text: &str) -> Option<u32> {
        self.specials.by_text.get(text).copied()
    }

    /// Whether `id` is a special token.
    pub fn is_special(&self, id: u32) -> bool {
        self.specials.tokens.binary_search_by_key(&id, |t| t.1).is_ok()
    }

    /// Builds a tokenizer from a `.tiktoken` rank file's contents.
    ///
    /// # Errors
    /// As [`ranks::parse_tiktoken`] and [`Tokenizer::from_ranks`].
    pub fn from_tiktoken(data: &[u8], pattern: Pattern) -> Result<Self> {
        Self::from_ranks(ranks::parse_tiktoken(data)?, pattern)
    }

    /// The split pattern.
    pub fn pattern(&self) -> &Pattern {
        &self.pattern
    }

    /// One more than the largest token id (tiktoken's `n_vocab`).
    pub fn vocab_size(&self) -> usize {
        self.starts.len() - 1
    }

    /// The bytes of token `id`, or `None` if the id is unused.
    pub fn token_bytes(&self, id: u32) -> Option<&[u8]> {
        let id = id as usize;
        let (s, e) = (*self.starts.get(id)?, *self.starts.get(id + 1)?);
        (s < e).then(|| &self.token_data[s..e])
    }

    /// The rank of a byte string, if it is a token.
    pub fn token_id(&self, bytes: &[u8]) -> Option<u32> {
        self.encoder.get(bytes)
    }

    /// All ranked (BPE) tokens with their ids, in id order; special tokens are not included.
    pub fn tokens(&self) -> impl Iterator<Item = (&[u8], u32)> + '_ {
        (0..self.vocab_size() as u32)
            .filter(|&id| self.specials.tokens.is_empty() || !self.is_special(id))
            .filter_map(|id| self.token_bytes(id).map(|t| (t, id)))
    }

    /// Encodes `text`; special-token text becomes its special id when `allowed` allows
    /// it, and is ordinary text otherwise. (tiktoken's `encode` without its
    /// disallowed-special check; see [`Tokenizer::find_special`] for that.)
    ///
    /// # Errors
    /// [`ErrorKind::BadPattern`] if the regex engine fails while splitting.
    pub fn encode(&self, text: &str, allowed: Allowed<'_>) -> Result<Vec<u32>> {
        let mut out = Vec::with_capacity(text.len() / 3 + 1);
        self.encode_into(text, allowed, &mut out)?;
        Ok(out)
    }

    /// [`Tokenizer::encode`], appending to `out` (left unchanged on error).
    pub fn encode_into(&self, text: &str, allowed: Allowed<'_>, out: &mut Vec<u32>) -> Result<()> {
        let before = out.len();
        let result = self.encode_into_inner(text, allowed, out);
        if result.is_err() {
            out.truncate(before);
        }
        result
    }

    /// [`Tokenizer::encode_into`] into any sink: allowed special tokens where
    /// [`specials::leftmost_longest`] finds them, ordinary text between them.
    fn encode_into_inner(&self, text: &str, allowed: Allowed<'_>, out: &mut impl Sink) -> Result<()> {
        let mut start = 0;
        for (s, e, id) in self.specials.allowed_in(text, allowed) {
            self.encode_ordinary_into(&text[start..s], out)?;
            out.special(id);
            start = e;
        }
        self.encode_ordinary_into(&text[start..], out)
    }

    /// Encodes `text` with tiktoken's `encode` semantics: first the disallowed-special
    /// check, then [`Tokenizer::encode`] with the allowed set.
    ///
    /// # Errors
    /// [`ErrorKind::DisallowedSpecial`] naming the token; [`ErrorKind::BadPattern`].
    pub fn encode_with(&self, text: &str, policy: &SpecialPolicy<'_>) -> Result<Vec<u32>> {
        self.check_disallowed(text, policy)?;
        self.encode(text, policy.allowed)
    }

    /// [`Tokenizer::encode_with`]'s count, without building the list.
    ///
    /// # Errors
    /// As [`Tokenizer::encode_with`].
    pub fn count_with(&self, text: &str, policy: &SpecialPolicy<'_>) -> Result<usize> {
        self.check_disallowed(text, policy)?;
        self.count(text, policy.allowed)
    }

    /// Encodes many texts in parallel (on the current rayon pool): the ids of all texts
    /// one after another, and `texts.len() + 1` offsets (text `i` is `ids[off[i]..off[i+1]]`).
    ///
    /// # Errors
    /// The first failing text's error, prefixed with its index; no partial output.
    pub fn encode_batch<S: AsRef<str> + Sync>(
        &self,
        texts: &[S],
        policy: &SpecialPolicy<'_>,
    ) -> Result<(Vec<u32>, Vec<usize>)> {
        use rayon::prelude::*;
        match texts {
            // No parallelism to have, so no pool to enter (and wake).
            [] => return Ok((Vec::new(), vec![0])),
            [text] => {
                let ids = self.encode_with(text.as_ref(), policy).map_err(|e| batch_error(0, &e))?;
                let n = ids.len();
                return Ok((ids, vec![0, n]));
            }
            _ => {}
        }
        let results: Vec<Result<Vec<u32>>> =
            texts.par_iter().map(|t| self.encode_with(t.as_ref(), policy)).collect();
        let mut parts = Vec::with_capacity(results.len());
        for (i, r) in results.into_iter().enumerate() {
            // The first failing text in order, whichever thread failed first.
            parts.push(r.map_err(|e| batch_error(i, &e))?);
        }
        let mut offsets = Vec::with_capacity(parts.len() + 1);
        offsets.push(0);
        for p in &parts {
            offsets.push(offsets[offsets.len() - 1] + p.len());
        }
        // Copy the parts into place in parallel too: serial, this copy is a visible share
        // of a batch call on many threads.
        let mut ids = vec![0u32; offsets[parts.len()]];
        let mut slots = Vec::with_capacity(parts.len());
        let mut rest = &mut ids[..];
        for p in &parts {
            let (slot, tail) = rest.split_at_mut(p.len());
            slots.push(slot);
            rest = tail;
        }
        slots.into_par_iter().zip(parts.par_iter()).for_each(|(slot, p)| slot.copy_from_slice(p));
        Ok((ids, offsets))
    }

    /// Encodes `text`, treating any special-token text as ordinary text.
    ///
    /// # Errors
    /// [`ErrorKind::BadPattern`] if the regex engine fails while splitting.
    pub fn encode_ordinary(&self, text: &str) -> Result<Vec<u32>> {
        let mut out = Vec::with_capacity(text.len() / 3 + 1);
        self.encode_ordinary_into(text, &mut out)?;
        Ok(out)
    }

    fn encode_ordinary_into(&self, text: &str, out: &mut impl Sink) -> Result<()> {
        self.pattern.for_each_piece(text, |piece| out.piece(self, piece.as_bytes()))
    }

    /// The number of tokens `encode(text, allowed)` gives, without building the list.
    ///
    /// # Errors
    /// As [`Tokenizer::encode`].
    pub fn count(&self, text: &str, allowed: Allowed<'_>) -> Result<usize> {
        let mut counter = Counter::default();
        self.encode_into_inner(text, allowed, &mut counter)?;
        Ok(counter.n)
    }

    /// Appends the tokens of one piece (no splitting) to `out`.
    pub fn encode_piece(&self, piece: &[u8], out: &mut Vec<u32>) {
        match piece.len() {
            0 => {}
            1 => out.push(self.byte_ranks[piece[0] as usize]),
            2 => match self.pair2[usize::from(piece[0]) << 8 | usize::from(piece[1])] {
                u32::MAX => {
                    out.extend([self.byte_ranks[piece[0] as usize], self.byte_ranks[piece[1] as usize]])
                }
                id => out.push(id),
            },
            CACHE_MIN..=MID_MAX => self.merge_cached(piece, out),
            n => {
                // Pieces of 3-5 bytes that start or end with a non-ASCII byte through the
                // bitsets: in random bytes as latin-1 (most short pieces) they are rarely
                // tokens. The others, mostly tokens in ordinary text, go straight to the table.
                let id = if n <= 5 && (piece[0] | piece[n - 1]) >= 0x80 {
                    self.encoder.get(piece)
                } else {
                    self.encoder.get_unfiltered(piece)
                };
                if let Some(id) = id {
                    out.push(id);
                } else if let [a, b, c] = *piece {
                    self.merge_three_non_token(a, b, c, out);
                } else if piece.len() < CACHE_MIN {
                    self.merge_scan_non_token(piece, out);
                } else if piece.len() <= MID_MAX {
                    self.merge_cached(piece, out);
                } else if piece.len() < BACKTRACK_MIN {
                    self.merge_scan_non_token(piece, out);
                } else {
                    self.merge_backtrack(piece, out);
                }
            }
        }
    }

    /// [`Tokenizer::merge_scan`] through this thread's cache of merged pieces.
    fn merge_cached(&self, piece: &[u8], out: &mut Vec<u32>) {
        CACHES.with(|caches| {
            let Ok(mut caches) = caches.try_borrow_mut() else {
                return match self.encoder.get_unfiltered(piece) {
                    Some(id) => out.push(id),
                    None => self.merge_scan_non_token(piece, out),
                };
            };
            let cache = PieceCache::for_owner(&mut caches, self.id);
            if cache.skip > 0 {
                // Pieces do not repeat here, and are rarely tokens: through the bitsets.
                cache.skip -= 1;
                return match self.encoder.get(piece) {
                    Some(id) => out.push(id),
                    None => self.merge_scan_non_token(piece, out),
                };
            }
            let found = cache.map.get(piece).copied();
            cache.count(found.is_some());
            if let Some((off, len)) = found {
                out.extend_from_slice(&cache.arena[off as usize..(off + len) as usize]);
                return;
            }
            if let Some(id) = self.encoder.get_unfiltered(piece) {
                return out.push(id);
            }
            let start = out.len();
            self.merge_scan_non_token(piece, out);
            if cache.arena.len() >= CACHE_MAX_TOKENS {
                cache.map.clear(); // keeps its capacity: no regrowing from empty
                cache.arena.clear();
            }
            let off = cache.arena.len() as u32;
            cache.arena.extend_from_slice(&out[start..]);
            cache.map.insert(piece, (off, (out.len() - start) as u32));
        })
    }

    /// The search trie (see [`long`]), built on first use.
    fn trie(&self) -> &long::Trie {
        self.trie.get_or_init(|| Box::new(Arc::new(self.build_trie(self.long_merges()))))
    }

    /// How long tokens are made (see [`long::LongMerges`]), computed on first use.
    fn long_merges(&self) -> &long::LongMerges {
        self.long_merges.get_or_init(|| Box::new(Arc::new(self.build_long_merges())))
    }

    /// The rank ids sorted by their bytes, built on first use.
    fn sorted_ranks(&self) -> &[u32] {
        self.sorted_ranks.get_or_init(|| {
            let mut by_bytes: Vec<(&[u8], u32)> = self.tokens().collect();
            by_bytes.sort_unstable();
            Box::new(by_bytes.into_iter().map(|(_, id)| id).collect())
        })
    }

    /// The plain merge, without cache or trie: the scan for short input, else the heap.
    fn merge_reference(&self, piece: &[u8], out: &mut Vec<u32>) {
        match piece.len() {
            0 => {}
            1 => out.push(self.byte_ranks[piece[0] as usize]),
            n if n <= SCAN_MAX => self.merge_scan(piece, out),
            _ => self.merge_heap(piece, out),
        }
    }

    #[inline]
    fn rank(&self, bytes: &[u8]) -> u32 {
        // Longer than every token: no lookup (this keeps long runs, where candidate pairs
        // grow far beyond any token, from hashing ever longer slices).
        if bytes.len() > self.max_token_len {
            return u32::MAX;
        }
        if let [a, b] = *bytes {
            return self.pair2[usize::from(a) << 8 | usize::from(b)];
        }
        self.encoder.get_unfiltered(bytes).unwrap_or(u32::MAX)
    }

    /// [`Tokenizer::rank`] through the rank table's bitsets ([`RankMap::get`]), for the
    /// pairs inside short pieces that are not tokens: mostly not tokens either, and in
    /// random bytes as latin-1 nearly all stop at the bitsets. (Not for whole pieces, nor
    /// the long-piece searches: there most keys pass and the check only costs.)
    #[inline]
    fn rank_filtered(&self, bytes: &[u8]) -> u32 {
        if let [a, b] = *bytes {
            return self.pair2[usize::from(a) << 8 | usize::from(b)];
        }
        self.encoder.get(bytes).unwrap_or(u32::MAX)
    }

    /// Quadratic merge for short pieces: each round finds the lowest-ranked adjacent
    /// pair by a scan over all pair slots, merges it and re-ranks its two neighbours.
    fn merge_scan(&self, piece: &[u8], out: &mut Vec<u32>) {
        self.merge_scan_with(piece, out, |_, _, _| {});
    }

    /// The merge of a three-byte piece that is not a token: the lower-ranked of its two
    /// pairs (the left one on a tie, which is the same pair) merges, if either is a token,
    /// and the pair that would then remain is the whole piece, which is not a token.
    #[inline]
    fn merge_three_non_token(&self, a: u8, b: u8, c: u8, out: &mut Vec<u32>) {
        let left = self.pair2[usize::from(a) << 8 | usize::from(b)];
        let right = self.pair2[usize::from(b) << 8 | usize::from(c)];
        let byte = |x: u8| self.byte_ranks[usize::from(x)];
        if left <= right && left != u32::MAX {
            out.extend([left, byte(c)]);
        } else if right != u32::MAX {
            out.extend([byte(a), right]);
        } else {
            out.extend([byte(a), byte(b), byte(c)]);
        }
    }

    /// [`Tokenizer::merge_scan`] of a piece the caller has found is not a token: the
    /// pair that would span the whole piece (when two tokens are left) is then known to
    /// have no rank, and is not looked up again.
    fn merge_scan_non_token(&self, piece: &[u8], out: &mut Vec<u32>) {
        debug_assert!(self.encoder.get(piece).is_none());
        if piece.len() <= 8 {
            self.merge_scan_n::<8, true>(piece, out, |_, _, _| {});
        } else if piece.len() <= 32 {
            self.merge_scan_n::<32, true>(piece, out, |_, _, _| {});
        } else {
            self.merge_scan_n::<SCAN_MAX, true>(piece, out, |_, _, _| {});
        }
    }

    /// [`Tokenizer::merge_scan`], calling `on_merge(first, last, id)` after each merge:
    /// two tokens became `id`, which is the first and/or the last token of the piece.
    #[inline]
    fn merge_scan_with(&self, piece: &[u8], out: &mut Vec<u32>, on_merge: impl FnMut(bool, bool, u32)) {
        debug_assert!((2..=SCAN_MAX).contains(&piece.len()));
        if piece.len() <= 32 {
            self.merge_scan_n::<32, false>(piece, out, on_merge);
        } else {
            self.merge_scan_n::<SCAN_MAX, false>(piece, out, on_merge);
        }
    }

    /// [`Tokenizer::merge_scan_with`] for pieces of at most `N` (<= 255) bytes, with its
    /// state in fixed arrays on the stack (no allocation per piece).
    ///
    /// Tokens stay where their first byte is: slot `i` holds the token starting at byte
    /// `i`, linked to its neighbours by `next`/`prev`, and `pair[i]` is the rank of it
    /// joined with the next token (`u32::MAX` for none, or for a slot merged away). So a
    /// merge moves nothing (shifting the arrays was three `memmove` calls per merge),
    /// and the scan for the lowest rank is a plain minimum over a fixed slice, which
    /// vectorizes; the leftmost slot with it is tiktoken's leftmost pair.
    fn merge_scan_n<const N: usize, const NON_TOKEN: bool>(
        &self,
        piece: &[u8],
        out: &mut Vec<u32>,
        mut on_merge: impl FnMut(bool, bool, u32),
    ) {
        let n = piece.len();
        let mut next = [0u8; N];
        let mut prev = [0u8; N];
        let mut ids = [0u32; N];
        let mut pair = [u32::MAX; N];
        for i in 0..n {
            next[i] = (i + 1) as u8;
            prev[i] = i.wrapping_sub(1) as u8;
            ids[i] = self.byte_ranks[usize::from(piece[i])];
        }
        for i in 0..n - 1 {
            pair[i] = self.pair2[usize::from(piece[i]) << 8 | usize::from(piece[i + 1])];
        }
        let pairs = &mut pair[..n]; // pairs[n - 1] stays u32::MAX: the last token has no pair
                                    // The rank of the pair of tokens that spans piece[a..b]; in a piece known not to
                                    // be a token, the pair spanning all of it has none.
        let pair_rank = |a: usize, b: usize| {
            if !NON_TOKEN {
                self.rank(&piece[a..b])
            } else if a == 0 && b == n {
                u32::MAX
            } else {
                self.rank_filtered(&piece[a..b])
            }
        };
        loop {
            let best = pairs.iter().copied().min().unwrap_or(u32::MAX);
            if best == u32::MAX {
                break;
            }
            let i = pairs.iter().position(|&r| r == best).unwrap_or(0);
            let j = usize::from(next[i]); // merged into i
            let k = usize::from(next[j]); // the token after, or n
            ids[i] = best;
            pairs[j] = u32::MAX;
            next[i] = k as u8;
            if k < n {
                prev[k] = i as u8;
                pairs[i] = pair_rank(i, usize::from(next[k]));
            } else {
                pairs[i] = u32::MAX;
            }
            on_merge(i == 0, k == n, best);
            if i > 0 {
                let h = usize::from(prev[i]);
                pairs[h] = pair_rank(h, k);
            }
        }
        let mut i = 0;
        while i < n {
            out.push(ids[i]);
            i = usize::from(next[i]);
        }
    }

    /// O(n log n) merge for any piece and any rank table: a doubly linked list of tokens
    /// and a priority queue of `(rank, position)` with lazy deletion. Popping the least
    /// `(rank, position)` whose pair is still current is exactly tiktoken's "lowest rank,
    /// leftmost" choice.
    fn merge_heap(&self, piece: &[u8], out: &mut Vec<u32>) {
        self.merge_heap_with(piece, out, self.long_merges(), u32::MAX);
    }

    /// [`Tokenizer::merge_heap`] with pairs that join into more than [`SCAN_MAX`] bytes
    /// looked up in `long` by their ids (exact by fact 3 of [`long`]; a lookup costs the
    /// same whatever the tokens' length), except that the pair spanning all of `piece`
    /// has rank `whole` if that is not `u32::MAX`. Returns the last pair merged.
    pub(crate) fn merge_heap_with(
        &self,
        piece: &[u8],
        out: &mut Vec<u32>,
        long: &long::LongMerges,
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
        long: &long::LongMerges,
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

    /// Decodes ids to bytes (which need not be valid UTF-8).
    ///
    /// # Errors
    /// [`ErrorKind::UnknownToken`] naming the first id that is not a token.
    pub fn decode(&self, ids: &[u32]) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(ids.len() * 4);
        for &id in ids {
            let bytes = self.token_bytes(id).ok_or_else(|| {
                Error::new(ErrorKind::UnknownToken, format!("token id {id} is not in the vocabulary"))
            })?;
            out.extend_from_slice(bytes);
        }
        Ok(out)
    }

    /// The ranks in tiktoken's `.tiktoken` format, sorted by rank.
    pub fn export_tiktoken(&self) -> Vec<u8> {
        ranks::write_tiktoken(self.tokens())
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

/// Text `i` of a batch failed with `e`: the same error, its message prefixed `texts[i]: `.
fn batch_error(i: usize, e: &Error) -> Error {
    Error::new(e.kind(), format!("texts[{i}]: {}", e.message()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// All bytes, then a few merges: "ab", "abc"(= "ab"+"c"), "aa", "aaaa".
    fn toy() -> Tokenizer {
        let mut pairs: Vec<(Vec<u8>, u32)> = (0..=255u8).map(|b| (vec![b], b as u32)).collect();
        for (i, t) in [&b"ab"[..], b"abc", b"aa", b"aaaa", b"ca"].iter().enumerate() {
            pairs.push((t.to_vec(), 256 + i as u32));
        }
        Tokenizer::from_ranks(pairs, Pattern::default_pattern()).unwrap()
    }

    #[test]
    fn merges_lowest_rank_leftmost() {
        let t = toy();
        let enc = |s: &[u8]| {
            let mut v = Vec::new();
            t.encode_piece(s, &mut v);
            v
        };
        assert_eq!(enc(b"abc"), vec![257]);
        assert_eq!(enc(b"aaa"), vec![258, 97]);
        assert_eq!(enc(b"aaaaa"), vec![259, 97]);
        assert_eq!(enc(b"cab"), vec![99, 256]);
        assert_eq!(enc(b"caa"), vec![99, 258]);
    }

    #[test]
    fn unknown_id_is_an_error() {
        let e = toy().decode(&[97, 99999]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::UnknownToken);
        assert!(e.message().contains("99999"));
    }

    #[test]
    fn rejects_bad_tables() {
        let p = Pattern::default_pattern;
        let bytes: Vec<(Vec<u8>, u32)> = (0..=255u8).map(|b| (vec![b], b as u32)).collect();
        let mut dup = bytes.clone();
        dup.push((b"xy".to_vec(), 5));
        assert!(Tokenizer::from_ranks(dup, p()).unwrap_err().message().contains("rank 5"));
        let missing = bytes[1..].to_vec();
        assert!(Tokenizer::from_ranks(missing, p()).unwrap_err().message().contains("0x00"));
        assert!(Tokenizer::from_ranks(vec![], p()).unwrap_err().message().contains("empty"));
        let mut sparse = bytes.clone();
        sparse.push((b"xy".to_vec(), 4_000_000_000));
        assert!(Tokenizer::from_ranks(sparse, p()).unwrap_err().message().contains("sparse"));
    }

    #[test]
    fn duplicate_bytes_last_wins_like_a_dict() {
        let mut pairs: Vec<(Vec<u8>, u32)> = (0..=255u8).map(|b| (vec![b], b as u32)).collect();
        pairs.push((b"ab".to_vec(), 256));
        pairs.push((b"ab".to_vec(), 257));
        let t = Tokenizer::from_ranks(pairs, Pattern::default_pattern()).unwrap();
        assert_eq!(t.token_id(b"ab"), Some(257));
        assert_eq!(t.token_bytes(256), None);
        assert_eq!(t.vocab_size(), 258);
    }

    fn with_specials() -> Tokenizer {
        toy()
            .with_special_tokens(vec![("<|end|>".into(), 300), ("<|end|>x".into(), 301), ("<s>".into(), 302)])
            .unwrap()
    }

    #[test]
    fn disallowed_special_is_an_error() {
        let t = with_specials();
        let e = t.encode_with("x <s> y", &SpecialPolicy::DEFAULT).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::DisallowedSpecial);
        assert!(e.message().contains(" token '<s>'.\n"), "{}", e.message());
        let allowed: HashSet<&str> = ["<s>"].into_iter().collect();
        let p = SpecialPolicy { allowed: Allowed::Some(&allowed), disallowed: Disallowed::AllNotAllowed };
        assert_eq!(t.encode_with("x<s>", &p).unwrap(), vec![120, 302]);
        assert!(t.encode_with("x<s><|end|>", &p).is_err());
        assert_eq!(
            t.encode_with("x<s>", &SpecialPolicy::ORDINARY).unwrap(),
            t.encode_ordinary("x<s>").unwrap()
        );
        let (ids, off) = t.encode_batch(&["ab", "", "<s>c"], &SpecialPolicy::ORDINARY).unwrap();
        assert_eq!(off, vec![0, 1, 1, ids.len()]);
        let e = t.encode_batch(&["ab", "<s>"], &SpecialPolicy::DEFAULT).unwrap_err();
        assert!(e.message().starts_with("texts[1]: "), "{}", e.message());
    }

    #[test]
    fn special_tokens_encode_only_when_allowed() {
        let t = with_specials();
        let text = "ab<|end|>cab<s>";
        let ordinary = t.encode_ordinary(text).unwrap();
        assert_eq!(t.encode(text, Allowed::None).unwrap(), ordinary);
        let all = t.encode(text, Allowed::All).unwrap();
        assert_eq!(all, vec![256, 300, 99, 256, 302]);
        let only_s: HashSet<&str> = ["<s>"].into_iter().collect();
        let some = t.encode(text, Allowed::Some(&only_s)).unwrap();
        assert_eq!(*some.last().unwrap(), 302);
        assert!(!some.contains(&300));
        assert_eq!(t.decode(&some).unwrap(), text.as_bytes());
        // Leftmost, then longest: "<|end|>x" wins over "<|end|>"...
        assert_eq!(t.encode("<|end|>x", Allowed::All).unwrap(), vec![301]);
        // ...unless only the shorter one is allowed.
        let only_end: HashSet<&str> = ["<|end|>"].into_iter().collect();
        assert_eq!(t.encode("<|end|>x", Allowed::Some(&only_end)).unwrap(), vec![300, 120]);
        assert_eq!(t.count(text, Allowed::All).unwrap(), all.len());
        assert_eq!(t.count(text, Allowed::None).unwrap(), ordinary.len());
        assert_eq!(t.vocab_size(), 303);
        assert!(t.is_special(301) && !t.is_special(256));
        assert_eq!(t.tokens().count(), 256 + 5, "special tokens are not ranks");
    }

    #[test]
    fn special_tokens_are_found_in_linear_time() {
        // A text dense with prefixes of a long special token: each "\u{fffd}" is a token
        // and starts the long one, which never completes.
        let long = "\u{fffd}D\u{fffd}".repeat(16_384);
        let tok = toy().with_special_tokens(vec![(long, 1000), ("\u{fffd}".into(), 1001)]).unwrap();
        let text = "\u{fffd}D".repeat(200_000);
        let start = std::time::Instant::now();
        let ids = tok.encode(&text, Allowed::All).unwrap();
        assert!(start.elapsed() < std::time::Duration::from_secs(10), "took {:?}", start.elapsed());
        assert_eq!(ids.iter().filter(|&&id| id == 1001).count(), 200_000);
        assert_eq!(tok.decode(&ids).unwrap(), text.as_bytes());
    }

    #[test]
    fn overlapping_specials_leftmost_then_longest() {
        let tok = toy()
            .with_special_tokens(vec![("<|a".into(), 1000), ("<|ab|>".into(), 1001), ("b|><|".into(), 1002)])
            .unwrap();
        let allowed: HashSet<&str> = ["<|a", "b|><|"].into_iter().collect();
        let ids = tok.encode("<|ab|><|ab|>", Allowed::All).unwrap();
        assert_eq!(ids.iter().filter(|&&i| i >= 1000).collect::<Vec<_>>(), [&1001, &1001]);
        // "<|ab|>" not allowed: "<|a" at 0, then "b|><|" at 3, then "ab|>" is text.
        let ids = tok.encode("<|ab|><|ab|>", Allowed::Some(&allowed)).unwrap();
        assert_eq!(ids.iter().filter(|&&i| i >= 1000).collect::<Vec<_>>(), [&1000, &1002]);
        assert_eq!(tok.decode(&ids).unwrap(), b"<|ab|><|ab|>");
    }

    #[test]
    fn find_special_sees_overlaps() {
        let t = with_specials();
        assert_eq!(t.find_special("a <|end|>x b", |_| true), Some("<|end|>x"));
        assert_eq!(t.find_special("a <|end|>x b", |s| s == "<|end|>"), Some("<|end|>"));
        assert_eq!(t.find_special("nothing here", |_| true), None);
    }

    #[test]
    fn bad_special_tokens() {
        let e = |v: Vec<(String, u32)>| toy().with_special_tokens(v).unwrap_err().message().to_string();
        assert!(e(vec![("".into(), 400)]).contains("empty"));
        assert!(e(vec![("<a>".into(), 400), ("<a>".into(), 401)]).contains("twice"));
        assert!(e(vec![("<a>".into(), 400), ("<b>".into(), 400)]).contains("two special"));
        assert!(e(vec![("<a>".into(), 97)]).contains("already the rank"));
        assert!(e(vec![("<a>".into(), u32::MAX)]).contains("implausibly"));
    }

    /// Pieces that never repeat turn this thread's piece cache off for a while; merges stay
    /// exact with it off and on, and repeated pieces turn it back on.
    #[test]
    fn piece_cache_turns_off_for_pieces_that_do_not_repeat() {
        let t = toy();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let check = |piece: &[u8]| {
            let (mut got, mut expect) = (Vec::new(), Vec::new());
            t.encode_piece(piece, &mut got);
            match t.token_id(piece) {
                Some(id) => expect.push(id),
                None => t.merge_heap(piece, &mut expect),
            }
            assert_eq!(got, expect, "{piece:?}");
        };
        let skip = || CACHES.with(|c| c.borrow().iter().find(|c| c.owner == t.id).map(|c| c.skip));
        for _ in 0..CACHE_WINDOW {
            let piece: Vec<u8> = (0..12)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    b"aabcd"[(x % 5) as usize]
                })
                .collect();
            check(&piece);
        }
        assert_eq!(skip(), Some(CACHE_SKIP));
        // Merged without the cache, then with it again, repeating pieces.
        for i in 0..CACHE_SKIP as usize + 2 * CACHE_WINDOW as usize {
            check(&b"abcaabcaaaacabca"[i % 3..i % 3 + 8 + i % 7]);
        }
        assert_eq!(skip(), Some(0));
    }

    /// Every piece of 3 to 5 bytes over a few bytes, ASCII and not (the routes through
    /// the rank table's bitsets and around them), against the definition.
    #[test]
    fn short_pieces_with_non_ascii_bytes() {
        let alphabet = [b'a', b'b', 0xC3, 0xA9];
        let mut pairs: Vec<(Vec<u8>, u32)> = (0..=255u8).map(|b| (vec![b], b as u32)).collect();
        let extra: [&[u8]; 8] = [
            b"\xC3\xA9",
            b"a\xC3",
            b"\xA9a",
            b"a\xC3\xA9",
            b"\xC3\xA9\xC3",
            b"ab\xC3\xA9",
            b"\xA9ab",
            b"aaa",
        ];
        pairs.extend(extra.iter().enumerate().map(|(i, t)| (t.to_vec(), 256 + i as u32)));
        let t = Tokenizer::from_ranks(pairs, Pattern::default_pattern()).unwrap();
        for n in 3..=5u32 {
            for code in 0..4usize.pow(n) {
                let piece: Vec<u8> = (0..n).map(|k| alphabet[code / 4usize.pow(k) % 4]).collect();
                let (mut got, mut expect) = (Vec::new(), Vec::new());
                t.encode_piece(&piece, &mut got);
                match t.token_id(&piece) {
                    Some(id) => expect.push(id),
                    None => t.merge_heap(&piece, &mut expect),
                }
                assert_eq!(got, expect, "{piece:?}");
            }
        }
    }

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

    /// The shared rank files, or a panic naming where they were looked for.
    fn shared_ranks(name: &str) -> Vec<u8> {
        let dir = std::env::var("BPEKIT_DATA")
            .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data").to_string());
        let path = std::path::Path::new(&dir).join(format!("{name}.tiktoken"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (set BPEKIT_DATA)", path.display()))
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
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
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

    proptest! {
        #[test]
        fn specials_roundtrip(parts in proptest::collection::vec(prop_oneof![Just("<|end|>"), Just("<s>"), Just("ab"), Just(" c"), Just("<|"), Just("é")], 0..20)) {
            let t = with_specials();
            let text = parts.concat();
            for allowed in [Allowed::None, Allowed::All] {
                let ids = t.encode(&text, allowed).unwrap();
                prop_assert_eq!(t.decode(&ids).unwrap(), text.as_bytes());
                prop_assert_eq!(t.count(&text, allowed).unwrap(), ids.len());
            }
        }

        #[test]
        fn scan_and_heap_agree(piece in proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), Just(b'c'), any::<u8>()], 2..=SCAN_MAX)) {
            let t = toy();
            let (mut a, mut b) = (Vec::new(), Vec::new());
            t.merge_scan(&piece, &mut a);
            t.merge_heap(&piece, &mut b);
            prop_assert_eq!(&a, &b);
            prop_assert_eq!(t.decode(&a).unwrap(), piece);
        }

        #[test]
        fn backtrack_and_heap_agree(piece in proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), Just(b'c'), any::<u8>()], 1..400)) {
            let t = toy();
            let (mut a, mut b) = (Vec::new(), Vec::new());
            t.merge_backtrack(&piece, &mut a);
            t.merge_heap(&piece, &mut b);
            prop_assert_eq!(&a, &b);
        }

        /// Any rank table, not just one made by training: random tokens over a small
        /// alphabet with random ranks.
        #[test]
        fn backtrack_is_exact_for_arbitrary_ranks(
            tokens in proptest::collection::vec(proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), Just(b'c')], 2..7), 1..60),
            order in proptest::collection::vec(any::<u32>(), 60),
            pieces in proptest::collection::vec(proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), Just(b'c'), Just(b'd')], 1..200), 1..8),
        ) {
            let mut extra: Vec<Vec<u8>> = tokens;
            extra.sort();
            extra.dedup();
            // A random permutation of ranks above the single bytes.
            let mut ranked: Vec<(u32, Vec<u8>)> = extra.into_iter().zip(&order).map(|(t, &o)| (o, t)).collect();
            ranked.sort();
            let mut pairs: Vec<(Vec<u8>, u32)> = (0..=255u8).map(|b| (vec![b], b as u32)).collect();
            pairs.extend(ranked.into_iter().enumerate().map(|(i, (_, t))| (t, 256 + i as u32)));
            let t = Tokenizer::from_ranks(pairs, Pattern::default_pattern()).unwrap();
            for piece in pieces {
                let (mut a, mut b) = (Vec::new(), Vec::new());
                t.merge_backtrack(&piece, &mut a);
                t.merge_heap(&piece, &mut b);
                prop_assert_eq!(&a, &b, "piece {:?}", String::from_utf8_lossy(&piece));
                // And every route `encode_piece` takes (whole token, direct scan, cache,
                // backtracking) against the definition, on the piece and its short prefixes.
                for k in (1..piece.len().min(40)).chain([piece.len()]) {
                    let part = &piece[..k];
                    let mut expect = Vec::new();
                    match t.token_id(part) {
                        Some(id) => expect.push(id),
                        None => t.merge_heap(part, &mut expect),
                    }
                    for _ in 0..2 {
                        // twice: the second time from the piece cache
                        let mut got = Vec::new();
                        t.encode_piece(part, &mut got);
                        prop_assert_eq!(&got, &expect, "piece {:?}", String::from_utf8_lossy(part));
                    }
                }
            }
        }

        #[test]
        fn roundtrip_any_text(s in "\\PC*") {
            let t = toy();
            let ids = t.encode_ordinary(&s).unwrap();
            prop_assert_eq!(t.decode(&ids).unwrap(), s.as_bytes());
        }
    }

    // ==== Long tokens, long special tokens, racing first uses ====

    /// tiktoken's `byte_pair_merge` written plainly: ranks of the byte strings, one scan
    /// per merge for the lowest-ranked, leftmost pair. The definition every route is
    /// checked against.
    fn reference_merge(t: &Tokenizer, piece: &[u8]) -> Vec<u32> {
        let rank = |a: usize, b: usize| t.token_id(&piece[a..b]).unwrap_or(u32::MAX);
        // (start of the part, rank of it joined with the next part)
        let mut parts: Vec<(usize, u32)> = (0..=piece.len()).map(|i| (i, u32::MAX)).collect();
        for i in 0..parts.len().saturating_sub(2) {
            parts[i].1 = rank(parts[i].0, parts[i + 2].0);
        }
        let lowest = |parts: &[(usize, u32)]| {
            let (i, r) = parts.iter().map(|p| p.1).enumerate().min_by_key(|&(i, r)| (r, i))?;
            (r != u32::MAX).then_some(i)
        };
        while let Some(i) = lowest(&parts) {
            parts.remove(i + 1);
            let rerank = |parts: &[(usize, u32)], k: usize| {
                if k + 2 < parts.len() {
                    rank(parts[k].0, parts[k + 2].0)
                } else {
                    u32::MAX
                }
            };
            parts[i].1 = rerank(&parts, i);
            if i > 0 {
                parts[i - 1].1 = rerank(&parts, i - 1);
            }
        }
        parts.windows(2).map(|w| t.token_id(&piece[w[0].0..w[1].0]).unwrap()).collect()
    }

    /// The tokens of `piece` by each route, all equal to the definition.
    fn check_routes(t: &Tokenizer, piece: &[u8]) {
        let expect = match t.token_id(piece) {
            Some(id) => vec![id],
            None => reference_merge(t, piece),
        };
        let (mut got, mut heap, mut back) = (Vec::new(), Vec::new(), Vec::new());
        t.encode_piece(piece, &mut got);
        assert_eq!(got, expect, "encode_piece, piece {:?}", String::from_utf8_lossy(piece));
        if t.token_id(piece).is_none() {
            t.merge_heap(piece, &mut heap);
            assert_eq!(heap, expect, "heap, piece {:?}", String::from_utf8_lossy(piece));
            t.merge_backtrack(piece, &mut back);
            assert_eq!(back, expect, "backtrack, piece {:?}", String::from_utf8_lossy(piece));
        }
    }

    /// `f()` on another thread, or a panic if it has not returned after `secs` seconds
    /// (twelve times that in a debug build): a guard against hangs, not a speed check
    /// (the cases here take milliseconds in release builds).
    fn within<T: Send + 'static>(secs: u64, what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
        let secs = if cfg!(debug_assertions) { 12 * secs } else { secs };
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(f());
        });
        match rx.recv_timeout(std::time::Duration::from_secs(secs)) {
            Ok(v) => v,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!("{what}: not done after {secs} s"),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => panic!("{what}: panicked"),
        }
    }

    /// The 256 bytes, then `extra` in rank order.
    fn bytes_and(extra: impl IntoIterator<Item = Vec<u8>>) -> Vec<(Vec<u8>, u32)> {
        let mut pairs: Vec<(Vec<u8>, u32)> = (0..=255u8).map(|b| (vec![b], b as u32)).collect();
        pairs.extend(extra.into_iter().zip(256..));
        pairs
    }

    /// Each text is one piece.
    fn whole_text() -> Pattern {
        Pattern::new("(?s:.+)").unwrap()
    }

    /// Finding 2 (a) of issue 13: `-=` repeated 1 to 1,000 times, each made by merges,
    /// and a piece of 6,001 bytes whose tokens are up to 2,000 bytes long.
    #[test]
    fn long_tokens_made_by_merges() {
        let t = Tokenizer::from_ranks(bytes_and((1..=1000).map(|k| b"-=".repeat(k))), whole_text()).unwrap();
        let text = "-=".repeat(3000) + "=";
        let (t, ids) = within(5, "encode", move || {
            let ids = t.encode_ordinary(&text).unwrap();
            (t, ids)
        });
        assert_eq!(ids, reference_merge(&t, ("-=".repeat(3000) + "=").as_bytes()));
        assert!(ids.iter().any(|&id| t.token_bytes(id).unwrap().len() > SCAN_MAX));
        for piece in [&b"-=".repeat(1000)[..], &b"-=".repeat(1001), &b"=-".repeat(700), &b"--=".repeat(300)] {
            check_routes(&t, piece);
        }
    }

    /// Finding 2 (b): one long token that no merge makes; pieces of the one byte twice
    /// as long and longer.
    #[test]
    fn long_token_no_merge_makes() {
        for (token_len, text_len) in [(40_000, 80_000), (200_000, 300_000)] {
            let t = Tokenizer::from_ranks(bytes_and([vec![b'b'; token_len]]), whole_text()).unwrap();
            let (t, ids) = within(5, "encode", move || {
                let ids = t.encode_ordinary(&"b".repeat(text_len)).unwrap();
                (t, ids)
            });
            assert_eq!(ids, vec![u32::from(b'b'); text_len]);
            assert_eq!(t.encode_ordinary(&"b".repeat(token_len)).unwrap(), vec![256]);
            for n in [token_len - 1, token_len + 1, 2 * token_len] {
                check_routes(&t, &vec![b'b'; n]);
            }
        }
    }

    /// Long tokens that merges make, in a long piece: `b` repeated 2, 4, ..., 2^17 times.
    #[test]
    fn long_tokens_made_by_merges_in_a_long_piece() {
        let t = Tokenizer::from_ranks(bytes_and((1..=17).map(|k| vec![b'b'; 1 << k])), whole_text()).unwrap();
        let n = 300_000;
        let (t, ids) = within(5, "encode", move || {
            let ids = t.encode_ordinary(&"b".repeat(n)).unwrap();
            (t, ids)
        });
        // Each level of merges pairs the level below from the left: the largest tokens
        // first, then the binary digits of what is left, largest first.
        let mut expect = vec![256 + 16; n >> 17];
        for k in (0..17).rev() {
            if n & (1 << k) != 0 {
                expect.push(if k == 0 { u32::from(b'b') } else { 255 + k as u32 });
            }
        }
        assert_eq!(ids, expect);
        for n in [129, 255, 256, 1000, 5000] {
            check_routes(&t, &vec![b'b'; n]);
        }
    }

    /// Finding 3: long special tokens (of one repeated letter: the worst case for the
    /// automaton) build fast and encode to their ids where allowed.
    #[test]
    fn long_special_tokens() {
        for len in [16 << 10, 64 << 10, 1 << 20] {
            let long = "ab".repeat(len / 2);
            let specials = vec![("<|endoftext|>".to_string(), 300), (long.clone(), 301)];
            let t = within(5, "build", move || toy().with_special_tokens(specials).unwrap());
            let text = format!("x{long}<|endoftext|>{}y", &long[..len / 2]);
            let all = t.encode(&text, Allowed::All).unwrap();
            let mut expect = vec![u32::from(b'x'), 301, 300];
            expect.extend(t.encode_ordinary(&format!("{}y", &long[..len / 2])).unwrap());
            assert_eq!(all, expect);
            let e = t.encode_with(&text, &SpecialPolicy::DEFAULT).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::DisallowedSpecial);
            let only_eot: HashSet<&str> = ["<|endoftext|>"].into_iter().collect();
            let policy = SpecialPolicy { allowed: Allowed::Some(&only_eot), disallowed: Disallowed::None };
            let ids = t.encode_with(&text, &policy).unwrap();
            assert!(ids.contains(&300) && !ids.contains(&301));
            assert_eq!(t.decode(&ids).unwrap(), text.as_bytes());
            assert_eq!(t.token_bytes(301), Some(long.as_bytes()));
            // Replacing the special tokens drops the long one from the id table.
            let t = t.with_special_tokens(vec![("<s>".into(), 301)]).unwrap();
            assert_eq!(t.token_bytes(301), Some(&b"<s>"[..]));
            assert_eq!(t.token_bytes(300), None);
            assert_eq!(t.decode(&[97, 301, 98]).unwrap(), b"a<s>b");
        }
    }

    /// Threads racing a fresh tokenizer's first long pieces (which build its tables) all
    /// get the same, right, tokens.
    #[test]
    fn racing_first_long_pieces_agree() {
        let vocabs: [fn() -> Tokenizer; 2] = [toy, || {
            Tokenizer::from_ranks(bytes_and((1..=300).map(|k| b"-=".repeat(k))), whole_text()).unwrap()
        }];
        let texts =
            ["ab".repeat(500) + &"aaaa".repeat(300) + "cab", "-=".repeat(700) + "=-" + &"-=".repeat(70)];
        for (make, text) in vocabs.iter().zip(&texts) {
            let expect = reference_merge(&make(), text.as_bytes());
            for _ in 0..8 {
                let t = make();
                let start = std::sync::Barrier::new(8);
                let results: Vec<Vec<u32>> = std::thread::scope(|s| {
                    let runs: Vec<_> = (0..8)
                        .map(|_| {
                            s.spawn(|| {
                                start.wait();
                                let mut ids = Vec::new();
                                t.encode_piece(text.as_bytes(), &mut ids);
                                ids
                            })
                        })
                        .collect();
                    runs.into_iter().map(|r| r.join().unwrap()).collect()
                });
                assert!(results.iter().all(|r| *r == expect));
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Rank tables with long tokens, made by merges or not: tokens learned from a
        /// text of long runs as training learns them (merging an adjacent pair of its
        /// current tokens, mostly the most frequent one), then a few ranks swapped (which
        /// can leave a token that no merge makes) and random long strings added. Pieces
        /// are parts of the text and tokens joined. Every route equals the definition.
        #[test]
        fn long_token_tables(
            runs in proptest::collection::vec((0..4usize, 1..200usize), 1..10),
            choices in proptest::collection::vec(any::<u16>(), 1..80),
            swaps in proptest::collection::vec((any::<u16>(), any::<u16>()), 0..4),
            strays in proptest::collection::vec(proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b')], 100..400), 0..3),
            pieces in proptest::collection::vec((any::<u16>(), any::<u16>(), proptest::collection::vec(any::<u16>(), 0..8)), 1..4),
        ) {
            let units: [&[u8]; 4] = [b"a", b"ab", b"abc", b"ba"];
            let text: Vec<u8> = runs.iter().flat_map(|&(u, k)| units[u].repeat(k)).collect();
            let mut seg: Vec<Vec<u8>> = text.iter().map(|&b| vec![b]).collect();
            let mut tokens: Vec<Vec<u8>> = Vec::new();
            for c in choices {
                if seg.len() < 2 {
                    break;
                }
                let (a, b) = if c % 4 == 0 {
                    let i = c as usize % (seg.len() - 1);
                    (seg[i].clone(), seg[i + 1].clone())
                } else {
                    let mut counts: HashMap<(&[u8], &[u8]), usize> = HashMap::new();
                    for w in seg.windows(2) {
                        *counts.entry((&w[0][..], &w[1][..])).or_default() += 1;
                    }
                    let best = counts.into_iter().max_by_key(|&(p, n)| (n, Reverse(p))).map(|(p, _)| p);
                    let (a, b) = best.unwrap_or_else(|| unreachable!("two tokens or more"));
                    (a.to_vec(), b.to_vec())
                };
                let joined = [&a[..], &b[..]].concat();
                if tokens.contains(&joined) {
                    continue;
                }
                let mut merged = Vec::with_capacity(seg.len());
                let mut k = 0;
                while k < seg.len() {
                    if k + 1 < seg.len() && seg[k] == a && seg[k + 1] == b {
                        merged.push(joined.clone());
                        k += 2;
                    } else {
                        merged.push(std::mem::take(&mut seg[k]));
                        k += 1;
                    }
                }
                seg = merged;
                tokens.push(joined);
            }
            for (a, b) in swaps {
                if !tokens.is_empty() {
                    let n = tokens.len();
                    tokens.swap(a as usize % n, b as usize % n);
                }
            }
            for s in strays {
                if !tokens.contains(&s) {
                    tokens.push(s);
                }
            }
            let t = Tokenizer::from_ranks(bytes_and(tokens.clone()), whole_text()).unwrap();
            for (start, len, joins) in pieces {
                let start = start as usize % text.len();
                let mut piece = text[start..text.len().min(start + len as usize % 1500 + 1)].to_vec();
                for k in joins {
                    match tokens.get(k as usize % (tokens.len() + 3)) {
                        Some(tok) => piece.extend_from_slice(tok),
                        None => piece.push(b"abcd"[k as usize % 4]),
                    }
                }
                piece.truncate(3000); // (the definition is quadratic)
                check_routes(&t, &piece);
                check_routes(&t, &piece[..piece.len() / 2 + 1]);
            }
        }
    }
}

mod long;
mod specials;
mod unstable;

use specials::Specials;
pub use specials::{Allowed, Disallowed, SpecialPolicy};
