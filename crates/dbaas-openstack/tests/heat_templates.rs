//! The HOT templates in `heat/`, checked as documents: every parameter
//! documented and used, every reference resolvable, the outputs dbaas
//! reads present, and the security groups as narrow as documented. Heat
//! itself validates them in the real-cloud tests when Heat runs.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::Value;

fn template(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../heat")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every (function, argument) pair in `v`.
fn calls<'a>(v: &'a Value, f: &str, out: &mut Vec<&'a Value>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == f {
                    out.push(x);
                }
                calls(x, f, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| calls(x, f, out)),
        _ => {}
    }
}

fn first_names(v: &Value, f: &str) -> BTreeSet<String> {
    let mut found = Vec::new();
    calls(v, f, &mut found);
    found
        .into_iter()
        .map(|a| match a {
            Value::String(s) => s.clone(),
            Value::Array(a) => a[0].as_str().unwrap().to_string(),
            other => panic!("{f}: {other}"),
        })
        .collect()
}

fn keys(v: &Value, section: &str) -> BTreeSet<String> {
    v[section]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// The structural checks every template passes.
fn check(name: &str) -> Value {
    let t = template(name);
    assert_eq!(t["heat_template_version"], "2018-08-31", "{name}");
    assert!(
        t["description"].as_str().is_some_and(|d| d.len() > 40),
        "{name}: described"
    );
    let params = keys(&t, "parameters");
    let resources = keys(&t, "resources");
    let conditions = keys(&t, "conditions");
    for p in &params {
        let d = t["parameters"][p]["description"].as_str().unwrap_or("");
        assert!(d.len() > 10, "{name}: parameter {p} is not documented");
    }
    let used = first_names(&t, "get_param");
    let unused: Vec<_> = params.difference(&used).collect();
    assert!(
        unused.is_empty(),
        "{name}: parameters never used: {unused:?}"
    );
    let undeclared: Vec<_> = used.difference(&params).collect();
    assert!(
        undeclared.is_empty(),
        "{name}: undeclared parameters: {undeclared:?}"
    );
    let mut refs = first_names(&t["resources"], "get_resource");
    refs.extend(first_names(&t, "get_attr"));
    refs.extend(first_names(&t["outputs"], "get_resource"));
    for r in t["resources"].as_object().unwrap().values() {
        match &r["depends_on"] {
            Value::String(s) => {
                refs.insert(s.clone());
            }
            Value::Array(a) => refs.extend(a.iter().map(|x| x.as_str().unwrap().to_string())),
            _ => {}
        }
    }
    let dangling: Vec<_> = refs.difference(&resources).collect();
    assert!(
        dangling.is_empty(),
        "{name}: references to no resource: {dangling:?}"
    );
    let mut conds = first_names(&t, "if");
    // Resources made only under a condition.
    conds.extend(
        t["resources"]
            .as_object()
            .unwrap()
            .values()
            .filter_map(|r| r["condition"].as_str().map(str::to_string)),
    );
    let unknown: Vec<_> = conds.difference(&conditions).collect();
    assert!(
        unknown.is_empty(),
        "{name}: unknown conditions: {unknown:?}"
    );
    let unused: Vec<_> = conditions.difference(&conds).collect();
    assert!(
        unused.is_empty(),
        "{name}: conditions never used: {unused:?}"
    );
    for (k, o) in t["outputs"].as_object().unwrap() {
        assert!(
            o["description"].as_str().is_some(),
            "{name}: output {k} undocumented"
        );
        assert!(!o["value"].is_null(), "{name}: output {k} has no value");
    }
    // Servers in an anti-affinity group, each on its own boot volume.
    let res = t["resources"].as_object().unwrap();
    let groups: Vec<_> = res
        .iter()
        .filter(|(_, r)| r["type"] == "OS::Nova::ServerGroup")
        .collect();
    assert_eq!(groups.len(), 1, "{name}");
    assert_eq!(groups[0].1["properties"]["policies"][0], "anti-affinity");
    let group = groups[0].0;
    let servers: Vec<_> = res
        .values()
        .filter(|r| r["type"] == "OS::Nova::Server")
        .collect();
    let mut boot = BTreeSet::new();
    for s in &servers {
        let p = &s["properties"];
        assert_eq!(
            p["scheduler_hints"]["group"]["get_resource"],
            group.as_str()
        );
        // Its own volume, made from the image or blank (no image given):
        // `{if: [has_image, {get_resource: V}, {get_resource: BLANK_V}]}`.
        let id = &p["block_device_mapping_v2"][0]["volume_id"];
        let choices: Vec<&Value> = match id["if"].as_array() {
            Some(a) => a[1..].iter().collect(),
            None => vec![id],
        };
        for c in choices {
            let vol = c["get_resource"].as_str().unwrap();
            assert_eq!(res[vol]["type"], "OS::Cinder::Volume");
            assert!(boot.insert(vol), "{name}: two servers boot from {vol}");
        }
    }
    t
}

fn rules<'a>(t: &'a Value, group: &str) -> &'a Value {
    &t["resources"][group]["properties"]["rules"]
}

