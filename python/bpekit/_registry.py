"""OpenAI's encodings, loaded offline: ``get_encoding(name)``.

Nothing is downloaded. The rank file is looked up in ``data_dir``, else in
``$BPEKIT_DATA``, else in tiktoken's cache (``$TIKTOKEN_CACHE_DIR``, or
``$DATA_GYM_CACHE_DIR``, or ``<tmp>/data-gym-cache``, where tiktoken stores each file
under the sha1 of its URL), and checked against the sha256 that tiktoken pins.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from pathlib import Path

from .core import CL100K_PATTERN, GPT2_PATTERN, O200K_PATTERN, Encoding

ENDOFTEXT = "<|endoftext|>"
FIM_PREFIX = "<|fim_prefix|>"
FIM_MIDDLE = "<|fim_middle|>"
FIM_SUFFIX = "<|fim_suffix|>"
ENDOFPROMPT = "<|endofprompt|>"

_BASE = "https://openaipublic.blob.core.windows.net/encodings/"

# o200k_harmony's special tokens (gpt-oss), in tiktoken's order: o200k_base's, then its
# own, then reserved ids up to the vocabulary's end. (<|reserved_200018|> shares its id
# with <|endofprompt|>; decoding that id gives <|endofprompt|>, the first given, as tiktoken does.)
_HARMONY_SPECIALS = {
    ENDOFTEXT: 199999,
    ENDOFPROMPT: 200018,
    "<|startoftext|>": 199998,
    "<|reserved_200000|>": 200000,
    "<|reserved_200001|>": 200001,
    "<|return|>": 200002,
    "<|constrain|>": 200003,
    "<|reserved_200004|>": 200004,
    "<|channel|>": 200005,
    "<|start|>": 200006,
    "<|end|>": 200007,
    "<|message|>": 200008,
    "<|reserved_200009|>": 200009,
    "<|reserved_200010|>": 200010,
    "<|reserved_200011|>": 200011,
    "<|call|>": 200012,
    **{f"<|reserved_{i}|>": i for i in range(200013, 201088)},
}

# name: (rank file, sha256 tiktoken pins, pattern, special tokens, explicit n_vocab)
PRESETS: dict[str, tuple[str, str, str, dict[str, int], int | None]] = {
    # tiktoken reads gpt2 from GPT-2's original vocab.bpe and encoder.json; its ranks are
    # r50k_base's, so it is read from r50k_base's file here.
    "gpt2": (
        "r50k_base.tiktoken",
        "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930",
        GPT2_PATTERN,
        {ENDOFTEXT: 50256},
        50257,
    ),
    "r50k_base": (
        "r50k_base.tiktoken",
        "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930",
        GPT2_PATTERN,
        {ENDOFTEXT: 50256},
        50257,
    ),
    "p50k_base": (
        "p50k_base.tiktoken",
        "94b5ca7dff4d00767bc256fdd1b27e5b17361d7b8a5f968547f9f23eb70d2069",
        GPT2_PATTERN,
        {ENDOFTEXT: 50256},
        50281,
    ),
    "p50k_edit": (
        "p50k_base.tiktoken",
        "94b5ca7dff4d00767bc256fdd1b27e5b17361d7b8a5f968547f9f23eb70d2069",
        GPT2_PATTERN,
        {ENDOFTEXT: 50256, FIM_PREFIX: 50281, FIM_MIDDLE: 50282, FIM_SUFFIX: 50283},
        None,
    ),
    "cl100k_base": (
        "cl100k_base.tiktoken",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        CL100K_PATTERN,
        {ENDOFTEXT: 100257, FIM_PREFIX: 100258, FIM_MIDDLE: 100259, FIM_SUFFIX: 100260, ENDOFPROMPT: 100276},
        None,
    ),
    "o200k_base": (
        "o200k_base.tiktoken",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        O200K_PATTERN,
        {ENDOFTEXT: 199999, ENDOFPROMPT: 200018},
        None,
    ),
    "o200k_harmony": (
        "o200k_base.tiktoken",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        O200K_PATTERN,
        _HARMONY_SPECIALS,
        None,
    ),
}

#: name -> the Encoding get_encoding returned for it (they are immutable: one per name,
#: as in tiktoken, so a second call costs nothing).
_LOADED: dict[str, Encoding] = {}
_LOCK = threading.Lock()


def list_encoding_names() -> list[str]:
    """The names :func:`get_encoding` knows."""
    return list(PRESETS)


def _candidates(filename: str, data_dir: str | os.PathLike[str] | None) -> list[Path]:
    out: list[Path] = []
    if data_dir is not None:
        out.append(Path(data_dir) / filename)
    elif os.environ.get("BPEKIT_DATA"):
        out.append(Path(os.environ["BPEKIT_DATA"]) / filename)
    cache = os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR")
    cache_dir = Path(cache) if cache else Path(tempfile.gettempdir()) / "data-gym-cache"
    out.append(cache_dir / hashlib.sha1((_BASE + filename).encode()).hexdigest())
    return out


def get_encoding(name: str, *, data_dir: str | os.PathLike[str] | None = None) -> Encoding:
    """Loads one of OpenAI's encodings (``gpt2``, ``r50k_base``, ``p50k_base``,
    ``p50k_edit``, ``cl100k_base``, ``o200k_base``, ``o200k_harmony``) from a local rank
    file, never the network.

    Without ``data_dir``, every call for a name returns the same Encoding (loaded once,
    like tiktoken's: closing it closes it for every holder, and the next call loads it
    again). Raises ``ValueError``
    for an unknown name, ``FileNotFoundError`` saying where it looked, and ``ValueError``
    if the only files found do not have the sha256 tiktoken pins (a file with the wrong
    hash is never used).
    """
    if name not in PRESETS:
        raise ValueError(f"Unknown encoding {name!r}. Plugins found: {list_encoding_names()}")
    if data_dir is not None:
        return _load(name, data_dir)
    with _LOCK:
        enc = _LOADED.get(name)
        if enc is None or not enc._raw:  # (closed: load it again)
            enc = _LOADED[name] = _load(name, None)
            enc._registered = True
        return enc


def _load(name: str, data_dir: str | os.PathLike[str] | None) -> Encoding:
    filename, sha256, pattern, specials, n_vocab = PRESETS[name]
    tried = _candidates(filename, data_dir)
    mismatched = []
    for path in tried:
        if path.is_file():
            data = path.read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            if digest != sha256:
                mismatched.append(f"{path} (sha256 {digest})")
                continue
            enc = Encoding.from_tiktoken_bytes(data, pattern, special_tokens=specials, name=name)
            if n_vocab is not None and enc.n_vocab != n_vocab:
                raise ValueError(f"{path}: {name} should have {n_vocab} tokens, found {enc.n_vocab}")
            return enc
    if mismatched:
        raise ValueError(
            f"no rank file for {name} has the sha256 tiktoken pins ({sha256}); found: " + ", ".join(mismatched)
        )
    where = "\n  ".join(str(p) for p in tried)
    raise FileNotFoundError(
        f"no rank file for {name} (bpekit never downloads). Looked in:\n  {where}\n"
        "Pass data_dir=, set BPEKIT_DATA to a directory holding "
        f"{filename}, or TIKTOKEN_CACHE_DIR to tiktoken's cache."
    )
