"""Batch encodes (``encode_batch``, ``encode_ordinary_batch``, ``encode_batch_to_numpy``):
the ids of encoding each text alone, whatever the sizes of the texts, their number and
the thread count; the first failing text reported and nothing returned. And the list
output of ``encode_ordinary``: its ints are counted references (the library keeps one
int per id and shares it between lists)."""

from __future__ import annotations

import gc
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bpekit
from bpekit import _lowlevel
from conftest import corpus, real_pair

np = pytest.importorskip("numpy")

THREADS = [1, 2, 4]


@pytest.fixture(scope="module")
def enc() -> bpekit.Encoding:
    texts = ["The quick brown fox jumps over the lazy dog. " * 20, "héllo wörld 你好世界 🙂 " * 10]
    return bpekit.train(texts, vocab_size=400, special_tokens=["<|end|>"])


def flat_of(enc, texts, **kw):
    """What a flat batch result must be: each text encoded alone, one after another."""
    parts = [enc.encode(t, **kw) for t in texts]
    offsets = np.cumsum([0] + [len(p) for p in parts], dtype=np.uint64)
    return np.array([i for p in parts for i in p], dtype=np.uint32), offsets


def check_batch(enc, texts, threads, **kw):
    expect_ids, expect_offsets = flat_of(enc, texts, **kw)
    ids, offsets = enc.encode_batch_to_numpy(texts, num_threads=threads, **kw)
    assert ids.dtype == np.uint32 and offsets.dtype == np.uint64
    assert np.array_equal(offsets, expect_offsets)
    assert np.array_equal(ids, expect_ids)
    lists = enc.encode_batch(texts, num_threads=threads, **kw)
    assert lists == [ids[a:b].tolist() for a, b in zip(offsets[:-1], offsets[1:])]


def documents(name: str, limit: int) -> list[str]:
    """The corpus's paragraphs (blank-line separated), empty ones kept."""
    return corpus(name, limit).split("\n\n")


@pytest.mark.parametrize("name", ["english", "code", "multilingual"])
def test_corpus_batches_equal_tiktoken(name):
    ours, tk = real_pair("cl100k_base")
    docs = documents(name, 3 << 20)
    assert len(docs) > 100
    expect = tk.encode_ordinary_batch(docs, num_threads=1)
    for threads in THREADS:
        ids, offsets = ours.encode_batch_to_numpy(docs, num_threads=threads, disallowed_special=())
        assert [ids[a:b].tolist() for a, b in zip(offsets[:-1], offsets[1:])] == expect, threads
    assert ours.encode_ordinary_batch(docs, num_threads=2) == expect


@pytest.mark.parametrize("threads", THREADS)
def test_sizes_and_counts(enc, threads):
    # Empty texts, one text, texts far below and far above a group's size, mixed.
    for texts in [[], [""], ["", ""], ["héllo"], ["x" * 100_000], ["ab"] * 5000,
                  ["the lazy dog. " * k for k in range(300)] + ["", "你好" * 30_000, ""]]:
        check_batch(enc, texts, threads)


@settings(max_examples=60, deadline=None)
@given(
    texts=st.lists(
        st.lists(st.characters(codec="utf-8") | st.sampled_from(["<|end|>", " ", "\n", "ab", "héllo"]), max_size=100).map("".join),
        max_size=40,
    ),
    threads=st.sampled_from(THREADS),
)
def test_hypothesis_texts(enc, texts, threads):
    check_batch(enc, texts, threads, disallowed_special=())
    check_batch(enc, texts, threads, allowed_special="all")


def test_lone_surrogates_are_fixed_up_as_alone(enc):
    texts = ["ab", "a\ud800b", "\udfff", "héllo"]
    check_batch(enc, texts, 2)


