/*
 * test_encode.c: encoding: bpekit_tokenizer_encode_ordinary on a trained tokenizer (round
 * trips through decode), the caller-allocated bpekit_tokenizer_encode_into, and the byte
 * and single-piece encodes.
 */
#include "harness.h"

static void test_encode(void)
{
    bpekit_tokenizer *tok = trained_tokenizer(300);
    bpekit_error *err = SENTINEL;
    bpekit_tokens out = sentinel_tokens;
    bpekit_bytes back = {0};
    static const uint8_t with_nul[] = {'t', 'h', 'e', '\0', 't', 'h', 'e'};
    static const struct {
        uint8_t b[4];
        size_t n;
    } invalid[] = {
        {{0x80}, 1},                  /* lone continuation byte */
        {{0xc3}, 1},                  /* truncated two-byte sequence */
        {{0xc0, 0xaf}, 2},            /* overlong encoding of '/' */
        {{0xed, 0xa0, 0x80}, 3},      /* UTF-16 surrogate */
        {{0xf4, 0x90, 0x80, 0x80}, 4} /* above U+10FFFF */
    };
    if (tok == NULL)
        return;

    /* NULL with length 0 is empty text: the empty result is (NULL, 0). */
    EXPECT_OK(bpekit_tokenizer_encode_ordinary(tok, NULL, 0, &out, &err), &err);
    CHECK(out.ids == NULL && out.len == 0);
    out = sentinel_tokens;
    EXPECT_OK(bpekit_tokenizer_encode_ordinary(tok, U8(""), 0, &out, &err), &err);
    CHECK(out.ids == NULL && out.len == 0);

    /* Errors leave *out untouched. */
    out = sentinel_tokens;
    EXPECT_ERR(bpekit_tokenizer_encode_ordinary(NULL, U8("x"), 1, &out, &err), &err,
               BPEKIT_ERR_NULL_ARG, "tok");
    CHECK(tokens_untouched(&out));
    EXPECT_ERR(bpekit_tokenizer_encode_ordinary(tok, U8("x"), 1, NULL, &err), &err,
               BPEKIT_ERR_NULL_ARG, "out");
    EXPECT_ERR(bpekit_tokenizer_encode_ordinary(tok, NULL, 1, &out, &err), &err,
               BPEKIT_ERR_NULL_ARG, "text");
    CHECK(tokens_untouched(&out));
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        EXPECT_ERR(bpekit_tokenizer_encode_ordinary(tok, invalid[i].b, invalid[i].n, &out, &err),
                   &err, BPEKIT_ERR_INVALID_UTF8, "text");
        CHECK(tokens_untouched(&out));
    }
    CHECK(bpekit_tokenizer_encode_ordinary(tok, invalid[0].b, invalid[0].n, &out, NULL) ==
          BPEKIT_ERR_INVALID_UTF8);
    CHECK(tokens_untouched(&out));

    /* Each corpus text round-trips, and encoding is deterministic. */
    for (size_t i = 0; i < N_CORPUS; i++) {
        size_t n = strlen(corpus[i]);
        bpekit_tokens again = {0};
        out = (bpekit_tokens){0};
        CHECK(bpekit_tokenizer_encode_ordinary(tok, U8(corpus[i]), n, &out, NULL) == BPEKIT_OK);
        CHECK(out.len > 0 && out.len < n); /* merges were learned and used */
        EXPECT_OK(bpekit_tokenizer_encode_ordinary(tok, U8(corpus[i]), n, &again, &err), &err);
        CHECK(again.len == out.len && memcmp(again.ids, out.ids, out.len * sizeof *out.ids) == 0);
        EXPECT_OK(bpekit_tokenizer_decode(tok, out.ids, out.len, &back, &err), &err);
        CHECK(back.len == n && memcmp(back.data, corpus[i], n) == 0);
        bpekit_tokens_free(&again);
        bpekit_tokens_free(&out);
        bpekit_bytes_free(&back);
    }

    /* Embedded NUL is text like any other. */
    EXPECT_OK(bpekit_tokenizer_encode_ordinary(tok, with_nul, sizeof with_nul, &out, &err), &err);
    EXPECT_OK(bpekit_tokenizer_decode(tok, out.ids, out.len, &back, &err), &err);
    CHECK(back.len == sizeof with_nul && memcmp(back.data, with_nul, sizeof with_nul) == 0);
    bpekit_tokens_free(&out);
    bpekit_bytes_free(&back);

    /* Special-token text is ordinary text here. */
    static const char special[] = "<|endoftext|>";
    EXPECT_OK(bpekit_tokenizer_encode_ordinary(tok, U8(special), sizeof special - 1, &out, &err),
              &err);
    EXPECT_OK(bpekit_tokenizer_decode(tok, out.ids, out.len, &back, &err), &err);
    CHECK(back.len == sizeof special - 1 && memcmp(back.data, special, back.len) == 0);
    bpekit_tokens_free(&out);
    bpekit_bytes_free(&back);

    /* A long piece (past any short-piece fast path) round-trips. */
    static char longtext[5000];
    for (size_t i = 0; i < sizeof longtext; i++)
        longtext[i] = "the"[i % 3];
    EXPECT_OK(bpekit_tokenizer_encode_ordinary(tok, U8(longtext), sizeof longtext, &out, &err),
              &err);
    EXPECT_OK(bpekit_tokenizer_decode(tok, out.ids, out.len, &back, &err), &err);
    CHECK(back.len == sizeof longtext && memcmp(back.data, longtext, sizeof longtext) == 0);
    bpekit_tokens_free(&out);
    bpekit_bytes_free(&back);

    bpekit_tokenizer_free(tok);
}

