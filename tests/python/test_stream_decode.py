"""``Encoding.decoder()``: text as ids arrive. Joined, what ``add`` returns (plus
``flush``) equals ``decode`` of all the ids, for every ``errors`` handler, fed one id at
a time or in runs; nothing is lost or added on errors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bpekit
from conftest import corpus, real_pair

HANDLERS = ["replace", "ignore", "backslashreplace", "surrogateescape", "strict"]


@pytest.fixture(scope="module")
def toy() -> bpekit.Encoding:
    texts = ["héllo wörld 你好 🙂 " * 20, "plain ascii text " * 20]
    return bpekit.train(texts, vocab_size=400, special_tokens=["<|end|>"], name="toy")


def streamed(enc: bpekit.Encoding, ids: list[int], errors: str, runs: list[int] | None = None) -> str:
    dec = enc.decoder(errors)
    out, i = [], 0
    for k in runs or [1] * len(ids):
        if i >= len(ids):
            break
        out.append(dec.add(ids[i] if k == 1 else ids[i : i + k]))
        i += k
    if i < len(ids):
        out.append(dec.add(ids[i:]))
    out.append(dec.flush())
    return "".join(out)


def whole(enc: bpekit.Encoding, ids: list[int], errors: str) -> str | type:
    try:
        return enc.decode(ids, errors=errors)
    except UnicodeDecodeError:
        return ValueError


@given(data=st.data())
@settings(max_examples=300, deadline=None)
def test_any_ids_stream_to_the_whole_decode(toy, data):
    ids = data.draw(st.lists(st.integers(0, toy.n_vocab - 1), max_size=30))
    runs = data.draw(st.lists(st.integers(1, 4), max_size=30))
    errors = data.draw(st.sampled_from(HANDLERS))
    want = whole(toy, ids, errors)
    if want is ValueError:
        with pytest.raises(ValueError):
            streamed(toy, ids, errors, runs)
    else:
        assert streamed(toy, ids, errors, runs) == want


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base"])
def test_corpus_streams_id_by_id(name):
    enc, _ = real_pair(name)
    text = corpus("multilingual", 60_000)
    ids = enc.encode_ordinary(text)
    assert streamed(enc, ids, "strict") == text
    # Cut anywhere (a stream that stops mid-character): as decode of the same ids.
    for cut in range(1, 400, 7):
        assert streamed(enc, ids[:cut], "replace") == enc.decode(ids[:cut])


def test_held_back_character_and_flush(toy):
    dec = toy.decoder()
    first, second = (toy.encode_single_token(bytes([b])) for b in "é".encode())
    assert (dec.add(first), dec.add(second)) == ("", "é")
    assert dec.add(first) == ""
    assert dec.flush() == "\ufffd" and dec.flush() == ""
    assert dec.add([first, second]) == "é"
    end = toy.encode("<|end|>", allowed_special="all")
    assert dec.add(end) == "<|end|>"


def test_errors_add_nothing(toy):
    first, second = (toy.encode_single_token(bytes([b])) for b in "é".encode())
    dec = toy.decoder("strict")
    assert dec.add(first) == ""
    with pytest.raises(bpekit.UnknownTokenError):
        dec.add([second, toy.n_vocab + 5])
    with pytest.raises(bpekit.InvalidUtf8Error):
        dec.add(toy.encode_ordinary("x"))
    with pytest.raises(bpekit.InvalidUtf8Error):
        dec.flush()
    assert dec.add(second) == "é", "the held byte survived every error"
    with pytest.raises(LookupError):
        toy.decoder("no-such-handler")
    with pytest.raises(OverflowError):
        toy.decoder().add(-1)
    closed = toy.decoder()
    closed.close()
    with pytest.raises(ValueError, match="closed"):
        closed.add(1)
