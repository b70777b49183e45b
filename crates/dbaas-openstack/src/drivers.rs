//! dbaas's driver interfaces on OpenStack: [`CinderVolumes`] is a
//! [`VolumeDriver`], [`NeutronFloatingIps`] an [`AddressDriver`].
//!
//! Both find their resources again by what they wrote on them (volume
//! metadata; floating IP tags and description), never by a record of their
//! own, so a step re-run after a crash (even between the cloud's accepting
//! a create and the saga's recording it) finds what the first run made.
//! Within one process, calls for the same name are serialised; across
//! processes, a create race is settled by [`BlockStorage::ensure_volume_keyed`]
//! and [`Networking::ensure_floating_ip`] (the oldest is kept).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use dbaas_drivers::{AddressDriver, DriverError, Volume, VolumeDriver};
use dbaas_model::Endpoint;
use serde::{Deserialize, Serialize};

use crate::block_storage::{BlockStorage, WaitOptions, METADATA_DB, METADATA_OP};
use crate::cinder::{self, VolumeCreateRequest};
use crate::error::OpenStackError;
use crate::network::{FloatingIpKey, Networking};
use crate::neutron::FloatingIp;
use crate::session::Session;

/// The volume metadata key (and floating IP tag) marking what dbaas
/// manages; its value is [`VolumeSettings::owner_tag`].
pub const METADATA_MANAGED_BY: &str = "dbaas-managed-by";
/// The metadata key holding the volume's role (`data`).
pub const METADATA_ROLE: &str = "dbaas-role";

fn driver_error(what: &str, e: OpenStackError) -> DriverError {
    DriverError::new(format!("{what}: {e}"))
}

fn default_mount_root() -> PathBuf {
    PathBuf::from("/srv/dbaas")
}
fn default_owner_tag() -> String {
    "dbaas".into()
}
fn default_wait_secs() -> u64 {
    300
}
fn default_engine_port() -> u16 {
    5432
}

/// Settings of [`CinderVolumes`], as the agent's configuration gives them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeSettings {
    /// Where the host pair mounts a database's volume: `MOUNT_ROOT/NAME`
    /// (Pacemaker's Filesystem resource). Default `/srv/dbaas`.
    #[serde(default = "default_mount_root")]
    pub mount_root: PathBuf,
    /// Cinder volume type; the cloud's default when absent.
    #[serde(default)]
    pub volume_type: Option<String>,
    /// Cinder availability zone; the cloud's default when absent.
    #[serde(default)]
    pub availability_zone: Option<String>,
    /// Value of the `dbaas-managed-by` metadata on every volume this driver
    /// makes; [`VolumeDriver::list`] lists those. Two control planes
    /// sharing a project use two tags. Default `dbaas`.
    #[serde(default = "default_owner_tag")]
    pub owner_tag: String,
    /// Longest wait for a volume to become available or to go, in
    /// seconds. Default 300.
    #[serde(default = "default_wait_secs")]
    pub wait_timeout_secs: u64,
}

impl Default for VolumeSettings {
    fn default() -> Self {
        VolumeSettings {
            mount_root: default_mount_root(),
            volume_type: None,
            availability_zone: None,
            owner_tag: default_owner_tag(),
            wait_timeout_secs: default_wait_secs(),
        }
    }
}

