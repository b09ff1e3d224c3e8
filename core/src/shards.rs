//! Token shards: the files that training code reads token ids from, in four formats,
//! written and read exactly as their own tools do.
//!
//! | format | files | tokens | document boundaries |
//! |---|---|---|---|
//! | [`ShardFormat::Llmc`] | `PREFIX.bin` | uint16, or uint32 when the vocab needs it | none |
//! | [`ShardFormat::Megatron`] | `PREFIX.bin`, `PREFIX.idx` | uint16 (vocab < 65500), else int32 | one sequence per document in `.idx` |
//! | [`ShardFormat::Nanogpt`] | `PREFIX.bin` | uint16 only | none |
//! | [`ShardFormat::Npy`] | `PREFIX.npy`, `PREFIX.docs.npy` | uint16, or uint32 when the vocab needs it | uint64 offsets in `.docs.npy` |
//!
//! All integers are little-endian. The layouts, with the sources they follow:
//!
//! * **llmc**, llm.c's `.bin` (`dev/data/data_common.py` `write_datafile`,
//!   `llmc/dataloader.h`): a header of 256 int32: `[0]` magic, `[1]` version, `[2]` token
//!   count, the rest 0; then the tokens. Magic 20240520 with version 1 means uint16 tokens
//!   (vocab ≤ 65536), magic 20240801 with version 7 means uint32 tokens. The count is an
//!   int32, so a shard holds at most 2³¹ − 1 tokens (llm.c's writer asserts the same).
//!   llm.c's loader also refuses a shard with 0 tokens; bpekit writes and reads one.
//! * **megatron**, Megatron-LM's indexed dataset (`megatron/core/datasets/indexed_dataset.py`,
//!   `_IndexWriter`, `_IndexReader`, `IndexedDatasetBuilder`, `DType`): `PREFIX.bin` is the
//!   raw tokens; `PREFIX.idx` is
//!   ```text
//!   magic             9 bytes   "MMIDIDX\0\0"
//!   version           u64       1
//!   dtype code        u8        8 = uint16, 4 = int32 (Megatron's DType table)
//!   sequence count    u64       S
//!   document count    u64       D, the length of the document-indices array (documents + 1)
//!   sequence lengths  int32[S]  tokens per sequence
//!   sequence pointers int64[S]  byte offset of each sequence in PREFIX.bin
//!   document indices  int64[D]  0, then the number of sequences after each document
//!   ```
//!   The dtype is `DType.optimal_dtype(vocab_size)`: uint16 when the vocab size is below
//!   65500, else int32. bpekit writes one sequence per document (as Megatron's
//!   `preprocess_data.py` does without sentence splitting), so the document indices are
//!   0, 1, ..., S; it reads any number of sequences per document. Multimodal indexes
//!   (sequence modes after the document indices) are refused.
//! * **nanogpt**, nanoGPT's `.bin` (`np.memmap(path, dtype=np.uint16)`): the raw uint16
//!   tokens and nothing else. The writer adds nothing: an end-of-text id after each
//!   document is the caller's, in the ids it pushes. A vocab above 65536 is refused.
//! * **npy**, NumPy's `.npy` format version 1.0 (`numpy/lib/format.py`): `\x93NUMPY`, the
//!   bytes 1 and 0, a u16 header length, then the header
//!   `{'descr': '<u2', 'fortran_order': False, 'shape': (N,), }` followed by spaces and a
//!   final `\n` so that the data starts at a multiple of 64; then the tokens (`'<u2'`, or
//!   `'<u4'` when the vocab needs more than 16 bits). The header is byte for byte what
//!   `numpy.save` writes, including the spaces it leaves to grow the shape in place (which is
//!   why its length does not depend on N). `PREFIX.docs.npy` is a `'<u8'` array of the
//!   documents' token offsets: documents + 1 entries, starting at 0 and ending at N.
//!
//! # Writing
//!
//! [`ShardWriter`] streams: tokens go to disk as documents are pushed, and a header's
//! counts are patched in at [`ShardWriter::finish`] by seeking back, so memory does not
//! grow with the shard. The exception is Megatron's index, whose per-document arrays are
//! written at the end from one `i32` length per document kept in memory (4 bytes per
//! document; the pointers and indices are computed from it).
//!
//! Writing is atomic: every file is written under a temporary name in the destination
//! directory (`.NAME.tmp-PID-N`), and only `finish`, after syncing every file, renames them
//! to their final names, in the order [`ShardFormat::paths`] lists them (so the last one,
//! `PREFIX.idx` or `PREFIX.docs.npy`, marks the shard complete). A writer dropped without
//! `finish` (an error, a panic) removes its temporary files, and a failed `finish`
//! removes whatever it had already renamed. Only a crash between the renames of one shard
//! (microseconds) can leave a first file under its final name without the last one; a
//! crash at any other time leaves only hidden temporary files.
//!
//! # Reading
//!
//! [`read_shard`] reads a whole shard and checks every header field and every length
//! against the file sizes; [`shard_info`] reads only the headers (and the file sizes).
//! A damaged or truncated shard is [`ErrorKind::BadFormat`] with a message naming the
//! file and what is wrong; a file that cannot be opened is [`ErrorKind::Io`].

use std::fs::{self, File};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind, Result};
use crate::framing::{Reader, Writer};

/// One of the token-shard formats; see the [module docs](self) for each layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShardFormat {
    /// llm.c's `.bin`: 256-int32 header, then uint16 or uint32 tokens.
    Llmc,
    /// Megatron-LM's indexed dataset: `.bin` tokens and `.idx` index.
    Megatron,
    /// nanoGPT's raw uint16 `.bin`.
    Nanogpt,
    /// NumPy `.npy` tokens plus a `.docs.npy` of document offsets.
    Npy,
}

/// The element type of a shard's tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenDtype {
    /// Unsigned 16-bit: vocab sizes up to 65536.
    U16,
    /// Unsigned 32-bit: vocab sizes up to 2³².
    U32,
    /// Signed 32-bit (Megatron's choice above 16 bits): vocab sizes up to 2³¹.
    I32,
}

impl TokenDtype {
    /// NumPy's name for it: `"uint16"`, `"uint32"`, `"int32"`.
    pub fn name(self) -> &'static str {
        match self {
            TokenDtype::U16 => "uint16",
            TokenDtype::U32 => "uint32",
            TokenDtype::I32 => "int32",
        }
    }

    /// Bytes per token.
    pub fn size(self) -> usize {
        match self {
            TokenDtype::U16 => 2,
            TokenDtype::U32 | TokenDtype::I32 => 4,
        }
    }

    /// The largest vocab size whose ids all fit: 65536, 2³², 2³¹.
    pub fn max_vocab(self) -> u64 {
        match self {
            TokenDtype::U16 => 1 << 16,
            TokenDtype::U32 => 1 << 32,
            TokenDtype::I32 => 1 << 31,
        }
    }
}

impl ShardFormat {
    /// Every format, in the order of their names' documentation.
    pub const ALL: [ShardFormat; 4] =
        [ShardFormat::Llmc, ShardFormat::Megatron, ShardFormat::Nanogpt, ShardFormat::Npy];

    /// The format called `name`: `"llmc"`, `"megatron"`, `"nanogpt"` or `"npy"`.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArg`] for any other name, listing the valid ones.
    pub fn from_name(name: &str) -> Result<ShardFormat> {
        ShardFormat::ALL.into_iter().find(|f| f.name() == name).ok_or_else(|| {
            Error::invalid_arg(format!(
                "unknown shard format {name:?}; the formats are llmc, megatron, nanogpt, npy"
            ))
        })
    }

    /// The format's name, as [`ShardFormat::from_name`] takes it.
    pub fn name(self) -> &'static str {
        match self {
            ShardFormat::Llmc => "llmc",
            ShardFormat::Megatron => "megatron",
            ShardFormat::Nanogpt => "nanogpt",
            ShardFormat::Npy => "npy",
        }
    }

    /// The token dtype this format uses for ids below `vocab_size`, as the format's own
    /// tools choose it: llmc and npy uint16 up to 65536, else uint32 (up to 2³²);
    /// megatron uint16 below 65500 (Megatron's `DType.optimal_dtype`), else int32 (up to
    /// 2³¹); nanogpt uint16 up to 65536.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArg`] if `vocab_size` is 0 or too large for the format.
    pub fn dtype_for(self, vocab_size: usize) -> Result<TokenDtype> {
        let v = vocab_size as u64;
        if v == 0 {
            return Err(Error::invalid_arg("vocab size 0: a shard needs at least one token id"));
        }
        let (dtype, max) = match self {
            ShardFormat::Llmc | ShardFormat::Npy if v <= 1 << 16 => (TokenDtype::U16, 1 << 32),
            ShardFormat::Llmc | ShardFormat::Npy => (TokenDtype::U32, 1 << 32),
            ShardFormat::Megatron if v < 65500 => (TokenDtype::U16, 1 << 31),
            ShardFormat::Megatron => (TokenDtype::I32, 1 << 31),
            ShardFormat::Nanogpt => (TokenDtype::U16, 1 << 16),
        };
        if v > max {
            let hint =
                if self == ShardFormat::Nanogpt { "; llmc, megatron and npy have wider dtypes" } else { "" };
            return Err(Error::invalid_arg(format!(
                "vocab size {v} does not fit the {} shard format (at most {max} ids){hint}",
                self.name()
            )));
        }
        Ok(dtype)
    }

    /// The files of a shard with this prefix, in the order [`ShardWriter::finish`] renames
    /// them: `PREFIX.bin` (llmc, nanogpt); `PREFIX.bin`, `PREFIX.idx` (megatron);
    /// `PREFIX.npy`, `PREFIX.docs.npy` (npy). The suffix is appended to the prefix as it
    /// is (`data/shard_000` gives `data/shard_000.bin`), never replacing an extension.
    pub fn paths(self, prefix: &Path) -> Vec<PathBuf> {
        self.suffixes()
            .iter()
            .map(|s| {
                let mut p = prefix.as_os_str().to_owned();
                p.push(s);
                PathBuf::from(p)
            })
            .collect()
    }

    /// The suffixes of [`ShardFormat::paths`], in its order.
    fn suffixes(self) -> &'static [&'static str] {
        match self {
            ShardFormat::Llmc | ShardFormat::Nanogpt => &[".bin"],
            ShardFormat::Megatron => &[".bin", ".idx"],
            ShardFormat::Npy => &[".npy", ".docs.npy"],
        }
    }
}

