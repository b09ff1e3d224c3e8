// Token shards: shard_writer writes documents in each format, one shard or numbered
// shards, and read_shard / read_shard_info / shard_documents read them back to the ids
// encode_ordinary gives (with BOS/EOS); the bytes do not depend on threads or batches; a
// writer destroyed without finish() leaves no file under any name; bad arguments and
// damaged files are typed errors that create nothing. push_ids writes from ids what push
// writes from texts, and shard_plan predicts the writer's shards from lengths alone.

#include "common.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

namespace {

using namespace bpekit_test;
using bpekit::doc_span;
using bpekit::shard_options;
using bpekit::shard_record;
using bpekit::shard_writer;
namespace fs = std::filesystem;

// ==== Fixtures ====

// Documents in one buffer, as a corpus reader hands them over.
struct Batch {
    std::string data;
    std::vector<doc_span> spans;
    std::vector<std::string> texts;
};

Batch MakeBatch(const std::vector<std::string> &texts) {
    Batch b;
    for (const auto &t : texts) {
        b.data += "|";  // bytes between documents belong to none
        b.spans.push_back(doc_span{b.data.size(), b.data.size() + t.size()});
        b.data += t;
        b.texts.push_back(t);
    }
    return b;
}

// The built-in corpus, the sample texts (an empty one, NULs, special-token text) and
// a few longer documents.
const Batch &Documents() {
    static const Batch batch = [] {
        std::vector<std::string> texts = SampleTexts();
        texts.push_back("ordinary text with " + kEot + " and " + kPad + " in it");
        for (const auto &t : Corpus()) texts.push_back(t);
        std::string longer;
        for (const auto &t : Corpus()) longer += t + "\n";
        texts.push_back(longer.substr(0, 4000));
        return MakeBatch(texts);
    }();
    return batch;
}

// What a shard holds for each document: bos + encode_ordinary(text) + eos.
std::vector<Ids> Expected(const tokenizer &tok, const std::vector<std::string> &texts, std::optional<uint32_t> bos,
                          std::optional<uint32_t> eos) {
    std::vector<Ids> out;
    for (const auto &t : texts) {
        Ids ids;
        if (bos) ids.push_back(*bos);
        const Ids body = tok.encode_ordinary(t);
        ids.insert(ids.end(), body.begin(), body.end());
        if (eos) ids.push_back(*eos);
        out.push_back(std::move(ids));
    }
    return out;
}

Ids Flatten(const std::vector<Ids> &docs) {
    Ids out;
    for (const auto &d : docs) out.insert(out.end(), d.begin(), d.end());
    return out;
}

// The names of the entries of `dir`, sorted.
std::vector<std::string> Entries(const fs::path &dir) {
    std::vector<std::string> out;
    for (const auto &e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
}

std::vector<std::string> Names(const std::vector<shard_record> &records) {
    std::vector<std::string> out;
    for (const auto &r : records) {
        for (const auto &p : r.paths) out.push_back(p.filename().string());
    }
    std::sort(out.begin(), out.end());
    return out;
}

uint32_t Id(const tokenizer &tok, const std::string &special) { return tok.token_id(special); }

shard_options Options(std::string format, const fs::path &prefix) {
    shard_options o;
    o.format = std::move(format);
    o.prefix = prefix;
    return o;
}

// Writes `b` in batches of `batch` documents on `threads` threads, then finishes.
std::vector<shard_record> Write(const tokenizer &tok, const shard_options &opts, const Batch &b, size_t batch,
                                size_t threads) {
    shard_writer w = shard_writer::create(tok, opts);
    for (size_t i = 0; i < b.spans.size(); i += batch) {
        const size_t n = std::min(batch, b.spans.size() - i);
        w.push(tok, b.data, bpekit::doc_spans(b.spans.data() + i, n), threads);
    }
    w.finish();
    return w.records();
}

// A tokenizer whose vocab (66001) does not fit 16 bits: the hand ranks and 16400 special
// tokens, the last at id 66000 (bpekit refuses an id far beyond the number of tokens).
tokenizer LargeVocab() {
    std::vector<std::pair<std::string, uint32_t>> specials;
    for (uint32_t i = 0; i < 16400; ++i) {
        specials.emplace_back("<|s" + std::to_string(i) + "|>", i + 1 == 16400 ? 66000u : 258 + i);
    }
    return tokenizer::from_tiktoken(HandRanks(), std::nullopt, specials);
}

// ==== One shard per format ====

struct FormatCase {
    const char *format;
    std::vector<std::string> files;  // suffixes, in the record's order
    bool records_documents;
    std::optional<std::string> bos, eos;  // special tokens
};

TEST(Shards, EachFormatRoundTrips) {
    const tokenizer &tok = Shared();
    const Batch &b = Documents();
    const FormatCase cases[] = {
        {"llmc", {".bin"}, false, kEot, std::nullopt},
        {"megatron", {".bin", ".idx"}, true, std::nullopt, std::nullopt},
        {"nanogpt", {".bin"}, false, std::nullopt, kEot},
        {"npy", {".npy", ".docs.npy"}, true, kPad, kEot},
    };
    for (const auto &c : cases) {
        SCOPED_TRACE(c.format);
        const TempDir dir;
        shard_options opts = Options(c.format, dir.path() / "out");
        if (c.bos) opts.bos = Id(tok, *c.bos);
        if (c.eos) opts.eos = Id(tok, *c.eos);
        const std::vector<Ids> want = Expected(tok, b.texts, opts.bos, opts.eos);
        const Ids all = Flatten(want);

        // Two pushes, the second on two threads.
        shard_writer w = shard_writer::create(tok, opts);
        EXPECT_TRUE(w);
        const size_t half = b.spans.size() / 2;
        w.push(tok, b.data, bpekit::doc_spans(b.spans.data(), half));
        w.push(tok, b.data, bpekit::doc_spans(b.spans.data() + half, b.spans.size() - half), 2);
        EXPECT_EQ(w.completed(), 0u);
        w.finish();
        ASSERT_EQ(w.completed(), 1u);
        const shard_record r = w.shard(0);
        EXPECT_EQ(r.index, 0u);
        EXPECT_EQ(r.tokens, all.size());
        EXPECT_EQ(r.documents, b.texts.size());
        ASSERT_EQ(r.paths.size(), c.files.size());
        for (size_t k = 0; k < c.files.size(); ++k) {
            EXPECT_EQ(r.paths[k], dir.path() / ("out" + c.files[k]));
            EXPECT_TRUE(fs::exists(r.paths[k])) << r.paths[k];
        }
        EXPECT_EQ(Entries(dir.path()), Names(w.records()));  // nothing else, no temporary file

        // Read back, the format detected from the first file, and named with the prefix.
        for (const auto &[path, format] : {std::pair(r.paths[0], std::string()), std::pair(opts.prefix, std::string(c.format))}) {
            const bpekit::shard_contents got = bpekit::read_shard(path, format);
            EXPECT_EQ(got.ids, all);
            if (c.records_documents) {
                ASSERT_EQ(got.documents(), want.size());
                for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(got.document(i), want[i]) << "document " << i;
            } else {
                EXPECT_TRUE(got.doc_offsets.empty());
                EXPECT_EQ(got.documents(), 0u);
            }
            EXPECT_EQ(bpekit::shard_documents(path, format), got.doc_offsets);

            const bpekit::shard_info info = bpekit::read_shard_info(path, format);
            EXPECT_EQ(info.format, c.format);
            EXPECT_EQ(info.dtype, "uint16");
            EXPECT_EQ(info.tokens, all.size());
            EXPECT_EQ(info.documents, c.records_documents ? std::optional<uint64_t>(want.size()) : std::nullopt);
            EXPECT_EQ(info.tokens_file, r.paths[0]);
            // The tokens start at data_offset: the first one is there, little-endian.
            const std::string bytes = ReadFile(info.tokens_file);
            ASSERT_GE(bytes.size(), info.data_offset + 2);
            EXPECT_EQ(bytes.size(), info.data_offset + 2 * all.size());
            EXPECT_EQ(uint8_t(bytes[info.data_offset]) | uint8_t(bytes[info.data_offset + 1]) << 8, all[0]);
        }
    }
}

TEST(Shards, DocsPushAndLargeVocab) {
    // A split's documents go straight to push; a vocab beyond 16 bits takes 32-bit tokens.
    const tokenizer tok = LargeVocab();
    const std::string text = "abc ab\n<|s5|> abcabc\n\nabab";
    const bpekit::docs d = bpekit::docs::split(text, bpekit::split_options::lines());
    std::vector<std::string> texts;
    for (const auto &t : d.texts()) texts.emplace_back(t);
    const std::vector<Ids> want = Expected(tok, texts, std::nullopt, 66000u);
    for (const auto &[format, dtype] : {std::pair("llmc", "uint32"), std::pair("megatron", "int32"), std::pair("npy", "uint32")}) {
        SCOPED_TRACE(format);
        const TempDir dir;
        shard_options opts = Options(format, dir.path() / "big");
        opts.eos = 66000;
        shard_writer w = shard_writer::create(tok, opts);
        w.push(tok, d);
        w.finish();
        const auto records = w.records();
        ASSERT_EQ(records.size(), 1u);
        const bpekit::shard_info info = bpekit::read_shard_info(records[0].paths[0]);
        EXPECT_EQ(info.dtype, dtype);
        EXPECT_EQ(bpekit::read_shard(records[0].paths[0]).ids, Flatten(want));
    }
    // nanoGPT's tokens are 16-bit: the error names the vocab size and the limit.
    const TempDir dir;
    const std::string msg =
        ExpectError(errc::invalid_arg, [&] { shard_writer::create(tok, Options("nanogpt", dir.path() / "x")); });
    EXPECT_NE(msg.find("66001"), std::string::npos) << msg;
    EXPECT_NE(msg.find("65536"), std::string::npos) << msg;
    EXPECT_TRUE(Entries(dir.path()).empty());
}

// ==== Numbered shards ====

TEST(Shards, NumberedShards) {
    const tokenizer &tok = Shared();
    const Batch &b = Documents();
    const TempDir dir;
    shard_options opts = Options("megatron", dir.path() / "run");
    opts.shard_tokens = 300;
    opts.eos = Id(tok, kEot);
    const std::vector<Ids> want = Expected(tok, b.texts, opts.bos, opts.eos);

    const std::vector<shard_record> records = Write(tok, opts, b, 7, 2);
    ASSERT_GT(records.size(), 2u);
    EXPECT_EQ(Entries(dir.path()), Names(records));
    size_t doc = 0;
    for (size_t s = 0; s < records.size(); ++s) {
        SCOPED_TRACE("shard " + std::to_string(s));
        const shard_record &r = records[s];
        char name[32];
        std::snprintf(name, sizeof name, "run_%06zu", s);
        EXPECT_EQ(r.index, s);
        EXPECT_EQ(r.paths.at(0), dir.path() / (std::string(name) + ".bin"));
        EXPECT_EQ(r.paths.at(1), dir.path() / (std::string(name) + ".idx"));
        // At most shard_tokens, unless one document alone is longer.
        EXPECT_TRUE(r.tokens <= opts.shard_tokens || r.documents == 1) << r.tokens << " tokens";
        const bpekit::shard_contents got = bpekit::read_shard(dir.path() / name);
        EXPECT_EQ(got.ids.size(), r.tokens);
        ASSERT_EQ(got.documents(), r.documents);
        for (size_t i = 0; i < got.documents() && doc < want.size(); ++i, ++doc) {
            EXPECT_EQ(got.document(i), want[doc]) << "document " << doc;
        }
    }
    EXPECT_EQ(doc, want.size());

    // Resuming: shards numbered from first_shard.
    const TempDir again;
    opts.prefix = again.path() / "run";
    opts.first_shard = 5;
    const auto resumed = Write(tok, opts, MakeBatch({"one", "two"}), 1, 1);
    ASSERT_EQ(resumed.size(), 1u);
    EXPECT_EQ(resumed[0].index, 5u);
    EXPECT_EQ(resumed[0].paths.at(0).filename(), "run_000005.bin");

    // A run with no document still writes one (empty) shard.
    const TempDir empty;
    opts.prefix = empty.path() / "run";
    opts.first_shard = 0;
    const auto none = Write(tok, opts, Batch(), 1, 1);
    ASSERT_EQ(none.size(), 1u);
    EXPECT_EQ(none[0].tokens, 0u);
    EXPECT_EQ(bpekit::read_shard_info(none[0].paths[0]).documents, std::optional<uint64_t>(0));
}

TEST(Shards, BytesDoNotDependOnThreadsOrBatches) {
    const tokenizer &tok = Shared();
    const Batch &b = Documents();
    for (const char *format : {"llmc", "npy"}) {
        SCOPED_TRACE(format);
        std::vector<std::vector<std::string>> contents;  // per run, the bytes of every file
        for (const auto &[batch, threads] : {std::pair<size_t, size_t>(1000, 1), {7, 2}, {1, 2}}) {
            const TempDir dir;
            shard_options opts = Options(format, dir.path() / "d");
            opts.shard_tokens = 500;
            opts.bos = Id(tok, kEot);
            std::vector<std::string> files;
            for (const auto &r : Write(tok, opts, b, batch, threads)) {
                for (const auto &p : r.paths) files.push_back(p.filename().string() + ":" + ReadFile(p));
            }
            contents.push_back(std::move(files));
        }
        EXPECT_GT(contents[0].size(), 1u);
        EXPECT_EQ(contents[1], contents[0]);
        EXPECT_EQ(contents[2], contents[0]);
    }
}

// ==== Never a partial file ====

TEST(Shards, WriterDestroyedWithoutFinishLeavesNoFile) {
    const tokenizer &tok = Shared();
    const Batch &b = Documents();
    {
        const TempDir dir;
        {
            shard_writer w = shard_writer::create(tok, Options("megatron", dir.path() / "one"));
            w.push(tok, b.data, b.spans);
            EXPECT_FALSE(Entries(dir.path()).empty());  // the temporary files
        }
        EXPECT_EQ(Entries(dir.path()), std::vector<std::string>());
    }
    {
        // Sharding: the completed shards stay, complete; the open one leaves nothing.
        const TempDir dir;
        shard_options opts = Options("llmc", dir.path() / "part");
        opts.shard_tokens = 300;
        std::vector<shard_record> done;
        {
            shard_writer w = shard_writer::create(tok, opts);
            w.push(tok, b.data, b.spans);
            done = w.records();
            ASSERT_GE(done.size(), 1u);
        }
        EXPECT_EQ(Entries(dir.path()), Names(done));
        for (const auto &r : done) EXPECT_EQ(bpekit::read_shard(r.paths[0]).ids.size(), r.tokens);
    }
    {
        // Assigning over a writer releases it the same way.
        const TempDir dir;
        shard_writer w = shard_writer::create(tok, Options("npy", dir.path() / "a"));
        w.push(tok, b.data, b.spans);
        w = shard_writer();
        EXPECT_FALSE(w);
        EXPECT_EQ(Entries(dir.path()), std::vector<std::string>());
    }
}

// ==== Errors ====

TEST(Shards, CreateErrorsCreateNothing) {
    const tokenizer &tok = Shared();
    const TempDir dir;
    const fs::path prefix = dir.path() / "out";
    ExpectError(errc::invalid_arg, [&] { shard_writer::create(tok, Options("parquet", prefix)); });
    ExpectError(errc::invalid_arg, [&] { shard_writer::create(tok, Options("", prefix)); });
    ExpectError(errc::invalid_arg, [&] { shard_writer::create(tok, Options("llmc", "")); });
    const std::string missing = ExpectError(errc::io, [&] {
        shard_writer::create(tok, Options("llmc", dir.path() / "no-such-dir" / "out"));
    });
    EXPECT_NE(missing.find("no-such-dir"), std::string::npos) << missing;
    shard_options bos = Options("llmc", prefix);
    bos.bos = static_cast<uint32_t>(tok.vocab_size());
    ExpectError(errc::invalid_arg, [&] { shard_writer::create(tok, bos); });
    shard_options first = Options("llmc", prefix);
    first.first_shard = 1;  // only when sharding
    ExpectError(errc::invalid_arg, [&] { shard_writer::create(tok, first); });
    ExpectError(errc::null_arg, [&] { shard_writer::create(tokenizer(), Options("llmc", prefix)); });
    EXPECT_EQ(Entries(dir.path()), std::vector<std::string>());
}

TEST(Shards, CallErrors) {
    const tokenizer &tok = Shared();
    const TempDir dir;
    shard_writer w = shard_writer::create(tok, Options("megatron", dir.path() / "out"));
    const std::string text = "hello world";
    // Bad spans and another tokenizer are refused before anything is written.
    const std::string msg = ExpectError(errc::invalid_arg, [&] {
        w.push(tok, text, std::vector<doc_span>{{0, 5}, {6, 12}});
    });
    EXPECT_NE(msg.find("spans[1]"), std::string::npos) << msg;
    ExpectError(errc::invalid_utf8, [&] { w.push(tok, std::string_view("a\xff"), std::vector<doc_span>{{0, 2}}); });
    const tokenizer other = TrainSmall(300);
    ExpectError(errc::invalid_arg, [&] { w.push(other, text, std::vector<doc_span>{{0, 5}}); });
    w.push(tok, text, std::vector<doc_span>{{0, 5}});
    w.finish();
    EXPECT_EQ(bpekit::read_shard(dir.path() / "out").ids, tok.encode_ordinary("hello"));
    // After finish only the records may be read.
    ExpectError(errc::invalid_arg, [&] { w.push(tok, text, std::vector<doc_span>{{0, 5}}); });
    ExpectError(errc::invalid_arg, [&] { w.finish(); });
    ExpectError(errc::invalid_arg, [&] { w.shard(1); });
    EXPECT_EQ(w.records().size(), 1u);

    // A moved-from writer is empty.
    shard_writer moved = std::move(w);
    EXPECT_FALSE(w);  // NOLINT(bugprone-use-after-move)
    EXPECT_EQ(w.completed(), 0u);
    ExpectError(errc::null_arg, [&] { w.push(tok, text, std::vector<doc_span>{{0, 5}}); });
    ExpectError(errc::null_arg, [&] { w.finish(); });
    EXPECT_EQ(moved.completed(), 1u);
}

// ==== Ids encoded elsewhere, and the plan ====

TEST(Shards, PushIdsWritesWhatPushWrites) {
    const tokenizer &tok = Shared();
    const Batch &b = Documents();
    // The documents' ids without BOS/EOS, one array, and their offsets.
    Ids ids;
    std::vector<uint64_t> offsets{0};
    for (const Ids &d : Expected(tok, b.texts, std::nullopt, std::nullopt)) {
        ids.insert(ids.end(), d.begin(), d.end());
        offsets.push_back(ids.size());
    }
    for (const char *format : {"llmc", "megatron", "nanogpt", "npy"}) {
        SCOPED_TRACE(format);
        const TempDir from_texts, from_ids;
        shard_options opts = Options(format, from_texts.path() / "d");
        opts.shard_tokens = 300;
        opts.first_shard = 2;
        opts.eos = Id(tok, kEot);
        const std::vector<shard_record> want = Write(tok, opts, b, 5, 2);
        ASSERT_GT(want.size(), 2u);

        opts.prefix = from_ids.path() / "d";
        shard_writer w = shard_writer::create(tok, opts);
        size_t at = 0;
        for (size_t step : {size_t(0), size_t(1), size_t(4), offsets.size()}) {
            const size_t end = std::min(at + step, offsets.size() - 1);
            w.push_ids(ids.data(), ids.size(), offsets.data() + at, end - at + 1);
            at = end;
        }
        w.push_ids(Ids(), std::vector<uint64_t>());
        w.finish();
        const std::vector<shard_record> got = w.records();
        ASSERT_EQ(got.size(), want.size());
        for (size_t s = 0; s < got.size(); ++s) {
            EXPECT_EQ(got[s].index, want[s].index);
            EXPECT_EQ(got[s].tokens, want[s].tokens);
            EXPECT_EQ(got[s].documents, want[s].documents);
            ASSERT_EQ(got[s].paths.size(), want[s].paths.size());
            for (size_t f = 0; f < got[s].paths.size(); ++f) {
                EXPECT_EQ(got[s].paths[f].filename(), want[s].paths[f].filename());
                EXPECT_TRUE(ReadFile(got[s].paths[f]) == ReadFile(want[s].paths[f])) << got[s].paths[f];
            }
        }
        EXPECT_EQ(Entries(from_ids.path()), Entries(from_texts.path()));
    }
}

TEST(Shards, PlanPredictsTheShards) {
    const tokenizer &tok = Shared();
    const Batch &b = Documents();
    const uint32_t eot = Id(tok, kEot);
    std::vector<uint64_t> lengths;
    for (const Ids &d : Expected(tok, b.texts, eot, eot)) lengths.push_back(d.size());
    for (uint64_t shard_tokens : {uint64_t(0), uint64_t(1), uint64_t(40), uint64_t(300)}) {
        SCOPED_TRACE("shard_tokens " + std::to_string(shard_tokens));
        const uint64_t first = shard_tokens ? 4 : 0;
        const TempDir dir;
        shard_options opts = Options("npy", dir.path() / "p");
        opts.shard_tokens = shard_tokens;
        opts.first_shard = first;
        opts.bos = opts.eos = eot;
        const std::vector<shard_record> records = Write(tok, opts, b, 6, 2);

        bpekit::shard_cursor cursor{first, 0, 0};
        const std::vector<uint64_t> plan = bpekit::shard_plan(shard_tokens, lengths, cursor);
        ASSERT_EQ(plan.size(), lengths.size());
        // Split in two, the cursor carried: the same numbers and the same cursor.
        bpekit::shard_cursor split{first, 0, 0};
        const size_t half = lengths.size() / 2;
        std::vector<uint64_t> joined = bpekit::shard_plan(shard_tokens, lengths.data(), half, split);
        const std::vector<uint64_t> rest =
            bpekit::shard_plan(shard_tokens, lengths.data() + half, lengths.size() - half, split);
        joined.insert(joined.end(), rest.begin(), rest.end());
        EXPECT_EQ(joined, plan);
        EXPECT_EQ(std::make_tuple(split.index, split.tokens, split.documents),
                  std::make_tuple(cursor.index, cursor.tokens, cursor.documents));

        // Group the plan by shard: the writer's records.
        size_t doc = 0;
        for (const shard_record &r : records) {
            uint64_t tokens = 0, documents = 0;
            for (; doc < plan.size() && plan[doc] == r.index; ++doc) tokens += lengths[doc], ++documents;
            EXPECT_EQ(r.tokens, tokens) << "shard " << r.index;
            EXPECT_EQ(r.documents, documents) << "shard " << r.index;
        }
        EXPECT_EQ(doc, plan.size());
        EXPECT_EQ(records.back().index, plan.back());
    }
}

TEST(Shards, PushIdsAndPlanErrors) {
    using Offsets = std::vector<uint64_t>;
    const tokenizer &tok = Shared();
    const TempDir dir;
    shard_writer w = shard_writer::create(tok, Options("npy", dir.path() / "e"));
    const Ids ids{1, 2, 3, static_cast<uint32_t>(tok.vocab_size()), 5};
    std::string msg = ExpectError(errc::invalid_arg, [&] { w.push_ids(ids, Offsets{0, 3, 2}); });
    EXPECT_NE(msg.find("offsets[2] = 2"), std::string::npos) << msg;
    msg = ExpectError(errc::invalid_arg, [&] { w.push_ids(ids, Offsets{0, 3, 6}); });
    EXPECT_NE(msg.find("past the end"), std::string::npos) << msg;
    msg = ExpectError(errc::invalid_arg, [&] { w.push_ids(ids, Offsets{0, 3, 5}); });
    EXPECT_NE(msg.find("document 1"), std::string::npos) << msg;
    w.push_ids(ids, Offsets{0, 3, 3});
    w.finish();
    const bpekit::shard_contents back = bpekit::read_shard(dir.path() / "e");
    EXPECT_EQ(back.ids, (Ids{1, 2, 3}));
    EXPECT_EQ(back.doc_offsets, (Offsets{0, 3, 3}));
    ExpectError(errc::invalid_arg, [&] { w.push_ids(ids, Offsets{0, 1}); });
    shard_writer empty;
    ExpectError(errc::null_arg, [&] { empty.push_ids(ids, Offsets{0, 1}); });

    // The last shard number: refused, the cursor unchanged.
    bpekit::shard_cursor top{UINT64_MAX, 1, 1};
    msg = ExpectError(errc::invalid_arg, [&] { bpekit::shard_plan(3, Offsets{1, 1, 1}, top); });
    EXPECT_NE(msg.find("64-bit"), std::string::npos) << msg;
    EXPECT_EQ(std::make_tuple(top.index, top.tokens, top.documents), std::make_tuple(UINT64_MAX, uint64_t(1), uint64_t(1)));
    bpekit::shard_cursor c{};
    EXPECT_TRUE(bpekit::shard_plan(5, Offsets(), c).empty());
    EXPECT_EQ(bpekit::shard_plan(0, Offsets{7, 0, 9}, c), (Offsets{0, 0, 0}));
}

TEST(Shards, ReadErrors) {
    const tokenizer &tok = Shared();
    const TempDir dir;
    const std::string missing =
        ExpectError(errc::io, [&] { bpekit::read_shard(dir.path() / "absent.bin"); });
    EXPECT_NE(missing.find("absent"), std::string::npos) << missing;
    ExpectError(errc::invalid_arg, [&] { bpekit::read_shard_info(""); });
    const auto records = Write(tok, Options("llmc", dir.path() / "s"), Documents(), 1000, 1);
    const fs::path bin = records.at(0).paths.at(0);
    ExpectError(errc::invalid_arg, [&] { bpekit::read_shard(bin, "parquet"); });

    // A truncated llm.c file is damaged, named with the format tried.
    const std::string bytes = ReadFile(bin);
    {
        std::ofstream out(bin, std::ios::binary | std::ios::trunc);
        out << bytes.substr(0, bytes.size() - 3);
    }
    for (const std::string_view format : {"", "llmc"}) {
        const std::string msg = ExpectError(errc::bad_format, [&] { bpekit::read_shard_info(bin, format); });
        EXPECT_NE(msg.find("s.bin"), std::string::npos) << msg;
        ExpectError(errc::bad_format, [&] { bpekit::read_shard(bin, format); });
    }
    // A shard with documents: npy's boundaries, read without the tokens.
    const auto npy = Write(tok, Options("npy", dir.path() / "n"), MakeBatch({"a", "bb", ""}), 10, 1);
    const std::vector<uint64_t> offsets = bpekit::shard_documents(npy.at(0).paths.at(1));
    ASSERT_EQ(offsets.size(), 4u);
    EXPECT_EQ(offsets.front(), 0u);
    EXPECT_EQ(offsets.back(), npy[0].tokens);
    ExpectError(errc::invalid_arg, [&] { bpekit::read_shard(npy[0].paths[0]).document(3); });
    bpekit::shard_contents made;
    made.ids = {1, 2};
    made.doc_offsets = {0, 3};
    ExpectError(errc::invalid_arg, [&] { made.document(0); });
}

}  // namespace
