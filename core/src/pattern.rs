//! Split patterns: the regex that cuts text into pieces before BPE.
//!
//! Any pattern fancy-regex accepts works. The named constants are the patterns of
//! the well-known byte-level BPE tokenizers, byte for byte.
//!
//! Design notes
//! - fancy-regex is the general engine: it runs any pattern, look-around included,
//!   with backtracking. It is also slow, and splitting is most of the time spent in
//!   encoding and counting.
//! - The named patterns (byte-for-byte equal sources only) instead run on a hand-written
//!   splitter, the `split` module: a small scanner over characters with precomputed Unicode
//!   class tables, one generic core parameterized per pattern, that gives exactly
//!   fancy-regex's pieces (leftmost-first alternation, the patterns' quantifiers, the
//!   `\s+(?!\S)` idiom). Its design notes explain why each branch equals the regex.
//!   Tests compare both engines on the corpora and on random text.
//! - Any other pattern runs on fancy-regex; [`Pattern::new_general`] forces it for a
//!   named pattern too (the reference in tests and benchmarks).

use crate::error::{Error, ErrorKind, Result};
use crate::split::{self, Flavor};
use fancy_regex::Regex;

/// GPT-2 / `r50k_base` / `p50k_base`, as tiktoken writes it.
pub const GPT2_PATTERN: &str =
    r"'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s";

/// GPT-4 / `cl100k_base`, as tiktoken writes it. The default pattern.
pub const CL100K_PATTERN: &str = r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s";

/// GPT-4o / `o200k_base`, as tiktoken writes it.
pub const O200K_PATTERN: &str = concat!(
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    "|",
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    "|",
    r"\p{N}{1,3}",
    "|",
    r" ?[^\s\p{L}\p{N}]+[\r\n/]*",
    "|",
    r"\s*[\r\n]+",
    "|",
    r"\s+(?!\S)",
    "|",
    r"\s+"
);

/// The GPT-4 pattern as `rustbpe` writes it (its default; differs from tiktoken's
/// [`CL100K_PATTERN`] in possessive quantifiers and the `\s++$` branch).
pub const RUSTBPE_GPT4_PATTERN: &str = r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+";

/// nanochat's variant of [`RUSTBPE_GPT4_PATTERN`]: numbers split into groups of at most two digits.
pub const NANOCHAT_PATTERN: &str = r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,2}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+";

/// The named patterns: `(name, pattern)`. Encoding names map to their pattern, plus
/// `"rustbpe"` and `"nanochat"`.
pub const NAMED_PATTERNS: &[(&str, &str)] = &[
    ("gpt2", GPT2_PATTERN),
    ("r50k_base", GPT2_PATTERN),
    ("p50k_base", GPT2_PATTERN),
    ("cl100k_base", CL100K_PATTERN),
    ("o200k_base", O200K_PATTERN),
    ("rustbpe", RUSTBPE_GPT4_PATTERN),
    ("nanochat", NANOCHAT_PATTERN),
];

/// The pattern of a name in [`NAMED_PATTERNS`].
pub fn named(name: &str) -> Option<&'static str> {
    NAMED_PATTERNS.iter().find(|(n, _)| *n == name).map(|(_, p)| *p)
}

/// The named patterns the hand-written splitter runs, by exact source.
const FAST: &[(&str, Flavor)] = &[
    (GPT2_PATTERN, Flavor::Gpt2),
    (CL100K_PATTERN, Flavor::Cl100k),
    (O200K_PATTERN, Flavor::O200k),
    (RUSTBPE_GPT4_PATTERN, Flavor::Rustbpe),
    (NANOCHAT_PATTERN, Flavor::Nanochat),
];

/// A compiled split pattern.
///
/// Cloning is cheap enough for per-thread use (the compiled program is shared).
#[derive(Debug, Clone)]
pub struct Pattern {
    source: String,
    regex: Regex,
    /// The hand-written splitter of a named pattern.
    fast: Option<Flavor>,
}

