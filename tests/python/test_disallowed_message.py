"""The error for disallowed special-token text is tiktoken's, word for word, on every
call that checks it: special tokens and other disallowed strings whose ``repr`` has
quotes, backslashes, escapes or non-ASCII characters, on cl100k_base's ranks."""

from __future__ import annotations

import pytest

import bpekit
from conftest import DATA

tiktoken = pytest.importorskip("tiktoken", reason="tiktoken (a test dependency) is not installed")

# Each is a special token of both encodings below; `repr` writes them in each of its
# ways: single quotes, double quotes (the text has a single quote), both (escaped),
# backslashes, \n and \t escapes, and printable non-ASCII kept as it is.
SPECIALS = [
    "<|endoftext|>",
    "<|it's|>",
    '<|say "hi"|>',
    "<|'both\"|>",
    "<|back\\slash|>",
    "<|line\nbreak|>",
    "<|tab\t|>",
    "<|naïve|>",
    "<|日本語|>",
    "<|🙂|>",
]


@pytest.fixture(scope="module")
def pair() -> tuple[bpekit.Encoding, object]:
    path = DATA / "cl100k_base.tiktoken"
    if not path.exists():
        pytest.skip(f"{path} not found (set BPEKIT_DATA to the shared data directory)")
    from tiktoken.load import load_tiktoken_bpe

    ranks = load_tiktoken_bpe(str(path))
    specials = {t: 100_300 + i for i, t in enumerate(SPECIALS)}
    ours = bpekit.Encoding.from_tiktoken_bytes(path.read_bytes(), bpekit.CL100K_PATTERN, special_tokens=specials, name="msg")
    tk = tiktoken.Encoding("msg", pat_str=bpekit.CL100K_PATTERN, mergeable_ranks=ranks, special_tokens=specials)
    return ours, tk


def message(f) -> str:  # noqa: ANN001
    with pytest.raises(ValueError) as info:
        f()
    return str(info.value)


@pytest.mark.parametrize("token", SPECIALS)
def test_special_token_message(pair, token):
    ours, tk = pair
    text = f"before {token} after"
    want = message(lambda: tk.encode(text))
    assert token.__repr__() in want  # (tiktoken names it by its repr)
    for name, f in [
        ("encode", lambda: ours.encode(text)),
        ("encode short", lambda: ours.encode(token)),
        ("encode set", lambda: ours.encode(text, disallowed_special={token})),
        ("count", lambda: ours.count(text)),
        ("encode_to_numpy", lambda: ours.encode_to_numpy(text)),
        ("encode_batch", lambda: ours.encode_batch(["fine", text])),
        ("encode_with_unstable", lambda: ours.encode_with_unstable(text)),
    ]:
        assert message(f) == want, name
    with pytest.raises(bpekit.DisallowedSpecialTokenError):
        ours.encode(text)


@pytest.mark.parametrize("string", ["it's", 'say "hi"', "naïve", "日本語", "a\\b", "🙂"])
def test_other_disallowed_string_message(pair, string):
    """A disallowed string that is not a special token is refused with the same message."""
    ours, tk = pair
    text = f"x {string} y"
    want = message(lambda: tk.encode(text, disallowed_special={string}))
    for f in [
        lambda: ours.encode(text, disallowed_special={string}),
        lambda: ours.encode(text, allowed_special="all", disallowed_special={string}),
        lambda: ours.count(text, disallowed_special={string}),
        lambda: ours.encode_batch([text], disallowed_special={string}),
    ]:
        assert message(f) == want


@pytest.mark.parametrize("specials", [{}, {"<|end|>": 256}], ids=["no specials", "specials"])
@pytest.mark.parametrize("text, string", [("a", "a"), ("x", "x"), ("say yes", "yes"), ("é", "é"), ("ab", "")])
def test_other_strings_are_found_on_every_route(specials, text, string):
    """Text with no special-token text in it takes shortcuts past the core (one ASCII
    character, encode_ordinary); a disallowed string that is not a special token is
    still found there, as tiktoken finds it."""
    ranks = {bytes([b]): b for b in range(256)}
    ours = bpekit.Encoding("bytes", pat_str=bpekit.CL100K_PATTERN, mergeable_ranks=ranks, special_tokens=specials)
    tk = tiktoken.Encoding("bytes", pat_str=bpekit.CL100K_PATTERN, mergeable_ranks=ranks, special_tokens=specials)
    for kwargs in ({"disallowed_special": {string}}, {"allowed_special": "all", "disallowed_special": {string}}):
        want = message(lambda: tk.encode(text, **kwargs))
        assert message(lambda: ours.encode(text, **kwargs)) == want
        assert message(lambda: ours.count(text, **kwargs)) == want
    assert ours.encode(text, disallowed_special={string + "zz"}) == tk.encode(text, disallowed_special={string + "zz"})
