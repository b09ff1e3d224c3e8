"""Which engine splits text for a pattern (``Encoding.split_engine``, ``bpekit inspect``),
and that the automaton engine gives tiktoken's tokens for the open models' patterns."""

from __future__ import annotations

import json

import pytest

import bpekit
from bpekit.cli import main

TEXTS = [
    "Hello world's 12345  \n end",
    "I'LL see   you\t\tthere!!\r\n\r\n  ok  ",
    "日本語のテキスト、カタカナ。 数字 ١٢٣ and émigré naïve Ⅻ ½",
    "def f(x):\n    return x**2  # comment\n\n\n",
    "  leading and trailing  ",
    "'s 't 're 've 'm 'll 'd 'S 'T 'RE 'x",
]


def byte_ranks() -> dict[bytes, int]:
    return {bytes([i]): i for i in range(256)}


@pytest.mark.parametrize(
    ("pattern", "engine"),
    [
        (bpekit.CL100K_PATTERN, "named"),
        (bpekit.GPT2_PATTERN, "named"),
        (bpekit.O200K_PATTERN, "named"),
        (bpekit.NANOCHAT_PATTERN, "named"),
        (bpekit.LLAMA3_PATTERN, "named"),
        (bpekit.QWEN2_PATTERN, "named"),
        (bpekit.DEEPSEEK_V3_PATTERN, "automaton"),
        (r"\w+|\s+|[^\w\s]+", "automaton"),
        (r"(\w)\1|\w|\s+|[^\w\s]", "backtracking"),  # a back-reference
        (r"\s+(?=\S)|\S+|\s+", "backtracking"),  # a look-ahead other than the idiom
    ],
)
def test_split_engine_of_a_pattern(pattern, engine):
    enc = bpekit.Encoding("t", pat_str=pattern, mergeable_ranks=byte_ranks(), special_tokens={})
    assert enc.split_engine == engine


def test_named_patterns_of_the_open_models():
    for name in ("llama3", "qwen2", "deepseek_v3"):
        assert bpekit.core._named_pattern(name)
    assert bpekit.LLAMA3_PATTERN.endswith(r"|\s+(?!\S)|\s+")
    assert r"\p{N}{1,3}" not in bpekit.QWEN2_PATTERN


@pytest.mark.parametrize(("name", "engine"), [("LLAMA3_PATTERN", "named"), ("QWEN2_PATTERN", "named"),
                                              ("DEEPSEEK_V3_PATTERN", "automaton")])
def test_open_model_patterns_encode_like_tiktoken(name, engine):
    tiktoken = pytest.importorskip("tiktoken")
    pattern = getattr(bpekit, name)
    enc = bpekit.train(TEXTS * 20, vocab_size=400, pattern=pattern)
    assert enc.split_engine == engine
    ref = tiktoken.Encoding("ref", pat_str=pattern, mergeable_ranks=enc.mergeable_ranks, special_tokens={})
    for text in TEXTS + ["".join(TEXTS)]:
        assert enc.encode_ordinary(text) == ref.encode_ordinary(text), text


def test_inspect_prints_the_split_engine(capsys, tmp_path):
    enc = bpekit.train(TEXTS * 5, vocab_size=300, pattern=bpekit.DEEPSEEK_V3_PATTERN)
    path = str(tmp_path / "t.bpekit")
    enc.save(path)
    assert main(["inspect", path]) == 0
    assert "split engine: automaton" in capsys.readouterr().out
    assert main(["inspect", path, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["split_engine"] == "automaton"
    page = tmp_path / "p.html"
    assert main(["inspect", path, "hi", "--html", str(page)]) == 0
    assert "split engine: automaton" in page.read_text(encoding="utf-8")
    capsys.readouterr()
    named = bpekit.train(TEXTS * 5, vocab_size=300)  # the default, cl100k_base's pattern
    named.save(path)
    assert main(["inspect", path, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["split_engine"] == "named"
