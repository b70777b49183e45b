//! Crash safety: the agent is killed with SIGKILL (a failpoint makes it
//! kill itself) before and after each step of create and delete in turn,
//! and at an undo; after a restart, every operation completes or unwinds
//! and nothing is left without an owner.

mod common;

use std::time::Duration;

use common::{connect, Agent};
use dbaas_model::*;

fn request(name: &str) -> CreateDatabaseRequest {
    CreateDatabaseRequest {
        name: name.into(),
        engine: None,
        version: None,
        size_gb: Some(1),
    }
}

/// Create crashes at `point`; after a restart the create completes, the
/// database works, and deleting it leaves nothing.
async fn crash_during_create(point: &str) {
    let mut agent = Agent::start_with(Some(&format!("create_database.{point}=crash")));
    // The agent may die before its answer is sent: the operation is then
    // found after the restart, as a user would with `dbaas op list`.
    let _ = agent.client.create_database(&request("phoenix")).await;
    let done = agent
        .resume_after_crash(
            Duration::from_secs(60),
            OperationKind::CreateDatabase,
            "phoenix",
        )
        .await;
    assert_eq!(
        done.state,
        OperationState::Succeeded,
        "after a crash at {point}: {done:?}"
    );

    let db = agent.client.get_database("phoenix").await.unwrap();
    assert_eq!(db.state, DatabaseState::Active);
    let conn = agent.client.connection("phoenix").await.unwrap();
    let pg = connect(&conn).await;
    assert_eq!(
        pg.query_one("SELECT 41 + 1", &[])
            .await
            .unwrap()
            .get::<_, i32>(0),
        42
    );
    drop(pg);
    // Exactly one engine runs for it: the resumed step did not start a second.
    let postmasters = agent
        .engine_processes()
        .into_iter()
        .filter(|(_, c)| c.contains("pgdata"))
        .count();
    assert_eq!(postmasters, 1, "{:?}", agent.engine_processes());
    assert_eq!(
        agent.dir_entries("volumes").len(),
        1,
        "one volume: {:?}",
        agent.dir_entries("volumes")
    );

    let del = agent.client.delete_database("phoenix").await.unwrap();
    assert_eq!(agent.wait(&del.id).await.state, OperationState::Succeeded);
    agent.assert_no_orphans().await;
}

/// Delete crashes at `point`; after a restart the delete completes and
/// nothing is left.
async fn crash_during_delete(point: &str) {
    let mut agent = Agent::start();
    assert_eq!(
        agent.create("doomed").await.state,
        OperationState::Succeeded
    );
    agent.restart(Some(&format!("delete_database.{point}=crash")));
    let _ = agent.client.delete_database("doomed").await;
    let done = agent
        .resume_after_crash(
            Duration::from_secs(60),
            OperationKind::DeleteDatabase,
            "doomed",
        )
        .await;
    assert_eq!(
        done.state,
        OperationState::Succeeded,
        "after a crash at {point}: {done:?}"
    );
    agent.assert_no_orphans().await;
}

