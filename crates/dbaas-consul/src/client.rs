//! The HTTP client: one method per Consul endpoint we use.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;

use crate::config::{ConsulConfig, RetryPolicy};
use crate::duration::format_go_duration;
use crate::error::ConsulError;
use crate::types::{
    CatalogServiceNode, HealthCheck, HealthStatus, KvPair, ServiceEntry, SessionCreate,
    SessionCreated, SessionEntry, TxnOp, TxnResponse, TxnResult,
};
use crate::watch::KeyWatcher;

/// Consul's default `wait` when a blocking query gives none.
const DEFAULT_WAIT: Duration = Duration::from_secs(300);

/// How a read may be served, trading freshness for availability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Consistency {
    /// The leader answers, without an extra round of leadership checks.
    #[default]
    Default,
    /// The leader confirms it still leads first (`?consistent`): never stale.
    Consistent,
    /// Any server answers (`?stale`): may lag, works without a leader.
    Stale,
}

/// Options of a read; `index` makes it a blocking query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryOptions {
    /// Block until Consul's index for the data exceeds this (`?index=`).
    pub index: Option<u64>,
    /// How long to block at most (`?wait=`); Consul's default is 5 min.
    pub wait: Option<Duration>,
    /// Consistency mode.
    pub consistency: Consistency,
}

impl QueryOptions {
    /// A blocking query: wait up to `wait` for the index to pass `index`.
    pub fn blocking(index: u64, wait: Duration) -> Self {
        Self {
            index: Some(index),
            wait: Some(wait),
            consistency: Consistency::Default,
        }
    }
}

/// What Consul says about the answer in its response headers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryMeta {
    /// `X-Consul-Index`: pass it as the next blocking query's `index`.
    pub last_index: u64,
    /// `X-Consul-KnownLeader`: whether the answering server knew a leader.
    pub known_leader: bool,
    /// `X-Consul-LastContact`: how stale a `stale` read may be.
    pub last_contact: Duration,
}

/// Options of a KV write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KvPutOptions {
    /// Check-and-set: write only if the key's `ModifyIndex` equals this;
    /// `Some(0)` writes only if the key does not exist.
    pub cas: Option<u64>,
    /// An opaque integer stored with the entry.
    pub flags: Option<u64>,
    /// Take the key's lock with this session (answer `false` if another holds it).
    pub acquire: Option<String>,
    /// Release the key's lock held by this session.
    pub release: Option<String>,
}

/// Options of a KV delete.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KvDeleteOptions {
    /// Delete only if the key's `ModifyIndex` equals this (must be > 0).
    pub cas: Option<u64>,
    /// Delete every key under the prefix.
    pub recurse: bool,
}

/// A typed client of one Consul agent's HTTP API. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ConsulClient {
    http: reqwest::Client,
    base: Url,
    namespace: Option<String>,
    datacenter: Option<String>,
    retry: RetryPolicy,
    request_timeout: Duration,
}

