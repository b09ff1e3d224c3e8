//! The named splitter's 64-byte block logic against fancy-regex, piece for piece.
//!
//! The splitter cuts text of characters of one to three bytes from bitmasks of 64-byte
//! blocks and hands pieces to the per-character code at four-byte characters, apostrophes a
//! contraction may follow, o200k's ambiguous letters next to cased ones (and its marks)
//! and block ends. These tests build
//! texts long enough to span several blocks, mostly ASCII, so that every kind of piece
//! meets every block boundary and every hand-over point.
use bpekit::{Pattern, SplitEngine, NAMED_PATTERNS};
use proptest::collection::vec;
use proptest::prelude::*;

/// Each named pattern once: (hand-written splitter, fancy-regex).
fn both_engines() -> &'static [(Pattern, Pattern)] {
    static BOTH: std::sync::OnceLock<Vec<(Pattern, Pattern)>> = std::sync::OnceLock::new();
    BOTH.get_or_init(|| {
        // The hand-written splitter's patterns (the other named patterns run on the
        // automaton, which `split_corpora` and pattern.rs's tests cover).
        let mut sources: Vec<&str> = NAMED_PATTERNS
            .iter()
            .map(|(_, src)| *src)
            .filter(|src| Pattern::new(src).is_ok_and(|p| p.engine() == SplitEngine::Named))
            .collect();
        sources.sort();
        sources.dedup();
        assert_eq!(sources.len(), 7, "gpt2, cl100k, o200k, rustbpe, nanochat, llama3, qwen2");
        sources
            .iter()
            .map(|src| {
                let fast = Pattern::new(src).unwrap();
                assert!(fast.is_fast(), "{src}");
                (fast, Pattern::new_general(src).unwrap())
            })
            .collect()
    })
}

fn pieces<'t>(p: &Pattern, text: &'t str) -> Vec<&'t str> {
    let mut out = Vec::new();
    p.for_each_piece(text, |piece| out.push(piece)).unwrap();
    out
}

fn assert_same_split(text: &str) -> Result<(), TestCaseError> {
    for (fast, slow) in both_engines() {
        prop_assert_eq!(pieces(fast, text), pieces(slow, text), "pattern {} on {:?}", fast.as_str(), text);
    }
    Ok(())
}

/// ASCII pieces where the branches meet, without apostrophes.
const PLAIN: &[&str] = &[
    " ",
    "  ",
    "    ",
    "\n",
    "\r\n",
    "\n\n",
    " \n",
    "\n ",
    "\t",
    "\x0b",
    "\x0c",
    "\r",
    "a",
    "word",
    "Word",
    "WORD",
    "wOrD",
    "camelCase",
    "x",
    "Z",
    "1",
    "12",
    "123",
    "1234",
    "12345678",
    "!",
    ".",
    ",",
    "(",
    ")",
    "/",
    "//",
    "...",
    "-",
    "_",
    "\"",
    "#",
    "\x01",
    "\x7f",
];

/// Two-byte characters of every class, which the masks cut too: letters of each case
/// (o200k's words split at a lowercase-to-capital step), titlecase, modifier and other
/// letters and combining marks (the last three in both of o200k's letter classes, which
/// hand over),
/// whitespace (`\u{a0}`, `\u{85}`), numbers (`²`, `¼`, `٣`) and the rest (`×`, `¿`, `«`).
const TWO: &[&str] = &[
    "é",
    "É",
    "ß",
    "ÿ",
    "µ",
    "Ω",
    "ω",
    "жук",
    "Жук",
    "ЖУК",
    "éA",
    "aÉ",
    "Éa",
    "ǅ",
    "ʰ",
    "ª",
    "א",
    "\u{301}",
    "a\u{301}",
    "\u{a0}",
    "\u{85}",
    "\u{a0}\u{a0}",
    " \u{a0}",
    "\u{a0}\n",
    "²",
    "¼",
    "٣",
    "٣٣٣٣",
    "1²3",
    "×",
    "¿",
    "«",
    "»\n",
    " é",
    "é ",
    "אA",
    "Aא",
    "אa",
    "ʰA",
    "aʰ",
    "א\u{301}",
];

/// Three-byte characters of every class, which the masks cut too: CJK and kana (in both
/// of o200k's letter classes: cut from the masks in runs of their own, handed over next
/// to a cased letter, as in `中A`), Georgian (lowercase; its capitals,
/// Mtavruli, are uppercase), Devanagari letters and marks (`\u{93f}`: not `\p{L}`, so
/// the rest), whitespace (`\u{3000}`, `\u{2028}`, `\u{2009}`), numbers (`१`, `Ⅻ`,
/// `①`) and punctuation (`“`, `—`, `、`, `€`).
const THREE: &[&str] = &[
    "中",
    "中文",
    "ひらがな",
    "カタカナ",
    "ქართ",
    "Ქართ",
    "ᲥᲐᲠ",
    "हिन्दी",
    "क\u{93f}",
    "\u{3000}",
    "\u{2028}",
    "\u{2009}",
    " \u{3000}",
    "\u{3000}\n",
    "१",
    "१२३४",
    "1१2",
    "Ⅻ",
    "①",
    "“",
    "”\n",
    "—",
    "、",
    "。\n",
    "€",
    " “",
    "中 ",
    "aქ",
    "ქa",
    "中A",
    "A中",
    "a中",
    "中a",
    "中中A中",
    "ab中A",
    "AB中中",
    "aB中",
    "中\u{301}",
];

