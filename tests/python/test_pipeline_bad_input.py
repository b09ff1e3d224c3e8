"""Bad input to the `bpekit` command (issue 15, "Bad input"): every case is its own test and
checks the exit status (1: runtime error, `bpekit: error: ...` on stderr; 2: usage error),
that the message names the file and the position (line, byte offset, column), and that no
output is left behind: the output directory of a failed run is empty, under final names
and temporary ones alike.

Input errors run through both commands that write (`train` and `encode`). The bad files are
written here, so each test shows the bytes and the position it expects to see named.
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import pytest

import bpekit
from conftest import DATA
from test_pipeline_e2e import (
    FIXTURES,
    _wide_tokenizer,
    assert_same_files,
    bpekit_cmd,
    check_shard,
    fixture_text,
    ok,
    write_parquet,
)

COMMANDS = ["train", "encode"]


@pytest.fixture(scope="module")
def tok(tmp_path_factory) -> Path:
    """A small tokenizer with <|endoftext|>, saved."""
    enc = bpekit.train([fixture_text("prose.txt"), fixture_text("lines.txt")], 300, special_tokens=["<|endoftext|>"])
    path = tmp_path_factory.mktemp("tok") / "small.bpekit"
    enc.save(path)
    return path


@pytest.fixture
def out(tmp_path) -> Path:
    """The output directory of the command under test (empty)."""
    d = tmp_path / "out"
    d.mkdir()
    return d


def command(kind: str, sources: list[object], tok: Path, out: Path, *extra: object) -> list[object]:
    """`bpekit train` or `bpekit encode` of `sources`, writing into `out`."""
    if kind == "train":
        return ["train", *sources, "--vocab-size", 300, *extra, "-o", out / "tok.bpekit"]
    return ["encode", *sources, "--tokenizer", tok, "--format", "llmc", *extra, "-o", out / "shards"]


def fails(args: list[object], *, code: int = 1, stdin: bytes | None = None) -> str:
    """Runs the command, which must fail with exit status `code`; returns its stderr."""
    r = bpekit_cmd(*args, stdin=stdin)
    err = r.stderr.decode("utf-8", "replace")
    assert r.returncode == code, f"exit status {r.returncode}, expected {code}; stderr:\n{err}"
    assert "Traceback" not in err, err
    if code == 1:
        assert "bpekit: error:" in err, err
    return err


def refused(args: list[object]) -> str:
    """Runs a command that must fail as a runtime or a usage error (where the contract
    does not say which); returns its stderr."""
    r = bpekit_cmd(*args)
    err = r.stderr.decode("utf-8", "replace")
    assert r.returncode in (1, 2), f"exit status {r.returncode}; stderr:\n{err}"
    assert "Traceback" not in err and "unrecognized arguments" not in err, err
    return err


def nothing_written(out: Path) -> None:
    assert sorted(p.name for p in out.iterdir()) == [], "a failed run left files behind"


def names_line(err: str, path: Path, line: int) -> None:
    """The message names `path` and line `line` (as `path:line` or `line N`)."""
    assert path.name in err, f"{path.name} not named in: {err}"
    assert re.search(rf"{re.escape(path.name)}:{line}\b", err) or re.search(rf"\bline {line}\b", err), \
        f"line {line} not named in: {err}"


def names_number(err: str, n: int) -> None:
    assert re.search(rf"(?<![\d.]){n}(?![\d.])", err), f"{n} not named in: {err}"


# ==== Files that are not there ====


@pytest.mark.parametrize("kind", COMMANDS)
@pytest.mark.parametrize("where", ["alone", "after an existing file"])
def test_missing_file(kind, where, tok, out, tmp_path):
    missing = tmp_path / "no-such-corpus.txt"
    sources = [missing] if where == "alone" else [FIXTURES / "lines.txt", missing]
    err = fails(command(kind, [*sources, "--lines"], tok, out))
    assert missing.name in err
    nothing_written(out)


@pytest.mark.parametrize("kind", COMMANDS)
@pytest.mark.parametrize("contents", ["empty", "other extensions", "glob"])
def test_directory_without_matching_files(kind, contents, tok, out, tmp_path):
    d = tmp_path / "corpus-dir"
    d.mkdir()
    if contents == "other extensions":
        (d / "table.csv").write_text("a,b\n1,2\n")
        (d / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    source = d if contents != "glob" else f"{d}/*.jsonl"
    err = fails(command(kind, [source], tok, out))
    assert d.name in err
    nothing_written(out)


# ==== Invalid UTF-8 ====

BAD_LINE = 42  # the line holding the invalid byte


def bad_utf8_lines(path: Path) -> tuple[list[bytes], int]:
    """A file of lines whose line BAD_LINE holds a lone continuation byte; returns the
    lines and the byte offset of the invalid byte in the file."""
    lines = [f"row {i}: plain text, déjà vu, 東京".encode() for i in range(1, 61)]
    lines[BAD_LINE - 1] = b"this row's next byte \x80 is not UTF-8"  # (no number: a quoted line names none)
    data = b"\n".join(lines) + b"\n"
    path.write_bytes(data)
    return lines, data.index(b"\x80")


@pytest.mark.parametrize("kind", COMMANDS)
@pytest.mark.parametrize("layout", ["--lines", "whole file"])
def test_invalid_utf8_is_an_error_naming_byte_and_line(kind, layout, tok, out, tmp_path):
    src = tmp_path / "broken-utf8.txt"
    _, offset = bad_utf8_lines(src)
    err = fails(command(kind, [src, *([layout] if layout == "--lines" else [])], tok, out))
    assert src.name in err
    names_number(err, offset)
    names_line(err, src, BAD_LINE)
    nothing_written(out)


def test_invalid_utf8_in_jsonl_names_the_line(tok, out, tmp_path):
    src = tmp_path / "broken-utf8.jsonl"
    rows = [json.dumps({"text": f"record {i}"}).encode() for i in range(1, 10)]
    rows[6] = b'{"text": "record 7 \xff\xfe"}'
    src.write_bytes(b"\n".join(rows) + b"\n")
    err = fails(command("encode", [src], tok, out))
    names_line(err, src, 7)
    nothing_written(out)


def test_invalid_utf8_offset_counts_from_the_file_start(tmp_path):
    """Read in chunks far smaller than the file, the error still gives the offset and the
    line in the file, not in the chunk."""
    from bpekit.corpus import Corpus

    src = tmp_path / "chunked.txt"
    _, offset = bad_utf8_lines(src)
    with pytest.raises(bpekit.InvalidUtf8Error) as e:
        for _ in Corpus([str(src)], lines=True, chunk_bytes=128).batches():
            pass
    names_number(str(e.value), offset)
    names_line(str(e.value), src, BAD_LINE)


def test_errors_replace(tok, out, tmp_path):
    """--errors replace: invalid bytes become U+FFFD, as Python's errors="replace"."""
    src = tmp_path / "broken-utf8.txt"
    lines, _ = bad_utf8_lines(src)
    docs = [x.decode("utf-8", "replace") for x in lines]
    assert "\ufffd" in docs[BAD_LINE - 1]
    ok("encode", src, "--lines", "--errors", "replace", "--tokenizer", tok, "--format", "npy", "-o", out / "shards")
    check_shard("npy", out / "shards", bpekit.load(tok), docs)
    ok("train", src, "--lines", "--errors", "replace", "--vocab-size", 300, "-o", out / "t.bpekit")
    assert (out / "t.bpekit").read_bytes() == bpekit.train(docs, 300).to_bytes()


