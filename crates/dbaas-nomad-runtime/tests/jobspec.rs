//! The engine job specification: the template parses, renders to the
//! golden JSON job, and values cannot change its structure.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use dbaas_drivers::{EngineSpec, Volume};
use dbaas_model::Endpoint;
use dbaas_nomad::{NomadClient, NomadConfig};
use dbaas_nomad_runtime::{
    EngineJobValues, JobTemplate, NomadRuntime, NomadRuntimeConfig, SinglePair, ENGINE_TEMPLATE,
    SPEC_HASH_META,
};
use serde_json::Value;

fn spec(instance: &str) -> EngineSpec {
    EngineSpec {
        instance: instance.into(),
        engine: "postgresql".into(),
        version: "16".into(),
        volume: Volume {
            name: instance.into(),
            id: "0b6f2f0e-cinder-volume".into(),
            size_gb: 20,
            mount_path: PathBuf::from(format!("/srv/dbaas/{instance}")),
        },
        endpoint: Endpoint {
            host: "203.0.113.10".into(),
            port: 5432,
        },
    }
}

fn runtime() -> NomadRuntime {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = NomadClient::new(NomadConfig::default()).unwrap();
    NomadRuntime::new(
        client,
        NomadRuntimeConfig::default(),
        Arc::new(SinglePair("pair-1".into())),
    )
    .unwrap()
}

fn values() -> EngineJobValues {
    EngineJobValues {
        job_id: "dbaas-orders-1a2b3c4d".into(),
        image: "postgres:16".into(),
        pair: "pair-1".into(),
        volume_path: "/srv/dbaas/dbaas-orders-1a2b3c4d".into(),
        port: 5432,
        service_name: "dbaas-orders-1a2b3c4d".into(),
        cpu_mhz: 1000,
        memory_mb: 1152,
        superuser: "postgres".into(),
    }
}

fn golden(name: &str, actual: &Value) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    let text = serde_json::to_string_pretty(actual).unwrap() + "\n";
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    assert_eq!(
        text,
        expected,
        "the rendered job differs from {}; if the change is intended, re-run with UPDATE_GOLDEN=1",
        path.display()
    );
}

#[test]
fn the_template_parses_with_hcl_rs_and_declares_what_dbaas_sets() {
    let body: hcl::Body = hcl::parse(ENGINE_TEMPLATE).expect("jobs/engine.nomad.hcl is valid HCL");
    assert!(body.blocks().any(|b| b.identifier() == "job"));
    let template = JobTemplate::engine().unwrap();
    let vars: Vec<&str> = template.variables().collect();
    for name in values().to_vars().keys() {
        assert!(
            vars.contains(&name.as_str()),
            "variable {name} is not declared"
        );
    }
}

#[tokio::test]
async fn the_rendered_job_matches_the_golden_file() {
    let job = runtime()
        .render(&spec("dbaas-orders-1a2b3c4d"))
        .await
        .unwrap();
    let json = serde_json::to_value(&job).unwrap();
    golden("engine-job.json", &json);

    // The essentials, spelled out so a golden-file update cannot quietly
    // lose one.
    assert_eq!(json["ID"], "dbaas-orders-1a2b3c4d");
    assert_eq!(json["Type"], "service");
    assert_eq!(json["Constraints"][0]["LTarget"], "${meta.dbaas_pair}");
    assert_eq!(json["Constraints"][0]["RTarget"], "pair-1");
    let group = &json["TaskGroups"][0];
    assert_eq!(group["Count"], 1);
    assert_eq!(group["Networks"][0]["ReservedPorts"][0]["Value"], 5432);
    assert_eq!(group["Services"][0]["Provider"], "consul");
    assert_eq!(group["Services"][0]["Checks"][0]["Type"], "tcp");
    assert_eq!(group["ReschedulePolicy"]["Attempts"], 0);
    assert_eq!(group["ReschedulePolicy"]["Unlimited"], false);
    assert_eq!(group["Disconnect"]["Replace"], false);
    assert_eq!(
        group["Disconnect"]["LostAfter"],
        6 * 3600 * 1_000_000_000i64
    );
    assert_eq!(group["Update"]["Canary"], 0);
    let task = &group["Tasks"][0];
    assert_eq!(task["Driver"], "docker");
    assert_eq!(task["Config"]["image"], "postgres:16");
    assert_eq!(
        task["Config"]["mount"][0]["source"],
        "/srv/dbaas/dbaas-orders-1a2b3c4d"
    );
    assert_eq!(task["Resources"]["CPU"], 1000);
    assert_eq!(task["Resources"]["MemoryMB"], 1152);
    assert!(json["Meta"][SPEC_HASH_META].as_str().unwrap().len() == 64);
}

