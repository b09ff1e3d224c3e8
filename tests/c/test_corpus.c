/*
 * test_corpus.c: splitting raw bytes into documents (bpekit_docs_split), Arrow string
 * arrays (bpekit_docs_from_arrow), and the consumers of spans (bpekit_trainer_feed_docs,
 * bpekit_tokenizer_count_docs).
 */
#include "harness.h"

/* Options with `layout`, strict UTF-8, no cap or budget, source "file.txt". */
static bpekit_split_options options(uint32_t layout)
{
    bpekit_split_options o = {0};
    o.layout = layout;
    o.errors = BPEKIT_UTF8_STRICT;
    o.doc_cap = BPEKIT_NO_LIMIT;
    o.max_chars = BPEKIT_NO_LIMIT;
    o.source = U8("file.txt");
    o.source_len = 8;
    o.base_line = 1;
    return o;
}

/* Document `i` of `d` equals `want` (spans index d->data, or `input` when it is NULL). */
static int doc_is(const bpekit_docs *d, const char *input, size_t i, const char *want)
{
    if (i >= d->n)
        return 0;
    const uint8_t *base = d->data != NULL ? d->data : U8(input);
    bpekit_span s = d->spans[i];
    return s.end - s.start == strlen(want) && memcmp(base + s.start, want, strlen(want)) == 0;
}

static const bpekit_docs sentinel_docs = {SENTINEL, SENTINEL_LEN, SENTINEL, SENTINEL_LEN, 7, 7, 7, 7};

static int docs_untouched(const bpekit_docs *d)
{
    return d->spans == sentinel_docs.spans && d->n == SENTINEL_LEN && d->data == sentinel_docs.data &&
           d->chars == 7 && d->stopped == 7;
}

static void test_split_layouts(void)
{
    bpekit_error *err = SENTINEL;
    bpekit_docs d = sentinel_docs;

    const char *lines = "one\r\ntwo\n\nthr\xc3\xa9\xe6\x97\xa5";
    bpekit_split_options o = options(BPEKIT_LAYOUT_LINES);
    EXPECT_OK(bpekit_docs_split(U8(lines), strlen(lines), &o, &d, &err), &err);
    CHECK(d.n == 4 && d.data == NULL && d.data_len == 0);
    CHECK(doc_is(&d, lines, 0, "one") && doc_is(&d, lines, 1, "two") && doc_is(&d, lines, 2, ""));
    CHECK(doc_is(&d, lines, 3, "thr\xc3\xa9\xe6\x97\xa5"));
    CHECK(d.chars == 11 && d.skipped == 0 && d.consumed == strlen(lines) && d.stopped == 0);
    bpekit_docs_free(&d);

    const char *sep = "\n\na\n\n\n\nb\nc\n\n";
    o = options(BPEKIT_LAYOUT_SEPARATOR);
    o.separator = U8("\n\n");
    o.separator_len = 2;
    CHECK(bpekit_docs_split(U8(sep), strlen(sep), &o, &d, NULL) == BPEKIT_OK); /* err may be NULL */
    CHECK(d.n == 2 && doc_is(&d, sep, 0, "a") && doc_is(&d, sep, 1, "b\nc"));
    bpekit_docs_free(&d);

    o = options(BPEKIT_LAYOUT_WHOLE);
    EXPECT_OK(bpekit_docs_split(NULL, 0, &o, &d, &err), &err);
    CHECK(d.n == 1 && d.spans != NULL && d.spans[0].start == 0 && d.spans[0].end == 0);
    bpekit_docs_free(&d);

    const char *jsonl = "{\"meta\": {\"text\": \"caf\\u00e9 \\ud83d\\ude00\\n\"}, \"n\": [1, {}]}\n"
                        "  \n"
                        "{\"meta\": {\"text\": \"plain\", \"text2\": 5}}\n";
    o = options(BPEKIT_LAYOUT_JSONL);
    o.key = U8("meta.text");
    o.key_len = 9;
    EXPECT_OK(bpekit_docs_split(U8(jsonl), strlen(jsonl), &o, &d, &err), &err);
    CHECK(d.n == 2 && d.data != NULL);
    CHECK(doc_is(&d, jsonl, 0, "caf\xc3\xa9 \xf0\x9f\x98\x80\n") && doc_is(&d, jsonl, 1, "plain"));
    CHECK(d.chars == 12);
    bpekit_docs_free(&d);
    bpekit_docs_free(&d); /* zeroed: a second free is a no-op */
    bpekit_docs_free(NULL);
}

