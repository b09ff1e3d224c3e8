//! Split patterns: the regex that cuts text into pieces before BPE.
//!
//! Any pattern fancy-regex accepts works. The named constants are the patterns of
//! the well-known byte-level BPE tokenizers, byte for byte.
//!
//! Design notes
//! - fancy-regex is the general engine: it runs any pattern, look-around included,
//!   with backtracking. It is also slow, and splitting is most of the time spent in
//!   encoding and counting.
//! - Each pattern takes the fastest engine that gives fancy-regex's pieces exactly
//!   ([`Pattern::engine`]):
//!   1. [`SplitEngine::Named`]: OpenAI's and rustbpe's named patterns (byte-for-byte equal
//!      sources only) run on a hand-written splitter, the `split` module: a small scanner
//!      over characters with precomputed Unicode class tables, one generic core
//!      parameterized per pattern. Its design notes explain why each branch equals the regex.
//!   2. [`SplitEngine::Automaton`]: any other pattern whose constructs the `automaton`
//!      module proves equivalent to a plain regular expression (greedy and possessive
//!      quantifiers where provable, the `\s+(?!\S)` idiom, `$`) runs on dense DFAs with
//!      leftmost-first semantics. Llama 3's, Qwen 2's and DeepSeek's patterns are here.
//!   3. [`SplitEngine::Backtracking`]: everything else runs on fancy-regex.
//!
//!   Tests compare each fast engine with fancy-regex on the corpora, on random text, and
//!   (for the automaton) on random patterns; [`Pattern::new_general`] forces fancy-regex
//!   (the reference) and [`Pattern::new_automaton`] the automaton.
//!
//! # Split chains
//!
//! HF `tokenizer.json` files can split in several steps (DeepSeek's: digits, then CJK
//! runs, then the rest), each step's regex applied to each piece of the step before, on
//! that piece alone. A *split chain* is such a pattern; its source is a text that is not
//! a regex (it starts with `(?*chain)`, which no regex engine accepts), followed by one
//! `(?*KIND:LEN)REGEX` per step, `LEN` being the UTF-8 byte length of `REGEX` in decimal:
//! ```text
//! (?*chain)(?*isolated:10)\p{N}{1,3}(?*isolated:9)[a-z]+|\s
//! ```
//! `KIND` is `isolated` (the matches and the text between them are pieces: HF's
//! `Isolated`) or `matches` (only the matches: tiktoken's way, HF's `Removed` with
//! `invert`). Each step takes its own fastest engine; [`Pattern::engine`] is the slowest.

use crate::automaton::Automaton;
use crate::error::{Error, ErrorKind, Result};
use crate::split::{self, Flavor};
use fancy_regex::Regex;
use std::sync::Arc;

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

/// Llama 3's pattern, as its `tokenizer.json` writes it.
pub const LLAMA3_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Qwen 2's (and Qwen 3's) pattern: [`LLAMA3_PATTERN`] with single digits (`\p{N}`).
pub const QWEN2_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// A DeepSeek-V3-style pattern: digits in threes, runs of CJK ideographs and kana,
/// ASCII punctuation before letters, letters with marks, punctuation and symbols.
pub const DEEPSEEK_V3_PATTERN: &str = concat!(
    r"\p{N}{1,3}",
    "|",
    r"[一-龥぀-ゟ゠-ヿ]+",
    "|",
    r##"[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+"##,
    "|",
    r"[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+",
    "|",
    r" ?[\p{P}\p{S}]+[\r\n]*",
    "|",
    r"\s*[\r\n]+",
    "|",
    r"\s+(?!\S)",
    "|",
    r"\s+"
);

