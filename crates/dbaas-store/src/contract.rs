//! The [`StateStore`] contract: checks every implementation must pass, run
//! by the tests of each (the embedded store here, the Consul store in
//! `dbaas-consul-store`), so they keep the same meaning.
//!
//! Each check takes a fresh, empty store that may be written (for a
//! replicated store: one whose agent leads). Use
//! [`state_store_contract_tests!`](crate::state_store_contract_tests) to get
//! one `#[tokio::test]` per check.

use std::collections::HashSet;
use std::sync::Arc;

use dbaas_model::{DatabaseRecord, OperationRecord, SqlOutput, StatementResult};

use crate::{StateStore, StoreError};

/// A database record named `name` with id `id` and `size_gb` 1.
pub fn record(name: &str, id: &str) -> DatabaseRecord {
    let now = chrono::Utc::now();
    // Built from JSON so fields with serde defaults need not be listed.
    serde_json::from_value(serde_json::json!({
        "name": name,
        "id": id,
        "engine": "postgresql",
        "version": "16",
        "size_gb": 1,
        "state": "BUILD",
        "endpoint": null,
        "owner_password": "secret",
        "created_at": now,
        "updated_at": now,
        "error": null,
        "created_by": format!("op-{id}"),
    }))
    .expect("a valid database record")
}

/// A pending create operation `id` on `target`, created `offset_s` seconds
/// after a fixed instant.
pub fn operation(id: &str, target: &str, offset_s: i64) -> OperationRecord {
    let at = chrono::DateTime::from_timestamp(1_700_000_000 + offset_s, 0).expect("a valid time");
    serde_json::from_value(serde_json::json!({
        "op": {
            "id": id,
            "kind": "create_database",
            "target": target,
            "state": "pending",
            "steps": [],
            "error": null,
            "created_at": at,
            "updated_at": at,
        },
        "params": {"name": target},
        "outputs": {},
    }))
    .expect("a valid operation record")
}

/// Generates one `#[tokio::test]` per contract check. `$make` is an async
/// function returning `(Arc<dyn StateStore>, guard)`, where the guard keeps
/// whatever backs the store alive for the test.
#[macro_export]
macro_rules! state_store_contract_tests {
    ($make:path) => {
        $crate::state_store_contract_tests!(@each $make;
            reserving_a_taken_name_fails_and_records_nothing,
            of_concurrent_creates_of_one_name_exactly_one_wins,
            concurrent_updates_are_never_lost,
            updating_an_absent_database_writes_nothing,
            remove_only_removes_the_matching_incarnation,
            databases_are_listed_by_name_and_put_replaces,
            operations_are_listed_oldest_first_and_put_replaces,
            address_allocation_is_idempotent_and_exclusive,
            concurrent_allocations_never_share_an_address,
            sql_output_round_trips,
        );
    };
    (@each $make:path; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $check() {
                let (store, _guard) = $make().await;
                $crate::contract::$check(store).await;
            }
        )*
    };
}

pub async fn reserving_a_taken_name_fails_and_records_nothing(store: Arc<dyn StateStore>) {
    store
        .insert_database_with_operation(&record("orders", "id-1"), &operation("op-1", "orders", 0))
        .await
        .expect("the first create reserves the name");
    let err = store
        .insert_database_with_operation(&record("orders", "id-2"), &operation("op-2", "orders", 1))
        .await
        .expect_err("the name is taken");
    assert!(matches!(err, StoreError::AlreadyExists(_)), "{err:?}");
    assert_eq!(
        store.get_database("orders").await.unwrap().unwrap().id,
        "id-1"
    );
    assert!(store.get_operation("op-2").await.unwrap().is_none());
    assert_eq!(
        store
            .get_operation("op-1")
            .await
            .unwrap()
            .unwrap()
            .op
            .target,
        "orders"
    );
}