#[test]
fn host_pair_template() {
    let t = check("host-pair.yaml");
    let servers = t["resources"]
        .as_object()
        .unwrap()
        .values()
        .filter(|r| r["type"] == "OS::Nova::Server")
        .count();
    assert_eq!(servers, 2);
    // Every output dbaas's host pool reads.
    let outputs = keys(&t, "outputs");
    for k in dbaas_placement::heat_outputs::ALL {
        assert!(outputs.contains(k), "host-pair.yaml lacks output {k}");
    }
    let capacity = &t["outputs"]["capacity"]["value"];
    for k in ["databases", "vcpus", "memory_mib", "volumes"] {
        assert!(capacity[k]["get_param"].is_string(), "capacity.{k}");
    }
    assert_eq!(
        t["outputs"]["vip_port_id"]["value"]["get_resource"],
        "vip_port"
    );

    // The engine port only from the allowed CIDRs.
    let engine = rules(&t, "engine_security_group");
    assert_eq!(
        engine["repeat"]["for_each"]["<%cidr%>"]["get_param"],
        "allowed_cidrs"
    );
    let tpl = &engine["repeat"]["template"];
    assert_eq!(tpl["port_range_min"]["get_param"], "engine_port");
    assert_eq!(tpl["port_range_max"]["get_param"], "engine_port");
    assert_eq!(tpl["remote_ip_prefix"], "<%cidr%>");
    // SSH and administration only from the control plane.
    let admin = rules(&t, "admin_security_group").as_array().unwrap();
    assert!(admin
        .iter()
        .any(|r| r["port_range_min"] == 22 && r["port_range_max"] == 22));
    for r in admin {
        assert_eq!(
            r["remote_ip_prefix"]["get_param"], "control_plane_cidr",
            "{r}"
        );
    }
    // Cluster traffic only between the pair's own ports.
    for r in rules(&t, "cluster_security_group").as_array().unwrap() {
        assert_eq!(r["remote_mode"], "remote_group_id", "{r}");
        assert!(r.get("remote_ip_prefix").is_none(), "{r}");
    }
    // The VIP may be answered by either node's port.
    for port in ["port_a", "port_b"] {
        let pairs = &t["resources"][port]["properties"]["allowed_address_pairs"];
        assert_eq!(pairs[0]["ip_address"]["get_attr"][0], "vip_port", "{port}");
    }
}

#[test]
fn control_plane_template() {
    let t = check("control-plane.yaml");
    let res = t["resources"].as_object().unwrap();
    assert_eq!(
        res.values()
            .filter(|r| r["type"] == "OS::Nova::Server")
            .count(),
        3
    );
    for k in [
        "server_names",
        "server_addresses",
        "network_id",
        "network_cidr",
    ] {
        assert!(
            t["outputs"].get(k).is_some(),
            "control-plane.yaml lacks output {k}"
        );
    }
    assert_eq!(
        res["router"]["properties"]["external_gateway_info"]["network"]["get_param"],
        "external_network"
    );
    // Server-to-server ports only between the three.
    for r in rules(&t, "servers_security_group").as_array().unwrap() {
        assert_eq!(r["remote_mode"], "remote_group_id", "{r}");
    }
    for r in rules(&t, "clients_security_group").as_array().unwrap() {
        assert_eq!(r["remote_ip_prefix"]["get_param"], "host_pairs_cidr", "{r}");
    }
    let admin = rules(&t, "admin_security_group").as_array().unwrap();
    for r in admin {
        assert_eq!(r["remote_ip_prefix"]["get_param"], "admin_cidr", "{r}");
    }
    let ports: BTreeSet<_> = admin
        .iter()
        .filter_map(|r| r["port_range_min"].as_u64())
        .collect();
    assert_eq!(ports, BTreeSet::from([22, 4646, 8500]));
    assert!(admin
        .iter()
        .any(|r| r["port_range_min"]["get_param"] == "dbaas_api_port"));
}