@pytest.mark.parametrize("threads", THREADS)
def test_first_failing_text_raises_and_nothing_is_returned(enc, threads):
    texts = ["the lazy dog. " * 200] * 400
    for bad in [399, 250, 3, 0]:
        texts[bad] = "x<|end|>"
        with pytest.raises(ValueError, match="<|end|>") as info:
            enc.encode_batch_to_numpy(texts, num_threads=threads)
        # tiktoken's message for the text itself (as tiktoken's encode_batch raises)
        assert not str(info.value).startswith("texts[")
        assert str(info.value) == str(pytest.raises(ValueError, enc.encode, "x<|end|>").value)
    with pytest.raises(TypeError, match=r"texts\[2\]: expected str, got int"):
        enc.encode_batch_to_numpy(["a", "b", 3, "c"], num_threads=threads)
    with pytest.raises(TypeError, match=r"texts\[1\]: expected str, got bytes"):
        enc.encode_batch(["a", b"b"], num_threads=threads)


def test_iterables_are_read_once(enc):
    texts = ["ab", "héllo", ""]
    ids, offsets = enc.encode_batch_to_numpy(iter(texts), num_threads=2)
    assert np.array_equal(ids, flat_of(enc, texts)[0]) and offsets.tolist() == [0, 2, len(ids), len(ids)]


needs_builtin = pytest.mark.skipif(
    _lowlevel.make_builtin is None,
    reason="no builtin on this interpreter (not CPython, free-threaded, or BPEKIT_PYTHON_BUILTIN=0)",
)


@needs_builtin
def test_list_ints_are_balanced_references(enc):
    """The builtin's lists share one int per id: each list holds a reference to it, a
    dropped list releases it, and the Encoding's own reference goes with the Encoding."""
    text = "The quick brown fox jumps over the lazy dog. héllo 你好 " * 8
    mine = pickle_copy(enc)
    ids = mine.encode_ordinary(text)
    big = [i for i in ids if i > 256]  # (small ints may be immortal: no count to check)
    assert big, ids
    x = big[0]
    per_list = ids.count(x)
    before = sys.getrefcount(x)
    for _ in range(1000):
        mine.encode_ordinary(text)
    assert sys.getrefcount(x) == before
    kept = [mine.encode_ordinary(text) for _ in range(10)]
    assert all(k == ids for k in kept)
    assert kept[0][ids.index(x)] is x  # one int per id, shared
    assert sys.getrefcount(x) == before + 10 * per_list
    del kept
    assert sys.getrefcount(x) == before
    # Small ints (immortal since CPython 3.12, whose counts are left to the interpreter's
    # own rules; before, ordinary counts from 999,999,999 up) are referenced as often,
    # and released the same.
    small = [i for i in ids if i <= 256]
    assert small, ids
    y = small[0]
    before_small = sys.getrefcount(y)
    kept = [mine.encode_ordinary(text) for _ in range(10)]
    immortal = sys.version_info >= (3, 12)
    assert sys.getrefcount(y) - before_small == (0 if immortal else 10 * ids.count(y))
    del kept
    assert sys.getrefcount(y) == before_small
    # The Encoding's reference: released with it (and so with its builtin).
    del mine
    gc.collect()
    assert sys.getrefcount(x) == before - 1


def pickle_copy(enc):
    import pickle

    return pickle.loads(pickle.dumps(enc))


def test_numpy_results_own_the_native_buffers(enc):
    """The arrays are views of the library's buffers: a view outlives the array it came
    from, and dropped results are freed (a leak of a 1 MB result per call would show)."""
    texts = ["the lazy dog. héllo " * 250] * 200  # about 1 MB of ids
    ids, offsets = enc.encode_batch_to_numpy(texts, num_threads=2)
    expect = ids.copy()
    tail, last = ids[5:], offsets[-1:]
    del ids, offsets
    gc.collect()
    assert np.array_equal(tail, expect[5:]) and last.tolist() == [len(expect)]
    try:
        statm = open("/proc/self/statm")
    except OSError:
        pytest.skip("no /proc/self/statm to read the resident size from")
    with statm:
        def resident() -> int:
            statm.seek(0)
            return int(statm.read().split()[1]) * 4096

        before = resident()
        for _ in range(100):
            ids, offsets = enc.encode_batch_to_numpy(texts, num_threads=2)
            assert len(ids) == len(expect)
            del ids, offsets
        assert resident() - before < 48 << 20  # leaking, it would grow by about 100 MB
