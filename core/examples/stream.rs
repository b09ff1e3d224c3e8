//! Encode a stream of documents the way `bench/encode_bench.py` does (one call per
//! document, three passes in one process), in-process: MB/s per pass.
//!
//! `cargo run --release --example stream -- RANKS.tiktoken DOCS_FILE` (documents separated
//! by NUL bytes).
use std::time::Instant;

mod common;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(ranks), Some(path)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: stream RANKS.tiktoken DOCS_FILE");
        std::process::exit(2);
    };
    let tok = common::openai_tokenizer(ranks);
    let text = std::fs::read_to_string(path).unwrap();
    let docs: Vec<&str> = text.split('\0').collect();
    let mb = text.len() as f64 / (1 << 20) as f64;
    let passes: usize = std::env::var("PASSES").ok().and_then(|p| p.parse().ok()).unwrap_or(3);
    for pass in 0..passes {
        let t = Instant::now();
        let mut n = 0;
        for d in &docs {
            n += tok.encode_ordinary(d).unwrap().len();
        }
        let s = t.elapsed().as_secs_f64();
        println!("pass {pass}: {:.1} MB/s ({n} tokens)", mb / s);
    }
}
