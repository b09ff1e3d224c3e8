//! Ordinary encodes shaped for cffi's ABI mode, where each argument and each output
//! buffer of a call costs time: the text is NUL-terminated, no error object is made,
//! and the ids (or a negated status) come back in the result.

use std::ffi::c_char;

use super::super::boundary::{call, try_out, try_ref, utf8};
use super::super::error::{CError, BPEKIT_ERR_BUFFER_TOO_SMALL, BPEKIT_OK};
use super::super::tokenizer::bpekit_tokenizer;
use super::with_scratch_ids;
use crate::Allowed;

/// The width of each id field of `bpekit_host_encode_ordinary_packed`'s result.
pub const BPEKIT_HOST_PACKED_ID_BITS: u32 = 20;

/// The largest id `bpekit_host_encode_ordinary_packed` can return,
/// `2^BPEKIT_HOST_PACKED_ID_BITS - 2` (the first field holds its id plus one).
pub const BPEKIT_HOST_PACKED_MAX_ID: u32 = 1_048_574; // 2^20 - 2

/// `bpekit_tokenizer_encode_ordinary` of the NUL-terminated `text`, into `out`, with no
/// error object: `out` must have room for as many ids as `text` has bytes (before the
/// NUL), which suffices unless the tokenizer normalizes (NFC can lengthen a text).
///
/// Returns the number of ids, or a negated status: `-BPEKIT_ERR_BUFFER_TOO_SMALL` when
/// the text gives more ids than it has bytes (nothing is written: encode with another
/// call), `-BPEKIT_ERR_NULL_ARG`, `-BPEKIT_ERR_INVALID_UTF8`, ... (for the message,
/// call `bpekit_tokenizer_encode_ordinary`). On error `out` is untouched. Text with a
/// NUL byte in it needs another call.
#[no_mangle]
pub unsafe extern "C" fn bpekit_host_encode_ordinary_cstr(
    tok: *const bpekit_tokenizer,
    text: *const c_char,
    out: *mut u32,
) -> i64 {
    // SAFETY: `text` is NULL or NUL-terminated (caller's contract).
    let room = unsafe { c_text(text) }.map_or(0, <[u8]>::len);
    // SAFETY: as above.
    let text = || unsafe { c_text(text) };
    // SAFETY: `tok` is NULL or a live tokenizer (caller's contract).
    unsafe {
        ordinary_with(tok, text, |ids| {
            if ids.len() > room {
                return Err(CError::new(
                    BPEKIT_ERR_BUFFER_TOO_SMALL,
                    format!("{} ids do not fit in a buffer of {room}", ids.len()),
                ));
            }
            if !ids.is_empty() {
                let out = try_out(out, "out")?;
                // SAFETY: `out` has room for an id per byte of the text (caller's
                // contract), and `ids` has at most that many (checked above).
                std::ptr::copy_nonoverlapping(ids.as_ptr(), out, ids.len());
            }
            Ok(ids.len() as i64)
        })
    }
}

/// The bytes of a NUL-terminated `text` argument (without the NUL).
///
/// # Safety
/// `text` is NULL or points to a NUL-terminated string that outlives `'a`.
unsafe fn c_text<'a>(text: *const c_char) -> Result<&'a [u8], CError> {
    if text.is_null() {
        return Err(CError::null("text"));
    }
    // SAFETY: `text` is a NUL-terminated string (caller's contract).
    Ok(unsafe { std::ffi::CStr::from_ptr(text) }.to_bytes())
}

/// `bpekit_tokenizer_encode_ordinary` of the NUL-terminated `text`, with its ids
/// returned in the result itself.
///
/// If the text gives at most 3 ids, each at most `BPEKIT_HOST_PACKED_MAX_ID`, the result
/// holds them in fields of `BPEKIT_HOST_PACKED_ID_BITS` (20) bits, first id most
/// significant and plus one: 0 for an empty text, `id0 + 1` for one id (below `2^20`),
/// `(id0 + 1) << 20 | id1` for two (below `2^40`), `(id0 + 1) << 40 | id1 << 20 | id2`
/// for three (below `2^60`). (So the count shows in the magnitude, and a host unpacks
/// two ids with three integer operations.) Otherwise it is a negated status:
/// `-BPEKIT_ERR_BUFFER_TOO_SMALL` if the ids do not fit (encode with another call),
/// `-BPEKIT_ERR_NULL_ARG`, `-BPEKIT_ERR_INVALID_UTF8`, ...
#[no_mangle]
pub unsafe extern "C" fn bpekit_host_encode_ordinary_packed(
    tok: *const bpekit_tokenizer,
    text: *const c_char,
) -> i64 {
    // SAFETY: `text` is NULL or NUL-terminated (caller's contract).
    let text = || unsafe { c_text(text) };
    // SAFETY: `tok` is NULL or a live tokenizer (caller's contract).
    unsafe {
        ordinary_with(tok, text, |ids| {
            pack_ids(ids).ok_or_else(|| {
                CError::new(BPEKIT_ERR_BUFFER_TOO_SMALL, "more than 3 ids, or an id too large to pack")
            })
        })
    }
}

