//! [`SwiftStore`]: OpenStack Swift through its native (v1) API.
//!
//! * Authentication: tempauth (v1) or Keystone v3 password; the token is
//!   kept and, when Swift answers 401, renewed once and the request retried.
//! * Integrity: every PUT carries the content's MD5 as `ETag`, so Swift
//!   refuses a damaged upload (422); the whole object's SHA-256 is stored as
//!   `X-Object-Meta-Sha256` and checked on every `get`.
//! * Large objects: content above `segment_size` is cut into segments,
//!   uploaded in parallel into the segment container, then joined by a
//!   Static Large Object manifest. `get` reads the manifest and fetches the
//!   segments itself (in parallel), checking each against the MD5 the
//!   manifest recorded, so a damaged segment is named, not just detected.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures_util::{StreamExt, TryStreamExt};
use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::{Deserialize, Serialize};

use crate::{
    hash_off_thread, md5_hex, sha256_hex, validate_metadata, validate_name, validate_prefix,
    ByteStream, Error, Metadata, Object, ObjectInfo, ObjectStore, SHA256_KEY,
};

const META_PREFIX: &str = "x-object-meta-";
const SHA256_HEADER: &str = "x-object-meta-sha256";
/// Swift's default `max_manifest_segments`.
const MAX_SEGMENTS: u64 = 1000;

/// A password or key: shown as `<redacted>` by `Debug`, so configurations
/// can be logged.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    /// The secret itself, to send where it belongs.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// How to obtain a Swift token and storage URL.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SwiftAuth {
    /// Swift's tempauth (v1): `GET auth_url` with `X-Auth-User` and
    /// `X-Auth-Key`; the answer carries `X-Storage-Url` and `X-Auth-Token`.
    #[serde(rename = "tempauth")]
    TempAuth {
        /// E.g. `http://127.0.0.1:8080/auth/v1.0`.
        auth_url: String,
        /// `account:user`.
        user: String,
        /// The user's key.
        key: Secret,
    },
    /// Keystone v3 password authentication scoped to a project; the Swift
    /// endpoint comes from the token's catalog.
    Keystone(KeystoneAuth),
    /// Keystone v3 with a ready-made `POST /v3/auth/tokens` body, as a
    /// `clouds.yaml` cloud yields it (password or application
    /// credential); built in code, never read from configuration.
    #[serde(skip)]
    KeystoneRequest(KeystoneRequest),
}

/// A Keystone v3 token request: where, the body, and which endpoint of the
/// catalog to use.
#[derive(Clone)]
pub struct KeystoneRequest {
    /// Keystone's URL, with or without the trailing `/v3`.
    pub auth_url: String,
    /// The whole request body (`{"auth": {...}}`); it holds a secret.
    pub body: serde_json::Value,
    /// The catalog region to use; any region if `None`.
    pub region_name: Option<String>,
    /// The endpoint interface (`public`, `internal`, `admin`).
    pub interface: String,
}

impl std::fmt::Debug for KeystoneRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeystoneRequest")
            .field("auth_url", &self.auth_url)
            .field("body", &"***")
            .field("region_name", &self.region_name)
            .field("interface", &self.interface)
            .finish()
    }
}

/// Keystone v3 password credentials, with the field names of an OpenStack
/// `clouds.yaml` `auth:` section (plus `region_name` and `interface`).
#[derive(Debug, Clone, Deserialize)]
pub struct KeystoneAuth {
    /// Keystone's URL, with or without the trailing `/v3`.
    pub auth_url: String,
    /// The user's name.
    pub username: String,
    /// The user's password.
    pub password: Secret,
    /// The project (tenant) whose Swift account is used.
    pub project_name: String,
    /// The user's domain (default `Default`).
    #[serde(default = "default_domain")]
    pub user_domain_name: String,
    /// The project's domain (default `Default`).
    #[serde(default = "default_domain")]
    pub project_domain_name: String,
    /// The catalog region to use; any region if `None`.
    #[serde(default)]
    pub region_name: Option<String>,
    /// The endpoint interface (default `public`).
    #[serde(default = "default_interface")]
    pub interface: String,
}

fn default_domain() -> String {
    "Default".to_string()
}

fn default_interface() -> String {
    "public".to_string()
}

/// Where and how a [`SwiftStore`] keeps its objects.
#[derive(Debug, Clone, Deserialize)]
pub struct SwiftConfig {
    /// How to authenticate.
    pub auth: SwiftAuth,
    /// The container holding the objects (created on first write).
    pub container: String,
    /// The container holding large objects' segments; default
    /// `<container>_segments`, the convention of Swift's own client.
    #[serde(default)]
    pub segment_container: Option<String>,
    /// Objects larger than this many bytes are stored as segments of this
    /// size (default 100 MiB).
    #[serde(default = "default_segment_size")]
    pub segment_size: u64,
    /// How many segments are uploaded or downloaded at once (default 4).
    #[serde(default = "default_parallelism")]
    pub parallelism: usize,
    /// How many names one listing request asks for (default 10000, Swift's
    /// maximum).
    #[serde(default = "default_page_size")]
    pub list_page_size: usize,
    /// Time limit of one HTTP request, in seconds (default 600: a segment
    /// must fit in it).
    #[serde(default = "default_timeout")]
    pub request_timeout_secs: u64,
}

