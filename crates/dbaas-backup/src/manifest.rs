//! The manifest of a backup and the catalog made of manifests.
//!
//! The catalog lives in the object store itself, so that a fresh agent
//! anywhere lists and restores with nothing but the store's credentials:
//!
//! * `backups/<db>/<db-id>/<backup-id>/manifest.json` — the truth about
//!   one backup, written after all its segments and deleted before them;
//! * `backups/<db>/index.json` — the index of one database name: the
//!   manifests of its usable backups (every incarnation), so that listing
//!   is one GET instead of a LIST of every segment and a GET per manifest.
//!   It is updated after a manifest is written and before one is deleted,
//!   so it never names a backup that is not complete. When it is absent
//!   (a store written before indexes existed) or damaged, listing falls
//!   back to the manifests, and the next backup rebuilds it from them.

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

/// Version of the index format written by this code.
pub const INDEX_FORMAT: u32 = 1;

/// The object name of the index of the database named `database`.
pub fn index_name(database: &str) -> String {
    format!("backups/{database}/index.json")
}

/// The per-database index: the manifests of its usable backups.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackupIndex {
    /// Format of this document.
    pub format: u32,
    /// The database name the index is for.
    pub database: String,
    pub updated_at: DateTime<Utc>,
    /// Oldest first.
    pub backups: Vec<BackupManifest>,
}

