/*
 * test_batch.c: batch encoding: batch == per-text encode for several policies and thread
 * counts.
 */
#include "harness.h"

/* Checks one encode_batch result against per-text encode calls. */
static void check_batch(const char *file, int line, const bpekit_tokenizer *tok,
                        const bpekit_slice *texts, size_t n,
                        const bpekit_special_policy *policy, const bpekit_tokens *ids,
                        const bpekit_offsets *offs)
{
    CHECK_AT(offs->len == n + 1, file, line);
    CHECK_AT(offs->data != NULL && offs->data[0] == 0, file, line);
    if (offs->len != n + 1 || offs->data == NULL)
        return;
    CHECK_AT(offs->data[n] == ids->len, file, line);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        bpekit_tokens want = {0};
        if (offs->data[i] > offs->data[i + 1] || offs->data[i + 1] > ids->len) {
            bad++;
            continue;
        }
        if (bpekit_tokenizer_encode(tok, texts[i].data, texts[i].len, policy, &want, NULL) !=
                BPEKIT_OK ||
            !same_ids(ids->ids + offs->data[i], offs->data[i + 1] - offs->data[i], want.ids,
                      want.len))
            bad++;
        bpekit_tokens_free(&want);
    }
    CHECK_AT(bad == 0, file, line);
    if (bad != 0)
        fprintf(stderr, "%s:%d:   %zu of %zu texts differ from encode\n", file, line, bad, n);
}

