#!/usr/bin/env python3
"""bpekit.distributed on one machine: one process vs a Dask LocalCluster of 1 and of 2
workers (processes, 1 thread each), on ~1 GB of text (issue 16's benchmark).

The input is built once from the ~100 MB corpora (make_corpus.sh: english, code,
multilingual): their documents interleaved by relative position, repeated in that order
until --size MiB, written as .txt files of --file-mb MiB (documents separated by a blank
line, read with separator="\\n\\n"), so each file is one unit of work. A corpus bigger
than the ~267 MiB of the three repeats their documents: counting and encoding speeds are
those of fresh text, but the count table, and so the merge loop, is that of ~267 MiB.

Every mode (single, cluster-1, cluster-2) runs in a fresh child process; a cluster's
start-up (with importing bpekit on every worker) is timed apart from the phases, which run
on the started client. Phases:

  count    single: a Trainer fed every unit's documents, then export_counts();
           cluster: one task per unit (the same Trainer work, via Corpus.unit_batches) on
           the workers, each returning its count table; then the tables merged with
           bpekit.merge_counts in the client (its peak memory is reported apart: the
           table sizes and the merge's growth of RSS)
  train    single: bpekit.corpus.train(Corpus(files, ...), vocab, threads=1)
           cluster: bpekit.distributed.train(files, vocab, client=client, ...) (count tasks,
           tree merge, merge loop on a worker)
  encode   single: bpekit.corpus.encode(Corpus(files, ...), enc, prefix, format="llmc",
           bos="<|endoftext|>", shard_tokens=--shard-tokens, threads=1) with cl100k_base
           cluster: bpekit.distributed.encode(files, enc, prefix, same options, client=client)

Checks (exit 1 with FAILED): every mode learns the same tokenizer (same bytes), writes
byte-identical manifests (which hold each shard's sha256), and the count tables of all
modes are equal. Peak memory: VmHWM of the client process and of each worker process,
reset before each phase (so a phase's peak is its own). Times are wall seconds on a
shared machine: run it when the machine is quiet (2 workers on 2 cores).

    python bench/distributed_bench.py --data /tmp/bigdata                 # ~1 GB: about 10-15 min
    python bench/distributed_bench.py --data /tmp/bigdata --size 64 --file-mb 8 --modes single,cluster-2
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import MIB, corpus_file, default_data_dir, machine_line, table, thread_env, versions  # noqa: E402

CORPORA = ("english", "code", "multilingual")
MODES = ("single", "cluster-1", "cluster-2")
PHASES = ("count", "train", "encode")
SEPARATOR = "\n\n"


# ==== Input ====


def build_input(data_dir: Path, out_dir: Path, size_mib: int, file_mib: int) -> list[str]:
    """Writes the benchmark's .txt files (see the module doc); returns their paths. Reuses
    files of an earlier run with the same parameters."""
    stamp = out_dir / "input.json"
    want = {"data": str(data_dir), "size_mib": size_mib, "file_mib": file_mib, "version": 1}
    if stamp.exists() and json.loads(stamp.read_text()).get("params") == want:
        return json.loads(stamp.read_text())["files"]
    import lzma

    keyed = []
    for ci, name in enumerate(CORPORA):
        path = corpus_file(data_dir, name)
        raw = (lzma.open if path.suffix == ".xz" else open)(path, "rb").read()
        offsets = data_dir / f"{name}.offsets"
        starts = sorted(int(x) for x in offsets.read_text().split()) if offsets.exists() else [0]
        bounds = starts + [len(raw)]
        for a, b in zip(bounds, bounds[1:]):
            doc = raw[a:b].strip(b"\n")
            if doc:
                keyed.append((a / len(raw), ci, doc))
    keyed.sort(key=lambda t: (t[0], t[1]))
    docs = [d for _, _, d in keyed]
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("part_*.txt"):
        old.unlink()
    files, total, i, k = [], 0, 0, 0
    limit, per_file = size_mib * MIB, file_mib * MIB
    while total < limit:
        path = out_dir / f"part_{k:04}.txt"
        n = 0
        with open(path, "wb") as f:
            while n < per_file and total + n < limit:
                doc = docs[i % len(docs)]
                f.write(doc + b"\n\n")
                n += len(doc) + 2
                i += 1
        files.append(str(path))
        total += n
        k += 1
    stamp.write_text(json.dumps({"params": want, "files": files, "documents": i, "bytes": total}))
    return files


# ==== Worker-side helpers (pickled by value into the workers) ====


def reset_peak() -> None:
    """Resets this process's RSS high-water mark (VmHWM) to its current RSS."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def cpu_s() -> float:
    """CPU seconds of this process so far (all its threads)."""
    return time.process_time()


