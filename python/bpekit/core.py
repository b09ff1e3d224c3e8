"""The Python API: :class:`Encoding` (tiktoken's), :class:`Trainer` and :func:`train`."""

from __future__ import annotations

import base64
import functools
import operator
import os
import sys
from array import array
from typing import TYPE_CHECKING, AbstractSet, Any, Collection, Iterable, Literal, Sequence, Union

from ._errors import DisallowedSpecialTokenError, InvalidArgumentError, TokenizerError
from ._lowlevel import ffi, lib, make_builtin, rustcall

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

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
# Patterns under which every single character is a piece of its own.
_CHAR_IS_PIECE = frozenset((GPT2_PATTERN, CL100K_PATTERN, O200K_PATTERN, RUSTBPE_GPT4_PATTERN, NANOCHAT_PATTERN))


# ==== Marshalling helpers ====


def _pattern_arg(pattern: str | None) -> tuple[Any, int]:
    if pattern is None:
        return ffi.NULL, 0
    if not isinstance(pattern, str):
        raise TypeError(f"pattern must be a str or None, not {type(pattern).__name__}")
    raw = pattern.encode("utf-8")
    return raw, len(raw)


# `str.encode` itself, not `text.encode`: a str subclass may override `encode`, and
# tiktoken reads the string's own characters (and refuses what is not a str).
_utf8 = str.encode


def _text_bytes(text: str) -> bytes:
    """UTF-8 bytes of `text`. Lone surrogates (which UTF-8 cannot hold) become U+FFFD,
    the same fix-up tiktoken applies before encoding."""
    try:
        return _utf8(text)
    except UnicodeEncodeError:
        return _utf8(text, "utf-16", "surrogatepass").decode("utf-16", "replace").encode("utf-8")
    except TypeError:
        raise TypeError(f"expected str, got {type(text).__name__}") from None


def _as_str(text: object) -> str:
    """`text` as an exact str: a subclass's own characters (its methods, which may be
    overridden, are never asked: tiktoken's regex reads the characters too)."""
    if isinstance(text, str):
        return str.__str__(text)  # for a subclass, a plain copy of its characters
    raise TypeError(f"expected str, got {type(text).__name__}")


def _item_bytes(item: object, index: int) -> bytes:
    if isinstance(item, str):
        return _text_bytes(item)
    if isinstance(item, (bytes, bytearray, memoryview)):
        return item if type(item) is bytes else bytes(memoryview(item))  # never a subclass's __bytes__
    raise TypeError(f"texts must be str or bytes; item {index} is {type(item).__name__}")


def _many_texts(texts: Iterable[TextLike]) -> Iterable[TextLike]:
    """`texts`, refused if it is one text (whose characters or bytes would be taken for
    texts of their own)."""
    if isinstance(texts, (str, bytes, bytearray, memoryview)):
        raise TypeError(f"texts must be an iterable of str or bytes, not one {type(texts).__name__}")
    return texts


def _special_set(value: object, name: str) -> Any:
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


class _Slices:
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


class _Policy:
    """A native special-token policy (``ptr``, NULL for tiktoken's default) with the
    arrays and bytes it points to, for one normalized (allowed, disallowed) pair.

    The rule for every native call: the caller keeps alive everything a pointer argument
    points to until the call returns. cffi releases the GIL during the call, and other
    threads may drop a policy from ``Encoding._policies`` meanwhile, so a caller holds
    this object (in a local variable), never only its ``ptr``.
    """

    __slots__ = ("ptr", "allowed", "disallowed", "extra", "_allow", "_disallow", "_struct")

    def __init__(self, allowed: Any, disallowed: Any, special_tokens: frozenset[str]) -> None:
        #: "all" or a frozenset of str, as given (normalized)
        self.allowed, self.disallowed = allowed, disallowed
        #: disallowed strings that are not special tokens: tiktoken forbids them too, but
        #: the native check knows only special tokens, so `Encoding._check` looks for them
        self.extra: tuple[str, ...] = () if disallowed == "all" else tuple(disallowed - special_tokens)
        self.ptr: Any = ffi.NULL
        if not special_tokens or (allowed == frozenset() and disallowed == "all"):
            return  # nothing to allow or disallow, or tiktoken's default
        # Only special tokens mean anything to the native check.
        self._allow = _Slices([] if allowed == "all" else [_utf8(t) for t in allowed & special_tokens])
        self._disallow = _Slices([] if disallowed == "all" else [_utf8(t) for t in disallowed & special_tokens])
        policy = self._struct = ffi.new("bpekit_special_policy *")
        policy.allowed, policy.n_allowed = self._allow.array, self._allow.n
        policy.disallowed, policy.n_disallowed = self._disallow.array, self._disallow.n
        policy.flags = (1 if allowed == "all" else 0) | (2 if disallowed == "all" else 0)
        self.ptr = policy


#: tiktoken's default: every special token disallowed, none allowed
_DEFAULT_POLICY = _Policy(frozenset(), "all", frozenset())

_POLICY_CACHE_MAX = 64


def _refuse_text_as_ids(tokens: object) -> None:
    if isinstance(tokens, (bytes, bytearray, str)) or (isinstance(tokens, memoryview) and tokens.format in ("B", "c")):
        raise TypeError(f"token ids must be ints, not {type(tokens).__name__} (to read each byte as an id: list(data))")


