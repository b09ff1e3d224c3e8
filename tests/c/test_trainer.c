/*
 * test_trainer.c: the trainer: creation, feeding (one text, batches), finishing (vocab
 * sizes, a regex that gives up, a huge vocab size), special tokens, thread counts.
 */
#include "harness.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

/* Any uint32_t vocab size is valid input: asking for more merges than the text has
 * pairs gives fewer tokens (the header says so), and must not abort the process. The
 * call runs in a child process so that an abort is reported as a failed check instead of
 * ending the test run. */
static void test_finish_huge_vocab_size(void)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid < 0)
        return;
    if (pid == 0) {
        bpekit_trainer *t = NULL;
        bpekit_tokenizer *tok = NULL;
        int ok = bpekit_trainer_new(NULL, 0, &t, NULL) == BPEKIT_OK &&
                 bpekit_trainer_feed(t, U8(corpus[0]), strlen(corpus[0]), NULL) == BPEKIT_OK &&
                 bpekit_trainer_finish(t, UINT32_MAX, &tok, NULL) == BPEKIT_OK &&
                 bpekit_tokenizer_vocab_size(tok) > 256 &&
                 bpekit_tokenizer_vocab_size(tok) < 256 + strlen(corpus[0]);
        bpekit_tokenizer_free(tok);
        bpekit_trainer_free(t);
        _exit(ok ? 0 : 1);
    }
    int wstatus = 0;
    CHECK(waitpid(pid, &wstatus, 0) == pid);
    CHECK(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0);
    if (WIFSIGNALED(wstatus))
        fprintf(stderr, "%s:%d:   bpekit_trainer_finish(t, UINT32_MAX, ...) killed the process "
                "(signal %d)\n", __FILE__, __LINE__, WTERMSIG(wstatus));
    else if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) != 0)
        fprintf(stderr, "%s:%d:   bpekit_trainer_finish(t, UINT32_MAX, ...) failed\n",
                __FILE__, __LINE__);
}

static void test_trainer_new(void)
{
    bpekit_trainer *t = SENTINEL;
    bpekit_error *err = SENTINEL;
    static const uint8_t bad_utf8[] = {'a', 0xff, 'b'};

    /* Default pattern; *err cleared on success. */
    EXPECT_OK(bpekit_trainer_new(NULL, 0, &t, &err), &err);
    CHECK(t != NULL && t != SENTINEL);
    CHECK(bpekit_trainer_texts(t) == 0);
    CHECK(bpekit_trainer_bytes(t) == 0);
    bpekit_trainer_free(t);

    /* err == NULL is accepted on success and on failure. */
    t = SENTINEL;
    CHECK(bpekit_trainer_new(U8("\\w+|\\s+"), 7, &t, NULL) == BPEKIT_OK);
    CHECK(t != NULL && t != SENTINEL);
    bpekit_trainer_free(t);
    t = SENTINEL;
    CHECK(bpekit_trainer_new(U8("[a-"), 3, &t, NULL) == BPEKIT_ERR_BAD_PATTERN);
    CHECK(t == SENTINEL);

    /* NULL out. */
    EXPECT_ERR(bpekit_trainer_new(NULL, 0, NULL, &err), &err, BPEKIT_ERR_NULL_ARG, "out");

    /* Invalid UTF-8 pattern: the message names `pattern`, *out untouched. */
    EXPECT_ERR(bpekit_trainer_new(bad_utf8, sizeof bad_utf8, &t, &err), &err,
               BPEKIT_ERR_INVALID_UTF8, "pattern");
    CHECK(t == SENTINEL);

    /* Patterns that do not compile. */
    EXPECT_ERR(bpekit_trainer_new(U8("(unclosed"), 9, &t, &err), &err, BPEKIT_ERR_BAD_PATTERN,
               NULL);
    CHECK(t == SENTINEL);
    EXPECT_ERR(bpekit_trainer_new(U8("a{2,1}"), 6, &t, &err), &err, BPEKIT_ERR_BAD_PATTERN,
               NULL);
    CHECK(t == SENTINEL);
    /* pattern_len bounds the pattern: "(x)" cut to "(x" does not compile. */
    EXPECT_ERR(bpekit_trainer_new(U8("(x)"), 2, &t, &err), &err, BPEKIT_ERR_BAD_PATTERN, NULL);
    CHECK(t == SENTINEL);
    /* An empty pattern would drop all text: refused. */
    EXPECT_ERR(bpekit_trainer_new(U8(""), 0, &t, &err), &err, BPEKIT_ERR_BAD_PATTERN, "empty");
    CHECK(t == SENTINEL);
    /* NULL pattern with a length is a NULL argument, not the default. */
    EXPECT_ERR(bpekit_trainer_new(NULL, 5, &t, &err), &err, BPEKIT_ERR_NULL_ARG, "pattern");
    CHECK(t == SENTINEL);
}

