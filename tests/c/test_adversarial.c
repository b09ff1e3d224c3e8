/*
 * test_adversarial.c: the shared hostile inputs of tests/adversarial (see its README.md)
 * through the C ABI: what must load loads, what must be refused is refused with the
 * documented status and leaves the out-parameter untouched, text round trips, invalid
 * UTF-8 is refused. The directory is $BPEKIT_ADVERSARIAL, else tests/adversarial (run
 * from the repository root).
 */
#include "harness.h"

#include <dirent.h>

/* The directory of the shared hostile inputs. */
static const char *adversarial_dir(void)
{
    const char *dir = getenv("BPEKIT_ADVERSARIAL");
    return dir != NULL && dir[0] != '\0' ? dir : "tests/adversarial";
}

static int starts_with(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }
static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Calls fn(dir/name, name, ctx) for every file of dir/kind but README.md. */
static void each_file(const char *kind, void (*fn)(const char *, const char *, void *), void *ctx) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", adversarial_dir(), kind);
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "cannot open %s\n", dir);
        exit(2);
    }
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || strcmp(e->d_name, "README.md") == 0) continue;
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        fn(path, e->d_name, ctx);
        n++;
    }
    closedir(d);
    CHECK_MSG(n > 0, "no files in %s", dir);
}

/* The status of a failed call, its message checked and the error freed. */
static bpekit_status refused(bpekit_status st, bpekit_error *err, const char *name) {
    CHECK_MSG(st != BPEKIT_OK, "%s: accepted", name);
    CHECK_MSG(err != NULL && bpekit_error_code(err) == st, "%s: error object", name);
    CHECK_MSG(err == NULL || strlen(bpekit_error_message(err)) > 0, "%s: empty message", name);
    bpekit_error_free(err);
    return st;
}

static void rank_file(const char *path, const char *name, void *ctx) {
    (void)ctx;
    struct file_bytes b = read_file(path);
    bpekit_tokenizer *tok = NULL;
    bpekit_error *err = NULL;
    bpekit_status st = bpekit_tokenizer_from_tiktoken(b.data, b.len, NULL, 0, &tok, &err);
    if (starts_with(name, "ok_")) {
        CHECK_MSG(st == BPEKIT_OK && tok != NULL, "%s: %s", name, bpekit_error_message(err));
        bpekit_error_free(err);
    } else {
        st = refused(st, err, name);
        CHECK_MSG(st == BPEKIT_ERR_BAD_RANKS || st == BPEKIT_ERR_BAD_FORMAT, "%s: %s", name, bpekit_status_name(st));
        CHECK_MSG(tok == NULL, "%s: out written on failure", name);
    }
    bpekit_tokenizer_free(tok);
    free(b.data);
}

static void tokenizer_file(const char *path, const char *name, void *ctx) {
    (void)ctx;
    struct file_bytes b = read_file(path);
    bpekit_tokenizer *from_file = NULL, *from_bytes = NULL;
    bpekit_error *err = NULL, *err2 = NULL;
    bpekit_status st = bpekit_tokenizer_load((const uint8_t *)path, strlen(path), &from_file, &err);
    bpekit_status st2 = bpekit_tokenizer_from_bytes(b.data, b.len, &from_bytes, &err2);
    CHECK_MSG(st == st2, "%s: load %d, from_bytes %d", name, st, st2);
    if (starts_with(name, "ok_")) {
        CHECK_MSG(st == BPEKIT_OK, "%s: %s", name, bpekit_error_message(err));
        bpekit_bytes saved = {NULL, 0};
        CHECK_MSG(bpekit_tokenizer_to_bytes(from_file, &saved, NULL) == BPEKIT_OK, "%s: save", name);
        CHECK_MSG(saved.len == b.len && memcmp(saved.data, b.data, b.len) == 0, "%s: saves to other bytes", name);
        bpekit_bytes_free(&saved);
        bpekit_error_free(err);
        bpekit_error_free(err2);
    } else {
        st = refused(st, err, name);
        refused(st2, err2, name);
        CHECK_MSG(st == BPEKIT_ERR_BAD_FORMAT || st == BPEKIT_ERR_BAD_PATTERN || st == BPEKIT_ERR_BAD_RANKS, "%s: %s",
              name, bpekit_status_name(st));
        CHECK_MSG(from_file == NULL && from_bytes == NULL, "%s: out written on failure", name);
    }
    bpekit_tokenizer_free(from_file);
    bpekit_tokenizer_free(from_bytes);
    free(b.data);
}

static void count_table(const char *path, const char *name, void *ctx) {
    (void)ctx;
    struct file_bytes b = read_file(path);
    bpekit_trainer *t = NULL;
    CHECK_MSG(bpekit_trainer_new(NULL, 0, &t, NULL) == BPEKIT_OK, "trainer");
    bpekit_error *err = NULL;
    bpekit_status st = bpekit_trainer_add_counts(t, b.data, b.len, &err);
    if (starts_with(name, "ok_")) {
        CHECK_MSG(st == BPEKIT_OK, "%s: %s", name, bpekit_error_message(err));
        bpekit_error_free(err);
        bpekit_tokenizer *tok = NULL;
        CHECK_MSG(bpekit_trainer_finish(t, 260, &tok, NULL) == BPEKIT_OK, "%s: train", name);
        CHECK_MSG(bpekit_tokenizer_vocab_size(tok) > 256, "%s: nothing learned", name);
        bpekit_tokenizer_free(tok);
    } else {
        st = refused(st, err, name);
        CHECK_MSG(st == BPEKIT_ERR_BAD_FORMAT, "%s: %s", name, bpekit_status_name(st));
    }
    bpekit_trainer_free(t);
    free(b.data);
}

