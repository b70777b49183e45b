//! What workflow steps work with: the state store, the drivers, settings.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use dbaas_drivers::{AddressDriver, EngineRuntime, EngineSpec, EngineStatus, VolumeDriver};
use dbaas_model::{DatabaseRecord, OperatingStatus, OperationRecord};
use dbaas_postgres::JobLimits;
use dbaas_saga::{SagaLog, StepError};
use dbaas_store::StateStore;

/// The drivers serving each concern.
#[derive(Clone)]
pub struct Drivers {
    pub volumes: Arc<dyn VolumeDriver>,
    pub addresses: Arc<dyn AddressDriver>,
    pub runtime: Arc<dyn EngineRuntime>,
    /// What keeps each database running on its pair (`NoHa` locally).
    pub ha: Arc<dyn dbaas_drivers::ha::HaGroupDriver>,
}

/// Settings the workflows need.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How base backups are cut and compressed.
    pub backup: dbaas_backup::BackupSettings,
    pub data_dir: PathBuf,
    /// Default version per engine.
    pub default_versions: BTreeMap<String, String>,
    pub sql_limits: JobLimits,
    pub supervise_interval: Duration,
    /// At most this long may written WAL wait before its file is closed
    /// for archiving (`backup.archive_timeout_seconds`), when archiving.
    pub archive_timeout: Option<Duration>,
    /// The host pool (no pairs: databases are not placed).
    pub host_pool: dbaas_placement::HostPool,
    /// The pairs as configured (server ids, subnet), by id.
    pub host_pairs: BTreeMap<String, dbaas_config::HostPairConfig>,
    /// Whether a cluster manager keeps databases on their pairs
    /// (`drivers.ha`), and how groups are described to it.
    pub ha: Option<dbaas_config::PacemakerConfig>,
}

/// The context every saga step receives.
#[derive(Clone)]
pub struct Services {
    /// The durable state: the embedded redb file, or Consul KV when the
    /// agent is one of several (`consul { }`).
    pub store: Arc<dyn StateStore>,
    pub drivers: Drivers,
    /// Where base backups go (and come from).
    pub backups: Arc<dyn dbaas_objstore::ObjectStore>,
    /// Other clouds' backup stores, by name, for disaster recovery.
    pub foreign_stores: BTreeMap<String, Arc<dyn dbaas_objstore::ObjectStore>>,
    pub settings: Settings,
    /// Held while a database is placed, so that two creates never both
    /// take a pair's last room.
    pub placement_lock: Arc<tokio::sync::Mutex<()>>,
}

#[async_trait::async_trait]
impl SagaLog for Services {
    async fn save(&self, record: &OperationRecord) -> Result<(), String> {
        self.store
            .put_operation(record)
            .await
            .map_err(|e| e.to_string())
    }
}