impl Pattern {
    /// Compiles `source` (fancy-regex syntax); a named pattern also gets the fast path.
    ///
    /// # Errors
    /// [`ErrorKind::BadPattern`] with the regex engine's message if it does not compile,
    /// or if it is empty.
    pub fn new(source: &str) -> Result<Self> {
        if source.is_empty() {
            return Err(Error::new(ErrorKind::BadPattern, "invalid split pattern: the pattern is empty"));
        }
        let regex = Regex::new(source)
            .map_err(|e| Error::new(ErrorKind::BadPattern, format!("invalid split pattern: {e}")))?;
        let fast = FAST.iter().find(|(named, _)| *named == source).map(|&(_, flavor)| flavor);
        if fast.is_some() {
            // Build the class tables now rather than in the first split.
            split::tables_ready();
        }
        Ok(Pattern { source: source.to_owned(), regex, fast })
    }

    /// Like [`Pattern::new`] but always on fancy-regex (the reference for the fast path).
    ///
    /// # Errors
    /// As [`Pattern::new`].
    pub fn new_general(source: &str) -> Result<Self> {
        let mut p = Self::new(source)?;
        p.fast = None;
        Ok(p)
    }

    /// Whether splitting runs on the hand-written splitter of a named pattern.
    pub fn is_fast(&self) -> bool {
        self.fast.is_some()
    }

    /// The default pattern, [`CL100K_PATTERN`].
    pub fn default_pattern() -> Self {
        // The constant is tested to compile (see tests below), so this cannot fail.
        Self::new(CL100K_PATTERN).unwrap_or_else(|_| unreachable!("CL100K_PATTERN compiles"))
    }

