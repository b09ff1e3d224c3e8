/*
 * test_tokenizer.c: tokenizers from ranks: construction from tiktoken ranks (and its
 * errors), token bytes and ids, the ranks export and the pattern.
 */
#include "harness.h"

static void test_from_tiktoken(void)
{
    static struct blob b, bad;
    bpekit_tokenizer *tok = SENTINEL;
    bpekit_error *err = SENTINEL;
    static const uint8_t bad_utf8[] = {'\\', 'w', 0x80};

    make_ranks(&b, -1);
    EXPECT_OK(bpekit_tokenizer_from_tiktoken(U8(b.data), b.len, NULL, 0, &tok, &err), &err);
    CHECK(tok != NULL && tok != SENTINEL);
    CHECK(bpekit_tokenizer_vocab_size(tok) == 259);
    /* The export is the canonical form of the input: identical bytes. */
    bpekit_bytes exported = export_ranks(tok);
    CHECK(exported.len == b.len && memcmp(exported.data, b.data, b.len) == 0);
    bpekit_bytes_free(&exported);
    bpekit_tokenizer_free(tok);

    /* err == NULL on success; an explicit pattern. */
    tok = NULL;
    CHECK(bpekit_tokenizer_from_tiktoken(U8(b.data), b.len, U8("\\S+|\\s+"), 7, &tok, NULL) ==
          BPEKIT_OK);
    CHECK(tok != NULL);
    bpekit_tokenizer_free(tok);

    /* tiktoken accepts CRLF and blank lines; so do we. */
    bad.len = 0;
    for (int i = 0; i < 256; i++) {
        uint8_t c = (uint8_t)i;
        blob_add_line(&bad, &c, 1, (unsigned)i);
        bad.len--; /* drop the LF */
        blob_add(&bad, i % 2 ? "\r\n" : "\n\n");
    }
    tok = NULL;
    EXPECT_OK(bpekit_tokenizer_from_tiktoken(U8(bad.data), bad.len, NULL, 0, &tok, &err), &err);
    CHECK(bpekit_tokenizer_vocab_size(tok) == 256);
    bpekit_tokenizer_free(tok);

    /* NULL arguments; *out untouched. */
    tok = SENTINEL;
    EXPECT_ERR(bpekit_tokenizer_from_tiktoken(U8(b.data), b.len, NULL, 0, NULL, &err), &err,
               BPEKIT_ERR_NULL_ARG, "out");
    EXPECT_ERR(bpekit_tokenizer_from_tiktoken(NULL, 10, NULL, 0, &tok, &err), &err,
               BPEKIT_ERR_NULL_ARG, "ranks");
    CHECK(tok == SENTINEL);
    /* NULL with length 0 is an empty table, which is malformed. */
    EXPECT_ERR(bpekit_tokenizer_from_tiktoken(NULL, 0, NULL, 0, &tok, &err), &err,
               BPEKIT_ERR_BAD_RANKS, "empty");
    CHECK(tok == SENTINEL);

    /* Bad patterns. */
    EXPECT_ERR(bpekit_tokenizer_from_tiktoken(U8(b.data), b.len, bad_utf8, sizeof bad_utf8, &tok,
                                              &err),
               &err, BPEKIT_ERR_INVALID_UTF8, "pattern");
    CHECK(tok == SENTINEL);
    EXPECT_ERR(bpekit_tokenizer_from_tiktoken(U8(b.data), b.len, U8("(?<"), 3, &tok, &err), &err,
               BPEKIT_ERR_BAD_PATTERN, NULL);
    CHECK(tok == SENTINEL);

    /* Malformed tables: each is the good table plus or minus one line. */
    struct {
        const char *extra; /* appended to the good table */
        const char *needle;
    } cases[] = {
        {"!!!! 300\n", "base64"},      /* not base64 */
        {"YWI 300\n", "base64"},       /* base64 without its padding */
        {"YWI=\n", "line 260"},        /* missing rank */
        {"YWI= \n", "line 260"},       /* missing rank, trailing space */
        {"YWI= x\n", "rank"},          /* rank not a number */
        {"YWI= -1\n", "rank"},         /* negative rank */
        {"YWI= 4294967296\n", "rank"}, /* rank above 2^32 - 1 */
        {"YWI= 1 2\n", "line 260"},    /* three fields */
        {"YWI= 65\n", "rank 65"},      /* rank 65 is already 'A' */
        {"YWI= 258\n", "rank 258"},    /* rank 258 is already " the" */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bad = b;
        blob_add(&bad, cases[i].extra);
        tok = SENTINEL;
        bpekit_status st =
            bpekit_tokenizer_from_tiktoken(U8(bad.data), bad.len, NULL, 0, &tok, &err);
        if (st != BPEKIT_ERR_BAD_RANKS)
            fprintf(stderr, "  (case %zu: %s)\n", i, cases[i].extra);
        EXPECT_ERR(st, &err, BPEKIT_ERR_BAD_RANKS, cases[i].needle);
        CHECK(tok == SENTINEL);
        if (tok != SENTINEL)
            bpekit_tokenizer_free(tok);
    }

    /* A table missing one single byte. */
    make_ranks(&bad, 0x00);
    EXPECT_ERR(bpekit_tokenizer_from_tiktoken(U8(bad.data), bad.len, NULL, 0, &tok, &err), &err,
               BPEKIT_ERR_BAD_RANKS, "0x00");
    CHECK(tok == SENTINEL);
    make_ranks(&bad, 0xff);
    EXPECT_ERR(bpekit_tokenizer_from_tiktoken(U8(bad.data), bad.len, NULL, 0, &tok, &err), &err,
               BPEKIT_ERR_BAD_RANKS, "0xff");
    CHECK(tok == SENTINEL);
    CHECK(bpekit_tokenizer_from_tiktoken(U8(bad.data), bad.len, NULL, 0, &tok, NULL) ==
          BPEKIT_ERR_BAD_RANKS);
    CHECK(tok == SENTINEL);

    /* Gaps between ranks are allowed (tiktoken's own files have them): the unused ids are
     * unknown tokens, and vocab_size is one more than the largest id. */
    bad = b;
    blob_add(&bad, "YWI= 300\n");
    tok = NULL;
    EXPECT_OK(bpekit_tokenizer_from_tiktoken(U8(bad.data), bad.len, NULL, 0, &tok, &err), &err);
    if (tok != NULL) {
        const uint8_t *data = SENTINEL;
        size_t len = SENTINEL_LEN;
        bpekit_bytes out = sentinel_bytes;
        uint32_t gap = 280, ab = 300;
        CHECK(bpekit_tokenizer_vocab_size(tok) == 301);
        EXPECT_ERR(bpekit_tokenizer_token_bytes(tok, gap, &data, &len, &err), &err,
                   BPEKIT_ERR_UNKNOWN_TOKEN, "280");
        CHECK(data == SENTINEL && len == SENTINEL_LEN);
        EXPECT_ERR(bpekit_tokenizer_decode(tok, &gap, 1, &out, &err), &err,
                   BPEKIT_ERR_UNKNOWN_TOKEN, "280");
        CHECK(bytes_untouched(&out));
        EXPECT_OK(bpekit_tokenizer_decode(tok, &ab, 1, &out, &err), &err);
        CHECK(out.len == 2 && memcmp(out.data, "ab", 2) == 0);
        bpekit_bytes_free(&out);
    }
    bpekit_tokenizer_free(tok);
}