def peak_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MIB


def feed_batch(trainer, b) -> None:
    """Feeds a corpus Batch to the trainer without copying its documents into Python objects
    (the pipeline's own call)."""
    feed_docs = getattr(trainer, "feed_docs", None)
    if feed_docs is not None:
        feed_docs(b)
    else:
        from bpekit._pipeline import _feed

        _feed(trainer, b)


def feed_unit(trainer, corpus, unit) -> None:
    for b in corpus.unit_batches(unit):
        feed_batch(trainer, b)


def warm_up() -> None:
    """Imports what the tasks use, so the first timed phase does not pay for it."""
    import bpekit
    import bpekit.corpus  # noqa: F401
    import bpekit.distributed  # noqa: F401

    bpekit.Trainer().close()


def count_unit(files: list[str], options: dict, unit, pattern) -> bytes:
    """One unit's count table (what a count task of bpekit.distributed.train makes)."""
    import bpekit
    from bpekit.corpus import Corpus

    corpus = Corpus(files, **options)
    t = bpekit.Trainer(pattern, num_threads=1)
    try:
        feed_unit(t, corpus, unit)
        return t.export_counts()
    finally:
        t.close()


# ==== One mode (child process) ====


def run_mode(mode: str, files: list[str], phases: list[str], vocab: int, shard_tokens: int, out_dir: Path,
             ranks_dir: Path) -> dict:
    import bpekit
    from bpekit.corpus import Corpus

    options = {"separator": SEPARATOR}
    pattern = bpekit.CL100K_PATTERN
    res: dict = {"mode": mode, "phases": {}}
    client = cluster = None
    n_workers = 0 if mode == "single" else int(mode.split("-")[1])
    if n_workers:
        from dask.distributed import Client, LocalCluster

        t0 = time.perf_counter()
        import dask
        import bpekit.distributed as bd

        # (as bpekit.distributed's own local cluster: without it, Dask's nanny fixes glibc's
        # mmap threshold in the workers, and the native code runs ~1.3-1.5x slower)
        dask.config.set(bd.WORKER_CONFIG)
        cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
        client.wait_for_workers(n_workers)
        client.run(warm_up)
        res["startup_s"] = time.perf_counter() - t0

    cpu0: dict = {}

    def cpu_now() -> float:
        """CPU seconds of the client (with the LocalCluster's scheduler, which runs in it)
        and of every worker process."""
        total = cpu_s()
        if client is not None:
            total += sum(client.run(cpu_s).values())
        return total

    def start() -> float:
        reset_peak()
        if client is not None:
            client.run(reset_peak)
        cpu0["t"] = cpu_now()
        return time.perf_counter()

    def stop(t0: float, **extra) -> dict:
        row = {"wall_s": time.perf_counter() - t0, "client_peak_mib": peak_mib(), **extra}
        row["cpu_s"] = cpu_now() - cpu0["t"]
        if client is not None:
            row["worker_peak_mib"] = sorted(client.run(peak_mib).values())
        return row

    try:
        if "count" in phases:
            corpus = Corpus(files, **options)
            t0 = start()
            if client is None:
                tr = bpekit.Trainer(pattern, num_threads=1)
                for b in corpus.batches():
                    feed_batch(tr, b)
                merged = tr.export_counts()
                tr.close()
                row = stop(t0, count_s=time.perf_counter() - t0)
            else:
                units = corpus.units()
                futures = client.map(count_unit, [files] * len(units), [options] * len(units), units,
                                     [pattern] * len(units), key=[f"bench-count-{i:06}" for i in range(len(units))])
                tables = client.gather(futures)
                del futures
                count_s = time.perf_counter() - t0
                gather_peak = peak_mib()
                # The merge alone: its growth of RSS over the tables it reads (already here).
                reset_peak()
                rss0 = rss_mib()
                t1 = time.perf_counter()
                merged = bpekit.merge_counts(tables)
                merge_s = time.perf_counter() - t1
                merge_growth = peak_mib() - rss0
                row = stop(t0, count_s=count_s, merge_s=merge_s, tables=len(tables),
                           tables_mib=sum(map(len, tables)) / MIB, merged_mib=len(merged) / MIB,
                           merge_rss_growth_mib=merge_growth, client_peak_gather_mib=gather_peak)
                del tables
            res["phases"]["count"] = row
            res["count_table_sha256"] = hashlib.sha256(merged).hexdigest()
            res["count_table_mib"] = len(merged) / MIB
            res["pieces"] = bpekit.counts_info(merged)["pieces"]
            del merged
        if "train" in phases:
            t0 = start()
            if client is None:
                enc = bpekit.corpus.train(Corpus(files, **options), vocab, pattern=pattern, threads=1, name="bench")
            else:
                import bpekit.distributed as bd

                enc = bd.train(files, vocab, client=client, pattern=pattern, name="bench", threads=1, **options)
            res["phases"]["train"] = stop(t0)
            res["tokenizer_sha256"] = hashlib.sha256(enc.to_bytes()).hexdigest()
        if "encode" in phases:
            enc = bpekit.get_encoding("cl100k_base", data_dir=ranks_dir)
            shard_dir = out_dir / "shards"  # one path for every mode: the manifests hold the shards' names
            shutil.rmtree(shard_dir, ignore_errors=True)
            shard_dir.mkdir(parents=True)
            prefix = str(shard_dir / "bench")
            t0 = start()
            if client is None:
                bpekit.corpus.encode(Corpus(files, **options), enc, prefix, format="llmc", bos="<|endoftext|>",
                                     shard_tokens=shard_tokens, threads=1)
                manifest = prefix + ".manifest.json"
            else:
                import bpekit.distributed as bd

                manifest = bd.encode(files, enc, prefix, format="llmc", bos="<|endoftext|>",
                                     shard_tokens=shard_tokens, client=client, threads=1, **options)
            res["phases"]["encode"] = stop(t0)
            m = Path(manifest).read_bytes()
            res["manifest_sha256"] = hashlib.sha256(m).hexdigest()
            res["tokens"] = sum(s["tokens"] for s in json.loads(m)["shards"])
            res["shards"] = len(json.loads(m)["shards"])
            shutil.rmtree(shard_dir, ignore_errors=True)
    finally:
        if client is not None:
            client.close()
            cluster.close()
    return res


