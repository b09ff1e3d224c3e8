//! Fuzz targets for bpekit's core: each takes arbitrary bytes and panics when the library
//! misbehaves (a panic inside it, a wrong result against an obvious reference, a round
//! trip that does not hold). A blow-up (an input that takes far too long) is caught by
//! the driver's per-input time limit.
//!
//! The same targets run under two drivers: `bpekit-fuzz` (stable Rust, random mutation
//! of a seed corpus, no coverage feedback; `make fuzz`) and libFuzzer
//! (`bpekit-libfuzzer`, coverage-guided; see README.md).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use bpekit::{
    split_docs, Allowed, ErrorKind, Layout, Pattern, PieceCounts, SpecialPolicy, SplitEngine, SplitOptions,
    Tokenizer, Trainer, Utf8Errors, NAMED_PATTERNS,
};

/// A fuzz target: a name (the seed directory under `fuzz/corpus/`) and its function.
pub struct Target {
    pub name: &'static str,
    pub run: fn(&[u8]),
}

/// Every target.
pub const TARGETS: &[Target] = &[
    Target { name: "tiktoken_ranks", run: tiktoken_ranks },
    Target { name: "tokenizer_file", run: tokenizer_file },
    Target { name: "count_table", run: count_table },
    Target { name: "encode", run: encode },
    Target { name: "split", run: split },
    Target { name: "decode", run: decode },
    Target { name: "specials", run: specials },
    Target { name: "train", run: train },
    Target { name: "corpus_split", run: corpus_split },
];

/// The target called `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

/// Reads structure out of fuzz bytes; past the end every read gives zeros.
struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        head
    }
}

