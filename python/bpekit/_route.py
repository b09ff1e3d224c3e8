"""Short-text routing: how ``Encoding.encode_ordinary``, ``encode`` and ``count`` reach
the library.

A call through cffi's ABI mode pays per call and per argument (libffi's argument
handling, a copy of the text, a GIL round trip, an error object), which on a short text
costs more than the encoding. So each operation tries the cheapest route that can answer
and falls through to the next; the last one is the general call, which raises the typed
error. Calls on these routes have no side effects, so redoing one is safe.

``encode_ordinary(enc, text)``
    1. the CPython builtin the library makes (``enc._fast``, see ``_lowlevel``);
    2. one character: ASCII from a table, others from a memo of their results;
    3. the packed call: up to :data:`PACKED_TEXT_MAX` bytes, up to 3 ids returned in
       the call's integer result;
    4. the C-string call into a pooled scratch buffer (no NUL, up to 64 KiB);
    5. ``bpekit_tokenizer_encode_ordinary`` into a buffer the library allocates.

``encode(enc, text, allowed_special=..., disallowed_special=...)``
    with tiktoken's default arguments, first the builtin for them (``enc._fast_default``,
    which raises for a special token's text), with ``allowed_special="all"`` its own
    (``enc._fast_all``); under a policy that reads special tokens'
    text as ordinary text, and for text that cannot hold a special token, the
    ``encode_ordinary`` builtin; one ASCII
    character from the table (neither where strings that are not special tokens are
    disallowed: only the core's search finds those); then ``bpekit_tokenizer_encode_into``
    into a scratch buffer with no error object; then ``bpekit_tokenizer_encode``, which
    raises tiktoken's errors.

``count(enc, raw, policy)``
    ``bpekit_tokenizer_count`` with no error object, then with one.

``encode_ordinary`` and ``encode`` *are* the ``Encoding`` methods (``core`` binds them in
the class): one more Python call would cost as much as a short text's native work.
The state they read lives on the Encoding and is made by :func:`prepare`.

This module and ``_lowlevel`` (the builtin's set-up) are the only places that name
the host-only part of the C API (``include/bpekit_host.h``: the packed and C-string
calls and their constants, outside the ABI promise).
"""

from __future__ import annotations

from array import array
from typing import TYPE_CHECKING, Any

from ._errors import TokenizerError
from ._lowlevel import ffi, lib, make_builtin, rustcall
from ._marshal import DEFAULT_POLICY, AllowedSpecial, DisallowedSpecial, as_str, take_tokens, text_bytes, utf8

if TYPE_CHECKING:
    from .core import Encoding

# ==== Host-only calls (include/bpekit_host.h) ====

# 3 arguments, any length: the ids go into a buffer with room for one per byte (refused,
# with nothing written, if a normalizing tokenizer makes more: then the general call).
_encode_ordinary_cstr = lib.bpekit_host_encode_ordinary_cstr
# 2 arguments and the ids in the result: the cheapest call, for texts of at most
# PACKED_TEXT_MAX bytes, which nearly always give at most the 3 ids it can return.
_encode_ordinary_packed = lib.bpekit_host_encode_ordinary_packed
#: the largest id the packed call returns (a larger one makes it refuse)
PACKED_MAX_ID: int = lib.BPEKIT_HOST_PACKED_MAX_ID
#: the longest text (in UTF-8 bytes) sent to the packed call
PACKED_TEXT_MAX = 8

# The packed result holds up to 3 ids in fields of _BITS bits, the first most significant
# and plus one (see bpekit_host.h): below _ONE it is one id, below _TWO two, else three.
_BITS: int = lib.BPEKIT_HOST_PACKED_ID_BITS
_MASK = (1 << _BITS) - 1
_ONE = 1 << _BITS
_TWO = 1 << 2 * _BITS
_SHIFT3 = 2 * _BITS

# ==== Scratch buffers ====
# A call takes a buffer out of the pool and puts it back once it has read its result,
# so no two calls ever share one: not two threads (cffi releases the GIL during the
# call), and not an outer and an inner call on one thread (an encode in a gc callback or
# a finalizer, which may run at any allocation, e.g. while the outer call builds its
# list). A list's pop and append are atomic, with or without a GIL. A call that finds
# the pool empty makes a new buffer, so the pool holds as many as calls have ever run at
# once (one per thread, more only while calls nest).

_SCRATCH_MAX = 1 << 16
_scratch_pool: list[tuple[Any, memoryview, Any]] = []
_take_scratch = _scratch_pool.pop  # IndexError when empty
_put_scratch = _scratch_pool.append


