//! Gives the shared library its SONAME on ELF platforms: `libbpekit.so.<ABI version>`, so
//! an executable linked against it records that name and will not load a library of
//! another ABI. (`ci/check_symbols.sh` checks it against `BPEKIT_ABI_VERSION` in the
//! header.) macOS keeps rustc's install name, `@rpath/libbpekit.dylib`.

/// `BPEKIT_ABI_VERSION` (core/src/capi/version.rs).
const ABI_VERSION: u32 = 1;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let elf = matches!(os.as_str(), "linux" | "android" | "freebsd" | "netbsd" | "openbsd" | "dragonfly");
    if elf {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libbpekit.so.{ABI_VERSION}");
    }
}
