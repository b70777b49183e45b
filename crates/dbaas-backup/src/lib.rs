//! Base backups of PostgreSQL into an object store, and restores from them.
//!
//! A backup describes itself: beside its data segments the store holds its
//! manifest (engine and version, system identifier, timeline, start and
//! stop LSN, times, compression, every segment with size and SHA-256), so
//! an agent anywhere, with nothing but the store's credentials, can list
//! and restore it. The catalog *is* the set of manifests in the store.
//!
//! Layout (one store, shared by all databases, with a prefix per database
//! incarnation so that a name reused later never mixes with the old one):
//!
//! ```text
//! backups/<db-name>/<db-id>/<backup-id>/data-000000.tar.zst
//! backups/<db-name>/<db-id>/<backup-id>/data-000001.tar.zst
//! backups/<db-name>/<db-id>/<backup-id>/manifest.json   <- written last
//! ```
//!
//! The manifest is written last and deleted first, so a backup is listed
//! exactly when all its segments are in the store: a crash mid-backup
//! leaves segments without a manifest, which the re-run (or the unwind)
//! removes; it never leaves a half backup that looks usable.
//!
//! Data path: `pg_basebackup -F tar -X fetch -D -` streams one tar (with
//! the WAL needed for consistency) to stdout; it is compressed with zstd
//! into one stream, cut into fixed-size segments, and the segments are
//! uploaded in parallel with bounded memory (segment size × parallelism).
//! Restore streams segments in order (prefetching in parallel), checks
//! each against the manifest, decompresses and extracts the tar in process
//! as it arrives, files written by a pool of threads (large ones with
//! direct I/O) and given to the engine's user, all made durable before
//! success (see `extract`).

pub mod extract;
mod manifest;
mod pipeline;
pub mod verify;
pub mod wal;

pub use manifest::*;
pub use pipeline::{restore, take, BackupSettings, TakeRequest};

/// A backup failure, said so that the user can act on it.
#[derive(Debug, Clone)]
pub struct BackupError(pub String);

impl std::fmt::Display for BackupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BackupError {}

impl BackupError {
    pub fn new(msg: impl Into<String>) -> Self {
        BackupError(msg.into())
    }
}

impl From<dbaas_objstore::Error> for BackupError {
    fn from(e: dbaas_objstore::Error) -> Self {
        BackupError(e.to_string())
    }
}
