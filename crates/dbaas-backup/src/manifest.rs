//! The manifest of a backup and the catalog made of manifests.

use chrono::{DateTime, Utc};
use dbaas_objstore::ObjectStore;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::BackupError;

/// Version of the manifest format written by this code.
pub const MANIFEST_FORMAT: u32 = 1;

/// One segment of a backup's compressed stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SegmentRef {
    /// Object name in the store.
    pub name: String,
    /// Size in bytes, as stored.
    pub size: u64,
    /// SHA-256 of the stored bytes, lower-case hex.
    pub sha256: String,
}

/// Compression of the stream the segments are cut from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Compression {
    /// `zstd`.
    pub algorithm: String,
    pub level: i32,
}

/// Everything needed to restore a backup, stored beside it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BackupManifest {
    /// Format of this document.
    pub format: u32,
    /// The backup's id.
    pub id: String,
    /// Name of the dbaas database backed up.
    pub database: String,
    /// Id of that database (names can be reused; ids cannot).
    pub database_id: String,
    pub engine: String,
    pub version: String,
    /// PostgreSQL's system identifier of the cluster.
    pub system_identifier: String,
    pub timeline: u32,
    /// WAL position where the backup starts and where it is consistent.
    pub start_lsn: String,
    pub stop_lsn: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub compression: Compression,
    /// `none` for now.
    pub encryption: String,
    /// Uncompressed size of the tar stream, in bytes.
    pub raw_bytes: u64,
    /// Segments of the compressed stream, in order.
    pub segments: Vec<SegmentRef>,
}

impl BackupManifest {
    /// Total stored bytes.
    pub fn stored_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.size).sum()
    }

    /// Checks what a restore relies on, naming what is wrong.
    pub fn check(&self) -> Result<(), BackupError> {
        let bad = |what: String| {
            Err(BackupError::new(format!(
                "the manifest of backup {} is not usable: {what}",
                self.id
            )))
        };
        if self.format != MANIFEST_FORMAT {
            return bad(format!(
                "format {} is not one this agent reads (it reads {MANIFEST_FORMAT})",
                self.format
            ));
        }
        if self.compression.algorithm != "zstd" {
            return bad(format!(
                "unknown compression {:?}",
                self.compression.algorithm
            ));
        }
        if self.encryption != "none" {
            return bad(format!("unknown encryption {:?}", self.encryption));
        }
        if self.segments.is_empty() {
            return bad("it lists no segments".into());
        }
        let prefix = backup_prefix(&self.database, &self.database_id, &self.id);
        for s in &self.segments {
            if !s.name.starts_with(&prefix) || s.sha256.len() != 64 {
                return bad(format!("segment {:?} is malformed", s.name));
            }
        }
        Ok(())
    }
}

/// The store prefix of one database incarnation's backups.
pub fn database_prefix(database: &str, database_id: &str) -> String {
    format!("backups/{database}/{database_id}/")
}

/// The store prefix of one backup.
pub fn backup_prefix(database: &str, database_id: &str, backup_id: &str) -> String {
    format!("{}{backup_id}/", database_prefix(database, database_id))
}

/// The object name of a backup's manifest.
pub fn manifest_name(database: &str, database_id: &str, backup_id: &str) -> String {
    format!(
        "{}manifest.json",
        backup_prefix(database, database_id, backup_id)
    )
}

/// Reads and checks one manifest.
pub async fn read_manifest(
    store: &dyn ObjectStore,
    name: &str,
) -> Result<BackupManifest, BackupError> {
    let obj = store.get(name).await?;
    let m: BackupManifest = serde_json::from_slice(&obj.data).map_err(|e| {
        BackupError::new(format!(
            "the manifest {name} is damaged ({e}); this backup cannot be restored"
        ))
    })?;
    m.check()?;
    Ok(m)
}

/// Every usable backup of the database named `database` (all its
/// incarnations), oldest first. Damaged manifests are skipped with a
/// warning: listing must not fail because one backup is bad.
pub async fn list_backups(
    store: &dyn ObjectStore,
    database: &str,
) -> Result<Vec<BackupManifest>, BackupError> {
    list_under(store, &format!("backups/{database}/")).await
}

/// Every usable backup in the store, oldest first.
pub async fn list_all_backups(store: &dyn ObjectStore) -> Result<Vec<BackupManifest>, BackupError> {
    list_under(store, "backups/").await
}

async fn list_under(
    store: &dyn ObjectStore,
    prefix: &str,
) -> Result<Vec<BackupManifest>, BackupError> {
    let mut out = Vec::new();
    for obj in store.list(prefix).await? {
        if !obj.name.ends_with("/manifest.json") {
            continue;
        }
        match read_manifest(store, &obj.name).await {
            Ok(m) => out.push(m),
            Err(e) => {
                tracing::warn!(manifest = %obj.name, error = %e, "skipping a damaged backup manifest")
            }
        }
    }
    out.sort_by_key(|m| m.finished_at);
    Ok(out)
}

/// Finds the manifest object of backup `id` anywhere in the store.
pub async fn find_manifest_name(
    store: &dyn ObjectStore,
    id: &str,
) -> Result<Option<String>, BackupError> {
    let suffix = format!("/{id}/manifest.json");
    Ok(store
        .list("backups/")
        .await?
        .into_iter()
        .map(|o| o.name)
        .find(|n| n.ends_with(&suffix)))
}

/// Deletes every object under a backup's prefix, manifest first, so that
/// the backup stops being listed before any of its data goes.
pub async fn delete_backup_objects(
    store: &dyn ObjectStore,
    prefix: &str,
) -> Result<(), BackupError> {
    let objects = store.list(prefix).await?;
    if let Some(m) = objects.iter().find(|o| o.name.ends_with("/manifest.json")) {
        store.delete(&m.name).await?;
    }
    for o in objects
        .iter()
        .filter(|o| !o.name.ends_with("/manifest.json"))
    {
        store.delete(&o.name).await?;
    }
    Ok(())
}
