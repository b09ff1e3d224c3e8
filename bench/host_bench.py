"""The cost of each host binding: encode MB/s of 1 MB of the shared English sample with
cl100k_base through C, Python, Go and Node (`encode_ordinary`; Node also with the text
as bytes), one thread, the median of --repeat runs, and the median latency of one short
string ("hello world"); ratios to C, measured in one run.

    python bench/host_bench.py [--repeat 11] [--rounds 5]

Needs the library built (`make lib`), the Python package installed (`make demo` does it),
Go and Node (the Node package's koffi: `make test-node` installs it), and BPEKIT_DATA's
english.txt.xz and cl100k_base.tiktoken.
"""

from __future__ import annotations

import argparse
import json
import lzma
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build" / "bench-hosts"


def prepare(data: Path) -> tuple[Path, Path]:
    import bpekit

    BUILD.mkdir(parents=True, exist_ok=True)
    text = lzma.open(data / "english.txt.xz").read(1 << 20)
    text = text[: text.rfind(b"\n") + 1].decode("utf-8")
    text_file = BUILD / "english-1mb.txt"
    text_file.write_text(text, encoding="utf-8")
    tok_file = BUILD / "cl100k.bpekit"
    bpekit.get_encoding("cl100k_base", data_dir=data).save(tok_file)
    return tok_file, text_file


def python_line(tok_file: Path, text_file: Path, repeat: int) -> dict:
    import bpekit

    enc = bpekit.load(tok_file)
    text = text_file.read_text(encoding="utf-8")
    times, n = [], 0
    for r in range(repeat + 1):
        t0 = time.perf_counter()
        n = len(enc.encode_ordinary(text))
        if r:
            times.append(time.perf_counter() - t0)
    lat = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(20000):
            enc.encode_ordinary("hello world")
        lat.append((time.perf_counter() - t0) / 20000)
    return {"host": "python", "mb_s": round(len(text.encode()) / 1e6 / statistics.median(times), 2), "tokens": n,
            "short_ns": round(statistics.median(lat) * 1e9)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=11)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    data = Path(os.environ.get("BPEKIT_DATA", ROOT.parent / "shared" / "data"))
    if not (data / "english.txt.xz").exists() or not (data / "cl100k_base.tiktoken").exists():
        print(f"host_bench: skipped: {data} lacks english.txt.xz or cl100k_base.tiktoken", file=sys.stderr)
        return 0
    tok_file, text_file = prepare(data)
    lib = ROOT / "target" / "release"
    env = {**os.environ, "BPEKIT_LIB": str(lib / "libbpekit.so"), "CGO_CFLAGS": f"-I{ROOT / 'include'}",
           "CGO_LDFLAGS": f"-L{lib} -Wl,-rpath,{lib}"}
    subprocess.run(["cc", "-O2", "-std=c11", f"-I{ROOT / 'include'}", str(ROOT / "bench/hosts/bench.c"), f"-L{lib}",
                    "-lbpekit", f"-Wl,-rpath,{lib}", "-o", str(BUILD / "bench_c")], check=True)
    subprocess.run(["go", "build", "-o", str(BUILD / "bench_go"), "."], cwd=ROOT / "bench/hosts/go", env=env,
                   check=True)
    argv = [str(tok_file), str(text_file), str(args.repeat)]
    commands = {"c": [str(BUILD / "bench_c")], "go": [str(BUILD / "bench_go")],
                "node": ["node", str(ROOT / "bench/hosts/bench.js")]}
    # Hosts interleaved, --rounds times; each figure is the median over the rounds (this
    # machine's noise moves single runs by a third).
    runs: dict[str, list[dict]] = {}
    for _ in range(args.rounds):
        for host, command in commands.items():
            out = subprocess.run(command + argv, env=env, check=True, capture_output=True, text=True).stdout
            runs.setdefault(host, []).append(json.loads(out))
        runs.setdefault("python", []).append(python_line(tok_file, text_file, args.repeat))
    rows = {host: {k: (statistics.median(r[k] for r in rs) if k != "host" else host) for k in rs[0]}
            for host, rs in runs.items()}
    c = rows["c"]
    assert len({r["tokens"] for r in rows.values()}) == 1, f"hosts disagree on the token count: {rows}"
    print(f"1 MB English, cl100k_base, one thread, median of {args.rounds} interleaved rounds of {args.repeat} runs; "
          "ratio to C")
    print(f"{'host':8} {'MB/s':>8} {'vs C':>6}   {'short ns':>9} {'vs C':>6}")
    for host in ("c", "go", "node", "python"):
        r = rows[host]
        print(f"{host:8} {r['mb_s']:8.1f} {r['mb_s'] / c['mb_s']:6.2f}   {r['short_ns']:9.0f} "
              f"{r['short_ns'] / c['short_ns']:6.2f}")
    r = rows["node"]
    print(f"{'node (bytes in)':8} {r['mb_s_bytes']:.1f} MB/s, {r['mb_s_bytes'] / c['mb_s']:.2f} of C "
          "(a Buffer, as read from a file: no UTF-16 to UTF-8 conversion)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
