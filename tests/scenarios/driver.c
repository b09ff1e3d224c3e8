/* The C host's scenario driver: runs cases.txt (argument 1) through bpekit.h and prints
 * one canonical JSON line per operation (README.md here). */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpekit.h"

/* ---- a growable output string ---- */

typedef struct {
    char *s;
    size_t len, cap;
} str;

static void put(str *o, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(o->s ? o->s + o->len : NULL, o->s ? o->cap - o->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) abort();
        if (o->s && o->len + (size_t)n < o->cap) {
            o->len += (size_t)n;
            return;
        }
        o->cap = (o->cap + (size_t)n + 64) * 2;
        o->s = realloc(o->s, o->cap);
        if (!o->s) abort();
        if (o->len == 0) o->s[0] = 0;
    }
}

static void put_hex(str *o, const uint8_t *data, size_t n)
{
    put(o, "\"");
    for (size_t i = 0; i < n; i++) put(o, "%02x", data[i]);
    put(o, "\"");
}

static const char *fnv(const uint8_t *data, size_t n)
{
    static char out[17];
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ data[i]) * 0x100000001b3ULL;
    snprintf(out, sizeof out, "%016llx", (unsigned long long)h);
    return out;
}

/* ---- parsing ---- */

/* Decodes hex `arg` ("-": empty) into a new buffer; its length in *n. */
static uint8_t *unhex(const char *arg, size_t len, size_t *n)
{
    uint8_t *out = malloc(len / 2 + 1);
    if (!out) abort();
    *n = 0;
    if (len == 1 && arg[0] == '-') return out;
    for (size_t i = 0; i + 1 < len; i += 2) {
        unsigned v;
        if (sscanf(arg + i, "%2x", &v) != 1) abort();
        out[(*n)++] = (uint8_t)v;
    }
    return out;
}

/* A comma-separated list of hex texts as slices (each buffer owned by the list). */
typedef struct {
    bpekit_slice *items;
    size_t n;
} texts;

static texts parse_texts(const char *arg)
{
    texts t = {NULL, 0};
    for (const char *p = arg;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        t.items = realloc(t.items, (t.n + 1) * sizeof *t.items);
        if (!t.items) abort();
        size_t n;
        uint8_t *data = unhex(p, len, &n);
        t.items[t.n++] = (bpekit_slice){data, n};
        if (!end) return t;
        p = end + 1;
    }
}

static void free_texts(texts *t)
{
    for (size_t i = 0; i < t->n; i++) free((void *)t->items[i].data);
    free(t->items);
}

static uint32_t *parse_ids(const char *arg, size_t *n)
{
    uint32_t *out = NULL;
    *n = 0;
    for (const char *p = arg; *p;) {
        out = realloc(out, (*n + 1) * sizeof *out);
        if (!out) abort();
        char *end;
        out[(*n)++] = (uint32_t)strtoul(p, &end, 10);
        p = *end == ',' ? end + 1 : end;
    }
    return out;
}

/* ---- the case's state ---- */

typedef struct {
    uint8_t *pattern;
    size_t pattern_len;
    texts specials;
    int has_specials;
    bpekit_trainer *trainer;
    bpekit_tokenizer *tok;
} scenario;

static void reset(scenario *s)
{
    free(s->pattern);
    if (s->has_specials) free_texts(&s->specials);
    bpekit_trainer_free(s->trainer);
    bpekit_tokenizer_free(s->tok);
    memset(s, 0, sizeof *s);
}

static bpekit_special_policy policy_of(const char *name)
{
    bpekit_special_policy p = {0};
    if (strcmp(name, "all") == 0) p.flags = BPEKIT_SPECIAL_ALLOW_ALL | BPEKIT_SPECIAL_DISALLOW_ALL;
    else if (strcmp(name, "default") == 0) p.flags = BPEKIT_SPECIAL_DISALLOW_ALL;
    return p; /* "none": nothing allowed, nothing disallowed */
}