// ---------------------------------------------------------------------------------------
// Format constants and header builders, shared by the writer and the reader.

/// llm.c: header ints, and (magic, version) for uint16 and uint32 tokens.
const LLMC_HEADER_BYTES: usize = 256 * 4;
const LLMC_U16: (i32, i32) = (20240520, 1);
const LLMC_U32: (i32, i32) = (20240801, 7);

/// Megatron: the index's magic, version, header size, dtype codes.
const MEGATRON_MAGIC: &[u8; 9] = b"MMIDIDX\x00\x00";
const MEGATRON_VERSION: u64 = 1;
const MEGATRON_HEADER_BYTES: usize = 9 + 8 + 1 + 8 + 8;
const MEGATRON_UINT16: u8 = 8;
const MEGATRON_INT32: u8 = 4;

/// NumPy: magic, data alignment, and the digits numpy leaves for the shape to grow
/// (`GROWTH_AXIS_MAX_DIGITS`).
const NPY_MAGIC: &[u8; 6] = b"\x93NUMPY";
const NPY_ALIGN: usize = 64;
const NPY_GROWTH_DIGITS: usize = 21;

fn llmc_header(dtype: TokenDtype, tokens: u64) -> Vec<u8> {
    let (magic, version) = if dtype == TokenDtype::U16 { LLMC_U16 } else { LLMC_U32 };
    let mut w = Writer::default();
    w.put(magic);
    w.put(version);
    // The writer refuses more than i32::MAX tokens before writing them.
    w.put(i32::try_from(tokens).unwrap_or(i32::MAX));
    w.put_all(&[0i32; 253]);
    w.into_bytes()
}

fn npy_descr(dtype: TokenDtype) -> &'static str {
    if dtype == TokenDtype::U16 {
        "<u2"
    } else {
        "<u4"
    }
}

/// The header `numpy.save` writes for a 1-D C-order array of `n` items of `descr`: its
/// length does not depend on `n` (numpy pads the shape to 21 digits).
fn npy_header(descr: &str, n: u64) -> Vec<u8> {
    let mut dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': ({n},), }}");
    let digits = n.to_string().len();
    dict.push_str(&" ".repeat(NPY_GROWTH_DIGITS.saturating_sub(digits)));
    let text_len = dict.len() + 1; // with the final '\n'
    let pad = NPY_ALIGN - (NPY_MAGIC.len() + 2 + 2 + text_len) % NPY_ALIGN;
    let mut w = Writer::default();
    w.bytes(NPY_MAGIC);
    w.put(1u8);
    w.put(0u8);
    // At most a few hundred bytes: descr is one of ours.
    w.put(u16::try_from(text_len + pad).unwrap_or(u16::MAX));
    w.bytes(dict.as_bytes());
    w.bytes(&vec![b' '; pad]);
    w.bytes(b"\n");
    w.into_bytes()
}

// ---------------------------------------------------------------------------------------
// Writing.

/// What [`ShardWriter::finish`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardSummary {
    /// The shard's format.
    pub format: ShardFormat,
    /// Its token dtype.
    pub dtype: TokenDtype,
    /// The files written, under their final names, as [`ShardFormat::paths`] lists them.
    pub paths: Vec<PathBuf>,
    /// Tokens written (over all documents).
    pub tokens: u64,
    /// Documents pushed (empty ones included).
    pub documents: u64,
}

/// One output file: its temporary and final names, and the open temporary file.
#[derive(Debug)]
struct OutFile {
    tmp: PathBuf,
    path: PathBuf,
    out: BufWriter<File>,
}

fn io_error(path: &Path, what: &str, e: &std::io::Error) -> Error {
    Error::new(ErrorKind::Io, format!("cannot write shard file {}: {what}: {e}", path.display()))
}

impl OutFile {
    fn create(path: PathBuf) -> Result<OutFile> {
        let bad = || Error::invalid_arg(format!("shard path {} has no file name", path.display()));
        let name = path.file_name().ok_or_else(bad)?.to_string_lossy().into_owned();
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let tmp = dir.join(format!(".{name}.tmp-{}-{}", std::process::id(), crate::encode::unique_id()));
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| io_error(&path, "create a temporary file", &e))?;
        Ok(OutFile { tmp, path, out: BufWriter::with_capacity(1 << 20, file) })
    }

    fn write(&mut self, data: &[u8]) -> Result<()> {
        self.out.write_all(data).map_err(|e| io_error(&self.path, "write", &e))
    }

    /// Overwrites the start of the file with `header` (same length as the placeholder).
    fn patch_start(&mut self, header: &[u8]) -> Result<()> {
        self.out.seek(SeekFrom::Start(0)).map_err(|e| io_error(&self.path, "seek", &e))?;
        self.write(header)
    }

    fn flush_and_sync(&mut self) -> Result<()> {
        self.out.flush().map_err(|e| io_error(&self.path, "write", &e))?;
        self.out.get_ref().sync_all().map_err(|e| io_error(&self.path, "sync", &e))
    }
}

/// Ids encoded per write: bounds the writer's scratch buffer whatever a document's size.
const CHUNK_IDS: usize = 1 << 15;

/// Writes one token shard, document by document, atomically (see the
/// [module docs](self)).
///
/// ```
/// # use bpekit::{ShardFormat, ShardWriter, read_shard};
/// # let dir = std::env::temp_dir().join(format!("bpekit-doc-shard-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir).unwrap();
/// let prefix = dir.join("train_000");
/// let mut w = ShardWriter::create(ShardFormat::Npy, &prefix, 50257).unwrap();
/// w.push_document(&[15496, 995, 50256]).unwrap();
/// w.push_document(&[40, 50256]).unwrap();
/// let summary = w.finish().unwrap();
/// assert_eq!((summary.tokens, summary.documents), (5, 2));
/// let shard = read_shard(ShardFormat::Npy, &prefix).unwrap();
/// assert_eq!(shard.doc_offsets, Some(vec![0, 3, 5]));
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[derive(Debug)]
pub struct ShardWriter {
    format: ShardFormat,
    dtype: TokenDtype,
    vocab_size: u64,
    /// In [`ShardFormat::paths`] order; `files[0]` holds the tokens.
    files: Vec<OutFile>,
    tokens: u64,
    documents: u64,
    /// Megatron only: tokens per document, for the index written at `finish`.
    lengths: Vec<i32>,
    scratch: Vec<u8>,
    /// A write failed: the files no longer match the counts, so nothing more is accepted.
    broken: bool,
    /// Renamed to the final names: `Drop` has nothing to remove.
    done: bool,
}

