//! The shared hostile inputs of tests/adversarial (see its README.md) through the Rust
//! API: what must load loads and works, what must be refused is refused with the right
//! kind of error, text round trips through every tokenizer, and nothing takes long
//! (each file is timed against a generous limit that only a blow-up can reach).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bpekit::{Allowed, ErrorKind, Pattern, PieceCounts, SpecialPolicy, Tokenizer};

/// Far above what any file here takes (milliseconds), far below a blow-up (minutes).
const LIMIT: Duration = Duration::from_secs(20);

fn dir(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/adversarial").join(kind)
}

/// `(name, bytes)` of every file in `tests/adversarial/<kind>`, sorted.
fn files(kind: &str) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir(kind))
        .unwrap_or_else(|e| panic!("tests/adversarial/{kind}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e != "md"))
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no files in tests/adversarial/{kind}");
    out
}

fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    let took = start.elapsed();
    assert!(took < LIMIT, "{what} took {took:?}");
    out
}

fn whole_text() -> Pattern {
    Pattern::new(r"(?s:.+)").unwrap()
}

fn toy() -> Tokenizer {
    Tokenizer::from_bytes(&std::fs::read(dir("tokenizer").join("ok_toy.bpekit")).unwrap()).unwrap()
}

/// The tokenizers every text goes through: the toy one, and the hostile rank tables with
/// the whole text as one piece (the longest pieces there can be), and OpenAI's
/// cl100k_base when the shared data is present.
fn tokenizers() -> Vec<(String, Tokenizer)> {
    let mut out = vec![("toy".to_string(), toy())];
    for name in ["ok_dash_equals_150.tiktoken", "ok_unreachable_20k_token.tiktoken"] {
        let data = std::fs::read(dir("ranks").join(name)).unwrap();
        out.push((name.to_string(), Tokenizer::from_tiktoken(&data, whole_text()).unwrap()));
    }
    let data =
        std::env::var("BPEKIT_DATA").map_or_else(|_| PathBuf::from("../../shared/data"), PathBuf::from);
    match std::fs::read(data.join("cl100k_base.tiktoken")) {
        Ok(ranks) => out.push((
            "cl100k_base".into(),
            Tokenizer::from_tiktoken(&ranks, Pattern::default_pattern()).unwrap(),
        )),
        Err(_) => eprintln!(
            "cl100k_base.tiktoken not in {} (BPEKIT_DATA): texts run on the other tokenizers",
            data.display()
        ),
    }
    out
}

#[test]
fn rank_files() {
    for (name, data) in files("ranks") {
        let got = timed(&name, || Tokenizer::from_tiktoken(&data, Pattern::default_pattern()));
        match got {
            Ok(tok) if name.starts_with("ok_") => {
                let again =
                    Tokenizer::from_tiktoken(&tok.export_tiktoken(), Pattern::default_pattern()).unwrap();
                assert!(tok.tokens().eq(again.tokens()), "{name}: export changed the tokens");
            }
            Err(e) if name.starts_with("bad_") => {
                assert!(matches!(e.kind(), ErrorKind::BadRanks | ErrorKind::BadFormat), "{name}: {e:?}");
            }
            other => panic!("{name}: {:?}", other.map(|t| t.vocab_size())),
        }
    }
}

#[test]
fn tokenizer_files() {
    for (name, data) in files("tokenizer") {
        match timed(&name, || Tokenizer::from_bytes(&data)) {
            Ok(tok) if name.starts_with("ok_") => {
                assert_eq!(tok.to_bytes().unwrap(), data, "{name}: saves to other bytes");
                let text = "a special: <|endoftext|>, and text";
                let ids = timed(&name, || tok.encode(text, Allowed::All)).unwrap();
                assert_eq!(tok.decode(&ids).unwrap(), text.as_bytes());
            }
            Err(e) if name.starts_with("bad_") => assert!(
                matches!(e.kind(), ErrorKind::BadFormat | ErrorKind::BadPattern | ErrorKind::BadRanks),
                "{name}: {e:?}"
            ),
            other => panic!("{name}: {:?}", other.map(|t| t.vocab_size())),
        }
    }
}

