//! Contract tests: the samples Nomad publishes in its API documentation
//! (copied into `tests/contracts/`, provenance in `PROVENANCE.md` there)
//! against this crate's types.
//!
//! Responses must decode, with field values checked against the file.
//! Requests must equal our encoding of the equivalent typed value, both
//! built by hand and after a decode→encode round trip, compared as
//! `serde_json::Value`.
//!
//! One normalisation is applied, and only where said: members whose value
//! is `null` are removed from both sides. Our `Option` fields encode `None`
//! by omitting the member rather than writing `null`; Nomad's Go decoder
//! reads an absent member and a `null` one the same way (nil pointer, slice
//! or map), so the two encodings mean the same job. No other difference is
//! ignored: fields we do not model are kept in `extra` and written back, so
//! they take part in every comparison.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use dbaas_nomad::*;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

fn sample_bytes(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/contracts")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn sample_value(name: &str) -> Value {
    from_json_slice(&sample_bytes(name)).unwrap()
}

fn decode<T: DeserializeOwned>(name: &str) -> T {
    from_json_slice(&sample_bytes(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn encode<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap()
}

/// Removes `null` members of objects, recursively (see the module comment
/// for why this is the one normalisation allowed).
fn strip_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(strip_nulls).collect()),
        other => other,
    }
}

fn keys(extra: &Extra) -> BTreeSet<&str> {
    extra.keys().map(String::as_str).collect()
}

// ---------------------------------------------------------------- requests

#[test]
fn create_request_equals_the_typed_value_and_round_trips_exactly() {
    let sample = sample_value("job-create-request.json");
    let typed = JobRegisterRequest::new(Job {
        id: Some("cache".into()),
        datacenters: Some(vec!["dc1".into()]),
        node_pool: Some("prod".into()),
        task_groups: Some(vec![TaskGroup {
            name: Some("cache".into()),
            networks: Some(vec![NetworkResource {
                dynamic_ports: Some(vec![Port {
                    label: Some("db".into()),
                    to: Some(6379),
                    ..Port::default()
                }]),
                ..NetworkResource::default()
            }]),
            services: Some(vec![Service {
                name: Some("redis-cache".into()),
                port_label: Some("db".into()),
                ..Service::default()
            }]),
            tasks: Some(vec![Task {
                name: Some("redis".into()),
                driver: Some("docker".into()),
                config: Some(json!({"image": "redis:7", "ports": ["db"]})),
                ..Task::default()
            }]),
            ..TaskGroup::default()
        }]),
        ..Job::default()
    });
    assert_eq!(encode(&typed), sample);

    let decoded: JobRegisterRequest = decode("job-create-request.json");
    // Equal to the hand-built value, so every member of the sample landed in
    // a modelled field (nothing in `extra`), and no check-and-set was asked.
    assert_eq!(decoded, typed);
    assert!(!decoded.enforce_index);
    assert_eq!(encode(&decoded), sample);
}

#[test]
fn update_request_carries_check_and_set() {
    let sample = sample_value("job-update-request.json");
    let typed = JobRegisterRequest::new(Job::default()).check_and_set(4);
    assert_eq!(encode(&typed), sample);

    let decoded: JobRegisterRequest = decode("job-update-request.json");
    assert!(decoded.enforce_index);
    assert_eq!(decoded.job_modify_index, Some(4));
    assert_eq!(decoded, typed);
    assert_eq!(encode(&decoded), sample);
}

#[test]
fn plan_request_equals_the_typed_value() {
    let sample = sample_value("job-plan-request.json");
    let typed = JobPlanRequest {
        job: Job::default(),
        diff: true,
        policy_override: false,
        ..JobPlanRequest::default()
    };
    assert_eq!(encode(&typed), sample);
    let decoded: JobPlanRequest = decode("job-plan-request.json");
    assert_eq!(decoded, typed);
    assert_eq!(encode(&decoded), sample);
}

