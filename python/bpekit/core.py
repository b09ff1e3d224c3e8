"""The Python API: :class:`Encoding` (tiktoken's) and loading.

``Encoding``'s methods normalise their arguments and make one native call; the routes
of short texts (``encode_ordinary``, ``encode``, ``count``) are in ``_route``, the
conversions between Python objects and native arguments and results in ``_marshal``,
and training in ``_train``.
"""

from __future__ import annotations

import base64
import codecs
import functools
import operator
import os
import re
from typing import TYPE_CHECKING, Any, Iterable, NamedTuple, Sequence

from . import _route
from ._errors import DisallowedSpecialTokenError, TokenizerError
from ._lowlevel import Handle, ffi, lib, rustcall
from ._marshal import (
    DEFAULT_POLICY,
    AllowedSpecial,
    DisallowedSpecial,
    Policy,
    Slices,
    TextSlices,
    TextLike,
    as_str,
    borrowed_bytes,
    ids_buffer,
    pattern_arg,
    refuse_text_as_ids,
    special_set,
    take_batch,
    take_batch_numpy,
    take_bytes,
    take_tokens,
    take_tokens_numpy,
    text_bytes,
    utf8,
)
from ._train import Trainer, train  # (bpekit.core's names, as TextLike)

#: str's own `in` (a subclass's `__contains__` may say anything about its characters)
_str_has = str.__contains__

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt


# ==== Patterns ====


def _named_pattern(name: str) -> str:
    data, size = ffi.new("const uint8_t **"), ffi.new("size_t *")
    raw = name.encode("utf-8")
    rustcall(lib.bpekit_pattern_named, raw, len(raw), data, size)
    return borrowed_bytes(data, size).decode("utf-8")


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
#: Llama 3's split pattern (the same pieces as rustbpe's; runs on the named splitter).
LLAMA3_PATTERN: str = _named_pattern("llama3")
#: Qwen 2's (and Qwen 3's) split pattern: Llama 3's with single digits.
QWEN2_PATTERN: str = _named_pattern("qwen2")
#: A DeepSeek-V3-style split pattern (CJK runs, punctuation before letters).
DEEPSEEK_V3_PATTERN: str = _named_pattern("deepseek_v3")
#: How a split chain's pattern starts (see :func:`split_chain`); no regex does.
_CHAIN_PREFIX = "(?*chain)"
_CHAIN_STEP = re.compile(r"\(\?\*(isolated|matches):([0-9]+)\)")


def split_chain(steps: Iterable[tuple[str, str]]) -> str:
    r"""The pattern of a *split chain*: each ``(regex, kind)`` step splits every piece
    of the step before, on that piece alone (HF ``tokenizer.json`` files that split in
    several steps, as DeepSeek's: digits, then CJK runs, then the rest). ``kind`` is
    ``"isolated"`` (the matches and the text between them are pieces, HF's ``Isolated``)
    or ``"matches"`` (only the matches, as tiktoken and a plain pattern split). The result
    is a pattern string like any other (``Encoding(pat_str=...)``, ``train(pattern=...)``,
    files); it is not a regex: it starts with ``(?*chain)``, then ``(?*KIND:LEN)REGEX`` per
    step, ``LEN`` the regex's UTF-8 length.

    >>> pat = split_chain([(r"\p{N}{1,3}", "isolated"), (r"[a-z]+|\s", "isolated")])
    >>> print(pat)
    (?*chain)(?*isolated:10)\p{N}{1,3}(?*isolated:9)[a-z]+|\s
    >>> split_chain_steps(pat) == [(r"\p{N}{1,3}", "isolated"), (r"[a-z]+|\s", "isolated")]
    True
    """
    out = [_CHAIN_PREFIX]
    for regex, kind in steps:
        if kind not in ("isolated", "matches"):
            raise ValueError(f"split chain step kind must be 'isolated' or 'matches', not {kind!r}")
        out.append(f"(?*{kind}:{len(regex.encode('utf-8'))}){regex}")
    if len(out) == 1:
        raise ValueError("a split chain needs at least one step")
    return "".join(out)


