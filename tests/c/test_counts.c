/*
 * test_counts.c: count tables: exported by one trainer, added to another, refused when
 * damaged; merged without a trainer (bpekit_counts_merge) and read
 * (bpekit_counts_read_info).
 */
#include "harness.h"

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

/* Exports `t`'s counts; empty on failure. */
static bpekit_bytes export_counts(const bpekit_trainer *t)
{
    bpekit_bytes out = {0};
    bpekit_error *err = NULL;
    EXPECT_OK(bpekit_trainer_export_counts(t, &out, &err), &err);
    return out;
}

/* A fresh default-pattern trainer fed `texts[i]` for every i with i % parts == part. */
static bpekit_trainer *part_trainer(const bpekit_slice *texts, size_t n, size_t parts, size_t part)
{
    bpekit_trainer *t = NULL;
    bpekit_error *err = NULL;
    EXPECT_OK(bpekit_trainer_new(NULL, 0, &t, &err), &err);
    for (size_t i = part; t != NULL && i < n; i += parts)
        EXPECT_OK(bpekit_trainer_feed(t, texts[i].data, texts[i].len, &err), &err);
    return t;
}

/* Merges `n` tables with `min_count`; checks success; empty on failure. */
static bpekit_bytes merged(const bpekit_bytes *tables, size_t n, uint64_t min_count)
{
    bpekit_slice slices[16];
    bpekit_bytes out = sentinel_bytes;
    bpekit_error *err = SENTINEL;
    CHECK(n <= 16);
    for (size_t i = 0; i < n && i < 16; i++)
        slices[i] = (bpekit_slice){tables[i].data, tables[i].len};
    EXPECT_OK(bpekit_counts_merge(slices, n, min_count, &out, &err), &err);
    if (bytes_untouched(&out))
        out = (bpekit_bytes){0};
    return out;
}

/* Tables counted apart and merged equal one trainer fed everything: the same exported
 * bytes and the same tokenizer, for 1, 2 and 8 parts, in any order of the inputs. */
static void test_counts_merge_equals_one_trainer(void)
{
    static char buf[1 << 16];
    bpekit_slice texts[64];
    make_corpus(buf, sizeof buf, texts, 64, 40, 7);
    bpekit_trainer *all = part_trainer(texts, 64, 1, 0);
    if (all == NULL)
        return;
    bpekit_bytes want = export_counts(all);
    bpekit_bytes want_ranks = finish_and_export(all);
    const size_t part_counts[] = {1, 2, 8};
    for (size_t k = 0; k < 3; k++) {
        size_t parts = part_counts[k];
        bpekit_bytes tables[8], reversed[8];
        for (size_t p = 0; p < parts; p++) {
            bpekit_trainer *t = part_trainer(texts, 64, parts, p);
            tables[p] = export_counts(t);
            bpekit_trainer_free(t);
        }
        for (size_t p = 0; p < parts; p++)
            reversed[p] = tables[parts - 1 - p];
        bpekit_bytes got = merged(tables, parts, 0), back = merged(reversed, parts, 1);
        CHECK_MSG(same_bytes(&got, &want), "%zu parts", parts);
        CHECK_MSG(same_bytes(&back, &want), "%zu parts, reversed", parts);
        /* The merged table trains the same tokenizer. */
        bpekit_trainer *t = NULL;
        bpekit_error *err = NULL;
        EXPECT_OK(bpekit_trainer_new(NULL, 0, &t, &err), &err);
        EXPECT_OK(bpekit_trainer_add_counts(t, got.data, got.len, &err), &err);
        CHECK(bpekit_trainer_texts(t) == 64);
        CHECK(bpekit_trainer_bytes(t) == bpekit_trainer_bytes(all));
        bpekit_bytes ranks = finish_and_export(t);
        CHECK_MSG(ranks.len > 0 && same_bytes(&ranks, &want_ranks), "%zu parts: tokenizer", parts);
        bpekit_bytes_free(&ranks);
        bpekit_trainer_free(t);
        bpekit_bytes_free(&got);
        bpekit_bytes_free(&back);
        for (size_t p = 0; p < parts; p++)
            bpekit_bytes_free(&tables[p]);
    }
    /* A merged table merges again: ((a + b) + c) == a + b + c. */
    bpekit_trainer *a = part_trainer(texts, 64, 3, 0), *b = part_trainer(texts, 64, 3, 1),
                   *c = part_trainer(texts, 64, 3, 2);
    bpekit_bytes abc[3] = {export_counts(a), export_counts(b), export_counts(c)};
    bpekit_bytes ab = merged(abc, 2, 0);
    bpekit_bytes two[2] = {ab, abc[2]};
    bpekit_bytes tree = merged(two, 2, 0);
    CHECK(same_bytes(&tree, &want));
    bpekit_bytes_free(&tree);
    bpekit_bytes_free(&ab);
    for (size_t i = 0; i < 3; i++)
        bpekit_bytes_free(&abc[i]);
    bpekit_trainer_free(a);
    bpekit_trainer_free(b);
    bpekit_trainer_free(c);
    bpekit_bytes_free(&want_ranks);
    bpekit_bytes_free(&want);
    bpekit_trainer_free(all);
}

