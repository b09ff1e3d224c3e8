//! Corpus splitting through the C ABI: `bpekit_docs_split`, `bpekit_docs_from_arrow`,
//! and the consumers of spans (`bpekit_trainer_feed_docs`, `bpekit_tokenizer_count_docs`).

use rayon::prelude::*;

use super::boundary::{call, try_out, try_ref, try_slice, write};
use super::buffers::{bpekit_span, drop_raw, into_raw, try_span_strs};
use super::error::{bpekit_error, bpekit_status, CError, BPEKIT_ERR_INVALID_ARG};
use super::tokenizer::{bpekit_tokenizer, pool};
use super::trainer::bpekit_trainer;
use crate::corpus::{self, ArrowOffsets, Docs, Layout, SplitOptions, Utf8Errors};
use crate::Allowed;

/// `bpekit_split_options.layout`: the whole buffer is one document (even when empty).
pub const BPEKIT_LAYOUT_WHOLE: u32 = 0;
/// `bpekit_split_options.layout`: every line is a document ("\n" ends a line; a "\r"
/// before it is dropped; a final line without "\n" is a document unless empty).
pub const BPEKIT_LAYOUT_LINES: u32 = 1;
/// `bpekit_split_options.layout`: documents between occurrences of `separator`; empty
/// pieces (separators back to back, leading or trailing) are not documents.
pub const BPEKIT_LAYOUT_SEPARATOR: u32 = 2;
/// `bpekit_split_options.layout`: one JSON object per line; the document is the string
/// at `key` (a dotted path "a.b.c" into nested objects); blank lines are skipped.
pub const BPEKIT_LAYOUT_JSONL: u32 = 3;
/// `bpekit_split_options.errors`: invalid UTF-8 is `BPEKIT_ERR_INVALID_UTF8` naming the
/// source, the byte offset and the line.
pub const BPEKIT_UTF8_STRICT: u32 = 0;
/// `bpekit_split_options.errors`: invalid sequences become U+FFFD (as Python's
/// `errors="replace"`).
pub const BPEKIT_UTF8_REPLACE: u32 = 1;
/// `bpekit_split_options.errors`: a document containing invalid UTF-8 is dropped and
/// counted in `skipped`.
pub const BPEKIT_UTF8_SKIP: u32 = 2;
/// `doc_cap` / `max_chars`: no limit.
pub const BPEKIT_NO_LIMIT: u64 = u64::MAX;

/// How `bpekit_docs_split` and `bpekit_docs_from_arrow` make documents. Every pointer is
/// borrowed for the call only; each may be NULL when its length is 0.
#[repr(C)]
pub struct bpekit_split_options {
    /// `BPEKIT_LAYOUT_*` (ignored by `bpekit_docs_from_arrow`).
    pub layout: u32,
    /// `BPEKIT_LAYOUT_SEPARATOR`: the separator, non-empty.
    pub separator: *const u8,
    /// Length of `separator`.
    pub separator_len: usize,
    /// `BPEKIT_LAYOUT_JSONL`: the key path, non-empty, "." between nested keys.
    pub key: *const u8,
    /// Length of `key`.
    pub key_len: usize,
    /// `BPEKIT_UTF8_*`.
    pub errors: u32,
    /// Characters (Unicode scalar values) kept per document, cut at a character
    /// boundary; `BPEKIT_NO_LIMIT`: no cap.
    pub doc_cap: u64,
    /// Budget: documents are taken in order, adding each one's characters (after the cap)
    /// to a running total; the document that makes the total exceed `max_chars` is still
    /// taken, then the split stops (`stopped` = 1). A caller splitting many buffers passes
    /// what remains of its budget. `BPEKIT_NO_LIMIT`: no budget.
    pub max_chars: u64,
    /// A name for error messages (a file name), may be empty.
    pub source: *const u8,
    /// Length of `source`.
    pub source_len: usize,
    /// Byte offset of `data[0]` in the source, for messages.
    pub base_offset: u64,
    /// 1-based line number of the data's first line, for messages (0 counts as 1).
    pub base_line: u64,
}

