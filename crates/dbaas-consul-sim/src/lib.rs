//! A Consul agent simulator for tests (never a production code path: only
//! dev-dependencies name this crate).
//!
//! It follows Consul's documented semantics for what the store and the
//! election use: one raft-like index bumped by every write, `CreateIndex`/
//! `ModifyIndex`/`LockIndex`/`Flags` per key; `cas`, `acquire` and
//! `release`; sessions with a TTL that expire when not renewed
//! (invalidation releases their locks, behavior `release`, or deletes the
//! keys, behavior `delete`), and a lock-delay during which an invalidated
//! session's locks cannot be re-acquired (an explicit release sets none);
//! blocking GETs that return once the index passes `?index=` or after
//! `?wait=`; transactions with the verbs set, cas, get, get-tree,
//! check-index, check-session, check-not-exists, delete, delete-cas,
//! delete-tree, lock and unlock, all applied or none (409 with the failed
//! operations). Consul's TTL bounds (10 s to 24 h) hold unless a test
//! lowers the minimum ([`Sim::set_min_ttl`]) to keep tests short.
//!
//! Faults ([`Fault`]) answer a 5xx, delay, or reset the connection (before
//! or after applying the request: the latter is a lost answer).

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::extract::{Path, Query, Request, State as AxState};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::serve::IncomingStream;
use axum::{Json, Router};
use base64::Engine as _;
use dbaas_consul::{ConsulClient, ConsulConfig, RetryPolicy};
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// One KV entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entry {
    pub value: Vec<u8>,
    pub flags: u64,
    pub create_index: u64,
    pub modify_index: u64,
    pub lock_index: u64,
    pub session: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Session {
    pub name: String,
    pub ttl: Option<Duration>,
    pub lock_delay: Duration,
    pub behavior: String,
    pub expires: Option<Instant>,
    pub create_index: u64,
}

/// What a fault does to a matching request.
#[derive(Debug, Clone)]
pub enum Action {
    /// Answer this status without applying the request.
    Status(u16),
    /// Wait, then handle the request normally.
    Delay(Duration),
    /// Cut the connection without an answer; `after_apply`: once the
    /// request has been applied (the client loses the answer).
    Reset { after_apply: bool },
}

/// A fault for requests whose method and path match.
#[derive(Debug, Clone)]
pub struct Fault {
    /// `None`: any method.
    pub method: Option<&'static str>,
    pub path_prefix: String,
    /// How many requests it hits; `None`: all.
    pub times: Option<u32>,
    pub action: Action,
}

impl Fault {
    pub fn new(method: &'static str, path_prefix: impl Into<String>, action: Action) -> Fault {
        Fault {
            method: Some(method),
            path_prefix: path_prefix.into(),
            times: None,
            action,
        }
    }

    pub fn times(mut self, n: u32) -> Fault {
        self.times = Some(n);
        self
    }
}

#[derive(Debug)]
pub struct SimState {
    pub index: u64,
    pub kv: BTreeMap<String, Entry>,
    pub sessions: BTreeMap<String, Session>,
    /// Keys that cannot be acquired before the instant (lock-delay).
    pub lock_delays: HashMap<String, Instant>,
    pub faults: Vec<Fault>,
    pub min_ttl: Duration,
    pub next_session: u64,
    /// "METHOD path?query" of every request, in order.
    pub requests: Vec<String>,
    /// How many requests each fault hit.
    pub faults_hit: u32,
}

pub struct Shared {
    state: Mutex<SimState>,
    index_tx: tokio::sync::watch::Sender<u64>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, SimState> {
        self.state.lock().unwrap()
    }

    fn bump(&self, st: &mut SimState) -> u64 {
        st.index += 1;
        self.index_tx.send_replace(st.index);
        st.index
    }

    /// Invalidates a session: its locks are released (or its keys deleted)
    /// and lock-delay starts on them.
    fn invalidate(&self, st: &mut SimState, id: &str) -> bool {
        let Some(session) = st.sessions.remove(id) else {
            return false;
        };
        let index = st.index + 1;
        let held: Vec<String> = st
            .kv
            .iter()
            .filter(|(_, e)| e.session.as_deref() == Some(id))
            .map(|(k, _)| k.clone())
            .collect();
        for key in held {
            if session.behavior == "delete" {
                st.kv.remove(&key);
            } else if let Some(e) = st.kv.get_mut(&key) {
                e.session = None;
                e.modify_index = index;
            }
            if !session.lock_delay.is_zero() {
                st.lock_delays
                    .insert(key, Instant::now() + session.lock_delay);
            }
        }
        self.bump(st);
        true
    }
}

