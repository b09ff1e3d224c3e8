// GoogleTest suite for the C++ wrapper bindings/cpp/include/bpekit.hpp: training,
// encoding and decoding.
//
// Covers errors as bpekit::error (code and message), move semantics, one tokenizer
// shared by many threads, round trips, special tokens, and export/import of ranks and of
// count tables. The other files cover the error-code table (test_errors.cpp), files and
// bytes (test_files.cpp) and completion and caller-owned buffers (test_completion.cpp).
// The tokenizers are trained on a small built-in corpus (common.hpp), or built from a
// hand-written rank table, so the suite needs no data files; the cl100k_base test runs
// only when $BPEKIT_DATA/cl100k_base.tiktoken exists.

#include "common.hpp"

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

using namespace bpekit_test;

// ==== Versions ====

TEST(Version, AbiMatchesHeader) {
    EXPECT_NO_THROW(bpekit::check_abi());
    EXPECT_EQ(bpekit_abi_version(), static_cast<uint32_t>(BPEKIT_ABI_VERSION));
}

TEST(Version, StringMatchesHeaderMacros) {
    const std::string expected = std::to_string(BPEKIT_VERSION_MAJOR) + "." + std::to_string(BPEKIT_VERSION_MINOR) +
                                 "." + std::to_string(BPEKIT_VERSION_PATCH);
    EXPECT_EQ(std::string(bpekit::version()), expected);
}

// ==== Errors ====

TEST(Errors, BadPatternThrowsWithCodeAndMessage) {
    const std::string msg = ExpectError(errc::bad_pattern, [] { trainer t("(unclosed"); });
    EXPECT_NE(msg.find("pattern"), std::string::npos) << msg;
}

TEST(Errors, ErrorIsARuntimeError) {
    try {
        trainer t("(");
        FAIL() << "no exception";
    } catch (const std::runtime_error &e) {
        const auto *err = dynamic_cast<const bpekit::error *>(&e);
        ASSERT_NE(err, nullptr);
        EXPECT_EQ(err->code(), errc::bad_pattern);
        EXPECT_STREQ(err->code_name(), "BPEKIT_ERR_BAD_PATTERN");
    }
}

TEST(Errors, CodeNames) {
    EXPECT_STREQ(bpekit::status_name(BPEKIT_OK), "BPEKIT_OK");
    EXPECT_STREQ(bpekit::status_name(BPEKIT_ERR_UNKNOWN_TOKEN), "BPEKIT_ERR_UNKNOWN_TOKEN");
    EXPECT_STREQ(bpekit::status_name(BPEKIT_ERR_BAD_FORMAT), "BPEKIT_ERR_BAD_FORMAT");
    EXPECT_STREQ(bpekit::status_name(BPEKIT_ERR_IO), "BPEKIT_ERR_IO");  // the library's table, every code
    EXPECT_STREQ(bpekit::status_name(9999), "BPEKIT_ERR_UNKNOWN");
    const bpekit::error e(9999, "from the future");
    EXPECT_EQ(e.status(), 9999);
    EXPECT_EQ(e.code(), static_cast<errc>(9999));
    EXPECT_STREQ(e.code_name(), "BPEKIT_ERR_UNKNOWN");
    EXPECT_STREQ(e.what(), "from the future");
}

TEST(Errors, EmptyPatternIsAnErrorNotTheDefault) {
    ExpectError(errc::bad_pattern, [] { trainer t{std::string_view()}; });
    ExpectError(errc::bad_pattern, [] { trainer t(""); });
    ExpectError(errc::bad_pattern, [] { tokenizer::from_tiktoken(HandRanks(), std::string_view()); });
}

TEST(Errors, InvalidUtf8) {
    trainer t;
    ExpectError(errc::invalid_utf8, [&] { t.feed("bad \xff byte"); });
    EXPECT_EQ(t.progress().texts, 0u) << "a failed feed counts nothing";
    ExpectError(errc::invalid_utf8, [&] { trainer bad("\xc3("); });
    const tokenizer &tok = Shared();
    ExpectError(errc::invalid_utf8, [&] { tok.encode("\xc3\x28"); });
    ExpectError(errc::invalid_utf8, [&] { tok.encode_ordinary("\x80"); });
    ExpectError(errc::invalid_utf8, [&] { tok.count("\xfe"); });
}