#[test]
fn dispatch_request_equals_the_typed_value() {
    let sample = sample_value("job-dispatch-request.json");
    let typed = JobDispatchRequest {
        // The published payload is an illustration, not valid base64; it is
        // carried as the string it is.
        payload: Some("A28C3==".into()),
        meta: Some([("key".to_string(), "Value".to_string())].into()),
        ..JobDispatchRequest::default()
    };
    assert_eq!(encode(&typed), sample);
    let decoded: JobDispatchRequest = decode("job-dispatch-request.json");
    assert_eq!(decoded, typed);
    assert_eq!(encode(&decoded), sample);

    // Raw bytes are base64-encoded for Nomad.
    let with_bytes = JobDispatchRequest::default().with_payload(b"hello");
    assert_eq!(with_bytes.payload.as_deref(), Some("aGVsbG8="));
}

#[test]
fn parse_request_equals_the_typed_value() {
    let sample = sample_value("job-parse-request.json");
    let typed = JobParseRequest {
        job_hcl: "job \"example\" {\n  type = \"service\"\n  group \"cache\" {}\n}".into(),
        canonicalize: true,
        ..JobParseRequest::default()
    };
    assert_eq!(encode(&typed), sample);
    let decoded: JobParseRequest = decode("job-parse-request.json");
    assert_eq!(decoded, typed);
    assert_eq!(encode(&decoded), sample);
}

