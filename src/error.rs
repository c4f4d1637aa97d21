//! The library's one error type.
//!
//! Every error carries where it happened (a path, and a 1-based line for line-oriented input)
//! so that it prints as `path:line: what is wrong`, the form editors and people can follow.
//! Whether a per-record error is fatal or a counted skip is the caller's choice: the reader
//! hands malformed records back as [`crate::read::Record::Skipped`] with the error inside.

use std::fmt;
use std::path::{Path, PathBuf};

/// A `Result` whose error is this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, without the where.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Reading a file or stream failed (missing path, permissions, truncated gzip, ...).
    Io,
    /// A JSON Lines record is not a JSON object.
    Json,
    /// A JSON Lines record lacks a field the user asked for, or it has the wrong type.
    Field,
    /// Bytes that cannot be decoded as text in the expected encoding.
    Decode,
    /// A parameter is out of range; checked once at the boundary by `validate()`.
    Params,
    /// A labels file (for evaluation) is malformed.
    Labels,
    /// A document or record is larger than the configured limit; it was read past.
    TooLarge,
    /// An output file would overwrite an input, or cannot be written.
    Output,
    /// A WARC record that is malformed, or whose payload is not a page (an image, a
    /// redirect, an HTTP error).
    Warc,
    /// A Parquet file (input, or a table of the handoff between `sign` and `group`) or a
    /// handoff manifest that cannot be read, lacks a column, or does not match the run.
    Parquet,
}

/// An error with the place it happened.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    path: Option<PathBuf>,
    line: Option<u64>,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl Error {
    /// A new error of `kind` with a message saying what is wrong.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
            path: None,
            line: None,
            source: None,
        }
    }

    /// An I/O error on `path`.
    pub fn io(path: &Path, err: std::io::Error) -> Error {
        Error::new(ErrorKind::Io, err.to_string())
            .with_path(path)
            .with_source(err)
    }

    /// An invalid parameter, reported by the `validate()` methods.
    pub fn params(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Params, message)
    }

    /// Attach the path of the input this error came from.
    pub fn with_path(mut self, path: impl Into<PathBuf>) -> Error {
        self.path = Some(path.into());
        self
    }

    /// Attach the 1-based line number within the input.
    pub fn with_line(mut self, line: u64) -> Error {
        self.line = Some(line);
        self
    }

    /// Attach the underlying cause.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Error {
        self.source = Some(Box::new(source));
        self
    }

    /// What kind of error this is.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// The message without the location.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The input path, if the error came from one.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The 1-based line within the input, for line-oriented formats.
    pub fn line(&self) -> Option<u64> {
        self.line
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(path) = &self.path {
            write!(f, "{}:", path.display())?;
            if let Some(line) = self.line {
                write!(f, "{line}:")?;
            }
            f.write_str(" ")?;
        } else if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_path_and_line() {
        let err = Error::new(ErrorKind::Json, "expected an object")
            .with_path("crawl.jsonl")
            .with_line(7);
        assert_eq!(err.to_string(), "crawl.jsonl:7: expected an object");
    }

    #[test]
    fn display_without_location_is_the_message() {
        assert_eq!(Error::params("bad").to_string(), "bad");
    }
}
