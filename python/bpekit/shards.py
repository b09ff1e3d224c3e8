"""Reading token shards written by ``bpekit encode`` (or by the tools whose formats it
writes): llm.c ``.bin``, Megatron ``.bin`` + ``.idx``, nanoGPT raw ``.bin``, NumPy
``.npy`` (+ ``.docs.npy``).

:func:`open` memory-maps the tokens (nothing is read until used) and reads the document
boundaries when the format records them; the library checks the headers.

>>> s = open("data/train_000000.bin")            # doctest: +SKIP
>>> s.format, s.dtype, len(s.tokens), len(s)     # doctest: +SKIP
('llmc', 'uint16', 1048576, None)
"""

from __future__ import annotations

import os
from typing import Any

from ._lowlevel import ffi, lib, rustcall
from .corpus import _numpy

__all__ = ["Shard", "info", "open"]

#: dtype name -> NumPy dtype string (every format stores little-endian)
_DTYPES = {"uint16": "<u2", "uint32": "<u4", "int32": "<i4"}
#: the files a shard may have, after its prefix
_SUFFIXES = (".bin", ".idx", ".npy", ".docs.npy")


def _prefix(path: str) -> str:
    for suffix in (".docs.npy", ".npy", ".bin", ".idx"):
        if path.endswith(suffix):
            return path[: -len(suffix)]
    return path


def _files(path: str, fmt: str) -> list[str]:
    p = _prefix(path)
    want = {"llmc": (".bin",), "nanogpt": (".bin",), "megatron": (".bin", ".idx"), "npy": (".npy", ".docs.npy")}
    return [p + s for s in want.get(fmt, _SUFFIXES) if os.path.exists(p + s)]


def _raw_info(path: str | os.PathLike[str], format: str | None) -> tuple[dict[str, Any], str]:
    raw = os.fsencode(path)
    f = (format or "").encode()
    out = ffi.new("bpekit_shard_info *")
    tf = ffi.new("bpekit_bytes *")
    rustcall(lib.bpekit_shard_read_info, raw, len(raw), f or ffi.NULL, len(f), out, tf)
    from ._marshal import take_bytes

    tokens_file = os.fsdecode(take_bytes(tf))
    documents = int(out.documents)
    d = {
        "format": ffi.string(out.format).decode(),
        "dtype": ffi.string(out.dtype).decode(),
        "tokens": int(out.tokens),
        "documents": None if documents == 2**64 - 1 else documents,
        "data_offset": int(out.data_offset),
    }
    return d, tokens_file


def info(path: str | os.PathLike[str], format: str | None = None) -> dict[str, Any]:
    """A shard's ``format``, ``dtype``, ``tokens``, ``documents`` (None when the format
    records none) and ``files``, from its headers. ``path`` is the shard's prefix or
    any of its files; ``format`` None tells it from the files."""
    d, _ = _raw_info(path, format)
    d.pop("data_offset")
    d["files"] = _files(os.fspath(path), d["format"])
    return d


def _documents(path: str | os.PathLike[str], format: str) -> Any:
    np = _numpy("reading shards")

    raw = os.fsencode(path)
    f = format.encode()
    out = ffi.new("bpekit_offsets *")
    rustcall(lib.bpekit_shard_documents, raw, len(raw), f, len(f), out)
    try:
        if out.len == 0:
            return None
        return np.frombuffer(ffi.buffer(out.data, out.len * ffi.sizeof("size_t")), dtype=np.uintp).astype(np.uint64)
    finally:
        lib.bpekit_offsets_free(out)


class Shard:
    """One shard: ``tokens`` (a read-only NumPy memmap), ``doc_offsets`` (uint64,
    ``documents + 1`` token offsets, or None when the format records no documents),
    ``format``, ``dtype``, ``files``. ``len(shard)`` is the number of documents and
    ``shard[i]`` document ``i``'s ids (formats that record documents)."""

    def __init__(self, path: str | os.PathLike[str], format: str | None = None) -> None:
        np = _numpy("reading shards")

        d, tokens_file = _raw_info(path, format)
        self.path = os.fspath(path)
        self.format: str = d["format"]
        self.dtype: str = d["dtype"]
        self.files = _files(self.path, self.format)
        n = d["tokens"]
        dt = np.dtype(_DTYPES[self.dtype])
        if n == 0:
            self.tokens = np.zeros(0, dtype=dt)
        else:
            self.tokens = np.memmap(tokens_file, dtype=dt, mode="r", offset=d["data_offset"], shape=(n,))
        self.doc_offsets = _documents(path, self.format) if d["documents"] is not None else None

    def __repr__(self) -> str:
        docs = "" if self.doc_offsets is None else f", {len(self)} documents"
        return f"<Shard {self.path!r} {self.format} {self.dtype}, {len(self.tokens)} tokens{docs}>"

    def __len__(self) -> int:
        if self.doc_offsets is None:
            raise TypeError(f"{self.path}: {self.format} shards record no document boundaries (use .tokens)")
        return len(self.doc_offsets) - 1

    def __getitem__(self, i: int) -> Any:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"document {i} of {n}")
        i %= n
        assert self.doc_offsets is not None
        return self.tokens[int(self.doc_offsets[i]) : int(self.doc_offsets[i + 1])]

    def __iter__(self) -> Any:
        return (self[i] for i in range(len(self)))


def open(path: str | os.PathLike[str], format: str | None = None) -> Shard:  # noqa: A001
    """Opens a shard for reading (see :class:`Shard`)."""
    return Shard(path, format)