fn default_segment_size() -> u64 {
    100 << 20
}
fn default_parallelism() -> usize {
    4
}
fn default_page_size() -> usize {
    10_000
}
fn default_timeout() -> u64 {
    600
}

impl SwiftConfig {
    /// A configuration with every default.
    pub fn new(auth: SwiftAuth, container: impl Into<String>) -> Self {
        Self {
            auth,
            container: container.into(),
            segment_container: None,
            segment_size: default_segment_size(),
            parallelism: default_parallelism(),
            list_page_size: default_page_size(),
            request_timeout_secs: default_timeout(),
        }
    }
}

/// An object store in one Swift container. Cheap to clone.
///
/// Segments of the object `NAME` are `NAME/<sha256 prefix>-<segment
/// size>/<index>` in the segment container: derived from the content, so a
/// retried `put` rewrites them rather than leaving a second set. Replacing
/// a large object with another large one deletes the old segments; a
/// segment upload that fails half-way, or a small object replacing a large
/// one, leaves segments behind (delete the name first in that case).
#[derive(Clone)]
pub struct SwiftStore {
    inner: Arc<Inner>,
}

struct Inner {
    cfg: SwiftConfig,
    segment_container: String,
    http: reqwest::Client,
    /// The current token; the mutex also makes concurrent requests that
    /// all met a 401 wait for one re-authentication instead of each doing
    /// their own.
    session: tokio::sync::Mutex<Option<Session>>,
    containers_ready: tokio::sync::OnceCell<()>,
}

#[derive(Clone)]
struct Session {
    storage_url: String,
    token: String,
}

impl fmt::Debug for SwiftStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SwiftStore")
            .field("config", &self.inner.cfg)
            .finish()
    }
}

/// One entry of a manifest as uploaded (`?multipart-manifest=put`).
#[derive(Serialize)]
struct SegmentPut {
    path: String,
    etag: String,
    size_bytes: u64,
}

/// One entry of a manifest as Swift gives it back
/// (`?multipart-manifest=get`): the keys are renamed on the way.
#[derive(Deserialize)]
struct SegmentGot {
    name: String,
    hash: String,
    bytes: u64,
}

#[derive(Deserialize)]
struct ListEntry {
    name: String,
    bytes: u64,
    hash: String,
    /// Present for large objects: the etag a HEAD of it would show.
    #[serde(default)]
    slo_etag: Option<String>,
}

fn check_container(name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= 200
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._~-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "container name {name:?} must be 1 to 200 characters of A-Z a-z 0-9 . _ ~ -"
        )))
    }
}

fn unquote(etag: &str) -> String {
    etag.trim().trim_matches('"').to_ascii_lowercase()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn is_slo(headers: &HeaderMap) -> bool {
    header(headers, "x-static-large-object").is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

fn info_from_headers(name: &str, headers: &HeaderMap, size: u64) -> ObjectInfo {
    let mut metadata = Metadata::new();
    for (k, v) in headers {
        if let (Some(key), Ok(v)) = (k.as_str().strip_prefix(META_PREFIX), v.to_str()) {
            if key != SHA256_KEY {
                metadata.insert(key.to_string(), v.to_string());
            }
        }
    }
    ObjectInfo {
        name: name.to_string(),
        size,
        etag: header(headers, "etag").map(unquote).unwrap_or_default(),
        sha256: header(headers, SHA256_HEADER).map(|s| s.trim().to_ascii_lowercase()),
        metadata,
    }
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    header(headers, "content-length").and_then(|v| v.parse().ok())
}

/// The etag Swift gives a Static Large Object: the MD5 of its segments'
/// hex MD5s, concatenated.
fn slo_etag<'a>(etags: impl Iterator<Item = &'a str>) -> String {
    md5_hex(etags.collect::<String>().as_bytes())
}

fn transport(op: &str) -> impl FnOnce(reqwest::Error) -> Error + '_ {
    move |source| Error::Transport {
        op: op.to_string(),
        source,
    }
}

