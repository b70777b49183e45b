//! The admin SQL and configuration jobs (and the engine job, for the
//! checks shared by all three): templates parse, renderings match their
//! golden files, use Nomad's field names as the official `json-jobs`
//! sample does, print as HCL that parses back to the same job, and values
//! cannot change a job's structure.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use dbaas_drivers::{EngineSpec, Volume};
use dbaas_model::Endpoint;
use dbaas_nomad_runtime::{
    render_admin_sql_job, render_admin_sql_job_hcl, render_configure_job, render_configure_job_hcl,
    render_engine_job, render_engine_job_hcl, AdminSqlJobValues, ConfigureJobValues,
    DatabaseConfiguration, GrantSpec, JobTemplate, NomadRuntimeConfig, RoleSpec, SchemaPrivilege,
    SchemaSpec, ADMIN_SQL_TEMPLATE, CONFIGURE_TEMPLATE, ENGINE_TEMPLATE, SPEC_HASH_META,
};
use serde_json::Value;

const INSTANCE: &str = "dbaas-orders-1a2b3c4d";

fn spec() -> EngineSpec {
    EngineSpec {
        instance: INSTANCE.into(),
        engine: "postgresql".into(),
        version: "16".into(),
        volume: Volume {
            name: INSTANCE.into(),
            id: "0b6f2f0e-cinder-volume".into(),
            size_gb: 20,
            mount_path: PathBuf::from(format!("/srv/dbaas/{INSTANCE}")),
        },
        endpoint: Endpoint {
            host: "203.0.113.10".into(),
            port: 5432,
        },
    }
}

fn cfg() -> NomadRuntimeConfig {
    NomadRuntimeConfig {
        object_store_url: "https://swift.example/v1/AUTH_dbaas/dbaas-sql".into(),
        ..NomadRuntimeConfig::default()
    }
}

