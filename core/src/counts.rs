//! Counting pieces of text, and count tables: [`PieceCounts`] (how often each unique
//! piece occurred), its serialized form, and the streaming merge of serialized tables
//! ([`merge_count_tables`]).
//!
//! # The count table
//!
//! A table carries the split pattern it was counted with, the number of texts and text
//! bytes counted, and every unique piece with its count, pieces in increasing byte order
//! (so equal tables give equal bytes). It is framed (`crate::framing`): magic
//! `"BPEKITCT"`, a version, the body, a 64-bit FNV-1a checksum of everything before it;
//! fixed-width fields little-endian. Version 2, written:
//! ```text
//! magic     8 bytes     "BPEKITCT"
//! version   u32         2
//! pattern   u32 length, UTF-8
//! texts     u64
//! bytes     u64
//! n_pieces  u64
//! per piece, in increasing byte order:
//!   shared  varint      bytes in common with the previous piece (0 for the first)
//!   suffix  varint length, then the piece's bytes after those `shared`
//!   count   varint
//! checksum  u64
//! ```
//! Varints are unsigned LEB128 in their shortest form. `shared` is exactly the length of
//! the common prefix, so a suffix is never empty and its first byte is greater than the
//! previous piece's byte at `shared`: one check keeps pieces non-empty, strictly
//! increasing and coded one way only, and a table that loads saves to the same bytes.
//! Version 1 (still read): the same header, then per piece a `u32` length, the bytes and
//! a `u64` count.
//!
//! Design notes
//! - Version 2 is front-coded with varint lengths and counts because a corpus's pieces
//!   are short, sorted neighbours share prefixes, and most counts are small. Counting the
//!   first 4 MB of the shared English sample by line with the nanochat pattern gives
//!   66,529 pieces: 1,295,228 bytes in version 1, 393,848 in version 2 (0.30 of it).
//!   Measured by `make corpora && BPEKIT_CORPORA=$PWD/build/corpora cargo test --release
//!   --lib v2_size_on_a_real_corpus -- --ignored --nocapture`.
//! - The merge never builds a map of pieces: each input is read in order by a cursor
//!   that holds only its current piece, a heap of cursors yields the smallest piece
//!   next, and the output is written as it goes. Its memory is the inputs it is given
//!   plus the output (and one piece per input).

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::ops::Deref;

use rayon::prelude::*;

use crate::bytemap::{BytesMap, Key};
use crate::error::{Error, Result};
use crate::framing::{open_versions, Format, Reader, Writer};
use crate::pattern::Pattern;

/// The counting phase's result: how often each unique piece occurred.
///
/// Memory grows with the number of unique pieces, not with the amount of text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PieceCounts {
    counts: BytesMap<u64>,
    texts: u64,
    bytes: u64,
}

impl PieceCounts {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts the pieces of one text.
    ///
    /// # Errors
    /// [`crate::ErrorKind::BadPattern`] if the regex engine fails; the table is then unchanged.
    pub fn count_text(pattern: &Pattern, text: &str) -> Result<Self> {
        let mut local = PieceCounts::new();
        pattern.for_each_piece_bytes(text, |piece| local.add_piece(piece, 1))?;
        local.texts = 1;
        local.bytes = text.len() as u64;
        Ok(local)
    }

    /// Counts many texts in parallel (each text is split on its own).
    ///
    /// # Errors
    /// The first regex failure; no partial table is returned.
    pub fn count_batch<S: AsRef<str> + Sync>(pattern: &Pattern, texts: &[S]) -> Result<Self> {
        // One table per chunk of about equal bytes, a couple of chunks per thread: rayon's
        // adaptive splitting would otherwise make many small tables, and merging tables
        // costs about as much as counting into them.
        let threads = rayon::current_num_threads();
        let chunks = if threads == 1 { 1 } else { threads * 2 };
        let total: usize = texts.iter().map(|t| t.as_ref().len()).sum();
        let target = total / chunks + 1;
        let mut ranges = Vec::with_capacity(chunks + 1);
        let (mut start, mut acc) = (0, 0);
        for (i, t) in texts.iter().enumerate() {
            acc += t.as_ref().len();
            if acc >= target {
                ranges.push(start..i + 1);
                (start, acc) = (i + 1, 0);
            }
        }
        if start < texts.len() {
            ranges.push(start..texts.len());
        }
        let count_range = |r: std::ops::Range<usize>| -> Result<PieceCounts> {
            let mut local = PieceCounts::new();
            for (i, text) in texts[r.clone()].iter().enumerate() {
                let text = text.as_ref();
                pattern
                    .for_each_piece_bytes(text, |piece| local.add_piece(piece, 1))
                    .map_err(|e| Error::new(e.kind(), format!("texts[{}]: {}", r.start + i, e.message())))?;
                local.texts += 1;
                local.bytes += text.len() as u64;
            }
            Ok(local)
        };
        // Collect every chunk's result so the error reported is the first text's in order.
        let tables: Vec<Result<PieceCounts>> = if ranges.len() <= 1 {
            ranges.into_iter().map(count_range).collect()
        } else {
            ranges.into_par_iter().map(count_range).collect()
        };
        let mut out = PieceCounts::new();
        for t in tables {
            out.merge(t?);
        }
        Ok(out)
    }

