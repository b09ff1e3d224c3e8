//! The C ABI. This module is the only place in the crate with `extern "C"`, raw
//! pointers or `unsafe`; everything it does is check pointers, call the safe API, and
//! translate results into status codes and owned buffers.
//!
//! Two headers are generated from it: `include/bpekit.h`, the host-neutral ABI, from
//! everything but [`host`]; `include/bpekit_host.h`, the calls that exist for one host
//! (outside the ABI promise), from [`host`] alone.
//!
//! Conventions (the header's overview says the same to C users):
//! - every fallible export returns a [`bpekit_status`] and takes `bpekit_error **err` last;
//! - out-params are written only on success;
//! - every body runs inside [`boundary::call`], which turns a panic into `BPEKIT_ERR_PANIC`.
#![allow(unsafe_code)]
#![allow(non_camel_case_types)]
#![allow(clippy::missing_safety_doc)] // the safety contract of each export is its C documentation

pub mod boundary;
pub mod buffers;
pub mod completion;
pub mod corpus;
pub mod counts;
pub mod error;
mod fork;
/// cbindgen:ignore
///
/// (The line above keeps this module out of `bpekit.h`; `bpekit_host.h` is generated
/// from it alone.)
pub mod host;
pub mod shards;
pub mod stream;
pub mod tokenizer;
pub mod trainer;
pub mod version;

#[cfg(test)]
mod tests;

pub use buffers::{bpekit_bytes, bpekit_offsets, bpekit_slice, bpekit_span, bpekit_tokens};
pub use counts::bpekit_counts_info;
pub use error::{bpekit_error, bpekit_status};
pub use shards::{bpekit_shard_cursor, bpekit_shard_writer};
pub use tokenizer::bpekit_tokenizer;
pub use trainer::bpekit_trainer;
