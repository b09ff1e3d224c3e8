//! Writes tests/adversarial/: hostile inputs shared by the Rust, C and Python tests and
//! used as fuzz seeds. Deterministic: running it again gives the same files.
//!
//! ```text
//! cargo run --release --manifest-path fuzz/Cargo.toml --bin make-adversarial
//! ```
//!
//! File names carry the expectation (tests/adversarial/README.md): `ok_*` must load,
//! `bad_*` must be refused with a clear error; `*.txt` is UTF-8 text, `*.bin` is not.

use std::path::Path;

use bpekit::{Pattern, PieceCounts, Tokenizer, Trainer};
use bpekit_fuzz::fnv1a;

/// `body` with a correct checksum: corruption that only the content checks can catch.
fn resealed(body: &[u8]) -> Vec<u8> {
    let mut v = body.to_vec();
    v.extend_from_slice(&fnv1a(body).to_le_bytes());
    v
}

fn write(dir: &Path, name: &str, data: &[u8]) {
    std::fs::create_dir_all(dir).expect("mkdir");
    std::fs::write(dir.join(name), data).expect("write");
}

fn toy() -> Tokenizer {
    let mut t = Trainer::new(Pattern::default_pattern());
    t.feed("the quick brown fox jumps over the lazy dog; the dog sleeps. hello hello world 1234 ==== -=-=-=")
        .expect("feed");
    let tok = t.finish(300).expect("train");
    let n = tok.vocab_size() as u32;
    tok.with_special_tokens(vec![("<|endoftext|>".into(), n), ("<|fim|>".into(), n + 1)]).expect("specials")
}

fn rank_file(tokens: &[(Vec<u8>, u32)]) -> Vec<u8> {
    let mut sorted = tokens.to_vec();
    sorted.sort_by_key(|t| t.1);
    bpekit::write_tiktoken(sorted.iter().map(|(b, r)| (&b[..], *r)))
}

