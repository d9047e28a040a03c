//! The ordered key-value API: keyspaces, point reads, atomic cross-keyspace write
//! batches, snapshots and range/prefix scans, on the embedded engine (fjall).

use std::collections::HashMap;
use std::ops::{Bound, ControlFlow, RangeBounds};
use std::sync::{Arc, PoisonError, RwLock};

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode, Readable};

use crate::blob::BlobStore;
use crate::group_commit::GroupCommit;
use crate::{Durability, Error, Result, StoreConfig};

/// Longest key the engine accepts (lsm-tree stores key lengths as u16).
pub const MAX_KEY_LEN: usize = u16::MAX as usize;
/// Largest value the engine accepts. Values this big belong in the blob store; the limit
/// exists so a caller gets an error instead of an engine panic.
pub const MAX_VALUE_LEN: usize = u32::MAX as usize;

/// One key-value pair as returned by scans.
pub type KeyValue = (Vec<u8>, Vec<u8>);

/// Scan order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Direction {
    /// Ascending key order.
    #[default]
    Forward,
    /// Descending key order.
    Reverse,
}

/// A handle to an open store. Cheap to clone; all clones share one engine.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    db: Database,
    /// Open keyspace handles; opening one in fjall takes a lock and may touch disk.
    keyspaces: RwLock<HashMap<String, Keyspace>>,
    durability: Durability,
    group: GroupCommit,
    blobs: BlobStore,
    /// Declared last so it is dropped (directory deleted) after the engine closed.
    _temp: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("durability", &self.inner.durability)
            .field("blobs", &self.inner.blobs)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (or creates) the store under `config.data_dir`. Only one process may have a
    /// data directory open at a time.
    pub fn open(config: StoreConfig) -> Result<Self> {
        Self::open_inner(&config, None)
    }

    /// A store in a fresh temporary directory, deleted when the last handle drops. For tests:
    /// it is the same engine as [`Store::open`], so it behaves identically.
    pub fn temporary() -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("nimbus-store-")
            .tempdir()
            .map_err(|e| Error::io(std::env::temp_dir(), e))?;
        let config = StoreConfig::new(dir.path());
        Self::open_inner(&config, Some(dir))
    }

    fn open_inner(config: &StoreConfig, temp: Option<tempfile::TempDir>) -> Result<Self> {
        let kv_dir = config.data_dir.join("kv");
        std::fs::create_dir_all(&kv_dir).map_err(|e| Error::io(&kv_dir, e))?;
        // manual_journal_persist stays false: every batch commit then flushes the journal's
        // userspace buffer with write(2) before returning, which is the `Os` guarantee.
        let db = Database::builder(&kv_dir).open()?;
        // Opened after the engine, whose directory lock keeps a second process out, so
        // cleaning the blob temp dir cannot race another process's in-flight writes.
        let blobs = BlobStore::open(config.data_dir.join("blobs"), config.durability)?;
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                keyspaces: RwLock::new(HashMap::new()),
                durability: config.durability,
                group: GroupCommit::default(),
                blobs,
                _temp: temp,
            }),
        })
    }

    /// The blob store for large values.
    pub fn blobs(&self) -> &BlobStore {
        &self.inner.blobs
    }

    /// The configured durability.
    pub fn durability(&self) -> Durability {
        self.inner.durability
    }

    /// Returns the handle for `name`; creates the keyspace when `create` is set, otherwise
    /// returns `None` for a keyspace that was never written (reads need not create it).
    fn keyspace(&self, name: &str, create: bool) -> Result<Option<Keyspace>> {
        if let Some(ks) = self
            .inner
            .keyspaces
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
        {
            return Ok(Some(ks.clone()));
        }
        validate_keyspace(name)?;
        if !create && !self.inner.db.keyspace_exists(name) {
            return Ok(None);
        }
        let mut map = self
            .inner
            .keyspaces
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(ks) = map.get(name) {
            return Ok(Some(ks.clone()));
        }
        let ks = self
            .inner
            .db
            .keyspace(name, KeyspaceCreateOptions::default)?;
        map.insert(name.to_owned(), ks.clone());
        Ok(Some(ks))
    }

    /// Reads one key.
    pub fn get(&self, keyspace: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match self.keyspace(keyspace, false)? {
            Some(ks) if !key.is_empty() => Ok(ks.get(key)?.map(|v| v.to_vec())),
            _ => Ok(None),
        }
    }

    /// Writes one key (a batch of one).
    pub fn put(
        &self,
        keyspace: &str,
        key: impl Into<Vec<u8>>,
        value: impl Into<Vec<u8>>,
    ) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.put(keyspace, key, value);
        self.write(batch)
    }

    /// Deletes one key (a batch of one). Deleting a missing key is not an error.
    pub fn delete(&self, keyspace: &str, key: impl Into<Vec<u8>>) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.delete(keyspace, key);
        self.write(batch)
    }

    /// Applies every operation of `batch` atomically (all or nothing, across keyspaces,
    /// also after a crash) and returns once it is durable per the configured [`Durability`].
    /// Later operations on the same key win.
    pub fn write(&self, batch: WriteBatch) -> Result<()> {
        if batch.ops.is_empty() {
            return Ok(());
        }
        // Validate everything before touching the engine so a bad op cannot leave the
        // batch half-built, and so the engine's own assertions never fire.
        for op in &batch.ops {
            let key = op.key();
            if key.is_empty() || key.len() > MAX_KEY_LEN {
                return Err(Error::InvalidKey {
                    len: key.len(),
                    max: MAX_KEY_LEN,
                });
            }
            if let Op::Put { value, .. } = op {
                if value.len() > MAX_VALUE_LEN {
                    return Err(Error::ValueTooLarge {
                        len: value.len(),
                        max: MAX_VALUE_LEN,
                    });
                }
            }
        }
        let mut handles: HashMap<String, Keyspace> = HashMap::new();
        let mut fb = self.inner.db.batch();
        for op in batch.ops {
            let ks = match handles.get(op.keyspace()) {
                Some(ks) => ks,
                None => {
                    let name = op.keyspace().to_owned();
                    let ks = self
                        .keyspace(&name, true)?
                        .ok_or(Error::InvalidKeyspace(name.clone()))?;
                    handles.entry(name).or_insert(ks)
                }
            };
            match op {
                Op::Put { key, value, .. } => fb.insert(ks, key, value),
                Op::Delete { key, .. } => fb.remove(ks, key),
            }
        }
        fb.commit()?;
        if self.inner.durability == Durability::Fsync {
            self.inner
                .group
                .wait_durable(|| Ok(self.inner.db.persist(PersistMode::SyncAll)?))?;
        }
        Ok(())
    }

    /// Fsyncs everything written so far, whatever the configured durability (e.g. at shutdown).
    pub fn sync(&self) -> Result<()> {
        Ok(self.inner.db.persist(PersistMode::SyncAll)?)
    }

    /// A consistent read view of all keyspaces at this instant. Keep snapshots short-lived:
    /// the engine retains overwritten versions while one is open.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            store: self.clone(),
            snap: self.inner.db.snapshot(),
        }
    }

    /// Scans the keys of `keyspace` within `range` in `direction`, as of this instant
    /// (writes made while the scan runs are not seen).
    pub fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(
        &self,
        keyspace: &str,
        range: R,
        direction: Direction,
    ) -> Result<Scan> {
        // fjall's keyspace iterators read the latest data lazily; a snapshot pins the view.
        self.snapshot().range(keyspace, range, direction)
    }

    /// Scans the keys of `keyspace` that start with `prefix` in `direction`, as of this instant.
    pub fn prefix(&self, keyspace: &str, prefix: &[u8], direction: Direction) -> Result<Scan> {
        self.snapshot().prefix(keyspace, prefix, direction)
    }
}

