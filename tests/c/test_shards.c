/*
 * test_shards.c: token shards: the shard writer (one shard and numbered shards, every
 * format, BOS/EOS, threads and batches), reading back (bpekit_shard_read_info,
 * bpekit_shard_read, bpekit_shard_documents, format detection), bad arguments, and what
 * a failed or unfinished writer leaves on disk (nothing under a final name); ids encoded
 * elsewhere (bpekit_shard_writer_push_ids) and the rotation rule on lengths alone
 * (bpekit_shard_plan), both against what the writer does with texts.
 */
#include "harness.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

/* ==== Helpers ==== */

/* Entries of `dir` other than . and ..; with `hidden_only`, those starting with '.'. */
static int count_entries(const char *dir, int hidden_only)
{
    DIR *d = opendir(dir);
    int n = 0;
    if (d == NULL)
        return -1;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        n += !hidden_only || e->d_name[0] == '.';
    }
    closedir(d);
    return n;
}

/* Removes the files of `dir` (and of its subdirectories, one level), then `dir`. */
static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    char path[512];
    if (d == NULL)
        return;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (unlink(path) != 0)
            remove_tree(path);
    }
    closedir(d);
    rmdir(dir);
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* A file's bytes (malloc'ed, caller frees); data NULL if it cannot be read. */
static struct file_bytes slurp(const char *path)
{
    struct file_bytes f = {NULL, 0};
    FILE *fp = fopen(path, "rb");
    if (fp == NULL)
        return f;
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    f.data = malloc(size > 0 ? (size_t)size : 1);
    if (f.data != NULL)
        f.len = fread(f.data, 1, (size_t)size, fp);
    fclose(fp);
    return f;
}

static int same_file(const char *a, const char *b)
{
    struct file_bytes fa = slurp(a), fb = slurp(b);
    int same = fa.data != NULL && fb.data != NULL && fa.len == fb.len &&
               memcmp(fa.data, fb.data, fa.len) == 0;
    free(fa.data);
    free(fb.data);
    return same;
}

static bpekit_shard_options options(const char *format, const char *prefix,
                                    uint64_t shard_tokens, int64_t bos, int64_t eos)
{
    bpekit_shard_options o = {U8(format), strlen(format), U8(prefix), strlen(prefix),
                              shard_tokens, 0, bos, eos};
    return o;
}

/* The documents: spans of one buffer, separated by bytes that belong to no document. */
enum { N_DOCS = 48 };
struct docs {
    char data[16384];
    size_t len;
    bpekit_span spans[N_DOCS];
};

static void make_docs(struct docs *d)
{
    static const char *const base[] = {
        "hello world",
        "",
        "the cat <|endoftext|> sat on the <|pad|>", /* special text is ordinary text here */
        "Ünïcödé 東京 🎉 the the the",
        "a",
        "numbers 1234567 and    spaces\n\nand lines",
    };
    d->len = 0;
    for (size_t i = 0; i < N_DOCS; i++) {
        const char *t = i % 7 == 6 ? corpus[i % N_CORPUS] : base[i % (sizeof base / sizeof *base)];
        size_t n = strlen(t);
        d->spans[i].start = d->len;
        memcpy(d->data + d->len, t, n);
        d->len += n;
        d->spans[i].end = d->len;
        d->data[d->len++] = '\x1e'; /* a separator outside every span */
    }
}

/* Every document's expected ids (bos + encode_ordinary + eos), one after another, and
 * the N_DOCS + 1 offsets of the documents in them. The caller frees `ids`. */
static uint32_t *expected(const bpekit_tokenizer *tok, const struct docs *d, int64_t bos,
                          int64_t eos, size_t offsets[N_DOCS + 1])
{
    size_t cap = 4 * d->len + 2 * N_DOCS, n = 0;
    uint32_t *ids = malloc(cap * sizeof *ids);
    bpekit_error *err = NULL;
    offsets[0] = 0;
    for (size_t i = 0; i < N_DOCS; i++) {
        bpekit_tokens t = {0};
        EXPECT_OK(bpekit_tokenizer_encode_ordinary(tok, U8(d->data + d->spans[i].start),
                                                   (size_t)(d->spans[i].end - d->spans[i].start),
                                                   &t, &err),
                  &err);
        if (bos >= 0)
            ids[n++] = (uint32_t)bos;
        for (size_t k = 0; k < t.len && n < cap; k++)
            ids[n++] = t.ids[k];
        if (eos >= 0)
            ids[n++] = (uint32_t)eos;
        offsets[i + 1] = n;
        bpekit_tokens_free(&t);
    }
    return ids;
}

/* Pushes documents [from, to) in batches of `batch` on `threads` threads. */
static void push_docs(bpekit_shard_writer *w, const bpekit_tokenizer *tok, const struct docs *d,
                      size_t from, size_t to, size_t batch, size_t threads)
{
    bpekit_error *err = SENTINEL;
    for (size_t i = from; i < to; i += batch) {
        size_t n = to - i < batch ? to - i : batch;
        EXPECT_OK(bpekit_shard_writer_push(w, tok, U8(d->data), d->len, d->spans + i, n, threads,
                                           &err),
                  &err);
    }
}

/* The first path of a record (the tokens file). */
static const char *first_path(const bpekit_shard_record *r)
{
    return (const char *)r->paths;
}

/* Checks every completed shard of `w` against the expected ids: the files the record
 * lists exist; read back (format detected from each file and from the prefix), the
 * shards' ids one after another are `want`; where the format records documents, their
 * boundaries are the documents'; info agrees with the record. */
