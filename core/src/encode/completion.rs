//! tiktoken's `encode_with_unstable`: the tokens of a text that typing more cannot
//! change, and the token sequences its unstable end could turn into.
//!
//! The text is encoded once, as [`Tokenizer::encode_with`] does, remembering how many
//! tokens the last piece gave. Those tokens, plus any whitespace-only tokens just
//! before them, are unstable; what they decode to is searched for completions, by brute
//! force as in tiktoken:
//! 1. every token whose bytes start with the unstable bytes;
//! 2. for every split of the unstable bytes into `prefix + suffix` and every token `t`
//!    that starts with `suffix`: `prefix + t` encoded (split with the pattern when it is
//!    UTF-8, one raw BPE merge when not), cut after the first token that reaches the
//!    end of the unstable bytes;
//! 3. if they end in a whitespace character after something else: that character and
//!    what precedes it merged apart (a continuation can split a whitespace run).
//!
//! Design notes
//! - Steps 1 and 2 need the rank tokens sorted by bytes. Sorting a large vocabulary
//!   costs far more than one call's search on a short text, and adding it to every
//!   tokenizer's construction would charge a rarely used call to all. The tokenizer
//!   builds it on first use and keeps it (published without a lock, like its other
//!   lazy tables). It holds rank ids only (4 bytes per token); bytes are read from the
//!   tokenizer.
//! - A call costs one encode of the text, then work that depends on the unstable bytes
//!   only: one binary search per split, and one encode of `prefix + t` per candidate.
//!   Splits whose suffix is longer than the longest token have no candidate and are
//!   skipped without searching.
//! - Candidates are encoded without the per-thread piece cache: they are thousands of
//!   one-off strings that would evict the pieces ordinary encoding reuses. Pieces after
//!   the cut are not merged at all. Instead, a per-call table ([`PrefixMerges`]) keeps
//!   the merge of each long piece that lies wholly inside the shared prefix, keyed by
//!   its position in the unstable bytes: candidates after a long whitespace run (which
//!   have tens of thousands of candidates) then split it but merge it once. It is not
//!   one of the per-thread caches: it lives for one call.
//! - tiktoken's `byte_pair_encode` (steps 2 on non-UTF-8 bytes, and 3) merges without
//!   first looking the whole input up as a token; `merge_raw` does the same.
//! - Completions come from a set in tiktoken, in hash order; here they are sorted and
//!   deduplicated so that results are reproducible.

use hashbrown::{HashMap, HashSet};

use super::{Sink, SpecialPolicy, Tokenizer};
use crate::error::Result;

/// Pieces at least this long are kept in [`PrefixMerges`] while encoding candidates
/// (shorter ones merge about as fast as they hash).
const PREFIX_MERGES_MIN: usize = 16;

/// Collects ids and remembers how many the last piece gave (0 after a special token).
struct LastPiece {
    ids: Vec<u32>,
    last: usize,
}

impl Sink for LastPiece {
    #[inline]
    fn piece(&mut self, tok: &Tokenizer, piece: &[u8]) {
        let before = self.ids.len();
        tok.encode_piece(piece, &mut self.ids);
        self.last = self.ids.len() - before;
    }

    fn special(&mut self, id: u32, _: &str) {
        self.ids.push(id);
        self.last = 0;
    }
}

