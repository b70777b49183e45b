//! NomadRuntime against the Nomad simulator (`sim/`): the engine's life,
//! check-and-set conflicts, transient server errors and failed deployments.

mod sim;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use dbaas_drivers::{EngineRuntime, EngineSpec, EngineStatus, Volume};
use dbaas_model::Endpoint;
use dbaas_nomad::{NomadClient, NomadConfig, RetryPolicy};
use dbaas_nomad_runtime::{NomadRuntime, NomadRuntimeConfig, SinglePair, SPEC_HASH_META};
use sim::Sim;

const INSTANCE: &str = "dbaas-orders-1a2b3c4d";

fn spec(version: &str) -> EngineSpec {
    EngineSpec {
        instance: INSTANCE.into(),
        engine: "postgresql".into(),
        version: version.into(),
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
        start_timeout: Duration::from_secs(20),
        stop_timeout: Duration::from_secs(20),
        poll_wait: Duration::from_secs(2),
        ..NomadRuntimeConfig::default()
    };
    let rt = NomadRuntime::new(client, cfg, Arc::new(SinglePair("pair-1".into()))).unwrap();
    (sim, rt)
}

#[tokio::test]
async fn the_engine_job_lives_created_kept_stopped_restarted_destroyed() {
    let (sim, rt) = setup().await;
    let s = spec("16");
    assert_eq!(rt.status(&s).await.unwrap(), EngineStatus::Absent);

    rt.ensure_initialized(&s).await.unwrap();
    rt.ensure_running(&s).await.unwrap();
    assert_eq!(rt.status(&s).await.unwrap(), EngineStatus::Running);
    let allocs = sim.allocations(INSTANCE);
    assert_eq!(allocs.len(), 1, "{allocs:?}");
    assert_eq!(allocs[0].client_status, "running");
    let job = sim.job(INSTANCE).unwrap();
    assert_eq!(job.version, Some(0));
    let first_index = job.job_modify_index;
    // Registered with check-and-set "must not exist yet".
    let registers = sim.registers();
    assert_eq!(registers.len(), 1);
    assert!(registers[0].enforce_index);
    assert_eq!(registers[0].job_modify_index, Some(0));

    // The same job again: not submitted, no new version.
    rt.ensure_running(&s).await.unwrap();
    let job = sim.job(INSTANCE).unwrap();
    assert_eq!(job.job_modify_index, first_index);
    assert_eq!(job.version, Some(0));
    assert_eq!(sim.registers().len(), 1);
    assert_eq!(sim.allocations(INSTANCE).len(), 1);

    rt.stop(&s).await.unwrap();
    assert_eq!(rt.status(&s).await.unwrap(), EngineStatus::Stopped);
    assert!(
        sim.job(INSTANCE).unwrap().stop == Some(true),
        "stopped, not purged"
    );
    assert!(sim
        .allocations(INSTANCE)
        .iter()
        .all(|a| a.client_status == "complete"));
    rt.stop(&s).await.unwrap();

    rt.ensure_running(&s).await.unwrap();
    assert_eq!(rt.status(&s).await.unwrap(), EngineStatus::Running);
    let registers = sim.registers();
    assert_eq!(registers.len(), 2);
    // Registered against the index it read (the stop's).
    assert!(registers[1].enforce_index);
    assert_ne!(registers[1].job_modify_index, Some(0));

    rt.destroy(&s).await.unwrap();
    assert_eq!(rt.status(&s).await.unwrap(), EngineStatus::Absent);
    assert!(sim.job(INSTANCE).is_none());
    rt.destroy(&s).await.unwrap();
    rt.stop(&s).await.unwrap();
}

#[tokio::test]
async fn a_change_registers_a_new_version_against_the_index_read() {
    let (sim, rt) = setup().await;
    rt.ensure_running(&spec("16")).await.unwrap();
    let before = sim.job(INSTANCE).unwrap();
    rt.ensure_running(&spec("17")).await.unwrap();
    let after = sim.job(INSTANCE).unwrap();
    assert_eq!(after.version, Some(1));
    let registers = sim.registers();
    assert_eq!(registers[1].job_modify_index, before.job_modify_index);
    let image = &after.task_groups.as_ref().unwrap()[0]
        .tasks
        .as_ref()
        .unwrap()[0]
        .config
        .as_ref()
        .unwrap()["image"];
    assert_eq!(image, "postgres:17");
    let running: Vec<_> = sim
        .allocations(INSTANCE)
        .into_iter()
        .filter(|a| a.client_status == "running")
        .collect();
    assert_eq!(running.len(), 1);
    assert_eq!(running[0].job_version, 1);
}