/// A running simulator.
pub struct Sim {
    pub url: String,
    pub shared: Arc<Shared>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Sim {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Sim {
    pub fn state(&self) -> MutexGuard<'_, SimState> {
        self.shared.lock()
    }

    /// A client of this simulator with quick retries.
    pub fn client(&self) -> ConsulClient {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut config = ConsulConfig::with_address(&self.url).unwrap();
        config.retry = RetryPolicy {
            max_retries: 2,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(20),
        };
        config.request_timeout = Duration::from_secs(5);
        ConsulClient::new(config).unwrap()
    }

    pub fn set_min_ttl(&self, ttl: Duration) {
        self.state().min_ttl = ttl;
    }

    pub fn inject(&self, fault: Fault) {
        self.state().faults.push(fault);
    }

    pub fn clear_faults(&self) {
        self.state().faults.clear();
    }

    pub fn entry(&self, key: &str) -> Option<Entry> {
        self.state().kv.get(key).cloned()
    }

    /// The session holding `key`'s lock.
    pub fn holder(&self, key: &str) -> Option<String> {
        self.entry(key).and_then(|e| e.session)
    }

    /// Invalidates a session as its TTL running out would.
    pub fn expire_session(&self, id: &str) -> bool {
        let mut st = self.shared.lock();
        self.shared.invalidate(&mut st, id)
    }

    pub fn session_ids(&self) -> Vec<String> {
        self.state().sessions.keys().cloned().collect()
    }
}

/// Starts a simulator on 127.0.0.1 and a free port.
pub async fn start() -> Sim {
    let (index_tx, _) = tokio::sync::watch::channel(1);
    let shared = Arc::new(Shared {
        state: Mutex::new(SimState {
            index: 1,
            kv: BTreeMap::new(),
            sessions: BTreeMap::new(),
            lock_delays: HashMap::new(),
            faults: Vec::new(),
            min_ttl: Duration::from_secs(10),
            next_session: 0,
            requests: Vec::new(),
            faults_hit: 0,
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
        .layer(middleware::from_fn_with_state(shared.clone(), faults))
        .with_state(shared.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        axum::serve(
            Killable(listener),
            app.into_make_service_with_connect_info::<Conn>(),
        )
        .await
        .unwrap()
    });
    // Sessions expire when their TTL passes without a renewal.
    let reaper_shared = shared.clone();
    let reaper = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(10)).await;
            let mut st = reaper_shared.lock();
            let now = Instant::now();
            let expired: Vec<String> = st
                .sessions
                .iter()
                .filter(|(_, s)| s.expires.is_some_and(|t| t <= now))
                .map(|(id, _)| id.clone())
                .collect();
            for id in expired {
                reaper_shared.invalidate(&mut st, &id);
            }
        }
    });
    Sim {
        url,
        shared,
        tasks: vec![server, reaper],
    }
}

// ------------------------------------------------------------ connections

/// A listener whose connections a fault can cut.
struct Killable(TcpListener);

/// Per-connection switch: once set, the connection fails every read and
/// write, so hyper drops it (with linger 0: a TCP reset).
#[derive(Clone, Debug)]
struct Conn(Arc<AtomicBool>);

struct KillableIo {
    inner: TcpStream,
    killed: Arc<AtomicBool>,
}

impl axum::serve::Listener for Killable {
    type Io = KillableIo;
    type Addr = Conn;

    async fn accept(&mut self) -> (KillableIo, Conn) {
        loop {
            if let Ok((stream, _)) = self.0.accept().await {
                #[allow(deprecated)]
                let _ = stream.set_linger(Some(Duration::ZERO));
                let killed = Arc::new(AtomicBool::new(false));
                return (
                    KillableIo {
                        inner: stream,
                        killed: killed.clone(),
                    },
                    Conn(killed),
                );
            }
        }
    }

    fn local_addr(&self) -> io::Result<Conn> {
        Ok(Conn(Arc::new(AtomicBool::new(false))))
    }
}

impl Connected<IncomingStream<'_, Killable>> for Conn {
    fn connect_info(stream: IncomingStream<'_, Killable>) -> Self {
        stream.remote_addr().clone()
    }
}

fn reset() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionReset, "reset by a simulated fault")
}