impl Tokenizer {
    /// Encodes `text` for completion (tiktoken's `encode_with_unstable`): the tokens
    /// that no continuation of `text` can change, and every token sequence its remaining
    /// bytes could start with once more text follows.
    ///
    /// `text` is encoded as [`Tokenizer::encode_with`] encodes it. The tokens of its
    /// last piece, widened backwards over whitespace-only tokens, are unstable: typing
    /// more could merge them differently. They are left out of the first result. Each
    /// sequence of the second decodes to bytes that start with the unstable bytes, and
    /// stops at the first token that reaches their end; so `stable + seq` decodes to a
    /// continuation of `text`. Text that ends in an allowed special token, and the empty
    /// text, have no unstable part and no completions.
    ///
    /// Prefer [`Tokenizer::encode_with`] for anything but completion: this call does a
    /// brute-force search (as tiktoken does) that costs far more than the encode itself.
    /// Completions are sorted and deduplicated (tiktoken returns a set).
    ///
    /// # Errors
    /// As [`Tokenizer::encode_with`]: [`ErrorKind::DisallowedSpecial`](crate::ErrorKind)
    /// naming the token, checked first; [`ErrorKind::BadPattern`](crate::ErrorKind).
    ///
    /// # Example
    /// ```
    /// use bpekit::{Pattern, SpecialPolicy, Tokenizer};
    /// let mut ranks: Vec<(Vec<u8>, u32)> = (0..=255u8).map(|b| (vec![b], b as u32)).collect();
    /// ranks.extend([(b" h".to_vec(), 256), (b" hi".to_vec(), 257), (b" hit".to_vec(), 258)]);
    /// let tok = Tokenizer::from_ranks(ranks, Pattern::default_pattern()).unwrap();
    /// let (stable, completions) = tok.encode_with_unstable("say h", &SpecialPolicy::DEFAULT).unwrap();
    /// assert_eq!(tok.decode(&stable).unwrap(), b"say");
    /// // " h" may stay " h", or become " hi" or " hit" as more is typed.
    /// assert_eq!(completions, vec![vec![256], vec![257], vec![258]]);
    /// ```
    pub fn encode_with_unstable(
        &self,
        text: &str,
        policy: &SpecialPolicy<'_>,
    ) -> Result<(Vec<u32>, Vec<Vec<u32>>)> {
        self.check_disallowed(text, policy)?;
        let mut enc = LastPiece { ids: Vec::with_capacity(text.len() / 3 + 1), last: 0 };
        self.encode_into_inner(text, policy.allowed, &mut enc)?;
        let LastPiece { mut ids, last } = enc;
        if last == 0 {
            return Ok((ids, Vec::new()));
        }
        let unstable = self.take_unstable(&mut ids, last);
        let completions = self.completions(&unstable)?;
        Ok((ids, completions))
    }

    /// Removes the unstable tokens from the end of `ids` and returns their bytes: the
    /// `last` tokens of the last piece, widened backwards over whitespace-only tokens
    /// (a continuation can remove a split between whitespace pieces: cl100k_base's
    /// `\s*[\r\n]` turns "\n" + " " into one piece once "\n" follows, letting the
    /// tokens before the last piece merge with it). Nothing when `last` is 0.
    fn take_unstable(&self, ids: &mut Vec<u32>, mut last: usize) -> Vec<u8> {
        let n = ids.len();
        if last > 0 && self.is_blank_token(ids[n - last]) {
            while last < n && self.is_blank_token(ids[n - last - 1]) {
                last += 1;
            }
        }
        let mut unstable = Vec::new();
        for &id in &ids[n - last..] {
            unstable.extend_from_slice(self.token_bytes(id).unwrap_or_default());
        }
        ids.truncate(n - last);
        unstable
    }

    /// tiktoken's `_encode_bytes`: the ordinary encoding of `bytes`, which need not be
    /// UTF-8 (a text cut inside a character, say). UTF-8 is [`Tokenizer::encode_ordinary`]
    /// of it. Otherwise its valid prefix is encoded ordinarily, then the tokens of that
    /// prefix's last piece (widened over whitespace-only tokens, as in
    /// [`Tokenizer::encode_with_unstable`]) are taken back, and their bytes with all the
    /// bytes after the prefix are merged as one piece (which need not be what the
    /// pattern would split there: no pattern reads bytes that are not UTF-8).
    ///
    /// # Errors
    /// [`ErrorKind::BadPattern`](crate::ErrorKind::BadPattern) if the regex engine fails while splitting.
    pub fn encode_bytes(&self, bytes: &[u8]) -> Result<Vec<u32>> {
        let valid = match crate::simd::str_from_utf8(bytes) {
            Ok(text) => return self.encode_ordinary(text),
            Err(e) => e.valid_up_to(),
        };
        let text = std::str::from_utf8(&bytes[..valid]).unwrap_or_default(); // (valid, by `valid_up_to`)
        let mut enc = LastPiece { ids: Vec::with_capacity(bytes.len() / 3 + 1), last: 0 };
        self.encode_into_inner(text, super::Allowed::None, &mut enc)?;
        let LastPiece { mut ids, last } = enc;
        let mut tail = self.take_unstable(&mut ids, last);
        tail.extend_from_slice(&bytes[valid..]);
        self.encode_piece_uncached(&tail, &mut ids);
        Ok(ids)
    }

