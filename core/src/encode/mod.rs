//! The tokenizer: encode and decode with tiktoken's semantics.
//!
//! A text is split with the pattern; each piece that is a whole token is emitted as
//! is, otherwise its bytes are merged pairwise, always merging the adjacent pair whose
//! concatenation has the lowest rank, the leftmost one on ties (tiktoken's
//! `byte_pair_encode`).
//!
//! The modules, by concern:
//! - `build`: construction and validation of a tokenizer (ranks, special tokens).
//! - `specials`: an encode call's special-token policy, the one leftmost-longest
//!   search for special-token text, tiktoken's disallowed-special error.
//! - `merge`: the merge of one piece, routed by its length to the byte and pair
//!   tables, `pretoken` (the per-thread cache of short pieces), a rank-table lookup,
//!   `scan` (short pieces, behind the per-thread piece cache), `backtrack` (long
//!   pieces) or `heap` (long pieces the search gives up).
//! - `cache`: the per-thread caches' one type and contract.
//! - `batch`: many texts in parallel. `decode`: ids to bytes, rank export.
//! - `completion`: tiktoken's `encode_with_unstable`.
//!
//! Design notes
//! - Three merge routines give identical results (property tests check them against
//!   the definition): a scan that is quadratic but has tiny constants, for short
//!   pieces; a backtracking search, linear, for long pieces; and a heap routine over a
//!   linked list, O(n log n) for any rank table, for the long pieces the search gives
//!   up (those that may hold a token longer than `merge::SCAN_MAX` bytes). So the
//!   work on any piece (a megabyte of one letter, say) is linear or O(n log n) in its
//!   length, whatever the rank table.
//! - Token bytes live in one contiguous buffer indexed by an offsets table, so decode
//!   is one lookup and one copy per token.

use std::sync::Arc;

use once_cell::race::OnceBox;

use crate::bytemap::RankMap;
use crate::error::Result;
use crate::pattern::Pattern;

mod backtrack;
mod batch;
mod build;
mod cache;
mod completion;
mod decode;
mod heap;
mod merge;
mod normalize;
mod offsets;
mod pretoken;
mod scan;
mod specials;
#[cfg(test)]
mod testing;

pub(crate) use batch::Parts;
pub(crate) use build::unique_id;
pub use decode::{StreamDecoder, Utf8Mode};
pub use normalize::Normalization;
pub use offsets::{OffsetUnit, Spans};
use specials::Specials;
pub use specials::{Allowed, Disallowed, SpecialPolicy};

/// A byte-level BPE tokenizer: ranks (token bytes ↔ id) and a split pattern.
///
/// Immutable once built; share it freely across threads.
#[derive(Debug, Clone)]
pub struct Tokenizer {
    /// Identifies the ranks for the per-thread caches ([`cache`]); clones share it, as
    /// they share the ranks, and no other tokenizer in the process has it.
    id: u64,
    /// Applied to ordinary text before the pattern splits it.
    normalization: Normalization,
    pattern: Pattern,
    encoder: RankMap,
    /// `token_data[starts[id]..starts[id + 1]]` are the bytes of `id` (a rank or a
    /// special token); empty if `id` is unused. `token_data` ends with
    /// [`decode::DECODE_CHUNK`] bytes of padding (see [`Tokenizer::decode`]).
    starts: Vec<usize>,
    token_data: Vec<u8>,
    byte_ranks: [u32; 256],
    /// The rank of every two-byte string (`u32::MAX` if none), indexed big-endian: most
    /// pair lookups in a merge are of two bytes, and this table stays in cache.
    pair2: Vec<u32>,
    /// Bit `a << 8 | b` is set if some ranked token has the bytes `a, b` next to each
    /// other (see [`Tokenizer::merge_long`]).
    joins: Box<[u64]>,
    /// Length of the longest ranked token, in bytes.
    max_token_len: usize,
    specials: Specials,
    // Tables built on first use. Each is published without a lock ([`OnceBox`]): threads
    // that meet it unbuilt may each build it, the first to finish is kept, and no thread
    // ever waits, so a process forked while some thread was building never blocks on
    // that thread. Clones share the tables built before they were made.
    /// The search trie for long pieces.
    trie: OnceBox<Arc<backtrack::Trie>>,
    /// How long tokens are made, for the heap merge.
    long_merges: OnceBox<Arc<backtrack::LongMerges>>,
    /// The rank ids sorted by their bytes, for [`Tokenizer::encode_with_unstable`].
    sorted_ranks: OnceBox<Arc<[u32]>>,
    /// Per id, whether the token's own bytes merge into it, found as needed (see
    /// [`Tokenizer::merge_long`]).
    made: OnceBox<Arc<merge::Made>>,
    /// The tables of the cut tests of long pieces (see [`Tokenizer::merge_long`]).
    cuts: OnceBox<Arc<merge::Cuts>>,
}

