//! A hand-written splitter for the named split patterns.
//!
//! It cuts text into exactly the pieces fancy-regex finds with [`GPT2_PATTERN`],
//! [`CL100K_PATTERN`], [`O200K_PATTERN`], [`RUSTBPE_GPT4_PATTERN`] and [`NANOCHAT_PATTERN`],
//! several times faster than running any regex engine on them.
//!
//! Design notes
//! - Character classes. Every character gets one byte of class bits (see [`L`] .. [`PRE`]):
//!   `\p{L}`, `\p{N}`, `\s`, "none of those", o200k's two letter classes, `[\r\n]` and the
//!   letter-prefix class `[^\r\n\p{L}\p{N}]`. The bits are computed from regex-syntax's own
//!   Unicode tables (the ones fancy-regex and regex-automata use), once, into a two-level
//!   table: 4352 blocks of 256 code points, identical blocks stored once, plus a 128-entry
//!   ASCII table. The end of the text has class 0, so it is in no class. Contraction
//!   letters keep their case-fold sets, also from regex-syntax (`(?i)s` is `[Ssſ]`).
//! - The patterns never match empty and every character starts some branch, so a match
//!   always starts where the previous one ended: splitting is "find the end of the piece
//!   that starts at `p`", repeatedly. [`piece_end`] does that with the branches tried in
//!   the pattern's order, each branch reduced to a test on the first one or two
//!   characters plus a scan. Leftmost-first alternation means the first branch that can
//!   match wins; within a branch, greedy quantifiers with backtracking give the first
//!   match in backtracking order, worked out per branch below.
//! - One generic core, [`piece_end`], is instantiated per pattern through the [`Rules`]
//!   constants; the branches the patterns share:
//!   - Contractions `'(?:[sdmt]|ll|ve|re)` (GPT-2, case-sensitive) and `'(?i:...)`
//!     (cl100k, rustbpe, nanochat): an apostrophe and one or two letters of the fold sets.
//!   - "Optional prefix, then a run": ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+` and
//!     `[^\r\n\p{L}\p{N}]?+\p{L}+`. The prefix is never itself in the run's class, so
//!     with or without backtracking the branch matches iff the first character is in
//!     the class (then: the run from it) or is a prefix character followed by one in the
//!     class (then: both, and the run). Possessive `++` changes nothing: the run is
//!     maximal and the branch ends there (or, for punctuation, a `[\r\n]*` / `[\r\n/]*`
//!     tail follows, also maximal, as nothing follows it).
//!   - `\p{N}{1,3}` / `\p{N}{1,2}`: at most that many number characters.
//!   - Whitespace. A piece that starts with whitespace first tries the branches above
//!     (a non-newline space can prefix letters; a ` ` can prefix punctuation). The
//!     branches left all look at the maximal whitespace run `[p, q)`: `\s++$` (GPT-2,
//!     cl100k) takes it when `q` is the end; `\s*[\r\n]` and o200k's `\s*[\r\n]+`
//!     backtrack `\s*` until a newline follows, so they end just after the run's last
//!     `\r`/`\n`, if there is one (so without a `\s++$` branch, as in rustbpe, nanochat
//!     and o200k, a run with a newline at the end of the text ends at its last newline);
//!     `\s+(?!\S)` takes the whole run at the end of text, else backtracks one character
//!     (a space is then ahead), so it needs two or more characters and leaves the last
//!     one; the last resort `\s` / `\s+` takes what is left: one character.
//! - o200k's word branches, with `P = [^\r\n\p{L}\p{N}]`, `U = [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]`,
//!   `W = [\p{Ll}\p{Lm}\p{Lo}\p{M}]` and `C` the contraction suffix, are tried as
//!   `P?U*W+C?` then `P?U+W*C?`, each first with the prefix taken (when the first
//!   character is in `P`), then without it (which matters for combining marks: they are
//!   in `P`, `U` and `W` at once). From a start `s`, `U*W+`: `U*` takes the maximal
//!   U-run `[s, e)`; if the character at `e` is in `W`, `W+` takes the W-run from `e`;
//!   otherwise `U*` gives back characters until one in `W` (hence in `U`∩`W`) is next:
//!   the last such character of the run, which `W+` takes alone (the rest of the run is
//!   not in `W`, nor is the character at `e`); if there is none, the branch fails.
//!   `U+W*` takes a non-empty U-run and the W-run after it; when `U*W+` failed from the
//!   same start that W-run is empty, so one scan of the U-run answers both. `C?` then
//!   takes a contraction if one follows.
//! - Input is `&str`, so UTF-8 is valid; characters are decoded by hand from the bytes
//!   (ASCII bytes need no decoding) and pieces are cut at byte offsets.
//! - Speed: the time goes into mispredicted branches on the kind of each piece and at the
//!   ends of runs, so text of characters of one to three bytes is cut from bitmasks.
//!   [`crate::simd::masks`] classifies each aligned block of 64 bytes once (letters,
//!   capitals, digits, whitespace, newlines, spaces, apostrophes, slashes, non-ASCII, the
//!   first bytes of two-byte characters; SSE2 or AVX2 on x86-64); the block's characters
//!   of two and three bytes (three only in texts of [`THREE_MIN_TEXT`] bytes or more), if
//!   any, are then classified by table, their classes set on all their bytes ([`Wide`]).
//!   A [`Window`] of two blocks gives the masks of the 64 bytes from any position. Three
//!   paths, in order:
//!   - [`block_pieces`] marks every piece start in the 64 bytes from `p` at once with
//!     shifts and ands on the masks (rules in its doc, one per branch of the pattern) and
//!     calls back for each piece with a trailing-zeros loop: no branch per kind of piece.
//!     It is exact because it runs only on characters of one to three bytes without
//!     an apostrophe a contraction may follow (every character in exactly one of
//!     letters, digits, whitespace, the rest; no contraction; for o200k, no mark and no
//!     character in both of its letter classes next to a cased letter), and keeps only
//!     the starts whose neighbourhood is known: those up to the start of the last run of
//!     one class before the first longer character, such apostrophe or the end of the
//!     masks (that run may go on). An apostrophe before any other character is
//!     punctuation (source code's quotes).
//!     Bytes past the end of the text count as non-ASCII, so the end of the text
//!     (`\s++$`, `(?!\S)`) is never decided here.
//!   - [`quick_end`] finds one piece's end from the masks, branch-free, when the piece
//!     starts with ASCII but `block_pieces` could not cut it (an apostrophe or non-ASCII
//!     character a little further on); [`block_end`] handles a few more cases with
//!     branches.
//!   - [`piece_end`], the per-character code, for everything else, with its letter runs
//!     checked eight ASCII bytes at a time. Pieces that start with a character the masks
//!     do not classify (four bytes) go straight here. Each pattern gets its own loop
//!     (generic over [`Rules`]).
//!
//!   Both mask paths take [`piece_end`]'s branches in its order and give up (to the next
//!   path) whenever a decision depends on a character that may be non-ASCII; the tests
//!   in `tests/split_blocks.rs` put every kind of piece across block edges and stop
//!   characters at every offset.
//! - SSE2 is part of x86-64, but calling a `#[target_feature]` function still needs
//!   `unsafe` (even with the feature enabled for the whole build), so `simd.rs` makes
//!   those calls in `unsafe` blocks, under `cfg(target_feature = "sse2")`; LLVM does not turn the portable
//!   byte loop into `pcmpeqb`/`pmovmskb` (it goes two bytes at a time); AVX2 is picked
//!   at run time where the CPU has it (see `simd.rs`).
//! - Tests: `pattern.rs` compares this splitter with fancy-regex on random text built
//!   from the characters where branches meet and on arbitrary characters;
//!   `tests/split_corpora.rs` on real corpora.
//!
//! [`GPT2_PATTERN`]: crate::pattern::GPT2_PATTERN
//! [`CL100K_PATTERN`]: crate::pattern::CL100K_PATTERN
//! [`O200K_PATTERN`]: crate::pattern::O200K_PATTERN
//! [`RUSTBPE_GPT4_PATTERN`]: crate::pattern::RUSTBPE_GPT4_PATTERN
//! [`NANOCHAT_PATTERN`]: crate::pattern::NANOCHAT_PATTERN

use once_cell::race::OnceBox;
use regex_syntax::hir::{Class, HirKind};

use crate::simd::{self, Masks};

/// Which named pattern to split with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    /// [`crate::pattern::GPT2_PATTERN`].
    Gpt2,
    /// [`crate::pattern::CL100K_PATTERN`].
    Cl100k,
    /// [`crate::pattern::O200K_PATTERN`].
    O200k,
    /// [`crate::pattern::RUSTBPE_GPT4_PATTERN`].
    Rustbpe,
    /// [`crate::pattern::NANOCHAT_PATTERN`].
    Nanochat,
    /// [`crate::pattern::QWEN2_PATTERN`] (and Llama 3's with [`Flavor::Rustbpe`]).
    Qwen2,
}

