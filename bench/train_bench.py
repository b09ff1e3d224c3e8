#!/usr/bin/env python3
"""Training benchmark: bpekit vs rustbpe vs HF tokenizers (BpeTrainer), same documents,
same split pattern (rustbpe's GPT-4 pattern), same vocabulary sizes.

Every measurement runs in its own child process with RAYON_NUM_THREADS / RAYON_RS_NUM_CPUS
set to the thread count, so wall time and peak RSS (getrusage ru_maxrss of that child) are
per engine.  The wall time is the training call alone (documents already in memory as a list
of str); peak RSS is the child's ru_maxrss right after training (Python, the loaded
documents, the engine).
Medians of --repeat runs.  Also checks that bpekit learns exactly rustbpe's merges and says
how far HF's merges agree.

    python bench/train_bench.py                       # default: ~5 min on 2 cores
    python bench/train_bench.py --data /tmp/bigdata --megabytes 100 --repeat 1
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

ENGINES = ("bpekit", "rustbpe", "hf")
ENGINE_LABEL = {"bpekit": "bpekit", "rustbpe": "rustbpe", "hf": "hf-tokenizers", "none": "(load only)"}


# ---------------------------------------------------------------------------------------------
# child side: one training run
# ---------------------------------------------------------------------------------------------


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character map (what HF's ByteLevel uses)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def _train_bpekit(texts, vocab, pattern):
    import bpekit

    t0, c0 = time.perf_counter(), _cpu()
    enc = bpekit.train(texts, vocab, pattern=pattern)
    stats = _stats(t0, c0)
    ranks = enc.mergeable_ranks
    tokens = [tok for tok, _ in sorted(ranks.items(), key=lambda kv: kv[1]) if len(tok) > 1]
    return stats, tokens


def _train_rustbpe(texts, vocab, pattern):
    import rustbpe

    tok = rustbpe.Tokenizer()
    t0, c0 = time.perf_counter(), _cpu()
    tok.train_from_iterator(iter(texts), vocab, buffer_size=8192, pattern=pattern)
    stats = _stats(t0, c0)
    ranks = tok.get_mergeable_ranks()
    tokens = [t for t, _ in sorted(ranks, key=lambda kv: kv[1]) if len(t) > 1]
    return stats, tokens


def _train_hf(texts, vocab, pattern):
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(pattern), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    trainer = trainers.BpeTrainer(
        vocab_size=vocab,
        min_frequency=0,
        show_progress=False,
        special_tokens=[],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    t0, c0 = time.perf_counter(), _cpu()
    tok.train_from_iterator(texts, trainer, length=len(texts))
    stats = _stats(t0, c0)
    merges = json.loads(tok.to_str())["model"]["merges"]
    back = {c: b for b, c in _bytes_to_unicode().items()}
    tokens = []
    for m in merges:
        a, b = m.split(" ", 1) if isinstance(m, str) else m
        tokens.append(bytes(back[ch] for ch in a + b))
    return stats, tokens


def _cpu() -> float:
    u = resource.getrusage(resource.RUSAGE_SELF)  # all threads of this process
    return u.ru_utime + u.ru_stime


def _stats(t0: float, c0: float) -> tuple[float, float, float]:
    """Wall and CPU seconds since (t0, c0), and this process's peak RSS so far in MB: taken
    right after the training call, before the merges are read out for the comparison."""
    return time.perf_counter() - t0, _cpu() - c0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_main(spec: dict) -> int:
    t0 = time.perf_counter()
    texts = C.read_cache(Path(spec["cache"]))
    load_s = time.perf_counter() - t0
    import bpekit  # the pattern comes from bpekit for every engine

    pattern = getattr(bpekit, spec["pattern"])
    engine = spec["engine"]
    if engine == "none":
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps({"train_s": 0.0, "train_cpu_s": 0.0, "rss_mb": rss, "load_s": load_s,
                          "merges": 0, "sha": ""}), flush=True)
        return 0
    fn = {"bpekit": _train_bpekit, "rustbpe": _train_rustbpe, "hf": _train_hf}[engine]
    (train_s, cpu, rss), tokens = fn(texts, spec["vocab"], pattern)
    blob = b"\n".join(t.hex().encode() for t in tokens)
    if spec.get("merges_out"):
        Path(spec["merges_out"]).write_bytes(blob)
    print(json.dumps({"train_s": train_s, "train_cpu_s": cpu, "rss_mb": rss, "load_s": load_s, "merges": len(tokens),
                      "sha": hashlib.sha256(blob).hexdigest()}), flush=True)
    return 0


# ---------------------------------------------------------------------------------------------
# parent side
# ---------------------------------------------------------------------------------------------


def compare_merges(ref: list[bytes], other: list[bytes]) -> str:
    if ref == other:
        return "identical"
    prefix = 0
    for a, b in zip(ref, other):
        if a != b:
            break
        prefix += 1
    shared = len(set(ref) & set(other))
    return (f"differ: first {prefix} equal, {shared}/{len(ref)} tokens shared "
            f"({100.0 * shared / max(1, len(ref)):.1f}%), {len(other)} merges")


def read_merges(path: Path) -> list[bytes]:
    data = path.read_bytes()
    return [bytes.fromhex(x) for x in data.decode().split("\n")] if data else []


def fmt_ratio(x: float) -> str:
    return "-" if x != x else f"{x:.2f}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=C.default_data_dir(),
                    help="directory with NAME.txt[.xz] and NAME.offsets (default: $BPEKIT_DATA or ../shared/data)")
    ap.add_argument("--corpus", default="english,code", help="comma-separated corpora (default english,code)")
    ap.add_argument("--megabytes", type=float, default=16, help="MiB of each corpus, whole documents (default 16)")
    ap.add_argument("--vocab", default="4096,32768,65536", help="comma-separated vocab sizes")
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    ap.add_argument("--repeat", type=int, default=3, help="runs per measurement; medians reported (default 3)")
    ap.add_argument("--engines", default=",".join(ENGINES), help=f"comma-separated subset of {','.join(ENGINES)}")
    ap.add_argument("--pattern", default="RUSTBPE_GPT4_PATTERN", help="name of a bpekit pattern constant")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds before one run is abandoned")
    ap.add_argument("--json", type=Path, help="also write every raw measurement here")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return child_main(json.loads(args.child))

    corpora = [c for c in args.corpus.split(",") if c]
    vocabs = [int(v) for v in args.vocab.split(",") if v]
    threads = [int(t) for t in args.threads.split(",") if t]
    engines = [e for e in args.engines.split(",") if e]
    for e in engines:
        if e not in ENGINES:
            ap.error(f"unknown engine {e!r} (choose from {', '.join(ENGINES)})")

    print(f"# train_bench: {C.versions(['bpekit', 'rustbpe', 'tokenizers'])}")
    print(f"# {C.machine_line()}")
    print(f"# data {args.data}, pattern {args.pattern}, vocab {vocabs}, threads {threads}, "
          f"repeat {args.repeat} (medians)")
    tmp = Path(tempfile.mkdtemp(prefix="bpekit-train-bench-"))
    caches, info = {}, {}
    for name in corpora:
        raw, starts = C.load_corpus(args.data, name, args.megabytes)
        caches[name] = C.write_cache(tmp / name, name, raw, starts)
        info[name] = (len(raw), len(starts))

    # runs[(corpus, vocab, threads, engine)] = list of child results
    runs: dict[tuple, list[dict]] = {}
    merges_files: dict[tuple, Path] = {}
    failures = []
    started = time.perf_counter()
    baseline = {}
    for name in corpora:
        res = C.run_child([sys.executable, __file__, "--child", json.dumps(
            {"cache": str(caches[name]), "pattern": args.pattern, "engine": "none"})], C.thread_env(1))
        rows = C.json_lines(res["stdout"])
        baseline[name] = rows[-1]["rss_mb"] if rows else float("nan")
    total = args.repeat * len(corpora) * len(vocabs) * len(threads) * len(engines)
    done = 0
    for rep in range(args.repeat):
        for name in corpora:
            for vocab in vocabs:
                for nthr in threads:
                    for engine in engines:
                        key = (name, vocab, nthr, engine)
                        spec = {"cache": str(caches[name]), "pattern": args.pattern, "engine": engine,
                                "vocab": vocab}
                        if rep == 0:
                            merges_files[key] = tmp / f"merges-{name}-{vocab}-{nthr}-{engine}.hex"
                            spec["merges_out"] = str(merges_files[key])
                        res = C.run_child([sys.executable, __file__, "--child", json.dumps(spec)],
                                          C.thread_env(nthr), timeout=args.timeout)
                        rows = C.json_lines(res["stdout"])
                        res["result"] = rows[-1] if rows and res["ok"] and "rss_mb" in rows[-1] else None
                        if not res["result"]:
                            tail = (res["stderr"].strip().splitlines() or ["(no output)"])[-1]
                            failures.append(f"{key}: {'timeout' if res['timeout'] else 'rc ' + str(res['rc'])}: {tail}")
                        runs.setdefault(key, []).append(res)
                        done += 1
                        print(f"  [{done}/{total}] {name} vocab {vocab} threads {nthr} {engine}: "
                              + (f"{res['result']['train_s']:.2f} s, {res['result']['rss_mb']:.0f} MB "
                                 f"(whole child: {res['maxrss_mb']:.0f} MB)"
                                 if res["result"] else "FAILED"),
                              file=sys.stderr, flush=True)

    elapsed = time.perf_counter() - started
    bad_parity = []
    print()
    for name in corpora:
        nbytes, ndocs = info[name]
        print(f"## {name}: {nbytes / C.MIB:.1f} MiB, {ndocs} documents; peak RSS of a child that only "
              f"loads them: {baseline[name]:.0f} MB")
        headers = ["vocab", "thr", "engine", "wall s", "spread", "cpu s", "peak MB", "time/bpekit", "mem/bpekit", "merges vs bpekit"]
        rows = []
        for vocab in vocabs:
            for nthr in threads:
                ref = None
                for engine in engines:
                    key = (name, vocab, nthr, engine)
                    ok = [r for r in runs[key] if r["result"]]
                    if not ok:
                        rows.append([vocab, nthr, ENGINE_LABEL[engine], "FAILED", "", "", "", "", "", ""])
                        continue
                    wall = C.median([r["result"]["train_s"] for r in ok])
                    cpu = C.median([r["result"]["train_cpu_s"] for r in ok])
                    mem = C.median([r["result"]["rss_mb"] for r in ok])
                    walls = [r["result"]["train_s"] for r in ok]
                    spread = 100.0 * (max(walls) - min(walls)) / wall if wall > 0 else 0.0
                    if engine == "bpekit":
                        ref = (wall, mem)
                    tr = wall / ref[0] if ref and engine != "bpekit" else float("nan")
                    mr = mem / ref[1] if ref and engine != "bpekit" else float("nan")
                    verdict = ""
                    if engine != "bpekit" and ("bpekit" in engines):
                        bk = merges_files.get((name, vocab, nthr, "bpekit"))
                        mine = merges_files.get(key)
                        if bk and bk.exists() and mine and mine.exists():
                            verdict = compare_merges(read_merges(bk), read_merges(mine))
                            if engine == "rustbpe" and verdict != "identical":
                                bad_parity.append(f"{name} vocab {vocab} threads {nthr}: {verdict}")
                    elif engine == "bpekit":
                        shas = {r["result"]["sha"] for r in ok}
                        verdict = f"{ok[0]['result']['merges']} merges" + ("" if len(shas) == 1 else " (NOT deterministic across repeats)")
                    rows.append([vocab, nthr, ENGINE_LABEL[engine], f"{wall:.2f}", f"{spread:.0f}%", f"{cpu:.2f}", f"{mem:.0f}",
                                 fmt_ratio(tr), fmt_ratio(mr), verdict])
        print(C.table(headers, rows, right={0, 1, 3, 4, 5, 6, 7, 8}))
        print()
    # determinism across thread counts, per corpus and vocab
    for name in corpora:
        for vocab in vocabs:
            shas = {r["result"]["sha"] for nthr in threads for r in runs.get((name, vocab, nthr, "bpekit"), [])
                    if r["result"]}
            if len(shas) > 1:
                bad_parity.append(f"{name} vocab {vocab}: bpekit merges differ between thread counts/repeats")

    print("time/bpekit = peer's median wall time / bpekit's (>1 means bpekit is faster); "
          "mem/bpekit = peer's peak RSS / bpekit's (>1 means bpekit uses less).")
    print("wall s = the training call alone (median); spread = (max - min) / median of the wall times; "
          "cpu s = user+sys CPU of the training call, all threads;")
    print("peak MB = the child's ru_maxrss right after training (includes Python and the documents, "
          "see the load-only line).")
    if "rustbpe" in engines and "bpekit" in engines:
        if bad_parity:
            print("bpekit vs rustbpe merges: MISMATCH")
            for b in bad_parity:
                print(f"  {b}")
        else:
            print("bpekit vs rustbpe merges: identical in every configuration (required)")
    if "hf" in engines and "bpekit" in engines:
        print("hf-tokenizers merges are expected to differ slightly (tie-breaking between equal counts).")
    print(f"# {C.machine_line()}; total {elapsed / 60:.1f} min")
    for f in failures:
        print(f"FAILED {f}")
    if args.json:
        args.json.write_text(json.dumps([
            {"corpus": k[0], "vocab": k[1], "threads": k[2], "engine": k[3],
             "runs": [dict(r["result"] or {}, child_maxrss_mb=r["maxrss_mb"], child_cpu_s=r["cpu_s"],
                           child_wall_s=r["wall"]) for r in v]} for k, v in runs.items()], indent=1))
    for p in sorted(tmp.rglob("*"), reverse=True):
        p.unlink() if p.is_file() else p.rmdir()
    tmp.rmdir()
    return 1 if (bad_parity or failures) else 0


if __name__ == "__main__":
    sys.exit(main())
