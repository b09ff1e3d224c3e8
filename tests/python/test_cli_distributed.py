"""`bpekit train/encode --workers N | --cluster ADDR` (issue 16): the files a single-process
run writes (a local cluster the command starts, or a running one it connects to); options a cluster run cannot honour are usage errors (exit 2) before any
cluster starts; an unreachable scheduler is a one-line error, not a traceback.

The command runs as a user runs it, `python -m bpekit ...` in a subprocess (helpers from
test_pipeline_e2e.py).
"""

from __future__ import annotations

import gzip
import shutil
import socket
from pathlib import Path

import pytest

pytest.importorskip("distributed", reason="dask[distributed] (the bpekit[distributed] extra) is not installed")

from test_pipeline_e2e import FIXTURES, bpekit_cmd, ok  # noqa: E402


def tree(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() if p.is_file() else b"/" for p in sorted(d.rglob("*"))}


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> list[str]:
    d = tmp_path_factory.mktemp("cli-corpus")
    shutil.copy(FIXTURES / "prose.txt", d / "a.txt")
    (d / "b.txt.gz").write_bytes(gzip.compress((FIXTURES / "lines.txt").read_bytes() * 20))
    shutil.copy(FIXTURES / "records.jsonl", d / "c.jsonl")
    (d / "d.txt").write_text("".join(f"line {i} of a longer file, with words {i * 7919 % 1000}\n" for i in range(3000)))
    return sorted(str(p) for p in d.iterdir())


INPUT = ["--lines", "--text-key", "meta.body.text"]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory) -> str:
    import bpekit

    path = tmp_path_factory.mktemp("cli-tok") / "small.bpekit"
    bpekit.train([(FIXTURES / "prose.txt").read_text(encoding="utf-8")], 300, special_tokens=["<|endoftext|>"]).save(path)
    return str(path)


def test_train_with_workers_writes_the_same_files(sources, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for d, extra in ((a, []), (b, ["--workers", "2"])):
        ok("train", *sources, *INPUT, "--vocab-size", 400, "--special", "<|endoftext|>",
           "-o", d / "tok.bpekit", "--tiktoken", d / "tok.tiktoken", *extra)
    assert tree(a) == tree(b)
    assert sorted(tree(b)) == ["tok.bpekit", "tok.tiktoken"]


def test_encode_with_workers_writes_the_same_files(sources, tokenizer, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for d, extra in ((a, []), (b, ["--workers", "2"])):
        ok("encode", *sources, *INPUT, "--tokenizer", tokenizer, "--format", "npy", "-o", d / "run", *extra)
    assert tree(a) == tree(b)


@pytest.fixture(scope="module")
def scheduler():
    """The address of a running cluster (a LocalCluster of this process, 2 workers)."""
    import dask
    from distributed import LocalCluster

    import bpekit.distributed as dist

    with dask.config.set(dist.WORKER_CONFIG), \
            LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        yield cluster.scheduler_address


def test_encode_on_a_cluster_writes_the_same_files(sources, tokenizer, scheduler, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for d, extra in ((a, []), (b, ["--cluster", scheduler])):
        ok("encode", *sources, *INPUT, "--tokenizer", tokenizer, "--format", "megatron",
           "--shard-tokens", 2000, "--eos", "<|endoftext|>", "-o", d / "shards" / "run", *extra)
    assert tree(a) == tree(b)
    assert (b / "shards" / "run.manifest.json").exists() and (b / "shards" / "run_000001.bin").exists()

    # An earlier run's manifest: refused without --force, replaced with it.
    again = ["encode", *sources, *INPUT, "--tokenizer", tokenizer, "--format", "megatron",
             "--eos", "<|endoftext|>", "-o", b / "shards" / "run", "--cluster", scheduler]
    r = bpekit_cmd(*again)
    assert r.returncode == 2 and b"exists" in r.stderr, r.stderr
    assert tree(a) == tree(b)
    ok(*again, "--force", "--shard-tokens", 2000)
    assert tree(a) == tree(b)


@pytest.mark.parametrize("flag", [["--workers", "2"], ["--cluster", "tcp://127.0.0.1:9"]])
@pytest.mark.parametrize("cmd, option", [("train", ["--max-chars", "100"]), ("encode", ["--max-chars", "100"]),
                                         ("encode", ["--resume"])])
def test_single_process_options_are_usage_errors(sources, tokenizer, tmp_path, cmd, flag, option):
    if cmd == "train":
        args = ["train", *sources, "--vocab-size", 300, "-o", tmp_path / "out" / "tok.bpekit"]
    else:
        args = ["encode", *sources, "--tokenizer", tokenizer, "--format", "llmc", "-o", tmp_path / "out" / "run"]
    r = bpekit_cmd(*args, *INPUT, *flag, *option)
    assert r.returncode == 2, r.stderr
    err = r.stderr.decode()
    assert option[0] in err and flag[0] in err and "Traceback" not in err, err
    assert not (tmp_path / "out").exists(), "a refused run wrote something"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("cmd", ["train", "encode"])
def test_unreachable_cluster_is_a_clear_error(sources, tokenizer, tmp_path, cmd):
    addr = f"tcp://127.0.0.1:{_closed_port()}"
    if cmd == "train":
        args = ["train", *sources, "--vocab-size", 300, "-o", tmp_path / "out" / "tok.bpekit"]
    else:
        args = ["encode", *sources, "--tokenizer", tokenizer, "--format", "llmc", "-o", tmp_path / "out" / "run"]
    r = bpekit_cmd(*args, *INPUT, "--cluster", addr, "--connect-timeout", "1")
    err = r.stderr.decode()
    assert r.returncode == 1, err
    assert f"bpekit: error: cannot connect to the Dask scheduler at {addr}" in err and "Traceback" not in err, err
    assert not any((tmp_path / "out").rglob("*")), "a run that could not start wrote something"


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--cluster", "tcp://127.0.0.1:9", "--workers", "2"], b"not allowed with argument"),
        (["--workers", "0"], b"must be positive"),
        (["--cluster", "tcp://127.0.0.1:9", "--connect-timeout", "0"], b"must be positive"),
        (["--cluster", "nosuchscheme://x", "--connect-timeout", "1"], b"not a scheduler address"),
    ],
)
def test_cluster_flag_usage(sources, tmp_path, flags, message):
    r = bpekit_cmd("train", *sources, *INPUT, "--vocab-size", 300, "-o", tmp_path / "tok.bpekit", *flags)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and b"Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / "tok.bpekit").exists()