/// FNV-1a, 64-bit: the checksum that ends bpekit's tokenizer files and count tables
/// (documented in core/src/framing.rs). Targets recompute it on request so that mutated
/// files reach the parser behind the checksum instead of stopping at it.
pub fn fnv1a(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// `data` as the bytes to parse: as is if its first byte is even, else the rest with a
/// correct checksum appended.
fn with_checksum(data: &[u8]) -> Vec<u8> {
    match data.split_first() {
        Some((flag, rest)) if flag & 1 == 1 => {
            let mut v = rest.to_vec();
            v.extend_from_slice(&fnv1a(rest).to_le_bytes());
            v
        }
        _ => data.to_vec(),
    }
}

/// A rank table read from fuzz bytes: the 256 single bytes (ranks permuted), then up to
/// 47 tokens of several kinds: short byte strings, joins of two earlier tokens (so merge
/// chains exist), and long repetitive tokens (hundreds of bytes, past every fixed limit
/// of the merge routines), reachable by merges or not.
fn vocabulary(input: &mut Input<'_>) -> Vec<(Vec<u8>, u32)> {
    let x = input.byte();
    let mut ranks: Vec<(Vec<u8>, u32)> = (0..=255u8).map(|b| (vec![b], u32::from(b ^ x))).collect();
    let extra = input.byte() % 48;
    for _ in 0..extra {
        let kind = input.byte();
        let token = match kind % 4 {
            0 => {
                let unit = input.take(1 + usize::from(input_peek_len(kind)));
                let reps = 1 + 2 * usize::from(input.byte());
                unit.repeat(reps)
            }
            1 => {
                let n = ranks.len();
                let (i, j) = (usize::from(input.byte()) * 7 % n, usize::from(input.byte()) * 13 % n);
                let joined = [&ranks[n - 1 - i % n].0[..], &ranks[n - 1 - j % n].0[..]].concat();
                if joined.len() > MAX_TOKEN {
                    continue;
                }
                joined
            }
            _ => {
                let len = 2 + usize::from(input.byte() % 6);
                input.take(len).to_vec()
            }
        };
        if !token.is_empty() {
            let rank = ranks.len() as u32;
            ranks.push((token, rank));
        }
    }
    ranks
}

/// Tokens stay below this length (joins double lengths: they would reach megabytes).
const MAX_TOKEN: usize = 1 << 16;

/// The length class of a long token's repeated unit (1-3 bytes), from its kind byte.
fn input_peek_len(kind: u8) -> u8 {
    (kind >> 2) % 3
}

/// tiktoken's merge of one piece, written the obvious way: the whole piece if it is a
/// token, else repeatedly merge the adjacent pair whose bytes have the lowest rank (the
/// leftmost on ties). Quadratic: only for short pieces.
fn reference_piece(tok: &Tokenizer, piece: &[u8], out: &mut Vec<u32>) {
    if let Some(id) = tok.token_id(piece) {
        out.push(id);
        return;
    }
    let mut parts: Vec<(usize, usize)> = (0..piece.len()).map(|i| (i, i + 1)).collect();
    loop {
        let mut best: Option<(u32, usize)> = None;
        for i in 0..parts.len().saturating_sub(1) {
            if let Some(r) = tok.token_id(&piece[parts[i].0..parts[i + 1].1]) {
                if best.is_none_or(|(b, _)| r < b) {
                    best = Some((r, i));
                }
            }
        }
        let Some((_, i)) = best else { break };
        parts[i].1 = parts[i + 1].1;
        parts.remove(i + 1);
    }
    out.extend(parts.iter().map(|&(a, b)| tok.token_id(&piece[a..b]).expect("bytes are tokens")));
}

/// Pieces longer than this are checked against [`reference_heap`] (the plain reference
/// is quadratic).
const REFERENCE_MAX: usize = 600;

/// [`reference_piece`] for long pieces: the same merge with the candidate pairs in a
/// heap, ordered by rank then position (tiktoken's lowest, leftmost pair), entries made
/// stale by a merge skipped as they come out.
fn reference_heap(tok: &Tokenizer, piece: &[u8], out: &mut Vec<u32>) {
    use std::cmp::Reverse;
    if let Some(id) = tok.token_id(piece) {
        out.push(id);
        return;
    }
    let n = piece.len();
    // Part `i` (alive if it starts a part) spans piece[i..next[i]].
    let mut next: Vec<usize> = (1..=n).collect();
    let mut prev: Vec<usize> = (0..n).map(|i| i.wrapping_sub(1)).collect();
    let mut alive = vec![true; n];
    let mut heap = std::collections::BinaryHeap::new();
    let push = |heap: &mut std::collections::BinaryHeap<_>, a: usize, end: usize| {
        if let Some(r) = tok.token_id(&piece[a..end]) {
            heap.push(Reverse((r, a, end)));
        }
    };
    for i in 0..n.saturating_sub(1) {
        push(&mut heap, i, i + 2);
    }
    while let Some(Reverse((_, i, end))) = heap.pop() {
        let j = next[i];
        if !alive[i] || j >= n || next[j] != end {
            continue; // a part of the pair has merged since
        }
        alive[j] = false;
        next[i] = end;
        if end < n {
            prev[end] = i;
            push(&mut heap, i, next[end]);
        }
        if i > 0 {
            push(&mut heap, prev[i], end);
        }
    }
    let mut i = 0;
    while i < n {
        out.push(tok.token_id(&piece[i..next[i]]).expect("parts are tokens"));
        i = next[i];
    }
}

/// One of three split patterns (compiled once): GPT-4's, the whole text as one piece
/// (long pieces through every merge route), and a simple one on the general engine.
fn pattern_for(choice: u8) -> Pattern {
    static PATTERNS: OnceLock<[Pattern; 3]> = OnceLock::new();
    let all = PATTERNS.get_or_init(|| {
        [
            Pattern::default_pattern(),
            Pattern::new(r"(?s:.+)").expect("valid"),
            Pattern::new(r" ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+").expect("valid"),
        ]
    });
    all[usize::from(choice % 3)].clone()
}

/// Text for the encode targets: the rest of the input, repeated if asked (long runs),
/// or led by a unit of 1-8 of its bytes repeated over 1-3 KiB (the core's route for long
/// periodic runs).
fn text_from(input: &mut Input<'_>) -> String {
    let reps = match input.byte() {
        r @ 0..=3 => 1 + usize::from(r) * 40,
        r @ 4..=6 => {
            let len = 1 + usize::from(input.byte() % 8);
            let unit = input.take(len);
            let run = unit.repeat(1024 * usize::from(r - 3) / unit.len().max(1) + 1);
            return String::from_utf8_lossy(&[&run[..], input.data].concat()).into_owned();
        }
        _ => 1,
    };
    String::from_utf8_lossy(input.data).repeat(reps)
}

/// Rank-file parser: never a panic; what parses exports and parses back to the same
/// tokens, and encodes text it decodes back.
pub fn tiktoken_ranks(data: &[u8]) {
    let Ok(tok) = Tokenizer::from_tiktoken(data, pattern_for(0)) else { return };
    let exported = tok.export_tiktoken();
    let again = Tokenizer::from_tiktoken(&exported, pattern_for(0)).expect("own export parses");
    assert!(tok.tokens().eq(again.tokens()), "export changed the tokens");
    let text = String::from_utf8_lossy(data);
    let ids = tok.encode_ordinary(&text).expect("encode");
    assert_eq!(tok.decode(&ids).expect("decode"), text.as_bytes());
}

/// bpekit's own file: never a panic; what loads saves to the same bytes and works.
pub fn tokenizer_file(data: &[u8]) {
    let data = with_checksum(data);
    let Ok(tok) = Tokenizer::from_bytes(&data) else { return };
    let saved = tok.to_bytes().expect("saves");
    let again = Tokenizer::from_bytes(&saved).expect("own file loads");
    assert_eq!(again.to_bytes().expect("saves"), saved);
    // Text between the pattern's matches is skipped, as by tiktoken (a mutated pattern
    // may leave gaps): decoding gives back the pieces.
    let text = "fuzz text, 123 é";
    let ids = tok.encode_ordinary(text).expect("encode");
    let mut pieces = Vec::new();
    tok.pattern().for_each_piece(text, |p| pieces.extend_from_slice(p.as_bytes())).expect("split");
    assert_eq!(tok.decode(&ids).expect("decode"), pieces);
}

/// Count tables: never a panic; a table that loads is canonical (one of the current
/// version saves to the very bytes it was read from, an older one to a table that loads
/// the same) and trains; `count_table_info` and the streaming merge accept exactly what
/// loads, and the merge (alone, with itself, pruned) equals merging loaded tables.
pub fn count_table(data: &[u8]) {
    let data = with_checksum(data);
    let info = bpekit::count_table_info(&data);
    let merged = bpekit::merge_count_tables(&[&data]);
    let (pattern, counts) = match PieceCounts::from_bytes(&data) {
        Ok(loaded) => loaded,
        Err(e) => {
            assert_eq!(info.expect_err("info accepts a table that does not load"), e);
            let merged = merged.expect_err("merge accepts a table that does not load");
            assert_eq!(merged.message(), format!("tables[0]: {}", e.message()));
            return;
        }
    };
    let info = info.expect("info refuses a table that loads");
    assert_eq!((info.texts, info.bytes, info.pieces), (counts.texts(), counts.bytes(), counts.len() as u64));
    let saved = counts.to_bytes(&pattern);
    if info.version == 2 {
        assert_eq!(saved, data, "a loaded table saves to other bytes");
    } else {
        let back = PieceCounts::from_bytes(&saved).expect("own count table loads");
        assert_eq!(back, (pattern.clone(), counts.clone()));
    }
    assert_eq!(merged.expect("merge refuses a table that loads"), saved);
    let mut doubled = counts.clone();
    doubled.merge(counts.clone());
    assert_eq!(bpekit::merge_count_tables(&[&data, &saved]).expect("merge"), doubled.to_bytes(&pattern));
    let min_count = counts.iter().map(|(_, c)| c).max().unwrap_or(0) / 2;
    let pruned = bpekit::merge_count_tables_pruned(&[&data], min_count).expect("merge, pruned");
    let (_, pruned) = PieceCounts::from_bytes(&pruned).expect("pruned table loads");
    let kept: Vec<(Vec<u8>, u64)> = counts
        .iter()
        .filter(|&(_, c)| min_count <= 1 || c >= min_count)
        .map(|(p, c)| (p.to_vec(), c))
        .collect();
    assert_eq!((pruned.len(), pruned.texts(), pruned.bytes()), (kept.len(), counts.texts(), counts.bytes()));
    assert!(kept.iter().all(|(p, c)| pruned.get(p) == *c));
    if counts.len() <= 4096 {
        let merges = bpekit::train_from_counts(&counts, 256 + 16).expect("trains").merges;
        assert_eq!(
            merges,
            reference_merges(&counts.iter().map(|(p, c)| (p.to_vec(), c)).collect::<Vec<_>>(), 16)
        );
    }
}

/// Encode on arbitrary rank tables: the same ids as the obvious merge, piece by piece,
/// for UTF-8 text and for raw bytes; decode gives the input back.
pub fn encode(data: &[u8]) {
    let mut input = Input { data };
    let ranks = vocabulary(&mut input);
    let pattern = pattern_for(input.byte());
    let tok = match Tokenizer::from_ranks(ranks, pattern.clone()) {
        Ok(t) => t,
        Err(e) => panic!("a table with all 256 bytes and unique ranks is refused: {}", e.message()),
    };
    let raw = input.data.to_vec();
    let text = text_from(&mut input);
    let ids = tok.encode_ordinary(&text).expect("encode_ordinary");
    assert_eq!(tok.decode(&ids).expect("decode"), text.as_bytes(), "round trip");
    assert_eq!(tok.count(&text, Allowed::None).expect("count"), ids.len());
    let mut expected = Vec::new();
    pattern
        .for_each_piece(&text, |piece| {
            if piece.len() <= REFERENCE_MAX {
                reference_piece(&tok, piece.as_bytes(), &mut expected);
            } else {
                reference_heap(&tok, piece.as_bytes(), &mut expected);
            }
        })
        .expect("split");
    assert_eq!(ids, expected, "encode_ordinary differs from the reference merge");
    // Raw bytes, not UTF-8, as one piece.
    let mut got = Vec::new();
    tok.encode_piece(&raw, &mut got);
    assert_eq!(tok.decode(&got).expect("decode"), raw, "encode_piece round trip");
    let mut want = Vec::new();
    if raw.len() <= REFERENCE_MAX {
        reference_piece(&tok, &raw, &mut want);
    } else {
        reference_heap(&tok, &raw, &mut want);
    }
    assert_eq!(got, want, "encode_piece differs from the reference merge");
}

/// Each distinct named pattern compiled three ways: as `Pattern::new` takes it (its
/// hand-written splitter, or the automaton), on the automaton, and on fancy-regex (the
/// reference).
fn split_patterns() -> &'static [(Pattern, Pattern, Pattern)] {
    static PATTERNS: OnceLock<Vec<(Pattern, Pattern, Pattern)>> = OnceLock::new();
    PATTERNS.get_or_init(|| {
        let mut sources: Vec<&str> = NAMED_PATTERNS.iter().map(|&(_, p)| p).collect();
        sources.dedup();
        sources
            .into_iter()
            .map(|src| {
                let auto =
                    Pattern::new_automaton(src).expect("every named pattern compiles to the automaton");
                assert_eq!(auto.engine(), SplitEngine::Automaton);
                (Pattern::new(src).expect("valid"), auto, Pattern::new_general(src).expect("valid"))
            })
            .collect()
    })
}