def _ids_buffer(tokens: Iterable[int]) -> Any:
    """Token ids as a buffer of uint32 with a length: from any iterable of ints (bools
    too, as tiktoken takes them), an integer ``array.array`` or memoryview, or a 1-D
    NumPy integer array. TypeError for anything else, bytes and str included (tiktoken
    reads each byte as an id; here that is refused, as a mistake); OverflowError for ids
    outside 0..2**32-1."""
    if type(tokens) is list:  # the common case
        return array("I", tokens)
    if type(tokens) is array and tokens.typecode == "I" and tokens.itemsize == 4:
        return tokens
    _refuse_text_as_ids(tokens)  # (array() would take bytes for the ids' memory)
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


# ---- The short-text fast path ----
# One native call into a scratch buffer, no allocation crossing the boundary and no
# error object: a failing call returns None and the caller redoes it on the slow path,
# which raises the typed error (calls on this path have no side effects, so redoing one
# is safe). This is what keeps short-string latency near tiktoken's despite cffi's
# per-call costs.
_SCRATCH_MAX = 1 << 16
_CHAR_MEMO_MAX = 4096
_encode_into = lib.bpekit_tokenizer_encode_into
_encode_ordinary_cstr = lib.bpekit_host_encode_ordinary_cstr  # 3 arguments, any length
# 2 arguments and the ids in the result: the cheapest call, for texts of at most this many
# bytes, which nearly always give at most the 3 ids it can return
_encode_ordinary_packed = lib.bpekit_host_encode_ordinary_packed
_PACKED_TEXT_MAX = 8

# Scratch space: a call takes a buffer out of the pool and puts it back once it has read
# its result, so no two calls ever share one: not two threads (cffi releases the GIL
# during the call), and not an outer and an inner call on one thread (an encode in a gc
# callback or a finalizer, which may run at any allocation, e.g. while the outer call
# builds its list). A list's pop and append are atomic, with or without a GIL. A call
# that finds the pool empty makes a new buffer, so the pool holds as many as calls have
# ever run at once (one per thread, more only while calls nest).
_scratch_pool: list[tuple[Any, memoryview, Any]] = []
_take_scratch = _scratch_pool.pop  # IndexError when empty
_put_scratch = _scratch_pool.append


def _new_scratch() -> tuple[Any, memoryview, Any]:
    """Room for `_SCRATCH_MAX` ids: the C view, a Python view, and a ``size_t *``.

    ``view[:n].tolist()`` builds the list faster than ``ffi.unpack`` for short results.
    """
    ids = array("I", bytes(4 * _SCRATCH_MAX))
    return ffi.from_buffer("uint32_t[]", ids), memoryview(ids), ffi.new("size_t *")


def _encode_fast(ptr: Any, raw: bytes, policy: Any) -> list[int] | None:
    n = len(raw)
    if n > _SCRATCH_MAX:
        return None
    try:
        scratch = _take_scratch()
    except IndexError:
        scratch = _new_scratch()
    buf, view, ln = scratch
    ids = view[: ln[0]].tolist() if _encode_into(ptr, raw, n, policy, buf, _SCRATCH_MAX, ln, ffi.NULL) == 0 else None
    _put_scratch(scratch)
    return ids


def _batch_lists(ids: Any, offsets: Any) -> list[list[int]]:
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


def _take_tokens(out: Any) -> list[int]:
    try:
        # memoryview's tolist builds a long list ~25% faster than ffi.unpack.
        if not out.len:
            return []
        with memoryview(ffi.buffer(out.ids, 4 * out.len)) as raw, raw.cast("I") as flat:
            return flat.tolist()
    finally:
        lib.bpekit_tokens_free(out)


def _take_bytes(out: Any) -> bytes:
    try:
        return ffi.unpack(ffi.cast("char *", out.data), out.len) if out.len else b""
    finally:
        lib.bpekit_bytes_free(out)


def _raise_disallowed(token: str) -> None:
    # tiktoken's exact message, so code that matches on it keeps working.
    raise DisallowedSpecialTokenError(
        f"Encountered text corresponding to disallowed special token {token!r}.\n"
        "If you want this text to be encoded as a special token, "
        f"pass it to `allowed_special`, e.g. `allowed_special={{{token!r}, ...}}`.\n"
        f"If you want this text to be encoded as normal text, disable the check for this token "
        f"by passing `disallowed_special=(enc.special_tokens_set - {{{token!r}}})`.\n"
        "To disable this check for all special tokens, pass `disallowed_special=()`.\n",
        5,
    )


# ==== Handles ====


class _Handle:
    """Owns one native handle: freed by ``close()``, ``with``, or garbage collection."""

    _free: Any = None
    # NULL when closed (or never opened): every native call refuses it with a status,
    # so hot paths may pass it unchecked and raise on the slow path (`_ptr`).
    _raw: Any = ffi.NULL

    def _own(self, ptr: Any) -> None:
        self._raw = ffi.gc(ptr, type(self)._free)

    @property
    def _ptr(self) -> Any:
        if not self._raw:
            raise ValueError(f"this {type(self).__name__} is closed")
        return self._raw

    def close(self) -> None:
        """Closes the handle (idempotent): later use raises ``ValueError``, and the native
        object is freed now, or, if a call on another thread is still using it, as soon as
        that call returns (each call holds a reference to it for its duration)."""
        self._raw = ffi.NULL

    def __enter__(self):  # noqa: ANN204
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


