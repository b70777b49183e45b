//! [`S3Store`]: S3-compatible object stores (AWS S3, MinIO, Ceph RGW,
//! Swift's s3api, ...) through the `rust-s3` crate.
//!
//! * Integrity: every PUT (and every multipart part) carries `Content-MD5`,
//!   so the store refuses a damaged upload; the whole object's SHA-256 is
//!   stored as `x-amz-meta-sha256` and checked, with the size, on every
//!   `get`.
//! * Large objects: content above `part_size` is sent as a multipart upload
//!   of parts of that size (S3 wants at least 5 MiB per part but the last);
//!   a failed upload is aborted so that no parts are left behind.

use std::fmt;
use std::time::Duration;

use ::s3::creds::Credentials;
use ::s3::error::S3Error;
use ::s3::{Bucket, BucketConfiguration, Region};
use async_trait::async_trait;
use bytes::Bytes;
use serde::Deserialize;

use crate::{
    hash_off_thread, sha256_hex, validate_metadata, validate_name, validate_prefix, Error,
    Metadata, Object, ObjectInfo, ObjectStore, Secret, SHA256_KEY,
};

const META_PREFIX: &str = "x-amz-meta-";
const CONTENT_TYPE: &str = "application/octet-stream";
/// S3's smallest part but the last.
const MIN_PART_SIZE: u64 = 5 << 20;
/// S3's largest number of parts.
const MAX_PARTS: u64 = 10_000;

/// Where and how an [`S3Store`] keeps its objects.
#[derive(Debug, Clone, Deserialize)]
pub struct S3Config {
    /// The service's URL, e.g. `https://s3.example.com` or
    /// `http://127.0.0.1:8080` (Swift's s3api).
    pub endpoint: String,
    /// The region signed into requests (default `us-east-1`).
    #[serde(default = "default_region")]
    pub region: String,
    /// The bucket holding the objects.
    pub bucket: String,
    /// The access key id (for Swift's s3api with tempauth, `account:user`).
    pub access_key: String,
    /// The secret key.
    pub secret_key: Secret,
    /// Path-style URLs (`endpoint/bucket/key`) rather than bucket
    /// sub-domains (default true: what most non-AWS stores want).
    #[serde(default = "default_true")]
    pub path_style: bool,
    /// Create the bucket on first write if it does not exist (default
    /// false: buckets are usually provisioned with their policies).
    #[serde(default)]
    pub create_bucket: bool,
    /// Objects larger than this many bytes are sent as a multipart upload
    /// of parts of this size (default 100 MiB, at least 5 MiB).
    #[serde(default = "default_part_size")]
    pub part_size: u64,
    /// How many names one listing request asks for (default 1000, S3's
    /// maximum).
    #[serde(default = "default_page_size")]
    pub list_page_size: usize,
    /// Time limit of one HTTP request, in seconds (default 600: a part must
    /// fit in it).
    #[serde(default = "default_timeout")]
    pub request_timeout_secs: u64,
}

fn default_region() -> String {
    "us-east-1".to_string()
}
fn default_true() -> bool {
    true
}
fn default_part_size() -> u64 {
    100 << 20
}
fn default_page_size() -> usize {
    1000
}
fn default_timeout() -> u64 {
    600
}

impl S3Config {
    /// A configuration with every default.
    pub fn new(
        endpoint: impl Into<String>,
        bucket: impl Into<String>,
        access_key: impl Into<String>,
        secret_key: Secret,
    ) -> Self {
        Self {
            endpoint: endpoint.into(),
            region: default_region(),
            bucket: bucket.into(),
            access_key: access_key.into(),
            secret_key,
            path_style: true,
            create_bucket: false,
            part_size: default_part_size(),
            list_page_size: default_page_size(),
            request_timeout_secs: default_timeout(),
        }
    }
}

/// An object store in one S3 bucket. Cheap to clone.
#[derive(Clone)]
pub struct S3Store {
    cfg: S3Config,
    bucket: Box<Bucket>,
    bucket_ready: std::sync::Arc<tokio::sync::OnceCell<()>>,
}

impl fmt::Debug for S3Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Store")
            .field("config", &self.cfg)
            .finish()
    }
}

fn check_bucket(name: &str) -> Result<(), Error> {
    let ok = (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "bucket name {name:?} must be 3 to 63 characters of a-z 0-9 . -, starting and ending with a letter or digit"
        )))
    }
}

fn unquote(etag: &str) -> String {
    etag.trim().trim_matches('"').to_ascii_lowercase()
}