/// The named patterns: `(name, pattern)`. Encoding names map to their pattern, plus
/// `"rustbpe"`, `"nanochat"` and the open models' `"llama3"`, `"qwen2"`, `"deepseek_v3"`.
pub const NAMED_PATTERNS: &[(&str, &str)] = &[
    ("gpt2", GPT2_PATTERN),
    ("r50k_base", GPT2_PATTERN),
    ("p50k_base", GPT2_PATTERN),
    ("cl100k_base", CL100K_PATTERN),
    ("o200k_base", O200K_PATTERN),
    ("rustbpe", RUSTBPE_GPT4_PATTERN),
    ("nanochat", NANOCHAT_PATTERN),
    ("llama3", LLAMA3_PATTERN),
    ("qwen2", QWEN2_PATTERN),
    ("deepseek_v3", DEEPSEEK_V3_PATTERN),
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
    // Llama 3's pattern is rustbpe's written another way: its contractions are the same
    // set under the same case folding, its greedy `?` and `+` before a disjoint class
    // equal rustbpe's possessive ones (rule 1 of `automaton`), and `\s*[\r\n]+` ends
    // where `\s*[\r\n]` does (greedy `\s*` gives back only up to the run's last
    // newline, and what follows that newline is no newline). The tests split every named
    // pattern's own source against fancy-regex.
    (LLAMA3_PATTERN, Flavor::Rustbpe),
    (QWEN2_PATTERN, Flavor::Qwen2),
];

/// Which engine splits text for a [`Pattern`] (see the module notes of `pattern`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SplitEngine {
    /// The hand-written splitter of a named OpenAI or rustbpe pattern.
    Named,
    /// DFAs compiled from the pattern: any pattern whose constructs are proven equivalent.
    Automaton,
    /// fancy-regex's backtracking matcher: every other pattern.
    Backtracking,
}

impl SplitEngine {
    /// `"named"`, `"automaton"` or `"backtracking"`.
    pub fn as_str(self) -> &'static str {
        match self {
            SplitEngine::Named => "named",
            SplitEngine::Automaton => "automaton",
            SplitEngine::Backtracking => "backtracking",
        }
    }
}

impl std::fmt::Display for SplitEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A compiled split pattern: one regex, or a split chain (see the module notes).
///
/// Cloning is cheap enough for per-thread use (the compiled programs are shared).
#[derive(Debug, Clone)]
pub struct Pattern {
    source: String,
    /// fancy-regex's program; `None` for a split chain.
    regex: Option<Regex>,
    /// The hand-written splitter of a named pattern.
    fast: Option<Flavor>,
    /// The DFAs, when the pattern qualifies and has no hand-written splitter.
    automaton: Option<Arc<Automaton>>,
    /// The steps of a split chain.
    chain: Option<Arc<[ChainStep]>>,
}

/// One step of a split chain.
#[derive(Debug, Clone)]
struct ChainStep {
    pattern: Pattern,
    /// Whether the text between matches is a piece too (`isolated`) or dropped (`matches`).
    isolated: bool,
}

/// How a split chain's source starts.
const CHAIN_PREFIX: &str = "(?*chain)";

/// The step kinds of a split chain's source.
const ISOLATED: &str = "isolated";
const MATCHES: &str = "matches";

/// The source of a split chain of `steps`: `(regex, isolated)` each (see the module notes).
pub fn split_chain_source<'a>(steps: impl IntoIterator<Item = (&'a str, bool)>) -> String {
    let mut out = String::from(CHAIN_PREFIX);
    for (regex, isolated) in steps {
        let kind = if isolated { ISOLATED } else { MATCHES };
        out.push_str(&format!("(?*{kind}:{}){regex}", regex.len()));
    }
    out
}