/* Caller-allocated encode: same ids as bpekit_tokenizer_encode; too small a buffer gives
 * BPEKIT_ERR_BUFFER_TOO_SMALL with the needed size in *out_len and nothing written. */
static void test_encode_into(void)
{
    bpekit_error *err = SENTINEL;
    bpekit_tokenizer *tok = special_tokenizer();
    const char *text = "the cat sat on the mat <|endoftext|>";
    bpekit_special_policy all = {NULL, 0, NULL, 0, BPEKIT_SPECIAL_ALLOW_ALL};
    bpekit_tokens ref = sentinel_tokens;
    uint32_t buf[64];
    size_t n = SENTINEL_LEN;

    EXPECT_OK(bpekit_tokenizer_encode(tok, U8(text), strlen(text), &all, &ref, &err), &err);
    EXPECT_OK(bpekit_tokenizer_encode_into(tok, U8(text), strlen(text), &all, buf, 64, &n, &err), &err);
    CHECK(same_ids(buf, n, ref.ids, ref.len));
    /* Asking for the size with cap 0 and a NULL buffer. */
    n = SENTINEL_LEN;
    EXPECT_ERR(bpekit_tokenizer_encode_into(tok, U8(text), strlen(text), &all, NULL, 0, &n, &err), &err,
               BPEKIT_ERR_BUFFER_TOO_SMALL, "do not fit");
    CHECK(n == ref.len);
    /* One short: nothing written past what the caller has, size reported. */
    for (size_t i = 0; i < 64; i++)
        buf[i] = 0xABCDu;
    n = SENTINEL_LEN;
    CHECK(bpekit_tokenizer_encode_into(tok, U8(text), strlen(text), &all, buf, ref.len - 1, &n, NULL) ==
          BPEKIT_ERR_BUFFER_TOO_SMALL);
    CHECK(n == ref.len);
    CHECK(buf[0] == 0xABCDu);
    /* Errors other than size leave *out_len alone. */
    n = SENTINEL_LEN;
    EXPECT_ERR(bpekit_tokenizer_encode_into(tok, U8(text), strlen(text), NULL, buf, 64, &n, &err), &err,
               BPEKIT_ERR_DISALLOWED_SPECIAL, "<|endoftext|>");
    CHECK(n == SENTINEL_LEN);
    EXPECT_ERR(bpekit_tokenizer_encode_into(tok, U8("x"), 1, NULL, buf, 64, NULL, &err), &err,
               BPEKIT_ERR_NULL_ARG, "out_len");
    EXPECT_ERR(bpekit_tokenizer_encode_into(tok, U8("x"), 1, NULL, NULL, 4, &n, &err), &err,
               BPEKIT_ERR_NULL_ARG, "out");
    /* Empty text: zero ids, buffer may be NULL. */
    EXPECT_OK(bpekit_tokenizer_encode_into(tok, NULL, 0, NULL, NULL, 0, &n, &err), &err);
    CHECK(n == 0);
    bpekit_tokens_free(&ref);
    bpekit_tokenizer_free(tok);
}

