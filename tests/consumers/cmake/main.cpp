// Trains a small tokenizer through bpekit.hpp, encodes and decodes, checks the round trip,
// and the round trip of the tokenizer through bpekit's own format (to_bytes/from_bytes).
// Exits 1 on any failure (a bpekit::error is reported with its code and message).
#include <bpekit.hpp>

#include <cstdio>
#include <string>
#include <vector>

int main() {
    try {
        bpekit::check_abi();
        bpekit::trainer trainer;
        std::vector<std::string> corpus;
        for (int i = 0; i < 50; ++i) {
            corpus.push_back("The tokenizer learns merges from the training text, round " + std::to_string(i));
            corpus.push_back("then it encodes new text with the merges it has learned.");
        }
        trainer.feed_batch(corpus);
        const bpekit::tokenizer tok = trainer.finish(320);

        const std::string text = "The tokenizer encodes new text: caf\xc3\xa9!";
        const std::vector<uint32_t> ids = tok.encode(text);
        const std::string back = tok.decode(ids);
        if (back != text) {
            std::fprintf(stderr, "consumer: round trip failed\n");
            return 1;
        }
        const bpekit::tokenizer again = bpekit::tokenizer::from_bytes(tok.to_bytes());
        if (again.encode(text) != ids) {
            std::fprintf(stderr, "consumer: the tokenizer's bytes round trip changed its encoding\n");
            return 1;
        }
        std::printf("cmake consumer: bpekit %s, vocab %zu, %zu bytes -> %zu tokens, round trip ok\n",
                    bpekit::version(), tok.vocab_size(), text.size(), ids.size());
        return 0;
    } catch (const bpekit::error &e) {
        std::fprintf(stderr, "consumer: %s: %s\n", e.code_name(), e.what());
        return 1;
    }
}
