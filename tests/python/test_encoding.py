"""tiktoken's behaviours, run against tiktoken and bpekit side by side (same outputs,
same exception types), plus what bpekit adds (count, numpy, batch offsets)."""

from __future__ import annotations

import hashlib
import pickle
import random
import shutil
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bpekit
from bpekit import _marshal, _route
from conftest import DATA, corpus, on_route, real_pair

tiktoken = pytest.importorskip("tiktoken", reason="tiktoken (a test dependency) is not installed")

SPECIALS = ["<|endoftext|>", "<|fim|>", "<|end|>"]


@pytest.fixture(scope="module")
def toy_pair() -> tuple[bpekit.Encoding, object]:
    """A small trained encoding with special tokens, in both libraries (always available)."""
    texts = ["The quick brown fox jumps over the lazy dog. " * 30, "def f(x):\n    return x * 2\n" * 20, "héllo 你好 🙂 " * 10]
    ours = bpekit.train(texts, vocab_size=600, special_tokens=SPECIALS, name="toy")
    ranks = ours.mergeable_ranks
    tk = tiktoken.Encoding("toy", pat_str=ours.pat_str, mergeable_ranks=ranks, special_tokens=ours.special_tokens)
    return ours, tk


@pytest.fixture(scope="module", params=["toy", "r50k_base", "cl100k_base", "o200k_base"])
def pair(request, toy_pair):
    return toy_pair if request.param == "toy" else real_pair(request.param)


# Tests of encode_ordinary's details run on both of its routes (conftest.on_route).
ROUTES = ["builtin", "cffi"]


def same(f, *args, **kwargs):
    """Calls f on both encodings: equal results, or the same exception type."""

    def run(enc):
        try:
            return ("ok", f(enc, *args, **kwargs))
        except Exception as e:  # noqa: BLE001
            return ("err", type(e).__mro__)

    return run


def both(pair, f):
    ours, tk = pair
    a, b = _call(f, ours), _call(f, tk)
    if a[0] == "err" or b[0] == "err":
        assert a[0] == b[0] == "err", (a, b)
        # bpekit's exception is-a whatever tiktoken raised (ValueError, KeyError, ...)
        assert issubclass(a[1], b[1]) or b[1] in a[1].__mro__, (a[1], b[1])
        return a
    assert a[1] == b[1]
    return a


def _call(f, enc):
    try:
        return ("ok", f(enc))
    except Exception as e:  # noqa: BLE001
        return ("err", type(e))


# ==== Special tokens, case by case (tiktoken's semantics) ====

CASES = [
    ("hello <|endoftext|>", {}, "plain default: disallowed raises"),
    ("hello <|endoftext|>", {"allowed_special": "all"}, "all allowed"),
    ("hello <|endoftext|>", {"disallowed_special": ()}, "check off: ordinary text"),
    ("hello <|endoftext|>", {"allowed_special": {"<|endoftext|>"}}, "one allowed"),
    ("<|fim|><|endoftext|>", {"allowed_special": {"<|endoftext|>"}}, "other still disallowed"),
    ("<|fim|><|endoftext|>", {"allowed_special": {"<|endoftext|>"}, "disallowed_special": ()}, "other ordinary"),
    ("x<|endoftext|>y", {"disallowed_special": {"<|fim|>"}}, "explicit disallowed set, absent"),
    ("x<|fim|>y", {"disallowed_special": {"<|fim|>"}}, "explicit disallowed set, present"),
    ("<|endoftext|><|endoftext|>", {"allowed_special": "all"}, "repeated"),
    ("<|endoftext", {}, "partial is ordinary"),
    ("say foo", {"disallowed_special": {"foo"}}, "non-special disallowed text raises, as in tiktoken"),
    ("", {"allowed_special": "all"}, "empty"),
]


@pytest.mark.parametrize("text, kwargs, why", CASES, ids=[c[2] for c in CASES])
def test_special_token_semantics(pair, text, kwargs, why):
    ours, tk = pair
    text = text.replace("<|fim|>", "<|fim_prefix|>") if "<|fim_prefix|>" in tk.special_tokens_set else text
    if "<|fim|>" in text and "<|fim|>" not in tk.special_tokens_set:
        pytest.skip("encoding has no <|fim|>")
    kwargs = {k: ({t.replace("<|fim|>", "<|fim_prefix|>") for t in v} if isinstance(v, set) else v) for k, v in kwargs.items()}
    result = both(pair, lambda e: e.encode(text, **kwargs))
    if result[0] == "ok":
        assert ours.count(text, **kwargs) == len(result[1])
    else:
        with pytest.raises(ValueError):
            ours.count(text, **kwargs)


