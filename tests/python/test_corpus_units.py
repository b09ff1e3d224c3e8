"""The pieces bpekit.distributed stands on, checked in one process: corpus units
(`Corpus.units`, `Corpus.unit_batches`) against the whole-corpus pass, count tables
(`bpekit.merge_counts`, `bpekit.counts_info`), the manifest's checksums, and exceptions
that survive pickling (a worker's error reaches the client pickled)."""

from __future__ import annotations

import gzip
import hashlib
import json
import pickle

import pytest

import bpekit
from bpekit import _errors
from bpekit.corpus import Corpus, CorpusError, ManifestError, MissingExtraError, Unit
from bpekit.corpus import encode as corpus_encode

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

WORDS = "the cat sat on a mat while two dogs ran far away from home".split()


def _lines(n: int, seed: int) -> list[str]:
    return [" ".join(WORDS[(seed + i * 7 + j) % len(WORDS)] for j in range(1 + (i * 5 + seed) % 9)) for i in range(n)]


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """A corpus of every kind of unit: text files, a gzipped one, JSON Lines, and a
    Parquet file of several row groups."""
    d = tmp_path_factory.mktemp("mixed")
    (d / "a.txt").write_text("\n".join(_lines(40, 1)) + "\n")
    with gzip.open(d / "b.txt.gz", "wt") as f:
        f.write("\n".join(_lines(25, 2)) + "\n")
    (d / "c.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in _lines(30, 3)))
    pq.write_table(pa.table({"text": _lines(70, 4)}), d / "d.parquet", row_group_size=20)
    (d / "e.txt").write_text("")  # an empty file: one unit, no documents with lines=True
    return d


def _docs(batches) -> list[bytes]:
    return [b.doc(i) for b in batches for i in range(b.n)]


# ==== Units ====


def test_units_in_order_one_per_file_or_row_group(mixed):
    units = Corpus(mixed, lines=True).units()
    names = [u.name for u in units]
    p = str(mixed / "d.parquet")
    assert names == [str(mixed / n) for n in ("a.txt", "b.txt.gz", "c.jsonl")] + [
        f"{p}: row group {g}" for g in range(4)
    ] + [str(mixed / "e.txt")]
    rg = [u for u in units if u.row_group is not None]
    assert [u.first_row for u in rg] == [0, 20, 40, 60]
    meta = pq.ParquetFile(p).metadata
    assert [u.size for u in rg] == [meta.row_group(g).total_byte_size for g in range(4)]
    assert units[1].size == (mixed / "b.txt.gz").stat().st_size  # bytes on disk, compressed


def test_unit_batches_give_the_documents_and_counts_of_batches(mixed):
    whole = Corpus(mixed, lines=True)
    want = _docs(whole.batches())
    per_unit = Corpus(mixed, lines=True)
    got, totals = [], [0, 0, 0, 0]
    for u in per_unit.units():
        got += _docs(per_unit.unit_batches(u))
        for i, k in enumerate(("documents", "bytes", "chars", "skipped")):
            totals[i] += getattr(per_unit, k)
    assert got == want
    assert len(want) == 40 + 25 + 30 + 70
    assert totals == [whole.documents, whole.bytes, whole.chars, whole.skipped]


def test_unit_batches_first_counts_from_the_unit(mixed):
    c = Corpus(mixed, lines=True, chunk_bytes=64)  # many batches per unit
    u = c.units()[0]
    firsts = [(b.first, b.n) for b in c.unit_batches(u)]
    assert firsts[0][0] == 0 and len(firsts) > 1
    assert all(f == pf + pn for (f, _), (pf, pn) in zip(firsts[1:], firsts))


def test_a_unit_error_is_the_message_of_the_whole_pass(tmp_path):
    (tmp_path / "a.txt").write_text("ok\nfine\n")
    (tmp_path / "b.txt").write_bytes(b"one\ntwo\nbad \xff byte\n")
    whole = Corpus(tmp_path, lines=True, chunk_bytes=4)
    with pytest.raises(bpekit.InvalidUtf8Error) as e1:
        list(whole.batches())
    c = Corpus(tmp_path, lines=True, chunk_bytes=4)
    with pytest.raises(bpekit.InvalidUtf8Error) as e2:
        list(c.unit_batches(c.units()[1]))
    assert str(e1.value) == str(e2.value)
    assert str(tmp_path / "b.txt") in str(e2.value) and "line 3" in str(e2.value)


def test_a_parquet_row_group_names_rows_as_the_whole_pass(tmp_path):
    # rows 0-30 valid, row 31 invalid UTF-8 (an array built without validation)
    bad = pa.Array.from_buffers(pa.string(), 2, [None, pa.py_buffer(b"\0\0\0\0\x02\0\0\0\x04\0\0\0"),
                                                 pa.py_buffer(b"ok\xff\xfe")])
    q = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"text": pa.chunked_array([pa.array(["a"] * 30), bad])}), q, row_group_size=31)
    whole = Corpus(q)
    try:
        list(whole.batches())
    except bpekit.InvalidUtf8Error as e:
        expected = str(e)
    else:
        pytest.skip("this pyarrow validated the invalid string on write")
    c = Corpus(q)
    units = c.units()
    assert [(u.row_group, u.first_row) for u in units] == [(0, 0), (1, 31)]
    list(c.unit_batches(units[0]))
    with pytest.raises(bpekit.InvalidUtf8Error) as e2:
        list(c.unit_batches(units[1]))
    assert str(e2.value) == expected
    assert "rows from 31" in expected


