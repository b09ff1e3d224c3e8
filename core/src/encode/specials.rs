//! Special tokens: an encode call's policy (tiktoken's `allowed_special` and
//! `disallowed_special`), the one search that finds special-token text, and tiktoken's
//! error for disallowed text.
//!
//! Where occurrences overlap, the leftmost one wins, then the longest there; the next
//! one is looked for after its end. [`leftmost_longest`] is the only place this rule is
//! written: encode cuts the text at what it yields, and the disallowed-special check
//! reports the first thing it yields. (tiktoken takes whichever its regex alternation
//! tries first, which depends on hash order; leftmost-longest gives the same token
//! whatever the order.)
//!
//! Design notes
//! - Every occurrence is found in one pass of an Aho-Corasick automaton (overlapping
//!   ones included), then sorted: linear in the text plus the occurrences, however the
//!   special tokens overlap each other. A search restarted after each token would look
//!   up to the longest token's length past it, quadratic on text dense with prefixes of
//!   a long special token.
//! - The automaton's DFA searches fastest on text dense with near-matches, but building
//!   it costs about the strings' total length times the longest one, which a long
//!   special token of one repeated letter makes huge. So the DFA is built only while
//!   that product is at most [`DFA_MAX_SIZE`] (OpenAI's special-token sets are far
//!   below it), and a contiguous NFA otherwise (its build is linear in the strings).
//! - tiktoken's `disallowed_special` may hold any strings, not only special tokens (its
//!   check is a regex over the given strings). Strings that are not special tokens are
//!   rare, so they get an automaton of their own, built for the one call that has them.

use std::cmp::Reverse;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use hashbrown::{HashMap, HashSet};

use super::Tokenizer;
use crate::error::{Error, ErrorKind, Result};

/// Which special tokens an encode call treats as special.
#[derive(Debug, Clone, Copy)]
pub enum Allowed<'a> {
    /// None: special-token text is ordinary text.
    None,
    /// All of the tokenizer's special tokens.
    All,
    /// Only these (strings that are not special tokens are ignored).
    Some(&'a HashSet<&'a str>),
}

/// Which strings an encode call refuses to see in its text (tiktoken's
/// `disallowed_special`).
#[derive(Debug, Clone, Copy)]
pub enum Disallowed<'a> {
    /// None: no check.
    None,
    /// Every special token that is not allowed (tiktoken's default, `"all"`).
    AllNotAllowed,
    /// Only these: special tokens, and any other strings (as tiktoken, whose check is a
    /// regex over the given strings; the empty string is found in every text). Checked
    /// even where they are also allowed.
    Some(&'a HashSet<&'a str>),
}

/// tiktoken's `allowed_special` / `disallowed_special` pair.
#[derive(Debug, Clone, Copy)]
pub struct SpecialPolicy<'a> {
    /// Special tokens encoded as their ids.
    pub allowed: Allowed<'a>,
    /// Strings whose appearance in the text is an error.
    pub disallowed: Disallowed<'a>,
}

impl SpecialPolicy<'_> {
    /// tiktoken's default: nothing allowed, everything else disallowed.
    pub const DEFAULT: SpecialPolicy<'static> =
        SpecialPolicy { allowed: Allowed::None, disallowed: Disallowed::AllNotAllowed };
    /// `encode_ordinary`: special-token text is ordinary text, no check.
    pub const ORDINARY: SpecialPolicy<'static> =
        SpecialPolicy { allowed: Allowed::None, disallowed: Disallowed::None };
}

impl Allowed<'_> {
    pub(super) fn allows(&self, token: &str) -> bool {
        match self {
            Allowed::None => false,
            Allowed::All => true,
            Allowed::Some(set) => set.contains(token),
        }
    }
}

/// A tokenizer's special tokens: text that encodes to one id when allowed, never
/// produced by BPE.
#[derive(Debug, Clone, Default)]
pub(super) struct Specials {
    /// `(text, id)` in id order.
    pub(super) tokens: Vec<(Box<str>, u32)>,
    pub(super) by_text: HashMap<Box<str>, u32>,
    /// Finds the texts of `tokens` (pattern `i` is `tokens[i]`); `None` if there are none.
    search: Option<AhoCorasick>,
}