static void check_written(const bpekit_shard_writer *w, const char *format, uint64_t shard_tokens,
                          const uint32_t *want, const size_t want_offsets[N_DOCS + 1])
{
    bpekit_error *err = SENTINEL;
    const int has_docs = strcmp(format, "megatron") == 0 || strcmp(format, "npy") == 0;
    const size_t n_files = has_docs ? 2 : 1;
    size_t at = 0, doc = 0, shards = bpekit_shard_writer_completed(w);
    CHECK(shards >= 1);
    for (size_t s = 0; s < shards; s++) {
        bpekit_shard_record r;
        EXPECT_OK(bpekit_shard_writer_shard(w, s, &r, &err), &err);
        CHECK(shard_tokens == 0 || r.tokens <= shard_tokens || r.documents == 1);
        /* The paths: n_files NUL-terminated names, each an existing file. */
        size_t files = 0;
        for (size_t k = 0; k < r.paths_len; k += strlen((const char *)r.paths + k) + 1) {
            CHECK_MSG(file_exists((const char *)r.paths + k), "missing %s", (const char *)r.paths + k);
            files++;
        }
        CHECK(files == n_files && r.paths_len > 0 && r.paths[r.paths_len - 1] == '\0');

        bpekit_tokens ids = sentinel_tokens;
        bpekit_offsets offs = sentinel_offsets;
        EXPECT_OK(bpekit_shard_read(r.paths, strlen(first_path(&r)), NULL, 0, &ids, &offs, &err), &err);
        CHECK(ids.len == r.tokens);
        CHECK(at + ids.len <= want_offsets[N_DOCS] && same_ids(ids.ids, ids.len, want + at, ids.len));
        if (has_docs) {
            CHECK(offs.len == r.documents + 1);
            for (size_t k = 0; k < offs.len && doc + k <= N_DOCS; k++)
                CHECK_MSG(at + offs.data[k] == want_offsets[doc + k], "shard %zu, boundary %zu", s, k);
        } else {
            CHECK(offs.len == 0 && offs.data == NULL);
        }

        /* Each file (and the format given) names the same shard. */
        for (size_t k = 0; k < r.paths_len; k += strlen((const char *)r.paths + k) + 1) {
            const char *p = (const char *)r.paths + k;
            bpekit_shard_info info;
            bpekit_bytes file = sentinel_bytes;
            EXPECT_OK(bpekit_shard_read_info(U8(p), strlen(p), NULL, 0, &info, &file, &err), &err);
            CHECK(strcmp(info.format, format) == 0);
            CHECK(strcmp(info.dtype, "uint16") == 0);
            CHECK(info.tokens == r.tokens);
            CHECK(info.documents == (has_docs ? r.documents : UINT64_MAX));
            CHECK(info.data_offset == (strcmp(format, "llmc") == 0  ? 1024u
                                       : strcmp(format, "npy") == 0 ? 128u
                                                                    : 0u));
            CHECK(file.len == strlen(first_path(&r)) && memcmp(file.data, r.paths, file.len) == 0);
            bpekit_bytes_free(&file);
            EXPECT_OK(bpekit_shard_read_info(U8(p), strlen(p), U8(format), strlen(format), &info, &file,
                                             &err),
                      &err);
            CHECK(strcmp(info.format, format) == 0 && info.tokens == r.tokens);
            bpekit_bytes_free(&file);

            bpekit_offsets docs_only = sentinel_offsets;
            EXPECT_OK(bpekit_shard_documents(U8(p), strlen(p), NULL, 0, &docs_only, &err), &err);
            CHECK(docs_only.len == offs.len &&
                  (offs.len == 0 || memcmp(docs_only.data, offs.data, offs.len * sizeof(size_t)) == 0));
            bpekit_offsets_free(&docs_only);
        }
        at += ids.len;
        doc += (size_t)r.documents;
        bpekit_tokens_free(&ids);
        bpekit_offsets_free(&offs);
    }
    CHECK(at == want_offsets[N_DOCS]);
    CHECK(doc == N_DOCS);
}

static const char *const formats[] = {"llmc", "megatron", "nanogpt", "npy"};
#define N_FORMATS (sizeof formats / sizeof formats[0])

/* ==== Tests ==== */

/* One shard per format, with and without BOS/EOS, in a few batches: read back equal to
 * encode_ordinary per document. */
static void test_one_shard_per_format(void)
{
    bpekit_tokenizer *tok = special_tokenizer();
    static struct docs d;
    char dir[] = "/tmp/bpekit-c-shards-XXXXXX";
    char prefix[128];
    bpekit_error *err = SENTINEL;
    static const int64_t ends[][2] = {{-1, -1}, {300, 259}, {-1, 259}};
    if (tok == NULL || mkdtemp(dir) == NULL) {
        CHECK(0);
        bpekit_tokenizer_free(tok);
        return;
    }
    make_docs(&d);
    for (size_t f = 0; f < N_FORMATS; f++) {
        for (size_t e = 0; e < sizeof ends / sizeof ends[0]; e++) {
            size_t offsets[N_DOCS + 1];
            uint32_t *want = expected(tok, &d, ends[e][0], ends[e][1], offsets);
            snprintf(prefix, sizeof prefix, "%s/%s_%zu", dir, formats[f], e);
            bpekit_shard_options o = options(formats[f], prefix, 0, ends[e][0], ends[e][1]);
            bpekit_shard_writer *w = SENTINEL;
            EXPECT_OK(bpekit_shard_writer_new(tok, &o, &w, &err), &err);
            push_docs(w, tok, &d, 0, 10, 10, 1);
            push_docs(w, tok, &d, 10, N_DOCS, 7, 2);
            CHECK(bpekit_shard_writer_completed(w) == 0);
            EXPECT_OK(bpekit_shard_writer_finish(w, &err), &err);
            CHECK(bpekit_shard_writer_completed(w) == 1);
            bpekit_shard_record r;
            EXPECT_OK(bpekit_shard_writer_shard(w, 0, &r, &err), &err);
            CHECK(r.index == 0 && r.documents == N_DOCS && r.tokens == offsets[N_DOCS]);
            CHECK(strncmp(first_path(&r), prefix, strlen(prefix)) == 0);
            CHECK(strcmp(first_path(&r) + strlen(prefix), strcmp(formats[f], "npy") == 0 ? ".npy" : ".bin") == 0);
            check_written(w, formats[f], 0, want, offsets);

            /* The prefix alone names the shard too. */
            bpekit_tokens ids = sentinel_tokens;
            bpekit_offsets offs = sentinel_offsets;
            EXPECT_OK(bpekit_shard_read(U8(prefix), strlen(prefix), NULL, 0, &ids, &offs, &err), &err);
            CHECK(same_ids(ids.ids, ids.len, want, offsets[N_DOCS]));
            bpekit_tokens_free(&ids);
            bpekit_offsets_free(&offs);
            bpekit_shard_writer_free(w);
            free(want);
        }
    }
    /* Only final names: no temporary file is left. */
    CHECK(count_entries(dir, 1) == 0);
    CHECK(count_entries(dir, 0) == 3 * 6);
    remove_tree(dir);
    bpekit_tokenizer_free(tok);
}

/* Numbered shards: size bound, naming from first_shard, every document in order. */
static void test_numbered_shards(void)
{
    bpekit_tokenizer *tok = special_tokenizer();
    static struct docs d;
    char dir[] = "/tmp/bpekit-c-shards-XXXXXX";
    char prefix[128], name[160];
    bpekit_error *err = SENTINEL;
    if (tok == NULL || mkdtemp(dir) == NULL) {
        CHECK(0);
        bpekit_tokenizer_free(tok);
        return;
    }
    make_docs(&d);
    size_t offsets[N_DOCS + 1];
    uint32_t *want = expected(tok, &d, -1, 259, offsets);
    for (size_t f = 0; f < N_FORMATS; f++) {
        snprintf(prefix, sizeof prefix, "%s/%s", dir, formats[f]);
        bpekit_shard_options o = options(formats[f], prefix, 40, -1, 259);
        o.first_shard = 3;
        bpekit_shard_writer *w = SENTINEL;
        EXPECT_OK(bpekit_shard_writer_new(tok, &o, &w, &err), &err);
        push_docs(w, tok, &d, 0, N_DOCS, 5, 2);
        EXPECT_OK(bpekit_shard_writer_finish(w, &err), &err);
        size_t shards = bpekit_shard_writer_completed(w);
        CHECK(shards > 3);
        for (size_t s = 0; s < shards; s++) {
            bpekit_shard_record r;
            EXPECT_OK(bpekit_shard_writer_shard(w, s, &r, &err), &err);
            CHECK(r.index == 3 + s);
            snprintf(name, sizeof name, "%s_%06zu%s", prefix, 3 + s,
                     strcmp(formats[f], "npy") == 0 ? ".npy" : ".bin");
            CHECK_MSG(strcmp(first_path(&r), name) == 0, "%s != %s", first_path(&r), name);
        }
        check_written(w, formats[f], 40, want, offsets);
        bpekit_shard_writer_free(w);
    }
    CHECK(count_entries(dir, 1) == 0);
    free(want);
    remove_tree(dir);
    bpekit_tokenizer_free(tok);
}

