"""bpekit.distributed on a real Dask cluster (issue 16, "Checked by").

One `distributed.LocalCluster` per module (2 worker processes, 1 thread each, nannies
that restart a killed worker) and a `Client`; every test passes `client=`, one lets
`encode` start its own cluster. What is checked:

- training: the tokenizer equals single-process `bpekit.corpus.train` byte for byte and
  its merges equal PyPI rustbpe's on the same documents (patterns, vocab sizes, fan-in),
  with tiny `task_bytes` so that there are many count tasks and a real merge tree;
- encoding: the output directory (shards, manifest, nothing else) equals single-process
  `bpekit.corpus.encode`'s byte for byte, for every format, with BOS/EOS, one shard,
  small shards (crossing unit boundaries, documents longer than a shard) and large;
- a worker SIGKILLed while it runs a task: the scheduler reruns the task elsewhere (its
  story and a recording scheduler plugin say so), the result is still byte-identical and
  no stray file remains;
- damaged count tables and unreadable units: the single-process error's type and message,
  naming the unit; no manifest, no shard under a final name, no work directory.

The corpora are made here from tests/fixtures and synthetic text, and, when BPEKIT_DATA
has them, slices of the shared samples (those cases skip with the reason otherwise).
"""

from __future__ import annotations

import gzip
import json
import lzma
import os
import pickle
import random
import re
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("distributed", reason="dask[distributed] (the bpekit[distributed] extra) is not installed")
np = pytest.importorskip("numpy", reason="numpy (a test dependency) is not installed")
pa = pytest.importorskip("pyarrow", reason="pyarrow (a test dependency) is not installed")
pq = pytest.importorskip("pyarrow.parquet", reason="pyarrow (a test dependency) is not installed")

import cloudpickle  # noqa: E402  (a dependency of distributed)
import dask  # noqa: E402
from distributed import Client, LocalCluster  # noqa: E402
from distributed.diagnostics.plugin import SchedulerPlugin  # noqa: E402

import bpekit  # noqa: E402
import bpekit.distributed as dist  # noqa: E402
from bpekit.corpus import Corpus, CorpusError, ManifestError  # noqa: E402
from conftest import DATA, ROOT  # noqa: E402

# The functions this module sends to the scheduler and the workers travel by value: the
# worker processes need not import this file.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

FIXTURES = ROOT / "tests" / "fixtures" / "corpus"
FORMATS = ("llmc", "megatron", "nanogpt", "npy")
SPECIALS = ["<|endoftext|>", "<|bos|>"]
CUSTOM_PATTERN = r"""[\p{L}\p{M}]+|\p{N}|[^\s\p{L}\p{M}\p{N}]+|\s+"""
SMALL_SHARD = 997  # tokens; the synthetic corpus has lines longer than this
# Guards against a hung run, never timing assertions.
JOIN_TIMEOUT = 300
RECORDER = "bpekit-test-recorder"


# ==== The cluster ====


class Recorder(SchedulerPlugin):
    """Records the tasks bpekit submits: ``(key, "processing", worker, dependencies)`` when
    one is sent to a worker, ``(key, "memory" | "erred", worker, [])`` when it ends."""

    name = RECORDER

    def __init__(self) -> None:
        self.events: list[tuple[str, str, str | None, list[str]]] = []
        self.scheduler = None

    async def start(self, scheduler) -> None:
        self.scheduler = scheduler

    def transition(self, key, start, finish, *args, **kwargs) -> None:
        key = str(key)
        if not key.startswith("bpekit-"):
            return
        if finish == "processing":
            ts = self.scheduler.tasks.get(key)
            worker = ts.processing_on.address if ts is not None and ts.processing_on is not None else None
            deps = sorted(str(d.key) for d in ts.dependencies) if ts is not None else []
            self.events.append((key, "processing", worker, deps))
        elif finish in ("memory", "erred"):
            self.events.append((key, finish, kwargs.get("worker"), []))


@pytest.fixture(scope="module")
def client():
    with dask.config.set(dist.WORKER_CONFIG), \
            LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        with Client(cluster) as c:
            c.register_plugin(Recorder(), name=RECORDER)
            yield c


def _running(dask_worker) -> int:
    return len(dask_worker.state.executing)  # a cancelled task that still runs included


def wait_idle(client) -> None:
    """Returns when no worker runs a task, cancelled ones included (a failed run's
    client stops waiting for them; their side effects happen until they end)."""
    deadline = time.monotonic() + JOIN_TIMEOUT
    while any(client.run(_running).values()):
        assert time.monotonic() < deadline, f"the workers still run tasks after {JOIN_TIMEOUT} s"
        time.sleep(0.05)