    /// Adds `count` occurrences of `piece`. An empty piece is ignored: a table holds
    /// none (the serialized format cannot).
    /// Counts saturate at [`MAX_COUNT`] (2^48: far beyond any corpus; a saturated count
    /// no longer grows, so merges learned from it may differ from an unbounded count's).
    #[inline]
    pub fn add_piece(&mut self, piece: &[u8], count: u64) {
        if piece.is_empty() {
            return;
        }
        let c = self.counts.get_or_insert_with(piece, || 0);
        *c = c.saturating_add(count).min(MAX_COUNT);
    }

    /// Adds every count of `other` into `self` (order does not matter).
    pub fn merge(&mut self, other: PieceCounts) {
        let (mut big, small) = if self.counts.len() >= other.counts.len() {
            (std::mem::take(self), other)
        } else {
            (other, std::mem::take(self))
        };
        big.counts.merge_with(small.counts, |a, b| *a = a.saturating_add(b).min(MAX_COUNT));
        big.texts = big.texts.saturating_add(small.texts);
        big.bytes = big.bytes.saturating_add(small.bytes);
        *self = big;
    }

    /// Number of unique pieces.
    pub fn len(&self) -> usize {
        self.counts.len()
    }

    /// Whether no piece was counted.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// Number of texts counted.
    pub fn texts(&self) -> u64 {
        self.texts
    }

    /// Number of text bytes counted.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The count of one piece (0 if unseen).
    pub fn get(&self, piece: &[u8]) -> u64 {
        self.counts.get(piece).copied().unwrap_or(0)
    }

    /// Every `(piece, count)`, in no particular order; a piece derefs to its bytes.
    pub fn iter(&self) -> impl Iterator<Item = (impl Deref<Target = [u8]> + '_, u64)> + '_ {
        self.counts.iter().map(|(p, &c)| (p, c))
    }

    /// Serializes the table with the pattern it was counted with, in the current count
    /// table format (version 2, see the module docs): pieces sorted, so equal tables give
    /// equal bytes. [`PieceCounts::from_bytes`] reads it back; [`merge_count_tables`]
    /// merges such tables without loading them.
    pub fn to_bytes(&self, pattern: &str) -> Vec<u8> {
        // Sorted by the first 8 bytes as a big-endian number (zero-padded: the order of
        // the pieces themselves wherever it differs), then by the whole piece: most
        // comparisons then read no piece bytes, which live scattered in the map.
        let mut pieces: Vec<(u64, Key<'_>, u64)> =
            self.counts.iter().map(|(p, &c)| (sort_prefix(&p), p, c)).collect();
        pieces.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| (*a.1).cmp(&*b.1)));
        // Room for a piece of about 8 bytes and a small count, as pieces mostly are.
        let mut w = TableWriter::new(pattern, self.texts, self.bytes, pieces.len().saturating_mul(8));
        for (_, p, c) in pieces {
            w.push(&p, c);
        }
        w.finish()
    }

    /// Reads a count table of any version this bpekit reads (1 or 2): `(pattern, table)`.
    ///
    /// # Errors
    /// [`crate::ErrorKind::BadFormat`] naming what is wrong: not a count table, another format
    /// version, truncated, corrupted, trailing bytes, pieces empty, out of order, repeated
    /// or not front-coded in the one canonical way, a count above [`MAX_COUNT`].
    pub fn from_bytes(data: &[u8]) -> Result<(String, PieceCounts)> {
        let mut t = Table::open(data)?;
        let mut counts: BytesMap<u64> = BytesMap::with_capacity(t.pieces);
        let mut piece = Vec::new();
        while let Some(c) = t.next(&mut piece)? {
            counts.insert(&piece, c);
        }
        Ok((t.pattern.to_owned(), PieceCounts { counts, texts: t.texts, bytes: t.bytes }))
    }
}

/// The first 8 bytes of `piece` as a big-endian number, zero-padded. For two pieces whose
/// numbers differ, the numbers are in the pieces' byte order (a zero pad sorts before any
/// byte, as a shorter piece sorts before its extensions); equal numbers tell nothing.
fn sort_prefix(piece: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = piece.len().min(8);
    b[..n].copy_from_slice(&piece[..n]);
    u64::from_be_bytes(b)
}