impl ShardWriter {
    /// Starts a shard of `format` whose files are `path_prefix` plus the format's suffixes
    /// ([`ShardFormat::paths`]), for token ids below `vocab_size` (which chooses the dtype,
    /// [`ShardFormat::dtype_for`]). The temporary files are created now, in the
    /// destination directory, which must exist; nothing appears under a final name
    /// before [`ShardWriter::finish`].
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArg`] if the vocab does not fit the format or the prefix has no
    /// file name; [`ErrorKind::Io`] if a temporary file cannot be created or written.
    pub fn create(format: ShardFormat, path_prefix: &Path, vocab_size: usize) -> Result<ShardWriter> {
        let dtype = format.dtype_for(vocab_size)?;
        if path_prefix.file_name().is_none() {
            return Err(Error::invalid_arg(format!(
                "shard prefix {} does not end in a file name",
                path_prefix.display()
            )));
        }
        let mut w = ShardWriter {
            format,
            dtype,
            vocab_size: vocab_size as u64,
            files: Vec::new(),
            tokens: 0,
            documents: 0,
            lengths: Vec::new(),
            scratch: Vec::new(),
            broken: false,
            done: false,
        };
        // On an error below, dropping `w` removes the files created so far.
        for path in format.paths(path_prefix) {
            w.files.push(OutFile::create(path)?);
        }
        match format {
            ShardFormat::Llmc => w.files[0].write(&llmc_header(dtype, 0))?,
            ShardFormat::Npy => {
                w.files[0].write(&npy_header(npy_descr(dtype), 0))?;
                w.files[1].write(&npy_header("<u8", 1))?;
                w.files[1].write(&0u64.to_le_bytes())?;
            }
            ShardFormat::Megatron | ShardFormat::Nanogpt => {}
        }
        Ok(w)
    }

    /// The shard's format.
    pub fn format(&self) -> ShardFormat {
        self.format
    }

    /// The token dtype chosen for the vocab size.
    pub fn dtype(&self) -> TokenDtype {
        self.dtype
    }

    /// Tokens pushed so far.
    pub fn tokens(&self) -> u64 {
        self.tokens
    }

    /// Documents pushed so far.
    pub fn documents(&self) -> u64 {
        self.documents
    }

    /// Appends one document's ids (an empty document is allowed: it counts as a document,
    /// and in megatron and npy it has a boundary). The ids are written as they are: any
    /// BOS/EOS id is the caller's to include.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArg`], with nothing written and the writer still usable, for an
    /// id not below the vocab size (and so possibly not fitting the dtype), for an llmc
    /// shard that would pass 2³¹ − 1 tokens, or a megatron document longer than 2³¹ − 1
    /// tokens. [`ErrorKind::Io`] if writing fails; the writer then refuses every further
    /// call, and dropping it removes its files.
    pub fn push_document(&mut self, ids: &[u32]) -> Result<()> {
        self.check_usable()?;
        if let Some(i) = ids.iter().position(|&id| u64::from(id) >= self.vocab_size) {
            return Err(Error::invalid_arg(format!(
                "token id {} (position {i} of document {}) is out of range for vocab size {}",
                ids[i], self.documents, self.vocab_size
            )));
        }
        let n = ids.len() as u64;
        let max = i32::MAX as u64;
        if self.format == ShardFormat::Llmc && self.tokens + n > max {
            return Err(Error::invalid_arg(format!(
                "an llmc shard holds at most {max} tokens (its header's count is an int32); \
                 this document would make {}",
                self.tokens + n
            )));
        }
        if self.format == ShardFormat::Megatron && n > max {
            return Err(Error::invalid_arg(format!(
                "a megatron sequence holds at most {max} tokens (its length is an int32); this document has {n}"
            )));
        }
        let result = self.write_document(ids);
        if result.is_err() {
            self.broken = true;
        }
        result
    }

    fn check_usable(&self) -> Result<()> {
        if self.broken {
            return Err(Error::new(
                ErrorKind::Io,
                format!("shard {}: an earlier write failed", self.files[0].path.display()),
            ));
        }
        Ok(())
    }

    fn write_document(&mut self, ids: &[u32]) -> Result<()> {
        for chunk in ids.chunks(CHUNK_IDS) {
            self.scratch.clear();
            match self.dtype {
                TokenDtype::U16 => {
                    // Every id is below a vocab size of at most 65536.
                    for &id in chunk {
                        self.scratch.extend_from_slice(&(id as u16).to_le_bytes());
                    }
                }
                // I32: every id is below 2^31, so its u32 bytes are its i32 bytes.
                TokenDtype::U32 | TokenDtype::I32 => {
                    for &id in chunk {
                        self.scratch.extend_from_slice(&id.to_le_bytes());
                    }
                }
            }
            self.files[0].write(&self.scratch)?;
        }
        self.tokens += ids.len() as u64;
        self.documents += 1;
        match self.format {
            // Checked in push_document: the length fits.
            ShardFormat::Megatron => self.lengths.push(ids.len() as i32),
            ShardFormat::Npy => self.files[1].write(&self.tokens.to_le_bytes())?,
            ShardFormat::Llmc | ShardFormat::Nanogpt => {}
        }
        Ok(())
    }

    /// Completes the shard: writes the headers' counts and Megatron's index, syncs every
    /// file, and renames them to their final names (replacing files of those names).
    ///
    /// # Errors
    /// [`ErrorKind::Io`] naming the file and the operation that failed; then no file of
    /// this shard is left under a final name, nor under a temporary one.
    pub fn finish(mut self) -> Result<ShardSummary> {
        self.check_usable()?;
        self.write_trailers()?;
        for f in &mut self.files {
            f.flush_and_sync()?;
        }
        for k in 0..self.files.len() {
            if let Err(e) = fs::rename(&self.files[k].tmp, &self.files[k].path) {
                for renamed in &self.files[..k] {
                    let _ = fs::remove_file(&renamed.path);
                }
                return Err(io_error(&self.files[k].path, "rename", &e));
            }
        }
        self.done = true;
        // Make the renames durable (best effort: not every platform can open a directory).
        if let Some(dir) = self.files[0].path.parent() {
            let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(ShardSummary {
            format: self.format,
            dtype: self.dtype,
            paths: self.files.iter().map(|f| f.path.clone()).collect(),
            tokens: self.tokens,
            documents: self.documents,
        })
    }

    fn write_trailers(&mut self) -> Result<()> {
        match self.format {
            ShardFormat::Llmc => self.files[0].patch_start(&llmc_header(self.dtype, self.tokens)),
            ShardFormat::Npy => {
                self.files[0].patch_start(&npy_header(npy_descr(self.dtype), self.tokens))?;
                self.files[1].patch_start(&npy_header("<u8", self.documents + 1))
            }
            ShardFormat::Megatron => {
                let n = self.lengths.len() as u64;
                let mut w = Writer::default();
                w.bytes(MEGATRON_MAGIC);
                w.put(MEGATRON_VERSION);
                w.put(if self.dtype == TokenDtype::U16 { MEGATRON_UINT16 } else { MEGATRON_INT32 });
                w.put(n);
                w.put(n + 1);
                let idx = &mut self.files[1];
                idx.write(&w.into_bytes())?;
                for &len in &self.lengths {
                    idx.write(&len.to_le_bytes())?;
                }
                let size = self.dtype.size() as i64;
                let mut pointer = 0i64;
                for &len in &self.lengths {
                    idx.write(&pointer.to_le_bytes())?;
                    pointer += i64::from(len) * size;
                }
                for i in 0..=n {
                    idx.write(&(i as i64).to_le_bytes())?;
                }
                Ok(())
            }
            ShardFormat::Nanogpt => Ok(()),
        }
    }
}

