//! `bpekit_tokenizer`: encode, decode and export through the C ABI.

use super::boundary::{call, call_or, try_out, try_ref, try_slice, utf8, write};
use super::buffers::{bpekit_bytes, bpekit_tokens};
use super::error::{bpekit_error, bpekit_status, CError, BPEKIT_ERR_UNKNOWN_TOKEN};
use super::trainer::pattern_arg;
use crate::Tokenizer;

/// A tokenizer. Immutable: any number of threads may use one at once.
pub struct bpekit_tokenizer {
    inner: Tokenizer,
}

impl bpekit_tokenizer {
    pub(crate) fn into_raw(inner: Tokenizer) -> *mut bpekit_tokenizer {
        Box::into_raw(Box::new(bpekit_tokenizer { inner }))
    }
}

/// Creates a tokenizer from ranks in tiktoken's `.tiktoken` format
/// (`base64(token) SP rank LF` per line) and a split pattern.
///
/// `ranks` is `ranks_len` bytes (the file's contents). Ranks may have gaps: the vocab
/// size is the largest rank + 1 and unused ids are unknown tokens. A token listed twice
/// keeps its last rank (as a Python dict built from the file would). `pattern` is UTF-8
/// in fancy-regex syntax; `(NULL, 0)` means the default GPT-4 (`cl100k_base`) pattern.
/// Both are copied; the tokenizer is independent of them and of any trainer.
/// On success `*out` receives a new tokenizer, owned by the caller (release with
/// `bpekit_tokenizer_free`).
/// Errors: `BPEKIT_ERR_NULL_ARG`, `BPEKIT_ERR_INVALID_UTF8` (pattern), `BPEKIT_ERR_BAD_PATTERN`,
/// `BPEKIT_ERR_BAD_RANKS` (a malformed line, two tokens with one rank, a missing single
/// byte, a largest rank far beyond the number of tokens; the message names the problem).
#[no_mangle]
pub unsafe extern "C" fn bpekit_tokenizer_from_tiktoken(
    ranks: *const u8,
    ranks_len: usize,
    pattern: *const u8,
    pattern_len: usize,
    out: *mut *mut bpekit_tokenizer,
    err: *mut *mut bpekit_error,
) -> bpekit_status {
    // SAFETY: pointers are NULL or valid as documented (caller's contract).
    unsafe {
        call(err, || {
            let out = try_out(out, "out")?;
            let ranks = try_slice(ranks, ranks_len, "ranks")?;
            let pattern = pattern_arg(pattern, pattern_len)?;
            let tok = Tokenizer::from_tiktoken(ranks, pattern)?;
            write(out, bpekit_tokenizer::into_raw(tok));
            Ok(())
        })
    }
}

/// Encodes `len` bytes of UTF-8 text, treating special-token text as ordinary text.
///
/// `text` may be NULL when `len` is 0. On success `*out` is filled with ids owned by
/// the caller (release with `bpekit_tokens_free`); on error `*out` is untouched.
/// Errors: `BPEKIT_ERR_NULL_ARG`, `BPEKIT_ERR_INVALID_UTF8`, `BPEKIT_ERR_BAD_PATTERN`.
#[no_mangle]
pub unsafe extern "C" fn bpekit_tokenizer_encode_ordinary(
    tok: *const bpekit_tokenizer,
    text: *const u8,
    len: usize,
    out: *mut bpekit_tokens,
    err: *mut *mut bpekit_error,
) -> bpekit_status {
    // SAFETY: pointers are NULL or valid as documented (caller's contract).
    unsafe {
        call(err, || {
            let tok = try_ref(tok, "tok")?;
            let out = try_out(out, "out")?;
            let text = utf8(try_slice(text, len, "text")?, "text")?;
            let ids = tok.inner.encode_ordinary(text)?;
            write(out, bpekit_tokens::from_vec(ids));
            Ok(())
        })
    }
}

/// Decodes `n` ids to bytes (which need not be valid UTF-8: a token may hold part of a
/// character).
///
/// `ids` may be NULL when `n` is 0. On success `*out` is filled with bytes owned by the
/// caller (release with `bpekit_bytes_free`); on error `*out` is untouched.
/// Errors: `BPEKIT_ERR_NULL_ARG`, `BPEKIT_ERR_UNKNOWN_TOKEN` (names the first unknown id).
#[no_mangle]
pub unsafe extern "C" fn bpekit_tokenizer_decode(
    tok: *const bpekit_tokenizer,
    ids: *const u32,
    n: usize,
    out: *mut bpekit_bytes,
    err: *mut *mut bpekit_error,
) -> bpekit_status {
    // SAFETY: pointers are NULL or valid as documented (caller's contract).
    unsafe {
        call(err, || {
            let tok = try_ref(tok, "tok")?;
            let out = try_out(out, "out")?;
            let ids = try_slice(ids, n, "ids")?;
            let bytes = tok.inner.decode(ids)?;
            write(out, bpekit_bytes::from_vec(bytes));
            Ok(())
        })
    }
}