/// The steps `(regex, isolated)` of a split chain's source, or `None` if `source` is not
/// one (does not start with `(?*chain)`).
///
/// # Errors
/// [`ErrorKind::BadPattern`] for a chain source that does not parse, or has no step.
fn chain_steps(source: &str) -> Result<Option<Vec<(&str, bool)>>> {
    let Some(mut rest) = source.strip_prefix(CHAIN_PREFIX) else {
        return Ok(None);
    };
    let bad = |why: &str| Error::new(ErrorKind::BadPattern, format!("invalid split chain: {why}"));
    let mut steps = Vec::new();
    while !rest.is_empty() {
        let head = rest.strip_prefix("(?*").ok_or_else(|| bad("a step does not start with (?*KIND:LEN)"))?;
        let close = head.find(')').ok_or_else(|| bad("a step header has no ')'"))?;
        let (kind, len) = head[..close].split_once(':').ok_or_else(|| bad("a step header has no ':LEN'"))?;
        let isolated = match kind {
            ISOLATED => true,
            MATCHES => false,
            other => return Err(bad(&format!("unknown step kind {other:?} (isolated or matches)"))),
        };
        let digits = !len.is_empty() && len.bytes().all(|b| b.is_ascii_digit());
        let len: usize = (if digits { len.parse().ok() } else { None })
            .ok_or_else(|| bad(&format!("step length {len:?} is not a number")))?;
        let body = &head[close + 1..];
        let regex =
            body.get(..len).ok_or_else(|| bad("a step's LEN runs past the end or into a character"))?;
        steps.push((regex, isolated));
        rest = &body[len..];
    }
    if steps.is_empty() {
        return Err(bad("no steps"));
    }
    Ok(Some(steps))
}

fn compile_regex(source: &str) -> Result<Regex> {
    if source.is_empty() {
        return Err(Error::new(ErrorKind::BadPattern, "invalid split pattern: the pattern is empty"));
    }
    Regex::new(source).map_err(|e| Error::new(ErrorKind::BadPattern, format!("invalid split pattern: {e}")))
}

impl Pattern {
    /// Compiles `source` (fancy-regex syntax) for the fastest engine that splits it
    /// exactly: the named splitter, else the automaton, else fancy-regex.
    ///
    /// # Errors
    /// [`ErrorKind::BadPattern`] with the regex engine's message if it does not compile,
    /// or if it is empty.
    pub fn new(source: &str) -> Result<Self> {
        if let Some(chain) = Self::new_chain(source, Pattern::new)? {
            return Ok(chain);
        }
        let regex = compile_regex(source)?;
        let fast = FAST.iter().find(|(named, _)| *named == source).map(|&(_, flavor)| flavor);
        if fast.is_some() {
            // Build the class tables now rather than in the first split.
            split::tables_ready();
        }
        let automaton = match fast {
            Some(_) => None,
            None => Automaton::new(source).ok().map(Arc::new),
        };
        Ok(Pattern { source: source.to_owned(), regex: Some(regex), fast, automaton, chain: None })
    }