static bpekit_status file_fnv(const bpekit_tokenizer *tok, str *o, const char *key)
{
    bpekit_bytes b = {0};
    bpekit_status st = bpekit_tokenizer_to_bytes(tok, &b, NULL);
    if (st == BPEKIT_OK) put(o, "\"%s\":\"%s\"", key, fnv(b.data, b.len));
    bpekit_bytes_free(&b);
    return st;
}

static void put_ids(str *o, const uint32_t *ids, size_t n)
{
    put(o, "[");
    for (size_t i = 0; i < n; i++) put(o, i ? ",%u" : "%u", ids[i]);
    put(o, "]");
}

/* Decoded text with U+FFFD replacement (the stream decoder's replace mode). */
static bpekit_status decode_text(const bpekit_tokenizer *tok, const uint32_t *ids, size_t n, str *o)
{
    bpekit_stream_decoder *d = NULL;
    bpekit_bytes a = {0}, b = {0};
    bpekit_status st = bpekit_stream_decoder_new(BPEKIT_UTF8_REPLACE, &d, NULL);
    if (st == BPEKIT_OK) st = bpekit_stream_decoder_add(d, tok, ids, n, &a, NULL);
    if (st == BPEKIT_OK) st = bpekit_stream_decoder_flush(d, &b, NULL);
    if (st == BPEKIT_OK) {
        put(o, "\"");
        for (size_t i = 0; i < a.len; i++) put(o, "%02x", a.data[i]);
        for (size_t i = 0; i < b.len; i++) put(o, "%02x", b.data[i]);
        put(o, "\"");
    }
    bpekit_bytes_free(&a);
    bpekit_bytes_free(&b);
    bpekit_stream_decoder_free(d);
    return st;
}

