"""Measurements behind docs/distributed.md's 1 TB plan: how count tables grow with the corpus,
what merging them costs, and what one worker does per second.

Sections (``--sections``, default all; every one uses 1 thread):

- ``growth``: distinct pieces (pre-tokenizer splits) vs corpus size, at 1, 2, 4, ... MiB and
  the whole corpus, for english, code, multilingual and ``mix`` (the three interleaved so that
  every prefix holds the same share of each); a least-squares fit of Heaps' law
  d = K * n^beta (n in MiB) per corpus, with its RMS and largest relative error and the
  error of predicting the largest size from a fit on the sizes up to a quarter of it.
- ``tables``: the mix cut into consecutive units of whole documents (``--unit-mb``, 8 MiB);
  each unit counted into a count table (format v2); tables of 16/32/64 MiB units made by
  merging consecutive 8 MiB tables (counts add, so the merge IS the table of the union);
  sizes after merging k tables, and the pieces a ``min_count`` of 2, 5, 10, 100 keeps;
  bytes moved by a tree reduction with fan-in 8.
- ``merge``: peak memory of ``bpekit_counts_merge`` (a child process per case: RSS with the
  inputs loaded, peak RSS after the merge, output size).
- ``loop``: the merge loop on a merged table (``Trainer.add_counts`` + ``finish``) at vocab
  32768 and 65536: peak RSS and time vs distinct pieces (a child process per case).
- ``prune``: the merge loop at the first ``--vocab`` on the whole merged table pruned with
  ``min_count`` 2, 5, 10, 100 against unpruned: pieces kept, the first merge that differs,
  tokens both vocabularies share.
- ``speed``: counting (``Trainer.feed_batch``) and encoding (``encode_ordinary_batch`` with
  cl100k_base) in MiB per CPU second, 1 thread, 16 MiB of each corpus.

Sizes and piece counts are deterministic; RSS nearly so; times depend on the machine and its
load (CPU seconds of the measuring process are reported next to wall time, as CPU time is
less disturbed by other processes on a shared machine).

    python bench/count_scaling.py --data /work/corpora-i16 --json /tmp/count-scaling.json
    python bench/count_scaling.py --data /work/corpora-i16 --sections growth
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import MIB, corpus_file, default_data_dir, machine_line, table, thread_env  # noqa: E402

CORPORA = ("english", "code", "multilingual")
SECTIONS = ("growth", "tables", "merge", "loop", "prune", "speed")
PRUNE = (2, 5, 10, 100)


# ==== Data ====


def load_docs(data_dir: Path, name: str) -> list[bytes]:
    """Every document of corpus `name`, in file order, as bytes."""
    import lzma

    path = corpus_file(data_dir, name)
    opener = lzma.open if path.suffix == ".xz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    offsets = data_dir / f"{name}.offsets"
    starts = sorted(int(x) for x in offsets.read_text().split()) if offsets.exists() else [0]
    bounds = starts + [len(raw)]
    return [raw[a:b] for a, b in zip(bounds, bounds[1:]) if b > a]


def mix(corpora: dict[str, list[bytes]]) -> list[bytes]:
    """The corpora's documents (in the dict's order) interleaved by relative position (a document at byte fraction
    f of its corpus sorts at f), so every prefix holds the same share of each corpus."""
    keyed = []
    for ci, name in enumerate(corpora):
        docs = corpora[name]
        total = sum(map(len, docs))
        pos = 0
        for d in docs:
            keyed.append((pos / total, ci, d))
            pos += len(d)
    keyed.sort(key=lambda t: (t[0], t[1]))
    return [d for _, _, d in keyed]


def prefix_ends(docs: list[bytes], sizes_mib: list[float]) -> list[tuple[float, int, int]]:
    """For each size, (size, number of whole documents within it, their bytes)."""
    out = []
    cum, i = 0, 0
    for s in sorted(sizes_mib):
        limit = s * MIB
        while i < len(docs) and cum + len(docs[i]) <= limit:
            cum += len(docs[i])
            i += 1
        out.append((s, i, cum))
    return out


# ==== Native calls ====


def trainer(pattern: str):
    import bpekit

    return bpekit.Trainer(pattern, num_threads=1)


def counts_info(data: bytes) -> dict:
    import bpekit

    if hasattr(bpekit, "counts_info"):
        return dict(bpekit.counts_info(data))
    from bpekit._lowlevel import ffi, lib, rustcall
    from bpekit._marshal import take_bytes

    info = ffi.new("bpekit_counts_info *")
    pat = ffi.new("bpekit_bytes *")
    rustcall(lib.bpekit_counts_read_info, data, len(data), info, pat)
    take_bytes(pat)
    return {k: int(getattr(info, k)) for k in ("version", "texts", "bytes", "pieces")}


def merge_counts(tables: list[bytes], min_count: int = 0) -> bytes:
    import bpekit

    if hasattr(bpekit, "merge_counts"):
        return bpekit.merge_counts(tables, min_count=min_count)
    from bpekit._lowlevel import ffi, lib, rustcall
    from bpekit._marshal import Slices, take_bytes

    slices = Slices(tables)
    out = ffi.new("bpekit_bytes *")
    rustcall(lib.bpekit_counts_merge, slices.array, slices.n, min_count, out)
    return take_bytes(out)


def feed(t, docs: list[bytes]) -> None:
    batch, size = [], 0
    for d in docs:
        batch.append(d)
        size += len(d)
        if size >= 16 * MIB or len(batch) >= 4096:
            t.feed_batch(batch)
            batch, size = [], 0
    if batch:
        t.feed_batch(batch)


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MIB


def reset_peak() -> None:
    """Resets the kernel's high-water mark of this process's RSS (VmHWM) to its current RSS,
    so the peak that follows is this process's own (ru_maxrss of a child can start at the
    parent's)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def peak_mib() -> float:
    """The RSS high-water mark (VmHWM) since the start or the last reset_peak()."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ==== growth ====


def fit_heaps(points: list[tuple[float, int]]) -> tuple[float, float]:
    """Least squares on log d = log K + beta log n; returns (K, beta)."""
    xs = [math.log(n) for n, _ in points]
    ys = [math.log(d) for _, d in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    beta = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    return math.exp(my - beta * mx), beta


def growth(corpora: dict[str, list[bytes]], pattern: str, out: dict) -> None:
    rows, fits = [], {}
    for name, docs in corpora.items():
        total_mib = sum(map(len, docs)) / MIB
        sizes = [s for s in (2**i for i in range(0, 12)) if s < total_mib] + [total_mib]
        t = trainer(pattern)
        points, done = [], 0
        for size, end, nbytes in prefix_ends(docs, sizes):
            feed(t, docs[done:end])
            done = end
            table_bytes = t.export_counts()
            info = counts_info(table_bytes)
            n_mib = nbytes / MIB
            points.append((n_mib, info["pieces"]))
            rows.append({"corpus": name, "mib": round(n_mib, 3), "docs": end, "pieces": info["pieces"],
                         "table_bytes": len(table_bytes)})
            print(f"  {name:13} {n_mib:8.2f} MiB  {info['pieces']:>10} pieces  table {len(table_bytes) / MIB:7.2f} MiB",
                  flush=True)
        t.close()
        k, beta = fit_heaps(points)
        rel = [k * n**beta / d - 1 for n, d in points]
        small = [p for p in points if p[0] <= points[-1][0] / 4]
        k4, b4 = fit_heaps(small) if len(small) >= 3 else (float("nan"), float("nan"))
        n_last, d_last = points[-1]
        kl, bl = fit_heaps(points[-3:])
        steps = [round(math.log(d2 / d1) / math.log(n2 / n1), 3) for (n1, d1), (n2, d2) in zip(points, points[1:])]
        fits[name] = {"local_beta_last3": bl, "local_K_last3": kl, "step_betas": steps, "K": k, "beta": beta, "rms_rel_err": math.sqrt(sum(r * r for r in rel) / len(rel)),
                      "max_rel_err": max(abs(r) for r in rel),
                      "quarter_fit": {"K": k4, "beta": b4, "up_to_mib": small[-1][0] if small else None,
                                      "predicts_last_rel_err": k4 * n_last**b4 / d_last - 1},
                      "bytes_per_piece_in_table": rows[-1]["table_bytes"] / d_last}
    out["growth"] = {"rows": rows, "fits": fits}
    print()
    print("exponent between successive sizes (log ratio of pieces / log ratio of MiB):")
    for n, f in fits.items():
        print(f"  {n:13} " + " ".join(f"{b:.2f}" for b in f["step_betas"]))
    print()
    print(table(["corpus", "K", "beta", "rms err", "max err", "fit<=1/4 predicts last", "beta of last 3",
                 "table B/piece"],
                [[n, f"{f['K']:.0f}", f"{f['beta']:.3f}", f"{100 * f['rms_rel_err']:.1f}%",
                  f"{100 * f['max_rel_err']:.1f}%", f"{100 * f['quarter_fit']['predicts_last_rel_err']:+.1f}%",
                  f"{f['local_beta_last3']:.3f}", f"{f['bytes_per_piece_in_table']:.1f}"] for n, f in fits.items()]))
    print()


# ==== tables ====


def tree_reduce(tables: list[bytes], fan_in: int) -> tuple[bytes, dict]:
    """Merges in a tree (groups of fan_in consecutive tables per merge, level by level);
    counts the bytes each level's merge tasks take in (every input moved once, none local)."""
    levels = []
    level = tables
    while len(level) > 1:
        nxt = [merge_counts(level[i:i + fan_in]) for i in range(0, len(level), fan_in)]
        levels.append({"tasks": len(nxt), "in_bytes": sum(map(len, level)), "out_bytes": sum(map(len, nxt))})
        level = nxt
    return level[0], {"levels": levels, "moved_bytes": sum(l["in_bytes"] for l in levels) + len(level[0])}


