/*
 * test_counts.c: count tables: exported by one trainer, added to another, refused when
 * damaged.
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

const struct test counts_tests[] = {
    TEST(test_trainer_counts),
    {NULL, NULL},
};
