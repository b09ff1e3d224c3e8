#!/usr/bin/env python3
"""Corpus -> token shards benchmark (issue 15): bpekit's pipeline against llm.c's own recipe
and gigatoken, on the same files, cores and documents, with cl100k_base.

Every measurement is a fresh child process; MB/s are MiB of input text per second of the
timed work (reading, splitting, encoding, writing; the tokenizer's loading is outside),
medians of --repeat runs; peak RSS is the child's own (os.wait4). Engines:

  bpekit cli     `python -m bpekit encode FILE --separator "\\n\\n" --format llmc --bos <|endoftext|>`
                 (timed: the whole process, so it also pays the interpreter and the rank file)
  bpekit api     bpekit.corpus.encode(Corpus([FILE], separator="\\n\\n"), enc, ..., format="llmc")
  in-memory      bpekit's encode_batch_to_numpy(docs, num_threads=N) on the documents already in
                 memory as str (nothing read or written): the issue's 90% target is against this;
                 at 1 thread also encode_to_numpy per document
  llm.c recipe   llm.c's dev/data/fineweb.py: tiktoken encode_ordinary with <|endoftext|> before
                 each document, multiprocessing.Pool(N).imap(chunksize=16), a NumPy shard buffer,
                 data_common.write_datafile's header (uint32 tokens: cl100k needs 17 bits)
  gigatoken      gigatoken's encode_files(TextFileSource(..., separator="\\n\\n")) to NumPy, the
                 <|endoftext|> ids inserted with NumPy, the same llm.c file written

Every engine that writes a shard must write the same bytes as `bpekit cli` (FAILED otherwise).
The train section compares `bpekit train FILE` with bpekit.train on the same documents in
memory (and bpekit.corpus.train), and checks that all three learn the same tokenizer.

    python bench/pipeline_bench.py                                   # 3 corpora x 16 MiB, 1 and 2 threads
    python bench/pipeline_bench.py --corpus english --megabytes 4 --repeat 1   # quick look
    python bench/pipeline_bench.py --big /tmp/bigdata                # the ~100 MB corpora (make_corpus.sh)
"""

from __future__ import annotations

import argparse
import json
import lzma
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

ENGINES = ("bpekit-cli", "bpekit-api", "in-memory", "llmc-recipe", "gigatoken")
SECTIONS = ("encode", "train")
EOT = "<|endoftext|>"
SEPARATOR = "\n\n"
LLMC_UINT32 = (20240801, 7)  # llm.c's "llama-3" header: uint32 tokens


# ---------------------------------------------------------------------------------------------
# children: one measurement each, printing one JSON line {"seconds": ..., ...}
# ---------------------------------------------------------------------------------------------


def _documents(path: str) -> list[str]:
    """The documents every engine sees: the pieces between blank lines, empty ones dropped
    (newline="": a "\r" stays as it is, as in the files the other engines read)."""
    with open(path, encoding="utf-8", newline="") as f:
        return [d for d in f.read().split(SEPARATOR) if d]


def _write_llmc(path: str, tokens) -> None:
    """llm.c's data_common.write_datafile for uint32 tokens: 256 int32 header, then the tokens."""
    import numpy as np

    assert len(tokens) < 2**31, "token count too large"
    header = np.zeros(256, dtype=np.int32)
    header[0], header[1] = LLMC_UINT32
    header[2] = len(tokens)
    with open(path, "wb") as f:
        f.write(header.tobytes())
        f.write(np.asarray(tokens, dtype=np.uint32).tobytes())


def child_bpekit_api(spec: dict) -> dict:
    import bpekit
    from bpekit.corpus import Corpus, encode

    enc = bpekit.get_encoding("cl100k_base", data_dir=spec["ranks"])
    t0 = time.perf_counter()
    manifest = encode(Corpus([spec["file"]], separator=SEPARATOR), enc, spec["out"], format="llmc", bos=EOT,
                      threads=spec["threads"])
    return {"seconds": time.perf_counter() - t0, "tokens": manifest["tokens"], "documents": manifest["documents"]}


def child_in_memory(spec: dict) -> dict:
    import bpekit

    enc = bpekit.get_encoding("cl100k_base", data_dir=spec["ranks"])
    docs = _documents(spec["file"])
    enc.encode_ordinary(docs[0])  # first-use tables outside the timing
    t0 = time.perf_counter()
    if spec.get("per_doc"):
        tokens = sum(len(enc.encode_to_numpy(d, disallowed_special=())) for d in docs)
    else:
        flat, _ = enc.encode_batch_to_numpy(docs, num_threads=spec["threads"], disallowed_special=())
        tokens = len(flat)
    return {"seconds": time.perf_counter() - t0, "tokens": tokens + len(docs), "documents": len(docs)}


