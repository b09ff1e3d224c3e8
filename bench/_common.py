"""Helpers shared by the benchmark scripts: finding and loading the corpora, running one
measurement in a child process, formatting tables.  Standard library only."""

from __future__ import annotations

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


def thread_env(threads: int) -> dict[str, str]:
    """Environment pinning every rayon pool (bpekit, rustbpe, HF tokenizers) to `threads`."""
    env = dict(os.environ)
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
    return ", ".join(parts)
