//! [`LocalStore`]: objects as files under one directory.
//!
//! Layout: the object `a/b/c` is the file `ROOT/a.d/b.d/c.obj`. The
//! suffixes keep a file and a directory from ever wanting the same path
//! (an object store allows both `a` and `a/b`; a file system does not allow
//! `a` to be both). Each file is one JSON header line (size, MD5, SHA-256,
//! metadata) followed by the content, so that a single `rename` publishes
//! content and checksum together: there is no moment, even after a crash,
//! where one is new and the other old.

use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::{
    md5_hex, sha256_hex, validate_metadata, validate_name, validate_prefix, Error, Metadata,
    Object, ObjectInfo, ObjectStore,
};

const OBJ: &str = ".obj";
const DIR: &str = ".d";
/// Temporary files start with a dot and end in `.tmp`, which no object or
/// directory path ends with, so a listing never mistakes one for an object.
const TMP: &str = ".tmp";
/// A header line longer than this is not one this crate wrote.
const MAX_HEADER: u64 = 64 * 1024;

/// An object store in a local directory: the `--dev` default, and the
/// reference behaviour the Swift store is tested against.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: Arc<PathBuf>,
}

#[derive(Serialize, Deserialize)]
struct Header {
    size: u64,
    md5: String,
    sha256: String,
    #[serde(default)]
    metadata: Metadata,
}

impl LocalStore {
    /// A store rooted at `root`, created if missing.
    pub fn new(root: impl Into<PathBuf>) -> Result<Self, Error> {
        let root = root.into();
        fs::create_dir_all(&root).map_err(|e| io("create directory", &root, e))?;
        Ok(Self {
            root: Arc::new(root),
        })
    }

    /// The directory the objects live in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, name: &str) -> PathBuf {
        let mut p = (*self.root).clone();
        let mut parts = name.split('/').peekable();
        while let Some(part) = parts.next() {
            if parts.peek().is_some() {
                p.push(format!("{part}{DIR}"));
            } else {
                p.push(format!("{part}{OBJ}"));
            }
        }
        p
    }

    async fn blocking<T: Send + 'static>(
        f: impl FnOnce() -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        match tokio::task::spawn_blocking(f).await {
            Ok(r) => r,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
}

fn io(op: &'static str, path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        op,
        path: path.display().to_string(),
        source,
    }
}

fn corrupt(name: &str, detail: String) -> Error {
    Error::Corrupt {
        name: name.to_string(),
        detail,
    }
}

fn tmp_name() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        ".{}-{}{TMP}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn write_atomically(path: &Path, header: &[u8], data: &[u8]) -> Result<(), Error> {
    let dir = path.parent().expect("object paths are under the root");
    let tmp = dir.join(tmp_name());
    // A concurrent delete may remove an emptied parent directory between
    // our create_dir_all and the create: try again a few times.
    let mut attempt = 0;
    let mut file = loop {
        fs::create_dir_all(dir).map_err(|e| io("create directory", dir, e))?;
        match File::create(&tmp) {
            Ok(f) => break f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && attempt < 3 => attempt += 1,
            Err(e) => return Err(io("create", &tmp, e)),
        }
    };
    let written = file
        .write_all(header)
        .and_then(|_| file.write_all(data))
        // Backups must survive a power cut once put returns.
        .and_then(|_| file.sync_all());
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(io("write", &tmp, e));
    }
    drop(file);
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(io("rename into place", path, e));
    }
    // The rename itself is durable only once the directory is synced.
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io("sync directory", dir, e))
}

/// Reads the header line; `None` if the file is absent.
fn read_header(name: &str, path: &Path) -> Result<Option<(Header, BufReader<File>)>, Error> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io("open", path, e)),
    };
    let mut reader = BufReader::new(file);
    let mut line = Vec::new();
    (&mut reader)
        .take(MAX_HEADER)
        .read_until(b'\n', &mut line)
        .map_err(|e| io("read", path, e))?;
    if line.last() != Some(&b'\n') {
        return Err(corrupt(
            name,
            format!("{} has no checksum header line", path.display()),
        ));
    }
    let header: Header = serde_json::from_slice(&line).map_err(|e| {
        corrupt(
            name,
            format!("{} has an unreadable header: {e}", path.display()),
        )
    })?;
    Ok(Some((header, reader)))
}

