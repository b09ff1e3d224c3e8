/*
 * train_encode.c: train a small tokenizer with bpekit, then use it.
 *
 * The steps: check the library's ABI version, train on a few paragraphs of English,
 * encode and decode a sample (checking the round trip byte for byte), export the ranks
 * in tiktoken's format, load them back, and check the reloaded tokenizer encodes the
 * same. Any failure prints the bpekit error message and exits non-zero.
 *
 * Build and run from the repository root:
 *
 *   make lib      (cargo build --release, plus the libbpekit.so.2 link the program looks for)
 *   cc -std=c11 -Wall -Wextra -Wpedantic -Werror -Iinclude \
 *      bindings/c/examples/train_encode.c -Ltarget/release -lbpekit -o train_encode
 *   LD_LIBRARY_PATH=target/release ./train_encode
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpekit.h"

/* The training text. bpekit inputs are (pointer, length) pairs, so the texts need not be
 * NUL-terminated; string literals just make the example short. */
static const char *const corpus[] = {
    "The tokenizer reads text as bytes. It first cuts the text into pieces with a "
    "regular expression: words, numbers, runs of punctuation and runs of spaces. Then it "
    "looks at every pair of neighbouring bytes inside the pieces and counts how often "
    "each pair occurs across the whole training text.",

    "The most frequent pair becomes a new token, and every occurrence of that pair is "
    "merged into it. The counting and merging repeat until the vocabulary reaches the "
    "size the user asked for. Common words such as the, and, of and to soon become single "
    "tokens, while rare words stay split into several smaller tokens.",

    "Encoding applies the learned merges in the order they were learned. Decoding is "
    "simpler still: each token stands for a fixed string of bytes, and the bytes of the "
    "tokens are joined together. Because every single byte is a token, any text can be "
    "encoded, and decoding always gives back exactly the bytes that went in.",

    "The ranks can be written in the format used by tiktoken, one line per token with the "
    "token in base64 and its rank in decimal. A tokenizer trained here can therefore be "
    "loaded by other tools, and a rank file from elsewhere can be loaded here.",
};

static const char sample[] = "The tokenizer learns merges from the training text, then "
                             "encodes new text with them.";

/* Prints what failed and the error's message, then frees the error. */
static void report(const char *what, bpekit_error *err)
{
    fprintf(stderr, "train_encode: %s failed (code %d): %s\n", what,
            (int)bpekit_error_code(err), bpekit_error_message(err));
    bpekit_error_free(err);
}

/* Returns 1 if the two token lists are equal. */
static int same_tokens(const bpekit_tokens *a, const bpekit_tokens *b)
{
    return a->len == b->len &&
           (a->len == 0 || memcmp(a->ids, b->ids, a->len * sizeof *a->ids) == 0);
}

