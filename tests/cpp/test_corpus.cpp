// Documents from raw bytes: docs::split in each layout and UTF-8 policy, with doc_cap
// and max_chars; docs::from_arrow over Arrow string arrays; the consumers of spans,
// trainer::feed_docs (the same merges as feed_batch) and tokenizer::count_docs (the same
// counts as encode_ordinary); errors with their codes and messages; moves of docs.

#include "common.hpp"

#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace {

using namespace bpekit_test;
using bpekit::doc_span;
using bpekit::docs;
using bpekit::split_options;
using bpekit::utf8_errors;
using Texts = std::vector<std::string_view>;

// The message of an error, checked to contain each of `parts`.
template <class F>
void ExpectErrorMentions(errc code, std::vector<std::string> parts, F &&f) {
    const std::string msg = ExpectError(code, std::forward<F>(f));
    for (const auto &part : parts) EXPECT_NE(msg.find(part), std::string::npos) << "\"" << part << "\" not in: " << msg;
}

// docs::split refuses a std::string rvalue (its documents would view freed bytes) and
// takes everything else that is a string_view.
template <class T, class = void>
struct can_split : std::false_type {};
template <class T>
struct can_split<T, std::void_t<decltype(docs::split(std::declval<T>(), std::declval<const split_options &>()))>>
    : std::true_type {};
static_assert(!can_split<std::string>::value, "docs::split must refuse a temporary std::string");
static_assert(can_split<std::string &>::value && can_split<const std::string &>::value);
static_assert(can_split<std::string_view>::value && can_split<const char *>::value);

// ==== docs::split ====

TEST(Corpus, SplitWhole) {
    const std::string text = "one document\nover two lines";
    const docs d = docs::split(text);
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0], text);
    EXPECT_FALSE(d.owns_data());
    EXPECT_EQ(d.data().data(), text.data());  // the spans index the input itself
    EXPECT_EQ(d.chars(), text.size());
    EXPECT_EQ(d.consumed(), text.size());
    EXPECT_EQ(d.skipped(), 0u);
    EXPECT_FALSE(d.stopped());

    // An empty buffer is one empty document.
    const docs empty = docs::split(std::string_view(), split_options::whole());
    ASSERT_EQ(empty.size(), 1u);
    EXPECT_EQ(empty[0], "");
}

TEST(Corpus, SplitLines) {
    const std::string text = "one\r\ntwo\n\nthr\xc3\xa9\xe6\x97\xa5";
    const docs d = docs::split(text, split_options::lines());
    EXPECT_EQ(d.texts(), (Texts{"one", "two", "", "thr\xc3\xa9\xe6\x97\xa5"}));
    EXPECT_EQ(d.chars(), 11u);  // characters, not bytes
    EXPECT_EQ(d.consumed(), text.size());
    ASSERT_EQ(d.spans().size(), 4u);
    EXPECT_EQ(d.spans()[1].start, 5u);
    EXPECT_EQ(d.spans()[1].end, 8u);
    // A final "\n" ends the last line; it makes no empty document.
    EXPECT_EQ(docs::split(std::string_view("a\nb\n"), split_options::lines()).texts(), (Texts{"a", "b"}));
}

TEST(Corpus, SplitSeparator) {
    const std::string text = "\n\na\n\n\n\nb\nc\n\n";
    const docs d = docs::split(text, split_options::separated_by("\n\n"));
    EXPECT_EQ(d.texts(), (Texts{"a", "b\nc"}));  // empty pieces are not documents
    split_options o;
    o.layout = bpekit::layout::separator;
    o.separator = "<doc>";
    EXPECT_EQ(docs::split(std::string_view("x<doc>y<doc><doc>z"), o).texts(), (Texts{"x", "y", "z"}));
}

TEST(Corpus, SplitJsonl) {
    const std::string text =
        "{\"meta\": {\"text\": \"caf\\u00e9 \\ud83d\\ude00\\n\"}, \"n\": [1, {}]}\n"
        "  \n"
        "{\"meta\": {\"text\": \"plain\", \"text2\": 5}}\n";
    const docs d = docs::split(text, split_options::jsonl("meta.text"));
    EXPECT_EQ(d.texts(), (Texts{"caf\xc3\xa9 \xf0\x9f\x98\x80\n", "plain"}));
    EXPECT_TRUE(d.owns_data());  // unescaped strings live in the docs
    EXPECT_EQ(d.chars(), 12u);
    // The default key is "text".
    EXPECT_EQ(docs::split(std::string_view("{\"text\": \"x\"}\n"), split_options::jsonl()).texts(), (Texts{"x"}));
}

