"""Training and encoding on a Dask cluster, with the results of one process.

:func:`train` and :func:`encode` take a ``dask.distributed.Client`` (any cluster:
dask-jobqueue on Slurm or PBS, dask-kubernetes, ``dask scheduler`` + ``dask worker``), or
start a ``LocalCluster`` of worker processes when given none. They need the extra
``pip install 'bpekit[distributed]'``; dask is imported only when they are called.

The work is cut into *units* (:meth:`bpekit.corpus.Corpus.units`: a text or JSON Lines
file, or one Parquet row group); consecutive units are grouped into tasks of about
``task_bytes`` bytes on disk (a unit is never split; a Parquet row group, or a file of
``task_bytes`` or more, is a task of its own).

**Train.** One task per group counts its documents into a count table
(:meth:`bpekit.Trainer.export_counts`); the tables are merged on the workers in a tree,
``fan_in`` tables per merge (:func:`bpekit.merge_counts`), so no process ever holds them
all; one last task merges what is left, drops pieces counted fewer than ``min_count``
times, and runs the merge loop. Counting commutes, so with ``min_count=0`` the merges are
exactly those of :func:`bpekit.corpus.train` on the same corpus. ``min_count`` prunes
the global table (never a partial one: a piece rare in every part can be frequent in
all); pruned training is no longer exactly the single-process result, only close to it.

**Encode.** The output is byte for byte what :func:`bpekit.corpus.encode` writes (shards
and manifest), whatever the number of workers or the order in which tasks finish.
Single-process encoding rotates shards by ``shard_tokens`` *across* input files, so a
shard's contents depend on every document before it; the cluster therefore works in two
phases:

1. one task per group encodes each unit's documents (without BOS/EOS) into a temporary
   ``.npy`` shard per unit in ``<outdir>/.<base>.bpekit-work/`` (written atomically
   under a name fixed by the unit, so a retried task rewrites the same file);
2. the client plans the final shards from the units' document lengths with the core's
   rotation rule (:func:`bpekit._pipeline.shard_plan`), and one task per final shard
   writes it with the pipeline's writer from the temporary ids.

The client then writes the manifest (with each file's SHA-256) and removes the work
directory. The output directory must be one filesystem shared by the client and every
worker. A failed run removes the work directory and the shards it wrote and writes no
manifest; the error is the worker's exception type, its message naming the unit
(``<source>`` or ``<source>: row group G``). Resuming is not supported on a cluster (a
run is all or nothing; single-process ``encode`` resumes).

Task keys are deterministic (a hash of the inputs) and prefixed ``bpekit-count-``,
``bpekit-merge-``, ``bpekit-train-``, ``bpekit-encode-`` (phase 1) and ``bpekit-shard-``
(phase 2); ``bpekit-tokenizer-`` is the task holding the tokenizer's bytes for both
phases.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
import threading
import time
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from ._errors import InternalError, IoError, TokenizerError
from .corpus import Corpus, CorpusError, MissingExtraError, PathLike, Unit, _numpy

if TYPE_CHECKING:
    from .core import Encoding

__all__ = ["WORKER_CONFIG", "encode", "train"]

#: Dask configuration for the workers that run bpekit's tasks: without it, Dask's nanny
#: starts every worker with ``MALLOC_TRIM_THRESHOLD_=65536``, which also freezes glibc's
#: mmap threshold at 128 KiB, so every large buffer of the native code (hash tables, id
#: vectors) is mapped and unmapped afresh: counting and the merge loop run ~1.3-1.5x slower
#: (``docs/distributed.md``). The local cluster these functions start uses it; for your own
#: cluster: ``with dask.config.set(WORKER_CONFIG): cluster = LocalCluster(...)``, or the
#: equivalent YAML / ``DASK_...`` variable where the workers start.
WORKER_CONFIG = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}
#: the most ids one ``push_ids`` call takes (bounds a phase-2 task's memory)
PUSH_IDS = 16 << 20
#: tokenizers rebuilt on this worker process, by the SHA-256 of their bytes
_TOKENIZERS: dict[str, Encoding] = {}
_TOKENIZERS_LOCK = threading.Lock()


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise MissingExtraError(
            "bpekit.distributed needs dask.distributed: pip install 'bpekit[distributed]'"
        ) from None
    return distributed


# ==== Cluster and corpus ====


def _check_cluster(client: Any, n_workers: int | None) -> None:
    """Checks the cluster arguments and that dask is installed (before any work)."""
    _distributed()
    if client is not None and n_workers is not None:
        raise CorpusError("n_workers is the size of the local cluster started without a client; "
                          "with a client, size its cluster instead")
    if n_workers is not None and (not isinstance(n_workers, int) or isinstance(n_workers, bool) or n_workers < 1):
        raise CorpusError(f"n_workers must be a positive int, got {n_workers!r}")


@contextlib.contextmanager
def _client(client: Any, n_workers: int | None) -> Iterator[Any]:
    """``client``, or a Client of a new LocalCluster (closed on exit)."""
    _check_cluster(client, n_workers)
    if client is not None:
        _check_workers(client)
        yield client
        return
    distributed = _distributed()
    import dask

    # (for the cluster's whole life: a nanny restarting a lost worker reads it again)
    with dask.config.set(WORKER_CONFIG):
        cluster = distributed.LocalCluster(
            n_workers=n_workers or os.cpu_count() or 1, threads_per_worker=1, processes=True, dashboard_address=":0"
        )
        try:
            with distributed.Client(cluster) as c:
                yield c
        finally:
            cluster.close()


def _trim_threshold() -> str | None:
    return os.environ.get("MALLOC_TRIM_THRESHOLD_")


def _check_workers(client: Any) -> None:
    """Warns when workers run with glibc's trim threshold fixed (see WORKER_CONFIG)."""
    try:
        found = {v for v in client.run(_trim_threshold).values() if v is not None}
    except Exception:  # noqa: BLE001 (a worker lost right now: the run itself will tell)
        return
    if found:
        import warnings

        warnings.warn(
            f"the Dask workers run with MALLOC_TRIM_THRESHOLD_={sorted(found)[0]} (Dask's default), which fixes "
            "glibc's mmap threshold and makes bpekit's counting and merge loop ~1.3-1.5x slower; start the "
            "workers with dask.config.set(bpekit.distributed.WORKER_CONFIG) or the YAML in docs/distributed.md",
            RuntimeWarning,
            stacklevel=3,
        )