/// The backups the index of `database` lists, or `None` when there is no
/// usable index (absent, unreadable, or not this database's).
async fn read_index(
    store: &dyn ObjectStore,
    database: &str,
) -> Result<Option<Vec<BackupManifest>>, BackupError> {
    let name = index_name(database);
    let obj = match store.get(&name).await {
        Ok(o) => o,
        Err(dbaas_objstore::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    match serde_json::from_slice::<BackupIndex>(&obj.data) {
        Ok(ix) if ix.format == INDEX_FORMAT && ix.database == database => Ok(Some(ix.backups)),
        Ok(ix) => {
            tracing::warn!(index = %name, format = ix.format, database = %ix.database, "ignoring an index this agent cannot use");
            Ok(None)
        }
        Err(e) => {
            tracing::warn!(index = %name, error = %e, "ignoring a damaged backup index");
            Ok(None)
        }
    }
}

/// Writes the index of `database`; an empty one is removed, so that a
/// database whose backups are all deleted leaves nothing in the store.
async fn write_index(
    store: &dyn ObjectStore,
    database: &str,
    mut backups: Vec<BackupManifest>,
) -> Result<(), BackupError> {
    let name = index_name(database);
    if backups.is_empty() {
        return Ok(store.delete(&name).await?);
    }
    backups.sort_by_key(|m| m.finished_at);
    let ix = BackupIndex {
        format: INDEX_FORMAT,
        database: database.to_string(),
        updated_at: Utc::now(),
        backups,
    };
    let data = serde_json::to_vec(&ix).map_err(|e| BackupError::new(e.to_string()))?;
    let mut meta = dbaas_objstore::Metadata::new();
    meta.insert("dbaas-kind".into(), "backup-index".into());
    store.put(&name, data.into(), &meta).await?;
    Ok(())
}

/// Records a backup whose manifest is written in its database's index
/// (built from the manifests if there is none yet). Idempotent.
pub async fn index_backup(store: &dyn ObjectStore, m: &BackupManifest) -> Result<(), BackupError> {
    let mut backups = match read_index(store, &m.database).await? {
        Some(b) => b,
        None => list_under(store, &format!("backups/{}/", m.database)).await?,
    };
    backups.retain(|b| b.id != m.id);
    backups.push(m.clone());
    write_index(store, &m.database, backups).await
}

/// Drops backup `backup_id` from the index of `database`, before its
/// objects go. Idempotent; without an index there is nothing to do.
pub async fn unindex_backup(
    store: &dyn ObjectStore,
    database: &str,
    backup_id: &str,
) -> Result<(), BackupError> {
    let Some(mut backups) = read_index(store, database).await? else {
        return Ok(());
    };
    let before = backups.len();
    backups.retain(|b| b.id != backup_id);
    if backups.len() == before {
        return Ok(());
    }
    write_index(store, database, backups).await
}

/// Every usable backup of the database named `database` (all its
/// incarnations), oldest first: from its index, or from the manifests when
/// there is no usable index. Damaged manifests are skipped with a
/// warning: listing must not fail because one backup is bad.
pub async fn list_backups(
    store: &dyn ObjectStore,
    database: &str,
) -> Result<Vec<BackupManifest>, BackupError> {
    if let Some(mut backups) = read_index(store, database).await? {
        backups.retain(|m| match m.check() {
            Ok(()) => m.database == database,
            Err(e) => {
                tracing::warn!(backup = %m.id, error = %e, "skipping a damaged index entry");
                false
            }
        });
        backups.sort_by_key(|m| m.finished_at);
        return Ok(backups);
    }
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

/// Deletes every object under a backup's prefix
/// (`backups/<db>/<db-id>/<backup-id>/`): its index entry first, then its
/// manifest, so that the backup stops being listed before any of its data
/// goes.
pub async fn delete_backup_objects(
    store: &dyn ObjectStore,
    prefix: &str,
) -> Result<(), BackupError> {
    let parts: Vec<&str> = prefix.trim_end_matches('/').split('/').collect();
    if let ["backups", database, _, backup_id] = parts.as_slice() {
        unindex_backup(store, database, backup_id).await?;
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use dbaas_objstore::{LocalStore, Metadata};

    fn manifest(db: &str, db_id: &str, id: &str, minute: u32) -> BackupManifest {
        let at = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 1, 1, 0, minute, 0).unwrap();
        BackupManifest {
            format: MANIFEST_FORMAT,
            id: id.into(),
            database: db.into(),
            database_id: db_id.into(),
            engine: "postgresql".into(),
            version: "15".into(),
            system_identifier: "7".into(),
            timeline: 1,
            start_lsn: "0/2000028".into(),
            stop_lsn: "0/2000100".into(),
            started_at: at,
            finished_at: at,
            compression: Compression {
                algorithm: "zstd".into(),
                level: 1,
            },
            encryption: "none".into(),
            raw_bytes: 10,
            segments: vec![SegmentRef {
                name: format!("{}data-000000.tar.zst", backup_prefix(db, db_id, id)),
                size: 3,
                sha256: "00".repeat(32),
            }],
        }
    }

    /// Writes a backup as the pipeline does: segment, manifest, index.
    async fn write_backup(store: &LocalStore, m: &BackupManifest) {
        let meta = Metadata::new();
        store
            .put(
                &m.segments[0].name,
                bytes::Bytes::from_static(b"abc"),
                &meta,
            )
            .await
            .unwrap();
        let name = manifest_name(&m.database, &m.database_id, &m.id);
        let data = serde_json::to_vec(m).unwrap();
        store.put(&name, data.into(), &meta).await.unwrap();
        index_backup(store, m).await.unwrap();
    }

    fn ids(list: &[BackupManifest]) -> Vec<&str> {
        list.iter().map(|m| m.id.as_str()).collect()
    }

    async fn index_ids(store: &LocalStore, db: &str) -> Vec<String> {
        let obj = store.get(&index_name(db)).await.unwrap();
        let ix: BackupIndex = serde_json::from_slice(&obj.data).unwrap();
        ix.backups.into_iter().map(|m| m.id).collect()
    }

    #[tokio::test]
    async fn the_index_lists_a_databases_backups_and_goes_with_the_last_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path()).unwrap();
        write_backup(&store, &manifest("ledger", "id1", "b2", 2)).await;
        write_backup(&store, &manifest("ledger", "id1", "b1", 1)).await;
        // A second incarnation of the name, and another database.
        write_backup(&store, &manifest("ledger", "id2", "b3", 3)).await;
        write_backup(&store, &manifest("other", "id9", "x1", 1)).await;
        // Writing the same backup again changes nothing.
        write_backup(&store, &manifest("ledger", "id1", "b1", 1)).await;

        assert_eq!(index_ids(&store, "ledger").await, ["b1", "b2", "b3"]);
        let listed = list_backups(&store, "ledger").await.unwrap();
        assert_eq!(ids(&listed), ["b1", "b2", "b3"]);

        // Deleting drops the index entry with the objects.
        delete_backup_objects(&store, &backup_prefix("ledger", "id1", "b2"))
            .await
            .unwrap();
        assert_eq!(index_ids(&store, "ledger").await, ["b1", "b3"]);
        assert_eq!(
            ids(&list_backups(&store, "ledger").await.unwrap()),
            ["b1", "b3"]
        );
        // Twice is fine.
        delete_backup_objects(&store, &backup_prefix("ledger", "id1", "b2"))
            .await
            .unwrap();

        for (id, b) in [("id1", "b1"), ("id2", "b3")] {
            delete_backup_objects(&store, &backup_prefix("ledger", id, b))
                .await
                .unwrap();
        }
        assert!(list_backups(&store, "ledger").await.unwrap().is_empty());
        let left: Vec<String> = store
            .list("backups/ledger/")
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.name)
            .collect();
        assert_eq!(left, Vec::<String>::new(), "nothing of ledger is left");
        assert_eq!(ids(&list_backups(&store, "other").await.unwrap()), ["x1"]);
    }

    #[tokio::test]
    async fn without_a_usable_index_listing_reads_the_manifests_and_the_next_backup_rebuilds_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path()).unwrap();
        write_backup(&store, &manifest("ledger", "id1", "b1", 1)).await;
        write_backup(&store, &manifest("ledger", "id1", "b2", 2)).await;

        // A store written before indexes existed.
        store.delete(&index_name("ledger")).await.unwrap();
        assert_eq!(
            ids(&list_backups(&store, "ledger").await.unwrap()),
            ["b1", "b2"]
        );
        // A damaged index is ignored, not trusted.
        store
            .put(
                &index_name("ledger"),
                bytes::Bytes::from_static(b"{\"format\": 1, \"datab"),
                &Metadata::new(),
            )
            .await
            .unwrap();
        assert_eq!(
            ids(&list_backups(&store, "ledger").await.unwrap()),
            ["b1", "b2"]
        );

        write_backup(&store, &manifest("ledger", "id1", "b3", 3)).await;
        assert_eq!(index_ids(&store, "ledger").await, ["b1", "b2", "b3"]);
    }
}