AllowedSpecial = Union[Literal["all"], AbstractSet[str]]
DisallowedSpecial = Union[Literal["all"], Collection[str]]


# ==== Encoding ====


class Encoding(_Handle):
    """A byte-level BPE tokenizer with tiktoken's API: ranks, a split pattern and
    special tokens; immutable and safe to share between threads.

    The constructor is tiktoken's, so ``bpekit.Encoding`` drops in for
    ``tiktoken.Encoding``:

    >>> ranks = {bytes([b]): b for b in range(256)} | {b"ab": 256}
    >>> enc = Encoding("toy", pat_str=CL100K_PATTERN, mergeable_ranks=ranks,
    ...                special_tokens={"<|endoftext|>": 257})
    >>> enc.encode("abab<|endoftext|>", allowed_special="all")
    [256, 256, 257]

    Other ways to get one: :func:`train`, :func:`get_encoding`, :meth:`from_tiktoken_file`.
    """

    _free = lib.bpekit_tokenizer_free
    _fast: Any = None

    def __init__(
        self,
        name: str,
        *,
        pat_str: str,
        mergeable_ranks: dict[bytes, int],
        special_tokens: dict[str, int],
        explicit_n_vocab: int | None = None,
    ) -> None:
        if explicit_n_vocab is not None:
            if len(mergeable_ranks) + len(special_tokens) != explicit_n_vocab:
                raise ValueError(
                    f"explicit_n_vocab={explicit_n_vocab} but there are {len(mergeable_ranks)} ranks "
                    f"and {len(special_tokens)} special tokens"
                )
            top = max([*mergeable_ranks.values(), *special_tokens.values()])
            if top != explicit_n_vocab - 1:
                raise ValueError(f"explicit_n_vocab={explicit_n_vocab} but the largest token id is {top}")
        blob = b"".join(base64.b64encode(t) + b" %d\n" % r for t, r in sorted(mergeable_ranks.items(), key=lambda kv: kv[1]))
        self._init_from(self._build(blob, pat_str, special_tokens), name)

    @staticmethod
    def _build(blob: bytes, pat_str: str | None, special_tokens: dict[str, int]) -> Any:
        out = ffi.new("bpekit_tokenizer **")
        pat, pat_len = _pattern_arg(pat_str)
        texts = [_utf8(t) for t in special_tokens]
        slices = _Slices(texts)
        specials = ffi.new("bpekit_special_token[]", len(texts))
        for i, (raw, tid) in enumerate(zip(texts, special_tokens.values())):
            specials[i].text = slices.array[i]
            specials[i].id = tid
        rustcall(lib.bpekit_tokenizer_new, blob, len(blob), pat, pat_len, specials, len(texts), out)
        return out[0]

    def _init_from(self, ptr: Any, name: str) -> None:
        self._own(ptr)
        # `encode_ordinary` as a CPython builtin bound to the handle (see _lowlevel),
        # where available: it holds the handle, so `close()` drops it.
        self._fast = make_builtin(self._raw, TokenizerError) if make_builtin else None
        self.name = name
        self._policies: dict[tuple[Any, Any], Any] = {}
        self._special_tokens = self._read_special_tokens()
        self.special_tokens_set: frozenset[str] = frozenset(self._special_tokens)
        # One ASCII character is one piece and one byte, so one token: its id, for a call
        # whose native round trip would cost more than the work (only where the pattern
        # makes every character a piece).
        self._ascii_ids: tuple[int, ...] | None = None
        if self.pat_str in _CHAR_IS_PIECE:
            self._ascii_ids = tuple(self.encode_single_token(bytes([b])) for b in range(128))
        # Text without the first character of any special token has none in it, so
        # `encode` of it is `encode_ordinary` of it, whatever the policy: `_special_start`
        # is that character when every special token starts with the same one (all of
        # OpenAI's start with "<"), and `_no_specials` says there are none.
        starts = {t[0] for t in self._special_tokens}
        self._special_start: str | None = next(iter(starts)) if len(starts) == 1 else None
        self._no_specials = not starts
        # `encode_ordinary` of other single characters, as computed (up to _CHAR_MEMO_MAX;
        # the packed call's result): the native call costs more than the work, and an
        # alphabet is small.
        self._char_ids: dict[str, int] = {}

    @classmethod
    def _from_ptr(cls, ptr: Any, name: str) -> Encoding:
        self = cls.__new__(cls)
        self._init_from(ptr, name)
        return self

    def _read_special_tokens(self) -> dict[str, int]:
        ptr = self._ptr  # the texts are borrowed from the tokenizer: keep it alive (see pat_str)
        n = lib.bpekit_tokenizer_special_count(ptr)
        text, size, tid = ffi.new("const uint8_t **"), ffi.new("size_t *"), ffi.new("uint32_t *")
        out = {}
        for i in range(n):
            rustcall(lib.bpekit_tokenizer_special_token, ptr, i, text, size, tid)
            out[bytes(ffi.buffer(text[0], size[0])).decode("utf-8")] = tid[0]
        return out

    # ---- construction from files ----

    @classmethod
    def from_tiktoken_bytes(
        cls,
        data: bytes,
        pat_str: str | None = None,
        *,
        special_tokens: dict[str, int] | None = None,
        name: str = "bpekit",
    ) -> Encoding:
        """Loads ranks in tiktoken's format (``base64(token) rank`` lines).

        ``pat_str`` defaults to the GPT-4 (cl100k_base) pattern.
        Raises :class:`RanksError` or :class:`PatternError` on bad input.
        """
        return cls._from_ptr(cls._build(bytes(data), pat_str, special_tokens or {}), name)

    @classmethod
    def from_tiktoken_file(
        cls,
        path: str | os.PathLike[str],
        pat_str: str | None = None,
        *,
        special_tokens: dict[str, int] | None = None,
        name: str | None = None,
    ) -> Encoding:
        """Loads a ``.tiktoken`` rank file (see :meth:`from_tiktoken_bytes`)."""
        with open(path, "rb") as f:
            data = f.read()
        if name is None:
            name = os.path.basename(os.fspath(path)).rsplit(".", 1)[0]
        return cls.from_tiktoken_bytes(data, pat_str, special_tokens=special_tokens, name=name)

    def __repr__(self) -> str:
        return f"<Encoding {self.name!r}>"

    def close(self) -> None:
        self._fast = None  # it holds the handle
        super().close()

    def __copy__(self) -> Encoding:
        """Another Encoding over the same native tokenizer, which is immutable (closing
        one leaves the other usable). ``copy.deepcopy`` and pickle build a new one."""
        other = type(self).__new__(type(self))
        other.__dict__.update(self.__dict__)
        return other

    def __getstate__(self) -> object:
        return {"name": self.name, "bpekit": self.to_bytes()}

    def __setstate__(self, state: dict[str, Any]) -> None:
        out = ffi.new("bpekit_tokenizer **")
        data = state["bpekit"]
        rustcall(lib.bpekit_tokenizer_from_bytes, data, len(data), out)
        self._init_from(out[0], state["name"])

    # ---- bpekit's own file format ----

    def save(self, path: str | os.PathLike[str]) -> None:
        """Saves pattern, ranks and special tokens to one versioned, checksummed file.

        The write is atomic (a temporary file renamed over ``path``): on any failure the
        old file is untouched and nothing partial is left. Load it with :func:`load`.
        """
        raw = os.fsencode(path)
        rustcall(lib.bpekit_tokenizer_save, self._ptr, raw, len(raw))

    def to_bytes(self) -> bytes:
        """The tokenizer in bpekit's file format, as bytes (:meth:`from_bytes` reads it)."""
        out = ffi.new("bpekit_bytes *")
        rustcall(lib.bpekit_tokenizer_to_bytes, self._ptr, out)
        return _take_bytes(out)

    @classmethod
    def from_bytes(cls, data: bytes, *, name: str = "bpekit") -> Encoding:
        """Reads :meth:`to_bytes` output; :class:`FormatError` for damaged data."""
        out = ffi.new("bpekit_tokenizer **")
        data = bytes(data)
        rustcall(lib.bpekit_tokenizer_from_bytes, data, len(data), out)
        return cls._from_ptr(out[0], name)

    # ---- properties ----

    @property
    def n_vocab(self) -> int:
        """One more than the largest token id (ranks and special tokens)."""
        return int(lib.bpekit_tokenizer_vocab_size(self._ptr))

    @property
    def max_token_value(self) -> int:
        """The largest token id."""
        return self.n_vocab - 1

    @property
    def eot_token(self) -> int:
        """The id of ``<|endoftext|>`` (``KeyError`` if there is none)."""
        return self._special_tokens["<|endoftext|>"]

    @property
    def special_tokens(self) -> dict[str, int]:
        """Special token text → id (a copy)."""
        return dict(self._special_tokens)

    @property
    def pat_str(self) -> str:
        """The split pattern."""
        data, size = ffi.new("const uint8_t **"), ffi.new("size_t *")
        # The pattern is borrowed from the tokenizer. `ptr` keeps it alive until it is
        # copied: a close() on another thread may drop every other reference meanwhile.
        ptr = self._ptr
        rustcall(lib.bpekit_tokenizer_pattern, ptr, data, size)
        return bytes(ffi.buffer(data[0], size[0])).decode("utf-8")

    @property
    def mergeable_ranks(self) -> dict[bytes, int]:
        """Token bytes → rank, like tiktoken's ``mergeable_ranks`` (built on each access)."""
        from ._tiktoken_format import parse

        return parse(self.export_tiktoken())

    def is_special_token(self, token: int) -> bool:
        """Whether ``token`` is the id of a special token."""
        return token in self._special_ids

    @functools.cached_property
    def _special_ids(self) -> frozenset[int]:
        return frozenset(self._special_tokens.values())

    def token_byte_values(self) -> list[bytes]:
        """The bytes of every ranked token, sorted (as tiktoken returns them)."""
        return sorted(self.mergeable_ranks)

    # ---- encoding ----

    def _policy(self, allowed_special: AllowedSpecial, disallowed_special: DisallowedSpecial) -> _Policy:
        """The policy for a tiktoken (allowed, disallowed) pair, from a bounded cache.

        Keep the returned object referenced until the native call that uses its ``ptr``
        returns (see :class:`_Policy`).
        """
        if disallowed_special == "all" and not allowed_special:
            return _DEFAULT_POLICY  # tiktoken's default, the common case
        # (an exact "all" is taken as it is: allowed_special="all" is common)
        allowed, disallowed = allowed_special, disallowed_special
        if type(allowed) is not str or allowed != "all":
            allowed = _special_set(allowed, "allowed_special")
        if type(disallowed) is not str or disallowed != "all":
            disallowed = _special_set(disallowed, "disallowed_special")
        key = (allowed, disallowed)
        policy = self._policies.get(key)
        if policy is None:
            policy = _Policy(allowed, disallowed, self.special_tokens_set)
            if len(self._policies) >= _POLICY_CACHE_MAX:
                self._policies.clear()  # safe: callers hold the policies they use
            self._policies[key] = policy
        return policy

    def _check(self, text: str, policy: _Policy) -> None:
        """Raises tiktoken's error if `text` holds a disallowed string that is not a special
        token (the native call checks special tokens)."""
        for t in policy.extra:
            if t in text:
                self._disallowed_error(text, policy)

    def _first_disallowed(self, text: str, policy: _Policy) -> str | None:
        """The disallowed string tiktoken reports for `text` (leftmost, then longest, as
        its regex finds it), or None."""
        allowed = self.special_tokens_set if policy.allowed == "all" else policy.allowed
        disallowed = (self.special_tokens_set - allowed) if policy.disallowed == "all" else policy.disallowed
        hits = [(text.find(t), -len(t), t) for t in disallowed if t in text]
        return min(hits)[2] if hits else None

    def _disallowed_error(self, text: str, policy: _Policy) -> None:
        """Raises tiktoken's error for the first disallowed string in `text`."""
        _raise_disallowed(self._first_disallowed(text, policy) or "?")

    def encode(
        self,
        text: str,
        *,
        allowed_special: AllowedSpecial = set(),  # noqa: B006 (tiktoken's signature)
        disallowed_special: DisallowedSpecial = "all",
    ) -> list[int]:
        """Encodes ``text`` to token ids, with tiktoken's special-token rules.

        Special-token text in ``allowed_special`` becomes its special id; text of a
        token in ``disallowed_special`` (by default every special token not allowed)
        raises ``ValueError``, because silently encoding, say, ``<|endoftext|>`` from
        user input as a control token is a classic prompt-injection bug; anything else
        is ordinary text.

        >>> enc = train(["hello world"], vocab_size=260, special_tokens=["<|eos|>"])
        >>> enc.decode(enc.encode("hi<|eos|>", allowed_special={"<|eos|>"}))
        'hi<|eos|>'
        """
        if type(text) is not str:
            text = _as_str(text)  # a subclass is read by its characters, whatever its methods say
        if disallowed_special == "all" and not allowed_special:
            policy = _DEFAULT_POLICY  # tiktoken's default (what `_policy` gives it, without the call)
        else:
            policy = self._policy(allowed_special, disallowed_special)
            if policy.extra:
                self._check(text, policy)
        if self._no_specials or (self._special_start is not None and self._special_start not in text):
            # No special token can be in it: encode_ordinary's builtin, if any, directly.
            fast = self._fast
            if fast is not None:
                try:
                    return fast(text)  # type: ignore[no-any-return]
                except (UnicodeEncodeError, TypeError, TokenizerError):
                    pass  # as in encode_ordinary
            return self.encode_ordinary(text)
        if self._ascii_ids is not None and len(text) == 1 and text < "\x80" and text not in self._special_tokens:
            return [self._ascii_ids[ord(text)] if self._raw else self._ptr]
        raw = _text_bytes(text)
        ids = _encode_fast(self._ptr, raw, policy.ptr)  # `policy` stays referenced meanwhile
        if ids is not None:
            return ids
        out = ffi.new("bpekit_tokens *")
        try:
            rustcall(lib.bpekit_tokenizer_encode, self._ptr, raw, len(raw), policy.ptr, out)
        except DisallowedSpecialTokenError:
            self._disallowed_error(text, policy)
        return _take_tokens(out)

    def encode_with_unstable(
        self,
        text: str,
        *,
        allowed_special: AllowedSpecial = set(),  # noqa: B006
        disallowed_special: DisallowedSpecial = "all",
    ) -> tuple[list[int], list[list[int]]]:
        """Encodes ``text`` for completion: the stable tokens, and the token sequences
        that the end of ``text`` could become once more text is typed.

        Appending text can change how the last piece of ``text`` (with any
        whitespace-only tokens just before it) is merged, so its tokens are left out of
        the stable ones. Each completion decodes to bytes that start with what they
        covered, and stops at the first token that reaches its end, so
        ``stable + completion`` always decodes to a continuation of ``text``. Special
        tokens are handled as in :meth:`encode`; text that ends in an allowed special
        token has no completions. The results are tiktoken's, with the completions
        sorted (tiktoken returns them in set order). The search is brute force, as in
        tiktoken, and costs far more than :meth:`encode`.

        >>> ranks = {bytes([b]): b for b in range(256)} | {b" h": 256, b" hi": 257, b" hit": 258}
        >>> enc = Encoding("toy", pat_str=CL100K_PATTERN, mergeable_ranks=ranks, special_tokens={})
        >>> stable, completions = enc.encode_with_unstable("say h")
        >>> enc.decode(stable), completions
        ('say', [[256], [257], [258]])
        """
        text = _as_str(text)
        raw = _text_bytes(text)
        policy = self._policy(allowed_special, disallowed_special)
        if policy.extra:
            self._check(text, policy)
        stable, completions = ffi.new("bpekit_tokens *"), ffi.new("bpekit_tokens *")
        offsets = ffi.new("bpekit_offsets *")
        try:
            rustcall(
                lib.bpekit_tokenizer_encode_with_unstable, self._ptr, raw, len(raw), policy.ptr, stable, completions, offsets
            )
        except DisallowedSpecialTokenError:
            self._disallowed_error(text, policy)
        try:
            ids = _take_tokens(stable)
        finally:
            sequences = _batch_lists(completions, offsets)
        return ids, sequences

    def encode_ordinary(self, text: str) -> list[int]:
        """Encodes ``text``, treating special-token text as ordinary text.

        >>> enc = train(["hello world"], vocab_size=256)
        >>> enc.encode_ordinary("hi")
        [104, 105]
        """
        fast = self._fast
        if fast is not None:
            try:
                return fast(text)  # type: ignore[no-any-return]
            except (UnicodeEncodeError, TypeError, TokenizerError):
                pass  # lone surrogates (fixed up below, as tiktoken does), not a str, or
                # an encode error (raised below with its own class, as on the cffi path)
        try:
            raw = _utf8(text)
        except (UnicodeEncodeError, TypeError):
            raw = _text_bytes(text)
        # Bytes objects end in a NUL, so the text goes as a C string unless it holds a NUL
        # itself. (`0 in raw` is a memchr; `b"\0" in raw` takes ten times as long.)
        # A closed Encoding passes NULL, refused, so the slow path runs and raises.
        if 0 not in raw:
            if len(raw) <= _PACKED_TEXT_MAX:
                # Up to 3 ids come back in the result, 20 bits each, the first most
                # significant and plus one (see the header).
                if len(text) == 1 and self._raw and type(text) is str:
                    # One character: ASCII from a table, others remembered (their results;
                    # not for str subclasses, whose hash and equality may be their own).
                    if len(raw) == 1 and self._ascii_ids is not None:
                        return [self._ascii_ids[raw[0]]]
                    r = self._char_ids.get(text)
                    if r is None:
                        r = _encode_ordinary_packed(self._raw, raw)
                        if r >= 0 and len(self._char_ids) < _CHAR_MEMO_MAX:
                            self._char_ids[text] = r
                else:
                    r = _encode_ordinary_packed(self._raw, raw)
                if r > 0:
                    if r < 0x100000:
                        return [r - 1]
                    if r < 0x10000000000:
                        return [(r >> 20) - 1, r & 0xFFFFF]
                    return [(r >> 40) - 1, (r >> 20) & 0xFFFFF, r & 0xFFFFF]
                if r == 0:
                    return []
                # More than 3 ids (or closed): the C-string call.
            if len(raw) <= _SCRATCH_MAX:
                # The buffer has room for an id per byte, which always suffices.
                try:
                    scratch = _take_scratch()  # see _scratch_pool
                except IndexError:
                    scratch = _new_scratch()
                n = _encode_ordinary_cstr(self._raw, raw, scratch[0])
                ids = scratch[1][:n].tolist() if n >= 0 else None
                _put_scratch(scratch)
                if ids is not None:
                    return ids
        # A NUL inside, over 64 KiB, or closed: into a buffer the library allocates.
        out = ffi.new("bpekit_tokens *")
        rustcall(lib.bpekit_tokenizer_encode_ordinary, self._ptr, raw, len(raw), out)
        return _take_tokens(out)

    def count(
        self,
        text: str,
        *,
        allowed_special: AllowedSpecial = set(),  # noqa: B006
        disallowed_special: DisallowedSpecial = "all",
    ) -> int:
        """``len(self.encode(text, ...))`` without building the list."""
        if type(text) is not str:
            text = _as_str(text)
        raw = _text_bytes(text)
        if disallowed_special == "all" and not allowed_special:
            policy = _DEFAULT_POLICY
        else:
            policy = self._policy(allowed_special, disallowed_special)
            if policy.extra:
                self._check(text, policy)
        try:
            scratch = _take_scratch()  # for its size_t
        except IndexError:
            scratch = _new_scratch()
        out = scratch[2]
        status = lib.bpekit_tokenizer_count(self._ptr, raw, len(raw), policy.ptr, out, ffi.NULL)
        n = out[0]
        _put_scratch(scratch)
        if status == 0:
            return n
        out = ffi.new("size_t *")
        try:
            rustcall(lib.bpekit_tokenizer_count, self._ptr, raw, len(raw), policy.ptr, out)
        except DisallowedSpecialTokenError:
            self._disallowed_error(text, policy)
        return int(out[0])

    def encode_to_numpy(
        self,
        text: str,
        *,
        allowed_special: AllowedSpecial = set(),  # noqa: B006
        disallowed_special: DisallowedSpecial = "all",
    ) -> npt.NDArray[np.uint32]:
        """Like :meth:`encode`, as a ``numpy.uint32`` array (no Python list in between)."""
        import numpy as np

        text = _as_str(text)
        raw = _text_bytes(text)
        policy = self._policy(allowed_special, disallowed_special)
        if policy.extra:
            self._check(text, policy)
        out = ffi.new("bpekit_tokens *")
        try:
            rustcall(lib.bpekit_tokenizer_encode, self._ptr, raw, len(raw), policy.ptr, out)
        except DisallowedSpecialTokenError:
            self._disallowed_error(text, policy)
        try:
            if not out.len:
                return np.zeros(0, dtype=np.uint32)
            return np.frombuffer(ffi.buffer(out.ids, out.len * 4), dtype=np.uint32).copy()
        finally:
            lib.bpekit_tokens_free(out)

    def _encode_batch_flat(
        self,
        texts: Iterable[str],
        allowed_special: AllowedSpecial,
        disallowed_special: DisallowedSpecial,
        num_threads: int,
    ) -> tuple[Any, Any]:
        """One native batch call: the owned ids and offsets buffers (caller frees them).
        A disallowed special token raises tiktoken's message for the first text at fault.
        ``texts`` may be any iterable, read once (like every argument of many items)."""
        if type(texts) is not list:
            texts = list(texts)
        policy = self._policy(allowed_special, disallowed_special)
        if policy.extra:
            for t in texts:
                self._check(_as_str(t), policy)
        slices = _Slices([_text_bytes(t) for t in texts])
        ids, offsets = ffi.new("bpekit_tokens *"), ffi.new("bpekit_offsets *")
        try:
            rustcall(lib.bpekit_tokenizer_encode_batch, self._ptr, slices.array, slices.n, policy.ptr, num_threads, ids, offsets)
        except DisallowedSpecialTokenError:
            for t in map(_as_str, texts):
                if self._first_disallowed(t, policy) is not None:
                    self._disallowed_error(t, policy)
            raise
        return ids, offsets

    def encode_batch(
        self,
        text: Iterable[str],
        *,
        num_threads: int = 8,
        allowed_special: AllowedSpecial = set(),  # noqa: B006
        disallowed_special: DisallowedSpecial = "all",
    ) -> list[list[int]]:
        """Encodes many texts (any iterable of str) in one native call, on up to
        ``num_threads`` threads."""
        return _batch_lists(*self._encode_batch_flat(text, allowed_special, disallowed_special, num_threads))

    def encode_ordinary_batch(self, text: Iterable[str], *, num_threads: int = 8) -> list[list[int]]:
        """Encodes many texts (special-token text as ordinary text) in one native call."""
        return self.encode_batch(text, num_threads=num_threads, disallowed_special=())

    def encode_batch_to_numpy(
        self,
        text: Iterable[str],
        *,
        num_threads: int = 8,
        allowed_special: AllowedSpecial = set(),  # noqa: B006
        disallowed_special: DisallowedSpecial = "all",
    ) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint64]]:
        """Encodes many texts: one flat ``uint32`` id array and ``len(text) + 1`` offsets."""
        import numpy as np

        ids, offsets = self._encode_batch_flat(text, allowed_special, disallowed_special, num_threads)
        try:
            flat = np.frombuffer(ffi.buffer(ids.ids, ids.len * 4), dtype=np.uint32).copy() if ids.len else np.zeros(0, np.uint32)
            offs = np.frombuffer(ffi.buffer(offsets.data, offsets.len * ffi.sizeof("size_t")), dtype=np.uintp).astype(np.uint64)
        finally:
            lib.bpekit_tokens_free(ids)
            lib.bpekit_offsets_free(offsets)
        return flat, offs

    def encode_single_token(self, text_or_bytes: str | bytes) -> int:
        """The id of text or bytes that form exactly one token (``KeyError`` otherwise)."""
        if isinstance(text_or_bytes, str):
            raw = _utf8(text_or_bytes)
        elif isinstance(text_or_bytes, bytes):
            raw = text_or_bytes  # (cffi reads a subclass's bytes too, not its __bytes__)
        else:  # bytes(123) would be 123 NULs
            raise TypeError(f"expected str or bytes, got {type(text_or_bytes).__name__}")
        out = ffi.new("uint32_t *")
        rustcall(lib.bpekit_tokenizer_token_id, self._ptr, raw, len(raw), out)
        return int(out[0])

    # ---- decoding ----

    def decode_bytes(self, tokens: Sequence[int]) -> bytes:
        """Decodes ids to bytes. Raises :class:`UnknownTokenError` (a ``KeyError``)."""
        ids = _ids_buffer(tokens)
        out = ffi.new("bpekit_bytes *")
        buf = ffi.from_buffer("uint32_t[]", ids)
        if lib.bpekit_tokenizer_decode(self._ptr, buf, len(ids), out, ffi.NULL) != 0:
            rustcall(lib.bpekit_tokenizer_decode, self._ptr, buf, len(ids), out)  # raises
        return _take_bytes(out)

    def decode(self, tokens: Sequence[int], errors: str = "replace") -> str:
        """Decodes ids to text; invalid UTF-8 is handled per ``errors`` (as ``bytes.decode``)."""
        return self.decode_bytes(tokens).decode("utf-8", errors=errors)

    def decode_single_token_bytes(self, token: int) -> bytes:
        """The bytes of one token. Raises :class:`UnknownTokenError` (a ``KeyError``), or
        ``OverflowError`` for an id outside 0..2**32-1 (as tiktoken and :meth:`decode`)."""
        token = operator.index(token)  # an int (a bool too, as in tiktoken), not a float
        if not 0 <= token < 2**32:  # as tiktoken (and decode) raise
            raise OverflowError(f"token id {token} is not in 0..2**32-1")
        data, size = ffi.new("const uint8_t **"), ffi.new("size_t *")
        ptr = self._ptr  # keeps the tokenizer, which owns the bytes, alive (see pat_str)
        rustcall(lib.bpekit_tokenizer_token_bytes, ptr, token, data, size)
        return bytes(ffi.buffer(data[0], size[0]))

    def decode_tokens_bytes(self, tokens: Sequence[int]) -> list[bytes]:
        """The bytes of each token."""
        _refuse_text_as_ids(tokens)
        # One at a time, so that the first bad id decides the error, as in tiktoken.
        return [self.decode_single_token_bytes(t) for t in tokens]

    def decode_with_offsets(self, tokens: Sequence[int]) -> tuple[str, list[int]]:
        """The text and, for each token, the index of the character it starts in
        (a token that starts inside a character is counted from that character)."""
        token_bytes = self.decode_tokens_bytes(tokens)
        text_len, offsets = 0, []
        for token in token_bytes:
            offsets.append(max(0, text_len - (0x80 <= token[0] < 0xC0)))
            text_len += sum(1 for c in token if not 0x80 <= c < 0xC0)
        return b"".join(token_bytes).decode("utf-8", errors="strict"), offsets

    def decode_batch(self, batch: Iterable[Iterable[int]], *, errors: str = "replace", num_threads: int = 8) -> list[str]:
        """Decodes many id lists."""
        return [self.decode(tokens, errors=errors) for tokens in batch]

    def decode_bytes_batch(self, batch: Iterable[Iterable[int]], *, num_threads: int = 8) -> list[bytes]:
        """Decodes many id lists to bytes."""
        return [self.decode_bytes(tokens) for tokens in batch]

    # ---- export ----

    def to_tiktoken(self) -> Any:
        """A real ``tiktoken.Encoding`` with the same ranks, pattern and special tokens
        (needs tiktoken installed)."""
        import tiktoken

        return tiktoken.Encoding(
            self.name, pat_str=self.pat_str, mergeable_ranks=self.mergeable_ranks, special_tokens=self.special_tokens
        )

    def export_tiktoken(self) -> bytes:
        """The ranks in tiktoken's ``.tiktoken`` format, sorted by rank."""
        out = ffi.new("bpekit_bytes *")
        rustcall(lib.bpekit_tokenizer_export_tiktoken, self._ptr, out)
        return _take_bytes(out)


