// GoogleTest suite for the C++ wrapper bindings/cpp/include/bpekit.hpp.
//
// Covers every wrapper method, errors as bpekit::Error (code and message), move
// semantics, one Tokenizer shared by many threads, round trips, special tokens, and
// export/import of ranks and of count tables. The tokenizers are trained here on a small
// built-in corpus, or built from a hand-written rank table, so the suite needs no data
// files; the cl100k_base test runs only when $BPEKIT_DATA/cl100k_base.tiktoken exists.

#include "bpekit.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace {

using bpekit::Error;
using bpekit::SpecialPolicy;
using bpekit::Tokenizer;
using bpekit::Trainer;
using Ids = std::vector<uint32_t>;

// ==== Fixtures and helpers ====

const std::vector<std::string> &Corpus() {
    static const std::vector<std::string> corpus = [] {
        const char *paragraphs[] = {
            "The tokenizer reads text as bytes. It first cuts the text into pieces with a "
            "regular expression: words, numbers, runs of punctuation and runs of spaces.",
            "The most frequent pair becomes a new token, and every occurrence of that pair "
            "is merged into it. The counting and merging repeat until the vocabulary is full.",
            "Encoding applies the learned merges in the order they were learned. Decoding "
            "joins the bytes of the tokens: 1234 tokens, 5678 bytes, and so on.",
            "Unicode works too: caf\xc3\xa9, na\xc3\xafve, \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e, "
            "\xf0\x9f\x98\x80 and other characters of several bytes each.",
        };
        std::vector<std::string> out;
        for (int round = 0; round < 20; ++round) {
            for (const char *p : paragraphs) out.push_back(std::string(p) + " round " + std::to_string(round));
        }
        return out;
    }();
    return corpus;
}

constexpr uint32_t kVocab = 400;
const std::string kEot = "<|endoftext|>";
const std::string kPad = "<|pad|>";

Tokenizer TrainSmall(uint32_t vocab = kVocab) {
    Trainer t;
    for (const auto &text : Corpus()) t.feed(text);
    return t.finish(vocab);
}

// A tokenizer with two special tokens, trained once and shared by the read-only tests.
const Tokenizer &Shared() {
    static const Tokenizer tok = [] {
        Trainer t;
        t.feed_batch(Corpus());
        t.set_special_tokens({kEot, kPad});
        return t.finish(kVocab);
    }();
    return tok;
}

std::string Base64(std::string_view in) {
    static const char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        const uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
        out += {table[v >> 18], table[(v >> 12) & 63], table[(v >> 6) & 63], table[v & 63]};
    }
    if (i + 1 == in.size()) {
        const uint32_t v = uint8_t(in[i]) << 16;
        out += {table[v >> 18], table[(v >> 12) & 63], '=', '='};
    } else if (i + 2 == in.size()) {
        const uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
        out += {table[v >> 18], table[(v >> 12) & 63], table[(v >> 6) & 63], '='};
    }
    return out;
}

// Ranks by hand: the 256 bytes in order, then "ab" = 256 and "abc" = 257.
std::string HandRanks() {
    std::string ranks;
    for (int b = 0; b < 256; ++b) ranks += Base64(std::string(1, char(b))) + " " + std::to_string(b) + "\n";
    ranks += Base64("ab") + " 256\n";
    ranks += Base64("abc") + " 257\n";
    return ranks;
}

// Runs `f`, expects it to throw bpekit::Error with `code`, returns the message.
template <class F>
std::string ExpectError(bpekit_status code, F &&f) {
    try {
        f();
    } catch (const Error &e) {
        EXPECT_EQ(e.code(), code) << e.code_name() << ": " << e.what();
        EXPECT_STRNE(e.what(), "");
        return e.what();
    }
    ADD_FAILURE() << "expected bpekit::Error " << Error::CodeName(code);
    return {};
}

std::vector<std::string> SampleTexts() {
    return {
        "",
        "hello world",
        "The tokenizer learns merges from the training text, then encodes new text with them.",
        std::string("embedded\0NUL\0bytes", 18),
        "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xf0\x9f\x98\x80\xf0\x9f\x98\x80",
        "   leading and trailing spaces   \n\n\ttabs\r\n",
        "numbers 1234567890 and punctuation!?!... ((()))",
        "words never seen in training: xylophone quixotic zephyr",
    };
}

