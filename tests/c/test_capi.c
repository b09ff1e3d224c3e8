/*
 * test_capi.c: tests of the bpekit C ABI, written against include/bpekit.h alone.
 *
 * Covers every function in the header, every documented error path (NULL arguments,
 * invalid UTF-8, bad sizes, bad patterns, malformed ranks, unknown ids, bad special
 * tokens and policies, disallowed special tokens, damaged count tables), the ownership
 * rules (out-params untouched on failure, `*err` cleared on success, `err == NULL`
 * accepted, zeroed buffers and NULL handles freed harmlessly), a decode of all 256
 * single-byte tokens, one tokenizer shared by several threads, special-token encoding
 * (tiktoken's allowed/disallowed rules, leftmost-longest matching), count == encode,
 * batch == per-text encode for several thread counts, encode for completion (stable ids
 * and completions, tiktoken's encode_with_unstable), trainer special tokens, progress
 * read from a second thread during training, count tables moved between trainers, batch
 * encodes and training in a forked child, the bound on the worker pools kept, and forks
 * at random moments while other threads batch-encode, train and build tokenizers.
 *
 * Build from the repository root (ci/run_c_tests.sh does this, also under valgrind and
 * ASan/UBSan), after `make lib` (the library, and the libbpekit.so.1 link it is found by):
 *
 *   cc -std=c11 -Wall -Wextra -Wpedantic -Werror -pthread -Iinclude tests/c/test_capi.c \
 *      -Ltarget/release -lbpekit -o test_capi
 *   LD_LIBRARY_PATH=target/release ./test_capi
 *
 * The last line of output is always "N passed, N failed"; the exit status is non-zero
 * if any check failed.
 */

#define _POSIX_C_SOURCE 200809L

#ifdef __linux__
#include <dirent.h>
#endif
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
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

/* How many of a list of `n` thread counts to try: all of them. */
static size_t thread_counts(size_t n)
{
    return n;
}

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

/* ==== Special tokens: fixtures and helpers ==== */

#define SLICE(s) {U8(s), sizeof(s) - 1}

/* The special tokens of special_tokenizer(), given out of id order. "<|x|>" is a prefix of
 * "<|x|>y", and "|x|>yy" starts inside both: they exercise the leftmost-longest rule. */
static const struct {
    const char *text;
    uint32_t id;
} fixture_specials[] = {
    {"<|pad|>", 300}, /* after a gap: ids 263..299 are unused */
    {"<|endoftext|>", 259},
    {"<|x|>", 261},
    {"<|x|>y", 260},
    {"|x|>yy", 262},
};
#define N_FIXTURE_SPECIALS (sizeof fixture_specials / sizeof fixture_specials[0])

/* make_ranks(-1) (bytes at their own value, "th" 256, "the" 257, " the" 258) plus the
 * fixture's special tokens, default pattern; NULL on failure. */
static bpekit_tokenizer *special_tokenizer(void)
{
    static struct blob b;
    bpekit_special_token sp[N_FIXTURE_SPECIALS];
    bpekit_tokenizer *tok = NULL;
    bpekit_error *err = NULL;
    for (size_t i = 0; i < N_FIXTURE_SPECIALS; i++)
        sp[i] = (bpekit_special_token){{U8(fixture_specials[i].text),
                                        strlen(fixture_specials[i].text)},
                                       fixture_specials[i].id};
    make_ranks(&b, -1);
    EXPECT_OK(bpekit_tokenizer_new(U8(b.data), b.len, NULL, 0, sp, N_FIXTURE_SPECIALS, &tok, &err),
              &err);
    return tok;
}

static int same_ids(const uint32_t *a, size_t na, const uint32_t *b, size_t nb)
{
    return na == nb && (na == 0 || memcmp(a, b, na * sizeof *a) == 0);
}

static void print_ids(const char *what, const uint32_t *ids, size_t n)
{
    fprintf(stderr, "    %s:", what);
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, " %u", (unsigned)ids[i]);
    fprintf(stderr, "\n");
}

/* Checks that encode(text, policy) succeeds with exactly `want`. */
static void expect_ids(const char *file, int line, const bpekit_tokenizer *tok, const char *text,
                       const bpekit_special_policy *policy, const uint32_t *want, size_t n)
{
    bpekit_tokens got = {0};
    bpekit_error *err = NULL;
    expect_ok(file, line,
              bpekit_tokenizer_encode(tok, U8(text), strlen(text), policy, &got, &err), &err);
    int same = same_ids(got.ids, got.len, want, n);
    CHECK_AT(same, file, line);
    if (!same) {
        fprintf(stderr, "%s:%d:   encode(\"%s\") differs\n", file, line, text);
        print_ids("got ", got.ids, got.len);
        print_ids("want", want, n);
    }
    bpekit_tokens_free(&got);
}

#define EXPECT_IDS(tok, text, policy, ...)                                                  \
    expect_ids(__FILE__, __LINE__, (tok), (text), (policy), (const uint32_t[]){__VA_ARGS__}, \
               sizeof((const uint32_t[]){__VA_ARGS__}) / sizeof(uint32_t))

/* Checks that encode(text, policy) succeeds and equals encode_ordinary(text): the special
 * text in it is ordinary text under `policy`. */
static void expect_as_ordinary(const char *file, int line, const bpekit_tokenizer *tok,
                               const char *text, const bpekit_special_policy *policy)
{
    bpekit_tokens got = {0}, want = {0};
    bpekit_error *err = NULL;
    size_t n = strlen(text);
    expect_ok(file, line, bpekit_tokenizer_encode(tok, U8(text), n, policy, &got, &err), &err);
    expect_ok(file, line, bpekit_tokenizer_encode_ordinary(tok, U8(text), n, &want, &err), &err);
    CHECK_AT(want.len > 1 && same_ids(got.ids, got.len, want.ids, want.len), file, line);
    bpekit_tokens_free(&got);
    bpekit_tokens_free(&want);
}

#define EXPECT_AS_ORDINARY(tok, text, policy) \
    expect_as_ordinary(__FILE__, __LINE__, (tok), (text), (policy))

static const bpekit_offsets sentinel_offsets = {SENTINEL, SENTINEL_LEN};

static int offsets_untouched(const bpekit_offsets *o)
{
    return o->data == sentinel_offsets.data && o->len == sentinel_offsets.len;
}

/* ==== Tokenizer with special tokens: construction and listing ==== */

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
        {{SLICE("<|b|>"), 300}, BPEKIT_ERR_INVALID_ARG, "300"},      /* repeated id */
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

/* ==== Tokenizer: encode with a special-token policy, count ==== */

static const bpekit_slice s_eot[] = {SLICE("<|endoftext|>")};
static const bpekit_slice s_pad[] = {SLICE("<|pad|>")};
static const bpekit_slice s_far[] = {SLICE("|x|>yy")};
static const bpekit_slice s_pad_eot[] = {SLICE("<|pad|>"), SLICE("<|endoftext|>")};
static const bpekit_slice s_all[] = {SLICE("<|pad|>"), SLICE("<|endoftext|>"), SLICE("<|x|>"),
                                     SLICE("<|x|>y"), SLICE("|x|>yy")};
static const bpekit_slice s_unknown[] = {SLICE("<|nope|>"), SLICE("hello")};

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
    /* Unknown texts in the lists are ignored (no error, no special id). */
    EXPECT_AS_ORDINARY(tok, "hello <|nope|>", &unknown);
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

/* ==== Tokenizer: batch encode ==== */

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
        {.allowed = s_pad_eot, .n_allowed = 2, .disallowed = s_unknown, .n_disallowed = 2},
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

