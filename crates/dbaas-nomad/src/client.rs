//! The HTTP client: configuration, retries, blocking queries and the
//! endpoint methods.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::header::{HeaderMap, CONTENT_TYPE};
use reqwest::{Method, Url};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::api::*;
use crate::error::NomadError;
use crate::job::Job;
use crate::serde_util::{from_json_slice, go_duration};

/// Result of a Nomad call.
pub type Result<T> = std::result::Result<T, NomadError>;

/// Address used when `NOMAD_ADDR` is unset, as the `nomad` CLI does.
pub const DEFAULT_ADDRESS: &str = "http://127.0.0.1:4646";

/// The header carrying the ACL token.
pub const TOKEN_HEADER: &str = "X-Nomad-Token";

/// How failed calls are retried: 5xx answers and transport failures
/// (refused, reset, timed out) are retried with exponential backoff; 4xx
/// answers never are, since Nomad would refuse them again.
///
/// Writes are retried too. Nomad's writes dbaas uses are safe to repeat:
/// registering the same job again changes nothing, a stop of a stopped job
/// is a no-op, and dispatch is made safe by its idempotency token — while
/// the first child has not finished: Nomad answers a token whose child is
/// dead by dispatching again, so a caller that must never run twice
/// dispatches through [`NomadClient::with_retry`]`(RetryPolicy::none())`
/// and looks for the child itself before retrying. The other visible
/// effect: a check-and-set registration whose first attempt was
/// applied but whose answer was lost fails its retry with
/// [`NomadError::CheckAndSetConflict`], and the caller re-reads the job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, including the first (at least 1).
    pub max_attempts: u32,
    /// Wait before the first retry; doubled for each further one.
    pub initial_backoff: Duration,
    /// Upper bound of the wait between attempts.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        // About 3 s of waiting in all: long enough to ride out a leader
        // election, short enough that a saga step fails while a human is
        // still looking.
        Self {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// No retries: one attempt.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The wait after failed attempt number `attempt` (1-based).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// Where Nomad is and how to talk to it. [`NomadConfig::from_env`] reads the
/// variables the `nomad` CLI reads, so an operator's shell setup works as is.
#[derive(Clone, PartialEq, Eq)]
pub struct NomadConfig {
    /// Base address (`NOMAD_ADDR`), e.g. `https://nomad.internal:4646`.
    pub address: String,
    /// ACL token (`NOMAD_TOKEN`), sent as `X-Nomad-Token`.
    pub token: Option<String>,
    /// Namespace (`NOMAD_NAMESPACE`), sent as the `namespace` parameter.
    pub namespace: Option<String>,
    /// Region (`NOMAD_REGION`), sent as the `region` parameter.
    pub region: Option<String>,
    /// PEM file of CA certificates to trust (`NOMAD_CACERT`).
    pub ca_cert: Option<PathBuf>,
    /// PEM client certificate for mutual TLS (`NOMAD_CLIENT_CERT`).
    pub client_cert: Option<PathBuf>,
    /// PEM private key of the client certificate (`NOMAD_CLIENT_KEY`).
    pub client_key: Option<PathBuf>,
    /// Retries of failed calls.
    pub retry: RetryPolicy,
    /// Time limit of one attempt of a non-blocking call (blocking queries
    /// get their wait on top).
    pub request_timeout: Duration,
}

// Written by hand so the token never reaches a log line.
impl std::fmt::Debug for NomadConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NomadConfig")
            .field("address", &self.address)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("namespace", &self.namespace)
            .field("region", &self.region)
            .field("ca_cert", &self.ca_cert)
            .field("client_cert", &self.client_cert)
            .field("client_key", &self.client_key)
            .field("retry", &self.retry)
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

impl Default for NomadConfig {
    fn default() -> Self {
        Self {
            address: DEFAULT_ADDRESS.to_string(),
            token: None,
            namespace: None,
            region: None,
            ca_cert: None,
            client_cert: None,
            client_key: None,
            retry: RetryPolicy::default(),
            request_timeout: Duration::from_secs(60),
        }
    }
}

impl NomadConfig {
    /// Reads `NOMAD_ADDR`, `NOMAD_TOKEN`, `NOMAD_NAMESPACE`, `NOMAD_REGION`,
    /// `NOMAD_CACERT`, `NOMAD_CLIENT_CERT` and `NOMAD_CLIENT_KEY` from the
    /// process environment.
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`NomadConfig::from_env`], reading variables through `lookup`
    /// (tests pass a map instead of mutating the process environment).
    /// Empty values count as unset, as `export NOMAD_TOKEN=` means "none".
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        Self {
            address: get("NOMAD_ADDR").unwrap_or_else(|| DEFAULT_ADDRESS.to_string()),
            token: get("NOMAD_TOKEN"),
            namespace: get("NOMAD_NAMESPACE"),
            region: get("NOMAD_REGION"),
            ca_cert: get("NOMAD_CACERT").map(PathBuf::from),
            client_cert: get("NOMAD_CLIENT_CERT").map(PathBuf::from),
            client_key: get("NOMAD_CLIENT_KEY").map(PathBuf::from),
            ..Self::default()
        }
    }
}