/// Contractions, apostrophes, characters of four bytes (where the block logic hands
/// over) and of two and three (where it does for o200k's ambiguous letters, and did
/// before it took them).
const STOPS: &[&str] = &[
    "'", "'s", "'t", "'ll", "'S", "é", "\u{a0}", "\u{85}", "中", "\u{301}", "٣", "\u{2028}", "€", "😀", "𝐀",
];

/// `text` with `c` inserted at the character boundary at or before `at` (or at its end).
fn with_stop(mut text: String, at: usize, c: &str) -> String {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    text.insert_str(at, c);
    text
}

/// Mostly ASCII text of up to a few hundred bytes.
fn ascii_text() -> impl Strategy<Value = String> {
    let atom = prop_oneof![
        20 => proptest::sample::select(PLAIN).prop_map(String::from),
        2 => proptest::sample::select(STOPS).prop_map(String::from),
        1 => any::<char>().prop_map(String::from),
    ];
    vec(atom, 0..120).prop_map(|v| v.concat())
}

/// Apostrophes as contractions, as the start of one that does not go on (`'r` without
/// `e`), and as punctuation (before any other letter, punctuation, digits, whitespace,
/// two-byte letters and the end): the masks cut around the apostrophes no contraction can
/// follow and hand over at the others.
const APOSTROPHES: &[&str] = &[
    "'", "''", "'''", " '", "'\n", "'s", "'S", "'t", "'d", "'D", "'m", "'M", "'re", "'RE", "'rx", "'ve",
    "'vx", "'ll", "'lx", "'L", "'a", "'word", "'x", "'Z", "'1", "'.", "'é", "'ſ", "word'", "Word's", "can't",
    "'\t",
];

/// Mostly ASCII text with many apostrophes.
fn apostrophe_text() -> impl Strategy<Value = String> {
    let atom = prop_oneof![
        4 => proptest::sample::select(PLAIN).prop_map(String::from),
        2 => proptest::sample::select(APOSTROPHES).prop_map(String::from),
    ];
    vec(atom, 0..150).prop_map(|v| v.concat())
}

/// Text of the ASCII classes only (no apostrophes, no non-ASCII), so whole blocks are cut
/// from the masks.
fn block_text() -> impl Strategy<Value = String> {
    vec(proptest::sample::select(PLAIN), 0..150).prop_map(|v| v.concat())
}

/// ASCII and two-byte text: whole blocks cut from the masks, but for o200k's ambiguous
/// letters and marks.
fn two_byte_text() -> impl Strategy<Value = String> {
    let atom = prop_oneof![
        3 => proptest::sample::select(PLAIN).prop_map(String::from),
        2 => proptest::sample::select(TWO).prop_map(String::from),
        1 => (0x80u32..0x800).prop_map(|c| char::from_u32(c).map(String::from).unwrap_or_default()),
    ];
    vec(atom, 0..150).prop_map(|v| v.concat())
}

