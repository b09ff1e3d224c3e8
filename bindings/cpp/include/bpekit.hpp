/*
 * bpekit.hpp: header-only C++17 wrapper over the bpekit C API (bpekit.h).
 *
 * Errors     Every fallible call throws bpekit::Error, a std::runtime_error whose code()
 *            is the BPEKIT_ERR_* status and whose what() is bpekit's message. No function
 *            of this wrapper reports failure any other way, and none returns a status.
 *            Infallible C getters (VocabSize) keep the C fallback instead of throwing.
 * Ownership  Trainer and Tokenizer are move-only. Each owns its C handle through a
 *            std::unique_ptr whose deleter calls bpekit_trainer_free / bpekit_tokenizer_free.
 *            A moved-from object (and a default-constructed Tokenizer) is empty: it is
 *            destructible and assignable, converts to false, and its fallible methods throw
 *            Error with code BPEKIT_ERR_NULL_ARG. Every C output buffer and error is released
 *            on every path, including exceptions. Results are copied into std::vector /
 *            std::string; only TokenBytes() and Pattern() borrow (see each).
 * Inputs     std::string_view text must be UTF-8 (else BPEKIT_ERR_INVALID_UTF8); it may
 *            contain NULs. bpekit keeps no pointer to any input after a call returns.
 * Threads    As in bpekit.h: const Tokenizer methods may run concurrently on one Tokenizer.
 *            Non-const Trainer methods need exclusive access; Trainer::progress() may run on
 *            another thread during feed/feed_batch/finish. Errors may cross threads.
 * Versions   CheckAbi() compares the loaded library with the header (bpekit_abi_version()
 *            against BPEKIT_ABI_VERSION) and throws on a mismatch. Trainer's constructor and
 *            Tokenizer::FromTiktoken call it once per process, so a mismatched library
 *            fails before any handle is made.
 * Needs      C++17 (std::string_view, std::optional); C++20 adds std::span overloads.
 *            Link with libbpekit (CMake target bpekit::bpekit, or pkg-config bpekit).
 */

#ifndef BPEKIT_HPP
#define BPEKIT_HPP

#if !defined(__cplusplus) || __cplusplus < 201703L
#error "bpekit.hpp needs C++17 or later (e.g. -std=c++17)"
#endif

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#if __cplusplus >= 202002L
#include <span>
#endif

#include "bpekit.h"

namespace bpekit {

// ==== Errors ====

/// A failed bpekit call: code() is the BPEKIT_ERR_* status, what() is bpekit's message.
/// New codes may appear in later versions; treat unknown codes as generic failures.
class Error : public std::runtime_error {
public:
    Error(bpekit_status code, const std::string &message)
        : std::runtime_error(message), code_(code) {}

    /// The BPEKIT_ERR_* code.
    bpekit_status code() const noexcept { return code_; }

    /// The code's name, e.g. "BPEKIT_ERR_UNKNOWN_TOKEN"; "BPEKIT_ERR_UNKNOWN" for codes
    /// this header does not know.
    const char *code_name() const noexcept { return CodeName(code_); }

