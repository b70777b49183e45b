//! The workflows' interface (`HaGroupDriver`) over Pacemaker, against a
//! CIB file: what a create and a delete saga see when they call it, and
//! repeat it after a crash.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{NODE_A, NODE_B, PAIR};
use dbaas_drivers::ha::{
    HaFloatingIp, HaGroup, HaGroupDriver, HaMount, HaNode, HaStatus, HostPair,
};
use dbaas_pacemaker::{
    render_create, CloudName, Credentials, Driver, LocalRunner, PacemakerHa, PairName,
};

fn tool(cib: &Path, tool: &str, args: &[&str]) -> String {
    let out = Command::new(Path::new("/usr/sbin").join(tool))
        .args(args)
        .env("CIB_file", cib)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {tool}: {e}; see scripts/setup"));
    assert!(out.status.success(), "{tool} {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A two-node CIB file of the pair, both nodes online.
fn pair_cib(dir: &Path) -> PathBuf {
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

fn groups(cib: &Path) -> usize {
    tool(cib, "cibadmin", &["--query", "--scope", "resources"])
        .matches("<group ")
        .count()
}

/// The workflows' description of the sample database (the values of
/// `tests/golden/orders-db.xml`), under the instance name `database`.
fn ha_group(database: &str) -> HaGroup {
    let s = common::sample();
    let mount = |m: &dbaas_pacemaker::Mount| HaMount {
        device: m.device.as_str().into(),
        directory: m.directory.as_str().into(),
        fstype: m.fstype.to_string(),
    };
    HaGroup {
        database: database.to_owned(),
        pair: HostPair {
            id: PAIR.to_owned(),
            nodes: s.nodes.clone().map(|n| HaNode {
                name: n.name.to_string(),
                server_id: n.server.to_string(),
            }),
        },
        volume_id: s.volume.to_string(),
        data: mount(&s.data),
        wal: mount(&s.wal),
        floating_ip: HaFloatingIp {
            id: s.floating_ip.ip_id.to_string(),
            address: "203.0.113.10".parse().unwrap(),
            subnet_id: s.floating_ip.subnet_id.to_string(),
        },
    }
}

fn credentials() -> Credentials {
    Credentials::Cloud(CloudName::parse("dbaas").unwrap())
}

fn ha(cib: &Path) -> PacemakerHa<LocalRunner> {
    PacemakerHa::new(credentials()).pair(
        PairName::parse(PAIR).unwrap(),
        Driver::new(LocalRunner::with_cib_file(cib)),
    )
}

#[tokio::test]
async fn ensure_is_idempotent_and_remove_of_the_absent_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let cib = pair_cib(dir.path());
    let ha = ha(&cib);
    let name = "dbaas-orders-db-0a1b2c3d";
    let group = ha_group(name);

    assert_eq!(ha.status(name).await.unwrap(), HaStatus::Absent);
    assert!(ha.list().await.unwrap().is_empty());

    let before = epoch(&cib);
    ha.ensure(&group).await.unwrap();
    assert_eq!(epoch(&cib), before + 1);
    assert_eq!(groups(&cib), 1);
    // A retried step (the saga resumed after a crash) writes nothing.
    ha.ensure(&group).await.unwrap();
    assert_eq!(epoch(&cib), before + 1, "a repeated ensure wrote");
    assert_eq!(groups(&cib), 1);
    tool(&cib, "crm_verify", &["-x", cib.to_str().unwrap(), "-V"]);
    let resources = tool(&cib, "cibadmin", &["--query", "--scope", "resources"]);
    assert!(
        resources.contains(&format!(r#"<group id="g-{name}">"#)),
        "{resources}"
    );

    // A CIB file runs nothing: the group is there, stopped.
    assert_eq!(ha.status(name).await.unwrap(), HaStatus::Stopped);

    // A second database, and a group someone else made: only dbaas's are
    // listed.
    ha.ensure(&ha_group("dbaas-billing-4e5f6a7b"))
        .await
        .unwrap();
    tool(
        &cib,
        "cibadmin",
        &[
            "--create",
            "-o",
            "resources",
            "-X",
            r#"<group id="g-web"><primitive id="web-ip" class="ocf" provider="heartbeat" type="Dummy"/></group>"#,
        ],
    );
    assert_eq!(
        ha.list().await.unwrap(),
        ["dbaas-billing-4e5f6a7b", "dbaas-orders-db-0a1b2c3d"]
    );

    ha.remove(name).await.unwrap();
    assert_eq!(ha.status(name).await.unwrap(), HaStatus::Absent);
    let at = epoch(&cib);
    ha.remove(name).await.unwrap();
    assert_eq!(epoch(&cib), at, "removing the absent wrote");
    assert_eq!(ha.list().await.unwrap(), ["dbaas-billing-4e5f6a7b"]);
    let left = tool(&cib, "cibadmin", &["--query", "--scope", "resources"]);
    assert!(left.contains(r#"id="g-web""#), "{left}");
}

#[tokio::test]
async fn hostile_or_unknown_inputs_are_refused_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cib = pair_cib(dir.path());
    let ha = ha(&cib);
    let before = epoch(&cib);

    let mut hostile = ha_group("dbaas-x-0a1b2c3d");
    hostile.data.directory = "/srv/a\"/><primitive id=\"evil".into();
    let err = ha.ensure(&hostile).await.unwrap_err();
    assert!(err.to_string().contains("invalid path"), "{err}");

    let mut hostile = ha_group("dbaas-x-0a1b2c3d");
    hostile.pair.nodes[0].name = "a' or '1'='1".into();
    let err = ha.ensure(&hostile).await.unwrap_err();
    assert!(err.to_string().contains("invalid node name"), "{err}");

    let err = ha
        .ensure(&ha_group("g-x\n<evil/>"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("invalid database name"), "{err}");
    assert!(ha.remove("x']|//*[@id='y").await.is_err());

    let mut elsewhere = ha_group("dbaas-x-0a1b2c3d");
    elsewhere.pair.id = "pair-9".into();
    let err = ha.ensure(&elsewhere).await.unwrap_err();
    assert!(err.to_string().contains("no host pair \"pair-9\""), "{err}");

    assert_eq!(epoch(&cib), before);
    assert_eq!(groups(&cib), 0);
}

#[test]
fn render_create_is_what_a_create_applies() {
    // From the workflows' values of the sample, the golden fragment.
    let rendered = render_create(&ha_group("orders-db"), &credentials()).unwrap();
    let golden = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/orders-db.xml"),
    )
    .unwrap();
    assert_eq!(rendered, golden);
}

#[tokio::test]
async fn ensure_writes_the_rendered_fragment() {
    let dir = tempfile::tempdir().unwrap();
    let cib = pair_cib(dir.path());
    let ha = ha(&cib);
    let group = ha_group("orders-db");
    ha.ensure(&group).await.unwrap();
    // Merging the rendered fragment into the CIB that ensure wrote
    // changes no element: they are the same.
    let configuration = || {
        let text = std::fs::read_to_string(&cib).unwrap();
        let start = text.find("<configuration>").unwrap();
        let end = text.find("</configuration>").unwrap();
        text[start..end].to_owned()
    };
    let written = configuration();
    let rendered = ha.render(&group).unwrap();
    tool(
        &cib,
        "cibadmin",
        &[
            "--modify",
            "--allow-create",
            "--scope",
            "configuration",
            "--xml-text",
            &rendered,
        ],
    );
    assert_eq!(configuration(), written);
}
