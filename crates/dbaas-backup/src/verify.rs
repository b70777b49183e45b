//! Restore drills: a backup is only as good as a restore of it. A drill
//! restores the backup into a throw-away engine reachable only on a
//! private socket (no address, no archiving), checks that it starts,
//! recovers to at least the backup's end point and answers a query, then
//! removes it. The result is stored beside the backup.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use dbaas_drivers::{AdminAccess, EngineTools};
use dbaas_objstore::{Metadata, ObjectStore};
use serde::{Deserialize, Serialize};

use crate::{backup_prefix, BackupError, BackupManifest};

/// The result of the last drill of a backup.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Verification {
    pub verified_at: DateTime<Utc>,
    pub ok: bool,
    /// What was checked, or what went wrong.
    pub detail: String,
}

fn err(msg: impl Into<String>) -> BackupError {
    BackupError::new(msg)
}

/// The object holding a backup's last verification.
pub fn verification_name(m: &BackupManifest) -> String {
    format!(
        "{}verification.json",
        backup_prefix(&m.database, &m.database_id, &m.id)
    )
}

/// Reads a backup's last verification, if any.
pub async fn read_verification(
    store: &dyn ObjectStore,
    m: &BackupManifest,
) -> Option<Verification> {
    let obj = store.get(&verification_name(m)).await.ok()?;
    serde_json::from_slice(&obj.data).ok()
}

/// Records the result of a drill.
pub async fn record(
    store: &dyn ObjectStore,
    m: &BackupManifest,
    v: &Verification,
) -> Result<(), BackupError> {
    let json = serde_json::to_vec_pretty(v).expect("serialises");
    store
        .put(&verification_name(m), Bytes::from(json), &Metadata::new())
        .await?;
    Ok(())
}

fn lsn(s: &str) -> Option<u64> {
    let (hi, lo) = s.split_once('/')?;
    Some((u64::from_str_radix(hi, 16).ok()? << 32) | u64::from_str_radix(lo, 16).ok()?)
}

/// Stops a scratch engine left in `workdir` (by an interrupted drill) and
/// removes the directory. Absent is success.
pub async fn clean(workdir: &Path, tools: &EngineTools) -> Result<(), BackupError> {
    let pgdata = workdir.join("pgdata");
    if pgdata.join("postmaster.pid").is_file() {
        let _ = tools
            .command("pg_ctl")
            .arg("stop")
            .arg("-D")
            .arg(&pgdata)
            .args(["-m", "immediate", "-w", "-t", "60", "-s"])
            .output()
            .await;
    }
    match std::fs::remove_dir_all(workdir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(err(format!("removing {}: {e}", workdir.display()))),
    }
}

/// Runs a drill of `manifest` in `workdir` (made and removed here) and
/// returns what it found. `Err` only when the drill itself could not run
/// (the scratch directory, the engine's programs); a bad backup is an
/// `Ok` report with `ok: false`.
pub async fn drill(
    store: Arc<dyn ObjectStore>,
    manifest: &BackupManifest,
    workdir: &Path,
    tools: &EngineTools,
    parallelism: usize,
) -> Result<Verification, BackupError> {
    clean(workdir, tools).await?;
    std::fs::create_dir_all(workdir)
        .map_err(|e| err(format!("creating {}: {e}", workdir.display())))?;
    tools.give(workdir).map_err(err)?;
    let pgdata = workdir.join("pgdata");
    let outcome = async {
        crate::restore(store, manifest, &pgdata, tools, parallelism).await?;
        // Private socket only, no archiving: the scratch engine must not
        // be reachable, nor ship WAL into the source's archive.
        let conf = format!(
            "listen_addresses = ''\nport = 5432\nunix_socket_directories = '{}'\nunix_socket_permissions = 0700\narchive_mode = off\n",
            workdir.display().to_string().replace('\'', "''")
        );
        let conf_path = pgdata.join("dbaas.conf");
        std::fs::write(&conf_path, conf).map_err(|e| err(format!("writing {}: {e}", conf_path.display())))?;
        tools.give(&conf_path).map_err(err)?;
        let log = workdir.join("postgres.log");
        let out = tools
            .command("pg_ctl")
            .arg("start")
            .arg("-D")
            .arg(&pgdata)
            .arg("-l")
            .arg(&log)
            .args(["-w", "-t", "300", "-s"])
            .output()
            .await
            .map_err(|e| err(format!("starting the scratch engine: {e}")))?;
        if !out.status.success() {
            let tail = std::fs::read_to_string(&log).unwrap_or_default();
            let last = tail.lines().rev().find(|l| l.contains("FATAL") || l.contains("PANIC")).unwrap_or("").to_string();
            return Err(err(format!("the restored engine did not start: {last}")));
        }
        let access = AdminAccess {
            host: workdir.display().to_string(),
            port: 5432,
            superuser: dbaas_postgres::SUPERUSER.to_string(),
            password: None,
        };
        let c = dbaas_postgres::connect(&access, &access.superuser, "postgres")
            .await
            .map_err(|e| err(format!("the restored engine does not answer: {e}")))?;
        let row = c
            .query_one(
                "SELECT pg_is_in_recovery(), pg_current_wal_lsn()::text, (SELECT count(*) FROM pg_database WHERE datallowconn)",
                &[],
            )
            .await
            .map_err(|e| err(format!("the restored engine does not answer a query: {e}")))?;
        let in_recovery: bool = row.get(0);
        let at: String = row.get(1);
        let databases: i64 = row.get(2);
        if in_recovery {
            return Err(err("the restored engine is still in recovery"));
        }
        if lsn(&at) < lsn(&manifest.stop_lsn) {
            return Err(err(format!(
                "the restored engine is at {at}, before the backup's end point {}",
                manifest.stop_lsn
            )));
        }
        Ok(format!(
            "restored, started, recovered to {at} (the backup ends at {}), {databases} databases answer",
            manifest.stop_lsn
        ))
    }
    .await;
    clean(workdir, tools).await?;
    Ok(match outcome {
        Ok(detail) => Verification {
            verified_at: Utc::now(),
            ok: true,
            detail,
        },
        Err(e) => Verification {
            verified_at: Utc::now(),
            ok: false,
            detail: e.0,
        },
    })
}