pub(crate) fn build(
    cfg: &dbaas_config::AgentConfig,
    store: Arc<dyn StateStore>,
) -> Result<Services, String> {
    let pool = cfg.pool()?;
    let pg = cfg
        .engine
        .get("postgresql")
        .ok_or("the configuration names no postgresql engine")?;
    let run_as = cfg.local.run_as.clone().or_else(|| {
        // PostgreSQL refuses root; Debian's packages create this user.
        nix::unistd::geteuid()
            .is_root()
            .then(|| "postgres".to_string())
    });
    let runtime: Arc<dyn EngineRuntime> = match cfg.drivers.runtime.as_str() {
        "nomad" => nomad_runtime(cfg, &store)?,
        _ => Arc::new(dbaas_local::LocalRuntime::new(
            dbaas_local::LocalRuntimeConfig {
                data_dir: cfg.data_dir.clone(),
                versions: pg
                    .version
                    .iter()
                    .map(|(v, c)| (v.clone(), c.bin_dir.clone()))
                    .collect(),
                run_as,
                archive_timeout_seconds: cfg
                    .backup
                    .wal_archiving
                    .then_some(cfg.backup.archive_timeout_seconds),
            },
        )?),
    };
    // One Keystone session for every OpenStack driver.
    let cloud = match &cfg.openstack {
        Some(os) if cfg.drivers.volumes == "cinder" || cfg.drivers.addresses == "neutron" => {
            let c = load_cloud(os.cloud.as_deref(), os.clouds_file.as_deref())?;
            Some(Arc::new(
                dbaas_openstack::Session::new(c).map_err(|e| format!("openstack: {e}"))?,
            ))
        }
        _ => None,
    };
    let addresses: Arc<dyn AddressDriver> = match (cfg.drivers.addresses.as_str(), &cloud) {
        ("neutron", Some(session)) => {
            let settings = cfg
                .openstack
                .as_ref()
                .and_then(|o| o.addresses.clone())
                .ok_or("drivers.addresses = \"neutron\" needs openstack { addresses { ... } }")?;
            Arc::new(
                dbaas_openstack::NeutronFloatingIps::new(session.clone(), settings)
                    .map_err(|e| e.to_string())?,
            )
        }
        _ => Arc::new(dbaas_local::LocalAddresses::new(
            store.clone(),
            pool,
            cfg.local.port,
        )?),
    };
    let ha: Arc<dyn dbaas_drivers::ha::HaGroupDriver> =
        match (cfg.drivers.ha.as_str(), &cfg.pacemaker) {
            ("pacemaker", Some(pm)) => crate::ha::pacemaker_driver(pm, &cfg.host_pool()?)?,
            _ => Arc::new(dbaas_drivers::ha::NoHa),
        };
    let volumes: Arc<dyn VolumeDriver> = match (cfg.drivers.volumes.as_str(), &cloud) {
        ("cinder", Some(session)) => Arc::new(dbaas_openstack::CinderVolumes::new(
            session.clone(),
            cfg.openstack
                .as_ref()
                .and_then(|o| o.volumes.clone())
                .unwrap_or_default(),
        )),
        _ => Arc::new(dbaas_local::LocalVolumes::new(cfg.data_dir.join("volumes"))),
    };
    let backup_dir = cfg
        .backup
        .local_dir
        .clone()
        .unwrap_or_else(|| cfg.data_dir.join("backups"));
    let backups = open_store(
        &cfg.backup.store,
        Some(backup_dir),
        cfg.backup.swift.as_ref(),
        cfg.backup.s3.as_ref(),
        cfg.backup.parallelism,
    )?;
    let mut foreign_stores = BTreeMap::new();
    for (name, st) in &cfg.store {
        let store = open_store(
            &st.kind,
            st.local_dir.clone(),
            st.swift.as_ref(),
            st.s3.as_ref(),
            cfg.backup.parallelism,
        )
        .map_err(|e| format!("store {name:?}: {e}"))?;
        foreign_stores.insert(name.clone(), store);
    }
    Ok(Services {
        store,
        backups,
        foreign_stores,
        drivers: Drivers {
            volumes,
            addresses,
            ha,
            runtime,
        },
        settings: Settings {
            backup: dbaas_backup::BackupSettings {
                segment_size: cfg.backup.segment_size(),
                compression_level: cfg.backup.compression_level,
                parallelism: cfg.backup.parallelism,
            },
            data_dir: cfg.data_dir.clone(),
            default_versions: cfg
                .engine
                .iter()
                .map(|(e, c)| (e.clone(), c.default_version.clone()))
                .collect(),
            sql_limits: JobLimits {
                max_output_bytes: cfg.sql.max_output_bytes,
                statement_timeout: Duration::from_secs(cfg.sql.statement_timeout_seconds),
            },
            supervise_interval: Duration::from_secs(cfg.supervise_interval_seconds.max(1)),
            archive_timeout: cfg
                .backup
                .wal_archiving
                .then(|| Duration::from_secs(cfg.backup.archive_timeout_seconds.max(1))),
            host_pool: cfg.host_pool()?,
            host_pairs: cfg.host_pair.clone(),
            ha: (cfg.drivers.ha == "pacemaker").then(|| cfg.pacemaker.clone().unwrap_or_default()),
        },
        placement_lock: Arc::default(),
    })
}

