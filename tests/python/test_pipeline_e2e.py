"""The corpus pipeline end to end (issue 15, "Checked by"): corpus files -> `bpekit train`
-> `bpekit encode` in every shard format -> read back by readers written here from each
format's own documentation -> every document's ids equal `Encoding.encode_ordinary` (with
BOS/EOS) -> `bpekit decode` gives the text back. Then determinism (threads, shard sizes) and
interrupted runs (SIGKILL, SIGINT) continued with `--resume`.

The command runs as a user runs it, `python -m bpekit ...` in a subprocess. The documents a
command should see are computed here from the raw bytes with plain Python (`str.split`,
`json`), never with bpekit's corpus code; the ids are compared with the in-memory
`Encoding`. Small project-owned fixtures are in tests/fixtures/corpus/ (their README says
what each one exercises); the larger corpora for sharding and interruption are generated in
a temporary directory, from ../shared/data when present, else synthetic.

tests/python/test_pipeline_bad_input.py imports the helpers of this module.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import json
import lzma
import os
import random
import signal
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

import numpy as np
import pytest

import bpekit
from conftest import DATA, ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "corpus"
FORMATS = ("llmc", "megatron", "nanogpt", "npy")
SPECIALS = ["<|endoftext|>", "<|bos|>"]
VOCAB = 320  # 256 bytes + 62 merges + 2 special tokens: small, but every fixture has the pairs
# A guard against a hung command, never a timing assertion.
CMD_TIMEOUT = 300


# ==== Running the command ====


def bpekit_cmd(*args: object, stdin: bytes | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Runs `python -m bpekit ARGS...` to completion; stdout and stderr are captured (so
    neither is a terminal and no progress is drawn). The command finds OpenAI's rank files
    where the tests do (DATA), however BPEKIT_DATA is set."""
    return subprocess.run(
        [sys.executable, "-m", "bpekit", *(str(a) for a in args)],
        input=stdin if stdin is not None else b"",
        capture_output=True,
        cwd=cwd,
        timeout=CMD_TIMEOUT,
        env={**os.environ, "BPEKIT_DATA": str(DATA)},
    )