static void test_split_caps_and_policies(void)
{
    bpekit_error *err = SENTINEL;
    bpekit_docs d = {0};

    /* nanochat's budget: the document that passes max_chars is still taken. */
    const char *text = "aaa\nbb\ncccc\nd\n";
    bpekit_split_options o = options(BPEKIT_LAYOUT_LINES);
    o.max_chars = 4;
    EXPECT_OK(bpekit_docs_split(U8(text), strlen(text), &o, &d, &err), &err);
    CHECK(d.n == 2 && d.stopped == 1 && d.consumed == 7 && d.chars == 5);
    bpekit_docs_free(&d);
    o.doc_cap = 1;
    EXPECT_OK(bpekit_docs_split(U8(text), strlen(text), &o, &d, &err), &err);
    CHECK(d.n == 4 && d.stopped == 0 && d.consumed == strlen(text) && d.chars == 4);
    CHECK(doc_is(&d, text, 2, "c"));
    bpekit_docs_free(&d);

    const char *bad = "ok\nx\xffy\n\xc3";
    o = options(BPEKIT_LAYOUT_LINES);
    o.errors = BPEKIT_UTF8_REPLACE;
    EXPECT_OK(bpekit_docs_split(U8(bad), strlen(bad), &o, &d, &err), &err);
    CHECK(d.n == 3 && d.data != NULL && doc_is(&d, bad, 0, "ok"));
    CHECK(doc_is(&d, bad, 1, "x\xef\xbf\xbdy") && doc_is(&d, bad, 2, "\xef\xbf\xbd"));
    bpekit_docs_free(&d);
    o.errors = BPEKIT_UTF8_SKIP;
    EXPECT_OK(bpekit_docs_split(U8(bad), strlen(bad), &o, &d, &err), &err);
    CHECK(d.n == 1 && d.skipped == 2 && d.data == NULL && doc_is(&d, bad, 0, "ok"));
    bpekit_docs_free(&d);
}

static void test_split_errors(void)
{
    bpekit_error *err = NULL;
    bpekit_docs d = sentinel_docs;
    bpekit_split_options o = options(BPEKIT_LAYOUT_LINES);

    EXPECT_ERR(bpekit_docs_split(U8("a"), 1, NULL, &d, &err), &err, BPEKIT_ERR_NULL_ARG, "opts");
    EXPECT_ERR(bpekit_docs_split(U8("a"), 1, &o, NULL, &err), &err, BPEKIT_ERR_NULL_ARG, "out");
    EXPECT_ERR(bpekit_docs_split(NULL, 1, &o, &d, &err), &err, BPEKIT_ERR_NULL_ARG, "data");
    o.layout = 9;
    EXPECT_ERR(bpekit_docs_split(U8("a"), 1, &o, &d, &err), &err, BPEKIT_ERR_INVALID_ARG, "layout");
    o = options(BPEKIT_LAYOUT_LINES);
    o.errors = 3;
    EXPECT_ERR(bpekit_docs_split(U8("a"), 1, &o, &d, &err), &err, BPEKIT_ERR_INVALID_ARG, "errors");
    o = options(BPEKIT_LAYOUT_SEPARATOR);
    EXPECT_ERR(bpekit_docs_split(U8("a"), 1, &o, &d, &err), &err, BPEKIT_ERR_INVALID_ARG, "separator");
    o = options(BPEKIT_LAYOUT_JSONL);
    EXPECT_ERR(bpekit_docs_split(U8("{}"), 2, &o, &d, &err), &err, BPEKIT_ERR_INVALID_ARG, "key");
    o.key = U8("text");
    o.key_len = 4;
    o.source = U8("in.jsonl");
    const char *missing = "{\"text\": \"a\"}\n\n{\"txt\": \"b\"}\n";
    EXPECT_ERR(bpekit_docs_split(U8(missing), strlen(missing), &o, &d, &err), &err,
               BPEKIT_ERR_BAD_FORMAT, "in.jsonl:3: key \"text\" missing");
    EXPECT_ERR(bpekit_docs_split(U8("{\"text\": 1"), 10, &o, &d, &err), &err, BPEKIT_ERR_BAD_FORMAT,
               "in.jsonl:1: not JSON");
    EXPECT_ERR(bpekit_docs_split(U8("{\"text\": [\"x\"]}"), 15, &o, &d, &err), &err,
               BPEKIT_ERR_BAD_FORMAT, "key \"text\" is an array, not a string");

    o = options(BPEKIT_LAYOUT_LINES);
    o.base_offset = 4096;
    o.base_line = 10;
    const char *bad = "fine\nbad\xfe\n";
    EXPECT_ERR(bpekit_docs_split(U8(bad), strlen(bad), &o, &d, &err), &err, BPEKIT_ERR_INVALID_UTF8,
               "file.txt: invalid UTF-8 at byte offset 4104 (line 11)");
    CHECK(docs_untouched(&d));
}