/// An error of the `rust-s3` crate, as this crate's [`Error`].
fn s3_error(op: &str, e: S3Error) -> Error {
    match e {
        S3Error::Reqwest(source) => Error::Transport {
            op: op.to_string(),
            source,
        },
        S3Error::HttpFailWithBody(status, body) => http_error(op, status, &body),
        S3Error::Credentials(e) => Error::Config(format!("S3 credentials: {e}")),
        // No usable HTTP answer (status 0): an answer that could not be
        // read, or a request that could not be built.
        other => Error::Http {
            op: op.to_string(),
            status: 0,
            trans_id: None,
            body: format!("no usable answer: {other}"),
        },
    }
}

/// An error for an unexpected answer, with the start of its body (S3's
/// error bodies are short XML documents saying what is wrong).
fn http_error(op: &str, status: u16, body: &str) -> Error {
    let mut body: String = body.chars().take(300).collect();
    if body.trim().is_empty() {
        body = "(empty body)".to_string();
    }
    Error::Http {
        op: op.to_string(),
        status,
        trans_id: None,
        body,
    }
}

fn is_success(status: u16) -> bool {
    (200..300).contains(&status)
}

/// The user metadata and recorded SHA-256 among `x-amz-meta-*` entries
/// (keys with or without the prefix, any case).
fn split_metadata<'a>(
    entries: impl Iterator<Item = (&'a str, &'a str)>,
    strip_prefix: bool,
) -> (Metadata, Option<String>) {
    let mut metadata = Metadata::new();
    let mut sha256 = None;
    for (k, v) in entries {
        let k = k.to_ascii_lowercase();
        let key = if strip_prefix {
            match k.strip_prefix(META_PREFIX) {
                Some(key) => key.to_string(),
                None => continue,
            }
        } else {
            k
        };
        if key == SHA256_KEY {
            sha256 = Some(v.trim().to_ascii_lowercase());
        } else {
            metadata.insert(key, v.to_string());
        }
    }
    (metadata, sha256)
}

impl S3Store {
    /// A store for `cfg`. Nothing is contacted until the first call.
    /// A rustls crypto provider must be installed first for `https`
    /// endpoints (the agent does it in `main`).
    pub fn new(cfg: S3Config) -> Result<Self, Error> {
        check_bucket(&cfg.bucket)?;
        if !(cfg.endpoint.starts_with("http://") || cfg.endpoint.starts_with("https://")) {
            return Err(Error::Config(format!(
                "endpoint {:?} must be an http:// or https:// URL",
                cfg.endpoint
            )));
        }
        if cfg.part_size < MIN_PART_SIZE {
            return Err(Error::Config(format!(
                "part_size {} is below S3's minimum part size of 5 MiB",
                cfg.part_size
            )));
        }
        if cfg.list_page_size == 0 || cfg.list_page_size > 1000 {
            return Err(Error::Config(
                "list_page_size must be 1 to 1000 (S3's maximum)".into(),
            ));
        }
        let credentials = Credentials::new(
            Some(&cfg.access_key),
            Some(cfg.secret_key.expose()),
            None,
            None,
            None,
        )
        .map_err(|e| Error::Config(format!("S3 credentials: {e}")))?;
        let bucket = Bucket::new(&cfg.bucket, Self::region(&cfg), credentials)
            .map_err(|e| Error::Config(format!("S3 bucket {}: {e}", cfg.bucket)))?;
        let mut bucket = if cfg.path_style {
            bucket.with_path_style()
        } else {
            bucket
        };
        bucket.set_request_timeout(Some(Duration::from_secs(cfg.request_timeout_secs)));
        Ok(Self {
            cfg,
            bucket,
            bucket_ready: Default::default(),
        })
    }

    fn region(cfg: &S3Config) -> Region {
        Region::Custom {
            region: cfg.region.clone(),
            endpoint: cfg.endpoint.trim_end_matches('/').to_string(),
        }
    }

    /// The bucket holding the objects.
    pub fn bucket(&self) -> &str {
        &self.cfg.bucket
    }

    fn op(&self, verb: &str, name: &str) -> String {
        format!("{verb} {}/{name}", self.cfg.bucket)
    }

    /// Creates the bucket once, if so configured; an existing bucket of
    /// ours is fine.
    async fn ensure_bucket(&self) -> Result<(), Error> {
        if !self.cfg.create_bucket {
            return Ok(());
        }
        self.bucket_ready
            .get_or_try_init(|| async {
                let op = format!("PUT bucket {}", self.cfg.bucket);
                let credentials = self
                    .bucket
                    .credentials()
                    .await
                    .map_err(|e| s3_error(&op, e))?;
                let region = Self::region(&self.cfg);
                let config = BucketConfiguration::default();
                let resp = if self.cfg.path_style {
                    Bucket::create_with_path_style(&self.cfg.bucket, region, credentials, config)
                        .await
                } else {
                    Bucket::create(&self.cfg.bucket, region, credentials, config).await
                }
                .map_err(|e| s3_error(&op, e))?;
                // 409 BucketAlreadyOwnedByYou: created meanwhile by us.
                if is_success(resp.response_code)
                    || (resp.response_code == 409
                        && resp.response_text.contains("BucketAlreadyOwnedByYou"))
                {
                    Ok(())
                } else {
                    Err(http_error(&op, resp.response_code, &resp.response_text))
                }
            })
            .await
            .map(|_| ())
    }