def tables_section(docs: list[bytes], pattern: str, unit_mib: float, workdir: Path, out: dict) -> None:
    units, cur, size = [], [], 0
    for d in docs:
        if cur and size + len(d) > unit_mib * MIB:
            units.append(cur)
            cur, size = [], 0
        cur.append(d)
        size += len(d)
    if cur:
        units.append(cur)
    tabs, unit_rows = [], []
    for i, u in enumerate(units):
        t = trainer(pattern)
        feed(t, u)
        data = t.export_counts()
        t.close()
        tabs.append(data)
        (workdir / f"unit_{i:04}.counts").write_bytes(data)
        unit_rows.append({"unit": i, "mib": sum(map(len, u)) / MIB, "pieces": counts_info(data)["pieces"],
                          "table_bytes": len(data)})
    out["units"] = unit_rows
    full = [r for r in unit_rows if r["mib"] > 0.9 * unit_mib]
    by_size = []
    group = 1
    while group * unit_mib <= sum(r["mib"] for r in unit_rows):
        sizes = []
        for i in range(0, len(tabs) - group + 1, group):
            if all(unit_rows[j]["mib"] > 0.9 * unit_mib for j in range(i, i + group)):
                m = merge_counts(tabs[i:i + group]) if group > 1 else tabs[i]
                sizes.append((len(m), counts_info(m)["pieces"], sum(unit_rows[j]["mib"] for j in range(i, i + group))))
        if sizes:
            by_size.append({"unit_mib": group * unit_mib, "n": len(sizes),
                            "table_mib_mean": sum(s[0] for s in sizes) / len(sizes) / MIB,
                            "pieces_mean": sum(s[1] for s in sizes) / len(sizes),
                            "table_over_text": sum(s[0] for s in sizes) / (sum(s[2] for s in sizes) * MIB)})
        group *= 2
    out["unit_tables"] = by_size
    print(table(["unit MiB", "units", "table MiB (mean)", "pieces (mean)", "table/text"],
                [[f"{r['unit_mib']:.0f}", r["n"], f"{r['table_mib_mean']:.2f}", f"{r['pieces_mean']:.0f}",
                  f"{100 * r['table_over_text']:.1f}%"] for r in by_size]))
    print()
    merged_rows = []
    k = 1
    while True:
        k = min(k, len(tabs))
        m = merge_counts(tabs[:k])
        (workdir / f"merged_{k:04}.counts").write_bytes(m)
        kept = {mc: counts_info(merge_counts([m], min_count=mc))["pieces"] for mc in PRUNE}
        merged_rows.append({"k": k, "text_mib": sum(r["mib"] for r in unit_rows[:k]), "pieces": counts_info(m)["pieces"],
                            "inputs_bytes": sum(map(len, tabs[:k])), "table_bytes": len(m), "kept": kept})
        if k == len(tabs):
            break
        k *= 2
    out["merged"] = merged_rows
    print(table(["text MiB", "pieces"] + [f"count >= {mc}" for mc in PRUNE],
                [[f"{r['text_mib']:.0f}", r["pieces"]] + [f"{r['kept'][mc]} ({100 * r['kept'][mc] / r['pieces']:.0f}%)"
                                                          for mc in PRUNE] for r in merged_rows]))
    pts = [(r["text_mib"], r["pieces"]) for r in merged_rows]
    out["merged_fits"] = {"all": fit_heaps(pts)}
    for mc in PRUNE:
        out["merged_fits"][mc] = fit_heaps([(r["text_mib"], r["kept"][mc]) for r in merged_rows])
    print("Heaps fits on the merged tables (K, beta): "
          + "; ".join(f"{'all' if k == 'all' else f'count >= {k}'}: {v[0]:.0f}, {v[1]:.3f}"
                      for k, v in out["merged_fits"].items()))
    print()
    print(table(["k tables", "text MiB", "pieces", "sum of inputs MiB", "merged MiB", "merged/sum"],
                [[r["k"], f"{r['text_mib']:.0f}", r["pieces"], f"{r['inputs_bytes'] / MIB:.2f}",
                  f"{r['table_bytes'] / MIB:.2f}", f"{r['table_bytes'] / r['inputs_bytes']:.2f}"] for r in merged_rows]))
    print()
    final, tree = tree_reduce(tabs, 8)
    assert final == merge_counts(tabs), "tree merge differs from the flat merge"
    out["tree_fan_in_8"] = tree
    half = len(tabs) // 2
    if half:
        (workdir / "half_a.counts").write_bytes(merge_counts(tabs[:half]))
        (workdir / "half_b.counts").write_bytes(merge_counts(tabs[half:]))
    print(f"tree reduction, fan-in 8, {len(tabs)} tables of {unit_mib:g} MiB: "
          + ", ".join(f"level {i + 1}: {l['tasks']} merges take {l['in_bytes'] / MIB:.1f} MiB"
                      for i, l in enumerate(tree["levels"]))
          + f"; final table {len(final) / MIB:.1f} MiB; moved {tree['moved_bytes'] / MIB:.1f} MiB "
          f"(the tree equals the flat merge byte for byte)")
    print()


