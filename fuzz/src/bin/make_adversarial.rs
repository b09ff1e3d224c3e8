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

/// A count table of format version 1, written from its documented layout (bpekit reads
/// version 1 and writes version 2): header, then per piece in byte order a `u32` length,
/// the bytes and a `u64` count, then the checksum.
fn v1_table(counts: &PieceCounts, pattern: &str) -> Vec<u8> {
    let mut pieces: Vec<(Vec<u8>, u64)> = counts.iter().map(|(p, c)| (p.to_vec(), c)).collect();
    pieces.sort();
    let mut body = b"BPEKITCT".to_vec();
    body.extend_from_slice(&1u32.to_le_bytes());
    body.extend_from_slice(&(pattern.len() as u32).to_le_bytes());
    body.extend_from_slice(pattern.as_bytes());
    for v in [counts.texts(), counts.bytes(), pieces.len() as u64] {
        body.extend_from_slice(&v.to_le_bytes());
    }
    for (p, c) in pieces {
        body.extend_from_slice(&(p.len() as u32).to_le_bytes());
        body.extend_from_slice(&p);
        body.extend_from_slice(&c.to_le_bytes());
    }
    resealed(&body)
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

    // ---- counts: count tables, version 1 (read only; written here by `v1_table`) and
    // version 2 (what bpekit writes) ----
    let cdir = root.join("counts");
    let pattern = Pattern::default_pattern();
    let mut counted = Trainer::new(pattern.clone());
    counted.feed("count me, count me twice: count").expect("feed");
    let table = v1_table(counted.counts(), pattern.as_str());
    write(&cdir, "ok_small.counts", &table);
    let mut sat = PieceCounts::new();
    sat.add_piece(&[b'z'; 40_000], bpekit::MAX_COUNT);
    sat.add_piece(b"ab", bpekit::MAX_COUNT);
    write(&cdir, "ok_saturated.counts", &v1_table(&sat, pattern.as_str()));
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
    let mut version = cbody.to_vec();
    version[8] = 3;
    write(&cdir, "bad_version_3.counts", &resealed(&version));

    let v2 = counted.counts_bytes();
    assert_eq!(&v2[8..12], &2u32.to_le_bytes(), "bpekit writes count tables of version 2");
    write(&cdir, "ok_v2_small.counts", &v2);
    write(&cdir, "ok_v2_saturated.counts", &sat.to_bytes(pattern.as_str()));
    // Long shared prefixes and suffixes: varints of two and three bytes.
    let mut long = PieceCounts::new();
    for n in [1, 127, 128, 129, 300, 16_384, 16_385] {
        long.add_piece(&vec![b'a'; n], n as u64);
        long.add_piece(&[vec![b'a'; n], b"bc".to_vec()].concat(), 1 << 20);
    }
    long.add_piece(&[b'b'; 40_000], 2);
    write(&cdir, "ok_v2_long_prefixes.counts", &long.to_bytes(pattern.as_str()));
    write(&cdir, "bad_v2_truncated.counts", &v2[..v2.len() - 5]);
    let mut v2flip = v2.clone();
    v2flip[v2.len() / 2] ^= 4;
    write(&cdir, "bad_v2_bitflip.counts", &v2flip);
    // Crafted bodies, checksum correct: pattern "p", one or two pieces. Per piece: shared
    // prefix length, suffix length, suffix, count (varints).
    let crafted = |n: u64, records: &[u8]| {
        let mut body = b"BPEKITCT".to_vec();
        body.extend_from_slice(&2u32.to_le_bytes());
        body.extend_from_slice(&1u32.to_le_bytes());
        body.push(b'p');
        for v in [1u64, 8, n] {
            body.extend_from_slice(&v.to_le_bytes());
        }
        body.extend_from_slice(records);
        resealed(&body)
    };
    let over_limit = [0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40]; // 2^48 + 1
    write(
        &cdir,
        "bad_v2_count_over_limit.counts",
        &crafted(1, &[&[0, 2, b'a', b'b'][..], &over_limit].concat()),
    );
    write(&cdir, "bad_v2_shared_too_long.counts", &crafted(2, &[0, 1, b'a', 1, 2, 1, b'b', 1]));
    write(&cdir, "bad_v2_not_front_coded.counts", &crafted(2, &[0, 2, b'a', b'b', 1, 0, 2, b'a', b'c', 1]));
    write(&cdir, "bad_v2_out_of_order.counts", &crafted(2, &[0, 2, b'a', b'b', 1, 1, 1, b'a', 1]));
    write(&cdir, "bad_v2_repeated.counts", &crafted(2, &[0, 1, b'a', 1, 1, 0, 1, 0]));
    write(&cdir, "bad_v2_varint_overlong.counts", &crafted(1, &[0, 0x82, 0x00, b'a', b'b', 1]));
    write(&cdir, "bad_v2_varint_overflow.counts", &crafted(1, &[&[0, 1, b'a'][..], &[0xff; 10]].concat()));
    write(&cdir, "bad_v2_suffix_past_end.counts", &crafted(1, &[0, 0xff, 0x7f, b'a', 1]));
    write(&cdir, "bad_v2_piece_count.counts", &crafted(1000, &[0, 1, b'a', 1]));

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
