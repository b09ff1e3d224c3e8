/*
 * A C program built against an installed bpekit through pkg-config only:
 *
 *   cc -std=c11 main.c $(pkg-config --cflags --libs bpekit) -o consumer
 *
 * Trains a small tokenizer, encodes and decodes, checks the round trip. Prints
 * "pkg-config consumer: bpekit <version> ..." on success; exits 1 on any failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpekit.h>

static int fail(const char *what, bpekit_error *err)
{
    fprintf(stderr, "consumer: %s failed (code %d): %s\n", what, (int)bpekit_error_code(err),
            bpekit_error_message(err));
    bpekit_error_free(err);
    return EXIT_FAILURE;
}

int main(void)
{
    static const char *const corpus[] = {
        "The tokenizer learns merges from the training text.",
        "Then it encodes new text with the merges it has learned.",
        "Decoding joins the bytes of the tokens back together.",
    };
    static const char text[] = "The tokenizer encodes new text: caf\xc3\xa9!";
    bpekit_error *err = NULL;
    bpekit_trainer *trainer = NULL;
    bpekit_tokenizer *tok = NULL;
    bpekit_tokens ids = {0};
    bpekit_bytes back = {0};
    int status = EXIT_FAILURE;

    if (bpekit_abi_version() != BPEKIT_ABI_VERSION) {
        fprintf(stderr, "consumer: library ABI %u, header ABI %u\n", (unsigned)bpekit_abi_version(),
                (unsigned)BPEKIT_ABI_VERSION);
        return EXIT_FAILURE;
    }
    if (bpekit_trainer_new(NULL, 0, &trainer, &err) != BPEKIT_OK) return fail("trainer_new", err);
    for (int round = 0; round < 30; ++round) {
        for (size_t i = 0; i < sizeof corpus / sizeof *corpus; ++i) {
            if (bpekit_trainer_feed(trainer, (const uint8_t *)corpus[i], strlen(corpus[i]), &err) != BPEKIT_OK) {
                status = fail("trainer_feed", err);
                goto out;
            }
        }
    }
    if (bpekit_trainer_finish(trainer, 300, &tok, &err) != BPEKIT_OK) {
        status = fail("trainer_finish", err);
        goto out;
    }
    if (bpekit_tokenizer_encode_ordinary(tok, (const uint8_t *)text, sizeof text - 1, &ids, &err) != BPEKIT_OK) {
        status = fail("encode_ordinary", err);
        goto out;
    }
    if (bpekit_tokenizer_decode(tok, ids.ids, ids.len, &back, &err) != BPEKIT_OK) {
        status = fail("decode", err);
        goto out;
    }
    if (back.len != sizeof text - 1 || memcmp(back.data, text, back.len) != 0) {
        fprintf(stderr, "consumer: round trip failed\n");
        goto out;
    }
    printf("pkg-config consumer: bpekit %s, vocab %zu, %zu bytes -> %zu tokens, round trip ok\n",
           bpekit_version(), bpekit_tokenizer_vocab_size(tok), sizeof text - 1, ids.len);
    status = EXIT_SUCCESS;
out:
    bpekit_bytes_free(&back);
    bpekit_tokens_free(&ids);
    bpekit_tokenizer_free(tok);
    bpekit_trainer_free(trainer);
    return status;
}