static void test_from_arrow(void)
{
    bpekit_error *err = SENTINEL;
    bpekit_docs d = sentinel_docs;
    bpekit_split_options o = options(BPEKIT_LAYOUT_JSONL); /* the layout is ignored */

    /* Elements 2..5 of an array: "skip" "me" | "alpha" null "" "\xce\xb2eta" */
    const char *data = "skipmealpha\xce\xb2" "eta";
    const int32_t offs32[] = {0, 4, 6, 11, 11, 11, 16};
    const int64_t offs64[] = {0, 4, 6, 11, 11, 11, 16};
    const uint8_t validity[] = {0x37}; /* bits 0,1,2,4,5: element 3 is null */
    for (int wide = 0; wide < 2; wide++) {
        const void *offs = wide ? (const void *)offs64 : (const void *)offs32;
        d = sentinel_docs;
        EXPECT_OK(bpekit_docs_from_arrow(U8(data), strlen(data), offs, wide ? 8 : 4, 2, 4, validity, &o,
                                         &d, &err),
                  &err);
        CHECK(d.n == 3 && d.data == NULL && d.skipped == 1 && d.consumed == 4 && d.chars == 9);
        CHECK(doc_is(&d, data, 0, "alpha") && doc_is(&d, data, 1, "") &&
              doc_is(&d, data, 2, "\xce\xb2" "eta"));
        bpekit_docs_free(&d);
    }
    EXPECT_OK(bpekit_docs_from_arrow(NULL, 0, offs32, 4, 0, 0, NULL, &o, &d, &err), &err);
    CHECK(d.n == 0 && d.spans == NULL);
    bpekit_docs_free(&d);

    d = sentinel_docs;
    EXPECT_ERR(bpekit_docs_from_arrow(U8(data), strlen(data), offs32, 3, 0, 1, NULL, &o, &d, &err), &err,
               BPEKIT_ERR_INVALID_ARG, "offset_width 3");
    EXPECT_ERR(bpekit_docs_from_arrow(U8(data), strlen(data), NULL, 4, 0, 1, NULL, &o, &d, &err), &err,
               BPEKIT_ERR_NULL_ARG, "offsets");
    const int32_t down[] = {0, 5, 3};
    EXPECT_ERR(bpekit_docs_from_arrow(U8(data), strlen(data), down, 4, 0, 2, NULL, &o, &d, &err), &err,
               BPEKIT_ERR_INVALID_ARG, "element 1: offsets 5..3 decrease");
    const int64_t past[] = {0, 5, 1000};
    EXPECT_ERR(bpekit_docs_from_arrow(U8(data), strlen(data), past, 8, 0, 2, NULL, &o, &d, &err), &err,
               BPEKIT_ERR_INVALID_ARG, "element 1: offset 1000 is outside");
    EXPECT_ERR(bpekit_docs_from_arrow(U8(data), strlen(data), U8(offs64) + 4, 8, 0, 1, NULL, &o, &d,
                                      &err),
               &err, BPEKIT_ERR_INVALID_ARG, "aligned");
    const int32_t split_char[] = {0, 12};
    EXPECT_ERR(bpekit_docs_from_arrow(U8(data), strlen(data), split_char, 4, 0, 1, NULL, &o, &d, &err),
               &err, BPEKIT_ERR_INVALID_UTF8, "file.txt: element 0");
    CHECK(docs_untouched(&d));
}

