"""The Python API: :class:`Encoding` (encode/decode), :class:`Trainer` and :func:`train`."""

from __future__ import annotations

import os
from array import array
from typing import Any, Iterable, Sequence, Union

from ._errors import InvalidArgumentError
from ._lowlevel import ffi, lib, rustcall

TextLike = Union[str, bytes]

# ==== Patterns ====


def _named_pattern(name: str) -> str:
    data, size = ffi.new("const uint8_t **"), ffi.new("size_t *")
    raw = name.encode("utf-8")
    rustcall(lib.bpekit_pattern_named, raw, len(raw), data, size)
    return bytes(ffi.buffer(data[0], size[0])).decode("utf-8")


#: GPT-2 / r50k_base / p50k_base split pattern (as tiktoken writes it).
GPT2_PATTERN: str = _named_pattern("gpt2")
#: GPT-4 / cl100k_base split pattern (as tiktoken writes it); the default.
CL100K_PATTERN: str = _named_pattern("cl100k_base")
#: GPT-4o / o200k_base split pattern.
O200K_PATTERN: str = _named_pattern("o200k_base")
#: rustbpe's default (its spelling of the GPT-4 pattern).
RUSTBPE_GPT4_PATTERN: str = _named_pattern("rustbpe")
#: nanochat's variant: numbers in groups of at most two digits.
NANOCHAT_PATTERN: str = _named_pattern("nanochat")


def _pattern_arg(pattern: str | None) -> tuple[Any, int]:
    if pattern is None:
        return ffi.NULL, 0
    if not isinstance(pattern, str):
        raise TypeError(f"pattern must be a str or None, not {type(pattern).__name__}")
    raw = pattern.encode("utf-8")
    return raw, len(raw)


