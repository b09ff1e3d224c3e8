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
//!   `Replace`, as tiktoken's surrogate fix-up does).

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
                base.get(r.clone())
                    .and_then(|b| std::str::from_utf8(b).ok())
                    .ok_or_else(|| Error::invalid_arg("the input is not the one these documents were split from"))
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
        match std::str::from_utf8(bytes) {
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
    let mut line = 0u64;
    let ends = memchr_iter(b'\n', input).map(|nl| (nl, nl + 1)).chain(std::iter::once((input.len(), input.len())));
    for (end, next) in ends {
        if start >= input.len() && end == input.len() {
            break;
        }
        let text = &input[start..end];
        if !text.iter().all(|&c| is_ws(c)) {
            let line_no = b.opts.base_line.max(1).saturating_add(line);
            let ctx = LineCtx { opts: b.opts, key, line: line_no, offset: start };
            scratch.clear();
            let outcome = extract(text, &ctx, &mut scratch)?;
            match outcome {
                Extracted::Ok => {
                    // `extract` produced valid UTF-8 (checked run by run).
                    let s = std::str::from_utf8(&scratch).map_err(|_| ctx.error(ErrorKind::InvalidUtf8, "invalid UTF-8"))?;
                    if b.take(s, None, next as u64) {
                        return Ok(());
                    }
                }
                Extracted::Invalid => b.docs.skipped += 1,
            }
        }
        start = next;
        line += 1;
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
                format!(" (no {:?} in {:?})", String::from_utf8_lossy(seg), String::from_utf8_lossy(&segments[..k].join(&b'.')))
            };
            return Err(ctx.error(ErrorKind::BadFormat, format!("key {:?} missing{within}", ctx.key())));
        };
        let c = line[v];
        if k + 1 == segments.len() {
            if c != b'"' {
                return Err(ctx.error(ErrorKind::BadFormat, format!("key {:?} is {}, not a string", ctx.key(), kind_name(c))));
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
const MAX_DEPTH: usize = 256;

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
                    if let Some(lo) = s.get(i + 8..i + 12).filter(|h| h.iter().all(u8::is_ascii_hexdigit)).map(hex4) {
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

/// Decodes the (validated) string at `line[at]` into `out`, applying the UTF-8 policy to
/// its raw runs and lone surrogates.
fn decode_string(line: &[u8], at: usize, ctx: &LineCtx<'_>, out: &mut Vec<u8>) -> Result<Extracted> {
    let mut i = at + 1;
    loop {
        // The parser validated the string, so a closing quote exists.
        let run_end = memchr2(b'"', b'\\', &line[i..]).map_or(line.len(), |j| i + j);
        let run = &line[i..run_end];
        match std::str::from_utf8(run) {
            Ok(s) => out.extend_from_slice(s.as_bytes()),
            Err(e) => match ctx.opts.errors {
                Utf8Errors::Strict => {
                    let off = ctx.opts.base_offset.saturating_add((ctx.offset + i + e.valid_up_to()) as u64);
                    return Err(ctx.error(
                        ErrorKind::InvalidUtf8,
                        format!("key {:?}: invalid UTF-8 at byte offset {off}", ctx.key()),
                    ));
                }
                Utf8Errors::Skip => return Ok(Extracted::Invalid),
                Utf8Errors::Replace => out.extend_from_slice(String::from_utf8_lossy(run).as_bytes()),
            },
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