static void test_encode_batch(void)
{
    bpekit_tokenizer *tok = special_tokenizer();
    bpekit_error *err = SENTINEL;
    bpekit_tokens ids = sentinel_tokens;
    bpekit_offsets offs = sentinel_offsets;
    if (tok == NULL)
        return;

    static char longtext[6000];
    for (size_t i = 0; i < sizeof longtext; i++)
        longtext[i] = "the<|x|>yy "[i % 11];
    const bpekit_slice base[] = {
        SLICE("hello world"),
        {NULL, 0},
        SLICE(""),
        SLICE("a<|endoftext|>b the <|pad|> end"),
        SLICE("Ünïcödé 東京 🎉 the the the"),
        SLICE("<|x|>yy <|x|>z"),
        {U8(longtext), sizeof longtext},
        {U8(corpus[1]), 0},
    };
    enum { N_BASE = sizeof base / sizeof base[0], N_BATCH = 90 };
    bpekit_slice texts[N_BATCH];
    for (size_t i = 0; i < N_BATCH; i++) {
        texts[i] = base[i % N_BASE];
        if (i % N_BASE == N_BASE - 1) /* prefixes of a corpus text, of growing length */
            texts[i].len = i % strlen(corpus[1]);
    }
    const bpekit_special_policy policies[] = {
        {.flags = BPEKIT_SPECIAL_ALLOW_ALL},
        {0},
        {.allowed = s_eot, .n_allowed = 1},
        /* a disallowed string no text holds (one that is not a special token) */
        {.allowed = s_pad_eot, .n_allowed = 2, .disallowed = s_unknown, .n_disallowed = 1},
        {.allowed = s_all, .n_allowed = 5, .flags = BPEKIT_SPECIAL_DISALLOW_ALL},
    };
    static const size_t threads[] = {0, 1, 3};
    const size_t n_threads = thread_counts(sizeof threads / sizeof threads[0]);
    for (size_t p = 0; p < sizeof policies / sizeof policies[0]; p++) {
        for (size_t t = 0; t < n_threads; t++) {
            ids = sentinel_tokens;
            offs = sentinel_offsets;
            err = SENTINEL;
            EXPECT_OK(bpekit_tokenizer_encode_batch(tok, texts, N_BATCH, &policies[p], threads[t],
                                                    &ids, &offs, &err),
                      &err);
            if (tokens_untouched(&ids) || offsets_untouched(&offs))
                continue;
            check_batch(__FILE__, __LINE__, tok, texts, N_BATCH, &policies[p], &ids, &offs);
            bpekit_tokens_free(&ids);
            bpekit_offsets_free(&offs);
            CHECK(offs.data == NULL && offs.len == 0);
            bpekit_offsets_free(&offs); /* a no-op: the first free zeroed it */
        }
    }

    /* NULL policy (tiktoken's default) on texts without special tokens. */
    const bpekit_slice plain[] = {SLICE("the cat"), SLICE(""), SLICE("東京")};
    EXPECT_OK(bpekit_tokenizer_encode_batch(tok, plain, 3, NULL, threads[n_threads - 1], &ids,
                                            &offs, &err),
              &err);
    check_batch(__FILE__, __LINE__, tok, plain, 3, NULL, &ids, &offs);
    CHECK(offs.len == 4 && offs.data[1] == offs.data[2]); /* the empty text */
    bpekit_tokens_free(&ids);
    bpekit_offsets_free(&offs);

    /* Only empty texts: no ids (NULL, 0), offsets all 0. */
    const bpekit_slice empties[] = {{NULL, 0}, SLICE("")};
    EXPECT_OK(bpekit_tokenizer_encode_batch(tok, empties, 2, NULL, threads[n_threads - 1], &ids,
                                            &offs, &err),
              &err);
    CHECK(ids.ids == NULL && ids.len == 0);
    CHECK(offs.len == 3 && offs.data != NULL && offs.data[0] == 0 && offs.data[1] == 0 &&
          offs.data[2] == 0);
    bpekit_tokens_free(&ids);
    bpekit_offsets_free(&offs);

    /* The empty batch (NULL, 0): no ids and one offset, 0. */
    for (size_t t = 0; t < n_threads; t++) {
        ids = sentinel_tokens;
        offs = sentinel_offsets;
        err = SENTINEL;
        EXPECT_OK(bpekit_tokenizer_encode_batch(tok, NULL, 0, NULL, threads[t], &ids, &offs, &err),
                  &err);
        CHECK(ids.ids == NULL && ids.len == 0);
        CHECK(offs.len == 1 && offs.data != NULL && offs.data != SENTINEL && offs.data[0] == 0);
        if (!offsets_untouched(&offs))
            bpekit_offsets_free(&offs);
    }

    /* Errors: the message names the text; neither output is touched. */
    static const uint8_t bad_utf8[] = {0xf4, 0x90, 0x80, 0x80};
    const bpekit_slice bad_text[] = {SLICE("fine"), SLICE("also fine"),
                                     {bad_utf8, sizeof bad_utf8}};
    const bpekit_slice null_elem[] = {SLICE("fine"), {NULL, 4}};
    const bpekit_slice with_special[] = {SLICE("fine"), SLICE("x <|pad|> y"), SLICE("fine")};
    const bpekit_special_policy bad_flags = {.flags = 0x10};
    const bpekit_slice bad_list[] = {{bad_utf8, sizeof bad_utf8}};
    const bpekit_special_policy bad_policy = {.allowed = bad_list, .n_allowed = 1};
    struct {
        const bpekit_slice *texts;
        size_t n;
        const bpekit_special_policy *policy;
        bpekit_status code;
        const char *needle;
    } cases[] = {
        {bad_text, 3, NULL, BPEKIT_ERR_INVALID_UTF8, "texts[2]"},
        {null_elem, 2, NULL, BPEKIT_ERR_NULL_ARG, "texts[1]"},
        {NULL, 2, NULL, BPEKIT_ERR_NULL_ARG, "texts"},
        {with_special, 3, NULL, BPEKIT_ERR_DISALLOWED_SPECIAL, "texts[1]"},
        {with_special, 3, NULL, BPEKIT_ERR_DISALLOWED_SPECIAL, "<|pad|>"},
        {plain, 3, &bad_flags, BPEKIT_ERR_INVALID_ARG, "flags"},
        {plain, 3, &bad_policy, BPEKIT_ERR_INVALID_UTF8, "policy.allowed[0]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (size_t t = 0; t < n_threads; t++) {
            ids = sentinel_tokens;
            offs = sentinel_offsets;
            EXPECT_ERR(bpekit_tokenizer_encode_batch(tok, cases[i].texts, cases[i].n,
                                                     cases[i].policy, threads[t], &ids, &offs,
                                                     &err),
                       &err, cases[i].code, cases[i].needle);
            CHECK(tokens_untouched(&ids) && offsets_untouched(&offs));
        }
    }
    /* Allowing the token makes the same batch fine. */
    EXPECT_OK(bpekit_tokenizer_encode_batch(tok, with_special, 3, &policies[3], 0, &ids, &offs,
                                            &err),
              &err);
    check_batch(__FILE__, __LINE__, tok, with_special, 3, &policies[3], &ids, &offs);
    bpekit_tokens_free(&ids);
    bpekit_offsets_free(&offs);

    ids = sentinel_tokens;
    offs = sentinel_offsets;
    EXPECT_ERR(bpekit_tokenizer_encode_batch(NULL, plain, 3, NULL, 0, &ids, &offs, &err), &err,
               BPEKIT_ERR_NULL_ARG, "tok");
    EXPECT_ERR(bpekit_tokenizer_encode_batch(tok, plain, 3, NULL, 0, NULL, &offs, &err), &err,
               BPEKIT_ERR_NULL_ARG, "ids");
    CHECK(offsets_untouched(&offs));
    EXPECT_ERR(bpekit_tokenizer_encode_batch(tok, plain, 3, NULL, 0, &ids, NULL, &err), &err,
               BPEKIT_ERR_NULL_ARG, "offsets");
    CHECK(tokens_untouched(&ids));
    CHECK(bpekit_tokenizer_encode_batch(tok, bad_text, 3, NULL, 0, &ids, &offs, NULL) ==
          BPEKIT_ERR_INVALID_UTF8);
    CHECK(tokens_untouched(&ids) && offsets_untouched(&offs));

    /* Offsets: NULL and zeroed structs are freed harmlessly, any number of times. */
    bpekit_offsets zo = {0};
    bpekit_offsets_free(NULL);
    bpekit_offsets_free(&zo);
    bpekit_offsets_free(&zo);
    CHECK(zo.data == NULL && zo.len == 0);

    bpekit_tokenizer_free(tok);
}

