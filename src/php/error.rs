//! The error type of the PHP serialize layer.
//!
//! One type serves the parser, the serde deserializer and the serializer, the way serde_json does,
//! because a caller of `from_bytes` should not have to care which stage failed. Every error keeps the
//! byte offset where it happened (when there is one) and, once it has bubbled up through objects and
//! arrays, the property path, so a failed job says
//! `App\Jobs\SomeJob.userId: expected an integer, found string at byte 57`.

use std::fmt;

/// Result alias for this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, without the position and path (those live in [`Error`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input ended while a token was still open.
    #[error("unexpected end of input, expected {expected}")]
    Eof {
        /// What the parser was looking for.
        expected: &'static str,
    },
    /// A byte that does not fit the grammar at this point.
    #[error("expected {expected}, found {found}")]
    Syntax {
        /// What the grammar allows here.
        expected: &'static str,
        /// A short description of what is there instead.
        found: String,
    },
    /// A declared length or count that the rest of the input cannot hold.
    #[error("declared {what} {declared} exceeds the {remaining} bytes left")]
    LengthOutOfRange {
        /// `string length`, `element count`, ...
        what: &'static str,
        /// The number written in the input.
        declared: u64,
        /// Bytes left after the header.
        remaining: usize,
    },
    /// Nesting deeper than the configured limit.
    #[error("nesting deeper than the limit of {limit}")]
    DepthLimit {
        /// The limit in force.
        limit: usize,
    },
    /// A number that does not fit its target.
    #[error("number out of range: {0}")]
    NumberOutOfRange(String),
    /// A class name or enum case that is not valid UTF-8 or not a PHP identifier.
    #[error("invalid class name {0:?}")]
    InvalidClassName(String),
    /// `r:`/`R:` pointing to a slot that does not exist (yet) or to a non-object.
    #[error("invalid reference to slot {slot}: {reason}")]
    BadReference {
        /// The slot number written in the input.
        slot: u64,
        /// Why it cannot be followed.
        reason: &'static str,
    },
    /// Bytes left over after a complete value (only when the caller asked for strictness).
    #[error("trailing data after the value")]
    TrailingData,
    /// The value is well formed but does not have the shape the Rust type asked for.
    #[error("expected {expected}, found {found}")]
    Type {
        /// What the Rust side wanted (`an integer`, `struct SomeJob`, ...).
        expected: String,
        /// What the PHP value is.
        found: String,
    },
    /// A message from serde (`missing field`, `unknown variant`, a custom Deserialize impl, ...).
    #[error("{0}")]
    Custom(String),
}

/// An error from parsing, deserializing or serializing PHP's `serialize()` format.
///
/// Boxed so that `Result<T, Error>` stays one word wide on the hot path.
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    inner: Box<Inner>,
}

#[derive(Clone, PartialEq, Eq)]
struct Inner {
    kind: ErrorKind,
    offset: Option<usize>,
    /// Path segments from the outermost value inwards, e.g. `["App\Jobs\SomeJob", ".userId"]`.
    path: Vec<String>,
}

impl Error {
    /// An error at a byte offset of the input.
    pub fn at(kind: ErrorKind, offset: usize) -> Self {
        Error {
            inner: Box::new(Inner {
                kind,
                offset: Some(offset),
                path: Vec::new(),
            }),
        }
    }

    /// An error with no position (serializer errors, custom serde messages before we know where).
    pub fn new(kind: ErrorKind) -> Self {
        Error {
            inner: Box::new(Inner {
                kind,
                offset: None,
                path: Vec::new(),
            }),
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.inner.kind
    }

    /// Byte offset into the serialized input, if the error came from reading it.
    pub fn offset(&self) -> Option<usize> {
        self.inner.offset
    }

    /// The property path, e.g. `App\Jobs\SomeJob.userId` or `App\Jobs\X.items[3]`; empty at top level.
    pub fn path(&self) -> String {
        self.inner.path.concat()
    }

    /// Set the offset if none is known yet (serde's `custom` errors arrive without one).
    pub(crate) fn or_offset(mut self, offset: usize) -> Self {
        if self.inner.offset.is_none() {
            self.inner.offset = Some(offset);
        }
        self
    }

    /// Prefix the path with an outer segment as the error travels outwards.
    pub(crate) fn within(mut self, segment: impl Into<String>) -> Self {
        self.inner.path.insert(0, segment.into());
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path();
        if !path.is_empty() {
            write!(f, "{path}: ")?;
        }
        write!(f, "{}", self.inner.kind)?;
        if let Some(offset) = self.inner.offset {
            write!(f, " at byte {offset}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Error({self})")
    }
}

impl std::error::Error for Error {}

impl serde::de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error::new(ErrorKind::Custom(msg.to_string()))
    }

    fn invalid_type(unexp: serde::de::Unexpected<'_>, exp: &dyn serde::de::Expected) -> Self {
        Error::new(ErrorKind::Type {
            expected: exp.to_string(),
            found: unexp.to_string(),
        })
    }
}

impl serde::ser::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error::new(ErrorKind::Custom(msg.to_string()))
    }
}
