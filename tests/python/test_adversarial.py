"""The shared hostile inputs of tests/adversarial (see its README.md) through the Python
API: what must load loads, what must be refused raises the documented class, text
round trips (str with lone surrogates as tiktoken treats them), nothing hangs."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

import bpekit

ADV = Path(__file__).resolve().parents[1] / "adversarial"


def files(kind: str) -> list[Path]:
    found = sorted(p for p in (ADV / kind).iterdir() if p.suffix != ".md")
    assert found, f"no files in {ADV / kind}"
    return found


def ids_of(path: Path) -> list[int]:
    data = path.read_bytes()
    return list(struct.unpack(f"<{len(data) // 4}I", data))


@pytest.fixture(scope="module")
def toy() -> bpekit.Encoding:
    return bpekit.load(ADV / "tokenizer" / "ok_toy.bpekit")


@pytest.fixture(scope="module")
def encodings(toy: bpekit.Encoding) -> list[bpekit.Encoding]:
    whole = r"(?s:.+)"  # the whole text as one piece: the longest pieces there can be
    return [toy] + [
        bpekit.Encoding.from_tiktoken_file(ADV / "ranks" / name, whole)
        for name in ("ok_dash_equals_150.tiktoken", "ok_unreachable_20k_token.tiktoken")
    ]


@pytest.mark.parametrize("path", files("ranks"), ids=lambda p: p.name)
def test_rank_files(path: Path) -> None:
    if path.name.startswith("ok_"):
        enc = bpekit.Encoding.from_tiktoken_file(path)
        again = bpekit.Encoding.from_tiktoken_bytes(enc.export_tiktoken())
        assert again.mergeable_ranks == enc.mergeable_ranks
    else:
        with pytest.raises((bpekit.RanksError, bpekit.FormatError)):
            bpekit.Encoding.from_tiktoken_file(path)


@pytest.mark.parametrize("path", files("tokenizer"), ids=lambda p: p.name)
def test_tokenizer_files(path: Path) -> None:
    if path.name.startswith("ok_"):
        enc = bpekit.load(path)
        assert enc.to_bytes() == path.read_bytes()
        text = "a special: <|endoftext|>, and text"
        assert enc.decode(enc.encode(text, allowed_special="all")) == text
    else:
        for load in (lambda: bpekit.load(path), lambda: bpekit.Encoding.from_bytes(path.read_bytes())):
            with pytest.raises((bpekit.FormatError, bpekit.PatternError, bpekit.RanksError)):
                load()


@pytest.mark.parametrize("path", files("counts"), ids=lambda p: p.name)
def test_count_tables(path: Path) -> None:
    trainer = bpekit.Trainer()
    if path.name.startswith("ok_"):
        trainer.add_counts(path.read_bytes())
        assert trainer.finish(260).n_vocab > 256
    else:
        with pytest.raises(bpekit.FormatError):
            trainer.add_counts(path.read_bytes())


@pytest.mark.parametrize("path", files("text"), ids=lambda p: p.name)
def test_texts(path: Path, encodings: list[bpekit.Encoding]) -> None:
    data = path.read_bytes()
    if path.suffix == ".txt":
        text = data.decode("utf-8")
        expected = text
    else:
        with pytest.raises(UnicodeDecodeError):
            data.decode("utf-8")
        text = data.decode("utf-8", "surrogateescape")  # lone surrogates in a str
        expected = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")  # as tiktoken
    for enc in encodings:
        ids = enc.encode_ordinary(text)
        assert enc.decode(ids) == expected
        assert enc.decode(enc.encode(text, allowed_special="all")) == expected
        if any(s in text for s in enc.special_tokens_set):
            with pytest.raises(ValueError):
                enc.encode(text)
        else:
            assert enc.encode(text) == ids


@pytest.mark.parametrize("path", files("ids"), ids=lambda p: p.name)
def test_id_lists(path: Path, toy: bpekit.Encoding) -> None:
    ids = ids_of(path)
    if path.name.startswith("ok_"):
        assert isinstance(toy.decode_bytes(ids), bytes)
    else:
        with pytest.raises(bpekit.UnknownTokenError):
            toy.decode_bytes(ids)