#[test]
fn count_tables() {
    for (name, data) in files("counts") {
        match timed(&name, || PieceCounts::from_bytes(&data)) {
            Ok((pattern, counts)) if name.starts_with("ok_") => {
                // A table of the current version saves to the same bytes; an older one
                // saves in the current version, to a table that loads the same.
                let saved = counts.to_bytes(&pattern);
                if data[8..12] == saved[8..12] {
                    assert_eq!(saved, data, "{name}: saves to other bytes");
                } else {
                    assert_eq!(PieceCounts::from_bytes(&saved).unwrap(), (pattern, counts.clone()), "{name}");
                }
                let info = bpekit::count_table_info(&data).unwrap();
                assert_eq!((info.texts, info.pieces), (counts.texts(), counts.len() as u64), "{name}");
                assert_eq!(bpekit::merge_count_tables(&[&data]).unwrap(), saved, "{name}: merged alone");
                let merges = timed(&name, || bpekit::train_from_counts(&counts, 260)).unwrap().merges;
                assert!(!merges.is_empty(), "{name}: nothing learned");
            }
            Err(e) if name.starts_with("bad_") => {
                assert_eq!(e.kind(), ErrorKind::BadFormat, "{name}: {e:?}");
                assert_eq!(bpekit::count_table_info(&data).unwrap_err(), e, "{name}");
                let merged = bpekit::merge_count_tables(&[&data]).unwrap_err();
                assert_eq!(merged.message(), format!("tables[0]: {}", e.message()), "{name}");
            }
            other => panic!("{name}: {:?}", other.map(|t| t.1.len())),
        }
    }
}

#[test]
fn texts() {
    let tokenizers = tokenizers();
    for (name, data) in files("text") {
        match std::str::from_utf8(&data) {
            Ok(text) => {
                assert!(name.ends_with(".txt"), "{name} is UTF-8: name it .txt");
                for (tname, tok) in &tokenizers {
                    let what = format!("{name} through {tname}");
                    let ids = timed(&what, || tok.encode_ordinary(text)).unwrap();
                    assert_eq!(tok.decode(&ids).unwrap(), data, "{what}: round trip");
                    let with_specials = timed(&what, || tok.encode(text, Allowed::All)).unwrap();
                    assert_eq!(tok.decode(&with_specials).unwrap(), data, "{what}: round trip (specials)");
                    let contains = tok.special_tokens().any(|(s, _)| text.contains(s));
                    match tok.encode_with(text, &SpecialPolicy::DEFAULT) {
                        Ok(got) => assert!(!contains && got == ids, "{what}: default policy"),
                        Err(e) => {
                            assert!(contains && e.kind() == ErrorKind::DisallowedSpecial, "{what}: {e:?}")
                        }
                    }
                }
            }
            Err(_) => {
                assert!(name.ends_with(".bin"), "{name} is not UTF-8: name it .bin");
                for (tname, tok) in &tokenizers {
                    let mut ids = Vec::new();
                    timed(&name, || tok.encode_piece(&data, &mut ids));
                    assert_eq!(tok.decode(&ids).unwrap(), data, "{name} through {tname}: bytes round trip");
                }
            }
        }
    }
}

#[test]
fn id_lists() {
    let tok = toy();
    for (name, data) in files("ids") {
        let ids: Vec<u32> = data.chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().unwrap())).collect();
        match tok.decode(&ids) {
            Ok(_) if name.starts_with("ok_") => {}
            Err(e) if name.starts_with("bad_") => assert_eq!(e.kind(), ErrorKind::UnknownToken, "{name}"),
            other => panic!("{name}: {other:?}"),
        }
    }
}