def from_tiktoken(enc: Any) -> Encoding:
    """The bpekit :class:`Encoding` of a ``tiktoken.Encoding`` (same ranks, pattern and
    special tokens, so the same ids, faster)."""
    return Encoding(
        enc.name, pat_str=enc._pat_str, mergeable_ranks=enc._mergeable_ranks, special_tokens=enc._special_tokens
    )


def load(path: str | os.PathLike[str], *, name: str | None = None) -> Encoding:
    """Loads a tokenizer saved with :meth:`Encoding.save`.

    Raises ``OSError`` (:class:`IoError`) if the file cannot be read and
    :class:`FormatError` if it is truncated, corrupted or not a bpekit file.
    """
    raw = os.fsencode(path)
    out = ffi.new("bpekit_tokenizer **")
    rustcall(lib.bpekit_tokenizer_load, raw, len(raw), out)
    if name is None:
        name = os.path.basename(os.fsdecode(raw)).split(".", 1)[0] or "bpekit"
    return Encoding._from_ptr(out[0], name)


# ==== Training ====


class Trainer(_Handle):
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
        pat, pat_len = _pattern_arg(pattern)
        rustcall(lib.bpekit_trainer_new, pat, pat_len, out)
        self._own(out[0])
        if isinstance(special_tokens, str):
            raise TypeError("special_tokens must be a sequence of str, not a str")
        special_tokens = list(special_tokens)  # any iterable, read once
        if special_tokens:
            for i, t in enumerate(special_tokens):
                if not isinstance(t, str):
                    raise TypeError(f"special_tokens[{i}] is {type(t).__name__}, not str")
            slices = _Slices([_utf8(t) for t in special_tokens])
            rustcall(lib.bpekit_trainer_set_special_tokens, self._ptr, slices.array, slices.n)
        if num_threads is not None:
            if not isinstance(num_threads, int) or num_threads < 0:
                raise InvalidArgumentError(f"num_threads must be a non-negative int, got {num_threads!r}", 2)
            rustcall(lib.bpekit_trainer_set_threads, self._ptr, num_threads)

    def feed(self, text: TextLike) -> None:
        """Counts one text (``str``, or ``bytes`` of UTF-8)."""
        raw = _item_bytes(text, 0)
        rustcall(lib.bpekit_trainer_feed, self._ptr, raw, len(raw))

    def feed_batch(self, texts: Iterable[TextLike]) -> None:
        """Counts many texts in one native call, in parallel; all or nothing."""
        slices = _Slices([_item_bytes(t, i) for i, t in enumerate(_many_texts(texts))])
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
        return _take_bytes(out)

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
            raise InvalidArgumentError(f"vocab_size must be in 256..2**32-1, got {vocab_size}", 2)
        out = ffi.new("bpekit_tokenizer **")
        from ._progress import merging

        with merging(self, enabled=progress):
            rustcall(lib.bpekit_trainer_finish, self._ptr, vocab_size, out)
        return Encoding._from_ptr(out[0], name)


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
            batch: list[bytes] = []
            size = consumed = 0
            for text in _many_texts(texts):
                batch.append(_item_bytes(text, consumed))
                size += len(batch[-1])
                consumed += 1
                if len(batch) >= _BATCH_TEXTS or size >= _BATCH_BYTES:
                    _feed(trainer, batch, consumed - len(batch))
                    bar.update()
                    batch, size = [], 0
            if batch:
                _feed(trainer, batch, consumed - len(batch))
                bar.update()
        return trainer.finish(vocab_size, name=name, progress=progress)
    finally:
        trainer.close()


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
