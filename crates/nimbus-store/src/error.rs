//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong in the storage layer. Each variant's doc comment is its message.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// storage engine error: {0}
    #[error("storage engine error: {0}")]
    Engine(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),

    /// I/O error on {path}: {source}
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory the operation was on.
        path: PathBuf,
        /// The underlying OS error.
        #[source]
        source: std::io::Error,
    },

    /// invalid keyspace name {0:?}: use 1-255 characters from [A-Za-z0-9_.#$-]
    #[error("invalid keyspace name {0:?}: use 1-255 characters from [A-Za-z0-9_.#$-]")]
    InvalidKeyspace(String),

    /// invalid key: length {len} is outside 1..={max} bytes
    #[error("invalid key: length {len} is outside 1..={max} bytes")]
    InvalidKey {
        /// The length the caller gave.
        len: usize,
        /// The largest length allowed.
        max: usize,
    },

    /// value of {len} bytes exceeds the limit of {max} bytes; store it as a blob
    #[error("value of {len} bytes exceeds the limit of {max} bytes; store it as a blob")]
    ValueTooLarge {
        /// The length the caller gave.
        len: usize,
        /// The largest length allowed.
        max: usize,
    },

    /// invalid blob id {0:?}: use '/'-separated segments of [A-Za-z0-9_.=+-], none empty or starting with '.'
    #[error(
        "invalid blob id {0:?}: use '/'-separated segments of [A-Za-z0-9_.=+-], none empty or starting with '.'"
    )]
    InvalidBlobId(String),
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

impl From<fjall::Error> for Error {
    fn from(e: fjall::Error) -> Self {
        Self::Engine(Box::new(e))
    }
}