/// Calls `f` on the byte range of each piece of `text`, in order, as fancy-regex would
/// split it with the pattern of `flavor`.
pub(crate) fn for_each_range(flavor: Flavor, text: &str, f: impl FnMut(usize, usize)) {
    let t = tables();
    match flavor {
        Flavor::Gpt2 => split::<Gpt2>(t, text, f),
        Flavor::Cl100k => split::<Cl100k>(t, text, f),
        Flavor::O200k => split::<O200k>(t, text, f),
        Flavor::Rustbpe => split::<Rustbpe>(t, text, f),
        Flavor::Nanochat => split::<Nanochat>(t, text, f),
        Flavor::Qwen2 => split::<Qwen2>(t, text, f),
    }
}

/// Texts shorter than this do not have their three-byte characters classified: the
/// classes of a block cost more than the per-character code takes for a few pieces (a
/// single CJK character took 30 ns to split that way, 70 through the masks).
const THREE_MIN_TEXT: usize = 64;

// Not inlined: each pattern gets its own compact loop.
#[inline(never)]
fn split<R: Rules>(t: &Tables, text: &str, mut f: impl FnMut(usize, usize)) {
    let b = text.as_bytes();
    let three = b.len() >= THREE_MIN_TEXT;
    let mut w = Window::new(t, b, three);
    let mut p = 0;
    while p < b.len() {
        let mut end = if b[p] >= if three { 0xF0 } else { 0xE0 } {
            // A character the masks do not classify first (emoji, say): they stop there.
            char_end::<R>(t, b, p)
        } else {
            w.reach(t, b, p);
            let v = w.at(p);
            // The characters of two and three bytes cost a few more operations per rule:
            // only where there are some.
            let q = if v.get(|m| m.w.chars) == 0 {
                block_pieces::<R, false>(text, p, v, &mut f)
            } else {
                block_pieces::<R, true>(text, p, v, &mut f)
            };
            if q > p {
                p = q;
                continue;
            }
            if b[p] >= 0x80 || b.get(p + 1).is_some_and(|&x| x >= 0x80) {
                // Non-ASCII in the first two characters (a space before a word, say): the
                // single-piece mask paths would not decide it.
                char_end::<R>(t, b, p)
            } else {
                match quick_end::<R>(b, p, w.at(p)) {
                    Some(end) => end,
                    None => slow_end::<R>(t, b, p, w.at(p)),
                }
            }
        };
        if end <= p {
            // Cannot happen (see `classes_partition_the_characters`); should the tables ever
            // break that, take one character rather than loop forever.
            debug_assert!(false, "empty piece at {p}");
            end = p + text[p..].chars().next().map_or(1, char::len_utf8);
        }
        f(p, end);
        p = end;
    }
}

/// [`piece_end`] for pieces that start with a character the masks do not classify
/// (emoji, say), or that the mask paths left with non-ASCII in their first two bytes,
/// inlined into the loop.
#[inline(always)]
fn char_end<R: Rules>(t: &Tables, b: &[u8], p: usize) -> usize {
    piece_end::<R>(t, b, p)
}

/// [`block_end`], else [`piece_end`], out of line, for the pieces [`quick_end`] leaves: the
/// per-pattern loop stays small.
#[inline(never)]
fn slow_end<R: Rules>(t: &Tables, b: &[u8], p: usize, v: View<'_>) -> usize {
    match block_end::<R>(t, b, p, v) {
        Some(end) => end,
        None => piece_end::<R>(t, b, p),
    }
}

// ---- Blocks of 64 bytes ----

/// The masks of one aligned block of 64 bytes: its bytes' ASCII classes, and the classes
/// of its characters of two and three bytes.
#[derive(Clone, Copy, Default)]
struct Block {
    a: Masks,
    w: Wide,
}

/// The classes of the characters of two bytes (U+0080 to U+07FF: Latin, Greek, Cyrillic,
/// Hebrew, Arabic, ...) and three (U+0800 to U+FFFF: CJK, kana, Georgian, Indic scripts,
/// punctuation such as `“` and `—`, ...) of a block, each set on all the bytes of the
/// character, so that a class run is a run of bits whatever the characters' lengths.
/// Continuation bytes at the start of the block count with the character that starts
/// before it.
#[derive(Clone, Copy, Default)]
struct Wide {
    /// All bytes of each such character.
    chars: u64,
    /// Their bytes after the first.
    cont: u64,
    /// `\p{L}`.
    letter: u64,
    /// `\p{N}`.
    digit: u64,
    /// `\s`.
    white: u64,
    /// o200k's capitals: letters in `U` and not in `W` (see the module notes).
    upper: u64,
    /// o200k's ambiguous characters, in both `U` and `W` (`\p{Lm}`, `\p{Lo}`, `\p{M}`;
    /// those in one only are cased letters): its word rules from masks cover only runs of
    /// such letters alone (see [`block_pieces`]).
    odd: u64,
}

/// The class masks of two consecutive aligned blocks of 64 bytes of the text, `[base,
/// base + 64)` and the next, so that the 64 bytes from any position in the first are at
/// hand. Bytes past the end of the text count as non-ASCII (and in no classified
/// character): every scan stops there and leaves the piece to the per-character code,
/// which knows where the text ends.
struct Window {
    base: usize,
    /// The two blocks: `blocks[cur]` is the one at `base`. Sliding by one block flips
    /// `cur` and fills the other in place (no copy of a block's masks).
    blocks: [Block; 2],
    cur: usize,
    /// Whether three-byte characters are classified (see [`THREE_MIN_TEXT`]).
    three: bool,
}

impl Window {
    fn new(t: &Tables, b: &[u8], three: bool) -> Self {
        let mut w = Window { base: 0, blocks: [Block::default(); 2], cur: 0, three };
        fill_block(&mut w.blocks[0], t, b, 0, three);
        fill_block(&mut w.blocks[1], t, b, 64, three);
        w
    }

    /// Moves the window so that its first block holds `p`.
    #[inline(always)]
    fn reach(&mut self, t: &Tables, b: &[u8], p: usize) {
        if p >= self.base + 64 {
            self.slide(t, b, p);
        }
    }

    #[inline(never)]
    fn slide(&mut self, t: &Tables, b: &[u8], p: usize) {
        let base = p & !63;
        if base == self.base + 64 {
            self.cur ^= 1;
        } else {
            fill_block(&mut self.blocks[self.cur & 1], t, b, base, self.three);
        }
        fill_block(&mut self.blocks[(self.cur ^ 1) & 1], t, b, base + 64, self.three);
        self.base = base;
    }

    /// The masks of the 64 bytes from `p` (in the first block).
    #[inline(always)]
    fn at(&self, p: usize) -> View<'_> {
        let (cur, next) = (&self.blocks[self.cur & 1], &self.blocks[(self.cur ^ 1) & 1]);
        View { cur, next, off: (p - self.base) as u32 }
    }
}

/// The masks of the 64 bytes from a position in a [`Window`], each computed when asked for:
/// bit `i` is the byte `i` bytes on.
#[derive(Clone, Copy)]
struct View<'w> {
    cur: &'w Block,
    next: &'w Block,
    off: u32,
}

impl View<'_> {
    #[inline(always)]
    fn get(self, class: impl Fn(&Block) -> u64) -> u64 {
        simd::join(class(self.cur), class(self.next), self.off)
    }
}

/// Sets `out` to the masks of the 64 bytes of `b` from `at`, with `0x80` (non-ASCII) past
/// its end. (In place: a block's masks returned by value went through `memcpy`.)
#[inline(always)]
fn fill_block(out: &mut Block, t: &Tables, b: &[u8], at: usize, three: bool) {
    let in_text = match b.get(at..at + 64) {
        Some(block) => {
            out.a = simd::masks(block.try_into().unwrap_or_else(|_| unreachable!("64 bytes")));
            u64::MAX
        }
        None if at >= b.len() => {
            // Wholly past the end (the second block of a short text): known without a look.
            out.a = Masks { non_ascii: u64::MAX, ..Masks::default() };
            0
        }
        None => {
            out.a = simd::masks(&padded_block(b, at));
            (1 << (b.len() - at)) - 1
        }
    };
    // (Only non-ASCII bytes of the text need the wide masks, not the padding past its end:
    // a short text's blocks are filled on every call.)
    out.w =
        if out.a.non_ascii & in_text == 0 { Wide::default() } else { wide_masks(t, b, at, &out.a, three) };
}