def test_errors_skip(tok, out, tmp_path):
    """--errors skip: the document with invalid UTF-8 is dropped (and counted)."""
    from bpekit.corpus import Corpus

    src = tmp_path / "broken-utf8.txt"
    lines, _ = bad_utf8_lines(src)
    docs = [x.decode() for i, x in enumerate(lines) if i != BAD_LINE - 1]
    ok("encode", src, "--lines", "--errors", "skip", "--tokenizer", tok, "--format", "npy", "-o", out / "shards")
    check_shard("npy", out / "shards", bpekit.load(tok), docs)
    ok("train", src, "--lines", "--errors", "skip", "--vocab-size", 300, "-o", out / "t.bpekit")
    assert (out / "t.bpekit").read_bytes() == bpekit.train(docs, 300).to_bytes()
    corpus = Corpus([str(src)], lines=True, errors="skip")
    assert list(corpus.texts()) == docs
    assert corpus.skipped == 1 and corpus.documents == len(docs)


# ==== JSON Lines ====


def jsonl_with(path: Path, bad_line: int, bad: bytes) -> Path:
    rows = [json.dumps({"meta": {"body": {"text": f"record {i}"}}}).encode() for i in range(1, 12)]
    rows[bad_line - 1] = bad
    path.write_bytes(b"\n".join(rows) + b"\n")
    return path


