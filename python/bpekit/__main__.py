"""``python -m bpekit SUBCOMMAND ...`` runs the ``bpekit`` command (:mod:`bpekit.cli`);
``python -m bpekit`` alone runs the demo: train a tokenizer on text that is always
there, then use it.

By default the text is the Python standard library's own source files (on every
machine with Python). ``--text FILE`` trains on a file instead (``.xz`` is read
directly), e.g. ``../shared/data/english.txt.xz``.
"""

from __future__ import annotations

import argparse
import lzma
import sys
import sysconfig
import time
from pathlib import Path

import bpekit

SAMPLE = "bpekit trains byte-level BPE like rustbpe and encodes like tiktoken: def f(x): return x ** 2  # 🙂"


def stdlib_texts(limit_bytes: int) -> list[str]:
    root = Path(sysconfig.get_paths()["stdlib"])
    texts, total = [], 0
    for path in sorted(root.rglob("*.py")):
        if "site-packages" in path.parts:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        texts.append(text)
        total += len(text.encode("utf-8"))
        if total >= limit_bytes:
            break
    return texts


def file_texts(path: Path, limit_bytes: int) -> list[str]:
    opener = lzma.open if path.suffix == ".xz" else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as f:
        data = f.read(limit_bytes)
    return data.split("\n\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m bpekit",
        description=__doc__.splitlines()[0],
        epilog="With a subcommand first (train, encode, decode, count, info, inspect), "
        "`python -m bpekit` is the `bpekit` command: `python -m bpekit SUBCOMMAND --help`.",
    )
    ap.add_argument("--text", type=Path, help="train on this file (default: the stdlib's .py files)")
    ap.add_argument("--megabytes", type=float, default=8.0, help="how much text to train on (default 8)")
    ap.add_argument("--vocab-size", type=int, default=4096)
    ap.add_argument("--sample", default=SAMPLE, help="text to encode and decode")
    args = ap.parse_args(argv)

    limit = int(args.megabytes * (1 << 20))
    t0 = time.perf_counter()
    texts = file_texts(args.text, limit) if args.text else stdlib_texts(limit)
    source = str(args.text) if args.text else f"Python {sys.version.split()[0]} stdlib sources"
    nbytes = sum(len(t.encode("utf-8")) for t in texts)
    t1 = time.perf_counter()
    enc = bpekit.train(texts, vocab_size=args.vocab_size)
    t2 = time.perf_counter()
    corpus_tokens = sum(len(enc.encode_ordinary(t)) for t in texts)
    t3 = time.perf_counter()
    ids = enc.encode_ordinary(args.sample)
    back = enc.decode(ids)

    print(f"bpekit {bpekit.__version__}")
    print(f"trained on   {len(texts)} texts, {nbytes / 1e6:.2f} MB from {source} (read in {t1 - t0:.2f} s)")
    print(f"vocab size   {enc.n_vocab} (asked for {args.vocab_size}) in {t2 - t1:.2f} s")
    print(f"encoded      the corpus: {corpus_tokens} tokens, {nbytes / corpus_tokens:.2f} bytes/token, "
          f"{nbytes / 1e6 / (t3 - t2):.1f} MB/s")
    print(f"sample       {args.sample!r}")
    print(f"tokens       {len(ids)}: {ids}")
    print(f"pieces       {[enc.decode_single_token_bytes(i) for i in ids]}")
    print(f"round trip   {'ok' if back == args.sample else 'MISMATCH'}; "
          f"compression {len(args.sample.encode()) / len(ids):.2f} bytes/token")
    return 0 if back == args.sample else 1


if __name__ == "__main__":
    # A first argument that is not an option is a subcommand (the command's parser names
    # the valid ones when it is not); options alone are the demo's.
    if len(sys.argv) > 1 and not sys.argv[1].startswith("-"):
        from bpekit.cli import main as cli_main

        sys.exit(cli_main(sys.argv[1:]))
    sys.exit(main())
