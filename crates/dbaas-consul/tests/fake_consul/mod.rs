//! A tiny in-process imitation of a Consul agent's HTTP API, for tests only.
//!
//! It follows the documented semantics the client relies on (see
//! `tests/contracts/HEADERS.md`): one raft-like index bumped by every write,
//! `ModifyIndex` per key, `cas`, `acquire`/`release`, blocking GETs that
//! return once the index passes `?index=` or after `?wait=`, and bare
//! boolean answers. It speaks JSON built by hand (not with the client's
//! types) so that it checks the wire format independently. Knobs let tests
//! require a token, inject 5xx answers and move the index backwards.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use base64::Engine as _;
use serde_json::{json, Value};

/// One KV entry as the fake stores it.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    pub value: Vec<u8>,
    pub flags: u64,
    pub create_index: u64,
    pub modify_index: u64,
    pub lock_index: u64,
    pub session: Option<String>,
}

/// The fake's whole state; tests reach in through [`Fake::state`].
#[derive(Debug, Default)]
pub struct State_ {
    pub index: u64,
    pub kv: BTreeMap<String, Entry>,
    pub sessions: BTreeMap<String, Value>,
    pub next_session: u64,
    /// When set, requests without this `X-Consul-Token` get a 403.
    pub required_token: Option<String>,
    /// Every request's token header, in order.
    pub tokens_seen: Vec<Option<String>>,
    /// Every request's `ns` parameter, in order.
    pub namespaces_seen: Vec<Option<String>>,
    /// Every request's method, path and raw query string, in order.
    pub requests_seen: Vec<String>,
    /// How many of the next health requests answer 500.
    pub health_failures: u32,
    pub health_calls: u32,
    pub catalog_calls: u32,
}

pub struct Shared {
    pub state: Mutex<State_>,
    index_tx: tokio::sync::watch::Sender<u64>,
}

impl Shared {
    /// Bumps the index after a write and wakes blocked queries.
    fn bump(&self, st: &mut State_) -> u64 {
        st.index += 1;
        self.index_tx.send_replace(st.index);
        st.index
    }

    /// Replaces the index, e.g. lower to imitate a snapshot restore.
    /// Blocked queries are not woken (Consul's are not either): they see
    /// the new index when their wait ends.
    pub fn set_index(&self, index: u64) {
        let mut st = self.state.lock().unwrap();
        st.index = index;
        self.index_tx.send_replace(index);
    }
}

/// A running fake agent.
pub struct Fake {
    pub url: String,
    pub shared: Arc<Shared>,
}

impl Fake {
    pub fn state(&self) -> std::sync::MutexGuard<'_, State_> {
        self.shared.state.lock().unwrap()
    }
}

/// Starts a fake agent on 127.0.0.1 and a free port.
pub async fn start() -> Fake {
    let (index_tx, _) = tokio::sync::watch::channel(1);
    let shared = Arc::new(Shared {
        state: Mutex::new(State_ {
            index: 1,
            ..State_::default()
        }),
        index_tx,
    });
    let app = Router::new()
        .route("/v1/kv/{*key}", get(kv_get).put(kv_put).delete(kv_delete))
        .route("/v1/txn", put(txn))
        .route("/v1/session/create", put(session_create))
        .route("/v1/session/destroy/{id}", put(session_destroy))
        .route("/v1/session/renew/{id}", put(session_renew))
        .route("/v1/session/info/{id}", get(session_info))
        .route("/v1/health/service/{name}", get(health_service))
        .route("/v1/catalog/service/{name}", get(catalog_service))
        .layer(middleware::from_fn_with_state(shared.clone(), acl))
        .with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Fake { url, shared }
}

type Params = Query<HashMap<String, String>>;
type S = State<Arc<Shared>>;

fn text(status: StatusCode, message: &str) -> Response {
    (status, message.to_string()).into_response()
}

fn with_index(index: u64, status: StatusCode, body: Value) -> Response {
    let mut resp = (status, Json(body)).into_response();
    let h = resp.headers_mut();
    h.insert("X-Consul-Index", HeaderValue::from(index));
    h.insert("X-Consul-KnownLeader", HeaderValue::from_static("true"));
    h.insert("X-Consul-LastContact", HeaderValue::from_static("0"));
    resp
}

/// Records the token and namespace of every request; enforces the token.
async fn acl(
    State(shared): S,
    Query(q): Params,
    headers: HeaderMap,
    req: Request,
    next: Next,
) -> Response {
    let token = headers
        .get("X-Consul-Token")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    {
        let mut st = shared.state.lock().unwrap();
        st.tokens_seen.push(token.clone());
        st.namespaces_seen.push(q.get("ns").cloned());
        st.requests_seen.push(format!(
            "{} {}?{}",
            req.method(),
            req.uri().path(),
            req.uri().query().unwrap_or("")
        ));
        if st.required_token.is_some() && st.required_token != token {
            return text(StatusCode::FORBIDDEN, "ACL not found");
        }
    }
    next.run(req).await
}