    /// The code's name (`"BPEKIT_ERR_IO"`), from the library's own table
    /// (`bpekit_status_name`); `"BPEKIT_ERR_UNKNOWN"` for a code it does not know.
    static const char *CodeName(bpekit_status code) noexcept { return bpekit_status_name(code); }

private:
    bpekit_status code_;
};

namespace detail {

struct ErrorFree {
    void operator()(bpekit_error *e) const noexcept { bpekit_error_free(e); }
};
struct TrainerFree {
    void operator()(bpekit_trainer *t) const noexcept { bpekit_trainer_free(t); }
};
struct TokenizerFree {
    void operator()(bpekit_tokenizer *t) const noexcept { bpekit_tokenizer_free(t); }
};

/// Runs one fallible C call, `f(bpekit_error **)`, and throws Error if it fails. The
/// error object is freed on every path.
template <class F>
void Call(F &&f) {
    bpekit_error *raw = nullptr;
    const bpekit_status status = std::forward<F>(f)(&raw);
    std::unique_ptr<bpekit_error, ErrorFree> err(raw);
    if (status == BPEKIT_OK) return;
    std::string message = err ? bpekit_error_message(err.get()) : std::string();
    if (message.empty()) message = std::string("bpekit call failed with ") + Error::CodeName(status);
    throw Error(status, message);
}

/// Owned C buffers, released when the guard goes out of scope (the C free functions
/// accept a zeroed, never-filled struct).
struct TokensGuard {
    bpekit_tokens v{nullptr, 0};
    TokensGuard() = default;
    TokensGuard(const TokensGuard &) = delete;
    TokensGuard &operator=(const TokensGuard &) = delete;
    ~TokensGuard() { bpekit_tokens_free(&v); }
};
struct BytesGuard {
    bpekit_bytes v{nullptr, 0};
    BytesGuard() = default;
    BytesGuard(const BytesGuard &) = delete;
    BytesGuard &operator=(const BytesGuard &) = delete;
    ~BytesGuard() { bpekit_bytes_free(&v); }
    std::string str() const {
        return v.len ? std::string(reinterpret_cast<const char *>(v.data), v.len) : std::string();
    }
};
struct OffsetsGuard {
    bpekit_offsets v{nullptr, 0};
    OffsetsGuard() = default;
    OffsetsGuard(const OffsetsGuard &) = delete;
    OffsetsGuard &operator=(const OffsetsGuard &) = delete;
    ~OffsetsGuard() { bpekit_offsets_free(&v); }
};

inline const uint8_t *Bytes(std::string_view s) noexcept {
    return reinterpret_cast<const uint8_t *>(s.data());
}

inline bpekit_slice Slice(std::string_view s) noexcept { return bpekit_slice{Bytes(s), s.size()}; }

/// An optional pattern as the C (pointer, length) pair: nullopt is (NULL, 0), the
/// default pattern. A present but empty pattern gets a non-NULL pointer, so bpekit
/// rejects it as it rejects any empty pattern instead of reading it as "default".
inline std::pair<const uint8_t *, size_t> PatternArg(const std::optional<std::string_view> &p) noexcept {
    static const char empty[1] = {0};
    if (!p) return {nullptr, 0};
    return {p->empty() ? Bytes(std::string_view(empty, 0)) : Bytes(*p), p->size()};
}

inline std::vector<uint32_t> ToVector(const bpekit_tokens &t) {
    return t.len ? std::vector<uint32_t>(t.ids, t.ids + t.len) : std::vector<uint32_t>();
}

inline std::string_view View(const uint8_t *data, size_t len) noexcept {
    return len ? std::string_view(reinterpret_cast<const char *>(data), len) : std::string_view();
}

}  // namespace detail

// ==== Versions ====

/// The loaded library's version, e.g. "0.1.0" (static; never freed).
inline const char *Version() noexcept { return bpekit_version(); }

/// Throws Error (code BPEKIT_ERR_INVALID_ARG; bpekit.h has no dedicated code) unless
/// the loaded library's bpekit_abi_version() equals this header's BPEKIT_ABI_VERSION.
inline void CheckAbi() {
    const uint32_t lib = bpekit_abi_version();
    if (lib != BPEKIT_ABI_VERSION) {
        throw Error(BPEKIT_ERR_INVALID_ARG,
                    "bpekit: the loaded library (version " + std::string(bpekit_version()) +
                        ") has ABI " + std::to_string(lib) + ", this header expects ABI " +
                        std::to_string(BPEKIT_ABI_VERSION));
    }
}

namespace detail {
/// CheckAbi() once per process (thread-safe); if it throws, the next call checks again.
inline void EnsureAbi() {
    static const bool checked = (CheckAbi(), true);
    (void)checked;
}
}  // namespace detail

/// Borrows a named split pattern (`gpt2`, `r50k_base`, `p50k_base`, `cl100k_base`,
/// `o200k_base`, `rustbpe`, `nanochat`). The view is static. Throws
/// BPEKIT_ERR_INVALID_ARG for an unknown name.
inline std::string_view NamedPattern(std::string_view name) {
    const uint8_t *data = nullptr;
    size_t len = 0;
    detail::Call([&](bpekit_error **e) {
        return bpekit_pattern_named(detail::Bytes(name), name.size(), &data, &len, e);
    });
    return detail::View(data, len);
}

// ==== Special-token policy ====

/// How Encode, Count and EncodeBatch treat special-token text (tiktoken's
/// `allowed_special` and `disallowed_special`). The default is tiktoken's default:
/// nothing allowed, every special token disallowed, so special-token text in the input
/// throws BPEKIT_ERR_DISALLOWED_SPECIAL rather than being silently split into ordinary
/// tokens (the text usually comes from users, and a forged "<|endoftext|>" must not
/// become the control token).
struct SpecialPolicy {
    /// Special tokens encoded as their ids (texts that are not special tokens are ignored).
    std::vector<std::string> allowed;
    /// Every special token is allowed (tiktoken's `allowed_special="all"`).
    bool allow_all = false;
    /// Special tokens whose text throws BPEKIT_ERR_DISALLOWED_SPECIAL. nullopt means every
    /// special token that is not allowed (tiktoken's `disallowed_special="all"`); an empty
    /// vector means none: text of a special token that is not allowed is ordinary text.
    std::optional<std::vector<std::string>> disallowed;