/// The last bytes of `b`, from `at`, and `0x80` bytes up to 64.
#[inline(always)]
fn padded_block(b: &[u8], at: usize) -> [u8; 64] {
    let mut block = [0x80; 64];
    let tail = b.get(at..).unwrap_or_default();
    block[..tail.len()].copy_from_slice(tail);
    block
}

/// The [`Wide`] masks of the block of `b` at `at`, with ASCII masks `a`: the
/// class of each character of two bytes (and with `three`, of three) looked up into a
/// byte at its first byte's position, then all classes turned into masks at once and
/// spread to the other bytes.
#[inline(never)]
fn wide_masks(t: &Tables, b: &[u8], at: usize, a: &Masks, three: bool) -> Wide {
    let leads3 = |block: &[u8; 64]| simd::select(block, [(0xF0, 0xE0)])[0];
    let lead3 = match b.get(at..at + 64) {
        _ if !three => 0,
        Some(block) => leads3(block.try_into().unwrap_or_else(|_| unreachable!("64 bytes"))),
        None => leads3(&padded_block(b, at)),
    };
    // A character that starts before the block: its other bytes are the first `carry`.
    let (mut carry, mut carry_class) = (0, 0);
    if at > 0 && b.get(at).is_some_and(|&y| y & 0xC0 == 0x80) {
        let lead = (at.saturating_sub(3)..at).rev().find(|&k| b[k] & 0xC0 != 0x80).unwrap_or(at - 1);
        let (class, n) = t.class_at(b, lead);
        if n == 2 || (n == 3 && three) {
            (carry, carry_class) = (lead + n - at, class);
        }
    }
    if a.lead2 == 0 && lead3 == 0 && carry == 0 {
        return Wide::default(); // (blocks of emoji, say)
    }
    let mut classes = [0u8; 64];
    let mut leads = a.lead2;
    while leads != 0 {
        let i = leads.trailing_zeros() as usize;
        leads &= leads - 1;
        // UTF-8 is valid, so the other bytes are there (perhaps in the next block).
        classes[i] = t.two[usize::from(b[at + i] & 0x1F) << 6 | usize::from(b[at + i + 1] & 0x3F)];
    }
    let mut leads = lead3;
    while leads != 0 {
        let i = leads.trailing_zeros() as usize;
        leads &= leads - 1;
        let c = usize::from(b[at + i] & 0x0F) << 12
            | usize::from(b[at + i + 1] & 0x3F) << 6
            | usize::from(b[at + i + 2] & 0x3F);
        classes[i] = t.three[c];
    }
    let spread = |m: u64| m | m << 1 | (m & lead3) << 2;
    let [letter, digit, white, upper, odd] =
        simd::select(&classes, [(L, L), (N, N), (S, S), (L | U | W, L | U), (U | W, U | W)]).map(spread);
    let cont = a.lead2 << 1 | lead3 << 1 | lead3 << 2;
    let mut w = Wide { chars: a.lead2 | lead3 | cont, cont, letter, digit, white, upper, odd };
    if carry != 0 {
        let c = carry_class;
        let on = |yes: bool| if yes { (1u64 << carry) - 1 } else { 0 };
        let (u, v) = (c & U != 0, c & W != 0);
        w.chars |= on(true);
        w.cont |= on(true);
        w.letter |= on(c & L != 0);
        w.digit |= on(c & N != 0);
        w.white |= on(c & S != 0);
        w.upper |= on(c & L != 0 && u && !v);
        w.odd |= on(u && v);
    }
    w
}

/// The length of the run of set bits from bit 0 (64 if all are set).
#[inline(always)]
fn ones(mask: u64) -> usize {
    (!mask).trailing_zeros() as usize
}

/// Whether bit `i` (`< 64`) of `mask` is set.
#[inline(always)]
fn has(mask: u64, i: usize) -> bool {
    mask >> i & 1 != 0
}

