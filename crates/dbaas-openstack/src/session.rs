//! An authenticated session: one token, cached and renewed before it
//! expires, the endpoints of its catalog, and requests with bounded retries.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::Mutex;

use crate::config::CloudConfig;
use crate::error::{error_message, OpenStackError, Result};
use crate::keystone::{
    find_endpoint, Token, TokenResponse, AUTH_TOKEN_HEADER, SUBJECT_TOKEN_HEADER,
};
use crate::serde_util::Secret;

/// How often and how patiently a request is retried.
///
/// Retried: connection failures, lost answers and 5xx answers, for
/// idempotent methods. A POST is not idempotent, so it is retried only
/// when the request surely never reached the service (the connection was
/// refused); never after a 5xx, a reset or a timeout, since even a 502 or
/// 504 from a proxy may come after the service acted. Callers that create
/// look their resource up before creating it again (see
/// [`crate::BlockStorage::ensure_volume`]). 4xx answers are never retried
/// (401 once re-authenticates, see [`Session`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// Pause before the second attempt; doubled each time.
    pub initial_backoff: Duration,
    /// Longest pause.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(4),
        }
    }
}

impl RetryPolicy {
    /// The pause after failed attempt number `attempt` (1-based).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(16);
        (self.initial_backoff * factor).min(self.max_backoff)
    }
}

/// Tunables of a [`Session`].
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// A token is renewed once it expires within this margin, so a long
    /// operation never starts with a token about to die.
    pub renew_margin: Duration,
    /// Retries.
    pub retry: RetryPolicy,
    /// Time to connect.
    pub connect_timeout: Duration,
    /// Time for a whole request.
    pub request_timeout: Duration,
    /// Endpoints to use instead of the catalog's, by service type (as
    /// `clouds.yaml`'s `<service>_endpoint_override`): a proxy, or a
    /// catalog that names unreachable addresses.
    pub endpoint_overrides: BTreeMap<String, String>,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            renew_margin: Duration::from_secs(300),
            retry: RetryPolicy::default(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            endpoint_overrides: BTreeMap::new(),
        }
    }
}

/// A token and what it grants.
#[derive(Debug)]
pub struct AuthToken {
    /// The token (`X-Subject-Token`).
    pub value: Secret,
    /// Its body: expiry, project, user, roles, catalog.
    pub token: Token,
}

impl AuthToken {
    /// The scoped project's id.
    pub fn project_id(&self) -> Option<&str> {
        self.token.project.as_ref().map(|p| p.id.as_str())
    }
}

/// A request to one service of the catalog.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    /// The catalog service type (`block-storage`, `network`, ...).
    pub service_type: String,
    /// The method.
    pub method: Method,
    /// Path below the endpoint's URL, starting with `/`.
    pub path: String,
    /// Query parameters.
    pub query: Vec<(String, String)>,
    /// JSON body.
    pub body: Option<serde_json::Value>,
    /// Extra headers (a microversion).
    pub headers: Vec<(String, String)>,
}

impl ApiRequest {
    /// A request without query, body or extra headers.
    pub fn new(service_type: &str, method: Method, path: impl Into<String>) -> ApiRequest {
        ApiRequest {
            service_type: service_type.to_string(),
            method,
            path: path.into(),
            query: Vec::new(),
            body: None,
            headers: Vec::new(),
        }
    }

    /// Adds a query parameter.
    pub fn query(mut self, k: &str, v: impl Into<String>) -> ApiRequest {
        self.query.push((k.to_string(), v.into()));
        self
    }

    /// Sets the JSON body.
    pub fn json<B: Serialize>(mut self, body: &B) -> ApiRequest {
        self.body = Some(serde_json::to_value(body).expect("request types serialize"));
        self
    }

    /// Adds a header.
    pub fn header(mut self, k: &str, v: impl Into<String>) -> ApiRequest {
        self.headers.push((k.to_string(), v.into()));
        self
    }
}

/// A successful answer.
#[derive(Debug)]
pub struct ApiResponse {
    /// The status.
    pub status: StatusCode,
    /// The URL asked.
    pub url: String,
    /// The body.
    pub body: String,
}

impl ApiResponse {
    /// Decodes the body.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_str(&self.body).map_err(|e| OpenStackError::Decode {
            url: self.url.clone(),
            message: e.to_string(),
        })
    }
}

