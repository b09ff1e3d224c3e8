"""Python objects to native arguments and native results to Python objects.

Arguments: text to UTF-8 (with tiktoken's fix-up of lone surrogates), exact str out of
subclasses, many texts as a ``bpekit_slice[]``, token ids as a uint32 buffer, special-token
sets as a native policy. Results: ``bpekit_tokens``, ``bpekit_bytes`` and offsets into
lists, bytes and NumPy arrays, each freed once read.

The rule for every native call: the caller keeps alive everything a pointer argument
points to until the call returns. Objects here that hold native memory for a call
(:class:`Slices`, :class:`Policy`) keep what they point to alive while they live, so a
caller holds the object (in a local variable), never only its pointer.
"""

from __future__ import annotations

import sys
from array import array
from itertools import accumulate, chain
from typing import AbstractSet, Any, Collection, Iterable, Literal, Sequence, Union

from ._lowlevel import ffi, lib

TextLike = Union[str, bytes]

# ==== Text in ====

# `str.encode` itself, not `text.encode`: a str subclass may override `encode`, and
# tiktoken reads the string's own characters (and refuses what is not a str).
utf8 = str.encode


def text_bytes(text: str) -> bytes:
    """UTF-8 bytes of `text`. Lone surrogates (which UTF-8 cannot hold) become U+FFFD,
    the same fix-up tiktoken applies before encoding."""
    try:
        return utf8(text)
    except UnicodeEncodeError:
        return utf8(text, "utf-16", "surrogatepass").decode("utf-16", "replace").encode("utf-8")
    except TypeError:
        raise TypeError(f"expected str, got {type(text).__name__}") from None


def as_str(text: object) -> str:
    """`text` as an exact str: a subclass's own characters (its methods, which may be
    overridden, are never asked: tiktoken's regex reads the characters too)."""
    if isinstance(text, str):
        return str.__str__(text)  # for a subclass, a plain copy of its characters
    raise TypeError(f"expected str, got {type(text).__name__}")


def item_bytes(item: object, index: int) -> bytes:
    """A text to train on (``str``, or bytes-like of UTF-8) as bytes; ``index`` names it
    in the error."""
    if isinstance(item, str):
        return text_bytes(item)
    if isinstance(item, (bytes, bytearray, memoryview)):
        return item if type(item) is bytes else bytes(memoryview(item))  # never a subclass's __bytes__
    raise TypeError(f"texts must be str or bytes; item {index} is {type(item).__name__}")


def many_texts(texts: Iterable[TextLike]) -> Iterable[TextLike]:
    """`texts`, refused if it is one text (whose characters or bytes would be taken for
    texts of their own)."""
    if isinstance(texts, (str, bytes, bytearray, memoryview)):
        raise TypeError(f"texts must be an iterable of str or bytes, not one {type(texts).__name__}")
    return texts


def pattern_arg(pattern: str | None) -> tuple[Any, int]:
    """A split pattern as ``(pointer, length)``; None is NULL (the library's default)."""
    if pattern is None:
        return ffi.NULL, 0
    if not isinstance(pattern, str):
        raise TypeError(f"pattern must be a str or None, not {type(pattern).__name__}")
    raw = pattern.encode("utf-8")
    return raw, len(raw)


class Slices:
    """A ``bpekit_slice[]`` over byte strings, keeping them alive while it lives."""

    __slots__ = ("array", "_keep", "n")

    def __init__(self, items: Sequence[bytes]) -> None:
        self.n = len(items)
        self.array = ffi.new("bpekit_slice[]", self.n)
        self._keep = []
        for i, raw in enumerate(items):
            buf = ffi.from_buffer(raw)
            self._keep.append(buf)
            self.array[i].data = ffi.cast("const uint8_t *", buf)
            self.array[i].len = len(raw)


# A `bpekit_slice` is a pointer and a `size_t`; where both are the size of an integer
# type of `array`, a `bpekit_slice[]` is built as an array of such words.
_WORD = next(
    (c for c in "QLI" if array(c).itemsize == ffi.sizeof("size_t") == ffi.sizeof("uint8_t *")),
    None,
)
_FLAT_SLICES = _WORD is not None and ffi.sizeof("bpekit_slice") == 2 * ffi.sizeof("size_t")


class TextSlices:
    """A ``bpekit_slice[]`` (``array``, ``n``) over the UTF-8 of many str (fixed up as
    :func:`text_bytes` does), keeping the bytes alive while it lives.

    Made with no Python-level step per text: the texts are encoded and joined into one
    bytes object, and the slices' (pointer, length) words are computed by ``map``,
    ``accumulate`` and ``zip`` into an ``array``, so a batch of many short texts costs
    about the library's work, not a cffi assignment per text. (Platforms whose slice is
    not two words of an ``array`` type take :class:`Slices`.)"""

    __slots__ = ("array", "_keep", "n")

    def __init__(self, texts: Sequence[str]) -> None:
        try:
            parts = list(map(utf8, texts))
        except (UnicodeEncodeError, TypeError):
            parts = []
            for i, t in enumerate(texts):  # lone surrogates fixed up; non-str named
                try:
                    parts.append(text_bytes(t))
                except TypeError as e:
                    raise TypeError(f"texts[{i}]: {e}") from None
        self.n = len(parts)
        if not _FLAT_SLICES:
            slices = Slices(parts)
            self.array, self._keep = slices.array, slices
            return
        blob = b"".join(parts)
        lengths = array(_WORD, map(len, parts))
        del parts
        data = ffi.from_buffer(blob)
        base = int(ffi.cast("uintptr_t", data))
        starts = accumulate(lengths, initial=base)  # one more than needed; zip stops first
        words = array(_WORD, chain.from_iterable(zip(starts, lengths)))
        self.array = ffi.from_buffer("bpekit_slice[]", words)
        self._keep = (data, words)


