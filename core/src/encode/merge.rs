//! The merge of one piece: routing by length, and the per-thread caches of merged pieces.
//!
//! [`Tokenizer::encode_piece_in`] sends a piece to the cheapest exact route: one or two
//! bytes through the byte and pair tables; 3 to [`SHORT_MAX`] bytes through this
//! thread's pretoken cache ([`super::pretoken`]), and on a miss a whole token through
//! the rank table, else the scan ([`super::scan`]); 16 to `MID_MAX` bytes through the
//! thread's [`PieceCache`], else to the rank table, else the scan; long pieces (up to
//! [`LONG_CACHE_MAX`] bytes through a second piece cache) to the rank table, else cut
//! where no token can join the two sides ([`Tokenizer::merge_long`]),
//! each part by these routes, and parts still long to the backtracking search
//! ([`super::backtrack`]), which hands the pieces it gives up to the heap merge
//! ([`super::heap`]). Every route gives tiktoken's result (the tests below check each
//! against the definition).
//!
//! Design notes
//! - The thread's caches for a tokenizer ([`PieceCaches`]) are fetched once per encoded
//!   text, not per piece ([`Tokenizer::with_piece_caches`]): reaching a `thread_local!`
//!   from the cdylib is a call (`__tls_get_addr`, the general-dynamic TLS model), and
//!   the borrow and the slot search add to it, which is a visible share of the ~10-40 ns
//!   a short piece takes.
//! - Memory per thread: per tokenizer slot ([`CACHE_SLOTS`]), the pretoken cache (at most
//!   33 MiB, see [`super::pretoken`]), the piece cache of mid-length pieces (at most
//!   [`CACHE_MAX_TOKENS`] ids, 4 MiB, in a vector whose last doubling may have reserved
//!   8, and [`CACHE_MAX_PIECES`] map entries of 48 bytes in twice as many slots with a
//!   control byte each, 12.25 MiB) and the cache of long pieces ([`LongCache`], at its
//!   bounds 15.1 MiB): at most 69 MiB per
//!   tokenizer a thread encodes with, reached only by text with that many distinct
//!   pieces (a few pages of text need well under 1 MiB). The rank table and the search
//!   trie belong to the tokenizer and are shared by its threads.
//! - The caches count their hits per window of lookups and turn themselves off for a
//!   while when they hit too rarely ([`HitWindow`]): in text whose pieces do not repeat
//!   (random bytes as latin-1) a lookup and an insert per piece are pure cost.
//! - Why long pieces are cached too: a long piece is merged part by part, each part a
//!   lookup at best (runs of CJK text, one piece each under the named patterns, are 14%
//!   of the multilingual sample's bytes and took about 17% of its encode in a profile),
//!   and text repeats long pieces where it repeats itself: boilerplate, quoted or
//!   duplicated documents, a corpus encoded again (the sample's 10 KB documents encoded
//!   again: +23-28%). In text seen once most long pieces occur once, so a miss must cost
//!   little next to the merge: [`LongCache`] keeps its keys and ids in two arenas, and
//!   a miss costs one hash, one probe, two appends and a table entry (no allocation
//!   but the table's growth: the arenas are reserved at the first insert).

use std::cell::RefCell;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use super::backtrack;
use super::cache::{with_recent, Recent};
use super::pretoken::{Hit, Pretokens, INLINE};
use super::Tokenizer;
use crate::bytemap::{pack, pack_within, BytesMap, MID_MAX, SHORT_MAX};

/// Pieces up to this many bytes are merged with the quadratic scan; tokens longer than
/// this are *long* (see [`super::backtrack`]: never candidates of the search).
pub(super) const SCAN_MAX: usize = 128;
const _: () = assert!(SCAN_MAX <= 255, "merge_scan_n links tokens by u8 byte offsets");

/// Pieces per call of [`Tokenizer::encode_pieces_in`].
pub(super) const CHUNK: usize = 64;

/// Hits of a chunk that [`Tokenizer::encode_pieces_in`] makes room for at a time.
const HIT_RUN: usize = 16;

/// The shortest piece past the pretoken cache's keys.
const MID_MIN: usize = SHORT_MAX + 1;

/// Pieces this long or longer (and not whole tokens) are merged by backtracking search:
/// past the cached lengths the scan's quadratic cost outgrows the search's linear one.
const BACKTRACK_MIN: usize = MID_MAX + 1;

/// Tokens kept per piece cache before it starts over (4 MiB of ids plus the map: the bound
/// on its size). 8 MB of the multilingual sample has 37K distinct pieces of 16-31 bytes,
/// about 300K tokens: a quarter of this bound made it start over within each pass.
const CACHE_MAX_TOKENS: usize = 1 << 20;
/// Pieces kept per piece cache before it starts over (its map's share of the bound).
const CACHE_MAX_PIECES: usize = 1 << 17;
/// The longest piece the cache of long pieces takes: longer ones are rarer, and their
/// keys larger.
pub(super) const LONG_CACHE_MAX: usize = 255;
/// The bounds of [`LongCache`]: key bytes, ids and pieces kept before it starts over
/// (8 MiB of keys, 4 MiB of ids, and a table of 128K slots of 25 bytes: at 7/8 of them
/// hashbrown would double it). 8 MB of the multilingual sample has 20K distinct pieces
/// of 32 to [`LONG_CACHE_MAX`] bytes, 1.1 MB of them, with 258K tokens under o200k_base
/// and 365K under cl100k_base; 16 MB has 46K. With a quarter of these bounds the cache
/// started over within those 16 MB, and encoding them a second time ran at 202 MB/s
/// (o200k_base, in Rust), with these at 261.
const LONG_CACHE_MAX_BYTES: usize = 8 << 20;
const LONG_CACHE_MAX_TOKENS: usize = 1 << 20;
const LONG_CACHE_MAX_PIECES: usize = (1 << 17) / 8 * 7;
/// Tokenizers a thread keeps piece caches for at once ([`Recent`]).
const CACHE_SLOTS: usize = 4;

/// Counts a cache's hits per window of lookups, and turns the cache off for a while
/// after a window with too few.
pub(super) struct HitWindow {
    /// Lookups and hits in the current window of [`CACHE_WINDOW`] lookups.
    lookups: u32,
    hits: u32,
    /// A window with fewer hits than this turns the cache off.
    min_hits: u32,
    /// Pieces left to merge without the cache (see [`CACHE_SKIP`]).
    skip: u32,
    /// Pieces the next failed window turns the cache off for: [`CACHE_SKIP`], doubled
    /// after each failed window up to [`CACHE_SKIP_MAX`], back after one that passes.
    next_skip: u32,
    /// While the cache is off: pieces skipped since the last probe, and the probes and
    /// their hits in the current window of [`PROBE_WINDOW`] probes (see [`PROBE_EVERY`]).
    since_probe: u32,
    probes: u32,
    probe_hits: u32,
}

/// Lookups per window of a cache's hit count.
const CACHE_WINDOW: u32 = 2048;
/// A window with fewer hits than this, for the caches of mid-length and long pieces (a
/// miss costs a merge of hundreds of nanoseconds or more, an insert far less, so even a
/// few hits pay; in a corpus's first megabytes few of its long pieces have come twice,
/// and at 1/32 the caches turned off there and cached few of the pieces that came back:
/// 16 MB of the multilingual sample encoded a second time, cl100k_base, 146 -> 182-187
/// MB/s; random bytes as latin-1, whose long pieces do not repeat, still turn them off) ...
const CACHE_MIN_HITS: u32 = CACHE_WINDOW / 256;
/// ... and for the pretoken cache (all short pieces: a miss costs one rank-table lookup
/// and an insert more than no cache, so it must hit often to pay; in random bytes as
/// latin-1 it hits 2-20% of the time) ...
const PRETOKEN_MIN_HITS: u32 = CACHE_WINDOW / 4;
/// ... turns the cache off for this many pieces, then it is tried again. In text where
/// the pieces do not repeat (random bytes as latin-1) a lookup and an insert per piece
/// are pure cost; ordinary text hits far more often than this, from a cold cache too.
const CACHE_SKIP: u32 = 1 << 15;
/// The longest a cache stays off after failed windows in a row. A window tried in text
/// that does not repeat costs more per piece than the pieces skipped between (its
/// lookups miss the core's caches in a large, full table and its misses are inserted),
/// so each failure doubles the pause, up to this.
const CACHE_SKIP_MAX: u32 = 1 << 19;
/// While the pretoken cache is off, one skipped piece of 3 bytes or more in this many
/// is looked up in it anyway: a probe of whether the text has come back to pieces the
/// cache holds. Without probes, ordinary text after text whose pieces do not repeat was
/// encoded without the cache until the pause ran out (up to [`CACHE_SKIP_MAX`] pieces,
/// 2 MB of English): after 1.5 MB of random bytes as latin-1, three megabytes of
/// English the thread had not seen took 9-16 ms each instead of 3 (cl100k_base, Rust);
/// with probes 9, 5 and 3. Probes do not insert: the pieces of the text that turned the
/// cache off would fill it, and that text's probes would hit more and more (random
/// latin-1 encoded again and again: 1 probe in 32 inserted made it 10% slower, with
/// windows where the cache came back on). So a text whose pieces the cache has never
/// held waits for the pause to end, as before. One probe in 256 costs within noise.
const PROBE_EVERY: u32 = 256;
/// Probes per judgement: a window of probes with at least [`PROBE_MIN_HITS`] hits turns
/// the cache back on (the next full window then judges it as usual).
const PROBE_WINDOW: u32 = 64;
/// Three quarters of the probes: more than a window needs to keep the cache on (a
/// quarter), so that text whose pieces repeat only now and then (random latin-1's
/// pieces of two characters do; its probes hit 8-15% of the time) does not turn it on
/// for a window that then fails; text the cache holds hits nearly every time.
const PROBE_MIN_HITS: u32 = PROBE_WINDOW * 3 / 4;