def split_chain_steps(pattern: str) -> list[tuple[str, str]] | None:
    """The ``(regex, kind)`` steps of a :func:`split_chain` pattern; ``None`` for a plain
    pattern. :class:`PatternError` for a damaged chain (as the library reports it)."""
    if not pattern.startswith(_CHAIN_PREFIX):
        return None
    raw, at, steps = pattern.encode("utf-8"), len(_CHAIN_PREFIX), []
    while at < len(raw):
        m = _CHAIN_STEP.match(raw[at:].decode("utf-8", "replace"))
        if m is None:
            break
        start = at + len(m.group(0))
        end = start + int(m.group(2))
        try:
            steps.append((raw[start:end].decode("utf-8"), m.group(1)))
        except UnicodeDecodeError:
            break
        at = end
    if at != len(raw) or not steps:
        # The library's PatternError names what is wrong.
        out = ffi.new("bpekit_trainer **")
        rustcall(lib.bpekit_trainer_new, raw, len(raw), out)
        lib.bpekit_trainer_free(out[0])
        raise ValueError(f"invalid split chain: {pattern!r}")
    return steps


# Patterns under which every single character is a piece of its own.
_CHAR_IS_PIECE = frozenset((GPT2_PATTERN, CL100K_PATTERN, O200K_PATTERN, RUSTBPE_GPT4_PATTERN, NANOCHAT_PATTERN))


_POLICY_CACHE_MAX = 64
#: argument types whose empty values mean "no special tokens" (see Encoding._policy)
_PLAIN_EMPTY = frozenset({set, frozenset, tuple, list, type(None)})

#: numpy's uint32 and uint64 dtypes, made on first use (numpy is imported lazily): given
#: as a dtype, `numpy.frombuffer` takes 0.13 µs, given as `numpy.uint32` 0.33 µs
_DTYPES: tuple[Any, Any] | None = None


def _dtypes(numpy: Any) -> tuple[Any, Any]:
    global _DTYPES, _FROMBUFFER
    if _DTYPES is None:
        _DTYPES = (numpy.dtype(numpy.uint32), numpy.dtype(numpy.uint64))
        _FROMBUFFER = numpy.frombuffer
    return _DTYPES


#: `numpy.frombuffer`, once `_dtypes` has run: `encode_to_numpy`'s common calls go
#: straight to it (see there).
_FROMBUFFER: Any = None

#: the normalized (allowed, disallowed) pair of no special-token handling
_NO_SPECIALS = (frozenset(), frozenset())


def _normalization_code(form: str | None) -> int:
    """The ``BPEKIT_NORMALIZE_*`` value of a normalization form (``None`` or ``"NFC"``)."""
    if form is None:
        return int(lib.BPEKIT_NORMALIZE_NONE)
    if form == "NFC":
        return int(lib.BPEKIT_NORMALIZE_NFC)
    raise ValueError(f"normalization must be None or 'NFC', not {form!r}")


# ==== Encoding ====