int main(void)
{
    int status = EXIT_FAILURE;
    bpekit_error *err = NULL;
    bpekit_trainer *trainer = NULL;
    bpekit_tokenizer *tok = NULL, *reloaded = NULL;
    /* Output buffers start zeroed, so freeing one that was never filled is harmless. */
    bpekit_tokens ids = {0}, reloaded_ids = {0};
    bpekit_bytes decoded = {0}, ranks = {0};
    const uint8_t *pattern;
    size_t pattern_len;
    const uint8_t *text = (const uint8_t *)sample;
    const size_t text_len = sizeof sample - 1;

    /* ---- Check the library matches the header ---- */
    if (bpekit_abi_version() != BPEKIT_ABI_VERSION) {
        fprintf(stderr, "train_encode: library ABI %u, header ABI %u\n",
                (unsigned)bpekit_abi_version(), (unsigned)BPEKIT_ABI_VERSION);
        return EXIT_FAILURE;
    }
    printf("bpekit %s (ABI %u)\n", bpekit_version(), (unsigned)bpekit_abi_version());

    /* ---- Train ---- */
    /* A NULL pattern selects the default (GPT-4, cl100k_base) split pattern. */
    if (bpekit_trainer_new(NULL, 0, &trainer, &err) != BPEKIT_OK) {
        report("bpekit_trainer_new", err);
        goto done;
    }
    for (size_t i = 0; i < sizeof corpus / sizeof corpus[0]; i++) {
        const char *para = corpus[i];
        if (bpekit_trainer_feed(trainer, (const uint8_t *)para, strlen(para), &err) != BPEKIT_OK) {
            report("bpekit_trainer_feed", err);
            goto done;
        }
    }
    if (bpekit_trainer_finish(trainer, 300, &tok, &err) != BPEKIT_OK) {
        report("bpekit_trainer_finish", err);
        goto done;
    }
    printf("trained on %llu texts (%llu bytes): vocab size %zu\n",
           (unsigned long long)bpekit_trainer_texts(trainer),
           (unsigned long long)bpekit_trainer_bytes(trainer), bpekit_tokenizer_vocab_size(tok));

    /* ---- Encode ---- */
    if (bpekit_tokenizer_encode_ordinary(tok, text, text_len, &ids, &err) != BPEKIT_OK) {
        report("bpekit_tokenizer_encode_ordinary", err);
        goto done;
    }
    printf("\"%s\"\n-> %zu tokens for %zu bytes:", sample, ids.len, text_len);
    for (size_t i = 0; i < ids.len; i++)
        printf(" %u", (unsigned)ids.ids[i]);
    printf("\n");

    /* ---- Decode and check the round trip ---- */
    if (bpekit_tokenizer_decode(tok, ids.ids, ids.len, &decoded, &err) != BPEKIT_OK) {
        report("bpekit_tokenizer_decode", err);
        goto done;
    }
    if (decoded.len != text_len || memcmp(decoded.data, text, text_len) != 0) {
        fprintf(stderr, "train_encode: decode(encode(sample)) differs from the sample\n");
        goto done;
    }
    printf("decode(encode(sample)) == sample: ok\n");

    /* ---- Export the ranks and load them back ---- */
    if (bpekit_tokenizer_export_tiktoken(tok, &ranks, &err) != BPEKIT_OK) {
        report("bpekit_tokenizer_export_tiktoken", err);
        goto done;
    }
    /* A rank file holds no split pattern, so pass the trained tokenizer's along. It is
     * borrowed from `tok` and valid until `tok` is freed. */
    if (bpekit_tokenizer_pattern(tok, &pattern, &pattern_len, &err) != BPEKIT_OK) {
        report("bpekit_tokenizer_pattern", err);
        goto done;
    }
    if (bpekit_tokenizer_from_tiktoken(ranks.data, ranks.len, pattern, pattern_len, &reloaded,
                                       &err) != BPEKIT_OK) {
        report("bpekit_tokenizer_from_tiktoken", err);
        goto done;
    }
    if (bpekit_tokenizer_encode_ordinary(reloaded, text, text_len, &reloaded_ids, &err) !=
        BPEKIT_OK) {
        report("bpekit_tokenizer_encode_ordinary (reloaded)", err);
        goto done;
    }
    if (!same_tokens(&ids, &reloaded_ids)) {
        fprintf(stderr, "train_encode: the reloaded tokenizer encodes differently\n");
        goto done;
    }
    printf("exported %zu bytes of tiktoken ranks; reloaded tokenizer encodes identically: ok\n",
           ranks.len);

    status = EXIT_SUCCESS;

done:
    /* Every free function accepts NULL or a zeroed buffer. */
    bpekit_tokens_free(&reloaded_ids);
    bpekit_bytes_free(&ranks);
    bpekit_bytes_free(&decoded);
    bpekit_tokens_free(&ids);
    bpekit_tokenizer_free(reloaded);
    bpekit_tokenizer_free(tok);
    bpekit_trainer_free(trainer);
    return status;
}
