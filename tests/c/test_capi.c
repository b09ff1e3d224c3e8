/*
 * test_capi.c: tests of the bpekit C ABI, written against include/bpekit.h alone.
 *
 * Covers every function in the header, every documented error path (NULL arguments,
 * invalid UTF-8, bad sizes, bad patterns, malformed ranks, unknown ids), the ownership
 * rules (out-params untouched on failure, `*err` cleared on success, `err == NULL`
 * accepted, zeroed buffers and NULL handles freed harmlessly), a decode of all 256
 * single-byte tokens, and one tokenizer shared by several threads.
 *
 * Build from the repository root (ci/run_c_tests.sh does this, also under valgrind and
 * ASan/UBSan):
 *
 *   cc -std=c11 -Wall -Wextra -Wpedantic -Werror -pthread -Iinclude tests/c/test_capi.c \
 *      -Ltarget/release -lbpekit -o test_capi
 *   LD_LIBRARY_PATH=target/release ./test_capi
 *
 * The last line of output is always "N passed, N failed"; the exit status is non-zero
 * if any check failed.
 */

#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bpekit.h"

/* ==== Checks ==== */

static int passed, failed;

/* Counts one check; on failure prints where it is and what it says. */
static void check_impl(int ok, const char *text, const char *file, int line)
{
    if (ok) {
        passed++;
    } else {
        failed++;
        fprintf(stderr, "%s:%d: CHECK failed: %s\n", file, line, text);
    }
}

#define CHECK(cond) check_impl((cond) != 0, #cond, __FILE__, __LINE__)
#define CHECK_AT(cond, file, line) check_impl((cond) != 0, #cond, (file), (line))

/* A pointer that bpekit never produces. Out-params are pre-filled with it (or with the
 * sentinel values below) to check that failures leave them untouched and that success
 * overwrites `*err`. It is compared, never dereferenced. */
static max_align_t sentinel_object;
#define SENTINEL ((void *)&sentinel_object)
#define SENTINEL_LEN ((size_t)0xDEADBEEF)

/* Checks a failed call: `status` and the error's code are `code`, the message contains
 * `needle` (if not NULL); then frees the error and resets `*err` to NULL. */
static void expect_error(const char *file, int line, bpekit_status status, bpekit_error **err,
                         bpekit_status code, const char *needle)
{
    CHECK_AT(status == code, file, line);
    CHECK_AT(*err != NULL && *err != SENTINEL, file, line);
    if (*err == NULL || *err == SENTINEL) {
        fprintf(stderr, "%s:%d:   status %d, no error object\n", file, line, (int)status);
        *err = NULL;
        return;
    }
    const char *msg = bpekit_error_message(*err);
    CHECK_AT(bpekit_error_code(*err) == code, file, line);
    CHECK_AT(msg != NULL, file, line);
    if (msg != NULL && needle != NULL && strstr(msg, needle) == NULL) {
        check_impl(0, "message contains the expected text", file, line);
        fprintf(stderr, "%s:%d:   message \"%s\" lacks \"%s\"\n", file, line, msg, needle);
    }
    if (status != code)
        fprintf(stderr, "%s:%d:   status %d (want %d): %s\n", file, line, (int)status,
                (int)code, msg ? msg : "(null)");
    bpekit_error_free(*err);
    *err = NULL;
}

#define EXPECT_ERR(status, err, code, needle) \
    expect_error(__FILE__, __LINE__, (status), (err), (code), (needle))

/* Checks a successful call: `status` is BPEKIT_OK and `err` was cleared to NULL. */
static void expect_ok(const char *file, int line, bpekit_status status, bpekit_error **err)
{
    CHECK_AT(status == BPEKIT_OK, file, line);
    CHECK_AT(*err == NULL, file, line);
    if (*err == SENTINEL) {
        fprintf(stderr, "%s:%d:   status %d, *err not cleared\n", file, line, (int)status);
    } else if (status != BPEKIT_OK || *err != NULL) {
        fprintf(stderr, "%s:%d:   status %d: %s\n", file, line, (int)status,
                bpekit_error_message(*err));
        bpekit_error_free(*err);
    }
    *err = NULL;
}

