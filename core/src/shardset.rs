//! A set of token shards: documents encoded in parallel and written, in document order,
//! as one shard or as numbered shards of bounded size, each atomically by a
//! [`ShardWriter`].
//!
//! # Naming and rotation
//!
//! With [`ShardSetOptions::shard_tokens`] 0 the set is one shard whose files are the
//! prefix plus the format's suffixes (`PREFIX.bin`, ...). With `N > 0` the shards are
//! `PREFIX_000000`, `PREFIX_000001`, ... (six digits, more when the number needs them),
//! numbered from [`ShardSetOptions::first_shard`], each holding at most `N` tokens (BOS and
//! EOS included). A document is never split between shards: the open shard is completed
//! before a document that would take it past `N`, and a shard that reaches `N` is
//! completed at once; so a document longer than `N` fills a shard of its own. The shards
//! therefore depend only on the sequence of documents, never on how they were batched
//! into [`ShardSet::push`] calls or on the thread count.
//!
//! The rule lives in one place, [`ShardCursor::checked_place`]: the set follows it as it
//! writes, and a caller can run it on document lengths alone ([`ShardCursor::plan`]) to
//! know in advance which shard each document goes to, e.g. to write the shards of one
//! corpus from several processes ([`ShardSetOptions::first_shard`],
//! [`ShardSet::push_encoded`]) and get the files one process would write.
//!
//! # Atomicity
//!
//! Each shard is a [`ShardWriter`]: its files are hidden temporary files until the shard
//! is complete, then renamed. [`ShardSet::completed`] lists the shards under their final
//! names. Dropping a set (or an I/O error) removes the open shard's temporary files;
//! completed shards stay, complete, so a caller can resume after the last of them
//! ([`ShardSetOptions::first_shard`]).
//!
//! # Memory
//!
//! One [`ShardSet::push`] holds the ids of its documents until they are written (so the
//! caller bounds memory by its batch size); a shard holds nothing per token, and
//! Megatron's 4 bytes per document until the shard completes.
//!
//! # Design notes
//!
//! * Encode everything, then write. A push encodes all of its documents (in parallel)
//!   before writing any, and checks the format's limits (llm.c's int32 token count,
//!   Megatron's int32 sequence length) on the encoded lengths by running the rotation
//!   rule on a copy of the cursor: a refused batch leaves the set exactly as it was. Writing batch by batch as
//!   the encodes finish would overlap the two, but a late refusal would leave the batch
//!   half written; the writing is a copy into a buffered file, small next to encoding.
//! * The next shard is opened as soon as one completes (its temporary files created),
//!   so a full disk or a vanished directory shows at the push that caused it; if no
//!   document follows, [`ShardSet::finish`] drops it again, leaving nothing.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf, MAIN_SEPARATOR};

use crate::encode::{Allowed, Tokenizer};
use crate::error::{Error, ErrorKind, Result};
use crate::shards::{ShardFormat, ShardWriter, TokenDtype};

/// Where the open shard of a rotation stands: its number, and the tokens and documents
/// already in it. A [`ShardSet`] starts at `{first_shard, 0, 0}`.
///
/// ```
/// # use bpekit::ShardCursor;
/// // Shards of at most 4 tokens: a document that would overflow goes to the next shard,
/// // a shard that reaches 4 closes at once, a longer document fills a shard alone.
/// let mut cursor = ShardCursor::default();
/// let shards: Vec<u64> = [3, 2, 2, 9, 1].iter().map(|&t| cursor.place(4, t)).collect();
/// assert_eq!(shards, [0, 1, 1, 2, 3]);
/// assert_eq!(cursor, ShardCursor { index: 3, tokens: 1, documents: 1 });
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ShardCursor {
    /// The number of the open shard.
    pub index: u64,
    /// Tokens in it so far, BOS and EOS included.
    pub tokens: u64,
    /// Documents in it so far.
    pub documents: u64,
}

impl ShardCursor {
    /// Places a document of `t` tokens (BOS and EOS included) by the rotation rule of
    /// `shard_tokens` (0: one shard, every document goes to `index`), returns the number
    /// of the shard that receives it, and advances: the open shard is closed first if it
    /// has a document and `t` would take it past `shard_tokens`, and closed after the
    /// document if it has reached `shard_tokens` (then the cursor is `{index + 1, 0, 0}`).
    ///
    /// Shard numbers saturate: a document that would need a shard numbered above
    /// `u64::MAX` gets `u64::MAX`, and the cursor stays at `{u64::MAX, u64::MAX,
    /// u64::MAX}` from then on. [`ShardCursor::checked_place`] refuses instead.
    pub fn place(&mut self, shard_tokens: u64, t: u64) -> u64 {
        match self.checked_place(shard_tokens, t) {
            Some(at) => at,
            None => {
                *self = ShardCursor { index: u64::MAX, tokens: u64::MAX, documents: u64::MAX };
                u64::MAX
            }
        }
    }

    /// [`ShardCursor::place`], or `None` (the cursor unchanged) if the document would
    /// need a shard numbered above `u64::MAX`. This is the rotation rule: [`ShardSet`]
    /// writes by it.
    pub fn checked_place(&mut self, shard_tokens: u64, t: u64) -> Option<u64> {
        let mut c = *self;
        if shard_tokens > 0 && c.documents > 0 && c.tokens.saturating_add(t) > shard_tokens {
            c = ShardCursor { index: c.index.checked_add(1)?, tokens: 0, documents: 0 };
        }
        let at = c.index;
        c.tokens = c.tokens.saturating_add(t);
        c.documents = c.documents.saturating_add(1);
        if shard_tokens > 0 && c.tokens >= shard_tokens {
            c = ShardCursor { index: c.index.checked_add(1)?, tokens: 0, documents: 0 };
        }
        *self = c;
        Some(at)
    }

    /// Places documents of `doc_tokens[i]` tokens each (BOS and EOS included), in order,
    /// writing the number of the shard each goes to into `shard_of[i]`. Splitting the
    /// documents between calls, the cursor carried from one to the next, gives the same
    /// numbers as one call.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArg`], with the cursor and `shard_of` unchanged, if the slices'
    /// lengths differ or a shard number would pass `u64::MAX`.
    pub fn plan(&mut self, shard_tokens: u64, doc_tokens: &[u64], shard_of: &mut [u64]) -> Result<()> {
        if doc_tokens.len() != shard_of.len() {
            return Err(Error::invalid_arg(format!(
                "{} document lengths but room for {} shard numbers",
                doc_tokens.len(),
                shard_of.len()
            )));
        }
        let mut c = *self;
        for &t in doc_tokens {
            c.checked_place(shard_tokens, t).ok_or_else(shard_number_overflow)?;
        }
        for (&t, out) in doc_tokens.iter().zip(shard_of.iter_mut()) {
            *out = self.place(shard_tokens, t);
        }
        Ok(())
    }
}

