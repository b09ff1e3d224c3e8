//! Ids back to bytes, and the ranks out in tiktoken's format.

use super::Tokenizer;
use crate::error::{Error, ErrorKind, Result};
use crate::ranks;

/// Bytes that [`Tokenizer::decode`] moves per token of up to this length: the token
/// table ends with as many bytes of padding, so a move from any token's start stays in it.
pub(super) const DECODE_CHUNK: usize = 16;

impl Tokenizer {
    /// Decodes ids to bytes (which need not be valid UTF-8).
    ///
    /// Two passes: the length (and the first id that is not a token), then each token
    /// moved as [`DECODE_CHUNK`] bytes from its start into room with that much to spare,
    /// cut back at the end: a move of a fixed size is a pair of register loads and
    /// stores, one of the token's size a call (most tokens have 2 to 8 bytes).
    ///
    /// # Errors
    /// [`ErrorKind::UnknownToken`] naming the first id that is not a token.
    pub fn decode(&self, ids: &[u32]) -> Result<Vec<u8>> {
        let mut total = 0;
        for &id in ids {
            let bytes = self.token_bytes(id).ok_or_else(|| {
                Error::new(ErrorKind::UnknownToken, format!("token id {id} is not in the vocabulary"))
            })?;
            total += bytes.len();
        }
        let mut out = vec![0; total + DECODE_CHUNK];
        let mut at = 0;
        for &id in ids {
            // (every id is a token: the first pass found them all)
            let (s, e) = (self.starts[id as usize], self.starts[id as usize + 1]);
            if e - s <= DECODE_CHUNK {
                out[at..at + DECODE_CHUNK].copy_from_slice(&self.token_data[s..s + DECODE_CHUNK]);
            } else {
                out[at..at + e - s].copy_from_slice(&self.token_data[s..e]);
            }
            at += e - s;
        }
        out.truncate(total);
        Ok(out)
    }

    /// The ranks in tiktoken's `.tiktoken` format, sorted by rank.
    pub fn export_tiktoken(&self) -> Vec<u8> {
        ranks::write_tiktoken(self.tokens())
    }

    /// The merge rule of each token of two or more bytes that merging its own bytes
    /// makes: `(left, right, token)`, in the token's rank order (the merge list of a
    /// merges-based BPE such as HF tokenizers' `BPE` model). The pair is where byte-pair
    /// merging of the token's bytes, with the tokens ranked below it, stops at two
    /// parts. A token that merging does not reach that way (its bytes end in more than
    /// two parts) has no rule: such a token is only ever a whole piece.
    pub fn merge_rules(&self) -> Vec<(u32, u32, u32)> {
        let mut by_rank: Vec<(u32, &[u8])> =
            self.tokens().map(|(b, id)| (id, b)).filter(|t| t.1.len() >= 2).collect();
        by_rank.sort_unstable_by_key(|t| t.0);
        let mut rules = Vec::with_capacity(by_rank.len());
        let mut parts: Vec<usize> = Vec::new(); // start offsets of the parts
        for (id, bytes) in by_rank {
            parts.clear();
            parts.extend(0..bytes.len());
            let rank_of = |parts: &[usize], i: usize| {
                let end = parts.get(i + 2).copied().unwrap_or(bytes.len());
                self.token_id(&bytes[parts[i]..end]).filter(|&r| r < id)
            };
            while parts.len() > 2 {
                let best = (0..parts.len() - 1).filter_map(|i| rank_of(&parts, i).map(|r| (r, i))).min();
                let Some((_, i)) = best else { break };
                parts.remove(i + 1);
            }
            if parts.len() == 2 {
                let (left, right) = (self.token_id(&bytes[..parts[1]]), self.token_id(&bytes[parts[1]..]));
                if let (Some(l), Some(r)) = (left, right) {
                    rules.push((l, r, id));
                }
            }
        }
        rules
    }
}

/// What a [`StreamDecoder`] gives for bytes that are not UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Utf8Mode {
    /// Each maximal ill-formed subsequence becomes U+FFFD (as Python's
    /// `decode("utf-8", "replace")` and Rust's `from_utf8_lossy` do): always UTF-8.
    #[default]
    Replace,
    /// An [`ErrorKind::InvalidUtf8`] error, and the decoder is left as it was.
    Strict,
    /// The bytes as they are (for a host that applies its own error handling: the
    /// pieces are cut where decoding them one by one gives what decoding the whole would).
    Bytes,
}

