/*
 * harness.h: what the C ABI tests share: the checks, the fixtures, and the registry of
 * test suites. The tests are written against include/bpekit.h (and, in test_host.c,
 * include/bpekit_host.h) alone.
 *
 * Layout: one file per area of the API, test_<area>.c, each ending in a table
 * `<area>_tests` of its tests in file order; harness.c runs the suites in the order of
 * its `suites` table. To add a test, write `static void test_x(void)` in its area's file
 * and list it in that file's table (an unlisted static function fails the -Werror
 * build); to add an area, add test_<area>.c, declare its table below and list it in
 * harness.c (ci/run_c_tests.sh fails if a file is not listed there).
 *
 * What is covered: every function in the headers, every documented error path (NULL
 * arguments, invalid UTF-8, bad sizes, bad patterns, malformed ranks, unknown ids, bad
 * special tokens and policies, disallowed special tokens, damaged count tables and
 * files), the ownership rules (out-params untouched on failure, `*err` cleared on
 * success, `err == NULL` accepted, zeroed buffers and NULL handles freed harmlessly), and
 * threads and forks (one tokenizer shared by several threads, progress read during
 * training, batch encodes and training in a forked child, the bound on the worker pools
 * kept, forks at random moments while other threads encode, train and build tokenizers),
 * and the hostile inputs of tests/adversarial.
 *
 * Build and run from the repository root (ci/run_c_tests.sh does this, also under
 * valgrind and ASan/UBSan), after `make lib`:
 *
 *   cc -std=c11 -Wall -Wextra -Wpedantic -Werror -pthread -Iinclude tests/c/harness.c \
 *      tests/c/test_<area>.c... -Ltarget/release -lbpekit -o test_capi
 *   LD_LIBRARY_PATH=target/release ./test_capi [SUITE...]
 *
 * With no argument every suite runs; otherwise the named ones (`./test_capi encode
 * specials`). The adversarial suite reads the shared hostile inputs from
 * $BPEKIT_ADVERSARIAL, else tests/adversarial. The last line of output is always "N
 * passed, N failed"; the exit status is non-zero if any check failed.
 */
#ifndef BPEKIT_TEST_HARNESS_H
#define BPEKIT_TEST_HARNESS_H

#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpekit.h"

/* ==== Registry ==== */

/* One test: a function of no arguments that reports through the checks below. */
struct test {
    const char *name;
    void (*run)(void);
};
#define TEST(fn) {#fn, fn}

/* Each area's tests, in file order, ended by {NULL, NULL}. */
extern const struct test adversarial_tests[], errors_tests[], buffers_tests[], trainer_tests[], progress_tests[],
    counts_tests[], tokenizer_tests[], patterns_tests[], encode_tests[], decode_tests[],
    specials_tests[], batch_tests[], completion_tests[], file_tests[], threads_tests[],
    host_tests[], pools_tests[], corpus_tests[], shards_tests[];

/* ==== Checks ==== */

