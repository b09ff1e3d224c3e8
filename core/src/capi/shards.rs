//! Token shards through the C ABI: `bpekit_shard_writer` (a corpus's documents encoded
//! and written as one shard or numbered shards), the rotation rule on lengths alone
//! (`bpekit_shard_plan`) and shard reading
//! (`bpekit_shard_read_info`, `bpekit_shard_read`, `bpekit_shard_documents`). The rules
//! are the core's (`crate::shardset`, `crate::shards`); this file converts arguments and
//! results.

use std::ffi::{c_char, CStr};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use super::boundary::{call, call_or, path_arg, try_out, try_ref, try_slice, utf8, write};
use super::buffers::{bpekit_bytes, bpekit_offsets, bpekit_span, bpekit_tokens, try_span_strs};
use super::error::{bpekit_error, bpekit_status, CError, BPEKIT_ERR_INVALID_ARG};
use super::tokenizer::{bpekit_tokenizer, BPEKIT_MAX_THREADS};
use crate::{
    locate_shard, read_shard, read_shard_documents, shard_info, ShardCursor, ShardFormat, ShardSet,
    ShardSetOptions, TokenDtype,
};

/// How `bpekit_shard_writer_new` writes. Every pointer is borrowed for the call only.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct bpekit_shard_options {
    /// The format's name (not NUL-terminated): `llmc`, `megatron`, `nanogpt` or `npy`.
    pub format: *const u8,
    /// Bytes of `format`.
    pub format_len: usize,
    /// The output path prefix (the bytes of an OS path; UTF-8 on Windows). Its directory
    /// must exist.
    pub prefix: *const u8,
    /// Bytes of `prefix`.
    pub prefix_len: usize,
    /// 0: one shard, files `PREFIX.bin` etc.; `N > 0`: shards `PREFIX_000000`,
    /// `PREFIX_000001`, ... (six digits, more when needed) of at most `N` tokens each. A
    /// document is never split between shards: the shard is completed before a document
    /// that would take it past `N`, and one that reaches `N` is completed at once, so a
    /// document longer than `N` alone fills a shard.
    pub shard_tokens: u64,
    /// The number of the first shard to write (to resume); must be 0 when
    /// `shard_tokens` is 0.
    pub first_shard: u64,
    /// The id written before every document, or -1 for none.
    pub bos: i64,
    /// The id written after every document, or -1 for none.
    pub eos: i64,
}

/// A shard writer: encodes documents and writes them, in order, as token shards. Each
/// shard's files are hidden temporary files until the shard is complete, then renamed.
/// Calls that change it need exclusive access (concurrent misuse is serialized, not
/// undefined); `bpekit_shard_writer_completed` and `bpekit_shard_writer_shard` wait for a
/// running call on another thread.
pub struct bpekit_shard_writer {
    inner: Mutex<WriterState>,
}

struct WriterState {
    set: ShardSet,
    /// The completed shards' paths as `bpekit_shard_record` hands them out (a NUL after
    /// each), one entry per shard. Entries are never changed once made, so the pointers
    /// given out stay valid until the writer is freed.
    paths: Vec<Vec<u8>>,
}

impl bpekit_shard_writer {
    fn lock(&self) -> MutexGuard<'_, WriterState> {
        // A panic while locked was reported as BPEKIT_ERR_PANIC; the set is consistent
        // (a failed write marks it failed), so go on.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl WriterState {
    /// Makes the paths entries of shards completed since the last call.
    fn sync_paths(&mut self) {
        for r in &self.set.completed()[self.paths.len()..] {
            let mut joined = Vec::new();
            for p in &r.paths {
                joined.extend_from_slice(&path_bytes(p));
                joined.push(0);
            }
            self.paths.push(joined);
        }
    }
}

/// A completed shard, as `bpekit_shard_writer_shard` describes it.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct bpekit_shard_record {
    /// The shard's number (0 when not sharding).
    pub index: u64,
    /// Tokens in the shard, BOS and EOS included.
    pub tokens: u64,
    /// Documents in the shard.
    pub documents: u64,
    /// The shard's files under their final names, each followed by a NUL byte, in the
    /// format's order (`.bin` then `.idx`; `.npy` then `.docs.npy`). Borrowed from the
    /// writer: valid until `bpekit_shard_writer_free`.
    pub paths: *const u8,
    /// Bytes of `paths`, the NULs included.
    pub paths_len: usize,
}