def ok(*args: object, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    """`bpekit_cmd` that must succeed."""
    r = bpekit_cmd(*args, stdin=stdin)
    assert r.returncode == 0, (
        f"bpekit {' '.join(map(str, args))} exited with {r.returncode}:\n{r.stderr.decode('utf-8', 'replace')}"
    )
    return r


def ok_json(*args: object, stdin: bytes | None = None) -> dict:
    """The one JSON object a `--json` command prints on stdout."""
    out = ok(*args, "--json", stdin=stdin).stdout.decode("utf-8")
    return json.loads(out)


# ==== Readers written from each format's documentation ====
#
# llm.c: dev/data/data_common.py `write_datafile` and llmc/dataloader.h: a header of 256
#   little-endian int32 (magic, version, token count, then zeros), then the tokens; magic
#   20240520 version 1 = uint16 tokens ("gpt-2"), 20240801 version 7 = uint32 ("llama-3").
# Megatron-LM: megatron/core/datasets/indexed_dataset.py `_IndexWriter`: `.idx` = b"MMIDIDX\0\0",
#   <Q version 1, <B dtype code (DType: 1 uint8, 2 int8, 3 int16, 4 int32, 5 int64,
#   6 float64, 7 float32, 8 uint16), <Q sequence count S, <Q document count D, int32[S]
#   lengths, int64[S] byte pointers into `.bin`, int64[D] document indices; `.bin` = tokens.
#   `DType.optimal_dtype(vocab)`: uint16 when vocab < 65500, else int32.
# nanoGPT: train.py reads `np.memmap(path, dtype=np.uint16, mode="r")`: raw tokens.
# NumPy: `np.load` reads `.npy`; what `np.save` writes is the reference for the bytes.

LLMC_DTYPES = {(20240520, 1): "<u2", (20240801, 7): "<u4"}
MEGATRON_DTYPES = {1: "u1", 2: "i1", 3: "<i2", 4: "<i4", 5: "<i8", 6: "<f8", 7: "<f4", 8: "<u2"}
SUFFIXES = {"llmc": [".bin"], "megatron": [".bin", ".idx"], "nanogpt": [".bin"], "npy": [".npy", ".docs.npy"]}


@dataclass
class Shard:
    dtype: np.dtype
    ids: np.ndarray
    doc_lengths: list[int] | None  # tokens per document, where the format records documents

    def documents(self) -> list[list[int]]:
        assert self.doc_lengths is not None
        ends = np.cumsum([0, *self.doc_lengths]).tolist()
        flat = self.ids.tolist()
        return [flat[a:b] for a, b in zip(ends, ends[1:])]


def read_llmc(path: Path) -> Shard:
    data = path.read_bytes()
    assert len(data) >= 1024, f"{path}: {len(data)} bytes, shorter than llm.c's 1024-byte header"
    header = np.frombuffer(data, dtype="<i4", count=256)
    key = (int(header[0]), int(header[1]))
    assert key in LLMC_DTYPES, f"{path}: magic/version {key} is not llm.c's"
    assert not header[3:].any(), f"{path}: header words 3..255 must be 0"
    dtype = np.dtype(LLMC_DTYPES[key])
    count = int(header[2])
    assert len(data) == 1024 + count * dtype.itemsize, f"{path}: {len(data)} bytes for {count} tokens"
    return Shard(dtype, np.frombuffer(data, dtype=dtype, offset=1024), None)


def read_megatron(prefix: Path) -> Shard:
    idx = Path(f"{prefix}.idx").read_bytes()
    pos = 0

    def field(fmt: str) -> tuple:
        nonlocal pos
        values = struct.unpack_from(fmt, idx, pos)
        pos += struct.calcsize(fmt)
        return values

    (magic,) = field("9s")
    assert magic == b"MMIDIDX\x00\x00", f"{prefix}.idx: magic {magic!r}"
    (version,) = field("<Q")
    assert version == 1
    (code,) = field("<B")
    assert code in MEGATRON_DTYPES, f"{prefix}.idx: dtype code {code}"
    dtype = np.dtype(MEGATRON_DTYPES[code])
    (n_seq,) = field("<Q")
    (n_doc_idx,) = field("<Q")
    lengths = field(f"<{n_seq}i")
    pointers = field(f"<{n_seq}q")
    doc_idx = field(f"<{n_doc_idx}q")
    assert pos == len(idx), f"{prefix}.idx: {len(idx) - pos} bytes after the document indices"
    data = Path(f"{prefix}.bin").read_bytes()
    expect = 0
    for i, (n, p) in enumerate(zip(lengths, pointers)):
        assert p == expect, f"sequence {i}: pointer {p}, expected {expect}"
        expect += n * dtype.itemsize
    assert expect == len(data), f"{prefix}.bin: {len(data)} bytes, the index describes {expect}"
    assert doc_idx[0] == 0 and doc_idx[-1] == n_seq and list(doc_idx) == sorted(doc_idx)
    docs = [sum(lengths[a:b]) for a, b in zip(doc_idx, doc_idx[1:])]
    return Shard(dtype, np.frombuffer(data, dtype=dtype), docs)


def read_nanogpt(path: Path) -> Shard:
    ids = np.memmap(path, dtype=np.uint16, mode="r") if path.stat().st_size else np.zeros(0, np.uint16)
    return Shard(np.dtype(np.uint16), np.asarray(ids), None)


def read_npy(prefix: Path) -> Shard:
    tokens_path, docs_path = Path(f"{prefix}.npy"), Path(f"{prefix}.docs.npy")
    ids = np.load(tokens_path)
    offsets = np.load(docs_path)
    for path, arr in ((tokens_path, ids), (docs_path, offsets)):
        buf = io.BytesIO()
        np.save(buf, arr)
        assert path.read_bytes() == buf.getvalue(), f"{path}: not the bytes numpy.save writes for its array"
    assert ids.ndim == 1 and ids.dtype in (np.dtype("<u2"), np.dtype("<u4")), f"{tokens_path}: {ids.dtype}"
    assert offsets.dtype == np.dtype("<u8") and offsets.ndim == 1
    assert offsets[0] == 0 and offsets[-1] == len(ids) and (np.diff(offsets.astype(np.int64)) >= 0).all()
    return Shard(ids.dtype, ids, np.diff(offsets).tolist())


def read_shard(fmt: str, prefix: Path) -> Shard:
    if fmt == "llmc":
        return read_llmc(Path(f"{prefix}.bin"))
    if fmt == "megatron":
        return read_megatron(prefix)
    if fmt == "nanogpt":
        return read_nanogpt(Path(f"{prefix}.bin"))
    return read_npy(prefix)


def shard_files(fmt: str, prefix: Path) -> list[Path]:
    return [Path(f"{prefix}{s}") for s in SUFFIXES[fmt]]


def expected_dtype(fmt: str, n_vocab: int) -> np.dtype:
    """The token dtype each format's own tools choose for this vocab (issue 15)."""
    if fmt == "megatron":
        return np.dtype("<u2" if n_vocab < 65500 else "<i4")
    return np.dtype("<u2" if n_vocab <= 1 << 16 else "<u4")


def expected_docs(enc: bpekit.Encoding, docs: list[str], bos: int | None, eos: int | None) -> list[list[int]]:
    pre = [] if bos is None else [bos]
    post = [] if eos is None else [eos]
    return [pre + enc.encode_ordinary(d) + post for d in docs]


def check_shard(fmt: str, prefix: Path, enc: bpekit.Encoding, docs: list[str], *, bos=None, eos=None) -> Shard:
    """Reads the shard at `prefix` and checks its dtype and every document's ids."""
    shard = read_shard(fmt, prefix)
    assert shard.dtype == expected_dtype(fmt, enc.n_vocab), f"{fmt}: dtype {shard.dtype} for vocab {enc.n_vocab}"
    want = expected_docs(enc, docs, bos, eos)
    if shard.doc_lengths is None:
        assert shard.ids.tolist() == list(chain.from_iterable(want)), f"{fmt}: the token stream differs"
    else:
        got = shard.documents()
        assert len(got) == len(want), f"{fmt}: {len(got)} documents, expected {len(want)}"
        for i, (g, w) in enumerate(zip(got, want)):
            assert g == w, f"{fmt}: document {i} ({docs[i][:50]!r}) has other ids"
    return shard


# ==== The documents a source holds, computed without bpekit ====


def lines_docs(text: str) -> list[str]:
    """Every line ("\\n" ends it; a "\\r" before the "\\n" is not part of it); a last line
    without "\\n" counts unless empty."""
    parts = text.split("\n")
    last = parts.pop()
    docs = [p[:-1] if p.endswith("\r") else p for p in parts]
    return docs + [last] if last else docs


def separator_docs(text: str, sep: str) -> list[str]:
    """The pieces between separators; empty pieces are not documents."""
    return [p for p in text.split(sep) if p]


def jsonl_docs(text: str, key: str) -> list[str]:
    """The string at the dotted `key` of each line's object; blank lines skipped."""
    out = []
    for line in text.split("\n"):
        if not line.strip():
            continue
        value = json.loads(line)
        for part in key.split("."):
            value = value[part]
        assert isinstance(value, str)
        out.append(value)
    return out


def nanochat_texts(docs: list[str], doc_cap: int, max_chars: int) -> list[str]:
    """nanochat's scripts/tok_train.py `text_iterator`, written out: each document cut to
    `doc_cap` characters, taken in order, and the stream stops right after the document
    that brings the total above `max_chars`."""
    out, nchars = [], 0
    for doc in docs:
        if len(doc) > doc_cap:
            doc = doc[:doc_cap]
        nchars += len(doc)
        out.append(doc)
        if nchars > max_chars:
            break
    return out


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_bytes().decode("utf-8")


def dir_docs() -> list[str]:
    """The docs/ fixture: one document per .txt file, in name order (the .csv is not read)."""
    return [p.read_bytes().decode("utf-8") for p in sorted((FIXTURES / "docs").glob("*.txt"))]


def compressed_copy(src: Path, dst_dir: Path, ext: str) -> Path:
    """`src` compressed by extension into dst_dir (skips, saying why, without zstandard)."""
    data = src.read_bytes()
    dst = dst_dir / f"{src.name}.{ext}"
    if ext == "gz":
        dst.write_bytes(gzip.compress(data))
    elif ext == "xz":
        dst.write_bytes(lzma.compress(data))
    elif ext == "bz2":
        dst.write_bytes(bz2.compress(data))
    elif ext == "zst":
        zstd = pytest.importorskip("zstandard", reason="zstandard is not installed: .zst sources untested")
        dst.write_bytes(zstd.ZstdCompressor().compress(data))
    else:
        raise ValueError(ext)
    return dst


PARQUET_TEXTS = [
    "Row group one, first row.", "Row group one: naïve café 🙂.", None, "Row group one, last row.",
    "Row group two: 東京 and Москва.", "Row group two: numbers 123 456 789.", "",
    "Row group two, last row.", "Row group three: tabs\tand\nnewlines.", "<|endoftext|> as text.",
]


def write_parquet(path: Path, texts: list[str | None], *, large: bool = False, row_group_size: int = 4) -> Path:
    """A parquet file with a string column `text` (large_string if `large`), an int64 column
    `n`, and several row groups; a None is a null (not a document)."""
    pa = pytest.importorskip("pyarrow", reason="pyarrow is not installed (bpekit[parquet]): parquet sources untested")
    import pyarrow.parquet as pq

    table = pa.table({
        "n": pa.array(range(len(texts)), pa.int64()),
        "text": pa.array(texts, pa.large_string() if large else pa.string()),
    })
    pq.write_table(table, path, row_group_size=row_group_size)
    assert pq.ParquetFile(path).num_row_groups >= 3
    return path


@dataclass
class Source:
    """Command-line source arguments, the documents they hold, and stdin bytes if any."""

    args: list[object]
    docs: list[str]
    stdin: bytes | None = None


def make_source(kind: str, tmp: Path) -> Source:
    prose, lines, records = FIXTURES / "prose.txt", FIXTURES / "lines.txt", FIXTURES / "records.jsonl"
    key = "meta.body.text"
    if kind == "txt-whole-dir":
        return Source([FIXTURES / "docs"], dir_docs())
    if kind == "txt-whole-glob":
        return Source([f"{FIXTURES / 'docs'}/*.txt"], dir_docs())
    if kind == "txt-lines":
        return Source([lines, "--lines"], lines_docs(fixture_text("lines.txt")))
    if kind == "txt-lines-two-files":
        return Source([lines, compressed_copy(lines, tmp, "gz"), "--lines"], lines_docs(fixture_text("lines.txt")) * 2)
    if kind == "txt-separator":
        return Source([prose, "--separator", "\n\n"], separator_docs(fixture_text("prose.txt"), "\n\n"))
    if kind == "jsonl-nested":
        return Source([records, "--text-key", key], jsonl_docs(fixture_text("records.jsonl"), key))
    if kind in ("txt.gz", "txt.xz", "txt.bz2"):
        return Source([compressed_copy(prose, tmp, kind[4:]), "--separator", "\n\n"],
                      separator_docs(fixture_text("prose.txt"), "\n\n"))
    if kind == "jsonl.zst":
        return Source([compressed_copy(records, tmp, "zst"), "--text-key", key], jsonl_docs(fixture_text("records.jsonl"), key))
    if kind in ("parquet", "parquet-large-string"):
        path = write_parquet(tmp / "rows.parquet", PARQUET_TEXTS, large=kind.endswith("large-string"))
        return Source([path, "--column", "text"], [t for t in PARQUET_TEXTS if t is not None])
    if kind == "stdin-jsonl":
        return Source(["-", "--input-format", "jsonl", "--text-key", key], jsonl_docs(fixture_text("records.jsonl"), key),
                      records.read_bytes())
    if kind == "stdin-txt-lines":
        return Source(["-", "--input-format", "txt", "--lines"], lines_docs(fixture_text("lines.txt")), lines.read_bytes())
    raise ValueError(kind)


SOURCE_KINDS = [
    "txt-whole-dir", "txt-whole-glob", "txt-lines", "txt-lines-two-files", "txt-separator", "jsonl-nested",
    "txt.gz", "txt.xz", "txt.bz2", "jsonl.zst", "parquet", "parquet-large-string", "stdin-jsonl", "stdin-txt-lines",
]


def all_fixture_docs() -> list[str]:
    return (separator_docs(fixture_text("prose.txt"), "\n\n") + lines_docs(fixture_text("lines.txt"))
            + jsonl_docs(fixture_text("records.jsonl"), "meta.body.text") + dir_docs())


@pytest.fixture(scope="module")
def tok(tmp_path_factory) -> tuple[bpekit.Encoding, Path]:
    """A tokenizer trained in memory on every fixture document, saved to a file."""
    enc = bpekit.train(all_fixture_docs(), VOCAB, special_tokens=SPECIALS)
    path = tmp_path_factory.mktemp("tok") / "fixtures.bpekit"
    enc.save(path)
    return enc, path


# ==== Sources -> train -> encode ====


@pytest.mark.parametrize("kind", SOURCE_KINDS)
def test_source_train_and_encode(kind, tmp_path):
    """Each kind of source: `bpekit train` writes the tokenizer `bpekit.train` makes from the
    same documents (byte for byte), and `bpekit encode` with it writes every document's
    ids, between BOS and EOS given as a special token's text and as an id."""
    src = make_source(kind, tmp_path)
    assert src.docs, "a source with no documents tests nothing"
    tok_path = tmp_path / "tok.bpekit"
    ok("train", *src.args, "--vocab-size", VOCAB, *chain.from_iterable(("--special", s) for s in SPECIALS),
       "-o", tok_path, stdin=src.stdin)
    want = bpekit.train(src.docs, VOCAB, special_tokens=SPECIALS)
    assert tok_path.read_bytes() == want.to_bytes(), "bpekit train and bpekit.train learned different tokenizers"

    enc = bpekit.load(tok_path)
    eos = enc.special_tokens["<|endoftext|>"]
    prefix = tmp_path / "out" / "shard"
    prefix.parent.mkdir()
    ok("encode", *src.args, "--tokenizer", tok_path, "--format", "npy", "--bos", "<|bos|>", "--eos", eos,
       "-o", prefix, stdin=src.stdin)
    check_shard("npy", prefix, enc, src.docs, bos=enc.special_tokens["<|bos|>"], eos=eos)
    assert sorted(p.name for p in prefix.parent.iterdir()) == ["shard.docs.npy", "shard.manifest.json", "shard.npy"]


@pytest.mark.parametrize("pattern", ["nanochat", r"\w+|\s+|[^\w\s]+"], ids=["name", "regex"])
def test_train_pattern_and_tiktoken_export(pattern, tmp_path):
    """`--pattern` takes a pattern's name or a regex, as `bpekit.train(pattern=...)`;
    `--tiktoken FILE` also writes the ranks in tiktoken's format."""
    docs = all_fixture_docs()
    src = tmp_path / "all.jsonl"
    src.write_text("".join(json.dumps({"text": d}) + "\n" for d in docs), encoding="utf-8")
    out, tt = tmp_path / "tok.bpekit", tmp_path / "tok.tiktoken"
    ok("train", src, "--vocab-size", 400, "--pattern", pattern, "--tiktoken", tt, "-o", out)
    regex = bpekit.NANOCHAT_PATTERN if pattern == "nanochat" else pattern
    want = bpekit.train(docs, 400, pattern=regex)
    assert out.read_bytes() == want.to_bytes()
    assert tt.read_bytes() == want.export_tiktoken()


def test_train_doc_cap_and_max_chars_follow_nanochat(tmp_path):
    """`--doc-cap`/`--max-chars` give the documents nanochat's loop gives: the budget runs
    across files, and the document that passes it is the last one taken."""
    second = tmp_path / "more.txt"
    second.write_text("".join(f"line {i}: déjà vu, 東京 {'x' * (i % 40)}\n" for i in range(200)), encoding="utf-8")
    docs = lines_docs(fixture_text("lines.txt")) + lines_docs(second.read_text(encoding="utf-8"))
    cap, budget = 25, 1500
    taken = nanochat_texts(docs, cap, budget)
    assert len(lines_docs(fixture_text("lines.txt"))) < len(taken) < len(docs), "the budget must stop in the second file"
    out = tmp_path / "tok.bpekit"
    ok("train", FIXTURES / "lines.txt", second, "--lines", "--doc-cap", cap, "--max-chars", budget,
       "--vocab-size", 300, "-o", out)
    assert out.read_bytes() == bpekit.train(taken, 300).to_bytes()

    # the same knobs through the Python API, with chunks far smaller than a file, so the
    # budget and the cap carry across chunk boundaries
    from bpekit.corpus import Corpus

    corpus = Corpus([str(FIXTURES / "lines.txt"), str(second)], lines=True, doc_cap=cap, max_chars=budget, chunk_bytes=64)
    assert list(corpus.texts()) == taken
    assert list(corpus.texts()) == taken, "a Corpus is restartable"
    assert corpus.documents == len(taken) and corpus.chars == sum(map(len, taken)) and corpus.skipped == 0

    # and encode applies them too
    enc = bpekit.load(out)
    prefix = tmp_path / "capped"
    ok("encode", FIXTURES / "lines.txt", second, "--lines", "--doc-cap", cap, "--max-chars", budget,
       "--tokenizer", out, "--format", "megatron", "-o", prefix)
    check_shard("megatron", prefix, enc, taken)


# ==== Every format ====


@pytest.mark.parametrize("markers", ["plain", "bos+eos"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_format_roundtrip(fmt, markers, tok, tmp_path):
    """Each format, read back by the reader written from its documentation; `bpekit info`,
    `bpekit.shards` and `bpekit decode` agree with it. nanoGPT's format always has the
    end-of-text id after each document (the default EOS)."""
    enc, tok_path = tok
    key = "meta.body.text"
    docs = jsonl_docs(fixture_text("records.jsonl"), key)
    prefix = tmp_path / "out"
    extra: list[object] = []
    bos = eos = None
    if markers == "bos+eos":
        bos, eos = enc.special_tokens["<|bos|>"], enc.special_tokens["<|endoftext|>"]
        extra = ["--bos", bos, "--eos", "<|endoftext|>"]
    elif fmt == "nanogpt":
        eos = enc.special_tokens["<|endoftext|>"]
    ok("encode", FIXTURES / "records.jsonl", "--text-key", key, "--tokenizer", tok_path, "--format", fmt, *extra,
       "-o", prefix)
    shard = check_shard(fmt, prefix, enc, docs, bos=bos, eos=eos)
    files = shard_files(fmt, prefix)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([p.name for p in files] + ["out.manifest.json"])

    # bpekit info, on the shard's first file
    info = ok_json("info", files[0])
    assert info["format"] == fmt
    assert np.dtype(info["dtype"]) == shard.dtype
    assert info["tokens"] == len(shard.ids)
    assert info["documents"] == (len(docs) if shard.doc_lengths is not None else None)

    # the Python readers
    from bpekit import shards

    opened = shards.open(files[0])
    assert opened.format == fmt and np.dtype(opened.dtype) == shard.dtype
    assert isinstance(opened.tokens, np.memmap) and not opened.tokens.flags.writeable
    assert np.array_equal(opened.tokens, shard.ids)
    if shard.doc_lengths is None:
        assert opened.doc_offsets is None
    else:
        assert opened.doc_offsets.dtype == np.uint64
        assert opened.doc_offsets.tolist() == np.cumsum([0, *shard.doc_lengths]).tolist()
        assert len(opened) == len(docs)
        assert [opened[i].tolist() for i in range(len(docs))] == shard.documents()
    assert shards.info(files[0])["tokens"] == len(shard.ids)
    assert {Path(f).name for f in shards.info(files[0])["files"]} == {p.name for p in files}

    # bpekit decode gives the text back (with the markers' text where there are markers)
    text = ok("decode", files[0], "--tokenizer", tok_path).stdout.decode("utf-8")
    assert text == enc.decode(shard.ids.tolist())
    if bos is None and eos is None:
        assert text == "".join(docs)
        if shard.doc_lengths is not None:
            lines = ok("decode", files[0], "--tokenizer", tok_path, "--jsonl").stdout.decode("utf-8").splitlines()
            decoded = [json.loads(x) for x in lines]
            assert [d["text"] if isinstance(d, dict) else d for d in decoded] == docs
    elif fmt == "nanogpt" and markers == "plain":
        assert text == "".join(d + "<|endoftext|>" for d in docs)


def _wide_tokenizer(path: Path) -> bpekit.Encoding:
    """A tokenizer of 65537 tokens (256 bytes and 65281 byte pairs), so its ids need more
    than 16 bits. The pair "45" has the last id, 65536: the fixture's "12345" is split into
    the pieces "123" and "45", so its ids use it."""
    pairs = [bytes([a, b]) for a in range(256) for b in range(256) if bytes([a, b]) != b"45"][: 65280] + [b"45"]
    ranks = {bytes([b]): b for b in range(256)}
    ranks.update((p, 256 + i) for i, p in enumerate(pairs))
    enc = bpekit.Encoding("wide", pat_str=bpekit.CL100K_PATTERN, mergeable_ranks=ranks, special_tokens={})
    assert enc.n_vocab == 65537
    enc.save(path)
    return enc


@pytest.fixture(scope="module")
def wide(tmp_path_factory) -> tuple[bpekit.Encoding, Path]:
    path = tmp_path_factory.mktemp("wide") / "wide.bpekit"
    return _wide_tokenizer(path), path


@pytest.mark.parametrize("fmt", ["llmc", "megatron", "npy"])
def test_wide_vocab_formats(fmt, wide, tmp_path):
    """A vocab of more than 16 bits: llm.c's uint32 header (20240801, version 7), Megatron's
    int32, NumPy's uint32 — and the id 65536 survives."""
    enc, tok_path = wide
    docs = lines_docs(fixture_text("lines.txt"))
    assert 65536 in chain.from_iterable(enc.encode_ordinary(d) for d in docs)
    prefix = tmp_path / "wide"
    ok("encode", FIXTURES / "lines.txt", "--lines", "--tokenizer", tok_path, "--format", fmt, "-o", prefix)
    shard = check_shard(fmt, prefix, enc, docs)
    assert shard.dtype.itemsize == 4


# ==== count, and the Python API against the command ====


def test_count_matches_encode_ordinary(tok):
    enc, tok_path = tok
    key = "meta.body.text"
    docs = jsonl_docs(fixture_text("records.jsonl"), key)
    want = [len(enc.encode_ordinary(d)) for d in docs]
    summary = ok_json("count", FIXTURES / "records.jsonl", "--text-key", key, "--tokenizer", tok_path)
    assert summary["documents"] == len(docs) and summary["tokens"] == sum(want)
    per_doc = ok("count", FIXTURES / "records.jsonl", "--text-key", key, "--tokenizer", tok_path, "--per-doc")
    assert [int(x) for x in per_doc.stdout.decode().split()] == want

    from bpekit.corpus import Corpus, count

    got = count(Corpus([str(FIXTURES / "records.jsonl")], text_key=key), enc, threads=2)
    flat = got.tolist() if isinstance(got, np.ndarray) else [int(v) for item in got for v in np.atleast_1d(item)]
    assert flat == want


def test_python_api_writes_what_the_command_writes(tok, tmp_path):
    """`bpekit.corpus.encode` and `bpekit encode` on the same corpus write the same bytes,
    and the manifest it returns is the one on disk."""
    from bpekit.corpus import Corpus, encode

    enc, tok_path = tok
    args = [FIXTURES / "lines.txt", FIXTURES / "docs" / "a.txt"]
    (tmp_path / "cli").mkdir()
    (tmp_path / "api").mkdir()
    ok("encode", *args, "--lines", "--tokenizer", tok_path, "--format", "megatron", "--eos", "<|endoftext|>",
       "--shard-tokens", 200, "-o", tmp_path / "cli" / "x")
    manifest = encode(Corpus([str(a) for a in args], lines=True), enc, str(tmp_path / "api" / "x"), format="megatron",
                      eos="<|endoftext|>", shard_tokens=200)
    assert manifest == json.loads((tmp_path / "api" / "x.manifest.json").read_text())
    assert manifest["complete"] is True
    assert_same_files(tmp_path / "cli", tmp_path / "api")
    docs = lines_docs(fixture_text("lines.txt")) + lines_docs(fixture_text("docs/a.txt"))
    got = list(chain.from_iterable(read_shard("megatron", tmp_path / "api" / Path(s["files"][0]).stem).documents()
                                   for s in manifest["shards"]))
    assert got == expected_docs(enc, docs, None, enc.special_tokens["<|endoftext|>"])


def test_corpus_layout_edges(tmp_path):
    """The contract's edge cases of the line and separator layouts, through `Corpus.texts()`."""
    from bpekit.corpus import Corpus

    f = tmp_path / "edges.txt"
    f.write_bytes(b"a\r\n\r\nb\n\nc\n")
    assert list(Corpus([str(f)], lines=True).texts()) == ["a", "", "b", "", "c"]
    f.write_bytes(b"a\r\nb")  # a last line without "\n" is a document
    assert list(Corpus([str(f)], lines=True).texts()) == ["a", "b"]
    g = tmp_path / "pieces.txt"
    g.write_bytes("||á||||b||".encode())
    assert list(Corpus([str(g)], separator="||").texts()) == ["á", "b"]


def test_empty_corpus_writes_one_empty_shard(tok, tmp_path):
    """A corpus without documents is not an error: unsharded, PREFIX.bin holds 0 tokens;
    sharded, the one shard PREFIX_000000 does."""
    enc, tok_path = tok
    src = tmp_path / "empty.jsonl"
    src.write_text("\n  \n\n", encoding="utf-8")
    for shard_tokens, name in ((0, "whole"), (100, "sharded")):
        prefix = tmp_path / name
        ok("encode", src, "--tokenizer", tok_path, "--format", "llmc", "--shard-tokens", shard_tokens, "-o", prefix)
        first = prefix if shard_tokens == 0 else Path(f"{prefix}_000000")
        assert len(read_llmc(Path(f"{first}.bin")).ids) == 0
        manifest = json.loads(Path(f"{prefix}.manifest.json").read_text())
        assert manifest["complete"] is True and manifest["documents"] == 0 and manifest["tokens"] == 0
        assert len(manifest["shards"]) == 1


# ==== Sharding and determinism ====


def generated_lines(target_bytes: int, seed: int) -> bytes:
    """About `target_bytes` of whole lines: the shared corpora's (english, code,
    multilingual in turn, from their starts) when present, else pseudo-random words with
    some non-ASCII."""
    names = [n for n in ("english", "code", "multilingual") if (DATA / f"{n}.txt.xz").exists()]
    if not names:
        rng = random.Random(seed)
        words = ["the", "shard", "token", "corpus", "writer", "naïve", "東京", "данные", "🙂", "x1", "42", "is",
                 "a", "and", "of", "def", "return", "{", "}", "(", ")", "encode", "ordinary", "merge", "pair"]
        block = "".join(" ".join(rng.choices(words, k=rng.randint(1, 40))) + "\n" for _ in range(20000)).encode()
        return block * (target_bytes // len(block) + 1)
    chunks, size = [], 0
    per = target_bytes // len(names) + 1
    while size < target_bytes:
        for n in names:
            with lzma.open(DATA / f"{n}.txt.xz", "rb") as f:
                raw = f.read(min(per, target_bytes - size))
            raw = raw[: raw.rfind(b"\n") + 1]
            if not raw:
                return b"".join(chunks)
            chunks.append(raw)
            size += len(raw)
    return b"".join(chunks)


@pytest.fixture(scope="module")
def medium(tmp_path_factory) -> tuple[Path, list[str]]:
    """~800 KB of lines; the first one and one in the middle are 100 KB long, so each fills
    a shard of its own."""
    d = tmp_path_factory.mktemp("medium")
    body = generated_lines(600_000, seed=1)
    lines = body.split(b"\n")
    long_line = b" ".join(lines[:5000])[:100_000]
    long_line = long_line[: long_line.rfind(b" ")]  # whole lines only: still UTF-8
    lines.insert(0, long_line)
    lines.insert(len(lines) // 2, long_line)
    data = b"\n".join(lines)
    path = d / "medium.txt"
    path.write_bytes(data)
    return path, lines_docs(data.decode("utf-8"))


_runs: dict[tuple, Path] = {}


def encode_run(tmp_root: Path, src: Path, tok_path: Path, fmt: str, shard_tokens: int, threads: int) -> Path:
    """The output directory of `bpekit encode SRC --lines ... -o DIR/shards` (each
    configuration runs once per session)."""
    key = (src, fmt, shard_tokens, threads)
    if key not in _runs:
        out = tmp_root / f"{fmt}-{shard_tokens}-{threads}"
        out.mkdir()
        ok("encode", src, "--lines", "--tokenizer", tok_path, "--format", fmt, "--eos", "<|endoftext|>",
           "--shard-tokens", shard_tokens, "--threads", threads, "-o", out / "shards")
        _runs[key] = out
    return _runs[key]


def assert_same_files(a: Path, b: Path) -> None:
    """The two directories hold the same file names with the same bytes (manifests: the
    contract's fields equal)."""
    names_a, names_b = sorted(p.name for p in a.iterdir()), sorted(p.name for p in b.iterdir())
    assert names_a == names_b
    for name in names_a:
        if name.endswith(".manifest.json"):
            ma, mb = (manifest_fields(json.loads((d / name).read_text())) for d in (a, b))
            assert ma == mb, f"{name}: manifests differ"
        else:
            assert (a / name).read_bytes() == (b / name).read_bytes(), f"{name} differs between {a} and {b}"


def manifest_fields(m: dict) -> dict:
    keys = ("bpekit_manifest", "format", "dtype", "tokenizer", "options", "shards", "documents", "tokens", "complete")
    return {k: m[k] for k in keys}


def plan_shards(doc_tokens: list[int], limit: int) -> list[list[int]]:
    """Documents per shard by the contract: a shard is closed before a document that would
    take it over `limit`; a document longer than `limit` fills a shard of its own."""
    shards: list[list[int]] = [[]]
    for n in doc_tokens:
        if shards[-1] and sum(shards[-1]) + n > limit:
            shards.append([])
        shards[-1].append(n)
    return shards


SHARD_TOKENS = 30_000


def test_shards_follow_the_plan_and_the_manifest(medium, tok, tmp_path_factory):
    """--shard-tokens: shard names, the documents in each shard and the manifest, as the
    contract says; each shard is a complete file of its format."""
    src, docs = medium
    enc, tok_path = tok
    eos = enc.special_tokens["<|endoftext|>"]
    out = encode_run(tmp_path_factory.getbasetemp(), src, tok_path, "npy", SHARD_TOKENS, 2)
    want = expected_docs(enc, docs, None, eos)
    plan = plan_shards([len(x) for x in want], SHARD_TOKENS)
    assert len(plan) > 5 and any(len(s) == 1 and s[0] > SHARD_TOKENS for s in plan)
    manifest = json.loads((out / "shards.manifest.json").read_text())
    assert manifest["bpekit_manifest"] == 1 and manifest["complete"] is True
    assert manifest["format"] == "npy" and manifest["dtype"] == "uint16"
    assert manifest["tokenizer"] == {"vocab_size": enc.n_vocab, "sha256": hashlib.sha256(enc.to_bytes()).hexdigest()}
    assert manifest["options"]["shard_tokens"] == SHARD_TOKENS
    assert manifest["options"]["eos"] == eos and manifest["options"]["bos"] is None
    assert manifest["documents"] == len(docs) and manifest["tokens"] == sum(map(len, want))
    names = [f"shards_{i:06d}" for i in range(len(plan))]
    assert [s["index"] for s in manifest["shards"]] == list(range(len(plan)))
    assert [s["files"] for s in manifest["shards"]] == [[n + ".npy", n + ".docs.npy"] for n in names]
    assert [s["documents"] for s in manifest["shards"]] == [len(s) for s in plan]
    assert [s["tokens"] for s in manifest["shards"]] == [sum(s) for s in plan]
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["shards.manifest.json"] + [n + s for n in names for s in (".npy", ".docs.npy")])
    got = list(chain.from_iterable(read_npy(out / n).documents() for n in names))
    assert got == want


@pytest.mark.parametrize("fmt,shard_tokens", [("llmc", SHARD_TOKENS), ("megatron", 0), ("nanogpt", SHARD_TOKENS)])
def test_threads_do_not_change_the_bytes(fmt, shard_tokens, medium, tok, tmp_path_factory):
    src, _ = medium
    _, tok_path = tok
    root = tmp_path_factory.getbasetemp()
    assert_same_files(encode_run(root, src, tok_path, fmt, shard_tokens, 1),
                      encode_run(root, src, tok_path, fmt, shard_tokens, 2))


def test_shard_size_only_cuts_the_stream(medium, tok, tmp_path_factory):
    """Whatever --shard-tokens, the shards in order hold the same tokens as one unsharded
    file."""
    src, _ = medium
    _, tok_path = tok
    root = tmp_path_factory.getbasetemp()
    streams = []
    for shard_tokens in (0, SHARD_TOKENS, 7_000):
        out = encode_run(root, src, tok_path, "llmc", shard_tokens, 2)
        manifest = json.loads((out / "shards.manifest.json").read_text())
        parts = [read_llmc(out / s["files"][0]).ids for s in manifest["shards"]]
        streams.append(np.concatenate(parts) if parts else np.zeros(0, np.uint16))
    assert np.array_equal(streams[0], streams[1]) and np.array_equal(streams[0], streams[2])


# ==== Interrupted runs and --resume ====

# Big enough that the run goes on well after its first shard completes (the input is read
# in chunks of 16 MiB, so several chunks), small enough for a few seconds per run.
BIG_BYTES = 48 << 20
BIG_SHARD_TOKENS = 1 << 20


@pytest.fixture(scope="module")
def big(tmp_path_factory) -> tuple[Path, Path]:
    """A ~48 MiB corpus of lines (shared data or synthetic) and a 1024-token tokenizer."""
    d = tmp_path_factory.mktemp("big")
    data = generated_lines(BIG_BYTES, seed=2)
    path = d / "big.txt"
    path.write_bytes(data)
    enc = bpekit.train(data[: 1 << 20].decode("utf-8", "replace").split("\n"), 1024, special_tokens=["<|endoftext|>"])
    tok_path = d / "big.bpekit"
    enc.save(tok_path)
    return path, tok_path


def big_args(src: Path, tok_path: Path, out: Path, threads: int) -> list[object]:
    return ["encode", src, "--lines", "--tokenizer", tok_path, "--format", "llmc", "--eos", "<|endoftext|>",
            "--shard-tokens", BIG_SHARD_TOKENS, "--threads", threads, "-o", out / "shards"]


@pytest.fixture(scope="module")
def big_reference(big, tmp_path_factory) -> Path:
    """The uninterrupted run, on 2 threads."""
    src, tok_path = big
    out = tmp_path_factory.mktemp("big-reference")
    ok(*big_args(src, tok_path, out, 2))
    manifest = json.loads((out / "shards.manifest.json").read_text())
    assert manifest["complete"] is True and len(manifest["shards"]) > 4
    return out


def interrupt(args: list[object], out: Path, sig: int) -> subprocess.CompletedProcess:
    """Starts the command, waits (polling) until its manifest lists a first shard, sends
    `sig`, and returns the finished process."""
    manifest = out / "shards.manifest.json"
    # (a shell's background job starts with SIGINT ignored, and Python then keeps it
    # ignored: the command gets the default disposition, as from a terminal)
    proc = subprocess.Popen([sys.executable, "-m", "bpekit", *map(str, args)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + CMD_TIMEOUT
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the run ended (exit {proc.returncode}) before its manifest listed a shard; "
                            f"stderr: {proc.stderr.read().decode('utf-8', 'replace')}")
            if manifest.exists() and json.loads(manifest.read_text())["shards"]:
                break
            assert time.monotonic() < deadline, "no shard in the manifest within the deadline"
            time.sleep(0.002)
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=CMD_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def check_nothing_partial(out: Path, reference: Path) -> None:
    """After an interruption: the manifest is whole, says incomplete and lists a prefix of
    the uninterrupted run's shards, all present; every file under a final name is one of
    the uninterrupted run's shard files with the same bytes (a complete shard). Shards
    after the listed ones may be there too: the core renames a shard's files as it
    completes it, inside a call, and the manifest is rewritten when the call returns, so an
    interruption in between leaves complete shards the manifest does not list yet
    (`--resume` removes them and writes them again)."""
    manifest = json.loads((out / "shards.manifest.json").read_text())
    assert manifest["complete"] is False
    listed = manifest["shards"]
    ref_shards = json.loads((reference / "shards.manifest.json").read_text())["shards"]
    assert 1 <= len(listed) < len(ref_shards), "interrupted after the first shard and before the last"
    assert listed == ref_shards[: len(listed)]
    for s in listed:
        for f in s["files"]:
            assert (out / f).exists(), f"the manifest lists {f}, which is not there"
    ref_files = {f for s in ref_shards for f in s["files"]}
    for p in out.iterdir():
        if p.name.startswith(".") or p.name == "shards.manifest.json":
            continue
        assert p.name in ref_files, f"{p.name} is under a final name but is no shard of the run"
        assert p.read_bytes() == (reference / p.name).read_bytes(), f"{p.name} is under a final name but partial"


def test_sigkill_then_resume(big, big_reference, tmp_path):
    src, tok_path = big
    args = big_args(src, tok_path, tmp_path, 1)
    r = interrupt(args, tmp_path, signal.SIGKILL)
    assert r.returncode == -signal.SIGKILL
    check_nothing_partial(tmp_path, big_reference)
    ok(*args, "--resume")
    assert_same_files(tmp_path, big_reference)


def test_sigint_cleans_up_then_resume(big, big_reference, tmp_path):
    """Ctrl-C: the command stops with an error status, and removes its temporary files."""
    src, tok_path = big
    args = big_args(src, tok_path, tmp_path, 1)
    r = interrupt(args, tmp_path, signal.SIGINT)
    assert r.returncode != 0
    assert b"Traceback" not in r.stderr, r.stderr.decode("utf-8", "replace")
    check_nothing_partial(tmp_path, big_reference)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [], "temporary files left behind"
    ok(*args, "--resume")
    assert_same_files(tmp_path, big_reference)


def test_resume_of_a_complete_run_does_nothing(medium, tok, tmp_path):
    src, _ = medium
    _, tok_path = tok
    args = ["encode", src, "--lines", "--tokenizer", tok_path, "--format", "megatron", "--shard-tokens", SHARD_TOKENS,
            "-o", tmp_path / "shards"]
    ok(*args)
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.iterdir()}
    ok(*args, "--resume")
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.iterdir()} == before
