//! Continuous WAL archiving into the object store, and fetching it back
//! for a point-in-time restore.
//!
//! The engine's `archive_command` only copies each finished WAL file into
//! a spool directory on the database's own volume (no credentials, no
//! network in the engine's path); the agent compresses and uploads the
//! spooled files, then removes them. The archive lag is what is still in
//! the spool.
//!
//! Layout: `wal/<db-name>/<db-id>/<WAL file name>.zst`.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use dbaas_drivers::EngineTools;
use dbaas_objstore::{Metadata, ObjectStore};

use crate::BackupError;

/// WAL segment size of every engine dbaas makes (PostgreSQL's default).
pub const WAL_SEGMENT_BYTES: u64 = 16 * 1024 * 1024;

fn err(msg: impl Into<String>) -> BackupError {
    BackupError::new(msg)
}

/// The store prefix of one database incarnation's WAL.
pub fn wal_prefix(database: &str, database_id: &str) -> String {
    format!("wal/{database}/{database_id}/")
}

/// True for names PostgreSQL gives archived files: 24 hex digits
/// (segments), optionally followed by `.partial` or `.XXXXXXXX.backup`,
/// or `XXXXXXXX.history`.
pub fn is_wal_file_name(name: &str) -> bool {
    let hex = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase())
    };
    if let Some(tl) = name.strip_suffix(".history") {
        return tl.len() == 8 && hex(tl);
    }
    let base = name.get(..24).unwrap_or("");
    if base.len() != 24 || !hex(base) {
        return false;
    }
    match &name[24..] {
        "" | ".partial" => true,
        rest => rest
            .strip_prefix('.')
            .and_then(|r| r.strip_suffix(".backup"))
            .is_some_and(|off| off.len() == 8 && hex(off)),
    }
}

/// The WAL segment file holding `lsn` ("X/Y") on `timeline`.
pub fn segment_of(timeline: u32, lsn: &str) -> Result<String, BackupError> {
    let (hi, lo) = lsn
        .split_once('/')
        .ok_or_else(|| err(format!("{lsn:?} is not an LSN like 0/3000028")))?;
    let hi = u64::from_str_radix(hi, 16)
        .map_err(|_| err(format!("{lsn:?} is not an LSN like 0/3000028")))?;
    let lo = u64::from_str_radix(lo, 16)
        .map_err(|_| err(format!("{lsn:?} is not an LSN like 0/3000028")))?;
    let segno = ((hi << 32) | lo) / WAL_SEGMENT_BYTES;
    let per_log = 0x1_0000_0000 / WAL_SEGMENT_BYTES;
    Ok(format!(
        "{timeline:08X}{:08X}{:08X}",
        segno / per_log,
        segno % per_log
    ))
}

/// The segment after `name` on the same timeline.
fn next_segment(name: &str) -> Option<String> {
    let tl = &name[..8];
    let log = u64::from_str_radix(&name[8..16], 16).ok()?;
    let seg = u64::from_str_radix(&name[16..24], 16).ok()?;
    let per_log = 0x1_0000_0000 / WAL_SEGMENT_BYTES;
    let n = log * per_log + seg + 1;
    Some(format!("{tl}{:08X}{:08X}", n / per_log, n % per_log))
}

/// Uploads one spooled WAL file (compressed), then removes it from the
/// spool. Idempotent: uploading the same file again replaces it with the
/// same content.
pub async fn push(
    store: &dyn ObjectStore,
    database: &str,
    database_id: &str,
    file: &Path,
) -> Result<(), BackupError> {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !is_wal_file_name(&name) {
        return Err(err(format!("{} is not a WAL file", file.display())));
    }
    let data = tokio::fs::read(file)
        .await
        .map_err(|e| err(format!("reading {}: {e}", file.display())))?;
    let compressed = tokio::task::spawn_blocking(move || zstd::bulk::compress(&data, 1))
        .await
        .map_err(|e| err(e.to_string()))?
        .map_err(|e| err(format!("compressing {name}: {e}")))?;
    let object = format!("{}{name}.zst", wal_prefix(database, database_id));
    store
        .put(&object, Bytes::from(compressed), &Metadata::new())
        .await
        .map_err(|e| err(format!("archiving {name}: {e}")))?;
    tokio::fs::remove_file(file)
        .await
        .map_err(|e| err(format!("removing {} from the spool: {e}", file.display())))?;
    Ok(())
}

/// Files waiting in a spool directory, oldest name first (PostgreSQL
/// archives in order, so names order like time).
pub fn spooled(spool: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(spool)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| is_wal_file_name(&n.to_string_lossy()))
        })
        .collect();
    files.sort();
    files
}

