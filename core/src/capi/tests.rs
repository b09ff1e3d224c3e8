//! FFI tests written in Rust: they call the exports as a C caller would.

use std::ffi::CStr;
use std::ptr;

use super::boundary::call;
use super::buffers::*;
use super::error::*;
use super::tokenizer::*;
use super::trainer::*;
use super::version::*;

/// Takes ownership of `*err` and returns its code and message.
unsafe fn take(err: *mut bpekit_error) -> (bpekit_status, String) {
    let code = unsafe { bpekit_error_code(err) };
    let msg = unsafe { CStr::from_ptr(bpekit_error_message(err)) }.to_str().unwrap().to_owned();
    unsafe { bpekit_error_free(err) };
    (code, msg)
}

unsafe fn trained(text: &str, vocab: u32) -> *mut bpekit_tokenizer {
    unsafe {
        let mut t = ptr::null_mut();
        assert_eq!(bpekit_trainer_new(ptr::null(), 0, &mut t, ptr::null_mut()), BPEKIT_OK);
        assert_eq!(bpekit_trainer_feed(t, text.as_ptr(), text.len(), ptr::null_mut()), BPEKIT_OK);
        let mut tok = ptr::null_mut();
        assert_eq!(bpekit_trainer_finish(t, vocab, &mut tok, ptr::null_mut()), BPEKIT_OK);
        bpekit_trainer_free(t);
        tok
    }
}

#[test]
fn train_encode_decode_export_import() {
    unsafe {
        let tok = trained("hello hello hello world, hello there", 270);
        assert!(bpekit_tokenizer_vocab_size(tok) > 256);
        let text = "hello world";
        let mut ids = bpekit_tokens { ids: ptr::null_mut(), len: 0 };
        let mut err = ptr::null_mut();
        assert_eq!(
            bpekit_tokenizer_encode_ordinary(tok, text.as_ptr(), text.len(), &mut ids, &mut err),
            BPEKIT_OK
        );
        assert!(err.is_null());
        assert!(ids.len < text.len());
        let mut bytes = bpekit_bytes { data: ptr::null_mut(), len: 0 };
        assert_eq!(bpekit_tokenizer_decode(tok, ids.ids, ids.len, &mut bytes, &mut err), BPEKIT_OK);
        assert_eq!(std::slice::from_raw_parts(bytes.data, bytes.len), text.as_bytes());

        let mut ranks = bpekit_bytes { data: ptr::null_mut(), len: 0 };
        assert_eq!(bpekit_tokenizer_export_tiktoken(tok, &mut ranks, ptr::null_mut()), BPEKIT_OK);
        let mut tok2 = ptr::null_mut();
        assert_eq!(
            bpekit_tokenizer_from_tiktoken(ranks.data, ranks.len, ptr::null(), 0, &mut tok2, ptr::null_mut()),
            BPEKIT_OK
        );
        let mut ids2 = bpekit_tokens { ids: ptr::null_mut(), len: 0 };
        assert_eq!(
            bpekit_tokenizer_encode_ordinary(tok2, text.as_ptr(), text.len(), &mut ids2, ptr::null_mut()),
            BPEKIT_OK
        );
        assert_eq!(
            std::slice::from_raw_parts(ids.ids, ids.len),
            std::slice::from_raw_parts(ids2.ids, ids2.len)
        );

        let (mut data, mut len) = (ptr::null(), 0usize);
        assert_eq!(bpekit_tokenizer_token_bytes(tok, 104, &mut data, &mut len, ptr::null_mut()), BPEKIT_OK);
        assert_eq!(std::slice::from_raw_parts(data, len), b"h");
        assert_eq!(bpekit_tokenizer_pattern(tok, &mut data, &mut len, ptr::null_mut()), BPEKIT_OK);
        assert_eq!(std::slice::from_raw_parts(data, len), crate::pattern::CL100K_PATTERN.as_bytes());

        for b in [&mut bytes, &mut ranks] {
            bpekit_bytes_free(b);
            assert!(b.data.is_null() && b.len == 0);
            bpekit_bytes_free(b); // second free of a zeroed buffer is a no-op
        }
        bpekit_tokens_free(&mut ids);
        bpekit_tokens_free(&mut ids);
        bpekit_tokens_free(&mut ids2);
        bpekit_tokenizer_free(tok);
        bpekit_tokenizer_free(tok2);
    }
}

