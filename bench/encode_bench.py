#!/usr/bin/env python3
"""Encoding benchmark: bpekit vs tiktoken (and bpe-openai when installed) on OpenAI's
cl100k_base and o200k_base ranks.

Sections (all medians of --repeat runs; ratios are against tiktoken):
  encode  single-thread encode_ordinary throughput, one call per document, and a check that
          every engine's ids equal tiktoken's;
  decode  decode throughput (ids -> str), one call per document;
  numpy   single-thread encode_to_numpy throughput, one call per document (bpekit and tiktoken;
          bpe-openai has none), and a check that the arrays equal tiktoken's ids;
  latency short strings (1 to 100 characters: prose, code, mixed Unicode, 'x' * 100), microseconds
          per call of encode and encode_ordinary, best of 3 rounds (bpekit and tiktoken);
  worst   adversarial 1 MiB inputs in one call ('a' x 1M, spaces, digits, random bytes as
          latin-1 text, CJK without spaces), seconds per MiB and relative to English text; each
          runs in a child process with a time limit, so a quadratic engine shows "> N s";
  batch   many documents on 1 and 2 threads (tiktoken: encode_ordinary_batch(num_threads=n);
          bpekit and bpe-openai: a concurrent.futures thread pool sharing one encoder).

    python bench/encode_bench.py                            # default sizes
    python bench/encode_bench.py --sections worst --timeout 60
    python bench/encode_bench.py --sections numpy,latency --megabytes 1 --repeat 1   # quick look
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import random
import sys
import tempfile
import time
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

# Single-thread section: keep any rayon pool at one thread.  Batch threads are Python threads.
os.environ.setdefault("RAYON_NUM_THREADS", "1")

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

ENGINES = ("bpekit", "tiktoken", "bpe-openai")
ENCODINGS = ("cl100k_base", "o200k_base")
SECTIONS = ("encode", "decode", "numpy", "latency", "worst", "batch")
PATTERN_CONST = {"cl100k_base": "CL100K_PATTERN", "o200k_base": "O200K_PATTERN"}


# ---------------------------------------------------------------------------------------------
# engines: each gives encode(str) -> list[int] and decode(list[int]) -> str
# ---------------------------------------------------------------------------------------------


class Engine:
    def __init__(self, name: str, encoding: str, ranks_dir: Path):
        import bpekit

        self.name = name
        self.encoding = encoding
        rank_file = ranks_dir / f"{encoding}.tiktoken"
        pattern = getattr(bpekit, PATTERN_CONST[encoding])
        if name == "bpekit":
            enc = bpekit.Encoding.from_tiktoken_file(rank_file, pattern)
            self.encode, self.decode = enc.encode_ordinary, enc.decode
            self.batch = None
            self.to_numpy = _ordinary_to_numpy(enc)
            self.keep = enc
        elif name == "tiktoken":
            import tiktoken
            from tiktoken.load import load_tiktoken_bpe

            enc = tiktoken.Encoding(f"{encoding}-bench", pat_str=pattern,
                                    mergeable_ranks=load_tiktoken_bpe(str(rank_file)), special_tokens={})
            self.encode, self.decode = enc.encode_ordinary, enc.decode
            self.batch = lambda docs, n: enc.encode_ordinary_batch(docs, num_threads=n)
            self.to_numpy = _ordinary_to_numpy(enc)
            self.keep = enc
        elif name == "bpe-openai":
            # the Rust tokenizer itself (bpe_openai._bindings), with the ranks its wheel bundles;
            # the Python wrapper around it refuses inputs of 1M characters or more
            import bpe_openai._bindings as b

            tok = b.tokenizer_for_encoding(encoding)
            self.encode, self.decode = tok.encode, tok.decode
            self.batch = None
            self.to_numpy = None  # bpe-openai has no numpy output
            self.keep = tok
        else:
            raise ValueError(name)

    def encode_batch(self, docs: list[str], threads: int) -> list[list[int]]:
        if self.batch is not None:
            return self.batch(docs, threads)
        with ThreadPoolExecutor(max_workers=threads) as pool:
            return list(pool.map(self.encode, docs))


def _ordinary_to_numpy(enc):
    """enc.encode_to_numpy without special-token handling (like encode_ordinary; the bench
    encodings have no special tokens anyway), or None if the library has no encode_to_numpy."""
    f = getattr(enc, "encode_to_numpy", None)
    return None if f is None else (lambda text: f(text, disallowed_special=()))


def available_engines(wanted: list[str]) -> tuple[list[str], list[str]]:
    have, notes = [], []
    for name in wanted:
        mod = {"bpekit": "bpekit", "tiktoken": "tiktoken", "bpe-openai": "bpe_openai._bindings"}[name]
        try:
            __import__(mod)
            have.append(name)
        except ImportError as e:
            notes.append(f"{name} skipped: not importable ({e}); `pip install {name}` to include it")
    return have, notes


def timed(fn, *a):
    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter()
        out = fn(*a)
        return time.perf_counter() - t0, out
    finally:
        gc.enable()


# ---------------------------------------------------------------------------------------------
# worst-case inputs (child process)
# ---------------------------------------------------------------------------------------------

WORST_INPUTS = {
    "a": "'a' repeated",
    "spaces": "spaces",
    "digits": "random digits",
    "latin1": "random bytes as latin-1",
    "cjk": "CJK, no spaces",
}


def _is_cjk(ch: str) -> bool:
    o = ord(ch)
    return (0x3040 <= o <= 0x30FF or 0x3400 <= o <= 0x4DBF or 0x4E00 <= o <= 0x9FFF
            or 0xAC00 <= o <= 0xD7A3 or 0xF900 <= o <= 0xFAFF)


def make_worst_inputs(data_dir: Path, size: int, out_dir: Path) -> dict[str, Path]:
    rng = random.Random(0)
    texts = {
        "a": "a" * size,
        "spaces": " " * size,
        "digits": "".join(rng.choice("0123456789") for _ in range(size)),
        "latin1": bytes(rng.getrandbits(8) for _ in range(size)).decode("latin-1"),
    }
    # CJK letters (Han, kana, Hangul) taken from the multilingual corpus in order, all else dropped
    cjk, nbytes = [], 0
    try:
        raw, _ = C.load_corpus(data_dir, "multilingual", 64)
        for ch in raw.decode("utf-8", errors="ignore"):
            if _is_cjk(ch) and unicodedata.category(ch).startswith("L"):
                cjk.append(ch)
                nbytes += len(ch.encode("utf-8"))
                if nbytes >= size:
                    break
    except SystemExit:
        pass
    while nbytes < size:  # no (or too little) corpus: random common Han characters
        ch = chr(rng.randint(0x4E00, 0x9FA5))
        cjk.append(ch)
        nbytes += 3
    texts["cjk"] = "".join(cjk)
    paths = {}
    for key, text in texts.items():
        paths[key] = out_dir / f"worst-{key}.txt"
        paths[key].write_text(text, encoding="utf-8", errors="surrogatepass")
    return paths


def worst_child(spec: dict) -> int:
    eng = Engine(spec["engine"], spec["encoding"], Path(spec["ranks"]))
    ref = Path(spec["ref"]).read_text(encoding="utf-8")
    text = Path(spec["input"]).read_text(encoding="utf-8")
    eng.encode(ref[:1000])  # warm up
    for _ in range(spec["repeat"]):
        s, _ = timed(eng.encode, ref)
        print(json.dumps({"kind": "ref", "s": s}), flush=True)
    print(json.dumps({"kind": "start", "t": time.time()}), flush=True)
    spent = 0.0
    for _ in range(spec["repeat"]):
        s, ids = timed(eng.encode, text)
        spent += s
        print(json.dumps({"kind": "worst", "s": s, "tokens": len(ids)}), flush=True)
        if spent + s > spec["budget"]:
            break
    return 0


# ---------------------------------------------------------------------------------------------
# parent
# ---------------------------------------------------------------------------------------------


def fmt_rate(x: float) -> str:
    return "-" if x != x else f"{x:.1f}"


def fmt_ratio(x: float) -> str:
    return "-" if x != x else f"{x:.2f}"


def section_encode_decode(args, engines, corpora, docs, nbytes, sections, failures):
    enc_rows, dec_rows = [], []
    for encoding in args.encodings:
        engs = {name: Engine(name, encoding, args.ranks) for name in engines}
        for corpus in corpora:
            texts = docs[corpus]
            mb = nbytes[corpus] / C.MIB
            times = {n: [] for n in engines}
            dtimes = {n: [] for n in engines}
            ids = {}
            for _ in range(args.repeat):
                for n, e in engs.items():  # interleaved, so drift hits every engine alike
                    s, out = timed(lambda: [e.encode(t) for t in texts])
                    times[n].append(s)
                    ids.setdefault(n, out)
            ref_ids = ids.get("tiktoken")
            if "decode" in sections:
                source = ref_ids or ids[engines[0]]
                for _ in range(args.repeat):
                    for n, e in engs.items():
                        s, back = timed(lambda: [e.decode(x) for x in source])
                        dtimes[n].append(s)
                        if back != texts:
                            bad = sum(1 for a, b in zip(back, texts) if a != b)
                            failures.append(f"decode {n} {encoding} {corpus}: {bad} documents do not round-trip")
                ref_dec = C.median(dtimes["tiktoken"]) if "tiktoken" in engs else float("nan")
            ref_enc = C.median(times["tiktoken"]) if "tiktoken" in engs else float("nan")
            ntok = sum(len(x) for x in (ref_ids or ids[engines[0]]))
            for n in engines:
                med = C.median(times[n])
                if ref_ids is None or n == "tiktoken":
                    check = "(reference)" if n == "tiktoken" else "no tiktoken to compare"
                else:
                    bad = [i for i, (a, b) in enumerate(zip(ids[n], ref_ids)) if a != b]
                    check = f"yes ({len(texts)} docs)" if not bad else f"NO: {len(bad)}/{len(texts)} docs differ (first: doc {bad[0]})"
                    if bad:
                        failures.append(f"encode {n} {encoding} {corpus}: ids differ from tiktoken in {len(bad)} documents")
                enc_rows.append([corpus, encoding, n, f"{mb / med:.1f}", fmt_ratio(ref_enc / med),
                                 f"{nbytes[corpus] / ntok:.2f}", check])
                if "decode" in sections:
                    dmed = C.median(dtimes[n])
                    dec_rows.append([corpus, encoding, n, f"{mb / dmed:.1f}", fmt_ratio(ref_dec / dmed)])
            print(f"  encode/decode {encoding} {corpus} done", file=sys.stderr, flush=True)
    if "encode" in sections or "decode" in sections:
        print("## encode_ordinary, single thread, one call per document; MB/s = MiB of UTF-8 per second")
        print(C.table(["corpus", "encoding", "engine", "MB/s", "vs tiktoken", "bytes/token", "ids = tiktoken"],
                      enc_rows, right={3, 4, 5}))
        print()
    if "decode" in sections:
        print("## decode (ids -> str), single thread, one call per document; MB/s of text produced")
        print(C.table(["corpus", "encoding", "engine", "MB/s", "vs tiktoken"], dec_rows, right={3, 4}))
        print()


def section_numpy(args, engines, corpora, docs, nbytes, failures):
    try:
        import numpy as np
    except ImportError:
        print("## encode_to_numpy: skipped, numpy is not installed (`pip install numpy` to include it)")
        print()
        return
    rows, notes = [], []
    if "bpe-openai" in engines:
        notes.append("bpe-openai skipped: it has no encode_to_numpy")
    for encoding in args.encodings:
        engs = {}
        for name in engines:
            if name == "bpe-openai":
                continue
            e = Engine(name, encoding, args.ranks)
            if e.to_numpy is None:
                note = f"{name} skipped: the installed {name} has no encode_to_numpy"
                if note not in notes:
                    notes.append(note)
                continue
            engs[name] = e
        if not engs:
            continue
        for corpus in corpora:
            texts = docs[corpus]
            mb = nbytes[corpus] / C.MIB
            times = {n: [] for n in engs}
            arrays = {}
            for _ in range(args.repeat):
                for n, e in engs.items():  # interleaved, as in the encode section
                    s, out = timed(lambda: [e.to_numpy(t) for t in texts])
                    times[n].append(s)
                    arrays.setdefault(n, out)
            ref = arrays.get("tiktoken")
            ref_t = C.median(times["tiktoken"]) if "tiktoken" in engs else float("nan")
            for n in engs:
                med = C.median(times[n])
                wrong_type = [a for a in arrays[n] if not isinstance(a, np.ndarray) or a.dtype != np.uint32]
                if wrong_type:
                    a = wrong_type[0]
                    kind = f"dtype {a.dtype}" if isinstance(a, np.ndarray) else type(a).__name__
                    check = f"NO: {kind}, not a uint32 array ({len(wrong_type)}/{len(texts)} docs)"
                    failures.append(f"numpy {n} {encoding} {corpus}: returns {kind}, not a numpy uint32 array")
                elif n == "tiktoken":
                    check = "(reference)"
                elif ref is None:
                    check = "no tiktoken to compare"
                else:
                    bad = [i for i, (a, b) in enumerate(zip(arrays[n], ref)) if not np.array_equal(a, b)]
                    check = (f"yes ({len(texts)} docs)" if not bad
                             else f"NO: {len(bad)}/{len(texts)} docs differ (first: doc {bad[0]})")
                    if bad:
                        failures.append(f"numpy {n} {encoding} {corpus}: arrays differ from tiktoken's ids "
                                        f"in {len(bad)} documents")
                rows.append([corpus, encoding, n, f"{mb / med:.1f}", fmt_ratio(ref_t / med), check])
            arrays.clear()
            print(f"  numpy {encoding} {corpus} done", file=sys.stderr, flush=True)
    print("## encode_to_numpy (uint32 array, no special-token handling), single thread, one call per document; "
          "MB/s = MiB of UTF-8 per second")
    for note in notes:
        print(f"# note: {note}")
    if rows:
        print(C.table(["corpus", "encoding", "engine", "MB/s", "vs tiktoken", "ids = tiktoken"], rows, right={3, 4}))
    print()


def section_latency(args, engines, failures):
    missing = [n for n in ("bpekit", "tiktoken") if n not in engines]
    if missing:
        print(f"## short-string latency: skipped, needs bpekit and tiktoken ({', '.join(missing)} not selected "
              f"or not importable)")
        print()
        return
    samples, notes = C.latency_samples(args.data)
    rows = C.latency_rows(args.encodings, args.ranks, samples, args.calls, failures)
    print(f"## short-string latency: µs per call, best of {C.LATENCY_ROUNDS} rounds of {args.calls} calls "
          f"(each round cycles through its own {C.LATENCY_POOL} distinct strings); encodings with their "
          f"special tokens (bpekit.get_encoding), so encode checks them; tiktoken/bpekit > 1 means bpekit is faster")
    for note in notes:
        print(f"# note: {note}")
    print(C.table(C.LATENCY_HEADERS, rows, right={1, 4, 5, 6}))
    for kind, what in C.LATENCY_KINDS.items():
        print(f"  {kind}: {what}")
    print()


class _FlatBatch:
    """A flat batch result that compares equal to the list of lists it stands for."""

    def __init__(self, flat, offsets):
        self.flat, self.offsets = flat, offsets

    def __eq__(self, other):
        o = self.offsets.tolist()
        return [self.flat[o[i]:o[i + 1]].tolist() for i in range(len(o) - 1)] == other

    def __ne__(self, other):
        return not self == other


def section_batch(args, engines, corpora, docs, nbytes, failures):
    rows = []
    for encoding in args.encodings:
        engs = {name: Engine(name, encoding, args.ranks) for name in engines}
        variants = {}  # label -> fn(docs, threads)
        for n, e in engs.items():
            variants[n] = e.encode_batch
            native = getattr(e.keep, "encode_ordinary_batch", None) if n == "bpekit" else None
            if native is not None:  # bpekit's own batch call: one native call on its rayon pool
                variants["bpekit native"] = (lambda f: lambda d, t: f(d, num_threads=t))(native)
                to_numpy = getattr(e.keep, "encode_batch_to_numpy", None)
                if to_numpy is not None and importlib.util.find_spec("numpy") is not None:
                    # The same call returning one flat uint32 array and offsets: the native
                    # scaling, without building Python lists (compared as lists below).
                    variants["bpekit native numpy"] = (lambda f: lambda d, t: _FlatBatch(
                        *f(d, num_threads=t, disallowed_special=())))(to_numpy)
        for corpus in corpora:
            texts = docs[corpus]
            mb = nbytes[corpus] / C.MIB
            med = {}
            for nthr in args.threads:
                times = {v: [] for v in variants}
                for rep in range(args.repeat):
                    outs = {}
                    for v, fn in variants.items():
                        s, out = timed(fn, texts, nthr)
                        times[v].append(s)
                        if rep == 0:
                            outs[v] = out
                    ref = outs.get("tiktoken")
                    for v, out in outs.items():
                        if ref is not None and out != ref:
                            failures.append(f"batch {v} {encoding} {corpus} threads {nthr}: ids differ from tiktoken")
                    outs.clear()
                for v in variants:
                    med[(v, nthr)] = C.median(times[v])
            for nthr in args.threads:
                for v in variants:
                    m = med[(v, nthr)]
                    one = med.get((v, args.threads[0]))
                    ref = med.get(("tiktoken", nthr), float("nan"))
                    rows.append([corpus, encoding, nthr, v, f"{mb / m:.1f}", fmt_ratio(one / m), fmt_ratio(ref / m)])
            print(f"  batch {encoding} {corpus} done", file=sys.stderr, flush=True)
    print("## batch encode of all documents; tiktoken: encode_ordinary_batch(num_threads=n); "
          "bpekit and bpe-openai: concurrent.futures.ThreadPoolExecutor(n) over one shared encoder "
          "(Python threads; bpekit releases the GIL while it encodes); "
          "bpekit native: Encoding.encode_ordinary_batch(num_threads=n), one call on its own thread pool")
    print(C.table(["corpus", "encoding", "threads", "engine", "MB/s", f"x vs {args.threads[0]} thr", "vs tiktoken"],
                  rows, right={2, 4, 5, 6}))
    print()


def section_worst(args, engines, tmp: Path, failures):
    inputs = make_worst_inputs(args.data, args.worst_size, tmp)
    ref_raw, ref_starts = C.load_corpus(args.data, "english", args.worst_size / C.MIB)
    ref_path = tmp / "worst-english.txt"
    ref_path.write_bytes(ref_raw)
    ref_mib = len(ref_raw) / C.MIB
    rows, notes = [], []
    for encoding in args.encodings:
        ref_row = [encoding, f"english text ({ref_mib:.2f} MiB)"]
        cells = {}
        refs = {}
        for key, path in inputs.items():
            size_mib = path.stat().st_size / C.MIB
            row = [encoding, f"{WORST_INPUTS[key]} ({size_mib:.2f} MiB)"]
            for n in engines:
                spec = {"engine": n, "encoding": encoding, "ranks": str(args.ranks), "ref": str(ref_path),
                        "input": str(path), "repeat": args.repeat, "budget": args.timeout}
                env = dict(os.environ, RUST_BACKTRACE="0")
                res = C.run_child([sys.executable, __file__, "--worst-child", json.dumps(spec)],
                                  env, timeout=args.timeout + 30)
                lines = C.json_lines(res["stdout"])
                ref_s = [x["s"] for x in lines if x["kind"] == "ref"]
                worst_s = [x["s"] for x in lines if x["kind"] == "worst"]
                start = [x["t"] for x in lines if x["kind"] == "start"]
                if ref_s:
                    refs.setdefault(n, C.median(ref_s) / ref_mib)
                if worst_s:
                    per_mib = C.median(worst_s) / size_mib
                    rel = per_mib / refs[n] if n in refs else float("nan")
                    row.append(f"{per_mib:.3f} s ({rel:.1f}x)")
                elif res["timeout"]:
                    ran = (time.time() - start[0]) if start else args.timeout
                    row.append(f"> {ran:.0f} s (timeout)")
                else:
                    lines_err = [x.strip() for x in res["stderr"].splitlines() if x.strip()]
                    msg = next((x for x in reversed(lines_err) if "Error" in x or "Exception" in x),
                               lines_err[-1] if lines_err else f"exit status {res['rc']}")
                    notes.append(f"{n}, {encoding}, {WORST_INPUTS[key]}: {msg[:240]}")
                    row.append(f"error [{len(notes)}]")
                    if n == "bpekit":
                        failures.append(f"worst {n} {encoding} {key}: rc {res['rc']}: {msg[:240]}")
                print(f"  worst {encoding} {key} {n}: {row[-1]}", file=sys.stderr, flush=True)
            cells[key] = row
        ref_row += [f"{refs[n]:.3f} s (1.0x)" if n in refs else "-" for n in engines]
        rows.append(ref_row)
        rows += [cells[k] for k in inputs]
    print(f"## worst cases: one encode_ordinary call per input; seconds per MiB of UTF-8 input, "
          f"(x) = relative to the same engine on English text; limit {args.timeout:.0f} s per engine and input")
    print(C.table(["encoding", "input"] + engines, rows, right=set(range(2, 2 + len(engines)))))
    for i, note in enumerate(notes, 1):
        print(f"[{i}] {note}")
    print()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=C.default_data_dir(),
                    help="directory with NAME.txt[.xz] and NAME.offsets (default: $BPEKIT_DATA or ../shared/data)")
    ap.add_argument("--ranks", type=Path, default=None,
                    help="directory with cl100k_base.tiktoken, o200k_base.tiktoken (default: --data if it has them, "
                         "else ../shared/data)")
    ap.add_argument("--corpus", default="english,code,multilingual", help="comma-separated corpora")
    ap.add_argument("--megabytes", type=float, default=16, help="MiB of each corpus, whole documents (default 16)")
    ap.add_argument("--encodings", default=",".join(ENCODINGS), help="comma-separated: cl100k_base,o200k_base")
    ap.add_argument("--engines", default=",".join(ENGINES), help=f"comma-separated subset of {','.join(ENGINES)}")
    ap.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}")
    ap.add_argument("--threads", default="1,2", help="thread counts for the batch section")
    ap.add_argument("--repeat", type=int, default=3, help="runs per measurement; medians reported (default 3)")
    ap.add_argument("--worst-size", type=int, default=C.MIB, help="bytes per worst-case input (default 1 MiB)")
    ap.add_argument("--timeout", type=float, default=20, help="seconds allowed per worst-case engine and input")
    ap.add_argument("--calls", type=int, default=20000, help="calls per round in the latency section (default 20000)")
    ap.add_argument("--worst-child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worst_child:
        return worst_child(json.loads(args.worst_child))

    args.encodings = [e for e in args.encodings.split(",") if e]
    args.threads = [int(t) for t in args.threads.split(",") if t]
    sections = [s for s in args.sections.split(",") if s]
    for s in sections:
        if s not in SECTIONS:
            ap.error(f"unknown section {s!r}")
    wanted = [e for e in args.engines.split(",") if e]
    for e in wanted:
        if e not in ENGINES:
            ap.error(f"unknown engine {e!r}")
    if args.ranks is None:
        args.ranks = args.data if (args.data / "cl100k_base.tiktoken").exists() else C.default_data_dir()
        if not (args.ranks / "cl100k_base.tiktoken").exists():
            args.ranks = C.REPO.parent / "shared" / "data"
    engines, notes = available_engines(wanted)
    corpora = [c for c in args.corpus.split(",") if c]

    print(f"# encode_bench: {C.versions(['bpekit', 'tiktoken', 'bpe-openai'])}")
    print(f"# {C.machine_line()}")
    print(f"# data {args.data}, ranks {args.ranks}, {args.megabytes:g} MiB per corpus, repeat {args.repeat} (medians)")
    for n in notes:
        print(f"# note: {n}")
    if "bpe-openai" in engines:
        print("# note: bpe-openai = its Rust tokenizer (bpe_openai._bindings) with the ranks its wheel bundles; "
              "its ids are checked against tiktoken's like bpekit's")
    print()
    started = time.perf_counter()
    docs, nbytes = {}, {}
    if any(s in sections for s in ("encode", "decode", "numpy", "batch")):
        for corpus in corpora:
            raw, starts = C.load_corpus(args.data, corpus, args.megabytes)
            docs[corpus] = C.split_documents(raw, starts)
            nbytes[corpus] = sum(len(t.encode("utf-8")) for t in docs[corpus])
            print(f"# {corpus}: {nbytes[corpus] / C.MIB:.1f} MiB, {len(docs[corpus])} documents")
        print()
    failures: list[str] = []
    tmp = Path(tempfile.mkdtemp(prefix="bpekit-encode-bench-"))
    try:
        if "encode" in sections or "decode" in sections:
            section_encode_decode(args, engines, corpora, docs, nbytes, sections, failures)
        if "numpy" in sections:
            section_numpy(args, engines, corpora, docs, nbytes, failures)
        if "latency" in sections:
            section_latency(args, engines, failures)
        if "worst" in sections:
            section_worst(args, engines, tmp, failures)
        if "batch" in sections:
            section_batch(args, engines, corpora, docs, nbytes, failures)
    finally:
        for p in tmp.iterdir():
            p.unlink()
        tmp.rmdir()
    print("vs tiktoken = tiktoken's median time / the engine's (>1 means faster than tiktoken).")
    print(f"# {C.machine_line()}; total {(time.perf_counter() - started) / 60:.1f} min")
    for f in failures:
        print(f"FAILED {f}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
