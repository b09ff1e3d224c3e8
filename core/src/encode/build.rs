//! Building a tokenizer: ranks (from pairs or a `.tiktoken` file) and special tokens,
//! validated so that every later call can trust the tables.

use hashbrown::{HashMap, HashSet};
use once_cell::race::OnceBox;

use super::decode::DECODE_CHUNK;
use super::{Specials, Tokenizer};
use crate::bytemap::{BytesMap, Key, RankMap};
use crate::error::{Error, Result};
use crate::pattern::Pattern;
use crate::ranks;

/// A rank table larger than this many ids per token is refused as implausibly sparse
/// (it would make the id-indexed decode table huge).
const MAX_SPARSITY: usize = 4;

static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// A number never returned twice in this process.
pub(crate) fn unique_id() -> u64 {
    NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl Tokenizer {
    /// Builds a tokenizer from `(token bytes, rank)` pairs and a pattern.
    ///
    /// The pairs are read like a Python dict built from them, which is what tiktoken
    /// does: if the same bytes appear twice, the later rank wins.
    ///
    /// # Errors
    /// [`ErrorKind::BadRanks`](crate::ErrorKind::BadRanks) if the table is empty, has an empty token, gives two
    /// tokens the same rank, lacks one of the 256 single bytes (byte-level BPE needs each
    /// of them to encode arbitrary text), or is implausibly sparse.
    pub fn from_ranks(pairs: Vec<(Vec<u8>, u32)>, pattern: Pattern) -> Result<Self> {
        let mut encoder: BytesMap<u32> = BytesMap::with_capacity(pairs.len());
        for (token, rank) in pairs {
            if token.is_empty() {
                return Err(Error::bad_ranks("ranks contain an empty token"));
            }
            encoder.insert(&token, rank);
        }
        let Some(&max_rank) = encoder.values().max() else {
            return Err(Error::bad_ranks("ranks are empty"));
        };
        let n_ids = max_rank as usize + 1;
        if n_ids > encoder.len().saturating_mul(MAX_SPARSITY).max(1 << 16) {
            return Err(Error::bad_ranks(format!(
                "ranks are too sparse: {} tokens but a largest rank of {max_rank}",
                encoder.len()
            )));
        }
        let mut by_rank: Vec<(u32, Key<'_>)> = encoder.iter().map(|(k, &r)| (r, k)).collect();
        by_rank.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| (*a.1).cmp(&*b.1)));
        for w in by_rank.windows(2) {
            if w[0].0 == w[1].0 {
                let (a, b) = (String::from_utf8_lossy(&w[0].1), String::from_utf8_lossy(&w[1].1));
                return Err(Error::bad_ranks(format!(
                    "rank {} is given to two tokens ({a:?} and {b:?})",
                    w[0].0
                )));
            }
        }
        let mut byte_ranks = [0u32; 256];
        for (b, slot) in byte_ranks.iter_mut().enumerate() {
            *slot = *encoder.get(&[b as u8][..]).ok_or_else(|| {
                Error::bad_ranks(format!(
                    "ranks lack the single byte 0x{b:02x}; byte-level BPE needs all 256"
                ))
            })?;
        }
        let mut starts = Vec::with_capacity(n_ids + 1);
        let mut token_data = Vec::new();
        let mut next = by_rank.iter().peekable();
        for id in 0..n_ids as u32 {
            starts.push(token_data.len());
            if let Some((_, token)) = next.next_if(|(r, _)| *r == id) {
                token_data.extend_from_slice(token);
            }
        }
        starts.push(token_data.len());
        token_data.extend_from_slice(&[0; DECODE_CHUNK]);
        drop(by_rank);
        let mut pair2 = vec![u32::MAX; 1 << 16];
        for (token, &rank) in encoder.iter() {
            if let [a, b] = *token {
                pair2[usize::from(a) << 8 | usize::from(b)] = rank;
            }
        }
        let mut joins = vec![0u64; (1 << 16) / 64].into_boxed_slice();
        for w in starts.windows(2) {
            for pair in token_data[w[0]..w[1]].windows(2) {
                let bit = usize::from(pair[0]) << 8 | usize::from(pair[1]);
                joins[bit / 64] |= 1 << (bit % 64);
            }
        }
        let encoder = RankMap::new(&encoder);
        let id = unique_id();
        let max_token_len = starts.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(1);
        Ok(Tokenizer {
            id,
            normalization: super::Normalization::None,
            pattern,
            encoder,
            starts,
            token_data,
            byte_ranks,
            pair2,
            joins,
            max_token_len,
            specials: Specials::default(),
            trie: OnceBox::new(),
            long_merges: OnceBox::new(),
            sorted_ranks: OnceBox::new(),
            made: OnceBox::new(),
            cuts: OnceBox::new(),
        })
    }

    /// Adds special tokens `(text, id)`, replacing any the tokenizer had. Two texts may
    /// share an id, as in tiktoken (o200k_harmony gives 200018 to `<|endofprompt|>` and
    /// `<|reserved_200018|>`): each encodes to it, and it decodes to the first given.
    /// (tiktoken decodes such an id to one of them, as its hash table's order has it.)
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArg`](crate::ErrorKind::InvalidArg) for an empty or repeated text, or an id that is
    /// already a rank.
    pub fn with_special_tokens(mut self, tokens: Vec<(String, u32)>) -> Result<Self> {
        let old: HashSet<u32> = self.specials.tokens.iter().map(|t| t.1).collect();
        let mut by_text = HashMap::with_capacity(tokens.len());
        for (text, id) in &tokens {
            if text.is_empty() {
                return Err(Error::invalid_arg("a special token is the empty string"));
            }
            if by_text.insert(text.clone().into_boxed_str(), *id).is_some() {
                return Err(Error::invalid_arg(format!("special token {text:?} is given twice")));
            }
            if self.token_bytes(*id).is_some() && !old.contains(id) {
                return Err(Error::invalid_arg(format!(
                    "special token {text:?} has id {id}, which is already the rank of a token"
                )));
            }
        }
        let max_id = tokens.iter().map(|t| t.1).max().unwrap_or(0) as usize;
        if max_id + 1 > self.vocab_size() {
            let limit = (self.encoder.len() + tokens.len()).saturating_mul(MAX_SPARSITY).max(1 << 16);
            if max_id + 1 > limit {
                return Err(Error::invalid_arg(format!("special token id {max_id} is implausibly large")));
            }
        }
        let mut sorted: Vec<(Box<str>, u32)> =
            tokens.into_iter().map(|(t, id)| (t.into_boxed_str(), id)).collect();
        // (A stable sort: texts of one id stay in the order given.)
        sorted.sort_by_key(|t| t.1);
        // The id table again, in one pass (a long special token or many of them cost
        // their length once): the old special tokens out, the new ones in.
        let n_ids = self.vocab_size().max(max_id + 1);
        let mut starts = Vec::with_capacity(n_ids + 1);
        let mut token_data = Vec::with_capacity(
            self.token_data.len() + sorted.iter().map(|t| t.0.len()).sum::<usize>() + DECODE_CHUNK,
        );
        let mut new = sorted.iter().peekable();
        for id in 0..n_ids as u32 {
            starts.push(token_data.len());
            if let Some((text, _)) = new.next_if(|t| t.1 == id) {
                token_data.extend_from_slice(text.as_bytes());
                while new.next_if(|t| t.1 == id).is_some() {} // the id decodes to its first text
            } else if !old.contains(&id) {
                token_data.extend_from_slice(self.token_bytes(id).unwrap_or_default());
            }
        }
        starts.push(token_data.len());
        token_data.extend_from_slice(&[0; DECODE_CHUNK]);
        self.starts = starts;
        self.token_data = token_data;
        self.specials = Specials::new(sorted, by_text)?;
        Ok(self)
    }

    /// Builds a tokenizer from a `.tiktoken` rank file's contents.
    ///
    /// # Errors
    /// As [`ranks::parse_tiktoken`] and [`Tokenizer::from_ranks`].
    pub fn from_tiktoken(data: &[u8], pattern: Pattern) -> Result<Self> {
        Self::from_ranks(ranks::parse_tiktoken(data)?, pattern)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    #[test]
    fn rejects_bad_tables() {
        let p = Pattern::default_pattern;
        let bytes: Vec<(Vec<u8>, u32)> = (0..=255u8).map(|b| (vec![b], b as u32)).collect();
        let mut dup = bytes.clone();
        dup.push((b"xy".to_vec(), 5));
        assert!(Tokenizer::from_ranks(dup, p()).unwrap_err().message().contains("rank 5"));
        let missing = bytes[1..].to_vec();
        assert!(Tokenizer::from_ranks(missing, p()).unwrap_err().message().contains("0x00"));
        assert!(Tokenizer::from_ranks(vec![], p()).unwrap_err().message().contains("empty"));
        let mut sparse = bytes.clone();
        sparse.push((b"xy".to_vec(), 4_000_000_000));
        assert!(Tokenizer::from_ranks(sparse, p()).unwrap_err().message().contains("sparse"));
    }

    #[test]
    fn duplicate_bytes_last_wins_like_a_dict() {
        let mut pairs: Vec<(Vec<u8>, u32)> = (0..=255u8).map(|b| (vec![b], b as u32)).collect();
        pairs.push((b"ab".to_vec(), 256));
        pairs.push((b"ab".to_vec(), 257));
        let t = Tokenizer::from_ranks(pairs, Pattern::default_pattern()).unwrap();
        assert_eq!(t.token_id(b"ab"), Some(257));
        assert_eq!(t.token_bytes(256), None);
        assert_eq!(t.vocab_size(), 258);
    }

    #[test]
    fn texts_may_share_an_id() {
        let t = toy()
            .with_special_tokens(vec![("<b>".into(), 401), ("<a>".into(), 400), ("<c>".into(), 401)])
            .unwrap();
        assert_eq!((t.special_token_id("<b>"), t.special_token_id("<c>")), (Some(401), Some(401)));
        assert_eq!(t.token_bytes(401), Some(&b"<b>"[..]), "the first text given");
        assert_eq!(t.token_bytes(400), Some(&b"<a>"[..]));
        assert_eq!(t.special_tokens().len(), 3);
        let ids = t.encode("<c><a><b>", crate::Allowed::All).unwrap();
        assert_eq!(ids, [401, 400, 401]);
        assert_eq!(t.decode(&ids).unwrap(), b"<b><a><b>");
    }

    #[test]
    fn bad_special_tokens() {
        let e = |v: Vec<(String, u32)>| toy().with_special_tokens(v).unwrap_err().message().to_string();
        assert!(e(vec![("".into(), 400)]).contains("empty"));
        assert!(e(vec![("<a>".into(), 400), ("<a>".into(), 401)]).contains("twice"));
        assert!(e(vec![("<a>".into(), 97)]).contains("already the rank"));
        assert!(e(vec![("<a>".into(), u32::MAX)]).contains("implausibly"));
    }
}