    /// The rank ids sorted by their bytes, built on first use.
    fn sorted_ranks(&self) -> &[u32] {
        self.sorted_ranks.get_or_init(|| {
            let mut by_bytes: Vec<(&[u8], u32)> = self.tokens().collect();
            by_bytes.sort_unstable();
            Box::new(by_bytes.into_iter().map(|(_, id)| id).collect())
        })
    }

    /// Whether `id` is a rank token made only of spaces, tabs and newlines (tiktoken's
    /// test; special tokens never are).
    fn is_blank_token(&self, id: u32) -> bool {
        !self.is_special(id)
            && self.token_bytes(id).is_some_and(|b| b.iter().all(|c| matches!(c, b' ' | b'\n' | b'\t')))
    }

    /// The completions of the unstable bytes `u` (see the module documentation), sorted.
    fn completions(&self, u: &[u8]) -> Result<Vec<Vec<u32>>> {
        if u.is_empty() {
            return Ok(Vec::new());
        }
        let sorted = self.sorted_ranks();
        let mut found: HashSet<Vec<u32>> = HashSet::new();

        // ---- 1. Single tokens that start with all of `u` ----
        for &id in self.ranks_with_prefix(sorted, u) {
            found.insert(vec![id]);
        }

        // ---- 2. A token straddling the end of `u` ----
        let mut possibility = Vec::with_capacity(u.len() + self.max_token_len);
        let mut encoded = Vec::new();
        let mut merges = PrefixMerges::default();
        let first = u.len().saturating_sub(self.max_token_len).max(1);
        for i in first..u.len() {
            let (prefix, suffix) = u.split_at(i);
            for &id in self.ranks_with_prefix(sorted, suffix) {
                possibility.clear();
                possibility.extend_from_slice(prefix);
                possibility.extend_from_slice(self.token_bytes(id).unwrap_or_default());
                self.encode_candidate(&possibility, i, u.len(), &mut merges, &mut encoded)?;
                if !found.contains(&encoded) {
                    found.insert(encoded.clone());
                }
            }
        }

        // ---- 3. A split before a final whitespace character ----
        if let Some(c) = last_char(u) {
            if c.is_whitespace() && u.len() > c.len_utf8() {
                let cut = u.len() - c.len_utf8();
                let mut split = Vec::new();
                self.merge_raw(&u[..cut], &mut split);
                self.merge_raw(&u[cut..], &mut split);
                found.insert(split);
            }
        }

        let mut out: Vec<Vec<u32>> = found.into_iter().collect();
        out.sort_unstable();
        Ok(out)
    }

