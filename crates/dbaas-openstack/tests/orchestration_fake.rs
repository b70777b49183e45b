//! The Heat stack client against a fake Heat: a create whose answer is
//! lost is found again (never a second stack), waits end on COMPLETE or
//! FAILED (with Heat's reason) and are bounded, outputs become a host
//! pair, deletes wait until the stack is gone: the faults a real Heat
//! does not show on demand. The real Heat runs the templates in
//! `heat_real.rs`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path as AxPath, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use dbaas_openstack::heat::StackCreateRequest;
use dbaas_openstack::keystone::{DomainRef, ProjectRef, UserRef};
use dbaas_openstack::{
    CloudConfig, Credentials, OpenStackError, Orchestration, RetryPolicy, Secret, Session,
    SessionOptions, WaitOptions,
};
use dbaas_placement::{place, HostPair, HostPool, Request, Usage};
use serde_json::{json, Value};

#[derive(Default)]
struct Fake {
    base: Mutex<String>,
    stacks: Mutex<Vec<Value>>,
    creates: Mutex<u32>,
    /// Shows left before a stack reaches its final status.
    shows_to_finish: Mutex<u32>,
    /// `CREATE_COMPLETE` or `CREATE_FAILED`.
    final_status: Mutex<String>,
    /// Answer the next create with 504 after making the stack.
    lose_next_answer: Mutex<bool>,
}

type St = Arc<Fake>;

async fn keystone(State(s): State<St>) -> Response {
    let base = s.base.lock().unwrap().clone();
    let exp = (chrono::Utc::now() + chrono::Duration::hours(1))
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string();
    let body = json!({"token": {"expires_at": exp, "methods": ["password"],
        "project": {"id": "p1"},
        "catalog": [{"type": "orchestration", "endpoints": [
            {"interface": "public", "region_id": "RegionOne", "url": format!("{base}/v1/p1")}]}]}});
    let mut h = HeaderMap::new();
    h.insert("X-Subject-Token", "tok".parse().unwrap());
    (StatusCode::CREATED, h, Json(body)).into_response()
}

fn outputs(name: &str) -> Value {
    json!([
        {"output_key": "pair_id", "output_value": name},
        {"output_key": "zone", "output_value": "nova"},
        {"output_key": "nomad_nodes", "output_value": [format!("{name}-a"), format!("{name}-b")]},
        {"output_key": "pacemaker_nodes", "output_value": [format!("{name}-a"), format!("{name}-b")]},
        {"output_key": "vip_port_id", "output_value": "port-1"},
        {"output_key": "capacity", "output_value":
            {"databases": "4", "vcpus": "8", "memory_mib": "16384", "volumes": "8"}},
    ])
}

async fn create(State(s): State<St>, Json(body): Json<Value>) -> Response {
    let name = body["stack_name"].as_str().unwrap().to_string();
    let mut stacks = s.stacks.lock().unwrap();
    if stacks
        .iter()
        .any(|x| x["stack_name"] == name.as_str() && x["stack_status"] != "DELETE_COMPLETE")
    {
        return (
            StatusCode::CONFLICT,
            Json(json!({"error": {"message": format!("The Stack ({name}) already exists.")}})),
        )
            .into_response();
    }
    *s.creates.lock().unwrap() += 1;
    let id = format!("id-{}", stacks.len());
    stacks.push(
        json!({"id": id, "stack_name": name, "stack_status": "CREATE_IN_PROGRESS",
        "shows": 0, "outputs": []}),
    );
    if std::mem::take(&mut *s.lose_next_answer.lock().unwrap()) {
        return (StatusCode::GATEWAY_TIMEOUT, "upstream timed out").into_response();
    }
    (
        StatusCode::CREATED,
        Json(json!({"stack": {"id": id, "links": []}})),
    )
        .into_response()
}

async fn list(State(s): State<St>, Query(q): Query<BTreeMap<String, String>>) -> Response {
    let stacks: Vec<Value> = s
        .stacks
        .lock()
        .unwrap()
        .iter()
        .filter(|x| q.get("name").is_none_or(|n| x["stack_name"] == n.as_str()))
        .cloned()
        .collect();
    Json(json!({ "stacks": stacks })).into_response()
}

async fn show(State(s): State<St>, AxPath((name, id)): AxPath<(String, String)>) -> Response {
    let fin = s.final_status.lock().unwrap().clone();
    let needed = *s.shows_to_finish.lock().unwrap();
    let mut stacks = s.stacks.lock().unwrap();
    let Some(x) = stacks.iter_mut().find(|x| x["id"] == id.as_str()) else {
        return (StatusCode::NOT_FOUND, "no such stack").into_response();
    };
    let shows = x["shows"].as_u64().unwrap() + 1;
    x["shows"] = json!(shows);
    match x["stack_status"].as_str().unwrap() {
        "CREATE_IN_PROGRESS" if shows >= u64::from(needed) => {
            x["stack_status"] = json!(fin);
            if fin == "CREATE_COMPLETE" {
                x["outputs"] = outputs(&name);
            } else {
                x["stack_status_reason"] =
                    json!("Resource CREATE failed: No valid host was found.");
            }
        }
        "DELETE_IN_PROGRESS" => {
            x["stack_status"] = json!("DELETE_COMPLETE");
            return (StatusCode::NOT_FOUND, "stack gone").into_response();
        }
        "DELETE_COMPLETE" => return (StatusCode::NOT_FOUND, "stack gone").into_response(),
        _ => {}
    }
    Json(json!({ "stack": x.clone() })).into_response()
}