fn shard_number_overflow() -> Error {
    Error::invalid_arg("the shard number would pass the largest 64-bit number")
}

/// Where and how a [`ShardSet`] writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardSetOptions {
    /// The shard format.
    pub format: ShardFormat,
    /// The output path prefix: the shards' files are this plus `_NNNNNN` (when sharding)
    /// plus the format's suffixes. Its directory must exist.
    pub prefix: PathBuf,
    /// 0: one shard, `PREFIX.bin` etc.; `N > 0`: numbered shards of at most `N` tokens
    /// each (see the [module docs](self)).
    pub shard_tokens: u64,
    /// The number of the first shard (to resume a run); must be 0 when `shard_tokens` is 0.
    pub first_shard: u64,
    /// An id written before every document.
    pub bos: Option<u32>,
    /// An id written after every document.
    pub eos: Option<u32>,
}

impl ShardSetOptions {
    /// One shard of `format` at `prefix`, without BOS or EOS.
    pub fn new(format: ShardFormat, prefix: impl Into<PathBuf>) -> Self {
        ShardSetOptions {
            format,
            prefix: prefix.into(),
            shard_tokens: 0,
            first_shard: 0,
            bos: None,
            eos: None,
        }
    }
}

/// A completed shard of a [`ShardSet`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardRecord {
    /// Its number (0 when the set is one shard).
    pub index: u64,
    /// Tokens in it, BOS and EOS included.
    pub tokens: u64,
    /// Documents in it.
    pub documents: u64,
    /// Its files under their final names, in [`ShardFormat::paths`] order.
    pub paths: Vec<PathBuf>,
}

#[derive(Debug)]
enum State {
    Open,
    /// A write failed with this message: the open shard's files are gone.
    Failed(String),
    Finished,
}

/// Encodes documents and writes them as token shards (see the [module docs](self)).
///
/// ```
/// # use bpekit::{read_shard, Pattern, ShardFormat, ShardSet, ShardSetOptions, Trainer};
/// # let dir = std::env::temp_dir().join(format!("bpekit-doc-shardset-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir).unwrap();
/// let mut trainer = Trainer::new(Pattern::default_pattern());
/// trainer.feed("hello world, hello shards").unwrap();
/// let tok = trainer.finish(300).unwrap();
///
/// let mut options = ShardSetOptions::new(ShardFormat::Npy, dir.join("train"));
/// options.shard_tokens = 1000;
/// options.eos = Some(0);
/// let mut set = ShardSet::create(options, tok.vocab_size()).unwrap();
/// set.push(&tok, &["hello world", "hello shards"], 0).unwrap();
/// set.finish().unwrap();
///
/// let shard = &set.completed()[0];
/// assert_eq!((shard.index, shard.documents), (0, 2));
/// assert_eq!(shard.paths[0], dir.join("train_000000.npy"));
/// let back = read_shard(ShardFormat::Npy, &dir.join("train_000000")).unwrap();
/// assert_eq!(back.ids.len() as u64, shard.tokens);
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[derive(Debug)]
pub struct ShardSet {
    options: ShardSetOptions,
    vocab_size: usize,
    dtype: TokenDtype,
    /// The most tokens one shard may hold (llm.c's header count is an int32).
    shard_limit: u64,
    /// The most tokens one document may have (a Megatron sequence length is an int32).
    doc_limit: u64,
    /// The open shard (None once finished or failed).
    current: Option<ShardWriter>,
    current_index: u64,
    completed: Vec<ShardRecord>,
    state: State,
}

/// The largest count an int32 field holds.
const INT32_MAX: u64 = i32::MAX as u64;

impl ShardSet {
    /// Checks the options against the format and `vocab_size` (the tokenizer's), then
    /// opens the first shard (its temporary files only).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArg`], before any file is created: a vocab too large for the
    /// format's dtype (naming format, vocab size and limit), a BOS or EOS id not below the
    /// vocab size, `first_shard` without `shard_tokens`, an llmc `shard_tokens` above
    /// 2³¹ − 1, a prefix that does not end in a file name. [`ErrorKind::Io`] naming the
    /// directory if it does not exist, is not a directory, or is not writable.
    pub fn create(options: ShardSetOptions, vocab_size: usize) -> Result<ShardSet> {
        let format = options.format;
        let dtype = format.dtype_for(vocab_size)?;
        for (name, id) in [("bos", options.bos), ("eos", options.eos)] {
            if let Some(id) = id.filter(|&id| id as usize >= vocab_size) {
                return Err(Error::invalid_arg(format!(
                    "{name} id {id} is not below the tokenizer's vocab size {vocab_size}"
                )));
            }
        }
        if options.shard_tokens == 0 && options.first_shard != 0 {
            return Err(Error::invalid_arg(format!(
                "first_shard {} needs shard_tokens > 0 (numbered shards); one shard is always number 0",
                options.first_shard
            )));
        }
        if format == ShardFormat::Llmc && options.shard_tokens > INT32_MAX {
            return Err(Error::invalid_arg(format!(
                "shard_tokens {} is too large for llmc: a shard holds at most {INT32_MAX} tokens \
                 (its header's count is an int32)",
                options.shard_tokens
            )));
        }
        let dir = output_dir(&options.prefix)?;
        let mut set = ShardSet {
            vocab_size,
            dtype,
            shard_limit: if format == ShardFormat::Llmc { INT32_MAX } else { u64::MAX },
            doc_limit: if format == ShardFormat::Megatron { INT32_MAX } else { u64::MAX },
            current: None,
            current_index: options.first_shard,
            completed: Vec::new(),
            state: State::Open,
            options,
        };
        set.current = Some(set.open(set.current_index).map_err(|e| {
            if e.kind() == ErrorKind::Io {
                Error::new(
                    ErrorKind::Io,
                    format!("cannot write to the output directory {}: {}", dir.display(), e.message()),
                )
            } else {
                e
            }
        })?);
        Ok(set)
    }

    /// The options the set was created with.
    pub fn options(&self) -> &ShardSetOptions {
        &self.options
    }

    /// The vocab size the set was created for.
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    /// The token dtype of every shard.
    pub fn dtype(&self) -> TokenDtype {
        self.dtype
    }

    /// The shards completed so far (all their files under their final names), in order.
    pub fn completed(&self) -> &[ShardRecord] {
        &self.completed
    }

    /// The path prefix of shard `index`: the prefix itself when the set is one shard, else
    /// the prefix plus `_` and the number in at least six digits.
    pub fn shard_prefix(&self, index: u64) -> PathBuf {
        if self.options.shard_tokens == 0 {
            return self.options.prefix.clone();
        }
        let mut p = OsString::from(self.options.prefix.as_os_str());
        p.push(format!("_{index:06}"));
        PathBuf::from(p)
    }

