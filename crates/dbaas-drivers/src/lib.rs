//! The driver interfaces: what a workflow asks of the infrastructure.
//!
//! Workflows (in `dbaas-control`) are written against these traits only.
//! The local drivers (`dbaas-local`) implement them on one machine; the
//! production drivers (Cinder volumes, Neutron floating IPs, Nomad jobs
//! placed on Pacemaker host pairs) implement the same traits, and the
//! agent's configuration chooses which.
//!
//! Every method is idempotent: resources are named deterministically by the
//! caller, `ensure_*` looks up before it creates, and removing something
//! that is not there succeeds. That is what lets a saga re-run a step after
//! a crash without leaking or duplicating anything.

pub mod ha;
pub use ha::{HaFloatingIp, HaGroup, HaGroupDriver, HaMount, HaNode, HaStatus, HostPair, NoHa};

use std::path::PathBuf;

use async_trait::async_trait;
use dbaas_model::Endpoint;
use serde::{Deserialize, Serialize};

/// A driver failure, with a message that says what failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct DriverError(pub String);

impl DriverError {
    pub fn new(msg: impl Into<String>) -> Self {
        DriverError(msg.into())
    }
}

pub type Result<T> = std::result::Result<T, DriverError>;

/// A data volume, as provisioned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    /// The deterministic name the workflow chose.
    pub name: String,
    /// The driver's own id (a Cinder volume id; the path locally).
    pub id: String,
    pub size_gb: u32,
    /// Where the volume is mounted on the host that runs the engine.
    pub mount_path: PathBuf,
}

/// Data volumes (Cinder in production, directories locally).
#[async_trait]
pub trait VolumeDriver: Send + Sync {
    /// Creates the volume named `name` unless it exists; returns it.
    /// `operation` (the id of the operation creating it) is recorded on
    /// the volume, so that an operator can tell what made it; it is not
    /// part of what the volume is found by.
    async fn ensure(&self, name: &str, size_gb: u32, operation: &str) -> Result<Volume>;
    /// The volume named `name`, if it exists.
    async fn find(&self, name: &str) -> Result<Option<Volume>>;
    /// Grows the volume named `name` to `size_gb` and returns it; already
    /// at least that large is success (a retry after a crash). Volumes
    /// never shrink.
    async fn extend(&self, name: &str, size_gb: u32) -> Result<Volume>;
    /// Deletes the volume named `name` and its data. Absent is success.
    async fn delete(&self, name: &str) -> Result<()>;
    /// Names of every volume this driver manages, to find orphans.
    async fn list(&self) -> Result<Vec<String>>;
}

/// Client-facing addresses (Neutron floating IPs in production, loopback
/// addresses locally).
#[async_trait]
pub trait AddressDriver: Send + Sync {
    /// Allocates an address to `owner` unless it holds one; returns it.
    async fn ensure(&self, owner: &str) -> Result<Endpoint>;
    /// The address held by `owner`, if any.
    async fn find(&self, owner: &str) -> Result<Option<Endpoint>>;
    /// Releases the address held by `owner`. Holding none is success.
    async fn release(&self, owner: &str) -> Result<()>;
    /// Owners of every allocated address, to find orphans.
    async fn list(&self) -> Result<Vec<String>>;
    /// Points the address held by `owner` at `port_id`, the VIP port of the
    /// host pair the database was placed on (already so is success).
    /// Addresses outside a cloud (the local pool) have no port to point at:
    /// nothing to do.
    async fn attach(&self, owner: &str, port_id: &str) -> Result<()> {
        let _ = (owner, port_id);
        Ok(())
    }
    /// The cloud's id of the address held by `owner` (a Neutron floating
    /// IP's), which a cluster manager needs to move it; `None` for
    /// addresses that have none (the local pool) or an owner holding none.
    async fn cloud_id(&self, owner: &str) -> Result<Option<String>> {
        let _ = owner;
        Ok(None)
    }
}

/// What an engine runtime needs to run one database's engine.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EngineSpec {
    /// The deterministic instance name (also the volume's name).
    pub instance: String,
    pub engine: String,
    pub version: String,
    pub volume: Volume,
    pub endpoint: Endpoint,
}

/// Observed state of an engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EngineStatus {
    /// Its data is initialised and the server process is running.
    Running,
    /// Its data is initialised; no server runs.
    Stopped,
    /// No data directory: never initialised, or destroyed.
    Absent,
}