#[tokio::test]
async fn a_check_and_set_conflict_is_retried_by_reading_again() {
    let (sim, rt) = setup().await;
    rt.ensure_running(&spec("16")).await.unwrap();
    let read_index = sim.job(INSTANCE).unwrap().job_modify_index;

    // Someone else registers their own version between our read and our
    // register.
    let mut theirs = rt.render(&spec("15")).await.unwrap();
    theirs
        .meta
        .as_mut()
        .unwrap()
        .insert(SPEC_HASH_META.into(), "someone-else".into());
    sim.change_before_next_register(theirs);

    rt.ensure_running(&spec("17")).await.unwrap();
    let registers = sim.registers();
    // 1: create; 2: the other writer (not recorded); ours refused at the
    // index we read, then accepted at the index re-read, which is the
    // other writer's.
    assert_eq!(registers.len(), 3, "{registers:?}");
    assert_eq!(registers[1].job_modify_index, read_index);
    assert_eq!(registers[1].accepted_at, None);
    assert!(registers[2].job_modify_index > registers[1].job_modify_index);
    assert!(registers[2].accepted_at.is_some());
    let job = sim.job(INSTANCE).unwrap();
    assert_eq!(
        job.meta.as_ref().unwrap()[SPEC_HASH_META],
        rt.render(&spec("17")).await.unwrap().meta.unwrap()[SPEC_HASH_META]
    );
    assert_eq!(job.version, Some(2));
}

#[tokio::test]
async fn when_the_other_writer_registered_the_same_job_nothing_is_overwritten() {
    let (sim, rt) = setup().await;
    rt.ensure_running(&spec("16")).await.unwrap();
    // The other writer registers exactly what we are about to.
    sim.change_before_next_register(rt.render(&spec("17")).await.unwrap());
    rt.ensure_running(&spec("17")).await.unwrap();
    let registers = sim.registers();
    // Ours was refused; on re-reading, the job was already ours: no
    // second registration.
    assert_eq!(registers.len(), 2, "{registers:?}");
    assert_eq!(registers[1].accepted_at, None);
    assert_eq!(sim.job(INSTANCE).unwrap().version, Some(1));
    assert_eq!(rt.status(&spec("17")).await.unwrap(), EngineStatus::Running);
}

#[tokio::test]
async fn transient_server_errors_are_survived() {
    let (sim, rt) = setup().await;
    sim.fail_next(3);
    rt.ensure_running(&spec("16")).await.unwrap();
    assert_eq!(rt.status(&spec("16")).await.unwrap(), EngineStatus::Running);

    sim.set_delay(Duration::from_millis(20));
    sim.fail_next(2);
    rt.stop(&spec("16")).await.unwrap();
    sim.fail_next(2);
    assert_eq!(rt.status(&spec("16")).await.unwrap(), EngineStatus::Stopped);
}

#[tokio::test]
async fn persistent_server_errors_are_reported() {
    let (sim, rt) = setup().await;
    sim.fail_next(100);
    let e = rt
        .ensure_running(&spec("16"))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("500") && e.contains("No cluster leader"), "{e}");
}