/// Cuts the pieces that start in the 64 bytes from `p` (a piece start) from the masks alone,
/// calls `f` on each, and returns where the last one ends (`p` if it cut none).
///
/// Each rule below marks where pieces start, for all positions at once, in text of
/// characters of one to three bytes without contractions (left to the per-piece code): the
/// masks are valid up to the first unclassified character or apostrophe a contraction may
/// follow ([`contraction_starts`]), o200k's first character in both its letter classes next
/// to a cased letter (or first mark), or the end of the masks, `f`. A class
/// mask holds all the bytes of its characters and a start is a character's first byte;
/// with `WIDE` false the 64 bytes from `p` hold no classified character of two or three
/// bytes and the rules take one byte per character. A
/// piece start is known once the characters around it are; the last run of one class
/// before `f` (letters, digits, whitespace, the rest) may go on past `f`, so starts are
/// taken up to the start of that run, `g`, and no further. Why each rule holds follows
/// from [`piece_end`], with `P` for the letter prefix:
/// - A letter run ends a piece; it starts one unless a prefix takes it: a whitespace
///   character other than `\r\n` before it (the whitespace rules leave it alone for the
///   letters), or (not GPT-2) a lone punctuation character that starts a piece. GPT-2's only
///   prefix is a space, before letters, digits and punctuation alike.
/// - A digit run starts a piece (unless GPT-2's space takes it) and ends one, and pieces
///   start every `NUMBER_MAX` digits from its start.
/// - A punctuation run starts a piece unless a space is before it, and ends one unless it is
///   a lone prefix of letters or the `[\r\n]*` (`[\r\n/]*`) tail follows: the tail ends it.
/// - Whitespace (what the tails left of it) runs `[s, q)`: a piece starts at `s`, after the
///   run's last newline, at the run's last character if that is not a newline, and at `q`
///   unless that last character (not a newline) joins the piece at `q` as a prefix.
#[inline(always)]
fn block_pieces<R: Rules, const WIDE: bool>(
    text: &str,
    p: usize,
    v: View<'_>,
    f: &mut impl FnMut(usize, usize),
) -> usize {
    let mut stop = if WIDE { v.get(|m| m.a.non_ascii & !m.w.chars) } else { v.get(|m| m.a.non_ascii) };
    let apostrophes = v.get(|m| m.a.apostrophe);
    if apostrophes != 0 {
        stop |= contraction_starts(text.as_bytes(), p, apostrophes);
    }
    let wide_or = |ascii: u64, wide: fn(&Block) -> u64| if WIDE { ascii | v.get(wide) } else { ascii };
    let letter = wide_or(v.get(|m| m.a.letter), |m| m.w.letter);
    // A class mask has all the bytes of its characters, so at a character's first byte
    // `prev` tells the previous character's class. Masks of first bytes (`lone`, `last`)
    // move one character on with `after`; `next` is the next character's class at a
    // character's first byte.
    let cont = if WIDE { v.get(|m| m.w.cont) } else { 0 };
    // The first bytes of three-byte characters (a first byte before two continuation
    // bytes), and of two-byte ones (`cont >> 1` has those of both and the second bytes of
    // three-byte ones). A three-byte character at bit 62 counts as two bytes, its third
    // past the mask: either way the character after it starts past bit 63.
    let (lead3, lead2) = if WIDE {
        let lead3 = cont >> 1 & cont >> 2 & !cont;
        (lead3, cont >> 1 & !cont & !lead3)
    } else {
        (0, cont >> 1)
    };
    let one = !(lead2 | lead3);
    let prev = |m: u64| m << 1;
    let next = |m: u64| (m >> 1 & one) | (m >> 2 & lead2) | (m >> 3 & lead3);
    if WIDE && R::LETTERS == Letters::O200k {
        // o200k's characters in both its letter classes (`\p{Lm}`, `\p{Lo}`, marks): a run
        // of such letters alone is one piece, as any run of letters (`U*` takes it, gives
        // its last character back to `W+`, and the word ends with the run), which the rules
        // below cut; next to a cased letter the word rules depend on the order of the two
        // classes along the run, and a mark is no letter but in both word classes (and in
        // the prefix class): the per-character code decides those. A run that mixes them
        // has such a character next to a cased one, so that its whole run is left.
        let odd = v.get(|m| m.w.odd);
        let cased = letter & !odd;
        stop |= odd & (!letter | prev(cased) | next(cased));
    }
    let mut valid = stop.trailing_zeros();
    if valid < 2 {
        return p;
    }
    let digit = wide_or(v.get(|m| m.a.digit), |m| m.w.digit);
    let white = wide_or(v.get(|m| m.a.white), |m| m.w.white);
    let newline = v.get(|m| m.a.newline);
    let space = v.get(|m| m.a.space);
    let other = !(letter | digit | white | stop);
    let after = |m: u64| ((m & one) << 1) | ((m & lead2) << 2) | ((m & lead3) << 3);
    let starts = |m: u64| m & !prev(m);
    let ends = |m: u64| prev(m) & !m; // just after each run

    let mut at = 1 | ends(letter) | ends(digit);
    // Where `\p{N}{1,MAX}` pieces start (none for GPT-2's unbounded numbers).
    let mut digit_starts = 0;

    if R::LETTERS == Letters::Space {
        // ---- GPT-2 ----
        at |= (starts(letter) | starts(digit) | starts(other)) & !prev(space) | ends(other);
        let last = white & !cont & !next(white);
        let joins = after(last & space) & (letter | digit | other);
        at |= starts(white) | last | (after(last) & !joins);
    } else {
        // ---- The rest ----
        // Punctuation runs, their tails, and lone prefixes of letters.
        let tail_chars = if R::PUNCT_SLASH { newline | v.get(|m| m.a.slash) } else { newline };
        let tail_starts = newline & prev(other);
        let tail = tail_chars & !tail_chars.wrapping_add(tail_starts);
        if R::PUNCT_SLASH {
            // A `/` in a tail is not the start of a punctuation run: leave it to the per-piece
            // code.
            valid = valid.min((tail & !newline).trailing_zeros());
            if valid < 2 {
                return p;
            }
        }
        let punct_at = starts(other) & !prev(space);
        let lone = punct_at & !next(other) & next(letter);
        at |= punct_at | (ends(other) & !tail_starts & !after(lone)) | ends(tail);
        // Letters.
        at |= starts(letter) & !prev(white & !newline) & !after(lone);
        if R::LETTERS == Letters::O200k {
            // `U*W+` / `U+W*`: a capital after a lowercase letter starts a word.
            let upper = wide_or(v.get(|m| m.a.upper), |m| m.w.upper);
            at |= upper & prev(letter & !upper);
        }
        // Whitespace.
        let ws = white & !tail;
        let last = ws & !cont & !next(ws);
        // Where a run goes on past a newline with other whitespace, a piece starts after
        // the run's last newline: the part of each run after its last newline, filled back
        // from the run's end. (Bit reversal takes a few dozen instructions on x86-64, and
        // most blocks of prose have no such run.)
        let plain = ws & !newline;
        let past_newline = plain & prev(newline & ws);
        let after_last_newline = if past_newline == 0 {
            0
        } else {
            let rev = plain.reverse_bits();
            (rev & !rev.wrapping_add((last & !newline).reverse_bits())).reverse_bits() & past_newline
        };
        let joins = (after(last & !newline) & letter) | (after(last & space) & other);
        at |= starts(ws) | after_last_newline | (last & !newline) | (after(last) & !joins);
        // Digits: `\p{N}{1,MAX}`, counted in characters.
        let first = starts(digit);
        at |= first;
        let digits = digit & !cont;
        let ahead = |mut m: u64| {
            for _ in 0..R::NUMBER_MAX {
                m = after(m);
            }
            m
        };
        // The digits with `MAX` digits before them.
        let mut full = digits;
        for _ in 0..R::NUMBER_MAX {
            full = digits & after(full);
        }
        let mut chunks = if R::NUMBER_MAX == 1 { digits } else { first };
        while ahead(chunks) & full & !chunks != 0 {
            chunks |= ahead(chunks) & full;
        }
        at |= chunks;
        digit_starts = chunks;
    }

    // Starts are known up to `g`: the start of the run of one class that ends at `valid`.
    let class_end = valid - 1;
    // (The classes do not overlap: the one that holds `class_end`, picked without a branch.)
    let pick = |m: u64| m & 0u64.wrapping_sub(m >> class_end & 1);
    let class = pick(letter) | pick(digit) | pick(white) | pick(other);
    debug_assert!([letter, digit, white, other].iter().filter(|m| has(**m, class_end as usize)).count() <= 1);
    let before = !class & !(u64::MAX << class_end);
    let mut g = if before == 0 { 0 } else { 64 - before.leading_zeros() };
    if class == digit {
        // In that last run of digits, the pieces start every `MAX` digits from the run's
        // start whatever follows: starts are known up to the last of them (a text of digits
        // alone is then cut a block at a time, not a piece at a time).
        let upto = u64::MAX >> (63 - class_end);
        let inside = digit_starts & upto & (u64::MAX << g);
        if inside != 0 {
            g = 63 - inside.leading_zeros();
        }
    }
    // The text itself ends at `valid` (no stop before it), and its last run is not
    // whitespace (whose pieces depend on what follows): that run ends the text, so every
    // start up to it is known and the last piece ends with the text. (Without this, the
    // last piece of every text went to the per-character code.)
    let ends_text = p + valid as usize == text.len() && class != 0 && class != white;
    let mut bits = if ends_text {
        at & !1 & (u64::MAX >> (63 - class_end))
    } else if g == 0 {
        0
    } else {
        at & !1 & !(u64::MAX << g).wrapping_shl(1)
    };
    let mut start = p;
    while bits != 0 {
        let end = p + bits.trailing_zeros() as usize;
        f(start, end);
        start = end;
        bits &= bits - 1;
    }
    if ends_text {
        f(start, text.len());
        return text.len();
    }
    start
}

/// The apostrophes among `apostrophes` (a mask of the 64 bytes from `p`) that a
/// contraction may follow: those before a letter that starts one (`s d m t l v r`, either
/// case: GPT-2's are lowercase, the others' fold case), a non-ASCII byte (`ſ` folds to
/// `s`) or the end of the text. Any other apostrophe is punctuation to every branch of the
/// patterns, as the contraction branch fails there and no other branch names it, so
/// [`block_pieces`] cuts around it with the rules of punctuation.
#[inline(always)]
fn contraction_starts(b: &[u8], p: usize, mut apostrophes: u64) -> u64 {
    let mut starts = 0;
    while apostrophes != 0 {
        let i = apostrophes.trailing_zeros();
        let may = b
            .get(p + i as usize + 1)
            .is_none_or(|&x| x >= 0x80 || matches!(x | 0x20, b's' | b'd' | b'm' | b't' | b'l' | b'v' | b'r'));
        starts |= u64::from(may) << i;
        apostrophes &= apostrophes - 1;
    }
    starts
}

/// The end of the piece that starts at `p` in the common cases, without a branch on the
/// kind of piece; `None` for the rest. It computes the end each branch of the pattern would
/// give (letters with or without a prefix, numbers, punctuation, whitespace) from the masks
/// of the 64 bytes from `p`, as [`block_end`] does, and picks one by the first two bytes.
/// It gives up when the first byte is not ASCII, when the piece might be a contraction,
/// when the first two bytes leave the branch open (a prefix character followed by a
/// non-ASCII one, which may be a letter), and when the run that decides the end stops at a
/// non-ASCII byte (which might extend it) or at the end of the masks.
#[inline(always)]
fn quick_end<R: Rules>(b: &[u8], p: usize, v: View<'_>) -> Option<usize> {
    let na = v.get(|m| m.a.non_ascii);
    let letter = v.get(|m| m.a.letter);
    let digit = v.get(|m| m.a.digit);
    let white = v.get(|m| m.a.white);
    let newline = v.get(|m| m.a.newline);
    let other = !(letter | digit | white | na);
    let x = b[p];
    let space = x == b' ';
    let bit0 = |m: u64| m & 1 != 0;
    let bit1 = |m: u64| m & 2 != 0;
    let prefix = match R::LETTERS {
        Letters::Space => space,
        Letters::Prefix | Letters::O200k => !bit0(letter | digit | newline | na),
    };

    // The branch.
    let is_letter = bit0(letter) | (prefix & bit1(letter));
    let is_digit = bit0(digit) | (R::NUMBER_SPACE & space & bit1(digit));
    let is_punct = bit0(other) | (space & bit1(other));

    // Letters: `\p{L}+` from `s`, or o200k's `U*W+` / `U+W*` (see `o200k_word`).
    let s = u32::from(!bit0(letter));
    let (letter_end, stop) = match R::LETTERS {
        Letters::Space | Letters::Prefix => {
            let e = s + ones(letter >> s) as u32;
            (e, na)
        }
        Letters::O200k => {
            let upper = v.get(|m| m.a.upper);
            let u = s + ones(upper >> s) as u32;
            let e = u + ones((letter & !upper).wrapping_shr(u)) as u32;
            // A contraction may follow.
            (e, na | v.get(|m| m.a.apostrophe))
        }
    };
    // Numbers.
    let s = u32::from(!bit0(digit));
    let digit_run = s + ones(digit >> s) as u32;
    let digit_end = digit_run.min(u32::try_from(R::NUMBER_MAX).unwrap_or(u32::MAX));
    // Punctuation, then `[\r\n]*` (`[\r\n/]*`): ASCII, so a non-ASCII byte ends it.
    let s = u32::from(!bit0(other));
    let punct_run = s + ones(other >> s) as u32;
    let punct_end = if R::PUNCT_NEWLINES {
        let tail = if R::PUNCT_SLASH { newline | v.get(|m| m.a.slash) } else { newline };
        punct_run + ones(tail.wrapping_shr(punct_run)) as u32
    } else {
        punct_run
    };
    // Whitespace (see `space_end`), its run ending at an ASCII byte in the masks: then it is
    // not at the end of the text and all its characters are one byte long.
    let white_run = ones(white) as u32;
    let newlines = newline & !u64::MAX.wrapping_shl(white_run);
    let white_end = if R::SPACE_NEWLINE && newlines != 0 {
        64 - newlines.leading_zeros()
    } else {
        white_run.saturating_sub(1).max(1)
    };

    // `end`, and `run`: where the run that decides it stopped.
    let (end, run) = if is_letter {
        (letter_end, letter_end)
    } else if is_digit {
        (digit_end, digit_run)
    } else if is_punct {
        (punct_end, punct_run)
    } else {
        (white_end, white_run)
    };
    let unsure = bit0(na)
        | (R::CONTRACTION.is_some() & (x == b'\''))
        | (prefix & bit1(na))
        | (run >= 63)
        | (end >= 64)
        | (stop.wrapping_shr(run) & 1 != 0);
    if unsure {
        None
    } else {
        Some(p + end as usize)
    }
}

