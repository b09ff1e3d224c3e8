//! Where the time goes: split, count, merge, encode — single-threaded, one corpus.
//!
//! `cargo run --release --example profile -- FILE [VOCAB] [RANKS]` (FILE: plain UTF-8
//! text; VOCAB 0: no training, encode only with RANKS). The split table gives every
//! pattern's speed on the named splitter (where it has one), the automaton and fancy-regex.
use std::time::Instant;

use bpekit::{
    Pattern, PieceCounts, CL100K_PATTERN, DEEPSEEK_V3_PATTERN, GPT2_PATTERN, LLAMA3_PATTERN,
    NANOCHAT_PATTERN, O200K_PATTERN, QWEN2_PATTERN, RUSTBPE_GPT4_PATTERN,
};

mod common;

/// Best-of-`runs` split speed in MB/s, and the number of pieces.
fn split_speed(p: &Pattern, text: &str, runs: usize) -> (f64, usize) {
    let (mut s, mut n) = (f64::MAX, 0usize);
    for _ in 0..runs {
        let t = Instant::now();
        n = 0;
        p.for_each_piece(text, |_| n += 1).unwrap();
        s = s.min(t.elapsed().as_secs_f64());
    }
    (text.len() as f64 / 1e6 / s, n)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).expect("usage: profile FILE [VOCAB] [RANKS]");
    let vocab: u32 = args.get(2).map_or(32768, |v| v.parse().expect("vocab"));
    let text = std::fs::read_to_string(path).expect("read UTF-8 text");
    let mb = text.len() as f64 / 1e6;
    let skip_train = vocab == 0; // `profile FILE 0 RANKS`: encode only
    let patterns = [
        ("gpt2", GPT2_PATTERN),
        ("rustbpe", RUSTBPE_GPT4_PATTERN),
        ("nanochat", NANOCHAT_PATTERN),
        ("cl100k", CL100K_PATTERN),
        ("o200k", O200K_PATTERN),
        ("llama3", LLAMA3_PATTERN),
        ("qwen2", QWEN2_PATTERN),
        ("deepseek", DEEPSEEK_V3_PATTERN),
    ];
    // The split table is skipped in encode-only runs unless `BPEKIT_PROFILE_SPLIT=1`.
    let split_table = !skip_train || std::env::var("BPEKIT_PROFILE_SPLIT").is_ok_and(|v| v == "1");
    if split_table {
        println!("split MB/s (best of 5; fancy-regex once): pattern, named splitter, automaton, fancy-regex");
    }
    // `BPEKIT_PROFILE_PATTERNS=llama3,cl100k` limits the table to those patterns.
    let only = std::env::var("BPEKIT_PROFILE_PATTERNS").ok();
    let wanted = |name: &str| only.as_deref().is_none_or(|o| o.split(',').any(|n| n == name));
    for (name, src) in patterns.into_iter().filter(|&(name, _)| split_table && wanted(name)) {
        let named = Pattern::new(src).unwrap();
        let named = if named.is_fast() {
            format!("{:7.1}", split_speed(&named, &text, 5).0)
        } else {
            "      -".into()
        };
        let t = Instant::now();
        let auto = Pattern::new_automaton(src).unwrap();
        let build_ms = t.elapsed().as_secs_f64() * 1e3;
        let (auto_speed, n) = split_speed(&auto, &text, 5);
        let (fancy_speed, m) = split_speed(&Pattern::new_general(src).unwrap(), &text, 1);
        assert_eq!(n, m, "{name}: the automaton and fancy-regex give different piece counts");
        println!(
            "split {name:9} named {named}  automaton {auto_speed:7.1} (built in {build_ms:.0} ms)  fancy {fancy_speed:6.1}  ({n} pieces)"
        );
    }
    let p = Pattern::new(RUSTBPE_GPT4_PATTERN).unwrap();
    if skip_train {
        return encode(&args, &text, mb);
    }
    let t = Instant::now();
    let counts = PieceCounts::count_text(&p, &text).unwrap();
    let count_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let r = bpekit::train_from_counts(&counts, vocab).unwrap();
    let merge_s = t.elapsed().as_secs_f64();
    println!(
        "count: {count_s:.3} s ({:.1} MB/s, {} unique)  merge to {vocab}: {merge_s:.3} s ({} merges)",
        mb / count_s,
        counts.len(),
        r.merges.len()
    );
    encode(&args, &text, mb);
}

fn encode(args: &[String], text: &str, mb: f64) {
    if let Some(ranks) = args.get(3) {
        let tok = common::openai_tokenizer(ranks);
        let mut s = f64::MAX;
        let mut first = 0.0;
        let mut ids = Vec::new();
        for i in 0..5 {
            let t = Instant::now();
            ids = tok.encode_ordinary(text).unwrap();
            s = s.min(t.elapsed().as_secs_f64());
            if i == 0 {
                first = s;
            }
        }
        println!(
            "encode {ranks}: {:.1} MB/s best of 5, {:.1} MB/s first (cold caches) ({} tokens)",
            mb / s,
            mb / first,
            ids.len()
        );
        // The same ranks split by the automaton: its own pattern forced onto it (same
        // tokens), then Llama 3's pattern (other tokens, the speed a custom pattern gets).
        let data = std::fs::read(ranks).expect("rank file");
        let own = tok.pattern().as_str().to_owned();
        for (what, pattern) in [
            ("same pattern on the automaton", Pattern::new_automaton(&own).unwrap()),
            ("llama3 pattern (its engine)", Pattern::new(LLAMA3_PATTERN).unwrap()),
        ] {
            let other = bpekit::Tokenizer::from_tiktoken(&data, pattern).unwrap();
            let mut s = f64::MAX;
            let mut n = 0;
            for _ in 0..5 {
                let t = Instant::now();
                n = other.encode_ordinary(text).unwrap().len();
                s = s.min(t.elapsed().as_secs_f64());
            }
            println!("encode {ranks}, {what}: {:.1} MB/s best of 5 ({n} tokens)", mb / s);
        }
    }
}
