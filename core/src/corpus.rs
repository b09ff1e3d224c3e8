//! Splitting raw corpus bytes into documents.
//!
//! A corpus reader (the Python package, the command line, a C host) reads files in large
//! chunks cut at record boundaries and hands each chunk to [`split`]; Arrow string arrays
//! (a Parquet column) go to [`from_arrow`] without copying their strings. Both return
//! [`Docs`]: byte ranges of the input (or of bytes the split made, when it had to unescape
//! or replace), ready for the batch calls of the tokenizer, the trainer and the shard
//! writer. No string is allocated per document.
//!
//! Rules shared by every layout:
//! * UTF-8: [`Utf8Errors::Strict`] fails naming the source, the absolute byte offset and
//!   the line; [`Utf8Errors::Replace`] turns each maximal invalid subpart into U+FFFD, as
//!   Python's `bytes.decode("utf-8", "replace")` (and Rust's `from_utf8_lossy`) do;
//!   [`Utf8Errors::Skip`] drops the document and counts it in [`Docs::skipped`].
//! * `doc_cap` keeps at most that many characters (Unicode scalar values, as Python's
//!   `len(str)`) of each document.
//! * `max_chars` is nanochat's budget: documents are taken in order, adding each one's
//!   characters (after the cap) to a running total; the document that makes the total
//!   exceed the budget is still taken, then the split stops ([`Docs::stopped`]).
//!
//! # Design notes
//! * Lines and separators are found with `memchr`/`memmem` (SIMD); each document is
//!   validated once with `std::str::from_utf8`, and its characters are counted by
//!   counting the bytes that are not UTF-8 continuation bytes (a loop the compiler
//!   vectorizes). Splitting therefore costs a few passes of memory bandwidth, far below
//!   the cost of encoding the same bytes.
//! * Spans index the caller's buffer as long as no document needs bytes of its own. The
//!   first one that does (a replacement under `Replace`) switches the result to an owned
//!   buffer, copying the documents taken so far once; JSON Lines always uses the owned
//!   buffer, since most strings are copied out of their escapes anyway.
//! * JSON Lines are read by a small hand parser that validates each line completely (so
//!   "not JSON" is reported as Python's `json.loads` would) but decodes only the string at
//!   the key path; other values are skipped without building anything. Duplicate keys
//!   resolve to the last one, as in Python's `json`. A `\uD800`-style lone surrogate
//!   escape has no UTF-8 form: it is treated as invalid UTF-8 (replaced by U+FFFD under
//!   `Replace`, as tiktoken's surrogate fix-up does). Under `Strict` invalid UTF-8 anywhere
//!   in a line is an error; `Replace` and `Skip` look only at the document's string.

use std::ops::Range;

use memchr::{memchr2, memchr_iter, memmem};

use crate::error::{Error, ErrorKind, Result};

/// How a buffer is cut into documents (see [`split`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout<'a> {
    /// The whole buffer is one document (even when empty).
    Whole,
    /// Every line is a document: `"\n"` ends a line and a `"\r"` before it is dropped; a
    /// final line without `"\n"` is a document unless it is empty. Empty lines before the
    /// end are (empty) documents.
    Lines,
    /// Documents are the pieces between occurrences of this (non-empty) separator, found
    /// left to right without overlap; empty pieces are not documents.
    Separator(&'a [u8]),
    /// One JSON object per line; the document is the string at this (non-empty) dotted
    /// key path (`"a.b"` is key `b` of the object at key `a`). Lines that are empty or only
    /// JSON whitespace are skipped.
    Jsonl(&'a [u8]),
}

/// What to do with invalid UTF-8 in a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Utf8Errors {
    /// Fail with [`ErrorKind::InvalidUtf8`] naming the source, byte offset and line.
    #[default]
    Strict,
    /// Replace each maximal invalid subpart with U+FFFD (Python's `errors="replace"`).
    Replace,
    /// Drop the document and count it in [`Docs::skipped`].
    Skip,
}

/// Options of [`split`] and [`from_arrow`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitOptions<'a> {
    /// The layout ([`from_arrow`] ignores it: each string is a document).
    pub layout: Layout<'a>,
    /// The UTF-8 policy.
    pub errors: Utf8Errors,
    /// Characters kept per document, cut at a character boundary; `None`: no cap.
    pub doc_cap: Option<u64>,
    /// The character budget of this call (see the module docs); `None`: no budget.
    pub max_chars: Option<u64>,
    /// A name for error messages (a file name); may be empty.
    pub source: &'a str,
    /// Byte offset of the input's first byte in the source, for messages.
    pub base_offset: u64,
    /// 1-based line number of the input's first line, for messages (0 is taken as 1).
    pub base_line: u64,
}

impl<'a> SplitOptions<'a> {
    /// Options with `layout`, strict UTF-8, no cap, no budget, no source name.
    pub fn new(layout: Layout<'a>) -> Self {
        SplitOptions {
            layout,
            errors: Utf8Errors::Strict,
            doc_cap: None,
            max_chars: None,
            source: "",
            base_offset: 0,
            base_line: 1,
        }
    }

    fn source_name(&self) -> &str {
        if self.source.is_empty() {
            "<input>"
        } else {
            self.source
        }
    }
}

/// The documents a split made.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Docs {
    /// The documents in order, as byte ranges of [`Docs::data`] when it is `Some`, else
    /// of the input. Every range is valid UTF-8.
    pub spans: Vec<Range<usize>>,
    /// Bytes made by the split (JSON strings unescaped, replacement characters), when
    /// the documents could not all be borrowed from the input.
    pub data: Option<Vec<u8>>,
    /// Characters in the documents, after `doc_cap`.
    pub chars: u64,
    /// Documents dropped: invalid UTF-8 under [`Utf8Errors::Skip`], Arrow nulls.
    pub skipped: u64,
    /// Input consumed: the whole input unless [`Docs::stopped`]; then up to the end of
    /// the last document taken, with its terminator. [`split`] counts bytes,
    /// [`from_arrow`] counts elements (nulls included).
    pub consumed: u64,
    /// The budget stopped the split.
    pub stopped: bool,
}

impl Docs {
    /// The documents as strings; `input` is the buffer given to the split.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArg`] if `input` is not the split's input (a span is out of
    /// range or not UTF-8).
    pub fn texts<'a>(&'a self, input: &'a [u8]) -> Result<Vec<&'a str>> {
        let base = self.data.as_deref().unwrap_or(input);
        self.spans
            .iter()
            .map(|r| {
                base.get(r.clone()).and_then(|b| crate::simd::str_from_utf8(b).ok()).ok_or_else(|| {
                    Error::invalid_arg("the input is not the one these documents were split from")
                })
            })
            .collect()
    }
}

