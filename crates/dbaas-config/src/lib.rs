//! The agent's configuration, read from HCL like Nomad's and Consul's own
//! (`dbaas agent --config FILE.hcl`), or preset by `dbaas agent --dev`.
//!
//! ```hcl
//! data_dir = "/var/lib/dbaas"
//! listen   = "127.0.0.1:4680"
//!
//! drivers {
//!   volumes   = "local"   # where data volumes come from ("local", "cinder")
//!   addresses = "local"   # where client addresses come from ("local", "neutron")
//!   runtime   = "local"   # what runs the engines ("local", "nomad")
//!   ha        = "none"    # what keeps them on their pair ("none", "pacemaker")
//! }
//!
//! local {
//!   address_pool = "127.77.0.0/24"
//!   port         = 5432
//!   run_as       = "postgres"
//! }
//!
//! engine "postgresql" {
//!   default_version = "15"
//!   version "15" {
//!     bin_dir = "/usr/lib/postgresql/15/bin"
//!   }
//! }
//!
//! sql {
//!   max_output_bytes          = 1048576
//!   statement_timeout_seconds = 300
//! }
//! ```
//!
//! With `runtime = "nomad"` each engine is a Nomad service job on the host
//! pair its database is placed on, so the agent needs the pairs
//! (`host_pair` blocks or `host_pair_stacks`) and a `nomad` block; Nomad
//! itself is found the way the `nomad` command finds it, from `NOMAD_ADDR`,
//! `NOMAD_TOKEN`, `NOMAD_NAMESPACE`, `NOMAD_REGION`, `NOMAD_CACERT`
//! (`NOMAD_CLIENT_CERT`/`NOMAD_CLIENT_KEY` for mutual TLS), each of which
//! the block may override:
//!
//! ```hcl
//! drivers {
//!   runtime = "nomad"
//! }
//!
//! nomad {
//!   address = "https://nomad.internal:4646"   # default: NOMAD_ADDR, else http://127.0.0.1:4646
//!   images  = { "15" = "postgres:15" }        # every engine version offered needs one
//! }
//!
//! host_pair "pair-1" {
//!   zone        = "az1"
//!   nomad_nodes = ["db-1a", "db-1b"]   # Nomad clients with meta { dbaas_pair = "pair-1" }
//!   vip_port_id = "9f1c2d4e-..."
//!   capacity {
//!     databases = 20
//!   }
//! }
//! ```
//!
//! With a `consul` block the agent keeps the control plane's state in
//! Consul's KV store instead of its redb file, and several agents of one
//! cluster elect one leader, which alone runs operations; the others
//! answer reads and refuse changes, naming the leader. Consul is found the
//! way the `consul` command finds it (`CONSUL_HTTP_ADDR`,
//! `CONSUL_HTTP_TOKEN`, `CONSUL_CACERT`, ...); the block's settings win:
//!
//! ```hcl
//! consul {
//!   address = "https://consul.internal:8501"   # default: CONSUL_HTTP_ADDR, else http://127.0.0.1:8500
//!   prefix  = "dbaas"                          # keys under PREFIX/CLUSTER/
//!   cluster = "prod-1"
//!   advertise = "http://10.0.0.5:4680"         # default: http:// and the address the API listens on
//! }
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The whole agent configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// Where the state store, volumes, sockets and connection files live.
    pub data_dir: PathBuf,
    /// Address the REST API listens on.
    #[serde(default = "default_listen")]
    pub listen: String,
    #[serde(default)]
    pub drivers: DriversConfig,
    #[serde(default)]
    pub local: LocalConfig,
    /// The OpenStack cloud of the `cinder` and `neutron` drivers.
    #[serde(default)]
    pub openstack: Option<OpenStackConfig>,
    /// Engines as Nomad jobs.
    #[serde(default)]
    pub nomad: Option<NomadConfig>,
    /// The state in Consul, with leader election among the agents.
    #[serde(default)]
    pub consul: Option<ConsulConfig>,
    /// Databases as Pacemaker resource groups.
    #[serde(default)]
    pub pacemaker: Option<PacemakerConfig>,
    /// Engines by name; `postgresql` is the only one so far.
    #[serde(default = "default_engines")]
    pub engine: BTreeMap<String, EngineConfig>,
    #[serde(default)]
    pub sql: SqlConfig,
    #[serde(default)]
    pub backup: BackupConfig,
    /// Other clouds' backup stores, by name, read for disaster recovery
    /// (`dbaas db restore NEW --from NAME --store NAME`).
    #[serde(default)]
    pub store: BTreeMap<String, StoreConfig>,
    /// The host pool: pairs of hosts databases are placed on, by id. Each
    /// new database goes to a pair with room, spreading across zones.
    /// Without any, databases are not placed (the local mode).
    #[serde(default)]
    pub host_pair: BTreeMap<String, HostPairConfig>,
    /// Host pairs read at start from the outputs of these Heat stacks
    /// (made from `heat/host-pair.yaml`), in the `openstack {}` cloud.
    #[serde(default)]
    pub host_pair_stacks: Vec<String>,
    /// Seconds between two checks of every engine by the supervisor.
    #[serde(default = "default_supervise")]
    pub supervise_interval_seconds: u64,
    /// Failpoints to switch on, `NAME=ACTION,...` (see dbaas-saga); also
    /// read from `DBAAS_FAILPOINTS`. For tests of crash safety.
    #[serde(default)]
    pub failpoints: Option<String>,
}

/// Which driver serves each concern.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DriversConfig {
    #[serde(default = "local")]
    pub volumes: String,
    #[serde(default = "local")]
    pub addresses: String,
    #[serde(default = "local")]
    pub runtime: String,
    /// What keeps each database running on its host pair: `none`, or
    /// `pacemaker` (a resource group per database; see `pacemaker {}`).
    #[serde(default = "no_ha")]
    pub ha: String,
}

fn no_ha() -> String {
    "none".into()
}

impl Default for DriversConfig {
    fn default() -> Self {
        DriversConfig {
            volumes: local(),
            addresses: local(),
            runtime: local(),
            ha: no_ha(),
        }
    }
}