@pytest.mark.parametrize("kind", COMMANDS)
def test_jsonl_line_that_is_not_json(kind, tok, out, tmp_path):
    src = jsonl_with(tmp_path / "not-json.jsonl", 5, b'{"meta": {"body": {"text": "cut short')
    err = fails(command(kind, [src, "--text-key", "meta.body.text"], tok, out))
    names_line(err, src, 5)
    nothing_written(out)


@pytest.mark.parametrize("kind", COMMANDS)
@pytest.mark.parametrize("row", [
    b'{"meta": {"body": {"title": "no text here"}}}',
    b'{"meta": {"lang": "en"}}',
    b'{"meta": "a string, not an object"}',
    b'{"meta": {"body": {"text": 12345}}}',
    b'["an array", "not an object"]',
], ids=["leaf missing", "object missing", "not an object", "not a string", "array line"])
def test_jsonl_line_without_the_key(kind, row, tok, out, tmp_path):
    src = jsonl_with(tmp_path / "no-key.jsonl", 8, row)
    err = fails(command(kind, [src, "--text-key", "meta.body.text"], tok, out))
    names_line(err, src, 8)
    if row.startswith(b"{"):  # (a line that is no object at all is said to be one)
        assert "meta.body.text" in err, "the message names the key it looked for"
    nothing_written(out)


# ==== Parquet ====


@pytest.mark.parametrize("kind", COMMANDS)
def test_parquet_column_that_does_not_exist(kind, tok, out, tmp_path):
    src = write_parquet(tmp_path / "rows.parquet", ["a", "b", "c", "d", "e", "f", "g", "h", "i"])
    err = fails(command(kind, [src, "--column", "body"], tok, out))
    assert src.name in err and "body" in err
    nothing_written(out)


@pytest.mark.parametrize("kind", COMMANDS)
def test_parquet_column_that_is_not_a_string(kind, tok, out, tmp_path):
    src = write_parquet(tmp_path / "rows.parquet", ["a", "b", "c", "d", "e", "f", "g", "h", "i"])
    err = fails(command(kind, [src, "--column", "n"], tok, out))
    assert src.name in err and re.search(r"\bn\b", err)
    assert "int64" in err or "string" in err, "the message says what the column is or should be"
    nothing_written(out)


# ==== Tokenizers ====