TEST(Errors, UnknownTokenNamesTheId) {
    const tokenizer &tok = Shared();
    const uint32_t bad = static_cast<uint32_t>(tok.vocab_size()) + 1000;
    const std::string msg = ExpectError(errc::unknown_token, [&] { tok.decode({1, 2, bad}); });
    EXPECT_NE(msg.find(std::to_string(bad)), std::string::npos) << msg;
    ExpectError(errc::unknown_token, [&] { tok.token_bytes(bad); });
    ExpectError(errc::unknown_token, [&] { tok.token_id("definitely not one token"); });
}

TEST(Errors, VocabBelow256) {
    trainer t;
    t.feed("some text");
    ExpectError(errc::invalid_arg, [&] { t.finish(255); });
}

TEST(Errors, BadRanks) {
    ExpectError(errc::bad_ranks, [] { tokenizer::from_tiktoken("not base64 at all\n"); });
    // A missing single byte.
    std::string ranks = HandRanks();
    ranks.erase(0, ranks.find('\n') + 1);
    ExpectError(errc::bad_ranks, [&] { tokenizer::from_tiktoken(ranks); });
}

TEST(Errors, BadSpecialTokens) {
    ExpectError(errc::invalid_arg, [] { tokenizer::from_tiktoken(HandRanks(), std::nullopt, {{"", 300}}); });
    // (Two texts may share an id, as in tiktoken's o200k_harmony: both encode to it, and
    // it decodes to the first.)
    const tokenizer shared = tokenizer::from_tiktoken(HandRanks(), std::nullopt, {{"<a>", 300}, {"<b>", 300}});
    EXPECT_EQ(shared.encode("<b><a>", special_policy::allowing_all()), (Ids{300, 300}));
    EXPECT_EQ(shared.decode({300}), "<a>");
    ExpectError(errc::invalid_arg, [] { tokenizer::from_tiktoken(HandRanks(), std::nullopt, {{"<a>", 5}}); });
    trainer t;
    ExpectError(errc::invalid_arg, [&] { t.set_special_tokens({"<x>", "<x>"}); });
    ExpectError(errc::invalid_arg, [&] { t.set_special_tokens({""}); });
}

TEST(Errors, NamedPattern) {
    EXPECT_FALSE(bpekit::named_pattern("cl100k_base").empty());
    EXPECT_FALSE(bpekit::named_pattern("o200k_base").empty());
    ExpectError(errc::invalid_arg, [] { bpekit::named_pattern("no_such_pattern"); });
}

// ==== trainer ====

TEST(Trainer, FeedProgressFinish) {
    trainer t;
    size_t bytes = 0;
    for (const auto &text : Corpus()) {
        t.feed(text);
        bytes += text.size();
    }
    bpekit::progress p = t.progress();
    EXPECT_EQ(p.texts, Corpus().size());
    EXPECT_EQ(p.bytes, bytes);
    EXPECT_EQ(p.merges_done, 0u);

    tokenizer tok = t.finish(kVocab);
    ASSERT_TRUE(tok);
    EXPECT_EQ(tok.vocab_size(), kVocab);
    p = t.progress();
    EXPECT_EQ(p.merges_total, kVocab - 256);
    EXPECT_EQ(p.merges_done, p.merges_total);
}

TEST(Trainer, FeedBatchOverloadsMatchFeed) {
    const auto &corpus = Corpus();
    trainer one;
    for (const auto &text : corpus) one.feed(text);

    trainer strings;
    strings.feed_batch(corpus);
    trainer views;
    views.feed_batch(std::vector<std::string_view>(corpus.begin(), corpus.end()));
    trainer list;
    for (const auto &text : corpus) list.feed_batch({text, std::string_view()});
    trainer empty_batch;
    empty_batch.feed_batch(std::vector<std::string>{});
    EXPECT_EQ(empty_batch.progress().texts, 0u);

    const std::string expected = one.finish(kVocab).export_tiktoken();
    EXPECT_EQ(strings.finish(kVocab).export_tiktoken(), expected);
    EXPECT_EQ(views.finish(kVocab).export_tiktoken(), expected);
    EXPECT_EQ(list.finish(kVocab).export_tiktoken(), expected);
    EXPECT_EQ(strings.progress().texts, corpus.size());
}