static void text_file(const char *path, const char *name, void *ctx) {
    bpekit_tokenizer **toks = ctx;
    struct file_bytes b = read_file(path);
    for (int i = 0; toks[i] != NULL; i++) {
        bpekit_tokens ids = {NULL, 0};
        bpekit_error *err = NULL;
        bpekit_status st = bpekit_tokenizer_encode_ordinary(toks[i], b.data, b.len, &ids, &err);
        if (ends_with(name, ".txt")) {
            CHECK_MSG(st == BPEKIT_OK, "%s (tokenizer %d): %s", name, i, bpekit_error_message(err));
            bpekit_bytes back = {NULL, 0};
            CHECK_MSG(bpekit_tokenizer_decode(toks[i], ids.ids, ids.len, &back, NULL) == BPEKIT_OK, "%s: decode", name);
            CHECK_MSG(back.len == b.len && memcmp(back.data, b.data, b.len) == 0, "%s (tokenizer %d): round trip", name, i);
            bpekit_bytes_free(&back);
            bpekit_error_free(err);
        } else {
            st = refused(st, err, name);
            CHECK_MSG(st == BPEKIT_ERR_INVALID_UTF8, "%s: %s", name, bpekit_status_name(st));
            CHECK_MSG(ids.ids == NULL && ids.len == 0, "%s: out written on failure", name);
        }
        bpekit_tokens_free(&ids);
    }
    free(b.data);
}

static void id_list(const char *path, const char *name, void *ctx) {
    const bpekit_tokenizer *tok = ctx;
    struct file_bytes b = read_file(path);
    size_t n = b.len / 4;
    uint32_t *ids = malloc((n ? n : 1) * sizeof *ids);
    for (size_t i = 0; i < n; i++)
        ids[i] = (uint32_t)b.data[4 * i] | (uint32_t)b.data[4 * i + 1] << 8 | (uint32_t)b.data[4 * i + 2] << 16 |
                 (uint32_t)b.data[4 * i + 3] << 24;
    bpekit_bytes out = {NULL, 0};
    bpekit_error *err = NULL;
    bpekit_status st = bpekit_tokenizer_decode(tok, ids, n, &out, &err);
    if (starts_with(name, "ok_")) {
        CHECK_MSG(st == BPEKIT_OK, "%s: %s", name, bpekit_error_message(err));
        bpekit_error_free(err);
    } else {
        st = refused(st, err, name);
        CHECK_MSG(st == BPEKIT_ERR_UNKNOWN_TOKEN, "%s: %s", name, bpekit_status_name(st));
        CHECK_MSG(out.data == NULL, "%s: out written on failure", name);
    }
    bpekit_bytes_free(&out);
    free(ids);
    free(b.data);
}

/* A tokenizer of the named rank file that splits nothing (the whole text is one piece). */
static bpekit_tokenizer *whole_text_tokenizer(const char *rank_file_name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/ranks/%s", adversarial_dir(), rank_file_name);
    struct file_bytes b = read_file(path);
    static const char whole[] = "(?s:.+)";
    bpekit_tokenizer *tok = NULL;
    if (bpekit_tokenizer_from_tiktoken(b.data, b.len, (const uint8_t *)whole, strlen(whole), &tok, NULL) != BPEKIT_OK) {
        fprintf(stderr, "cannot build a tokenizer from %s\n", path);
        exit(2);
    }
    free(b.data);
    return tok;
}

/* The toy tokenizer saved in tokenizer/ok_toy.bpekit. */
static bpekit_tokenizer *toy_tokenizer(void) {
    char toy_path[4096];
    snprintf(toy_path, sizeof toy_path, "%s/tokenizer/ok_toy.bpekit", adversarial_dir());
    bpekit_tokenizer *toy = NULL;
    if (bpekit_tokenizer_load((const uint8_t *)toy_path, strlen(toy_path), &toy, NULL) != BPEKIT_OK) {
        fprintf(stderr, "cannot load %s\n", toy_path);
        exit(2);
    }
    return toy;
}

static void test_adversarial_ranks(void) { each_file("ranks", rank_file, NULL); }

static void test_adversarial_tokenizer_files(void) { each_file("tokenizer", tokenizer_file, NULL); }

static void test_adversarial_count_tables(void) { each_file("counts", count_table, NULL); }

/* Texts through the toy tokenizer and two that take the whole text as one piece. */
static void test_adversarial_texts(void) {
    bpekit_tokenizer *toks[] = {toy_tokenizer(), whole_text_tokenizer("ok_dash_equals_150.tiktoken"),
                                whole_text_tokenizer("ok_unreachable_20k_token.tiktoken"), NULL};
    each_file("text", text_file, toks);
    for (int i = 0; toks[i] != NULL; i++) bpekit_tokenizer_free(toks[i]);
}

static void test_adversarial_id_lists(void) {
    bpekit_tokenizer *toy = toy_tokenizer();
    each_file("ids", id_list, toy);
    bpekit_tokenizer_free(toy);
}

const struct test adversarial_tests[] = {
    TEST(test_adversarial_ranks),
    TEST(test_adversarial_tokenizer_files),
    TEST(test_adversarial_count_tables),
    TEST(test_adversarial_texts),
    TEST(test_adversarial_id_lists),
    {NULL, NULL},
};