    /// The split chain of `source`, each step built with `build`, or `None` if `source`
    /// is not a chain's.
    fn new_chain(source: &str, build: fn(&str) -> Result<Pattern>) -> Result<Option<Self>> {
        let Some(steps) = chain_steps(source)? else {
            return Ok(None);
        };
        let steps = steps
            .into_iter()
            .enumerate()
            .map(|(i, (regex, isolated))| {
                if chain_steps(regex)?.is_some() {
                    return Err(Error::new(
                        ErrorKind::BadPattern,
                        "invalid split chain: a step is a split chain",
                    ));
                }
                let pattern = build(regex).map_err(|e| {
                    Error::new(ErrorKind::BadPattern, format!("split chain step {}: {}", i + 1, e.message()))
                })?;
                Ok(ChainStep { pattern, isolated })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(Pattern {
            source: source.to_owned(),
            regex: None,
            fast: None,
            automaton: None,
            chain: Some(steps.into()),
        }))
    }

    /// Like [`Pattern::new`] but always on fancy-regex (the reference for the fast paths).
    ///
    /// # Errors
    /// As [`Pattern::new`].
    pub fn new_general(source: &str) -> Result<Self> {
        if let Some(chain) = Self::new_chain(source, Pattern::new_general)? {
            return Ok(chain);
        }
        let regex = compile_regex(source)?;
        Ok(Pattern {
            source: source.to_owned(),
            regex: Some(regex),
            fast: None,
            automaton: None,
            chain: None,
        })
    }

    /// Like [`Pattern::new`] but always on the automaton, named patterns included (to
    /// compare it with the named splitter in tests and benchmarks).
    ///
    /// # Errors
    /// As [`Pattern::new`]; also [`ErrorKind::BadPattern`], saying why, if the pattern
    /// does not qualify for the automaton.
    pub fn new_automaton(source: &str) -> Result<Self> {
        if let Some(chain) = Self::new_chain(source, Pattern::new_automaton)? {
            return Ok(chain);
        }
        let regex = compile_regex(source)?;
        let automaton = Automaton::new(source).map_err(|r| {
            Error::new(
                ErrorKind::BadPattern,
                format!("split pattern does not qualify for the automaton: {}", r.0),
            )
        })?;
        Ok(Pattern {
            source: source.to_owned(),
            regex: Some(regex),
            fast: None,
            automaton: Some(Arc::new(automaton)),
            chain: None,
        })
    }

    /// Whether splitting runs on the hand-written splitter of a named pattern.
    pub fn is_fast(&self) -> bool {
        self.fast.is_some()
    }

    /// The engine that splits text for this pattern (for a split chain, the slowest of
    /// its steps' engines).
    pub fn engine(&self) -> SplitEngine {
        if let Some(chain) = &self.chain {
            let engines: Vec<SplitEngine> = chain.iter().map(|s| s.pattern.engine()).collect();
            return [SplitEngine::Backtracking, SplitEngine::Automaton]
                .into_iter()
                .find(|e| engines.contains(e))
                .unwrap_or(SplitEngine::Named);
        }
        if self.fast.is_some() {
            SplitEngine::Named
        } else if self.automaton.is_some() {
            SplitEngine::Automaton
        } else {
            SplitEngine::Backtracking
        }
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
        self.for_each_range(text, |start, end| f(&text[start..end]))
    }

    /// [`Pattern::for_each_piece`] with each piece as bytes, for callers that want bytes:
    /// no test that each piece's ends are character boundaries (they always are), which
    /// an encoder would pay for every piece.
    ///
    /// # Errors
    /// As [`Pattern::for_each_piece`].
    #[inline]
    pub fn for_each_piece_bytes<'t>(&self, text: &'t str, mut f: impl FnMut(&'t [u8])) -> Result<()> {
        let bytes = text.as_bytes();
        // (`f` moved in, not borrowed: see `Tokenizer::encode_split` for why its state is
        // best held by value.)
        self.for_each_range(text, move |start, end| f(&bytes[start..end]))
    }

    /// Calls `f` on the byte range of each piece of `text`, in order.
    #[inline]
    fn for_each_range(&self, text: &str, mut f: impl FnMut(usize, usize)) -> Result<()> {
        if let Some(flavor) = self.fast {
            split::for_each_range(flavor, text, f);
            return Ok(());
        }
        if let Some(automaton) = &self.automaton {
            automaton.for_each_range(text, f);
            return Ok(());
        }
        let Some(regex) = &self.regex else {
            // A chain's pieces are parts of `text`: their ranges are where they lie in it.
            let at = |piece: &str| (piece.as_ptr() as usize).wrapping_sub(text.as_ptr() as usize);
            return chain_pieces(self.chain.as_deref().unwrap_or_default(), text, &mut |piece| {
                f(at(piece), at(piece) + piece.len());
            });
        };
        for m in regex.find_iter(text) {
            let m = m.map_err(|e| {
                Error::new(ErrorKind::BadPattern, format!("split pattern failed while matching: {e}"))
            })?;
            f(m.start(), m.end());
        }
        Ok(())
    }
}

/// The pieces of `text` under the split chain `steps`: each piece of the first step
/// split by the rest, in order.
fn chain_pieces<'t>(steps: &[ChainStep], text: &'t str, f: &mut dyn FnMut(&'t str)) -> Result<()> {
    let Some((step, rest)) = steps.split_first() else {
        f(text);
        return Ok(());
    };
    let base = text.as_ptr() as usize;
    let (mut done, mut failed) = (0, Ok(()));
    step.pattern.for_each_piece(text, |piece| {
        if failed.is_err() {
            return;
        }
        let at = piece.as_ptr() as usize - base;
        if step.isolated && at > done {
            failed = chain_pieces(rest, &text[done..at], f);
        }
        if failed.is_ok() {
            failed = chain_pieces(rest, piece, f);
        }
        done = at + piece.len();
    })?;
    failed?;
    if step.isolated && done < text.len() {
        chain_pieces(rest, &text[done..], f)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;

    fn pieces<'t>(p: &Pattern, text: &'t str) -> Vec<&'t str> {
        p.split(text).map(|r| r.unwrap()).collect()
    }