_recipe_enc = None
_recipe_eot = None


def _recipe_tokenize(doc: str):
    # llm.c dev/data/fineweb.py `tokenize`: the end-of-text id first, then the document
    import numpy as np

    tokens = [_recipe_eot]
    tokens.extend(_recipe_enc.encode_ordinary(doc))
    return np.array(tokens, dtype=np.uint32)


def _tiktoken_cl100k(ranks_dir: str):
    """tiktoken's own cl100k_base (its pattern and special tokens), with the ranks read from
    the local rank file instead of downloaded (its sha256 is still checked)."""
    import tiktoken
    from tiktoken_ext import openai_public

    local = str(Path(ranks_dir) / "cl100k_base.tiktoken")
    load = openai_public.load_tiktoken_bpe
    openai_public.load_tiktoken_bpe = lambda _url, expected_hash=None: load(local, expected_hash=expected_hash)
    try:
        return tiktoken.Encoding(**openai_public.cl100k_base())
    finally:
        openai_public.load_tiktoken_bpe = load


def child_llmc_recipe(spec: dict) -> dict:
    import multiprocessing as mp

    import numpy as np

    global _recipe_enc, _recipe_eot
    _recipe_enc = _tiktoken_cl100k(spec["ranks"])
    _recipe_eot = _recipe_enc._special_tokens[EOT]
    shard_size = 10**8  # fineweb.py's default shard size (tokens): every corpus here fits one shard
    t0 = time.perf_counter()
    docs = _documents(spec["file"])
    buf = np.empty((shard_size,), dtype=np.uint32)
    count = 0
    with mp.get_context("fork").Pool(spec["threads"]) as pool:
        for tokens in pool.imap(_recipe_tokenize, docs, chunksize=16):
            buf[count:count + len(tokens)] = tokens
            count += len(tokens)
    _write_llmc(spec["out"] + ".bin", buf[:count])
    return {"seconds": time.perf_counter() - t0, "tokens": count, "documents": len(docs)}


def child_gigatoken(spec: dict) -> dict:
    import awkward as ak
    import gigatoken
    import numpy as np

    tok = gigatoken.Tokenizer.from_tiktoken(str(Path(spec["ranks"]) / "cl100k_base.tiktoken"))
    eot = 100257  # cl100k_base's <|endoftext|>
    t0 = time.perf_counter()
    arr = tok.encode_files(gigatoken.TextFileSource([spec["file"]], separator=SEPARATOR),
                           parallel=spec["threads"] > 1)
    flat = np.asarray(ak.flatten(arr), dtype=np.uint32)
    counts = np.asarray(ak.num(arr), dtype=np.int64)
    out = np.empty(len(flat) + len(counts), dtype=np.uint32)
    starts = np.concatenate(([0], np.cumsum(counts + 1)[:-1]))
    mask = np.ones(len(out), dtype=bool)
    mask[starts] = False
    out[starts] = eot
    out[mask] = flat
    _write_llmc(spec["out"] + ".bin", out)
    return {"seconds": time.perf_counter() - t0, "tokens": len(out), "documents": len(counts)}


def child_train(spec: dict) -> dict:
    import bpekit

    if spec["how"] == "in-memory":
        docs = _documents(spec["file"])
        t0 = time.perf_counter()
        enc = bpekit.train(docs, spec["vocab"], num_threads=spec["threads"])
    else:
        from bpekit.corpus import Corpus, train

        t0 = time.perf_counter()
        enc = train(Corpus([spec["file"]], separator=SEPARATOR), spec["vocab"], threads=spec["threads"])
    seconds = time.perf_counter() - t0
    Path(spec["out"]).write_bytes(enc.to_bytes())
    return {"seconds": seconds}


CHILDREN = {"bpekit-api": child_bpekit_api, "in-memory": child_in_memory, "llmc-recipe": child_llmc_recipe,
            "gigatoken": child_gigatoken, "train": child_train}


# ---------------------------------------------------------------------------------------------
# parent
# ---------------------------------------------------------------------------------------------