impl ConsulClient {
    /// Builds a client; reads the TLS files named in `config` now, so a
    /// wrong path fails at start rather than at the first request.
    ///
    /// A rustls crypto provider must be installed in the process first
    /// (`dbaas_client::install_crypto_provider`).
    pub fn new(config: ConsulConfig) -> Result<Self, ConsulError> {
        let mut headers = HeaderMap::new();
        if let Some(token) = &config.token {
            let mut value = HeaderValue::from_str(token).map_err(|_| ConsulError::Config {
                setting: "CONSUL_HTTP_TOKEN".to_string(),
                detail: "the token contains characters not allowed in an HTTP header".to_string(),
            })?;
            value.set_sensitive(true);
            headers.insert("X-Consul-Token", value);
        }
        let mut builder = reqwest::Client::builder().default_headers(headers);
        if let Some(path) = &config.ca_cert {
            let pem = read_file("CONSUL_CACERT", path)?;
            let certs =
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| ConsulError::Config {
                    setting: "CONSUL_CACERT".to_string(),
                    detail: format!("{} is not a PEM certificate bundle: {e}", path.display()),
                })?;
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        match (&config.client_cert, &config.client_key) {
            (Some(cert), Some(key)) => {
                // reqwest's rustls identity wants certificate and key in one PEM.
                let mut pem = read_file("CONSUL_CLIENT_CERT", cert)?;
                pem.push(b'\n');
                pem.extend(read_file("CONSUL_CLIENT_KEY", key)?);
                let identity =
                    reqwest::Identity::from_pem(&pem).map_err(|e| ConsulError::Config {
                        setting: "CONSUL_CLIENT_CERT".to_string(),
                        detail: format!(
                            "{} and {} are not a PEM certificate and its private key: {e}",
                            cert.display(),
                            key.display()
                        ),
                    })?;
                builder = builder.identity(identity);
            }
            (None, None) => {}
            (Some(_), None) | (None, Some(_)) => {
                return Err(ConsulError::Config {
                    setting: "CONSUL_CLIENT_CERT".to_string(),
                    detail: "CONSUL_CLIENT_CERT and CONSUL_CLIENT_KEY must be set together"
                        .to_string(),
                })
            }
        }
        let http = builder.build().map_err(|e| ConsulError::Config {
            setting: "TLS".to_string(),
            detail: format!("cannot build the HTTP client: {e}"),
        })?;
        Ok(Self {
            http,
            base: config.address,
            namespace: config.namespace,
            datacenter: config.datacenter,
            retry: config.retry,
            request_timeout: config.request_timeout,
        })
    }

    /// A client configured from the `CONSUL_*` environment variables.
    pub fn from_env() -> Result<Self, ConsulError> {
        Self::new(ConsulConfig::from_env()?)
    }

    /// The agent's base URL.
    pub fn address(&self) -> &Url {
        &self.base
    }

    // ------------------------------------------------------------ KV

    /// Reads one key; `None` if it does not exist.
    pub async fn kv_get(
        &self,
        key: &str,
        opts: &QueryOptions,
    ) -> Result<(Option<KvPair>, QueryMeta), ConsulError> {
        let url = self.url(&["kv"], Some(key));
        let (pairs, meta) = self
            .read::<Vec<KvPair>>(url, &[], opts, "a KV entry")
            .await?;
        Ok((pairs.into_iter().next(), meta))
    }

    /// Reads every key under `prefix` (`?recurse`); empty if there is none.
    /// The index covers the whole subtree, so one blocking query watches it.
    pub async fn kv_list(
        &self,
        prefix: &str,
        opts: &QueryOptions,
    ) -> Result<(Vec<KvPair>, QueryMeta), ConsulError> {
        let url = self.url(&["kv"], Some(prefix));
        self.read(url, &[("recurse", None)], opts, "KV entries")
            .await
    }

    /// Lists the keys under `prefix` (`?keys`), cut after `separator` if given.
    pub async fn kv_keys(
        &self,
        prefix: &str,
        separator: Option<&str>,
        opts: &QueryOptions,
    ) -> Result<(Vec<String>, QueryMeta), ConsulError> {
        let url = self.url(&["kv"], Some(prefix));
        let mut params = vec![("keys", None)];
        if let Some(sep) = separator {
            params.push(("separator", Some(sep.to_string())));
        }
        self.read(url, &params, opts, "KV keys").await
    }

    /// Writes `value` at `key`. Returns Consul's answer: `false` means a
    /// `cas` or `acquire` condition did not hold and nothing was written.
    pub async fn kv_put(
        &self,
        key: &str,
        value: impl Into<Vec<u8>>,
        opts: &KvPutOptions,
    ) -> Result<bool, ConsulError> {
        let mut url = self.url(&["kv"], Some(key));
        {
            let mut q = url.query_pairs_mut();
            if let Some(cas) = opts.cas {
                q.append_pair("cas", &cas.to_string());
            }
            if let Some(flags) = opts.flags {
                q.append_pair("flags", &flags.to_string());
            }
            if let Some(session) = &opts.acquire {
                q.append_pair("acquire", session);
            }
            if let Some(session) = &opts.release {
                q.append_pair("release", session);
            }
        }
        let body = Body::Raw(value.into());
        let resp = self
            .send(Method::PUT, url, body, self.request_timeout, false)
            .await?;
        decode_json(resp, "the KV write answer").await
    }

