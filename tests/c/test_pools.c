/*
 * test_pools.c: worker pools and fork: batch encodes and training in a forked child, the
 * bound on the pools kept, and forks at random moments while other threads batch-encode,
 * train and build tokenizers.
 */
#include "harness.h"

#ifdef __linux__
#include <dirent.h>
#endif
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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

const struct test pools_tests[] = {
    TEST(test_pools_after_fork),
    TEST(test_pools_stay_bounded),
    TEST(test_fork_at_random_moments),
    {NULL, NULL},
};
