"""Corpus in, tokenizer or token shards out: :func:`train`, :func:`encode`, :func:`count`.

Reading overlaps the native work: a reader thread fills a queue of at most two batches
while the calling thread is in the library (cffi releases the GIL during every call),
so memory stays near ``chunk_bytes * 3`` plus one batch's token ids.

``encode`` keeps a manifest, ``OUT_PREFIX.manifest.json``, rewritten atomically after
every completed shard and at the end; ``resume=True`` continues an interrupted run
after its last completed shard and gives the same files as an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import re
import threading
from typing import TYPE_CHECKING, Any, Iterator, TypeVar

from ._lowlevel import ffi, lib, rustcall
from .corpus import Batch, Corpus, CorpusError, _numpy
from .shards import info as shard_info

if TYPE_CHECKING:
    from .core import Encoding

__all__ = ["ManifestError", "count", "encode", "train"]

T = TypeVar("T")

FORMATS = ("llmc", "megatron", "nanogpt", "npy")
ENDOFTEXT = "<|endoftext|>"
MANIFEST_VERSION = 1


class ManifestError(CorpusError):
    """A run's options do not fit the manifest already there (a usage error: the command
    exits with status 2)."""


# ==== Reading ahead ====

_END = object()


class _Failed:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def prefetch(items: Iterator[T], depth: int = 2) -> Iterator[T]:
    """``items``, produced on a reader thread at most ``depth`` ahead of the consumer.
    An exception of the reader is raised in the consumer; when the consumer stops
    (an error, Ctrl-C, ``close()``), the reader stops at its next item."""
    q: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(_END)
        except BaseException as e:  # noqa: BLE001 (handed to the consumer)
            put(_Failed(e))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    th = threading.Thread(target=run, name="bpekit-reader", daemon=True)
    th.start()
    try:
        while True:
            item = q.get()
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.exc
            yield item
    finally:
        stop.set()
        while True:  # unblock a reader waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                break
        th.join()


def _progress(desc: str, corpus: Corpus, enabled: bool | None) -> Any:
    from ._progress import throughput

    total = 0
    for s in corpus.files():
        size = s.size()
        if size is None:
            total = 0
            break
        total += size
    return throughput(desc, total or None, enabled=enabled)


# ==== Training ====


def train(
    corpus: Corpus,
    vocab_size: int,
    *,
    pattern: str | None = None,
    special_tokens: Any = (),
    threads: int | None = None,
    progress: bool | None = None,
    name: str = "bpekit",
) -> Encoding:
    """Trains a tokenizer on the documents of ``corpus`` (the merges
    :func:`bpekit.train` learns from the same documents).

    ``progress``: bars on stderr (read bytes, then merges); None means only when
    stderr is a terminal.
    """
    from ._train import Trainer

    trainer = Trainer(pattern, special_tokens=special_tokens, num_threads=threads)
    try:
        with _progress("reading", corpus, progress) as bar:
            for b in prefetch(corpus.batches()):
                _feed(trainer, b)
                bar.update(b.raw_done, b.first + b.n)
        return trainer.finish(vocab_size, name=name, progress=progress)
    finally:
        trainer.close()


def _feed(trainer: Any, b: Batch) -> None:
    rustcall(lib.bpekit_trainer_feed_docs, trainer._ptr, *b.c_args())


# ==== Counting ====


def count_batches(corpus: Corpus, enc: Encoding, *, threads: int | None = None) -> Iterator[Any]:
    """Token counts (``encode_ordinary``) of the documents, one array per batch."""
    np = _numpy("counting tokens per document")

    for b in prefetch(corpus.batches()):
        counts = np.empty(b.n, dtype=np.uint64)
        out = ffi.from_buffer("uint64_t[]", counts)
        rustcall(lib.bpekit_tokenizer_count_docs, enc._ptr, *b.c_args(), threads or 0, out)
        yield counts


def count(corpus: Corpus, enc: Encoding, *, threads: int | None = None) -> Any:
    """The number of tokens (``encode_ordinary``) of every document, as a NumPy uint64
    array in document order."""
    np = _numpy("counting tokens per document")

    parts = list(count_batches(corpus, enc, threads=threads))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint64)


# ==== Encoding to shards ====


def token_id(enc: Encoding, value: int | str | None, what: str) -> int | None:
    """``--bos``/``--eos``: an id, a special token's text, or None."""
    if value is None:
        return None
    if isinstance(value, str):
        if value.lstrip("-").isdigit():
            value = int(value)
        elif value in enc.special_tokens:
            return enc.special_tokens[value]
        else:
            specials = ", ".join(sorted(enc.special_tokens)) or "none"
            raise CorpusError(f"{what} {value!r} is not an id nor a special token of the tokenizer (its specials: {specials})")
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < enc.n_vocab:
        raise CorpusError(f"{what} {value!r} is not a token id of the tokenizer (0..{enc.n_vocab - 1})")
    return value