impl HitWindow {
    fn new(min_hits: u32) -> HitWindow {
        HitWindow {
            lookups: 0,
            hits: 0,
            min_hits,
            skip: 0,
            next_skip: CACHE_SKIP,
            since_probe: 0,
            probes: 0,
            probe_hits: 0,
        }
    }

    /// Whether the cache is off for this piece (counting it down).
    #[inline]
    fn skipping(&mut self) -> bool {
        if self.skip > 0 {
            self.skip -= 1;
            return true;
        }
        false
    }

    /// Whether a piece the cache is off for ([`HitWindow::skipping`] said so) is to be
    /// a probe ([`PROBE_EVERY`]).
    #[inline]
    fn probe_due(&mut self) -> bool {
        self.since_probe += 1;
        if self.since_probe < PROBE_EVERY {
            return false;
        }
        self.since_probe = 0;
        true
    }

    /// Counts a probe; at the end of a window of probes with enough hits, turns the
    /// cache back on.
    #[inline]
    fn count_probe(&mut self, hit: bool) {
        self.probes += 1;
        self.probe_hits += u32::from(hit);
        if self.probes >= PROBE_WINDOW {
            if self.probe_hits >= PROBE_MIN_HITS {
                self.skip = 0;
            }
            self.probes = 0;
            self.probe_hits = 0;
        }
    }

    /// Counts a lookup; at the end of a window, turns the cache off if it hit too rarely.
    #[inline]
    fn count(&mut self, hit: bool) {
        self.lookups += 1;
        self.hits += u32::from(hit);
        self.end_window();
    }

    /// Counts `hits` lookups that hit (a chunk's, at once).
    #[inline]
    fn count_hits(&mut self, hits: u32) {
        self.lookups += hits;
        self.hits += hits;
        self.end_window();
    }

    /// At the end of a window, turns the cache off if it hit too rarely.
    #[inline]
    fn end_window(&mut self) {
        if self.lookups >= CACHE_WINDOW {
            if self.hits < self.min_hits {
                self.skip = self.next_skip;
                self.next_skip = (2 * self.next_skip).min(CACHE_SKIP_MAX);
                // (Each pause's probes from scratch.)
                (self.since_probe, self.probes, self.probe_hits) = (0, 0, 0);
            } else {
                self.next_skip = CACHE_SKIP;
            }
            self.lookups = 0;
            self.hits = 0;
        }
    }
}

/// A per-thread cache of pieces of `MID_MIN` to `MID_MAX` bytes, whole tokens included:
/// piece → its tokens (shorter pieces have the pretoken cache, longer ones
/// [`LongCache`]). Words repeat (Zipf), so most such pieces are merged or looked up in
/// the rank table once per thread.
struct PieceCache {
    map: BytesMap<(u32, u32)>,
    arena: Vec<u32>,
    window: HitWindow,
}

impl PieceCache {
    fn new() -> PieceCache {
        PieceCache { map: BytesMap::default(), arena: Vec::new(), window: HitWindow::new(CACHE_MIN_HITS) }
    }

    /// Empties the cache, keeping its storage (no regrowing from empty).
    fn clear(&mut self) {
        self.map.clear();
        self.arena.clear();
        self.window = HitWindow::new(CACHE_MIN_HITS);
    }

    /// The cached ids of `piece`, counted in the window (hit or miss); `None` on a miss.
    #[inline]
    fn lookup(&mut self, piece: &[u8]) -> Option<&[u32]> {
        let found = self.map.get(piece).copied();
        self.window.count(found.is_some());
        let (off, len) = found?;
        Some(&self.arena[off as usize..(off + len) as usize])
    }

    /// Remembers `ids` as the tokens of `piece`; the cache starts over when full.
    fn insert(&mut self, piece: &[u8], ids: &[u32]) {
        if self.arena.len() >= CACHE_MAX_TOKENS || self.map.len() >= CACHE_MAX_PIECES {
            self.map.clear(); // keeps its capacity: no regrowing from empty
            self.arena.clear();
        }
        let off = self.arena.len() as u32;
        self.arena.extend_from_slice(ids);
        self.map.insert(piece, (off, ids.len() as u32));
    }
}

/// What [`Tokenizer::merge_long`] tests its cuts against, built from the tokens on a
/// tokenizer's first long piece (2.5 MiB, shared by its threads): every three-byte
/// string some token has, one bit each, and the pairs of characters that meet inside
/// some token, in a Bloom filter, and exactly for Latin-1 characters; and the merge of
/// each three-byte character.
#[derive(Debug)]
pub(super) struct Cuts {
    trigrams: Box<[u64]>,
    /// Bit [`bigram_bit`] of each pair of sides ([`left_side`], [`right_side`]) that
    /// meet at a character start inside a token (a filter: a pair no token has may
    /// find its bit set, and is then only not cut).
    bigrams: Box<[u64]>,
    /// Bit `x` set if some pair has the left side [`partial`]`(x)`: a token that holds
    /// no whole character ending at the meeting, whose byte before it is `x` ...
    partial_left: [u64; 4],
    /// ... and bit `y` if some token ends inside a character that starts with `y`.
    partial_right: [u64; 4],
    /// Bit `x << 8 | y` for the characters `x`, `y` below U+0100 (Latin-1) if some token
    /// holds the end of `x` followed by the start of `y` (see [`latin_pairs`]): exact, and
    /// 8 KiB, so a piece of such characters is cut without the larger tables above.
    latin: Box<[u64]>,
    /// For each three-byte character (see [`char3_index`]), the merge of its bytes: the
    /// token they merge into, or how they split ([`CHAR3_AB_C`] and the codes after
    /// it). 256 KiB: most of CJK and of the other scripts past Latin-1 are such
    /// characters, and a part of one of them is a lookup here, not in the caches.
    char3: Box<[u32]>,
}

/// log2 of [`Cuts::bigrams`]' bits (256 KiB: o200k_base has under 25K pairs, so about
/// 1% of absent pairs find their bit set).
const BIGRAM_BITS: u32 = 21;

/// The shortest part of a long piece that the character test may cut (see
/// [`Tokenizer::merge_long`]) where a character on either side is not of three bytes:
/// a part costs a cache lookup whatever its length, and the pretoken cache answers a
/// few characters in one lookup. (Between two three-byte characters every boundary is
/// tested: a part of one such character is a lookup in [`Cuts::char3`].)
const CHAR_CUT_MIN: usize = 4;

impl Cuts {
    /// [`Cuts::char3`]'s entry for `part`, if it is one three-byte character.
    #[inline]
    fn char3(&self, part: &[u8]) -> Option<u32> {
        let &[a, b, c] = part else { return None };
        Some(self.char3[char3_index(a, b, c)?])
    }

    #[inline]
    fn trigram(&self, a: u8, b: u8, c: u8) -> bool {
        let k = usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c);
        self.trigrams[k / 64] & (1 << (k % 64)) != 0
    }

    /// Whether some token may cross the start of a character at `k` of `b`: `None` unless
    /// the characters on both sides are Latin-1 ([`Cuts::latin`]).
    #[inline]
    fn latin_join(&self, b: &[u8], k: usize) -> Option<bool> {
        let bit = latin_before(b, k)? << 8 | latin_at(b, k)?;
        Some(self.latin[bit / 64] & (1 << (bit % 64)) != 0)
    }

    #[inline]
    fn bigram(&self, left: u64, right: u64) -> bool {
        let k = bigram_bit(left, right);
        self.bigrams[k / 64] & (1 << (k % 64)) != 0
    }

    /// Whether some token may cross the character start at `p` (`0 < p < b.len()`)
    /// of `b`: whether a pair of sides of `b` there is in the filter. A token that
    /// crosses it has one of the pairs of sides of `b` at `p` as its own at the same
    /// place (see [`left_side`] and [`right_side`]), so when none is in the filter, no
    /// token crosses.
    #[inline]
    fn chars_join(&self, b: &[u8], p: usize) -> bool {
        self.sides_join(b[p - 1], b[p], left_side(b, p), right_side(b, p))
    }

    /// [`Cuts::chars_join`] given the sides at the meeting of bytes `x` and `y`.
    #[inline(always)]
    fn sides_join(&self, x: u8, y: u8, left: Option<u64>, right: Option<u64>) -> bool {
        let bit = |set: &[u64; 4], v: u8| set[usize::from(v / 64)] >> (v % 64) & 1 != 0;
        left.zip(right).is_some_and(|(l, r)| self.bigram(l, r))
            || (bit(&self.partial_right, y)
                && (left.is_some_and(|l| self.bigram(l, partial(y))) || self.bigram(partial(x), partial(y))))
            || (bit(&self.partial_left, x) && right.is_some_and(|r| self.bigram(partial(x), r)))
    }

    /// [`Cuts::chars_join`] where `b[p - 3..p]` is a three-byte character (its lead and
    /// continuation bytes checked by the caller) and `b[p]` starts one: the same sides,
    /// without the search for the left one, and inlined (in a run of CJK text this test
    /// is made at nearly every character, and the search and the call cost more than
    /// its lookups).
    #[inline(always)]
    fn chars3_join(&self, b: &[u8], p: usize) -> bool {
        let three = |c: &[u8]| u64::from(c[0]) | u64::from(c[1]) << 8 | u64::from(c[2]) << 16;
        self.sides_join(b[p - 1], b[p], Some(three(&b[p - 3..p])), b.get(p..p + 3).map(three))
    }
}