    /// Every special token becomes its id.
    static SpecialPolicy AllowAll() {
        SpecialPolicy p;
        p.allow_all = true;
        return p;
    }
    /// These special tokens become their ids; the text of any other one throws.
    static SpecialPolicy Allow(std::vector<std::string> tokens) {
        SpecialPolicy p;
        p.allowed = std::move(tokens);
        return p;
    }
    /// Special-token text is ordinary text (as EncodeOrdinary).
    static SpecialPolicy Ordinary() {
        SpecialPolicy p;
        p.disallowed.emplace();
        return p;
    }
};

namespace detail {

/// A SpecialPolicy as the C struct; the slices point into the SpecialPolicy, which
/// must outlive this object.
class CPolicy {
public:
    explicit CPolicy(const SpecialPolicy &p) {
        allowed_.reserve(p.allowed.size());
        for (const auto &s : p.allowed) allowed_.push_back(Slice(s));
        if (p.disallowed) {
            disallowed_.reserve(p.disallowed->size());
            for (const auto &s : *p.disallowed) disallowed_.push_back(Slice(s));
        }
        c_.allowed = allowed_.empty() ? nullptr : allowed_.data();
        c_.n_allowed = allowed_.size();
        c_.disallowed = disallowed_.empty() ? nullptr : disallowed_.data();
        c_.n_disallowed = disallowed_.size();
        c_.flags = (p.allow_all ? BPEKIT_SPECIAL_ALLOW_ALL : 0u) |
                   (p.disallowed ? 0u : BPEKIT_SPECIAL_DISALLOW_ALL);
    }
    CPolicy(const CPolicy &) = delete;
    CPolicy &operator=(const CPolicy &) = delete;
    const bpekit_special_policy *get() const noexcept { return &c_; }

private:
    std::vector<bpekit_slice> allowed_, disallowed_;
    bpekit_special_policy c_{};
};

template <class It>
std::vector<bpekit_slice> Slices(It first, It last) {
    std::vector<bpekit_slice> out;
    for (; first != last; ++first) out.push_back(Slice(std::string_view(*first)));
    return out;
}

}  // namespace detail

// ==== Tokenizer ====

/// A trained tokenizer: ranks, a split pattern and special tokens. Immutable, so its
/// const methods may run concurrently from any number of threads.
class Tokenizer {
public:
    /// An empty tokenizer (as a moved-from one); assign a real one to use it.
    Tokenizer() noexcept = default;
    Tokenizer(Tokenizer &&) noexcept = default;
    Tokenizer &operator=(Tokenizer &&) noexcept = default;
    Tokenizer(const Tokenizer &) = delete;
    Tokenizer &operator=(const Tokenizer &) = delete;