def _corpus(sources: PathLike | Iterable[PathLike], options: dict[str, Any]) -> tuple[Corpus, list[Unit]]:
    if options.get("max_chars") is not None:
        raise CorpusError("max_chars is a corpus-wide budget; not supported on a cluster")
    if "resume" in options:
        raise CorpusError("resume is not supported on a cluster (a distributed run is all or nothing)")
    corpus = Corpus(sources, **options)
    units = corpus.units()
    for u in units:
        if u.source.path == "-":
            raise CorpusError("<stdin> cannot be read on a cluster (workers cannot see it): give files")
    # Workers open absolute paths (their working directory is not the client's); messages
    # still name the sources as given.
    return corpus, [_absolute(u) for u in units]


def _absolute(u: Unit) -> Unit:
    src = u.source
    return dataclasses.replace(u, source=dataclasses.replace(src, path=os.path.abspath(src.path), label=src.name))


def _groups(units: list[Unit], task_bytes: int) -> list[list[int]]:
    """Consecutive unit numbers grouped until a group holds ``task_bytes``; a Parquet
    row group, or a unit of ``task_bytes`` or more, is a group of its own."""
    if not isinstance(task_bytes, int) or isinstance(task_bytes, bool) or task_bytes < 1:
        raise CorpusError(f"task_bytes must be a positive int, got {task_bytes!r}")
    groups: list[list[int]] = []
    cur: list[int] = []
    size = 0
    for i, u in enumerate(units):
        if u.row_group is not None or (u.size or 0) >= task_bytes:
            if cur:
                groups.append(cur)
                cur, size = [], 0
            groups.append([i])
            continue
        cur.append(i)
        size += u.size or 0
        if size >= task_bytes:
            groups.append(cur)
            cur, size = [], 0
    if cur:
        groups.append(cur)
    return groups


