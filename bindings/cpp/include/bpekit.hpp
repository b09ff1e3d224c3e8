/*
 * bpekit.hpp: header-only C++17 wrapper over the bpekit C API (bpekit.h).
 *
 * Names      Every class, method and free function is snake_case, as in the C++ standard
 *            library. A method is named as the C function it wraps, without the
 *            bpekit_<object>_ prefix (tokenizer::encode wraps bpekit_tokenizer_encode);
 *            bpekit_shard_writer_new is shard_writer::create; the shard readers and the
 *            count-table calls, which belong to no object, are free functions
 *            (bpekit_shard_read_info is read_shard_info, bpekit_counts_read_info is
 *            read_counts_info, bpekit_counts_merge is merge_counts, bpekit_shard_plan is
 *            shard_plan); constructors, special_tokens() and shard_writer::records()
 *            gather several C calls. Every function
 *            of bpekit.h is reachable (tests/cpp/test_header.cpp lists which member
 *            wraps which); bpekit_host.h, outside the ABI promise, is not wrapped.
 * Errors     Every fallible call throws bpekit::error, a std::runtime_error whose code()
 *            is a bpekit::errc (its values are the BPEKIT_ERR_* constants of bpekit.h) and
 *            whose what() is bpekit's message. No function of this wrapper reports
 *            failure any other way, and none returns a status. Infallible C getters
 *            (vocab_size, texts, bytes) keep the C fallback instead of throwing. Codes
 *            are named by the library (bpekit_status_name); this header lists no numbers.
 * Ownership  trainer, tokenizer, shard_writer and docs are move-only. The first three own
 *            their C handle through a std::unique_ptr whose deleter calls the C _free
 *            function; docs owns a bpekit_docs and releases it with bpekit_docs_free. A
 *            moved-from object (and a default-constructed tokenizer or shard_writer) is
 *            empty: it is destructible and assignable, converts to false, and its fallible
 *            methods throw error with code errc::null_arg (an empty docs has no documents).
 *            Every C output buffer and error is released on every path, including
 *            exceptions. Results are copied into std::vector / std::string; only
 *            token_bytes(), pattern(), named_pattern() and the views of docs borrow (see
 *            each).
 * Inputs     std::string_view text must be UTF-8 (else errc::invalid_utf8); it may
 *            contain NULs. bpekit keeps no pointer to any input after a call returns;
 *            the one exception is on the C++ side: docs may view the buffer it split (see
 *            docs::split).
 * Threads    As in bpekit.h: const tokenizer methods may run concurrently on one tokenizer.
 *            Non-const trainer and shard_writer methods need exclusive access;
 *            trainer::progress(), texts() and bytes() may run on another thread during
 *            feed/feed_batch/finish. Errors may cross threads.
 * Versions   check_abi() compares the loaded library with the header (bpekit_abi_version()
 *            against BPEKIT_ABI_VERSION) and throws on a mismatch. Every constructor of a
 *            trainer, tokenizer, docs or shard_writer, every shard reader and every
 *            count-table function calls it once
 *            per process, so a mismatched library fails before any handle is made.
 * Needs      C++17 (std::string_view, std::optional, std::filesystem); C++20 adds
 *            std::span overloads (and doc_spans from std::span). Link with libbpekit (CMake target bpekit::bpekit, or
 *            pkg-config bpekit).
 */

#ifndef BPEKIT_HPP
#define BPEKIT_HPP

#if !defined(__cplusplus) || __cplusplus < 201703L
#error "bpekit.hpp needs C++17 or later (e.g. -std=c++17)"
#endif

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#if __cplusplus >= 202002L
#include <span>
#endif

#include "bpekit.h"

namespace bpekit {

// ==== Errors ====

/// The failure codes of bpekit.h, by name; each value is the C constant. An error may
/// carry a code this header does not name (a newer library's): errc holds any
/// bpekit_status, and status_name() names it as the library does.
enum class errc : bpekit_status {
    null_arg = BPEKIT_ERR_NULL_ARG,
    invalid_arg = BPEKIT_ERR_INVALID_ARG,
    invalid_utf8 = BPEKIT_ERR_INVALID_UTF8,
    unknown_token = BPEKIT_ERR_UNKNOWN_TOKEN,
    disallowed_special = BPEKIT_ERR_DISALLOWED_SPECIAL,
    bad_pattern = BPEKIT_ERR_BAD_PATTERN,
    bad_ranks = BPEKIT_ERR_BAD_RANKS,
    buffer_too_small = BPEKIT_ERR_BUFFER_TOO_SMALL,
    panic = BPEKIT_ERR_PANIC,
    bad_format = BPEKIT_ERR_BAD_FORMAT,
    io = BPEKIT_ERR_IO,
};

/// Every errc above, for code that iterates over them (tests/cpp checks that each
/// BPEKIT_ERR_* of bpekit.h is here).
inline constexpr errc all_errcs[] = {
    errc::null_arg,      errc::invalid_arg,        errc::invalid_utf8,
    errc::unknown_token, errc::disallowed_special, errc::bad_pattern,
    errc::bad_ranks,     errc::buffer_too_small,   errc::panic,
    errc::bad_format,    errc::io,
};

/// The name of a status code, from the library's own table (bpekit_status_name):
/// "BPEKIT_ERR_IO" for BPEKIT_ERR_IO, "BPEKIT_OK" for 0, "BPEKIT_ERR_UNKNOWN" for a code
/// the library does not know. Static; never freed.
inline const char *status_name(bpekit_status code) noexcept { return bpekit_status_name(code); }
inline const char *status_name(errc code) noexcept { return bpekit_status_name(static_cast<bpekit_status>(code)); }

/// A failed bpekit call: code() is the errc, what() is bpekit's message.
/// New codes may appear in later versions; treat unknown codes as generic failures.
class error : public std::runtime_error {
public:
    error(bpekit_status code, const std::string &message) : std::runtime_error(message), code_(code) {}
    error(errc code, const std::string &message) : error(static_cast<bpekit_status>(code), message) {}

