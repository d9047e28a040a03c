//! The blob store: large values (function code zips, S3 objects) as files under
//! `<data_dir>/blobs/<id>`. Writes stream into `blobs/.tmp/` and are renamed into place
//! only when complete, so a reader or a crash never sees a partial blob; `.tmp/` is
//! emptied at open.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{Durability, Error, Result};

/// Longest blob id accepted, in bytes.
pub const MAX_BLOB_ID_LEN: usize = 1024;

const TMP_DIR: &str = ".tmp";

/// Caller-named files under `<data_dir>/blobs`. Ids are `/`-separated segments such as
/// `lambda/abc123`; see [`Error::InvalidBlobId`] for the rules, which make escaping the
/// blob directory impossible.
#[derive(Debug)]
pub struct BlobStore {
    root: PathBuf,
    tmp: PathBuf,
    fsync: bool,
    next_tmp: AtomicU64,
}

impl BlobStore {
    /// Opens the blob directory, creating it, and deletes leftovers of interrupted writes.
    /// The caller must hold the data directory exclusively (the engine's lock does that).
    pub(crate) fn open(root: PathBuf, durability: Durability) -> Result<Self> {
        let tmp = root.join(TMP_DIR);
        match fs::remove_dir_all(&tmp) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&tmp, e)),
        }
        fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
        Ok(Self {
            root,
            tmp,
            fsync: durability == Durability::Fsync,
            next_tmp: AtomicU64::new(0),
        })
    }

    /// Starts a streaming write of blob `id`; it becomes visible (replacing any previous
    /// blob of that id) only when [`BlobWriter::finish`] succeeds. Dropping the writer
    /// unfinished discards it.
    pub fn writer(&self, id: &str) -> Result<BlobWriter> {
        let dest = self.path_of(id)?;
        let n = self.next_tmp.fetch_add(1, Ordering::Relaxed);
        let tmp = self.tmp.join(format!("{}-{n}", std::process::id()));
        let file = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        Ok(BlobWriter {
            file: Some(io::BufWriter::with_capacity(256 * 1024, file)),
            tmp,
            dest,
            root: self.root.clone(),
            fsync: self.fsync,
            len: 0,
        })
    }

    /// Writes blob `id` from `data` and returns its length.
    pub fn put(&self, id: &str, mut data: impl Read) -> Result<u64> {
        let mut w = self.writer(id)?;
        let tmp = w.tmp.clone();
        io::copy(&mut data, &mut w).map_err(|e| Error::io(tmp, e))?;
        w.finish()
    }

    /// Opens blob `id` for reading, or `None` if it does not exist.
    pub fn get(&self, id: &str) -> Result<Option<Blob>> {
        let path = self.path_of(id)?;
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(&path, e)),
        };
        let meta = file.metadata().map_err(|e| Error::io(&path, e))?;
        if !meta.is_file() {
            // A prefix of other ids (a directory) is not itself a blob.
            return Ok(None);
        }
        Ok(Some(Blob {
            file,
            len: meta.len(),
        }))
    }

    /// Deletes blob `id`; returns whether it existed.
    pub fn delete(&self, id: &str) -> Result<bool> {
        let path = self.path_of(id)?;
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(Error::io(&path, e)),
        }
        if self.fsync {
            if let Some(parent) = path.parent() {
                sync_dir(parent)?;
            }
        }
        Ok(true)
    }

    /// Maps a validated id to its path under the root.
    fn path_of(&self, id: &str) -> Result<PathBuf> {
        validate_id(id)?;
        Ok(self.root.join(id))
    }
}

/// Ids are relative, `/`-separated, each segment non-empty, not starting with `.` (which
/// rules out `.` and `..` and the reserved `.tmp`) and made of a small portable charset
/// (no `\`, no NUL, nothing a filesystem treats specially).
fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= MAX_BLOB_ID_LEN
        && id.split('/').all(|seg| {
            !seg.is_empty()
                && !seg.starts_with('.')
                && seg.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'=' | b'+')
                })
        });
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidBlobId(id.to_owned()))
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
}

/// A blob being written; see [`BlobStore::writer`].
#[derive(Debug)]
pub struct BlobWriter {
    /// `None` once finished, so Drop knows not to delete the (renamed) temp file.
    file: Option<io::BufWriter<File>>,
    tmp: PathBuf,
    dest: PathBuf,
    root: PathBuf,
    fsync: bool,
    len: u64,
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("blob writer already finished"))?;
        let n = file.write(buf)?;
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl BlobWriter {
    /// Makes the blob visible under its id and returns its length. In `Fsync` mode the
    /// data and the directory entries are fsynced first.
    pub fn finish(mut self) -> Result<u64> {
        let Some(buf) = self.file.take() else {
            return Ok(self.len);
        };
        let result = self.commit(buf);
        if result.is_err() {
            // Nothing visible was changed; drop the temp file.
            let _ = fs::remove_file(&self.tmp);
        }
        result.map(|()| self.len)
    }

    fn commit(&self, buf: io::BufWriter<File>) -> Result<()> {
        let file = buf
            .into_inner()
            .map_err(|e| Error::io(&self.tmp, e.into_error()))?;
        if self.fsync {
            file.sync_all().map_err(|e| Error::io(&self.tmp, e))?;
        }
        drop(file);
        let parent = self.dest.parent().unwrap_or(&self.root);
        let created_dirs = !parent.is_dir();
        fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        fs::rename(&self.tmp, &self.dest).map_err(|e| Error::io(&self.dest, e))?;
        if self.fsync {
            sync_dir(parent)?;
            if created_dirs {
                // New directories are only durable once their own parents' entries are.
                let mut dir = parent;
                while dir != self.root {
                    match dir.parent() {
                        Some(p) => {
                            sync_dir(p)?;
                            dir = p;
                        }
                        None => break,
                    }
                }
            }
        }
        Ok(())
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            // Abandoned write: best-effort cleanup; open() removes anything left anyway.
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// A stored blob open for reading.
#[derive(Debug)]
pub struct Blob {
    file: File,
    len: u64,
}

impl Blob {
    /// Length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True for a zero-length blob.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The underlying file (e.g. for sendfile or async wrapping).
    pub fn into_file(self) -> File {
        self.file
    }

    /// Reads the whole blob into memory.
    pub fn read_to_vec(mut self) -> io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(usize::try_from(self.len).unwrap_or(0));
        self.file.read_to_end(&mut out)?;
        Ok(out)
    }
}

impl Read for Blob {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.file.read(buf)
    }
}