def manifest_path(out_prefix: str) -> str:
    return os.fspath(out_prefix) + ".manifest.json"


def write_atomic(path: str, data: bytes) -> None:
    """Writes ``data`` to ``path`` through a temporary file in the same directory, fsync
    and rename: ``path`` holds the old bytes or the new, never a part."""
    d = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(d, f".{os.path.basename(path)}.tmp-{os.getpid()}-{threading.get_ident()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_json_atomic(path: str, obj: Any) -> None:
    write_atomic(path, (json.dumps(obj, indent=1) + "\n").encode("utf-8"))


def read_manifest(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            m = json.load(f)
    except ValueError as e:
        raise CorpusError(f"{path}: not a bpekit manifest ({e})") from None
    if not isinstance(m, dict) or m.get("bpekit_manifest") != MANIFEST_VERSION:
        raise CorpusError(f"{path}: not a bpekit manifest (version {MANIFEST_VERSION})")
    return m


def _differences(old: Any, new: Any, where: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in sorted(set(old) | set(new), key=str):
            out += _differences(old.get(k), new.get(k), f"{where}.{k}" if where else str(k))
        return out
    if old != new:
        return [f"{where}: {json.dumps(old)} in the manifest, {json.dumps(new)} now"]
    return []


def _shard_files(prefix: str) -> tuple[str, re.Pattern[str], re.Pattern[str]]:
    """The output directory and patterns of the names of the shard files and of the
    temporary files ``encode`` writes for ``prefix``."""
    d = os.path.dirname(os.path.abspath(prefix))
    base = re.escape(os.path.basename(prefix))
    shard = rf"{base}(?:_\d{{6,}})?\.(?:bin|idx|npy|docs\.npy)"
    temp = rf"\.(?:{shard}|{base}\.manifest\.json)\.tmp-\d+-\d+"
    return d, re.compile(shard), re.compile(temp)


def _clean(prefix: str, keep: set[str] | None) -> None:
    """Removes this prefix's temporary files (those of an interrupted run) and, unless
    ``keep`` is None, its shard files not in ``keep``."""
    d, shard, temp = _shard_files(prefix)
    try:
        names = os.listdir(d)
    except OSError:
        return
    for n in names:
        if temp.fullmatch(n) or (keep is not None and n not in keep and shard.fullmatch(n)):
            try:
                os.unlink(os.path.join(d, n))
            except FileNotFoundError:
                pass


def encode_args(enc: Encoding, format: str, bos: int | str | None, eos: int | str | None,
                shard_tokens: int) -> tuple[int | None, int | None]:
    """Checks ``encode``'s shard options; returns the BOS and EOS ids (nanogpt's EOS
    defaults to ``<|endoftext|>``)."""
    if format not in FORMATS:
        raise CorpusError(f"unknown shard format {format!r} (expected one of: {', '.join(FORMATS)})")
    if not isinstance(shard_tokens, int) or isinstance(shard_tokens, bool) or shard_tokens < 0:
        raise CorpusError(f"shard_tokens must be a non-negative int, got {shard_tokens!r}")
    bos_id = token_id(enc, bos, "--bos")
    if eos is None and format == "nanogpt":
        if ENDOFTEXT not in enc.special_tokens:
            raise CorpusError(
                f"nanogpt shards end every document with {ENDOFTEXT}, which the tokenizer does not have; pass --eos"
            )
        eos = ENDOFTEXT
    return bos_id, token_id(enc, eos, "--eos")


def manifest_head(corpus: Corpus, files: list[Any], enc: Encoding, format: str, bos: int | None,
                  eos: int | None, shard_tokens: int) -> dict[str, Any]:
    """A run's manifest before any shard: what the run is (format, tokenizer, options,
    sources), with no shards. One builder for every mode of ``encode``, so that the same
    run gives the same bytes."""
    return {
        "bpekit_manifest": MANIFEST_VERSION,
        "format": format,
        "dtype": None,
        "tokenizer": {"vocab_size": enc.n_vocab, "sha256": hashlib.sha256(enc.to_bytes()).hexdigest()},
        "options": {
            "bos": bos,
            "eos": eos,
            "shard_tokens": shard_tokens,
            "sources": [s.path for s in files],
            "input": corpus.options(),
        },
        "shards": [],
        "documents": 0,
        "tokens": 0,
        "complete": False,
    }


def file_sha256(path: str) -> str:
    """The hex SHA-256 of a file's bytes, read in blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            block = f.read(1 << 20)
            if not block:
                return h.hexdigest()
            h.update(block)


def shard_entry(writer: _Writer, i: int, prefix: str) -> dict[str, Any]:
    """The manifest entry of the writer's completed shard ``i``: ``index``, ``files``
    (names in the output directory), ``tokens``, ``documents`` and ``sha256`` (of each
    file, in the order of ``files``), read after the shard is complete under its final
    names."""
    e = writer.shard(i)
    d = os.path.dirname(os.path.abspath(prefix))
    e["sha256"] = [file_sha256(os.path.join(d, f)) for f in e["files"]]
    return e


class _Writer:
    """A ``bpekit_shard_writer`` (freed, its temporary files removed, on close)."""

    def __init__(self, enc: Encoding, fmt: str, prefix: str, shard_tokens: int, first_shard: int,
                 bos: int | None, eos: int | None) -> None:
        o = ffi.new("bpekit_shard_options *")
        f, p = fmt.encode(), os.fsencode(prefix)
        self._keep = [f, p]
        o.format, o.format_len = ffi.from_buffer("uint8_t[]", f), len(f)
        o.prefix, o.prefix_len = ffi.from_buffer("uint8_t[]", p), len(p)
        self._keep += [o.format, o.prefix]
        o.shard_tokens, o.first_shard = shard_tokens, first_shard
        o.bos = -1 if bos is None else bos
        o.eos = -1 if eos is None else eos
        out = ffi.new("bpekit_shard_writer **")
        rustcall(lib.bpekit_shard_writer_new, enc._ptr, o, out)
        self._ptr = ffi.gc(out[0], lib.bpekit_shard_writer_free)

    def push(self, enc: Encoding, b: Batch, threads: int) -> None:
        rustcall(lib.bpekit_shard_writer_push, self._ptr, enc._ptr, *b.c_args(), threads)

    def push_ids(self, ids: Any, offsets: Any) -> None:
        """Appends documents already encoded: document ``i`` is
        ``ids[offsets[i]:offsets[i + 1]]`` (NumPy uint32 ids, uint64 offsets, both
        C-contiguous; passed without a copy), each written as BOS + ids + EOS."""
        n_docs = len(offsets) - 1 if len(offsets) else 0
        idp = ffi.from_buffer("uint32_t[]", ids) if len(ids) else ffi.NULL
        offp = ffi.from_buffer("uint64_t[]", offsets) if len(offsets) else ffi.NULL
        rustcall(lib.bpekit_shard_writer_push_ids, self._ptr, idp, len(ids), offp, n_docs)

    def finish(self) -> None:
        rustcall(lib.bpekit_shard_writer_finish, self._ptr)

    def completed(self) -> int:
        return int(lib.bpekit_shard_writer_completed(self._ptr))

    def shard(self, i: int) -> dict[str, Any]:
        r = ffi.new("bpekit_shard_record *")
        rustcall(lib.bpekit_shard_writer_shard, self._ptr, i, r)
        raw = bytes(ffi.buffer(r.paths, r.paths_len))
        files = [os.path.basename(os.fsdecode(p)) for p in raw.split(b"\0") if p]
        return {"index": int(r.index), "files": files, "tokens": int(r.tokens), "documents": int(r.documents)}

    def close(self) -> None:
        if self._ptr is not None:
            ffi.release(self._ptr)
            self._ptr = None


def shard_plan(shard_tokens: int, doc_tokens: Any, cursor: list[int]) -> Any:
    """The shard each document goes to by the rotation rule of ``shard_tokens`` (0: one
    shard), for documents of ``doc_tokens[i]`` tokens each (BOS/EOS included; a NumPy
    uint64 array), as a NumPy uint64 array. ``cursor`` is ``[index, tokens, documents]``
    of the open shard, updated in place, so that a plan can go on over the next
    documents (start at ``[0, 0, 0]``)."""
    np = _numpy("planning shards")

    doc_tokens = np.ascontiguousarray(doc_tokens, dtype=np.uint64)
    n = len(doc_tokens)
    out = np.empty(n, dtype=np.uint64)
    c = ffi.new("bpekit_shard_cursor *")
    c.index, c.tokens, c.documents = cursor
    tp = ffi.from_buffer("uint64_t[]", doc_tokens) if n else ffi.NULL
    op = ffi.from_buffer("uint64_t[]", out) if n else ffi.NULL
    rustcall(lib.bpekit_shard_plan, shard_tokens, tp, n, c, op)
    cursor[:] = [int(c.index), int(c.tokens), int(c.documents)]
    return out


def encode(
    corpus: Corpus,
    enc: Encoding,
    out_prefix: str | os.PathLike[str],
    *,
    format: str,
    bos: int | str | None = None,
    eos: int | str | None = None,
    shard_tokens: int = 0,
    threads: int | None = None,
    resume: bool = False,
    force: bool = False,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Encodes the documents of ``corpus`` with ``enc.encode_ordinary`` into token
    shards of ``format`` ("llmc", "megatron", "nanogpt", "npy") named after
    ``out_prefix``, and returns the manifest (also written to
    ``OUT_PREFIX.manifest.json``).

    Every document is ``bos + ids + eos`` (``bos``/``eos``: an id or a special token's
    text; nanogpt's ``eos`` defaults to ``<|endoftext|>``). ``shard_tokens`` > 0 cuts
    the output in shards of at most that many tokens (never inside a document). The
    files are the same whatever ``threads`` is. Each shard is written under a temporary
    name and renamed when complete. ``resume`` continues a run with the same options
    after its last complete shard; without it, an existing manifest is an error unless
    ``force`` (then that run's files are replaced).
    """
    if threads is not None and (not isinstance(threads, int) or threads < 0):
        raise CorpusError(f"threads must be a non-negative int, got {threads!r}")
    prefix = os.fspath(out_prefix)
    bos_id, eos_id = encode_args(enc, format, bos, eos, shard_tokens)
    files = corpus.files()  # source errors first
    manifest = manifest_head(corpus, files, enc, format, bos_id, eos_id, shard_tokens)
    mpath = manifest_path(prefix)
    skip = 0
    if os.path.exists(mpath):
        old = read_manifest(mpath)
        if resume:
            diff = _differences(
                {k: old.get(k) for k in ("format", "tokenizer", "options")},
                {k: manifest[k] for k in ("format", "tokenizer", "options")},
            )
            if diff:
                raise ManifestError(f"{mpath}: --resume with other options than the run it continues: " + "; ".join(diff))
            if old.get("complete"):
                return old
            manifest = old
            manifest["shards"] = list(old.get("shards", []))
            skip = sum(int(s["documents"]) for s in manifest["shards"])
        elif force:
            _clean(prefix, set())  # every shard and temporary file of this prefix
            os.unlink(mpath)
        else:
            raise ManifestError(f"{mpath} exists: --resume to continue, --force to overwrite")
    if resume:  # the shards of the manifest stay; what an interrupted run left goes
        _clean(prefix, {f for s in manifest["shards"] for f in s["files"]})
    else:  # files of this prefix that no manifest lists are not ours to remove
        _clean(prefix, None)

    writer = _Writer(enc, format, prefix, shard_tokens, len(manifest["shards"]), bos_id, eos_id)
    try:
        recorded = 0

        def record() -> None:
            nonlocal recorded
            done = writer.completed()
            if done == recorded:
                return
            for i in range(recorded, done):
                manifest["shards"].append(shard_entry(writer, i, prefix))
            recorded = done
            _settle(manifest, prefix)
            write_json_atomic(mpath, manifest)

        # The manifest is written once a shard is complete (a run that fails before
        # leaves no file: there is nothing to resume) and at the end.
        with _progress("encoding", corpus, progress) as bar:
            for b in prefetch(corpus.batches()):
                if skip:
                    k = min(skip, b.n)
                    skip -= k
                    b = b.tail(k)
                    if not b.n:
                        continue
                writer.push(enc, b, threads or 0)
                record()
                bar.update(b.raw_done, b.first + b.n)
        if skip:
            raise CorpusError(
                f"--resume: the manifest lists {skip} more documents than the corpus has; the sources changed"
            )
        writer.finish()
        record()
        manifest["complete"] = True
        write_json_atomic(mpath, manifest)
        return manifest
    finally:
        writer.close()


def _settle(m: dict[str, Any], prefix: str) -> None:
    """Fills what a manifest takes from its shards: the dtype (the core chose it; the
    first shard's header says which) and the totals."""
    if m["dtype"] is None and m["shards"]:
        first = m["shards"][0]["files"][0]
        m["dtype"] = shard_info(os.path.join(os.path.dirname(prefix), first), m["format"])["dtype"]
    m["documents"] = sum(int(s["documents"]) for s in m["shards"])
    m["tokens"] = sum(int(s["tokens"]) for s in m["shards"])