/// How the agent reaches Nomad: the `NOMAD_*` variables (read through
/// `lookup`) as the `nomad` command reads them, each overridden by its
/// setting in the `nomad` block.
pub(crate) fn nomad_client_config(
    block: &dbaas_config::NomadConfig,
    lookup: impl Fn(&str) -> Option<String>,
) -> dbaas_nomad::NomadConfig {
    let mut c = dbaas_nomad::NomadConfig::from_lookup(lookup);
    if let Some(a) = &block.address {
        c.address = a.clone();
    }
    if let Some(t) = &block.token {
        c.token = Some(t.clone());
    }
    if let Some(n) = &block.namespace {
        c.namespace = Some(n.clone());
    }
    if let Some(r) = &block.region {
        c.region = Some(r.clone());
    }
    if let Some(ca) = &block.ca_cert {
        c.ca_cert = Some(ca.clone());
    }
    c
}

/// The Nomad engine runtime of `drivers.runtime = "nomad"`.
fn nomad_runtime(
    cfg: &dbaas_config::AgentConfig,
    store: &Arc<dyn StateStore>,
) -> Result<Arc<dyn EngineRuntime>, String> {
    let block = cfg
        .nomad
        .as_ref()
        .ok_or("drivers.runtime = \"nomad\" needs a nomad block")?;
    let connection = nomad_client_config(block, |k| std::env::var(k).ok());
    let from = if block.address.is_some() {
        "nomad.address"
    } else {
        "NOMAD_ADDR"
    };
    let address = connection.address.clone();
    let client = dbaas_nomad::NomadClient::new(connection)
        .map_err(|e| format!("the Nomad connection ({from} = {address:?}): {e}"))?;
    let placement = Arc::new(RecordedPair {
        store: store.clone(),
        pairs: cfg.host_pair.keys().cloned().collect(),
    });
    let runtime =
        dbaas_nomad_runtime::NomadRuntime::new(client, crate::render::nomad_config(cfg), placement)
            .map_err(|e| format!("the nomad runtime: {e}"))?;
    Ok(Arc::new(runtime))
}

/// The host pair the placement recorded for a database, for the Nomad
/// runtime: its engine job is constrained to the Nomad clients whose node
/// meta `dbaas_pair` is that pair's id — the nodes a `host_pair` block
/// lists as `nomad_nodes` (or a host-pair stack's outputs).
///
/// The runtime asks with the engine spec only, whose instance name is
/// `dbaas-NAME-ID8`: the record is read from the store by name and must
/// have that id. The record's `host_pair` is the placement itself (see
/// `placement.rs`; it is written by the create's `place_database` step,
/// before any engine step), so every call, a re-run after a crash or
/// another agent reads the same pair, and nothing is cached to drift.
struct RecordedPair {
    store: Arc<dyn StateStore>,
    /// The pairs of the configuration.
    pairs: std::collections::BTreeSet<String>,
}

#[async_trait::async_trait]
impl dbaas_nomad_runtime::PairPlacement for RecordedPair {
    async fn pair(&self, spec: &EngineSpec) -> dbaas_drivers::Result<String> {
        let err = dbaas_drivers::DriverError::new;
        let name = spec
            .instance
            .strip_prefix("dbaas-")
            .and_then(|rest| rest.get(..rest.len().checked_sub(9)?))
            .ok_or_else(|| {
                err(format!(
                    "{:?} is not a database instance name (dbaas-NAME-ID8)",
                    spec.instance
                ))
            })?;
        let db = self
            .store
            .get_database(name)
            .await
            .map_err(|e| err(format!("reading the placement of {name}: {e}")))?
            .filter(|db| Services::instance_name(db) == spec.instance)
            .ok_or_else(|| {
                err(format!(
                    "no database record has the instance {}: its engine has no pair to run on",
                    spec.instance
                ))
            })?;
        let pair = db.host_pair.ok_or_else(|| {
            err(format!(
                "database {name} is placed on no host pair; the nomad runtime runs engines on host pairs (host_pair blocks)"
            ))
        })?;
        if !self.pairs.contains(&pair) {
            return Err(err(format!(
                "database {name} is placed on host pair {pair:?}, which is not in this agent's configuration; add its host_pair block (or stack) back"
            )));
        }
        Ok(pair)
    }
}

