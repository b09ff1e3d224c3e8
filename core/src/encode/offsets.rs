//! Where each token of an encoded text lies in the text.
//!
//! Encoding loses nothing: the tokens' bytes, in order, are the text's bytes (a special
//! token's bytes are its text). So a token's byte span is the running sum of the
//! lengths before it, and needs no bookkeeping inside the encoder. Character spans count
//! a character from its first byte: a token that starts inside a character (a
//! multi-byte character split between tokens) starts at that character, and one that
//! ends inside a character ends after it, so a span holds every character the token
//! has bytes of. The starts are those of tiktoken's `decode_with_offsets`.
//!
//! A tokenizer that normalizes encodes normalized text; spans are still given in the
//! input. Where normalization changed the text, every token of a changed segment (see
//! `normalize`) spans that segment's input, so such spans may overlap.

use super::normalize::Normalized;
use super::{Sink, SpecialPolicy, Tokenizer};
use crate::error::Result;

/// The unit of [`Tokenizer::encode_with_offsets`]' offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetUnit {
    /// Bytes of the UTF-8 text.
    Byte,
    /// Characters (Unicode scalar values), as Python indexes a `str`.
    Char,
}

/// Tokens with the span of the text each covers: `ids[i]` covers `starts[i]..ends[i]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Spans {
    pub ids: Vec<u32>,
    pub starts: Vec<usize>,
    pub ends: Vec<usize>,
}

/// Collects ids and the byte span of each: a piece's tokens follow one another from
/// where the piece lies in the text, a special token spans the text that matched.
struct SpanSink {
    /// The address of the encoded text: pieces and matches are parts of it.
    base: usize,
    ids: Vec<u32>,
    spans: Vec<(usize, usize)>,
}

impl SpanSink {
    fn offset(&self, part: &[u8]) -> usize {
        (part.as_ptr() as usize).wrapping_sub(self.base)
    }
}

impl Sink for SpanSink {
    fn piece(&mut self, tok: &Tokenizer, piece: &[u8]) {
        let (before, mut at) = (self.ids.len(), self.offset(piece));
        tok.encode_piece(piece, &mut self.ids);
        for &id in &self.ids[before..] {
            let n = tok.token_bytes(id).map_or(0, <[u8]>::len);
            self.spans.push((at, at + n));
            at += n;
        }
    }

    fn special(&mut self, id: u32, text: &str) {
        let at = self.offset(text.as_bytes());
        self.ids.push(id);
        self.spans.push((at, at + text.len()));
    }

    fn normalized(&mut self, tok: &Tokenizer, input: &str, normalized: &Normalized) -> Result<()> {
        // Spans in the normalized text first, then moved to where they lie in the input.
        let (base, before, at) = (self.base, self.spans.len(), self.offset(input.as_bytes()));
        self.base = normalized.text.as_ptr() as usize;
        let result = tok.encode_split(&normalized.text, self);
        self.base = base;
        for span in &mut self.spans[before..] {
            *span = (at + normalized.input_start(span.0), at + normalized.input_end(span.1));
        }
        result
    }
}

impl Tokenizer {
    /// [`Tokenizer::encode_with`], with the span of `text` each token covers, in `unit`s.
    /// In bytes, `text[starts[i]..ends[i]]` is token `i`'s bytes (for a special token,
    /// the text that matched: two texts may share its id); the spans tile the text
    /// where the pattern matches all of it (as every named pattern does: text no match
    /// covers has no token, as in tiktoken). In characters, a span holds every character
    /// token `i` has a byte of (so a character split between two tokens is in both spans).
    ///
    /// # Errors
    /// As [`Tokenizer::encode_with`].
    pub fn encode_with_offsets(
        &self,
        text: &str,
        policy: &SpecialPolicy<'_>,
        unit: OffsetUnit,
    ) -> Result<Spans> {
        self.check_disallowed(text, policy)?;
        let mut sink = SpanSink { base: text.as_ptr() as usize, ids: Vec::new(), spans: Vec::new() };
        self.encode_into_inner(text, policy.allowed, &mut sink)?;
        let SpanSink { ids, spans, .. } = sink;
        let (starts, ends) = match unit {
            OffsetUnit::Byte => spans.into_iter().unzip(),
            OffsetUnit::Char => {
                // `chars`: characters starting before byte `at`. A span from byte s to e
                // starts at the character holding byte s and ends after the one holding
                // byte e - 1 (tokens are never empty; spans come in order, and overlap
                // only where normalization changed the text, so `at` moves back little).
                let bytes = text.as_bytes();
                let count = |b: &[u8]| b.iter().filter(|&&b| !is_continuation(b)).count();
                let (mut at, mut chars) = (0usize, 0usize);
                let mut upto = |to: usize| {
                    if to >= at {
                        chars += count(&bytes[at..to]);
                    } else {
                        chars -= count(&bytes[to..at]);
                    }
                    at = to;
                    chars
                };
                spans.into_iter().map(|(s, e)| (upto(s + 1) - 1, upto(e))).unzip()
            }
        };
        Ok(Spans { ids, starts, ends })
    }
}