def test_disallowed_message_is_tiktokens(toy_pair):
    ours, tk = toy_pair
    with pytest.raises(ValueError) as a:
        ours.encode("a <|end|> b")
    with pytest.raises(ValueError) as b:
        tk.encode("a <|end|> b")
    assert str(a.value) == str(b.value)
    assert isinstance(a.value, bpekit.DisallowedSpecialTokenError)


@given(st.lists(st.sampled_from(["<|endoftext|>", "<|end|>", "<|fim|>", "<|end", "|>", "a", " b", "\n", "é", "🙂", "  "]), max_size=30))
@settings(max_examples=300, deadline=None)
def test_specials_any_mix(toy_pair, parts):
    ours, tk = toy_pair
    text = "".join(parts)
    for kw in ({"allowed_special": "all"}, {"disallowed_special": ()}, {"allowed_special": {"<|end|>"}, "disallowed_special": ()}):
        assert ours.encode(text, **kw) == tk.encode(text, **kw)
        assert ours.count(text, **kw) == len(tk.encode(text, **kw))


def test_empty_special_arguments_turn_the_check_off(toy_pair):
    """Every empty form of the two arguments (the fast path of the policy lookup, and the
    general one for other empty iterables) means no special-token handling, as in
    tiktoken; a non-empty one after them still applies."""
    ours, tk = toy_pair
    text = "a <|end|> b"
    want = tk.encode(text, disallowed_special=())
    empties = [set(), frozenset(), (), [], None, {}, iter(())]
    for allowed in empties[:5]:
        for disallowed in empties:
            if isinstance(disallowed, type(iter(()))):
                disallowed = iter(())
            assert ours.encode(text, allowed_special=allowed, disallowed_special=disallowed) == want
            assert ours.encode_to_numpy(text, allowed_special=allowed, disallowed_special=disallowed).tolist() == want
    with pytest.raises(ValueError):
        ours.encode(text, disallowed_special={"<|end|>"})
    assert ours.encode(text, allowed_special={"<|end|>"}, disallowed_special=()) == tk.encode(text, allowed_special={"<|end|>"})


# ==== Encoding and decoding, any text ====


@given(st.text(max_size=400))
@settings(max_examples=300, deadline=None)
def test_any_text_like_tiktoken(toy_pair, text):
    ours, tk = toy_pair
    assert ours.encode_ordinary(text) == tk.encode_ordinary(text)
    assert ours.encode(text, disallowed_special=()) == tk.encode(text, disallowed_special=())


@pytest.mark.parametrize("name", ["r50k_base", "cl100k_base", "o200k_base"])
def test_real_encodings_match_tiktoken_on_corpora(name):
    ours, tk = real_pair(name)
    for sample in ["english", "code", "multilingual"]:
        text = corpus(sample, 1_000_000)
        ids = ours.encode_ordinary(text)
        assert ids == tk.encode_ordinary(text), sample
        assert ours.decode(ids) == text
    assert ours.n_vocab == tk.n_vocab and ours.max_token_value == tk.max_token_value
    assert ours.eot_token == tk.eot_token
    assert ours.special_tokens_set == tk.special_tokens_set


@pytest.mark.parametrize("name", ["r50k_base", "cl100k_base", "o200k_base"])
@given(text=st.lists(st.characters() | st.sampled_from(["\ud800", "\udfff", " ", "  ", "\n", "'s", "1234", "<|endoftext|>"]), max_size=60).map("".join))
@settings(max_examples=150, deadline=None)
def test_real_encodings_any_text_incl_surrogates(name, text):
    ours, tk = real_pair(name)
    assert ours.encode_ordinary(text) == tk.encode_ordinary(text)
    assert ours.encode(text, allowed_special="all") == tk.encode(text, allowed_special="all")


@pytest.mark.parametrize("route", ROUTES)
def test_single_characters_like_tiktoken(pair, route):
    """Every ASCII character alone (served without a native call on the cffi route) and
    a few others."""
    ours, tk = on_route(pair[0], route), pair[1]
    for text in [chr(c) for c in range(128)] + ["é", "中", "🙂", "\ud800"]:
        assert ours.encode_ordinary(text) == tk.encode_ordinary(text), repr(text)
        assert ours.encode(text, disallowed_special=()) == tk.encode(text, disallowed_special=()), repr(text)
        assert ours.encode(text) == tk.encode(text), repr(text)
        assert ours.encode(text, allowed_special="all") == tk.encode(text, allowed_special="all"), repr(text)