    /// The code, comparable with errc's names (e.g. `e.code() == bpekit::errc::io`).
    errc code() const noexcept { return static_cast<errc>(code_); }
    /// The code as the C status (a BPEKIT_ERR_* value).
    bpekit_status status() const noexcept { return code_; }
    /// The code's name, e.g. "BPEKIT_ERR_UNKNOWN_TOKEN" (see status_name).
    const char *code_name() const noexcept { return status_name(code_); }

private:
    bpekit_status code_;
};

namespace detail {

struct error_free {
    void operator()(bpekit_error *e) const noexcept { bpekit_error_free(e); }
};
struct trainer_free {
    void operator()(bpekit_trainer *t) const noexcept { bpekit_trainer_free(t); }
};
struct tokenizer_free {
    void operator()(bpekit_tokenizer *t) const noexcept { bpekit_tokenizer_free(t); }
};
struct stream_decoder_free {
    void operator()(bpekit_stream_decoder *d) const noexcept { bpekit_stream_decoder_free(d); }
};

/// Runs one fallible C call, `f(bpekit_error **)`, and throws error if it fails. The
/// error object is freed on every path.
template <class F>
void call(F &&f) {
    bpekit_error *raw = nullptr;
    const bpekit_status status = std::forward<F>(f)(&raw);
    std::unique_ptr<bpekit_error, error_free> err(raw);
    if (status == BPEKIT_OK) return;
    std::string message = err ? bpekit_error_message(err.get()) : std::string();
    if (message.empty()) message = std::string("bpekit call failed with ") + status_name(status);
    throw error(status, message);
}

/// Owned C buffers, released when the guard goes out of scope (the C free functions
/// accept a zeroed, never-filled struct).
struct tokens_guard {
    bpekit_tokens v{nullptr, 0};
    tokens_guard() = default;
    tokens_guard(const tokens_guard &) = delete;
    tokens_guard &operator=(const tokens_guard &) = delete;
    ~tokens_guard() { bpekit_tokens_free(&v); }
};
struct bytes_guard {
    bpekit_bytes v{nullptr, 0};
    bytes_guard() = default;
    bytes_guard(const bytes_guard &) = delete;
    bytes_guard &operator=(const bytes_guard &) = delete;
    ~bytes_guard() { bpekit_bytes_free(&v); }
    std::string str() const {
        return v.len ? std::string(reinterpret_cast<const char *>(v.data), v.len) : std::string();
    }
};
struct offsets_guard {
    bpekit_offsets v{nullptr, 0};
    offsets_guard() = default;
    offsets_guard(const offsets_guard &) = delete;
    offsets_guard &operator=(const offsets_guard &) = delete;
    ~offsets_guard() { bpekit_offsets_free(&v); }
};

inline const uint8_t *bytes_of(std::string_view s) noexcept {
    return reinterpret_cast<const uint8_t *>(s.data());
}

inline bpekit_slice slice(std::string_view s) noexcept { return bpekit_slice{bytes_of(s), s.size()}; }

/// An optional pattern as the C (pointer, length) pair: nullopt is (NULL, 0), the
/// default pattern. A present but empty pattern gets a non-NULL pointer, so bpekit
/// rejects it as it rejects any empty pattern instead of reading it as "default".
inline std::pair<const uint8_t *, size_t> pattern_arg(const std::optional<std::string_view> &p) noexcept {
    static const char empty[1] = {0};
    if (!p) return {nullptr, 0};
    return {p->empty() ? bytes_of(std::string_view(empty, 0)) : bytes_of(*p), p->size()};
}

/// A path as the C API takes it: the native bytes on POSIX, UTF-8 elsewhere.
inline std::string path_bytes(const std::filesystem::path &path) {
#if defined(_WIN32)
    const auto u8 = path.u8string();  // std::string in C++17, std::u8string in C++20
    return std::string(reinterpret_cast<const char *>(u8.data()), u8.size());
#else
    return path.native();
#endif
}

inline std::vector<uint32_t> to_vector(const bpekit_tokens &t) {
    return t.len ? std::vector<uint32_t>(t.ids, t.ids + t.len) : std::vector<uint32_t>();
}

/// Splits `ids` at `offsets` (n + 1 of them, from 0 to ids.len) into n sequences.
inline std::vector<std::vector<uint32_t>> split(const bpekit_tokens &ids, const bpekit_offsets &offsets,
                                                const char *what) {
    std::vector<std::vector<uint32_t>> out;
    if (offsets.len == 0 || offsets.data[0] != 0 || offsets.data[offsets.len - 1] != ids.len) {
        throw error(errc::panic, std::string(what) + " returned inconsistent offsets");
    }
    out.reserve(offsets.len - 1);
    for (size_t i = 0; i + 1 < offsets.len; ++i) {
        const size_t lo = offsets.data[i], hi = offsets.data[i + 1];
        if (lo > hi) throw error(errc::panic, std::string(what) + " returned inconsistent offsets");
        out.emplace_back(ids.ids + lo, ids.ids + hi);
    }
    return out;
}

inline std::string_view view(const uint8_t *data, size_t len) noexcept {
    return len ? std::string_view(reinterpret_cast<const char *>(data), len) : std::string_view();
}

}  // namespace detail

// ==== Versions ====

/// The loaded library's version, e.g. "0.1.0" (static; never freed).
inline const char *version() noexcept { return bpekit_version(); }

/// The loaded library's ABI version; this header's is BPEKIT_ABI_VERSION.
inline uint32_t abi_version() noexcept { return bpekit_abi_version(); }

/// Throws error (code errc::invalid_arg; bpekit.h has no dedicated code) unless
/// the loaded library's bpekit_abi_version() equals this header's BPEKIT_ABI_VERSION.
inline void check_abi() {
    const uint32_t lib = bpekit_abi_version();
    if (lib != BPEKIT_ABI_VERSION) {
        throw error(errc::invalid_arg, "bpekit: the loaded library (version " + std::string(bpekit_version()) +
                                           ") has ABI " + std::to_string(lib) + ", this header expects ABI " +
                                           std::to_string(BPEKIT_ABI_VERSION));
    }
}

namespace detail {
/// check_abi() once per process (thread-safe); if it throws, the next call checks again.
inline void ensure_abi() {
    static const bool checked = (check_abi(), true);
    (void)checked;
}
}  // namespace detail

/// Borrows a named split pattern (`gpt2`, `r50k_base`, `p50k_base`, `cl100k_base`,
/// `o200k_base`, `rustbpe`, `nanochat`). The view is static. Throws
/// errc::invalid_arg for an unknown name.
inline std::string_view named_pattern(std::string_view name) {
    const uint8_t *data = nullptr;
    size_t len = 0;
    detail::call([&](bpekit_error **e) {
        return bpekit_pattern_named(detail::bytes_of(name), name.size(), &data, &len, e);
    });
    return detail::view(data, len);
}

// ==== Special-token policy ====

/// How encode, count, encode_batch, encode_into and encode_with_unstable treat
/// special-token text (tiktoken's `allowed_special` and `disallowed_special`). The
/// default is tiktoken's default: nothing allowed, every special token disallowed, so
/// special-token text in the input throws errc::disallowed_special rather than being
/// silently split into ordinary tokens (the text usually comes from users, and a forged
/// "<|endoftext|>" must not become the control token).
struct special_policy {
    /// Special tokens encoded as their ids (texts that are not special tokens are ignored).
    std::vector<std::string> allowed;
    /// Every special token is allowed (tiktoken's `allowed_special="all"`).
    bool allow_all = false;
    /// Strings whose appearance throws errc::disallowed_special (tiktoken's rule: they need
    /// not be special tokens). nullopt means every
    /// special token that is not allowed (tiktoken's `disallowed_special="all"`); an empty
    /// vector means none: text of a special token that is not allowed is ordinary text.
    std::optional<std::vector<std::string>> disallowed;

    /// Every special token becomes its id.
    static special_policy allowing_all() {
        special_policy p;
        p.allow_all = true;
        return p;
    }
    /// These special tokens become their ids; the text of any other one throws.
    static special_policy allowing(std::vector<std::string> tokens) {
        special_policy p;
        p.allowed = std::move(tokens);
        return p;
    }
    /// Special-token text is ordinary text (as encode_ordinary).
    static special_policy ordinary() {
        special_policy p;
        p.disallowed.emplace();
        return p;
    }
};

namespace detail {

/// A special_policy as the C struct; the slices point into the special_policy, which
/// must outlive this object.
class c_policy {
public:
    explicit c_policy(const special_policy &p) {
        allowed_.reserve(p.allowed.size());
        for (const auto &s : p.allowed) allowed_.push_back(slice(s));
        if (p.disallowed) {
            disallowed_.reserve(p.disallowed->size());
            for (const auto &s : *p.disallowed) disallowed_.push_back(slice(s));
        }
        c_.allowed = allowed_.empty() ? nullptr : allowed_.data();
        c_.n_allowed = allowed_.size();
        c_.disallowed = disallowed_.empty() ? nullptr : disallowed_.data();
        c_.n_disallowed = disallowed_.size();
        c_.flags = (p.allow_all ? BPEKIT_SPECIAL_ALLOW_ALL : 0u) | (p.disallowed ? 0u : BPEKIT_SPECIAL_DISALLOW_ALL);
    }
    c_policy(const c_policy &) = delete;
    c_policy &operator=(const c_policy &) = delete;
    const bpekit_special_policy *get() const noexcept { return &c_; }

private:
    std::vector<bpekit_slice> allowed_, disallowed_;
    bpekit_special_policy c_{};
};

template <class It>
std::vector<bpekit_slice> slices(It first, It last) {
    std::vector<bpekit_slice> out;
    for (; first != last; ++first) out.push_back(slice(std::string_view(*first)));
    return out;
}

}  // namespace detail

// ==== Documents ====

/// How docs::split cuts a buffer into documents (the BPEKIT_LAYOUT_* constants).
enum class layout : uint32_t {
    /// The whole buffer is one document (even when empty).
    whole = BPEKIT_LAYOUT_WHOLE,
    /// Every line is a document: "\n" ends a line and a "\r" before it is dropped; a final
    /// line without "\n" is a document unless it is empty.
    lines = BPEKIT_LAYOUT_LINES,
    /// The pieces between occurrences of split_options::separator; empty pieces (separators
    /// back to back, leading or trailing) are not documents.
    separator = BPEKIT_LAYOUT_SEPARATOR,
    /// One JSON object per line; the document is the string at split_options::key. Blank
    /// lines are skipped.
    jsonl = BPEKIT_LAYOUT_JSONL,
};

/// What a split does with invalid UTF-8 (the BPEKIT_UTF8_* constants).
enum class utf8_errors : uint32_t {
    /// Throw errc::invalid_utf8; the message names the source, the byte offset and the line.
    strict = BPEKIT_UTF8_STRICT,
    /// Each invalid sequence becomes U+FFFD (as Python's errors="replace").
    replace = BPEKIT_UTF8_REPLACE,
    /// The document is dropped and counted in docs::skipped().
    skip = BPEKIT_UTF8_SKIP,
};

/// How docs::split and docs::from_arrow make documents (bpekit_split_options). The
/// default is the whole buffer as one document, strict UTF-8, no cap, no budget.
struct split_options {
    /// The layout (from_arrow ignores it: each string is a document). The type is written
    /// qualified because the member shares its name.
    bpekit::layout layout = bpekit::layout::whole;
    /// layout::separator: the separator, non-empty (else errc::invalid_arg).
    std::string separator;
    /// layout::jsonl: the key path, non-empty, "." between nested keys ("meta.text" is key
    /// `text` of the object at key `meta`).
    std::string key = "text";
    /// The UTF-8 policy.
    utf8_errors errors = utf8_errors::strict;
    /// Characters (Unicode scalar values) kept per document, cut at a character
    /// boundary; nullopt: no cap.
    std::optional<uint64_t> doc_cap;
    /// Character budget (nanochat's rule): documents are taken in order, adding each one's
    /// characters (after the cap) to a running total; the document that makes the total
    /// exceed max_chars is still taken, then the split stops (docs::stopped()). A caller
    /// splitting many buffers passes what remains of its budget. nullopt: no budget.
    std::optional<uint64_t> max_chars;
    /// A name for error messages (a file name); may be empty.
    std::string source;
    /// Byte offset of the input's first byte in the source, for messages.
    uint64_t base_offset = 0;
    /// 1-based line number of the input's first line, for messages.
    uint64_t base_line = 1;

    /// The whole buffer is one document.
    static split_options whole() { return split_options(); }
    /// One document per line.
    static split_options lines() {
        split_options o;
        o.layout = bpekit::layout::lines;
        return o;
    }
    /// Documents between occurrences of `sep` (e.g. "\n\n" for paragraphs).
    static split_options separated_by(std::string sep) {
        split_options o;
        o.layout = bpekit::layout::separator;
        o.separator = std::move(sep);
        return o;
    }
    /// JSON Lines; the document is the string at `key_path`.
    static split_options jsonl(std::string key_path = "text") {
        split_options o;
        o.layout = bpekit::layout::jsonl;
        o.key = std::move(key_path);
        return o;
    }
};

/// One document: bytes [start, end) of a buffer (the C struct; 64-bit offsets on every
/// platform).
using doc_span = bpekit_span;

/// A borrowed, read-only list of doc_span (a pointer and a count), as C++20's
/// std::span<const doc_span>. It converts from a std::vector<doc_span> (and a C++20
/// std::span); docs::spans() returns one. It does not own the spans: the vector or
/// docs it views must outlive it.
class doc_spans {
public:
    constexpr doc_spans() noexcept = default;
    constexpr doc_spans(const doc_span *data, size_t size) noexcept : data_(data), size_(size) {}
    doc_spans(const std::vector<doc_span> &spans) noexcept : data_(spans.data()), size_(spans.size()) {}
#if __cplusplus >= 202002L
    constexpr doc_spans(std::span<const doc_span> spans) noexcept : data_(spans.data()), size_(spans.size()) {}
#endif

