//! The client against a fake Nomad: an axum server on 127.0.0.1:0 that
//! answers from a script and records what it was sent. A test fixture only;
//! it knows nothing of Nomad beyond the replies each test scripts.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use dbaas_nomad::*;
use serde_json::{json, Value};

struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

fn reply(status: u16, body: impl Into<Vec<u8>>) -> Reply {
    Reply {
        status,
        headers: Vec::new(),
        body: body.into(),
    }
}

#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    /// The path as sent, still percent-encoded.
    path: String,
    query: BTreeMap<String, String>,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Seen {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Default)]
struct Script {
    replies: VecDeque<Reply>,
    seen: Vec<Seen>,
}

#[derive(Clone, Default)]
struct Fake(Arc<Mutex<Script>>);

impl Fake {
    fn seen(&self) -> Vec<Seen> {
        self.0.lock().unwrap().seen.clone()
    }
}

async fn answer(
    State(fake): State<Fake>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let parsed = reqwest::Url::parse(&format!("http://fake{uri}")).unwrap();
    let mut script = fake.0.lock().unwrap();
    script.seen.push(Seen {
        method,
        path: uri.path().to_string(),
        query: parsed.query_pairs().into_owned().collect(),
        headers,
        body: body.to_vec(),
    });
    let Some(next) = script.replies.pop_front() else {
        return (
            StatusCode::IM_A_TEAPOT,
            "the test scripted no reply for this",
        )
            .into_response();
    };
    let mut response = (StatusCode::from_u16(next.status).unwrap(), next.body).into_response();
    for (name, value) in next.headers {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    response
}

/// Starts a fake answering with `replies` in order; returns it and a config
/// pointing at it with fast retries.
async fn fake_nomad(replies: Vec<Reply>) -> (Fake, NomadConfig) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let fake = Fake::default();
    fake.0.lock().unwrap().replies = replies.into();
    let app = Router::new().fallback(answer).with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let config = NomadConfig {
        address,
        retry: RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(5),
        },
        ..NomadConfig::default()
    };
    (fake, config)
}