def _text_bytes(text: str) -> bytes:
    """UTF-8 bytes of `text`. Lone surrogates (which UTF-8 cannot hold) become U+FFFD,
    the same fix-up tiktoken applies before encoding."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace").encode("utf-8")


def _item_bytes(item: object, index: int) -> bytes:
    if isinstance(item, str):
        return _text_bytes(item)
    if isinstance(item, (bytes, bytearray, memoryview)):
        return bytes(item)
    raise TypeError(f"texts must be str or bytes; item {index} is {type(item).__name__}")


def _ids_buffer(tokens: Sequence[int]) -> array:
    if isinstance(tokens, array) and tokens.typecode == "I" and tokens.itemsize == 4:
        return tokens
    return array("I", tokens)  # OverflowError for ids outside 0..2**32-1


# ==== Handles ====


class _Handle:
    """Owns one native handle: freed by ``close()``, ``with``, or garbage collection."""

    _free: Any = None

    def __init__(self, ptr: Any) -> None:
        self._raw = ffi.gc(ptr, type(self)._free)

    @property
    def _ptr(self) -> Any:
        if self._raw is None:
            raise ValueError(f"this {type(self).__name__} is closed")
        return self._raw

    def close(self) -> None:
        """Frees the native object now (idempotent). Later use raises ``ValueError``."""
        if self._raw is not None:
            ffi.release(self._raw)
            self._raw = None

    def __enter__(self):  # noqa: ANN204
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ==== Encoding ====


class Encoding(_Handle):
    """A byte-level BPE tokenizer: ranks and a split pattern, immutable, thread-safe.

    Build one with :func:`train`, :meth:`from_tiktoken_bytes` or
    :meth:`from_tiktoken_file`. Methods follow ``tiktoken.Encoding``.

    >>> enc = train(["low lower lowest"] * 3, vocab_size=270)
    >>> enc.decode(enc.encode_ordinary("lowest"))
    'lowest'
    """

    _free = lib.bpekit_tokenizer_free

    def __init__(self, ptr: Any, name: str = "bpekit") -> None:
        super().__init__(ptr)
        self.name = name

    def __repr__(self) -> str:
        return f"<Encoding {self.name!r} n_vocab={self.n_vocab}>"

    # ---- construction ----

    @classmethod
    def from_tiktoken_bytes(cls, data: bytes, pat_str: str | None = None, *, name: str = "bpekit") -> Encoding:
        """Loads ranks in tiktoken's format (``base64(token) rank`` lines).

        ``pat_str`` defaults to the GPT-4 (cl100k_base) pattern.
        Raises :class:`RanksError` or :class:`PatternError` on bad input.
        """
        out = ffi.new("bpekit_tokenizer **")
        pat, pat_len = _pattern_arg(pat_str)
        data = bytes(data)
        rustcall(lib.bpekit_tokenizer_from_tiktoken, data, len(data), pat, pat_len, out)
        return cls(out[0], name)

    @classmethod
    def from_tiktoken_file(cls, path: str | os.PathLike[str], pat_str: str | None = None, *, name: str | None = None) -> Encoding:
        """Loads a ``.tiktoken`` rank file (see :meth:`from_tiktoken_bytes`)."""
        with open(path, "rb") as f:
            data = f.read()
        if name is None:
            name = os.path.basename(os.fspath(path)).rsplit(".", 1)[0]
        return cls.from_tiktoken_bytes(data, pat_str, name=name)

    # ---- properties ----

    @property
    def n_vocab(self) -> int:
        """One more than the largest token id."""
        return int(lib.bpekit_tokenizer_vocab_size(self._ptr))

    @property
    def pat_str(self) -> str:
        """The split pattern."""
        data, size = ffi.new("const uint8_t **"), ffi.new("size_t *")
        rustcall(lib.bpekit_tokenizer_pattern, self._ptr, data, size)
        return bytes(ffi.buffer(data[0], size[0])).decode("utf-8")

    @property
    def mergeable_ranks(self) -> dict[bytes, int]:
        """Token bytes → rank, like tiktoken's ``mergeable_ranks`` (built on each access)."""
        from ._tiktoken_format import parse

        return parse(self.export_tiktoken())

    # ---- encoding ----

    def encode_ordinary(self, text: str) -> list[int]:
        """Encodes ``text``, treating special-token text as ordinary text.

        >>> enc = train(["hello world"], vocab_size=256)
        >>> enc.encode_ordinary("hi")
        [104, 105]
        """
        raw = _text_bytes(text)
        out = ffi.new("bpekit_tokens *")
        rustcall(lib.bpekit_tokenizer_encode_ordinary, self._ptr, raw, len(raw), out)
        try:
            return ffi.unpack(out.ids, out.len) if out.len else []
        finally:
            lib.bpekit_tokens_free(out)

    # ---- decoding ----

    def decode_bytes(self, tokens: Sequence[int]) -> bytes:
        """Decodes ids to bytes. Raises :class:`UnknownTokenError` (a ``KeyError``)."""
        ids = _ids_buffer(tokens)
        out = ffi.new("bpekit_bytes *")
        rustcall(lib.bpekit_tokenizer_decode, self._ptr, ffi.from_buffer("uint32_t[]", ids), len(ids), out)
        try:
            return ffi.unpack(ffi.cast("char *", out.data), out.len) if out.len else b""
        finally:
            lib.bpekit_bytes_free(out)

    def decode(self, tokens: Sequence[int], errors: str = "replace") -> str:
        """Decodes ids to text; invalid UTF-8 is handled per ``errors`` (as ``bytes.decode``)."""
        return self.decode_bytes(tokens).decode("utf-8", errors=errors)

    def decode_single_token_bytes(self, token: int) -> bytes:
        """The bytes of one token. Raises :class:`UnknownTokenError`."""
        data, size = ffi.new("const uint8_t **"), ffi.new("size_t *")
        rustcall(lib.bpekit_tokenizer_token_bytes, self._ptr, token, data, size)
        return bytes(ffi.buffer(data[0], size[0]))

    # ---- export ----

    def export_tiktoken(self) -> bytes:
        """The ranks in tiktoken's ``.tiktoken`` format, sorted by rank."""
        out = ffi.new("bpekit_bytes *")
        rustcall(lib.bpekit_tokenizer_export_tiktoken, self._ptr, out)
        try:
            return ffi.unpack(ffi.cast("char *", out.data), out.len) if out.len else b""
        finally:
            lib.bpekit_bytes_free(out)