// ==== Versions ====

TEST(Version, AbiMatchesHeader) {
    EXPECT_NO_THROW(bpekit::CheckAbi());
    EXPECT_EQ(bpekit_abi_version(), static_cast<uint32_t>(BPEKIT_ABI_VERSION));
}

TEST(Version, StringMatchesHeaderMacros) {
    const std::string expected = std::to_string(BPEKIT_VERSION_MAJOR) + "." + std::to_string(BPEKIT_VERSION_MINOR) +
                                 "." + std::to_string(BPEKIT_VERSION_PATCH);
    EXPECT_EQ(std::string(bpekit::Version()), expected);
}

// ==== Errors ====

TEST(Errors, BadPatternThrowsWithCodeAndMessage) {
    const std::string msg = ExpectError(BPEKIT_ERR_BAD_PATTERN, [] { Trainer t("(unclosed"); });
    EXPECT_NE(msg.find("pattern"), std::string::npos) << msg;
}

TEST(Errors, ErrorIsARuntimeError) {
    try {
        Trainer t("(");
        FAIL() << "no exception";
    } catch (const std::runtime_error &e) {
        const auto *err = dynamic_cast<const Error *>(&e);
        ASSERT_NE(err, nullptr);
        EXPECT_EQ(err->code(), BPEKIT_ERR_BAD_PATTERN);
        EXPECT_STREQ(err->code_name(), "BPEKIT_ERR_BAD_PATTERN");
    }
}

TEST(Errors, CodeNames) {
    EXPECT_STREQ(Error::CodeName(BPEKIT_OK), "BPEKIT_OK");
    EXPECT_STREQ(Error::CodeName(BPEKIT_ERR_UNKNOWN_TOKEN), "BPEKIT_ERR_UNKNOWN_TOKEN");
    EXPECT_STREQ(Error::CodeName(BPEKIT_ERR_BAD_FORMAT), "BPEKIT_ERR_BAD_FORMAT");
    EXPECT_STREQ(Error::CodeName(BPEKIT_ERR_IO), "BPEKIT_ERR_IO");  // the library's table, every code
    EXPECT_STREQ(Error::CodeName(9999), "BPEKIT_ERR_UNKNOWN");
    const Error e(9999, "from the future");
    EXPECT_EQ(e.code(), 9999);
    EXPECT_STREQ(e.what(), "from the future");
}

TEST(Errors, EmptyPatternIsAnErrorNotTheDefault) {
    ExpectError(BPEKIT_ERR_BAD_PATTERN, [] { Trainer t{std::string_view()}; });
    ExpectError(BPEKIT_ERR_BAD_PATTERN, [] { Trainer t(""); });
    ExpectError(BPEKIT_ERR_BAD_PATTERN, [] { Tokenizer::FromTiktoken(HandRanks(), std::string_view()); });
}

TEST(Errors, InvalidUtf8) {
    Trainer t;
    ExpectError(BPEKIT_ERR_INVALID_UTF8, [&] { t.feed("bad \xff byte"); });
    EXPECT_EQ(t.progress().texts, 0u) << "a failed feed counts nothing";
    ExpectError(BPEKIT_ERR_INVALID_UTF8, [&] { Trainer bad("\xc3("); });
    const Tokenizer &tok = Shared();
    ExpectError(BPEKIT_ERR_INVALID_UTF8, [&] { tok.Encode("\xc3\x28"); });
    ExpectError(BPEKIT_ERR_INVALID_UTF8, [&] { tok.EncodeOrdinary("\x80"); });
    ExpectError(BPEKIT_ERR_INVALID_UTF8, [&] { tok.Count("\xfe"); });
}

TEST(Errors, UnknownTokenNamesTheId) {
    const Tokenizer &tok = Shared();
    const uint32_t bad = static_cast<uint32_t>(tok.VocabSize()) + 1000;
    const std::string msg = ExpectError(BPEKIT_ERR_UNKNOWN_TOKEN, [&] { tok.Decode({1, 2, bad}); });
    EXPECT_NE(msg.find(std::to_string(bad)), std::string::npos) << msg;
    ExpectError(BPEKIT_ERR_UNKNOWN_TOKEN, [&] { tok.TokenBytes(bad); });
    ExpectError(BPEKIT_ERR_UNKNOWN_TOKEN, [&] { tok.TokenId("definitely not one token"); });
}