/// The largest count a piece can have; counts saturate there.
pub const MAX_COUNT: u64 = 1 << 48;

/// Count tables of format version 1 (read only).
const COUNT_TABLE_V1: Format = Format { magic: b"BPEKITCT", version: 1, name: "count table" };
/// Count tables of format version 2 (read and written).
const COUNT_TABLE_V2: Format = Format { magic: b"BPEKITCT", version: 2, name: "count table" };

/// What [`count_table_info`] finds in a count table, all of it checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountTableInfo {
    /// The table's format version (1 or 2).
    pub version: u32,
    /// The split pattern the table was counted with.
    pub pattern: String,
    /// Number of texts counted.
    pub texts: u64,
    /// Number of text bytes counted.
    pub bytes: u64,
    /// Number of unique pieces.
    pub pieces: u64,
}

/// Reads a count table's header and checks the whole table as [`PieceCounts::from_bytes`]
/// does, without building the table: a table this accepts loads.
///
/// # Errors
/// As [`PieceCounts::from_bytes`].
///
/// # Example
/// ```
/// let mut t = bpekit::Trainer::new(bpekit::Pattern::default_pattern());
/// t.feed("the cat and the hat").unwrap();
/// let info = bpekit::count_table_info(&t.counts_bytes()).unwrap();
/// assert_eq!((info.version, info.texts, info.bytes, info.pieces), (2, 1, 19, 5)); // "the", " cat", " and", " the", " hat"
/// ```
pub fn count_table_info(data: &[u8]) -> Result<CountTableInfo> {
    let mut t = Table::open(data)?;
    let mut piece = Vec::new();
    while t.next(&mut piece)?.is_some() {}
    Ok(CountTableInfo {
        version: t.version,
        pattern: t.pattern.to_owned(),
        texts: t.texts,
        bytes: t.bytes,
        pieces: t.pieces as u64,
    })
}

/// Merges serialized count tables into one, streaming: the result is the bytes
/// [`PieceCounts::to_bytes`] gives for all the tables loaded into one [`PieceCounts`]
/// (counts of the same piece add, saturating at [`MAX_COUNT`]; texts and bytes add).
///
/// Prefer this to loading and merging [`PieceCounts`] when the tables are already bytes
/// (a cluster's reduction): it never builds a map of pieces, and its memory is the
/// inputs plus the output. Inputs may be of any version this bpekit reads; the output is
/// of the current one.
///
/// # Errors
/// - [`crate::ErrorKind::InvalidArg`] for no tables, or a table counted with another split
///   pattern than `tables[0]` (the message names the first such index);
/// - [`crate::ErrorKind::BadFormat`] for a damaged table, the message starting with its index
///   (`"tables[2]: count table: checksum mismatch ..."`).
///
/// # Example
/// ```
/// use bpekit::{merge_count_tables, Pattern, Trainer};
/// let (mut a, mut b, mut all) = (Trainer::new(Pattern::default_pattern()),
///     Trainer::new(Pattern::default_pattern()), Trainer::new(Pattern::default_pattern()));
/// a.feed("the cat").unwrap();
/// b.feed("the hat").unwrap();
/// all.feed_batch(&["the cat", "the hat"]).unwrap();
/// let merged = merge_count_tables(&[&a.counts_bytes(), &b.counts_bytes()]).unwrap();
/// assert_eq!(merged, all.counts_bytes());
/// ```
pub fn merge_count_tables(tables: &[&[u8]]) -> Result<Vec<u8>> {
    merge_count_tables_pruned(tables, 0)
}