impl AsyncRead for KillableIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.killed.load(Ordering::SeqCst) {
            return Poll::Ready(Err(reset()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.killed.load(Ordering::SeqCst) {
            return Poll::Ready(Err(reset()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.killed.load(Ordering::SeqCst) {
            return Poll::Ready(Err(reset()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

// ------------------------------------------------------------ handlers

type Params = Query<HashMap<String, String>>;
type S = AxState<Arc<Shared>>;

async fn faults(
    AxState(shared): S,
    ConnectInfo(conn): ConnectInfo<Conn>,
    req: Request,
    next: Next,
) -> Response {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let action = {
        let mut st = shared.lock();
        st.requests.push(format!(
            "{method} {path}?{}",
            req.uri().query().unwrap_or("")
        ));
        let hit = st
            .faults
            .iter()
            .position(|f| f.method.is_none_or(|m| m == method) && path.starts_with(&f.path_prefix));
        hit.map(|i| {
            st.faults_hit += 1;
            let action = st.faults[i].action.clone();
            if let Some(n) = st.faults[i].times.as_mut() {
                *n -= 1;
                if *n == 0 {
                    st.faults.remove(i);
                }
            }
            action
        })
    };
    match action {
        None => next.run(req).await,
        Some(Action::Status(code)) => text(
            StatusCode::from_u16(code).unwrap(),
            "simulated failure: rpc error making call: No cluster leader",
        ),
        Some(Action::Delay(d)) => {
            tokio::time::sleep(d).await;
            next.run(req).await
        }
        Some(Action::Reset { after_apply }) => {
            let resp = if after_apply {
                next.run(req).await
            } else {
                text(StatusCode::INTERNAL_SERVER_ERROR, "never sent")
            };
            conn.0.store(true, Ordering::SeqCst);
            resp
        }
    }
}

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

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn entry_json(key: &str, e: &Entry, with_value: bool) -> Value {
    json!({
        "Key": key,
        "CreateIndex": e.create_index,
        "ModifyIndex": e.modify_index,
        "LockIndex": e.lock_index,
        "Flags": e.flags,
        "Value": if with_value { Value::from(b64(&e.value)) } else { Value::Null },
        "Session": e.session,
    })
}

fn parse_duration(text: &str) -> Duration {
    dbaas_consul::duration::parse_go_duration(text).expect("a Go duration")
}

async fn kv_get(AxState(shared): S, Path(key): Path<String>, Query(q): Params) -> Response {
    if let Some(index) = q.get("index") {
        let index: u64 = index.parse().expect("index is an integer");
        let wait = q
            .get("wait")
            .map(|w| parse_duration(w))
            .unwrap_or(Duration::from_secs(300));
        let mut rx = shared.index_tx.subscribe();
        let _ = tokio::time::timeout(wait, rx.wait_for(|&i| i > index)).await;
    }
    let st = shared.lock();
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
    AxState(shared): S,
    Path(key): Path<String>,
    Query(q): Params,
    body: Bytes,
) -> Response {
    let mut st = shared.lock();
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
        if st
            .lock_delays
            .get(&key)
            .is_some_and(|until| *until > Instant::now())
        {
            return Json(false).into_response();
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

async fn kv_delete(AxState(shared): S, Path(key): Path<String>, Query(q): Params) -> Response {
    let mut st = shared.lock();
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

/// Checks every operation against a copy and commits all or nothing.
async fn txn(AxState(shared): S, Json(ops): Json<Vec<Value>>) -> Response {
    let mut st = shared.lock();
    let mut kv = st.kv.clone();
    let next_index = st.index + 1;
    let mut results = Vec::new();
    let mut errors = Vec::new();
    let now = Instant::now();
    for (i, op) in ops.iter().enumerate() {
        let op = &op["KV"];
        let key = op["Key"].as_str().expect("a key").to_string();
        let index = op["Index"].as_u64().unwrap_or(0);
        let flags = op["Flags"].as_u64().unwrap_or(0);
        let session = op["Session"].as_str().map(String::from);
        let value = op["Value"]
            .as_str()
            .map(|v| base64::engine::general_purpose::STANDARD.decode(v).unwrap())
            .unwrap_or_default();
        let current = kv.get(&key).cloned();
        let mut fail = |what: String| errors.push(json!({"OpIndex": i, "What": what}));
        let write = |kv: &mut BTreeMap<String, Entry>, lock: Option<Option<String>>| {
            let mut e = current.clone().unwrap_or_default();
            if current.is_none() {
                e.create_index = next_index;
            }
            e.modify_index = next_index;
            e.value = value.clone();
            e.flags = flags;
            if let Some(holder) = lock {
                if holder.is_some() && e.session.is_none() {
                    e.lock_index += 1;
                }
                e.session = holder;
            }
            kv.insert(key.clone(), e.clone());
            json!({"KV": entry_json(&key, &e, false)})
        };
        match op["Verb"].as_str().expect("a verb") {
            "set" => results.push(write(&mut kv, None)),
            "cas" => {
                let ok = match &current {
                    None => index == 0,
                    Some(e) => e.modify_index == index,
                };
                if ok {
                    results.push(write(&mut kv, None));
                } else {
                    fail(format!("failed to set key \"{key}\", index is stale"));
                }
            }
            "lock" => {
                let session = session.unwrap_or_default();
                let delayed = st.lock_delays.get(&key).is_some_and(|t| *t > now);
                let held_by_other = current
                    .as_ref()
                    .and_then(|e| e.session.as_ref())
                    .is_some_and(|s| *s != session);
                if !st.sessions.contains_key(&session) || delayed || held_by_other {
                    fail(format!("failed to lock key \"{key}\", lock is already held"));
                } else {
                    results.push(write(&mut kv, Some(Some(session))));
                }
            }
            "unlock" => {
                let holder = current.as_ref().and_then(|e| e.session.clone());
                if holder.is_none() || holder != session {
                    fail(format!("failed to unlock key \"{key}\", lock isn't held"));
                } else {
                    results.push(write(&mut kv, Some(None)));
                }
            }
            "get" => match &current {
                Some(e) => results.push(json!({"KV": entry_json(&key, e, true)})),
                None => fail(format!("key \"{key}\" doesn't exist")),
            },
            "get-tree" => {
                for (k, e) in kv.iter().filter(|(k, _)| k.starts_with(&key)) {
                    results.push(json!({"KV": entry_json(k, e, true)}));
                }
            }
            "check-index" => match &current {
                Some(e) if e.modify_index == index => {
                    results.push(json!({"KV": entry_json(&key, e, false)}))
                }
                Some(_) => fail(format!("current modify index {index} for \"{key}\" is stale")),
                None => fail(format!("key \"{key}\" doesn't exist")),
            },
            "check-session" => match &current {
                Some(e) if e.session.is_some() && e.session == session => {
                    results.push(json!({"KV": entry_json(&key, e, false)}))
                }
                Some(_) => fail(format!(
                    "failed session check for key \"{key}\", current session is not the given session"
                )),
                None => fail(format!("key \"{key}\" doesn't exist")),
            },
            "check-not-exists" => {
                if current.is_some() {
                    fail(format!("key \"{key}\" exists"));
                }
            }
            "delete" => {
                kv.remove(&key);
            }
            "delete-cas" => match &current {
                Some(e) if e.modify_index == index => {
                    kv.remove(&key);
                }
                _ => fail(format!("failed to delete key \"{key}\", index is stale")),
            },
            "delete-tree" => kv.retain(|k, _| !k.starts_with(&key)),
            other => fail(format!("unknown KV verb \"{other}\"")),
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

fn session_json(id: &str, s: &Session) -> Value {
    json!({
        "ID": id, "Name": s.name, "Node": "sim-node",
        "LockDelay": s.lock_delay.as_nanos() as u64, "Behavior": s.behavior,
        "TTL": s.ttl.map(|t| format!("{}ms", t.as_millis())).unwrap_or_default(),
        "NodeChecks": ["serfHealth"], "ServiceChecks": null,
        "CreateIndex": s.create_index, "ModifyIndex": s.create_index,
    })
}

async fn session_create(AxState(shared): S, Json(body): Json<Value>) -> Response {
    let mut st = shared.lock();
    let ttl = body["TTL"].as_str().map(parse_duration);
    if let Some(ttl) = ttl {
        if ttl < st.min_ttl || ttl > Duration::from_secs(86400) {
            return text(
                StatusCode::BAD_REQUEST,
                &format!("Invalid Session TTL '{ttl:?}', must be between [10s=24h0m0s]"),
            );
        }
    }
    let lock_delay = body["LockDelay"]
        .as_str()
        .map(parse_duration)
        .unwrap_or(Duration::from_secs(15));
    st.next_session += 1;
    let id = format!("00000000-0000-0000-0000-{:012}", st.next_session);
    let index = shared.bump(&mut st);
    let session = Session {
        name: body["Name"].as_str().unwrap_or_default().to_string(),
        ttl,
        lock_delay,
        behavior: body["Behavior"].as_str().unwrap_or("release").to_string(),
        expires: ttl.map(|t| Instant::now() + t),
        create_index: index,
    };
    st.sessions.insert(id.clone(), session);
    Json(json!({"ID": id})).into_response()
}

async fn session_destroy(AxState(shared): S, Path(id): Path<String>) -> Response {
    let mut st = shared.lock();
    shared.invalidate(&mut st, &id);
    Json(true).into_response()
}

async fn session_renew(AxState(shared): S, Path(id): Path<String>) -> Response {
    let mut st = shared.lock();
    match st.sessions.get_mut(&id) {
        Some(s) => {
            s.expires = s.ttl.map(|t| Instant::now() + t);
            let body = json!([session_json(&id, s)]);
            Json(body).into_response()
        }
        None => text(
            StatusCode::NOT_FOUND,
            &format!("Session id '{id}' not found"),
        ),
    }
}

async fn session_info(AxState(shared): S, Path(id): Path<String>) -> Response {
    let st = shared.lock();
    let found: Vec<Value> = st
        .sessions
        .get(&id)
        .map(|s| session_json(&id, s))
        .into_iter()
        .collect();
    with_index(st.index, StatusCode::OK, json!(found))
}