#[test]
fn null_arguments_are_errors_and_frees_accept_null() {
    unsafe {
        let mut err = ptr::null_mut();
        let mut out = bpekit_tokens { ids: ptr::null_mut(), len: 0 };
        assert_eq!(
            bpekit_tokenizer_encode_ordinary(ptr::null(), ptr::null(), 0, &mut out, &mut err),
            BPEKIT_ERR_NULL_ARG
        );
        let (code, msg) = take(err);
        assert_eq!(code, BPEKIT_ERR_NULL_ARG);
        assert!(msg.contains("`tok`"), "{msg}");
        assert_eq!(bpekit_trainer_new(ptr::null(), 0, ptr::null_mut(), ptr::null_mut()), BPEKIT_ERR_NULL_ARG);
        let tok = trained("abc", 257);
        assert_eq!(
            bpekit_tokenizer_encode_ordinary(tok, ptr::null(), 5, &mut out, ptr::null_mut()),
            BPEKIT_ERR_NULL_ARG
        );
        // NULL with length 0 is the empty text.
        assert_eq!(
            bpekit_tokenizer_encode_ordinary(tok, ptr::null(), 0, &mut out, ptr::null_mut()),
            BPEKIT_OK
        );
        assert_eq!(out.len, 0);
        assert!(out.ids.is_null());
        assert_eq!(bpekit_tokenizer_vocab_size(ptr::null()), 0);
        assert_eq!(bpekit_trainer_texts(ptr::null()), 0);
        bpekit_tokenizer_free(tok);
        bpekit_tokenizer_free(ptr::null_mut());
        bpekit_trainer_free(ptr::null_mut());
        bpekit_error_free(ptr::null_mut());
        bpekit_tokens_free(ptr::null_mut());
        bpekit_bytes_free(ptr::null_mut());
        assert_eq!(bpekit_error_code(ptr::null()), BPEKIT_OK);
        assert_eq!(CStr::from_ptr(bpekit_error_message(ptr::null())).to_bytes(), b"");
    }
}