@pytest.fixture(autouse=True)
def _fresh(request):
    """Both workers up (a killed one is restarted by its nanny) and idle, and an empty
    record."""
    if "client" in request.fixturenames:
        c = request.getfixturevalue("client")
        c.wait_for_workers(2)
        wait_idle(c)
        c.run_on_scheduler(lambda dask_scheduler: dask_scheduler.plugins[RECORDER].events.clear())


def events(client) -> list[tuple[str, str, str | None, list[str]]]:
    return [tuple(e) for e in client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.plugins[RECORDER].events))]


def keys(client, prefix: str) -> set[str]:
    """The keys starting with ``prefix`` that were sent to a worker since the test began."""
    return {k for k, state, _, _ in events(client) if state == "processing" and k.startswith(prefix)}


# ==== Corpora ====


def _words(rng: random.Random) -> list[str]:
    base = ("the of and to in is was for that with as on by at from data token shard merge "
            "counting cluster worker encode train pattern vocab byte pair café naïve straße "
            "größe übung 東京 数据 分词 данные слово λόγος 🙂 🚀 x1 y2 z3 foo() bar[] {baz}").split()
    return base + [f"{rng.choice('bcdfgklmnprst')}{rng.choice('aeiou')}{rng.choice('nrstl')}" * rng.randint(1, 3)
                   for _ in range(300)]


def synthetic_lines(seed: int, n: int, *, long_every: int = 0) -> list[str]:
    """``n`` lines of word salad with digits, punctuation and several scripts; every
    ``long_every``-th line is a few thousand characters (more tokens than SMALL_SHARD)."""
    rng = random.Random(seed)
    words = _words(rng)
    out = []
    for i in range(n):
        k = rng.randint(1, 40) if not (long_every and i % long_every == long_every - 1) else 1500
        line = " ".join(rng.choice(words) for _ in range(k))
        if rng.random() < 0.3:
            line += f" {rng.randint(0, 10**6)}{rng.choice('.,;!?')}"
        out.append(line)
    return out


def write_parquet(path: Path, docs: list[str], row_groups: list[int]) -> None:
    """``docs`` in the column "text", in row groups of the given sizes (the last takes
    the rest)."""
    writer = pq.ParquetWriter(path, pa.schema([("text", pa.string())]), compression="snappy")
    i = written = 0
    for size in [*row_groups, len(docs)]:
        part = docs[i : i + size]
        if part:
            writer.write_table(pa.table({"text": part}))
            written += 1
        i += len(part)
    writer.close()
    assert pq.ParquetFile(path).metadata.num_row_groups == written


def write_jsonl(path: Path, docs: list[str], key: str = "text") -> None:
    path.write_text("".join(json.dumps({key: d, "id": i}, ensure_ascii=i % 2 == 0) + "\n" for i, d in enumerate(docs)),
                    encoding="utf-8")


@pytest.fixture(scope="module")
def mixed(tmp_path_factory) -> list[str]:
    """Units of very different sizes and kinds, read with ``lines=True``: small and big
    text files, a gzip file, JSON Lines, a Parquet file of four uneven row groups, a file
    of one line; some lines have more tokens than SMALL_SHARD."""
    d = tmp_path_factory.mktemp("mixed")
    shutil.copy(FIXTURES / "prose.txt", d / "a_prose.txt")
    (d / "b_big.txt").write_text("\n".join(synthetic_lines(1, 900, long_every=150)) + "\n", encoding="utf-8")
    (d / "c_lines.txt.gz").write_bytes(gzip.compress((FIXTURES / "lines.txt").read_bytes()))
    write_jsonl(d / "d_records.jsonl", synthetic_lines(2, 120, long_every=60))
    write_parquet(d / "e_rows.parquet", synthetic_lines(3, 160, long_every=70), [3, 37, 1])
    (d / "f_one.txt").write_text("a single line\n", encoding="utf-8")
    (d / "g_tail.txt").write_text("\n".join(synthetic_lines(4, 200)) + "\n", encoding="utf-8")
    return sorted(str(p) for p in d.iterdir())


@pytest.fixture(scope="module")
def fixtures_corpus(tmp_path_factory) -> tuple[list[str], dict]:
    """tests/fixtures/corpus as units (its text files, a directory, its JSON Lines) plus a
    Parquet file of its documents in row groups of 1, 4 and the rest."""
    d = tmp_path_factory.mktemp("fixtures")
    docs = [p for p in (FIXTURES / "prose.txt").read_text(encoding="utf-8").split("\n\n") if p.strip()]
    write_parquet(d / "prose.parquet", docs, [1, 4])
    sources = [str(FIXTURES / "prose.txt"), str(FIXTURES / "lines.txt"), str(FIXTURES / "docs"),
               str(FIXTURES / "records.jsonl"), str(d / "prose.parquet")]
    return sources, {"lines": True, "text_key": "meta.body.text"}