/// Splits `data` into documents as `opts.layout` says, applying the UTF-8 policy,
/// `doc_cap` and `max_chars`.
///
/// Prefer this over splitting in the host language: it makes no string per document.
/// For Arrow string arrays use [`from_arrow`].
///
/// # Errors
/// * [`ErrorKind::InvalidArg`]: an empty separator or key.
/// * [`ErrorKind::InvalidUtf8`] (under [`Utf8Errors::Strict`]): the message names the
///   source, the byte offset (`base_offset` + offset) and the line (`base_line` + lines
///   before it).
/// * [`ErrorKind::BadFormat`] (JSON Lines): a line that is not JSON, not an object, lacks
///   the key, or whose value at the key is not a string; the message names the source,
///   the line and the key.
///
/// # Example
/// ```
/// use bpekit::{split_docs, Layout, SplitOptions};
/// let data = b"one\r\ntwo\n\nthree";
/// let docs = split_docs(data, &SplitOptions::new(Layout::Lines)).unwrap();
/// assert_eq!(docs.texts(data).unwrap(), ["one", "two", "", "three"]);
/// assert_eq!(docs.chars, 11);
/// ```
pub fn split(data: &[u8], opts: &SplitOptions<'_>) -> Result<Docs> {
    let mut b = Builder::new(data, opts);
    match opts.layout {
        Layout::Whole => {
            b.offer(0..data.len(), data.len() as u64, Loc::Bytes)?;
        }
        Layout::Lines => split_lines(&mut b)?,
        Layout::Separator(sep) => {
            if sep.is_empty() {
                return Err(Error::invalid_arg("the separator is empty"));
            }
            split_separator(&mut b, sep)?;
        }
        Layout::Jsonl(key) => {
            if key.is_empty() {
                return Err(Error::invalid_arg("the JSON key is empty"));
            }
            if key.split(|&c| c == b'.').any(|s| s.is_empty()) {
                return Err(Error::invalid_arg(format!(
                    "the JSON key {:?} has an empty part",
                    String::from_utf8_lossy(key)
                )));
            }
            split_jsonl(&mut b, key)?;
        }
    }
    Ok(b.finish(data.len() as u64))
}

/// The offsets of an Arrow string array: `utf8` has 32-bit offsets, `large_utf8` 64-bit.
#[derive(Debug, Clone, Copy)]
pub enum ArrowOffsets<'a> {
    /// `utf8` (Arrow's `int32` offsets).
    I32(&'a [i32]),
    /// `large_utf8` (Arrow's `int64` offsets).
    I64(&'a [i64]),
}

impl ArrowOffsets<'_> {
    fn len(&self) -> usize {
        match self {
            ArrowOffsets::I32(o) => o.len(),
            ArrowOffsets::I64(o) => o.len(),
        }
    }

    fn get(&self, i: usize) -> i64 {
        match self {
            ArrowOffsets::I32(o) => i64::from(o[i]),
            ArrowOffsets::I64(o) => o[i],
        }
    }
}

/// Takes the `n` strings of an Arrow string array as documents, without copying them.
///
/// `first` is the array's offset: element `i` is `data[offsets[first + i] ..
/// offsets[first + i + 1]]`, and `offsets` must hold at least `first + n + 1` entries.
/// `validity` is Arrow's validity bitmap (bit `first + i`, least significant bit first)
/// or `None` when there are no nulls; nulls are skipped and counted in
/// [`Docs::skipped`]. The UTF-8 policy, `doc_cap` and `max_chars` apply as in [`split`];
/// `opts.layout` is ignored. [`Docs::consumed`] counts elements.
///
/// # Errors
/// * [`ErrorKind::InvalidArg`]: too few offsets or validity bytes; an offset that is
///   negative, smaller than the one before it, or past `data.len()` (named by element
///   index `first + i`).
/// * [`ErrorKind::InvalidUtf8`] (strict): the message names the element and the source.
pub fn from_arrow(
    data: &[u8],
    offsets: ArrowOffsets<'_>,
    first: usize,
    n: usize,
    validity: Option<&[u8]>,
    opts: &SplitOptions<'_>,
) -> Result<Docs> {
    let end = first
        .checked_add(n)
        .filter(|&e| e < usize::MAX)
        .ok_or_else(|| Error::invalid_arg("first + n overflows"))?;
    if offsets.len() < end + 1 {
        return Err(Error::invalid_arg(format!(
            "{}: {} offsets given, {} needed (first {first} + n {n} + 1)",
            opts.source_name(),
            offsets.len(),
            end + 1
        )));
    }
    if let Some(v) = validity {
        let need = end.div_ceil(8);
        if v.len() < need {
            return Err(Error::invalid_arg(format!(
                "{}: validity bitmap of {} bytes, {need} needed",
                opts.source_name(),
                v.len()
            )));
        }
    }
    let mut b = Builder::new(data, opts);
    let mut prev = offsets.get(first);
    check_offset(prev, first, data.len(), opts)?;
    for idx in first..end {
        let next = offsets.get(idx + 1);
        check_offset(next, idx, data.len(), opts)?;
        if next < prev {
            return Err(Error::invalid_arg(format!(
                "{}: element {idx}: offsets {prev}..{next} decrease",
                opts.source_name()
            )));
        }
        let range = prev as usize..next as usize;
        prev = next;
        let valid = validity.is_none_or(|v| v[idx / 8] >> (idx % 8) & 1 == 1);
        if !valid {
            b.docs.skipped += 1;
            continue;
        }
        if b.offer(range, (idx + 1 - first) as u64, Loc::Element(idx))? {
            break;
        }
    }
    Ok(b.finish(n as u64))
}

fn check_offset(off: i64, idx: usize, len: usize, opts: &SplitOptions<'_>) -> Result<()> {
    if off < 0 || off as u64 > len as u64 {
        return Err(Error::invalid_arg(format!(
            "{}: element {idx}: offset {off} is outside the data ({len} bytes)",
            opts.source_name()
        )));
    }
    Ok(())
}

// ---- The document builder: UTF-8 policy, cap, budget, borrowed or owned bytes ----

/// Where a document came from, for error messages.
#[derive(Clone, Copy)]
enum Loc {
    /// A byte range of the input (messages give the absolute offset and line).
    Bytes,
    /// Element `i` of an Arrow array.
    Element(usize),
}

struct Builder<'i, 'o> {
    input: &'i [u8],
    opts: &'o SplitOptions<'o>,
    docs: Docs,
    /// The owned buffer, once documents need bytes of their own.
    owned: Option<Vec<u8>>,
}

impl<'i, 'o> Builder<'i, 'o> {
    fn new(input: &'i [u8], opts: &'o SplitOptions<'o>) -> Self {
        Builder { input, opts, docs: Docs::default(), owned: None }
    }

    fn finish(mut self, whole: u64) -> Docs {
        if !self.docs.stopped {
            self.docs.consumed = whole;
        }
        self.docs.data = self.owned;
        self.docs
    }

