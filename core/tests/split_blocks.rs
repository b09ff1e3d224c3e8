//! The named splitter's 64-byte block logic against fancy-regex, piece for piece.
//!
//! The splitter cuts ASCII text from bitmasks of 64-byte blocks and hands pieces to the
//! per-character code at non-ASCII bytes, apostrophes and block ends. These tests build
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

/// Contractions, apostrophes and non-ASCII characters: where the block logic hands over.
const STOPS: &[&str] =
    &["'", "'s", "'t", "'ll", "'S", "é", "\u{a0}", "\u{85}", "中", "\u{301}", "٣", "\u{2028}"];

/// Mostly ASCII text of up to a few hundred bytes.
fn ascii_text() -> impl Strategy<Value = String> {
    let atom = prop_oneof![
        20 => proptest::sample::select(PLAIN).prop_map(String::from),
        2 => proptest::sample::select(STOPS).prop_map(String::from),
        1 => any::<char>().prop_map(String::from),
    ];
    vec(atom, 0..120).prop_map(|v| v.concat())
}

/// Text of the ASCII classes only (no apostrophes, no non-ASCII), so whole blocks are cut
/// from the masks.
fn block_text() -> impl Strategy<Value = String> {
    vec(proptest::sample::select(PLAIN), 0..150).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

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
        let mut text = text;
        let mut at = at.min(text.len());
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        text.insert_str(at, c);
        assert_same_split(&text)?;
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
}

/// Long runs of one class across several blocks, alone and between other pieces (a run
/// of ASCII digits may go on in non-ASCII ones, `٣`, which the masks do not see).
#[test]
fn long_runs_cross_blocks() {
    for unit in ["a", "A", "aB", "1", " ", "\n", "\r\n", "\t", "!", "/", " \n", "\n "] {
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
            ] {
                assert_same_split(&format!("{before}{run}{after}")).unwrap();
            }
        }
    }
}

/// Short whole texts, which end inside their first block: every pair and triple of
/// atoms, so each kind of run ends a text after each other kind.
#[test]
fn texts_end_after_every_kind_of_run() {
    for a in PLAIN {
        for b in PLAIN {
            assert_same_split(&format!("{a}{b}")).unwrap();
            for c in ["x", "1", ".", " ", "\n", "Ab"] {
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