    /// Loads ranks in tiktoken's `.tiktoken` format (the file's contents, not a path)
    /// with a split pattern (nullopt: the GPT-4 `cl100k_base` pattern; see NamedPattern)
    /// and special tokens (text, id). Throws BPEKIT_ERR_BAD_RANKS, BPEKIT_ERR_BAD_PATTERN,
    /// BPEKIT_ERR_INVALID_UTF8, BPEKIT_ERR_INVALID_ARG (bad special tokens).
    static Tokenizer FromTiktoken(std::string_view ranks,
                                  std::optional<std::string_view> pattern = std::nullopt,
                                  const std::vector<std::pair<std::string, uint32_t>> &special = {}) {
        detail::EnsureAbi();
        std::vector<bpekit_special_token> specials;
        specials.reserve(special.size());
        for (const auto &s : special) specials.push_back(bpekit_special_token{detail::Slice(s.first), s.second});
        const auto pat = detail::PatternArg(pattern);
        bpekit_tokenizer *out = nullptr;
        detail::Call([&](bpekit_error **e) {
            return bpekit_tokenizer_new(detail::Bytes(ranks), ranks.size(), pat.first, pat.second,
                                        specials.empty() ? nullptr : specials.data(), specials.size(),
                                        &out, e);
        });
        return Tokenizer(out);
    }

    /// Encodes UTF-8 text with tiktoken's default policy: special-token text throws
    /// BPEKIT_ERR_DISALLOWED_SPECIAL (use EncodeOrdinary or a SpecialPolicy otherwise).
    std::vector<uint32_t> Encode(std::string_view text) const {
        detail::TokensGuard out;
        detail::Call([&](bpekit_error **e) {
            return bpekit_tokenizer_encode(h_.get(), detail::Bytes(text), text.size(), nullptr, &out.v, e);
        });
        return detail::ToVector(out.v);
    }

    /// Encodes UTF-8 text under `policy` (e.g. SpecialPolicy::AllowAll() or
    /// SpecialPolicy::Allow({"<|endoftext|>"})). Throws BPEKIT_ERR_DISALLOWED_SPECIAL
    /// (the message names the token), BPEKIT_ERR_INVALID_UTF8.
    std::vector<uint32_t> Encode(std::string_view text, const SpecialPolicy &policy) const {
        const detail::CPolicy c(policy);
        detail::TokensGuard out;
        detail::Call([&](bpekit_error **e) {
            return bpekit_tokenizer_encode(h_.get(), detail::Bytes(text), text.size(), c.get(), &out.v, e);
        });
        return detail::ToVector(out.v);
    }

    /// Encodes `text` with these special tokens allowed (tiktoken's `allowed_special`
    /// set); the text of any other special token throws BPEKIT_ERR_DISALLOWED_SPECIAL.
    /// For "all", pass SpecialPolicy::AllowAll().
    std::vector<uint32_t> Encode(std::string_view text, std::vector<std::string> allowed_special) const {
        return Encode(text, SpecialPolicy::Allow(std::move(allowed_special)));
    }

    /// Encodes UTF-8 text, treating special-token text as ordinary text.
    std::vector<uint32_t> EncodeOrdinary(std::string_view text) const {
        detail::TokensGuard out;
        detail::Call([&](bpekit_error **e) {
            return bpekit_tokenizer_encode_ordinary(h_.get(), detail::Bytes(text), text.size(), &out.v, e);
        });
        return detail::ToVector(out.v);
    }

    /// The number of ids Encode(text, policy) would return, without building them.
    size_t Count(std::string_view text, const SpecialPolicy &policy = SpecialPolicy()) const {
        const detail::CPolicy c(policy);
        size_t n = 0;
        detail::Call([&](bpekit_error **e) {
            return bpekit_tokenizer_count(h_.get(), detail::Bytes(text), text.size(), c.get(), &n, e);
        });
        return n;
    }