/* The bytes written do not depend on the thread count or the batch sizes. */
static void test_shards_are_deterministic(void)
{
    bpekit_tokenizer *tok = special_tokenizer();
    static struct docs d;
    char dir[] = "/tmp/bpekit-c-shards-XXXXXX";
    char prefix[128];
    bpekit_error *err = SENTINEL;
    static const size_t runs[][2] = {{1, N_DOCS}, {2, N_DOCS}, {4, 3}, {0, 1}, {2, 11}};
    enum { N_RUNS = sizeof runs / sizeof runs[0] };
    if (tok == NULL || mkdtemp(dir) == NULL) {
        CHECK(0);
        bpekit_tokenizer_free(tok);
        return;
    }
    make_docs(&d);
    const size_t n_runs = thread_counts(N_RUNS);
    for (size_t f = 0; f < N_FORMATS; f++) {
        bpekit_shard_writer *w[N_RUNS] = {NULL};
        for (size_t k = 0; k < n_runs; k++) {
            snprintf(prefix, sizeof prefix, "%s/%s_run%zu", dir, formats[f], k);
            bpekit_shard_options o = options(formats[f], prefix, 50, 259, -1);
            EXPECT_OK(bpekit_shard_writer_new(tok, &o, &w[k], &err), &err);
            push_docs(w[k], tok, &d, 0, N_DOCS, runs[k][1], runs[k][0]);
            EXPECT_OK(bpekit_shard_writer_finish(w[k], &err), &err);
        }
        size_t shards = bpekit_shard_writer_completed(w[0]);
        CHECK(shards > 2);
        for (size_t k = 1; k < n_runs; k++) {
            CHECK(bpekit_shard_writer_completed(w[k]) == shards);
            for (size_t s = 0; s < shards && bpekit_shard_writer_completed(w[k]) == shards; s++) {
                bpekit_shard_record a, b;
                EXPECT_OK(bpekit_shard_writer_shard(w[0], s, &a, &err), &err);
                EXPECT_OK(bpekit_shard_writer_shard(w[k], s, &b, &err), &err);
                CHECK(a.tokens == b.tokens && a.documents == b.documents);
                size_t ka = 0, kb = 0;
                while (ka < a.paths_len && kb < b.paths_len) {
                    const char *pa = (const char *)a.paths + ka, *pb = (const char *)b.paths + kb;
                    CHECK_MSG(same_file(pa, pb), "%s differs from %s", pb, pa);
                    ka += strlen(pa) + 1;
                    kb += strlen(pb) + 1;
                }
            }
        }
        for (size_t k = 0; k < n_runs; k++)
            bpekit_shard_writer_free(w[k]);
    }
    remove_tree(dir);
    bpekit_tokenizer_free(tok);
}

/* A directory this process cannot create files in: `dir/ro` made read-only, or, when
 * that does not stop this process (root), /sys. Empty if there is none. */
static void unwritable_dir(const char *dir, char *out, size_t cap)
{
    char probe[200];
    snprintf(out, cap, "%s/ro", dir);
    CHECK(mkdir(out, 0500) == 0);
    snprintf(probe, sizeof probe, "%s/probe", out);
    FILE *fp = fopen(probe, "wb");
    if (fp == NULL)
        return;
    fclose(fp);
    unlink(probe);
    snprintf(out, cap, "/sys");
    fp = fopen("/sys/bpekit-probe", "wb");
    CHECK_MSG(fp == NULL, "no unwritable directory to test with");
    if (fp != NULL)
        fclose(fp);
}

/* A tokenizer whose vocab (66001) is too large for nanogpt's uint16: the fixture's
 * ranks and 16400 special tokens, the last at id 66000. NULL on failure. */
static bpekit_tokenizer *large_vocab_tokenizer(void)
{
    enum { N_SPECIAL = 16400 };
    static struct blob b;
    static char texts[N_SPECIAL][16];
    static bpekit_special_token sp[N_SPECIAL];
    bpekit_tokenizer *tok = NULL;
    bpekit_error *err = NULL;
    make_ranks(&b, -1);
    for (size_t i = 0; i < N_SPECIAL; i++) {
        int n = snprintf(texts[i], sizeof texts[i], "<|s%zu|>", i);
        sp[i] = (bpekit_special_token){{U8(texts[i]), (size_t)n},
                                       i + 1 == N_SPECIAL ? 66000u : (uint32_t)(259 + i)};
    }
    EXPECT_OK(bpekit_tokenizer_new(U8(b.data), b.len, NULL, 0, sp, N_SPECIAL, &tok, &err), &err);
    return tok;
}

/* bpekit_shard_writer_new: every bad argument is a typed error that creates no file and
 * leaves `*out` untouched. */
