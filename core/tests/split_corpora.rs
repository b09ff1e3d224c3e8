//! The fast split paths (the named splitter and the automaton) against fancy-regex on
//! the real corpora, piece for piece, for every named pattern.
//!
//! Reads every `*.txt` in `$BPEKIT_CORPORA` (`make corpora` writes the first 4 MB of each
//! shared sample there, decompressed). It is `#[ignore]`d by default, so a plain
//! `cargo test` reports it as ignored; `make test-rust` runs it when the corpora exist.
use bpekit::{Pattern, SplitEngine, NAMED_PATTERNS};

fn assert_same_pieces(fast: &Pattern, slow: &[&str], text: &str, what: &str) {
    let mut a = Vec::new();
    fast.for_each_piece(text, |p| a.push(p)).unwrap();
    if a != slow {
        let i = a.iter().zip(slow).position(|(x, y)| x != y).unwrap_or(a.len().min(slow.len()));
        panic!("{what}: piece {i} differs: {} {:?} vs fancy {:?}", fast.engine(), a.get(i), slow.get(i));
    }
}

#[test]
#[ignore = "needs the shared corpora: BPEKIT_CORPORA (make corpora)"]
fn fast_split_equals_fancy_regex_on_corpora() {
    let dir = std::env::var("BPEKIT_CORPORA").expect("set BPEKIT_CORPORA to a directory of .txt corpora");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("BPEKIT_CORPORA={dir}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .txt corpora in {dir}");
    let mut sources: Vec<(&str, &str)> = NAMED_PATTERNS.to_vec();
    sources.dedup_by_key(|(_, src)| *src);
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        for &(name, src) in &sources {
            let slow = Pattern::new_general(src).unwrap();
            let mut want = Vec::new();
            slow.for_each_piece(&text, |p| want.push(p)).unwrap();
            let default = Pattern::new(src).unwrap();
            assert_ne!(default.engine(), SplitEngine::Backtracking, "{name}");
            let what = format!("{}: pattern {name}", path.display());
            assert_same_pieces(&default, &want, &text, &what);
            let automaton = Pattern::new_automaton(src).unwrap();
            assert_same_pieces(&automaton, &want, &text, &what);
            println!("{what}: {} pieces identical ({} and automaton)", want.len(), default.engine());
        }
    }
}