/// The Latin-1 character (below U+0100) whose UTF-8 ends with `b[k - 1]`, if it is one.
#[inline]
fn latin_before(b: &[u8], k: usize) -> Option<usize> {
    let x = b[k - 1];
    if x < 0x80 {
        return Some(usize::from(x));
    }
    let lead = *b.get(k.checked_sub(2)?)?;
    (x & 0xC0 == 0x80 && lead & 0xFE == 0xC2)
        .then(|| usize::from(lead & 1) << 6 | 0x80 | usize::from(x & 0x3F))
}

/// The Latin-1 character that starts at `b[k]`, if it is one (and `b` holds all of it).
#[inline]
fn latin_at(b: &[u8], k: usize) -> Option<usize> {
    let x = b[k];
    if x < 0x80 {
        return Some(usize::from(x));
    }
    let y = *b.get(k + 1)?;
    (x & 0xFE == 0xC2 && y & 0xC0 == 0x80).then(|| usize::from(x & 1) << 6 | 0x80 | usize::from(y & 0x3F))
}

/// [`Cuts::latin`]: for each place inside each token where the bytes before could end a
/// Latin-1 character `x` and the bytes after could start one, `y`, the pair's bit. Where
/// the token holds only the last byte of a two-byte `x` (it starts there), `x` may have
/// either lead byte (`0xC2`, `0xC3`); where it holds only the first byte of `y`, `y` is
/// any of the 64 characters of that lead. A token that crosses the meeting of `x` and `y`
/// in a text meets one of these cases at that place, so a pair without its bit has no
/// token across it.
fn latin_pairs<'a>(tokens: impl Iterator<Item = &'a [u8]>) -> Box<[u64]> {
    let mut bits = vec![0u64; (1 << 16) / 64].into_boxed_slice();
    let (mut xs, mut ys) = (Vec::with_capacity(2), Vec::with_capacity(64));
    for token in tokens {
        for k in 1..token.len() {
            xs.clear();
            ys.clear();
            match latin_before(token, k) {
                Some(x) => xs.push(x),
                None if k == 1 && token[0] & 0xC0 == 0x80 => {
                    xs.extend([0x80 | usize::from(token[0] & 0x3F), 0xC0 | usize::from(token[0] & 0x3F)]);
                }
                None => continue,
            }
            match latin_at(token, k) {
                Some(y) => ys.push(y),
                None if k + 1 == token.len() && token[k] & 0xFE == 0xC2 => {
                    let base = usize::from(token[k] & 1) << 6 | 0x80;
                    ys.extend(base..base + 64);
                }
                None => continue,
            }
            for &x in &xs {
                for &y in &ys {
                    bits[(x << 8 | y) / 64] |= 1 << ((x << 8 | y) % 64);
                }
            }
        }
    }
    bits
}

/// [`Cuts::char3`]'s codes past the ids: a character whose bytes merge into a token with
/// one of these four ids (no real vocabulary has that many) is merged as any other part;
const CHAR3_UNKNOWN: u32 = u32::MAX - 3;
/// one whose merge is not one token is its first two bytes' token and its last byte's, ...
const CHAR3_AB_C: u32 = u32::MAX - 2;
/// ... its first byte's and its last two bytes', ...
const CHAR3_A_BC: u32 = u32::MAX - 1;
/// ... or its three bytes'.
const CHAR3_A_B_C: u32 = u32::MAX;

/// The slot of a three-byte character `a b c` (a lead byte of three and two continuation
/// bytes; overlong forms and surrogates too, each its own slot) in [`Cuts::char3`].
#[inline]
fn char3_index(a: u8, b: u8, c: u8) -> Option<usize> {
    (a & 0xF0 == 0xE0 && b & 0xC0 == 0x80 && c & 0xC0 == 0x80)
        .then(|| usize::from(a & 0x0F) << 12 | usize::from(b & 0x3F) << 6 | usize::from(c & 0x3F))
}

/// The bytes of a UTF-8 character that starts with `lead` (1 for a continuation byte).
#[inline]
fn utf8_len(lead: u8) -> usize {
    match lead {
        0..=0xBF => 1,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    }
}

/// The character of `b` that ends at `k`, as a side: its bytes, if the last byte
/// before `k` that is no continuation byte starts a character of exactly those bytes.
/// It depends only on the bytes before `k` back to that byte, so a token and the text
/// it lies in give the same side wherever the token holds that byte; where it starts
/// after it (inside the character), the token's side is [`partial`].
#[inline]
fn left_side(b: &[u8], k: usize) -> Option<u64> {
    let m = (k.saturating_sub(4)..k).rev().find(|&m| b[m] & 0xC0 != 0x80)?;
    (k - m == utf8_len(b[m])).then(|| pack_char(&b[m..k]))
}

/// The character of `b` that starts at `k`, as a side, if `b` holds all its bytes;
/// a token that ends inside it has the side [`partial`] of its first byte.
#[inline]
fn right_side(b: &[u8], k: usize) -> Option<u64> {
    b.get(k..k + utf8_len(b[k])).map(pack_char)
}

/// A side of up to four bytes (a whole character's, whose first byte gives their number).
#[inline]
fn pack_char(c: &[u8]) -> u64 {
    c.iter().rev().fold(0, |acc, &x| acc << 8 | u64::from(x))
}

/// The side of part of a character, by its one byte next to the character start: never
/// equal to a whole character's side.
#[inline]
fn partial(x: u8) -> u64 {
    1 << 32 | u64::from(x)
}

#[inline]
fn bigram_bit(left: u64, right: u64) -> usize {
    let h = (left.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ right).wrapping_mul(0xd6e8_feb8_6659_fd93);
    (h >> (64 - BIGRAM_BITS)) as usize
}

/// Per token id, whether its own bytes merge into it: found the first time it is asked
/// ([`Tokenizer::made_by_merges`]), shared by the tokenizer's threads (a race computes
/// the same answer twice). One byte per id.
#[derive(Debug)]
pub(super) struct Made(Box<[AtomicU8]>);

const UNKNOWN: u8 = 0;
const MADE: u8 = 1;
const UNMADE: u8 = 2;

impl Made {
    fn new(ids: usize) -> Made {
        Made((0..ids).map(|_| AtomicU8::new(UNKNOWN)).collect())
    }
}

/// One thread's caches for one tokenizer: the pretoken cache for short pieces, and the
/// piece caches for mid-length and long ones.
pub(super) struct PieceCaches {
    short: Pretokens,
    short_window: HitWindow,
    mid: PieceCache,
    long: LongCache,
}

/// The per-thread cache of long pieces (of `MID_MAX + 1` to [`LONG_CACHE_MAX`] bytes):
/// piece → its tokens, like [`PieceCache`], with the keys and ids in two arenas that
/// start over together when a bound is reached (see the module notes): an insert is two
/// appends and a table entry, no allocation per key.
struct LongCache {
    table: hashbrown::HashTable<LongEntry>,
    keys: Vec<u8>,
    ids: Vec<u32>,
    hasher: hashbrown::DefaultHashBuilder,
    window: HitWindow,
}

/// A [`LongCache`] entry: the piece's hash, and where its bytes and ids are.
#[derive(Clone, Copy)]
struct LongEntry {
    hash: u64,
    key: u32,
    ids: u32,
    key_len: u8,
    ids_len: u8,
}

const _: () = assert!(LONG_CACHE_MAX <= u8::MAX as usize, "a long piece's length and ids fit a u8");

impl LongCache {
    fn new() -> LongCache {
        LongCache {
            table: hashbrown::HashTable::new(),
            keys: Vec::new(),
            ids: Vec::new(),
            hasher: hashbrown::DefaultHashBuilder::default(),
            window: HitWindow::new(CACHE_MIN_HITS),
        }
    }

    /// Empties the cache, keeping its storage.
    fn clear(&mut self) {
        self.table.clear();
        self.keys.clear();
        self.ids.clear();
        self.window = HitWindow::new(CACHE_MIN_HITS);
    }

    /// The cached ids of `piece` (at most [`LONG_CACHE_MAX`] bytes), counted in the
    /// window; on a miss, its hash, for [`LongCache::insert`].
    #[inline]
    fn lookup(&mut self, piece: &[u8]) -> Result<&[u32], u64> {
        use std::hash::BuildHasher;
        let hash = self.hasher.hash_one(piece);
        let keys = &self.keys;
        let found = self.table.find(hash, |e| {
            e.hash == hash && keys.get(e.key as usize..e.key as usize + usize::from(e.key_len)) == Some(piece)
        });
        self.window.count(found.is_some());
        match found {
            Some(e) => Ok(&self.ids[e.ids as usize..e.ids as usize + usize::from(e.ids_len)]),
            None => Err(hash),
        }
    }