/// Branch elements of the random patterns (the grammar of the real ones, as in the
/// core's property tests): classes and literals with a quantifier, greedy or possessive,
/// and contractions.
const ATOMS: [&str; 9] =
    [r"\p{L}", r"\p{N}", r"\s", r"[^\s\p{L}\p{N}]", r"[^\r\n\p{L}\p{N}]", r"[\r\n]", " ", "'", "[a-z]"];
const QUANTIFIERS: [&str; 7] = ["", "?", "+", "*", "{1,3}", "{2}", "{1,2}"];
const CONTRACTIONS: [&str; 4] =
    [r"'(?i:[sdmt]|ll|ve|re)", r"(?i:'s|'t|'re|'ve|'m|'ll|'d)", "'s", r"(?i:'s|'t|'re|'ve|'m|'ll|'d)?"];

/// The longest text a random pattern splits in [`split`].
const RANDOM_PATTERN_TEXT_MAX: usize = 8 << 10;

/// A pattern read from the input: one to six branches of one to three elements each
/// (one in eight a `$` at its end), or the `\s+(?!\S)` idiom.
fn random_pattern(input: &mut Input<'_>) -> String {
    let branches = 1 + usize::from(input.byte() % 6);
    let mut out = Vec::with_capacity(branches);
    for _ in 0..branches {
        let b = input.byte();
        if b % 9 == 8 {
            out.push(r"\s+(?!\S)".to_owned());
            continue;
        }
        let mut branch = String::new();
        for _ in 0..1 + (b / 9) % 3 {
            let e = usize::from(input.byte());
            if e % 7 == 6 {
                branch += CONTRACTIONS[e / 7 % CONTRACTIONS.len()];
                continue;
            }
            let q = usize::from(input.byte());
            let quantifier = QUANTIFIERS[q % QUANTIFIERS.len()];
            branch += ATOMS[e % ATOMS.len()];
            branch += quantifier;
            if !quantifier.is_empty() && q / QUANTIFIERS.len() % 2 == 1 {
                branch += "+"; // possessive
            }
        }
        if b / 27 % 8 == 7 {
            branch += "$";
        }
        out.push(branch);
    }
    out.join("|")
}

