//! Split patterns: the regex that cuts text into pieces before BPE.
//!
//! Any pattern fancy-regex accepts works. The named constants are the patterns of
//! the well-known byte-level BPE tokenizers, byte for byte.

use crate::error::{Error, ErrorKind, Result};
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
    NAMED_PATTERNS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, p)| *p)
}

/// A compiled split pattern.
///
/// Cloning is cheap enough for per-thread use (the compiled program is shared).
#[derive(Debug, Clone)]
pub struct Pattern {
    source: String,
    regex: Regex,
}

impl Pattern {
    /// Compiles `source` with fancy-regex.
    ///
    /// # Errors
    /// [`ErrorKind::BadPattern`] with the regex engine's message if it does not compile.
    pub fn new(source: &str) -> Result<Self> {
        let regex = Regex::new(source).map_err(|e| {
            Error::new(ErrorKind::BadPattern, format!("invalid split pattern: {e}"))
        })?;
        Ok(Pattern {
            source: source.to_owned(),
            regex,
        })
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
    pub fn split<'t>(&'t self, text: &'t str) -> impl Iterator<Item = Result<&'t str>> + 't {
        self.regex.find_iter(text).map(|m| {
            m.map(|m| m.as_str()).map_err(|e| {
                Error::new(
                    ErrorKind::BadPattern,
                    format!("split pattern failed while matching: {e}"),
                )
            })
        })
    }

    /// Calls `f` on each piece of `text`; stops at the first error.
    pub fn for_each_piece(&self, text: &str, mut f: impl FnMut(&str)) -> Result<()> {
        for piece in self.split(text) {
            f(piece?);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_patterns_compile() {
        for p in [
            GPT2_PATTERN,
            CL100K_PATTERN,
            O200K_PATTERN,
            RUSTBPE_GPT4_PATTERN,
            NANOCHAT_PATTERN,
        ] {
            Pattern::new(p).unwrap();
        }
    }

    #[test]
    fn bad_pattern_is_an_error() {
        let e = Pattern::new("(unclosed").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BadPattern);
        assert!(
            e.message().contains("invalid split pattern"),
            "{}",
            e.message()
        );
    }

    #[test]
    fn cl100k_splits_like_tiktoken() {
        let p = Pattern::default_pattern();
        let pieces: Vec<&str> = p
            .split("Hello world's 12345  \n end")
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(
            pieces,
            ["Hello", " world", "'s", " ", "123", "45", "  \n", " end"]
        );
    }
}