TEST(Errors, VocabBelow256) {
    Trainer t;
    t.feed("some text");
    ExpectError(BPEKIT_ERR_INVALID_ARG, [&] { t.finish(255); });
}

TEST(Errors, BadRanks) {
    ExpectError(BPEKIT_ERR_BAD_RANKS, [] { Tokenizer::FromTiktoken("not base64 at all\n"); });
    // A missing single byte.
    std::string ranks = HandRanks();
    ranks.erase(0, ranks.find('\n') + 1);
    ExpectError(BPEKIT_ERR_BAD_RANKS, [&] { Tokenizer::FromTiktoken(ranks); });
}

TEST(Errors, BadSpecialTokens) {
    ExpectError(BPEKIT_ERR_INVALID_ARG, [] { Tokenizer::FromTiktoken(HandRanks(), std::nullopt, {{"", 300}}); });
    ExpectError(BPEKIT_ERR_INVALID_ARG,
                [] { Tokenizer::FromTiktoken(HandRanks(), std::nullopt, {{"<a>", 300}, {"<b>", 300}}); });
    ExpectError(BPEKIT_ERR_INVALID_ARG, [] { Tokenizer::FromTiktoken(HandRanks(), std::nullopt, {{"<a>", 5}}); });
    Trainer t;
    ExpectError(BPEKIT_ERR_INVALID_ARG, [&] { t.set_special_tokens({"<x>", "<x>"}); });
    ExpectError(BPEKIT_ERR_INVALID_ARG, [&] { t.set_special_tokens({""}); });
}

TEST(Errors, NamedPattern) {
    EXPECT_FALSE(bpekit::NamedPattern("cl100k_base").empty());
    EXPECT_FALSE(bpekit::NamedPattern("o200k_base").empty());
    ExpectError(BPEKIT_ERR_INVALID_ARG, [] { bpekit::NamedPattern("no_such_pattern"); });
}

// ==== Trainer ====

TEST(Trainer, FeedProgressFinish) {
    Trainer t;
    size_t bytes = 0;
    for (const auto &text : Corpus()) {
        t.feed(text);
        bytes += text.size();
    }
    bpekit::Progress p = t.progress();
    EXPECT_EQ(p.texts, Corpus().size());
    EXPECT_EQ(p.bytes, bytes);
    EXPECT_EQ(p.merges_done, 0u);

    Tokenizer tok = t.finish(kVocab);
    ASSERT_TRUE(tok);
    EXPECT_EQ(tok.VocabSize(), kVocab);
    p = t.progress();
    EXPECT_EQ(p.merges_total, kVocab - 256);
    EXPECT_EQ(p.merges_done, p.merges_total);
}

TEST(Trainer, FeedBatchOverloadsMatchFeed) {
    const auto &corpus = Corpus();
    Trainer one;
    for (const auto &text : corpus) one.feed(text);

    Trainer strings;
    strings.feed_batch(corpus);
    Trainer views;
    views.feed_batch(std::vector<std::string_view>(corpus.begin(), corpus.end()));
    Trainer list;
    for (const auto &text : corpus) list.feed_batch({text, std::string_view()});
    Trainer empty_batch;
    empty_batch.feed_batch(std::vector<std::string>{});
    EXPECT_EQ(empty_batch.progress().texts, 0u);

    const std::string expected = one.finish(kVocab).ExportTiktoken();
    EXPECT_EQ(strings.finish(kVocab).ExportTiktoken(), expected);
    EXPECT_EQ(views.finish(kVocab).ExportTiktoken(), expected);
    EXPECT_EQ(list.finish(kVocab).ExportTiktoken(), expected);
    EXPECT_EQ(strings.progress().texts, corpus.size());
}

TEST(Trainer, FeedBatchErrorCountsNothingAndNamesTheText) {
    Trainer t;
    const std::string msg = ExpectError(BPEKIT_ERR_INVALID_UTF8, [&] { t.feed_batch({"fine", "also fine", "bad \xff"}); });
    EXPECT_NE(msg.find('2'), std::string::npos) << msg;
    EXPECT_EQ(t.progress().texts, 0u);
}

