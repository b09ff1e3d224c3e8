//! `bpekit_trainer`: streaming training through the C ABI.

use super::boundary::{call, call_or, try_mut, try_out, try_ref, try_slice, utf8, write};
use super::buffers::bpekit_slice;
use super::error::{bpekit_error, bpekit_status, CError, BPEKIT_ERR_INVALID_ARG};
use super::tokenizer::bpekit_tokenizer;
use crate::{Pattern, Trainer};

/// A trainer: counts text, then learns merges. Mutable: one thread at a time.
pub struct bpekit_trainer {
    inner: Trainer,
}

/// Compiles an optional pattern: `(NULL, 0)` means the default (GPT-4 / cl100k) pattern;
/// NULL with a length is `BPEKIT_ERR_NULL_ARG`.
///
/// # Safety
/// As [`try_slice`].
pub(crate) unsafe fn pattern_arg(pattern: *const u8, pattern_len: usize) -> Result<Pattern, CError> {
    if pattern.is_null() && pattern_len == 0 {
        return Ok(Pattern::default_pattern());
    }
    // SAFETY: non-NULL pattern with `pattern_len` bytes (caller's contract).
    let bytes = unsafe { try_slice(pattern, pattern_len, "pattern") }?;
    Ok(Pattern::new(utf8(bytes, "pattern")?)?)
}

/// Borrows a named split pattern: `name` (`name_len` bytes) is one of `gpt2`,
/// `r50k_base`, `p50k_base`, `cl100k_base`, `o200k_base`, `rustbpe` (rustbpe's default
/// GPT-4 pattern) or `nanochat`. On success `*data` and `*len` describe the pattern's
/// UTF-8 bytes (not NUL-terminated), static: never freed.
/// Errors: `BPEKIT_ERR_NULL_ARG`, `BPEKIT_ERR_INVALID_ARG` (unknown name).
#[no_mangle]
pub unsafe extern "C" fn bpekit_pattern_named(
    name: *const u8,
    name_len: usize,
    data: *mut *const u8,
    len: *mut usize,
    err: *mut *mut bpekit_error,
) -> bpekit_status {
    // SAFETY: pointers are NULL or valid as documented (caller's contract).
    unsafe {
        call(err, || {
            let name = try_slice(name, name_len, "name")?;
            let (data, len) = (try_out(data, "data")?, try_out(len, "len")?);
            let name = String::from_utf8_lossy(name);
            let p = crate::pattern::named(&name).ok_or_else(|| {
                let known: Vec<&str> = crate::pattern::NAMED_PATTERNS.iter().map(|(n, _)| *n).collect();
                CError::new(
                    BPEKIT_ERR_INVALID_ARG,
                    format!("unknown pattern name {name:?}; known: {}", known.join(", ")),
                )
            })?;
            write(data, p.as_ptr());
            write(len, p.len());
            Ok(())
        })
    }
}

/// Creates a trainer that splits text with `pattern`.
///
/// `pattern` is `pattern_len` bytes of UTF-8 (not NUL-terminated) in fancy-regex
/// syntax; `(NULL, 0)` means the default GPT-4 (`cl100k_base`) pattern. Text that the
/// pattern does not match is skipped, as in tiktoken and rustbpe.
/// On success `*out` receives a new trainer, which the caller owns and releases with
/// `bpekit_trainer_free`.
/// Errors: `BPEKIT_ERR_NULL_ARG` (`out`), `BPEKIT_ERR_INVALID_UTF8`, `BPEKIT_ERR_BAD_PATTERN`
/// (the message is the regex engine's).
#[no_mangle]
pub unsafe extern "C" fn bpekit_trainer_new(
    pattern: *const u8,
    pattern_len: usize,
    out: *mut *mut bpekit_trainer,
    err: *mut *mut bpekit_error,
) -> bpekit_status {
    // SAFETY: `err` is NULL or writable (caller's contract).
    unsafe {
        call(err, || {
            let out = try_out(out, "out")?;
            let pattern = pattern_arg(pattern, pattern_len)?;
            let t = Box::new(bpekit_trainer { inner: Trainer::new(pattern) });
            write(out, Box::into_raw(t));
            Ok(())
        })
    }
}

