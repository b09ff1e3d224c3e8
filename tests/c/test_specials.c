/*
 * test_specials.c: special tokens: construction with special tokens and their listing, and
 * encoding under a special-token policy (tiktoken's allowed/disallowed rules, leftmost-
 * longest matching, count == encode).
 */
#include "harness.h"

static void test_tokenizer_new(void)
{
    static struct blob b, bad;
    bpekit_tokenizer *tok = special_tokenizer(), *plain = SENTINEL;
    bpekit_error *err = SENTINEL;
    if (tok == NULL)
        return;
    make_ranks(&b, -1);

    /* The specials count in the vocab size (the largest id + 1); the gap is unknown. */
    CHECK(bpekit_tokenizer_vocab_size(tok) == 301);
    CHECK(bpekit_tokenizer_special_count(tok) == N_FIXTURE_SPECIALS);
    CHECK(bpekit_tokenizer_special_count(NULL) == 0);

    /* Listed in id order, whatever order they were given in. */
    static const struct {
        const char *text;
        uint32_t id;
    } by_id[] = {{"<|endoftext|>", 259}, {"<|x|>y", 260}, {"<|x|>", 261},
                 {"|x|>yy", 262},        {"<|pad|>", 300}};
    for (size_t i = 0; i < sizeof by_id / sizeof by_id[0]; i++) {
        const uint8_t *text = SENTINEL, *again = NULL;
        size_t len = SENTINEL_LEN;
        uint32_t id = 0xDEADBEEF;
        err = SENTINEL;
        EXPECT_OK(bpekit_tokenizer_special_token(tok, i, &text, &len, &id, &err), &err);
        size_t want = strlen(by_id[i].text);
        CHECK(id == by_id[i].id);
        CHECK(text != NULL && len == want && memcmp(text, by_id[i].text, want) == 0);
        /* Borrowed from tok: the same storage every time. */
        CHECK(bpekit_tokenizer_special_token(tok, i, &again, &len, &id, NULL) == BPEKIT_OK);
        CHECK(again == text);
        /* A special token's id is a token: token_bytes and decode give its text. */
        const uint8_t *data = NULL;
        size_t dlen = 0;
        EXPECT_OK(bpekit_tokenizer_token_bytes(tok, by_id[i].id, &data, &dlen, &err), &err);
        CHECK(dlen == want && data != NULL && memcmp(data, by_id[i].text, want) == 0);
        bpekit_bytes dec = {0};
        EXPECT_OK(bpekit_tokenizer_decode(tok, &by_id[i].id, 1, &dec, &err), &err);
        CHECK(dec.len == want && memcmp(dec.data, by_id[i].text, want) == 0);
        bpekit_bytes_free(&dec);
    }
    uint32_t gap = 280;
    const uint8_t *data = SENTINEL;
    size_t len = SENTINEL_LEN;
    EXPECT_ERR(bpekit_tokenizer_token_bytes(tok, gap, &data, &len, &err), &err,
               BPEKIT_ERR_UNKNOWN_TOKEN, "280");
    CHECK(data == SENTINEL && len == SENTINEL_LEN);

    /* The export holds the ranks only (tiktoken files carry no special tokens). */
    bpekit_bytes exported = export_ranks(tok);
    CHECK(exported.len == b.len && memcmp(exported.data, b.data, b.len) == 0);
    bpekit_bytes_free(&exported);

    /* special_token errors leave every out-param untouched. */
    const uint8_t *text = SENTINEL;
    uint32_t id = 0xDEADBEEF;
    len = SENTINEL_LEN;
    EXPECT_ERR(bpekit_tokenizer_special_token(NULL, 0, &text, &len, &id, &err), &err,
               BPEKIT_ERR_NULL_ARG, "tok");
    EXPECT_ERR(bpekit_tokenizer_special_token(tok, 0, NULL, &len, &id, &err), &err,
               BPEKIT_ERR_NULL_ARG, "text");
    EXPECT_ERR(bpekit_tokenizer_special_token(tok, 0, &text, NULL, &id, &err), &err,
               BPEKIT_ERR_NULL_ARG, "len");
    EXPECT_ERR(bpekit_tokenizer_special_token(tok, 0, &text, &len, NULL, &err), &err,
               BPEKIT_ERR_NULL_ARG, "id");
    CHECK(text == SENTINEL && len == SENTINEL_LEN && id == 0xDEADBEEF);
    EXPECT_ERR(bpekit_tokenizer_special_token(tok, N_FIXTURE_SPECIALS, &text, &len, &id, &err),
               &err, BPEKIT_ERR_INVALID_ARG, "out of range");
    EXPECT_ERR(bpekit_tokenizer_special_token(tok, SIZE_MAX, &text, &len, &id, &err), &err,
               BPEKIT_ERR_INVALID_ARG, NULL);
    CHECK(bpekit_tokenizer_special_token(tok, 99, &text, &len, &id, NULL) ==
          BPEKIT_ERR_INVALID_ARG);
    CHECK(text == SENTINEL && len == SENTINEL_LEN && id == 0xDEADBEEF);
    bpekit_tokenizer_free(tok);

    /* No specials (NULL, 0): the same as from_tiktoken; err == NULL accepted. */
    CHECK(bpekit_tokenizer_new(U8(b.data), b.len, NULL, 0, NULL, 0, &plain, NULL) == BPEKIT_OK);
    CHECK(plain != NULL && plain != SENTINEL);
    CHECK(bpekit_tokenizer_special_count(plain) == 0);
    CHECK(bpekit_tokenizer_vocab_size(plain) == 259);
    EXPECT_ERR(bpekit_tokenizer_special_token(plain, 0, &text, &len, &id, &err), &err,
               BPEKIT_ERR_INVALID_ARG, NULL);
    bpekit_tokenizer_free(plain);

    /* An explicit pattern and a special token whose text is also a token's bytes ("the",
     * rank 257): allowed, since only ids must not collide. */
    bpekit_special_token the = {SLICE("the"), 400};
    tok = NULL;
    EXPECT_OK(bpekit_tokenizer_new(U8(b.data), b.len, U8("\\S+|\\s+"), 7, &the, 1, &tok, &err),
              &err);
    if (tok != NULL) {
        bpekit_special_policy all = {.flags = BPEKIT_SPECIAL_ALLOW_ALL};
        EXPECT_IDS(tok, "the", &all, 400);
        const bpekit_special_policy none = {0};
        EXPECT_IDS(tok, "the", &none, 257);
    }
    bpekit_tokenizer_free(tok);

    /* Errors; *out untouched. */
    static const uint8_t bad_utf8[] = {'<', 0xff, '>'};
    bpekit_special_token ok1 = {SLICE("<|a|>"), 300};
    struct {
        bpekit_special_token second; /* appended after ok1 */
        bpekit_status code;
        const char *needle;
    } cases[] = {
        {{{bad_utf8, sizeof bad_utf8}, 301}, BPEKIT_ERR_INVALID_UTF8, "specials[1].text"},
        {{{NULL, 3}, 301}, BPEKIT_ERR_NULL_ARG, "specials[1].text"},
        {{{NULL, 0}, 301}, BPEKIT_ERR_INVALID_ARG, "empty"},
        {{{U8("<|b|>"), 0}, 301}, BPEKIT_ERR_INVALID_ARG, "empty"},
        {{SLICE("<|a|>"), 301}, BPEKIT_ERR_INVALID_ARG, "<|a|>"},    /* repeated text */
        {{SLICE("<|b|>"), 65}, BPEKIT_ERR_INVALID_ARG, "65"},        /* id of rank 'A' */
        {{SLICE("<|b|>"), 258}, BPEKIT_ERR_INVALID_ARG, "258"},      /* id of rank " the" */
        {{SLICE("<|b|>"), UINT32_MAX}, BPEKIT_ERR_INVALID_ARG, NULL}, /* would need 4G ids */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bpekit_special_token sp[2] = {ok1, cases[i].second};
        bpekit_tokenizer *t = SENTINEL;
        bpekit_status st = bpekit_tokenizer_new(U8(b.data), b.len, NULL, 0, sp, 2, &t, &err);
        if (st != cases[i].code)
            fprintf(stderr, "  (tokenizer_new case %zu)\n", i);
        EXPECT_ERR(st, &err, cases[i].code, cases[i].needle);
        CHECK(t == SENTINEL);
        if (t != SENTINEL)
            bpekit_tokenizer_free(t);
    }
    /* Two texts may share an id (tiktoken's o200k_harmony has such a pair): both encode
     * to it, and it decodes to the first given. */
    {
        bpekit_special_token sp[2] = {ok1, {SLICE("<|b|>"), 300}};
        bpekit_tokenizer *t = NULL;
        EXPECT_OK(bpekit_tokenizer_new(U8(b.data), b.len, NULL, 0, sp, 2, &t, &err), &err);
        bpekit_special_policy all = {.flags = BPEKIT_SPECIAL_ALLOW_ALL};
        EXPECT_IDS(t, "<|b|><|a|>", &all, 300, 300);
        bpekit_bytes out = {0};
        const uint32_t id = 300;
        EXPECT_OK(bpekit_tokenizer_decode(t, &id, 1, &out, &err), &err);
        CHECK(out.len == 5 && memcmp(out.data, "<|a|>", 5) == 0);
        bpekit_bytes_free(&out);
        CHECK(bpekit_tokenizer_special_count(t) == 2);
        bpekit_tokenizer_free(t);
    }
    tok = SENTINEL;
    EXPECT_ERR(bpekit_tokenizer_new(U8(b.data), b.len, NULL, 0, &ok1, 1, NULL, &err), &err,
               BPEKIT_ERR_NULL_ARG, "out");
    EXPECT_ERR(bpekit_tokenizer_new(NULL, 5, NULL, 0, &ok1, 1, &tok, &err), &err,
               BPEKIT_ERR_NULL_ARG, "ranks");
    EXPECT_ERR(bpekit_tokenizer_new(U8(b.data), b.len, NULL, 0, NULL, 2, &tok, &err), &err,
               BPEKIT_ERR_NULL_ARG, "specials");
    EXPECT_ERR(bpekit_tokenizer_new(U8(b.data), b.len, bad_utf8, sizeof bad_utf8, &ok1, 1, &tok,
                                    &err),
               &err, BPEKIT_ERR_INVALID_UTF8, "pattern");
    EXPECT_ERR(bpekit_tokenizer_new(U8(b.data), b.len, U8("(?<"), 3, &ok1, 1, &tok, &err), &err,
               BPEKIT_ERR_BAD_PATTERN, NULL);
    make_ranks(&bad, 'q');
    EXPECT_ERR(bpekit_tokenizer_new(U8(bad.data), bad.len, NULL, 0, &ok1, 1, &tok, &err), &err,
               BPEKIT_ERR_BAD_RANKS, "0x71");
    CHECK(bpekit_tokenizer_new(U8(bad.data), bad.len, NULL, 0, &ok1, 1, &tok, NULL) ==
          BPEKIT_ERR_BAD_RANKS);
    CHECK(tok == SENTINEL);
}