/// The end of the piece that starts at `p`, found from the masks `v` of the 64 bytes from
/// `p` alone when the piece starts with ASCII and [`piece_end`]'s branch decisions depend
/// only on ASCII bytes; `None` otherwise (the caller then runs [`piece_end`]). It takes
/// the branches in [`piece_end`]'s order and, wherever that looks at a character that may
/// be non-ASCII (or past the 64 bytes), gives up or hands the rest of a run to the same
/// scan [`piece_end`] would use.
#[inline(always)]
fn block_end<R: Rules>(t: &Tables, b: &[u8], p: usize, v: View<'_>) -> Option<usize> {
    let na = v.get(|m| m.a.non_ascii);
    if has(na, 0) {
        return None;
    }
    let letter = v.get(|m| m.a.letter);

    // A letter first.
    if has(letter, 0) {
        return match R::LETTERS {
            Letters::Space | Letters::Prefix => Some(letters(t, b, p, 0, letter, na)),
            Letters::O200k => o200k_word(t, b, p, 0, letter, v.get(|m| m.a.upper), na),
        };
    }

    // Contractions: left to `piece_end`.
    if R::CONTRACTION.is_some() && b[p] == b'\'' {
        return None;
    }

    // Letters after a prefix: ` ` (GPT-2), `[^\r\n\p{L}\p{N}]` (the rest; in ASCII, neither
    // a letter, digit nor newline). A non-ASCII second character might be a letter.
    let space = b[p] == b' ';
    let prefix = match R::LETTERS {
        Letters::Space => space,
        Letters::Prefix | Letters::O200k => !matches!(b[p], b'0'..=b'9' | b'\r' | b'\n'),
    };
    if prefix {
        if has(na, 1) {
            return None;
        }
        if has(letter, 1) {
            return match R::LETTERS {
                Letters::Space | Letters::Prefix => Some(letters(t, b, p, 1, letter, na)),
                Letters::O200k => o200k_word(t, b, p, 1, letter, v.get(|m| m.a.upper), na),
            };
        }
    }

    // Numbers.
    let digit = v.get(|m| m.a.digit);
    if has(digit, 0) {
        return number::<R>(t, b, p, 0, digit, na);
    }
    if R::NUMBER_SPACE && space {
        if has(na, 1) {
            return None;
        }
        if has(digit, 1) {
            return number::<R>(t, b, p, 1, digit, na);
        }
    }

    // Punctuation and the like (the ASCII of `[^\s\p{L}\p{N}]`), then `[\r\n]*`
    // (`[\r\n/]*`).
    let white = v.get(|m| m.a.white);
    let other = !(letter | digit | white | na);
    let s = if has(other, 0) {
        0
    } else if space && has(other, 1) {
        1
    } else {
        usize::MAX
    };
    if s != usize::MAX {
        let n = s + ones(other >> s);
        if n >= 64 || has(na, n) {
            return None;
        }
        if !R::PUNCT_NEWLINES {
            return Some(p + n);
        }
        let newline = v.get(|m| m.a.newline);
        let tail = if R::PUNCT_SLASH { newline | v.get(|m| m.a.slash) } else { newline };
        // The tail's characters are ASCII: a non-ASCII byte ends it.
        let end = n + ones(tail >> n);
        return if end < 64 { Some(p + end) } else { None };
    }

    // Whitespace (see `space_end`). The run must end at an ASCII byte in the masks: then it
    // is not at the end of the text, and all its characters are one byte long.
    let n = ones(white);
    if n >= 64 || has(na, n) {
        return None;
    }
    if R::SPACE_NEWLINE {
        let newlines = v.get(|m| m.a.newline) & ((1 << n) - 1);
        if newlines != 0 {
            return Some(p + 64 - newlines.leading_zeros() as usize);
        }
    }
    Some(p + if n >= 2 { n - 1 } else { 1 })
}

/// `\p{L}+` from `p + s` (a letter), with `letter` and `na` the masks from `p`: the ASCII
/// letters, then [`Tables::run_ascii`] if the run goes on into non-ASCII or past the
/// masks (the same run; only its end is unknown).
#[inline(always)]
fn letters(t: &Tables, b: &[u8], p: usize, s: usize, letter: u64, na: u64) -> usize {
    let n = s + ones(letter >> s);
    if n < 64 && !has(na, n) {
        p + n
    } else {
        t.run_ascii(b, p + n, L, Ascii::Letter)
    }
}

/// o200k's words from `p + s` (an ASCII letter): see [`Tables::o200k_word`]. With ASCII
/// letters, U is `[A-Z]` and W is `[a-z]`: `U*W+` takes the capitals and then the lowercase
/// run if there is one; otherwise `U+W*` takes the capitals alone. `None` if the capitals
/// end at a non-ASCII character (which may be in U or W).
#[inline(always)]
fn o200k_word(t: &Tables, b: &[u8], p: usize, s: usize, letter: u64, upper: u64, na: u64) -> Option<usize> {
    let u = s + ones(upper >> s);
    if u >= 64 || has(na, u) {
        return None;
    }
    let lower = letter & !upper;
    let end = if has(lower, u) {
        let w = u + ones(lower >> u);
        if w < 64 && !has(na, w) {
            p + w
        } else {
            t.run_ascii(b, p + w, W, Ascii::Lower)
        }
    } else {
        p + u
    };
    // `(?i:'s|'t|'re|'ve|'m|'ll|'d)?`
    if b.get(end) == Some(&b'\'') {
        if let Some(e) = t.contraction(b, end + 1, true) {
            return Some(e);
        }
    }
    Some(end)
}

/// The number branch from `p + s` (a digit).
#[inline(always)]
fn number<R: Rules>(t: &Tables, b: &[u8], p: usize, s: usize, digit: u64, na: u64) -> Option<usize> {
    let n = s + ones(digit >> s);
    if R::NUMBER_MAX != usize::MAX {
        // At most three digits: all in the masks.
        if n >= R::NUMBER_MAX {
            Some(p + R::NUMBER_MAX)
        } else if has(na, n) {
            None
        } else {
            Some(p + n)
        }
    } else if n < 64 && !has(na, n) {
        Some(p + n)
    } else {
        Some(t.run(b, p + n, N))
    }
}

// ---- Class bits ----

/// `\p{L}`.
const L: u8 = 1;
/// `\p{N}`.
const N: u8 = 2;
/// `\s` (Unicode White_Space).
const S: u8 = 4;
/// `[^\s\p{L}\p{N}]`: punctuation, symbols, marks, controls, ...
const O: u8 = 8;
/// o200k's "upper" letters: `[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]`.
const U: u8 = 16;
/// o200k's "lower" letters: `[\p{Ll}\p{Lm}\p{Lo}\p{M}]`.
const W: u8 = 32;
/// `[\r\n]`.
const NL: u8 = 64;
/// The letter prefix `[^\r\n\p{L}\p{N}]`.
const PRE: u8 = 128;

// Case-fold bits of the contraction letters.
const FOLD_S: u8 = 1;
const FOLD_D: u8 = 2;
const FOLD_M: u8 = 4;
const FOLD_T: u8 = 8;
const FOLD_L: u8 = 16;
const FOLD_V: u8 = 32;
const FOLD_E: u8 = 64;
const FOLD_R: u8 = 128;
const FOLD_LETTERS: [(char, u8); 8] = [
    ('s', FOLD_S),
    ('d', FOLD_D),
    ('m', FOLD_M),
    ('t', FOLD_T),
    ('l', FOLD_L),
    ('v', FOLD_V),
    ('e', FOLD_E),
    ('r', FOLD_R),
];

