/*
 * test_threads.c: one tokenizer shared by several threads.
 */
#include "harness.h"

#include <pthread.h>

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

const struct test threads_tests[] = {
    TEST(test_threads),
    {NULL, NULL},
};
