//! Admin SQL through Nomad against the simulator (`sim/`): output of a
//! run, failures with stderr and the exit code, at most one run per SQL
//! job across retries and crashes, and server errors ridden out.

mod sim;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use dbaas_drivers::{EngineSpec, Volume};
use dbaas_model::Endpoint;
use dbaas_nomad::{NomadClient, NomadConfig, RetryPolicy};
use dbaas_nomad_runtime::{
    dispatch_token, AdminSqlRequest, NomadRuntime, NomadRuntimeConfig, SinglePair,
};
use sim::{Sim, SqlResult};

const INSTANCE: &str = "dbaas-orders-1a2b3c4d";
const PARENT: &str = "dbaas-orders-1a2b3c4d-admin-sql";

fn spec() -> EngineSpec {
    EngineSpec {
        instance: INSTANCE.into(),
        engine: "postgresql".into(),
        version: "16".into(),
        volume: Volume {
            name: INSTANCE.into(),
            id: "vol-1".into(),
            size_gb: 10,
            mount_path: PathBuf::from(format!("/srv/dbaas/{INSTANCE}")),
        },
        endpoint: Endpoint {
            host: "203.0.113.10".into(),
            port: 5432,
        },
    }
}

fn request(job_id: &str) -> AdminSqlRequest {
    AdminSqlRequest {
        job_id: job_id.into(),
        database: "orders".into(),
        sql_object: format!("sql/{INSTANCE}/{job_id}.sql"),
    }
}

async fn setup() -> (Sim, NomadRuntime) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = Sim::start().await;
    let client = NomadClient::new(NomadConfig {
        address: sim.address.clone(),
        retry: RetryPolicy {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(50),
        },
        request_timeout: Duration::from_secs(10),
        ..NomadConfig::default()
    })
    .unwrap();
    let cfg = NomadRuntimeConfig {
        object_store_url: "https://swift.example/v1/AUTH_dbaas/dbaas-sql".into(),
        sql_timeout: Duration::from_secs(20),
        poll_wait: Duration::from_secs(2),
        ..NomadRuntimeConfig::default()
    };
    let rt = NomadRuntime::new(client, cfg, Arc::new(SinglePair("pair-1".into()))).unwrap();
    (sim, rt)
}

#[tokio::test]
async fn a_successful_run_returns_its_output() {
    let (sim, rt) = setup().await;
    let req = request("0f3c6a2e-1");
    sim.set_sql_result(
        &req.sql_object,
        SqlResult {
            fetch_exit: 0,
            exit_code: 0,
            stdout: "CREATE TABLE\nINSERT 0 3\n".into(),
            stderr: "NOTICE:  relation \"t\" already exists, skipping\n".into(),
        },
    );
    let out = rt.dispatch_admin_sql(&spec(), &req).await.unwrap();
    assert!(out.succeeded(), "{out:?}");
    assert_eq!(out.exit_code, 0);
    assert_eq!(out.stdout, "CREATE TABLE\nINSERT 0 3\n");
    assert!(out.stderr.contains("NOTICE"), "{out:?}");

    // The parameterized job was registered once, with check-and-set, and
    // the child carries what the task needs in its meta, and the token.
    let parent = sim.job(PARENT).unwrap();
    assert!(parent.parameterized_job.is_some());
    assert_eq!(sim.registers().len(), 1);
    assert!(sim.registers()[0].enforce_index);
    let children = sim.children(PARENT);
    assert_eq!(children.len(), 1);
    let child = &children[0];
    assert_eq!(child.id.as_deref(), Some(out.dispatched_job_id.as_str()));
    assert!(out
        .dispatched_job_id
        .starts_with(&format!("{PARENT}/dispatch-0f3c6a2e-1-")));
    let meta = child.meta.as_ref().unwrap();
    assert_eq!(meta["database"], "orders");
    assert_eq!(meta["job_id"], "0f3c6a2e-1");
    assert_eq!(meta["sql_object"], req.sql_object);
    assert_eq!(
        child.dispatch_idempotency_token.as_deref(),
        Some(dispatch_token("0f3c6a2e-1").as_str())
    );

    // A second SQL job: a second child, the parent not registered again.
    let out2 = rt
        .dispatch_admin_sql(&spec(), &request("0f3c6a2e-2"))
        .await
        .unwrap();
    assert_ne!(out2.dispatched_job_id, out.dispatched_job_id);
    assert_eq!(sim.children(PARENT).len(), 2);
    assert_eq!(sim.registers().len(), 1);
}

#[tokio::test]
async fn a_failed_run_returns_stderr_and_the_exit_code() {
    let (sim, rt) = setup().await;
    let req = request("bad-sql");
    sim.set_sql_result(
        &req.sql_object,
        SqlResult {
            fetch_exit: 0,
            exit_code: 3,
            stdout: "BEGIN\n".into(),
            stderr: "psql:/alloc/data/job.sql:2: ERROR:  relation \"nope\" does not exist\n".into(),
        },
    );
    let out = rt.dispatch_admin_sql(&spec(), &req).await.unwrap();
    assert!(!out.succeeded());
    assert_eq!(out.task, "sql");
    assert_eq!(out.exit_code, 3);
    assert!(
        out.stderr.contains("relation \"nope\" does not exist"),
        "{out:?}"
    );
    assert_eq!(out.stdout, "BEGIN\n");
}