/// A random pattern's automaton and fancy-regex programs (`None` if the automaton refuses
/// it), compiled once per pattern: a DFA's construction costs far more than a split.
fn random_patterns(source: &str) -> Option<(Pattern, Pattern)> {
    thread_local! {
        static SEEN: std::cell::RefCell<std::collections::HashMap<String, Option<(Pattern, Pattern)>>> =
            Default::default();
    }
    SEEN.with_borrow_mut(|seen| {
        if seen.len() >= 4096 {
            seen.clear();
        }
        seen.entry(source.to_owned())
            .or_insert_with(|| {
                let reference = Pattern::new_general(source).expect("the grammar's patterns are valid");
                Pattern::new_automaton(source).ok().map(|auto| (auto, reference))
            })
            .clone()
    })
}

/// The splitters: for arbitrary text (long runs too, past the automaton's lanes and
/// windows), every named pattern's pieces on its own engine and on the automaton, and a
/// random pattern's on the automaton (if it qualifies), equal fancy-regex's, piece for
/// piece.
pub fn split(data: &[u8]) {
    let mut input = Input { data };
    let choice = input.byte();
    let (engines, reference) = if choice < 0x80 {
        let all = split_patterns();
        let (fast, auto, reference) = &all[usize::from(choice) % all.len()];
        (vec![fast.clone(), auto.clone()], reference.clone())
    } else {
        let source = random_pattern(&mut input);
        let Some((auto, reference)) = random_patterns(&source) else { return };
        (vec![auto], reference)
    };
    let mut text = text_from(&mut input);
    if engines.len() == 1 {
        // (fancy-regex's backtracking is quadratic on some random patterns: their text
        // is cut to a length that still spans several of the automaton's windows.)
        let mut end = text.len().min(RANDOM_PATTERN_TEXT_MAX);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    let want: Vec<&str> = match reference.split(&text).collect::<Result<_, _>>() {
        Ok(pieces) => pieces,
        // fancy-regex gives up past its backtracking limit on some random patterns: no
        // reference to compare with.
        Err(e) if e.message().contains("backtracking") => return,
        Err(e) => panic!("fancy-regex split: {}", e.message()),
    };
    for engine in &engines {
        let got: Vec<&str> = engine.split(&text).map(|p| p.expect("split")).collect();
        if got != want {
            let at = got.iter().zip(&want).position(|(a, b)| a != b).unwrap_or(got.len().min(want.len()));
            panic!(
                "{} split of {:?} differs from fancy-regex at piece {at}: {:?} vs {:?}",
                engine.engine(),
                engine.as_str(),
                got.get(at),
                want.get(at)
            );
        }
    }
}

/// A small fixed tokenizer with two special tokens, for the decode target.
fn fixed_tokenizer() -> &'static Tokenizer {
    static TOK: OnceLock<Tokenizer> = OnceLock::new();
    TOK.get_or_init(|| {
        let mut t = Trainer::new(Pattern::default_pattern());
        t.feed("the quick brown fox jumps over the lazy dog; the dog sleeps. 1234 ==== -=-=-=")
            .expect("feed");
        let tok = t.finish(300).expect("train");
        let n = tok.vocab_size() as u32;
        tok.with_special_tokens(vec![("<|endoftext|>".into(), n), ("<|fim|>".into(), n + 5)])
            .expect("specials")
    })
}