    /// Offers `input[range]` as a document; `done` is the consumed count if the budget
    /// stops the split here. Returns whether it stopped.
    fn offer(&mut self, range: Range<usize>, done: u64, loc: Loc) -> Result<bool> {
        let bytes = &self.input[range.clone()];
        match crate::simd::str_from_utf8(bytes) {
            Ok(text) => Ok(self.take(text, Some(range.start), done)),
            Err(e) => match self.opts.errors {
                Utf8Errors::Strict => Err(self.utf8_error(range.start, e.valid_up_to(), loc)),
                Utf8Errors::Skip => {
                    self.docs.skipped += 1;
                    Ok(false)
                }
                Utf8Errors::Replace => {
                    let text = String::from_utf8_lossy(bytes);
                    Ok(self.take(&text, None, done))
                }
            },
        }
    }

    fn utf8_error(&self, start: usize, valid: usize, loc: Loc) -> Error {
        let src = self.opts.source_name();
        let message = match loc {
            Loc::Bytes => {
                let at = start + valid;
                let line = line_at(self.opts, self.input, at);
                let off = self.opts.base_offset.saturating_add(at as u64);
                format!("{src}: invalid UTF-8 at byte offset {off} (line {line})")
            }
            Loc::Element(i) => format!("{src}: element {i}: invalid UTF-8 at byte {valid} of the string"),
        };
        Error::new(ErrorKind::InvalidUtf8, message)
    }

    /// Takes a valid document: borrowed from the input at `borrowed_at` when that is
    /// `Some`, else copied. Applies the cap and the budget; returns whether it stopped.
    fn take(&mut self, text: &str, borrowed_at: Option<usize>, done: u64) -> bool {
        let mut chars = count_chars(text.as_bytes());
        let mut text = text;
        if let Some(cap) = self.opts.doc_cap {
            if chars > cap {
                // `cap < chars <= text.len()`, so it fits in usize and the nth char exists.
                let cut = text.char_indices().nth(cap as usize).map_or(text.len(), |(i, _)| i);
                text = &text[..cut];
                chars = cap;
            }
        }
        match borrowed_at {
            Some(at) if self.owned.is_none() => self.docs.spans.push(at..at + text.len()),
            _ => {
                let buf = self.make_owned();
                let start = buf.len();
                buf.extend_from_slice(text.as_bytes());
                let end = buf.len();
                self.docs.spans.push(start..end);
            }
        }
        self.docs.chars = self.docs.chars.saturating_add(chars);
        if self.opts.max_chars.is_some_and(|max| self.docs.chars > max) {
            self.docs.stopped = true;
            self.docs.consumed = done;
            return true;
        }
        false
    }

    /// Switches to the owned buffer, copying the documents taken so far.
    fn make_owned(&mut self) -> &mut Vec<u8> {
        self.owned.get_or_insert_with(|| {
            let total: usize = self.docs.spans.iter().map(|r| r.len()).sum();
            let mut buf = Vec::with_capacity(total + 64);
            for r in &mut self.docs.spans {
                let start = buf.len();
                buf.extend_from_slice(&self.input[r.clone()]);
                *r = start..buf.len();
            }
            buf
        })
    }
}

/// Characters (Unicode scalar values) in valid UTF-8: the bytes that do not continue a
/// character.
fn count_chars(b: &[u8]) -> u64 {
    b.iter().filter(|&&c| (c as i8) >= -0x40).count() as u64
}

/// The line of byte `at` of the input, for messages.
fn line_at(opts: &SplitOptions<'_>, input: &[u8], at: usize) -> u64 {
    let at = at.min(input.len());
    opts.base_line.max(1).saturating_add(memchr_iter(b'\n', &input[..at]).count() as u64)
}

// ---- Lines and separators ----

fn split_lines(b: &mut Builder<'_, '_>) -> Result<()> {
    let input = b.input;
    let mut start = 0;
    for nl in memchr_iter(b'\n', input) {
        let end = if nl > start && input[nl - 1] == b'\r' { nl - 1 } else { nl };
        if b.offer(start..end, (nl + 1) as u64, Loc::Bytes)? {
            return Ok(());
        }
        start = nl + 1;
    }
    if start < input.len() {
        b.offer(start..input.len(), input.len() as u64, Loc::Bytes)?;
    }
    Ok(())
}

fn split_separator(b: &mut Builder<'_, '_>, sep: &[u8]) -> Result<()> {
    let input = b.input;
    let mut start = 0;
    for at in memmem::find_iter(input, sep) {
        let next = at + sep.len();
        if at > start && b.offer(start..at, next as u64, Loc::Bytes)? {
            return Ok(());
        }
        start = next;
    }
    if start < input.len() {
        b.offer(start..input.len(), input.len() as u64, Loc::Bytes)?;
    }
    Ok(())
}

// ---- JSON Lines ----

fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn split_jsonl(b: &mut Builder<'_, '_>, key: &[u8]) -> Result<()> {
    let input = b.input;
    b.make_owned();
    let mut scratch = Vec::new();
    let mut start = 0;
    let ends =
        memchr_iter(b'\n', input).map(|nl| (nl, nl + 1)).chain(std::iter::once((input.len(), input.len())));
    for (line, (end, next)) in ends.enumerate() {
        if start >= input.len() && end == input.len() {
            break;
        }
        let text = &input[start..end];
        if !text.iter().all(|&c| is_ws(c)) {
            let line_no = b.opts.base_line.max(1).saturating_add(line as u64);
            let ctx = LineCtx { opts: b.opts, key, line: line_no, offset: start };
            if b.opts.errors == Utf8Errors::Strict {
                // Strict: invalid UTF-8 anywhere in the line fails, as decoding the file
                // before parsing it would (the other policies look only at the document).
                if let Err(e) = crate::simd::str_from_utf8(text) {
                    let off = b.opts.base_offset.saturating_add((start + e.valid_up_to()) as u64);
                    return Err(
                        ctx.error(ErrorKind::InvalidUtf8, format!("invalid UTF-8 at byte offset {off}"))
                    );
                }
            }
            scratch.clear();
            let outcome = extract(text, &ctx, &mut scratch)?;
            match outcome {
                Extracted::Ok => {
                    // Valid: the line (strict) or each run (the other policies) was checked.
                    let s = crate::simd::str_from_utf8(&scratch)
                        .map_err(|_| ctx.error(ErrorKind::InvalidUtf8, "invalid UTF-8"))?;
                    if b.take(s, None, next as u64) {
                        return Ok(());
                    }
                }
                Extracted::Invalid => b.docs.skipped += 1,
            }
        }
        start = next;
    }
    Ok(())
}

/// One JSON line's context, for messages.
struct LineCtx<'a> {
    opts: &'a SplitOptions<'a>,
    key: &'a [u8],
    line: u64,
    /// Offset of the line's first byte in the input.
    offset: usize,
}

impl LineCtx<'_> {
    fn error(&self, kind: ErrorKind, what: impl std::fmt::Display) -> Error {
        Error::new(kind, format!("{}:{}: {what}", self.opts.source_name(), self.line))
    }

    fn key(&self) -> String {
        String::from_utf8_lossy(self.key).into_owned()
    }

    fn not_json(&self, e: Syntax) -> Error {
        self.error(ErrorKind::BadFormat, format!("not JSON: {} at column {}", e.what, e.at + 1))
    }
}

