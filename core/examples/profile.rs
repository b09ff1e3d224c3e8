//! Where the time goes: split, count, merge, encode — single-threaded, one corpus.
//!
//! `cargo run --release --example profile -- FILE [VOCAB]` (FILE: plain UTF-8 text).
use std::time::Instant;

use bpekit::{
    Pattern, PieceCounts, CL100K_PATTERN, GPT2_PATTERN, NANOCHAT_PATTERN, O200K_PATTERN, RUSTBPE_GPT4_PATTERN,
};

mod common;

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
    ];
    for (name, src) in patterns {
        for (engine, p) in
            [("fast", Pattern::new(src).unwrap()), ("fancy", Pattern::new_general(src).unwrap())]
        {
            if skip_train {
                continue;
            }
            // Best of a few runs for the fast engine (it is quick and timing is noisy).
            let runs = if p.is_fast() { 5 } else { 1 };
            let (mut s, mut n) = (f64::MAX, 0usize);
            for _ in 0..runs {
                let t = Instant::now();
                n = 0;
                p.for_each_piece(&text, |_| n += 1).unwrap();
                s = s.min(t.elapsed().as_secs_f64());
            }
            println!("split {name:8} {engine:5}: {:7.1} MB/s ({n} pieces)", mb / s);
        }
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
    }
}