TEST(Trainer, SetThreadsGivesTheSameMerges) {
    Trainer a;
    a.set_threads(1);
    a.feed_batch(Corpus());
    Trainer b;
    b.set_threads(3);
    b.feed_batch(Corpus());
    EXPECT_EQ(a.finish(kVocab).ExportTiktoken(), b.finish(kVocab).ExportTiktoken());
}

TEST(Trainer, FinishTwiceAndFeedMore) {
    Trainer t;
    t.feed_batch(Corpus());
    Tokenizer small = t.finish(300);
    Tokenizer big = t.finish(kVocab);
    EXPECT_EQ(small.VocabSize(), 300u);
    EXPECT_EQ(big.VocabSize(), kVocab);
    // The smaller vocabulary is a prefix of the bigger one (same merges, in order).
    const std::string s = small.ExportTiktoken(), b = big.ExportTiktoken();
    EXPECT_EQ(b.compare(0, s.size(), s), 0);
    t.feed("more text after finishing");
    EXPECT_EQ(t.progress().texts, Corpus().size() + 1);
    EXPECT_EQ(t.finish(kVocab).VocabSize(), kVocab);
}

TEST(Trainer, TextRunsOutOfPairs) {
    Trainer t;
    t.feed("ab");
    Tokenizer tok = t.finish(1000);
    EXPECT_LT(tok.VocabSize(), 1000u);
    EXPECT_GE(tok.VocabSize(), 256u);
}

TEST(Trainer, SpecialTokensGetIdsAfterTheMerges) {
    Trainer t;
    t.feed_batch(Corpus());
    t.set_special_tokens({kEot, kPad});
    Tokenizer tok = t.finish(kVocab);
    EXPECT_EQ(tok.VocabSize(), kVocab);
    const auto specials = tok.SpecialTokens();
    ASSERT_EQ(specials.size(), 2u);
    EXPECT_EQ(specials[0], std::make_pair(kEot, kVocab - 2));
    EXPECT_EQ(specials[1], std::make_pair(kPad, kVocab - 1));

    t.set_special_tokens({});  // clears them
    EXPECT_TRUE(t.finish(kVocab).SpecialTokens().empty());
}

TEST(Trainer, CountsExportImport) {
    const auto &corpus = Corpus();
    const size_t half = corpus.size() / 2;
    Trainer all, shard1, shard2, merged;
    all.feed_batch(corpus);
    shard1.feed_batch(std::vector<std::string>(corpus.begin(), corpus.begin() + half));
    shard2.feed_batch(std::vector<std::string>(corpus.begin() + half, corpus.end()));

    const std::string c1 = shard1.export_counts(), c2 = shard2.export_counts();
    EXPECT_FALSE(c1.empty());
    merged.add_counts(c1);
    merged.add_counts(c2);
    EXPECT_EQ(merged.finish(kVocab).ExportTiktoken(), all.finish(kVocab).ExportTiktoken());

    // Equal counts give equal bytes.
    Trainer again;
    again.add_counts(c1);
    EXPECT_EQ(again.export_counts(), c1);
}

TEST(Trainer, CountsErrors) {
    Trainer t;
    t.feed("some text to count");
    std::string counts = t.export_counts();

    Trainer u;
    ExpectError(BPEKIT_ERR_BAD_FORMAT, [&] { u.add_counts("not a count table"); });
    ExpectError(BPEKIT_ERR_BAD_FORMAT, [&] { u.add_counts(std::string_view(counts).substr(0, counts.size() / 2)); });
    std::string corrupt = counts;
    corrupt[corrupt.size() / 2] ^= 0x5a;
    ExpectError(BPEKIT_ERR_BAD_FORMAT, [&] { u.add_counts(corrupt); });
    EXPECT_EQ(u.progress().texts, 0u);

    Trainer other_pattern(bpekit::NamedPattern("gpt2"));
    ExpectError(BPEKIT_ERR_INVALID_ARG, [&] { other_pattern.add_counts(counts); });
}