/// Counts one text: `len` bytes of UTF-8 at `text` (NULL allowed when `len` is 0).
///
/// The text is copied as needed; bpekit keeps no pointer to it.
/// Errors: `BPEKIT_ERR_NULL_ARG`, `BPEKIT_ERR_INVALID_UTF8`, `BPEKIT_ERR_BAD_PATTERN` (the
/// regex engine gave up). On error nothing of the text is counted.
/// Needs exclusive access to `t`.
#[no_mangle]
pub unsafe extern "C" fn bpekit_trainer_feed(
    t: *mut bpekit_trainer,
    text: *const u8,
    len: usize,
    err: *mut *mut bpekit_error,
) -> bpekit_status {
    // SAFETY: pointers are NULL or valid as documented (caller's contract).
    unsafe {
        call(err, || {
            let t = try_mut(t, "t")?;
            let text = utf8(try_slice(text, len, "text")?, "text")?;
            Ok(t.inner.feed(text)?)
        })
    }
}

/// Counts `n` texts in parallel (each split on its own); `texts` is an array of `n`
/// `bpekit_slice`s of UTF-8 (NULL allowed when `n` is 0).
///
/// Errors: as `bpekit_trainer_feed`; the message names the first bad text's index. On
/// error nothing of the batch is counted. Needs exclusive access to `t`.
#[no_mangle]
pub unsafe extern "C" fn bpekit_trainer_feed_batch(
    t: *mut bpekit_trainer,
    texts: *const bpekit_slice,
    n: usize,
    err: *mut *mut bpekit_error,
) -> bpekit_status {
    // SAFETY: pointers are NULL or valid as documented (caller's contract).
    unsafe {
        call(err, || {
            let t = try_mut(t, "t")?;
            let slices = try_slice(texts, n, "texts")?;
            let mut strs = Vec::with_capacity(n);
            for (i, s) in slices.iter().enumerate() {
                let what = format!("texts[{i}]");
                strs.push(utf8(try_slice(s.data, s.len, &what)?, &what)?);
            }
            Ok(t.inner.feed_batch(&strs)?)
        })
    }
}

/// Learns merges from everything fed so far and builds a tokenizer of at most
/// `vocab_size` tokens (256 bytes plus merges; fewer if the text runs out of pairs).
///
/// On success `*out` receives a new tokenizer, owned by the caller (release with
/// `bpekit_tokenizer_free`). The trainer is not consumed: it may be fed more and
/// finished again, and must still be freed with `bpekit_trainer_free`.
/// Errors: `BPEKIT_ERR_NULL_ARG`, `BPEKIT_ERR_INVALID_ARG` (`vocab_size` < 256).
#[no_mangle]
pub unsafe extern "C" fn bpekit_trainer_finish(
    t: *mut bpekit_trainer,
    vocab_size: u32,
    out: *mut *mut bpekit_tokenizer,
    err: *mut *mut bpekit_error,
) -> bpekit_status {
    // SAFETY: pointers are NULL or valid as documented (caller's contract).
    unsafe {
        call(err, || {
            let t = try_ref(t, "t")?;
            let out = try_out(out, "out")?;
            let tok = t.inner.finish(vocab_size)?;
            write(out, bpekit_tokenizer::into_raw(tok));
            Ok(())
        })
    }
}

/// Returns the number of texts counted so far (0 for NULL).
#[no_mangle]
pub unsafe extern "C" fn bpekit_trainer_texts(t: *const bpekit_trainer) -> u64 {
    // SAFETY: `t` is NULL or a live trainer (caller's contract).
    call_or(0, || unsafe { t.as_ref() }.map_or(0, |t| t.inner.counts().texts()))
}

/// Returns the number of text bytes counted so far (0 for NULL).
#[no_mangle]
pub unsafe extern "C" fn bpekit_trainer_bytes(t: *const bpekit_trainer) -> u64 {
    // SAFETY: `t` is NULL or a live trainer (caller's contract).
    call_or(0, || unsafe { t.as_ref() }.map_or(0, |t| t.inner.counts().bytes()))
}

/// Releases a trainer. `bpekit_trainer_free(NULL)` does nothing.
#[no_mangle]
pub unsafe extern "C" fn bpekit_trainer_free(t: *mut bpekit_trainer) {
    if !t.is_null() {
        // SAFETY: non-NULL trainers come from `Box::into_raw` in `bpekit_trainer_new`
        // and are freed once (caller's contract).
        call_or((), || drop(unsafe { Box::from_raw(t) }));
    }
}