/// An error for an unexpected answer, with Swift's transaction id and the
/// start of the body (Swift's error bodies are short and say what is wrong).
async fn http_error(op: &str, resp: Response) -> Error {
    let status = resp.status().as_u16();
    let trans_id = header(resp.headers(), "x-trans-id").map(str::to_string);
    let body = resp.text().await.unwrap_or_default();
    let mut body: String = body.chars().take(300).collect();
    if body.trim().is_empty() {
        body = "(empty body)".to_string();
    }
    Error::Http {
        op: op.to_string(),
        status,
        trans_id,
        body,
    }
}

/// Finds the object-store endpoint in a Keystone v3 token body.
fn catalog_endpoint(
    token: &serde_json::Value,
    interface: &str,
    region: Option<&str>,
) -> Result<String, String> {
    let catalog = token
        .pointer("/token/catalog")
        .and_then(|c| c.as_array())
        .ok_or(
            "the token has no catalog (was it issued with ?nocatalog, or is the project unscoped?)",
        )?;
    let service = catalog
        .iter()
        .find(|s| s["type"] == "object-store")
        .ok_or("the catalog has no object-store service: is Swift registered in Keystone?")?;
    let endpoints = service["endpoints"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    endpoints
        .iter()
        .filter(|e| e["interface"] == interface)
        .find(|e| match region {
            None => true,
            Some(r) => e["region_id"] == r || e["region"] == r,
        })
        .and_then(|e| e["url"].as_str())
        .map(|u| u.trim_end_matches('/').to_string())
        .ok_or_else(|| {
            format!(
                "the object-store service has no {interface} endpoint{}",
                region
                    .map(|r| format!(" in region {r}"))
                    .unwrap_or_default()
            )
        })
}

impl SwiftStore {
    /// A store for `cfg`. Nothing is contacted until the first call.
    /// A rustls crypto provider must be installed first (the agent does it
    /// in `main`).
    pub fn new(cfg: SwiftConfig) -> Result<Self, Error> {
        check_container(&cfg.container)?;
        let segment_container = cfg
            .segment_container
            .clone()
            .unwrap_or_else(|| format!("{}_segments", cfg.container));
        check_container(&segment_container)?;
        if segment_container == cfg.container {
            return Err(Error::Config(
                "the segment container must differ from the container, or listings would show segments".into(),
            ));
        }
        if cfg.segment_size == 0 || cfg.parallelism == 0 || cfg.list_page_size == 0 {
            return Err(Error::Config(
                "segment_size, parallelism and list_page_size must be at least 1".into(),
            ));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(cfg.request_timeout_secs))
            .build()
            .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                cfg,
                segment_container,
                http,
                session: tokio::sync::Mutex::new(None),
                containers_ready: tokio::sync::OnceCell::new(),
            }),
        })
    }

    /// The container holding the objects.
    pub fn container(&self) -> &str {
        &self.inner.cfg.container
    }

    /// The container holding large objects' segments.
    pub fn segment_container(&self) -> &str {
        &self.inner.segment_container
    }

    fn auth_url(&self) -> &str {
        match &self.inner.cfg.auth {
            SwiftAuth::TempAuth { auth_url, .. } => auth_url,
            SwiftAuth::Keystone(k) => &k.auth_url,
            SwiftAuth::KeystoneRequest(k) => &k.auth_url,
        }
    }

    async fn authenticate(&self) -> Result<Session, Error> {
        let fail = |url: &str, detail: String| Error::Auth {
            url: url.to_string(),
            detail,
        };
        match &self.inner.cfg.auth {
            SwiftAuth::TempAuth {
                auth_url,
                user,
                key,
            } => {
                let resp = self
                    .inner
                    .http
                    .get(auth_url)
                    .header("X-Auth-User", user)
                    .header("X-Auth-Key", key.expose())
                    .send()
                    .await
                    .map_err(|e| fail(auth_url, format!("{e}: is the URL right and Swift up?")))?;
                if !resp.status().is_success() {
                    return Err(fail(
                        auth_url,
                        format!(
                            "HTTP {}: check the user ({user}) and key",
                            resp.status().as_u16()
                        ),
                    ));
                }
                let h = resp.headers();
                match (header(h, "x-storage-url"), header(h, "x-auth-token")) {
                    (Some(url), Some(token)) => Ok(Session {
                        storage_url: url.trim_end_matches('/').to_string(),
                        token: token.to_string(),
                    }),
                    _ => Err(fail(
                        auth_url,
                        "the answer lacks X-Storage-Url or X-Auth-Token: is this a tempauth URL (…/auth/v1.0)?".into(),
                    )),
                }
            }
            SwiftAuth::Keystone(k) => {
                let body = serde_json::json!({"auth": {
                    "identity": {"methods": ["password"], "password": {"user": {
                        "name": k.username,
                        "domain": {"name": k.user_domain_name},
                        "password": k.password.expose(),
                    }}},
                    "scope": {"project": {
                        "name": k.project_name,
                        "domain": {"name": k.project_domain_name},
                    }},
                }});
                self.keystone_session(&KeystoneRequest {
                    auth_url: k.auth_url.clone(),
                    body,
                    region_name: k.region_name.clone(),
                    interface: k.interface.clone(),
                })
                .await
            }
            SwiftAuth::KeystoneRequest(k) => self.keystone_session(k).await,
        }
    }

    /// A token from Keystone, and the object-store endpoint of its catalog.
    async fn keystone_session(&self, k: &KeystoneRequest) -> Result<Session, Error> {
        let fail = |url: &str, detail: String| Error::Auth {
            url: url.to_string(),
            detail,
        };
        let base = k.auth_url.trim_end_matches('/');
        let url = if base.ends_with("/v3") {
            format!("{base}/auth/tokens")
        } else {
            format!("{base}/v3/auth/tokens")
        };
        let resp = self
            .inner
            .http
            .post(&url)
            .json(&k.body)
            .send()
            .await
            .map_err(|e| fail(&url, format!("{e}: is the URL right and Keystone up?")))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(fail(
                &url,
                format!(
                    "HTTP {}: check the credentials (user, password or application credential), the project and the domain names",
                    status.as_u16()
                ),
            ));
        }
        let token = header(resp.headers(), "x-subject-token")
            .ok_or_else(|| fail(&url, "the answer has no X-Subject-Token".into()))?
            .to_string();
        let body: serde_json::Value = resp
            .json()
            .await
            .map_err(|e| fail(&url, format!("unreadable token body: {e}")))?;
        let storage_url = catalog_endpoint(&body, &k.interface, k.region_name.as_deref())
            .map_err(|d| fail(&url, d))?;
        Ok(Session { storage_url, token })
    }

    async fn session(&self) -> Result<Session, Error> {
        let mut current = self.inner.session.lock().await;
        if let Some(s) = &*current {
            return Ok(s.clone());
        }
        let s = self.authenticate().await?;
        *current = Some(s.clone());
        Ok(s)
    }

    /// Forgets `stale` unless another task has already replaced it.
    async fn invalidate(&self, stale: &Session) {
        let mut current = self.inner.session.lock().await;
        if current.as_ref().is_some_and(|s| s.token == stale.token) {
            *current = None;
        }
    }

    /// Sends a request to `path` (under the storage URL, e.g.
    /// `/container/object`), authenticating first if needed and once more
    /// if the token was refused (it may have expired).
    async fn send(
        &self,
        op: &str,
        method: Method,
        path: &str,
        build: impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<Response, Error> {
        let mut renewed = false;
        loop {
            let s = self.session().await?;
            let req = self
                .inner
                .http
                .request(method.clone(), format!("{}{path}", s.storage_url))
                .header("X-Auth-Token", &s.token);
            let resp = build(req).send().await.map_err(transport(op))?;
            if resp.status() != StatusCode::UNAUTHORIZED {
                return Ok(resp);
            }
            if renewed {
                return Err(Error::Auth {
                    url: self.auth_url().to_string(),
                    detail: format!(
                        "{op}: Swift refused a freshly issued token (401): check the user's roles on the account"
                    ),
                });
            }
            tracing::debug!(
                op,
                "Swift refused the token (expired?): authenticating again"
            );
            self.invalidate(&s).await;
            renewed = true;
        }
    }

    fn object_path(&self, name: &str) -> String {
        format!("/{}/{name}", self.inner.cfg.container)
    }

    /// Creates both containers once per store; PUT of an existing
    /// container is harmless (202).
    async fn ensure_containers(&self) -> Result<(), Error> {
        self.inner
            .containers_ready
            .get_or_try_init(|| async {
                for c in [&self.inner.cfg.container, &self.inner.segment_container] {
                    let op = format!("create container {c}");
                    let resp = self.send(&op, Method::PUT, &format!("/{c}"), |r| r).await?;
                    if !matches!(resp.status().as_u16(), 201 | 202 | 204) {
                        return Err(http_error(&op, resp).await);
                    }
                }
                Ok(())
            })
            .await
            .map(|_| ())
    }

    fn with_metadata(req: RequestBuilder, sha256: &str, metadata: &Metadata) -> RequestBuilder {
        let mut req = req.header(SHA256_HEADER, sha256);
        for (k, v) in metadata {
            req = req.header(format!("{META_PREFIX}{k}"), v);
        }
        req
    }

    /// PUTs one object with its MD5 as `ETag`, so that Swift refuses it if
    /// a byte changed on the way; returns the MD5.
    async fn put_verified(
        &self,
        op: &str,
        path: &str,
        data: Bytes,
        extra: impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<String, Error> {
        let md5 = hash_off_thread(data.clone(), md5_hex).await;
        let resp = self
            .send(op, Method::PUT, path, |r| {
                extra(
                    r.header("ETag", &md5)
                        // Swift refuses a PUT without a length (411), and an
                        // empty body would otherwise be sent without one.
                        .header(reqwest::header::CONTENT_LENGTH, data.len())
                        .header("Content-Type", "application/octet-stream")
                        .body(data.clone()),
                )
            })
            .await?;
        if resp.status() != StatusCode::CREATED {
            return Err(http_error(op, resp).await);
        }
        Ok(md5)
    }

    /// The segment paths (`/container/object`) of the large object `name`,
    /// or `None` if it is absent or not a large object.
    async fn segments_of(&self, name: &str) -> Result<Option<Vec<SegmentGot>>, Error> {
        let op = format!("read the manifest of {}/{name}", self.container());
        let resp = self
            .send(&op, Method::GET, &self.object_path(name), |r| {
                r.query(&[("multipart-manifest", "get")])
            })
            .await?;
        match resp.status() {
            StatusCode::NOT_FOUND => Ok(None),
            StatusCode::OK if is_slo(resp.headers()) => {
                let body = resp.bytes().await.map_err(transport(&op))?;
                serde_json::from_slice(&body)
                    .map(Some)
                    .map_err(|e| Error::Corrupt {
                        name: name.to_string(),
                        detail: format!("its manifest is unreadable: {e}"),
                    })
            }
            StatusCode::OK => Ok(None),
            _ => Err(http_error(&op, resp).await),
        }
    }

    async fn put_large(
        &self,
        name: &str,
        data: Bytes,
        sha256: &str,
        metadata: &Metadata,
    ) -> Result<String, Error> {
        let size = data.len() as u64;
        let seg = self.inner.cfg.segment_size;
        let count = size.div_ceil(seg);
        if count > MAX_SEGMENTS {
            return Err(Error::Config(format!(
                "{name} ({size} bytes) would need {count} segments of {seg} bytes, more than Swift's limit of {MAX_SEGMENTS}: raise segment_size"
            )));
        }
        let previous = self.segments_of(name).await?;
        // Segment names derive from the content and the segment size, so a
        // retried put rewrites the same segments instead of leaking a
        // second set.
        let seg_prefix = format!("{name}/{}-{seg}", &sha256[..16]);
        let segc = self.inner.segment_container.clone();
        let uploads = (0..count).map(|i| {
            let start = (i * seg) as usize;
            let end = ((i + 1) * seg).min(size) as usize;
            let chunk = data.slice(start..end);
            let path = format!("/{segc}/{seg_prefix}/{:08}", i + 1);
            let this = self.clone();
            let name = name.to_string();
            async move {
                let op = format!("upload segment {} of {name}", path.trim_start_matches('/'));
                let etag = this.put_verified(&op, &path, chunk.clone(), |r| r).await?;
                Ok::<_, Error>(SegmentPut {
                    path,
                    etag,
                    size_bytes: chunk.len() as u64,
                })
            }
        });
        let segments: Vec<SegmentPut> = futures_util::stream::iter(uploads)
            .buffered(self.inner.cfg.parallelism)
            .try_collect()
            .await?;

        let etag = slo_etag(segments.iter().map(|s| s.etag.as_str()));
        let manifest = serde_json::to_vec(&segments).expect("a manifest serialises");
        let op = format!("write the manifest of {}/{name}", self.container());
        let resp = self
            .send(&op, Method::PUT, &self.object_path(name), |r| {
                // Swift checks the segments' etags and sizes against the
                // manifest, and the whole against this ETag.
                Self::with_metadata(r, sha256, metadata)
                    .query(&[("multipart-manifest", "put")])
                    .header("ETag", &etag)
                    .header("Content-Type", "application/octet-stream")
                    .body(manifest.clone())
            })
            .await?;
        if resp.status() != StatusCode::CREATED {
            return Err(http_error(&op, resp).await);
        }

        // The previous version's segments are garbage now, unless reused.
        if let Some(old) = previous {
            let keep: HashSet<&str> = segments.iter().map(|s| s.path.as_str()).collect();
            for s in old.iter().filter(|s| !keep.contains(s.name.as_str())) {
                if let Err(e) = self.delete_path(&s.name).await {
                    tracing::warn!(object = name, segment = %s.name, error = %e,
                        "could not delete a segment of the replaced version; it is left behind");
                }
            }
        }
        Ok(etag)
    }

    async fn delete_path(&self, path: &str) -> Result<(), Error> {
        let op = format!("delete {}", path.trim_start_matches('/'));
        let resp = self.send(&op, Method::DELETE, path, |r| r).await?;
        match resp.status().as_u16() {
            204 | 200 | 404 => Ok(()),
            _ => Err(http_error(&op, resp).await),
        }
    }

    /// Downloads one segment of `name` and checks it against its manifest
    /// entry.
    async fn fetch_segment(&self, name: &str, s: &SegmentGot) -> Result<Bytes, Error> {
        let corrupt = |detail: String| Error::Corrupt {
            name: name.to_string(),
            detail,
        };
        let op = format!(
            "download segment {} of {name}",
            s.name.trim_start_matches('/')
        );
        let resp = self.send(&op, Method::GET, &s.name, |r| r).await?;
        match resp.status() {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => {
                return Err(corrupt(format!("segment {} is missing", s.name)));
            }
            _ => return Err(http_error(&op, resp).await),
        }
        let body = resp.bytes().await.map_err(transport(&op))?;
        if body.len() as u64 != s.bytes {
            return Err(corrupt(format!(
                "segment {} holds {} bytes, the manifest says {}",
                s.name,
                body.len(),
                s.bytes
            )));
        }
        let md5 = hash_off_thread(body.clone(), md5_hex).await;
        if md5 != s.hash {
            return Err(corrupt(format!(
                "segment {} has MD5 {md5}, the manifest recorded {}",
                s.name, s.hash
            )));
        }
        Ok(body)
    }

    async fn get_segments(
        &self,
        name: &str,
        manifest: Vec<SegmentGot>,
    ) -> Result<(Bytes, String), Error> {
        let total: u64 = manifest.iter().map(|s| s.bytes).sum();
        let etag = slo_etag(manifest.iter().map(|s| s.hash.as_str()));
        // Owned futures: borrowing the manifest from inside a buffered
        // stream trips the compiler's Send inference for async-trait.
        let downloads = manifest.into_iter().map(|s| {
            let this = self.clone();
            let name = name.to_string();
            async move { this.fetch_segment(&name, &s).await }
        });
        let mut out = BytesMut::with_capacity(total as usize);
        let mut parts = futures_util::stream::iter(downloads).buffered(self.inner.cfg.parallelism);
        while let Some(part) = parts.next().await {
            out.extend_from_slice(&part?);
        }
        Ok((out.freeze(), etag))
    }
}

/// An object's content as it arrives, hashed on the way; checked against
/// its length, Swift's ETag and the recorded SHA-256 at its end.
struct Incoming {
    /// `None` once the stream has ended.
    resp: Option<Response>,
    md5: md5::Md5,
    sha256: sha2::Sha256,
    got: u64,
    info: ObjectInfo,
    op: String,
}

impl Incoming {
    async fn next(mut self) -> Option<(Result<Bytes, Error>, Self)> {
        // One trait for both hashes (the `digest` crate's).
        use md5::Digest as _;
        let resp = self.resp.as_mut()?;
        match resp.chunk().await {
            Ok(Some(piece)) => {
                self.got += piece.len() as u64;
                if self.got > self.info.size {
                    self.resp = None;
                    let e = self.corrupt(format!("received more than {} bytes", self.info.size));
                    return Some((Err(e), self));
                }
                self.md5.update(&piece);
                self.sha256.update(&piece);
                Some((Ok(piece), self))
            }
            Ok(None) => {
                self.resp = None;
                let verdict = self.verify();
                verdict.err().map(|e| (Err(e), self))
            }
            Err(e) => {
                self.resp = None;
                let e = transport(&self.op)(e);
                Some((Err(e), self))
            }
        }
    }

    fn corrupt(&self, detail: String) -> Error {
        Error::Corrupt {
            name: self.info.name.clone(),
            detail,
        }
    }

    fn verify(&mut self) -> Result<(), Error> {
        // One trait for both hashes (the `digest` crate's).
        use md5::Digest as _;
        if self.got != self.info.size {
            return Err(self.corrupt(format!("received {} of {} bytes", self.got, self.info.size)));
        }
        let md5 = crate::hex(&std::mem::take(&mut self.md5).finalize());
        if md5 != self.info.etag {
            return Err(self.corrupt(format!(
                "its content has MD5 {md5}, Swift's ETag is {}",
                self.info.etag
            )));
        }
        let got = crate::hex(&std::mem::take(&mut self.sha256).finalize());
        if let Some(want) = &self.info.sha256 {
            if &got != want {
                return Err(self.corrupt(format!(
                    "its content has SHA-256 {got}, {want} was recorded at upload"
                )));
            }
        }
        Ok(())
    }
}

#[async_trait]
impl ObjectStore for SwiftStore {
    async fn put(&self, name: &str, data: Bytes, metadata: &Metadata) -> Result<ObjectInfo, Error> {
        validate_name(name)?;
        validate_metadata(metadata)?;
        self.ensure_containers().await?;
        let sha256 = hash_off_thread(data.clone(), sha256_hex).await;
        let size = data.len() as u64;
        let etag = if size > self.inner.cfg.segment_size {
            self.put_large(name, data, &sha256, metadata).await?
        } else {
            let op = format!("upload {}/{name}", self.container());
            self.put_verified(&op, &self.object_path(name), data, |r| {
                Self::with_metadata(r, &sha256, metadata)
            })
            .await?
        };
        Ok(ObjectInfo {
            name: name.to_string(),
            size,
            etag,
            sha256: Some(sha256),
            metadata: metadata.clone(),
        })
    }

    async fn get(&self, name: &str) -> Result<Object, Error> {
        validate_name(name)?;
        let op = format!("download {}/{name}", self.container());
        // One request answers both questions: a large object gives its
        // manifest, any other object its content.
        let resp = self
            .send(&op, Method::GET, &self.object_path(name), |r| {
                r.query(&[("multipart-manifest", "get")])
            })
            .await?;
        match resp.status() {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => {
                return Err(Error::NotFound {
                    name: name.to_string(),
                    store: format!("Swift container {}", self.container()),
                })
            }
            _ => return Err(http_error(&op, resp).await),
        }
        let headers = resp.headers().clone();
        let body = resp.bytes().await.map_err(transport(&op))?;
        let corrupt = |detail: String| Error::Corrupt {
            name: name.to_string(),
            detail,
        };
        let (data, etag) = if is_slo(&headers) {
            let manifest: Vec<SegmentGot> = serde_json::from_slice(&body)
                .map_err(|e| corrupt(format!("its manifest is unreadable: {e}")))?;
            self.get_segments(name, manifest).await?
        } else {
            if let Some(len) = content_length(&headers) {
                if len != body.len() as u64 {
                    return Err(corrupt(format!("received {} of {len} bytes", body.len())));
                }
            }
            let md5 = hash_off_thread(body.clone(), md5_hex).await;
            let etag = header(&headers, "etag").map(unquote).unwrap_or_default();
            if md5 != etag {
                return Err(corrupt(format!(
                    "its content has MD5 {md5}, Swift's ETag is {etag}"
                )));
            }
            (body, etag)
        };
        let mut info = info_from_headers(name, &headers, data.len() as u64);
        info.etag = etag;
        if let Some(want) = &info.sha256 {
            let got = hash_off_thread(data.clone(), sha256_hex).await;
            if &got != want {
                return Err(corrupt(format!(
                    "its content has SHA-256 {got}, {want} was recorded at upload"
                )));
            }
        }
        Ok(Object { info, data })
    }

    async fn get_stream(&self, name: &str) -> Result<(ObjectInfo, ByteStream), Error> {
        validate_name(name)?;
        let op = format!("download {}/{name}", self.container());
        let resp = self
            .send(&op, Method::GET, &self.object_path(name), |r| {
                r.query(&[("multipart-manifest", "get")])
            })
            .await?;
        match resp.status() {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => {
                return Err(Error::NotFound {
                    name: name.to_string(),
                    store: format!("Swift container {}", self.container()),
                })
            }
            _ => return Err(http_error(&op, resp).await),
        }
        let headers = resp.headers();
        let len = content_length(headers);
        if is_slo(headers) || len.is_none() {
            // A large object is read (and its segments checked) whole.
            drop(resp);
            let obj = self.get(name).await?;
            let data = obj.data;
            return Ok((
                obj.info,
                Box::pin(futures_util::stream::once(async move { Ok(data) })),
            ));
        }
        let info = info_from_headers(name, headers, len.unwrap_or(0));
        let state = Incoming {
            resp: Some(resp),
            md5: md5::Md5::default(),
            sha256: sha2::Sha256::default(),
            got: 0,
            info: info.clone(),
            op,
        };
        Ok((
            info,
            Box::pin(futures_util::stream::unfold(state, Incoming::next)),
        ))
    }

    async fn head(&self, name: &str) -> Result<Option<ObjectInfo>, Error> {
        validate_name(name)?;
        let op = format!("describe {}/{name}", self.container());
        let resp = self
            .send(&op, Method::HEAD, &self.object_path(name), |r| r)
            .await?;
        match resp.status() {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => return Ok(None),
            _ => return Err(http_error(&op, resp).await),
        }
        let size = content_length(resp.headers()).unwrap_or_default();
        Ok(Some(info_from_headers(name, resp.headers(), size)))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, Error> {
        validate_prefix(prefix)?;
        let op = format!("list {}/{prefix}*", self.container());
        let limit = self.inner.cfg.list_page_size.to_string();
        let path = format!("/{}", self.container());
        let mut out = Vec::new();
        let mut marker = String::new();
        loop {
            let resp = self
                .send(&op, Method::GET, &path, |r| {
                    r.query(&[
                        ("format", "json"),
                        ("prefix", prefix),
                        ("limit", &limit),
                        ("marker", &marker),
                    ])
                })
                .await?;
            match resp.status() {
                StatusCode::OK => {}
                // Nothing was ever written: no container, nothing in it.
                StatusCode::NOT_FOUND | StatusCode::NO_CONTENT => return Ok(out),
                _ => return Err(http_error(&op, resp).await),
            }
            let page: Vec<ListEntry> = resp.json().await.map_err(transport(&op))?;
            let full = page.len() >= self.inner.cfg.list_page_size;
            for e in page {
                marker.clone_from(&e.name);
                out.push(ObjectInfo {
                    etag: e.slo_etag.as_deref().map(unquote).unwrap_or(e.hash),
                    name: e.name,
                    size: e.bytes,
                    sha256: None,
                    metadata: Metadata::new(),
                });
            }
            if !full {
                return Ok(out);
            }
        }
    }

    async fn delete(&self, name: &str) -> Result<(), Error> {
        validate_name(name)?;
        let op = format!("delete {}/{name}", self.container());
        let path = self.object_path(name);
        // A plain DELETE of a large object removes only its manifest, and
        // the multipart delete refuses plain objects: look first.
        let resp = self
            .send(&op, Method::HEAD, &path, |r| {
                r.query(&[("multipart-manifest", "get")])
            })
            .await?;
        match resp.status() {
            StatusCode::NOT_FOUND => return Ok(()),
            StatusCode::OK if is_slo(resp.headers()) => {}
            StatusCode::OK => return self.delete_path(&path).await,
            _ => return Err(http_error(&op, resp).await),
        }
        let resp = self
            .send(&op, Method::DELETE, &path, |r| {
                r.query(&[("multipart-manifest", "delete")])
                    .header("Accept", "application/json")
            })
            .await?;
        if resp.status() != StatusCode::OK {
            return Err(http_error(&op, resp).await);
        }
        // The bulk-delete answer is 200 whatever happened; the outcome is
        // in the body.
        let trans_id = header(resp.headers(), "x-trans-id").map(str::to_string);
        let body: serde_json::Value = resp.json().await.map_err(transport(&op))?;
        let status = body["Response Status"].as_str().unwrap_or_default();
        let clean = body["Errors"].as_array().is_none_or(|e| e.is_empty());
        if status.starts_with("200") && clean {
            Ok(())
        } else {
            Err(Error::Http {
                op,
                status: status
                    .split(' ')
                    .next()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(500),
                trans_id,
                body: body.to_string(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_object_store_endpoint() {
        let token = serde_json::json!({"token": {"catalog": [
            {"type": "identity", "endpoints": [
                {"interface": "public", "region_id": "r1", "url": "http://ks/v3"}]},
            {"type": "object-store", "endpoints": [
                {"interface": "internal", "region_id": "r1", "url": "http://int/v1/AUTH_p"},
                {"interface": "public", "region_id": "r1", "region": "r1", "url": "http://r1/v1/AUTH_p/"},
                {"interface": "public", "region_id": "r2", "region": "r2", "url": "http://r2/v1/AUTH_p"}]}
        ]}});
        assert_eq!(
            catalog_endpoint(&token, "public", None).unwrap(),
            "http://r1/v1/AUTH_p"
        );
        assert_eq!(
            catalog_endpoint(&token, "public", Some("r2")).unwrap(),
            "http://r2/v1/AUTH_p"
        );
        assert_eq!(
            catalog_endpoint(&token, "internal", None).unwrap(),
            "http://int/v1/AUTH_p"
        );
        assert!(catalog_endpoint(&token, "public", Some("r3")).is_err());
        assert!(catalog_endpoint(&serde_json::json!({"token": {}}), "public", None).is_err());
    }

    #[test]
    fn slo_etag_is_md5_of_segment_md5s() {
        // Measured on Swift 2.30: segments "aaa" and "bbb".
        assert_eq!(
            slo_etag(
                [
                    "47bce5c74f589f4867dbd57e9ca9f808",
                    "08f8e0260c64418510cefb2b06eee5cd"
                ]
                .into_iter()
            ),
            "a9e079f0c00bf1bc4d84444e42dc83d7"
        );
    }

    #[test]
    fn config_from_clouds_yaml_like_json() {
        let cfg: SwiftConfig = serde_json::from_value(serde_json::json!({
            "auth": {"type": "keystone", "auth_url": "http://ks:5000", "username": "u",
                     "password": "p", "project_name": "backups", "region_name": "r1"},
            "container": "dbaas-backups",
        }))
        .unwrap();
        let SwiftAuth::Keystone(k) = &cfg.auth else {
            panic!("not keystone")
        };
        assert_eq!(k.user_domain_name, "Default");
        assert_eq!(k.interface, "public");
        assert_eq!(cfg.segment_size, 100 << 20);
        assert!(!format!("{cfg:?}").contains("\"p\""));
    }
}
