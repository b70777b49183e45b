//! The Cinder operations dbaas's sagas need, each safe to repeat.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;

use crate::cinder::{
    Volume, VolumeCreateRequest, VolumeDetailList, VolumeExtendRequest, VolumeResponse,
    VOLUME_MICROVERSION,
};
use crate::error::{OpenStackError, Result};
use crate::serde_util::creation_order_unsettled;
use crate::session::{ApiRequest, Session};

/// The metadata key naming the database a volume belongs to.
pub const METADATA_DB: &str = "dbaas-db";
/// The metadata key naming the operation that made a volume.
pub const METADATA_OP: &str = "dbaas-op";

const SERVICE: &str = "block-storage";

/// Statuses a volume passes through on its own, in which Cinder refuses a
/// delete.
const TRANSITIONAL: &[&str] = &[
    "creating",
    "extending",
    "downloading",
    "uploading",
    "retyping",
    "backing-up",
    "restoring-backup",
    "attaching",
    "detaching",
];

/// How long and how often to poll for a status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitOptions {
    /// Give up after this long.
    pub timeout: Duration,
    /// First pause between polls; doubled up to `max_interval`.
    pub interval: Duration,
    /// Longest pause between polls.
    pub max_interval: Duration,
}

impl Default for WaitOptions {
    fn default() -> Self {
        WaitOptions {
            timeout: Duration::from_secs(300),
            interval: Duration::from_millis(250),
            max_interval: Duration::from_secs(3),
        }
    }
}