def prepare_corpus(args, name: str, tmp: Path) -> Path:
    """NAME.txt in tmp: the whole documents (blank-line separated) in the first --megabytes
    MiB of the corpus (all of it with --megabytes 0)."""
    src = C.corpus_file(args.data, name)
    limit = int(args.megabytes * C.MIB) if args.megabytes else None
    opener = lzma.open if src.suffix == ".xz" else open
    with opener(src, "rb") as f:
        raw = f.read(limit + 1 if limit else -1)
    if limit and len(raw) > limit:
        cut = raw.rfind(SEPARATOR.encode(), 0, limit)
        raw = raw[: cut + len(SEPARATOR)] if cut > 0 else raw[:limit]
    path = tmp / f"{name}.txt"
    path.write_bytes(raw)
    return path


def run_engine(args, engine: str, corpus: Path, threads: int, out_prefix: Path, per_doc: bool = False) -> dict:
    env = C.thread_env(threads)
    env["BPEKIT_DATA"] = str(args.ranks)
    env["BENCH_TMP"] = str(out_prefix.parent)
    if engine == "bpekit-cli":
        argv = [sys.executable, "-m", "bpekit", "encode", str(corpus), "--separator", SEPARATOR, "--tokenizer",
                "cl100k_base", "--format", "llmc", "--bos", EOT, "--threads", str(threads), "-o", str(out_prefix)]
        res = C.run_child(argv, env, timeout=args.timeout)
        res["seconds"] = res["wall"]
    else:
        spec = {"engine": engine, "file": str(corpus), "threads": threads, "out": str(out_prefix),
                "ranks": str(args.ranks), "per_doc": per_doc}
        res = C.run_child([sys.executable, __file__, "--child", json.dumps(spec)], env, timeout=args.timeout)
        rows = C.json_lines(res["stdout"])
        res.update(rows[-1] if rows else {})
    if not res["ok"]:
        lines = [x for x in res["stderr"].splitlines() if x.strip()]
        res["error"] = "timeout" if res["timeout"] else (lines[-1] if lines else f"exit status {res['rc']}")[:300]
    return res


def available(engines: list[str], args) -> tuple[list[str], list[str]]:
    have, notes = [], []
    for e in engines:
        mod = {"bpekit-cli": "bpekit", "bpekit-api": "bpekit.corpus", "in-memory": "bpekit",
               "llmc-recipe": "tiktoken", "gigatoken": "gigatoken"}[e]
        try:
            __import__(mod)
        except ImportError as exc:
            hint = {"gigatoken": "`pip install gigatoken` in the bench venv",
                    "llmc-recipe": "`pip install tiktoken numpy`"}.get(e, "install bpekit with issue 15's pipeline")
            notes.append(f"{e} skipped: {exc} ({hint})")
            continue
        have.append(e)
    return have, notes


def section_encode(args, engines, corpora, tmp, failures, raw_runs) -> None:
    rows = []
    for name, path in corpora.items():
        mb = path.stat().st_size / C.MIB
        times: dict[tuple, list] = {}
        rss: dict[tuple, list] = {}
        variants = [(e, t, False) for t in args.threads for e in engines]
        if "in-memory" in engines and 1 in args.threads:
            variants.append(("in-memory", 1, True))
        reference: bytes | None = None
        for rep in range(args.repeat):
            for engine, threads, per_doc in variants:  # interleaved: drift hits every engine alike
                out_dir = tmp / "out"
                shutil.rmtree(out_dir, ignore_errors=True)
                out_dir.mkdir()
                res = run_engine(args, engine, path, threads, out_dir / "shard", per_doc)
                key = (engine, threads, per_doc)
                raw_runs.append({"corpus": name, "engine": engine, "threads": threads, "per_doc": per_doc,
                                 **{k: v for k, v in res.items() if k not in ("stdout", "stderr")}})
                if not res["ok"]:
                    failures.append(f"encode {engine} {name} {threads} thr: {res['error']}")
                    times.setdefault(key, [])
                    continue
                times.setdefault(key, []).append(res["seconds"])
                rss.setdefault(key, []).append(res["maxrss_mb"])
                shard = out_dir / "shard.bin"
                if rep == 0 and shard.exists():
                    data = shard.read_bytes()
                    if engine == "bpekit-cli" and reference is None:
                        reference = data
                    elif reference is not None and data != reference:
                        failures.append(f"encode {engine} {name} {threads} thr: its shard differs from bpekit cli's")
                print(f"  {name} {engine}{' per doc' if per_doc else ''} {threads} thr: "
                      f"{mb / res['seconds']:.1f} MB/s, peak {res['maxrss_mb']:.0f} MB", file=sys.stderr, flush=True)
        med = {k: C.median(v) for k, v in times.items()}
        for engine, threads, per_doc in variants:
            key = (engine, threads, per_doc)
            m = med.get(key, float("nan"))
            label = engine + (" encode_to_numpy per doc" if per_doc else "")
            one = med.get((engine, args.threads[0], per_doc), float("nan"))
            mem = med.get(("in-memory", threads, False), float("nan"))
            llmc = med.get(("llmc-recipe", threads, False), float("nan"))
            rows.append([name, threads, label, f"{mb / m:.1f}" if m == m else "-", f"{C.median(rss.get(key, [])):.0f}",
                         fmt_ratio(one / m), fmt_ratio(mem / m), fmt_ratio(llmc / m)])
    print("## corpus -> llm.c shard (cl100k_base, uint32), one document per blank-line paragraph; "
          "MB/s = MiB of input text per second")
    print(C.table(["corpus", "threads", "engine", "MB/s", "peak MB", f"x vs {args.threads[0]} thr",
                   "vs in-memory", "vs llm.c"], rows, right={1, 3, 4, 5, 6, 7}))
    print("vs in-memory = in-memory's median time / the engine's (issue target for bpekit api: >= 0.90); "
          "vs llm.c = llm.c recipe's time / the engine's (target >= 8); x vs 1 thr: target >= 1.8.")
    print()