    /// Encodes texts in parallel on `num_threads` threads (0: the shared pool, one thread
    /// per core or RAYON_NUM_THREADS), each as Encode(text, policy). Result i belongs to
    /// texts[i]. Each distinct nonzero `num_threads` starts a pool on first use that lives
    /// until exit, so use a few fixed values. Throws as Encode; the message names the
    /// first failing text as `texts[i]`.
    std::vector<std::vector<uint32_t>> EncodeBatch(const std::vector<std::string_view> &texts,
                                                   const SpecialPolicy &policy = SpecialPolicy(),
                                                   size_t num_threads = 0) const {
        return EncodeSlices(detail::Slices(texts.begin(), texts.end()), policy, num_threads);
    }
    std::vector<std::vector<uint32_t>> EncodeBatch(const std::vector<std::string> &texts,
                                                   const SpecialPolicy &policy = SpecialPolicy(),
                                                   size_t num_threads = 0) const {
        return EncodeSlices(detail::Slices(texts.begin(), texts.end()), policy, num_threads);
    }
    std::vector<std::vector<uint32_t>> EncodeBatch(std::initializer_list<std::string_view> texts,
                                                   const SpecialPolicy &policy = SpecialPolicy(),
                                                   size_t num_threads = 0) const {
        return EncodeSlices(detail::Slices(texts.begin(), texts.end()), policy, num_threads);
    }

    /// Decodes ids to bytes. The bytes need not be valid UTF-8 (a token may hold part of
    /// a character). Throws BPEKIT_ERR_UNKNOWN_TOKEN (the message names the first unknown id).
    std::string Decode(const uint32_t *ids, size_t n) const {
        detail::BytesGuard out;
        detail::Call([&](bpekit_error **e) { return bpekit_tokenizer_decode(h_.get(), ids, n, &out.v, e); });
        return out.str();
    }
    std::string Decode(const std::vector<uint32_t> &ids) const { return Decode(ids.data(), ids.size()); }
    std::string Decode(std::initializer_list<uint32_t> ids) const { return Decode(ids.begin(), ids.size()); }
#if __cplusplus >= 202002L
    std::string Decode(std::span<const uint32_t> ids) const { return Decode(ids.data(), ids.size()); }
#endif

    /// Borrows the bytes of token `id` (a rank's bytes, or a special token's text).
    /// Lifetime: the view points into the C tokenizer and stays valid until that handle
    /// is freed, i.e. until the Tokenizer owning it (this one, or the one it was moved
    /// into) is destroyed or assigned to. Throws BPEKIT_ERR_UNKNOWN_TOKEN.
    std::string_view TokenBytes(uint32_t id) const {
        const uint8_t *data = nullptr;
        size_t len = 0;
        detail::Call([&](bpekit_error **e) { return bpekit_tokenizer_token_bytes(h_.get(), id, &data, &len, e); });
        return detail::View(data, len);
    }

    /// The id of `bytes` when they form one token (a rank, else a special token's text).
    /// Throws BPEKIT_ERR_UNKNOWN_TOKEN.
    uint32_t TokenId(std::string_view bytes) const {
        uint32_t id = 0;
        detail::Call([&](bpekit_error **e) {
            return bpekit_tokenizer_token_id(h_.get(), detail::Bytes(bytes), bytes.size(), &id, e);
        });
        return id;
    }

    /// The ranks in tiktoken's `.tiktoken` format, sorted by rank: FromTiktoken and
    /// tiktoken's load_tiktoken_bpe read it back. Special tokens are not included.
    std::string ExportTiktoken() const {
        detail::BytesGuard out;
        detail::Call([&](bpekit_error **e) { return bpekit_tokenizer_export_tiktoken(h_.get(), &out.v, e); });
        return out.str();
    }

    /// One more than the largest token id (tiktoken's n_vocab); 0 for an empty Tokenizer.
    size_t VocabSize() const noexcept { return bpekit_tokenizer_vocab_size(h_.get()); }

    /// Borrows the split pattern (UTF-8). Same lifetime as TokenBytes().
    std::string_view Pattern() const {
        const uint8_t *data = nullptr;
        size_t len = 0;
        detail::Call([&](bpekit_error **e) { return bpekit_tokenizer_pattern(h_.get(), &data, &len, e); });
        return detail::View(data, len);
    }