/// Documents made by a split; release with `bpekit_docs_free`.
#[repr(C)]
pub struct bpekit_docs {
    /// The documents in order (empty: NULL).
    pub spans: *mut bpekit_span,
    /// Number of documents.
    pub n: usize,
    /// When non-NULL, the spans index these bytes (made by the split: JSON strings
    /// unescaped, replacement characters); when NULL, they index the caller's input.
    pub data: *mut u8,
    /// Length of `data`.
    pub data_len: usize,
    /// Characters in the documents, after `doc_cap`.
    pub chars: u64,
    /// Documents dropped: invalid UTF-8 under `BPEKIT_UTF8_SKIP`, Arrow nulls.
    pub skipped: u64,
    /// Input consumed: all of it unless `stopped`, else up to the end of the last
    /// document taken with its terminator. Bytes for `bpekit_docs_split`, elements (nulls
    /// included) for `bpekit_docs_from_arrow`.
    pub consumed: u64,
    /// 1 when `max_chars` stopped the split, else 0.
    pub stopped: u8,
}

impl bpekit_docs {
    fn from_docs(d: Docs) -> Self {
        let spans: Vec<bpekit_span> =
            d.spans.into_iter().map(|r| bpekit_span { start: r.start as u64, end: r.end as u64 }).collect();
        let (spans, n) = into_raw(spans);
        let (data, data_len) = into_raw(d.data.unwrap_or_default());
        bpekit_docs {
            spans,
            n,
            data,
            data_len,
            chars: d.chars,
            skipped: d.skipped,
            consumed: d.consumed,
            stopped: u8::from(d.stopped),
        }
    }
}

fn invalid(message: String) -> CError {
    CError::new(BPEKIT_ERR_INVALID_ARG, message)
}

/// Reads the options; `with_layout` is false for Arrow (the layout is ignored).
///
/// # Safety
/// `o` is NULL or points to options whose pointers are valid as documented.
unsafe fn read_options<'a>(
    o: *const bpekit_split_options,
    with_layout: bool,
) -> Result<(SplitOptions<'a>, String), CError> {
    // SAFETY: delegated to the caller.
    let o = unsafe { try_ref(o, "opts") }?;
    let layout = if !with_layout {
        Layout::Whole
    } else {
        match o.layout {
            BPEKIT_LAYOUT_WHOLE => Layout::Whole,
            BPEKIT_LAYOUT_LINES => Layout::Lines,
            BPEKIT_LAYOUT_SEPARATOR => {
                // SAFETY: `separator` has `separator_len` bytes (caller's contract).
                let sep = unsafe { try_slice(o.separator, o.separator_len, "opts.separator") }?;
                if sep.is_empty() {
                    return Err(invalid(
                        "opts.separator is empty (BPEKIT_LAYOUT_SEPARATOR needs one)".into(),
                    ));
                }
                Layout::Separator(sep)
            }
            BPEKIT_LAYOUT_JSONL => {
                // SAFETY: `key` has `key_len` bytes (caller's contract).
                let key = unsafe { try_slice(o.key, o.key_len, "opts.key") }?;
                if key.is_empty() {
                    return Err(invalid("opts.key is empty (BPEKIT_LAYOUT_JSONL needs one)".into()));
                }
                Layout::Jsonl(key)
            }
            other => return Err(invalid(format!("opts.layout {other} is not a BPEKIT_LAYOUT_* value"))),
        }
    };
    let errors = match o.errors {
        BPEKIT_UTF8_STRICT => Utf8Errors::Strict,
        BPEKIT_UTF8_REPLACE => Utf8Errors::Replace,
        BPEKIT_UTF8_SKIP => Utf8Errors::Skip,
        other => return Err(invalid(format!("opts.errors {other} is not a BPEKIT_UTF8_* value"))),
    };
    // SAFETY: `source` has `source_len` bytes (caller's contract).
    let source = unsafe { try_slice(o.source, o.source_len, "opts.source") }?;
    let limit = |v: u64| (v != BPEKIT_NO_LIMIT).then_some(v);
    let opts = SplitOptions {
        layout,
        errors,
        doc_cap: limit(o.doc_cap),
        max_chars: limit(o.max_chars),
        source: "",
        base_offset: o.base_offset,
        base_line: o.base_line,
    };
    Ok((opts, String::from_utf8_lossy(source).into_owned()))
}

