//! Owned output buffers and the borrowed input view.

use std::ptr;

/// Token ids owned by the caller; release with `bpekit_tokens_free`.
///
/// An empty result has `ids == NULL` and `len == 0`.
#[repr(C)]
pub struct bpekit_tokens {
    /// The ids; `len` of them.
    pub ids: *mut u32,
    /// Number of ids.
    pub len: usize,
}

/// Bytes owned by the caller; release with `bpekit_bytes_free`. Not NUL-terminated.
///
/// An empty result has `data == NULL` and `len == 0`.
#[repr(C)]
pub struct bpekit_bytes {
    /// The bytes; `len` of them.
    pub data: *mut u8,
    /// Number of bytes.
    pub len: usize,
}

/// Offsets owned by the caller (from batch calls); release with `bpekit_offsets_free`.
#[repr(C)]
pub struct bpekit_offsets {
    /// The offsets; `len` of them.
    pub data: *mut usize,
    /// Number of offsets.
    pub len: usize,
}

/// A borrowed byte string passed in by the caller (for batch inputs). bpekit copies
/// what it needs before the call returns. `data` may be NULL when `len` is 0.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct bpekit_slice {
    /// The bytes; `len` of them.
    pub data: *const u8,
    /// Number of bytes.
    pub len: usize,
}

/// One document: bytes `[start, end)` of a buffer the call also receives (or that a
/// `bpekit_docs` owns). Offsets are 64-bit whatever the platform, so a span list made on
/// one host can be stored and read on another.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct bpekit_span {
    /// Offset of the document's first byte.
    pub start: u64,
    /// Offset one past the document's last byte; `start <= end`.
    pub end: u64,
}

/// Borrows each span of `data` as UTF-8 text: the one check every consumer of spans
/// (`bpekit_trainer_feed_docs`, `bpekit_tokenizer_count_docs`, the shard writer) uses.
/// A span past `data.len()`, with `start > end`, or that is not UTF-8 is
/// an error naming `arg[i]` for the first bad index `i`; nothing is returned then.
pub(crate) fn span_strs<'a>(
    data: &'a [u8],
    spans: &[bpekit_span],
    arg: &str,
) -> Result<Vec<&'a str>, super::error::CError> {
    use super::error::{CError, BPEKIT_ERR_INVALID_ARG, BPEKIT_ERR_INVALID_UTF8};
    let mut out = Vec::with_capacity(spans.len());
    for (i, s) in spans.iter().enumerate() {
        if s.start > s.end || s.end > data.len() as u64 {
            return Err(CError::new(
                BPEKIT_ERR_INVALID_ARG,
                format!(
                    "{arg}[{i}] = [{}, {}) is not a range within the data ({} bytes)",
                    s.start,
                    s.end,
                    data.len()
                ),
            ));
        }
        // In range of a slice length, so both fit in usize.
        let bytes = &data[s.start as usize..s.end as usize];
        let text = crate::simd::str_from_utf8(bytes).map_err(|e| {
            CError::new(
                BPEKIT_ERR_INVALID_UTF8,
                format!(
                    "{arg}[{i}] is not valid UTF-8: byte {} of the document (offset {} of the data)",
                    e.valid_up_to(),
                    s.start + e.valid_up_to() as u64
                ),
            )
        })?;
        out.push(text);
    }
    Ok(out)
}

/// Borrows `(data, len)` and `(spans, n)` from the caller and checks every span as
/// [`span_strs`] does. NULL is allowed for either pointer when its length is 0.
///
/// # Safety
/// Unless NULL, `data` points to `len` readable bytes and `spans` to `n` spans, both
/// outliving `'a`.
pub(crate) unsafe fn try_span_strs<'a>(
    data: *const u8,
    len: usize,
    spans: *const bpekit_span,
    n: usize,
    arg: &str,
) -> Result<Vec<&'a str>, super::error::CError> {
    // SAFETY: delegated to the caller.
    let data = unsafe { super::boundary::try_slice(data, len, "data") }?;
    // SAFETY: delegated to the caller.
    let spans = unsafe { super::boundary::try_slice(spans, n, arg) }?;
    span_strs(data, spans, arg)
}

/// Moves a vector into a `(ptr, len)` pair the caller owns; empty gives `(NULL, 0)`.
pub(super) fn into_raw<T>(v: Vec<T>) -> (*mut T, usize) {
    if v.is_empty() {
        return (ptr::null_mut(), 0);
    }
    let len = v.len();
    (Box::into_raw(v.into_boxed_slice()).cast::<T>(), len)
}

/// Rebuilds and drops a pair made by [`into_raw`].
///
/// # Safety
/// `(p, len)` came from [`into_raw`] for the same `T` and is not used again.
pub(super) unsafe fn drop_raw<T>(p: *mut T, len: usize) {
    if !p.is_null() {
        // SAFETY: by the contract, `p` is a `Box<[T]>` of exactly `len` elements.
        drop(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(p, len)) });
    }
}

impl bpekit_tokens {
    pub(crate) fn from_vec(v: Vec<u32>) -> Self {
        let (ids, len) = into_raw(v);
        bpekit_tokens { ids, len }
    }
}