static void test_writer_new_errors(void)
{
    bpekit_tokenizer *tok = special_tokenizer(), *big = large_vocab_tokenizer();
    char dir[] = "/tmp/bpekit-c-shards-XXXXXX";
    char prefix[128], missing[160], ro[160], ro_prefix[200], slash[160];
    bpekit_error *err = SENTINEL;
    bpekit_shard_writer *w = SENTINEL;
    if (tok == NULL || big == NULL || mkdtemp(dir) == NULL) {
        CHECK(0);
        bpekit_tokenizer_free(tok);
        bpekit_tokenizer_free(big);
        return;
    }
    CHECK(bpekit_tokenizer_vocab_size(big) == 66001);
    snprintf(prefix, sizeof prefix, "%s/s", dir);
    snprintf(missing, sizeof missing, "%s/no/such/s", dir);
    snprintf(slash, sizeof slash, "%s/", dir);
    bpekit_shard_options o = options("npy", prefix, 0, -1, -1);

    EXPECT_ERR(bpekit_shard_writer_new(NULL, &o, &w, &err), &err, BPEKIT_ERR_NULL_ARG, "tok");
    EXPECT_ERR(bpekit_shard_writer_new(tok, NULL, &w, &err), &err, BPEKIT_ERR_NULL_ARG, "opts");
    EXPECT_ERR(bpekit_shard_writer_new(tok, &o, NULL, &err), &err, BPEKIT_ERR_NULL_ARG, "out");
    CHECK(bpekit_shard_writer_new(tok, &o, NULL, NULL) == BPEKIT_ERR_NULL_ARG);

    bpekit_shard_options bad = o;
    bad.format = U8("bin");
    bad.format_len = 3;
    EXPECT_ERR(bpekit_shard_writer_new(tok, &bad, &w, &err), &err, BPEKIT_ERR_INVALID_ARG,
               "llmc, megatron, nanogpt, npy");
    bad.format = NULL;
    bad.format_len = 0;
    EXPECT_ERR(bpekit_shard_writer_new(tok, &bad, &w, &err), &err, BPEKIT_ERR_INVALID_ARG, "opts.format");
    bad.format_len = 3;
    EXPECT_ERR(bpekit_shard_writer_new(tok, &bad, &w, &err), &err, BPEKIT_ERR_NULL_ARG, "opts.format");
    bad.format = U8("np\xff");
    EXPECT_ERR(bpekit_shard_writer_new(tok, &bad, &w, &err), &err, BPEKIT_ERR_INVALID_UTF8, "opts.format");
    bad = o;
    bad.prefix = NULL;
    EXPECT_ERR(bpekit_shard_writer_new(tok, &bad, &w, &err), &err, BPEKIT_ERR_NULL_ARG, "opts.prefix");
    bad.prefix_len = 0;
    EXPECT_ERR(bpekit_shard_writer_new(tok, &bad, &w, &err), &err, BPEKIT_ERR_INVALID_ARG, "opts.prefix");
    bad = options("npy", slash, 0, -1, -1);
    EXPECT_ERR(bpekit_shard_writer_new(tok, &bad, &w, &err), &err, BPEKIT_ERR_INVALID_ARG, "file name");

    /* Ids: -1 is none; other negatives, and ids not below the vocab size (301), are not. */
    bad = options("npy", prefix, 0, -2, -1);
    EXPECT_ERR(bpekit_shard_writer_new(tok, &bad, &w, &err), &err, BPEKIT_ERR_INVALID_ARG, "opts.bos");
    bad = options("npy", prefix, 0, -1, (int64_t)1 << 40);
    EXPECT_ERR(bpekit_shard_writer_new(tok, &bad, &w, &err), &err, BPEKIT_ERR_INVALID_ARG, "opts.eos");
    bad = options("npy", prefix, 0, 301, -1);
    EXPECT_ERR(bpekit_shard_writer_new(tok, &bad, &w, &err), &err, BPEKIT_ERR_INVALID_ARG, "vocab size 301");
    bad = options("npy", prefix, 0, -1, 301);
    EXPECT_ERR(bpekit_shard_writer_new(tok, &bad, &w, &err), &err, BPEKIT_ERR_INVALID_ARG, "eos");

    /* first_shard needs numbered shards; llmc shards hold at most 2^31 - 1 tokens. */
    bad = o;
    bad.first_shard = 2;
    EXPECT_ERR(bpekit_shard_writer_new(tok, &bad, &w, &err), &err, BPEKIT_ERR_INVALID_ARG, "first_shard");
    bad = options("llmc", prefix, (uint64_t)1 << 31, -1, -1);
    EXPECT_ERR(bpekit_shard_writer_new(tok, &bad, &w, &err), &err, BPEKIT_ERR_INVALID_ARG, "2147483647");

    /* A vocab too large for the format's dtype: format, vocab size and limit named. */
    bad = options("nanogpt", prefix, 0, -1, -1);
    EXPECT_ERR(bpekit_shard_writer_new(big, &bad, &w, &err), &err, BPEKIT_ERR_INVALID_ARG, "nanogpt");
    CHECK(bpekit_shard_writer_new(big, &bad, &w, &err) == BPEKIT_ERR_INVALID_ARG);
    CHECK(err != NULL && strstr(bpekit_error_message(err), "66001") != NULL &&
          strstr(bpekit_error_message(err), "65536") != NULL);
    bpekit_error_free(err);
    err = SENTINEL;

    /* A missing or unwritable directory is named. */
    bad = options("llmc", missing, 0, -1, -1);
    EXPECT_ERR(bpekit_shard_writer_new(tok, &bad, &w, &err), &err, BPEKIT_ERR_IO, "no/such");
    unwritable_dir(dir, ro, sizeof ro);
    snprintf(ro_prefix, sizeof ro_prefix, "%s/s", ro);
    bad = options("megatron", ro_prefix, 0, -1, -1);
    EXPECT_ERR(bpekit_shard_writer_new(tok, &bad, &w, &err), &err, BPEKIT_ERR_IO, ro);
    CHECK(w == SENTINEL);
    /* Nothing was created but the read-only directory. */
    CHECK(count_entries(dir, 0) == 1);

    /* The large vocab fits llmc (uint32). */
    bad = options("llmc", prefix, 0, -1, 66000);
    EXPECT_OK(bpekit_shard_writer_new(big, &bad, &w, &err), &err);
    EXPECT_OK(bpekit_shard_writer_push(w, big, U8("<|s0|> hi"), 9, (const bpekit_span[]){{0, 9}}, 1, 1, &err),
              &err);
    EXPECT_OK(bpekit_shard_writer_finish(w, &err), &err);
    bpekit_shard_info info;
    bpekit_bytes file = sentinel_bytes;
    EXPECT_OK(bpekit_shard_read_info(U8(prefix), strlen(prefix), NULL, 0, &info, &file, &err), &err);
    CHECK(strcmp(info.format, "llmc") == 0 && strcmp(info.dtype, "uint32") == 0);
    bpekit_bytes_free(&file);
    bpekit_shard_writer_free(w);

    chmod(ro, 0700);
    remove_tree(dir);
    bpekit_tokenizer_free(tok);
    bpekit_tokenizer_free(big);
}

/* Push, finish, completed, shard: bad arguments and misuse are typed errors that write
 * nothing; the writer stays usable after them. */
