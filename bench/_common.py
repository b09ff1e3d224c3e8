"""Helpers shared by the benchmark scripts: finding and loading the corpora, running one
measurement in a child process, formatting tables, and the short-string latency measurement
(encode_bench.py's latency section and latency_bench.py).  Standard library only at import
time (bpekit and tiktoken are imported by latency_encoders when it is called)."""

from __future__ import annotations

import gc
import json
import lzma
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MIB = 1 << 20


def default_data_dir() -> Path:
    """$BPEKIT_DATA, else ../shared/data next to the repository."""
    env = os.environ.get("BPEKIT_DATA")
    if env:
        return Path(env)
    return REPO.parent / "shared" / "data"


def corpus_file(data_dir: Path, name: str) -> Path:
    """NAME.txt (what make_corpus.sh writes) or NAME.txt.xz (the 16 MiB samples)."""
    for candidate in (data_dir / f"{name}.txt", data_dir / f"{name}.txt.xz"):
        if candidate.exists():
            return candidate
    raise SystemExit(f"no {name}.txt or {name}.txt.xz in {data_dir} (use --data DIR or BPEKIT_DATA)")


def load_corpus(data_dir: Path, name: str, megabytes: float) -> tuple[bytes, list[int]]:
    """The whole documents that fit in the first `megabytes` MiB of corpus `name`.

    Returns (text bytes, document start offsets into those bytes).  Documents start at the
    offsets listed in NAME.offsets; only whole documents are kept (if the first document alone
    is longer than the limit, its prefix is used, cut back to a UTF-8 character boundary).
    """
    path = corpus_file(data_dir, name)
    limit = int(megabytes * MIB)
    opener = lzma.open if path.suffix == ".xz" else open
    with opener(path, "rb") as f:
        raw = f.read(limit + 1)  # one byte more tells whether the file goes on
    offsets_path = data_dir / f"{name}.offsets"
    all_starts = sorted(int(x) for x in offsets_path.read_text().split()) if offsets_path.exists() else [0]
    if len(raw) <= limit:
        end = len(raw)
    else:
        raw = raw[:limit]
        end = max((s for s in all_starts if 0 < s <= limit), default=0)
        if end == 0:  # one document longer than the limit: keep a prefix of it
            end = limit
            while end > 0 and (raw[end - 1] & 0xC0) == 0x80:
                end -= 1
            if end > 0 and raw[end - 1] >= 0xC0:
                end -= 1
    starts = [s for s in all_starts if s < end] or [0]
    return raw[:end], starts


def split_documents(raw: bytes, starts: list[int]) -> list[str]:
    bounds = list(starts) + [len(raw)]
    return [raw[a:b].decode("utf-8", errors="replace") for a, b in zip(bounds, bounds[1:]) if b > a]