    async fn put_single(
        &self,
        name: &str,
        data: &Bytes,
        headers: &[(String, String)],
    ) -> Result<String, Error> {
        let op = self.op("PUT", name);
        let mut req = self.bucket.put_object_builder(format!("/{name}"), data);
        for (k, v) in headers {
            req = req.with_header(k, v).map_err(|e| s3_error(&op, e))?;
        }
        let resp = req.execute().await.map_err(|e| s3_error(&op, e))?;
        if !is_success(resp.status_code()) {
            return Err(http_error(
                &op,
                resp.status_code(),
                &String::from_utf8_lossy(resp.as_slice()),
            ));
        }
        Ok(resp
            .headers()
            .get("etag")
            .map(|e| unquote(e))
            .unwrap_or_default())
    }

    async fn put_multipart(
        &self,
        name: &str,
        data: &Bytes,
        headers: &[(String, String)],
    ) -> Result<String, Error> {
        let path = format!("/{name}");
        let op = self.op("multipart PUT", name);
        // Metadata goes with the initiation only (the crate leaves
        // x-amz-meta-* extra headers off the parts and the completion).
        let mut extra = reqwest::header::HeaderMap::new();
        for (k, v) in headers {
            let (Ok(k), Ok(v)) = (
                reqwest::header::HeaderName::from_bytes(k.as_bytes()),
                reqwest::header::HeaderValue::from_str(v),
            ) else {
                return Err(Error::Config(format!("unusable header {k}: {v}")));
            };
            extra.insert(k, v);
        }
        let with_meta = self
            .bucket
            .with_extra_headers(extra)
            .map_err(|e| s3_error(&op, e))?;
        let upload = with_meta
            .initiate_multipart_upload(&path, CONTENT_TYPE)
            .await
            .map_err(|e| s3_error(&op, e))?;
        let result = async {
            let mut parts = Vec::new();
            let size = self.cfg.part_size as usize;
            for (i, chunk) in data.chunks(size).enumerate() {
                let number = i as u32 + 1;
                let part = self
                    .bucket
                    .put_multipart_chunk(
                        chunk.to_vec(),
                        &path,
                        number,
                        &upload.upload_id,
                        CONTENT_TYPE,
                    )
                    .await
                    .map_err(|e| s3_error(&format!("{op} (part {number})"), e))?;
                parts.push(part);
            }
            let resp = self
                .bucket
                .complete_multipart_upload(&path, &upload.upload_id, parts)
                .await
                .map_err(|e| s3_error(&format!("{op} (completion)"), e))?;
            if !is_success(resp.status_code()) {
                return Err(http_error(
                    &format!("{op} (completion)"),
                    resp.status_code(),
                    &String::from_utf8_lossy(resp.as_slice()),
                ));
            }
            Ok(())
        }
        .await;
        if let Err(e) = result {
            if let Err(abort) = self.bucket.abort_upload(&path, &upload.upload_id).await {
                tracing::warn!(object = name, error = %abort, "aborting a failed multipart upload failed; its parts stay until the bucket's lifecycle removes them");
            }
            return Err(e);
        }
        // The completion's ETag is not the object's in every store: ask.
        Ok(self.head(name).await?.map(|i| i.etag).unwrap_or_default())
    }
}

