"""Exceptions, one class per ``BPEKIT_ERR_*`` code.

Each subclasses :class:`TokenizerError` and, where tiktoken users already catch a
builtin for the same failure, that builtin too (``KeyError`` for unknown token ids, as
tiktoken raises; ``ValueError`` for bad arguments).
"""

from __future__ import annotations


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

    code = 1


class InvalidArgumentError(TokenizerError, ValueError):
    """An argument is out of range, e.g. a vocab size below 256."""

    code = 2


class InvalidUtf8Error(TokenizerError, ValueError):
    """Input that must be text is not valid UTF-8."""

    code = 3


class UnknownTokenError(TokenizerError, KeyError):
    """A token id is not in the vocabulary (a ``KeyError``, as in tiktoken)."""

    code = 4


class DisallowedSpecialTokenError(TokenizerError, ValueError):
    """Text contains a special token that the call does not allow."""

    code = 5


class PatternError(TokenizerError, ValueError):
    """The split pattern is not a valid regex, or the regex engine failed."""

    code = 6


class RanksError(TokenizerError, ValueError):
    """A rank table is malformed."""

    code = 7


class BufferTooSmallError(TokenizerError):
    """A caller-provided buffer is too small."""

    code = 8


class InternalError(TokenizerError, RuntimeError):
    """A bug in bpekit (a Rust panic caught at the boundary). Please report it."""

    code = 9


class FormatError(TokenizerError, ValueError):
    """Serialized data (a count table, a tokenizer file) is truncated, corrupted, of
    another version, or not bpekit's."""

    code = 10


class IoError(TokenizerError, OSError):
    """Reading or writing a file failed (an ``OSError``)."""

    code = 11


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
