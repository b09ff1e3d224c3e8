"""The walking skeleton end to end: train, encode, decode, export, errors, parity."""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bpekit
from bpekit._route import drop_builtins
from conftest import corpus
from reference import bpe_ref


def _ranks_list(enc: bpekit.Encoding) -> list[tuple[bytes, int]]:
    return sorted(enc.mergeable_ranks.items(), key=lambda kv: kv[1])


@pytest.fixture(scope="module")
def enc() -> bpekit.Encoding:
    texts = ["The quick brown fox jumps over the lazy dog. " * 20, "def f(x):\n    return x * 2\n" * 10, "héllo wörld 你好世界 🙂" * 5]
    return bpekit.train(texts, vocab_size=400)


# ==== Round trips ====


@given(st.text())
@settings(max_examples=300, deadline=None)
def test_text_roundtrip(enc: bpekit.Encoding, text: str) -> None:
    expected = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")  # lone surrogates → U+FFFD
    assert enc.decode(enc.encode_ordinary(text)) == expected


@given(st.data())
@settings(max_examples=200, deadline=None)
def test_decode_bytes_of_any_ids(enc: bpekit.Encoding, data: st.DataObject) -> None:
    ids = data.draw(st.lists(st.integers(0, enc.n_vocab - 1)))
    assert enc.decode_bytes(ids) == b"".join(enc.decode_single_token_bytes(i) for i in ids)


@given(st.binary())
@settings(max_examples=200, deadline=None)
def test_any_bytes_decode_from_byte_tokens(enc: bpekit.Encoding, data: bytes) -> None:
    byte_ids = {enc.decode_single_token_bytes(i): i for i in range(256)}
    assert enc.decode_bytes([byte_ids[bytes([b])] for b in data]) == data


def test_training_is_deterministic_and_batching_invariant() -> None:
    texts = [f"line {i}: the cat sat on the mat {i % 7}" for i in range(500)]
    a = bpekit.train(texts, 600)
    b = bpekit.train(iter(texts), 600)
    t = bpekit.Trainer()
    for x in texts:
        t.feed(x)
    c = t.finish(600)
    assert a.export_tiktoken() == b.export_tiktoken() == c.export_tiktoken()
    assert t.texts == 500 and t.bytes == sum(len(x) for x in texts)


def test_exported_ranks_reload_identically(enc: bpekit.Encoding) -> None:
    again = bpekit.Encoding.from_tiktoken_bytes(enc.export_tiktoken(), enc.pat_str)
    sample = "The lazy fox returns x * 2 🙂"
    assert again.encode_ordinary(sample) == enc.encode_ordinary(sample)
    assert again.n_vocab == enc.n_vocab


# ==== Parity: reference, rustbpe, tiktoken ====

corpora = st.lists(st.text(alphabet="ab c\n", max_size=24), min_size=1, max_size=12)


@given(corpora, st.integers(256, 300))
@settings(max_examples=150, deadline=None)
def test_training_matches_slow_reference(texts: list[str], vocab_size: int) -> None:
    import regex  # tiktoken's dependency; splits like fancy-regex for this pattern

    pieces: Counter[bytes] = Counter()
    for t in texts:
        for m in regex.finditer(bpekit.CL100K_PATTERN, t):
            pieces[m.group().encode()] += 1
    merges = bpe_ref.train(pieces, vocab_size)
    enc = bpekit.train(texts, vocab_size)
    tokens = [enc.decode_single_token_bytes(i) for i in range(256, enc.n_vocab)]
    ref_tokens: list[bytes] = [bytes([b]) for b in range(256)]
    for a, b in merges:
        ref_tokens.append(ref_tokens[a] + ref_tokens[b])
    assert tokens == ref_tokens[256:]


rustbpe = pytest.importorskip("rustbpe", reason="rustbpe (a test dependency) is not installed")


def _rustbpe_ranks(texts: list[str], vocab_size: int, pattern: str) -> list[tuple[bytes, int]]:
    tok = rustbpe.Tokenizer()
    tok.train_from_iterator(iter(texts), vocab_size, pattern=pattern)
    return sorted(((bytes(b), r) for b, r in tok.get_mergeable_ranks()), key=lambda kv: kv[1])