    /// Remembers `ids` as the tokens of `piece` (absent, of hash `hash`); the cache
    /// starts over when a bound is reached.
    fn insert(&mut self, piece: &[u8], hash: u64, ids: &[u32]) {
        debug_assert!(piece.len() <= LONG_CACHE_MAX && ids.len() <= piece.len());
        if self.keys.capacity() == 0 {
            // The arenas at their bounds at once, so that no doubling takes them past
            // (pages are touched as they fill). The table grows as it fills: a table of
            // the largest size from the start made lookups slower (more of its lines
            // to miss), and it never grows past that size (the bound is 7/8 of it).
            self.keys.reserve_exact(LONG_CACHE_MAX_BYTES);
            self.ids.reserve_exact(LONG_CACHE_MAX_TOKENS);
        }
        if self.keys.len() + piece.len() > LONG_CACHE_MAX_BYTES
            || self.ids.len() + ids.len() > LONG_CACHE_MAX_TOKENS
            || self.table.len() >= LONG_CACHE_MAX_PIECES
        {
            self.table.clear();
            self.keys.clear();
            self.ids.clear();
        }
        let e = LongEntry {
            hash,
            key: self.keys.len() as u32,
            ids: self.ids.len() as u32,
            key_len: piece.len() as u8,
            ids_len: ids.len() as u8,
        };
        self.keys.extend_from_slice(piece);
        self.ids.extend_from_slice(ids);
        self.table.insert_unique(hash, e, |e| e.hash);
    }
}

impl PieceCaches {
    /// The cached ids of a piece of 3 to [`SHORT_MAX`] bytes, counted as a hit; `None` on
    /// a miss (not counted: the caller's slow path counts it) and while the cache is off.
    #[inline(always)]
    fn short_hit(&mut self, piece: &[u8]) -> Option<&[u32]> {
        self.short_hit_key(pack(piece)?)
    }

    /// [`PieceCaches::short_hit`] of a piece already packed (`key` nonzero).
    #[inline(always)]
    fn short_hit_key(&mut self, key: u128) -> Option<&[u32]> {
        if self.short_window.skip != 0 {
            return None;
        }
        let ids = self.short.get(key)?;
        self.short_window.count(true);
        Some(ids)
    }

    /// Caches for another tokenizer, in the storage of `old` (the thread's least recently
    /// used ones, if all slots are taken).
    fn reuse(old: Option<PieceCaches>) -> PieceCaches {
        match old {
            Some(mut c) => {
                c.short.clear();
                c.short_window = HitWindow::new(PRETOKEN_MIN_HITS);
                c.mid.clear();
                c.long.clear();
                c
            }
            None => PieceCaches {
                short: Pretokens::new(),
                short_window: HitWindow::new(PRETOKEN_MIN_HITS),
                mid: PieceCache::new(),
                long: LongCache::new(),
            },
        }
    }
}

/// Appends a cached piece's ids: one to three, mostly one, so pushed one by one rather
/// than copied with a `memcpy` call.
#[inline(always)]
fn push_ids(out: &mut Vec<u32>, ids: &[u32]) {
    for &id in ids {
        out.push(id);
    }
}

thread_local! {
    static PIECE_CACHES: RefCell<Recent<PieceCaches, CACHE_SLOTS>> = const { RefCell::new(Recent::new()) };
}

impl Tokenizer {
    /// Appends the tokens of one piece (no splitting) to `out`.
    pub fn encode_piece(&self, piece: &[u8], out: &mut Vec<u32>) {
        if piece.len() <= 2 {
            return self.encode_piece_in(piece, out, None); // no cache on these routes
        }
        self.with_piece_caches(|caches| self.encode_piece_in(piece, out, caches))
    }

    /// Runs `f` with this thread's caches for this tokenizer, or `None` if they are in
    /// use (a merge re-entered on this thread) or gone (the thread is exiting): see
    /// [`super::cache`]. Encoding a text fetches them once and passes them to each piece.
    #[inline]
    pub(super) fn with_piece_caches<R>(&self, f: impl FnOnce(Option<&mut PieceCaches>) -> R) -> R {
        with_recent(&PIECE_CACHES, self.id, PieceCaches::reuse, f)
    }

    /// [`Tokenizer::encode_piece`] with the thread's caches already fetched (`None`: merge
    /// without them, with the same result).
    ///
    /// The common cases are inlined into the caller's loop: a piece of one or two bytes,
    /// and a short piece the pretoken cache holds (most pieces of ordinary text). The
    /// rest, [`Tokenizer::encode_piece_slow`], is a call: a large function whose
    /// prologue, register saves and dispatch cost more than such a piece's whole lookup.
    #[inline(always)]
    pub(super) fn encode_piece_in(&self, piece: &[u8], out: &mut Vec<u32>, caches: Option<&mut PieceCaches>) {
        match (piece.len(), caches) {
            (1, _) => out.push(self.byte_ranks[piece[0] as usize]),
            (2, _) => match self.pair2[usize::from(piece[0]) << 8 | usize::from(piece[1])] {
                u32::MAX => {
                    out.extend([self.byte_ranks[piece[0] as usize], self.byte_ranks[piece[1] as usize]])
                }
                id => out.push(id),
            },
            (3..=SHORT_MAX, Some(c)) => match c.short_hit(piece) {
                Some(ids) => push_ids(out, ids),
                None => self.encode_piece_slow(piece, out, Some(c)),
            },
            (_, caches) => self.encode_piece_slow(piece, out, caches),
        }
    }

    /// [`Tokenizer::encode_piece_in`] for consecutive pieces of `text` (parts of it),
    /// [`CHUNK`] at a time: first the pretoken cache's line of every piece of up to
    /// [`SHORT_MAX`] bytes is requested ([`crate::simd::prefetch`]), then the pieces are
    /// encoded in order. The cache grows past the core's own caches on long texts, and a
    /// lookup that waits for its line costs more than all of a hit's instructions;
    /// requested a chunk ahead, the lines load while the pieces before them are encoded.
    ///
    /// Pieces of one and two bytes go through the cache too, though their tables answer
    /// them as fast: every short piece then takes the same path, and the branches on a
    /// piece's length (mispredicted where lengths vary, as they do from one piece to the
    /// next) are left to the misses. Their hits are not counted in the cache's windows
    /// ([`HitWindow`]), which judge whether the lookups of longer pieces pay.
    #[inline(never)]
    pub(super) fn encode_pieces_in(
        &self,
        text: &[u8],
        pieces: &[&[u8]],
        out: &mut Vec<u32>,
        c: &mut PieceCaches,
    ) {
        for pieces in pieces.chunks(CHUNK) {
            if c.short_window.skip != 0 {
                // The cache is off (pieces do not repeat here): each piece straight to
                // its route, without the lookups that would answer nothing.
                for &piece in pieces {
                    match piece.len() {
                        1 | 2 => self.encode_piece_in(piece, out, None),
                        3..=SHORT_MAX if c.short_window.skipping() => {
                            if c.short_window.probe_due() {
                                self.probe_short(piece, out, c);
                            } else {
                                self.merge_short(piece, out, true);
                            }
                        }
                        _ => self.encode_piece_slow(piece, out, Some(c)),
                    }
                }
                continue;
            }
            // The packed key of each short piece (0: not looked up) and its home pair.
            let mut keys = [(0u128, 0usize); CHUNK];
            for (key, piece) in keys.iter_mut().zip(pieces) {
                let k = pack_within(text, piece).unwrap_or(0);
                *key = (k, c.short.home(k));
                c.short.prefetch(key.1);
            }
            let mut hits = 0;
            // Hits write all of an entry's id slots past the ids so far (`w`) and count
            // the ones that are ids: `out` is grown (zeroed) for up to `HIT_RUN` more
            // hits when a hit finds no room, and is cut back to `w` for a miss (which
            // pushes) and at the end. (Growing for the whole chunk at once would zero
            // it again after every miss: quadratic in a chunk of misses.)
            let mut w = out.len();
            for (i, (&(key, home), &piece)) in keys.iter().zip(pieces).enumerate() {
                let hit = if key == 0 { None } else { c.short.lookup(key, home) };
                match hit {
                    Some(Hit::Inline(ids, n)) => {
                        if out.len() < w + INLINE {
                            out.resize(w + INLINE * (pieces.len() - i).min(HIT_RUN), 0);
                        }
                        out[w..w + INLINE].copy_from_slice(ids);
                        w += n;
                        hits += u32::from(piece.len() >= 3);
                        continue;
                    }
                    Some(Hit::Arena(ids)) => {
                        out.truncate(w);
                        out.extend_from_slice(ids);
                        hits += 1;
                    }
                    None => {
                        out.truncate(w);
                        if key == 0 {
                            self.encode_piece_in(piece, out, Some(c));
                        } else {
                            self.encode_short_miss(piece, key, out, c);
                        }
                    }
                }
                w = out.len();
            }
            out.truncate(w);
            c.short_window.count_hits(hits);
        }
    }

    /// A piece of 1 to [`SHORT_MAX`] bytes (packed as `key`) that the pretoken cache
    /// does not hold: merged, and cached unless the cache is off.
    #[inline(never)]
    fn encode_short_miss(&self, piece: &[u8], key: u128, out: &mut Vec<u32>, c: &mut PieceCaches) {
        if piece.len() <= 2 {
            let start = out.len();
            self.encode_piece_in(piece, out, None);
            c.short.insert(key, &out[start..]);
        } else {
            self.merge_short_cached_key(piece, key, out, c);
        }
    }

    /// A piece of 3 to [`SHORT_MAX`] bytes while the pretoken cache is off, as a probe
    /// ([`PROBE_EVERY`]): looked up in the cache (merged if missing, not inserted),
    /// counted in the probes' window.
    #[inline(never)]
    fn probe_short(&self, piece: &[u8], out: &mut Vec<u32>, c: &mut PieceCaches) {
        let Some(key) = pack(piece) else {
            return self.merge_short(piece, out, true);
        };
        let hit = match c.short.get(key) {
            Some(ids) => {
                out.extend_from_slice(ids);
                true
            }
            None => {
                self.merge_short(piece, out, true);
                false
            }
        };
        c.short_window.count_probe(hit);
    }