// ---- The patterns as rules ----

/// How a pattern's letter branch(es) look.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Letters {
    /// ` ?\p{L}+` (GPT-2).
    Space,
    /// `[^\r\n\p{L}\p{N}]?+\p{L}+` (cl100k, rustbpe, nanochat).
    Prefix,
    /// o200k's two case-aware word branches with their optional contraction suffix.
    O200k,
}

/// A named pattern, branch by branch (in the pattern's order: contraction, letters,
/// numbers, punctuation, whitespace).
trait Rules {
    /// The leading contraction branch: absent, case-sensitive (`false`) or not (`true`).
    const CONTRACTION: Option<bool>;
    /// The letter branch(es).
    const LETTERS: Letters;
    /// Whether the number branch takes an optional leading space (` ?\p{N}+`).
    const NUMBER_SPACE: bool;
    /// At most this many number characters in one piece.
    const NUMBER_MAX: usize;
    /// After the punctuation run (` ?[^\s\p{L}\p{N}]+`): `[\r\n]*` (and `/` for `[\r\n/]*`).
    const PUNCT_NEWLINES: bool;
    const PUNCT_SLASH: bool;
    /// `\s++$` comes before the newline branch.
    const SPACE_TO_END: bool;
    /// There is a `\s*[\r\n]` (o200k: `\s*[\r\n]+`) branch.
    const SPACE_NEWLINE: bool;
}

/// `'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s`
struct Gpt2;
impl Rules for Gpt2 {
    const CONTRACTION: Option<bool> = Some(false);
    const LETTERS: Letters = Letters::Space;
    const NUMBER_SPACE: bool = true;
    const NUMBER_MAX: usize = usize::MAX;
    const PUNCT_NEWLINES: bool = false;
    const PUNCT_SLASH: bool = false;
    const SPACE_TO_END: bool = true;
    const SPACE_NEWLINE: bool = false;
}

/// `'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s`
struct Cl100k;
impl Rules for Cl100k {
    const CONTRACTION: Option<bool> = Some(true);
    const LETTERS: Letters = Letters::Prefix;
    const NUMBER_SPACE: bool = false;
    const NUMBER_MAX: usize = 3;
    const PUNCT_NEWLINES: bool = true;
    const PUNCT_SLASH: bool = false;
    const SPACE_TO_END: bool = true;
    const SPACE_NEWLINE: bool = true;
}

/// `'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+`
struct Rustbpe;
impl Rules for Rustbpe {
    const CONTRACTION: Option<bool> = Some(true);
    const LETTERS: Letters = Letters::Prefix;
    const NUMBER_SPACE: bool = false;
    const NUMBER_MAX: usize = 3;
    const PUNCT_NEWLINES: bool = true;
    const PUNCT_SLASH: bool = false;
    const SPACE_TO_END: bool = false;
    const SPACE_NEWLINE: bool = true;
}

/// As [`Rustbpe`] with `\p{N}{1,2}`.
struct Nanochat;
impl Rules for Nanochat {
    const CONTRACTION: Option<bool> = Some(true);
    const LETTERS: Letters = Letters::Prefix;
    const NUMBER_SPACE: bool = false;
    const NUMBER_MAX: usize = 2;
    const PUNCT_NEWLINES: bool = true;
    const PUNCT_SLASH: bool = false;
    const SPACE_TO_END: bool = false;
    const SPACE_NEWLINE: bool = true;
}

/// As [`Rustbpe`] with single numbers, `\p{N}` (Qwen 2's pattern, which is Llama 3's
/// with that change; Llama 3's is [`Rustbpe`]'s, see `pattern::FAST`).
struct Qwen2;
impl Rules for Qwen2 {
    const CONTRACTION: Option<bool> = Some(true);
    const LETTERS: Letters = Letters::Prefix;
    const NUMBER_SPACE: bool = false;
    const NUMBER_MAX: usize = 1;
    const PUNCT_NEWLINES: bool = true;
    const PUNCT_SLASH: bool = false;
    const SPACE_TO_END: bool = false;
    const SPACE_NEWLINE: bool = true;
}

/// `P?U*W+C?|P?U+W*C?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`
/// (see the module notes for `P`, `U`, `W`, `C`).
struct O200k;
impl Rules for O200k {
    const CONTRACTION: Option<bool> = None;
    const LETTERS: Letters = Letters::O200k;
    const NUMBER_SPACE: bool = false;
    const NUMBER_MAX: usize = 3;
    const PUNCT_NEWLINES: bool = true;
    const PUNCT_SLASH: bool = true;
    const SPACE_TO_END: bool = false;
    const SPACE_NEWLINE: bool = true;
}

/// The end of the piece that starts at `p < b.len()`.
#[inline(always)]
fn piece_end<R: Rules>(t: &Tables, b: &[u8], p: usize) -> usize {
    let (c, n) = t.class_at(b, p);
    let q = p + n; // after the first character

    // A letter first: the letter branch, without its prefix (the commonest case, so first;
    // a letter starts no earlier branch).
    if c & L != 0 {
        match R::LETTERS {
            Letters::Space | Letters::Prefix => return t.run_ascii(b, q, L, Ascii::Letter),
            Letters::O200k => {
                if let Some(end) = t.o200k_word(b, p, c, q) {
                    return end;
                }
            }
        }
    }

    // Contractions.
    if let Some(case_insensitive) = R::CONTRACTION {
        if b[p] == b'\'' {
            if let Some(end) = t.contraction(b, q, case_insensitive) {
                return end;
            }
        }
    }

    let space = b[p] == b' ';
    let (next, m) = t.class_at_or_end(b, q);
    let r = q + m; // after the second character

    // Letters after a prefix (and o200k's words that start with a mark).
    match R::LETTERS {
        Letters::Space => {
            if space && next & L != 0 {
                return t.run_ascii(b, r, L, Ascii::Letter);
            }
        }
        Letters::Prefix => {
            if c & PRE != 0 && next & L != 0 {
                return t.run_ascii(b, r, L, Ascii::Letter);
            }
        }
        Letters::O200k => {
            // Both word branches need a U or W character first, after an optional prefix.
            if c & L == 0 && (c & (U | W) != 0 || (c & PRE != 0 && next & (U | W) != 0)) {
                if let Some(end) = t.o200k_word(b, p, c, q) {
                    return end;
                }
            }
        }
    }

    // Numbers.
    if c & N != 0 {
        return t.run_max(b, q, N, R::NUMBER_MAX - 1);
    }
    if R::NUMBER_SPACE && space && next & N != 0 {
        return t.run_max(b, r, N, R::NUMBER_MAX - 1);
    }

    // Punctuation and the like.
    let punct_end = if c & O != 0 {
        Some(t.run(b, q, O))
    } else if space && next & O != 0 {
        Some(t.run(b, r, O))
    } else {
        None
    };
    if let Some(mut end) = punct_end {
        if R::PUNCT_NEWLINES {
            while end < b.len() && (matches!(b[end], b'\r' | b'\n') || (R::PUNCT_SLASH && b[end] == b'/')) {
                end += 1;
            }
        }
        return end;
    }

    // Whitespace: `c` is in `\s`, the only class left.
    space_end::<R>(t, b, p)
}

/// The end of the piece that starts with the whitespace at `p` once no earlier branch matched.
#[inline(always)]
fn space_end<R: Rules>(t: &Tables, b: &[u8], p: usize) -> usize {
    let mut i = p;
    let mut last = p; // start of the run's last character
    let mut newline_end = None; // just after the run's last `\r` or `\n`
    while i < b.len() {
        let (c, n) = t.class_at(b, i);
        if c & S == 0 {
            break;
        }
        if c & NL != 0 {
            newline_end = Some(i + n);
        }
        last = i;
        i += n;
    }
    // `\s++$`
    if R::SPACE_TO_END && i == b.len() {
        return i;
    }
    // `\s*[\r\n]` / `\s*[\r\n]+`
    if R::SPACE_NEWLINE {
        if let Some(end) = newline_end {
            return end;
        }
    }
    // `\s+(?!\S)`: the whole run at the end, else all but its last character.
    if i == b.len() {
        return i;
    }
    if last > p {
        return last;
    }
    // `\s` / `\s+`: a single character.
    i
}

// ---- Tables ----