impl Specials {
    /// The special tokens `tokens` (in id order), indexed by text and searchable.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArg`] if the automaton cannot be built (too large).
    pub(super) fn new(tokens: Vec<(Box<str>, u32)>, by_text: HashMap<Box<str>, u32>) -> Result<Specials> {
        let search = automaton(tokens.iter().map(|t| &*t.0))
            .map_err(|e| Error::invalid_arg(format!("cannot index special tokens: {e}")))?;
        Ok(Specials { tokens, by_text, search })
    }

    /// Whether `allowed` can let any special token through: if not, [`Specials::allowed_in`]
    /// finds nothing, and the caller may encode the text as ordinary text directly.
    pub(super) fn may_allow(&self, allowed: Allowed<'_>) -> bool {
        self.search.is_some() && !matches!(allowed, Allowed::None)
    }

    /// The special tokens that `allowed` allows, where [`leftmost_longest`] finds them
    /// in `text`: `(start, end, id)`, left to right, not overlapping.
    pub(super) fn allowed_in<'s>(
        &'s self,
        text: &str,
        allowed: Allowed<'s>,
    ) -> impl Iterator<Item = (usize, usize, u32)> + 's {
        let found = match (&self.search, allowed) {
            (Some(ac), Allowed::All | Allowed::Some(_)) => {
                leftmost_longest(ac, text, |i| allowed.allows(&self.tokens[i].0))
            }
            _ => Vec::new(),
        };
        found.into_iter().map(|(s, e, i)| (s, e, self.tokens[i].1))
    }

    /// The first special token in `text` for which `pred` holds (leftmost, then longest).
    fn first(&self, text: &str, pred: impl Fn(&str) -> bool) -> Option<&str> {
        let ac = self.search.as_ref()?;
        let found = leftmost_longest(ac, text, |i| pred(&self.tokens[i].0));
        found.first().map(|&(_, _, i)| &*self.tokens[i].0)
    }
}

/// The one search: the occurrences in `text` of the strings `ac` finds, for which
/// `keep(pattern index)` holds, overlapping ones included, reduced to the leftmost, then
/// longest one, the same again after its end, and so on: `(start, end, pattern index)`,
/// left to right. Linear in the text plus the occurrences (a sort of those kept).
fn leftmost_longest(
    ac: &AhoCorasick,
    text: &str,
    mut keep: impl FnMut(usize) -> bool,
) -> Vec<(usize, usize, usize)> {
    let mut found: Vec<(usize, Reverse<usize>, usize)> = ac
        .find_overlapping_iter(text.as_bytes())
        .filter(|m| keep(m.pattern().as_usize()))
        .map(|m| (m.start(), Reverse(m.end()), m.pattern().as_usize()))
        .collect();
    found.sort_unstable();
    let mut cut = 0;
    found.retain(|&(s, Reverse(e), _)| {
        let take = s >= cut;
        if take {
            cut = e;
        }
        take
    });
    found.into_iter().map(|(s, Reverse(e), i)| (s, e, i)).collect()
}

/// String sets up to this size (their total length times the longest, in bytes) are
/// searched with a DFA; larger ones with a contiguous NFA (see the module notes).
const DFA_MAX_SIZE: usize = 1 << 16;

/// The automaton that finds `strings` (non-empty), overlapping matches included;
/// `None` for no strings.
fn automaton<'a>(
    strings: impl Iterator<Item = &'a str> + Clone,
) -> std::result::Result<Option<AhoCorasick>, aho_corasick::BuildError> {
    let (mut total, mut longest, mut any) = (0usize, 0usize, false);
    for s in strings.clone() {
        total += s.len();
        longest = longest.max(s.len());
        any = true;
    }
    if !any {
        return Ok(None);
    }
    let build = |kind: Option<AhoCorasickKind>| {
        AhoCorasick::builder().match_kind(MatchKind::Standard).kind(kind).build(strings.clone())
    };
    let built = if total.saturating_mul(longest) <= DFA_MAX_SIZE {
        // aho-corasick's own choice: a DFA for up to 100 strings, else a contiguous NFA.
        build(None)
    } else {
        build(Some(AhoCorasickKind::ContiguousNFA))
            .or_else(|_| build(Some(AhoCorasickKind::NoncontiguousNFA)))
    };
    built.map(Some)
}