def test_unit_batches_refuse_max_chars_and_stdin(mixed):
    c = Corpus(mixed, lines=True, max_chars=10)
    with pytest.raises(CorpusError, match="max_chars is a corpus-wide budget"):
        list(c.unit_batches(c.units()[0]))
    s = Corpus("-")
    (u,) = s.units()
    assert u.source.path == "-" and u.size is None
    with pytest.raises(CorpusError, match="stdin"):
        list(s.unit_batches(u))


def test_unit_of_a_missing_row_group(mixed):
    c = Corpus(mixed / "d.parquet")
    u = c.units()[0]
    with pytest.raises(CorpusError, match="no row group 9"):
        list(c.unit_batches(Unit(u.source, 9, 0, None)))


def test_batches_keep_the_max_chars_budget_across_units(mixed):
    full = Corpus(mixed, lines=True)
    docs = _docs(full.batches())
    limit = sum(len(d) for d in docs[:50]) - 1  # ASCII: bytes are chars
    capped = Corpus(mixed, lines=True, max_chars=limit)
    assert _docs(capped.batches()) == docs[:50]


# ==== Count tables ====

PARTS = [_lines(60, s) for s in range(4)]


def _table(texts, pattern=None) -> bytes:
    t = bpekit.Trainer(pattern)
    t.feed_batch(texts)
    return t.export_counts()


def test_merge_counts_equals_one_trainer():
    one = _table([t for p in PARTS for t in p])
    parts = [_table(p) for p in PARTS]
    assert bpekit.merge_counts(parts) == one
    tree = bpekit.merge_counts([bpekit.merge_counts(parts[:2]), bpekit.merge_counts(parts[2:])])
    assert tree == one
    assert bpekit.merge_counts(list(reversed(parts))) == one


def test_counts_info():
    data = _table(PARTS[0], bpekit.GPT2_PATTERN)
    info = bpekit.counts_info(data)
    assert info["pattern"] == bpekit.GPT2_PATTERN
    assert info["texts"] == len(PARTS[0])
    assert info["bytes"] == sum(len(t.encode()) for t in PARTS[0])
    assert info["version"] == 2
    # words of ASCII letters joined by single spaces: the pieces are each text's first
    # word and " " + every other word
    pieces = {t.split()[0] for t in PARTS[0]} | {" " + w for t in PARTS[0] for w in t.split()[1:]}
    assert info["pieces"] == len(pieces)


