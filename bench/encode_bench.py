#!/usr/bin/env python3
"""Encoding benchmark: bpekit vs tiktoken, gigatoken, quicktok-v1 (and bpe-openai when
installed) on OpenAI's cl100k_base and o200k_base ranks, plus a custom-pattern section.

Sections (medians of --repeat runs; every table is followed by bpekit's speed over each
peer's from the same run, and the issue's targets as `target: ...: met|NOT MET` lines, which
never fail the run):
  encode  single-thread encode_ordinary (Python list), one call per document; every engine's
          ids are checked against tiktoken's; besides the median, the first round alone
          ("1st pass": text the engine has not seen, as when a corpus is encoded once);
  decode  decode throughput (ids -> str), one call per document;
  numpy   single-thread NumPy output for one text (bpekit and tiktoken encode_to_numpy,
          gigatoken Tokenizer.encode), one call per document, checked against tiktoken's ids;
          with its first pass too;
  latency short strings (1 to 100 characters: prose, code, mixed Unicode, 'x' * 100), microseconds
          per call of encode and encode_ordinary, best of 3 rounds (bpekit, tiktoken, gigatoken's
          tiktoken wrapper, quicktok);
  worst   adversarial 1 MiB inputs in one call ('a' x 1M, spaces, '-' x 1M, digits, random bytes as
          latin-1 text, CJK without spaces), seconds per MiB and relative to English text; each
          runs in a child process with a time limit, so a quadratic engine shows "> N s";
  batch   all documents of a corpus on 1 and 2 threads, one child process per thread count
          (RAYON_NUM_THREADS = the count): list outputs (tiktoken's encode_ordinary_batch, bpekit's
          encode_ordinary_batch, gigatoken's encode_batch_list, a thread pool over each encoder)
          and flat arrays (bpekit encode_batch_to_numpy, gigatoken and quicktok encode_batch);
  custom  Llama 3's split pattern with Llama 3's ranks (and Qwen 3's), taken from quicktok's
          data files (or, without quicktok, a vocabulary bpekit trains with that pattern):
          bpekit with that pattern, tiktoken with the same ranks and pattern (the reference),
          quicktok's own encoding, and bpekit with cl100k's pattern on the same ranks.

A peer whose ids differ from tiktoken's is shown as `NO: ...` and listed in `PEER DIFFERS`
lines at the end; only bpekit's differences are failures (`FAILED`, exit status 1).

    python bench/encode_bench.py                            # default sizes
    python bench/encode_bench.py --megabytes 1 --repeat 1   # every section, a few minutes
    python bench/encode_bench.py --sections custom --corpus english,multilingual
    python bench/encode_bench.py --sections worst --timeout 60
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

# Before any engine or numpy loads: the single-thread sections keep every rayon pool at one
# thread (gigatoken's process-global pool reads RAYON_NUM_THREADS when it starts; bpekit's
# Python-level calls use none), and numpy's BLAS pools at one thread.  The batch section runs
# each thread count in a child process with RAYON_NUM_THREADS set to that count.
os.environ.setdefault("RAYON_NUM_THREADS", "1")

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

C.pin_blas()

ENGINES = ("bpekit", "tiktoken", "bpe-openai", "gigatoken", "quicktok")
PEERS = tuple(e for e in ENGINES if e != "bpekit")
ENCODINGS = ("cl100k_base", "o200k_base")
SECTIONS = ("encode", "decode", "numpy", "latency", "worst", "batch", "custom")
PATTERN_CONST = {"cl100k_base": "CL100K_PATTERN", "o200k_base": "O200K_PATTERN"}
IMPORT_NAME = {"bpekit": "bpekit", "tiktoken": "tiktoken", "bpe-openai": "bpe_openai._bindings",
               "gigatoken": "gigatoken", "quicktok": "quicktok"}
PIP_NAME = {"bpekit": "bpekit", "tiktoken": "tiktoken", "bpe-openai": "bpe-openai",
            "gigatoken": "gigatoken", "quicktok": "quicktok-v1"}
# gigatoken's name for the split scheme of each encoding (Tokenizer.from_tiktoken's `pretokenizer`)
GIGATOKEN_SCHEME = {"cl100k_base": "gpt4", "o200k_base": "o200k"}

# The targets, printed under the tables (met / not met; they never fail the run).
TARGET_NUMPY = 1.5  # encode_to_numpy vs gigatoken's NumPy encode, every corpus and encoding
TARGET_LIST = 1.2  # encode_ordinary (list) vs gigatoken's list output
TARGET_CUSTOM_VS_NAMED = 0.8  # Llama 3's pattern vs the named pattern, same ranks and text
TARGET_CUSTOM_VS_QUICKTOK = 2.0  # Llama 3's pattern vs quicktok's own llama3 encoding
TARGET_BATCH_SCALING = 1.8  # flat batch on 2 threads vs 1
TARGET_BATCH_VS_GIGATOKEN = 1.5  # flat batch on 2 threads vs gigatoken's
TARGET_WORST = 3.0  # worst-case seconds per MiB vs English text


# ---------------------------------------------------------------------------------------------
# engines: each gives encode(str) -> list[int] and decode(list[int]) -> str, and where it has
# them to_numpy(str) -> uint32 array, batch(docs, n) -> list of lists, flat(docs, n) ->
# (flat ids, offsets)
# ---------------------------------------------------------------------------------------------


class Engine:
    def __init__(self, name: str, encoding: str, ranks_dir: Path):
        import bpekit

        self.name = name
        self.encoding = encoding
        rank_file = ranks_dir / f"{encoding}.tiktoken"
        pattern = getattr(bpekit, PATTERN_CONST[encoding])
        self.batch = None  # native list batch: fn(docs, threads)
        self.flat = None  # native flat batch: fn(docs, threads) -> (ids, offsets)
        self.to_numpy = None
        if name == "bpekit":
            enc = bpekit.Encoding.from_tiktoken_file(rank_file, pattern)
            self.encode, self.decode = enc.encode_ordinary, enc.decode
            self.to_numpy = _ordinary_to_numpy(enc)
            flat = getattr(enc, "encode_batch_to_numpy", None)
            if flat is not None:
                self.flat = lambda docs, n: flat(docs, num_threads=n, disallowed_special=())
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
            self.keep = tok
        elif name == "gigatoken":
            # The same rank file with gigatoken's scheme for it, and no special tokens (like the
            # other engines here; its tiktoken wrapper refuses special-token text otherwise).
            import gigatoken

            tok = gigatoken.Tokenizer.from_tiktoken(str(rank_file), pretokenizer=GIGATOKEN_SCHEME[encoding],
                                                    special_tokens={})
            compat = tok.as_tiktoken()
            self.encode, self.decode = compat.encode_ordinary, compat.decode
            self.to_numpy = tok.encode
            # parallel=True: its process-global rayon pool, sized by RAYON_NUM_THREADS (the batch
            # section's child processes set it to the thread count)
            self.batch = lambda docs, n: tok.encode_batch_list(docs, parallel=True)
            self.flat = lambda docs, n: _awkward_flat(tok.encode_batch(docs, parallel=True))
            self.keep = tok
        elif name == "quicktok":
            # its bundled ranks (the same as OpenAI's files; the ids are checked like the others')
            import quicktok

            tok = quicktok.get_encoding(encoding)
            self.encode, self.decode = tok.encode_ordinary, tok.decode
            self.flat = lambda docs, n: tok.encode_batch(docs, n)
            self.keep = tok
        else:
            raise ValueError(name)

    def pool_batch(self, docs: list[str], threads: int) -> list[list[int]]:
        """encode over a concurrent.futures thread pool of `threads` sharing this encoder."""
        with ThreadPoolExecutor(max_workers=threads) as pool:
            return list(pool.map(self.encode, docs))


def print_heading(title: str, notes: list[str]) -> None:
    """A section's heading line, then its notes (skipped engines, missing data)."""
    print(f"## {title}")
    for note in notes:
        print(f"# note: {note}")


