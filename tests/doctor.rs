//! `dbaas doctor`: resources dbaas made that no database owns are found,
//! and removed with `--fix`; a database whose resources are gone is named
//! (and never removed); a healthy agent gets a clean bill.

mod common;

use std::process::Command;

use common::{connect, Agent, BIN};
use dbaas_model::*;

fn doctor(agent: &Agent, args: &[&str]) -> (bool, String) {
    let out = Command::new(BIN)
        .arg("doctor")
        .args(args)
        .args(["--address", &agent.address])
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_finds_and_fixes_orphans_and_names_broken_databases() {
    let mut agent = Agent::start();
    assert_eq!(
        agent.create("healthy").await.state,
        OperationState::Succeeded
    );
    let (ok, text) = doctor(&agent, &[]);
    assert!(ok, "{text}");
    assert!(text.contains("No orphaned resources"), "{text}");

    // A volume nobody owns (as a lost create of an older version could
    // leave): found, and the exit status says there is work.
    let ghost = agent.data_dir().join("volumes/dbaas-ghost-0badc0de");
    std::fs::create_dir_all(&ghost).unwrap();
    let (ok, text) = doctor(&agent, &[]);
    assert!(!ok, "{text}");
    assert!(
        text.contains("volume") && text.contains("dbaas-ghost-0badc0de") && text.contains("--fix"),
        "{text}"
    );
    let report = agent.client.doctor(false).await.unwrap();
    assert_eq!(
        report.orphans,
        [Orphan {
            kind: "volume".into(),
            name: "dbaas-ghost-0badc0de".into()
        }]
    );
    assert!(
        report.removed.is_empty() && ghost.exists(),
        "a report changes nothing"
    );

    // --fix removes it, and only it.
    let (ok, text) = doctor(&agent, &["--fix"]);
    assert!(ok, "{text}");
    assert!(text.contains("removed"), "{text}");
    assert!(!ghost.exists());
    let (ok, text) = doctor(&agent, &["-o", "json"]);
    assert!(ok, "{text}");
    let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(v["orphans"], serde_json::json!([]));
    let conn = agent.client.connection("healthy").await.unwrap();
    let pg = connect(&conn).await;
    assert_eq!(
        pg.query_one("SELECT 2 + 2", &[])
            .await
            .unwrap()
            .get::<_, i32>(0),
        4
    );

    // A database whose volume is gone is named, not removed, even by --fix.
    let db = agent.client.get_database("healthy").await.unwrap();
    let volume = agent
        .data_dir()
        .join(format!("volumes/dbaas-healthy-{}", &db.id[..8]));
    let aside = agent.data_dir().join("aside");
    std::fs::rename(&volume, &aside).unwrap();
    let (ok, text) = doctor(&agent, &["--fix"]);
    assert!(!ok, "{text}");
    assert!(
        text.contains("healthy") && text.contains("volume is gone") && text.contains("restore"),
        "{text}"
    );
    assert_eq!(
        agent.client.doctor(false).await.unwrap().broken,
        [BrokenDatabase {
            database: "healthy".into(),
            missing: vec!["volume".into()]
        }]
    );
    assert!(agent.client.get_database("healthy").await.is_ok());
    std::fs::rename(&aside, &volume).unwrap();
    assert_eq!(
        agent.client.doctor(false).await.unwrap(),
        DoctorReport::default()
    );

    drop(pg);
    let del = agent.client.delete_database("healthy").await.unwrap();
    assert_eq!(agent.wait(&del.id).await.state, OperationState::Succeeded);
    agent.assert_no_orphans().await;
}