    /// Encodes `texts` with [`Tokenizer::encode_ordinary`] (special-token text is
    /// ordinary text) on `threads` threads of the shared pools (0: the default), then
    /// appends them in order, each as BOS + ids + EOS. The bytes written do not depend on
    /// `threads` or on how documents are split between calls.
    ///
    /// # Errors
    /// With nothing written and the set still usable: [`ErrorKind::InvalidArg`] if `tok`'s
    /// vocab size is not the set's, or a document would pass a format limit (an llmc
    /// shard above 2³¹ − 1 tokens: the message names `--shard-tokens`; a Megatron
    /// document above 2³¹ − 1 tokens); a document's encoding error, prefixed with its
    /// index (`texts[i]: `); [`ErrorKind::InvalidArg`] after [`ShardSet::finish`].
    /// [`ErrorKind::Io`] if writing fails: the open shard's files are removed and every
    /// later call fails.
    pub fn push<S: AsRef<str> + Sync>(&mut self, tok: &Tokenizer, texts: &[S], threads: usize) -> Result<()> {
        self.check_open()?;
        if tok.vocab_size() != self.vocab_size {
            return Err(Error::invalid_arg(format!(
                "the tokenizer has vocab size {} but the shard writer was created for {}",
                tok.vocab_size(),
                self.vocab_size
            )));
        }
        let encode = |text: &str| -> Result<Vec<u32>> {
            let mut ids = Vec::with_capacity(text.len() / 3);
            tok.encode_into(text, Allowed::None, &mut ids)?;
            Ok(ids)
        };
        let results: Vec<Result<Vec<u32>>> = if texts.len() <= 1 {
            // (No parallelism to have: entering the pool would only cost a handoff.)
            texts.iter().map(|t| encode(t.as_ref())).collect()
        } else {
            use rayon::prelude::*;
            crate::pools::shared(threads)?.install(|| texts.par_iter().map(|t| encode(t.as_ref())).collect())
        };
        let mut docs = Vec::with_capacity(results.len());
        for (i, r) in results.into_iter().enumerate() {
            docs.push(r.map_err(|e| Error::new(e.kind(), format!("texts[{i}]: {}", e.message())))?);
        }
        let docs: Vec<&[u32]> = docs.iter().map(Vec::as_slice).collect();
        self.append(&docs)
    }

    /// Appends one document already encoded: BOS, `ids`, EOS. The same as
    /// [`ShardSet::push_encoded`] with offsets `[0, ids.len()]`.
    ///
    /// # Errors
    /// As [`ShardSet::push_encoded`].
    pub fn push_ids(&mut self, ids: &[u32]) -> Result<()> {
        self.push_encoded(ids, &[0, ids.len() as u64])
    }

    /// Appends documents already encoded, in order: document `i` is
    /// `ids[offsets[i]..offsets[i + 1]]`, written as BOS + ids + EOS. `offsets` has one
    /// entry more than there are documents (an empty `offsets` is no document either); it
    /// is non-decreasing and its last entry is at most `ids.len()` (ids outside
    /// `offsets[0]..offsets[n]` are not read). Given the documents a [`ShardSet::push`]
    /// would encode, it writes the same bytes; this is the call for ids encoded elsewhere
    /// (another process, a temporary shard).
    ///
    /// # Errors
    /// With nothing written and the set still usable: [`ErrorKind::InvalidArg`] for
    /// offsets that decrease or pass the end of `ids` (naming the entry), an id not below
    /// the vocab size (naming the document), a format limit as in [`ShardSet::push`],
    /// a shard number past `u64::MAX`, or after [`ShardSet::finish`]. [`ErrorKind::Io`] as
    /// in [`ShardSet::push`].
    pub fn push_encoded(&mut self, ids: &[u32], offsets: &[u64]) -> Result<()> {
        self.check_open()?;
        let mut docs = Vec::with_capacity(offsets.len().saturating_sub(1));
        for (i, w) in offsets.windows(2).enumerate() {
            if w[1] < w[0] {
                return Err(Error::invalid_arg(format!(
                    "offsets[{}] = {} is below offsets[{i}] = {}: offsets must not decrease",
                    i + 1,
                    w[1],
                    w[0]
                )));
            }
            if w[1] > ids.len() as u64 {
                return Err(Error::invalid_arg(format!(
                    "offsets[{}] = {} is past the end of the ids ({} of them)",
                    i + 1,
                    w[1],
                    ids.len()
                )));
            }
            // Both fit in usize: they are at most ids.len().
            let doc = &ids[w[0] as usize..w[1] as usize];
            if let Some(&id) = doc.iter().find(|&&id| id as usize >= self.vocab_size) {
                return Err(Error::invalid_arg(format!(
                    "token id {id} (document {i} of this batch) is not below the vocab size {}",
                    self.vocab_size
                )));
            }
            docs.push(doc);
        }
        if let [only] = offsets {
            if *only > ids.len() as u64 {
                return Err(Error::invalid_arg(format!(
                    "offsets[0] = {only} is past the end of the ids ({} of them)",
                    ids.len()
                )));
            }
        }
        self.append(&docs)
    }

    /// Completes the open shard, unless it is empty and another shard was completed (so
    /// a run that wrote no document still writes one empty shard, numbered
    /// `first_shard`). After it, [`ShardSet::push`], [`ShardSet::push_ids`] and `finish`
    /// fail.
    ///
    /// # Errors
    /// [`ErrorKind::Io`] if completing the shard fails (nothing of it is left);
    /// [`ErrorKind::InvalidArg`] if already finished.
    pub fn finish(&mut self) -> Result<()> {
        self.check_open()?;
        let Some(w) = self.current.take() else {
            return Err(Error::invalid_arg("the shard writer has no open shard"));
        };
        self.state = State::Finished;
        if w.documents() > 0 || self.completed.is_empty() {
            self.complete(w).map_err(|e| self.fail(e))?;
        }
        Ok(())
    }

    fn check_open(&self) -> Result<()> {
        match &self.state {
            State::Open => Ok(()),
            State::Failed(why) => Err(Error::new(
                ErrorKind::Io,
                format!("the shard writer failed earlier ({why}); nothing more can be written"),
            )),
            State::Finished => Err(Error::invalid_arg("the shard writer is finished")),
        }
    }

    /// Records a failed write: drops the open shard (removing its temporary files).
    fn fail(&mut self, e: Error) -> Error {
        self.current = None;
        self.state = State::Failed(e.message().to_string());
        e
    }

