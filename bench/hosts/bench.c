/* The C baseline of bench/host_bench.py: encode a text with bpekit.h, median MB/s, and
 * the median latency of a short string. Usage: bench TOKENIZER TEXT REPEAT */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bpekit.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp);
    return v[n / 2];
}

int main(int argc, char **argv)
{
    if (argc != 4) return 2;
    bpekit_tokenizer *tok = NULL;
    if (bpekit_tokenizer_load((const uint8_t *)argv[1], strlen(argv[1]), &tok, NULL) != BPEKIT_OK) return 1;
    FILE *f = fopen(argv[2], "rb");
    if (!f) return 1;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *text = malloc((size_t)size);
    if (fread(text, 1, (size_t)size, f) != (size_t)size) return 1;
    fclose(f);
    int repeat = atoi(argv[3]);
    double *t = calloc((size_t)repeat, sizeof *t);
    size_t n_ids = 0;
    for (int r = -1; r < repeat; r++) { /* r = -1: warm-up */
        bpekit_tokens ids = {0};
        double t0 = now();
        if (bpekit_tokenizer_encode_ordinary(tok, text, (size_t)size, &ids, NULL) != BPEKIT_OK) return 1;
        double dt = now() - t0;
        n_ids = ids.len;
        bpekit_tokens_free(&ids);
        if (r >= 0) t[r] = dt;
    }
    const char *s = "hello world";
    enum { CALLS = 20000, ROUNDS = 5 };
    double lat[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        double t0 = now();
        for (int i = 0; i < CALLS; i++) {
            bpekit_tokens ids = {0};
            bpekit_tokenizer_encode_ordinary(tok, (const uint8_t *)s, strlen(s), &ids, NULL);
            bpekit_tokens_free(&ids);
        }
        lat[r] = (now() - t0) / CALLS;
    }
    printf("{\"host\":\"c\",\"mb_s\":%.2f,\"tokens\":%zu,\"short_ns\":%.0f}\n", (double)size / 1e6 / median(t, repeat),
           n_ids, median(lat, ROUNDS) * 1e9);
    bpekit_tokenizer_free(tok);
    free(text);
    free(t);
    return 0;
}