    /// Encodes one candidate into `out` (cleared first), as tiktoken does: split with the
    /// pattern and encoded piece by piece when it is UTF-8, merged whole when it is not;
    /// then cut after the first token that reaches byte `need`. Its first `shared` bytes
    /// are the unstable bytes' own: long pieces among them go through `merges`.
    fn encode_candidate(
        &self,
        possibility: &[u8],
        shared: usize,
        need: usize,
        merges: &mut PrefixMerges,
        out: &mut Vec<u32>,
    ) -> Result<()> {
        out.clear();
        match std::str::from_utf8(possibility) {
            Ok(text) => {
                let PrefixMerges { spans, arena } = merges;
                let mut covered = 0;
                self.pattern.for_each_piece(text, |piece| {
                    // Pieces that start at or after `need` are cut anyway: skip their merge.
                    if covered >= need {
                        return;
                    }
                    let bytes = piece.as_bytes();
                    let start = piece.as_ptr() as usize - text.as_ptr() as usize;
                    if bytes.len() >= PREFIX_MERGES_MIN && start + bytes.len() <= shared {
                        let (off, n) = *spans.entry((start, bytes.len())).or_insert_with(|| {
                            let off = arena.len();
                            self.encode_piece_uncached(bytes, arena);
                            (off, arena.len() - off)
                        });
                        out.extend_from_slice(&arena[off..off + n]);
                    } else {
                        self.encode_piece_uncached(bytes, out);
                    }
                    covered += bytes.len();
                })?;
            }
            Err(_) => self.merge_raw(possibility, out),
        }
        let mut covered = 0;
        if let Some(end) = out.iter().position(|&id| {
            covered += self.token_bytes(id).map_or(0, <[u8]>::len);
            covered >= need
        }) {
            out.truncate(end + 1);
        }
        Ok(())
    }

    /// [`Tokenizer::encode_piece`] without the per-thread piece cache.
    fn encode_piece_uncached(&self, piece: &[u8], out: &mut Vec<u32>) {
        match self.token_id(piece) {
            Some(id) => out.push(id),
            None => self.merge_raw(piece, out),
        }
    }

    /// tiktoken's `byte_pair_encode`: merges `bytes` by rank, without first looking them
    /// up as a whole token (which is what [`Tokenizer::merge_reference`] does).
    fn merge_raw(&self, bytes: &[u8], out: &mut Vec<u32>) {
        self.merge_reference(bytes, out);
    }

    /// The ids in `sorted` (rank ids sorted by bytes) whose bytes start with `prefix`.
    fn ranks_with_prefix<'s>(&self, sorted: &'s [u32], prefix: &[u8]) -> &'s [u32] {
        let bytes = |id: u32| self.token_bytes(id).unwrap_or_default();
        let start = sorted.partition_point(|&id| bytes(id) < prefix);
        let len = sorted[start..].partition_point(|&id| bytes(id).starts_with(prefix));
        &sorted[start..start + len]
    }
}

/// Merged pieces of the unstable bytes for one call: `(start, len)` in them → the range
/// of `arena` holding the piece's ids.
#[derive(Default)]
struct PrefixMerges {
    spans: HashMap<(usize, usize), (usize, usize)>,
    arena: Vec<u32>,
}

