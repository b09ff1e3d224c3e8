//! Status codes and the `bpekit_error` object.

use std::ffi::{c_char, CString};

use crate::error::ErrorKind;

/// A status code: `BPEKIT_OK` (0) or one of the `BPEKIT_ERR_*` codes.
pub type bpekit_status = i32;

/// Success.
pub const BPEKIT_OK: bpekit_status = 0;
/// A required pointer argument was NULL.
pub const BPEKIT_ERR_NULL_ARG: bpekit_status = 1;
/// An argument is out of range or inconsistent (e.g. a vocab size below 256).
pub const BPEKIT_ERR_INVALID_ARG: bpekit_status = 2;
/// Input documented as text is not valid UTF-8 (for the `_utf16` functions: has a
/// lone surrogate).
pub const BPEKIT_ERR_INVALID_UTF8: bpekit_status = 3;
/// A token id is not in the vocabulary.
pub const BPEKIT_ERR_UNKNOWN_TOKEN: bpekit_status = 4;
/// Text contains a special token that the call does not allow.
pub const BPEKIT_ERR_DISALLOWED_SPECIAL: bpekit_status = 5;
/// The split pattern does not compile, or the regex engine failed while matching.
pub const BPEKIT_ERR_BAD_PATTERN: bpekit_status = 6;
/// A rank table is malformed.
pub const BPEKIT_ERR_BAD_RANKS: bpekit_status = 7;
/// A caller-provided buffer is too small (`bpekit_tokenizer_encode_into`).
pub const BPEKIT_ERR_BUFFER_TOO_SMALL: bpekit_status = 8;
/// A bug in bpekit: a panic was caught at the boundary. Please report it.
pub const BPEKIT_ERR_PANIC: bpekit_status = 9;
/// Serialized data (a count table, a tokenizer file) is truncated, corrupted, of another
/// version, or not bpekit's.
pub const BPEKIT_ERR_BAD_FORMAT: bpekit_status = 10;
/// Reading or writing a file failed (the message names the file and the OS error).
pub const BPEKIT_ERR_IO: bpekit_status = 11;
// Codes are never renumbered or reused; new codes take the next free number, and get
// their name in `STATUS_NAMES` (a test checks it against the header).

/// Every status code with its name: the one table hosts name codes from.
const STATUS_NAMES: [(bpekit_status, &std::ffi::CStr); 12] = [
    (BPEKIT_OK, c"BPEKIT_OK"),
    (BPEKIT_ERR_NULL_ARG, c"BPEKIT_ERR_NULL_ARG"),
    (BPEKIT_ERR_INVALID_ARG, c"BPEKIT_ERR_INVALID_ARG"),
    (BPEKIT_ERR_INVALID_UTF8, c"BPEKIT_ERR_INVALID_UTF8"),
    (BPEKIT_ERR_UNKNOWN_TOKEN, c"BPEKIT_ERR_UNKNOWN_TOKEN"),
    (BPEKIT_ERR_DISALLOWED_SPECIAL, c"BPEKIT_ERR_DISALLOWED_SPECIAL"),
    (BPEKIT_ERR_BAD_PATTERN, c"BPEKIT_ERR_BAD_PATTERN"),
    (BPEKIT_ERR_BAD_RANKS, c"BPEKIT_ERR_BAD_RANKS"),
    (BPEKIT_ERR_BUFFER_TOO_SMALL, c"BPEKIT_ERR_BUFFER_TOO_SMALL"),
    (BPEKIT_ERR_PANIC, c"BPEKIT_ERR_PANIC"),
    (BPEKIT_ERR_BAD_FORMAT, c"BPEKIT_ERR_BAD_FORMAT"),
    (BPEKIT_ERR_IO, c"BPEKIT_ERR_IO"),
];

/// Returns the name of a status code (`"BPEKIT_ERR_IO"` for `BPEKIT_ERR_IO`), or
/// `"BPEKIT_ERR_UNKNOWN"` for a code this library does not know (a newer library's).
///
/// A static NUL-terminated string: never freed. Thread-safe.
#[no_mangle]
pub extern "C" fn bpekit_status_name(code: bpekit_status) -> *const c_char {
    STATUS_NAMES.iter().find(|(c, _)| *c == code).map_or(c"BPEKIT_ERR_UNKNOWN", |(_, name)| name).as_ptr()
}

/// An error: a status code and a message. Created by bpekit, owned by the caller,
/// released with `bpekit_error_free`.
pub struct bpekit_error {
    code: bpekit_status,
    message: CString,
}

/// The error type of the C layer: a code and a message, before it is boxed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CError {
    pub(crate) code: bpekit_status,
    pub(crate) message: String,
}

impl CError {
    pub(crate) fn new(code: bpekit_status, message: impl Into<String>) -> Self {
        CError { code, message: message.into() }
    }

    pub(crate) fn null(arg: &str) -> Self {
        Self::new(BPEKIT_ERR_NULL_ARG, format!("argument `{arg}` is NULL"))
    }

    pub(crate) fn into_box(self) -> Box<bpekit_error> {
        // A message is user-visible text; an interior NUL would truncate it in C.
        let message = CString::new(self.message.replace('\0', "\\0"))
            .unwrap_or_else(|_| CString::from(c"(unprintable message)"));
        Box::new(bpekit_error { code: self.code, message })
    }
}

impl From<crate::Error> for CError {
    fn from(e: crate::Error) -> Self {
        let code = match e.kind() {
            ErrorKind::InvalidArg => BPEKIT_ERR_INVALID_ARG,
            ErrorKind::InvalidUtf8 => BPEKIT_ERR_INVALID_UTF8,
            ErrorKind::UnknownToken => BPEKIT_ERR_UNKNOWN_TOKEN,
            ErrorKind::BadPattern => BPEKIT_ERR_BAD_PATTERN,
            ErrorKind::BadRanks => BPEKIT_ERR_BAD_RANKS,
            ErrorKind::BadFormat => BPEKIT_ERR_BAD_FORMAT,
            ErrorKind::DisallowedSpecial => BPEKIT_ERR_DISALLOWED_SPECIAL,
            ErrorKind::Io => BPEKIT_ERR_IO,
        };
        CError::new(code, e.message())
    }
}

/// Returns the status code of `e`.
///
/// `e` may be NULL, which gives `BPEKIT_OK`. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn bpekit_error_code(e: *const bpekit_error) -> bpekit_status {
    // SAFETY: the caller passes NULL or a live error from bpekit (documented).
    match unsafe { e.as_ref() } {
        Some(e) => e.code,
        None => BPEKIT_OK,
    }
}

/// Returns the message of `e`: NUL-terminated UTF-8, borrowed from `e`.
///
/// The pointer is valid until `bpekit_error_free(e)`; do not free it. `e` may be NULL,
/// which gives an empty string.
#[no_mangle]
pub unsafe extern "C" fn bpekit_error_message(e: *const bpekit_error) -> *const c_char {
    // SAFETY: the caller passes NULL or a live error from bpekit (documented).
    match unsafe { e.as_ref() } {
        Some(e) => e.message.as_ptr(),
        None => c"".as_ptr(),
    }
}

/// Releases an error. `bpekit_error_free(NULL)` does nothing.
#[no_mangle]
pub unsafe extern "C" fn bpekit_error_free(e: *mut bpekit_error) {
    if !e.is_null() {
        // SAFETY: non-NULL errors come from `CError::into_box` via `Box::into_raw`, and the
        // caller frees each one once (documented).
        drop(unsafe { Box::from_raw(e) });
    }
}