static void test_encode_policy(void)
{
    bpekit_tokenizer *tok = special_tokenizer();
    bpekit_error *err = SENTINEL;
    bpekit_tokens out = sentinel_tokens;
    if (tok == NULL)
        return;

    const bpekit_special_policy allow_all = {.flags = BPEKIT_SPECIAL_ALLOW_ALL};
    const bpekit_special_policy allow_all_disallow_all = {
        .flags = BPEKIT_SPECIAL_ALLOW_ALL | BPEKIT_SPECIAL_DISALLOW_ALL};
    const bpekit_special_policy none = {0}; /* nothing allowed, nothing checked */
    const bpekit_special_policy disallow_all = {.flags = BPEKIT_SPECIAL_DISALLOW_ALL};
    const bpekit_special_policy eot_only = {.allowed = s_eot, .n_allowed = 1}; /* no check */
    const bpekit_special_policy eot_strict = {.allowed = s_eot, .n_allowed = 1,
                                              .flags = BPEKIT_SPECIAL_DISALLOW_ALL};
    const bpekit_special_policy pad_disallowed = {.disallowed = s_pad, .n_disallowed = 1};
    const bpekit_special_policy eot_both = {.allowed = s_eot, .n_allowed = 1,
                                            .disallowed = s_eot, .n_disallowed = 1};
    const bpekit_special_policy unknown = {.allowed = s_unknown, .n_allowed = 2,
                                           .disallowed = s_unknown, .n_disallowed = 2};
    const bpekit_special_policy far_only = {.allowed = s_far, .n_allowed = 1};

    /* Plain text: every policy gives the ordinary encoding ("the" is 257, " the" 258). */
    EXPECT_IDS(tok, "the the", NULL, 257, 258);
    EXPECT_IDS(tok, "the the", &allow_all, 257, 258);
    EXPECT_IDS(tok, "the the", &none, 257, 258);
    out = sentinel_tokens;
    EXPECT_OK(bpekit_tokenizer_encode(tok, NULL, 0, NULL, &out, &err), &err);
    CHECK(out.ids == NULL && out.len == 0);

    /* Allowed special text becomes its id; pieces around it are ordinary text. */
    EXPECT_IDS(tok, "a<|endoftext|>b", &allow_all, 'a', 259, 'b');
    EXPECT_IDS(tok, "a<|endoftext|>b", &allow_all_disallow_all, 'a', 259, 'b');
    EXPECT_IDS(tok, "a<|endoftext|>b", &eot_only, 'a', 259, 'b');
    EXPECT_IDS(tok, "a<|endoftext|>b", &eot_strict, 'a', 259, 'b');
    EXPECT_IDS(tok, "<|endoftext|><|endoftext|>the", &eot_only, 259, 259, 257);
    EXPECT_IDS(tok, "<|pad|>\n<|endoftext|>", &allow_all, 300, '\n', 259);

    /* Not allowed and not checked: ordinary text. */
    EXPECT_AS_ORDINARY(tok, "a<|endoftext|>b", &none);
    EXPECT_AS_ORDINARY(tok, "x <|pad|> y", &eot_only);
    EXPECT_AS_ORDINARY(tok, "<|endoftext|>", &pad_disallowed);
    /* Allowed texts that are not special tokens are ignored (no error, no special id). */
    const bpekit_special_policy unknown_allowed = {.allowed = s_unknown, .n_allowed = 2};
    EXPECT_AS_ORDINARY(tok, "hello <|nope|>", &unknown_allowed);
    /* Disallowed texts need not be special tokens (tiktoken searches any string given):
     * the leftmost one found is named. */
    EXPECT_AS_ORDINARY(tok, "no such text here", &unknown);
    const bpekit_special_policy unknown_and_all = {.allowed = s_unknown, .n_allowed = 2,
                                                   .flags = BPEKIT_SPECIAL_ALLOW_ALL};
    EXPECT_IDS(tok, "<|pad|>", &unknown_and_all, 300);

    /* Disallowed text is an error naming the token; *out untouched. NULL is tiktoken's
     * default: every special token disallowed. */
    struct {
        const char *text;
        const bpekit_special_policy *policy;
        const char *needle;
    } disallowed[] = {
        {"hello <|endoftext|>", NULL, "<|endoftext|>"},
        {"hello <|endoftext|>", &disallow_all, "<|endoftext|>"},
        {"a<|endoftext|>b <|pad|>", &eot_strict, "<|pad|>"},
        {"<|pad|>", &pad_disallowed, "<|pad|>"},
        {"<|endoftext|>", &eot_both, "<|endoftext|>"}, /* tiktoken: the check comes first */
        {"<|x|>yy", NULL, "<|x|>y"},                   /* leftmost, then longest */
        {"ab|x|>yy <|pad|>", NULL, "|x|>yy"},           /* the leftmost one is named */
        {"say hello <|nope|>", &unknown, "'hello'"},    /* not special tokens, still found */
        {"<|nope|> hello", &unknown, "'<|nope|>'"},
    };
    for (size_t i = 0; i < sizeof disallowed / sizeof disallowed[0]; i++) {
        const char *text = disallowed[i].text;
        size_t count = SENTINEL_LEN;
        out = sentinel_tokens;
        EXPECT_ERR(bpekit_tokenizer_encode(tok, U8(text), strlen(text), disallowed[i].policy,
                                           &out, &err),
                   &err, BPEKIT_ERR_DISALLOWED_SPECIAL, disallowed[i].needle);
        CHECK(tokens_untouched(&out));
        EXPECT_ERR(bpekit_tokenizer_count(tok, U8(text), strlen(text), disallowed[i].policy,
                                          &count, &err),
                   &err, BPEKIT_ERR_DISALLOWED_SPECIAL, disallowed[i].needle);
        CHECK(count == SENTINEL_LEN);
    }
    CHECK(bpekit_tokenizer_encode(tok, U8("<|pad|>"), 7, NULL, &out, NULL) ==
          BPEKIT_ERR_DISALLOWED_SPECIAL);
    CHECK(tokens_untouched(&out));

    /* Leftmost-longest among overlapping special tokens. */
    EXPECT_IDS(tok, "<|x|>y", &allow_all, 260);
    EXPECT_IDS(tok, "<|x|>yy", &allow_all, 260, 'y');  /* not "<" + "|x|>yy" */
    EXPECT_IDS(tok, "<|x|>z", &allow_all, 261, 'z');
    EXPECT_IDS(tok, "<|x|><|x|>y", &allow_all, 261, 260);
    EXPECT_IDS(tok, "a|x|>yy", &allow_all, 'a', 262);
    /* A match that is not allowed is skipped one character on (tiktoken's loop), so an
     * allowed token starting inside it is still found. */
    EXPECT_IDS(tok, "<|x|>yy", &far_only, '<', 262);

    /* Unknown flags. */
    static const uint32_t bad_flags[] = {4, 8, 0x80000000u, 0xffffffffu};
    for (size_t i = 0; i < sizeof bad_flags / sizeof bad_flags[0]; i++) {
        bpekit_special_policy p = {.flags = bad_flags[i]};
        size_t count = SENTINEL_LEN;
        out = sentinel_tokens;
        EXPECT_ERR(bpekit_tokenizer_encode(tok, U8("the"), 3, &p, &out, &err), &err,
                   BPEKIT_ERR_INVALID_ARG, "flags");
        CHECK(tokens_untouched(&out));
        EXPECT_ERR(bpekit_tokenizer_count(tok, U8("the"), 3, &p, &count, &err), &err,
                   BPEKIT_ERR_INVALID_ARG, "flags");
        CHECK(count == SENTINEL_LEN);
    }

    /* Bad policy lists: the message names the list and the element. */
    static const uint8_t bad_utf8[] = {'<', '|', 0xc3, '|', '>'};
    const bpekit_slice bad_first[] = {{bad_utf8, sizeof bad_utf8}};
    const bpekit_slice bad_second[] = {SLICE("<|pad|>"), {bad_utf8, sizeof bad_utf8}};
    const bpekit_slice null_elem[] = {{NULL, 2}};
    struct {
        bpekit_special_policy policy;
        bpekit_status code;
        const char *needle;
    } bad_policies[] = {
        {{.allowed = bad_first, .n_allowed = 1}, BPEKIT_ERR_INVALID_UTF8, "policy.allowed[0]"},
        {{.disallowed = bad_second, .n_disallowed = 2}, BPEKIT_ERR_INVALID_UTF8,
         "policy.disallowed[1]"},
        {{.allowed = NULL, .n_allowed = 1}, BPEKIT_ERR_NULL_ARG, "policy.allowed"},
        {{.disallowed = NULL, .n_disallowed = 3}, BPEKIT_ERR_NULL_ARG, "policy.disallowed"},
        {{.allowed = null_elem, .n_allowed = 1}, BPEKIT_ERR_NULL_ARG, "policy.allowed[0]"},
    };
    for (size_t i = 0; i < sizeof bad_policies / sizeof bad_policies[0]; i++) {
        size_t count = SENTINEL_LEN;
        out = sentinel_tokens;
        EXPECT_ERR(bpekit_tokenizer_encode(tok, U8("the"), 3, &bad_policies[i].policy, &out, &err),
                   &err, bad_policies[i].code, bad_policies[i].needle);
        CHECK(tokens_untouched(&out));
        EXPECT_ERR(bpekit_tokenizer_count(tok, U8("the"), 3, &bad_policies[i].policy, &count,
                                          &err),
                   &err, bad_policies[i].code, bad_policies[i].needle);
        CHECK(count == SENTINEL_LEN);
    }

    /* A list its flag overrides is not read: bad entries or NULL arrays there are fine. */
    {
        const bpekit_special_policy not_read[] = {
            {.allowed = bad_second, .n_allowed = 2, .flags = BPEKIT_SPECIAL_ALLOW_ALL},
            {.allowed = NULL, .n_allowed = 7, .flags = BPEKIT_SPECIAL_ALLOW_ALL},
            {.disallowed = bad_first, .n_disallowed = 1, .flags = BPEKIT_SPECIAL_DISALLOW_ALL},
            {.disallowed = NULL, .n_disallowed = 3, .flags = BPEKIT_SPECIAL_DISALLOW_ALL},
        };
        for (size_t i = 0; i < sizeof not_read / sizeof not_read[0]; i++) {
            out = sentinel_tokens;
            EXPECT_OK(bpekit_tokenizer_encode(tok, U8("the"), 3, &not_read[i], &out, &err), &err);
            CHECK(!tokens_untouched(&out));
            bpekit_tokens_free(&out);
        }
    }

    /* NULL arguments and bad text, for encode and count. */
    static const uint8_t bad_text[] = {'o', 'k', 0xed, 0xa0, 0x80};
    size_t count = SENTINEL_LEN;
    out = sentinel_tokens;
    EXPECT_ERR(bpekit_tokenizer_encode(NULL, U8("x"), 1, NULL, &out, &err), &err,
               BPEKIT_ERR_NULL_ARG, "tok");
    EXPECT_ERR(bpekit_tokenizer_encode(tok, U8("x"), 1, NULL, NULL, &err), &err,
               BPEKIT_ERR_NULL_ARG, "out");
    EXPECT_ERR(bpekit_tokenizer_encode(tok, NULL, 1, NULL, &out, &err), &err, BPEKIT_ERR_NULL_ARG,
               "text");
    EXPECT_ERR(bpekit_tokenizer_encode(tok, bad_text, sizeof bad_text, &allow_all, &out, &err),
               &err, BPEKIT_ERR_INVALID_UTF8, "text");
    CHECK(tokens_untouched(&out));
    EXPECT_ERR(bpekit_tokenizer_count(NULL, U8("x"), 1, NULL, &count, &err), &err,
               BPEKIT_ERR_NULL_ARG, "tok");
    EXPECT_ERR(bpekit_tokenizer_count(tok, U8("x"), 1, NULL, NULL, &err), &err,
               BPEKIT_ERR_NULL_ARG, "out");
    EXPECT_ERR(bpekit_tokenizer_count(tok, NULL, 1, NULL, &count, &err), &err,
               BPEKIT_ERR_NULL_ARG, "text");
    EXPECT_ERR(bpekit_tokenizer_count(tok, bad_text, sizeof bad_text, NULL, &count, &err), &err,
               BPEKIT_ERR_INVALID_UTF8, "text");
    CHECK(bpekit_tokenizer_count(tok, bad_text, sizeof bad_text, NULL, &count, NULL) ==
          BPEKIT_ERR_INVALID_UTF8);
    CHECK(count == SENTINEL_LEN);
    err = SENTINEL;
    EXPECT_OK(bpekit_tokenizer_count(tok, NULL, 0, NULL, &count, &err), &err);
    CHECK(count == 0);

    /* count == the length of encode, or the same error, for every policy and text. */
    static char longtext[3000];
    for (size_t i = 0; i < sizeof longtext - 1; i++)
        longtext[i] = "the <|endoftext|> cat"[i % 21];
    const char *texts[] = {
        "", "the the", "a<|endoftext|>b", "<|x|>yy <|x|>z a|x|>yy", "x <|pad|> y",
        "Ünïcödé 東京 🎉 <|endoftext|>", "<|endoftext|><|endoftext|>", longtext,
        corpus[0], corpus[3],
    };
    const bpekit_special_policy *policies[] = {
        NULL,      &allow_all, &allow_all_disallow_all, &none,     &disallow_all,
        &eot_only, &eot_strict, &pad_disallowed,        &eot_both, &unknown, &far_only,
    };
    int count_mismatch = 0, count_ok = 0;
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        for (size_t j = 0; j < sizeof policies / sizeof policies[0]; j++) {
            bpekit_tokens ids = {0};
            size_t n = SENTINEL_LEN;
            size_t len = strlen(texts[i]);
            bpekit_status se = bpekit_tokenizer_encode(tok, U8(texts[i]), len, policies[j], &ids,
                                                       NULL);
            bpekit_status sc = bpekit_tokenizer_count(tok, U8(texts[i]), len, policies[j], &n,
                                                      NULL);
            if (se != sc || (se == BPEKIT_OK && n != ids.len) ||
                (se != BPEKIT_OK && n != SENTINEL_LEN)) {
                count_mismatch++;
                fprintf(stderr, "  (count vs encode: text %zu, policy %zu: %d/%d, %zu vs %zu)\n",
                        i, j, (int)se, (int)sc, n, ids.len);
            }
            count_ok += se == BPEKIT_OK;
            bpekit_tokens_free(&ids);
        }
    }
    CHECK(count_mismatch == 0);
    CHECK(count_ok > 40); /* most combinations succeed: the comparison means something */

    /* A tokenizer without special tokens: any policy is the ordinary encoding. */
    bpekit_tokenizer *plain = ranks_tokenizer();
    if (plain != NULL) {
        EXPECT_AS_ORDINARY(plain, "a<|endoftext|>b", NULL);
        EXPECT_AS_ORDINARY(plain, "a<|endoftext|>b", &allow_all);
        EXPECT_AS_ORDINARY(plain, "a<|endoftext|>b", &eot_strict);
    }
    bpekit_tokenizer_free(plain);
    bpekit_tokenizer_free(tok);
}

const struct test specials_tests[] = {
    TEST(test_tokenizer_new),
    TEST(test_encode_policy),
    {NULL, NULL},
};