/// A shard's headers, as `bpekit_shard_read_info` reads them. (The function has another
/// name than the struct: C gives a typedef and a function one namespace.)
#[repr(C)]
#[derive(Clone, Copy)]
pub struct bpekit_shard_info {
    /// The format's name: `"llmc"`, `"megatron"`, `"nanogpt"` or `"npy"`. Static: never freed.
    pub format: *const c_char,
    /// The token dtype's NumPy name: `"uint16"`, `"uint32"` or `"int32"`. Static.
    pub dtype: *const c_char,
    /// Tokens in the shard.
    pub tokens: u64,
    /// Documents recorded (megatron, npy), or `UINT64_MAX` when the format records none.
    pub documents: u64,
    /// Byte offset of the first token in the tokens file.
    pub data_offset: u64,
}

/// The bytes of a path: the OS bytes on Unix, UTF-8 elsewhere.
fn path_bytes(p: &Path) -> Vec<u8> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        p.as_os_str().as_bytes().to_vec()
    }
    #[cfg(not(unix))]
    {
        p.to_string_lossy().into_owned().into_bytes()
    }
}

/// A format name from `(p, len)`; NULL or empty is `None`.
///
/// # Safety
/// As [`try_slice`].
unsafe fn format_arg(p: *const u8, len: usize, arg: &str) -> Result<Option<ShardFormat>, CError> {
    // SAFETY: delegated to the caller.
    let bytes = unsafe { try_slice(p, len, arg) }?;
    if bytes.is_empty() {
        return Ok(None);
    }
    Ok(Some(ShardFormat::from_name(utf8(bytes, arg)?)?))
}

/// An id option: -1 is none, another negative value or one above 32 bits is INVALID_ARG.
fn id_arg(v: i64, arg: &str) -> Result<Option<u32>, CError> {
    match v {
        -1 => Ok(None),
        _ => u32::try_from(v).map(Some).map_err(|_| {
            CError::new(BPEKIT_ERR_INVALID_ARG, format!("`{arg}` is {v}: a token id, or -1 for none"))
        }),
    }
}

fn format_name(f: ShardFormat) -> &'static CStr {
    match f {
        ShardFormat::Llmc => c"llmc",
        ShardFormat::Megatron => c"megatron",
        ShardFormat::Nanogpt => c"nanogpt",
        ShardFormat::Npy => c"npy",
    }
}

fn dtype_name(d: TokenDtype) -> &'static CStr {
    match d {
        TokenDtype::U16 => c"uint16",
        TokenDtype::U32 => c"uint32",
        TokenDtype::I32 => c"int32",
    }
}

/// Offsets for `bpekit_offsets`, which holds `size_t`.
fn offsets_arg(offsets: Vec<u64>) -> Result<bpekit_offsets, CError> {
    let offsets: Result<Vec<usize>, _> = offsets.into_iter().map(usize::try_from).collect();
    let offsets = offsets.map_err(|_| {
        CError::new(BPEKIT_ERR_INVALID_ARG, "the shard's offsets do not fit in size_t on this platform")
    })?;
    Ok(bpekit_offsets::from_vec(offsets))
}