/// Per-name locks: two calls for one name in this process never overlap.
#[derive(Debug, Default)]
struct NameLocks(std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

impl NameLocks {
    async fn lock(&self, name: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let m = {
            let mut map = self.0.lock().expect("lock map poisoned");
            // Drop locks nobody holds or waits for, so the map stays small.
            map.retain(|_, m| Arc::strong_count(m) > 1);
            map.entry(name.to_string()).or_default().clone()
        };
        m.lock_owned().await
    }
}

/// Data volumes in Cinder: the [`VolumeDriver`] of production.
///
/// A volume named `NAME` carries the metadata `dbaas-db=NAME`,
/// `dbaas-managed-by=OWNER_TAG` and `dbaas-role=data`, and is found again
/// by the first two.
#[derive(Debug)]
pub struct CinderVolumes {
    storage: BlockStorage,
    settings: VolumeSettings,
    locks: NameLocks,
}

impl CinderVolumes {
    /// The driver over `session`.
    pub fn new(session: Arc<Session>, settings: VolumeSettings) -> CinderVolumes {
        let wait = WaitOptions {
            timeout: Duration::from_secs(settings.wait_timeout_secs),
            ..WaitOptions::default()
        };
        CinderVolumes {
            storage: BlockStorage::new(session).with_wait(wait),
            settings,
            locks: NameLocks::default(),
        }
    }

    /// The Cinder client underneath (extend, get by id).
    pub fn storage(&self) -> &BlockStorage {
        &self.storage
    }

    /// The settings in use.
    pub fn settings(&self) -> &VolumeSettings {
        &self.settings
    }

    /// Where the volume of `name` is mounted on its host pair.
    pub fn mount_path(&self, name: &str) -> PathBuf {
        self.settings.mount_root.join(name)
    }

    /// The metadata a retry finds the volume of `name` by.
    pub fn key(&self, name: &str) -> BTreeMap<String, String> {
        self.settings.key(name)
    }

    /// The create request for the volume of `name`.
    pub fn create_request(&self, name: &str, size_gb: u32) -> VolumeCreateRequest {
        self.settings.create_request(name, size_gb)
    }

    fn to_driver(&self, name: &str, v: &cinder::Volume) -> Volume {
        Volume {
            name: name.to_string(),
            id: v.id.clone(),
            size_gb: u32::try_from(v.size).unwrap_or(u32::MAX),
            mount_path: self.mount_path(name),
        }
    }

    /// Every volume of `name` not being deleted, oldest first.
    async fn volumes_of(&self, name: &str) -> Result<Vec<cinder::Volume>, DriverError> {
        let mut found = self
            .storage
            .find_volumes(&self.key(name))
            .await
            .map_err(|e| driver_error(&format!("looking up the volume of {name}"), e))?;
        found.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(found)
    }

    /// Grows the volume of `name` to `size_gb` (already so large is
    /// success).
    pub async fn extend(&self, name: &str, size_gb: u32) -> Result<Volume, DriverError> {
        let _guard = self.locks.lock(name).await;
        let v = self
            .volumes_of(name)
            .await?
            .into_iter()
            .find(|v| !v.status.starts_with("delet"))
            .ok_or_else(|| DriverError::new(format!("no volume of {name} to extend")))?;
        let v = self
            .storage
            .extend_volume(&v.id, u64::from(size_gb))
            .await
            .map_err(|e| driver_error(&format!("extending the volume of {name}"), e))?;
        Ok(self.to_driver(name, &v))
    }
}

#[async_trait]
impl VolumeDriver for CinderVolumes {
    async fn ensure(
        &self,
        name: &str,
        size_gb: u32,
        operation: &str,
    ) -> dbaas_drivers::Result<Volume> {
        let _guard = self.locks.lock(name).await;
        let mut create = self.create_request(name, size_gb);
        if let Some(Some(m)) = create.volume.metadata.as_mut() {
            m.insert(METADATA_OP.to_string(), operation.to_string());
        }
        let v = self
            .storage
            .ensure_volume_keyed(&self.key(name), &create)
            .await
            .map_err(|e| driver_error(&format!("creating the volume of {name}"), e))?;
        Ok(self.to_driver(name, &v))
    }

    async fn extend(&self, name: &str, size_gb: u32) -> dbaas_drivers::Result<Volume> {
        CinderVolumes::extend(self, name, size_gb).await
    }

    async fn find(&self, name: &str) -> dbaas_drivers::Result<Option<Volume>> {
        Ok(self
            .volumes_of(name)
            .await?
            .iter()
            .find(|v| !v.status.starts_with("delet"))
            .map(|v| self.to_driver(name, v)))
    }

    async fn delete(&self, name: &str) -> dbaas_drivers::Result<()> {
        let _guard = self.locks.lock(name).await;
        for v in self.volumes_of(name).await? {
            self.storage
                .delete_volume(&v.id)
                .await
                .map_err(|e| driver_error(&format!("deleting the volume of {name}"), e))?;
        }
        Ok(())
    }

    async fn list(&self) -> dbaas_drivers::Result<Vec<String>> {
        let managed = BTreeMap::from([(
            METADATA_MANAGED_BY.to_string(),
            self.settings.owner_tag.clone(),
        )]);
        let found = self
            .storage
            .find_volumes(&managed)
            .await
            .map_err(|e| driver_error("listing dbaas's volumes", e))?;
        let names: BTreeSet<String> = found
            .into_iter()
            .filter(|v| !v.status.starts_with("delet"))
            .filter_map(|v| v.metadata.get(METADATA_DB).cloned())
            .collect();
        Ok(names.into_iter().collect())
    }
}

impl VolumeSettings {
    /// The metadata a volume of `name` is found by.
    pub fn key(&self, name: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            (METADATA_DB.to_string(), name.to_string()),
            (METADATA_MANAGED_BY.to_string(), self.owner_tag.clone()),
        ])
    }

    /// The create request for the volume of `name` (also what `dbaas
    /// render` shows).
    pub fn create_request(&self, name: &str, size_gb: u32) -> VolumeCreateRequest {
        let mut metadata = self.key(name);
        metadata.insert(METADATA_ROLE.to_string(), "data".to_string());
        let mut req = VolumeCreateRequest::new(name, u64::from(size_gb), metadata);
        req.volume.description = Some(Some(format!("data of {name}, made by dbaas")));
        req.volume.volume_type = self.volume_type.clone().map(Some);
        req.volume.availability_zone = self.availability_zone.clone().map(Some);
        req
    }
}

