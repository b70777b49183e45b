//! Resources as the API shows them, and the records the agent keeps.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Life-cycle state of a database, as the control plane intends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DatabaseState {
    /// Being created.
    Build,
    /// Created and serving.
    Active,
    /// Being deleted.
    Deleting,
    /// An operation failed in a way that needs attention; see `error`.
    Error,
}

/// Whether the engine answers, as last observed by the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OperatingStatus {
    /// The engine accepted a connection at the last check.
    Online,
    /// The engine did not answer at the last check.
    Offline,
    /// Not checked yet, or the database is not in a state to be checked.
    Unknown,
}

/// Where clients reach a database: the floating IP and port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
}

/// A database as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Database {
    /// The unique name chosen at creation.
    pub name: String,
    /// Stable identifier; resource names in the cloud derive from it.
    pub id: String,
    pub engine: String,
    pub version: String,
    pub size_gb: u32,
    pub state: DatabaseState,
    pub operating_status: OperatingStatus,
    /// Where clients connect, once allocated.
    pub endpoint: Option<Endpoint>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Why the database is in ERROR, and what to do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Continuous WAL archiving, as last observed; absent when off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wal_archive: Option<WalArchiveStatus>,
    /// Scheduled backups and retention, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_policy: Option<BackupPolicy>,
    /// The host pair the database is placed on, when the agent has a host
    /// pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_pair: Option<String>,
}

/// When a database is backed up by itself, and which backups are kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BackupPolicy {
    /// A cron expression, in UTC: five fields (`0 3 * * *`: every day at
    /// 03:00), or six with seconds first. None: no scheduled backups.
    #[serde(default)]
    pub schedule: Option<String>,
    /// Keep the newest N backups of the database.
    #[serde(default)]
    pub keep_last: Option<u32>,
    /// Keep every backup finished within this many days.
    #[serde(default)]
    pub keep_days: Option<u32>,
    /// A cron expression for restore drills of the newest backup.
    #[serde(default)]
    pub verify_schedule: Option<String>,
}

impl BackupPolicy {
    /// True when the policy removes old backups (and the WAL only they
    /// needed).
    pub fn prunes(&self) -> bool {
        self.keep_last.is_some() || self.keep_days.is_some()
    }
}

/// The state of a database's continuous WAL archiving.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WalArchiveStatus {
    /// Finished WAL files not yet in the backup store: the archive lag.
    pub pending_files: usize,
    /// Age of the oldest of them, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oldest_pending_seconds: Option<u64>,
    /// The last WAL file stored, and when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_archived: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_archived_at: Option<DateTime<Utc>>,
    /// Why the last attempt failed, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// What the agent stores about a database. Holds the owner's password, so it
/// is never returned by the API as is: see [`DatabaseRecord::view`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DatabaseRecord {
    pub name: String,
    pub id: String,
    pub engine: String,
    pub version: String,
    pub size_gb: u32,
    pub state: DatabaseState,
    pub endpoint: Option<Endpoint>,
    pub owner_password: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub error: Option<String>,
    /// The operation that created this record; an unwound create removes
    /// only the record it made.
    pub created_by: String,
    #[serde(default)]
    pub backup_policy: Option<BackupPolicy>,
    /// When the schedule last started a backup.
    #[serde(default)]
    pub last_scheduled_backup: Option<DateTime<Utc>>,
    /// When the schedule last started a restore drill.
    #[serde(default)]
    pub last_scheduled_verify: Option<DateTime<Utc>>,
    /// The host pair it is placed on (its capacity is reserved there);
    /// `None` without a host pool, or before placement.
    #[serde(default)]
    pub host_pair: Option<String>,
}

impl DatabaseRecord {
    pub fn view(&self, operating_status: OperatingStatus) -> Database {
        Database {
            name: self.name.clone(),
            id: self.id.clone(),
            engine: self.engine.clone(),
            version: self.version.clone(),
            size_gb: self.size_gb,
            state: self.state,
            operating_status,
            endpoint: self.endpoint.clone(),
            created_at: self.created_at,
            updated_at: self.updated_at,
            error: self.error.clone(),
            wal_archive: None,
            backup_policy: self.backup_policy.clone(),
            host_pair: self.host_pair.clone(),
        }
    }

    /// The PostgreSQL database and owner role are both named after the
    /// database.
    pub fn connection(&self) -> Option<Connection> {
        let ep = self.endpoint.as_ref()?;
        Some(Connection::new(
            &self.name,
            &ep.host,
            ep.port,
            &self.name,
            &self.name,
            &self.owner_password,
        ))
    }
}

