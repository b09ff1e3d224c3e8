"""The bpekit command's own pieces: argument parsing and exit codes, train/count/decode
--ids, inspect (text, --json, --html), and the manifest checks of encode that come
before any shard is written. Encoding to shards end to end is test_pipeline_e2e.py."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

import bpekit
from bpekit.cli import main

TEXT = "the cat sat on the mat\nthe dog sat on the log\nhello world 🙂\n" * 20


@pytest.fixture
def corpus_file(tmp_path):
    p = tmp_path / "c.txt"
    p.write_text(TEXT, encoding="utf-8")
    return str(p)


@pytest.fixture
def tok(tmp_path, corpus_file, capsys):
    out = str(tmp_path / "tok.bpe")
    assert main(["train", corpus_file, "--lines", "--vocab-size", "280", "--special", "<|endoftext|>", "-o", out]) == 0
    capsys.readouterr()
    return out


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as e:  # argparse
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


# ==== Parsing and exit codes ====


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["frobnicate"],
        ["train", "x.txt", "-o", "t"],  # no --vocab-size
        ["train", "x.txt", "--vocab-size", "-3", "-o", "t"],
        ["train", "x.txt", "--vocab-size", "300", "-o", "t", "--lines", "--separator", "x"],
        ["count", "x.txt", "--tokenizer", "t", "--text-key", "a", "--column", "b"],
        ["encode", "x.txt", "--tokenizer", "t", "--format", "tar", "-o", "o"],
        ["count", "x.txt", "--tokenizer", "t", "--errors", "ignore"],
        ["info"],
    ],
)
def test_usage_errors_exit_2(capsys, argv):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert "usage:" in err or "error:" in err


def test_runtime_errors_exit_1_naming_the_file(capsys, tmp_path, tok):
    code, out, err = run(capsys, "count", str(tmp_path / "missing.txt"), "--tokenizer", tok)
    assert (code, out) == (1, "")
    assert err.startswith("bpekit: error: ") and "missing.txt" in err
    damaged = tmp_path / "damaged.bpe"
    damaged.write_bytes(open(tok, "rb").read()[:-5])
    code, _, err = run(capsys, "inspect", str(damaged))
    assert code == 1 and "damaged.bpe" in err
    code, _, err = run(capsys, "inspect", "no_such_encoding")
    assert code == 1 and "no_such_encoding" in err and "cl100k_base" in err
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"ok\nnot \xff utf8\n")
    code, _, err = run(capsys, "train", str(bad), "--lines", "--vocab-size", "260", "-o", str(tmp_path / "t2"))
    assert code == 1 and "bad.txt" in err and "7" in err
    assert not (tmp_path / "t2").exists()


def test_subcommands_through_python_m_and_the_script(tmp_path, tok):
    r = subprocess.run([sys.executable, "-m", "bpekit", "decode", "--tokenizer", tok, "--ids", "104 105"],
                       capture_output=True)
    assert (r.returncode, r.stdout) == (0, b"hi")
    r = subprocess.run([sys.executable, "-m", "bpekit", "count", "nope.txt", "--tokenizer", tok], capture_output=True)
    assert r.returncode == 1 and r.stderr.startswith(b"bpekit: error:")
    script = shutil.which("bpekit", path=os.path.dirname(sys.executable))
    if script is None:
        pytest.skip("the bpekit script is not installed next to this Python")
    r = subprocess.run([script, "train", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--vocab-size" in r.stdout
    r = subprocess.run([script, "train"], capture_output=True, text=True)
    assert r.returncode == 2


# ==== train, count, decode --ids ====


def test_train_is_bpekit_train_on_the_same_documents(capsys, tmp_path, corpus_file):
    out = str(tmp_path / "t.bpe")
    tk = str(tmp_path / "t.tiktoken")
    code, stdout, _ = run(capsys, "train", corpus_file, "--lines", "--vocab-size", "280", "-o", out,
                          "--tiktoken", tk, "--json", "--chunk-bytes", "13")
    assert code == 0
    summary = json.loads(stdout)
    assert summary["documents"] == TEXT.count("\n") and summary["vocab_size"] == 280
    want = bpekit.train(TEXT.split("\n")[:-1], vocab_size=280)
    got = bpekit.load(out)
    assert got.mergeable_ranks == want.mergeable_ranks
    assert open(tk, "rb").read() == want.export_tiktoken()


def test_train_pattern_by_name_and_regex(capsys, tmp_path, corpus_file):
    for pat in ("gpt2", r"\S+|\s+"):
        out = str(tmp_path / "t.bpe")
        assert run(capsys, "train", corpus_file, "--vocab-size", "270", "--pattern", pat, "-o", out)[0] == 0
        want = bpekit.GPT2_PATTERN if pat == "gpt2" else pat
        assert bpekit.load(out).pat_str == want
    code, _, err = run(capsys, "train", corpus_file, "--vocab-size", "270", "--pattern", "(", "-o", out)
    assert code == 1 and "error" in err


def test_count_per_doc(capsys, tok, corpus_file):
    enc = bpekit.load(tok)
    code, out, err = run(capsys, "count", corpus_file, "--tokenizer", tok, "--lines", "--per-doc")
    assert (code, err) == (0, "")  # stderr is not a terminal: no progress
    assert [int(x) for x in out.split()] == [len(enc.encode_ordinary(t)) for t in TEXT.split("\n")[:-1]]
    code, out, _ = run(capsys, "count", corpus_file, "--tokenizer", tok, "--json")
    assert json.loads(out)["tokens"] == len(enc.encode_ordinary(TEXT))
    assert json.loads(out)["documents"] == 1


def test_decode_ids(capsys, tok):
    enc = bpekit.load(tok)
    ids = enc.encode("hello <|endoftext|> world", allowed_special="all")
    code, out, _ = run(capsys, "decode", "--tokenizer", tok, "--ids", " ".join(map(str, ids)))
    assert (code, out) == (0, "hello <|endoftext|> world")
    assert run(capsys, "decode", "--tokenizer", tok, "--ids", "1 x")[0] == 2
    assert run(capsys, "decode", "--tokenizer", tok)[0] == 2
    assert run(capsys, "decode", "--tokenizer", tok, "--ids", "999999")[0] == 1


# ==== inspect ====


def test_inspect_text_and_json(capsys, tok):
    enc = bpekit.load(tok)
    code, out, _ = run(capsys, "inspect", tok, "the cat")
    assert code == 0
    assert "vocab size: 280" in out and "<|endoftext|>=" in out
    ids = enc.encode_ordinary("the cat")
    assert " ".join(map(str, ids)) in out
    assert "\x1b[" not in out  # not a terminal: no colours
    code, out, _ = run(capsys, "inspect", tok, "the cat", "--json")
    d = json.loads(out)
    assert d["vocab_size"] == 280 and d["special_tokens"] == enc.special_tokens
    assert sum(d["length_histogram"].values()) == len(enc.mergeable_ranks)
    assert [t["id"] for t in d["tokens"]] == ids


def test_inspect_html_is_self_contained_with_ids_on_hover(capsys, tmp_path, tok):
    enc = bpekit.load(tok)
    page = tmp_path / "p.html"
    text = "the <cat> & dog<|endoftext|>"
    assert run(capsys, "inspect", tok, text, "--html", str(page))[0] == 0
    h = page.read_text(encoding="utf-8")
    ids = enc.encode(text, allowed_special="all")
    assert re.findall(r'title="id (\d+)"', h) == [str(i) for i in ids]
    assert "&lt;cat&gt; &amp;" in h or "&lt;" in h
    assert not re.search(r"(src|href)=", h)  # nothing to fetch


# ==== encode: checks before writing ====


def _manifest(tmp_path, tok, corpus_file, **over):
    enc = bpekit.load(tok)
    import hashlib

    m = {
        "bpekit_manifest": 1,
        "format": "npy",
        "dtype": "uint16",
        "tokenizer": {"vocab_size": enc.n_vocab, "sha256": hashlib.sha256(enc.to_bytes()).hexdigest()},
        "options": {
            "bos": None,
            "eos": None,
            "shard_tokens": 0,
            "sources": [corpus_file],
            "input": bpekit.corpus.Corpus(corpus_file, lines=True).options(),
        },
        "shards": [],
        "documents": 0,
        "tokens": 0,
        "complete": True,
    }
    m.update(over)
    (tmp_path / "out.manifest.json").write_text(json.dumps(m))
    return str(tmp_path / "out")


def test_encode_existing_manifest_needs_resume_or_force(capsys, tmp_path, tok, corpus_file):
    prefix = _manifest(tmp_path, tok, corpus_file)
    code, out, err = run(capsys, "encode", corpus_file, "--lines", "--tokenizer", tok, "--format", "npy", "-o", prefix)
    assert code == 2 and "exists: --resume to continue, --force to overwrite" in err


def test_encode_resume_of_a_complete_run_does_nothing(capsys, tmp_path, tok, corpus_file):
    prefix = _manifest(tmp_path, tok, corpus_file)
    before = sorted(os.listdir(tmp_path))
    code, out, _ = run(capsys, "encode", corpus_file, "--lines", "--tokenizer", tok, "--format", "npy",
                       "-o", prefix, "--resume", "--json")
    assert code == 0 and json.loads(out)["complete"] is True
    assert sorted(os.listdir(tmp_path)) == before


@pytest.mark.parametrize(
    "extra,field",
    [
        (["--format", "llmc"], "format"),
        (["--format", "npy", "--eos", "<|endoftext|>"], "options.eos"),
        (["--format", "npy", "--shard-tokens", "100"], "options.shard_tokens"),
        (["--format", "npy", "--doc-cap", "5"], "options.input.doc_cap"),
    ],
)
def test_encode_resume_names_the_difference(capsys, tmp_path, tok, corpus_file, extra, field):
    prefix = _manifest(tmp_path, tok, corpus_file, complete=False)
    code, _, err = run(capsys, "encode", corpus_file, "--lines", "--tokenizer", tok, "-o", prefix, "--resume", *extra)
    assert code == 2
    assert f"{field}:" in err


def test_encode_resume_with_another_tokenizer(capsys, tmp_path, tok, corpus_file):
    prefix = _manifest(tmp_path, tok, corpus_file, complete=False)
    other = str(tmp_path / "other.bpe")
    assert run(capsys, "train", corpus_file, "--vocab-size", "290", "-o", other)[0] == 0
    code, _, err = run(capsys, "encode", corpus_file, "--lines", "--tokenizer", other, "--format", "npy",
                       "-o", prefix, "--resume")
    assert code == 2 and "tokenizer.sha256" in err and "tokenizer.vocab_size" in err


def test_encode_bos_eos_checks(capsys, tmp_path, tok, corpus_file):
    prefix = str(tmp_path / "o")
    code, _, err = run(capsys, "encode", corpus_file, "--tokenizer", tok, "--format", "npy", "--bos", "<|nope|>", "-o", prefix)
    assert code == 1 and "<|nope|>" in err and "<|endoftext|>" in err
    code, _, err = run(capsys, "encode", corpus_file, "--tokenizer", tok, "--format", "npy", "--eos", "280", "-o", prefix)
    assert code == 1 and "280" in err
    plain = str(tmp_path / "plain.bpe")
    assert run(capsys, "train", corpus_file, "--vocab-size", "270", "-o", plain)[0] == 0
    code, _, err = run(capsys, "encode", corpus_file, "--tokenizer", plain, "--format", "nanogpt", "-o", prefix)
    assert code == 1 and "<|endoftext|>" in err and "--eos" in err
    assert not any(n.startswith("o") for n in os.listdir(tmp_path))  # nothing written


def test_progress_line_on_a_terminal(capsys):
    from bpekit._progress import throughput

    with throughput("encoding", 4_000_000, enabled=True) as bar:
        bar.update(1_000_000, 12)
    err = capsys.readouterr().err
    assert "encoding: 1.0/4.0 MB, 12 documents" in err and "MB/s" in err and "ETA" in err
    with throughput("encoding", 10, enabled=False) as bar:
        bar.update(5, 1)
    assert capsys.readouterr().err == ""


# ==== encode: the manifest through a failed run and --resume ====


def _files(d, prefix):
    return {n: (d / n).read_bytes() for n in sorted(os.listdir(d)) if n.startswith(prefix)}


@pytest.mark.parametrize("fmt", ["llmc", "megatron", "npy"])
def test_resume_after_a_failure_gives_the_bytes_of_an_uninterrupted_run(capsys, tmp_path, tok, fmt):
    src = tmp_path / "src"
    src.mkdir()
    lines = [f"line {i} of the corpus: {'x' * (i % 13)}" for i in range(400)]
    (src / "a.txt").write_text("\n".join(lines[:300]) + "\n", encoding="utf-8")
    good_b = ("\n".join(lines[300:]) + "\n").encode()
    (src / "b.txt").write_bytes(good_b[:200] + b"\xff" + good_b[200:])  # fails in b.txt
    out = tmp_path / "out"
    out.mkdir()
    args = ["encode", str(src), "--lines", "--tokenizer", tok, "--format", fmt, "--shard-tokens", "300",
            "--bos", "<|endoftext|>", "--chunk-bytes", "512"]
    code, _, err = run(capsys, *args, "-o", str(out / "run"))
    assert code == 1 and "b.txt" in err
    m = json.loads((out / "run.manifest.json").read_text())
    assert m["complete"] is False and len(m["shards"]) >= 2
    listed = {f for s in m["shards"] for f in s["files"]}
    assert set(_files(out, "run")) == listed | {"run.manifest.json"}  # nothing half-written
    assert not [n for n in os.listdir(out) if ".tmp-" in n]

    (src / "b.txt").write_bytes(good_b)
    code, _, err = run(capsys, *args, "-o", str(out / "run"))
    assert code == 2 and "--resume" in err  # the manifest is there
    assert run(capsys, *args, "-o", str(out / "run"), "--resume")[0] == 0
    assert run(capsys, *args, "-o", str(out / "fresh"))[0] == 0
    resumed, fresh = _files(out, "run"), _files(out, "fresh")
    assert [n.replace("run", "fresh") for n in resumed if "manifest" not in n] == [n for n in fresh if "manifest" not in n]
    for n, data in resumed.items():
        if "manifest" not in n:
            assert data == fresh[n.replace("run", "fresh")], n
    mr, mf = json.loads(resumed["run.manifest.json"]), json.loads(fresh["fresh.manifest.json"])
    assert mr["complete"] and (mr["documents"], mr["tokens"]) == (mf["documents"], mf["tokens"]) == (400, mf["tokens"])
    enc = bpekit.load(tok)
    assert mr["tokens"] == sum(len(enc.encode_ordinary(t)) + 1 for t in lines)


def test_force_replaces_a_run(capsys, tmp_path, tok, corpus_file):
    prefix = str(tmp_path / "o")
    args = ["encode", corpus_file, "--lines", "--tokenizer", tok, "--format", "npy", "--shard-tokens", "100"]
    assert run(capsys, *args, "-o", prefix)[0] == 0
    many = _files(tmp_path, "o")
    args[-1] = "100000"
    assert run(capsys, *args, "-o", prefix)[0] == 2
    assert run(capsys, *args, "-o", prefix, "--force")[0] == 0
    assert sorted(_files(tmp_path, "o")) == ["o.manifest.json", "o_000000.docs.npy", "o_000000.npy"]
    assert len(many) > 3


# ==== Reading back: bpekit.shards, info, decode ====


@pytest.mark.parametrize("fmt", ["llmc", "megatron", "nanogpt", "npy"])
def test_shards_open_info_and_decode(capsys, tmp_path, tok, corpus_file, fmt):
    enc = bpekit.load(tok)
    lines = TEXT.split("\n")[:-1]
    prefix = str(tmp_path / "s")
    assert run(capsys, "encode", corpus_file, "--lines", "--tokenizer", tok, "--format", fmt, "-o", prefix)[0] == 0
    eot = enc.special_tokens["<|endoftext|>"]
    want = [t for line in lines for t in enc.encode_ordinary(line) + ([eot] if fmt == "nanogpt" else [])]
    s = bpekit.shards.open(prefix)
    assert (s.format, s.dtype) == (fmt, "uint16")
    assert s.tokens.tolist() == want
    records = fmt in ("megatron", "npy")
    if records:
        assert len(s) == len(lines) and s[1].tolist() == enc.encode_ordinary(lines[1])
        assert s.doc_offsets[-1] == len(want)
    else:
        assert s.doc_offsets is None
        with pytest.raises(TypeError, match="no document boundaries"):
            len(s)
    code, out, _ = run(capsys, "info", s.files[0], "--json")
    d = json.loads(out)
    assert code == 0 and d["tokens"] == len(want) and d["documents"] == (len(lines) if records else None)
    assert [os.path.basename(f) for f in d["files"]] == [os.path.basename(f) for f in s.files]
    code, out, _ = run(capsys, "decode", s.files[0], "--tokenizer", tok, "--jsonl")
    texts = [json.loads(x)["text"] for x in out.splitlines()]
    assert texts == (lines if fmt != "llmc" else ["".join(lines)])
    code, out, _ = run(capsys, "decode", s.files[0], "--tokenizer", tok)
    assert out == enc.decode(want)


# ==== convert ====


def test_convert_between_every_format(tmp_path, tok, capsys):
    enc = bpekit.load(tok)
    text = "the cat sat 🙂 <|endoftext|>"
    want = enc.encode(text, allowed_special="all")
    code, out, _ = run(capsys, "convert", tok, str(tmp_path / "hf"), "--json")
    assert code == 0 and json.loads(out)["to"] == "hf"
    assert sorted(os.listdir(tmp_path / "hf")) == ["tokenizer.json", "tokenizer_config.json"]
    # HF directory -> bpekit file -> HF tokenizer.json file again
    assert run(capsys, "convert", str(tmp_path / "hf"), str(tmp_path / "back.bpekit"))[0] == 0
    back = bpekit.load(str(tmp_path / "back.bpekit"))
    assert back.encode(text, allowed_special="all") == want and back.pat_str == enc.pat_str
    assert run(capsys, "convert", str(tmp_path / "hf" / "tokenizer.json"), str(tmp_path / "hf2"))[0] == 0
    assert bpekit.from_hf(tmp_path / "hf2").encode(text, allowed_special="all") == want
    # .tiktoken keeps the ranks only, and says so
    code, _, err = run(capsys, "convert", tok, str(tmp_path / "r.tiktoken"))
    assert code == 0 and "the split pattern and the special tokens" in err
    ranks = bpekit.Encoding.from_tiktoken_file(tmp_path / "r.tiktoken", enc.pat_str)
    assert ranks.mergeable_ranks == enc.mergeable_ranks
    # a .tiktoken input with its pattern given by name
    assert run(capsys, "convert", str(tmp_path / "r.tiktoken"), str(tmp_path / "p.bpekit"), "--pattern", "o200k_base")[0] == 0
    assert bpekit.load(str(tmp_path / "p.bpekit")).pat_str == bpekit.O200K_PATTERN
    # a normalizing tokenizer: .tiktoken loses the normalization too, and says so
    enc.with_normalization("NFC").save(str(tmp_path / "nfc.bpekit"))
    code, out, _ = run(capsys, "convert", str(tmp_path / "nfc.bpekit"), str(tmp_path / "n.tiktoken"), "--json")
    assert json.loads(out)["not_kept"] == ["the split pattern", "the special tokens", "the normalization (NFC)"]
    assert bpekit.from_hf(enc.with_normalization("NFC").save_hf(tmp_path / "nfc-hf")).normalization == "NFC"


def test_convert_errors_write_nothing(tmp_path, tok, capsys):
    (tmp_path / "bad.json").write_text('{"model": {"type": "Unigram"}}')
    code, _, err = run(capsys, "convert", str(tmp_path / "bad.json"), str(tmp_path / "out.bpekit"))
    assert code == 1 and "Unigram" in err and "Traceback" not in err
    assert not (tmp_path / "out.bpekit").exists()
    (tmp_path / "afile").write_text("x")
    code, _, err = run(capsys, "convert", tok, str(tmp_path / "afile"))
    assert code == 2 and "is a file" in err
    code, _, err = run(capsys, "convert", str(tmp_path / "missing"), str(tmp_path / "o.bpekit"))
    assert code == 1 and "missing" in err
    assert run(capsys, "convert", tok, str(tmp_path / "x"), "--to", "sentencepiece")[0] == 2
    assert sorted(os.listdir(tmp_path)) == ["afile", "bad.json", "c.txt", "tok.bpe"]