/// An authenticated session with one cloud.
///
/// The token is fetched on first use and cached; it is renewed when it
/// expires within [`SessionOptions::renew_margin`], and once more when a
/// service answers 401 (revoked, or Keystone restarted with new keys).
/// Concurrent callers share one renewal.
pub struct Session {
    config: CloudConfig,
    options: SessionOptions,
    http: reqwest::Client,
    current: Mutex<Option<Arc<AuthToken>>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("auth_url", &self.config.auth_url)
            .field("region", &self.config.region_name)
            .field("interface", &self.config.interface)
            .finish_non_exhaustive()
    }
}

fn is_idempotent(m: &Method) -> bool {
    *m != Method::POST && *m != Method::PATCH
}

impl Session {
    /// A session with default options. Needs a rustls crypto provider
    /// installed in the process.
    pub fn new(config: CloudConfig) -> Result<Session> {
        Self::with_options(config, SessionOptions::default())
    }

    /// A session with the given options.
    pub fn with_options(config: CloudConfig, options: SessionOptions) -> Result<Session> {
        let http = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .timeout(options.request_timeout)
            .build()
            .map_err(|e| OpenStackError::Config(format!("HTTP client: {e}")))?;
        Ok(Session {
            config,
            options,
            http,
            current: Mutex::new(None),
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &CloudConfig {
        &self.config
    }

    /// The options in use.
    pub fn options(&self) -> &SessionOptions {
        &self.options
    }

    /// A token valid for at least the renewal margin (cached, or new).
    pub async fn token(&self) -> Result<Arc<AuthToken>> {
        let mut cur = self.current.lock().await;
        if let Some(t) = cur.as_ref() {
            if !self.needs_renewal(t) {
                return Ok(t.clone());
            }
        }
        let fresh = Arc::new(self.authenticate().await?);
        *cur = Some(fresh.clone());
        Ok(fresh)
    }

    fn needs_renewal(&self, t: &AuthToken) -> bool {
        let left = t.token.expires_at.0 - Utc::now();
        left.to_std()
            .map(|l| l <= self.options.renew_margin)
            .unwrap_or(true)
    }

    /// Drops `stale` from the cache (unless another caller already
    /// replaced it), so the next [`Session::token`] authenticates again.
    async fn forget(&self, stale: &Arc<AuthToken>) {
        let mut cur = self.current.lock().await;
        if cur.as_ref().is_some_and(|c| Arc::ptr_eq(c, stale)) {
            *cur = None;
        }
    }

    /// Asks Keystone for a new token (bypassing the cache).
    pub async fn authenticate(&self) -> Result<AuthToken> {
        let url = format!("{}/auth/tokens", self.config.identity_v3_url());
        let body = self.config.auth_request();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt >= self.options.retry.max_attempts;
            // Issuing a token changes nothing that matters: every failure
            // short of a 4xx is retried.
            let resp = match self.http.post(&url).json(&body).send().await {
                Ok(r) => r,
                Err(e) if !last => {
                    tracing::warn!(%url, error = %e, attempt, "keystone unreachable, retrying");
                    tokio::time::sleep(self.options.retry.backoff(attempt)).await;
                    continue;
                }
                Err(e) => {
                    return Err(OpenStackError::Auth {
                        url,
                        message: format!("no answer: {e}"),
                    })
                }
            };
            let status = resp.status();
            if status.is_server_error() && !last {
                tracing::warn!(%url, %status, attempt, "keystone error, retrying");
                tokio::time::sleep(self.options.retry.backoff(attempt)).await;
                continue;
            }
            let subject = resp
                .headers()
                .get(SUBJECT_TOKEN_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let text = resp.text().await.unwrap_or_default();
            if !status.is_success() {
                return Err(OpenStackError::Auth {
                    url,
                    message: format!("HTTP {}: {}", status.as_u16(), error_message(&text)),
                });
            }
            let value = subject.ok_or_else(|| OpenStackError::Auth {
                url: url.clone(),
                message: format!("no {SUBJECT_TOKEN_HEADER} header in the answer"),
            })?;
            let parsed: TokenResponse =
                serde_json::from_str(&text).map_err(|e| OpenStackError::Decode {
                    url: url.clone(),
                    message: e.to_string(),
                })?;
            tracing::debug!(expires_at = %parsed.token.expires_at, "authenticated");
            return Ok(AuthToken {
                value: Secret::new(value),
                token: parsed.token,
            });
        }
    }

    /// The URL of `service_type` on the configured interface and region.
    pub async fn endpoint(&self, service_type: &str) -> Result<String> {
        let t = self.token().await?;
        self.endpoint_in(&t, service_type)
    }

    fn endpoint_in(&self, t: &AuthToken, service_type: &str) -> Result<String> {
        if let Some(url) = self.options.endpoint_overrides.get(service_type) {
            return Ok(url.trim_end_matches('/').to_string());
        }
        find_endpoint(
            &t.token.catalog,
            service_type,
            &self.config.interface,
            self.config.region_name.as_deref(),
        )
        .map(|u| u.trim_end_matches('/').to_string())
        .ok_or_else(|| OpenStackError::NoEndpoint {
            service_type: service_type.to_string(),
            interface: self.config.interface.clone(),
            region: self.config.region_name.clone(),
        })
    }

    /// Sends `req` to its service, with the retries of [`RetryPolicy`]
    /// and one re-authentication on 401. Non-2xx answers are errors.
    pub async fn send(&self, req: &ApiRequest) -> Result<ApiResponse> {
        let policy = &self.options.retry;
        let method_name = req.method.as_str().to_string();
        let mut attempt = 0;
        let mut reauthenticated = false;
        loop {
            attempt += 1;
            let last = attempt >= policy.max_attempts;
            let token = self.token().await?;
            let url = format!(
                "{}{}",
                self.endpoint_in(&token, &req.service_type)?,
                req.path
            );
            let mut rb = self
                .http
                .request(req.method.clone(), &url)
                .header(AUTH_TOKEN_HEADER, token.value.expose())
                .header("Accept", "application/json");
            if !req.query.is_empty() {
                rb = rb.query(&req.query);
            }
            for (k, v) in &req.headers {
                rb = rb.header(k.as_str(), v.as_str());
            }
            if let Some(b) = &req.body {
                rb = rb.json(b);
            }
            let resp = match rb.send().await {
                Ok(r) => r,
                Err(e) => {
                    // A refused connection never reached the service; other
                    // failures may have, so only idempotent requests retry.
                    let safe = is_idempotent(&req.method) || e.is_connect();
                    if safe && !last {
                        tracing::warn!(%url, error = %e, attempt, "request failed, retrying");
                        tokio::time::sleep(policy.backoff(attempt)).await;
                        continue;
                    }
                    return Err(OpenStackError::Transport {
                        method: method_name,
                        url,
                        source: e,
                    });
                }
            };
            let status = resp.status();
            if status == StatusCode::UNAUTHORIZED && !reauthenticated {
                // The token was revoked or Keystone's keys rotated: one new
                // token, and this attempt does not count.
                reauthenticated = true;
                attempt -= 1;
                tracing::info!(%url, "401: authenticating again");
                self.forget(&token).await;
                continue;
            }
            if status.is_server_error() && !last && is_idempotent(&req.method) {
                tracing::warn!(%url, %status, attempt, "server error, retrying");
                tokio::time::sleep(policy.backoff(attempt)).await;
                continue;
            }
            let body = match resp.text().await {
                Ok(b) => b,
                // The answer was lost on the way: as a failed send.
                Err(e) if is_idempotent(&req.method) && !last => {
                    tracing::warn!(%url, error = %e, attempt, "answer lost, retrying");
                    tokio::time::sleep(policy.backoff(attempt)).await;
                    continue;
                }
                Err(e) => {
                    return Err(OpenStackError::Transport {
                        method: method_name,
                        url,
                        source: e,
                    })
                }
            };
            if !status.is_success() {
                return Err(OpenStackError::Http {
                    method: method_name,
                    url,
                    status: status.as_u16(),
                    message: error_message(&body),
                });
            }
            return Ok(ApiResponse { status, url, body });
        }
    }

    /// Sends `req` and decodes the answer.
    pub async fn send_json<T: DeserializeOwned>(&self, req: &ApiRequest) -> Result<T> {
        self.send(req).await?.json()
    }
}