/// Names of the WAL files archived for a database incarnation.
pub async fn archived(
    store: &dyn ObjectStore,
    database: &str,
    database_id: &str,
) -> Result<Vec<String>, BackupError> {
    let prefix = wal_prefix(database, database_id);
    Ok(store
        .list(&prefix)
        .await?
        .into_iter()
        .filter_map(|o| {
            o.name
                .strip_prefix(&prefix)?
                .strip_suffix(".zst")
                .map(str::to_string)
        })
        .filter(|n| is_wal_file_name(n))
        .collect())
}

/// Deletes the archived WAL files of a database incarnation that come
/// before `first_needed` (the segment the oldest kept backup starts in):
/// no restore can use them any more. Timeline history files are kept.
/// Returns how many were deleted.
pub async fn prune(
    store: &dyn ObjectStore,
    database: &str,
    database_id: &str,
    first_needed: &str,
) -> Result<usize, BackupError> {
    let mut removed = 0;
    for name in archived(store, database, database_id).await? {
        if name.ends_with(".history") || name.as_str() >= first_needed {
            continue;
        }
        store
            .delete(&format!("{}{name}.zst", wal_prefix(database, database_id)))
            .await?;
        removed += 1;
    }
    Ok(removed)
}

/// Downloads, for a restore, every archived segment of `timeline` from
/// `first` on (and the timeline history files) into `dest`, owned by the
/// engine user. Fails, naming the missing segment, if the archive has a
/// gap before `last_needed` (or before its own last segment when no end is
/// known): recovery would silently stop there.
pub async fn fetch_for_restore(
    store: &dyn ObjectStore,
    database: &str,
    database_id: &str,
    first: &str,
    last_needed: Option<&str>,
    dest: &Path,
    tools: &EngineTools,
) -> Result<usize, BackupError> {
    let names = archived(store, database, database_id).await?;
    let timeline = &first[..8];
    let mut segments: Vec<&String> = names
        .iter()
        .filter(|n| n.len() == 24 && n.starts_with(timeline) && n.as_str() >= first)
        .collect();
    segments.sort();
    let mut expected = first.to_string();
    for s in &segments {
        if **s != expected {
            return Err(err(format!(
                "WAL segment {expected} is missing from the archive of {database}: a restore cannot go past it"
            )));
        }
        expected = next_segment(s).unwrap_or_default();
    }
    if let Some(last) = last_needed {
        if segments.last().is_none_or(|l| l.as_str() < last) {
            return Err(err(format!(
                "WAL segment {expected} is missing from the archive of {database} (needed up to {last}): a restore cannot reach the target"
            )));
        }
    }
    std::fs::create_dir_all(dest).map_err(|e| err(format!("creating {}: {e}", dest.display())))?;
    tools.give(dest).map_err(err)?;
    let mut count = 0;
    let histories = names.iter().filter(|n| n.ends_with(".history"));
    for name in segments.into_iter().chain(histories) {
        let object = format!("{}{name}.zst", wal_prefix(database, database_id));
        let obj = store
            .get(&object)
            .await
            .map_err(|e| err(format!("WAL file {name}: {e}")))?;
        let data = zstd::stream::decode_all(&obj.data[..])
            .map_err(|e| err(format!("WAL file {name} is damaged: {e}")))?;
        let path = dest.join(name);
        std::fs::write(&path, data).map_err(|e| err(format!("writing {}: {e}", path.display())))?;
        tools.give(&path).map_err(err)?;
        count += 1;
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_named_as_postgresql_names_them() {
        assert_eq!(
            segment_of(1, "0/2000028").unwrap(),
            "000000010000000000000002"
        );
        assert_eq!(
            segment_of(1, "0/FF000000").unwrap(),
            "0000000100000000000000FF"
        );
        assert_eq!(segment_of(2, "1/0").unwrap(), "000000020000000100000000");
        assert_eq!(
            next_segment("0000000100000000000000FF").unwrap(),
            "000000010000000100000000"
        );
        assert!(segment_of(1, "nonsense").is_err());
    }

    #[test]
    fn only_wal_names_are_archived() {
        for ok in [
            "000000010000000000000002",
            "000000010000000000000002.partial",
            "000000010000000000000002.00000028.backup",
            "00000002.history",
        ] {
            assert!(is_wal_file_name(ok), "{ok}");
        }
        for bad in [
            "../x",
            "00000001000000000000000",
            "000000010000000000000002.tmp",
            "archive_status",
            "0000000a0000000000000002",
        ] {
            assert!(!is_wal_file_name(bad), "{bad}");
        }
    }
}