# ==== Report ====


def fmt_peak(row: dict) -> str:
    workers = row.get("worker_peak_mib")
    w = "" if not workers else " / workers " + ", ".join(f"{p:.0f}" for p in workers)
    return f"client {row['client_peak_mib']:.0f}{w}"


def report(results: dict[str, dict], size_mib: float) -> int:
    failed = 0
    print()
    rows = []
    for mode, r in results.items():
        if "startup_s" in r:
            rows.append([mode, "cluster start", f"{r['startup_s']:.1f}", "", "", ""])
        for phase, p in r["phases"].items():
            wall = p["count_s"] if phase == "count" else p["wall_s"]
            rows.append([mode, phase, f"{wall:.1f}", f"{p['cpu_s']:.1f}", f"{size_mib / wall:.1f}", fmt_peak(p)])
            if phase == "count" and "merge_s" in p:
                rows.append([mode, f"  merge {p['tables']} tables ({p['tables_mib']:.0f} MiB -> {p['merged_mib']:.0f} MiB)",
                             f"{p['merge_s']:.1f}", "", "", f"RSS growth {p['merge_rss_growth_mib']:.0f} MiB in the client"])
    print(table(["mode", "phase", "wall s", "cpu s", "MiB/s", "peak RSS MiB"], rows, right={2, 3, 4}))
    print("(cpu s: the client, with the LocalCluster's scheduler, plus every worker process, over the whole phase;"
          " on a busy machine compare these)")
    print()

    def wall(mode: str, phase: str) -> float | None:
        p = results.get(mode, {}).get("phases", {}).get(phase)
        if p is None:
            return None
        return p["count_s"] if phase == "count" else p["wall_s"]

    def cpu(mode: str, phase: str) -> float | None:
        p = results.get(mode, {}).get("phases", {}).get(phase)
        return None if p is None else p["cpu_s"]

    ratios = []
    for phase in PHASES:
        s, c1, c2 = wall("single", phase), wall("cluster-1", phase), wall("cluster-2", phase)
        cs, cc1 = cpu("single", phase), cpu("cluster-1", phase)
        ratios.append([phase,
                       f"{c1 / c2:.2f}x" if c1 and c2 else "-",
                       f"{c1 / s:.2f}" if c1 and s else "-",
                       f"{s / c2:.2f}x" if s and c2 else "-",
                       f"{cc1 / cs:.2f}" if cc1 and cs else "-"])
    print(table(["phase", "speed-up 2 workers / 1 worker", "time cluster-1 / single", "speed-up 2 workers / single",
                 "cpu cluster-1 / single"], ratios))
    print("(issue 16's targets: 2 workers >= 1.7x one worker on count and encode; train at cluster-1 <= 1.3x single)")
    print()
    for key, what in (("count_table_sha256", "count tables"), ("tokenizer_sha256", "tokenizers"),
                      ("manifest_sha256", "manifests (with each shard's sha256)")):
        seen = {m: r[key] for m, r in results.items() if key in r}
        if len(seen) < 2:
            continue
        if len(set(seen.values())) == 1:
            print(f"identical {what} in {', '.join(seen)}")
        else:
            failed += 1
            print(f"FAILED: {what} differ: " + ", ".join(f"{m} {h[:12]}" for m, h in seen.items()))
    return failed


