//! Count tables through the C ABI: the streaming merge of serialized tables
//! (`bpekit_counts_merge`) and a table's checked header (`bpekit_counts_read_info`). The
//! rules are the core's (`crate::counts`); this file converts arguments and results.
//! Tables are made by `bpekit_trainer_export_counts` and added by
//! `bpekit_trainer_add_counts` (`trainer.rs`).

use super::boundary::{call, try_out, try_slice, write};
use super::buffers::{bpekit_bytes, bpekit_slice};
use super::error::{bpekit_error, bpekit_status};
use crate::{count_table_info, merge_count_tables_pruned};

/// A count table's header, as `bpekit_counts_read_info` reads it. (The function has
/// another name than the struct: C gives a typedef and a function one namespace.)
#[repr(C)]
#[derive(Clone, Copy)]
pub struct bpekit_counts_info {
    /// The table's format version: 1 or 2 (what `bpekit_trainer_export_counts` and
    /// `bpekit_counts_merge` write).
    pub version: u32,
    /// Texts counted.
    pub texts: u64,
    /// Text bytes counted.
    pub bytes: u64,
    /// Unique pieces in the table.
    pub pieces: u64,
}

/// Merges `n` count tables (each from `bpekit_trainer_export_counts` or this function)
/// into one, written to `*out`: the table a trainer would export after
/// `bpekit_trainer_add_counts` of every input (counts of a piece add, saturating at
/// 2^48; texts and bytes add). Then drops every piece whose merged count is below
/// `min_count` (0 or 1 keeps all; texts and bytes still count the whole input). Prune
/// once, after the last merge: a pruned table no longer gives exactly the merges of the
/// full one. The merge streams: memory is the inputs plus the output. `tables` may be
/// NULL when `n` is 0; each slice is borrowed for the call only. The caller owns `*out`;
/// release with `bpekit_bytes_free`. Errors: `BPEKIT_ERR_NULL_ARG`,
/// `BPEKIT_ERR_INVALID_ARG` (`n` is 0, or a table counted with another pattern than
/// `tables[0]`, the message naming the first such index), `BPEKIT_ERR_BAD_FORMAT` (a
/// damaged table, the message starting with its index: `"tables[2]: ..."`).
#[no_mangle]
pub unsafe extern "C" fn bpekit_counts_merge(
    tables: *const bpekit_slice,
    n: usize,
    min_count: u64,
    out: *mut bpekit_bytes,
    err: *mut *mut bpekit_error,
) -> bpekit_status {
    // SAFETY: pointers are NULL or valid as documented (caller's contract).
    unsafe {
        call(err, || {
            let slices = try_slice(tables, n, "tables")?;
            let out = try_out(out, "out")?;
            let mut data = Vec::with_capacity(n);
            for (i, s) in slices.iter().enumerate() {
                data.push(try_slice(s.data, s.len, &format!("tables[{i}]"))?);
            }
            let merged = merge_count_tables_pruned(&data, min_count)?;
            write(out, bpekit_bytes::from_vec(merged));
            Ok(())
        })
    }
}

/// Reads a count table's header into `*out` and its split pattern (UTF-8) into
/// `*pattern`, after checking the whole table as `bpekit_trainer_add_counts` does: a
/// table this accepts can be added to a trainer of its pattern. `data` may be NULL when
/// `len` is 0. The caller owns `*pattern`; release with `bpekit_bytes_free`. Errors:
/// `BPEKIT_ERR_NULL_ARG`, `BPEKIT_ERR_BAD_FORMAT` (truncated, corrupted, of another
/// version, or not a count table).
#[no_mangle]
pub unsafe extern "C" fn bpekit_counts_read_info(
    data: *const u8,
    len: usize,
    out: *mut bpekit_counts_info,
    pattern: *mut bpekit_bytes,
    err: *mut *mut bpekit_error,
) -> bpekit_status {
    // SAFETY: pointers are NULL or valid as documented (caller's contract).
    unsafe {
        call(err, || {
            let data = try_slice(data, len, "data")?;
            let out = try_out(out, "out")?;
            let pattern = try_out(pattern, "pattern")?;
            let info = count_table_info(data)?;
            write(
                out,
                bpekit_counts_info {
                    version: info.version,
                    texts: info.texts,
                    bytes: info.bytes,
                    pieces: info.pieces,
                },
            );
            write(pattern, bpekit_bytes::from_vec(info.pattern.into_bytes()));
            Ok(())
        })
    }
}