/// A pair of hosts (in production a 2-node Pacemaker cluster whose nodes
/// are also Nomad clients) and what it can hold; the same fields as a
/// host-pair Heat stack's outputs (see `heat/host-pair.yaml`).
///
/// ```hcl
/// host_pair "pair-1" {
///   zone            = "az1"
///   nomad_nodes     = ["db-1a", "db-1b"]
///   pacemaker_nodes = ["db-1a", "db-1b"]   # default: the Nomad node names
///   vip_port_id     = "9f1c2d4e-..."
///   capacity {
///     databases  = 20
///     vcpus      = 32
///     memory_mib = 131072
///     volumes    = 40
///   }
/// }
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostPairConfig {
    /// The availability zone of both hosts.
    pub zone: String,
    /// The two hosts' Nomad node names.
    pub nomad_nodes: [String; 2],
    /// The two hosts' Pacemaker node names (host names).
    #[serde(default)]
    pub pacemaker_nodes: Option<[String; 2]>,
    /// The Neutron port holding the pair's VIP.
    pub vip_port_id: String,
    /// The two hosts' Nova server ids, which fencing powers off.
    #[serde(default)]
    pub server_ids: Option<[String; 2]>,
    /// The subnet of the hosts' ports (where the floating IP agent looks).
    #[serde(default)]
    pub subnet_id: Option<String>,
    /// What the pair can hold.
    pub capacity: dbaas_placement::Resources,
}

/// Where Nomad is and how engines are described to it (the `nomad`
/// runtime, and what `dbaas render` prints).
///
/// The connection follows the `nomad` command's environment: `NOMAD_ADDR`,
/// `NOMAD_TOKEN`, `NOMAD_NAMESPACE`, `NOMAD_REGION`, `NOMAD_CACERT` (and
/// `NOMAD_CLIENT_CERT`/`NOMAD_CLIENT_KEY`); a setting given here wins over
/// its variable.
///
/// ```hcl
/// nomad {
///   address     = "https://nomad.internal:4646"
///   namespace   = "dbaas"
///   ca_cert     = "/etc/dbaas/nomad-ca.pem"
///   images      = { "15" = "postgres:15", "16" = "postgres:16" }
///   fetch_image = "curlimages/curl:8.11.1"
///   object_store_url = "https://swift.example.org/v1/AUTH_dbaas/dbaas-sql"
/// }
/// ```
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NomadConfig {
    /// Nomad's HTTP address (instead of `NOMAD_ADDR`).
    #[serde(default)]
    pub address: Option<String>,
    /// ACL token (instead of `NOMAD_TOKEN`); better kept in the
    /// environment than in this file.
    #[serde(default)]
    pub token: Option<String>,
    /// Namespace of the jobs (instead of `NOMAD_NAMESPACE`).
    #[serde(default)]
    pub namespace: Option<String>,
    /// Region (instead of `NOMAD_REGION`).
    #[serde(default)]
    pub region: Option<String>,
    /// PEM file of the CA that signed the Nomad servers' certificates
    /// (instead of `NOMAD_CACERT`).
    #[serde(default)]
    pub ca_cert: Option<PathBuf>,
    /// Engine version → container image; default the official images of
    /// PostgreSQL 15, 16 and 17.
    #[serde(default)]
    pub images: BTreeMap<String, String>,
    /// The engine's superuser (default `postgres`).
    #[serde(default)]
    pub superuser: Option<String>,
    /// The image providing psql for SQL and configuration jobs (default:
    /// the engine's own).
    #[serde(default)]
    pub client_image: Option<String>,
    /// The image providing curl, which fetches a SQL job's text.
    #[serde(default)]
    pub fetch_image: Option<String>,
    /// Base URL of the object-store container holding SQL jobs' text.
    #[serde(default)]
    pub object_store_url: Option<String>,
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
            .field("images", &self.images)
            .field("superuser", &self.superuser)
            .field("client_image", &self.client_image)
            .field("fetch_image", &self.fetch_image)
            .field("object_store_url", &self.object_store_url)
            .finish()
    }
}

/// Where the control plane's state lives when several agents share it:
/// Consul's KV store under `<prefix>/<cluster>/`, written only by the
/// elected leader (the `consul` block; without it, the agent's own redb
/// file, and the agent always leads).
///
/// The connection follows the `consul` command's environment:
/// `CONSUL_HTTP_ADDR`, `CONSUL_HTTP_TOKEN` (or `_FILE`), `CONSUL_CACERT`,
/// `CONSUL_NAMESPACE`, `CONSUL_DATACENTER` (and
/// `CONSUL_CLIENT_CERT`/`CONSUL_CLIENT_KEY`); a setting given here wins
/// over its variable.
///
/// ```hcl
/// consul {
///   address             = "https://consul.internal:8501"
///   ca_cert             = "/etc/dbaas/consul-ca.pem"
///   prefix              = "dbaas"
///   cluster             = "prod-1"
///   session_ttl_seconds = 15
///   lock_delay_seconds  = 15
/// }
/// ```
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsulConfig {
    /// Consul's HTTP address (instead of `CONSUL_HTTP_ADDR`).
    #[serde(default)]
    pub address: Option<String>,
    /// ACL token (instead of `CONSUL_HTTP_TOKEN`); better kept in the
    /// environment than in this file.
    #[serde(default)]
    pub token: Option<String>,
    /// PEM file of the CA that signed Consul's certificate (instead of
    /// `CONSUL_CACERT`).
    #[serde(default)]
    pub ca_cert: Option<PathBuf>,
    /// Namespace (Consul Enterprise; instead of `CONSUL_NAMESPACE`).
    #[serde(default)]
    pub namespace: Option<String>,
    /// Datacenter (instead of `CONSUL_DATACENTER`).
    #[serde(default)]
    pub datacenter: Option<String>,
    /// The first segments of every key (default `dbaas`).
    #[serde(default = "default_consul_prefix")]
    pub prefix: String,
    /// The cluster's name: the agents sharing one state (default
    /// `default`).
    #[serde(default = "default_consul_cluster")]
    pub cluster: String,
    /// This agent's id in the election (default: the host name and a
    /// random suffix, new at each start).
    #[serde(default)]
    pub agent_id: Option<String>,
    /// The URL followers name for the leader's API (default: `http://`
    /// and the address the API listens on).
    #[serde(default)]
    pub advertise: Option<String>,
    /// The leader's session TTL: a leader that stops renewing loses the
    /// lock once Consul expires it (Consul accepts 10 s to 24 h).
    #[serde(default = "default_consul_ttl")]
    pub session_ttl_seconds: u64,
    /// Consul's lock-delay: after a leader's session ends, nobody takes the
    /// lock for this long, so the old leader's in-flight work stops first.
    #[serde(default = "default_consul_ttl")]
    pub lock_delay_seconds: u64,
}

fn default_consul_prefix() -> String {
    "dbaas".into()
}

fn default_consul_cluster() -> String {
    "default".into()
}

fn default_consul_ttl() -> u64 {
    15
}