def _ordinary_to_numpy(enc):
    """enc.encode_to_numpy without special-token handling (like encode_ordinary; the bench
    encodings have no special tokens anyway), or None if the library has no encode_to_numpy."""
    f = getattr(enc, "encode_to_numpy", None)
    return None if f is None else (lambda text: f(text, disallowed_special=()))


def _awkward_flat(arr):
    """(flat ids, offsets) of an awkward list array (gigatoken's encode_batch): its buffers,
    not a copy."""
    import awkward as ak
    import numpy as np

    layout = ak.to_layout(arr)
    offsets = np.asarray(layout.offsets.data)
    content = np.asarray(layout.content.data)
    return content[offsets[0]:offsets[-1]], offsets - offsets[0]


def available_engines(wanted: list[str]) -> tuple[list[str], list[str]]:
    have, notes = [], []
    for name in wanted:
        try:
            __import__(IMPORT_NAME[name])
            have.append(name)
        except ImportError as e:
            notes.append(f"{name} skipped: not importable ({e}); `pip install {PIP_NAME[name]}` to include it")
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


#: the least wall time one batch measurement spans: a call that takes less is repeated
#: and timed as the mean of its repeats (2 MiB at 700 MB/s is 3 ms, where one hiccup of
#: a shared 2-core VM moves a single call's time by half)
BATCH_MIN_SECONDS = 0.1


def timed_repeated(fn, *a, min_seconds=BATCH_MIN_SECONDS):
    """(seconds per call, the first call's result): `fn(*a)` repeated until
    `min_seconds` have passed, the garbage collector off."""
    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter()
        out = fn(*a)
        calls, t1 = 1, time.perf_counter()
        while t1 - t0 < min_seconds:
            fn(*a)
            calls, t1 = calls + 1, time.perf_counter()
        return (t1 - t0) / calls, out
    finally:
        gc.enable()


def timed_cpu(fn, *a):
    """(wall seconds, process CPU seconds of all threads, result)."""
    gc.collect()
    gc.disable()
    try:
        c0, t0 = time.process_time(), time.perf_counter()
        out = fn(*a)
        t1, c1 = time.perf_counter(), time.process_time()
        return t1 - t0, c1 - c0, out
    finally:
        gc.enable()


def engine_rounds(fns: dict, texts: list, repeat: int, blocks: int = 1) -> dict:
    """Times each engine's `fn` over every text, engine by engine: a first pass (the text
    new to it), then `repeat` rounds back to back, as an encoder runs over a dataset.
    With `blocks` > 1 that sequence runs `blocks` times, the engines' order reversed in
    every other block, and each later block starts every engine with an untimed round;
    the rounds of all blocks are returned together.
    {label: (first-pass seconds, [round seconds], [round CPU seconds], first pass's result)}.

    Rounds are not interleaved between engines: a round that follows another engine's
    starts in the core caches that engine left, and the engines with the largest tables
    lose the most (after each round of tiktoken's over the corpus, gigatoken's NumPy encode
    of English ran 20% slower, bpekit's 6%), so interleaving measured less than either
    keeps up over a corpus. Drift between engines is the price: on a shared VM a slow
    spell of a few seconds can fall on one engine's rounds alone. Blocks spread each
    engine's rounds over the whole measurement, so that the medians compare engines over
    the same spells (every timed round still follows a round of its own engine)."""
    got = {label: (None, [], [], None) for label in fns}
    for block in range(blocks):
        order = list(fns) if block % 2 == 0 else list(fns)[::-1]
        for label in order:
            fn = fns[label]
            first, walls, cpus, out = got[label]
            s, _, res = timed_cpu(lambda: [fn(t) for t in texts])
            if block == 0:
                first, out = s, res
            for _ in range(repeat):
                s, cpu, _ = timed_cpu(lambda: [fn(t) for t in texts])
                walls.append(s)
                cpus.append(cpu)
            got[label] = (first, walls, cpus, out)
    return got


def first_difference(got: list, ref: list) -> str:
    """'k/N docs differ (first: doc i)' or '' when equal (lists of id sequences)."""
    bad = [i for i, (a, b) in enumerate(zip(got, ref)) if list(a) != list(b)]
    if len(got) != len(ref):
        return f"{len(got)} documents returned for {len(ref)}"
    return f"{len(bad)}/{len(ref)} docs differ (first: doc {bad[0]})" if bad else ""


def check_cell(name: str, diff: str, ndocs: int, what: str, failures: list, peer_diffs: list) -> str:
    """The `ids = tiktoken` cell; a difference is a failure for bpekit and a reported
    difference (not a failure) for a peer."""
    if not diff:
        return f"yes ({ndocs} docs)"
    (failures if name.startswith("bpekit") else peer_diffs).append(f"{what}: ids differ from tiktoken: {diff}")
    return f"NO: {diff}"


# ---------------------------------------------------------------------------------------------
# ratios and targets
# ---------------------------------------------------------------------------------------------


# Encoded by every engine before timing, with the first documents: pieces that take each
# kind of merge (a long run, accented letters, CJK), so that tables an engine builds on
# first use are built before the timed rounds, and its first pass measures encoding.
WARM_UP = " ünïcödé façade " + "x" * 300 + " 中文字符测试 " + "=" * 80 + " hello world"

FIRST_PASS_NOTE = ("MB/s is the median of the rounds that follow the first pass, each engine's rounds back to back "
                   "(see engine_rounds); 1st pass = the first round alone, text the engine sees for "
                   "the first time (only its first five documents and a warm-up string were encoded before, to "
                   "build lazy tables): the speed of a corpus encoded once, where caches of pieces seen before "
                   "help less")


def ratio_table(title: str, heads: list[str], keys: list[tuple], base: dict, peers: dict[str, dict]) -> str:
    """bpekit's speed over each peer's, measured in the same run (ratios of median times):
    `keys` are row labels (one cell per entry of `heads`), base[key] bpekit's median seconds,
    peers[label][key] a peer's; `-` where a peer did not run."""
    cols = [p for p in peers if any(k in peers[p] for k in keys)]
    if not cols:
        return f"{title}: no peer ran"
    rows = [list(k) + [fmt_ratio(peers[p].get(k, float("nan")) / base.get(k, float("nan"))) for p in cols]
            for k in keys]
    n = len(heads)
    return title + "\n" + C.table(heads + [f"vs {p}" for p in cols], rows, right=set(range(n, n + len(cols))))