/// The last character of `bytes` if they end in a complete UTF-8 character.
fn last_char(bytes: &[u8]) -> Option<char> {
    let tail = &bytes[bytes.len().saturating_sub(4)..];
    // The last byte that is not a continuation byte (0b10xx_xxxx) starts the character.
    let start = tail.iter().rposition(|&b| b & 0xC0 != 0x80)?;
    std::str::from_utf8(&tail[start..]).ok()?.chars().next()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::{Allowed, Disallowed};
    use crate::{ErrorKind, Pattern};
    use proptest::prelude::*;

    /// All bytes, then " a", "ab", " ab", and "  " (two spaces).
    fn toy() -> Tokenizer {
        let mut pairs: Vec<(Vec<u8>, u32)> = (0..=255u8).map(|b| (vec![b], b as u32)).collect();
        for (i, t) in [&b" a"[..], b"ab", b" ab", b"  "].iter().enumerate() {
            pairs.push((t.to_vec(), 256 + i as u32));
        }
        Tokenizer::from_ranks(pairs, Pattern::default_pattern()).unwrap()
    }
    const SP_A: u32 = 256;
    const SP_AB: u32 = 258;
    const SP2: u32 = 259;

    fn unstable(t: &Tokenizer, text: &str) -> (Vec<u32>, Vec<Vec<u32>>) {
        t.encode_with_unstable(text, &SpecialPolicy::DEFAULT).unwrap()
    }

    #[test]
    fn ending_mid_word_completes_to_longer_tokens() {
        let t = toy();
        // " a" may stay, or become " ab"; via "a" + "ab" the same two.
        assert_eq!(unstable(&t, "x a"), (vec![b'x' as u32], vec![vec![SP_A], vec![SP_AB]]));
    }

    #[test]
    fn ending_in_spaces_covers_splits_and_the_whitespace_rule() {
        let t = toy();
        let (stable, completions) = unstable(&t, "x  ");
        assert_eq!(stable, vec![b'x' as u32]);
        assert_eq!(
            completions,
            vec![
                vec![32, 32],    // step 3: " " and " " merged apart
                vec![32, SP_A],  // "  a" splits as " " + " a"
                vec![32, SP_AB], // "  ab" splits as " " + " ab"
                vec![SP2],       // "  " itself, and "   " = "  " + " "
            ]
        );
    }

    #[test]
    fn whitespace_tokens_before_the_last_piece_are_unstable_too() {
        let t = toy();
        // Pieces "x", ".\n", "  ": tokens x . \n "  "; "\n" is blank, so it joins.
        assert_eq!(t.encode_ordinary("x.\n  ").unwrap(), vec![120, 46, 10, SP2]);
        let (stable, completions) = unstable(&t, "x.\n  ");
        assert_eq!(stable, vec![120, 46]);
        assert!(completions.contains(&vec![10, 32, 32]), "{completions:?}");
        for seq in &completions {
            assert!(t.decode(seq).unwrap().starts_with(b"\n  "), "{seq:?}");
        }
    }

    #[test]
    fn non_utf8_candidates_are_merged_whole() {
        // "a\xc3" ranks before " a": " a\xc3" merges to " " + "a\xc3" when merged whole,
        // which splitting at a regex boundary could not give.
        let mut pairs: Vec<(Vec<u8>, u32)> = (0..=255u8).map(|b| (vec![b], b as u32)).collect();
        pairs.push((b"a\xc3".to_vec(), 256));
        pairs.push((b" a".to_vec(), 257));
        let t = Tokenizer::from_ranks(pairs, Pattern::default_pattern()).unwrap();
        assert_eq!(unstable(&t, "x a"), (vec![120], vec![vec![32, 256], vec![257]]));
    }

    #[test]
    fn special_token_at_the_end_leaves_nothing_unstable() {
        let t = toy().with_special_tokens(vec![("<|end|>".into(), 300)]).unwrap();
        let all = SpecialPolicy { allowed: Allowed::All, disallowed: Disallowed::AllNotAllowed };
        let (stable, completions) = t.encode_with_unstable("x a<|end|>", &all).unwrap();
        assert_eq!(stable, t.encode("x a<|end|>", Allowed::All).unwrap());
        assert!(completions.is_empty());
        // Not allowed and not checked: ordinary text, with an unstable end.
        let (stable, completions) = t.encode_with_unstable("x a<|end|>", &SpecialPolicy::ORDINARY).unwrap();
        assert_eq!(t.decode(&stable).unwrap(), b"x a<|end");
        assert!(!completions.is_empty());
        // After the special token the text goes on: unstable again.
        let (_, completions) = t.encode_with_unstable("<|end|> a", &all).unwrap();
        assert_eq!(completions, vec![vec![SP_A], vec![SP_AB]]);
    }

    #[test]
    fn disallowed_special_is_checked_first() {
        let t = toy().with_special_tokens(vec![("<|end|>".into(), 300)]).unwrap();
        let e = t.encode_with_unstable("x <|end|> y", &SpecialPolicy::DEFAULT).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::DisallowedSpecial);
        assert!(e.message().contains(" token '<|end|>'.\n"), "{}", e.message());
        // Disallowed and allowed: the check wins, as in tiktoken.
        let only: HashSet<&str> = ["<|end|>"].into_iter().collect();
        let p = SpecialPolicy { allowed: Allowed::Some(&only), disallowed: Disallowed::Some(&only) };
        assert!(t.encode_with_unstable("<|end|>", &p).is_err());
    }

    #[test]
    fn empty_text() {
        assert_eq!(unstable(&toy(), ""), (vec![], vec![]));
    }

    #[test]
    fn encode_bytes_merges_the_last_piece_with_the_bytes_after_the_utf8() {
        let t = toy();
        for text in ["", "say hi", "a  \n b"] {
            assert_eq!(t.encode_bytes(text.as_bytes()).unwrap(), t.encode_ordinary(text).unwrap());
        }
        // "say h" + a cut character: "say" stays, " h" and the stray bytes merge as one
        // piece (the pattern never sees them).
        let mut cut = b"say h".to_vec();
        cut.extend_from_slice(&"\u{4f60}".as_bytes()[..2]);
        let ids = t.encode_bytes(&cut).unwrap();
        assert_eq!(t.decode(&ids).unwrap(), cut);
        let say = t.encode_ordinary("say").unwrap();
        assert_eq!(ids[..say.len()], say[..]);
        let mut tail = Vec::new();
        t.merge_raw(&cut[3..], &mut tail);
        assert_eq!(ids[say.len()..], tail[..]);
        // Nothing valid: all of it is one piece.
        let mut all = Vec::new();
        t.merge_raw(b"\xff\xfe", &mut all);
        assert_eq!(t.encode_bytes(b"\xff\xfe").unwrap(), all);
    }

    #[test]
    fn last_char_decodes_only_complete_characters() {
        assert_eq!(last_char(b"ab "), Some(' '));
        assert_eq!(last_char("x\u{3000}".as_bytes()), Some('\u{3000}'));
        assert_eq!(last_char(b"x\xe3\x80"), None);
        assert_eq!(last_char(b"\x80\x80\x80\x80"), None);
        assert_eq!(last_char(b""), None);
    }

    #[test]
    fn sorted_table_holds_every_rank_in_byte_order() {
        let (a, b) = (toy(), toy());
        let (ta, tb) = (a.sorted_ranks(), b.sorted_ranks());
        assert_eq!(ta, tb);
        let c = a.clone();
        assert_eq!(ta, c.sorted_ranks());
        assert_eq!(ta.len(), 260);
        let bytes: Vec<&[u8]> = ta.iter().map(|&id| a.token_bytes(id).unwrap()).collect();
        assert!(bytes.windows(2).all(|w| w[0] < w[1]));
    }

    /// tiktoken's algorithm written plainly: linear scans over every rank, whole
    /// candidates encoded with `encode_ordinary`, no table, memo or early cut.
    fn reference(t: &Tokenizer, text: &str, policy: &SpecialPolicy<'_>) -> (Vec<u32>, Vec<Vec<u32>>) {
        let mut enc = LastPiece { ids: Vec::new(), last: 0 };
        t.encode_into_inner(text, policy.allowed, &mut enc).unwrap();
        let LastPiece { mut ids, mut last } = enc;
        if last == 0 {
            return (ids, vec![]);
        }
        let blank =
            |id: u32| !t.is_special(id) && t.token_bytes(id).unwrap().iter().all(|c| b" \n\t".contains(c));
        let n = ids.len();
        if blank(ids[n - last]) {
            while last < n && blank(ids[n - last - 1]) {
                last += 1;
            }
        }
        let u = t.decode(&ids[n - last..]).unwrap();
        ids.truncate(n - last);
        let mut set = std::collections::BTreeSet::new();
        for (bytes, id) in t.tokens() {
            if bytes.starts_with(&u) {
                set.insert(vec![id]);
            }
        }
        for i in 1..u.len() {
            for (bytes, _) in t.tokens() {
                if !bytes.starts_with(&u[i..]) {
                    continue;
                }
                let p = [&u[..i], bytes].concat();
                let encoded = match std::str::from_utf8(&p) {
                    Ok(s) => t.encode_ordinary(s).unwrap(),
                    Err(_) => {
                        let mut v = Vec::new();
                        t.merge_raw(&p, &mut v);
                        v
                    }
                };
                let (mut seq, mut len) = (Vec::new(), 0);
                for id in encoded {
                    seq.push(id);
                    len += t.token_bytes(id).unwrap().len();
                    if len >= u.len() {
                        break;
                    }
                }
                set.insert(seq);
            }
        }
        let last_char = std::str::from_utf8(&u).unwrap().chars().next_back().unwrap();
        if u.len() > last_char.len_utf8() && last_char.is_whitespace() {
            let cut = u.len() - last_char.len_utf8();
            let mut v = Vec::new();
            t.merge_raw(&u[..cut], &mut v);
            t.merge_raw(&u[cut..], &mut v);
            set.insert(v);
        }
        (ids, set.into_iter().collect())
    }

    /// Bytes, a few merges, whitespace runs up to 8 long, and one special token.
    fn toy_ws() -> Tokenizer {
        let mut pairs: Vec<(Vec<u8>, u32)> = (0..=255u8).map(|b| (vec![b], b as u32)).collect();
        let merges: [&[u8]; 9] =
            [b" a", b"ab", b" ab", b"  ", b"    ", b"        ", b"\n\n", b" \n", b"\xc3\xa9"];
        for (i, t) in merges.iter().enumerate() {
            pairs.push((t.to_vec(), 256 + i as u32));
        }
        let t = Tokenizer::from_ranks(pairs, Pattern::default_pattern()).unwrap();
        t.with_special_tokens(vec![("<|end|>".into(), 300)]).unwrap()
    }

    #[test]
    fn long_whitespace_tail_matches_the_plain_algorithm() {
        let t = toy_ws();
        for text in
            ["x".to_string() + &" ".repeat(40), " ".repeat(70) + "a", "é\n".repeat(3) + &" ".repeat(33)]
        {
            let got = t.encode_with_unstable(&text, &SpecialPolicy::DEFAULT).unwrap();
            assert_eq!(got, reference(&t, &text, &SpecialPolicy::DEFAULT), "{text:?}");
        }
    }

    proptest! {
        #[test]
        fn same_as_the_plain_algorithm(parts in proptest::collection::vec(
            prop_oneof![
                Just("a"), Just("b"), Just(" "), Just("\n"), Just("\t"), Just("é"), Just("!"),
                Just("<|end|>"), Just("                    "), Just("'s"), Just("12"),
            ],
            0..10,
        )) {
            let t = toy_ws();
            let text = parts.concat();
            let all = SpecialPolicy { allowed: Allowed::All, disallowed: Disallowed::None };
            for policy in [&all, &SpecialPolicy::ORDINARY] {
                let got = t.encode_with_unstable(&text, policy).unwrap();
                prop_assert_eq!(got, reference(&t, &text, policy));
            }
        }

        #[test]
        fn completions_continue_the_text(parts in proptest::collection::vec(
            prop_oneof![Just("a"), Just("b"), Just(" "), Just("\n"), Just("x"), Just("é"), Just("!"), Just("<|end|>")],
            0..12,
        )) {
            let t = toy().with_special_tokens(vec![("<|end|>".into(), 300)]).unwrap();
            let text = parts.concat();
            let all = SpecialPolicy { allowed: Allowed::All, disallowed: Disallowed::None };
            let (stable, completions) = t.encode_with_unstable(&text, &all).unwrap();
            prop_assert!(t.encode(&text, Allowed::All).unwrap().starts_with(&stable));
            prop_assert!(completions.windows(2).all(|w| w[0] < w[1]));
            prop_assert_eq!(completions.is_empty(), text.is_empty() || text.ends_with("<|end|>"));
            let mut base = t.decode(&stable).unwrap();
            let len = base.len();
            for seq in &completions {
                base.truncate(len);
                base.extend(t.decode(seq).unwrap());
                prop_assert!(base.starts_with(text.as_bytes()), "{:?} + {:?}", stable, seq);
            }
        }
    }
}