/* Pruning drops the pieces below min_count, keeps texts and bytes; 0 and 1 keep all. */
static void test_counts_merge_prunes(void)
{
    bpekit_trainer *t = corpus_trainer();
    if (t == NULL)
        return;
    bpekit_bytes table = export_counts(t);
    bpekit_bytes twice[2] = {table, table};
    bpekit_bytes keep0 = merged(twice, 2, 0), keep1 = merged(twice, 2, 1);
    bpekit_bytes pruned = merged(twice, 2, 4), none = merged(twice, 2, UINT64_MAX);
    CHECK(same_bytes(&keep0, &keep1));
    bpekit_counts_info full = {0}, some = {0}, empty = {0};
    bpekit_bytes pattern = {0};
    bpekit_error *err = NULL;
    EXPECT_OK(bpekit_counts_read_info(keep0.data, keep0.len, &full, &pattern, &err), &err);
    bpekit_bytes_free(&pattern);
    EXPECT_OK(bpekit_counts_read_info(pruned.data, pruned.len, &some, &pattern, &err), &err);
    bpekit_bytes_free(&pattern);
    EXPECT_OK(bpekit_counts_read_info(none.data, none.len, &empty, &pattern, &err), &err);
    bpekit_bytes_free(&pattern);
    CHECK(full.texts == 2 * N_CORPUS && some.texts == full.texts && empty.texts == full.texts);
    CHECK(some.bytes == full.bytes && empty.bytes == full.bytes);
    CHECK(0 < some.pieces && some.pieces < full.pieces);
    CHECK(empty.pieces == 0);
    /* " the" occurs 5 times in the corpus, so 10 times in the doubled table: kept at 10,
     * dropped at 11; the table trains on what is left. */
    bpekit_bytes at10 = merged(twice, 2, 10), at11 = merged(twice, 2, 11);
    bpekit_counts_info i10 = {0}, i11 = {0};
    EXPECT_OK(bpekit_counts_read_info(at10.data, at10.len, &i10, &pattern, &err), &err);
    bpekit_bytes_free(&pattern);
    EXPECT_OK(bpekit_counts_read_info(at11.data, at11.len, &i11, &pattern, &err), &err);
    bpekit_bytes_free(&pattern);
    CHECK(i10.pieces > i11.pieces);
    bpekit_trainer *u = NULL;
    EXPECT_OK(bpekit_trainer_new(NULL, 0, &u, &err), &err);
    EXPECT_OK(bpekit_trainer_add_counts(u, at10.data, at10.len, &err), &err);
    bpekit_tokenizer *tok = NULL;
    EXPECT_OK(bpekit_trainer_finish(u, 260, &tok, &err), &err);
    CHECK(bpekit_tokenizer_vocab_size(tok) > 256);
    bpekit_tokenizer_free(tok);
    bpekit_trainer_free(u);
    bpekit_bytes_free(&at10);
    bpekit_bytes_free(&at11);
    bpekit_bytes_free(&keep0);
    bpekit_bytes_free(&keep1);
    bpekit_bytes_free(&pruned);
    bpekit_bytes_free(&none);
    bpekit_bytes_free(&table);
    bpekit_trainer_free(t);
}