/// Borrows the bytes of token `id`: on success `*data` and `*len` describe them.
///
/// The bytes belong to `tok` and stay valid until `bpekit_tokenizer_free(tok)`; do not
/// free them. Errors: `BPEKIT_ERR_NULL_ARG`, `BPEKIT_ERR_UNKNOWN_TOKEN`.
#[no_mangle]
pub unsafe extern "C" fn bpekit_tokenizer_token_bytes(
    tok: *const bpekit_tokenizer,
    id: u32,
    data: *mut *const u8,
    len: *mut usize,
    err: *mut *mut bpekit_error,
) -> bpekit_status {
    // SAFETY: pointers are NULL or valid as documented (caller's contract).
    unsafe {
        call(err, || {
            let tok = try_ref(tok, "tok")?;
            let (data, len) = (try_out(data, "data")?, try_out(len, "len")?);
            let bytes = tok.inner.token_bytes(id).ok_or_else(|| {
                CError::new(BPEKIT_ERR_UNKNOWN_TOKEN, format!("token id {id} is not in the vocabulary"))
            })?;
            write(data, bytes.as_ptr());
            write(len, bytes.len());
            Ok(())
        })
    }
}

/// Exports the ranks in tiktoken's `.tiktoken` format, sorted by rank: the output loads
/// with tiktoken's `load_tiktoken_bpe` and with `bpekit_tokenizer_from_tiktoken`.
///
/// On success `*out` is filled with bytes owned by the caller (release with
/// `bpekit_bytes_free`). Errors: `BPEKIT_ERR_NULL_ARG`.
#[no_mangle]
pub unsafe extern "C" fn bpekit_tokenizer_export_tiktoken(
    tok: *const bpekit_tokenizer,
    out: *mut bpekit_bytes,
    err: *mut *mut bpekit_error,
) -> bpekit_status {
    // SAFETY: pointers are NULL or valid as documented (caller's contract).
    unsafe {
        call(err, || {
            let tok = try_ref(tok, "tok")?;
            let out = try_out(out, "out")?;
            write(out, bpekit_bytes::from_vec(tok.inner.export_tiktoken()));
            Ok(())
        })
    }
}

/// Borrows the split pattern: on success `*data` and `*len` describe its UTF-8 bytes
/// (not NUL-terminated), valid until `bpekit_tokenizer_free(tok)`.
/// Errors: `BPEKIT_ERR_NULL_ARG`.
#[no_mangle]
pub unsafe extern "C" fn bpekit_tokenizer_pattern(
    tok: *const bpekit_tokenizer,
    data: *mut *const u8,
    len: *mut usize,
    err: *mut *mut bpekit_error,
) -> bpekit_status {
    // SAFETY: pointers are NULL or valid as documented (caller's contract).
    unsafe {
        call(err, || {
            let tok = try_ref(tok, "tok")?;
            let (data, len) = (try_out(data, "data")?, try_out(len, "len")?);
            let p = tok.inner.pattern().as_str();
            write(data, p.as_ptr());
            write(len, p.len());
            Ok(())
        })
    }
}

/// Returns one more than the largest token id (tiktoken's `n_vocab`); 0 for NULL.
#[no_mangle]
pub unsafe extern "C" fn bpekit_tokenizer_vocab_size(tok: *const bpekit_tokenizer) -> usize {
    // SAFETY: `tok` is NULL or a live tokenizer (caller's contract).
    call_or(0, || unsafe { tok.as_ref() }.map_or(0, |t| t.inner.vocab_size()))
}

/// Releases a tokenizer. `bpekit_tokenizer_free(NULL)` does nothing. No other thread
/// may be using `tok` during or after this call.
#[no_mangle]
pub unsafe extern "C" fn bpekit_tokenizer_free(tok: *mut bpekit_tokenizer) {
    if !tok.is_null() {
        // SAFETY: non-NULL tokenizers come from `bpekit_tokenizer::into_raw` and are freed
        // once (caller's contract).
        call_or((), || drop(unsafe { Box::from_raw(tok) }));
    }
}