def target_line(what: str, values: dict, threshold: float, cmp: str = ">=") -> str:
    """'target: WHAT: met|NOT MET (...)' over values {label: ratio}; nan values = not measured."""
    got = {k: v for k, v in values.items() if v == v}
    if not got:
        return f"target: {what}: not measured (a peer or variant it needs did not run)"
    ok = {k: (v >= threshold if cmp == ">=" else v <= threshold) for k, v in got.items()}
    worst = min(got, key=got.get) if cmp == ">=" else max(got, key=got.get)
    status = "met" if all(ok.values()) else "NOT MET"
    missing = len(values) - len(got)
    return (f"target: {what}: {status} ({sum(ok.values())}/{len(got)} cases; "
            f"{'lowest' if cmp == '>=' else 'highest'} {got[worst]:.2f}x: {worst}"
            + (f"; {missing} not measured" if missing else "") + ")")


# ---------------------------------------------------------------------------------------------
# worst-case inputs (child process)
# ---------------------------------------------------------------------------------------------

WORST_INPUTS = {
    "a": "'a' repeated",
    "spaces": "spaces",
    "dashes": "'-' repeated",
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
        "dashes": "-" * size,
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


def section_encode_decode(args, engines, corpora, docs, nbytes, sections, failures, peer_diffs):
    enc_rows, dec_rows = [], []
    enc_med, dec_med = {}, {}  # engine -> {(corpus, encoding): median seconds}
    enc_first = {}  # engine -> {(corpus, encoding): seconds of the first round}
    for encoding in args.encodings:
        engs = {name: Engine(name, encoding, args.ranks) for name in engines}
        for corpus in corpora:
            texts = docs[corpus]
            mb = nbytes[corpus] / C.MIB
            dtimes = {n: [] for n in engines}
            for e in engs.values():  # first-use costs (lazy tables) outside the timing
                for t in texts[:5] + [WARM_UP]:
                    e.encode(t)
            got = engine_rounds({n: e.encode for n, e in engs.items()}, texts, args.repeat, args.blocks)
            firsts = {n: g[0] for n, g in got.items()}
            times = {n: g[1] for n, g in got.items()}
            cpus = {n: g[2] for n, g in got.items()}
            ids = {n: g[3] for n, g in got.items()}
            ref_ids = ids.get("tiktoken")
            if "decode" in sections:
                source = ref_ids or ids[engines[0]]
                for _ in range(args.repeat):
                    for n, e in engs.items():
                        s, back = timed(lambda: [e.decode(x) for x in source])
                        dtimes[n].append(s)
                        if back != texts:
                            bad = sum(1 for a, b in zip(back, texts) if a != b)
                            msg = f"decode {n} {encoding} {corpus}: {bad} documents do not round-trip"
                            (failures if n == "bpekit" else peer_diffs).append(msg)
                ref_dec = C.median(dtimes["tiktoken"]) if "tiktoken" in engs else float("nan")
            ref_enc = C.median(times["tiktoken"]) if "tiktoken" in engs else float("nan")
            ntok = sum(len(x) for x in (ref_ids or ids[engines[0]]))
            for n in engines:
                med = C.median(times[n])
                enc_med.setdefault(n, {})[(corpus, encoding)] = med
                enc_first.setdefault(n, {})[(corpus, encoding)] = firsts[n]
                if n == "tiktoken":
                    check = "(reference)"
                elif ref_ids is None:
                    check = "no tiktoken to compare"
                else:
                    check = check_cell(n, first_difference(ids[n], ref_ids), len(texts),
                                       f"encode {n} {encoding} {corpus}", failures, peer_diffs)
                enc_rows.append([corpus, encoding, n, f"{mb / med:.1f}", f"{mb / firsts[n]:.1f}", fmt_ratio(ref_enc / med),
                                 f"{sum(cpus[n]) / sum(times[n]):.2f}", f"{nbytes[corpus] / ntok:.2f}", check])
                if "decode" in sections:
                    dmed = C.median(dtimes[n])
                    dec_med.setdefault(n, {})[(corpus, encoding)] = dmed
                    dec_rows.append([corpus, encoding, n, f"{mb / dmed:.1f}", fmt_ratio(ref_dec / dmed)])
            ids.clear()
            print(f"  encode/decode {encoding} {corpus} done", file=sys.stderr, flush=True)
    keys = [(c, e) for e in args.encodings for c in corpora]
    peers = {p: enc_med[p] for p in PEERS if p in enc_med}
    if "encode" in sections or "decode" in sections:
        print("## encode_ordinary (Python list), single thread, one call per document; MB/s = MiB of UTF-8 per second; "
              f"{FIRST_PASS_NOTE}; cpu/wall = the process's CPU seconds (all threads) over wall seconds while timed "
              "(above 1.00: more than one "
              "thread worked; below: the process waited for a core, a loaded machine)")
        print(C.table(["corpus", "encoding", "engine", "MB/s", "1st pass", "vs tiktoken", "cpu/wall", "bytes/token",
                       "ids = tiktoken"],
                      enc_rows, right={3, 4, 5, 6, 7}))
        if "bpekit" in enc_med:
            print(ratio_table("bpekit encode_ordinary speed / peer's (>1: bpekit faster)", ["corpus", "encoding"],
                              keys, enc_med["bpekit"], peers))
            print(ratio_table("the same, first pass (text each engine sees for the first time)",
                              ["corpus", "encoding"], keys, enc_first["bpekit"],
                              {p: enc_first[p] for p in PEERS if p in enc_first}))
            g = enc_med.get("gigatoken", {})
            print(target_line(f"encode_ordinary >= {TARGET_LIST}x gigatoken's list output "
                              "(as_tiktoken().encode_ordinary) on every corpus",
                              {f"{c} {e}": g.get((c, e), float("nan")) / enc_med["bpekit"][(c, e)] for c, e in keys},
                              TARGET_LIST))
        print()
    if "decode" in sections:
        print("## decode (ids -> str), single thread, one call per document; MB/s of text produced")
        print(C.table(["corpus", "encoding", "engine", "MB/s", "vs tiktoken"], dec_rows, right={3, 4}))
        if "bpekit" in dec_med:
            print(ratio_table("bpekit decode speed / peer's (>1: bpekit faster)", ["corpus", "encoding"], keys,
                              dec_med["bpekit"], {p: dec_med[p] for p in PEERS if p in dec_med}))
        print()


def section_numpy(args, engines, corpora, docs, nbytes, failures, peer_diffs):
    try:
        import numpy as np
    except ImportError:
        print("## encode_to_numpy: skipped, numpy is not installed (`pip install numpy` to include it)")
        print()
        return
    rows, notes = [], []
    meds = {}  # engine -> {(corpus, encoding): median seconds}
    firsts_all = {}  # engine -> {(corpus, encoding): seconds of the first round}
    for encoding in args.encodings:
        engs = {}
        for name in engines:
            e = Engine(name, encoding, args.ranks)
            if e.to_numpy is None:
                note = f"{name} skipped: the installed {name} has no NumPy output for one text"
                if note not in notes:
                    notes.append(note)
                continue
            engs[name] = e
        if not engs:
            continue
        for corpus in corpora:
            texts = docs[corpus]
            mb = nbytes[corpus] / C.MIB
            for e in engs.values():
                for t in texts[:5] + [WARM_UP]:
                    e.to_numpy(t)
            got = engine_rounds({n: e.to_numpy for n, e in engs.items()}, texts, args.repeat, args.blocks)
            firsts = {n: g[0] for n, g in got.items()}
            times = {n: g[1] for n, g in got.items()}
            cpus = {n: g[2] for n, g in got.items()}
            arrays = {n: g[3] for n, g in got.items()}
            ref = arrays.get("tiktoken")
            ref_t = C.median(times["tiktoken"]) if "tiktoken" in engs else float("nan")
            for n in engs:
                med = C.median(times[n])
                meds.setdefault(n, {})[(corpus, encoding)] = med
                firsts_all.setdefault(n, {})[(corpus, encoding)] = firsts[n]
                wrong_type = [a for a in arrays[n] if not isinstance(a, np.ndarray) or a.dtype != np.uint32]
                if wrong_type:
                    a = wrong_type[0]
                    kind = f"dtype {a.dtype}" if isinstance(a, np.ndarray) else type(a).__name__
                    check = f"NO: {kind}, not a uint32 array ({len(wrong_type)}/{len(texts)} docs)"
                    msg = f"numpy {n} {encoding} {corpus}: returns {kind}, not a numpy uint32 array"
                    (failures if n == "bpekit" else peer_diffs).append(msg)
                elif n == "tiktoken":
                    check = "(reference)"
                elif ref is None:
                    check = "no tiktoken to compare"
                else:
                    bad = [i for i, (a, b) in enumerate(zip(arrays[n], ref)) if not np.array_equal(a, b)]
                    diff = f"{len(bad)}/{len(texts)} docs differ (first: doc {bad[0]})" if bad else ""
                    check = check_cell(n, diff, len(texts), f"numpy {n} {encoding} {corpus}", failures, peer_diffs)
                rows.append([corpus, encoding, n, f"{mb / med:.1f}", f"{mb / firsts[n]:.1f}", fmt_ratio(ref_t / med),
                             f"{sum(cpus[n]) / sum(times[n]):.2f}", check])
            arrays.clear()
            print(f"  numpy {encoding} {corpus} done", file=sys.stderr, flush=True)
    print_heading("NumPy output for one text (uint32 array, no special-token handling), single thread, one call per "
                  "document; bpekit and tiktoken: encode_to_numpy(text, disallowed_special=()); gigatoken: "
                  f"Tokenizer.encode(text); MB/s = MiB of UTF-8 per second; {FIRST_PASS_NOTE}; cpu/wall as in the "
                  "encode table", notes)
    if rows:
        print(C.table(["corpus", "encoding", "engine", "MB/s", "1st pass", "vs tiktoken", "cpu/wall", "ids = tiktoken"],
                      rows, right={3, 4, 5, 6}))
    keys = [(c, e) for e in args.encodings for c in corpora]
    if "bpekit" in meds:
        print(ratio_table("bpekit encode_to_numpy speed / peer's (>1: bpekit faster)", ["corpus", "encoding"], keys,
                          meds["bpekit"], {p: meds[p] for p in PEERS if p in meds}))
        print(ratio_table("the same, first pass (text each engine sees for the first time)", ["corpus", "encoding"],
                          keys, firsts_all["bpekit"], {p: firsts_all[p] for p in PEERS if p in firsts_all}))
        g = meds.get("gigatoken", {})
        print(target_line(f"encode_to_numpy >= {TARGET_NUMPY}x gigatoken's NumPy encode on every corpus",
                          {f"{c} {e}": g.get((c, e), float("nan")) / meds["bpekit"][(c, e)] for c, e in keys},
                          TARGET_NUMPY))
    print()


def section_latency(args, engines, failures, peer_diffs):
    missing = [n for n in ("bpekit", "tiktoken") if n not in engines]
    if missing:
        print(f"## short-string latency: skipped, needs bpekit and tiktoken ({', '.join(missing)} not selected "
              f"or not importable)")
        print()
        return
    peers = [p for p in ("gigatoken", "quicktok") if p in engines]
    samples, notes = C.latency_samples(args.data)
    rows = C.latency_rows(args.encodings, args.ranks, samples, args.calls, failures, peers=peers,
                          peer_diffs=peer_diffs)
    print_heading(f"short-string latency: µs per call, best of {C.LATENCY_ROUNDS} rounds of {args.calls} calls "
                  f"(each round cycles through its own {C.LATENCY_POOL} distinct strings); encodings with their "
                  f"special tokens (bpekit.get_encoding; gigatoken: Tokenizer.from_tiktoken(<rank file>)."
                  f"as_tiktoken(); quicktok: get_encoding), so encode checks them; PEER/bpekit > 1 means bpekit is "
                  f"faster", notes)
    print(C.table(C.latency_headers(peers), rows, right={1} | set(range(4, 7 + 2 * len(peers)))))
    for kind, what in C.LATENCY_KINDS.items():
        print(f"  {kind}: {what}")
    print("target: latency rows not worse than before the change: not measurable in one run; compare this table "
          "with the same command on the previous build (bench/instructions.py for small differences)")
    print()


# ---------------------------------------------------------------------------------------------
# batch: one child process per thread count (RAYON_NUM_THREADS = the count, for the engines
# whose batch call runs on a process-global pool)
# ---------------------------------------------------------------------------------------------


def batch_variants(engs: dict) -> dict:
    """label -> (fn(docs, threads), output kind 'list' or 'flat')."""
    variants = {}
    for n, e in engs.items():
        if n == "tiktoken":
            variants["tiktoken"] = (e.batch, "list")
            continue
        variants[f"{n} pool"] = (e.pool_batch, "list")
        native = getattr(e.keep, "encode_ordinary_batch", None) if n == "bpekit" else None
        if native is not None:  # bpekit's own batch call: one native call on its own threads
            variants["bpekit native"] = ((lambda f: lambda d, t: f(d, num_threads=t))(native), "list")
        elif e.batch is not None:
            variants[f"{n} native"] = (e.batch, "list")
        if e.flat is not None:
            variants[f"{n} flat"] = (e.flat, "flat")
    return variants


BATCH_HOW = {
    "tiktoken": "encode_ordinary_batch(docs, num_threads=n) (its Python thread pool)",
    "pool": "concurrent.futures.ThreadPoolExecutor(n).map(encode_ordinary, docs) over one shared encoder",
    "bpekit native": "Encoding.encode_ordinary_batch(docs, num_threads=n)",
    "bpekit flat": "Encoding.encode_batch_to_numpy(docs, num_threads=n): one flat uint32 array + offsets",
    "gigatoken native": "Tokenizer.encode_batch_list(docs, parallel=True) on its global pool of n threads",
    "gigatoken flat": ("Tokenizer.encode_batch(docs, parallel=True) (awkward array; its flat buffers) on its "
                       "global pool of n threads"),
    "quicktok flat": "Tokenizer.encode_batch(docs, threads=n): flat uint32 array + offsets",
}


def batch_child(spec: dict) -> int:
    try:
        import numpy as np
    except ImportError:  # no flat variants then
        np = None

    threads = spec["threads"]
    texts = {c: C.read_cache(Path(p)) for c, p in spec["docs"].items()}
    for encoding in spec["encodings"]:
        engs = {n: Engine(n, encoding, Path(spec["ranks"])) for n in spec["engines"]}
        variants = {v: x for v, x in batch_variants(engs).items() if np is not None or x[1] != "flat"}
        for corpus, docs in texts.items():
            # First-use costs (lazy tables, pools) and the per-thread caches outside the
            # timing: one untimed pass over all the documents, so that every round runs
            # on threads that have seen them, whichever thread gets which (with only a few
            # documents first, the rounds of a pool would stand for a cold corpus on more
            # threads and a warm one on one: the encode section's first pass measures
            # that).
            for fn, _ in variants.values():
                fn(docs + [WARM_UP], threads)
            times = {v: [] for v in variants}
            checks = {}
            ref = engs["tiktoken"].batch(docs, 1) if "tiktoken" in engs else None
            if ref is not None and np is not None:
                ref_flat = np.fromiter((i for d in ref for i in d), dtype=np.uint32)
                ref_off = np.concatenate([[0], np.cumsum([len(d) for d in ref])])
            for rep in range(spec["repeat"]):
                for v, (fn, kind) in variants.items():
                    s, out = timed_repeated(fn, docs, threads)
                    times[v].append(s)
                    if rep == 0:
                        if ref is None:
                            checks[v] = "no tiktoken to compare"
                        elif v == "tiktoken":
                            checks[v] = "(reference)"
                        elif kind == "flat":
                            flat, off = np.asarray(out[0]), np.asarray(out[1])
                            ok = (len(off) == len(ref_off) and np.array_equal(off.astype(np.int64), ref_off)
                                  and np.array_equal(flat, ref_flat))
                            checks[v] = "" if ok else "flat ids or offsets differ"
                        else:
                            checks[v] = first_difference(out, ref)
                    del out
            for v, (fn, kind) in variants.items():
                print(json.dumps({"encoding": encoding, "corpus": corpus, "variant": v, "kind": kind,
                                  "times": times[v], "check": checks[v]}), flush=True)
    return 0


def section_batch(args, engines, corpora, caches, nbytes, failures, peer_diffs):
    times, kinds, checks = {}, {}, {}
    # With --blocks N the children run N times each, the thread counts' order reversed
    # every other time: the scaling ratio then compares thread counts over the same spells.
    for block in range(args.blocks):
        for nthr in (args.threads if block % 2 == 0 else args.threads[::-1]):
            spec = {"threads": nthr, "encodings": args.encodings, "engines": engines, "ranks": str(args.ranks),
                    "repeat": args.repeat, "docs": {c: str(caches[c]) for c in corpora}}
            res = C.run_child([sys.executable, __file__, "--batch-child", json.dumps(spec)], C.thread_env(nthr))
            if not res["ok"]:
                err = [x for x in res["stderr"].splitlines() if x.strip()]
                failures.append(f"batch child, {nthr} threads: exit {res['rc']}: {(err or ['?'])[-1][:240]}")
            for x in C.json_lines(res["stdout"]):
                key = (x["corpus"], x["encoding"], nthr, x["variant"])
                times.setdefault(key, []).extend(x["times"])
                kinds[x["variant"]] = x["kind"]
                checks[key] = checks.get(key) or x["check"]
            print(f"  batch {nthr} threads done", file=sys.stderr, flush=True)
    meds = {key: C.median(t) for key, t in times.items()}
    variants = list(dict.fromkeys(k[3] for k in meds))
    rows = []
    for encoding in args.encodings:
        for corpus in corpora:
            mb = nbytes[corpus] / C.MIB
            for nthr in args.threads:
                for v in variants:
                    key = (corpus, encoding, nthr, v)
                    if key not in meds:
                        continue
                    m = meds[key]
                    one = meds.get((corpus, encoding, args.threads[0], v), float("nan"))
                    ref = meds.get((corpus, encoding, nthr, "tiktoken"), float("nan"))
                    c = checks[key]
                    if c in ("(reference)", "no tiktoken to compare"):
                        cell = c
                    elif not c:
                        cell = "yes"
                    else:
                        cell = check_cell(v, c, 0, f"batch {v} {encoding} {corpus} threads {nthr}", failures,
                                          peer_diffs)
                    rows.append([corpus, encoding, nthr, v, kinds[v], f"{mb / m:.1f}", fmt_ratio(one / m),
                                 fmt_ratio(ref / m), cell])
    print("## batch encode of all documents of a corpus, in a child process per thread count "
          "(RAYON_NUM_THREADS = that count); an untimed pass over the documents first; each round repeats "
          f"its call for at least {BATCH_MIN_SECONDS} s and counts the mean. Variants:")
    for v in variants:
        how = BATCH_HOW.get(v) or BATCH_HOW.get(v.split()[-1], "")
        print(f"#   {v}: {how}")
    print(C.table(["corpus", "encoding", "threads", "variant", "output", "MB/s", f"x vs {args.threads[0]} thr",
                   "vs tiktoken", "ids = tiktoken"], rows, right={2, 5, 6, 7}))
    # bpekit's variants against every peer variant at the same thread count
    bp = [v for v in variants if v.startswith("bpekit")]
    pv = [v for v in variants if not v.startswith("bpekit")]
    keys = [(c, e, t, b) for e in args.encodings for c in corpora for t in args.threads for b in bp]
    base = {k: meds.get(k[:3] + (k[3],), float("nan")) for k in keys}
    peers = {p: {k: meds[k[:3] + (p,)] for k in keys if k[:3] + (p,) in meds} for p in pv}
    print(ratio_table("bpekit batch speed / peer's at the same thread count (>1: bpekit faster)",
                      ["corpus", "encoding", "threads", "bpekit variant"], keys, base, peers))
    if len(args.threads) >= 2 and 1 in args.threads and 2 in args.threads:
        cases = [(c, e) for e in args.encodings for c in corpora]
        scal = {f"{c} {e}": meds.get((c, e, 1, "bpekit flat"), float("nan")) / meds.get((c, e, 2, "bpekit flat"),
                                                                                         float("nan"))
                for c, e in cases}
        print(target_line(f"bpekit flat batch on 2 threads >= {TARGET_BATCH_SCALING}x its own single thread",
                          scal, TARGET_BATCH_SCALING))
        vs = {f"{c} {e}": meds.get((c, e, 2, "gigatoken flat"), float("nan")) / meds.get((c, e, 2, "bpekit flat"),
                                                                                         float("nan"))
              for c, e in cases}
        print(target_line(f"bpekit flat batch on 2 threads >= {TARGET_BATCH_VS_GIGATOKEN}x gigatoken's flat batch "
                          "on 2 threads", vs, TARGET_BATCH_VS_GIGATOKEN))
        for name in ("bpekit flat", "gigatoken flat", "quicktok flat", "bpekit native", "tiktoken"):
            r = [meds.get((c, e, 1, name), float("nan")) / meds.get((c, e, 2, name), float("nan")) for c, e in cases]
            if any(x == x for x in r):
                print(f"2-thread / 1-thread, {name}: " + ", ".join(f"{c} {e} {fmt_ratio(x)}"
                                                                   for (c, e), x in zip(cases, r)))
    else:
        print("target: batch scaling needs --threads 1,2")
    print("On a 2-core machine the 2-thread rows are only meaningful when nothing else runs: check the load average.")
    print()


def section_worst(args, engines, tmp: Path, failures):
    inputs = make_worst_inputs(args.data, args.worst_size, tmp)
    ref_raw, ref_starts = C.load_corpus(args.data, "english", args.worst_size / C.MIB)
    ref_path = tmp / "worst-english.txt"
    ref_path.write_bytes(ref_raw)
    ref_mib = len(ref_raw) / C.MIB
    rows, notes = [], []
    per, rels = {}, {}  # engine -> {(encoding, input): s/MiB}, {label: relative to English}
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
                    per.setdefault(n, {})[(encoding, WORST_INPUTS[key])] = per_mib
                    rels.setdefault(n, {})[f"{encoding} {WORST_INPUTS[key]}"] = rel
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
    if "bpekit" in per:
        keys = [(e, WORST_INPUTS[k]) for e in args.encodings for k in inputs]
        print(ratio_table("bpekit speed / peer's on each input (>1: bpekit faster; '-': timed out or failed)",
                          ["encoding", "input"], keys, per["bpekit"], {p: per[p] for p in PEERS if p in per}))
        want = {f"{e} {WORST_INPUTS[k]}": rels["bpekit"].get(f"{e} {WORST_INPUTS[k]}", float("nan"))
                for e in args.encodings for k in inputs}
        print(target_line(f"bpekit's worst cases <= {TARGET_WORST:g}x its time per MiB of English text", want,
                          TARGET_WORST, cmp="<="))
    print()


# ---------------------------------------------------------------------------------------------
# custom patterns: a real open-model vocabulary with its own split pattern
# ---------------------------------------------------------------------------------------------

LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                  r"|\s*[\r\n]+|\s+(?!\S)|\s+")
# Qwen 2 / 2.5 / 3: Llama 3's pattern with single digits (\p{N}); the same string quicktok's
# importer recognises as its "qwen" grammar (quicktok/_import_core.py QWEN_PAT).
QWEN_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")
CUSTOM_VOCABS = {"llama3": ("Llama 3", LLAMA3_PATTERN), "qwen3": ("Qwen 3", QWEN_PATTERN)}