impl Drop for ShardWriter {
    fn drop(&mut self) {
        if !self.done {
            for f in self.files.drain(..) {
                let OutFile { tmp, out, .. } = f;
                drop(out);
                let _ = fs::remove_file(&tmp);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Reading.

/// A whole shard in memory, as [`read_shard`] returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shard {
    /// The shard's format.
    pub format: ShardFormat,
    /// The dtype its tokens are stored in.
    pub dtype: TokenDtype,
    /// Every token, in order.
    pub ids: Vec<u32>,
    /// Document boundaries as token offsets into `ids`: documents + 1 entries, from 0 to
    /// `ids.len()`; `None` for formats without boundaries (llmc, nanogpt).
    pub doc_offsets: Option<Vec<u64>>,
}

/// A shard's headers, as [`shard_info`] returns them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardInfo {
    /// The shard's format.
    pub format: ShardFormat,
    /// The dtype its tokens are stored in.
    pub dtype: TokenDtype,
    /// Tokens in the shard.
    pub tokens: u64,
    /// Documents, for formats that record them (megatron, npy).
    pub documents: Option<u64>,
    /// The byte offset of the first token in the tokens file (the first of
    /// [`ShardFormat::paths`]): where a memory map of the tokens starts.
    pub data_offset: u64,
}

fn damaged(path: &Path, format: ShardFormat, detail: impl std::fmt::Display) -> Error {
    Error::bad_format(format!("{}: not a valid {} shard file: {detail}", path.display(), format.name()))
}

fn read_error(path: &Path, e: &std::io::Error) -> Error {
    Error::new(ErrorKind::Io, format!("cannot read shard file {}: {e}", path.display()))
}

/// The first `max` bytes of a file (fewer if it is shorter) and its size.
fn read_head(path: &Path, max: usize) -> Result<(Vec<u8>, u64)> {
    let f = File::open(path).map_err(|e| read_error(path, &e))?;
    let size = f.metadata().map_err(|e| read_error(path, &e))?.len();
    let mut head = Vec::with_capacity(max.min(1 << 16));
    f.take(max as u64).read_to_end(&mut head).map_err(|e| read_error(path, &e))?;
    Ok((head, size))
}

fn read_all(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(|e| read_error(path, &e))
}

/// Token bytes to ids; int32 ids must not be negative.
fn decode_ids(bytes: &[u8], dtype: TokenDtype, bad: impl Fn(String) -> Error) -> Result<Vec<u32>> {
    match dtype {
        TokenDtype::U16 => {
            Ok(bytes.chunks_exact(2).map(|c| u32::from(u16::from_le_bytes([c[0], c[1]]))).collect())
        }
        TokenDtype::U32 | TokenDtype::I32 => {
            let ids: Vec<u32> =
                bytes.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
            if dtype == TokenDtype::I32 {
                if let Some(i) = ids.iter().position(|&id| id > i32::MAX as u32) {
                    return Err(bad(format!("negative token id {} at token {i}", ids[i] as i32)));
                }
            }
            Ok(ids)
        }
    }
}

/// Checks an llm.c header against the file size: the dtype and token count.
fn llmc_check(path: &Path, head: &[u8], size: u64) -> Result<(TokenDtype, u64)> {
    let bad = |d: String| damaged(path, ShardFormat::Llmc, d);
    if head.len() < LLMC_HEADER_BYTES {
        return Err(bad(format!("truncated header ({size} bytes; the header alone is {LLMC_HEADER_BYTES})")));
    }
    let mut r = Reader::new(head);
    let (magic, version, count): (i32, i32, i32) = (r.read()?, r.read()?, r.read()?);
    let dtype = match magic {
        m if m == LLMC_U16.0 => TokenDtype::U16,
        m if m == LLMC_U32.0 => TokenDtype::U32,
        m => return Err(bad(format!("bad magic {m} (expected {} or {})", LLMC_U16.0, LLMC_U32.0))),
    };
    let expected_version = if dtype == TokenDtype::U16 { LLMC_U16.1 } else { LLMC_U32.1 };
    if version != expected_version {
        return Err(bad(format!("version {version} with magic {magic} (expected {expected_version})")));
    }
    let count = u64::try_from(count).map_err(|_| bad(format!("negative token count {count}")))?;
    let expected = LLMC_HEADER_BYTES as u64 + count * dtype.size() as u64;
    if size != expected {
        return Err(bad(format!(
            "the header says {count} {} tokens ({expected} bytes) but the file has {size} bytes",
            dtype.name()
        )));
    }
    Ok((dtype, count))
}

fn nanogpt_check(path: &Path, size: u64) -> Result<u64> {
    if !size.is_multiple_of(2) {
        return Err(damaged(path, ShardFormat::Nanogpt, format!("odd size {size}: not uint16 tokens")));
    }
    Ok(size / 2)
}

/// A parsed `.npy` header: the descr, the 1-D length, where the data starts.
struct NpyHeader {
    descr: String,
    len: u64,
    data_start: usize,
}

/// The most header bytes [`shard_info`] reads of a `.npy` file.
const NPY_MAX_HEADER: usize = 1 << 16;

/// Parses a `.npy` header (format versions 1.0, 2.0 and 3.0, as NumPy reads) of a 1-D array and checks the
/// file size against it.
fn npy_check(path: &Path, head: &[u8], size: u64) -> Result<NpyHeader> {
    let bad = |d: String| damaged(path, ShardFormat::Npy, d);
    if !head.starts_with(NPY_MAGIC) {
        return Err(bad("not a .npy file (bad magic bytes)".into()));
    }
    let mut r = Reader::new(&head[NPY_MAGIC.len()..]);
    let trunc = |_| bad("truncated header".into());
    let (major, minor): (u8, u8) = (r.read().map_err(trunc)?, r.read().map_err(trunc)?);
    let text_len = match (major, minor) {
        (1, 0) => usize::from(r.read::<u16>().map_err(trunc)?),
        (2 | 3, 0) => r.read::<u32>().map_err(trunc)? as usize,
        _ => return Err(bad(format!("npy format version {major}.{minor} (bpekit reads 1.0, 2.0 and 3.0)"))),
    };
    let prefix_len = head.len() - r.remaining();
    let text = r.take(text_len).map_err(trunc)?;
    let text = std::str::from_utf8(text).map_err(|_| bad("header is not text".into()))?;
    let (descr, fortran_order, shape) = parse_npy_dict(text).map_err(|d| bad(format!("header: {d}")))?;
    // Fortran order is the same layout for one dimension.
    let _ = fortran_order;
    let len = match shape[..] {
        [n] => n,
        _ => return Err(bad(format!("shape {shape:?} is not one-dimensional"))),
    };
    let item = match descr.as_str() {
        "<u2" => 2,
        "<u4" | "<i4" => 4,
        "<u8" => 8,
        _ => {
            return Err(bad(format!("dtype {descr:?} (bpekit reads '<u2' and '<u4' tokens, '<u8' offsets)")))
        }
    };
    let data_start = prefix_len + text_len;
    let expected = len.checked_mul(item).and_then(|b| b.checked_add(data_start as u64));
    if expected != Some(size) {
        return Err(bad(format!(
            "the header says {len} items of {item} bytes after a {data_start}-byte header, but the file has {size} bytes"
        )));
    }
    Ok(NpyHeader { descr, len, data_start })
}

/// Parses the Python dict literal of a `.npy` header: `{'descr': '<u2', 'fortran_order':
/// False, 'shape': (3,), }` in any key order. Returns a description of what is wrong.
fn parse_npy_dict(text: &str) -> std::result::Result<(String, bool, Vec<u64>), String> {
    struct P<'a> {
        s: &'a [u8],
        at: usize,
    }
    impl P<'_> {
        fn ws(&mut self) {
            while self.at < self.s.len() && self.s[self.at].is_ascii_whitespace() {
                self.at += 1;
            }
        }
        fn eat(&mut self, c: u8) -> bool {
            self.ws();
            if self.s.get(self.at) == Some(&c) {
                self.at += 1;
                true
            } else {
                false
            }
        }
        fn expect(&mut self, c: u8) -> std::result::Result<(), String> {
            if self.eat(c) {
                Ok(())
            } else {
                Err(format!("expected {:?} at byte {}", c as char, self.at))
            }
        }
        fn string(&mut self) -> std::result::Result<String, String> {
            self.ws();
            let q = match self.s.get(self.at) {
                Some(&q @ (b'\'' | b'"')) => q,
                _ => return Err(format!("expected a string at byte {}", self.at)),
            };
            let start = self.at + 1;
            let len = self.s[start..].iter().position(|&c| c == q).ok_or("unterminated string")?;
            self.at = start + len + 1;
            Ok(String::from_utf8_lossy(&self.s[start..start + len]).into_owned())
        }
        fn word(&mut self) -> &[u8] {
            self.ws();
            let start = self.at;
            while self.at < self.s.len() && self.s[self.at].is_ascii_alphanumeric() {
                self.at += 1;
            }
            &self.s[start..self.at]
        }
    }
    let mut p = P { s: text.as_bytes(), at: 0 };
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    p.expect(b'{')?;
    while !p.eat(b'}') {
        let key = p.string()?;
        p.expect(b':')?;
        match key.as_str() {
            "descr" => descr = Some(p.string()?),
            "fortran_order" => {
                fortran = Some(match p.word() {
                    b"True" => true,
                    b"False" => false,
                    _ => return Err("fortran_order is not True or False".into()),
                })
            }
            "shape" => {
                p.expect(b'(')?;
                let mut dims = Vec::new();
                while !p.eat(b')') {
                    let w = p.word();
                    let d = std::str::from_utf8(w).ok().and_then(|w| w.parse::<u64>().ok());
                    dims.push(d.ok_or_else(|| format!("bad shape dimension at byte {}", p.at))?);
                    if !p.eat(b',') {
                        p.expect(b')')?;
                        break;
                    }
                }
                shape = Some(dims);
            }
            other => return Err(format!("unexpected key {other:?}")),
        }
        if !p.eat(b',') {
            p.expect(b'}')?;
            break;
        }
    }
    p.ws();
    if p.at != p.s.len() {
        return Err(format!("trailing text at byte {}", p.at));
    }
    match (descr, fortran, shape) {
        (Some(d), Some(f), Some(s)) => Ok((d, f, s)),
        _ => Err("missing descr, fortran_order or shape".into()),
    }
}

/// The token dtype of a tokens `.npy` descr.
fn npy_token_dtype(path: &Path, descr: &str) -> Result<TokenDtype> {
    match descr {
        "<u2" => Ok(TokenDtype::U16),
        "<u4" => Ok(TokenDtype::U32),
        d => Err(damaged(path, ShardFormat::Npy, format!("token dtype {d:?} (expected '<u2' or '<u4')"))),
    }
}

fn npy_docs_check(path: &Path, h: &NpyHeader) -> Result<u64> {
    if h.descr != "<u8" {
        return Err(damaged(path, ShardFormat::Npy, format!("offset dtype {:?} (expected '<u8')", h.descr)));
    }
    if h.len == 0 {
        return Err(damaged(path, ShardFormat::Npy, "no document offsets (there is always a first 0)"));
    }
    Ok(h.len - 1)
}

/// The document offsets of a `.docs.npy`, checked: they start at 0, never decrease, and
/// end at `tokens`.
fn npy_offsets(docs_path: &Path, tokens: u64) -> Result<Vec<u64>> {
    let docs = read_all(docs_path)?;
    let dh = npy_check(docs_path, &docs, docs.len() as u64)?;
    npy_docs_check(docs_path, &dh)?;
    let offsets: Vec<u64> = docs[dh.data_start..]
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
        .collect();
    let bad_docs = |d: String| damaged(docs_path, ShardFormat::Npy, d);
    if offsets[0] != 0 {
        return Err(bad_docs(format!("the first document offset is {}, not 0", offsets[0])));
    }
    if let Some(k) = offsets.windows(2).position(|w| w[1] < w[0]) {
        return Err(bad_docs(format!("document offset {} is below the one before it", k + 1)));
    }
    let last = offsets[offsets.len() - 1];
    if last != tokens {
        return Err(bad_docs(format!("the last document offset is {last}, not the token count {tokens}")));
    }
    Ok(offsets)
}

/// A Megatron index header, checked against the index and data file sizes.
struct MegatronHeader {
    dtype: TokenDtype,
    sequences: u64,
    doc_indices: u64,
    tokens: u64,
}

fn megatron_check(
    idx: &Path,
    bin: &Path,
    head: &[u8],
    idx_size: u64,
    bin_size: u64,
) -> Result<MegatronHeader> {
    let bad = |p: &Path, d: String| damaged(p, ShardFormat::Megatron, d);
    if head.len() < MEGATRON_HEADER_BYTES {
        return Err(bad(
            idx,
            format!("truncated header ({idx_size} bytes; the header is {MEGATRON_HEADER_BYTES})"),
        ));
    }
    let mut r = Reader::new(head);
    if r.take(MEGATRON_MAGIC.len())? != MEGATRON_MAGIC {
        return Err(bad(idx, "bad magic bytes (expected MMIDIDX\\0\\0)".into()));
    }
    let version: u64 = r.read()?;
    if version != MEGATRON_VERSION {
        return Err(bad(idx, format!("version {version} (expected {MEGATRON_VERSION})")));
    }
    let dtype = match r.read::<u8>()? {
        MEGATRON_UINT16 => TokenDtype::U16,
        MEGATRON_INT32 => TokenDtype::I32,
        c @ 1..=7 => {
            return Err(bad(idx, format!("dtype code {c}: bpekit reads uint16 (8) and int32 (4) tokens")))
        }
        c => return Err(bad(idx, format!("unknown dtype code {c}"))),
    };
    let sequences: u64 = r.read()?;
    let doc_indices: u64 = r.read()?;
    let expected = sequences
        .checked_mul(4 + 8)
        .and_then(|s| s.checked_add(doc_indices.checked_mul(8)?))
        .and_then(|s| s.checked_add(MEGATRON_HEADER_BYTES as u64));
    if expected != Some(idx_size) {
        return Err(bad(
            idx,
            format!(
                "{sequences} sequences and {doc_indices} document indices do not match the index size {idx_size}"
            ),
        ));
    }
    if doc_indices == 0 {
        return Err(bad(idx, "no document indices (they always start with 0)".into()));
    }
    let item = dtype.size() as u64;
    if !bin_size.is_multiple_of(item) {
        return Err(bad(bin, format!("size {bin_size} is not a multiple of the {}-byte dtype", item)));
    }
    Ok(MegatronHeader { dtype, sequences, doc_indices, tokens: bin_size / item })
}

