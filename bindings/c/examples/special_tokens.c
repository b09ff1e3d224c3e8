/*
 * special_tokens.c: train a tokenizer with special tokens, then encode under a policy.
 *
 * The steps: train on a few sentences with three special tokens (they get the ids right
 * after the last merge, nanochat's convention, and count in the vocab size), list them,
 * encode a text with a policy that allows one of them, show that a text holding another
 * one is refused (BPEKIT_ERR_DISALLOWED_SPECIAL), count tokens without building them, and
 * encode a batch of texts in one call, printing the offsets that split its ids; then save
 * the tokenizer to a file, load it back, and check the loaded one decodes what the first
 * encoded. Any unexpected failure prints the bpekit error message and exits non-zero.
 *
 * Build and run from the repository root:
 *
 *   make lib      (cargo build --release, plus the libbpekit.so.2 link the program looks for)
 *   cc -std=c11 -Wall -Wextra -Wpedantic -Werror -Iinclude \
 *      bindings/c/examples/special_tokens.c -Ltarget/release -lbpekit -o special_tokens
 *   LD_LIBRARY_PATH=target/release ./special_tokens
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpekit.h"

#define U8(s) ((const uint8_t *)(s))

static const char *const corpus[] = {
    "The tokenizer reads text as bytes and cuts it into pieces with a regular expression.",
    "The most frequent pair of tokens becomes a new token, again and again.",
    "Special tokens mark the start of a document or of a turn in a conversation.",
    "They are never made by merging: only text that names them can become them.",
};

/* The special tokens, in the order that gives their ids. */
static const bpekit_slice specials[] = {
    {U8("<|bos|>"), 7},
    {U8("<|user_start|>"), 14},
    {U8("<|user_end|>"), 12},
};
#define N_SPECIALS (sizeof specials / sizeof specials[0])

/* Prints what failed and the error's message, then frees the error. */
static void report(const char *what, bpekit_error *err)
{
    fprintf(stderr, "special_tokens: %s failed (code %d): %s\n", what,
            (int)bpekit_error_code(err), bpekit_error_message(err));
    bpekit_error_free(err);
}

static void print_ids(const uint32_t *ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        printf(" %u", (unsigned)ids[i]);
    printf("\n");
}