impl Tokenizer {
    /// The split pattern.
    pub fn pattern(&self) -> &Pattern {
        &self.pattern
    }

    /// The normalization applied to ordinary text before splitting it.
    pub fn normalization(&self) -> Normalization {
        self.normalization
    }

    /// The tokenizer with `normalization` applied to ordinary text before splitting (see
    /// the notes of [`Normalization`]'s module: special tokens are found in the text as
    /// given; decoding gives the normalized text).
    pub fn with_normalization(mut self, normalization: Normalization) -> Self {
        self.normalization = normalization;
        self
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

    /// Encodes `text`; special-token text becomes its special id when `allowed` allows
    /// it, and is ordinary text otherwise. (tiktoken's `encode` without its
    /// disallowed-special check; [`Tokenizer::encode_with`] has both.)
    ///
    /// # Errors
    /// [`ErrorKind::BadPattern`](crate::ErrorKind::BadPattern) if the regex engine fails while splitting.
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

    /// Encodes `text` with tiktoken's `encode` semantics: first the disallowed-special
    /// check, then [`Tokenizer::encode`] with the allowed set.
    ///
    /// # Errors
    /// [`ErrorKind::DisallowedSpecial`](crate::ErrorKind::DisallowedSpecial) naming the token; [`ErrorKind::BadPattern`](crate::ErrorKind::BadPattern).
    pub fn encode_with(&self, text: &str, policy: &SpecialPolicy<'_>) -> Result<Vec<u32>> {
        self.check_disallowed(text, policy)?;
        self.encode(text, policy.allowed)
    }

    /// [`Tokenizer::encode_with`], appending to `out` (left unchanged on error).
    ///
    /// # Errors
    /// As [`Tokenizer::encode_with`].
    pub fn encode_with_into(&self, text: &str, policy: &SpecialPolicy<'_>, out: &mut Vec<u32>) -> Result<()> {
        self.check_disallowed(text, policy)?;
        self.encode_into(text, policy.allowed, out)
    }

    /// [`Tokenizer::encode_with`]'s count, without building the list.
    ///
    /// # Errors
    /// As [`Tokenizer::encode_with`].
    pub fn count_with(&self, text: &str, policy: &SpecialPolicy<'_>) -> Result<usize> {
        self.check_disallowed(text, policy)?;
        self.count(text, policy.allowed)
    }

    /// Encodes `text`, treating any special-token text as ordinary text.
    ///
    /// # Errors
    /// [`ErrorKind::BadPattern`](crate::ErrorKind::BadPattern) if the regex engine fails while splitting.
    pub fn encode_ordinary(&self, text: &str) -> Result<Vec<u32>> {
        let mut out = Vec::with_capacity(text.len() / 3 + 1);
        self.encode_ordinary_into(text, &mut out)?;
        Ok(out)
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

    /// [`Tokenizer::encode_into`] into any sink: allowed special tokens where
    /// `specials::leftmost_longest` finds them, ordinary text between them.
    fn encode_into_inner(&self, text: &str, allowed: Allowed<'_>, out: &mut impl Sink) -> Result<()> {
        if !self.specials.may_allow(allowed) {
            // encode_ordinary's path, and the common case: no search, nothing to cut
            return self.encode_ordinary_into(text, out);
        }
        let mut start = 0;
        for (s, e, id) in self.specials.allowed_in(text, allowed) {
            self.encode_ordinary_into(&text[start..s], out)?;
            out.special(id, &text[s..e]);
            start = e;
        }
        self.encode_ordinary_into(&text[start..], out)
    }

    /// Ordinary text: normalized if the tokenizer says so, then split and encoded.
    #[inline]
    fn encode_ordinary_into<S: Sink>(&self, text: &str, out: &mut S) -> Result<()> {
        if self.normalization == Normalization::Nfc {
            if let Some(normalized) = normalize::nfc(text) {
                return out.normalized(self, text, &normalized);
            }
        }
        self.encode_split(text, out)
    }

    /// Ordinary text as it is: split and encoded.
    fn encode_split<S: Sink>(&self, text: &str, out: &mut S) -> Result<()> {
        if !S::TAKES_CACHES || text.len() < 3 {
            return self.pattern.for_each_piece_bytes(text, |piece| out.piece(self, piece));
        }
        // The thread's caches once per text, not once per piece (see `merge`'s notes).
        self.with_piece_caches(|caches| {
            let Some(c) = caches else {
                return self.pattern.for_each_piece_bytes(text, |piece| out.piece_in(self, piece, None));
            };
            // Pieces go to the sink a chunk at a time (see `merge::Tokenizer::encode_pieces_in`).
            // The closure holds the chunk's count by value, and the splitters hold the closure
            // by value or through a `&mut` argument, so the count can stay in a register of
            // their loops; it is stored for the caller (the last chunk's) but never read back.
            // (A count behind a reference is loaded and stored at every piece, a chain of
            // store-to-load forwarding: split and sink alone 2-12% slower, bench/README.md.)
            let mut chunk: [&[u8]; merge::CHUNK] = [&[]; merge::CHUNK];
            let mut count = 0;
            let (slots, last, sink, cache) = (&mut chunk, &mut count, &mut *out, &mut *c);
            let mut n = 0;
            self.pattern.for_each_piece_bytes(text, move |piece| {
                slots[n] = piece;
                n += 1;
                if n == merge::CHUNK {
                    sink.pieces_in(self, text.as_bytes(), slots, cache);
                    n = 0;
                }
                *last = n;
            })?;
            out.pieces_in(self, text.as_bytes(), &chunk[..count], c);
            Ok(())
        })
    }
}

/// Where encoded ids go: a vector, or a counter.
trait Sink {
    /// Whether [`Sink::piece_in`] is worth fetching the thread's caches for (a sink that
    /// fetches them itself in `piece` must say no: its fetch would find them in use).
    const TAKES_CACHES: bool = false;
    fn piece(&mut self, tok: &Tokenizer, piece: &[u8]);
    /// [`Sink::piece`] given the thread's caches (see [`Tokenizer::encode_piece_in`]).
    #[inline]
    fn piece_in(&mut self, tok: &Tokenizer, piece: &[u8], _caches: Option<&mut merge::PieceCaches>) {
        self.piece(tok, piece);
    }
    /// An allowed special token, `id`, where `text` (a part of the encoded text) matched.
    fn special(&mut self, id: u32, text: &str);
    /// Ordinary text, `input` (a part of the encoded text), that normalization changed:
    /// its normalized form is encoded in its place.
    fn normalized(&mut self, tok: &Tokenizer, _input: &str, normalized: &normalize::Normalized) -> Result<()>
    where
        Self: Sized,
    {
        tok.encode_split(&normalized.text, self)
    }
    /// [`Sink::piece_in`] for consecutive pieces of `text` (parts of it).
    #[inline]
    fn pieces_in(
        &mut self,
        tok: &Tokenizer,
        _text: &[u8],
        pieces: &[&[u8]],
        caches: &mut merge::PieceCaches,
    ) {
        for piece in pieces {
            self.piece_in(tok, piece, Some(&mut *caches));
        }
    }
}

impl Sink for Vec<u32> {
    const TAKES_CACHES: bool = true;
    #[inline]
    fn piece(&mut self, tok: &Tokenizer, piece: &[u8]) {
        tok.encode_piece(piece, self);
    }
    #[inline]
    fn piece_in(&mut self, tok: &Tokenizer, piece: &[u8], caches: Option<&mut merge::PieceCaches>) {
        tok.encode_piece_in(piece, self, caches);
    }
    #[inline]
    fn pieces_in(&mut self, tok: &Tokenizer, text: &[u8], pieces: &[&[u8]], caches: &mut merge::PieceCaches) {
        tok.encode_pieces_in(text, pieces, self, caches);
    }
    fn special(&mut self, id: u32, _: &str) {
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
    const TAKES_CACHES: bool = true;
    #[inline]
    fn piece(&mut self, tok: &Tokenizer, piece: &[u8]) {
        // Only for texts too short for the caches (see `encode_ordinary_into`).
        self.piece_in(tok, piece, None);
    }
    #[inline]
    fn piece_in(&mut self, tok: &Tokenizer, piece: &[u8], caches: Option<&mut merge::PieceCaches>) {
        if piece.len() == 1 {
            self.n += 1;
        } else {
            // (`encode_piece_in` looks the whole piece up first; looking here too would
            // probe twice for every piece that is not a token.)
            tok.encode_piece_in(piece, &mut self.scratch, caches);
            self.n += self.scratch.len();
            self.scratch.clear();
        }
    }
    #[inline]
    fn pieces_in(&mut self, tok: &Tokenizer, text: &[u8], pieces: &[&[u8]], caches: &mut merge::PieceCaches) {
        tok.encode_pieces_in(text, pieces, &mut self.scratch, caches);
        self.n += self.scratch.len();
        self.scratch.clear();
    }
    fn special(&mut self, _: u32, _: &str) {
        self.n += 1;
    }
}