TEST(Trainer, ProgressFromAnotherThreadDuringFeed) {
    Trainer t;
    std::atomic<bool> done{false};
    std::atomic<uint64_t> last_seen{0};
    std::thread watcher([&] {
        while (!done.load()) {
            const bpekit::Progress p = t.progress();
            EXPECT_GE(p.texts, last_seen.load());
            last_seen = p.texts;
        }
    });
    for (int i = 0; i < 5; ++i) t.feed_batch(Corpus());
    t.finish(kVocab);
    done = true;
    watcher.join();
    EXPECT_EQ(t.progress().texts, 5 * Corpus().size());
}

// ==== Tokenizer ====

TEST(Tokenizer, RoundTrips) {
    const Tokenizer &tok = Shared();
    for (const auto &text : SampleTexts()) {
        const Ids ids = tok.Encode(text);
        EXPECT_EQ(tok.Decode(ids), text);
        EXPECT_EQ(tok.EncodeOrdinary(text), ids);
        EXPECT_EQ(tok.Count(text), ids.size());
        EXPECT_EQ(tok.Decode(ids.data(), ids.size()), text);
#if __cplusplus >= 202002L
        EXPECT_EQ(tok.Decode(std::span<const uint32_t>(ids)), text);
#endif
    }
    EXPECT_TRUE(tok.Encode("").empty());
    EXPECT_EQ(tok.Decode(Ids{}), "");
    EXPECT_EQ(tok.Decode(nullptr, 0), "");
}

TEST(Tokenizer, TrainingCompresses) {
    const Tokenizer &tok = Shared();
    const std::string &text = Corpus()[0];
    EXPECT_LT(tok.Encode(text).size(), text.size() / 2);
}

TEST(Tokenizer, TokenBytesAndTokenIdAreInverse) {
    const Tokenizer &tok = Shared();
    const uint32_t n_ranks = kVocab - 2;
    for (uint32_t id = 0; id < n_ranks; ++id) {
        const std::string_view bytes = tok.TokenBytes(id);
        ASSERT_FALSE(bytes.empty()) << id;
        EXPECT_EQ(tok.TokenId(bytes), id);
    }
    for (uint32_t b = 0; b < 256; ++b) EXPECT_EQ(tok.TokenBytes(b), std::string(1, char(b)));
    EXPECT_EQ(tok.TokenBytes(kVocab - 2), kEot);
    EXPECT_EQ(tok.TokenId(kPad), kVocab - 1);
}

TEST(Tokenizer, DecodeMayGiveBytesThatAreNotUtf8) {
    const Tokenizer &tok = Shared();
    const Ids ids = tok.Encode("\xc3\xa9");  // two bytes; the first alone is not UTF-8
    std::string partial;
    for (uint32_t id : ids) partial += std::string(tok.TokenBytes(id));
    EXPECT_EQ(partial, "\xc3\xa9");
    EXPECT_EQ(tok.Decode({0xc3}), "\xc3");
}

TEST(Tokenizer, PatternDefaultsToCl100k) {
    EXPECT_EQ(Shared().Pattern(), bpekit::NamedPattern("cl100k_base"));
    const std::string_view gpt2 = bpekit::NamedPattern("gpt2");
    Trainer t{gpt2};
    t.feed_batch(Corpus());
    EXPECT_EQ(t.finish(300).Pattern(), gpt2);
}

TEST(Tokenizer, FromTiktokenHandWrittenRanks) {
    const Tokenizer tok = Tokenizer::FromTiktoken(HandRanks());
    EXPECT_EQ(tok.VocabSize(), 258u);
    EXPECT_EQ(tok.Encode("ab"), (Ids{256}));
    EXPECT_EQ(tok.Encode("abc ab abd"), (Ids{257, 32, 256, 32, 256, 'd'}));
    EXPECT_EQ(tok.TokenBytes(257), "abc");
    EXPECT_EQ(tok.ExportTiktoken(), HandRanks());
    EXPECT_TRUE(tok.SpecialTokens().empty());
}