def write_cache(cache_dir: Path, name: str, raw: bytes, starts: list[int]) -> Path:
    """Writes the selected documents for child processes (they then skip xz and offsets)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"{name}.txt"
    path.write_bytes(raw)
    (cache_dir / f"{name}.starts.json").write_text(json.dumps(starts))
    return path


def read_cache(path: Path) -> list[str]:
    raw = Path(path).read_bytes()
    starts = json.loads(Path(str(path)[: -len(".txt")] + ".starts.json").read_text())
    return split_documents(raw, starts)


def run_child(argv: list[str], env: dict[str, str], timeout: float | None = None) -> dict:
    """Runs one measurement in its own process.

    Returns {"ok", "timeout", "stdout", "stderr", "rc", "wall", "maxrss_mb", "cpu_s"}: the
    child's own peak RSS and CPU time come from os.wait4 (getrusage of exactly that child).
    On timeout the child is killed and whatever it printed so far is returned.
    """
    t0 = time.perf_counter()
    out_path = Path(env.get("BENCH_TMP", "/tmp")) / f"bench-child-{os.getpid()}-{time.monotonic_ns()}.out"
    err_path = out_path.with_suffix(".err")
    timed_out = False
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        # os.wait4 (not Popen.wait) reaps the child, so its own rusage is available:
        # ru_maxrss (KiB on Linux) and CPU time of exactly this child.
        deadline = None if timeout is None else t0 + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid == proc.pid:
                break
            if deadline is not None and time.perf_counter() > deadline:
                timed_out = True
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.01)
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    stdout = out_path.read_text(errors="replace")
    stderr = err_path.read_text(errors="replace")
    out_path.unlink(missing_ok=True)
    err_path.unlink(missing_ok=True)
    result = {
        "ok": proc.returncode == 0 and not timed_out,
        "timeout": timed_out,
        "rc": proc.returncode,
        "stdout": stdout,
        "stderr": stderr,
        "wall": wall,
        "maxrss_mb": usage.ru_maxrss / 1024,
        "cpu_s": usage.ru_utime + usage.ru_stime,
    }
    return result


def json_lines(stdout: str) -> list[dict]:
    """The JSON objects a child printed, one per line (other lines are ignored)."""
    rows = []
    for line in stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    return rows


def median(values):
    values = [v for v in values if v is not None and v == v]
    return statistics.median(values) if values else float("nan")


# numpy's BLAS and OpenMP pools: no benchmark here uses them, and OpenBLAS threads spinning
# after numpy's import were seen taking CPU from the engines in a profile.  Set before numpy loads.
BLAS_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS", "BLIS_NUM_THREADS")


def pin_blas(env=None):
    """Sets every BLAS_THREAD_VARS to 1 in `env` (default os.environ) unless already set."""
    env = os.environ if env is None else env
    for var in BLAS_THREAD_VARS:
        env.setdefault(var, "1")
    return env


def thread_env(threads: int) -> dict[str, str]:
    """Environment pinning every rayon pool (bpekit, rustbpe, HF tokenizers, gigatoken's global
    pool) to `threads`, and BLAS pools to one thread."""
    env = pin_blas(dict(os.environ))
    env["RAYON_NUM_THREADS"] = str(threads)
    env["RAYON_RS_NUM_CPUS"] = str(threads)  # HF tokenizers' own knob
    env["TOKENIZERS_PARALLELISM"] = "true" if threads > 1 else "false"
    env["PYTHONHASHSEED"] = "0"
    return env


def table(headers: list[str], rows: list[list[str]], right: set[int] | None = None) -> str:
    """A plain-text table; columns in `right` (default: all but the first) are right-aligned."""
    if right is None:
        right = set(range(1, len(headers)))
    widths = [max(len(str(r[i])) for r in [headers] + rows) for i in range(len(headers))]

    def fmt(row):
        cells = []
        for i, cell in enumerate(row):
            cell = str(cell)
            cells.append(cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]))
        return "  ".join(cells).rstrip()

    lines = [fmt(headers), "  ".join("-" * w for w in widths)]
    lines += [fmt(r) for r in rows]
    return "\n".join(lines)


def machine_line() -> str:
    load = os.getloadavg()
    return (f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, "
            f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


def versions(mods: list[str]) -> str:
    from importlib import metadata

    parts = []
    for m in mods:
        try:
            parts.append(f"{m} {metadata.version(m)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{m} (not installed)")
    if "bpekit" in mods:
        parts.append(f"bpekit encode_ordinary route: {bpekit_route()}")
    return ", ".join(parts)


def bpekit_route() -> str:
    """How the installed bpekit's `Encoding.encode_ordinary` reaches the library."""
    try:
        from bpekit import _lowlevel
    except ImportError:
        return "(bpekit not importable)"
    return "CPython builtin" if _lowlevel.make_builtin is not None else "cffi calls"


# ---------------------------------------------------------------------------------------------
# short-string latency (encode_bench.py --sections latency, latency_bench.py)
# ---------------------------------------------------------------------------------------------

# Rows of the latency table: (kind, length in characters).  Every row except the 'x' run
# times distinct strings of exactly that length: prose, code and mixed Unicode are windows of
# the english, code and multilingual corpora (see latency_samples).
LATENCY_ROWS = [
    ("char", 1),
    ("prose", 2), ("unicode", 2),
    ("prose", 5), ("code", 5), ("unicode", 5),
    ("prose", 10), ("code", 10), ("unicode", 10),
    ("prose", 45), ("code", 45), ("unicode", 45),
    ("prose", 85), ("code", 85), ("unicode", 85),
    ("prose", 100), ("code", 100), ("unicode", 100), ("x run", 100),
]
LATENCY_KINDS = {
    "char": "single characters, ASCII and not",
    "prose": "ASCII prose (english corpus, whitespace collapsed)",
    "code": "source code from a line start (code corpus, ASCII)",
    "unicode": "mixed Unicode text (multilingual corpus, >= 25% non-ASCII, some ASCII, whitespace collapsed)",
    "x run": "'x' * 100, one string",
}
LATENCY_ROUNDS = 3
# distinct strings per round; the rounds use disjoint sets, and a round cycles through its set
LATENCY_POOL = 300
# used only when a corpus file is missing (the strings of the first latency_bench.py)
_FALLBACK_TEXT = {
    "english": "The quick brown fox jumps over the lazy dog. hello world. " * 40,
    "code": "def per_call(f, s, calls):\n    for _ in range(calls):\n        f(s)\n    return best * 1e6\n" * 30,
    "multilingual": "naïve café, 東京 🙂 Привет мир, γειά σου κόσμε. " * 60,
}