/// Decodes ids as they arrive (a server streaming tokens), giving the text that each
/// new id completes. A token can end inside a UTF-8 character; the decoder holds such an
/// incomplete tail back (at most 3 bytes) until the ids after it complete it, or until
/// [`StreamDecoder::flush`]. The pieces it gives, concatenated, equal
/// [`Tokenizer::decode`] of all the ids, decoded in the same [`Utf8Mode`], because it
/// only ever holds back a *valid* incomplete sequence, which starts with a lead byte: no
/// ill-formed subsequence in what it gave can extend into what it held.
///
/// It holds no tokenizer: each call takes the one to decode with.
#[derive(Debug, Clone, Default)]
pub struct StreamDecoder {
    /// The held-back tail: a valid, incomplete UTF-8 sequence (empty in [`Utf8Mode::Bytes`]
    /// only if no tail is incomplete).
    pending: Vec<u8>,
}

impl StreamDecoder {
    /// A decoder with nothing held back.
    pub fn new() -> StreamDecoder {
        StreamDecoder::default()
    }

    /// Appends the bytes of `ids`, and returns what is complete: everything but a
    /// trailing incomplete character (nothing, if the ids end inside the first one).
    ///
    /// # Errors
    /// [`ErrorKind::UnknownToken`] naming the first unknown id; [`ErrorKind::InvalidUtf8`]
    /// in [`Utf8Mode::Strict`] for ill-formed bytes. On error the decoder is unchanged.
    pub fn add(&mut self, tok: &Tokenizer, ids: &[u32], mode: Utf8Mode) -> Result<Vec<u8>> {
        let mut bytes = self.pending.clone();
        bytes.extend_from_slice(&tok.decode(ids)?);
        let cut = bytes.len() - incomplete_tail(&bytes);
        let tail = bytes[cut..].to_vec();
        bytes.truncate(cut);
        let out = finish(bytes, mode)?;
        self.pending = tail;
        Ok(out)
    }

    /// Gives the held-back tail (an incomplete character: U+FFFD in [`Utf8Mode::Replace`])
    /// and empties the decoder.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidUtf8`] in [`Utf8Mode::Strict`] if a tail is held back; the
    /// decoder is then unchanged.
    pub fn flush(&mut self, mode: Utf8Mode) -> Result<Vec<u8>> {
        let out = finish(self.pending.clone(), mode)?;
        self.pending.clear();
        Ok(out)
    }

    /// The bytes held back (an incomplete character), at most 3.
    pub fn pending(&self) -> &[u8] {
        &self.pending
    }
}

/// The length of the valid but incomplete UTF-8 sequence `bytes` ends with (0 if none).
fn incomplete_tail(bytes: &[u8]) -> usize {
    (1..=3.min(bytes.len()))
        .find(|&k| {
            std::str::from_utf8(&bytes[bytes.len() - k..])
                .is_err_and(|e| e.valid_up_to() == 0 && e.error_len().is_none())
        })
        .unwrap_or(0)
}

