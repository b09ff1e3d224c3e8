//! Unicode normalization before splitting, for tokenizers whose files ask for it (HF
//! `tokenizer.json`'s `NFC` normalizer, as Qwen's tokenizers have).
//!
//! Normalization applies to ordinary text only: special tokens are found in the text as
//! given, and each stretch of ordinary text between them is normalized on its own (HF's
//! order for added tokens that are not `normalized`). Decoding gives the normalized text.
//!
//! Design notes
//! - Most text is already NFC. The quick check (one table lookup per non-ASCII
//!   character, none per ASCII byte) answers "yes" for it, and the text is encoded in
//!   place with no copy.
//! - Otherwise the text is cut into segments that normalize independently: a segment
//!   starts at each *stable* character (canonical combining class 0 and NFC quick check
//!   "yes": nothing before it can compose with it or reorder across it, and it is its own
//!   NFC). Segments of one stable character are copied; the rest are normalized alone.
//!   The concatenation is the NFC of the whole (tested against whole-text NFC below).
//! - The segments that changed are kept (where they lie in the input and in the output),
//!   so that offsets can be given in the input: a token inside a changed segment spans
//!   the whole segment of the input it came from.

use std::ops::Range;

use unicode_normalization::char::canonical_combining_class;
use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};

/// The Unicode normalization a tokenizer applies to ordinary text before splitting it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Normalization {
    /// None: the text is split as given (tiktoken, and every OpenAI encoding).
    #[default]
    None,
    /// Canonical composition, NFC (Unicode Standard Annex #15).
    Nfc,
}

impl Normalization {
    /// `"none"` or `"nfc"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Normalization::None => "none",
            Normalization::Nfc => "nfc",
        }
    }
}

/// Ordinary text after a normalization that changed it.
pub(crate) struct Normalized {
    /// The normalized text.
    pub(crate) text: String,
    /// The segments that changed, in order: `(in text, in the input)`.
    changed: Vec<(Range<usize>, Range<usize>)>,
}

impl Normalized {
    /// Where byte `at` of [`Normalized::text`], as a token's start, lies in the input:
    /// a start inside a changed segment moves to the segment's start.
    pub(crate) fn input_start(&self, at: usize) -> usize {
        match self.changed.partition_point(|(n, _)| n.start <= at) {
            0 => at,
            k => {
                let (n, i) = &self.changed[k - 1];
                if at < n.end {
                    i.start
                } else {
                    i.end + (at - n.end)
                }
            }
        }
    }

    /// Where byte `at` of [`Normalized::text`], as a token's end, lies in the input: an
    /// end inside a changed segment moves to the segment's end.
    pub(crate) fn input_end(&self, at: usize) -> usize {
        match self.changed.partition_point(|(n, _)| n.start < at) {
            0 => at,
            k => {
                let (n, i) = &self.changed[k - 1];
                if at <= n.end {
                    i.end
                } else {
                    i.end + (at - n.end)
                }
            }
        }
    }
}

/// Whether NFC can treat `c` as a boundary: nothing before it interacts with it.
fn is_stable(c: char) -> bool {
    c.is_ascii()
        || (canonical_combining_class(c) == 0 && is_nfc_quick(std::iter::once(c)) == IsNormalized::Yes)
}