def test_single_characters_memo(pair):
    """On the cffi route, non-ASCII single characters are remembered after their first
    encode: the second answer is the same, a fresh list each time (changing one changes
    nothing else), the memo stays bounded, and a closed Encoding still refuses."""
    ours, tk = pair
    fresh = on_route(ours, "cffi")
    chars = ["é", "中", "🙂", "\ud800", "\x80", "ÿ", "Ω", "\u200b"]
    for _ in range(3):
        for ch in chars:
            got = fresh.encode_ordinary(ch)
            assert got == tk.encode_ordinary(ch), repr(ch)
            got.append(-1)  # the caller owns the list
    for i in range(0x4E00, 0x4E00 + _route.CHAR_MEMO_MAX + 100):
        assert fresh.encode_ordinary(chr(i)) == tk.encode_ordinary(chr(i))
    assert len(fresh._char_ids) == _route.CHAR_MEMO_MAX
    fresh.close()
    with pytest.raises(ValueError, match="closed"):
        fresh.encode_ordinary("é")


SHORT_TEXTS = ["", "a", "ab", "the", " the", "hello", "héllo", "東京", "é,", "ка", "x = 1;", "a\0b", "\0",
               "\ud800x", "12345678", "123456789", "abcdefgh", "abcdefghi", "🙂🙂", "<|endoftext|>"[:8],
               "\x01\x02\x03\x04", "  \n\n\t ", "!!??..", "ÿÿÿÿ", "\u200b\u200b"]


@pytest.mark.parametrize("route", ROUTES)
def test_short_strings_on_every_route(pair, route):
    """On the cffi route, texts of up to 9 UTF-8 bytes take the packed call (up to 3 ids
    in the result) or fall back to the buffer call (4+ ids, a NUL inside, over 8 bytes):
    the same ids as tiktoken on each, both exercised. The builtin gives the same ids."""
    ours, tk = on_route(pair[0], route), pair[1]
    # Plus texts glued from 2-3 random short tokens, so that the ids come from the whole
    # vocabulary (most of o200k's need 18 bits) and land in every field of the result.
    rng = random.Random(5)
    pieces = []
    while len(pieces) < 400:
        token = ours.decode_single_token_bytes(rng.randrange(ours.max_token_value + 1))
        if len(token) <= 4 and token.isascii() or 2 <= len(token) <= 3:
            try:
                pieces.append(token.decode())
            except UnicodeDecodeError:
                continue
    glued = ["".join(rng.sample(pieces, rng.choice([2, 3])))[:8] for _ in range(1500)]
    routes = set()
    for text in SHORT_TEXTS + glued:
        want = tk.encode_ordinary(text)
        assert ours.encode_ordinary(text) == want, repr(text)
        raw = _marshal.text_bytes(text)
        if len(raw) <= _route.PACKED_TEXT_MAX and 0 not in raw and len(text) != 1:
            routes.add("packed" if 0 < len(want) <= 3 else "fallback" if want else "empty")
    if route == "cffi":
        assert {"packed", "fallback"} <= routes, routes