/// Where a blocking query starts from.
///
/// With `index` set, Nomad holds the request until the resource's index
/// passes it or `wait` runs out (Nomad's default 5 minutes, at most 10,
/// plus up to `wait/16` jitter); either way the answer carries the index to
/// pass next. An answer is not proof of change: compare the index.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueryOptions {
    /// The `X-Nomad-Index` of the previous answer.
    pub index: Option<u64>,
    /// How long Nomad may hold the request.
    pub wait: Option<Duration>,
}

impl QueryOptions {
    /// A plain read that answers at once.
    pub fn now() -> Self {
        Self::default()
    }

    /// A blocking read that answers once the index passes `index`, or after
    /// `wait`.
    pub fn blocking(index: u64, wait: Duration) -> Self {
        Self {
            index: Some(index),
            wait: Some(wait),
        }
    }
}

/// What the answer's headers say about the state it was read from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueryMeta {
    /// `X-Nomad-Index`: pass it as [`QueryOptions::index`] to wait for the
    /// next change (0 if the header was absent).
    pub last_index: u64,
    /// `X-Nomad-KnownLeader`: whether the answering server knew a leader.
    pub known_leader: bool,
    /// `X-Nomad-LastContact`: how stale the answer may be.
    pub last_contact: Duration,
}

impl QueryMeta {
    fn from_headers(headers: &HeaderMap) -> Self {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        Self {
            last_index: header("X-Nomad-Index")
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0),
            known_leader: header("X-Nomad-KnownLeader").is_some_and(|v| v.trim() == "true"),
            last_contact: Duration::from_millis(
                header("X-Nomad-LastContact")
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0),
            ),
        }
    }
}

/// A read's value with the query metadata from its headers.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResponse<T> {
    /// The decoded body.
    pub value: T,
    /// Index and staleness of the answer.
    pub meta: QueryMeta,
}

/// Which log of a task to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl LogStream {
    fn as_str(self) -> &'static str {
        match self {
            LogStream::Stdout => "stdout",
            LogStream::Stderr => "stderr",
        }
    }
}

/// A client of one Nomad region's HTTP API.
#[derive(Debug, Clone)]
pub struct NomadClient {
    http: reqwest::Client,
    base: Url,
    config: NomadConfig,
}

struct Raw {
    headers: HeaderMap,
    body: Vec<u8>,
}

/// One request, described before it is sent (it may be sent several times).
struct Call<'a> {
    method: Method,
    segments: &'a [&'a str],
    query: Vec<(&'static str, String)>,
    body: Option<Vec<u8>>,
    timeout: Duration,
}

impl NomadClient {
    /// A client configured from the environment ([`NomadConfig::from_env`]).
    pub fn from_env() -> Result<Self> {
        Self::new(NomadConfig::from_env())
    }

