"""The ``bpekit`` command: corpus -> tokenizer -> token shards.

Subcommands: ``train``, ``encode``, ``decode``, ``count``, ``info``, ``inspect``
(``bpekit SUBCOMMAND --help``). ``train`` and ``encode`` run on a Dask cluster with
``--cluster ADDR`` or ``--workers N`` (:mod:`bpekit.distributed`; the same output files).
Results go to stdout (``--json``: one JSON object);
progress goes to stderr when it is a terminal. Exit status: 0 done, 1 a runtime error
(``bpekit: error: ...`` on stderr, naming the file and position), 2 a usage error.
"""

from __future__ import annotations

import argparse
import contextlib
import html
import json
import os
import sys
import time
from typing import Any, Iterable, Iterator, Sequence

from ._errors import TokenizerError

PROG = "bpekit"
SUBCOMMANDS = ("train", "encode", "decode", "count", "info", "inspect")


class UsageError(Exception):
    """Arguments that do not fit together (exit status 2)."""


# ==== Arguments ====


def _nonneg(s: str) -> int:
    try:
        v = int(s.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {s!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {s}")
    return v


def _positive(s: str) -> int:
    v = _nonneg(s)
    if v == 0:
        raise argparse.ArgumentTypeError("must be positive")
    return v


def _separator(s: str) -> bytes:
    """A separator typed on a command line, with backslash escapes (``"\\n\\n"``)."""
    if not s:
        raise argparse.ArgumentTypeError("must not be empty")
    try:
        # unicode_escape reads bytes as Latin-1: through UTF-8 and back, non-ASCII stays.
        return s.encode("utf-8").decode("unicode_escape").encode("latin-1")
    except (UnicodeDecodeError, UnicodeEncodeError) as e:
        raise argparse.ArgumentTypeError(f"bad escape in {s!r}: {e}") from None


def _input_options(p: argparse.ArgumentParser, *, parquet: bool = True) -> None:
    g = p.add_argument_group("input")
    g.add_argument("--input-format", choices=("txt", "jsonl", "parquet"),
                   help="the format of every source (default: from each file's extension)")
    keys = g.add_mutually_exclusive_group()
    keys.add_argument("--text-key", default="text", metavar="K",
                      help="JSON Lines: the string at this key (a dotted path into nested objects; default text)")
    keys.add_argument("--column", default="text", metavar="C", help="Parquet: the string column (default text)")
    layout = g.add_mutually_exclusive_group()
    layout.add_argument("--separator", type=_separator, metavar="SEP",
                        help='text: documents between occurrences of SEP (escapes allowed: "\\n\\n")')
    layout.add_argument("--lines", action="store_true", help="text: one document per line")
    g.add_argument("--errors", choices=("strict", "replace", "skip"), default="strict",
                   help="invalid UTF-8: an error (default), U+FFFD, or skip the document")
    g.add_argument("--doc-cap", type=_nonneg, metavar="N", help="keep at most N characters of each document")
    g.add_argument("--max-chars", type=_nonneg, metavar="N",
                   help="stop after the document that brings the total over N characters")
    g.add_argument("--chunk-bytes", type=_positive, default=4 << 20, help=argparse.SUPPRESS)


def _threads(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=_nonneg, metavar="N", help="threads (default: one per core)")


def _seconds(s: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {s!r}") from None
    if not v > 0:
        raise argparse.ArgumentTypeError("must be positive")
    return v


def _cluster_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("cluster (pip install 'bpekit[distributed]')",
                             "On a cluster, --threads is per task (default 1); --resume and --max-chars "
                             "are single-process only.")
    where = g.add_mutually_exclusive_group()
    where.add_argument("--cluster", metavar="ADDR",
                       help="run on the Dask cluster whose scheduler is at ADDR (tcp://host:8786); "
                       "the output is the files a single-process run writes")
    where.add_argument("--workers", type=_positive, metavar="N",
                       help="run on a local Dask cluster of N worker processes")
    g.add_argument("--connect-timeout", type=_seconds, default=30.0, metavar="SECONDS",
                   help="--cluster: give up connecting to the scheduler after SECONDS (default 30)")


def _json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object with the summary")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0].replace("``", ""))
    from . import __version__

    ap.add_argument("--version", action="version", version=f"bpekit {__version__}")
    sub = ap.add_subparsers(dest="command", metavar="SUBCOMMAND")
    sub.required = True

    p = sub.add_parser("train", help="corpus -> tokenizer file", description="Trains a tokenizer on a corpus.")
    p.add_argument("sources", nargs="+", metavar="SOURCE", help="files, directories, globs, - for stdin")
    p.add_argument("--vocab-size", type=_positive, required=True, metavar="N")
    p.add_argument("--pattern", metavar="NAME|REGEX",
                   help="split pattern: gpt2, cl100k_base, o200k_base, rustbpe, nanochat, llama3, qwen2, "
                        "deepseek_v3, or a regex (default cl100k_base)")
    p.add_argument("--special", action="append", default=[], metavar="TEXT", help="a special token (repeatable)")
    p.add_argument("--tiktoken", metavar="FILE", help="also write the ranks as a .tiktoken file")
    p.add_argument("-o", "--output", required=True, metavar="TOKENIZER", help="the tokenizer file to write")
    _input_options(p)
    _threads(p)
    _cluster_options(p)
    _json(p)

    p = sub.add_parser("encode", help="corpus -> token shards", description="Encodes a corpus into token shards.")
    p.add_argument("sources", nargs="+", metavar="SOURCE")
    p.add_argument("--tokenizer", required=True,
                   help="a bpekit tokenizer file, a .tiktoken file, an HF tokenizer.json (or its directory), "
                   "or an encoding name")
    p.add_argument("--format", required=True, choices=("llmc", "megatron", "nanogpt", "npy"))
    p.add_argument("--bos", metavar="X", help="id or special token written before every document")
    p.add_argument("--eos", metavar="X", help="id or special token written after every document "
                   "(nanogpt: <|endoftext|> by default)")
    p.add_argument("--shard-tokens", type=_nonneg, default=0, metavar="N",
                   help="shards of at most N tokens, OUT_PREFIX_000000... (default: one file set)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run after its last complete shard")
    p.add_argument("--force", action="store_true", help="replace the output of an earlier run")
    p.add_argument("-o", "--output", required=True, metavar="OUT_PREFIX")
    _input_options(p)
    _threads(p)
    _cluster_options(p)
    _json(p)

    p = sub.add_parser("decode", help="shard or ids -> text",
                       description="Decodes a shard (or --ids) to text on stdout.")
    p.add_argument("shard", nargs="?", metavar="SHARD")
    p.add_argument("--tokenizer", required=True)
    p.add_argument("--format", choices=("llmc", "megatron", "nanogpt", "npy"))
    p.add_argument("--ids", metavar='"1 2 3"', help="decode these ids instead of a shard")
    p.add_argument("--jsonl", action="store_true",
                   help="one JSON object per document (bos/eos of the run's manifest removed)")

    p = sub.add_parser("count", help="tokens per document / total", description="Counts tokens of a corpus.")
    p.add_argument("sources", nargs="+", metavar="SOURCE")
    p.add_argument("--tokenizer", required=True)
    p.add_argument("--per-doc", action="store_true", help="print every document's count, one per line")
    _input_options(p)
    _threads(p)
    _json(p)

    p = sub.add_parser("info", help="a shard's format, dtype, counts", description="Describes a token shard.")
    p.add_argument("shard", metavar="SHARD")
    p.add_argument("--format", choices=("llmc", "megatron", "nanogpt", "npy"))
    _json(p)

    p = sub.add_parser("convert", help="tokenizer -> bpekit file, .tiktoken or HF tokenizer.json",
                       description="Converts a tokenizer between bpekit's file, tiktoken's rank format and HF "
                       "tokenizer.json (a directory with tokenizer.json and tokenizer_config.json).")
    p.add_argument("tokenizer", metavar="TOKENIZER",
                   help="a bpekit file, a .tiktoken file, a tokenizer.json (or its directory), or an encoding name")
    p.add_argument("output", metavar="OUTPUT")
    p.add_argument("--to", choices=("bpekit", "tiktoken", "hf"),
                   help="the output's kind (default: from OUTPUT: *.tiktoken, *.bpekit, else an HF directory)")
    p.add_argument("--pattern", metavar="PATTERN",
                   help="the split pattern of a .tiktoken input (a name such as cl100k_base, or a regex); "
                   "default: its encoding's, else cl100k's")
    _json(p)

    p = sub.add_parser("inspect", help="a tokenizer's size, pattern, specials; a text's tokens",
                       description="Describes a tokenizer and shows the tokens of TEXT.")
    p.add_argument("tokenizer", metavar="TOKENIZER")
    p.add_argument("text", nargs="?", metavar="TEXT")
    p.add_argument("--html", metavar="FILE", help="write a page showing TEXT's tokens (ids on hover)")
    _json(p)
    return ap


# ==== Helpers ====


def load_tokenizer(spec: str, pattern: str | None = None) -> Any:
    """TOKENIZER: a bpekit tokenizer file, a ``.tiktoken`` file (split with ``pattern``
    if given), an HF ``tokenizer.json`` or a directory holding one, or an encoding name."""
    from ._registry import PRESETS, get_encoding
    from .core import Encoding, load
    from .hf import from_hf

    if os.path.exists(spec):
        if os.path.isdir(spec):
            if os.path.isfile(os.path.join(spec, "tokenizer.json")):
                return from_hf(spec)
            raise IsADirectoryError(f"{spec}: is a directory without a tokenizer.json, not a tokenizer file")
        if spec.endswith(".json"):
            return from_hf(spec, name=os.path.basename(spec)[: -len(".json")])
        if spec.endswith(".tiktoken"):
            stem = os.path.basename(spec)[: -len(".tiktoken")]
            if stem in PRESETS:  # OpenAI's file: its pattern and special tokens
                _, _, named, specials, _ = PRESETS[stem]
                return Encoding.from_tiktoken_file(spec, pattern or named, special_tokens=specials, name=stem)
            return Encoding.from_tiktoken_file(spec, pattern)
        try:
            return load(spec)
        except TokenizerError as e:
            raise type(e)(f"{spec}: not a readable bpekit tokenizer file ({e})", e.code) from None
    if spec in PRESETS:
        return get_encoding(spec)
    raise FileNotFoundError(f"{spec}: no such tokenizer file, nor an encoding name ({', '.join(PRESETS)})")


def _pattern(value: str | None) -> str | None:
    if value is None:
        return None
    from . import core

    try:
        return core._named_pattern(value)
    except TokenizerError:
        return value  # a regex; the trainer checks it


def _corpus(args: argparse.Namespace) -> Any:
    from .corpus import Corpus

    return Corpus(
        args.sources,
        input_format=args.input_format,
        text_key=args.text_key,
        column=args.column,
        lines=args.lines,
        separator=args.separator,
        errors=args.errors,
        doc_cap=args.doc_cap,
        max_chars=args.max_chars,
        chunk_bytes=args.chunk_bytes,
    )


def _write_atomic(path: str, data: bytes) -> None:
    from ._pipeline import write_atomic

    write_atomic(path, data)


def _output_dir(path: str) -> None:
    """Creates the directory ``path`` goes in (as ``mkdir -p``) and checks that it is
    writable, so that a run fails before its work, not after it."""
    d = os.path.dirname(os.path.abspath(path))
    if os.path.exists(d) and not os.path.isdir(d):
        raise OSError(f"output directory {d} is not a directory")
    try:
        os.makedirs(d, exist_ok=True)
    except OSError as e:
        raise OSError(f"cannot create output directory {d}: {e.strerror or e}") from None
    if not os.access(d, os.W_OK):
        raise OSError(f"output directory {d} is not writable")


# ---- cluster runs ----


class ClusterError(Exception):
    """The Dask cluster cannot be reached or failed (exit status 1)."""


def _distributed_options(args: argparse.Namespace) -> dict[str, Any]:
    """The Corpus options of ``args`` as :mod:`bpekit.distributed` takes them (every
    option of :func:`_corpus` but ``max_chars``, which a cluster run refuses)."""
    return {
        "input_format": args.input_format, "text_key": args.text_key, "column": args.column,
        "lines": args.lines, "separator": args.separator, "errors": args.errors,
        "doc_cap": args.doc_cap, "chunk_bytes": args.chunk_bytes,
    }


def _on_cluster(args: argparse.Namespace) -> bool:
    """Whether the run goes to a Dask cluster; options a cluster run cannot honour are a
    usage error here, before a cluster is started or reached."""
    if args.cluster is None and args.workers is None:
        return False
    flag = "--cluster" if args.cluster is not None else "--workers"
    if getattr(args, "resume", False):
        # A cluster run writes its shards under final names only once all are planned,
        # and its manifest at the end: there is no partial run to continue.
        raise UsageError(f"--resume is not supported with {flag}: a cluster run leaves no partial "
                         "output to continue (run it again, with --force if a manifest exists)")
    if args.max_chars is not None:
        raise UsageError(f"--max-chars is not supported with {flag}: it is a budget over the whole "
                         "corpus, which a cluster reads in independent parts (use --doc-cap)")
    return True


@contextlib.contextmanager
def _cluster(args: argparse.Namespace) -> Iterator[dict[str, Any]]:
    """The keyword arguments that send a run to the cluster of ``args``: ``n_workers`` (the
    run starts and stops its own local cluster) or ``client`` (connected here to
    ``--cluster``, within ``--connect-timeout``, and closed at the end)."""
    if args.workers is not None:
        yield {"n_workers": args.workers}
        return
    try:
        from distributed import Client
        from distributed.comm import resolve_address
    except ImportError:
        from .corpus import MissingExtraError

        raise MissingExtraError("--cluster needs dask.distributed: pip install 'bpekit[distributed]'") from None
    try:
        # Checked before a Client exists: a Client that fails on a malformed address
        # still tries to close itself at exit and prints a traceback.
        resolve_address(args.cluster)
    except ValueError as e:
        raise UsageError(f"--cluster {args.cluster}: not a scheduler address ({e})") from None
    except OSError as e:  # a host name that does not resolve
        raise ClusterError(f"cannot connect to the Dask scheduler at {args.cluster}: {e}") from None
    try:
        client = Client(args.cluster, timeout=args.connect_timeout, set_as_default=False)
    except (OSError, TimeoutError) as e:
        raise ClusterError(f"cannot connect to the Dask scheduler at {args.cluster} "
                           f"within {args.connect_timeout:g} s: {e}") from None
    try:
        yield {"client": client}
    finally:
        client.close()


def _threads_on_cluster(args: argparse.Namespace) -> int:
    """Threads per task on a cluster: 1 unless --threads says otherwise (each worker
    process is one core's worth of work)."""
    return 1 if args.threads is None else args.threads


def _emit(args: argparse.Namespace, summary: dict[str, Any], text: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps(summary))
    else:
        print(text)


# ==== Subcommands ====


def cmd_train(args: argparse.Namespace) -> int:
    if _on_cluster(args):
        return _train_on_cluster(args)
    from ._pipeline import train

    corpus = _corpus(args)
    for path in filter(None, (args.output, args.tiktoken)):
        _output_dir(path)
    t0 = time.perf_counter()
    enc = train(corpus, args.vocab_size, pattern=_pattern(args.pattern), special_tokens=args.special,
                threads=args.threads, name=_name(args.output))
    enc.save(args.output)
    if args.tiktoken:
        _write_atomic(args.tiktoken, enc.export_tiktoken())
    secs = time.perf_counter() - t0
    summary = {
        "tokenizer": args.output, "tiktoken": args.tiktoken, "vocab_size": enc.n_vocab,
        "documents": corpus.documents, "bytes": corpus.bytes, "chars": corpus.chars,
        "skipped": corpus.skipped, "seconds": round(secs, 3),
    }
    _emit(args, summary, f"{args.output}: vocab size {enc.n_vocab}, trained on {corpus.documents} documents "
          f"({corpus.bytes / 1e6:.1f} MB) in {secs:.1f} s")
    return 0


def _name(output: str) -> str:
    """A trained tokenizer's name: the output file's name up to its first dot."""
    return os.path.basename(output).split(".", 1)[0] or "bpekit"


def _train_on_cluster(args: argparse.Namespace) -> int:
    from . import distributed

    for path in filter(None, (args.output, args.tiktoken)):
        _output_dir(path)
    t0 = time.perf_counter()
    with _cluster(args) as where:
        enc = distributed.train(args.sources, args.vocab_size, pattern=_pattern(args.pattern),
                                special_tokens=args.special, name=_name(args.output),
                                threads=_threads_on_cluster(args), **where, **_distributed_options(args))
    enc.save(args.output)
    if args.tiktoken:
        _write_atomic(args.tiktoken, enc.export_tiktoken())
    secs = time.perf_counter() - t0
    summary = {"tokenizer": args.output, "tiktoken": args.tiktoken, "vocab_size": enc.n_vocab,
               "cluster": args.cluster, "workers": args.workers, "seconds": round(secs, 3)}
    _emit(args, summary, f"{args.output}: vocab size {enc.n_vocab}, trained on "
          f"{args.cluster or f'{args.workers} local workers'} in {secs:.1f} s")
    return 0


def _encode_on_cluster(args: argparse.Namespace) -> int:
    from . import distributed
    from ._pipeline import read_manifest

    enc = load_tokenizer(args.tokenizer)
    _output_dir(args.output)
    t0 = time.perf_counter()
    with _cluster(args) as where:
        mpath = distributed.encode(args.sources, enc, args.output, format=args.format, bos=args.bos,
                                   eos=args.eos, shard_tokens=args.shard_tokens, force=args.force,
                                   threads=_threads_on_cluster(args), **where, **_distributed_options(args))
    m = read_manifest(mpath)
    secs = time.perf_counter() - t0
    summary = dict(m, manifest=mpath, seconds=round(secs, 3), cluster=args.cluster, workers=args.workers)
    _emit(args, summary, f"{args.output}: {m['tokens']} tokens, {m['documents']} documents, "
          f"{len(m['shards'])} shard(s), {m['format']} {m['dtype']}, on "
          f"{args.cluster or f'{args.workers} local workers'} in {secs:.1f} s")
    return 0


def cmd_encode(args: argparse.Namespace) -> int:
    from ._pipeline import encode

    if args.resume and args.force:
        raise UsageError("--resume and --force are exclusive")
    if _on_cluster(args):
        return _encode_on_cluster(args)
    enc = load_tokenizer(args.tokenizer)
    corpus = _corpus(args)
    _output_dir(args.output)
    t0 = time.perf_counter()
    m = encode(corpus, enc, args.output, format=args.format, bos=args.bos, eos=args.eos,
               shard_tokens=args.shard_tokens, threads=args.threads, resume=args.resume, force=args.force)
    secs = time.perf_counter() - t0
    summary = dict(m, manifest=args.output + ".manifest.json", seconds=round(secs, 3), bytes=corpus.bytes)
    _emit(args, summary, f"{args.output}: {m['tokens']} tokens, {m['documents']} documents, "
          f"{len(m['shards'])} shard(s), {m['format']} {m['dtype']}, in {secs:.1f} s")
    return 0


def _manifest_for(shard: str) -> dict[str, Any] | None:
    """The manifest of the run that wrote ``shard``, if it is next to it."""
    import re

    from ._pipeline import read_manifest
    from .shards import _prefix

    p = _prefix(shard)
    for cand in (p, re.sub(r"_\d{6,}$", "", p)):
        path = cand + ".manifest.json"
        if os.path.isfile(path):
            try:
                return read_manifest(path)
            except TokenizerError:
                return None
    return None


def cmd_decode(args: argparse.Namespace) -> int:
    if (args.ids is None) == (args.shard is None):
        raise UsageError("give SHARD or --ids (one of them)")
    enc = load_tokenizer(args.tokenizer)
    out = sys.stdout.buffer
    if args.ids is not None:
        try:
            ids = [int(x) for x in args.ids.replace(",", " ").split()]
        except ValueError:
            raise UsageError(f"--ids: not a list of integers: {args.ids!r}") from None
        docs: Iterable[list[int]] = [ids]
        bos = eos = None
    else:
        from .shards import open as open_shard

        s = open_shard(args.shard, args.format)
        if not args.jsonl:  # every token, in pieces (a shard may be larger than memory)
            step = 1 << 20
            for i in range(0, len(s.tokens), step):
                out.write(enc.decode_bytes(s.tokens[i : i + step].tolist()))
            out.flush()
            return 0
        m = _manifest_for(args.shard)
        bos = m["options"].get("bos") if m else None
        eos = m["options"].get("eos") if m else None
        docs = _shard_documents(s, eos)
    if not args.jsonl:
        out.write(enc.decode_bytes(ids))
    for i, d in enumerate(docs if args.jsonl else ()):
        if bos is not None and d and d[0] == bos:
            d = d[1:]
        if eos is not None and d and d[-1] == eos:
            d = d[:-1]
        line = json.dumps({"document": i, "tokens": len(d), "text": enc.decode(d)}, ensure_ascii=False)
        out.write(line.encode("utf-8") + b"\n")
    out.flush()
    return 0


def _shard_documents(s: Any, eos: int | None) -> Iterator[list[int]]:
    """A shard's documents: from its boundaries, else each ending at ``eos``, else the
    whole shard as one."""
    if s.doc_offsets is not None:
        for a, b in zip(s.doc_offsets[:-1], s.doc_offsets[1:]):
            yield s.tokens[int(a) : int(b)].tolist()
        return
    if eos is None:
        yield s.tokens.tolist()
        return
    from .corpus import _numpy

    np = _numpy("decoding a shard")
    start = 0
    for e in np.flatnonzero(np.asarray(s.tokens) == eos):
        yield s.tokens[start : e + 1].tolist()
        start = int(e) + 1
    if start < len(s.tokens):
        yield s.tokens[start:].tolist()


def cmd_count(args: argparse.Namespace) -> int:
    from ._pipeline import count_batches

    enc = load_tokenizer(args.tokenizer)
    corpus = _corpus(args)
    total = docs = 0
    per_doc: list[int] = []
    for counts in count_batches(corpus, enc, threads=args.threads):
        total += int(counts.sum())
        docs += len(counts)
        if args.per_doc:
            if args.json:
                per_doc.extend(int(c) for c in counts)
            else:
                sys.stdout.write("".join(f"{int(c)}\n" for c in counts))
    summary: dict[str, Any] = {"documents": docs, "tokens": total, "bytes": corpus.bytes, "chars": corpus.chars,
                               "skipped": corpus.skipped}
    if args.per_doc and args.json:
        summary["per_doc"] = per_doc
    if args.json:
        print(json.dumps(summary))
    elif not args.per_doc:
        print(f"{total} tokens in {docs} documents")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from .shards import info

    d = info(args.shard, args.format)
    lines = [f"{k}: {'(not recorded)' if v is None else v}" for k, v in d.items() if k != "files"]
    lines.append("files: " + " ".join(d["files"]))
    _emit(args, d, "\n".join(lines))
    return 0


# ---- inspect ----

_ANSI_BG = (41, 42, 43, 44, 45, 46)


def _describe(enc: Any) -> dict[str, Any]:
    lengths: dict[int, int] = {}
    for b in enc.token_byte_values():
        lengths[len(b)] = lengths.get(len(b), 0) + 1
    return {
        "name": enc.name,
        "vocab_size": enc.n_vocab,
        "pattern": enc.pat_str,
        "split_engine": enc.split_engine,
        "normalization": enc.normalization,
        "special_tokens": enc.special_tokens,
        "length_histogram": {str(k): lengths[k] for k in sorted(lengths)},
    }


def _pieces(enc: Any, text: str) -> list[tuple[int, str]]:
    ids = enc.encode(text, allowed_special="all")
    return [(i, enc.decode_single_token_bytes(i).decode("utf-8", "replace")) for i in ids]


def html_page(enc: Any, text: str | None) -> str:
    """A self-contained page: the tokenizer's summary and ``text`` with each token
    coloured, its id shown on hover."""
    d = _describe(enc)
    rows = "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in d["length_histogram"].items())
    specials = ", ".join(f"{html.escape(k)} = {v}" for k, v in d["special_tokens"].items()) or "none"
    body = ""
    if text is not None:
        spans = []
        for n, (i, piece) in enumerate(_pieces(enc, text)):
            hue = (n * 67) % 360
            spans.append(f'<span class="t" style="background:hsl({hue},70%,85%)" title="id {i}" data-id="{i}">'
                         f"{html.escape(piece)}</span>")
        body = f'<h2>{len(spans)} tokens</h2><pre class="text">{"".join(spans)}</pre>'
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>bpekit inspect: {html.escape(enc.name)}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }}
pre.text {{ white-space: pre-wrap; font-size: 1.1em; line-height: 1.8; }}
span.t {{ border-radius: 3px; padding: 1px 0; }}
span.t:hover {{ outline: 2px solid #333; }}
td {{ padding: 0 1em 0 0; }}
</style></head><body>
<h1>{html.escape(enc.name)}</h1>
<p>vocab size {d["vocab_size"]}; special tokens: {specials}</p>
<p>pattern: <code>{html.escape(d["pattern"])}</code> (split engine: {html.escape(d["split_engine"])};
normalization: {html.escape(d["normalization"] or "none")})</p>
{body}
<h2>Token lengths (bytes)</h2><table><tr><th>length</th><th>tokens</th></tr>{rows}</table>
</body></html>
"""


def cmd_inspect(args: argparse.Namespace) -> int:
    enc = load_tokenizer(args.tokenizer)
    d = _describe(enc)
    if args.html:
        _write_atomic(args.html, html_page(enc, args.text).encode("utf-8"))
    pieces = _pieces(enc, args.text) if args.text is not None else None
    if args.json:
        if pieces is not None:
            d["tokens"] = [{"id": i, "text": p} for i, p in pieces]
        print(json.dumps(d, ensure_ascii=False))
        return 0
    out = [f"name: {d['name']}", f"vocab size: {d['vocab_size']}", f"pattern: {d['pattern']}",
           f"split engine: {d['split_engine']}", f"normalization: {d['normalization'] or 'none'}",
           "special tokens: " + (", ".join(f"{k}={v}" for k, v in d["special_tokens"].items()) or "none"),
           "token lengths (bytes: tokens):"]
    hist = d["length_histogram"]
    top = max(hist.values(), default=1)
    for k, v in hist.items():
        out.append(f"  {k:>3}: {v:>7} {'#' * max(1, round(40 * v / top))}")
    if pieces is not None:
        out.append(f"{len(pieces)} tokens:")
        if sys.stdout.isatty():
            out.append("".join(f"\x1b[30;{_ANSI_BG[n % len(_ANSI_BG)]}m{p}\x1b[0m" for n, (_, p) in enumerate(pieces)))
        else:
            out.append("|".join(p for _, p in pieces))
        out.append(" ".join(str(i) for i, _ in pieces))
    print("\n".join(out))
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    to = args.to or ("tiktoken" if args.output.endswith(".tiktoken") else
                     "bpekit" if args.output.endswith(".bpekit") else "hf")
    if to == "hf" and os.path.isfile(args.output):
        raise UsageError(f"{args.output} is a file; an HF tokenizer is a directory (or pass --to)")
    enc = load_tokenizer(args.tokenizer, _pattern(args.pattern))
    lost = []
    if to == "tiktoken":
        _output_dir(args.output)
        _write_atomic(args.output, enc.export_tiktoken())
        lost = [what for what, has in (("the split pattern", True), ("the special tokens", enc.special_tokens),
                                       ("the normalization (NFC)", enc.normalization)) if has]
    elif to == "bpekit":
        _output_dir(args.output)
        enc.save(args.output)
    else:
        enc.save_hf(args.output)
    if args.json:
        print(json.dumps({"output": args.output, "to": to, "vocab_size": enc.n_vocab, "not_kept": lost}))
    elif lost:
        sys.stderr.write(f"{PROG} convert: note: a .tiktoken file holds ranks only: {' and '.join(lost)} "
                         "must be given again when it is read\n")
    return 0


# ==== Entry point ====

_COMMANDS = {
    "train": cmd_train, "encode": cmd_encode, "decode": cmd_decode,
    "count": cmd_count, "info": cmd_info, "inspect": cmd_inspect, "convert": cmd_convert,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command; returns the exit status (0, 1 runtime error, 2 usage error)."""
    from ._pipeline import ManifestError

    parser = build_parser()
    args = parser.parse_args(argv)  # exits 2 on a usage error
    sub = f"{PROG} {args.command}"
    try:
        return _COMMANDS[args.command](args)
    except (UsageError, ManifestError) as e:
        sys.stderr.write(f"{sub}: error: {e}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write(f"{PROG}: error: interrupted\n")
        return 1
    except BrokenPipeError:
        # stdout closed early (| head): not an error of ours
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except (TokenizerError, OSError, ValueError, ClusterError) as e:
        msg = str(e)
        if isinstance(e, OSError) and e.filename is not None and str(e.filename) not in msg:
            msg = f"{e.filename}: {msg}"
        sys.stderr.write(f"{PROG}: error: {msg}\n")
        return 1
    except Exception as e:
        # The cluster's own failures (a task that killed every worker it ran on, a lost
        # scheduler) are runtime errors with a message, not tracebacks; anything else is
        # a bug of ours and keeps its traceback.
        if type(e).__module__.split(".")[0] not in ("distributed", "dask"):
            raise
        sys.stderr.write(f"{PROG}: error: the cluster failed: {type(e).__name__}: {e}\n")
        return 1


def run() -> None:
    """The console script."""
    sys.exit(main())


if __name__ == "__main__":
    run()