static void test_trainer_feed(void)
{
    bpekit_trainer *t = NULL;
    bpekit_error *err = NULL;
    static const uint8_t bad_utf8[] = {'o', 'k', 0xc3, 0x28}; /* bad continuation byte */
    static const uint8_t with_nul[] = {'a', '\0', 'b'};

    EXPECT_OK(bpekit_trainer_new(NULL, 0, &t, &err), &err);
    if (t == NULL)
        return;

    /* *err cleared on success. */
    err = SENTINEL;
    EXPECT_OK(bpekit_trainer_feed(t, U8("hello world"), 11, &err), &err);
    CHECK(bpekit_trainer_texts(t) == 1);
    CHECK(bpekit_trainer_bytes(t) == 11);

    /* NULL with length 0 is an empty text: it counts as a text of 0 bytes. */
    EXPECT_OK(bpekit_trainer_feed(t, NULL, 0, &err), &err);
    CHECK(bpekit_trainer_texts(t) == 2);
    CHECK(bpekit_trainer_bytes(t) == 11);

    /* Embedded NUL is ordinary text. */
    EXPECT_OK(bpekit_trainer_feed(t, with_nul, sizeof with_nul, &err), &err);
    CHECK(bpekit_trainer_texts(t) == 3);
    CHECK(bpekit_trainer_bytes(t) == 14);

    /* Errors count nothing. */
    EXPECT_ERR(bpekit_trainer_feed(NULL, U8("x"), 1, &err), &err, BPEKIT_ERR_NULL_ARG, "`t`");
    EXPECT_ERR(bpekit_trainer_feed(t, NULL, 3, &err), &err, BPEKIT_ERR_NULL_ARG, "text");
    EXPECT_ERR(bpekit_trainer_feed(t, bad_utf8, sizeof bad_utf8, &err), &err,
               BPEKIT_ERR_INVALID_UTF8, "text");
    CHECK(bpekit_trainer_feed(t, bad_utf8, sizeof bad_utf8, NULL) == BPEKIT_ERR_INVALID_UTF8);
    CHECK(bpekit_trainer_texts(t) == 3);
    CHECK(bpekit_trainer_bytes(t) == 14);

    /* Counters of NULL. */
    CHECK(bpekit_trainer_texts(NULL) == 0);
    CHECK(bpekit_trainer_bytes(NULL) == 0);
    bpekit_trainer_free(t);
}

