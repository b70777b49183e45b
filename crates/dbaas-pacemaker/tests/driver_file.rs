//! The driver against a CIB file (`CIB_file`): the real `cibadmin` and
//! `crm_mon` work on a file as on a live CIB, version checks included, so
//! what the driver writes, when it writes nothing, how it survives a
//! concurrent change and what removing leaves are checked here without a
//! cluster. `tests/cluster.rs` runs the same driver against a live one.

mod common;

use std::io;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use common::{NODE_A, NODE_B, PAIR};
use dbaas_pacemaker::{
    Agents, Applied, CommandOutput, CommandRunner, DatabaseGroup, DatabaseName, Driver, GroupState,
    LocalRunner, StandIn,
};

fn tool(cib: &Path, tool: &str, args: &[&str]) -> String {
    let out = Command::new(Path::new("/usr/sbin").join(tool))
        .args(args)
        .env("CIB_file", cib)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {tool}: {e}; see scripts/setup"));
    assert!(
        out.status.success(),
        "{tool} {args:?}: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A two-node CIB as a freshly provisioned pair has it: the nodes with
/// the pair attribute, no resources.
fn pair_cib(dir: &Path) -> std::path::PathBuf {
    let cib = dir.join("cib.xml");
    let empty = Command::new("/usr/sbin/cibadmin")
        .arg("--empty")
        .output()
        .unwrap();
    std::fs::write(&cib, empty.stdout).unwrap();
    for (id, node) in [(1, NODE_A), (2, NODE_B)] {
        let xml = format!(r#"<node id="{id}" uname="{node}"/>"#);
        tool(&cib, "cibadmin", &["--create", "-o", "nodes", "-X", &xml]);
        tool(
            &cib,
            "crm_attribute",
            &[
                "--node",
                node,
                "--name",
                dbaas_pacemaker::PAIR_ATTRIBUTE,
                "--update",
                PAIR,
            ],
        );
    }
    // Both nodes online with quorum, as a running pair: without a status
    // section crm_verify warns that every node is unclean.
    let running = dir.join("cib-running.xml");
    let out = Command::new("/usr/sbin/crm_simulate")
        .args(["-x", cib.to_str().unwrap(), "--quorum", "1"])
        .args(["--node-up", NODE_A, "--node-up", NODE_B])
        .args(["--save-output", running.to_str().unwrap()])
        .env_remove("CIB_file")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    running
}

fn epoch(cib: &Path) -> u64 {
    let text = std::fs::read_to_string(cib).unwrap();
    let head = text.lines().next().unwrap();
    head.split(" epoch=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .and_then(|e| e.parse().ok())
        .unwrap()
}

fn configuration(cib: &Path) -> String {
    tool(cib, "cibadmin", &["--query", "--scope", "configuration"])
}

fn second_database() -> DatabaseGroup {
    let mut group = common::sample();
    group.database = DatabaseName::parse("billing").unwrap();
    group
}

#[tokio::test]
async fn apply_writes_once_then_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cib = pair_cib(dir.path());
    let driver = Driver::new(LocalRunner::with_cib_file(&cib));
    let fragment = common::sample().fragment(&Agents::Production).unwrap();

    let before = epoch(&cib);
    let applied = driver.apply(&fragment).await.unwrap();
    assert_eq!(applied, Applied::Changed { epoch: before + 1 });
    assert_eq!(epoch(&cib), before + 1);
    tool(&cib, "crm_verify", &["-x", cib.to_str().unwrap(), "-V"]);
    let written = configuration(&cib);
    assert!(written.contains(r#"<group id="g-orders-db">"#), "{written}");
    assert!(
        written.contains(r#"name="stonith-enabled" value="true""#),
        "{written}"
    );

    // Again: nothing to write, the epoch stays.
    assert_eq!(driver.apply(&fragment).await.unwrap(), Applied::Unchanged);
    assert_eq!(epoch(&cib), before + 1);

    // Someone else's change elsewhere is none of the fragment's business.
    tool(
        &cib,
        "crm_attribute",
        &[
            "--type",
            "crm_config",
            "--name",
            "cluster-recheck-interval",
            "--update",
            "5min",
        ],
    );
    assert_eq!(driver.apply(&fragment).await.unwrap(), Applied::Unchanged);

    // A change to the database's own elements is put right.
    tool(
        &cib,
        "cibadmin",
        &[
            "--modify",
            "--xml-text",
            r#"<op id="orders-db-volume-start-interval-0s" timeout="1s"/>"#,
        ],
    );
    assert!(matches!(
        driver.apply(&fragment).await.unwrap(),
        Applied::Changed { .. }
    ));
    let repaired = configuration(&cib);
    assert!(!repaired.contains(r#"timeout="1s""#), "{repaired}");
    assert!(
        repaired.contains(r#"<op id="orders-db-volume-start-interval-0s" name="start" interval="0s" timeout="360s"/>"#),
        "{repaired}"
    );
    // The other client's option is still there.
    assert!(repaired.contains(r#"value="5min""#), "{repaired}");
    assert_eq!(driver.apply(&fragment).await.unwrap(), Applied::Unchanged);
}

/// Runs the tools on a CIB file, and makes a change of its own just
/// before the driver's first write: the CIB moves on between the
/// driver's read and its write, as when another client writes.
struct ConcurrentWriter {
    inner: LocalRunner,
    cib: std::path::PathBuf,
    patches: AtomicUsize,
}

#[async_trait]
impl CommandRunner for ConcurrentWriter {
    async fn run(&self, program: &str, args: &[String]) -> io::Result<CommandOutput> {
        if program == "cibadmin"
            && args.first().map(String::as_str) == Some("--patch")
            && self.patches.fetch_add(1, Ordering::SeqCst) == 0
        {
            tool(
                &self.cib,
                "cibadmin",
                &[
                    "--create",
                    "-o",
                    "resources",
                    "-X",
                    r#"<primitive id="someone-else" class="ocf" provider="heartbeat" type="Dummy"/>"#,
                ],
            );
        }
        self.inner.run(program, args).await
    }
}

#[tokio::test]
async fn a_concurrent_change_is_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let cib = pair_cib(dir.path());
    let runner = Arc::new(ConcurrentWriter {
        inner: LocalRunner::with_cib_file(&cib),
        cib: cib.clone(),
        patches: AtomicUsize::new(0),
    });
    let driver = Driver::new(runner.clone());
    let fragment = common::sample().fragment(&Agents::Production).unwrap();
    let applied = driver.apply(&fragment).await.unwrap();
    assert!(matches!(applied, Applied::Changed { .. }));
    // The first diff was refused (its source version was gone), the
    // second, computed from a fresh read, applied; both changes are there.
    assert_eq!(runner.patches.load(Ordering::SeqCst), 2);
    let written = configuration(&cib);
    assert!(written.contains(r#"id="someone-else""#), "{written}");
    assert!(written.contains(r#"<group id="g-orders-db">"#), "{written}");
}

#[tokio::test]
async fn remove_takes_the_shared_pieces_with_the_last_database_only() {
    let dir = tempfile::tempdir().unwrap();
    let cib = pair_cib(dir.path());
    let driver = Driver::new(LocalRunner::with_cib_file(&cib));
    let (one, two) = (common::sample(), second_database());
    for group in [&one, &two] {
        driver
            .apply(&group.fragment(&Agents::Production).unwrap())
            .await
            .unwrap();
    }
    tool(&cib, "crm_verify", &["-x", cib.to_str().unwrap(), "-V"]);
    assert_eq!(
        driver.status(&one.database).await.unwrap().state(),
        GroupState::Stopped,
        "a CIB file runs nothing"
    );

    driver.remove(&one.database).await.unwrap();
    let left = configuration(&cib);
    // (The second database reuses the sample's mount points, so only
    // ids are looked for.)
    assert!(!left.contains(r#"id="g-orders-db"#), "{left}");
    assert!(!left.contains(r#"id="orders-db-"#), "{left}");
    for kept in ["g-billing", "openstack-info-clone", "fence-db-host-a"] {
        assert!(left.contains(kept), "{kept}:\n{left}");
    }
    tool(&cib, "crm_verify", &["-x", cib.to_str().unwrap(), "-V"]);
    assert_eq!(
        driver.status(&one.database).await.unwrap().state(),
        GroupState::Absent
    );

    // Removing what is gone writes nothing.
    let at = epoch(&cib);
    driver.remove(&one.database).await.unwrap();
    assert_eq!(epoch(&cib), at);

    driver.remove(&two.database).await.unwrap();
    let left = configuration(&cib);
    for gone in ["g-billing", "openstack-info", "fence-", "rsc_"] {
        assert!(!left.contains(gone), "{gone}:\n{left}");
    }
    assert!(
        left.contains(r#"name="stonith-enabled" value="true""#),
        "fencing must stay enabled:\n{left}"
    );
}

#[tokio::test]
async fn the_stand_in_fragment_passes_crm_verify_with_fencing() {
    let dir = tempfile::tempdir().unwrap();
    let cib = pair_cib(dir.path());
    let driver = Driver::new(LocalRunner::with_cib_file(&cib));
    let stand_in = StandIn::new([127, 0, 83, 1].into()).unwrap();
    let fragment = common::sample()
        .fragment(&Agents::StandIn(stand_in))
        .unwrap();
    driver.apply(&fragment).await.unwrap();
    tool(&cib, "crm_verify", &["-x", cib.to_str().unwrap(), "-V"]);
    let written = configuration(&cib);
    for agent in [
        r#"type="fence_dummy""#,
        r#"type="IPaddr2""#,
        r#"type="anything""#,
        r#"type="Dummy""#,
        r#"value="tmpfs""#,
    ] {
        assert!(written.contains(agent), "{agent}:\n{written}");
    }
    assert!(!written.contains("systemd"), "{written}");
    assert!(
        written.contains(r#"name="stonith-enabled" value="true""#),
        "{written}"
    );
}

#[test]
fn stand_in_floating_ips_are_loopback_only() {
    assert!(StandIn::new([127, 0, 83, 1].into()).is_ok());
    assert!(StandIn::new([127, 0, 0, 1].into()).is_err());
    assert!(StandIn::new([10, 0, 0, 1].into()).is_err());
}