    constexpr const doc_span *data() const noexcept { return data_; }
    constexpr size_t size() const noexcept { return size_; }
    constexpr bool empty() const noexcept { return size_ == 0; }
    constexpr const doc_span *begin() const noexcept { return data_; }
    constexpr const doc_span *end() const noexcept { return data_ + size_; }
    constexpr const doc_span &operator[](size_t i) const noexcept { return data_[i]; }

private:
    const doc_span *data_ = nullptr;
    size_t size_ = 0;
};

namespace detail {

/// A split_options as the C struct; the pointers point into the split_options, which
/// must outlive this object.
inline bpekit_split_options c_split_options(const split_options &o) noexcept {
    bpekit_split_options c{};
    c.layout = static_cast<uint32_t>(o.layout);
    c.separator = o.separator.empty() ? nullptr : bytes_of(o.separator);
    c.separator_len = o.separator.size();
    c.key = o.key.empty() ? nullptr : bytes_of(o.key);
    c.key_len = o.key.size();
    c.errors = static_cast<uint32_t>(o.errors);
    c.doc_cap = o.doc_cap ? *o.doc_cap : BPEKIT_NO_LIMIT;
    c.max_chars = o.max_chars ? *o.max_chars : BPEKIT_NO_LIMIT;
    c.source = o.source.empty() ? nullptr : bytes_of(o.source);
    c.source_len = o.source.size();
    c.base_offset = o.base_offset;
    c.base_line = o.base_line;
    return c;
}

/// True for a std::string rvalue: docs::split refuses one, since the documents could
/// index its bytes after it is gone.
template <class S>
inline constexpr bool is_string_rvalue = std::is_same_v<std::remove_cv_t<S>, std::string>;

}  // namespace detail

/// Documents made by a split: spans of a buffer, with the split's counts. Move-only; owns
/// a bpekit_docs and releases it with bpekit_docs_free. The spans index data(): bytes the
/// split made (owns_data(): JSON strings unescaped, replacement characters), or else the
/// caller's input, which must then outlive this object and must not change. A
/// default-constructed or moved-from docs is empty (no documents, counts 0).
class docs {
public:
    docs() noexcept = default;
    docs(docs &&other) noexcept : d_(other.d_), input_(other.input_) {
        other.d_ = bpekit_docs{};
        other.input_ = {};
    }
    docs &operator=(docs &&other) noexcept {
        if (this != &other) {
            bpekit_docs_free(&d_);
            d_ = other.d_;
            input_ = other.input_;
            other.d_ = bpekit_docs{};
            other.input_ = {};
        }
        return *this;
    }
    docs(const docs &) = delete;
    docs &operator=(const docs &) = delete;
    ~docs() { bpekit_docs_free(&d_); }

    /// Splits `data` into documents as `opts` says. `data` is borrowed: unless the split
    /// made bytes of its own (owns_data()), the spans index it, so it must outlive the
    /// result (a std::string rvalue is refused at compile time for that reason). Throws
    /// errc::invalid_arg (empty separator or key), errc::invalid_utf8 (strict: names the
    /// source, byte offset and line), errc::bad_format (JSONL: a line that is not a JSON
    /// object, lacks the key or whose value is not a string; names the source, line and key).
    static docs split(std::string_view data, const split_options &opts = split_options()) {
        detail::ensure_abi();
        const bpekit_split_options c = detail::c_split_options(opts);
        docs out;
        detail::call([&](bpekit_error **e) {
            return bpekit_docs_split(detail::bytes_of(data), data.size(), &c, &out.d_, e);
        });
        out.input_ = data;
        return out;
    }
    template <class S, std::enable_if_t<detail::is_string_rvalue<S>, int> = 0>
    static docs split(S &&data, const split_options &opts = split_options()) = delete;

    /// Takes the `n` strings of an Arrow `utf8` array (32-bit offsets) as documents,
    /// without copying them: `data` is its value buffer, `offsets` its offset buffer (at
    /// least first + n + 1 entries; `first` is the array's offset), `validity` its validity
    /// bitmap or nullptr (no nulls). Nulls are skipped and counted in skipped(); the UTF-8
    /// policy, doc_cap and max_chars apply; consumed() counts elements. Every buffer is
    /// borrowed, and the spans index `data` unless owns_data(). Throws errc::invalid_arg
    /// (offsets negative, decreasing or past `data`: named by element index),
    /// errc::invalid_utf8 (strict: names the element and the source).
    static docs from_arrow(std::string_view data, const int32_t *offsets, uint64_t first, size_t n,
                           const uint8_t *validity = nullptr, const split_options &opts = split_options()) {
        return arrow(data, offsets, 4, first, n, validity, opts);
    }
    /// As above for an Arrow `large_utf8` array (64-bit offsets).
    static docs from_arrow(std::string_view data, const int64_t *offsets, uint64_t first, size_t n,
                           const uint8_t *validity = nullptr, const split_options &opts = split_options()) {
        return arrow(data, offsets, 8, first, n, validity, opts);
    }

    /// Number of documents.
    size_t size() const noexcept { return d_.n; }
    bool empty() const noexcept { return d_.n == 0; }
    /// The documents as spans of data(), in order; valid as long as this object.
    doc_spans spans() const noexcept { return doc_spans(d_.spans, d_.n); }
    /// The bytes the spans index: the split's own (owns_data()) or the caller's input.
    std::string_view data() const noexcept { return d_.data ? detail::view(d_.data, d_.data_len) : input_; }
    /// True when the split made bytes of its own (data() then lives as long as this object).
    bool owns_data() const noexcept { return d_.data != nullptr; }
    /// Document `i` (i < size()), a view into data().
    std::string_view operator[](size_t i) const noexcept {
        const doc_span &s = d_.spans[i];
        return std::string_view(data().data() + s.start, static_cast<size_t>(s.end - s.start));
    }
    /// Every document, as views into data().
    std::vector<std::string_view> texts() const {
        std::vector<std::string_view> out;
        out.reserve(size());
        for (size_t i = 0; i < size(); ++i) out.push_back((*this)[i]);
        return out;
    }
    /// Characters in the documents, after doc_cap.
    uint64_t chars() const noexcept { return d_.chars; }
    /// Documents dropped: invalid UTF-8 under utf8_errors::skip, Arrow nulls.
    uint64_t skipped() const noexcept { return d_.skipped; }
    /// Input consumed: all of it unless stopped(), else up to the end of the last
    /// document taken with its terminator. Bytes for split, elements for from_arrow.
    uint64_t consumed() const noexcept { return d_.consumed; }
    /// True when max_chars stopped the split.
    bool stopped() const noexcept { return d_.stopped != 0; }
    /// The C struct, still owned by this object.
    const bpekit_docs &capi() const noexcept { return d_; }

private:
    static docs arrow(std::string_view data, const void *offsets, uint32_t width, uint64_t first, size_t n,
                      const uint8_t *validity, const split_options &opts) {
        detail::ensure_abi();
        const bpekit_split_options c = detail::c_split_options(opts);
        docs out;
        detail::call([&](bpekit_error **e) {
            return bpekit_docs_from_arrow(detail::bytes_of(data), data.size(), offsets, width, first, n, validity, &c,
                                          &out.d_, e);
        });
        out.input_ = data;
        return out;
    }

    bpekit_docs d_{};
    std::string_view input_;
};

// ==== Tokenizer ====

/// What encode_with_unstable returns (tiktoken's `(stable, completions)` pair).
struct unstable_encoding {
    /// The ids no continuation of the text can change: a prefix of encode(text, policy).
    std::vector<uint32_t> stable;
    /// Every id sequence the rest of the text could start with once more text follows,
    /// sorted and distinct. Empty for an empty text or one ending in an allowed special token.
    std::vector<std::vector<uint32_t>> completions;
};

/// The unit of tokenizer::encode_with_offsets (the BPEKIT_OFFSETS_* constants).
enum class offset_unit : uint32_t {
    /// Bytes of the UTF-8 text.
    byte = BPEKIT_OFFSETS_BYTE,
    /// Characters (Unicode scalar values).
    character = BPEKIT_OFFSETS_CHAR,
};

/// The Unicode normalization a tokenizer applies to ordinary text before splitting it.
enum class normalization : uint32_t {
    /// None (every OpenAI encoding).
    none = BPEKIT_NORMALIZE_NONE,
    /// NFC, canonical composition (HF tokenizer.json's NFC normalizer, as in Qwen's).
    nfc = BPEKIT_NORMALIZE_NFC,
};

/// Tokens and the span of the text each covers: ids[i] covers starts[i] up to ends[i].
struct token_spans {
    std::vector<uint32_t> ids;
    std::vector<size_t> starts;
    std::vector<size_t> ends;
};

/// A trained tokenizer: ranks, a split pattern and special tokens. Immutable, so its
/// const methods may run concurrently from any number of threads.
class tokenizer {
public:
    /// An empty tokenizer (as a moved-from one); assign a real one to use it.
    tokenizer() noexcept = default;
    tokenizer(tokenizer &&) noexcept = default;
    tokenizer &operator=(tokenizer &&) noexcept = default;
    tokenizer(const tokenizer &) = delete;
    tokenizer &operator=(const tokenizer &) = delete;