    /// A client for `config`. Reads the TLS files now, so a bad path is
    /// reported at start-up rather than at the first call.
    pub fn new(config: NomadConfig) -> Result<Self> {
        let base = parse_address(&config.address)?;
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .connect_timeout(Duration::from_secs(10));
        if let Some(path) = &config.ca_cert {
            let pem = read_pem("NOMAD_CACERT", path)?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                NomadError::Config(format!(
                    "NOMAD_CACERT file {} is not a PEM certificate bundle ({e}); point it at the CA that signed the Nomad servers' certificates",
                    path.display()
                ))
            })?;
            if certs.is_empty() {
                return Err(NomadError::Config(format!(
                    "NOMAD_CACERT file {} holds no PEM certificate; point it at the CA that signed the Nomad servers' certificates",
                    path.display()
                )));
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        match (&config.client_cert, &config.client_key) {
            (None, None) => {}
            (Some(cert), Some(key)) => {
                let mut pem = read_pem("NOMAD_CLIENT_CERT", cert)?;
                pem.push(b'\n');
                pem.extend(read_pem("NOMAD_CLIENT_KEY", key)?);
                let identity = reqwest::Identity::from_pem(&pem).map_err(|e| {
                    NomadError::Config(format!(
                        "NOMAD_CLIENT_CERT {} and NOMAD_CLIENT_KEY {} do not make a PEM certificate and private key ({e})",
                        cert.display(),
                        key.display()
                    ))
                })?;
                builder = builder.identity(identity);
            }
            (Some(_), None) | (None, Some(_)) => {
                return Err(NomadError::Config(
                    "NOMAD_CLIENT_CERT and NOMAD_CLIENT_KEY must be set together for mutual TLS; set both or neither".into(),
                ))
            }
        }
        let http = builder
            .build()
            .map_err(|e| NomadError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self { http, base, config })
    }

    /// The configuration in use.
    pub fn config(&self) -> &NomadConfig {
        &self.config
    }

    /// The same client (same connections) with another retry policy.
    pub fn with_retry(&self, retry: RetryPolicy) -> Self {
        let mut client = self.clone();
        client.config.retry = retry;
        client
    }

    /// Registers a job (new job or new version). Use
    /// [`JobRegisterRequest::check_and_set`] to register only if nobody
    /// changed the job since it was read.
    pub async fn register_job(&self, request: &JobRegisterRequest) -> Result<JobRegisterResponse> {
        let raw = self
            .send(self.write(Method::POST, &["v1", "jobs"], Some(request))?)
            .await?;
        decode(&raw, "POST", "/v1/jobs", "a job registration answer")
    }

    /// Lists jobs whose ID starts with `prefix` (all with `""`).
    pub async fn list_jobs(
        &self,
        prefix: &str,
        query: &QueryOptions,
    ) -> Result<QueryResponse<Vec<JobListStub>>> {
        let mut call = self.read(&["v1", "jobs"], query);
        if !prefix.is_empty() {
            call.query.push(("prefix", prefix.to_string()));
        }
        self.query(call, "a job list").await
    }

    /// Reads a job (404 → [`NomadError::is_not_found`]).
    pub async fn read_job(&self, job_id: &str, query: &QueryOptions) -> Result<QueryResponse<Job>> {
        self.query(self.read(&["v1", "job", job_id], query), "a job")
            .await
    }

    /// Turns an HCL job specification into the JSON job form. The HCL is
    /// sent whole, as the operator wrote it.
    pub async fn parse_job(&self, request: &JobParseRequest) -> Result<Job> {
        let raw = self
            .send(self.write(Method::POST, &["v1", "jobs", "parse"], Some(request))?)
            .await?;
        decode(&raw, "POST", "/v1/jobs/parse", "a job")
    }

    /// Dry-runs a registration: what would change and whether it fits.
    pub async fn plan_job(&self, request: &JobPlanRequest) -> Result<JobPlanResponse> {
        let job_id = required_id(&request.job)?;
        let segments = ["v1", "job", job_id, "plan"];
        let raw = self
            .send(self.write(Method::POST, &segments, Some(request))?)
            .await?;
        decode(&raw, "POST", &display_path(&segments), "a plan")
    }

    /// Stops a job; with `purge` it is also removed at once instead of
    /// staying readable as `dead` until garbage collection.
    pub async fn stop_job(&self, job_id: &str, purge: bool) -> Result<JobStopResponse> {
        let segments = ["v1", "job", job_id];
        let mut call = self.write::<()>(Method::DELETE, &segments, None)?;
        if purge {
            call.query.push(("purge", "true".into()));
        }
        let raw = self.send(call).await?;
        decode(
            &raw,
            "DELETE",
            &display_path(&segments),
            "a job stop answer",
        )
    }