impl AddressSettings {
    /// What the floating IP of `owner` is found by: its description and
    /// tags.
    pub fn key(&self, owner: &str) -> FloatingIpKey {
        let label = format!("{}:{owner}", self.owner_tag);
        FloatingIpKey::new(label.clone(), &[&self.owner_tag, &label])
    }
}

/// Settings of [`NeutronFloatingIps`], as the agent's configuration gives
/// them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddressSettings {
    /// The external network floating IPs come from (name or id).
    pub external_network: String,
    /// The port clients connect to (the engine's). Default 5432.
    #[serde(default = "default_engine_port")]
    pub port: u16,
    /// The VIP port to associate new addresses with, when not given per
    /// call ([`NeutronFloatingIps::ensure_on`]). None: left unassociated.
    #[serde(default)]
    pub vip_port_id: Option<String>,
    /// The tag on every floating IP this driver makes, and the prefix of
    /// its owner tag and description (`TAG:OWNER`). Default `dbaas`.
    #[serde(default = "default_owner_tag")]
    pub owner_tag: String,
}

impl AddressSettings {
    /// Settings with defaults for everything but the external network.
    pub fn new(external_network: impl Into<String>) -> AddressSettings {
        AddressSettings {
            external_network: external_network.into(),
            port: default_engine_port(),
            vip_port_id: None,
            owner_tag: default_owner_tag(),
        }
    }
}

/// Client addresses as Neutron floating IPs: the [`AddressDriver`] of
/// production.
///
/// The address of `OWNER` has the description `TAG:OWNER` (written in the
/// create itself) and the tags `TAG` and `TAG:OWNER` (added right after:
/// Neutron refuses tags in a create).
#[derive(Debug)]
pub struct NeutronFloatingIps {
    networking: Networking,
    settings: AddressSettings,
    locks: NameLocks,
}

impl NeutronFloatingIps {
    /// The driver over `session`. Fails when the owner tag could not be
    /// a Neutron tag filter.
    pub fn new(
        session: Arc<Session>,
        settings: AddressSettings,
    ) -> Result<NeutronFloatingIps, DriverError> {
        if settings.owner_tag.is_empty() || settings.owner_tag.contains([',', ':']) {
            return Err(DriverError::new(format!(
                "floating IP owner tag {:?} must be non-empty, without ',' or ':'",
                settings.owner_tag
            )));
        }
        Ok(NeutronFloatingIps {
            networking: Networking::new(session),
            settings,
            locks: NameLocks::default(),
        })
    }

