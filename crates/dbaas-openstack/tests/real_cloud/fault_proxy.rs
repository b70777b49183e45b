//! An HTTP proxy that stands between the client and one OpenStack service
//! and breaks chosen requests: an error status instead of forwarding, an
//! error status after forwarding (the service acted, the answer is lost),
//! a connection closed before or after forwarding, a delay before or
//! after forwarding. Test code only.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use reqwest::Method;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// What to do to a matching request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer this status without forwarding: the service never saw it.
    StatusBefore(u16),
    /// Forward, then answer this status instead of the service's answer.
    StatusAfter(u16),
    /// Close the connection without forwarding.
    ResetBefore,
    /// Forward, then close the connection without answering.
    ResetAfter,
    /// Wait, then forward.
    DelayBefore(Duration),
    /// Forward, then hold the answer this long.
    DelayAfter(Duration),
}

/// Applies `fault` to requests of `method` whose path contains `path`,
/// skipping the first `skip` such requests, then `times` times.
#[derive(Debug, Clone)]
pub struct Rule {
    pub method: Method,
    pub path: String,
    pub skip: usize,
    pub times: usize,
    pub fault: Fault,
}

impl Rule {
    pub fn new(method: Method, path: &str, fault: Fault) -> Rule {
        Rule {
            method,
            path: path.to_string(),
            skip: 0,
            times: 1,
            fault,
        }
    }
    pub fn times(mut self, n: usize) -> Rule {
        self.times = n;
        self
    }
}

/// One request seen, with the fault applied to it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: Method,
    pub path: String,
    pub fault: Option<Fault>,
}

#[derive(Default)]
struct State {
    rules: Vec<(Rule, usize)>, // rule, matching requests seen so far
    seen: Vec<Seen>,
}

/// A running proxy (stops with the test's runtime).
#[derive(Clone)]
pub struct FaultProxy {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl FaultProxy {
    /// Forwards to `upstream` (`http://host:port`, no path).
    pub async fn start(upstream: &str) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let upstream = upstream.trim_end_matches('/').to_string();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .unwrap();
        let st = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (st, upstream, client) = (st.clone(), upstream.clone(), client.clone());
                tokio::spawn(async move {
                    // A fault that resets fires this: the connection is
                    // dropped with no answer.
                    let (reset_tx, reset_rx) = oneshot::channel::<()>();
                    let reset_tx = Arc::new(Mutex::new(Some(reset_tx)));
                    let svc = service_fn(move |req| {
                        let (st, upstream, client, reset) = (
                            st.clone(),
                            upstream.clone(),
                            client.clone(),
                            reset_tx.clone(),
                        );
                        async move { handle(req, st, upstream, client, reset).await }
                    });
                    let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), svc);
                    tokio::select! {
                        _ = conn => {}
                        _ = reset_rx => {}
                    }
                });
            }
        });
        FaultProxy { addr, state }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn add(&self, rule: Rule) {
        self.state.lock().unwrap().rules.push((rule, 0));
    }

    /// Requests seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    /// How many requests got a fault.
    pub fn injected(&self) -> usize {
        self.seen().iter().filter(|s| s.fault.is_some()).count()
    }

    /// Requests of `method` whose path contains `path`.
    pub fn count(&self, method: &Method, path: &str) -> usize {
        self.seen()
            .iter()
            .filter(|s| s.method == *method && s.path.contains(path))
            .count()
    }
}

type Reply = Response<Full<Bytes>>;

fn status(code: u16) -> Reply {
    let mut r = Response::new(Full::new(Bytes::from(format!(
        "{{\"message\": \"injected HTTP {code}\"}}"
    ))));
    *r.status_mut() = hyper::StatusCode::from_u16(code).unwrap();
    r.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    r
}

async fn handle(
    req: Request<Incoming>,
    st: Arc<Mutex<State>>,
    upstream: String,
    client: reqwest::Client,
    reset: Arc<Mutex<Option<oneshot::Sender<()>>>>,
) -> Result<Reply, std::convert::Infallible> {
    let method = req.method().clone();
    let path_q = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let fault = {
        let mut s = st.lock().unwrap();
        let mut fault = None;
        for (rule, n) in s.rules.iter_mut() {
            if rule.method == method && path_q.contains(&rule.path) {
                *n += 1;
                if fault.is_none() && *n > rule.skip && *n <= rule.skip + rule.times {
                    fault = Some(rule.fault);
                }
            }
        }
        s.seen.push(Seen {
            method: method.clone(),
            path: path_q.clone(),
            fault,
        });
        fault
    };
    let drop_connection = || {
        if let Some(tx) = reset.lock().unwrap().take() {
            let _ = tx.send(());
        }
    };
    match fault {
        Some(Fault::StatusBefore(c)) => return Ok(status(c)),
        Some(Fault::ResetBefore) => {
            drop_connection();
            return std::future::pending().await;
        }
        Some(Fault::DelayBefore(d)) => tokio::time::sleep(d).await,
        _ => {}
    }
    // Forward.
    let headers = req.headers().clone();
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let mut rb = client.request(method, format!("{upstream}{path_q}"));
    for (k, v) in headers.iter() {
        if !matches!(k.as_str(), "host" | "content-length" | "connection") {
            rb = rb.header(k, v);
        }
    }
    let answer = match rb.body(body).send().await {
        Ok(a) => a,
        Err(e) => return Ok(status_with(502, &e.to_string())),
    };
    let code = answer.status().as_u16();
    let answer_headers = answer.headers().clone();
    let bytes = answer.bytes().await.unwrap_or_default();
    match fault {
        Some(Fault::StatusAfter(c)) => return Ok(status(c)),
        Some(Fault::ResetAfter) => {
            drop_connection();
            return std::future::pending().await;
        }
        Some(Fault::DelayAfter(d)) => tokio::time::sleep(d).await,
        _ => {}
    }
    let mut r = Response::new(Full::new(bytes));
    *r.status_mut() = hyper::StatusCode::from_u16(code).unwrap();
    for (k, v) in answer_headers.iter() {
        if !matches!(
            k.as_str(),
            "content-length" | "transfer-encoding" | "connection"
        ) {
            r.headers_mut().insert(k, v.clone());
        }
    }
    Ok(r)
}

fn status_with(code: u16, msg: &str) -> Reply {
    let mut r = status(code);
    *r.body_mut() = Full::new(Bytes::from(
        serde_json::json!({ "message": msg }).to_string(),
    ));
    r
}