TEST(Tokenizer, ExportImportRanks) {
    const Tokenizer &tok = Shared();
    const std::string ranks = tok.ExportTiktoken();
    // One "base64 SP rank LF" line per rank; special tokens are not ranks.
    EXPECT_EQ(static_cast<size_t>(std::count(ranks.begin(), ranks.end(), '\n')), kVocab - 2);

    const Tokenizer plain = Tokenizer::FromTiktoken(ranks, tok.Pattern());
    EXPECT_EQ(plain.VocabSize(), kVocab - 2);
    const Tokenizer full = Tokenizer::FromTiktoken(ranks, tok.Pattern(), tok.SpecialTokens());
    EXPECT_EQ(full.VocabSize(), kVocab);
    EXPECT_EQ(full.SpecialTokens(), tok.SpecialTokens());
    EXPECT_EQ(full.ExportTiktoken(), ranks);
    for (const auto &text : SampleTexts()) {
        EXPECT_EQ(plain.Encode(text), tok.Encode(text));
        EXPECT_EQ(full.Encode(text + kEot, {kEot}), tok.Encode(text + kEot, {kEot}));
    }
}

// ==== Special tokens ====

TEST(Special, DefaultPolicyDisallowsSpecialText) {
    const Tokenizer &tok = Shared();
    const std::string text = "hello " + kEot + " world";
    const std::string msg = ExpectError(BPEKIT_ERR_DISALLOWED_SPECIAL, [&] { tok.Encode(text); });
    EXPECT_NE(msg.find(kEot), std::string::npos) << msg;
    ExpectError(BPEKIT_ERR_DISALLOWED_SPECIAL, [&] { tok.Encode(text, SpecialPolicy()); });
    ExpectError(BPEKIT_ERR_DISALLOWED_SPECIAL, [&] { tok.Count(text); });
    // Allowing one special token still disallows the other.
    ExpectError(BPEKIT_ERR_DISALLOWED_SPECIAL, [&] { tok.Encode(kPad + text, {kEot}); });
}

TEST(Special, AllowedSetAndAllowAll) {
    const Tokenizer &tok = Shared();
    const uint32_t eot = kVocab - 2, pad = kVocab - 1;
    const std::string text = "hello " + kEot + " world" + kPad;
    const Ids hello = tok.EncodeOrdinary("hello "), world = tok.EncodeOrdinary(" world");

    Ids expected = hello;
    expected.push_back(eot);
    expected.insert(expected.end(), world.begin(), world.end());
    expected.push_back(pad);
    EXPECT_EQ(tok.Encode(text, SpecialPolicy::AllowAll()), expected);
    EXPECT_EQ(tok.Encode(text, {kEot, kPad}), expected);
    EXPECT_EQ(tok.Encode(text, SpecialPolicy::Allow({kPad, kEot, "<|not-a-special|>"})), expected);
    EXPECT_EQ(tok.Count(text, SpecialPolicy::AllowAll()), expected.size());
    EXPECT_EQ(tok.Decode(expected), text);
}

TEST(Special, OrdinaryAndExplicitDisallowed) {
    const Tokenizer &tok = Shared();
    const std::string text = kEot + " and " + kPad;
    const Ids ordinary = tok.EncodeOrdinary(text);
    EXPECT_EQ(std::count(ordinary.begin(), ordinary.end(), kVocab - 2), 0);
    EXPECT_EQ(tok.Encode(text, SpecialPolicy::Ordinary()), ordinary);
    EXPECT_EQ(tok.Decode(ordinary), text);

    // Only <|pad|> disallowed: <|endoftext|> is ordinary text.
    SpecialPolicy only_pad;
    only_pad.disallowed = std::vector<std::string>{kPad};
    ExpectError(BPEKIT_ERR_DISALLOWED_SPECIAL, [&] { tok.Encode(text, only_pad); });
    EXPECT_EQ(tok.Encode(kEot, only_pad), tok.EncodeOrdinary(kEot));

    // Allowed <|pad|>, nothing disallowed: <|endoftext|> is ordinary, <|pad|> is its id.
    SpecialPolicy pad_only = SpecialPolicy::Ordinary();
    pad_only.allowed = {kPad};
    const Ids ids = tok.Encode(text, pad_only);
    EXPECT_EQ(ids.back(), kVocab - 1);
    EXPECT_EQ(Ids(ids.begin(), ids.end() - 1), tok.EncodeOrdinary(kEot + " and "));
}

// ==== Batch ====