    /// Loads ranks in tiktoken's `.tiktoken` format (the file's contents, not a path)
    /// with a split pattern (nullopt: the GPT-4 `cl100k_base` pattern; see named_pattern)
    /// and special tokens (text, id). Throws errc::bad_ranks, errc::bad_pattern,
    /// errc::invalid_utf8, errc::invalid_arg (bad special tokens).
    /// (bpekit_tokenizer_from_tiktoken without special tokens, bpekit_tokenizer_new with.)
    static tokenizer from_tiktoken(std::string_view ranks, std::optional<std::string_view> pattern = std::nullopt,
                                   const std::vector<std::pair<std::string, uint32_t>> &special = {}) {
        detail::ensure_abi();
        const auto pat = detail::pattern_arg(pattern);
        bpekit_tokenizer *out = nullptr;
        if (special.empty()) {
            detail::call([&](bpekit_error **e) {
                return bpekit_tokenizer_from_tiktoken(detail::bytes_of(ranks), ranks.size(), pat.first, pat.second,
                                                      &out, e);
            });
            return tokenizer(out);
        }
        std::vector<bpekit_special_token> specials;
        specials.reserve(special.size());
        for (const auto &s : special) specials.push_back(bpekit_special_token{detail::slice(s.first), s.second});
        detail::call([&](bpekit_error **e) {
            return bpekit_tokenizer_new(detail::bytes_of(ranks), ranks.size(), pat.first, pat.second, specials.data(),
                                        specials.size(), &out, e);
        });
        return tokenizer(out);
    }

    /// Reads a tokenizer from bytes made by to_bytes() (or a saved file's contents).
    /// Everything is validated. Throws errc::bad_format (truncated, corrupted, foreign or
    /// newer-version data) and the errors of from_tiktoken for invalid content.
    static tokenizer from_bytes(std::string_view data) {
        detail::ensure_abi();
        bpekit_tokenizer *out = nullptr;
        detail::call([&](bpekit_error **e) {
            return bpekit_tokenizer_from_bytes(detail::bytes_of(data), data.size(), &out, e);
        });
        return tokenizer(out);
    }

    /// Loads a tokenizer saved by save(). Throws errc::io (the message names the path
    /// and the OS error), errc::invalid_arg (empty path), and as from_bytes.
    static tokenizer load(const std::filesystem::path &path) {
        detail::ensure_abi();
        const std::string p = detail::path_bytes(path);
        bpekit_tokenizer *out = nullptr;
        detail::call([&](bpekit_error **e) {
            return bpekit_tokenizer_load(detail::bytes_of(p), p.size(), &out, e);
        });
        return tokenizer(out);
    }

    /// Saves the tokenizer (pattern, ranks, special tokens) to `path` in bpekit's own
    /// versioned, checksummed format. The write is atomic: on any failure an existing
    /// file is untouched and no partial file is left. Throws errc::io, errc::invalid_arg
    /// (empty path).
    void save(const std::filesystem::path &path) const {
        const std::string p = detail::path_bytes(path);
        detail::call([&](bpekit_error **e) {
            return bpekit_tokenizer_save(h_.get(), detail::bytes_of(p), p.size(), e);
        });
    }

    /// The tokenizer in bpekit's file format (what save() writes), for from_bytes().
    std::string to_bytes() const {
        detail::bytes_guard out;
        detail::call([&](bpekit_error **e) { return bpekit_tokenizer_to_bytes(h_.get(), &out.v, e); });
        return out.str();
    }

    /// Encodes UTF-8 text with tiktoken's default policy: special-token text throws
    /// errc::disallowed_special (use encode_ordinary or a special_policy otherwise).
    std::vector<uint32_t> encode(std::string_view text) const {
        detail::tokens_guard out;
        detail::call([&](bpekit_error **e) {
            return bpekit_tokenizer_encode(h_.get(), detail::bytes_of(text), text.size(), nullptr, &out.v, e);
        });
        return detail::to_vector(out.v);
    }

    /// Encodes UTF-8 text under `policy` (e.g. special_policy::allowing_all() or
    /// special_policy::allowing({"<|endoftext|>"})). Throws errc::disallowed_special
    /// (the message names the token), errc::invalid_utf8.
    std::vector<uint32_t> encode(std::string_view text, const special_policy &policy) const {
        const detail::c_policy c(policy);
        detail::tokens_guard out;
        detail::call([&](bpekit_error **e) {
            return bpekit_tokenizer_encode(h_.get(), detail::bytes_of(text), text.size(), c.get(), &out.v, e);
        });
        return detail::to_vector(out.v);
    }

    /// encode(text, policy), with the span of `text` each token covers, in `unit`: in
    /// bytes the spans tile the text and each is its token's bytes; in characters a span
    /// holds every character its token has a byte of. Throws as encode.
    token_spans encode_with_offsets(std::string_view text, const special_policy &policy,
                                    offset_unit unit = offset_unit::byte) const {
        const detail::c_policy c(policy);
        detail::tokens_guard ids;
        detail::offsets_guard starts, ends;
        detail::call([&](bpekit_error **e) {
            return bpekit_tokenizer_encode_with_offsets(h_.get(), detail::bytes_of(text), text.size(), c.get(),
                                                        static_cast<uint32_t>(unit), &ids.v, &starts.v, &ends.v, e);
        });
        return token_spans{detail::to_vector(ids.v), std::vector<size_t>(starts.v.data, starts.v.data + starts.v.len),
                           std::vector<size_t>(ends.v.data, ends.v.data + ends.v.len)};
    }

    /// Encodes `text` with these special tokens allowed (tiktoken's `allowed_special`
    /// set); the text of any other special token throws errc::disallowed_special.
    /// For "all", pass special_policy::allowing_all().
    std::vector<uint32_t> encode(std::string_view text, std::vector<std::string> allowed_special) const {
        return encode(text, special_policy::allowing(std::move(allowed_special)));
    }

    /// Encodes UTF-8 text, treating special-token text as ordinary text.
    std::vector<uint32_t> encode_ordinary(std::string_view text) const {
        detail::tokens_guard out;
        detail::call([&](bpekit_error **e) {
            return bpekit_tokenizer_encode_ordinary(h_.get(), detail::bytes_of(text), text.size(), &out.v, e);
        });
        return detail::to_vector(out.v);
    }

    /// Encodes bytes that need not be UTF-8, as ordinary text (tiktoken's _encode_bytes):
    /// UTF-8 gives encode_ordinary's ids; otherwise the valid prefix is encoded and the
    /// tokens of its last piece, with the bytes after the prefix, are merged as one piece.
    std::vector<uint32_t> encode_bytes(std::string_view bytes) const {
        detail::tokens_guard out;
        detail::call([&](bpekit_error **e) {
            return bpekit_tokenizer_encode_bytes(h_.get(), detail::bytes_of(bytes), bytes.size(), &out.v, e);
        });
        return detail::to_vector(out.v);
    }

    /// Encodes any bytes as one piece, without the split and without special tokens
    /// (tiktoken's _encode_single_piece): its id if it is a token, else what merging gives.
    std::vector<uint32_t> encode_piece(std::string_view bytes) const {
        detail::tokens_guard out;
        detail::call([&](bpekit_error **e) {
            return bpekit_tokenizer_encode_piece(h_.get(), detail::bytes_of(bytes), bytes.size(), &out.v, e);
        });
        return detail::to_vector(out.v);
    }

    /// Encodes as encode(text, policy) into `out`, which has room for `cap` ids, and
    /// returns how many were written; nothing is allocated. `cap >= text.size()`
    /// suffices, or `3 * text.size()` for a tokenizer that normalizes. Throws errc::buffer_too_small (the message says how many are needed;
    /// `out` is then untouched), and as encode.
    size_t encode_into(std::string_view text, uint32_t *out, size_t cap,
                       const special_policy &policy = special_policy()) const {
        const detail::c_policy c(policy);
        size_t n = 0;
        detail::call([&](bpekit_error **e) {
            return bpekit_tokenizer_encode_into(h_.get(), detail::bytes_of(text), text.size(), c.get(), out, cap, &n,
                                                e);
        });
        return n;
    }
#if __cplusplus >= 202002L
    size_t encode_into(std::string_view text, std::span<uint32_t> out,
                       const special_policy &policy = special_policy()) const {
        return encode_into(text, out.data(), out.size(), policy);
    }
#endif

    /// encode_into of UTF-16 text (code units in the platform's byte order, e.g. a
    /// QString's or a Windows wide string's), transcoded by the library: the ids of its
    /// UTF-8. `cap >= 3 * text.size()` suffices (`9 *` for a tokenizer that normalizes).
    /// A lone surrogate throws errc::invalid_utf8 naming its unit; otherwise as
    /// encode_into.
    size_t encode_into(std::u16string_view text, uint32_t *out, size_t cap,
                       const special_policy &policy = special_policy()) const {
        const detail::c_policy c(policy);
        size_t n = 0;
        detail::call([&](bpekit_error **e) {
            return bpekit_tokenizer_encode_utf16_into(h_.get(), reinterpret_cast<const uint16_t *>(text.data()),
                                                      text.size(), c.get(), out, cap, &n, e);
        });
        return n;
    }

