"""``Encoding.encode_with_offsets``: the ids are ``encode``'s; in bytes each token's span,
cut from the text, is the token's bytes and the spans tile the text; in characters each
span holds exactly the characters the token has bytes of, and the starts equal
tiktoken's ``decode_with_offsets``."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bpekit
from conftest import corpus, real_pair

SPECIALS = {"<|end|>": None}


@pytest.fixture(scope="module")
def toy() -> bpekit.Encoding:
    texts = ["héllo wörld 你好 🙂 " * 20, "plain ascii text\n" * 20]
    return bpekit.train(texts, vocab_size=400, special_tokens=["<|end|>"], name="toy")


def check(enc: bpekit.Encoding, text: str, **kw) -> None:
    ids = enc.encode(text, **kw)
    raw = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace").encode() if text else b""
    b = enc.encode_with_offsets(text, unit="byte", **kw)
    assert b.ids == ids
    at = 0
    for i, s, e in zip(b.ids, b.starts, b.ends):
        assert s == at and raw[s:e] == enc.decode_single_token_bytes(i)
        at = e
    assert at == len(raw)
    c = enc.encode_with_offsets(text, unit="char", **kw)
    assert c.ids == ids and len(c.starts) == len(c.ends) == len(ids)
    # char_at[p]: the character byte p of the UTF-8 belongs to; a token's characters
    # are those of its first and last byte and all between.
    char_at = [j for j, ch in enumerate(raw.decode()) for _ in ch.encode()]
    for k, (s, e) in enumerate(zip(b.starts, b.ends)):
        assert (c.starts[k], c.ends[k]) == (char_at[s], char_at[e - 1] + 1)
    assert c.starts == enc.decode_with_offsets(ids)[1]


@given(text=st.text(max_size=40))
@settings(max_examples=300, deadline=None)
def test_any_text(toy, text):
    check(toy, text, disallowed_special=())
    check(toy, text + "<|end|>" + text, allowed_special="all")


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base"])
@pytest.mark.parametrize("sample", ["english", "multilingual"])
def test_corpus_and_tiktoken(name, sample):
    enc, tk = real_pair(name)
    text = corpus(sample, 30_000) + "<|endoftext|>" + "末尾"
    check(enc, text, allowed_special="all")
    ids, starts, _ = enc.encode_with_offsets(text, unit="char", allowed_special="all")
    assert starts == tk.decode_with_offsets(ids)[1]


def test_special_tokens_sharing_an_id_span_the_text_that_matched():
    ranks = {bytes([b]): b for b in range(256)}
    enc = bpekit.Encoding("s", pat_str=bpekit.CL100K_PATTERN, mergeable_ranks=ranks,
                          special_tokens={"<|longer_name|>": 300, "<|s|>": 300})
    for text in ["ab<|s|>c", "<|longer_name|><|s|>", "x<|s|>"]:
        for unit in ("byte", "char"):  # (ASCII: the same offsets)
            ids, starts, ends = enc.encode_with_offsets(text, unit=unit, allowed_special="all")
            for i, a, b in zip(ids, starts, ends):
                assert text[a:b] in ("<|longer_name|>", "<|s|>") if i == 300 else text[a:b] == enc.decode([i])
            assert "".join(text[a:b] for a, b in zip(starts, ends)) == text and ends[-1] == len(text)
    assert enc.encode_with_offsets("ab<|s|>c", allowed_special="all") == ([97, 98, 300, 99], [0, 1, 2, 7], [1, 2, 7, 8])


def test_bad_arguments(toy):
    with pytest.raises(ValueError, match="unit"):
        toy.encode_with_offsets("x", unit="word")
    with pytest.raises(ValueError, match="disallowed special token"):
        toy.encode_with_offsets("a <|end|>")
    with pytest.raises(TypeError):
        toy.encode_with_offsets(b"bytes")
    assert toy.encode_with_offsets("") == ([], [], [])
