/*
 * test_decode.c: decoding: all 256 single-byte tokens, round trips, unknown ids.
 */
#include "harness.h"

static void test_decode(void)
{
    bpekit_tokenizer *tok = trained_tokenizer(300);
    bpekit_error *err = SENTINEL;
    bpekit_bytes out = sentinel_bytes;
    uint32_t ids[256];
    if (tok == NULL)
        return;

    /* NULL with n == 0 is no ids: the empty result is (NULL, 0). */
    EXPECT_OK(bpekit_tokenizer_decode(tok, NULL, 0, &out, &err), &err);
    CHECK(out.data == NULL && out.len == 0);

    /* Errors leave *out untouched. */
    uint32_t one = 'a';
    out = sentinel_bytes;
    EXPECT_ERR(bpekit_tokenizer_decode(NULL, &one, 1, &out, &err), &err, BPEKIT_ERR_NULL_ARG,
               "tok");
    CHECK(bytes_untouched(&out));
    EXPECT_ERR(bpekit_tokenizer_decode(tok, &one, 1, NULL, &err), &err, BPEKIT_ERR_NULL_ARG,
               "out");
    EXPECT_ERR(bpekit_tokenizer_decode(tok, NULL, 1, &out, &err), &err, BPEKIT_ERR_NULL_ARG,
               "ids");
    CHECK(bytes_untouched(&out));

    /* Unknown ids: the message names the first one. */
    uint32_t unknown[] = {'a', 300, 'b', 301};
    EXPECT_ERR(bpekit_tokenizer_decode(tok, unknown, 4, &out, &err), &err,
               BPEKIT_ERR_UNKNOWN_TOKEN, "300");
    CHECK(bytes_untouched(&out));
    uint32_t huge = UINT32_MAX;
    EXPECT_ERR(bpekit_tokenizer_decode(tok, &huge, 1, &out, &err), &err, BPEKIT_ERR_UNKNOWN_TOKEN,
               "4294967295");
    CHECK(bytes_untouched(&out));
    CHECK(bpekit_tokenizer_decode(tok, unknown, 4, &out, NULL) == BPEKIT_ERR_UNKNOWN_TOKEN);
    CHECK(bytes_untouched(&out));

    /* Arbitrary bytes: the 256 single-byte tokens decode to the 256 distinct bytes, and any
     * sequence of them to exactly those bytes (no UTF-8 requirement on output). */
    int seen[256] = {0};
    int single_bytes = 0;
    for (uint32_t id = 0; id < 256; id++) {
        const uint8_t *data = NULL;
        size_t len = 0;
        EXPECT_OK(bpekit_tokenizer_token_bytes(tok, id, &data, &len, &err), &err);
        if (len == 1 && data != NULL && !seen[data[0]]) {
            seen[data[0]] = 1;
            single_bytes++;
        }
        ids[id] = id;
    }
    CHECK(single_bytes == 256);
    out = (bpekit_bytes){0};
    EXPECT_OK(bpekit_tokenizer_decode(tok, ids, 256, &out, &err), &err);
    CHECK(out.len == 256);
    long mismatch = -1;
    for (uint32_t id = 0; id < 256 && out.len == 256; id++) {
        const uint8_t *data = NULL;
        size_t len = 0;
        bpekit_tokenizer_token_bytes(tok, id, &data, &len, NULL);
        if (len != 1 || data == NULL || out.data[id] != data[0]) {
            mismatch = (long)id;
            break;
        }
    }
    CHECK(mismatch == -1);
    if (mismatch != -1)
        fprintf(stderr, "  (decode of byte id %ld differs from its token bytes)\n", mismatch);
    bpekit_bytes_free(&out);

    /* A pseudo-random walk over the byte ids (a fixed LCG) decodes to the same walk. */
    uint8_t want[4096];
    uint32_t walk[4096];
    uint32_t byte_id[256] = {0};
    for (uint32_t id = 0; id < 256; id++) {
        const uint8_t *data = NULL;
        size_t len = 0;
        bpekit_tokenizer_token_bytes(tok, id, &data, &len, NULL);
        if (len == 1 && data != NULL)
            byte_id[data[0]] = id;
    }
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof want; i++) {
        x = x * 1103515245u + 12345u;
        want[i] = (uint8_t)(x >> 16);
        walk[i] = byte_id[want[i]];
    }
    EXPECT_OK(bpekit_tokenizer_decode(tok, walk, sizeof want, &out, &err), &err);
    CHECK(out.len == sizeof want && memcmp(out.data, want, sizeof want) == 0);
    bpekit_bytes_free(&out);

    bpekit_tokenizer_free(tok);
}

const struct test decode_tests[] = {
    TEST(test_decode),
    {NULL, NULL},
};