    /// [`Tokenizer::encode_piece_in`] past its inlined cases.
    #[inline(never)]
    fn encode_piece_slow(&self, piece: &[u8], out: &mut Vec<u32>, caches: Option<&mut PieceCaches>) {
        match piece.len() {
            0 => {}
            1 => out.push(self.byte_ranks[piece[0] as usize]),
            2 => match self.pair2[usize::from(piece[0]) << 8 | usize::from(piece[1])] {
                u32::MAX => {
                    out.extend([self.byte_ranks[piece[0] as usize], self.byte_ranks[piece[1] as usize]])
                }
                id => out.push(id),
            },
            3..=SHORT_MAX => match caches {
                Some(c) => self.merge_short_cached(piece, out, c),
                None => self.merge_short(piece, out, false),
            },
            MID_MIN..=MID_MAX => match caches {
                Some(c) => self.merge_mid_cached(piece, out, &mut c.mid),
                None => self.merge_mid(piece, out, false),
            },
            n => match caches {
                Some(c) if n <= LONG_CACHE_MAX => self.merge_long_cached(piece, out, c),
                caches => self.merge_long_piece(piece, out, caches),
            },
        }
    }

    /// A piece of more than `MID_MAX` bytes: a whole token, else merged
    /// ([`Tokenizer::merge_long`]).
    fn merge_long_piece(&self, piece: &[u8], out: &mut Vec<u32>, caches: Option<&mut PieceCaches>) {
        match self.encoder.get_unfiltered(piece) {
            Some(id) => out.push(id),
            None => self.merge_long(piece, out, caches),
        }
    }

    /// [`Tokenizer::merge_long_piece`] through the thread's cache of long pieces (the
    /// merge's parts go through the other caches, as without it).
    fn merge_long_cached(&self, piece: &[u8], out: &mut Vec<u32>, c: &mut PieceCaches) {
        if c.long.window.skipping() {
            return self.merge_long_piece(piece, out, Some(c));
        }
        let hash = match c.long.lookup(piece) {
            Ok(ids) => return out.extend_from_slice(ids),
            Err(hash) => hash,
        };
        let start = out.len();
        self.merge_long_piece(piece, out, Some(&mut *c));
        c.long.insert(piece, hash, &out[start..]);
    }

    /// A piece that is not a token (of more than [`MID_MAX`] bytes, or a short one with
    /// non-ASCII, see [`Tokenizer::merge_short`]), cut where no token of the table occurs
    /// in it across the cut.
    ///
    /// Exact: every token a merge makes is a token of the table and part of the piece,
    /// so none spans such a cut; a pair across it is never merged, and each side's
    /// merges happen as they would on that side alone (the argument of fact 1 in
    /// [`super::backtrack`]'s notes). So each part is merged alone, by the route of its
    /// length, and with `caches`, those of up to [`SHORT_MAX`] bytes go through the
    /// pretoken cache: runs of CJK text, one long piece under the named patterns, are
    /// mostly made of such parts.
    ///
    /// The tests at a boundary between bytes `a b` (`b` starts a character), each of
    /// which finds only cuts that no token crosses:
    /// - a token across it has `a b` next to each other, and is `a b` itself or has
    ///   three bytes of the piece around it, `x a b` or `a b y`: so it is a cut if no
    ///   token has `a b` next to each other (`joins`, one bit per byte pair), or if `a b`
    ///   is no token and no token has either three bytes ([`Cuts`]' trigrams);
    /// - where `a` or `b` is not ASCII and both tests above found a token that may cross,
    ///   the characters on each side are looked up as a pair ([`Cuts::chars_join`]);
    /// - before those, where `a` or `b` is not ASCII and the characters on both sides are
    ///   Latin-1, their pair in [`Cuts::latin`] (exact, and small enough to stay in the
    ///   core's first cache: in random bytes as latin-1, o200k_base, +4%);
    /// - between two characters of three bytes, the `joins` bit, then the characters as
    ///   a pair ([`Cuts::chars3_join`]), at every such boundary, without the pair and
    ///   trigram tests (which read a table of 2 MiB and cut few of these boundaries
    ///   under o200k_base): each part of one character, most parts then, is a lookup
    ///   in [`Cuts::char3`].
    ///
    /// The boundaries between two CJK characters of the multilingual sample that no
    /// token crosses are 76% under o200k_base (90% under cl100k_base); the byte tests
    /// find 20% (69%), the character pairs 75% (90%). Elsewhere the character test cuts
    /// only once the part since the last cut has [`CHAR_CUT_MIN`] bytes.
    ///
    /// A part is merged, not looked up: those routes give a part that is a token that
    /// token, which is its merge unless the token's own bytes do not merge into it (no
    /// such token in OpenAI's tables, but possible in others), so a part that comes out
    /// as one token is checked against [`Made`].
    fn merge_long(&self, piece: &[u8], out: &mut Vec<u32>, mut caches: Option<&mut PieceCaches>) {
        if let Some(run) = backtrack::mostly_run(piece) {
            // (A run's every boundary joins: the tests below would find no cut in it.)
            return self.merge_backtrack_from(piece, Some(run), out);
        }
        let cuts = self.cuts();
        let mut start = 0;
        for (i, pair) in piece.windows(2).enumerate() {
            let (a, b) = (pair[0], pair[1]);
            if b & 0xC0 == 0x80 {
                // Inside a character (a UTF-8 continuation byte follows): not tested. A
                // cut here would be exact too, but tokens nearly always hold a
                // character's bytes together, and the tests below cost table reads.
                continue;
            }
            let ab = usize::from(a) << 8 | usize::from(b);
            // Between two characters of three bytes each (checked as bytes only):
            let three = b & 0xF0 == 0xE0
                && i >= 2
                && piece[i - 2] & 0xF0 == 0xE0
                && piece[i - 1] & 0xC0 == 0x80
                && a & 0xC0 == 0x80;
            let joined = if three {
                self.joins[ab / 64] & (1 << (ab % 64)) != 0 && cuts.chars3_join(piece, i + 1)
            } else {
                ((a | b) < 0x80 || cuts.latin_join(piece, i + 1) != Some(false))
                    && self.joins[ab / 64] & (1 << (ab % 64)) != 0
                    && (self.pair2[ab] != u32::MAX
                        || i.checked_sub(1).is_some_and(|x| cuts.trigram(piece[x], a, b))
                        || piece.get(i + 2).is_some_and(|&y| cuts.trigram(a, b, y)))
                    && ((a | b) < 0x80 || i + 1 - start < CHAR_CUT_MIN || cuts.chars_join(piece, i + 1))
            };
            if !joined {
                if !self.push_char3(cuts, &piece[start..=i], out) {
                    self.merge_part(&piece[start..=i], out, caches.as_deref_mut());
                }
                start = i + 1;
            }
        }
        if start == 0 {
            // No cut: the piece as a whole, which is not a token.
            if piece.len() < BACKTRACK_MIN {
                self.merge_scan_non_token(piece, out);
            } else {
                self.merge_backtrack(piece, out);
            }
        } else {
            self.merge_part(&piece[start..], out, caches);
        }
    }

    /// The merge of `part` of a piece [`Tokenizer::merge_long`] cut, which has no cut
    /// (bar those the tests after its end would find).
    fn merge_part(&self, part: &[u8], out: &mut Vec<u32>, caches: Option<&mut PieceCaches>) {
        if part.len() > MID_MAX {
            return self.merge_backtrack(part, out); // (the merge, token or not)
        }
        let start = out.len();
        self.encode_piece_in(part, out, caches);
        if let [id] = out[start..] {
            // (A token of two bytes is always their merge: its rank is their pair's.)
            if part.len() > 2 && !self.made_by_merges(id) {
                out.truncate(start);
                self.merge_scan(part, out);
            }
        }
    }

    /// The tables of the cut tests (see [`Cuts`]), built on first use.
    fn cuts(&self) -> &Cuts {
        self.cuts.get_or_init(|| {
            let mut trigrams = vec![0u64; (1 << 24) / 64].into_boxed_slice();
            let mut bigrams = vec![0u64; (1 << BIGRAM_BITS) / 64].into_boxed_slice();
            let (mut partial_left, mut partial_right) = ([0u64; 4], [0u64; 4]);
            let set = |bits: &mut [u64], k: usize| bits[k / 64] |= 1 << (k % 64);
            for (token, _) in self.tokens() {
                for t in token.windows(3) {
                    set(&mut trigrams, usize::from(t[0]) << 16 | usize::from(t[1]) << 8 | usize::from(t[2]));
                }
                // (Meetings of two ASCII bytes are never asked: `merge_long` tests them
                // with the byte tests alone.)
                let asked = |k: usize| token[k] & 0xC0 != 0x80 && (token[k - 1] | token[k]) >= 0x80;
                for k in (1..token.len()).filter(|&k| asked(k)) {
                    let left = left_side(token, k).unwrap_or_else(|| {
                        set(&mut partial_left, usize::from(token[k - 1]));
                        partial(token[k - 1])
                    });
                    let right = right_side(token, k).unwrap_or_else(|| {
                        set(&mut partial_right, usize::from(token[k]));
                        partial(token[k])
                    });
                    set(&mut bigrams, bigram_bit(left, right));
                }
            }
            let latin = latin_pairs(self.tokens().map(|(token, _)| token));
            let char3 = (0..1 << 16).map(|k| self.char3_merge(k)).collect();
            Box::new(Arc::new(Cuts { trigrams, bigrams, partial_left, partial_right, latin, char3 }))
        })
    }