    /// The special tokens (text, id), in id order; the same shape FromTiktoken takes.
    std::vector<std::pair<std::string, uint32_t>> SpecialTokens() const {
        if (!h_) throw Error(BPEKIT_ERR_NULL_ARG, "argument `tok` is NULL");
        const size_t n = bpekit_tokenizer_special_count(h_.get());
        std::vector<std::pair<std::string, uint32_t>> out;
        out.reserve(n);
        for (size_t i = 0; i < n; ++i) {
            const uint8_t *text = nullptr;
            size_t len = 0;
            uint32_t id = 0;
            detail::Call([&](bpekit_error **e) {
                return bpekit_tokenizer_special_token(h_.get(), i, &text, &len, &id, e);
            });
            out.emplace_back(std::string(detail::View(text, len)), id);
        }
        return out;
    }

    /// True unless empty (default-constructed or moved-from).
    explicit operator bool() const noexcept { return static_cast<bool>(h_); }
    /// The C handle, still owned by this object (for calling bpekit.h directly).
    const bpekit_tokenizer *capi() const noexcept { return h_.get(); }

private:
    friend class Trainer;
    explicit Tokenizer(bpekit_tokenizer *owned) noexcept : h_(owned) {}

    std::vector<std::vector<uint32_t>> EncodeSlices(const std::vector<bpekit_slice> &texts,
                                                    const SpecialPolicy &policy, size_t num_threads) const {
        const detail::CPolicy c(policy);
        detail::TokensGuard ids;
        detail::OffsetsGuard offsets;
        detail::Call([&](bpekit_error **e) {
            return bpekit_tokenizer_encode_batch(h_.get(), texts.empty() ? nullptr : texts.data(), texts.size(),
                                                 c.get(), num_threads, &ids.v, &offsets.v, e);
        });
        std::vector<std::vector<uint32_t>> out;
        if (texts.empty()) return out;
        if (offsets.v.len != texts.size() + 1 || offsets.v.data[texts.size()] != ids.v.len) {
            throw Error(BPEKIT_ERR_PANIC, "bpekit_tokenizer_encode_batch returned inconsistent offsets");
        }
        out.reserve(texts.size());
        for (size_t i = 0; i < texts.size(); ++i) {
            const size_t lo = offsets.v.data[i], hi = offsets.v.data[i + 1];
            out.emplace_back(ids.v.ids + lo, ids.v.ids + hi);
        }
        return out;
    }

    std::unique_ptr<bpekit_tokenizer, detail::TokenizerFree> h_;
};

// ==== Trainer ====

/// A trainer's progress (the four fields are read one by one, not atomically).
struct Progress {
    uint64_t texts = 0;         ///< texts counted so far
    uint64_t bytes = 0;         ///< bytes of text counted so far
    uint64_t merges_done = 0;   ///< merges learned by the running (or last) finish
    uint64_t merges_total = 0;  ///< merges that finish aims for
};

/// Counts text, then learns merges (the same merges as rustbpe). Non-const methods need
/// exclusive access; progress() may be called from another thread meanwhile.
class Trainer {
public:
    /// A trainer splitting text with `pattern` (UTF-8, fancy-regex syntax; nullopt: the
    /// GPT-4 `cl100k_base` pattern). Throws BPEKIT_ERR_BAD_PATTERN, BPEKIT_ERR_INVALID_UTF8,
    /// or Error from CheckAbi().
    explicit Trainer(std::optional<std::string_view> pattern = std::nullopt) {
        detail::EnsureAbi();
        const auto pat = detail::PatternArg(pattern);
        bpekit_trainer *out = nullptr;
        detail::Call([&](bpekit_error **e) { return bpekit_trainer_new(pat.first, pat.second, &out, e); });
        h_.reset(out);
    }
    Trainer(Trainer &&) noexcept = default;
    Trainer &operator=(Trainer &&) noexcept = default;
    Trainer(const Trainer &) = delete;
    Trainer &operator=(const Trainer &) = delete;