TEST(Batch, MatchesOneByOne) {
    const Tokenizer &tok = Shared();
    const std::vector<std::string> texts = SampleTexts();
    std::vector<Ids> expected;
    for (const auto &t : texts) expected.push_back(tok.Encode(t));

    EXPECT_EQ(tok.EncodeBatch(texts), expected);
    EXPECT_EQ(tok.EncodeBatch(texts, SpecialPolicy(), 2), expected);
    EXPECT_EQ(tok.EncodeBatch(std::vector<std::string_view>(texts.begin(), texts.end())), expected);
    EXPECT_EQ(tok.EncodeBatch({"hello world", ""}), (std::vector<Ids>{tok.Encode("hello world"), Ids{}}));
    EXPECT_TRUE(tok.EncodeBatch(std::vector<std::string>{}).empty());
}

TEST(Batch, PolicyAndErrors) {
    const Tokenizer &tok = Shared();
    const std::vector<std::string> texts = {"plain", "with " + kEot};
    const auto all = tok.EncodeBatch(texts, SpecialPolicy::AllowAll());
    EXPECT_EQ(all[1].back(), kVocab - 2);
    const std::string msg = ExpectError(BPEKIT_ERR_DISALLOWED_SPECIAL, [&] { tok.EncodeBatch(texts); });
    EXPECT_NE(msg.find("texts[1]"), std::string::npos) << msg;
    ExpectError(BPEKIT_ERR_INVALID_UTF8, [&] { tok.EncodeBatch({"ok", "\xff"}); });
}

// ==== Move semantics ====

static_assert(!std::is_copy_constructible_v<Tokenizer> && !std::is_copy_assignable_v<Tokenizer>);
static_assert(!std::is_copy_constructible_v<Trainer> && !std::is_copy_assignable_v<Trainer>);
static_assert(std::is_nothrow_move_constructible_v<Tokenizer> && std::is_nothrow_move_assignable_v<Tokenizer>);
static_assert(std::is_nothrow_move_constructible_v<Trainer> && std::is_nothrow_move_assignable_v<Trainer>);

TEST(Move, MovedFromTokenizerIsEmpty) {
    Tokenizer a = TrainSmall();
    const Ids ids = a.Encode("hello world");
    const std::string_view borrowed = a.TokenBytes(ids[0]);

    Tokenizer b = std::move(a);
    EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): testing the moved-from state
    EXPECT_TRUE(b);
    EXPECT_EQ(a.capi(), nullptr);
    EXPECT_EQ(a.VocabSize(), 0u);
    ExpectError(BPEKIT_ERR_NULL_ARG, [&] { a.Encode("x"); });
    ExpectError(BPEKIT_ERR_NULL_ARG, [&] { a.Encode("x", SpecialPolicy::AllowAll()); });
    ExpectError(BPEKIT_ERR_NULL_ARG, [&] { a.EncodeOrdinary("x"); });
    ExpectError(BPEKIT_ERR_NULL_ARG, [&] { a.Count("x"); });
    ExpectError(BPEKIT_ERR_NULL_ARG, [&] { a.EncodeBatch({"x"}); });
    ExpectError(BPEKIT_ERR_NULL_ARG, [&] { a.Decode({1}); });
    ExpectError(BPEKIT_ERR_NULL_ARG, [&] { a.TokenBytes(1); });
    ExpectError(BPEKIT_ERR_NULL_ARG, [&] { a.TokenId("a"); });
    ExpectError(BPEKIT_ERR_NULL_ARG, [&] { a.ExportTiktoken(); });
    ExpectError(BPEKIT_ERR_NULL_ARG, [&] { a.Pattern(); });
    ExpectError(BPEKIT_ERR_NULL_ARG, [&] { a.SpecialTokens(); });

    // Borrowed views live as long as the C handle, which moved into b.
    EXPECT_EQ(b.Encode("hello world"), ids);
    EXPECT_EQ(borrowed, b.TokenBytes(ids[0]));

    // Move-assignment frees the old handle (checked under valgrind/ASan) and takes the new one.
    Tokenizer c = TrainSmall(300);
    c = std::move(b);
    EXPECT_EQ(c.VocabSize(), kVocab);
    a = std::move(c);  // the moved-from object is assignable
    EXPECT_EQ(a.Encode("hello world"), ids);
    Tokenizer def;
    EXPECT_FALSE(def);
}