    /// Encodes for completion (tiktoken's `encode_with_unstable`) under `policy`: the
    /// stable ids and every id sequence the rest could become once more text follows.
    /// The search is brute force, as in tiktoken: it costs far more than an encode.
    /// Throws as encode.
    unstable_encoding encode_with_unstable(std::string_view text,
                                           const special_policy &policy = special_policy()) const {
        const detail::c_policy c(policy);
        detail::tokens_guard stable, completions;
        detail::offsets_guard offsets;
        detail::call([&](bpekit_error **e) {
            return bpekit_tokenizer_encode_with_unstable(h_.get(), detail::bytes_of(text), text.size(), c.get(),
                                                         &stable.v, &completions.v, &offsets.v, e);
        });
        unstable_encoding out;
        out.stable = detail::to_vector(stable.v);
        out.completions = detail::split(completions.v, offsets.v, "bpekit_tokenizer_encode_with_unstable");
        return out;
    }

    /// The number of ids encode(text, policy) would return, without building them.
    size_t count(std::string_view text, const special_policy &policy = special_policy()) const {
        const detail::c_policy c(policy);
        size_t n = 0;
        detail::call([&](bpekit_error **e) {
            return bpekit_tokenizer_count(h_.get(), detail::bytes_of(text), text.size(), c.get(), &n, e);
        });
        return n;
    }

    /// count of UTF-16 text (as encode_into of a std::u16string_view takes it).
    size_t count(std::u16string_view text, const special_policy &policy = special_policy()) const {
        const detail::c_policy c(policy);
        size_t n = 0;
        detail::call([&](bpekit_error **e) {
            return bpekit_tokenizer_count_utf16(h_.get(), reinterpret_cast<const uint16_t *>(text.data()),
                                                text.size(), c.get(), &n, e);
        });
        return n;
    }

    /// Encodes texts in parallel on `num_threads` threads (0: one per core, or
    /// RAYON_NUM_THREADS), each as encode(text, policy). Result i belongs to texts[i].
    /// Throws as encode; the message names the first failing text as `texts[i]`.
    std::vector<std::vector<uint32_t>> encode_batch(const std::vector<std::string_view> &texts,
                                                    const special_policy &policy = special_policy(),
                                                    size_t num_threads = 0) const {
        return encode_slices(detail::slices(texts.begin(), texts.end()), policy, num_threads);
    }
    std::vector<std::vector<uint32_t>> encode_batch(const std::vector<std::string> &texts,
                                                    const special_policy &policy = special_policy(),
                                                    size_t num_threads = 0) const {
        return encode_slices(detail::slices(texts.begin(), texts.end()), policy, num_threads);
    }
    std::vector<std::vector<uint32_t>> encode_batch(std::initializer_list<std::string_view> texts,
                                                    const special_policy &policy = special_policy(),
                                                    size_t num_threads = 0) const {
        return encode_slices(detail::slices(texts.begin(), texts.end()), policy, num_threads);
    }

    /// The number of tokens of each document, as encode_ordinary gives them (special-token
    /// text is ordinary text), counted in parallel on `num_threads` threads (0: the
    /// default): result i belongs to spans[i], bytes [start, end) of `data`. Every span
    /// is checked (within `data`, UTF-8). Throws errc::invalid_arg (a span out of range,
    /// too many threads), errc::invalid_utf8 (both name the document as `spans[i]`).
    std::vector<uint64_t> count_docs(std::string_view data, doc_spans spans, size_t num_threads = 0) const {
        std::vector<uint64_t> counts(spans.size());
        detail::call([&](bpekit_error **e) {
            return bpekit_tokenizer_count_docs(h_.get(), detail::bytes_of(data), data.size(), spans.data(),
                                               spans.size(), num_threads, counts.empty() ? nullptr : counts.data(),
                                               e);
        });
        return counts;
    }
    /// The number of tokens of each of `documents` (as above).
    std::vector<uint64_t> count_docs(const docs &documents, size_t num_threads = 0) const {
        return count_docs(documents.data(), documents.spans(), num_threads);
    }

    /// One merge rule: merging `left` and `right` makes `token`.
    struct merge_rule {
        uint32_t left, right, token;
        bool operator==(const merge_rule &o) const noexcept {
            return left == o.left && right == o.right && token == o.token;
        }
    };

    /// The merge rule of each token that merging its own bytes makes, in rank order (the
    /// merge list of a merges-based BPE, as HF tokenizers' tokenizer.json has).
    std::vector<merge_rule> merge_rules() const {
        detail::tokens_guard out;
        detail::call([&](bpekit_error **e) { return bpekit_tokenizer_merge_rules(h_.get(), &out.v, e); });
        std::vector<merge_rule> rules;
        rules.reserve(out.v.len / 3);
        for (size_t i = 0; i + 2 < out.v.len; i += 3) rules.push_back({out.v.ids[i], out.v.ids[i + 1], out.v.ids[i + 2]});
        return rules;
    }

    /// Decodes ids to bytes. The bytes need not be valid UTF-8 (a token may hold part of
    /// a character). Throws errc::unknown_token (the message names the first unknown id).
    std::string decode(const uint32_t *ids, size_t n) const {
        detail::bytes_guard out;
        detail::call([&](bpekit_error **e) { return bpekit_tokenizer_decode(h_.get(), ids, n, &out.v, e); });
        return out.str();
    }
    std::string decode(const std::vector<uint32_t> &ids) const { return decode(ids.data(), ids.size()); }
    std::string decode(std::initializer_list<uint32_t> ids) const { return decode(ids.begin(), ids.size()); }
#if __cplusplus >= 202002L
    std::string decode(std::span<const uint32_t> ids) const { return decode(ids.data(), ids.size()); }
#endif

    /// Borrows the bytes of token `id` (a rank's bytes, or a special token's text).
    /// Lifetime: the view points into the C tokenizer and stays valid until that handle
    /// is freed, i.e. until the tokenizer owning it (this one, or the one it was moved
    /// into) is destroyed or assigned to. Throws errc::unknown_token.
    std::string_view token_bytes(uint32_t id) const {
        const uint8_t *data = nullptr;
        size_t len = 0;
        detail::call([&](bpekit_error **e) { return bpekit_tokenizer_token_bytes(h_.get(), id, &data, &len, e); });
        return detail::view(data, len);
    }

    /// The id of `bytes` when they form one token (a rank, else a special token's text).
    /// Throws errc::unknown_token.
    uint32_t token_id(std::string_view bytes) const {
        uint32_t id = 0;
        detail::call([&](bpekit_error **e) {
            return bpekit_tokenizer_token_id(h_.get(), detail::bytes_of(bytes), bytes.size(), &id, e);
        });
        return id;
    }

    /// The ranks in tiktoken's `.tiktoken` format, sorted by rank: from_tiktoken and
    /// tiktoken's load_tiktoken_bpe read it back. Special tokens are not included
    /// (to_bytes keeps everything).
    std::string export_tiktoken() const {
        detail::bytes_guard out;
        detail::call([&](bpekit_error **e) { return bpekit_tokenizer_export_tiktoken(h_.get(), &out.v, e); });
        return out.str();
    }

    /// One more than the largest token id (tiktoken's n_vocab); 0 for an empty tokenizer.
    size_t vocab_size() const noexcept { return bpekit_tokenizer_vocab_size(h_.get()); }

    /// A copy that applies `n` to ordinary text before splitting (special tokens are
    /// found in the text as given; decoding gives the normalized text; offsets stay in
    /// the text as given). This tokenizer is unchanged.
    tokenizer with_normalization(bpekit::normalization n) const {
        bpekit_tokenizer *out = nullptr;
        detail::call([&](bpekit_error **e) {
            return bpekit_tokenizer_with_normalization(h_.get(), static_cast<uint32_t>(n), &out, e);
        });
        return tokenizer(out);
    }

    /// The normalization applied to ordinary text before splitting.
    bpekit::normalization normalization() const noexcept {
        return static_cast<bpekit::normalization>(bpekit_tokenizer_normalization(h_.get()));
    }

    /// Which engine splits text for the pattern: "named", "automaton" or "backtracking"
    /// (static storage; later versions may add names).
    std::string_view split_engine() const noexcept { return bpekit_tokenizer_split_engine(h_.get()); }

    /// Borrows the split pattern (UTF-8). Same lifetime as token_bytes().
    std::string_view pattern() const {
        const uint8_t *data = nullptr;
        size_t len = 0;
        detail::call([&](bpekit_error **e) { return bpekit_tokenizer_pattern(h_.get(), &data, &len, e); });
        return detail::view(data, len);
    }

    /// The special tokens (text, id), in id order; the same shape from_tiktoken takes.
    std::vector<std::pair<std::string, uint32_t>> special_tokens() const {
        if (!h_) throw error(errc::null_arg, "argument `tok` is NULL");
        const size_t n = bpekit_tokenizer_special_count(h_.get());
        std::vector<std::pair<std::string, uint32_t>> out;
        out.reserve(n);
        for (size_t i = 0; i < n; ++i) {
            const uint8_t *text = nullptr;
            size_t len = 0;
            uint32_t id = 0;
            detail::call([&](bpekit_error **e) {
                return bpekit_tokenizer_special_token(h_.get(), i, &text, &len, &id, e);
            });
            out.emplace_back(std::string(detail::view(text, len)), id);
        }
        return out;
    }

    /// True unless empty (default-constructed or moved-from).
    explicit operator bool() const noexcept { return static_cast<bool>(h_); }
    /// The C handle, still owned by this object (for calling bpekit.h directly).
    const bpekit_tokenizer *capi() const noexcept { return h_.get(); }

private:
    friend class trainer;
    explicit tokenizer(bpekit_tokenizer *owned) noexcept : h_(owned) {}