def damaged(tok: Path, tmp_path: Path, how: str) -> Path:
    data = bytearray(tok.read_bytes())
    bad = tmp_path / f"damaged-{how.replace(' ', '-')}.bpekit"
    if how == "truncated":
        data = data[: len(data) // 2]
    elif how == "one byte flipped":
        data[len(data) // 2] ^= 0x40
    elif how == "not a tokenizer":
        data = bytearray(b"this is not a tokenizer file\n" * 10)
    bad.write_bytes(bytes(data))
    return bad


@pytest.mark.parametrize("how", ["truncated", "one byte flipped", "not a tokenizer"])
@pytest.mark.parametrize("cmd", ["encode", "count"])
def test_damaged_tokenizer(cmd, how, tok, out, tmp_path):
    bad = damaged(tok, tmp_path, how)
    args = command("encode", [FIXTURES / "lines.txt", "--lines"], bad, out) if cmd == "encode" else \
        ["count", FIXTURES / "lines.txt", "--lines", "--tokenizer", bad]
    err = fails(args)
    assert bad.name in err
    nothing_written(out)


def test_decode_with_a_damaged_tokenizer(tok, tmp_path):
    shard = tmp_path / "s"
    ok("encode", FIXTURES / "lines.txt", "--lines", "--tokenizer", tok, "--format", "llmc", "-o", shard)
    bad = damaged(tok, tmp_path, "truncated")
    assert bad.name in fails(["decode", f"{shard}.bin", "--tokenizer", bad])


# ==== Where the output goes ====


@pytest.mark.parametrize("kind", COMMANDS)
@pytest.mark.parametrize("where", ["read-only directory", "under a regular file", "missing directory"])
def test_output_directory_not_writable(kind, where, tok, tmp_path):
    if where == "read-only directory":
        target = tmp_path / "read-only"
        target.mkdir()
        target.chmod(stat.S_IRUSR | stat.S_IXUSR)
        if os.access(target, os.W_OK):
            target.chmod(stat.S_IRWXU)
            pytest.skip("running as root: a read-only directory is still writable (the 'under a regular file' "
                        "case runs instead)")
    elif where == "under a regular file":
        target = tmp_path / "a-regular-file"
        target.write_text("not a directory\n")
    else:
        target = tmp_path / "no-such-dir"
    try:
        err = fails(command(kind, [FIXTURES / "lines.txt", "--lines"], tok, target))
    finally:
        if target.is_dir():
            target.chmod(stat.S_IRWXU)
    assert target.name in err
    if target.is_dir():
        assert list(target.iterdir()) == []
    elif where == "missing directory":
        assert not target.exists()


def test_vocab_too_large_for_the_format(out, tmp_path):
    """nanoGPT's files are uint16: a vocab of 65537 does not fit (checked before writing)."""
    wide = tmp_path / "wide.bpekit"
    _wide_tokenizer(wide)
    err = fails(["encode", FIXTURES / "lines.txt", "--lines", "--tokenizer", wide, "--format", "nanogpt",
                 "--eos", 0, "-o", out / "shards"])
    names_number(err, 65537)
    assert "nanogpt" in err
    nothing_written(out)


def test_cl100k_does_not_fit_nanogpt(out):
    if not (DATA / "cl100k_base.tiktoken").exists():
        pytest.skip(f"{DATA / 'cl100k_base.tiktoken'} not found (set BPEKIT_DATA to the shared data directory)")
    err = fails(["encode", FIXTURES / "lines.txt", "--lines", "--tokenizer", "cl100k_base", "--format", "nanogpt",
                 "-o", out / "shards"])
    names_number(err, 100277)
    assert "nanogpt" in err
    nothing_written(out)


def test_nanogpt_needs_an_end_of_text_token(out, tmp_path):
    """nanoGPT's format puts <|endoftext|> after each document: a tokenizer without it needs
    --eos."""
    plain = tmp_path / "plain.bpekit"
    bpekit.train([fixture_text("lines.txt")], 280).save(plain)
    err = refused(["encode", FIXTURES / "lines.txt", "--lines", "--tokenizer", plain, "--format", "nanogpt",
                   "-o", out / "shards"])
    assert "<|endoftext|>" in err and "--eos" in err
    nothing_written(out)


@pytest.mark.parametrize("flag,value", [("--eos", "<|no-such-token|>"), ("--bos", 300), ("--eos", -2)],
                         ids=["unknown special", "id past the vocab", "negative id"])
def test_bos_eos_that_the_tokenizer_lacks(flag, value, tok, out):
    err = refused(["encode", FIXTURES / "lines.txt", "--lines", "--tokenizer", tok, "--format", "llmc",
                   flag, value, "-o", out / "shards"])
    assert str(value) in err
    nothing_written(out)


# ==== Usage errors (exit status 2) ====


@pytest.mark.parametrize("args,named", [
    (["train", "{lines}", "--lines", "--separator", "\n\n", "--vocab-size", 300, "-o", "{out}/t"], "--separator"),
    (["train", "{records}", "--text-key", "text", "--column", "text", "--vocab-size", 300, "-o", "{out}/t"], "--column"),
    (["train", "{lines}", "--lines", "-o", "{out}/t"], "--vocab-size"),
    (["train", "{lines}", "--lines", "--vocab-size", "many", "-o", "{out}/t"], "many"),
    (["train", "{lines}", "--lines", "--vocab-size", 300], "-o"),
    (["train", "{lines}", "--errors", "ignore", "--vocab-size", 300, "-o", "{out}/t"], "ignore"),
    (["train", "{lines}", "--input-format", "csv", "--vocab-size", 300, "-o", "{out}/t"], "csv"),
    (["encode", "{lines}", "--tokenizer", "{tok}", "--format", "tfrecord", "-o", "{out}/s"], "tfrecord"),
    (["encode", "{lines}", "--tokenizer", "{tok}", "-o", "{out}/s"], "--format"),
    (["encode", "{lines}", "--tokenizer", "{tok}", "--format", "llmc", "--shard-tokens", -5, "-o", "{out}/s"], "-5"),
    (["encode", "{lines}", "--format", "llmc", "-o", "{out}/s"], "--tokenizer"),
    (["encode", "{lines}", "--tokenizer", "{tok}", "--format", "llmc", "--resume", "--force", "-o", "{out}/s"], "--force"),
    (["frobnicate", "{lines}"], "frobnicate"),
], ids=["--lines with --separator", "--text-key with --column", "no --vocab-size", "--vocab-size not a number",
        "no -o", "unknown --errors", "unknown --input-format", "unknown --format", "no --format",
        "negative --shard-tokens", "no --tokenizer", "--resume with --force", "unknown subcommand"])
def test_usage_errors(args, named, tok, out):
    values = {"lines": FIXTURES / "lines.txt", "records": FIXTURES / "records.jsonl", "tok": tok, "out": out}
    err = fails([str(a).format(**values) if isinstance(a, str) else a for a in args], code=2)
    assert named in err
    assert "unrecognized arguments" not in err, err
    if args[0] == "frobnicate":
        assert "choose from" in err and "encode" in err, err  # the valid subcommands are listed
    nothing_written(out)


# ==== Existing output and --resume ====


def encode_args(tok: Path, out: Path, *extra: object) -> list[object]:
    return ["encode", FIXTURES / "lines.txt", "--lines", "--tokenizer", tok, "--format", "llmc",
            "--shard-tokens", 60, *extra, "-o", out / "shards"]


def snapshot(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in d.iterdir()}


def test_existing_output_needs_resume_or_force(tok, out):
    ok(*encode_args(tok, out))
    before = snapshot(out)
    err = refused(encode_args(tok, out, "--eos", "<|endoftext|>"))
    assert "shards.manifest.json" in err and "--resume" in err and "--force" in err
    assert snapshot(out) == before, "the refused run changed the existing output"
    ok(*encode_args(tok, out, "--eos", "<|endoftext|>", "--force"))
    fresh = out.parent / "fresh"
    fresh.mkdir()
    ok(*encode_args(tok, fresh, "--eos", "<|endoftext|>"))
    assert_same_files(out, fresh)


@pytest.mark.parametrize("change,named", [
    (["--eos", "<|endoftext|>"], "eos"),
    (["--shard-tokens", 80], "shard"),
    (["--doc-cap", 10], "doc_cap"),
], ids=["eos", "shard-tokens", "doc-cap"])
def test_resume_with_other_options_is_a_usage_error(change, named, tok, out):
    args = encode_args(tok, out)
    ok(*args)
    manifest = json.loads((out / "shards.manifest.json").read_text())
    manifest["complete"] = False  # as if interrupted: a complete run would just be left alone
    (out / "shards.manifest.json").write_text(json.dumps(manifest))
    before = snapshot(out)
    changed = args[:-2] + change + args[-2:]
    err = fails([*changed, "--resume"], code=2)
    assert named in err.replace("-", "_") or named in err
    assert snapshot(out) == before


def test_resume_with_another_tokenizer_is_a_usage_error(tok, out, tmp_path):
    ok(*encode_args(tok, out))
    manifest = json.loads((out / "shards.manifest.json").read_text())
    manifest["complete"] = False
    (out / "shards.manifest.json").write_text(json.dumps(manifest))
    other = tmp_path / "other.bpekit"
    bpekit.train([fixture_text("lines.txt")], 290, special_tokens=["<|endoftext|>"]).save(other)
    before = snapshot(out)
    err = fails([*encode_args(other, out), "--resume"], code=2)
    assert "tokenizer" in err
    assert snapshot(out) == before