def _sample(name: str, limit: int) -> list[str]:
    path = DATA / f"{name}.txt.xz"
    if not path.exists():
        pytest.skip(f"{path} not found (set BPEKIT_DATA to the shared data directory)")
    with lzma.open(path, "rb") as f:
        raw = f.read(limit)
    return raw[: raw.rfind(b"\n") + 1].decode("utf-8", "replace").splitlines()


@pytest.fixture(scope="module")
def samples(tmp_path_factory) -> list[str]:
    """Slices of the shared samples: English as text files of 3 KB .. 250 KB, code as JSON
    Lines (one paragraph per record), multilingual as Parquet with row groups of 5, 60,
    400 and the rest of the lines."""
    english = _sample("english", 400 << 10)
    code = _sample("code", 150 << 10)
    multi = _sample("multilingual", 200 << 10)
    d = tmp_path_factory.mktemp("samples")
    i = 0
    for n, size in enumerate((3 << 10, 40 << 10, 250 << 10, 1 << 30)):
        part, total = [], 0
        while i < len(english) and total < size:
            part.append(english[i])
            total += len(english[i]) + 1
            i += 1
        (d / f"english_{n}.txt").write_text("\n".join(part) + "\n", encoding="utf-8")
    paragraphs = [p for p in "\n".join(code).split("\n\n") if p.strip()]
    write_jsonl(d / "code.jsonl", paragraphs)
    write_parquet(d / "multilingual.parquet", [line for line in multi if line], [5, 60, 400])
    return sorted(str(p) for p in d.iterdir())


@pytest.fixture(scope="module")
def enc(mixed) -> bpekit.Encoding:
    """The tokenizer the encode tests use: small (uint16 shards), with SPECIALS."""
    return bpekit.corpus.train(Corpus(mixed, lines=True), 320, special_tokens=SPECIALS, name="t", progress=False)


def random_text_file(path: Path, nbytes: int, seed: int) -> None:
    """``nbytes`` of random lowercase words, lines of ~500 bytes. Nearly every word is
    new, so no cache of pieces shortens counting or encoding: the units of the kill tests
    keep a task running long enough to be seen and killed."""
    rng = np.random.default_rng(seed)
    b = rng.integers(ord("a"), ord("z") + 1, nbytes, dtype=np.uint8)
    b[rng.random(nbytes) < 0.17] = ord(" ")
    b[rng.random(nbytes) < 0.002] = ord("\n")
    b[-1] = ord("\n")
    path.write_bytes(b.tobytes())


# ==== Helpers ====


def mk(d: Path) -> Path:
    """``d``, created (the cluster writes into an existing directory)."""
    d.mkdir(parents=True, exist_ok=True)
    return d


def tree(d: Path) -> dict[str, bytes]:
    """Every file under ``d`` (hidden ones too), relative name -> bytes."""
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()} | {
        str(p.relative_to(d)) + "/": b"" for p in sorted(d.rglob("*")) if p.is_dir()
    }


def assert_same_tree(a: Path, b: Path) -> None:
    ta, tb = tree(a), tree(b)
    assert sorted(ta) == sorted(tb), f"different files: single {sorted(ta)}, distributed {sorted(tb)}"
    for name in ta:
        assert ta[name] == tb[name], f"{name}: the distributed run wrote other bytes than the single-process run"


def single_encode(sources, enc, prefix: Path, corpus_options: dict, **kw) -> dict:
    prefix.parent.mkdir(parents=True, exist_ok=True)
    return bpekit.corpus.encode(Corpus(sources, **corpus_options), enc, prefix, progress=False, **kw)


def ranks_of_rustbpe(texts: list[str], vocab_size: int, pattern: str) -> dict[bytes, int]:
    rustbpe = pytest.importorskip("rustbpe", reason="rustbpe (a test dependency) is not installed")
    tok = rustbpe.Tokenizer()
    tok.train_from_iterator(iter(texts), vocab_size, pattern=pattern)
    return {bytes(t): r for t, r in tok.get_mergeable_ranks()}


def _executing(dask_worker) -> list[str]:
    return [str(ts.key) for ts in dask_worker.state.executing]


def _story(key: str):
    def run(dask_scheduler):
        return [(t[1], t[2], str(t[4])) for t in dask_scheduler.story(key)]

    return run