/// [`merge_count_tables`], then drops every piece whose merged count is below
/// `min_count` (0 or 1 keeps every piece). Texts and bytes still count the whole input.
///
/// Pruning applies to the output only, so prune once, after the last merge: a piece
/// rare in every part may be frequent in the whole. A pruned table trains faster and is
/// smaller, but it is no longer exact: the pairs inside the dropped pieces are not
/// counted, so the merges learned can differ from those of the full table.
///
/// # Errors
/// As [`merge_count_tables`].
pub fn merge_count_tables_pruned(tables: &[&[u8]], min_count: u64) -> Result<Vec<u8>> {
    let named = |i: usize| move |e: Error| Error::new(e.kind(), format!("tables[{i}]: {}", e.message()));
    let mut open = Vec::with_capacity(tables.len());
    for (i, data) in tables.iter().enumerate() {
        let t = Table::open(data).map_err(named(i))?;
        if let Some(first) = open.first().map(|f: &Table<'_>| f.pattern) {
            if t.pattern != first {
                return Err(Error::invalid_arg(format!(
                    "tables[{i}] was counted with another split pattern ({:?}) than tables[0] ({first:?})",
                    t.pattern
                )));
            }
        }
        open.push(t);
    }
    let Some(first) = open.first() else {
        return Err(Error::invalid_arg("no count tables to merge"));
    };
    let texts = open.iter().fold(0u64, |a, t| a.saturating_add(t.texts));
    let bytes = open.iter().fold(0u64, |a, t| a.saturating_add(t.bytes));
    // Unless pruning drops pieces, the output is at least as large as the largest input
    // in version 2 (a version-1 table is about three times its version-2 size).
    let capacity =
        open.iter().zip(tables).map(|(t, d)| if t.version == 1 { d.len() / 3 } else { d.len() }).max();
    let capacity = capacity.unwrap_or(0);
    let mut out = TableWriter::new(first.pattern, texts, bytes, capacity);

    // ---- k-way merge: a min-heap of each table's current piece ----
    // A head's buffer holds its table's current piece; the table decodes the next piece
    // into it (front coding needs the previous piece), and the head goes back in the heap.
    let mut heap = BinaryHeap::with_capacity(open.len());
    for (i, t) in open.iter_mut().enumerate() {
        refill(t, Head { piece: Vec::new(), count: 0, table: i }, &mut heap).map_err(named(i))?;
    }
    while let Some(Reverse(head)) = heap.pop() {
        let mut count = head.count;
        while heap.peek().is_some_and(|h| h.0.piece == head.piece) {
            let Some(Reverse(same)) = heap.pop() else { break };
            count = count.saturating_add(same.count).min(MAX_COUNT);
            let i = same.table;
            refill(&mut open[i], same, &mut heap).map_err(named(i))?;
        }
        if min_count <= 1 || count >= min_count {
            out.push(&head.piece, count);
        }
        let i = head.table;
        refill(&mut open[i], head, &mut heap).map_err(named(i))?;
    }
    Ok(out.finish())
}

/// One input of the merge: its current piece and count.
#[derive(Debug, PartialEq, Eq)]
struct Head {
    piece: Vec<u8>,
    count: u64,
    table: usize,
}

impl Ord for Head {
    /// By piece (a table never repeats one), then by table for a total order.
    fn cmp(&self, other: &Self) -> Ordering {
        self.piece.cmp(&other.piece).then(self.table.cmp(&other.table))
    }
}

impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Reads `head`'s next piece from its table `t` and puts it back into the heap; a table
/// at its end leaves the heap.
fn refill(t: &mut Table<'_>, mut head: Head, heap: &mut BinaryHeap<Reverse<Head>>) -> Result<()> {
    if let Some(count) = t.next(&mut head.piece)? {
        head.count = count;
        heap.push(Reverse(head));
    }
    Ok(())
}

/// A count table being read: its header, checked, and a cursor over its pieces.
#[derive(Debug)]
struct Table<'a> {
    version: u32,
    pattern: &'a str,
    texts: u64,
    bytes: u64,
    /// Pieces in the table.
    pieces: usize,
    /// Pieces not read yet.
    left: usize,
    body: Reader<'a>,
}

impl<'a> Table<'a> {
    /// Checks the frame (magic, version 1 or 2, checksum) and reads the header.
    fn open(data: &'a [u8]) -> Result<Self> {
        let (version, mut r) = open_versions(&[COUNT_TABLE_V1, COUNT_TABLE_V2], data)?;
        let f = COUNT_TABLE_V2;
        let pattern = std::str::from_utf8(r.bytes_u32()?).map_err(|_| f.error("the pattern is not UTF-8"))?;
        let (texts, bytes, n): (u64, u64, u64) = (r.read()?, r.read()?, r.read()?);
        // A piece takes at least 13 bytes in version 1, 4 in version 2.
        let min_size = if version == 1 { 13 } else { 4 };
        let pieces = r.count(n, min_size, || f.error("truncated (piece count exceeds the data)"))?;
        Ok(Table { version, pattern, texts, bytes, pieces, left: pieces, body: r })
    }

