//! Library and ABI versions.

use std::ffi::c_char;

/// Major version of bpekit (the header's copy; a test checks it against Cargo.toml).
pub const BPEKIT_VERSION_MAJOR: u32 = 0;
/// Minor version of bpekit.
pub const BPEKIT_VERSION_MINOR: u32 = 1;
/// Patch version of bpekit.
pub const BPEKIT_VERSION_PATCH: u32 = 0;
/// ABI version this header describes; compare with `bpekit_abi_version()` at run time.
pub const BPEKIT_ABI_VERSION: u32 = 2;

static VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");

/// Returns the library version, e.g. `"0.1.0"`: a static NUL-terminated string; do not free it.
#[no_mangle]
pub extern "C" fn bpekit_version() -> *const c_char {
    VERSION.as_ptr().cast()
}

/// Returns the ABI version of the loaded library. It changes on any breaking ABI change;
/// hosts compare it with `BPEKIT_ABI_VERSION` from the header they were built against.
#[no_mangle]
pub extern "C" fn bpekit_abi_version() -> u32 {
    BPEKIT_ABI_VERSION
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_version_matches_cargo() {
        assert_eq!(BPEKIT_VERSION_MAJOR.to_string(), env!("CARGO_PKG_VERSION_MAJOR"));
        assert_eq!(BPEKIT_VERSION_MINOR.to_string(), env!("CARGO_PKG_VERSION_MINOR"));
        assert_eq!(BPEKIT_VERSION_PATCH.to_string(), env!("CARGO_PKG_VERSION_PATCH"));
    }
}