    /// [`Cuts::char3`]'s entry for slot `k`: the merge of three bytes, which first joins
    /// the pair of lower rank, then the other byte to it if the three are a token.
    fn char3_merge(&self, k: usize) -> u32 {
        let [hi, lo] = (k as u16).to_be_bytes();
        let (a, b, c) = (0xE0 | hi >> 4, 0x80 | (hi & 0x0F) << 2 | lo >> 6, 0x80 | (lo & 0x3F));
        let (ab, bc) = (
            self.pair2[usize::from(a) << 8 | usize::from(b)],
            self.pair2[usize::from(b) << 8 | usize::from(c)],
        );
        if ab == u32::MAX && bc == u32::MAX {
            return CHAR3_A_B_C;
        }
        match self.encoder.get_unfiltered(&[a, b, c]) {
            Some(id) if id < CHAR3_UNKNOWN => id,
            Some(_) => CHAR3_UNKNOWN,
            None if ab < bc => CHAR3_AB_C,
            None => CHAR3_A_BC,
        }
    }

    /// Appends the merge of the three-byte character `part` from [`Cuts::char3`], or
    /// returns false if the table does not give it.
    #[inline]
    fn push_char3(&self, cuts: &Cuts, part: &[u8], out: &mut Vec<u32>) -> bool {
        let Some(code) = cuts.char3(part) else { return false };
        let byte = |x: u8| self.byte_ranks[usize::from(x)];
        let pair = |x: u8, y: u8| self.pair2[usize::from(x) << 8 | usize::from(y)];
        match code {
            CHAR3_AB_C => out.extend([pair(part[0], part[1]), byte(part[2])]),
            CHAR3_A_BC => out.extend([byte(part[0]), pair(part[1], part[2])]),
            CHAR3_A_B_C => out.extend([byte(part[0]), byte(part[1]), byte(part[2])]),
            CHAR3_UNKNOWN => return false,
            id => out.push(id),
        }
        true
    }

    /// Whether token `id`'s own bytes merge into it (see [`Made`]).
    fn made_by_merges(&self, id: u32) -> bool {
        let made = self.made.get_or_init(|| Box::new(Arc::new(Made::new(self.vocab_size()))));
        let Some(state) = made.0.get(id as usize) else { return true };
        match state.load(Ordering::Relaxed) {
            MADE => true,
            UNMADE => false,
            _ => {
                let mut ids = Vec::new();
                let bytes = self.token_bytes(id).unwrap_or_default();
                if bytes.len() <= SCAN_MAX {
                    self.merge_scan(bytes, &mut ids);
                } else {
                    self.merge_heap(bytes, &mut ids);
                }
                let is_made = ids == [id];
                state.store(if is_made { MADE } else { UNMADE }, Ordering::Relaxed);
                is_made
            }
        }
    }

    /// A piece of 3 to [`SHORT_MAX`] bytes without the cache: a whole token, else merged.
    /// `filtered`: look it up through the rank table's bitsets, for pieces that are
    /// rarely tokens (text whose pieces do not repeat). Pieces of 5 or more bytes with
    /// non-ASCII are cut first like long ones ([`Tokenizer::merge_long`]): in text of
    /// accented or non-Latin letters most characters meet no token across their
    /// boundary, and a part of one character is a table lookup, not a merge (random
    /// bytes as latin-1: +5%).
    #[inline]
    fn merge_short(&self, piece: &[u8], out: &mut Vec<u32>, filtered: bool) {
        let n = piece.len();
        // Pieces of 3-5 bytes that start or end with a non-ASCII byte through the
        // bitsets: in random bytes as latin-1 (most short pieces) they are rarely
        // tokens. The others, mostly tokens in ordinary text, go straight to the table.
        let id = if filtered || (n <= 5 && (piece[0] | piece[n - 1]) >= 0x80) {
            self.encoder.get(piece)
        } else {
            self.encoder.get_unfiltered(piece)
        };
        if let Some(id) = id {
            out.push(id);
        } else if let [a, b, c] = *piece {
            self.merge_three_non_token(a, b, c, out);
        } else if n >= 5 && piece.iter().any(|&x| x >= 0x80) {
            self.merge_long(piece, out, None);
        } else {
            self.merge_scan_non_token(piece, out);
        }
    }

    /// [`Tokenizer::merge_short`] through the thread's pretoken cache, after
    /// [`PieceCaches::short_hit`] found nothing.
    fn merge_short_cached(&self, piece: &[u8], out: &mut Vec<u32>, c: &mut PieceCaches) {
        match pack(piece) {
            Some(key) => self.merge_short_cached_key(piece, key, out, c),
            None => self.merge_short(piece, out, false),
        }
    }

    /// [`Tokenizer::merge_short_cached`] of a piece already packed as `key`.
    fn merge_short_cached_key(&self, piece: &[u8], key: u128, out: &mut Vec<u32>, c: &mut PieceCaches) {
        if c.short_window.skipping() {
            return self.merge_short(piece, out, true);
        }
        c.short_window.count(false);
        let start = out.len();
        self.merge_short(piece, out, false);
        c.short.insert(key, &out[start..]);
    }

    /// A piece of `MID_MIN` to `MID_MAX` bytes without the cache (`filtered` as in
    /// [`Tokenizer::merge_short`]).
    fn merge_mid(&self, piece: &[u8], out: &mut Vec<u32>, filtered: bool) {
        let id = if filtered { self.encoder.get(piece) } else { self.encoder.get_unfiltered(piece) };
        match id {
            Some(id) => out.push(id),
            None => self.merge_scan_non_token(piece, out),
        }
    }

    /// [`Tokenizer::merge_mid`] through the thread's cache of merged pieces.
    fn merge_mid_cached(&self, piece: &[u8], out: &mut Vec<u32>, cache: &mut PieceCache) {
        if cache.window.skipping() {
            // Pieces do not repeat here, and are rarely tokens: through the bitsets.
            return self.merge_mid(piece, out, true);
        }
        // Through the cache first, whole tokens included: a token's lookup in the rank
        // table (megabytes, and keys this long sit in its slower tier) mostly misses the
        // core's caches, a repeated piece's in this thread's cache mostly does not.
        if let Some(ids) = cache.lookup(piece) {
            return out.extend_from_slice(ids);
        }
        if let Some(id) = self.encoder.get(piece) {
            out.push(id);
            return cache.insert(piece, &[id]);
        }
        let start = out.len();
        self.merge_scan_non_token(piece, out);
        cache.insert(piece, &out[start..]);
    }

    /// The plain merge, without cache or trie: the scan for short input, else the heap.
    pub(super) fn merge_reference(&self, piece: &[u8], out: &mut Vec<u32>) {
        match piece.len() {
            0 => {}
            1 => out.push(self.byte_ranks[piece[0] as usize]),
            n if n <= SCAN_MAX => self.merge_scan(piece, out),
            _ => self.merge_heap(piece, out),
        }
    }

    #[inline]
    pub(super) fn rank(&self, bytes: &[u8]) -> u32 {
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

    /// [`Tokenizer::rank`] through the rank table's bitsets ([`RankMap::get`](crate::bytemap::RankMap::get)), for the
    /// pairs inside short pieces that are not tokens: mostly not tokens either, and in
    /// random bytes as latin-1 nearly all stop at the bitsets. (Not for whole pieces, nor
    /// the long-piece searches: there most keys pass and the check only costs.)
    #[inline]
    pub(super) fn rank_filtered(&self, bytes: &[u8]) -> u32 {
        if let [a, b] = *bytes {
            return self.pair2[usize::from(a) << 8 | usize::from(b)];
        }
        self.encoder.get(bytes).unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use std::cmp::Reverse;

    use hashbrown::HashMap;
    use proptest::prelude::*;

    use super::super::testing::*;
    use super::*;
    use crate::{Allowed, Pattern};

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

    /// Pieces that never repeat turn this thread's piece cache off for a while; merges stay
    /// exact with it off and on, and repeated pieces turn it back on.
    #[test]
    fn piece_cache_turns_off_for_pieces_that_do_not_repeat() {
        // Short pieces (the pretoken cache), mid-length ones (the piece cache) and long
        // ones (the cache of long pieces).
        for (len, min_len) in [(12, 8), (20, 16), (40, 32)] {
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
            let skip = || {
                PIECE_CACHES.with(|c| {
                    c.borrow().peek(t.id).map(|c| match len {
                        ..=SHORT_MAX => c.short_window.skip,
                        MID_MIN..=MID_MAX => c.mid.window.skip,
                        _ => c.long.window.skip,
                    })
                })
            };
            for _ in 0..CACHE_WINDOW {
                let piece: Vec<u8> = (0..len)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        b"aabcd"[(x % 5) as usize]
                    })
                    .collect();
                check(&piece);
            }
            assert_eq!(skip(), Some(CACHE_SKIP), "pieces of {len} bytes");
            // Merged without the cache, then with it again, repeating pieces.
            let repeating = b"abcaabcaaaacabcaabcaaaacabcaab".repeat(2);
            for i in 0..CACHE_SKIP as usize + 2 * CACHE_WINDOW as usize {
                check(&repeating[i % 3..i % 3 + min_len + i % 7]);
            }
            assert_eq!(skip(), Some(0), "pieces of {len} bytes");
        }
    }