    std::vector<std::vector<uint32_t>> encode_slices(const std::vector<bpekit_slice> &texts,
                                                     const special_policy &policy, size_t num_threads) const {
        const detail::c_policy c(policy);
        detail::tokens_guard ids;
        detail::offsets_guard offsets;
        detail::call([&](bpekit_error **e) {
            return bpekit_tokenizer_encode_batch(h_.get(), texts.empty() ? nullptr : texts.data(), texts.size(),
                                                 c.get(), num_threads, &ids.v, &offsets.v, e);
        });
        if (texts.empty()) return {};
        if (offsets.v.len != texts.size() + 1) {
            throw error(errc::panic, "bpekit_tokenizer_encode_batch returned inconsistent offsets");
        }
        return detail::split(ids.v, offsets.v, "bpekit_tokenizer_encode_batch");
    }

    std::unique_ptr<bpekit_tokenizer, detail::tokenizer_free> h_;
};

// ==== Streaming decode ====

/// What a stream_decoder gives for ill-formed UTF-8 (bpekit_stream_decoder_new's modes).
enum class utf8_mode : uint32_t {
    /// U+FFFD per maximal ill-formed subsequence (as Python's errors="replace"): always UTF-8.
    replace = BPEKIT_UTF8_REPLACE,
    /// Throw errc::invalid_utf8; the decoder is left as it was.
    strict = BPEKIT_UTF8_STRICT,
    /// The bytes as they are, cut where decoding each piece equals decoding the whole.
    bytes = BPEKIT_UTF8_BYTES,
};

/// Decodes ids as they arrive (a server streaming a model's output): add() returns the
/// text the new ids complete, holding back a character a token ended inside of until
/// the next ids complete it; flush() gives what is held and starts a new stream. The
/// pieces, joined, equal tokenizer::decode of all the ids (in the decoder's mode). One
/// stream, one thread at a time; it holds no tokenizer (each add takes one).
class stream_decoder {
public:
    /// Throws errc::invalid_arg (not a utf8_mode), or error from check_abi().
    explicit stream_decoder(utf8_mode mode = utf8_mode::replace) {
        detail::ensure_abi();
        bpekit_stream_decoder *out = nullptr;
        detail::call([&](bpekit_error **e) { return bpekit_stream_decoder_new(static_cast<uint32_t>(mode), &out, e); });
        h_.reset(out);
    }
    stream_decoder(stream_decoder &&) noexcept = default;
    stream_decoder &operator=(stream_decoder &&) noexcept = default;
    stream_decoder(const stream_decoder &) = delete;
    stream_decoder &operator=(const stream_decoder &) = delete;

    /// Adds ids decoded with `tok` and returns what they complete (often ""). Throws
    /// errc::unknown_token or (strict mode) errc::invalid_utf8; nothing is added then.
    std::string add(const tokenizer &tok, const uint32_t *ids, size_t n) {
        detail::bytes_guard out;
        detail::call([&](bpekit_error **e) { return bpekit_stream_decoder_add(h_.get(), tok.capi(), ids, n, &out.v, e); });
        return out.str();
    }
    std::string add(const tokenizer &tok, uint32_t id) { return add(tok, &id, 1); }
    std::string add(const tokenizer &tok, const std::vector<uint32_t> &ids) { return add(tok, ids.data(), ids.size()); }

    /// The held-back incomplete character (U+FFFD in replace mode; "" if none), and a new
    /// stream. Throws errc::invalid_utf8 in strict mode if one is held (then still held).
    std::string flush() {
        detail::bytes_guard out;
        detail::call([&](bpekit_error **e) { return bpekit_stream_decoder_flush(h_.get(), &out.v, e); });
        return out.str();
    }

    /// The C handle, still owned by this object.
    bpekit_stream_decoder *capi() const noexcept { return h_.get(); }

private:
    std::unique_ptr<bpekit_stream_decoder, detail::stream_decoder_free> h_;
};

// ==== Trainer ====

/// A trainer's progress (the four fields are read one by one, not atomically).
struct progress {
    uint64_t texts = 0;         ///< texts counted so far
    uint64_t bytes = 0;         ///< bytes of text counted so far
    uint64_t merges_done = 0;   ///< merges learned by the running (or last) finish
    uint64_t merges_total = 0;  ///< merges that finish aims for
};

/// Counts text, then learns merges (the same merges as rustbpe). Non-const methods need
/// exclusive access; progress(), texts() and bytes() may be called from another thread
/// meanwhile.
class trainer {
public:
    /// A trainer splitting text with `pattern` (UTF-8, fancy-regex syntax or a split chain as
    /// bpekit_trainer_new describes; nullopt: the
    /// GPT-4 `cl100k_base` pattern). Throws errc::bad_pattern, errc::invalid_utf8,
    /// or error from check_abi().
    explicit trainer(std::optional<std::string_view> pattern = std::nullopt) {
        detail::ensure_abi();
        const auto pat = detail::pattern_arg(pattern);
        bpekit_trainer *out = nullptr;
        detail::call([&](bpekit_error **e) { return bpekit_trainer_new(pat.first, pat.second, &out, e); });
        h_.reset(out);
    }
    trainer(trainer &&) noexcept = default;
    trainer &operator=(trainer &&) noexcept = default;
    trainer(const trainer &) = delete;
    trainer &operator=(const trainer &) = delete;

    /// Counts one UTF-8 text. On error nothing of it is counted.
    void feed(std::string_view text) {
        detail::call([&](bpekit_error **e) {
            return bpekit_trainer_feed(h_.get(), detail::bytes_of(text), text.size(), e);
        });
    }

    /// Counts texts in parallel. On error nothing of the batch is counted; the message
    /// names the first bad text's index.
    void feed_batch(const std::vector<std::string_view> &texts) {
        feed_slices(detail::slices(texts.begin(), texts.end()));
    }
    void feed_batch(const std::vector<std::string> &texts) { feed_slices(detail::slices(texts.begin(), texts.end())); }
    void feed_batch(std::initializer_list<std::string_view> texts) {
        feed_slices(detail::slices(texts.begin(), texts.end()));
    }

    /// Counts documents given as spans of `data` (bytes [start, end) each), in parallel,
    /// as feed_batch counts the same texts. Every span is checked first (within `data`,
    /// UTF-8): on error nothing is counted. Throws errc::invalid_arg (a span out of
    /// range), errc::invalid_utf8 (both name the first bad document as `spans[i]`).
    void feed_docs(std::string_view data, doc_spans spans) {
        detail::call([&](bpekit_error **e) {
            return bpekit_trainer_feed_docs(h_.get(), detail::bytes_of(data), data.size(), spans.data(), spans.size(),
                                            e);
        });
    }
    /// Counts the documents of a split (as above).
    void feed_docs(const docs &documents) { feed_docs(documents.data(), documents.spans()); }

    /// Sets the special tokens; finish() gives them the ids right after the last merge,
    /// in this order, and counts them in its vocab size. An empty list clears them.
    /// Throws errc::invalid_arg (empty or repeated token); the trainer is then unchanged.
    void set_special_tokens(const std::vector<std::string> &tokens) {
        const auto s = detail::slices(tokens.begin(), tokens.end());
        detail::call([&](bpekit_error **e) {
            return bpekit_trainer_set_special_tokens(h_.get(), s.empty() ? nullptr : s.data(), s.size(), e);
        });
    }

    /// Runs the trainer's parallel work on a shared pool of `num_threads` threads (0:
    /// one per core). The merges do not depend on it.
    void set_threads(size_t num_threads) {
        detail::call([&](bpekit_error **e) { return bpekit_trainer_set_threads(h_.get(), num_threads, e); });
    }

    /// How far the trainer is; safe to call while another thread feeds or finishes.
    /// (The return type is written qualified because the member function shares its name.)
    bpekit::progress progress() const {
        bpekit_progress p{};
        detail::call([&](bpekit_error **e) { return bpekit_trainer_progress(h_.get(), &p, e); });
        return bpekit::progress{p.texts, p.bytes, p.merges_done, p.merges_total};
    }

    /// Texts counted so far (0 for an empty trainer); safe during feed on another thread.
    uint64_t texts() const noexcept { return bpekit_trainer_texts(h_.get()); }

    /// Bytes of text counted so far (0 for an empty trainer); as texts().
    uint64_t bytes() const noexcept { return bpekit_trainer_bytes(h_.get()); }

    /// The counts so far (and the pattern) as an opaque, checksummed byte string for
    /// another trainer's add_counts (e.g. count shards on several machines, train once),
    /// merge_counts or read_counts_info.
    std::string export_counts() const {
        detail::bytes_guard out;
        detail::call([&](bpekit_error **e) { return bpekit_trainer_export_counts(h_.get(), &out.v, e); });
        return out.str();
    }

    /// Adds counts from export_counts() or merge_counts(). Throws errc::bad_format (truncated, corrupted,
    /// not a count table) or errc::invalid_arg (another pattern); nothing is then added.
    void add_counts(std::string_view counts) {
        detail::call([&](bpekit_error **e) {
            return bpekit_trainer_add_counts(h_.get(), detail::bytes_of(counts), counts.size(), e);
        });
    }

    /// Learns merges from everything fed so far and returns a tokenizer of at most
    /// `vocab_size` tokens (256 bytes, merges, special tokens). The trainer stays usable:
    /// feed more and finish again. Throws errc::invalid_arg (vocab_size < 256).
    tokenizer finish(uint32_t vocab_size) {
        bpekit_tokenizer *out = nullptr;
        detail::call([&](bpekit_error **e) { return bpekit_trainer_finish(h_.get(), vocab_size, &out, e); });
        return tokenizer(out);
    }

    /// True unless moved-from.
    explicit operator bool() const noexcept { return static_cast<bool>(h_); }
    /// The C handle, still owned by this object.
    bpekit_trainer *capi() const noexcept { return h_.get(); }

private:
    void feed_slices(const std::vector<bpekit_slice> &texts) {
        detail::call([&](bpekit_error **e) {
            return bpekit_trainer_feed_batch(h_.get(), texts.empty() ? nullptr : texts.data(), texts.size(), e);
        });
    }