def section_train(args, corpora, tmp, failures, raw_runs) -> None:
    rows = []
    for name, path in corpora.items():
        mb = path.stat().st_size / C.MIB
        for threads in args.threads:
            times: dict[str, list] = {}
            rss: dict[str, list] = {}
            blobs: dict[str, bytes] = {}
            for _ in range(args.repeat):
                for how in ("bpekit train (cli)", "bpekit.corpus.train", "bpekit.train in memory"):
                    out = tmp / "tok.bpekit"
                    out.unlink(missing_ok=True)
                    env = C.thread_env(threads)
                    env["BENCH_TMP"] = str(tmp)
                    if how == "bpekit train (cli)":
                        argv = [sys.executable, "-m", "bpekit", "train", str(path), "--separator", SEPARATOR,
                                "--vocab-size", str(args.train_vocab), "--threads", str(threads), "-o", str(out)]
                        res = C.run_child(argv, env, timeout=args.timeout)
                        res["seconds"] = res["wall"]
                    else:
                        spec = {"engine": "train", "how": "in-memory" if "memory" in how else "corpus",
                                "file": str(path), "vocab": args.train_vocab, "threads": threads, "out": str(out)}
                        res = C.run_child([sys.executable, __file__, "--child", json.dumps(spec)], env,
                                          timeout=args.timeout)
                        rows_ = C.json_lines(res["stdout"])
                        res.update(rows_[-1] if rows_ else {})
                    raw_runs.append({"section": "train", "corpus": name, "how": how, "threads": threads,
                                     **{k: v for k, v in res.items() if k not in ("stdout", "stderr")}})
                    if not res["ok"]:
                        lines = [x for x in res["stderr"].splitlines() if x.strip()]
                        failures.append(f"train {how} {name} {threads} thr: {(lines or ['?'])[-1][:300]}")
                        continue
                    times.setdefault(how, []).append(res["seconds"])
                    rss.setdefault(how, []).append(res["maxrss_mb"])
                    blobs.setdefault(how, out.read_bytes())
            if len(set(blobs.values())) > 1:
                failures.append(f"train {name} {threads} thr: the tokenizers differ ({', '.join(blobs)})")
            ref = C.median(times.get("bpekit.train in memory", []))
            for how in times:
                m = C.median(times[how])
                rows.append([name, threads, how, f"{mb / m:.1f}", f"{C.median(rss[how]):.0f}", fmt_ratio(ref / m),
                             "yes" if len(set(blobs.values())) == 1 else "NO"])
            print(f"  train {name} {threads} thr done", file=sys.stderr, flush=True)
    print(f"## training, vocab {args.train_vocab}: `bpekit train FILE` (whole process) and bpekit.corpus.train vs "
          f"bpekit.train on the documents already in memory; MB/s of input text")
    print(C.table(["corpus", "threads", "how", "MB/s", "peak MB", "vs in-memory", "same tokenizer"], rows,
                  right={1, 3, 4, 5}))
    print("vs in-memory = bpekit.train's median time / this one's (issue target: >= 1.0, files as fast as memory).")
    print()


