//! Store configuration: where data lives and when a write counts as done.

use std::path::PathBuf;

/// When a write is acknowledged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Durability {
    /// Acknowledge once the write reached the operating system (write(2) into the page
    /// cache): survives `kill -9` of the process, not a power loss or kernel crash.
    #[default]
    Os,
    /// Additionally fsync before acknowledging: survives power loss. Concurrent writers
    /// share one fsync (group commit), so throughput holds under concurrency.
    Fsync,
}

/// How to open a [`Store`](crate::Store).
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Root directory; the key-value engine lives in `<data_dir>/kv`, blobs in
    /// `<data_dir>/blobs`. Created if missing. No default: the binary passes its own
    /// (`./.nimbus` by the project's convention).
    pub data_dir: PathBuf,
    /// When writes are acknowledged. Default: [`Durability::Os`].
    pub durability: Durability,
}

impl StoreConfig {
    /// A config for `data_dir` with default durability.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            durability: Durability::default(),
        }
    }

    /// Sets the durability.
    #[must_use]
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }
}