/// Resize crashes at `point`; after a restart the resize completes: the
/// volume and the record both say the new size, and the data is there.
async fn crash_during_resize(point: &str) {
    let mut agent = Agent::start();
    assert_eq!(
        agent.create("grower").await.state,
        OperationState::Succeeded
    );
    let conn = agent.client.connection("grower").await.unwrap();
    connect(&conn)
        .await
        .batch_execute("CREATE TABLE kept (v int); INSERT INTO kept VALUES (5);")
        .await
        .unwrap();
    agent.restart(Some(&format!("resize_database.{point}=crash")));
    let _ = agent.client.resize_database("grower", 4).await;
    let done = agent
        .resume_after_crash(
            Duration::from_secs(60),
            OperationKind::ResizeDatabase,
            "grower",
        )
        .await;
    assert_eq!(
        done.state,
        OperationState::Succeeded,
        "after a crash at {point}: {done:?}"
    );
    let db = agent.client.get_database("grower").await.unwrap();
    assert_eq!((db.state, db.size_gb), (DatabaseState::Active, 4));
    let vols = agent.dir_entries("volumes");
    assert_eq!(vols.len(), 1, "{vols:?}");
    let meta = std::fs::read_to_string(
        agent
            .data_dir()
            .join("volumes")
            .join(&vols[0])
            .join(".dbaas-volume.json"),
    )
    .unwrap();
    assert!(meta.contains("\"size_gb\":4"), "{meta}");
    let pg = connect(&conn).await;
    let v: i32 = pg
        .query_one("SELECT v FROM kept", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(v, 5);
    drop(pg);
    let del = agent.client.delete_database("grower").await.unwrap();
    assert_eq!(agent.wait(&del.id).await.state, OperationState::Succeeded);
    agent.assert_no_orphans().await;
}

macro_rules! resize_crashes {
    ($($test:ident => $point:literal,)*) => {$(
        #[tokio::test(flavor = "multi_thread")]
        async fn $test() {
            crash_during_resize($point).await
        }
    )*};
}

resize_crashes! {
    resize_killed_before_extend_volume => "extend_volume.before",
    resize_killed_after_extend_volume => "extend_volume.after",
    resize_killed_before_record_size => "record_size.before",
    resize_killed_after_record_size => "record_size.after",
}

macro_rules! create_crashes {
    ($($test:ident => $point:literal,)*) => {$(
        #[tokio::test(flavor = "multi_thread")]
        async fn $test() {
            crash_during_create($point).await
        }
    )*};
}

macro_rules! delete_crashes {
    ($($test:ident => $point:literal,)*) => {$(
        #[tokio::test(flavor = "multi_thread")]
        async fn $test() {
            crash_during_delete($point).await
        }
    )*};
}

create_crashes! {
    create_killed_before_reserve_name => "reserve_name.before",
    create_killed_after_reserve_name => "reserve_name.after",
    create_killed_before_place_database => "place_database.before",
    create_killed_after_place_database => "place_database.after",
    create_killed_before_allocate_address => "allocate_address.before",
    create_killed_after_allocate_address => "allocate_address.after",
    create_killed_before_create_volume => "create_volume.before",
    create_killed_after_create_volume => "create_volume.after",
    create_killed_before_ensure_ha_group => "ensure_ha_group.before",
    create_killed_after_ensure_ha_group => "ensure_ha_group.after",
    create_killed_before_initialize_engine => "initialize_engine.before",
    create_killed_after_initialize_engine => "initialize_engine.after",
    create_killed_before_start_engine => "start_engine.before",
    create_killed_after_start_engine => "start_engine.after",
    create_killed_before_create_owner => "create_owner.before",
    create_killed_after_create_owner => "create_owner.after",
    create_killed_before_publish_connection => "publish_connection.before",
    create_killed_after_publish_connection => "publish_connection.after",
    create_killed_before_mark_active => "mark_active.before",
    create_killed_after_mark_active => "mark_active.after",
}

delete_crashes! {
    delete_killed_before_mark_deleting => "mark_deleting.before",
    delete_killed_after_mark_deleting => "mark_deleting.after",
    delete_killed_before_unpublish_connection => "unpublish_connection.before",
    delete_killed_after_unpublish_connection => "unpublish_connection.after",
    delete_killed_before_stop_engine => "stop_engine.before",
    delete_killed_after_stop_engine => "stop_engine.after",
    delete_killed_before_destroy_engine => "destroy_engine.before",
    delete_killed_after_destroy_engine => "destroy_engine.after",
    delete_killed_before_remove_ha_group => "remove_ha_group.before",
    delete_killed_after_remove_ha_group => "remove_ha_group.after",
    delete_killed_before_delete_volume => "delete_volume.before",
    delete_killed_after_delete_volume => "delete_volume.after",
    delete_killed_before_release_address => "release_address.before",
    delete_killed_after_release_address => "release_address.after",
    delete_killed_before_forget_database => "forget_database.before",
    delete_killed_after_forget_database => "forget_database.after",
}

/// A create fails at start_engine and the agent is killed while undoing
/// the volume: after a restart the unwind finishes and nothing is left.
#[tokio::test(flavor = "multi_thread")]
async fn a_crash_during_an_unwind_finishes_the_unwind_after_restart() {
    let mut agent = Agent::start_with(Some(
        "create_database.start_engine.error=error,create_database.create_volume.undo=crash",
    ));
    let _ = agent.client.create_database(&request("unlucky")).await;
    let done = agent
        .resume_after_crash(
            Duration::from_secs(60),
            OperationKind::CreateDatabase,
            "unlucky",
        )
        .await;
    assert_eq!(done.state, OperationState::Unwound, "{done:?}");
    assert!(
        done.error
            .as_deref()
            .unwrap_or_default()
            .contains("start_engine"),
        "{done:?}"
    );
    // The name is free again.
    assert_eq!(
        agent.create("unlucky").await.state,
        OperationState::Succeeded
    );
    let del = agent.client.delete_database("unlucky").await.unwrap();
    agent.wait(&del.id).await;
    agent.assert_no_orphans().await;
}

/// A SQL job interrupted by a crash is not run a second time: its outcome
/// is reported unknown.
#[tokio::test(flavor = "multi_thread")]
async fn a_sql_job_interrupted_by_a_crash_is_not_run_twice() {
    let mut agent = Agent::start();
    assert_eq!(
        agent.create("ledger").await.state,
        OperationState::Succeeded
    );
    let conn = agent.client.connection("ledger").await.unwrap();
    connect(&conn)
        .await
        .batch_execute("CREATE TABLE runs (n int)")
        .await
        .unwrap();
    agent.restart(Some("run_sql.execute.before=crash"));
    let _ = agent
        .client
        .submit_sql(
            "ledger",
            &SqlJobRequest {
                sql: "INSERT INTO runs VALUES (1)".into(),
                database: None,
            },
        )
        .await;
    let done = agent
        .resume_after_crash(Duration::from_secs(60), OperationKind::RunSql, "ledger")
        .await;
    assert_eq!(done.state, OperationState::Failed);
    assert!(
        done.error
            .as_deref()
            .unwrap_or_default()
            .contains("outcome is unknown"),
        "{done:?}"
    );
    let n: i64 = connect(&conn)
        .await
        .query_one("SELECT count(*) FROM runs", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0, "the interrupted job must not have been re-run");
}