/// A consistent point-in-time read view across all keyspaces; writes made after it was
/// taken are invisible to it.
pub struct Snapshot {
    store: Store,
    snap: fjall::Snapshot,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot").finish_non_exhaustive()
    }
}

impl Snapshot {
    /// Reads one key as of the snapshot.
    pub fn get(&self, keyspace: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match self.store.keyspace(keyspace, false)? {
            Some(ks) if !key.is_empty() => Ok(self.snap.get(&ks, key)?.map(|v| v.to_vec())),
            _ => Ok(None),
        }
    }

    /// Scans `range` as of the snapshot.
    pub fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(
        &self,
        keyspace: &str,
        range: R,
        direction: Direction,
    ) -> Result<Scan> {
        let Some(bounds) = owned_bounds(&range) else {
            return Ok(Scan::empty());
        };
        Ok(match self.store.keyspace(keyspace, false)? {
            Some(ks) => Scan::new(self.snap.range(&ks, bounds), direction),
            None => Scan::empty(),
        })
    }

    /// Scans the keys starting with `prefix` as of the snapshot.
    pub fn prefix(&self, keyspace: &str, prefix: &[u8], direction: Direction) -> Result<Scan> {
        Ok(match self.store.keyspace(keyspace, false)? {
            Some(ks) => Scan::new(self.snap.prefix(&ks, prefix), direction),
            None => Scan::empty(),
        })
    }
}