/// Decode of arbitrary ids: `Ok` exactly when every id is a token (ranked or special),
/// with the concatenation of their bytes; else `UnknownToken`.
pub fn decode(data: &[u8]) {
    let tok = fixed_tokenizer();
    let span = tok.vocab_size() as u32 + 8;
    let ids: Vec<u32> = data
        .chunks(4)
        .map(|c| {
            let mut w = [0u8; 4];
            w[..c.len()].copy_from_slice(c);
            let v = u32::from_le_bytes(w);
            if v & 0x8000_0000 != 0 {
                v // any id, huge ones too
            } else {
                v % span
            }
        })
        .collect();
    let expected: Option<Vec<u8>> = ids.iter().try_fold(Vec::new(), |mut acc, &id| {
        tok.token_bytes(id).map(|b| {
            acc.extend_from_slice(b);
            acc
        })
    });
    match (tok.decode(&ids), expected) {
        (Ok(got), Some(want)) => assert_eq!(got, want),
        (Err(e), None) => assert_eq!(e.kind(), ErrorKind::UnknownToken),
        (got, want) => panic!("decode gave {:?}, expected {:?}", got.map(|_| ()), want.map(|_| ())),
    }
}

/// Special tokens of any length and content (long repetitive ones too): building never
/// panics; allowed specials round trip; with tiktoken's default policy a text is an
/// error exactly when it contains a special token, else it encodes as ordinary text.
pub fn specials(data: &[u8]) {
    let mut input = Input { data };
    let base = fixed_tokenizer();
    let n = input.byte() % 4 + 1;
    let mut specials: Vec<String> = Vec::new();
    for _ in 0..n {
        let s = match input.byte() % 3 {
            0 => {
                let len = 1 + usize::from(input.byte() % 3);
                let unit = String::from_utf8_lossy(input.take(len)).into_owned();
                unit.repeat(1 + 16 * usize::from(input.byte()))
            }
            1 => {
                let len = usize::from(input.byte() % 8);
                format!("<|{}|>", String::from_utf8_lossy(input.take(len)))
            }
            _ => {
                let len = 1 + usize::from(input.byte() % 6);
                String::from_utf8_lossy(input.take(len)).into_owned()
            }
        };
        specials.push(s);
    }
    let first = base.vocab_size() as u32 + 10;
    let pairs: Vec<(String, u32)> = specials.iter().cloned().zip(first..).collect();
    let tok = match base.clone().with_special_tokens(pairs) {
        Ok(t) => t,
        Err(e) => {
            let repeated = specials.iter().enumerate().any(|(i, s)| specials[..i].contains(s));
            assert!(repeated || specials.iter().any(String::is_empty), "refused: {}", e.message());
            return;
        }
    };
    let mut text = String::from_utf8_lossy(input.data).into_owned();
    for (i, s) in specials.iter().enumerate() {
        if input.data.get(i).is_some_and(|b| b & 1 == 1) {
            let at = text.char_indices().nth(i * 3).map_or(text.len(), |(k, _)| k);
            text.insert_str(at, s);
        }
    }
    let ids = tok.encode(&text, Allowed::All).expect("encode with all allowed");
    assert_eq!(tok.decode(&ids).expect("decode"), text.as_bytes());
    let contains = specials.iter().any(|s| text.contains(s.as_str()));
    match tok.encode_with(&text, &SpecialPolicy::DEFAULT) {
        Ok(ids) => {
            assert!(!contains, "a special token in the text was not refused");
            assert_eq!(ids, tok.encode_ordinary(&text).expect("ordinary"));
        }
        Err(e) => {
            assert!(contains, "refused a text without special tokens: {}", e.message());
            assert_eq!(e.kind(), ErrorKind::DisallowedSpecial);
        }
    }
}

