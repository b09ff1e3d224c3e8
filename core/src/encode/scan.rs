//! The quadratic merge for short pieces: tiny constants, state on the stack.

use super::merge::SCAN_MAX;
use super::Tokenizer;

impl Tokenizer {
    /// Quadratic merge for short pieces: each round finds the lowest-ranked adjacent
    /// pair by a scan over all pair slots, merges it and re-ranks its two neighbours.
    pub(super) fn merge_scan(&self, piece: &[u8], out: &mut Vec<u32>) {
        self.merge_scan_with(piece, out, |_, _, _| {});
    }

    /// The merge of a three-byte piece that is not a token: the lower-ranked of its two
    /// pairs (the left one on a tie, which is the same pair) merges, if either is a token,
    /// and the pair that would then remain is the whole piece, which is not a token.
    #[inline]
    pub(super) fn merge_three_non_token(&self, a: u8, b: u8, c: u8, out: &mut Vec<u32>) {
        let left = self.pair2[usize::from(a) << 8 | usize::from(b)];
        let right = self.pair2[usize::from(b) << 8 | usize::from(c)];
        let byte = |x: u8| self.byte_ranks[usize::from(x)];
        if left <= right && left != u32::MAX {
            out.extend([left, byte(c)]);
        } else if right != u32::MAX {
            out.extend([byte(a), right]);
        } else {
            out.extend([byte(a), byte(b), byte(c)]);
        }
    }

    /// [`Tokenizer::merge_scan`] of a piece the caller has found is not a token: the
    /// pair that would span the whole piece (when two tokens are left) is then known to
    /// have no rank, and is not looked up again.
    pub(super) fn merge_scan_non_token(&self, piece: &[u8], out: &mut Vec<u32>) {
        debug_assert!(self.encoder.get(piece).is_none());
        // Each merge scans all `N` pair slots: the smallest `N` that holds the piece.
        if piece.len() <= 8 {
            self.merge_scan_n::<8, true>(piece, out, |_, _, _| {});
        } else if piece.len() <= 16 {
            self.merge_scan_n::<16, true>(piece, out, |_, _, _| {});
        } else if piece.len() <= 32 {
            self.merge_scan_n::<32, true>(piece, out, |_, _, _| {});
        } else {
            self.merge_scan_n::<SCAN_MAX, true>(piece, out, |_, _, _| {});
        }
    }

    /// [`Tokenizer::merge_scan`], calling `on_merge(first, last, id)` after each merge:
    /// two tokens became `id`, which is the first and/or the last token of the piece.
    #[inline]
    pub(super) fn merge_scan_with(
        &self,
        piece: &[u8],
        out: &mut Vec<u32>,
        on_merge: impl FnMut(bool, bool, u32),
    ) {
        debug_assert!((2..=SCAN_MAX).contains(&piece.len()));
        if piece.len() <= 32 {
            self.merge_scan_n::<32, false>(piece, out, on_merge);
        } else {
            self.merge_scan_n::<SCAN_MAX, false>(piece, out, on_merge);
        }
    }

    /// [`Tokenizer::merge_scan_with`] for pieces of at most `N` (<= 255) bytes, with its
    /// state in fixed arrays on the stack (no allocation per piece).
    ///
    /// Tokens stay where their first byte is: slot `i` holds the token starting at byte
    /// `i`, linked to its neighbours by `next`/`prev`, and `pair[i]` is the rank of it
    /// joined with the next token (`u32::MAX` for none, or for a slot merged away). So a
    /// merge moves nothing (no array is shifted),
    /// and the scan for the lowest rank is a plain minimum over a fixed slice, which
    /// vectorizes; the leftmost slot with it is tiktoken's leftmost pair.
    fn merge_scan_n<const N: usize, const NON_TOKEN: bool>(
        &self,
        piece: &[u8],
        out: &mut Vec<u32>,
        mut on_merge: impl FnMut(bool, bool, u32),
    ) {
        let n = piece.len();
        let mut next = [0u8; N];
        let mut prev = [0u8; N];
        let mut ids = [0u32; N];
        let mut pair = [u32::MAX; N];
        for i in 0..n {
            next[i] = (i + 1) as u8;
            prev[i] = i.wrapping_sub(1) as u8;
            ids[i] = self.byte_ranks[usize::from(piece[i])];
        }
        for i in 0..n - 1 {
            pair[i] = self.pair2[usize::from(piece[i]) << 8 | usize::from(piece[i + 1])];
        }
        // pairs[n - 1] stays u32::MAX: the last token has no pair.
        let pairs = &mut pair[..n];
        // The rank of the pair of tokens that spans piece[a..b]; in a piece known not to
        // be a token, the pair spanning all of it has none.
        let pair_rank = |a: usize, b: usize| {
            if !NON_TOKEN {
                self.rank(&piece[a..b])
            } else if a == 0 && b == n {
                u32::MAX
            } else {
                self.rank_filtered(&piece[a..b])
            }
        };
        loop {
            let best = pairs.iter().copied().min().unwrap_or(u32::MAX);
            if best == u32::MAX {
                break;
            }
            let i = pairs.iter().position(|&r| r == best).unwrap_or(0);
            let j = usize::from(next[i]); // merged into i
            let k = usize::from(next[j]); // the token after, or n
            ids[i] = best;
            pairs[j] = u32::MAX;
            next[i] = k as u8;
            if k < n {
                prev[k] = i as u8;
                pairs[i] = pair_rank(i, usize::from(next[k]));
            } else {
                pairs[i] = u32::MAX;
            }
            on_merge(i == 0, k == n, best);
            if i > 0 {
                let h = usize::from(prev[i]);
                pairs[h] = pair_rank(h, k);
            }
        }
        let mut i = 0;
        while i < n {
            out.push(ids[i]);
            i = usize::from(next[i]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn scan_and_heap_agree(piece in proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), Just(b'c'), any::<u8>()], 2..=SCAN_MAX)) {
            let t = toy();
            let (mut a, mut b) = (Vec::new(), Vec::new());
            t.merge_scan(&piece, &mut a);
            t.merge_heap(&piece, &mut b);
            prop_assert_eq!(&a, &b);
            prop_assert_eq!(t.decode(&a).unwrap(), piece);
        }
    }
}