fn entry_json(key: &str, e: &Entry, with_value: bool) -> Value {
    json!({
        "Key": key,
        "CreateIndex": e.create_index,
        "ModifyIndex": e.modify_index,
        "LockIndex": e.lock_index,
        "Flags": e.flags,
        "Value": if with_value { Value::from(base64::engine::general_purpose::STANDARD.encode(&e.value)) } else { Value::Null },
        "Session": e.session,
    })
}

fn parse_wait(q: &HashMap<String, String>) -> Duration {
    q.get("wait")
        .map(|w| dbaas_consul::duration::parse_go_duration(w).expect("wait is Go duration text"))
        .unwrap_or(Duration::from_secs(300))
}

async fn kv_get(State(shared): S, Path(key): Path<String>, Query(q): Params) -> Response {
    if let Some(index) = q.get("index") {
        let index: u64 = index.parse().expect("index is an integer");
        let mut rx = shared.index_tx.subscribe();
        // Return as soon as the index passes the client's, else after wait.
        let _ = tokio::time::timeout(parse_wait(&q), rx.wait_for(|&i| i > index)).await;
    }
    let st = shared.state.lock().unwrap();
    if q.contains_key("keys") {
        let keys: Vec<&String> = st.kv.keys().filter(|k| k.starts_with(&key)).collect();
        let status = if keys.is_empty() {
            StatusCode::NOT_FOUND
        } else {
            StatusCode::OK
        };
        return with_index(st.index, status, json!(keys));
    }
    let found: Vec<Value> = if q.contains_key("recurse") {
        st.kv
            .iter()
            .filter(|(k, _)| k.starts_with(&key))
            .map(|(k, e)| entry_json(k, e, true))
            .collect()
    } else {
        st.kv
            .get(&key)
            .map(|e| entry_json(&key, e, true))
            .into_iter()
            .collect()
    };
    if found.is_empty() {
        return with_index(st.index, StatusCode::NOT_FOUND, Value::Null);
    }
    with_index(st.index, StatusCode::OK, json!(found))
}

async fn kv_put(
    State(shared): S,
    Path(key): Path<String>,
    Query(q): Params,
    body: Bytes,
) -> Response {
    let mut st = shared.state.lock().unwrap();
    let existing = st.kv.get(&key).cloned();
    if let Some(cas) = q.get("cas") {
        let cas: u64 = cas.parse().unwrap();
        let current = existing.as_ref().map(|e| e.modify_index);
        let ok = if cas == 0 {
            current.is_none()
        } else {
            current == Some(cas)
        };
        if !ok {
            return Json(false).into_response();
        }
    }
    let mut entry = existing.clone().unwrap_or_default();
    if let Some(session) = q.get("acquire") {
        if !st.sessions.contains_key(session) {
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("invalid session \"{session}\""),
            );
        }
        match &entry.session {
            Some(holder) if holder != session => return Json(false).into_response(),
            Some(_) => {}
            None => {
                entry.lock_index += 1;
                entry.session = Some(session.clone());
            }
        }
    }
    if let Some(session) = q.get("release") {
        if entry.session.as_ref() != Some(session) {
            return Json(false).into_response();
        }
        entry.session = None;
    }
    entry.value = body.to_vec();
    if let Some(flags) = q.get("flags") {
        entry.flags = flags.parse().unwrap();
    }
    let index = shared.bump(&mut st);
    if existing.is_none() {
        entry.create_index = index;
    }
    entry.modify_index = index;
    st.kv.insert(key, entry);
    Json(true).into_response()
}

async fn kv_delete(State(shared): S, Path(key): Path<String>, Query(q): Params) -> Response {
    let mut st = shared.state.lock().unwrap();
    if q.contains_key("recurse") {
        st.kv.retain(|k, _| !k.starts_with(&key));
    } else {
        if let Some(cas) = q.get("cas") {
            let cas: u64 = cas.parse().unwrap();
            if st.kv.get(&key).map(|e| e.modify_index) != Some(cas) {
                return Json(false).into_response();
            }
        }
        st.kv.remove(&key);
    }
    shared.bump(&mut st);
    Json(true).into_response()
}