#[test]
fn json_jobs_example_decodes_with_its_key_fields() {
    let request: JobRegisterRequest = decode("json-jobs-example.json");
    let job = &request.job;
    assert_eq!(job.id.as_deref(), Some("example"));
    assert_eq!(job.name.as_deref(), Some("example"));
    assert_eq!(job.r#type.as_deref(), Some("service"));
    assert_eq!(job.datacenters, Some(vec!["dc1".to_string()]));
    assert_eq!(job.node_pool.as_deref(), Some("prod"));
    // `null` in the sample is "not set", as Nomad reads it.
    assert_eq!(job.region, None);
    assert_eq!(job.namespace, None);
    assert_eq!(job.version, None);
    assert_eq!(job.submit_time, None);
    assert_eq!(job.dispatched, Some(false));

    let groups = job.task_groups.as_ref().unwrap();
    assert_eq!(groups.len(), 1);
    let group = &groups[0];
    assert_eq!(group.name.as_deref(), Some("cache"));
    assert_eq!(group.count, Some(1));
    assert_eq!(group.disconnect, None);
    let restart = group.restart_policy.as_ref().unwrap();
    assert_eq!(restart.interval, Some(1_800_000_000_000));
    assert_eq!(restart.attempts, Some(2));
    assert_eq!(restart.delay, Some(15_000_000_000));
    assert_eq!(restart.mode.as_deref(), Some("fail"));
    let port = &group.networks.as_ref().unwrap()[0]
        .dynamic_ports
        .as_ref()
        .unwrap()[0];
    assert_eq!(port.label.as_deref(), Some("db"));
    assert_eq!(port.value, Some(0));
    assert_eq!(port.to, Some(6379));
    let service = &group.services.as_ref().unwrap()[0];
    assert_eq!(service.name.as_deref(), Some("redis-cache"));
    assert_eq!(
        service.tags,
        Some(vec!["global".to_string(), "cache".to_string()])
    );
    assert_eq!(service.provider.as_deref(), Some("nomad"));

    let task = &group.tasks.as_ref().unwrap()[0];
    assert_eq!(task.name.as_deref(), Some("redis"));
    assert_eq!(task.driver.as_deref(), Some("docker"));
    assert_eq!(task.config.as_ref().unwrap()["image"], "redis:7");
    assert_eq!(task.config.as_ref().unwrap()["auth_soft_fail"], true);
    let resources = task.resources.as_ref().unwrap();
    assert_eq!(resources.cpu, Some(500));
    assert_eq!(resources.memory_mb, Some(256));
    assert_eq!(resources.memory_max_mb, None);
    assert_eq!(task.leader, Some(false));
    // Nomad's defaults written out explicitly stay distinguishable from
    // "not set".
    assert_eq!(task.kill_signal.as_deref(), Some(""));
    assert_eq!(task.kill_timeout, None);

    // `null` in the sample: not set.
    assert_eq!(job.dispatch_idempotency_token, None);

    // What this crate does not model is known, and kept: a typo in a
    // `rename` would move a member here and fail this test.
    assert_eq!(
        keys(&job.extra),
        BTreeSet::from([
            "AllAtOnce",
            "Affinities",
            "ConsulNamespace",
            "ConsulToken",
            "Migrate",
            "Multiregion",
            "NomadTokenID",
            "Payload",
            "Reschedule",
            "Spreads",
            "Update",
            "VaultNamespace",
            "VaultToken",
        ])
    );
    assert_eq!(job.extra["Migrate"]["HealthCheck"], "checks");
    assert_eq!(
        keys(&group.extra),
        BTreeSet::from([
            "Affinities",
            "Consul",
            "EphemeralDisk",
            "MaxClientDisconnect",
            "Migrate",
            "Scaling",
            "ShutdownDelay",
            "Spreads",
            "StopAfterClientDisconnect",
            "Update",
        ])
    );
    assert_eq!(
        keys(&task.extra),
        BTreeSet::from([
            "Affinities",
            "Artifacts",
            "Constraints",
            "DispatchPayload",
            "Identity",
            "Kind",
            "LogConfig",
            "RestartPolicy",
            "ScalingPolicies",
            "ShutdownDelay",
            "Vault",
        ])
    );
}

#[test]
fn json_jobs_example_round_trips() {
    let sample = sample_value("json-jobs-example.json");
    let decoded: JobRegisterRequest = decode("json-jobs-example.json");
    // Null members normalised away (module comment); nothing else.
    assert_eq!(strip_nulls(encode(&decoded)), strip_nulls(sample));
}

#[test]
fn read_and_parse_responses_round_trip_so_read_modify_write_loses_nothing() {
    for name in [
        "job-read-response.json",
        "job-parse-response.json",
        "json-jobs-example.json",
    ] {
        let mut sample = sample_value(name);
        if let Some(inner) = sample.get("Job") {
            sample = inner.clone();
        }
        let job: Job = serde_json::from_value(sample.clone()).unwrap();
        assert_eq!(strip_nulls(encode(&job)), strip_nulls(sample), "{name}");
    }
}

// --------------------------------------------------------------- responses

#[test]
fn register_and_stop_responses_decode() {
    let created: JobRegisterResponse = decode("job-create-response.json");
    assert_eq!(created.eval_id, "");
    assert_eq!(created.job_modify_index, 109);
    assert_eq!(created.eval_create_index, 0);
    assert!(!created.known_leader);

    let updated: JobRegisterResponse = decode("job-update-response.json");
    assert_eq!(updated.eval_id, "d092fdc0-e1fd-2536-67d8-43af8ca798ac");
    assert_eq!(updated.eval_create_index, 35);
    assert_eq!(updated.job_modify_index, 34);

    let stopped: JobStopResponse = decode("job-stop-response.json");
    assert_eq!(stopped.eval_id, "d092fdc0-e1fd-2536-67d8-43af8ca798ac");
    assert_eq!(stopped.eval_create_index, 35);
    assert_eq!(stopped.job_modify_index, 34);
}

#[test]
fn read_job_response_decodes() {
    let job: Job = decode("job-read-response.json");
    assert_eq!(job.region.as_deref(), Some("global"));
    assert_eq!(job.namespace.as_deref(), Some("apps"));
    assert_eq!(job.id.as_deref(), Some("example"));
    assert_eq!(job.r#type.as_deref(), Some("batch"));
    assert_eq!(job.priority, Some(50));
    assert_eq!(job.status.as_deref(), Some("running"));
    assert_eq!(job.job_modify_index, Some(7));
    assert_eq!(job.modify_index, Some(7));
    let constraint = &job.constraints.as_ref().unwrap()[0];
    assert_eq!(constraint.l_target.as_deref(), Some("${attr.kernel.name}"));
    assert_eq!(constraint.r_target.as_deref(), Some("linux"));
    assert_eq!(constraint.operand.as_deref(), Some("="));
    assert_eq!(job.meta.as_ref().unwrap()["baz"], "pipe");

    let periodic = job.periodic.as_ref().unwrap();
    assert_eq!(periodic.enabled, Some(true));
    assert_eq!(periodic.spec.as_deref(), Some("* * * * *"));
    assert_eq!(periodic.prohibit_overlap, Some(true));
    let parameterized = job.parameterized_job.as_ref().unwrap();
    assert_eq!(parameterized.payload.as_deref(), Some("required"));
    assert_eq!(parameterized.meta_required, Some(vec!["foo".to_string()]));

    let group = &job.task_groups.as_ref().unwrap()[0];
    assert_eq!(
        group.restart_policy.as_ref().unwrap().delay,
        Some(25_000_000_000)
    );
    let tasks = group.tasks.as_ref().unwrap();
    assert_eq!(
        tasks[0].lifecycle.as_ref().unwrap().hook.as_deref(),
        Some("prestart")
    );
    let redis = &tasks[1];
    assert_eq!(redis.user.as_deref(), Some("foo-user"));
    assert_eq!(redis.env.as_ref().unwrap()["foo"], "bar");
    assert_eq!(redis.kill_timeout, Some(5_000_000_000));
    let template = &redis.templates.as_ref().unwrap()[0];
    assert_eq!(template.dest_path.as_deref(), Some("local/config.conf"));
    assert_eq!(template.change_signal.as_deref(), Some("SIGUSR1"));
    assert_eq!(template.splay, Some(5_000_000_000));
    let check = &redis.services.as_ref().unwrap()[0].checks.as_ref().unwrap()[0];
    assert_eq!(check.r#type.as_deref(), Some("tcp"));
    assert_eq!(check.interval, Some(10_000_000_000));
    let network = &redis.resources.as_ref().unwrap().networks.as_ref().unwrap()[0];
    assert_eq!(network.mbits, Some(10));
    assert_eq!(
        network.reserved_ports.as_ref().unwrap()[0].value,
        Some(25566)
    );
}

#[test]
fn parse_response_decodes() {
    let job: Job = decode("job-parse-response.json");
    assert_eq!(job.id.as_deref(), Some("my-job"));
    assert_eq!(job.namespace.as_deref(), Some("default"));
    assert_eq!(job.node_pool.as_deref(), Some("prod"));
    assert_eq!(job.version, Some(0));
    assert_eq!(job.stop, Some(false));
    assert_eq!(job.submit_time, None);
    assert_eq!(job.task_groups, None);
}

#[test]
fn job_list_decodes() {
    let jobs: Vec<JobListStub> = decode("jobs-list-response.json");
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].id, "example");
    assert_eq!(jobs[0].status, "pending");
    assert_eq!(jobs[0].modify_index, 93);
    assert_eq!(jobs[0].job_modify_index, 52);
    let summary = jobs[0].job_summary.as_ref().unwrap();
    assert_eq!(summary.summary["cache"].queued, 1);
    assert_eq!(summary.summary["cache"].complete, 1);
    assert_eq!(summary.modify_index, 96);
}

#[test]
fn dispatch_response_decodes() {
    let answer: JobDispatchResponse = decode("job-dispatch-response.json");
    assert_eq!(
        answer.dispatched_job_id,
        "example/dispatch-1485408778-81644024"
    );
    assert_eq!(answer.eval_id, "e5f55fac-bc69-119d-528a-1fc7ade5e02c");
    assert_eq!(answer.eval_create_index, 13);
    assert_eq!(answer.job_create_index, 12);
    assert_eq!(answer.index, 13);
}

#[test]
fn plan_response_decodes() {
    let plan: JobPlanResponse = decode("job-plan-response.json");
    assert_eq!(plan.job_modify_index, 0);
    assert_eq!(plan.next_periodic_launch, "0001-01-01T00:00:00Z");
    let diff = plan.diff.as_ref().unwrap();
    assert_eq!(diff["Type"], "Added");
    assert_eq!(
        diff["TaskGroups"][0]["Tasks"][0]["Fields"][0]["New"],
        "docker"
    );
    let failed = &plan.failed_tg_allocs["cache"];
    assert_eq!(failed.coalesced_failures, 3);
    assert_eq!(failed.nodes_exhausted, 1);
    assert_eq!(failed.dimension_exhausted["cpu"], 1);
    assert_eq!(failed.nodes_available["dc1"], 1);
    assert_eq!(failed.allocation_time, 46415);
    let updates = &plan.annotations.as_ref().unwrap().desired_tg_updates["cache"];
    assert_eq!(updates.place, 11);
    assert_eq!(updates.stop, 0);
    assert_eq!(plan.created_evals.len(), 1);
    assert_eq!(plan.created_evals[0].status, "blocked");
    assert_eq!(
        plan.created_evals[0].previous_eval,
        "80318ae4-7eda-e570-e59d-bc11df134817"
    );
}

#[test]
fn evaluations_decode() {
    for name in [
        "job-evaluations-list-response.json",
        "evaluations-list-response.json",
    ] {
        let evals: Vec<Evaluation> = decode(name);
        assert_eq!(evals.len(), 1, "{name}");
        assert_eq!(evals[0].status, "complete");
        assert_eq!(evals[0].triggered_by, "job-register");
        assert_eq!(evals[0].queued_allocations["cache"], 0);
        assert!(evals[0].failed_tg_allocs.is_empty(), "null reads as empty");
    }
    let evals: Vec<Evaluation> = decode("job-evaluations-list-response.json");
    assert_eq!(evals[0].id, "a9c5effc-2242-51b2-f1fe-054ee11ab189");
    assert_eq!(evals[0].modify_index, 10);

    let eval: Evaluation = decode("evaluation-read-response.json");
    assert_eq!(eval.id, "2deb5f06-a100-f01a-3316-5e501a4965e7");
    assert_eq!(eval.status, "blocked");
    assert_eq!(eval.triggered_by, "queued-allocs");
    // Beyond 2^53: exact only as a 64-bit integer.
    assert_eq!(eval.create_time, 1_647_394_818_583_344_000);
    assert_eq!(eval.failed_tg_allocs["cache"].nodes_available["dc1"], 0);
    assert_eq!(eval.related_evals.len(), 1);
    assert_eq!(eval.related_evals[0].triggered_by, "node-drain");
    assert_eq!(
        eval.related_evals[0].deployment_id,
        "79ae0a49-acf6-0fcf-183f-8646f3167b88"
    );
    assert_eq!(eval.related_evals[0].modify_time, 1_647_394_818_583_565_000);
}

#[test]
fn deployments_decode() {
    let deployment: Deployment = decode("deployment-read-response.json");
    assert_eq!(deployment.id, "70638f62-5c19-193e-30d6-f9d6e689ab8e");
    assert_eq!(deployment.job_version, 1);
    assert_eq!(deployment.job_spec_modify_index, 17);
    assert_eq!(deployment.status, "running");
    assert_eq!(deployment.task_groups["cache"].desired_canaries, 1);
    assert_eq!(deployment.task_groups["cache"].desired_total, 3);

    let listed: Vec<Deployment> = decode("deployments-list-response.json");
    assert_eq!(listed, vec![deployment]);

    let latest: Option<Deployment> = decode("job-deployment-latest-response.json");
    let latest = latest.unwrap();
    assert_eq!(latest.job_id, "my-job");
    assert_eq!(latest.status_description, "Deployment is running");
    let group = &latest.task_groups["cache"];
    assert!(group.auto_revert);
    assert_eq!(group.placed_canaries.len(), 2);
    assert_eq!(group.healthy_allocs, 2);

    let history: Vec<Deployment> = decode("job-deployments-list-response.json");
    assert_eq!(history.len(), 2);
    assert_eq!(history[0], latest);
    assert_eq!(history[1].status, "successful");
    assert!(history[1].task_groups["cache"].placed_canaries.is_empty());

    // A job that never had a deployment: Nomad answers `null`.
    let none: Option<Deployment> = from_json_slice(b"null").unwrap();
    assert_eq!(none, None);
}

#[test]
fn allocation_read_with_its_duplicate_key_decodes_as_go_does() {
    let bytes = sample_bytes("allocation-read-response.json");
    // The quirk is real: a derived decoder alone rejects the sample...
    let strict = serde_json::from_slice::<Allocation>(&bytes).unwrap_err();
    assert!(strict.to_string().contains("duplicate field"), "{strict}");
    // ...and ours keeps the last value, as Go's decoder does.
    let alloc: Allocation = from_json_slice(&bytes).unwrap();
    assert_eq!(alloc.previous_allocation, "");

    assert_eq!(alloc.id, "a8198d79-cfdb-6593-a999-1e9adabcba2e");
    assert_eq!(alloc.name, "example.cache[0]");
    assert_eq!(
        alloc.next_allocation,
        "cd13d9b9-4f97-7184-c88b-7b451981616b"
    );
    assert_eq!(alloc.client_status, "running");
    assert_eq!(alloc.desired_status, "run");
    assert_eq!(alloc.alloc_modify_index, 54);
    assert_eq!(alloc.create_time, 1_495_747_371_794_276_400);
    // `Delay` published as a string here.
    let event = &alloc.reschedule_tracker.as_ref().unwrap().events[0];
    assert_eq!(event.delay, 5_000_000_000);
    assert_eq!(event.reschedule_time, 1_517_434_161_192_946_200);

    let job = alloc.job.as_ref().unwrap();
    assert_eq!(job.id.as_deref(), Some("example"));
    assert_eq!(job.job_modify_index, Some(52));
    let port = &alloc.resources.as_ref().unwrap().networks.as_ref().unwrap()[0];
    assert_eq!(port.ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(port.dynamic_ports.as_ref().unwrap()[0].value, Some(23116));
    assert_eq!(
        alloc.task_resources["redis"].networks.as_ref().unwrap()[0]
            .dynamic_ports
            .as_ref()
            .unwrap()[0]
            .value,
        Some(23116)
    );
    let metrics = alloc.metrics.as_ref().unwrap();
    assert_eq!(metrics.nodes_evaluated, 1);
    assert_eq!(metrics.allocation_time, 31729);

    let redis = &alloc.task_states["redis"];
    assert_eq!(redis.state, "running");
    assert_eq!(redis.finished_at.as_deref(), Some("0001-01-01T00:00:00Z"));
    assert_eq!(redis.events.len(), 3);
    assert_eq!(redis.events[1].driver_message, "Downloading image redis:7");
    assert_eq!(redis.events[2].r#type, "Started");
    assert_eq!(redis.events[2].time, 1_495_747_379_525_667_800);
}

#[test]
fn allocation_lists_decode() {
    let allocs: Vec<AllocationListStub> = decode("job-allocations-list-response.json");
    assert_eq!(allocs.len(), 1);
    let alloc = &allocs[0];
    assert_eq!(alloc.id, "ed344e0a-7290-d117-41d3-a64f853ca3c2");
    assert_eq!(alloc.client_status, "running");
    assert_eq!(
        alloc.previous_allocation,
        "516d2753-0513-cfc7-57ac-2d6fac18b9dc"
    );
    // `Delay` published as a number here.
    assert_eq!(
        alloc.reschedule_tracker.as_ref().unwrap().events[0].delay,
        5_000_000_000
    );
    assert_eq!(alloc.create_time, 1_495_755_675_944_527_600);
    let redis = &alloc.task_states["redis"];
    assert_eq!(redis.events.len(), 4);
    assert_eq!(redis.events[1].message, "Building Task Directory");
    assert_eq!(
        redis.started_at.as_deref(),
        Some("2017-05-25T23:41:23.240184101Z")
    );

    let allocs: Vec<AllocationListStub> = decode("allocations-list-response.json");
    let alloc = &allocs[0];
    assert_eq!(alloc.node_name, "linux");
    assert_eq!(alloc.job_version, 0);
    let health = alloc.deployment_status.as_ref().unwrap();
    assert_eq!(health.healthy, Some(true));
    assert_eq!(health.modify_index, 15);
    assert_eq!(alloc.reschedule_tracker, None);
    let redis = &alloc.task_states["redis"];
    assert_eq!(redis.finished_at, None);
    assert_eq!(
        redis.events[1].details["message"],
        "Building Task Directory"
    );
    assert_eq!(redis.events[2].display_message, "Task started by client");
}

#[test]
fn log_frames_decode_and_their_data_is_base64() {
    let frames: Vec<StreamFrame> = decode("client-fs-logs-frames.json");
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[0].file, "alloc/logs/redis.stdout.0");
    assert_eq!(frames[0].offset, 3_604_480);
    assert_eq!(frames[0].file_event, None);
    // The published data is cut short with "..." (PROVENANCE.md), so it is
    // not valid base64 as it stands; the part before the cut is.
    assert!(frames[0].decode_data().is_err());
    let uncut = StreamFrame {
        data: frames[0].data.trim_end_matches("...").to_string(),
        ..frames[0].clone()
    };
    assert_eq!(uncut.decode_data().unwrap(), b"531932\n531933\n531934\n531");
    assert_eq!(frames[1].file_event.as_deref(), Some("file deleted"));
    assert_eq!(frames[1].data, "");

    // On the wire the frames are concatenated objects, not an array.
    let wire: Vec<u8> = sample_value("client-fs-logs-frames.json")
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|frame| serde_json::to_vec(frame).unwrap())
        .collect();
    assert_eq!(parse_stream_frames(&wire).unwrap(), frames);
    assert!(parse_stream_frames(&wire[..wire.len() - 3]).is_err());
}

#[test]
fn unknown_fields_are_tolerated_everywhere() {
    // Newer Nomad versions add fields; a decoder that refused them would
    // break on upgrade.
    let mut alloc = sample_value("job-allocations-list-response.json");
    alloc[0]["FieldFromTheFuture"] = json!({"nested": [1, 2]});
    alloc[0]["TaskStates"]["redis"]["AnotherOne"] = json!(true);
    let decoded: Vec<AllocationListStub> = serde_json::from_value(alloc).unwrap();
    assert_eq!(decoded[0].client_status, "running");

    let mut job = sample_value("job-read-response.json");
    job["TaskGroups"][0]["Tasks"][1]["Resources"]["NUMA"] = json!({"Affinity": "require"});
    let decoded: Job = serde_json::from_value(job).unwrap();
    let resources = decoded.task_groups.unwrap()[0].tasks.as_ref().unwrap()[1]
        .resources
        .clone()
        .unwrap();
    assert_eq!(resources.extra["NUMA"]["Affinity"], "require");
}

/// The property names of a schema in the OpenAPI document (no YAML parser
/// needed: its layout is fixed, 4 spaces for a schema, 8 for a property).
fn openapi_properties(schema: &str) -> BTreeSet<String> {
    let text = String::from_utf8(sample_bytes("openapi-v1.4.yaml")).unwrap();
    let start = text
        .find(&format!("\n    {schema}:\n      properties:\n"))
        .unwrap_or_else(|| panic!("schema {schema} not in the OpenAPI document"));
    let mut names = BTreeSet::new();
    for line in text[start..].lines().skip(3) {
        if line.starts_with("      type:") || !line.starts_with("      ") {
            break;
        }
        if let Some(name) = line.strip_prefix("        ") {
            if !name.starts_with(' ') {
                names.insert(name.trim_end_matches(':').to_string());
            }
        }
    }
    names
}

/// No JSON sample of the Variables API is published; its OpenAPI schema
/// is the contract: every field of ours is one of its properties, and a
/// fully set variable carries all of them.
#[test]
fn variable_fields_are_the_openapi_schemas() {
    let schema = openapi_properties("Variable");
    assert_eq!(
        schema,
        BTreeSet::from(
            [
                "CreateIndex",
                "CreateTime",
                "Items",
                "ModifyIndex",
                "ModifyTime",
                "Namespace",
                "Path"
            ]
            .map(String::from)
        )
    );
    let full = Variable {
        namespace: "default".into(),
        path: "nomad/jobs/x".into(),
        items: BTreeMap::from([("k".to_string(), "v".to_string())]),
        create_index: 1,
        modify_index: 2,
        create_time: 3,
        modify_time: 4,
    };
    let encoded = encode(&full);
    let ours: BTreeSet<String> = encoded.as_object().unwrap().keys().cloned().collect();
    assert_eq!(ours, schema);
    let back: Variable = serde_json::from_value(encoded).unwrap();
    assert_eq!(back, full);
    // Go's null map decodes as empty.
    let v: Variable = from_json_slice(br#"{"Path":"p","Items":null}"#).unwrap();
    assert!(v.items.is_empty());
}
