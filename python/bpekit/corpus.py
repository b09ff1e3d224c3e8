"""Corpora: documents read from files, directories, globs and stdin, in batches.

A :class:`Corpus` describes where documents come from and how to cut them; iterating
it reads the sources again each time. Python only reads bytes: text and JSON Lines are
read in chunks of about ``chunk_bytes``, each cut at a record boundary (the last
``"\\n"``, or the end of the last separator), and the native library splits a chunk into
documents, returning one buffer plus the byte range of every document (a
:class:`Batch`); Parquet is read one row group at a time with pyarrow, and the Arrow
string column's memory is handed to the library as it is. No Python object is made per
document on this path; :meth:`Corpus.texts` makes them, for convenience.

>>> import os, tempfile
>>> d = tempfile.mkdtemp()
>>> with open(os.path.join(d, "a.txt"), "w") as f:
...     _ = f.write("one\\ntwo\\n")
>>> c = Corpus(d, lines=True)
>>> list(c.texts()), c.documents
(['one', 'two'], 2)
"""

from __future__ import annotations

import bz2
import glob
import gzip
import io
import lzma
import os
import sys
from array import array
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Iterable, Iterator, Union

from ._errors import TokenizerError
from ._lowlevel import ffi, lib, rustcall

__all__ = ["Batch", "Corpus", "CorpusError", "MissingExtraError", "Source", "Unit", "discover"]

PathLike = Union[str, "os.PathLike[str]"]

#: BPEKIT_NO_LIMIT (UINT64_MAX, a define cffi cannot read)
NO_LIMIT = 2**64 - 1

#: input format -> the extensions that select it (before any compression extension)
FORMATS = {"txt": (".txt", ".text", ".md"), "jsonl": (".jsonl", ".json", ".ndjson"), "parquet": (".parquet",)}
#: compression extension -> (opener, the module's import name, the extra providing it)
COMPRESSIONS = {".gz": "gzip", ".zst": "zstd", ".zstd": "zstd", ".xz": "xz", ".bz2": "bz2"}
ERRORS = ("strict", "replace", "skip")
#: errors= -> BPEKIT_UTF8_*
_UTF8 = {"strict": lib.BPEKIT_UTF8_STRICT, "replace": lib.BPEKIT_UTF8_REPLACE, "skip": lib.BPEKIT_UTF8_SKIP}


class CorpusError(TokenizerError, ValueError):
    """A corpus cannot be read as described: a missing file, a directory with no
    matching files, a bad option, a column that does not exist. The message names the
    file (and position where there is one)."""


class MissingExtraError(CorpusError, ImportError):
    """An optional dependency is needed for this input; the message names the extra
    (``pip install 'bpekit[parquet]'``)."""