/// KV operations only; checks every op against a copy and commits all or
/// nothing, as Consul does.
async fn txn(State(shared): S, Json(ops): Json<Vec<Value>>) -> Response {
    let mut st = shared.state.lock().unwrap();
    let mut kv = st.kv.clone();
    // One index for the whole transaction.
    let next_index = st.index + 1;
    let mut results = Vec::new();
    let mut errors = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let op = &op["KV"];
        let key = op["Key"].as_str().unwrap().to_string();
        let index = op["Index"].as_u64().unwrap_or(0);
        let value = op["Value"]
            .as_str()
            .map(|v| base64::engine::general_purpose::STANDARD.decode(v).unwrap())
            .unwrap_or_default();
        let current = kv.get(&key).cloned();
        let write = |kv: &mut BTreeMap<String, Entry>| {
            let mut e = current.clone().unwrap_or_default();
            if current.is_none() {
                e.create_index = next_index;
            }
            e.modify_index = next_index;
            e.value = value.clone();
            kv.insert(key.clone(), e.clone());
            json!({"KV": entry_json(&key, &e, false)})
        };
        match op["Verb"].as_str().unwrap() {
            "set" => results.push(write(&mut kv)),
            "cas" => {
                let ok = match &current {
                    None => index == 0,
                    Some(e) => e.modify_index == index,
                };
                if ok {
                    results.push(write(&mut kv));
                } else {
                    errors.push(json!({"OpIndex": i, "What": format!("failed to set key \"{key}\", index is stale")}));
                }
            }
            "get" => match &current {
                Some(e) => results.push(json!({"KV": entry_json(&key, e, true)})),
                None => errors
                    .push(json!({"OpIndex": i, "What": format!("key \"{key}\" doesn't exist")})),
            },
            "delete" => {
                kv.remove(&key);
            }
            other => {
                errors.push(json!({"OpIndex": i, "What": format!("unknown KV verb \"{other}\"")}))
            }
        }
    }
    if !errors.is_empty() {
        return (
            StatusCode::CONFLICT,
            Json(json!({"Results": null, "Errors": errors})),
        )
            .into_response();
    }
    st.kv = kv;
    shared.bump(&mut st);
    Json(json!({"Results": results, "Errors": null})).into_response()
}

async fn session_create(State(shared): S, Json(body): Json<Value>) -> Response {
    let mut st = shared.state.lock().unwrap();
    st.next_session += 1;
    let id = format!("00000000-0000-0000-0000-{:012}", st.next_session);
    let index = shared.bump(&mut st);
    // Stored the way Consul answers: LockDelay in nanoseconds.
    let lock_delay = body["LockDelay"]
        .as_str()
        .map(|d| {
            dbaas_consul::duration::parse_go_duration(d)
                .unwrap()
                .as_nanos() as u64
        })
        .unwrap_or(15_000_000_000);
    let session = json!({
        "ID": id, "Name": body["Name"], "Node": body.get("Node").cloned().unwrap_or(json!("fake-node")),
        "LockDelay": lock_delay, "Behavior": body.get("Behavior").cloned().unwrap_or(json!("release")),
        "TTL": body.get("TTL").cloned().unwrap_or(json!("")), "NodeChecks": ["serfHealth"],
        "ServiceChecks": null, "CreateIndex": index, "ModifyIndex": index,
    });
    st.sessions.insert(id.clone(), session);
    Json(json!({"ID": id})).into_response()
}

async fn session_destroy(State(shared): S, Path(id): Path<String>) -> Response {
    let mut st = shared.state.lock().unwrap();
    if st.sessions.remove(&id).is_some() {
        // Behavior "release": the session's locks are let go.
        for e in st.kv.values_mut() {
            if e.session.as_deref() == Some(&id) {
                e.session = None;
            }
        }
        shared.bump(&mut st);
    }
    Json(true).into_response()
}

async fn session_renew(State(shared): S, Path(id): Path<String>) -> Response {
    let st = shared.state.lock().unwrap();
    match st.sessions.get(&id) {
        Some(s) => Json(json!([s])).into_response(),
        None => text(
            StatusCode::NOT_FOUND,
            &format!("Session id '{id}' not found"),
        ),
    }
}

async fn session_info(State(shared): S, Path(id): Path<String>) -> Response {
    let st = shared.state.lock().unwrap();
    let found: Vec<&Value> = st.sessions.get(&id).into_iter().collect();
    with_index(st.index, StatusCode::OK, json!(found))
}

async fn health_service(State(shared): S, Path(name): Path<String>, Query(q): Params) -> Response {
    let mut st = shared.state.lock().unwrap();
    st.health_calls += 1;
    if st.health_failures > 0 {
        st.health_failures -= 1;
        return text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "rpc error making call: No cluster leader",
        );
    }
    let instance = |node: &str, addr: &str, status: &str| {
        json!({
            "Node": {"ID": "", "Node": node, "Address": addr, "Datacenter": "dc1", "TaggedAddresses": null, "Meta": null},
            "Service": {"ID": format!("{name}-{node}"), "Service": name, "Tags": null, "Address": "", "Port": 5432, "Meta": {"role": "agent"}},
            "Checks": [{"Node": node, "CheckID": "serfHealth", "Name": "Serf Health Status", "Status": status, "ServiceTags": []}],
        })
    };
    let mut all = vec![
        instance("node-a", "10.0.0.1", "passing"),
        instance("node-b", "10.0.0.2", "critical"),
    ];
    if q.contains_key("passing") {
        all.retain(|e| e["Checks"][0]["Status"] == "passing");
    }
    with_index(st.index, StatusCode::OK, json!(all))
}

async fn catalog_service(State(shared): S, Path(name): Path<String>) -> Response {
    let mut st = shared.state.lock().unwrap();
    st.catalog_calls += 1;
    if name == "bad name" {
        return text(
            StatusCode::BAD_REQUEST,
            "Bad request: invalid service name \"bad name\"",
        );
    }
    let node = json!({"Node": "node-a", "Address": "10.0.0.1", "ServiceID": format!("{name}-1"), "ServiceName": name, "ServicePort": 8500, "ServiceTags": null});
    with_index(st.index, StatusCode::OK, json!([node]))
}