/// `bpekit_host_encode_ordinary_packed`'s result for `ids`, if they fit.
fn pack_ids(ids: &[u32]) -> Option<i64> {
    if ids.len() > 3 || ids.iter().any(|&id| id > BPEKIT_HOST_PACKED_MAX_ID) {
        return None;
    }
    let Some((&first, rest)) = ids.split_first() else { return Some(0) };
    Some(rest.iter().fold(i64::from(first + 1), |acc, &id| acc << BPEKIT_HOST_PACKED_ID_BITS | i64::from(id)))
}

/// Ordinary-encodes the text `text()` gives into a per-thread buffer and returns what
/// `finish` makes of the ids, or the negated status of the first error.
///
/// # Safety
/// `tok` is NULL or a live tokenizer.
unsafe fn ordinary_with<'a>(
    tok: *const bpekit_tokenizer,
    text: impl FnOnce() -> Result<&'a [u8], CError>,
    finish: impl FnOnce(&[u32]) -> Result<i64, CError>,
) -> i64 {
    let mut written = 0i64;
    // SAFETY: delegated to the caller; no error object is asked for.
    let status = unsafe {
        call(std::ptr::null_mut(), || {
            let tok = try_ref(tok, "tok")?;
            let text = utf8(text()?, "text")?;
            with_scratch_ids(|ids| {
                ids.reserve(text.len() / 3 + 1);
                tok.inner.encode_into(text, Allowed::None, ids).map_err(CError::from).and_then(|()| {
                    written = finish(ids)?;
                    Ok(())
                })
            })
        })
    };
    if status == BPEKIT_OK {
        written
    } else {
        -i64::from(status)
    }
}

#[cfg(test)]
mod tests {
    use super::{pack_ids, BPEKIT_HOST_PACKED_ID_BITS, BPEKIT_HOST_PACKED_MAX_ID};

    /// Unpacks as the header says: 20-bit fields, the first (most significant) id plus one.
    fn unpack(r: i64) -> Vec<u32> {
        let n = (0..3).take_while(|k| r >> (20 * k) != 0).count();
        let mut ids: Vec<u32> =
            (0..n).rev().map(|k| u32::try_from(r >> (20 * k) & 0xF_FFFF).unwrap()).collect();
        if let Some(first) = ids.first_mut() {
            *first = u32::try_from(r >> (20 * (n - 1))).unwrap() - 1;
        }
        ids
    }

    #[test]
    fn packed_ids_round_trip_up_to_three_and_the_largest_id() {
        let max = BPEKIT_HOST_PACKED_MAX_ID;
        assert_eq!(max, (1 << 20) - 2);
        assert_eq!(max, (1 << BPEKIT_HOST_PACKED_ID_BITS) - 2);
        for ids in [&[][..], &[0], &[7], &[0, 0], &[5, 0, 9], &[max], &[max, max, max], &[0, max, 1]] {
            let r = pack_ids(ids).unwrap();
            assert!(r >= 0, "{ids:?}");
            assert_eq!(unpack(r), ids);
        }
        assert_eq!(pack_ids(&[]), Some(0));
        assert_eq!(pack_ids(&[41]), Some(42));
        assert_eq!(pack_ids(&[0, 5]), Some(1 << 20 | 5));
        assert_eq!(pack_ids(&[max, 0xF_FFFF - 1, 3]), Some(((1 << 20) - 1) << 40 | 0xF_FFFE << 20 | 3));
    }

    /// A normalizing tokenizer can give more ids than the text has bytes (NFC lengthens
    /// U+1D160 from 4 bytes to 12): the C-string call refuses rather than overrun `out`.
    #[test]
    fn cstr_refuses_more_ids_than_bytes_and_writes_nothing() {
        use super::super::super::error::BPEKIT_ERR_BUFFER_TOO_SMALL;
        use super::super::super::tokenizer::bpekit_tokenizer;
        use super::bpekit_host_encode_ordinary_cstr;
        let ranks: Vec<(Vec<u8>, u32)> = (0..=255u8).map(|b| (vec![b], u32::from(b))).collect();
        let tok = crate::Tokenizer::from_ranks(ranks, crate::Pattern::default_pattern()).unwrap();
        let nfc = bpekit_tokenizer::into_raw(tok.with_normalization(crate::Normalization::Nfc));
        let text = c"\u{1D160}\u{1D160}";
        let mut out = vec![u32::MAX; 8]; // room for one id per byte, as the contract asks
                                         // SAFETY: a live tokenizer, a NUL-terminated text, room for 8 ids.
        let r = unsafe { bpekit_host_encode_ordinary_cstr(nfc, text.as_ptr(), out.as_mut_ptr()) };
        assert_eq!(r, -i64::from(BPEKIT_ERR_BUFFER_TOO_SMALL));
        assert!(out.iter().all(|&id| id == u32::MAX), "nothing written");
        let plain = c"ab";
        // SAFETY: as above.
        let r = unsafe { bpekit_host_encode_ordinary_cstr(nfc, plain.as_ptr(), out.as_mut_ptr()) };
        assert_eq!((r, &out[..2]), (2, &[97, 98][..]));
        // SAFETY: made by into_raw above, freed once.
        unsafe { super::super::super::tokenizer::bpekit_tokenizer_free(nfc) };
    }

    #[test]
    fn packed_ids_refuse_four_ids_or_a_larger_id() {
        assert_eq!(pack_ids(&[1, 2, 3, 4]), None);
        assert_eq!(pack_ids(&[BPEKIT_HOST_PACKED_MAX_ID + 1]), None);
        assert_eq!(pack_ids(&[0, 0, u32::MAX]), None);
    }
}
