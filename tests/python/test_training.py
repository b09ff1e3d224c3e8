"""Training beyond the skeleton: special tokens, threads, progress, count tables, errors."""

from __future__ import annotations

import pytest

import bpekit

TEXTS = [f"document {i}: the quick brown fox {i % 17} jumps over the lazy dog" for i in range(400)]


def test_special_tokens_follow_the_last_merge():
    enc = bpekit.train(TEXTS, 600, special_tokens=["<|bos|>", "<|eos|>"])
    assert enc.n_vocab == 600
    assert enc.special_tokens == {"<|bos|>": 598, "<|eos|>": 599}
    plain = bpekit.train(TEXTS, 598)
    assert enc.mergeable_ranks == plain.mergeable_ranks
    # Early stop: specials come right after the last merge that exists.
    small = bpekit.train(["ab ab"], 1000, special_tokens=["<|x|>"])
    assert small.special_tokens == {"<|x|>": 256 + len(small.mergeable_ranks) - 256}


def test_vocab_must_hold_bytes_and_specials():
    with pytest.raises(bpekit.InvalidArgumentError, match="at least 258"):
        bpekit.train(TEXTS, 257, special_tokens=["<a>", "<b>"])


def test_repeated_or_bad_special_tokens():
    with pytest.raises(bpekit.InvalidArgumentError, match="twice"):
        bpekit.train(TEXTS, 300, special_tokens=["<a>", "<a>"])
    with pytest.raises(bpekit.InvalidArgumentError, match="empty"):
        bpekit.train(TEXTS, 300, special_tokens=[""])
    with pytest.raises(TypeError):
        bpekit.train(TEXTS, 300, special_tokens="<a>")


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_thread_count_and_batching_do_not_change_merges(threads):
    ref = bpekit.train(TEXTS, 700).export_tiktoken()
    assert bpekit.train(iter(TEXTS), 700, num_threads=threads).export_tiktoken() == ref
    t = bpekit.Trainer(num_threads=threads)
    for i in range(0, len(TEXTS), 37):
        t.feed_batch(TEXTS[i : i + 37])
    assert t.finish(700).export_tiktoken() == ref


def test_progress_counts_and_merges():
    t = bpekit.Trainer()
    t.feed_batch(TEXTS)
    p = t.progress()
    assert p["texts"] == len(TEXTS) and p["bytes"] == sum(len(x) for x in TEXTS)
    t.finish(500)
    p = t.progress()
    assert p["merges_done"] == p["merges_total"] == 244


def test_progress_bar_runs(capsys):
    bpekit.train(TEXTS, 400, progress=True)
    err = capsys.readouterr().err
    assert "merg" in err


def test_count_tables_merge_across_trainers():
    a, b = bpekit.Trainer(), bpekit.Trainer()
    a.feed_batch(TEXTS[:200])
    b.feed_batch(TEXTS[200:])
    c = bpekit.Trainer()
    c.add_counts(a.export_counts())
    c.add_counts(b.export_counts())
    assert c.finish(650).export_tiktoken() == bpekit.train(TEXTS, 650).export_tiktoken()
    with pytest.raises(bpekit.FormatError):
        c.add_counts(a.export_counts()[:-3])
    with pytest.raises(bpekit.FormatError, match="not a bpekit count table"):
        c.add_counts(b"garbage!" * 4)
    other = bpekit.Trainer(pattern=r"\w+|\s+")
    with pytest.raises(bpekit.InvalidArgumentError, match="another split pattern"):
        other.add_counts(a.export_counts())
    assert c.texts == 400


def test_non_text_items_name_their_index():
    with pytest.raises(TypeError, match="item 5000 is NoneType"):
        bpekit.train([*(["ok"] * 5000), None], 300)
    with pytest.raises(bpekit.InvalidUtf8Error, match=r"texts\[4100\]"):
        bpekit.train([*(["ok"] * 4100), b"\xff"], 300)


def test_save_load_roundtrip_and_damage(tmp_path):
    enc = bpekit.train(TEXTS, 500, special_tokens=["<|eos|>"])
    path = tmp_path / "tok.bpekit"
    enc.save(path)
    back = bpekit.load(path)
    text = "the quick fox <|eos|>"
    assert back.encode(text, allowed_special="all") == enc.encode(text, allowed_special="all")
    assert back.pat_str == enc.pat_str and back.special_tokens == enc.special_tokens
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tok.bpekit"]  # no temp file left
    data = path.read_bytes()
    assert bpekit.Encoding.from_bytes(data).to_bytes() == data
    for damaged in (data[:-1], data[: len(data) // 2], b"", data[:8] + b"\x02" + data[9:]):
        path.write_bytes(damaged)
        with pytest.raises(bpekit.FormatError):
            bpekit.load(path)
    flipped = bytearray(data)
    flipped[len(data) // 3] ^= 0x40
    with pytest.raises(bpekit.TokenizerError):
        bpekit.Encoding.from_bytes(bytes(flipped))
    with pytest.raises(OSError):
        bpekit.load(tmp_path / "missing.bpekit")
    with pytest.raises(bpekit.IoError):
        enc.save(tmp_path / "no" / "such" / "dir" / "tok.bpekit")
    path.write_bytes(b"old")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "x").mkdir()
    with pytest.raises(OSError):
        enc.save(tmp_path / "sub")
    assert path.read_bytes() == b"old"