    /// Deletes `key` (or the subtree, with `recurse`). `false` means a
    /// `cas` condition did not hold.
    pub async fn kv_delete(&self, key: &str, opts: &KvDeleteOptions) -> Result<bool, ConsulError> {
        let mut url = self.url(&["kv"], Some(key));
        {
            let mut q = url.query_pairs_mut();
            if let Some(cas) = opts.cas {
                q.append_pair("cas", &cas.to_string());
            }
            if opts.recurse {
                q.append_key_only("recurse");
            }
        }
        let resp = self
            .send(Method::DELETE, url, Body::None, self.request_timeout, false)
            .await?;
        decode_json(resp, "the KV delete answer").await
    }

    /// A watcher that reports each change of `key`, blocking up to `wait`
    /// per query. See [`KeyWatcher`].
    pub fn watch_key(&self, key: impl Into<String>, wait: Duration) -> KeyWatcher {
        KeyWatcher::new(self.clone(), key.into(), wait)
    }

    // ------------------------------------------------------------ transactions

    /// Applies `ops` atomically. On success returns the results (deletes
    /// produce none); a rollback (HTTP 409) is [`ConsulError::TxnRolledBack`]
    /// with Consul's reason for each failed operation.
    pub async fn txn(&self, ops: &[TxnOp]) -> Result<Vec<TxnResult>, ConsulError> {
        let url = self.url(&["txn"], None);
        let body = Body::Json(serde_json::to_vec(ops).map_err(|e| ConsulError::Decode {
            what: "the transaction to send".to_string(),
            detail: e.to_string(),
        })?);
        let resp = self
            .send_inner(Method::PUT, url, body, self.request_timeout, &[409])
            .await?;
        let status = resp.status();
        if status == StatusCode::CONFLICT {
            let answer: TxnResponse = decode_json(resp, "the transaction answer").await?;
            return Err(ConsulError::TxnRolledBack(answer.errors));
        }
        let answer: TxnResponse = decode_json(resp, "the transaction answer").await?;
        Ok(answer.results)
    }

    // ------------------------------------------------------------ sessions

    /// Creates a session and returns its ID.
    pub async fn session_create(&self, request: &SessionCreate) -> Result<String, ConsulError> {
        let url = self.url(&["session", "create"], None);
        let body = Body::Json(
            serde_json::to_vec(request).map_err(|e| ConsulError::Decode {
                what: "the session to create".to_string(),
                detail: e.to_string(),
            })?,
        );
        let resp = self
            .send(Method::PUT, url, body, self.request_timeout, false)
            .await?;
        let created: SessionCreated = decode_json(resp, "the created session").await?;
        Ok(created.id)
    }

    /// Renews a TTL session. `None` if it no longer exists (expired or
    /// destroyed): its locks are gone and a new session must be created.
    pub async fn session_renew(&self, id: &str) -> Result<Option<SessionEntry>, ConsulError> {
        let url = self.url(&["session", "renew", id], None);
        let resp = self
            .send(Method::PUT, url, Body::None, self.request_timeout, true)
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let entries: Vec<SessionEntry> = decode_json(resp, "the renewed session").await?;
        Ok(entries.into_iter().next())
    }

    /// Destroys a session, releasing (or deleting) its locks. Idempotent.
    pub async fn session_destroy(&self, id: &str) -> Result<bool, ConsulError> {
        let url = self.url(&["session", "destroy", id], None);
        let resp = self
            .send(Method::PUT, url, Body::None, self.request_timeout, false)
            .await?;
        decode_json(resp, "the session destroy answer").await
    }

    /// Reads a session; `None` if it does not exist.
    pub async fn session_info(
        &self,
        id: &str,
        opts: &QueryOptions,
    ) -> Result<(Option<SessionEntry>, QueryMeta), ConsulError> {
        let url = self.url(&["session", "info", id], None);
        let (entries, meta) = self
            .read::<Vec<SessionEntry>>(url, &[], opts, "a session")
            .await?;
        Ok((entries.into_iter().next(), meta))
    }

