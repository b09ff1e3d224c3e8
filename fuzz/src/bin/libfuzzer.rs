//! The same targets under libFuzzer (coverage-guided), one target per process, chosen by
//! `BPEKIT_FUZZ_TARGET`. Built on stable Rust with coverage instrumentation passed as
//! ordinary codegen flags; see README.md.
#![no_main]

use std::sync::OnceLock;

fn chosen() -> fn(&[u8]) {
    static RUN: OnceLock<fn(&[u8])> = OnceLock::new();
    *RUN.get_or_init(|| {
        let name = std::env::var("BPEKIT_FUZZ_TARGET").unwrap_or_default();
        match bpekit_fuzz::target(&name) {
            Some(t) => t.run,
            None => {
                let names: Vec<&str> = bpekit_fuzz::TARGETS.iter().map(|t| t.name).collect();
                eprintln!("set BPEKIT_FUZZ_TARGET to one of: {}", names.join(" "));
                std::process::exit(64);
            }
        }
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| chosen()(data));