/// Whether `b` continues a multi-byte UTF-8 character.
fn is_continuation(b: u8) -> bool {
    b & 0xC0 == 0x80
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::encode::{Allowed, Disallowed};
    use proptest::prelude::*;

    fn all() -> SpecialPolicy<'static> {
        SpecialPolicy { allowed: Allowed::All, disallowed: Disallowed::None }
    }

    #[test]
    fn byte_spans_tile_the_text() {
        let t = with_specials();
        let text = "hi <|end|> 你好 there";
        let s = t.encode_with_offsets(text, &all(), OffsetUnit::Byte).unwrap();
        assert_eq!(s.ids, t.encode_with(text, &all()).unwrap());
        let mut at = 0;
        for ((&id, &start), &end) in s.ids.iter().zip(&s.starts).zip(&s.ends) {
            assert_eq!((start, &text.as_bytes()[start..end]), (at, t.token_bytes(id).unwrap()));
            at = end;
        }
        assert_eq!(at, text.len());
    }

    #[test]
    fn a_special_token_spans_the_text_that_matched() {
        let t =
            toy().with_special_tokens(vec![("<|longer_name|>".into(), 300), ("<|s|>".into(), 300)]).unwrap();
        for unit in [OffsetUnit::Byte, OffsetUnit::Char] {
            let s = t.encode_with_offsets("ab<|s|>c", &all(), unit).unwrap();
            assert_eq!(s.ids, [256, 300, u32::from(b'c')]);
            assert_eq!((s.starts, s.ends), (vec![0, 2, 7], vec![2, 7, 8]));
        }
    }

    #[test]
    fn text_no_match_covers_leaves_a_gap() {
        let t = Tokenizer::from_ranks(bytes_and([]), crate::Pattern::new(r"\w+").unwrap()).unwrap();
        let s = t.encode_with_offsets("ab, c", &all(), OffsetUnit::Byte).unwrap();
        assert_eq!((s.starts, s.ends), (vec![0, 1, 4], vec![1, 2, 5]));
    }

    #[test]
    fn a_split_character_is_in_both_char_spans() {
        let t = toy(); // byte tokens only for "你" (e4 bd a0)
        let s = t.encode_with_offsets("a你b", &all(), OffsetUnit::Char).unwrap();
        assert_eq!(s.ids.len(), 5);
        assert_eq!(s.starts, [0, 1, 1, 1, 2]);
        assert_eq!(s.ends, [1, 2, 2, 2, 3]);
    }

    #[test]
    fn normalized_tokens_span_the_input_they_came_from() {
        let t = with_specials().with_normalization(crate::Normalization::Nfc);
        // "é" (two bytes, c3 a9) encodes from "e" + U+0301 (three bytes); the special token
        // is found in the text as given, U+0338 after it stays alone (not "≯").
        let text = "abe\u{301}c<|end|>\u{338}";
        let s = t.encode_with_offsets(text, &all(), OffsetUnit::Byte).unwrap();
        assert_eq!(s.ids, t.encode_with(text, &all()).unwrap());
        assert_eq!(t.decode(&s.ids).unwrap(), "abéc<|end|>\u{338}".as_bytes());
        assert_eq!(s.ids, [256, 0xc3, 0xa9, u32::from(b'c'), 300, 0xcc, 0xb8]);
        assert_eq!(s.starts, [0, 2, 2, 5, 6, 13, 14]);
        assert_eq!(s.ends, [2, 5, 5, 6, 13, 14, 15]);
        let c = t.encode_with_offsets(text, &all(), OffsetUnit::Char).unwrap();
        assert_eq!(c.starts, [0, 2, 2, 4, 5, 12, 12]);
        assert_eq!(c.ends, [2, 4, 4, 5, 12, 13, 13]);
        // Without normalization the same text keeps its combining mark.
        assert_ne!(with_specials().encode_with(text, &all()).unwrap(), s.ids);
    }

    proptest! {
        #[test]
        fn char_spans_hold_each_tokens_characters(text in "\\PC{0,30}") {
            let t = toy();
            let s = t.encode_with_offsets(&text, &all(), OffsetUnit::Char).unwrap();
            let b = t.encode_with_offsets(&text, &all(), OffsetUnit::Byte).unwrap();
            let chars: Vec<(usize, char)> = text.char_indices().collect();
            for i in 0..s.ids.len() {
                // The characters with a byte in the token's byte span are exactly the span.
                let touched: Vec<usize> = chars.iter().enumerate()
                    .filter(|(_, (at, c))| *at < b.ends[i] && at + c.len_utf8() > b.starts[i])
                    .map(|(k, _)| k).collect();
                prop_assert_eq!(touched.first().copied(), Some(s.starts[i]));
                prop_assert_eq!(touched.last().map(|k| k + 1), Some(s.ends[i]));
            }
        }
    }
}