#[tokio::test]
async fn a_sql_object_that_cannot_be_fetched_is_reported_as_the_fetch_tasks_failure() {
    let (sim, rt) = setup().await;
    let req = request("missing-object");
    sim.set_sql_result(
        &req.sql_object,
        SqlResult {
            fetch_exit: 22,
            exit_code: 0,
            stdout: String::new(),
            stderr: "curl: (22) The requested URL returned error: 404\n".into(),
        },
    );
    let out = rt.dispatch_admin_sql(&spec(), &req).await.unwrap();
    assert!(!out.succeeded());
    assert_eq!(out.task, "fetch");
    assert_eq!(out.exit_code, 22);
    assert!(out.stderr.contains("404"), "{out:?}");
}

#[tokio::test]
async fn a_lost_dispatch_answer_is_followed_by_a_lookup_not_a_second_dispatch() {
    let (sim, rt) = setup().await;
    let req = request("lost-1");
    // The dispatch reaches Nomad, its answer is lost; by the time the
    // runtime tries again the child may already have ended, when Nomad's
    // token alone would dispatch a second one.
    sim.lose_dispatch_answers(1);
    let out = rt.dispatch_admin_sql(&spec(), &req).await.unwrap();
    assert!(out.succeeded(), "{out:?}");
    let dispatches = sim.dispatches();
    assert_eq!(dispatches.len(), 1, "{dispatches:?}");
    assert_eq!(sim.children(PARENT).len(), 1);
    assert_eq!(out.dispatched_job_id, dispatches[0].child);
}

#[tokio::test]
async fn a_retry_after_a_crash_follows_the_existing_child_instead_of_running_again() {
    let (sim, rt) = setup().await;
    let req = request("crash-1");
    // Every answer is lost: to dbaas the step failed, as if it crashed
    // right after sending the dispatch.
    sim.lose_dispatch_answers(100);
    let first = rt.dispatch_admin_sql(&spec(), &req).await;
    // Either the lookup found the child (and followed it) or the step
    // failed; never a second child.
    assert_eq!(sim.dispatches().iter().filter(|d| d.created).count(), 1);
    sim.lose_dispatch_answers(0);

    // The resumed step runs after the child has finished (dead), when
    // Nomad's token alone would dispatch again: the runtime finds the
    // child itself and reports its run.
    let child = sim.children(PARENT)[0].id.clone().unwrap();
    tokio::time::timeout(Duration::from_secs(10), async {
        while sim.job(&child).unwrap().status.as_deref() != Some("dead") {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    let before = sim.dispatches().len();
    let out = rt.dispatch_admin_sql(&spec(), &req).await.unwrap();
    assert!(out.succeeded(), "{out:?}");
    assert_eq!(out.dispatched_job_id, child);
    assert_eq!(sim.dispatches().len(), before, "no dispatch on resume");
    assert_eq!(sim.children(PARENT).len(), 1);
    if let Ok(first) = first {
        assert_eq!(first.dispatched_job_id, child);
    }
}

#[tokio::test]
async fn server_errors_are_retried() {
    let (sim, rt) = setup().await;
    sim.fail_next(3);
    let out = rt
        .dispatch_admin_sql(&spec(), &request("flaky"))
        .await
        .unwrap();
    assert!(out.succeeded());
    sim.set_delay(Duration::from_millis(5));
    sim.fail_next(2);
    let out = rt
        .dispatch_admin_sql(&spec(), &request("flaky-2"))
        .await
        .unwrap();
    assert!(out.succeeded());
    assert_eq!(sim.children(PARENT).len(), 2);
    assert_eq!(sim.dispatches().iter().filter(|d| d.created).count(), 2);
}

#[tokio::test]
async fn requests_nomad_would_interpolate_are_refused_before_anything_is_sent() {
    let (sim, rt) = setup().await;
    let mut req = request("x");
    req.database = "${NOMAD_META_x}".into();
    assert!(rt.dispatch_admin_sql(&spec(), &req).await.is_err());
    let mut req = request("x");
    req.sql_object = "../../etc/passwd".into();
    assert!(rt.dispatch_admin_sql(&spec(), &req).await.is_err());
    let req = request("a/b");
    assert!(rt.dispatch_admin_sql(&spec(), &req).await.is_err());
    assert!(sim.registers().is_empty());
    assert!(sim.dispatches().is_empty());
}

#[tokio::test]
async fn the_admin_sql_job_reads_the_engines_password_from_its_own_variable() {
    let (sim, rt) = setup().await;
    rt.dispatch_admin_sql(&spec(), &request("pw-1"))
        .await
        .unwrap();
    let engine = sim.variable(&format!("nomad/jobs/{INSTANCE}")).unwrap();
    let own = sim.variable(&format!("nomad/jobs/{PARENT}")).unwrap();
    let password = &engine.items["superuser_password"];
    assert_eq!(&own.items["superuser_password"], password);
    for job in [sim.job(PARENT).unwrap()]
        .into_iter()
        .chain(sim.children(PARENT))
    {
        let text = serde_json::to_string(&job).unwrap();
        assert!(!text.contains(password.as_str()));
    }
    // A second run writes nothing.
    rt.dispatch_admin_sql(&spec(), &request("pw-2"))
        .await
        .unwrap();
    assert_eq!(
        sim.variable(&format!("nomad/jobs/{PARENT}"))
            .unwrap()
            .modify_index,
        own.modify_index
    );
}