// Written by hand so the token never reaches a log line.
impl std::fmt::Debug for ConsulConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsulConfig")
            .field("address", &self.address)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("ca_cert", &self.ca_cert)
            .field("namespace", &self.namespace)
            .field("datacenter", &self.datacenter)
            .field("prefix", &self.prefix)
            .field("cluster", &self.cluster)
            .field("agent_id", &self.agent_id)
            .field("advertise", &self.advertise)
            .field("session_ttl_seconds", &self.session_ttl_seconds)
            .field("lock_delay_seconds", &self.lock_delay_seconds)
            .finish()
    }
}

impl ConsulConfig {
    /// Checks the block; errors name the key and say what to do.
    fn check(&self) -> Result<(), String> {
        let http = |key: &str, a: &str, example: &str, env: &str| {
            let rest = a
                .strip_prefix("http://")
                .or_else(|| a.strip_prefix("https://"));
            if rest.is_none_or(|r| r.is_empty() || r.contains(char::is_whitespace)) {
                Err(format!(
                    "consul.{key} = {a:?}: give an HTTP address with its scheme, e.g. \"{example}\"{env}"
                ))
            } else {
                Ok(())
            }
        };
        if let Some(a) = &self.address {
            http(
                "address",
                a,
                "https://consul.internal:8501",
                " (or leave it out to use CONSUL_HTTP_ADDR)",
            )?;
        }
        if let Some(a) = &self.advertise {
            http(
                "advertise",
                a,
                "http://10.0.0.5:4680",
                " (or leave it out to use the address the API listens on)",
            )?;
        }
        for (key, v, env) in [
            ("token", &self.token, "CONSUL_HTTP_TOKEN"),
            ("namespace", &self.namespace, "CONSUL_NAMESPACE"),
            ("datacenter", &self.datacenter, "CONSUL_DATACENTER"),
        ] {
            if let Some(v) = v {
                if v.trim().is_empty() || v.chars().any(char::is_control) {
                    return Err(format!(
                        "consul.{key} is empty or holds control characters: give a value, or leave the key out to use {env}"
                    ));
                }
            }
        }
        if self
            .ca_cert
            .as_ref()
            .is_some_and(|p| p.as_os_str().is_empty())
        {
            return Err(
                "consul.ca_cert is empty: give the path of a PEM file, or leave it out to use CONSUL_CACERT"
                    .into(),
            );
        }
        let word = |s: &str, slash: bool| {
            !s.is_empty()
                && !s.starts_with('/')
                && !s.ends_with('/')
                && !s.contains("//")
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c) || (slash && c == '/'))
        };
        if !word(&self.prefix, true) {
            return Err(format!(
                "consul.prefix = {:?}: use words of letters, digits, '.', '_', '-' separated by '/', e.g. \"dbaas\"",
                self.prefix
            ));
        }
        if !word(&self.cluster, false) {
            return Err(format!(
                "consul.cluster = {:?}: use one word of letters, digits, '.', '_', '-', e.g. \"prod-1\"",
                self.cluster
            ));
        }
        if let Some(id) = &self.agent_id {
            if !word(id, false) {
                return Err(format!(
                    "consul.agent_id = {id:?}: use one word of letters, digits, '.', '_', '-' (or leave it out)"
                ));
            }
        }
        if self.session_ttl_seconds == 0 || self.session_ttl_seconds > 86_400 {
            return Err(format!(
                "consul.session_ttl_seconds = {}: give 1 to 86400 seconds (a real Consul refuses sessions under 10 s)",
                self.session_ttl_seconds
            ));
        }
        if self.lock_delay_seconds > 60 {
            return Err(format!(
                "consul.lock_delay_seconds = {}: give at most 60 (Consul's limit)",
                self.lock_delay_seconds
            ));
        }
        Ok(())
    }
}

/// The engine versions the `nomad` runtime offers when `nomad.images`
/// names none: the official images' tags.
pub const DEFAULT_NOMAD_VERSIONS: [&str; 3] = ["15", "16", "17"];

impl NomadConfig {
    /// Checks what the `nomad` runtime needs of the block; errors name the
    /// key and say what to do.
    fn check(&self, engines: &BTreeMap<String, EngineConfig>) -> Result<(), String> {
        // What Nomad interpolates at run time, or would break a job.
        let plain = |key: &str, v: &str| {
            if v.trim().is_empty()
                || v.chars()
                    .any(|c| c.is_control() || matches!(c, '$' | '{' | '}' | '"' | '\\'))
            {
                Err(format!(
                    "nomad.{key} = {v:?}: give a non-empty value without control characters, '$', braces, quotes or backslashes (it goes into Nomad jobs)"
                ))
            } else {
                Ok(())
            }
        };
        if let Some(a) = &self.address {
            let rest = a
                .strip_prefix("http://")
                .or_else(|| a.strip_prefix("https://"));
            if rest.is_none_or(|r| r.is_empty() || r.contains(char::is_whitespace)) {
                return Err(format!(
                    "nomad.address = {a:?}: give Nomad's HTTP address with its scheme, e.g. \"https://nomad.internal:4646\" (or leave it out to use NOMAD_ADDR)"
                ));
            }
        }
        for (key, v) in [
            ("token", &self.token),
            ("namespace", &self.namespace),
            ("region", &self.region),
        ] {
            if let Some(v) = v {
                if v.trim().is_empty() || v.chars().any(char::is_control) {
                    return Err(format!(
                        "nomad.{key} is empty or holds control characters: give a value, or leave the key out to use NOMAD_{}",
                        key.to_uppercase()
                    ));
                }
            }
        }
        if self
            .ca_cert
            .as_ref()
            .is_some_and(|p| p.as_os_str().is_empty())
        {
            return Err(
                "nomad.ca_cert is empty: give the path of a PEM file, or leave it out to use NOMAD_CACERT"
                    .into(),
            );
        }
        for (version, image) in &self.images {
            plain(&format!("images[{version:?}]"), image)?;
        }
        if let Some(su) = &self.superuser {
            let ok = !su.is_empty()
                && su.len() <= 63
                && !su.starts_with(|c: char| c.is_ascii_digit())
                && su
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !ok {
                return Err(format!(
                    "nomad.superuser = {su:?}: use lower-case letters, digits and '_' (not first), at most 63"
                ));
            }
        }
        for (key, v) in [
            ("client_image", &self.client_image),
            ("fetch_image", &self.fetch_image),
            ("object_store_url", &self.object_store_url),
        ] {
            if let Some(v) = v {
                plain(key, v)?;
            }
        }
        // A database is created at its engine's default version: the
        // runtime must have an image for it.
        for (name, e) in engines {
            let offered = if self.images.is_empty() {
                DEFAULT_NOMAD_VERSIONS.contains(&e.default_version.as_str())
            } else {
                self.images.contains_key(&e.default_version)
            };
            if !offered {
                return Err(format!(
                    "engine {name:?}: default_version {:?} has no image in nomad.images; add {:?} = \"IMAGE\" to nomad.images",
                    e.default_version, e.default_version
                ));
            }
        }
        Ok(())
    }
}

