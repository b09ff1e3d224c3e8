"""HF ``tokenizer.json`` out and in, for byte-level BPE.

Out (:func:`save_hf`, ``Encoding.save_hf``): a ``BPE`` model with the vocabulary (token
bytes in GPT-2's byte-to-character mapping, id = rank) and one merge per token (the pair
that merging the token's own bytes ends with; :func:`merge_rules`), ``ignore_merges``
on (tiktoken takes a piece that is a whole token as that token); a ``Split`` of the
pattern (its matches are the pieces; text no match covers is dropped, as in tiktoken),
or one per step of a split chain, then ``ByteLevel`` without its own regex; an ``NFC``
normalizer for an encoding that normalizes; a ``ByteLevel`` decoder; the special tokens
as added tokens, also in the vocabulary (else HF numbers them anew where ids leave gaps).
An encoding with two special tokens on one id is refused (HF keeps one text per id).
``tokenizers.Tokenizer.from_file`` and ``transformers``' ``PreTrainedTokenizerFast``
load it and give our ids.

HF reads the pattern with Oniguruma, whose ``{n,m}+`` is not possessive (it repeats the
counted repetition: cl100k's ``\\p{N}{1,3}+`` would take any run of digits). Where such a
quantifier ends a top-level alternative, possessive and greedy match the same (nothing
after it in the alternative can fail and backtrack into it), so it is written as
``{n,m}``; anywhere else the export is refused rather than silently different.

In (:func:`from_hf`): a byte-level BPE ``tokenizer.json`` (GPT-2, Llama 3, Qwen 2/3,
DeepSeek, tiktoken conversions, bpekit's own) becomes an Encoding whose ranks are the
vocabulary ids, which must follow the merge order (each merge's result ranked no lower
than the merges before it; several merges may make one token, as transformers' tiktoken
converter writes); its pattern is the regex of its one ``Split`` (or GPT-2's, for
``ByteLevel`` with its own regex), or a split chain (:func:`bpekit.split_chain`) of its
several steps; an ``NFC`` normalizer is applied as HF does; the added tokens become
special tokens. Anything bpekit could not reproduce exactly is refused with a
``ValueError`` naming it: other models, other normalizers, ``byte_fallback``, prefix
spaces, subword affixes, a regex Oniguruma reads otherwise, merges that leave out a
token's own merge, tokens merging cannot reach without ``ignore_merges``, added tokens HF
would number or match otherwise. A ``post_processor`` is not applied: the templates HF's
``encode`` adds (a BOS token) are the caller's to add.
"""

from __future__ import annotations

import json
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from ._lowlevel import ffi, lib, rustcall
from ._pipeline import write_atomic

if TYPE_CHECKING:
    from .core import Encoding


@lru_cache(maxsize=1)
def byte_chars() -> tuple[str, ...]:
    """GPT-2's byte-to-character mapping: printable Latin-1 bytes stand for themselves,
    the others for characters from U+0100 up, in byte order."""
    keep = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAC + 1), *range(0xAE, 0xFF + 1)]
    out, extra = {}, 0
    for b in range(256):
        if b in keep:
            out[b] = chr(b)
        else:
            out[b] = chr(256 + extra)
            extra += 1
    return tuple(out[b] for b in range(256))


def to_chars(token: bytes) -> str:
    table = byte_chars()
    return "".join(table[b] for b in token)


@lru_cache(maxsize=1)
def _char_bytes() -> dict[str, int]:
    return {c: b for b, c in enumerate(byte_chars())}


def to_bytes(text: str, what: str) -> bytes:
    table = _char_bytes()
    try:
        return bytes(table[c] for c in text)
    except KeyError as e:
        raise ValueError(f"{what} {text!r}: {e.args[0]!r} is not a byte in the byte-level alphabet") from None


def merge_rules(enc: Encoding) -> list[tuple[int, int, int]]:
    """``(left, right, token)`` for each token merging makes, in rank order."""
    out = ffi.new("bpekit_tokens *")
    rustcall(lib.bpekit_tokenizer_merge_rules, enc._ptr, out)
    try:
        flat = ffi.unpack(out.ids, out.len) if out.len else []
    finally:
        lib.bpekit_tokens_free(out)
    return [(flat[i], flat[i + 1], flat[i + 2]) for i in range(0, len(flat), 3)]


