"""CPU seconds of each phase of training as bpekit.distributed runs it, in one process:
a fresh Trainer per file (counting, then export_counts), a fan-in-8 merge of the tables,
add_counts and the merge loop. Run it with and without MALLOC_TRIM_THRESHOLD_ in the
environment to see what Dask's nanny default does to the native code
(docs/distributed.md, "glibc's malloc left to adapt"):

    python bench/count_phases.py DIR [--separator '\\n\\n'] [--vocab 32768]
    MALLOC_TRIM_THRESHOLD_=65536 python bench/count_phases.py DIR

DIR holds the input files (*.txt), e.g. /tmp/bpekit-distributed-bench/input as
bench/distributed_bench.py builds it.
"""

from __future__ import annotations

import argparse
import glob
import os
import time

import bpekit
from bpekit._pipeline import _feed
from bpekit._train import Trainer
from bpekit.corpus import Corpus


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir")
    ap.add_argument("--separator", default="\n\n")
    ap.add_argument("--vocab", type=int, default=32768)
    ap.add_argument("--fan-in", type=int, default=8)
    a = ap.parse_args()
    files = sorted(glob.glob(os.path.join(a.dir, "*.txt")))
    if not files:
        raise SystemExit(f"no *.txt in {a.dir}")
    sep = a.separator.encode().decode("unicode_escape")
    tables, feed, export = [], 0.0, 0.0
    for f in files:
        tr = Trainer(None, num_threads=1)
        t0 = time.process_time()
        for b in Corpus([f], separator=sep).batches():
            _feed(tr, b)
        t1 = time.process_time()
        tables.append(tr.export_counts())
        feed, export = feed + t1 - t0, export + time.process_time() - t1
        tr.close()
    t0 = time.process_time()
    level = tables
    while len(level) > 1:
        level = [bpekit.merge_counts(level[i : i + a.fan_in]) for i in range(0, len(level), a.fan_in)]
    t1 = time.process_time()
    tr = Trainer(None, num_threads=1)
    tr.add_counts(level[0])
    t2 = time.process_time()
    tr.finish(a.vocab)
    t3 = time.process_time()
    env = os.environ.get("MALLOC_TRIM_THRESHOLD_")
    print(f"MALLOC_TRIM_THRESHOLD_={env}: {len(files)} files; CPU s: count {feed:.2f}, export {export:.2f}, "
          f"merges {t1 - t0:.2f}, add_counts {t2 - t1:.2f}, merge loop {t3 - t2:.2f}")


if __name__ == "__main__":
    main()
