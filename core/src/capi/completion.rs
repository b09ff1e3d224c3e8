//! `bpekit_tokenizer_encode_with_unstable`: encoding for completion (tiktoken's
//! `encode_with_unstable`) through the C ABI.

use super::boundary::{call, try_out, try_ref, try_slice, utf8, write};
use super::buffers::{bpekit_offsets, bpekit_tokens};
use super::error::{bpekit_error, bpekit_status};
use super::tokenizer::{bpekit_special_policy, bpekit_tokenizer, PolicySets};

/// Encodes `len` bytes of UTF-8 text for completion (tiktoken's `encode_with_unstable`),
/// under `policy` as `bpekit_tokenizer_encode` does (NULL: nothing allowed, every
/// special token disallowed).
///
/// On success `*stable` holds the ids that no continuation of the text can change (a
/// prefix of what `bpekit_tokenizer_encode` gives), and `*completions` with `*offsets`
/// holds every id sequence the rest of the text could start with once more text
/// follows, sorted and distinct: `n + 1` offsets for `n` sequences, sequence `i` being
/// `completions.ids[offsets[i] .. offsets[i + 1]]`. Empty text, or text ending in an
/// allowed special token, gives no sequences (one offset, 0). All three are owned by
/// the caller (release with `bpekit_tokens_free` and `bpekit_offsets_free`); on error
/// none is touched. Errors: as `bpekit_tokenizer_encode`.
/// The search is brute force, as in tiktoken: it costs far more than an encode. The
/// first call on a tokenizer sorts its ranks into a table (4 bytes per rank), kept as
/// long as the tokenizer.
#[no_mangle]
pub unsafe extern "C" fn bpekit_tokenizer_encode_with_unstable(
    tok: *const bpekit_tokenizer,
    text: *const u8,
    len: usize,
    policy: *const bpekit_special_policy,
    stable: *mut bpekit_tokens,
    completions: *mut bpekit_tokens,
    offsets: *mut bpekit_offsets,
    err: *mut *mut bpekit_error,
) -> bpekit_status {
    // SAFETY: pointers are NULL or valid as documented (caller's contract).
    unsafe {
        call(err, || {
            let tok = try_ref(tok, "tok")?;
            let stable = try_out(stable, "stable")?;
            let completions = try_out(completions, "completions")?;
            let offsets = try_out(offsets, "offsets")?;
            let text = utf8(try_slice(text, len, "text")?, "text")?;
            let sets = PolicySets::read(policy)?;
            let (ids, seqs) = tok.inner.encode_with_unstable(text, &sets.policy())?;
            let mut flat = Vec::with_capacity(seqs.iter().map(Vec::len).sum());
            let mut offs = Vec::with_capacity(seqs.len() + 1);
            offs.push(0);
            for seq in &seqs {
                flat.extend_from_slice(seq);
                offs.push(flat.len());
            }
            write(stable, bpekit_tokens::from_vec(ids));
            write(completions, bpekit_tokens::from_vec(flat));
            write(offsets, bpekit_offsets::from_vec(offs));
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use std::ptr;

    use super::super::buffers::{bpekit_offsets_free, bpekit_tokens_free};
    use super::super::error::{
        bpekit_error_code, bpekit_error_free, BPEKIT_ERR_DISALLOWED_SPECIAL, BPEKIT_ERR_INVALID_UTF8,
        BPEKIT_ERR_NULL_ARG, BPEKIT_OK,
    };
    use super::super::tokenizer::{bpekit_tokenizer_free, BPEKIT_SPECIAL_ALLOW_ALL};
    use super::*;
    use crate::{Pattern, SpecialPolicy, Tokenizer};

    fn tokenizer() -> *mut bpekit_tokenizer {
        let mut pairs: Vec<(Vec<u8>, u32)> = (0..=255u8).map(|b| (vec![b], b as u32)).collect();
        pairs.extend([(b" h".to_vec(), 256), (b" hi".to_vec(), 257), (b" hit".to_vec(), 258)]);
        let tok = Tokenizer::from_ranks(pairs, Pattern::default_pattern()).unwrap();
        bpekit_tokenizer::into_raw(tok.with_special_tokens(vec![("<|end|>".into(), 300)]).unwrap())
    }

    const EMPTY_T: bpekit_tokens = bpekit_tokens { ids: ptr::null_mut(), len: 0 };
    const EMPTY_O: bpekit_offsets = bpekit_offsets { data: ptr::null_mut(), len: 0 };

    #[test]
    fn flat_completions_match_the_rust_api() {
        unsafe {
            let tok = tokenizer();
            let text = "say h";
            let (mut s, mut c, mut o) = (EMPTY_T, EMPTY_T, EMPTY_O);
            let mut err = ptr::dangling_mut::<bpekit_error>(); // (not NULL: a success must clear it)
            let status = bpekit_tokenizer_encode_with_unstable(
                tok,
                text.as_ptr(),
                text.len(),
                ptr::null(),
                &mut s,
                &mut c,
                &mut o,
                &mut err,
            );
            assert_eq!(status, BPEKIT_OK);
            assert!(err.is_null());
            let (want_s, want_c) = (*tok).inner.encode_with_unstable(text, &SpecialPolicy::DEFAULT).unwrap();
            assert_eq!(std::slice::from_raw_parts(s.ids, s.len), &want_s[..]);
            let offs = std::slice::from_raw_parts(o.data, o.len);
            let flat = std::slice::from_raw_parts(c.ids, c.len);
            let got: Vec<&[u32]> = offs.windows(2).map(|w| &flat[w[0]..w[1]]).collect();
            assert_eq!(got, want_c.iter().map(Vec::as_slice).collect::<Vec<_>>());
            assert_eq!(got, [&[256u32][..], &[257], &[258]]);
            bpekit_tokens_free(&mut s);
            bpekit_tokens_free(&mut c);
            bpekit_offsets_free(&mut o);

            // A special token at the end: all ids stable, one offset, no completion ids.
            let policy = bpekit_special_policy {
                allowed: ptr::null(),
                n_allowed: 0,
                disallowed: ptr::null(),
                n_disallowed: 0,
                flags: BPEKIT_SPECIAL_ALLOW_ALL,
            };
            let text = "hi<|end|>";
            let status = bpekit_tokenizer_encode_with_unstable(
                tok,
                text.as_ptr(),
                text.len(),
                &policy,
                &mut s,
                &mut c,
                &mut o,
                ptr::null_mut(),
            );
            assert_eq!(status, BPEKIT_OK);
            assert_eq!(std::slice::from_raw_parts(s.ids, s.len), &[104, 105, 300]);
            assert!(c.ids.is_null() && c.len == 0);
            assert_eq!(std::slice::from_raw_parts(o.data, o.len), &[0]);
            bpekit_tokens_free(&mut s);
            bpekit_offsets_free(&mut o);
            bpekit_tokenizer_free(tok);
        }
    }

    /// Calls the export with `text` and the given outputs; returns the status and the
    /// error's code (after freeing it).
    unsafe fn status(
        tok: *const bpekit_tokenizer,
        text: &[u8],
        s: *mut bpekit_tokens,
        c: *mut bpekit_tokens,
        o: *mut bpekit_offsets,
    ) -> (bpekit_status, bpekit_status) {
        unsafe {
            let mut err = ptr::null_mut();
            let status = bpekit_tokenizer_encode_with_unstable(
                tok,
                text.as_ptr(),
                text.len(),
                ptr::null(),
                s,
                c,
                o,
                &mut err,
            );
            let code = bpekit_error_code(err);
            bpekit_error_free(err);
            (status, code)
        }
    }

    #[test]
    fn errors_leave_every_output_untouched() {
        unsafe {
            let tok = tokenizer();
            let sentinel = 0x10 as *mut u32;
            let mut s = bpekit_tokens { ids: sentinel, len: 7 };
            let mut c = bpekit_tokens { ids: sentinel, len: 7 };
            let mut o = bpekit_offsets { data: sentinel.cast(), len: 7 };
            let disallowed = BPEKIT_ERR_DISALLOWED_SPECIAL;
            assert_eq!(status(tok, b"a <|end|>", &mut s, &mut c, &mut o), (disallowed, disallowed));
            let invalid = BPEKIT_ERR_INVALID_UTF8;
            assert_eq!(status(tok, b"a\xff", &mut s, &mut c, &mut o), (invalid, invalid));
            let null = BPEKIT_ERR_NULL_ARG;
            assert_eq!(status(tok, b"", &mut s, &mut c, ptr::null_mut()), (null, null));
            assert_eq!(status(tok, b"", &mut s, ptr::null_mut(), &mut o), (null, null));
            assert_eq!(status(ptr::null(), b"", &mut s, &mut c, &mut o), (null, null));
            assert!(s.ids == sentinel && s.len == 7 && c.ids == sentinel && c.len == 7);
            assert!(o.data == sentinel.cast() && o.len == 7);
            bpekit_tokenizer_free(tok);
        }
    }
}