class Encoding(Handle):
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
    # The fast-path state `_route.prepare` sets (read by the methods bound from _route):
    _fast: Any = None  # encode_ordinary as a CPython builtin, or None
    _fast_u32: Any = None  # the same, returning a bytearray of uint32 ids, or None
    _fast_batch: Any = None  # the same for a list of texts ((texts, num_threads)), or None
    _fast_batch_u32: Any = None  # the same as [ids bytearray (uint32), offsets bytearray (uint64)], or None
    _fast_default: Any = None  # encode with tiktoken's default arguments as a CPython builtin, or None
    _fast_default_u32: Any = None  # the same, returning a bytearray of uint32 ids, or None
    _fast_all: Any = None  # encode with allowed_special="all" as a CPython builtin, or None
    _fast_all_u32: Any = None  # the same, returning a bytearray of uint32 ids, or None
    _fast_decode: Any = None  # decode_bytes of a list as a CPython builtin, or None
    _ascii_ids: tuple[int, ...] | None  # the id of each ASCII character, where one is one token
    _char_ids: dict[str, int]  # single characters' packed results, as computed
    _special_start: str | None  # the first character of every special token, if one
    _no_specials: bool

    def __init__(
        self,
        name: str,
        *,
        pat_str: str,
        mergeable_ranks: dict[bytes, int],
        special_tokens: dict[str, int],
        explicit_n_vocab: int | None = None,
        normalization: str | None = None,
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
        self._init_from(self._build(blob, pat_str, special_tokens, normalization), name)

    @staticmethod
    def _build(blob: bytes, pat_str: str | None, special_tokens: dict[str, int], normalization: str | None = None) -> Any:
        code = _normalization_code(normalization)  # (checked before any native object exists)
        out = ffi.new("bpekit_tokenizer **")
        pat, pat_len = pattern_arg(pat_str)
        texts = [utf8(t) for t in special_tokens]
        slices = Slices(texts)
        specials = ffi.new("bpekit_special_token[]", len(texts))
        for i, (raw, tid) in enumerate(zip(texts, special_tokens.values())):
            specials[i].text = slices.array[i]
            specials[i].id = tid
        rustcall(lib.bpekit_tokenizer_new, blob, len(blob), pat, pat_len, specials, len(texts), out)
        if code == lib.BPEKIT_NORMALIZE_NONE:
            return out[0]
        plain = out[0]
        try:
            rustcall(lib.bpekit_tokenizer_with_normalization, plain, code, out)
        finally:
            lib.bpekit_tokenizer_free(plain)
        return out[0]

    def _init_from(self, ptr: Any, name: str) -> None:
        self._own(ptr)
        self.name = name
        self._policies: dict[tuple[Any, Any], Policy] = {}
        self._special_tokens = self._read_special_tokens()
        self.special_tokens_set: frozenset[str] = frozenset(self._special_tokens)
        _route.prepare(self, self.pat_str in _CHAR_IS_PIECE)

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
            out[borrowed_bytes(text, size).decode("utf-8")] = tid[0]
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
        _route.drop_builtins(self)  # they hold the handle
        super().close()

    def __copy__(self) -> Encoding:
        """Another Encoding over the same native tokenizer, which is immutable (closing
        one leaves the other usable). ``copy.deepcopy`` and pickle build a new one."""
        other = type(self).__new__(type(self))
        other.__dict__.update(self.__dict__)
        return other

    #: Whether :func:`get_encoding` returned this Encoding for its name (pickled by name).
    _registered = False

    def __getstate__(self) -> object:
        # As tiktoken does, an encoding of get_encoding pickles as its name (the loading
        # side reads its own copy of the rank file); any other as the whole tokenizer.
        if self._registered:
            return self.name
        return {"name": self.name, "bpekit": self.to_bytes()}

    def __setstate__(self, state: str | dict[str, Any]) -> None:
        if isinstance(state, str):
            from ._registry import get_encoding

            shared = get_encoding(state)
            self.__dict__.update(shared.__dict__)  # (the same native tokenizer, immutable)
            return
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
        return take_bytes(out)

    def with_normalization(self, normalization: str | None) -> Encoding:
        """A copy that applies ``normalization`` (``"NFC"`` or ``None``) to ordinary text
        before splitting; this encoding is unchanged."""
        out = ffi.new("bpekit_tokenizer **")
        rustcall(lib.bpekit_tokenizer_with_normalization, self._ptr, _normalization_code(normalization), out)
        return type(self)._from_ptr(out[0], self.name)

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
        return borrowed_bytes(data, size).decode("utf-8")

    @property
    def normalization(self) -> str | None:
        """The Unicode normalization applied to ordinary text before splitting: ``"NFC"``
        (as in Qwen's ``tokenizer.json``) or ``None``. Special tokens are found in the text
        as given; decoding gives the normalized text; offsets stay in the text as given.

        >>> ranks = {bytes([b]): b for b in range(256)} | {"é".encode(): 256}
        >>> enc = Encoding("nfc", pat_str=CL100K_PATTERN, mergeable_ranks=ranks, special_tokens={},
        ...                normalization="NFC")
        >>> enc.normalization, enc.encode("e\u0301"), enc.decode(enc.encode("e\u0301")) == "é"
        ('NFC', [256], True)
        """
        return "NFC" if lib.bpekit_tokenizer_normalization(self._ptr) == lib.BPEKIT_NORMALIZE_NFC else None

    @property
    def split_engine(self) -> str:
        """Which engine splits text for this pattern: ``"named"`` (the hand-written
        splitter of an OpenAI, rustbpe, Llama 3 or Qwen 2 pattern), ``"automaton"`` (DFAs
        compiled from a pattern proven to qualify, such as DeepSeek's) or ``"backtracking"`` (fancy-regex,
        for every other pattern). Every engine gives the same pieces; only speed differs."""
        return ffi.string(lib.bpekit_tokenizer_split_engine(self._ptr)).decode("ascii")

    @property
    def mergeable_ranks(self) -> dict[bytes, int]:
        """Token bytes → rank, like tiktoken's ``mergeable_ranks`` (built on each access)."""
        from ._tiktoken_format import parse

        return parse(self.export_tiktoken())

    # ---- tiktoken's private attributes, read by code that extends an encoding ----

    @functools.cached_property
    def _pat_str(self) -> str:
        return self.pat_str

    @functools.cached_property
    def _mergeable_ranks(self) -> dict[bytes, int]:
        return self.mergeable_ranks

    def _encode_single_piece(self, text_or_bytes: str | bytes) -> list[int]:
        """Encodes one piece (str, or any bytes) without splitting it and without
        special tokens: its id if it is a token, else what byte-pair merging gives."""
        raw = text_bytes(text_or_bytes) if isinstance(text_or_bytes, str) else bytes(text_or_bytes)
        out = ffi.new("bpekit_tokens *")
        rustcall(lib.bpekit_tokenizer_encode_piece, self._ptr, raw, len(raw), out)
        return take_tokens(out)

    def _encode_only_native_bpe(self, text: str) -> list[int]:
        """tiktoken's check of its regex split; here :meth:`encode_ordinary` (one engine)."""
        return self.encode_ordinary(text)

    def _encode_bytes(self, text: bytes) -> list[int]:
        """Encodes bytes that need not be UTF-8 (special-token text as ordinary text):
        UTF-8 is :meth:`encode_ordinary` of it; otherwise the valid prefix is encoded,
        and the tokens of its last piece (with whitespace-only tokens before them) are
        merged again with the remaining bytes as one piece, as tiktoken does."""
        raw = bytes(text)
        out = ffi.new("bpekit_tokens *")
        rustcall(lib.bpekit_tokenizer_encode_bytes, self._ptr, raw, len(raw), out)
        return take_tokens(out)

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

    def _policy(self, allowed_special: AllowedSpecial, disallowed_special: DisallowedSpecial) -> Policy:
        """The policy for a tiktoken (allowed, disallowed) pair, from a bounded cache.

        Keep the returned object referenced until the native call that uses its ``ptr``
        returns (see :class:`~bpekit._marshal.Policy`).
        """
        if disallowed_special == "all" and not allowed_special:
            return DEFAULT_POLICY  # tiktoken's default, the common case
        if (
            type(allowed_special) in _PLAIN_EMPTY
            and type(disallowed_special) in _PLAIN_EMPTY
            and not allowed_special
            and not disallowed_special
        ):
            # No special-token handling (disallowed_special=(), the other common case):
            # straight to its cached policy, without normalizing the arguments.
            allowed, disallowed = _NO_SPECIALS
        else:
            # (an exact "all" is taken as it is: allowed_special="all" is common)
            allowed, disallowed = allowed_special, disallowed_special
            if type(allowed) is not str or allowed != "all":
                allowed = special_set(allowed, "allowed_special")
            if type(disallowed) is not str or disallowed != "all":
                disallowed = special_set(disallowed, "disallowed_special")
        key = (allowed, disallowed)
        policy = self._policies.get(key)
        if policy is None:
            policy = Policy(allowed, disallowed, self.special_tokens_set)
            if len(self._policies) >= _POLICY_CACHE_MAX:
                self._policies.clear()  # safe: callers hold the policies they use
            self._policies[key] = policy
        return policy

    # The routes of short texts, bound as methods (see _route: a wrapper around them
    # would cost as much as a short text's native work).
    encode = _route.encode
    encode_ordinary = _route.encode_ordinary

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
        text = as_str(text)
        raw = text_bytes(text)
        policy = self._policy(allowed_special, disallowed_special)
        stable, completions = ffi.new("bpekit_tokens *"), ffi.new("bpekit_tokens *")
        offsets = ffi.new("bpekit_offsets *")
        rustcall(
            lib.bpekit_tokenizer_encode_with_unstable, self._ptr, raw, len(raw), policy.ptr, stable, completions, offsets
        )
        try:
            ids = take_tokens(stable)
        finally:
            sequences = take_batch(completions, offsets)
        return ids, sequences

    def count(
        self,
        text: str,
        *,
        allowed_special: AllowedSpecial = set(),  # noqa: B006
        disallowed_special: DisallowedSpecial = "all",
    ) -> int:
        """``len(self.encode(text, ...))`` without building the list."""
        if type(text) is not str:
            text = as_str(text)
        raw = text_bytes(text)
        if disallowed_special == "all" and not allowed_special:
            policy = DEFAULT_POLICY
        else:
            policy = self._policy(allowed_special, disallowed_special)
        return _route.count(self, raw, policy)

    def encode_with_offsets(
        self,
        text: str,
        *,
        unit: str = "byte",
        allowed_special: AllowedSpecial = set(),  # noqa: B006
        disallowed_special: DisallowedSpecial = "all",
    ) -> TokenSpans:
        """Like :meth:`encode`, with the span of ``text`` each token covers: token ``i``
        covers ``starts[i]:ends[i]``, in bytes of its UTF-8 (``unit="byte"``: each span
        is its token's bytes, and the spans tile the text where the pattern matches all
        of it, as every named pattern does) or in characters (``unit="char"``:
        a span holds every character its token has a byte of, so a character split
        between tokens is in each one's span; the starts are those of
        :meth:`decode_with_offsets`). Offsets are into the text as encoded: where
        ``text`` has surrogates (which UTF-8 cannot hold), into the text after the
        fix-up ``encode`` applies (a pair becomes its character, a lone one U+FFFD).

        >>> enc = train(["hello world"] * 20, vocab_size=270)
        >>> text = "hello wörld"  # "ö" is two bytes, and two tokens here
        >>> ids, starts, ends = enc.encode_with_offsets(text, unit="char")
        >>> [text[a:b] for a, b in zip(starts, ends)]
        ['hello', ' w', 'ö', 'ö', 'r', 'ld']
        >>> enc.encode_with_offsets(text).starts  # in bytes
        [0, 5, 7, 8, 9, 10]
        """
        units = {"byte": lib.BPEKIT_OFFSETS_BYTE, "char": lib.BPEKIT_OFFSETS_CHAR}
        if unit not in units:
            raise ValueError(f"unit must be 'byte' or 'char', not {unit!r}")
        raw = text_bytes(as_str(text))
        policy = self._policy(allowed_special, disallowed_special)
        ids, starts, ends = ffi.new("bpekit_tokens *"), ffi.new("bpekit_offsets *"), ffi.new("bpekit_offsets *")
        rustcall(lib.bpekit_tokenizer_encode_with_offsets, self._ptr, raw, len(raw), policy.ptr, units[unit], ids, starts, ends)
        try:
            unpack = lambda o: ffi.unpack(o.data, o.len) if o.len else []  # noqa: E731  (NULL when empty)
            return TokenSpans(take_tokens(ids), unpack(starts), unpack(ends))
        finally:
            lib.bpekit_offsets_free(starts)
            lib.bpekit_offsets_free(ends)

    def encode_to_numpy(
        self,
        text: str,
        *,
        allowed_special: AllowedSpecial = set(),  # noqa: B006
        disallowed_special: DisallowedSpecial = "all",
    ) -> npt.NDArray[np.uint32]:
        """Like :meth:`encode`, as a ``numpy.uint32`` array (no Python list in between)."""
        if _FROMBUFFER is not None and type(text) is str:
            # The two common calls, tiktoken's defaults and disallowed_special=(), straight
            # to their builtins without a policy: on a short text the general route below
            # cost twice the encode and the array together.
            fast = None
            if not allowed_special and type(allowed_special) in _PLAIN_EMPTY:
                if type(disallowed_special) is str and disallowed_special == "all":
                    fast = self._fast_default_u32  # (it raises for special tokens' text)
                elif not disallowed_special and type(disallowed_special) in _PLAIN_EMPTY:
                    fast = self._fast_u32
            if fast is not None:
                try:
                    return _FROMBUFFER(fast(text), _DTYPES[0])  # type: ignore[index]
                except (UnicodeEncodeError, TokenizerError):
                    pass  # as below: the general route decides
        import numpy  # missing: ImportError before any encoding

        if type(text) is not str:
            text = as_str(text)  # a subclass is read by its characters
        policy = self._policy(allowed_special, disallowed_special)
        if policy.mode == 1 and self._fast_default_u32 is not None:
            fast, unless = self._fast_default_u32, True  # (it raises for special tokens' text)
        elif policy.mode == 2 and self._fast_all_u32 is not None:
            fast, unless = self._fast_all_u32, True
        else:
            fast, unless = self._fast_u32, self._ordinary_unless(policy)
        if fast is not None and (unless is True or (unless is not False and unless not in text)):
            # No special token can be in it: the builtin's bytearray becomes the array's
            # memory (writable, no copy).
            try:
                return numpy.frombuffer(fast(text), (_DTYPES or _dtypes(numpy))[0])
            except (UnicodeEncodeError, TokenizerError):
                pass  # lone surrogates (fixed up below, as tiktoken does), or an encode
                # error (raised below with its own class)
        raw = text_bytes(text)
        out = ffi.new("bpekit_tokens *")
        rustcall(lib.bpekit_tokenizer_encode, self._ptr, raw, len(raw), policy.ptr, out)
        return take_tokens_numpy(out, numpy)

    def _ordinary_unless(self, policy: Policy) -> bool | str:
        """Whether ``encode`` under ``policy`` is ``encode_ordinary``: True whatever the
        text (the policy ignores special tokens, or there are none and nothing else is
        disallowed), False if only the core can tell, or the character (the first of every
        special token) whose absence from a text makes it so."""
        if policy.ordinary or (self._no_specials and not policy.disallows_others):
            return True
        if policy.disallows_others or self._special_start is None:
            return False
        return self._special_start

    def _encode_batch_flat(self, texts: Iterable[str], policy: Policy, num_threads: int) -> tuple[Any, Any]:
        """One native batch call: the owned ids and offsets buffers (caller frees them).
        A disallowed special token raises tiktoken's message for the first text at fault.
        ``texts`` may be any iterable, read once (like every argument of many items)."""
        if type(texts) is not list:
            texts = list(texts)
        slices = TextSlices(texts)
        ids, offsets = ffi.new("bpekit_tokens *"), ffi.new("bpekit_offsets *")
        try:
            rustcall(lib.bpekit_tokenizer_encode_batch, self._ptr, slices.array, slices.n, policy.ptr, num_threads, ids, offsets)
        except DisallowedSpecialTokenError as e:
            # The core names the text ("texts[i]: ..."); tiktoken's encode_batch raises
            # the text's own error.
            message = str(e)
            if message.startswith("texts["):
                e.args = (message.split("]: ", 1)[-1], *e.args[1:])
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
        policy = self._policy(allowed_special, disallowed_special)  # (reads them once)
        if self._fast_batch is not None:
            text = text if type(text) is list else list(text)
            lists = self._fast_batch_call(self._fast_batch, text, policy, num_threads)
            if lists is not None:
                return lists  # type: ignore[no-any-return]
        return take_batch(*self._encode_batch_flat(text, policy, num_threads))

    def _fast_batch_call(self, fast: Any, texts: list[str], policy: Policy, num_threads: int) -> Any:
        """``fast((texts, num_threads))``, a batch builtin (which encodes with the GIL
        released, reading the texts' UTF-8 in place), where no special token can be in
        the texts, or under a policy it applies itself (``Policy.mode``); None where
        it cannot serve: a special token may be there, or it refuses the texts (lone
        surrogates, an item that is not a str, a bad num_threads, an encode error, a
        special token's text), which the native call fixes up or raises."""
        try:
            if policy.mode and self._fast_default is not None:  # (then it takes the mode)
                return fast((texts, num_threads, policy.mode))
            unless = self._ordinary_unless(policy)
            # (str's own `in`: a subclass is read by its characters; TypeError if an item
            # is not a str)
            if unless is True or (unless is not False and not any(_str_has(t, unless) for t in texts)):
                return fast((texts, num_threads))
        except (UnicodeEncodeError, TypeError, TokenizerError):
            pass
        return None

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
        import numpy  # missing: ImportError before any encoding

        policy = self._policy(allowed_special, disallowed_special)
        if self._fast_batch_u32 is not None:
            text = text if type(text) is list else list(text)
            flat = self._fast_batch_call(self._fast_batch_u32, text, policy, num_threads)
            if flat is not None:
                # (the bytearrays become the arrays' memory: no copy)
                u32, u64 = _DTYPES or _dtypes(numpy)
                return numpy.frombuffer(flat[0], u32), numpy.frombuffer(flat[1], u64)
        return take_batch_numpy(*self._encode_batch_flat(text, policy, num_threads), numpy)

    def encode_single_token(self, text_or_bytes: str | bytes) -> int:
        """The id of text or bytes that form exactly one token (``KeyError`` otherwise)."""
        if isinstance(text_or_bytes, str):
            raw = utf8(text_or_bytes)
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
        if type(tokens) is list and self._fast_decode is not None:
            try:
                return self._fast_decode(tokens)  # type: ignore[no-any-return]
            except (TokenizerError, TypeError, OverflowError):
                pass  # an id that is no token, or not an int in range: raised below
        ids = ids_buffer(tokens)
        out = ffi.new("bpekit_bytes *")
        buf = ffi.from_buffer("uint32_t[]", ids)
        if lib.bpekit_tokenizer_decode(self._ptr, buf, len(ids), out, ffi.NULL) != 0:
            rustcall(lib.bpekit_tokenizer_decode, self._ptr, buf, len(ids), out)  # raises
        return take_bytes(out)

    def decode(self, tokens: Sequence[int], errors: str = "replace") -> str:
        """Decodes ids to text; invalid UTF-8 is handled per ``errors`` (as ``bytes.decode``)."""
        return self.decode_bytes(tokens).decode("utf-8", errors=errors)

    def decoder(self, errors: str = "replace") -> StreamDecoder:
        """A :class:`StreamDecoder` for this encoding: text as ids arrive one by one."""
        return StreamDecoder(self, errors)

    def decode_single_token_bytes(self, token: int) -> bytes:
        """The bytes of one token. Raises :class:`UnknownTokenError` (a ``KeyError``), or
        ``OverflowError`` for an id outside 0..2**32-1 (as tiktoken and :meth:`decode`)."""
        token = operator.index(token)  # an int (a bool too, as in tiktoken), not a float
        if not 0 <= token < 2**32:  # as tiktoken (and decode) raise
            raise OverflowError(f"token id {token} is not in 0..2**32-1")
        data, size = ffi.new("const uint8_t **"), ffi.new("size_t *")
        ptr = self._ptr  # keeps the tokenizer, which owns the bytes, alive (see pat_str)
        rustcall(lib.bpekit_tokenizer_token_bytes, ptr, token, data, size)
        return borrowed_bytes(data, size)

    def decode_tokens_bytes(self, tokens: Sequence[int]) -> list[bytes]:
        """The bytes of each token."""
        refuse_text_as_ids(tokens)
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
        (needs tiktoken installed). ``ValueError`` for an encoding tiktoken cannot
        reproduce: one that normalizes, or splits with a split chain."""
        import tiktoken

        if self.normalization is not None:
            raise ValueError(f"tiktoken does not normalize text; this encoding applies {self.normalization}")
        if split_chain_steps(self.pat_str) is not None:
            raise ValueError("tiktoken splits with one regex; this encoding's pattern is a split chain")

        return tiktoken.Encoding(
            self.name, pat_str=self.pat_str, mergeable_ranks=self.mergeable_ranks, special_tokens=self.special_tokens
        )

    def save_hf(self, directory: str | os.PathLike[str]) -> Any:
        """Writes HF ``tokenizer.json`` and ``tokenizer_config.json`` into ``directory``
        (see :mod:`bpekit.hf`), so that ``tokenizers`` and ``transformers`` load this
        encoding and give its ids. Returns the ``tokenizer.json`` path."""
        from .hf import save_hf

        return save_hf(self, directory)

    def export_tiktoken(self) -> bytes:
        """The ranks in tiktoken's ``.tiktoken`` format, sorted by rank."""
        out = ffi.new("bpekit_bytes *")
        rustcall(lib.bpekit_tokenizer_export_tiktoken, self._ptr, out)
        return take_bytes(out)


class TokenSpans(NamedTuple):
    """What :meth:`Encoding.encode_with_offsets` returns: token ``ids[i]`` covers
    ``starts[i]:ends[i]`` of the text."""

    ids: list[int]
    starts: list[int]
    ends: list[int]


class StreamDecoder(Handle):
    """Decodes ids as they arrive (a server streaming a model's output): :meth:`add`
    returns the text the new ids complete, holding back a character that a token ended
    in the middle of until the next ids complete it; :meth:`flush` gives what is held
    (an incomplete character, decoded per ``errors``) and starts over. The pieces,
    joined, equal ``enc.decode(all_ids, errors)``, whatever the ``errors`` of
    ``bytes.decode``.

    >>> enc = train(["héllo wörld"] * 20, vocab_size=260)
    >>> dec = enc.decoder()
    >>> ids = list(enc.encode_single_token(bytes([b])) for b in "é".encode())
    >>> dec.add(ids[0]), dec.add(ids[1]), dec.flush()
    ('', 'é', '')
    """

    _free = lib.bpekit_stream_decoder_free

    def __init__(self, enc: Encoding, errors: str = "replace") -> None:
        codecs.lookup_error(errors)  # an unknown handler fails here (LookupError)
        # Strict: the core checks, and leaves the decoder as it was on ill-formed text.
        # Any other handler: the core gives the bytes cut where bytes.decode of each
        # piece equals that of the whole, and each piece is decoded here.
        mode = lib.BPEKIT_UTF8_STRICT if errors == "strict" else lib.BPEKIT_UTF8_BYTES
        out = ffi.new("bpekit_stream_decoder **")
        rustcall(lib.bpekit_stream_decoder_new, mode, out)
        self._own(out[0])
        self.encoding = enc
        self.errors = errors

    def add(self, tokens: int | Iterable[int]) -> str:
        """Adds one id (or several) and returns the text they complete (often ``""``).
        Raises :class:`UnknownTokenError` for an unknown id, and under ``errors="strict"``
        :class:`InvalidUtf8Error` (a ``ValueError``) for ill-formed text; either way
        nothing is added."""
        ids = ids_buffer([tokens] if isinstance(tokens, int) else tokens)
        out = ffi.new("bpekit_bytes *")
        rustcall(lib.bpekit_stream_decoder_add, self._ptr, self.encoding._ptr, ffi.from_buffer("uint32_t[]", ids), len(ids), out)
        return take_bytes(out).decode("utf-8", self.errors)

    def flush(self) -> str:
        """The held-back incomplete character, decoded per ``errors`` (``""`` if none;
        :class:`InvalidUtf8Error` under ``errors="strict"``, the character still held);
        the decoder then starts a new stream."""
        out = ffi.new("bpekit_bytes *")
        rustcall(lib.bpekit_stream_decoder_flush, self._ptr, out)
        return take_bytes(out).decode("utf-8", self.errors)


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

