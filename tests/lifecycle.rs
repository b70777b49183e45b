//! A platform engineer's path through dbaas on one machine: create a real
//! PostgreSQL database, use it with the credentials handed out, run SQL
//! through the API, delete it, and find nothing left behind.

mod common;

use std::time::Duration;

use common::{connect, workflow, Agent};
use dbaas_model::*;

#[tokio::test(flavor = "multi_thread")]
async fn create_use_run_sql_delete_leaves_nothing() {
    let mut agent = Agent::start();
    let c = agent.client.clone();

    let op = agent.create("orders").await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    assert!(op
        .steps
        .iter()
        .all(|s| s.state == StepState::Done && s.started_at.is_some() && s.finished_at.is_some()));

    let db = c.get_database("orders").await.unwrap();
    assert_eq!(db.state, DatabaseState::Active);
    assert_eq!(db.engine, "postgresql");
    assert_eq!(db.size_gb, 1);
    agent.wait_status("orders", OperatingStatus::Online).await;

    let (conn, pg) = workflow::use_it_as_its_owner(&agent, "orders").await;

    // The superuser is not reachable over the network.
    let su = format!("postgres://postgres@{}:{}/postgres", conn.host, conn.port);
    let err = tokio_postgres::connect(&su, tokio_postgres::NoTls)
        .await
        .err()
        .expect("superuser refused");
    let msg = err
        .as_db_error()
        .map(|e| e.message().to_string())
        .unwrap_or_else(|| err.to_string());
    assert!(msg.contains("pg_hba.conf rejects"), "{msg}");

    drop(pg);
    let del = c.delete_database("orders").await.unwrap();
    let del = agent.wait(&del.id).await;
    assert_eq!(del.state, OperationState::Succeeded, "{del:?}");
    let gone = c.get_database("orders").await.expect_err("deleted");
    assert!(
        matches!(gone, dbaas_client::ClientError::Api(ref e) if e.code == ErrorCode::NotFound),
        "{gone}"
    );
    agent.assert_no_orphans().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_concurrent_creates_of_one_name_one_wins_the_other_gets_409() {
    let agent = Agent::start();
    let req = CreateDatabaseRequest {
        name: "twin".into(),
        engine: None,
        version: None,
        size_gb: Some(1),
    };
    let (a, b) = tokio::join!(
        agent.client.create_database(&req),
        agent.client.create_database(&req)
    );
    let (ok, err) = match (a, b) {
        (Ok(op), Err(e)) | (Err(e), Ok(op)) => (op, e),
        other => panic!("expected one winner: {other:?}"),
    };
    match err {
        dbaas_client::ClientError::Api(e) => {
            assert_eq!(e.code, ErrorCode::Conflict);
            assert!(e.message.contains("already exists"), "{}", e.message);
        }
        other => panic!("{other}"),
    }
    assert_eq!(agent.wait(&ok.id).await.state, OperationState::Succeeded);
    assert_eq!(agent.client.list_databases().await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn engines_survive_an_agent_restart_and_a_dead_engine_is_restarted() {
    let mut agent = Agent::start();
    assert_eq!(
        agent.create("keeper").await.state,
        OperationState::Succeeded
    );
    agent.wait_status("keeper", OperatingStatus::Online).await;
    let pid_of = |agent: &Agent| -> i32 {
        let dir = agent.data_dir().join("volumes");
        let vol = std::fs::read_dir(&dir)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        std::fs::read_to_string(vol.join("pgdata/postmaster.pid"))
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let before = pid_of(&agent);

    // kill -9 of the agent: the engine keeps running and is adopted.
    agent.restart(None);
    agent.wait_status("keeper", OperatingStatus::Online).await;
    assert_eq!(
        pid_of(&agent),
        before,
        "the engine was restarted instead of adopted"
    );
    let postmasters = agent
        .engine_processes()
        .into_iter()
        .filter(|(_, cmd)| cmd.contains("pgdata"))
        .count();
    assert_eq!(postmasters, 1, "{:?}", agent.engine_processes());

    // kill -9 of the engine: the supervisor restarts it.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(before),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let now = std::fs::read_dir(agent.data_dir().join("volumes"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let pid = std::fs::read_to_string(now.join("pgdata/postmaster.pid"))
            .ok()
            .and_then(|s| s.lines().next().and_then(|l| l.trim().parse::<i32>().ok()));
        if matches!(pid, Some(p) if p != before) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the engine was not restarted: {}",
            agent.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The new engine replays its WAL before it takes connections (the
    // status seen last may still be the one from before the kill): a
    // client retries while the server says it is starting up (57P03).
    let conn = agent.client.connection("keeper").await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let pg = loop {
        match tokio_postgres::connect(&conn.uri, tokio_postgres::NoTls).await {
            Ok((client, c)) => {
                tokio::spawn(async move {
                    let _ = c.await;
                });
                break client;
            }
            Err(e)
                if e.code() == Some(&tokio_postgres::error::SqlState::CANNOT_CONNECT_NOW)
                    && std::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!(
                "the restarted engine refused a connection: {e} {:?}",
                e.as_db_error().map(|d| d.message())
            ),
        }
    };
    agent.wait_status("keeper", OperatingStatus::Online).await;
    assert_eq!(
        pg.query_one("SELECT 1", &[])
            .await
            .unwrap()
            .get::<_, i32>(0),
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_create_whose_address_is_taken_fails_clearly_and_leaves_nothing() {
    let mut agent = Agent::start();
    // Something else already listens where the first database would.
    let first = agent.pool.replace(".0/24", ".1");
    let _squatter = std::net::TcpListener::bind((first.as_str(), 5432)).unwrap();
    let op = agent.create("blocked").await;
    assert_eq!(op.state, OperationState::Unwound, "{op:?}");
    let error = op.error.unwrap_or_default();
    assert!(error.contains("start_engine"), "{error}");
    assert!(error.contains("failed to start"), "{error}");
    assert!(error.contains("Address already in use"), "{error}");
    agent.assert_no_orphans().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sql_output_is_cut_at_the_configured_size_and_says_so() {
    let agent = Agent::start_configured(None, "sql {\n  max_output_bytes = 2000\n}\n");
    assert_eq!(agent.create("big").await.state, OperationState::Succeeded);
    let op = agent
        .client
        .submit_sql(
            "big",
            &SqlJobRequest {
                sql: "SELECT g, repeat('x', 50) FROM generate_series(1, 10000) g".into(),
                database: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(agent.wait(&op.id).await.state, OperationState::Succeeded);
    let out = agent
        .client
        .get_sql_job(&op.id)
        .await
        .unwrap()
        .output
        .unwrap();
    assert!(out.truncated);
    let kept = &out.statements[0];
    assert!(
        !kept.rows.is_empty() && kept.rows.len() < 100,
        "{} rows kept",
        kept.rows.len()
    );
    // The count still tells how many rows the statement returned.
    assert_eq!(kept.rows_affected, 10000);
    assert_eq!(kept.rows[0][0].as_deref(), Some("1"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_agent_serves_its_health_and_the_checked_in_openapi_document() {
    let agent = Agent::start();
    assert_eq!(agent.client.health().await.unwrap().status, "ok");
    let served = reqwest::get(format!("{}/v1/openapi.json", agent.address))
        .await
        .unwrap();
    assert_eq!(served.headers()["content-type"], "application/json");
    let served = served.text().await.unwrap();
    let checked_in = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/openapi/dbaas-v1.json"
    ))
    .unwrap();
    assert_eq!(served, checked_in);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_grows_its_volume_while_it_keeps_serving() {
    let mut agent = Agent::start();
    let c = agent.client.clone();
    let op = agent.create("grows").await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    let pg = connect(&c.connection("grows").await.unwrap()).await;
    pg.batch_execute("CREATE TABLE t (v int); INSERT INTO t VALUES (7);")
        .await
        .unwrap();

    let resize = c.resize_database("grows", 3).await.unwrap();
    assert_eq!(resize.kind, OperationKind::ResizeDatabase);
    let done = agent.wait(&resize.id).await;
    assert_eq!(done.state, OperationState::Succeeded, "{done:?}");
    let steps: Vec<&str> = done.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(steps, ["extend_volume", "record_size"]);
    let db = c.get_database("grows").await.unwrap();
    assert_eq!(db.size_gb, 3);
    assert_eq!(db.state, DatabaseState::Active);
    // The volume itself says so.
    let vols = agent.dir_entries("volumes");
    assert_eq!(vols.len(), 1, "{vols:?}");
    let meta: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            agent
                .data_dir()
                .join("volumes")
                .join(&vols[0])
                .join(".dbaas-volume.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(meta["size_gb"], 3);
    // The session opened before the resize still works: no restart.
    let v: i32 = pg.query_one("SELECT v FROM t", &[]).await.unwrap().get(0);
    assert_eq!(v, 7);

    // Volumes only grow; bad sizes are refused and change nothing.
    for (size, says) in [
        (3, "only grow"),
        (2, "only grow"),
        (0, "from 1"),
        (99999, "to 16384"),
    ] {
        let e = c.resize_database("grows", size).await.expect_err("refused");
        match e {
            dbaas_client::ClientError::Api(ref a) => {
                assert_eq!(a.code, ErrorCode::InvalidRequest, "{e}");
                assert_eq!(a.field.as_deref(), Some("size_gb"), "{e}");
                assert!(a.message.contains(says), "{e}");
            }
            other => panic!("{other}"),
        }
    }
    let e = c
        .resize_database("nothere", 5)
        .await
        .expect_err("no such database");
    assert!(
        matches!(e, dbaas_client::ClientError::Api(ref a) if a.code == ErrorCode::NotFound),
        "{e}"
    );
    assert_eq!(c.get_database("grows").await.unwrap().size_gb, 3);
    let ops = c.list_operations(Some("grows")).await.unwrap();
    assert_eq!(
        ops.iter()
            .filter(|o| o.kind == OperationKind::ResizeDatabase)
            .count(),
        1,
        "refused resizes record no operation"
    );

    drop(pg);
    let del = c.delete_database("grows").await.unwrap();
    assert_eq!(agent.wait(&del.id).await.state, OperationState::Succeeded);
    agent.assert_no_orphans().await;
}