/// `bytes` as `mode` says.
fn finish(bytes: Vec<u8>, mode: Utf8Mode) -> Result<Vec<u8>> {
    match mode {
        Utf8Mode::Bytes => Ok(bytes),
        Utf8Mode::Strict => match String::from_utf8(bytes) {
            Ok(text) => Ok(text.into_bytes()),
            Err(e) => {
                let at = e.utf8_error().valid_up_to();
                Err(Error::new(
                    ErrorKind::InvalidUtf8,
                    format!("the decoded bytes are not UTF-8 (at byte {at} of this piece)"),
                ))
            }
        },
        Utf8Mode::Replace => Ok(match String::from_utf8(bytes) {
            Ok(text) => text.into_bytes(),
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned().into_bytes(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn merge_rules_follow_the_merge_order() {
        // toy: bytes, then "ab" 256, "abc" 257, "aa" 258, "aaaa" 259, "ca" 260.
        let rules = toy().merge_rules();
        let (a, b, c) = (u32::from(b'a'), u32::from(b'b'), u32::from(b'c'));
        assert_eq!(rules, [(a, b, 256), (256, c, 257), (a, a, 258), (258, 258, 259), (c, a, 260)]);
    }

    #[test]
    fn unknown_id_is_an_error() {
        let e = toy().decode(&[97, 99999]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::UnknownToken);
        assert!(e.message().contains("99999"));
    }

    /// Everything `ids` give through a stream decoder, id by id, then flushed.
    fn streamed(t: &Tokenizer, ids: &[u32], mode: Utf8Mode) -> Result<Vec<u8>> {
        let mut d = StreamDecoder::new();
        let mut out = Vec::new();
        for &id in ids {
            out.extend(d.add(t, &[id], mode)?);
            assert!(d.pending().len() <= 3);
        }
        out.extend(d.flush(mode)?);
        Ok(out)
    }

    #[test]
    fn stream_holds_back_an_incomplete_character() {
        let t = toy();
        let mut d = StreamDecoder::new();
        // "\u{4f60}" is e4 bd a0: one byte token each in the toy vocabulary.
        assert_eq!(d.add(&t, &[u32::from(b'a'), 0xe4], Utf8Mode::Replace).unwrap(), b"a");
        assert_eq!(d.pending(), [0xe4]);
        assert_eq!(d.add(&t, &[0xbd], Utf8Mode::Replace).unwrap(), b"");
        assert_eq!(d.add(&t, &[0xa0, u32::from(b'b')], Utf8Mode::Replace).unwrap(), "\u{4f60}b".as_bytes());
        assert!(d.pending().is_empty());
        // A lead byte then ASCII: ill-formed, given at once as U+FFFD.
        assert_eq!(d.add(&t, &[0xe4, u32::from(b'c')], Utf8Mode::Replace).unwrap(), "\u{fffd}c".as_bytes());
        // Flushed while incomplete.
        assert_eq!(d.add(&t, &[0xf0, 0x9f], Utf8Mode::Replace).unwrap(), b"");
        assert_eq!(d.flush(Utf8Mode::Bytes).unwrap(), [0xf0, 0x9f]);
        assert_eq!(d.flush(Utf8Mode::Replace).unwrap(), b"", "flush empties it");
    }

    #[test]
    fn stream_errors_leave_the_decoder_unchanged() {
        let t = toy();
        let mut d = StreamDecoder::new();
        assert_eq!(d.add(&t, &[0xe4], Utf8Mode::Strict).unwrap(), b"");
        assert_eq!(d.add(&t, &[0xbd, 99999], Utf8Mode::Strict).unwrap_err().kind(), ErrorKind::UnknownToken);
        assert_eq!(d.pending(), [0xe4]);
        let e = d.add(&t, &[u32::from(b'x')], Utf8Mode::Strict).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidUtf8);
        assert_eq!(d.pending(), [0xe4]);
        assert_eq!(d.flush(Utf8Mode::Strict).unwrap_err().kind(), ErrorKind::InvalidUtf8);
        assert_eq!(d.flush(Utf8Mode::Replace).unwrap(), "\u{fffd}".as_bytes());
    }

    proptest! {
        #[test]
        fn stream_equals_whole_decode(ids in proptest::collection::vec(
            prop_oneof![0u32..256, 256u32..300, Just(u32::from(b' '))], 0..40)) {
            let t = toy();
            let ids: Vec<u32> = ids.into_iter().filter(|&id| t.token_bytes(id).is_some()).collect();
            let whole = t.decode(&ids).unwrap();
            prop_assert_eq!(streamed(&t, &ids, Utf8Mode::Bytes).unwrap(), whole.clone());
            prop_assert_eq!(
                streamed(&t, &ids, Utf8Mode::Replace).unwrap(),
                String::from_utf8_lossy(&whole).into_owned().into_bytes()
            );
            prop_assert_eq!(streamed(&t, &ids, Utf8Mode::Strict).is_ok(), std::str::from_utf8(&whole).is_ok());
        }

        #[test]
        fn roundtrip_any_text(s in "\\PC*") {
            let t = toy();
            let ids = t.encode_ordinary(&s).unwrap();
            prop_assert_eq!(t.decode(&ids).unwrap(), s.as_bytes());
        }
    }
}