fn sample(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/contracts/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[tokio::test]
async fn token_header_and_namespace_and_region_are_sent() {
    let (fake, mut config) = fake_nomad(vec![reply(200, sample("job-read-response.json"))]).await;
    config.token = Some("s3cr3t-token".into());
    config.namespace = Some("apps".into());
    config.region = Some("eu-west".into());
    let client = NomadClient::new(config).unwrap();

    let job = client
        .read_job("example", &QueryOptions::now())
        .await
        .unwrap();
    assert_eq!(job.value.id.as_deref(), Some("example"));

    let seen = &fake.seen()[0];
    assert_eq!(seen.method, Method::GET);
    assert_eq!(seen.path, "/v1/job/example");
    assert_eq!(seen.headers["x-nomad-token"], "s3cr3t-token");
    assert_eq!(seen.query["namespace"], "apps");
    assert_eq!(seen.query["region"], "eu-west");
    assert!(!seen.query.contains_key("index"), "not a blocking query");
    // The token never shows in the configuration's debug output.
    assert!(!format!("{:?}", client.config()).contains("s3cr3t"));
}

#[tokio::test]
async fn register_sends_check_and_set_fields() {
    let (fake, config) = fake_nomad(vec![reply(200, sample("job-update-response.json"))]).await;
    let client = NomadClient::new(config).unwrap();
    let job = Job {
        id: Some("pg-main".into()),
        r#type: Some("service".into()),
        ..Job::default()
    };

    let answer = client
        .register_job(&JobRegisterRequest::new(job).check_and_set(7))
        .await
        .unwrap();
    assert_eq!(answer.job_modify_index, 34);
    assert_eq!(answer.eval_id, "d092fdc0-e1fd-2536-67d8-43af8ca798ac");

    let seen = &fake.seen()[0];
    assert_eq!(seen.method, Method::POST);
    assert_eq!(seen.path, "/v1/jobs");
    assert_eq!(seen.headers["content-type"], "application/json");
    assert!(
        !seen.headers.contains_key("x-nomad-token"),
        "no token configured"
    );
    assert_eq!(
        seen.json(),
        json!({
            "Job": {"ID": "pg-main", "Type": "service"},
            "EnforceIndex": true,
            "JobModifyIndex": 7
        })
    );
}

#[tokio::test]
async fn blocking_query_sends_index_and_wait_and_returns_the_index() {
    let mut answer = reply(200, sample("job-allocations-list-response.json"));
    answer.headers = vec![
        ("X-Nomad-Index", "43".into()),
        ("X-Nomad-KnownLeader", "true".into()),
        ("X-Nomad-LastContact", "12".into()),
    ];
    let (fake, config) = fake_nomad(vec![answer]).await;
    let client = NomadClient::new(config).unwrap();

    let allocs = client
        .job_allocations(
            "example",
            &QueryOptions::blocking(42, Duration::from_secs(5)),
        )
        .await
        .unwrap();
    assert_eq!(allocs.value.len(), 1);
    assert_eq!(allocs.value[0].client_status, "running");
    assert_eq!(
        allocs.meta,
        QueryMeta {
            last_index: 43,
            known_leader: true,
            last_contact: Duration::from_millis(12),
        }
    );

    let seen = &fake.seen()[0];
    assert_eq!(seen.path, "/v1/job/example/allocations");
    assert_eq!(seen.query["index"], "42");
    assert_eq!(seen.query["wait"], "5s");
}

#[tokio::test]
async fn a_server_error_is_retried_and_the_retry_succeeds() {
    let (fake, config) = fake_nomad(vec![
        reply(500, "No cluster leader"),
        reply(200, sample("deployment-read-response.json")),
    ])
    .await;
    let client = NomadClient::new(config).unwrap();

    let deployment = client
        .read_deployment("70638f62-5c19-193e-30d6-f9d6e689ab8e", &QueryOptions::now())
        .await
        .unwrap();
    assert_eq!(deployment.value.status, "running");

    let seen = fake.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].path, seen[1].path);
}

#[tokio::test]
async fn a_client_error_is_not_retried_and_nomads_message_surfaces() {
    let (fake, config) = fake_nomad(vec![
        reply(
            400,
            "1 error occurred:\n\t* Task group cache validation failed\n",
        ),
        reply(200, sample("job-create-response.json")),
    ])
    .await;
    let client = NomadClient::new(config).unwrap();

    let err = client
        .register_job(&JobRegisterRequest::new(Job::default()))
        .await
        .unwrap_err();
    assert_eq!(fake.seen().len(), 1, "a 400 is not retried");
    assert_eq!(err.status(), Some(400));
    let message = err.to_string();
    assert!(
        message.contains("Nomad rejected POST /v1/jobs with 400"),
        "{message}"
    );
    assert!(
        message.contains("Task group cache validation failed"),
        "{message}"
    );
    assert!(message.contains("fix the request"), "{message}");
}

#[tokio::test]
async fn server_errors_stop_after_the_configured_attempts() {
    let (fake, config) = fake_nomad(vec![
        reply(503, "rpc error: No cluster leader"),
        reply(503, "rpc error: No cluster leader"),
        reply(503, "rpc error: No cluster leader"),
        reply(200, "{}"),
    ])
    .await;
    let client = NomadClient::new(config).unwrap();

    let err = client
        .read_evaluation("e1", &QueryOptions::now())
        .await
        .unwrap_err();
    assert_eq!(fake.seen().len(), 3);
    match &err {
        NomadError::Server {
            status, attempts, ..
        } => assert_eq!((*status, *attempts), (503, 3)),
        other => panic!("expected a server error, got {other:?}"),
    }
    assert!(err.to_string().contains("No cluster leader"), "{err}");
}