fn info(name: &str, h: Header) -> ObjectInfo {
    ObjectInfo {
        name: name.to_string(),
        size: h.size,
        etag: h.md5,
        sha256: Some(h.sha256),
        metadata: h.metadata,
    }
}

/// Object names under `dir`, whose names start with `prefix` (the object
/// path of `dir` plus `/`, or empty at the root).
fn walk(dir: &Path, prefix: &str, out: &mut Vec<(String, PathBuf)>) -> Result<(), Error> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        // A directory emptied and removed by a concurrent delete.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io("list", dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| io("list", dir, e))?;
        let file_name = entry.file_name();
        let Some(file_name) = file_name.to_str() else {
            continue;
        };
        if let Some(part) = file_name.strip_suffix(DIR) {
            walk(&entry.path(), &format!("{prefix}{part}/"), out)?;
        } else if let Some(part) = file_name.strip_suffix(OBJ) {
            out.push((format!("{prefix}{part}"), entry.path()));
        }
    }
    Ok(())
}

#[async_trait]
impl ObjectStore for LocalStore {
    async fn put(&self, name: &str, data: Bytes, metadata: &Metadata) -> Result<ObjectInfo, Error> {
        validate_name(name)?;
        validate_metadata(metadata)?;
        let path = self.path(name);
        let metadata = metadata.clone();
        let name = name.to_string();
        Self::blocking(move || {
            let header = Header {
                size: data.len() as u64,
                md5: md5_hex(&data),
                sha256: sha256_hex(&data),
                metadata,
            };
            let mut line = serde_json::to_vec(&header).expect("a header serialises");
            line.push(b'\n');
            write_atomically(&path, &line, &data)?;
            Ok(info(&name, header))
        })
        .await
    }

    async fn get(&self, name: &str) -> Result<Object, Error> {
        validate_name(name)?;
        let path = self.path(name);
        let name = name.to_string();
        let store = self.root.display().to_string();
        Self::blocking(move || {
            let Some((header, mut reader)) = read_header(&name, &path)? else {
                return Err(Error::NotFound { name, store });
            };
            let mut data = Vec::with_capacity(header.size as usize);
            reader
                .read_to_end(&mut data)
                .map_err(|e| io("read", &path, e))?;
            if data.len() as u64 != header.size {
                return Err(corrupt(
                    &name,
                    format!(
                        "{} holds {} bytes, its header says {}",
                        path.display(),
                        data.len(),
                        header.size
                    ),
                ));
            }
            let sha256 = sha256_hex(&data);
            if sha256 != header.sha256 {
                return Err(corrupt(
                    &name,
                    format!(
                        "{} has SHA-256 {sha256}, {} was recorded",
                        path.display(),
                        header.sha256
                    ),
                ));
            }
            Ok(Object {
                info: info(&name, header),
                data: Bytes::from(data),
            })
        })
        .await
    }

    async fn head(&self, name: &str) -> Result<Option<ObjectInfo>, Error> {
        validate_name(name)?;
        let path = self.path(name);
        let name = name.to_string();
        Self::blocking(move || Ok(read_header(&name, &path)?.map(|(h, _)| info(&name, h)))).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, Error> {
        validate_prefix(prefix)?;
        let root = self.root.clone();
        let prefix = prefix.to_string();
        Self::blocking(move || {
            let mut found = Vec::new();
            walk(&root, "", &mut found)?;
            found.retain(|(n, _)| n.starts_with(&prefix));
            found.sort();
            let mut out = Vec::with_capacity(found.len());
            for (name, path) in found {
                // Deleted between the walk and now: not listed.
                if let Some((h, _)) = read_header(&name, &path)? {
                    out.push(info(&name, h));
                }
            }
            Ok(out)
        })
        .await
    }

    async fn delete(&self, name: &str) -> Result<(), Error> {
        validate_name(name)?;
        let path = self.path(name);
        let root = self.root.clone();
        Self::blocking(move || {
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(io("delete", &path, e)),
            }
            // Remove the directories this left empty, so that deleted
            // prefixes do not accumulate; remove_dir refuses non-empty ones,
            // which is the stop condition.
            let mut dir = path.parent();
            while let Some(d) = dir {
                if d == root.as_path() || fs::remove_dir(d).is_err() {
                    break;
                }
                dir = d.parent();
            }
            Ok(())
        })
        .await
    }
}
