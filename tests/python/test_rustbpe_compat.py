"""bpekit.rustbpe against PyPI rustbpe, and a nanochat-style wrapper on top of it."""

from __future__ import annotations

import pytest

import bpekit.rustbpe as ours_mod
from conftest import corpus

rustbpe = pytest.importorskip("rustbpe", reason="rustbpe (a test dependency) is not installed")
tiktoken = pytest.importorskip("tiktoken", reason="tiktoken (a test dependency) is not installed")

TEXTS = ["hello hello world", "the cat sat on the mat", "Numbers 1234567 and 89!", "  indented\n\tcode()"] * 20


def both(texts, vocab, **kw):
    a, b = ours_mod.Tokenizer(), rustbpe.Tokenizer()
    a.train_from_iterator(iter(texts), vocab, **kw)
    b.train_from_iterator(iter(texts), vocab, **kw)
    return a, b


def test_same_api_same_results():
    a, b = both(TEXTS, 300)
    assert a.get_mergeable_ranks() == [(bytes(t), r) for t, r in b.get_mergeable_ranks()]
    assert a.get_pattern() == b.get_pattern()
    assert a.vocab_size == b.vocab_size
    for text in ["hello world", "the mat", "1234 cats", ""]:
        assert a.encode(text) == b.encode(text)
        assert a.decode(a.encode(text)) == b.decode(b.encode(text)) == text
    assert a.batch_encode(TEXTS[:4]) == b.batch_encode(TEXTS[:4])
    with pytest.raises(ValueError):
        a.decode([10**6])
    with pytest.raises(ValueError):
        a.train_from_iterator(iter(TEXTS), 100)


@pytest.mark.parametrize("name", ["english", "code", "multilingual"])
def test_real_text_merges_and_encodes_match(name):
    texts = corpus(name, 1 << 20).split("\n\n")
    pat = r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,2}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+"""
    a, b = both(texts, 2048, pattern=pat, buffer_size=64)
    assert a.get_mergeable_ranks() == [(bytes(t), r) for t, r in b.get_mergeable_ranks()]
    sample = texts[:200]
    assert a.batch_encode(sample) == b.batch_encode(sample)


def test_nanochat_style_wrapper():
    """What nanochat's RustBPETokenizer does: train with rustbpe, then build a tiktoken
    Encoding from the ranks and pattern, add special tokens, encode, decode."""
    specials = ["<|bos|>", "<|user_start|>", "<|user_end|>"]

    def build(mod):
        tok = mod.Tokenizer()
        tok.train_from_iterator(iter(TEXTS * 3), 400 - len(specials))
        ranks = {bytes(k): v for k, v in tok.get_mergeable_ranks()}
        offset = len(ranks)
        special_tokens = {name: offset + i for i, name in enumerate(specials)}
        return tiktoken.Encoding(name="rustbpe", pat_str=tok.get_pattern(), mergeable_ranks=ranks, special_tokens=special_tokens)

    ours, theirs = build(ours_mod), build(rustbpe)
    text = "<|bos|>hello <|user_start|>the cat<|user_end|>"
    ids = ours.encode(text, allowed_special="all")
    assert ids == theirs.encode(text, allowed_special="all")
    assert ours.decode(ids) == text
    assert ours._mergeable_ranks == theirs._mergeable_ranks
