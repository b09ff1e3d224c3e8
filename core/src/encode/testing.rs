//! Helpers shared by the encoder's unit tests: small rank tables, the plain merge every
//! route is checked against, and a guard against hangs.

use super::Tokenizer;
use crate::Pattern;

/// All bytes, then a few merges: "ab", "abc"(= "ab"+"c"), "aa", "aaaa".
pub(super) fn toy() -> Tokenizer {
    let mut pairs: Vec<(Vec<u8>, u32)> = (0..=255u8).map(|b| (vec![b], b as u32)).collect();
    for (i, t) in [&b"ab"[..], b"abc", b"aa", b"aaaa", b"ca"].iter().enumerate() {
        pairs.push((t.to_vec(), 256 + i as u32));
    }
    Tokenizer::from_ranks(pairs, Pattern::default_pattern()).unwrap()
}

pub(super) fn with_specials() -> Tokenizer {
    toy()
        .with_special_tokens(vec![("<|end|>".into(), 300), ("<|end|>x".into(), 301), ("<s>".into(), 302)])
        .unwrap()
}

/// The 256 bytes, then `extra` in rank order.
pub(super) fn bytes_and(extra: impl IntoIterator<Item = Vec<u8>>) -> Vec<(Vec<u8>, u32)> {
    let mut pairs: Vec<(Vec<u8>, u32)> = (0..=255u8).map(|b| (vec![b], b as u32)).collect();
    pairs.extend(extra.into_iter().zip(256..));
    pairs
}

/// Each text is one piece.
pub(super) fn whole_text() -> Pattern {
    Pattern::new("(?s:.+)").unwrap()
}

/// `f()` on another thread, or a panic if it has not returned after `secs` seconds
/// (twelve times that in a debug build): a guard against hangs, not a speed check
/// (the limits are far above what the cases need).
pub(super) fn within<T: Send + 'static>(secs: u64, what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let secs = if cfg!(debug_assertions) { 12 * secs } else { secs };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(std::time::Duration::from_secs(secs)) {
        Ok(v) => v,
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!("{what}: not done after {secs} s"),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => panic!("{what}: panicked"),
    }
}

/// tiktoken's `byte_pair_merge` written plainly: ranks of the byte strings, one scan
/// per merge for the lowest-ranked, leftmost pair. The definition every route is
/// checked against.
pub(super) fn reference_merge(t: &Tokenizer, piece: &[u8]) -> Vec<u32> {
    let rank = |a: usize, b: usize| t.token_id(&piece[a..b]).unwrap_or(u32::MAX);
    // (start of the part, rank of it joined with the next part)
    let mut parts: Vec<(usize, u32)> = (0..=piece.len()).map(|i| (i, u32::MAX)).collect();
    for i in 0..parts.len().saturating_sub(2) {
        parts[i].1 = rank(parts[i].0, parts[i + 2].0);
    }
    let lowest = |parts: &[(usize, u32)]| {
        let (i, r) = parts.iter().map(|p| p.1).enumerate().min_by_key(|&(i, r)| (r, i))?;
        (r != u32::MAX).then_some(i)
    };
    while let Some(i) = lowest(&parts) {
        parts.remove(i + 1);
        let rerank = |parts: &[(usize, u32)], k: usize| {
            if k + 2 < parts.len() {
                rank(parts[k].0, parts[k + 2].0)
            } else {
                u32::MAX
            }
        };
        parts[i].1 = rerank(&parts, i);
        if i > 0 {
            parts[i - 1].1 = rerank(&parts, i - 1);
        }
    }
    parts.windows(2).map(|w| t.token_id(&piece[w[0].0..w[1].0]).unwrap()).collect()
}

/// The tokens of `piece` by each route, all equal to the definition.
pub(super) fn check_routes(t: &Tokenizer, piece: &[u8]) {
    let expect = match t.token_id(piece) {
        Some(id) => vec![id],
        None => reference_merge(t, piece),
    };
    let (mut got, mut heap, mut back) = (Vec::new(), Vec::new(), Vec::new());
    t.encode_piece(piece, &mut got);
    assert_eq!(got, expect, "encode_piece, piece {:?}", String::from_utf8_lossy(piece));
    if t.token_id(piece).is_none() {
        t.merge_heap(piece, &mut heap);
        assert_eq!(heap, expect, "heap, piece {:?}", String::from_utf8_lossy(piece));
        t.merge_backtrack(piece, &mut back);
        assert_eq!(back, expect, "backtrack, piece {:?}", String::from_utf8_lossy(piece));
    }
}

/// A xorshift generator from `seed` (not 0): reproducible pseudo-random test inputs.
pub(super) fn xorshift(mut seed: u64) -> impl FnMut() -> u64 {
    move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    }
}

/// The shared rank files, or a panic naming where they were looked for.
pub(super) fn shared_ranks(name: &str) -> Vec<u8> {
    let dir = std::env::var("BPEKIT_DATA")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data").to_string());
    let path = std::path::Path::new(&dir).join(format!("{name}.tiktoken"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (set BPEKIT_DATA)", path.display()))
}