# ==== Training ====


class Trainer(_Handle):
    """Streaming trainer: feed text (as often as you like), then :meth:`finish`.

    >>> t = Trainer()
    >>> t.feed("the cat sat on the mat")
    >>> t.finish(vocab_size=260).n_vocab
    260
    """

    _free = lib.bpekit_trainer_free

    def __init__(self, pattern: str | None = None) -> None:
        out = ffi.new("bpekit_trainer **")
        pat, pat_len = _pattern_arg(pattern)
        rustcall(lib.bpekit_trainer_new, pat, pat_len, out)
        super().__init__(out[0])

    def feed(self, text: TextLike) -> None:
        """Counts one text (``str``, or ``bytes`` of UTF-8)."""
        raw = _item_bytes(text, 0)
        rustcall(lib.bpekit_trainer_feed, self._ptr, raw, len(raw))

    def feed_batch(self, texts: Sequence[TextLike]) -> None:
        """Counts many texts in one native call, in parallel; all or nothing."""
        raws = [_item_bytes(t, i) for i, t in enumerate(texts)]
        slices = ffi.new("bpekit_slice[]", len(raws))
        keep = []  # the cdata buffers must outlive the call
        for i, raw in enumerate(raws):
            buf = ffi.from_buffer(raw)
            keep.append(buf)
            slices[i].data = ffi.cast("const uint8_t *", buf)
            slices[i].len = len(raw)
        rustcall(lib.bpekit_trainer_feed_batch, self._ptr, slices, len(raws))

    @property
    def texts(self) -> int:
        """Number of texts counted so far."""
        return int(lib.bpekit_trainer_texts(self._ptr))

    @property
    def bytes(self) -> int:
        """Number of text bytes counted so far."""
        return int(lib.bpekit_trainer_bytes(self._ptr))

    def finish(self, vocab_size: int, *, name: str = "bpekit") -> Encoding:
        """Learns merges and returns the :class:`Encoding` (the trainer stays usable).

        ``vocab_size`` counts the 256 byte tokens; training stops early if no pair is left.
        """
        if not isinstance(vocab_size, int) or isinstance(vocab_size, bool):
            raise TypeError(f"vocab_size must be an int, not {type(vocab_size).__name__}")
        if not 0 <= vocab_size < 2**32:
            raise InvalidArgumentError(f"vocab_size must be in 256..2**32-1, got {vocab_size}")
        out = ffi.new("bpekit_tokenizer **")
        rustcall(lib.bpekit_trainer_finish, self._ptr, vocab_size, out)
        return Encoding(out[0], name)


_BATCH_TEXTS = 1024
_BATCH_BYTES = 16 << 20


def train(texts: Iterable[TextLike], vocab_size: int, pattern: str | None = None) -> Encoding:
    """Trains a byte-level BPE vocabulary of ``vocab_size`` tokens on ``texts``.

    ``texts`` may be any iterable (a generator too) of ``str`` or UTF-8 ``bytes``; it is
    consumed in batches, each counted in parallel in one native call. Each text is split
    with ``pattern`` on its own (default: the GPT-4 / cl100k_base pattern). The merges are
    those rustbpe learns from the same texts and pattern.

    >>> enc = train(["aaabdaaabac"], vocab_size=259)
    >>> [enc.decode_single_token_bytes(i) for i in range(256, 259)]
    [b'aa', b'ab', b'aaab']
    """
    trainer = Trainer(pattern)
    try:
        batch: list[bytes] = []
        size = 0
        for index, text in enumerate(texts):
            raw = _item_bytes(text, index)
            batch.append(raw)
            size += len(raw)
            if len(batch) >= _BATCH_TEXTS or size >= _BATCH_BYTES:
                trainer.feed_batch(batch)
                batch, size = [], 0
        if batch:
            trainer.feed_batch(batch)
        return trainer.finish(vocab_size)
    finally:
        trainer.close()
