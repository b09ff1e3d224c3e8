//! The panic boundary and the pointer helpers every export uses.
//!
//! Design note: the house style names a `bpekit_ffi_boundary!` macro; a generic
//! function taking a closure does the same job with type checking and no macro
//! hygiene to reason about, and cbindgen never has to see it.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::error::{
    bpekit_error, bpekit_status, CError, BPEKIT_ERR_INVALID_ARG, BPEKIT_ERR_INVALID_UTF8, BPEKIT_ERR_PANIC,
    BPEKIT_OK,
};

pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic payload".into());
    format!("internal error (panic) in bpekit: {what}; please report this bug")
}

/// Runs `f` behind the panic boundary, maps its result to a status, and fills `*err`.
/// First makes sure the fork handlers are installed (`super::fork`): every export that
/// can start a pool or a one-time set-up comes through here.
///
/// # Safety
/// `err` is NULL or valid for one pointer write.
pub(crate) unsafe fn call(
    err: *mut *mut bpekit_error,
    f: impl FnOnce() -> Result<(), CError>,
) -> bpekit_status {
    super::fork::watch_forks();
    let result = catch_unwind(AssertUnwindSafe(f))
        .unwrap_or_else(|payload| Err(CError::new(BPEKIT_ERR_PANIC, panic_message(&*payload))));
    let (status, boxed) = match result {
        Ok(()) => (BPEKIT_OK, std::ptr::null_mut()),
        Err(e) => (e.code, Box::into_raw(e.into_box())),
    };
    if !err.is_null() {
        // SAFETY: `err` is non-NULL and, by the caller's contract, writable.
        unsafe { *err = boxed };
    } else if !boxed.is_null() {
        // SAFETY: `boxed` came from `Box::into_raw` just above and was not shared.
        drop(unsafe { Box::from_raw(boxed) });
    }
    status
}

/// Runs an infallible `f` behind the panic boundary; a panic gives `fallback`.
pub(crate) fn call_or<T>(fallback: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(fallback)
}

/// Borrows `*p`, or fails with `BPEKIT_ERR_NULL_ARG` naming `arg`.
///
/// # Safety
/// `p` is NULL or points to a live `T` that outlives `'a` and is not mutated meanwhile.
pub(crate) unsafe fn try_ref<'a, T>(p: *const T, arg: &str) -> Result<&'a T, CError> {
    // SAFETY: delegated to the caller.
    unsafe { p.as_ref() }.ok_or_else(|| CError::null(arg))
}

/// Checks an out-pointer is not NULL (the write happens later, on success).
pub(crate) fn try_out<T>(p: *mut T, arg: &str) -> Result<*mut T, CError> {
    if p.is_null() {
        Err(CError::null(arg))
    } else {
        Ok(p)
    }
}

/// Borrows `(p, len)` as a slice. NULL with `len == 0` is the empty slice.
///
/// # Safety
/// Unless NULL, `p` points to `len` initialised `T`s that outlive `'a`.
pub(crate) unsafe fn try_slice<'a, T>(p: *const T, len: usize, arg: &str) -> Result<&'a [T], CError> {
    if p.is_null() {
        return if len == 0 { Ok(&[]) } else { Err(CError::null(arg)) };
    }
    // SAFETY: non-NULL, and the caller guarantees `len` readable elements.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// The most bytes of capacity a thread keeps in one scratch buffer between calls (a
/// buffer grown past it for a larger call is dropped after that call): calls on texts
/// up to a few MB then allocate nothing, and a thread holds at most this much per buffer.
pub(crate) const SCRATCH_KEEP_BYTES: usize = 4 << 20;

/// Runs `f` with this thread's buffer in `key`, emptied; the buffer is taken out of its
/// cell for the call (a nested call finds an empty one) and put back unless it outgrew
/// [`SCRATCH_KEEP_BYTES`] or the thread is exiting.
pub(crate) fn with_scratch<T: 'static, R>(
    key: &'static std::thread::LocalKey<std::cell::Cell<Vec<T>>>,
    f: impl FnOnce(&mut Vec<T>) -> R,
) -> R {
    let mut buf = key.try_with(|c| c.take()).unwrap_or_default();
    buf.clear();
    let result = f(&mut buf);
    if buf.capacity().saturating_mul(std::mem::size_of::<T>()) <= SCRATCH_KEEP_BYTES {
        buf.clear();
        let _ = key.try_with(|c| c.set(buf));
    }
    result
}

/// Validates `bytes` as UTF-8 text, naming `arg` in the error.
pub(crate) fn utf8<'a>(bytes: &'a [u8], arg: &str) -> Result<&'a str, CError> {
    crate::simd::str_from_utf8(bytes)
        .map_err(|e| CError::new(BPEKIT_ERR_INVALID_UTF8, format!("`{arg}` is not valid UTF-8: {e}")))
}

/// A path from `(p, len)`: any bytes on Unix, UTF-8 elsewhere; empty is INVALID_ARG.
///
/// # Safety
/// As [`try_slice`].
pub(crate) unsafe fn path_arg(p: *const u8, len: usize, arg: &str) -> Result<std::path::PathBuf, CError> {
    // SAFETY: delegated to the caller.
    let bytes = unsafe { try_slice(p, len, arg) }?;
    if bytes.is_empty() {
        return Err(CError::new(BPEKIT_ERR_INVALID_ARG, format!("argument `{arg}` is empty")));
    }
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        Ok(std::ffi::OsStr::from_bytes(bytes).into())
    }
    #[cfg(not(unix))]
    {
        Ok(utf8(bytes, arg)?.into())
    }
}

/// Writes `value` to `out`.
///
/// # Safety
/// `out` is non-NULL and valid for one write of `T` (checked by [`try_out`] and the
/// caller's contract).
pub(crate) unsafe fn write<T>(out: *mut T, value: T) {
    // SAFETY: delegated to the caller; `write` does not drop the old (maybe uninit) value.
    unsafe { out.write(value) }
}

/// Borrows an array of `n` `bpekit_slice`s as UTF-8 strings; errors name `arg[i]`.
///
/// # Safety
/// Unless NULL (allowed when `n == 0`), `p` points to `n` slices, each valid as
/// [`try_slice`] requires, all outliving `'a`.
pub(crate) unsafe fn try_strs<'a>(
    p: *const super::buffers::bpekit_slice,
    n: usize,
    arg: &str,
) -> Result<Vec<&'a str>, CError> {
    // SAFETY: delegated to the caller.
    let slices = unsafe { try_slice(p, n, arg) }?;
    let mut out = Vec::with_capacity(n);
    for (i, s) in slices.iter().enumerate() {
        let what = format!("{arg}[{i}]");
        // SAFETY: each slice is valid by the caller's contract.
        out.push(utf8(unsafe { try_slice(s.data, s.len, &what) }?, &what)?);
    }
    Ok(out)
}
