//! The data path: pg_basebackup → zstd → segments → store, and back.

use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;

use bytes::Bytes;
use chrono::Utc;
use dbaas_drivers::{AdminAccess, EngineTools};
use dbaas_objstore::{Metadata, ObjectStore};
use futures_util::{stream, StreamExt, TryStreamExt};
use tokio::io::AsyncReadExt;

use crate::{
    backup_prefix, manifest_name, BackupError, BackupManifest, Compression, SegmentRef,
    MANIFEST_FORMAT,
};

/// How backups are cut and compressed.
#[derive(Debug, Clone)]
pub struct BackupSettings {
    /// Size of one stored segment, in bytes.
    pub segment_size: usize,
    /// zstd level (1 fast … 19 small).
    pub compression_level: i32,
    /// Segments uploaded or downloaded at once; memory use is about
    /// `segment_size × (parallelism + 1)`.
    pub parallelism: usize,
}

impl Default for BackupSettings {
    fn default() -> Self {
        BackupSettings {
            segment_size: 64 * 1024 * 1024,
            compression_level: 1,
            parallelism: 4,
        }
    }
}

/// What to back up, and where.
pub struct TakeRequest<'a> {
    pub store: Arc<dyn ObjectStore>,
    pub access: &'a AdminAccess,
    pub tools: &'a EngineTools,
    pub database: &'a str,
    pub database_id: &'a str,
    pub engine: &'a str,
    pub version: &'a str,
    pub backup_id: &'a str,
    pub settings: &'a BackupSettings,
}

fn err(msg: impl Into<String>) -> BackupError {
    BackupError::new(msg)
}