#define EXPECT_OK(status, err) expect_ok(__FILE__, __LINE__, (status), (err))


static const bpekit_tokens sentinel_tokens = {SENTINEL, SENTINEL_LEN};
static const bpekit_bytes sentinel_bytes = {SENTINEL, SENTINEL_LEN};

static int tokens_untouched(const bpekit_tokens *t)
{
    return t->ids == sentinel_tokens.ids && t->len == sentinel_tokens.len;
}

static int bytes_untouched(const bpekit_bytes *b)
{
    return b->data == sentinel_bytes.data && b->len == sentinel_bytes.len;
}

#define U8(s) ((const uint8_t *)(s))

/* ==== Fixtures ==== */

static const char *const corpus[] = {
    "the cat sat on the mat. the dog sat on the log. the cat and the dog are friends.",
    "There is the thing: the other thing, then the theory. Those three are there.",
    "Numbers too: 12345 and 678 and 2024-01-01; punctuation!!! and   spaces.",
    "Ünïcödé: naïve café, Grüße, 東京, Ελληνικά, emoji 🎉🎉 and more emoji 🎉.",
};
#define N_CORPUS (sizeof corpus / sizeof corpus[0])

/* A fixed-size text buffer, large enough for the rank blobs here. */
struct blob {
    char data[16384];
    size_t len;
};

static void blob_add(struct blob *b, const char *s)
{
    size_t n = strlen(s);
    if (b->len + n > sizeof b->data) {
        check_impl(0, "the rank blob fits its buffer", __FILE__, __LINE__);
        return;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
}

/* Appends one tiktoken line: standard base64 of `tok`, a space, the rank, LF. */
static void blob_add_line(struct blob *b, const uint8_t *tok, size_t n, unsigned rank)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char line[128];
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)tok[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)tok[i + 1] << 8;
        if (i + 2 < n)
            v |= tok[i + 2];
        line[o++] = b64[(v >> 18) & 63];
        line[o++] = b64[(v >> 12) & 63];
        line[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
        line[o++] = i + 2 < n ? b64[v & 63] : '=';
    }
    snprintf(line + o, sizeof line - o, " %u\n", rank);
    blob_add(b, line);
}

/* Ranks with every single byte at rank == byte value, except `skip_byte` (pass -1 to
 * keep all 256), followed by three merges at 256..258. */
static void make_ranks(struct blob *b, int skip_byte)
{
    b->len = 0;
    for (int i = 0; i < 256; i++) {
        uint8_t c = (uint8_t)i;
        if (i != skip_byte)
            blob_add_line(b, &c, 1, (unsigned)i);
    }
    blob_add_line(b, U8("th"), 2, 256);
    blob_add_line(b, U8("the"), 3, 257);
    blob_add_line(b, U8(" the"), 4, 258);
}

/* A tokenizer trained on `corpus` with the default pattern; NULL on failure. */
static bpekit_tokenizer *trained_tokenizer(uint32_t vocab_size)
{
    bpekit_trainer *t = NULL;
    bpekit_tokenizer *tok = NULL;
    bpekit_error *err = NULL;
    EXPECT_OK(bpekit_trainer_new(NULL, 0, &t, &err), &err);
    for (size_t i = 0; t != NULL && i < N_CORPUS; i++)
        EXPECT_OK(bpekit_trainer_feed(t, U8(corpus[i]), strlen(corpus[i]), &err), &err);
    if (t != NULL)
        EXPECT_OK(bpekit_trainer_finish(t, vocab_size, &tok, &err), &err);
    bpekit_trainer_free(t);
    return tok;
}

/* A tokenizer from make_ranks(-1) with the default pattern; NULL on failure. */
static bpekit_tokenizer *ranks_tokenizer(void)
{
    static struct blob b;
    bpekit_tokenizer *tok = NULL;
    bpekit_error *err = NULL;
    make_ranks(&b, -1);
    EXPECT_OK(bpekit_tokenizer_from_tiktoken(U8(b.data), b.len, NULL, 0, &tok, &err), &err);
    return tok;
}