async fn delete(State(s): State<St>, AxPath((_name, id)): AxPath<(String, String)>) -> Response {
    let mut stacks = s.stacks.lock().unwrap();
    match stacks.iter_mut().find(|x| x["id"] == id.as_str()) {
        Some(x) => {
            x["stack_status"] = json!("DELETE_IN_PROGRESS");
            StatusCode::NO_CONTENT.into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn fake(final_status: &str, shows_to_finish: u32) -> (St, Orchestration) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let st: St = Arc::new(Fake::default());
    *st.final_status.lock().unwrap() = final_status.to_string();
    *st.shows_to_finish.lock().unwrap() = shows_to_finish;
    let app = Router::new()
        .route("/v3/auth/tokens", post(keystone))
        .route("/v1/p1/stacks", post(create).get(list))
        .route("/v1/p1/stacks/{name}/{id}", get(show).delete(delete))
        .with_state(st.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    *st.base.lock().unwrap() = base.clone();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    let cfg = CloudConfig {
        auth_url: base,
        credentials: Credentials::Password {
            user: UserRef {
                id: Some("u".into()),
                name: None,
                domain: None,
            },
            password: Secret::new("p"),
            project: ProjectRef {
                id: Some("p1".into()),
                name: None,
                domain: Some(DomainRef::id("default")),
            },
        },
        region_name: None,
        interface: "public".into(),
    };
    let options = SessionOptions {
        retry: RetryPolicy {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(20),
        },
        ..SessionOptions::default()
    };
    let heat = Orchestration::new(Arc::new(Session::with_options(cfg, options).unwrap()))
        .with_wait(WaitOptions {
            timeout: Duration::from_millis(500),
            interval: Duration::from_millis(5),
            max_interval: Duration::from_millis(20),
        });
    (st, heat)
}

fn request(name: &str) -> StackCreateRequest {
    StackCreateRequest {
        stack_name: name.into(),
        template: Some(json!({"heat_template_version": "2018-08-31"})),
        ..StackCreateRequest::default()
    }
}

#[tokio::test]
async fn a_lost_create_answer_is_found_again_and_outputs_become_a_host_pair() {
    let (st, heat) = fake("CREATE_COMPLETE", 3).await;
    *st.lose_next_answer.lock().unwrap() = true;
    let stack = heat.ensure_stack(&request("pair-1")).await.unwrap();
    assert_eq!(stack.stack_status, "CREATE_COMPLETE");
    assert_eq!(*st.creates.lock().unwrap(), 1, "never a second stack");
    // Again: found, not created.
    let again = heat.ensure_stack(&request("pair-1")).await.unwrap();
    assert_eq!(again.id, stack.id);
    assert_eq!(*st.creates.lock().unwrap(), 1);

    let outputs = Orchestration::outputs(&stack).unwrap();
    let pair = HostPair::from_heat_outputs(&outputs).unwrap();
    assert_eq!(pair.id, "pair-1");
    assert_eq!(
        pair.nomad_nodes,
        ["pair-1-a".to_string(), "pair-1-b".to_string()]
    );
    assert_eq!(pair.capacity.databases, 4);
    let pool = HostPool::new(vec![pair]).unwrap();
    assert_eq!(
        place(&pool, &Usage::new(), &Request::new(2, 4096)).unwrap(),
        "pair-1"
    );

    heat.delete_stack("pair-1").await.unwrap();
    assert!(heat.find_stack("pair-1").await.unwrap().is_none());
    heat.delete_stack("pair-1").await.unwrap();
}

#[tokio::test]
async fn a_failed_stack_says_why_and_waits_are_bounded() {
    let (_st, heat) = fake("CREATE_FAILED", 2).await;
    let e = heat.ensure_stack(&request("pair-2")).await.unwrap_err();
    assert!(matches!(e, OpenStackError::ResourceFailed(_)), "{e}");
    assert!(e.to_string().contains("CREATE_FAILED"), "{e}");
    assert!(e.to_string().contains("No valid host was found"), "{e}");

    let (_st, heat) = fake("CREATE_COMPLETE", u32::MAX).await;
    let t = std::time::Instant::now();
    let e = heat.ensure_stack(&request("pair-3")).await.unwrap_err();
    assert!(matches!(e, OpenStackError::Timeout { .. }), "{e}");
    assert!(e.to_string().contains("CREATE_IN_PROGRESS"), "{e}");
    assert!(t.elapsed() < Duration::from_secs(5));
}