enum Extracted {
    /// The document is in the scratch buffer.
    Ok,
    /// The string held invalid UTF-8 and the policy is Skip.
    Invalid,
}

/// A JSON syntax error: what was wrong, at which byte of the line.
struct Syntax {
    what: &'static str,
    at: usize,
}

fn kind_name(c: u8) -> &'static str {
    match c {
        b'"' => "a string",
        b'{' => "an object",
        b'[' => "an array",
        b't' | b'f' => "a boolean",
        b'n' => "null",
        _ => "a number",
    }
}

/// Finds the string at the key path in one line and decodes it into `out`.
fn extract(line: &[u8], ctx: &LineCtx<'_>, out: &mut Vec<u8>) -> Result<Extracted> {
    let mut p = Parser { s: line, pos: 0 };
    p.ws();
    if p.peek() != Some(b'{') {
        let first = p.peek().unwrap_or(b' ');
        return Err(match p.value(0).and_then(|()| p.end()) {
            Ok(()) => ctx.error(ErrorKind::BadFormat, format!("not a JSON object ({})", kind_name(first))),
            Err(e) => ctx.not_json(e),
        });
    }
    let mut at = p.pos;
    let segments: Vec<&[u8]> = ctx.key.split(|&c| c == b'.').collect();
    for (k, seg) in segments.iter().enumerate() {
        p.pos = at;
        let found = p.find_in_object(seg, 0).map_err(|e| ctx.not_json(e))?;
        if k == 0 {
            p.end().map_err(|e| ctx.not_json(e))?;
        }
        let Some(v) = found else {
            let within = if k == 0 {
                String::new()
            } else {
                format!(
                    " (no {:?} in {:?})",
                    String::from_utf8_lossy(seg),
                    String::from_utf8_lossy(&segments[..k].join(&b'.'))
                )
            };
            return Err(ctx.error(ErrorKind::BadFormat, format!("key {:?} missing{within}", ctx.key())));
        };
        let c = line[v];
        if k + 1 == segments.len() {
            if c != b'"' {
                return Err(ctx.error(
                    ErrorKind::BadFormat,
                    format!("key {:?} is {}, not a string", ctx.key(), kind_name(c)),
                ));
            }
            return decode_string(line, v, ctx, out);
        }
        if c != b'{' {
            return Err(ctx.error(
                ErrorKind::BadFormat,
                format!(
                    "key {:?}: {:?} is {}, not an object",
                    ctx.key(),
                    String::from_utf8_lossy(&segments[..=k].join(&b'.')),
                    kind_name(c)
                ),
            ));
        }
        at = v;
    }
    // The key has at least one segment (checked by `split`).
    Err(ctx.error(ErrorKind::BadFormat, format!("key {:?} missing", ctx.key())))
}

/// Nesting deeper than this is refused (the parser recurses once per level).
const MAX_DEPTH: usize = 128;

/// A validating JSON scanner over one line. It builds nothing: values are skipped, and
/// only positions come out.
struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn ws(&mut self) {
        while self.peek().is_some_and(is_ws) {
            self.pos += 1;
        }
    }

    fn fail<T>(&self, what: &'static str) -> std::result::Result<T, Syntax> {
        Err(Syntax { what, at: self.pos })
    }

    fn expect(&mut self, c: u8, what: &'static str) -> std::result::Result<(), Syntax> {
        self.ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            self.fail(what)
        }
    }

    /// Only whitespace is left.
    fn end(&mut self) -> std::result::Result<(), Syntax> {
        self.ws();
        if self.pos < self.s.len() {
            return self.fail("extra data after the value");
        }
        Ok(())
    }

    /// Skips one value (after whitespace).
    fn value(&mut self, depth: usize) -> std::result::Result<(), Syntax> {
        if depth > MAX_DEPTH {
            return self.fail("nested too deeply");
        }
        self.ws();
        match self.peek() {
            Some(b'"') => self.string().map(|_| ()),
            Some(b'{') => self.find_in_object(b"", depth).map(|_| ()),
            Some(b'[') => {
                self.pos += 1;
                self.ws();
                if self.peek() == Some(b']') {
                    self.pos += 1;
                    return Ok(());
                }
                loop {
                    self.value(depth + 1)?;
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b']') => {
                            self.pos += 1;
                            return Ok(());
                        }
                        _ => return self.fail("expected ',' or ']'"),
                    }
                }
            }
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            None => self.fail("unexpected end of line"),
            _ => self.fail("expected a value"),
        }
    }

    fn literal(&mut self, word: &[u8]) -> std::result::Result<(), Syntax> {
        if self.s[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(())
        } else {
            self.fail("expected a value")
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> std::result::Result<(), Syntax> {
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return self.fail("bad number"),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return self.fail("bad number");
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return self.fail("bad number");
            }
        }
        Ok(())
    }

    /// Skips a string at `pos` (a `"`); returns its content range and whether it has
    /// escapes. Escapes are checked for form (`\uXXXX` hex digits), not decoded.
    fn string(&mut self) -> std::result::Result<(Range<usize>, bool), Syntax> {
        self.pos += 1;
        let start = self.pos;
        let mut escaped = false;
        loop {
            let rest = &self.s[self.pos..];
            let Some(i) = memchr2(b'"', b'\\', rest) else {
                self.pos = self.s.len();
                return self.fail("unterminated string");
            };
            if let Some(j) = rest[..i].iter().position(|&c| c < 0x20) {
                self.pos += j;
                return self.fail("control character in a string");
            }
            self.pos += i;
            if self.s[self.pos] == b'"' {
                self.pos += 1;
                return Ok((start..self.pos - 1, escaped));
            }
            escaped = true;
            match self.s.get(self.pos + 1) {
                Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => self.pos += 2,
                Some(b'u') => {
                    let hex = self.s.get(self.pos + 2..self.pos + 6);
                    if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                        return self.fail("bad \\u escape");
                    }
                    self.pos += 6;
                }
                _ => return self.fail("bad escape"),
            }
        }
    }

    /// Skips an object at `pos` (a `{`), returning the position of the value of the last
    /// member named `name` (none when `name` is empty: then it only skips).
    fn find_in_object(&mut self, name: &[u8], depth: usize) -> std::result::Result<Option<usize>, Syntax> {
        if depth > MAX_DEPTH {
            return self.fail("nested too deeply");
        }
        self.pos += 1;
        let mut found = None;
        self.ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(None);
        }
        let mut key_buf = Vec::new();
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return self.fail("expected a string key");
            }
            let (k, escaped) = self.string()?;
            self.expect(b':', "expected ':'")?;
            self.ws();
            let v = self.pos;
            if !name.is_empty() {
                let matches = if escaped {
                    key_buf.clear();
                    unescape_lossy(&self.s[k], &mut key_buf);
                    key_buf == name
                } else {
                    &self.s[k] == name
                };
                if matches {
                    found = Some(v);
                }
            }
            self.value(depth + 1)?;
            self.ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(found);
                }
                _ => return self.fail("expected ',' or '}'"),
            }
        }
    }
}