static void test_token_bytes(void)
{
    bpekit_tokenizer *tok = ranks_tokenizer();
    bpekit_error *err = SENTINEL;
    const uint8_t *data = SENTINEL;
    size_t len = SENTINEL_LEN;
    if (tok == NULL)
        return;

    EXPECT_OK(bpekit_tokenizer_token_bytes(tok, 258, &data, &len, &err), &err);
    CHECK(len == 4 && data != NULL && memcmp(data, " the", 4) == 0);
    /* Borrowed from tok: the same storage every time. */
    const uint8_t *again = NULL;
    CHECK(bpekit_tokenizer_token_bytes(tok, 258, &again, &len, NULL) == BPEKIT_OK);
    CHECK(again == data);
    CHECK(bpekit_tokenizer_token_bytes(tok, 0, &data, &len, NULL) == BPEKIT_OK);
    CHECK(len == 1 && data[0] == 0x00);

    data = SENTINEL;
    len = SENTINEL_LEN;
    EXPECT_ERR(bpekit_tokenizer_token_bytes(NULL, 0, &data, &len, &err), &err,
               BPEKIT_ERR_NULL_ARG, "tok");
    EXPECT_ERR(bpekit_tokenizer_token_bytes(tok, 0, NULL, &len, &err), &err, BPEKIT_ERR_NULL_ARG,
               "data");
    EXPECT_ERR(bpekit_tokenizer_token_bytes(tok, 0, &data, NULL, &err), &err,
               BPEKIT_ERR_NULL_ARG, "len");
    CHECK(data == SENTINEL && len == SENTINEL_LEN);
    EXPECT_ERR(bpekit_tokenizer_token_bytes(tok, 259, &data, &len, &err), &err,
               BPEKIT_ERR_UNKNOWN_TOKEN, "259");
    CHECK(data == SENTINEL && len == SENTINEL_LEN);
    EXPECT_ERR(bpekit_tokenizer_token_bytes(tok, UINT32_MAX, &data, &len, &err), &err,
               BPEKIT_ERR_UNKNOWN_TOKEN, "4294967295");
    CHECK(data == SENTINEL && len == SENTINEL_LEN);
    CHECK(bpekit_tokenizer_token_bytes(tok, 259, &data, &len, NULL) == BPEKIT_ERR_UNKNOWN_TOKEN);
    CHECK(data == SENTINEL && len == SENTINEL_LEN);

    bpekit_tokenizer_free(tok);
}