    /// Reads the next piece into `piece`, which holds the previous piece as this method
    /// left it (empty before the first), and returns its count; `None` after the last
    /// piece, once the data is checked to end there.
    fn next(&mut self, piece: &mut Vec<u8>) -> Result<Option<u64>> {
        let f = COUNT_TABLE_V2;
        if self.left == 0 {
            if self.body.remaining() != 0 {
                return Err(f.error("trailing bytes after the last piece"));
            }
            return Ok(None);
        }
        self.left -= 1;
        let r = &mut self.body;
        let count = if self.version == 1 {
            let bytes = r.bytes_u32()?;
            let count: u64 = r.read()?;
            if bytes.is_empty() || bytes <= piece.as_slice() {
                return Err(f.error("pieces empty, repeated or out of order"));
            }
            piece.clear();
            piece.extend_from_slice(bytes);
            count
        } else {
            let shared = r.varint()?;
            let suffix = r.varint()?;
            let suffix = r.take(usize::try_from(suffix).map_err(|_| Error::bad_format("truncated data"))?)?;
            let count = r.varint()?;
            let shared = match usize::try_from(shared) {
                Ok(s) if s <= piece.len() => s,
                _ => return Err(f.error("a piece shares more bytes than the previous piece has")),
            };
            match (suffix.first(), piece.get(shared)) {
                (Some(&b), Some(&prev)) if b > prev => {}
                (Some(_), None) => {}
                _ => {
                    return Err(f.error("pieces empty, repeated, out of order or not front-coded canonically"))
                }
            }
            piece.truncate(shared);
            piece.extend_from_slice(suffix);
            count
        };
        if count > MAX_COUNT {
            return Err(f.error(format!("count {count} exceeds 2^48")));
        }
        Ok(Some(count))
    }
}

/// Writes a count table of the current version, pieces given in increasing order.
struct TableWriter {
    w: Writer,
    /// Where `n_pieces` is, written once the pieces are.
    n_at: usize,
    n: u64,
    prev: Vec<u8>,
}

impl TableWriter {
    /// A table of `pattern`, `texts` and `bytes`, with room for `capacity` bytes of pieces.
    fn new(pattern: &str, texts: u64, bytes: u64, capacity: usize) -> Self {
        let mut w = COUNT_TABLE_V2.writer(28usize.saturating_add(pattern.len()).saturating_add(capacity));
        // `as u32`: a pattern of 4 GiB or more (no real one) would get a wrong length, and
        // the callers have no error to report it with.
        w.put(pattern.len() as u32);
        w.bytes(pattern.as_bytes());
        w.put(texts);
        w.put(bytes);
        let n_at = w.len();
        w.put(0u64);
        TableWriter { w, n_at, n: 0, prev: Vec::new() }
    }

    /// Appends a piece, greater than the one before.
    fn push(&mut self, piece: &[u8], count: u64) {
        debug_assert!(piece > self.prev.as_slice(), "pieces are written in increasing order");
        let shared = self.prev.iter().zip(piece).take_while(|(a, b)| a == b).count();
        let suffix = &piece[shared..];
        self.w.varint(shared as u64);
        self.w.varint(suffix.len() as u64);
        self.w.bytes(suffix);
        self.w.varint(count);
        self.prev.truncate(shared);
        self.prev.extend_from_slice(suffix);
        self.n += 1;
    }

    /// The table, sealed with its checksum.
    fn finish(mut self) -> Vec<u8> {
        self.w.put_at(self.n_at, self.n);
        self.w.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framing::checksum;
    use crate::ErrorKind;
    use proptest::prelude::*;

    const PATTERN: &str = crate::pattern::CL100K_PATTERN;

    fn table(pieces: &[(&[u8], u64)], texts: u64, bytes: u64) -> PieceCounts {
        let mut c = PieceCounts { texts, bytes, ..PieceCounts::new() };
        for &(p, n) in pieces {
            c.add_piece(p, n);
        }
        c
    }

    /// Version 1, written the way bpekit wrote it (an independent writer: the tests read
    /// it with the version-2 reader's code path for version 1).
    fn to_bytes_v1(c: &PieceCounts, pattern: &str) -> Vec<u8> {
        let mut pieces: Vec<(Vec<u8>, u64)> = c.iter().map(|(p, n)| (p.to_vec(), n)).collect();
        pieces.sort();
        let mut w = COUNT_TABLE_V1.writer(0);
        w.put(pattern.len() as u32);
        w.bytes(pattern.as_bytes());
        for v in [c.texts, c.bytes, pieces.len() as u64] {
            w.put(v);
        }
        for (p, n) in pieces {
            w.put(p.len() as u32);
            w.bytes(&p);
            w.put(n);
        }
        w.finish()
    }

    /// `body` (a frame without its checksum) sealed with a correct checksum: damage only
    /// the content checks can catch.
    fn sealed(body: &[u8]) -> Vec<u8> {
        let mut v = body.to_vec();
        v.extend_from_slice(&checksum(body).to_le_bytes());
        v
    }

    /// The frame of a version-2 table with `pattern` "p", texts 1, bytes 2 and the raw
    /// piece records `records` (n_pieces given).
    fn v2_with(n: u64, records: &[u8]) -> Vec<u8> {
        let mut body = b"BPEKITCT".to_vec();
        body.extend_from_slice(&2u32.to_le_bytes());
        body.extend_from_slice(&1u32.to_le_bytes());
        body.push(b'p');
        for v in [1u64, 2, n] {
            body.extend_from_slice(&v.to_le_bytes());
        }
        body.extend_from_slice(records);
        sealed(&body)
    }

    fn message(data: &[u8]) -> String {
        let e = PieceCounts::from_bytes(data).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BadFormat, "{e:?}");
        let info = count_table_info(data).unwrap_err();
        assert_eq!(info, e, "count_table_info and from_bytes disagree");
        let merged = merge_count_tables(&[data]).unwrap_err();
        assert_eq!(merged.message(), format!("tables[0]: {}", e.message()));
        e.message().to_owned()
    }