# ==== Special-token policies ====

#: tiktoken's types of ``allowed_special`` and ``disallowed_special``
AllowedSpecial = Union[Literal["all"], AbstractSet[str]]
DisallowedSpecial = Union[Literal["all"], Collection[str]]


def special_set(value: object, name: str) -> Any:
    """An ``allowed_special``/``disallowed_special`` argument as "all" or a frozenset of
    exact str (tiktoken's values; None or empty means none, as for tiktoken's
    ``disallowed_special``). A lone str other than "all" is refused: read as a set, its
    characters would be taken for tokens."""
    if isinstance(value, str):
        if str.__str__(value) == "all":
            return "all"
        raise TypeError(f'{name} must be "all" or a collection of str, not the str {str.__str__(value)!r}')
    if value is None:
        return frozenset()
    try:
        # One pass, so any iterable; str.__str__ gives a subclass's characters as a str,
        # and refuses what is not a str.
        return frozenset(map(str.__str__, value))
    except TypeError as e:
        raise TypeError(f'{name} must be "all" or a collection of str ({e})') from None


class Policy:
    """A native special-token policy (``ptr``, NULL for tiktoken's default) with the
    arrays and bytes it points to, for one normalized (allowed, disallowed) pair: "all"
    or a frozenset of str each. The core applies it (tiktoken's rules and message).

    cffi releases the GIL during a native call, and other threads may drop a policy from
    ``Encoding._policies`` meanwhile, so a caller holds this object (in a local
    variable), never only its ``ptr``.
    """

    __slots__ = ("ptr", "disallows_others", "ordinary", "mode", "_allow", "_disallow", "_struct")

    def __init__(self, allowed: Any, disallowed: Any, special_tokens: frozenset[str]) -> None:
        #: whether some disallowed strings are not special tokens: text with no
        #: special-token text in it may hold them, so only the core can tell whether
        #: `encode` of such text is its `encode_ordinary` (see _route)
        self.disallows_others = disallowed != "all" and not disallowed <= special_tokens
        #: whether `encode` under this policy is `encode_ordinary` whatever the text and
        #: the tokenizer: nothing allowed and nothing disallowed (`not "all"` is False)
        self.ordinary = not allowed and not disallowed
        #: the policy's mode for the builtins (see _route.BUILTINS): 0 as ordinary text,
        #: 1 tiktoken's default (nothing allowed, every special token disallowed), 2 every
        #: special token allowed and nothing disallowed; None for any other policy
        self.mode: int | None = None
        if self.ordinary:
            self.mode = 0
        elif not allowed and (disallowed == "all" or disallowed == special_tokens):
            self.mode = 1
        elif (allowed == "all" or allowed == special_tokens) and (disallowed == "all" or not disallowed):
            self.mode = 2
        self.ptr: Any = ffi.NULL
        if (not special_tokens and not self.disallows_others) or (allowed == frozenset() and disallowed == "all"):
            return  # nothing to allow or disallow, or tiktoken's default
        self._allow = Slices([] if allowed == "all" else [utf8(t) for t in allowed])
        self._disallow = Slices([] if disallowed == "all" else [utf8(t) for t in disallowed])
        policy = self._struct = ffi.new("bpekit_special_policy *")
        policy.allowed, policy.n_allowed = self._allow.array, self._allow.n
        policy.disallowed, policy.n_disallowed = self._disallow.array, self._disallow.n
        policy.flags = (lib.BPEKIT_SPECIAL_ALLOW_ALL if allowed == "all" else 0) | (
            lib.BPEKIT_SPECIAL_DISALLOW_ALL if disallowed == "all" else 0
        )
        self.ptr = policy


#: tiktoken's default: every special token disallowed, none allowed
DEFAULT_POLICY = Policy(frozenset(), "all", frozenset())


# ==== Token ids in ====


def refuse_text_as_ids(tokens: object) -> None:
    """TypeError for bytes, str and byte memoryviews given as token ids."""
    if isinstance(tokens, (bytes, bytearray, str)) or (isinstance(tokens, memoryview) and tokens.format in ("B", "c")):
        raise TypeError(f"token ids must be ints, not {type(tokens).__name__} (to read each byte as an id: list(data))")


