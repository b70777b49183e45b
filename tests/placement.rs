//! The host pool: each new database is placed on a pair with room, the
//! least-used zone first; a create that finds no room fails saying so and
//! changes nothing; an unwound create and a delete give their room back.

mod common;

use std::process::Command;

use common::{Agent, BIN};
use dbaas_model::*;

const POOL: &str = r#"
host_pair "pair-a1" {
  zone        = "az-a"
  nomad_nodes = ["db-a1-x", "db-a1-y"]
  vip_port_id = "vip-a1"
  capacity {
    databases  = 1
    vcpus      = 8
    memory_mib = 16384
    volumes    = 4
  }
}
host_pair "pair-b1" {
  zone        = "az-b"
  nomad_nodes = ["db-b1-x", "db-b1-y"]
  vip_port_id = "vip-b1"
  capacity {
    databases  = 1
    vcpus      = 8
    memory_mib = 16384
    volumes    = 4
  }
}
"#;

fn request(name: &str) -> CreateDatabaseRequest {
    CreateDatabaseRequest {
        name: name.into(),
        engine: None,
        version: None,
        size_gb: Some(1),
    }
}

async fn used(agent: &Agent) -> Vec<(String, u64, u64)> {
    agent
        .client
        .list_hosts()
        .await
        .unwrap()
        .into_iter()
        .map(|p| (p.id, p.used.databases, p.used.volumes))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn databases_spread_over_the_pool_and_a_full_pool_refuses_with_a_reason() {
    let mut agent = Agent::start_configured(None, POOL);
    assert_eq!(
        used(&agent).await,
        [("pair-a1".into(), 0, 0), ("pair-b1".into(), 0, 0)]
    );

    assert_eq!(agent.create("first").await.state, OperationState::Succeeded);
    assert_eq!(
        agent.create("second").await.state,
        OperationState::Succeeded
    );
    let a = agent.client.get_database("first").await.unwrap();
    let b = agent.client.get_database("second").await.unwrap();
    // One per zone, not both on the first pair.
    assert_eq!(a.host_pair.as_deref(), Some("pair-a1"));
    assert_eq!(b.host_pair.as_deref(), Some("pair-b1"));
    assert_eq!(
        used(&agent).await,
        [("pair-a1".into(), 1, 1), ("pair-b1".into(), 1, 1)]
    );

    // The pool is full: the create fails naming why, and leaves nothing.
    let op = agent
        .client
        .create_database(&request("third"))
        .await
        .unwrap();
    let done = agent.wait(&op.id).await;
    assert_eq!(done.state, OperationState::Unwound, "{done:?}");
    let err = done.error.unwrap_or_default();
    assert!(
        err.contains("no host pair has room") && err.contains("databases short on 2 of 2 pairs"),
        "{err}"
    );
    assert!(agent.client.get_database("third").await.is_err());

    // A delete gives its pair's room back.
    let del = agent.client.delete_database("first").await.unwrap();
    assert_eq!(agent.wait(&del.id).await.state, OperationState::Succeeded);
    assert_eq!(
        used(&agent).await,
        [("pair-a1".into(), 0, 0), ("pair-b1".into(), 1, 1)]
    );

    // A create that fails after placement unwinds and gives it back too.
    agent.restart(Some("create_database.start_engine.error=error"));
    let op = agent
        .client
        .create_database(&request("doomed"))
        .await
        .unwrap();
    assert_eq!(agent.wait(&op.id).await.state, OperationState::Unwound);
    assert_eq!(
        used(&agent).await,
        [("pair-a1".into(), 0, 0), ("pair-b1".into(), 1, 1)]
    );
    agent.restart(None);
    assert_eq!(agent.create("third").await.state, OperationState::Succeeded);
    assert_eq!(
        agent
            .client
            .get_database("third")
            .await
            .unwrap()
            .host_pair
            .as_deref(),
        Some("pair-a1")
    );

    // `dbaas hosts list`, for people and for scripts.
    let table = Command::new(BIN)
        .args(["hosts", "list", "--address", &agent.address])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(table.status.success(), "{text}");
    assert!(text.contains("PAIR") && text.contains("pair-a1"), "{text}");
    assert!(
        text.contains("db-a1-x, db-a1-y") && text.contains("1/1"),
        "{text}"
    );
    let json = Command::new(BIN)
        .args(["hosts", "list", "-o", "json", "--address", &agent.address])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["pairs"][1]["id"], "pair-b1");
    assert_eq!(v["pairs"][1]["used"]["databases"], 1);
    assert_eq!(v["pairs"][1]["capacity"]["memory_mib"], 16384);
    assert_eq!(v["pairs"][1]["free"]["databases"], 0);

    for name in ["second", "third"] {
        let del = agent.client.delete_database(name).await.unwrap();
        agent.wait(&del.id).await;
    }
    agent.assert_no_orphans().await;
}