# ==== merge memory, merge loop (child processes) ====


def child_merge(paths: list[str]) -> dict:
    import bpekit

    merge_counts([trainer(bpekit.CL100K_PATTERN).export_counts()])  # the library and its modules load first
    reset_peak()
    tables = [Path(p).read_bytes() for p in paths]
    before_rss, before_peak = rss_mib(), peak_mib()
    t0 = time.perf_counter()
    c0 = time.process_time()
    m = merge_counts(tables)
    return {"inputs_mib": sum(map(len, tables)) / MIB, "output_mib": len(m) / MIB, "rss_before_mib": before_rss,
            "peak_before_mib": before_peak, "peak_after_mib": peak_mib(), "wall_s": time.perf_counter() - t0,
            "cpu_s": time.process_time() - c0}


def child_loop(path: str, vocab: int, pattern: str) -> dict:
    reset_peak()
    data = Path(path).read_bytes()
    pieces = counts_info(data)["pieces"]
    base = peak_mib()
    t = trainer(pattern)
    t0, c0 = time.perf_counter(), time.process_time()
    t.add_counts(data)
    add_s = time.perf_counter() - t0
    after_add = rss_mib()
    del data
    t1, c1 = time.perf_counter(), time.process_time()
    enc = t.finish(vocab)
    return {"pieces": pieces, "vocab": vocab, "n_vocab": enc.n_vocab, "peak_before_mib": base,
            "rss_after_add_mib": after_add, "peak_mib": peak_mib(), "add_s": add_s,
            "finish_wall_s": time.perf_counter() - t1, "finish_cpu_s": time.process_time() - c1,
            "total_cpu_s": time.process_time() - c0}