/// Takes a base backup. Idempotent: whatever an interrupted earlier run
/// left under the backup's prefix is removed first. Returns the manifest,
/// which is stored last.
pub async fn take(req: TakeRequest<'_>) -> Result<BackupManifest, BackupError> {
    let prefix = backup_prefix(req.database, req.database_id, req.backup_id);
    let started_at = Utc::now();
    // The store's round trips (removing leftovers, reading the cluster's
    // identity) overlap with pg_basebackup; the leftovers are gone before
    // the first segment is stored.
    // If the backup fails before, they are stopped (AbortOnDrop).
    let mut cleanup = Some(AbortOnDrop({
        let store = req.store.clone();
        let prefix = prefix.clone();
        tokio::spawn(async move { crate::delete_backup_objects(store.as_ref(), &prefix).await })
    }));
    let identity = AbortOnDrop({
        let access = req.access.clone();
        tokio::spawn(async move { cluster_identity(&access).await })
    });

    let mut child = req
        .tools
        .command("pg_basebackup")
        .args([
            "-D",
            "-",
            "-F",
            "tar",
            "-X",
            "fetch",
            "-c",
            "fast",
            "-v",
            "-h",
            &req.access.host,
        ])
        .args([
            "-p",
            &req.access.port.to_string(),
            "-U",
            &req.access.superuser,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| err(format!("starting pg_basebackup: {e}")))?;
    let mut stdout = child.stdout.take().expect("piped");
    widen_pipe(&stdout);
    let mut stderr = child.stderr.take().expect("piped");
    let stderr_task = tokio::spawn(async move {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s).await;
        s
    });

    let settings = req.settings;
    let mut encoder = zstd::stream::write::Encoder::new(
        Vec::with_capacity(settings.segment_size),
        settings.compression_level,
    )
    .map_err(|e| err(format!("starting compression: {e}")))?;
    // Compression on worker threads (one per core, as `zstd -T0` would),
    // so that it keeps up with pg_basebackup: the calling task only hands
    // input over and collects output.
    encoder
        .multithread(compression_workers())
        .map_err(|e| err(format!("starting compression workers: {e}")))?;
    let limit = Arc::new(tokio::sync::Semaphore::new(settings.parallelism.max(1)));
    let mut uploads = tokio::task::JoinSet::new();
    let mut index = 0usize;
    let mut raw_bytes = 0u64;
    let mut buf = vec![0u8; 1024 * 1024];
    let mut segments: Vec<(usize, SegmentRef)> = Vec::new();

    let upload = |uploads: &mut tokio::task::JoinSet<Result<(usize, SegmentRef), BackupError>>,
                  index: usize,
                  data: Vec<u8>,
                  permit: tokio::sync::OwnedSemaphorePermit| {
        let store = req.store.clone();
        let name = format!("{prefix}data-{index:06}.tar.zst");
        uploads.spawn(async move {
            let _permit = permit;
            let info = store
                .put(&name, Bytes::from(data), &Metadata::new())
                .await
                .map_err(|e| err(format!("uploading segment {name}: {e}")))?;
            let sha256 = info
                .sha256
                .ok_or_else(|| err(format!("the store gave no checksum for {name}")))?;
            Ok((
                index,
                SegmentRef {
                    name,
                    size: info.size,
                    sha256,
                },
            ))
        });
    };

    loop {
        let n = stdout
            .read(&mut buf)
            .await
            .map_err(|e| err(format!("reading pg_basebackup's output: {e}")))?;
        if n == 0 {
            break;
        }
        raw_bytes += n as u64;
        encoder
            .write_all(&buf[..n])
            .map_err(|e| err(format!("compressing: {e}")))?;
        if encoder.get_ref().len() >= settings.segment_size {
            // Waiting for a permit here is what bounds memory: reading
            // stops while `parallelism` segments are in flight.
            if let Some(c) = cleanup.take() {
                c.join().await?;
            }
            let permit = limit.clone().acquire_owned().await.expect("semaphore open");
            let data =
                std::mem::replace(encoder.get_mut(), Vec::with_capacity(settings.segment_size));
            upload(&mut uploads, index, data, permit);
            index += 1;
        }
        // Reap finished uploads as we go: their results belong in the
        // manifest, and a failure stops the backup instead of reading on.
        while let Some(done) = uploads.try_join_next() {
            match done.map_err(|e| err(e.to_string()))? {
                Ok(seg) => segments.push(seg),
                Err(e) => {
                    let _ = child.kill().await;
                    return Err(e);
                }
            }
        }
    }
    let tail = encoder
        .finish()
        .map_err(|e| err(format!("compressing: {e}")))?;
    let status = child
        .wait()
        .await
        .map_err(|e| err(format!("waiting for pg_basebackup: {e}")))?;
    let log = stderr_task.await.unwrap_or_default();
    if !status.success() {
        return Err(err(format!(
            "pg_basebackup failed ({status}): {}",
            last_line(&log)
        )));
    }
    if let Some(c) = cleanup.take() {
        c.join().await?;
    }
    let permit = limit.clone().acquire_owned().await.expect("semaphore open");
    upload(&mut uploads, index, tail, permit);

    while let Some(done) = uploads.join_next().await {
        segments.push(done.map_err(|e| err(e.to_string()))??);
    }
    segments.sort_by_key(|(i, _)| *i);
    let (system_identifier, timeline) = identity.join().await?;

    let start_lsn = wal_point(&log, "write-ahead log start point: ").ok_or_else(|| {
        err(format!(
            "pg_basebackup did not report its start point: {}",
            last_line(&log)
        ))
    })?;
    let stop_lsn = wal_point(&log, "write-ahead log end point: ").ok_or_else(|| {
        err(format!(
            "pg_basebackup did not report its end point: {}",
            last_line(&log)
        ))
    })?;

    let manifest = BackupManifest {
        format: MANIFEST_FORMAT,
        id: req.backup_id.to_string(),
        database: req.database.to_string(),
        database_id: req.database_id.to_string(),
        engine: req.engine.to_string(),
        version: req.version.to_string(),
        system_identifier,
        timeline,
        start_lsn,
        stop_lsn,
        started_at,
        finished_at: Utc::now(),
        compression: Compression {
            algorithm: "zstd".into(),
            level: settings.compression_level,
        },
        encryption: "none".into(),
        raw_bytes,
        segments: segments.into_iter().map(|(_, s)| s).collect(),
    };
    let json = serde_json::to_vec_pretty(&manifest).expect("manifest serialises");
    req.store
        .put(
            &manifest_name(req.database, req.database_id, req.backup_id),
            Bytes::from(json),
            &Metadata::new(),
        )
        .await
        .map_err(|e| err(format!("writing the manifest: {e}")))?;
    Ok(manifest)
}

/// Grows the pipe from pg_basebackup to 1 MiB (from the kernel's 64 KiB),
/// so that the stream arrives in 16 times fewer wake-ups and reads; a
/// kernel that refuses keeps the pipe as it is.
fn widen_pipe(stdout: &tokio::process::ChildStdout) {
    use std::os::fd::AsRawFd;
    const PIPE_BYTES: i32 = 1 << 20;
    let _ = nix::fcntl::fcntl(
        stdout.as_raw_fd(),
        nix::fcntl::FcntlArg::F_SETPIPE_SZ(PIPE_BYTES),
    );
}

