"""Training: :class:`Trainer` (streaming counts, then merges), :func:`train` (any
iterable of texts, fed in batches), and :func:`feed_in_batches`, which both ``train``
and ``bpekit.rustbpe`` use."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterable

from ._errors import InvalidArgumentError
from ._lowlevel import Handle, ffi, lib, rustcall
from ._marshal import Slices, TextLike, item_bytes, many_texts, pattern_arg, take_bytes, utf8

if TYPE_CHECKING:
    from .core import Encoding

__all__ = ["Trainer", "counts_info", "feed_in_batches", "merge_counts", "train"]

# ==== Trainer ====


class Trainer(Handle):
    """Streaming trainer: feed text (as often as you like), then :meth:`finish`.

    >>> t = Trainer()
    >>> t.feed("the cat sat on the mat")
    >>> t.finish(vocab_size=260).n_vocab
    260
    """

    _free = lib.bpekit_trainer_free

    def _no_copy(self, *args: object) -> Any:
        raise TypeError(
            "a Trainer cannot be copied or pickled (a copy would share its native counts); "
            "move counts with export_counts() and add_counts()"
        )

    __copy__ = __deepcopy__ = __reduce_ex__ = _no_copy

    def __init__(
        self,
        pattern: str | None = None,
        *,
        special_tokens: Iterable[str] = (),
        num_threads: int | None = None,
    ) -> None:
        out = ffi.new("bpekit_trainer **")
        pat, pat_len = pattern_arg(pattern)
        rustcall(lib.bpekit_trainer_new, pat, pat_len, out)
        self._own(out[0])
        special_tokens = self._special_list(special_tokens)
        if special_tokens:
            self.set_special_tokens(special_tokens)
        if num_threads is not None:
            if not isinstance(num_threads, int) or num_threads < 0:
                raise InvalidArgumentError(f"num_threads must be a non-negative int, got {num_threads!r}")
            rustcall(lib.bpekit_trainer_set_threads, self._ptr, num_threads)

    @staticmethod
    def _special_list(special_tokens: Iterable[str]) -> list[str]:
        if isinstance(special_tokens, str):
            raise TypeError("special_tokens must be a sequence of str, not a str")
        out = list(special_tokens)  # any iterable, read once
        for i, t in enumerate(out):
            if not isinstance(t, str):
                raise TypeError(f"special_tokens[{i}] is {type(t).__name__}, not str")
        return out

    def set_special_tokens(self, special_tokens: Iterable[str]) -> None:
        """Sets the special tokens :meth:`finish` adds after the merges, in order (replacing
        any set before). :class:`InvalidArgumentError` for an empty or repeated one."""
        slices = Slices([utf8(t) for t in self._special_list(special_tokens)])
        rustcall(lib.bpekit_trainer_set_special_tokens, self._ptr, slices.array, slices.n)

    def feed(self, text: TextLike) -> None:
        """Counts one text (``str``, or ``bytes`` of UTF-8)."""
        raw = item_bytes(text, 0)
        rustcall(lib.bpekit_trainer_feed, self._ptr, raw, len(raw))

    def feed_batch(self, texts: Iterable[TextLike]) -> None:
        """Counts many texts in one native call, in parallel; all or nothing."""
        slices = Slices([item_bytes(t, i) for i, t in enumerate(many_texts(texts))])
        rustcall(lib.bpekit_trainer_feed_batch, self._ptr, slices.array, slices.n)

    def progress(self) -> dict[str, int]:
        """``texts``, ``bytes`` counted; ``merges_done`` of ``merges_total`` of the
        running (or last) :meth:`finish`. Safe to call from another thread meanwhile."""
        out = ffi.new("bpekit_progress *")
        rustcall(lib.bpekit_trainer_progress, self._ptr, out)
        return {k: int(getattr(out, k)) for k in ("texts", "bytes", "merges_done", "merges_total")}

    @property
    def texts(self) -> int:
        """Number of texts counted so far."""
        return int(lib.bpekit_trainer_texts(self._ptr))

    @property
    def bytes(self) -> int:
        """Number of text bytes counted so far."""
        return int(lib.bpekit_trainer_bytes(self._ptr))

    def export_counts(self) -> bytes:
        """The counts so far (unique pieces and their counts, with the pattern), to
        merge into another trainer with :meth:`add_counts` (e.g. one per machine)."""
        out = ffi.new("bpekit_bytes *")
        rustcall(lib.bpekit_trainer_export_counts, self._ptr, out)
        return take_bytes(out)

    def add_counts(self, data: bytes) -> None:
        """Adds counts from :meth:`export_counts`. Raises :class:`FormatError` for damaged
        data and :class:`InvalidArgumentError` for counts made with another pattern."""
        data = bytes(data)
        rustcall(lib.bpekit_trainer_add_counts, self._ptr, data, len(data))

    def finish(self, vocab_size: int, *, name: str = "bpekit", progress: bool | None = False) -> Encoding:
        """Learns merges and returns the :class:`Encoding` (the trainer stays usable).

        ``vocab_size`` counts everything: 256 byte tokens, the merges, then the special
        tokens, which get the ids right after the last merge. Training stops early,
        without error, if no pair of tokens is left to merge.
        """
        if not isinstance(vocab_size, int) or isinstance(vocab_size, bool):
            raise TypeError(f"vocab_size must be an int, not {type(vocab_size).__name__}")
        if not 0 <= vocab_size < 2**32:
            raise InvalidArgumentError(f"vocab_size must be in 256..2**32-1, got {vocab_size}")
        out = ffi.new("bpekit_tokenizer **")
        from ._progress import merging
        from .core import Encoding  # (core imports this module)

        with merging(self, enabled=progress):
            rustcall(lib.bpekit_trainer_finish, self._ptr, vocab_size, out)
        return Encoding._from_ptr(out[0], name)


# ==== Count tables ====


def merge_counts(tables: Iterable[bytes], *, min_count: int = 0) -> bytes:
    """Merges count tables (from :meth:`Trainer.export_counts` or this function) into
    one: the table a trainer would export after :meth:`Trainer.add_counts` of every
    input. Then drops the pieces whose merged count is below ``min_count`` (0 keeps
    all). Prune once, after the last merge: a pruned table no longer gives exactly the
    merges of the full one (a piece rare in every part may be frequent in all). The
    merge streams: memory is the inputs plus the output.

    Raises :class:`FormatError` for a damaged table (the message starts with its index,
    ``tables[2]: ...``) and :class:`InvalidArgumentError` for no table or tables counted
    with different patterns.

    >>> a, b = Trainer(), Trainer()
    >>> a.feed("hello world"); b.feed("hello there")
    >>> counts_info(merge_counts([a.export_counts(), b.export_counts()]))["texts"]
    2
    """
    if isinstance(tables, (bytes, bytearray, memoryview)):
        raise TypeError("tables must be a sequence of count tables, not one table")
    if not isinstance(min_count, int) or isinstance(min_count, bool) or min_count < 0:
        raise InvalidArgumentError(f"min_count must be a non-negative int, got {min_count!r}")
    slices = Slices([bytes(t) for t in tables])
    out = ffi.new("bpekit_bytes *")
    rustcall(lib.bpekit_counts_merge, slices.array if slices.n else ffi.NULL, slices.n, min_count, out)
    return take_bytes(out)


def counts_info(data: bytes) -> dict[str, Any]:
    """What a count table holds, after checking all of it as :meth:`Trainer.add_counts`
    does: ``pattern`` (the split pattern it was counted with), ``pieces`` (unique
    pieces), ``texts`` and ``bytes`` (counted), ``version`` (of the table's format).
    Raises :class:`FormatError` for a damaged table."""
    data = bytes(data)
    out = ffi.new("bpekit_counts_info *")
    pat = ffi.new("bpekit_bytes *")
    rustcall(lib.bpekit_counts_read_info, data, len(data), out, pat)
    pattern = take_bytes(pat).decode("utf-8")
    return {
        "pattern": pattern,
        "pieces": int(out.pieces),
        "texts": int(out.texts),
        "bytes": int(out.bytes),
        "version": int(out.version),
    }


# ==== Training from texts ====

_BATCH_TEXTS = 4096
_BATCH_BYTES = 16 << 20


def train(
    texts: Iterable[TextLike],
    vocab_size: int,
    *,
    pattern: str | None = None,
    special_tokens: Iterable[str] = (),
    num_threads: int | None = None,
    progress: bool | None = None,
    name: str = "bpekit",
) -> Encoding:
    """Trains a byte-level BPE vocabulary of ``vocab_size`` tokens on ``texts``.

    ``texts`` may be any iterable (a generator too) of ``str`` or UTF-8 ``bytes``; it is
    consumed in batches, each counted in parallel in one native call (without the GIL).
    Each text is split with ``pattern`` on its own (default: the GPT-4 / cl100k_base
    pattern). The merges are those rustbpe learns from the same texts and pattern.
    ``special_tokens`` get the ids right after the last merge and count in
    ``vocab_size``. ``num_threads`` defaults to one per core. ``progress`` shows a bar
    (tqdm if installed) on stderr; ``None`` means only when stderr is a terminal.

    >>> enc = train(["aaabdaaabac"], vocab_size=259)
    >>> [enc.decode_single_token_bytes(i) for i in range(256, 259)]
    [b'aa', b'ab', b'aaab']
    """
    from ._progress import counting

    trainer = Trainer(pattern, special_tokens=special_tokens, num_threads=num_threads)
    try:
        with counting(trainer, enabled=progress) as bar:
            feed_in_batches(trainer, many_texts(texts), _BATCH_TEXTS, _BATCH_BYTES, bar.update)
        return trainer.finish(vocab_size, name=name, progress=progress)
    finally:
        trainer.close()


def feed_in_batches(
    trainer: Trainer,
    texts: Iterable[TextLike],
    max_texts: int,
    max_bytes: int | None = None,
    after_batch: Callable[[], Any] | None = None,
) -> None:
    """Feeds ``texts`` (any iterable, read once) to ``trainer`` in batches, each counted
    in parallel in one native call: a batch ends after ``max_texts`` texts or once it
    holds ``max_bytes`` bytes; ``after_batch`` runs after each. An error that names a
    text names it by its index in ``texts``."""
    batch: list[bytes] = []
    size = consumed = 0
    for text in texts:
        batch.append(item_bytes(text, consumed))
        size += len(batch[-1])
        consumed += 1
        if len(batch) >= max_texts or (max_bytes is not None and size >= max_bytes):
            _feed(trainer, batch, consumed - len(batch))
            if after_batch is not None:
                after_batch()
            batch, size = [], 0
    if batch:
        _feed(trainer, batch, consumed - len(batch))
        if after_batch is not None:
            after_batch()


def _feed(trainer: Trainer, batch: list[bytes], first_index: int) -> None:
    """Feeds a batch; an error naming ``texts[i]`` of the batch is renumbered to the
    index in the caller's iterable."""
    try:
        trainer.feed_batch(batch)
    except Exception as e:
        import re

        msg = str(e)
        fixed = re.sub(r"texts\[(\d+)\]", lambda m: f"texts[{first_index + int(m.group(1))}]", msg, count=1)
        if fixed != msg:
            e.args = (fixed, *e.args[1:])
        raise