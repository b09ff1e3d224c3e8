/*
 * test_patterns.c: named split patterns: each name gives the pattern it stands for; the
 * engine that splits for a tokenizer's pattern.
 */
#include "harness.h"

static void test_pattern_named(void)
{
    static const char *const names[] = {"gpt2",       "r50k_base", "p50k_base", "cl100k_base",
                                        "o200k_base", "rustbpe",   "nanochat",  "llama3",
                                        "qwen2",      "deepseek_v3"};
    bpekit_error *err = SENTINEL;
    const uint8_t *data = SENTINEL, *again = NULL;
    size_t len = SENTINEL_LEN, again_len = 0;

    /* Every documented name gives a pattern that compiles, at a static address. */
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        bpekit_trainer *t = NULL;
        data = SENTINEL;
        len = SENTINEL_LEN;
        err = SENTINEL;
        EXPECT_OK(bpekit_pattern_named(U8(names[i]), strlen(names[i]), &data, &len, &err), &err);
        CHECK(data != NULL && data != SENTINEL && len > 0 && len != SENTINEL_LEN);
        CHECK(bpekit_pattern_named(U8(names[i]), strlen(names[i]), &again, &again_len, NULL) ==
              BPEKIT_OK);
        CHECK(again == data && again_len == len);
        EXPECT_OK(bpekit_trainer_new(data, len, &t, &err), &err);
        bpekit_trainer_free(t);
    }

    /* gpt2, r50k_base and p50k_base are one pattern. */
    const uint8_t *gpt2 = NULL, *p50k = NULL;
    size_t gpt2_len = 0, p50k_len = 1;
    bpekit_pattern_named(U8("gpt2"), 4, &gpt2, &gpt2_len, NULL);
    bpekit_pattern_named(U8("p50k_base"), 9, &p50k, &p50k_len, NULL);
    CHECK(gpt2 != NULL && p50k != NULL && gpt2_len == p50k_len &&
          memcmp(gpt2, p50k, gpt2_len) == 0);

    /* cl100k_base is the default pattern (what NULL selects). */
    bpekit_trainer *t = NULL;
    bpekit_tokenizer *tok = NULL;
    const uint8_t *dflt = NULL, *cl100k = NULL;
    size_t dflt_len = 0, cl100k_len = 1;
    EXPECT_OK(bpekit_trainer_new(NULL, 0, &t, &err), &err);
    EXPECT_OK(bpekit_trainer_finish(t, 256, &tok, &err), &err);
    EXPECT_OK(bpekit_tokenizer_pattern(tok, &dflt, &dflt_len, &err), &err);
    EXPECT_OK(bpekit_pattern_named(U8("cl100k_base"), 11, &cl100k, &cl100k_len, &err), &err);
    CHECK(dflt != NULL && cl100k != NULL && dflt_len == cl100k_len &&
          memcmp(dflt, cl100k, dflt_len) == 0);
    bpekit_tokenizer_free(tok);
    bpekit_trainer_free(t);

    /* name_len bounds the name. */
    EXPECT_OK(bpekit_pattern_named(U8("cl100k_base_and_more"), 11, &data, &len, &err), &err);
    CHECK(data == cl100k && len == cl100k_len);

    /* Errors leave the out-params untouched. */
    static const uint8_t bad_utf8[] = {'g', 'p', 't', 0xff};
    data = SENTINEL;
    len = SENTINEL_LEN;
    EXPECT_ERR(bpekit_pattern_named(U8("cl100k"), 6, &data, &len, &err), &err,
               BPEKIT_ERR_INVALID_ARG, "cl100k_base"); /* the message lists the known names */
    EXPECT_ERR(bpekit_pattern_named(U8("GPT2"), 4, &data, &len, &err), &err,
               BPEKIT_ERR_INVALID_ARG, NULL);
    EXPECT_ERR(bpekit_pattern_named(bad_utf8, sizeof bad_utf8, &data, &len, &err), &err,
               BPEKIT_ERR_INVALID_ARG, NULL);
    /* NULL with length 0 is the empty name, which is unknown. */
    EXPECT_ERR(bpekit_pattern_named(NULL, 0, &data, &len, &err), &err, BPEKIT_ERR_INVALID_ARG,
               NULL);
    EXPECT_ERR(bpekit_pattern_named(NULL, 4, &data, &len, &err), &err, BPEKIT_ERR_NULL_ARG,
               "name");
    EXPECT_ERR(bpekit_pattern_named(U8("gpt2"), 4, NULL, &len, &err), &err, BPEKIT_ERR_NULL_ARG,
               "data");
    EXPECT_ERR(bpekit_pattern_named(U8("gpt2"), 4, &data, NULL, &err), &err,
               BPEKIT_ERR_NULL_ARG, "len");
    CHECK(bpekit_pattern_named(U8("nope"), 4, &data, &len, NULL) == BPEKIT_ERR_INVALID_ARG);
    CHECK(data == SENTINEL && len == SENTINEL_LEN);
}