    /// The open models' named patterns, which run on the automaton.
    const OPEN_MODEL_PATTERNS: &[&str] = &["deepseek_v3"];

    #[test]
    fn every_named_pattern_takes_a_fast_path() {
        for (name, p) in NAMED_PATTERNS {
            let pattern = Pattern::new(p).unwrap();
            if OPEN_MODEL_PATTERNS.contains(name) {
                assert_eq!(pattern.engine(), SplitEngine::Automaton, "{name}");
                assert!(!pattern.is_fast(), "{name}");
            } else {
                assert_eq!(pattern.engine(), SplitEngine::Named, "{name}");
                assert!(pattern.is_fast(), "{name}");
            }
        }
        assert_eq!(Pattern::new(r"\w+|\s+").unwrap().engine(), SplitEngine::Automaton);
        assert_eq!(Pattern::new(r"(\w)\1|\s+").unwrap().engine(), SplitEngine::Backtracking);
        assert_eq!(Pattern::new_general(CL100K_PATTERN).unwrap().engine(), SplitEngine::Backtracking);
        assert_eq!(Pattern::new_automaton(CL100K_PATTERN).unwrap().engine(), SplitEngine::Automaton);
        let names: Vec<&str> = [SplitEngine::Named, SplitEngine::Automaton, SplitEngine::Backtracking]
            .iter()
            .map(|e| e.as_str())
            .collect();
        assert_eq!(names, ["named", "automaton", "backtracking"]);
    }

    /// DeepSeek-V3's steps, as its tokenizer.json has them.
    fn deepseek_steps() -> Vec<(&'static str, bool)> {
        let rest = &DEEPSEEK_V3_PATTERN[DEEPSEEK_V3_PATTERN.find("[!").unwrap()..];
        vec![(r"\p{N}{1,3}", true), (r"[一-龥぀-ゟ゠-ヿ]+", true), (rest, true)]
    }

