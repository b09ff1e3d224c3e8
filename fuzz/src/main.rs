//! The stable-Rust fuzz driver: runs each target on its seeds, then on random mutations
//! of them until its time is up. No coverage feedback (that is libFuzzer's job, see
//! README.md); the mutations are chosen for this library: long runs (a chunk repeated),
//! splices of two seeds, and a dictionary of special-token and UTF-8 fragments.
//!
//! A failure is a panic (the target's checks) or an input that runs longer than
//! `--timeout-ms` (a blow-up); either way the input is written to `--artifacts`, the
//! driver says how to replay it, and exits non-zero.
//!
//! ```text
//! bpekit-fuzz [--seconds S] [--seed N] [--max-len N] [--timeout-ms MS] [TARGET...]
//! bpekit-fuzz --replay TARGET FILE...
//! ```

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bpekit_fuzz::{fnv1a, target, Target, TARGETS};

/// Fragments the mutator inserts: special-token syntax, runs that long tokens are made
/// of, UTF-8 edge cases (a surrogate's encoding, an overlong form, a 4-byte character).
const DICTIONARY: &[&[u8]] = &[
    b"<|endoftext|>",
    b"<|",
    b"|>",
    b"-=",
    b"====",
    b"\xed\xa0\x80",
    b"\xc0\xaf",
    "é".as_bytes(),
    "𝕏".as_bytes(),
    "日本語".as_bytes(),
    b"  ",
    b"\n\n",
    b"\r\n",
    b"123",
    b" the",
    b"'s",
    b"\x00",
    b"\xff",
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>], input: &mut Vec<u8>, max_len: usize) {
    for _ in 0..1 + rng.below(6) {
        let len = input.len();
        match rng.below(9) {
            0 if len > 0 => {
                let i = rng.below(len);
                input[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                input[i] = [0, 0xff, 0x7f, 0x80, b'\n', b' ', 0xc0, 0xed, rng.next() as u8][rng.below(9)];
            }
            2 => {
                let at = rng.below(len + 1);
                let n = 1 + rng.below(8);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                input.splice(at..at, bytes);
            }
            3 if len > 0 => {
                let a = rng.below(len);
                let b = (a + 1 + rng.below(16)).min(len);
                input.drain(a..b);
            }
            4 if len > 0 => {
                // A chunk repeated: the long runs that stress merges and special search.
                let a = rng.below(len);
                let b = (a + 1 + rng.below(4)).min(len);
                let chunk = input[a..b].repeat(1 + rng.below(200));
                input.splice(b..b, chunk);
            }
            5 if !seeds.is_empty() => {
                let other = &seeds[rng.below(seeds.len())];
                let (cut, from) = (rng.below(len + 1), rng.below(other.len() + 1));
                input.truncate(cut);
                input.extend_from_slice(&other[from..]);
            }
            6 => {
                let at = rng.below(len + 1);
                input.splice(at..at, DICTIONARY[rng.below(DICTIONARY.len())].iter().copied());
            }
            7 if len > 0 => input.truncate(rng.below(len)),
            _ => {
                let at = rng.below(len + 1);
                input.insert(at, rng.next() as u8);
            }
        }
    }
    input.truncate(max_len);
}

/// The seed directories of a target: its own under fuzz/corpus, and the shared
/// adversarial inputs of its kind under tests/adversarial.
fn seed_dirs(root: &Path, name: &str) -> Vec<PathBuf> {
    let shared = match name {
        "tiktoken_ranks" => Some("ranks"),
        "tokenizer_file" => Some("tokenizer"),
        "count_table" => Some("counts"),
        "decode" => Some("ids"),
        _ => None,
    };
    let mut dirs = vec![root.join("fuzz/corpus").join(name)];
    dirs.extend(shared.map(|s| root.join("tests/adversarial").join(s)));
    dirs
}

fn read_seeds(dirs: &[PathBuf]) -> Vec<Vec<u8>> {
    let mut files: Vec<PathBuf> = dirs
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_none_or(|e| e != "md"))
        .collect();
    files.sort();
    files.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

/// What the watchdog needs: the input running now and since when.
struct Current {
    input: Mutex<Vec<u8>>,
    started_ms: AtomicU64,
    running: AtomicBool,
}

fn now_ms(origin: Instant) -> u64 {
    origin.elapsed().as_millis() as u64
}

fn save_artifact(dir: &Path, name: &str, kind: &str, input: &[u8]) -> PathBuf {
    let _ = std::fs::create_dir_all(dir);
    let path = dir.join(format!("{name}-{kind}-{:016x}", fnv1a(input)));
    let _ = std::fs::write(&path, input);
    path
}

struct Options {
    seconds: f64,
    seed: u64,
    max_len: usize,
    timeout: Duration,
    artifacts: PathBuf,
    root: PathBuf,
}

fn fuzz(t: &Target, opts: &Options) -> bool {
    let mut seeds = read_seeds(&seed_dirs(&opts.root, t.name));
    if matches!(t.name, "tokenizer_file" | "count_table") {
        // Each file again without its checksum, flagged for the target to append a
        // correct one: mutations of these reach the parser behind the checksum.
        let unsealed: Vec<Vec<u8>> =
            seeds.iter().filter(|s| s.len() > 8).map(|s| [&[1u8][..], &s[..s.len() - 8]].concat()).collect();
        seeds.extend(unsealed);
    }
    let origin = Instant::now();
    let current = Arc::new(Current {
        input: Mutex::new(Vec::new()),
        started_ms: AtomicU64::new(0),
        running: AtomicBool::new(false),
    });
    let done = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let (current, done, timeout, artifacts, name) =
            (Arc::clone(&current), Arc::clone(&done), opts.timeout, opts.artifacts.clone(), t.name);
        std::thread::spawn(move || {
            while !done.load(SeqCst) {
                std::thread::sleep(Duration::from_millis(50));
                if current.running.load(SeqCst)
                    && now_ms(origin) - current.started_ms.load(SeqCst) > timeout.as_millis() as u64
                {
                    let input = current.input.lock().map(|g| g.clone()).unwrap_or_default();
                    let path = save_artifact(&artifacts, name, "timeout", &input);
                    eprintln!("{name}: an input ran longer than {timeout:?}: saved to {}", path.display());
                    eprintln!("replay: bpekit-fuzz --replay {name} {}", path.display());
                    std::process::exit(2);
                }
            }
        })
    };
    let mut rng = Rng(opts.seed | 1);
    let deadline = Duration::from_secs_f64(opts.seconds);
    let (mut runs, mut slowest) = (0u64, Duration::ZERO);
    let mut input = Vec::new();
    let mut slowest_input = Vec::new();
    let mut ok = true;
    while ok {
        if runs as usize >= seeds.len() && origin.elapsed() >= deadline {
            break;
        }
        input.clear();
        match seeds.get(runs as usize) {
            Some(seed) => input.extend_from_slice(seed),
            None => {
                if !seeds.is_empty() && rng.below(8) != 0 {
                    input.extend_from_slice(&seeds[rng.below(seeds.len())]);
                }
                mutate(&mut rng, &seeds, &mut input, opts.max_len);
            }
        }
        if let Ok(mut g) = current.input.lock() {
            g.clone_from(&input);
        }
        current.started_ms.store(now_ms(origin), SeqCst);
        current.running.store(true, SeqCst);
        let start = Instant::now();
        let result = std::panic::catch_unwind(|| (t.run)(&input));
        if start.elapsed() > slowest {
            slowest = start.elapsed();
            slowest_input.clone_from(&input);
        }
        current.running.store(false, SeqCst);
        runs += 1;
        if result.is_err() {
            let path = save_artifact(&opts.artifacts, t.name, "panic", &input);
            eprintln!("{}: the target panicked (message above); input saved to {}", t.name, path.display());
            eprintln!("replay: bpekit-fuzz --replay {} {}", t.name, path.display());
            ok = false;
        }
    }
    done.store(true, SeqCst);
    let _ = watchdog.join();
    // The slowest input, to look at (not a failure): fuzz/artifacts/<target>-slowest-*.
    if slowest > opts.timeout / 4 {
        let path = save_artifact(&opts.artifacts, t.name, "slowest", &slowest_input);
        println!(
            "{}: slowest input ({:.0} ms) saved to {}",
            t.name,
            slowest.as_secs_f64() * 1e3,
            path.display()
        );
    }
    println!(
        "{:<15} {:>8} inputs ({} seeds) in {:>5.1} s, slowest {:>7.1} ms{}",
        t.name,
        runs,
        seeds.len(),
        origin.elapsed().as_secs_f64(),
        slowest.as_secs_f64() * 1e3,
        if ok { "" } else { "  FAILED" }
    );
    ok
}

