// tokenizer::save / load (files) and to_bytes / from_bytes (the same format in memory):
// round trips keep everything (ranks, pattern, special tokens), and damaged input,
// missing files and empty paths are typed errors.

#include "common.hpp"

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace {

using namespace bpekit_test;
namespace fs = std::filesystem;

// The two tokenizers describe the same thing: ranks, pattern, special tokens, encodings.
void ExpectSame(const tokenizer &a, const tokenizer &b) {
    EXPECT_EQ(a.vocab_size(), b.vocab_size());
    EXPECT_EQ(a.pattern(), b.pattern());
    EXPECT_EQ(a.special_tokens(), b.special_tokens());
    EXPECT_EQ(a.export_tiktoken(), b.export_tiktoken());
    for (const auto &text : SampleTexts()) {
        EXPECT_EQ(a.encode(text), b.encode(text));
        EXPECT_EQ(a.encode(text + kEot, special_policy::allowing_all()),
                  b.encode(text + kEot, special_policy::allowing_all()));
    }
}

TEST(Files, SaveLoadRoundTrip) {
    const TempDir dir;
    const fs::path path = dir.path() / "shared.bpekit";
    const tokenizer &tok = Shared();
    tok.save(path);
    const tokenizer loaded = tokenizer::load(path);
    ExpectSame(tok, loaded);
    // The file holds exactly what to_bytes gives, and saving is repeatable.
    EXPECT_EQ(ReadFile(path), tok.to_bytes());
    EXPECT_EQ(loaded.to_bytes(), tok.to_bytes());
    // A std::string path (any bytes on POSIX) and a name with spaces and non-ASCII.
    const std::string other = (dir.path() / "caf\xc3\xa9 tok.bpekit").string();
    tok.save(other);
    ExpectSame(tok, tokenizer::load(other));
}

TEST(Files, SaveReplacesTheFileAndLeavesNothingElse) {
    const TempDir dir;
    const fs::path path = dir.path() / "tok.bpekit";
    Shared().save(path);
    const tokenizer hand = tokenizer::from_tiktoken(HandRanks());
    hand.save(path);
    ExpectSame(hand, tokenizer::load(path));
    size_t files = 0;
    for (const auto &entry : fs::directory_iterator(dir.path())) {
        EXPECT_EQ(entry.path().filename(), "tok.bpekit");
        ++files;
    }
    EXPECT_EQ(files, 1u);
}

TEST(Files, BytesRoundTrip) {
    const tokenizer &tok = Shared();
    const std::string bytes = tok.to_bytes();
    EXPECT_FALSE(bytes.empty());
    const tokenizer back = tokenizer::from_bytes(bytes);
    ExpectSame(tok, back);
    EXPECT_EQ(back.to_bytes(), bytes);

    const tokenizer hand = tokenizer::from_tiktoken(HandRanks(), bpekit::named_pattern("gpt2"), {{"<|x|>", 300}});
    const tokenizer hand_back = tokenizer::from_bytes(hand.to_bytes());
    EXPECT_EQ(hand_back.pattern(), bpekit::named_pattern("gpt2"));
    EXPECT_EQ(hand_back.special_tokens(), hand.special_tokens());
    EXPECT_EQ(hand_back.vocab_size(), 301u);
    EXPECT_EQ(hand_back.encode("abc<|x|>", special_policy::allowing_all()), (Ids{257, 300}));
}

TEST(Files, DamagedBytesAreBadFormat) {
    const std::string bytes = Shared().to_bytes();
    ExpectError(errc::bad_format, [] { tokenizer::from_bytes(""); });
    ExpectError(errc::bad_format, [] { tokenizer::from_bytes("not a bpekit tokenizer"); });
    ExpectError(errc::bad_format, [&] { tokenizer::from_bytes(HandRanks()); });
    ExpectError(errc::bad_format, [&] { tokenizer::from_bytes(std::string_view(bytes).substr(0, bytes.size() / 2)); });
    ExpectError(errc::bad_format, [&] { tokenizer::from_bytes(std::string_view(bytes).substr(0, bytes.size() - 1)); });
    std::string flipped = bytes;
    flipped[flipped.size() / 2] ^= 0x20;
    ExpectError(errc::bad_format, [&] { tokenizer::from_bytes(flipped); });
}

TEST(Files, FileErrors) {
    const TempDir dir;
    const fs::path missing = dir.path() / "missing.bpekit";
    const std::string msg = ExpectError(errc::io, [&] { tokenizer::load(missing); });
    EXPECT_NE(msg.find("missing.bpekit"), std::string::npos) << msg;
    ExpectError(errc::io, [&] { Shared().save(dir.path() / "no-such-dir" / "tok.bpekit"); });
    ExpectError(errc::invalid_arg, [&] { Shared().save(""); });
    ExpectError(errc::invalid_arg, [&] { tokenizer::load(""); });

    // A damaged file is refused as damaged bytes are.
    const fs::path damaged = dir.path() / "damaged.bpekit";
    {
        const std::string bytes = Shared().to_bytes();
        std::ofstream out(damaged, std::ios::binary);
        out << bytes.substr(0, bytes.size() - 3);
    }
    ExpectError(errc::bad_format, [&] { tokenizer::load(damaged); });
}

TEST(Files, MovedFromTokenizer) {
    const TempDir dir;
    tokenizer a = TrainSmall(300);
    const tokenizer b = std::move(a);
    ExpectError(errc::null_arg, [&] { a.save(dir.path() / "x.bpekit"); });  // NOLINT(bugprone-use-after-move)
    ExpectError(errc::null_arg, [&] { a.to_bytes(); });
    EXPECT_FALSE(fs::exists(dir.path() / "x.bpekit"));
    EXPECT_EQ(tokenizer::from_bytes(b.to_bytes()).vocab_size(), 300u);
}

}  // namespace