/// The class tables (see the module notes).
struct Tables {
    /// Classes of the ASCII characters.
    ascii: [u8; 128],
    /// Classes of the code points below U+0800 (one or two UTF-8 bytes): one load for
    /// Latin, Greek, Cyrillic, Hebrew, Arabic, ... instead of two.
    two: [u8; 0x800],
    /// For each block of 256 code points, its row in `rows`.
    index: Vec<u16>,
    /// The distinct rows of classes.
    rows: Vec<[u8; 256]>,
    /// Case-fold bits ([`FOLD_S`] ..) of the ASCII characters.
    fold_ascii: [u8; 128],
    /// Case-fold bits of the other characters that fold to a contraction letter.
    fold_other: Vec<(char, u8)>,
    /// Classes of the code points below U+10000 (up to three UTF-8 bytes), for the
    /// masks' three-byte characters ([`wide_masks`]): one load (64 KiB).
    three: Box<[u8]>,
}

/// The tables, built on first use.
pub(crate) fn tables_ready() {
    tables();
}

/// Published without a lock: threads that find them unbuilt may each build them (the
/// first to finish is kept), and none waits, so a process forked while another thread
/// was building them never blocks on a thread it does not have.
fn tables() -> &'static Tables {
    static TABLES: OnceBox<Tables> = OnceBox::new();
    TABLES.get_or_init(|| Box::new(Tables::build()))
}

/// The code point ranges of a regex-syntax class expression such as `\p{L}` or `(?i)s`.
fn class_ranges(expr: &str) -> Vec<(u32, u32)> {
    let hir = regex_syntax::Parser::new()
        .parse(expr)
        .unwrap_or_else(|e| unreachable!("{expr} is a valid class: {e}"));
    match hir.kind() {
        HirKind::Class(Class::Unicode(cls)) => {
            cls.ranges().iter().map(|r| (u32::from(r.start()), u32::from(r.end()))).collect()
        }
        HirKind::Literal(lit) => std::str::from_utf8(&lit.0)
            .unwrap_or_else(|_| unreachable!("literal of {expr} is UTF-8"))
            .chars()
            .map(|c| (u32::from(c), u32::from(c)))
            .collect(),
        other => unreachable!("{expr} is not a class: {other:?}"),
    }
}

impl Tables {
    fn build() -> Tables {
        const BLOCKS: usize = 0x110000 >> 8;
        let mut class = vec![0u8; 0x110000];
        let mut set = |expr: &str, bit: u8| {
            for (lo, hi) in class_ranges(expr) {
                for c in &mut class[lo as usize..=hi as usize] {
                    *c |= bit;
                }
            }
        };
        set(r"\p{L}", L);
        set(r"\p{N}", N);
        set(r"\s", S);
        set(r"[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]", U);
        set(r"[\p{Ll}\p{Lm}\p{Lo}\p{M}]", W);
        set(r"[\r\n]", NL);
        set(r"[^\s\p{L}\p{N}]", O);
        set(r"[^\r\n\p{L}\p{N}]", PRE);

        let mut ascii = [0u8; 128];
        ascii.copy_from_slice(&class[..128]);
        let mut index = Vec::with_capacity(BLOCKS);
        let mut rows: Vec<[u8; 256]> = Vec::new();
        for block in class.chunks_exact(256) {
            let row: [u8; 256] = block.try_into().unwrap_or_else(|_| unreachable!("256 classes"));
            let at = rows.iter().position(|r| *r == row).unwrap_or_else(|| {
                rows.push(row);
                rows.len() - 1
            });
            index.push(u16::try_from(at).unwrap_or_else(|_| unreachable!("fewer than 65536 rows")));
        }

        let mut fold_ascii = [0u8; 128];
        let mut fold_other = Vec::new();
        for (letter, bit) in FOLD_LETTERS {
            for (lo, hi) in class_ranges(&format!("(?i){letter}")) {
                for c in (lo..=hi).filter_map(char::from_u32) {
                    if c.is_ascii() {
                        fold_ascii[c as usize] |= bit;
                    } else {
                        fold_other.push((c, bit));
                    }
                }
            }
        }
        let mut two = [0u8; 0x800];
        two.copy_from_slice(&class[..0x800]);
        let three = class[..0x10000].to_vec().into_boxed_slice();
        Tables { ascii, two, index, rows, fold_ascii, fold_other, three }
    }

    /// The class of the character at byte `i` (a character boundary) and its length.
    #[inline(always)]
    fn class_at(&self, b: &[u8], i: usize) -> (u8, usize) {
        let x = b[i];
        if x < 0x80 {
            (self.ascii[usize::from(x)], 1)
        } else if x < 0xE0 {
            let c = usize::from(x & 0x1F) << 6 | usize::from(b[i + 1] & 0x3F);
            (self.two[c], 2)
        } else {
            let (c, n) = decode(b, i);
            (self.rows[usize::from(self.index[(c >> 8) as usize])][(c & 0xFF) as usize], n)
        }
    }

    /// As [`Tables::class_at`], with class 0 (no class) at the end of the text.
    #[inline(always)]
    fn class_at_or_end(&self, b: &[u8], i: usize) -> (u8, usize) {
        if i < b.len() {
            self.class_at(b, i)
        } else {
            (0, 0)
        }
    }

    /// The end of the run of characters in class `bit` from `i`.
    #[inline(always)]
    fn run(&self, b: &[u8], mut i: usize, bit: u8) -> usize {
        while i < b.len() {
            let (c, n) = self.class_at(b, i);
            if c & bit == 0 {
                break;
            }
            i += n;
        }
        i
    }

    /// As [`Tables::run`] for a class whose ASCII members are those of `kind`: ASCII is
    /// scanned eight bytes at a time (no per-byte branch to mispredict at the end of a
    /// short word), the rest character by character.
    #[inline(always)]
    fn run_ascii(&self, b: &[u8], mut i: usize, bit: u8, kind: Ascii) -> usize {
        while let Some(chunk) = b.get(i..i + 8) {
            let k = ascii_prefix(chunk, kind);
            i += k;
            if k < 8 {
                if b[i] < 0x80 {
                    return i; // an ASCII byte not in `kind`: not in the class either
                }
                break;
            }
        }
        self.run(b, i, bit)
    }

    /// As [`Tables::run`], but at most `max` characters.
    #[inline(always)]
    fn run_max(&self, b: &[u8], mut i: usize, bit: u8, max: usize) -> usize {
        let mut left = max;
        while left > 0 && i < b.len() {
            let (c, n) = self.class_at(b, i);
            if c & bit == 0 {
                break;
            }
            i += n;
            left -= 1;
        }
        i
    }

    /// The case-fold bits of the character at `i` (none at the end) and its end.
    #[inline]
    fn fold_at(&self, b: &[u8], i: usize, case_insensitive: bool) -> (u8, usize) {
        let Some(&x) = b.get(i) else { return (0, i) };
        if x < 0x80 {
            let bits = self.fold_ascii[usize::from(x)];
            // Case-sensitive: only the lowercase letter itself.
            let bits = if case_insensitive || x.is_ascii_lowercase() { bits } else { 0 };
            return (bits, i + 1);
        }
        let (c, n) = decode(b, i);
        let bits = if case_insensitive {
            self.fold_other.iter().filter(|(f, _)| u32::from(*f) == c).fold(0, |acc, (_, bit)| acc | bit)
        } else {
            0
        };
        (bits, i + n)
    }

    /// After an apostrophe (`i` is just after it): the end of `(?:[sdmt]|ll|ve|re)`
    /// (case-insensitively, or not), if it matches.
    #[inline]
    fn contraction(&self, b: &[u8], i: usize, case_insensitive: bool) -> Option<usize> {
        let (first, j) = self.fold_at(b, i, case_insensitive);
        if first & (FOLD_S | FOLD_D | FOLD_M | FOLD_T) != 0 {
            return Some(j);
        }
        if first & (FOLD_L | FOLD_V | FOLD_R) == 0 {
            return None;
        }
        let (second, k) = self.fold_at(b, j, case_insensitive);
        let second_ok = if first & FOLD_L != 0 { second & FOLD_L != 0 } else { second & FOLD_E != 0 };
        second_ok.then_some(k)
    }

    /// o200k's word branches at `p` (first character of class `c`, ending at `q`):
    /// `P?U*W+C?` then `P?U+W*C?`, each with the prefix first (see the module notes).
    #[inline(always)]
    fn o200k_word(&self, b: &[u8], p: usize, c: u8, q: usize) -> Option<usize> {
        let end = if c & PRE != 0 {
            // In order: U*W+ after the prefix, U*W+ from `p`, U+W* after it, U+W* from `p`.
            match self.upper_lower(b, q) {
                Ok(end) => end,
                Err(after_prefix) => match self.upper_lower(b, p) {
                    Ok(end) => end,
                    Err(_) if after_prefix > q => after_prefix,
                    Err(e) if e > p => e,
                    Err(_) => return None,
                },
            }
        } else {
            match self.upper_lower(b, p) {
                Ok(end) => end,
                Err(e) if e > p => e,
                Err(_) => return None,
            }
        };
        // `(?i:'s|'t|'re|'ve|'m|'ll|'d)?`
        if b.get(end) == Some(&b'\'') {
            if let Some(e) = self.contraction(b, end + 1, true) {
                return Some(e);
            }
        }
        Some(end)
    }