/* Counts one check; on failure prints where it is and what it says. */
void check_impl(int ok, const char *text, const char *file, int line);
#define CHECK(cond) check_impl((cond) != 0, #cond, __FILE__, __LINE__)
#define CHECK_AT(cond, file, line) check_impl((cond) != 0, #cond, (file), (line))
/* CHECK, printing a printf-style message after a failure. */
#define CHECK_MSG(cond, ...)                                  \
    do {                                                      \
        int check_ok_ = (cond) != 0;                          \
        check_impl(check_ok_, #cond, __FILE__, __LINE__);     \
        if (!check_ok_) {                                     \
            fprintf(stderr, "    ");                          \
            fprintf(stderr, __VA_ARGS__);                     \
            fputc('\n', stderr);                              \
        }                                                     \
    } while (0)

/* A pointer that bpekit never produces. Out-params are pre-filled with it (or with the
 * sentinel values below) to check that failures leave them untouched and that success
 * overwrites `*err`. It is compared, never dereferenced. */
extern max_align_t sentinel_object;
#define SENTINEL ((void *)&sentinel_object)
#define SENTINEL_LEN ((size_t)0xDEADBEEF)
extern const bpekit_tokens sentinel_tokens;
extern const bpekit_bytes sentinel_bytes;
extern const bpekit_offsets sentinel_offsets;
int tokens_untouched(const bpekit_tokens *t);
int bytes_untouched(const bpekit_bytes *b);
int offsets_untouched(const bpekit_offsets *o);

/* Checks a failed call: `status` and the error's code are `code`, the message contains
 * `needle` (if not NULL); then frees the error and resets `*err` to NULL. */
void expect_error(const char *file, int line, bpekit_status status, bpekit_error **err,
                  bpekit_status code, const char *needle);
#define EXPECT_ERR(status, err, code, needle) \
    expect_error(__FILE__, __LINE__, (status), (err), (code), (needle))

/* Checks a successful call: `status` is BPEKIT_OK and `err` was cleared to NULL. */
void expect_ok(const char *file, int line, bpekit_status status, bpekit_error **err);
#define EXPECT_OK(status, err) expect_ok(__FILE__, __LINE__, (status), (err))

/* Checks that encode(text, policy) succeeds with exactly the ids given after `policy`. */
void expect_ids(const char *file, int line, const bpekit_tokenizer *tok, const char *text,
                const bpekit_special_policy *policy, const uint32_t *want, size_t n);
#define EXPECT_IDS(tok, text, policy, ...)                                                  \
    expect_ids(__FILE__, __LINE__, (tok), (text), (policy), (const uint32_t[]){__VA_ARGS__}, \
               sizeof((const uint32_t[]){__VA_ARGS__}) / sizeof(uint32_t))

/* Checks that encode(text, policy) succeeds and equals encode_ordinary(text): the special
 * text in it is ordinary text under `policy`. */
void expect_as_ordinary(const char *file, int line, const bpekit_tokenizer *tok,
                        const char *text, const bpekit_special_policy *policy);
#define EXPECT_AS_ORDINARY(tok, text, policy) \
    expect_as_ordinary(__FILE__, __LINE__, (tok), (text), (policy))

int same_ids(const uint32_t *a, size_t na, const uint32_t *b, size_t nb);
int same_bytes(const bpekit_bytes *a, const bpekit_bytes *b);
/* Prints `ids` to stderr after `what`, to explain a failed check. */
void print_ids(const char *what, const uint32_t *ids, size_t n);

/* ==== Fixtures ==== */

#define U8(s) ((const uint8_t *)(s))
#define SLICE(s) {U8(s), sizeof(s) - 1}

/* How many of a list of `n` thread counts to try: all of them. */
size_t thread_counts(size_t n);

/* A small mixed corpus: English, punctuation and digits, and non-ASCII text. */
#define N_CORPUS 4
extern const char *const corpus[N_CORPUS];

/* A fixed-size text buffer, large enough for the rank blobs here. */
struct blob {
    char data[16384];
    size_t len;
};
void blob_add(struct blob *b, const char *s);
/* Appends one tiktoken line: standard base64 of `tok`, a space, the rank, LF. */
void blob_add_line(struct blob *b, const uint8_t *tok, size_t n, unsigned rank);
/* Ranks with every single byte at rank == byte value, except `skip_byte` (pass -1 to
 * keep all 256), followed by three merges at 256..258: "th", "the", " the". */
void make_ranks(struct blob *b, int skip_byte);
/* Exports `tok`'s ranks; empty on failure. The caller frees the result. */
bpekit_bytes export_ranks(const bpekit_tokenizer *tok);

/* A file's bytes, read whole (a shared rank file, a saved tokenizer, ...); `data` is
 * malloc'ed, the caller frees it. A file that cannot be read ends the run (status 2):
 * the tests' inputs are missing. */
struct file_bytes {
    unsigned char *data;
    size_t len;
};
struct file_bytes read_file(const char *path);

/* A tokenizer trained on `corpus` with the default pattern; NULL on failure. */
bpekit_tokenizer *trained_tokenizer(uint32_t vocab_size);
/* A tokenizer from make_ranks(-1) with the default pattern; NULL on failure. */
bpekit_tokenizer *ranks_tokenizer(void);
/* A trainer with the default pattern fed `corpus`; NULL on failure. */
bpekit_trainer *corpus_trainer(void);
/* A pseudo-random corpus of n texts of `words` words each, made of a few syllables, in
 * `buf` (`cap` bytes); `texts` gets the slices. */
void make_corpus(char *buf, size_t cap, bpekit_slice *texts, size_t n, size_t words,
                 uint32_t seed);

/* The special tokens of special_tokenizer(), given out of id order. "<|x|>" is a prefix of
 * "<|x|>y", and "|x|>yy" starts inside both: they exercise the leftmost-longest rule. */
struct fixture_special {
    const char *text;
    uint32_t id;
};
#define N_FIXTURE_SPECIALS 5
extern const struct fixture_special fixture_specials[N_FIXTURE_SPECIALS];
/* make_ranks(-1) (bytes at their own value, "th" 256, "the" 257, " the" 258) plus the
 * fixture's special tokens, default pattern; NULL on failure. */
bpekit_tokenizer *special_tokenizer(void);

/* Lists of special-token texts for policies: one of the fixture's, two, all five, a far
 * one ("|x|>yy"), and texts that are not special tokens. */
extern const bpekit_slice s_eot[1], s_pad[1], s_far[1], s_pad_eot[2], s_all[5], s_unknown[2];

#endif /* BPEKIT_TEST_HARNESS_H */
