//! The error type shared by the library crates.
//!
//! Errors name what went wrong and where (file, line, column, table), because the person
//! reading them is usually looking at their own data, not at our code.

use std::fmt;

/// Result alias used across risklake's library crates.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong in risklake's library code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The user's input is invalid: a bad option, value, file or table. The message says
    /// what and where.
    #[error("{0}")]
    Invalid(String),
    /// A named thing (table, run, column, file) does not exist.
    #[error("{kind} not found: {name}")]
    NotFound { kind: &'static str, name: String },
    /// An I/O failure, with the path or resource involved.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// An Arrow failure, with what we were doing.
    #[error("{context}: {source}")]
    Arrow {
        context: String,
        #[source]
        source: arrow::error::ArrowError,
    },
    /// Anything from an external engine (Paimon, DataFusion, SQLite, PostgreSQL), with context.
    #[error("{context}: {message}")]
    External { context: String, message: String },
    /// A parameter of a request has a value it cannot take. `param` is the library's
    /// name of it (`max_bins`, `valid_fraction`); each front words it its own way
    /// (`--max-bins`, `max_bins=`, `/max_bins`).
    #[error("{param}: {message}")]
    Param { param: String, message: String },
    /// The request clashes with the current state (a name taken, an alias in use, a
    /// study of another table); retrying the same request fails the same way.
    #[error("{0}")]
    Conflict(String),
    /// The work was cancelled; whatever it had begun was rolled back.
    #[error("cancelled")]
    Cancelled,
}

/// What kind of failure an [`Error`] is, for fronts that map kinds onto exit codes, HTTP
/// statuses or exception classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Bad input: a value, option, file or table the caller can fix (HTTP 400).
    Invalid,
    /// A named thing does not exist (HTTP 404).
    NotFound,
    /// The request clashes with the current state (HTTP 409).
    Conflict,
    /// Cancelled by the caller (HTTP 499; exit 130).
    Cancelled,
    /// The environment failed: a file system, a database, an engine (HTTP 500/502).
    External,
}

impl Error {
    /// The kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Invalid(_) | Error::Param { .. } => ErrorKind::Invalid,
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::Conflict(_) => ErrorKind::Conflict,
            Error::Cancelled => ErrorKind::Cancelled,
            Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => ErrorKind::NotFound,
            Error::Io { .. } | Error::Arrow { .. } | Error::External { .. } => ErrorKind::External,
        }
    }

    /// An invalid value of the request parameter `param`.
    pub fn param(param: impl Into<String>, message: impl fmt::Display) -> Self {
        Error::Param {
            param: param.into(),
            message: message.to_string(),
        }
    }

    /// A conflict with the current state.
    pub fn conflict(msg: impl fmt::Display) -> Self {
        Error::Conflict(msg.to_string())
    }
}

impl Error {
    /// An invalid-input error from anything printable.
    pub fn invalid(msg: impl fmt::Display) -> Self {
        Error::Invalid(msg.to_string())
    }

    /// A not-found error for a thing of `kind` called `name`.
    pub fn not_found(kind: &'static str, name: impl Into<String>) -> Self {
        Error::NotFound {
            kind,
            name: name.into(),
        }
    }

    /// Wraps an error of an external engine with what we were doing.
    pub fn external(context: impl Into<String>, err: impl fmt::Display) -> Self {
        Error::External {
            context: context.into(),
            message: err.to_string(),
        }
    }

    /// Wraps an I/O error with the path or action involved.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// Wraps an Arrow error with what we were doing.
    pub fn arrow(context: impl Into<String>, source: arrow::error::ArrowError) -> Self {
        Error::Arrow {
            context: context.into(),
            source,
        }
    }
}

/// Adds context to results from engines whose errors we do not model one by one.
pub trait ResultExt<T> {
    /// Turns any displayable error into [`Error::External`] with `context` in front.
    fn context(self, context: impl Into<String>) -> Result<T>;
    /// Like [`ResultExt::context`], with the context built lazily.
    fn with_context<F: FnOnce() -> String>(self, f: F) -> Result<T>;
}

impl<T, E: fmt::Display> ResultExt<T> for std::result::Result<T, E> {
    fn context(self, context: impl Into<String>) -> Result<T> {
        self.map_err(|e| Error::external(context, e))
    }
    fn with_context<F: FnOnce() -> String>(self, f: F) -> Result<T> {
        self.map_err(|e| Error::external(f(), e))
    }
}