/* Many texts, enough for several groups on every thread count: the same ids as per-text
 * encodes, and a failure anywhere names the first failing text. */
static void test_encode_batch_many(void)
{
    bpekit_tokenizer *tok = special_tokenizer();
    bpekit_error *err = SENTINEL;
    bpekit_tokens ids = sentinel_tokens;
    bpekit_offsets offs = sentinel_offsets;
    if (tok == NULL)
        return;
    static const char line[] = "The cat sat. Ünï 東京 <|pad|>!\n";
    static char prose[4096];
    for (size_t i = 0; i < sizeof prose; i++)
        prose[i] = line[i % (sizeof line - 1)];
    enum { N = 400 };
    static bpekit_slice texts[N];
    for (size_t i = 0; i < N; i++) {
        /* from 0 to ~4 KiB, starting anywhere in the first 64 bytes (a cut character
         * would be bad UTF-8: start and end on ASCII) */
        size_t start = (i * 7) % 13, len = (i * 997) % (sizeof prose - 64);
        while (((unsigned char)prose[start] & 0x80) != 0)
            start++;
        while (len > 0 && ((unsigned char)prose[start + len - 1] & 0x80) != 0)
            len--;
        texts[i] = (bpekit_slice){U8(prose) + start, len};
    }
    static const size_t threads[] = {1, 2, 4};
    const size_t n_threads = thread_counts(sizeof threads / sizeof threads[0]);
    const bpekit_special_policy allow_all = {.flags = BPEKIT_SPECIAL_ALLOW_ALL};
    for (size_t t = 0; t < n_threads; t++) {
        EXPECT_OK(bpekit_tokenizer_encode_batch(tok, texts, N, &allow_all, threads[t], &ids,
                                                &offs, &err),
                  &err);
        if (tokens_untouched(&ids) || offsets_untouched(&offs))
            continue;
        check_batch(__FILE__, __LINE__, tok, texts, N, &allow_all, &ids, &offs);
        bpekit_tokens_free(&ids);
        bpekit_offsets_free(&offs);
        /* The default policy refuses <|pad|>: texts[0] is empty, texts[1] is the first
         * that holds it (997 bytes from byte 7). */
        ids = sentinel_tokens;
        offs = sentinel_offsets;
        EXPECT_ERR(bpekit_tokenizer_encode_batch(tok, texts, N, NULL, threads[t], &ids, &offs,
                                                 &err),
                   &err, BPEKIT_ERR_DISALLOWED_SPECIAL, "texts[1]: ");
        CHECK(tokens_untouched(&ids) && offsets_untouched(&offs));
        /* A disallowed string in late texts only: the first of them is named. */
        static bpekit_slice mixed[N];
        memcpy(mixed, texts, sizeof mixed);
        const bpekit_special_policy no_hello = {
            .allowed = s_pad_eot, .n_allowed = 2, .disallowed = s_unknown, .n_disallowed = 2};
        mixed[N - 1] = (bpekit_slice)SLICE("say hello");
        EXPECT_ERR(bpekit_tokenizer_encode_batch(tok, mixed, N, &no_hello, threads[t], &ids,
                                                 &offs, &err),
                   &err, BPEKIT_ERR_DISALLOWED_SPECIAL, "texts[399]: ");
        mixed[250] = mixed[N - 1];
        EXPECT_ERR(bpekit_tokenizer_encode_batch(tok, mixed, N, &no_hello, threads[t], &ids,
                                                 &offs, &err),
                   &err, BPEKIT_ERR_DISALLOWED_SPECIAL, "texts[250]: ");
        CHECK(tokens_untouched(&ids) && offsets_untouched(&offs));
        mixed[250] = mixed[N - 1] = texts[0];
        EXPECT_OK(bpekit_tokenizer_encode_batch(tok, mixed, N, &no_hello, threads[t], &ids,
                                                &offs, &err),
                  &err);
        if (!tokens_untouched(&ids) && !offsets_untouched(&offs)) {
            check_batch(__FILE__, __LINE__, tok, mixed, N, &no_hello, &ids, &offs);
            bpekit_tokens_free(&ids);
            bpekit_offsets_free(&offs);
        }
        ids = sentinel_tokens;
        offs = sentinel_offsets;
    }
    bpekit_tokenizer_free(tok);
}

const struct test batch_tests[] = {
    TEST(test_encode_batch),
    TEST(test_encode_batch_many),
    {NULL, NULL},
};