fn hex4(h: &[u8]) -> u32 {
    h.iter().fold(0, |acc, &c| acc * 16 + (c as char).to_digit(16).unwrap_or(0))
}

/// One decoded escape: a character, or a lone surrogate (no UTF-8 form).
enum Escape {
    Char(char),
    Lone(u32),
}

/// Decodes the escape at `s[i]` (a `\`, already checked for form by the parser);
/// returns it and the escape's length in bytes.
fn escape_at(s: &[u8], i: usize) -> (Escape, usize) {
    let c = match s.get(i + 1) {
        Some(b'b') => '\u{8}',
        Some(b'f') => '\u{c}',
        Some(b'n') => '\n',
        Some(b'r') => '\r',
        Some(b't') => '\t',
        Some(b'u') => {
            let hi = s.get(i + 2..i + 6).map_or(0, hex4);
            if (0xD800..0xDC00).contains(&hi) {
                // A high surrogate: a pair only if a low one follows at once.
                if s.get(i + 6) == Some(&b'\\') && s.get(i + 7) == Some(&b'u') {
                    if let Some(lo) =
                        s.get(i + 8..i + 12).filter(|h| h.iter().all(u8::is_ascii_hexdigit)).map(hex4)
                    {
                        if (0xDC00..0xE000).contains(&lo) {
                            let cp = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                            return (char::from_u32(cp).map_or(Escape::Lone(hi), Escape::Char), 12);
                        }
                    }
                }
                return (Escape::Lone(hi), 6);
            }
            return (char::from_u32(hi).map_or(Escape::Lone(hi), Escape::Char), 6);
        }
        Some(&c) => c as char,
        None => '\\',
    };
    (Escape::Char(c), 2)
}