fn bytes_256() -> Vec<(Vec<u8>, u32)> {
    (0..=255u8).map(|b| (vec![b], u32::from(b))).collect()
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/adversarial");
    let tok = toy();

    // ---- text: encode must round trip (txt) or refuse invalid UTF-8 as text (bin) ----
    let text = root.join("text");
    write(&text, "run_letter.txt", "a".repeat(65_536).as_bytes());
    write(&text, "run_spaces.txt", " ".repeat(65_536).as_bytes());
    write(&text, "run_digits.txt", "7".repeat(65_536).as_bytes());
    write(&text, "run_newlines.txt", "\r\n".repeat(20_000).as_bytes());
    write(&text, "run_dash_equals.txt", ("-=".repeat(3000) + "=").as_bytes());
    write(&text, "run_equals.txt", "=".repeat(40_000).as_bytes());
    write(&text, "cjk_no_space.txt", "日本語の文章には空白がない".repeat(1500).as_bytes());
    write(&text, "emoji_zwj.txt", "👩‍👩‍👧‍👦🏳️‍🌈".repeat(2000).as_bytes());
    write(&text, "combining_marks.txt", ("e".to_string() + &"\u{301}".repeat(5000)).as_bytes());
    write(
        &text,
        "specials_inside_specials.txt",
        b"<|endo<|endoftext|>ftext|> <|<|fim|>|> <|endoftext|<|endoftext|>> <|endoftext|><|endoftext|>",
    );
    write(&text, "special_prefixes.txt", "<|endoftext".repeat(3000).as_bytes());
    write(&text, "nul_inside.txt", b"before\0after\0\0\0 and <|endoftext|>\0");
    write(
        &text,
        "mixed_scripts.txt",
        "Ελληνικά русский العربية עברית हिन्दी 한국어 ไทย ".repeat(500).as_bytes(),
    );
    write(&text, "bad_lone_surrogate.bin", b"ab\xed\xa0\x80cd");
    write(&text, "bad_overlong.bin", b"\xc0\xaf slash");
    write(&text, "bad_truncated_char.bin", b"caf\xc3");
    write(
        &text,
        "bad_random_latin1.bin",
        &(0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect::<Vec<u8>>(),
    );

    // ---- ranks: .tiktoken files ----
    let ranks = root.join("ranks");
    let good = tok.export_tiktoken();
    write(&ranks, "ok_toy.tiktoken", &good);
    let mut dash = bytes_256();
    for k in 1..=150u32 {
        dash.push(("-=".repeat(k as usize).into_bytes(), 255 + k));
    }
    write(&ranks, "ok_dash_equals_150.tiktoken", &rank_file(&dash));
    let mut long = bytes_256();
    long.push((vec![b'b'; 20_000], 256));
    write(&ranks, "ok_unreachable_20k_token.tiktoken", &rank_file(&long));
    write(&ranks, "bad_truncated.tiktoken", &good[..good.len() / 2 - 3]);
    let mut flipped = good.clone();
    flipped[40] ^= 0x40;
    flipped[41] = b'!';
    write(&ranks, "bad_bitflip.tiktoken", &flipped);
    write(&ranks, "bad_empty.tiktoken", b"");
    write(&ranks, "bad_missing_byte.tiktoken", &rank_file(&bytes_256()[1..]));
    let mut dup = bytes_256();
    dup.push((b"ab".to_vec(), 7));
    write(&ranks, "bad_duplicate_rank.tiktoken", &rank_file(&dup));
    let mut sparse = bytes_256();
    sparse.push((b"ab".to_vec(), 4_000_000_000));
    write(&ranks, "bad_huge_rank.tiktoken", &rank_file(&sparse));
    write(&ranks, "bad_base64.tiktoken", b"YQ== 0\n@@@@ 1\n");
    write(&ranks, "bad_rank_overflow.tiktoken", b"YQ== 99999999999999999999\n");

    // ---- tokenizer: bpekit's own file ----
    let tdir = root.join("tokenizer");
    let file = tok.to_bytes().expect("save");
    write(&tdir, "ok_toy.bpekit", &file);
    let long_special = tok
        .clone()
        .with_special_tokens(vec![("<|endoftext|>".into(), 300), ("ab".repeat(8192), 301)])
        .expect("specials");
    write(&tdir, "ok_long_special_16k.bpekit", &long_special.to_bytes().expect("save"));
    write(&tdir, "bad_truncated.bpekit", &file[..file.len() - 9]);
    let mut flip = file.clone();
    flip[30] ^= 1;
    write(&tdir, "bad_bitflip.bpekit", &flip);
    let body = &file[..file.len() - 8];
    let mut version = body.to_vec();
    version[8] = 99;
    write(&tdir, "bad_version_99.bpekit", &resealed(&version));
    let mut pattern = body.to_vec();
    pattern[16] = b'('; // an unbalanced group in the pattern, checksum correct
    write(&tdir, "bad_pattern.bpekit", &resealed(&pattern));
    let mut length = body.to_vec();
    length[12..16].copy_from_slice(&u32::MAX.to_le_bytes()); // pattern length past the end
    write(&tdir, "bad_length.bpekit", &resealed(&length));
    write(&tdir, "bad_magic.bpekit", b"NOTBPEKIT-at-all");

    // ---- counts: count tables ----
    let cdir = root.join("counts");
    let mut counted = Trainer::new(Pattern::default_pattern());
    counted.feed("count me, count me twice: count").expect("feed");
    let table = counted.counts_bytes();
    write(&cdir, "ok_small.counts", &table);
    let mut sat = PieceCounts::new();
    sat.add_piece(&[b'z'; 40_000], bpekit::MAX_COUNT);
    sat.add_piece(b"ab", bpekit::MAX_COUNT);
    write(&cdir, "ok_saturated.counts", &sat.to_bytes(Pattern::default_pattern().as_str()));
    write(&cdir, "bad_truncated.counts", &table[..table.len() - 5]);
    let mut cflip = table.clone();
    cflip[20] ^= 4;
    write(&cdir, "bad_bitflip.counts", &cflip);
    // A count above the limit, checksum correct: the last piece's count is the last 8
    // bytes of the body.
    let cbody = &table[..table.len() - 8];
    let mut over = cbody.to_vec();
    let at = over.len() - 8;
    over[at..].copy_from_slice(&((1u64 << 48) + 1).to_le_bytes());
    write(&cdir, "bad_count_over_limit.counts", &resealed(&over));
    let mut piece_len = cbody.to_vec();
    let pat_len = u32::from_le_bytes(piece_len[12..16].try_into().expect("4 bytes")) as usize;
    let first_piece = 16 + pat_len + 24;
    piece_len[first_piece..first_piece + 4].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
    write(&cdir, "bad_piece_length.counts", &resealed(&piece_len));

    // ---- ids: u32 little-endian arrays, for the toy tokenizer (ranks/ok_toy.tiktoken
    // plus its two specials: tokenizer/ok_toy.bpekit) ----
    let idir = root.join("ids");
    let le = |ids: &[u32]| ids.iter().flat_map(|i| i.to_le_bytes()).collect::<Vec<u8>>();
    let ok_ids = tok.encode("hello world<|endoftext|>", bpekit::Allowed::All).expect("encode");
    write(&idir, "ok_hello.u32le", &le(&ok_ids));
    write(&idir, "ok_empty.u32le", b"");
    write(&idir, "bad_max_u32.u32le", &le(&[104, u32::MAX]));
    write(&idir, "bad_just_past_vocab.u32le", &le(&[tok.vocab_size() as u32 + 2]));
    write(&idir, "bad_sign_bit.u32le", &le(&[0x8000_0000]));
    println!("wrote {}", root.display());
}