/// The document offsets of a Megatron index body: checks lengths, pointers and
/// document indices against each other and the data size.
fn megatron_offsets(idx: &Path, data: &[u8], h: &MegatronHeader) -> Result<Vec<u64>> {
    let bad = |d: String| damaged(idx, ShardFormat::Megatron, d);
    let mut r = Reader::new(&data[MEGATRON_HEADER_BYTES..]);
    // megatron_check matched the index size to these counts.
    let s = r.count(h.sequences, 12, || bad("sequence count exceeds the index".into()))?;
    let d = r.count(h.doc_indices, 8, || bad("document count exceeds the index".into()))?;
    let lengths: Vec<i32> = r.array(s)?;
    let pointers: Vec<i64> = r.array(s)?;
    let doc_indices: Vec<i64> = r.array(d)?;
    // Token offset of each sequence's start, and of the end.
    let mut starts = Vec::with_capacity(s + 1);
    let mut at: u64 = 0;
    let item = h.dtype.size() as u64;
    for (i, (&len, &ptr)) in lengths.iter().zip(&pointers).enumerate() {
        let len = u64::try_from(len).map_err(|_| bad(format!("sequence {i} has negative length {len}")))?;
        if u64::try_from(ptr).ok() != Some(at * item) {
            return Err(bad(format!("sequence {i} points to byte {ptr}, expected {}", at * item)));
        }
        starts.push(at);
        at += len;
    }
    starts.push(at);
    if at != h.tokens {
        return Err(bad(format!("the sequences hold {at} tokens but the data file holds {}", h.tokens)));
    }
    if doc_indices[0] != 0 {
        return Err(bad(format!("document indices start at {}, not 0", doc_indices[0])));
    }
    let mut offsets = Vec::with_capacity(d);
    let mut prev = 0u64;
    for (k, &di) in doc_indices.iter().enumerate() {
        let di = u64::try_from(di).ok().filter(|&v| v >= prev && v <= h.sequences);
        let di = di.ok_or_else(|| bad(format!("document index {k} is out of order or out of range")))?;
        offsets.push(starts[di as usize]);
        prev = di;
    }
    if prev != h.sequences {
        return Err(bad(format!(
            "the last document index is {prev}, not the sequence count {}",
            h.sequences
        )));
    }
    Ok(offsets)
}

/// Reads a whole shard written in `format` under `path_prefix` (the files of
/// [`ShardFormat::paths`]), checking every header field and length.
///
/// # Errors
/// [`ErrorKind::BadFormat`] naming the file and what is wrong, for a damaged, truncated
/// or inconsistent shard; [`ErrorKind::Io`] if a file cannot be read.
pub fn read_shard(format: ShardFormat, path_prefix: &Path) -> Result<Shard> {
    let paths = format.paths(path_prefix);
    let main = &paths[0];
    let data = read_all(main)?;
    let size = data.len() as u64;
    let bad = |d: String| damaged(main, format, d);
    match format {
        ShardFormat::Llmc => {
            let (dtype, _) = llmc_check(main, &data, size)?;
            let ids = decode_ids(&data[LLMC_HEADER_BYTES..], dtype, bad)?;
            Ok(Shard { format, dtype, ids, doc_offsets: None })
        }
        ShardFormat::Nanogpt => {
            nanogpt_check(main, size)?;
            let ids = decode_ids(&data, TokenDtype::U16, bad)?;
            Ok(Shard { format, dtype: TokenDtype::U16, ids, doc_offsets: None })
        }
        ShardFormat::Npy => {
            let h = npy_check(main, &data, size)?;
            let dtype = npy_token_dtype(main, &h.descr)?;
            let ids = decode_ids(&data[h.data_start..], dtype, bad)?;
            let offsets = npy_offsets(&paths[1], ids.len() as u64)?;
            Ok(Shard { format, dtype, ids, doc_offsets: Some(offsets) })
        }
        ShardFormat::Megatron => {
            let idx_path = &paths[1];
            let idx = read_all(idx_path)?;
            let h = megatron_check(idx_path, main, &idx, idx.len() as u64, size)?;
            let offsets = megatron_offsets(idx_path, &idx, &h)?;
            let ids = decode_ids(&data, h.dtype, bad)?;
            Ok(Shard { format, dtype: h.dtype, ids, doc_offsets: Some(offsets) })
        }
    }
}

/// A shard's format, dtype, token count and (where recorded) document count, from its
/// headers and file sizes only: what every header says is checked against the sizes,
/// but the token data and Megatron's arrays are not read ([`read_shard`] checks those).
///
/// # Errors
/// As [`read_shard`].
pub fn shard_info(format: ShardFormat, path_prefix: &Path) -> Result<ShardInfo> {
    let paths = format.paths(path_prefix);
    let main = &paths[0];
    match format {
        ShardFormat::Llmc => {
            let (head, size) = read_head(main, LLMC_HEADER_BYTES)?;
            let (dtype, tokens) = llmc_check(main, &head, size)?;
            Ok(ShardInfo { format, dtype, tokens, documents: None, data_offset: LLMC_HEADER_BYTES as u64 })
        }
        ShardFormat::Nanogpt => {
            let size = fs::metadata(main).map_err(|e| read_error(main, &e))?.len();
            Ok(ShardInfo {
                format,
                dtype: TokenDtype::U16,
                tokens: nanogpt_check(main, size)?,
                documents: None,
                data_offset: 0,
            })
        }
        ShardFormat::Npy => {
            let (head, size) = read_head(main, NPY_MAX_HEADER)?;
            let h = npy_check(main, &head, size)?;
            let dtype = npy_token_dtype(main, &h.descr)?;
            let (head, size) = read_head(&paths[1], NPY_MAX_HEADER)?;
            let dh = npy_check(&paths[1], &head, size)?;
            let documents = npy_docs_check(&paths[1], &dh)?;
            Ok(ShardInfo {
                format,
                dtype,
                tokens: h.len,
                documents: Some(documents),
                data_offset: h.data_start as u64,
            })
        }
        ShardFormat::Megatron => {
            let bin_size = fs::metadata(main).map_err(|e| read_error(main, &e))?.len();
            let (head, idx_size) = read_head(&paths[1], MEGATRON_HEADER_BYTES)?;
            let h = megatron_check(&paths[1], main, &head, idx_size, bin_size)?;
            Ok(ShardInfo {
                format,
                dtype: h.dtype,
                tokens: h.tokens,
                documents: Some(h.doc_indices - 1),
                data_offset: 0,
            })
        }
    }
}

/// A shard's document boundaries (documents + 1 token offsets, from 0 to the token
/// count) without reading its tokens: `None` for formats that record none (llmc,
/// nanogpt), whose headers are still checked. The checks are [`read_shard`]'s, but for
/// the token values.
///
/// # Errors
/// As [`read_shard`].
pub fn read_shard_documents(format: ShardFormat, path_prefix: &Path) -> Result<Option<Vec<u64>>> {
    let paths = format.paths(path_prefix);
    match format {
        ShardFormat::Llmc | ShardFormat::Nanogpt => shard_info(format, path_prefix).map(|_| None),
        ShardFormat::Npy => {
            let (head, size) = read_head(&paths[0], NPY_MAX_HEADER)?;
            let h = npy_check(&paths[0], &head, size)?;
            npy_token_dtype(&paths[0], &h.descr)?;
            npy_offsets(&paths[1], h.len).map(Some)
        }
        ShardFormat::Megatron => {
            let bin_size = fs::metadata(&paths[0]).map_err(|e| read_error(&paths[0], &e))?.len();
            let idx = read_all(&paths[1])?;
            let h = megatron_check(&paths[1], &paths[0], &idx, idx.len() as u64, bin_size)?;
            megatron_offsets(&paths[1], &idx, &h).map(Some)
        }
    }
}

// ---------------------------------------------------------------------------------------
// Finding a shard and its format.

/// The file name of `path` without `suffix`, if it ends so (and is more than it).
fn strip_suffix(path: &Path, suffix: &str) -> Option<PathBuf> {
    let name = path.file_name()?.to_str()?;
    let stem = name.strip_suffix(suffix).filter(|s| !s.is_empty())?;
    Some(path.with_file_name(stem))
}

/// Whether `bin` starts with an llm.c header (magic and its version) that its size agrees
/// with. A header whose magic and version match but whose size does not is an error: a
/// damaged llm.c shard, not a nanoGPT one.
fn sniff_llmc(bin: &Path) -> Result<bool> {
    let (head, size) = read_head(bin, LLMC_HEADER_BYTES)?;
    if head.len() < 8 {
        return Ok(false);
    }
    let int = |i: usize| i32::from_le_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
    if ![LLMC_U16, LLMC_U32].contains(&(int(0), int(4))) {
        return Ok(false);
    }
    llmc_check(bin, &head, size).map_err(|e| {
        Error::bad_format(format!(
            "{} (it starts with llm.c's magic and version; pass the format nanogpt if it is a raw uint16 file)",
            e.message()
        ))
    })?;
    Ok(true)
}

