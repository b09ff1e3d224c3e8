/*
 * shards.c: a corpus buffer to a tokenizer and llm.c token shards, then read back.
 *
 * The steps: split a buffer of paragraphs (separated by blank lines) into documents with
 * bpekit_docs_split, train a tokenizer on those documents (bpekit_trainer_feed_docs) with
 * an end-of-text special token, count each document's tokens (bpekit_tokenizer_count_docs),
 * write the documents as llm.c shards of at most 160 tokens, each followed by the
 * end-of-text id (bpekit_shard_writer_*), list the shards, read each one back
 * (bpekit_shard_read_info, bpekit_shard_read) and check that the shards hold exactly
 * encode_ordinary of every document plus its end-of-text id, in order. The shards are
 * written into a new temporary directory, removed at the end. Any failure prints the
 * bpekit error message and exits non-zero.
 *
 * Build and run from the repository root:
 *
 *   make lib      (cargo build --release, plus the libbpekit.so.2 link the program looks for)
 *   cc -std=c11 -Wall -Wextra -Wpedantic -Werror -Iinclude \
 *      bindings/c/examples/shards.c -Ltarget/release -lbpekit -o shards
 *   LD_LIBRARY_PATH=target/release ./shards
 */

#define _POSIX_C_SOURCE 200809L /* mkdtemp, rmdir */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bpekit.h"

#define U8(s) ((const uint8_t *)(s))

/* The corpus as a reader would hand it over: one buffer, documents between blank lines. */
static const char corpus[] =
    "The tokenizer reads text as bytes. It first cuts the text into pieces with a regular\n"
    "expression: words, numbers, runs of punctuation and runs of spaces.\n"
    "\n"
    "The most frequent pair becomes a new token, and every occurrence of that pair is\n"
    "merged into it. The counting and merging repeat until the vocabulary is full.\n"
    "\n"
    "Encoding applies the learned merges in the order they were learned. Decoding joins\n"
    "the bytes of the tokens back together.\n"
    "\n"
    "A training run reads its tokens from shards: large files of token ids, written once\n"
    "and read many times, each document followed by the end-of-text token.\n"
    "\n"
    "Short one.\n";

static const char eot[] = "<|endoftext|>";

/* Prints what failed and the error's message, then frees the error. */
static void report(const char *what, bpekit_error *err)
{
    fprintf(stderr, "shards: %s failed (code %d, %s): %s\n", what, (int)bpekit_error_code(err),
            bpekit_status_name(bpekit_error_code(err)), bpekit_error_message(err));
    bpekit_error_free(err);
}

/* Checks that `ids[*at ..]` starts with encode_ordinary(document) then `eos`, and moves
 * `*at` past them. Returns 1 if so. */
static int check_document(const bpekit_tokenizer *tok, const uint8_t *doc, size_t len, uint32_t eos,
                          const uint32_t *ids, size_t n_ids, size_t *at)
{
    bpekit_tokens want = {0};
    bpekit_error *err = NULL;
    int ok = 0;
    if (bpekit_tokenizer_encode_ordinary(tok, doc, len, &want, &err) != BPEKIT_OK) {
        report("bpekit_tokenizer_encode_ordinary", err);
        return 0;
    }
    if (*at + want.len + 1 <= n_ids &&
        (want.len == 0 || memcmp(ids + *at, want.ids, want.len * sizeof *ids) == 0) &&
        ids[*at + want.len] == eos) {
        *at += want.len + 1;
        ok = 1;
    }
    bpekit_tokens_free(&want);
    return ok;
}