type OwnedBounds = (Bound<Vec<u8>>, Bound<Vec<u8>>);

/// Copies caller bounds into owned ones; `None` when the range is empty by construction
/// (start after end), which the engine is not asked to handle.
fn owned_bounds<K: AsRef<[u8]>, R: RangeBounds<K>>(range: &R) -> Option<OwnedBounds> {
    let own = |b: Bound<&K>| match b {
        Bound::Included(k) => Bound::Included(k.as_ref().to_vec()),
        Bound::Excluded(k) => Bound::Excluded(k.as_ref().to_vec()),
        Bound::Unbounded => Bound::Unbounded,
    };
    let (start, end) = (own(range.start_bound()), own(range.end_bound()));
    let empty = match (&start, &end) {
        (Bound::Included(s), Bound::Included(e)) => s > e,
        (Bound::Included(s) | Bound::Excluded(s), Bound::Excluded(e))
        | (Bound::Excluded(s), Bound::Included(e)) => s >= e,
        _ => false,
    };
    (!empty).then_some((start, end))
}

/// An iterator over key-value pairs in key order (or reverse). It reads a consistent view
/// of the keyspace as of its creation; keep it short-lived.
pub struct Scan {
    iter: Box<dyn Iterator<Item = fjall::Guard> + Send>,
}

impl std::fmt::Debug for Scan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scan").finish_non_exhaustive()
    }
}

impl Scan {
    fn new(iter: fjall::Iter, direction: Direction) -> Self {
        match direction {
            Direction::Forward => Self {
                iter: Box::new(iter),
            },
            Direction::Reverse => Self {
                iter: Box::new(iter.rev()),
            },
        }
    }

    fn empty() -> Self {
        Self {
            iter: Box::new(std::iter::empty()),
        }
    }

    /// Calls `f` with each pair until it returns `ControlFlow::Break` or the scan ends.
    pub fn for_each_until(self, mut f: impl FnMut(&[u8], &[u8]) -> ControlFlow<()>) -> Result<()> {
        for guard in self.iter {
            let (k, v) = guard.into_inner()?;
            if f(&k, &v).is_break() {
                break;
            }
        }
        Ok(())
    }
}

impl Iterator for Scan {
    type Item = Result<KeyValue>;

    fn next(&mut self) -> Option<Self::Item> {
        let guard = self.iter.next()?;
        Some(
            guard
                .into_inner()
                .map(|(k, v)| (k.to_vec(), v.to_vec()))
                .map_err(Error::from),
        )
    }
}

/// Operations applied together by [`Store::write`].
#[derive(Debug, Clone, Default)]
pub struct WriteBatch {
    ops: Vec<Op>,
}

#[derive(Debug, Clone)]
enum Op {
    Put {
        keyspace: String,
        key: Vec<u8>,
        value: Vec<u8>,
    },
    Delete {
        keyspace: String,
        key: Vec<u8>,
    },
}

impl Op {
    fn keyspace(&self) -> &str {
        match self {
            Op::Put { keyspace, .. } | Op::Delete { keyspace, .. } => keyspace,
        }
    }

    fn key(&self) -> &[u8] {
        match self {
            Op::Put { key, .. } | Op::Delete { key, .. } => key,
        }
    }
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a put.
    pub fn put(
        &mut self,
        keyspace: &str,
        key: impl Into<Vec<u8>>,
        value: impl Into<Vec<u8>>,
    ) -> &mut Self {
        self.ops.push(Op::Put {
            keyspace: keyspace.to_owned(),
            key: key.into(),
            value: value.into(),
        });
        self
    }

    /// Adds a delete.
    pub fn delete(&mut self, keyspace: &str, key: impl Into<Vec<u8>>) -> &mut Self {
        self.ops.push(Op::Delete {
            keyspace: keyspace.to_owned(),
            key: key.into(),
        });
        self
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// True when the batch has no operations.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// Keyspace names follow fjall's documented rule (its code checks only the length), which
/// also keeps them safe as directory names should an engine map them to paths.
fn validate_keyspace(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'#' | b'$'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidKeyspace(name.to_owned()))
    }
}

// The API promises Send + Sync handles; fail the build if that ever stops being true.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    const fn send<T: Send>() {}
    send_sync::<Store>();
    send_sync::<Snapshot>();
    send::<Scan>();
};