/* Runs one op; on success its result is in `o`. */
static bpekit_status run(scenario *s, const char *op, const char *arg, str *o)
{
    bpekit_status st = BPEKIT_OK;
    if (strcmp(op, "trainer") == 0) {
        free(s->pattern);
        s->pattern = NULL;
        if (strncmp(arg, "hex:", 4) == 0) {
            s->pattern = unhex(arg + 4, strlen(arg + 4), &s->pattern_len);
        } else {
            const uint8_t *p = NULL;
            size_t n = 0;
            st = bpekit_pattern_named((const uint8_t *)arg, strlen(arg), &p, &n, NULL);
            if (st != BPEKIT_OK) return st;
            s->pattern = malloc(n + 1);
            memcpy(s->pattern, p, n);
            s->pattern_len = n;
        }
        if (s->has_specials) free_texts(&s->specials);
        s->has_specials = 0;
        bpekit_trainer_free(s->trainer);
        s->trainer = NULL;
        st = bpekit_trainer_new(s->pattern, s->pattern_len, &s->trainer, NULL);
        if (st == BPEKIT_OK) put(o, "true");
    } else if (strcmp(op, "specials") == 0) {
        texts t = parse_texts(arg);
        st = bpekit_trainer_set_special_tokens(s->trainer, t.items, t.n, NULL);
        if (st == BPEKIT_OK) {
            if (s->has_specials) free_texts(&s->specials);
            s->specials = t;
            s->has_specials = 1;
            put(o, "true");
        } else {
            free_texts(&t);
        }
    } else if (strcmp(op, "feed") == 0) {
        size_t n;
        uint8_t *data = unhex(arg, strlen(arg), &n);
        st = bpekit_trainer_feed(s->trainer, data, n, NULL);
        free(data);
        if (st == BPEKIT_OK) put(o, "true");
    } else if (strcmp(op, "feed_batch") == 0) {
        texts t = parse_texts(arg);
        st = bpekit_trainer_feed_batch(s->trainer, t.items, t.n, NULL);
        free_texts(&t);
        if (st == BPEKIT_OK) put(o, "true");
    } else if (strcmp(op, "finish") == 0) {
        bpekit_tokenizer *tok = NULL;
        st = bpekit_trainer_finish(s->trainer, (uint32_t)strtoul(arg, NULL, 10), &tok, NULL);
        if (st != BPEKIT_OK) return st;
        bpekit_tokenizer_free(s->tok);
        s->tok = tok;
        put(o, "{\"vocab_size\":%zu,", bpekit_tokenizer_vocab_size(tok));
        file_fnv(tok, o, "file");
        put(o, ",\"specials\":[");
        /* Listed in id order; texts of one id in byte order of their hex. */
        size_t n = bpekit_tokenizer_special_count(tok);
        for (size_t i = 0; i < n; i++) {
            const uint8_t *text = NULL;
            size_t len = 0;
            uint32_t id = 0;
            bpekit_tokenizer_special_token(tok, i, &text, &len, &id, NULL);
            put(o, i ? ",[" : "[");
            put_hex(o, text, len);
            put(o, ",%u]", id);
        }
        put(o, "]}");
    } else if (strcmp(op, "encode") == 0 || strcmp(op, "count") == 0 || strcmp(op, "batch") == 0) {
        const char *space = strchr(arg, ' ');
        char name[16] = {0};
        memcpy(name, arg, (size_t)(space - arg) < sizeof name - 1 ? (size_t)(space - arg) : sizeof name - 1);
        bpekit_special_policy p = policy_of(name);
        if (strcmp(op, "batch") == 0) {
            texts t = parse_texts(space + 1);
            bpekit_tokens ids = {0};
            bpekit_offsets offsets = {0};
            st = bpekit_tokenizer_encode_batch(s->tok, t.items, t.n, &p, 2, &ids, &offsets, NULL);
            free_texts(&t);
            if (st == BPEKIT_OK) {
                put(o, "[");
                for (size_t i = 0; i + 1 < offsets.len; i++) {
                    if (i) put(o, ",");
                    put_ids(o, ids.ids + offsets.data[i], offsets.data[i + 1] - offsets.data[i]);
                }
                put(o, "]");
            }
            bpekit_tokens_free(&ids);
            bpekit_offsets_free(&offsets);
            return st;
        }
        size_t n;
        uint8_t *data = unhex(space + 1, strlen(space + 1), &n);
        if (strcmp(op, "encode") == 0) {
            bpekit_tokens ids = {0};
            st = bpekit_tokenizer_encode(s->tok, data, n, &p, &ids, NULL);
            if (st == BPEKIT_OK) put_ids(o, ids.ids, ids.len);
            bpekit_tokens_free(&ids);
        } else {
            size_t count = 0;
            st = bpekit_tokenizer_count(s->tok, data, n, &p, &count, NULL);
            if (st == BPEKIT_OK) put(o, "%zu", count);
        }
        free(data);
    } else if (strcmp(op, "decode") == 0) {
        size_t n;
        uint32_t *ids = parse_ids(arg, &n);
        bpekit_bytes raw = {0};
        st = bpekit_tokenizer_decode(s->tok, ids, n, &raw, NULL);
        if (st == BPEKIT_OK) {
            put(o, "{\"bytes\":");
            put_hex(o, raw.data, raw.len);
            put(o, ",\"text\":");
            st = decode_text(s->tok, ids, n, o);
            put(o, "}");
        }
        bpekit_bytes_free(&raw);
        free(ids);
    } else if (strcmp(op, "stream") == 0) {
        size_t n;
        uint32_t *ids = parse_ids(arg, &n);
        bpekit_stream_decoder *d = NULL;
        st = bpekit_stream_decoder_new(BPEKIT_UTF8_REPLACE, &d, NULL);
        put(o, "[");
        for (size_t i = 0; st == BPEKIT_OK && i <= n; i++) {
            bpekit_bytes b = {0};
            st = i < n ? bpekit_stream_decoder_add(d, s->tok, &ids[i], 1, &b, NULL)
                       : bpekit_stream_decoder_flush(d, &b, NULL);
            if (i) put(o, ",");
            put_hex(o, b.data, b.len);
            bpekit_bytes_free(&b);
        }
        put(o, "]");
        bpekit_stream_decoder_free(d);
        free(ids);
    } else if (strcmp(op, "normalize") == 0) {
        bpekit_tokenizer *tok = NULL;
        st = bpekit_tokenizer_with_normalization(
            s->tok, strcmp(arg, "nfc") == 0 ? BPEKIT_NORMALIZE_NFC : BPEKIT_NORMALIZE_NONE, &tok, NULL);
        if (st != BPEKIT_OK) return st;
        bpekit_tokenizer_free(s->tok);
        s->tok = tok;
        put(o, "{");
        file_fnv(tok, o, "file");
        put(o, "}");
    } else if (strcmp(op, "reload") == 0 || strcmp(op, "corrupt") == 0) {
        bpekit_bytes b = {0};
        st = bpekit_tokenizer_to_bytes(s->tok, &b, NULL);
        if (st != BPEKIT_OK) return st;
        if (strcmp(op, "corrupt") == 0) b.data[strtoul(arg, NULL, 10)] ^= 1;
        bpekit_tokenizer *tok = NULL;
        st = bpekit_tokenizer_from_bytes(b.data, b.len, &tok, NULL);
        bpekit_bytes_free(&b);
        if (st != BPEKIT_OK) return st;
        put(o, "{");
        file_fnv(tok, o, "file");
        put(o, "}");
        if (strcmp(op, "reload") == 0) {
            bpekit_tokenizer_free(s->tok);
            s->tok = tok;
        } else {
            bpekit_tokenizer_free(tok);
        }
    } else if (strcmp(op, "recount") == 0) {
        bpekit_bytes table = {0};
        bpekit_trainer *again = NULL;
        bpekit_tokenizer *tok = NULL;
        st = bpekit_trainer_export_counts(s->trainer, &table, NULL);
        if (st == BPEKIT_OK) st = bpekit_trainer_new(s->pattern, s->pattern_len, &again, NULL);
        if (st == BPEKIT_OK && s->has_specials)
            st = bpekit_trainer_set_special_tokens(again, s->specials.items, s->specials.n, NULL);
        if (st == BPEKIT_OK) st = bpekit_trainer_add_counts(again, table.data, table.len, NULL);
        if (st == BPEKIT_OK) st = bpekit_trainer_finish(again, (uint32_t)strtoul(arg, NULL, 10), &tok, NULL);
        if (st == BPEKIT_OK) {
            put(o, "{\"table\":\"%s\",", fnv(table.data, table.len));
            file_fnv(tok, o, "file");
            put(o, "}");
        }
        bpekit_tokenizer_free(tok);
        bpekit_trainer_free(again);
        bpekit_bytes_free(&table);
    } else {
        fprintf(stderr, "unknown op %s\n", op);
        exit(2);
    }
    return st;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: driver CASES\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "r");
    if (!f) {
        perror(argv[1]);
        return 2;
    }
    scenario s = {0};
    char *line = NULL, name[256] = {0};
    size_t cap = 0;
    int n = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) >= 0) {
        if (len > 0 && line[len - 1] == '\n') line[--len] = 0;
        if (len == 0 || line[0] == '#') continue;
        char *space = strchr(line, ' ');
        const char *arg = "";
        if (space) {
            *space = 0;
            arg = space + 1;
        }
        if (strcmp(line, "case") == 0) {
            reset(&s);
            snprintf(name, sizeof name, "%s", arg);
            n = 0;
            continue;
        }
        str o = {0};
        put(&o, "");
        bpekit_status st = run(&s, line, arg, &o);
        if (st == BPEKIT_OK) printf("{\"case\":\"%s\",\"op\":%d,\"ok\":%s}\n", name, n, o.s);
        else printf("{\"case\":\"%s\",\"op\":%d,\"error\":\"%s\"}\n", name, n, bpekit_status_name(st));
        free(o.s);
        n++;
    }
    reset(&s);
    free(line);
    fclose(f);
    return 0;
}
