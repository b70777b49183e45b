//! Base backups into the object store and restores from them, as a
//! platform engineer relies on them: the restored database has exactly the
//! rows of the backup, backups outlive their database, a damaged backup is
//! refused with a message naming what is wrong, and a crash mid-backup
//! never leaves a half backup that looks usable.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{connect, Agent};
use dbaas_model::*;

/// Small segments, so that even a fresh database makes several, more than
/// the parallelism.
const SMALL_SEGMENTS: &str =
    "backup {\n  segment_size_kb = 64\n  parallelism = 2\n  compression_level = 1\n}\n";

async fn count(agent: &Agent, name: &str) -> i64 {
    let conn = agent.client.connection(name).await.unwrap();
    let pg = connect(&conn).await;
    pg.query_one("SELECT count(*) FROM items", &[])
        .await
        .unwrap()
        .get(0)
}

async fn fill(agent: &Agent, name: &str, from: i32, to: i32) {
    let conn = agent.client.connection(name).await.unwrap();
    let pg = connect(&conn).await;
    pg.batch_execute("CREATE TABLE IF NOT EXISTS items (id int PRIMARY KEY, payload text)")
        .await
        .unwrap();
    pg.execute(
        "INSERT INTO items SELECT g, md5(g::text) FROM generate_series($1::int, $2::int) g",
        &[&from, &to],
    )
    .await
    .unwrap();
}

async fn backup(agent: &Agent, name: &str) -> Backup {
    let op = agent.client.create_backup(name).await.unwrap();
    let done = agent.wait(&op.id).await;
    assert_eq!(done.state, OperationState::Succeeded, "{done:?}");
    agent.client.get_backup(&op.id).await.unwrap()
}

