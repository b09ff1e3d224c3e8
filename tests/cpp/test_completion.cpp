// tokenizer::encode_with_unstable (completion, tiktoken's encode_with_unstable) against
// the C call it wraps and against its contract, and tokenizer::encode_into (a buffer the
// caller owns).

#include "common.hpp"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

namespace {

using namespace bpekit_test;

const std::vector<std::string> &CompletionTexts() {
    static const std::vector<std::string> texts = {
        "the tokenizer", "The tok", "merges  ", "x.\n\n", "a\n\n  \t", "hello!!", "caf\xc3\xa9",
        "\xe6\x97\xa5\xe6\x9c\xac", "1234", " ", "\n", "in th",
    };
    return texts;
}

// The C call's result for `text` under `policy`, split as the wrapper splits it.
bpekit::unstable_encoding CResult(const tokenizer &tok, const std::string &text, const bpekit_special_policy *policy) {
    bpekit_tokens stable{nullptr, 0}, completions{nullptr, 0};
    bpekit_offsets offsets{nullptr, 0};
    bpekit_error *err = nullptr;
    const bpekit_status status = bpekit_tokenizer_encode_with_unstable(
        tok.capi(), reinterpret_cast<const uint8_t *>(text.data()), text.size(), policy, &stable, &completions,
        &offsets, &err);
    EXPECT_EQ(status, BPEKIT_OK) << bpekit_error_message(err);
    bpekit_error_free(err);
    bpekit::unstable_encoding out;
    out.stable.assign(stable.ids, stable.ids + stable.len);
    for (size_t i = 0; i + 1 < offsets.len; ++i) {
        out.completions.emplace_back(completions.ids + offsets.data[i], completions.ids + offsets.data[i + 1]);
    }
    bpekit_tokens_free(&stable);
    bpekit_tokens_free(&completions);
    bpekit_offsets_free(&offsets);
    return out;
}

TEST(Completion, EqualsTheCResult) {
    const tokenizer &tok = Shared();
    for (const auto &text : CompletionTexts()) {
        const bpekit::unstable_encoding cpp = tok.encode_with_unstable(text);
        const bpekit::unstable_encoding c = CResult(tok, text, nullptr);
        EXPECT_EQ(cpp.stable, c.stable) << text;
        EXPECT_EQ(cpp.completions, c.completions) << text;
    }
    bpekit_special_policy all{};
    all.flags = BPEKIT_SPECIAL_ALLOW_ALL;
    const std::string text = "the " + kEot + " and th";
    const auto cpp = tok.encode_with_unstable(text, special_policy::allowing_all());
    const auto c = CResult(tok, text, &all);
    EXPECT_EQ(cpp.stable, c.stable);
    EXPECT_EQ(cpp.completions, c.completions);
}

TEST(Completion, Contract) {
    const tokenizer &tok = Shared();
    for (const auto &text : CompletionTexts()) {
        const auto [stable, completions] = tok.encode_with_unstable(text);
        // The stable ids are a prefix of the encoding.
        const Ids full = tok.encode(text);
        ASSERT_LE(stable.size(), full.size()) << text;
        EXPECT_TRUE(std::equal(stable.begin(), stable.end(), full.begin())) << text;
        // A text not ending in a special token has completions, sorted and distinct, and
        // the stable ids followed by any of them decode to the text and maybe more.
        ASSERT_FALSE(completions.empty()) << text;
        EXPECT_TRUE(std::is_sorted(completions.begin(), completions.end())) << text;
        EXPECT_EQ(std::adjacent_find(completions.begin(), completions.end()), completions.end()) << text;
        for (const Ids &rest : completions) {
            EXPECT_FALSE(rest.empty()) << text;
            Ids joined = stable;
            joined.insert(joined.end(), rest.begin(), rest.end());
            const std::string decoded = tok.decode(joined);
            EXPECT_EQ(decoded.compare(0, text.size(), text), 0) << text;
        }
    }
}

TEST(Completion, EmptyTextAndAllowedSpecialAtTheEnd) {
    const tokenizer &tok = Shared();
    const auto empty = tok.encode_with_unstable("");
    EXPECT_TRUE(empty.stable.empty());
    EXPECT_TRUE(empty.completions.empty());

    const std::string text = "hello world" + kEot;
    const auto special = tok.encode_with_unstable(text, special_policy::allowing_all());
    EXPECT_EQ(special.stable, tok.encode(text, special_policy::allowing_all()));
    EXPECT_TRUE(special.completions.empty());
}

TEST(Completion, Errors) {
    const tokenizer &tok = Shared();
    ExpectError(errc::disallowed_special, [&] { tok.encode_with_unstable("a " + kEot); });
    ExpectError(errc::invalid_utf8, [&] { tok.encode_with_unstable("bad \xff"); });
    tokenizer empty;
    ExpectError(errc::null_arg, [&] { empty.encode_with_unstable("x"); });
    // Special-token text under the ordinary policy is text.
    EXPECT_FALSE(tok.encode_with_unstable(kEot, special_policy::ordinary()).completions.empty());
}

// ==== encode_into ====

TEST(EncodeInto, MatchesEncode) {
    const tokenizer &tok = Shared();
    for (const auto &text : SampleTexts()) {
        std::vector<uint32_t> buf(text.size() + 1, 0xdeadbeef);
        const size_t n = tok.encode_into(text, buf.data(), buf.size());
        EXPECT_EQ(Ids(buf.begin(), buf.begin() + n), tok.encode(text)) << text;
#if __cplusplus >= 202002L
        std::vector<uint32_t> buf2(text.size(), 0);
        const size_t n2 = tok.encode_into(text, std::span<uint32_t>(buf2));
        EXPECT_EQ(Ids(buf2.begin(), buf2.begin() + n2), tok.encode(text)) << text;
#endif
    }
    const std::string text = "one " + kEot + " two";
    std::vector<uint32_t> buf(text.size());
    const size_t n = tok.encode_into(text, buf.data(), buf.size(), special_policy::allowing_all());
    EXPECT_EQ(Ids(buf.begin(), buf.begin() + n), tok.encode(text, special_policy::allowing_all()));
    EXPECT_EQ(tok.encode_into("", nullptr, 0), 0u);
}

TEST(EncodeInto, TooSmallLeavesTheBufferAlone) {
    const tokenizer &tok = Shared();
    const std::string text = "words never seen in training: xylophone quixotic zephyr";
    const size_t needed = tok.encode(text).size();
    ASSERT_GT(needed, 1u);
    std::vector<uint32_t> buf(needed - 1, 0xdeadbeef);
    const std::string msg = ExpectError(errc::buffer_too_small, [&] { tok.encode_into(text, buf.data(), buf.size()); });
    EXPECT_NE(msg.find(std::to_string(needed)), std::string::npos) << msg;
    EXPECT_TRUE(std::all_of(buf.begin(), buf.end(), [](uint32_t v) { return v == 0xdeadbeef; }));
    ExpectError(errc::buffer_too_small, [&] { tok.encode_into(text, nullptr, 0); });
    ExpectError(errc::disallowed_special, [&] { tok.encode_into(kEot, buf.data(), buf.size()); });
    tokenizer empty;
    ExpectError(errc::null_arg, [&] { empty.encode_into("x", buf.data(), buf.size()); });
}

// The UTF-16 of valid UTF-8 (the test's own decoder, independent of the library's).
static std::u16string Utf16(const std::string &s) {
    std::u16string out;
    for (size_t i = 0; i < s.size();) {
        const auto b = static_cast<unsigned char>(s[i]);
        const size_t n = b < 0x80 ? 1 : b < 0xe0 ? 2 : b < 0xf0 ? 3 : 4;
        char32_t c = n == 1 ? b : b & (0x7f >> n);
        for (size_t k = 1; k < n; k++) c = (c << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3f);
        if (c >= 0x10000) {
            out.push_back(static_cast<char16_t>(0xd800 + ((c - 0x10000) >> 10)));
            out.push_back(static_cast<char16_t>(0xdc00 + ((c - 0x10000) & 0x3ff)));
        } else {
            out.push_back(static_cast<char16_t>(c));
        }
        i += n;
    }
    return out;
}

TEST(EncodeInto, Utf16GivesTheIdsOfItsUtf8) {
    const tokenizer &tok = Shared();
    for (const auto &text : SampleTexts()) {
        const std::u16string wide = Utf16(text);
        std::vector<uint32_t> buf(3 * wide.size() + 1, 0xdeadbeef);
        const size_t n = tok.encode_into(std::u16string_view(wide), buf.data(), buf.size());
        EXPECT_EQ(Ids(buf.begin(), buf.begin() + n), tok.encode(text)) << text;
        EXPECT_EQ(tok.count(std::u16string_view(wide)), n) << text;
    }
    const std::u16string special = Utf16("one " + kEot + " two");
    std::vector<uint32_t> buf(3 * special.size());
    const size_t n = tok.encode_into(std::u16string_view(special), buf.data(), buf.size(), special_policy::allowing_all());
    EXPECT_EQ(Ids(buf.begin(), buf.begin() + n), tok.encode("one " + kEot + " two", special_policy::allowing_all()));
    ExpectError(errc::disallowed_special, [&] { tok.count(std::u16string_view(special)); });
    const std::u16string lone = u"ok \xd800 then";
    const std::string msg = ExpectError(errc::invalid_utf8, [&] { tok.count(std::u16string_view(lone)); });
    EXPECT_NE(msg.find("unit 3"), std::string::npos) << msg;
    ExpectError(errc::buffer_too_small, [&] {
        tok.encode_into(std::u16string_view(special), buf.data(), 1, special_policy::allowing_all());
    });
}

TEST(StreamDecoder, IdByIdEqualsTheWholeDecode) {
    const tokenizer &tok = Shared();
    const std::string text = "streamed text: h\xc3\xa9llo w\xc3\xb6rld \xe4\xbd\xa0\xe5\xa5\xbd \xf0\x9f\x99\x82!";
    const Ids ids = tok.encode_ordinary(text);
    bpekit::stream_decoder dec;
    std::string joined;
    for (uint32_t id : ids) {
        const std::string piece = dec.add(tok, id);
        EXPECT_TRUE(piece.empty() || (static_cast<unsigned char>(piece[0]) & 0xC0) != 0x80) << "no partial character";
        joined += piece;
    }
    joined += dec.flush();
    EXPECT_EQ(joined, text);
}

TEST(StreamDecoder, HoldsBackThenFlushes) {
    const tokenizer &tok = Shared();
    const uint32_t e4 = tok.token_id("\xe4"), bd = tok.token_id("\xbd"), a0 = tok.token_id("\xa0");
    bpekit::stream_decoder dec;
    EXPECT_EQ(dec.add(tok, Ids{e4, bd}), "");
    EXPECT_EQ(dec.add(tok, a0), "\xe4\xbd\xa0");
    EXPECT_EQ(dec.add(tok, e4), "");
    EXPECT_EQ(dec.flush(), "\xef\xbf\xbd");  // U+FFFD
    EXPECT_EQ(dec.flush(), "");
    bpekit::stream_decoder raw(bpekit::utf8_mode::bytes);
    EXPECT_EQ(raw.add(tok, e4), "");
    EXPECT_EQ(raw.flush(), "\xe4");
}

TEST(StreamDecoder, ErrorsAddNothing) {
    const tokenizer &tok = Shared();
    const uint32_t e4 = tok.token_id("\xe4"), bd = tok.token_id("\xbd"), a0 = tok.token_id("\xa0");
    bpekit::stream_decoder dec(bpekit::utf8_mode::strict);
    EXPECT_EQ(dec.add(tok, e4), "");
    ExpectError(errc::unknown_token, [&] { dec.add(tok, Ids{bd, static_cast<uint32_t>(tok.vocab_size()) + 7}); });
    ExpectError(errc::invalid_utf8, [&] { dec.add(tok, tok.token_id("x")); });
    ExpectError(errc::invalid_utf8, [&] { dec.flush(); });
    EXPECT_EQ(dec.add(tok, Ids{bd, a0}), "\xe4\xbd\xa0");
    ExpectError(errc::invalid_arg, [&] { bpekit::stream_decoder bad(static_cast<bpekit::utf8_mode>(7)); });
}

TEST(EncodeBytes, CutTextRoundTripsAndPiecesMerge) {
    const tokenizer &tok = Shared();
    const std::string text = "the cat sat on the mat";
    EXPECT_EQ(tok.encode_bytes(text), tok.encode_ordinary(text));
    const std::string cut = text + " \xe4\xbd";
    EXPECT_EQ(tok.decode(tok.encode_bytes(cut)), cut);
    EXPECT_EQ(tok.decode(tok.encode_piece(cut)), cut);
    EXPECT_EQ(tok.encode_piece(" mat"), tok.encode_ordinary(" mat"));
    EXPECT_TRUE(tok.encode_piece("").empty());
}

TEST(EncodeWithOffsets, ByteSpansTileAndCharSpansHoldSplitCharacters) {
    const tokenizer &tok = Shared();
    const std::string text = "a \xe4\xbd\xa0 b" + kEot + "!";
    const auto all = special_policy::allowing_all();
    const bpekit::token_spans b = tok.encode_with_offsets(text, all);
    EXPECT_EQ(b.ids, tok.encode(text, all));
    ASSERT_EQ(b.starts.size(), b.ids.size());
    size_t at = 0;
    for (size_t i = 0; i < b.ids.size(); i++) {
        EXPECT_EQ(b.starts[i], at);
        EXPECT_EQ(text.substr(b.starts[i], b.ends[i] - b.starts[i]), tok.decode({b.ids[i]}));
        at = b.ends[i];
    }
    EXPECT_EQ(at, text.size());
    const bpekit::token_spans c = tok.encode_with_offsets(text, all, bpekit::offset_unit::character);
    EXPECT_EQ(c.ids, b.ids);
    EXPECT_EQ(c.ends.back(), 5u + kEot.size() + 1);  // "a X b" is 5 characters
    ExpectError(errc::invalid_arg, [&] { tok.encode_with_offsets("x", all, static_cast<bpekit::offset_unit>(5)); });
    ExpectError(errc::disallowed_special, [&] { tok.encode_with_offsets(kEot, special_policy{}); });
}

TEST(Normalization, NfcCopyComposesBeforeSplittingAndIsSaved) {
    const tokenizer &tok = Shared();
    const tokenizer nfc = tok.with_normalization(bpekit::normalization::nfc);
    EXPECT_EQ(nfc.normalization(), bpekit::normalization::nfc);
    EXPECT_EQ(tok.normalization(), bpekit::normalization::none);
    const std::string decomposed = "cafe\xcc\x81", composed = "caf\xc3\xa9";
    EXPECT_EQ(nfc.encode_ordinary(decomposed), nfc.encode_ordinary(composed));
    EXPECT_NE(tok.encode_ordinary(decomposed), nfc.encode_ordinary(decomposed));
    EXPECT_EQ(tokenizer::from_bytes(nfc.to_bytes()).normalization(), bpekit::normalization::nfc);
    ExpectError(errc::invalid_arg, [&] { tok.with_normalization(static_cast<bpekit::normalization>(7)); });
}

TEST(MergeRules, HandRanks) {
    // HandRanks: the 256 bytes, then "ab" = 256 and "abc" = 257.
    const tokenizer tok = tokenizer::from_tiktoken(HandRanks());
    const auto rules = tok.merge_rules();
    ASSERT_EQ(rules.size(), 2u);
    EXPECT_EQ(rules[0], (tokenizer::merge_rule{'a', 'b', 256}));
    EXPECT_EQ(rules[1], (tokenizer::merge_rule{256, 'c', 257}));
}

}  // namespace
