//! The one error type of the crate.

use std::fmt;

/// What kind of failure an [`Error`] is. Each kind maps to one C status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An argument is out of range or inconsistent (e.g. a vocab size below 256).
    InvalidArg,
    /// Input documented as text is not valid UTF-8 (or, for UTF-16 input, has a lone
    /// surrogate).
    InvalidUtf8,
    /// A token id has no bytes in this tokenizer.
    UnknownToken,
    /// The split pattern does not compile, or the regex engine failed while matching.
    BadPattern,
    /// A rank table (tiktoken format or in memory) is malformed.
    BadRanks,
    /// Text contains a special token that the call does not allow.
    DisallowedSpecial,
    /// Reading or writing a file failed.
    Io,
    /// A serialized bpekit object (a count table, a tokenizer file) is truncated,
    /// corrupted, of another version, or not a bpekit file at all.
    BadFormat,
}

/// An error with a kind and a human-readable message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

/// `Result` with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Creates an error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into() }
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message, without the kind.
    pub fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn invalid_arg(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArg, message)
    }

    pub(crate) fn bad_ranks(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadRanks, message)
    }

    pub(crate) fn bad_format(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadFormat, message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}