/* ==== Trainer: special tokens ==== */

/* A trainer with the default pattern fed `corpus`; NULL on failure. */
static bpekit_trainer *corpus_trainer(void)
{
    bpekit_trainer *t = NULL;
    bpekit_error *err = NULL;
    EXPECT_OK(bpekit_trainer_new(NULL, 0, &t, &err), &err);
    for (size_t i = 0; t != NULL && i < N_CORPUS; i++)
        EXPECT_OK(bpekit_trainer_feed(t, U8(corpus[i]), strlen(corpus[i]), &err), &err);
    return t;
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

/* ==== Trainer: progress ==== */

static void test_trainer_progress(void)
{
    bpekit_trainer *t = NULL;
    bpekit_tokenizer *tok = NULL;
    bpekit_error *err = SENTINEL;
    const bpekit_progress sentinel_progress = {1, 2, 3, 4};
    bpekit_progress p = sentinel_progress;

    EXPECT_OK(bpekit_trainer_new(NULL, 0, &t, &err), &err);
    if (t == NULL)
        return;

    /* Errors leave *out untouched. */
    EXPECT_ERR(bpekit_trainer_progress(NULL, &p, &err), &err, BPEKIT_ERR_NULL_ARG, "`t`");
    EXPECT_ERR(bpekit_trainer_progress(t, NULL, &err), &err, BPEKIT_ERR_NULL_ARG, "out");
    CHECK(bpekit_trainer_progress(NULL, &p, NULL) == BPEKIT_ERR_NULL_ARG);
    CHECK(memcmp(&p, &sentinel_progress, sizeof p) == 0);

    /* A new trainer: all zero. */
    err = SENTINEL;
    EXPECT_OK(bpekit_trainer_progress(t, &p, &err), &err);
    CHECK(p.texts == 0 && p.bytes == 0 && p.merges_done == 0 && p.merges_total == 0);

    /* Texts and bytes after feeds (the same as trainer_texts / trainer_bytes). */
    EXPECT_OK(bpekit_trainer_feed(t, U8("hello world"), 11, &err), &err);
    EXPECT_OK(bpekit_trainer_progress(t, &p, &err), &err);
    CHECK(p.texts == 1 && p.bytes == 11 && p.merges_done == 0 && p.merges_total == 0);
    const bpekit_slice batch[] = {SLICE("one two"), {NULL, 0}, SLICE("three")};
    EXPECT_OK(bpekit_trainer_feed_batch(t, batch, 3, &err), &err);
    for (size_t i = 0; i < N_CORPUS; i++)
        EXPECT_OK(bpekit_trainer_feed(t, U8(corpus[i]), strlen(corpus[i]), &err), &err);
    uint64_t corpus_bytes = 0;
    for (size_t i = 0; i < N_CORPUS; i++)
        corpus_bytes += strlen(corpus[i]);
    /* A failed feed counts nothing. */
    static const uint8_t bad_utf8[] = {0xff};
    CHECK(bpekit_trainer_feed(t, bad_utf8, 1, NULL) == BPEKIT_ERR_INVALID_UTF8);
    EXPECT_OK(bpekit_trainer_progress(t, &p, &err), &err);
    CHECK(p.texts == 4 + N_CORPUS && p.bytes == 23 + corpus_bytes);
    CHECK(p.texts == bpekit_trainer_texts(t) && p.bytes == bpekit_trainer_bytes(t));

    /* After finish: merges_done == merges_total == vocab_size - 256. */
    EXPECT_OK(bpekit_trainer_finish(t, 300, &tok, &err), &err);
    EXPECT_OK(bpekit_trainer_progress(t, &p, &err), &err);
    CHECK(p.merges_done == 44 && p.merges_total == 44);
    CHECK(p.texts == 4 + N_CORPUS); /* finishing counts no text */
    bpekit_tokenizer_free(tok);

    /* A failed finish changes nothing; special tokens lower the merges aimed for. */
    CHECK(bpekit_trainer_finish(t, 100, &tok, NULL) == BPEKIT_ERR_INVALID_ARG);
    EXPECT_OK(bpekit_trainer_progress(t, &p, &err), &err);
    CHECK(p.merges_done == 44 && p.merges_total == 44);
    const bpekit_slice specials[] = {SLICE("<|a|>"), SLICE("<|b|>"), SLICE("<|c|>")};
    EXPECT_OK(bpekit_trainer_set_special_tokens(t, specials, 3, &err), &err);
    tok = NULL;
    EXPECT_OK(bpekit_trainer_finish(t, 280, &tok, &err), &err);
    EXPECT_OK(bpekit_trainer_progress(t, &p, &err), &err);
    CHECK(p.merges_done == 21 && p.merges_total == 21);
    bpekit_tokenizer_free(tok);
    bpekit_trainer_free(t);

    /* Training that stops early lowers merges_total to what was reached. */
    t = NULL;
    tok = NULL;
    EXPECT_OK(bpekit_trainer_new(NULL, 0, &t, &err), &err);
    EXPECT_OK(bpekit_trainer_feed(t, U8("ab ab ab"), 8, &err), &err);
    EXPECT_OK(bpekit_trainer_finish(t, 1000, &tok, &err), &err);
    EXPECT_OK(bpekit_trainer_progress(t, &p, &err), &err);
    CHECK(p.texts == 1 && p.bytes == 8);
    CHECK(p.merges_done == 2 && p.merges_total == 2);
    CHECK(bpekit_tokenizer_vocab_size(tok) == 258);
    bpekit_tokenizer_free(tok);
    bpekit_trainer_free(t);
}

/* A pseudo-random corpus of n texts of `words` words each, made of a few syllables, in
 * `buf`; `texts` gets the slices. */
static void make_corpus(char *buf, size_t cap, bpekit_slice *texts, size_t n, size_t words,
                        uint32_t seed)
{
    static const char *const syl[] = {"ka", "to", "ri",  "mu", "sen", "lo", "pa", "qui",
                                      "th", "er", "an",  "ing", "ve", "do", "la", "ne"};
    size_t at = 0;
    uint32_t x = seed;
    for (size_t i = 0; i < n; i++) {
        size_t start = at;
        for (size_t w = 0; w < words; w++) {
            x = x * 1103515245u + 12345u;
            unsigned k = 1 + (x >> 16) % 4;
            for (unsigned s = 0; s < k; s++) {
                x = x * 1103515245u + 12345u;
                const char *y = syl[(x >> 16) % 16];
                size_t l = strlen(y);
                if (at + l + 2 > cap)
                    break;
                memcpy(buf + at, y, l);
                at += l;
            }
            if (at + 2 <= cap)
                buf[at++] = w + 1 < words ? ' ' : '.';
        }
        texts[i] = (bpekit_slice){U8(buf + start), at - start};
    }
}

#define BIG_TEXTS 400
#define BIG_WORDS 80
#define BIG_MERGES 3000

struct progress_reader {
    const bpekit_trainer *t;
    atomic_int stop;
    uint64_t want_texts, want_bytes, want_total;
    long reads, errors, not_monotone, bad_total, bad_counted, done_changes;
    bpekit_progress last;
};

/* Reads the progress until told to stop (and once more after), checking each value. */
static void *progress_reader_main(void *arg)
{
    struct progress_reader *r = arg;
    bpekit_progress prev = {0};
    int stop;
    do {
        stop = atomic_load(&r->stop);
        bpekit_progress p;
        if (bpekit_trainer_progress(r->t, &p, NULL) != BPEKIT_OK) {
            r->errors++;
            continue;
        }
        r->reads++;
        if (p.texts < prev.texts || p.bytes < prev.bytes || p.merges_done < prev.merges_done)
            r->not_monotone++;
        if (p.texts > r->want_texts || p.bytes > r->want_bytes)
            r->bad_counted++;
        if ((p.merges_total != 0 && p.merges_total != r->want_total) ||
            p.merges_done > r->want_total)
            r->bad_total++;
        r->done_changes += p.merges_done != prev.merges_done;
        prev = p;
        struct timespec pause = {0, 100000}; /* 0.1 ms */
        nanosleep(&pause, NULL);
    } while (!stop);
    r->last = prev;
    return NULL;
}

/* Another thread reads the progress while feed_batch and finish run on a larger corpus. */
static void test_progress_concurrent(void)
{
    static char buf[BIG_TEXTS * BIG_WORDS * 16];
    static bpekit_slice texts[BIG_TEXTS];
    static struct progress_reader r;
    bpekit_trainer *t = NULL;
    bpekit_tokenizer *tok = NULL;
    bpekit_error *err = NULL;
    pthread_t th;

    make_corpus(buf, sizeof buf, texts, BIG_TEXTS, BIG_WORDS, 7);
    EXPECT_OK(bpekit_trainer_new(NULL, 0, &t, &err), &err);
    if (t == NULL)
        return;
    r = (struct progress_reader){.t = t, .want_texts = BIG_TEXTS, .want_total = BIG_MERGES};
    for (size_t i = 0; i < BIG_TEXTS; i++)
        r.want_bytes += texts[i].len;
    atomic_init(&r.stop, 0);
    int started = pthread_create(&th, NULL, progress_reader_main, &r) == 0;
    CHECK(started);
    EXPECT_OK(bpekit_trainer_feed_batch(t, texts, BIG_TEXTS, &err), &err);
    EXPECT_OK(bpekit_trainer_finish(t, 256 + BIG_MERGES, &tok, &err), &err);
    atomic_store(&r.stop, 1);
    if (started) {
        CHECK(pthread_join(th, NULL) == 0);
        CHECK(r.reads > 0 && r.errors == 0);
        CHECK(r.not_monotone == 0);
        CHECK(r.bad_counted == 0);
        CHECK(r.bad_total == 0);
        CHECK(r.last.texts == BIG_TEXTS && r.last.bytes == r.want_bytes);
        CHECK(r.last.merges_done == BIG_MERGES && r.last.merges_total == BIG_MERGES);
        if (r.not_monotone || r.bad_counted || r.bad_total || r.errors)
            fprintf(stderr, "  (progress reader: %ld reads, %ld errors, %ld not monotone, "
                    "%ld bad counts, %ld bad totals)\n", r.reads, r.errors, r.not_monotone,
                    r.bad_counted, r.bad_total);
    }
    CHECK(bpekit_tokenizer_vocab_size(tok) == 256 + BIG_MERGES); /* did not stop early */
    bpekit_tokenizer_free(tok);
    bpekit_trainer_free(t);
}

/* ==== Trainer: threads ==== */

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

/* ==== Trainer: count tables ==== */

/* Checks that `t` still holds exactly the counts `want` (and `texts` texts). */
static void expect_counts(const char *file, int line, const bpekit_trainer *t,
                          const bpekit_bytes *want, uint64_t texts)
{
    bpekit_bytes now = {0};
    bpekit_error *err = NULL;
    expect_ok(file, line, bpekit_trainer_export_counts(t, &now, &err), &err);
    CHECK_AT(same_bytes(&now, want), file, line);
    CHECK_AT(bpekit_trainer_texts(t) == texts, file, line);
    bpekit_bytes_free(&now);
}

#define EXPECT_COUNTS(t, want, texts) expect_counts(__FILE__, __LINE__, (t), (want), (texts))

/* Trains `t` to 300 and exports the ranks; empty on failure. */
static bpekit_bytes finish_and_export(bpekit_trainer *t)
{
    bpekit_tokenizer *tok = NULL;
    bpekit_error *err = NULL;
    bpekit_bytes out = {0};
    EXPECT_OK(bpekit_trainer_finish(t, 300, &tok, &err), &err);
    if (tok != NULL)
        out = export_ranks(tok);
    bpekit_tokenizer_free(tok);
    return out;
}

static void test_trainer_counts(void)
{
    bpekit_trainer *a = corpus_trainer(), *b = NULL, *c = NULL, *d = NULL, *e = NULL;
    bpekit_error *err = SENTINEL;
    bpekit_bytes counts = sentinel_bytes;
    if (a == NULL)
        return;

    /* Errors of export leave *out untouched. */
    EXPECT_ERR(bpekit_trainer_export_counts(NULL, &counts, &err), &err, BPEKIT_ERR_NULL_ARG,
               "`t`");
    EXPECT_ERR(bpekit_trainer_export_counts(a, NULL, &err), &err, BPEKIT_ERR_NULL_ARG, "out");
    CHECK(bytes_untouched(&counts));

    /* export -> add into a fresh trainer: the same counts, texts and tokenizer. */
    err = SENTINEL;
    EXPECT_OK(bpekit_trainer_export_counts(a, &counts, &err), &err);
    CHECK(counts.len > 8 && counts.data != NULL);
    EXPECT_OK(bpekit_trainer_new(NULL, 0, &b, &err), &err);
    err = SENTINEL;
    EXPECT_OK(bpekit_trainer_add_counts(b, counts.data, counts.len, &err), &err);
    EXPECT_COUNTS(b, &counts, N_CORPUS); /* equal counts give equal bytes */
    CHECK(bpekit_trainer_bytes(b) == bpekit_trainer_bytes(a));
    bpekit_bytes ra = finish_and_export(a), rb = finish_and_export(b);
    CHECK(ra.len > 0 && same_bytes(&ra, &rb));
    bpekit_bytes_free(&rb);

    /* Shards counted apart and added together give what counting it all in one did. */
    bpekit_bytes half1 = {0}, half2 = {0};
    EXPECT_OK(bpekit_trainer_new(NULL, 0, &c, &err), &err);
    EXPECT_OK(bpekit_trainer_new(NULL, 0, &d, &err), &err);
    EXPECT_OK(bpekit_trainer_new(NULL, 0, &e, &err), &err);
    for (size_t i = 0; i < N_CORPUS; i++)
        EXPECT_OK(bpekit_trainer_feed(i % 2 ? c : d, U8(corpus[i]), strlen(corpus[i]), &err),
                  &err);
    EXPECT_OK(bpekit_trainer_export_counts(c, &half1, &err), &err);
    EXPECT_OK(bpekit_trainer_export_counts(d, &half2, &err), &err);
    EXPECT_OK(bpekit_trainer_add_counts(e, half1.data, half1.len, &err), &err);
    EXPECT_OK(bpekit_trainer_add_counts(e, half2.data, half2.len, NULL), &err);
    EXPECT_COUNTS(e, &counts, N_CORPUS);
    bpekit_bytes re = finish_and_export(e);
    CHECK(same_bytes(&ra, &re));
    bpekit_bytes_free(&re);
    bpekit_bytes_free(&half1);
    bpekit_bytes_free(&half2);

    /* Adding the same table again doubles every count. */
    EXPECT_OK(bpekit_trainer_add_counts(b, counts.data, counts.len, &err), &err);
    CHECK(bpekit_trainer_texts(b) == 2 * N_CORPUS);
    CHECK(bpekit_trainer_bytes(b) == 2 * bpekit_trainer_bytes(a));
    bpekit_bytes doubled = {0};
    EXPECT_OK(bpekit_trainer_export_counts(b, &doubled, &err), &err);
    CHECK(!same_bytes(&doubled, &counts));
    bpekit_bytes_free(&doubled);

    /* An empty trainer's table adds nothing. */
    bpekit_trainer *empty = NULL;
    bpekit_bytes none = {0};
    EXPECT_OK(bpekit_trainer_new(NULL, 0, &empty, &err), &err);
    EXPECT_OK(bpekit_trainer_export_counts(empty, &none, &err), &err);
    CHECK(none.len > 0); /* still a table: magic, pattern, zero counts */
    EXPECT_OK(bpekit_trainer_add_counts(e, none.data, none.len, &err), &err);
    EXPECT_COUNTS(e, &counts, N_CORPUS);
    bpekit_bytes_free(&none);
    bpekit_trainer_free(empty);

    /* Damaged or foreign data is BAD_FORMAT; the trainer is unchanged. Every truncation: */
    long truncation_failures = 0;
    for (size_t cut = 0; cut < counts.len; cut++) {
        bpekit_status st = bpekit_trainer_add_counts(e, counts.data, cut, &err);
        if (st != BPEKIT_ERR_BAD_FORMAT || bpekit_error_code(err) != BPEKIT_ERR_BAD_FORMAT) {
            truncation_failures++;
            fprintf(stderr, "  (count table cut at %zu of %zu: status %d)\n", cut, counts.len,
                    (int)st);
        }
        bpekit_error_free(err);
        err = NULL;
    }
    CHECK(truncation_failures == 0);
    EXPECT_COUNTS(e, &counts, N_CORPUS);
    EXPECT_ERR(bpekit_trainer_add_counts(e, NULL, 0, &err), &err, BPEKIT_ERR_BAD_FORMAT, NULL);

    static uint8_t damaged[1 << 16];
    CHECK(counts.len + 1 <= sizeof damaged);
    if (counts.len + 1 <= sizeof damaged) {
        /* A trailing byte. */
        memcpy(damaged, counts.data, counts.len);
        damaged[counts.len] = 0;
        EXPECT_ERR(bpekit_trainer_add_counts(e, damaged, counts.len + 1, &err), &err,
                   BPEKIT_ERR_BAD_FORMAT, NULL);
        /* The first byte (the format's magic) changed. */
        damaged[0] ^= 0x20;
        EXPECT_ERR(bpekit_trainer_add_counts(e, damaged, counts.len, &err), &err,
                   BPEKIT_ERR_BAD_FORMAT, NULL);
        /* The whole table twice, back to back. */
        CHECK(2 * counts.len <= sizeof damaged);
        if (2 * counts.len <= sizeof damaged) {
            memcpy(damaged, counts.data, counts.len);
            memcpy(damaged + counts.len, counts.data, counts.len);
            EXPECT_ERR(bpekit_trainer_add_counts(e, damaged, 2 * counts.len, &err), &err,
                       BPEKIT_ERR_BAD_FORMAT, NULL);
        }
    }
    /* Foreign data: a tiktoken rank file, plain text, zeros. */
    EXPECT_ERR(bpekit_trainer_add_counts(e, ra.data, ra.len, &err), &err, BPEKIT_ERR_BAD_FORMAT,
               NULL);
    EXPECT_ERR(bpekit_trainer_add_counts(e, U8(corpus[0]), strlen(corpus[0]), &err), &err,
               BPEKIT_ERR_BAD_FORMAT, NULL);
    memset(damaged, 0, 256);
    EXPECT_ERR(bpekit_trainer_add_counts(e, damaged, 256, &err), &err, BPEKIT_ERR_BAD_FORMAT,
               NULL);
    CHECK(bpekit_trainer_add_counts(e, damaged, 256, NULL) == BPEKIT_ERR_BAD_FORMAT);
    EXPECT_COUNTS(e, &counts, N_CORPUS);

    /* Every single-byte change either fails cleanly (trainer unchanged) or is accepted
     * (a count or piece changed in a way the format cannot tell); never anything else. */
    bpekit_trainer *f = NULL;
    bpekit_bytes small = {0};
    EXPECT_OK(bpekit_trainer_new(NULL, 0, &f, &err), &err);
    EXPECT_OK(bpekit_trainer_feed(f, U8("the cat sat on the mat"), 22, &err), &err);
    EXPECT_OK(bpekit_trainer_export_counts(f, &small, &err), &err);
    long unclean = 0, rejected = 0;
    for (size_t i = 0; i < small.len && small.len <= sizeof damaged; i++) {
        memcpy(damaged, small.data, small.len);
        damaged[i] ^= 0xff;
        uint64_t texts = bpekit_trainer_texts(f), bytes = bpekit_trainer_bytes(f);
        bpekit_status st = bpekit_trainer_add_counts(f, damaged, small.len, &err);
        if (st == BPEKIT_OK) {
            CHECK(err == NULL);
            continue;
        }
        rejected++;
        if ((st != BPEKIT_ERR_BAD_FORMAT && st != BPEKIT_ERR_INVALID_ARG) ||
            bpekit_error_code(err) != st || bpekit_trainer_texts(f) != texts ||
            bpekit_trainer_bytes(f) != bytes) {
            unclean++;
            fprintf(stderr, "  (byte %zu flipped: status %d)\n", i, (int)st);
        }
        bpekit_error_free(err);
        err = NULL;
    }
    CHECK(unclean == 0);
    CHECK(rejected > 0);
    bpekit_bytes_free(&small);
    bpekit_trainer_free(f);

    /* Counts made with another pattern are INVALID_ARG; the trainer is unchanged. */
    bpekit_trainer *other = NULL;
    bpekit_bytes other_counts = {0};
    EXPECT_OK(bpekit_trainer_new(U8("\\w+|\\s+"), 7, &other, &err), &err);
    EXPECT_OK(bpekit_trainer_feed(other, U8("the cat"), 7, &err), &err);
    EXPECT_OK(bpekit_trainer_export_counts(other, &other_counts, &err), &err);
    EXPECT_ERR(bpekit_trainer_add_counts(e, other_counts.data, other_counts.len, &err), &err,
               BPEKIT_ERR_INVALID_ARG, "pattern");
    EXPECT_COUNTS(e, &counts, N_CORPUS);
    /* ... and the other way round. */
    EXPECT_ERR(bpekit_trainer_add_counts(other, counts.data, counts.len, &err), &err,
               BPEKIT_ERR_INVALID_ARG, "pattern");
    CHECK(bpekit_trainer_texts(other) == 1);
    bpekit_bytes_free(&other_counts);
    bpekit_trainer_free(other);

    /* NULL arguments. */
    EXPECT_ERR(bpekit_trainer_add_counts(NULL, counts.data, counts.len, &err), &err,
               BPEKIT_ERR_NULL_ARG, "`t`");
    EXPECT_ERR(bpekit_trainer_add_counts(e, NULL, 10, &err), &err, BPEKIT_ERR_NULL_ARG, "data");
    EXPECT_COUNTS(e, &counts, N_CORPUS);

    bpekit_bytes_free(&ra);
    bpekit_bytes_free(&counts);
    bpekit_trainer_free(e);
    bpekit_trainer_free(d);
    bpekit_trainer_free(c);
    bpekit_trainer_free(b);
    bpekit_trainer_free(a);
}

/* ==== Main ==== */

/* Byte string -> id: ranks first, then special-token text; anything else is unknown. */
static void test_token_id(void)
{
    bpekit_error *err = SENTINEL;
    bpekit_tokenizer *tok = special_tokenizer();
    uint32_t id = 0xFFFFFFFFu;
    const uint8_t *data = NULL;
    size_t len = 0;

    EXPECT_OK(bpekit_tokenizer_token_id(tok, U8("a"), 1, &id, &err), &err);
    EXPECT_OK(bpekit_tokenizer_token_bytes(tok, id, &data, &len, &err), &err);
    CHECK(len == 1 && data[0] == 'a');
    EXPECT_OK(bpekit_tokenizer_token_id(tok, U8("<|endoftext|>"), 13, &id, &err), &err);
    EXPECT_OK(bpekit_tokenizer_token_bytes(tok, id, &data, &len, &err), &err);
    CHECK(len == 13 && memcmp(data, "<|endoftext|>", 13) == 0);
    id = 0xFFFFFFFFu;
    EXPECT_ERR(bpekit_tokenizer_token_id(tok, U8("not one token at all"), 20, &id, &err), &err,
               BPEKIT_ERR_UNKNOWN_TOKEN, "not a single token");
    CHECK(id == 0xFFFFFFFFu);
    EXPECT_ERR(bpekit_tokenizer_token_id(tok, U8(""), 0, &id, &err), &err, BPEKIT_ERR_UNKNOWN_TOKEN, NULL);
    EXPECT_ERR(bpekit_tokenizer_token_id(NULL, U8("a"), 1, &id, &err), &err, BPEKIT_ERR_NULL_ARG, "tok");
    EXPECT_ERR(bpekit_tokenizer_token_id(tok, U8("a"), 1, NULL, &err), &err, BPEKIT_ERR_NULL_ARG, "id");
    EXPECT_ERR(bpekit_tokenizer_token_id(tok, NULL, 1, &id, &err), &err, BPEKIT_ERR_NULL_ARG, "bytes");
    bpekit_tokenizer_free(tok);
}

/* Caller-allocated encode: same ids as bpekit_tokenizer_encode; too small a buffer gives
 * BPEKIT_ERR_BUFFER_TOO_SMALL with the needed size in *out_len and nothing written. */
static void test_encode_into(void)
{
    bpekit_error *err = SENTINEL;
    bpekit_tokenizer *tok = special_tokenizer();
    const char *text = "the cat sat on the mat <|endoftext|>";
    bpekit_special_policy all = {NULL, 0, NULL, 0, BPEKIT_SPECIAL_ALLOW_ALL};
    bpekit_tokens ref = sentinel_tokens;
    uint32_t buf[64];
    size_t n = SENTINEL_LEN;

    EXPECT_OK(bpekit_tokenizer_encode(tok, U8(text), strlen(text), &all, &ref, &err), &err);
    EXPECT_OK(bpekit_tokenizer_encode_into(tok, U8(text), strlen(text), &all, buf, 64, &n, &err), &err);
    CHECK(same_ids(buf, n, ref.ids, ref.len));
    /* Asking for the size with cap 0 and a NULL buffer. */
    n = SENTINEL_LEN;
    EXPECT_ERR(bpekit_tokenizer_encode_into(tok, U8(text), strlen(text), &all, NULL, 0, &n, &err), &err,
               BPEKIT_ERR_BUFFER_TOO_SMALL, "do not fit");
    CHECK(n == ref.len);
    /* One short: nothing written past what the caller has, size reported. */
    for (size_t i = 0; i < 64; i++)
        buf[i] = 0xABCDu;
    n = SENTINEL_LEN;
    CHECK(bpekit_tokenizer_encode_into(tok, U8(text), strlen(text), &all, buf, ref.len - 1, &n, NULL) ==
          BPEKIT_ERR_BUFFER_TOO_SMALL);
    CHECK(n == ref.len);
    CHECK(buf[0] == 0xABCDu);
    /* Errors other than size leave *out_len alone. */
    n = SENTINEL_LEN;
    EXPECT_ERR(bpekit_tokenizer_encode_into(tok, U8(text), strlen(text), NULL, buf, 64, &n, &err), &err,
               BPEKIT_ERR_DISALLOWED_SPECIAL, "<|endoftext|>");
    CHECK(n == SENTINEL_LEN);
    EXPECT_ERR(bpekit_tokenizer_encode_into(tok, U8("x"), 1, NULL, buf, 64, NULL, &err), &err,
               BPEKIT_ERR_NULL_ARG, "out_len");
    EXPECT_ERR(bpekit_tokenizer_encode_into(tok, U8("x"), 1, NULL, NULL, 4, &n, &err), &err,
               BPEKIT_ERR_NULL_ARG, "out");
    /* Empty text: zero ids, buffer may be NULL. */
    EXPECT_OK(bpekit_tokenizer_encode_into(tok, NULL, 0, NULL, NULL, 0, &n, &err), &err);
    CHECK(n == 0);
    bpekit_tokens_free(&ref);
    bpekit_tokenizer_free(tok);
}

/* The lean form: a count or a negated status, no error object. */
static void test_encode_ordinary_into(void)
{
    bpekit_error *err = SENTINEL;
    bpekit_tokenizer *tok = special_tokenizer();
    const char *text = "the cat sat on the mat <|endoftext|>";
    bpekit_tokens ref = sentinel_tokens;
    uint32_t buf[64];

    EXPECT_OK(bpekit_tokenizer_encode_ordinary(tok, U8(text), strlen(text), &ref, &err), &err);
    int64_t got = bpekit_tokenizer_encode_ordinary_into(tok, U8(text), strlen(text), buf, 64);
    CHECK(got == (int64_t)ref.len);
    CHECK(same_ids(buf, (size_t)got, ref.ids, ref.len));
    /* One short: a negated status, and nothing written. */
    for (size_t i = 0; i < 64; i++)
        buf[i] = 0xABCDu;
    CHECK(bpekit_tokenizer_encode_ordinary_into(tok, U8(text), strlen(text), buf, ref.len - 1) ==
          -BPEKIT_ERR_BUFFER_TOO_SMALL);
    CHECK(buf[0] == 0xABCDu);
    CHECK(bpekit_tokenizer_encode_ordinary_into(NULL, U8(text), strlen(text), buf, 64) == -BPEKIT_ERR_NULL_ARG);
    CHECK(bpekit_tokenizer_encode_ordinary_into(tok, U8("\xff"), 1, buf, 64) == -BPEKIT_ERR_INVALID_UTF8);
    CHECK(bpekit_tokenizer_encode_ordinary_into(tok, U8("x"), 1, NULL, 4) == -BPEKIT_ERR_NULL_ARG);
    CHECK(bpekit_tokenizer_encode_ordinary_into(tok, NULL, 0, NULL, 0) == 0);
    CHECK(buf[0] == 0xABCDu);

    /* The NUL-terminated variant, into buffers of exactly one id per byte on the heap
     * (so valgrind and ASan see any write past them): the same ids, also for text where
     * every byte is its own id. */
    const char *texts[] = {text, "\x01\x02\x03\x7f", "z", ""};
    for (size_t t = 0; t < sizeof texts / sizeof texts[0]; t++) {
        size_t n = strlen(texts[t]);
        uint32_t *exact = malloc((n ? n : 1) * sizeof *exact);
        bpekit_tokens want = sentinel_tokens;
        EXPECT_OK(bpekit_tokenizer_encode_ordinary(tok, U8(texts[t]), n, &want, &err), &err);
        int64_t k = bpekit_tokenizer_encode_ordinary_cstr(tok, texts[t], exact);
        CHECK(k == (int64_t)want.len);
        CHECK(k >= 0 && same_ids(exact, (size_t)k, want.ids, want.len));
        bpekit_tokens_free(&want);
        free(exact);
    }
    CHECK(bpekit_tokenizer_encode_ordinary_cstr(tok, "\x01\x02\x03\x7f", buf) == 4);
    CHECK(bpekit_tokenizer_encode_ordinary_cstr(NULL, "x", buf) == -BPEKIT_ERR_NULL_ARG);
    CHECK(bpekit_tokenizer_encode_ordinary_cstr(tok, NULL, buf) == -BPEKIT_ERR_NULL_ARG);
    CHECK(bpekit_tokenizer_encode_ordinary_cstr(tok, "x", NULL) == -BPEKIT_ERR_NULL_ARG);
    buf[0] = 0xABCDu;
    CHECK(bpekit_tokenizer_encode_ordinary_cstr(tok, "ok \xff", buf) == -BPEKIT_ERR_INVALID_UTF8);
    CHECK(buf[0] == 0xABCDu);
    bpekit_tokens_free(&ref);
    bpekit_tokenizer_free(tok);
}

/* The packed form: up to 3 ids in the result, 20 bits each, the first most significant
 * and plus one; more give -BPEKIT_ERR_BUFFER_TOO_SMALL. Each text is checked against the
 * ordinary encode. */
static void test_encode_ordinary_packed(void)
{
    bpekit_error *err = SENTINEL;
    bpekit_tokenizer *tok = special_tokenizer();
    const char *texts[] = {"", "z", "the", "the cat", "\x01\x02", "\x01\x02\x03",
                           "\x01\x02\x03\x7f", "the cat sat on the mat", "<|endoftext|>"};
    int fits = 0, too_many = 0;
    for (size_t t = 0; t < sizeof texts / sizeof texts[0]; t++) {
        bpekit_tokens want = sentinel_tokens;
        EXPECT_OK(bpekit_tokenizer_encode_ordinary(tok, U8(texts[t]), strlen(texts[t]), &want, &err), &err);
        int64_t got = bpekit_tokenizer_encode_ordinary_packed(tok, texts[t]);
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
    CHECK(bpekit_tokenizer_encode_ordinary_packed(tok, "") == 0);
    CHECK(bpekit_tokenizer_encode_ordinary_packed(NULL, "x") == -BPEKIT_ERR_NULL_ARG);
    CHECK(bpekit_tokenizer_encode_ordinary_packed(tok, NULL) == -BPEKIT_ERR_NULL_ARG);
    CHECK(bpekit_tokenizer_encode_ordinary_packed(tok, "ok \xff") == -BPEKIT_ERR_INVALID_UTF8);
    CHECK(BPEKIT_PACKED_MAX_ID == (1u << 20) - 2);
    bpekit_tokenizer_free(tok);
}

/* The Python builtin maker refuses what it cannot use, before touching any object (a C
 * test has no interpreter: the Python tests call it for real). */
static void test_python_encoder_refusals(void)
{
    bpekit_error *err = SENTINEL;
    bpekit_tokenizer *tok = special_tokenizer();
    int obj = 0; /* stands for the objects; never dereferenced on these paths */
    bpekit_python_api api;
    memset(&api, 0, sizeof api);
    EXPECT_ERR(bpekit_python_encoder(NULL, tok, &obj, &obj, &obj, &err), &err, BPEKIT_ERR_NULL_ARG, "api");
    api.size = sizeof api - 1;
    EXPECT_ERR(bpekit_python_encoder(&api, tok, &obj, &obj, &obj, &err), &err, BPEKIT_ERR_INVALID_ARG, "size");
    api.size = sizeof api; /* right size, but every function missing */
    EXPECT_ERR(bpekit_python_encoder(&api, tok, &obj, &obj, &obj, &err), &err, BPEKIT_ERR_INVALID_ARG, "NULL member");
    CHECK(bpekit_python_encoder(&api, tok, &obj, &obj, &obj, NULL) == BPEKIT_ERR_INVALID_ARG);
    bpekit_tokenizer_free(tok);
}

/* Batch encodes and training after fork(): the child starts its own worker pools (the
 * parent's, copied, have no threads there), so its calls finish with the parent's
 * results instead of waiting forever. The parent uses the pools first; the child has
 * 60 s (alarm) before it counts as hung. The child reports through a pipe, not its exit
 * status: under valgrind that status says that what the parent's pool threads own
 * (reachable only from their stacks, which the child does not have) is lost. */
static void test_pools_after_fork(void)
{
    bpekit_error *err = SENTINEL;
    bpekit_tokenizer *tok = special_tokenizer();
    const bpekit_slice texts[] = {SLICE("the cat sat"), SLICE("on the mat, again"), SLICE("東京 the")};
    bpekit_tokens want = sentinel_tokens, got;
    bpekit_offsets offs = sentinel_offsets;
    EXPECT_OK(bpekit_tokenizer_encode_batch(tok, texts, 3, NULL, 2, &want, &offs, &err), &err);
    bpekit_offsets_free(&offs);
    EXPECT_OK(bpekit_tokenizer_encode_batch(tok, texts, 3, NULL, 0, &got, &offs, &err), &err);
    bpekit_offsets_free(&offs);
    bpekit_tokens_free(&got);
    bpekit_trainer *t = NULL;
    bpekit_tokenizer *trained = NULL;
    EXPECT_OK(bpekit_trainer_new(NULL, 0, &t, &err), &err);
    EXPECT_OK(bpekit_trainer_feed_batch(t, texts, 3, &err), &err);
    EXPECT_OK(bpekit_trainer_finish(t, 300, &trained, &err), &err);
    size_t vocab = bpekit_tokenizer_vocab_size(trained);
    bpekit_tokenizer_free(trained);
    bpekit_trainer_free(t);
    fflush(stdout);
    fflush(stderr);
    int report[2];
    CHECK(pipe(report) == 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid < 0) {
        bpekit_tokens_free(&want);
        bpekit_tokenizer_free(tok);
        return;
    }
    if (pid == 0) {
        close(report[0]);
        alarm(60);
        int ok = 1;
        for (size_t threads = 0; threads <= 2; threads++) {
            bpekit_tokens ids = sentinel_tokens;
            bpekit_offsets o = sentinel_offsets;
            ok = ok && bpekit_tokenizer_encode_batch(tok, texts, 3, NULL, threads, &ids, &o, NULL) == BPEKIT_OK &&
                 ids.len == want.len && memcmp(ids.ids, want.ids, want.len * sizeof *want.ids) == 0;
            bpekit_tokens_free(&ids);
            bpekit_offsets_free(&o);
        }
        bpekit_trainer *c = NULL;
        bpekit_tokenizer *ctok = NULL;
        ok = ok && bpekit_trainer_new(NULL, 0, &c, NULL) == BPEKIT_OK &&
             bpekit_trainer_feed_batch(c, texts, 3, NULL) == BPEKIT_OK &&
             bpekit_trainer_finish(c, 300, &ctok, NULL) == BPEKIT_OK && bpekit_tokenizer_vocab_size(ctok) == vocab;
        bpekit_tokenizer_free(ctok);
        bpekit_trainer_free(c);
        char verdict = ok ? 'y' : 'n';
        _exit(write(report[1], &verdict, 1) == 1 ? 0 : 2);
    }
    close(report[1]);
    char verdict = 0;
    ssize_t got_verdict = read(report[0], &verdict, 1); /* 0 if the child died first */
    close(report[0]);
    int wstatus = 0;
    CHECK(waitpid(pid, &wstatus, 0) == pid);
    CHECK(got_verdict == 1 && verdict == 'y');
    if (verdict != 'y')
        fprintf(stderr, "%s:%d:   the forked child %s (status %d, signal %d)\n", __FILE__, __LINE__,
                verdict == 'n' ? "got other results" : "reported nothing: hung or crashed",
                WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1, WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0);
    bpekit_tokens_free(&want);
    bpekit_tokenizer_free(tok);
}

/* ==== Worker pools: bounded, and fork at random moments ==== */

/* The threads of this process (entries of /proc/self/task), or -1 where unknown. */
static long live_threads(void)
{
#ifdef __linux__
    DIR *d = opendir("/proc/self/task");
    if (d == NULL)
        return -1;
    long n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
#else
    return -1;
#endif
}

static void sleep_ms(long ms)
{
    struct timespec pause = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&pause, NULL);
}

/* Checks that the process has at most as many threads as `before` plus the kept pools:
 * 4, of at most 4 threads per core (or RAYON_NUM_THREADS if more) and at most `most`
 * (the largest count asked for, or the default). The threads of dropped pools get up to
 * 20 s (valgrind) to end. */
static void check_pool_threads(const char *file, int line, long before, long most)
{
    long per_pool = 4 * sysconf(_SC_NPROCESSORS_ONLN);
    const char *rayon = getenv("RAYON_NUM_THREADS");
    if (rayon != NULL && atol(rayon) > per_pool)
        per_pool = atol(rayon);
    long bound = 4 * (per_pool < most ? per_pool : most);
    long now = live_threads();
    for (int i = 0; i < 2000 && now - before > bound; i++) {
        sleep_ms(10);
        now = live_threads();
    }
    CHECK_AT(now - before <= bound, file, line);
    if (now - before > bound)
        fprintf(stderr, "%s:%d:   %ld threads, %ld before (at most %ld more expected)\n", file, line, now, before,
                bound);
}

/* Batch calls for 1..64 threads (the header's Threads rule: a pool has at most 4 threads
 * per core, or the default count if larger, and the pools of the 4 most recently used
 * sizes are kept): the process keeps at most 4 such pools' threads (a pool per count
 * left ~2,000 threads alive), and every call gives the same ids. */
static void test_pools_stay_bounded(void)
{
    bpekit_error *err = SENTINEL;
    bpekit_tokenizer *tok = ranks_tokenizer();
    const bpekit_slice texts[] = {SLICE("the cat sat"), SLICE("on the mat, again"), SLICE("東京 the")};
    bpekit_tokens want = sentinel_tokens;
    bpekit_offsets offs = sentinel_offsets;
    EXPECT_OK(bpekit_tokenizer_encode_batch(tok, texts, 3, NULL, 1, &want, &offs, &err), &err);
    bpekit_offsets_free(&offs);
    long before = live_threads();
    int same = 1;
    for (size_t k = 1; k <= 64; k++) {
        bpekit_tokens ids = sentinel_tokens;
        bpekit_offsets o = sentinel_offsets;
        same = same && bpekit_tokenizer_encode_batch(tok, texts, 3, NULL, k, &ids, &o, NULL) == BPEKIT_OK &&
               same_ids(ids.ids, ids.len, want.ids, want.len);
        bpekit_tokens_free(&ids);
        bpekit_offsets_free(&o);
    }
    CHECK(same);
    bpekit_tokens_free(&want);
    bpekit_tokenizer_free(tok);
    if (before >= 0)
        check_pool_threads(__FILE__, __LINE__, before, 64);
}

/* ASan's allocator (GCC 12's libasan) is not fork-safe: a child can wait forever on an
 * allocator lock that another thread of the parent held at the fork. */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

/* What the fork stress test's threads share. */
struct fork_stress {
    const bpekit_tokenizer *tok;
    const bpekit_slice *texts;
    size_t n_texts;
    bpekit_tokens want;      /* batch encode of `texts` */
    struct blob ranks;       /* make_ranks(-1), for fresh tokenizers */
    char *long_text;         /* LONG_LEN bytes of 'a': one piece, of the long-piece route */
    bpekit_tokens want_long; /* its ids */
    size_t trained_vocab;    /* of a tokenizer trained on `texts` to 300 */
    pthread_mutex_t lock;    /* guards `fresh` */
    bpekit_tokenizer *fresh; /* the tokenizer a thread has just built and encodes LONG with */
    atomic_int stop, errors;
};
#define LONG_LEN 10000

/* Batch-encodes `texts` on `threads` threads; 1 if the ids are `want`'s. */
static int stress_batch(struct fork_stress *s, size_t threads)
{
    bpekit_tokens ids = sentinel_tokens;
    bpekit_offsets o = sentinel_offsets;
    int ok = bpekit_tokenizer_encode_batch(s->tok, s->texts, s->n_texts, NULL, threads, &ids, &o, NULL) == BPEKIT_OK &&
             same_ids(ids.ids, ids.len, s->want.ids, s->want.len);
    bpekit_tokens_free(&ids);
    bpekit_offsets_free(&o);
    return ok;
}

/* Trains on `texts` on `threads` threads; 1 if the vocabulary is the expected one. */
static int stress_train(struct fork_stress *s, size_t threads)
{
    bpekit_trainer *t = NULL;
    bpekit_tokenizer *tok = NULL;
    int ok = bpekit_trainer_new(NULL, 0, &t, NULL) == BPEKIT_OK &&
             bpekit_trainer_set_threads(t, threads, NULL) == BPEKIT_OK &&
             bpekit_trainer_feed_batch(t, s->texts, s->n_texts, NULL) == BPEKIT_OK &&
             bpekit_trainer_finish(t, 300, &tok, NULL) == BPEKIT_OK && bpekit_tokenizer_vocab_size(tok) == s->trained_vocab;
    bpekit_tokenizer_free(tok);
    bpekit_trainer_free(t);
    return ok;
}

/* Encodes the long piece with `tok`; 1 if the ids are `want_long`'s. */
static int stress_long(struct fork_stress *s, const bpekit_tokenizer *tok)
{
    bpekit_tokens ids = sentinel_tokens;
    int ok = bpekit_tokenizer_encode_ordinary(tok, U8(s->long_text), LONG_LEN, &ids, NULL) == BPEKIT_OK &&
             same_ids(ids.ids, ids.len, s->want_long.ids, s->want_long.len);
    bpekit_tokens_free(&ids);
    return ok;
}

static void *stress_batches(void *arg)
{
    struct fork_stress *s = arg;
    for (size_t i = 0; !atomic_load(&s->stop); i++)
        if (!stress_batch(s, i % 9)) /* 9 sizes, more than the pools kept: pools come and go */
            atomic_fetch_add(&s->errors, 1);
    return NULL;
}

static void *stress_training(void *arg)
{
    struct fork_stress *s = arg;
    for (size_t i = 0; !atomic_load(&s->stop); i++)
        if (!stress_train(s, i % 3))
            atomic_fetch_add(&s->errors, 1);
    return NULL;
}

/* Builds tokenizers one after another and encodes the long piece with each (its first
 * use builds its long-piece table). The previous one is freed under the lock, so the
 * main thread, which forks with the lock held, hands the child a live tokenizer. */
static void *stress_first_uses(void *arg)
{
    struct fork_stress *s = arg;
    while (!atomic_load(&s->stop)) {
        bpekit_tokenizer *tok = NULL;
        if (bpekit_tokenizer_from_tiktoken(U8(s->ranks.data), s->ranks.len, NULL, 0, &tok, NULL) != BPEKIT_OK) {
            atomic_fetch_add(&s->errors, 1);
            return NULL;
        }
        pthread_mutex_lock(&s->lock);
        bpekit_tokenizer_free(s->fresh);
        s->fresh = tok;
        pthread_mutex_unlock(&s->lock);
        if (!stress_long(s, tok))
            atomic_fetch_add(&s->errors, 1);
    }
    return NULL;
}

/* fork() at random moments while other threads batch-encode at 9 thread counts, train,
 * and build tokenizers and encode a long piece with each (issue 13, finding 4). Each
 * child batch-encodes, encodes the long piece with the tokenizer just built, and trains,
 * under an alarm; it reports each step through a pipe. A child
 * that waits on a lock held by a thread that does not exist in it hangs, and its alarm
 * ends it. BPEKIT_FORK_ROUNDS forks (default: 20, or fewer if they take over 10 s, as under
 * valgrind; the Python suite forks 200 times). Under
 * ASan the rounds do not fork (see UNDER_ASAN): the threads still run, for ASan to check.
 * At the end, the threads of the pools dropped meanwhile have ended. */
static void test_fork_at_random_moments(void)
{
    static const bpekit_slice texts[] = {SLICE("the cat sat on the mat"), SLICE("héllo wörld, 東京 🙂"),
                                         SLICE("def f(x):\n    return x * 2\n"), SLICE("the theme of the thesis")};
    static struct fork_stress s;
    const char *env = getenv("BPEKIT_FORK_ROUNDS");
    int rounds = env != NULL ? atoi(env) : 20;
    time_t deadline = env != NULL ? (time_t)-1 : time(NULL) + 10;
    s.texts = texts;
    s.n_texts = sizeof texts / sizeof texts[0];
    make_ranks(&s.ranks, -1);
    bpekit_tokenizer *tok = ranks_tokenizer();
    bpekit_tokenizer *trained = NULL;
    bpekit_trainer *t = NULL;
    s.long_text = malloc(LONG_LEN);
    if (tok == NULL || s.long_text == NULL) {
        check_impl(0, "the fork stress test's set-up", __FILE__, __LINE__);
        bpekit_tokenizer_free(tok);
        free(s.long_text);
        return;
    }
    memset(s.long_text, 'a', LONG_LEN);
    s.tok = tok;
    CHECK(bpekit_tokenizer_encode_ordinary(tok, U8(s.long_text), LONG_LEN, &s.want_long, NULL) == BPEKIT_OK);
    bpekit_offsets offs = sentinel_offsets;
    CHECK(bpekit_tokenizer_encode_batch(tok, texts, s.n_texts, NULL, 1, &s.want, &offs, NULL) == BPEKIT_OK);
    bpekit_offsets_free(&offs);
    CHECK(bpekit_trainer_new(NULL, 0, &t, NULL) == BPEKIT_OK &&
          bpekit_trainer_feed_batch(t, texts, s.n_texts, NULL) == BPEKIT_OK &&
          bpekit_trainer_finish(t, 300, &trained, NULL) == BPEKIT_OK);
    s.trained_vocab = bpekit_tokenizer_vocab_size(trained);
    bpekit_tokenizer_free(trained);
    bpekit_trainer_free(t);
    pthread_mutex_init(&s.lock, NULL);
    long before = live_threads();
    pthread_t threads[4];
    void *(*const work[4])(void *) = {stress_batches, stress_batches, stress_training, stress_first_uses};
    int started[4] = {0};
    for (int i = 0; i < 4; i++)
        started[i] = pthread_create(&threads[i], NULL, work[i], &s) == 0;
    int hung = 0, wrong = 0;
    unsigned seed = (unsigned)time(NULL);
    fflush(stdout);
    fflush(stderr);
    for (int round = 0; round < rounds && (deadline == (time_t)-1 || time(NULL) < deadline); round++) {
        struct timespec pause = {0, (long)(rand_r(&seed) % 3000) * 1000L}; /* 0-3 ms */
        nanosleep(&pause, NULL);
        if (UNDER_ASAN) {
            sleep_ms(30); /* about what a round with a fork takes */
            continue;
        }
        int report[2];
        if (pipe(report) != 0) {
            check_impl(0, "pipe()", __FILE__, __LINE__);
            break;
        }
        pthread_mutex_lock(&s.lock);
        pid_t pid = fork();
        if (pid == 0) {
            alarm(20);
            close(report[0]);
            /* One byte per step: '+' done, '-' wrong result. */
            int ok = stress_batch(&s, 2) && stress_batch(&s, 0);
            ok = write(report[1], ok ? "+" : "-", 1) == 1 && ok;
            ok = ok && (s.fresh == NULL || stress_long(&s, s.fresh));
            ok = write(report[1], ok ? "+" : "-", 1) == 1 && ok;
            ok = ok && stress_train(&s, 2);
            ok = write(report[1], ok ? "+" : "-", 1) == 1 && ok;
            _exit(ok ? 0 : 1);
        }
        pthread_mutex_unlock(&s.lock);
        close(report[1]);
        CHECK(pid > 0);
        char steps[8] = {0};
        size_t done = 0; /* bytes read until the child ends (its alarm ends a hung one) */
        for (ssize_t got; pid > 0 && done < sizeof steps - 1 && (got = read(report[0], steps + done, 1)) == 1;)
            done += (size_t)got;
        close(report[0]);
        int wstatus = 0;
        if (pid > 0)
            waitpid(pid, &wstatus, 0);
        static const char *const step_names[] = {"batch encode", "long-piece encode", "training"};
        if (strchr(steps, '-') != NULL) {
            wrong++;
            fprintf(stderr, "%s:%d:   round %d: the forked child got a wrong result in its %s\n", __FILE__,
                    __LINE__, round, step_names[strchr(steps, '-') - steps]);
        } else if (done < 3) {
            hung++;
            fprintf(stderr, "%s:%d:   round %d: the forked child hung in its %s (signal %d)\n", __FILE__, __LINE__,
                    round, step_names[done], WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0);
        }
    }
    atomic_store(&s.stop, 1);
    for (int i = 0; i < 4; i++)
        if (started[i])
            CHECK(pthread_join(threads[i], NULL) == 0);
    CHECK(hung == 0);
    CHECK(wrong == 0);
    CHECK(atomic_load(&s.errors) == 0);
    if (before >= 0)
        check_pool_threads(__FILE__, __LINE__, before, 64);
    bpekit_tokenizer_free(s.fresh);
    bpekit_tokens_free(&s.want);
    bpekit_tokens_free(&s.want_long);
    bpekit_tokenizer_free(tok);
    free(s.long_text);
    pthread_mutex_destroy(&s.lock);
}

/* ==== Tokenizer: encode for completion (tiktoken's encode_with_unstable) ==== */

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
    test_tokenizer_new();
    test_encode_policy();
    test_encode_batch();
    test_trainer_special_tokens();
    test_trainer_progress();
    test_progress_concurrent();
    test_trainer_set_threads();
    test_trainer_counts();
    test_file_format();
    test_encode_into();
    test_encode_ordinary_into();
    test_encode_ordinary_packed();
    test_python_encoder_refusals();
    test_pools_after_fork();
    test_pools_stay_bounded();
    test_fork_at_random_moments();
    test_encode_with_unstable();
    test_token_id();
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