    fn open(&self, index: u64) -> Result<ShardWriter> {
        ShardWriter::create(self.options.format, &self.shard_prefix(index), self.vocab_size)
    }

    fn complete(&mut self, w: ShardWriter) -> Result<()> {
        let s = w.finish()?;
        self.completed.push(ShardRecord {
            index: self.current_index,
            tokens: s.tokens,
            documents: s.documents,
            paths: s.paths,
        });
        Ok(())
    }

    /// Completes the open shard and opens the next.
    fn rotate(&mut self) -> Result<()> {
        let w =
            self.current.take().ok_or_else(|| Error::invalid_arg("the shard writer has no open shard"))?;
        self.complete(w)?;
        self.current_index = self
            .current_index
            .checked_add(1)
            .ok_or_else(|| Error::invalid_arg("the shard number would pass the largest 64-bit number"))?;
        self.current = Some(self.open(self.current_index)?);
        Ok(())
    }

    /// The rotation's position: the open shard's number and counts.
    fn cursor(&self) -> ShardCursor {
        let (tokens, documents) = self.current.as_ref().map_or((0, 0), |w| (w.tokens(), w.documents()));
        ShardCursor { index: self.current_index, tokens, documents }
    }

    /// The tokens a document of `len` ids takes, BOS and EOS included.
    fn doc_tokens(&self, len: usize) -> u64 {
        len as u64 + u64::from(self.options.bos.is_some()) + u64::from(self.options.eos.is_some())
    }

    /// Checks the documents against the format's limits and the shard numbers, running
    /// the rotation rule on a copy of the cursor.
    fn check_limits(&self, docs: &[&[u32]]) -> Result<()> {
        let mut cursor = self.cursor();
        for (i, doc) in docs.iter().enumerate() {
            let t = self.doc_tokens(doc.len());
            if t > self.doc_limit {
                return Err(Error::invalid_arg(format!(
                    "document {i} of this batch has {t} tokens; a {} document holds at most {} \
                     (its sequence length is an int32)",
                    self.options.format.name(),
                    self.doc_limit
                )));
            }
            let before = cursor;
            let at = cursor.checked_place(self.options.shard_tokens, t).ok_or_else(shard_number_overflow)?;
            let tokens = if at == before.index { before.tokens } else { 0 };
            if tokens.saturating_add(t) > self.shard_limit {
                let fix = if self.options.shard_tokens == 0 {
                    format!(
                        "write numbered shards with shard_tokens (--shard-tokens N) of at most {}",
                        self.shard_limit
                    )
                } else {
                    "this one document is too long for the format".to_string()
                };
                return Err(Error::invalid_arg(format!(
                    "an {} shard holds at most {} tokens (its header's count is an int32), and document {i} \
                     of this batch would take it to {}: {fix}",
                    self.options.format.name(),
                    self.shard_limit,
                    tokens + t
                )));
            }
        }
        Ok(())
    }

    /// Writes `docs` in order, each as BOS + ids + EOS, rotating shards.
    fn append(&mut self, docs: &[&[u32]]) -> Result<()> {
        self.check_limits(docs)?;
        let mut scratch = Vec::new();
        for doc in docs {
            let doc = match (self.options.bos, self.options.eos) {
                (None, None) => doc,
                (bos, eos) => {
                    scratch.clear();
                    scratch.extend(bos);
                    scratch.extend_from_slice(doc);
                    scratch.extend(eos);
                    &scratch[..]
                }
            };
            self.append_one(doc).map_err(|e| self.fail(e))?;
        }
        Ok(())
    }

    /// Writes one document (BOS and EOS included) where the rotation rule puts it.
    fn append_one(&mut self, doc: &[u32]) -> Result<()> {
        let mut cursor = self.cursor();
        let at = cursor
            .checked_place(self.options.shard_tokens, doc.len() as u64)
            .ok_or_else(shard_number_overflow)?;
        if at != self.current_index {
            self.rotate()?;
        }
        let w =
            self.current.as_mut().ok_or_else(|| Error::invalid_arg("the shard writer has no open shard"))?;
        w.push_document(doc)?;
        if cursor.index != at {
            self.rotate()?;
        }
        Ok(())
    }

    #[cfg(test)]
    fn set_limits(&mut self, shard_limit: u64, doc_limit: u64) {
        (self.shard_limit, self.doc_limit) = (shard_limit, doc_limit);
    }
}