/// How databases' resource groups are described to Pacemaker.
///
/// ```hcl
/// pacemaker {
///   cloud = "dbaas"   # the clouds.yaml cloud the hosts' agents and fencing use
/// }
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PacemakerConfig {
    /// The `clouds.yaml` cloud on the hosts that the OpenStack resource
    /// agents and fence_openstack authenticate with (never a password in
    /// the CIB).
    #[serde(default = "default_pacemaker_cloud")]
    pub cloud: String,
    /// Where each database's volume is mounted on the hosts (default
    /// `/srv/dbaas`): its data file system at `<root>/<instance>`, its WAL
    /// file system at `<root>/<instance>-wal`.
    #[serde(default = "default_mount_root")]
    pub mount_root: PathBuf,
    /// The file system of the volumes (default `ext4`).
    #[serde(default = "default_fstype")]
    pub fstype: String,
    /// How the pairs' CIBs are reached: over SSH to the pair's hosts (the
    /// first that answers).
    #[serde(default)]
    pub ssh: Option<SshConfig>,
    /// Instead, a CIB file on this machine, for reviewing what would be
    /// applied (and for tests): every pair's groups go to it.
    #[serde(default)]
    pub cib_file: Option<PathBuf>,
    /// Stand-in resource agents that run anywhere (tmpfs file systems, the
    /// floating address on `lo`, no OpenStack): demonstrations and tests
    /// only.
    #[serde(default)]
    pub stand_in: bool,
}

/// SSH to the hosts of a pair, as the Pacemaker tools run there.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SshConfig {
    /// The remote user (it runs cibadmin and crm_mon).
    #[serde(default = "default_ssh_user")]
    pub user: String,
    /// The private key file.
    pub key: PathBuf,
    /// The known_hosts file holding the hosts' keys (checked strictly).
    pub known_hosts: PathBuf,
    #[serde(default = "default_ssh_port")]
    pub port: u16,
}

fn default_ssh_user() -> String {
    "hacluster".into()
}
fn default_ssh_port() -> u16 {
    22
}

impl Default for PacemakerConfig {
    fn default() -> Self {
        PacemakerConfig {
            cloud: default_pacemaker_cloud(),
            mount_root: default_mount_root(),
            fstype: default_fstype(),
            ssh: None,
            cib_file: None,
            stand_in: false,
        }
    }
}

fn default_pacemaker_cloud() -> String {
    "dbaas".into()
}
fn default_mount_root() -> PathBuf {
    PathBuf::from("/srv/dbaas")
}
fn default_fstype() -> String {
    "ext4".into()
}

/// The cloud the OpenStack drivers work in, and how.
///
/// ```hcl
/// openstack {
///   cloud       = "dbaas"                    # a cloud of clouds.yaml; else OS_*
///   clouds_file = "/etc/dbaas/clouds.yaml"   # default: searched as `openstack` does
///   volumes {
///     mount_root  = "/srv/dbaas"             # where the pair mounts a database's volume
///     volume_type = "ssd"
///   }
///   addresses {
///     external_network = "public"
///   }
/// }
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenStackConfig {
    /// The cloud's name in `clouds.yaml` (with `secure.yaml`); without it,
    /// `OS_CLOUD` or the `OS_*` variables.
    #[serde(default)]
    pub cloud: Option<String>,
    /// The `clouds.yaml` to read instead of searching for it.
    #[serde(default)]
    pub clouds_file: Option<PathBuf>,
    /// Settings of the `cinder` volume driver.
    #[serde(default)]
    pub volumes: Option<dbaas_openstack::VolumeSettings>,
    /// Settings of the `neutron` address driver.
    #[serde(default)]
    pub addresses: Option<dbaas_openstack::AddressSettings>,
}

/// Settings of the local (embedded) drivers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalConfig {
    /// Loopback addresses handed out as floating IPs.
    #[serde(default = "default_pool")]
    pub address_pool: String,
    /// Port every engine listens on, at its own address.
    #[serde(default = "default_port")]
    pub port: u16,
    /// OS user the engines run as when the agent runs as root.
    #[serde(default)]
    pub run_as: Option<String>,
}

