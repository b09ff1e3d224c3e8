//! `bpekit_stream_decoder`: decoding ids as they arrive, through the C ABI.

use std::sync::{Mutex, MutexGuard};

use super::boundary::{call, call_or, try_out, try_ref, try_slice, write};
use super::buffers::bpekit_bytes;
use super::corpus::{BPEKIT_UTF8_REPLACE, BPEKIT_UTF8_SKIP, BPEKIT_UTF8_STRICT};
use super::error::{bpekit_error, bpekit_status, CError, BPEKIT_ERR_INVALID_ARG};
use super::tokenizer::bpekit_tokenizer;
use crate::{StreamDecoder, Utf8Mode};

/// `bpekit_stream_decoder_new`'s `utf8_mode` (which takes `BPEKIT_UTF8_STRICT` and
/// `BPEKIT_UTF8_REPLACE` too): the bytes as they are, cut where decoding the pieces one
/// by one gives what decoding the whole would (for a host with its own error handling).
pub const BPEKIT_UTF8_BYTES: u32 = 3;

/// A streaming decoder: the text that each new id completes, an incomplete character
/// held back until the ids after it complete it (at most 3 bytes). It holds no
/// tokenizer (each call takes one). Like every handle, one decoder needs exclusive
/// access (one stream, one thread at a time); calls that race anyway are serialized.
pub struct bpekit_stream_decoder {
    inner: Mutex<StreamDecoder>,
    mode: Utf8Mode,
}

impl bpekit_stream_decoder {
    fn lock(&self) -> MutexGuard<'_, StreamDecoder> {
        // A panic while locked was reported as BPEKIT_ERR_PANIC; every change to the
        // decoder is all-or-nothing, so its state is consistent.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Creates a streaming decoder. `utf8_mode` says what ill-formed UTF-8 gives:
/// `BPEKIT_UTF8_REPLACE` U+FFFD per maximal ill-formed subsequence (as Python's
/// `errors="replace"`; the output is always UTF-8), `BPEKIT_UTF8_STRICT`
/// `BPEKIT_ERR_INVALID_UTF8` (the decoder left as it was), `BPEKIT_UTF8_BYTES` the bytes
/// as they are. On success `*out` receives a decoder owned by the caller (release with
/// `bpekit_stream_decoder_free`).
/// Errors: `BPEKIT_ERR_NULL_ARG`, `BPEKIT_ERR_INVALID_ARG` (another mode, `BPEKIT_UTF8_SKIP`
/// included: it drops documents, and a stream has none).
#[no_mangle]
pub unsafe extern "C" fn bpekit_stream_decoder_new(
    utf8_mode: u32,
    out: *mut *mut bpekit_stream_decoder,
    err: *mut *mut bpekit_error,
) -> bpekit_status {
    // SAFETY: pointers are NULL or valid as documented (caller's contract).
    unsafe {
        call(err, || {
            let out = try_out(out, "out")?;
            let mode = match utf8_mode {
                BPEKIT_UTF8_REPLACE => Utf8Mode::Replace,
                BPEKIT_UTF8_STRICT => Utf8Mode::Strict,
                BPEKIT_UTF8_BYTES => Utf8Mode::Bytes,
                BPEKIT_UTF8_SKIP => {
                    let why = "utf8_mode BPEKIT_UTF8_SKIP drops documents, and a stream has none";
                    return Err(CError::new(BPEKIT_ERR_INVALID_ARG, why));
                }
                m => {
                    return Err(CError::new(
                        BPEKIT_ERR_INVALID_ARG,
                        format!("utf8_mode {m} is not a BPEKIT_UTF8_* mode"),
                    ))
                }
            };
            let d = Box::new(bpekit_stream_decoder { inner: Mutex::new(StreamDecoder::new()), mode });
            write(out, Box::into_raw(d));
            Ok(())
        })
    }
}

/// Adds `n` ids (decoded with `tok`; `ids` may be NULL when `n` is 0) and fills `*out`
/// with what they complete, in the decoder's mode: all the bytes so far but a trailing
/// incomplete character (often nothing, never a partial character in the replace and
/// strict modes). Concatenated, the outputs of every call and of the final
/// `bpekit_stream_decoder_flush` equal `bpekit_tokenizer_decode` of all the ids (with
/// ill-formed bytes treated as the mode says). `*out` is owned by the caller (release
/// with `bpekit_bytes_free`); on error `*out` and the decoder are unchanged.
/// Errors: `BPEKIT_ERR_NULL_ARG`, `BPEKIT_ERR_UNKNOWN_TOKEN` (names the first unknown id),
/// `BPEKIT_ERR_INVALID_UTF8` (strict mode).
#[no_mangle]
pub unsafe extern "C" fn bpekit_stream_decoder_add(
    dec: *mut bpekit_stream_decoder,
    tok: *const bpekit_tokenizer,
    ids: *const u32,
    n: usize,
    out: *mut bpekit_bytes,
    err: *mut *mut bpekit_error,
) -> bpekit_status {
    // SAFETY: pointers are NULL or valid as documented (caller's contract).
    unsafe {
        fill(dec, out, err, |dec| {
            let tok = try_ref(tok, "tok")?;
            let ids = try_slice(ids, n, "ids")?;
            Ok(dec.lock().add(&tok.inner, ids, dec.mode)?)
        })
    }
}

/// Fills `*out` with the held-back incomplete character (U+FFFD in replace mode, its
/// bytes in bytes mode; nothing if none) and empties the decoder, which can then start
/// a new stream. `*out` is owned by the caller (release with `bpekit_bytes_free`).
/// Errors: `BPEKIT_ERR_NULL_ARG`, `BPEKIT_ERR_INVALID_UTF8` (strict mode, with a character
/// held back; the decoder is then unchanged).
#[no_mangle]
pub unsafe extern "C" fn bpekit_stream_decoder_flush(
    dec: *mut bpekit_stream_decoder,
    out: *mut bpekit_bytes,
    err: *mut *mut bpekit_error,
) -> bpekit_status {
    // SAFETY: pointers are NULL or valid as documented (caller's contract).
    unsafe { fill(dec, out, err, |dec| Ok(dec.lock().flush(dec.mode)?)) }
}

/// The body of an export that fills `*out` with the bytes `f` gives from the decoder
/// (`*out` untouched on error).
///
/// # Safety
/// `dec` and `out` NULL or valid, `err` NULL or writable.
unsafe fn fill(
    dec: *mut bpekit_stream_decoder,
    out: *mut bpekit_bytes,
    err: *mut *mut bpekit_error,
    f: impl FnOnce(&bpekit_stream_decoder) -> Result<Vec<u8>, CError>,
) -> bpekit_status {
    // SAFETY: delegated to the caller.
    unsafe {
        call(err, || {
            let dec = try_ref(dec, "dec")?;
            let out = try_out(out, "out")?;
            let bytes = f(dec)?;
            write(out, bpekit_bytes::from_vec(bytes));
            Ok(())
        })
    }
}

/// Releases a decoder (and anything it held back). `bpekit_stream_decoder_free(NULL)`
/// does nothing.
#[no_mangle]
pub unsafe extern "C" fn bpekit_stream_decoder_free(dec: *mut bpekit_stream_decoder) {
    if !dec.is_null() {
        // SAFETY: non-NULL decoders come from `Box::into_raw` in
        // `bpekit_stream_decoder_new` and are freed once (caller's contract).
        call_or((), || drop(unsafe { Box::from_raw(dec) }));
    }
}