    /// Dispatches a parameterized job. With an `idempotency_token`, a second
    /// dispatch with the same token (a retry, a resumed saga step) is
    /// refused by Nomad instead of starting a second child.
    pub async fn dispatch_job(
        &self,
        job_id: &str,
        request: &JobDispatchRequest,
        idempotency_token: Option<&str>,
    ) -> Result<JobDispatchResponse> {
        let segments = ["v1", "job", job_id, "dispatch"];
        let mut call = self.write(Method::POST, &segments, Some(request))?;
        if let Some(token) = idempotency_token {
            // A query parameter, as for every Nomad write that takes one.
            call.query.push(("idempotency_token", token.to_string()));
        }
        let raw = self.send(call).await?;
        decode(&raw, "POST", &display_path(&segments), "a dispatch answer")
    }

    /// Lists a job's allocations (blocking query).
    pub async fn job_allocations(
        &self,
        job_id: &str,
        query: &QueryOptions,
    ) -> Result<QueryResponse<Vec<AllocationListStub>>> {
        self.query(
            self.read(&["v1", "job", job_id, "allocations"], query),
            "an allocation list",
        )
        .await
    }

    /// Lists a job's evaluations (blocking query).
    pub async fn job_evaluations(
        &self,
        job_id: &str,
        query: &QueryOptions,
    ) -> Result<QueryResponse<Vec<Evaluation>>> {
        self.query(
            self.read(&["v1", "job", job_id, "evaluations"], query),
            "an evaluation list",
        )
        .await
    }

    /// Reads one evaluation (blocking query).
    pub async fn read_evaluation(
        &self,
        eval_id: &str,
        query: &QueryOptions,
    ) -> Result<QueryResponse<Evaluation>> {
        self.query(
            self.read(&["v1", "evaluation", eval_id], query),
            "an evaluation",
        )
        .await
    }

    /// Reads one allocation with its job and task states (blocking query).
    pub async fn read_allocation(
        &self,
        alloc_id: &str,
        query: &QueryOptions,
    ) -> Result<QueryResponse<Allocation>> {
        self.query(
            self.read(&["v1", "allocation", alloc_id], query),
            "an allocation",
        )
        .await
    }

    /// Reads one deployment (blocking query).
    pub async fn read_deployment(
        &self,
        deployment_id: &str,
        query: &QueryOptions,
    ) -> Result<QueryResponse<Deployment>> {
        self.query(
            self.read(&["v1", "deployment", deployment_id], query),
            "a deployment",
        )
        .await
    }

    /// Reads a job's most recent deployment; `None` if it never had one
    /// (Nomad answers `null`).
    pub async fn latest_deployment(
        &self,
        job_id: &str,
        query: &QueryOptions,
    ) -> Result<QueryResponse<Option<Deployment>>> {
        self.query(
            self.read(&["v1", "job", job_id, "deployment"], query),
            "a deployment",
        )
        .await
    }

    /// Reads a task's log as raw bytes (`plain=true`, no framing). With
    /// `tail`, only the last `tail` bytes, which is what an error message
    /// wants. Nomad answers 404 if the task's logging is disabled.
    pub async fn allocation_logs(
        &self,
        alloc_id: &str,
        task: &str,
        stream: LogStream,
        tail: Option<u64>,
    ) -> Result<Vec<u8>> {
        let segments = ["v1", "client", "fs", "logs", alloc_id];
        let mut call = self.read(&segments, &QueryOptions::now());
        call.query.push(("task", task.to_string()));
        call.query.push(("type", stream.as_str().to_string()));
        call.query.push(("plain", "true".into()));
        call.query.push(("follow", "false".into()));
        if let Some(bytes) = tail {
            call.query.push(("origin", "end".into()));
            call.query.push(("offset", bytes.to_string()));
        }
        Ok(self.send(call).await?.body)
    }