    std::unique_ptr<bpekit_trainer, detail::trainer_free> h_;
};

// ==== Token shards ====

/// How shard_writer::create writes (bpekit_shard_options).
struct shard_options {
    /// The format: "llmc" (llm.c's .bin), "megatron" (.bin + .idx), "nanogpt" (raw
    /// uint16 .bin) or "npy" (.npy + .docs.npy).
    std::string format;
    /// The output path prefix; its directory must exist and be writable.
    std::filesystem::path prefix;
    /// 0: one shard, files PREFIX.bin etc.; N > 0: shards PREFIX_000000, PREFIX_000001, ...
    /// (six digits, more when needed) of at most N tokens each (BOS and EOS included). A
    /// document is never split between shards: one longer than N alone fills a shard.
    uint64_t shard_tokens = 0;
    /// The number of the first shard (to resume a run); must be 0 when shard_tokens is 0.
    uint64_t first_shard = 0;
    /// An id written before every document.
    std::optional<uint32_t> bos;
    /// An id written after every document.
    std::optional<uint32_t> eos;
};

/// A completed shard (bpekit_shard_record, copied out of the writer).
struct shard_record {
    /// The shard's number (0 when not sharding).
    uint64_t index = 0;
    /// Tokens in the shard, BOS and EOS included.
    uint64_t tokens = 0;
    /// Documents in the shard.
    uint64_t documents = 0;
    /// The shard's files under their final names, in the format's order (.bin then .idx;
    /// .npy then .docs.npy).
    std::vector<std::filesystem::path> paths;
};

namespace detail {

struct shard_writer_free {
    void operator()(bpekit_shard_writer *w) const noexcept { bpekit_shard_writer_free(w); }
};

/// A path from the bytes the C API gives: the native bytes on POSIX, UTF-8 elsewhere.
inline std::filesystem::path path_from_bytes(std::string_view bytes) {
#if defined(_WIN32) && defined(__cpp_char8_t)
    return std::filesystem::path(std::u8string(bytes.begin(), bytes.end()));
#elif defined(_WIN32)
    return std::filesystem::u8path(bytes.begin(), bytes.end());
#else
    return std::filesystem::path(std::string(bytes));
#endif
}

/// A format name as the C (pointer, length) pair: empty is (NULL, 0), "detect".
inline std::pair<const uint8_t *, size_t> format_arg(std::string_view format) noexcept {
    return {format.empty() ? nullptr : bytes_of(format), format.size()};
}

inline std::vector<uint64_t> to_vector(const bpekit_offsets &o) {
    return o.len ? std::vector<uint64_t>(o.data, o.data + o.len) : std::vector<uint64_t>();
}

}  // namespace detail

/// Encodes documents and writes them, in document order, as token shards (llm.c,
/// Megatron, nanoGPT or NumPy files). Each shard's files are hidden temporary files until
/// the shard is complete, then renamed: a writer destroyed (or assigned over) before
/// finish() removes the open shard's temporary files, so no partial file is ever left
/// under a final name; shards already completed stay. The bytes written depend only on
/// the documents, never on the thread count or on how documents are split between
/// push() calls. Move-only; a default-constructed or moved-from writer is empty: it
/// converts to false and its fallible methods throw errc::null_arg. Non-const methods
/// need exclusive access; completed() and shard() wait for a call running on another
/// thread.
class shard_writer {
public:
    shard_writer() noexcept = default;
    shard_writer(shard_writer &&) noexcept = default;
    shard_writer &operator=(shard_writer &&) noexcept = default;
    shard_writer(const shard_writer &) = delete;
    shard_writer &operator=(const shard_writer &) = delete;

    /// A writer for documents encoded by `tok` (its vocab size decides the format's token
    /// type). Everything is checked before any file is created: the format name, the
    /// vocab size against the format's token type (the message names both and the limit),
    /// bos/eos below the vocab size, first_shard 0 unless sharding, and the prefix's
    /// directory. Throws errc::invalid_arg, errc::io (the directory is missing or not
    /// writable: the message names it), errc::null_arg (an empty tokenizer).
    static shard_writer create(const tokenizer &tok, const shard_options &opts) {
        detail::ensure_abi();
        const std::string prefix = detail::path_bytes(opts.prefix);
        bpekit_shard_options c{};
        c.format = opts.format.empty() ? nullptr : detail::bytes_of(opts.format);
        c.format_len = opts.format.size();
        c.prefix = prefix.empty() ? nullptr : detail::bytes_of(prefix);
        c.prefix_len = prefix.size();
        c.shard_tokens = opts.shard_tokens;
        c.first_shard = opts.first_shard;
        c.bos = opts.bos ? static_cast<int64_t>(*opts.bos) : -1;
        c.eos = opts.eos ? static_cast<int64_t>(*opts.eos) : -1;
        bpekit_shard_writer *out = nullptr;
        detail::call([&](bpekit_error **e) { return bpekit_shard_writer_new(tok.capi(), &c, &out, e); });
        shard_writer w;
        w.h_.reset(out);
        return w;
    }

    /// Encodes documents, bytes [start, end) of `data` each, with encode_ordinary (special-
    /// token text is ordinary text) on `num_threads` threads (0: the default), then
    /// appends them in order, each as bos + ids + eos, completing shards as shard_tokens
    /// says. `tok` must have the vocab size the writer was created with. Every span is
    /// checked before anything is written. Throws, with nothing written and the writer
    /// usable: errc::invalid_arg (a bad span or thread count, another vocab size, a
    /// format limit, the writer finished), errc::invalid_utf8 (naming `spans[i]`).
    /// Throws errc::io when a write fails: the open shard's files are removed and every
    /// later call throws.
    void push(const tokenizer &tok, std::string_view data, doc_spans spans, size_t num_threads = 0) {
        detail::call([&](bpekit_error **e) {
            return bpekit_shard_writer_push(h_.get(), tok.capi(), detail::bytes_of(data), data.size(), spans.data(),
                                            spans.size(), num_threads, e);
        });
    }
    /// Writes the documents of a split (as above).
    void push(const tokenizer &tok, const docs &documents, size_t num_threads = 0) {
        push(tok, documents.data(), documents.spans(), num_threads);
    }

    /// Appends documents already encoded, in order, each as bos + ids + eos: document i
    /// is ids[offsets[i]] up to ids[offsets[i + 1]]. `offsets` (n_offsets entries: one
    /// more than the documents, or none for no document) is non-decreasing and its last
    /// entry is at most n_ids. Given the ids push() would encode, it writes the same
    /// bytes. Throws, with nothing written and the writer usable: errc::invalid_arg
    /// (offsets that decrease or pass the ids, an id not below the vocab size, a format
    /// limit, the writer finished). Throws errc::io as push() does.
    void push_ids(const uint32_t *ids, size_t n_ids, const uint64_t *offsets, size_t n_offsets) {
        const size_t n_docs = n_offsets == 0 ? 0 : n_offsets - 1;
        detail::call([&](bpekit_error **e) {
            return bpekit_shard_writer_push_ids(h_.get(), ids, n_ids, n_docs ? offsets : nullptr, n_docs, e);
        });
    }
    void push_ids(const std::vector<uint32_t> &ids, const std::vector<uint64_t> &offsets) {
        push_ids(ids.data(), ids.size(), offsets.data(), offsets.size());
    }
#if __cplusplus >= 202002L
    void push_ids(std::span<const uint32_t> ids, std::span<const uint64_t> offsets) {
        push_ids(ids.data(), ids.size(), offsets.data(), offsets.size());
    }
#endif

    /// Completes the open shard (when sharding, a run that wrote no document still writes
    /// one empty shard, numbered first_shard). Afterwards only completed(), shard() and
    /// records() may be called. Throws errc::invalid_arg (already finished), errc::io
    /// (nothing of the failed shard is left, under any name).
    void finish() {
        detail::call([&](bpekit_error **e) { return bpekit_shard_writer_finish(h_.get(), e); });
    }

    /// How many shards are complete (every file under its final name) so far; 0 for an
    /// empty writer.
    size_t completed() const noexcept { return bpekit_shard_writer_completed(h_.get()); }

    /// Completed shard `i` (i < completed()), in the order written. Throws
    /// errc::invalid_arg (`i` out of range).
    shard_record shard(size_t i) const {
        bpekit_shard_record r{};
        detail::call([&](bpekit_error **e) { return bpekit_shard_writer_shard(h_.get(), i, &r, e); });
        shard_record out;
        out.index = r.index;
        out.tokens = r.tokens;
        out.documents = r.documents;
        // r.paths: each name followed by a NUL byte.
        const std::string_view all = detail::view(r.paths, r.paths_len);
        for (size_t at = 0; at < all.size();) {
            size_t end = all.find('\0', at);
            if (end == std::string_view::npos) end = all.size();
            out.paths.push_back(detail::path_from_bytes(all.substr(at, end - at)));
            at = end + 1;
        }
        return out;
    }

    /// Every completed shard, in the order written.
    std::vector<shard_record> records() const {
        std::vector<shard_record> out;
        const size_t n = completed();
        out.reserve(n);
        for (size_t i = 0; i < n; ++i) out.push_back(shard(i));
        return out;
    }

