/*
 * test_completion.c: encoding for completion (tiktoken's encode_with_unstable): stable ids
 * and the completions, sorted and distinct.
 */
#include "harness.h"

/* Checks one successful result: `stable` is a prefix of encode(text, policy), the offsets
 * are n + 1 non-decreasing values from 0 to completions->len, the sequences are sorted
 * and distinct, and stable + each sequence decodes to bytes that start with the text. */
static void check_unstable(const char *file, int line, const bpekit_tokenizer *tok,
                           const char *text, const bpekit_special_policy *policy,
                           const bpekit_tokens *stable, const bpekit_tokens *completions,
                           const bpekit_offsets *offsets)
{
    bpekit_tokens full = {0};
    size_t n = strlen(text);
    CHECK_AT(bpekit_tokenizer_encode(tok, U8(text), n, policy, &full, NULL) == BPEKIT_OK, file,
             line);
    CHECK_AT(stable->len <= full.len &&
                 same_ids(stable->ids, stable->len, full.ids, stable->len),
             file, line);
    bpekit_tokens_free(&full);
    CHECK_AT(offsets->len >= 1 && offsets->data != NULL && offsets->data[0] == 0, file, line);
    if (offsets->len < 1 || offsets->data == NULL)
        return;
    CHECK_AT(offsets->data[offsets->len - 1] == completions->len, file, line);
    size_t bad = 0;
    uint32_t joined[256];
    for (size_t i = 0; i + 1 < offsets->len; i++) {
        size_t a = offsets->data[i], b = offsets->data[i + 1];
        if (a >= b || b > completions->len || stable->len + (b - a) > 256) {
            bad++;
            continue;
        }
        if (i > 0) { /* sorted and distinct: the previous sequence compares less */
            size_t pa = offsets->data[i - 1], pn = a - pa, k = 0;
            while (k < pn && k < b - a && completions->ids[pa + k] == completions->ids[a + k])
                k++;
            int less = k < pn && k < b - a ? completions->ids[pa + k] < completions->ids[a + k]
                                           : pn < b - a;
            if (!less)
                bad++;
        }
        if (stable->len > 0)
            memcpy(joined, stable->ids, stable->len * sizeof *joined);
        memcpy(joined + stable->len, completions->ids + a, (b - a) * sizeof *joined);
        bpekit_bytes out = {0};
        if (bpekit_tokenizer_decode(tok, joined, stable->len + (b - a), &out, NULL) != BPEKIT_OK ||
            out.len < n || memcmp(out.data, text, n) != 0)
            bad++;
        bpekit_bytes_free(&out);
    }
    CHECK_AT(bad == 0, file, line);
    if (bad != 0)
        fprintf(stderr, "%s:%d:   %zu of %zu completions of \"%s\" are wrong\n", file, line, bad,
                offsets->len - 1, text);
}