TEST(Trainer, FeedBatchErrorCountsNothingAndNamesTheText) {
    trainer t;
    const std::string msg = ExpectError(errc::invalid_utf8, [&] { t.feed_batch({"fine", "also fine", "bad \xff"}); });
    EXPECT_NE(msg.find('2'), std::string::npos) << msg;
    EXPECT_EQ(t.progress().texts, 0u);
}

TEST(Trainer, SetThreadsGivesTheSameMerges) {
    trainer a;
    a.set_threads(1);
    a.feed_batch(Corpus());
    trainer b;
    b.set_threads(3);
    b.feed_batch(Corpus());
    EXPECT_EQ(a.finish(kVocab).export_tiktoken(), b.finish(kVocab).export_tiktoken());
}

TEST(Trainer, FinishTwiceAndFeedMore) {
    trainer t;
    t.feed_batch(Corpus());
    tokenizer small = t.finish(300);
    tokenizer big = t.finish(kVocab);
    EXPECT_EQ(small.vocab_size(), 300u);
    EXPECT_EQ(big.vocab_size(), kVocab);
    // The smaller vocabulary is a prefix of the bigger one (same merges, in order).
    const std::string s = small.export_tiktoken(), b = big.export_tiktoken();
    EXPECT_EQ(b.compare(0, s.size(), s), 0);
    t.feed("more text after finishing");
    EXPECT_EQ(t.progress().texts, Corpus().size() + 1);
    EXPECT_EQ(t.finish(kVocab).vocab_size(), kVocab);
}

TEST(Trainer, TextRunsOutOfPairs) {
    trainer t;
    t.feed("ab");
    tokenizer tok = t.finish(1000);
    EXPECT_LT(tok.vocab_size(), 1000u);
    EXPECT_GE(tok.vocab_size(), 256u);
}

TEST(Trainer, SpecialTokensGetIdsAfterTheMerges) {
    trainer t;
    t.feed_batch(Corpus());
    t.set_special_tokens({kEot, kPad});
    tokenizer tok = t.finish(kVocab);
    EXPECT_EQ(tok.vocab_size(), kVocab);
    const auto specials = tok.special_tokens();
    ASSERT_EQ(specials.size(), 2u);
    EXPECT_EQ(specials[0], std::make_pair(kEot, kVocab - 2));
    EXPECT_EQ(specials[1], std::make_pair(kPad, kVocab - 1));

    t.set_special_tokens({});  // clears them
    EXPECT_TRUE(t.finish(kVocab).special_tokens().empty());
}

TEST(Trainer, CountsExportImport) {
    const auto &corpus = Corpus();
    const size_t half = corpus.size() / 2;
    trainer all, shard1, shard2, merged;
    all.feed_batch(corpus);
    shard1.feed_batch(std::vector<std::string>(corpus.begin(), corpus.begin() + half));
    shard2.feed_batch(std::vector<std::string>(corpus.begin() + half, corpus.end()));

    const std::string c1 = shard1.export_counts(), c2 = shard2.export_counts();
    EXPECT_FALSE(c1.empty());
    merged.add_counts(c1);
    merged.add_counts(c2);
    EXPECT_EQ(merged.finish(kVocab).export_tiktoken(), all.finish(kVocab).export_tiktoken());

    // Equal counts give equal bytes.
    trainer again;
    again.add_counts(c1);
    EXPECT_EQ(again.export_counts(), c1);
}

TEST(Trainer, CountsErrors) {
    trainer t;
    t.feed("some text to count");
    std::string counts = t.export_counts();

    trainer u;
    ExpectError(errc::bad_format, [&] { u.add_counts("not a count table"); });
    ExpectError(errc::bad_format, [&] { u.add_counts(std::string_view(counts).substr(0, counts.size() / 2)); });
    std::string corrupt = counts;
    corrupt[corrupt.size() / 2] ^= 0x5a;
    ExpectError(errc::bad_format, [&] { u.add_counts(corrupt); });
    EXPECT_EQ(u.progress().texts, 0u);

    trainer other_pattern(bpekit::named_pattern("gpt2"));
    ExpectError(errc::invalid_arg, [&] { other_pattern.add_counts(counts); });
}

