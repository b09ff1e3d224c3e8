"""bpekit.corpus: finding sources, reading them in chunks cut at record boundaries,
compression, Parquet row groups, stdin, and the corpus knobs (errors, doc_cap,
max_chars). The end-to-end pipeline is tested in test_pipeline_e2e.py."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import os
import sys

import pytest

import bpekit
from bpekit._lowlevel import lib
from bpekit.corpus import Corpus, CorpusError, MissingExtraError, _cut, discover

CHUNKS = (1, 2, 7, 64, 16 << 20)


def docs(corpus: Corpus) -> list[str]:
    return list(corpus.texts())


def write(path, data: bytes) -> str:
    with open(path, "wb") as f:
        f.write(data)
    return str(path)


# ==== Discovery ====


def test_discover_file_dir_glob_in_order(tmp_path):
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / ".hidden").mkdir()
    write(tmp_path / "d" / "b.txt", b"b")
    write(tmp_path / "d" / "a.jsonl", b"{}")
    write(tmp_path / "d" / "sub" / "c.txt.gz", gzip.compress(b"c"))
    write(tmp_path / "d" / ".hidden" / "h.txt", b"h")
    write(tmp_path / "d" / "notes.csv", b"x")
    write(tmp_path / "d" / ".x.txt", b"x")
    found = discover([str(tmp_path / "d")])
    names = [os.path.relpath(s.path, tmp_path / "d") for s in found]
    assert names == ["a.jsonl", "b.txt", os.path.join("sub", "c.txt.gz")]
    assert [(s.format, s.compression) for s in found] == [("jsonl", None), ("txt", None), ("txt", "gzip")]
    g = discover([str(tmp_path / "d" / "*.txt"), str(tmp_path / "d" / "a.jsonl")])
    assert [os.path.basename(s.path) for s in g] == ["b.txt", "a.jsonl"]


def test_discover_errors_name_the_source(tmp_path):
    with pytest.raises(CorpusError, match="nope.txt: no such file"):
        discover([str(tmp_path / "nope.txt")])
    (tmp_path / "empty").mkdir()
    write(tmp_path / "empty" / "x.csv", b"")
    with pytest.raises(CorpusError, match="empty: directory has no"):
        discover([str(tmp_path / "empty")])
    with pytest.raises(CorpusError, match=r"\*\.txt: no files match"):
        discover([str(tmp_path / "*.txt")])
    write(tmp_path / "data.csv", b"x")
    with pytest.raises(CorpusError, match="data.csv: cannot tell the input format.*--input-format"):
        discover([str(tmp_path / "data.csv")])
    assert discover([str(tmp_path / "data.csv")], "txt")[0].format == "txt"
    with pytest.raises(CorpusError, match="unknown input format"):
        discover([str(tmp_path / "data.csv")], "csv")


def test_missing_source_fails_before_reading(tmp_path):
    good = write(tmp_path / "a.txt", b"x")
    c = Corpus([good, str(tmp_path / "missing.txt")])
    with pytest.raises(CorpusError, match="missing.txt"):
        next(c.batches())


# ==== Chunks cut at record boundaries ====

TEXT = "héllo wörld\r\nsecond line 🙂\n\nfourth\n\n\nafter three\n" * 7 + "no newline at the end"


@pytest.mark.parametrize("chunk", CHUNKS)
def test_lines_same_documents_at_every_chunk_size(tmp_path, chunk):
    p = write(tmp_path / "a.txt", TEXT.encode())
    want = TEXT.replace("\r\n", "\n").split("\n")
    assert docs(Corpus(p, lines=True, chunk_bytes=chunk)) == want


def _sep_split(text: str, sep: str) -> list[str]:
    return [piece for piece in text.split(sep) if piece]  # str.split scans left to right


@pytest.mark.parametrize("chunk", CHUNKS)
@pytest.mark.parametrize("sep", ["\n\n", "aba", "§"])
def test_separator_same_documents_at_every_chunk_size(tmp_path, chunk, sep):
    text = TEXT + "xxabababaxx ababa aba abaaba" * 3
    p = write(tmp_path / "a.txt", text.encode())
    assert docs(Corpus(p, separator=sep, chunk_bytes=chunk)) == _sep_split(text, sep)


@pytest.mark.parametrize("sep", [b"\n\n", b"aa", b"aba", b"abab"])
def test_cut_is_after_a_left_to_right_match(sep):
    """The chunk's documents plus the rest's equal the whole buffer's, whatever the
    buffer (separators that overlap themselves included)."""
    for data in [b"a\n\n\nb", b"aaaaa", b"xabababay", b"ababab", b"abaaba" * 3, b"no sep"]:
        whole = _sep_split(data.decode(), sep.decode())
        for n in range(len(data) + 1):
            prefix = data[:n]
            c = _cut(prefix, lib.BPEKIT_LAYOUT_SEPARATOR, sep)
            if c == 0:
                continue
            assert prefix[:c].endswith(sep)
            got = _sep_split(data[:c].decode(), sep.decode()) + _sep_split(data[c:].decode(), sep.decode())
            assert got == whole, (data, n, c)


@pytest.mark.parametrize("chunk", CHUNKS)
def test_jsonl_nested_key_at_every_chunk_size(tmp_path, chunk):
    rows = [{"meta": {"body": f"doc {i} ✓ " + "x" * i}, "n": i} for i in range(30)]
    data = "".join(json.dumps(r, ensure_ascii=i % 2 == 0) + ("\r\n" if i % 3 else "\n") for i, r in enumerate(rows))
    data += "   \n\n"  # blank lines are skipped
    p = write(tmp_path / "a.jsonl", data.encode())
    assert docs(Corpus(p, text_key="meta.body", chunk_bytes=chunk)) == [r["meta"]["body"] for r in rows]


def test_whole_file_per_document_and_restartable(tmp_path):
    write(tmp_path / "a.txt", b"first file\n\nwith lines\n")
    write(tmp_path / "b.txt", "second 🙂".encode())
    write(tmp_path / "c.txt", b"")
    c = Corpus(str(tmp_path), chunk_bytes=3)
    assert docs(c) == ["first file\n\nwith lines\n", "second 🙂", ""]
    assert (c.documents, c.bytes, c.chars) == (3, 34, 31)
    assert docs(c) == ["first file\n\nwith lines\n", "second 🙂", ""]  # a second pass reads again


def test_batches_carry_buffers_and_spans(tmp_path):
    p = write(tmp_path / "a.txt", b"one\ntwo\nthree\n")
    (b,) = list(Corpus(p, lines=True).batches())
    assert len(b) == 3 and b.first == 0 and b.source == p
    assert [bytes(b.data[b.spans[2 * i] : b.spans[2 * i + 1]]) for i in range(3)] == [b"one", b"two", b"three"]
    assert [b.doc(i) for i in range(1, 3)] == [b.tail(1).doc(0), b.tail(1).doc(1)]


# ==== Compression ====


def _zstd(data: bytes) -> bytes:
    zstd = pytest.importorskip("zstandard")
    return zstd.ZstdCompressor().compress(data)


@pytest.mark.parametrize(
    "ext,compress",
    [(".gz", gzip.compress), (".xz", lzma.compress), (".bz2", bz2.compress), (".zst", _zstd)],
)
def test_compressed_sources_give_the_same_documents(tmp_path, ext, compress):
    raw = TEXT.encode()
    plain = write(tmp_path / "a.txt", raw)
    packed = write(tmp_path / f"b.txt{ext}", compress(raw))
    for chunk in (5, 1 << 20):
        assert docs(Corpus(packed, lines=True, chunk_bytes=chunk)) == docs(Corpus(plain, lines=True))


def test_zst_without_zstandard_names_the_extra(tmp_path, monkeypatch):
    p = write(tmp_path / "a.txt.zst", b"\x28\xb5\x2f\xfd")
    monkeypatch.setitem(sys.modules, "zstandard", None)  # import fails
    with pytest.raises(MissingExtraError, match=r"a.txt.zst.*pip install 'bpekit\[zstd\]'"):
        docs(Corpus(p))


@pytest.mark.parametrize("ext,compress", [(".gz", gzip.compress), (".xz", lzma.compress), (".bz2", bz2.compress)])
def test_damaged_compressed_file_is_an_error_naming_it(tmp_path, ext, compress):
    good = compress(b"line\n" * 1000)
    p = write(tmp_path / f"a.txt{ext}", good[: len(good) // 2])
    with pytest.raises(CorpusError, match=rf"a.txt{ext}: cannot read the \w+ data after byte \d+"):
        docs(Corpus(p, lines=True, chunk_bytes=64))


# ==== stdin ====


def test_stdin(monkeypatch):
    class In:
        buffer = io.BytesIO(b'{"text": "a"}\n{"text": "b"}\n')

    monkeypatch.setattr(sys, "stdin", In)
    c = Corpus("-", input_format="jsonl")
    assert docs(c) == ["a", "b"]
    assert c.files()[0].name == "<stdin>"


# ==== Parquet ====


@pytest.fixture
def pa():
    return pytest.importorskip("pyarrow")


def _parquet(path, table, row_group_size):
    import pyarrow.parquet as pq

    pq.write_table(table, str(path), row_group_size=row_group_size)
    return str(path)


@pytest.mark.parametrize("typ", ["string", "large_string"])
def test_parquet_row_groups(tmp_path, pa, typ):
    texts = [f"row {i} ✓" if i % 7 else None for i in range(100)]
    t = pa.table({"id": list(range(100)), "body": pa.array(texts, type=getattr(pa, typ)())})
    p = _parquet(tmp_path / "a.parquet", t, row_group_size=9)
    import pyarrow.parquet as pq

    assert pq.ParquetFile(p).num_row_groups > 3
    c = Corpus(p, column="body")
    assert docs(c) == [x for x in texts if x is not None]
    assert c.skipped == texts.count(None)


def test_parquet_sliced_chunks(tmp_path, pa):
    # Arrow arrays with a non-zero offset (a chunked column re-sliced)
    texts = [f"t{i}" for i in range(50)]
    t = pa.table({"text": pa.chunked_array([pa.array(texts[:20]), pa.array(texts[20:])])})
    p = _parquet(tmp_path / "a.parquet", t, row_group_size=17)
    assert docs(Corpus(p)) == texts


def test_parquet_column_errors_name_file_and_column(tmp_path, pa):
    p = _parquet(tmp_path / "a.parquet", pa.table({"text": [1, 2], "name": ["a", "b"]}), 10)
    with pytest.raises(CorpusError, match=r"a.parquet: column 'text' is int64, not a string column"):
        docs(Corpus(p))
    with pytest.raises(CorpusError, match=r"a.parquet: no column 'body' \(columns: text, name\)"):
        docs(Corpus(p, column="body"))
    bad = write(tmp_path / "b.parquet", b"not parquet at all")
    with pytest.raises(CorpusError, match="b.parquet: not a readable parquet file"):
        docs(Corpus(bad))


# ==== Knobs ====


def test_invalid_utf8_strict_names_file_and_offset(tmp_path):
    p = write(tmp_path / "bad.txt", b"good line\nbad \xff here\n")
    with pytest.raises(bpekit.InvalidUtf8Error) as e:
        docs(Corpus(p, lines=True, chunk_bytes=4))
    assert "bad.txt" in str(e.value) and "14" in str(e.value)


def test_invalid_utf8_replace_and_skip(tmp_path):
    p = write(tmp_path / "bad.txt", b"good line\nbad \xff here\nlast\n")
    assert docs(Corpus(p, lines=True, errors="replace")) == ["good line", "bad \ufffd here", "last"]
    c = Corpus(p, lines=True, errors="skip")
    assert docs(c) == ["good line", "last"]
    assert c.skipped == 1


def test_doc_cap_and_max_chars_nanochat_rule(tmp_path):
    write(tmp_path / "a.txt", "aaaaa\nbbbbbbb\nccc\n".encode())
    write(tmp_path / "b.txt", "dd\nee\n".encode())
    assert docs(Corpus(str(tmp_path), lines=True, doc_cap=4)) == ["aaaa", "bbbb", "ccc", "dd", "ee"]
    # running totals 5, 12, 15: the document that crosses 11 is still taken, then stop
    c = Corpus(str(tmp_path), lines=True, max_chars=11, chunk_bytes=2)
    assert docs(c) == ["aaaaa", "bbbbbbb"]
    assert c.chars == 12
    # the budget carries across files: 5+7+3 = 15, then "dd" makes 17 > 16
    assert docs(Corpus(str(tmp_path), lines=True, max_chars=16)) == ["aaaaa", "bbbbbbb", "ccc", "dd"]
    assert docs(Corpus(str(tmp_path), lines=True, doc_cap=2, max_chars=5)) == ["aa", "bb", "cc"]


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"lines": True, "separator": "x"}, "exclusive"),
        ({"separator": ""}, "empty"),
        ({"errors": "ignore"}, "errors"),
        ({"doc_cap": -1}, "doc_cap"),
        ({"chunk_bytes": 0}, "chunk_bytes"),
        ({"text_key": "a..b"}, "text_key"),
    ],
)
def test_bad_options(kwargs, match):
    with pytest.raises(CorpusError, match=match):
        Corpus("x.txt", **kwargs)


def test_jsonl_bad_lines_name_file_and_line(tmp_path):
    p = write(tmp_path / "a.jsonl", b'{"text": "ok"}\n\n{"text": \n')
    with pytest.raises(bpekit.TokenizerError, match=r"a.jsonl:3: .*JSON"):
        docs(Corpus(p, chunk_bytes=5))
    p = write(tmp_path / "b.jsonl", b'{"text": "ok"}\n{"other": "x"}\n')
    with pytest.raises(bpekit.TokenizerError, match=r"b.jsonl:2: .*[\"']text[\"'].*missing"):
        docs(Corpus(p))


# ==== Pipeline pieces ====


def test_prefetch_keeps_order_and_raises_the_readers_error():
    from bpekit._pipeline import prefetch

    assert list(prefetch(iter(range(100)))) == list(range(100))

    def failing():
        yield 1
        raise CorpusError("x.txt: broken")

    it = prefetch(failing())
    assert next(it) == 1
    with pytest.raises(CorpusError, match="x.txt: broken"):
        next(it)


def test_prefetch_stops_the_reader_when_the_consumer_stops():
    import threading

    from bpekit._pipeline import prefetch

    closed = threading.Event()

    def endless():
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.set()

    it = prefetch(endless())
    assert [next(it) for _ in range(5)] == [0, 1, 2, 3, 4]
    it.close()  # joins the reader
    assert closed.is_set()


def test_clean_removes_stale_temporaries_and_unlisted_shards_only(tmp_path):
    from bpekit._pipeline import _clean

    names = [
        "out_000000.bin", "out_000001.bin", "out_000002.bin", ".out_000002.bin.tmp-123-0",
        ".out.manifest.json.tmp-9-77", "out.manifest.json", "outer_000000.bin", ".outer_000000.bin.tmp-1-0",
        "out.txt", "out_000000.idx", "out.npy", "out.docs.npy",
    ]
    for n in names:
        (tmp_path / n).write_bytes(b"")
    _clean(str(tmp_path / "out"), None)  # a new run: only the temporaries go
    assert sorted(os.listdir(tmp_path)) == sorted(n for n in names if n not in (".out_000002.bin.tmp-123-0", ".out.manifest.json.tmp-9-77"))
    _clean(str(tmp_path / "out"), {"out_000000.bin", "out_000000.idx"})
    assert sorted(os.listdir(tmp_path)) == sorted(
        ["out_000000.bin", "out_000000.idx", "out.manifest.json", "outer_000000.bin", ".outer_000000.bin.tmp-1-0", "out.txt"]
    )


def test_parquet_invalid_utf8_names_file_and_column(tmp_path, pa):
    import pyarrow.parquet as pq

    data = b"okbad\xffok"
    offsets = pa.py_buffer(__import__("array").array("i", [0, 2, 6, 8]).tobytes())
    arr = pa.Array.from_buffers(pa.string(), 3, [None, offsets, pa.py_buffer(data)])
    p = str(tmp_path / "bad.parquet")
    pq.write_table(pa.table({"text": arr}), p)
    with pytest.raises(bpekit.InvalidUtf8Error, match=r"bad.parquet: column 'text'.*1"):
        docs(Corpus(p))
    assert docs(Corpus(p, errors="replace")) == ["ok", "bad\ufffd", "ok"]
    assert docs(Corpus(p, errors="skip")) == ["ok", "ok"]


def test_parquet_budget_and_cap(tmp_path, pa):
    texts = [f"{i:05d}" for i in range(40)]  # 5 characters each
    p = _parquet(tmp_path / "a.parquet", pa.table({"text": texts}), row_group_size=7)
    assert docs(Corpus(p, max_chars=52)) == texts[:11]  # 11 * 5 = 55 > 52
    assert docs(Corpus(p, doc_cap=2, max_chars=9)) == ["00", "00", "00", "00", "00"]