def fmt_ratio(x: float) -> str:
    return "-" if x != x else f"{x:.2f}"


def big_data(path: Path) -> Path:
    """The ~100 MB corpora in `path`, built there with make_corpus.sh when missing."""
    if all((path / f"{n}.txt").exists() for n in ("english", "code", "multilingual")):
        return path
    script = C.default_data_dir() / "make_corpus.sh"
    if not script.exists():
        raise SystemExit(f"--big: no corpora in {path} and no {script} to build them")
    print(f"# building the large corpora in {path} with {script} (about 2 minutes)", file=sys.stderr, flush=True)
    subprocess.run(["bash", str(script)], env=dict(os.environ, DATA=str(path)), check=True)
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=C.default_data_dir(),
                    help="directory with NAME.txt[.xz] (default: $BPEKIT_DATA or ../shared/data)")
    ap.add_argument("--ranks", type=Path, default=None,
                    help="directory with cl100k_base.tiktoken (default: --data if it has them, "
                         "else ../shared/data)")
    ap.add_argument("--big", type=Path, default=None,
                    help="use the ~100 MB corpora in this directory (built there by make_corpus.sh if missing)")
    ap.add_argument("--corpus", default="english,code,multilingual", help="comma-separated corpora")
    ap.add_argument("--megabytes", type=float, default=16,
                    help="MiB of each corpus, whole documents (default 16; 0 = all, the default with --big)")
    ap.add_argument("--threads", default="1,2", help="thread counts (default 1,2)")
    ap.add_argument("--engines", default=",".join(ENGINES), help=f"comma-separated subset of {','.join(ENGINES)}")
    ap.add_argument("--sections", default=",".join(SECTIONS), help="encode,train")
    ap.add_argument("--train-vocab", type=int, default=4096, help="vocab size of the train section (default 4096)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per measurement; medians reported (default 3)")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds allowed per run (default 1800)")
    ap.add_argument("--json", type=Path, help="write every raw run to this file")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        spec = json.loads(args.child)
        print(json.dumps(CHILDREN[spec["engine"]](spec)), flush=True)
        return 0

    if args.big is not None:
        args.data = big_data(args.big)
        if "--megabytes" not in (argv or sys.argv):
            args.megabytes = 0
    if args.ranks is None:
        args.ranks = args.data if (args.data / "cl100k_base.tiktoken").exists() else C.default_data_dir()
    args.ranks = args.ranks.resolve()
    if not (args.ranks / "cl100k_base.tiktoken").exists():
        raise SystemExit(f"no cl100k_base.tiktoken in {args.ranks} (use --ranks DIR or BPEKIT_DATA)")
    args.threads = [int(t) for t in args.threads.split(",") if t]
    sections = [s for s in args.sections.split(",") if s]
    wanted = [e for e in args.engines.split(",") if e]
    for s in sections:
        if s not in SECTIONS:
            ap.error(f"unknown section {s!r}")
    for e in wanted:
        if e not in ENGINES:
            ap.error(f"unknown engine {e!r}")
    engines, notes = available(wanted, args)

    print(f"# pipeline_bench: {C.versions(['bpekit', 'tiktoken', 'gigatoken', 'numpy'])}")
    print(f"# {C.machine_line()}")
    size = "whole files" if not args.megabytes else f"{args.megabytes:g} MiB per corpus"
    print(f"# data {args.data}, ranks {args.ranks}, {size}, threads {args.threads}, repeat {args.repeat} (medians)")
    for n in notes:
        print(f"# note: {n}")
    print()
    started = time.perf_counter()
    failures: list[str] = []
    raw_runs: list[dict] = []
    tmp = Path(tempfile.mkdtemp(prefix="bpekit-pipeline-bench-"))
    try:
        corpora = {name: prepare_corpus(args, name, tmp) for name in args.corpus.split(",") if name}
        for name, path in corpora.items():
            print(f"# {name}: {path.stat().st_size / C.MIB:.1f} MiB")
        print()
        if "encode" in sections and engines:
            section_encode(args, engines, corpora, tmp, failures, raw_runs)
        if "train" in sections and "bpekit-api" in engines:
            section_train(args, corpora, tmp, failures, raw_runs)
        elif "train" in sections:
            print("## training: skipped, needs bpekit with the corpus API (bpekit.corpus)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(raw_runs, indent=1))
    print(f"# {C.machine_line()}; total {(time.perf_counter() - started) / 60:.1f} min")
    for f in failures:
        print(f"FAILED {f}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
