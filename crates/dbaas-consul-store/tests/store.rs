//! ConsulStore against the Consul simulator: the StateStore contract (the
//! same checks as the embedded store), generation fencing, and writes that
//! survive lost answers.

mod common;
use dbaas_consul_sim as sim;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use dbaas_consul_store::{ConsulStore, LeaderElection, Role};
use dbaas_store::contract::{operation, record};
use dbaas_store::{StateStore, StoreError};
use sim::{Action, Fault, Sim};
use tokio::sync::watch;

/// A store whose agent leads, alone, on a fresh simulator.
async fn leading() -> (Arc<dyn StateStore>, (Sim, LeaderElection)) {
    let sim = sim::start().await;
    let election = elector(&sim, "solo");
    let mut role = election.role();
    until(&mut role, "solo leads", Role::is_leader).await;
    let store = ConsulStore::new(sim.client(), keys(), election.role());
    (Arc::new(store), (sim, election))
}

dbaas_store::state_store_contract_tests!(leading);

#[tokio::test]
async fn every_store_write_is_a_fenced_transaction() {
    let (store, (sim, _election)) = leading().await;
    sim.state().requests.clear();
    store
        .insert_database_with_operation(&record("a", "1"), &operation("op-1", "a", 0))
        .await
        .unwrap();
    store
        .update_database("a", &mut |d| d.size_gb = 3)
        .await
        .unwrap();
    store
        .put_operation(&operation("op-1", "a", 0))
        .await
        .unwrap();
    store
        .allocate_address("a", &mut ["10.0.0.1:5432".to_string()].into_iter())
        .await
        .unwrap();
    store.release_address("a").await.unwrap();
    store.remove_database("a", "1").await.unwrap();
    let writes: Vec<String> = sim
        .state()
        .requests
        .iter()
        .filter(|r| !r.starts_with("GET "))
        .cloned()
        .collect();
    assert_eq!(writes.len(), 6, "{writes:?}");
    assert!(
        writes.iter().all(|w| w.starts_with("PUT /v1/txn")),
        "{writes:?}"
    );
}

#[tokio::test]
async fn a_follower_cannot_write_and_is_told_where_the_leader_is() {
    let sim = sim::start().await;
    let leader = dbaas_consul_store::LeaderInfo {
        id: "a1".into(),
        address: "https://a1.example:8080".into(),
    };
    let (_tx, role) = watch::channel(Role::Follower {
        leader: Some(leader),
    });
    let store = ConsulStore::new(sim.client(), keys(), role);
    let err = store.put_database(&record("a", "1")).await.unwrap_err();
    assert!(matches!(err, StoreError::Fenced(_)), "{err:?}");
    assert!(err.to_string().contains("https://a1.example:8080"), "{err}");
    assert!(sim.state().kv.is_empty(), "nothing was written");
}

#[tokio::test]
async fn a_deposed_leaders_writes_are_rejected() {
    let sim = sim::start().await;
    let old = elector(&sim, "old");
    let mut old_role = old.role();
    let deposed = until(&mut old_role, "old leads", Role::is_leader).await;
    let Role::Leader(fence) = &deposed else {
        unreachable!()
    };
    assert_eq!(fence.generation, 1);
    // The old leader still believes it leads (paused, cut off): its role
    // is frozen at generation 1.
    let (_frozen_tx, frozen) = watch::channel(deposed.clone());
    let stale = ConsulStore::new(sim.client(), keys(), frozen);
    stale.put_database(&record("orders", "1")).await.unwrap();
    drop(old);
    // Its session runs out; a new leader is elected with generation 2.
    let new = elector(&sim, "new");
    let mut new_role = new.role();
    let won = until(&mut new_role, "new leads", Role::is_leader).await;
    assert_eq!(won.generation(), Some(2));
    let current = ConsulStore::new(sim.client(), keys(), new.role());
    current
        .update_database("orders", &mut |d| d.size_gb = 7)
        .await
        .unwrap();

    let err = stale
        .update_database("orders", &mut |d| d.size_gb = 1)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Fenced(_)), "{err:?}");
    assert!(err.to_string().contains("generation 1"), "{err}");
    let err = stale
        .insert_database_with_operation(&record("other", "2"), &operation("op-2", "other", 0))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Fenced(_)), "{err:?}");
    assert!(matches!(
        stale.release_address("x").await,
        Ok(()) // nothing to release: nothing to write, nothing refused
    ));
    assert_eq!(
        current
            .get_database("orders")
            .await
            .unwrap()
            .unwrap()
            .size_gb,
        7
    );
    assert!(current.get_database("other").await.unwrap().is_none());
    assert!(current.get_operation("op-2").await.unwrap().is_none());
}

#[tokio::test]
async fn a_lost_answer_does_not_turn_a_create_into_a_conflict_or_repeat_an_update() {
    let (store, (sim, _election)) = leading().await;
    // The transaction applies, then the connection is cut before the
    // answer; the client retries, and the retry meets its own write.
    sim.inject(Fault::new("PUT", "/v1/txn", Action::Reset { after_apply: true }).times(1));
    store
        .insert_database_with_operation(&record("a", "1"), &operation("op-1", "a", 0))
        .await
        .expect("the create applied once and is reported as done");
    assert_eq!(sim.state().faults_hit, 1);
    sim.inject(Fault::new("PUT", "/v1/txn", Action::Reset { after_apply: true }).times(1));
    let updated = store
        .update_database("a", &mut |d| d.size_gb += 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updated.size_gb, 2);
    assert_eq!(sim.state().faults_hit, 2);
    assert_eq!(store.get_database("a").await.unwrap().unwrap().size_gb, 2);
    assert_eq!(store.list_operations().await.unwrap().len(), 1);
}

#[tokio::test]
async fn writes_ride_out_server_errors_resets_and_delays() {
    let (store, (sim, _election)) = leading().await;
    sim.inject(Fault::new("PUT", "/v1/txn", Action::Status(500)).times(2));
    store.put_database(&record("a", "1")).await.unwrap();
    sim.inject(Fault::new("PUT", "/v1/txn", Action::Reset { after_apply: false }).times(1));
    store
        .put_operation(&operation("op-1", "a", 0))
        .await
        .unwrap();
    sim.inject(
        Fault::new(
            "GET",
            "/v1/kv/dbaas/test/databases/a",
            Action::Delay(Duration::from_millis(200)),
        )
        .times(1),
    );
    store
        .update_database("a", &mut |d| d.size_gb = 4)
        .await
        .unwrap();
    assert_eq!(sim.state().faults_hit, 4);
    assert_eq!(store.get_database("a").await.unwrap().unwrap().size_gb, 4);
    assert!(store.get_operation("op-1").await.unwrap().is_some());
}

#[tokio::test]
async fn a_consul_that_keeps_failing_is_reported_not_hidden() {
    let (store, (sim, _election)) = leading().await;
    sim.inject(Fault::new("PUT", "/v1/txn", Action::Status(500)));
    let err = store.put_database(&record("a", "1")).await.unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
    assert!(err.to_string().contains("500"), "{err}");
    sim.clear_faults();
    assert!(store.get_database("a").await.unwrap().is_none());
}

#[tokio::test]
async fn records_above_consuls_value_limit_are_refused_before_sending() {
    let (store, (sim, _election)) = leading().await;
    let mut big = record("a", "1");
    big.error = Some("x".repeat(dbaas_consul_store::MAX_VALUE_BYTES));
    let err = store.put_database(&big).await.unwrap_err();
    assert!(err.to_string().contains("512 KiB"), "{err}");
    assert!(sim.state().kv.keys().all(|k| !k.contains("databases")));
}
