"""Short-string latency: microseconds per call of encode / encode_ordinary, bpekit vs
tiktoken, same ranks and special tokens. Best of 3 rounds of N calls each.

Strings of 1, 10, 45, 85 and 100 characters: ASCII prose, code and mixed Unicode cut from the
corpora (300 distinct strings per round, different in each round; a round cycles through
them), single characters, and 'x' * 100.  The same measurement is encode_bench.py's
`latency` section (the code is in _common.py); this script runs only that.

    python bench/latency_bench.py [--data DIR] [--ranks DIR] [--calls 20000] [--encodings cl100k_base]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=C.default_data_dir(),
                    help="directory with the corpora (default: $BPEKIT_DATA or ../shared/data)")
    ap.add_argument("--ranks", type=Path, default=None,
                    help="directory with the .tiktoken rank files (default: --data)")
    ap.add_argument("--calls", type=int, default=20000, help="calls per round (default 20000)")
    ap.add_argument("--encodings", default="cl100k_base", help="comma-separated: cl100k_base,o200k_base")
    args = ap.parse_args(argv)
    ranks = args.ranks or args.data
    encodings = [e for e in args.encodings.split(",") if e]

    print(f"# latency_bench: {C.versions(['bpekit', 'tiktoken'])}")
    print(f"# {C.machine_line()}")
    started = time.perf_counter()
    samples, notes = C.latency_samples(args.data)
    for n in notes:
        print(f"# note: {n}")
    failures: list[str] = []
    rows = C.latency_rows(encodings, ranks, samples, args.calls, failures)
    print(f"## short-string latency: µs per call, best of {C.LATENCY_ROUNDS} rounds of {args.calls} calls; "
          f"tiktoken/bpekit > 1 means bpekit is faster")
    print(C.table(C.LATENCY_HEADERS, rows, right={1, 4, 5, 6}))
    for kind, what in C.LATENCY_KINDS.items():
        print(f"  {kind}: {what}")
    print(f"# {C.machine_line()}; total {time.perf_counter() - started:.0f} s")
    for f in failures:
        print(f"FAILED {f}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