#[tokio::test]
async fn a_failed_deployment_names_the_tasks_message() {
    let (sim, rt) = setup().await;
    sim.fail_next_deployment("Failed to pull `postgres:16`: manifest unknown");
    let e = rt
        .ensure_running(&spec("16"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("Failed to pull `postgres:16`: manifest unknown"),
        "{e}"
    );
    assert!(e.contains("did not deploy"), "{e}");
    let alloc = &sim.allocations(INSTANCE)[0];
    assert!(e.contains(&alloc.id[..8]), "{e}");
    assert_eq!(rt.status(&spec("16")).await.unwrap(), EngineStatus::Stopped);

    // Once the cause is fixed and the task runs, the failed deployment no
    // longer stands in the way, and the job is not submitted again.
    sim.recover_allocations(INSTANCE);
    rt.ensure_running(&spec("16")).await.unwrap();
    assert_eq!(rt.status(&spec("16")).await.unwrap(), EngineStatus::Running);
    assert_eq!(sim.registers().len(), 1);
}

#[tokio::test]
async fn admin_access_is_the_endpoint_and_versions_are_the_images() {
    let (sim, rt) = setup().await;
    rt.ensure_running(&spec("16")).await.unwrap();
    let access = rt.admin_access(&spec("16")).await.unwrap();
    assert_eq!((access.host.as_str(), access.port), ("203.0.113.10", 5432));
    assert_eq!(access.superuser, "postgres");
    // The superuser's password is the one the engine's task reads from the
    // job's variable, and no log line shows it.
    let var = sim
        .variable(&format!("nomad/jobs/{INSTANCE}"))
        .expect("the engine job's variable");
    assert_eq!(
        access.password.as_deref(),
        Some(var.items["superuser_password"].as_str())
    );
    assert!(!format!("{access:?}").contains(&var.items["superuser_password"]));
    // Asked again: the same password (made once, never replaced).
    let again = rt.admin_access(&spec("16")).await.unwrap();
    assert_eq!(again.password, access.password);
    assert_eq!(rt.versions("postgresql"), ["15", "16", "17"]);
    assert!(rt.versions("mongodb").is_empty());
}

#[tokio::test]
async fn the_simulators_blocking_queries_answer_on_change_or_after_the_wait() {
    let (sim, rt) = setup().await;
    rt.ensure_running(&spec("16")).await.unwrap();
    let client = NomadClient::new(NomadConfig {
        address: sim.address.clone(),
        ..NomadConfig::default()
    })
    .unwrap();
    let now = client
        .job_allocations(INSTANCE, &dbaas_nomad::QueryOptions::now())
        .await
        .unwrap();
    let index = now.meta.last_index;
    // Nothing changes: the answer comes after the wait, at the same index.
    let quiet = client
        .job_allocations(
            INSTANCE,
            &dbaas_nomad::QueryOptions::blocking(index, Duration::from_millis(200)),
        )
        .await
        .unwrap();
    assert_eq!(quiet.meta.last_index, index);
    // A stop changes the allocation: a long wait ends early, past the index.
    let waiting = tokio::spawn({
        let client = client.clone();
        async move {
            client
                .job_allocations(
                    INSTANCE,
                    &dbaas_nomad::QueryOptions::blocking(index, Duration::from_secs(60)),
                )
                .await
                .unwrap()
        }
    });
    client.stop_job(INSTANCE, false).await.unwrap();
    let changed = tokio::time::timeout(Duration::from_secs(30), waiting)
        .await
        .expect("the blocking query answered on the change")
        .unwrap();
    assert!(changed.meta.last_index > index);
    assert_eq!(changed.value[0].desired_status, "stop");
}

#[tokio::test]
async fn the_superuser_password_is_in_the_jobs_variable_never_in_the_job() {
    let (sim, rt) = setup().await;
    rt.ensure_running(&spec("16")).await.unwrap();
    let variable = sim
        .variable(&format!("nomad/jobs/{INSTANCE}"))
        .expect("the engine job's variable");
    let password = variable.items["superuser_password"].clone();
    assert!(password.len() >= 32, "a strong password");
    assert_eq!(
        rt.superuser_password(&spec("16")).await.unwrap().as_deref(),
        Some(password.as_str())
    );
    // The registered job names the variable, never the password.
    let job = serde_json::to_string(&sim.job(INSTANCE).unwrap()).unwrap();
    assert!(!job.contains(&password));
    assert!(job.contains("nomadVar"), "the template reads the variable");

    // Made once: a new version of the job keeps it.
    rt.ensure_running(&spec("17")).await.unwrap();
    let again = sim.variable(&format!("nomad/jobs/{INSTANCE}")).unwrap();
    assert_eq!(again.items["superuser_password"], password);
    assert_eq!(again.modify_index, variable.modify_index);
}