    /// Counts one UTF-8 text. On error nothing of it is counted.
    void feed(std::string_view text) {
        detail::Call([&](bpekit_error **e) {
            return bpekit_trainer_feed(h_.get(), detail::Bytes(text), text.size(), e);
        });
    }

    /// Counts texts in parallel. On error nothing of the batch is counted; the message
    /// names the first bad text's index.
    void feed_batch(const std::vector<std::string_view> &texts) {
        FeedSlices(detail::Slices(texts.begin(), texts.end()));
    }
    void feed_batch(const std::vector<std::string> &texts) {
        FeedSlices(detail::Slices(texts.begin(), texts.end()));
    }
    void feed_batch(std::initializer_list<std::string_view> texts) {
        FeedSlices(detail::Slices(texts.begin(), texts.end()));
    }

    /// Sets the special tokens; finish() gives them the ids right after the last merge,
    /// in this order, and counts them in its vocab size. An empty list clears them.
    /// Throws BPEKIT_ERR_INVALID_ARG (empty or repeated token); the trainer is then unchanged.
    void set_special_tokens(const std::vector<std::string> &tokens) {
        const auto slices = detail::Slices(tokens.begin(), tokens.end());
        detail::Call([&](bpekit_error **e) {
            return bpekit_trainer_set_special_tokens(h_.get(), slices.empty() ? nullptr : slices.data(),
                                                     slices.size(), e);
        });
    }

    /// Runs batch counting on `num_threads` threads of the trainer's own (0: the shared
    /// pool, one thread per core). The merges do not depend on it.
    void set_threads(size_t num_threads) {
        detail::Call([&](bpekit_error **e) { return bpekit_trainer_set_threads(h_.get(), num_threads, e); });
    }

    /// How far the trainer is; safe to call while another thread feeds or finishes.
    Progress progress() const {
        bpekit_progress p{};
        detail::Call([&](bpekit_error **e) { return bpekit_trainer_progress(h_.get(), &p, e); });
        return Progress{p.texts, p.bytes, p.merges_done, p.merges_total};
    }

    /// The counts so far (and the pattern) as an opaque, checksummed byte string for
    /// another trainer's add_counts (e.g. count shards on several machines, train once).
    std::string export_counts() const {
        detail::BytesGuard out;
        detail::Call([&](bpekit_error **e) { return bpekit_trainer_export_counts(h_.get(), &out.v, e); });
        return out.str();
    }

    /// Adds counts from export_counts(). Throws BPEKIT_ERR_BAD_FORMAT (truncated, corrupted,
    /// not a count table) or BPEKIT_ERR_INVALID_ARG (another pattern); nothing is then added.
    void add_counts(std::string_view counts) {
        detail::Call([&](bpekit_error **e) {
            return bpekit_trainer_add_counts(h_.get(), detail::Bytes(counts), counts.size(), e);
        });
    }

    /// Learns merges from everything fed so far and returns a tokenizer of at most
    /// `vocab_size` tokens (256 bytes, merges, special tokens). The trainer stays usable:
    /// feed more and finish again. Throws BPEKIT_ERR_INVALID_ARG (vocab_size < 256).
    Tokenizer finish(uint32_t vocab_size) {
        bpekit_tokenizer *out = nullptr;
        detail::Call([&](bpekit_error **e) { return bpekit_trainer_finish(h_.get(), vocab_size, &out, e); });
        return Tokenizer(out);
    }

    /// True unless moved-from.
    explicit operator bool() const noexcept { return static_cast<bool>(h_); }
    /// The C handle, still owned by this object.
    bpekit_trainer *capi() const noexcept { return h_.get(); }

private:
    void FeedSlices(const std::vector<bpekit_slice> &texts) {
        detail::Call([&](bpekit_error **e) {
            return bpekit_trainer_feed_batch(h_.get(), texts.empty() ? nullptr : texts.data(), texts.size(), e);
        });
    }

    std::unique_ptr<bpekit_trainer, detail::TrainerFree> h_;
};

}  // namespace bpekit

#endif  // BPEKIT_HPP
