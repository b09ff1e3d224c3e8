"""docs/distributed.md's 1 TB plan, computed from count_scaling.py's measurements.

    python bench/count_scaling.py --data /tmp/bigdata --json /tmp/count-scaling.json
    python bench/plan_1tb.py /tmp/count-scaling.json [--tib 1] [--unit-mb 64] [--fan-in 8] [--workers 16,64,256]

Everything here is arithmetic on the measured figures; the model (stated with each number):

- distinct pieces d(n) = K * n^beta (n in MiB), the ``mix`` corpus's Heaps fit ("fit"), and
  a second estimate that continues from the largest measured point with the exponent of the
  last three points ("local"), and a third with an assumed ``--low-beta`` ("low"); the true value at 1 TiB is most likely at or below the
  lower of the two, since the exponent falls as the corpus grows on all our corpora but
  code (see the doc for what this does not cover, e.g. web text);
- a count table takes the bytes per piece of the merged tables, extrapolated on a line in
  log10(MiB) (it grows: rarer pieces are longer);
- a unit's table is the measured mean for units of ``--unit-mb`` (8, 16, 32, 64 or 128);
- merge loop peak RSS and CPU time scale with the pieces, at the measured per-piece
  slope of the largest table (1 thread);
- counting and encoding run at the measured MiB per CPU second of one thread (the mean of
  the three corpora), the tree merge at the measured input MiB per CPU second.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

MIB = 1 << 20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("json", type=Path)
    ap.add_argument("--tib", type=float, default=1.0)
    ap.add_argument("--unit-mb", type=int, default=64)
    ap.add_argument("--fan-in", type=int, default=8)
    ap.add_argument("--workers", default="16,64,256")
    ap.add_argument("--low-beta", type=float, default=0.6,
                    help="an assumed exponent for the rest of the way, for a third, lower estimate (default 0.6)")
    args = ap.parse_args()
    m = json.loads(args.json.read_text())
    n = args.tib * (1 << 20)  # MiB
    fit = m["growth"]["fits"]["mix"]
    mix_rows = [r for r in m["growth"]["rows"] if r["corpus"] == "mix"]
    last = mix_rows[-1]

    def d_fit(x: float) -> float:
        return fit["K"] * x ** fit["beta"]

    def d_local(x: float) -> float:
        return last["pieces"] * (x / last["mib"]) ** fit["local_beta_last3"]

    merged = m["merged"]
    # Table bytes per piece grow with the text (rarer pieces are longer): a least-squares
    # line in log10(MiB) through the merged tables, extrapolated.
    xs = [math.log10(r["text_mib"]) for r in merged]
    ys = [r["table_bytes"] / r["pieces"] for r in merged]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)

    def bpp_at(mib: float) -> float:
        return my + slope * (math.log10(mib) - mx)

    bpp = bpp_at(n)
    unit = next(r for r in m["unit_tables"] if r["unit_mib"] == args.unit_mb)
    print(f"# from {args.json}: mix Heaps fit K={fit['K']:.0f} beta={fit['beta']:.3f} "
          f"(local beta {fit['local_beta_last3']:.3f} at {last['mib']:.0f} MiB, {last['pieces']} pieces); "
          f"table bytes per piece {ys[0]:.1f} at {merged[0]['text_mib']:.0f} MiB, {ys[-1]:.1f} at "
          f"{merged[-1]['text_mib']:.0f} MiB, +{slope:.2f} per decade -> {bpp:.1f} at {n:.0f} MiB; {args.unit_mb} MiB units: {unit['table_mib_mean']:.2f} MiB tables")
    print()
    est = {"fit": d_fit, "local": d_local}
    print(f"## distinct pieces at {args.tib:g} TiB")
    for k, f in est.items():
        print(f"  {k:5}: {f(n) / 1e6:7.0f} M pieces, merged table {f(n) * bpp / 2**30:6.1f} GiB")
    low = last["pieces"] * (n / last["mib"]) ** args.low_beta
    print(f"  low  : {low / 1e6:7.0f} M pieces (the largest measured point continued with beta {args.low_beta}, "
          f"an assumption: the exponent falling further)")
    kept = merged[-1]["kept"]
    for mc, v in kept.items():
        share = v / merged[-1]["pieces"]
        print(f"  count >= {mc:>3}: {100 * share:4.1f}% of the pieces at {merged[-1]['text_mib']:.0f} MiB -> "
              f"{share * d_local(n) / 1e6:.0f}-{share * d_fit(n) / 1e6:.0f} M pieces, "
              f"{share * d_local(n) * bpp / 2**30:.1f}-{share * d_fit(n) * bpp / 2**30:.1f} GiB")
    print()

    # ---- tree reduction ----
    units = math.ceil(n / args.unit_mb)
    print(f"## tree reduction: {units} units of {args.unit_mb} MiB, fan-in {args.fan_in}")
    level_tables, text_per, size = units, args.unit_mb, unit["table_mib_mean"] * MIB
    moved = {"fit": 0.0, "local": 0.0}
    levels = []
    depth = 0
    while level_tables > args.fan_in:
        nxt = math.ceil(level_tables / args.fan_in)
        ins = {}
        for k, f in est.items():
            s = unit["table_mib_mean"] * MIB if depth == 0 else f(text_per) * bpp_at(text_per)
            ins[k] = level_tables * s
            moved[k] += ins[k]
        levels.append((depth + 1, nxt, level_tables, text_per, ins))
        level_tables, text_per, depth = nxt, text_per * args.fan_in, depth + 1
    final_in = {k: (level_tables * (unit["table_mib_mean"] * MIB if depth == 0 else f(text_per) * bpp_at(text_per)))
                for k, f in est.items()}
    for k in moved:
        moved[k] += final_in[k]
    for lv, tasks, tabs, text, ins in levels:
        print(f"  level {lv}: {tasks:5} merge tasks take {tabs:5} tables of {text:8.0f} MiB of text: "
              f"{ins['local'] / 2**30:6.1f}-{ins['fit'] / 2**30:6.1f} GiB in")
    print(f"  train task: merges the last {level_tables} tables ({final_in['local'] / 2**30:.1f}-"
          f"{final_in['fit'] / 2**30:.1f} GiB in), prunes, runs the merge loop")
    print(f"  bytes moved in all: {moved['local'] / 2**30:.0f}-{moved['fit'] / 2**30:.0f} GiB "
          f"(every table crosses the network once; the final table stays on the train task's worker)")
    print()

    # ---- merge loop ----
    loop = m["merge_loop"]
    big = max(loop, key=lambda r: (r["pieces"], -r["vocab"]))
    same = [r for r in loop if r["vocab"] == big["vocab"]]
    small = min(same, key=lambda r: r["pieces"])
    rss_slope = (big["peak_mib"] - small["peak_mib"]) * MIB / (big["pieces"] - small["pieces"])
    cpu_per_piece = {r["vocab"]: r["finish_cpu_s"] / r["pieces"] for r in loop if r["pieces"] == big["pieces"]}
    print(f"## merge loop (one process, 1 thread): {rss_slope:.0f} bytes of peak RSS per piece "
          f"(slope between {small['pieces']} and {big['pieces']} pieces); CPU "
          + ", ".join(f"{v * 1e6:.1f} us/piece at vocab {k}" for k, v in sorted(cpu_per_piece.items())))
    for label, share in [("all pieces", 1.0)] + [(f"count >= {mc}", v / merged[-1]["pieces"]) for mc, v in kept.items()]:
        lo, hi = share * d_local(n), share * d_fit(n)
        cpu = max(cpu_per_piece.values())
        print(f"  {label:13}: peak {lo * rss_slope / 2**30:6.0f}-{hi * rss_slope / 2**30:6.0f} GiB, "
              f"{lo * cpu / 3600:5.1f}-{hi * cpu / 3600:5.1f} CPU hours")
    print()

    # ---- phases ----
    speed = m["speed"]
    count_rate = sum(r["mib"] for r in speed) / sum(r["count_cpu_s"] for r in speed)
    enc_rate = sum(r["mib"] for r in speed) / sum(r["encode_cpu_s"] for r in speed)
    mm = next(r for r in m["merge_memory"] if r["case"].startswith("all "))
    merge_rate = mm["inputs_mib"] / mm["cpu_s"]
    tokens_per_mib = None
    if all("tokens" in r for r in speed):
        tokens_per_mib = sum(r["tokens"] for r in speed) / sum(r["mib"] for r in speed)
    print(f"## time per phase (per worker, 1 thread: count {count_rate:.0f} MiB/s, encode {enc_rate:.0f} MiB/s, "
          f"tree merge {merge_rate:.0f} MiB/s of input; CPU time, so I/O and network are not in it)")
    for w in [int(x) for x in args.workers.split(",")]:
        count_s = n / (count_rate * w)
        tree_s = 0.0
        for _, tasks, tabs, _, ins in levels:
            per_task = ins["fit"] / tabs * args.fan_in / MIB / merge_rate
            tree_s += math.ceil(tasks / w) * per_task
        final_merge_s = final_in["fit"] / MIB / merge_rate
        enc_s = n / (enc_rate * w)
        line = (f"  {w:4} workers: count {count_s / 60:6.1f} min, tree merge {tree_s / 60:5.1f} min, "
                f"last merge {final_merge_s / 60:4.1f} min (one worker), encode phase 1 {enc_s / 60:6.1f} min")
        if tokens_per_mib:
            line += f", phase 2 writes {n * tokens_per_mib * 4 / 2**40:.2f} TiB (uint32 ids)"
        print(line)
    print("  + the merge loop above (one worker, independent of N)")


if __name__ == "__main__":
    main()
