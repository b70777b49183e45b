//! Disaster recovery: a second agent, with its own data directory and
//! nothing shared with the first but the backup store, restores the first
//! agent's database from that store alone. And the same life cycle with
//! the backups in a real OpenStack Swift.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use common::{connect, Agent};
use dbaas_model::*;

async fn fill(agent: &Agent, name: &str, rows: i32) {
    let conn = agent.client.connection(name).await.unwrap();
    let pg = connect(&conn).await;
    pg.batch_execute("CREATE TABLE items (id int PRIMARY KEY, payload text)")
        .await
        .unwrap();
    pg.execute(
        "INSERT INTO items SELECT g, md5(g::text) FROM generate_series(1, $1::int) g",
        &[&rows],
    )
    .await
    .unwrap();
}

async fn digest(agent: &Agent, name: &str) -> (i64, String) {
    let conn = agent.client.connection(name).await.unwrap();
    let pg = connect(&conn).await;
    let row = pg
        .query_one(
            "SELECT count(*), md5(string_agg(payload, ',' ORDER BY id)) FROM items",
            &[],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

/// Restores the newest backup of `from` into `copy` and checks that it
/// holds exactly `expected` (row count and digest).
async fn restore_matches(agent: &Agent, from: &str, copy: &str, expected: &(i64, String)) {
    let restored = agent
        .client
        .restore_database(
            copy,
            &RestoreDatabaseRequest {
                from: from.into(),
                size_gb: Some(1),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let done = agent.wait(&restored.id).await;
    assert_eq!(done.state, OperationState::Succeeded, "{done:?}");
    assert_eq!(&digest(agent, copy).await, expected);
}

fn files_under(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_agent_restores_from_the_first_ones_store_alone() {
    let mut a = Agent::start();
    assert_eq!(a.create("orders").await.state, OperationState::Succeeded);
    fill(&a, "orders", 700).await;
    let op = a.client.create_backup("orders").await.unwrap();
    let done = a.wait(&op.id).await;
    assert_eq!(done.state, OperationState::Succeeded, "{done:?}");
    let expected = digest(&a, "orders").await;

    // Cloud A is gone: its agent stops (and with it, its uploads).
    a.kill();
    let store_a = a.data_dir().join("backups");
    let before = files_under(&store_a);
    let b = Agent::start_configured(
        None,
        &format!(
            "store \"cloud-a\" {{\n  type = \"local\"\n  local_dir = \"{}\"\n}}\n",
            store_a.display()
        ),
    );
    // B lists A's backups from the store, with nothing else of A's.
    let listed = b
        .client
        .list_backups_in("orders", Some("cloud-a"))
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, op.id);
    let unknown = b
        .client
        .list_backups_in("orders", Some("cloud-z"))
        .await
        .expect_err("unknown store");
    assert!(
        unknown
            .to_string()
            .contains("no backup store named \"cloud-z\""),
        "{unknown}"
    );

    let restore = b
        .client
        .restore_database(
            "orders",
            &RestoreDatabaseRequest {
                from: "orders".into(),
                store: Some("cloud-a".into()),
                size_gb: Some(1),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let done = b.wait(&restore.id).await;
    assert_eq!(done.state, OperationState::Succeeded, "{done:?}");
    assert_eq!(digest(&b, "orders").await, expected);
    // B only read A's store.
    assert_eq!(files_under(&store_a), before);
}

struct Swift {
    auth_url: String,
    user: String,
    key: String,
    s3_endpoint: String,
    s3_access_key: String,
    s3_secret_key: String,
}

/// A real Swift for this test binary, started once by the project's
/// script, stopped when the test process exits.
fn swift() -> &'static Swift {
    static SWIFT: OnceLock<Swift> = OnceLock::new();
    SWIFT.get_or_init(|| start_swift("dbaas-e2e-swift", &[]))
}

/// Swift's largest single object here (a production cluster's is 5 GiB).
const SMALL_MAX_OBJECT: usize = 2 * 1024 * 1024;

/// A second real Swift that refuses any single object above
/// [`SMALL_MAX_OBJECT`], as a production Swift does above 5 GiB.
fn small_object_swift() -> &'static Swift {
    static SWIFT: OnceLock<Swift> = OnceLock::new();
    SWIFT.get_or_init(|| {
        start_swift(
            "dbaas-e2e-swift-small",
            &["--max-file-size", &SMALL_MAX_OBJECT.to_string()],
        )
    })
}

fn start_swift(name: &str, extra: &[&str]) -> Swift {
    {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/swift");
        let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
        let out = Command::new(script)
            .args(["start", "--dir"])
            .arg(&dir)
            .args(["--until-pid", &std::process::id().to_string()])
            .args(extra)
            .output()
            .expect("run scripts/swift");
        assert!(
            out.status.success(),
            "Swift did not start ({script} start): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let get = |k: &str| {
            stdout
                .lines()
                .find_map(|l| l.strip_prefix(k)?.strip_prefix('='))
                .unwrap_or_else(|| panic!("{script} printed no {k}: {stdout}"))
                .to_string()
        };
        Swift {
            auth_url: get("SWIFT_AUTH_URL"),
            user: get("SWIFT_USER"),
            key: get("SWIFT_KEY"),
            s3_endpoint: get("SWIFT_S3_ENDPOINT"),
            s3_access_key: get("SWIFT_S3_ACCESS_KEY"),
            s3_secret_key: get("SWIFT_S3_SECRET_KEY"),
        }
    }
}

/// Swift's tempauth: (storage URL, token).
async fn swift_session(sw: &Swift) -> (String, String) {
    let resp = reqwest::Client::new()
        .get(&sw.auth_url)
        .header("X-Auth-User", &sw.user)
        .header("X-Auth-Key", &sw.key)
        .send()
        .await
        .unwrap();
    let h = |k: &str| resp.headers()[k].to_str().unwrap().to_string();
    (h("x-storage-url"), h("x-auth-token"))
}

#[tokio::test(flavor = "multi_thread")]
async fn backups_and_wal_go_to_swift_and_restore_byte_identical() {
    let sw = swift();
    // Segments of 64 KiB and Swift large objects of 1 MiB segments: a
    // backup spans many objects.
    let config = format!(
        "backup {{\n  store = \"swift\"\n  segment_size_kb = 64\n  parallelism = 2\n  archive_timeout_seconds = 1\n  swift {{\n    auth_url = \"{}\"\n    user = \"{}\"\n    key = \"{}\"\n    container = \"e2e-{}\"\n    segment_size_mb = 1\n  }}\n}}\n",
        sw.auth_url,
        sw.user,
        sw.key,
        std::process::id()
    );
    let agent = Agent::start_configured(None, &config);
    assert_eq!(
        agent.create("swifty").await.state,
        OperationState::Succeeded
    );
    fill(&agent, "swifty", 3000).await;
    let op = agent.client.create_backup("swifty").await.unwrap();
    let done = agent.wait(&op.id).await;
    assert_eq!(done.state, OperationState::Succeeded, "{done:?}");
    let backup = agent.client.get_backup(&op.id).await.unwrap();
    assert!(backup.segments > 2, "{backup:?}");
    let expected = digest(&agent, "swifty").await;

    restore_matches(&agent, "swifty", "swifty-copy", &expected).await;

    // WAL goes to Swift too.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let db = agent.client.get_database("swifty").await.unwrap();
        if db
            .wal_archive
            .as_ref()
            .is_some_and(|w| w.last_archived.is_some() && w.pending_files == 0)
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no WAL archived to Swift: {:?}",
            db.wal_archive
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn backups_in_an_s3_store_restore_byte_identical() {
    let sw = swift();
    let config = format!(
        "backup {{\n  store = \"s3\"\n  segment_size_kb = 64\n  s3 {{\n    endpoint = \"{}\"\n    bucket = \"e2e-s3-{}\"\n    access_key = \"{}\"\n    secret_key = \"{}\"\n    create_bucket = true\n  }}\n}}\n",
        sw.s3_endpoint,
        std::process::id(),
        sw.s3_access_key,
        sw.s3_secret_key
    );
    let agent = Agent::start_configured(None, &config);
    assert_eq!(
        agent.create("bucketed").await.state,
        OperationState::Succeeded
    );
    fill(&agent, "bucketed", 2000).await;
    let op = agent.client.create_backup("bucketed").await.unwrap();
    let done = agent.wait(&op.id).await;
    assert_eq!(done.state, OperationState::Succeeded, "{done:?}");
    assert!(agent.client.get_backup(&op.id).await.unwrap().segments > 1);
    let expected = digest(&agent, "bucketed").await;
    restore_matches(&agent, "bucketed", "bucketed-copy", &expected).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_with_segments_larger_than_one_swift_object_restores_byte_identical() {
    let sw = small_object_swift();
    let container = format!("large-{}", std::process::id());
    // Swift really refuses a single object above its limit here.
    let (storage_url, token) = swift_session(sw).await;
    let http = reqwest::Client::new();
    let put = |path: String, body: Vec<u8>| {
        http.put(format!("{storage_url}/{path}"))
            .header("X-Auth-Token", &token)
            .body(body)
            .send()
    };
    assert!(put(container.clone(), vec![])
        .await
        .unwrap()
        .status()
        .is_success());
    let too_big = put(
        format!("{container}/probe"),
        vec![7u8; SMALL_MAX_OBJECT + 1],
    )
    .await
    .unwrap();
    assert_eq!(
        too_big.status().as_u16(),
        413,
        "Swift took an object above its limit"
    );

    // Backup segments of 3 MiB (above Swift's 2 MiB limit: each must be a
    // Static Large Object of 1 MiB segments), uploaded 2 at a time.
    let config = format!(
        "backup {{\n  store = \"swift\"\n  segment_size_mb = 3\n  parallelism = 2\n  swift {{\n    auth_url = \"{}\"\n    user = \"{}\"\n    key = \"{}\"\n    container = \"{container}\"\n    segment_size_mb = 1\n  }}\n}}\n",
        sw.auth_url, sw.user, sw.key,
    );
    let agent = Agent::start_configured(None, &config);
    assert_eq!(agent.create("large").await.state, OperationState::Succeeded);
    fill(&agent, "large", 1000).await;
    // Rows that do not compress: the backup spans several 3 MiB segments.
    let conn = agent.client.connection("large").await.unwrap();
    connect(&conn)
        .await
        .batch_execute(
            "INSERT INTO items SELECT g, (SELECT string_agg(md5(random()::text || g || i), '') \
             FROM generate_series(1, 64) i) FROM generate_series(1001, 9000) g",
        )
        .await
        .unwrap();
    let op = agent.client.create_backup("large").await.unwrap();
    let done = agent.wait(&op.id).await;
    assert_eq!(done.state, OperationState::Succeeded, "{done:?}");
    let backup = agent.client.get_backup(&op.id).await.unwrap();
    assert!(
        backup.segments > 2,
        "expected more segments than the parallelism (2): {backup:?}"
    );
    assert!(
        backup.stored_bytes > 2 * SMALL_MAX_OBJECT as u64,
        "expected segments above Swift's object limit: {backup:?}"
    );
    let expected = digest(&agent, "large").await;

    restore_matches(&agent, "large", "large-copy", &expected).await;
}