def kill_during(client, prefix: str, run):
    """Runs ``run()`` in a thread; as soon as a task whose key starts with ``prefix`` is
    executing on a worker, SIGKILLs that worker's process. Returns (its result, the key,
    the killed worker's address)."""
    pids = client.run(os.getpid)
    out: dict = {}

    def target() -> None:
        try:
            out["value"] = run()
        except BaseException as e:  # re-raised in the test's thread
            out["error"] = e

    t = threading.Thread(target=target, daemon=True)
    t.start()
    victim = None
    while t.is_alive() and victim is None:
        for worker, running in client.run(_executing).items():
            hits = [k for k in running if k.startswith(prefix)]
            if hits:
                victim = (worker, hits[0])
                break
        else:
            time.sleep(0.02)
    assert victim is not None, f"no {prefix} task was seen running (the units are too small to catch one)"
    worker, key = victim
    os.kill(pids[worker], signal.SIGKILL)
    t.join(JOIN_TIMEOUT)
    assert not t.is_alive(), f"the run did not finish within {JOIN_TIMEOUT} s after the kill"
    if "error" in out:
        raise out["error"]
    return out["value"], key, worker


def assert_rerun_elsewhere(client, key: str, killed: str) -> None:
    """The scheduler sent ``key`` to ``killed``, released it when that worker was lost,
    ran it again on another worker, and took its result from there."""
    mine = [(state, worker) for k, state, worker, _ in events(client) if k == key]
    assert mine and mine[0] == ("processing", killed), f"{key} did not start on the killed worker {killed}: {mine}"
    later = [w for state, w in mine[1:] if state == "processing"]
    assert later and all(w != killed for w in later), f"{key} was not sent to another worker after the kill: {mine}"
    assert mine[-1][0] == "memory" and mine[-1][1] != killed, f"{key} did not finish on another worker: {mine}"
    story = client.run_on_scheduler(_story(key))
    lost = [s for s in story if s[0] == "processing" and s[1] != "memory"]
    assert any(s[2].startswith(("handle-worker-cleanup", "remove-worker")) for s in lost), (
        f"the scheduler's story of {key} has no release caused by the lost worker: {story}"
    )
    assert sum(1 for s in story if s[1] == "processing") >= 2, f"{key} ran once only: {story}"


# ==== Training ====


TRAIN_CASES = [
    # corpus, pattern (None: the default, cl100k_base), vocab size, fan_in, task_bytes
    pytest.param("fixtures", None, 300, 2, 1, id="fixtures-default-300-fan2"),
    pytest.param("samples", None, 1000, 2, 1, id="samples-default-1000-fan2"),
    pytest.param("samples", bpekit.GPT2_PATTERN, 600, 8, 1, id="samples-gpt2-600-fan8"),
    pytest.param("samples", CUSTOM_PATTERN, 300, 8, 60 << 10, id="samples-custom-300-fan8-grouped"),
    pytest.param("mixed", CUSTOM_PATTERN, 600, 2, 1, id="mixed-custom-600-fan2"),
    pytest.param("mixed", bpekit.GPT2_PATTERN, 1000, 8, 1, id="mixed-gpt2-1000-fan8"),
]


@pytest.mark.parametrize("which, pattern, vocab, fan_in, task_bytes", TRAIN_CASES)
def test_train_equals_single_process_and_rustbpe(request, client, which, pattern, vocab, fan_in, task_bytes):
    if which == "fixtures":
        sources, options = request.getfixturevalue("fixtures_corpus")
    else:
        sources, options = request.getfixturevalue(which), {"lines": True}
    got = dist.train(sources, vocab, client=client, pattern=pattern, name="t", fan_in=fan_in,
                     task_bytes=task_bytes, **options)
    want = bpekit.corpus.train(Corpus(sources, **options), vocab, pattern=pattern, name="t", progress=False)
    assert got.to_bytes() == want.to_bytes()
    assert got.name == "t"

    texts = list(Corpus(sources, **options).texts())
    assert got.mergeable_ranks == ranks_of_rustbpe(texts, vocab, pattern or bpekit.CL100K_PATTERN)
    assert want.pat_str == (pattern or bpekit.CL100K_PATTERN)

    # One count task per group of units, merged in a tree of at most fan_in tables per task.
    units = Corpus(sources, **options).units()
    counts, merges, trains = (keys(client, p) for p in ("bpekit-count-", "bpekit-merge-", "bpekit-train-"))
    if task_bytes == 1:
        assert len(counts) == len(units) > fan_in
    else:
        assert 1 < len(counts) < len(units)
    assert len(trains) == 1
    deps = {k: d for k, state, _, d in events(client) if state == "processing"}
    for k in merges | trains:
        assert 1 <= len(deps[k]) <= fan_in, f"{k} merges {len(deps[k])} tables (fan_in {fan_in})"
    # A tree of more than one level: the last merge (in the train task) takes merged
    # tables, and with more than fan_in**2 tables, so do some merges.
    (train_key,) = trains
    if len(counts) > fan_in:
        assert any(d.startswith("bpekit-merge-") for d in deps[train_key]), "no merge below the last one"
    if len(counts) > fan_in**2:
        assert any(d.startswith("bpekit-merge-") for k in merges for d in deps[k]), "the merges are one level"
    assert all(d.startswith(("bpekit-count-", "bpekit-merge-")) for k in merges for d in deps[k])