/// Creates a shard writer for documents encoded by `tok` (which sets the vocab size, and
/// so the format's dtype), as `opts` says (see `bpekit_shard_options`).
///
/// Everything is checked before any file is created: the format's name, the vocab size
/// against the format's dtype (the message names both and the limit), `bos`/`eos` below
/// the vocab size, `first_shard` 0 unless sharding, an llmc `shard_tokens` of at most
/// 2^31 - 1, and the prefix's directory (it must exist and be writable; the message names
/// it). Then the first shard's temporary files are created. `tok` and `opts` are only
/// read during the call. On success `*out` receives a new writer owned by the caller
/// (release with `bpekit_shard_writer_free`).
/// Errors: `BPEKIT_ERR_NULL_ARG`, `BPEKIT_ERR_INVALID_UTF8` (format), `BPEKIT_ERR_INVALID_ARG`,
/// `BPEKIT_ERR_IO` (the directory).
#[no_mangle]
pub unsafe extern "C" fn bpekit_shard_writer_new(
    tok: *const bpekit_tokenizer,
    opts: *const bpekit_shard_options,
    out: *mut *mut bpekit_shard_writer,
    err: *mut *mut bpekit_error,
) -> bpekit_status {
    // SAFETY: pointers are NULL or valid as documented (caller's contract).
    unsafe {
        call(err, || {
            let tok = try_ref(tok, "tok")?;
            let opts = try_ref(opts, "opts")?;
            let out = try_out(out, "out")?;
            let format = format_arg(opts.format, opts.format_len, "opts.format")?.ok_or_else(|| {
                CError::new(
                    BPEKIT_ERR_INVALID_ARG,
                    "`opts.format` is empty: the formats are llmc, megatron, nanogpt, npy",
                )
            })?;
            let prefix = path_arg(opts.prefix, opts.prefix_len, "opts.prefix")?;
            let options = ShardSetOptions {
                format,
                prefix,
                shard_tokens: opts.shard_tokens,
                first_shard: opts.first_shard,
                bos: id_arg(opts.bos, "opts.bos")?,
                eos: id_arg(opts.eos, "opts.eos")?,
            };
            let set = ShardSet::create(options, tok.inner.vocab_size())?;
            let w = bpekit_shard_writer { inner: Mutex::new(WriterState { set, paths: Vec::new() }) };
            write(out, Box::into_raw(Box::new(w)));
            Ok(())
        })
    }
}

/// Encodes `n` documents with encode_ordinary (special-token text is ordinary text) on
/// `num_threads` threads (0: the default; at most `BPEKIT_MAX_THREADS`), then appends them
/// in order, each as bos + ids + eos, completing shards as `shard_tokens` says.
///
/// Document `i` is bytes `[spans[i].start, spans[i].end)` of `data` (`len` bytes); every
/// span is checked (within `len`, start <= end, UTF-8) before anything is encoded. The
/// bytes written never depend on the thread count or on how documents are split between
/// calls. `tok` must have the vocab size given to `bpekit_shard_writer_new`. Inputs are
/// only read during the call. Errors, with nothing written and the writer usable:
/// `BPEKIT_ERR_NULL_ARG`, `BPEKIT_ERR_INVALID_ARG` (a bad span or thread count, another
/// vocab size, an llmc shard above 2^31 - 1 tokens: the message names `--shard-tokens`,
/// a Megatron document above 2^31 - 1 tokens, the writer finished),
/// `BPEKIT_ERR_INVALID_UTF8` (naming `spans[i]`), `BPEKIT_ERR_BAD_PATTERN`. `BPEKIT_ERR_IO`: a
/// write failed; the open shard's files are removed and every later call fails.
/// Needs exclusive access to `w`.
#[no_mangle]
pub unsafe extern "C" fn bpekit_shard_writer_push(
    w: *mut bpekit_shard_writer,
    tok: *const bpekit_tokenizer,
    data: *const u8,
    len: usize,
    spans: *const bpekit_span,
    n: usize,
    num_threads: usize,
    err: *mut *mut bpekit_error,
) -> bpekit_status {
    // SAFETY: pointers are NULL or valid as documented (caller's contract).
    unsafe {
        call(err, || {
            let w = try_ref(w, "w")?;
            let tok = try_ref(tok, "tok")?;
            let texts = try_span_strs(data, len, spans, n, "spans")?;
            if num_threads > BPEKIT_MAX_THREADS {
                return Err(CError::new(
                    BPEKIT_ERR_INVALID_ARG,
                    format!("num_threads {num_threads} exceeds BPEKIT_MAX_THREADS ({BPEKIT_MAX_THREADS})"),
                ));
            }
            let mut state = w.lock();
            let result = state.set.push(&tok.inner, &texts, num_threads);
            state.sync_paths();
            Ok(result?)
        })
    }
}

