//! Time per MiB of adversarial inputs next to ordinary text, in-process (no Python).
//!
//! `cargo run --release --example worst_case -- RANKS.tiktoken [TEXT_FILE]`
use std::time::Instant;

mod common;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let ranks = args.get(1).expect("usage: worst_case RANKS.tiktoken [TEXT_FILE]");
    let tok = common::openai_tokenizer(ranks);
    let t = Instant::now();
    tok.encode_ordinary(&"x".repeat(200)).unwrap();
    println!("first long piece (builds the token trie): {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
    let mib = 1 << 20;
    let mut rng = 0x2545f4914f6cdd1du64;
    let mut rand = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut inputs: Vec<(&str, String)> = vec![
        ("a x 1MiB", "a".repeat(mib)),
        ("spaces", " ".repeat(mib)),
        ("digits", "7".repeat(mib)),
        (
            "CJK run",
            (0..mib / 3).map(|_| char::from_u32(0x4e00 + (rand() % 20000) as u32).unwrap()).collect(),
        ),
        (
            "latin-1 run",
            (0..mib / 2).map(|_| char::from_u32(0xc0 + (rand() % 0x3f) as u32).unwrap()).collect(),
        ),
        ("random bytes as latin-1", (0..mib).map(|_| char::from((rand() % 256) as u8)).collect()),
        ("random letters", (0..mib).map(|_| (b'a' + (rand() % 26) as u8) as char).collect()),
    ];
    if let Some(path) = args.get(2) {
        inputs.insert(0, ("ordinary text", std::fs::read_to_string(path).unwrap()));
    }
    let only = std::env::var("ONLY").ok();
    for (name, text) in &inputs {
        if only.as_deref().is_some_and(|o| !name.starts_with(o)) {
            continue;
        }
        // Best of 7, and the first run (this text's pieces not yet in the piece cache).
        let (mut best, mut first) = (f64::MAX, 0.0);
        for i in 0..7 {
            let t = Instant::now();
            let ids = tok.encode_ordinary(text).unwrap();
            let s = t.elapsed().as_secs_f64();
            best = best.min(s);
            if i == 0 {
                first = s;
            }
            assert_eq!(tok.decode(&ids).unwrap(), text.as_bytes());
        }
        let per_mib = |s: f64| s / (text.len() as f64 / mib as f64);
        println!("{name:16} {:8.4} s/MiB (first run {:.4})", per_mib(best), per_mib(first));
    }
}