#[tokio::test]
async fn rendering_is_deterministic_and_the_hash_follows_the_spec() {
    let rt = runtime();
    let a = rt.render(&spec("dbaas-orders-1a2b3c4d")).await.unwrap();
    let b = rt.render(&spec("dbaas-orders-1a2b3c4d")).await.unwrap();
    assert_eq!(a, b);
    let mut bigger = spec("dbaas-orders-1a2b3c4d");
    bigger.volume.size_gb = 200;
    let c = rt.render(&bigger).await.unwrap();
    let hash = |j: &dbaas_nomad::Job| j.meta.as_ref().unwrap()[SPEC_HASH_META].clone();
    assert_ne!(hash(&a), hash(&c));
}

/// The job with every string leaf blanked: its structure.
fn skeleton(v: &Value) -> Value {
    match v {
        Value::String(_) => Value::String(String::new()),
        Value::Array(items) => Value::Array(items.iter().map(skeleton).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), skeleton(v))).collect())
        }
        other => other.clone(),
    }
}

#[test]
fn hostile_values_cannot_change_the_jobs_structure() {
    let template = JobTemplate::engine().unwrap();
    let benign = serde_json::to_value(template.render(&values().to_vars()).unwrap()).unwrap();
    let hostile_strings = [
        "x\" }\n  task \"evil\" { driver = \"raw_exec\" }\n#",
        "${var.job_id}",
        "$${meta.dbaas_pair}",
        "%{ if true }yes%{ endif }",
        "line1\nline2\r\n\u{0}",
        "\\\"; rm -rf /",
    ];
    for hostile in hostile_strings {
        let mut v = values();
        v.job_id = hostile.into();
        v.image = hostile.into();
        v.pair = hostile.into();
        v.volume_path = hostile.into();
        v.service_name = hostile.into();
        v.superuser = hostile.into();
        let job = serde_json::to_value(template.render(&v.to_vars()).unwrap()).unwrap();
        assert_eq!(
            skeleton(&job),
            skeleton(&benign),
            "structure changed by {hostile:?}"
        );
        // Each value arrives verbatim, as one leaf.
        assert_eq!(job["ID"], hostile);
        assert_eq!(job["Constraints"][0]["RTarget"], hostile);
        let task = &job["TaskGroups"][0]["Tasks"][0];
        assert_eq!(task["Config"]["image"], hostile);
        assert_eq!(task["Config"]["mount"][0]["source"], hostile);
        assert_eq!(task["Env"]["POSTGRES_USER"], hostile);
        assert_eq!(job["TaskGroups"][0]["Services"][0]["Name"], hostile);
    }
}

#[tokio::test]
async fn the_runtime_refuses_values_nomad_would_interpolate() {
    let rt = runtime();
    let mut s = spec("dbaas-orders-1a2b3c4d");
    s.volume.mount_path = PathBuf::from("/srv/${attr.unique.hostname}");
    let e = rt.render(&s).await.unwrap_err().to_string();
    assert!(e.contains("volume mount point"), "{e}");
    let e = rt.render(&spec("Orders\"x")).await.unwrap_err().to_string();
    assert!(e.contains("cannot name a Nomad job"), "{e}");
    let mut s = spec("dbaas-orders-1a2b3c4d");
    s.version = "9.6".into();
    let e = rt.render(&s).await.unwrap_err().to_string();
    assert!(e.contains("no container image"), "{e}");
}

#[test]
fn a_template_with_an_unknown_block_or_missing_variable_is_refused() {
    let unknown = ENGINE_TEMPLATE.replace(
        "    count = 1\n",
        "    count = 1\n    scaling { min = 1 }\n",
    );
    let e = JobTemplate::parse("edited", &unknown)
        .unwrap()
        .render(&values().to_vars())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("job.group.scaling") && e.contains("not supported"),
        "{e}"
    );

    let missing = ENGINE_TEMPLATE.replace("variable \"pair\"", "variable \"pair_name\"");
    let e = JobTemplate::parse("edited", &missing)
        .unwrap()
        .render(&values().to_vars())
        .unwrap_err()
        .to_string();
    assert!(e.contains("\"pair\""), "{e}");
}