/// Appends `n_docs` documents already encoded, in order, each as bos + ids + eos,
/// completing shards as `shard_tokens` says: given the ids `bpekit_shard_writer_push`
/// would encode, it writes the same bytes. Document `i` is `ids[offsets[i]]` up to
/// `ids[offsets[i + 1]]`; `offsets` has `n_docs + 1` entries, non-decreasing, the last at
/// most `n_ids` (ids outside them are not read). `ids` may be NULL when `n_ids` is 0;
/// `offsets` is not read when `n_docs` is 0 (it may be NULL). Inputs are only read during
/// the call.
/// Errors, with nothing written and the writer usable: `BPEKIT_ERR_NULL_ARG`,
/// `BPEKIT_ERR_INVALID_ARG` (offsets that decrease or pass `n_ids`, naming the entry; an
/// id not below the vocab size, naming the document; a format limit as in
/// `bpekit_shard_writer_push`; the writer finished). `BPEKIT_ERR_IO`: a write failed; the
/// open shard's files are removed and every later call fails. Needs exclusive access to `w`.
#[no_mangle]
pub unsafe extern "C" fn bpekit_shard_writer_push_ids(
    w: *mut bpekit_shard_writer,
    ids: *const u32,
    n_ids: usize,
    offsets: *const u64,
    n_docs: usize,
    err: *mut *mut bpekit_error,
) -> bpekit_status {
    // SAFETY: pointers are NULL or valid as documented (caller's contract).
    unsafe {
        call(err, || {
            let w = try_ref(w, "w")?;
            let ids = try_slice(ids, n_ids, "ids")?;
            let offsets = if n_docs == 0 {
                &[][..]
            } else {
                let n = n_docs.checked_add(1).ok_or_else(|| {
                    CError::new(BPEKIT_ERR_INVALID_ARG, format!("n_docs {n_docs} is too large"))
                })?;
                try_slice(offsets, n, "offsets")?
            };
            let mut state = w.lock();
            let result = state.set.push_encoded(ids, offsets);
            state.sync_paths();
            Ok(result?)
        })
    }
}

/// Completes the open shard; when sharding, a run that wrote no document still writes
/// one empty shard (numbered `first_shard`), and an empty shard opened after a full one
/// is dropped. After it only `bpekit_shard_writer_completed`, `bpekit_shard_writer_shard`
/// and `bpekit_shard_writer_free` may be called (others fail with `BPEKIT_ERR_INVALID_ARG`).
/// Errors: `BPEKIT_ERR_NULL_ARG`, `BPEKIT_ERR_INVALID_ARG` (already finished), `BPEKIT_ERR_IO`
/// (nothing of the failed shard is left, under any name). Needs exclusive access to `w`.
#[no_mangle]
pub unsafe extern "C" fn bpekit_shard_writer_finish(
    w: *mut bpekit_shard_writer,
    err: *mut *mut bpekit_error,
) -> bpekit_status {
    // SAFETY: pointers are NULL or valid as documented (caller's contract).
    unsafe {
        call(err, || {
            let w = try_ref(w, "w")?;
            let mut state = w.lock();
            let result = state.set.finish();
            state.sync_paths();
            Ok(result?)
        })
    }
}

/// Returns how many shards are complete (every file renamed to its final name) so far;
/// 0 for NULL. Index them with `bpekit_shard_writer_shard`.
#[no_mangle]
pub unsafe extern "C" fn bpekit_shard_writer_completed(w: *const bpekit_shard_writer) -> usize {
    // SAFETY: `w` is NULL or a live writer (caller's contract).
    call_or(0, || unsafe { w.as_ref() }.map_or(0, |w| w.lock().paths.len()))
}

/// Fills `*out` with completed shard `i` (`i` below `bpekit_shard_writer_completed`), in
/// the order written. The paths in it are borrowed from `w` (valid until
/// `bpekit_shard_writer_free`). Errors: `BPEKIT_ERR_NULL_ARG`, `BPEKIT_ERR_INVALID_ARG` (`i`
/// out of range).
#[no_mangle]
pub unsafe extern "C" fn bpekit_shard_writer_shard(
    w: *const bpekit_shard_writer,
    i: usize,
    out: *mut bpekit_shard_record,
    err: *mut *mut bpekit_error,
) -> bpekit_status {
    // SAFETY: pointers are NULL or valid as documented (caller's contract).
    unsafe {
        call(err, || {
            let w = try_ref(w, "w")?;
            let out = try_out(out, "out")?;
            let state = w.lock();
            let (Some(r), Some(paths)) = (state.set.completed().get(i), state.paths.get(i)) else {
                return Err(CError::new(
                    BPEKIT_ERR_INVALID_ARG,
                    format!("shard {i} is out of range: {} completed", state.paths.len()),
                ));
            };
            write(
                out,
                bpekit_shard_record {
                    index: r.index,
                    tokens: r.tokens,
                    documents: r.documents,
                    paths: paths.as_ptr(),
                    paths_len: paths.len(),
                },
            );
            Ok(())
        })
    }
}