/* The caller-allocated encode with a policy that allows and disallows nothing (special
 * text is ordinary text): the same ids as bpekit_tokenizer_encode_ordinary; errors are
 * statuses with no error object asked for, and leave the buffer alone. */
static void test_encode_into_ordinary(void)
{
    bpekit_error *err = SENTINEL;
    bpekit_tokenizer *tok = special_tokenizer();
    const char *text = "the cat sat on the mat <|endoftext|>";
    const bpekit_special_policy ordinary = {NULL, 0, NULL, 0, 0};
    bpekit_tokens ref = sentinel_tokens;
    uint32_t buf[64];
    size_t n = SENTINEL_LEN;

    EXPECT_OK(bpekit_tokenizer_encode_ordinary(tok, U8(text), strlen(text), &ref, &err), &err);
    CHECK(bpekit_tokenizer_encode_into(tok, U8(text), strlen(text), &ordinary, buf, 64, &n, NULL) ==
              BPEKIT_OK &&
          n == ref.len);
    CHECK(same_ids(buf, n, ref.ids, ref.len));
    /* One short: BPEKIT_ERR_BUFFER_TOO_SMALL, and nothing written. */
    for (size_t i = 0; i < 64; i++)
        buf[i] = 0xABCDu;
    CHECK(bpekit_tokenizer_encode_into(tok, U8(text), strlen(text), &ordinary, buf, ref.len - 1, &n,
                                       NULL) == BPEKIT_ERR_BUFFER_TOO_SMALL);
    CHECK(buf[0] == 0xABCDu);
    CHECK(bpekit_tokenizer_encode_into(NULL, U8(text), strlen(text), &ordinary, buf, 64, &n, NULL) ==
          BPEKIT_ERR_NULL_ARG);
    CHECK(bpekit_tokenizer_encode_into(tok, U8("\xff"), 1, &ordinary, buf, 64, &n, NULL) ==
          BPEKIT_ERR_INVALID_UTF8);
    CHECK(bpekit_tokenizer_encode_into(tok, U8("x"), 1, &ordinary, NULL, 4, &n, NULL) ==
          BPEKIT_ERR_NULL_ARG);
    n = SENTINEL_LEN;
    CHECK(bpekit_tokenizer_encode_into(tok, NULL, 0, &ordinary, NULL, 0, &n, NULL) == BPEKIT_OK &&
          n == 0);
    CHECK(buf[0] == 0xABCDu);
    bpekit_tokens_free(&ref);
    bpekit_tokenizer_free(tok);
}

/* UTF-16 text: the ids and counts of its UTF-8 (ASCII runs longer than a block, two- and
 * three-byte characters, a surrogate pair, a special token); a lone surrogate is
 * BPEKIT_ERR_INVALID_UTF8 naming its unit; a short buffer is reported as for UTF-8. */