# A counted repetition made possessive: `{n}+`, `{n,}+`, `{n,m}+`.
_COUNTED_POSSESSIVE = re.compile(r"\{\d+(?:,\d*)?\}\+")


def _elements(pattern: str) -> Iterator[tuple[int, int, str]]:
    """``(start, end, kind)`` of each element of a regex: ``"escape"`` (``\\d``,
    ``\\p{L}``, ``\\x{41}``), ``"class"`` (a character class, nested ones included, as
    one element), or ``"char"``. A ``]`` right after ``[`` or ``[^`` is literal."""
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\":
            j = i + 2
            if pattern[i + 1 : i + 2] in ("p", "P", "x") and pattern[j : j + 1] == "{":
                j = pattern.find("}", j) + 1 or len(pattern)
            yield i, j, "escape"
        elif pattern[i] == "[":
            j, depth = i, 0
            while j < len(pattern):
                if pattern[j] == "\\":
                    j += 2
                    continue
                if pattern[j] == "[":
                    depth += 1
                    first = 1 + (pattern[j + 1 : j + 2] == "^")
                    j += first + (pattern[j + first : j + first + 1] == "]")
                    continue
                depth -= pattern[j] == "]"
                j += 1
                if depth == 0:
                    break
            yield i, j, "class"
        else:
            j = i + 1
            yield i, j, "char"
        i = j


def _possessive_counts(pattern: str) -> Iterator[tuple[re.Match[str], int]]:
    """Each possessive counted repetition outside escapes and classes, with the group
    depth it is at."""
    depth = 0
    for start, _, kind in _elements(pattern):
        if kind != "char":
            continue
        c = pattern[start]
        depth += (c == "(") - (c == ")")
        if c == "{":
            m = _COUNTED_POSSESSIVE.match(pattern, start)
            if m:
                yield m, depth


def oniguruma_pattern(pattern: str) -> str:
    """``pattern`` as Oniguruma must read it to split the same: each possessive counted
    repetition that ends a top-level alternative loses its ``+`` (see the module notes).
    ``ValueError`` for one anywhere else."""
    out, at = [], 0
    for m, depth in _possessive_counts(pattern):
        if depth != 0 or pattern[m.end() : m.end() + 1] not in ("|", ""):
            raise ValueError(
                f"the pattern's {m.group()!r} at offset {m.start()} is possessive, which Oniguruma (HF tokenizers' "
                "regex engine) reads as a repeated repetition; bpekit rewrites it only where it ends a "
                "top-level alternative"
            )
        out.append(pattern[at : m.end() - 1])
        at = m.end()
    return "".join(out) + pattern[at:]


def to_json(enc: Encoding) -> dict[str, Any]:
    """The ``tokenizer.json`` object of ``enc``. ``ValueError`` for what a
    ``tokenizer.json`` cannot hold: two special tokens with one id (HF keeps one text
    per id), a special token whose text is also a token of the ranks, a pattern
    Oniguruma would read differently."""
    ranks = enc.mergeable_ranks
    by_id: dict[int, str] = {}
    for text, tid in enc._special_tokens.items():
        if tid in by_id:
            raise ValueError(f"special tokens {by_id[tid]!r} and {text!r} share id {tid}; a tokenizer.json holds "
                             "one text per id")
        by_id[tid] = text
        if text.encode() in ranks:
            raise ValueError(f"special token {text!r} is also token {ranks[text.encode()]} of the vocabulary; a "
                             "tokenizer.json holds one id per text")
    chars = {tid: to_chars(tok) for tok, tid in ranks.items()}
    merges = [f"{chars[left]} {chars[right]}" for left, right, _ in merge_rules(enc)]
    specials = sorted(enc._special_tokens.items(), key=lambda kv: (kv[1], kv[0]))
    added = [
        {"id": tid, "content": text, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False,
         "special": True}
        for text, tid in specials
    ]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": {"type": "NFC"} if enc.normalization == "NFC" else None,
        "pre_tokenizer": {
            "type": "Sequence",
            "pretokenizers": [
                *_splits(enc.pat_str),
                {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False},
            ],
        },
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": True,
            # The special tokens are in the vocabulary too: HF numbers an added token
            # that is not after the ones before it (cl100k's leave gaps) anew, unless
            # the model has it.
            "vocab": {**{chars[tid]: tid for tid in sorted(chars)}, **{to_chars(t.encode()): i for t, i in specials}},
            "merges": merges,
        },
    }