/// Releases a writer, removing the temporary files of a shard it had not completed
/// (completed shards stay). `bpekit_shard_writer_free(NULL)` does nothing.
#[no_mangle]
pub unsafe extern "C" fn bpekit_shard_writer_free(w: *mut bpekit_shard_writer) {
    if !w.is_null() {
        // SAFETY: non-NULL writers come from `Box::into_raw` in `bpekit_shard_writer_new`
        // and are freed once (caller's contract).
        call_or((), || drop(unsafe { Box::from_raw(w) }));
    }
}

/// Where the open shard of a rotation stands (see `bpekit_shard_plan`).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct bpekit_shard_cursor {
    /// The number of the open shard.
    pub index: u64,
    /// Tokens in it so far, BOS and EOS included.
    pub tokens: u64,
    /// Documents in it so far.
    pub documents: u64,
}

/// Runs the shard writer's rotation rule on document lengths alone: for each of `n`
/// documents of `doc_tokens[i]` tokens (BOS and EOS included), in order, writes the
/// number of the shard it goes to into `shard_of[i]` and advances `*cursor`. Start the
/// cursor zeroed, or at `{first_shard, 0, 0}`; carried from call to call, the numbers do
/// not depend on how the documents are split between calls, and they are the shards a
/// writer with this `shard_tokens` and `first_shard` puts the documents in (its records
/// then list the same tokens and documents per shard). `shard_tokens` 0: every document
/// goes to `cursor->index`. `doc_tokens` may be NULL when `n` is 0; `shard_of` may be
/// `doc_tokens` itself (overwritten). `*cursor` and `shard_of` are written only on
/// success. Errors: `BPEKIT_ERR_NULL_ARG` (`cursor` NULL; `doc_tokens` or `shard_of`
/// NULL with `n` > 0), `BPEKIT_ERR_INVALID_ARG` (a shard number would pass UINT64_MAX).
#[no_mangle]
pub unsafe extern "C" fn bpekit_shard_plan(
    shard_tokens: u64,
    doc_tokens: *const u64,
    n: usize,
    cursor: *mut bpekit_shard_cursor,
    shard_of: *mut u64,
    err: *mut *mut bpekit_error,
) -> bpekit_status {
    // SAFETY: pointers are NULL or valid as documented (caller's contract).
    unsafe {
        call(err, || {
            let cursor = try_out(cursor, "cursor")?;
            if shard_of.is_null() && n > 0 {
                return Err(CError::null("shard_of"));
            }
            let lengths = try_slice(doc_tokens, n, "doc_tokens")?;
            let c = cursor.read();
            let mut c = ShardCursor { index: c.index, tokens: c.tokens, documents: c.documents };
            // Into a buffer of our own first: `shard_of` may be `doc_tokens`, and is
            // written only on success.
            let mut planned = vec![0u64; n];
            c.plan(shard_tokens, lengths, &mut planned)?;
            if n > 0 {
                std::ptr::copy_nonoverlapping(planned.as_ptr(), shard_of, n);
            }
            write(cursor, bpekit_shard_cursor { index: c.index, tokens: c.tokens, documents: c.documents });
            Ok(())
        })
    }
}

/// Finds the shard `path` names and its format: see `bpekit_shard_read_info`.
///
/// # Safety
/// As [`try_slice`], for both pairs.
unsafe fn shard_arg(
    path: *const u8,
    path_len: usize,
    format: *const u8,
    format_len: usize,
) -> Result<(ShardFormat, PathBuf), CError> {
    // SAFETY: delegated to the caller.
    let path = unsafe { path_arg(path, path_len, "path") }?;
    // SAFETY: delegated to the caller.
    let format = unsafe { format_arg(format, format_len, "format") }?;
    Ok(locate_shard(&path, format)?)
}