async fn restore(agent: &Agent, name: &str, from: &str, backup: Option<&str>) -> Operation {
    let op = agent
        .client
        .restore_database(
            name,
            &RestoreDatabaseRequest {
                from: from.into(),
                backup: backup.map(str::to_string),
                size_gb: Some(1),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    agent.wait(&op.id).await
}

/// Files of the local backup store holding objects whose names contain `needle`.
fn store_files(agent: &Agent, needle: &str) -> Vec<PathBuf> {
    fn walk(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let mut all = Vec::new();
    walk(&agent.data_dir().join("backups"), &mut all);
    let mut v: Vec<PathBuf> = all
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(needle))
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restore_has_exactly_the_rows_of_its_backup_and_backups_outlive_their_database() {
    let mut agent = Agent::start_configured(None, SMALL_SEGMENTS);
    assert_eq!(
        agent.create("ledger").await.state,
        OperationState::Succeeded
    );
    fill(&agent, "ledger", 1, 5000).await;

    let b = backup(&agent, "ledger").await;
    assert_eq!(b.database, "ledger");
    assert_eq!(b.engine, "postgresql");
    assert!(b.segments > 2, "more segments than the parallelism: {b:?}");
    assert!(b.stored_bytes < b.raw_bytes, "compressed: {b:?}");
    assert_eq!(b.timeline, 1);
    assert!(
        b.start_lsn.contains('/') && b.stop_lsn.contains('/'),
        "{b:?}"
    );
    let listed = agent.client.list_backups("ledger").await.unwrap();
    assert_eq!(
        listed.iter().map(|x| x.id.as_str()).collect::<Vec<_>>(),
        vec![b.id.as_str()]
    );
    // The catalog is in the store: the database's index names the backup.
    let index = store_files(&agent, "index.json");
    assert_eq!(index.len(), 1, "one index: {index:?}");
    let index_text = String::from_utf8_lossy(&std::fs::read(&index[0]).unwrap()).into_owned();
    assert!(index_text.contains(&b.id), "{index_text}");

    // Rows written after the backup are not in a restore of it.
    fill(&agent, "ledger", 5001, 6000).await;
    let op = restore(&agent, "ledger-copy", "ledger", Some(&b.id)).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    assert_eq!(count(&agent, "ledger-copy").await, 5000);
    assert_eq!(count(&agent, "ledger").await, 6000);
    // The copy has its own owner and password; the source's are untouched.
    let copy = agent.client.connection("ledger-copy").await.unwrap();
    let source = agent.client.connection("ledger").await.unwrap();
    assert_eq!(copy.user, "ledger-copy");
    assert_ne!(copy.password, source.password);
    let pg = connect(&copy).await;
    let sum: String = pg
        .query_one(
            "SELECT md5(string_agg(payload, ',' ORDER BY id)) FROM items",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let src = connect(&source).await;
    let expected: String = src
        .query_one(
            "SELECT md5(string_agg(payload, ',' ORDER BY id)) FROM items WHERE id <= 5000",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(sum, expected, "the restored rows are byte-identical");

    // The source goes; its backups stay and still restore.
    let del = agent.client.delete_database("ledger").await.unwrap();
    assert_eq!(agent.wait(&del.id).await.state, OperationState::Succeeded);
    assert_eq!(agent.client.list_backups("ledger").await.unwrap().len(), 1);
    let op = restore(&agent, "ledger-again", "ledger", None).await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    assert_eq!(count(&agent, "ledger-again").await, 5000);

    // Deleting the backup removes every object of it.
    let del = agent.client.delete_backup(&b.id).await.unwrap();
    assert_eq!(agent.wait(&del.id).await.state, OperationState::Succeeded);
    assert_eq!(store_files(&agent, &b.id), Vec::<PathBuf>::new());
    assert_eq!(
        store_files(&agent, "index.json"),
        Vec::<PathBuf>::new(),
        "the index went with the last backup"
    );
    let gone = agent.client.get_backup(&b.id).await.expect_err("deleted");
    assert!(gone.to_string().contains("no backup"), "{gone}");

    for name in ["ledger-copy", "ledger-again"] {
        let op = agent.client.delete_database(name).await.unwrap();
        agent.wait(&op.id).await;
    }
    agent.assert_no_orphans().await;
}

/// Damages the backup in the store with `damage`, then asserts a restore
/// fails, unwinds, names the problem, and leaves nothing behind.
async fn restore_refuses(damage: impl FnOnce(&Agent, &Backup), expect: &str) {
    let mut agent = Agent::start_configured(None, SMALL_SEGMENTS);
    assert_eq!(agent.create("src").await.state, OperationState::Succeeded);
    fill(&agent, "src", 1, 2000).await;
    let b = backup(&agent, "src").await;
    damage(&agent, &b);
    let op = agent
        .client
        .restore_database(
            "dst",
            &RestoreDatabaseRequest {
                from: "src".into(),
                backup: Some(b.id.clone()),
                size_gb: Some(1),
                ..Default::default()
            },
        )
        .await;
    let message = match op {
        Ok(op) => {
            let done = agent.wait(&op.id).await;
            assert_eq!(done.state, OperationState::Unwound, "{done:?}");
            done.error.unwrap_or_default()
        }
        // A damaged manifest is refused before anything starts.
        Err(e) => e.to_string(),
    };
    assert!(
        message.contains(expect),
        "expected {expect:?} in: {message}"
    );
    assert!(
        agent.client.get_database("dst").await.is_err(),
        "no database left"
    );
    let del = agent.client.delete_database("src").await.unwrap();
    agent.wait(&del.id).await;
    agent.assert_no_orphans().await;
}

fn segment(agent: &Agent, b: &Backup, n: usize) -> PathBuf {
    store_files(agent, &b.id)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("data-"))
        .nth(n)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrupted_segment_is_refused_by_name() {
    restore_refuses(
        |agent, b| {
            let path = segment(agent, b, 1);
            let mut bytes = std::fs::read(&path).unwrap();
            let last = bytes.len() - 1;
            bytes[last] ^= 0x01;
            std::fs::write(&path, bytes).unwrap();
        },
        "data-000001",
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_segment_is_refused_by_name() {
    restore_refuses(
        |agent, b| std::fs::remove_file(segment(agent, b, 2)).unwrap(),
        "data-000002",
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_truncated_manifest_is_refused() {
    restore_refuses(
        |agent, b| {
            let path = store_files(agent, &b.id)
                .into_iter()
                .find(|p| p.to_string_lossy().contains("manifest"))
                .unwrap();
            let bytes = std::fs::read(&path).unwrap();
            std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        },
        "manifest",
    )
    .await
}

/// kill -9 of the agent during a backup: after the restart the backup is
/// complete and listed, and restores.
async fn crash_during_backup(point: &str) {
    let mut agent = Agent::start_configured(None, SMALL_SEGMENTS);
    assert_eq!(agent.create("vault").await.state, OperationState::Succeeded);
    fill(&agent, "vault", 1, 1000).await;
    agent.restart(Some(&format!("create_backup.{point}=crash")));
    let _ = agent.client.create_backup("vault").await;
    let op = agent
        .resume_after_crash(
            Duration::from_secs(60),
            OperationKind::CreateBackup,
            "vault",
        )
        .await;
    assert_eq!(op.state, OperationState::Succeeded);
    let listed = agent.client.list_backups("vault").await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    // Exactly the listed segments and the manifest are in the store.
    assert_eq!(store_files(&agent, &op.id).len(), listed[0].segments + 1);
    assert_eq!(
        restore(&agent, "vault-copy", "vault", None).await.state,
        OperationState::Succeeded
    );
    assert_eq!(count(&agent, "vault-copy").await, 1000);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_killed_before_it_uploads_completes_after_restart() {
    crash_during_backup("take_backup.before").await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_killed_after_it_uploads_completes_after_restart() {
    crash_during_backup("take_backup.after").await
}

/// A backup that fails leaves no object behind and nothing listed.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_backup_leaves_no_object_and_is_not_listed() {
    let agent = Agent::start_configured(
        Some("create_backup.take_backup.error=error"),
        SMALL_SEGMENTS,
    );
    assert_eq!(
        agent.create("fragile").await.state,
        OperationState::Succeeded
    );
    let op = agent.client.create_backup("fragile").await.unwrap();
    let done = agent.wait(&op.id).await;
    assert_eq!(done.state, OperationState::Unwound, "{done:?}");
    assert!(agent
        .client
        .list_backups("fragile")
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store_files(&agent, &op.id), Vec::<PathBuf>::new());
}

/// Frequent WAL switches, so that tests need not wait a minute.
const PITR: &str = "backup {\n  segment_size_kb = 256\n  archive_timeout_seconds = 1\n}\n";

/// The engine's clock, as RFC 3339.
async fn engine_now(agent: &Agent, name: &str) -> chrono::DateTime<chrono::Utc> {
    let conn = agent.client.connection(name).await.unwrap();
    let pg = connect(&conn).await;
    let s: String = pg
        .query_one(
            "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    chrono::DateTime::parse_from_rfc3339(&s)
        .unwrap()
        .with_timezone(&chrono::Utc)
}

/// Waits until everything written so far is in the store: the WAL file
/// holding the last byte written (archive_timeout closes it) has been
/// archived, and nothing is pending.
async fn wait_archived(agent: &Agent, name: &str) {
    let conn = agent.client.connection(name).await.unwrap();
    let needed: String = connect(&conn)
        .await
        .query_one("SELECT pg_walfile_name(pg_current_wal_lsn() - 1)", &[])
        .await
        .unwrap()
        .get(0);
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        let db = agent.client.get_database(name).await.unwrap();
        if let Some(w) = &db.wal_archive {
            // WAL file names of one timeline sort in write order; a
            // history file ("00000002.history") sorts before them.
            let done = w
                .last_archived
                .as_deref()
                .is_some_and(|l| l.len() >= 24 && l[..24] >= *needed.as_str());
            if w.pending_files == 0 && done {
                return;
            }
        }
        if std::time::Instant::now() >= deadline {
            let pg = connect(&conn).await;
            let mut dbg = String::new();
            for q in ["SELECT row_to_json(a)::text FROM pg_stat_archiver a", "SELECT current_setting('archive_mode') || ' | ' || current_setting('archive_command') || ' | ' || current_setting('archive_timeout') || ' | ' || pg_is_in_recovery()::text || ' | ' || pg_walfile_name(pg_current_wal_lsn())"] {
                if let Ok(r) = pg.query_one(q, &[]).await { dbg.push_str(&r.get::<_, String>(0)); dbg.push('\n'); }
            }
            let log = std::fs::read_dir(agent.data_dir().join("volumes"))
                .unwrap()
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().contains(name))
                .map(|e| std::fs::read_to_string(e.path().join("postgres.log")).unwrap_or_default())
                .collect::<String>();
            let spool = std::fs::read_dir(agent.data_dir().join("volumes"))
                .unwrap()
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().contains(name))
                .map(|e| {
                    format!(
                        "{:?}",
                        std::fs::read_dir(e.path().join("wal-spool"))
                            .map(|r| r.flatten().map(|x| x.file_name()).collect::<Vec<_>>())
                    )
                })
                .collect::<String>();
            panic!(
                "WAL up to {needed} was not archived: {:?}\n{dbg}\nspool {spool}\nLOG:\n{log}",
                db.wal_archive
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Backup, 100 rows before it, 100 after it and before T, 100 after T, all
/// archived. Returns T.
async fn history(agent: &Agent, name: &str) -> chrono::DateTime<chrono::Utc> {
    assert_eq!(agent.create(name).await.state, OperationState::Succeeded);
    fill(agent, name, 1, 100).await;
    backup(agent, name).await;
    fill(agent, name, 101, 200).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let t = engine_now(agent, name).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    fill(agent, name, 201, 300).await;
    wait_archived(agent, name).await;
    t
}

#[tokio::test(flavor = "multi_thread")]
async fn a_point_in_time_restore_has_exactly_the_rows_committed_up_to_the_target() {
    let agent = Agent::start_configured(None, PITR);
    let t = history(&agent, "clock").await;

    let op = agent
        .client
        .restore_database(
            "clock-at-t",
            &RestoreDatabaseRequest {
                from: "clock".into(),
                target_time: Some(t),
                size_gb: Some(1),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let done = agent.wait(&op.id).await;
    assert_eq!(done.state, OperationState::Succeeded, "{done:?}");
    assert_eq!(count(&agent, "clock-at-t").await, 200);
    // The restored database is a normal one: writable, and archiving too.
    fill(&agent, "clock-at-t", 1001, 1010).await;
    assert_eq!(count(&agent, "clock-at-t").await, 210);
    wait_archived(&agent, "clock-at-t").await;

    // The restored database runs on a new timeline; its own backups and
    // WAL restore to a point in time too (history files included).
    let b2 = backup(&agent, "clock-at-t").await;
    assert_eq!(b2.timeline, 2, "{b2:?}");
    fill(&agent, "clock-at-t", 1011, 1020).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let t2 = engine_now(&agent, "clock-at-t").await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    fill(&agent, "clock-at-t", 1021, 1030).await;
    wait_archived(&agent, "clock-at-t").await;
    let op = agent
        .client
        .restore_database(
            "clock-tl2-at-t2",
            &RestoreDatabaseRequest {
                from: "clock-at-t".into(),
                target_time: Some(t2),
                size_gb: Some(1),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let done = agent.wait(&op.id).await;
    assert_eq!(done.state, OperationState::Succeeded, "{done:?}");
    assert_eq!(count(&agent, "clock-tl2-at-t2").await, 220);

    // Without a target, the restore stops at the backup's end.
    assert_eq!(
        restore(&agent, "clock-at-backup", "clock", None)
            .await
            .state,
        OperationState::Succeeded
    );
    assert_eq!(count(&agent, "clock-at-backup").await, 100);

    // A target before every backup cannot be reached.
    let early = agent
        .client
        .restore_database(
            "too-early",
            &RestoreDatabaseRequest {
                from: "clock".into(),
                target_time: Some(t - chrono::Duration::hours(1)),
                ..Default::default()
            },
        )
        .await
        .expect_err("no backup ends before the target");
    assert!(
        early.to_string().contains("ends before the target"),
        "{early}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restore_refuses_a_gap_in_the_archived_wal_by_naming_the_segment() {
    let mut agent = Agent::start_configured(None, PITR);
    let t = history(&agent, "gappy").await;
    let b = &agent.client.list_backups("gappy").await.unwrap()[0];
    // Remove the first segment after the one the backup starts in.
    let start = b.start_lsn.split('/').collect::<Vec<_>>();
    let segno = ((u64::from_str_radix(start[0], 16).unwrap() << 32)
        | u64::from_str_radix(start[1], 16).unwrap())
        / (16 << 20);
    let missing = format!(
        "{:08X}{:08X}{:08X}",
        b.timeline,
        (segno + 1) >> 8,
        (segno + 1) & 0xff
    );
    let files = store_files(&agent, &missing);
    assert_eq!(files.len(), 1, "{missing}: {files:?}");
    std::fs::remove_file(&files[0]).unwrap();

    let op = agent
        .client
        .restore_database(
            "gap-copy",
            &RestoreDatabaseRequest {
                from: "gappy".into(),
                target_time: Some(t),
                size_gb: Some(1),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let done = agent.wait(&op.id).await;
    assert_eq!(done.state, OperationState::Unwound, "{done:?}");
    let error = done.error.unwrap_or_default();
    assert!(
        error.contains(&missing) && error.contains("missing"),
        "{error}"
    );
    let del = agent.client.delete_database("gappy").await.unwrap();
    agent.wait(&del.id).await;
    agent.assert_no_orphans().await;
}

/// kill -9 of the agent during a restore: after the restart the restore
/// completes with the backup's rows, and nothing is left over.
async fn crash_during_restore(point: &str) {
    let mut agent = Agent::start_configured(None, SMALL_SEGMENTS);
    assert_eq!(
        agent.create("origin").await.state,
        OperationState::Succeeded
    );
    fill(&agent, "origin", 1, 1500).await;
    backup(&agent, "origin").await;
    agent.restart(Some(&format!("restore_database.{point}=crash")));
    let _ = agent
        .client
        .restore_database(
            "phoenix",
            &RestoreDatabaseRequest {
                from: "origin".into(),
                size_gb: Some(1),
                ..Default::default()
            },
        )
        .await;
    let done = agent
        .resume_after_crash(
            Duration::from_secs(60),
            OperationKind::RestoreDatabase,
            "phoenix",
        )
        .await;
    assert_eq!(
        done.state,
        OperationState::Succeeded,
        "after a crash at {point}: {done:?}"
    );
    assert_eq!(count(&agent, "phoenix").await, 1500);
    // One volume each, and no half-extracted directory left in the new one.
    assert_eq!(agent.dir_entries("volumes").len(), 2);
    for v in agent.dir_entries("volumes") {
        let entries: Vec<String> = std::fs::read_dir(agent.data_dir().join("volumes").join(v))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            !entries.iter().any(|e| e.starts_with("pgdata.")),
            "{entries:?}"
        );
    }
    for name in ["origin", "phoenix"] {
        let op = agent.client.delete_database(name).await.unwrap();
        assert_eq!(agent.wait(&op.id).await.state, OperationState::Succeeded);
    }
    agent.assert_no_orphans().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restore_killed_before_its_data_is_in_place_completes_after_restart() {
    crash_during_restore("restore_data.before").await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restore_killed_after_its_data_is_in_place_completes_after_restart() {
    crash_during_restore("restore_data.after").await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restore_killed_before_adopting_the_owner_completes_after_restart() {
    crash_during_restore("adopt_owner.before").await
}

#[tokio::test(flavor = "multi_thread")]
async fn scheduled_backups_keep_the_newest_and_drop_the_wal_only_older_ones_needed() {
    let agent = Agent::start_configured(None, PITR);
    assert_eq!(agent.create("tick").await.state, OperationState::Succeeded);
    fill(&agent, "tick", 1, 10).await;
    let policy = BackupPolicy {
        schedule: Some("*/2 * * * * *".into()),
        keep_last: Some(2),
        keep_days: None,
        verify_schedule: None,
    };
    let db = agent
        .client
        .set_backup_policy("tick", &policy)
        .await
        .unwrap();
    assert_eq!(db.backup_policy, Some(policy));

    // Let the schedule take at least four backups, with writes between.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let mut next = 11;
    loop {
        let ops = agent.client.list_operations(Some("tick")).await.unwrap();
        let taken = ops
            .iter()
            .filter(|o| {
                o.kind == OperationKind::CreateBackup && o.state == OperationState::Succeeded
            })
            .count();
        if taken >= 4 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the schedule took {taken} backups: {}",
            agent.log()
        );
        fill(&agent, "tick", next, next + 9).await;
        next += 10;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Stop the schedule, keep the retention: a backup still running
    // when the schedule stops is pruned after like the others.
    let retention_only = BackupPolicy {
        keep_last: Some(2),
        ..Default::default()
    };
    agent
        .client
        .set_backup_policy("tick", &retention_only)
        .await
        .unwrap();
    // Let the last backup and the deletions it caused finish.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let ops = agent.client.list_operations(Some("tick")).await.unwrap();
        if ops.iter().all(|o| o.state.is_finished()) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "operations did not finish"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let ops = agent.client.list_operations(Some("tick")).await.unwrap();
    let mut taken: Vec<&Operation> = ops
        .iter()
        .filter(|o| o.kind == OperationKind::CreateBackup && o.state == OperationState::Succeeded)
        .collect();
    taken.sort_by_key(|o| o.created_at);
    let listed = agent.client.list_backups("tick").await.unwrap();
    let newest: Vec<&str> = taken[taken.len() - 2..]
        .iter()
        .map(|o| o.id.as_str())
        .collect();
    assert_eq!(
        listed.iter().map(|b| b.id.as_str()).collect::<Vec<_>>(),
        newest,
        "the two newest are kept"
    );
    assert!(ops
        .iter()
        .any(|o| o.kind == OperationKind::DeleteBackup && o.state == OperationState::Succeeded));

    // No archived WAL older than what the oldest kept backup needs.
    let oldest = &listed[0];
    let (hi, lo) = oldest.start_lsn.split_once('/').unwrap();
    let segno = ((u64::from_str_radix(hi, 16).unwrap() << 32)
        | u64::from_str_radix(lo, 16).unwrap())
        / (16 << 20);
    let first_needed = format!(
        "{:08X}{:08X}{:08X}",
        oldest.timeline,
        segno >> 8,
        segno & 0xff
    );
    let wal: Vec<String> = store_files(&agent, "wal.d")
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .filter(|n| n.len() >= 24 && !n.contains("history"))
        .collect();
    assert!(!wal.is_empty());
    for w in &wal {
        assert!(
            w[..24] >= *first_needed,
            "{w} is older than {first_needed}, which the oldest kept backup needs"
        );
    }
    // And that backup still restores to a point in time after it: every
    // WAL file from its start on is still there.
    let rows_at_t = count(&agent, "tick").await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let t = engine_now(&agent, "tick").await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    fill(&agent, "tick", 100_000, 100_009).await;
    wait_archived(&agent, "tick").await;
    let op = agent
        .client
        .restore_database(
            "tick-copy",
            &RestoreDatabaseRequest {
                from: "tick".into(),
                backup: Some(oldest.id.clone()),
                size_gb: Some(1),
                target_time: Some(t),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let done = agent.wait(&op.id).await;
    assert_eq!(done.state, OperationState::Succeeded, "{done:?}");
    assert_eq!(count(&agent, "tick-copy").await, rows_at_t);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restore_drill_records_its_verdict_on_the_backup_and_leaves_nothing_running() {
    let agent = Agent::start_configured(None, SMALL_SEGMENTS);
    assert_eq!(
        agent.create("drilled").await.state,
        OperationState::Succeeded
    );
    fill(&agent, "drilled", 1, 500).await;
    let good = backup(&agent, "drilled").await;
    assert!(good.verification.is_none());

    let op = agent.client.verify_backup(&good.id).await.unwrap();
    assert_eq!(agent.wait(&op.id).await.state, OperationState::Succeeded);
    let v = agent
        .client
        .get_backup(&good.id)
        .await
        .unwrap()
        .verification
        .expect("recorded");
    assert!(v.ok, "{v:?}");
    assert!(v.detail.contains(&good.stop_lsn), "{v:?}");

    // A damaged backup fails its drill, and says why, by name.
    let bad = backup(&agent, "drilled").await;
    let seg = store_files(&agent, &bad.id)
        .into_iter()
        .find(|p| p.to_string_lossy().contains("data-000001"))
        .unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&seg, bytes).unwrap();
    let op = agent.client.verify_backup(&bad.id).await.unwrap();
    let done = agent.wait(&op.id).await;
    assert_ne!(done.state, OperationState::Succeeded);
    let v = agent
        .client
        .get_backup(&bad.id)
        .await
        .unwrap()
        .verification
        .expect("recorded");
    assert!(!v.ok);
    assert!(v.detail.contains("data-000001"), "{v:?}");

    // No scratch engine or directory is left: only the database's own engine runs.
    assert_eq!(agent.dir_entries("verify"), Vec::<String>::new());
    let postmasters = agent
        .engine_processes()
        .into_iter()
        .filter(|(_, c)| c.contains("pgdata"))
        .count();
    assert_eq!(postmasters, 1, "{:?}", agent.engine_processes());
}