static void test_writer_call_errors(void)
{
    bpekit_tokenizer *tok = special_tokenizer(), *other = ranks_tokenizer();
    char dir[] = "/tmp/bpekit-c-shards-XXXXXX";
    char prefix[128];
    bpekit_error *err = SENTINEL;
    bpekit_shard_writer *w = NULL;
    const char *data = "good text\xff bad";
    const bpekit_span good[] = {{0, 9}, {5, 9}};
    const bpekit_span past[] = {{0, 9}, {10, 99}};
    const bpekit_span reversed[] = {{0, 9}, {4, 2}};
    const bpekit_span invalid[] = {{0, 4}, {0, 14}};
    bpekit_shard_record r = {7, 7, 7, NULL, 7};
    if (tok == NULL || other == NULL || mkdtemp(dir) == NULL) {
        CHECK(0);
        bpekit_tokenizer_free(tok);
        bpekit_tokenizer_free(other);
        return;
    }
    snprintf(prefix, sizeof prefix, "%s/s", dir);
    bpekit_shard_options o = options("npy", prefix, 0, -1, 259);
    EXPECT_OK(bpekit_shard_writer_new(tok, &o, &w, &err), &err);

    EXPECT_ERR(bpekit_shard_writer_push(NULL, tok, U8(data), 14, good, 2, 1, &err), &err,
               BPEKIT_ERR_NULL_ARG, "w");
    EXPECT_ERR(bpekit_shard_writer_push(w, NULL, U8(data), 14, good, 2, 1, &err), &err,
               BPEKIT_ERR_NULL_ARG, "tok");
    EXPECT_ERR(bpekit_shard_writer_push(w, tok, NULL, 14, good, 2, 1, &err), &err,
               BPEKIT_ERR_NULL_ARG, "data");
    EXPECT_ERR(bpekit_shard_writer_push(w, tok, U8(data), 14, NULL, 2, 1, &err), &err,
               BPEKIT_ERR_NULL_ARG, "spans");
    EXPECT_ERR(bpekit_shard_writer_push(w, tok, U8(data), 14, past, 2, 1, &err), &err,
               BPEKIT_ERR_INVALID_ARG, "spans[1]");
    EXPECT_ERR(bpekit_shard_writer_push(w, tok, U8(data), 14, reversed, 2, 1, &err), &err,
               BPEKIT_ERR_INVALID_ARG, "spans[1]");
    EXPECT_ERR(bpekit_shard_writer_push(w, tok, U8(data), 14, invalid, 2, 1, &err), &err,
               BPEKIT_ERR_INVALID_UTF8, "spans[1]");
    EXPECT_ERR(bpekit_shard_writer_push(w, tok, U8(data), 14, good, 2, 100000, &err), &err,
               BPEKIT_ERR_INVALID_ARG, "BPEKIT_MAX_THREADS");
    EXPECT_ERR(bpekit_shard_writer_push(w, other, U8(data), 14, good, 2, 1, &err), &err,
               BPEKIT_ERR_INVALID_ARG, "vocab size");
    /* None of those wrote anything: one good push, and the shard holds its two documents. */
    EXPECT_OK(bpekit_shard_writer_push(w, tok, U8(data), 14, good, 2, 1, &err), &err);
    EXPECT_OK(bpekit_shard_writer_push(w, tok, NULL, 0, NULL, 0, 0, &err), &err);

    EXPECT_ERR(bpekit_shard_writer_finish(NULL, &err), &err, BPEKIT_ERR_NULL_ARG, "w");
    EXPECT_ERR(bpekit_shard_writer_shard(w, 0, &r, &err), &err, BPEKIT_ERR_INVALID_ARG, "out of range");
    CHECK(r.index == 7 && r.paths == NULL); /* untouched */
    EXPECT_OK(bpekit_shard_writer_finish(w, &err), &err);
    EXPECT_ERR(bpekit_shard_writer_shard(NULL, 0, &r, &err), &err, BPEKIT_ERR_NULL_ARG, "w");
    EXPECT_ERR(bpekit_shard_writer_shard(w, 0, NULL, &err), &err, BPEKIT_ERR_NULL_ARG, "out");
    EXPECT_ERR(bpekit_shard_writer_shard(w, 1, &r, &err), &err, BPEKIT_ERR_INVALID_ARG, "out of range");
    EXPECT_OK(bpekit_shard_writer_shard(w, 0, &r, &err), &err);
    CHECK(r.index == 0 && r.documents == 2);
    CHECK(bpekit_shard_writer_completed(NULL) == 0);
    CHECK(bpekit_shard_writer_completed(w) == 1);

    /* After finish: only the records. */
    EXPECT_ERR(bpekit_shard_writer_push(w, tok, U8(data), 14, good, 2, 1, &err), &err,
               BPEKIT_ERR_INVALID_ARG, "finished");
    EXPECT_ERR(bpekit_shard_writer_finish(w, &err), &err, BPEKIT_ERR_INVALID_ARG, "finished");
    bpekit_tokens ids = sentinel_tokens;
    bpekit_offsets offs = sentinel_offsets;
    EXPECT_OK(bpekit_shard_read(U8(prefix), strlen(prefix), U8("npy"), 3, &ids, &offs, &err), &err);
    CHECK(offs.len == 3 && offs.data[1] + 5 == offs.data[2]); /* "text": 4 byte tokens, eos */
    CHECK(ids.len > 0 && ids.ids[ids.len - 1] == 259);
    bpekit_tokens_free(&ids);
    bpekit_offsets_free(&offs);
    bpekit_shard_writer_free(w);
    bpekit_shard_writer_free(NULL);

    remove_tree(dir);
    bpekit_tokenizer_free(tok);
    bpekit_tokenizer_free(other);
}

/* A writer freed without finish leaves nothing: not the open shard's temporary files,
 * and no final name; numbered shards completed before stay, complete. */
static void test_free_without_finish(void)
{
    bpekit_tokenizer *tok = special_tokenizer();
    static struct docs d;
    char dir[] = "/tmp/bpekit-c-shards-XXXXXX";
    char prefix[128];
    bpekit_error *err = SENTINEL;
    if (tok == NULL || mkdtemp(dir) == NULL) {
        CHECK(0);
        bpekit_tokenizer_free(tok);
        return;
    }
    make_docs(&d);
    for (size_t f = 0; f < N_FORMATS; f++) {
        snprintf(prefix, sizeof prefix, "%s/%s", dir, formats[f]);
        bpekit_shard_options o = options(formats[f], prefix, 0, -1, -1);
        bpekit_shard_writer *w = NULL;
        EXPECT_OK(bpekit_shard_writer_new(tok, &o, &w, &err), &err);
        push_docs(w, tok, &d, 0, N_DOCS, 16, 2);
        CHECK(count_entries(dir, 1) == (strcmp(formats[f], "llmc") == 0 || strcmp(formats[f], "nanogpt") == 0 ? 1 : 2));
        CHECK(count_entries(dir, 0) == count_entries(dir, 1)); /* hidden temporaries only */
        bpekit_shard_writer_free(w);
        CHECK(count_entries(dir, 0) == 0);
    }
    /* Numbered: the completed shards stay; the open one goes. */
    snprintf(prefix, sizeof prefix, "%s/n", dir);
    bpekit_shard_options o = options("megatron", prefix, 30, -1, -1);
    bpekit_shard_writer *w = NULL;
    EXPECT_OK(bpekit_shard_writer_new(tok, &o, &w, &err), &err);
    push_docs(w, tok, &d, 0, 20, 20, 2);
    size_t done = bpekit_shard_writer_completed(w);
    CHECK(done > 0);
    bpekit_shard_writer_free(w);
    CHECK(count_entries(dir, 1) == 0);
    CHECK(count_entries(dir, 0) == (int)(2 * done));
    remove_tree(dir);
    bpekit_tokenizer_free(tok);
}

/* Every document's ids without BOS/EOS, as uint32 ids and N_DOCS + 1 uint64 offsets (the
 * caller frees `ids`). */
static uint32_t *plain_ids(const bpekit_tokenizer *tok, const struct docs *d, uint64_t offsets[N_DOCS + 1])
{
    size_t off[N_DOCS + 1];
    uint32_t *ids = expected(tok, d, -1, -1, off);
    for (size_t i = 0; i <= N_DOCS; i++)
        offsets[i] = off[i];
    return ids;
}

/* Writes the documents twice in `dir_a` and `dir_b` under the same file names, from texts
 * (push) and from ids (push_ids, in uneven pieces): every file is the same, and so is
 * every record. */
