"""Exceptions, one class per ``BPEKIT_ERR_*`` code.

Each subclasses :class:`TokenizerError` and, where tiktoken users already catch a
builtin for the same failure, that builtin too (``KeyError`` for unknown token ids, as
tiktoken raises; ``ValueError`` for bad arguments).

The classes are written out (so that type checkers and IDEs see them); their codes are
the header's constants, read from the loaded library, never typed here. A code the
library returns that no class has (a newer library) raises :class:`TokenizerError`.
``tests/python/test_errors.py`` fails if a ``BPEKIT_ERR_*`` of the header has no class.
"""

from __future__ import annotations

from ._lowlevel import lib


class TokenizerError(Exception):
    """Base class of every bpekit error. ``code`` is the C status code."""

    code: int = -1

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class NullArgumentError(TokenizerError, ValueError):
    """A required argument was NULL (a bug in the caller of the C API)."""

    code = lib.BPEKIT_ERR_NULL_ARG


class InvalidArgumentError(TokenizerError, ValueError):
    """An argument is out of range, e.g. a vocab size below 256."""

    code = lib.BPEKIT_ERR_INVALID_ARG


class InvalidUtf8Error(TokenizerError, ValueError):
    """Input that must be text is not valid UTF-8."""

    code = lib.BPEKIT_ERR_INVALID_UTF8


class UnknownTokenError(TokenizerError, KeyError):
    """A token id is not in the vocabulary (a ``KeyError``, as in tiktoken)."""

    code = lib.BPEKIT_ERR_UNKNOWN_TOKEN


class DisallowedSpecialTokenError(TokenizerError, ValueError):
    """Text contains a special token that the call does not allow."""

    code = lib.BPEKIT_ERR_DISALLOWED_SPECIAL


class PatternError(TokenizerError, ValueError):
    """The split pattern is not a valid regex, or the regex engine failed."""

    code = lib.BPEKIT_ERR_BAD_PATTERN


class RanksError(TokenizerError, ValueError):
    """A rank table is malformed."""

    code = lib.BPEKIT_ERR_BAD_RANKS


class BufferTooSmallError(TokenizerError):
    """A caller-provided buffer is too small."""

    code = lib.BPEKIT_ERR_BUFFER_TOO_SMALL


class InternalError(TokenizerError, RuntimeError):
    """A bug in bpekit (a Rust panic caught at the boundary). Please report it."""

    code = lib.BPEKIT_ERR_PANIC


class FormatError(TokenizerError, ValueError):
    """Serialized data (a count table, a tokenizer file) is truncated, corrupted, of
    another version, or not bpekit's."""

    code = lib.BPEKIT_ERR_BAD_FORMAT


class IoError(TokenizerError, OSError):
    """Reading or writing a file failed (an ``OSError``)."""

    code = lib.BPEKIT_ERR_IO


#: status code -> class
by_code: dict[int, type[TokenizerError]] = {
    cls.code: cls
    for cls in (
        NullArgumentError,
        InvalidArgumentError,
        InvalidUtf8Error,
        UnknownTokenError,
        DisallowedSpecialTokenError,
        PatternError,
        RanksError,
        BufferTooSmallError,
        InternalError,
        FormatError,
        IoError,
    )
}


def error_for(code: int, message: str) -> TokenizerError:
    """The exception for a status code; unknown (newer) codes give the base class."""
    return by_code.get(code, TokenizerError)(message, code)