    /// The cache of long pieces takes a piece the first time the thread sees it and
    /// answers it from then on, never one longer than [`LONG_CACHE_MAX`]; every answer is
    /// the merge's.
    #[test]
    fn long_pieces_are_cached() {
        let t = toy();
        let piece = b"abcaabcaaaacabcaabcaaaacabcaabcaabcaa".repeat(2); // 74 bytes
        let huge = piece.repeat(4); // 296 bytes
        let cached = || PIECE_CACHES.with(|c| c.borrow().peek(t.id).map(|c| c.long.table.len()));
        for (round, held) in [1, 1, 1].into_iter().enumerate() {
            for p in [&piece, &huge] {
                let (mut got, mut expect) = (Vec::new(), Vec::new());
                t.encode_piece(p, &mut got);
                t.merge_heap(p, &mut expect);
                assert_eq!(got, expect, "round {round}, {} bytes", p.len());
            }
            assert_eq!(cached(), Some(held), "round {round}");
        }
    }

    /// The cache of long pieces starts over when a bound is reached: the pieces after
    /// that are answered, those before are gone.
    #[test]
    fn long_cache_starts_over_at_its_bounds() {
        let mut c = LongCache::new();
        let piece = |i: usize| format!("{i:0>40}").into_bytes();
        for i in 0..LONG_CACHE_MAX_PIECES + 10 {
            let hash = c.lookup(&piece(i)).expect_err("a new piece");
            c.insert(&piece(i), hash, &[i as u32, 7]);
        }
        assert_eq!(c.table.len(), 10);
        let reserved = (c.keys.capacity(), c.ids.capacity(), c.table.capacity());
        assert_eq!((reserved.0, reserved.1), (LONG_CACHE_MAX_BYTES, LONG_CACHE_MAX_TOKENS));
        assert!(
            reserved.2 >= LONG_CACHE_MAX_PIECES && reserved.2 < 2 * LONG_CACHE_MAX_PIECES,
            "{reserved:?}"
        );
        let last = LONG_CACHE_MAX_PIECES + 9;
        assert_eq!(c.lookup(&piece(last)), Ok(&[last as u32, 7][..]));
        assert!(c.lookup(&piece(3)).is_err());
        // Bytes and ids have their bounds too.
        let mut c = LongCache::new();
        let long = vec![b'z'; LONG_CACHE_MAX];
        let ids = vec![1u32; LONG_CACHE_MAX];
        for i in 0..LONG_CACHE_MAX_BYTES / LONG_CACHE_MAX + 2 {
            let mut p = long.clone();
            p[..8].copy_from_slice(&(i as u64).to_le_bytes());
            let hash = c.lookup(&p).expect_err("a new piece");
            c.insert(&p, hash, &ids);
            assert!(c.keys.len() <= LONG_CACHE_MAX_BYTES && c.ids.len() <= LONG_CACHE_MAX_TOKENS);
        }
        // (Never grown past the storage reserved at the bounds.)
        assert_eq!((c.keys.capacity(), c.ids.capacity()), (LONG_CACHE_MAX_BYTES, LONG_CACHE_MAX_TOKENS));
    }

    /// Long pieces cut where no token joins two bytes: `x` is in no token of more than
    /// one byte, so every `x` is a cut; the parts between include a token that its own
    /// bytes do not merge into (`abc`: neither `ab` nor `bc` is a token) and parts too
    /// long for the caches. Each piece twice (the second time from the caches)
    /// and every route against the definition.
    #[test]
    fn long_pieces_are_cut_where_no_token_joins() {
        let t = Tokenizer::from_ranks(
            bytes_and([b"abc".to_vec(), b"ca".to_vec(), b"cca".to_vec()]),
            whole_text(),
        )
        .unwrap();
        assert!(!t.made_by_merges(t.token_id(b"abc").unwrap()));
        assert!(t.made_by_merges(t.token_id(b"cca").unwrap()));
        let pieces: [Vec<u8>; 4] = [
            b"abcxabcxccaxabcabcabcabcabcabcabcabcabcabcabcx".to_vec(),
            [b"x".repeat(40), b"abc".to_vec()].concat(),
            [b"abc".repeat(20), b"x".to_vec(), b"abc".repeat(3)].concat(),
            b"abcabc".repeat(9),
        ];
        for piece in &pieces {
            for _ in 0..2 {
                check_routes(&t, piece);
            }
        }
    }

    /// Pieces of Latin-1 characters, cut by [`Cuts::latin`], against the plain merge, in
    /// a vocabulary whose tokens join characters whole and by parts (a token that starts
    /// after a character's lead byte or ends before its second byte), so that most
    /// meetings have a token across them in some context and not in others.
    #[test]
    fn latin_pieces_are_cut_where_no_token_joins() {
        let tokens: [&[u8]; 12] = [
            "é".as_bytes(),
            "Ã".as_bytes(),
            "©".as_bytes(),
            "aé".as_bytes(),
            b"\xA9a",
            b"a\xC3",
            b"\x83\xC3",
            "ÃÃ".as_bytes(),
            "é©".as_bytes(),
            b"\xA9\xC2\xA9",
            b"ba\xC3\xA9b",
            b"ab",
        ];
        let t = Tokenizer::from_ranks(bytes_and(tokens.iter().map(|t| t.to_vec())), whole_text()).unwrap();
        let alphabet = ["a", "b", "é", "Ã", "©", " "];
        proptest!(ProptestConfig::with_cases(2000), |(chars in prop::collection::vec(0..alphabet.len(), 3..40))| {
            let piece: String = chars.iter().map(|&c| alphabet[c]).collect();
            check_routes(&t, piece.as_bytes());
        });
        // The table itself against its definition, pair by pair: some token can lie
        // across the meeting of `x` and `y`, its bytes before the meeting agreeing with the
        // end of `x` (as many as both have) and those after with the start of `y`.
        let latin = &t.cuts().latin;
        for (x, y) in (0..256u32).flat_map(|x| (0..256u32).map(move |y| (x, y))) {
            let (x8, y8) = (char::from_u32(x).unwrap().to_string(), char::from_u32(y).unwrap().to_string());
            let (x8, y8) = (x8.as_bytes(), y8.as_bytes());
            let crossed = t.tokens().any(|(token, _)| {
                (1..token.len()).any(|k| {
                    let (left, right) = token.split_at(k);
                    (x8.ends_with(left) || left.ends_with(x8))
                        && (y8.starts_with(right) || right.starts_with(y8))
                })
            });
            let bit = (x << 8 | y) as usize;
            assert_eq!(latin[bit / 64] >> (bit % 64) & 1 != 0, crossed, "{x8:?} {y8:?}");
        }
    }

    /// Failed windows in a row turn a cache off for twice as long each time, up to
    /// [`CACHE_SKIP_MAX`]; a window that passes brings the pause back to [`CACHE_SKIP`].
    #[test]
    fn three_byte_pieces_are_cut_where_no_token_joins() {
        // Tokens of whole characters (one made by its pairs' merges, one not), of two,
        // and of parts of characters that lie across their meetings.
        let tokens: [&[u8]; 14] = [
            b"\xE4\xB8",
            b"\xE4\xB8\xAD", // 中
            "文".as_bytes(), // no pair of its bytes is a token: not made by merges
            b"\xAD\xE6",
            b"\xAD\xE6\x96",
            "中文".as_bytes(),
            b"\x96\x87",
            b"\xE6\x96\x87\xE4", // 文 and the lead byte of 中
            "の".as_bytes(),
            b"\x81\xAE",
            "の中".as_bytes(),
            "é".as_bytes(),
            "é中".as_bytes(),
            b"a\xE3",
        ];
        let t = Tokenizer::from_ranks(bytes_and(tokens.iter().map(|t| t.to_vec())), whole_text()).unwrap();
        let alphabet = ["中", "文", "の", "字", "é", "a", "😀"];
        proptest!(ProptestConfig::with_cases(3000), |(chars in prop::collection::vec(0..alphabet.len(), 2..40))| {
            let piece: String = chars.iter().map(|&c| alphabet[c]).collect();
            check_routes(&t, piece.as_bytes());
        });
        // Not UTF-8: lead bytes without their continuation bytes, and the reverse.
        let bytes = [0xE4u8, 0xB8, 0xAD, 0xE6, 0x96, 0x87, 0xE3, 0x81, 0xAE, b'a'];
        proptest!(ProptestConfig::with_cases(2000), |(piece in prop::collection::vec(prop::sample::select(bytes.to_vec()), 2..40))| {
            check_routes(&t, &piece);
        });
    }

    /// [`Cuts::char3`], slot by slot, against the definition of the merge.
    fn check_char3(t: &Tokenizer) {
        let cuts = t.cuts();
        let mut got = Vec::new();
        for a in 0xE0..=0xEFu8 {
            for b in 0x80..=0xBFu8 {
                for c in 0x80..=0xBFu8 {
                    got.clear();
                    let part = [a, b, c];
                    let known = t.push_char3(cuts, &part, &mut got);
                    assert!(known, "{part:x?}: not in the table");
                    assert_eq!(got, reference_merge(t, &part), "{part:x?}");
                }
            }
        }
        for part in
            [&b"\xE4\xB8"[..], b"\xF0\x9F\x98", b"\xE4\xB8\x20", b"\xE4\xC3\xAD", b"abc", "中中".as_bytes()]
        {
            assert!(!t.push_char3(cuts, part, &mut got), "{part:x?}");
        }
    }

    #[test]
    fn char3_table_is_each_characters_merge() {
        let t = Tokenizer::from_ranks(
            bytes_and([
                b"\xE4\xB8".to_vec(),
                b"\xB8\xAD".to_vec(),
                "中".as_bytes().to_vec(),
                "文".as_bytes().to_vec(),
                b"\x96\x87".to_vec(),
            ]),
            whole_text(),
        )
        .unwrap();
        check_char3(&t);
    }