def test_task_keys_are_deterministic(client, fixtures_corpus):
    sources, options = fixtures_corpus
    runs = []
    for _ in range(2):
        client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.plugins[RECORDER].events.clear())
        dist.train(sources, 280, client=client, fan_in=2, task_bytes=1, **options)
        runs.append({k for k, _, _, _ in events(client)})
    assert runs[0] == runs[1]
    assert {"-".join(k.split("-")[:2]) for k in runs[0]} == {"bpekit-count", "bpekit-merge", "bpekit-train"}


def test_train_with_special_tokens_and_min_count(client, mixed):
    got = dist.train(mixed, 500, client=client, special_tokens=SPECIALS, name="s", task_bytes=1, lines=True)
    want = bpekit.corpus.train(Corpus(mixed, lines=True), 500, special_tokens=SPECIALS, name="s", progress=False)
    assert got.to_bytes() == want.to_bytes()
    assert got.special_tokens == want.special_tokens

    # min_count prunes pieces seen fewer times in the whole corpus (after the global
    # merge): a table of the whole corpus pruned at once trains the same merges.
    trainer = bpekit.Trainer(None)
    trainer.feed_batch(Corpus(mixed, lines=True).texts())
    pruned = bpekit.merge_counts([trainer.export_counts()], min_count=3)
    ref = bpekit.Trainer(None)
    ref.add_counts(pruned)
    want_pruned = ref.finish(500, name="p")
    got_pruned = dist.train(mixed, 500, client=client, name="p", min_count=3, fan_in=2, task_bytes=1, lines=True)
    assert got_pruned.to_bytes() == want_pruned.to_bytes()
    assert got_pruned.to_bytes() != dist.train(mixed, 500, client=client, name="p", lines=True).to_bytes()


# ==== Encoding ====


ENCODE_CASES = {
    "one-shard": dict(shard_tokens=0),
    "small-shards-bos-eos": dict(shard_tokens=SMALL_SHARD, bos="<|bos|>", eos="<|endoftext|>"),
    "large-shards-eos-id": dict(shard_tokens=10**9, eos=10),
}


@pytest.mark.parametrize("case", list(ENCODE_CASES))
@pytest.mark.parametrize("fmt", FORMATS)
def test_encode_byte_identical(client, mixed, enc, tmp_path, fmt, case):
    kw = dict(ENCODE_CASES[case])
    if fmt == "nanogpt" and "eos" not in kw:
        kw["eos"] = None  # nanogpt's default, <|endoftext|>
    single_encode(mixed, enc, tmp_path / "a" / "out", {"lines": True}, format=fmt, **kw)
    path = dist.encode(mixed, enc, mk(tmp_path / "b") / "out", format=fmt, client=client, task_bytes=1, lines=True, **kw)
    assert path == str(tmp_path / "b" / "out") + ".manifest.json"
    assert_same_tree(tmp_path / "a", tmp_path / "b")

    m = json.loads(Path(path).read_text())
    assert m["complete"] and len(m["shards"][0]["sha256"]) == len(m["shards"][0]["files"])
    units = Corpus(mixed, lines=True).units()
    assert len(keys(client, "bpekit-encode-")) == len(units)
    assert len(keys(client, "bpekit-shard-")) == len(m["shards"])
    if kw["shard_tokens"] == SMALL_SHARD:
        # Shards cross unit boundaries, and some documents are longer than a shard.
        assert max(s["tokens"] for s in m["shards"]) > SMALL_SHARD
        ends = np.cumsum([s["documents"] for s in m["shards"]]).tolist()
        starts = [0, *ends[:-1]]
        unit_ends = np.cumsum([sum(1 for _ in Corpus(s, lines=True).texts()) for s in mixed]).tolist()
        assert any(a < b < e for b in unit_ends for a, e in zip(starts, ends)), "no shard spans two files"
    elif kw["shard_tokens"] == 0:
        assert len(m["shards"]) == 1