impl Tokenizer {
    /// The first (leftmost, then longest) special token in `text` for which `pred` holds,
    /// overlapping matches included.
    pub fn find_special(&self, text: &str, pred: impl Fn(&str) -> bool) -> Option<&str> {
        self.specials.first(text, pred)
    }

    /// tiktoken's disallowed-special check: an error naming the first (leftmost, then
    /// longest) disallowed string in `text`, with tiktoken's message.
    pub(super) fn check_disallowed(&self, text: &str, policy: &SpecialPolicy<'_>) -> Result<()> {
        let found = match (policy.disallowed, policy.allowed) {
            (Disallowed::None, _) | (Disallowed::AllNotAllowed, Allowed::All) => None,
            (Disallowed::Some(set), _) if set.is_empty() => None,
            (Disallowed::AllNotAllowed, allowed) => self.specials.first(text, |t| !allowed.allows(t)),
            (Disallowed::Some(set), _) if set.iter().all(|t| self.specials.by_text.contains_key(*t)) => {
                self.specials.first(text, |t| set.contains(t))
            }
            (Disallowed::Some(set), _) => first_of(set, text)?,
        };
        found.map_or(Ok(()), |t| Err(disallowed(t)))
    }
}

/// The first (leftmost, then longest) of `strings` in `text`, with an automaton built
/// for this call; the empty string is found at the start of every text.
fn first_of<'a>(strings: &HashSet<&'a str>, text: &str) -> Result<Option<&'a str>> {
    let list: Vec<&str> = strings.iter().copied().filter(|s| !s.is_empty()).collect();
    let ac = automaton(list.iter().copied())
        .map_err(|e| Error::invalid_arg(format!("cannot index disallowed_special: {e}")))?;
    let first =
        ac.and_then(|ac| leftmost_longest(&ac, text, |_| true).first().map(|&(s, _, i)| (s, list[i])));
    Ok(match first {
        Some((0, t)) => Some(t),
        _ if strings.contains("") => Some(""),
        other => other.map(|(_, t)| t),
    })
}

/// tiktoken's error for disallowed text `token` (`raise_disallowed_special_token`),
/// with the same message, so that code matching on it keeps working.
fn disallowed(token: &str) -> Error {
    let t = py_repr(token);
    Error::new(
        ErrorKind::DisallowedSpecial,
        format!(
            "Encountered text corresponding to disallowed special token {t}.\n\
             If you want this text to be encoded as a special token, \
             pass it to `allowed_special`, e.g. `allowed_special={{{t}, ...}}`.\n\
             If you want this text to be encoded as normal text, disable the check for this token \
             by passing `disallowed_special=(enc.special_tokens_set - {{{t}}})`.\n\
             To disable this check for all special tokens, pass `disallowed_special=()`.\n"
        ),
    )
}

/// `s` as Python's `repr()` of the str writes it: in single quotes unless `s` holds a
/// single quote and no double quote; backslash, the quote, `\t`, `\n` and `\r` escaped;
/// other characters that are not printable as `\xNN` below U+0100, `\uNNNN` below
/// U+10000, else `\UNNNNNNNN`; printable characters as they are.
pub(crate) fn py_repr(s: &str) -> String {
    use std::fmt::Write;
    let quote = if s.contains('\'') && !s.contains('"') { '"' } else { '\'' };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if is_printable(c) => out.push(c),
            c => {
                let _ = match u32::from(c) {
                    n @ 0..=0xff => write!(out, "\\x{n:02x}"),
                    n @ 0x100..=0xffff => write!(out, "\\u{n:04x}"),
                    n => write!(out, "\\U{n:08x}"),
                };
            }
        }
    }
    out.push(quote);
    out
}

