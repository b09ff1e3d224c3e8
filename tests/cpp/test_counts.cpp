// Count tables from C++: merge_counts equals one trainer fed everything (bytes and
// tokenizer), prunes, and names the bad table; read_counts_info reads what it checked.

#include "common.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace bpekit_test;

// A trainer with the default pattern fed every `parts`-th text of the corpus, from `part`.
trainer PartTrainer(size_t parts, size_t part) {
    trainer t;
    for (size_t i = part; i < Corpus().size(); i += parts) t.feed(Corpus()[i]);
    return t;
}

TEST(Counts, MergeEqualsOneTrainer) {
    trainer all = PartTrainer(1, 0);
    const std::string want = all.export_counts();
    std::vector<std::string> tables;
    for (size_t p = 0; p < 3; ++p) tables.push_back(PartTrainer(3, p).export_counts());
    const std::string merged = bpekit::merge_counts(tables);
    EXPECT_EQ(merged, want);
    EXPECT_EQ(bpekit::merge_counts({tables[2], tables[0], tables[1]}), want);
    // A tree of merges gives the same table.
    const std::string ab = bpekit::merge_counts({tables[0], tables[1]});
    EXPECT_EQ(bpekit::merge_counts(std::vector<std::string_view>{ab, tables[2]}), want);
    EXPECT_EQ(bpekit::merge_counts({want}), want);
    // ... and the same tokenizer.
    trainer t;
    t.add_counts(merged);
    EXPECT_EQ(t.texts(), Corpus().size());
    EXPECT_EQ(t.finish(kVocab).export_tiktoken(), all.finish(kVocab).export_tiktoken());
}

TEST(Counts, MergePrunesTheOutput) {
    const std::string table = PartTrainer(1, 0).export_counts();
    const bpekit::counts_info full = bpekit::read_counts_info(bpekit::merge_counts({table, table}, 1));
    // Each paragraph of the corpus occurs 20 times (40 in the doubled table), each round
    // number 4 times (8): 9 drops the numbers' pieces and keeps the paragraphs'.
    const bpekit::counts_info pruned = bpekit::read_counts_info(bpekit::merge_counts({table, table}, 9));
    EXPECT_EQ(full.pieces, bpekit::read_counts_info(table).pieces);
    EXPECT_GT(pruned.pieces, 0u);
    EXPECT_LT(pruned.pieces, full.pieces);
    EXPECT_EQ(pruned.texts, 2 * Corpus().size());
    EXPECT_EQ(pruned.bytes, full.bytes);
}

TEST(Counts, ReadInfo) {
    trainer t = PartTrainer(1, 0);
    const std::string table = t.export_counts();
    const bpekit::counts_info info = bpekit::read_counts_info(table);
    EXPECT_EQ(info.version, 2u);
    EXPECT_EQ(info.pattern, bpekit::named_pattern("cl100k_base"));
    EXPECT_EQ(info.texts, t.texts());
    EXPECT_EQ(info.bytes, t.bytes());
    EXPECT_GT(info.pieces, 50u);
    EXPECT_EQ(bpekit::read_counts_info(trainer("\\w+").export_counts()).pattern, "\\w+");
}

TEST(Counts, Errors) {
    const std::string table = PartTrainer(1, 0).export_counts();
    trainer other("\\w+|\\s+");
    other.feed("the cat");
    const std::string foreign = other.export_counts();
    const std::string_view cut = std::string_view(table).substr(0, table.size() - 1);
    EXPECT_NE(ExpectError(errc::invalid_arg, [&] { bpekit::merge_counts(std::vector<std::string>{}); })
                  .find("no count tables"),
              std::string::npos);
    EXPECT_NE(ExpectError(errc::invalid_arg, [&] { bpekit::merge_counts({table, foreign, foreign}); })
                  .find("tables[1] was counted with another split pattern"),
              std::string::npos);
    EXPECT_EQ(ExpectError(errc::bad_format, [&] { bpekit::merge_counts({table, table, cut}); }).rfind("tables[2]: ", 0),
              0u);
    ExpectError(errc::bad_format, [&] { bpekit::read_counts_info(cut); });
    ExpectError(errc::bad_format, [&] { bpekit::read_counts_info(""); });
    ExpectError(errc::bad_format, [&] { bpekit::read_counts_info("not a count table at all"); });
}

}  // namespace