@given(corpora, st.integers(256, 320))
@settings(max_examples=100, deadline=None)
def test_training_matches_rustbpe_on_tie_heavy_corpora(texts: list[str], vocab_size: int) -> None:
    ours = _ranks_list(bpekit.train(texts, vocab_size, pattern=bpekit.RUSTBPE_GPT4_PATTERN))
    assert ours == _rustbpe_ranks(texts, vocab_size, bpekit.RUSTBPE_GPT4_PATTERN)


@pytest.mark.parametrize("name", ["english", "code", "multilingual"])
@pytest.mark.parametrize("pattern_name", ["RUSTBPE_GPT4_PATTERN", "NANOCHAT_PATTERN", "GPT2_PATTERN"])
def test_training_matches_rustbpe_on_real_text(name: str, pattern_name: str) -> None:
    text = corpus(name, 1 << 20)
    texts = text.split("\n\n")
    pattern = getattr(bpekit, pattern_name)
    ours = _ranks_list(bpekit.train(texts, 512, pattern=pattern))
    assert ours == _rustbpe_ranks(texts, 512, pattern)


@pytest.mark.parametrize("name", ["english", "code", "multilingual"])
@pytest.mark.parametrize("vocab_size", [4096, 32768])
def test_training_matches_rustbpe_at_large_vocab(name: str, vocab_size: int) -> None:
    texts = corpus(name, 4 << 20).split("\n\n")
    pattern = bpekit.RUSTBPE_GPT4_PATTERN
    ours = _ranks_list(bpekit.train(texts, vocab_size, pattern=pattern, num_threads=2))
    assert ours == _rustbpe_ranks(texts, vocab_size, pattern)


tiktoken = pytest.importorskip("tiktoken", reason="tiktoken (a test dependency) is not installed")


def test_trained_ranks_encode_like_tiktoken(enc: bpekit.Encoding) -> None:
    tk = tiktoken.Encoding("t", pat_str=enc.pat_str, mergeable_ranks=enc.mergeable_ranks, special_tokens={})
    for text in ["The quick brown fox", "def f(x):\n    return x * 2\n", "héllo 你好 🙂 zzzzzzz", "  \n\t  x"]:
        assert enc.encode_ordinary(text) == tk.encode_ordinary(text)


@given(st.text(max_size=300))
@settings(max_examples=200, deadline=None)
def test_trained_ranks_encode_like_tiktoken_on_any_text(enc: bpekit.Encoding, text: str) -> None:
    tk = tiktoken.Encoding("t", pat_str=enc.pat_str, mergeable_ranks=enc.mergeable_ranks, special_tokens={})
    assert enc.encode_ordinary(text) == tk.encode_ordinary(text)


@pytest.mark.parametrize("name", ["r50k_base", "cl100k_base", "o200k_base"])
def test_openai_ranks_encode_like_tiktoken(name: str) -> None:
    from conftest import DATA

    path = DATA / f"{name}.tiktoken"
    if not path.exists():
        pytest.skip(f"{path} not found (set BPEKIT_DATA)")
    pattern = {"r50k_base": bpekit.GPT2_PATTERN, "cl100k_base": bpekit.CL100K_PATTERN, "o200k_base": bpekit.O200K_PATTERN}[name]
    ours = bpekit.Encoding.from_tiktoken_file(path, pattern)
    from tiktoken.load import load_tiktoken_bpe

    tk = tiktoken.Encoding(name, pat_str=pattern, mergeable_ranks=load_tiktoken_bpe(str(path)), special_tokens={})
    for sample in ["english", "code", "multilingual"]:
        text = corpus(sample, 200_000)
        assert ours.encode_ordinary(text) == tk.encode_ordinary(text), sample
    long = "a" * 5000 + " " * 3000 + "1234567890" * 300
    assert ours.encode_ordinary(long) == tk.encode_ordinary(long)


# ==== Errors ====


def test_vocab_size_below_256() -> None:
    with pytest.raises(bpekit.InvalidArgumentError, match="at least 256") as e:
        bpekit.train(["abc"], 255)
    assert e.value.code == 2 and isinstance(e.value, ValueError)
    with pytest.raises(bpekit.InvalidArgumentError):
        bpekit.train(["abc"], -1)