#[test]
fn bad_inputs_give_typed_errors_and_leave_outputs_untouched() {
    unsafe {
        let mut err = ptr::null_mut();
        // Bad pattern: message from the regex engine.
        let mut t = ptr::null_mut();
        let pat = "(unclosed";
        assert_eq!(bpekit_trainer_new(pat.as_ptr(), pat.len(), &mut t, &mut err), BPEKIT_ERR_BAD_PATTERN);
        assert!(t.is_null());
        let (_, msg) = take(err);
        assert!(msg.contains("invalid split pattern"), "{msg}");
        // Invalid UTF-8 text.
        assert_eq!(bpekit_trainer_new(ptr::null(), 0, &mut t, ptr::null_mut()), BPEKIT_OK);
        let bad = [b'a', 0xff, b'b'];
        assert_eq!(bpekit_trainer_feed(t, bad.as_ptr(), bad.len(), &mut err), BPEKIT_ERR_INVALID_UTF8);
        bpekit_error_free(err);
        assert_eq!(bpekit_trainer_texts(t), 0);
        // Batch with one bad text counts nothing and names the index.
        let good = "fine";
        let batch =
            [bpekit_slice { data: good.as_ptr(), len: 4 }, bpekit_slice { data: bad.as_ptr(), len: 3 }];
        assert_eq!(bpekit_trainer_feed_batch(t, batch.as_ptr(), 2, &mut err), BPEKIT_ERR_INVALID_UTF8);
        let (_, msg) = take(err);
        assert!(msg.contains("texts[1]"), "{msg}");
        assert_eq!(bpekit_trainer_texts(t), 0);
        assert_eq!(bpekit_trainer_feed_batch(t, batch.as_ptr(), 1, ptr::null_mut()), BPEKIT_OK);
        assert_eq!((bpekit_trainer_texts(t), bpekit_trainer_bytes(t)), (1, 4));
        // Vocab too small.
        let sentinel = 0x1234usize as *mut bpekit_tokenizer;
        let mut tok = sentinel;
        assert_eq!(bpekit_trainer_finish(t, 255, &mut tok, &mut err), BPEKIT_ERR_INVALID_ARG);
        assert_eq!(tok, sentinel, "out-param written on failure");
        let (_, msg) = take(err);
        assert!(msg.contains("256"), "{msg}");
        // Unknown id.
        assert_eq!(bpekit_trainer_finish(t, 256, &mut tok, ptr::null_mut()), BPEKIT_OK);
        let ids = [1u32, 70000];
        let mut out = bpekit_bytes { data: ptr::null_mut(), len: 7 };
        assert_eq!(
            bpekit_tokenizer_decode(tok, ids.as_ptr(), 2, &mut out, &mut err),
            BPEKIT_ERR_UNKNOWN_TOKEN
        );
        assert_eq!(out.len, 7);
        let (_, msg) = take(err);
        assert!(msg.contains("70000"), "{msg}");
        // Malformed ranks.
        let ranks = b"not base64! 0\n";
        let mut tok2 = ptr::null_mut();
        assert_eq!(
            bpekit_tokenizer_from_tiktoken(ranks.as_ptr(), ranks.len(), ptr::null(), 0, &mut tok2, &mut err),
            BPEKIT_ERR_BAD_RANKS
        );
        let (_, msg) = take(err);
        assert!(msg.contains("line 1"), "{msg}");
        bpekit_tokenizer_free(tok);
        bpekit_trainer_free(t);
    }
}

#[test]
fn panics_become_an_error_not_an_abort() {
    let mut err = ptr::null_mut();
    let status = unsafe { call(&mut err, || panic!("boom")) };
    assert_eq!(status, BPEKIT_ERR_PANIC);
    let (code, msg) = unsafe { take(err) };
    assert_eq!(code, BPEKIT_ERR_PANIC);
    assert!(msg.contains("boom"), "{msg}");
    // With err == NULL the error object is freed inside (no leak under Miri/valgrind).
    assert_eq!(unsafe { call(ptr::null_mut(), || panic!("quiet")) }, BPEKIT_ERR_PANIC);
}

#[test]
fn versions() {
    let v = unsafe { CStr::from_ptr(bpekit_version()) }.to_str().unwrap();
    assert_eq!(v, env!("CARGO_PKG_VERSION"));
    assert_eq!(bpekit_abi_version(), BPEKIT_ABI_VERSION);
}

#[test]
fn every_status_code_in_the_header_has_its_name() {
    let header = include_str!("../../../include/bpekit.h");
    let mut codes = 0;
    for line in header.lines() {
        let mut words = line.split_whitespace();
        if let (Some("#define"), Some(name), Some(value)) = (words.next(), words.next(), words.next()) {
            if name == "BPEKIT_OK" || name.starts_with("BPEKIT_ERR_") {
                let code: bpekit_status = value.parse().unwrap();
                let got = unsafe { CStr::from_ptr(bpekit_status_name(code)) };
                assert_eq!(got.to_str().unwrap(), name);
                codes += 1;
            }
        }
    }
    assert!(codes >= 12, "found {codes} codes in the header");
    let unknown = unsafe { CStr::from_ptr(bpekit_status_name(-7)) };
    assert_eq!(unknown.to_str().unwrap(), "BPEKIT_ERR_UNKNOWN");
}