static void test_encode_utf16(void)
{
    bpekit_error *err = SENTINEL;
    bpekit_tokenizer *tok = special_tokenizer();
    /* "the cat sat on the mat, caf\u00e9 \u20ac \U0001F389 <|endoftext|>" */
    const char *text = "the cat sat on the mat, caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x8e\x89 <|endoftext|>";
    uint16_t units[64];
    size_t n_units = 0;
    for (const char *c = "the cat sat on the mat, caf"; *c; c++)
        units[n_units++] = (uint8_t)*c;
    const uint16_t rest[] = {0xe9, ' ', 0x20ac, ' ', 0xd83c, 0xdf89, ' '};
    for (size_t i = 0; i < sizeof rest / sizeof *rest; i++)
        units[n_units++] = rest[i];
    for (const char *c = "<|endoftext|>"; *c; c++)
        units[n_units++] = (uint8_t)*c;
    bpekit_special_policy all = {NULL, 0, NULL, 0, BPEKIT_SPECIAL_ALLOW_ALL};
    bpekit_tokens ref = sentinel_tokens;
    uint32_t buf[3 * 64];
    size_t n = SENTINEL_LEN, count = SENTINEL_LEN;

    EXPECT_OK(bpekit_tokenizer_encode(tok, U8(text), strlen(text), &all, &ref, &err), &err);
    EXPECT_OK(bpekit_tokenizer_encode_utf16_into(tok, units, n_units, &all, buf, 3 * n_units, &n, &err), &err);
    CHECK(same_ids(buf, n, ref.ids, ref.len));
    EXPECT_OK(bpekit_tokenizer_count_utf16(tok, units, n_units, &all, &count, &err), &err);
    CHECK(count == ref.len);
    /* The default policy refuses the special token, as for UTF-8. */
    EXPECT_ERR(bpekit_tokenizer_count_utf16(tok, units, n_units, NULL, &count, &err), &err,
               BPEKIT_ERR_DISALLOWED_SPECIAL, "<|endoftext|>");
    n = SENTINEL_LEN;
    EXPECT_ERR(bpekit_tokenizer_encode_utf16_into(tok, units, n_units, &all, buf, ref.len - 1, &n, &err), &err,
               BPEKIT_ERR_BUFFER_TOO_SMALL, "do not fit");
    CHECK(n == ref.len);
    /* A lone high surrogate (the pair's low half replaced), then a lone low one. */
    units[n_units - 15] = 'x';
    EXPECT_ERR(bpekit_tokenizer_encode_utf16_into(tok, units, n_units, &all, buf, 3 * n_units, &n, &err), &err,
               BPEKIT_ERR_INVALID_UTF8, "lone surrogate at unit 31");
    units[n_units - 16] = 'x';
    units[0] = 0xdc00;
    EXPECT_ERR(bpekit_tokenizer_count_utf16(tok, units, n_units, &all, &count, &err), &err,
               BPEKIT_ERR_INVALID_UTF8, "lone surrogate at unit 0");
    /* NULL with length 0 is empty text; NULL with a length is NULL_ARG. */
    EXPECT_OK(bpekit_tokenizer_encode_utf16_into(tok, NULL, 0, NULL, NULL, 0, &n, &err), &err);
    CHECK(n == 0);
    EXPECT_ERR(bpekit_tokenizer_count_utf16(tok, NULL, 3, NULL, &count, &err), &err, BPEKIT_ERR_NULL_ARG, "text");
    bpekit_tokens_free(&ref);
    bpekit_tokenizer_free(tok);
}

/* Bytes that need not be UTF-8 (tiktoken's _encode_bytes), and one piece without the
 * split (tiktoken's _encode_single_piece): both decode back to their input; UTF-8 input
 * to encode_bytes gives encode_ordinary's ids, and a piece the pattern would not split
 * gives them too. */
