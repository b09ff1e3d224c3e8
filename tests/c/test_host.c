/*
 * test_host.c: the host header, include/bpekit_host.h (outside the ABI promise; the Python
 * package is its one user): the NUL-terminated and packed encodes, and the refusals of the
 * Python builtin maker (the Python tests call it for real).
 */
#include "harness.h"


#include "bpekit_host.h"

/* The NUL-terminated form: a count or a negated status, no error object. Into buffers of
 * exactly one id per byte on the heap (so valgrind and ASan see any write past them): the
 * same ids as bpekit_tokenizer_encode_ordinary, also for text where every byte is its own
 * id. */
static void test_host_encode_ordinary_cstr(void)
{
    bpekit_error *err = SENTINEL;
    bpekit_tokenizer *tok = special_tokenizer();
    const char *text = "the cat sat on the mat <|endoftext|>";
    uint32_t buf[64];

    const char *texts[] = {text, "\x01\x02\x03\x7f", "z", ""};
    for (size_t t = 0; t < sizeof texts / sizeof texts[0]; t++) {
        size_t n = strlen(texts[t]);
        uint32_t *exact = malloc((n ? n : 1) * sizeof *exact);
        bpekit_tokens want = sentinel_tokens;
        EXPECT_OK(bpekit_tokenizer_encode_ordinary(tok, U8(texts[t]), n, &want, &err), &err);
        int64_t k = bpekit_host_encode_ordinary_cstr(tok, texts[t], exact);
        CHECK(k == (int64_t)want.len);
        CHECK(k >= 0 && same_ids(exact, (size_t)k, want.ids, want.len));
        bpekit_tokens_free(&want);
        free(exact);
    }
    CHECK(bpekit_host_encode_ordinary_cstr(tok, "\x01\x02\x03\x7f", buf) == 4);
    CHECK(bpekit_host_encode_ordinary_cstr(NULL, "x", buf) == -BPEKIT_ERR_NULL_ARG);
    CHECK(bpekit_host_encode_ordinary_cstr(tok, NULL, buf) == -BPEKIT_ERR_NULL_ARG);
    CHECK(bpekit_host_encode_ordinary_cstr(tok, "x", NULL) == -BPEKIT_ERR_NULL_ARG);
    buf[0] = 0xABCDu;
    CHECK(bpekit_host_encode_ordinary_cstr(tok, "ok \xff", buf) == -BPEKIT_ERR_INVALID_UTF8);
    CHECK(buf[0] == 0xABCDu);
    bpekit_tokenizer_free(tok);
}

/* The packed form: up to 3 ids in the result, 20 bits each, the first most significant
 * and plus one; more give -BPEKIT_ERR_BUFFER_TOO_SMALL. Each text is checked against the
 * ordinary encode. */
static void test_host_encode_ordinary_packed(void)
{
    bpekit_error *err = SENTINEL;
    bpekit_tokenizer *tok = special_tokenizer();
    const char *texts[] = {"", "z", "the", "the cat", "\x01\x02", "\x01\x02\x03",
                           "\x01\x02\x03\x7f", "the cat sat on the mat", "<|endoftext|>"};
    int fits = 0, too_many = 0;
    for (size_t t = 0; t < sizeof texts / sizeof texts[0]; t++) {
        bpekit_tokens want = sentinel_tokens;
        EXPECT_OK(bpekit_tokenizer_encode_ordinary(tok, U8(texts[t]), strlen(texts[t]), &want, &err), &err);
        int64_t got = bpekit_host_encode_ordinary_packed(tok, texts[t]);
        if (want.len <= 3) {
            int64_t expect = 0;
            for (size_t i = 0; i < want.len; i++)
                expect = (expect << 20) | ((int64_t)want.ids[i] + (i == 0));
            CHECK(got == expect);
            fits++;
        } else {
            CHECK(got == -BPEKIT_ERR_BUFFER_TOO_SMALL);
            too_many++;
        }
        bpekit_tokens_free(&want);
    }
    CHECK(fits >= 5 && too_many >= 2); /* both outcomes were exercised */
    CHECK(bpekit_host_encode_ordinary_packed(tok, "") == 0);
    CHECK(bpekit_host_encode_ordinary_packed(NULL, "x") == -BPEKIT_ERR_NULL_ARG);
    CHECK(bpekit_host_encode_ordinary_packed(tok, NULL) == -BPEKIT_ERR_NULL_ARG);
    CHECK(bpekit_host_encode_ordinary_packed(tok, "ok \xff") == -BPEKIT_ERR_INVALID_UTF8);
    CHECK(BPEKIT_HOST_PACKED_MAX_ID == (1u << 20) - 2 && BPEKIT_HOST_PACKED_ID_BITS == 20);
    bpekit_tokenizer_free(tok);
}

/* The Python builtin maker refuses what it cannot use, before touching any object (a C
 * test has no interpreter: the Python tests call it for real). */
static void test_host_python_encoder_refusals(void)
{
    bpekit_error *err = SENTINEL;
    bpekit_tokenizer *tok = special_tokenizer();
    int obj = 0; /* stands for the objects; never dereferenced on these paths */
    bpekit_host_python_api api;
    memset(&api, 0, sizeof api);
    EXPECT_ERR(bpekit_host_python_encoder(NULL, tok, &obj, &obj, &obj, &err), &err, BPEKIT_ERR_NULL_ARG, "api");
    api.size = sizeof api - 1;
    EXPECT_ERR(bpekit_host_python_encoder(&api, tok, &obj, &obj, &obj, &err), &err, BPEKIT_ERR_INVALID_ARG, "size");
    api.size = sizeof api; /* right size, but every function missing */
    EXPECT_ERR(bpekit_host_python_encoder(&api, tok, &obj, &obj, &obj, &err), &err, BPEKIT_ERR_INVALID_ARG, "NULL member");
    CHECK(bpekit_host_python_encoder(&api, tok, &obj, &obj, &obj, NULL) == BPEKIT_ERR_INVALID_ARG);
    bpekit_tokenizer_free(tok);
}

const struct test host_tests[] = {
    TEST(test_host_encode_ordinary_cstr),
    TEST(test_host_encode_ordinary_packed),
    TEST(test_host_python_encoder_refusals),
    {NULL, NULL},
};