def _splits(pattern: str) -> list[dict[str, Any]]:
    """The ``Split`` pre-tokenizers of a pattern: one per step of a split chain, else one
    whose matches are the pieces and drops text no match covers, as tiktoken does
    (``Removed`` of the inverted pattern)."""
    from .core import split_chain_steps

    steps = split_chain_steps(pattern) or [(pattern, "matches")]
    return [
        {"type": "Split", "pattern": {"Regex": oniguruma_pattern(regex)},
         **({"behavior": "Isolated", "invert": False} if kind == "isolated" else {"behavior": "Removed", "invert": True})}
        for regex, kind in steps
    ]


def save_hf(enc: Encoding, directory: str | os.PathLike[str]) -> Path:
    """Writes ``tokenizer.json`` and ``tokenizer_config.json`` into ``directory``
    (created if missing); each file is written whole or not at all (a temporary file
    renamed over it). Returns the ``tokenizer.json`` path."""
    out = Path(directory)
    tokenizer = json.dumps(to_json(enc), ensure_ascii=False, indent=2)  # (any error before a file is touched)
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "clean_up_tokenization_spaces": False}
    if "<|endoftext|>" in enc._special_tokens:
        config["eos_token"] = "<|endoftext|>"
    out.mkdir(parents=True, exist_ok=True)
    for name, text in (("tokenizer.json", tokenizer), ("tokenizer_config.json", json.dumps(config, indent=2))):
        write_atomic(str(out / name), (text + "\n").encode("utf-8"))
    return out / "tokenizer.json"


def _refuse(what: str) -> None:
    raise ValueError(f"tokenizer.json: {what}; bpekit reads byte-level BPE tokenizers only (as GPT-2, Llama 3, "
                     "tiktoken conversions and its own export)")


def _pattern_of(pre: Any) -> str:
    """The split pattern of a byte-level pre-tokenizer (see the module notes): one
    ``Split``'s regex, or a split chain of several (and of ``ByteLevel``'s own regex)."""
    from .core import GPT2_PATTERN, split_chain

    if pre is None:
        _refuse("no pre_tokenizer (text would not be split, nor mapped to bytes)")
    steps = pre.get("pretokenizers", []) if pre.get("type") == "Sequence" else [pre]
    levels = [s for s in steps if s.get("type") == "ByteLevel"]
    others = [s.get("type") for s in steps if s.get("type") not in ("Split", "ByteLevel")]
    if others:
        _refuse(f"pre_tokenizer {others[0]!r}")
    if len(levels) != 1 or steps[-1] is not levels[0]:
        _refuse("the pre_tokenizer does not end in one ByteLevel")
    level = levels[0]
    if level.get("add_prefix_space"):
        _refuse("ByteLevel add_prefix_space=true (a space is added before the text)")
    chain = [_split_step(split) for split in steps[:-1]]
    if level.get("use_regex", True):
        chain.append((GPT2_PATTERN, "isolated"))  # ByteLevel's own regex is GPT-2's, isolated
    if not chain:
        _refuse("ByteLevel without a regex and no Split (text would not be split)")
    chain = [(_named(regex), kind) for regex, kind in chain]
    if len(chain) == 1 and (chain[0][1] == "matches" or chain[0][0] in _covers_all()):
        return chain[0][0]  # a plain pattern splits the same
    return split_chain(chain)