static void test_encode_bytes_and_piece(void)
{
    bpekit_tokenizer *tok = trained_tokenizer(300);
    bpekit_error *err = SENTINEL;
    bpekit_tokens got = sentinel_tokens, ref = sentinel_tokens;
    bpekit_bytes back = {0};
    static const char text[] = "the cat sat on the mat, the end";
    static const uint8_t cut[] = {'t', 'h', 'e', ' ', 'c', 'a', 't', ' ', 0xe4, 0xbd, 0xff, 'x'};
    if (tok == NULL)
        return;

    EXPECT_OK(bpekit_tokenizer_encode_bytes(tok, U8(text), strlen(text), &got, &err), &err);
    EXPECT_OK(bpekit_tokenizer_encode_ordinary(tok, U8(text), strlen(text), &ref, &err), &err);
    CHECK(same_ids(got.ids, got.len, ref.ids, ref.len));
    bpekit_tokens_free(&got);
    bpekit_tokens_free(&ref);

    EXPECT_OK(bpekit_tokenizer_encode_bytes(tok, cut, sizeof cut, &got, &err), &err);
    EXPECT_OK(bpekit_tokenizer_decode(tok, got.ids, got.len, &back, &err), &err);
    CHECK(back.len == sizeof cut && memcmp(back.data, cut, sizeof cut) == 0);
    bpekit_bytes_free(&back);
    bpekit_tokens_free(&got);

    EXPECT_OK(bpekit_tokenizer_encode_piece(tok, cut, sizeof cut, &got, &err), &err);
    EXPECT_OK(bpekit_tokenizer_decode(tok, got.ids, got.len, &back, &err), &err);
    CHECK(back.len == sizeof cut && memcmp(back.data, cut, sizeof cut) == 0);
    bpekit_bytes_free(&back);
    bpekit_tokens_free(&got);
    EXPECT_OK(bpekit_tokenizer_encode_piece(tok, U8(" cat"), 4, &got, &err), &err);
    EXPECT_OK(bpekit_tokenizer_encode_ordinary(tok, U8(" cat"), 4, &ref, &err), &err);
    CHECK(same_ids(got.ids, got.len, ref.ids, ref.len));
    bpekit_tokens_free(&got);
    bpekit_tokens_free(&ref);

    /* Nothing in, nothing out; errors leave *out untouched. */
    got = sentinel_tokens;
    EXPECT_OK(bpekit_tokenizer_encode_piece(tok, NULL, 0, &got, &err), &err);
    CHECK(got.ids == NULL && got.len == 0);
    got = sentinel_tokens;
    EXPECT_OK(bpekit_tokenizer_encode_bytes(tok, NULL, 0, &got, &err), &err);
    CHECK(got.ids == NULL && got.len == 0);
    got = sentinel_tokens;
    EXPECT_ERR(bpekit_tokenizer_encode_bytes(NULL, cut, 1, &got, &err), &err, BPEKIT_ERR_NULL_ARG, "tok");
    EXPECT_ERR(bpekit_tokenizer_encode_bytes(tok, NULL, 1, &got, &err), &err, BPEKIT_ERR_NULL_ARG, "bytes");
    EXPECT_ERR(bpekit_tokenizer_encode_piece(tok, cut, 1, NULL, &err), &err, BPEKIT_ERR_NULL_ARG, "out");
    EXPECT_ERR(bpekit_tokenizer_encode_piece(tok, NULL, 1, &got, &err), &err, BPEKIT_ERR_NULL_ARG, "bytes");
    CHECK(tokens_untouched(&got));
    bpekit_tokenizer_free(tok);
}

/* The streaming decoder: a character split across ids is held back, then completed;
 * flush gives an incomplete one per the mode; errors leave *out and the decoder alone. */
