//! The Neutron operations dbaas's sagas need, each safe to repeat.

use std::sync::Arc;

use reqwest::Method;

use crate::error::{OpenStackError, Result};
use crate::neutron::{
    FloatingIp, FloatingIpCreate, FloatingIpCreateRequest, FloatingIpList, FloatingIpResponse,
    FloatingIpUpdate, FloatingIpUpdateRequest, Network, NetworkList, NetworkResponse, TagsRequest,
};
use crate::serde_util::creation_order_unsettled;
use crate::session::{ApiRequest, Session};

const SERVICE: &str = "network";

/// How dbaas recognises its floating IP after a crash.
///
/// Tags are the key Neutron can filter on, but they can only be set after
/// the floating IP exists (`PUT .../tags`): a crash between the create and
/// the tagging leaves an untagged address. The description is set in the
/// create body itself, so it is the second key that finds that one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FloatingIpKey {
    /// Written at creation; deterministic (e.g. `dbaas-NAME-ID8`).
    pub description: String,
    /// Set right after creation; every one must match.
    pub tags: Vec<String>,
}

impl FloatingIpKey {
    /// A key from a description and tags.
    pub fn new(description: impl Into<String>, tags: &[&str]) -> FloatingIpKey {
        FloatingIpKey {
            description: description.into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
        }
    }

    fn validate(&self) -> Result<()> {
        if self.description.is_empty() || self.tags.is_empty() {
            return Err(OpenStackError::Config(
                "a floating IP key needs a description and at least one tag".into(),
            ));
        }
        // The tag filter takes a comma-separated list: a tag with a comma
        // could never be found again.
        if let Some(t) = self.tags.iter().find(|t| t.contains(',') || t.is_empty()) {
            return Err(OpenStackError::Config(format!(
                "floating IP tag {t:?} is empty or contains a comma"
            )));
        }
        Ok(())
    }
}

/// Neutron networks and floating IPs.
#[derive(Debug, Clone)]
pub struct Networking {
    session: Arc<Session>,
}

impl Networking {
    /// Neutron through `session`.
    pub fn new(session: Arc<Session>) -> Networking {
        Networking { session }
    }

    fn request(&self, method: Method, path: impl Into<String>) -> ApiRequest {
        ApiRequest::new(SERVICE, method, path)
    }