def _split_step(split: dict[str, Any]) -> tuple[str, str]:
    """A ``Split`` pre-tokenizer as a split chain step ``(regex, kind)``."""
    # "Isolated" keeps the text between matches as pieces too; "Removed" of the
    # inverted pattern drops it, as tiktoken does.
    how = (split.get("behavior"), bool(split.get("invert")))
    if how not in (("Isolated", False), ("Removed", True)):
        _refuse(f"Split behavior {how[0]!r} with invert={how[1]} (the matches must be the pieces)")
    pattern = split.get("pattern", {})
    if "Regex" not in pattern:
        _refuse(f"a Split on a plain string {pattern.get('String')!r}")
    regex = pattern["Regex"]
    for possessive, _ in _possessive_counts(regex):
        _refuse(f"the Split regex has {possessive.group()!r}, which Oniguruma reads as a repeated repetition and "
                "bpekit's regex engine as possessive")
    return regex, "isolated" if how[0] == "Isolated" else "matches"


@lru_cache(maxsize=1)
def _covers_all() -> frozenset[str]:
    """The named patterns whose matches cover any text (so that keeping the text between
    matches, as ``Isolated`` does, changes nothing): each has a branch for letters, for
    numbers, for whitespace and for everything else."""
    from . import core

    return frozenset((core.GPT2_PATTERN, core.CL100K_PATTERN, core.O200K_PATTERN, core.RUSTBPE_GPT4_PATTERN,
                      core.NANOCHAT_PATTERN, core.LLAMA3_PATTERN, core.QWEN2_PATTERN))


def _named(pattern: str) -> str:
    """The named pattern that ``pattern`` is the Oniguruma form of, if one is (so that
    an export read back splits on the named pattern's engine), else ``pattern``."""
    from . import core

    for attr in dir(core):
        named = getattr(core, attr)
        if attr.endswith("_PATTERN") and isinstance(named, str) and pattern != named:
            try:
                if oniguruma_pattern(named) == pattern:
                    return named
            except ValueError:
                continue
    return pattern


def from_json(data: dict[str, Any], name: str = "hf") -> Encoding:
    """An Encoding of a parsed ``tokenizer.json`` (see :func:`from_hf`)."""
    from .core import Encoding

    model = data.get("model") or {}
    if model.get("type") != "BPE":
        _refuse(f"model type {model.get('type')!r}")
    if model.get("byte_fallback"):
        _refuse("byte_fallback=true (a SentencePiece-style BPE)")
    for key in ("continuing_subword_prefix", "end_of_word_suffix", "dropout"):
        if model.get(key):
            _refuse(f"model {key}={model[key]!r}")
    normalization = _normalization_of(data.get("normalizer"))
    decoder = data.get("decoder")
    if decoder is not None and decoder.get("type") != "ByteLevel":
        _refuse(f"decoder {decoder.get('type')!r}")
    pattern = _named(_pattern_of(data.get("pre_tokenizer")))
    vocab: dict[str, int] = {text: int(tid) for text, tid in (model.get("vocab") or {}).items()}
    added = _added_tokens(data.get("added_tokens") or [], vocab, normalization)
    added_ids = set(added.values())
    ranks = {to_bytes(text, "vocabulary token"): tid for text, tid in vocab.items() if tid not in added_ids}
    # Merges: "a b" strings or [a, b] pairs. Their results must be ranked in merge order.
    last, pairs = -1, set()
    for i, merge in enumerate(model.get("merges") or []):
        left, right = merge.split(" ") if isinstance(merge, str) else merge
        pair = (to_bytes(left, "merge"), to_bytes(right, "merge"))
        rank = ranks.get(pair[0] + pair[1])
        if rank is None:
            _refuse(f"merge {i} ({left!r} + {right!r}) makes a token that is not in the vocabulary")
        if rank < last:
            raise ValueError(
                f"tokenizer.json: merge {i} ({left!r} + {right!r}) makes token {rank}, ranked below the token of an "
                "earlier merge; bpekit ranks tokens by id, so ids must follow the merge order"
            )
        last = rank
        pairs.add(pair)
    enc = Encoding(name, pat_str=pattern, mergeable_ranks=ranks, special_tokens=added, normalization=normalization)
    # bpekit merges as tiktoken does: any two neighbours that make a token, lowest rank
    # first, and a piece that is a whole token is that token. HF merges only the pairs
    # listed, and takes whole tokens only with ignore_merges. So each token's own merge
    # (the pair merging its bytes ends with) must be listed, and without ignore_merges
    # no token may be out of merging's reach.
    by_id = {tid: tok for tok, tid in ranks.items()}
    rules = merge_rules(enc)
    for left, right, tid in rules:
        if (by_id[left], by_id[right]) not in pairs:
            raise ValueError(
                f"tokenizer.json: no merge makes token {tid} ({to_chars(by_id[tid])!r}) from "
                f"{to_chars(by_id[left])!r} + {to_chars(by_id[right])!r}, the pair that merging its bytes ends "
                "with; HF would not make it where bpekit (as tiktoken) does"
            )
    if not model.get("ignore_merges"):
        made = {tid for _, _, tid in rules}
        unreached = sorted(tid for tok, tid in ranks.items() if len(tok) > 1 and tid not in made)
        if unreached:
            _refuse(f"ignore_merges=false with {len(unreached)} tokens no merge reaches (the first: "
                    f"{unreached[0]}, {to_chars(by_id[unreached[0]])!r}), which bpekit (as tiktoken) gives for a "
                    "piece that is exactly the token and HF never does")
    return enc