    // ------------------------------------------------------------ health & catalog

    /// The instances of `service` with their checks; with `passing_only`,
    /// only those whose every check passes (`?passing`).
    pub async fn health_service(
        &self,
        service: &str,
        passing_only: bool,
        opts: &QueryOptions,
    ) -> Result<(Vec<ServiceEntry>, QueryMeta), ConsulError> {
        let url = self.url(&["health", "service", service], None);
        let params: &[(&str, Option<String>)] = if passing_only {
            &[("passing", None)]
        } else {
            &[]
        };
        self.read(url, params, opts, "service health").await
    }

    /// The checks in `state` across the datacenter.
    pub async fn health_state(
        &self,
        state: HealthStatus,
        opts: &QueryOptions,
    ) -> Result<(Vec<HealthCheck>, QueryMeta), ConsulError> {
        let url = self.url(&["health", "state", state.as_str()], None);
        self.read(url, &[], opts, "health checks").await
    }

    /// The registered instances of `service`, without health.
    pub async fn catalog_service(
        &self,
        service: &str,
        opts: &QueryOptions,
    ) -> Result<(Vec<CatalogServiceNode>, QueryMeta), ConsulError> {
        let url = self.url(&["catalog", "service", service], None);
        self.read(url, &[], opts, "catalog service nodes").await
    }

    // ------------------------------------------------------------ plumbing

    /// `base/v1/<segments>/<key>` with each part percent-encoded, and the
    /// namespace and datacenter parameters.
    fn url(&self, segments: &[&str], key: Option<&str>) -> Url {
        let mut url = self.base.clone();
        {
            let mut path = url
                .path_segments_mut()
                .expect("http(s) URLs always have a path");
            path.pop_if_empty().push("v1").extend(segments);
            // Split so the key's `/` stay path separators while every other
            // character is escaped; a trailing `/` (a "folder") survives as
            // an empty last segment.
            if let Some(key) = key {
                path.extend(key.trim_start_matches('/').split('/'));
            }
        }
        {
            let mut q = url.query_pairs_mut();
            if let Some(ns) = &self.namespace {
                q.append_pair("ns", ns);
            }
            if let Some(dc) = &self.datacenter {
                q.append_pair("dc", dc);
            }
        }
        strip_empty_query(&mut url);
        url
    }