/// Unescapes a key for comparison (lone surrogates become U+FFFD; raw bytes are kept).
fn unescape_lossy(s: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'\\' {
            let (e, n) = escape_at(s, i);
            let c = match e {
                Escape::Char(c) => c,
                Escape::Lone(_) => '\u{FFFD}',
            };
            out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
            i += n;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
}

/// Appends a raw run of a string under `Replace` or `Skip`; false: the document is
/// dropped (`Skip` met invalid UTF-8).
fn decode_run(run: &[u8], errors: Utf8Errors, out: &mut Vec<u8>) -> bool {
    match crate::simd::str_from_utf8(run) {
        Ok(s) => out.extend_from_slice(s.as_bytes()),
        Err(_) if errors == Utf8Errors::Skip => return false,
        Err(_) => out.extend_from_slice(String::from_utf8_lossy(run).as_bytes()),
    }
    true
}

/// Decodes the (validated) string at `line[at]` into `out`, applying the UTF-8 policy to
/// its raw runs and lone surrogates.
fn decode_string(line: &[u8], at: usize, ctx: &LineCtx<'_>, out: &mut Vec<u8>) -> Result<Extracted> {
    let mut i = at + 1;
    loop {
        // The parser validated the string, so a closing quote exists.
        let run_end = memchr2(b'"', b'\\', &line[i..]).map_or(line.len(), |j| i + j);
        let run = &line[i..run_end];
        if ctx.opts.errors == Utf8Errors::Strict {
            // The whole line was validated; the document is checked once more as a whole
            // when it is taken.
            out.extend_from_slice(run);
        } else if !decode_run(run, ctx.opts.errors, out) {
            return Ok(Extracted::Invalid);
        }
        if run_end >= line.len() || line[run_end] == b'"' {
            return Ok(Extracted::Ok);
        }
        let (e, n) = escape_at(line, run_end);
        match e {
            Escape::Char(c) => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
            Escape::Lone(u) => match ctx.opts.errors {
                Utf8Errors::Strict => {
                    let off = ctx.opts.base_offset.saturating_add((ctx.offset + run_end) as u64);
                    return Err(ctx.error(
                        ErrorKind::InvalidUtf8,
                        format!(
                            "key {:?}: \\u{u:04x} at byte offset {off} is a lone surrogate, which has no UTF-8 form",
                            ctx.key()
                        ),
                    ));
                }
                Utf8Errors::Skip => return Ok(Extracted::Invalid),
                Utf8Errors::Replace => out.extend_from_slice("\u{FFFD}".as_bytes()),
            },
        }
        i = run_end + n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn opts(layout: Layout<'_>) -> SplitOptions<'_> {
        SplitOptions { source: "src.txt", ..SplitOptions::new(layout) }
    }

    fn texts(data: &[u8], o: &SplitOptions<'_>) -> Vec<String> {
        let d = split(data, o).unwrap();
        d.texts(data).unwrap().into_iter().map(String::from).collect()
    }

    fn err(data: &[u8], o: &SplitOptions<'_>) -> Error {
        split(data, o).unwrap_err()
    }

    // ==== Layouts ====

    #[test]
    fn whole_is_one_document_even_empty() {
        assert_eq!(texts(b"a\nb", &opts(Layout::Whole)), ["a\nb"]);
        assert_eq!(texts(b"", &opts(Layout::Whole)), [""]);
        let d = split(b"a\nb", &opts(Layout::Whole)).unwrap();
        assert_eq!((d.chars, d.consumed, d.stopped, d.data.is_none()), (3, 3, false, true));
    }

    #[test]
    fn lines_drop_cr_before_lf_and_keep_inner_empty_lines() {
        let o = opts(Layout::Lines);
        assert_eq!(texts(b"a\r\nb\n\nc", &o), ["a", "b", "", "c"]);
        assert_eq!(texts(b"a\nb\n", &o), ["a", "b"]);
        assert_eq!(texts(b"\n", &o), [""]);
        assert_eq!(texts(b"", &o), Vec::<String>::new());
        // Only a "\r" right before "\n" is dropped.
        assert_eq!(texts(b"a\rb\r\r\nc\r", &o), ["a\rb\r", "c\r"]);
        let d = split(b"a\nb\n", &o).unwrap();
        assert_eq!((d.consumed, d.data.is_none()), (4, true));
        assert_eq!(d.spans, [0..1, 2..3]);
    }

    #[test]
    fn separator_drops_empty_pieces() {
        let o = opts(Layout::Separator(b"\n\n"));
        assert_eq!(texts(b"\n\na\n\n\n\nb\nc\n\n", &o), ["a", "b\nc"]);
        assert_eq!(texts(b"\n\n\n", &o), ["\n"]);
        assert_eq!(texts(b"", &o), Vec::<String>::new());
        let o = opts(Layout::Separator("§".as_bytes()));
        assert_eq!(texts("x§§y§".as_bytes(), &o), ["x", "y"]);
        assert_eq!(err(b"x", &opts(Layout::Separator(b""))).kind(), ErrorKind::InvalidArg);
    }

    // ==== Caps and budgets ====

    #[test]
    fn doc_cap_counts_scalar_values() {
        let o = SplitOptions { doc_cap: Some(2), ..opts(Layout::Lines) };
        let data = "héllo\n日本語\n😀😀😀\nab\na".as_bytes();
        let d = split(data, &o).unwrap();
        assert_eq!(d.texts(data).unwrap(), ["hé", "日本", "😀😀", "ab", "a"]);
        assert_eq!(d.chars, 9);
        assert!(d.data.is_none(), "a cap only shortens borrowed spans");
        let o = SplitOptions { doc_cap: Some(0), ..opts(Layout::Lines) };
        assert_eq!(texts(b"abc\nd", &o), ["", ""]);
    }

    #[test]
    fn max_chars_follows_nanochats_loop() {
        // nanochat: nchars += len(doc); yield doc; if nchars > max_chars: return
        let data = b"aaa\nbb\ncccc\nd\n";
        let naive = |max: u64| {
            let mut n = 0;
            let mut out = vec![];
            for doc in ["aaa", "bb", "cccc", "d"] {
                n += doc.len() as u64;
                out.push(doc.to_string());
                if n > max {
                    return (out, true);
                }
            }
            (out, false)
        };
        for max in 0..12 {
            let o = SplitOptions { max_chars: Some(max), ..opts(Layout::Lines) };
            let d = split(data, &o).unwrap();
            let got: Vec<String> = d.texts(data).unwrap().into_iter().map(String::from).collect();
            let (want, stopped) = naive(max);
            assert_eq!((got, d.stopped), (want.clone(), stopped), "max_chars {max}");
            let want_consumed: usize =
                if stopped { want.iter().map(|s| s.len() + 1).sum() } else { data.len() };
            assert_eq!(d.consumed, want_consumed as u64, "max_chars {max}");
        }
        // The cap applies before the budget.
        let o = SplitOptions { max_chars: Some(4), doc_cap: Some(2), ..opts(Layout::Lines) };
        let d = split(data, &o).unwrap();
        assert_eq!(d.texts(data).unwrap(), ["aa", "bb", "cc"]);
        assert_eq!((d.chars, d.stopped, d.consumed), (6, true, 12));
        // Consumed includes the separator after the last document taken.
        let o = SplitOptions { max_chars: Some(0), ..opts(Layout::Separator(b"--")) };
        let d = split(b"--ab--cd", &o).unwrap();
        assert_eq!(d.spans, [Range { start: 2, end: 4 }]);
        assert_eq!((d.consumed, d.stopped), (6, true));
    }

    // ==== UTF-8 ====

    #[test]
    fn strict_utf8_error_names_source_offset_and_line() {
        let o = SplitOptions { base_offset: 1000, base_line: 7, ..opts(Layout::Lines) };
        let e = err(b"ok\nfine\nbad \xff here\n", &o);
        assert_eq!(e.kind(), ErrorKind::InvalidUtf8);
        assert_eq!(e.message(), "src.txt: invalid UTF-8 at byte offset 1012 (line 9)");
        let e = err(b"\xc3", &SplitOptions::new(Layout::Whole));
        assert_eq!(e.message(), "<input>: invalid UTF-8 at byte offset 0 (line 1)");
    }

    #[test]
    fn skip_drops_and_counts() {
        let o = SplitOptions { errors: Utf8Errors::Skip, ..opts(Layout::Lines) };
        let data = b"a\nb\xff\nc\n\xc3";
        let d = split(data, &o).unwrap();
        assert_eq!(d.texts(data).unwrap(), ["a", "c"]);
        assert_eq!((d.skipped, d.chars), (2, 2));
    }

    #[test]
    fn replace_matches_python() {
        let fixture = include_str!("../../tests/fixtures/utf8_replace.txt");
        let hex = |s: &str| -> Vec<u8> {
            (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
        };
        let o = SplitOptions { errors: Utf8Errors::Replace, ..opts(Layout::Whole) };
        let mut n = 0;
        for line in fixture.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
            let (input, want) = line.split_once(' ').unwrap();
            let (input, want) = (hex(input), hex(want));
            let d = split(&input, &o).unwrap();
            assert_eq!(d.texts(&input).unwrap(), [std::str::from_utf8(&want).unwrap()], "{line}");
            n += 1;
        }
        assert!(n >= 10);
    }

    #[test]
    fn replace_switches_to_owned_bytes_keeping_earlier_documents() {
        let o = SplitOptions { errors: Utf8Errors::Replace, doc_cap: Some(3), ..opts(Layout::Lines) };
        let data = b"abcd\nx\xffy\xffz\nlast";
        let d = split(data, &o).unwrap();
        assert!(d.data.is_some());
        assert_eq!(d.texts(data).unwrap(), ["abc", "x\u{FFFD}y", "las"]);
        assert_eq!(d.chars, 9);
    }

    // ==== JSON Lines ====

    fn jsonl(key: &str) -> SplitOptions<'_> {
        opts(Layout::Jsonl(key.as_bytes()))
    }

    #[test]
    fn jsonl_extracts_the_key_and_skips_blank_lines() {
        let data = br#"{"id": 1, "text": "hello", "meta": {"x": [1, 2.5e3, -0, true, null, {"a": "b"}]}}
   
{"text":"second"}
	{ "text" : "" , "other": "z" }
"#;
        let o = jsonl("text");
        let d = split(data, &o).unwrap();
        assert_eq!(d.texts(data).unwrap(), ["hello", "second", ""]);
        assert_eq!((d.chars, d.consumed), (11, data.len() as u64));
        assert!(d.data.is_some());
        assert_eq!(texts(b"{\"text\":\"crlf\"}\r\n{\"text\":\"x\"}", &o), ["crlf", "x"]);
    }

    #[test]
    fn jsonl_nested_keys_escapes_and_surrogate_pairs() {
        let data = br#"{"a": {"b": {"c": "A\"\\\/\b\f\n\r\t\u00e9\u65e5\ud83d\ude00"}}, "a.b": 1}"#;
        assert_eq!(texts(data, &jsonl("a.b.c")), ["A\"\\/\u{8}\u{c}\n\r\té日😀"]);
        // Duplicate keys: the last wins, as in Python's json.
        assert_eq!(texts(br#"{"t": "first", "t": "second"}"#, &jsonl("t")), ["second"]);
        // Keys are compared unescaped.
        assert_eq!(texts(br#"{"t\u0065xt": "yes"}"#, &jsonl("text")), ["yes"]);
        // Raw non-ASCII text is kept.
        assert_eq!(texts("{\"text\": \"日本 😀\"}".as_bytes(), &jsonl("text")), ["日本 😀"]);
    }

    #[test]
    fn jsonl_errors_name_source_line_and_key() {
        let o = SplitOptions { base_line: 10, ..jsonl("a.b") };
        let cases: &[(&[u8], &str)] = &[
            (
                b"{\"a\": {\"b\": \"ok\"}}\n\n{\"a\": {\"b\": ",
                "src.txt:12: not JSON: unexpected end of line at column 13",
            ),
            (b"[1, 2]", "src.txt:10: not a JSON object (an array)"),
            (b"\"str\"", "src.txt:10: not a JSON object (a string)"),
            (b"{\"a\": {}}", "src.txt:10: key \"a.b\" missing (no \"b\" in \"a\")"),
            (b"{\"x\": 1}", "src.txt:10: key \"a.b\" missing"),
            (b"{\"a\": {\"b\": 3}}", "src.txt:10: key \"a.b\" is a number, not a string"),
            (b"{\"a\": {\"b\": null}}", "src.txt:10: key \"a.b\" is null, not a string"),
            (b"{\"a\": [1]}", "src.txt:10: key \"a.b\": \"a\" is an array, not an object"),
            (b"{\"a\": {\"b\": \"x\"}} x", "src.txt:10: not JSON: extra data after the value at column 19"),
            (b"{\"a\": \"x\ty\"}", "src.txt:10: not JSON: control character in a string at column 9"),
            (b"{\"a\": 01}", "src.txt:10: not JSON: expected ',' or '}' at column 8"),
            (b"{\"a\": \"\\x\"}", "src.txt:10: not JSON: bad escape at column 8"),
            (b"{\"a\": \"\\u12\"}", "src.txt:10: not JSON: bad \\u escape at column 8"),
            (b"{a: 1}", "src.txt:10: not JSON: expected a string key at column 2"),
            (b"nope", "src.txt:10: not JSON: expected a value at column 1"),
        ];
        for (data, want) in cases {
            let e = err(data, &o);
            assert_eq!(
                (e.kind(), e.message()),
                (ErrorKind::BadFormat, *want),
                "{}",
                String::from_utf8_lossy(data)
            );
        }
        let deep = format!("{{\"a\": {}{}}}", "[".repeat(1000), "]".repeat(1000));
        let e = err(deep.as_bytes(), &o);
        assert!(e.message().contains("nested too deeply"), "{}", e.message());
        assert_eq!(err(b"{}", &jsonl("")).kind(), ErrorKind::InvalidArg);
        assert_eq!(err(b"{}", &jsonl("a..b")).kind(), ErrorKind::InvalidArg);
    }

    #[test]
    fn jsonl_utf8_policies() {
        let data = b"{\"t\": \"ok\"}\n{\"t\": \"a\xffb\\n\xc3\"}\n{\"t\": \"\\ud800x\"}\n";
        let o = SplitOptions { base_offset: 100, ..jsonl("t") };
        let e = err(data, &o);
        assert_eq!(e.kind(), ErrorKind::InvalidUtf8);
        assert_eq!(e.message(), "src.txt:2: invalid UTF-8 at byte offset 120");
        // Strict looks at the whole line; the other policies only at the document.
        let other = b"{\"x\": \"\xff\", \"t\": \"fine\"}";
        assert_eq!(err(other, &jsonl("t")).message(), "src.txt:1: invalid UTF-8 at byte offset 7");
        let o = SplitOptions { errors: Utf8Errors::Skip, ..jsonl("t") };
        assert_eq!(texts(other, &o), ["fine"]);
        let o = SplitOptions { errors: Utf8Errors::Replace, ..jsonl("t") };
        assert_eq!(texts(data, &o), ["ok", "a\u{FFFD}b\n\u{FFFD}", "\u{FFFD}x"]);
        let o = SplitOptions { errors: Utf8Errors::Skip, ..jsonl("t") };
        let d = split(data, &o).unwrap();
        assert_eq!((d.texts(data).unwrap(), d.skipped), (vec!["ok"], 2));
        let e = err(b"{\"t\": \"\\udc00\"}", &jsonl("t"));
        assert_eq!(e.kind(), ErrorKind::InvalidUtf8);
        assert!(e.message().contains("lone surrogate"), "{}", e.message());
    }

    #[test]
    fn jsonl_budget_and_cap() {
        let data = b"{\"t\": \"abc\"}\n{\"t\": \"de\"}\n{\"t\": \"f\"}\n";
        let o = SplitOptions { max_chars: Some(3), doc_cap: Some(2), ..jsonl("t") };
        let d = split(data, &o).unwrap();
        assert_eq!(d.texts(data).unwrap(), ["ab", "de"]);
        assert_eq!((d.stopped, d.consumed), (true, 25));
    }

    // ==== Arrow ====

    /// An Arrow array of `strs` (None = null) with `pad` leading elements.
    fn arrow(strs: &[Option<&[u8]>], pad: usize) -> (Vec<u8>, Vec<i64>, Vec<u8>) {
        let mut data = Vec::new();
        let mut offs = vec![0i64];
        let mut valid = vec![0u8; (pad + strs.len()).div_ceil(8)];
        for i in 0..pad {
            data.extend_from_slice(b"pad");
            offs.push(data.len() as i64);
            valid[i / 8] |= 1 << (i % 8);
        }
        for (j, s) in strs.iter().enumerate() {
            if let Some(s) = s {
                data.extend_from_slice(s);
                valid[(pad + j) / 8] |= 1 << ((pad + j) % 8);
            }
            offs.push(data.len() as i64);
        }
        (data, offs, valid)
    }

    #[test]
    fn arrow_with_offset_nulls_and_both_widths() {
        let strs: Vec<Option<&[u8]>> =
            vec![Some(b"one"), None, Some("tw\u{f6}".as_bytes()), Some(b""), Some(b"four")];
        let (data, offs, valid) = arrow(&strs, 9);
        let o = opts(Layout::Lines);
        let d = from_arrow(&data, ArrowOffsets::I64(&offs), 9, 5, Some(&valid), &o).unwrap();
        assert_eq!(d.texts(&data).unwrap(), ["one", "tw\u{f6}", "", "four"]);
        assert_eq!((d.skipped, d.chars, d.consumed, d.data.is_none()), (1, 10, 5, true));
        let offs32: Vec<i32> = offs.iter().map(|&o| o as i32).collect();
        let d32 = from_arrow(&data, ArrowOffsets::I32(&offs32), 9, 5, Some(&valid), &o).unwrap();
        assert_eq!(d32, d);
        let all = from_arrow(&data, ArrowOffsets::I32(&offs32), 9, 5, None, &o).unwrap();
        assert_eq!(all.texts(&data).unwrap(), ["one", "", "tw\u{f6}", "", "four"]);
        let stop = SplitOptions { max_chars: Some(3), ..o };
        let d = from_arrow(&data, ArrowOffsets::I64(&offs), 9, 5, Some(&valid), &stop).unwrap();
        assert_eq!((d.spans.len(), d.consumed, d.stopped), (2, 3, true));
    }

    #[test]
    fn arrow_errors_name_the_element() {
        let o = opts(Layout::Whole);
        let data = b"abc\xffdef";
        let e = from_arrow(data, ArrowOffsets::I32(&[0, 3, 2]), 0, 2, None, &o).unwrap_err();
        assert_eq!(
            (e.kind(), e.message()),
            (ErrorKind::InvalidArg, "src.txt: element 1: offsets 3..2 decrease")
        );
        let e = from_arrow(data, ArrowOffsets::I64(&[0, 3, 1 << 40]), 0, 2, None, &o).unwrap_err();
        assert!(e.message().contains("element 1: offset 1099511627776 is outside"), "{}", e.message());
        let e = from_arrow(data, ArrowOffsets::I32(&[0, -1]), 0, 1, None, &o).unwrap_err();
        assert!(e.message().contains("element 0"), "{}", e.message());
        let e = from_arrow(data, ArrowOffsets::I32(&[0, 3]), 1, 1, None, &o).unwrap_err();
        assert!(e.message().contains("3 needed"), "{}", e.message());
        let e = from_arrow(data, ArrowOffsets::I32(&[0; 10]), 0, 9, Some(&[0xff]), &o).unwrap_err();
        assert!(e.message().contains("validity"), "{}", e.message());
        let e = from_arrow(data, ArrowOffsets::I32(&[0, 3, 7]), 0, 2, None, &o).unwrap_err();
        assert_eq!(
            (e.kind(), e.message()),
            (ErrorKind::InvalidUtf8, "src.txt: element 1: invalid UTF-8 at byte 0 of the string")
        );
        let skip = SplitOptions { errors: Utf8Errors::Skip, ..o };
        let d = from_arrow(data, ArrowOffsets::I32(&[0, 3, 7]), 0, 2, None, &skip).unwrap();
        assert_eq!(d.spans, [Range { start: 0, end: 3 }]);
        assert_eq!(d.skipped, 1);
        let e = from_arrow(data, ArrowOffsets::I32(&[]), 0, 0, None, &o).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArg);
        let d = from_arrow(b"", ArrowOffsets::I32(&[0]), 0, 0, None, &o).unwrap();
        assert_eq!(d, Docs::default());
    }

    // ==== Properties ====

    fn naive_lines(data: &[u8]) -> Vec<Vec<u8>> {
        // Every piece but the last was followed by "\n": only those lose a final "\r".
        let pieces: Vec<&[u8]> = data.split(|&c| c == b'\n').collect();
        let last = pieces.len() - 1;
        let mut out: Vec<Vec<u8>> = pieces
            .iter()
            .enumerate()
            .map(|(i, l)| if i < last { l.strip_suffix(b"\r").unwrap_or(l) } else { l }.to_vec())
            .collect();
        if out.last().is_some_and(|l| l.is_empty()) {
            out.pop();
        }
        out
    }

    fn naive_separator(data: &[u8], sep: &[u8]) -> Vec<Vec<u8>> {
        let mut out = vec![];
        let (mut start, mut i) = (0, 0);
        while i + sep.len() <= data.len() {
            if &data[i..i + sep.len()] == sep {
                out.push(data[start..i].to_vec());
                i += sep.len();
                start = i;
            } else {
                i += 1;
            }
        }
        out.push(data[start..].to_vec());
        out.retain(|p| !p.is_empty());
        out
    }

    fn lossy(docs: Vec<Vec<u8>>) -> Vec<String> {
        docs.iter().map(|d| String::from_utf8_lossy(d).into_owned()).collect()
    }

    proptest! {
        #[test]
        fn lines_equal_a_naive_split(data in proptest::collection::vec(prop::sample::select(b"ab\r\n\xc3\xa9\xff".to_vec()), 0..60)) {
            let o = SplitOptions { errors: Utf8Errors::Replace, ..SplitOptions::new(Layout::Lines) };
            prop_assert_eq!(texts(&data, &o), lossy(naive_lines(&data)));
        }

        #[test]
        fn separator_equals_a_naive_split(
            data in proptest::collection::vec(prop::sample::select(b"ab-\n\xe2\x82\xac".to_vec()), 0..60),
            sep in prop::sample::select(vec![b"-".to_vec(), b"--".to_vec(), b"-a-".to_vec(), b"\n\n".to_vec(), b"\xe2\x82".to_vec()]),
        ) {
            let o = SplitOptions { errors: Utf8Errors::Replace, ..SplitOptions::new(Layout::Separator(&sep)) };
            prop_assert_eq!(texts(&data, &o), lossy(naive_separator(&data, &sep)));
        }

        #[test]
        fn cap_and_budget_match_char_arithmetic(
            lines in proptest::collection::vec("[a-c\u{e9}\u{65e5}\u{1f600}]{0,6}", 0..12),
            cap in 0u64..8,
            max in 0u64..30,
        ) {
            let data = lines.iter().map(|l| format!("{l}\n")).collect::<String>();
            let o = SplitOptions { doc_cap: Some(cap), max_chars: Some(max), ..SplitOptions::new(Layout::Lines) };
            let mut want = vec![];
            let mut total = 0u64;
            for l in &lines {
                let kept: String = l.chars().take(cap as usize).collect();
                total += kept.chars().count() as u64;
                want.push(kept);
                if total > max { break; }
            }
            let d = split(data.as_bytes(), &o).unwrap();
            prop_assert_eq!(d.texts(data.as_bytes()).unwrap(), want.iter().map(String::as_str).collect::<Vec<_>>());
            prop_assert_eq!(d.chars, want.iter().map(|s| s.chars().count() as u64).sum::<u64>());
        }

        #[test]
        fn jsonl_roundtrips_any_string(strs in proptest::collection::vec(any::<String>(), 0..8)) {
            let data: String = strs.iter().map(|s| format!("{{\"k\": {{\"t\": {}}}}}\n", json_quote(s))).collect();
            prop_assert_eq!(texts(data.as_bytes(), &SplitOptions::new(Layout::Jsonl(b"k.t"))), strs);
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..80), layout in 0..4u8, errors in 0..3u8) {
            let layout = match layout { 0 => Layout::Whole, 1 => Layout::Lines, 2 => Layout::Separator(b"\n"), _ => Layout::Jsonl(b"a.b") };
            let errors = [Utf8Errors::Strict, Utf8Errors::Replace, Utf8Errors::Skip][errors as usize];
            let o = SplitOptions { errors, doc_cap: Some(3), max_chars: Some(5), ..SplitOptions::new(layout) };
            if let Ok(d) = split(&data, &o) {
                prop_assert!(d.texts(&data).is_ok());
            }
        }
    }

    /// A JSON string literal for `s`, escaping as Python's json.dumps does (ensure_ascii).
    fn json_quote(s: &str) -> String {
        let mut out = String::from("\"");
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                    let mut buf = [0u16; 2];
                    for u in c.encode_utf16(&mut buf) {
                        out.push_str(&format!("\\u{u:04x}"));
                    }
                }
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }
}