/* ==== Version ==== */

static void test_version(void)
{
    char want[64];
    snprintf(want, sizeof want, "%d.%d.%d", BPEKIT_VERSION_MAJOR, BPEKIT_VERSION_MINOR,
             BPEKIT_VERSION_PATCH);
    const char *v = bpekit_version();
    CHECK(v != NULL);
    CHECK(v != NULL && strcmp(v, want) == 0);
    CHECK(bpekit_version() == v); /* static: the same string every time */
    CHECK(bpekit_abi_version() == BPEKIT_ABI_VERSION);
}

/* ==== Errors and buffers ==== */

static void test_error_accessors_and_frees(void)
{
    CHECK(bpekit_error_code(NULL) == BPEKIT_OK);
    CHECK(bpekit_error_message(NULL) != NULL);
    CHECK(bpekit_error_message(NULL) != NULL && bpekit_error_message(NULL)[0] == '\0');

    /* Every _free accepts NULL. */
    bpekit_error_free(NULL);
    bpekit_tokens_free(NULL);
    bpekit_bytes_free(NULL);
    bpekit_tokenizer_free(NULL);
    bpekit_trainer_free(NULL);

    /* Freeing a zeroed buffer does nothing, any number of times. */
    bpekit_tokens zt = {0};
    bpekit_bytes zb = {0};
    bpekit_tokens_free(&zt);
    bpekit_tokens_free(&zt);
    bpekit_bytes_free(&zb);
    bpekit_bytes_free(&zb);
    CHECK(zt.ids == NULL && zt.len == 0);
    CHECK(zb.data == NULL && zb.len == 0);

    /* An error from a real failure: code and message, message stable until freed. */
    bpekit_trainer *t = SENTINEL;
    bpekit_error *err = NULL;
    bpekit_status st = bpekit_trainer_new(U8("("), 1, &t, &err);
    CHECK(st == BPEKIT_ERR_BAD_PATTERN);
    CHECK(err != NULL);
    CHECK(bpekit_error_code(err) == BPEKIT_ERR_BAD_PATTERN);
    CHECK(bpekit_error_message(err) != NULL && bpekit_error_message(err)[0] != '\0');
    CHECK(bpekit_error_message(err) == bpekit_error_message(err));
    CHECK(t == SENTINEL);
    bpekit_error_free(err);
}

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

/* ==== Trainer ==== */

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

/* Exports `tok`'s ranks; empty on failure. The caller frees the result. */
static bpekit_bytes export_ranks(const bpekit_tokenizer *tok)
{
    bpekit_bytes out = {0};
    bpekit_error *err = NULL;
    EXPECT_OK(bpekit_tokenizer_export_tiktoken(tok, &out, &err), &err);
    return out;
}

