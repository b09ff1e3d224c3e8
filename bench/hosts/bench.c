/* The C host of bench/host_bench.py: loads a tokenizer and a text, then answers one
 * command per line on stdin with one line on stdout:
 *   big    -> seconds of one encode_ordinary of the whole text (the ids freed after)
 *   short  -> mean nanoseconds of one encode_ordinary of "hello world" over 20000 calls
 *   tokens -> the token count of the whole text
 * Usage: bench_c TOKENIZER TEXT */
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

int main(int argc, char **argv)
{
    if (argc != 3) return 2;
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
    char line[64];
    while (fgets(line, sizeof line, stdin)) {
        if (!strcmp(line, "big\n") || !strcmp(line, "tokens\n")) {
            bpekit_tokens ids = {0};
            double t0 = now();
            if (bpekit_tokenizer_encode_ordinary(tok, text, (size_t)size, &ids, NULL) != BPEKIT_OK) return 1;
            double dt = now() - t0;
            if (line[0] == 'b') printf("%.9f\n", dt);
            else printf("%zu\n", ids.len);
            bpekit_tokens_free(&ids);
        } else if (!strcmp(line, "short\n")) {
            const char *s = "hello world";
            enum { CALLS = 20000 };
            double t0 = now();
            for (int i = 0; i < CALLS; i++) {
                bpekit_tokens ids = {0};
                bpekit_tokenizer_encode_ordinary(tok, (const uint8_t *)s, strlen(s), &ids, NULL);
                bpekit_tokens_free(&ids);
            }
            printf("%.3f\n", (now() - t0) / CALLS * 1e9);
        } else {
            return 2;
        }
        fflush(stdout);
    }
    bpekit_tokenizer_free(tok);
    free(text);
    return 0;
}
