//! Gives the shared library its SONAME on ELF platforms: `libbpekit.so.<ABI version>`, so
//! an executable linked against it records that name and will not load a library of
//! another ABI. The version is `BPEKIT_ABI_VERSION` of src/capi/version.rs (read here, so
//! it is written once; `ci/check_symbols.sh` checks the result against the header).
//! macOS keeps rustc's install name, `@rpath/libbpekit.dylib`.

fn main() {
    let source = "src/capi/version.rs";
    println!("cargo:rerun-if-changed={source}");
    let text = std::fs::read_to_string(source).expect("src/capi/version.rs is readable");
    let abi: u32 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("pub const BPEKIT_ABI_VERSION: u32 = "))
        .and_then(|rest| rest.trim_end_matches(';').trim().parse().ok())
        .expect("src/capi/version.rs defines `pub const BPEKIT_ABI_VERSION: u32 = N;`");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if matches!(os.as_str(), "linux" | "android" | "freebsd" | "netbsd" | "openbsd" | "dragonfly") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libbpekit.so.{abi}");
    }
}