def test_merge_counts_min_count_prunes_only_pieces():
    parts = [_table(["apple banana"] * 10 + [rare]) for rare in ("zebra", "yak", "xeno")]
    full = bpekit.counts_info(bpekit.merge_counts(parts))
    pruned = bpekit.counts_info(bpekit.merge_counts(parts, min_count=2))
    assert (full["pieces"], pruned["pieces"]) == (5, 2)  # apple, " banana" (, zebra, yak, xeno)
    assert (pruned["texts"], pruned["bytes"]) == (full["texts"], full["bytes"]) == (33, 12 * 30 + 5 + 3 + 4)
    assert bpekit.merge_counts(parts, min_count=1) == bpekit.merge_counts(parts)
    # pruning a part would drop what the whole keeps: a rare piece in every part
    spread = [_table(["apple", "kiwi"]) for _ in range(3)]
    assert bpekit.counts_info(bpekit.merge_counts(spread, min_count=3))["pieces"] == 2


def test_merge_counts_errors_name_the_table():
    a = _table(PARTS[0])
    damaged = bytearray(a)
    damaged[len(damaged) // 2] ^= 0x40
    with pytest.raises(bpekit.FormatError, match=r"^tables\[1\]"):
        bpekit.merge_counts([a, bytes(damaged)])
    with pytest.raises(bpekit.FormatError):
        bpekit.counts_info(bytes(damaged))
    with pytest.raises(bpekit.InvalidArgumentError, match="pattern"):
        bpekit.merge_counts([a, _table(PARTS[1], bpekit.GPT2_PATTERN)])
    with pytest.raises(bpekit.InvalidArgumentError):
        bpekit.merge_counts([])
    with pytest.raises(TypeError):
        bpekit.merge_counts(a)
    with pytest.raises(bpekit.InvalidArgumentError):
        bpekit.merge_counts([a], min_count=-1)


# ==== Manifest checksums ====


@pytest.fixture(scope="module")
def tok():
    return bpekit.train([t for p in PARTS for t in p], 300, special_tokens=["<|endoftext|>"])


@pytest.mark.parametrize("fmt", ["llmc", "megatron", "npy"])
def test_manifest_sha256_of_every_file(mixed, tok, tmp_path, fmt):
    m = corpus_encode(Corpus(mixed, lines=True), tok, tmp_path / "out", format=fmt, shard_tokens=300,
                      eos="<|endoftext|>")
    assert len(m["shards"]) > 2
    on_disk = json.loads((tmp_path / "out.manifest.json").read_text())
    assert on_disk == m
    for s in m["shards"]:
        assert list(s) == ["index", "files", "tokens", "documents", "sha256"]
        assert s["sha256"] == [hashlib.sha256((tmp_path / f).read_bytes()).hexdigest() for f in s["files"]]


def test_a_manifest_without_sha256_still_resumes(mixed, tok, tmp_path):
    corpus = Corpus(mixed, lines=True)
    full = corpus_encode(corpus, tok, tmp_path / "ref", format="npy", shard_tokens=300)
    out = tmp_path / "out"
    corpus_encode(corpus, tok, out, format="npy", shard_tokens=300)
    # an older run, interrupted after two shards: its manifest has no checksums
    path = tmp_path / "out.manifest.json"
    m = json.loads(path.read_text())
    m["shards"] = [{k: v for k, v in s.items() if k != "sha256"} for s in m["shards"][:2]]
    m["complete"] = False
    path.write_text(json.dumps(m, indent=1) + "\n")
    resumed = corpus_encode(corpus, tok, out, format="npy", shard_tokens=300, resume=True)
    assert resumed["complete"]
    assert [s.get("sha256") for s in resumed["shards"][:2]] == [None, None]
    assert [s["sha256"] for s in resumed["shards"][2:]] == [s["sha256"] for s in full["shards"][2:]]
    for s in full["shards"]:
        for f in s["files"]:
            assert (out.parent / f.replace("ref", "out")).read_bytes() == (tmp_path / f).read_bytes()


# ==== Exceptions cross processes ====


@pytest.mark.parametrize(
    "cls",
    sorted({*_errors.by_code.values(), _errors.TokenizerError, CorpusError, ManifestError, MissingExtraError},
           key=lambda c: c.__name__),
)
def test_exceptions_pickle(cls):
    e = cls("a.txt: row group 2: something failed", 77)
    back = pickle.loads(pickle.dumps(e))
    assert type(back) is cls
    assert str(back) == str(e)
    assert back.code == 77


# ==== Shard plan and pushing encoded ids ====


def test_shard_plan_is_the_writers_rotation(mixed, tok, tmp_path):
    np = pytest.importorskip("numpy")
    from bpekit._pipeline import shard_plan

    corpus = Corpus(mixed, lines=True)
    m = corpus_encode(corpus, tok, tmp_path / "out", format="npy", shard_tokens=300, bos="<|endoftext|>")
    lengths = np.array([len(tok.encode_ordinary(t)) + 1 for t in corpus.texts()], dtype=np.uint64)
    cursor = [0, 0, 0]
    where = shard_plan(300, lengths, cursor)
    per_shard = np.bincount(where.astype(np.int64))
    assert per_shard.tolist() == [s["documents"] for s in m["shards"]]
    assert cursor[0] == len(m["shards"]) - 1
    # carried across calls, the cursor gives the same plan
    c2 = [0, 0, 0]
    parts = [shard_plan(300, lengths[a:b], c2) for a, b in ((0, 7), (7, 100), (100, len(lengths)))]
    assert np.concatenate(parts).tolist() == where.tolist() and c2 == cursor
    assert shard_plan(0, lengths, [0, 0, 0]).tolist() == [0] * len(lengths)


def test_push_ids_writes_what_push_writes(mixed, tok, tmp_path):
    np = pytest.importorskip("numpy")
    from bpekit._pipeline import _Writer

    corpus = Corpus(mixed, lines=True)
    eot = tok.special_tokens["<|endoftext|>"]
    a = _Writer(tok, "megatron", str(tmp_path / "a"), 200, 0, None, eot)
    b = _Writer(tok, "megatron", str(tmp_path / "b"), 200, 0, None, eot)
    try:
        for batch in corpus.batches():
            a.push(tok, batch, 1)
            docs = [tok.encode_ordinary(t) for t in batch.texts()]
            offsets = np.cumsum([0] + [len(d) for d in docs]).astype(np.uint64)
            b.push_ids(np.array([i for d in docs for i in d], dtype=np.uint32), offsets)
        b.push_ids(np.zeros(0, dtype=np.uint32), np.zeros(0, dtype=np.uint64))  # nothing
        a.finish()
        b.finish()
        assert a.completed() == b.completed() > 2
        for i in range(a.completed()):
            ra, rb = a.shard(i), b.shard(i)
            assert (ra["tokens"], ra["documents"]) == (rb["tokens"], rb["documents"])
            for fa, fb in zip(ra["files"], rb["files"]):
                assert (tmp_path / fa).read_bytes() == (tmp_path / fb).read_bytes()
    finally:
        a.close()
        b.close()


def test_push_ids_refuses_bad_input_and_writes_nothing(tok, tmp_path):
    np = pytest.importorskip("numpy")
    from bpekit._pipeline import _Writer

    w = _Writer(tok, "npy", str(tmp_path / "w"), 0, 0, None, None)
    try:
        with pytest.raises(bpekit.InvalidArgumentError):
            w.push_ids(np.array([1, tok.n_vocab], dtype=np.uint32), np.array([0, 2], dtype=np.uint64))
        with pytest.raises(bpekit.InvalidArgumentError):
            w.push_ids(np.array([1, 2], dtype=np.uint32), np.array([0, 3], dtype=np.uint64))
        with pytest.raises(bpekit.InvalidArgumentError):
            w.push_ids(np.array([1, 2], dtype=np.uint32), np.array([2, 1], dtype=np.uint64))
        w.push_ids(np.array([5, 6, 7], dtype=np.uint32), np.array([0, 1, 3], dtype=np.uint64))
        w.finish()
        r = w.shard(0)
    finally:
        w.close()
    assert (r["tokens"], r["documents"]) == (3, 2)
    assert np.load(tmp_path / "w.npy").tolist() == [5, 6, 7]
    assert np.load(tmp_path / "w.docs.npy").tolist() == [0, 1, 3]