#[async_trait]
impl ObjectStore for S3Store {
    async fn put(&self, name: &str, data: Bytes, metadata: &Metadata) -> Result<ObjectInfo, Error> {
        validate_name(name)?;
        validate_metadata(metadata)?;
        let size = data.len() as u64;
        if size > self.cfg.part_size.saturating_mul(MAX_PARTS) {
            return Err(Error::Config(format!(
                "{name} is {size} bytes: more than {MAX_PARTS} parts of part_size {}; raise part_size",
                self.cfg.part_size
            )));
        }
        self.ensure_bucket().await?;
        let sha256 = hash_off_thread(data.clone(), sha256_hex).await;
        let mut headers: Vec<(String, String)> = metadata
            .iter()
            .map(|(k, v)| (format!("{META_PREFIX}{k}"), v.clone()))
            .collect();
        headers.push((format!("{META_PREFIX}{SHA256_KEY}"), sha256.clone()));
        let etag = if size > self.cfg.part_size {
            self.put_multipart(name, &data, &headers).await?
        } else {
            self.put_single(name, &data, &headers).await?
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
        let op = self.op("GET", name);
        let resp = self
            .bucket
            .get_object(format!("/{name}"))
            .await
            .map_err(|e| s3_error(&op, e))?;
        let status = resp.status_code();
        if status == 404 {
            return Err(Error::NotFound {
                name: name.to_string(),
                store: format!("bucket {}", self.cfg.bucket),
            });
        }
        if !is_success(status) {
            return Err(http_error(
                &op,
                status,
                &String::from_utf8_lossy(resp.as_slice()),
            ));
        }
        let headers = resp.headers();
        let (metadata, sha256) =
            split_metadata(headers.iter().map(|(k, v)| (k.as_str(), v.as_str())), true);
        let etag = headers.get("etag").map(|e| unquote(e)).unwrap_or_default();
        let expected_len: Option<u64> = headers.get("content-length").and_then(|v| v.parse().ok());
        let data = resp.into_bytes();
        let corrupt = |detail: String| Error::Corrupt {
            name: name.to_string(),
            detail,
        };
        if let Some(len) = expected_len {
            if len != data.len() as u64 {
                return Err(corrupt(format!(
                    "{} bytes read where the store announced {len}",
                    data.len()
                )));
            }
        }
        let Some(want) = sha256 else {
            return Err(corrupt(
                "it has no recorded SHA-256 (x-amz-meta-sha256): it was not written by this store"
                    .into(),
            ));
        };
        let got = hash_off_thread(data.clone(), sha256_hex).await;
        if got != want {
            return Err(corrupt(format!(
                "its SHA-256 is {got}, but {want} was recorded when it was written"
            )));
        }
        Ok(Object {
            info: ObjectInfo {
                name: name.to_string(),
                size: data.len() as u64,
                etag,
                sha256: Some(want),
                metadata,
            },
            data,
        })
    }

    async fn head(&self, name: &str) -> Result<Option<ObjectInfo>, Error> {
        validate_name(name)?;
        let op = self.op("HEAD", name);
        let (head, status) = self
            .bucket
            .head_object(format!("/{name}"))
            .await
            .map_err(|e| s3_error(&op, e))?;
        if status == 404 {
            return Ok(None);
        }
        if !is_success(status) {
            return Err(http_error(&op, status, ""));
        }
        let meta = head.metadata.unwrap_or_default();
        let (metadata, sha256) =
            split_metadata(meta.iter().map(|(k, v)| (k.as_str(), v.as_str())), false);
        Ok(Some(ObjectInfo {
            name: name.to_string(),
            size: head.content_length.unwrap_or(0).max(0) as u64,
            etag: head.e_tag.as_deref().map(unquote).unwrap_or_default(),
            sha256,
            metadata,
        }))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, Error> {
        validate_prefix(prefix)?;
        // A store that makes its bucket also lists before its first write
        // (a backup first clears leftovers): the bucket must exist then.
        self.ensure_bucket().await?;
        let op = format!("GET bucket {} listing {prefix:?}", self.cfg.bucket);
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let (page, status) = self
                .bucket
                .list_page(
                    prefix.to_string(),
                    None,
                    token.take(),
                    None,
                    Some(self.cfg.list_page_size),
                )
                .await
                .map_err(|e| s3_error(&op, e))?;
            if !is_success(status) {
                return Err(http_error(&op, status, ""));
            }
            out.extend(page.contents.into_iter().map(|o| ObjectInfo {
                name: o.key,
                size: o.size,
                etag: o.e_tag.as_deref().map(unquote).unwrap_or_default(),
                sha256: None,
                metadata: Metadata::new(),
            }));
            match page.next_continuation_token {
                Some(t) if page.is_truncated && !t.is_empty() => token = Some(t),
                _ if page.is_truncated => {
                    return Err(http_error(
                        &op,
                        status,
                        "the listing is truncated but carries no continuation token",
                    ))
                }
                _ => break,
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    async fn delete(&self, name: &str) -> Result<(), Error> {
        validate_name(name)?;
        let op = self.op("DELETE", name);
        let resp = self
            .bucket
            .delete_object(format!("/{name}"))
            .await
            .map_err(|e| s3_error(&op, e))?;
        let status = resp.status_code();
        if is_success(status) || status == 404 {
            Ok(())
        } else {
            Err(http_error(
                &op,
                status,
                &String::from_utf8_lossy(resp.as_slice()),
            ))
        }
    }
}