/// Training on arbitrary texts: the same merges as the obvious trainer (highest count,
/// smallest pair on ties); the trained tokenizer round trips every text; the count
/// table round trips.
pub fn train(data: &[u8]) {
    let mut input = Input { data };
    let merges = usize::from(input.byte() % 40);
    let pattern = pattern_for(input.byte());
    let texts: Vec<String> =
        input.data.split(|&b| b == 0xff).map(|t| String::from_utf8_lossy(t).into_owned()).collect();
    let mut trainer = Trainer::new(pattern.clone());
    let mut counts: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
    for t in &texts {
        trainer.feed(t).expect("feed");
        pattern.for_each_piece(t, |p| *counts.entry(p.as_bytes().to_vec()).or_default() += 1).expect("split");
    }
    let learned = trainer.train_merges(merges).merges;
    assert_eq!(learned, reference_merges(&counts.into_iter().collect::<Vec<_>>(), merges));
    let table = trainer.counts_bytes();
    let (_, back) = PieceCounts::from_bytes(&table).expect("own count table loads");
    assert_eq!(&back, trainer.counts());
    let tok = trainer.finish(256 + learned.len() as u32).expect("finish");
    for t in &texts {
        let ids = tok.encode_ordinary(t).expect("encode");
        assert_eq!(tok.decode(&ids).expect("decode"), t.as_bytes());
    }
}