/* Which engine splits: a static name per pattern kind; "" for NULL. */
static void test_split_engine(void)
{
    static const struct {
        const char *pattern;
        const char *engine;
    } cases[] = {
        {NULL, "named"}, /* the default, cl100k_base's */
        {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+"
         "[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
         "named"}, /* Llama 3's (rustbpe's pieces) */
        {"\\w+|\\s+|[^\\w\\s]+", "automaton"}, /* a pattern no named splitter knows */
        {"(\\w)\\1|\\w|\\s+|[^\\w\\s]", "backtracking"}, /* a back-reference */
    };
    bpekit_error *err = SENTINEL;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bpekit_trainer *t = NULL;
        bpekit_tokenizer *tok = NULL;
        const char *p = cases[i].pattern;
        EXPECT_OK(bpekit_trainer_new(U8(p), p ? strlen(p) : 0, &t, &err), &err);
        EXPECT_OK(bpekit_trainer_finish(t, 256, &tok, &err), &err);
        const char *engine = bpekit_tokenizer_split_engine(tok);
        CHECK(engine != NULL && strcmp(engine, cases[i].engine) == 0);
        CHECK(bpekit_tokenizer_split_engine(tok) == engine); /* static */
        bpekit_tokenizer_free(tok);
        bpekit_trainer_free(t);
    }
    CHECK(strcmp(bpekit_tokenizer_split_engine(NULL), "") == 0);
}

/* A split chain: digits, then letters, each step on the pieces of the one before; the
 * text between matches kept ("isolated"). A damaged chain is BPEKIT_ERR_BAD_PATTERN. */
static void test_split_chain(void)
{
    const char *chain = "(?*chain)(?*isolated:7)\\d{1,2}(?*isolated:5)[a-z]";
    const char *text = "ab12345!";
    bpekit_error *err = SENTINEL;
    bpekit_trainer *t = NULL;
    bpekit_tokenizer *tok = NULL;
    EXPECT_OK(bpekit_trainer_new(U8(chain), strlen(chain), &t, &err), &err);
    EXPECT_OK(bpekit_trainer_feed(t, U8(text), strlen(text), &err), &err);
    EXPECT_OK(bpekit_trainer_finish(t, 260, &tok, &err), &err);
    CHECK(strcmp(bpekit_tokenizer_split_engine(tok), "automaton") == 0);
    /* Pieces "a" "b" "12" "34" "5" "!": the merges join digit pairs only ("12", "34", then
     * one of their repeats), never a letter with a letter across pieces. */
    bpekit_tokens ids = {0};
    EXPECT_OK(bpekit_tokenizer_encode_ordinary(tok, U8(text), strlen(text), &ids, &err), &err);
    CHECK(ids.len == 6 && ids.ids[0] == 'a' && ids.ids[1] == 'b' && ids.ids[2] >= 256 && ids.ids[3] >= 256 &&
          ids.ids[4] == '5' && ids.ids[5] == '!');
    bpekit_tokens_free(&ids);
    bpekit_tokenizer_free(tok);
    bpekit_trainer_free(t);
    const char *bad = "(?*chain)(?*isolated:60)\\d";
    t = SENTINEL;
    EXPECT_ERR(bpekit_trainer_new(U8(bad), strlen(bad), &t, &err), &err, BPEKIT_ERR_BAD_PATTERN, "split chain");
    CHECK(t == SENTINEL);
}

const struct test patterns_tests[] = {
    TEST(test_pattern_named),
    TEST(test_split_engine),
    TEST(test_split_chain),
    {NULL, NULL},
};