static void test_push_ids_writes_what_push_writes(void)
{
    bpekit_tokenizer *tok = special_tokenizer();
    static struct docs d;
    char dir_a[] = "/tmp/bpekit-c-shards-XXXXXX", dir_b[] = "/tmp/bpekit-c-shards-XXXXXX";
    char prefix_a[128], prefix_b[128];
    bpekit_error *err = SENTINEL;
    static const struct { int64_t bos, eos; uint64_t shard_tokens; } runs[] = {
        {-1, -1, 0}, {300, 259, 40}, {-1, 259, 7}};
    static const size_t pieces[] = {0, 1, 10, 3, 0, N_DOCS};
    if (tok == NULL || mkdtemp(dir_a) == NULL || mkdtemp(dir_b) == NULL) {
        CHECK(0);
        bpekit_tokenizer_free(tok);
        return;
    }
    make_docs(&d);
    uint64_t offsets[N_DOCS + 1];
    uint32_t *ids = plain_ids(tok, &d, offsets);
    for (size_t f = 0; f < N_FORMATS; f++) {
        for (size_t k = 0; k < sizeof runs / sizeof runs[0]; k++) {
            snprintf(prefix_a, sizeof prefix_a, "%s/%s_%zu", dir_a, formats[f], k);
            snprintf(prefix_b, sizeof prefix_b, "%s/%s_%zu", dir_b, formats[f], k);
            bpekit_shard_options oa = options(formats[f], prefix_a, runs[k].shard_tokens, runs[k].bos, runs[k].eos);
            bpekit_shard_options ob = options(formats[f], prefix_b, runs[k].shard_tokens, runs[k].bos, runs[k].eos);
            bpekit_shard_writer *a = NULL, *b = NULL;
            EXPECT_OK(bpekit_shard_writer_new(tok, &oa, &a, &err), &err);
            EXPECT_OK(bpekit_shard_writer_new(tok, &ob, &b, &err), &err);
            push_docs(a, tok, &d, 0, N_DOCS, 9, 2);
            size_t at = 0;
            for (size_t p = 0; p < sizeof pieces / sizeof pieces[0]; p++) {
                size_t n = N_DOCS - at < pieces[p] ? N_DOCS - at : pieces[p];
                EXPECT_OK(bpekit_shard_writer_push_ids(b, ids, offsets[N_DOCS], offsets + at, n, &err), &err);
                at += n;
            }
            CHECK(at == N_DOCS);
            EXPECT_OK(bpekit_shard_writer_push_ids(b, NULL, 0, NULL, 0, &err), &err);
            EXPECT_OK(bpekit_shard_writer_finish(a, &err), &err);
            EXPECT_OK(bpekit_shard_writer_finish(b, &err), &err);
            size_t shards = bpekit_shard_writer_completed(a);
            CHECK(shards >= 1 && bpekit_shard_writer_completed(b) == shards);
            CHECK(runs[k].shard_tokens == 0 || shards > 3);
            for (size_t s = 0; s < shards; s++) {
                bpekit_shard_record ra, rb;
                EXPECT_OK(bpekit_shard_writer_shard(a, s, &ra, &err), &err);
                EXPECT_OK(bpekit_shard_writer_shard(b, s, &rb, &err), &err);
                CHECK(ra.index == rb.index && ra.tokens == rb.tokens && ra.documents == rb.documents);
                CHECK(ra.paths_len - strlen(dir_a) == rb.paths_len - strlen(dir_b));
                for (size_t i = 0, j = 0; i < ra.paths_len && j < rb.paths_len;
                     i += strlen((const char *)ra.paths + i) + 1, j += strlen((const char *)rb.paths + j) + 1)
                    CHECK_MSG(same_file((const char *)ra.paths + i, (const char *)rb.paths + j), "%s",
                              (const char *)ra.paths + i);
            }
            bpekit_shard_writer_free(a);
            bpekit_shard_writer_free(b);
        }
    }
    CHECK(count_entries(dir_a, 0) == count_entries(dir_b, 0) && count_entries(dir_b, 1) == 0);
    free(ids);
    remove_tree(dir_a);
    remove_tree(dir_b);
    bpekit_tokenizer_free(tok);
}

/* push_ids: bad arguments and bad ids are typed errors that write nothing. */
static void test_push_ids_errors(void)
{
    bpekit_tokenizer *tok = special_tokenizer();
    char dir[] = "/tmp/bpekit-c-shards-XXXXXX";
    char prefix[128];
    bpekit_error *err = SENTINEL;
    bpekit_shard_writer *w = NULL;
    const uint32_t ids[] = {116, 104, 101, 5000, 97};
    const uint64_t good[] = {0, 3, 3}, down[] = {0, 3, 2}, past[] = {0, 3, 6}, bad_id[] = {0, 3, 5};
    if (tok == NULL || mkdtemp(dir) == NULL) {
        CHECK(0);
        bpekit_tokenizer_free(tok);
        return;
    }
    snprintf(prefix, sizeof prefix, "%s/s", dir);
    bpekit_shard_options o = options("npy", prefix, 0, 300, -1);
    EXPECT_OK(bpekit_shard_writer_new(tok, &o, &w, &err), &err);
    EXPECT_ERR(bpekit_shard_writer_push_ids(NULL, ids, 5, good, 2, &err), &err, BPEKIT_ERR_NULL_ARG, "w");
    EXPECT_ERR(bpekit_shard_writer_push_ids(w, NULL, 5, good, 2, &err), &err, BPEKIT_ERR_NULL_ARG, "ids");
    EXPECT_ERR(bpekit_shard_writer_push_ids(w, ids, 5, NULL, 2, &err), &err, BPEKIT_ERR_NULL_ARG, "offsets");
    EXPECT_ERR(bpekit_shard_writer_push_ids(w, ids, 5, down, 2, &err), &err, BPEKIT_ERR_INVALID_ARG,
               "offsets[2] = 2");
    EXPECT_ERR(bpekit_shard_writer_push_ids(w, ids, 5, past, 2, &err), &err, BPEKIT_ERR_INVALID_ARG,
               "offsets[2] = 6");
    EXPECT_ERR(bpekit_shard_writer_push_ids(w, ids, 5, bad_id, 2, &err), &err, BPEKIT_ERR_INVALID_ARG,
               "token id 5000 (document 1");
    EXPECT_ERR(bpekit_shard_writer_push_ids(w, ids, 5, good, SIZE_MAX, &err), &err, BPEKIT_ERR_INVALID_ARG,
               "n_docs");
    /* No documents: NULL offsets are fine, and so are offsets past the ids (not read). */
    EXPECT_OK(bpekit_shard_writer_push_ids(w, ids, 5, NULL, 0, &err), &err);
    EXPECT_OK(bpekit_shard_writer_push_ids(w, NULL, 0, past + 2, 0, &err), &err);
    /* None of those wrote anything: the shard holds the two good documents only. */
    CHECK(bpekit_shard_writer_push_ids(w, ids, 5, good, 2, NULL) == BPEKIT_OK);
    EXPECT_OK(bpekit_shard_writer_finish(w, &err), &err);
    EXPECT_ERR(bpekit_shard_writer_push_ids(w, ids, 5, good, 2, &err), &err, BPEKIT_ERR_INVALID_ARG,
               "finished");
    bpekit_tokens back = sentinel_tokens;
    bpekit_offsets offs = sentinel_offsets;
    EXPECT_OK(bpekit_shard_read(U8(prefix), strlen(prefix), U8("npy"), 3, &back, &offs, &err), &err);
    const uint32_t want[] = {300, 116, 104, 101, 300};
    CHECK(same_ids(back.ids, back.len, want, 5));
    CHECK(offs.len == 3 && offs.data[0] == 0 && offs.data[1] == 4 && offs.data[2] == 5);
    bpekit_tokens_free(&back);
    bpekit_offsets_free(&offs);
    bpekit_shard_writer_free(w);
    CHECK(count_entries(dir, 0) == 2 && count_entries(dir, 1) == 0);
    remove_tree(dir);
    bpekit_tokenizer_free(tok);
}

