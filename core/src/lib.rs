//! bpekit: a byte-level BPE tokenizer.
//!
//! * [`Trainer`] learns merges from text, with the same selection rule as karpathy's
//!   `rustbpe` (highest pair count; ties broken by the smallest `(left, right)` pair).
//!   Counting and merging are separate steps when counting runs elsewhere:
//!   [`PieceCounts`] (count texts, merge tables, serialize them), the streaming merge of
//!   serialized tables ([`merge_count_tables`], [`count_table_info`]) and
//!   [`train_from_counts`], which returns a [`TrainResult`].
//! * [`Tokenizer`] encodes and decodes with the semantics of OpenAI's `tiktoken`
//!   (ranks are byte strings; a piece is merged by lowest rank, leftmost first).
//!   Special tokens in text are handled by an [`Allowed`] set or a [`SpecialPolicy`].
//! * [`Pattern`] is the split pattern; the well-known ones are constants
//!   ([`CL100K_PATTERN`], [`O200K_PATTERN`], [`LLAMA3_PATTERN`], ...), also by name
//!   ([`named_pattern`]). [`Pattern::engine`] says which [`SplitEngine`] splits with it.
//! * Files: tiktoken's `.tiktoken` rank format ([`Tokenizer::from_tiktoken`],
//!   [`Tokenizer::export_tiktoken`], [`parse_tiktoken`], [`write_tiktoken`]); bpekit's
//!   own versioned, checksummed tokenizer file ([`Tokenizer::save`],
//!   [`Tokenizer::load`]) and count table ([`PieceCounts::to_bytes`]).
//! * Token shards for training code: llm.c's `.bin`, Megatron-LM's indexed dataset,
//!   nanoGPT's raw `.bin` and NumPy `.npy` ([`ShardWriter`], [`read_shard`],
//!   [`shard_info`], [`ShardFormat`]), written atomically; a corpus encoded in parallel
//!   into one shard or numbered shards ([`ShardSet`]); a shard found and its format
//!   detected from any of its files ([`locate_shard`]).
//! * Corpus input: raw bytes cut into documents (whole, lines, separator, JSON Lines)
//!   and Arrow string arrays taken as documents without copying ([`split_docs`],
//!   [`docs_from_arrow`], [`Docs`]).
//! * Every failure is an [`Error`] of an [`ErrorKind`]; nothing panics on bad input.
//!
//! # Where things live
//!
//! The modules are private; everything above is re-exported here.
//!
//! | module | owns |
//! |---|---|
//! | `counts` | counting ([`PieceCounts`]), count tables and their streaming merge ([`merge_count_tables`]) |
//! | `train` | the merge loop, [`Trainer`] |
//! | `encode` | [`Tokenizer`]: construction from ranks, special tokens, encode, decode |
//! | `pattern`, `split` | split patterns; the hand-written splitter of the named ones |
//! | `automaton` | any other pattern that qualifies, compiled to DFAs |
//! | `bytemap` | the byte-string maps behind ranks and counts |
//! | `ranks` | tiktoken's rank format and base64 |
//! | `framing` | every binary format's frame (magic, version, checksum) and bounds-checked reader and writer |
//! | `file` | the tokenizer file, on that frame, and atomic save |
//! | `shards` | token shards: [`ShardWriter`], [`read_shard`], [`shard_info`], [`locate_shard`] |
//! | `shardset` | a set of shards: parallel encoding, rotation, naming ([`ShardSet`], [`ShardCursor`]) |
//! | `corpus` | raw corpus bytes and Arrow arrays into documents: [`split_docs`], [`docs_from_arrow`] |
//! | `pools` | the worker pools shared by batch calls and training |
//! | `error` | [`Error`], [`ErrorKind`] |
//! | `utf16` | UTF-16 text into UTF-8, for the C ABI's `_utf16` entry points |
//! | `simd` | byte classes 64 bytes at a time (SSE2; AVX2 where the CPU has it), and the prefetch hint: the `unsafe` calls of CPU intrinsics, each a documented exception |
//! | `capi` | the C ABI (`include/bpekit.h`): the only module allowed `unsafe` besides the intrinsic calls of `simd` |
//!
//! # Example
//! ```
//! use bpekit::{Pattern, Trainer};
//! let mut trainer = Trainer::new(Pattern::default_pattern());
//! trainer.feed("hello hello hello world").unwrap();
//! let tok = trainer.finish(260).unwrap();
//! let ids = tok.encode_ordinary("hello world").unwrap();
//! assert_eq!(tok.decode(&ids).unwrap(), b"hello world");
//! ```
#![deny(unsafe_code)]

mod bytemap;
// Private, but compiled into every library type: its `#[no_mangle]` functions are the
// exported C ABI, and cbindgen reads them from the source. Its constants and type
// re-exports exist for the header, not for Rust code, hence the allow.
mod automaton;
#[allow(dead_code, unused_imports)]
mod capi;
mod corpus;
mod counts;
mod encode;
mod error;
mod file;
mod framing;
mod pattern;
mod pools;
mod ranks;
mod shards;
mod shardset;
mod simd;
mod split;
mod train;
mod utf16;

pub use corpus::{
    from_arrow as docs_from_arrow, split as split_docs, ArrowOffsets, Docs, Layout, SplitOptions, Utf8Errors,
};
pub use counts::{
    count_table_info, merge_count_tables, merge_count_tables_pruned, CountTableInfo, PieceCounts, MAX_COUNT,
};
pub use encode::{
    Allowed, Disallowed, Normalization, OffsetUnit, Spans, SpecialPolicy, StreamDecoder, Tokenizer, Utf8Mode,
};
pub use error::{Error, ErrorKind, Result};
pub use pattern::{
    named as named_pattern, split_chain_source, Pattern, SplitEngine, CL100K_PATTERN, DEEPSEEK_V3_PATTERN,
    GPT2_PATTERN, LLAMA3_PATTERN, NAMED_PATTERNS, NANOCHAT_PATTERN, O200K_PATTERN, QWEN2_PATTERN,
    RUSTBPE_GPT4_PATTERN,
};
pub use ranks::{parse_tiktoken, write_tiktoken};
pub use shards::{
    locate_shard, read_shard, read_shard_documents, shard_info, Shard, ShardFormat, ShardInfo, ShardSummary,
    ShardWriter, TokenDtype,
};
pub use shardset::{ShardCursor, ShardRecord, ShardSet, ShardSetOptions};
pub use train::{train_from_counts, Progress, ProgressSnapshot, TrainResult, Trainer};

/// The crate version, as in `Cargo.toml`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