/// Opens a backup store of the configured kind.
fn open_store(
    kind: &str,
    local_dir: Option<PathBuf>,
    swift: Option<&dbaas_config::SwiftStoreConfig>,
    s3: Option<&dbaas_config::S3StoreConfig>,
    parallelism: usize,
) -> Result<Arc<dyn dbaas_objstore::ObjectStore>, String> {
    use dbaas_objstore::{
        KeystoneAuth, S3Config, S3Store, Secret, SwiftAuth, SwiftConfig, SwiftStore,
    };
    if let ("s3", Some(c)) = (kind, s3) {
        let mut cfg = S3Config::new(
            c.endpoint.clone(),
            c.bucket.clone(),
            c.access_key.clone(),
            Secret::new(c.secret_key.clone()),
        );
        cfg.region = c.region.clone();
        cfg.path_style = c.path_style;
        cfg.create_bucket = c.create_bucket;
        return Ok(Arc::new(S3Store::new(cfg).map_err(|e| e.to_string())?));
    }
    match (kind, swift) {
        ("swift", Some(sw)) => {
            let auth = if let (true, Some(cloud)) = (sw.auth == "keystone", &sw.cloud) {
                SwiftAuth::KeystoneRequest(keystone_from_cloud(sw, cloud)?)
            } else if sw.auth == "keystone" {
                SwiftAuth::Keystone(KeystoneAuth {
                    auth_url: sw.auth_url.clone(),
                    username: sw.username.clone().unwrap_or_default(),
                    password: Secret::new(sw.password.clone().unwrap_or_default()),
                    project_name: sw.project_name.clone().unwrap_or_default(),
                    user_domain_name: sw
                        .user_domain_name
                        .clone()
                        .unwrap_or_else(|| "Default".into()),
                    project_domain_name: sw
                        .project_domain_name
                        .clone()
                        .unwrap_or_else(|| "Default".into()),
                    region_name: sw.region_name.clone(),
                    interface: "public".into(),
                })
            } else {
                SwiftAuth::TempAuth {
                    auth_url: sw.auth_url.clone(),
                    user: sw.user.clone().unwrap_or_default(),
                    key: Secret::new(sw.key.clone().unwrap_or_default()),
                }
            };
            let mut c = SwiftConfig::new(auth, sw.container.clone());
            c.segment_size = sw.segment_size_mb * 1024 * 1024;
            c.parallelism = parallelism;
            Ok(Arc::new(SwiftStore::new(c).map_err(|e| e.to_string())?))
        }
        (_, _) => {
            let dir = local_dir.ok_or("a local store needs a directory")?;
            Ok(Arc::new(
                dbaas_objstore::LocalStore::new(dir).map_err(|e| e.to_string())?,
            ))
        }
    }
}

/// Adds to `cfg.host_pair` the pairs of `cfg.host_pair_stacks`, read from
/// the outputs of those Heat stacks (complete ones only), so that the
/// pool follows what Heat built.
pub async fn resolve_host_pair_stacks(cfg: &mut dbaas_config::AgentConfig) -> Result<(), String> {
    if cfg.host_pair_stacks.is_empty() {
        return Ok(());
    }
    let os = cfg
        .openstack
        .as_ref()
        .ok_or("host_pair_stacks needs an openstack block")?;
    let cloud = load_cloud(os.cloud.as_deref(), os.clouds_file.as_deref())?;
    let session =
        Arc::new(dbaas_openstack::Session::new(cloud).map_err(|e| format!("openstack: {e}"))?);
    let heat = dbaas_openstack::Orchestration::new(session);
    for name in cfg.host_pair_stacks.clone() {
        let stack = heat
            .find_stack(&name)
            .await
            .map_err(|e| format!("host pair stack {name:?}: {e}"))?
            .ok_or_else(|| format!("host pair stack {name:?}: Heat has no such stack"))?;
        if !matches!(
            stack.stack_status.as_str(),
            "CREATE_COMPLETE" | "UPDATE_COMPLETE"
        ) {
            return Err(format!(
                "host pair stack {name:?} is {} ({}); only complete stacks join the pool",
                stack.stack_status,
                stack.stack_status_reason.clone().unwrap_or_default()
            ));
        }
        let outputs = dbaas_openstack::Orchestration::outputs(&stack)
            .map_err(|e| format!("host pair stack {name:?}: {e}"))?;
        let p = dbaas_placement::HostPair::from_heat_outputs(&outputs)
            .map_err(|e| format!("host pair stack {name:?}: {e}"))?;
        fn get<T: serde::de::DeserializeOwned>(
            outputs: &BTreeMap<String, serde_json::Value>,
            k: &str,
        ) -> Option<T> {
            serde_json::from_value(outputs.get(k)?.clone()).ok()
        }
        if cfg.host_pair.contains_key(&p.id) {
            return Err(format!(
                "host pair {:?} is both a host_pair block and the output of stack {name:?}",
                p.id
            ));
        }
        cfg.host_pair.insert(
            p.id.clone(),
            dbaas_config::HostPairConfig {
                zone: p.zone,
                nomad_nodes: p.nomad_nodes,
                pacemaker_nodes: Some(p.pacemaker_nodes),
                vip_port_id: p.vip_port_id,
                server_ids: get(&outputs, "server_ids"),
                subnet_id: get(&outputs, "subnet_id"),
                capacity: p.capacity,
            },
        );
    }
    cfg.check()
}