static void test_stream_decoder(void)
{
    bpekit_tokenizer *tok = trained_tokenizer(300);
    bpekit_error *err = SENTINEL;
    bpekit_stream_decoder *dec = NULL, *strict = NULL, *raw = NULL;
    bpekit_bytes out = {0};
    uint32_t e4 = 0, bd = 0, a0 = 0, x = 0;
    if (tok == NULL)
        return;
    EXPECT_OK(bpekit_tokenizer_token_id(tok, U8("\xe4"), 1, &e4, &err), &err);
    EXPECT_OK(bpekit_tokenizer_token_id(tok, U8("\xbd"), 1, &bd, &err), &err);
    EXPECT_OK(bpekit_tokenizer_token_id(tok, U8("\xa0"), 1, &a0, &err), &err);
    EXPECT_OK(bpekit_tokenizer_token_id(tok, U8("x"), 1, &x, &err), &err);
    EXPECT_OK(bpekit_stream_decoder_new(BPEKIT_UTF8_REPLACE, &dec, &err), &err);
    EXPECT_OK(bpekit_stream_decoder_new(BPEKIT_UTF8_STRICT, &strict, &err), &err);
    EXPECT_OK(bpekit_stream_decoder_new(BPEKIT_UTF8_BYTES, &raw, &err), &err);

    const uint32_t first[] = {x, e4, bd};
    EXPECT_OK(bpekit_stream_decoder_add(dec, tok, first, 3, &out, &err), &err);
    CHECK(out.len == 1 && out.data[0] == 'x');
    bpekit_bytes_free(&out);
    EXPECT_OK(bpekit_stream_decoder_add(dec, tok, &a0, 1, &out, &err), &err);
    CHECK(out.len == 3 && memcmp(out.data, "\xe4\xbd\xa0", 3) == 0);
    bpekit_bytes_free(&out);
    EXPECT_OK(bpekit_stream_decoder_add(dec, tok, &e4, 1, &out, &err), &err);
    CHECK(out.len == 0);
    bpekit_bytes_free(&out);
    EXPECT_OK(bpekit_stream_decoder_flush(dec, &out, &err), &err);
    CHECK(out.len == 3 && memcmp(out.data, "\xef\xbf\xbd", 3) == 0); /* U+FFFD */
    bpekit_bytes_free(&out);
    EXPECT_OK(bpekit_stream_decoder_add(raw, tok, &e4, 1, &out, &err), &err);
    bpekit_bytes_free(&out);
    EXPECT_OK(bpekit_stream_decoder_flush(raw, &out, &err), &err);
    CHECK(out.len == 1 && out.data[0] == 0xe4);
    bpekit_bytes_free(&out);

    /* Errors: nothing added, *out untouched. */
    bpekit_bytes keep = {SENTINEL, SENTINEL_LEN};
    const uint32_t unknown[] = {bd, 99999};
    EXPECT_OK(bpekit_stream_decoder_add(strict, tok, &e4, 1, &out, &err), &err);
    bpekit_bytes_free(&out);
    EXPECT_ERR(bpekit_stream_decoder_add(strict, tok, unknown, 2, &keep, &err), &err,
               BPEKIT_ERR_UNKNOWN_TOKEN, "99999");
    EXPECT_ERR(bpekit_stream_decoder_add(strict, tok, &x, 1, &keep, &err), &err,
               BPEKIT_ERR_INVALID_UTF8, NULL);
    EXPECT_ERR(bpekit_stream_decoder_flush(strict, &keep, &err), &err, BPEKIT_ERR_INVALID_UTF8, NULL);
    CHECK(keep.data == SENTINEL && keep.len == SENTINEL_LEN);
    const uint32_t rest[] = {bd, a0};
    EXPECT_OK(bpekit_stream_decoder_add(strict, tok, rest, 2, &out, &err), &err);
    CHECK(out.len == 3);
    bpekit_bytes_free(&out);
    EXPECT_ERR(bpekit_stream_decoder_add(NULL, tok, &x, 1, &keep, &err), &err, BPEKIT_ERR_NULL_ARG, "dec");
    EXPECT_ERR(bpekit_stream_decoder_add(dec, NULL, &x, 1, &keep, &err), &err, BPEKIT_ERR_NULL_ARG, "tok");
    EXPECT_ERR(bpekit_stream_decoder_add(dec, tok, NULL, 1, &keep, &err), &err, BPEKIT_ERR_NULL_ARG, "ids");
    EXPECT_ERR(bpekit_stream_decoder_flush(dec, NULL, &err), &err, BPEKIT_ERR_NULL_ARG, "out");
    bpekit_stream_decoder *none = SENTINEL;
    EXPECT_ERR(bpekit_stream_decoder_new(BPEKIT_UTF8_SKIP, &none, &err), &err, BPEKIT_ERR_INVALID_ARG,
               "SKIP");
    EXPECT_ERR(bpekit_stream_decoder_new(9, &none, &err), &err, BPEKIT_ERR_INVALID_ARG, "9");
    CHECK(none == SENTINEL);
    bpekit_stream_decoder_free(NULL);
    bpekit_stream_decoder_free(dec);
    bpekit_stream_decoder_free(strict);
    bpekit_stream_decoder_free(raw);
    bpekit_tokenizer_free(tok);
}