pub async fn of_concurrent_creates_of_one_name_exactly_one_wins(store: Arc<dyn StateStore>) {
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .insert_database_with_operation(
                        &record("shared", &format!("id-{i}")),
                        &operation(&format!("op-{i}"), "shared", i),
                    )
                    .await
            })
        })
        .collect();
    let mut wins = Vec::new();
    for (i, t) in tasks.into_iter().enumerate() {
        match t.await.unwrap() {
            Ok(()) => wins.push(i),
            Err(StoreError::AlreadyExists(_)) => {}
            Err(other) => panic!("create {i} failed otherwise: {other}"),
        }
    }
    assert_eq!(wins.len(), 1, "winners: {wins:?}");
    let winner = wins[0];
    assert_eq!(
        store.get_database("shared").await.unwrap().unwrap().id,
        format!("id-{winner}")
    );
    let ops = store.list_operations().await.unwrap();
    assert_eq!(ops.len(), 1, "the losers recorded no operation");
    assert_eq!(ops[0].op.id, format!("op-{winner}"));
}

pub async fn concurrent_updates_are_never_lost(store: Arc<dyn StateStore>) {
    store
        .put_database(&record("counter", "id-1"))
        .await
        .unwrap();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .update_database("counter", &mut |db| db.size_gb += 1)
                    .await
            })
        })
        .collect();
    for t in tasks {
        let updated = t.await.unwrap().expect("every update is applied");
        assert!(updated.is_some());
    }
    let db = store.get_database("counter").await.unwrap().unwrap();
    assert_eq!(db.size_gb, 21, "1 + 20 increments");
    assert_eq!(db.id, "id-1");
}

pub async fn updating_an_absent_database_writes_nothing(store: Arc<dyn StateStore>) {
    let mut called = false;
    let out = store
        .update_database("ghost", &mut |db| {
            called = true;
            db.size_gb = 9
        })
        .await
        .unwrap();
    assert!(out.is_none());
    assert!(!called, "nothing to apply the change to");
    assert!(store.get_database("ghost").await.unwrap().is_none());
    assert!(store.list_databases().await.unwrap().is_empty());
}

pub async fn remove_only_removes_the_matching_incarnation(store: Arc<dyn StateStore>) {
    store.put_database(&record("a", "new")).await.unwrap();
    store.remove_database("a", "old").await.unwrap();
    assert_eq!(store.get_database("a").await.unwrap().unwrap().id, "new");
    store.remove_database("a", "new").await.unwrap();
    assert!(store.get_database("a").await.unwrap().is_none());
    // Removing what is absent succeeds.
    store.remove_database("a", "new").await.unwrap();
    // The name can be reserved again once removed.
    store
        .insert_database_with_operation(&record("a", "newer"), &operation("op-3", "a", 3))
        .await
        .unwrap();
    assert_eq!(store.get_database("a").await.unwrap().unwrap().id, "newer");
}

pub async fn databases_are_listed_by_name_and_put_replaces(store: Arc<dyn StateStore>) {
    for name in ["b", "c", "a"] {
        store
            .put_database(&record(name, &format!("id-{name}")))
            .await
            .unwrap();
    }
    let mut b = record("b", "id-b");
    b.size_gb = 5;
    store.put_database(&b).await.unwrap();
    let names: Vec<String> = store
        .list_databases()
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.name)
        .collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!(store.get_database("b").await.unwrap().unwrap().size_gb, 5);
}

pub async fn operations_are_listed_oldest_first_and_put_replaces(store: Arc<dyn StateStore>) {
    store
        .put_operation(&operation("z-late", "a", 30))
        .await
        .unwrap();
    store
        .put_operation(&operation("y-early", "a", 10))
        .await
        .unwrap();
    store
        .put_operation(&operation("b-tie", "a", 20))
        .await
        .unwrap();
    store
        .put_operation(&operation("a-tie", "a", 20))
        .await
        .unwrap();
    let mut done = operation("y-early", "a", 10);
    done.op.error = Some("it broke".into());
    store.put_operation(&done).await.unwrap();
    let ids: Vec<String> = store
        .list_operations()
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.op.id)
        .collect();
    assert_eq!(ids, ["y-early", "a-tie", "b-tie", "z-late"]);
    assert_eq!(
        store
            .get_operation("y-early")
            .await
            .unwrap()
            .unwrap()
            .op
            .error
            .as_deref(),
        Some("it broke")
    );
    assert!(store.get_operation("nope").await.unwrap().is_none());
}