/// A cloud's configuration, read the way the `openstack` command reads
/// it: the cloud `cloud` of `clouds.yaml` (with its `secure.yaml`; from
/// `clouds_file` when given, else searched for), or without a name
/// `OS_CLOUD` / the `OS_*` variables.
fn load_cloud(
    cloud: Option<&str>,
    clouds_file: Option<&std::path::Path>,
) -> Result<dbaas_openstack::CloudConfig, String> {
    use dbaas_openstack::{CloudConfig, ConfigSources};
    let what = cloud.map_or("the cloud of OS_CLOUD / OS_*".to_string(), |c| {
        format!("cloud {c:?}")
    });
    match (clouds_file, cloud) {
        (Some(path), Some(cloud)) => {
            let secure = path.with_file_name("secure.yaml");
            CloudConfig::from_clouds_yaml(path, Some(&secure), cloud)
        }
        (Some(_), None) => {
            return Err("openstack: clouds_file needs cloud, the name of a cloud in it".into())
        }
        (None, _) => {
            let process = ConfigSources::from_process();
            let var = |k: &str| match (k, cloud) {
                ("OS_CLOUD", Some(c)) => Some(c.to_string()),
                _ => std::env::var(k).ok(),
            };
            CloudConfig::load(&ConfigSources {
                var: &var,
                cwd: process.cwd,
                system_dir: process.system_dir,
            })
        }
    }
    .map_err(|e| format!("{what}: {e}"))
}

/// The Keystone token request of a `clouds.yaml` cloud (with its
/// `secure.yaml`), read the way the `openstack` command reads it.
fn keystone_from_cloud(
    sw: &dbaas_config::SwiftStoreConfig,
    cloud: &str,
) -> Result<dbaas_objstore::KeystoneRequest, String> {
    let c =
        load_cloud(Some(cloud), sw.clouds_file.as_deref()).map_err(|e| format!("swift: {e}"))?;
    let body = serde_json::to_value(c.auth_request())
        .map_err(|e| format!("swift: cloud {cloud:?}: {e}"))?;
    Ok(dbaas_objstore::KeystoneRequest {
        auth_url: c.identity_v3_url(),
        body,
        region_name: sw.region_name.clone().or(c.region_name),
        interface: c.interface,
    })
}

impl Services {
    /// The backup store named `name` (a foreign one), or this agent's own.
    pub fn backup_store(
        &self,
        name: Option<&str>,
    ) -> Result<Arc<dyn dbaas_objstore::ObjectStore>, String> {
        match name {
            None => Ok(self.backups.clone()),
            Some(n) => self.foreign_stores.get(n).cloned().ok_or_else(|| {
                let known: Vec<&str> = self.foreign_stores.keys().map(String::as_str).collect();
                format!(
                    "no backup store named {n:?} in this agent's configuration; configured: {}",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                )
            }),
        }
    }
}