def _need(module: str, extra: str, why: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(
            f"{why} needs the {module} module: pip install 'bpekit[{extra}]'"
        ) from None


def _numpy(why: str) -> Any:
    return _need("numpy", "numpy", why)


# ==== Sources ====


@dataclass(frozen=True)
class Source:
    """One input: a file (``path``), or stdin (``path == "-"``), with its format."""

    path: str
    format: str  # "txt" | "jsonl" | "parquet"
    compression: str | None  # "gzip" | "zstd" | "xz" | "bz2" | None
    #: the name in messages when not ``path`` (a cluster's workers open absolute paths
    #: but name the source as the user gave it)
    label: str | None = None

    @property
    def name(self) -> str:
        """The name used in messages."""
        if self.label is not None:
            return self.label
        return "<stdin>" if self.path == "-" else self.path

    def size(self) -> int | None:
        """Bytes on disk (None for stdin)."""
        if self.path == "-":
            return None
        try:
            return os.path.getsize(self.path)
        except OSError:
            return None


@dataclass(frozen=True)
class Unit:
    """A piece of a corpus that can be read on its own (:meth:`Corpus.units`): a whole
    text or JSON Lines file (``row_group`` None), or one row group of a Parquet file,
    whose first row is row ``first_row`` of the file. ``size`` is its bytes on disk (a
    row group's ``total_byte_size``), None when unknown (stdin)."""

    source: Source
    row_group: int | None
    first_row: int
    size: int | None

    @property
    def name(self) -> str:
        """The unit in messages: the source's name, with ``: row group G`` for Parquet."""
        if self.row_group is None:
            return self.source.name
        return f"{self.source.name}: row group {self.row_group}"


def _split_ext(path: str) -> tuple[str, str | None]:
    """``(extension of the format, compression)`` of a file name."""
    base = os.path.basename(path).lower()
    compression = None
    root, ext = os.path.splitext(base)
    if ext in COMPRESSIONS:
        compression = COMPRESSIONS[ext]
        root, ext = os.path.splitext(root)
    return ext, compression


def _format_of(ext: str) -> str | None:
    return next((f for f, exts in FORMATS.items() if ext in exts), None)


def _is_glob(s: str) -> bool:
    return any(c in s for c in "*?[")


def discover(sources: PathLike | Iterable[PathLike], input_format: str | None = None) -> list[Source]:
    """The files a list of sources names, in order: a file is itself; a directory is
    every file below it (sorted, hidden ones excepted) whose extension is a known input
    format (or, with ``input_format``, every file); a glob is its sorted matches; ``-``
    is stdin. Raises :class:`CorpusError` naming a missing file, a glob or directory
    without matches, or a file whose format cannot be told from its name."""
    if input_format is not None and input_format not in FORMATS:
        raise CorpusError(f"unknown input format {input_format!r} (expected one of: {', '.join(FORMATS)})")
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    out: list[Source] = []
    for s in sources:
        s = os.fspath(s)
        if s == "-":
            out.append(Source("-", input_format or "txt", None))
            continue
        if os.path.isdir(s):
            found = []
            for root, dirs, files in os.walk(s):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for f in sorted(files):
                    if f.startswith("."):
                        continue
                    p = os.path.join(root, f)
                    if input_format is not None or _format_of(_split_ext(p)[0]) is not None:
                        found.append(p)
            if not found:
                kinds = input_format or "/".join(FORMATS)
                raise CorpusError(f"{s}: directory has no {kinds} files (optionally .gz/.zst/.xz/.bz2)")
            out.extend(_file_source(p, input_format) for p in found)
        elif os.path.isfile(s):
            out.append(_file_source(s, input_format))
        elif _is_glob(s):
            matches = sorted(p for p in glob.glob(s, recursive=True) if os.path.isfile(p))
            if not matches:
                raise CorpusError(f"{s}: no files match")
            out.extend(_file_source(p, input_format) for p in matches)
        elif os.path.exists(s):
            raise CorpusError(f"{s}: not a regular file or directory")
        else:
            raise CorpusError(f"{s}: no such file or directory")
    if not out:
        raise CorpusError("no sources given")
    return out


def _file_source(path: str, input_format: str | None) -> Source:
    ext, compression = _split_ext(path)
    fmt = input_format or _format_of(ext)
    if fmt is None:
        raise CorpusError(
            f"{path}: cannot tell the input format from the extension {ext or '(none)'!r}; "
            "pass --input-format txt|jsonl|parquet"
        )
    if fmt == "parquet" and compression is not None:
        raise CorpusError(f"{path}: a parquet file cannot be read through {compression} (parquet compresses itself)")
    return Source(path, fmt, compression)


def open_source(src: Source) -> BinaryIO:
    """A binary stream of a source's (decompressed) bytes."""
    if src.path == "-":
        return sys.stdin.buffer
    if src.compression is None:
        return open(src.path, "rb")
    if src.compression == "gzip":
        return gzip.open(src.path, "rb")
    if src.compression == "xz":
        return lzma.open(src.path, "rb")
    if src.compression == "bz2":
        return bz2.open(src.path, "rb")
    zstd = _need("zstandard", "zstd", f"{src.path}: reading .zst")
    raw = open(src.path, "rb")
    try:
        return zstd.ZstdDecompressor().stream_reader(raw, closefd=True)
    except Exception:
        raw.close()
        raise


# ==== Batches ====


@dataclass
class Batch:
    """Documents as one buffer and their byte ranges: document ``i`` is
    ``data[spans[2*i]:spans[2*i+1]]``, UTF-8.

    ``source`` and ``first`` (the corpus-wide index of document 0) name the documents
    in messages; ``raw_done`` is how far the source has been read (bytes on disk, for
    progress). ``spans`` is a buffer of uint64 (a memoryview of native memory when the
    library made it, kept alive by the batch)."""

    data: Any
    spans: Any
    n: int
    chars: int
    source: str
    first: int = 0
    raw_done: int = 0
    _keep: list[Any] = field(default_factory=list, repr=False)

    def __len__(self) -> int:
        return self.n

    def doc(self, i: int) -> bytes:
        """Document ``i``'s bytes."""
        return bytes(self.data[self.spans[2 * i] : self.spans[2 * i + 1]])

    def texts(self) -> Iterator[str]:
        for i in range(self.n):
            yield self.doc(i).decode("utf-8")

    def tail(self, k: int) -> Batch:
        """The batch without its first ``k`` documents (same buffer)."""
        k = min(k, self.n)
        spans = memoryview(self.spans).cast("B").cast("Q")[2 * k :]
        # (chars: those of the whole batch; a tail is only made to skip documents on resume)
        return Batch(self.data, spans, self.n - k, self.chars, self.source, self.first + k, self.raw_done, self._keep)

    def c_args(self) -> tuple[Any, int, Any, int]:
        """``(data, len, spans, n)`` for the library's span consumers; the batch must
        stay alive while they are used."""
        data = ffi.from_buffer("uint8_t[]", self.data) if len(self.data) else ffi.NULL
        spans = ffi.from_buffer("uint64_t[]", self.spans) if self.n else ffi.NULL
        self._keep.append((data, spans))
        return data, len(self.data), ffi.cast("bpekit_span *", spans), self.n


class _Budget:
    """nanochat's rule: documents are taken until the running character total exceeds
    ``max_chars`` (the document that crosses it is still taken)."""

    def __init__(self, max_chars: int | None) -> None:
        self.max_chars = max_chars
        self.used = 0
        self.stopped = False

    def remaining(self) -> int:
        if self.max_chars is None:
            return NO_LIMIT
        return max(self.max_chars - self.used, 0)


# ==== Corpus ====


class Corpus:
    """Documents from ``sources`` (paths, directories, globs, ``-`` for stdin).

    ``input_format`` ("txt", "jsonl", "parquet") overrides the format told by each
    file's extension (``.txt``, ``.jsonl``, ``.parquet``, optionally ``.gz``, ``.zst``,
    ``.xz``, ``.bz2``). Text files are one document per file, or per line
    (``lines=True``), or per piece between ``separator`` (e.g. ``"\\n\\n"``); JSON Lines
    take the string at ``text_key`` (a dotted path into nested objects); Parquet takes
    the string ``column``. ``errors`` says what invalid UTF-8 does: "strict" (an error
    naming file and byte offset), "replace" (U+FFFD) or "skip" (drop the document).
    ``doc_cap`` keeps at most that many characters of each document; ``max_chars``
    stops after the document that brings the total over it (nanochat's knobs).

    Iterating (:meth:`batches`, :meth:`texts`) is lazy and can be repeated; after a
    full pass, ``documents``, ``bytes`` (input bytes read), ``chars`` and ``skipped``
    hold that pass's counts.
    """

    def __init__(
        self,
        sources: PathLike | Iterable[PathLike],
        *,
        input_format: str | None = None,
        text_key: str = "text",
        column: str = "text",
        lines: bool = False,
        separator: str | bytes | None = None,
        errors: str = "strict",
        doc_cap: int | None = None,
        max_chars: int | None = None,
        chunk_bytes: int = 4 << 20,
    ) -> None:
        if isinstance(sources, (str, os.PathLike)):
            sources = [sources]
        self.sources = [os.fspath(s) for s in sources]
        if lines and separator is not None:
            raise CorpusError("lines=True and separator are exclusive")
        if isinstance(separator, str):
            separator = separator.encode("utf-8")
        if separator is not None and len(separator) == 0:
            raise CorpusError("separator must not be empty")
        if errors not in ERRORS:
            raise CorpusError(f"errors must be one of {ERRORS}, got {errors!r}")
        for name, v in (("doc_cap", doc_cap), ("max_chars", max_chars)):
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
                raise CorpusError(f"{name} must be a non-negative int or None, got {v!r}")
        if not isinstance(chunk_bytes, int) or chunk_bytes < 1:
            raise CorpusError(f"chunk_bytes must be a positive int, got {chunk_bytes!r}")
        if not text_key or any(not part for part in text_key.split(".")):
            raise CorpusError(f"text_key must be a non-empty dotted path, got {text_key!r}")
        if not column:
            raise CorpusError("column must not be empty")
        if input_format is not None and input_format not in FORMATS:
            raise CorpusError(f"unknown input format {input_format!r} (expected one of: {', '.join(FORMATS)})")
        self.input_format = input_format
        self.text_key = text_key
        self.column = column
        self.lines = bool(lines)
        self.separator: bytes | None = separator
        self.errors = errors
        self.doc_cap = doc_cap
        self.max_chars = max_chars
        self.chunk_bytes = chunk_bytes
        self.documents = self.bytes = self.chars = self.skipped = 0

    def options(self) -> dict[str, Any]:
        """The options that decide which documents the corpus yields (for manifests)."""
        return {
            "input_format": self.input_format,
            "text_key": self.text_key,
            "column": self.column,
            "lines": self.lines,
            "separator": None if self.separator is None else self.separator.decode("utf-8", "backslashreplace"),
            "errors": self.errors,
            "doc_cap": self.doc_cap,
            "max_chars": self.max_chars,
        }

    def files(self) -> list[Source]:
        """The sources, resolved (see :func:`discover`)."""
        return discover(self.sources, self.input_format)

    def texts(self) -> Iterator[str]:
        """Every document as a ``str`` (one object per document: the slow path)."""
        for b in self.batches():
            yield from b.texts()

    def batches(self) -> Iterator[Batch]:
        """Every document, in order, in batches (one per chunk or row group): the
        documents of every :meth:`units` entry, in order, under one ``max_chars``
        budget."""
        files = self.files()  # errors about the sources come before any reading
        self.documents = self.bytes = self.chars = self.skipped = 0
        budget = _Budget(self.max_chars)
        disk = 0  # bytes on disk of the sources done
        for src in files:
            if budget.stopped:
                break
            pf = self._parquet_file(src) if src.format == "parquet" else None
            for unit in self._file_units(src, pf):
                if budget.stopped:
                    break
                for b in self._unit(unit, budget, pf):
                    b.first = self.documents
                    b.raw_done += disk
                    self.documents += b.n
                    if b.n:
                        yield b
            disk += src.size() or 0

    # ---- units ----

    def units(self) -> list[Unit]:
        """The corpus cut into independent pieces of work, in document order: a text or
        JSON Lines file is one unit, a Parquet file one unit per row group. Reading every
        unit with :meth:`unit_batches`, in order, gives the documents of :meth:`batches`.
        Opens each Parquet file's footer (errors about its column come here)."""
        out: list[Unit] = []
        for src in self.files():
            pf = self._parquet_file(src) if src.format == "parquet" else None
            out.extend(self._file_units(src, pf))
        return out

    def unit_batches(self, unit: Unit) -> Iterator[Batch]:
        """The documents of one unit (from :meth:`units`), in batches, with the messages
        of a whole-corpus pass (same source names, byte offsets, line numbers, Parquet
        row numbers). ``first`` counts from the unit's first document. After a full
        pass, ``documents``, ``bytes``, ``chars`` and ``skipped`` hold the unit's counts.

        ``max_chars`` is refused: it is a budget over the whole corpus, which no unit
        can apply alone. So is stdin, which cannot be read again by someone else."""
        if self.max_chars is not None:
            raise CorpusError("max_chars is a corpus-wide budget; not supported on a cluster (or unit by unit)")
        if unit.source.path == "-":
            raise CorpusError("<stdin> cannot be read unit by unit (nor on a cluster): give files")
        self.documents = self.bytes = self.chars = self.skipped = 0
        for b in self._unit(unit, _Budget(None), None):
            b.first = self.documents
            self.documents += b.n
            if b.n:
                yield b

    def _file_units(self, src: Source, pf: Any) -> list[Unit]:
        if src.format != "parquet":
            return [Unit(src, None, 0, src.size())]
        meta = pf.metadata
        out, row = [], 0
        for g in range(meta.num_row_groups):
            rg = meta.row_group(g)
            out.append(Unit(src, g, row, int(rg.total_byte_size)))
            row += int(rg.num_rows)
        return out

    def _unit(self, unit: Unit, budget: _Budget, pf: Any) -> Iterator[Batch]:
        """A unit's batches; ``raw_done`` counts from the start of its file."""
        if unit.row_group is None:
            return self._stream(unit.source, budget)
        if pf is None:
            pf = self._parquet_file(unit.source)
        return self._row_group(unit, pf, budget)

    # ---- text and JSON Lines ----

    def _layout(self, src: Source) -> int:
        if src.format == "jsonl":
            return lib.BPEKIT_LAYOUT_JSONL
        if self.separator is not None:
            return lib.BPEKIT_LAYOUT_SEPARATOR
        return lib.BPEKIT_LAYOUT_LINES if self.lines else lib.BPEKIT_LAYOUT_WHOLE

    def _stream(self, src: Source, budget: _Budget) -> Iterator[Batch]:
        layout = self._layout(src)
        f = open_source(src)
        disk = f if src.compression is None else _disk_file(f)
        try:
            offset, line, carry = 0, 1, b""
            while not budget.stopped:
                if layout == lib.BPEKIT_LAYOUT_WHOLE:
                    piece = _read(f, -1, src, offset)  # a document per file: the whole file
                    data, eof = piece, True
                else:
                    # a record longer than a chunk: read as much again (no quadratic rescans)
                    want = max(self.chunk_bytes, len(carry))
                    piece = _read(f, want, src, offset + len(carry))
                    eof = not piece
                    data = carry + piece if carry else piece
                if not data and layout != lib.BPEKIT_LAYOUT_WHOLE:  # (an empty file is one empty document)
                    break
                cut = len(data) if eof else _cut(data, layout, self.separator)
                if cut == 0 and not eof:  # no boundary yet: read more
                    carry = data
                    continue
                chunk, carry = data[:cut], data[cut:]
                self.bytes += len(chunk)
                done = _tell(disk) if disk is not None else 0
                b, consumed = self._split(chunk, layout, src, offset, line, budget)
                b.raw_done = done
                yield b
                if budget.stopped:
                    self.bytes -= len(chunk) - consumed
                    break
                line += chunk.count(b"\n")
                offset += len(chunk)
                if eof:
                    break
        finally:
            if src.path != "-":
                f.close()

    def _split(self, chunk: bytes, layout: int, src: Source, offset: int, line: int, budget: _Budget) -> tuple[Batch, int]:
        """Splits one chunk into documents (the library), within the budget."""
        opts, keep = self._options(layout, src, offset, line, budget)
        docs = ffi.new("bpekit_docs *")
        buf = ffi.from_buffer("uint8_t[]", chunk)
        rustcall(lib.bpekit_docs_split, buf, len(chunk), opts, docs)
        batch, chars, skipped, consumed, stopped = _from_docs(docs, chunk, src.name, [buf, keep])
        self.chars += chars
        self.skipped += skipped
        budget.used += chars
        if stopped:
            budget.stopped = True
        return batch, consumed

    def _options(self, layout: int, src: Source, offset: int, line: int, budget: _Budget) -> tuple[Any, list[Any]]:
        o = ffi.new("bpekit_split_options *")
        keep: list[Any] = [o]
        o.layout = layout
        if self.separator is not None:
            sep = ffi.from_buffer("uint8_t[]", self.separator)
            keep.append(sep)
            o.separator, o.separator_len = sep, len(self.separator)
        key = self.text_key.encode("utf-8")
        keep.append(key)
        o.key, o.key_len = ffi.from_buffer("uint8_t[]", key), len(key)
        o.errors = _UTF8[self.errors]
        o.doc_cap = NO_LIMIT if self.doc_cap is None else self.doc_cap
        o.max_chars = budget.remaining()
        name = src.name.encode("utf-8", "surrogateescape")
        keep.append(name)
        o.source, o.source_len = ffi.from_buffer("uint8_t[]", name), len(name)
        o.base_offset = offset
        o.base_line = line
        return o, keep

    # ---- Parquet ----

    def _parquet_file(self, src: Source) -> Any:
        """The opened Parquet file, its column checked."""
        pq = _need("pyarrow.parquet", "parquet", f"{src.name}: reading parquet")
        pa = _need("pyarrow", "parquet", f"{src.name}: reading parquet")
        try:
            pf = pq.ParquetFile(src.path)
        except Exception as e:  # pyarrow's errors are of many types
            raise CorpusError(f"{src.name}: not a readable parquet file ({e})") from None
        schema = pf.schema_arrow
        idx = schema.get_field_index(self.column)
        if idx < 0:
            have = ", ".join(schema.names) or "(none)"
            raise CorpusError(f"{src.name}: no column {self.column!r} (columns: {have})")
        typ = schema.field(idx).type
        if not (pa.types.is_string(typ) or pa.types.is_large_string(typ)):
            raise CorpusError(f"{src.name}: column {self.column!r} is {typ}, not a string column")
        return pf

    def _row_group(self, unit: Unit, pf: Any, budget: _Budget) -> Iterator[Batch]:
        src, g, row = unit.source, unit.row_group, unit.first_row
        if g is None or not 0 <= g < pf.num_row_groups:
            raise CorpusError(f"{src.name}: no row group {g} (the file has {pf.num_row_groups})")
        try:
            table = pf.read_row_group(g, columns=[self.column])
        except Exception as e:  # noqa: BLE001 (pyarrow's errors are of many types)
            raise CorpusError(f"{src.name}: cannot read row group {g} ({e})") from None
        self.bytes += table.nbytes
        done = (src.size() or 0) * (g + 1) // max(pf.num_row_groups, 1)
        for arr in table.column(0).chunks:
            b = self._arrow(arr, src, row, budget)
            b.raw_done = done
            row += len(arr)
            yield b
            if budget.stopped:
                break

    def _arrow(self, arr: Any, src: Source, row: int, budget: _Budget) -> Batch:
        """Documents of one Arrow string array, its buffers passed without a copy."""
        validity, offsets, data = arr.buffers()[:3]
        width = 8 if "large" in str(arr.type) else 4
        name = f"{src.name}: column {self.column!r}, rows from {row}"
        opts, keep = self._options(lib.BPEKIT_LAYOUT_WHOLE, Source(name, "parquet", None), 0, 1, budget)
        # An empty array may have no data buffer.
        dbuf = ffi.from_buffer("uint8_t[]", data) if data is not None and data.size else ffi.NULL
        obuf = ffi.from_buffer("uint8_t[]", offsets)
        vbuf = ffi.from_buffer("uint8_t[]", validity) if validity is not None else ffi.NULL
        docs = ffi.new("bpekit_docs *")
        rustcall(lib.bpekit_docs_from_arrow, dbuf, data.size if data is not None else 0, obuf, width,
                 arr.offset, len(arr), vbuf, opts, docs)
        keep += [dbuf, obuf, vbuf, arr]
        batch, chars, skipped, _, stopped = _from_docs(docs, data, src.name, keep)
        self.chars += chars
        self.skipped += skipped
        budget.used += chars
        if stopped:
            budget.stopped = True
        return batch


def _from_docs(docs: Any, input_data: Any, source: str, keep: list[Any]) -> tuple[Batch, int, int, int, bool]:
    """A Batch over a ``bpekit_docs`` (freed when the batch is collected)."""
    owner = ffi.gc(docs, lib.bpekit_docs_free)
    n = int(docs.n)
    if docs.data != ffi.NULL:
        data: Any = ffi.buffer(docs.data, docs.data_len)
    else:
        data = input_data if input_data is not None else b""
    spans = ffi.buffer(docs.spans, 16 * n) if n else b""
    spans = memoryview(spans).cast("B").cast("Q") if n else array("Q")
    keep.append(owner)
    b = Batch(data, spans, n, int(docs.chars), source, _keep=keep)
    return b, int(docs.chars), int(docs.skipped), int(docs.consumed), bool(docs.stopped)


def _read(f: BinaryIO, n: int, src: Source, offset: int) -> bytes:
    """``f.read(n)``; a failure (damaged compressed data too: each decompressor has its
    own exception types) becomes an error naming the file and how far it was read."""
    try:
        return f.read(n)
    except Exception as e:  # noqa: BLE001 (gzip, lzma, bz2, zstandard, OS errors)
        what = f"{src.compression} data" if src.compression else "file"
        raise CorpusError(f"{src.name}: cannot read the {what} after byte {offset} ({type(e).__name__}: {e})") from None


def _disk_file(f: Any) -> Any:
    """The file object under a decompressing reader (for progress on disk bytes)."""
    for attr in ("fileobj", "_fp", "_fileobj"):
        inner = getattr(f, attr, None)
        if inner is not None and hasattr(inner, "tell"):
            return inner
    buf = getattr(f, "_buffer", None)  # gzip/lzma/bz2: a BufferedReader over a decompressor
    raw = getattr(getattr(buf, "raw", None), "_fp", None)
    return raw if raw is not None and hasattr(raw, "tell") else None


def _tell(f: Any) -> int:
    try:
        return int(f.tell())
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        return 0


def _cut(data: bytes, layout: int, separator: bytes | None) -> int:
    """Where a chunk of a longer stream can be cut without changing its documents: after
    the last ``"\\n"`` (lines, JSON Lines), or after the last separator found by a
    left-to-right scan (the split's own matching: with a separator that overlaps itself,
    such as ``"\\n\\n"`` in ``"\\n\\n\\n"``, the last occurrence is not always a match).
    0 when the chunk has no boundary yet."""
    if layout != lib.BPEKIT_LAYOUT_SEPARATOR:
        return data.rfind(b"\n") + 1
    assert separator is not None
    k = len(separator)
    q = data.rfind(separator)
    if q < 0:
        return 0
    # Walk back over occurrences that overlap the one at q: the first of that run is a
    # match of the left-to-right scan (nothing before it overlaps it), and the scan
    # from there decides which of the run are matches.
    start = q
    while True:
        p = data.rfind(separator, max(0, start - k + 1), start + k - 1)
        if p < 0 or p >= start:
            break
        start = p
    end = start
    while True:
        p = data.find(separator, end, q + k)
        if p < 0:
            break
        end = p + k
    return end


from ._pipeline import ManifestError, count, encode, train  # noqa: E402  (they use the names above)

__all__ += ["ManifestError", "count", "encode", "train"]
