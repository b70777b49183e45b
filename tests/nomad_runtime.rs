//! The create, SQL and delete workflows with `drivers.runtime = "nomad"`:
//! a real agent whose engines are Nomad service jobs, against a Nomad
//! simulator (`NOMAD_ADDR`) that runs each engine job's task as a real
//! local PostgreSQL on the node of the database's host pair. The same
//! assertions as the local mode's (`lifecycle.rs`), plus what Nomad holds:
//! the job registered with check-and-set, pinned to the pair the
//! placement recorded, and purged by the delete.
//!
//! The agent administers the engine (owner, SQL jobs) with a direct
//! connection over TCP to the endpoint (`admin_access`), not through
//! Nomad batch jobs; as that connection carries no password yet, the
//! simulated engine trusts loopback, and the local mode's checks that
//! the superuser is refused over the network do not apply.

mod common;
mod nomad_sim;

use std::sync::Arc;

use common::{workflow, Agent};
use dbaas_model::*;
use nomad_sim::{PostgresTasks, Sim, SimNode, SimOptions};

fn pair(id: &str, zone: &str, nodes: [&str; 2]) -> String {
    format!(
        "host_pair \"{id}\" {{\n  zone = \"{zone}\"\n  nomad_nodes = [\"{}\", \"{}\"]\n  vip_port_id = \"vip-{id}\"\n  capacity {{\n    databases  = 4\n    vcpus      = 8\n    memory_mib = 16384\n    volumes    = 8\n  }}\n}}\n",
        nodes[0], nodes[1]
    )
}