fn conf() -> DatabaseConfiguration {
    DatabaseConfiguration {
        database: "orders".into(),
        roles: vec![
            RoleSpec {
                name: "orders_rw".into(),
                login: false,
                member_of: vec![],
            },
            RoleSpec {
                name: "app".into(),
                login: true,
                member_of: vec!["orders_rw".into()],
            },
        ],
        schemas: vec![SchemaSpec {
            name: "sales".into(),
            owner: "orders_rw".into(),
        }],
        grants: vec![GrantSpec {
            role: "app".into(),
            schema: "sales".into(),
            privileges: vec![SchemaPrivilege::Usage, SchemaPrivilege::Create],
        }],
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

fn json(job: &dbaas_nomad::Job) -> Value {
    serde_json::to_value(job).unwrap()
}

#[test]
fn every_template_parses_with_hcl_rs() {
    for (name, text) in [
        ("engine", ENGINE_TEMPLATE),
        ("admin-sql", ADMIN_SQL_TEMPLATE),
        ("configure", CONFIGURE_TEMPLATE),
    ] {
        let body: hcl::Body =
            hcl::parse(text).unwrap_or_else(|e| panic!("jobs/{name}.nomad.hcl: {e}"));
        assert_eq!(
            body.blocks().filter(|b| b.identifier() == "job").count(),
            1,
            "{name}"
        );
    }
}

#[test]
fn the_admin_sql_job_matches_its_golden_file() {
    let job = json(&render_admin_sql_job(&spec(), &cfg(), "pair-1").unwrap());
    golden("admin-sql-job.json", &job);

    assert_eq!(job["ID"], "dbaas-orders-1a2b3c4d-admin-sql");
    assert_eq!(job["Type"], "batch");
    assert_eq!(job["ParameterizedJob"]["Payload"], "forbidden");
    assert_eq!(
        job["ParameterizedJob"]["MetaRequired"],
        serde_json::json!(["database", "job_id", "sql_object"])
    );
    // Beside the engine.
    assert_eq!(job["Constraints"][0]["LTarget"], "${meta.dbaas_pair}");
    assert_eq!(job["Constraints"][0]["RTarget"], "pair-1");
    let group = &job["TaskGroups"][0];
    // Never run twice by Nomad itself.
    assert_eq!(group["RestartPolicy"]["Attempts"], 0);
    assert_eq!(group["RestartPolicy"]["Mode"], "fail");
    assert_eq!(group["ReschedulePolicy"]["Attempts"], 0);
    assert_eq!(group["ReschedulePolicy"]["Unlimited"], false);
    let fetch = &group["Tasks"][0];
    assert_eq!(fetch["Lifecycle"]["Hook"], "prestart");
    let args = fetch["Config"]["args"].as_array().unwrap();
    assert_eq!(
        args.last().unwrap(),
        "https://swift.example/v1/AUTH_dbaas/dbaas-sql/${NOMAD_META_sql_object}"
    );
    let sql = &group["Tasks"][1];
    // psql of the engine's own version, stopping at the first error.
    assert_eq!(sql["Config"]["image"], "postgres:16");
    assert_eq!(sql["Config"]["command"], "psql");
    assert!(sql["Config"]["args"]
        .as_array()
        .unwrap()
        .contains(&Value::from("ON_ERROR_STOP=1")));
    assert_eq!(sql["Env"]["PGHOST"], "203.0.113.10");
    assert_eq!(sql["Env"]["PGPORT"], "5432");
    assert_eq!(sql["Env"]["PGDATABASE"], "${NOMAD_META_database}");
    assert!(sql["Resources"]["MemoryMB"].as_i64().unwrap() <= 256);
    assert_eq!(job["Meta"][SPEC_HASH_META].as_str().unwrap().len(), 64);
}

#[test]
fn the_configure_job_matches_its_golden_file_and_carries_the_values_as_json() {
    let job = json(&render_configure_job(&spec(), &cfg(), "pair-1", &conf()).unwrap());
    golden("configure-job.json", &job);

    assert_eq!(job["ID"], "dbaas-orders-1a2b3c4d-configure");
    assert_eq!(job["Type"], "batch");
    assert!(job.get("ParameterizedJob").is_none());
    let task = &job["TaskGroups"][0]["Tasks"][0];
    assert_eq!(task["Env"]["PGDATABASE"], "orders");
    let args = task["Config"]["args"].as_array().unwrap();
    let spec_arg = args
        .iter()
        .filter_map(Value::as_str)
        .find_map(|a| a.strip_prefix("spec="))
        .expect("a spec= argument");
    let spec: Value = serde_json::from_str(spec_arg).unwrap();
    assert_eq!(
        spec,
        serde_json::json!({
            "roles": [
                {"name": "orders_rw", "login": false, "member_of": []},
                {"name": "app", "login": true, "member_of": ["orders_rw"]},
            ],
            "schemas": [{"name": "sales", "owner": "orders_rw"}],
            "grants": [{"role": "app", "schema": "sales", "privileges": ["USAGE", "CREATE"]}],
        })
    );
    // The script quotes every name as an identifier and reads the spec as
    // a psql literal.
    let script = task["Templates"][1]["EmbeddedTmpl"].as_str().unwrap();
    assert!(script.contains(":'spec'::json"), "{script}");
    assert!(!script.contains("%s', r->>'name'") || script.contains("%I"));
    assert!(script.starts_with("BEGIN;") && script.trim_end().ends_with("COMMIT;"));
}

#[test]
fn the_configure_runtime_refuses_names_it_would_not_create() {
    let mut c = conf();
    c.roles[0].name = "Robert'); DROP TABLE students;--".into();
    let e = render_configure_job(&spec(), &cfg(), "pair-1", &c)
        .unwrap_err()
        .to_string();
    assert!(e.contains("is not a name dbaas creates"), "{e}");
    let mut c = conf();
    c.database = "${NOMAD_META_x}".into();
    assert!(render_configure_job(&spec(), &cfg(), "pair-1", &c).is_err());
}

#[test]
fn the_admin_sql_runtime_refuses_values_nomad_would_interpolate() {
    let mut c = cfg();
    c.object_store_url = "https://swift.example/${attr.unique.hostname}".into();
    let e = render_admin_sql_job(&spec(), &c, "pair-1")
        .unwrap_err()
        .to_string();
    assert!(e.contains("object-store URL"), "{e}");
    let mut c = cfg();
    c.object_store_url = "file:///etc".into();
    assert!(render_admin_sql_job(&spec(), &c, "pair-1").is_err());
    let mut s = spec();
    s.endpoint.host = "h\"x".into();
    assert!(render_admin_sql_job(&s, &cfg(), "pair-1").is_err());
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

const HOSTILE: [&str; 7] = [
    "x\" }\n  task \"evil\" { driver = \"raw_exec\" }\n#",
    "${var.job_id}",
    "$${meta.dbaas_pair}",
    "%{ if true }yes%{ endif }",
    "line1\nline2\r\n\u{0}",
    "\\\"; rm -rf /",
    "{{ with secret \"x\" }}{{ .Data }}{{ end }}",
];

fn admin_values(v: &str) -> AdminSqlJobValues {
    AdminSqlJobValues {
        job_id: v.into(),
        instance: v.into(),
        pair: v.into(),
        host: v.into(),
        port: 5432,
        object_store_url: v.into(),
        client_image: v.into(),
        fetch_image: v.into(),
        superuser: v.into(),
    }
}

fn configure_values(v: &str) -> ConfigureJobValues {
    ConfigureJobValues {
        job_id: v.into(),
        instance: v.into(),
        pair: v.into(),
        host: v.into(),
        port: 5432,
        database: v.into(),
        roles: vec![RoleSpec {
            name: v.into(),
            login: true,
            member_of: vec![v.into()],
        }],
        schemas: vec![SchemaSpec {
            name: v.into(),
            owner: v.into(),
        }],
        grants: vec![GrantSpec {
            role: v.into(),
            schema: v.into(),
            privileges: vec![SchemaPrivilege::Usage],
        }],
        client_image: v.into(),
        superuser: v.into(),
    }
}

#[test]
fn hostile_values_cannot_change_the_batch_jobs_structure() {
    let admin = JobTemplate::admin_sql().unwrap();
    let configure = JobTemplate::configure().unwrap();
    let benign_admin = json(&admin.render(&admin_values("benign").to_vars()).unwrap());
    let benign_conf = json(
        &configure
            .render(&configure_values("benign").to_vars())
            .unwrap(),
    );
    for hostile in HOSTILE {
        let job = json(&admin.render(&admin_values(hostile).to_vars()).unwrap());
        assert_eq!(
            skeleton(&job),
            skeleton(&benign_admin),
            "admin SQL job structure changed by {hostile:?}"
        );
        assert_eq!(job["ID"], hostile);
        assert_eq!(job["Constraints"][0]["RTarget"], hostile);
        let tasks = &job["TaskGroups"][0]["Tasks"];
        assert_eq!(tasks[0]["Config"]["image"], hostile);
        assert_eq!(
            tasks[0]["Config"]["args"]
                .as_array()
                .unwrap()
                .last()
                .unwrap(),
            &Value::from(format!("{hostile}/${{NOMAD_META_sql_object}}"))
        );
        assert_eq!(tasks[1]["Env"]["PGHOST"], hostile);
        assert_eq!(tasks[1]["Env"]["PGUSER"], hostile);

        let job = json(
            &configure
                .render(&configure_values(hostile).to_vars())
                .unwrap(),
        );
        assert_eq!(
            skeleton(&job),
            skeleton(&benign_conf),
            "configure job structure changed by {hostile:?}"
        );
        let task = &job["TaskGroups"][0]["Tasks"][0];
        assert_eq!(task["Env"]["PGDATABASE"], hostile);
        // The lists arrive as one JSON argument, decoding to the values.
        let arg = task["Config"]["args"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .find_map(|a| a.strip_prefix("spec="))
            .unwrap();
        let spec: Value = serde_json::from_str(arg).unwrap();
        assert_eq!(spec["roles"][0]["name"], hostile);
        assert_eq!(spec["roles"][0]["member_of"][0], hostile);
        assert_eq!(spec["schemas"][0]["owner"], hostile);
        assert_eq!(spec["grants"][0]["schema"], hostile);
    }
}

/// Renders the filled HCL, parses it back as a template without variables
/// and renders that: the same job.
fn hcl_round_trip(template: &JobTemplate, vars: &BTreeMap<String, hcl::Value>) {
    let text = template.render_hcl(vars).unwrap();
    hcl::parse(&text).unwrap_or_else(|e| panic!("the printed HCL does not parse: {e}\n{text}"));
    let back = JobTemplate::parse("printed", &text)
        .unwrap()
        .render(&BTreeMap::new())
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(json(&back), json(&template.render(vars).unwrap()), "{text}");
}

#[test]
fn printed_hcl_parses_back_to_the_same_job_even_with_hostile_values() {
    let admin = JobTemplate::admin_sql().unwrap();
    let configure = JobTemplate::configure().unwrap();
    for v in ["benign"].into_iter().chain(HOSTILE) {
        hcl_round_trip(&admin, &admin_values(v).to_vars());
        hcl_round_trip(&configure, &configure_values(v).to_vars());
    }
    // And the public HCL renderers print the same jobs they render.
    for (text, job) in [
        (
            render_engine_job_hcl(&spec(), &cfg(), "pair-1").unwrap(),
            render_engine_job(&spec(), &cfg(), "pair-1").unwrap(),
        ),
        (
            render_admin_sql_job_hcl(&spec(), &cfg(), "pair-1").unwrap(),
            render_admin_sql_job(&spec(), &cfg(), "pair-1").unwrap(),
        ),
        (
            render_configure_job_hcl(&spec(), &cfg(), "pair-1", &conf()).unwrap(),
            render_configure_job(&spec(), &cfg(), "pair-1", &conf()).unwrap(),
        ),
    ] {
        let mut back = JobTemplate::parse("printed", &text)
            .unwrap()
            .render(&BTreeMap::new())
            .unwrap();
        // The hash is added to the JSON job after rendering, not printed.
        let mut job = job;
        job.meta.as_mut().unwrap().remove(SPEC_HASH_META);
        back.meta.get_or_insert_with(Default::default);
        assert_eq!(json(&back), json(&job), "{text}");
    }
}

/// The official `json-jobs` sample (what `nomad job run -output` prints).
fn sample_job() -> Value {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/contracts/json-jobs-example.json"),
    )
    .unwrap();
    serde_json::from_str::<Value>(&text).unwrap()["Job"].clone()
}

fn is_set(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

fn is_stanza(v: &Value) -> bool {
    match v {
        Value::Object(_) => true,
        Value::Array(items) => items.iter().any(Value::is_object),
        _ => false,
    }
}

/// For each stanza present in both `ours` and `sample` (recursively, by
/// JSON key; a driver's `Config` is the driver's own): every key of ours
/// is one the sample spells for that stanza, and every plain field the
/// sample sets, ours sets too. Returns the problems found.
fn compare_stanza(at: &str, ours: &Value, sample: &Value, problems: &mut Vec<String>) {
    let (Some(ours), Some(sample)) = (ours.as_object(), sample.as_object()) else {
        return;
    };
    for (key, value) in ours {
        let Some(theirs) = sample.get(key) else {
            problems.push(format!("{at}.{key} is not a field of the sample's {at}"));
            continue;
        };
        if key == "Config" || key == "Meta" || key == "Env" {
            continue;
        }
        let first = |v: &Value| match v {
            Value::Array(items) => items.first().cloned().unwrap_or(Value::Null),
            other => other.clone(),
        };
        if is_stanza(value) && is_stanza(theirs) {
            let ours_items: Vec<Value> = match value {
                Value::Array(items) => items.clone(),
                other => vec![other.clone()],
            };
            for item in ours_items {
                compare_stanza(&format!("{at}.{key}"), &item, &first(theirs), problems);
            }
        }
    }
    for (key, theirs) in sample {
        if is_set(theirs) && !is_stanza(theirs) && !ours.contains_key(key) {
            problems.push(format!(
                "{at}.{key} is set in the sample ({theirs}) but not by dbaas"
            ));
        }
    }
}

#[test]
fn every_job_uses_the_fields_the_official_json_jobs_sample_uses() {
    let sample = sample_job();
    // The sample's Update and Migrate are job-level; the engine's update
    // is per group, the same structure.
    let sample_update = sample["Update"].clone();
    let mut sample_group = sample["TaskGroups"][0].clone();
    sample_group["Update"] = sample_update;
    let mut sample_with_group = sample.clone();
    sample_with_group["TaskGroups"] = Value::Array(vec![sample_group]);

    let jobs = [
        (
            "engine",
            render_engine_job(&spec(), &cfg(), "pair-1").unwrap(),
        ),
        (
            "admin-sql",
            render_admin_sql_job(&spec(), &cfg(), "pair-1").unwrap(),
        ),
        (
            "configure",
            render_configure_job(&spec(), &cfg(), "pair-1", &conf()).unwrap(),
        ),
    ];
    for (name, job) in jobs {
        let mut problems = Vec::new();
        compare_stanza("Job", &json(&job), &sample_with_group, &mut problems);
        assert!(problems.is_empty(), "{name}: {problems:#?}");
    }

    // The check itself catches a misspelt field and a missing one.
    let mut job = json(&render_admin_sql_job(&spec(), &cfg(), "pair-1").unwrap());
    job["TaskGroups"][0]["Tasks"][0]["Resources"]["MemoryMb"] = Value::from(64);
    job["TaskGroups"][0]["Tasks"][0]["Resources"]
        .as_object_mut()
        .unwrap()
        .remove("MemoryMB");
    let mut problems = Vec::new();
    compare_stanza("Job", &job, &sample_with_group, &mut problems);
    assert_eq!(problems.len(), 2, "{problems:#?}");
}