fn usage() -> ! {
    eprintln!("usage: bpekit-fuzz [--seconds S] [--seed N] [--max-len N] [--timeout-ms MS] [TARGET...]");
    eprintln!("       bpekit-fuzz --replay TARGET FILE...");
    eprintln!("targets: {}", TARGETS.iter().map(|t| t.name).collect::<Vec<_>>().join(" "));
    std::process::exit(64);
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut opts = Options {
        seconds: 10.0,
        seed: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64),
        max_len: 4096,
        timeout: Duration::from_secs(2),
        artifacts: root.join("fuzz/artifacts"),
        root,
    };
    let mut args = std::env::args().skip(1);
    let mut names = Vec::new();
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--seconds" => opts.seconds = value().parse().unwrap_or_else(|_| usage()),
            "--seed" => opts.seed = value().parse().unwrap_or_else(|_| usage()),
            "--max-len" => opts.max_len = value().parse().unwrap_or_else(|_| usage()),
            "--timeout-ms" => {
                opts.timeout = Duration::from_millis(value().parse().unwrap_or_else(|_| usage()))
            }
            "--replay" => {
                let t = target(&value()).unwrap_or_else(|| usage());
                for file in args.by_ref() {
                    let data = std::fs::read(&file).unwrap_or_else(|e| panic!("{file}: {e}"));
                    let start = Instant::now();
                    (t.run)(&data);
                    println!("{file}: ok in {:.1} ms", start.elapsed().as_secs_f64() * 1e3);
                }
                return;
            }
            "-h" | "--help" => usage(),
            name => names.push(target(name).unwrap_or_else(|| usage())),
        }
    }
    if names.is_empty() {
        names = TARGETS.iter().collect();
    }
    println!(
        "bpekit-fuzz: seed {} ({} s per target, inputs up to {} bytes)",
        opts.seed, opts.seconds, opts.max_len
    );
    let mut failed = 0;
    for t in names {
        if !fuzz(t, &opts) {
            failed += 1;
        }
    }
    if failed > 0 {
        std::process::exit(1);
    }
}