/// Splits `len` bytes at `data` into documents as `opts` says (see `bpekit_split_options`).
///
/// `data` may be NULL when `len` is 0. On success `*out` receives the documents, owned by
/// the caller (release with `bpekit_docs_free`); their spans index `out->data` when it is
/// non-NULL, else `data`, which must then outlive their use. On error `*out` is untouched.
/// Errors: `BPEKIT_ERR_NULL_ARG`; `BPEKIT_ERR_INVALID_ARG` (unknown layout or errors value,
/// empty separator or key); `BPEKIT_ERR_INVALID_UTF8` (strict: names the source, byte
/// offset and line); `BPEKIT_ERR_BAD_FORMAT` (JSONL: a line that is not JSON, not an
/// object, lacks the key, or whose value is not a string; names the source, line and key).
#[no_mangle]
pub unsafe extern "C" fn bpekit_docs_split(
    data: *const u8,
    len: usize,
    opts: *const bpekit_split_options,
    out: *mut bpekit_docs,
    err: *mut *mut bpekit_error,
) -> bpekit_status {
    // SAFETY: pointers are NULL or valid as documented (caller's contract).
    unsafe {
        call(err, || {
            let out = try_out(out, "out")?;
            let data = try_slice(data, len, "data")?;
            let (mut o, source) = read_options(opts, true)?;
            o.source = &source;
            let docs = corpus::split(data, &o)?;
            write(out, bpekit_docs::from_docs(docs));
            Ok(())
        })
    }
}

/// Takes the `n` strings of an Arrow string array as documents, without copying them.
///
/// `data` (`data_len` bytes) is the array's value buffer; `offsets` its offset buffer of
/// `offset_width`-byte signed integers (4: `utf8`, 8: `large_utf8`), aligned to that width,
/// with at least `first + n + 1` entries, of which `first .. first + n` start the
/// elements (`first` is the array's offset). `validity` is the Arrow validity bitmap (bit
/// `first + i` for element `i`, at least `(first + n + 7) / 8` bytes) or NULL when there
/// are no nulls; nulls are skipped and counted in `skipped`. `opts->layout` is ignored;
/// the UTF-8 policy, `doc_cap` and `max_chars` apply; `consumed` counts elements.
/// On success `*out` is owned by the caller (release with `bpekit_docs_free`); spans
/// index `out->data` when non-NULL, else `data`. On error `*out` is untouched.
/// Errors: `BPEKIT_ERR_NULL_ARG`; `BPEKIT_ERR_INVALID_ARG` (width not 4 or 8, misaligned
/// offsets, an offset negative, decreasing or past `data_len`: named by element index);
/// `BPEKIT_ERR_INVALID_UTF8` (strict: names the element and the source).
#[no_mangle]
pub unsafe extern "C" fn bpekit_docs_from_arrow(
    data: *const u8,
    data_len: usize,
    offsets: *const core::ffi::c_void,
    offset_width: u32,
    first: u64,
    n: usize,
    validity: *const u8,
    opts: *const bpekit_split_options,
    out: *mut bpekit_docs,
    err: *mut *mut bpekit_error,
) -> bpekit_status {
    // SAFETY: pointers are NULL or valid as documented (caller's contract).
    unsafe {
        call(err, || {
            let out = try_out(out, "out")?;
            let data = try_slice(data, data_len, "data")?;
            let (mut o, source) = read_options(opts, false)?;
            o.source = &source;
            let first = usize::try_from(first).map_err(|_| invalid(format!("first {first} is too large")))?;
            let count = first
                .checked_add(n)
                .and_then(|e| e.checked_add(1))
                .ok_or_else(|| invalid(format!("first {first} + n {n} overflows")))?;
            if offsets.is_null() {
                return Err(CError::null("offsets"));
            }
            let offs = match offset_width {
                4 => {
                    let p = offsets.cast::<i32>();
                    if !p.is_aligned() {
                        return Err(invalid("offsets is not aligned to 4 bytes".into()));
                    }
                    ArrowOffsets::I32(try_slice(p, count, "offsets")?)
                }
                8 => {
                    let p = offsets.cast::<i64>();
                    if !p.is_aligned() {
                        return Err(invalid("offsets is not aligned to 8 bytes".into()));
                    }
                    ArrowOffsets::I64(try_slice(p, count, "offsets")?)
                }
                w => return Err(invalid(format!("offset_width {w} is not 4 (utf8) or 8 (large_utf8)"))),
            };
            let validity = if validity.is_null() {
                None
            } else {
                Some(try_slice(validity, (count - 1).div_ceil(8), "validity")?)
            };
            let docs = corpus::from_arrow(data, offs, first, n, validity, &o)?;
            write(out, bpekit_docs::from_docs(docs));
            Ok(())
        })
    }
}

