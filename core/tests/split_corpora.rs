//! The fast split path against fancy-regex on the real corpora, piece for piece.
//!
//! Reads every `*.txt` in `$BPEKIT_CORPORA` (`make corpora` writes the first 4 MB of each
//! shared sample there, decompressed). It is `#[ignore]`d by default, so a plain
//! `cargo test` reports it as ignored; `make test-rust` runs it when the corpora exist.
use bpekit::{Pattern, NAMED_PATTERNS};

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
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        for (name, src) in NAMED_PATTERNS {
            let (fast, slow) = (Pattern::new(src).unwrap(), Pattern::new_general(src).unwrap());
            assert!(fast.is_fast());
            let (mut a, mut b) = (Vec::new(), Vec::new());
            fast.for_each_piece(&text, |p| a.push(p)).unwrap();
            slow.for_each_piece(&text, |p| b.push(p)).unwrap();
            if a != b {
                let i = a.iter().zip(&b).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len()));
                panic!(
                    "{}: pattern {name}: piece {i} differs: fast {:?} vs fancy {:?}",
                    path.display(),
                    a.get(i),
                    b.get(i)
                );
            }
            println!("{}: {name}: {} pieces identical", path.display(), a.len());
        }
    }
}