TEST(Corpus, Utf8Policies) {
    const std::string bad = "ok\nx\xffy\n\xc3";
    split_options o = split_options::lines();
    o.source = "bad.txt";
    ExpectErrorMentions(errc::invalid_utf8, {"bad.txt", "byte offset 4 (line 2)"}, [&] { docs::split(bad, o); });

    o.errors = utf8_errors::replace;
    const docs replaced = docs::split(bad, o);
    EXPECT_EQ(replaced.texts(), (Texts{"ok", "x\xef\xbf\xbdy", "\xef\xbf\xbd"}));
    EXPECT_TRUE(replaced.owns_data());

    o.errors = utf8_errors::skip;
    const docs skipped = docs::split(bad, o);
    EXPECT_EQ(skipped.texts(), (Texts{"ok"}));
    EXPECT_EQ(skipped.skipped(), 2u);
    EXPECT_FALSE(skipped.owns_data());

    // Messages count from base_offset and base_line (a chunk of a larger file).
    split_options chunk = split_options::lines();
    chunk.source = "big.txt";
    chunk.base_offset = 4096;
    chunk.base_line = 10;
    ExpectErrorMentions(errc::invalid_utf8, {"big.txt: invalid UTF-8 at byte offset 4104 (line 11)"},
                        [&] { docs::split(std::string_view("fine\nbad\xfe\n"), chunk); });
}

TEST(Corpus, DocCapAndMaxChars) {
    const std::string text = "aaa\nbb\ncccc\nd\n";
    split_options o = split_options::lines();
    o.max_chars = 4;  // "aaa" (3), then "bb" passes the budget: taken, then the split stops
    const docs budget = docs::split(text, o);
    EXPECT_EQ(budget.texts(), (Texts{"aaa", "bb"}));
    EXPECT_TRUE(budget.stopped());
    EXPECT_EQ(budget.consumed(), 7u);  // through "bb\n"
    EXPECT_EQ(budget.chars(), 5u);

    o.doc_cap = 1;
    const docs capped = docs::split(text, o);
    EXPECT_EQ(capped.texts(), (Texts{"a", "b", "c", "d"}));
    EXPECT_FALSE(capped.stopped());
    EXPECT_EQ(capped.consumed(), text.size());

    // The cap counts characters and cuts at a character boundary.
    split_options cap;
    cap.doc_cap = 3;
    EXPECT_EQ(docs::split(std::string_view("h\xc3\xa9\xe6\x97\xa5llo"), cap).texts(), (Texts{"h\xc3\xa9\xe6\x97\xa5"}));
}

TEST(Corpus, SplitErrors) {
    const std::string a = "a";
    ExpectErrorMentions(errc::invalid_arg, {"separator"}, [&] { docs::split(a, split_options::separated_by("")); });
    ExpectErrorMentions(errc::invalid_arg, {"key"}, [&] { docs::split(a, split_options::jsonl("")); });

    split_options o = split_options::jsonl("text");
    o.source = "in.jsonl";
    ExpectErrorMentions(errc::bad_format, {"in.jsonl:3", "key \"text\" missing"}, [&] {
        docs::split(std::string_view("{\"text\": \"a\"}\n\n{\"txt\": \"b\"}\n"), o);
    });
    ExpectErrorMentions(errc::bad_format, {"in.jsonl:1", "not JSON"},
                        [&] { docs::split(std::string_view("{\"text\": 1"), o); });
    ExpectErrorMentions(errc::bad_format, {"not a string"},
                        [&] { docs::split(std::string_view("{\"text\": [\"x\"]}"), o); });
}

// ==== docs::from_arrow ====

TEST(Corpus, FromArrow) {
    // Elements 2..5 of an array: "skip" "me" | "alpha" null "" "βeta".
    const std::string data = "skipmealpha\xce\xb2"
                             "eta";
    const int32_t offs32[] = {0, 4, 6, 11, 11, 11, 16};
    const int64_t offs64[] = {0, 4, 6, 11, 11, 11, 16};
    const uint8_t validity[] = {0x37};  // bits 0, 1, 2, 4, 5: element 3 is null
    const Texts want = {"alpha", "", "\xce\xb2"
                                     "eta"};
    const docs both[] = {docs::from_arrow(data, offs32, 2, 4, validity), docs::from_arrow(data, offs64, 2, 4, validity)};
    for (const docs &d : both) {
        EXPECT_EQ(d.texts(), want);
        EXPECT_FALSE(d.owns_data());
        EXPECT_EQ(d.skipped(), 1u);
        EXPECT_EQ(d.consumed(), 4u);  // elements, nulls included
        EXPECT_EQ(d.chars(), 9u);
    }
    // No validity bitmap: no nulls; doc_cap applies.
    split_options cap;
    cap.doc_cap = 2;
    EXPECT_EQ(docs::from_arrow(data, offs32, 0, 3, nullptr, cap).texts(), (Texts{"sk", "me", "al"}));
    EXPECT_TRUE(docs::from_arrow(std::string_view(), offs32, 0, 0).empty());

    const int32_t down[] = {0, 5, 3};
    ExpectErrorMentions(errc::invalid_arg, {"element 1", "decrease"}, [&] { docs::from_arrow(data, down, 0, 2); });
    const int64_t past[] = {0, 5, 1000};
    ExpectErrorMentions(errc::invalid_arg, {"element 1", "1000"}, [&] { docs::from_arrow(data, past, 0, 2); });
    const int32_t split_char[] = {0, 12};  // ends inside "β"
    split_options named;
    named.source = "col.parquet";
    ExpectErrorMentions(errc::invalid_utf8, {"col.parquet", "element 0"},
                        [&] { docs::from_arrow(data, split_char, 0, 1, nullptr, named); });
}

