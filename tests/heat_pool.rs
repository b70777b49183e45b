//! The host pool read from Heat: a real host-pair stack (from
//! `heat/host-pair.yaml`, created by the member user on a real Heat and
//! Nova), named in the agent's `host_pair_stacks`, joins the pool with
//! what its outputs say; databases are placed on it; a stack that does not
//! exist keeps the agent from starting, naming it.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;

use common::cloud::start_openstack_with;
use common::{Agent, BIN};
use dbaas_model::*;
use dbaas_openstack::heat::StackCreateRequest;
use dbaas_openstack::{ApiRequest, Orchestration, Session, WaitOptions};
use serde_json::{json, Value};

async fn post(s: &Session, service: &str, path: &str, body: Value) -> Value {
    s.send_json(&ApiRequest::new(service, reqwest::Method::POST, path).json(&body))
        .await
        .unwrap_or_else(|e| panic!("POST {service} {path}: {e}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn host_pairs_come_from_the_outputs_of_heat_stacks() {
    let dir = tokio::task::spawn_blocking(|| start_openstack_with("heatpool", &["--with-heat"]))
        .await
        .unwrap();
    let clouds = dir.join("clouds.yaml");
    let cloud = dbaas_openstack::CloudConfig::from_clouds_yaml(&clouds, None, "dbaas").unwrap();
    let member = Arc::new(Session::new(cloud).unwrap());

    // The pair's private network, made by the operator beforehand.
    let pair = format!("hp{}", std::process::id());
    let net = post(
        &member,
        "network",
        "/v2.0/networks",
        json!({"network": {"name": format!("{pair}-net")}}),
    )
    .await;
    let net_id = net["network"]["id"].as_str().unwrap().to_string();
    let subnet = post(
        &member,
        "network",
        "/v2.0/subnets",
        json!({"subnet": {"network_id": net_id, "cidr": "10.41.0.0/24", "ip_version": 4}}),
    )
    .await;
    let subnet_id = subnet["subnet"]["id"].as_str().unwrap().to_string();

    let template =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/heat/host-pair.yaml"))
            .unwrap();
    let params: BTreeMap<String, Value> = [
        ("pair_id", json!(pair)),
        ("flavor", json!("dbaas.tiny")),
        ("network", json!(net_id)),
        ("boot_volume_size", json!(1)),
        ("allowed_cidrs", json!("203.0.113.0/24")),
        ("control_plane_cidr", json!("10.20.0.0/24")),
        ("capacity_databases", json!(3)),
        ("capacity_vcpus", json!(8)),
        ("capacity_memory_mib", json!(16384)),
        ("capacity_volumes", json!(6)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let heat = Orchestration::new(member.clone()).with_wait(WaitOptions {
        timeout: std::time::Duration::from_secs(300),
        interval: std::time::Duration::from_millis(500),
        max_interval: std::time::Duration::from_secs(2),
    });
    let stack = heat
        .ensure_stack(&StackCreateRequest {
            stack_name: pair.clone(),
            template: Some(json!(template)),
            parameters: Some(params),
            timeout_mins: Some(5),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("host-pair stack: {e}"));
    assert_eq!(stack.stack_status, "CREATE_COMPLETE");

    let config = |stacks: &str| {
        format!(
            "openstack {{\n  cloud = \"dbaas\"\n  clouds_file = \"{}\"\n}}\nhost_pair_stacks = [{stacks}]\n",
            clouds.display()
        )
    };
    let agent = Agent::start_configured(None, &config(&format!("\"{pair}\"")));
    let pool = agent.client.list_hosts().await.unwrap();
    assert_eq!(pool.len(), 1, "{pool:?}");
    let p = &pool[0];
    assert_eq!(p.id, pair);
    assert_eq!(p.zone, "nova");
    assert_eq!(p.nodes, [format!("{pair}-a"), format!("{pair}-b")]);
    assert_eq!(
        (
            p.capacity.databases,
            p.capacity.vcpus,
            p.capacity.memory_mib,
            p.capacity.volumes
        ),
        (3, 8, 16384, 6)
    );
    // A database goes to it.
    assert_eq!(
        agent.create("placed").await.state,
        OperationState::Succeeded
    );
    let db = agent.client.get_database("placed").await.unwrap();
    assert_eq!(db.host_pair.as_deref(), Some(pair.as_str()));
    assert_eq!(
        agent.client.list_hosts().await.unwrap()[0].used.databases,
        1
    );
    let del = agent.client.delete_database("placed").await.unwrap();
    assert_eq!(agent.wait(&del.id).await.state, OperationState::Succeeded);

    // The stack's outputs also give what fencing and the floating IP agent
    // need: render shows them in the group (render itself reads only the
    // configuration, so the pair is written as a block here).
    let outputs = Orchestration::outputs(&stack).unwrap();
    assert_eq!(outputs["subnet_id"], json!(subnet_id));
    assert_eq!(outputs["server_ids"].as_array().map(Vec::len), Some(2));

    // A stack Heat does not have: the agent refuses to start, naming it.
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("agent.hcl");
    std::fs::write(
        &cfg,
        format!(
            "data_dir = \"{}\"\nlisten = \"127.0.0.1:0\"\n{}",
            tmp.path().join("data").display(),
            config("\"no-such-pair\"")
        ),
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["agent", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no-such-pair") && err.contains("no such stack"),
        "{err}"
    );

    heat.delete_stack(&pair).await.unwrap();
}
