//! The HOT templates in `heat/` against a real Heat, Nova (fake virt
//! driver, three compute hosts), Placement, Cinder and Neutron on
//! 127.0.0.1, started once per test binary by `scripts/openstack up
//! --with-heat` (or already running: set `DBAAS_TEST_HEAT_CLOUDS_YAML` to
//! its clouds.yaml). Heat validates both templates; each creates a real
//! stack through `Orchestration::ensure_stack` as the plain member user
//! (servers booted from blank volumes, since there is no Glance, and
//! holding their Neutron ports: the test Neutron binds ports to any host),
//! its outputs are read, and it deletes leaving nothing behind. A cloud
//! that cannot start fails every test with the script's own message;
//! nothing is skipped.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dbaas_openstack::heat::StackCreateRequest;
use dbaas_openstack::{ApiRequest, CloudConfig, Orchestration, Session, WaitOptions};
use dbaas_placement::HostPair;
use reqwest::Method;
use serde_json::{json, Value};

/// The flavor `scripts/openstack up --with-heat` makes.
const FLAVOR: &str = "dbaas.tiny";

struct Cloud {
    clouds_yaml: PathBuf,
    external_network: String,
}

/// Starts the cloud the first time it is asked for; every test waits on
/// the same start (OnceLock is the lock).
fn cloud() -> &'static Cloud {
    static CLOUD: OnceLock<Result<Cloud, String>> = OnceLock::new();
    let r = CLOUD.get_or_init(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
        if let Ok(p) = std::env::var("DBAAS_TEST_HEAT_CLOUDS_YAML") {
            let clouds_yaml = PathBuf::from(p);
            return Ok(Cloud {
                external_network: external_network(&clouds_yaml),
                clouds_yaml,
            });
        }
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/openstack");
        let state = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("openstack-heat-cloud");
        let t = std::time::Instant::now();
        let out = Command::new("bash")
            .arg(&script)
            .arg("up")
            .arg("--with-heat")
            .arg(&state)
            // The cloud goes down when this test binary exits, however.
            .env("OPENSTACK_OWNER_PID", std::process::id().to_string())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
        if !out.status.success() {
            return Err(format!(
                "`{} up --with-heat {}` failed ({}):\n{}{}",
                script.display(),
                state.display(),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        eprintln!("cloud with Heat up in {:?}", t.elapsed());
        let clouds_yaml = state.join("clouds.yaml");
        Ok(Cloud {
            external_network: external_network(&clouds_yaml),
            clouds_yaml,
        })
    });
    match r {
        Ok(c) => c,
        Err(e) => panic!("the test OpenStack with Heat could not start: {e}"),
    }
}

/// Our script records the external network beside the clouds; another
/// cloud names it in DBAAS_TEST_EXTERNAL_NETWORK.
fn external_network(clouds_yaml: &std::path::Path) -> String {
    if let Ok(n) = std::env::var("DBAAS_TEST_EXTERNAL_NETWORK") {
        return n;
    }
    let text = std::fs::read_to_string(clouds_yaml)
        .unwrap_or_else(|e| panic!("{}: {e}", clouds_yaml.display()));
    let doc: Value = serde_norway::from_str(&text).unwrap();
    doc["dbaas"]["external_network"]
        .as_str()
        .unwrap_or("dbaas-ext")
        .to_string()
}

fn session(cloud_name: &str) -> Arc<Session> {
    let cfg = CloudConfig::from_clouds_yaml(&cloud().clouds_yaml, None, cloud_name)
        .unwrap_or_else(|e| panic!("{e}"));
    Arc::new(Session::new(cfg).unwrap())
}

/// The plain member user: what dbaas runs as.
fn member() -> Arc<Session> {
    session(&std::env::var("DBAAS_TEST_CLOUD").unwrap_or_else(|_| "dbaas".into()))
}

/// An administrator: only to see which compute host a server landed on.
fn admin() -> Arc<Session> {
    session(&std::env::var("DBAAS_TEST_ADMIN_CLOUD").unwrap_or_else(|_| "dbaas-admin".into()))
}

fn heat(s: Arc<Session>) -> Orchestration {
    Orchestration::new(s).with_wait(WaitOptions {
        timeout: Duration::from_secs(300),
        interval: Duration::from_millis(500),
        max_interval: Duration::from_secs(2),
    })
}

/// A stack or resource name no other run uses (lower-case: the templates'
/// name parameters allow nothing else).
fn unique(prefix: &str) -> String {
    let n = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{}-{}", std::process::id(), n % 1_000_000_000)
}

fn template(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../heat")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

async fn get(s: &Session, service: &str, path: String) -> Option<Value> {
    match s
        .send_json::<Value>(&ApiRequest::new(service, Method::GET, path))
        .await
    {
        Ok(v) => Some(v),
        Err(e) if e.is_not_found() => None,
        Err(e) => panic!("{e}"),
    }
}

async fn post(s: &Session, service: &str, path: &str, body: Value) -> Value {
    s.send_json(&ApiRequest::new(service, Method::POST, path).json(&body))
        .await
        .unwrap_or_else(|e| panic!("POST {service} {path}: {e}"))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

/// The compute hosts the servers run on, as an administrator sees them,
/// checking each is ACTIVE, belongs to the group and boots from a volume
/// now in use.
async fn servers_hosts(server_ids: &[String], group_id: &str) -> Vec<String> {
    let (m, a) = (member(), admin());
    let group = get(&m, "compute", format!("/os-server-groups/{group_id}"))
        .await
        .expect("the server group exists");
    assert_eq!(group["server_group"]["policies"], json!(["anti-affinity"]));
    let members: BTreeSet<String> = strings(&group["server_group"]["members"])
        .into_iter()
        .collect();
    let mut hosts = Vec::new();
    for id in server_ids {
        assert!(members.contains(id), "{id} is in the group {members:?}");
        let s = get(&a, "compute", format!("/servers/{id}"))
            .await
            .expect("the server exists");
        let s = &s["server"];
        assert_eq!(s["status"], "ACTIVE", "{s}");
        let attached = s["os-extended-volumes:volumes_attached"]
            .as_array()
            .unwrap();
        assert_eq!(attached.len(), 1, "one boot volume: {s}");
        let vol = get(
            &m,
            "volumev3",
            format!("/volumes/{}", attached[0]["id"].as_str().unwrap()),
        )
        .await
        .expect("the boot volume exists");
        assert_eq!(vol["volume"]["status"], "in-use");
        assert_eq!(vol["volume"]["attachments"][0]["server_id"], id.as_str());
        hosts.push(s["OS-EXT-SRV-ATTR:host"].as_str().unwrap().to_string());
    }
    hosts
}

/// What the member can still see of a deleted stack's resources.
async fn leftovers(
    prefix: &str,
    server_ids: &[String],
    group_id: &str,
    network_id: &str,
) -> Vec<String> {
    let m = member();
    let mut left = Vec::new();
    let vols = get(&m, "volumev3", "/volumes".into()).await.unwrap();
    for v in vols["volumes"].as_array().unwrap() {
        if v["name"].as_str().unwrap_or("").starts_with(prefix) {
            left.push(format!("volume {}", v["name"]));
        }
    }
    for id in server_ids {
        if let Some(s) = get(&m, "compute", format!("/servers/{id}")).await {
            left.push(format!("server {id}: {}", s["server"]["status"]));
        }
    }
    if get(&m, "compute", format!("/os-server-groups/{group_id}"))
        .await
        .is_some()
    {
        left.push(format!("server group {group_id}"));
    }
    let ports = get(
        &m,
        "network",
        format!("/v2.0/ports?network_id={network_id}"),
    )
    .await
    .unwrap();
    for p in ports["ports"].as_array().unwrap() {
        left.push(format!("port {} {}", p["name"], p["device_owner"]));
    }
    let groups = get(&m, "network", "/v2.0/security-groups".into())
        .await
        .unwrap();
    for g in groups["security_groups"].as_array().unwrap() {
        if g["name"].as_str().unwrap_or("").starts_with(prefix) {
            left.push(format!("security group {}", g["name"]));
        }
    }
    left
}

#[tokio::test]
async fn heat_validates_both_templates() {
    let heat = heat(member());
    for (name, params) in [
        (
            "host-pair.yaml",
            &[
                "pair_id",
                "flavor",
                "network",
                "allowed_cidrs",
                "control_plane_cidr",
                "capacity_databases",
            ][..],
        ),
        (
            "control-plane.yaml",
            &[
                "name_prefix",
                "flavor",
                "external_network",
                "admin_cidr",
                "host_pairs_cidr",
            ][..],
        ),
    ] {
        let t = template(name);
        let answer = heat
            .validate_template(&t)
            .await
            .unwrap_or_else(|e| panic!("Heat refuses {name}: {e}"));
        assert_eq!(answer["Description"], t["description"], "{name}");
        let found = answer["Parameters"].as_object().unwrap();
        // Every parameter of the template, with its description.
        assert_eq!(
            found.len(),
            t["parameters"].as_object().unwrap().len(),
            "{name}: {answer}"
        );
        for p in params {
            assert_eq!(
                found[*p]["Description"], t["parameters"][*p]["description"],
                "{name}: {p}"
            );
        }
    }

    // Heat's own reason comes back for a template it refuses.
    let mut broken = template("host-pair.yaml");
    broken["resources"]["node_a"]["properties"]["scheduler_hints"]["group"] =
        json!({"get_resource": "no_such_group"});
    let e = heat.validate_template(&broken).await.unwrap_err();
    assert_eq!(e.status(), Some(400), "{e}");
    assert!(e.to_string().contains("no_such_group"), "{e}");
}

#[tokio::test]
async fn host_pair_stack_created_read_and_deleted() {
    let m = member();
    let heat = heat(m.clone());
    let pair = unique("pair");
    // The pair's private network, made by the operator beforehand.
    let net = post(
        &m,
        "network",
        "/v2.0/networks",
        json!({"network": {"name": format!("{pair}-net")}}),
    )
    .await;
    let net_id = net["network"]["id"].as_str().unwrap().to_string();
    post(
        &m,
        "network",
        "/v2.0/subnets",
        json!({"subnet": {"network_id": net_id, "cidr": "10.31.0.0/24", "ip_version": 4}}),
    )
    .await;

    let params: BTreeMap<String, Value> = [
        ("pair_id", json!(pair)),
        ("flavor", json!(FLAVOR)),
        ("network", json!(net_id)),
        ("boot_volume_size", json!(1)),
        ("allowed_cidrs", json!("198.51.100.0/24,203.0.113.0/24")),
        ("control_plane_cidr", json!("10.20.0.0/24")),
        ("capacity_databases", json!(4)),
        ("capacity_vcpus", json!(6)),
        ("capacity_memory_mib", json!(12288)),
        ("capacity_volumes", json!(8)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let request = StackCreateRequest {
        stack_name: pair.clone(),
        template: Some(template("host-pair.yaml")),
        parameters: Some(params),
        timeout_mins: Some(5),
        ..Default::default()
    };
    let stack = heat
        .ensure_stack(&request)
        .await
        .unwrap_or_else(|e| panic!("host-pair stack: {e}"));
    assert_eq!(stack.stack_status, "CREATE_COMPLETE");

    // A second create of the same pair (a retried step) finds this stack.
    let again = heat.ensure_stack(&request).await.unwrap();
    assert_eq!(again.id, stack.id);

    // dbaas reads the outputs into its host pool.
    let outputs = Orchestration::outputs(&stack).unwrap();
    let hp = HostPair::from_heat_outputs(&outputs).unwrap();
    assert_eq!(hp.id, pair);
    assert_eq!(hp.zone, "nova");
    let names = [format!("{pair}-a"), format!("{pair}-b")];
    assert_eq!(hp.nomad_nodes, names);
    assert_eq!(hp.pacemaker_nodes, names);
    assert_eq!(
        (
            hp.capacity.databases,
            hp.capacity.vcpus,
            hp.capacity.memory_mib,
            hp.capacity.volumes
        ),
        (4, 6, 12288, 8)
    );

    // The VIP port is on the pair's network with the engine's security
    // group; each node's port lets it answer for the VIP's address.
    let vip = get(&m, "network", format!("/v2.0/ports/{}", hp.vip_port_id))
        .await
        .expect("the VIP port exists");
    let vip = &vip["port"];
    assert_eq!(vip["network_id"], net_id.as_str());
    let vip_ip = vip["fixed_ips"][0]["ip_address"].as_str().unwrap();
    assert_eq!(outputs["vip_address"], vip_ip);
    let engine_sg = get(
        &m,
        "network",
        format!("/v2.0/security-groups?name={pair}-engine"),
    )
    .await
    .unwrap();
    let engine_sg = &engine_sg["security_groups"][0];
    assert_eq!(vip["security_groups"], json!([engine_sg["id"]]));
    let mut engine_sources: Vec<&str> = engine_sg["security_group_rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["direction"] == "ingress")
        .map(|r| {
            assert_eq!(r["port_range_min"], 5432);
            assert_eq!(r["port_range_max"], 5432);
            r["remote_ip_prefix"].as_str().unwrap()
        })
        .collect();
    engine_sources.sort();
    assert_eq!(engine_sources, ["198.51.100.0/24", "203.0.113.0/24"]);
    let node_ips = strings(&outputs["node_addresses"]);
    for (node, ip) in names.iter().zip(&node_ips) {
        let ports = get(&m, "network", format!("/v2.0/ports?name={node}"))
            .await
            .unwrap();
        let port = &ports["ports"][0];
        assert_eq!(port["fixed_ips"][0]["ip_address"], ip.as_str());
        assert_eq!(port["allowed_address_pairs"][0]["ip_address"], vip_ip);
        assert_eq!(port["security_groups"].as_array().unwrap().len(), 3);
        // The port is the server's (Nova bound it to the compute host).
        assert_eq!(port["device_owner"], "compute:nova", "{port}");
    }

    // Two servers, anti-affine: on two different compute hosts.
    let server_ids = strings(&outputs["server_ids"]);
    let group_id = outputs["server_group_id"].as_str().unwrap().to_string();
    let hosts = servers_hosts(&server_ids, &group_id).await;
    assert_eq!(hosts.len(), 2);
    assert_ne!(hosts[0], hosts[1], "anti-affinity: {hosts:?}");

    heat.delete_stack(&pair).await.unwrap();
    assert!(heat.find_stack(&pair).await.unwrap().is_none());
    let left = leftovers(&pair, &server_ids, &group_id, &net_id).await;
    assert!(left.is_empty(), "left after the stack's delete: {left:?}");
    // Deleting again is done already.
    heat.delete_stack(&pair).await.unwrap();
    m.send(&ApiRequest::new(
        "network",
        Method::DELETE,
        format!("/v2.0/networks/{net_id}"),
    ))
    .await
    .unwrap();
}

#[tokio::test]
async fn control_plane_stack_created_read_and_deleted() {
    let m = member();
    let heat = heat(m.clone());
    let prefix = unique("cp");
    let params: BTreeMap<String, Value> = [
        ("name_prefix", json!(prefix)),
        ("flavor", json!(FLAVOR)),
        ("external_network", json!(cloud().external_network)),
        ("boot_volume_size", json!(1)),
        ("network_cidr", json!("10.21.0.0/24")),
        ("admin_cidr", json!("192.0.2.0/24")),
        ("host_pairs_cidr", json!("10.31.0.0/24")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let stack = heat
        .ensure_stack(&StackCreateRequest {
            stack_name: prefix.clone(),
            template: Some(template("control-plane.yaml")),
            parameters: Some(params),
            timeout_mins: Some(5),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("control-plane stack: {e}"));
    assert_eq!(stack.stack_status, "CREATE_COMPLETE");
    let outputs = Orchestration::outputs(&stack).unwrap();

    assert_eq!(
        strings(&outputs["server_names"]),
        [1, 2, 3].map(|i| format!("{prefix}-{i}"))
    );
    assert_eq!(outputs["network_cidr"], "10.21.0.0/24");
    let net_id = outputs["network_id"].as_str().unwrap().to_string();
    for ip in strings(&outputs["server_addresses"]) {
        assert!(ip.starts_with("10.21.0."), "{ip}");
    }
    // The router's gateway is on the external network.
    let router_id = outputs["router_id"].as_str().unwrap().to_string();
    let router = get(&m, "network", format!("/v2.0/routers/{router_id}"))
        .await
        .expect("the router exists");
    let ext = get(
        &m,
        "network",
        format!("/v2.0/networks?name={}", cloud().external_network),
    )
    .await
    .unwrap();
    assert_eq!(
        router["router"]["external_gateway_info"]["network_id"],
        ext["networks"][0]["id"]
    );

    // Three servers, anti-affine: on three different compute hosts.
    let server_ids = strings(&outputs["server_ids"]);
    let group_id = outputs["server_group_id"].as_str().unwrap().to_string();
    let hosts: BTreeSet<String> = servers_hosts(&server_ids, &group_id)
        .await
        .into_iter()
        .collect();
    assert_eq!(hosts.len(), 3, "anti-affinity: {hosts:?}");

    heat.delete_stack(&prefix).await.unwrap();
    assert!(heat.find_stack(&prefix).await.unwrap().is_none());
    let mut left = leftovers(&prefix, &server_ids, &group_id, &net_id).await;
    if get(&m, "network", format!("/v2.0/networks/{net_id}"))
        .await
        .is_some()
    {
        left.push(format!("network {net_id}"));
    }
    if get(&m, "network", format!("/v2.0/routers/{router_id}"))
        .await
        .is_some()
    {
        left.push(format!("router {router_id}"));
    }
    assert!(left.is_empty(), "left after the stack's delete: {left:?}");
}