    /// The Neutron client underneath.
    pub fn networking(&self) -> &Networking {
        &self.networking
    }

    /// The settings in use.
    pub fn settings(&self) -> &AddressSettings {
        &self.settings
    }

    /// What the floating IP of `owner` is found by.
    pub fn key(&self, owner: &str) -> FloatingIpKey {
        self.settings.key(owner)
    }

    fn endpoint(&self, f: &FloatingIp) -> Endpoint {
        Endpoint {
            host: f.floating_ip_address.clone(),
            port: self.settings.port,
        }
    }

    /// The floating IP of `owner`, allocated unless it has one, and
    /// associated with `vip_port_id` when given (a change of port moves
    /// it). Returns the address.
    pub async fn ensure_on(
        &self,
        owner: &str,
        vip_port_id: Option<&str>,
    ) -> Result<FloatingIp, DriverError> {
        let _guard = self.locks.lock(owner).await;
        let what = format!("allocating the floating IP of {owner}");
        let f = self
            .networking
            .ensure_floating_ip(&self.settings.external_network, &self.key(owner))
            .await
            .map_err(|e| driver_error(&what, e))?;
        match vip_port_id {
            Some(port) => self
                .networking
                .associate_floating_ip(&f, Some(port))
                .await
                .map_err(|e| {
                    driver_error(
                        &format!("associating the floating IP of {owner} with port {port}"),
                        e,
                    )
                }),
            None => Ok(f),
        }
    }

    /// The floating IP of `owner`, if it has one.
    pub async fn floating_ip(&self, owner: &str) -> Result<Option<FloatingIp>, DriverError> {
        Ok(self
            .networking
            .find_floating_ips(&self.key(owner))
            .await
            .map_err(|e| driver_error(&format!("looking up the floating IP of {owner}"), e))?
            .into_iter()
            .next())
    }
}

#[async_trait]
impl AddressDriver for NeutronFloatingIps {
    async fn ensure(&self, owner: &str) -> dbaas_drivers::Result<Endpoint> {
        let port = self.settings.vip_port_id.clone();
        let f = self.ensure_on(owner, port.as_deref()).await?;
        Ok(self.endpoint(&f))
    }

    async fn find(&self, owner: &str) -> dbaas_drivers::Result<Option<Endpoint>> {
        Ok(self.floating_ip(owner).await?.map(|f| self.endpoint(&f)))
    }

    async fn attach(&self, owner: &str, port_id: &str) -> dbaas_drivers::Result<()> {
        self.ensure_on(owner, Some(port_id)).await.map(|_| ())
    }

    async fn release(&self, owner: &str) -> dbaas_drivers::Result<()> {
        let _guard = self.locks.lock(owner).await;
        self.networking
            .release_floating_ip(&self.key(owner))
            .await
            .map_err(|e| driver_error(&format!("releasing the floating IP of {owner}"), e))
    }

    async fn list(&self) -> dbaas_drivers::Result<Vec<String>> {
        let prefix = format!("{}:", self.settings.owner_tag);
        let all = self
            .networking
            .list_floating_ips(&[])
            .await
            .map_err(|e| driver_error("listing dbaas's floating IPs", e))?;
        // Tagged ones, and those an interrupted create left with only
        // their description.
        let owners: BTreeSet<String> = all
            .iter()
            .flat_map(|f| f.tags.iter().chain(f.description.iter()))
            .filter_map(|t| t.strip_prefix(&prefix))
            .filter(|o| !o.is_empty())
            .map(str::to_string)
            .collect();
        Ok(owners.into_iter().collect())
    }

    async fn cloud_id(&self, owner: &str) -> dbaas_drivers::Result<Option<String>> {
        Ok(self.floating_ip(owner).await?.map(|f| f.id))
    }
}