/// A task of the backup's that must not outlive it.
struct AbortOnDrop<T>(tokio::task::JoinHandle<Result<T, BackupError>>);

impl<T> AbortOnDrop<T> {
    async fn join(mut self) -> Result<T, BackupError> {
        (&mut self.0).await.map_err(|e| err(e.to_string()))?
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// zstd workers for a backup: one per core, at most 4.
fn compression_workers() -> u32 {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(1, 4) as u32
}

async fn cluster_identity(access: &AdminAccess) -> Result<(String, u32), BackupError> {
    let c = dbaas_postgres::connect(access, &access.superuser, "postgres")
        .await
        .map_err(|e| err(format!("connecting to the engine: {e}")))?;
    let row = c
        .query_one(
            "SELECT s.system_identifier::text, c.timeline_id::int4 FROM pg_control_system() s, pg_control_checkpoint() c",
            &[],
        )
        .await
        .map_err(|e| err(format!("reading the cluster's identity: {e}")))?;
    let timeline: i32 = row.get(1);
    Ok((row.get(0), timeline as u32))
}

/// "… write-ahead log start point: 0/2000028 on timeline 1" → "0/2000028".
fn wal_point(log: &str, marker: &str) -> Option<String> {
    let line = log.lines().find(|l| l.contains(marker))?;
    let rest = &line[line.find(marker)? + marker.len()..];
    rest.split_whitespace().next().map(str::to_string)
}

fn last_line(s: &str) -> String {
    s.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_string()
}

/// Restores a backup into `target`, a directory that must not exist yet
/// (its parent must). Every segment's size and recorded SHA-256 are
/// checked against the manifest before its bytes are used, and its
/// content against them as it is read; a missing, truncated or corrupted
/// segment fails the restore with its name. A segment is extracted as it
/// streams in, so a damaged one is only known at its end: the restore
/// then fails, and what was extracted is the caller's to remove (as for
/// any failed restore).
///
/// Segments are downloaded `parallelism` at a time ahead of their use;
/// one thread decompresses and reads the tar stream, and a pool of
/// `parallelism` threads writes the files (see [`crate::extract`]), so
/// that downloading, decompressing and writing overlap and memory stays
/// at a few segments. The target is the agent's
/// (mode 0700) until everything in it is in place and durable; every
/// entry is given to the engine's user as it is made, the target itself
/// last.
pub async fn restore(
    store: Arc<dyn ObjectStore>,
    manifest: &BackupManifest,
    target: &Path,
    tools: &EngineTools,
    parallelism: usize,
) -> Result<(), BackupError> {
    manifest.check()?;
    let owner = engine_owner(tools)?;
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(target)
            .map_err(|e| err(format!("creating {}: {e}", target.display())))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(target, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| err(e.to_string()))?;
    }

    let (to_extractor, from_downloads) = tokio::sync::mpsc::channel::<Bytes>(2);
    let id = manifest.id.clone();
    let dir = target.to_path_buf();
    let options = crate::extract::Options {
        writers: parallelism.clamp(2, 16),
        owner,
        fsync: true,
    };
    let extractor = tokio::task::spawn_blocking(move || -> Result<(), BackupError> {
        let input = crate::extract::ChannelReader::new(from_downloads);
        let decoder = zstd::stream::read::Decoder::with_buffer(input)
            .map_err(|e| err(format!("decompressing backup {id}: {e}")))?;
        crate::extract::extract(decoder, &dir, &options)
            .map_err(|e| err(format!("extracting backup {id}: {e}")))?;
        Ok(())
    });

    // Each segment is opened (its size and recorded checksum checked
    // against the manifest before any of its bytes is used) and read by a
    // task of its own into a queue, `parallelism` segments ahead of the
    // one being extracted; the one being extracted is fed to the
    // extractor as it arrives. Its content is verified only at its end
    // (the store's checks), so the restore succeeds only if every
    // segment's stream ended verified: otherwise the extracted data is
    // discarded by the caller.
    let mut segments = stream::iter(manifest.segments.iter().cloned())
        .map(|seg| {
            let store = store.clone();
            let backup = manifest.id.clone();
            async move {
                let (info, mut content) = store.get_stream(&seg.name).await.map_err(|e| match e {
                    dbaas_objstore::Error::NotFound { .. } => err(format!(
                        "segment {} of backup {backup} is missing from the store",
                        seg.name
                    )),
                    other => err(format!("segment {}: {other}", seg.name)),
                })?;
                if info.size != seg.size {
                    return Err(err(format!(
                        "segment {} is {} bytes, the manifest says {}: it is truncated or replaced",
                        seg.name, info.size, seg.size
                    )));
                }
                if info.sha256.as_deref() != Some(seg.sha256.as_str()) {
                    return Err(err(format!(
                        "segment {} does not match the checksum in the manifest: it is corrupted or replaced",
                        seg.name
                    )));
                }
                let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
                let reader = AbortOnDrop(tokio::spawn(async move {
                    while let Some(piece) = content.next().await {
                        let failed = piece.is_err();
                        if tx.send(piece).is_err() || failed {
                            break;
                        }
                    }
                    Ok(())
                }));
                Ok::<_, BackupError>((seg, rx, reader))
            }
        })
        .buffered(parallelism.max(1));

    let result: Result<(), BackupError> = async {
        let mut extracting = true;
        while let Some((seg, mut pieces, _reader)) = segments.try_next().await? {
            let mut got = 0u64;
            while let Some(piece) = pieces.recv().await {
                let piece = piece.map_err(|e| match e {
                    dbaas_objstore::Error::Corrupt { .. } => err(format!(
                        "segment {} does not match its checksum: it is corrupted ({e})",
                        seg.name
                    )),
                    other => err(format!("segment {}: {other}", seg.name)),
                })?;
                got += piece.len() as u64;
                // The extractor stopped (its own error says why): the
                // segment is still read to its end, so that a damaged
                // segment is reported as such.
                if extracting && to_extractor.send(piece).await.is_err() {
                    extracting = false;
                }
            }
            if got != seg.size {
                return Err(err(format!(
                    "segment {} ended after {got} of {} bytes: it is truncated",
                    seg.name, seg.size
                )));
            }
            if !extracting {
                break;
            }
        }
        Ok(())
    }
    .await;
    drop(segments);
    drop(to_extractor);
    // The extractor ends when its input does (with an error when that is
    // before the archive's end).
    let extracted = extractor.await.map_err(|e| err(e.to_string()))?;
    // A missing or damaged segment is what the user must hear about first,
    // rather than the truncated archive it leaves.
    result?;
    extracted?;
    if !target.join("PG_VERSION").is_file() || !target.join("backup_label").is_file() {
        return Err(err(format!(
            "backup {} did not produce a complete data directory (PG_VERSION or backup_label missing)",
            manifest.id
        )));
    }
    tools.give(target).map_err(err)?;
    std::fs::File::open(target)
        .and_then(|d| d.sync_all())
        .map_err(|e| err(format!("syncing {}: {e}", target.display())))?;
    Ok(())
}

/// The engine user's ids, when the agent is root and runs engines as
/// another user: what every restored entry is given to.
fn engine_owner(
    tools: &EngineTools,
) -> Result<Option<(nix::unistd::Uid, nix::unistd::Gid)>, BackupError> {
    let Some(user) = &tools.run_as else {
        return Ok(None);
    };
    if !nix::unistd::geteuid().is_root() {
        return Ok(None);
    }
    let u = nix::unistd::User::from_name(user)
        .map_err(|e| err(format!("looking up the engine user {user:?}: {e}")))?
        .ok_or_else(|| err(format!("the engine user {user:?} does not exist")))?;
    Ok(Some((u.uid, u.gid)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wal_points_are_read_from_pg_basebackups_log() {
        let log = "pg_basebackup: initiating base backup, waiting for checkpoint to complete\n\
                   pg_basebackup: checkpoint completed\n\
                   pg_basebackup: write-ahead log start point: 0/2000028 on timeline 1\n\
                   pg_basebackup: write-ahead log end point: 0/2000100\n\
                   pg_basebackup: base backup completed\n";
        assert_eq!(
            wal_point(log, "write-ahead log start point: ").as_deref(),
            Some("0/2000028")
        );
        assert_eq!(
            wal_point(log, "write-ahead log end point: ").as_deref(),
            Some("0/2000100")
        );
        assert_eq!(wal_point("nothing", "write-ahead log end point: "), None);
    }
}