/// A port nothing listens on now, on any address: the engines listen on
/// every address, as a published container port does.
fn free_port() -> u16 {
    std::net::TcpListener::bind("0.0.0.0:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An agent with the Nomad runtime, the pairs `pair-1` (nodes db-1a and
/// db-1b) and `pair-2` (full), and Nomad at `sim`.
fn nomad_agent(sim: &Sim, port: u16) -> Agent {
    let extra = format!(
        "drivers {{\n  runtime = \"nomad\"\n}}\nnomad {{\n  images = {{ \"15\" = \"postgres:15\" }}\n}}\nengine \"postgresql\" {{\n  default_version = \"15\"\n  version \"15\" {{\n    bin_dir = \"/usr/lib/postgresql/15/bin\"\n  }}\n}}\n{}{}",
        pair("pair-1", "az1", ["db-1a", "db-1b"]),
        pair("pair-2", "az2", ["db-2a", "db-2b"]),
    );
    Agent::start_in_environment(
        &format!("port = {port}"),
        &extra,
        &[
            ("NOMAD_ADDR", sim.address.as_str()),
            ("NOMAD_TOKEN", ""),
            ("NOMAD_NAMESPACE", ""),
            ("NOMAD_REGION", ""),
            ("NOMAD_CACERT", ""),
        ],
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn create_use_run_sql_delete_through_nomad_leaves_nothing() {
    let tasks = Arc::new(PostgresTasks::default());
    // The other pair's nodes come first: only the job's constraint keeps
    // its engine off them.
    let sim = Sim::start_with(SimOptions {
        nodes: vec![
            SimNode::new("db-2a", &[("dbaas_pair", "pair-2")]),
            SimNode::new("db-2b", &[("dbaas_pair", "pair-2")]),
            SimNode::new("db-1a", &[("dbaas_pair", "pair-1")]),
            SimNode::new("db-1b", &[("dbaas_pair", "pair-1")]),
        ],
        driver: Some(tasks.clone()),
    })
    .await;
    tasks.attach(sim.clone());
    let port = free_port();
    let mut agent = nomad_agent(&sim, port);
    let c = agent.client.clone();

    let op = agent.create("orders").await;
    assert_eq!(
        op.state,
        OperationState::Succeeded,
        "{op:?}\n{}",
        agent.log()
    );
    assert!(op
        .steps
        .iter()
        .all(|s| s.state == StepState::Done && s.started_at.is_some() && s.finished_at.is_some()));

    let db = c.get_database("orders").await.unwrap();
    assert_eq!(db.state, DatabaseState::Active);
    assert_eq!(db.engine, "postgresql");
    assert_eq!(db.size_gb, 1);
    let placed = db.host_pair.clone().expect("placed on a pair");
    agent.wait_status("orders", OperatingStatus::Online).await;

    // Nomad holds one engine job, registered with check-and-set, pinned
    // to the pair the placement recorded, running on a node of that pair.
    let jobs = sim.job_ids();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let job_id = jobs[0].clone();
    assert!(job_id.starts_with("dbaas-orders-"), "{job_id}");
    let job = sim.job(&job_id).unwrap();
    let constraint = job.constraints.clone().unwrap_or_default();
    assert!(
        constraint
            .iter()
            .any(|c| c.l_target.as_deref() == Some("${meta.dbaas_pair}")
                && c.r_target.as_deref() == Some(placed.as_str())),
        "{constraint:?}"
    );
    let registers = sim.registers();
    assert!(!registers.is_empty());
    assert!(
        registers
            .iter()
            .all(|r| r.enforce_index && r.accepted_at.is_some()),
        "{registers:?}"
    );
    let started = tasks.started();
    assert_eq!(started.len(), 1, "{started:?}");
    let pair_nodes = if placed == "pair-1" {
        ["db-1a", "db-1b"]
    } else {
        ["db-2a", "db-2b"]
    };
    assert!(
        pair_nodes.contains(&started[0].node.as_str()),
        "{started:?}"
    );
    assert_eq!(started[0].port, port);
    // The engine's data is on the database's volume.
    assert!(
        started[0]
            .pgdata
            .starts_with(agent.data_dir().join("volumes")),
        "{started:?}"
    );
    let allocs = sim.allocations(&job_id);
    assert_eq!(
        allocs
            .iter()
            .filter(|a| a.client_status == "running")
            .count(),
        1,
        "{allocs:?}"
    );

    let (conn, pg) = workflow::use_it_as_its_owner(&agent, "orders").await;
    assert_eq!(conn.port, port);
    // The engine asks every network client for its password: the
    // superuser without the one in its variable, or the owner with a
    // wrong one, is refused.
    for uri in [
        format!("postgres://postgres@{}:{}/postgres", conn.host, conn.port),
        format!(
            "postgres://orders:wrong-password@{}:{}/orders",
            conn.host, conn.port
        ),
    ] {
        let err = tokio_postgres::connect(&uri, tokio_postgres::NoTls)
            .await
            .err()
            .unwrap_or_else(|| panic!("{uri} was let in"));
        // The server asked for a password: either the client had none to
        // give ("password missing") or the server refused the one given.
        let msg = err
            .as_db_error()
            .map(|e| e.message().to_string())
            .unwrap_or_else(|| format!("{err:?}"));
        assert!(
            msg.contains("password authentication failed") || msg.contains("password missing"),
            "{uri}: {msg}"
        );
    }
    // Nor is the superuser's, which the job reads from its variable.
    let var = sim
        .variable(&format!("nomad/jobs/{job_id}"))
        .expect("the engine job's variable");
    let su_password = var.items["superuser_password"].clone();
    assert!(su_password.len() >= 24);
    assert!(!agent.log().contains(&su_password));
    let job_text = serde_json::to_string(&job).unwrap();
    assert!(
        !job_text.contains(&su_password),
        "the job holds the password"
    );

    drop(pg);
    let del = c.delete_database("orders").await.unwrap();
    let del = agent.wait(&del.id).await;
    assert_eq!(del.state, OperationState::Succeeded, "{del:?}");
    let gone = c.get_database("orders").await.expect_err("deleted");
    assert!(
        matches!(gone, dbaas_client::ClientError::Api(ref e) if e.code == ErrorCode::NotFound),
        "{gone}"
    );

    // Nomad: the job was stopped, waited for and purged; nothing runs.
    assert_eq!(sim.job_ids(), Vec::<String>::new(), "jobs remain");
    let active: Vec<_> = sim
        .all_allocations()
        .into_iter()
        .filter(|a| {
            a.desired_status == "run" || matches!(a.client_status.as_str(), "pending" | "running")
        })
        .collect();
    assert!(active.is_empty(), "allocations remain: {active:?}");
    assert_eq!(tasks.running(), Vec::<String>::new(), "engine tasks remain");
    agent.assert_no_orphans().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_whose_nomad_is_misconfigured_refuses_to_start_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let hcl = format!(
        "data_dir = \"{}\"\nlisten = \"127.0.0.1:0\"\ndrivers {{\n  runtime = \"nomad\"\n}}\nnomad {{\n  address = \"ftp://nomad\"\n}}\n{}",
        dir.path().display(),
        pair("pair-1", "az1", ["db-1a", "db-1b"]),
    );
    let config = dir.path().join("agent.hcl");
    std::fs::write(&config, hcl).unwrap();
    let out = std::process::Command::new(common::BIN)
        .arg("agent")
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("nomad.address") && stderr.contains("https://"),
        "{stderr}"
    );
    // Nothing was made.
    assert!(!dir.path().join("state.redb").exists());
}
