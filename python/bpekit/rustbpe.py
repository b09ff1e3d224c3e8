"""A drop-in for karpathy's ``rustbpe`` module, on bpekit's engine.

``import bpekit.rustbpe as rustbpe`` and code written for rustbpe (nanochat's tokenizer
wrapper, for one) runs unchanged, learning the same merges, faster:

>>> import bpekit.rustbpe as rustbpe
>>> tok = rustbpe.Tokenizer()
>>> tok.train_from_iterator(iter(["hello hello world"]), 260)
>>> tok.get_mergeable_ranks()[256:]
[(b'el', 256), (b'hel', 257), (b'lo', 258), (b'hello', 259)]

Differences, all deliberate: bad input raises ``ValueError`` instead of panicking
(``vocab_size`` below 256, an invalid pattern); counts are 64-bit; ``encode`` uses
tiktoken's rule (lowest-rank concatenation first), which is what nanochat runs in
production on the exported ranks, and agrees with rustbpe's merge-order rule on the
tests' corpora.
"""

from __future__ import annotations

from typing import Iterable

from ._train import feed_in_batches
from .core import RUSTBPE_GPT4_PATTERN, Encoding, Trainer

__all__ = ["Tokenizer"]


class Tokenizer:
    """A Byte Pair Encoding tokenizer that matches the GPT-4 style implementation."""

    def __init__(self) -> None:
        self._pattern = ""
        self._enc: Encoding | None = None

    def train_from_iterator(
        self,
        iterator: Iterable[str],
        vocab_size: int,
        buffer_size: int = 8192,
        pattern: str | None = None,
    ) -> None:
        """Trains on the strings of ``iterator`` (consumed ``buffer_size`` at a time,
        each batch counted in parallel) to ``vocab_size`` tokens (256 bytes + merges)."""
        if vocab_size < 256:
            raise ValueError(f"vocab_size must be at least 256, got {vocab_size}")
        pattern = RUSTBPE_GPT4_PATTERN if pattern is None else pattern
        trainer = Trainer(pattern)
        try:
            feed_in_batches(trainer, iterator, max(1, buffer_size))
            enc = trainer.finish(vocab_size, name="rustbpe")
        finally:
            trainer.close()
        self._pattern, self._enc = pattern, enc

    def get_pattern(self) -> str:
        """The split pattern of the last training ("" before any)."""
        return self._pattern

    @property
    def vocab_size(self) -> int:
        """256 byte tokens plus the merges learned."""
        return 256 if self._enc is None else self._enc.n_vocab

    def get_mergeable_ranks(self) -> list[tuple[bytes, int]]:
        """``(token bytes, id)`` for every token, in id order."""
        if self._enc is None:
            return [(bytes([b]), b) for b in range(256)]
        return sorted(self._enc.mergeable_ranks.items(), key=lambda kv: kv[1])

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``."""
        if self._enc is None:
            return []
        return self._enc.encode_ordinary(text)

    def decode(self, ids: list[int]) -> str:
        """The text of ``ids``; ``ValueError`` for an unknown id, ``UnicodeDecodeError``
        if the bytes are not UTF-8 (as rustbpe)."""
        if self._enc is None:
            ids = list(ids)  # any iterable, read once
            enc_bytes = bytes(ids) if all(0 <= i < 256 for i in ids) else None
            if enc_bytes is None:
                raise ValueError(f"Unknown token id: {next(i for i in ids if not 0 <= i < 256)}")
            return enc_bytes.decode("utf-8")
        try:
            raw = self._enc.decode_bytes(ids)
        except KeyError as e:
            raise ValueError(str(e)) from None
        return raw.decode("utf-8")

    def batch_encode(self, texts: list[str]) -> list[list[int]]:
        """Token ids of each text, encoded in parallel in one native call."""
        if self._enc is None:
            return [[] for _ in texts]
        return self._enc.encode_ordinary_batch(texts, num_threads=0)
