"""Bad arguments raise TypeError or ValueError instead of giving a silently wrong result
(issue 13, finding 9), each checked against what tiktoken does with the same argument.

Where tiktoken accepts something that is almost surely a mistake, bpekit refuses it, and
the test says so: ``decode(b"...")`` (tiktoken reads each byte as a token id) and a bare
str as ``disallowed_special`` (tiktoken reads it as a set of characters).
"""

from __future__ import annotations

import array
import copy
import pickle

import numpy as np
import pytest

import bpekit

tiktoken = pytest.importorskip("tiktoken", reason="tiktoken (a test dependency) is not installed")

SPECIALS = ["<|endoftext|>", "<|end|>"]


@pytest.fixture(scope="module")
def pair() -> tuple[bpekit.Encoding, object]:
    texts = ["The quick brown fox jumps over the lazy dog. " * 30, "héllo 你好 🙂 " * 10]
    ours = bpekit.train(texts, vocab_size=500, special_tokens=SPECIALS, name="toy")
    tk = tiktoken.Encoding("toy", pat_str=ours.pat_str, mergeable_ranks=ours.mergeable_ranks, special_tokens=ours.special_tokens)
    return ours, tk


def outcome(f, enc):  # noqa: ANN001, ANN201
    try:
        return f(enc)
    except Exception as e:  # noqa: BLE001
        return type(e)


# ==== Token ids ====


@pytest.mark.parametrize(
    "ids",
    [b"\x61\x62\x63\x64", bytearray(b"abcd"), memoryview(b"abcd"), "abcd"],
    ids=["bytes", "bytearray", "memoryview of bytes", "str"],
)
def test_decode_refuses_text_as_ids(pair, ids):
    """Bytes were reinterpreted as uint32 ids (b"abcd" became one id, 0x64636261).
    tiktoken decodes each byte value as an id (refuses only str); bpekit refuses all of
    them: text is not token ids."""
    ours, tk = pair
    for f in (
        lambda e: e.decode(ids),
        lambda e: e.decode_bytes(ids),
        lambda e: e.decode_batch([ids]),
        lambda e: e.decode_bytes_batch([ids]),
        lambda e: e.decode_tokens_bytes(ids),
        lambda e: e.decode_with_offsets(ids),
    ):
        assert outcome(f, ours) is TypeError
    if isinstance(ids, str):
        assert issubclass(outcome(lambda e: e.decode(ids), tk), TypeError)


@pytest.mark.parametrize(
    "ids",
    [
        np.array([True, False]),
        np.array([104.0, 105.0]),
        np.array([[104, 105]]),
        np.array(104),
        [np.True_],
        [104.0],
        array.array("d", [104.0]),
        [None],
    ],
    ids=["numpy bool", "numpy float", "numpy 2-D", "numpy 0-D", "numpy bool scalars", "floats", "array of double", "None"],
)
def test_decode_refuses_ids_that_are_not_integers(pair, ids):
    """A NumPy bool array passed as ids 1 and 0 (a "safe" cast to uint32); tiktoken, like
    bpekit now, raises TypeError for each of these."""
    ours, tk = pair
    assert issubclass(outcome(lambda e: e.decode(ids), tk), TypeError)
    for f in (
        lambda e: e.decode(ids),
        lambda e: e.decode_bytes(ids),
        lambda e: e.decode_batch([ids]),
        lambda e: e.decode_tokens_bytes(ids),
    ):
        assert outcome(f, ours) is TypeError


@pytest.mark.parametrize(
    "ids",
    [np.array([-1]), np.array([2**32], dtype=np.int64), [-1], [2**32], array.array("q", [2**32])],
    ids=["numpy negative", "numpy too large", "negative", "too large", "array too large"],
)
def test_decode_refuses_ids_out_of_range(pair, ids):
    """Out of uint32: OverflowError, as tiktoken (never a wrapped-around id)."""
    ours, tk = pair
    for f in (lambda e: e.decode(ids), lambda e: e.decode_tokens_bytes(ids), lambda e: e.decode_single_token_bytes(ids[0])):
        assert issubclass(outcome(f, tk), OverflowError)
        assert outcome(f, ours) is OverflowError


def test_the_first_bad_id_decides_the_error(pair):
    """Found by the fuzzer: decode_tokens_bytes checked every id before decoding any, so
    an unknown id followed by a negative one raised OverflowError where tiktoken, which
    goes one id at a time, raises KeyError."""
    ours, tk = pair
    unknown = ours.n_vocab + 1
    for ids, error in [([unknown, -1], KeyError), ([-1, unknown], OverflowError), ([5, 2**32, unknown], OverflowError)]:
        assert outcome(lambda e: e.decode_tokens_bytes(ids), tk) is error
        assert issubclass(outcome(lambda e: e.decode_tokens_bytes(ids), ours), error)