/* A buffer of `n` generated documents, one per line, and their spans. */
enum { N_DOCS = 200 };
static char doc_buf[N_DOCS * 60];
static bpekit_slice doc_texts[N_DOCS];
static bpekit_span doc_spans[N_DOCS];

static void make_docs(void)
{
    make_corpus(doc_buf, sizeof doc_buf, doc_texts, N_DOCS, 6, 15);
    for (size_t i = 0; i < N_DOCS; i++) {
        doc_spans[i].start = (uint64_t)(doc_texts[i].data - U8(doc_buf));
        doc_spans[i].end = doc_spans[i].start + doc_texts[i].len;
    }
}

static void test_trainer_feed_docs(void)
{
    bpekit_error *err = SENTINEL;
    bpekit_trainer *a = NULL, *b = NULL;
    bpekit_tokenizer *ta = NULL, *tb = NULL;
    make_docs();
    size_t len = (size_t)doc_spans[N_DOCS - 1].end;
    EXPECT_OK(bpekit_trainer_new(NULL, 0, &a, &err), &err);
    EXPECT_OK(bpekit_trainer_new(NULL, 0, &b, &err), &err);
    if (a == NULL || b == NULL)
        goto done;

    /* A bad span fails the whole call: nothing is counted. */
    bpekit_span bad[] = {{0, 3}, {5, 2}};
    EXPECT_ERR(bpekit_trainer_feed_docs(a, U8(doc_buf), len, bad, 2, &err), &err, BPEKIT_ERR_INVALID_ARG,
               "spans[1]");
    bad[1] = (bpekit_span){0, len + 1};
    EXPECT_ERR(bpekit_trainer_feed_docs(a, U8(doc_buf), len, bad, 2, &err), &err, BPEKIT_ERR_INVALID_ARG,
               "spans[1]");
    const char *nonutf8 = "ab\xff";
    bpekit_span whole = {0, 3};
    EXPECT_ERR(bpekit_trainer_feed_docs(a, U8(nonutf8), 3, &whole, 1, &err), &err, BPEKIT_ERR_INVALID_UTF8,
               "spans[0]");
    EXPECT_ERR(bpekit_trainer_feed_docs(a, NULL, 0, NULL, 1, &err), &err, BPEKIT_ERR_NULL_ARG, NULL);
    CHECK(bpekit_trainer_texts(a) == 0);
    EXPECT_OK(bpekit_trainer_feed_docs(a, NULL, 0, NULL, 0, &err), &err);

    /* The same documents as spans and as slices give the same merges. */
    EXPECT_OK(bpekit_trainer_feed_docs(a, U8(doc_buf), len, doc_spans, N_DOCS, &err), &err);
    EXPECT_OK(bpekit_trainer_feed_batch(b, doc_texts, N_DOCS, &err), &err);
    CHECK(bpekit_trainer_texts(a) == N_DOCS && bpekit_trainer_texts(b) == N_DOCS);
    EXPECT_OK(bpekit_trainer_finish(a, 400, &ta, &err), &err);
    EXPECT_OK(bpekit_trainer_finish(b, 400, &tb, &err), &err);
    if (ta != NULL && tb != NULL) {
        CHECK(bpekit_tokenizer_vocab_size(ta) > 256);
        bpekit_bytes ra = export_ranks(ta), rb = export_ranks(tb);
        CHECK(ra.len > 0 && same_bytes(&ra, &rb));
        bpekit_bytes_free(&ra);
        bpekit_bytes_free(&rb);
    }
done:
    bpekit_tokenizer_free(ta);
    bpekit_tokenizer_free(tb);
    bpekit_trainer_free(a);
    bpekit_trainer_free(b);
}

