//! Backups in a Swift that authenticates through a real Keystone, with the
//! agent's credentials taken from a `clouds.yaml` cloud, as an operator
//! configures it:
//!
//! ```hcl
//! backup {
//!   store = "swift"
//!   swift { auth = "keystone"  cloud = "dbaas" }
//! }
//! ```
//!
//! The test starts a throwaway OpenStack with `scripts/openstack up` (its
//! watcher stops it when this process exits) and a Swift whose second
//! proxy has authtoken + keystoneauth and is registered in Keystone's
//! catalog (`scripts/swift start --keystone`). The agent finds Swift in the
//! token's catalog: nothing but the cloud's name is configured.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::cloud::{auth_value, run, start_openstack, SCRIPTS};
use common::{connect, Agent, BIN};
use dbaas_model::*;

/// Starts Keystone (and the rest of `scripts/openstack up`) and a Swift
/// behind keystoneauth; returns the clouds.yaml naming cloud `dbaas`.
fn start_cloud() -> PathBuf {
    let pid = std::process::id().to_string();
    let os_dir = start_openstack("keystone");
    let swift_dir = std::env::temp_dir().join(format!("dbaas-e2e-swift-ks-{pid}"));
    let clouds = os_dir.join("clouds.yaml");
    let yaml = std::fs::read_to_string(&clouds).unwrap();
    let auth_url = auth_value(&yaml, "dbaas", "auth_url");
    let out = run(
        Command::new(format!("{SCRIPTS}/swift"))
            .arg("start")
            .arg("--dir")
            .arg(&swift_dir)
            .arg("--until-pid")
            .arg(&pid)
            .arg("--keystone")
            .arg(&auth_url)
            .arg("--keystone-admin-password")
            .arg(auth_value(&yaml, "dbaas-admin", "password")),
        "scripts/swift start --keystone",
    );
    assert!(
        out.contains("SWIFT_KEYSTONE_PROXY=http://127.0.0.1:"),
        "no Keystone proxy: {out}"
    );
    clouds
}

fn swift_config(clouds: &Path, cloud: &str) -> String {
    format!(
        "backup {{\n  store = \"swift\"\n  segment_size_kb = 256\n  swift {{\n    auth = \"keystone\"\n    cloud = \"{cloud}\"\n    clouds_file = \"{}\"\n    container = \"ks-e2e-{}\"\n  }}\n}}\n",
        clouds.display(),
        std::process::id()
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn backups_reach_swift_through_keystone_from_a_clouds_yaml_cloud() {
    let clouds = tokio::task::spawn_blocking(start_cloud).await.unwrap();

    let agent = Agent::start_configured(None, &swift_config(&clouds, "dbaas"));
    assert_eq!(agent.create("keyed").await.state, OperationState::Succeeded);
    let conn = agent.client.connection("keyed").await.unwrap();
    let pg = connect(&conn).await;
    pg.batch_execute(
        "CREATE TABLE t (id int PRIMARY KEY, v text);
         INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 2000) g;",
    )
    .await
    .unwrap();
    let op = agent.client.create_backup("keyed").await.unwrap();
    let done = agent.wait(&op.id).await;
    assert_eq!(done.state, OperationState::Succeeded, "{done:?}");
    let listed = agent.client.list_backups("keyed").await.unwrap();
    assert_eq!(listed.iter().map(|b| &b.id).collect::<Vec<_>>(), [&op.id]);

    let restored = agent
        .client
        .restore_database(
            "keyed-copy",
            &RestoreDatabaseRequest {
                from: "keyed".into(),
                size_gb: Some(1),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let done = agent.wait(&restored.id).await;
    assert_eq!(done.state, OperationState::Succeeded, "{done:?}");
    let copy = connect(&agent.client.connection("keyed-copy").await.unwrap()).await;
    let sum = "SELECT count(*), md5(string_agg(v, ',' ORDER BY id)) FROM t";
    let (a, b) = (
        pg.query_one(sum, &[]).await.unwrap(),
        copy.query_one(sum, &[]).await.unwrap(),
    );
    assert_eq!(a.get::<_, i64>(0), 2000);
    assert_eq!(
        (a.get::<_, i64>(0), a.get::<_, String>(1)),
        (b.get::<_, i64>(0), b.get::<_, String>(1))
    );

    // A cloud that clouds.yaml lacks: the agent refuses to start and says
    // which cloud and which file.
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("agent.hcl");
    std::fs::write(
        &cfg,
        format!(
            "data_dir = \"{}\"\nlisten = \"127.0.0.1:0\"\n{}",
            dir.path().join("data").display(),
            swift_config(&clouds, "no-such-cloud")
        ),
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["agent", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no-such-cloud") && err.contains("clouds.yaml"),
        "{err}"
    );
}