pub(crate) fn driver_err(e: dbaas_drivers::DriverError) -> StepError {
    StepError::new(e.0)
}

impl Services {
    /// The deterministic name of everything provisioned for a database:
    /// its name plus the start of its id, so a later database of the same
    /// name never collides with leftovers of an earlier one.
    pub fn instance_name(db: &DatabaseRecord) -> String {
        format!("dbaas-{}-{}", db.name, &db.id[..8])
    }

    /// The engine spec of a database, or None when its volume or address
    /// does not exist (nothing of the engine can exist then either).
    pub async fn spec(&self, db: &DatabaseRecord) -> Result<Option<EngineSpec>, StepError> {
        let instance = Self::instance_name(db);
        let volume = self
            .drivers
            .volumes
            .find(&instance)
            .await
            .map_err(driver_err)?;
        let endpoint = self
            .drivers
            .addresses
            .find(&instance)
            .await
            .map_err(driver_err)?;
        Ok(match (volume, endpoint) {
            (Some(volume), Some(endpoint)) => Some(EngineSpec {
                instance,
                engine: db.engine.clone(),
                version: db.version.clone(),
                volume,
                endpoint,
            }),
            _ => None,
        })
    }

    /// Checks a database's engine; restarts it when it died.
    /// `spec` is the database's engine spec, None when its volume or
    /// address is gone.
    pub async fn observe_engine(
        &self,
        name: &str,
        spec: Option<&EngineSpec>,
    ) -> Result<OperatingStatus, StepError> {
        let Some(spec) = spec else {
            return Ok(OperatingStatus::Offline);
        };
        let rt = &self.drivers.runtime;
        match rt.status(spec).await.map_err(driver_err)? {
            EngineStatus::Absent => return Ok(OperatingStatus::Offline),
            EngineStatus::Stopped => {
                tracing::warn!(db = name, "engine is not running; restarting it");
                rt.ensure_running(spec).await.map_err(driver_err)?;
                tracing::info!(db = name, "engine restarted");
            }
            EngineStatus::Running => {}
        }
        let access = rt.admin_access(spec).await.map_err(driver_err)?;
        Ok(if dbaas_postgres::ping(&access).await {
            OperatingStatus::Online
        } else {
            OperatingStatus::Offline
        })
    }

    pub fn connection_file(&self, name: &str) -> PathBuf {
        crate::connections_dir(&self.settings.data_dir).join(format!("{name}.yml"))
    }

