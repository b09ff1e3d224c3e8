//! Split patterns: the regex that cuts text into pieces before BPE.
//!
//! Any pattern fancy-regex accepts works. The named constants are the patterns of
//! the well-known byte-level BPE tokenizers, byte for byte.
//!
//! Design notes
//! - fancy-regex is the general engine: it runs any pattern, look-around included,
//!   with backtracking. It is also most of the time spent in encoding and counting.
//! - The well-known patterns use one look-around only, the `\s+(?!\S)` idiom ("a run
//!   of whitespace, but leave its last character to the next piece when a non-space
//!   follows"). For them a [`FastSplit`] runs an equivalent pattern without it on
//!   regex-automata's DFAs, then applies the idiom by hand: a match that is all
//!   whitespace, at least two characters long, followed by a non-space, and (when the
//!   pattern has a `\s*[\r\n]` branch) not ending in a newline, gives back its last
//!   character. Possessive quantifiers are dropped: in these patterns no backtracking
//!   into them could ever succeed, so they change nothing. Tests compare both engines
//!   on the corpora and on random text.
//! - The fast path is chosen only when the source is byte-for-byte one of the named
//!   patterns; any other pattern runs on fancy-regex.

use crate::error::{Error, ErrorKind, Result};
use fancy_regex::Regex;
use regex_automata::{meta, Anchored, Input};

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

/// For each named pattern: the same pattern without look-around or possessive
/// quantifiers (its `\s+(?!\S)` branch and what follows it become `\s+`), and whether
/// it has a `\s*[\r\n]` branch before that.
const FAST_FORMS: &[(&str, &str, bool)] = &[
    (GPT2_PATTERN, r"'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+$|\s+", false),
    (
        CL100K_PATTERN,
        r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s+$|\s*[\r\n]|\s+",
        true,
    ),
    (
        RUSTBPE_GPT4_PATTERN,
        r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]|\s+",
        true,
    ),
    (
        NANOCHAT_PATTERN,
        r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,2}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]|\s+",
        true,
    ),
    (
        O200K_PATTERN,
        concat!(
            r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
            "|",
            r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
            r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+"
        ),
        true,
    ),
];

/// The look-around-free engine for a named pattern (see the module's design notes).
#[derive(Debug, Clone)]
pub struct FastSplit {
    regex: meta::Regex,
    newline_branch: bool,
}

impl FastSplit {
    fn for_source(source: &str) -> Option<Self> {
        let &(_, fast, newline_branch) = FAST_FORMS.iter().find(|(named, _, _)| *named == source)?;
        let regex = meta::Regex::new(fast).ok()?;
        Some(FastSplit { regex, newline_branch })
    }

    /// The end of the piece that starts at or after `at`: `(start, end)`, or `None` at the end.
    #[inline]
    fn next_piece(&self, text: &str, at: usize) -> Option<(usize, usize)> {
        let input = Input::new(text).range(at..).anchored(Anchored::Yes);
        let m = match self.regex.find(input) {
            Some(m) => m,
            // These patterns match every character, so this is never taken in practice;
            // it keeps find_iter's semantics (skip unmatched text) if one ever doesn't.
            None => self.regex.find(Input::new(text).range(at..))?,
        };
        let (start, mut end) = (m.start(), m.end());
        let bytes = text.as_bytes();
        // The `\s+(?!\S)` idiom: give back the last whitespace character.
        if end < bytes.len() && !is_space_at(text, end) {
            let piece = &text[start..end];
            let mut chars = piece.chars();
            if let Some(last) = chars.next_back() {
                let all_space = last.is_whitespace() && chars.clone().all(char::is_whitespace);
                let ends_in_newline = matches!(last, '\r' | '\n');
                if all_space && chars.next().is_some() && !(self.newline_branch && ends_in_newline) {
                    end -= last.len_utf8();
                }
            }
        }
        Some((start, end))
    }
}

/// Whether the character starting at byte `at` of `text` is whitespace (`\s`).
#[inline]
fn is_space_at(text: &str, at: usize) -> bool {
    text[at..].chars().next().is_some_and(char::is_whitespace)
}

/// A compiled split pattern.
///
/// Cloning is cheap enough for per-thread use (the compiled program is shared).
#[derive(Debug, Clone)]
pub struct Pattern {
    source: String,
    regex: Regex,
    fast: Option<FastSplit>,
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
        Ok(Pattern { source: source.to_owned(), regex, fast: FastSplit::for_source(source) })
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

    /// Whether splitting runs on the look-around-free fast path.
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
        if let Some(fast) = &self.fast {
            let mut at = 0;
            while at < text.len() {
                let Some((start, end)) = fast.next_piece(text, at) else {
                    break;
                };
                f(&text[start..end]);
                at = end;
            }
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

    /// Text made of the characters where the patterns' branches meet.
    fn tricky() -> impl Strategy<Value = String> {
        let atoms = prop_oneof![
            Just(" ".to_string()),
            Just("  ".to_string()),
            Just("\n".to_string()),
            Just("\r\n".to_string()),
            Just("\t".to_string()),
            Just("\u{3000}".to_string()),
            Just("\u{a0}".to_string()),
            Just("\u{85}".to_string()),
            Just("'s".to_string()),
            Just("'LL".to_string()),
            Just("'".to_string()),
            Just("a".to_string()),
            Just("Hello".to_string()),
            Just("é".to_string()),
            Just("\u{301}".to_string()),
            Just("日本".to_string()),
            Just("1".to_string()),
            Just("12345".to_string()),
            Just("٣".to_string()),
            Just("!".to_string()),
            Just("...".to_string()),
            Just("/".to_string()),
            Just("🙂".to_string()),
            Just("ǅ".to_string()),
            any::<char>().prop_map(String::from),
        ];
        proptest::collection::vec(atoms, 0..40).prop_map(|v| v.concat())
    }

    fn both_engines() -> &'static [(Pattern, Pattern)] {
        static BOTH: std::sync::OnceLock<Vec<(Pattern, Pattern)>> = std::sync::OnceLock::new();
        BOTH.get_or_init(|| {
            NAMED_PATTERNS
                .iter()
                .map(|(_, src)| (Pattern::new(src).unwrap(), Pattern::new_general(src).unwrap()))
                .collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]
        #[test]
        fn fast_path_splits_exactly_like_fancy_regex(text in tricky()) {
            for (fast, slow) in both_engines() {
                prop_assert_eq!(pieces(fast, &text), pieces(slow, &text), "pattern {}", fast.as_str());
            }
        }
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
