//! Deployment packages: checking an uploaded zip against AWS's limits and unpacking it
//! once per CodeSha256 into `<data_dir>/lambda/code/<sha-hex>/`.

use std::io::{Cursor, Read};
use std::path::{Component, Path, PathBuf};

use base64::Engine;
use nimbus_types::AwsError;
use sha2::{Digest, Sha256};

/// AWS: 50 MB zipped for a direct upload, 250 MB unzipped.
pub const MAX_ZIPPED: usize = 50 * 1024 * 1024;
pub const MAX_UNZIPPED: u64 = 250 * 1024 * 1024;

pub struct Checked {
    pub sha_b64: String,
    pub sha_hex: String,
    pub size: i64,
}

fn invalid(msg: impl Into<String>) -> AwsError {
    AwsError::new(400, "InvalidParameterValueException", msg)
}

/// Validates a zip as AWS does at CreateFunction/UpdateFunctionCode and computes its digest.
/// `from_s3`: packages read from S3 are not bound by the 50 MB direct-upload limit
/// (only by the unzipped limit), as on AWS.
pub fn check(zip: &[u8], op: &str, from_s3: bool) -> Result<Checked, AwsError> {
    if zip.len() > MAX_ZIPPED && !from_s3 {
        return Err(AwsError::new(
            413,
            "RequestEntityTooLargeException",
            format!("Request must be smaller than 70167211 bytes for the {op} operation"),
        ));
    }
    let archive = zip::ZipArchive::new(Cursor::new(zip))
        .map_err(|_| invalid("Could not unzip uploaded file. Please check your file, then try to upload again."))?;
    let mut total: u64 = 0;
    for i in 0..archive.len() {
        // Sizes from the central directory; a lying header is caught again while unpacking.
        if let Ok(f) = archive.clone().by_index_raw(i) {
            total = total.saturating_add(f.size());
        }
    }
    if total > MAX_UNZIPPED {
        return Err(invalid(format!("Unzipped size must be smaller than {MAX_UNZIPPED} bytes")));
    }
    let digest = Sha256::digest(zip);
    Ok(Checked {
        sha_b64: base64::engine::general_purpose::STANDARD.encode(digest),
        sha_hex: hex::encode(digest),
        size: zip.len() as i64,
    })
}

/// Unpacks `zip` into `dest` (via a temporary sibling renamed into place), keeping the
/// unix permission bits, refusing entries that would escape the directory.
pub fn unpack(zip: &[u8], dest: &Path) -> Result<(), String> {
    if dest.is_dir() {
        return Ok(());
    }
    fill_dir(dest, |tmp| unpack_into(zip, tmp))
}