static int same_bytes(const bpekit_bytes *a, const bpekit_bytes *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
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

/* ==== Tokenizer: construction from ranks ==== */

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

/* ==== Tokenizer: encode, decode, token bytes, export, pattern ==== */

static void test_encode(void)
{
    bpekit_tokenizer *tok = trained_tokenizer(300);
    bpekit_error *err = SENTINEL;
    bpekit_tokens out = sentinel_tokens;
    bpekit_bytes back = {0};
    static const uint8_t with_nul[] = {'t', 'h', 'e', '\0', 't', 'h', 'e'};
    static const struct {
        uint8_t b[4];
        size_t n;
    } invalid[] = {
        {{0x80}, 1},                  /* lone continuation byte */
        {{0xc3}, 1},                  /* truncated two-byte sequence */
        {{0xc0, 0xaf}, 2},            /* overlong encoding of '/' */
        {{0xed, 0xa0, 0x80}, 3},      /* UTF-16 surrogate */
        {{0xf4, 0x90, 0x80, 0x80}, 4} /* above U+10FFFF */
    };
    if (tok == NULL)
        return;

    /* NULL with length 0 is empty text: the empty result is (NULL, 0). */
    EXPECT_OK(bpekit_tokenizer_encode_ordinary(tok, NULL, 0, &out, &err), &err);
    CHECK(out.ids == NULL && out.len == 0);
    out = sentinel_tokens;
    EXPECT_OK(bpekit_tokenizer_encode_ordinary(tok, U8(""), 0, &out, &err), &err);
    CHECK(out.ids == NULL && out.len == 0);

    /* Errors leave *out untouched. */
    out = sentinel_tokens;
    EXPECT_ERR(bpekit_tokenizer_encode_ordinary(NULL, U8("x"), 1, &out, &err), &err,
               BPEKIT_ERR_NULL_ARG, "tok");
    CHECK(tokens_untouched(&out));
    EXPECT_ERR(bpekit_tokenizer_encode_ordinary(tok, U8("x"), 1, NULL, &err), &err,
               BPEKIT_ERR_NULL_ARG, "out");
    EXPECT_ERR(bpekit_tokenizer_encode_ordinary(tok, NULL, 1, &out, &err), &err,
               BPEKIT_ERR_NULL_ARG, "text");
    CHECK(tokens_untouched(&out));
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        EXPECT_ERR(bpekit_tokenizer_encode_ordinary(tok, invalid[i].b, invalid[i].n, &out, &err),
                   &err, BPEKIT_ERR_INVALID_UTF8, "text");
        CHECK(tokens_untouched(&out));
    }
    CHECK(bpekit_tokenizer_encode_ordinary(tok, invalid[0].b, invalid[0].n, &out, NULL) ==
          BPEKIT_ERR_INVALID_UTF8);
    CHECK(tokens_untouched(&out));

    /* Each corpus text round-trips, and encoding is deterministic. */
    for (size_t i = 0; i < N_CORPUS; i++) {
        size_t n = strlen(corpus[i]);
        bpekit_tokens again = {0};
        out = (bpekit_tokens){0};
        CHECK(bpekit_tokenizer_encode_ordinary(tok, U8(corpus[i]), n, &out, NULL) == BPEKIT_OK);
        CHECK(out.len > 0 && out.len < n); /* merges were learned and used */
        EXPECT_OK(bpekit_tokenizer_encode_ordinary(tok, U8(corpus[i]), n, &again, &err), &err);
        CHECK(again.len == out.len && memcmp(again.ids, out.ids, out.len * sizeof *out.ids) == 0);
        EXPECT_OK(bpekit_tokenizer_decode(tok, out.ids, out.len, &back, &err), &err);
        CHECK(back.len == n && memcmp(back.data, corpus[i], n) == 0);
        bpekit_tokens_free(&again);
        bpekit_tokens_free(&out);
        bpekit_bytes_free(&back);
    }

    /* Embedded NUL is text like any other. */
    EXPECT_OK(bpekit_tokenizer_encode_ordinary(tok, with_nul, sizeof with_nul, &out, &err), &err);
    EXPECT_OK(bpekit_tokenizer_decode(tok, out.ids, out.len, &back, &err), &err);
    CHECK(back.len == sizeof with_nul && memcmp(back.data, with_nul, sizeof with_nul) == 0);
    bpekit_tokens_free(&out);
    bpekit_bytes_free(&back);

    /* Special-token text is ordinary text here. */
    static const char special[] = "<|endoftext|>";
    EXPECT_OK(bpekit_tokenizer_encode_ordinary(tok, U8(special), sizeof special - 1, &out, &err),
              &err);
    EXPECT_OK(bpekit_tokenizer_decode(tok, out.ids, out.len, &back, &err), &err);
    CHECK(back.len == sizeof special - 1 && memcmp(back.data, special, back.len) == 0);
    bpekit_tokens_free(&out);
    bpekit_bytes_free(&back);

    /* A long piece (past any short-piece fast path) round-trips. */
    static char longtext[5000];
    for (size_t i = 0; i < sizeof longtext; i++)
        longtext[i] = "the"[i % 3];
    EXPECT_OK(bpekit_tokenizer_encode_ordinary(tok, U8(longtext), sizeof longtext, &out, &err),
              &err);
    EXPECT_OK(bpekit_tokenizer_decode(tok, out.ids, out.len, &back, &err), &err);
    CHECK(back.len == sizeof longtext && memcmp(back.data, longtext, sizeof longtext) == 0);
    bpekit_tokens_free(&out);
    bpekit_bytes_free(&back);

    bpekit_tokenizer_free(tok);
}

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