    /// The pattern source.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Splits `text` into the pieces the pattern matches, in order.
    ///
    /// Text between matches (which the usual patterns never leave) is skipped, exactly as
    /// tiktoken and rustbpe skip it.
    ///
    /// # Errors
    /// [`ErrorKind::BadPattern`] if the regex engine gives up (e.g. its backtracking limit).
    pub fn split<'t>(&self, text: &'t str) -> impl Iterator<Item = Result<&'t str>> + 't {
        let mut pieces = Vec::new();
        let result = self.for_each_piece(text, |p| pieces.push(p));
        pieces.into_iter().map(Ok).chain(result.err().map(Err))
    }

    /// Calls `f` on each piece of `text`, in order; stops at the first error.
    ///
    /// # Errors
    /// [`ErrorKind::BadPattern`] if the regex engine gives up (e.g. its backtracking limit).
    #[inline]
    pub fn for_each_piece<'t>(&self, text: &'t str, mut f: impl FnMut(&'t str)) -> Result<()> {
        if let Some(flavor) = self.fast {
            split::for_each_piece(flavor, text, f);
            return Ok(());
        }
        for m in self.regex.find_iter(text) {
            let m = m.map_err(|e| {
                Error::new(ErrorKind::BadPattern, format!("split pattern failed while matching: {e}"))
            })?;
            f(m.as_str());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;

    fn pieces<'t>(p: &Pattern, text: &'t str) -> Vec<&'t str> {
        p.split(text).map(|r| r.unwrap()).collect()
    }

    #[test]
    fn named_patterns_take_the_fast_path() {
        for (_, p) in NAMED_PATTERNS {
            assert!(Pattern::new(p).unwrap().is_fast(), "{p}");
        }
        assert!(!Pattern::new(r"\w+|\s+").unwrap().is_fast());
    }

    /// Pieces of text where the patterns' branches meet.
    const ATOMS: &[&str] = &[
        // Whitespace: runs, newlines, Unicode White_Space, before anything.
        " ",
        "  ",
        "   ",
        "\n",
        "\r",
        "\r\n",
        "\r\n\r\n",
        "\n\n",
        " \n",
        "\t",
        "\x0b",
        "\x0c",
        "\u{3000}",
        "\u{a0}",
        "\u{85}",
        "\u{1680}",
        "\u{2009}",
        "\u{2028}",
        "\u{2029}",
        "\u{202f}",
        "\u{200b}",
        // Contractions, their case folds (ſ folds to s; K, the Kelvin sign, to k) and near misses.
        "'",
        "'s",
        "'S",
        "'ſ",
        "'t",
        "'T",
        "'d",
        "'m",
        "'M",
        "'ll",
        "'LL",
        "'Ll",
        "'lL",
        "'ve",
        "'VE",
        "'vE",
        "'re",
        "'Re",
        "'l",
        "'v",
        "'r",
        "'x",
        "'K",
        "\u{2019}s",
        "\u{2bc}",
        "\u{ff07}",
        "ſ",
        "\u{212a}",
        "s",
        "S",
        "l",
        "e",
        // Letters of each general category: Ll, Lu, Lt, Lm, Lo, and marks (Mn, Mc, Me).
        "a",
        "A",
        "Hello",
        "HELLO",
        "hELLO",
        "abcdefghijklmnopq",
        "ABCDEFGHIJKLMNOPQ",
        "é",
        "e\u{301}",
        "E\u{301}",
        "\u{301}",
        "\u{903}",
        "\u{20dd}",
        "ǅ",
        "ʰ",
        "中",
        "日本",
        "ß",
        "ΣΑΣ",
        "Straße",
        "\u{1d400}",
        // Numbers: Nd of other scripts, No, Nl.
        "1",
        "12",
        "12345",
        "٣",
        "①",
        "Ⅻ",
        "½",
        // Punctuation, symbols, controls.
        "!",
        "...",
        "/",
        "/\n",
        "//",
        "(",
        "\u{1}",
        "\u{7f}",
        "🙂",
        "€",
    ];

    /// Text made of the characters where the patterns' branches meet.
    fn tricky() -> impl Strategy<Value = String> {
        let atoms = prop_oneof![
            8 => proptest::sample::select(ATOMS).prop_map(String::from),
            1 => any::<char>().prop_map(String::from),
        ];
        vec(atoms, 0..40).prop_map(|v| v.concat())
    }

    /// Each named pattern once: (hand-written splitter, fancy-regex).
    fn both_engines() -> &'static [(Pattern, Pattern)] {
        static BOTH: std::sync::OnceLock<Vec<(Pattern, Pattern)>> = std::sync::OnceLock::new();
        BOTH.get_or_init(|| {
            let mut sources: Vec<&str> = NAMED_PATTERNS.iter().map(|(_, src)| *src).collect();
            sources.dedup();
            sources
                .iter()
                .map(|src| (Pattern::new(src).unwrap(), Pattern::new_general(src).unwrap()))
                .collect()
        })
    }

    fn assert_same_split(text: &str) -> std::result::Result<(), TestCaseError> {
        for (fast, slow) in both_engines() {
            prop_assert_eq!(pieces(fast, text), pieces(slow, text), "pattern {}", fast.as_str());
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]
        #[test]
        fn fast_path_splits_exactly_like_fancy_regex(text in tricky()) {
            assert_same_split(&text)?;
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]
        #[test]
        fn fast_path_splits_arbitrary_text_like_fancy_regex(text in "\\PC{0,60}") {
            assert_same_split(&text)?;
        }

        #[test]
        fn fast_path_splits_arbitrary_chars_like_fancy_regex(chars in vec(any::<char>(), 0..60)) {
            assert_same_split(&chars.into_iter().collect::<String>())?;
        }
    }

    /// Every string of up to three characters from an alphabet of branch boundaries.
    #[test]
    fn fast_path_splits_all_short_strings_like_fancy_regex() {
        let alphabet = [
            ' ', '\n', '\r', '\t', '\u{a0}', 'a', 'A', 's', 'S', 'ſ', 'l', 'e', '\'', '1', '!', '/',
            '\u{301}', 'ǅ', 'ʰ', '中', '٣', 'Ⅻ', '\u{85}', '\u{2028}',
        ];
        let mut text = String::new();
        let mut count = 0;
        for a in alphabet.iter().map(Some).chain([None]) {
            for b in alphabet.iter().map(Some).chain([None]) {
                for c in alphabet {
                    text.clear();
                    text.extend(a.into_iter().chain(b).chain([&c]));
                    assert_same_split(&text).unwrap();
                    count += 1;
                }
            }
        }
        assert_eq!(count, 25 * 25 * 24);
    }

    #[test]
    fn named_patterns_compile() {
        for p in [GPT2_PATTERN, CL100K_PATTERN, O200K_PATTERN, RUSTBPE_GPT4_PATTERN, NANOCHAT_PATTERN] {
            Pattern::new(p).unwrap();
        }
    }

    #[test]
    fn bad_pattern_is_an_error() {
        let e = Pattern::new("(unclosed").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BadPattern);
        assert!(e.message().contains("invalid split pattern"), "{}", e.message());
    }

    #[test]
    fn cl100k_splits_like_tiktoken() {
        let p = Pattern::default_pattern();
        let pieces: Vec<&str> = p.split("Hello world's 12345  \n end").map(|r| r.unwrap()).collect();
        assert_eq!(pieces, ["Hello", " world", "'s", " ", "123", "45", "  \n", " end"]);
    }
}