/// Makes `dest` with `fill` in a temporary sibling renamed into place, so a directory
/// that exists is always complete; a concurrent maker of the same `dest` wins quietly.
pub(crate) fn fill_dir(dest: &Path, fill: impl FnOnce(&Path) -> Result<(), String>) -> Result<(), String> {
    let parent = dest.parent().ok_or("bad directory")?;
    std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
    let tmp = parent.join(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
    if let Err(e) = fill(&tmp) {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    match std::fs::rename(&tmp, dest) {
        Ok(()) => Ok(()),
        Err(_) if dest.is_dir() => {
            let _ = std::fs::remove_dir_all(&tmp);
            Ok(())
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            Err(e.to_string())
        }
    }
}

pub(crate) fn unpack_into(zip: &[u8], root: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(root).map_err(|e| e.to_string())?;
    let mut archive = zip::ZipArchive::new(Cursor::new(zip)).map_err(|e| e.to_string())?;
    let mut written: u64 = 0;
    for i in 0..archive.len() {
        let mut f = archive.by_index(i).map_err(|e| e.to_string())?;
        let Some(rel) = f.enclosed_name() else { continue };
        if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
            continue;
        }
        let path: PathBuf = root.join(rel);
        let existing = std::fs::symlink_metadata(&path).ok();
        if f.is_dir() {
            if existing.is_some_and(|m| !m.is_dir()) {
                let _ = std::fs::remove_file(&path);
            }
            std::fs::create_dir_all(&path).map_err(|e| e.to_string())?;
            continue;
        }
        match existing {
            Some(m) if m.is_dir() => std::fs::remove_dir_all(&path).map_err(|e| e.to_string())?,
            Some(_) => std::fs::remove_file(&path).map_err(|e| e.to_string())?,
            None => {}
        }
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p).map_err(|e| e.to_string())?;
        }
        let mut out = std::fs::File::create(&path).map_err(|e| e.to_string())?;
        let limit = MAX_UNZIPPED.saturating_sub(written) + 1;
        let n = std::io::copy(&mut (&mut f).take(limit), &mut out).map_err(|e| e.to_string())?;
        written += n;
        if written > MAX_UNZIPPED {
            return Err(format!("unzipped size exceeds {MAX_UNZIPPED} bytes"));
        }
        // Keep the mode from the zip (bootstrap must be executable); a zip made without
        // unix modes gets rw-r--r--, plus x for files named bootstrap.
        let mut mode = f.unix_mode().map(|m| m & 0o777).unwrap_or(0o644) | 0o400;
        if path.file_name().is_some_and(|n| n == "bootstrap") {
            mode |= 0o555;
        }
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode));
        if let Some(mtime) = entry_mtime(&f) {
            let _ = out.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(mtime));
        }
    }
    Ok(())
}

/// The modification time a zip entry records, in seconds since the epoch: the exact one
/// of the "UT" extra field when present (Info-ZIP writes it), else the DOS date and time
/// (2-second resolution, read as UTC). Files keep it when unpacked, as on AWS, so that
/// the `__pycache__` bytecode shipped in a package stays valid (Python compares a `.pyc`
/// with its source's mtime and recompiles on a mismatch: on every start, since
/// `/var/task` is read-only).
fn entry_mtime<R: Read>(f: &zip::read::ZipFile<'_, R>) -> Option<u64> {
    for field in f.extra_data_fields() {
        if let zip::extra_fields::ExtraField::ExtendedTimestamp(ts) = field {
            if let Some(t) = ts.mod_time() {
                return Some(u64::from(t));
            }
        }
    }
    let d = f.last_modified()?;
    let iso = format!("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", d.year(), d.month(), d.day(), d.hour(), d.minute(), d.second());
    nimbus_types::parse_iso8601(&iso).filter(|t| *t >= 0.0).map(|t| t as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn unpacked_files_keep_the_zip_mtime() {
        let mut buf = Cursor::new(Vec::new());
        {
            let mut z = zip::ZipWriter::new(&mut buf);
            let dos = zip::DateTime::from_date_and_time(2024, 5, 6, 7, 8, 10).unwrap();
            z.start_file("dos.py", zip::write::SimpleFileOptions::default().last_modified_time(dos)).unwrap();
            z.write_all(b"x = 1\n").unwrap();
            let mut o: zip::write::FullFileOptions = zip::write::FileOptions::default();
            o.add_extra_data(0x5455, vec![1, 0x39, 0x30, 0x00, 0x00].into_boxed_slice(), false).unwrap();
            z.start_file("ut.py", o).unwrap();
            z.write_all(b"y = 2\n").unwrap();
            z.finish().unwrap();
        }
        let dir = std::env::temp_dir().join(format!("nimbus-code-test-{}", uuid::Uuid::new_v4().simple()));
        unpack(buf.get_ref(), &dir).unwrap();
        let secs = |name: &str| {
            std::fs::metadata(dir.join(name)).unwrap().modified().unwrap().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
        };
        assert_eq!(secs("dos.py"), 1_714_979_290); // 2024-05-06T07:08:10Z
        assert_eq!(secs("ut.py"), 12_345);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