def test_encode_starts_its_own_cluster(mixed, enc, tmp_path):
    single_encode(mixed, enc, tmp_path / "a" / "out", {"lines": True}, format="npy", shard_tokens=5000, eos="<|endoftext|>")
    dist.encode(mixed, enc, mk(tmp_path / "b") / "out", format="npy", n_workers=2, shard_tokens=5000,
                eos="<|endoftext|>", lines=True)
    assert_same_tree(tmp_path / "a", tmp_path / "b")


def test_encode_existing_manifest_needs_force(client, mixed, enc, tmp_path):
    single_encode(mixed, enc, tmp_path / "a" / "out", {"lines": True}, format="llmc", shard_tokens=3000)
    run = lambda **kw: dist.encode(mixed, enc, mk(tmp_path / "b") / "out", format="llmc", client=client,  # noqa: E731
                                   shard_tokens=kw.pop("shard_tokens", 3000), lines=True, **kw)
    run(shard_tokens=800)
    before = tree(tmp_path / "b")
    with pytest.raises(ManifestError, match="exists"):
        run()
    assert tree(tmp_path / "b") == before, "a refused run changed the output"
    run(force=True)  # the first run's files (more shards than this run's) go
    assert_same_tree(tmp_path / "a", tmp_path / "b")


def test_bad_arguments(client, mixed, enc, tmp_path):
    with pytest.raises(CorpusError, match="max_chars"):
        dist.encode(mixed, enc, tmp_path / "out", format="llmc", client=client, max_chars=100, lines=True)
    with pytest.raises(CorpusError, match="max_chars"):
        dist.train(mixed, 300, client=client, max_chars=100, lines=True)
    with pytest.raises(CorpusError):
        dist.train(["-"], 300, client=client)
    with pytest.raises(ValueError, match="n_workers"):
        dist.train(mixed, 300, client=client, n_workers=2, lines=True)
    with pytest.raises(CorpusError, match="resume"):
        dist.encode(mixed, enc, tmp_path / "out", format="llmc", client=client, resume=True, lines=True)
    assert not (tmp_path / "out.manifest.json").exists()
    assert os.listdir(tmp_path) == []


# ==== Workers killed in the middle of a task ====


def test_worker_killed_during_encode(client, enc, tmp_path_factory, tmp_path):
    d = tmp_path_factory.mktemp("big-encode")
    for i in range(3):
        random_text_file(d / f"part{i}.txt", 8 << 20, seed=i)
    sources = sorted(str(p) for p in d.iterdir())
    kw = dict(format="llmc", shard_tokens=1 << 20, eos="<|endoftext|>")
    single_encode(sources, enc, tmp_path / "a" / "out", {"lines": True}, **kw)

    def run():
        return dist.encode(sources, enc, mk(tmp_path / "b") / "out", client=client, task_bytes=1, lines=True, **kw)

    path, key, killed = kill_during(client, "bpekit-encode-", run)
    assert path == str(tmp_path / "b" / "out") + ".manifest.json"
    assert_rerun_elsewhere(client, key, killed)
    assert_same_tree(tmp_path / "a", tmp_path / "b")  # byte-identical, no work dir, no temporary file


def test_worker_killed_during_count(client, tmp_path_factory):
    d = tmp_path_factory.mktemp("big-count")
    for i in range(3):
        random_text_file(d / f"part{i}.txt", 6 << 20, seed=10 + i)
    sources = sorted(str(p) for p in d.iterdir())

    def run():
        return dist.train(sources, 280, client=client, name="k", task_bytes=1, lines=True)

    got, key, killed = kill_during(client, "bpekit-count-", run)
    assert_rerun_elsewhere(client, key, killed)
    want = bpekit.corpus.train(Corpus(sources, lines=True), 280, name="k", progress=False)
    assert got.to_bytes() == want.to_bytes()


# ==== Damaged count tables, unreadable units ====


def test_exceptions_pickle():
    for cls in (bpekit.TokenizerError, bpekit.FormatError, bpekit.InvalidUtf8Error, bpekit.UnknownTokenError,
                bpekit.IoError, CorpusError, ManifestError, bpekit.corpus.MissingExtraError):
        e = cls("tables[1]: count table: checksum mismatch", cls.code)
        back = pickle.loads(pickle.dumps(e))
        assert type(back) is cls and str(back) == str(e) and back.code == e.code