/* Offsets: byte spans tile the text and are each token's bytes; a character split
 * between tokens is in the character span of each; errors leave the outputs alone. */
static void test_encode_with_offsets(void)
{
    bpekit_tokenizer *tok = special_tokenizer();
    bpekit_error *err = SENTINEL;
    const char *text = "the cat \xe4\xbd\xa0<|endoftext|>";
    const bpekit_special_policy all = {.flags = BPEKIT_SPECIAL_ALLOW_ALL};
    bpekit_tokens ids = sentinel_tokens, ref = sentinel_tokens;
    bpekit_offsets starts = {0}, ends = {0};
    EXPECT_OK(bpekit_tokenizer_encode_with_offsets(tok, U8(text), strlen(text), &all, BPEKIT_OFFSETS_BYTE,
                                                   &ids, &starts, &ends, &err),
              &err);
    EXPECT_OK(bpekit_tokenizer_encode(tok, U8(text), strlen(text), &all, &ref, &err), &err);
    CHECK(same_ids(ids.ids, ids.len, ref.ids, ref.len));
    CHECK(starts.len == ids.len && ends.len == ids.len);
    size_t at = 0;
    for (size_t i = 0; i < ids.len && i < starts.len; i++) {
        const uint8_t *bytes = NULL;
        size_t n = 0;
        EXPECT_OK(bpekit_tokenizer_token_bytes(tok, ids.ids[i], &bytes, &n, &err), &err);
        CHECK(starts.data[i] == at && ends.data[i] == at + n && memcmp(text + at, bytes, n) == 0);
        at = ends.data[i];
    }
    CHECK(at == strlen(text));
    bpekit_offsets_free(&starts);
    bpekit_offsets_free(&ends);
    bpekit_tokens_free(&ids);
    EXPECT_OK(bpekit_tokenizer_encode_with_offsets(tok, U8(text), strlen(text), &all, BPEKIT_OFFSETS_CHAR,
                                                   &ids, &starts, &ends, &err),
              &err);
    CHECK(ends.len > 0 && ends.data[ends.len - 1] == 9 + strlen("<|endoftext|>")); /* "the cat X" */
    bpekit_offsets_free(&starts);
    bpekit_offsets_free(&ends);
    bpekit_tokens_free(&ids);
    bpekit_tokens_free(&ref);

    ids = sentinel_tokens;
    EXPECT_ERR(bpekit_tokenizer_encode_with_offsets(tok, U8("x"), 1, &all, 7, &ids, &starts, &ends, &err),
               &err, BPEKIT_ERR_INVALID_ARG, "unit");
    EXPECT_ERR(bpekit_tokenizer_encode_with_offsets(tok, U8(text), strlen(text), NULL, BPEKIT_OFFSETS_BYTE,
                                                    &ids, &starts, &ends, &err),
               &err, BPEKIT_ERR_DISALLOWED_SPECIAL, NULL);
    EXPECT_ERR(bpekit_tokenizer_encode_with_offsets(tok, U8("x"), 1, &all, BPEKIT_OFFSETS_BYTE, &ids, NULL,
                                                    &ends, &err),
               &err, BPEKIT_ERR_NULL_ARG, "starts");
    CHECK(tokens_untouched(&ids) && starts.data == NULL && ends.data == NULL);
    bpekit_tokenizer_free(tok);
}

/* Normalization: a copy that composes "e" + U+0301 into "\xc3\xa9" before splitting, saved in
 * its file; the original is unchanged; an unknown value is refused. */