static void test_tokenizer_count_docs(void)
{
    bpekit_error *err = SENTINEL;
    bpekit_tokenizer *tok = special_tokenizer();
    if (tok == NULL)
        return;
    /* Special-token text counts as ordinary text. */
    const char *text = "the <|endoftext|> the\nhello the world\n\n\xc3\xbc" "ber <|pad|>\n";
    bpekit_docs d = {0};
    bpekit_split_options o = options(BPEKIT_LAYOUT_LINES);
    EXPECT_OK(bpekit_docs_split(U8(text), strlen(text), &o, &d, &err), &err);
    CHECK(d.n == 4 && d.data == NULL);
    static const size_t threads[] = {1, 2};
    for (size_t t = 0; t < thread_counts(2); t++) {
        uint64_t counts[4] = {99, 99, 99, 99};
        EXPECT_OK(bpekit_tokenizer_count_docs(tok, U8(text), strlen(text), d.spans, d.n, threads[t], counts,
                                              &err),
                  &err);
        for (size_t i = 0; i < d.n && i < 4; i++) {
            bpekit_tokens ids = {0};
            const uint8_t *p = U8(text) + d.spans[i].start;
            EXPECT_OK(bpekit_tokenizer_encode_ordinary(tok, p, (size_t)(d.spans[i].end - d.spans[i].start),
                                                       &ids, &err),
                      &err);
            CHECK_MSG(counts[i] == ids.len, "doc %zu: %llu tokens, encode_ordinary gives %zu", i,
                      (unsigned long long)counts[i], ids.len);
            bpekit_tokens_free(&ids);
        }
    }
    /* Many documents, split across threads. */
    make_docs();
    size_t len = (size_t)doc_spans[N_DOCS - 1].end;
    static uint64_t counts[N_DOCS];
    for (size_t t = 0; t < thread_counts(2); t++) {
        memset(counts, 0, sizeof counts);
        EXPECT_OK(bpekit_tokenizer_count_docs(tok, U8(doc_buf), len, doc_spans, N_DOCS, threads[t], counts,
                                              &err),
                  &err);
        size_t bad = 0;
        for (size_t i = 0; i < N_DOCS; i++) {
            bpekit_tokens ids = {0};
            if (bpekit_tokenizer_encode_ordinary(tok, doc_texts[i].data, doc_texts[i].len, &ids, NULL) !=
                    BPEKIT_OK ||
                ids.len != counts[i])
                bad++;
            bpekit_tokens_free(&ids);
        }
        CHECK_MSG(bad == 0, "%zu of %d counts differ (threads %zu)", bad, N_DOCS, threads[t]);
    }

    uint64_t one[2] = {42, 42};
    bpekit_span bad[] = {{0, 3}, {2, 1}};
    EXPECT_ERR(bpekit_tokenizer_count_docs(tok, U8(text), strlen(text), bad, 2, 1, one, &err), &err,
               BPEKIT_ERR_INVALID_ARG, "spans[1]");
    CHECK(one[0] == 42 && one[1] == 42);
    EXPECT_ERR(bpekit_tokenizer_count_docs(tok, U8(text), strlen(text), d.spans, 1, 1, NULL, &err), &err,
               BPEKIT_ERR_NULL_ARG, "counts");
    EXPECT_ERR(bpekit_tokenizer_count_docs(NULL, U8(text), strlen(text), d.spans, 1, 1, one, &err), &err,
               BPEKIT_ERR_NULL_ARG, "tok");
    EXPECT_OK(bpekit_tokenizer_count_docs(tok, NULL, 0, NULL, 0, 0, NULL, &err), &err);
    bpekit_docs_free(&d);
    bpekit_tokenizer_free(tok);
}

const struct test corpus_tests[] = {
    TEST(test_split_layouts),
    TEST(test_split_caps_and_policies),
    TEST(test_split_errors),
    TEST(test_from_arrow),
    TEST(test_trainer_feed_docs),
    TEST(test_tokenizer_count_docs),
    {NULL, NULL},
};