/* The plan on the documents' lengths predicts the writer's shards exactly (numbers,
 * tokens and documents per shard), in one call or split anywhere with the cursor carried,
 * in place or not. */
static void test_plan_predicts_the_shards(void)
{
    bpekit_tokenizer *tok = special_tokenizer();
    static struct docs d;
    char dir[] = "/tmp/bpekit-c-shards-XXXXXX";
    char prefix[128];
    bpekit_error *err = SENTINEL;
    static const uint64_t shard_tokens[] = {0, 1, 5, 40, 100000};
    if (tok == NULL || mkdtemp(dir) == NULL) {
        CHECK(0);
        bpekit_tokenizer_free(tok);
        return;
    }
    make_docs(&d);
    size_t offsets[N_DOCS + 1];
    uint32_t *want = expected(tok, &d, 300, 259, offsets);
    uint64_t lengths[N_DOCS], whole[N_DOCS], split[N_DOCS];
    for (size_t i = 0; i < N_DOCS; i++)
        lengths[i] = offsets[i + 1] - offsets[i];
    for (size_t k = 0; k < sizeof shard_tokens / sizeof shard_tokens[0]; k++) {
        const uint64_t first = shard_tokens[k] == 0 ? 0 : 11;
        snprintf(prefix, sizeof prefix, "%s/p%zu", dir, k);
        bpekit_shard_options o = options("llmc", prefix, shard_tokens[k], 300, 259);
        o.first_shard = first;
        bpekit_shard_writer *w = NULL;
        EXPECT_OK(bpekit_shard_writer_new(tok, &o, &w, &err), &err);
        push_docs(w, tok, &d, 0, N_DOCS, 13, 2);
        EXPECT_OK(bpekit_shard_writer_finish(w, &err), &err);

        bpekit_shard_cursor c = {first, 0, 0};
        EXPECT_OK(bpekit_shard_plan(shard_tokens[k], lengths, N_DOCS, &c, whole, &err), &err);
        /* Split at every point: the same numbers, the same cursor at the end. */
        for (size_t cut = 0; cut <= N_DOCS; cut++) {
            bpekit_shard_cursor c2 = {first, 0, 0};
            EXPECT_OK(bpekit_shard_plan(shard_tokens[k], lengths, cut, &c2, split, &err), &err);
            CHECK(bpekit_shard_plan(shard_tokens[k], lengths + cut, N_DOCS - cut, &c2, split + cut, NULL) ==
                  BPEKIT_OK);
            CHECK_MSG(memcmp(split, whole, sizeof whole) == 0, "cut %zu", cut);
            CHECK(c2.index == c.index && c2.tokens == c.tokens && c2.documents == c.documents);
        }
        /* In place: the lengths overwritten by the numbers. */
        uint64_t in_place[N_DOCS];
        memcpy(in_place, lengths, sizeof lengths);
        bpekit_shard_cursor c3 = {first, 0, 0};
        EXPECT_OK(bpekit_shard_plan(shard_tokens[k], in_place, N_DOCS, &c3, in_place, &err), &err);
        CHECK(memcmp(in_place, whole, sizeof whole) == 0);

        /* The writer's records, shard by shard. */
        size_t shards = bpekit_shard_writer_completed(w), doc = 0;
        CHECK(shards == (size_t)(whole[N_DOCS - 1] - first + 1));
        for (size_t s = 0; s < shards; s++) {
            bpekit_shard_record r;
            EXPECT_OK(bpekit_shard_writer_shard(w, s, &r, &err), &err);
            uint64_t tokens = 0, documents = 0;
            for (; doc < N_DOCS && whole[doc] == r.index; doc++)
                tokens += lengths[doc], documents++;
            CHECK_MSG(r.index == first + s && r.tokens == tokens && r.documents == documents,
                      "shard_tokens %llu, shard %zu: %llu tokens %llu documents, planned %llu %llu",
                      (unsigned long long)shard_tokens[k], s, (unsigned long long)r.tokens,
                      (unsigned long long)r.documents, (unsigned long long)tokens,
                      (unsigned long long)documents);
        }
        CHECK(doc == N_DOCS);
        bpekit_shard_writer_free(w);
    }
    free(want);
    remove_tree(dir);
    bpekit_tokenizer_free(tok);
}

/* The plan's edges: no document, shard_tokens 0, NULL arguments, the last shard number. */
static void test_plan_errors(void)
{
    bpekit_error *err = SENTINEL;
    const uint64_t lengths[] = {2, 0, 3, 9};
    uint64_t out[4] = {7, 7, 7, 7};
    bpekit_shard_cursor c = {5, 1, 1};

    EXPECT_OK(bpekit_shard_plan(4, NULL, 0, &c, NULL, &err), &err);
    CHECK(c.index == 5 && c.tokens == 1 && c.documents == 1);
    EXPECT_OK(bpekit_shard_plan(0, lengths, 4, &c, out, &err), &err);
    CHECK(out[0] == 5 && out[1] == 5 && out[2] == 5 && out[3] == 5);
    CHECK(c.index == 5 && c.tokens == 15 && c.documents == 5);
    bpekit_shard_cursor z = {0, 0, 0};
    EXPECT_OK(bpekit_shard_plan(3, lengths, 4, &z, out, &err), &err);
    CHECK(out[0] == 0 && out[1] == 0 && out[2] == 1 && out[3] == 2);
    CHECK(z.index == 3 && z.tokens == 0 && z.documents == 0);

    EXPECT_ERR(bpekit_shard_plan(3, lengths, 4, NULL, out, &err), &err, BPEKIT_ERR_NULL_ARG, "cursor");
    EXPECT_ERR(bpekit_shard_plan(3, NULL, 4, &c, out, &err), &err, BPEKIT_ERR_NULL_ARG, "doc_tokens");
    EXPECT_ERR(bpekit_shard_plan(3, lengths, 4, &c, NULL, &err), &err, BPEKIT_ERR_NULL_ARG, "shard_of");
    CHECK(bpekit_shard_plan(3, lengths, 4, NULL, NULL, NULL) == BPEKIT_ERR_NULL_ARG);
    /* Past the last shard number: refused, nothing written. */
    bpekit_shard_cursor top = {UINT64_MAX, 1, 1};
    uint64_t untouched[4] = {7, 7, 7, 7};
    EXPECT_ERR(bpekit_shard_plan(3, lengths, 4, &top, untouched, &err), &err, BPEKIT_ERR_INVALID_ARG, "64-bit");
    CHECK(top.index == UINT64_MAX && top.tokens == 1 && top.documents == 1);
    CHECK(untouched[0] == 7 && untouched[3] == 7);
    EXPECT_OK(bpekit_shard_plan(3, lengths + 1, 1, &top, untouched, &err), &err);
    CHECK(untouched[0] == UINT64_MAX && top.tokens == 1 && top.documents == 2);
}