    /// True unless empty (default-constructed or moved-from).
    explicit operator bool() const noexcept { return static_cast<bool>(h_); }
    /// The C handle, still owned by this object.
    bpekit_shard_writer *capi() const noexcept { return h_.get(); }

private:
    std::unique_ptr<bpekit_shard_writer, detail::shard_writer_free> h_;
};

/// Where the open shard of a rotation stands (bpekit_shard_cursor): start at {} or at
/// {first_shard, 0, 0}.
struct shard_cursor {
    /// The number of the open shard.
    uint64_t index = 0;
    /// Tokens in it so far, BOS and EOS included.
    uint64_t tokens = 0;
    /// Documents in it so far.
    uint64_t documents = 0;
};

/// The shard writer's rotation rule on document lengths alone (bpekit_shard_plan): for
/// each of n documents of doc_tokens[i] tokens (BOS and EOS included), in order, the
/// number of the shard a shard_writer with this shard_tokens (and first_shard =
/// cursor.index) puts it in; advances `cursor`. Carried from call to call, the cursor
/// makes the numbers independent of how the documents are split between calls.
/// shard_tokens 0: every document goes to cursor.index. Throws errc::invalid_arg (a shard
/// number past UINT64_MAX; `cursor` is then unchanged).
inline std::vector<uint64_t> shard_plan(uint64_t shard_tokens, const uint64_t *doc_tokens, size_t n,
                                        shard_cursor &cursor) {
    detail::ensure_abi();
    std::vector<uint64_t> out(n);
    bpekit_shard_cursor c{cursor.index, cursor.tokens, cursor.documents};
    detail::call([&](bpekit_error **e) {
        return bpekit_shard_plan(shard_tokens, n ? doc_tokens : nullptr, n, &c, n ? out.data() : nullptr, e);
    });
    cursor = shard_cursor{c.index, c.tokens, c.documents};
    return out;
}
inline std::vector<uint64_t> shard_plan(uint64_t shard_tokens, const std::vector<uint64_t> &doc_tokens,
                                        shard_cursor &cursor) {
    return shard_plan(shard_tokens, doc_tokens.data(), doc_tokens.size(), cursor);
}
#if __cplusplus >= 202002L
inline std::vector<uint64_t> shard_plan(uint64_t shard_tokens, std::span<const uint64_t> doc_tokens,
                                        shard_cursor &cursor) {
    return shard_plan(shard_tokens, doc_tokens.data(), doc_tokens.size(), cursor);
}
#endif

/// A shard's headers (read_shard_info).
struct shard_info {
    /// The format: "llmc", "megatron", "nanogpt" or "npy".
    std::string format;
    /// The token type's NumPy name: "uint16", "uint32" or "int32".
    std::string dtype;
    /// Tokens in the shard.
    uint64_t tokens = 0;
    /// Documents recorded (megatron, npy); nullopt when the format records none (llmc,
    /// nanogpt).
    std::optional<uint64_t> documents;
    /// Byte offset of the first token in tokens_file (for a memory map).
    uint64_t data_offset = 0;
    /// The file holding the tokens.
    std::filesystem::path tokens_file;
};

/// A whole shard (read_shard).
struct shard_contents {
    /// Every token of the shard, BOS and EOS included.
    std::vector<uint32_t> ids;
    /// Document boundaries: documents + 1 offsets into ids, from 0; empty when the format
    /// records none (llmc, nanogpt).
    std::vector<uint64_t> doc_offsets;

    /// Documents recorded (0 when the format records none).
    size_t documents() const noexcept { return doc_offsets.empty() ? 0 : doc_offsets.size() - 1; }
    /// The ids of document `i`. Throws errc::invalid_arg (`i` out of range, or offsets
    /// that do not fit ids).
    std::vector<uint32_t> document(size_t i) const {
        if (i >= documents()) {
            throw error(errc::invalid_arg, "document " + std::to_string(i) + " of a shard with " +
                                               std::to_string(documents()) + " documents");
        }
        if (doc_offsets[i] > doc_offsets[i + 1] || doc_offsets[i + 1] > ids.size()) {
            throw error(errc::invalid_arg, "document " + std::to_string(i) + ": offsets " +
                                               std::to_string(doc_offsets[i]) + ".." +
                                               std::to_string(doc_offsets[i + 1]) + " do not fit " +
                                               std::to_string(ids.size()) + " ids");
        }
        return std::vector<uint32_t>(ids.begin() + static_cast<std::ptrdiff_t>(doc_offsets[i]),
                                     ids.begin() + static_cast<std::ptrdiff_t>(doc_offsets[i + 1]));
    }
};

/// Reads a shard's headers, checked against the file sizes, without reading its tokens.
/// `path` is a shard's prefix or any of its files (PREFIX.bin, PREFIX.idx, PREFIX.npy,
/// PREFIX.docs.npy); `format` (a name as in shard_options) may be empty to detect it
/// (nanogpt, having no header, is what an unrecognised .bin is taken for). Throws
/// errc::invalid_arg (empty path, unknown format), errc::io (a missing file: the message
/// names it), errc::bad_format (not a shard of that format, or damaged: the message names
/// the file and the format tried).
inline shard_info read_shard_info(const std::filesystem::path &path, std::string_view format = {}) {
    detail::ensure_abi();
    const std::string p = detail::path_bytes(path);
    const auto f = detail::format_arg(format);
    bpekit_shard_info c{};
    detail::bytes_guard file;
    detail::call([&](bpekit_error **e) {
        return bpekit_shard_read_info(detail::bytes_of(p), p.size(), f.first, f.second, &c, &file.v, e);
    });
    shard_info out;
    out.format = c.format ? c.format : "";
    out.dtype = c.dtype ? c.dtype : "";
    out.tokens = c.tokens;
    if (c.documents != UINT64_MAX) out.documents = c.documents;
    out.data_offset = c.data_offset;
    out.tokens_file = detail::path_from_bytes(detail::view(file.v.data, file.v.len));
    return out;
}

/// Reads a whole shard, checking every header field and length. `path` and `format` as
/// for read_shard_info; throws as it does.
inline shard_contents read_shard(const std::filesystem::path &path, std::string_view format = {}) {
    detail::ensure_abi();
    const std::string p = detail::path_bytes(path);
    const auto f = detail::format_arg(format);
    detail::tokens_guard ids;
    detail::offsets_guard offsets;
    detail::call([&](bpekit_error **e) {
        return bpekit_shard_read(detail::bytes_of(p), p.size(), f.first, f.second, &ids.v, &offsets.v, e);
    });
    shard_contents out;
    out.ids = detail::to_vector(ids.v);
    out.doc_offsets = detail::to_vector(offsets.v);
    return out;
}

/// Reads only a shard's document boundaries (as read_shard gives them; empty when the
/// format records none), without reading its tokens: for readers that memory-map
/// read_shard_info().tokens_file. `path` and `format` as for read_shard_info; throws as
/// it does.
inline std::vector<uint64_t> shard_documents(const std::filesystem::path &path, std::string_view format = {}) {
    detail::ensure_abi();
    const std::string p = detail::path_bytes(path);
    const auto f = detail::format_arg(format);
    detail::offsets_guard offsets;
    detail::call([&](bpekit_error **e) {
        return bpekit_shard_documents(detail::bytes_of(p), p.size(), f.first, f.second, &offsets.v, e);
    });
    return detail::to_vector(offsets.v);
}

// ==== Count tables ====

/// A count table's header (read_counts_info); the whole table is checked.
struct counts_info {
    /// The table's format version: 1 or 2 (what export_counts and merge_counts write).
    uint32_t version = 0;
    /// The split pattern the table was counted with.
    std::string pattern;
    /// Texts counted.
    uint64_t texts = 0;
    /// Text bytes counted.
    uint64_t bytes = 0;
    /// Unique pieces in the table.
    uint64_t pieces = 0;
};

namespace detail {
inline std::string merge_count_slices(const std::vector<bpekit_slice> &tables, uint64_t min_count) {
    ensure_abi();
    bytes_guard out;
    call([&](bpekit_error **e) {
        return bpekit_counts_merge(tables.empty() ? nullptr : tables.data(), tables.size(), min_count, &out.v, e);
    });
    return out.str();
}
}  // namespace detail

/// Merges count tables (from trainer::export_counts or merge_counts) into one: the table
/// a trainer exports after add_counts of every input (counts of a piece add, saturating
/// at 2^48; texts and bytes add), with no trainer and no map of pieces (memory: the
/// inputs and the output). Then drops every piece whose merged count is below
/// `min_count` (0 or 1 keeps all): prune once, after the last merge, knowing that a
/// pruned table no longer gives exactly the merges of the full one. Throws
/// errc::invalid_arg (no tables, or a table counted with another pattern than the first:
/// the message names the first such index), errc::bad_format (a damaged table: the
/// message starts with its index, "tables[2]: ...").
inline std::string merge_counts(const std::vector<std::string_view> &tables, uint64_t min_count = 0) {
    return detail::merge_count_slices(detail::slices(tables.begin(), tables.end()), min_count);
}
inline std::string merge_counts(const std::vector<std::string> &tables, uint64_t min_count = 0) {
    return detail::merge_count_slices(detail::slices(tables.begin(), tables.end()), min_count);
}
inline std::string merge_counts(std::initializer_list<std::string_view> tables, uint64_t min_count = 0) {
    return detail::merge_count_slices(detail::slices(tables.begin(), tables.end()), min_count);
}

/// Reads a count table's header, after checking the whole table as trainer::add_counts
/// does (a table this accepts can be added to a trainer of its pattern). Throws
/// errc::bad_format (truncated, corrupted, of another version, not a count table).
inline counts_info read_counts_info(std::string_view table) {
    detail::ensure_abi();
    bpekit_counts_info c{};
    detail::bytes_guard pattern;
    detail::call([&](bpekit_error **e) {
        return bpekit_counts_read_info(detail::bytes_of(table), table.size(), &c, &pattern.v, e);
    });
    counts_info out;
    out.version = c.version;
    out.pattern = pattern.str();
    out.texts = c.texts;
    out.bytes = c.bytes;
    out.pieces = c.pieces;
    return out;
}

}  // namespace bpekit

#endif  // BPEKIT_HPP