def _token(*parts: Any) -> str:
    """A short hash naming a run's tasks: the same inputs (including the sources'
    sizes and modification times) give the same keys."""
    h = hashlib.sha256()
    for p in parts:
        h.update(json.dumps(p, sort_keys=True, default=str).encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()[:16]


def _stamp(units: list[Unit]) -> list[Any]:
    out = []
    for u in units:
        try:
            mtime = os.stat(u.source.path).st_mtime_ns
        except OSError:
            mtime = None
        out.append([u.source.path, u.row_group, u.size, mtime])
    return out


@contextlib.contextmanager
def _named(unit: Unit) -> Iterator[None]:
    """Errors while reading ``unit`` name it: the same exception type, its message
    starting with the unit's name; an ``OSError`` becomes an :class:`IoError` (still an
    ``OSError``) naming it."""
    try:
        yield
    except TokenizerError as e:
        msg = str(e)
        name, src = unit.name, unit.source.name
        if msg.startswith(name + ":"):
            raise
        if unit.row_group is not None and msg.startswith(src + ": "):
            msg = f"{name}: {msg[len(src) + 2:]}"
        else:
            msg = f"{name}: {msg}"
        e.args = (msg, *e.args[1:])
        raise
    except OSError as e:
        raise IoError(f"{unit.name}: {e.strerror or e}") from None


def _gather(client: Any, futures: list[Any], *, wait_running: bool = False) -> list[Any]:
    """The results in order; on the first error, every future is cancelled (so tasks not
    started never start, and their keys are forgotten: a run with the same inputs starts
    afresh) and it is raised, with ``wait_running`` once the tasks that were running have
    ended (a cancelled task still runs to its end on its worker, and may write files)."""
    try:
        return client.gather(futures)
    except BaseException:
        client.cancel(futures)
        if wait_running:
            _wait_ended(client, {str(f.key) for f in futures})
        raise


def _executing(dask_worker: Any) -> list[str]:
    return [str(ts.key) for ts in dask_worker.state.executing]


def _wait_ended(client: Any, keys: set[str]) -> None:
    """Returns once no worker is executing a task of ``keys``."""
    while True:
        try:
            running = client.run(_executing, on_error="ignore")
        except Exception:  # noqa: BLE001 (the cluster is gone: nothing runs)
            return
        if not any(keys.intersection(ks) for ks in running.values()):
            return
        time.sleep(0.05)


# ==== Training ====


def train(
    sources: PathLike | Iterable[PathLike],
    vocab_size: int,
    *,
    client: Any = None,
    n_workers: int | None = None,
    pattern: str | None = None,
    special_tokens: Iterable[str] = (),
    name: str = "bpekit",
    min_count: int = 0,
    fan_in: int = 8,
    task_bytes: int = 64 << 20,
    threads: int = 1,
    **corpus_options: Any,
) -> Encoding:
    """Trains a tokenizer on the documents of ``sources`` on a Dask cluster: the
    :class:`~bpekit.Encoding` :func:`bpekit.corpus.train` returns for
    ``Corpus(sources, **corpus_options)`` (with ``min_count=0``).

    ``client``: a ``dask.distributed.Client``; None starts a LocalCluster of
    ``n_workers`` processes (default: one per core), one thread each, closed at the end.
    ``corpus_options`` are :class:`~bpekit.corpus.Corpus`'s (``max_chars`` excepted).
    ``fan_in`` tables are merged per task; ``min_count`` drops pieces counted fewer
    times, after the last merge; ``threads`` is the native threads per task.

    >>> enc = train("data/*.txt", 32768, n_workers=2)   # doctest: +SKIP
    """
    from ._train import Trainer

    _check_cluster(client, n_workers)
    if not isinstance(fan_in, int) or isinstance(fan_in, bool) or fan_in < 2:
        raise CorpusError(f"fan_in must be an int of at least 2, got {fan_in!r}")
    if not isinstance(min_count, int) or isinstance(min_count, bool) or min_count < 0:
        raise CorpusError(f"min_count must be a non-negative int, got {min_count!r}")
    special_tokens = list(special_tokens)
    # The options' errors (pattern, specials, vocab size) before any work: an empty
    # trainer checks them all at once.
    check = Trainer(pattern, special_tokens=special_tokens, num_threads=threads)
    try:
        check.finish(vocab_size, name=name)
    finally:
        check.close()
    corpus, units = _corpus(sources, corpus_options)
    groups = _groups(units, task_bytes)
    tok = _token("train", corpus.options(), _stamp(units), pattern, special_tokens, vocab_size, name,
                 min_count, fan_in, task_bytes)
    from .core import Encoding

    with _client(client, n_workers) as c:
        # Only the last task's future is held, so each table (a count task's, a merge's)
        # is released once the merge above it has run.
        final = _submit_train(c, tok, corpus, units, groups, fan_in, min_count, vocab_size, pattern, special_tokens,
                              name, threads)
        try:
            blob = _gather(c, [final])[0]
        finally:
            c.cancel([final])
    return Encoding.from_bytes(blob, name=name)


def _submit_train(c: Any, tok: str, corpus: Corpus, units: list[Unit], groups: list[list[int]], fan_in: int,
                  min_count: int, vocab_size: int, pattern: str | None, special_tokens: list[str], name: str,
                  threads: int) -> Any:
    """Submits the count tasks, the merge tree and the last task; the last one's future."""
    level: list[tuple[Any, str]] = []
    for g, group in enumerate(groups):
        f = c.submit(_count_task, corpus, [units[i] for i in group], pattern, threads,
                     key=f"bpekit-count-{tok}-{g:06d}")
        level.append((f, _label([units[i] for i in group])))
    depth = 0
    while len(level) > fan_in:
        nxt = []
        for j in range(0, len(level), fan_in):
            part = level[j : j + fan_in]
            if len(part) == 1:
                nxt.append(part[0])
                continue
            labels = [lab for _, lab in part]
            f = c.submit(_merge_task, labels, [f for f, _ in part],
                         key=f"bpekit-merge-{tok}-{depth:02d}-{j // fan_in:06d}")
            nxt.append((f, _span(labels)))
        level = nxt
        depth += 1
    return c.submit(_train_task, [lab for _, lab in level], [f for f, _ in level], min_count, vocab_size,
                    pattern, special_tokens, name, threads, key=f"bpekit-train-{tok}")


def _label(units: list[Unit]) -> str:
    return units[0].name if len(units) == 1 else f"{units[0].name} .. {units[-1].name}"


def _span(labels: list[str]) -> str:
    first, last = labels[0].split(" .. ")[0], labels[-1].split(" .. ")[-1]
    return first if first == last else f"{first} .. {last}"


def _count_task(corpus: Corpus, units: list[Unit], pattern: str | None, threads: int) -> bytes:
    """A worker: the count table of the units' documents."""
    from ._pipeline import _feed
    from ._train import Trainer

    trainer = Trainer(pattern, num_threads=threads)
    try:
        for u in units:
            with _named(u):
                for b in corpus.unit_batches(u):
                    _feed(trainer, b)
        return trainer.export_counts()
    finally:
        trainer.close()


def _merge(labels: list[str], tables: list[bytes], min_count: int) -> bytes:
    """merge_counts, an error about ``tables[i]`` naming the units that table counts."""
    import re

    from ._train import merge_counts

    try:
        return merge_counts(tables, min_count=min_count)
    except TokenizerError as e:
        msg = str(e)
        m = re.match(r"tables\[(\d+)\]", msg)
        if m and int(m.group(1)) < len(labels):
            e.args = (f"the count table of {labels[int(m.group(1))]}{msg[m.end():]}", *e.args[1:])
        raise


def _merge_task(labels: list[str], tables: list[bytes]) -> bytes:
    """A worker: one merge of the tree (no pruning: that is the last merge's)."""
    return _merge(labels, tables, 0)


def _train_task(labels: list[str], tables: list[bytes], min_count: int, vocab_size: int, pattern: str | None,
                special_tokens: list[str], name: str, threads: int) -> bytes:
    """A worker: the last merge (with pruning), then the merge loop; the tokenizer's bytes."""
    from ._train import Trainer

    trainer = Trainer(pattern, special_tokens=special_tokens, num_threads=threads)
    try:
        if tables:
            counts = tables[0] if len(tables) == 1 and min_count == 0 else _merge(labels, tables, min_count)
            trainer.add_counts(counts)
        return trainer.finish(vocab_size, name=name).to_bytes()
    finally:
        trainer.close()


# ==== Encoding ====


def encode(
    sources: PathLike | Iterable[PathLike],
    tokenizer: Encoding,
    out_prefix: str | os.PathLike[str],
    *,
    format: str,
    client: Any = None,
    n_workers: int | None = None,
    bos: int | str | None = None,
    eos: int | str | None = None,
    shard_tokens: int = 0,
    force: bool = False,
    task_bytes: int = 64 << 20,
    threads: int = 1,
    **corpus_options: Any,
) -> str:
    """Encodes the documents of ``sources`` with ``tokenizer.encode_ordinary`` into
    token shards on a Dask cluster and returns the manifest's path: the same files, byte
    for byte, as :func:`bpekit.corpus.encode` writes for
    ``Corpus(sources, **corpus_options)`` (see the module docs for how).

    ``format``, ``bos``, ``eos``, ``shard_tokens`` and ``force`` are
    :func:`bpekit.corpus.encode`'s (an existing manifest is a :class:`ManifestError`
    unless ``force``; there is no resume). ``client``, ``n_workers``, ``task_bytes`` and
    ``threads`` are as for :func:`train`. The output directory must exist and be shared
    by the client and the workers.

    >>> encode("data/*.txt", enc, "out/train", format="npy", n_workers=2)   # doctest: +SKIP
    'out/train.manifest.json'
    """
    from ._pipeline import ManifestError, _clean, encode_args, manifest_path

    np = _numpy("encoding on a cluster")
    _check_cluster(client, n_workers)
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 0:
        raise CorpusError(f"threads must be a non-negative int, got {threads!r}")
    # Workers resolve paths in their own working directory: they get absolute ones (the
    # manifest's path is returned as given).
    given = os.fspath(out_prefix)
    prefix = os.path.abspath(given)
    bos_id, eos_id = encode_args(tokenizer, format, bos, eos, shard_tokens)
    corpus, units = _corpus(sources, corpus_options)
    groups = _groups(units, task_bytes)
    outdir = os.path.dirname(os.path.abspath(prefix))
    if not os.path.isdir(outdir):
        raise IoError(f"{outdir}: the output directory does not exist")
    blob = tokenizer.to_bytes()
    sha = hashlib.sha256(blob).hexdigest()
    tok = _token("encode", corpus.options(), _stamp(units), sha, os.path.abspath(prefix), format, bos_id, eos_id,
                 shard_tokens, task_bytes)

    mpath = manifest_path(given)
    if os.path.exists(mpath):
        if not force:
            raise ManifestError(f"{mpath} exists: force (--force) to overwrite; a cluster run does not resume")
        _clean(prefix, set())  # every shard and temporary file of this prefix
        os.unlink(mpath)
    else:  # files of this prefix that no manifest lists are not ours to remove
        _clean(prefix, None)
    # the writer's own checks (format against vocab size, ids, directory) before any work
    from ._pipeline import _Writer

    _Writer(tokenizer, format, prefix, shard_tokens, 0, bos_id, eos_id).close()
    work = os.path.join(outdir, f".{os.path.basename(prefix)}.bpekit-work")
    shutil.rmtree(work, ignore_errors=True)  # a crashed client's
    try:
        os.mkdir(work)
    except OSError as e:
        raise IoError(f"{work}: cannot create the work directory ({e.strerror or e})") from None

    written: list[str] = []  # the final shard files this run writes
    try:
        with _client(client, n_workers) as c:
            submitted: list[Any] = []  # cancelled at the end, so their keys are forgotten
            try:
                # The tokenizer's bytes travel once to the scheduler, as this task's
                # argument, and once to each worker, as its result (computed again if lost).
                tokenizer_f = c.submit(_blob, blob, key=f"bpekit-tokenizer-{tok}")
                submitted.append(tokenizer_f)

                # ---- Phase 1: every unit's ids into a temporary npy shard ----
                futures = [
                    c.submit(_encode_task, corpus, [(i, units[i]) for i in group], tokenizer_f, sha, work, threads,
                             key=f"bpekit-encode-{tok}-{g:06d}")
                    for g, group in enumerate(groups)
                ]
                submitted += futures
                done = [r for rs in _gather(c, futures, wait_running=True) for r in rs]
                if [r["unit"] for r in done] != list(range(len(units))):
                    raise InternalError("bpekit.distributed: phase 1 did not return every unit once")

                # ---- Plan: the final shard of every document ----
                plan = _plan(np, work, len(units), shard_tokens, (bos_id is not None) + (eos_id is not None))

                # ---- Phase 2: one task per final shard ----
                for k in range(len(plan)):
                    written += _shard_names(prefix, format, shard_tokens, k)
                futures = [
                    c.submit(_shard_task, k, ranges, docs, tokens, format, prefix, shard_tokens, bos_id, eos_id,
                             tokenizer_f, sha, work, key=f"bpekit-shard-{tok}-{k:06d}")
                    for k, (ranges, docs, tokens) in enumerate(plan)
                ]
                submitted += futures
                # Every task ends before an error is raised and the shards are removed:
                # none renames a shard into place after the cleanup.
                c.gather(futures, errors="skip")
                for f in futures:
                    if f.status != "finished":
                        f.result()  # raises the task's error
                entries = [f.result() for f in futures]
            except BaseException:
                # (an interrupt, a lost scheduler: tasks may still run; none may write
                # after the cleanup below)
                c.cancel(submitted)
                _wait_ended(c, {str(f.key) for f in submitted})
                raise
            finally:
                c.cancel(submitted)

        from ._pipeline import _settle, manifest_head, write_json_atomic

        manifest = manifest_head(corpus, corpus.files(), tokenizer, format, bos_id, eos_id, shard_tokens)
        manifest["shards"] = entries
        _settle(manifest, prefix)
        manifest["complete"] = True
        write_json_atomic(mpath, manifest)
        return mpath
    except BaseException:
        for p in written:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(p)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
        _clean(prefix, None)  # temporary files of tasks whose worker was lost


def _blob(blob: bytes) -> bytes:
    return blob


def _tokenizer(blob: bytes, sha: str) -> Encoding:
    """The tokenizer of ``blob``, built once per worker process."""
    from .core import Encoding

    with _TOKENIZERS_LOCK:
        enc = _TOKENIZERS.get(sha)
        if enc is None:
            if len(_TOKENIZERS) >= 4:
                _TOKENIZERS.clear()
            enc = _TOKENIZERS[sha] = Encoding.from_bytes(blob)
        return enc


def _unit_prefix(work: str, i: int) -> str:
    return os.path.join(work, f"unit_{i:06d}")


def _encode_task(corpus: Corpus, items: list[tuple[int, Unit]], blob: bytes, sha: str, work: str,
                 threads: int) -> list[dict[str, int]]:
    """A worker, phase 1: each unit's documents, encoded without BOS/EOS, into the npy
    shard ``unit_NNNNNN`` of the work directory; the units' counts."""
    from ._pipeline import _Writer

    enc = _tokenizer(blob, sha)
    out = []
    for i, u in items:
        with _named(u):
            w = _Writer(enc, "npy", _unit_prefix(work, i), 0, 0, None, None)
            try:
                for b in corpus.unit_batches(u):
                    w.push(enc, b, threads)
                w.finish()
                rec = w.shard(0)
            finally:
                w.close()
        if rec["documents"] != corpus.documents:
            raise InternalError(f"{u.name}: {corpus.documents} documents read, {rec['documents']} written")
        out.append({"unit": i, "documents": corpus.documents, "tokens": rec["tokens"], "chars": corpus.chars,
                    "skipped": corpus.skipped, "bytes": corpus.bytes})
    return out


def _load(np: Any, path: str) -> Any:
    """A temporary npy array, memory-mapped (read whole when empty: no map of 0 bytes)."""
    try:
        return np.load(path, mmap_mode="r")
    except ValueError:
        return np.load(path)


def _plan(np: Any, work: str, n_units: int, shard_tokens: int, extra: int) -> list[tuple[list[tuple[int, int, int]], int, int]]:
    """For each final shard, in order: its ``(unit, first_doc, end_doc)`` ranges, its
    documents and its tokens, by the core's rotation rule over every unit in order."""
    from ._pipeline import shard_plan

    shards: list[tuple[list[tuple[int, int, int]], int, int]] = []
    cursor = [0, 0, 0]
    for i in range(n_units):
        offsets = _load(np, _unit_prefix(work, i) + ".docs.npy")
        n = len(offsets) - 1
        if n <= 0:
            continue
        lengths = np.diff(offsets).astype(np.uint64) + np.uint64(extra)
        where = shard_plan(shard_tokens, lengths, cursor)
        cuts = np.flatnonzero(where[1:] != where[:-1]) + 1
        starts = [0, *cuts.tolist()]
        ends = [*cuts.tolist(), n]
        for a, b in zip(starts, ends):
            k = int(where[a])
            while len(shards) <= k:
                shards.append(([], 0, 0))
            ranges, docs, tokens = shards[k]
            ranges.append((i, a, b))
            shards[k] = (ranges, docs + (b - a), tokens + int(lengths[a:b].sum()))
    if not shards:  # no documents: one empty shard, as a single process writes
        shards.append(([], 0, 0))
    return shards


#: the files of a shard of each format, after its name
_SUFFIXES = {"llmc": (".bin",), "nanogpt": (".bin",), "megatron": (".bin", ".idx"), "npy": (".npy", ".docs.npy")}


def _shard_names(prefix: str, format: str, shard_tokens: int, k: int) -> list[str]:
    """The files of shard ``k`` of ``prefix``."""
    base = prefix if shard_tokens == 0 else f"{prefix}_{k:06d}"
    return [base + s for s in _SUFFIXES[format]]


def _shard_task(k: int, ranges: list[tuple[int, int, int]], docs: int, tokens: int, format: str, prefix: str,
                shard_tokens: int, bos: int | None, eos: int | None, blob: bytes, sha: str,
                work: str) -> dict[str, Any]:
    """A worker, phase 2: final shard ``k`` from the planned documents' ids; its
    manifest entry."""
    from ._pipeline import _Writer, shard_entry

    np = _numpy("encoding on a cluster")
    enc = _tokenizer(blob, sha)
    w = _Writer(enc, format, prefix, shard_tokens, k, bos, eos)
    try:
        for i, a, b in ranges:
            ids = _load(np, _unit_prefix(work, i) + ".npy")
            offsets = _load(np, _unit_prefix(work, i) + ".docs.npy")
            while a < b:
                # as many documents as fit in PUSH_IDS ids (at least one)
                end = int(np.searchsorted(offsets, offsets[a] + PUSH_IDS, side="right")) - 1
                end = min(max(end, a + 1), b)
                lo, hi = int(offsets[a]), int(offsets[end])
                w.push_ids(np.ascontiguousarray(ids[lo:hi], dtype=np.uint32),
                           np.asarray(offsets[a : end + 1], dtype=np.uint64) - np.uint64(lo))
                a = end
        w.finish()
        if w.completed() != 1:
            raise InternalError(f"shard {k}: the writer completed {w.completed()} shards, not 1 as planned")
        e = shard_entry(w, 0, prefix)
    finally:
        w.close()
    if e["index"] != k or e["documents"] != docs or e["tokens"] != tokens:
        raise InternalError(
            f"shard {k}: wrote shard {e['index']} of {e['documents']} documents, {e['tokens']} tokens; "
            f"planned {docs} documents, {tokens} tokens"
        )
    return e