int main(void)
{
    int status = EXIT_FAILURE;
    bpekit_error *err = NULL;
    bpekit_trainer *trainer = NULL;
    bpekit_tokenizer *tok = NULL;
    /* Output buffers start zeroed, so freeing one that was never filled is harmless. */
    bpekit_tokens ids = {0}, refused = {0}, batch_ids = {0};
    bpekit_offsets offsets = {0};
    const uint8_t *pattern;
    size_t pattern_len;

    if (bpekit_abi_version() != BPEKIT_ABI_VERSION) {
        fprintf(stderr, "special_tokens: library ABI %u, header ABI %u\n",
                (unsigned)bpekit_abi_version(), (unsigned)BPEKIT_ABI_VERSION);
        return EXIT_FAILURE;
    }

    /* ---- Train with special tokens ---- */
    /* The named patterns are static strings; nothing to free. */
    if (bpekit_pattern_named(U8("nanochat"), 8, &pattern, &pattern_len, &err) != BPEKIT_OK) {
        report("bpekit_pattern_named", err);
        goto done;
    }
    if (bpekit_trainer_new(pattern, pattern_len, &trainer, &err) != BPEKIT_OK) {
        report("bpekit_trainer_new", err);
        goto done;
    }
    if (bpekit_trainer_set_special_tokens(trainer, specials, N_SPECIALS, &err) != BPEKIT_OK) {
        report("bpekit_trainer_set_special_tokens", err);
        goto done;
    }
    for (size_t i = 0; i < sizeof corpus / sizeof corpus[0]; i++) {
        if (bpekit_trainer_feed(trainer, U8(corpus[i]), strlen(corpus[i]), &err) != BPEKIT_OK) {
            report("bpekit_trainer_feed", err);
            goto done;
        }
    }
    /* 320 tokens in all: 256 bytes, 61 merges, 3 special tokens. */
    if (bpekit_trainer_finish(trainer, 320, &tok, &err) != BPEKIT_OK) {
        report("bpekit_trainer_finish", err);
        goto done;
    }
    bpekit_progress progress;
    if (bpekit_trainer_progress(trainer, &progress, &err) != BPEKIT_OK) {
        report("bpekit_trainer_progress", err);
        goto done;
    }
    printf("trained on %llu texts: %llu merges, vocab size %zu\n",
           (unsigned long long)progress.texts, (unsigned long long)progress.merges_done,
           bpekit_tokenizer_vocab_size(tok));

    /* ---- List the special tokens (in id order; the texts are borrowed from tok) ---- */
    for (size_t i = 0; i < bpekit_tokenizer_special_count(tok); i++) {
        const uint8_t *text;
        size_t len;
        uint32_t id;
        if (bpekit_tokenizer_special_token(tok, i, &text, &len, &id, &err) != BPEKIT_OK) {
            report("bpekit_tokenizer_special_token", err);
            goto done;
        }
        printf("special token %u: %.*s\n", (unsigned)id, (int)len, (const char *)text);
    }

    /* ---- Encode with a policy: "<|bos|>" allowed, every other special refused ---- */
    /* This is tiktoken's encode(text, allowed_special={"<|bos|>"}). A NULL policy would
     * allow none (tiktoken's default). */
    const bpekit_special_policy policy = {
        .allowed = specials, /* "<|bos|>" */
        .n_allowed = 1,
        .flags = BPEKIT_SPECIAL_DISALLOW_ALL,
    };
    static const char text[] = "<|bos|>The tokenizer reads special tokens too.";
    if (bpekit_tokenizer_encode(tok, U8(text), sizeof text - 1, &policy, &ids, &err) !=
        BPEKIT_OK) {
        report("bpekit_tokenizer_encode", err);
        goto done;
    }
    printf("\"%s\"\n-> %zu tokens:", text, ids.len);
    print_ids(ids.ids, ids.len);

    /* Text naming a special token the policy does not allow is an error, not silently
     * ordinary text; `refused` is left untouched. */
    static const char chat[] = "<|bos|><|user_start|>hello<|user_end|>";
    bpekit_status st = bpekit_tokenizer_encode(tok, U8(chat), sizeof chat - 1, &policy, &refused,
                                               &err);
    if (st != BPEKIT_ERR_DISALLOWED_SPECIAL) {
        fprintf(stderr, "special_tokens: expected BPEKIT_ERR_DISALLOWED_SPECIAL, got %d\n",
                (int)st);
        bpekit_error_free(err);
        goto done;
    }
    /* The message has several lines (tiktoken's wording); show the first. */
    const char *msg = bpekit_error_message(err);
    printf("\"%s\" is refused: %.*s\n", chat, (int)strcspn(msg, "\n"), msg);
    bpekit_error_free(err);
    err = NULL;

    /* ---- Count without building the ids ---- */
    size_t count;
    if (bpekit_tokenizer_count(tok, U8(text), sizeof text - 1, &policy, &count, &err) !=
        BPEKIT_OK) {
        report("bpekit_tokenizer_count", err);
        goto done;
    }
    if (count != ids.len) {
        fprintf(stderr, "special_tokens: count %zu, but encode gave %zu ids\n", count, ids.len);
        goto done;
    }
    printf("count: %zu tokens, as encode\n", count);

    /* ---- Encode a batch in one call ---- */
    /* All ids come back in one buffer; text i is ids[offsets[i] .. offsets[i + 1]]. 0
     * threads means one per core. */
    const bpekit_slice batch[] = {
        {U8(text), sizeof text - 1},
        {U8("no special tokens here"), 22},
        {NULL, 0}, /* an empty text */
        {U8("<|bos|>again"), 12},
    };
    const size_t n = sizeof batch / sizeof batch[0];
    if (bpekit_tokenizer_encode_batch(tok, batch, n, &policy, 0, &batch_ids, &offsets, &err) !=
        BPEKIT_OK) {
        report("bpekit_tokenizer_encode_batch", err);
        goto done;
    }
    printf("batch of %zu texts: %zu ids, offsets", n, batch_ids.len);
    for (size_t i = 0; i < offsets.len; i++)
        printf(" %zu", offsets.data[i]);
    printf("\n");
    for (size_t i = 0; i < n; i++) {
        printf("  text %zu:", i);
        print_ids(batch_ids.ids + offsets.data[i], offsets.data[i + 1] - offsets.data[i]);
    }

    /* ---- Save to bpekit's own file, load it back, decode with the loaded one ---- */
    {
        const char *path = "special_tokens.bpekit";
        bpekit_tokenizer *loaded = NULL;
        bpekit_bytes text_back = {0};
        if (bpekit_tokenizer_save(tok, U8(path), strlen(path), &err) != BPEKIT_OK) {
            report("bpekit_tokenizer_save", err);
            goto done;
        }
        if (bpekit_tokenizer_load(U8(path), strlen(path), &loaded, &err) != BPEKIT_OK) {
            report("bpekit_tokenizer_load", err);
            remove(path);
            goto done;
        }
        remove(path);
        int ok = bpekit_tokenizer_decode(loaded, ids.ids, ids.len, &text_back, &err) == BPEKIT_OK;
        if (!ok)
            report("bpekit_tokenizer_decode", err);
        ok = ok && text_back.len == sizeof text - 1 && memcmp(text_back.data, text, text_back.len) == 0;
        printf("saved %s, loaded it, decoded the first ids: %s\n", path, ok ? "same text" : "MISMATCH");
        bpekit_bytes_free(&text_back);
        bpekit_tokenizer_free(loaded);
        if (!ok)
            goto done;
    }

    status = EXIT_SUCCESS;

done:
    /* Every free function accepts NULL or a zeroed buffer. */
    bpekit_offsets_free(&offsets);
    bpekit_tokens_free(&batch_ids);
    bpekit_tokens_free(&refused);
    bpekit_tokens_free(&ids);
    bpekit_tokenizer_free(tok);
    bpekit_trainer_free(trainer);
    return status;
}