static void test_export_and_pattern(void)
{
    bpekit_tokenizer *tok = trained_tokenizer(300), *back = NULL, *dflt = NULL;
    bpekit_error *err = SENTINEL;
    bpekit_bytes out = sentinel_bytes;
    const uint8_t *pat = SENTINEL, *pat2 = NULL;
    size_t pat_len = SENTINEL_LEN, pat2_len = 0;
    if (tok == NULL)
        return;

    /* Errors leave out-params untouched. */
    EXPECT_ERR(bpekit_tokenizer_export_tiktoken(NULL, &out, &err), &err, BPEKIT_ERR_NULL_ARG,
               "tok");
    CHECK(bytes_untouched(&out));
    EXPECT_ERR(bpekit_tokenizer_export_tiktoken(tok, NULL, &err), &err, BPEKIT_ERR_NULL_ARG,
               "out");
    CHECK(bpekit_tokenizer_export_tiktoken(NULL, &out, NULL) == BPEKIT_ERR_NULL_ARG);
    CHECK(bytes_untouched(&out));
    EXPECT_ERR(bpekit_tokenizer_pattern(NULL, &pat, &pat_len, &err), &err, BPEKIT_ERR_NULL_ARG,
               "tok");
    EXPECT_ERR(bpekit_tokenizer_pattern(tok, NULL, &pat_len, &err), &err, BPEKIT_ERR_NULL_ARG,
               "data");
    EXPECT_ERR(bpekit_tokenizer_pattern(tok, &pat, NULL, &err), &err, BPEKIT_ERR_NULL_ARG,
               "len");
    CHECK(pat == SENTINEL && pat_len == SENTINEL_LEN);

    /* The export is tiktoken text: 300 lines "base64 SP rank LF", ranks 0..299 in order. */
    EXPECT_OK(bpekit_tokenizer_export_tiktoken(tok, &out, &err), &err);
    size_t lines = 0, bad_lines = 0;
    for (size_t i = 0, start = 0; out.data != NULL && i < out.len; i++) {
        if (out.data[i] != '\n')
            continue;
        char rank[16];
        const uint8_t *sp = memchr(out.data + start, ' ', i - start);
        size_t rlen = sp ? (size_t)(out.data + i - sp - 1) : 0;
        snprintf(rank, sizeof rank, "%zu", lines);
        if (sp == NULL || rlen != strlen(rank) || memcmp(sp + 1, rank, rlen) != 0)
            bad_lines++;
        lines++;
        start = i + 1;
    }
    CHECK(lines == 300 && bad_lines == 0);
    CHECK(out.len > 0 && out.data[out.len - 1] == '\n');

    /* The trained tokenizer's pattern is the default; reloading with it (or with NULL,
     * the default) gives a tokenizer with identical ranks. */
    EXPECT_OK(bpekit_tokenizer_pattern(tok, &pat, &pat_len, &err), &err);
    CHECK(pat != NULL && pat != SENTINEL && pat_len > 0 && pat_len != SENTINEL_LEN);
    EXPECT_OK(bpekit_tokenizer_from_tiktoken(out.data, out.len, pat, pat_len, &back, &err), &err);
    EXPECT_OK(bpekit_tokenizer_from_tiktoken(out.data, out.len, NULL, 0, &dflt, &err), &err);
    if (back != NULL && dflt != NULL) {
        bpekit_bytes again = export_ranks(back);
        CHECK(same_bytes(&out, &again));
        bpekit_bytes_free(&again);
        EXPECT_OK(bpekit_tokenizer_pattern(dflt, &pat2, &pat2_len, &err), &err);
        CHECK(pat2_len == pat_len && pat2 != NULL && memcmp(pat, pat2, pat_len) == 0);
        CHECK(bpekit_tokenizer_vocab_size(back) == 300);
    }
    bpekit_tokenizer_free(dflt);
    bpekit_tokenizer_free(back);
    bpekit_bytes_free(&out);

    /* A custom pattern comes back byte for byte. */
    bpekit_trainer *t = NULL;
    static const char custom[] = "\\p{L}+|\\p{N}+|\\s+|[^\\s\\p{L}\\p{N}]+";
    EXPECT_OK(bpekit_trainer_new(U8(custom), sizeof custom - 1, &t, &err), &err);
    bpekit_tokenizer_free(tok);
    tok = NULL;
    EXPECT_OK(bpekit_trainer_finish(t, 256, &tok, &err), &err);
    bpekit_trainer_free(t);
    EXPECT_OK(bpekit_tokenizer_pattern(tok, &pat, &pat_len, &err), &err);
    CHECK(pat_len == sizeof custom - 1 && memcmp(pat, custom, pat_len) == 0);

    CHECK(bpekit_tokenizer_vocab_size(NULL) == 0);
    bpekit_tokenizer_free(tok);
}