def _new_scratch() -> tuple[Any, memoryview, Any]:
    """Room for `_SCRATCH_MAX` ids: the C view, a Python view, and a ``size_t *``.

    ``view[:n].tolist()`` builds the list faster than ``ffi.unpack`` for short results.
    """
    ids = array("I", bytes(4 * _SCRATCH_MAX))
    return ffi.from_buffer("uint32_t[]", ids), memoryview(ids), ffi.new("size_t *")


_encode_into = lib.bpekit_tokenizer_encode_into


def _encode_fast(ptr: Any, raw: bytes, policy: Any) -> list[int] | None:
    """``encode`` into a scratch buffer with no error object: None if it fails."""
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


# ==== Fast-path state ====

#: The Encoding attributes that hold its builtins, in `make_builtin`'s order (None
#: without them: the cffi calls).
BUILTINS = (
    "_fast",
    "_fast_u32",
    "_fast_batch",
    "_fast_batch_u32",
    "_fast_default",
    "_fast_default_u32",
    "_fast_all",
    "_fast_all_u32",
    "_fast_decode",
)


def drop_builtins(enc: Encoding) -> None:
    """Takes `enc`'s builtins away (they hold its handle): the cffi calls from now on."""
    for name in BUILTINS:
        setattr(enc, name, None)

#: the most single characters (other than ASCII) whose ids an Encoding remembers
CHAR_MEMO_MAX = 4096


def prepare(enc: Encoding, char_is_piece: bool) -> None:
    """Sets the state the routes read on a new Encoding (whose handle and
    ``_special_tokens`` are set): ``char_is_piece`` says that its pattern makes every
    character a piece of its own."""
    # `encode_ordinary` as CPython builtins bound to the handle, where available (a
    # list, a bytearray of uint32 for `encode_to_numpy`, lists for a list of texts, and
    # bytearrays of ids and offsets for `encode_batch_to_numpy`), `encode` with
    # tiktoken's default arguments and with allowed_special="all" (a list, a bytearray
    # each), and `decode_bytes` of a list: they hold the handle, so `Encoding.close()`
    # drops them.
    builtins = make_builtin(enc._raw, TokenizerError) if make_builtin else None
    for name, builtin in zip(BUILTINS, builtins or (None,) * len(BUILTINS)):
        setattr(enc, name, builtin)
    # One ASCII character is one piece and one byte, so one token: its id, for a call
    # whose native round trip would cost more than the work.
    enc._ascii_ids = None
    if char_is_piece:
        enc._ascii_ids = tuple(enc.encode_single_token(bytes([b])) for b in range(128))
    # Text without the first character of any special token has none in it, so
    # `encode` of it is `encode_ordinary` of it, whatever the policy: `_special_start`
    # is that character when every special token starts with the same one (all of
    # OpenAI's start with "<"), and `_no_specials` says there are none.
    starts = {t[0] for t in enc._special_tokens}
    enc._special_start = next(iter(starts)) if len(starts) == 1 else None
    enc._no_specials = not starts
    # `encode_ordinary` of other single characters, as computed (up to CHAR_MEMO_MAX;
    # the packed call's result): the native call costs more than the work, and an
    # alphabet is small.
    enc._char_ids = {}


# ==== The routes ====