@pytest.mark.parametrize("route", ROUTES)
def test_str_subclasses_encode_their_characters(pair, route):
    """A str subclass is encoded by its characters, as tiktoken reads them, whatever its
    own `encode` returns, and does not leave its answer in the single-character memo; a
    str-like object that is not a str is refused with TypeError, as by tiktoken."""
    import collections

    class Odd(str):
        def encode(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            return b"zz"

        def __hash__(self) -> int:
            return hash("zz")

    ours, tk = on_route(pair[0], route), pair[1]
    for text in ["ñ", "é", "ab", "héllo wörld", "x" * 300]:
        assert ours.encode_ordinary(Odd(text)) == tk.encode_ordinary(text), repr(text)
        assert ours.encode(Odd(text)) == tk.encode(text), repr(text)
        assert ours.encode_ordinary(text) == tk.encode_ordinary(text), repr(text)
    assert both((ours, tk), lambda e: e.encode_ordinary(collections.UserString("hi")))[0] == "err"
    with pytest.raises(TypeError):
        ours.encode_ordinary(collections.UserString("hi"))


@pytest.mark.parametrize("route", ROUTES)
def test_short_strings_with_ids_too_large_to_pack(route):
    """An id above the packed call's largest (_route.PACKED_MAX_ID, 2^20 - 2) cannot
    come back packed: the call refuses and the buffer call gives it, as tiktoken does."""
    ranks = {bytes([i]): i for i in range(256)}
    n = 256
    for a in range(26):  # enough tokens that the rank table may reach 2^20
        for b in range(26):
            for c in range(26):
                for d in range(16):
                    ranks[bytes([97 + a, 97 + b, 97 + c, 97 + d])] = n
                    n += 1
    top = _route.PACKED_MAX_ID
    ranks[b"zz"] = top + 1
    ranks[b"yy"] = top
    pat = r"\w+| "
    ours = on_route(bpekit.Encoding("big", pat_str=pat, mergeable_ranks=ranks, special_tokens={}), route)
    tk = tiktoken.Encoding("big", pat_str=pat, mergeable_ranks=ranks, special_tokens={})
    for text in ["zz", "yy", "zz zz", "yy yy", "abcd", "yyzz", "q zz"]:
        assert ours.encode_ordinary(text) == tk.encode_ordinary(text), repr(text)
    assert ours.encode_ordinary("zz") == [top + 1]
    assert ours.encode_ordinary("yy") == [top]


def test_single_character_special_token(toy_pair):
    """A one-character special token is still a special token on the one-character path."""
    ours, _ = toy_pair
    specials = {"@": 1000}
    a = bpekit.Encoding("at", pat_str=ours.pat_str, mergeable_ranks=ours.mergeable_ranks, special_tokens=specials)
    b = tiktoken.Encoding("at", pat_str=ours.pat_str, mergeable_ranks=ours.mergeable_ranks, special_tokens=specials)
    assert both((a, b), lambda e: e.encode("@"))[0] == "err"
    assert a.encode("@", allowed_special="all") == b.encode("@", allowed_special="all") == [1000]
    assert a.encode("@", disallowed_special=()) == b.encode("@", disallowed_special=()) == [ord("@")]
    assert a.encode_ordinary("@") == b.encode_ordinary("@") == [ord("@")]


def test_single_character_under_a_pattern_that_skips_it(toy_pair):
    """Under a pattern that leaves a character out, it gives no token (as in tiktoken)."""
    ours, _ = toy_pair
    custom = bpekit.Encoding("w", pat_str=r"\w+", mergeable_ranks=ours.mergeable_ranks, special_tokens={})
    tk = tiktoken.Encoding("w", pat_str=r"\w+", mergeable_ranks=ours.mergeable_ranks, special_tokens={})
    for text in [" ", "a", "!", "\n"]:
        assert custom.encode_ordinary(text) == tk.encode_ordinary(text), repr(text)
    assert custom.encode_ordinary(" ") == []


@pytest.mark.parametrize("long", ["a" * 100_000, " " * 100_000, "1" * 100_000, "日本語" * 30_000, "a b" * 30_000, " \n" * 20_000])
def test_long_runs_like_tiktoken(long):
    ours, tk = real_pair("cl100k_base")
    assert ours.encode_ordinary(long) == tk.encode_ordinary(long)


def test_decode_family(pair):
    ours, tk = pair
    ids = tk.encode("hello wörld 🙂 <|endoftext|>", allowed_special="all")
    for f in (
        lambda e: e.decode(ids),
        lambda e: e.decode_bytes(ids),
        lambda e: e.decode_tokens_bytes(ids),
        lambda e: e.decode_with_offsets(ids),
        lambda e: e.decode_batch([ids, ids[:3]]),
        lambda e: e.decode_bytes_batch([ids, []]),
        lambda e: e.decode_single_token_bytes(ids[0]),
        lambda e: e.decode([ids[-2]] if len(ids) > 1 else ids, errors="strict"),
        lambda e: e.decode_single_token_bytes(10**7),
        lambda e: e.decode_bytes([10**7]),
        lambda e: e.encode_single_token("hello"),
        lambda e: e.encode_single_token(b"\xff"),
        lambda e: e.encode_single_token("<|endoftext|>"),
        lambda e: e.is_special_token(ids[-1]),
        lambda e: e.is_special_token(0),
    ):
        both(pair, f)


def test_token_byte_values(toy_pair):
    ours, tk = toy_pair
    assert ours.token_byte_values() == tk.token_byte_values()


# ==== Batch, count, numpy ====


def test_batches_equal_single_calls(pair):
    ours, tk = pair
    texts = ["hello world", "", "<|endoftext|> x", "日本語 text " * 50] * 5
    assert ours.encode_ordinary_batch(texts) == tk.encode_ordinary_batch(texts)
    assert ours.encode_batch(texts, allowed_special="all") == tk.encode_batch(texts, allowed_special="all")
    for n in (1, 2, 3):
        assert ours.encode_ordinary_batch(texts, num_threads=n) == [ours.encode_ordinary(t) for t in texts]
    with pytest.raises(ValueError):
        ours.encode_batch(texts)
    flat, offs = ours.encode_batch_to_numpy(texts, allowed_special="all")
    assert [flat[offs[i] : offs[i + 1]].tolist() for i in range(len(texts))] == ours.encode_batch(texts, allowed_special="all")


def test_numpy(pair):
    import numpy as np

    ours, tk = pair
    text = "numpy without lists 🙂" * 20
    a, b = ours.encode_to_numpy(text), tk.encode_to_numpy(text)
    assert a.dtype == np.uint32 and a.tolist() == b.tolist()
    assert ours.decode(a) == text
    assert ours.encode_to_numpy("").tolist() == []


def test_shared_encoding_threads_agree(toy_pair):
    ours, _ = toy_pair
    texts = [f"thread {i} <|end|> text " * (i + 1) for i in range(40)]
    expected = [ours.encode(t, allowed_special="all") for t in texts]
    bad: list[int] = []

    def work() -> None:
        for _ in range(20):
            if [ours.encode(t, allowed_special="all") for t in texts] != expected:
                bad.append(1)

    ts = [threading.Thread(target=work) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not bad


# ==== Construction, pickling, get_encoding ====


def test_constructor_is_tiktokens(toy_pair):
    ours, tk = toy_pair
    again = bpekit.Encoding("again", pat_str=tk._pat_str, mergeable_ranks=tk._mergeable_ranks, special_tokens=tk._special_tokens)
    assert again.encode("x <|end|>", allowed_special="all") == tk.encode("x <|end|>", allowed_special="all")
    with pytest.raises(ValueError):
        bpekit.Encoding("bad", pat_str=tk._pat_str, mergeable_ranks=tk._mergeable_ranks, special_tokens={}, explicit_n_vocab=5)


def test_to_and_from_tiktoken(toy_pair):
    ours, tk = toy_pair
    text = "convert <|end|> both ways"
    assert ours.to_tiktoken().encode(text, allowed_special="all") == tk.encode(text, allowed_special="all")
    back = bpekit.from_tiktoken(tk)
    assert back.encode(text, allowed_special="all") == tk.encode(text, allowed_special="all")
    assert back.name == tk.name and back.special_tokens == tk._special_tokens


def test_pickle_roundtrip(toy_pair):
    ours, _ = toy_pair
    back = pickle.loads(pickle.dumps(ours))
    text = "pickled <|end|> text"
    assert back.encode(text, allowed_special="all") == ours.encode(text, allowed_special="all")
    assert back.name == ours.name and back.special_tokens == ours.special_tokens


def test_get_encoding_offline_and_errors(tmp_path, monkeypatch):
    if not (DATA / "cl100k_base.tiktoken").exists():
        pytest.skip(f"{DATA} has no rank files")
    from bpekit import _registry

    monkeypatch.setattr(_registry, "_LOADED", {})  # (nothing loaded before: each lookup below runs)
    monkeypatch.setenv("BPEKIT_DATA", str(DATA))
    enc = bpekit.get_encoding("cl100k_base")
    assert enc.name == "cl100k_base" and enc.n_vocab == 100277
    # tiktoken's cache layout (sha1 of the URL) through TIKTOKEN_CACHE_DIR
    monkeypatch.delenv("BPEKIT_DATA")
    cache = tmp_path / "cache"
    cache.mkdir()
    url = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"
    shutil.copy(DATA / "o200k_base.tiktoken", cache / hashlib.sha1(url.encode()).hexdigest())
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(cache))
    assert bpekit.get_encoding("o200k_base").n_vocab == 200019
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="Looked in"):
        bpekit.get_encoding("cl100k_base", data_dir=tmp_path)
    (tmp_path / "cl100k_base.tiktoken").write_bytes(b"YQ== 0\n")
    with pytest.raises(ValueError, match="sha256"):
        bpekit.get_encoding("cl100k_base", data_dir=tmp_path)
    with pytest.raises(ValueError, match="Unknown encoding"):
        bpekit.get_encoding("nope")
