/*
 * harness.c: the checks, fixtures and runner that the C ABI tests share (harness.h says
 * how the tests are laid out, built and run).
 */
#include "harness.h"

/* ==== Checks ==== */

static int harness_passed, harness_failed;

/* Counts one check; on failure prints where it is and what it says. */
void check_impl(int ok, const char *text, const char *file, int line)
{
    if (ok) {
        harness_passed++;
    } else {
        harness_failed++;
        fprintf(stderr, "%s:%d: CHECK failed: %s\n", file, line, text);
    }
}

/* A pointer that bpekit never produces. Out-params are pre-filled with it (or with the
 * sentinel values below) to check that failures leave them untouched and that success
 * overwrites `*err`. It is compared, never dereferenced. */
max_align_t sentinel_object;

/* Checks a failed call: `status` and the error's code are `code`, the message contains
 * `needle` (if not NULL); then frees the error and resets `*err` to NULL. */
void expect_error(const char *file, int line, bpekit_status status, bpekit_error **err,
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

/* Checks a successful call: `status` is BPEKIT_OK and `err` was cleared to NULL. */
void expect_ok(const char *file, int line, bpekit_status status, bpekit_error **err)
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

const bpekit_tokens sentinel_tokens = {SENTINEL, SENTINEL_LEN};
const bpekit_bytes sentinel_bytes = {SENTINEL, SENTINEL_LEN};

int tokens_untouched(const bpekit_tokens *t)
{
    return t->ids == sentinel_tokens.ids && t->len == sentinel_tokens.len;
}

int bytes_untouched(const bpekit_bytes *b)
{
    return b->data == sentinel_bytes.data && b->len == sentinel_bytes.len;
}

/* ==== Fixtures ==== */

/* How many of a list of `n` thread counts to try: all of them. */
size_t thread_counts(size_t n)
{
    return n;
}

const char *const corpus[N_CORPUS] = {
    "the cat sat on the mat. the dog sat on the log. the cat and the dog are friends.",
    "There is the thing: the other thing, then the theory. Those three are there.",
    "Numbers too: 12345 and 678 and 2024-01-01; punctuation!!! and   spaces.",
    "Ünïcödé: naïve café, Grüße, 東京, Ελληνικά, emoji 🎉🎉 and more emoji 🎉.",
};

void blob_add(struct blob *b, const char *s)
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
void blob_add_line(struct blob *b, const uint8_t *tok, size_t n, unsigned rank)
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
void make_ranks(struct blob *b, int skip_byte)
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

struct file_bytes read_file(const char *path)
{
    struct file_bytes b = {NULL, 0};
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(2);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    b.data = malloc(n > 0 ? (size_t)n : 1);
    if (b.data == NULL) {
        fprintf(stderr, "out of memory reading %s\n", path);
        exit(2);
    }
    b.len = fread(b.data, 1, n > 0 ? (size_t)n : 0, f);
    fclose(f);
    return b;
}

/* A tokenizer trained on `corpus` with the default pattern; NULL on failure. */
bpekit_tokenizer *trained_tokenizer(uint32_t vocab_size)
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
bpekit_tokenizer *ranks_tokenizer(void)
{
    static struct blob b;
    bpekit_tokenizer *tok = NULL;
    bpekit_error *err = NULL;
    make_ranks(&b, -1);
    EXPECT_OK(bpekit_tokenizer_from_tiktoken(U8(b.data), b.len, NULL, 0, &tok, &err), &err);
    return tok;
}

/* Exports `tok`'s ranks; empty on failure. The caller frees the result. */
bpekit_bytes export_ranks(const bpekit_tokenizer *tok)
{
    bpekit_bytes out = {0};
    bpekit_error *err = NULL;
    EXPECT_OK(bpekit_tokenizer_export_tiktoken(tok, &out, &err), &err);
    return out;
}

int same_bytes(const bpekit_bytes *a, const bpekit_bytes *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

/* The special tokens of special_tokenizer(), given out of id order. "<|x|>" is a prefix of
 * "<|x|>y", and "|x|>yy" starts inside both: they exercise the leftmost-longest rule. */
const struct fixture_special fixture_specials[N_FIXTURE_SPECIALS] = {
    {"<|pad|>", 300}, /* after a gap: ids 263..299 are unused */
    {"<|endoftext|>", 259},
    {"<|x|>", 261},
    {"<|x|>y", 260},
    {"|x|>yy", 262},
};

/* make_ranks(-1) (bytes at their own value, "th" 256, "the" 257, " the" 258) plus the
 * fixture's special tokens, default pattern; NULL on failure. */
bpekit_tokenizer *special_tokenizer(void)
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

int same_ids(const uint32_t *a, size_t na, const uint32_t *b, size_t nb)
{
    return na == nb && (na == 0 || memcmp(a, b, na * sizeof *a) == 0);
}

void print_ids(const char *what, const uint32_t *ids, size_t n)
{
    fprintf(stderr, "    %s:", what);
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, " %u", (unsigned)ids[i]);
    fprintf(stderr, "\n");
}

/* Checks that encode(text, policy) succeeds with exactly `want`. */
void expect_ids(const char *file, int line, const bpekit_tokenizer *tok, const char *text,
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

/* Checks that encode(text, policy) succeeds and equals encode_ordinary(text): the special
 * text in it is ordinary text under `policy`. */
void expect_as_ordinary(const char *file, int line, const bpekit_tokenizer *tok,
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

const bpekit_offsets sentinel_offsets = {SENTINEL, SENTINEL_LEN};

int offsets_untouched(const bpekit_offsets *o)
{
    return o->data == sentinel_offsets.data && o->len == sentinel_offsets.len;
}

const bpekit_slice s_eot[1] = {SLICE("<|endoftext|>")};
const bpekit_slice s_pad[1] = {SLICE("<|pad|>")};
const bpekit_slice s_far[1] = {SLICE("|x|>yy")};
const bpekit_slice s_pad_eot[2] = {SLICE("<|pad|>"), SLICE("<|endoftext|>")};
const bpekit_slice s_all[5] = {SLICE("<|pad|>"), SLICE("<|endoftext|>"), SLICE("<|x|>"),
                               SLICE("<|x|>y"), SLICE("|x|>yy")};
const bpekit_slice s_unknown[2] = {SLICE("<|nope|>"), SLICE("hello")};

/* A trainer with the default pattern fed `corpus`; NULL on failure. */
bpekit_trainer *corpus_trainer(void)
{
    bpekit_trainer *t = NULL;
    bpekit_error *err = NULL;
    EXPECT_OK(bpekit_trainer_new(NULL, 0, &t, &err), &err);
    for (size_t i = 0; t != NULL && i < N_CORPUS; i++)
        EXPECT_OK(bpekit_trainer_feed(t, U8(corpus[i]), strlen(corpus[i]), &err), &err);
    return t;
}

/* A pseudo-random corpus of n texts of `words` words each, made of a few syllables, in
 * `buf`; `texts` gets the slices. */
void make_corpus(char *buf, size_t cap, bpekit_slice *texts, size_t n, size_t words,
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

/* ==== Runner ==== */

/* The suites in the order they run. The trainer's come first: its first test forks, best
 * before any worker thread exists. The pools' come last: they count the threads the
 * process has. */
static const struct {
    const char *name;
    const struct test *tests;
} suites[] = {
    {"trainer", trainer_tests},
    {"errors", errors_tests},
    {"buffers", buffers_tests},
    {"tokenizer", tokenizer_tests},
    {"patterns", patterns_tests},
    {"encode", encode_tests},
    {"decode", decode_tests},
    {"specials", specials_tests},
    {"batch", batch_tests},
    {"completion", completion_tests},
    {"file", file_tests},
    {"shards", shards_tests},
    {"threads", threads_tests},
    {"progress", progress_tests},
    {"counts", counts_tests},
    {"host", host_tests},
    {"adversarial", adversarial_tests},
    {"pools", pools_tests},
    {"corpus", corpus_tests},
};
#define N_SUITES (sizeof suites / sizeof suites[0])

/* Whether suite `name` is to run: every suite when no name is given. */
static int selected(const char *name, int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return 1;
    return argc < 2;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        int known = 0;
        for (size_t s = 0; s < N_SUITES; s++)
            known |= strcmp(argv[i], suites[s].name) == 0;
        if (!known) {
            fprintf(stderr, "test_capi: no suite \"%s\"; the suites:", argv[i]);
            for (size_t s = 0; s < N_SUITES; s++)
                fprintf(stderr, " %s", suites[s].name);
            fprintf(stderr, "\n");
            return 2;
        }
    }
    for (size_t s = 0; s < N_SUITES; s++) {
        if (!selected(suites[s].name, argc, argv))
            continue;
        int passed = harness_passed, failed = harness_failed, tests = 0;
        for (const struct test *t = suites[s].tests; t->run != NULL; t++, tests++)
            t->run();
        printf("%-12s %2d tests: %5d passed, %d failed\n", suites[s].name, tests,
               harness_passed - passed, harness_failed - failed);
        fflush(stdout);
    }
    printf("%d passed, %d failed\n", harness_passed, harness_failed);
    return harness_failed == 0 ? 0 : 1;
}