TEST(Move, MovedFromTrainerIsEmpty) {
    Trainer a;
    a.feed("hello hello hello");
    Trainer b = std::move(a);
    EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move)
    EXPECT_TRUE(b);
    EXPECT_EQ(a.capi(), nullptr);
    ExpectError(BPEKIT_ERR_NULL_ARG, [&] { a.feed("x"); });
    ExpectError(BPEKIT_ERR_NULL_ARG, [&] { a.feed_batch({"x"}); });
    ExpectError(BPEKIT_ERR_NULL_ARG, [&] { a.set_special_tokens({"<x>"}); });
    ExpectError(BPEKIT_ERR_NULL_ARG, [&] { a.set_threads(2); });
    ExpectError(BPEKIT_ERR_NULL_ARG, [&] { a.progress(); });
    ExpectError(BPEKIT_ERR_NULL_ARG, [&] { a.export_counts(); });
    ExpectError(BPEKIT_ERR_NULL_ARG, [&] { a.add_counts("x"); });
    ExpectError(BPEKIT_ERR_NULL_ARG, [&] { a.finish(300); });
    EXPECT_EQ(b.progress().texts, 1u);

    Trainer c;
    c = std::move(b);
    EXPECT_EQ(c.progress().texts, 1u);
    std::vector<Trainer> many;
    many.push_back(std::move(c));
    many.emplace_back();
    EXPECT_EQ(many[0].progress().texts, 1u);
}

TEST(Move, TokenizerOutlivesItsTrainer) {
    Tokenizer tok;
    {
        Trainer t;
        t.feed_batch(Corpus());
        tok = t.finish(300);
    }
    const std::string text = Corpus()[1];
    EXPECT_EQ(tok.Decode(tok.Encode(text)), text);
}

// ==== Threads ====

TEST(Threads, ManyThreadsShareOneTokenizer) {
    const Tokenizer tok = TrainSmall();
    const std::vector<std::string> texts = SampleTexts();
    std::vector<Ids> expected;
    for (const auto &t : texts) expected.push_back(tok.Encode(t));

    std::atomic<int> mismatches{0};
    std::vector<std::thread> threads;
    for (int w = 0; w < 8; ++w) {
        threads.emplace_back([&, w] {
            for (int round = 0; round < 50; ++round) {
                for (size_t i = 0; i < texts.size(); ++i) {
                    const size_t k = (i + w + round) % texts.size();
                    if (tok.Encode(texts[k]) != expected[k]) ++mismatches;
                    if (tok.Decode(expected[k]) != texts[k]) ++mismatches;
                    if (tok.Count(texts[k]) != expected[k].size()) ++mismatches;
                }
                if (round % 10 == 0 && tok.EncodeBatch(texts, SpecialPolicy(), 2) != expected) ++mismatches;
                try {
                    tok.Decode({0xffffffffu});
                    ++mismatches;
                } catch (const Error &e) {
                    if (e.code() != BPEKIT_ERR_UNKNOWN_TOKEN) ++mismatches;
                }
            }
        });
    }
    for (auto &t : threads) t.join();
    EXPECT_EQ(mismatches.load(), 0);
}

// ==== Real ranks (optional) ====

TEST(Cl100k, MatchesTiktoken) {
    const char *dir = std::getenv("BPEKIT_DATA");
    const std::string path = std::string(dir ? dir : "") + "/cl100k_base.tiktoken";
    std::ifstream in(path, std::ios::binary);
    if (!dir || !in) GTEST_SKIP() << "set BPEKIT_DATA to a directory with cl100k_base.tiktoken";
    std::stringstream ranks;
    ranks << in.rdbuf();
    const Tokenizer tok = Tokenizer::FromTiktoken(ranks.str(), bpekit::NamedPattern("cl100k_base"),
                                                  {{"<|endoftext|>", 100257}, {"<|fim_prefix|>", 100258}});
    // Values from tiktoken.get_encoding("cl100k_base").
    EXPECT_EQ(tok.Encode("hello world"), (Ids{15339, 1917}));
    EXPECT_EQ(tok.Encode("hello <|endoftext|>", SpecialPolicy::AllowAll()), (Ids{15339, 220, 100257}));
    EXPECT_EQ(tok.VocabSize(), 100259u);
    EXPECT_EQ(tok.ExportTiktoken(), ranks.str());
}

}  // namespace
