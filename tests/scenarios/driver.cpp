// The C++ host's scenario driver: runs cases.txt (argument 1) through bpekit.hpp and
// prints one canonical JSON line per operation (README.md here).
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "bpekit.hpp"

namespace {

std::string fnv(std::string_view data) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (unsigned char b : data) h = (h ^ b) * 0x100000001b3ULL;
    char out[17];
    std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(h));
    return out;
}

std::string unhex(const std::string &arg) {
    std::string out;
    if (arg == "-") return out;
    for (size_t i = 0; i + 1 < arg.size(); i += 2) out.push_back(static_cast<char>(std::stoi(arg.substr(i, 2), nullptr, 16)));
    return out;
}

std::string hex(std::string_view s) {
    static const char *digits = "0123456789abcdef";
    std::string out;
    for (unsigned char c : s) {
        out.push_back(digits[c >> 4]);
        out.push_back(digits[c & 15]);
    }
    return out;
}

std::vector<std::string> split(const std::string &s, char sep) {
    std::vector<std::string> out;
    std::stringstream in(s);
    for (std::string part; std::getline(in, part, sep);) out.push_back(part);
    return out;
}

std::vector<uint32_t> ids(const std::string &arg) {
    std::vector<uint32_t> out;
    for (const auto &f : split(arg, ',')) out.push_back(static_cast<uint32_t>(std::stoul(f)));
    return out;
}

std::string list(const std::vector<uint32_t> &v) {
    std::string out = "[";
    for (size_t i = 0; i < v.size(); i++) out += (i ? "," : "") + std::to_string(v[i]);
    return out + "]";
}

std::string strings(const std::vector<std::string> &v) {
    std::string out = "[";
    for (size_t i = 0; i < v.size(); i++) out += std::string(i ? "," : "") + "\"" + v[i] + "\"";
    return out + "]";
}

bpekit::special_policy policy(const std::string &name) {
    if (name == "all") return bpekit::special_policy::allowing_all();
    if (name == "none") return bpekit::special_policy::ordinary();
    return bpekit::special_policy();
}

struct scenario {
    std::string pattern;
    std::vector<std::string> specials;
    std::optional<bpekit::trainer> trainer;
    std::optional<bpekit::tokenizer> tok;

    static std::string summary(const bpekit::tokenizer &t) {
        auto specials = t.special_tokens();
        std::vector<std::pair<uint32_t, std::string>> sorted;
        for (const auto &[text, id] : specials) sorted.emplace_back(id, hex(text));
        std::sort(sorted.begin(), sorted.end());
        std::string out = "{\"vocab_size\":" + std::to_string(t.vocab_size()) + ",\"file\":\"" + fnv(t.to_bytes()) +
                          "\",\"specials\":[";
        for (size_t i = 0; i < sorted.size(); i++)
            out += std::string(i ? "," : "") + "[\"" + sorted[i].second + "\"," + std::to_string(sorted[i].first) + "]";
        return out + "]}";
    }

    std::string run(const std::string &op, const std::string &arg) {
        if (op == "trainer") {
            pattern = arg.rfind("hex:", 0) == 0 ? unhex(arg.substr(4)) : std::string(bpekit::named_pattern(arg));
            specials.clear();
            trainer.reset();
            trainer.emplace(pattern);
            return "true";
        }
        if (op == "specials") {
            std::vector<std::string> tokens;
            for (const auto &t : split(arg, ',')) tokens.push_back(unhex(t));
            trainer->set_special_tokens(tokens);
            specials = tokens;
            return "true";
        }
        if (op == "feed") {
            trainer->feed(unhex(arg));
            return "true";
        }
        if (op == "feed_batch") {
            std::vector<std::string> texts;
            for (const auto &t : split(arg, ',')) texts.push_back(unhex(t));
            std::vector<std::string_view> views(texts.begin(), texts.end());
            trainer->feed_batch(views);
            return "true";
        }
        if (op == "finish") {
            tok.emplace(trainer->finish(static_cast<uint32_t>(std::stoul(arg))));
            return summary(*tok);
        }
        if (op == "encode" || op == "count" || op == "batch") {
            const auto space = arg.find(' ');
            const auto p = policy(arg.substr(0, space));
            const std::string data = arg.substr(space + 1);
            if (op == "encode") return list(tok->encode(unhex(data), p));
            if (op == "count") return std::to_string(tok->count(unhex(data), p));
            std::vector<std::string> texts;
            for (const auto &t : split(data, ',')) texts.push_back(unhex(t));
            std::string out = "[";
            auto all = tok->encode_batch(texts, p, 2);
            for (size_t i = 0; i < all.size(); i++) out += (i ? "," : "") + list(all[i]);
            return out + "]";
        }
        if (op == "decode") {
            const auto v = ids(arg);
            const std::string raw = tok->decode(v.data(), v.size());
            bpekit::stream_decoder d;
            std::string text = d.add(*tok, v);  // (then flush: `a + b` may evaluate b first)
            text += d.flush();
            return "{\"bytes\":\"" + hex(raw) + "\",\"text\":\"" + hex(text) + "\"}";
        }
        if (op == "stream") {
            bpekit::stream_decoder d;
            std::vector<std::string> out;
            for (uint32_t id : ids(arg)) out.push_back(hex(d.add(*tok, id)));
            out.push_back(hex(d.flush()));
            return strings(out);
        }
        if (op == "normalize") {
            tok.emplace(tok->with_normalization(arg == "nfc" ? bpekit::normalization::nfc : bpekit::normalization::none));
            return "{\"file\":\"" + fnv(tok->to_bytes()) + "\"}";
        }
        if (op == "reload") {
            tok.emplace(bpekit::tokenizer::from_bytes(tok->to_bytes()));
            return "{\"file\":\"" + fnv(tok->to_bytes()) + "\"}";
        }
        if (op == "corrupt") {
            std::string data = tok->to_bytes();
            data[std::stoul(arg)] ^= 1;
            return "{\"file\":\"" + fnv(bpekit::tokenizer::from_bytes(data).to_bytes()) + "\"}";
        }
        if (op == "recount") {
            const std::string table = trainer->export_counts();
            bpekit::trainer again(pattern);
            if (!specials.empty()) again.set_special_tokens(specials);
            again.add_counts(table);
            const auto t = again.finish(static_cast<uint32_t>(std::stoul(arg)));
            return "{\"table\":\"" + fnv(table) + "\",\"file\":\"" + fnv(t.to_bytes()) + "\"}";
        }
        throw std::runtime_error("unknown op " + op);
    }
};

}  // namespace

int main(int argc, char **argv) {
    if (argc != 2) {
        std::cerr << "usage: driver CASES\n";
        return 2;
    }
    std::ifstream in(argv[1]);
    std::unique_ptr<scenario> s;
    std::string name;
    int n = 0;
    for (std::string line; std::getline(in, line);) {
        if (line.empty() || line[0] == '#') continue;
        const auto space = line.find(' ');
        const std::string op = line.substr(0, space);
        const std::string arg = space == std::string::npos ? "" : line.substr(space + 1);
        if (op == "case") {
            s = std::make_unique<scenario>();
            name = arg;
            n = 0;
            continue;
        }
        std::string out;
        try {
            out = "\"ok\":" + s->run(op, arg);
        } catch (const bpekit::error &e) {
            out = std::string("\"error\":\"") + e.code_name() + "\"";
        }
        std::cout << "{\"case\":\"" << name << "\",\"op\":" << n << "," << out << "}\n";
        n++;
    }
    return 0;
}