/// `text` in NFC, or `None` if it is already.
pub(crate) fn nfc(text: &str) -> Option<Normalized> {
    if is_nfc_quick(text.chars()) == IsNormalized::Yes {
        return None;
    }
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    let mut changed = Vec::new();
    let mut flush = |seg: Range<usize>, unstable: bool, out: &mut String| {
        let from = out.len();
        if unstable {
            out.extend(text[seg.clone()].nfc());
            if out[from..] != text[seg.clone()] {
                changed.push((from..out.len(), seg));
            }
        } else {
            out.push_str(&text[seg]);
        }
    };
    let (mut start, mut unstable) = (0, false);
    for (i, c) in text.char_indices() {
        if is_stable(c) {
            if i > start {
                flush(start..i, unstable, &mut out);
                (start, unstable) = (i, false);
            }
        } else {
            unstable = true;
        }
    }
    flush(start..text.len(), unstable, &mut out);
    (!changed.is_empty()).then_some(Normalized { text: out, changed })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn whole(text: &str) -> String {
        text.nfc().collect()
    }

    #[test]
    fn nfc_text_is_left_alone() {
        for text in ["", "plain ascii", "café", "日本語", "한국어", "\u{1e0c}\u{307}"] {
            assert_eq!(whole(text), text);
            assert!(nfc(text).is_none(), "{text:?}");
        }
    }

    #[test]
    fn decomposed_text_is_composed_and_mapped_back() {
        // "e" + combining acute (3 bytes in) becomes "é" (2 bytes out).
        let text = "cafe\u{301} noir";
        let n = nfc(text).unwrap();
        assert_eq!(n.text, "café noir");
        assert_eq!(n.text, whole(text));
        // "caf" maps to itself; "é" (bytes 3..5) to "e\u{301}" (3..6); " noir" shifts by 1.
        assert_eq!((n.input_start(0), n.input_end(3)), (0, 3));
        assert_eq!((n.input_start(3), n.input_end(5)), (3, 6));
        assert_eq!((n.input_start(4), n.input_end(4)), (3, 6));
        assert_eq!((n.input_start(5), n.input_end(n.text.len())), (6, text.len()));
        // Reordering marks and Hangul jamo, which compose starter with starter.
        for text in
            ["a\u{323}\u{302}b", "a\u{302}\u{323}", "\u{1100}\u{1161}\u{11a8}", "\u{212b}", "x\u{301}"]
        {
            let n = nfc(text).map_or_else(|| text.to_owned(), |n| n.text);
            assert_eq!(n, whole(text), "{text:?}");
        }
    }

    /// Characters where composition happens: bases, marks in several classes, Hangul
    /// jamo and syllables, singletons, exclusions, Indic two-part vowels.
    const ALPHABET: &[char] = &[
        'a', 'e', 'o', 'A', ' ', '>', '\u{300}', '\u{301}', '\u{308}', '\u{323}', '\u{327}', '\u{338}',
        '\u{345}', '\u{3b1}', '\u{1100}', '\u{1161}', '\u{11a8}', '\u{ac00}', '\u{212b}', '\u{2126}',
        '\u{958}', '\u{93c}', '\u{915}', '\u{b47}', '\u{b3e}', '\u{b57}', '\u{cc6}', '\u{cc2}', '\u{cd5}',
        '\u{1f80}', '\u{e9}', '中',
    ];

    proptest! {
        #[test]
        fn segmentwise_equals_whole_text_nfc(ix in proptest::collection::vec(0..ALPHABET.len(), 0..24)) {
            let text: String = ix.iter().map(|&i| ALPHABET[i]).collect();
            let n = nfc(&text);
            let got = n.as_ref().map_or(text.as_str(), |n| n.text.as_str());
            prop_assert_eq!(got, whole(&text));
            if let Some(n) = n {
                // Mapped spans stay inside the input, in order, at character boundaries.
                let mut last = 0;
                for at in 0..=n.text.len() {
                    if n.text.is_char_boundary(at) {
                        let (s, e) = (n.input_start(at), n.input_end(at));
                        prop_assert!(s <= e && e <= text.len() && s >= last);
                        prop_assert!(text.is_char_boundary(s) && text.is_char_boundary(e));
                        last = s;
                    }
                }
                prop_assert_eq!(n.input_end(n.text.len()), text.len());
            }
        }

        #[test]
        fn any_text(text in "\\PC{0,40}") {
            let got = nfc(&text).map_or_else(|| text.clone(), |n| n.text);
            prop_assert_eq!(got, whole(&text));
        }
    }
}