def test_invalid_regex() -> None:
    with pytest.raises(bpekit.PatternError, match="invalid split pattern"):
        bpekit.train(["abc"], 300, pattern="(unclosed")


@pytest.mark.parametrize(
    "blob, match",
    [
        (b"not-base64! 0\n", "line 1"),
        (b"YQ== 0\nYQ==\n", "line 2"),
        (b"YQ== x\n", "rank is not an integer"),
        (b"YQ== 0\n", "lack the single byte"),
    ],
)
def test_malformed_ranks(blob: bytes, match: str) -> None:
    with pytest.raises(bpekit.RanksError, match=match):
        bpekit.Encoding.from_tiktoken_bytes(blob)


def test_duplicate_rank_is_an_error(enc: bpekit.Encoding) -> None:
    blob = enc.export_tiktoken() + b"eHl6 300\n"  # "xyz" reuses rank 300
    with pytest.raises(bpekit.RanksError, match="rank 300"):
        bpekit.Encoding.from_tiktoken_bytes(blob)


def test_unknown_token_ids(enc: bpekit.Encoding) -> None:
    with pytest.raises(bpekit.UnknownTokenError, match=str(enc.n_vocab + 5)) as e:
        enc.decode([1, 2, enc.n_vocab + 5])
    assert isinstance(e.value, KeyError)
    with pytest.raises(KeyError):
        enc.decode_single_token_bytes(10**6)
    with pytest.raises(OverflowError):
        enc.decode([-1])


def test_non_text_items() -> None:
    with pytest.raises(TypeError, match="item 1 is int"):
        bpekit.train(["ok", 5], 300)
    with pytest.raises(bpekit.InvalidUtf8Error, match=r"texts\[0\]"):
        bpekit.train([b"\xff\xfe"], 300)


@pytest.mark.parametrize("builtin", [True, False])
def test_closed_handle(enc: bpekit.Encoding, builtin: bool) -> None:
    e2 = bpekit.Encoding.from_tiktoken_bytes(enc.export_tiktoken())
    if not builtin:
        drop_builtins(e2)  # the cffi calls (as on PyPy)
    # Every route of the encodes (one character, memo, packed, C string, NUL, long,
    # empty), each taken once before closing so that nothing answers from memory after.
    texts = ["x", "é", "é", "ab", "hello", "héllo wörld", "a\0b", "x" * 100_000, ""]
    with e2:
        assert e2.encode_ordinary("x") == [ord("x")]
        for t in texts:
            assert e2.encode_ordinary(t) == enc.encode_ordinary(t)
    for t in texts:
        for f in (e2.encode_ordinary, e2.encode, e2.count):
            with pytest.raises(ValueError, match="closed"):
                f(t)
    e2.close()  # idempotent


def test_close_while_another_thread_encodes(enc: bpekit.Encoding) -> None:
    """Closing an Encoding that another thread is encoding with does not free it under
    that call: the call finishes with the right ids, and only later calls fail."""
    text = "the quick brown fox jumps over the lazy dog, again and again. " * 200_000
    expected = enc.encode_ordinary(text)
    for _ in range(3):
        e2 = bpekit.Encoding.from_tiktoken_bytes(enc.export_tiktoken())
        got: list = []
        started = threading.Event()

        def work() -> None:
            started.set()
            got.append(e2.encode_ordinary(text))

        t = threading.Thread(target=work)
        t.start()
        started.wait()
        # The encode is under way once the thread's innermost Python frame is the one
        # that makes the native call (cffi's, or the builtin's, which has no frame).
        native_caller = "encode_ordinary" if e2._fast is not None else "rustcall"
        while t.is_alive():
            frame = sys._current_frames().get(t.ident)
            if frame is not None and frame.f_code.co_name == native_caller:
                break
            time.sleep(0.001)
        time.sleep(0.01)  # the native encode (a fraction of a second) runs without the GIL
        e2.close()
        # Were the native object freed now, this would reuse and overwrite its memory.
        junk = [bytes([255]) * 4096 for _ in range(20_000)]
        t.join()
        del junk
        assert got == [expected]
        with pytest.raises(ValueError, match="closed"):
            e2.encode_ordinary("x")


def test_version() -> None:
    assert bpekit.__version__ == "0.1.0"