    /// `U*W+` from `s` (greedy, backtracking): `Ok(end)` if it matches. If not, `Err(e)`
    /// with `e` the end of the U-run from `s`, which is where `U+W*` ends if `e > s`: the
    /// W-run after the U-run is empty, or `U*W+` would have matched.
    #[inline(always)]
    fn upper_lower(&self, b: &[u8], s: usize) -> Result<usize, usize> {
        // ASCII capitals are in U, not in W: skip them first.
        let mut i = s;
        while b.get(i).is_some_and(u8::is_ascii_uppercase) {
            i += 1;
        }
        let mut last_w_end = None; // end of the last W character of the U-run
        loop {
            let (c, n) = self.class_at_or_end(b, i);
            if c & U == 0 {
                return if c & W != 0 {
                    Ok(self.run_ascii(b, i, W, Ascii::Lower))
                } else {
                    last_w_end.ok_or(i)
                };
            }
            i += n;
            if c & W != 0 {
                last_w_end = Some(i);
            }
        }
    }
}

/// ASCII letters, as a class scanned eight bytes at a time; [`Tables::run_ascii`] relies on
/// these being exactly the ASCII members of [`L`] and [`W`] (tested).
#[derive(Clone, Copy)]
pub(crate) enum Ascii {
    /// `[A-Za-z]`: the ASCII of `\p{L}`.
    Letter,
    /// `[a-z]`: the ASCII of `W`.
    Lower,
}

/// The end of the run of ASCII letters of `kind` in `b` from `i` (`i` itself if there
/// is none).
#[inline]
pub(crate) fn ascii_run_end(b: &[u8], mut i: usize, kind: Ascii) -> usize {
    while let Some(chunk) = b.get(i..i + 8) {
        let k = ascii_prefix(chunk, kind);
        i += k;
        if k < 8 {
            return i;
        }
    }
    let member = |x: &u8| match kind {
        Ascii::Letter => x.is_ascii_alphabetic(),
        Ascii::Lower => x.is_ascii_lowercase(),
    };
    while b.get(i).is_some_and(member) {
        i += 1;
    }
    i
}

/// How many leading bytes of `chunk` (eight bytes) are ASCII letters of `kind`.
#[inline(always)]
fn ascii_prefix(chunk: &[u8], kind: Ascii) -> usize {
    const fn splat(v: u8) -> u64 {
        u64::from_ne_bytes([v; 8])
    }
    const HIGH: u64 = splat(0x80);
    let x = u64::from_le_bytes(chunk.try_into().unwrap_or_else(|_| unreachable!("eight bytes")));
    // Each byte without its high bit (so the sums below never carry into the next byte),
    // folded to lowercase for `Letter`.
    let y = match kind {
        Ascii::Letter => (x & !HIGH) | splat(0x20),
        Ascii::Lower => x & !HIGH,
    };
    // High bit of each byte: `y >= 'a'`, `y > 'z'`, and the byte was ASCII.
    let at_least_a = y.wrapping_add(splat(0x80 - b'a'));
    let above_z = y.wrapping_add(splat(0x7F - b'z'));
    let yes = at_least_a & !above_z & !x & HIGH;
    ((!yes & HIGH).trailing_zeros() / 8) as usize
}

/// The code point of the non-ASCII character at byte `i` of valid UTF-8, and its length.
#[inline(always)]
fn decode(b: &[u8], i: usize) -> (u32, usize) {
    let b0 = u32::from(b[i]);
    let cont = |k: usize| u32::from(b[i + k]) & 0x3F;
    if b0 < 0xE0 {
        (((b0 & 0x1F) << 6) | cont(1), 2)
    } else if b0 < 0xF0 {
        (((b0 & 0x0F) << 12) | (cont(1) << 6) | cont(2), 3)
    } else {
        (((b0 & 0x07) << 18) | (cont(1) << 12) | (cont(2) << 6) | cont(3), 4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class_of(c: char) -> u8 {
        let mut buf = [0; 4];
        tables().class_at(c.encode_utf8(&mut buf).as_bytes(), 0).0
    }

    #[test]
    fn classes_follow_the_unicode_tables() {
        for c in ['a', 'Z', 'é', 'ǅ', 'ʰ', '中'] {
            assert_ne!(class_of(c) & L, 0, "{c:?}");
        }
        for c in ['7', '٣', '①', 'Ⅻ'] {
            assert_eq!(class_of(c) & (N | L | S | O), N, "{c:?}");
        }
        let white_space =
            "\t\n\x0b\x0c\r \u{85}\u{a0}\u{1680}\u{2000}\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}";
        for c in white_space.chars() {
            assert_ne!(class_of(c) & S, 0, "{c:?}");
        }
        for c in ['\u{200b}', '\u{180e}', '\u{feff}', '\x1c'] {
            assert_eq!(class_of(c) & S, 0, "{c:?}");
        }
        // Marks are in both o200k letter classes, and not letters.
        assert_eq!(class_of('\u{301}'), O | U | W | PRE);
        assert_eq!(class_of('\u{903}'), O | U | W | PRE);
        assert_eq!(class_of('ǅ'), L | U); // Lt
        assert_eq!(class_of('ʰ'), L | U | W); // Lm
        assert_eq!(class_of('a'), L | W);
        assert_eq!(class_of('A'), L | U);
        assert_eq!(class_of('\n'), S | NL);
        assert_eq!(class_of(' '), S | PRE);
        assert_eq!(class_of('!'), O | PRE);
    }

    /// What `piece_end` relies on to always make progress: every character is in exactly
    /// one of `\p{L}`, `\p{N}`, `\s` and the rest, and every letter starts an o200k word.
    #[test]
    fn classes_partition_the_characters() {
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            let class = class_of(c);
            assert_eq!((class & (L | N | S | O)).count_ones(), 1, "{c:?}");
            if class & L != 0 {
                assert_ne!(class & (U | W), 0, "{c:?}");
            }
            assert_eq!(class & NL != 0, matches!(c, '\r' | '\n'), "{c:?}");
            assert_eq!(class & PRE != 0, class & (L | N | NL) == 0, "{c:?}");
        }
    }

    #[test]
    fn contraction_letters_fold_like_regex_syntax() {
        let t = tables();
        assert_eq!(t.fold_ascii[usize::from(b'S')], FOLD_S);
        assert_eq!(t.fold_ascii[usize::from(b's')], FOLD_S);
        assert!(t.fold_other.contains(&('ſ', FOLD_S)));
        assert_eq!(t.fold_other.len(), 1, "{:?}", t.fold_other);
        let text = "'ſ";
        assert_eq!(t.contraction(text.as_bytes(), 1, true), Some(text.len()));
        assert_eq!(t.contraction(text.as_bytes(), 1, false), None);
        assert_eq!(t.contraction(b"'Ll", 1, true), Some(3));
        assert_eq!(t.contraction(b"'Ll", 1, false), None);
        assert_eq!(t.contraction(b"'vE", 1, true), Some(3));
        assert_eq!(t.contraction(b"'le", 1, true), None);
        assert_eq!(t.contraction(b"'", 1, true), None);
    }

    #[test]
    fn ascii_scans_agree_with_the_tables() {
        let t = tables();
        for x in 0..=255u8 {
            let class = if x < 0x80 { t.ascii[usize::from(x)] } else { 0 };
            for (kind, bit) in [(Ascii::Letter, L), (Ascii::Lower, W)] {
                // The byte at each of the eight positions, after letters of its kind.
                for at in 0..8 {
                    let mut chunk = [b'q'; 8];
                    chunk[at] = x;
                    let expect = if class & bit != 0 { 8 } else { at };
                    assert_eq!(ascii_prefix(&chunk, kind), expect, "byte {x:#x} at {at}");
                }
            }
        }
        let text = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZéa";
        let boundaries = || (0..=text.len()).filter(|&i| text.is_char_boundary(i));
        for i in boundaries() {
            for j in boundaries().filter(|&j| j >= i) {
                let b = &text.as_bytes()[..j];
                assert_eq!(t.run_ascii(b, i, L, Ascii::Letter), t.run(b, i, L), "{i}..{j}");
            }
        }
    }

    #[test]
    fn tables_are_compact() {
        let t = tables();
        assert_eq!(t.index.len(), 0x1100);
        assert!(t.rows.len() < 1024, "{} rows", t.rows.len());
    }
}