/// Finds the shard that `path` names and its format: `path` is a shard's prefix or any
/// of its files (`PREFIX.bin`, `PREFIX.idx`, `PREFIX.npy`, `PREFIX.docs.npy`). Returns
/// the format and the prefix, for [`read_shard`], [`shard_info`] and
/// [`read_shard_documents`].
///
/// With `format` given, a final suffix of that format's files is removed (`x.bin` and
/// `x` both name the llmc shard `x`). Without it the format is detected: `.npy` and
/// `.docs.npy` are npy; a prefix with a `.idx` file is megatron; a `.bin` that starts
/// with llm.c's magic and version, with a size that agrees, is llmc; any other `.bin` is
/// nanogpt (which has no header to recognise).
///
/// # Errors
/// [`ErrorKind::Io`] naming the path if no file of a shard exists there;
/// [`ErrorKind::BadFormat`] for a file with another suffix, or a `.bin` whose llm.c
/// header disagrees with its size.
pub fn locate_shard(path: &Path, format: Option<ShardFormat>) -> Result<(ShardFormat, PathBuf)> {
    const SUFFIXES: [(&str, Option<ShardFormat>); 4] = [
        (".docs.npy", Some(ShardFormat::Npy)),
        (".npy", Some(ShardFormat::Npy)),
        (".idx", Some(ShardFormat::Megatron)),
        (".bin", None),
    ];
    if let Some(format) = format {
        // Longest first: `.docs.npy` before `.npy`.
        let mut suffixes = format.suffixes().to_vec();
        suffixes.sort_by_key(|s| std::cmp::Reverse(s.len()));
        let prefix =
            suffixes.iter().find_map(|s| strip_suffix(path, s)).unwrap_or_else(|| path.to_path_buf());
        return Ok((format, prefix));
    }
    let exists = |p: &Path| p.is_file();
    let with = |prefix: &Path, s: &str| {
        let mut p = prefix.as_os_str().to_owned();
        p.push(s);
        PathBuf::from(p)
    };
    // A file's own suffix says the format, or (.bin) where to look.
    for (suffix, known) in SUFFIXES {
        let Some(prefix) = strip_suffix(path, suffix) else { continue };
        if let Some(f) = known {
            return Ok((f, prefix));
        }
        if exists(&with(&prefix, ".idx")) {
            return Ok((ShardFormat::Megatron, prefix));
        }
        let f = if sniff_llmc(path)? { ShardFormat::Llmc } else { ShardFormat::Nanogpt };
        return Ok((f, prefix));
    }
    // A prefix: its files say.
    if exists(&with(path, ".npy")) || exists(&with(path, ".docs.npy")) {
        return Ok((ShardFormat::Npy, path.to_path_buf()));
    }
    if exists(&with(path, ".idx")) {
        return Ok((ShardFormat::Megatron, path.to_path_buf()));
    }
    let bin = with(path, ".bin");
    if exists(&bin) {
        let f = if sniff_llmc(&bin)? { ShardFormat::Llmc } else { ShardFormat::Nanogpt };
        return Ok((f, path.to_path_buf()));
    }
    if exists(path) {
        return Err(Error::bad_format(format!(
            "{} is not a shard file: bpekit reads .bin (llmc, nanogpt, megatron), .idx (megatron), \
             .npy and .docs.npy (npy), or a shard's prefix",
            path.display()
        )));
    }
    Err(Error::new(
        ErrorKind::Io,
        format!(
            "no shard at {p}: neither the file nor {p}.bin, {p}.idx or {p}.npy exists",
            p = path.display()
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh, empty directory for one test.
    fn temp_dir(test: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("bpekit-shards-{test}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn listing(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn write(format: ShardFormat, prefix: &Path, vocab: usize, docs: &[&[u32]]) -> ShardSummary {
        let mut w = ShardWriter::create(format, prefix, vocab).unwrap();
        for d in docs {
            w.push_document(d).unwrap();
        }
        w.finish().unwrap()
    }

    fn le16(ids: &[u16]) -> Vec<u8> {
        ids.iter().flat_map(|v| v.to_le_bytes()).collect()
    }
    fn le32(ids: &[u32]) -> Vec<u8> {
        ids.iter().flat_map(|v| v.to_le_bytes()).collect()
    }
    fn le_i32(v: &[i32]) -> Vec<u8> {
        v.iter().flat_map(|v| v.to_le_bytes()).collect()
    }
    fn le_i64(v: &[i64]) -> Vec<u8> {
        v.iter().flat_map(|v| v.to_le_bytes()).collect()
    }
    fn le_u64(v: &[u64]) -> Vec<u8> {
        v.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    /// llm.c's `.bin` from `write_datafile`'s description: 256 int32 (magic, version,
    /// count, zeros), then the tokens.
    fn llmc_by_hand(magic: i32, version: i32, count: i32, tokens: &[u8]) -> Vec<u8> {
        let mut header = [0i32; 256];
        header[0] = magic;
        header[1] = version;
        header[2] = count;
        let mut out = le_i32(&header);
        out.extend_from_slice(tokens);
        out
    }

    /// A version-1.0 `.npy` of a 1-D array, from NumPy's format description: magic, 1, 0,
    /// u16 header length, the dict padded with spaces to end in '\n' at a multiple of 64
    /// (128 bytes for every header here), then the data.
    fn npy_by_hand(descr: &str, n: usize, data: &[u8]) -> Vec<u8> {
        let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': ({n},), }}");
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(128u16 - 10).to_le_bytes());
        out.extend_from_slice(dict.as_bytes());
        while out.len() < 127 {
            out.push(b' ');
        }
        out.push(b'\n');
        out.extend_from_slice(data);
        out
    }

    /// A Megatron `.idx` from `_IndexWriter.write`, one sequence per document.
    fn idx_by_hand(code: u8, lengths: &[i32], item: i64) -> Vec<u8> {
        let mut out = b"MMIDIDX\x00\x00".to_vec();
        out.extend_from_slice(&1u64.to_le_bytes());
        out.push(code);
        out.extend_from_slice(&(lengths.len() as u64).to_le_bytes());
        out.extend_from_slice(&(lengths.len() as u64 + 1).to_le_bytes());
        out.extend_from_slice(&le_i32(lengths));
        let mut ptr = 0;
        let pointers: Vec<i64> = lengths
            .iter()
            .map(|&l| {
                let p = ptr;
                ptr += i64::from(l) * item;
                p
            })
            .collect();
        out.extend_from_slice(&le_i64(&pointers));
        let indices: Vec<i64> = (0..=lengths.len() as i64).collect();
        out.extend_from_slice(&le_i64(&indices));
        out
    }

    #[test]
    fn llmc_bytes_match_the_format() {
        let dir = temp_dir("llmc-bytes");
        let p = dir.join("s");
        let s = write(ShardFormat::Llmc, &p, 50257, &[&[1, 50256], &[], &[7]]);
        assert_eq!((s.dtype, s.tokens, s.documents), (TokenDtype::U16, 3, 3));
        assert_eq!(s.paths, vec![dir.join("s.bin")]);
        assert_eq!(fs::read(dir.join("s.bin")).unwrap(), llmc_by_hand(20240520, 1, 3, &le16(&[1, 50256, 7])));
        write(ShardFormat::Llmc, &p, 128256, &[&[128000, 5], &[128255]]);
        assert_eq!(
            fs::read(dir.join("s.bin")).unwrap(),
            llmc_by_hand(20240801, 7, 3, &le32(&[128000, 5, 128255]))
        );
        assert_eq!(listing(&dir), ["s.bin"]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn megatron_bytes_match_the_format() {
        let dir = temp_dir("megatron-bytes");
        let p = dir.join("corpus_text_document");
        let s = write(ShardFormat::Megatron, &p, 65499, &[&[1, 65498], &[3], &[]]);
        assert_eq!(s.dtype, TokenDtype::U16);
        assert_eq!(s.paths, vec![dir.join("corpus_text_document.bin"), dir.join("corpus_text_document.idx")]);
        assert_eq!(fs::read(&s.paths[0]).unwrap(), le16(&[1, 65498, 3]));
        assert_eq!(fs::read(&s.paths[1]).unwrap(), idx_by_hand(8, &[2, 1, 0], 2));
        let s = write(ShardFormat::Megatron, &p, 65500, &[&[65499], &[0, 1]]);
        assert_eq!(s.dtype, TokenDtype::I32);
        assert_eq!(fs::read(&s.paths[0]).unwrap(), le_i32(&[65499, 0, 1]));
        assert_eq!(fs::read(&s.paths[1]).unwrap(), idx_by_hand(4, &[1, 2], 4));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn nanogpt_bytes_match_the_format() {
        let dir = temp_dir("nanogpt-bytes");
        let p = dir.join("train");
        let s = write(ShardFormat::Nanogpt, &p, 65536, &[&[1, 2, 65535], &[], &[0]]);
        assert_eq!((s.dtype, s.tokens, s.documents), (TokenDtype::U16, 4, 3));
        assert_eq!(fs::read(dir.join("train.bin")).unwrap(), le16(&[1, 2, 65535, 0]));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn npy_bytes_match_the_format() {
        let dir = temp_dir("npy-bytes");
        let p = dir.join("s");
        let s = write(ShardFormat::Npy, &p, 65536, &[&[1, 65535], &[], &[9]]);
        assert_eq!(s.paths, vec![dir.join("s.npy"), dir.join("s.docs.npy")]);
        assert_eq!(fs::read(&s.paths[0]).unwrap(), npy_by_hand("<u2", 3, &le16(&[1, 65535, 9])));
        assert_eq!(fs::read(&s.paths[1]).unwrap(), npy_by_hand("<u8", 4, &le_u64(&[0, 2, 2, 3])));
        let s = write(ShardFormat::Npy, &p, 65537, &[&[65536, 2]]);
        assert_eq!(s.dtype, TokenDtype::U32);
        assert_eq!(fs::read(&s.paths[0]).unwrap(), npy_by_hand("<u4", 2, &le32(&[65536, 2])));
        assert_eq!(fs::read(&s.paths[1]).unwrap(), npy_by_hand("<u8", 2, &le_u64(&[0, 2])));
        // The header's length does not depend on the count (so it is patched in place).
        assert_eq!(npy_header("<u2", 0).len(), 128);
        assert_eq!(npy_header("<u2", u64::MAX).len(), 128);
        assert_eq!(npy_header("<u8", 12_345_678_901).len(), 128);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn round_trips_in_every_format() {
        let dir = temp_dir("round-trip");
        // One document longer than a write chunk.
        let long: Vec<u32> = (0..100_000u32).map(|i| i % 50_000).collect();
        for format in ShardFormat::ALL {
            for vocab in [50_000usize, 200_000] {
                if format == ShardFormat::Nanogpt && vocab > 65536 {
                    continue;
                }
                let top = vocab as u32 - 1;
                let docs: Vec<Vec<u32>> = vec![vec![0, top, 5], vec![], long.clone(), vec![top]];
                let p = dir.join(format!("{}-{vocab}", format.name()));
                let mut w = ShardWriter::create(format, &p, vocab).unwrap();
                for d in &docs {
                    w.push_document(d).unwrap();
                }
                assert_eq!((w.tokens(), w.documents()), (100_004, 4));
                let s = w.finish().unwrap();
                let back = read_shard(format, &p).unwrap();
                assert_eq!(back.dtype, s.dtype);
                assert_eq!(back.ids, docs.concat(), "{format:?} {vocab}");
                let offsets = [0u64, 3, 3, 100_003, 100_004];
                let has_docs = matches!(format, ShardFormat::Megatron | ShardFormat::Npy);
                assert_eq!(back.doc_offsets, has_docs.then(|| offsets.to_vec()));
                let info = shard_info(format, &p).unwrap();
                let data_offset = match format {
                    ShardFormat::Llmc => 1024,
                    ShardFormat::Npy => 128,
                    ShardFormat::Megatron | ShardFormat::Nanogpt => 0,
                };
                let want_info = ShardInfo {
                    format,
                    dtype: s.dtype,
                    tokens: 100_004,
                    documents: has_docs.then_some(4),
                    data_offset,
                };
                assert_eq!(info, want_info);
                assert_eq!(read_shard_documents(format, &p).unwrap(), has_docs.then(|| offsets.to_vec()));
            }
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn dtype_boundaries() {
        use ShardFormat::*;
        use TokenDtype::*;
        let dt = |f: ShardFormat, v: usize| f.dtype_for(v).map_err(|e| e.kind());
        for f in [Llmc, Npy] {
            assert_eq!(dt(f, 1), Ok(U16));
            assert_eq!(dt(f, 65535), Ok(U16));
            assert_eq!(dt(f, 65536), Ok(U16));
            assert_eq!(dt(f, 65537), Ok(U32));
            assert_eq!(dt(f, 1 << 32), Ok(U32));
            assert_eq!(dt(f, (1 << 32) + 1), Err(ErrorKind::InvalidArg));
        }
        assert_eq!(dt(Megatron, 65499), Ok(U16));
        assert_eq!(dt(Megatron, 65500), Ok(I32));
        assert_eq!(dt(Megatron, 65536), Ok(I32));
        assert_eq!(dt(Megatron, 1 << 31), Ok(I32));
        assert_eq!(dt(Megatron, (1 << 31) + 1), Err(ErrorKind::InvalidArg));
        assert_eq!(dt(Nanogpt, 65536), Ok(U16));
        assert_eq!(dt(Nanogpt, 65537), Err(ErrorKind::InvalidArg));
        for f in ShardFormat::ALL {
            assert_eq!(dt(f, 0), Err(ErrorKind::InvalidArg));
            assert_eq!(ShardFormat::from_name(f.name()), Ok(f));
        }
        let e = ShardFormat::from_name("bin").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArg);
        assert!(e.message().contains("llmc, megatron, nanogpt, npy"), "{e}");
        assert_eq!((U16.name(), U32.name(), I32.name()), ("uint16", "uint32", "int32"));
        assert_eq!((U16.size(), U32.size(), I32.size()), (2, 4, 4));
        assert_eq!((U16.max_vocab(), U32.max_vocab(), I32.max_vocab()), (1 << 16, 1 << 32, 1 << 31));
    }

    #[test]
    fn vocab_too_large_creates_nothing() {
        let dir = temp_dir("vocab-too-large");
        for (f, v) in [(ShardFormat::Nanogpt, 65537usize), (ShardFormat::Megatron, (1 << 31) + 1)] {
            let e = ShardWriter::create(f, &dir.join("s"), v).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArg);
            assert!(e.message().contains(&format!("vocab size {v}")), "{e}");
        }
        assert!(listing(&dir).is_empty());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_id_out_of_range_is_refused_and_writes_nothing() {
        let dir = temp_dir("id-too-large");
        for format in ShardFormat::ALL {
            let p = dir.join(format.name());
            let mut w = ShardWriter::create(format, &p, 1000).unwrap();
            w.push_document(&[1, 2]).unwrap();
            let e = w.push_document(&[3, 1000, 4]).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArg);
            assert!(e.message().contains("token id 1000 (position 1 of document 1)"), "{e}");
            // Still usable; the refused document left no trace.
            w.push_document(&[999]).unwrap();
            w.finish().unwrap();
            let back = read_shard(format, &p).unwrap();
            assert_eq!(back.ids, [1, 2, 999]);
            if let Some(offsets) = back.doc_offsets {
                assert_eq!(offsets, [0, 2, 3]);
            }
        }
        // Beyond the dtype itself.
        let mut w = ShardWriter::create(ShardFormat::Llmc, &dir.join("x"), 65536).unwrap();
        assert_eq!(w.push_document(&[65536]).unwrap_err().kind(), ErrorKind::InvalidArg);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_writer_not_finished_leaves_no_file() {
        let dir = temp_dir("dropped");
        for format in ShardFormat::ALL {
            let p = dir.join("shard_000");
            let mut w = ShardWriter::create(format, &p, 50257).unwrap();
            w.push_document(&[1, 2, 3]).unwrap();
            // The temporary files exist, hidden, beside the final names.
            assert_eq!(listing(&dir).len(), format.paths(&p).len());
            assert!(listing(&dir).iter().all(|n| n.starts_with(".shard_000.") && n.contains(".tmp-")));
            drop(w);
            assert!(listing(&dir).is_empty(), "{format:?}: {:?}", listing(&dir));
            // A panic while writing unwinds through the writer and removes its files too.
            let p2 = p.clone();
            let r = std::panic::catch_unwind(move || {
                let mut w = ShardWriter::create(format, &p2, 50257).unwrap();
                w.push_document(&[4]).unwrap();
                panic!("interrupted");
            });
            assert!(r.is_err());
            assert!(listing(&dir).is_empty(), "{format:?}: {:?}", listing(&dir));
        }
        // A missing directory is an Io error and creates nothing.
        let e = ShardWriter::create(ShardFormat::Npy, &dir.join("no/such/dir/s"), 100).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Io);
        assert!(listing(&dir).is_empty());
        // A prefix without a file name.
        let e = ShardWriter::create(ShardFormat::Llmc, Path::new("/"), 100).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArg);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_finish_leaves_no_file() {
        let dir = temp_dir("failed-finish");
        // The second file's final name is a non-empty directory: its rename fails, and
        // the first file, already renamed, is removed again.
        for format in [ShardFormat::Megatron, ShardFormat::Npy] {
            let p = dir.join("s");
            let second = &format.paths(&p)[1];
            fs::create_dir_all(second.join("x")).unwrap();
            let mut w = ShardWriter::create(format, &p, 100).unwrap();
            w.push_document(&[1]).unwrap();
            let e = w.finish().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Io, "{e}");
            assert!(e.message().contains("rename"), "{e}");
            let name = second.file_name().unwrap().to_string_lossy().into_owned();
            assert_eq!(listing(&dir), [name]);
            fs::remove_dir_all(second).unwrap();
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_empty_shard() {
        let dir = temp_dir("empty");
        for format in ShardFormat::ALL {
            let p = dir.join(format.name());
            let s = ShardWriter::create(format, &p, 50257).unwrap().finish().unwrap();
            assert_eq!((s.tokens, s.documents), (0, 0));
            let back = read_shard(format, &p).unwrap();
            assert!(back.ids.is_empty());
            let has_docs = matches!(format, ShardFormat::Megatron | ShardFormat::Npy);
            assert_eq!(back.doc_offsets, has_docs.then(|| vec![0]));
            assert_eq!(shard_info(format, &p).unwrap().documents, has_docs.then_some(0));
        }
        assert_eq!(fs::read(dir.join("llmc.bin")).unwrap(), llmc_by_hand(20240520, 1, 0, &[]));
        assert_eq!(fs::read(dir.join("nanogpt.bin")).unwrap(), b"");
        assert_eq!(fs::read(dir.join("megatron.bin")).unwrap(), b"");
        assert_eq!(fs::read(dir.join("megatron.idx")).unwrap(), idx_by_hand(8, &[], 2));
        assert_eq!(fs::read(dir.join("npy.npy")).unwrap(), npy_by_hand("<u2", 0, &[]));
        assert_eq!(fs::read(dir.join("npy.docs.npy")).unwrap(), npy_by_hand("<u8", 1, &[0; 8]));
        fs::remove_dir_all(&dir).unwrap();
    }

    /// `read_shard` and `shard_info` on a damaged shard: BadFormat naming the file.
    fn assert_bad(format: ShardFormat, p: &Path, file: &Path, what: &str, info_too: bool) {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let mut results = vec![read_shard(format, p).map(|_| ())];
        if info_too {
            results.push(shard_info(format, p).map(|_| ()));
        }
        for r in results {
            let e = r.expect_err(what);
            assert_eq!(e.kind(), ErrorKind::BadFormat, "{what}: {e}");
            assert!(e.message().contains(&name), "{what}: {e}");
        }
    }

    /// Every truncation of `file`, then every single-byte change in its first `header`
    /// bytes (which the format checks), each restored afterwards.
    fn damage_each(format: ShardFormat, p: &Path, file: &Path, header: usize, info_too: bool) {
        let good = fs::read(file).unwrap();
        for cut in 0..good.len() {
            fs::write(file, &good[..cut]).unwrap();
            assert_bad(format, p, file, &format!("{} cut at {cut}", file.display()), info_too);
        }
        for i in 0..header {
            let mut b = good.clone();
            b[i] ^= 0x41;
            fs::write(file, &b).unwrap();
            assert_bad(format, p, file, &format!("{} byte {i} changed", file.display()), info_too);
        }
        fs::write(file, &good).unwrap();
        read_shard(format, p).unwrap();
    }

    #[test]
    fn damaged_shards_are_bad_format() {
        let dir = temp_dir("damaged");
        let docs: &[&[u32]] = &[&[1, 2, 3], &[4], &[5, 6]];

        let p = dir.join("llmc");
        let bin = write(ShardFormat::Llmc, &p, 70000, docs).paths[0].clone();
        damage_each(ShardFormat::Llmc, &p, &bin, 12, true);

        let p = dir.join("nanogpt");
        let bin = write(ShardFormat::Nanogpt, &p, 100, docs).paths[0].clone();
        let good = fs::read(&bin).unwrap();
        fs::write(&bin, &good[..good.len() - 1]).unwrap();
        assert_bad(ShardFormat::Nanogpt, &p, &bin, "odd size", true);

        let p = dir.join("npy");
        let paths = write(ShardFormat::Npy, &p, 100, docs).paths;
        // The header's dict up to the shape's digit (byte 61); the padding is not checked.
        damage_each(ShardFormat::Npy, &p, &paths[0], 62, true);
        damage_each(ShardFormat::Npy, &p, &paths[1], 62, true);
        // Offsets that are not 0 first, not sorted, or do not end at the token count.
        let good = fs::read(&paths[1]).unwrap();
        for (k, v) in [(0, 1u64), (1, 7), (3, 5)] {
            let mut b = good.clone();
            b[128 + 8 * k..128 + 8 * k + 8].copy_from_slice(&v.to_le_bytes());
            fs::write(&paths[1], &b).unwrap();
            assert_bad(ShardFormat::Npy, &p, &paths[1], &format!("offset {k} = {v}"), false);
        }
        fs::write(&paths[1], &good).unwrap();

        let p = dir.join("megatron");
        let paths = write(ShardFormat::Megatron, &p, 100, docs).paths;
        // The header's fields (the count fields' high bytes change the size they imply).
        damage_each(ShardFormat::Megatron, &p, &paths[1], 34, true);
        let good_idx = fs::read(&paths[1]).unwrap();
        // A length, a pointer, a document index out of line with the rest.
        // Layout: header 34 bytes, lengths [3, 1, 2] at 34, pointers [0, 6, 8] at 46,
        // document indices [0, 1, 2, 3] at 70.
        for (at, xor) in [(34, 1), (38, 0x80), (46 + 8, 1), (70, 1), (70 + 8, 2), (70 + 24, 1)] {
            let mut b = good_idx.clone();
            b[at] ^= xor;
            fs::write(&paths[1], &b).unwrap();
            assert_bad(ShardFormat::Megatron, &p, &paths[1], &format!("idx byte {at} changed"), false);
        }
        fs::write(&paths[1], &good_idx).unwrap();
        // The data file shorter or longer than the lengths say.
        let good_bin = fs::read(&paths[0]).unwrap();
        for data in [&good_bin[..good_bin.len() - 2], &[good_bin.as_slice(), &[0, 0]].concat()[..]] {
            fs::write(&paths[0], data).unwrap();
            assert_bad(ShardFormat::Megatron, &p, &paths[1], "data size", false);
        }
        fs::write(&paths[0], &good_bin[..good_bin.len() - 1]).unwrap();
        assert_bad(ShardFormat::Megatron, &p, &paths[0], "odd data size", true);
        // A negative int32 token.
        let p = dir.join("megatron32");
        let paths = write(ShardFormat::Megatron, &p, 70000, docs).paths;
        let mut b = fs::read(&paths[0]).unwrap();
        b[3] = 0x80;
        fs::write(&paths[0], &b).unwrap();
        assert_bad(ShardFormat::Megatron, &p, &paths[0], "negative token", false);

        // A missing file is an Io error.
        for format in ShardFormat::ALL {
            let e = read_shard(format, &dir.join("missing")).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Io);
            assert_eq!(shard_info(format, &dir.join("missing")).unwrap_err().kind(), ErrorKind::Io);
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn npy_headers_from_other_writers() {
        let ok = |t: &str| parse_npy_dict(t).unwrap();
        assert_eq!(
            ok("{'descr': '<u2', 'fortran_order': False, 'shape': (3,), }"),
            ("<u2".into(), false, vec![3])
        );
        assert_eq!(
            ok("{\"shape\":(7,),\"descr\":\"<u4\",\"fortran_order\":True}\n"),
            ("<u4".into(), true, vec![7])
        );
        assert_eq!(ok("{'descr': '<u8', 'fortran_order': False, 'shape': (2, 3), }").2, vec![2, 3]);
        for bad in [
            "",
            "{",
            "{'descr': '<u2'",
            "{'descr': '<u2', 'fortran_order': Maybe, 'shape': (3,), }",
            "{'descr': '<u2', 'fortran_order': False, 'shape': (x,), }",
            "{'descr': '<u2', 'fortran_order': False, 'shape': (3,), 'extra': 1}",
            "{'descr': '<u2', 'fortran_order': False}",
            "{'descr': '<u2', 'fortran_order': False, 'shape': (3,), } x",
            "{'descr: '<u2'}",
        ] {
            assert!(parse_npy_dict(bad).is_err(), "{bad:?}");
        }
    }
    #[test]
    fn formats_are_detected_from_any_file_or_the_prefix() {
        let dir = temp_dir("detect");
        let docs: &[&[u32]] = &[&[1, 2, 3], &[4]];
        for format in ShardFormat::ALL {
            let p = dir.join(format.name());
            let s = write(format, &p, 1000, docs);
            let mut names = vec![p.clone()];
            names.extend(s.paths.iter().cloned());
            for name in &names {
                assert_eq!(locate_shard(name, None).unwrap(), (format, p.clone()), "{}", name.display());
                assert_eq!(
                    locate_shard(name, Some(format)).unwrap(),
                    (format, p.clone()),
                    "{}",
                    name.display()
                );
            }
        }
        // A .bin that starts like llm.c's header but is not one is nanogpt: a wrong
        // version, or too short for the header.
        let nano = dir.join("n.bin");
        let mut b = fs::read(dir.join("llmc.bin")).unwrap();
        b[4] = 2;
        fs::write(&nano, &b).unwrap();
        assert_eq!(locate_shard(&nano, None).unwrap(), (ShardFormat::Nanogpt, dir.join("n")));
        fs::write(&nano, [0x68, 0xD6, 0x34, 0x01]).unwrap();
        assert_eq!(locate_shard(&nano, None).unwrap().0, ShardFormat::Nanogpt);
        // Magic and version with a size that disagrees: a damaged llmc shard, named so.
        let mut b = fs::read(dir.join("llmc.bin")).unwrap();
        b.truncate(b.len() - 2);
        fs::write(&nano, &b).unwrap();
        let e = locate_shard(&nano, None).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BadFormat);
        assert!(e.message().contains("n.bin") && e.message().contains("llmc"), "{e}");
        // Not a shard; no shard.
        fs::write(dir.join("notes.txt"), b"hi").unwrap();
        let e = locate_shard(&dir.join("notes.txt"), None).unwrap_err();
        assert!(e.kind() == ErrorKind::BadFormat && e.message().contains("notes.txt"), "{e}");
        let e = locate_shard(&dir.join("missing"), None).unwrap_err();
        assert!(e.kind() == ErrorKind::Io && e.message().contains("missing.bin"), "{e}");
        // A given format that the files are not: its reader names it.
        let (f, p) = locate_shard(&dir.join("nanogpt.bin"), Some(ShardFormat::Llmc)).unwrap();
        let e = read_shard(f, &p).unwrap_err();
        assert!(e.kind() == ErrorKind::BadFormat && e.message().contains("llmc"), "{e}");
        // Boundaries alone are checked as read_shard checks them.
        let e = read_shard_documents(ShardFormat::Npy, &dir.join("nothing")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Io);
        fs::write(dir.join("llmc.bin"), b"").unwrap();
        assert_eq!(
            read_shard_documents(ShardFormat::Llmc, &dir.join("llmc")).unwrap_err().kind(),
            ErrorKind::BadFormat
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