/// Releases the spans and bytes of `docs` and zeroes `*docs`, so a second call is a no-op.
///
/// `docs` may be NULL. Only for documents filled by bpekit.
#[no_mangle]
pub unsafe extern "C" fn bpekit_docs_free(docs: *mut bpekit_docs) {
    // SAFETY: the caller passes NULL or a `bpekit_docs` that bpekit filled (or zeroed).
    if let Some(d) = unsafe { docs.as_mut() } {
        // SAFETY: the fields came from `into_raw` in `from_docs`, or are zero.
        unsafe {
            drop_raw(d.spans, d.n);
            drop_raw(d.data, d.data_len);
        }
        *d = bpekit_docs {
            spans: std::ptr::null_mut(),
            n: 0,
            data: std::ptr::null_mut(),
            data_len: 0,
            chars: 0,
            skipped: 0,
            consumed: 0,
            stopped: 0,
        };
    }
}

/// Counts `n` documents in parallel, as `bpekit_trainer_feed_batch` would the same texts.
///
/// Document `i` is bytes `[spans[i].start, spans[i].end)` of `data` (`len` bytes); each
/// must lie within `len` and be UTF-8. `data` and `spans` may be NULL when their lengths
/// are 0; both are borrowed for the call only.
/// Errors: `BPEKIT_ERR_NULL_ARG`; `BPEKIT_ERR_INVALID_ARG` (a span out of range) and
/// `BPEKIT_ERR_INVALID_UTF8`, naming the first bad document as `spans[i]`;
/// `BPEKIT_ERR_BAD_PATTERN`. On error nothing is counted. Needs exclusive access to `t`.
#[no_mangle]
pub unsafe extern "C" fn bpekit_trainer_feed_docs(
    t: *mut bpekit_trainer,
    data: *const u8,
    len: usize,
    spans: *const bpekit_span,
    n: usize,
    err: *mut *mut bpekit_error,
) -> bpekit_status {
    // SAFETY: pointers are NULL or valid as documented (caller's contract).
    unsafe {
        call(err, || {
            let t = try_ref(t, "t")?;
            let texts = try_span_strs(data, len, spans, n, "spans")?;
            Ok(t.lock().feed_batch(&texts)?)
        })
    }
}

/// Counts the tokens of each of `n` documents as `bpekit_tokenizer_encode_ordinary` gives
/// them (special-token text is ordinary text), in parallel.
///
/// Documents are spans of `data` as for `bpekit_trainer_feed_docs`. `num_threads` as for
/// `bpekit_tokenizer_encode_batch` (0: default). On success `counts[i]` is document
/// `i`'s count; `counts` is the caller's array of `n` (NULL allowed when `n` is 0),
/// untouched on error.
/// Errors: `BPEKIT_ERR_NULL_ARG`; `BPEKIT_ERR_INVALID_ARG` (a span out of range, too many
/// threads) and `BPEKIT_ERR_INVALID_UTF8`, naming the document as `spans[i]`;
/// `BPEKIT_ERR_BAD_PATTERN`.
#[no_mangle]
pub unsafe extern "C" fn bpekit_tokenizer_count_docs(
    tok: *const bpekit_tokenizer,
    data: *const u8,
    len: usize,
    spans: *const bpekit_span,
    n: usize,
    num_threads: usize,
    counts: *mut u64,
    err: *mut *mut bpekit_error,
) -> bpekit_status {
    // SAFETY: pointers are NULL or valid as documented (caller's contract).
    unsafe {
        call(err, || {
            let tok = try_ref(tok, "tok")?;
            if counts.is_null() && n > 0 {
                return Err(CError::null("counts"));
            }
            let texts = try_span_strs(data, len, spans, n, "spans")?;
            let count_one = |(i, text): (usize, &&str)| {
                tok.inner.count(text, Allowed::None).map(|c| c as u64).map_err(|e| {
                    let e = CError::from(e);
                    CError::new(e.code, format!("spans[{i}]: {}", e.message))
                })
            };
            let result: Vec<u64> = if texts.len() <= 1 {
                texts.iter().enumerate().map(count_one).collect::<Result<_, _>>()?
            } else {
                pool(num_threads)?
                    .install(|| texts.par_iter().enumerate().map(count_one).collect::<Result<_, _>>())?
            };
            if n > 0 {
                // SAFETY: non-NULL, and the caller provides `n` writable `u64`s.
                std::slice::from_raw_parts_mut(counts, n).copy_from_slice(&result);
            }
            Ok(())
        })
    }
}
