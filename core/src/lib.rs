//! bpekit: a byte-level BPE tokenizer.
//!
//! * [`train`] learns merges from text, with the same selection rule as karpathy's
//!   `rustbpe` (highest pair count; ties broken by the smallest `(left, right)` pair).
//! * [`Tokenizer`] encodes and decodes with the semantics of OpenAI's `tiktoken`
//!   (ranks are byte strings; a piece is merged by lowest rank, leftmost first).
//! * [`ranks`] reads and writes tiktoken's `.tiktoken` rank format.
//!
//! Everything in this crate is safe Rust except [`capi`], the C ABI, which is the
//! only module allowed to use `unsafe`.
//!
//! # Example
//! ```
//! use bpekit::{Pattern, Trainer};
//! let mut trainer = Trainer::new(Pattern::default_pattern());
//! trainer.feed("hello hello hello world");
//! let tok = trainer.finish(260).unwrap();
//! let ids = tok.encode_ordinary("hello world").unwrap();
//! assert_eq!(tok.decode(&ids).unwrap(), b"hello world");
//! ```
#![deny(unsafe_code)]

pub mod bytemap;
pub mod capi;
pub mod encode;
pub mod error;
pub mod file;
pub mod pattern;
pub mod pools;
pub mod ranks;
mod split;
pub mod train;

pub use encode::{Allowed, Disallowed, SpecialPolicy, Tokenizer};
pub use error::{Error, ErrorKind, Result};
pub use pattern::Pattern;
pub use train::{train_from_counts, PieceCounts, TrainResult, Trainer};

/// The crate version, as in `Cargo.toml`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