static void test_encode_with_unstable(void)
{
    bpekit_tokenizer *tok = special_tokenizer();
    bpekit_error *err = SENTINEL;
    bpekit_tokens stable = sentinel_tokens, completions = sentinel_tokens;
    bpekit_offsets offsets = sentinel_offsets;
    const bpekit_special_policy allow_all = {.flags = BPEKIT_SPECIAL_ALLOW_ALL};
    if (tok == NULL)
        return;

    /* "in th": " th" is " " + "th", and " " is whitespace, but "n" before it is not: the
     * unstable part is " th". It may become " the" (258), or stay " " + "th". */
    EXPECT_OK(bpekit_tokenizer_encode_with_unstable(tok, U8("in th"), 5, NULL, &stable,
                                                    &completions, &offsets, &err),
              &err);
    CHECK(same_ids(stable.ids, stable.len, (const uint32_t[]){'i', 'n'}, 2));
    CHECK(offsets.len == 3 && offsets.data[0] == 0 && offsets.data[1] == 2 &&
          offsets.data[2] == 3);
    CHECK(same_ids(completions.ids, completions.len, (const uint32_t[]){' ', 256, 258}, 3));
    check_unstable(__FILE__, __LINE__, tok, "in th", NULL, &stable, &completions, &offsets);
    bpekit_tokens_free(&stable);
    bpekit_tokens_free(&completions);
    bpekit_offsets_free(&offsets);
    CHECK(offsets.data == NULL && offsets.len == 0);
    bpekit_offsets_free(&offsets); /* a no-op: the first free zeroed it */

    /* Text ending in an allowed special token: everything is stable, no completions. */
    EXPECT_OK(bpekit_tokenizer_encode_with_unstable(tok, U8("the<|endoftext|>"), 16, &allow_all,
                                                    &stable, &completions, &offsets, &err),
              &err);
    CHECK(same_ids(stable.ids, stable.len, (const uint32_t[]){257, 259}, 2));
    CHECK(completions.ids == NULL && completions.len == 0);
    CHECK(offsets.len == 1 && offsets.data != NULL && offsets.data[0] == 0);
    bpekit_tokens_free(&stable);
    bpekit_tokens_free(&completions);
    bpekit_offsets_free(&offsets);

    /* Empty text (NULL, 0): nothing at all, one offset. err may be NULL. */
    CHECK(bpekit_tokenizer_encode_with_unstable(tok, NULL, 0, NULL, &stable, &completions,
                                                &offsets, NULL) == BPEKIT_OK);
    CHECK(stable.ids == NULL && stable.len == 0 && completions.ids == NULL &&
          completions.len == 0);
    CHECK(offsets.len == 1 && offsets.data != NULL && offsets.data[0] == 0);
    bpekit_offsets_free(&offsets);

    /* The invariants on assorted endings: mid-word, spaces, newlines, punctuation,
     * multi-byte characters, a special token treated as text. */
    static const char *const texts[] = {
        "the the", "the  ", "x.\n\n", "the \n ", "a\n\n  \t", "hello!!", "caf\xc3\xa9",
        "emoji \xf0\x9f\x8e\x89", "\xe6\x9d\xb1\xe4\xba\xac", "<|endoftext|>", " ", "\n",
    };
    const bpekit_special_policy none = {0};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        const bpekit_special_policy *policy = i == 9 ? &none : NULL;
        EXPECT_OK(bpekit_tokenizer_encode_with_unstable(tok, U8(texts[i]), strlen(texts[i]),
                                                        policy, &stable, &completions,
                                                        &offsets, &err),
                  &err);
        CHECK(offsets.len >= 2); /* a text not ending in a special token has completions */
        check_unstable(__FILE__, __LINE__, tok, texts[i], policy, &stable, &completions,
                       &offsets);
        bpekit_tokens_free(&stable);
        bpekit_tokens_free(&completions);
        bpekit_offsets_free(&offsets);
    }
    for (size_t i = 0; i < N_CORPUS; i++) {
        EXPECT_OK(bpekit_tokenizer_encode_with_unstable(tok, U8(corpus[i]), strlen(corpus[i]),
                                                        &allow_all, &stable, &completions,
                                                        &offsets, &err),
                  &err);
        check_unstable(__FILE__, __LINE__, tok, corpus[i], &allow_all, &stable, &completions,
                       &offsets);
        bpekit_tokens_free(&stable);
        bpekit_tokens_free(&completions);
        bpekit_offsets_free(&offsets);
    }

    /* Errors leave all three outputs untouched. */
    struct {
        const char *text;
        size_t len;
        const bpekit_special_policy *policy;
        bpekit_status code;
        const char *needle;
    } bad[] = {
        {"a <|endoftext|>", 15, NULL, BPEKIT_ERR_DISALLOWED_SPECIAL, "<|endoftext|>"},
        {"<|x|>yy", 7, NULL, BPEKIT_ERR_DISALLOWED_SPECIAL, "<|x|>y"}, /* leftmost-longest */
        {"a\xff", 2, NULL, BPEKIT_ERR_INVALID_UTF8, "text"},
        {NULL, 3, NULL, BPEKIT_ERR_NULL_ARG, "text"},
        {"a", 1, &(const bpekit_special_policy){.flags = 4}, BPEKIT_ERR_INVALID_ARG, "flags"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        stable = completions = sentinel_tokens;
        offsets = sentinel_offsets;
        EXPECT_ERR(bpekit_tokenizer_encode_with_unstable(tok, U8(bad[i].text), bad[i].len,
                                                         bad[i].policy, &stable, &completions,
                                                         &offsets, &err),
                   &err, bad[i].code, bad[i].needle);
        CHECK(tokens_untouched(&stable) && tokens_untouched(&completions));
        CHECK(offsets_untouched(&offsets));
    }
    EXPECT_ERR(bpekit_tokenizer_encode_with_unstable(NULL, U8("a"), 1, NULL, &stable,
                                                     &completions, &offsets, &err),
               &err, BPEKIT_ERR_NULL_ARG, "tok");
    EXPECT_ERR(bpekit_tokenizer_encode_with_unstable(tok, U8("a"), 1, NULL, NULL, &completions,
                                                     &offsets, &err),
               &err, BPEKIT_ERR_NULL_ARG, "stable");
    EXPECT_ERR(bpekit_tokenizer_encode_with_unstable(tok, U8("a"), 1, NULL, &stable, NULL,
                                                     &offsets, &err),
               &err, BPEKIT_ERR_NULL_ARG, "completions");
    EXPECT_ERR(bpekit_tokenizer_encode_with_unstable(tok, U8("a"), 1, NULL, &stable,
                                                     &completions, NULL, &err),
               &err, BPEKIT_ERR_NULL_ARG, "offsets");
    CHECK(tokens_untouched(&stable) && tokens_untouched(&completions));
    CHECK(offsets_untouched(&offsets));
    CHECK(bpekit_tokenizer_encode_with_unstable(tok, U8("<|pad|>"), 7, NULL, &stable,
                                                &completions, &offsets, NULL) ==
          BPEKIT_ERR_DISALLOWED_SPECIAL);
    CHECK(tokens_untouched(&stable) && offsets_untouched(&offsets));
    bpekit_tokenizer_free(tok);
}

const struct test completion_tests[] = {
    TEST(test_encode_with_unstable),
    {NULL, NULL},
};
