// Shared fixtures of the C++ wrapper tests (tests/cpp/test_*.cpp): a small built-in
// corpus and the tokenizers trained on it, a hand-written rank table, ExpectError, and a
// temporary directory.
// Everything is inline, so each test file includes this header on its own.
#ifndef BPEKIT_TEST_COMMON_HPP
#define BPEKIT_TEST_COMMON_HPP

#include "bpekit.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace bpekit {
// GoogleTest prints an errc by its name (found by argument-dependent lookup).
inline void PrintTo(errc code, std::ostream *os) { *os << status_name(code); }
}  // namespace bpekit

namespace bpekit_test {

using bpekit::errc;
using bpekit::special_policy;
using bpekit::tokenizer;
using bpekit::trainer;
using Ids = std::vector<uint32_t>;

// ==== Fixtures and helpers ====

inline const std::vector<std::string> &Corpus() {
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

inline constexpr uint32_t kVocab = 400;
inline const std::string kEot = "<|endoftext|>";
inline const std::string kPad = "<|pad|>";

inline tokenizer TrainSmall(uint32_t vocab = kVocab) {
    trainer t;
    for (const auto &text : Corpus()) t.feed(text);
    return t.finish(vocab);
}

// A tokenizer with two special tokens, trained once and shared by the read-only tests.
inline const tokenizer &Shared() {
    static const tokenizer tok = [] {
        trainer t;
        t.feed_batch(Corpus());
        t.set_special_tokens({kEot, kPad});
        return t.finish(kVocab);
    }();
    return tok;
}

inline std::string Base64(std::string_view in) {
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
inline std::string HandRanks() {
    std::string ranks;
    for (int b = 0; b < 256; ++b) ranks += Base64(std::string(1, char(b))) + " " + std::to_string(b) + "\n";
    ranks += Base64("ab") + " 256\n";
    ranks += Base64("abc") + " 257\n";
    return ranks;
}

// Runs `f`, expects it to throw bpekit::error with `code`, returns the message.
template <class F>
std::string ExpectError(errc code, F &&f) {
    try {
        f();
    } catch (const bpekit::error &e) {
        EXPECT_EQ(e.code(), code) << e.code_name() << ": " << e.what();
        EXPECT_STRNE(e.what(), "");
        return e.what();
    }
    ADD_FAILURE() << "expected bpekit::error " << bpekit::status_name(code);
    return {};
}

// A new empty directory under the system's temporary directory, removed with its
// contents when the object goes out of scope.
class TempDir {
public:
    TempDir() {
        std::random_device rd;
        for (int attempt = 0; attempt < 100; ++attempt) {
            const std::filesystem::path p =
                std::filesystem::temp_directory_path() / ("bpekit-cpp-test-" + std::to_string(rd()));
            if (std::filesystem::create_directory(p)) {
                path_ = p;
                return;
            }
        }
        throw std::runtime_error("cannot create a temporary directory");
    }
    TempDir(const TempDir &) = delete;
    TempDir &operator=(const TempDir &) = delete;
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    const std::filesystem::path &path() const { return path_; }

private:
    std::filesystem::path path_;
};

// The bytes of a file ("" when it cannot be read).
inline std::string ReadFile(const std::filesystem::path &p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

inline std::vector<std::string> SampleTexts() {
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

}  // namespace bpekit_test

#endif  // BPEKIT_TEST_COMMON_HPP