/// Everything a client needs to connect. Also written as YAML to
/// `<data-dir>/connections/NAME.yml` for a git-ops repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Connection {
    /// The dbaas database this connection is for.
    pub name: String,
    pub host: String,
    pub port: u16,
    pub database: String,
    pub user: String,
    pub password: String,
    /// A libpq connection URI with the same values.
    pub uri: String,
}

impl Connection {
    pub fn new(name: &str, host: &str, port: u16, db: &str, user: &str, password: &str) -> Self {
        // Names and generated passwords are restricted to URI-safe
        // characters by validation, so no percent-encoding is needed.
        let uri = format!("postgres://{user}:{password}@{host}:{port}/{db}");
        Connection {
            name: name.into(),
            host: host.into(),
            port,
            database: db.into(),
            user: user.into(),
            password: password.into(),
            uri,
        }
    }
}

/// Request to create a database.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDatabaseRequest {
    /// 1 to 48 characters: lowercase letters, digits and hyphens, starting
    /// with a letter and not ending with a hyphen.
    pub name: String,
    /// Engine; `postgresql` (the default) is the only one offered.
    #[serde(default)]
    pub engine: Option<String>,
    /// Major version of the engine; the agent's default when absent.
    #[serde(default)]
    pub version: Option<String>,
    /// Size of the data volume in GiB, 1 to 16384; 10 when absent.
    #[serde(default)]
    pub size_gb: Option<i64>,
}

/// Request to grow a database's data volume. Volumes only grow: the new
/// size must be larger than the current one.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResizeDatabaseRequest {
    /// The new size of the data volume in GiB, larger than the current
    /// one and at most 16384.
    pub size_gb: i64,
}

/// Request to run SQL against a database, as its owner.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SqlJobRequest {
    /// One or more SQL statements, run in one implicit transaction unless
    /// they manage transactions themselves.
    pub sql: String,
    /// The PostgreSQL database to connect to; the database's own by default.
    #[serde(default)]
    pub database: Option<String>,
}

/// Kinds of operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OperationKind {
    CreateDatabase,
    DeleteDatabase,
    RunSql,
    CreateBackup,
    DeleteBackup,
    RestoreDatabase,
    VerifyBackup,
    ResizeDatabase,
}

impl OperationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OperationKind::CreateDatabase => "create_database",
            OperationKind::DeleteDatabase => "delete_database",
            OperationKind::RunSql => "run_sql",
            OperationKind::CreateBackup => "create_backup",
            OperationKind::DeleteBackup => "delete_backup",
            OperationKind::RestoreDatabase => "restore_database",
            OperationKind::VerifyBackup => "verify_backup",
            OperationKind::ResizeDatabase => "resize_database",
        }
    }
}

/// State of an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OperationState {
    /// Accepted, waiting for earlier operations on the same database.
    Pending,
    /// Its steps are running.
    Running,
    /// A step failed; completed steps are being undone.
    Unwinding,
    /// Every step completed.
    Succeeded,
    /// A step failed after a point of no return, or an undo failed; see
    /// `error`.
    Failed,
    /// A step failed and every completed step was undone: nothing changed.
    Unwound,
}

impl OperationState {
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            OperationState::Succeeded | OperationState::Failed | OperationState::Unwound
        )
    }
}

/// State of one step of an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    Pending,
    Running,
    Done,
    Failed,
    Undoing,
    Undone,
}

/// One step of an operation, with its timestamps.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StepRecord {
    pub name: String,
    pub state: StepState,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A durable, multi-step operation.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Operation {
    pub id: String,
    pub kind: OperationKind,
    /// Name of the database the operation acts on.
    pub target: String,
    pub state: OperationState,
    pub steps: Vec<StepRecord>,
    /// Why the operation failed or was unwound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What the agent stores about an operation: the public view plus the
/// outputs steps hand to later steps (never secrets).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OperationRecord {
    pub op: Operation,
    /// Parameters given when the operation was accepted.
    pub params: serde_json::Value,
    /// Output of each completed step, by step name.
    pub outputs: BTreeMap<String, serde_json::Value>,
}

/// Result of one statement of a SQL job.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StatementResult {
    /// Column names, in order. Empty for statements that return no rows.
    pub columns: Vec<String>,
    /// Rows, each an array of values in column order: text as PostgreSQL
    /// prints it, or null.
    pub rows: Vec<Vec<Option<String>>>,
    /// Rows returned or affected, as PostgreSQL's command tag reports.
    pub rows_affected: u64,
}

/// A notice or warning the server sent while the job ran.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SqlNotice {
    pub severity: String,
    pub sqlstate: String,
    pub message: String,
}