    /// Reads the variable at `path` (`nomad/jobs/<job id>`); `None` if
    /// there is none.
    pub async fn read_variable(&self, path: &str) -> Result<Option<Variable>> {
        let segments = var_segments(path)?;
        match self
            .query::<Variable>(self.read(&segments, &QueryOptions::now()), "a variable")
            .await
        {
            Ok(r) => Ok(Some(r.value)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes `variable` at its path. With `cas`, only if the variable's
    /// current `ModifyIndex` is `cas` (0: only if it does not exist);
    /// otherwise Nomad answers 409 ([`NomadError::is_conflict`]). Returns
    /// the variable as stored, with its new index.
    pub async fn put_variable(&self, variable: &Variable, cas: Option<u64>) -> Result<Variable> {
        let segments = var_segments(&variable.path)?;
        let mut call = self.write(Method::PUT, &segments, Some(variable))?;
        if let Some(index) = cas {
            call.query.push(("cas", index.to_string()));
        }
        let raw = self.send(call).await?;
        decode(&raw, "PUT", &display_path(&segments), "a variable")
    }

    /// Deletes the variable at `path` (absent is success). With `cas`,
    /// only if its `ModifyIndex` is `cas`.
    pub async fn delete_variable(&self, path: &str, cas: Option<u64>) -> Result<()> {
        let segments = var_segments(path)?;
        let mut call = self.write::<()>(Method::DELETE, &segments, None)?;
        if let Some(index) = cas {
            call.query.push(("cas", index.to_string()));
        }
        match self.send(call).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn read<'a>(&self, segments: &'a [&'a str], query: &QueryOptions) -> Call<'a> {
        let mut params = Vec::new();
        let mut timeout = self.config.request_timeout;
        if let Some(index) = query.index {
            params.push(("index", index.to_string()));
            // Nomad holds the request for the wait (5 minutes if unset)
            // plus up to wait/16 jitter; the attempt's time limit must
            // outlast that or every quiet poll would end as a timeout.
            let wait = query.wait.unwrap_or(Duration::from_secs(300));
            timeout += wait + wait / 16;
        }
        if let Some(wait) = query.wait {
            params.push(("wait", go_duration(wait)));
        }
        Call {
            method: Method::GET,
            segments,
            query: params,
            body: None,
            timeout,
        }
    }

    fn write<'a, B: Serialize>(
        &self,
        method: Method,
        segments: &'a [&'a str],
        body: Option<&B>,
    ) -> Result<Call<'a>> {
        let body = body
            .map(|b| {
                serde_json::to_vec(b).map_err(|e| {
                    NomadError::Config(format!(
                        "cannot encode the body of {method} {}: {e}",
                        display_path(segments)
                    ))
                })
            })
            .transpose()?;
        Ok(Call {
            method,
            segments,
            query: Vec::new(),
            body,
            timeout: self.config.request_timeout,
        })
    }

    async fn query<T: DeserializeOwned>(
        &self,
        call: Call<'_>,
        what: &'static str,
    ) -> Result<QueryResponse<T>> {
        let path = display_path(call.segments);
        let raw = self.send(call).await?;
        Ok(QueryResponse {
            value: decode(&raw, "GET", &path, what)?,
            meta: QueryMeta::from_headers(&raw.headers),
        })
    }

    async fn send(&self, call: Call<'_>) -> Result<Raw> {
        let path = display_path(call.segments);
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| {
                NomadError::Config(format!("NOMAD_ADDR {} cannot be a base URL", self.base))
            })?
            .pop_if_empty()
            // Each segment is percent-encoded: dispatched job IDs contain
            // a '/', which must not become a path separator.
            .extend(call.segments);
        {
            let mut pairs = url.query_pairs_mut();
            if let Some(ns) = &self.config.namespace {
                pairs.append_pair("namespace", ns);
            }
            if let Some(region) = &self.config.region {
                pairs.append_pair("region", region);
            }
            for (k, v) in &call.query {
                pairs.append_pair(k, v);
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }

        let retry = &self.config.retry;
        let max_attempts = retry.max_attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut request = self
                .http
                .request(call.method.clone(), url.clone())
                .timeout(call.timeout);
            if let Some(token) = &self.config.token {
                request = request.header(TOKEN_HEADER, token);
            }
            if let Some(body) = &call.body {
                request = request
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.clone());
            }
            let outcome = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    let headers = response.headers().clone();
                    match response.bytes().await {
                        Ok(body) => Ok((status, headers, body.to_vec())),
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e),
            };
            let transport_error = match outcome {
                Ok((status, headers, body)) if status.is_success() => {
                    return Ok(Raw { headers, body });
                }
                Ok((status, _, body)) => {
                    let message = body_message(&body);
                    if message.contains("conflicting job modify index") {
                        return Err(NomadError::CheckAndSetConflict {
                            method: call.method.to_string(),
                            path,
                            message,
                        });
                    }
                    if !status.is_server_error() {
                        return Err(NomadError::Api {
                            status: status.as_u16(),
                            method: call.method.to_string(),
                            path,
                            message,
                        });
                    }
                    if attempt >= max_attempts {
                        return Err(NomadError::Server {
                            status: status.as_u16(),
                            method: call.method.to_string(),
                            path,
                            attempts: attempt,
                            message,
                        });
                    }
                    tracing::warn!(
                        method = %call.method, %path, status = status.as_u16(), attempt,
                        "Nomad answered with a server error; retrying"
                    );
                    None
                }
                Err(e) => {
                    let retryable =
                        e.is_connect() || e.is_timeout() || e.is_request() || e.is_body();
                    if !retryable || attempt >= max_attempts {
                        Some(e)
                    } else {
                        tracing::warn!(
                            method = %call.method, %path, attempt, error = %error_chain(&e),
                            "could not reach Nomad; retrying"
                        );
                        None
                    }
                }
            };
            if let Some(e) = transport_error {
                return Err(NomadError::Transport {
                    address: self.base.to_string(),
                    method: call.method.to_string(),
                    path,
                    attempts: attempt,
                    detail: error_chain(&e),
                });
            }
            tokio::time::sleep(retry.backoff(attempt)).await;
        }
    }
}

