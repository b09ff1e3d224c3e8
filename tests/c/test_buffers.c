/*
 * test_buffers.c: owned output buffers: filled buffers freed twice, zeroed ones freed
 * harmlessly.
 */
#include "harness.h"

static void test_filled_buffers_double_free(void)
{
    bpekit_tokenizer *tok = ranks_tokenizer();
    bpekit_error *err = NULL;
    bpekit_tokens ids = {0};
    bpekit_bytes bytes = {0};
    if (tok == NULL)
        return;
    EXPECT_OK(bpekit_tokenizer_encode_ordinary(tok, U8("the theme"), 9, &ids, &err), &err);
    EXPECT_OK(bpekit_tokenizer_decode(tok, ids.ids, ids.len, &bytes, &err), &err);
    CHECK(ids.ids != NULL && ids.len > 0);
    CHECK(bytes.data != NULL && bytes.len == 9);
    bpekit_tokens_free(&ids);
    CHECK(ids.ids == NULL && ids.len == 0);
    bpekit_tokens_free(&ids); /* a no-op: the first free zeroed it */
    bpekit_bytes_free(&bytes);
    CHECK(bytes.data == NULL && bytes.len == 0);
    bpekit_bytes_free(&bytes);
    bpekit_tokenizer_free(tok);
}

const struct test buffers_tests[] = {
    TEST(test_filled_buffers_double_free),
    {NULL, NULL},
};