TEST(Trainer, ProgressFromAnotherThreadDuringFeed) {
    trainer t;
    std::atomic<bool> done{false};
    std::atomic<uint64_t> last_seen{0};
    std::thread watcher([&] {
        while (!done.load()) {
            const bpekit::progress p = t.progress();
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

TEST(Trainer, TextsAndBytesMatchProgress) {
    trainer t;
    EXPECT_EQ(t.texts(), 0u);
    EXPECT_EQ(t.bytes(), 0u);
    t.feed_batch(Corpus());
    t.feed("one more");
    const bpekit::progress p = t.progress();
    EXPECT_EQ(t.texts(), p.texts);
    EXPECT_EQ(t.bytes(), p.bytes);
    EXPECT_EQ(t.texts(), Corpus().size() + 1);

    trainer moved = std::move(t);
    EXPECT_EQ(t.texts(), 0u);  // NOLINT(bugprone-use-after-move): the C fallback for NULL
    EXPECT_EQ(t.bytes(), 0u);  // NOLINT(bugprone-use-after-move)
    EXPECT_EQ(moved.texts(), p.texts);
}

TEST(Trainer, ProgressFromAnotherThreadDuringFinish) {
    trainer t;
    t.feed_batch(Corpus());
    const uint64_t texts = t.texts(), bytes = t.bytes();
    std::atomic<bool> done{false};
    std::atomic<int> bad{0};
    std::thread watcher([&] {
        uint64_t last_done = 0;
        do {
            const bpekit::progress p = t.progress();
            // Counts do not change while finishing; merges only go up, up to the total.
            if (p.texts != texts || p.bytes != bytes || t.texts() != texts || t.bytes() != bytes) ++bad;
            if (p.merges_done < last_done || (p.merges_total != 0 && p.merges_done > p.merges_total)) ++bad;
            last_done = p.merges_done;
        } while (!done.load());
    });
    const tokenizer tok = t.finish(kVocab);
    done = true;
    watcher.join();
    EXPECT_EQ(bad.load(), 0);
    EXPECT_EQ(tok.vocab_size(), kVocab);
    EXPECT_EQ(t.progress().merges_done, kVocab - 256);
}

// ==== tokenizer ====

TEST(Tokenizer, RoundTrips) {
    const tokenizer &tok = Shared();
    for (const auto &text : SampleTexts()) {
        const Ids ids = tok.encode(text);
        EXPECT_EQ(tok.decode(ids), text);
        EXPECT_EQ(tok.encode_ordinary(text), ids);
        EXPECT_EQ(tok.count(text), ids.size());
        EXPECT_EQ(tok.decode(ids.data(), ids.size()), text);
#if __cplusplus >= 202002L
        EXPECT_EQ(tok.decode(std::span<const uint32_t>(ids)), text);
#endif
    }
    EXPECT_TRUE(tok.encode("").empty());
    EXPECT_EQ(tok.decode(Ids{}), "");
    EXPECT_EQ(tok.decode(nullptr, 0), "");
}

TEST(Tokenizer, TrainingCompresses) {
    const tokenizer &tok = Shared();
    const std::string &text = Corpus()[0];
    EXPECT_LT(tok.encode(text).size(), text.size() / 2);
}

TEST(Tokenizer, TokenBytesAndTokenIdAreInverse) {
    const tokenizer &tok = Shared();
    const uint32_t n_ranks = kVocab - 2;
    for (uint32_t id = 0; id < n_ranks; ++id) {
        const std::string_view bytes = tok.token_bytes(id);
        ASSERT_FALSE(bytes.empty()) << id;
        EXPECT_EQ(tok.token_id(bytes), id);
    }
    for (uint32_t b = 0; b < 256; ++b) EXPECT_EQ(tok.token_bytes(b), std::string(1, char(b)));
    EXPECT_EQ(tok.token_bytes(kVocab - 2), kEot);
    EXPECT_EQ(tok.token_id(kPad), kVocab - 1);
}

TEST(Tokenizer, DecodeMayGiveBytesThatAreNotUtf8) {
    const tokenizer &tok = Shared();
    const Ids ids = tok.encode("\xc3\xa9");  // two bytes; the first alone is not UTF-8
    std::string partial;
    for (uint32_t id : ids) partial += std::string(tok.token_bytes(id));
    EXPECT_EQ(partial, "\xc3\xa9");
    EXPECT_EQ(tok.decode({0xc3}), "\xc3");
}

TEST(Tokenizer, PatternDefaultsToCl100k) {
    EXPECT_EQ(Shared().pattern(), bpekit::named_pattern("cl100k_base"));
    const std::string_view gpt2 = bpekit::named_pattern("gpt2");
    trainer t{gpt2};
    t.feed_batch(Corpus());
    EXPECT_EQ(t.finish(300).pattern(), gpt2);
}

TEST(Tokenizer, FromTiktokenHandWrittenRanks) {
    const tokenizer tok = tokenizer::from_tiktoken(HandRanks());
    EXPECT_EQ(tok.vocab_size(), 258u);
    EXPECT_EQ(tok.encode("ab"), (Ids{256}));
    EXPECT_EQ(tok.encode("abc ab abd"), (Ids{257, 32, 256, 32, 256, 'd'}));
    EXPECT_EQ(tok.token_bytes(257), "abc");
    EXPECT_EQ(tok.export_tiktoken(), HandRanks());
    EXPECT_TRUE(tok.special_tokens().empty());
}

TEST(Tokenizer, ExportImportRanks) {
    const tokenizer &tok = Shared();
    const std::string ranks = tok.export_tiktoken();
    // One "base64 SP rank LF" line per rank; special tokens are not ranks.
    EXPECT_EQ(static_cast<size_t>(std::count(ranks.begin(), ranks.end(), '\n')), kVocab - 2);

    const tokenizer plain = tokenizer::from_tiktoken(ranks, tok.pattern());
    EXPECT_EQ(plain.vocab_size(), kVocab - 2);
    const tokenizer full = tokenizer::from_tiktoken(ranks, tok.pattern(), tok.special_tokens());
    EXPECT_EQ(full.vocab_size(), kVocab);
    EXPECT_EQ(full.special_tokens(), tok.special_tokens());
    EXPECT_EQ(full.export_tiktoken(), ranks);
    for (const auto &text : SampleTexts()) {
        EXPECT_EQ(plain.encode(text), tok.encode(text));
        EXPECT_EQ(full.encode(text + kEot, {kEot}), tok.encode(text + kEot, {kEot}));
    }
}

// ==== Special tokens ====

TEST(Special, DefaultPolicyDisallowsSpecialText) {
    const tokenizer &tok = Shared();
    const std::string text = "hello " + kEot + " world";
    const std::string msg = ExpectError(errc::disallowed_special, [&] { tok.encode(text); });
    EXPECT_NE(msg.find(kEot), std::string::npos) << msg;
    ExpectError(errc::disallowed_special, [&] { tok.encode(text, special_policy()); });
    ExpectError(errc::disallowed_special, [&] { tok.count(text); });
    // Allowing one special token still disallows the other.
    ExpectError(errc::disallowed_special, [&] { tok.encode(kPad + text, {kEot}); });
}

TEST(Special, AllowedSetAndAllowAll) {
    const tokenizer &tok = Shared();
    const uint32_t eot = kVocab - 2, pad = kVocab - 1;
    const std::string text = "hello " + kEot + " world" + kPad;
    const Ids hello = tok.encode_ordinary("hello "), world = tok.encode_ordinary(" world");

    Ids expected = hello;
    expected.push_back(eot);
    expected.insert(expected.end(), world.begin(), world.end());
    expected.push_back(pad);
    EXPECT_EQ(tok.encode(text, special_policy::allowing_all()), expected);
    EXPECT_EQ(tok.encode(text, {kEot, kPad}), expected);
    EXPECT_EQ(tok.encode(text, special_policy::allowing({kPad, kEot, "<|not-a-special|>"})), expected);
    EXPECT_EQ(tok.count(text, special_policy::allowing_all()), expected.size());
    EXPECT_EQ(tok.decode(expected), text);
}

TEST(Special, OrdinaryAndExplicitDisallowed) {
    const tokenizer &tok = Shared();
    const std::string text = kEot + " and " + kPad;
    const Ids ordinary = tok.encode_ordinary(text);
    EXPECT_EQ(std::count(ordinary.begin(), ordinary.end(), kVocab - 2), 0);
    EXPECT_EQ(tok.encode(text, special_policy::ordinary()), ordinary);
    EXPECT_EQ(tok.decode(ordinary), text);

    // Only <|pad|> disallowed: <|endoftext|> is ordinary text.
    special_policy only_pad;
    only_pad.disallowed = std::vector<std::string>{kPad};
    ExpectError(errc::disallowed_special, [&] { tok.encode(text, only_pad); });
    EXPECT_EQ(tok.encode(kEot, only_pad), tok.encode_ordinary(kEot));

    // Allowed <|pad|>, nothing disallowed: <|endoftext|> is ordinary, <|pad|> is its id.
    special_policy pad_only = special_policy::ordinary();
    pad_only.allowed = {kPad};
    const Ids ids = tok.encode(text, pad_only);
    EXPECT_EQ(ids.back(), kVocab - 1);
    EXPECT_EQ(Ids(ids.begin(), ids.end() - 1), tok.encode_ordinary(kEot + " and "));
}

// ==== Batch ====

TEST(Batch, MatchesOneByOne) {
    const tokenizer &tok = Shared();
    const std::vector<std::string> texts = SampleTexts();
    std::vector<Ids> expected;
    for (const auto &t : texts) expected.push_back(tok.encode(t));

    EXPECT_EQ(tok.encode_batch(texts), expected);
    EXPECT_EQ(tok.encode_batch(texts, special_policy(), 2), expected);
    EXPECT_EQ(tok.encode_batch(std::vector<std::string_view>(texts.begin(), texts.end())), expected);
    EXPECT_EQ(tok.encode_batch({"hello world", ""}), (std::vector<Ids>{tok.encode("hello world"), Ids{}}));
    EXPECT_TRUE(tok.encode_batch(std::vector<std::string>{}).empty());
}

TEST(Batch, PolicyAndErrors) {
    const tokenizer &tok = Shared();
    const std::vector<std::string> texts = {"plain", "with " + kEot};
    const auto all = tok.encode_batch(texts, special_policy::allowing_all());
    EXPECT_EQ(all[1].back(), kVocab - 2);
    const std::string msg = ExpectError(errc::disallowed_special, [&] { tok.encode_batch(texts); });
    EXPECT_NE(msg.find("texts[1]"), std::string::npos) << msg;
    ExpectError(errc::invalid_utf8, [&] { tok.encode_batch({"ok", "\xff"}); });
}

// ==== Move semantics ====

static_assert(!std::is_copy_constructible_v<tokenizer> && !std::is_copy_assignable_v<tokenizer>);
static_assert(!std::is_copy_constructible_v<trainer> && !std::is_copy_assignable_v<trainer>);
static_assert(std::is_nothrow_move_constructible_v<tokenizer> && std::is_nothrow_move_assignable_v<tokenizer>);
static_assert(std::is_nothrow_move_constructible_v<trainer> && std::is_nothrow_move_assignable_v<trainer>);

TEST(Move, MovedFromTokenizerIsEmpty) {
    tokenizer a = TrainSmall();
    const Ids ids = a.encode("hello world");
    const std::string_view borrowed = a.token_bytes(ids[0]);

    tokenizer b = std::move(a);
    EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): testing the moved-from state
    EXPECT_TRUE(b);
    EXPECT_EQ(a.capi(), nullptr);
    EXPECT_EQ(a.vocab_size(), 0u);
    ExpectError(errc::null_arg, [&] { a.encode("x"); });
    ExpectError(errc::null_arg, [&] { a.encode("x", special_policy::allowing_all()); });
    ExpectError(errc::null_arg, [&] { a.encode_ordinary("x"); });
    ExpectError(errc::null_arg, [&] { a.count("x"); });
    ExpectError(errc::null_arg, [&] { a.encode_batch({"x"}); });
    ExpectError(errc::null_arg, [&] { a.decode({1}); });
    ExpectError(errc::null_arg, [&] { a.token_bytes(1); });
    ExpectError(errc::null_arg, [&] { a.token_id("a"); });
    ExpectError(errc::null_arg, [&] { a.export_tiktoken(); });
    ExpectError(errc::null_arg, [&] { a.pattern(); });
    ExpectError(errc::null_arg, [&] { a.special_tokens(); });

    // Borrowed views live as long as the C handle, which moved into b.
    EXPECT_EQ(b.encode("hello world"), ids);
    EXPECT_EQ(borrowed, b.token_bytes(ids[0]));

    // Move-assignment frees the old handle (checked under valgrind/ASan) and takes the new one.
    tokenizer c = TrainSmall(300);
    c = std::move(b);
    EXPECT_EQ(c.vocab_size(), kVocab);
    a = std::move(c);  // the moved-from object is assignable
    EXPECT_EQ(a.encode("hello world"), ids);
    tokenizer def;
    EXPECT_FALSE(def);
}

TEST(Move, MovedFromTrainerIsEmpty) {
    trainer a;
    a.feed("hello hello hello");
    trainer b = std::move(a);
    EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move)
    EXPECT_TRUE(b);
    EXPECT_EQ(a.capi(), nullptr);
    ExpectError(errc::null_arg, [&] { a.feed("x"); });
    ExpectError(errc::null_arg, [&] { a.feed_batch({"x"}); });
    ExpectError(errc::null_arg, [&] { a.set_special_tokens({"<x>"}); });
    ExpectError(errc::null_arg, [&] { a.set_threads(2); });
    ExpectError(errc::null_arg, [&] { a.progress(); });
    ExpectError(errc::null_arg, [&] { a.export_counts(); });
    ExpectError(errc::null_arg, [&] { a.add_counts("x"); });
    ExpectError(errc::null_arg, [&] { a.finish(300); });
    EXPECT_EQ(b.progress().texts, 1u);

    trainer c;
    c = std::move(b);
    EXPECT_EQ(c.progress().texts, 1u);
    std::vector<trainer> many;
    many.push_back(std::move(c));
    many.emplace_back();
    EXPECT_EQ(many[0].progress().texts, 1u);
}

TEST(Move, TokenizerOutlivesItsTrainer) {
    tokenizer tok;
    {
        trainer t;
        t.feed_batch(Corpus());
        tok = t.finish(300);
    }
    const std::string text = Corpus()[1];
    EXPECT_EQ(tok.decode(tok.encode(text)), text);
}

// ==== Threads ====

TEST(Threads, ManyThreadsShareOneTokenizer) {
    const tokenizer tok = TrainSmall();
    const std::vector<std::string> texts = SampleTexts();
    std::vector<Ids> expected;
    for (const auto &t : texts) expected.push_back(tok.encode(t));

    std::atomic<int> mismatches{0};
    std::vector<std::thread> threads;
    for (int w = 0; w < 8; ++w) {
        threads.emplace_back([&, w] {
            for (int round = 0; round < 50; ++round) {
                for (size_t i = 0; i < texts.size(); ++i) {
                    const size_t k = (i + w + round) % texts.size();
                    if (tok.encode(texts[k]) != expected[k]) ++mismatches;
                    if (tok.decode(expected[k]) != texts[k]) ++mismatches;
                    if (tok.count(texts[k]) != expected[k].size()) ++mismatches;
                }
                if (round % 10 == 0 && tok.encode_batch(texts, special_policy(), 2) != expected) ++mismatches;
                try {
                    tok.decode({0xffffffffu});
                    ++mismatches;
                } catch (const bpekit::error &e) {
                    if (e.code() != errc::unknown_token) ++mismatches;
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
    const tokenizer tok = tokenizer::from_tiktoken(ranks.str(), bpekit::named_pattern("cl100k_base"),
                                                  {{"<|endoftext|>", 100257}, {"<|fim_prefix|>", 100258}});
    // Values from tiktoken.get_encoding("cl100k_base").
    EXPECT_EQ(tok.encode("hello world"), (Ids{15339, 1917}));
    EXPECT_EQ(tok.encode("hello <|endoftext|>", special_policy::allowing_all()), (Ids{15339, 220, 100257}));
    EXPECT_EQ(tok.vocab_size(), 100259u);
    EXPECT_EQ(tok.export_tiktoken(), ranks.str());
}

}  // namespace