    #[test]
    fn a_split_chain_splits_each_piece_of_each_step() {
        let source = split_chain_source(deepseek_steps());
        assert!(source.starts_with(r"(?*chain)(?*isolated:10)\p{N}{1,3}(?*isolated:"));
        let chain = Pattern::new(&source).unwrap();
        assert_eq!(chain.as_str(), source);
        assert_eq!(chain.engine(), SplitEngine::Automaton);
        // Digits first, whatever follows; then CJK runs, even after a space; then the rest.
        let text = "abc12345def 中文 x 日本!!";
        assert_eq!(pieces(&chain, text), ["abc", "123", "45", "def", " ", "中文", " x", " ", "日本", "!!"]);
        // The single-regex DeepSeek-style pattern differs exactly there.
        let single = Pattern::new(DEEPSEEK_V3_PATTERN).unwrap();
        assert_eq!(pieces(&single, " 中文"), [" 中文"]);
        assert_eq!(pieces(&chain, " 中文"), [" ", "中文"]);
        // The module notes' example.
        let example = Pattern::new(r"(?*chain)(?*isolated:10)\p{N}{1,3}(?*isolated:9)[a-z]+|\s").unwrap();
        assert_eq!(pieces(&example, "ab1234 c!"), ["ab", "123", "4", " ", "c", "!"]);
        // `matches` drops the text between matches; `isolated` keeps it.
        let drop = Pattern::new(&split_chain_source([(r"\d+", false)])).unwrap();
        let keep = Pattern::new(&split_chain_source([(r"\d+", true)])).unwrap();
        assert_eq!(pieces(&drop, "a12b3"), ["12", "3"]);
        assert_eq!(pieces(&keep, "a12b3"), ["a", "12", "b", "3"]);
        let general = Pattern::new_general(&source).unwrap();
        assert_eq!(general.engine(), SplitEngine::Backtracking);
        let backtracking = Pattern::new(&split_chain_source([(r"\d+", true), (r"(\w)\1|.", true)])).unwrap();
        assert_eq!(backtracking.engine(), SplitEngine::Backtracking);
        let named = Pattern::new(&split_chain_source([(CL100K_PATTERN, false)])).unwrap();
        assert_eq!(named.engine(), SplitEngine::Named);
    }

    #[test]
    fn a_bad_split_chain_is_a_clear_error() {
        // No regex engine reads a chain's prefix: a chain's source is never a regex.
        assert!(compile_regex("(?*chain)x").is_err());
        let err = |s: &str| Pattern::new(s).unwrap_err().message().to_owned();
        assert!(err("(?*chain)").contains("no steps"));
        assert!(err("(?*chain)x").contains("(?*KIND:LEN)"));
        assert!(err("(?*chain)(?*other:1)x").contains("unknown step kind \"other\""));
        assert!(err("(?*chain)(?*isolated:z)x").contains("not a number"));
        assert!(err("(?*chain)(?*isolated:+1)x").contains("not a number"));
        assert!(err("(?*chain)(?*isolated:)x").contains("not a number"));
        assert!(err("(?*chain)(?*isolated:9)x").contains("past the end"));
        assert!(err("(?*chain)(?*isolated:1)中").contains("into a character"));
        assert!(err("(?*chain)(?*isolated:2)x(").contains("step 1"));
        let nested = split_chain_source([(split_chain_source([("x", true)]).as_str(), true)]);
        assert!(err(&nested).contains("a step is a split chain"));
        assert_eq!(Pattern::new("(?*chain)").unwrap_err().kind(), ErrorKind::BadPattern);
    }

    proptest! {
        #[test]
        fn a_split_chain_splits_like_fancy_regex_steps(text in tricky()) {
            // Each step on its fastest engine against each step on fancy-regex; the
            // pieces always tile the text (every step isolated).
            let source = split_chain_source(deepseek_steps());
            let fast = pieces(&Pattern::new(&source).unwrap(), &text);
            prop_assert_eq!(&fast, &pieces(&Pattern::new_general(&source).unwrap(), &text));
            prop_assert_eq!(fast.concat(), text);
        }
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
        // CJK ranges, kana and the punctuation of the DeepSeek-style pattern.
        "一",
        "龥",
        "ぁ",
        "カ",
        "ー",
        "。",
        "、",
        "#a",
        "-Z",
        "_x",
        "\u{ff01}",
    ];

    /// Text made of the characters where the patterns' branches meet.
    fn tricky() -> impl Strategy<Value = String> {
        let atoms = prop_oneof![
            8 => proptest::sample::select(ATOMS).prop_map(String::from),
            1 => any::<char>().prop_map(String::from),
        ];
        vec(atoms, 0..40).prop_map(|v| v.concat())
    }