/// Polls `probe` until it returns `Some`, pausing as `wait` says.
pub(crate) async fn poll<T, F, Fut>(wait: &WaitOptions, what: &str, mut probe: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(Option<T>, String)>>,
{
    let start = Instant::now();
    let mut pause = wait.interval;
    loop {
        let (done, seen) = probe().await?;
        if let Some(v) = done {
            return Ok(v);
        }
        if start.elapsed() >= wait.timeout {
            return Err(OpenStackError::Timeout {
                what: what.to_string(),
                after: wait.timeout,
                last: seen,
            });
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(wait.max_interval);
    }
}

/// Cinder volumes, found by their dbaas metadata.
#[derive(Debug, Clone)]
pub struct BlockStorage {
    session: Arc<Session>,
    wait: WaitOptions,
}

fn describe(v: &Volume) -> String {
    format!(
        "volume {} ({})",
        v.name.as_deref().unwrap_or("unnamed"),
        v.id
    )
}

impl BlockStorage {
    /// Cinder through `session`, with default waits.
    pub fn new(session: Arc<Session>) -> BlockStorage {
        BlockStorage {
            session,
            wait: WaitOptions::default(),
        }
    }

    /// Replaces the waiting bounds.
    pub fn with_wait(mut self, wait: WaitOptions) -> BlockStorage {
        self.wait = wait;
        self
    }

    fn request(&self, method: Method, path: impl Into<String>) -> ApiRequest {
        ApiRequest::new(SERVICE, method, path).header(
            "OpenStack-API-Version",
            format!("volume {VOLUME_MICROVERSION}"),
        )
    }

    /// The volume with this id, or `None` when Cinder does not know it.
    pub async fn get_volume(&self, id: &str) -> Result<Option<Volume>> {
        match self
            .session
            .send_json::<VolumeResponse>(&self.request(Method::GET, format!("/volumes/{id}")))
            .await
        {
            Ok(r) => Ok(Some(r.volume)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Volumes whose metadata holds every pair of `metadata`.
    pub async fn find_volumes(&self, metadata: &BTreeMap<String, String>) -> Result<Vec<Volume>> {
        let filter = serde_json::to_string(metadata).expect("a map serializes");
        let list: VolumeDetailList = self
            .session
            .send_json(
                &self
                    .request(Method::GET, "/volumes/detail")
                    .query("metadata", filter),
            )
            .await?;
        // Filter again here: a Cinder whose resource filters do not allow
        // `metadata` ignores it and lists everything.
        Ok(list
            .volumes
            .into_iter()
            .filter(|v| {
                metadata
                    .iter()
                    .all(|(k, val)| v.metadata.get(k) == Some(val))
            })
            .collect())
    }

    /// The volume of `metadata`'s `dbaas-db` and `dbaas-op`, made with
    /// `name` and `size_gb` if there is none; waits until it is
    /// `available`.
    ///
    /// The lookup comes first, by those two keys, so re-running the step
    /// after a crash (even one between Cinder's accepting the create and
    /// our recording it) finds the volume instead of making a second one.
    /// A volume found in `error` fails with a message saying so: retrying
    /// will not help, the saga must unwind (which deletes it).
    pub async fn ensure_volume(
        &self,
        name: &str,
        size_gb: u64,
        metadata: &BTreeMap<String, String>,
    ) -> Result<Volume> {
        let mut key = BTreeMap::new();
        for k in [METADATA_DB, METADATA_OP] {
            let v = metadata.get(k).ok_or_else(|| {
                OpenStackError::Config(format!(
                    "ensure_volume({name}): metadata must hold {METADATA_DB} and {METADATA_OP}, the keys a retry finds it by"
                ))
            })?;
            key.insert(k.to_string(), v.clone());
        }
        self.ensure_volume_keyed(
            &key,
            &VolumeCreateRequest::new(name, size_gb, metadata.clone()),
        )
        .await
    }

    /// The volume whose metadata holds every pair of `key`, created from
    /// `create` if there is none (`create`'s metadata must include `key`);
    /// waits until it is `available`.
    ///
    /// Safe to repeat and to race:
    /// - it looks up before it creates, and again after a create that
    ///   failed in a way that may have been applied (no answer, a 5xx), so
    ///   a lost answer never becomes a second volume;
    /// - when two callers (two agents) created at once, both see both
    ///   volumes once theirs is available; the oldest (by creation time,
    ///   then id) is kept by both, and the other is deleted by the caller
    ///   that made it.
    pub async fn ensure_volume_keyed(
        &self,
        key: &BTreeMap<String, String>,
        create: &VolumeCreateRequest,
    ) -> Result<Volume> {
        let carries_key = create
            .volume
            .metadata
            .as_ref()
            .and_then(|m| m.as_ref())
            .is_some_and(|m| key.iter().all(|(k, v)| m.get(k) == Some(v)));
        if key.is_empty() || !carries_key {
            return Err(OpenStackError::Config(
                "a volume's lookup key must be non-empty and part of its metadata, or a retry could not find it".into(),
            ));
        }
        let retry = self.session.options().retry.clone();
        let mut attempt = 0;
        let mine = loop {
            attempt += 1;
            if let Some(v) = self.settled_oldest(key).await? {
                tracing::debug!(id = %v.id, status = %v.status, "volume exists");
                return self.wait_available(&v.id, None).await;
            }
            match self
                .session
                .send_json::<VolumeResponse>(&self.request(Method::POST, "/volumes").json(create))
                .await
            {
                Ok(created) => {
                    tracing::info!(id = %created.volume.id, size = create.volume.size, "volume created");
                    break created.volume;
                }
                Err(e) if e.is_transient() && attempt < retry.max_attempts => {
                    tracing::warn!(error = %e, attempt, "volume create failed; looking up before trying again");
                    tokio::time::sleep(retry.backoff(attempt)).await;
                }
                Err(e) => return Err(e),
            }
        };
        let mine = self.wait_available(&mine.id, None).await?;
        if let Some(wait) = creation_order_unsettled(mine.created_at) {
            tokio::time::sleep(wait).await;
        }
        // A concurrent creator's volume, if it could ever sort before ours,
        // is visible by now.
        match self.oldest(key).await? {
            Some(winner) if winner.id != mine.id => {
                tracing::warn!(kept = %winner.id, deleted = %mine.id, "volume created twice at once: keeping the older");
                self.delete_volume(&mine.id).await?;
                self.wait_available(&winner.id, None).await
            }
            _ => Ok(mine),
        }
    }

    /// The oldest volume of `key` not being deleted, once no volume created
    /// later can sort before it (see [`crate::CREATION_ORDER_SETTLES_AFTER`]).
    async fn settled_oldest(&self, key: &BTreeMap<String, String>) -> Result<Option<Volume>> {
        loop {
            let oldest = self.oldest(key).await?;
            match oldest
                .as_ref()
                .and_then(|v| creation_order_unsettled(v.created_at))
            {
                Some(wait) => tokio::time::sleep(wait).await,
                None => return Ok(oldest),
            }
        }
    }

    /// The oldest volume of `key` not being deleted.
    async fn oldest(&self, key: &BTreeMap<String, String>) -> Result<Option<Volume>> {
        let mut found = self.find_volumes(key).await?;
        // One being deleted (an unwind in progress) is not ours to reuse.
        found.retain(|v| !v.status.starts_with("delet"));
        found.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(found.into_iter().next())
    }

    /// Waits until the volume is `available` or `in-use` (and, when given, of
    /// `size_gb`), failing at once on an `error*` status.
    pub async fn wait_available(&self, id: &str, size_gb: Option<u64>) -> Result<Volume> {
        let what = format!("volume {id} to become available");
        poll(&self.wait, &what, || async {
            let v = self.get_volume(id).await?.ok_or_else(|| {
                OpenStackError::ResourceFailed(format!("volume {id} disappeared while waiting for it"))
            })?;
            if v.status.starts_with("error") {
                return Err(OpenStackError::ResourceFailed(format!(
                    "{} is in status {}: Cinder could not complete it (see the volume service's log); delete it and retry",
                    describe(&v),
                    v.status
                )));
            }
            let seen = format!("status {}, size {}", v.status, v.size);
            // `in-use` is as settled as `available` (an extend of an
            // attached volume ends there).
            let settled = v.status == "available" || v.status == "in-use";
            let ready = settled && size_gb.is_none_or(|s| v.size >= s);
            Ok((ready.then_some(v), seen))
        })
        .await
    }

    /// Grows the volume to `new_size_gb`, and waits until it has. Already
    /// that size (or larger) is success, so a repeated step does nothing;
    /// an extend request whose answer was lost is checked before it is
    /// sent again.
    pub async fn extend_volume(&self, id: &str, new_size_gb: u64) -> Result<Volume> {
        let retry = self.session.options().retry.clone();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let v = self.get_volume(id).await?.ok_or_else(|| {
                OpenStackError::ResourceFailed(format!(
                    "cannot extend volume {id}: it does not exist"
                ))
            })?;
            if v.size >= new_size_gb && v.status != "extending" {
                return Ok(v);
            }
            if v.status == "extending" {
                break;
            }
            let req = VolumeExtendRequest::new(new_size_gb);
            match self
                .session
                .send(
                    &self
                        .request(Method::POST, format!("/volumes/{id}/action"))
                        .json(&req),
                )
                .await
            {
                Ok(_) => {
                    tracing::info!(id, new_size_gb, "volume extend requested");
                    break;
                }
                Err(e) if e.is_transient() && attempt < retry.max_attempts => {
                    tracing::warn!(id, error = %e, attempt, "extend failed; checking before trying again");
                    tokio::time::sleep(retry.backoff(attempt)).await;
                }
                Err(e) => return Err(e),
            }
        }
        self.wait_available(id, Some(new_size_gb)).await
    }

    /// Deletes the volume and waits until Cinder no longer lists it.
    /// A volume that does not exist is success.
    pub async fn delete_volume(&self, id: &str) -> Result<()> {
        let Some(v) = self.get_volume(id).await? else {
            return Ok(());
        };
        // Cinder refuses to delete a volume still being made or grown:
        // wait for it to settle (an `error` status can be deleted).
        let v = if TRANSITIONAL.contains(&v.status.as_str()) {
            let what = format!("volume {id} to settle before deleting it");
            match poll(&self.wait, &what, || async {
                Ok(match self.get_volume(id).await? {
                    None => (Some(None), "gone".into()),
                    Some(v) if TRANSITIONAL.contains(&v.status.as_str()) => {
                        (None, format!("status {}", v.status))
                    }
                    Some(v) => (Some(Some(v)), String::new()),
                })
            })
            .await?
            {
                Some(v) => v,
                None => return Ok(()),
            }
        } else {
            v
        };
        // Already being deleted (a repeated step): just wait.
        if v.status != "deleting" {
            match self
                .session
                .send(&self.request(Method::DELETE, format!("/volumes/{id}")))
                .await
            {
                Ok(_) => tracing::info!(id, "volume delete requested"),
                Err(e) if e.is_not_found() => return Ok(()),
                Err(e) => {
                    // A repeated DELETE whose first answer was lost meets
                    // a volume already `deleting` (Cinder says 400): that
                    // is the delete under way, not a failure.
                    match self.get_volume(id).await? {
                        None => return Ok(()),
                        Some(v) if v.status == "deleting" => {
                            tracing::info!(id, "volume delete already under way")
                        }
                        Some(_) => return Err(e),
                    }
                }
            }
        }
        let what = format!("volume {id} to be deleted");
        poll(&self.wait, &what, || async {
            match self.get_volume(id).await? {
                None => Ok((Some(()), "gone".into())),
                Some(v) if v.status == "error_deleting" => {
                    Err(OpenStackError::ResourceFailed(format!(
                        "{} is in status error_deleting: Cinder could not delete it",
                        describe(&v)
                    )))
                }
                Some(v) => Ok((None, format!("status {}", v.status))),
            }
        })
        .await
    }
}
