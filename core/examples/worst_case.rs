//! Time per MiB of adversarial inputs next to ordinary text, in-process (no Python):
//! adversarial texts on an OpenAI rank file, adversarial rank tables (long tokens), and
//! building with long special tokens.
//!
//! `cargo run --release --example worst_case -- RANKS.tiktoken [TEXT_FILE]`
//! (`ONLY=prefix` runs the cases whose name starts with it.)
use std::time::Instant;

use bpekit::{Allowed, Pattern, Tokenizer};

mod common;

const MIB: usize = 1 << 20;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let ranks = args.get(1).expect("usage: worst_case RANKS.tiktoken [TEXT_FILE]");
    let tok = common::openai_tokenizer(ranks);
    let only = std::env::var("ONLY").ok();
    let run = |name: &str| only.as_deref().is_none_or(|o| name.starts_with(o));
    let t = Instant::now();
    tok.encode_ordinary(&"x".repeat(200)).unwrap();
    println!("first long piece (builds the token trie): {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
    let mut rng = 0x2545f4914f6cdd1du64;
    let mut rand = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut inputs: Vec<(&str, String)> = vec![
        ("a x 1MiB", "a".repeat(MIB)),
        ("spaces", " ".repeat(MIB)),
        ("digits", "7".repeat(MIB)),
        (
            "CJK run",
            (0..MIB / 3).map(|_| char::from_u32(0x4e00 + (rand() % 20000) as u32).unwrap()).collect(),
        ),
        (
            "latin-1 run",
            (0..MIB / 2).map(|_| char::from_u32(0xc0 + (rand() % 0x3f) as u32).unwrap()).collect(),
        ),
        ("random bytes as latin-1", (0..MIB).map(|_| char::from((rand() % 256) as u8)).collect()),
        ("random letters", (0..MIB).map(|_| (b'a' + (rand() % 26) as u8) as char).collect()),
    ];
    let ordinary = args.get(2).map(|path| std::fs::read_to_string(path).unwrap());
    if let Some(text) = &ordinary {
        inputs.insert(0, ("ordinary text", text.clone()));
    }
    for (name, text) in &inputs {
        if run(name) {
            per_mib(name, &tok, text, Allowed::None);
        }
    }

    // ---- Adversarial rank tables: long tokens, the whole text one piece ----
    let bytes_and = |extra: Vec<Vec<u8>>| -> Tokenizer {
        let mut pairs: Vec<(Vec<u8>, u32)> = (0..=255u8).map(|b| (vec![b], u32::from(b))).collect();
        pairs.extend(extra.into_iter().zip(256..));
        Tokenizer::from_ranks(pairs, Pattern::new("(?s:.+)").unwrap()).unwrap()
    };
    type Table = fn() -> (Vec<Vec<u8>>, String);
    let tables: [(&str, Table); 4] = [
        // Each made by merges, up to 2,000 bytes.
        ("ranks -= x 1..1000", || ((1..=1000).map(|k| b"-=".repeat(k)).collect(), "-=".repeat(MIB / 2))),
        // One long token that no merge makes.
        ("ranks b x 40000 (unmade)", || (vec![vec![b'b'; 40_000]], "b".repeat(MIB))),
        ("ranks b x 200000 (unmade)", || (vec![vec![b'b'; 200_000]], "b".repeat(MIB))),
        // Made by merges, up to 128 KiB.
        ("ranks b x 2^1..2^17", || ((1..=17).map(|k| vec![b'b'; 1 << k]).collect(), "b".repeat(MIB))),
    ];
    for (name, table) in tables {
        if run(name) {
            let (extra, text) = table();
            let t = Instant::now();
            let adv = bytes_and(extra);
            let built = t.elapsed().as_secs_f64();
            let t = Instant::now();
            adv.encode_ordinary(&text[..1001]).unwrap(); // (not a token)
            let first = t.elapsed().as_secs_f64();
            println!("{name}: build {:.1} ms, first piece {:.1} ms", built * 1e3, first * 1e3);
            per_mib(name, &adv, &text, Allowed::None);
        }
    }

    // ---- Building with special tokens, and encoding with them allowed ----
    let eot = || ("<|endoftext|>".to_string(), tok.vocab_size() as u32);
    let openai: Vec<(String, u32)> =
        ["<|endoftext|>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|endofprompt|>"]
            .iter()
            .zip(tok.vocab_size() as u32..)
            .map(|(s, id)| (s.to_string(), id))
            .collect();
    let llama: Vec<(String, u32)> =
        (0..256).map(|i| (format!("<|reserved_special_token_{i}|>"), tok.vocab_size() as u32 + i)).collect();
    let mut sets: Vec<(String, Vec<(String, u32)>)> =
        vec![("specials: OpenAI's 5".into(), openai), ("specials: 256 of ~30 bytes".into(), llama)];
    for len in [16 << 10, 64 << 10, MIB] {
        sets.push((
            format!("specials: eot + {} KiB of 'a'", len >> 10),
            vec![eot(), ("a".repeat(len), eot().1 + 1)],
        ));
    }
    for (name, set) in sets {
        if !run(&name) {
            continue;
        }
        // (Timed without the clone of the tokenizer.)
        let (mut best, mut built) = (f64::MAX, None);
        for _ in 0..3 {
            let base = tok.clone();
            let t = Instant::now();
            built = Some(base.with_special_tokens(set.clone()).unwrap());
            best = best.min(t.elapsed().as_secs_f64());
        }
        println!("{name}: build {:.2} ms", best * 1e3);
        if let (Some(with), Some(text)) = (built, &ordinary) {
            per_mib("  ordinary text, all allowed", &with, text, Allowed::All);
        }
    }
}

/// Prints the best of 7 encodes of `text` per MiB, and the first (this text's pieces
/// not yet in the piece cache); checks that the ids decode back to the text.
fn per_mib(name: &str, tok: &Tokenizer, text: &str, allowed: Allowed<'_>) {
    let (mut best, mut first) = (f64::MAX, 0.0);
    for i in 0..7 {
        let t = Instant::now();
        let ids = match allowed {
            Allowed::None => tok.encode_ordinary(text),
            _ => tok.encode(text, allowed),
        }
        .unwrap();
        let s = t.elapsed().as_secs_f64();
        best = best.min(s);
        if i == 0 {
            first = s;
        }
        assert_eq!(tok.decode(&ids).unwrap(), text.as_bytes());
    }
    let per = |s: f64| s / (text.len() as f64 / MIB as f64);
    println!("{name:16} {:8.4} s/MiB (first run {:.4})", per(best), per(first));
}