def test_damaged_count_table(client, mixed):
    trainer = bpekit.Trainer(None)
    trainer.feed_batch(Corpus(mixed[:2], lines=True).texts())
    good = trainer.export_counts()
    assert bpekit.counts_info(good)["texts"] > 0
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0xFF
    for bad in (bytes(flipped), good[: len(good) // 2], b"", b"not a count table at all"):
        with pytest.raises(bpekit.TokenizerError, match=r"^tables\[1\]: "):
            bpekit.merge_counts([good, bad, good])
        with pytest.raises(bpekit.TokenizerError):
            bpekit.counts_info(bad)
        with pytest.raises(bpekit.TokenizerError):
            bpekit.Trainer(None).add_counts(bad)
    # On a worker: the same type and message come back to the client.
    with pytest.raises(bpekit.FormatError, match=r"^tables\[1\]: .*checksum"):
        client.submit(bpekit.merge_counts, [good, bytes(flipped)], key="test-merge-damaged").result()
    assert bpekit.merge_counts([good, good], min_count=0) == bpekit.merge_counts([good, good])


MARKER = "qzxjvkwpq"


def _poison_counts(dask_worker) -> None:
    """From now on, a count table that holds MARKER comes out of export_counts with a
    flipped byte (as a disk or network would damage it)."""
    from bpekit._train import Trainer

    if getattr(Trainer.export_counts, "_original", None) is not None:
        return
    original = Trainer.export_counts

    def export_counts(self):
        data = original(self)
        if MARKER.encode() in data:
            data = bytearray(data)
            data[len(data) // 2] ^= 0xFF
            data = bytes(data)
        return data

    export_counts._original = original
    Trainer.export_counts = export_counts


def _unpoison_counts(dask_worker) -> None:
    from bpekit._train import Trainer

    original = getattr(Trainer.export_counts, "_original", None)
    if original is not None:
        Trainer.export_counts = original


def test_damaged_count_table_on_the_train_path(client, mixed, tmp_path):
    poisoned = tmp_path / "poisoned.txt"
    poisoned.write_text(f"{MARKER} {MARKER}\nsome more text\n", encoding="utf-8")
    sources = [*mixed[:3], str(poisoned), *mixed[3:]]
    client.run(_poison_counts)
    try:
        with pytest.raises(bpekit.FormatError) as e:
            dist.train(sources, 400, client=client, task_bytes=1, fan_in=2, lines=True)
    finally:
        client.run(_unpoison_counts)
    msg = str(e.value)
    assert "checksum" in msg and "poisoned.txt" in msg, f"the error does not name the damaged unit: {msg}"


def _bad_gzip(d: Path) -> tuple[Path, str]:
    p = d / "c_bad.txt.gz"
    p.write_bytes(b"this is not gzip data\n" * 10)
    return p, "c_bad.txt.gz"


def _bad_parquet(d: Path) -> tuple[Path, str]:
    """A Parquet file whose row group 1 has a damaged page header (groups 0 and 2 read)."""
    p = d / "c_bad.parquet"
    write_parquet(p, synthetic_lines(7, 60), [20, 20])
    c = pq.ParquetFile(p).metadata.row_group(1).column(0)
    start = c.dictionary_page_offset if c.has_dictionary_page else c.data_page_offset
    data = bytearray(p.read_bytes())
    data[start : start + 12] = b"\xff" * 12
    p.write_bytes(bytes(data))
    return p, "row group 1"


def _bad_jsonl(d: Path) -> tuple[Path, str]:
    p = d / "c_bad.jsonl"
    p.write_text('{"text": "fine"}\n{"text": "also fine"}\n{"text": broken\n{"text": "after"}\n', encoding="utf-8")
    return p, "c_bad.jsonl:3"


def assert_same_error(got: BaseException, single: BaseException, bad: Path, where: str) -> None:
    """The cluster's error is the single-process one: its type, its message (after the
    source's name, which the cluster replaces by the unit's), naming the unit."""
    assert type(got) is type(single), f"{type(got).__name__}: {got} (single process: {type(single).__name__})"
    msg, want = str(got), str(single)
    assert want.startswith(str(bad)), want
    rest = re.sub(r"^(:\d+)?: ", "", want[len(str(bad)) :])
    assert rest in msg, f"{msg!r} does not carry {want!r}"
    assert msg.startswith(str(bad)) and where in msg, f"{msg!r} does not name the unit ({bad}, {where})"


BAD_UNITS = {"not-gzip": _bad_gzip, "parquet-row-group": _bad_parquet, "jsonl-line": _bad_jsonl}


@pytest.mark.parametrize("kind", list(BAD_UNITS))
def test_unreadable_unit_encode(client, mixed, enc, tmp_path, kind):
    bad, where = BAD_UNITS[kind](tmp_path)
    # A unit that takes a while comes right after the bad one: when the error reaches
    # the client, a task is still writing into the work directory.
    slow = tmp_path / "c_slow.txt"
    random_text_file(slow, 8 << 20, seed=99)
    sources = [*mixed[:4], str(bad), str(slow), *mixed[4:]]
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(bpekit.TokenizerError) as single:
        single_encode(sources, enc, tmp_path / "single" / "out", {"lines": True}, format="megatron")
    with pytest.raises(bpekit.TokenizerError) as got:
        dist.encode(sources, enc, out / "run", format="megatron", client=client, task_bytes=1,
                    shard_tokens=SMALL_SHARD, lines=True)
    # A task of the run that still runs after encode raised could write into the work
    # directory after its removal: encode waits for its tasks before cleaning up.
    still = [k for ks in client.run(_executing).values() for k in ks if k.startswith(("bpekit-encode-", "bpekit-shard-"))]
    assert not still, f"encode raised while its tasks {still} still ran"
    assert_same_error(got.value, single.value, bad, where)
    wait_idle(client)
    assert os.listdir(out) == [], "a failed run left files (shards, manifest, work directory or temporary files)"


@pytest.mark.parametrize("kind", list(BAD_UNITS))
def test_unreadable_unit_train(client, mixed, tmp_path, kind):
    bad, where = BAD_UNITS[kind](tmp_path)
    sources = [*mixed[:4], str(bad), *mixed[4:]]
    with pytest.raises(bpekit.TokenizerError) as single:
        bpekit.corpus.train(Corpus(sources, lines=True), 300, progress=False)
    with pytest.raises(bpekit.TokenizerError) as got:
        dist.train(sources, 300, client=client, task_bytes=1, lines=True)
    assert_same_error(got.value, single.value, bad, where)


# ==== The workers' malloc settings ====


def _set_trim(value):
    if value is None:
        os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    else:
        os.environ["MALLOC_TRIM_THRESHOLD_"] = value


def test_workers_trim_threshold(client, fixtures_corpus):
    """The suite's cluster (WORKER_CONFIG) has no fixed trim threshold, and no warning;
    workers with Dask's default get a RuntimeWarning naming the remedy."""
    import warnings

    sources, options = fixtures_corpus
    assert set(client.run(os.environ.get, "MALLOC_TRIM_THRESHOLD_").values()) == {None}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dist.train(sources, 270, client=client, **options)
    client.run(_set_trim, "65536")
    try:
        with pytest.warns(RuntimeWarning, match=r"MALLOC_TRIM_THRESHOLD_=65536.*WORKER_CONFIG"):
            dist.train(sources, 270, client=client, **options)
    finally:
        client.run(_set_trim, None)


# ==== Relative paths: the workers' working directory is not the client's ====


def test_relative_paths(client, mixed, enc, tmp_path, monkeypatch):
    """Sources and the output prefix given relative to the client's directory, with the
    workers in another directory (as `dask worker` started elsewhere): the same files as
    one process, nothing written in the workers' directory, messages naming the sources
    as given."""
    elsewhere = mk(tmp_path / "workers-cwd")
    before = client.run(os.getcwd)
    client.run(os.chdir, str(elsewhere))
    try:
        here = mk(tmp_path / "client")
        for p in mixed:
            shutil.copy(p, here / os.path.basename(p))
        names = sorted(os.path.basename(p) for p in mixed)
        kw = dict(format="npy", shard_tokens=997, eos="<|endoftext|>")
        single_encode([str(here / n) for n in names], enc, tmp_path / "a" / "out", {"lines": True}, **kw)
        mk(here / "b")
        monkeypatch.chdir(here)
        path = dist.encode(names, enc, os.path.join("b", "out"), client=client, lines=True, **kw)
        assert path == os.path.join("b", "out") + ".manifest.json"
        got, want = tree(here / "b"), tree(tmp_path / "a")
        # (the manifest names the sources as given: relative here, absolute there)
        m_got, m_want = json.loads(got.pop("out.manifest.json")), json.loads(want.pop("out.manifest.json"))
        assert m_got["options"]["sources"] == names
        m_got["options"]["sources"] = m_want["options"]["sources"]
        assert m_got == m_want
        assert got == want
        assert os.listdir(elsewhere) == []
        want_enc = bpekit.corpus.train(Corpus(names, lines=True), 300, progress=False)
        assert dist.train(names, 300, client=client, lines=True).to_bytes() == want_enc.to_bytes()
        (here / "bad.txt.gz").write_bytes(b"not gzip")
        with pytest.raises(Exception, match=r"^bad\.txt\.gz: "):
            dist.train(["bad.txt.gz"], 300, client=client)
    finally:
        for addr, d in before.items():
            client.run(os.chdir, d, workers=[addr])