static void test_trainer_feed_batch(void)
{
    bpekit_trainer *t = NULL;
    bpekit_error *err = NULL;
    static const uint8_t bad_utf8[] = {0xed, 0xa0, 0x80}; /* an encoded surrogate */

    EXPECT_OK(bpekit_trainer_new(NULL, 0, &t, &err), &err);
    if (t == NULL)
        return;

    /* NULL with n == 0 is an empty batch. */
    err = SENTINEL;
    EXPECT_OK(bpekit_trainer_feed_batch(t, NULL, 0, &err), &err);
    CHECK(bpekit_trainer_texts(t) == 0);

    bpekit_slice ok[3] = {{U8("one two"), 7}, {NULL, 0}, {U8("three"), 5}};
    EXPECT_OK(bpekit_trainer_feed_batch(t, ok, 3, &err), &err);
    CHECK(bpekit_trainer_texts(t) == 3);
    CHECK(bpekit_trainer_bytes(t) == 12);

    /* Errors: the message names the bad element; nothing of the batch is counted. */
    EXPECT_ERR(bpekit_trainer_feed_batch(NULL, ok, 3, &err), &err, BPEKIT_ERR_NULL_ARG, "`t`");
    EXPECT_ERR(bpekit_trainer_feed_batch(t, NULL, 2, &err), &err, BPEKIT_ERR_NULL_ARG, "texts");
    bpekit_slice null_elem[2] = {{U8("fine"), 4}, {NULL, 3}};
    EXPECT_ERR(bpekit_trainer_feed_batch(t, null_elem, 2, &err), &err, BPEKIT_ERR_NULL_ARG,
               "texts[1]");
    bpekit_slice bad[3] = {{U8("fine"), 4}, {U8("also fine"), 9}, {bad_utf8, sizeof bad_utf8}};
    EXPECT_ERR(bpekit_trainer_feed_batch(t, bad, 3, &err), &err, BPEKIT_ERR_INVALID_UTF8,
               "texts[2]");
    CHECK(bpekit_trainer_feed_batch(t, bad, 3, NULL) == BPEKIT_ERR_INVALID_UTF8);
    CHECK(bpekit_trainer_texts(t) == 3);
    CHECK(bpekit_trainer_bytes(t) == 12);
    bpekit_trainer_free(t);
}

static void test_trainer_finish(void)
{
    bpekit_trainer *t = NULL;
    bpekit_tokenizer *tok = SENTINEL, *tok2 = NULL;
    bpekit_error *err = NULL;

    EXPECT_OK(bpekit_trainer_new(NULL, 0, &t, &err), &err);
    if (t == NULL)
        return;
    for (size_t i = 0; i < N_CORPUS; i++)
        EXPECT_OK(bpekit_trainer_feed(t, U8(corpus[i]), strlen(corpus[i]), &err), &err);

    /* Vocab sizes below 256 are INVALID_ARG; *out untouched. */
    EXPECT_ERR(bpekit_trainer_finish(t, 255, &tok, &err), &err, BPEKIT_ERR_INVALID_ARG, "256");
    CHECK(tok == SENTINEL);
    EXPECT_ERR(bpekit_trainer_finish(t, 0, &tok, &err), &err, BPEKIT_ERR_INVALID_ARG, NULL);
    CHECK(tok == SENTINEL);
    CHECK(bpekit_trainer_finish(t, 100, &tok, NULL) == BPEKIT_ERR_INVALID_ARG);
    CHECK(tok == SENTINEL);
    EXPECT_ERR(bpekit_trainer_finish(NULL, 300, &tok, &err), &err, BPEKIT_ERR_NULL_ARG, "`t`");
    CHECK(tok == SENTINEL);
    EXPECT_ERR(bpekit_trainer_finish(t, 300, NULL, &err), &err, BPEKIT_ERR_NULL_ARG, "out");

    /* 256 is the smallest size: bytes only. */
    err = SENTINEL;
    EXPECT_OK(bpekit_trainer_finish(t, 256, &tok, &err), &err);
    CHECK(tok != NULL && tok != SENTINEL);
    CHECK(bpekit_tokenizer_vocab_size(tok) == 256);
    bpekit_tokenizer_free(tok);

    /* The trainer is not consumed: finishing twice gives the same ranks. */
    tok = NULL;
    EXPECT_OK(bpekit_trainer_finish(t, 300, &tok, &err), &err);
    EXPECT_OK(bpekit_trainer_finish(t, 300, &tok2, &err), &err);
    CHECK(tok != NULL && tok2 != NULL && tok != tok2);
    if (tok != NULL && tok2 != NULL) {
        CHECK(bpekit_tokenizer_vocab_size(tok) == 300);
        bpekit_bytes a = export_ranks(tok), b = export_ranks(tok2);
        CHECK(a.len > 0 && same_bytes(&a, &b));
        bpekit_bytes_free(&a);
        bpekit_bytes_free(&b);
    }
    bpekit_tokenizer_free(tok2);
    tok2 = NULL;

    /* ... and may be fed more and finished again; the new tokenizer is independent. */
    EXPECT_OK(bpekit_trainer_feed(t, U8("zzzz zzzz zzzz zzzz"), 19, &err), &err);
    EXPECT_OK(bpekit_trainer_finish(t, 300, &tok2, &err), &err);
    CHECK(tok2 != NULL);
    bpekit_trainer_free(t); /* tokenizers outlive their trainer */
    if (tok != NULL && tok2 != NULL) {
        bpekit_bytes a = export_ranks(tok), b = export_ranks(tok2);
        CHECK(!same_bytes(&a, &b));
        bpekit_bytes_free(&a);
        bpekit_bytes_free(&b);
    }
    bpekit_tokenizer_free(tok);
    bpekit_tokenizer_free(tok2);

    /* An empty trainer gives the 256 bytes whatever size is asked for. */
    t = NULL;
    tok = NULL;
    EXPECT_OK(bpekit_trainer_new(NULL, 0, &t, &err), &err);
    EXPECT_OK(bpekit_trainer_finish(t, 1000, &tok, &err), &err);
    CHECK(bpekit_tokenizer_vocab_size(tok) == 256);
    bpekit_tokenizer_free(tok);
    bpekit_trainer_free(t);
}