    #[test]
    fn char3_table_is_each_characters_merge_in_openai_tables() {
        for name in ["cl100k_base", "o200k_base"] {
            let t = Tokenizer::from_tiktoken(&shared_ranks(name), whole_text()).unwrap();
            check_char3(&t);
        }
    }

    #[test]
    fn hit_window_backs_off_and_recovers() {
        let mut w = HitWindow::new(CACHE_WINDOW / 4);
        let fail = |w: &mut HitWindow| {
            for i in 0..CACHE_WINDOW {
                w.count(i % 8 == 0); // 1 in 8 hits: fails
            }
            let paused = w.skip;
            let mut skipped = 0;
            while w.skipping() {
                skipped += 1;
            }
            assert_eq!(skipped, paused);
            paused
        };
        let mut expect = CACHE_SKIP;
        for _ in 0..8 {
            assert_eq!(fail(&mut w), expect);
            expect = (2 * expect).min(CACHE_SKIP_MAX);
        }
        assert_eq!(fail(&mut w), CACHE_SKIP_MAX);
        w.count_hits(CACHE_WINDOW); // a window of hits passes
        assert_eq!(w.skip, 0);
        assert_eq!(fail(&mut w), CACHE_SKIP);
    }

    #[test]
    fn probes_end_a_pause_only_with_enough_hits() {
        let mut w = HitWindow::new(PRETOKEN_MIN_HITS);
        for _ in 0..CACHE_WINDOW {
            w.count(false);
        }
        assert_eq!(w.skip, CACHE_SKIP);
        // A probe every `PROBE_EVERY` skipped pieces; a window of probes one hit short.
        const _: () = assert!(PROBE_WINDOW * PROBE_EVERY < CACHE_SKIP);
        let mut due = 0;
        for i in 0..PROBE_WINDOW {
            for _ in 0..PROBE_EVERY {
                assert!(w.skipping());
                if w.probe_due() {
                    due += 1;
                    w.count_probe(i < PROBE_MIN_HITS - 1);
                }
            }
        }
        assert_eq!(due, PROBE_WINDOW);
        assert_eq!(w.skip, CACHE_SKIP - PROBE_WINDOW * PROBE_EVERY);
        // A window of probes with enough hits ends the pause.
        for i in 0..PROBE_WINDOW {
            w.count_probe(i < PROBE_MIN_HITS);
        }
        assert_eq!(w.skip, 0);
        assert!(!w.skipping());
    }

    /// Text whose pieces the cache holds, after text that turned the cache off: the
    /// probes turn it back on long before the pause would have ended; the ids are the
    /// reference's throughout.
    #[test]
    fn pretoken_cache_probes_turn_it_back_on() {
        let t = toy();
        let skip = || PIECE_CACHES.with(|c| c.borrow().peek(t.id).map(|c| c.short_window.skip));
        let words = [" abc", " aabca", " cab", " abcd", " bacca"];
        let repeating = |n: usize| -> String { (0..n).map(|i| words[i % words.len()]).collect() };
        let warm = repeating(CACHE_WINDOW as usize);
        assert_eq!(t.encode_ordinary(&warm).unwrap(), reference_text(&t, &warm));
        assert_eq!(skip(), Some(0));
        // Words that do not repeat (8 of 4 letters: 65536 of them).
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut random = String::new();
        for _ in 0..2 * CACHE_WINDOW {
            random.push(' ');
            for _ in 0..8 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                random.push(['a', 'b', 'c', 'd'][(x % 4) as usize]);
            }
        }
        assert_eq!(t.encode_ordinary(&random).unwrap(), reference_text(&t, &random));
        let paused = skip().unwrap() as usize;
        let needed = (PROBE_EVERY * PROBE_WINDOW) as usize + CHUNK;
        assert!(paused > needed, "the cache is off ({paused} pieces) for longer than the probes need");
        let back = repeating(needed);
        assert_eq!(t.encode_ordinary(&back).unwrap(), reference_text(&t, &back));
        assert_eq!(skip(), Some(0), "probes turned the cache back on");
    }

    /// The ids of `text` piece by piece from the definition (no cache).
    fn reference_text(t: &Tokenizer, text: &str) -> Vec<u32> {
        let mut expect = Vec::new();
        t.pattern()
            .for_each_piece(text, |p| match t.token_id(p.as_bytes()) {
                Some(id) => expect.push(id),
                None => t.merge_heap(p.as_bytes(), &mut expect),
            })
            .unwrap();
        expect
    }

    /// Five tokenizers (more than a thread keeps caches for) with different ranks for
    /// the same pieces, taking turns on one thread: each text is encoded with its own
    /// tokenizer's ranks, from a cold, a warm and a reused (cleared) cache.
    #[test]
    fn pretoken_caches_follow_their_tokenizer() {
        let vocabs: [&[&[u8]]; 5] = [
            &[b"ab", b"abc", b"cd"],
            &[b"bc", b"abcd", b"ab"],
            &[b"cd", b"dab", b"bcd", b"abcdab"],
            &[b" a", b" ab", b"da"],
            &[],
        ];
        let toks: Vec<Tokenizer> = vocabs
            .iter()
            .map(|v| {
                Tokenizer::from_ranks(bytes_and(v.iter().map(|t| t.to_vec())), Pattern::default_pattern())
                    .unwrap()
            })
            .collect();
        let text = "abcd abcdab dabc abcdabcdabcd bcda abc ab a cdab abcdabcdabcdabcdabcdabcdabcd";
        for round in 0..3 {
            for (i, t) in toks.iter().enumerate() {
                let expect = reference_text(t, text);
                assert_eq!(t.encode_ordinary(text).unwrap(), expect, "tokenizer {i}, round {round}");
                assert_eq!(t.count(text, Allowed::None).unwrap(), expect.len());
            }
        }
    }

    /// More distinct short pieces than the pretoken cache has entries, some of more
    /// tokens than an entry holds inline, twice over (evictions, collisions and the
    /// arena starting over on the way): every piece exact each time.
    #[test]
    fn pretoken_cache_evicts_and_stays_exact() {
        let t = toy();
        let alphabet = b"abcxyz";
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let words: Vec<String> = (0..40_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let len = 3 + (x % 13) as usize;
                (0..len).map(|k| alphabet[(x >> (8 + 3 * k)) as usize % alphabet.len()] as char).collect()
            })
            .collect();
        let text = words.join(" ");
        let expect = reference_text(&t, &text);
        for _ in 0..2 {
            assert_eq!(t.encode_ordinary(&text).unwrap(), expect);
        }
        // Pieces of up to 15 tokens, looked up many times.
        let many = "zyxwvutsrqponm zyx zyxw".repeat(50);
        let expect = reference_text(&t, &many);
        assert!(expect.len() > 15 * 50);
        assert_eq!(t.encode_ordinary(&many).unwrap(), expect);
        assert_eq!(t.encode_ordinary(&many).unwrap(), expect);
    }

    /// A merge re-entered while a text holds the thread's caches runs without them, with
    /// the same result.
    #[test]
    fn a_merge_inside_an_encode_runs_without_the_caches() {
        let t = toy();
        let piece = b"abcaabcab";
        let mut expect = Vec::new();
        t.merge_heap(piece, &mut expect);
        t.with_piece_caches(|outer| {
            assert!(outer.is_some());
            assert!(t.with_piece_caches(|inner| inner.is_none()));
            let mut got = Vec::new();
            t.encode_piece(piece, &mut got);
            assert_eq!(got, expect);
        });
        // And the caches are there again after.
        assert!(t.with_piece_caches(|c| c.is_some()));
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
    }

    proptest! {
        /// Long pieces of characters of one to four bytes (valid UTF-8 or, through
        /// `encode_piece`, broken), with tokens cut from such text at any byte: tokens
        /// that start or end inside a character, and whole characters next to each
        /// other, are what the character test of the cuts must see. Every route equals
        /// the definition.
        #[test]
        fn long_pieces_of_multibyte_characters(
            text in proptest::collection::vec(0..6usize, 40..300),
            cuts in proptest::collection::vec((any::<u16>(), 1..9usize), 1..40),
            pieces in proptest::collection::vec((any::<u16>(), 32..200usize, any::<bool>()), 1..6),
        ) {
            let chars: [&[u8]; 6] = [b"a", "\u{e9}".as_bytes(), "\u{4e2d}".as_bytes(), "\u{6587}".as_bytes(), "\u{1d11e}".as_bytes(), b" "];
            let text: Vec<u8> = text.iter().flat_map(|&c| chars[c].iter().copied()).collect();
            // Some tokens from a copy with bytes out of place: leads with too few
            // continuation bytes, bytes no UTF-8 has.
            let broken: Vec<u8> =
                text.iter().enumerate().map(|(i, &x)| if i % 7 == 3 { x.wrapping_add(0x47) } else { x }).collect();
            let mut tokens: Vec<Vec<u8>> = Vec::new();
            for (k, (at, len)) in cuts.into_iter().enumerate() {
                let at = at as usize % text.len();
                let from = if k % 4 == 3 { &broken } else { &text };
                let tok = from[at..text.len().min(at + len)].to_vec();
                if tok.len() > 1 && !tokens.contains(&tok) {
                    tokens.push(tok);
                }
            }
            let t = Tokenizer::from_ranks(bytes_and(tokens), whole_text()).unwrap();
            for (at, len, broken) in pieces {
                let at = at as usize % text.len();
                let mut piece = text[at..text.len().min(at + len)].to_vec();
                if broken {
                    let k = len % piece.len();
                    piece[k] = piece[k].wrapping_add(0x40); // a lead or continuation byte out of place
                }
                check_routes(&t, &piece);
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
