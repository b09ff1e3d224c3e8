"""``Encoding.encode_with_unstable`` against tiktoken's: the same stable tokens, the same
set of completions (tiktoken builds them from a set, so order is not compared; bpekit
sorts them), the same exceptions."""

from __future__ import annotations


import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bpekit
from conftest import corpus, real_pair

tiktoken = pytest.importorskip("tiktoken", reason="tiktoken (a test dependency) is not installed")

REAL = ["r50k_base", "cl100k_base", "o200k_base"]


@pytest.fixture(scope="module")
def toy_pair() -> tuple[bpekit.Encoding, object]:
    """A small trained encoding with special tokens, in both libraries (always available)."""
    texts = ["The quick brown fox jumps over the lazy dog. " * 30, "def f(x):\n    return x * 2\n" * 20, "héllo 你好 🙂 " * 10]
    ours = bpekit.train(texts, vocab_size=600, special_tokens=["<|endoftext|>", "<|end|>"], name="toy")
    tk = tiktoken.Encoding("toy", pat_str=ours.pat_str, mergeable_ranks=ours.mergeable_ranks, special_tokens=ours.special_tokens)
    return ours, tk


@pytest.fixture(scope="module", params=["toy", *REAL])
def pair(request, toy_pair):
    return toy_pair if request.param == "toy" else real_pair(request.param)


def check_same(ours: bpekit.Encoding, tk, text: str, tk_text: str | None = None, **kwargs) -> tuple[list[int], list[list[int]]]:
    """bpekit on `text` and tiktoken on `tk_text` (default: the same text) agree; bpekit's
    completions are sorted, distinct, and continue the text."""
    stable, completions = ours.encode_with_unstable(text, **kwargs)
    tk_stable, tk_completions = tk.encode_with_unstable(text if tk_text is None else tk_text, **kwargs)
    assert stable == tk_stable
    assert {tuple(c) for c in completions} == {tuple(c) for c in tk_completions}
    assert completions == sorted(completions) and len({tuple(c) for c in completions}) == len(completions)
    assert isinstance(stable, list) and all(isinstance(c, list) for c in completions)
    want = (text if tk_text is None else tk_text).encode("utf-8")
    assert want.startswith(ours.decode_bytes(stable))
    for seq in completions[:200]:
        assert ours.decode_bytes(stable + seq).startswith(want), seq
    return stable, completions


# ==== Hand-picked endings ====

PROMPTS = [
    ("hello wor", "mid-word"),
    ("hello fanta", "tiktoken's docstring example"),
    ("The quick brown fox jumps over the", "whole word"),
    ("trailing space ", "one space"),
    ("indent:\n    ", "indentation"),
    ("two  ", "two spaces"),
    ("tabs\t\t", "tabs"),
    ("line\n", "newline"),
    ("para\n\n", "two newlines"),
    ("dos\r\n", "CRLF"),
    ("x \n \n ", "mixed whitespace"),
    ("call(x, y", "inside a call"),
    ("The end.", "full stop"),
    ("wow!!", "exclamation marks"),
    ("a, b,", "comma"),
    ("<html><b", "markup"),
    ("number 12345", "digits"),
    ("pi is 3.14", "decimal"),
    ("don't", "contraction"),
    ("it'", "apostrophe"),
    ("", "empty string"),
    ("東京都", "CJK"),
    ("你好，世界", "CJK punctuation"),
    ("こんにちは", "kana"),
    ("ok 🙂", "emoji"),
    ("family 👨‍👩‍👧", "ZWJ emoji sequence"),
    ("cafe\u0301", "combining accent"),
    ("\u3000", "ideographic space alone"),
    ("x\u3000", "ideographic space after text"),
    ("<|endoftext", "partial special token"),
    ("<|endoftext|>", "special token as text (check off)"),
]


@pytest.mark.parametrize("text, why", PROMPTS, ids=[p[1] for p in PROMPTS])
def test_prompts_like_tiktoken(pair, text, why):
    ours, tk = pair
    kwargs = {"disallowed_special": ()} if "<|" in text else {}
    check_same(ours, tk, text, **kwargs)