def unnamed(pattern: str) -> str:
    """The same pattern spelled so that no named splitter knows it (`[\\r\\n]*` as `[\\n\\r]*`):
    the same pieces, split by the automaton, as any user's own pattern would be."""
    out = pattern.replace(r" ?[^\s\p{L}\p{N}]+[\r\n]*", r" ?[^\s\p{L}\p{N}]+[\n\r]*")
    assert out != pattern, pattern
    return out


# qwen3: Qwen's tokenizer normalises its input to NFC (quicktok does too); the bench gives every
# engine NFC text for it, so tiktoken without a normaliser is still the reference.
CUSTOM_NFC = {"qwen3"}
# gigatoken's scheme for a vocabulary, where it has one (none is Llama 3's pattern)
CUSTOM_GIGATOKEN = {"qwen3": "qwen2"}


def split_engine(enc) -> str:
    """bpekit's `Encoding.split_engine` (which splitter the pattern takes) where the installed
    bpekit has it, else '-'."""
    v = getattr(enc, "split_engine", None)
    if callable(v):
        v = v()
    return "-" if v is None else str(v)


def read_quicktok_vocab(path: Path) -> dict[bytes, int]:
    """quicktok's NAME.vocab: little-endian u32 count, then per token u16 length, the bytes,
    u32 rank (quicktok/_import_core.py write_files).  Raises ValueError if the file does not
    end exactly after `count` records or the ranks are not 0..count-1."""
    import struct

    data = path.read_bytes()
    (count,) = struct.unpack_from("<I", data, 0)
    pos, ranks = 4, {}
    for _ in range(count):
        (n,) = struct.unpack_from("<H", data, pos)
        tok = data[pos + 2:pos + 2 + n]
        (rank,) = struct.unpack_from("<I", data, pos + 2 + n)
        pos += 6 + n
        ranks[tok] = rank
    if pos != len(data) or sorted(ranks.values()) != list(range(count)):
        raise ValueError(f"{path}: not the vocab format expected (u32 count; u16 len, bytes, u32 rank)")
    return ranks