/// The error that stopped a SQL job, as PostgreSQL reported it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SqlError {
    /// The five-character SQLSTATE code, e.g. `42P01` for a missing table.
    pub sqlstate: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// Character position in the submitted SQL, 1-based.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<u32>,
}

/// Captured output of a SQL job.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct SqlOutput {
    pub statements: Vec<StatementResult>,
    pub notices: Vec<SqlNotice>,
    pub error: Option<SqlError>,
    /// True when rows were dropped to keep the output under the agent's
    /// size limit.
    pub truncated: bool,
}

/// A SQL job: the operation that ran it, and what it printed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SqlJob {
    /// The job's id, which is also its operation's id.
    pub id: String,
    /// The dbaas database it ran against.
    pub target: String,
    /// The PostgreSQL database it connected to.
    pub database: String,
    pub state: OperationState,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Present once the job ran.
    pub output: Option<SqlOutput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Liveness answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
    pub version: String,
}

/// A list of databases.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DatabaseList {
    pub databases: Vec<Database>,
}

/// A list of operations, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OperationList {
    pub operations: Vec<Operation>,
}

/// Request to restore a backup into a new database (named in the path).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestoreDatabaseRequest {
    /// Name of the database whose backups to use. It may have been
    /// deleted since: its backups stay in the store.
    pub from: String,
    /// The backup to restore; the newest of `from` when absent.
    #[serde(default)]
    pub backup: Option<String>,
    /// Size of the new data volume in GiB; 10 when absent.
    #[serde(default)]
    pub size_gb: Option<i64>,
    /// Recover to this moment (RFC 3339) by replaying archived WAL past the
    /// backup; the newest backup finished before it is used unless
    /// `backup` is given. Without a target the restore stops at the
    /// backup's own end point.
    #[serde(default)]
    pub target_time: Option<DateTime<Utc>>,
    /// Recover to this WAL position (e.g. `0/3000060`) instead.
    #[serde(default)]
    pub target_lsn: Option<String>,
    /// Read the backups from this named store of another cloud (see the
    /// agent's `store` blocks) instead of this agent's own.
    #[serde(default)]
    pub store: Option<String>,
}

/// A base backup, as its manifest in the object store describes it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Backup {
    pub id: String,
    /// Name of the database backed up.
    pub database: String,
    /// Id of that database.
    pub database_id: String,
    pub engine: String,
    pub version: String,
    pub system_identifier: String,
    pub timeline: u32,
    pub start_lsn: String,
    /// The backup restores to a consistent state at this WAL position.
    pub stop_lsn: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// Size of the data before compression.
    pub raw_bytes: u64,
    /// Size in the store.
    pub stored_bytes: u64,
    pub segments: usize,
    /// e.g. `zstd-3`.
    pub compression: String,
    /// The last restore drill of this backup (`dbaas backup verify`), when
    /// shown alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<BackupVerification>,
}

/// The result of a restore drill.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BackupVerification {
    pub verified_at: DateTime<Utc>,
    /// True when the backup restored, started, reached its end point and
    /// answered a query.
    pub ok: bool,
    pub detail: String,
}

/// A list of backups, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BackupList {
    pub backups: Vec<Backup>,
}

/// Amounts a host pair offers, or its databases hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PairResources {
    pub databases: u64,
    pub vcpus: u64,
    pub memory_mib: u64,
    /// Attached volumes.
    pub volumes: u64,
}

/// One pair of the host pool and its use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HostPair {
    pub id: String,
    /// Availability zone of both hosts.
    pub zone: String,
    /// The two hosts (Nomad node names).
    pub nodes: Vec<String>,
    pub capacity: PairResources,
    /// What the databases placed on it (being created included) hold.
    pub used: PairResources,
    pub free: PairResources,
}

/// The host pool.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HostPairList {
    pub pairs: Vec<HostPair>,
}

/// A cloud resource dbaas made that no database owns any more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Orphan {
    /// `volume`, `address` or `ha_group` (a cluster's resource group).
    pub kind: String,
    /// The owner name the resource carries (a database instance name).
    pub name: String,
}

/// A database one of whose cloud resources is gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BrokenDatabase {
    pub database: String,
    /// What is missing: `volume`, `address`, `ha_group`.
    pub missing: Vec<String>,
}

/// What `dbaas doctor` found (and, with `--fix`, removed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DoctorReport {
    /// Resources tagged by dbaas that no database owns.
    pub orphans: Vec<Orphan>,
    /// Databases whose resources are gone (not repaired: restore them
    /// from a backup, or delete them).
    pub broken: Vec<BrokenDatabase>,
    /// Orphans removed by this run (`--fix`).
    pub removed: Vec<Orphan>,
}