    /// The network with this id, or else the only one with this name.
    pub async fn find_network(&self, name_or_id: &str) -> Result<Network> {
        match self
            .session
            .send_json::<NetworkResponse>(
                &self.request(Method::GET, format!("/v2.0/networks/{name_or_id}")),
            )
            .await
        {
            Ok(r) => return Ok(r.network),
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
        let list: NetworkList = self
            .session
            .send_json(
                &self
                    .request(Method::GET, "/v2.0/networks")
                    .query("name", name_or_id),
            )
            .await?;
        let mut nets = list.networks;
        match nets.len() {
            1 => Ok(nets.remove(0)),
            0 => Err(OpenStackError::ResourceFailed(format!(
                "no network named or with id {name_or_id:?}"
            ))),
            n => Err(OpenStackError::ResourceFailed(format!(
                "{n} networks are named {name_or_id:?}: name it by id"
            ))),
        }
    }

    /// Floating IPs the service lists for these query filters (the
    /// project's own, for a member).
    pub async fn list_floating_ips(&self, query: &[(&str, &str)]) -> Result<Vec<FloatingIp>> {
        let mut req = self.request(Method::GET, "/v2.0/floatingips");
        for (k, v) in query {
            req = req.query(k, *v);
        }
        Ok(self
            .session
            .send_json::<FloatingIpList>(&req)
            .await?
            .floatingips)
    }

    /// Floating IPs carrying every tag of `key`, then those with its
    /// description (the ones a crash left untagged), oldest first.
    pub async fn find_floating_ips(&self, key: &FloatingIpKey) -> Result<Vec<FloatingIp>> {
        key.validate()?;
        let tags = key.tags.join(",");
        let mut found: Vec<FloatingIp> = self
            .list_floating_ips(&[("tags", &tags)])
            .await?
            .into_iter()
            // Checked here too, in case a server ignores the filter.
            .filter(|f| key.tags.iter().all(|t| f.tags.contains(t)))
            .collect();
        let by_description = self
            .list_floating_ips(&[("description", &key.description)])
            .await?
            .into_iter()
            .filter(|f| f.description.as_deref() == Some(key.description.as_str()));
        for f in by_description {
            if !found.iter().any(|g| g.id == f.id) {
                found.push(f);
            }
        }
        found.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(found)
    }

    /// The oldest floating IP of `key`, once no address created later can
    /// sort before it (see [`crate::CREATION_ORDER_SETTLES_AFTER`]).
    async fn settled_oldest(&self, key: &FloatingIpKey) -> Result<Option<FloatingIp>> {
        loop {
            let oldest = self.find_floating_ips(key).await?.into_iter().next();
            match oldest
                .as_ref()
                .and_then(|f| creation_order_unsettled(f.created_at))
            {
                Some(wait) => tokio::time::sleep(wait).await,
                None => return Ok(oldest),
            }
        }
    }

    /// The floating IP of `key`, allocated from `external_network` (name
    /// or id) and tagged if there is none.
    ///
    /// Looks up first (by tags, then by description), so a retry returns
    /// the same address; one found untagged is tagged now. A create that
    /// failed in a way that may have been applied (no answer, a 5xx) is
    /// followed by another lookup before any new create. When two callers
    /// allocated at once, both keep the oldest (by creation time, then id,
    /// looked at only once that order is final) and each releases its own
    /// other one.
    pub async fn ensure_floating_ip(
        &self,
        external_network: &str,
        key: &FloatingIpKey,
    ) -> Result<FloatingIp> {
        key.validate()?;
        let retry = self.session.options().retry.clone();
        let mut net_id = None;
        let mut attempt = 0;
        let mine = loop {
            attempt += 1;
            if let Some(f) = self.settled_oldest(key).await? {
                if key.tags.iter().all(|t| f.tags.contains(t)) {
                    return Ok(f);
                }
                tracing::info!(id = %f.id, "floating IP found untagged (interrupted create): tagging");
                return self.tag(f, &key.tags).await;
            }
            let network_id = match &net_id {
                Some(id) => id,
                None => net_id.insert(self.find_network(external_network).await?.id),
            };
            let req = FloatingIpCreateRequest {
                floatingip: FloatingIpCreate {
                    floating_network_id: network_id.clone(),
                    description: Some(key.description.clone()),
                    ..FloatingIpCreate::default()
                },
            };
            match self
                .session
                .send_json::<FloatingIpResponse>(
                    &self.request(Method::POST, "/v2.0/floatingips").json(&req),
                )
                .await
            {
                Ok(created) => {
                    tracing::info!(id = %created.floatingip.id, address = %created.floatingip.floating_ip_address, "floating IP allocated");
                    break created.floatingip;
                }
                Err(e) if e.is_transient() && attempt < retry.max_attempts => {
                    tracing::warn!(error = %e, attempt, "floating IP create failed; looking up before trying again");
                    tokio::time::sleep(retry.backoff(attempt)).await;
                }
                Err(e) => return Err(e),
            }
        };
        let mine = self.tag(mine, &key.tags).await?;
        if let Some(wait) = creation_order_unsettled(mine.created_at) {
            tokio::time::sleep(wait).await;
        }
        // A concurrent creator's address, if it could ever sort before
        // ours, is visible by now.
        match self.find_floating_ips(key).await?.into_iter().next() {
            Some(winner) if winner.id != mine.id => {
                tracing::warn!(kept = %winner.id, released = %mine.id, "floating IP allocated twice at once: keeping the older");
                self.delete_floating_ip(&mine.id).await?;
                if key.tags.iter().all(|t| winner.tags.contains(t)) {
                    Ok(winner)
                } else {
                    self.tag(winner, &key.tags).await
                }
            }
            _ => Ok(mine),
        }
    }

    /// Associates the floating IP with `port_id` (through the router that
    /// joins the port's subnet to the floating IP's network), or with none
    /// to disassociate. Already so is success.
    pub async fn associate_floating_ip(
        &self,
        f: &FloatingIp,
        port_id: Option<&str>,
    ) -> Result<FloatingIp> {
        if f.port_id.as_deref() == port_id {
            return Ok(f.clone());
        }
        let req = FloatingIpUpdateRequest {
            floatingip: FloatingIpUpdate {
                port_id: Some(port_id.map(str::to_string)),
                ..FloatingIpUpdate::default()
            },
        };
        let answer: FloatingIpResponse = self
            .session
            .send_json(
                &self
                    .request(Method::PUT, format!("/v2.0/floatingips/{}", f.id))
                    .json(&req),
            )
            .await?;
        tracing::info!(id = %f.id, port = ?port_id, "floating IP association set");
        Ok(answer.floatingip)
    }

    /// Deletes one floating IP by id; absent is success.
    pub async fn delete_floating_ip(&self, id: &str) -> Result<()> {
        match self
            .session
            .send(&self.request(Method::DELETE, format!("/v2.0/floatingips/{id}")))
            .await
        {
            Ok(_) => {
                tracing::info!(id, "floating IP released");
                Ok(())
            }
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Adds `tags` to the floating IP's (PUT replaces the whole set).
    async fn tag(&self, mut f: FloatingIp, tags: &[String]) -> Result<FloatingIp> {
        let mut all = f.tags.clone();
        for t in tags {
            if !all.contains(t) {
                all.push(t.clone());
            }
        }
        let answer: TagsRequest = self
            .session
            .send_json(
                &self
                    .request(Method::PUT, format!("/v2.0/floatingips/{}/tags", f.id))
                    .json(&TagsRequest { tags: all }),
            )
            .await?;
        f.tags = answer.tags;
        Ok(f)
    }

    /// Releases every floating IP of `key` (tagged, or left untagged by an
    /// interrupted create). None is success.
    pub async fn release_floating_ip(&self, key: &FloatingIpKey) -> Result<()> {
        for f in self.find_floating_ips(key).await? {
            self.delete_floating_ip(&f.id).await?;
        }
        Ok(())
    }
}
