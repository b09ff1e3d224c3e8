"""Every argument that takes many items accepts any iterable, read once (issue 13,
finding 5): a generator gives the same result as a list, never a silently empty one."""

from __future__ import annotations

import pytest

import bpekit
import bpekit.rustbpe

SPECIALS = ["<|endoftext|>", "<|fim|>", "<|end|>"]
PLAIN = ["hello world", "", "héllo 🙂 " * 20]


class Once:
    """An iterable that can be iterated only once (a second pass fails the test, even
    where it would happen to give the same result)."""

    def __init__(self, items) -> None:  # noqa: ANN001
        self._items = list(items)
        self._used = False

    def __iter__(self):  # noqa: ANN204
        assert not self._used, "iterated twice"
        self._used = True
        return iter(self._items)


@pytest.fixture(scope="module")
def enc() -> bpekit.Encoding:
    texts = ["The quick brown fox jumps over the lazy dog. " * 30, "héllo 你好 🙂 " * 10]
    return bpekit.train(texts, vocab_size=400, special_tokens=SPECIALS, name="toy")


def gen(items):  # noqa: ANN001, ANN201
    return (x for x in items)


@pytest.mark.parametrize("wrap", [gen, Once], ids=["generator", "once"])
@pytest.mark.parametrize(
    "kwargs, texts",
    [
        ({}, PLAIN),
        ({"allowed_special": "all"}, [*PLAIN, "x <|end|> y", "<|fim|>"]),
        ({"disallowed_special": ()}, [*PLAIN, "x <|end|> y", "<|fim|>"]),
        ({"disallowed_special": {"<|fim|>", "nowhere"}}, [*PLAIN, "x <|end|> y"]),
        ({"allowed_special": {"<|end|>"}, "disallowed_special": {"<|fim|>", "nowhere"}}, [*PLAIN, "x <|end|> y", "<|endoftext|>"]),
    ],
    ids=["default", "all allowed", "none disallowed", "disallowed set", "both sets"],
)
def test_batch_encoders_read_texts_once(enc, wrap, kwargs, texts):
    want = [enc.encode(t, **kwargs) for t in texts]
    assert enc.encode_batch(wrap(texts), **kwargs) == want
    flat, offsets = enc.encode_batch_to_numpy(wrap(texts), **kwargs)
    assert [flat[offsets[i] : offsets[i + 1]].tolist() for i in range(len(texts))] == want
    assert enc.encode_ordinary_batch(wrap(texts)) == [enc.encode_ordinary(t) for t in texts]


@pytest.mark.parametrize("wrap", [gen, Once], ids=["generator", "once"])
def test_batch_encoders_raise_for_a_disallowed_text_from_an_iterable(enc, wrap):
    texts = ["fine", "bad <|fim|>", "fine"]
    for f in (enc.encode_batch, enc.encode_batch_to_numpy):
        with pytest.raises(ValueError, match="<|fim|>"):
            f(wrap(texts))
        with pytest.raises(ValueError, match="nowhere"):
            f(wrap(["a", "b nowhere"]), disallowed_special={"nowhere"})


@pytest.mark.parametrize("wrap", [gen, Once], ids=["generator", "once"])
def test_special_token_sets_read_once(enc, wrap):
    """allowed_special and disallowed_special given as iterables (tiktoken reads
    disallowed_special once with frozenset())."""
    text = "a <|end|> b <|endoftext|>"
    allowed = ["<|end|>", "<|endoftext|>"]
    want = enc.encode(text, allowed_special=set(allowed))
    assert enc.encode(text, allowed_special=wrap(allowed)) == want
    assert enc.count(text, allowed_special=wrap(allowed)) == len(want)
    assert enc.encode_to_numpy(text, allowed_special=wrap(allowed)).tolist() == want
    assert enc.encode_batch([text, text], allowed_special=wrap(allowed)) == [want, want]
    assert enc.encode_with_unstable(text, allowed_special=wrap(allowed)) == enc.encode_with_unstable(
        text, allowed_special=set(allowed)
    )
    for f in (enc.encode, enc.count, enc.encode_to_numpy, enc.encode_with_unstable):
        with pytest.raises(ValueError, match="<|end|>"):
            f(text, disallowed_special=wrap(["<|end|>"]))
        with pytest.raises(ValueError, match="<|end|>"):
            f(text, allowed_special={"<|endoftext|>"}, disallowed_special=wrap(["<|end|>", "<|fim|>"]))
    with pytest.raises(ValueError, match="<|end|>"):
        enc.encode_batch(["x", text], disallowed_special=wrap(["<|end|>"]))


@pytest.mark.parametrize("wrap", [gen, Once], ids=["generator", "once"])
def test_decoders_read_ids_once(enc, wrap):
    texts = ["hello world", "héllo 🙂", ""]
    batch = [enc.encode_ordinary(t) for t in texts]
    ids = batch[1]
    assert enc.decode(wrap(ids)) == texts[1]
    assert enc.decode_bytes(wrap(ids)) == texts[1].encode()
    assert enc.decode_tokens_bytes(wrap(ids)) == enc.decode_tokens_bytes(ids)
    assert enc.decode_with_offsets(wrap(ids)) == enc.decode_with_offsets(ids)
    assert enc.decode_batch(wrap([wrap(b) for b in batch])) == texts
    assert enc.decode_bytes_batch(wrap(batch)) == [t.encode() for t in texts]


@pytest.mark.parametrize("wrap", [gen, Once], ids=["generator", "once"])
def test_training_reads_texts_once(wrap):
    texts = ["aaabdaaabac"] * 3 + ["the cat sat on the mat"]
    want = bpekit.train(texts, vocab_size=270, special_tokens=["<|x|>", "<|y|>"])
    got = bpekit.train(wrap(texts), vocab_size=270, special_tokens=wrap(["<|x|>", "<|y|>"]))
    assert got.mergeable_ranks == want.mergeable_ranks and got.special_tokens == want.special_tokens
    a, b = bpekit.Trainer(special_tokens=["<|x|>"]), bpekit.Trainer(special_tokens=wrap(["<|x|>"]))
    a.feed_batch(texts)
    b.feed_batch(wrap(texts))
    assert a.texts == b.texts == len(texts)
    ea, eb = a.finish(270), b.finish(270)
    assert ea.mergeable_ranks == eb.mergeable_ranks and ea.special_tokens == eb.special_tokens == {"<|x|>": 269}


@pytest.mark.parametrize("wrap", [gen, Once], ids=["generator", "once"])
def test_rustbpe_drop_in_reads_once(wrap):
    tok = bpekit.rustbpe.Tokenizer()
    assert tok.decode(wrap([104, 105])) == "hi"  # before training: bytes
    with pytest.raises(ValueError):
        tok.decode(wrap([104, 300]))
    tok.train_from_iterator(wrap(["hello hello world"] * 3), 260)
    assert tok.batch_encode(wrap(["hello", "world"])) == [tok.encode("hello"), tok.encode("world")]
    assert tok.decode(wrap(tok.encode("hello"))) == "hello"