@pytest.mark.parametrize(
    "make",
    [
        list,
        tuple,
        lambda ids: iter(ids),
        lambda ids: [bool(i) if i < 2 else i for i in ids],
        lambda ids: np.array(ids, dtype=np.uint32),
        lambda ids: np.array(ids, dtype=np.int64),
        lambda ids: np.array(ids, dtype=np.uint16),
        lambda ids: np.array(ids, dtype=object),
        lambda ids: np.repeat(np.array(ids, dtype=np.int64), 2)[::2],  # not contiguous
        lambda ids: [np.int64(i) for i in ids],
        lambda ids: array.array("I", ids),
        lambda ids: array.array("q", ids),
        lambda ids: memoryview(array.array("I", ids)),
        lambda ids: memoryview(array.array("I", ids).tobytes()).cast("I"),
    ],
    ids=["list", "tuple", "iterator", "bools", "np uint32", "np int64", "np uint16", "np object", "np strided",
         "np int64 scalars", "array I", "array q", "memoryview I", "memoryview cast I"],
)
def test_decode_accepts_every_integer_form(pair, make):
    ours, tk = pair
    ids = ours.encode_ordinary("hello world, héllo 🙂")
    want_ids = [int(i) for i in make(ids)]
    assert ours.decode(make(ids)) == tk.decode(want_ids)
    assert ours.decode_bytes(make(ids)) == tk.decode_bytes(want_ids)


# ==== encode_single_token ====


@pytest.mark.parametrize("value", [123, [104], bytearray(b"hi"), memoryview(b"hi"), None], ids=["int", "list", "bytearray", "memoryview", "None"])
def test_encode_single_token_takes_only_str_or_bytes(pair, value):
    """An int n was turned into n NUL bytes (bytes(123)); tiktoken raises TypeError for
    each of these, and so does bpekit now."""
    ours, tk = pair
    assert outcome(lambda e: e.encode_single_token(value), tk) is TypeError
    assert outcome(lambda e: e.encode_single_token(value), ours) is TypeError


