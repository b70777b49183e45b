//! Contract tests: our types against Consul's published sample payloads
//! (copied into `tests/contracts/`, see PROVENANCE.md there).
//!
//! Responses must decode with the values the file holds; requests must
//! survive decode → encode unchanged, compared as JSON values.

use std::collections::BTreeMap;
use std::time::Duration;

use dbaas_consul::*;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

fn sample(name: &str) -> String {
    let path = format!("{}/tests/contracts/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

fn decode<T: DeserializeOwned>(name: &str) -> T {
    serde_json::from_str(&sample(name)).unwrap_or_else(|e| panic!("decoding {name}: {e}"))
}

/// Decodes a request sample into `T`, encodes it again and checks that
/// nothing was lost, added or changed.
fn assert_round_trip<T: DeserializeOwned + Serialize>(name: &str) -> T {
    let original: Value = serde_json::from_str(&sample(name)).unwrap();
    let typed: T = decode(name);
    let encoded = serde_json::to_value(&typed).unwrap();
    assert_eq!(
        encoded, original,
        "{name}: decode → encode changed the payload"
    );
    typed
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn addr(address: &str, port: u16) -> ServiceAddress {
    ServiceAddress {
        address: address.to_string(),
        port,
    }
}

// ------------------------------------------------------------ KV

#[test]
fn kv_read_response_decodes_value_bytes() {
    let pairs: Vec<KvPair> = decode("kv-read-response.json");
    assert_eq!(
        pairs,
        vec![KvPair {
            key: "zip".to_string(),
            create_index: 100,
            modify_index: 200,
            lock_index: 200,
            flags: 0,
            value: Some(b"test".to_vec()),
            session: Some("adf4238a-882b-9ddc-4a9d-5b6758e4159e".to_string()),
        }]
    );
}

#[test]
fn kv_value_null_and_unknown_fields_are_tolerated() {
    let pair: KvPair = serde_json::from_value(json!({
        "Key": "folder/", "CreateIndex": 1, "ModifyIndex": 2, "LockIndex": 0,
        "Flags": 7, "Value": null, "Session": null, "Namespace": "default", "Partition": "x"
    }))
    .unwrap();
    assert_eq!(pair.value, None);
    assert_eq!(pair.session, None);
    assert_eq!(pair.flags, 7);
    // A value that is not base64 is an error, not silently empty bytes.
    assert!(serde_json::from_value::<KvPair>(json!({"Key": "k", "Value": "not base64!"})).is_err());
}

#[test]
fn kv_keys_response_decodes() {
    let keys: Vec<String> = decode("kv-keys-response.json");
    assert_eq!(keys, ["/web/bar", "/web/foo", "/web/subdir/"]);
}

#[test]
fn kv_put_and_delete_responses_are_bare_booleans() {
    assert!(decode::<bool>("kv-put-response.json"));
    assert!(decode::<bool>("kv-delete-response.json"));
}

// ------------------------------------------------------------ transactions

#[test]
fn txn_request_round_trips() {
    let ops: Vec<TxnOp> = assert_round_trip("txn-request.json");
    assert_eq!(ops.len(), 4);
    let TxnOp::Kv(kv) = &ops[0] else {
        panic!("first op should be KV: {:?}", ops[0]);
    };
    // The published template's placeholders are kept verbatim.
    assert_eq!(kv.verb, KvVerb::Other("<verb>".to_string()));
    assert_eq!(kv.key, "<key>");
    assert_eq!(
        kv.value.as_ref().map(Base64Value::as_str),
        Some("<Base64-encoded blob of data>")
    );
    assert_eq!((kv.flags, kv.index), (0, 0));
    assert_eq!(kv.session.as_deref(), Some("<session id>"));
    assert!(matches!(&ops[1], TxnOp::Node(n) if n["Verb"] == "set" && n["Node"]["Node"] == "bar"));
    assert!(
        matches!(&ops[2], TxnOp::Service(s) if s["Verb"] == "delete" && s["Service"]["ID"] == "db1")
    );
    assert!(matches!(&ops[3], TxnOp::Check(c) if c["Check"]["ModifyIndex"] == 22));
}

#[test]
fn txn_kv_ops_encode_as_documented() {
    let ops = vec![
        TxnOp::Kv(TxnKvOp::cas("dbaas/leader", b"agent-1", 42)),
        TxnOp::Kv(TxnKvOp::lock("dbaas/lock", b"x", "sess-1")),
        TxnOp::Kv(TxnKvOp::get("dbaas/leader")),
        TxnOp::Kv(TxnKvOp::delete_cas("dbaas/old", 9)),
        TxnOp::Kv(TxnKvOp::check_index("dbaas/epoch", 3)),
        TxnOp::Kv(TxnKvOp::unlock("dbaas/lock", b"", "sess-1")),
        TxnOp::Kv(TxnKvOp::set("a", b"b")),
        TxnOp::Kv(TxnKvOp::delete("a")),
    ];
    let encoded = serde_json::to_value(&ops).unwrap();
    assert_eq!(
        encoded[0],
        json!({"KV": {"Verb": "cas", "Key": "dbaas/leader", "Value": "YWdlbnQtMQ==", "Flags": 0, "Index": 42}})
    );
    assert_eq!(
        encoded[1],
        json!({"KV": {"Verb": "lock", "Key": "dbaas/lock", "Value": "eA==", "Flags": 0, "Index": 0, "Session": "sess-1"}})
    );
    let verbs: Vec<&str> = (0..ops.len())
        .map(|i| encoded[i]["KV"]["Verb"].as_str().unwrap())
        .collect();
    assert_eq!(
        verbs,
        [
            "cas",
            "lock",
            "get",
            "delete-cas",
            "check-index",
            "unlock",
            "set",
            "delete"
        ]
    );
    // Known verbs decode to their variants.
    let back: Vec<TxnOp> = serde_json::from_value(encoded).unwrap();
    assert_eq!(back, ops);
}

#[test]
fn txn_response_decodes_results_and_errors() {
    let answer: TxnResponse = decode("txn-response.json");
    assert_eq!(answer.results.len(), 3);
    let TxnResult::Kv(kv) = &answer.results[0] else {
        panic!("first result should be KV: {:?}", answer.results[0]);
    };
    assert_eq!(kv.key, "<key>");
    assert_eq!(
        (kv.lock_index, kv.flags, kv.create_index, kv.modify_index),
        (0, 0, 0, 0)
    );
    // The placeholder is kept as text; decoding it as base64 says so.
    assert_eq!(
        kv.value.as_ref().map(Base64Value::as_str),
        Some("<Base64-encoded blob of data, or null>")
    );
    assert!(kv.clone().into_pair().is_err());
    assert!(
        matches!(&answer.results[1], TxnResult::Node(n) if n["ModifyIndex"] == 32 && n["Meta"]["instance_type"] == "m2.large")
    );
    assert!(
        matches!(&answer.results[2], TxnResult::Check(c) if c["ModifyIndex"] == 35 && c["Status"] == "critical")
    );
    assert_eq!(
        answer.errors,
        vec![TxnError {
            op_index: 0,
            what: "<error message for failed operation>".to_string()
        }]
    );
}

#[test]
fn txn_response_in_practice_null_lists_and_real_values() {
    let answer: TxnResponse = serde_json::from_value(json!({
        "Results": [{"KV": {"Key": "k", "Value": "dGVzdA==", "ModifyIndex": 5}},
                    {"Intention": {"ID": "new-kind"}}],
        "Errors": null
    }))
    .unwrap();
    assert!(answer.errors.is_empty());
    let TxnResult::Kv(kv) = &answer.results[0] else {
        panic!()
    };
    let pair = kv.clone().into_pair().unwrap();
    assert_eq!(
        (pair.value.as_deref(), pair.modify_index),
        (Some(&b"test"[..]), 5)
    );
    assert!(matches!(&answer.results[1], TxnResult::Other(_)));
}

// ------------------------------------------------------------ sessions

#[test]
fn session_create_request_round_trips_with_durations() {
    let req: SessionCreate = assert_round_trip("session-create-request.json");
    assert_eq!(
        req,
        SessionCreate {
            lock_delay: Some(Duration::from_secs(15)),
            name: Some("my-service-lock".to_string()),
            node: Some("foobar".to_string()),
            checks: Some(vec!["a".into(), "b".into(), "c".into()]),
            node_checks: None,
            service_checks: None,
            behavior: Some(SessionBehavior::Release),
            ttl: Some(Duration::from_secs(30)),
        }
    );
}

#[test]
fn session_create_request_encodes_service_checks_and_delete() {
    let req = SessionCreate {
        name: Some("dbaas-leader".into()),
        behavior: Some(SessionBehavior::Delete),
        node_checks: Some(vec!["serfHealth".into()]),
        service_checks: Some(vec![ServiceCheckRef {
            id: "dbaas-agent".into(),
            namespace: String::new(),
        }]),
        ttl: Some(Duration::from_secs(15)),
        lock_delay: Some(Duration::from_millis(1500)),
        ..SessionCreate::default()
    };
    assert_eq!(
        serde_json::to_value(&req).unwrap(),
        json!({"Name": "dbaas-leader", "Behavior": "delete", "NodeChecks": ["serfHealth"],
               "ServiceChecks": [{"ID": "dbaas-agent"}], "TTL": "15s", "LockDelay": "1500ms"})
    );
}

#[test]
fn session_create_response_decodes() {
    let created: SessionCreated = decode("session-create-response.json");
    assert_eq!(created.id, "adf4238a-882b-9ddc-4a9d-5b6758e4159e");
}

#[test]
fn session_destroy_response_is_a_bare_boolean() {
    assert!(decode::<bool>("session-destroy-response.json"));
}

fn expected_session() -> SessionEntry {
    SessionEntry {
        id: "adf4238a-882b-9ddc-4a9d-5b6758e4159e".into(),
        name: "test-session".into(),
        node: "raja-laptop-02".into(),
        lock_delay: Duration::from_secs(15),
        behavior: SessionBehavior::Release,
        ttl: Some(Duration::from_secs(30)),
        checks: vec![],
        node_checks: vec!["serfHealth".into()],
        service_checks: vec![],
        create_index: 1086449,
        modify_index: 1086449,
    }
}

#[test]
fn session_info_response_decodes_lock_delay_nanoseconds() {
    let entries: Vec<SessionEntry> = decode("session-info-response.json");
    assert_eq!(entries, vec![expected_session()]);
}

#[test]
fn session_renew_response_decodes() {
    let entries: Vec<SessionEntry> = decode("session-renew-response.json");
    assert_eq!(entries, vec![expected_session()]);
}

#[test]
fn session_without_ttl_decodes_as_none() {
    let entry: SessionEntry =
        serde_json::from_value(json!({"ID": "x", "TTL": "", "LockDelay": 0, "Behavior": "delete"}))
            .unwrap();
    assert_eq!(entry.ttl, None);
    assert_eq!(entry.lock_delay, Duration::ZERO);
    assert_eq!(entry.behavior, SessionBehavior::Delete);
}

// ------------------------------------------------------------ health & catalog

#[test]
fn health_service_response_decodes() {
    let entries: Vec<ServiceEntry> = decode("health-service-response.json");
    assert_eq!(entries.len(), 1);
    let e = &entries[0];
    assert_eq!(
        e.node,
        Node {
            id: "40e4a748-2192-161a-0510-9bf59fe950b5".into(),
            node: "foobar".into(),
            address: "10.1.10.12".into(),
            datacenter: "dc1".into(),
            tagged_addresses: map(&[("lan", "10.1.10.12"), ("wan", "10.1.10.12")]),
            meta: map(&[("instance_type", "t2.medium")]),
            create_index: 0,
            modify_index: 0,
        }
    );
    assert_eq!(
        e.service,
        AgentService {
            id: "redis".into(),
            service: "redis".into(),
            tags: vec!["primary".into()],
            address: "10.1.10.12".into(),
            tagged_addresses: [
                ("lan".to_string(), addr("10.1.10.12", 8000)),
                ("wan".to_string(), addr("198.18.1.2", 80)),
            ]
            .into(),
            meta: map(&[("redis_version", "4.0")]),
            port: 8000,
            weights: Some(Weights {
                passing: 10,
                warning: 1
            }),
            namespace: "default".into(),
        }
    );
    let checks: Vec<(&str, HealthStatus, &str, Vec<String>)> = e
        .checks
        .iter()
        .map(|c| {
            (
                c.check_id.as_str(),
                c.status,
                c.service_id.as_str(),
                c.service_tags.clone(),
            )
        })
        .collect();
    assert_eq!(
        checks,
        vec![
            (
                "service:redis",
                HealthStatus::Passing,
                "redis",
                vec!["primary".to_string()]
            ),
            ("serfHealth", HealthStatus::Passing, "", vec![]),
        ]
    );
    assert_eq!(e.checks[0].name, "Service 'redis' check");
    assert_eq!(e.checks[0].node, "foobar");
    assert!(e.is_passing());
    assert_eq!(e.address(), "10.1.10.12");
}

#[test]
fn health_state_response_decodes() {
    let checks: Vec<HealthCheck> = decode("health-state-response.json");
    assert_eq!(checks.len(), 2);
    assert_eq!(checks[0].check_id, "serfHealth");
    assert_eq!(checks[0].name, "Serf Health Status");
    assert_eq!(checks[0].status, HealthStatus::Passing);
    assert!(checks[0].service_tags.is_empty());
    assert_eq!(checks[1].check_id, "service:redis");
    assert_eq!(checks[1].service_name, "redis");
    assert_eq!(checks[1].service_tags, ["primary"]);
    assert_eq!(checks[1].namespace, "default");
}

#[test]
fn unknown_health_status_is_not_passing() {
    let check: HealthCheck = serde_json::from_value(json!({"Status": "degraded-ish"})).unwrap();
    assert_eq!(check.status, HealthStatus::Unknown);
}

#[test]
fn catalog_service_nodes_response_decodes() {
    let nodes: Vec<CatalogServiceNode> = decode("catalog-service-nodes-response.json");
    assert_eq!(
        nodes,
        vec![CatalogServiceNode {
            id: "40e4a748-2192-161a-0510-9bf59fe950b5".into(),
            node: "t2.320".into(),
            address: "192.168.10.10".into(),
            datacenter: "dc1".into(),
            tagged_addresses: map(&[("lan", "192.168.10.10"), ("wan", "10.0.10.10")]),
            node_meta: map(&[("somekey", "somevalue")]),
            create_index: 51,
            modify_index: 51,
            service_address: "172.17.0.3".into(),
            service_enable_tag_override: false,
            service_id: "32a2a47f7992:nodea:5000".into(),
            service_name: "web".into(),
            service_port: 5000,
            service_meta: map(&[("web_meta_value", "baz")]),
            service_tagged_addresses: [
                ("lan".to_string(), addr("172.17.0.3", 5000)),
                ("wan".to_string(), addr("198.18.0.1", 512)),
            ]
            .into(),
            service_tags: vec!["prod".into()],
            namespace: "default".into(),
        }]
    );
}

#[test]
fn catalog_services_response_decodes() {
    let services: BTreeMap<String, Vec<String>> = decode("catalog-services-response.json");
    assert_eq!(services["postgresql"], ["primary", "secondary"]);
    assert!(services["consul"].is_empty() && services["redis"].is_empty());
}

#[test]
fn catalog_node_response_decodes_null_tags() {
    let node: CatalogNode = decode("catalog-node-response.json");
    let n = node.node.expect("node present");
    assert_eq!(n.node, "t2-node");
    assert_eq!(
        n.tagged_addresses,
        map(&[("lan", "10.1.10.12"), ("wan", "10.1.10.12")])
    );
    let consul = &node.services["consul"];
    assert!(consul.tags.is_empty(), "Tags: null decodes as empty");
    assert_eq!(consul.port, 8300);
    let redis = &node.services["redis"];
    assert_eq!(redis.tags, ["v1"]);
    assert_eq!(redis.tagged_addresses["wan"], addr("198.18.1.2", 80));
    assert_eq!(redis.namespace, "default");
}

#[test]
fn every_sample_file_is_covered() {
    // A new sample copied in without a test fails here.
    let covered = [
        "catalog-node-response.json",
        "catalog-service-nodes-response.json",
        "catalog-services-response.json",
        "health-service-response.json",
        "health-state-response.json",
        "kv-delete-response.json",
        "kv-keys-response.json",
        "kv-put-response.json",
        "kv-read-response.json",
        "session-create-request.json",
        "session-create-response.json",
        "session-destroy-response.json",
        "session-info-response.json",
        "session-renew-response.json",
        "txn-request.json",
        "txn-response.json",
    ];
    let dir = format!("{}/tests/contracts", env!("CARGO_MANIFEST_DIR"));
    let mut found: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json"))
        .collect();
    found.sort();
    assert_eq!(found, covered);
}