impl Default for LocalConfig {
    fn default() -> Self {
        LocalConfig {
            address_pool: default_pool(),
            port: default_port(),
            run_as: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    pub default_version: String,
    #[serde(default)]
    pub version: BTreeMap<String, VersionConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionConfig {
    /// Directory holding the engine's programs.
    pub bin_dir: PathBuf,
}

/// Limits of SQL jobs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlConfig {
    #[serde(default = "default_max_output")]
    pub max_output_bytes: usize,
    #[serde(default = "default_timeout")]
    pub statement_timeout_seconds: u64,
}

impl Default for SqlConfig {
    fn default() -> Self {
        SqlConfig {
            max_output_bytes: default_max_output(),
            statement_timeout_seconds: default_timeout(),
        }
    }
}

/// Where and how base backups are stored.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupConfig {
    /// `local`: a directory (the default); `swift`: OpenStack Swift;
    /// `s3`: an S3-compatible store.
    #[serde(default = "local")]
    pub store: String,
    /// Directory of the local store; `<data_dir>/backups` when absent.
    #[serde(default)]
    pub local_dir: Option<PathBuf>,
    /// The Swift store, when `store = "swift"`.
    #[serde(default)]
    pub swift: Option<SwiftStoreConfig>,
    /// The S3-compatible store, when `store = "s3"`.
    #[serde(default)]
    pub s3: Option<S3StoreConfig>,
    /// Size of one stored segment, in MiB.
    #[serde(default = "default_segment_mb")]
    pub segment_size_mb: u64,
    /// Size of one stored segment in KiB, for finer control; overrides
    /// `segment_size_mb` when set.
    #[serde(default)]
    pub segment_size_kb: Option<u64>,
    /// zstd level, 1 (fast) to 19 (small).
    #[serde(default = "default_level")]
    pub compression_level: i32,
    /// Segments in flight at once.
    #[serde(default = "default_parallelism")]
    pub parallelism: usize,
    /// Continuous WAL archiving, for point-in-time restores.
    #[serde(default = "yes")]
    pub wal_archiving: bool,
    /// At most this many seconds of committed work wait for archiving
    /// (PostgreSQL's archive_timeout).
    #[serde(default = "default_archive_timeout")]
    pub archive_timeout_seconds: u64,
}

/// An OpenStack Swift account and container.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwiftStoreConfig {
    /// `tempauth` (Swift's own, `auth_url` ending in /auth/v1.0) or
    /// `keystone` (v3; the endpoint comes from the catalog).
    #[serde(default = "tempauth")]
    pub auth: String,
    /// keystone: the cloud of this name in `clouds.yaml` (with
    /// `secure.yaml`), found as the `openstack` command finds it
    /// (`OS_CLIENT_CONFIG_FILE`, the current directory,
    /// `~/.config/openstack`, `/etc/openstack`) unless `clouds_file` says
    /// where. Password and application credentials both work; the fields
    /// below are then not needed.
    #[serde(default)]
    pub cloud: Option<String>,
    /// keystone with `cloud`: the `clouds.yaml` to read.
    #[serde(default)]
    pub clouds_file: Option<PathBuf>,
    /// tempauth: …/auth/v1.0; keystone without `cloud`: Keystone's URL.
    #[serde(default)]
    pub auth_url: String,
    /// tempauth: `account:user`.
    #[serde(default)]
    pub user: Option<String>,
    /// tempauth: the user's key.
    #[serde(default)]
    pub key: Option<String>,
    /// keystone, with the names of a clouds.yaml `auth:` section.
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub project_name: Option<String>,
    #[serde(default)]
    pub user_domain_name: Option<String>,
    #[serde(default)]
    pub project_domain_name: Option<String>,
    #[serde(default)]
    pub region_name: Option<String>,
    /// The container holding the backups.
    #[serde(default = "default_container")]
    pub container: String,
    /// Objects above this size become Static Large Objects of segments of
    /// this size, in MiB.
    #[serde(default = "default_swift_segment_mb")]
    pub segment_size_mb: u64,
}

fn tempauth() -> String {
    "tempauth".into()
}
fn default_container() -> String {
    "dbaas-backups".into()
}
fn default_swift_segment_mb() -> u64 {
    100
}

impl SwiftStoreConfig {
    fn check(&self, at: &str) -> Result<(), String> {
        match self.auth.as_str() {
            "tempauth" if self.cloud.is_some() => Err(format!(
                "{at}: cloud names a clouds.yaml cloud, which is for auth = \"keystone\""
            )),
            "tempauth" if self.auth_url.is_empty() => {
                Err(format!("{at}: tempauth needs auth_url (…/auth/v1.0)"))
            }
            "tempauth" if self.user.is_some() && self.key.is_some() => Ok(()),
            "tempauth" => Err(format!("{at}: tempauth needs user and key")),
            "keystone" if self.cloud.as_deref() == Some("") => {
                Err(format!("{at}: cloud is empty; name a cloud of clouds.yaml"))
            }
            "keystone" if self.cloud.is_some() => Ok(()),
            "keystone" if self.auth_url.is_empty() => Err(format!(
                "{at}: keystone needs cloud (a clouds.yaml cloud) or auth_url, username, password and project_name"
            )),
            "keystone"
                if self.username.is_some()
                    && self.password.is_some()
                    && self.project_name.is_some() =>
            {
                Ok(())
            }
            "keystone" => Err(format!(
                "{at}: keystone needs username, password and project_name"
            )),
            other => Err(format!(
                "{at}: auth = {other:?}; use \"tempauth\" or \"keystone\""
            )),
        }
    }
}

/// An S3-compatible bucket (AWS, MinIO, Ceph RGW, Swift's s3api).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3StoreConfig {
    /// The service's URL, e.g. `https://s3.example.com`.
    pub endpoint: String,
    #[serde(default = "us_east_1")]
    pub region: String,
    pub bucket: String,
    pub access_key: String,
    pub secret_key: String,
    /// Path-style URLs (`endpoint/bucket/key`); most non-AWS stores want it.
    #[serde(default = "yes")]
    pub path_style: bool,
    /// Create the bucket on first write when missing.
    #[serde(default)]
    pub create_bucket: bool,
}

fn us_east_1() -> String {
    "us-east-1".into()
}

/// A named backup store of another cloud.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `local`, `swift` or `s3`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub local_dir: Option<PathBuf>,
    #[serde(default)]
    pub swift: Option<SwiftStoreConfig>,
    #[serde(default)]
    pub s3: Option<S3StoreConfig>,
}

impl BackupConfig {
    /// The segment size in bytes.
    pub fn segment_size(&self) -> usize {
        (self.segment_size_kb.unwrap_or(self.segment_size_mb * 1024) * 1024) as usize
    }
}

impl Default for BackupConfig {
    fn default() -> Self {
        BackupConfig {
            store: local(),
            local_dir: None,
            swift: None,
            s3: None,
            segment_size_mb: default_segment_mb(),
            segment_size_kb: None,
            compression_level: default_level(),
            parallelism: default_parallelism(),
            wal_archiving: true,
            archive_timeout_seconds: default_archive_timeout(),
        }
    }
}

fn yes() -> bool {
    true
}
fn default_archive_timeout() -> u64 {
    60
}

fn default_segment_mb() -> u64 {
    64
}
/// Level 1: on PostgreSQL data it compresses about as well as 3 and
/// faster (measured by `dbaas-bench backup`).
fn default_level() -> i32 {
    1
}
fn default_parallelism() -> usize {
    4
}

fn local() -> String {
    "local".into()
}
fn default_listen() -> String {
    "127.0.0.1:4680".into()
}
fn default_pool() -> String {
    "127.77.0.0/24".into()
}
fn default_port() -> u16 {
    5432
}
fn default_supervise() -> u64 {
    2
}
fn default_max_output() -> usize {
    1024 * 1024
}
fn default_timeout() -> u64 {
    300
}

