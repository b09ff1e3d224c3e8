/*
 * test_file.c: bpekit's own file format: save/load and to_bytes/from_bytes, atomic writes,
 * damage.
 */
#include "harness.h"

#include <sys/stat.h>
#include <unistd.h>

/* bpekit's own file format: save/load and to_bytes/from_bytes, atomic writes, damage. */
static void test_file_format(void)
{
    bpekit_error *err = SENTINEL;
    bpekit_tokenizer *tok = special_tokenizer();
    bpekit_tokenizer *back = SENTINEL;
    bpekit_bytes data = sentinel_bytes, again = sentinel_bytes;
    char dir[] = "/tmp/bpekit-c-test-XXXXXX";
    char path[128], missing[128], sub[128];
    const char *text = "the cat <|endoftext|> sat";
    bpekit_special_policy all = {NULL, 0, NULL, 0, BPEKIT_SPECIAL_ALLOW_ALL};
    bpekit_tokens a = sentinel_tokens, b = sentinel_tokens;

    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/tok.bpekit", dir);
    snprintf(missing, sizeof missing, "%s/missing.bpekit", dir);
    snprintf(sub, sizeof sub, "%s/sub", dir);

    /* Save, load: same tokens, same bytes. */
    EXPECT_OK(bpekit_tokenizer_save(tok, U8(path), strlen(path), &err), &err);
    EXPECT_OK(bpekit_tokenizer_load(U8(path), strlen(path), &back, &err), &err);
    CHECK(back != NULL && back != SENTINEL);
    EXPECT_OK(bpekit_tokenizer_encode(tok, U8(text), strlen(text), &all, &a, &err), &err);
    EXPECT_OK(bpekit_tokenizer_encode(back, U8(text), strlen(text), &all, &b, &err), &err);
    CHECK(same_ids(a.ids, a.len, b.ids, b.len));
    EXPECT_OK(bpekit_tokenizer_to_bytes(tok, &data, &err), &err);
    EXPECT_OK(bpekit_tokenizer_to_bytes(back, &again, &err), &err);
    CHECK(data.len == again.len && memcmp(data.data, again.data, data.len) == 0);
    bpekit_tokenizer_free(back);

    /* from_bytes: every truncation and a flipped byte are BPEKIT_ERR_BAD_FORMAT (or another
     * clear error), output untouched. */
    back = SENTINEL;
    EXPECT_OK(bpekit_tokenizer_from_bytes(data.data, data.len, &back, &err), &err);
    bpekit_tokenizer_free(back);
    for (size_t cut = 0; cut < data.len; cut += 1 + data.len / 50) {
        back = SENTINEL;
        EXPECT_ERR(bpekit_tokenizer_from_bytes(data.data, cut, &back, &err), &err,
                   BPEKIT_ERR_BAD_FORMAT, NULL);
        CHECK(back == SENTINEL);
    }
    data.data[data.len / 2] ^= 0x20;
    back = SENTINEL;
    CHECK(bpekit_tokenizer_from_bytes(data.data, data.len, &back, NULL) != BPEKIT_OK);
    CHECK(back == SENTINEL);
    EXPECT_ERR(bpekit_tokenizer_from_bytes(U8("IQ== 0\n"), 7, &back, &err), &err,
               BPEKIT_ERR_BAD_FORMAT, "not a bpekit tokenizer");

    /* I/O errors name the path; a failed save leaves the old file alone. */
    EXPECT_ERR(bpekit_tokenizer_load(U8(missing), strlen(missing), &back, &err), &err, BPEKIT_ERR_IO,
               "missing.bpekit");
    CHECK(back == SENTINEL);
    CHECK(mkdir(sub, 0700) == 0);
    {
        char inner[160];
        snprintf(inner, sizeof inner, "%s/x", sub);
        CHECK(mkdir(inner, 0700) == 0);
        EXPECT_ERR(bpekit_tokenizer_save(tok, U8(sub), strlen(sub), &err), &err, BPEKIT_ERR_IO, "sub");
        CHECK(rmdir(inner) == 0);
    }
    CHECK(rmdir(sub) == 0);
    EXPECT_OK(bpekit_tokenizer_load(U8(path), strlen(path), &back, &err), &err);
    bpekit_tokenizer_free(back);

    /* NULL and empty arguments. */
    EXPECT_ERR(bpekit_tokenizer_save(NULL, U8(path), strlen(path), &err), &err, BPEKIT_ERR_NULL_ARG, "tok");
    EXPECT_ERR(bpekit_tokenizer_save(tok, NULL, 3, &err), &err, BPEKIT_ERR_NULL_ARG, "path");
    EXPECT_ERR(bpekit_tokenizer_save(tok, U8(""), 0, &err), &err, BPEKIT_ERR_INVALID_ARG, "empty");
    EXPECT_ERR(bpekit_tokenizer_load(U8(path), strlen(path), NULL, &err), &err, BPEKIT_ERR_NULL_ARG, "out");
    EXPECT_ERR(bpekit_tokenizer_to_bytes(tok, NULL, &err), &err, BPEKIT_ERR_NULL_ARG, "out");
    EXPECT_ERR(bpekit_tokenizer_from_bytes(NULL, 5, &back, &err), &err, BPEKIT_ERR_NULL_ARG, "data");

    CHECK(remove(path) == 0);
    CHECK(rmdir(dir) == 0);
    bpekit_tokens_free(&a);
    bpekit_tokens_free(&b);
    bpekit_bytes_free(&data);
    bpekit_bytes_free(&again);
    bpekit_tokenizer_free(tok);
}

const struct test file_tests[] = {
    TEST(test_file_format),
    {NULL, NULL},
};
