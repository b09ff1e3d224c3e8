/*
 * test_progress.c: the trainer's progress: read as training goes, and from a second thread
 * while feed_batch and finish run on a larger corpus.
 */
#include "harness.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

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

const struct test progress_tests[] = {
    TEST(test_trainer_progress),
    TEST(test_progress_concurrent),
    {NULL, NULL},
};