# ==== main ====


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        spec = json.loads(sys.argv[2])
        r = run_mode(spec["mode"], spec["files"], spec["phases"], spec["vocab"], spec["shard_tokens"],
                     Path(spec["out_dir"]), Path(spec["ranks"]))
        print(json.dumps(r))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=default_data_dir(),
                    help="directory with english/code/multilingual .txt (make_corpus.sh) or .txt.xz")
    ap.add_argument("--ranks", type=Path, default=default_data_dir(), help="where cl100k_base.tiktoken is")
    ap.add_argument("--size", type=int, default=1024, help="MiB of input text (default 1024)")
    ap.add_argument("--file-mb", type=int, default=64, help="MiB per input file = per unit (default 64)")
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--phases", default=",".join(PHASES))
    ap.add_argument("--vocab", type=int, default=32768)
    ap.add_argument("--shard-tokens", type=int, default=100_000_000)
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "bpekit-distributed-bench",
                    help="input files and shards (kept between runs; shards removed after each mode)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    phases = [p for p in args.phases.split(",") if p]
    for m in modes:
        if m not in MODES:
            raise SystemExit(f"unknown mode {m!r} ({', '.join(MODES)})")
    for p in phases:
        if p not in PHASES:
            raise SystemExit(f"unknown phase {p!r} ({', '.join(PHASES)})")
    print(f"# distributed_bench.py: {machine_line()}")
    print(f"# {versions(['bpekit', 'dask', 'distributed', 'numpy'])}")
    files = build_input(args.data, args.workdir / "input", args.size, args.file_mb)
    size_mib = sum(os.path.getsize(f) for f in files) / MIB
    print(f"# input: {len(files)} files, {size_mib:.0f} MiB in {args.workdir / 'input'} (built from {args.data}); "
          f"vocab {args.vocab}; encode: llmc, bos <|endoftext|>, shard_tokens {args.shard_tokens}, cl100k_base")
    results = {}
    for mode in modes:
        spec = {"mode": mode, "files": files, "phases": phases, "vocab": args.vocab, "shard_tokens": args.shard_tokens,
                "out_dir": str(args.workdir), "ranks": str(args.ranks)}
        print(f"running {mode} ...", flush=True)
        p = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], env=thread_env(1),
                           capture_output=True, text=True)
        if p.returncode != 0:
            print(f"FAILED: {mode} exited with {p.returncode}:\n{p.stderr[-4000:]}")
            results[mode] = {"mode": mode, "phases": {}, "error": p.stderr[-4000:]}
            continue
        results[mode] = json.loads(p.stdout.strip().splitlines()[-1])
    failed = report({m: r for m, r in results.items() if r["phases"]}, size_mib)
    failed += sum(1 for r in results.values() if "error" in r)
    if args.json:
        args.json.write_text(json.dumps({"size_mib": size_mib, "files": len(files), "results": results}, indent=1))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