def encode_ordinary(self: Encoding, text: str) -> list[int]:
    """Encodes ``text``, treating special-token text as ordinary text.

    >>> import bpekit
    >>> enc = bpekit.train(["hello world"], vocab_size=256)
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
        raw = utf8(text)
    except (UnicodeEncodeError, TypeError):
        raw = text_bytes(text)
    # Bytes objects end in a NUL, so the text goes as a C string unless it holds a NUL
    # itself. (`0 in raw` is a memchr; `b"\0" in raw` is a subsequence search.)
    # A closed Encoding passes NULL, refused, so the slow path runs and raises.
    if 0 not in raw:
        if len(raw) <= PACKED_TEXT_MAX:
            # Up to 3 ids come back in the result itself (see _BITS).
            if len(text) == 1 and self._raw and type(text) is str:
                # One character: ASCII from a table, others remembered (their results;
                # not for str subclasses, whose hash and equality may be their own).
                if len(raw) == 1 and self._ascii_ids is not None:
                    return [self._ascii_ids[raw[0]]]
                r = self._char_ids.get(text)
                if r is None:
                    r = _encode_ordinary_packed(self._raw, raw)
                    if r >= 0 and len(self._char_ids) < CHAR_MEMO_MAX:
                        self._char_ids[text] = r
            else:
                r = _encode_ordinary_packed(self._raw, raw)
            if r > 0:
                if r < _ONE:
                    return [r - 1]
                if r < _TWO:
                    return [(r >> _BITS) - 1, r & _MASK]
                return [(r >> _SHIFT3) - 1, (r >> _BITS) & _MASK, r & _MASK]
            if r == 0:
                return []
            # More than 3 ids (or closed): the C-string call.
        if len(raw) <= _SCRATCH_MAX:
            # The buffer has room for an id per byte (the call refuses more: NFC).
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
    return take_tokens(out)


def encode(
    self: Encoding,
    text: str,
    *,
    allowed_special: AllowedSpecial = set(),  # noqa: B006 (tiktoken's signature)
    disallowed_special: DisallowedSpecial = "all",
) -> list[int]:
    """Encodes ``text`` to token ids, with tiktoken's special-token rules.

    Special-token text in ``allowed_special`` becomes its special id; text in
    ``disallowed_special`` (by default every special token not allowed; other strings
    may be given too) raises ``ValueError`` with tiktoken's message, because silently
    encoding, say, ``<|endoftext|>`` from user input as a control token is a classic
    prompt-injection bug; anything else is ordinary text.

    >>> import bpekit
    >>> enc = bpekit.train(["hello world"], vocab_size=260, special_tokens=["<|eos|>"])
    >>> enc.decode(enc.encode("hi<|eos|>", allowed_special={"<|eos|>"}))
    'hi<|eos|>'
    """
    if type(text) is not str:
        text = as_str(text)  # a subclass is read by its characters, whatever its methods say
    if disallowed_special == "all" and not allowed_special:
        # tiktoken's default: its builtin looks for special tokens' text itself (faster
        # than `in`, which finds the "<" of most code and markup)
        fast = self._fast_default
        if fast is not None:
            try:
                return fast(text)  # type: ignore[no-any-return]
            except (UnicodeEncodeError, TypeError, TokenizerError):
                # lone surrogates (fixed up as tiktoken does), or a special token's text
                # (tiktoken's error): the general call, which does either
                return _encode_general(self, text, DEFAULT_POLICY)
        policy = DEFAULT_POLICY  # (what `_policy` gives it, without the call)
    else:
        policy = self._policy(allowed_special, disallowed_special)
        if policy.disallows_others:
            # No shortcut: only the core's search finds strings that are not special tokens.
            return _encode_general(self, text, policy)
        if policy.mode == 2 and self._fast_all is not None:
            try:
                return self._fast_all(text)  # type: ignore[no-any-return]
            except (UnicodeEncodeError, TypeError, TokenizerError):
                return _encode_general(self, text, policy)  # (as the default's builtin)
    if policy.ordinary or self._no_specials or (self._special_start is not None and self._special_start not in text):
        # Special tokens' text is ordinary text here (disallowed_special=(), tiktoken's
        # idiom for that), or none can be in it: encode_ordinary's builtin, if any, directly.
        fast = self._fast
        if fast is not None:
            try:
                return fast(text)  # type: ignore[no-any-return]
            except (UnicodeEncodeError, TypeError, TokenizerError):
                pass  # as in encode_ordinary
        return self.encode_ordinary(text)
    if self._ascii_ids is not None and len(text) == 1 and text < "\x80" and text not in self._special_tokens:
        return [self._ascii_ids[ord(text)] if self._raw else self._ptr]
    # _encode_general's body, written out: a Python call here costs more than the
    # native encode of a short text.
    raw = text_bytes(text)
    ids = _encode_fast(self._ptr, raw, policy.ptr)  # `policy` stays referenced meanwhile
    if ids is not None:
        return ids
    out = ffi.new("bpekit_tokens *")
    rustcall(lib.bpekit_tokenizer_encode, self._ptr, raw, len(raw), policy.ptr, out)
    return take_tokens(out)


def _encode_general(self: Encoding, text: str, policy: Any) -> list[int]:
    """``encode`` without shortcuts (the end of :func:`encode`, which writes it out):
    into a scratch buffer with no error object, else the call that raises tiktoken's
    errors."""
    raw = text_bytes(text)
    ids = _encode_fast(self._ptr, raw, policy.ptr)  # `policy` stays referenced meanwhile
    if ids is not None:
        return ids
    out = ffi.new("bpekit_tokens *")
    rustcall(lib.bpekit_tokenizer_encode, self._ptr, raw, len(raw), policy.ptr, out)
    return take_tokens(out)


def count(self: Encoding, raw: bytes, policy: Any) -> int:
    """The number of tokens ``bpekit_tokenizer_encode`` gives for ``raw`` under
    ``policy`` (a :class:`~bpekit._marshal.Policy`, which the caller keeps referenced),
    without the ids; raises the native error."""
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
    rustcall(lib.bpekit_tokenizer_count, self._ptr, raw, len(raw), policy.ptr, out)
    return int(out[0])