/// PostgreSQL from Debian's packages: every `/usr/lib/postgresql/N/bin`
/// found, the newest as default; 15 when none is found.
fn default_engines() -> BTreeMap<String, EngineConfig> {
    let mut versions = BTreeMap::new();
    if let Ok(rd) = std::fs::read_dir("/usr/lib/postgresql") {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let bin = e.path().join("bin");
            if name.chars().all(|c| c.is_ascii_digit()) && bin.join("initdb").is_file() {
                versions.insert(name, VersionConfig { bin_dir: bin });
            }
        }
    }
    if versions.is_empty() {
        versions.insert(
            "15".to_string(),
            VersionConfig {
                bin_dir: "/usr/lib/postgresql/15/bin".into(),
            },
        );
    }
    let default_version = versions
        .keys()
        .max_by_key(|v| v.parse::<u32>().unwrap_or(0))
        .cloned()
        .unwrap_or_else(|| "15".into());
    BTreeMap::from([(
        "postgresql".to_string(),
        EngineConfig {
            default_version,
            version: versions,
        },
    )])
}

impl AgentConfig {
    /// The `--dev` preset: local drivers, state under `data_dir`.
    pub fn dev(data_dir: PathBuf) -> AgentConfig {
        AgentConfig {
            data_dir,
            listen: default_listen(),
            drivers: DriversConfig::default(),
            local: LocalConfig::default(),
            openstack: None,
            nomad: None,
            consul: None,
            pacemaker: None,
            engine: default_engines(),
            sql: SqlConfig::default(),
            backup: BackupConfig::default(),
            store: BTreeMap::new(),
            host_pair: BTreeMap::new(),
            host_pair_stacks: Vec::new(),
            supervise_interval_seconds: default_supervise(),
            failpoints: None,
        }
    }

    /// The host pool of the `host_pair` blocks, checked (unique ids, two
    /// distinct nodes, a zone and a VIP port each).
    pub fn host_pool(&self) -> Result<dbaas_placement::HostPool, String> {
        dbaas_placement::HostPool::new(
            self.host_pair
                .iter()
                .map(|(id, p)| dbaas_placement::HostPair {
                    id: id.clone(),
                    zone: p.zone.clone(),
                    nomad_nodes: p.nomad_nodes.clone(),
                    pacemaker_nodes: p
                        .pacemaker_nodes
                        .clone()
                        .unwrap_or_else(|| p.nomad_nodes.clone()),
                    vip_port_id: p.vip_port_id.clone(),
                    capacity: p.capacity,
                })
                .collect(),
        )
        .map_err(|e| e.to_string())
    }

    /// Parses HCL text and checks it.
    pub fn parse(text: &str) -> Result<AgentConfig, String> {
        let cfg: AgentConfig = hcl::from_str(text).map_err(|e| e.to_string())?;
        cfg.check()?;
        Ok(cfg)
    }