/// The obvious trainer: recount every pair each round.
fn reference_merges(pieces: &[(Vec<u8>, u64)], merges: usize) -> Vec<(u32, u32)> {
    let mut words: Vec<(Vec<u32>, u64)> = pieces
        .iter()
        .filter(|(_, c)| *c > 0)
        .map(|(p, c)| (p.iter().map(|&b| u32::from(b)).collect(), *c))
        .collect();
    let mut out = Vec::new();
    while out.len() < merges {
        let mut pc: BTreeMap<(u32, u32), u128> = BTreeMap::new();
        for (w, c) in &words {
            for p in w.windows(2) {
                *pc.entry((p[0], p[1])).or_default() += u128::from(*c);
            }
        }
        let Some((&best, _)) = pc.iter().rev().max_by_key(|(_, &c)| c) else { break };
        let id = 256 + out.len() as u32;
        for (w, _) in &mut words {
            let mut merged = Vec::with_capacity(w.len());
            let mut i = 0;
            while i < w.len() {
                if i + 1 < w.len() && (w[i], w[i + 1]) == best {
                    merged.push(id);
                    i += 2;
                } else {
                    merged.push(w[i]);
                    i += 1;
                }
            }
            *w = merged;
        }
        out.push(best);
    }
    out
}

/// The corpus splitter: never a panic; the documents are valid text whose characters add
/// up to `chars`, within the cap; without a budget everything is consumed; and cutting the
/// input after a line (a record boundary) gives the same documents as splitting it whole.
pub fn corpus_split(data: &[u8]) {
    let mut input = Input { data };
    let (shape, limits) = (input.byte(), input.byte());
    let layout = match shape % 4 {
        0 => Layout::Whole,
        1 => Layout::Lines,
        2 => Layout::Separator(if shape & 4 == 0 { b"\n\n" } else { b"--" }),
        _ => Layout::Jsonl(if shape & 4 == 0 { b"text" } else { b"a.b" }),
    };
    let errors = [Utf8Errors::Strict, Utf8Errors::Replace, Utf8Errors::Skip][usize::from(shape / 8 % 3)];
    let doc_cap = (limits & 1 == 1).then_some(u64::from(limits >> 4));
    let max_chars = (limits & 2 == 2).then_some(u64::from(limits >> 2) * 3);
    let data = input.data;
    let opts = SplitOptions { errors, doc_cap, max_chars, ..SplitOptions::new(layout) };
    let Ok(docs) = split_docs(data, &opts) else { return };
    let texts = docs.texts(data).expect("documents are text");
    let chars: u64 = texts.iter().map(|t| t.chars().count() as u64).sum();
    assert_eq!(chars, docs.chars);
    if let Some(cap) = doc_cap {
        assert!(texts.iter().all(|t| t.chars().count() as u64 <= cap), "a document over the cap");
    }
    assert!(docs.consumed <= data.len() as u64);
    assert_eq!(docs.stopped, max_chars.is_some_and(|m| chars > m));
    if !docs.stopped {
        assert_eq!(docs.consumed, data.len() as u64);
    }
    // Chunking at a record boundary does not change the documents.
    if max_chars.is_none() && matches!(layout, Layout::Lines | Layout::Jsonl(_)) {
        if let Some(nl) = data.iter().position(|&b| b == b'\n') {
            let (a, b) = data.split_at(nl + 1);
            let da = split_docs(a, &opts).expect("a prefix of a good input splits");
            let db = split_docs(b, &opts).expect("a suffix of a good input splits");
            let mut parts = da.texts(a).expect("text");
            parts.extend(db.texts(b).expect("text"));
            assert_eq!(parts, texts);
            assert_eq!(da.skipped + db.skipped, docs.skipped);
        }
    }
}