/// The directory a prefix writes into, checked to exist and be a directory.
fn output_dir(prefix: &Path) -> Result<PathBuf> {
    let text = prefix.as_os_str().to_string_lossy();
    if text.is_empty() || text.ends_with(['/', MAIN_SEPARATOR]) || prefix.file_name().is_none() {
        return Err(Error::invalid_arg(format!(
            "shard prefix {:?} does not end in a file name (the shards are PREFIX.bin, PREFIX_000000.bin, ...)",
            prefix.display().to_string()
        )));
    }
    let dir = match prefix.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    match fs::metadata(&dir) {
        Ok(m) if m.is_dir() => Ok(dir),
        Ok(_) => {
            Err(Error::new(ErrorKind::Io, format!("output directory {} is not a directory", dir.display())))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(Error::new(ErrorKind::Io, format!("output directory {} does not exist", dir.display())))
        }
        Err(e) => {
            Err(Error::new(ErrorKind::Io, format!("cannot use output directory {}: {e}", dir.display())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shards::read_shard;
    use crate::{Pattern, Trainer};
    use proptest::prelude::Just;

    fn temp_dir(test: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("bpekit-shardset-{test}-{}", std::process::id()));
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

    fn options(format: ShardFormat, prefix: PathBuf, shard_tokens: u64) -> ShardSetOptions {
        ShardSetOptions { shard_tokens, ..ShardSetOptions::new(format, prefix) }
    }

    /// Pushes documents of the given lengths (ids 1, 2, ...) one by one.
    fn push_lengths(set: &mut ShardSet, lengths: &[usize]) {
        for &n in lengths {
            let ids: Vec<u32> = (1..=n as u32).collect();
            set.push_ids(&ids).unwrap();
        }
    }

    fn shape(set: &ShardSet) -> Vec<(u64, u64, u64)> {
        set.completed().iter().map(|r| (r.index, r.tokens, r.documents)).collect()
    }

    #[test]
    fn rotation_boundaries() {
        let dir = temp_dir("rotation");
        let p = dir.join("s");
        // Exactly full shards complete at once; the next document opens the next one.
        let mut set = ShardSet::create(options(ShardFormat::Npy, p.clone(), 4), 100).unwrap();
        push_lengths(&mut set, &[2, 2, 4, 1]);
        assert_eq!(shape(&set), [(0, 4, 2), (1, 4, 1)]);
        set.finish().unwrap();
        assert_eq!(shape(&set), [(0, 4, 2), (1, 4, 1), (2, 1, 1)]);
        let back = read_shard(ShardFormat::Npy, &dir.join("s_000001")).unwrap();
        assert_eq!((back.ids, back.doc_offsets), (vec![1, 2, 3, 4], Some(vec![0, 4])));

        // A document that would overflow goes to the next shard; a document longer than
        // the shard alone fills one; an empty document counts as a document.
        let mut set = ShardSet::create(options(ShardFormat::Megatron, p.clone(), 4), 100).unwrap();
        push_lengths(&mut set, &[3, 2, 9, 0, 1, 3]);
        set.finish().unwrap();
        assert_eq!(shape(&set), [(0, 3, 1), (1, 2, 1), (2, 9, 1), (3, 4, 3)]);
        let back = read_shard(ShardFormat::Megatron, &dir.join("s_000003")).unwrap();
        assert_eq!(back.doc_offsets, Some(vec![0, 0, 1, 4]));

        // Ending right after a full shard writes no empty shard.
        let mut set = ShardSet::create(options(ShardFormat::Llmc, dir.join("l"), 3), 100).unwrap();
        push_lengths(&mut set, &[3]);
        set.finish().unwrap();
        assert_eq!(shape(&set), [(0, 3, 1)]);
        let names = listing(&dir);
        assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
        assert!(names.contains(&"l_000000.bin".to_string()) && !names.contains(&"l_000001.bin".to_string()));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_empty_corpus_writes_one_empty_shard() {
        let dir = temp_dir("empty");
        for (shard_tokens, first, name) in [(0, 0, "a.npy"), (10, 0, "b_000000.npy"), (10, 7, "c_000007.npy")]
        {
            let prefix = dir.join(&name[..1]);
            let o = ShardSetOptions { first_shard: first, ..options(ShardFormat::Npy, prefix, shard_tokens) };
            let mut set = ShardSet::create(o, 300).unwrap();
            set.push(&tokenizer(), &[] as &[&str], 0).unwrap();
            set.finish().unwrap();
            assert_eq!(shape(&set), [(first, 0, 0)]);
            assert_eq!(set.completed()[0].paths[0], dir.join(name));
            assert!(dir.join(name).exists());
        }
        assert_eq!(listing(&dir).len(), 6);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn shards_are_named_from_first_shard() {
        let dir = temp_dir("naming");
        let o = ShardSetOptions { first_shard: 999_999, ..options(ShardFormat::Megatron, dir.join("d"), 2) };
        let mut set = ShardSet::create(o, 100).unwrap();
        push_lengths(&mut set, &[2, 2]);
        set.finish().unwrap();
        assert_eq!(shape(&set), [(999_999, 2, 1), (1_000_000, 2, 1)]);
        assert_eq!(set.completed()[0].paths, [dir.join("d_999999.bin"), dir.join("d_999999.idx")]);
        assert_eq!(set.completed()[1].paths, [dir.join("d_1000000.bin"), dir.join("d_1000000.idx")]);
        assert_eq!(listing(&dir), ["d_1000000.bin", "d_1000000.idx", "d_999999.bin", "d_999999.idx"]);
        // One shard is always number 0 and named by the prefix alone.
        let o = ShardSetOptions { first_shard: 1, ..options(ShardFormat::Npy, dir.join("x"), 0) };
        assert_eq!(ShardSet::create(o, 100).unwrap_err().kind(), ErrorKind::InvalidArg);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bos_and_eos_surround_every_document() {
        let dir = temp_dir("bos-eos");
        let tok = tokenizer();
        let texts = ["hello world", "", "the shards <|endoftext|> again"];
        for (bos, eos) in [(None, None), (Some(7), None), (None, Some(9)), (Some(7), Some(9))] {
            let p = dir.join("s");
            let o = ShardSetOptions { bos, eos, ..options(ShardFormat::Npy, p.clone(), 0) };
            let mut set = ShardSet::create(o, tok.vocab_size()).unwrap();
            set.push(&tok, &texts, 2).unwrap();
            set.finish().unwrap();
            let mut want = Vec::new();
            let mut offsets = vec![0u64];
            for t in texts {
                want.extend(bos);
                want.extend(tok.encode_ordinary(t).unwrap());
                want.extend(eos);
                offsets.push(want.len() as u64);
            }
            let back = read_shard(ShardFormat::Npy, &p).unwrap();
            assert_eq!((back.ids, back.doc_offsets), (want, Some(offsets)), "{bos:?} {eos:?}");
        }
        for (bos, eos) in [(Some(300), None), (None, Some(1000))] {
            let o = ShardSetOptions { bos, eos, ..options(ShardFormat::Npy, dir.join("t"), 0) };
            let e = ShardSet::create(o, 300).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArg);
            assert!(e.message().contains("vocab size 300"), "{e}");
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    /// A tokenizer trained on a little text, vocab 300.
    fn tokenizer() -> Tokenizer {
        let mut trainer = Trainer::new(Pattern::default_pattern());
        trainer.feed(&corpus(200).join(" ")).unwrap();
        trainer.finish(300).unwrap()
    }

    /// `n` pseudo-random documents of a few syllables, of varied lengths.
    fn corpus(n: usize) -> Vec<String> {
        let syl = ["ka", "to", " ri", "mu", " sen", "lo", "pa ", "qui", ", ", "東京", "\n"];
        let mut x: u32 = 12345;
        (0..n)
            .map(|i| {
                let mut s = String::new();
                for _ in 0..(i * 7) % 40 {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    s.push_str(syl[(x >> 16) as usize % syl.len()]);
                }
                s
            })
            .collect()
    }

    /// Every file under `dir`, name and bytes.
    fn contents(dir: &Path) -> Vec<(String, Vec<u8>)> {
        listing(dir).into_iter().map(|n| (n.clone(), fs::read(dir.join(&n)).unwrap())).collect()
    }

    #[test]
    fn the_bytes_do_not_depend_on_batches_or_threads() {
        let tok = tokenizer();
        let docs = corpus(300);
        let texts: Vec<&str> = docs.iter().map(String::as_str).collect();
        for format in ShardFormat::ALL {
            let mut reference = None;
            for (threads, batch) in
                [(1, texts.len()), (2, texts.len()), (4, texts.len()), (1, 1), (2, 7), (4, 64)]
            {
                let dir = temp_dir(&format!("determinism-{}-{threads}-{batch}", format.name()));
                let o = ShardSetOptions { bos: Some(1), eos: Some(2), ..options(format, dir.join("s"), 500) };
                let mut set = ShardSet::create(o, tok.vocab_size()).unwrap();
                for chunk in texts.chunks(batch) {
                    set.push(&tok, chunk, threads).unwrap();
                }
                set.finish().unwrap();
                assert!(set.completed().len() > 3, "{format:?}: {:?}", shape(&set));
                let got = (contents(&dir), shape(&set));
                match &reference {
                    None => reference = Some(got),
                    Some(r) => assert!(*r == got, "{format:?}: {threads} threads, batches of {batch}"),
                }
                fs::remove_dir_all(&dir).unwrap();
            }
        }
    }

    #[test]
    fn the_documents_read_back_in_order() {
        let dir = temp_dir("read-back");
        let tok = tokenizer();
        let docs = corpus(100);
        let o = ShardSetOptions { eos: Some(0), ..options(ShardFormat::Megatron, dir.join("m"), 200) };
        let mut set = ShardSet::create(o, tok.vocab_size()).unwrap();
        set.push(&tok, &docs, 0).unwrap();
        set.finish().unwrap();
        let mut all = Vec::new();
        for r in set.completed() {
            assert!(r.tokens <= 200 || r.documents == 1, "{r:?}");
            let back = read_shard(ShardFormat::Megatron, &set.shard_prefix(r.index)).unwrap();
            let offsets = back.doc_offsets.unwrap();
            for w in offsets.windows(2) {
                all.push(back.ids[w[0] as usize..w[1] as usize].to_vec());
            }
        }
        let want: Vec<Vec<u32>> =
            docs.iter().map(|d| [tok.encode_ordinary(d).unwrap(), vec![0]].concat()).collect();
        assert_eq!(all, want);
        fs::remove_dir_all(&dir).unwrap();
    }

    /// Writes documents of the given lengths (ids 1, 2, ...) with `push_ids` into a fresh
    /// npy set in `dir` and returns its records.
    fn records_of(dir: &Path, o: ShardSetOptions, lengths: &[usize]) -> Vec<(u64, u64, u64)> {
        let _ = fs::remove_dir_all(dir);
        fs::create_dir_all(dir).unwrap();
        let mut set = ShardSet::create(o, 1000).unwrap();
        push_lengths(&mut set, lengths);
        set.finish().unwrap();
        shape(&set)
    }

    /// The records a plan predicts: per shard number, in order, its tokens and documents
    /// (one empty shard, numbered `first`, when there is no document).
    fn records_planned(first: u64, shard_of: &[u64], doc_tokens: &[u64]) -> Vec<(u64, u64, u64)> {
        let mut out: Vec<(u64, u64, u64)> = Vec::new();
        for (&k, &t) in shard_of.iter().zip(doc_tokens) {
            match out.last_mut() {
                Some(last) if last.0 == k => (last.1, last.2) = (last.1 + t, last.2 + 1),
                _ => out.push((k, t, 1)),
            }
        }
        if out.is_empty() {
            out.push((first, 0, 0));
        }
        out
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

        /// The plan run on document lengths alone predicts exactly the shards a set
        /// writes, and splitting the plan anywhere (the cursor carried) changes nothing.
        #[test]
        fn the_plan_predicts_the_shards(
            lengths in proptest::collection::vec(
                proptest::prop_oneof![4 => 0usize..6, 2 => 0usize..40, 1 => 40usize..200], 0..40),
            shard_tokens in proptest::prop_oneof![Just(0u64), Just(1u64), 1u64..8, 8u64..64, Just(1000u64)],
            first in proptest::prop_oneof![Just(0u64), 0u64..1_000_000],
            bos in proptest::option::of(Just(98u32)),
            eos in proptest::option::of(Just(99u32)),
            split in proptest::collection::vec(0usize..40, 0..4),
        ) {
            let first = if shard_tokens == 0 { 0 } else { first };
            let extra = u64::from(bos.is_some()) + u64::from(eos.is_some());
            let doc_tokens: Vec<u64> = lengths.iter().map(|&n| n as u64 + extra).collect();

            let mut cursor = ShardCursor { index: first, ..ShardCursor::default() };
            let mut whole = vec![0; doc_tokens.len()];
            cursor.plan(shard_tokens, &doc_tokens, &mut whole).unwrap();

            let mut pieces = ShardCursor { index: first, ..ShardCursor::default() };
            let mut cuts: Vec<usize> = split.iter().map(|&c| c.min(doc_tokens.len())).collect();
            cuts.push(0);
            cuts.push(doc_tokens.len());
            cuts.sort();
            let mut split_plan = vec![0; doc_tokens.len()];
            for w in cuts.windows(2) {
                pieces.plan(shard_tokens, &doc_tokens[w[0]..w[1]], &mut split_plan[w[0]..w[1]]).unwrap();
            }
            proptest::prop_assert_eq!(&split_plan, &whole);
            proptest::prop_assert_eq!(pieces, cursor);

            let dir = temp_dir("plan-property");
            let o = ShardSetOptions { first_shard: first, bos, eos, ..options(ShardFormat::Npy, dir.join("s"), shard_tokens) };
            let written = records_of(&dir, o, &lengths);
            fs::remove_dir_all(&dir).unwrap();
            proptest::prop_assert_eq!(written, records_planned(first, &whole, &doc_tokens));
        }
    }

    #[test]
    fn the_cursor_rule_at_its_edges() {
        let mut c = ShardCursor::default();
        // Shard tokens 0: one shard, whatever the lengths.
        assert_eq!([5, 0, u64::MAX].map(|t| c.place(0, t)), [0, 0, 0]);
        assert_eq!(c, ShardCursor { index: 0, tokens: u64::MAX, documents: 3 });
        // Empty documents join the open shard; one reaching the limit closes it; an empty
        // document opens the next shard, and a document that would overflow it closes it.
        let mut c = ShardCursor::default();
        assert_eq!([0, 0, 1, 0, 2, 3].map(|t| c.place(1, t)), [0, 0, 0, 1, 2, 3]);
        assert_eq!(c, ShardCursor { index: 4, tokens: 0, documents: 0 });
        // Shard numbers end at u64::MAX: checked_place refuses, place saturates.
        let top = ShardCursor { index: u64::MAX, tokens: 1, documents: 1 };
        let mut c = top;
        assert_eq!(c.checked_place(3, 1), Some(u64::MAX));
        assert_eq!(c.checked_place(3, 1), None);
        assert_eq!(c, ShardCursor { index: u64::MAX, tokens: 2, documents: 2 });
        assert_eq!(c.place(3, 1), u64::MAX);
        assert_eq!(c.place(3, 1), u64::MAX);
        let mut c = top;
        let mut out = [7; 3];
        let e = c.plan(3, &[1, 1, 1], &mut out).unwrap_err();
        assert!(e.kind() == ErrorKind::InvalidArg && e.message().contains("64-bit"), "{e}");
        assert_eq!((c, out), (top, [7; 3]));
        let e = c.plan(3, &[1, 1], &mut out).unwrap_err();
        assert!(e.kind() == ErrorKind::InvalidArg && e.message().contains("2 document lengths"), "{e}");
        assert_eq!(c.plan(3, &[], &mut []).map(|()| c), Ok(top));
    }

    #[test]
    fn push_encoded_writes_what_push_writes() {
        let tok = tokenizer();
        let docs = corpus(150);
        let texts: Vec<&str> = docs.iter().map(String::as_str).collect();
        let encoded: Vec<Vec<u32>> = texts.iter().map(|t| tok.encode_ordinary(t).unwrap()).collect();
        for format in ShardFormat::ALL {
            for (bos, eos, shard_tokens) in [(None, None, 0), (Some(1), Some(2), 300), (None, Some(0), 97)] {
                let o =
                    |dir: &Path| ShardSetOptions { bos, eos, ..options(format, dir.join("s"), shard_tokens) };
                let a = temp_dir(&format!("encoded-a-{}", format.name()));
                let mut set = ShardSet::create(o(&a), tok.vocab_size()).unwrap();
                set.push(&tok, &texts, 2).unwrap();
                set.finish().unwrap();
                let want = (contents(&a), shape(&set));

                // The same documents as one flat array pushed in uneven pieces, with
                // offsets that do not start at 0 and ids past the last offset.
                let b = temp_dir(&format!("encoded-b-{}", format.name()));
                let mut ids = vec![299, 299];
                let mut offsets = vec![2u64];
                for e in &encoded {
                    ids.extend_from_slice(e);
                    offsets.push(ids.len() as u64);
                }
                ids.push(299);
                let mut set = ShardSet::create(o(&b), tok.vocab_size()).unwrap();
                let mut at = 0;
                for step in [0, 1, 7, 50, 0, 200] {
                    let end = (at + step).min(encoded.len());
                    set.push_encoded(&ids, &offsets[at..=end]).unwrap();
                    at = end;
                }
                assert_eq!(at, encoded.len());
                set.push_encoded(&[], &[]).unwrap();
                set.finish().unwrap();
                assert!(
                    (contents(&b), shape(&set)) == want,
                    "{format:?} bos {bos:?} eos {eos:?} shard_tokens {shard_tokens}"
                );
                fs::remove_dir_all(&a).unwrap();
                fs::remove_dir_all(&b).unwrap();
            }
        }
    }

    #[test]
    fn refused_push_encoded_leaves_the_set_unchanged() {
        let dir = temp_dir("encoded-refused");
        let o = ShardSetOptions { eos: Some(9), ..options(ShardFormat::Megatron, dir.join("s"), 6) };
        let mut set = ShardSet::create(o, 100).unwrap();
        set.push_encoded(&[1, 2, 3, 4], &[0, 2, 4]).unwrap();
        let before = (contents(&dir), shape(&set), set.cursor());
        let ids = [1, 2, 3, 100, 5];
        for (offsets, words) in [
            (&[0, 3, 2][..], ["offsets[2] = 2", "offsets[1] = 3", "decrease"]),
            (&[0, 3, 6][..], ["offsets[2] = 6", "past the end", "5 of them"]),
            (&[6][..], ["offsets[0] = 6", "past the end", "5 of them"]),
            // The first document is fine; the second has id 100: neither is written.
            (&[0, 3, 5][..], ["token id 100", "document 1", "vocab size 100"]),
        ] {
            let e = set.push_encoded(&ids, offsets).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArg, "{offsets:?}: {e}");
            for w in words {
                assert!(e.message().contains(w), "{offsets:?}: {e}");
            }
            assert!((contents(&dir), shape(&set), set.cursor()) == before, "{offsets:?}");
        }
        // A format limit (Megatron's sequence length, lowered to 4 for the test).
        set.set_limits(u64::MAX, 3);
        let e = set.push_encoded(&[1, 2, 3, 4], &[0, 1, 4]).unwrap_err();
        assert!(e.message().contains("document 1 of this batch has 4 tokens"), "{e}");
        assert!((contents(&dir), shape(&set), set.cursor()) == before);
        set.set_limits(u64::MAX, INT32_MAX);
        set.push_encoded(&ids, &[0, 3, 3]).unwrap();
        set.finish().unwrap();
        assert_eq!(shape(&set), [(0, 6, 2), (1, 5, 2)]);
        let back = read_shard(ShardFormat::Megatron, &dir.join("s_000001")).unwrap();
        assert_eq!((back.ids, back.doc_offsets), (vec![1, 2, 3, 9, 9], Some(vec![0, 4, 5])));
        assert_eq!(set.push_encoded(&[], &[]).unwrap_err().kind(), ErrorKind::InvalidArg);

        // The last shard number: a document that would close it is refused up front.
        let o = ShardSetOptions { first_shard: u64::MAX, ..options(ShardFormat::Npy, dir.join("t"), 3) };
        let mut set = ShardSet::create(o, 100).unwrap();
        set.push_ids(&[1]).unwrap();
        let before = (contents(&dir), set.cursor());
        let e = set.push_encoded(&[1, 2, 3], &[0, 1, 3]).unwrap_err();
        assert!(e.kind() == ErrorKind::InvalidArg && e.message().contains("64-bit"), "{e}");
        assert!((contents(&dir), set.cursor()) == before);
        set.push_ids(&[]).unwrap();
        set.finish().unwrap();
        assert_eq!(shape(&set), [(u64::MAX, 1, 2)]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn creation_checks_come_before_any_file() {
        let dir = temp_dir("create-checks");
        let e = ShardSet::create(options(ShardFormat::Nanogpt, dir.join("s"), 0), 100_277).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArg);
        for part in ["nanogpt", "100277", "65536"] {
            assert!(e.message().contains(part), "{e}");
        }
        let e = ShardSet::create(options(ShardFormat::Llmc, dir.join("s"), 1 << 31), 100).unwrap_err();
        assert!(e.kind() == ErrorKind::InvalidArg && e.message().contains("2147483647"), "{e}");
        ShardSet::create(options(ShardFormat::Npy, dir.join("s"), 1 << 31), 100).unwrap();
        for bad in [PathBuf::new(), dir.join("sub/"), PathBuf::from("/")] {
            let e = ShardSet::create(options(ShardFormat::Llmc, bad.clone(), 0), 100).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArg, "{bad:?}: {e}");
        }
        let missing = dir.join("no/such");
        let e = ShardSet::create(options(ShardFormat::Llmc, missing.join("s"), 0), 100).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Io);
        assert!(
            e.message().contains(&missing.display().to_string()) && e.message().contains("does not exist"),
            "{e}"
        );
        fs::write(dir.join("file"), b"").unwrap();
        let e = ShardSet::create(options(ShardFormat::Llmc, dir.join("file/s"), 0), 100).unwrap_err();
        assert!(e.kind() == ErrorKind::Io && e.message().contains("not a directory"), "{e}");
        let ro = unwritable_dir(&dir);
        let e = ShardSet::create(options(ShardFormat::Npy, ro.join("s"), 0), 100).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Io);
        assert!(e.message().contains(&format!("output directory {}", ro.display())), "{e}");
        assert_eq!(listing(&dir), ["file", "ro"]);
        fs::remove_dir_all(&dir).unwrap();
    }

    /// A directory this process cannot create files in: `dir/ro` made read-only, or, if
    /// that does not stop this process (root), `/sys`.
    fn unwritable_dir(dir: &Path) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let ro = dir.join("ro");
        fs::create_dir_all(&ro).unwrap();
        fs::set_permissions(&ro, fs::Permissions::from_mode(0o500)).unwrap();
        if fs::write(ro.join("probe"), b"").is_err() {
            return ro;
        }
        fs::remove_file(ro.join("probe")).unwrap();
        let sys = PathBuf::from("/sys");
        assert!(fs::write(sys.join("bpekit-probe"), b"").is_err(), "no unwritable directory to test with");
        sys
    }

    #[test]
    fn limits_are_checked_before_writing() {
        let dir = temp_dir("limits");
        // The llmc limit (2^31 - 1 tokens) lowered to 10 for the test.
        let mut set = ShardSet::create(options(ShardFormat::Llmc, dir.join("l"), 0), 300).unwrap();
        set.set_limits(10, u64::MAX);
        push_lengths(&mut set, &[4]);
        let before = contents(&dir);
        let e = set.push_ids(&[1; 7]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArg);
        assert!(e.message().contains("--shard-tokens") && e.message().contains("to 11"), "{e}");
        // A batch refused as a whole: its first documents were not written either.
        let tok = tokenizer();
        let long = "ka to ri mu sen ".repeat(10);
        let e = set.push(&tok, &["a", long.as_str()], 1).unwrap_err();
        assert!(e.message().contains("document 1 of this batch"), "{e}");
        assert_eq!(contents(&dir), before);
        push_lengths(&mut set, &[6]);
        set.finish().unwrap();
        assert_eq!(shape(&set), [(0, 10, 2)]);
        // Sharded, only a single document can pass it.
        let mut set = ShardSet::create(options(ShardFormat::Llmc, dir.join("m"), 5), 100).unwrap();
        set.set_limits(10, u64::MAX);
        push_lengths(&mut set, &[5, 10, 3]);
        let e = set.push_ids(&[1; 11]).unwrap_err();
        assert!(e.message().contains("too long"), "{e}");
        set.finish().unwrap();
        assert_eq!(shape(&set), [(0, 5, 1), (1, 10, 1), (2, 3, 1)]);
        // Megatron's sequence length.
        let mut set = ShardSet::create(options(ShardFormat::Megatron, dir.join("g"), 0), 100).unwrap();
        set.set_limits(u64::MAX, 3);
        let e = set.push_ids(&[1; 4]).unwrap_err();
        assert!(e.message().contains("int32"), "{e}");
        push_lengths(&mut set, &[3]);
        set.finish().unwrap();
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn refused_calls_leave_the_set_usable() {
        let dir = temp_dir("refused");
        let tok = tokenizer();
        let mut set =
            ShardSet::create(options(ShardFormat::Npy, dir.join("s"), 0), tok.vocab_size()).unwrap();
        let e = set.push_ids(&[300]).unwrap_err();
        assert!(e.kind() == ErrorKind::InvalidArg && e.message().contains("300"), "{e}");
        let other = {
            let mut t = Trainer::new(Pattern::default_pattern());
            t.feed("abc abc abc").unwrap();
            t.finish(260).unwrap()
        };
        let e = set.push(&other, &["x"], 1).unwrap_err();
        assert!(e.kind() == ErrorKind::InvalidArg && e.message().contains("created for 300"), "{e}");
        set.push(&tok, &["ka to"], 1).unwrap();
        set.finish().unwrap();
        assert_eq!(shape(&set), [(0, tok.encode_ordinary("ka to").unwrap().len() as u64, 1)]);
        // Finished: only the records remain.
        assert_eq!(set.push_ids(&[1]).unwrap_err().kind(), ErrorKind::InvalidArg);
        assert_eq!(set.finish().unwrap_err().kind(), ErrorKind::InvalidArg);
        assert_eq!(set.completed().len(), 1);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn failures_leave_no_file_under_a_final_name() {
        let dir = temp_dir("failures");
        // Dropped without finish: the open shard's temporary files go; completed shards stay.
        for format in ShardFormat::ALL {
            let sub = dir.join(format.name());
            fs::create_dir_all(&sub).unwrap();
            let mut set = ShardSet::create(options(format, sub.join("s"), 3), 100).unwrap();
            push_lengths(&mut set, &[3, 1]);
            assert!(listing(&sub).iter().any(|n| n.starts_with(".s_000001")));
            let done: Vec<PathBuf> = set.completed()[0].paths.clone();
            drop(set);
            let mut names: Vec<String> =
                done.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
            names.sort();
            assert_eq!(listing(&sub), names, "{format:?}");
            // A set dropped before any document leaves nothing at all.
            drop(ShardSet::create(options(format, sub.join("t"), 0), 100).unwrap());
            assert_eq!(listing(&sub), names, "{format:?}");
        }
        // An I/O error while writing (the next shard's final name is taken by a non-empty
        // directory, so completing it fails): the set is failed and leaves only the
        // shards completed before.
        let sub = dir.join("io");
        fs::create_dir_all(sub.join("s_000001.bin/x")).unwrap();
        let mut set = ShardSet::create(options(ShardFormat::Llmc, sub.join("s"), 2), 100).unwrap();
        push_lengths(&mut set, &[2, 1]);
        let e = set.push_ids(&[1]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Io, "{e}");
        assert!(e.message().contains("s_000001.bin"), "{e}");
        let e = set.push_ids(&[1]).unwrap_err();
        assert!(e.kind() == ErrorKind::Io && e.message().contains("failed earlier"), "{e}");
        assert_eq!(set.finish().unwrap_err().kind(), ErrorKind::Io);
        assert_eq!(shape(&set), [(0, 2, 1)]);
        assert_eq!(listing(&sub), ["s_000000.bin", "s_000001.bin"]);
        assert!(sub.join("s_000001.bin").is_dir());
        drop(set);
        assert_eq!(listing(&sub), ["s_000000.bin", "s_000001.bin"]);
        fs::remove_dir_all(&dir).unwrap();
    }
}