pub async fn address_allocation_is_idempotent_and_exclusive(store: Arc<dyn StateStore>) {
    let pool = || ["10.0.0.1:5432".to_string(), "10.0.0.2:5432".to_string()].into_iter();
    let a = store.allocate_address("x", &mut pool()).await.unwrap();
    assert_eq!(a, "10.0.0.1:5432", "the first free candidate");
    assert_eq!(store.allocate_address("x", &mut pool()).await.unwrap(), a);
    let b = store.allocate_address("y", &mut pool()).await.unwrap();
    assert_ne!(a, b);
    let err = store.allocate_address("z", &mut pool()).await.unwrap_err();
    assert!(matches!(err, StoreError::PoolExhausted(2)), "{err:?}");
    assert_eq!(store.address_of("x").await.unwrap(), Some(a.clone()));
    assert_eq!(store.address_of("z").await.unwrap(), None);
    assert_eq!(
        store.list_addresses().await.unwrap(),
        [(a.clone(), "x".to_string()), (b.clone(), "y".to_string())]
    );
    store.release_address("x").await.unwrap();
    store.release_address("x").await.unwrap();
    assert_eq!(store.address_of("x").await.unwrap(), None);
    assert_eq!(store.allocate_address("z", &mut pool()).await.unwrap(), a);
}

pub async fn concurrent_allocations_never_share_an_address(store: Arc<dyn StateStore>) {
    let pool: Vec<String> = (1..=6).map(|i| format!("10.0.1.{i}:5432")).collect();
    // Ten owners race for six addresses; "o0" asks twice at once.
    let owners: Vec<String> = (0..10)
        .map(|i| format!("o{i}"))
        .chain(["o0".to_string()])
        .collect();
    let tasks: Vec<_> = owners
        .iter()
        .map(|owner| {
            let store = store.clone();
            let owner = owner.clone();
            let pool = pool.clone();
            tokio::spawn(async move {
                let r = store.allocate_address(&owner, &mut pool.into_iter()).await;
                (owner, r)
            })
        })
        .collect();
    let mut granted = Vec::new();
    let mut exhausted = 0;
    for t in tasks {
        match t.await.unwrap() {
            (owner, Ok(addr)) => granted.push((addr, owner)),
            (_, Err(StoreError::PoolExhausted(_))) => exhausted += 1,
            (owner, Err(other)) => panic!("{owner}: {other}"),
        }
    }
    let listed = store.list_addresses().await.unwrap();
    assert_eq!(listed.len(), 6, "every address is handed out: {listed:?}");
    let addrs: HashSet<&String> = listed.iter().map(|(a, _)| a).collect();
    let holders: HashSet<&String> = listed.iter().map(|(_, o)| o).collect();
    assert_eq!(addrs.len(), 6, "no address twice: {listed:?}");
    assert_eq!(holders.len(), 6, "no owner holds two: {listed:?}");
    for (addr, owner) in &granted {
        assert!(
            listed.contains(&(addr.clone(), owner.clone())),
            "{owner} was told {addr} but the store says {listed:?}"
        );
    }
    assert_eq!(granted.len() + exhausted, owners.len());
}

pub async fn sql_output_round_trips(store: Arc<dyn StateStore>) {
    assert!(store.get_sql_output("job-1").await.unwrap().is_none());
    let out = SqlOutput {
        statements: vec![StatementResult {
            columns: vec!["n".into()],
            rows: vec![vec![Some("1".into())], vec![None]],
            rows_affected: 2,
        }],
        notices: vec![],
        error: None,
        truncated: false,
    };
    store.put_sql_output("job-1", &out).await.unwrap();
    let back = store.get_sql_output("job-1").await.unwrap().unwrap();
    assert_eq!(
        serde_json::to_value(&back).unwrap(),
        serde_json::to_value(&out).unwrap()
    );
}