/* A split pattern that compiles but makes the regex engine give up (its backtracking
 * limit) on `backtrack_text`: BAD_PATTERN at match time, and nothing counted or written. */
static const char backtrack_pattern[] = "(a|a)*(?!a)b";
static const char backtrack_text[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaac";

static void test_regex_gives_up(void)
{
    static struct blob b;
    bpekit_trainer *t = NULL;
    bpekit_tokenizer *tok = NULL;
    bpekit_error *err = NULL;
    bpekit_tokens out = sentinel_tokens;
    const size_t plen = sizeof backtrack_pattern - 1, tlen = sizeof backtrack_text - 1;

    EXPECT_OK(bpekit_trainer_new(U8(backtrack_pattern), plen, &t, &err), &err);
    if (t != NULL) {
        EXPECT_ERR(bpekit_trainer_feed(t, U8(backtrack_text), tlen, &err), &err,
                   BPEKIT_ERR_BAD_PATTERN, NULL);
        bpekit_slice batch[2] = {{U8("b"), 1}, {U8(backtrack_text), tlen}};
        EXPECT_ERR(bpekit_trainer_feed_batch(t, batch, 2, &err), &err, BPEKIT_ERR_BAD_PATTERN,
                   NULL);
        CHECK(bpekit_trainer_texts(t) == 0);
        CHECK(bpekit_trainer_bytes(t) == 0);
    }
    bpekit_trainer_free(t);

    make_ranks(&b, -1);
    EXPECT_OK(bpekit_tokenizer_from_tiktoken(U8(b.data), b.len, U8(backtrack_pattern), plen, &tok,
                                             &err),
              &err);
    if (tok != NULL) {
        EXPECT_ERR(bpekit_tokenizer_encode_ordinary(tok, U8(backtrack_text), tlen, &out, &err),
                   &err, BPEKIT_ERR_BAD_PATTERN, NULL);
        CHECK(tokens_untouched(&out));
    }
    bpekit_tokenizer_free(tok);
}

/* Checks that `tok` has exactly the special tokens `texts` (n of them) at ids `first`,
 * `first + 1`, ... */
static void expect_specials(const char *file, int line, const bpekit_tokenizer *tok,
                            const char *const *texts, size_t n, uint32_t first)
{
    CHECK_AT(bpekit_tokenizer_special_count(tok) == n, file, line);
    for (size_t i = 0; i < n && bpekit_tokenizer_special_count(tok) == n; i++) {
        const uint8_t *text = NULL;
        size_t len = 0;
        uint32_t id = 0;
        bpekit_error *err = NULL;
        expect_ok(file, line, bpekit_tokenizer_special_token(tok, i, &text, &len, &id, &err),
                  &err);
        CHECK_AT(id == first + i, file, line);
        CHECK_AT(text != NULL && len == strlen(texts[i]) && memcmp(text, texts[i], len) == 0,
                 file, line);
    }
}

#define EXPECT_SPECIALS(tok, texts, n, first) \
    expect_specials(__FILE__, __LINE__, (tok), (texts), (n), (first))

static void test_trainer_special_tokens(void)
{
    static const char *const two[] = {"<|bos|>", "<|eos|>"};
    static const char *const one[] = {"<|user|>"};
    const bpekit_slice two_s[] = {SLICE("<|bos|>"), SLICE("<|eos|>")};
    const bpekit_slice one_s[] = {SLICE("<|user|>")};
    bpekit_trainer *t = corpus_trainer(), *plain = corpus_trainer();
    bpekit_tokenizer *tok = SENTINEL, *ref = NULL;
    bpekit_error *err = SENTINEL;
    if (t == NULL || plain == NULL) {
        bpekit_trainer_free(t);
        bpekit_trainer_free(plain);
        return;
    }

    /* The specials take the ids right after the last merge, and count in vocab_size:
     * 300 = 256 bytes + 42 merges + 2 specials. */
    EXPECT_OK(bpekit_trainer_set_special_tokens(t, two_s, 2, &err), &err);
    EXPECT_OK(bpekit_trainer_finish(t, 300, &tok, &err), &err);
    EXPECT_OK(bpekit_trainer_finish(plain, 298, &ref, &err), &err);
    if (tok != NULL && tok != SENTINEL && ref != NULL) {
        CHECK(bpekit_tokenizer_vocab_size(tok) == 300);
        EXPECT_SPECIALS(tok, two, 2, 298);
        /* The merges are those of a 298-token vocabulary without specials. */
        bpekit_bytes a = export_ranks(tok), b = export_ranks(ref);
        CHECK(a.len > 0 && same_bytes(&a, &b));
        bpekit_bytes_free(&a);
        bpekit_bytes_free(&b);
        const bpekit_special_policy all = {.flags = BPEKIT_SPECIAL_ALLOW_ALL};
        EXPECT_IDS(tok, "<|bos|><|eos|>", &all, 298, 299);
        bpekit_tokens out = sentinel_tokens;
        EXPECT_ERR(bpekit_tokenizer_encode(tok, U8("x<|eos|>"), 8, NULL, &out, &err), &err,
                   BPEKIT_ERR_DISALLOWED_SPECIAL, "<|eos|>");
        CHECK(tokens_untouched(&out));
    }
    if (tok != SENTINEL)
        bpekit_tokenizer_free(tok);
    bpekit_tokenizer_free(ref);

    /* The smallest vocab is 256 + the specials (no merges); one less is INVALID_ARG. */
    tok = SENTINEL;
    EXPECT_ERR(bpekit_trainer_finish(t, 257, &tok, &err), &err, BPEKIT_ERR_INVALID_ARG, "258");
    CHECK(tok == SENTINEL);
    EXPECT_ERR(bpekit_trainer_finish(t, 256, &tok, &err), &err, BPEKIT_ERR_INVALID_ARG, "258");
    CHECK(tok == SENTINEL);
    tok = NULL;
    EXPECT_OK(bpekit_trainer_finish(t, 258, &tok, &err), &err);
    CHECK(bpekit_tokenizer_vocab_size(tok) == 258);
    EXPECT_SPECIALS(tok, two, 2, 256);
    bpekit_tokenizer_free(tok);

    /* A later set replaces the earlier one. */
    tok = NULL;
    EXPECT_OK(bpekit_trainer_set_special_tokens(t, one_s, 1, &err), &err);
    EXPECT_OK(bpekit_trainer_finish(t, 300, &tok, &err), &err);
    CHECK(bpekit_tokenizer_vocab_size(tok) == 300);
    EXPECT_SPECIALS(tok, one, 1, 299);
    bpekit_tokenizer_free(tok);

    /* Errors leave the set unchanged (still "<|user|>"). */
    static const uint8_t bad_utf8[] = {'<', 0xc0, 0x80, '>'};
    const bpekit_slice bad[] = {SLICE("<|a|>"), {bad_utf8, sizeof bad_utf8}};
    const bpekit_slice empty[] = {SLICE("<|a|>"), SLICE("")};
    const bpekit_slice null_empty[] = {{NULL, 0}};
    const bpekit_slice null_elem[] = {SLICE("<|a|>"), {NULL, 1}};
    const bpekit_slice twice[] = {SLICE("<|a|>"), SLICE("<|b|>"), SLICE("<|a|>")};
    EXPECT_ERR(bpekit_trainer_set_special_tokens(t, bad, 2, &err), &err, BPEKIT_ERR_INVALID_UTF8,
               "tokens[1]");
    EXPECT_ERR(bpekit_trainer_set_special_tokens(t, empty, 2, &err), &err, BPEKIT_ERR_INVALID_ARG,
               "empty");
    EXPECT_ERR(bpekit_trainer_set_special_tokens(t, null_empty, 1, &err), &err,
               BPEKIT_ERR_INVALID_ARG, "empty");
    EXPECT_ERR(bpekit_trainer_set_special_tokens(t, null_elem, 2, &err), &err,
               BPEKIT_ERR_NULL_ARG, "tokens[1]");
    EXPECT_ERR(bpekit_trainer_set_special_tokens(t, twice, 3, &err), &err, BPEKIT_ERR_INVALID_ARG,
               "<|a|>");
    EXPECT_ERR(bpekit_trainer_set_special_tokens(t, NULL, 2, &err), &err, BPEKIT_ERR_NULL_ARG,
               "tokens");
    EXPECT_ERR(bpekit_trainer_set_special_tokens(NULL, one_s, 1, &err), &err, BPEKIT_ERR_NULL_ARG,
               "`t`");
    CHECK(bpekit_trainer_set_special_tokens(t, twice, 3, NULL) == BPEKIT_ERR_INVALID_ARG);
    tok = NULL;
    EXPECT_OK(bpekit_trainer_finish(t, 300, &tok, &err), &err);
    EXPECT_SPECIALS(tok, one, 1, 299);
    bpekit_tokenizer_free(tok);

    /* n == 0 clears the set. */
    tok = NULL;
    err = SENTINEL;
    EXPECT_OK(bpekit_trainer_set_special_tokens(t, NULL, 0, &err), &err);
    EXPECT_OK(bpekit_trainer_finish(t, 300, &tok, &err), &err);
    CHECK(bpekit_tokenizer_special_count(tok) == 0);
    CHECK(bpekit_tokenizer_vocab_size(tok) == 300);
    bpekit_tokenizer_free(tok);

    /* Training that stops early (no pair left) still puts the specials right after the
     * last merge: "ab ab ab" has 2 merges ("ab", " ab"), so 258 and 259. */
    bpekit_trainer *small = NULL;
    EXPECT_OK(bpekit_trainer_new(NULL, 0, &small, &err), &err);
    EXPECT_OK(bpekit_trainer_feed(small, U8("ab ab ab"), 8, &err), &err);
    EXPECT_OK(bpekit_trainer_set_special_tokens(small, two_s, 2, &err), &err);
    tok = NULL;
    EXPECT_OK(bpekit_trainer_finish(small, 1000, &tok, &err), &err);
    CHECK(bpekit_tokenizer_vocab_size(tok) == 260);
    EXPECT_SPECIALS(tok, two, 2, 258);
    const uint8_t *data = NULL;
    size_t len = 0;
    EXPECT_OK(bpekit_tokenizer_token_bytes(tok, 257, &data, &len, &err), &err);
    CHECK(len == 3 && data != NULL && memcmp(data, " ab", 3) == 0); /* the last merge */
    bpekit_tokenizer_free(tok);
    bpekit_trainer_free(small);

    bpekit_trainer_free(plain);
    bpekit_trainer_free(t);
}

static void test_trainer_set_threads(void)
{
    static char buf[120 * 30 * 16];
    static bpekit_slice texts[120];
    static const size_t threads[] = {0, 1, 4, 2};
    const size_t n_threads = thread_counts(sizeof threads / sizeof threads[0]);
    bpekit_bytes first_ranks = {0}, first_counts = {0};
    bpekit_error *err = SENTINEL;

    EXPECT_ERR(bpekit_trainer_set_threads(NULL, 2, &err), &err, BPEKIT_ERR_NULL_ARG, "`t`");
    CHECK(bpekit_trainer_set_threads(NULL, 0, NULL) == BPEKIT_ERR_NULL_ARG);

    make_corpus(buf, sizeof buf, texts, 120, 30, 99);
    for (size_t i = 0; i < n_threads; i++) {
        bpekit_trainer *t = NULL;
        bpekit_tokenizer *tok = NULL;
        bpekit_bytes counts = {0};
        EXPECT_OK(bpekit_trainer_new(NULL, 0, &t, &err), &err);
        if (t == NULL)
            continue;
        err = SENTINEL;
        EXPECT_OK(bpekit_trainer_set_threads(t, threads[i], &err), &err);
        if (i == 3) /* a second call replaces the first */
            EXPECT_OK(bpekit_trainer_set_threads(t, 3, &err), &err);
        EXPECT_OK(bpekit_trainer_feed_batch(t, texts, 60, &err), &err);
        EXPECT_OK(bpekit_trainer_feed_batch(t, texts + 60, 60, &err), &err);
        EXPECT_OK(bpekit_trainer_finish(t, 600, &tok, &err), &err);
        EXPECT_OK(bpekit_trainer_export_counts(t, &counts, &err), &err);
        CHECK(bpekit_trainer_texts(t) == 120);
        bpekit_bytes ranks = export_ranks(tok);
        CHECK(bpekit_tokenizer_vocab_size(tok) == 600);
        if (i == 0) {
            first_ranks = ranks;
            first_counts = counts;
        } else {
            CHECK(same_bytes(&ranks, &first_ranks));
            CHECK(same_bytes(&counts, &first_counts));
            bpekit_bytes_free(&ranks);
            bpekit_bytes_free(&counts);
        }
        bpekit_tokenizer_free(tok);
        bpekit_trainer_free(t);
    }
    bpekit_bytes_free(&first_ranks);
    bpekit_bytes_free(&first_counts);
}

const struct test trainer_tests[] = {
    TEST(test_finish_huge_vocab_size),
    TEST(test_trainer_new),
    TEST(test_trainer_feed),
    TEST(test_trainer_feed_batch),
    TEST(test_trainer_finish),
    TEST(test_regex_gives_up),
    TEST(test_trainer_special_tokens),
    TEST(test_trainer_set_threads),
    {NULL, NULL},
};
