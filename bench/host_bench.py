"""The cost of each host binding: encode MB/s of 1 MB of the shared English sample with
cl100k_base through C, Python, Go and Node (`encode_ordinary`; Node also with the text
as bytes, and through `encodeInto`), one thread, and the latency of one short string
("hello world"); ratios to C.

    python bench/host_bench.py [--samples 41] [--short-samples 9]

Each host is a long-running process (bench/hosts/) answering one command at a time, and
the samples are interleaved: one encode on each host in turn (the order rotating), so
the machine's drifts (frequency, neighbours) fall on every host alike; each figure is
the median of its samples. Needs the library built (`make lib`), the Python package
installed (`make demo` does it), Go and Node (the Node package's koffi: `make test-node`
installs it), and BPEKIT_DATA's english.txt.xz and cl100k_base.tiktoken.
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


class PythonHost:
    """The Python host, in this process: the commands of bench/hosts/bench.c."""

    def __init__(self, tok_file: Path, text_file: Path):
        import bpekit

        self.enc = bpekit.load(tok_file)
        self.text = text_file.read_text(encoding="utf-8")

    def ask(self, command: str) -> float:
        if command == "tokens":
            return len(self.enc.encode_ordinary(self.text))
        if command == "big":
            t0 = time.perf_counter()
            self.enc.encode_ordinary(self.text)
            return time.perf_counter() - t0
        calls = 20000
        t0 = time.perf_counter()
        for _ in range(calls):
            self.enc.encode_ordinary("hello world")
        return (time.perf_counter() - t0) / calls * 1e9


class ProcessHost:
    """A host in bench/hosts/, as a child process answering one command per line."""

    def __init__(self, command: list[str], env: dict):
        self.proc = subprocess.Popen(command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def ask(self, command: str) -> float:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.proc.args[0]} exited with {self.proc.wait()}")
        return float(line)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=41, help="timed encodes of the 1 MB text per host")
    ap.add_argument("--short-samples", type=int, default=9, help="timed runs of 20000 short encodes per host")
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
    argv = [str(tok_file), str(text_file)]
    hosts = {"c": ProcessHost([str(BUILD / "bench_c")] + argv, env),
             "go": ProcessHost([str(BUILD / "bench_go")] + argv, env),
             "node": ProcessHost(["node", str(ROOT / "bench/hosts/bench.js")] + argv, env),
             "python": PythonHost(tok_file, text_file)}
    try:
        counts = {name: int(host.ask("tokens")) for name, host in hosts.items()}
        assert len(set(counts.values())) == 1, f"hosts disagree on the token count: {counts}"
        # (host, command) pairs, each sampled once per round in a rotating order; a first
        # round warms every host up and is not counted.
        jobs = [(h, "big") for h in hosts] + [("node", "bytes"), ("node", "into")]
        samples: dict[tuple[str, str], list[float]] = {job: [] for job in jobs}
        for r in range(args.samples + 1):
            for job in jobs[r % len(jobs):] + jobs[:r % len(jobs)]:
                t = hosts[job[0]].ask(job[1])
                if r:
                    samples[job].append(t)
        short: dict[str, list[float]] = {h: [] for h in hosts}
        for r in range(args.short_samples + 1):
            for h in list(hosts)[r % len(hosts):] + list(hosts)[:r % len(hosts)]:
                t = hosts[h].ask("short")
                if r:
                    short[h].append(t)
    finally:
        for host in hosts.values():
            if isinstance(host, ProcessHost):
                host.close()
    size = text_file.stat().st_size
    mb_s = {job: size / 1e6 / statistics.median(ts) for job, ts in samples.items()}
    # The ratio to C per round, then its median: samples of one round are taken within
    # milliseconds of each other, so a slow spell of the machine cancels out of it.
    vs_c = {job: statistics.median(c / t for c, t in zip(samples[("c", "big")], ts)) for job, ts in samples.items()}
    ns = {h: statistics.median(ts) for h, ts in short.items()}
    short_vs_c = {h: statistics.median(t / c for c, t in zip(short["c"], ts)) for h, ts in short.items()}
    print(f"1 MB English ({counts['c']} tokens), cl100k_base, one thread; {args.samples} interleaved rounds (short: "
          f"{args.short_samples} x 20000 calls); MB/s and ns are medians over the rounds, 'vs C' the median of the "
          "per-round ratios")
    print(f"{'host':16} {'MB/s':>8} {'vs C':>6}   {'short ns':>9} {'vs C':>6}")
    for h in hosts:
        print(f"{h:16} {mb_s[(h, 'big')]:8.1f} {vs_c[(h, 'big')]:6.2f}   {ns[h]:9.0f} {short_vs_c[h]:6.2f}")
    for job, what in ((("node", "bytes"), "a Buffer in (as read from a file)"),
                      (("node", "into"), "encodeInto: a string in, a Uint32Array reused")):
        print(f"{'node ' + job[1]:16} {mb_s[job]:8.1f} {vs_c[job]:6.2f}   ({what})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