def run_child(args: list[str]) -> dict:
    import subprocess

    env = thread_env(1)
    p = subprocess.run([sys.executable, __file__, "--child", *args], env=env, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{p.stderr}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def merge_section(workdir: Path, out: dict) -> None:
    units = sorted(str(p) for p in workdir.glob("unit_*.counts"))
    cases = [("8 unit tables", units[:8]), (f"all {len(units)} unit tables", units),
             (f"{len(units)} copies of unit 0's table", [units[0]] * len(units))]
    if (workdir / "half_a.counts").exists():
        cases.append(("2 tables (each half of the units merged)",
                      [str(workdir / "half_a.counts"), str(workdir / "half_b.counts")]))
    rows = []
    for label, paths in cases:
        r = run_child(["merge", *paths])
        r["case"] = label
        rows.append(r)
    out["merge_memory"] = rows
    print(table(["merge of", "inputs MiB", "output MiB", "RSS before", "peak after", "peak growth",
                 "growth/output", "cpu s"],
                [[r["case"], f"{r['inputs_mib']:.1f}", f"{r['output_mib']:.1f}", f"{r['rss_before_mib']:.0f}",
                  f"{r['peak_after_mib']:.0f}", f"{r['peak_after_mib'] - r['peak_before_mib']:.0f}",
                  f"{(r['peak_after_mib'] - r['peak_before_mib']) / r['output_mib']:.2f}", f"{r['cpu_s']:.2f}"]
                 for r in rows]))
    print()


def loop_section(workdir: Path, pattern: str, vocabs: list[int], out: dict) -> None:
    merged = sorted(workdir.glob("merged_*.counts"))
    picks = [merged[i] for i in sorted({max(0, len(merged) - 5), max(0, len(merged) - 3), len(merged) - 1})]
    rows = []
    for p in picks:
        for v in vocabs:
            r = run_child(["loop", str(p), str(v), pattern])
            r["table"] = p.name
            rows.append(r)
            print(f"  {p.name}: {r['pieces']} pieces, vocab {v}: peak {r['peak_mib']:.0f} MiB, "
                  f"finish {r['finish_wall_s']:.1f} s wall / {r['finish_cpu_s']:.1f} s cpu", flush=True)
    out["merge_loop"] = rows
    print(table(["pieces", "vocab", "peak RSS MiB", "RSS after add_counts", "add_counts s", "finish wall s",
                 "finish cpu s"],
                [[r["pieces"], r["vocab"], f"{r['peak_mib']:.0f}", f"{r['rss_after_add_mib']:.0f}",
                  f"{r['add_s']:.2f}", f"{r['finish_wall_s']:.1f}", f"{r['finish_cpu_s']:.1f}"] for r in rows]))
    print()


# ==== prune ====


def merges(enc) -> list[bytes]:
    return [enc.decode_single_token_bytes(i) for i in range(256, enc.n_vocab)]


def prune_section(workdir: Path, pattern: str, vocab: int, out: dict) -> None:
    """Training on the whole merged table with min_count pruning vs without: the first merge
    that differs and the share of tokens both vocabularies have."""
    import bpekit

    full = sorted(workdir.glob("merged_*.counts"))[-1].read_bytes()
    rows, ref = [], None
    for mc in (0,) + PRUNE:
        table_bytes = merge_counts([full], min_count=mc) if mc else full
        t = trainer(pattern)
        t.add_counts(table_bytes)
        c0 = time.process_time()
        m = merges(t.finish(vocab))
        cpu = time.process_time() - c0
        t.close()
        if ref is None:
            ref = m
        first = next((i for i, (a, b) in enumerate(zip(ref, m)) if a != b), None)
        shared = len(set(ref) & set(m))
        shared_1000 = len(set(ref[:1000]) & set(m[:1000]))
        rows.append({"min_count": mc, "pieces": counts_info(table_bytes)["pieces"], "merges": len(m),
                     "first_difference": first, "shared": shared, "shared_first_1000": shared_1000,
                     "finish_cpu_s": cpu})
        print(f"  min_count {mc}: {rows[-1]}", flush=True)
    out["prune"] = {"vocab": vocab, "rows": rows}
    print(table(["min_count", "pieces kept", "merges", "first differing merge (0-based)",
                 "tokens shared with min_count 0", "of its first 1000 merges", "finish cpu s"],
                [[r["min_count"], r["pieces"], r["merges"], "none" if r["first_difference"] is None
                  else r["first_difference"], f"{r['shared']} ({100 * r['shared'] / len(ref):.1f}%)",
                  r["shared_first_1000"], f"{r['finish_cpu_s']:.1f}"] for r in rows]))
    print()


# ==== speed ====


def speed_section(corpora: dict[str, list[bytes]], pattern: str, ranks_dir: Path, out: dict) -> None:
    import bpekit

    enc = bpekit.get_encoding("cl100k_base", data_dir=ranks_dir)
    rows = []
    for name, docs in corpora.items():
        end = prefix_ends(docs, [16])[0][1]
        sample = docs[:end]
        mib = sum(map(len, sample)) / MIB
        t = trainer(pattern)
        w0, c0 = time.perf_counter(), time.process_time()
        feed(t, sample)
        cw, cc = time.perf_counter() - w0, time.process_time() - c0
        t.close()
        texts = [d.decode("utf-8", errors="replace") for d in sample]
        tokens = 0
        w0, c0 = time.perf_counter(), time.process_time()
        for i in range(0, len(texts), 4096):
            tokens += sum(map(len, enc.encode_ordinary_batch(texts[i:i + 4096], num_threads=1)))
        ew, ec = time.perf_counter() - w0, time.process_time() - c0
        rows.append({"corpus": name, "mib": mib, "count_wall_s": cw, "count_cpu_s": cc,
                     "encode_wall_s": ew, "encode_cpu_s": ec, "tokens": tokens})
    out["speed"] = rows
    print(table(["corpus", "MiB", "count MiB/cpu-s", "count MiB/s wall", "encode MiB/cpu-s", "encode MiB/s wall",
                 "bytes/token"],
                [[r["corpus"], f"{r['mib']:.1f}", f"{r['mib'] / r['count_cpu_s']:.1f}",
                  f"{r['mib'] / r['count_wall_s']:.1f}", f"{r['mib'] / r['encode_cpu_s']:.1f}",
                  f"{r['mib'] / r['encode_wall_s']:.1f}", f"{r['mib'] * MIB / r['tokens']:.2f}"] for r in rows]))
    print()


# ==== main ====


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        kind, rest = sys.argv[2], sys.argv[3:]
        if kind == "merge":
            r = child_merge(rest)
        else:
            r = child_loop(rest[0], int(rest[1]), rest[2])
        print(json.dumps(r))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=default_data_dir())
    ap.add_argument("--sections", default=",".join(SECTIONS))
    ap.add_argument("--corpora", default=",".join(CORPORA),
                    help="NAME.txt (or .txt.xz) + NAME.offsets in --data; the mix interleaves them")
    ap.add_argument("--pattern", default="CL100K_PATTERN", help="a bpekit pattern constant (default CL100K_PATTERN)")
    ap.add_argument("--ranks", type=Path, default=default_data_dir(), help="where cl100k_base.tiktoken is")
    ap.add_argument("--unit-mb", type=float, default=8.0)
    ap.add_argument("--vocab", default="32768,65536")
    ap.add_argument("--workdir", type=Path, default=None, help="keep the count tables here (default: a temp dir)")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--update", action="store_true", help="keep the other sections' results already in --json")
    args = ap.parse_args()
    os.environ.setdefault("RAYON_NUM_THREADS", "1")
    import bpekit

    pattern = getattr(bpekit, args.pattern)
    sections = [s for s in args.sections.split(",") if s]
    for s in sections:
        if s not in SECTIONS:
            raise SystemExit(f"unknown section {s!r} (sections: {', '.join(SECTIONS)})")
    print(f"# count_scaling.py: {machine_line()}; bpekit {bpekit.__version__}; pattern {args.pattern}; data {args.data}")
    names = [n for n in args.corpora.split(",") if n]
    corpora = {n: load_docs(args.data, n) for n in names}
    corpora["mix"] = mix(corpora)
    out: dict = {"pattern": args.pattern, "data": str(args.data)}
    if args.update and args.json and args.json.exists():
        out = json.loads(args.json.read_text())  # the new sections replace their keys
    tmp = None
    if args.workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="count-scaling-")
        workdir = Path(tmp.name)
    else:
        workdir = args.workdir
        workdir.mkdir(parents=True, exist_ok=True)
    try:
        if "growth" in sections:
            growth(corpora, pattern, out)
        if any(s in sections for s in ("tables", "merge", "loop", "prune")):
            if not list(workdir.glob("unit_*.counts")) or "tables" in sections:
                tables_section(corpora["mix"], pattern, args.unit_mb, workdir, out)
        if "merge" in sections:
            merge_section(workdir, out)
        if "loop" in sections:
            loop_section(workdir, args.pattern and pattern, [int(v) for v in args.vocab.split(",")], out)
        if "prune" in sections:
            prune_section(workdir, pattern, int(args.vocab.split(",")[0]), out)
        if "speed" in sections:
            speed_section({n: corpora[n] for n in names}, pattern, args.ranks, out)
    finally:
        if tmp is not None:
            tmp.cleanup()
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
