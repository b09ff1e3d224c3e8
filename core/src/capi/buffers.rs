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

/// Moves a vector into a `(ptr, len)` pair the caller owns; empty gives `(NULL, 0)`.
fn into_raw<T>(v: Vec<T>) -> (*mut T, usize) {
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
unsafe fn drop_raw<T>(p: *mut T, len: usize) {
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
