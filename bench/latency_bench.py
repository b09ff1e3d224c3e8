"""Short-string latency: microseconds per call of encode / encode_ordinary, bpekit vs
tiktoken, same cl100k_base ranks. Best of 3 rounds of N calls each.

    python bench/latency_bench.py [--data DIR] [--calls 20000]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import bpekit
import tiktoken
from tiktoken.load import load_tiktoken_bpe


def per_call(f, s: str, calls: int) -> float:
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(calls):
            f(s)
        best = min(best, (time.perf_counter() - t0) / calls)
    return best * 1e6


def main() -> None:
    here = Path(__file__).resolve().parent
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.environ.get("BPEKIT_DATA", str(here.parent.parent / "shared" / "data")))
    ap.add_argument("--calls", type=int, default=20000)
    args = ap.parse_args()
    ours = bpekit.get_encoding("cl100k_base", data_dir=args.data)
    tk = tiktoken.Encoding(
        "cl100k_base",
        pat_str=ours.pat_str,
        mergeable_ranks=load_tiktoken_bpe(str(Path(args.data) / "cl100k_base.tiktoken")),
        special_tokens=ours.special_tokens,
    )
    samples = ["a", "hello world", "The quick brown fox jumps over the lazy dog.", "naïve café, 東京 🙂 " * 5, "x" * 100]
    print(f"{'chars':>5}  {'method':16} {'bpekit us':>10} {'tiktoken us':>12} {'tiktoken/bpekit':>16}")
    for s in samples:
        for method in ("encode", "encode_ordinary"):
            a = per_call(getattr(ours, method), s, args.calls)
            b = per_call(getattr(tk, method), s, args.calls)
            print(f"{len(s):5d}  {method:16} {a:10.2f} {b:12.2f} {b / a:16.2f}")


if __name__ == "__main__":
    main()