def test_encode_single_token_reads_a_str_subclass_by_its_characters(pair):
    class Odd(str):
        def encode(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            return b"h"

    class OddBytes(bytes):
        def __bytes__(self) -> bytes:
            return b"h"

    ours, tk = pair
    want = tk.encode_single_token("he")
    assert ours.encode_single_token(Odd("he")) == want
    assert ours.encode_single_token(OddBytes(b"he")) == want
    assert ours.encode_single_token(Odd("<|end|>")) == tk.encode_single_token("<|end|>")


# ==== Copies ====


def test_a_trainer_refuses_to_be_copied():
    """copy.copy gave two Trainer objects over one native trainer (feeding one fed both;
    closing one freed it under the other)."""
    t = bpekit.Trainer()
    t.feed("hello hello")
    for f in (copy.copy, copy.deepcopy, pickle.dumps):
        with pytest.raises(TypeError, match="export_counts"):
            f(t)
    assert t.texts == 1


def test_copies_of_an_encoding_are_independent(pair):
    ours, _ = pair
    text = "copy <|end|> me"
    want = ours.encode(text, allowed_special="all")
    shallow, deep = copy.copy(ours), copy.deepcopy(ours)
    assert shallow._raw == ours._raw and deep._raw != ours._raw  # the immutable handle is shared
    for other in (shallow, deep):
        assert other.encode(text, allowed_special="all") == want
        assert other.special_tokens == ours.special_tokens and other.name == ours.name
    shallow.close()
    with pytest.raises(ValueError, match="closed"):
        shallow.encode("x")
    assert ours.encode(text, allowed_special="all") == deep.encode(text, allowed_special="all") == want
    deep.close()
    assert ours.encode(text, allowed_special="all") == want


# ==== str subclasses and the special-token check ====


class Liar(str):
    """A str whose methods all lie about its characters."""

    def __contains__(self, item: object) -> bool:
        return False

    def find(self, *args: object) -> int:  # type: ignore[override]
        return -1

    def __len__(self) -> int:
        return 1

    def __iter__(self):  # noqa: ANN204
        return iter(())

    def __eq__(self, other: object) -> bool:
        return False

    def __hash__(self) -> int:
        return 0

    def __lt__(self, other: object) -> bool:
        return True

    def encode(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        return b"nothing"

    def translate(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        return "nothing"


@pytest.mark.parametrize("text", ["x <|end|> y", "<|end|>", "<|endoftext|>", "<", "a"])
def test_a_str_subclass_is_checked_by_its_characters(pair, text):
    """A str subclass whose __contains__ says False slipped past the check (encode took
    the no-special-token path and encoded "<|end|>" as ordinary text); tiktoken's regex
    reads the characters and raises, and bpekit now reads them too, in every method."""
    ours, tk = pair
    calls = [
        lambda e, t: e.encode(t),
        lambda e, t: e.encode(t, allowed_special={"<|endoftext|>"}),
        lambda e, t: e.encode(t, allowed_special="all"),
        lambda e, t: e.encode(t, disallowed_special=()),
        lambda e, t: e.encode(t, disallowed_special={"<|end|>"}),
        lambda e, t: e.encode_batch([t]),
        lambda e, t: e.encode_batch([t], disallowed_special={"<|end|>", "y"}),
        lambda e, t: e.encode_to_numpy(t).tolist(),
        lambda e, t: e.encode_with_unstable(t, disallowed_special={"<|end|>", "y"})[0],
    ]
    for call in calls:
        want = outcome(lambda e: call(e, text), tk)
        got = outcome(lambda e: call(e, Liar(text)), ours)
        assert got == want or isinstance(want, type) and isinstance(got, type) and issubclass(got, want), (text, got, want)
    counted = outcome(lambda e: e.count(Liar(text)), ours)
    want = outcome(lambda e: e.encode(text), tk)
    assert counted == len(want) if isinstance(want, list) else counted is bpekit.DisallowedSpecialTokenError


def test_special_sets_of_str_subclasses_are_read_by_their_characters(pair):
    """A disallowed token given as a str subclass whose encode() lies was sent to the
    native check as other bytes, so the token passed as ordinary text."""
    ours, tk = pair
    text = "x <|end|> y"
    with pytest.raises(ValueError, match=r"<\|end\|>"):
        ours.encode(text, disallowed_special={Liar("<|end|>")})
    with pytest.raises(ValueError, match=r"<\|end\|>"):
        ours.encode(text, allowed_special={Liar("<|endoftext|>")}, disallowed_special=[Liar("<|end|>")])
    assert ours.encode(text, allowed_special={Liar("<|end|>")}) == tk.encode(text, allowed_special={"<|end|>"})
    assert ours.encode_batch([text], allowed_special=[Liar("<|end|>")]) == [tk.encode(text, allowed_special={"<|end|>"})]


@pytest.mark.parametrize(
    "kwargs, tiktoken_does",
    [
        ({"allowed_special": "<|end|>"}, TypeError),
        ({"disallowed_special": "<|end|>"}, "reads the str as a set of characters"),
        ({"allowed_special": {1}}, "ignores it"),
        ({"disallowed_special": {1}}, TypeError),
        ({"allowed_special": 5}, TypeError),
    ],
)
def test_special_sets_must_be_all_or_strs(pair, kwargs, tiktoken_does):
    ours, tk = pair
    if tiktoken_does is TypeError:
        assert issubclass(outcome(lambda e: e.encode("a <|end|>", **kwargs), tk), TypeError)
    for f in (lambda e: e.encode("a", **kwargs), lambda e: e.encode_batch(["a"], **kwargs), lambda e: e.count("a", **kwargs)):
        assert outcome(f, ours) is TypeError


def test_none_as_a_special_set_means_none(pair):
    """disallowed_special=None turns the check off, as in tiktoken's encode (its
    encode_batch raises TypeError). allowed_special=None allows none (tiktoken raises
    TypeError; this is the strictest reading)."""
    ours, tk = pair
    text = "a <|end|>"
    want = tk.encode(text, disallowed_special=None)
    assert ours.encode(text, disallowed_special=None) == ours.encode(text, allowed_special=None, disallowed_special=None) == want
    assert ours.encode_batch([text], disallowed_special=None) == [want]
    for f in (ours.encode, ours.count, lambda t, **kw: ours.encode_batch([t], **kw)):
        with pytest.raises(ValueError):
            f(text, allowed_special=None)
    with pytest.raises(TypeError):
        tk.encode(text, allowed_special=None)


@pytest.mark.parametrize(
    "text", ["foo <|end|>", "<|end|> foo", "<|end|>foo", "foo<|end|>", "a <|endoftext|> foo <|end|>"]
)
def test_the_first_disallowed_string_is_named(pair, text):
    """With special and other strings disallowed, the error names the leftmost one, as
    tiktoken's regex finds it, whichever kind it is."""
    ours, tk = pair
    kwargs = {"disallowed_special": {"<|end|>", "<|endoftext|>", "foo"}}
    with pytest.raises(ValueError) as a:
        ours.encode(text, **kwargs)
    with pytest.raises(ValueError) as b:
        tk.encode(text, **kwargs)
    assert str(a.value) == str(b.value)


# ==== Texts ====


@pytest.mark.parametrize("value", [b"hi", None, 5, ["hi"]], ids=["bytes", "None", "int", "list"])
def test_encoders_take_only_str(pair, value):
    ours, tk = pair
    for f in (
        lambda e: e.encode(value),
        lambda e: e.encode(value, allowed_special="all"),
        lambda e: e.encode_ordinary(value),
        lambda e: e.encode_to_numpy(value),
        lambda e: e.encode_batch([value]),
        lambda e: e.encode_ordinary_batch([value]),
    ):
        assert issubclass(outcome(f, tk), TypeError)
        assert outcome(f, ours) is TypeError
    assert outcome(lambda e: e.count(value), ours) is TypeError
    assert outcome(lambda e: e.encode_with_unstable(value), ours) is TypeError


@pytest.mark.parametrize("texts", ["some text", b"some text"], ids=["str", "bytes"])
def test_training_refuses_one_text_given_as_many(texts):
    """train("some text") trained on each character as a text of its own."""
    with pytest.raises(TypeError, match="texts"):
        bpekit.train(texts, vocab_size=260)
    with pytest.raises(TypeError, match="texts"):
        bpekit.Trainer().feed_batch(texts)