def _normalization_of(normalizer: Any) -> str | None:
    """The normalization of a ``normalizer``: ``None``, or ``"NFC"`` for NFC alone (or a
    ``Sequence`` of just NFC); any other normalizer is refused."""
    if normalizer is None:
        return None
    steps = normalizer.get("normalizers") or [] if normalizer.get("type") == "Sequence" else [normalizer]
    kinds = [step.get("type") for step in steps]
    if kinds == ["NFC"]:
        return "NFC"
    other = next((k for k in kinds if k != "NFC"), None) or f"{len(kinds)} steps"
    _refuse(f"normalizer {other!r} (bpekit applies NFC, alone, or none)")
    return None  # (not reached)


def _added_tokens(tokens: list[dict[str, Any]], vocab: dict[str, int], normalization: str | None) -> dict[str, int]:
    """The added tokens as special tokens, refused where HF would match or number them
    otherwise than bpekit: HF takes an added token found in the vocabulary at its vocabulary
    id, numbers the others after the vocabulary in file order, and can strip spaces around
    one or match it only as a whole word; under a normalizer, it finds a ``normalized``
    token in the normalized text (bpekit finds special tokens in the text as given)."""
    out: dict[str, int] = {}
    top = None  # the largest id given to an added token so far
    for t in tokens:
        content, tid = t["content"], int(t["id"])
        if normalization is not None and t.get("normalized", True):
            _refuse(f"added token {content!r} has normalized=true under the {normalization} normalizer (HF then "
                    "finds it in the normalized text)")
        for flag in ("lstrip", "rstrip", "single_word"):
            if t.get(flag):
                _refuse(f"added token {content!r} has {flag}=true (HF then matches it with the spaces around it, "
                        "or only as a word)")
        if content in vocab:
            hf_id = vocab[content]
        elif top is None or top < len(vocab):
            hf_id = len(vocab)
        else:
            hf_id = top + 1
        if hf_id != tid:
            _refuse(f"added token {content!r} has id {tid}, but HF gives it {hf_id} when it loads the file")
        top = hf_id if top is None else max(top, hf_id)
        out[content] = tid
    return out


def from_hf(source: str | os.PathLike[str] | dict[str, Any], *, name: str | None = None) -> Encoding:
    """Reads a byte-level BPE ``tokenizer.json``: a path to the file, to a directory
    holding one, its JSON text, or the parsed object. ``ValueError`` names what bpekit
    cannot reproduce exactly (see the module notes); ``OSError`` for an unreadable file."""
    if isinstance(source, dict):
        return from_json(source, name or "hf")
    if isinstance(source, str) and source.lstrip().startswith("{"):
        return from_json(json.loads(source), name or "hf")
    path = Path(source)
    if path.is_dir():
        path = path / "tokenizer.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not JSON ({e})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a tokenizer.json object")
    return from_json(data, name or path.parent.name or "hf")