    #[test]
    fn version_2_layout() {
        let c = table(&[(b"abc", 1), (b"ab", 3), (b"b", 300)], 1, 2);
        let data = c.to_bytes("p");
        // Per piece: shared, suffix length, suffix, count: "ab" 3, "abc" 1, "b" 300.
        let records = [0, 2, b'a', b'b', 3, 2, 1, b'c', 1, 0, 1, b'b', 0xac, 0x02];
        assert_eq!(data, v2_with(3, &records));
        let (pattern, back) = PieceCounts::from_bytes(&data).unwrap();
        assert_eq!((pattern.as_str(), &back), ("p", &c));
        let info = count_table_info(&data).unwrap();
        assert_eq!(info, CountTableInfo { version: 2, pattern: "p".into(), texts: 1, bytes: 2, pieces: 3 });
        // Empty pieces are not kept; an empty table is a header.
        let empty = table(&[(b"", 5)], 1, 2);
        assert!(empty.is_empty());
        assert_eq!(empty.to_bytes("p"), v2_with(0, &[]));
    }

    #[test]
    fn pieces_are_written_in_byte_order() {
        // Zero bytes, pieces that are prefixes of others, equal first 8 bytes, 0xff.
        let mut pieces: Vec<Vec<u8>> = vec![
            b"a".to_vec(),
            b"a\0".to_vec(),
            b"a\0\0".to_vec(),
            b"a\0b".to_vec(),
            b"\0".to_vec(),
            b"abcdefgh".to_vec(),
            b"abcdefgh\0".to_vec(),
            b"abcdefghi".to_vec(),
            b"abcdefgg\xff".to_vec(),
            b"\xff".to_vec(),
            b"\xff\xff\xff\xff\xff\xff\xff\xff\x00".to_vec(),
            b"b".to_vec(),
        ];
        let mut x: u64 = 0x9e3779b97f4a7c15;
        for _ in 0..2000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 12) as usize;
            pieces.push((0..len).map(|i| b"a\0b\xff"[((x >> (i * 2 + 8)) & 3) as usize]).collect());
        }
        let mut c = PieceCounts::new();
        for p in &pieces {
            c.add_piece(p, 1);
        }
        let data = c.to_bytes("p");
        let mut t = Table::open(&data).unwrap();
        let (mut piece, mut got) = (Vec::new(), Vec::new());
        while t.next(&mut piece).unwrap().is_some() {
            got.push(piece.clone());
        }
        let mut want: Vec<Vec<u8>> = pieces.into_iter().filter(|p| !p.is_empty()).collect();
        want.sort();
        want.dedup();
        assert_eq!(got, want);
    }

    #[test]
    fn version_1_loads_to_the_same_table() {
        let c = table(&[(b"abc", 1), (b"ab", 3), (b"b", 300), (b"zz", MAX_COUNT)], 4, 9);
        let v1 = to_bytes_v1(&c, PATTERN);
        assert_eq!(&v1[8..12], &1u32.to_le_bytes());
        let (pattern, back) = PieceCounts::from_bytes(&v1).unwrap();
        assert_eq!((pattern.as_str(), &back), (PATTERN, &c));
        assert_eq!(back.to_bytes(PATTERN), c.to_bytes(PATTERN));
        assert!(c.to_bytes(PATTERN).len() < v1.len());
        let info = count_table_info(&v1).unwrap();
        assert_eq!((info.version, info.texts, info.bytes, info.pieces), (1, 4, 9, 4));
        assert_eq!(merge_count_tables(&[&v1]).unwrap(), c.to_bytes(PATTERN));
    }

    #[test]
    fn every_damage_is_refused() {
        let c = table(&[(b"the", 5), (b"then", 2), (b" cat", 1), (b"t", 9)], 2, 20);
        for data in [c.to_bytes(PATTERN), to_bytes_v1(&c, PATTERN)] {
            for cut in 0..data.len() {
                message(&data[..cut]);
            }
            for i in 0..data.len() {
                let mut flipped = data.clone();
                flipped[i] ^= 0x10;
                message(&flipped);
            }
            let mut extra = data[..data.len() - 8].to_vec();
            extra.push(0);
            assert_eq!(message(&sealed(&extra)), "count table: trailing bytes after the last piece");
            let mut v3 = data[..data.len() - 8].to_vec();
            v3[8] = 3;
            assert_eq!(
                message(&sealed(&v3)),
                "count table format version 3; this bpekit reads versions 1 and 2"
            );
        }
        assert_eq!(
            message(b"BPEKITXX\x02\0\0\0................"),
            "not a bpekit count table (bad magic bytes)"
        );
        let over = [0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40]; // 2^48 + 1
        for (records, n, what) in [
            (
                &[0, 1, b'a', 1, 2, 1, b'b', 1][..],
                2,
                "count table: a piece shares more bytes than the previous piece has",
            ),
            (
                &[0, 1, b'a', 1, 1, 0, 1, 0][..],
                2,
                "count table: pieces empty, repeated, out of order or not front-coded canonically",
            ),
            (
                &[0, 0, 1, 0][..],
                1,
                "count table: pieces empty, repeated, out of order or not front-coded canonically",
            ),
            (
                &[0, 2, b'a', b'b', 1, 0, 2, b'a', b'c', 1][..],
                2,
                "count table: pieces empty, repeated, out of order or not front-coded canonically",
            ),
            (
                &[0, 2, b'a', b'b', 1, 1, 1, b'a', 1][..],
                2,
                "count table: pieces empty, repeated, out of order or not front-coded canonically",
            ),
            (
                &[0, 1, b'a', 1, 0, 1, b'a', 1][..],
                2,
                "count table: pieces empty, repeated, out of order or not front-coded canonically",
            ),
            (&[0, 5, b'a', 1][..], 1, "truncated data"),
            (&[0, 0x85, 0x00, b'a', 1][..], 1, "varint not in its shortest form"),
            (&[0, 1, b'a', 1, 0, 3, b'b', b'c'][..], 2, "truncated data"),
            (&[0, 1, b'a', 1][..], 9, "count table: truncated (piece count exceeds the data)"),
        ] {
            assert_eq!(message(&v2_with(n, records)), what, "{records:?}");
        }
        let mut records = vec![0, 1, b'a'];
        records.extend_from_slice(&over);
        assert_eq!(message(&v2_with(1, &records)), "count table: count 281474976710657 exceeds 2^48");
        records.truncate(3);
        records.extend_from_slice(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40]); // exactly 2^48
        assert_eq!(PieceCounts::from_bytes(&v2_with(1, &records)).unwrap().1.get(b"a"), MAX_COUNT);
    }

    #[test]
    fn merge_errors_name_the_table() {
        let a = table(&[(b"ab", 1)], 1, 2).to_bytes(PATTERN);
        let other = table(&[(b"ab", 1)], 1, 2).to_bytes("other");
        let e = merge_count_tables(&[]).unwrap_err();
        assert_eq!((e.kind(), e.message()), (ErrorKind::InvalidArg, "no count tables to merge"));
        let e = merge_count_tables(&[&a, &a, &other, &other]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArg);
        assert!(
            e.message().starts_with("tables[2] was counted with another split pattern (\"other\")"),
            "{e}"
        );
        let cut = &a[..a.len() - 1];
        let e = merge_count_tables(&[&a, &a, &a, cut, &other]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BadFormat);
        assert_eq!(e.message(), "tables[3]: count table: checksum mismatch (truncated or corrupted)");
        // Damage behind a correct checksum is found while merging, and named too.
        let bad = {
            let mut v = a[..a.len() - 8].to_vec();
            let at = v.len() - 1;
            v[at] = 0x80; // the last count's varint now runs past the end
            sealed(&v)
        };
        let e = merge_count_tables(&[&a, &bad]).unwrap_err();
        assert_eq!(e.message(), "tables[1]: truncated data");
    }

    #[test]
    fn merge_adds_saturates_and_prunes() {
        let a = table(&[(b"a", 1), (b"ab", MAX_COUNT - 1), (b"abc", 2), (b"b", 5)], 2, 10);
        let b = table(&[(b"ab", 7), (b"abd", 1), (b"c", 3)], 1, 4);
        let c = table(&[], 1, 0);
        let (ta, tb, tc) = (a.to_bytes(PATTERN), to_bytes_v1(&b, PATTERN), c.to_bytes(PATTERN));
        let want =
            table(&[(b"a", 1), (b"ab", MAX_COUNT), (b"abc", 2), (b"abd", 1), (b"b", 5), (b"c", 3)], 4, 14);
        for order in [[&ta, &tb, &tc], [&tc, &tb, &ta], [&tb, &ta, &tc]] {
            let order: Vec<&[u8]> = order.iter().map(|t| t.as_slice()).collect();
            assert_eq!(merge_count_tables(&order).unwrap(), want.to_bytes(PATTERN));
            assert_eq!(merge_count_tables_pruned(&order, 1).unwrap(), want.to_bytes(PATTERN));
            let pruned = table(&[(b"ab", MAX_COUNT), (b"b", 5), (b"c", 3)], 4, 14);
            assert_eq!(merge_count_tables_pruned(&order, 3).unwrap(), pruned.to_bytes(PATTERN));
            let none = table(&[], 4, 14);
            assert_eq!(merge_count_tables_pruned(&order, u64::MAX).unwrap(), none.to_bytes(PATTERN));
        }
    }

    /// Loads every table into one `PieceCounts`, drops pieces below `min_count` (0 or 1:
    /// none): what the streaming merge must equal.
    fn merged_in_memory(tables: &[PieceCounts], min_count: u64) -> PieceCounts {
        let mut all = PieceCounts::new();
        for t in tables {
            all.merge(t.clone());
        }
        let mut kept = PieceCounts { texts: all.texts, bytes: all.bytes, ..PieceCounts::new() };
        for (p, c) in all.iter() {
            if min_count <= 1 || c >= min_count {
                kept.add_piece(&p, c);
            }
        }
        kept
    }

    fn arb_table() -> impl Strategy<Value = PieceCounts> {
        // A small alphabet, so that pieces share prefixes and recur across tables.
        let piece =
            proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), Just(0u8), Just(0xffu8)], 0..6);
        let count = prop_oneof![0u64..5, Just(MAX_COUNT - 1), Just(MAX_COUNT), 1u64..1_000_000];
        (proptest::collection::vec((piece, count), 0..40), 0u64..1000, 0u64..100_000).prop_map(
            |(pieces, texts, bytes)| {
                let mut c = PieceCounts { texts, bytes, ..PieceCounts::new() };
                for (p, n) in pieces {
                    c.add_piece(&p, n);
                }
                c
            },
        )
    }

    proptest! {
        #[test]
        fn tables_roundtrip(c in arb_table()) {
            let data = c.to_bytes(PATTERN);
            let (pattern, back) = PieceCounts::from_bytes(&data).unwrap();
            prop_assert_eq!(pattern.as_str(), PATTERN);
            prop_assert_eq!(&back, &c);
            prop_assert_eq!(back.to_bytes(PATTERN), data.clone());
            prop_assert_eq!(PieceCounts::from_bytes(&to_bytes_v1(&c, PATTERN)).unwrap().1, c.clone());
            let info = count_table_info(&data).unwrap();
            prop_assert_eq!((info.texts, info.bytes, info.pieces), (c.texts(), c.bytes(), c.len() as u64));
        }

        #[test]
        fn streaming_merge_equals_merging_in_memory(
            tables in proptest::collection::vec(arb_table(), 1..6),
            v1 in proptest::collection::vec(any::<bool>(), 6),
            min_count in prop_oneof![Just(0u64), Just(1), 2u64..6, Just(MAX_COUNT)],
        ) {
            let bytes: Vec<Vec<u8>> = tables
                .iter()
                .zip(&v1)
                .map(|(t, &old)| if old { to_bytes_v1(t, PATTERN) } else { t.to_bytes(PATTERN) })
                .collect();
            let refs: Vec<&[u8]> = bytes.iter().map(|b| b.as_slice()).collect();
            prop_assert_eq!(merge_count_tables(&refs).unwrap(), merged_in_memory(&tables, 0).to_bytes(PATTERN));
            prop_assert_eq!(
                merge_count_tables_pruned(&refs, min_count).unwrap(),
                merged_in_memory(&tables, min_count).to_bytes(PATTERN)
            );
        }
    }

    /// The size of a version-2 table against version 1's on a real corpus (the figure in
    /// the module's design notes).
    #[test]
    #[ignore = "needs the shared corpora: BPEKIT_CORPORA (make corpora)"]
    fn v2_size_on_a_real_corpus() {
        let dir = std::env::var("BPEKIT_CORPORA").expect("set BPEKIT_CORPORA (make corpora)");
        let text = std::fs::read_to_string(std::path::Path::new(&dir).join("english.txt")).unwrap();
        let pattern = Pattern::new(crate::pattern::NANOCHAT_PATTERN).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let c = PieceCounts::count_batch(&pattern, &lines).unwrap();
        let (v1, v2) = (to_bytes_v1(&c, pattern.as_str()), c.to_bytes(pattern.as_str()));
        assert_eq!(PieceCounts::from_bytes(&v2).unwrap().1, c);
        let ratio = v2.len() as f64 / v1.len() as f64;
        println!(
            "english.txt, nanochat: {} pieces, v1 {} bytes, v2 {} bytes, v2/v1 = {ratio:.3}",
            c.len(),
            v1.len(),
            v2.len()
        );
        assert!(ratio < 0.5, "v2 is {ratio:.3} of v1");
    }
}