int main(void)
{
    int status = EXIT_FAILURE;
    bpekit_error *err = NULL;
    bpekit_docs docs = {0};
    bpekit_trainer *trainer = NULL;
    bpekit_tokenizer *tok = NULL;
    bpekit_shard_writer *writer = NULL;
    uint32_t *all = NULL; /* every shard's ids, concatenated (malloc'd here, not by bpekit) */
    size_t all_len = 0;
    uint64_t *counts = NULL;
    uint32_t eos = 0;
    char dir[] = "/tmp/bpekit-shards-example-XXXXXX";
    char prefix[sizeof dir + 16];
    int made_dir = 0;

    if (bpekit_abi_version() != BPEKIT_ABI_VERSION) {
        fprintf(stderr, "shards: library ABI %u, header ABI %u\n", (unsigned)bpekit_abi_version(),
                (unsigned)BPEKIT_ABI_VERSION);
        return EXIT_FAILURE;
    }

    /* ---- Split the buffer into documents ---- */
    /* Options not set here are 0; doc_cap and max_chars need BPEKIT_NO_LIMIT for "none". */
    bpekit_split_options opts = {0};
    opts.layout = BPEKIT_LAYOUT_SEPARATOR;
    opts.separator = U8("\n\n");
    opts.separator_len = 2;
    opts.errors = BPEKIT_UTF8_STRICT;
    opts.doc_cap = BPEKIT_NO_LIMIT;
    opts.max_chars = BPEKIT_NO_LIMIT;
    opts.source = U8("corpus");
    opts.source_len = 6;
    if (bpekit_docs_split(U8(corpus), sizeof corpus - 1, &opts, &docs, &err) != BPEKIT_OK) {
        report("bpekit_docs_split", err);
        goto done;
    }
    /* The spans index docs.data when the split made bytes of its own, else the input. */
    const uint8_t *base = docs.data != NULL ? docs.data : U8(corpus);
    const size_t base_len = docs.data != NULL ? docs.data_len : sizeof corpus - 1;
    printf("%zu documents, %llu characters\n", docs.n, (unsigned long long)docs.chars);

    /* ---- Train on the documents, with an end-of-text special token ---- */
    const bpekit_slice specials[] = {{U8(eot), sizeof eot - 1}};
    if (bpekit_trainer_new(NULL, 0, &trainer, &err) != BPEKIT_OK ||
        bpekit_trainer_feed_docs(trainer, base, base_len, docs.spans, docs.n, &err) != BPEKIT_OK ||
        bpekit_trainer_set_special_tokens(trainer, specials, 1, &err) != BPEKIT_OK ||
        bpekit_trainer_finish(trainer, 320, &tok, &err) != BPEKIT_OK ||
        bpekit_tokenizer_token_id(tok, U8(eot), sizeof eot - 1, &eos, &err) != BPEKIT_OK) {
        report("training", err);
        goto done;
    }
    printf("vocab size %zu, %s = %u\n", bpekit_tokenizer_vocab_size(tok), eot, (unsigned)eos);

    /* ---- Count tokens per document ---- */
    counts = calloc(docs.n ? docs.n : 1, sizeof *counts);
    if (counts == NULL) {
        fprintf(stderr, "shards: out of memory\n");
        goto done;
    }
    if (bpekit_tokenizer_count_docs(tok, base, base_len, docs.spans, docs.n, 0, counts, &err) != BPEKIT_OK) {
        report("bpekit_tokenizer_count_docs", err);
        goto done;
    }
    uint64_t expected_tokens = 0;
    printf("tokens per document:");
    for (size_t i = 0; i < docs.n; i++) {
        printf(" %llu", (unsigned long long)counts[i]);
        expected_tokens += counts[i] + 1; /* + the end-of-text id */
    }
    printf("\n");

    /* ---- Write llm.c shards of at most 160 tokens (a document is never split) ---- */
    if (mkdtemp(dir) == NULL) {
        perror("shards: mkdtemp");
        goto done;
    }
    made_dir = 1;
    snprintf(prefix, sizeof prefix, "%s/corpus", dir);
    const bpekit_shard_options so = {
        .format = U8("llmc"),
        .format_len = 4,
        .prefix = U8(prefix),
        .prefix_len = strlen(prefix),
        .shard_tokens = 160,
        .first_shard = 0,
        .bos = -1,
        .eos = eos,
    };
    if (bpekit_shard_writer_new(tok, &so, &writer, &err) != BPEKIT_OK ||
        bpekit_shard_writer_push(writer, tok, base, base_len, docs.spans, docs.n, 0, &err) != BPEKIT_OK ||
        bpekit_shard_writer_finish(writer, &err) != BPEKIT_OK) {
        report("writing shards", err);
        goto done;
    }

    /* ---- List the shards and read each one back ---- */
    const size_t n_shards = bpekit_shard_writer_completed(writer);
    uint64_t total = 0;
    for (size_t s = 0; s < n_shards; s++) {
        bpekit_shard_record r;
        bpekit_shard_info info;
        bpekit_bytes tokens_file = {0};
        bpekit_tokens ids = {0};
        bpekit_offsets offsets = {0};
        if (bpekit_shard_writer_shard(writer, s, &r, &err) != BPEKIT_OK) {
            report("bpekit_shard_writer_shard", err);
            goto done;
        }
        /* r.paths: NUL-terminated names; an llm.c shard has one file. */
        const char *path = (const char *)r.paths;
        if (bpekit_shard_read_info(r.paths, strlen(path), NULL, 0, &info, &tokens_file, &err) != BPEKIT_OK ||
            bpekit_shard_read(r.paths, strlen(path), NULL, 0, &ids, &offsets, &err) != BPEKIT_OK) {
            bpekit_bytes_free(&tokens_file);
            report("reading a shard", err);
            goto done;
        }
        printf("shard %llu: %s, %s %s, %llu tokens (header), %llu documents (writer), data at byte %llu\n",
               (unsigned long long)r.index, path, info.format, info.dtype, (unsigned long long)info.tokens,
               (unsigned long long)r.documents, (unsigned long long)info.data_offset);
        int ok = info.tokens == r.tokens && ids.len == r.tokens;
        uint32_t *grown = ok ? realloc(all, (all_len + ids.len + 1) * sizeof *grown) : NULL;
        if (grown != NULL) {
            memcpy(grown + all_len, ids.ids, ids.len * sizeof *grown);
            all = grown;
            all_len += ids.len;
        }
        total += r.tokens;
        bpekit_bytes_free(&tokens_file);
        bpekit_tokens_free(&ids);
        bpekit_offsets_free(&offsets);
        if (!ok || grown == NULL) {
            fprintf(stderr, "shards: shard %zu: the header, the file and the writer disagree\n", s);
            goto done;
        }
    }

    /* ---- Check: every document's ids plus end-of-text, in order ---- */
    size_t at = 0;
    for (size_t i = 0; i < docs.n; i++) {
        const uint8_t *doc = base + docs.spans[i].start;
        const size_t len = (size_t)(docs.spans[i].end - docs.spans[i].start);
        if (!check_document(tok, doc, len, eos, all, all_len, &at)) {
            fprintf(stderr, "shards: document %zu is not where it should be in the shards\n", i);
            goto done;
        }
    }
    if (at != all_len || total != expected_tokens) {
        fprintf(stderr, "shards: %llu tokens in the shards, %llu expected\n", (unsigned long long)total,
                (unsigned long long)expected_tokens);
        goto done;
    }
    printf("%zu shards, %llu tokens: every document's encode_ordinary + end-of-text, in order: ok\n", n_shards,
           (unsigned long long)total);
    status = EXIT_SUCCESS;

done:
    /* Remove the shards (the writer lists them) and the directory. */
    for (size_t s = 0; writer != NULL && s < bpekit_shard_writer_completed(writer); s++) {
        bpekit_shard_record r;
        if (bpekit_shard_writer_shard(writer, s, &r, NULL) != BPEKIT_OK)
            continue;
        for (size_t k = 0; k < r.paths_len; k += strlen((const char *)r.paths + k) + 1)
            remove((const char *)r.paths + k);
    }
    /* Freeing a writer that did not finish removes its temporary files. */
    bpekit_shard_writer_free(writer);
    if (made_dir && rmdir(dir) != 0)
        perror("shards: rmdir");
    free(all);
    free(counts);
    bpekit_tokenizer_free(tok);
    bpekit_trainer_free(trainer);
    bpekit_docs_free(&docs);
    return status;
}
