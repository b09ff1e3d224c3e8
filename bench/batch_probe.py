"""Batch and list-output probe: MB/s of bpekit's batch encode to a flat array (1 and 2
threads) against gigatoken's ``encode_batch``, and of ``encode_ordinary``'s list output
against ``encode_to_numpy`` and gigatoken's list output, per document, on the corpora.

    python bench/batch_probe.py [--megabytes 8] [--repeat 5] [--encoding cl100k_base]
                                [--corpora english,code,multilingual] [--no-list]

Each figure is the best of ``--repeat`` runs (the machine is shared: best-of is the
stable statistic); every row of one corpus is measured in the same run, interleaved.
Beside wall-clock MB/s, "cpu" is MB per CPU-second of the whole process (all threads):
on a busy machine a thread count's wall time says little, but the CPU it costs per MB
says whether the threads do extra work (scaling is then wall 1 thr / wall 2 thr on idle
cores, at best cpu 2 thr / cpu 1 thr times the threads).
Ids are checked equal to bpekit's per-document ``encode_ordinary`` before timing.
gigatoken is skipped, with a note, when it is not installed.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import default_data_dir, load_corpus, split_documents  # noqa: E402

import numpy as np  # noqa: E402

import bpekit  # noqa: E402


def cpu() -> float:
    """CPU seconds used by this process so far, all threads."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def timed(fn) -> tuple[float, float]:
    """Wall and CPU seconds of one call."""
    w, c = time.perf_counter(), cpu()
    fn()
    return time.perf_counter() - w, cpu() - c


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--megabytes", type=float, default=8)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--encoding", default="cl100k_base")
    ap.add_argument("--corpora", default="english,code,multilingual")
    ap.add_argument("--no-list", action="store_true", help="skip the list-output rows")
    ap.add_argument("--no-batch", action="store_true", help="skip the batch rows")
    args = ap.parse_args()

    data = default_data_dir()
    enc = bpekit.get_encoding(args.encoding, data_dir=data)
    try:
        import gigatoken

        giga = gigatoken.Tokenizer.from_tiktoken(str(data / f"{args.encoding}.tiktoken"))
        giga_list = giga.as_tiktoken()
    except Exception as e:  # noqa: BLE001
        giga = giga_list = None
        print(f"gigatoken skipped: {e}")

    for name in args.corpora.split(","):
        raw, starts = load_corpus(data, name, args.megabytes)
        docs = split_documents(raw, starts)
        mb = sum(len(d.encode()) for d in docs) / 1e6
        whole = "".join(docs)
        print(f"\n{name}: {len(docs)} documents, {mb:.1f} MB, {mb * 1e6 / len(docs) / 1e3:.1f} KB/doc mean")

        expect = [enc.encode_ordinary(d) for d in docs]
        ids, offs = enc.encode_batch_to_numpy(docs, num_threads=2, disallowed_special=())
        assert offs[-1] == len(ids) and all(
            ids[offs[i] : offs[i + 1]].tolist() == expect[i] for i in range(len(docs))
        ), "batch ids differ"
        if giga is not None:
            got = giga.encode_batch(docs, parallel=False)
            assert all(list(got[i]) == expect[i] for i in range(0, len(docs), max(1, len(docs) // 50))), "gigatoken differs"

        rows = {}
        if not args.no_batch:
            rows["bpekit encode_to_numpy(one joined text)"] = lambda: enc.encode_to_numpy(whole, disallowed_special=())
            for t in (1, 2):
                rows[f"bpekit encode_batch_to_numpy, {t} thr"] = (
                    lambda t=t: enc.encode_batch_to_numpy(docs, num_threads=t, disallowed_special=())
                )
                if giga is not None:
                    rows[f"gigatoken encode_batch, {t} thr"] = lambda t=t: giga.encode_batch(docs, parallel=t > 1)
        if not args.no_list:
            rows["bpekit encode_ordinary (list), per doc"] = lambda: [enc.encode_ordinary(d) for d in docs]
            rows["bpekit encode_to_numpy, per doc"] = lambda: [enc.encode_to_numpy(d, disallowed_special=()) for d in docs]
            if giga_list is not None:
                rows["gigatoken as_tiktoken().encode_ordinary (list)"] = lambda: [giga_list.encode_ordinary(d) for d in docs]
                rows["gigatoken encode (numpy), per doc"] = lambda: [giga.encode(d) for d in docs]
        for fn in rows.values():  # warm up (caches, pools, first-touch pages)
            fn()
        best_s = {k: float("inf") for k in rows}
        best_c = {k: float("inf") for k in rows}
        for _ in range(args.repeat):
            for k, fn in rows.items():
                w, c = timed(fn)
                best_s[k], best_c[k] = min(best_s[k], w), min(best_c[k], c)
        speed = {k: mb / s for k, s in best_s.items()}
        for k, v in speed.items():
            print(f"  {k:<50} {v:8.1f} MB/s   cpu {mb / max(best_c[k], 1e-9):8.1f} MB/cpu-s")
        b1, b2 = speed.get("bpekit encode_batch_to_numpy, 1 thr"), speed.get("bpekit encode_batch_to_numpy, 2 thr")
        if b1 and b2:
            line = f"  ratios: batch 2 thr / 1 thr {b2 / b1:.2f}x"
            g2 = speed.get("gigatoken encode_batch, 2 thr")
            if g2:
                line += f"; bpekit / gigatoken batch, 2 thr {b2 / g2:.2f}x, 1 thr {b1 / speed['gigatoken encode_batch, 1 thr']:.2f}x"
            print(line)
        lst, gl = speed.get("bpekit encode_ordinary (list), per doc"), speed.get("gigatoken as_tiktoken().encode_ordinary (list)")
        if lst and gl:
            print(f"  ratios: list bpekit / gigatoken {lst / gl:.2f}x")


if __name__ == "__main__":
    main()