/// Python's `str.isprintable` for one character: false for the general categories
/// Cc, Cf, Cs, Co, Cn, Zl, Zp and Zs, except the ASCII space.
fn is_printable(c: char) -> bool {
    if c.is_ascii() {
        return (' '..='~').contains(&c);
    }
    let ranges = not_printable();
    let i = ranges.partition_point(|&(_, end)| end < c);
    ranges.get(i).is_none_or(|&(start, _)| start > c)
}

/// The non-printable characters (see [`is_printable`]) as sorted, disjoint ranges, from
/// regex-syntax's Unicode tables; built on the first use (an error message).
fn not_printable() -> &'static [(char, char)] {
    static TABLE: once_cell::race::OnceBox<Vec<(char, char)>> = once_cell::race::OnceBox::new();
    TABLE.get_or_init(|| {
        // (Cs, the surrogates, cannot occur in a `str`.)
        let class = r"[\p{Cc}\p{Cf}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]";
        let ranges = match regex_syntax::parse(class).map(regex_syntax::hir::Hir::into_kind) {
            Ok(regex_syntax::hir::HirKind::Class(regex_syntax::hir::Class::Unicode(c))) => {
                c.ranges().iter().map(|r| (r.start(), r.end())).collect()
            }
            // Not reached (the tables are compiled in); control characters at least.
            _ => vec![('\0', '\u{1f}'), ('\u{7f}', '\u{9f}')],
        };
        Box::new(ranges)
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::Pattern;
    use proptest::prelude::*;

    /// The 256 bytes, and the special tokens `<|a`, `<|ab|>` and `b|><|`, which overlap.
    fn tokenizer(specials: bool) -> Tokenizer {
        let pairs: Vec<(Vec<u8>, u32)> = (0..=255u8).map(|b| (vec![b], u32::from(b))).collect();
        let t = Tokenizer::from_ranks(pairs, Pattern::default_pattern()).unwrap();
        if !specials {
            return t;
        }
        let list = [("<|a", 1000), ("<|ab|>", 1001), ("b|><|", 1002)];
        t.with_special_tokens(list.iter().map(|&(s, id)| (s.to_string(), id)).collect()).unwrap()
    }

    /// The string an encode under `disallowed` reports, if any.
    fn reported(t: &Tokenizer, text: &str, disallowed: &[&str]) -> Option<String> {
        let set: HashSet<&str> = disallowed.iter().copied().collect();
        let policy = SpecialPolicy { allowed: Allowed::None, disallowed: Disallowed::Some(&set) };
        match t.encode_with(text, &policy) {
            Ok(ids) => {
                assert_eq!(ids, t.encode_ordinary(text).unwrap());
                None
            }
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::DisallowedSpecial);
                let m = e.message();
                let start = m.find("token ").unwrap() + 6;
                Some(m[start..m.find(".\n").unwrap()].to_string())
            }
        }
    }

    #[test]
    fn disallowed_strings_need_not_be_special_tokens() {
        for t in [tokenizer(true), tokenizer(false)] {
            assert_eq!(reported(&t, "say hello", &["hell", "xyz"]).as_deref(), Some("'hell'"));
            assert_eq!(reported(&t, "say hello", &["xyz"]), None);
            // Leftmost, then longest, over special tokens and other strings together.
            assert_eq!(
                reported(&t, "a <|ab|> b", &["<|ab|>", "|ab", "<|ab|> "]).as_deref(),
                Some("'<|ab|> '")
            );
            assert_eq!(reported(&t, "a <|ab|> b", &["b|>", "a <", "<|ab|>"]).as_deref(), Some("'a <'"));
            assert_eq!(reported(&t, "x'y", &["'"]).as_deref(), Some("\"'\""));
            // The empty string is found at the start of every text, empty or not,
            // unless a longer string starts there too.
            assert_eq!(reported(&t, "abc", &["", "c"]).as_deref(), Some("''"));
            assert_eq!(reported(&t, "", &[""]).as_deref(), Some("''"));
            assert_eq!(reported(&t, "abc", &["", "ab"]).as_deref(), Some("'ab'"));
            assert_eq!(reported(&t, "abc", &[]), None);
        }
        // Only special tokens: the tokenizer's own automaton, the same answers.
        let t = tokenizer(true);
        assert_eq!(reported(&t, "<|ab|><|ab|>", &["<|a", "b|><|"]).as_deref(), Some("'<|a'"));
        assert_eq!(reported(&t, "<|ab|><|ab|>", &["b|><|"]).as_deref(), Some("'b|><|'"));
        assert_eq!(reported(&t, "<|ab|><|ab|>", &["b|><|", "<|ab|>"]).as_deref(), Some("'<|ab|>'"));
    }

    #[test]
    fn disallowed_check_comes_before_allowed() {
        let t = tokenizer(true);
        let set: HashSet<&str> = ["<|ab|>", "zz"].into_iter().collect();
        let policy = SpecialPolicy { allowed: Allowed::All, disallowed: Disallowed::Some(&set) };
        assert_eq!(t.encode_with("<|ab|>", &policy).unwrap_err().kind(), ErrorKind::DisallowedSpecial);
        assert_eq!(t.encode_with("zz", &policy).unwrap_err().kind(), ErrorKind::DisallowedSpecial);
        assert_eq!(t.encode_with("<|a z", &policy).unwrap()[0], 1000);
        // Allowed strings that are not special tokens are ignored.
        let allowed: HashSet<&str> = ["<|a", "plain"].into_iter().collect();
        let policy = SpecialPolicy { allowed: Allowed::Some(&allowed), disallowed: Disallowed::None };
        assert_eq!(
            t.encode_with("plain<|a", &policy).unwrap(),
            [&b"plain"[..].iter().map(|&b| u32::from(b)).collect::<Vec<_>>()[..], &[1000]].concat()
        );
    }

    #[test]
    fn py_repr_matches_python() {
        let cases: &[(&str, &str)] = &[
            ("<|endoftext|>", "'<|endoftext|>'"),
            ("", "''"),
            ("it's", "\"it's\""),
            ("say \"hi\"", "'say \"hi\"'"),
            ("both ' and \"", "'both \\' and \"'"),
            ("back\\slash", "'back\\\\slash'"),
            ("a\tb\nc\rd", "'a\\tb\\nc\\rd'"),
            ("\0\x01\x1b\x7f", "'\\x00\\x01\\x1b\\x7f'"),
            ("\u{80}\u{9f}", "'\\x80\\x9f'"),
            ("nb\u{a0}sp", "'nb\\xa0sp'"),
            ("\u{ad}", "'\\xad'"),
            ("é ü ß", "'é ü ß'"),
            ("中文 の ж", "'中文 の ж'"),
            ("\u{2028}\u{2029}", "'\\u2028\\u2029'"),
            ("\u{200b}\u{feff}", "'\\u200b\\ufeff'"),
            ("\u{3000}", "'\\u3000'"),
            ("\u{e000}", "'\\ue000'"),
            ("\u{378}", "'\\u0378'"),
            ("\u{10ffff}", "'\\U0010ffff'"),
            ("\u{e0001}", "'\\U000e0001'"),
            ("😀", "'😀'"),
            ("<|im_start|>'\"", "'<|im_start|>\\'\"'"),
        ];
        for (s, want) in cases {
            assert_eq!(py_repr(s), *want, "{s:?}");
        }
    }

    #[test]
    fn disallowed_message_is_tiktokens() {
        let e = disallowed("<|endoftext|>");
        assert_eq!(e.kind(), ErrorKind::DisallowedSpecial);
        assert_eq!(
            e.message(),
            "Encountered text corresponding to disallowed special token '<|endoftext|>'.\n\
             If you want this text to be encoded as a special token, pass it to `allowed_special`, \
             e.g. `allowed_special={'<|endoftext|>', ...}`.\n\
             If you want this text to be encoded as normal text, disable the check for this token \
             by passing `disallowed_special=(enc.special_tokens_set - {'<|endoftext|>'})`.\n\
             To disable this check for all special tokens, pass `disallowed_special=()`.\n"
        );
        assert!(disallowed("it's").message().contains("token \"it's\".\n"));
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
        // A guard against the quadratic search, not a speed check.
        let (tok, text, ids) = within(10, "encode", move || {
            let ids = tok.encode(&text, Allowed::All).unwrap();
            (tok, text, ids)
        });
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
    }
}