SPECIAL_ENDINGS = [
    "<|endoftext|>",
    "hello<|endoftext|>",
    "hello <|endoftext|><|endoftext|>",
    "<|endoftext|> next",
    "<|endoftext|>\n",
]


@pytest.mark.parametrize("text", SPECIAL_ENDINGS)
def test_special_tokens_allowed(pair, text):
    ours, tk = pair
    stable, completions = check_same(ours, tk, text, allowed_special="all")
    if text.endswith("|>"):  # ends in a special token: nothing unstable
        assert completions == [] and stable == ours.encode(text, allowed_special="all")
    check_same(ours, tk, text, allowed_special={"<|endoftext|>"})


def test_empty_text(pair):
    ours, _ = pair
    assert ours.encode_with_unstable("") == ([], [])


# ==== Lone surrogates ====

SURROGATES = ["ab\ud800", "\udfff", "x \ud800 y", "smile \ud83d", "\ud800\n"]


@pytest.mark.parametrize("text", SURROGATES, ids=[repr(t) for t in SURROGATES])
def test_lone_surrogates_get_encodes_fixup(pair, text):
    """bpekit replaces lone surrogates with U+FFFD, as ``encode`` (bpekit's and tiktoken's)
    does. tiktoken's own ``encode_with_unstable`` skips that fix-up and raises
    ``UnicodeEncodeError``; bpekit gives tiktoken's result for the fixed-up text."""
    ours, tk = pair
    fixed = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    with pytest.raises(UnicodeEncodeError):
        tk.encode_with_unstable(text)
    stable, _ = check_same(ours, tk, text, tk_text=fixed)
    assert ours.encode(text)[: len(stable)] == stable


# ==== Disallowed special tokens ====

DISALLOWED = [
    ("hello <|endoftext|>", {}),
    ("hello <|endoftext|> there", {"allowed_special": set()}),
    ("<|endoftext|>", {"allowed_special": {"<|endoftext|>"}, "disallowed_special": {"<|endoftext|>"}}),
    ("say foo", {"disallowed_special": {"foo"}}),
]


@pytest.mark.parametrize("text, kwargs", DISALLOWED, ids=[f"{t!r} {k}" for t, k in DISALLOWED])
def test_disallowed_special_raises_like_tiktoken(pair, text, kwargs):
    ours, tk = pair
    with pytest.raises(Exception) as theirs:
        tk.encode_with_unstable(text, **kwargs)
    with pytest.raises(type(theirs.value)) as mine:
        ours.encode_with_unstable(text, **kwargs)
    assert isinstance(mine.value, ValueError)
    if "foo" not in text:
        assert isinstance(mine.value, bpekit.DisallowedSpecialTokenError)
    assert str(mine.value) == str(theirs.value)


def test_disallowed_check_can_be_turned_off(pair):
    ours, tk = pair
    check_same(ours, tk, "hello <|endoftext|> wor", disallowed_special=())
    check_same(ours, tk, "hello <|endoftext|> wor", disallowed_special={"foo"})


# ==== Any short text ====

ATOMS = st.sampled_from([" ", "  ", "\n", "\t", "\r\n", "a", "the", " the", "'s", "1", "12345", "!", ".", "é", "日本", "🙂", "\u3000"])
SHORT_TEXT = st.lists(st.characters(exclude_categories=("Cs",)) | ATOMS, max_size=8).map("".join)


@given(text=SHORT_TEXT)
@settings(max_examples=300, deadline=None)
def test_any_short_text_toy(toy_pair, text):
    ours, tk = toy_pair
    check_same(ours, tk, text)


@pytest.mark.parametrize("name", REAL)
@given(text=SHORT_TEXT)
@settings(max_examples=100, deadline=None)
def test_any_short_text_real(name, text):
    ours, tk = real_pair(name)
    check_same(ours, tk, text)


# ==== A long text ====


@pytest.mark.parametrize("name", REAL)
def test_long_text_ends_like_tiktoken(name):
    """A long text: the stable part is the whole encoding bar the end, as in tiktoken."""
    ours, tk = real_pair(name)
    text = corpus("english", 200_000)
    for end in (" incomple", "\n\n", ", "):
        stable, _ = check_same(ours, tk, text + end, disallowed_special=())
        assert len(stable) > len(text) // 10