static void test_normalization(void)
{
    bpekit_tokenizer *tok = special_tokenizer(), *nfc = NULL, *back = NULL, *none = SENTINEL;
    bpekit_error *err = SENTINEL;
    const char *decomposed = "caf\x65\xcc\x81", *composed = "caf\xc3\xa9";
    CHECK(bpekit_tokenizer_normalization(tok) == BPEKIT_NORMALIZE_NONE);
    CHECK(bpekit_tokenizer_normalization(NULL) == BPEKIT_NORMALIZE_NONE);
    EXPECT_OK(bpekit_tokenizer_with_normalization(tok, BPEKIT_NORMALIZE_NFC, &nfc, &err), &err);
    CHECK(bpekit_tokenizer_normalization(nfc) == BPEKIT_NORMALIZE_NFC);
    CHECK(bpekit_tokenizer_normalization(tok) == BPEKIT_NORMALIZE_NONE);
    bpekit_tokens a = sentinel_tokens, b = sentinel_tokens, c = sentinel_tokens;
    EXPECT_OK(bpekit_tokenizer_encode_ordinary(nfc, U8(decomposed), strlen(decomposed), &a, &err), &err);
    EXPECT_OK(bpekit_tokenizer_encode_ordinary(nfc, U8(composed), strlen(composed), &b, &err), &err);
    EXPECT_OK(bpekit_tokenizer_encode_ordinary(tok, U8(decomposed), strlen(decomposed), &c, &err), &err);
    CHECK(same_ids(a.ids, a.len, b.ids, b.len));
    CHECK(!same_ids(a.ids, a.len, c.ids, c.len));
    bpekit_bytes data = {0};
    EXPECT_OK(bpekit_tokenizer_to_bytes(nfc, &data, &err), &err);
    EXPECT_OK(bpekit_tokenizer_from_bytes(data.data, data.len, &back, &err), &err);
    CHECK(bpekit_tokenizer_normalization(back) == BPEKIT_NORMALIZE_NFC);
    bpekit_bytes_free(&data);
    EXPECT_ERR(bpekit_tokenizer_with_normalization(tok, 9, &none, &err), &err, BPEKIT_ERR_INVALID_ARG,
               "BPEKIT_NORMALIZE_");
    CHECK(none == SENTINEL);
    EXPECT_ERR(bpekit_tokenizer_with_normalization(NULL, BPEKIT_NORMALIZE_NFC, &none, &err), &err,
               BPEKIT_ERR_NULL_ARG, "tok");
    bpekit_tokens_free(&a);
    bpekit_tokens_free(&b);
    bpekit_tokens_free(&c);
    bpekit_tokenizer_free(back);
    bpekit_tokenizer_free(nfc);
    bpekit_tokenizer_free(tok);
}

/* Merge rules: "th" = t + h, "the" = th + e, " the" = ' ' + the (make_ranks' tokens). */
static void test_merge_rules(void)
{
    bpekit_tokenizer *tok = special_tokenizer();
    bpekit_error *err = SENTINEL;
    bpekit_tokens rules = sentinel_tokens;
    EXPECT_OK(bpekit_tokenizer_merge_rules(tok, &rules, &err), &err);
    const uint32_t want[] = {'t', 'h', 256, 256, 'e', 257, ' ', 257, 258};
    CHECK(same_ids(rules.ids, rules.len, want, 9));
    bpekit_tokens_free(&rules);
    rules = sentinel_tokens;
    EXPECT_ERR(bpekit_tokenizer_merge_rules(NULL, &rules, &err), &err, BPEKIT_ERR_NULL_ARG, "tok");
    EXPECT_ERR(bpekit_tokenizer_merge_rules(tok, NULL, &err), &err, BPEKIT_ERR_NULL_ARG, "out");
    CHECK(tokens_untouched(&rules));
    bpekit_tokenizer_free(tok);
}

const struct test encode_tests[] = {
    TEST(test_encode),
    TEST(test_encode_into),
    TEST(test_encode_into_ordinary),
    TEST(test_encode_utf16),
    TEST(test_encode_bytes_and_piece),
    TEST(test_stream_decoder),
    TEST(test_encode_with_offsets),
    TEST(test_normalization),
    TEST(test_merge_rules),
    {NULL, NULL},
};
