"""bpekit: a byte-level BPE tokenizer.

Train a vocabulary with the same merges as rustbpe, encode and decode with the same
tokens as tiktoken, from one Rust library loaded through cffi (ABI mode).

>>> import bpekit
>>> enc = bpekit.train(["hello hello hello world"], vocab_size=260)
>>> enc.decode(enc.encode_ordinary("hello world"))
'hello world'
"""

from ._errors import (
    BufferTooSmallError,
    DisallowedSpecialTokenError,
    FormatError,
    InternalError,
    InvalidArgumentError,
    IoError,
    InvalidUtf8Error,
    NullArgumentError,
    PatternError,
    RanksError,
    TokenizerError,
    UnknownTokenError,
)
from ._lowlevel import version as _native_version
from . import corpus, hf, model, shards  # noqa: E402  (bpekit.corpus.Corpus, bpekit.shards.open)
from ._registry import get_encoding, list_encoding_names
from .hf import from_hf
from .model import encoding_for_model, encoding_name_for_model
from ._train import Trainer, counts_info, merge_counts, train
from .core import (
    CL100K_PATTERN,
    DEEPSEEK_V3_PATTERN,
    GPT2_PATTERN,
    LLAMA3_PATTERN,
    NANOCHAT_PATTERN,
    O200K_PATTERN,
    QWEN2_PATTERN,
    RUSTBPE_GPT4_PATTERN,
    Encoding,
    StreamDecoder,
    TokenSpans,
    from_tiktoken,
    load,
    split_chain,
    split_chain_steps,
)

__version__ = _native_version()

__all__ = [
    "CL100K_PATTERN",
    "DEEPSEEK_V3_PATTERN",
    "GPT2_PATTERN",
    "LLAMA3_PATTERN",
    "NANOCHAT_PATTERN",
    "O200K_PATTERN",
    "QWEN2_PATTERN",
    "RUSTBPE_GPT4_PATTERN",
    "BufferTooSmallError",
    "DisallowedSpecialTokenError",
    "Encoding",
    "FormatError",
    "InternalError",
    "IoError",
    "InvalidArgumentError",
    "InvalidUtf8Error",
    "NullArgumentError",
    "PatternError",
    "RanksError",
    "StreamDecoder",
    "TokenSpans",
    "TokenizerError",
    "Trainer",
    "UnknownTokenError",
    "counts_info",
    "encoding_for_model",
    "encoding_name_for_model",
    "from_hf",
    "from_tiktoken",
    "get_encoding",
    "list_encoding_names",
    "load",
    "merge_counts",
    "split_chain",
    "split_chain_steps",
    "train",
]