#[tokio::test]
async fn a_lost_check_and_set_is_reported_as_such_and_not_retried() {
    let (fake, config) = fake_nomad(vec![reply(
        500,
        "Enforcing job modify index 7: job exists with conflicting job modify index: 9",
    )])
    .await;
    let client = NomadClient::new(config).unwrap();

    let err = client
        .register_job(&JobRegisterRequest::new(Job::default()).check_and_set(7))
        .await
        .unwrap_err();
    assert_eq!(fake.seen().len(), 1);
    assert!(
        matches!(err, NomadError::CheckAndSetConflict { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("read the job again"), "{err}");
}

#[tokio::test]
async fn an_unreachable_nomad_is_retried_then_reported_with_its_address() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // A port that was free a moment ago: nothing listens there now.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let client = NomadClient::new(NomadConfig {
        address: format!("http://127.0.0.1:{port}"),
        retry: RetryPolicy {
            max_attempts: 2,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(1),
        },
        ..NomadConfig::default()
    })
    .unwrap();

    let err = client
        .read_job("x", &QueryOptions::now())
        .await
        .unwrap_err();
    match &err {
        NomadError::Transport { attempts, .. } => assert_eq!(*attempts, 2),
        other => panic!("expected a transport error, got {other:?}"),
    }
    let message = err.to_string();
    assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
    assert!(message.contains("NOMAD_ADDR"), "{message}");
}

#[tokio::test]
async fn ids_are_percent_encoded_and_stop_and_dispatch_send_their_parameters() {
    let (fake, config) = fake_nomad(vec![
        reply(200, sample("job-stop-response.json")),
        reply(200, sample("job-dispatch-response.json")),
    ])
    .await;
    let client = NomadClient::new(config).unwrap();

    // Dispatched children have a '/' in their ID: it must stay one segment.
    let stopped = client
        .stop_job("example/dispatch-1485408778-81644024", true)
        .await
        .unwrap();
    assert_eq!(stopped.eval_create_index, 35);

    let request = JobDispatchRequest {
        meta: Some([("database".to_string(), "pg-main".to_string())].into()),
        ..JobDispatchRequest::default()
    };
    let dispatched = client
        .dispatch_job("pg-backup", &request, Some("op-0193"))
        .await
        .unwrap();
    assert_eq!(
        dispatched.dispatched_job_id,
        "example/dispatch-1485408778-81644024"
    );

    let seen = fake.seen();
    assert_eq!(seen[0].method, Method::DELETE);
    assert_eq!(
        seen[0].path,
        "/v1/job/example%2Fdispatch-1485408778-81644024"
    );
    assert_eq!(seen[0].query["purge"], "true");
    assert_eq!(seen[1].method, Method::POST);
    assert_eq!(seen[1].path, "/v1/job/pg-backup/dispatch");
    assert_eq!(seen[1].query["idempotency_token"], "op-0193");
    assert_eq!(seen[1].json(), json!({"Meta": {"database": "pg-main"}}));
}