def tiktoken_bytes(ranks: dict[bytes, int]) -> bytes:
    import base64

    return b"".join(base64.b64encode(t) + b" %d\n" % r for t, r in sorted(ranks.items(), key=lambda x: x[1]))


def custom_vocabs(args, corpora, docs, notes: list[str]) -> list[tuple[str, str, str, str, dict]]:
    """[(key, vocabulary label, pattern label, pattern, ranks)]: Llama 3 and Qwen 3 from quicktok's
    data files, or, without them, a vocabulary of up to 32768 tokens that bpekit trains with
    Llama 3's pattern on the documents after the measured ones."""
    try:
        import quicktok

        data = Path(quicktok.__file__).parent / "data"
    except ImportError:
        data = None
    out = []
    if data is not None:
        for key, (label, pattern) in CUSTOM_VOCABS.items():
            path = data / f"{key}.vocab"
            if not path.exists():
                notes.append(f"{label}: skipped, quicktok has no {path.name}")
                continue
            out.append((key, label, label, pattern, read_quicktok_vocab(path)))
        if out:
            notes.append(f"ranks from quicktok's bundled data ({data}/*.vocab)")
            return out
    import bpekit

    train = []
    for corpus in corpora:
        raw, starts = C.load_corpus(args.data, corpus, 2 * args.megabytes)
        train += C.split_documents(raw, starts)[len(docs[corpus]):]
    if not train:
        train = [t for c in corpora for t in docs[c]]
        where = "the measured documents themselves (the corpora have no more)"
    else:
        where = "the documents after the measured ones"
    enc = bpekit.train(train, 32768, pattern=LLAMA3_PATTERN)
    notes.append(f"no Llama 3 ranks from quicktok (`pip install quicktok-v1` for Llama 3's and Qwen 3's real ranks): "
                 f"a {enc.n_vocab}-token vocabulary trained by bpekit with Llama 3's pattern on "
                 f"{sum(len(t.encode()) for t in train) / C.MIB:.1f} MiB of {where}; no Qwen 3 rows")
    return [("trained", f"bpekit-trained {enc.n_vocab}", "Llama 3", LLAMA3_PATTERN, enc.mergeable_ranks)]