/// Reads a shard's headers into `*out` and the path of the file holding its tokens into
/// `*tokens_file` (owned by the caller, release with `bpekit_bytes_free`; with
/// `out->data_offset`, what a memory map needs). The headers are checked against the
/// file sizes; the tokens are not read.
///
/// `path` (`path_len` bytes, any bytes on Unix) is a shard's prefix or any of its files
/// (`PREFIX.bin`, `PREFIX.idx`, `PREFIX.npy`, `PREFIX.docs.npy`). `format` (a name as in
/// `bpekit_shard_options`) may be NULL or empty to detect it: `.npy`/`.docs.npy` are npy;
/// a prefix with a `.idx` is megatron; a `.bin` starting with llm.c's magic and version
/// is llmc (its size must then agree, else `BPEKIT_ERR_BAD_FORMAT`); any other `.bin` is
/// nanogpt, which has no header to recognise.
/// Errors: `BPEKIT_ERR_NULL_ARG`, `BPEKIT_ERR_INVALID_ARG` (empty path, unknown format),
/// `BPEKIT_ERR_IO` (a missing file: the message names it), `BPEKIT_ERR_BAD_FORMAT` (not a
/// shard of that format, damaged: the message names the file and the format tried).
#[no_mangle]
pub unsafe extern "C" fn bpekit_shard_read_info(
    path: *const u8,
    path_len: usize,
    format: *const u8,
    format_len: usize,
    out: *mut bpekit_shard_info,
    tokens_file: *mut bpekit_bytes,
    err: *mut *mut bpekit_error,
) -> bpekit_status {
    // SAFETY: pointers are NULL or valid as documented (caller's contract).
    unsafe {
        call(err, || {
            let (out, tokens_file) = (try_out(out, "out")?, try_out(tokens_file, "tokens_file")?);
            let (format, prefix) = shard_arg(path, path_len, format, format_len)?;
            let info = shard_info(format, &prefix)?;
            let file = path_bytes(&format.paths(&prefix)[0]);
            write(
                out,
                bpekit_shard_info {
                    format: format_name(info.format).as_ptr(),
                    dtype: dtype_name(info.dtype).as_ptr(),
                    tokens: info.tokens,
                    documents: info.documents.unwrap_or(u64::MAX),
                    data_offset: info.data_offset,
                },
            );
            write(tokens_file, bpekit_bytes::from_vec(file));
            Ok(())
        })
    }
}

/// Reads a whole shard, checking every header field and length: `*ids` receives its
/// tokens and `*doc_offsets` its document boundaries (documents + 1 token offsets into
/// the ids, from 0; empty when the format records none: llmc, nanogpt). Both are owned by
/// the caller (release with `bpekit_tokens_free` and `bpekit_offsets_free`).
/// `path` and `format` are as in `bpekit_shard_read_info`.
/// Errors: as `bpekit_shard_read_info`.
#[no_mangle]
pub unsafe extern "C" fn bpekit_shard_read(
    path: *const u8,
    path_len: usize,
    format: *const u8,
    format_len: usize,
    ids: *mut bpekit_tokens,
    doc_offsets: *mut bpekit_offsets,
    err: *mut *mut bpekit_error,
) -> bpekit_status {
    // SAFETY: pointers are NULL or valid as documented (caller's contract).
    unsafe {
        call(err, || {
            let (ids, doc_offsets) = (try_out(ids, "ids")?, try_out(doc_offsets, "doc_offsets")?);
            let (format, prefix) = shard_arg(path, path_len, format, format_len)?;
            let shard = read_shard(format, &prefix)?;
            let offsets = offsets_arg(shard.doc_offsets.unwrap_or_default())?;
            write(ids, bpekit_tokens::from_vec(shard.ids));
            write(doc_offsets, offsets);
            Ok(())
        })
    }
}

/// Reads only a shard's document boundaries into `*doc_offsets` (as `bpekit_shard_read`
/// gives them; owned by the caller, release with `bpekit_offsets_free`), without reading
/// its tokens: for readers that memory-map the tokens. `path` and `format` are as in
/// `bpekit_shard_read_info`. Errors: as `bpekit_shard_read_info`.
#[no_mangle]
pub unsafe extern "C" fn bpekit_shard_documents(
    path: *const u8,
    path_len: usize,
    format: *const u8,
    format_len: usize,
    doc_offsets: *mut bpekit_offsets,
    err: *mut *mut bpekit_error,
) -> bpekit_status {
    // SAFETY: pointers are NULL or valid as documented (caller's contract).
    unsafe {
        call(err, || {
            let doc_offsets = try_out(doc_offsets, "doc_offsets")?;
            let (format, prefix) = shard_arg(path, path_len, format, format_len)?;
            let offsets = read_shard_documents(format, &prefix)?;
            write(doc_offsets, offsets_arg(offsets.unwrap_or_default())?);
            Ok(())
        })
    }
}