#[tokio::test]
async fn plan_and_parse_use_their_endpoints() {
    let (fake, config) = fake_nomad(vec![
        reply(200, sample("job-plan-response.json")),
        reply(200, sample("job-parse-response.json")),
    ])
    .await;
    let client = NomadClient::new(config).unwrap();

    let plan = client
        .plan_job(&JobPlanRequest {
            job: Job {
                id: Some("example".into()),
                ..Job::default()
            },
            diff: true,
            ..JobPlanRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(plan.failed_tg_allocs["cache"].dimension_exhausted["cpu"], 1);

    let hcl = "job \"my-job\" {\n  group \"g\" {}\n}";
    let parsed = client
        .parse_job(&JobParseRequest {
            job_hcl: hcl.into(),
            canonicalize: true,
            ..JobParseRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(parsed.id.as_deref(), Some("my-job"));

    let seen = fake.seen();
    assert_eq!(seen[0].path, "/v1/job/example/plan");
    assert_eq!(seen[0].json()["Diff"], true);
    assert_eq!(seen[1].path, "/v1/jobs/parse");
    assert_eq!(seen[1].json(), json!({"JobHCL": hcl, "Canonicalize": true}));

    // Planning a job without an ID is refused before anything is sent.
    let err = client
        .plan_job(&JobPlanRequest::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no ID"), "{err}");
    assert_eq!(fake.seen().len(), 2);
}

#[tokio::test]
async fn logs_are_read_plain_and_a_missing_deployment_is_none() {
    let log = b"FATAL:  could not open configuration file\n\xff".to_vec();
    let (fake, config) = fake_nomad(vec![reply(200, log.clone()), reply(200, "null")]).await;
    let client = NomadClient::new(config).unwrap();

    let bytes = client
        .allocation_logs("a8198d79", "postgres", LogStream::Stderr, Some(4096))
        .await
        .unwrap();
    assert_eq!(bytes, log, "raw bytes, not necessarily UTF-8");

    let latest = client
        .latest_deployment("pg-main", &QueryOptions::now())
        .await
        .unwrap();
    assert_eq!(latest.value, None);

    let seen = fake.seen();
    assert_eq!(seen[0].path, "/v1/client/fs/logs/a8198d79");
    assert_eq!(seen[0].query["task"], "postgres");
    assert_eq!(seen[0].query["type"], "stderr");
    assert_eq!(seen[0].query["plain"], "true");
    assert_eq!(seen[0].query["origin"], "end");
    assert_eq!(seen[0].query["offset"], "4096");
    assert_eq!(seen[1].path, "/v1/job/pg-main/deployment");
}

#[tokio::test]
async fn an_undecodable_answer_says_what_was_expected() {
    let (_fake, config) = fake_nomad(vec![reply(200, "<html>proxy error</html>")]).await;
    let client = NomadClient::new(config).unwrap();
    let err = client
        .read_allocation("a1", &QueryOptions::now())
        .await
        .unwrap_err();
    assert!(matches!(err, NomadError::Decode { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("GET /v1/allocation/a1 as an allocation"),
        "{message}"
    );
}

#[test]
fn configuration_follows_the_nomad_environment_variables() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let defaults = NomadConfig::from_lookup(|_| None);
    assert_eq!(defaults.address, "http://127.0.0.1:4646");
    assert_eq!(defaults.token, None);

    let env: BTreeMap<&str, &str> = [
        ("NOMAD_ADDR", "https://nomad.internal:4646"),
        ("NOMAD_TOKEN", "tok"),
        ("NOMAD_NAMESPACE", "dbaas"),
        ("NOMAD_REGION", "eu"),
        ("NOMAD_CACERT", "/etc/nomad/ca.pem"),
        ("NOMAD_CLIENT_CERT", ""),
    ]
    .into();
    let config = NomadConfig::from_lookup(|k| env.get(k).map(|v| v.to_string()));
    assert_eq!(config.address, "https://nomad.internal:4646");
    assert_eq!(config.token.as_deref(), Some("tok"));
    assert_eq!(config.namespace.as_deref(), Some("dbaas"));
    assert_eq!(config.region.as_deref(), Some("eu"));
    assert_eq!(
        config.ca_cert.as_deref(),
        Some("/etc/nomad/ca.pem".as_ref())
    );
    assert_eq!(config.client_cert, None, "empty means unset");

    // An unreadable CA file is a clear start-up error.
    let err = NomadClient::new(NomadConfig {
        ca_cert: Some("/nonexistent/ca.pem".into()),
        ..NomadConfig::default()
    })
    .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("cannot read NOMAD_CACERT file /nonexistent/ca.pem"),
        "{message}"
    );

    // A file that is not PEM is one too.
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("ca.pem");
    std::fs::write(&junk, "not a certificate").unwrap();
    let err = NomadClient::new(NomadConfig {
        ca_cert: Some(junk),
        ..NomadConfig::default()
    })
    .unwrap_err();
    assert!(err.to_string().contains("NOMAD_CACERT"), "{err}");

    // Half a client identity is refused.
    let err = NomadClient::new(NomadConfig {
        client_cert: Some("/etc/nomad/cli.pem".into()),
        ..NomadConfig::default()
    })
    .unwrap_err();
    assert!(err.to_string().contains("must be set together"), "{err}");

    // A bare host:port is accepted, as the nomad CLI does; other schemes not.
    assert!(NomadClient::new(NomadConfig {
        address: "127.0.0.1:4646".into(),
        ..NomadConfig::default()
    })
    .is_ok());
    let err = NomadClient::new(NomadConfig {
        address: "unix:///var/run/nomad.sock".into(),
        ..NomadConfig::default()
    })
    .unwrap_err();
    assert!(err.to_string().contains("not supported"), "{err}");
}

#[test]
fn backoff_doubles_up_to_its_bound() {
    let policy = RetryPolicy {
        max_attempts: 5,
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_millis(350),
    };
    assert_eq!(policy.backoff(1), Duration::from_millis(100));
    assert_eq!(policy.backoff(2), Duration::from_millis(200));
    assert_eq!(policy.backoff(3), Duration::from_millis(350));
    assert_eq!(policy.backoff(40), Duration::from_millis(350));
}

#[tokio::test]
async fn variables_are_read_written_with_cas_and_deleted_by_path() {
    let stored = json!({
        "Namespace": "default",
        "Path": "nomad/jobs/dbaas-orders-1a2b3c4d",
        "Items": {"superuser_password": "s3cret"},
        "CreateIndex": 7,
        "ModifyIndex": 9,
        "CreateTime": 1_700_000_000_000_000_000i64,
        "ModifyTime": 1_700_000_000_000_000_001i64
    });
    let (fake, config) = fake_nomad(vec![
        reply(404, "variable not found"),
        reply(200, serde_json::to_vec(&stored).unwrap()),
        reply(409, serde_json::to_vec(&stored).unwrap()),
        reply(200, serde_json::to_vec(&stored).unwrap()),
        reply(200, ""),
        reply(404, "variable not found"),
    ])
    .await;
    let client = NomadClient::new(config).unwrap();
    let path = "nomad/jobs/dbaas-orders-1a2b3c4d";
    assert!(client.read_variable(path).await.unwrap().is_none());

    let variable = Variable {
        path: path.into(),
        items: BTreeMap::from([("superuser_password".to_string(), "s3cret".to_string())]),
        ..Variable::default()
    };
    let written = client.put_variable(&variable, Some(0)).await.unwrap();
    assert_eq!(written.modify_index, 9);
    assert_eq!(written.items["superuser_password"], "s3cret");

    let e = client.put_variable(&variable, Some(3)).await.unwrap_err();
    assert!(e.is_conflict(), "{e}");

    let read = client.read_variable(path).await.unwrap().unwrap();
    assert_eq!(read.create_index, 7);
    // The secret never reaches a Debug rendering (logs).
    assert!(!format!("{read:?}").contains("s3cret"));

    client.delete_variable(path, Some(9)).await.unwrap();
    client.delete_variable(path, None).await.unwrap();

    let seen = fake.seen();
    assert_eq!(seen.len(), 6);
    for s in &seen {
        assert_eq!(s.path, "/v1/var/nomad/jobs/dbaas-orders-1a2b3c4d");
    }
    assert_eq!(seen[0].method, Method::GET);
    assert_eq!(seen[1].method, Method::PUT);
    assert_eq!(seen[1].query["cas"], "0");
    assert_eq!(
        seen[1].json(),
        json!({"Path": path, "Items": {"superuser_password": "s3cret"}})
    );
    assert_eq!(seen[2].query["cas"], "3");
    assert_eq!(seen[4].method, Method::DELETE);
    assert_eq!(seen[4].query["cas"], "9");
    assert!(!seen[5].query.contains_key("cas"));

    assert!(client.read_variable("nomad/../x").await.is_err());
    assert!(client.read_variable("").await.is_err());
}
