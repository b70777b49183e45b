//! `dbaas render`: offline (the configuration names a cloud and hosts that
//! do not exist), it prints what a create would submit — the Nomad jobs
//! (HCL for people, Nomad's JSON job form for scripts), the Pacemaker
//! group, the Cinder and Neutron requests — and refuses bad input.

mod common;

use std::process::Command;

use common::BIN;

const CONFIG: &str = r#"
data_dir = "/nonexistent/dbaas"
host_pair "pair-1" {
  zone        = "az1"
  nomad_nodes = ["db-1a", "db-1b"]
  vip_port_id = "5b0b7c3e-3f0f-4a8e-9a52-1c2d3e4f5a6b"
  server_ids  = ["11111111-2222-4333-8444-555555555555", "66666666-7777-4888-9999-aaaaaaaaaaaa"]
  subnet_id   = "bbbbbbbb-cccc-4ddd-8eee-ffffffffffff"
  capacity {
    databases  = 10
    vcpus      = 16
    memory_mib = 65536
    volumes    = 20
  }
}
openstack {
  cloud = "no-such-cloud"
  volumes {
    volume_type = "ssd"
  }
  addresses {
    external_network = "public"
  }
}
nomad {
  images = { "15" = "registry.example.org/postgres:15.8" }
}
"#;

fn render(config: &str, args: &[&str]) -> (bool, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.hcl");
    std::fs::write(&path, config).unwrap();
    let out = Command::new(BIN)
        .arg("render")
        .args(args)
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn render_prints_the_jobs_the_group_and_the_requests_of_a_create() {
    let (ok, text, err) = render(CONFIG, &["orders", "--size-gb", "20"]);
    assert!(ok, "{err}");
    for section in [
        "# ---- Nomad: engine service job",
        "# ---- Nomad: admin SQL job",
        "# ---- Nomad: configuration job",
        "# ---- Pacemaker: CIB fragment",
        "# ---- Cinder: POST /volumes",
        "# ---- Neutron: floating IP",
    ] {
        assert!(text.contains(section), "{section} missing:\n{text}");
    }
    assert!(
        text.contains("registry.example.org/postgres:15.8"),
        "{text}"
    );

    let (ok, json, err) = render(CONFIG, &["orders", "--size-gb", "20", "-o", "json"]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let instance = "dbaas-orders-00000000";
    assert_eq!(v["instance"], instance);
    assert_eq!(v["pair"], "pair-1");
    // Nomad's JSON job form, pinned to the pair, with the configured image.
    let engine = &v["engine_job"]["json"];
    assert_eq!(engine["ID"], instance);
    assert_eq!(engine["Type"], "service");
    assert!(engine.to_string().contains("pair-1"), "{engine}");
    assert!(engine
        .to_string()
        .contains("registry.example.org/postgres:15.8"));
    assert_eq!(v["admin_sql_job"]["json"]["Type"], "batch");
    assert!(v["admin_sql_job"]["json"]["ParameterizedJob"].is_object());
    assert_eq!(v["configure_job"]["json"]["Type"], "batch");
    // The Pacemaker group: fencing on, the pair's hosts and server ids.
    let cib = v["pacemaker_fragment"].as_str().unwrap();
    assert!(cib.contains(&format!("id=\"g-{instance}\"")), "{cib}");
    assert!(
        cib.contains("name=\"stonith-enabled\" value=\"true\""),
        "{cib}"
    );
    assert!(
        cib.contains("11111111-2222-4333-8444-555555555555"),
        "{cib}"
    );
    assert!(
        cib.contains("bbbbbbbb-cccc-4ddd-8eee-ffffffffffff"),
        "{cib}"
    );
    // Cinder and Neutron.
    let vol = &v["volume_request"]["volume"];
    assert_eq!(vol["size"], 20);
    assert_eq!(vol["volume_type"], "ssd");
    assert_eq!(vol["metadata"]["dbaas-db"], instance);
    let fip = &v["floating_ip_request"];
    assert_eq!(fip["external_network"], "public");
    assert_eq!(fip["port_id"], "5b0b7c3e-3f0f-4a8e-9a52-1c2d3e4f5a6b");
    assert!(fip["tags"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t == &format!("dbaas:{instance}")));
    // What only the create knows is marked.
    assert!(v["placeholders"].to_string().contains("volume id"));
}

#[test]
fn render_refuses_bad_names_unknown_pairs_and_an_empty_pool() {
    let (ok, _, err) = render(CONFIG, &["Bad;Name"]);
    assert!(!ok);
    assert!(err.contains("name"), "{err}");
    let (ok, _, err) = render(CONFIG, &["orders", "--pair", "pair-9"]);
    assert!(!ok);
    assert!(err.contains("pair-9") && err.contains("pair-1"), "{err}");
    let (ok, _, err) = render("data_dir = \"/x\"\n", &["orders"]);
    assert!(!ok);
    assert!(err.contains("host pool is empty"), "{err}");
}