    /// Reads and checks an HCL file.
    pub fn load(path: &Path) -> Result<AgentConfig, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Checks what serde cannot.
    pub fn check(&self) -> Result<(), String> {
        let offered = |what: &str, v: &str, choices: &[&str]| {
            if choices.contains(&v) {
                Ok(())
            } else {
                Err(format!(
                    "{what} = {v:?}: this agent offers {}",
                    choices
                        .iter()
                        .map(|c| format!("{c:?}"))
                        .collect::<Vec<_>>()
                        .join(" or ")
                ))
            }
        };
        offered(
            "drivers.volumes",
            &self.drivers.volumes,
            &["local", "cinder"],
        )?;
        offered(
            "drivers.addresses",
            &self.drivers.addresses,
            &["local", "neutron"],
        )?;
        offered(
            "drivers.runtime",
            &self.drivers.runtime,
            &["local", "nomad"],
        )?;
        if self.drivers.runtime == "nomad" {
            let nomad = self.nomad.as_ref().ok_or(
                "drivers.runtime = \"nomad\" needs a nomad block; `nomad {}` takes Nomad's address from NOMAD_ADDR and the default images",
            )?;
            nomad.check(&self.engine)?;
            if self.host_pair.is_empty() && self.host_pair_stacks.is_empty() {
                return Err(
                    "drivers.runtime = \"nomad\" needs host_pair blocks (or host_pair_stacks): each engine job runs on the Nomad nodes of its database's pair"
                        .into(),
                );
            }
        }
        if let Some(consul) = &self.consul {
            consul.check()?;
        }
        offered("drivers.ha", &self.drivers.ha, &["none", "pacemaker"])?;
        if self.drivers.ha == "pacemaker" {
            let pm = self
                .pacemaker
                .as_ref()
                .ok_or("drivers.ha = \"pacemaker\" needs a pacemaker block")?;
            if pm.ssh.is_none() == pm.cib_file.is_none() {
                return Err(
                    "pacemaker: give either ssh { ... } (the pairs' hosts) or cib_file".into(),
                );
            }
            if self.host_pair.is_empty() {
                return Err("drivers.ha = \"pacemaker\" needs host_pair blocks".into());
            }
        }
        let os = self.openstack.as_ref();
        if !self.host_pair_stacks.is_empty() && os.is_none() {
            return Err(
                "host_pair_stacks needs an openstack block (the cloud of the stacks)".into(),
            );
        }
        if self.drivers.volumes == "cinder" && os.is_none() {
            return Err(
                "drivers.volumes = \"cinder\" needs an openstack block (the cloud to use)".into(),
            );
        }
        if self.drivers.addresses == "neutron" && os.and_then(|o| o.addresses.as_ref()).is_none() {
            return Err(
                "drivers.addresses = \"neutron\" needs openstack { addresses { external_network = \"...\" } }"
                    .into(),
            );
        }
        self.pool()?;
        self.host_pool()?;
        match (self.backup.store.as_str(), &self.backup.swift) {
            ("local", _) => {}
            ("swift", Some(sw)) => sw.check("backup.swift")?,
            ("swift", None) => {
                return Err("backup.store = \"swift\" needs a backup.swift block".into())
            }
            ("s3", _) if self.backup.s3.is_some() => {}
            ("s3", _) => return Err("backup.store = \"s3\" needs a backup.s3 block".into()),
            (other, _) => {
                return Err(format!(
                    "backup.store = {other:?}: use \"local\", \"swift\" or \"s3\""
                ))
            }
        }
        for (name, st) in &self.store {
            let at = format!("store {name:?}");
            match (st.kind.as_str(), &st.local_dir, &st.swift) {
                ("local", Some(_), _) => {}
                ("local", None, _) => return Err(format!("{at}: a local store needs local_dir")),
                ("swift", _, Some(sw)) => sw.check(&at)?,
                ("swift", _, None) => {
                    return Err(format!("{at}: a swift store needs a swift block"))
                }
                ("s3", _, _) if st.s3.is_some() => {}
                ("s3", _, _) => return Err(format!("{at}: an s3 store needs an s3 block")),
                (other, _, _) => {
                    return Err(format!(
                        "{at}: type = {other:?}; use \"local\", \"swift\" or \"s3\""
                    ))
                }
            }
        }
        if !(1..=4096).contains(&self.backup.segment_size_mb) {
            return Err("backup.segment_size_mb must be from 1 to 4096".into());
        }
        if self
            .backup
            .segment_size_kb
            .is_some_and(|k| !(16..=4 * 1024 * 1024).contains(&k))
        {
            return Err("backup.segment_size_kb must be from 16 to 4194304".into());
        }
        if !(1..=19).contains(&self.backup.compression_level) {
            return Err("backup.compression_level must be from 1 to 19".into());
        }
        if !(1..=86400).contains(&self.backup.archive_timeout_seconds) {
            return Err("backup.archive_timeout_seconds must be from 1 to 86400".into());
        }
        if !(1..=64).contains(&self.backup.parallelism) {
            return Err("backup.parallelism must be from 1 to 64".into());
        }
        for (name, e) in &self.engine {
            if name != "postgresql" {
                return Err(format!("engine {name:?}: only \"postgresql\" is offered"));
            }
            if !e.version.contains_key(&e.default_version) {
                return Err(format!(
                    "engine {name:?}: default_version {:?} has no version block",
                    e.default_version
                ));
            }
        }
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(format!(
                "listen = {:?}: expected an address and port, e.g. 127.0.0.1:4680",
                self.listen
            ));
        }
        Ok(())
    }

    /// The local address pool.
    pub fn pool(&self) -> Result<ipnet::Ipv4Net, String> {
        self.local.address_pool.parse().map_err(|_| {
            format!(
                "local.address_pool = {:?}: expected a CIDR such as 127.77.0.0/24",
                self.local.address_pool
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_example_parses() {
        let text = include_str!("../../../examples/agent.hcl");
        let cfg = AgentConfig::parse(text).unwrap();
        assert_eq!(cfg.listen, "127.0.0.1:4680");
        assert_eq!(cfg.local.run_as.as_deref(), Some("postgres"));
        assert_eq!(cfg.engine["postgresql"].default_version, "15");
        assert_eq!(
            cfg.engine["postgresql"].version["15"].bin_dir,
            PathBuf::from("/usr/lib/postgresql/15/bin")
        );
        assert_eq!(cfg.sql.statement_timeout_seconds, 300);
    }

    #[test]
    fn unknown_keys_and_drivers_are_refused() {
        let e = AgentConfig::parse("data_dir = \"/x\"\nlisten_addr = \"1\"\n").unwrap_err();
        assert!(e.contains("listen_addr"), "{e}");
        let e = AgentConfig::parse("data_dir = \"/x\"\ndrivers { runtime = \"docker\" }\n")
            .unwrap_err();
        assert!(
            e.contains("drivers.runtime") && e.contains("\"local\" or \"nomad\""),
            "{e}"
        );
        let e = AgentConfig::parse("data_dir = \"/x\"\nlocal { address_pool = \"nope\" }\n")
            .unwrap_err();
        assert!(e.contains("address_pool"), "{e}");
    }

    const PAIR: &str = "host_pair \"p1\" {\n  zone = \"az1\"\n  nomad_nodes = [\"a\", \"b\"]\n  vip_port_id = \"v\"\n  capacity {\n    databases = 1\n  }\n}\n";

    fn nomad(rest: &str) -> Result<AgentConfig, String> {
        AgentConfig::parse(&format!(
            "data_dir = \"/x\"\ndrivers {{\n  runtime = \"nomad\"\n}}\nengine \"postgresql\" {{\n  default_version = \"15\"\n  version \"15\" {{\n    bin_dir = \"/b\"\n  }}\n}}\n{rest}"
        ))
    }

    #[test]
    fn the_nomad_runtime_needs_its_block_and_the_host_pairs() {
        // The environment gives the address: an empty block will do.
        let cfg = nomad(&format!("{PAIR}nomad {{\n}}\n")).unwrap();
        assert_eq!(cfg.drivers.runtime, "nomad");
        let n = cfg.nomad.unwrap();
        assert_eq!((n.address, n.token), (None, None));

        let cfg = nomad(&format!(
            "{PAIR}nomad {{\n  address = \"https://nomad.internal:4646\"\n  token = \"secret-token\"\n  namespace = \"dbaas\"\n  region = \"eu\"\n  ca_cert = \"/etc/ca.pem\"\n  images = {{ \"15\" = \"registry.internal/postgres:15.8\" }}\n}}\n"
        ))
        .unwrap();
        let n = cfg.nomad.unwrap();
        assert_eq!(n.address.as_deref(), Some("https://nomad.internal:4646"));
        assert_eq!(n.namespace.as_deref(), Some("dbaas"));
        assert_eq!(n.region.as_deref(), Some("eu"));
        assert_eq!(n.ca_cert, Some(PathBuf::from("/etc/ca.pem")));
        // The token never reaches a log line.
        let shown = format!("{n:?}");
        assert!(
            !shown.contains("secret-token") && shown.contains("<redacted>"),
            "{shown}"
        );

        let e = nomad(PAIR).unwrap_err();
        assert!(
            e.contains("needs a nomad block") && e.contains("NOMAD_ADDR"),
            "{e}"
        );
        let e = nomad("nomad {\n}\n").unwrap_err();
        assert!(e.contains("host_pair"), "{e}");
        // The pairs may come from Heat stacks instead (with their cloud).
        nomad("host_pair_stacks = [\"pair-1\"]\nopenstack {\n}\nnomad {\n}\n").unwrap();
    }

    #[test]
    fn a_consul_block_names_the_cluster_and_overrides_the_environment() {
        let cfg = AgentConfig::parse("data_dir = \"/x\"\nconsul {\n}\n").unwrap();
        let c = cfg.consul.unwrap();
        assert_eq!(
            (c.prefix.as_str(), c.cluster.as_str()),
            ("dbaas", "default")
        );
        assert_eq!((c.session_ttl_seconds, c.lock_delay_seconds), (15, 15));
        assert_eq!((c.address, c.token), (None, None));

        let cfg = AgentConfig::parse(
            "data_dir = \"/x\"\nconsul {\n  address = \"https://consul.internal:8501\"\n  token = \"secret-token\"\n  ca_cert = \"/etc/ca.pem\"\n  prefix = \"teams/db\"\n  cluster = \"prod-1\"\n  agent_id = \"agent-a\"\n  advertise = \"http://10.0.0.5:4680\"\n  session_ttl_seconds = 10\n  lock_delay_seconds = 5\n}\n",
        )
        .unwrap();
        cfg.check().unwrap();
        let c = cfg.consul.unwrap();
        assert_eq!(c.address.as_deref(), Some("https://consul.internal:8501"));
        assert_eq!(c.ca_cert, Some(PathBuf::from("/etc/ca.pem")));
        assert_eq!(
            (c.prefix.as_str(), c.cluster.as_str()),
            ("teams/db", "prod-1")
        );
        assert_eq!(c.advertise.as_deref(), Some("http://10.0.0.5:4680"));
        assert_eq!((c.session_ttl_seconds, c.lock_delay_seconds), (10, 5));
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("secret-token") && shown.contains("<redacted>"),
            "{shown}"
        );

        let bad = |block: &str| {
            AgentConfig::parse(&format!("data_dir = \"/x\"\nconsul {{\n{block}\n}}\n"))
                .and_then(|c| c.check())
                .unwrap_err()
        };
        let e = bad("address = \"consul.internal:8500\"");
        assert!(
            e.contains("consul.address") && e.contains("CONSUL_HTTP_ADDR"),
            "{e}"
        );
        let e = bad("cluster = \"a/b\"");
        assert!(e.contains("consul.cluster"), "{e}");
        let e = bad("prefix = \"/dbaas\"");
        assert!(e.contains("consul.prefix"), "{e}");
        let e = bad("session_ttl_seconds = 0");
        assert!(e.contains("consul.session_ttl_seconds"), "{e}");
        let e = bad("token = \"\"");
        assert!(
            e.contains("consul.token") && e.contains("CONSUL_HTTP_TOKEN"),
            "{e}"
        );
        let e = bad("colour = \"blue\"");
        assert!(e.contains("colour"), "{e}");
    }

    #[test]
    fn bad_nomad_settings_name_the_key_and_the_fix() {
        let with = |block: &str| nomad(&format!("{PAIR}nomad {{\n{block}\n}}\n")).unwrap_err();
        let e = with("address = \"nomad.internal:4646\"");
        assert!(
            e.contains("nomad.address") && e.contains("https://") && e.contains("NOMAD_ADDR"),
            "{e}"
        );
        let e = with("address = \"http://\"");
        assert!(e.contains("nomad.address"), "{e}");
        let e = with("token = \"\"");
        assert!(
            e.contains("nomad.token") && e.contains("NOMAD_TOKEN"),
            "{e}"
        );
        let e = with("namespace = \" \"");
        assert!(
            e.contains("nomad.namespace") && e.contains("NOMAD_NAMESPACE"),
            "{e}"
        );
        let e = with("ca_cert = \"\"");
        assert!(
            e.contains("nomad.ca_cert") && e.contains("NOMAD_CACERT"),
            "{e}"
        );
        // Values go into jobs: nothing Nomad would interpolate.
        let e = with("images = { \"15\" = \"postgres:${attr.x}\" }");
        assert!(
            e.contains("nomad.images[\"15\"]") && e.contains("'$'"),
            "{e}"
        );
        let e = with("superuser = \"Admin; drop\"");
        assert!(e.contains("nomad.superuser"), "{e}");
        let e = with("fetch_image = \"curl\\\"x\"");
        assert!(e.contains("nomad.fetch_image"), "{e}");
        // The default version must have an image.
        let e = with("images = { \"16\" = \"postgres:16\" }");
        assert!(
            e.contains("default_version \"15\"") && e.contains("nomad.images"),
            "{e}"
        );
        let e = nomad(&format!("{PAIR}nomad {{\n  port = 1\n}}\n")).unwrap_err();
        assert!(e.contains("port"), "{e}");
    }

    #[test]
    fn a_swift_store_authenticates_from_a_clouds_yaml_cloud_or_explicit_fields() {
        let with = |swift: &str| {
            AgentConfig::parse(&format!(
                "data_dir = \"/x\"\nbackup {{\n  store = \"swift\"\n  swift {{\n{swift}\n  }}\n}}\n"
            ))
        };
        let cfg = with("auth = \"keystone\"\ncloud = \"prod\"").unwrap();
        let sw = cfg.backup.swift.unwrap();
        assert_eq!(sw.cloud.as_deref(), Some("prod"));
        assert!(sw.auth_url.is_empty());
        with("auth = \"keystone\"\nauth_url = \"http://ks:5000\"\nusername = \"u\"\npassword = \"p\"\nproject_name = \"p\"")
            .unwrap();
        let e = with("auth = \"keystone\"").unwrap_err();
        assert!(e.contains("cloud") && e.contains("auth_url"), "{e}");
        let e = with("auth = \"keystone\"\ncloud = \"\"").unwrap_err();
        assert!(e.contains("cloud is empty"), "{e}");
        let e = with("cloud = \"prod\"\nuser = \"a:b\"\nkey = \"k\"").unwrap_err();
        assert!(e.contains("keystone"), "{e}");
        let e = with("user = \"a:b\"\nkey = \"k\"").unwrap_err();
        assert!(e.contains("auth_url"), "{e}");
    }

    #[test]
    fn the_pacemaker_driver_needs_a_way_to_its_pairs_and_a_pool() {
        let pair = "host_pair \"p1\" {\n  zone = \"az1\"\n  nomad_nodes = [\"a\", \"b\"]\n  vip_port_id = \"v\"\n  capacity {\n    databases = 1\n  }\n}\n";
        let parse = |rest: &str| {
            AgentConfig::parse(&format!(
                "data_dir = \"/x\"\ndrivers {{\n  ha = \"pacemaker\"\n}}\n{rest}"
            ))
        };
        let e = parse(pair).unwrap_err();
        assert!(e.contains("pacemaker block"), "{e}");
        let e = parse(&format!("{pair}pacemaker {{\n}}\n")).unwrap_err();
        assert!(e.contains("ssh") && e.contains("cib_file"), "{e}");
        let e = parse("pacemaker {\n  cib_file = \"/tmp/cib.xml\"\n}\n").unwrap_err();
        assert!(e.contains("host_pair"), "{e}");
        let cfg = parse(&format!(
            "{pair}pacemaker {{\n  ssh {{\n    key = \"/k\"\n    known_hosts = \"/kh\"\n  }}\n}}\n"
        ))
        .unwrap();
        let ssh = cfg.pacemaker.unwrap().ssh.unwrap();
        assert_eq!((ssh.user.as_str(), ssh.port), ("hacluster", 22));
        let e = AgentConfig::parse("data_dir = \"/x\"\ndrivers {\n  ha = \"corosync\"\n}\n")
            .unwrap_err();
        assert!(e.contains("drivers.ha") && e.contains("pacemaker"), "{e}");
    }
}
