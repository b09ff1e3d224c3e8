"""Instructions per operation, two installs of bpekit side by side, under callgrind.

Wall-clock benchmarks on a shared 2-core machine move by 10-30% from run to run; the
number of instructions a call executes does not (with ``PYTHONHASHSEED`` fixed and one
thread). This script is for changes that must not change speed, such as a
restructuring: it runs the same workload with two Python environments (each with its
own bpekit installed) under ``valgrind --tool=callgrind`` and prints, per operation,
the instructions of each and their ratio. It measures work done, not time: cache misses
and memory layout are not in it, so use it next to ``encode_bench.py``, not instead.

    python bench/instructions.py --before /tmp/venv-a/bin/python --after /tmp/venv-b/bin/python

Operations (each after a warm-up call, with the corpora read and numpy imported before
the first):
short texts of 1 to 45 characters through ``encode`` and ``encode_ordinary`` (per call),
the first MiB of each corpus one document (paragraph) per call through
``encode_ordinary``, ``encode_to_numpy`` and ``encode``, and training a 2048-token
vocabulary on the first MiB of english and code (whole operation).

How: the child calls ``os.getppid()`` between operations and callgrind is told to dump
its counts at each such call (``--dump-before=getppid``), so each dump holds exactly one
operation.
"""

from __future__ import annotations

import argparse
import glob
import lzma
import os
import subprocess
import sys
import tempfile
from pathlib import Path

SHORT = {
    "1 char": ["a", "b", " ", "é", "x"],
    "2 prose": ["hi", "of", "to", "an"],
    "5 code": ["x = 1", "def f", "(a, b"],
    "5 with <": ["a < b", "<div>", "x<y z"],
    "10 prose": ["the quick ", "brown fox ", "jumps over"],
    "45 prose": ["The quick brown fox jumps over the lazy dog, a"],
}
SHORT_ROUNDS = 600


def child(encoding: str, data: str) -> None:
    """The workload: prints one `name|calls` per operation, in order."""
    import bpekit

    enc = bpekit.get_encoding(encoding, data_dir=data)
    corpora = {}
    for corpus in ("english", "code", "multilingual"):
        raw = lzma.open(f"{data}/{corpus}.txt.xz").read(1 << 20)
        raw = raw[: raw.rfind(b"\n") + 1]
        corpora[corpus] = [d for d in raw.decode("utf-8", "replace").split("\n\n") if d]
    enc.encode_to_numpy("warm-up: imports numpy")
    names = []

    def mark(name: str, calls: int) -> None:
        os.getppid()  # callgrind dumps here: the counts since the last mark
        names.append(f"{name}|{calls}")

    for label, texts in SHORT.items():
        for method in ("encode", "encode_ordinary"):
            f = getattr(enc, method)
            for t in texts:
                f(t)
            mark(f"{label:9s} {method}", SHORT_ROUNDS * len(texts))
            for _ in range(SHORT_ROUNDS):
                for t in texts:
                    f(t)
    for corpus, docs in corpora.items():
        for method in ("encode_ordinary", "encode_to_numpy", "encode"):
            f = getattr(enc, method)
            f(docs[0])
            mark(f"1 MiB {corpus} {method}", 1)
            for d in docs:
                f(d)
    for corpus in ("english", "code"):
        mark(f"train 2048 on 1 MiB {corpus}", 1)
        bpekit.train(corpora[corpus], 2048, num_threads=1)
    os.getppid()
    print("\n".join(names))


def measure(python: str, encoding: str, data: str, workdir: str, tag: str) -> dict[str, float]:
    out = os.path.join(workdir, f"{tag}.%p")
    env = dict(os.environ, PYTHONHASHSEED="0", RAYON_NUM_THREADS="1")
    names = subprocess.run(
        ["valgrind", "--tool=callgrind", "--dump-before=getppid", f"--callgrind-out-file={out}",
         python, __file__, "--child", encoding, "--data", data],
        env=env, check=True, capture_output=True, text=True,
    ).stdout.split("\n")
    dumps = sorted(glob.glob(os.path.join(workdir, f"{tag}.*.*")), key=lambda p: int(p.rsplit(".", 1)[1]))
    result = {}
    for i, entry in enumerate(n for n in names if n):
        name, calls = entry.rsplit("|", 1)
        total = next(int(line.split()[1]) for line in open(dumps[i + 1]) if line.startswith(("summary:", "totals:")))
        result[name] = total / int(calls)
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--before", help="python of the environment to compare against")
    p.add_argument("--after", help="python of the environment under test")
    p.add_argument("--encodings", default="cl100k_base,o200k_base")
    p.add_argument("--data", default=os.environ.get("BPEKIT_DATA", str(Path(__file__).resolve().parents[1].parent / "shared" / "data")))
    p.add_argument("--child", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        return child(a.child, a.data)
    if not (a.before and a.after):
        p.error("--before and --after are required")
    print(f"# instructions per call (short texts) or per operation; PYTHONHASHSEED=0, one thread; data {a.data}")
    print(f"{'encoding':12s} {'operation':42s} {'before':>14s} {'after':>14s} {'after/before':>12s}")
    ratios = []
    for encoding in a.encodings.split(","):
        with tempfile.TemporaryDirectory() as d:
            before = measure(a.before, encoding, a.data, d, "before")
            after = measure(a.after, encoding, a.data, d, "after")
        for name, b in before.items():
            ratios.append(after[name] / b)
            print(f"{encoding:12s} {name:42s} {b:14,.0f} {after[name]:14,.0f} {after[name] / b:12.3f}")
    product = 1.0
    for r in ratios:
        product *= r
    print(f"# geometric mean after/before: {product ** (1 / len(ratios)):.3f} over {len(ratios)} operations")


if __name__ == "__main__":
    sys.exit(main())