/* Reading: bad arguments, missing files, files that are not shards, damaged shards. */
static void test_read_errors(void)
{
    char dir[] = "/tmp/bpekit-c-shards-XXXXXX";
    char path[128], text[128], bin[128];
    bpekit_error *err = SENTINEL;
    bpekit_tokens ids = sentinel_tokens;
    bpekit_offsets offs = sentinel_offsets;
    bpekit_bytes file = sentinel_bytes;
    bpekit_shard_info info = {NULL, NULL, 7, 7, 7};
    bpekit_tokenizer *tok = special_tokenizer();
    if (tok == NULL || mkdtemp(dir) == NULL) {
        CHECK(0);
        bpekit_tokenizer_free(tok);
        return;
    }
    snprintf(path, sizeof path, "%s/missing", dir);
    snprintf(text, sizeof text, "%s/notes.txt", dir);
    snprintf(bin, sizeof bin, "%s/s.bin", dir);
    FILE *fp = fopen(text, "wb");
    CHECK(fp != NULL);
    if (fp != NULL) {
        fputs("not a shard", fp);
        fclose(fp);
    }

    /* NULL and empty arguments. */
    EXPECT_ERR(bpekit_shard_read(NULL, 3, NULL, 0, &ids, &offs, &err), &err, BPEKIT_ERR_NULL_ARG, "path");
    EXPECT_ERR(bpekit_shard_read(U8(""), 0, NULL, 0, &ids, &offs, &err), &err, BPEKIT_ERR_INVALID_ARG, "path");
    EXPECT_ERR(bpekit_shard_read(U8(path), strlen(path), NULL, 2, &ids, &offs, &err), &err,
               BPEKIT_ERR_NULL_ARG, "format");
    EXPECT_ERR(bpekit_shard_read(U8(path), strlen(path), NULL, 0, NULL, &offs, &err), &err,
               BPEKIT_ERR_NULL_ARG, "ids");
    EXPECT_ERR(bpekit_shard_read(U8(path), strlen(path), NULL, 0, &ids, NULL, &err), &err,
               BPEKIT_ERR_NULL_ARG, "doc_offsets");
    EXPECT_ERR(bpekit_shard_read_info(U8(path), strlen(path), NULL, 0, NULL, &file, &err), &err,
               BPEKIT_ERR_NULL_ARG, "out");
    EXPECT_ERR(bpekit_shard_read_info(U8(path), strlen(path), NULL, 0, &info, NULL, &err), &err,
               BPEKIT_ERR_NULL_ARG, "tokens_file");
    EXPECT_ERR(bpekit_shard_read_info(NULL, 1, NULL, 0, &info, &file, &err), &err, BPEKIT_ERR_NULL_ARG,
               "path");
    EXPECT_ERR(bpekit_shard_documents(U8(path), strlen(path), NULL, 0, NULL, &err), &err,
               BPEKIT_ERR_NULL_ARG, "doc_offsets");
    EXPECT_ERR(bpekit_shard_documents(NULL, 1, NULL, 0, &offs, &err), &err, BPEKIT_ERR_NULL_ARG, "path");
    /* An unknown format name. */
    EXPECT_ERR(bpekit_shard_read(U8(path), strlen(path), U8("parquet"), 7, &ids, &offs, &err), &err,
               BPEKIT_ERR_INVALID_ARG, "parquet");
    EXPECT_ERR(bpekit_shard_read_info(U8(path), strlen(path), U8("x"), 1, &info, &file, &err), &err,
               BPEKIT_ERR_INVALID_ARG, "unknown shard format");

    /* A missing shard names the path; a file that is not a shard names itself, or the
     * format tried. */
    EXPECT_ERR(bpekit_shard_read(U8(path), strlen(path), NULL, 0, &ids, &offs, &err), &err,
               BPEKIT_ERR_IO, "missing");
    EXPECT_ERR(bpekit_shard_read(U8(path), strlen(path), U8("megatron"), 8, &ids, &offs, &err), &err,
               BPEKIT_ERR_IO, "missing.bin");
    EXPECT_ERR(bpekit_shard_read_info(U8(path), strlen(path), NULL, 0, &info, &file, &err), &err,
               BPEKIT_ERR_IO, "missing");
    EXPECT_ERR(bpekit_shard_documents(U8(path), strlen(path), U8("npy"), 3, &offs, &err), &err,
               BPEKIT_ERR_IO, "missing.npy");
    EXPECT_ERR(bpekit_shard_read(U8(text), strlen(text), NULL, 0, &ids, &offs, &err), &err,
               BPEKIT_ERR_BAD_FORMAT, "notes.txt");
    EXPECT_ERR(bpekit_shard_read_info(U8(text), strlen(text), U8("npy"), 3, &info, &file, &err), &err,
               BPEKIT_ERR_IO, "notes.txt.npy");

    /* An odd-sized .bin is no nanogpt shard, nor llmc. */
    fp = fopen(bin, "wb");
    CHECK(fp != NULL);
    if (fp != NULL) {
        fputs("abc", fp);
        fclose(fp);
    }
    EXPECT_ERR(bpekit_shard_read(U8(bin), strlen(bin), NULL, 0, &ids, &offs, &err), &err,
               BPEKIT_ERR_BAD_FORMAT, "nanogpt");
    EXPECT_ERR(bpekit_shard_read_info(U8(bin), strlen(bin), U8("llmc"), 4, &info, &file, &err), &err,
               BPEKIT_ERR_BAD_FORMAT, "llmc");
    EXPECT_ERR(bpekit_shard_documents(U8(bin), strlen(bin), NULL, 0, &offs, &err), &err,
               BPEKIT_ERR_BAD_FORMAT, "s.bin");

    /* A truncated llmc shard (its header says more tokens than follow) is named as llmc. */
    snprintf(path, sizeof path, "%s/l", dir);
    bpekit_shard_options o = options("llmc", path, 0, -1, -1);
    bpekit_shard_writer *w = NULL;
    EXPECT_OK(bpekit_shard_writer_new(tok, &o, &w, &err), &err);
    EXPECT_OK(bpekit_shard_writer_push(w, tok, U8("the cat sat"), 11, (const bpekit_span[]){{0, 11}}, 1, 1,
                                       &err),
              &err);
    EXPECT_OK(bpekit_shard_writer_finish(w, &err), &err);
    bpekit_shard_writer_free(w);
    snprintf(path, sizeof path, "%s/l.bin", dir);
    struct file_bytes f = slurp(path);
    CHECK(f.data != NULL && f.len > 1026);
    fp = fopen(path, "wb");
    if (fp != NULL && f.data != NULL) {
        fwrite(f.data, 1, f.len - 2, fp);
        fclose(fp);
    }
    free(f.data);
    EXPECT_ERR(bpekit_shard_read(U8(path), strlen(path), NULL, 0, &ids, &offs, &err), &err,
               BPEKIT_ERR_BAD_FORMAT, "llmc");

    /* Failures left every out-param untouched. */
    CHECK(tokens_untouched(&ids) && offsets_untouched(&offs) && bytes_untouched(&file));
    CHECK(info.format == NULL && info.tokens == 7);
    remove_tree(dir);
    bpekit_tokenizer_free(tok);
}

const struct test shards_tests[] = {
    TEST(test_one_shard_per_format),
    TEST(test_numbered_shards),
    TEST(test_shards_are_deterministic),
    TEST(test_writer_new_errors),
    TEST(test_writer_call_errors),
    TEST(test_free_without_finish),
    TEST(test_push_ids_writes_what_push_writes),
    TEST(test_push_ids_errors),
    TEST(test_plan_predicts_the_shards),
    TEST(test_plan_errors),
    TEST(test_read_errors),
    {NULL, NULL},
};