/// ASCII, two- and three-byte text: whole blocks cut from the masks, but for four-byte
/// characters and o200k's ambiguous letters and marks.
fn three_byte_text() -> impl Strategy<Value = String> {
    let atom = prop_oneof![
        3 => proptest::sample::select(PLAIN).prop_map(String::from),
        1 => proptest::sample::select(TWO).prop_map(String::from),
        2 => proptest::sample::select(THREE).prop_map(String::from),
        1 => (0x800u32..0x10000).prop_map(|c| char::from_u32(c).map(String::from).unwrap_or_default()),
    ];
    vec(atom, 0..150).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn three_byte_text_splits_like_fancy_regex(text in three_byte_text()) {
        assert_same_split(&text)?;
    }

    /// A stop character (four bytes, an apostrophe, ...) at every offset of three-byte
    /// text.
    #[test]
    fn a_stop_character_in_three_byte_text(text in three_byte_text(), at in 0usize..400, c in proptest::sample::select(STOPS)) {
        assert_same_split(&with_stop(text, at, c))?;
    }

    #[test]
    fn two_byte_text_splits_like_fancy_regex(text in two_byte_text()) {
        assert_same_split(&text)?;
    }

    /// Random Latin-1 characters, the splitter's worst case before the masks took
    /// two-byte characters.
    #[test]
    fn latin1_splits_like_fancy_regex(bytes in vec(any::<u8>(), 0..300)) {
        let text: String = bytes.iter().map(|&b| char::from(b)).collect();
        assert_same_split(&text)?;
    }

    #[test]
    fn apostrophes_split_like_fancy_regex(text in apostrophe_text()) {
        assert_same_split(&text)?;
    }

    /// A stop character (four bytes, an apostrophe, a three-byte one: o200k stops at
    /// CJK) at every offset of two-byte text.
    #[test]
    fn a_stop_character_in_two_byte_text(text in two_byte_text(), at in 0usize..300, c in proptest::sample::select(STOPS)) {
        assert_same_split(&with_stop(text, at, c))?;
    }

    #[test]
    fn mostly_ascii_text_splits_like_fancy_regex(text in ascii_text()) {
        assert_same_split(&text)?;
    }

    #[test]
    fn block_text_splits_like_fancy_regex(text in block_text()) {
        assert_same_split(&text)?;
    }

    /// One non-ASCII character (or apostrophe) at every offset of the first blocks.
    #[test]
    fn a_stop_character_anywhere(text in block_text(), at in 0usize..200, c in proptest::sample::select(STOPS)) {
        assert_same_split(&with_stop(text, at, c))?;
    }

}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(150))]

    /// The same text from every starting offset, so each piece meets the block edges at
    /// every offset.
    #[test]
    fn every_offset(text in block_text()) {
        for skip in 0..text.len().min(70) {
            assert_same_split(&text[skip..])?;
        }
    }

    #[test]
    fn every_offset_of_two_byte_text(text in two_byte_text()) {
        for skip in (0..text.len().min(70)).filter(|&i| text.is_char_boundary(i)) {
            assert_same_split(&text[skip..])?;
        }
    }

    #[test]
    fn every_offset_of_three_byte_text(text in three_byte_text()) {
        for skip in (0..text.len().min(70)).filter(|&i| text.is_char_boundary(i)) {
            assert_same_split(&text[skip..])?;
        }
    }
}

/// Long runs of one class across several blocks, alone and between other pieces (a run
/// of ASCII digits may go on in non-ASCII ones: `٣`, two bytes, which the masks count,
/// and `१`, three, where they hand over).
#[test]
fn long_runs_cross_blocks() {
    for unit in [
        "a", "A", "aB", "1", " ", "\n", "\r\n", "\t", "!", "/", " \n", "\n ", "é", "É", "éA", "\u{a0}", "²",
        "٣", "×", "é1",
    ] {
        for n in [1, 2, 3, 62, 63, 64, 65, 127, 128, 129, 200] {
            let run = unit.repeat(n);
            for (before, after) in [
                ("", ""),
                ("x", "x"),
                (" ", " "),
                ("!", "\n"),
                ("1", "a"),
                ("é", "é"),
                (" ", "é"),
                ("", "٣٣"),
                ("x", "٣1"),
                ("", "१1"),
            ] {
                assert_same_split(&format!("{before}{run}{after}")).unwrap();
            }
        }
    }
}

/// Three-byte characters at every position around the first block boundaries, in texts
/// whose lengths cross the length from which the masks classify them (64 bytes): whitespace
/// (`\u{3000}`, `\u{2028}`) before letters, digits that group with ASCII ones (`१`),
/// Georgian capitals (o200k's `U`), and stops after them.
#[test]
fn three_byte_characters_at_every_block_offset() {
    let chars = ["中", "\u{3000}", "\u{2028}", "१", "Ⅻ", "Ქ", "ქ", "“", "\u{93f}", "、"];
    let ends = ["", "a", "1", " a", "😀", "'s"];
    for filler in ["a", " ", "1", "!", "é"] {
        for n in (50..=72).chain(112..=136) {
            let before = filler.repeat(n / filler.len());
            for c in chars {
                for copies in [1, 2] {
                    for end in ends {
                        assert_same_split(&format!("{before}{}{end}", c.repeat(copies))).unwrap();
                    }
                }
            }
        }
    }
}

/// Short whole texts, which end inside their first block: every pair and triple of
/// atoms, so each kind of run ends a text after each other kind.
#[test]
fn texts_end_after_every_kind_of_run() {
    for a in PLAIN.iter().chain(TWO) {
        for b in PLAIN.iter().chain(TWO) {
            assert_same_split(&format!("{a}{b}")).unwrap();
            for c in ["x", "1", ".", " ", "\n", "Ab", "é", "\u{a0}", "²"] {
                assert_same_split(&format!("{a}{b}{c}")).unwrap();
            }
        }
    }
}

/// All-space and all-newline blocks, with every kind of piece after them.
#[test]
fn whitespace_blocks() {
    for ws in [" ", "\n", "\r\n", " \n", "\t", "\n\n "] {
        for n in [63, 64, 65, 128] {
            for next in ["", "a", "A", "1", "!", "'s", "é", "\u{a0}", " a", "\n"] {
                assert_same_split(&format!("{}{next}", ws.repeat(n))).unwrap();
                assert_same_split(&format!("x{}{next}", ws.repeat(n))).unwrap();
            }
        }
    }
}