    /// A GET with query options; a 404 reads as an empty list (Consul's
    /// answer for an absent key or session).
    async fn read<T: DeserializeOwned + Default>(
        &self,
        mut url: Url,
        params: &[(&str, Option<String>)],
        opts: &QueryOptions,
        what: &str,
    ) -> Result<(T, QueryMeta), ConsulError> {
        let mut timeout = self.request_timeout;
        {
            let mut q = url.query_pairs_mut();
            for (name, value) in params {
                match value {
                    Some(v) => q.append_pair(name, v),
                    None => q.append_key_only(name),
                };
            }
            if let Some(index) = opts.index {
                q.append_pair("index", &index.to_string());
                // Consul holds the request for `wait` plus up to wait/16 of
                // jitter; the client must not give up before that.
                let wait = opts.wait.unwrap_or(DEFAULT_WAIT);
                timeout += wait + wait / 16;
            }
            if let Some(wait) = opts.wait {
                q.append_pair("wait", &format_go_duration(wait));
            }
            match opts.consistency {
                Consistency::Default => {}
                Consistency::Consistent => {
                    q.append_key_only("consistent");
                }
                Consistency::Stale => {
                    q.append_key_only("stale");
                }
            }
        }
        strip_empty_query(&mut url);
        let resp = self
            .send(Method::GET, url, Body::None, timeout, true)
            .await?;
        let meta = query_meta(resp.headers());
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok((T::default(), meta));
        }
        Ok((decode_json(resp, what).await?, meta))
    }

    async fn send(
        &self,
        method: Method,
        url: Url,
        body: Body,
        timeout: Duration,
        allow_404: bool,
    ) -> Result<reqwest::Response, ConsulError> {
        let allowed: &[u16] = if allow_404 { &[404] } else { &[] };
        self.send_inner(method, url, body, timeout, allowed).await
    }

    /// Sends with retries: transport errors and 5xx are retried with
    /// exponential backoff, 4xx never (the request is wrong as written).
    /// Statuses in `allowed` are handed back to the caller.
    ///
    /// Writes are retried too: KV puts and deletes are idempotent or guarded
    /// by `cas`, so a repeat after a lost answer at worst reports `false`
    /// (or a 409 for a transaction that did apply). A repeated session
    /// create may leave an unused session behind; its TTL reaps it.
    async fn send_inner(
        &self,
        method: Method,
        url: Url,
        body: Body,
        timeout: Duration,
        allowed: &[u16],
    ) -> Result<reqwest::Response, ConsulError> {
        let path = url.path().to_string();
        let mut attempt = 0u32;
        loop {
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .timeout(timeout);
            request = match &body {
                Body::None => request,
                Body::Raw(bytes) => request
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .body(bytes.clone()),
                Body::Json(bytes) => request
                    .header(CONTENT_TYPE, "application/json")
                    .body(bytes.clone()),
            };
            let retryable = match request.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    if status.is_success() || allowed.contains(&status.as_u16()) {
                        return Ok(resp);
                    }
                    if !status.is_server_error() || attempt >= self.retry.max_retries {
                        return Err(status_error(method.as_str(), &path, resp).await);
                    }
                    format!("HTTP {status}")
                }
                Err(e) => {
                    if attempt >= self.retry.max_retries {
                        return Err(ConsulError::Transport {
                            method: method.to_string(),
                            path,
                            address: self.base.to_string(),
                            attempts: attempt + 1,
                            detail: error_chain(&e),
                        });
                    }
                    error_chain(&e)
                }
            };
            let pause = self.retry.backoff(attempt);
            tracing::debug!(%method, %path, attempt, ?pause, error = %retryable, "retrying Consul request");
            tokio::time::sleep(pause).await;
            attempt += 1;
        }
    }
}

/// A request body, kept as bytes so a retry can send it again.
enum Body {
    None,
    Raw(Vec<u8>),
    Json(Vec<u8>),
}

fn read_file(setting: &str, path: &std::path::Path) -> Result<Vec<u8>, ConsulError> {
    std::fs::read(path).map_err(|e| ConsulError::Config {
        setting: setting.to_string(),
        detail: format!(
            "cannot read {}: {e}; set {setting} to a readable PEM file or unset it",
            path.display()
        ),
    })
}

/// `query_pairs_mut` leaves a bare `?` when nothing was appended.
fn strip_empty_query(url: &mut Url) {
    if url.query() == Some("") {
        url.set_query(None);
    }
}

fn query_meta(headers: &HeaderMap) -> QueryMeta {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    QueryMeta {
        last_index: header("X-Consul-Index")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        known_leader: header("X-Consul-KnownLeader") == Some("true"),
        last_contact: Duration::from_millis(
            header("X-Consul-LastContact")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
        ),
    }
}

async fn decode_json<T: DeserializeOwned>(
    resp: reqwest::Response,
    what: &str,
) -> Result<T, ConsulError> {
    let bytes = resp.bytes().await.map_err(|e| ConsulError::Decode {
        what: what.to_string(),
        detail: format!("reading the body: {}", error_chain(&e)),
    })?;
    serde_json::from_slice(&bytes).map_err(|e| ConsulError::Decode {
        what: what.to_string(),
        detail: e.to_string(),
    })
}

async fn status_error(method: &str, path: &str, resp: reqwest::Response) -> ConsulError {
    let status = resp.status().as_u16();
    let message = resp
        .text()
        .await
        .map(|t| t.trim().to_string())
        .unwrap_or_default();
    ConsulError::Status {
        method: method.to_string(),
        path: path.to_string(),
        status,
        message: if message.is_empty() {
            "(no message)".to_string()
        } else {
            message
        },
    }
}

/// reqwest's top-level error says little ("error sending request"); the
/// causes say why (connection refused, certificate unknown, ...).
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