/* Byte string -> id: ranks first, then special-token text; anything else is unknown. */
static void test_token_id(void)
{
    bpekit_error *err = SENTINEL;
    bpekit_tokenizer *tok = special_tokenizer();
    uint32_t id = 0xFFFFFFFFu;
    const uint8_t *data = NULL;
    size_t len = 0;

    EXPECT_OK(bpekit_tokenizer_token_id(tok, U8("a"), 1, &id, &err), &err);
    EXPECT_OK(bpekit_tokenizer_token_bytes(tok, id, &data, &len, &err), &err);
    CHECK(len == 1 && data[0] == 'a');
    EXPECT_OK(bpekit_tokenizer_token_id(tok, U8("<|endoftext|>"), 13, &id, &err), &err);
    EXPECT_OK(bpekit_tokenizer_token_bytes(tok, id, &data, &len, &err), &err);
    CHECK(len == 13 && memcmp(data, "<|endoftext|>", 13) == 0);
    id = 0xFFFFFFFFu;
    EXPECT_ERR(bpekit_tokenizer_token_id(tok, U8("not one token at all"), 20, &id, &err), &err,
               BPEKIT_ERR_UNKNOWN_TOKEN, "not a single token");
    CHECK(id == 0xFFFFFFFFu);
    EXPECT_ERR(bpekit_tokenizer_token_id(tok, U8(""), 0, &id, &err), &err, BPEKIT_ERR_UNKNOWN_TOKEN, NULL);
    EXPECT_ERR(bpekit_tokenizer_token_id(NULL, U8("a"), 1, &id, &err), &err, BPEKIT_ERR_NULL_ARG, "tok");
    EXPECT_ERR(bpekit_tokenizer_token_id(tok, U8("a"), 1, NULL, &err), &err, BPEKIT_ERR_NULL_ARG, "id");
    EXPECT_ERR(bpekit_tokenizer_token_id(tok, NULL, 1, &id, &err), &err, BPEKIT_ERR_NULL_ARG, "bytes");
    bpekit_tokenizer_free(tok);
}

const struct test tokenizer_tests[] = {
    TEST(test_from_tiktoken),
    TEST(test_token_bytes),
    TEST(test_export_and_pattern),
    TEST(test_token_id),
    {NULL, NULL},
};