/* Errors: no tables, another pattern, a damaged table (named by index), NULLs; `*out`
 * untouched on failure, `err` may be NULL. */
static void test_counts_merge_errors(void)
{
    bpekit_trainer *t = corpus_trainer(), *other = NULL;
    bpekit_error *err = SENTINEL;
    if (t == NULL)
        return;
    bpekit_bytes table = export_counts(t), out = sentinel_bytes;
    EXPECT_OK(bpekit_trainer_new(U8("\\w+|\\s+"), 7, &other, &err), &err);
    EXPECT_OK(bpekit_trainer_feed(other, U8("the cat"), 7, &err), &err);
    bpekit_bytes foreign = export_counts(other);
    bpekit_slice ok = {table.data, table.len}, cut = {table.data, table.len - 1};
    bpekit_slice fo = {foreign.data, foreign.len};

    err = SENTINEL;
    EXPECT_ERR(bpekit_counts_merge(NULL, 0, 0, &out, &err), &err, BPEKIT_ERR_INVALID_ARG,
               "no count tables");
    bpekit_slice mixed[4] = {ok, ok, fo, fo};
    EXPECT_ERR(bpekit_counts_merge(mixed, 4, 0, &out, &err), &err, BPEKIT_ERR_INVALID_ARG,
               "tables[2] was counted with another split pattern");
    bpekit_slice damaged[3] = {ok, cut, ok};
    EXPECT_ERR(bpekit_counts_merge(damaged, 3, 0, &out, &err), &err, BPEKIT_ERR_BAD_FORMAT,
               "tables[1]: count table");
    CHECK(bpekit_counts_merge(damaged, 3, 0, &out, NULL) == BPEKIT_ERR_BAD_FORMAT);
    /* Every truncation of the second table is refused and named. */
    long unnamed = 0;
    for (size_t n = 0; n < table.len; n++) {
        bpekit_slice pair[2] = {ok, {table.data, n}};
        bpekit_status st = bpekit_counts_merge(pair, 2, 0, &out, &err);
        if (st != BPEKIT_ERR_BAD_FORMAT || strncmp(bpekit_error_message(err), "tables[1]: ", 11) != 0)
            unnamed++;
        bpekit_error_free(err);
        err = NULL;
    }
    CHECK(unnamed == 0);
    bpekit_slice null_data[2] = {ok, {NULL, 5}};
    EXPECT_ERR(bpekit_counts_merge(null_data, 2, 0, &out, &err), &err, BPEKIT_ERR_NULL_ARG,
               "tables[1]");
    EXPECT_ERR(bpekit_counts_merge(NULL, 2, 0, &out, &err), &err, BPEKIT_ERR_NULL_ARG, "tables");
    EXPECT_ERR(bpekit_counts_merge(mixed, 1, 0, NULL, &err), &err, BPEKIT_ERR_NULL_ARG, "out");
    bpekit_slice empty_slice[1] = {{NULL, 0}};
    EXPECT_ERR(bpekit_counts_merge(empty_slice, 1, 0, &out, &err), &err, BPEKIT_ERR_BAD_FORMAT,
               "tables[0]");
    CHECK(bytes_untouched(&out));
    /* Success clears `*err`; one table merges to itself. */
    err = SENTINEL;
    EXPECT_OK(bpekit_counts_merge(&ok, 1, 0, &out, &err), &err);
    CHECK(same_bytes(&out, &table));
    bpekit_bytes_free(&out);
    bpekit_bytes_free(&foreign);
    bpekit_bytes_free(&table);
    bpekit_trainer_free(other);
    bpekit_trainer_free(t);
}

/* bpekit_counts_read_info: the header of exported, merged and committed tables of both
 * versions; damaged tables and NULLs refused with the outputs untouched. */