impl bpekit_offsets {
    pub(crate) fn from_vec(v: Vec<usize>) -> Self {
        let (data, len) = into_raw(v);
        bpekit_offsets { data, len }
    }
}

impl bpekit_bytes {
    pub(crate) fn from_vec(v: Vec<u8>) -> Self {
        let (data, len) = into_raw(v);
        bpekit_bytes { data, len }
    }
}

/// Drops a buffer made by [`into_raw`] and zeroes its fields, so a second free is a no-op.
///
/// # Safety
/// `*data`/`*len` are NULL/0 or came from [`into_raw`] for the same `T`.
unsafe fn free_fields<T>(data: &mut *mut T, len: &mut usize) {
    // SAFETY: delegated to the caller; the fields are reset right after.
    unsafe { drop_raw(*data, *len) };
    *data = ptr::null_mut();
    *len = 0;
}

/// Releases the ids in `t` and zeroes `*t`, so a second call is a no-op.
///
/// `t` may be NULL. Only for buffers filled by bpekit: never use libc `free()` on them.
#[no_mangle]
pub unsafe extern "C" fn bpekit_tokens_free(t: *mut bpekit_tokens) {
    // SAFETY: the caller passes NULL or a `bpekit_tokens` that bpekit filled (or zeroed).
    if let Some(t) = unsafe { t.as_mut() } {
        // SAFETY: its fields came from `into_raw` or are zero.
        unsafe { free_fields(&mut t.ids, &mut t.len) };
    }
}

/// Releases the bytes in `b` and zeroes `*b`, so a second call is a no-op.
///
/// `b` may be NULL. Only for buffers filled by bpekit: never use libc `free()` on them.
#[no_mangle]
pub unsafe extern "C" fn bpekit_bytes_free(b: *mut bpekit_bytes) {
    // SAFETY: the caller passes NULL or a `bpekit_bytes` that bpekit filled (or zeroed).
    if let Some(b) = unsafe { b.as_mut() } {
        // SAFETY: its fields came from `into_raw` or are zero.
        unsafe { free_fields(&mut b.data, &mut b.len) };
    }
}

/// Releases the offsets in `o` and zeroes `*o`, so a second call is a no-op.
///
/// `o` may be NULL. Only for buffers filled by bpekit: never use libc `free()` on them.
#[no_mangle]
pub unsafe extern "C" fn bpekit_offsets_free(o: *mut bpekit_offsets) {
    // SAFETY: the caller passes NULL or a `bpekit_offsets` that bpekit filled (or zeroed).
    if let Some(o) = unsafe { o.as_mut() } {
        // SAFETY: its fields came from `into_raw` or are zero.
        unsafe { free_fields(&mut o.data, &mut o.len) };
    }
}

#[cfg(test)]
mod span_tests {
    use super::*;
    use crate::capi::error::{BPEKIT_ERR_INVALID_ARG, BPEKIT_ERR_INVALID_UTF8, BPEKIT_ERR_NULL_ARG};

    fn sp(start: u64, end: u64) -> bpekit_span {
        bpekit_span { start, end }
    }

    #[test]
    fn spans_borrow_text() {
        let data = "héllo world".as_bytes();
        let got = span_strs(data, &[sp(0, 6), sp(7, 12), sp(3, 3)], "spans").unwrap();
        assert_eq!(got, vec!["héllo", "world", ""]);
    }

    #[test]
    fn bad_spans_name_the_index() {
        let data = b"abc\xffdef";
        let e = span_strs(data, &[sp(0, 3), sp(2, 1)], "spans").unwrap_err();
        assert_eq!(e.code, BPEKIT_ERR_INVALID_ARG);
        assert!(e.message.contains("spans[1]"), "{}", e.message);
        let e = span_strs(data, &[sp(0, 8)], "spans").unwrap_err();
        assert_eq!(e.code, BPEKIT_ERR_INVALID_ARG);
        assert!(e.message.contains("spans[0]"), "{}", e.message);
        let e = span_strs(data, &[sp(0, 3), sp(4, 7), sp(2, 5)], "spans").unwrap_err();
        assert_eq!(e.code, BPEKIT_ERR_INVALID_UTF8);
        assert!(e.message.contains("spans[2]") && e.message.contains("offset 3"), "{}", e.message);
        let e = span_strs(data, &[sp(u64::MAX, u64::MAX)], "spans").unwrap_err();
        assert_eq!(e.code, BPEKIT_ERR_INVALID_ARG);
    }

    #[test]
    fn null_pointers_only_when_empty() {
        // SAFETY: NULL pointers with zero lengths are allowed.
        let got = unsafe { try_span_strs(std::ptr::null(), 0, std::ptr::null(), 0, "spans") }.unwrap();
        assert!(got.is_empty());
        let spans = [sp(0, 0)];
        // SAFETY: NULL data with len 0; `spans` is a live array of one.
        let got = unsafe { try_span_strs(std::ptr::null(), 0, spans.as_ptr(), 1, "spans") }.unwrap();
        assert_eq!(got, vec![""]);
        // SAFETY: NULL with a non-zero length is rejected before any read.
        let e = unsafe { try_span_strs(std::ptr::null(), 0, std::ptr::null(), 1, "spans") }.unwrap_err();
        assert_eq!(e.code, BPEKIT_ERR_NULL_ARG);
    }
}