/// How the control plane reaches an engine as its administrator. Locally
/// that is the engine's private unix socket (no password; the superuser
/// is never reachable over the network); an engine elsewhere is reached
/// over the network with the superuser's password.
#[derive(Clone, Serialize, Deserialize)]
pub struct AdminAccess {
    /// Directory holding the unix socket, or a host name.
    pub host: String,
    pub port: u16,
    pub superuser: String,
    /// The superuser's password, when the engine asks for one. Never
    /// serialised, never shown by `Debug`.
    #[serde(skip)]
    pub password: Option<String>,
}

// Written by hand so that the password never reaches a log line.
impl std::fmt::Debug for AdminAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminAccess")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("superuser", &self.superuser)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Where an engine's client programs (pg_basebackup, ...) are and whom
/// they run as, for work the agent does beside a running engine.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EngineTools {
    pub bin_dir: PathBuf,
    /// OS user to run them as when the agent is root (PostgreSQL refuses
    /// root, and files it reads must belong to its user).
    pub run_as: Option<String>,
}

/// Makes a helper process (a copy, an archiver, a backup stream) die with
/// the agent: killed with SIGKILL when the agent exits, however it exits,
/// so that a crashed agent leaves no work running behind it. Never used for
/// an engine's server, which must outlive the agent.
pub fn die_with_agent(cmd: &mut tokio::process::Command) {
    // SAFETY: the closure runs in the forked child before exec and only
    // makes one async-signal-safe system call.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                .map_err(std::io::Error::from)
        });
    }
}

impl EngineTools {
    /// Gives `path` to the engine user (when the agent is root), so that
    /// the engine can read and write what the agent made for it.
    pub fn give(&self, path: &std::path::Path) -> std::result::Result<(), String> {
        let Some(user) = &self.run_as else {
            return Ok(());
        };
        if !nix::unistd::geteuid().is_root() {
            return Ok(());
        }
        let u = nix::unistd::User::from_name(user)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("the engine user {user:?} does not exist"))?;
        nix::unistd::chown(path, Some(u.uid), Some(u.gid))
            .map_err(|e| format!("chown {}: {e}", path.display()))
    }

    /// A command running `tool` from `bin_dir` (or any program, when `tool`
    /// is an absolute path) as the engine user. Arguments are passed as a
    /// vector, never through a shell.
    pub fn command(&self, tool: &str) -> tokio::process::Command {
        let program = if tool.starts_with('/') {
            PathBuf::from(tool)
        } else {
            self.bin_dir.join(tool)
        };
        let mut cmd = match &self.run_as {
            Some(user) if nix::unistd::geteuid().is_root() => {
                let mut c = tokio::process::Command::new("runuser");
                c.arg("-u").arg(user).arg("--").arg(program);
                c
            }
            _ => tokio::process::Command::new(program),
        };
        die_with_agent(&mut cmd);
        cmd
    }
}

/// Runs database engines (Nomad service jobs in production, supervised
/// local processes in the embedded mode).
#[async_trait]
pub trait EngineRuntime: Send + Sync {
    /// Versions this runtime can run for `engine`.
    fn versions(&self, engine: &str) -> Vec<String>;
    /// Prepares what makes later creates fast (images, templates). Called
    /// in the background when the agent starts.
    async fn prepare(&self) -> Result<()> {
        Ok(())
    }
    /// Prepares the engine's data on its volume unless already done.
    async fn ensure_initialized(&self, spec: &EngineSpec) -> Result<()>;
    /// Starts the engine unless it runs; returns when it accepts
    /// connections.
    async fn ensure_running(&self, spec: &EngineSpec) -> Result<()>;
    /// Stops the engine if it runs.
    async fn stop(&self, spec: &EngineSpec) -> Result<()>;
    /// Removes everything the runtime made for this engine outside its
    /// volume (sockets, job definitions). Absent is success.
    async fn destroy(&self, spec: &EngineSpec) -> Result<()>;
    async fn status(&self, spec: &EngineSpec) -> Result<EngineStatus>;
    /// How to reach the engine as its administrator (for a remote engine
    /// this reads its superuser's password from where the runtime keeps
    /// it).
    async fn admin_access(&self, spec: &EngineSpec) -> Result<AdminAccess>;
    /// The engine's client programs, when this agent can run them on the
    /// engine's host (the local runtime can; a remote one cannot).
    fn tools(&self, version: &str) -> Option<EngineTools> {
        let _ = version;
        None
    }
    /// The directory where the engine leaves finished WAL files for the
    /// agent to archive, when archiving is on and the agent can reach it.
    fn wal_spool(&self, spec: &EngineSpec) -> Option<PathBuf> {
        let _ = spec;
        None
    }
}
