//! `bpekit_tokenizer`: encode, decode and export through the C ABI.

use std::cell::Cell;
use std::ffi::c_char;
use std::sync::Arc;

use hashbrown::HashSet;

use super::boundary::{
    call, call_or, path_arg, try_out, try_ref, try_slice, try_strs, utf8, with_scratch, write,
};
use super::buffers::{bpekit_bytes, bpekit_offsets, bpekit_slice, bpekit_tokens};
use super::error::{
    bpekit_error, bpekit_status, CError, BPEKIT_ERR_BUFFER_TOO_SMALL, BPEKIT_ERR_INVALID_ARG,
    BPEKIT_ERR_UNKNOWN_TOKEN,
};
use super::trainer::pattern_arg;
use crate::{Allowed, Disallowed, Normalization, OffsetUnit, SpecialPolicy, Tokenizer};

/// Treat every special token as allowed (tiktoken's `allowed_special="all"`); the
/// `allowed` list is then not read.
pub const BPEKIT_SPECIAL_ALLOW_ALL: u32 = 1;
/// Disallow every special token that is not allowed (tiktoken's default,
/// `disallowed_special="all"`); the `disallowed` list is then not read.
pub const BPEKIT_SPECIAL_DISALLOW_ALL: u32 = 2;

/// A special token for `bpekit_tokenizer_new`: its UTF-8 text and its id.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct bpekit_special_token {
    /// The token's text (UTF-8, not NUL-terminated).
    pub text: bpekit_slice,
    /// Its id; must not be a rank of the ranks table.
    pub id: u32,
}

/// How an encode call treats special-token text (tiktoken's `allowed_special` and
/// `disallowed_special`). Passing NULL for a policy means tiktoken's default: nothing
/// allowed, every special token disallowed (`flags == BPEKIT_SPECIAL_DISALLOW_ALL`).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct bpekit_special_policy {
    /// Special tokens encoded as their ids (UTF-8 texts; unknown texts are ignored).
    pub allowed: *const bpekit_slice,
    /// Number of `allowed` texts.
    pub n_allowed: usize,
    /// UTF-8 strings whose appearance in the text is `BPEKIT_ERR_DISALLOWED_SPECIAL`,
    /// checked even where they are also allowed: special tokens, and any other strings
    /// (as tiktoken's `disallowed_special`; the empty string is in every text).
    pub disallowed: *const bpekit_slice,
    /// Number of `disallowed` texts.
    pub n_disallowed: usize,
    /// `BPEKIT_SPECIAL_ALLOW_ALL` and/or `BPEKIT_SPECIAL_DISALLOW_ALL`, or 0.
    pub flags: u32,
}

/// An owned, decoded policy: the sets the borrowed [`SpecialPolicy`] points into.
pub(super) struct PolicySets<'a> {
    allowed: HashSet<&'a str>,
    disallowed: HashSet<&'a str>,
    flags: u32,
}

impl<'a> PolicySets<'a> {
    /// # Safety
    /// `p` is NULL or a valid policy whose arrays outlive `'a`.
    pub(super) unsafe fn read(p: *const bpekit_special_policy) -> Result<Self, CError> {
        // SAFETY: delegated to the caller.
        let Some(p) = (unsafe { p.as_ref() }) else {
            return Ok(PolicySets {
                allowed: HashSet::new(),
                disallowed: HashSet::new(),
                flags: BPEKIT_SPECIAL_DISALLOW_ALL,
            });
        };
        if p.flags & !(BPEKIT_SPECIAL_ALLOW_ALL | BPEKIT_SPECIAL_DISALLOW_ALL) != 0 {
            return Err(CError::new(BPEKIT_ERR_INVALID_ARG, format!("unknown policy flags {:#x}", p.flags)));
        }
        // A list its flag overrides is not read at all (it may be anything).
        let allowed = if p.flags & BPEKIT_SPECIAL_ALLOW_ALL != 0 {
            HashSet::new()
        } else {
            // SAFETY: the array is valid by the caller's contract.
            unsafe { try_strs(p.allowed, p.n_allowed, "policy.allowed") }?.into_iter().collect()
        };
        let disallowed = if p.flags & BPEKIT_SPECIAL_DISALLOW_ALL != 0 {
            HashSet::new()
        } else {
            // SAFETY: as above.
            unsafe { try_strs(p.disallowed, p.n_disallowed, "policy.disallowed") }?.into_iter().collect()
        };
        Ok(PolicySets { allowed, disallowed, flags: p.flags })
    }

    pub(super) fn policy(&self) -> SpecialPolicy<'_> {
        let allowed = if self.flags & BPEKIT_SPECIAL_ALLOW_ALL != 0 {
            Allowed::All
        } else if self.allowed.is_empty() {
            Allowed::None
        } else {
            Allowed::Some(&self.allowed)
        };
        let disallowed = if self.flags & BPEKIT_SPECIAL_DISALLOW_ALL != 0 {
            Disallowed::AllNotAllowed
        } else if self.disallowed.is_empty() {
            Disallowed::None
        } else {
            Disallowed::Some(&self.disallowed)
        };
        SpecialPolicy { allowed, disallowed }
    }
}