// ==== Moves ====

TEST(Corpus, DocsMove) {
    const std::string text = "a\nb\n";
    docs a = docs::split(text, split_options::lines());
    docs b = std::move(a);
    EXPECT_EQ(b.texts(), (Texts{"a", "b"}));
    EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): moved-from is empty
    EXPECT_EQ(a.data(), "");
    a = docs::split(std::string_view("{\"text\": \"x\"}"), split_options::jsonl());
    b = std::move(a);  // releases b's documents, takes a's
    EXPECT_EQ(b.texts(), (Texts{"x"}));
    const docs none;
    EXPECT_EQ(none.size(), 0u);
    EXPECT_EQ(none.chars(), 0u);
}

// ==== Consumers of spans ====

// The built-in corpus, one text per line (no text of it contains "\n").
std::string CorpusLines() {
    std::string out;
    for (const auto &text : Corpus()) out += text + "\n";
    return out;
}

TEST(Corpus, FeedDocsTrainsAsFeedBatch) {
    const std::string buffer = CorpusLines();
    const docs d = docs::split(buffer, split_options::lines());
    ASSERT_EQ(d.size(), Corpus().size());

    trainer by_docs, by_batch, by_spans;
    by_docs.feed_docs(d);
    by_batch.feed_batch(Corpus());
    const std::vector<doc_span> spans(d.spans().begin(), d.spans().end());
    by_spans.feed_docs(buffer, spans);
    EXPECT_EQ(by_docs.texts(), Corpus().size());
    EXPECT_EQ(by_docs.bytes(), by_batch.bytes());
    const std::string want = by_batch.finish(kVocab).to_bytes();
    EXPECT_EQ(by_docs.finish(kVocab).to_bytes(), want);
    EXPECT_EQ(by_spans.finish(kVocab).to_bytes(), want);
}

TEST(Corpus, FeedDocsErrorsCountNothing) {
    trainer t;
    const std::string buffer = "abc def";
    ExpectErrorMentions(errc::invalid_arg, {"spans[1]"}, [&] { t.feed_docs(buffer, std::vector<doc_span>{{0, 3}, {5, 2}}); });
    ExpectErrorMentions(errc::invalid_arg, {"spans[1]"}, [&] { t.feed_docs(buffer, std::vector<doc_span>{{0, 3}, {4, 8}}); });
    ExpectErrorMentions(errc::invalid_utf8, {"spans[0]"},
                        [&] { t.feed_docs(std::string_view("ab\xff"), std::vector<doc_span>{{0, 3}}); });
    EXPECT_EQ(t.texts(), 0u);
    t.feed_docs(std::string_view(), bpekit::doc_spans());  // nothing is fine
    EXPECT_EQ(t.texts(), 0u);
}

TEST(Corpus, CountDocsEqualsEncodeOrdinary) {
    const tokenizer &tok = Shared();
    // Special-token text counts as ordinary text, as encode_ordinary encodes it.
    const std::string text = CorpusLines() + "the " + kEot + " the\n\xc3\xbc" "ber " + kPad + "\n\nlast";
    const docs d = docs::split(text, split_options::lines());
    ASSERT_GT(d.size(), Corpus().size());
    std::vector<uint64_t> want;
    for (const auto &doc : d.texts()) want.push_back(tok.encode_ordinary(doc).size());
    for (const size_t threads : {0, 1, 2}) {
        EXPECT_EQ(tok.count_docs(d, threads), want) << threads << " threads";
        EXPECT_EQ(tok.count_docs(d.data(), d.spans(), threads), want) << threads << " threads";
    }
    EXPECT_TRUE(tok.count_docs(std::string_view(), bpekit::doc_spans()).empty());
    ExpectErrorMentions(errc::invalid_arg, {"spans[0]"},
                        [&] { tok.count_docs(std::string_view("abc"), std::vector<doc_span>{{2, 4}}); });
    ExpectErrorMentions(errc::invalid_utf8, {"spans[1]"},
                        [&] { tok.count_docs(std::string_view("ok\xff"), std::vector<doc_span>{{0, 2}, {1, 3}}); });
    ExpectError(errc::null_arg, [&] { tokenizer().count_docs(d); });
}

}  // namespace