    /// Writes the connection YAML a git-ops repository would keep: written
    /// to a temporary file and renamed, readable by the agent's user only
    /// (it holds a password).
    pub fn write_connection_file(&self, db: &DatabaseRecord) -> Result<(), StepError> {
        let Some(conn) = db.connection() else {
            return Err(StepError::new(format!(
                "database {} has no address yet",
                db.name
            )));
        };
        let dir = crate::connections_dir(&self.settings.data_dir);
        std::fs::create_dir_all(&dir)
            .map_err(|e| StepError::new(format!("creating {}: {e}", dir.display())))?;
        let yaml = serde_norway::to_string(&conn).map_err(|e| StepError::new(e.to_string()))?;
        let text = format!(
            "# Connection to the dbaas database {:?}, written by dbaas.\n{yaml}",
            db.name
        );
        let path = self.connection_file(&db.name);
        let tmp = path.with_extension("yml.tmp");
        std::fs::write(&tmp, text)
            .map_err(|e| StepError::new(format!("writing {}: {e}", tmp.display())))?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| StepError::new(e.to_string()))?;
        std::fs::rename(&tmp, &path)
            .map_err(|e| StepError::new(format!("writing {}: {e}", path.display())))?;
        Ok(())
    }

    pub fn remove_connection_file(&self, name: &str) -> Result<(), StepError> {
        match std::fs::remove_file(self.connection_file(name)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StepError::new(format!("removing the connection file: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dbaas_nomad_runtime::PairPlacement;

    #[test]
    fn the_nomad_connection_is_the_environment_with_the_block_over_it() {
        let env = std::collections::HashMap::from([
            ("NOMAD_ADDR", "https://env:4646"),
            ("NOMAD_TOKEN", "env-token"),
            ("NOMAD_NAMESPACE", "env-ns"),
            ("NOMAD_REGION", "env-region"),
            ("NOMAD_CACERT", "/env/ca.pem"),
        ]);
        let lookup = |k: &str| env.get(k).map(|v| v.to_string());
        let c = nomad_client_config(&dbaas_config::NomadConfig::default(), lookup);
        assert_eq!(c.address, "https://env:4646");
        assert_eq!(c.token.as_deref(), Some("env-token"));
        assert_eq!(c.namespace.as_deref(), Some("env-ns"));
        assert_eq!(c.region.as_deref(), Some("env-region"));
        assert_eq!(c.ca_cert, Some(PathBuf::from("/env/ca.pem")));

        let block = dbaas_config::NomadConfig {
            address: Some("https://block:4646".into()),
            token: Some("block-token".into()),
            namespace: Some("dbaas".into()),
            region: None,
            ca_cert: Some("/block/ca.pem".into()),
            ..Default::default()
        };
        let c = nomad_client_config(&block, lookup);
        assert_eq!(c.address, "https://block:4646");
        assert_eq!(c.token.as_deref(), Some("block-token"));
        assert_eq!(c.namespace.as_deref(), Some("dbaas"));
        assert_eq!(c.region.as_deref(), Some("env-region"));
        assert_eq!(c.ca_cert, Some(PathBuf::from("/block/ca.pem")));

        let c = nomad_client_config(&dbaas_config::NomadConfig::default(), |_| None);
        assert_eq!(c.address, dbaas_nomad::DEFAULT_ADDRESS);
    }

    fn record(name: &str, id: &str, pair: Option<&str>) -> DatabaseRecord {
        let now = chrono::Utc::now();
        serde_json::from_value(serde_json::json!({
            "name": name,
            "id": id,
            "engine": "postgresql",
            "version": "15",
            "size_gb": 1,
            "state": "BUILD",
            "endpoint": null,
            "owner_password": "secret",
            "created_at": now,
            "updated_at": now,
            "error": null,
            "created_by": "op-1",
            "host_pair": pair,
        }))
        .unwrap()
    }

    fn spec(instance: &str) -> EngineSpec {
        serde_json::from_value(serde_json::json!({
            "instance": instance,
            "engine": "postgresql",
            "version": "15",
            "volume": { "name": instance, "id": "v", "size_gb": 1, "mount_path": "/srv/x" },
            "endpoint": { "host": "10.0.0.1", "port": 5432 },
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn an_engine_runs_on_the_pair_recorded_for_its_database() {
        let dir = tempfile::tempdir().unwrap();
        let store = dbaas_store::Store::open(&dir.path().join("s.redb")).unwrap();
        let placement = RecordedPair {
            store: Arc::new(store.clone()),
            pairs: ["pair-1".to_string(), "pair-2".to_string()].into(),
        };
        let id = "0a1b2c3d-0000-4000-8000-000000000001";
        store
            .put_database(&record("my-orders", id, Some("pair-2")))
            .unwrap();
        assert_eq!(
            placement
                .pair(&spec("dbaas-my-orders-0a1b2c3d"))
                .await
                .unwrap(),
            "pair-2"
        );
        // Another database of the same name (a later id) is not this one.
        let e = placement
            .pair(&spec("dbaas-my-orders-99999999"))
            .await
            .unwrap_err();
        assert!(e.0.contains("no database record"), "{e}");
        let e = placement.pair(&spec("orders")).await.unwrap_err();
        assert!(e.0.contains("not a database instance name"), "{e}");

        store.put_database(&record("unplaced", id, None)).unwrap();
        let e = placement
            .pair(&spec("dbaas-unplaced-0a1b2c3d"))
            .await
            .unwrap_err();
        assert!(e.0.contains("placed on no host pair"), "{e}");

        store
            .put_database(&record("gone", id, Some("pair-9")))
            .unwrap();
        let e = placement
            .pair(&spec("dbaas-gone-0a1b2c3d"))
            .await
            .unwrap_err();
        assert!(
            e.0.contains("\"pair-9\"") && e.0.contains("host_pair"),
            "{e}"
        );
    }
}
