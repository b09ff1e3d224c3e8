// The C++ wrapper against the C header it wraps, read as text: every BPEKIT_ERR_* code
// of include/bpekit.h has a bpekit::errc of the same value and the library's name for
// it, and every function of the header is reachable through the wrapper. Both tests
// fail when the Rust side adds a code or a function and the C++ side does not follow.
//
// BPEKIT_HEADER_PATH (set by CMake) is the repository's include/bpekit.h, the header
// that ci/check_header.sh keeps equal to what cbindgen makes of core/src/capi.

#include "common.hpp"

#include <algorithm>
#include <fstream>
#include <iterator>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#ifndef BPEKIT_HEADER_PATH
#error "BPEKIT_HEADER_PATH must name include/bpekit.h (tests/cpp/CMakeLists.txt sets it)"
#endif

namespace {

using namespace bpekit_test;

std::vector<std::string> HeaderLines() {
    std::ifstream in(BPEKIT_HEADER_PATH, std::ios::binary);
    EXPECT_TRUE(in) << "cannot read " << BPEKIT_HEADER_PATH;
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

// Every `#define BPEKIT_ERR_<NAME> <value>` of the header, in order.
std::vector<std::pair<std::string, bpekit_status>> HeaderErrorCodes() {
    const std::regex define(R"(#define (BPEKIT_ERR_[A-Z0-9_]+) (-?[0-9]+)\s*)");
    std::vector<std::pair<std::string, bpekit_status>> out;
    std::smatch m;
    for (const auto &line : HeaderLines()) {
        if (std::regex_match(line, m, define)) {
            out.emplace_back(m[1].str(), static_cast<bpekit_status>(std::stol(m[2].str())));
        }
    }
    return out;
}

// The name of every function the header declares (a line that starts with its type).
std::set<std::string> HeaderFunctions() {
    const std::regex decl(R"([A-Za-z][^;/(]*\b(bpekit_[a-z0-9_]+)\(.*)");
    std::set<std::string> out;
    std::smatch m;
    for (const auto &line : HeaderLines()) {
        if (std::regex_match(line, m, decl)) out.insert(m[1].str());
    }
    return out;
}

TEST(Header, EveryErrorCodeHasAnErrc) {
    const auto codes = HeaderErrorCodes();
    ASSERT_GE(codes.size(), 11u) << "no BPEKIT_ERR_* found in " << BPEKIT_HEADER_PATH;
    for (const auto &[name, value] : codes) {
        const auto it = std::find(std::begin(bpekit::all_errcs), std::end(bpekit::all_errcs), static_cast<errc>(value));
        EXPECT_NE(it, std::end(bpekit::all_errcs))
            << name << " = " << value << " has no bpekit::errc: add it to bpekit.hpp (errc and all_errcs)";
        EXPECT_STREQ(bpekit::status_name(static_cast<errc>(value)), name.c_str())
            << "the library names code " << value << " otherwise than the header";
    }
    // And the other way: no errc that the header no longer has, none listed twice.
    std::set<bpekit_status> header_values, seen;
    for (const auto &code : codes) header_values.insert(code.second);
    for (const errc code : bpekit::all_errcs) {
        const auto value = static_cast<bpekit_status>(code);
        EXPECT_EQ(header_values.count(value), 1u) << "errc value " << value << " is not a BPEKIT_ERR_* of the header";
        EXPECT_TRUE(seen.insert(value).second) << "errc value " << value << " listed twice in all_errcs";
    }
}

TEST(Errors, ErrcNamesAreTheLibrarysNames) {
    EXPECT_STREQ(bpekit::status_name(errc::io), "BPEKIT_ERR_IO");
    EXPECT_STREQ(bpekit::status_name(errc::bad_format), "BPEKIT_ERR_BAD_FORMAT");
    EXPECT_STREQ(bpekit::status_name(errc::null_arg), "BPEKIT_ERR_NULL_ARG");
    EXPECT_EQ(static_cast<bpekit_status>(errc::io), BPEKIT_ERR_IO);
    const bpekit::error e(errc::io, "disk on fire");
    EXPECT_EQ(e.code(), errc::io);
    EXPECT_EQ(e.status(), BPEKIT_ERR_IO);
    EXPECT_STREQ(e.code_name(), "BPEKIT_ERR_IO");
    EXPECT_STREQ(e.what(), "disk on fire");
}

TEST(Errors, IoErrorIsNamedIo) {
    try {
        tokenizer::load("/nonexistent-bpekit-dir/no-such.bpekit");
        FAIL() << "no exception";
    } catch (const bpekit::error &e) {
        EXPECT_EQ(e.code(), errc::io);
        EXPECT_STREQ(e.code_name(), "BPEKIT_ERR_IO");
    }
}

// Each function of bpekit.h and what reaches it from C++. Functions kept for one host
// (the Python binding) are not wrapped; they leave bpekit.h for bpekit_host.h.
const std::map<std::string, std::string> &WrappedBy() {
    static const std::map<std::string, std::string> table = {
        {"bpekit_abi_version", "bpekit::abi_version, bpekit::check_abi"},
        {"bpekit_bytes_free", "(every call returning bytes; RAII)"},
        {"bpekit_counts_merge", "bpekit::merge_counts"},
        {"bpekit_counts_read_info", "bpekit::read_counts_info"},
        {"bpekit_docs_free", "(docs's destructor)"},
        {"bpekit_docs_from_arrow", "docs::from_arrow"},
        {"bpekit_docs_split", "docs::split"},
        {"bpekit_error_code", "(every fallible call; bpekit::error::code)"},
        {"bpekit_error_free", "(every fallible call; RAII)"},
        {"bpekit_error_message", "(every fallible call; bpekit::error::what)"},
        {"bpekit_offsets_free", "(tokenizer::encode_batch, encode_with_unstable, read_shard, shard_documents; RAII)"},
        {"bpekit_pattern_named", "bpekit::named_pattern"},
        {"bpekit_shard_documents", "bpekit::shard_documents"},
        {"bpekit_shard_read", "bpekit::read_shard"},
        {"bpekit_shard_plan", "bpekit::shard_plan"},
        {"bpekit_shard_read_info", "bpekit::read_shard_info"},
        {"bpekit_shard_writer_completed", "shard_writer::completed"},
        {"bpekit_shard_writer_finish", "shard_writer::finish"},
        {"bpekit_shard_writer_free", "(shard_writer's destructor)"},
        {"bpekit_shard_writer_new", "shard_writer::create"},
        {"bpekit_shard_writer_push", "shard_writer::push"},
        {"bpekit_shard_writer_push_ids", "shard_writer::push_ids"},
        {"bpekit_shard_writer_shard", "shard_writer::shard, shard_writer::records"},
        {"bpekit_status_name", "bpekit::status_name, bpekit::error::code_name"},
        {"bpekit_tokenizer_count", "tokenizer::count"},
        {"bpekit_tokenizer_count_utf16", "tokenizer::count (std::u16string_view)"},
        {"bpekit_tokenizer_count_docs", "tokenizer::count_docs"},
        {"bpekit_tokenizer_decode", "tokenizer::decode"},
        {"bpekit_tokenizer_encode", "tokenizer::encode"},
        {"bpekit_tokenizer_encode_batch", "tokenizer::encode_batch"},
        {"bpekit_tokenizer_encode_into", "tokenizer::encode_into"},
        {"bpekit_tokenizer_encode_utf16_into", "tokenizer::encode_into (std::u16string_view)"},
        {"bpekit_tokenizer_encode_ordinary", "tokenizer::encode_ordinary"},
        {"bpekit_tokenizer_encode_bytes", "tokenizer::encode_bytes"},
        {"bpekit_tokenizer_merge_rules", "tokenizer::merge_rules"},
        {"bpekit_tokenizer_encode_with_offsets", "tokenizer::encode_with_offsets"},
        {"bpekit_tokenizer_encode_piece", "tokenizer::encode_piece"},
        {"bpekit_stream_decoder_new", "stream_decoder::stream_decoder"},
        {"bpekit_stream_decoder_add", "stream_decoder::add"},
        {"bpekit_stream_decoder_flush", "stream_decoder::flush"},
        {"bpekit_stream_decoder_free", "stream_decoder::~stream_decoder"},
        {"bpekit_tokenizer_encode_with_unstable", "tokenizer::encode_with_unstable"},
        {"bpekit_tokenizer_export_tiktoken", "tokenizer::export_tiktoken"},
        {"bpekit_tokenizer_free", "(tokenizer's destructor)"},
        {"bpekit_tokenizer_from_bytes", "tokenizer::from_bytes"},
        {"bpekit_tokenizer_from_tiktoken", "tokenizer::from_tiktoken (no special tokens)"},
        {"bpekit_tokenizer_load", "tokenizer::load"},
        {"bpekit_tokenizer_new", "tokenizer::from_tiktoken (with special tokens)"},
        {"bpekit_tokenizer_normalization", "tokenizer::normalization"},
        {"bpekit_tokenizer_with_normalization", "tokenizer::with_normalization"},
        {"bpekit_tokenizer_pattern", "tokenizer::pattern"},
        {"bpekit_tokenizer_save", "tokenizer::save"},
        {"bpekit_tokenizer_special_count", "tokenizer::special_tokens"},
        {"bpekit_tokenizer_special_token", "tokenizer::special_tokens"},
        {"bpekit_tokenizer_split_engine", "tokenizer::split_engine"},
        {"bpekit_tokenizer_to_bytes", "tokenizer::to_bytes"},
        {"bpekit_tokenizer_token_bytes", "tokenizer::token_bytes"},
        {"bpekit_tokenizer_token_id", "tokenizer::token_id"},
        {"bpekit_tokenizer_vocab_size", "tokenizer::vocab_size"},
        {"bpekit_tokens_free", "(every call returning ids; RAII)"},
        {"bpekit_trainer_add_counts", "trainer::add_counts"},
        {"bpekit_trainer_bytes", "trainer::bytes"},
        {"bpekit_trainer_export_counts", "trainer::export_counts"},
        {"bpekit_trainer_feed", "trainer::feed"},
        {"bpekit_trainer_feed_batch", "trainer::feed_batch"},
        {"bpekit_trainer_feed_docs", "trainer::feed_docs"},
        {"bpekit_trainer_finish", "trainer::finish"},
        {"bpekit_trainer_free", "(trainer's destructor)"},
        {"bpekit_trainer_new", "trainer::trainer"},
        {"bpekit_trainer_progress", "trainer::progress"},
        {"bpekit_trainer_set_special_tokens", "trainer::set_special_tokens"},
        {"bpekit_trainer_set_threads", "trainer::set_threads"},
        {"bpekit_trainer_texts", "trainer::texts"},
        {"bpekit_version", "bpekit::version"},
    };
    return table;
}

TEST(Header, EveryFunctionIsReachable) {
    const std::set<std::string> functions = HeaderFunctions();
    ASSERT_GE(functions.size(), 40u) << "few functions found in " << BPEKIT_HEADER_PATH;
    for (const auto &name : functions) {
        EXPECT_EQ(WrappedBy().count(name), 1u)
            << name << " is in bpekit.h but not reachable from bpekit.hpp: wrap it and list it here";
    }
    for (const auto &[name, wrapper] : WrappedBy()) {
        EXPECT_EQ(functions.count(name), 1u) << name << " (" << wrapper << ") is no longer in bpekit.h";
    }
}

}  // namespace