def _window_ok(kind: str, w: str) -> bool:
    if "<|" in w or not w.strip() or len(set(w)) < 2:
        return False
    if kind == "prose":
        return w.isascii() and w.isprintable()
    if kind == "code":
        return w.isascii() and sum(c.isspace() for c in w) * 2 < len(w)
    if kind == "unicode":
        non_ascii = sum(ord(c) > 127 for c in w)
        ascii_visible = sum(ord(c) < 128 and not c.isspace() for c in w)
        return w.isprintable() and non_ascii * 4 >= len(w) and ascii_visible >= 1
    raise ValueError(kind)


def _windows(kind: str, text: str, n: int, count: int) -> list[str]:
    """Up to `count` distinct windows of exactly `n` characters spread over `text`, each
    starting at a word start (prose, unicode) or a line start (code)."""
    if kind == "code":
        starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]
    else:
        starts = [0] + [i + 1 for i, c in enumerate(text) if c == " "]
    starts = [s for s in starts if s + n <= len(text)]
    found: dict[str, None] = {}
    # several passes with a shrinking stride: spread over the text first, then fill up
    for stride in (max(1, len(starts) // (4 * count)), 1):
        for s in starts[::stride]:
            w = text[s:s + n]
            if w not in found and _window_ok(kind, w):
                found[w] = None
                if len(found) >= count:
                    return list(found)
    return list(found)


def latency_samples(data_dir: Path, rows=None, pool: int = LATENCY_POOL,
                    rounds: int = LATENCY_ROUNDS, megabytes: float = 1) -> tuple[dict, list[str]]:
    """{(kind, length): [strings of round 1, strings of round 2, ...]} and notes.

    The strings come from the first `megabytes` MiB of the corpora in `data_dir`; a row gets
    `pool` distinct strings per round, different in every round (fewer if the text has fewer).
    """
    rows = rows or LATENCY_ROWS
    texts, notes = {}, []
    for corpus in ("english", "code", "multilingual"):
        try:
            raw, _ = load_corpus(data_dir, corpus, megabytes)
            text = raw.decode("utf-8", errors="replace")
        except (SystemExit, OSError):
            notes.append(f"latency: no {corpus} corpus in {data_dir}; its rows use a short built-in text")
            text = _FALLBACK_TEXT[corpus]
        if corpus != "code":
            text = " ".join(text.split())
        texts[corpus] = text
    samples = {}
    for kind, n in rows:
        if kind == "x run":
            samples[(kind, n)] = [["x" * n]] * rounds
            continue
        if kind == "char":
            ascii_chars = [chr(c) for c in range(33, 127)]
            other = list(dict.fromkeys(c for c in texts["multilingual"] if ord(c) > 127 and c.isprintable()))
            both = [c for pair in zip(ascii_chars, other) for c in pair]
            strings = both[: pool * rounds]
        else:
            corpus = {"prose": "english", "code": "code", "unicode": "multilingual"}[kind]
            strings = _windows(kind, texts[corpus], n, pool * rounds)
        if len(strings) < rounds:
            notes.append(f"latency: only {len(strings)} distinct {kind} strings of {n} characters")
            strings = (strings * rounds)[:rounds] if strings else ["x" * n] * rounds
        samples[(kind, n)] = [strings[r::rounds] for r in range(rounds)]
    return samples, notes


def best_per_call(fns: dict, rounds: list[list[str]], calls: int) -> dict:
    """Microseconds per call of each function in `fns`: `calls` calls per round, cycling
    through that round's strings; the best round counts.  The functions take turns within
    each round (so drift hits all alike); the garbage collector is off while a round runs."""
    best = {name: float("inf") for name in fns}
    for f in fns.values():  # warm up (lazy tables, first-use costs)
        for s in rounds[0][:10]:
            f(s)
    for pool in rounds:
        seq = (pool * (calls // len(pool) + 1))[:calls]
        for name, f in fns.items():
            gc.collect()
            gc.disable()
            try:
                t0 = time.perf_counter()
                for s in seq:
                    f(s)
                dt = time.perf_counter() - t0
            finally:
                gc.enable()
            best[name] = min(best[name], dt / calls)
    return {name: t * 1e6 for name, t in best.items()}


def per_call(f, s: str, calls: int) -> float:
    """Microseconds per call of f(s), best of LATENCY_ROUNDS rounds of `calls` calls."""
    return best_per_call({"f": f}, [[s]] * LATENCY_ROUNDS, calls)["f"]


def latency_encoders(name: str, ranks_dir: Path):
    """(bpekit, tiktoken) encodings `name` with the same ranks, pattern and special tokens:
    bpekit.get_encoding(name, data_dir=ranks_dir) and a tiktoken.Encoding built from the same
    rank file, bpekit's pat_str and special tokens (so `encode` checks the same specials)."""
    import bpekit
    import tiktoken
    from tiktoken.load import load_tiktoken_bpe

    ours = bpekit.get_encoding(name, data_dir=ranks_dir)
    theirs = tiktoken.Encoding(f"{name}-bench", pat_str=ours.pat_str,
                               mergeable_ranks=load_tiktoken_bpe(str(Path(ranks_dir) / f"{name}.tiktoken")),
                               special_tokens=dict(ours.special_tokens))
    return ours, theirs


def latency_peer(peer: str, name: str, ranks_dir: Path):
    """A peer's tiktoken-shaped encoding `name` with its special tokens, for the latency rows:
    gigatoken: Tokenizer.from_tiktoken(<rank file>) (pattern and specials from the file name)
    .as_tiktoken(); quicktok: quicktok.get_encoding(name) (its bundled ranks)."""
    if peer == "gigatoken":
        import gigatoken

        return gigatoken.Tokenizer.from_tiktoken(str(Path(ranks_dir) / f"{name}.tiktoken")).as_tiktoken()
    if peer == "quicktok":
        import quicktok

        return quicktok.get_encoding(name)
    raise ValueError(peer)


LATENCY_HEADERS = ["encoding", "chars", "text", "method", "bpekit µs", "tiktoken µs", "tiktoken/bpekit"]


def latency_headers(peers=()) -> list[str]:
    """LATENCY_HEADERS plus, per peer, its µs and its time over bpekit's."""
    return LATENCY_HEADERS + [h for p in peers for h in (f"{p} µs", f"{p}/bpekit")]


def latency_rows(encodings: list[str], ranks_dir: Path, samples: dict, calls: int,
                 failures: list[str], progress=True, peers=(), peer_diffs=None) -> list[list[str]]:
    """The latency table (latency_headers(peers)) for `encodings`.  Also checks that bpekit's
    ids, and each peer's, equal tiktoken's for every sample string and method; bpekit's
    differences go to `failures`, a peer's to `peer_diffs` (reported, not failures)."""
    rows = []
    for name in encodings:
        ours, theirs = latency_encoders(name, ranks_dir)
        others = {p: latency_peer(p, name, ranks_dir) for p in peers}
        for (kind, n), rounds in samples.items():
            distinct = list(dict.fromkeys(s for pool in rounds for s in pool))
            for method in ("encode", "encode_ordinary"):
                fns = {"bpekit": getattr(ours, method), "tiktoken": getattr(theirs, method)}
                fns.update({p: getattr(e, method) for p, e in others.items()})
                ref = [list(fns["tiktoken"](s)) for s in distinct]
                for who, f in fns.items():
                    if who == "tiktoken":
                        continue
                    bad = sum(1 for s, r in zip(distinct, ref) if list(f(s)) != r)
                    if bad:
                        msg = (f"latency {who} {name} {kind} {n} chars {method}: ids differ from "
                               f"tiktoken on {bad}/{len(distinct)} strings")
                        (failures if who == "bpekit" or peer_diffs is None else peer_diffs).append(msg)
                us = best_per_call(fns, rounds, calls)
                row = [name, n, kind, method, f"{us['bpekit']:.2f}", f"{us['tiktoken']:.2f}",
                       f"{us['tiktoken'] / us['bpekit']:.2f}"]
                for p in others:
                    row += [f"{us[p]:.2f}", f"{us[p] / us['bpekit']:.2f}"]
                rows.append(row)
            if progress:
                print(f"  latency {name} {kind} {n} done", file=sys.stderr, flush=True)
    return rows