def section_custom(args, engines, corpora, docs, nbytes, tmp: Path, failures, peer_diffs):
    notes = []
    if "bpekit" not in engines or "tiktoken" not in engines:
        print("## custom pattern: skipped, needs bpekit and tiktoken (the reference)")
        print()
        return
    import bpekit
    import tiktoken

    have_numpy = importlib.util.find_spec("numpy") is not None  # encode_to_numpy needs it
    if not have_numpy:
        notes.append("no encode_to_numpy rows: numpy is not installed")
    vocabs = custom_vocabs(args, corpora, docs, notes)
    rows = []
    meds = {}  # (corpus, vocab, variant) -> median seconds
    engine_of = {}  # vocab -> the split engine of its own pattern
    for key, label, pat_label, pattern, ranks in vocabs:
        blob = tiktoken_bytes(ranks)
        ref_enc = tiktoken.Encoding(f"{key}-bench", pat_str=pattern, mergeable_ranks=ranks, special_tokens={})
        named_ref = tiktoken.Encoding(f"{key}-cl100k-bench", pat_str=bpekit.CL100K_PATTERN, mergeable_ranks=ranks,
                                      special_tokens={})
        custom = bpekit.Encoding.from_tiktoken_bytes(blob, pattern, name=key)
        auto = bpekit.Encoding.from_tiktoken_bytes(blob, unnamed(pattern), name=f"{key}-unnamed")
        engine_of[key] = split_engine(custom)
        named = bpekit.Encoding.from_tiktoken_bytes(blob, bpekit.CL100K_PATTERN, name=f"{key}-cl100k")
        # variant -> (engine label, pattern label, method, fn, reference encoder or None, split engine)
        variants = {
            "custom list": ("bpekit", f"{pat_label}'s", "encode_ordinary", custom.encode_ordinary, ref_enc,
                            split_engine(custom)),
            "custom numpy": ("bpekit", f"{pat_label}'s", "encode_to_numpy", _ordinary_to_numpy(custom), ref_enc,
                             split_engine(custom)),
            "automaton list": ("bpekit", f"{pat_label}'s, unnamed", "encode_ordinary", auto.encode_ordinary, ref_enc,
                               split_engine(auto)),
            "automaton numpy": ("bpekit", f"{pat_label}'s, unnamed", "encode_to_numpy", _ordinary_to_numpy(auto),
                                ref_enc, split_engine(auto)),
            "named list": ("bpekit", "cl100k's (named)", "encode_ordinary", named.encode_ordinary, named_ref,
                           split_engine(named)),
            "named numpy": ("bpekit", "cl100k's (named)", "encode_to_numpy", _ordinary_to_numpy(named), named_ref,
                            split_engine(named)),
            "tiktoken": ("tiktoken", f"{pat_label}'s", "encode_ordinary", ref_enc.encode_ordinary, None, "fancy-regex"),
        }
        if not have_numpy:
            variants = {v: x for v, x in variants.items() if "numpy" not in v}
        if "quicktok" in engines and key in CUSTOM_VOCABS:
            import quicktok

            q = quicktok.get_encoding(key)
            variants["quicktok"] = ("quicktok", f"its own {key}", "encode_ordinary", q.encode_ordinary, ref_enc, "-")
        if "gigatoken" in engines and key in CUSTOM_GIGATOKEN:
            import gigatoken

            path = tmp / f"{key}.tiktoken"
            path.write_bytes(blob)
            g = gigatoken.Tokenizer.from_tiktoken(str(path), pretokenizer=CUSTOM_GIGATOKEN[key], special_tokens={})
            variants["gigatoken list"] = ("gigatoken", f"its {CUSTOM_GIGATOKEN[key]}", "encode_ordinary",
                                          g.as_tiktoken().encode_ordinary, ref_enc, "-")
            variants["gigatoken numpy"] = ("gigatoken", f"its {CUSTOM_GIGATOKEN[key]}", "Tokenizer.encode",
                                           g.encode, ref_enc, "-")
        elif "gigatoken" in engines:
            note = f"gigatoken: no row for {label} (none of its pretokenizer schemes is that pattern)"
            notes.append(note)
        for corpus in corpora:
            texts = docs[corpus]
            if key in CUSTOM_NFC:
                texts = [unicodedata.normalize("NFC", t) for t in texts]
            mb = sum(len(t.encode("utf-8")) for t in texts) / C.MIB
            for fn_label, (_, _, _, fn, _, _) in variants.items():
                for t in texts[:5] + [WARM_UP]:  # first-use costs outside the timing
                    fn(t)
            got = engine_rounds({v: spec[3] for v, spec in variants.items()}, texts, args.repeat, args.blocks)
            times = {v: g[1] for v, g in got.items()}
            outs = {v: g[3] for v, g in got.items()}
            refs = {id(ref_enc): outs["tiktoken"]}
            ref_t = C.median(times["tiktoken"])
            for v, (eng, pat, method, _, ref, split) in variants.items():
                med = C.median(times[v])
                meds[(corpus, key, v)] = med
                if ref is None:
                    check = "(reference)"
                else:
                    if id(ref) not in refs:
                        refs[id(ref)] = [ref.encode_ordinary(t) for t in texts]
                    diff = first_difference([x.tolist() if hasattr(x, "tolist") else x for x in outs[v]],
                                            refs[id(ref)])
                    what = f"custom {eng} {key} {pat} {method} {corpus}"
                    check = check_cell(eng, diff, len(texts), what, failures, peer_diffs)
                    if ref is named_ref and not diff:
                        check += " vs tiktoken, cl100k's pattern"
                rows.append([corpus, label, eng, pat, method, split, f"{mb / med:.1f}", fmt_ratio(ref_t / med), check])
            outs.clear()
            print(f"  custom {key} {corpus} done", file=sys.stderr, flush=True)
    print_heading("custom split pattern: a real open-model vocabulary with its own pattern, single thread, one call "
                  "per document; the reference is tiktoken built with the same ranks and pattern; 'cl100k's (named)' "
                  "is bpekit with the same ranks and cl100k_base's pattern (its ids checked against tiktoken with "
                  "that pattern)", notes)
    if any(k in CUSTOM_NFC for k, *_ in vocabs):
        print("# note: Qwen 3 rows: every engine gets the documents normalised to NFC (Qwen's tokenizer, and "
              "quicktok, normalise to NFC; tiktoken and bpekit do not)")
    print(C.table(["corpus", "vocab", "engine", "pattern", "method", "split engine", "MB/s", "vs tiktoken",
                   "ids = reference"],
                  rows, right={6, 7}))
    labels = {k: lab for k, lab, *_ in vocabs}
    keys = [(c, labels[k]) for k, *_ in vocabs for c in corpora]
    kk = {(c, labels[k]): (c, k) for k, *_ in vocabs for c in corpora}
    for method, suffix in (("encode_ordinary", "list"), ("encode_to_numpy", "numpy")):
        if suffix == "numpy" and not have_numpy:
            continue
        base = {k: meds.get(kk[k] + (f"custom {suffix}",), float("nan")) for k in keys}
        peers = {"bpekit named": {k: meds[kk[k] + (f"named {suffix}",)] for k in keys
                                  if kk[k] + (f"named {suffix}",) in meds}}
        for v in ("tiktoken", "quicktok", "gigatoken list", "gigatoken numpy"):
            have = {k: meds[kk[k] + (v,)] for k in keys if kk[k] + (v,) in meds}
            if have:
                peers[v] = have
        print(ratio_table(f"bpekit custom-pattern {method} speed / other row's (>1: custom faster; 'vs bpekit named' "
                          f"= same ranks with cl100k's pattern, {method})", ["corpus", "vocab"], keys, base, peers))
    c_key, c_label = vocabs[0][0], vocabs[0][2]
    nan = float("nan")
    named = {f"{c} {m}": meds.get((c, c_key, f"named {m}"), nan) / meds.get((c, c_key, f"custom {m}"), nan)
             for c in corpora for m in ("list", "numpy")}
    print(target_line(f"{c_label}'s pattern >= {TARGET_CUSTOM_VS_NAMED}x the named pattern (cl100k's) on the same "
                      f"ranks and text (its split engine: {engine_of[c_key]})", named, TARGET_CUSTOM_VS_NAMED))
    auto = {f"{c} {m}": meds.get((c, c_key, f"named {m}"), nan) / meds.get((c, c_key, f"automaton {m}"), nan)
            for c in corpora for m in ("list", "numpy")}
    print(target_line(f"a pattern no named splitter knows ({c_label}'s, unnamed: the automaton) >= "
                      f"{TARGET_CUSTOM_VS_NAMED}x the named pattern on the same ranks and text", auto,
                      TARGET_CUSTOM_VS_NAMED))
    q = {f"{c} list": meds.get((c, c_key, "quicktok"), nan) / meds[(c, c_key, "custom list")] for c in corpora}
    print(target_line(f"{c_label}'s pattern (encode_ordinary, list) >= {TARGET_CUSTOM_VS_QUICKTOK}x quicktok's own "
                      "llama3 encoding (list)", q, TARGET_CUSTOM_VS_QUICKTOK))
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
    ap.add_argument("--blocks", type=int, default=1,
                    help="encode, numpy and custom sections: run the engines' rounds this many times, "
                         "alternating their order (see engine_rounds); batch section: run each thread count's "
                         "child this many times, alternating; medians over all rounds (default 1)")
    ap.add_argument("--worst-size", type=int, default=C.MIB, help="bytes per worst-case input (default 1 MiB)")
    ap.add_argument("--timeout", type=float, default=20, help="seconds allowed per worst-case engine and input")
    ap.add_argument("--calls", type=int, default=None,
                    help="calls per round in the latency section (default 20000; 4000 with --megabytes below 16)")
    ap.add_argument("--worst-child", help=argparse.SUPPRESS)
    ap.add_argument("--batch-child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worst_child:
        return worst_child(json.loads(args.worst_child))
    if args.batch_child:
        return batch_child(json.loads(args.batch_child))

    if args.calls is None:
        args.calls = 20000 if args.megabytes >= 16 else 4000
    args.encodings = [e for e in args.encodings.split(",") if e]
    args.threads = [int(t) for t in args.threads.split(",") if t]
    if args.blocks < 1:
        ap.error("--blocks must be 1 or more")
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

    print(f"# encode_bench: {C.versions([PIP_NAME[e] for e in ENGINES] + ['numpy'])}")
    print(f"# {C.machine_line()}")
    print(f"# data {args.data}, ranks {args.ranks}, {args.megabytes:g} MiB per corpus, repeat {args.repeat} (medians)"
          + (f", {args.blocks} blocks of rounds in alternating engine order" if args.blocks > 1 else ""))
    print(f"# threads: RAYON_NUM_THREADS={os.environ['RAYON_NUM_THREADS']} in this process (gigatoken's global pool; "
          f"single-thread sections), set to the thread count in each batch child; "
          + " ".join(f"{v}={os.environ[v]}" for v in C.BLAS_THREAD_VARS[:3]) + " (numpy's BLAS); the encode and "
          "numpy tables show each engine's cpu/wall")
    for n in notes:
        print(f"# note: {n}")
    if "bpe-openai" in engines:
        print("# note: bpe-openai = its Rust tokenizer (bpe_openai._bindings) with the ranks its wheel bundles; "
              "its ids are checked against tiktoken's like bpekit's")
    if "gigatoken" in engines:
        print("# note: gigatoken = Tokenizer.from_tiktoken(<rank file>, pretokenizer='gpt4'|'o200k', "
              "special_tokens={}); "
              "list output through .as_tiktoken().encode_ordinary, NumPy through Tokenizer.encode")
    if "quicktok" in engines:
        print("# note: quicktok = quicktok.get_encoding(name) with its bundled ranks; it has no NumPy output for one "
              "text (its encode_batch returns a flat array: batch section)")
    print()
    started = time.perf_counter()
    docs, nbytes, caches = {}, {}, {}
    failures: list[str] = []
    peer_diffs: list[str] = []
    tmp = Path(tempfile.mkdtemp(prefix="bpekit-encode-bench-"))
    try:
        if any(s in sections for s in ("encode", "decode", "numpy", "batch", "custom")):
            for corpus in corpora:
                raw, starts = C.load_corpus(args.data, corpus, args.megabytes)
                docs[corpus] = C.split_documents(raw, starts)
                nbytes[corpus] = sum(len(t.encode("utf-8")) for t in docs[corpus])
                if "batch" in sections:
                    caches[corpus] = C.write_cache(tmp / "docs", corpus, raw, starts)
                print(f"# {corpus}: {nbytes[corpus] / C.MIB:.1f} MiB, {len(docs[corpus])} documents")
            print()
        if "encode" in sections or "decode" in sections:
            section_encode_decode(args, engines, corpora, docs, nbytes, sections, failures, peer_diffs)
        if "numpy" in sections:
            section_numpy(args, engines, corpora, docs, nbytes, failures, peer_diffs)
        if "custom" in sections:
            section_custom(args, engines, corpora, docs, nbytes, tmp, failures, peer_diffs)
        if "latency" in sections:
            section_latency(args, engines, failures, peer_diffs)
        if "worst" in sections:
            section_worst(args, engines, tmp, failures)
        if "batch" in sections:
            section_batch(args, engines, corpora, caches, nbytes, failures, peer_diffs)
    finally:
        for p in sorted(tmp.rglob("*"), reverse=True):
            p.rmdir() if p.is_dir() else p.unlink()
        tmp.rmdir()
    print("vs tiktoken = tiktoken's median time / the engine's (>1 means faster than tiktoken); "
          "vs PEER in the ratio tables = the peer's median time / bpekit's (>1 means bpekit is faster).")
    print(f"# {C.machine_line()}; total {(time.perf_counter() - started) / 60:.1f} min")
    for d in peer_diffs:
        print(f"PEER DIFFERS {d}")
    for f in failures:
        print(f"FAILED {f}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
