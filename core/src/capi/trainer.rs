//! `bpekit_trainer`: streaming training through the C ABI.

use std::sync::{Arc, Mutex, MutexGuard};

use super::boundary::{call, call_or, try_out, try_ref, try_slice, try_strs, utf8, write};
use super::buffers::{bpekit_bytes, bpekit_slice};
use super::error::{bpekit_error, bpekit_status, CError, BPEKIT_ERR_INVALID_ARG};
use super::tokenizer::bpekit_tokenizer;
use crate::train::Progress;
use crate::{Pattern, Trainer};

/// A trainer: counts text, then learns merges. Calls that change it need exclusive
/// access; `bpekit_trainer_progress`, `bpekit_trainer_texts` and `bpekit_trainer_bytes`
/// may run on other threads meanwhile (`bpekit_trainer_export_counts` may too, but waits
/// for the running call to end).
pub struct bpekit_trainer {
    // The mutex makes concurrent misuse safe (it serializes); progress is outside it so
    // it can be read while a long call holds the lock.
    inner: Mutex<Trainer>,
    progress: Arc<Progress>,
}

impl bpekit_trainer {
    pub(super) fn lock(&self) -> MutexGuard<'_, Trainer> {
        // A panic while locked was already reported as BPEKIT_ERR_PANIC; the trainer's
        // state is still consistent (every mutation is all-or-nothing), so go on.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A snapshot of a trainer's progress.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct bpekit_progress {
    /// Texts counted so far.
    pub texts: u64,
    /// Bytes of text counted so far.
    pub bytes: u64,
    /// Merges learned so far by the running (or last) `bpekit_trainer_finish`; starts
    /// again from 0 at each finish.
    pub merges_done: u64,
    /// Merges that finish aims for (lowered to what was reached if it stopped early).
    /// The four fields are read one by one, not as one atomic snapshot.
    pub merges_total: u64,
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
/// GPT-4 pattern), `nanochat`, `llama3`, `qwen2` (Qwen 2 and 3) or `deepseek_v3`. On success `*data` and `*len` describe the pattern's
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
/// syntax, or a split chain: several regexes, each splitting the pieces of the one before
/// (HF's multi-step pre-tokenizers), written `(?*chain)` then `(?*KIND:LEN)REGEX` per step,
/// `KIND` `isolated` (matches and the text between them are pieces) or `matches` (only
/// matches), `LEN` the regex's length in bytes. `(NULL, 0)` means the default GPT-4
/// (`cl100k_base`) pattern, while a non-NULL empty pattern is `BPEKIT_ERR_BAD_PATTERN`.
/// Text that the pattern does not match is skipped, as in tiktoken and rustbpe.
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
            let mut trainer = Trainer::new(pattern);
            trainer.use_shared_pool(); // never rayon's global pool, which a forked child cannot use
            let progress = trainer.progress();
            let t = Box::new(bpekit_trainer { inner: Mutex::new(trainer), progress });
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
            let t = try_ref(t, "t")?;
            let text = utf8(try_slice(text, len, "text")?, "text")?;
            Ok(t.lock().feed(text)?)
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
            let t = try_ref(t, "t")?;
            let strs = try_strs(texts, n, "texts")?;
            Ok(t.lock().feed_batch(&strs)?)
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
            let tok = t.lock().finish(vocab_size)?;
            write(out, bpekit_tokenizer::into_raw(tok));
            Ok(())
        })
    }
}

/// Returns the number of texts counted so far (0 for NULL).
#[no_mangle]
pub unsafe extern "C" fn bpekit_trainer_texts(t: *const bpekit_trainer) -> u64 {
    // SAFETY: `t` is NULL or a live trainer (caller's contract).
    call_or(0, || unsafe { t.as_ref() }.map_or(0, |t| t.progress.snapshot().texts))
}

/// Returns the number of text bytes counted so far (0 for NULL).
#[no_mangle]
pub unsafe extern "C" fn bpekit_trainer_bytes(t: *const bpekit_trainer) -> u64 {
    // SAFETY: `t` is NULL or a live trainer (caller's contract).
    call_or(0, || unsafe { t.as_ref() }.map_or(0, |t| t.progress.snapshot().bytes))
}

/// Sets the special tokens: `n` UTF-8 texts. `bpekit_trainer_finish` gives them the ids
/// right after the last merge, in this order, and counts them in its `vocab_size`.
/// Replaces any earlier set; `n == 0` clears it.
/// Errors: `BPEKIT_ERR_NULL_ARG`, `BPEKIT_ERR_INVALID_UTF8`, `BPEKIT_ERR_INVALID_ARG` (an empty
/// or repeated token). On error the trainer is unchanged. Needs exclusive access to `t`.
#[no_mangle]
pub unsafe extern "C" fn bpekit_trainer_set_special_tokens(
    t: *mut bpekit_trainer,
    tokens: *const bpekit_slice,
    n: usize,
    err: *mut *mut bpekit_error,
) -> bpekit_status {
    // SAFETY: pointers are NULL or valid as documented (caller's contract).
    unsafe {
        call(err, || {
            let t = try_ref(t, "t")?;
            let tokens = try_strs(tokens, n, "tokens")?;
            Ok(t.lock().set_special_tokens(tokens.into_iter().map(String::from).collect())?)
        })
    }
}