/// The most threads a batch call may ask for.
pub const BPEKIT_MAX_THREADS: usize = 1024;

/// The shared pool for a parallel call of `num_threads` (0: one per core), started on
/// first use and again in a forked child; the registry keeps the most recently used few
/// (`crate::pools`).
pub(super) fn pool(num_threads: usize) -> Result<Arc<rayon::ThreadPool>, CError> {
    check_threads(num_threads)?;
    Ok(crate::pools::shared(num_threads)?)
}

/// `BPEKIT_ERR_INVALID_ARG` if `num_threads` exceeds `BPEKIT_MAX_THREADS`.
pub(super) fn check_threads(num_threads: usize) -> Result<(), CError> {
    if num_threads > BPEKIT_MAX_THREADS {
        return Err(CError::new(
            BPEKIT_ERR_INVALID_ARG,
            format!("num_threads {num_threads} exceeds BPEKIT_MAX_THREADS ({BPEKIT_MAX_THREADS})"),
        ));
    }
    Ok(())
}

/// A tokenizer. Immutable: any number of threads may use one at once.
pub struct bpekit_tokenizer {
    pub(super) inner: Tokenizer,
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
/// in fancy-regex syntax or a split chain (as for `bpekit_trainer_new`); `(NULL, 0)` means the default GPT-4 (`cl100k_base`) pattern,
/// while a non-NULL empty pattern is `BPEKIT_ERR_BAD_PATTERN` (it would drop all text).
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

/// Creates a tokenizer from tiktoken ranks (as `bpekit_tokenizer_from_tiktoken`), a
/// pattern, and `n_special` special tokens (NULL allowed when `n_special` is 0).
///
/// On success `*out` receives a new tokenizer, owned by the caller (release with
/// `bpekit_tokenizer_free`). Errors: as `bpekit_tokenizer_from_tiktoken`, plus
/// `BPEKIT_ERR_INVALID_UTF8` (a special token's text) and `BPEKIT_ERR_INVALID_ARG` (an
/// empty or repeated special token, an id that is also a rank, an id far beyond the
/// vocabulary). Two special tokens may share an id: both encode to it, and it decodes
/// to the first of them in `specials`.
#[no_mangle]
pub unsafe extern "C" fn bpekit_tokenizer_new(
    ranks: *const u8,
    ranks_len: usize,
    pattern: *const u8,
    pattern_len: usize,
    specials: *const bpekit_special_token,
    n_special: usize,
    out: *mut *mut bpekit_tokenizer,
    err: *mut *mut bpekit_error,
) -> bpekit_status {
    // SAFETY: pointers are NULL or valid as documented (caller's contract).
    unsafe {
        call(err, || {
            let out = try_out(out, "out")?;
            let ranks = try_slice(ranks, ranks_len, "ranks")?;
            let pattern = pattern_arg(pattern, pattern_len)?;
            let mut list = Vec::with_capacity(n_special);
            for (i, s) in try_slice(specials, n_special, "specials")?.iter().enumerate() {
                let what = format!("specials[{i}].text");
                list.push((utf8(try_slice(s.text.data, s.text.len, &what)?, &what)?.to_owned(), s.id));
            }
            let tok = Tokenizer::from_tiktoken(ranks, pattern)?.with_special_tokens(list)?;
            write(out, bpekit_tokenizer::into_raw(tok));
            Ok(())
        })
    }
}

/// Encodes `len` bytes of UTF-8 text with tiktoken's `encode` semantics under `policy`
/// (NULL: nothing allowed, every special token disallowed).
///
/// Allowed special-token text becomes its id (where special tokens overlap, the
/// leftmost allowed one wins, then the longest); disallowed text is
/// `BPEKIT_ERR_DISALLOWED_SPECIAL`, with tiktoken's message naming the first disallowed
/// string (leftmost, then longest) as Python's `repr()` writes it; other special-token
/// text is ordinary text. On success `*out` is filled with ids owned by the caller
/// (release with `bpekit_tokens_free`); on error `*out` is untouched.
/// Errors: `BPEKIT_ERR_NULL_ARG`, `BPEKIT_ERR_INVALID_UTF8`, `BPEKIT_ERR_INVALID_ARG`
/// (unknown flags; a `disallowed` list too large to index),
/// `BPEKIT_ERR_DISALLOWED_SPECIAL`, `BPEKIT_ERR_BAD_PATTERN`.
#[no_mangle]
pub unsafe extern "C" fn bpekit_tokenizer_encode(
    tok: *const bpekit_tokenizer,
    text: *const u8,
    len: usize,
    policy: *const bpekit_special_policy,
    out: *mut bpekit_tokens,
    err: *mut *mut bpekit_error,
) -> bpekit_status {
    // SAFETY: pointers are NULL or valid as documented (caller's contract).
    unsafe {
        call(err, || {
            let tok = try_ref(tok, "tok")?;
            let out = try_out(out, "out")?;
            let text = utf8(try_slice(text, len, "text")?, "text")?;
            let sets = PolicySets::read(policy)?;
            let ids = tok.inner.encode_with(text, &sets.policy())?;
            write(out, bpekit_tokens::from_vec(ids));
            Ok(())
        })
    }
}

/// `bpekit_tokenizer_encode_with_offsets`: offsets in bytes of the UTF-8 text.
pub const BPEKIT_OFFSETS_BYTE: u32 = 0;
/// `bpekit_tokenizer_encode_with_offsets`: offsets in characters (Unicode scalar values,
/// as Python indexes a `str`).
pub const BPEKIT_OFFSETS_CHAR: u32 = 1;

/// Encodes like `bpekit_tokenizer_encode` and gives the span of the text each token
/// covers: id `i` covers `starts[i]` up to `ends[i]` (exclusive), in `unit`
/// (`BPEKIT_OFFSETS_BYTE` or `BPEKIT_OFFSETS_CHAR`). In bytes each span is exactly its
/// token's bytes (a special token's, the text that matched), and the spans tile the text
/// where the pattern matches all of it (every named pattern does). In characters a span
/// holds every character its token has a byte of: a character split between tokens is
/// in the span of each (the starts are those of tiktoken's `decode_with_offsets`).
/// On success the three outputs (as many offsets as ids) are owned by the caller
/// (release with `bpekit_tokens_free` and `bpekit_offsets_free`); on error all are
/// untouched. Errors: as `bpekit_tokenizer_encode`, and `BPEKIT_ERR_INVALID_ARG` for
/// another unit.
#[no_mangle]
pub unsafe extern "C" fn bpekit_tokenizer_encode_with_offsets(
    tok: *const bpekit_tokenizer,
    text: *const u8,
    len: usize,
    policy: *const bpekit_special_policy,
    unit: u32,
    ids: *mut bpekit_tokens,
    starts: *mut bpekit_offsets,
    ends: *mut bpekit_offsets,
    err: *mut *mut bpekit_error,
) -> bpekit_status {
    // SAFETY: pointers are NULL or valid as documented (caller's contract).
    unsafe {
        call(err, || {
            let tok = try_ref(tok, "tok")?;
            let (ids, starts, ends) =
                (try_out(ids, "ids")?, try_out(starts, "starts")?, try_out(ends, "ends")?);
            let text = utf8(try_slice(text, len, "text")?, "text")?;
            let unit = match unit {
                BPEKIT_OFFSETS_BYTE => OffsetUnit::Byte,
                BPEKIT_OFFSETS_CHAR => OffsetUnit::Char,
                u => {
                    return Err(CError::new(
                        BPEKIT_ERR_INVALID_ARG,
                        format!("unit {u} is not a BPEKIT_OFFSETS_* unit"),
                    ))
                }
            };
            let sets = PolicySets::read(policy)?;
            let spans = tok.inner.encode_with_offsets(text, &sets.policy(), unit)?;
            write(ids, bpekit_tokens::from_vec(spans.ids));
            write(starts, bpekit_offsets::from_vec(spans.starts));
            write(ends, bpekit_offsets::from_vec(spans.ends));
            Ok(())
        })
    }
}

/// Encodes like `bpekit_tokenizer_encode`, into a buffer the caller owns: `out` has room
/// for `cap` ids (a text of `len` bytes needs at most `len` ids, so `cap >= len` always
/// suffices, unless the tokenizer normalizes: NFC can lengthen a text up to 3 times, so
/// `cap >= 3 * len` then). On success `*out_len` is the number of ids written.
/// If they do not fit, returns `BPEKIT_ERR_BUFFER_TOO_SMALL` and sets `*out_len` to the
/// number needed: the one documented case where an out-param is written on failure.
/// `out` may be NULL when `cap` is 0 (to ask for the size). Other errors as
/// `bpekit_tokenizer_encode`. Meant for hot loops: no allocation crosses the boundary,
/// and the calling thread keeps its working buffers between calls (each at most 4 MiB;
/// larger ones are freed when the call returns).
#[no_mangle]
pub unsafe extern "C" fn bpekit_tokenizer_encode_into(
    tok: *const bpekit_tokenizer,
    text: *const u8,
    len: usize,
    policy: *const bpekit_special_policy,
    out: *mut u32,
    cap: usize,
    out_len: *mut usize,
    err: *mut *mut bpekit_error,
) -> bpekit_status {
    // SAFETY: pointers are NULL or valid as documented (caller's contract).
    unsafe {
        call(err, || {
            let tok = try_ref(tok, "tok")?;
            let out_len = try_out(out_len, "out_len")?;
            let text = utf8(try_slice(text, len, "text")?, "text")?;
            encode_into_buffer(tok, text, policy, out, cap, out_len)
        })
    }
}

/// `bpekit_tokenizer_encode_into` of a validated text.
///
/// # Safety
/// `policy`, `out` and `cap` as `bpekit_tokenizer_encode_into` documents; `out_len` is
/// valid for a write.
unsafe fn encode_into_buffer(
    tok: &bpekit_tokenizer,
    text: &str,
    policy: *const bpekit_special_policy,
    out: *mut u32,
    cap: usize,
    out_len: *mut usize,
) -> Result<(), CError> {
    // SAFETY: delegated to the caller.
    let sets = unsafe { PolicySets::read(policy) }?;
    with_scratch(&IDS_SCRATCH, |ids| {
        ids.reserve(text.len() / 3 + 1);
        tok.inner.encode_with_into(text, &sets.policy(), ids)?;
        // SAFETY: delegated to the caller.
        unsafe { copy_ids_out(ids, out, cap, out_len) }
    })
}

/// Copies `ids` into the caller's `out` (room for `cap`), or reports the size needed.
///
/// # Safety
/// As [`encode_into_buffer`].
unsafe fn copy_ids_out(ids: &[u32], out: *mut u32, cap: usize, out_len: *mut usize) -> Result<(), CError> {
    if ids.len() > cap {
        // SAFETY: as documented above.
        unsafe { write(out_len, ids.len()) };
        return Err(CError::new(
            BPEKIT_ERR_BUFFER_TOO_SMALL,
            format!("{} ids do not fit in a buffer of {cap}", ids.len()),
        ));
    }
    if !ids.is_empty() {
        // SAFETY: `out` has room for `cap >= ids.len()` ids (the caller's contract).
        unsafe {
            let out = try_out(out, "out")?;
            std::ptr::copy_nonoverlapping(ids.as_ptr(), out, ids.len());
        }
    }
    // SAFETY: as documented above.
    unsafe { write(out_len, ids.len()) };
    Ok(())
}

/// `bpekit_tokenizer_encode_into` of UTF-16 text: `text` is `len` 16-bit code units in
/// the platform's byte order (a JavaScript, Java or .NET string as it is held, a
/// Windows wide string), which the core turns into UTF-8 first. A lone surrogate is
/// `BPEKIT_ERR_INVALID_UTF8` naming its unit (the text has no UTF-8 form). `cap >= 3 *
/// len` always suffices (a unit is at most 3 UTF-8 bytes, an id at least one byte),
/// `cap >= 9 * len` if the tokenizer normalizes; or ask for the size with `cap` 0.
/// Otherwise as `bpekit_tokenizer_encode_into`.
#[no_mangle]
pub unsafe extern "C" fn bpekit_tokenizer_encode_utf16_into(
    tok: *const bpekit_tokenizer,
    text: *const u16,
    len: usize,
    policy: *const bpekit_special_policy,
    out: *mut u32,
    cap: usize,
    out_len: *mut usize,
    err: *mut *mut bpekit_error,
) -> bpekit_status {
    // SAFETY: pointers are NULL or valid as documented (caller's contract).
    unsafe {
        call(err, || {
            let tok = try_ref(tok, "tok")?;
            let out_len = try_out(out_len, "out_len")?;
            let units = try_slice(text, len, "text")?;
            with_utf16_text(units, |text| encode_into_buffer(tok, text, policy, out, cap, out_len))
        })
    }
}

/// `bpekit_tokenizer_count` of UTF-16 text (`text` and `len` as
/// `bpekit_tokenizer_encode_utf16_into` takes them).
#[no_mangle]
pub unsafe extern "C" fn bpekit_tokenizer_count_utf16(
    tok: *const bpekit_tokenizer,
    text: *const u16,
    len: usize,
    policy: *const bpekit_special_policy,
    out: *mut usize,
    err: *mut *mut bpekit_error,
) -> bpekit_status {
    // SAFETY: pointers are NULL or valid as documented (caller's contract).
    unsafe {
        call(err, || {
            let tok = try_ref(tok, "tok")?;
            let out = try_out(out, "out")?;
            let units = try_slice(text, len, "text")?;
            let sets = PolicySets::read(policy)?;
            with_utf16_text(units, |text| {
                write(out, tok.inner.count_with(text, &sets.policy())?);
                Ok(())
            })
        })
    }
}

thread_local! {
    /// Each thread's UTF-8 of the `_utf16` entry points' text.
    static TEXT_SCRATCH: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
    /// Each thread's ids of the `_into` entry points, before they are copied out (so a
    /// buffer too small is left as it was).
    static IDS_SCRATCH: Cell<Vec<u32>> = const { Cell::new(Vec::new()) };
}

/// Runs `f` on the UTF-8 of `units`, transcoded into this thread's buffer.
fn with_utf16_text<R>(units: &[u16], f: impl FnOnce(&str) -> Result<R, CError>) -> Result<R, CError> {
    with_scratch(&TEXT_SCRATCH, |buf| match crate::utf16::utf16_to_utf8(units, buf) {
        Ok(text) => f(text),
        Err(e) => Err(e.into()),
    })
}

/// Counts the tokens `bpekit_tokenizer_encode` would give, without building them:
/// on success `*out` is the count. Arguments and errors as `bpekit_tokenizer_encode`.
#[no_mangle]
pub unsafe extern "C" fn bpekit_tokenizer_count(
    tok: *const bpekit_tokenizer,
    text: *const u8,
    len: usize,
    policy: *const bpekit_special_policy,
    out: *mut usize,
    err: *mut *mut bpekit_error,
) -> bpekit_status {
    // SAFETY: pointers are NULL or valid as documented (caller's contract).
    unsafe {
        call(err, || {
            let tok = try_ref(tok, "tok")?;
            let out = try_out(out, "out")?;
            let text = utf8(try_slice(text, len, "text")?, "text")?;
            let sets = PolicySets::read(policy)?;
            write(out, tok.inner.count_with(text, &sets.policy())?);
            Ok(())
        })
    }
}

/// Encodes `n` texts in parallel, in one call, as `bpekit_tokenizer_encode` would each.
///
/// `texts` is an array of `n` UTF-8 `bpekit_slice`s (NULL allowed when `n` is 0).
/// `num_threads` threads do the work (0: one per core, or `RAYON_NUM_THREADS`; at most
/// `BPEKIT_MAX_THREADS`; more than 4 per core are served by 4 per core): the calling
/// thread and the shared pool of `num_threads - 1` threads (kept while it is one of the 4
/// most recently used; see Threads); a batch too small to share among them (under
/// 16 KiB of text, or one thread) is encoded on the calling thread alone, without the
/// pool. On
/// success `*ids` holds every text's ids one after another and `*offsets` holds `n + 1`
/// offsets: text `i` is `ids[offsets[i] .. offsets[i + 1]]`. Both are owned by the
/// caller (release with `bpekit_tokens_free` and `bpekit_offsets_free`); on error
/// neither is touched. Errors: as `bpekit_tokenizer_encode`, with the message naming the
/// first failing text as `texts[i]`; `BPEKIT_ERR_INVALID_ARG` if `num_threads` is too
/// large or the threads cannot start.
#[no_mangle]
pub unsafe extern "C" fn bpekit_tokenizer_encode_batch(
    tok: *const bpekit_tokenizer,
    texts: *const bpekit_slice,
    n: usize,
    policy: *const bpekit_special_policy,
    num_threads: usize,
    ids: *mut bpekit_tokens,
    offsets: *mut bpekit_offsets,
    err: *mut *mut bpekit_error,
) -> bpekit_status {
    // SAFETY: pointers are NULL or valid as documented (caller's contract).
    unsafe {
        call(err, || {
            let tok = try_ref(tok, "tok")?;
            let (ids, offsets) = (try_out(ids, "ids")?, try_out(offsets, "offsets")?);
            let texts = try_strs(texts, n, "texts")?;
            let sets = PolicySets::read(policy)?;
            let policy = sets.policy();
            check_threads(num_threads)?;
            let (flat, offs) = tok.inner.encode_batch_threads(&texts, &policy, num_threads)?.join();
            write(ids, bpekit_tokens::from_vec(flat));
            write(offsets, bpekit_offsets::from_vec(offs));
            Ok(())
        })
    }
}

/// Returns the number of special tokens (0 for NULL). Index them with
/// `bpekit_tokenizer_special_token`.
#[no_mangle]
pub unsafe extern "C" fn bpekit_tokenizer_special_count(tok: *const bpekit_tokenizer) -> usize {
    // SAFETY: `tok` is NULL or a live tokenizer (caller's contract).
    call_or(0, || unsafe { tok.as_ref() }.map_or(0, |t| t.inner.special_tokens().len()))
}

/// Borrows special token `index` (in id order, `index < bpekit_tokenizer_special_count`):
/// on success `*text`/`*len` describe its UTF-8 text, valid until
/// `bpekit_tokenizer_free(tok)`, and `*id` is its id.
/// Errors: `BPEKIT_ERR_NULL_ARG`, `BPEKIT_ERR_INVALID_ARG` (index out of range).
#[no_mangle]
pub unsafe extern "C" fn bpekit_tokenizer_special_token(
    tok: *const bpekit_tokenizer,
    index: usize,
    text: *mut *const u8,
    len: *mut usize,
    id: *mut u32,
    err: *mut *mut bpekit_error,
) -> bpekit_status {
    // SAFETY: pointers are NULL or valid as documented (caller's contract).
    unsafe {
        call(err, || {
            let tok = try_ref(tok, "tok")?;
            let (text, len, id) = (try_out(text, "text")?, try_out(len, "len")?, try_out(id, "id")?);
            let n = tok.inner.special_tokens().len();
            let (t, i) = tok.inner.special_tokens().nth(index).ok_or_else(|| {
                CError::new(
                    BPEKIT_ERR_INVALID_ARG,
                    format!("special token index {index} is out of range (0..{n})"),
                )
            })?;
            write(text, t.as_ptr());
            write(len, t.len());
            write(id, i);
            Ok(())
        })
    }
}

/// The body of an export that reads `len` bytes at `bytes` and fills `*out` with the ids
/// `f` computes from the tokenizer and those bytes (`*out` untouched on error).
///
/// # Safety
/// As the exports: `tok`, `bytes`/`len` and `out` NULL or valid, `err` NULL or writable.
unsafe fn ids_from_bytes(
    tok: *const bpekit_tokenizer,
    bytes: *const u8,
    len: usize,
    arg: &str,
    out: *mut bpekit_tokens,
    err: *mut *mut bpekit_error,
    f: impl FnOnce(&Tokenizer, &[u8]) -> Result<Vec<u32>, CError>,
) -> bpekit_status {
    // SAFETY: delegated to the caller.
    unsafe {
        call(err, || {
            let tok = try_ref(tok, "tok")?;
            let out = try_out(out, "out")?;
            let ids = f(&tok.inner, try_slice(bytes, len, arg)?)?;
            write(out, bpekit_tokens::from_vec(ids));
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
        ids_from_bytes(
            tok,
            text,
            len,
            "text",
            out,
            err,
            |t, text| Ok(t.encode_ordinary(utf8(text, "text")?)?),
        )
    }
}

/// Encodes `len` bytes that need not be UTF-8, as ordinary text (tiktoken's
/// `_encode_bytes`): UTF-8 input gives `bpekit_tokenizer_encode_ordinary`'s ids; otherwise
/// the longest UTF-8 prefix is encoded, the tokens of its last piece (and any
/// whitespace-only tokens before them) are taken back, and their bytes together with
/// the rest of the input are merged as one piece.
///
/// `bytes` may be NULL when `len` is 0. On success `*out` is filled with ids owned by
/// the caller (release with `bpekit_tokens_free`); on error `*out` is untouched.
/// Errors: `BPEKIT_ERR_NULL_ARG`, `BPEKIT_ERR_BAD_PATTERN`.
#[no_mangle]
pub unsafe extern "C" fn bpekit_tokenizer_encode_bytes(
    tok: *const bpekit_tokenizer,
    bytes: *const u8,
    len: usize,
    out: *mut bpekit_tokens,
    err: *mut *mut bpekit_error,
) -> bpekit_status {
    // SAFETY: pointers are NULL or valid as documented (caller's contract).
    unsafe { ids_from_bytes(tok, bytes, len, "bytes", out, err, |t, bytes| Ok(t.encode_bytes(bytes)?)) }
}

/// Encodes `len` bytes (any bytes) as one piece, without splitting them with the
/// pattern and without special tokens: its id if the whole piece is a token, else the
/// tokens byte-pair merging gives (tiktoken's `_encode_single_piece`).
///
/// `bytes` may be NULL when `len` is 0 (no ids). On success `*out` is filled with ids
/// owned by the caller (release with `bpekit_tokens_free`); on error `*out` is untouched.
/// Errors: `BPEKIT_ERR_NULL_ARG`.
#[no_mangle]
pub unsafe extern "C" fn bpekit_tokenizer_encode_piece(
    tok: *const bpekit_tokenizer,
    bytes: *const u8,
    len: usize,
    out: *mut bpekit_tokens,
    err: *mut *mut bpekit_error,
) -> bpekit_status {
    // SAFETY: pointers are NULL or valid as documented (caller's contract).
    unsafe {
        ids_from_bytes(tok, bytes, len, "bytes", out, err, |t, piece| {
            let mut ids = Vec::new();
            if !piece.is_empty() {
                t.encode_piece(piece, &mut ids);
            }
            Ok(ids)
        })
    }
}

/// The merge rules of the tokenizer's tokens (for exporting to a merges-based format
/// such as HF tokenizers' `tokenizer.json`): `*out` holds 3 ids per rule, `left, right,
/// token`, in the token's rank order. A rule is the pair that byte-pair merging of the
/// token's own bytes, with the tokens ranked below it, ends with; a token that merging
/// does not reach in two parts has none. `*out` is owned by the caller (release with
/// `bpekit_tokens_free`). Errors: `BPEKIT_ERR_NULL_ARG`.
#[no_mangle]
pub unsafe extern "C" fn bpekit_tokenizer_merge_rules(
    tok: *const bpekit_tokenizer,
    out: *mut bpekit_tokens,
    err: *mut *mut bpekit_error,
) -> bpekit_status {
    // SAFETY: pointers are NULL or valid as documented (caller's contract); no bytes.
    unsafe {
        ids_from_bytes(tok, std::ptr::null(), 0, "", out, err, |t, _| {
            Ok(t.merge_rules().into_iter().flat_map(|(l, r, id)| [l, r, id]).collect())
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

/// Borrows the bytes of token `id` (for a special token, its text): on success `*data`
/// and `*len` describe them.
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

/// Looks up the id of `len` bytes that form one token: a rank, else a special token's
/// text. On success `*id` is the id.
/// Errors: `BPEKIT_ERR_NULL_ARG`, `BPEKIT_ERR_UNKNOWN_TOKEN` (the bytes are not one token).
#[no_mangle]
pub unsafe extern "C" fn bpekit_tokenizer_token_id(
    tok: *const bpekit_tokenizer,
    bytes: *const u8,
    len: usize,
    id: *mut u32,
    err: *mut *mut bpekit_error,
) -> bpekit_status {
    // SAFETY: pointers are NULL or valid as documented (caller's contract).
    unsafe {
        call(err, || {
            let tok = try_ref(tok, "tok")?;
            let id = try_out(id, "id")?;
            let bytes = try_slice(bytes, len, "bytes")?;
            let found = tok.inner.single_token_id(bytes).ok_or_else(|| {
                CError::new(
                    BPEKIT_ERR_UNKNOWN_TOKEN,
                    format!("{:?} is not a single token", String::from_utf8_lossy(bytes)),
                )
            })?;
            write(id, found);
            Ok(())
        })
    }
}

/// Exports the ranks in tiktoken's `.tiktoken` format, sorted by rank: the output loads
/// with tiktoken's `load_tiktoken_bpe` and with `bpekit_tokenizer_from_tiktoken`.
/// Special tokens are not part of that format and are left out (list them with
/// `bpekit_tokenizer_special_token`; `bpekit_tokenizer_to_bytes` keeps everything).
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

/// Saves the tokenizer (pattern, ranks, special tokens) to the file at `path`
/// (`path_len` bytes, not NUL-terminated; any bytes on Unix, UTF-8 elsewhere) in
/// bpekit's own versioned, checksummed format. The write is atomic: a temporary file in
/// the same directory is synced and renamed over `path`, so on any failure the old file
/// (if any) is untouched and no partial file is left.
/// Errors: `BPEKIT_ERR_NULL_ARG`, `BPEKIT_ERR_INVALID_ARG` (empty path),
/// `BPEKIT_ERR_IO` (the message names the path, the step and the OS error).
#[no_mangle]
pub unsafe extern "C" fn bpekit_tokenizer_save(
    tok: *const bpekit_tokenizer,
    path: *const u8,
    path_len: usize,
    err: *mut *mut bpekit_error,
) -> bpekit_status {
    // SAFETY: pointers are NULL or valid as documented (caller's contract).
    unsafe {
        call(err, || {
            let tok = try_ref(tok, "tok")?;
            let path = path_arg(path, path_len, "path")?;
            Ok(tok.inner.save(&path)?)
        })
    }
}

/// Loads a tokenizer saved by `bpekit_tokenizer_save` from `path` (as there).
///
/// Everything is validated: a truncated, corrupted, foreign or newer-version file is an
/// error, never a crash or a silently wrong tokenizer. On success `*out` receives a new
/// tokenizer owned by the caller (release with `bpekit_tokenizer_free`).
/// Errors: `BPEKIT_ERR_NULL_ARG`, `BPEKIT_ERR_INVALID_ARG`, `BPEKIT_ERR_IO`,
/// `BPEKIT_ERR_BAD_FORMAT`, and those of `bpekit_tokenizer_new` for invalid content.
#[no_mangle]
pub unsafe extern "C" fn bpekit_tokenizer_load(
    path: *const u8,
    path_len: usize,
    out: *mut *mut bpekit_tokenizer,
    err: *mut *mut bpekit_error,
) -> bpekit_status {
    // SAFETY: pointers are NULL or valid as documented (caller's contract).
    unsafe {
        call(err, || {
            let out = try_out(out, "out")?;
            let path = path_arg(path, path_len, "path")?;
            let tok = Tokenizer::load(&path)?;
            write(out, bpekit_tokenizer::into_raw(tok));
            Ok(())
        })
    }
}

/// Serializes the tokenizer in bpekit's file format into `*out` (owned by the caller,
/// release with `bpekit_bytes_free`), e.g. to store it elsewhere than in a file.
/// Errors: `BPEKIT_ERR_NULL_ARG`.
#[no_mangle]
pub unsafe extern "C" fn bpekit_tokenizer_to_bytes(
    tok: *const bpekit_tokenizer,
    out: *mut bpekit_bytes,
    err: *mut *mut bpekit_error,
) -> bpekit_status {
    // SAFETY: pointers are NULL or valid as documented (caller's contract).
    unsafe {
        call(err, || {
            let tok = try_ref(tok, "tok")?;
            let out = try_out(out, "out")?;
            write(out, bpekit_bytes::from_vec(tok.inner.to_bytes()?));
            Ok(())
        })
    }
}

/// Reads `len` bytes made by `bpekit_tokenizer_to_bytes` (or a saved file's contents),
/// validating them as `bpekit_tokenizer_load` does. On success `*out` receives a new
/// tokenizer owned by the caller. Errors: as `bpekit_tokenizer_load`, without `BPEKIT_ERR_IO`.
#[no_mangle]
pub unsafe extern "C" fn bpekit_tokenizer_from_bytes(
    data: *const u8,
    len: usize,
    out: *mut *mut bpekit_tokenizer,
    err: *mut *mut bpekit_error,
) -> bpekit_status {
    // SAFETY: pointers are NULL or valid as documented (caller's contract).
    unsafe {
        call(err, || {
            let out = try_out(out, "out")?;
            let data = try_slice(data, len, "data")?;
            let tok = Tokenizer::from_bytes(data)?;
            write(out, bpekit_tokenizer::into_raw(tok));
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

/// Returns which engine splits text for the tokenizer's pattern: `"named"` (the
/// hand-written splitter of an OpenAI or rustbpe pattern), `"automaton"` (DFAs compiled
/// from a pattern proven to qualify, e.g. Llama 3's) or `"backtracking"` (fancy-regex,
/// every other pattern). All give the same pieces; they differ in speed. Returns `""`
/// for NULL. New engine names may appear in later versions.
///
/// A static NUL-terminated string: never freed. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn bpekit_tokenizer_split_engine(tok: *const bpekit_tokenizer) -> *const c_char {
    let name = |engine: crate::pattern::SplitEngine| match engine {
        crate::pattern::SplitEngine::Named => c"named",
        crate::pattern::SplitEngine::Automaton => c"automaton",
        crate::pattern::SplitEngine::Backtracking => c"backtracking",
    };
    // SAFETY: `tok` is NULL or a live tokenizer (caller's contract).
    call_or(c"".as_ptr(), || {
        unsafe { tok.as_ref() }.map_or(c"", |t| name(t.inner.pattern().engine())).as_ptr()
    })
}

/// `bpekit_tokenizer_with_normalization`: no normalization (every OpenAI encoding).
pub const BPEKIT_NORMALIZE_NONE: u32 = 0;
/// `bpekit_tokenizer_with_normalization`: Unicode NFC (canonical composition) of ordinary
/// text before splitting (HF `tokenizer.json`'s `NFC` normalizer, as in Qwen's).
pub const BPEKIT_NORMALIZE_NFC: u32 = 1;

/// Creates a copy of `tok` that applies `normalization` (`BPEKIT_NORMALIZE_*`) to
/// ordinary text before splitting it. Special tokens are found in the text as given;
/// each stretch of ordinary text between them is normalized on its own; decoding gives
/// the normalized text; offsets stay in the text as given (a token of a character
/// sequence that normalization changed spans the whole sequence). Saved files record it.
///
/// On success `*out` receives a new tokenizer, owned by the caller (release with
/// `bpekit_tokenizer_free`); `tok` is unchanged.
/// Errors: `BPEKIT_ERR_NULL_ARG`, `BPEKIT_ERR_INVALID_ARG` (an unknown value).
#[no_mangle]
pub unsafe extern "C" fn bpekit_tokenizer_with_normalization(
    tok: *const bpekit_tokenizer,
    normalization: u32,
    out: *mut *mut bpekit_tokenizer,
    err: *mut *mut bpekit_error,
) -> bpekit_status {
    // SAFETY: pointers are NULL or valid as documented (caller's contract).
    unsafe {
        call(err, || {
            let tok = try_ref(tok, "tok")?;
            let out = try_out(out, "out")?;
            let n = match normalization {
                BPEKIT_NORMALIZE_NONE => Normalization::None,
                BPEKIT_NORMALIZE_NFC => Normalization::Nfc,
                other => {
                    return Err(CError::new(
                        BPEKIT_ERR_INVALID_ARG,
                        format!("normalization {other} is not a BPEKIT_NORMALIZE_* value"),
                    ))
                }
            };
            write(out, bpekit_tokenizer::into_raw(tok.inner.clone().with_normalization(n)));
            Ok(())
        })
    }
}

/// Returns the tokenizer's `BPEKIT_NORMALIZE_*` value; `BPEKIT_NORMALIZE_NONE` for NULL.
#[no_mangle]
pub unsafe extern "C" fn bpekit_tokenizer_normalization(tok: *const bpekit_tokenizer) -> u32 {
    // SAFETY: `tok` is NULL or a live tokenizer (caller's contract).
    call_or(BPEKIT_NORMALIZE_NONE, || match unsafe { tok.as_ref() }.map(|t| t.inner.normalization()) {
        Some(Normalization::Nfc) => BPEKIT_NORMALIZE_NFC,
        Some(Normalization::None) | None => BPEKIT_NORMALIZE_NONE,
    })
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