def ids_buffer(tokens: Iterable[int]) -> Any:
    """Token ids as a buffer of uint32 with a length: from any iterable of ints (bools
    too, as tiktoken takes them), an integer ``array.array`` or memoryview, or a 1-D
    NumPy integer array. TypeError for anything else, bytes and str included (tiktoken
    reads each byte as an id; here that is refused, as a mistake); OverflowError for ids
    outside 0..2**32-1."""
    if type(tokens) is list:  # the common case
        return array("I", tokens)
    if type(tokens) is array and tokens.typecode == "I" and tokens.itemsize == 4:
        return tokens
    refuse_text_as_ids(tokens)  # (array() would take bytes for the ids' memory)
    np = sys.modules.get("numpy")
    if np is not None and isinstance(tokens, np.ndarray):
        if tokens.ndim != 1 or tokens.dtype.kind not in "iuO":
            raise TypeError(f"token ids must be a 1-D array of integers, not a {tokens.ndim}-D array of {tokens.dtype}")
        if tokens.dtype.kind == "O":
            return array("I", tokens.tolist())  # each must be an int
        if tokens.size and (tokens.min() < 0 or tokens.max() > 0xFFFFFFFF):
            raise OverflowError("token ids must be in 0..2**32-1")
        return np.ascontiguousarray(tokens, dtype=np.uint32)
    return array("I", tokens)  # each must be an int (an __index__)


# ==== Results out ====


def take_tokens(out: Any) -> list[int]:
    """The ids of a filled ``bpekit_tokens *`` as a list; frees it."""
    try:
        # memoryview's tolist builds a long list faster than ffi.unpack.
        if not out.len:
            return []
        with memoryview(ffi.buffer(out.ids, 4 * out.len)) as raw, raw.cast("I") as flat:
            return flat.tolist()
    finally:
        lib.bpekit_tokens_free(out)


def take_tokens_numpy(out: Any, np: Any) -> Any:
    """The ids of a filled ``bpekit_tokens *`` as a ``numpy.uint32`` array; frees it.

    ``np`` is the numpy module, which the caller has imported (so that a missing numpy
    fails before any encoding, and a call imports it once)."""
    try:
        if not out.len:
            return np.zeros(0, dtype=np.uint32)
        return np.frombuffer(ffi.buffer(out.ids, out.len * 4), dtype=np.uint32).copy()
    finally:
        lib.bpekit_tokens_free(out)


def take_batch(ids: Any, offsets: Any) -> list[list[int]]:
    """One list per sequence of a flat native result (ids + offsets), which it frees."""
    try:
        offs = ffi.unpack(offsets.data, offsets.len)
        if not ids.len:
            return [[] for _ in range(len(offs) - 1)]
        # One list per text straight from the native buffer (no flat list to slice).
        flat = memoryview(ffi.buffer(ids.ids, 4 * ids.len)).cast("I")
        try:
            return [flat[offs[i] : offs[i + 1]].tolist() for i in range(len(offs) - 1)]
        finally:
            flat.release()  # no view may outlive the buffer freed below
    finally:
        lib.bpekit_tokens_free(ids)
        lib.bpekit_offsets_free(offsets)


def take_batch_numpy(ids: Any, offsets: Any, np: Any) -> tuple[Any, Any]:
    """A flat native result as a ``uint32`` id array and ``uint64`` offsets, both over
    the native buffers without a copy (each buffer is freed when the last array or view
    over it is gone). ``np`` as for :func:`take_tokens_numpy`."""
    try:
        flat = _owned_array(ids, ids.ids, ids.len, "uint32_t", lib.bpekit_tokens_free, np.uint32, np)
    except BaseException:
        lib.bpekit_offsets_free(offsets)
        raise
    offs = _owned_array(offsets, offsets.data, offsets.len, "size_t", lib.bpekit_offsets_free, np.uintp, np)
    return flat, offs.astype(np.uint64, copy=False)  # (size_t is 64 bits nearly everywhere)


def _owned_array(out: Any, data: Any, n: int, ctype: str, free: Any, dtype: Any, np: Any) -> Any:
    """A NumPy array of the `n` items at `data`, a buffer of the filled native result
    `out`, which ``free(out)`` releases once the array and its views are gone (at once
    if `n` is 0)."""
    if not n:
        free(out)
        return np.zeros(0, dtype=dtype)
    nbytes = n * ffi.sizeof(ctype)
    # The buffer keeps the gc'd pointer alive, the array keeps the buffer.
    owner = ffi.gc(ffi.cast(f"{ctype} *", data), lambda _p, out=out: free(out), size=nbytes)
    return np.frombuffer(ffi.buffer(owner, nbytes), dtype=dtype)


def take_bytes(out: Any) -> bytes:
    """The bytes of a filled ``bpekit_bytes *``; frees it."""
    try:
        return ffi.unpack(ffi.cast("char *", out.data), out.len) if out.len else b""
    finally:
        lib.bpekit_bytes_free(out)


def borrowed_bytes(data: Any, size: Any) -> bytes:
    """A copy of a borrowed ``(const uint8_t **, size_t *)`` result. The caller keeps
    the owner of the memory (the tokenizer) referenced until this returns."""
    return bytes(ffi.buffer(data[0], size[0]))