    /// Each distinct named pattern on each fast engine, paired with the same pattern on
    /// fancy-regex: its own engine (`Pattern::new`: the hand-written splitter or the
    /// automaton) and the automaton.
    fn engine_pairs() -> &'static [(Pattern, Pattern)] {
        static PAIRS: std::sync::OnceLock<Vec<(Pattern, Pattern)>> = std::sync::OnceLock::new();
        PAIRS.get_or_init(|| {
            let mut sources: Vec<&str> = NAMED_PATTERNS.iter().map(|(_, src)| *src).collect();
            sources.dedup();
            sources
                .iter()
                .flat_map(|src| {
                    [Pattern::new(src).unwrap(), Pattern::new_automaton(src).unwrap()]
                        .map(|fast| (fast, Pattern::new_general(src).unwrap()))
                })
                .collect()
        })
    }

    fn assert_same_split(text: &str) -> std::result::Result<(), TestCaseError> {
        for (fast, slow) in engine_pairs() {
            prop_assert_eq!(
                pieces(fast, text),
                pieces(slow, text),
                "pattern {} on {:?}",
                fast.as_str(),
                fast.engine()
            );
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]
        #[test]
        fn fast_engines_split_like_fancy_regex(text in tricky()) {
            assert_same_split(&text)?;
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]
        #[test]
        fn fast_engines_split_arbitrary_text_like_fancy_regex(text in "\\PC{0,60}") {
            assert_same_split(&text)?;
        }

        #[test]
        fn fast_engines_split_arbitrary_chars_like_fancy_regex(chars in vec(any::<char>(), 0..60)) {
            assert_same_split(&chars.into_iter().collect::<String>())?;
        }
    }

    /// Every string of up to three characters from an alphabet of branch boundaries.
    #[test]
    fn fast_engines_split_all_short_strings_like_fancy_regex() {
        let alphabet = [
            ' ', '\n', '\r', '\t', '\u{a0}', 'a', 'A', 's', 'S', 'ſ', 'l', 'e', '\'', '1', '!', '/',
            '\u{301}', 'ǅ', 'ʰ', '中', '٣', 'Ⅻ', '\u{85}', '\u{2028}', 'カ', '。', '#',
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
        assert_eq!(count, 28 * 28 * 27);
    }

    /// A branch element of the random patterns: a contraction, or a literal or class
    /// with a quantifier, greedy or possessive.
    fn element() -> impl Strategy<Value = String> {
        let atom = proptest::sample::select(
            &[
                r"\p{L}",
                r"\p{N}",
                r"\s",
                r"[^\s\p{L}\p{N}]",
                r"[^\r\n\p{L}\p{N}]",
                r"[\r\n]",
                " ",
                "'",
                "[a-z]",
            ][..],
        );
        let quantifier = proptest::sample::select(&["", "?", "+", "*", "{1,3}", "{2}", "{1,2}"][..]);
        let contraction = proptest::sample::select(
            &[
                r"'(?i:[sdmt]|ll|ve|re)",
                r"(?i:'s|'t|'re|'ve|'m|'ll|'d)",
                "'s",
                r"(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
            ][..],
        );
        prop_oneof![
            1 => contraction.prop_map(String::from),
            6 => (atom, quantifier, any::<bool>()).prop_map(|(a, q, possessive)| {
                let plus = if possessive && !q.is_empty() { "+" } else { "" };
                format!("{a}{q}{plus}")
            }),
        ]
    }

    /// A random pattern from the grammar of the real ones: branches of elements, the
    /// `\s+(?!\S)` idiom, a `$` at the end of a branch.
    fn random_pattern() -> impl Strategy<Value = String> {
        let branch = prop_oneof![
            8 => (vec(element(), 1..4), proptest::bool::weighted(0.15))
                .prop_map(|(items, dollar)| items.concat() + if dollar { "$" } else { "" }),
            1 => Just(r"\s+(?!\S)".to_owned()),
        ];
        vec(branch, 1..7).prop_map(|b| b.join("|"))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        #[test]
        fn automaton_splits_random_patterns_like_fancy_regex(
            pattern in random_pattern(),
            texts in vec(tricky(), 20),
        ) {
            let slow = Pattern::new_general(&pattern).unwrap();
            // A refused pattern is checked by the tests below, not here.
            if let Ok(auto) = Pattern::new_automaton(&pattern) {
                for text in &texts {
                    prop_assert_eq!(pieces(&auto, text), pieces(&slow, text), "pattern {} text {:?}", pattern, text);
                }
            }
        }
    }

    /// The random patterns are not mostly refused (which would leave the test above
    /// comparing little). Many are refused by design: a branch like `\s*` or `'?`
    /// matches empty, and a possessive item often precedes one that overlaps it.
    #[test]
    fn most_random_patterns_qualify() {
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let strategy = random_pattern();
        let (mut qualified, total) = (0, 200);
        for _ in 0..total {
            let pattern = proptest::strategy::ValueTree::current(&strategy.new_tree(&mut runner).unwrap());
            qualified += usize::from(Pattern::new(&pattern).unwrap().engine() == SplitEngine::Automaton);
        }
        assert!(qualified * 3 >= total, "only {qualified} of {total} random patterns qualify");
    }

    #[test]
    fn patterns_beyond_the_rules_are_refused() {
        for p in [
            r"\s+(?=\S)|\s",       // other look-ahead
            r"\s+(?!\S)x|\s",      // the idiom not as a whole branch
            r"\s*(?!\S)|\s",       // the idiom with another quantifier
            r"(?<=a)b|.",          // look-behind
            r"(a)\1|.",            // back-reference
            r"\p{L}++\p{L}|.",     // possessive before what can start with its characters
            r"\p{N}{1,3}+\p{N}|.", // the same with a bound
            r"'?+'s|.",            // the same with a literal
            r"(?>ab|a)b|.",        // an atomic group over more than one character
            r"a+?b|.",             // lazy
            r"\s*|a",              // a branch that matches empty
            r"^a|.",               // start anchor (look-behind context)
            r"\ba|.",              // word boundary
            r"(?m:$)a|.",          // line anchor
            r"(?>(?=a)b)|.",       // look-around inside an atomic group
            r"(?>a(?=b))|.",       // the same, after a character
            r"(?>\b)a|.",          // an assertion inside an atomic group
        ] {
            let e = Pattern::new_automaton(p).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::BadPattern, "{p}");
            assert!(e.message().contains("does not qualify"), "{p}: {}", e.message());
            assert_eq!(Pattern::new(p).unwrap().engine(), SplitEngine::Backtracking, "{p}");
        }
        for p in [
            r"\p{L}++$|\s",
            r"[^\r\n\p{L}\p{N}]?+\p{L}++|\s+(?!\S)|\s",
            r"(?>a)a|.",
            r"\p{N}{2}+\p{N}|.",
            r"\s++$|\s",
        ] {
            assert_eq!(Pattern::new(p).unwrap().engine(), SplitEngine::Automaton, "{p}");
        }
    }

    #[test]
    fn automaton_skips_text_the_pattern_does_not_match_like_fancy_regex() {
        for (p, text) in [
            (r"\p{L}+", "  hello, world 12 ümlaut "),
            (r"ab|\s+(?!\S)", "xx ab  ab a  b   "),
            (r"a+b", "aaaa aab xaaaaab aa"),
            (r"\s+(?!\S)|\d", "1 2  3   x"),
            (r"\s+(?!\S)|\s+(?!\S)|\s", " x  x"),
        ] {
            let (auto, slow) = (Pattern::new_automaton(p).unwrap(), Pattern::new_general(p).unwrap());
            assert_eq!(pieces(&auto, text), pieces(&slow, text), "{p} on {text:?}");
            assert!(!pieces(&auto, text).is_empty(), "{p}");
        }
    }

    #[test]
    fn named_patterns_compile() {
        for (_, p) in NAMED_PATTERNS {
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