fn parse_address(address: &str) -> Result<Url> {
    let address = address.trim();
    // The nomad CLI accepts a bare host:port; so do we.
    let with_scheme = if address.contains("://") {
        address.to_string()
    } else {
        format!("http://{address}")
    };
    let url = Url::parse(&with_scheme).map_err(|e| {
        NomadError::Config(format!(
            "NOMAD_ADDR {address:?} is not a URL ({e}); set it like http://127.0.0.1:4646"
        ))
    })?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        other => Err(NomadError::Config(format!(
            "NOMAD_ADDR scheme {other:?} is not supported; use http:// or https://"
        ))),
    }
}

fn read_pem(variable: &str, path: &std::path::Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        NomadError::Config(format!(
            "cannot read {variable} file {}: {e}; point {variable} at a readable PEM file or unset it",
            path.display()
        ))
    })
}

/// `/v1/var/` and the path's segments (each percent-encoded on sending).
fn var_segments(path: &str) -> Result<Vec<&str>> {
    let parts: Vec<&str> = path.split('/').collect();
    if path.is_empty()
        || parts
            .iter()
            .any(|p| p.is_empty() || *p == "." || *p == "..")
    {
        return Err(NomadError::Config(format!(
            "{path:?} is not a variable path: use non-empty segments separated by '/'"
        )));
    }
    let mut segments = vec!["v1", "var"];
    segments.extend(parts);
    Ok(segments)
}

fn required_id(job: &Job) -> Result<&str> {
    job.id
        .as_deref()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| {
            NomadError::Config("the job has no ID; set Job.ID before planning it".into())
        })
}

fn display_path(segments: &[&str]) -> String {
    let mut path = String::new();
    for s in segments {
        path.push('/');
        path.push_str(s);
    }
    path
}

/// Nomad's error bodies are plain text; keep them readable and bounded.
fn body_message(body: &[u8]) -> String {
    const LIMIT: usize = 2048;
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "(empty body)".into();
    }
    if text.len() <= LIMIT {
        return text.to_string();
    }
    let mut end = LIMIT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// reqwest's own message is terse ("error sending request"); the causes
/// (refused, certificate unknown, ...) are what tell the operator what to fix.
fn error_chain(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

fn decode<T: DeserializeOwned>(
    raw: &Raw,
    method: &str,
    path: &str,
    what: &'static str,
) -> Result<T> {
    from_json_slice(&raw.body).map_err(|e| NomadError::Decode {
        method: method.into(),
        path: path.into(),
        what,
        detail: e.to_string(),
    })
}