/// Runs the trainer's parallel work (batch counting, merging) on the process's shared
/// pool of `num_threads` threads; 0 (the default) is one thread per core (or
/// `RAYON_NUM_THREADS`); more than 4 per core are served by 4 per core (see Threads). The
/// merges never depend on the thread count.
/// Errors: `BPEKIT_ERR_NULL_ARG`, `BPEKIT_ERR_INVALID_ARG` (more than
/// `BPEKIT_MAX_THREADS`, or the threads cannot be started).
/// Needs exclusive access to `t`.
#[no_mangle]
pub unsafe extern "C" fn bpekit_trainer_set_threads(
    t: *mut bpekit_trainer,
    num_threads: usize,
    err: *mut *mut bpekit_error,
) -> bpekit_status {
    // SAFETY: pointers are NULL or valid as documented (caller's contract).
    unsafe {
        call(err, || {
            let t = try_ref(t, "t")?;
            if num_threads > super::tokenizer::BPEKIT_MAX_THREADS {
                return Err(CError::new(
                    BPEKIT_ERR_INVALID_ARG,
                    format!("num_threads {num_threads} exceeds BPEKIT_MAX_THREADS"),
                ));
            }
            Ok(t.lock().set_num_threads(num_threads)?)
        })
    }
}

/// Fills `*out` with how far the trainer is: texts and bytes counted, merges done of
/// the total of the running (or last) finish.
/// May be called from another thread while `bpekit_trainer_feed`, `bpekit_trainer_feed_batch`
/// or `bpekit_trainer_finish` runs on `t` (that is what it is for).
/// Errors: `BPEKIT_ERR_NULL_ARG`.
#[no_mangle]
pub unsafe extern "C" fn bpekit_trainer_progress(
    t: *const bpekit_trainer,
    out: *mut bpekit_progress,
    err: *mut *mut bpekit_error,
) -> bpekit_status {
    // SAFETY: pointers are NULL or valid as documented (caller's contract).
    unsafe {
        call(err, || {
            let t = try_ref(t, "t")?;
            let out = try_out(out, "out")?;
            let p = t.progress.snapshot();
            write(
                out,
                bpekit_progress {
                    texts: p.texts,
                    bytes: p.bytes,
                    merges_done: p.merges_done,
                    merges_total: p.merges_total,
                },
            );
            Ok(())
        })
    }
}

/// Serializes the counts so far (each unique piece of text and how often it occurred,
/// plus the pattern) into `*out`, owned by the caller (release with
/// `bpekit_bytes_free`). Feed the result to `bpekit_trainer_add_counts` of another
/// trainer, e.g. to count shards of a corpus on several machines and train once, or
/// merge such tables first with `bpekit_counts_merge`. Equal counts give equal bytes
/// (count table format version 2: front-coded, with a checksum;
/// `bpekit_counts_read_info` reads its header). If another thread is in
/// `bpekit_trainer_feed` or `bpekit_trainer_finish` on `t`, this call waits for it.
/// Errors: `BPEKIT_ERR_NULL_ARG`.
#[no_mangle]
pub unsafe extern "C" fn bpekit_trainer_export_counts(
    t: *const bpekit_trainer,
    out: *mut bpekit_bytes,
    err: *mut *mut bpekit_error,
) -> bpekit_status {
    // SAFETY: pointers are NULL or valid as documented (caller's contract).
    unsafe {
        call(err, || {
            let t = try_ref(t, "t")?;
            let out = try_out(out, "out")?;
            write(out, bpekit_bytes::from_vec(t.lock().counts_bytes()));
            Ok(())
        })
    }
}

/// Adds counts exported by `bpekit_trainer_export_counts` or merged by
/// `bpekit_counts_merge` (`len` bytes at `data`; format version 1 or 2).
/// Errors: `BPEKIT_ERR_NULL_ARG`, `BPEKIT_ERR_BAD_FORMAT` (truncated, corrupted or not a
/// count table), `BPEKIT_ERR_INVALID_ARG` (counted with another pattern). On error
/// nothing is added. Needs exclusive access to `t`.
#[no_mangle]
pub unsafe extern "C" fn bpekit_trainer_add_counts(
    t: *mut bpekit_trainer,
    data: *const u8,
    len: usize,
    err: *mut *mut bpekit_error,
) -> bpekit_status {
    // SAFETY: pointers are NULL or valid as documented (caller's contract).
    unsafe {
        call(err, || {
            let t = try_ref(t, "t")?;
            let data = try_slice(data, len, "data")?;
            Ok(t.lock().add_counts_bytes(data)?)
        })
    }
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