static void test_counts_read_info(void)
{
    bpekit_trainer *t = corpus_trainer();
    if (t == NULL)
        return;
    bpekit_bytes table = export_counts(t);
    bpekit_counts_info info = {9, 9, 9, 9};
    bpekit_bytes pattern = sentinel_bytes;
    bpekit_error *err = SENTINEL;
    EXPECT_OK(bpekit_counts_read_info(table.data, table.len, &info, &pattern, &err), &err);
    CHECK(info.version == 2 && info.texts == N_CORPUS);
    CHECK(info.bytes == bpekit_trainer_bytes(t) && info.pieces > 10);
    const uint8_t *want = NULL;
    size_t want_len = 0;
    EXPECT_OK(bpekit_pattern_named(U8("cl100k_base"), 11, &want, &want_len, &err), &err);
    CHECK(pattern.len == want_len && memcmp(pattern.data, want, want_len) == 0);
    bpekit_bytes_free(&pattern);

    /* The committed fixtures: version 1 and version 2 of one table. */
    struct file_bytes v1 = read_file("core/tests/fixtures/v1.counts");
    struct file_bytes v2 = read_file("core/tests/fixtures/v2.counts");
    bpekit_counts_info i1 = {0}, i2 = {0};
    EXPECT_OK(bpekit_counts_read_info(v1.data, v1.len, &i1, &pattern, &err), &err);
    bpekit_bytes_free(&pattern);
    EXPECT_OK(bpekit_counts_read_info(v2.data, v2.len, &i2, &pattern, &err), &err);
    bpekit_bytes_free(&pattern);
    CHECK(i1.version == 1 && i2.version == 2);
    CHECK(i1.texts == i2.texts && i1.bytes == i2.bytes && i1.pieces == i2.pieces);
    bpekit_slice old = {v1.data, v1.len};
    bpekit_bytes upgraded = {0};
    EXPECT_OK(bpekit_counts_merge(&old, 1, 0, &upgraded, &err), &err);
    CHECK(upgraded.len == v2.len && memcmp(upgraded.data, v2.data, v2.len) == 0);
    bpekit_bytes_free(&upgraded);
    free(v1.data);
    free(v2.data);

    /* Errors leave both outputs untouched. */
    bpekit_counts_info untouched = {7, 7, 7, 7};
    pattern = sentinel_bytes;
    EXPECT_ERR(bpekit_counts_read_info(table.data, table.len - 1, &untouched, &pattern, &err), &err,
               BPEKIT_ERR_BAD_FORMAT, "checksum");
    EXPECT_ERR(bpekit_counts_read_info(U8("BPEKITCT"), 8, &untouched, &pattern, &err), &err,
               BPEKIT_ERR_BAD_FORMAT, "truncated");
    EXPECT_ERR(bpekit_counts_read_info(NULL, 0, &untouched, &pattern, &err), &err,
               BPEKIT_ERR_BAD_FORMAT, "not a bpekit count table");
    EXPECT_ERR(bpekit_counts_read_info(NULL, 4, &untouched, &pattern, &err), &err,
               BPEKIT_ERR_NULL_ARG, "data");
    EXPECT_ERR(bpekit_counts_read_info(table.data, table.len, NULL, &pattern, &err), &err,
               BPEKIT_ERR_NULL_ARG, "out");
    EXPECT_ERR(bpekit_counts_read_info(table.data, table.len, &untouched, NULL, &err), &err,
               BPEKIT_ERR_NULL_ARG, "pattern");
    CHECK(bpekit_counts_read_info(table.data, 3, &untouched, &pattern, NULL) ==
          BPEKIT_ERR_BAD_FORMAT);
    CHECK(untouched.version == 7 && untouched.texts == 7 && untouched.pieces == 7);
    CHECK(bytes_untouched(&pattern));
    bpekit_bytes_free(&table);
    bpekit_trainer_free(t);
}

const struct test counts_tests[] = {
    TEST(test_trainer_counts),
    TEST(test_counts_merge_equals_one_trainer),
    TEST(test_counts_merge_prunes),
    TEST(test_counts_merge_errors),
    TEST(test_counts_read_info),
    {NULL, NULL},
};