/* ==== Named patterns ==== */

static void test_pattern_named(void)
{
    static const char *const names[] = {"gpt2",       "r50k_base", "p50k_base", "cl100k_base",
                                        "o200k_base", "rustbpe",   "nanochat"};
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

/* ==== Threads ==== */

#define N_THREADS 4
#define N_ROUNDS 50

static const char *const thread_texts[] = {
    "the cat sat on the mat",
    "There is the thing: the other thing, then the theory.",
    "Numbers 12345 and 678, emoji 🎉, 東京 and naïve café.",
    "",
    "a much longer text that repeats the same words: the the the the the the the the",
};
#define N_THREAD_TEXTS (sizeof thread_texts / sizeof thread_texts[0])

struct worker {
    const bpekit_tokenizer *tok;
    const bpekit_tokens *expected; /* N_THREAD_TEXTS results from the main thread */
    int mismatches;
    int errors;
    bpekit_tokens last; /* the final result, freed by the main thread */
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    for (int round = 0; round < N_ROUNDS; round++) {
        for (size_t i = 0; i < N_THREAD_TEXTS; i++) {
            bpekit_tokens got = {0};
            bpekit_error *err = NULL;
            const char *text = thread_texts[i];
            if (bpekit_tokenizer_encode_ordinary(w->tok, U8(text), strlen(text), &got, &err) !=
                BPEKIT_OK) {
                w->errors++;
                bpekit_error_free(err);
                continue;
            }
            const bpekit_tokens *want = &w->expected[i];
            if (got.len != want->len ||
                (got.len > 0 && memcmp(got.ids, want->ids, got.len * sizeof *got.ids) != 0))
                w->mismatches++;
            if (round == N_ROUNDS - 1 && i == 0)
                w->last = got; /* handed to the main thread */
            else
                bpekit_tokens_free(&got);
        }
    }
    return NULL;
}

static void test_threads(void)
{
    bpekit_tokenizer *tok = trained_tokenizer(300);
    bpekit_tokens expected[N_THREAD_TEXTS] = {{0}};
    struct worker workers[N_THREADS];
    pthread_t threads[N_THREADS];
    int started[N_THREADS] = {0};
    bpekit_error *err = NULL;
    if (tok == NULL)
        return;

    for (size_t i = 0; i < N_THREAD_TEXTS; i++)
        EXPECT_OK(bpekit_tokenizer_encode_ordinary(tok, U8(thread_texts[i]),
                                                   strlen(thread_texts[i]), &expected[i], &err),
                  &err);
    for (int i = 0; i < N_THREADS; i++) {
        workers[i] = (struct worker){tok, expected, 0, 0, {0}};
        started[i] = pthread_create(&threads[i], NULL, worker_main, &workers[i]) == 0;
        CHECK(started[i]);
    }
    for (int i = 0; i < N_THREADS; i++) {
        if (!started[i])
            continue;
        CHECK(pthread_join(threads[i], NULL) == 0);
        CHECK(workers[i].errors == 0);
        CHECK(workers[i].mismatches == 0);
        /* Buffers may be freed on any thread. */
        CHECK(workers[i].last.len == expected[0].len);
        bpekit_tokens_free(&workers[i].last);
    }
    for (size_t i = 0; i < N_THREAD_TEXTS; i++)
        bpekit_tokens_free(&expected[i]);
    bpekit_tokenizer_free(tok);
}

/* ==== Main ==== */

int main(void)
{
    test_finish_huge_vocab_size(); /* first: it forks, best before any threads exist */
    test_version();
    test_error_accessors_and_frees();
    test_filled_buffers_double_free();
    test_trainer_new();
    test_trainer_feed();
    test_trainer_feed_batch();
    test_trainer_finish();
    test_regex_gives_up();
    test_from_tiktoken();
    test_encode();
    test_decode();
    test_token_bytes();
    test_export_and_pattern();
    test_pattern_named();
    test_threads();
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
