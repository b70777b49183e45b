//! The control plane: what happens when a user asks for something.
//!
//! Each request that changes something becomes an operation, recorded in
//! the state store together with any reservation it needs (a database
//! name) in one transaction, then run as a saga (see `dbaas-saga`) by the
//! queue of its database: operations on one database run one at a time, in
//! the order they were accepted. On start, [`ControlPlane::start`] puts
//! every unfinished operation back on its queue, so a crash of the agent
//! loses nothing; the supervisor then finds the engines still running and
//! adopts them, and restarts those that died.
//!
//! Workflows talk to the infrastructure only through the driver traits of
//! `dbaas-drivers`; which drivers serve is decided by [`build`] from the
//! agent's configuration.

pub mod ha;
pub mod placement;
pub mod render;
mod services;
pub mod state;
mod workflows;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::Utc;
use dbaas_consul_store::Role;
use dbaas_model::*;
use dbaas_saga::{Executor, Failpoints, RunOptions, SagaDef};
use dbaas_store::{StateStore, StoreError};
use tokio::sync::{mpsc, watch};

pub use services::{resolve_host_pair_stacks, Drivers, Services, Settings};
pub use workflows::{
    backup_saga, create_saga, delete_backup_saga, delete_saga, resize_saga, restore_saga, sql_saga,
    verify_saga,
};

/// Builds the services the configuration asks for.
pub fn build(
    cfg: &dbaas_config::AgentConfig,
    store: Arc<dyn StateStore>,
) -> Result<Services, String> {
    services::build(cfg, store)
}

fn store_err(e: StoreError) -> ApiError {
    match e {
        // Leadership moved while the request was being recorded; nothing
        // was written. Another agent leads (or will in a moment).
        StoreError::Fenced(_) => ApiError::new(
            ErrorCode::Unavailable,
            "this agent stopped leading its cluster while recording the request, so nothing was recorded; send it again (an agent that does not lead names the one that does)",
        ),
        e => ApiError::internal(e),
    }
}

/// The control plane. Cheap to clone.
#[derive(Clone)]
pub struct ControlPlane {
    inner: Arc<Inner>,
}

struct Inner {
    svc: Services,
    /// This agent's role in its cluster: only the leader runs operations
    /// and the supervisor, and accepts changes.
    role: watch::Receiver<Role>,
    failpoints: Failpoints,
    create: SagaDef<Services>,
    delete: SagaDef<Services>,
    sql: SagaDef<Services>,
    backup: SagaDef<Services>,
    delete_backup: SagaDef<Services>,
    restore: SagaDef<Services>,
    verify: SagaDef<Services>,
    resize: SagaDef<Services>,
    queues: Mutex<HashMap<String, mpsc::UnboundedSender<String>>>,
    /// Operations queued or running, per database.
    busy: Mutex<HashMap<String, usize>>,
    /// Last observed operating status, per database.
    observed: RwLock<HashMap<String, OperatingStatus>>,
    /// Continuous archiving, per database.
    archiving: RwLock<HashMap<String, WalArchiveStatus>>,
    /// Per database: the WAL file holding its last write while that file
    /// is not archived, and since when it has been seen so.
    unclosed_wal: Mutex<HashMap<String, (String, std::time::Instant)>>,
}

fn new_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut rng = rand::thread_rng();
    (0..32)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

impl ControlPlane {
    /// A control plane that always leads (the agent alone with its state).
    pub fn new(svc: Services, failpoints: Failpoints) -> ControlPlane {
        Self::with_role(svc, failpoints, state::sole_leader())
    }

    /// A control plane that acts only while `role` says it leads.
    pub fn with_role(
        svc: Services,
        failpoints: Failpoints,
        role: watch::Receiver<Role>,
    ) -> ControlPlane {
        ControlPlane {
            inner: Arc::new(Inner {
                svc,
                role,
                failpoints,
                create: create_saga(),
                delete: delete_saga(),
                sql: sql_saga(),
                backup: backup_saga(),
                delete_backup: delete_backup_saga(),
                restore: restore_saga(),
                verify: verify_saga(),
                resize: resize_saga(),
                queues: Mutex::new(HashMap::new()),
                busy: Mutex::new(HashMap::new()),
                observed: RwLock::new(HashMap::new()),
                archiving: RwLock::new(HashMap::new()),
                unclosed_wal: Mutex::new(HashMap::new()),
            }),
        }
    }

    pub fn services(&self) -> &Services {
        &self.inner.svc
    }

    /// This agent's role now.
    pub fn role(&self) -> Role {
        self.inner.role.borrow().clone()
    }

    /// Whether this agent leads its cluster (always, alone with its state).
    pub fn is_leader(&self) -> bool {
        self.inner.role.borrow().is_leader()
    }

    /// Refuses a change on an agent that does not lead, naming the leader.
    fn require_leader(&self) -> Result<(), ApiError> {
        match &*self.inner.role.borrow() {
            Role::Leader(_) => Ok(()),
            Role::Follower {
                leader: Some(leader),
            } => Err(ApiError::new(
                ErrorCode::Unavailable,
                format!(
                    "this agent does not lead its cluster; the leader is {} at {}: send changes there (dbaas --address {} ...)",
                    leader.id, leader.address, leader.address
                ),
            )),
            Role::Follower { leader: None } => Err(ApiError::new(
                ErrorCode::Unavailable,
                "no agent leads the cluster right now (an election is under way, or Consul cannot be reached); send the change again in a few seconds",
            )),
        }
    }

    /// Starts following the leadership: whenever this agent becomes leader
    /// (a new generation) it resumes every unfinished operation, and the
    /// supervisor works while it leads. When it already leads (alone with
    /// its state), the unfinished operations are queued before this
    /// returns.
    pub async fn start(&self) -> Result<(), String> {
        let mut role = self.inner.role.clone();
        let first = role.borrow_and_update().clone();
        let mut led = None;
        if let Role::Leader(fence) = &first {
            self.resume_unfinished().await?;
            led = Some(fence.generation);
        }
        let me = self.clone();
        tokio::spawn(async move { me.follow_leadership(role, led).await });
        let me = self.clone();
        tokio::spawn(async move { me.supervise().await });
        Ok(())
    }

    async fn follow_leadership(&self, mut role: watch::Receiver<Role>, mut led: Option<u64>) {
        while role.changed().await.is_ok() {
            let now = role.borrow_and_update().clone();
            match now {
                Role::Leader(fence) if led != Some(fence.generation) => {
                    tracing::info!(
                        generation = fence.generation,
                        "this agent leads its cluster; resuming unfinished operations"
                    );
                    led = Some(fence.generation);
                    while let Err(e) = self.resume_unfinished().await {
                        tracing::warn!(error = %e, "cannot list unfinished operations; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        if self.inner.role.borrow().generation() != led {
                            break;
                        }
                    }
                }
                Role::Leader(_) => {}
                Role::Follower { leader } => {
                    if led.take().is_some() {
                        tracing::warn!(leader = ?leader, "this agent no longer leads its cluster; it starts no new work, and the leader resumes what was in flight");
                    }
                }
            }
        }
    }

    /// Queues every unfinished operation (at start, or on becoming
    /// leader).
    async fn resume_unfinished(&self) -> Result<(), String> {
        let ops = self
            .inner
            .svc
            .store
            .list_operations()
            .await
            .map_err(|e| e.to_string())?;
        for rec in ops.into_iter().filter(|r| !r.op.state.is_finished()) {
            tracing::info!(op = %rec.op.id, kind = rec.op.kind.as_str(), target = %rec.op.target, state = ?rec.op.state, "resuming operation");
            self.enqueue(&rec.op.target, rec.op.id.clone());
        }
        Ok(())
    }

    fn enqueue(&self, target: &str, op_id: String) {
        *self
            .inner
            .busy
            .lock()
            .unwrap()
            .entry(target.to_string())
            .or_default() += 1;
        let mut queues = self.inner.queues.lock().unwrap();
        let tx = queues.entry(target.to_string()).or_insert_with(|| {
            let (tx, mut rx) = mpsc::unbounded_channel::<String>();
            let me = self.clone();
            let target = target.to_string();
            tokio::spawn(async move {
                while let Some(id) = rx.recv().await {
                    me.run_operation(&id).await;
                    if let Some(n) = me.inner.busy.lock().unwrap().get_mut(&target) {
                        *n = n.saturating_sub(1);
                    }
                }
            });
            tx
        });
        let _ = tx.send(op_id);
    }

    fn is_busy(&self, target: &str) -> bool {
        self.inner
            .busy
            .lock()
            .unwrap()
            .get(target)
            .copied()
            .unwrap_or(0)
            > 0
    }

    /// Runs one operation to a finished state and applies its outcome to
    /// its database.
    async fn run_operation(&self, id: &str) {
        if !self.is_leader() {
            // The leader runs it (resuming from the store); so does this
            // agent if it leads again.
            tracing::info!(op = id, "not leading: operation left to the leader");
            return;
        }
        let svc = &self.inner.svc;
        let mut rec = match svc.store.get_operation(id).await {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(op = id, error = %e, "cannot read operation");
                return;
            }
        };
        if rec.op.state.is_finished() {
            return;
        }
        if rec.op.kind == OperationKind::DeleteDatabase && rec.op.state == OperationState::Pending {
            // Earlier operations on this database are finished now: what
            // an unwound delete must restore is the state as of this moment.
            if let Ok(Some(db)) = svc.store.get_database(&rec.op.target).await {
                rec.params["previous_state"] = serde_json::to_value(db.state).unwrap_or_default();
                if let Err(e) = svc.store.put_operation(&rec).await {
                    tracing::error!(op = id, error = %e, "cannot record operation");
                    return;
                }
            }
        }
        let saga = match rec.op.kind {
            OperationKind::CreateDatabase => &self.inner.create,
            OperationKind::DeleteDatabase => &self.inner.delete,
            OperationKind::RunSql => &self.inner.sql,
            OperationKind::CreateBackup => &self.inner.backup,
            OperationKind::DeleteBackup => &self.inner.delete_backup,
            OperationKind::RestoreDatabase => &self.inner.restore,
            OperationKind::VerifyBackup => &self.inner.verify,
            OperationKind::ResizeDatabase => &self.inner.resize,
        };
        let done = self
            .execute(saga, rec, RunOptions::default(), &self.inner.failpoints)
            .await;
        match done {
            Some(rec) if rec.op.state == OperationState::Unwinding => {
                // An undo failed (an infrastructure hiccup, say): retry the
                // unwind later rather than leave something behind.
                tracing::warn!(op = %rec.op.id, error = ?rec.op.error, "undo failed; retrying in {UNDO_RETRY:?}");
                let me = self.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(UNDO_RETRY).await;
                    me.enqueue(&rec.op.target, rec.op.id.clone());
                });
            }
            Some(rec) => {
                if rec.op.kind == OperationKind::CreateBackup
                    && rec.op.state == OperationState::Succeeded
                {
                    self.apply_retention(&rec.op.target).await;
                }
                let creates = matches!(
                    rec.op.kind,
                    OperationKind::CreateDatabase | OperationKind::RestoreDatabase
                );
                if creates && rec.op.state == OperationState::Succeeded {
                    // The create's last steps talked to the engine: it answers.
                    self.inner
                        .observed
                        .write()
                        .unwrap()
                        .insert(rec.op.target.clone(), OperatingStatus::Online);
                }
                self.apply_outcome(&rec).await
            }
            None => {}
        }
    }

    /// Executes a saga on an operation record; `None` when the saga log
    /// could not be written (the operation resumes at the next start).
    pub async fn execute(
        &self,
        saga: &SagaDef<Services>,
        rec: OperationRecord,
        options: RunOptions,
        failpoints: &Failpoints,
    ) -> Option<OperationRecord> {
        let svc = &self.inner.svc;
        let exec = Executor {
            ctx: svc,
            log: svc,
            failpoints,
            options,
        };
        let id = rec.op.id.clone();
        match exec.execute(saga, rec).await {
            Ok(rec) => {
                tracing::info!(op = %rec.op.id, kind = rec.op.kind.as_str(), target = %rec.op.target, state = ?rec.op.state, "operation finished");
                Some(rec)
            }
            Err(e) => {
                tracing::error!(op = %id, error = %e, "operation interrupted");
                None
            }
        }
    }

    /// Marks the database when an operation ended in a way that needs the
    /// user's attention.
    pub async fn apply_outcome(&self, rec: &OperationRecord) {
        let marks_database = matches!(
            rec.op.kind,
            OperationKind::CreateDatabase
                | OperationKind::RestoreDatabase
                | OperationKind::DeleteDatabase
        );
        if rec.op.state != OperationState::Failed || !marks_database {
            return;
        }
        let db_id = rec.params["db_id"].as_str().unwrap_or_default().to_string();
        let hint = match rec.op.kind {
            OperationKind::CreateDatabase | OperationKind::RestoreDatabase => format!(
                "create did not finish ({}); delete it with `dbaas db delete {}`",
                rec.op.error.as_deref().unwrap_or("unknown error"),
                rec.op.target
            ),
            _ => format!(
                "delete did not finish ({}); run `dbaas db delete {}` again to finish it",
                rec.op.error.as_deref().unwrap_or("unknown error"),
                rec.op.target
            ),
        };
        let _ = self
            .inner
            .svc
            .store
            .update_database(&rec.op.target, &mut |db| {
                if db.id == db_id {
                    db.state = DatabaseState::Error;
                    db.error = Some(hint.clone());
                    db.updated_at = Utc::now();
                }
            })
            .await;
    }

    fn new_operation(
        kind: OperationKind,
        target: &str,
        saga: &SagaDef<Services>,
        params: serde_json::Value,
    ) -> OperationRecord {
        let now = Utc::now();
        OperationRecord {
            op: Operation {
                id: uuid::Uuid::new_v4().to_string(),
                kind,
                target: target.to_string(),
                state: OperationState::Pending,
                steps: saga.new_steps(),
                error: None,
                created_at: now,
                updated_at: now,
            },
            params,
            outputs: Default::default(),
        }
    }

    /// Accepts a create request: validates it, reserves the name and
    /// records the operation in one transaction, and queues it.
    pub async fn create_database(&self, req: CreateDatabaseRequest) -> Result<Operation, ApiError> {
        let rec = self.accept_create(req).await?;
        self.enqueue(&rec.op.target, rec.op.id.clone());
        Ok(rec.op)
    }

    /// The accepting half of [`create_database`], without queueing; tests
    /// use it to run the saga themselves.
    pub async fn accept_create(
        &self,
        req: CreateDatabaseRequest,
    ) -> Result<OperationRecord, ApiError> {
        self.require_leader()?;
        validate_name(&req.name)?;
        let svc = &self.inner.svc;
        let engine = req.engine.clone().unwrap_or_else(|| "postgresql".into());
        let versions = svc.drivers.runtime.versions(&engine);
        if versions.is_empty() {
            return Err(ApiError::invalid(
                "engine",
                format!("unknown engine {engine:?}; this agent offers: postgresql"),
            ));
        }
        let version = match &req.version {
            Some(v) => v.clone(),
            None => svc
                .settings
                .default_versions
                .get(&engine)
                .cloned()
                .unwrap_or_else(|| versions[versions.len() - 1].clone()),
        };
        if !versions.contains(&version) {
            return Err(ApiError::invalid(
                "version",
                format!(
                    "{engine} version {version:?} is not available on this agent; available: {}",
                    versions.join(", ")
                ),
            ));
        }
        let size_gb = validate_size_gb(req.size_gb)?;
        let now = Utc::now();
        let db_id = uuid::Uuid::new_v4().to_string();
        let rec = Self::new_operation(
            OperationKind::CreateDatabase,
            &req.name,
            &self.inner.create,
            serde_json::json!({ "db_id": db_id }),
        );
        let db = DatabaseRecord {
            name: req.name.clone(),
            id: db_id,
            engine,
            version,
            size_gb,
            state: DatabaseState::Build,
            endpoint: None,
            owner_password: new_password(),
            created_at: now,
            updated_at: now,
            error: None,
            created_by: rec.op.id.clone(),
            backup_policy: None,
            last_scheduled_backup: None,
            last_scheduled_verify: None,
            host_pair: None,
        };
        match svc.store.insert_database_with_operation(&db, &rec).await {
            Ok(()) => Ok(rec),
            Err(StoreError::AlreadyExists(_)) => Err(ApiError::conflict(format!(
                "a database named {:?} already exists; choose another name, or delete it first with `dbaas db delete {}`",
                req.name, req.name
            ))),
            Err(e) => Err(store_err(e)),
        }
    }

    async fn find_record(&self, name: &str) -> Result<DatabaseRecord, ApiError> {
        validate_name(name)?;
        self.inner
            .svc
            .store
            .get_database(name)
            .await
            .map_err(store_err)?
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "no database named {name:?}; `dbaas db list` shows them"
                ))
            })
    }

    fn operating_status(&self, db: &DatabaseRecord) -> OperatingStatus {
        if db.state != DatabaseState::Active {
            return OperatingStatus::Unknown;
        }
        self.inner
            .observed
            .read()
            .unwrap()
            .get(&db.name)
            .copied()
            .unwrap_or(OperatingStatus::Unknown)
    }

    fn view(&self, db: &DatabaseRecord) -> Database {
        let mut v = db.view(self.operating_status(db));
        v.wal_archive = self.inner.archiving.read().unwrap().get(&db.name).cloned();
        v
    }

    pub async fn get_database(&self, name: &str) -> Result<Database, ApiError> {
        let db = self.find_record(name).await?;
        Ok(self.view(&db))
    }

    pub async fn list_databases(&self) -> Result<Vec<Database>, ApiError> {
        let dbs = self
            .inner
            .svc
            .store
            .list_databases()
            .await
            .map_err(store_err)?;
        Ok(dbs.iter().map(|d| self.view(d)).collect())
    }

    /// Finds cloud resources tagged by dbaas that no database owns, and
    /// databases whose resources are gone; with `fix`, removes the former
    /// (never a database: a broken one is for its owner to restore or
    /// delete).
    ///
    /// The drivers are listed before the records are read: a resource is
    /// made only after its database's record exists, and the record goes
    /// only after its resources, so nothing of a create or delete in
    /// flight can look orphaned.
    pub async fn doctor(&self, fix: bool) -> Result<DoctorReport, ApiError> {
        if fix {
            self.require_leader()?;
        }
        let svc = &self.inner.svc;
        let unavailable =
            |e: dbaas_drivers::DriverError| ApiError::new(ErrorCode::Unavailable, e.to_string());
        let volumes = svc.drivers.volumes.list().await.map_err(unavailable)?;
        let addresses = svc.drivers.addresses.list().await.map_err(unavailable)?;
        let groups = svc.drivers.ha.list().await.map_err(unavailable)?;
        let records = svc.store.list_databases().await.map_err(store_err)?;
        let owned: std::collections::BTreeSet<String> =
            records.iter().map(Services::instance_name).collect();
        let mut report = DoctorReport::default();
        for (kind, names) in [
            ("volume", &volumes),
            ("address", &addresses),
            ("ha_group", &groups),
        ] {
            for n in names.iter().filter(|n| !owned.contains(*n)) {
                report.orphans.push(Orphan {
                    kind: kind.into(),
                    name: n.clone(),
                });
            }
        }
        for db in records
            .iter()
            .filter(|d| matches!(d.state, DatabaseState::Active | DatabaseState::Error))
        {
            let instance = Services::instance_name(db);
            let mut missing = Vec::new();
            if !volumes.contains(&instance) {
                missing.push("volume".to_string());
            }
            if !addresses.contains(&instance) {
                missing.push("address".to_string());
            }
            if svc.settings.ha.is_some() && !groups.contains(&instance) {
                missing.push("ha_group".to_string());
            }
            if !missing.is_empty() {
                report.broken.push(BrokenDatabase {
                    database: db.name.clone(),
                    missing,
                });
            }
        }
        if fix {
            for o in &report.orphans {
                let done = match o.kind.as_str() {
                    "volume" => svc.drivers.volumes.delete(&o.name).await,
                    "ha_group" => svc.drivers.ha.remove(&o.name).await,
                    _ => svc.drivers.addresses.release(&o.name).await,
                };
                match done {
                    Ok(()) => {
                        tracing::info!(kind = %o.kind, name = %o.name, "doctor: removed an orphan");
                        report.removed.push(o.clone());
                    }
                    Err(e) => {
                        tracing::warn!(kind = %o.kind, name = %o.name, error = %e, "doctor: cannot remove an orphan")
                    }
                }
            }
        }
        Ok(report)
    }

    /// The host pool and what the databases placed on it hold.
    pub async fn host_pool(&self) -> Result<Vec<HostPair>, ApiError> {
        let dbs = self
            .inner
            .svc
            .store
            .list_databases()
            .await
            .map_err(store_err)?;
        Ok(placement::pool_use(
            &self.inner.svc.settings.host_pool,
            &dbs,
        ))
    }

    pub async fn connection(&self, name: &str) -> Result<Connection, ApiError> {
        let db = self.find_record(name).await?;
        if db.state != DatabaseState::Active {
            return Err(ApiError::conflict(format!(
                "database {name:?} is {:?}; connection details are given once it is ACTIVE (`dbaas db show {name}`)",
                db.state
            )));
        }
        db.connection()
            .ok_or_else(|| ApiError::conflict(format!("database {name:?} has no address yet")))
    }

    /// Accepts a delete. Deleting a database whose delete is already under
    /// way returns that operation.
    pub async fn delete_database(&self, name: &str) -> Result<Operation, ApiError> {
        let (rec, new) = self.accept_delete(name).await?;
        if new {
            self.enqueue(name, rec.op.id.clone());
        }
        Ok(rec.op)
    }

    /// The accepting half of [`delete_database`], without queueing: the
    /// operation, and whether it is new (false: a delete already under way).
    pub async fn accept_delete(&self, name: &str) -> Result<(OperationRecord, bool), ApiError> {
        self.require_leader()?;
        let db = self.find_record(name).await?;
        let store = &self.inner.svc.store;
        let ops = store.list_operations().await.map_err(store_err)?;
        if let Some(existing) = ops.iter().find(|o| {
            o.op.kind == OperationKind::DeleteDatabase
                && o.op.target == name
                && !o.op.state.is_finished()
                && o.params["db_id"] == db.id.as_str()
        }) {
            return Ok((existing.clone(), false));
        }
        let rec = Self::new_operation(
            OperationKind::DeleteDatabase,
            name,
            &self.inner.delete,
            serde_json::json!({ "db_id": db.id, "previous_state": db.state }),
        );
        store.put_operation(&rec).await.map_err(store_err)?;
        Ok((rec, true))
    }

    /// Accepts growing a database's data volume to `req.size_gb`.
    pub async fn resize_database(
        &self,
        name: &str,
        req: ResizeDatabaseRequest,
    ) -> Result<Operation, ApiError> {
        let rec = self.accept_resize(name, req).await?;
        self.enqueue(name, rec.op.id.clone());
        Ok(rec.op)
    }

    /// The accepting half of [`resize_database`], without queueing.
    pub async fn accept_resize(
        &self,
        name: &str,
        req: ResizeDatabaseRequest,
    ) -> Result<OperationRecord, ApiError> {
        self.require_leader()?;
        validate_name(name)?;
        let size_gb = validate_size_gb(Some(req.size_gb))?;
        let db = self.find_record(name).await?;
        if db.state != DatabaseState::Active {
            return Err(ApiError::conflict(format!(
                "database {name:?} is {:?}; only an ACTIVE database can be resized",
                db.state
            )));
        }
        // Resizes queued before this one count: the size it grows from is
        // the largest one asked for so far.
        let store = &self.inner.svc.store;
        let pending = store
            .list_operations()
            .await
            .map_err(store_err)?
            .into_iter()
            .filter(|o| {
                o.op.kind == OperationKind::ResizeDatabase
                    && o.op.target == name
                    && !o.op.state.is_finished()
                    && o.params["db_id"] == db.id.as_str()
            })
            .filter_map(|o| o.params["size_gb"].as_u64())
            .max()
            .and_then(|v| u32::try_from(v).ok());
        let current = pending.map_or(db.size_gb, |p| p.max(db.size_gb));
        if size_gb <= current {
            return Err(ApiError::invalid(
                "size_gb",
                format!(
                    "size_gb is {size_gb} but {name} is {} GiB{}; volumes only grow: give a larger size",
                    current,
                    if current > db.size_gb { " once the resize under way ends" } else { "" }
                ),
            ));
        }
        let rec = Self::new_operation(
            OperationKind::ResizeDatabase,
            name,
            &self.inner.resize,
            serde_json::json!({ "db_id": db.id, "size_gb": size_gb, "previous_size_gb": db.size_gb }),
        );
        store.put_operation(&rec).await.map_err(store_err)?;
        Ok(rec)
    }

    /// Accepts a SQL job against a database.
    pub async fn submit_sql(&self, name: &str, req: SqlJobRequest) -> Result<Operation, ApiError> {
        let rec = self.accept_sql(name, req).await?;
        self.enqueue(name, rec.op.id.clone());
        Ok(rec.op)
    }

    pub async fn accept_sql(
        &self,
        name: &str,
        req: SqlJobRequest,
    ) -> Result<OperationRecord, ApiError> {
        self.require_leader()?;
        // The name first: without a `database` field it is also the
        // PostgreSQL database, whose error would blame a field not sent.
        validate_name(name)?;
        validate_sql(&req.sql)?;
        let database = req.database.clone().unwrap_or_else(|| name.to_string());
        validate_pg_database(&database)?;
        let db = self.find_record(name).await?;
        if matches!(db.state, DatabaseState::Deleting | DatabaseState::Error) {
            return Err(ApiError::conflict(format!(
                "database {name:?} is {:?}; SQL jobs run on ACTIVE databases only",
                db.state
            )));
        }
        let rec = Self::new_operation(
            OperationKind::RunSql,
            name,
            &self.inner.sql,
            serde_json::json!({ "db_id": db.id, "database": database, "sql": req.sql }),
        );
        self.inner
            .svc
            .store
            .put_operation(&rec)
            .await
            .map_err(store_err)?;
        Ok(rec)
    }

    pub async fn get_sql_job(&self, id: &str) -> Result<SqlJob, ApiError> {
        validate_operation_id(id)?;
        let rec = self
            .inner
            .svc
            .store
            .get_operation(id)
            .await
            .map_err(store_err)?
            .filter(|r| r.op.kind == OperationKind::RunSql)
            .ok_or_else(|| ApiError::not_found(format!("no SQL job with id {id}")))?;
        let output = self
            .inner
            .svc
            .store
            .get_sql_output(id)
            .await
            .map_err(store_err)?;
        Ok(SqlJob {
            id: rec.op.id.clone(),
            target: rec.op.target.clone(),
            database: rec.params["database"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            state: rec.op.state,
            created_at: rec.op.created_at,
            finished_at: rec.op.state.is_finished().then_some(rec.op.updated_at),
            output,
            error: rec.op.error.clone(),
        })
    }

    /// Sets (or, with an empty policy, clears) a database's scheduled
    /// backups and retention. Takes effect at the supervisor's next pass.
    pub async fn set_backup_policy(
        &self,
        name: &str,
        policy: BackupPolicy,
    ) -> Result<Database, ApiError> {
        self.require_leader()?;
        validate_name(name)?;
        validate_backup_policy(&policy)?;
        let empty = policy == BackupPolicy::default();
        let updated = self
            .inner
            .svc
            .store
            .update_database(name, &mut |db| {
                db.backup_policy = (!empty).then(|| policy.clone());
                // A new schedule counts from now, not from the database's
                // creation: no burst of missed backups.
                db.last_scheduled_backup = Some(Utc::now());
                db.updated_at = Utc::now();
            })
            .await
            .map_err(store_err)?
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "no database named {name:?}; `dbaas db list` shows them"
                ))
            })?;
        Ok(self.view(&updated))
    }

    /// Starts the scheduled restore drills that are due: each drills the
    /// newest backup of its database.
    async fn run_verify_schedules(&self, dbs: &[DatabaseRecord]) {
        let now = Utc::now();
        for db in dbs.iter().filter(|d| d.state == DatabaseState::Active) {
            let schedule = db
                .backup_policy
                .as_ref()
                .and_then(|p| p.verify_schedule.as_deref());
            if !due(
                schedule,
                db.last_scheduled_verify.unwrap_or(db.created_at),
                now,
            ) {
                continue;
            }
            let _ = self
                .inner
                .svc
                .store
                .update_database(&db.name, &mut |d| d.last_scheduled_verify = Some(now))
                .await;
            let newest = dbaas_backup::list_backups(self.inner.svc.backups.as_ref(), &db.name)
                .await
                .ok()
                .and_then(|l| l.into_iter().rev().find(|m| m.database_id == db.id));
            if let Some(m) = newest {
                match self.verify_backup(&m.id).await {
                    Ok(op) => {
                        tracing::info!(db = %db.name, backup = %m.id, op = %op.id, "scheduled restore drill started")
                    }
                    Err(e) => {
                        tracing::warn!(db = %db.name, error = %e, "scheduled restore drill not started")
                    }
                }
            }
        }
    }

    /// Starts the scheduled backups that are due.
    async fn run_schedules(&self, dbs: &[DatabaseRecord]) {
        let now = Utc::now();
        for db in dbs.iter().filter(|d| d.state == DatabaseState::Active) {
            let schedule = db
                .backup_policy
                .as_ref()
                .and_then(|p| p.schedule.as_deref());
            if !due(
                schedule,
                db.last_scheduled_backup.unwrap_or(db.created_at),
                now,
            ) {
                continue;
            }
            // One scheduled backup at a time: a slow one is not stacked.
            let pending = self
                .inner
                .svc
                .store
                .list_operations()
                .await
                .ok()
                .is_some_and(|ops| {
                    ops.iter().any(|o| {
                        o.op.kind == OperationKind::CreateBackup
                            && o.op.target == db.name
                            && !o.op.state.is_finished()
                    })
                });
            if pending {
                continue;
            }
            let _ = self
                .inner
                .svc
                .store
                .update_database(&db.name, &mut |d| d.last_scheduled_backup = Some(now))
                .await;
            match self.backup_database(&db.name).await {
                Ok(op) => tracing::info!(db = %db.name, op = %op.id, "scheduled backup started"),
                Err(e) => tracing::warn!(db = %db.name, error = %e, "scheduled backup not started"),
            }
        }
    }

    /// Removes the backups a database's policy no longer keeps (as delete
    /// operations), and the archived WAL that only they needed. The newest
    /// backup is always kept.
    async fn apply_retention(&self, name: &str) {
        let svc = &self.inner.svc;
        let Ok(Some(db)) = svc.store.get_database(name).await else {
            return;
        };
        let Some(policy) = db.backup_policy.clone().filter(|p| p.prunes()) else {
            return;
        };
        let Ok(all) = dbaas_backup::list_backups(svc.backups.as_ref(), name).await else {
            return;
        };
        let mine: Vec<_> = all.into_iter().filter(|m| m.database_id == db.id).collect();
        let now = Utc::now();
        let n = mine.len();
        let kept = |i: usize, m: &dbaas_backup::BackupManifest| {
            i + 1 == n
                || policy.keep_last.is_some_and(|k| i + (k as usize) >= n)
                || policy
                    .keep_days
                    .is_some_and(|d| m.finished_at >= now - chrono::Duration::days(d as i64))
        };
        let mut oldest_kept = None;
        for (i, m) in mine.iter().enumerate() {
            if kept(i, m) {
                oldest_kept.get_or_insert(m);
                continue;
            }
            match self.delete_backup(&m.id).await {
                Ok(op) => {
                    tracing::info!(db = name, backup = %m.id, op = %op.id, "retention: deleting backup")
                }
                Err(e) => {
                    tracing::warn!(db = name, backup = %m.id, error = %e, "retention: cannot delete backup")
                }
            }
        }
        let Some(oldest) = oldest_kept else {
            return;
        };
        let Ok(first_needed) = dbaas_backup::wal::segment_of(oldest.timeline, &oldest.start_lsn)
        else {
            return;
        };
        match dbaas_backup::wal::prune(svc.backups.as_ref(), name, &db.id, &first_needed).await {
            Ok(0) => {}
            Ok(removed) => {
                tracing::info!(db = name, removed, before = %first_needed, "retention: removed WAL no backup needs")
            }
            Err(e) => tracing::warn!(db = name, error = %e, "retention: cannot remove old WAL"),
        }
    }

    /// Accepts a base backup of a database. The backup's id is the
    /// operation's id.
    pub async fn backup_database(&self, name: &str) -> Result<Operation, ApiError> {
        let rec = self.accept_backup(name).await?;
        self.enqueue(name, rec.op.id.clone());
        Ok(rec.op)
    }

    pub async fn accept_backup(&self, name: &str) -> Result<OperationRecord, ApiError> {
        self.require_leader()?;
        let db = self.find_record(name).await?;
        if matches!(db.state, DatabaseState::Deleting | DatabaseState::Error) {
            return Err(ApiError::conflict(format!(
                "database {name:?} is {:?}; backups are taken of ACTIVE databases",
                db.state
            )));
        }
        let rec = Self::new_operation(
            OperationKind::CreateBackup,
            name,
            &self.inner.backup,
            serde_json::json!({ "db_id": db.id }),
        );
        self.inner
            .svc
            .store
            .put_operation(&rec)
            .await
            .map_err(store_err)?;
        Ok(rec)
    }

    /// Backups of the database named `name`, of every incarnation of that
    /// name, oldest first. Backups outlive their database.
    pub async fn list_backups(
        &self,
        name: &str,
        store: Option<&str>,
    ) -> Result<Vec<Backup>, ApiError> {
        validate_name(name)?;
        let backups = self
            .inner
            .svc
            .backup_store(store)
            .map_err(|e| ApiError::invalid("store", e))?;
        let manifests = dbaas_backup::list_backups(backups.as_ref(), name)
            .await
            .map_err(|e| {
                ApiError::new(
                    ErrorCode::Unavailable,
                    format!("reading the backup store: {e}"),
                )
            })?;
        if manifests.is_empty()
            && store.is_none()
            && self
                .inner
                .svc
                .store
                .get_database(name)
                .await
                .map_err(store_err)?
                .is_none()
        {
            return Err(ApiError::not_found(format!(
                "no database and no backups named {name:?}"
            )));
        }
        Ok(manifests.iter().map(backup_view).collect())
    }

    async fn find_backup(
        &self,
        id: &str,
    ) -> Result<(String, dbaas_backup::BackupManifest), ApiError> {
        validate_operation_id(id)?;
        let store = self.inner.svc.backups.as_ref();
        let unavailable = |e: dbaas_backup::BackupError| {
            ApiError::new(
                ErrorCode::Unavailable,
                format!("reading the backup store: {e}"),
            )
        };
        let name = dbaas_backup::find_manifest_name(store, id)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| ApiError::not_found(format!("no backup with id {id} in the store")))?;
        let m = dbaas_backup::read_manifest(store, &name)
            .await
            .map_err(|e| ApiError::conflict(e.to_string()))?;
        Ok((name, m))
    }

    pub async fn get_backup(&self, id: &str) -> Result<Backup, ApiError> {
        let (_, m) = self.find_backup(id).await?;
        let mut view = backup_view(&m);
        view.verification =
            dbaas_backup::verify::read_verification(self.inner.svc.backups.as_ref(), &m)
                .await
                .map(|v| BackupVerification {
                    verified_at: v.verified_at,
                    ok: v.ok,
                    detail: v.detail,
                });
        Ok(view)
    }

    /// Accepts a restore drill of a backup.
    pub async fn verify_backup(&self, id: &str) -> Result<Operation, ApiError> {
        let rec = self.accept_verify(id).await?;
        self.enqueue(&rec.op.target, rec.op.id.clone());
        Ok(rec.op)
    }

    pub async fn accept_verify(&self, id: &str) -> Result<OperationRecord, ApiError> {
        self.require_leader()?;
        let (name, m) = self.find_backup(id).await?;
        let rec = Self::new_operation(
            OperationKind::VerifyBackup,
            &m.database,
            &self.inner.verify,
            serde_json::json!({ "backup_id": m.id, "manifest": name, "version": m.version }),
        );
        self.inner
            .svc
            .store
            .put_operation(&rec)
            .await
            .map_err(store_err)?;
        Ok(rec)
    }

    /// Accepts the deletion of a backup.
    pub async fn delete_backup(&self, id: &str) -> Result<Operation, ApiError> {
        let rec = self.accept_delete_backup(id).await?;
        self.enqueue(&rec.op.target, rec.op.id.clone());
        Ok(rec.op)
    }

    pub async fn accept_delete_backup(&self, id: &str) -> Result<OperationRecord, ApiError> {
        self.require_leader()?;
        let (_, m) = self.find_backup(id).await?;
        let rec = Self::new_operation(
            OperationKind::DeleteBackup,
            &m.database,
            &self.inner.delete_backup,
            serde_json::json!({
                "backup_id": m.id,
                "prefix": dbaas_backup::backup_prefix(&m.database, &m.database_id, &m.id),
            }),
        );
        self.inner
            .svc
            .store
            .put_operation(&rec)
            .await
            .map_err(store_err)?;
        Ok(rec)
    }

    /// Accepts a restore of a backup of `req.from` into a new database
    /// `name`.
    pub async fn restore_database(
        &self,
        name: &str,
        req: RestoreDatabaseRequest,
    ) -> Result<Operation, ApiError> {
        let rec = self.accept_restore(name, req).await?;
        self.enqueue(name, rec.op.id.clone());
        Ok(rec.op)
    }

    pub async fn accept_restore(
        &self,
        name: &str,
        req: RestoreDatabaseRequest,
    ) -> Result<OperationRecord, ApiError> {
        self.require_leader()?;
        validate_name(name)?;
        validate_name(&req.from).map_err(|mut e| {
            e.field = Some("from".into());
            e
        })?;
        if let Some(b) = &req.backup {
            validate_operation_id(b).map_err(|mut e| {
                e.field = Some("backup".into());
                e
            })?;
        }
        let size_gb = validate_size_gb(req.size_gb)?;
        if req.target_time.is_some() && req.target_lsn.is_some() {
            return Err(ApiError::invalid(
                "target_lsn",
                "give target_time or target_lsn, not both",
            ));
        }
        let target_lsn = match &req.target_lsn {
            Some(l) => Some(parse_lsn(l).ok_or_else(|| {
                ApiError::invalid(
                    "target_lsn",
                    format!("{l:?} is not a WAL position; they look like 0/3000060"),
                )
            })?),
            None => None,
        };
        // With a target, only backups that end before it can reach it.
        let reaches = |m: &dbaas_backup::BackupManifest| match (req.target_time, target_lsn) {
            (Some(t), _) => m.finished_at <= t,
            (_, Some(l)) => parse_lsn(&m.stop_lsn).is_some_and(|s| s <= l),
            _ => true,
        };
        let svc = &self.inner.svc;
        let store = svc
            .backup_store(req.store.as_deref())
            .map_err(|e| ApiError::invalid("store", e))?;
        let manifests = dbaas_backup::list_backups(store.as_ref(), &req.from)
            .await
            .map_err(|e| {
                ApiError::new(
                    ErrorCode::Unavailable,
                    format!("reading the backup store: {e}"),
                )
            })?;
        let manifest = match &req.backup {
            Some(id) => match manifests.into_iter().find(|m| &m.id == id) {
                Some(m) => m,
                None => {
                    // Listed backups skip damaged manifests; asked for by
                    // id, say what is wrong with it.
                    if let Ok(Some(name)) =
                        dbaas_backup::find_manifest_name(store.as_ref(), id).await
                    {
                        if let Err(e) = dbaas_backup::read_manifest(store.as_ref(), &name).await {
                            return Err(ApiError::conflict(e.to_string()));
                        }
                    }
                    return Err(ApiError::not_found(format!(
                        "no backup {id} of database {:?} in the store; `dbaas backup list {}` shows them",
                        req.from, req.from
                    )));
                }
            },
            None => {
                let any = !manifests.is_empty();
                manifests.into_iter().rev().find(|m| reaches(m)).ok_or_else(|| {
                    if any {
                        ApiError::conflict(format!(
                            "no backup of database {:?} ends before the target; choose a later target",
                            req.from
                        ))
                    } else {
                        ApiError::not_found(format!(
                            "no backup of database {:?} in the store",
                            req.from
                        ))
                    }
                })?
            }
        };
        if !reaches(&manifest) {
            return Err(ApiError::conflict(format!(
                "backup {} ends after the target; choose an earlier backup or a later target",
                manifest.id
            )));
        }
        if !svc
            .drivers
            .runtime
            .versions(&manifest.engine)
            .contains(&manifest.version)
        {
            return Err(ApiError::conflict(format!(
                "backup {} is of {} {}, which this agent cannot run",
                manifest.id, manifest.engine, manifest.version
            )));
        }
        let now = Utc::now();
        let db_id = uuid::Uuid::new_v4().to_string();
        let rec = Self::new_operation(
            OperationKind::RestoreDatabase,
            name,
            &self.inner.restore,
            serde_json::json!({
                "db_id": db_id,
                "backup_id": manifest.id,
                "manifest": dbaas_backup::manifest_name(&manifest.database, &manifest.database_id, &manifest.id),
                "source_database": manifest.database,
                "target_time": req.target_time,
                "target_lsn": req.target_lsn,
                "store": req.store,
            }),
        );
        let db = DatabaseRecord {
            name: name.to_string(),
            id: db_id,
            engine: manifest.engine.clone(),
            version: manifest.version.clone(),
            size_gb,
            state: DatabaseState::Build,
            endpoint: None,
            owner_password: new_password(),
            created_at: now,
            updated_at: now,
            error: None,
            created_by: rec.op.id.clone(),
            backup_policy: None,
            last_scheduled_backup: None,
            last_scheduled_verify: None,
            host_pair: None,
        };
        match svc.store.insert_database_with_operation(&db, &rec).await {
            Ok(()) => Ok(rec),
            Err(StoreError::AlreadyExists(_)) => Err(ApiError::conflict(format!(
                "a database named {name:?} already exists; restore into a new name"
            ))),
            Err(e) => Err(store_err(e)),
        }
    }

    pub async fn get_operation(&self, id: &str) -> Result<Operation, ApiError> {
        validate_operation_id(id)?;
        self.inner
            .svc
            .store
            .get_operation(id)
            .await
            .map_err(store_err)?
            .map(|r| r.op)
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "no operation with id {id}; `dbaas op list` shows them"
                ))
            })
    }

    /// Operations, newest first, optionally only those on one database.
    pub async fn list_operations(&self, target: Option<&str>) -> Result<Vec<Operation>, ApiError> {
        if let Some(t) = target {
            validate_name(t)?;
        }
        let mut ops: Vec<Operation> = self
            .inner
            .svc
            .store
            .list_operations()
            .await
            .map_err(store_err)?
            .into_iter()
            .map(|r| r.op)
            .filter(|o| target.is_none_or(|t| o.target == t))
            .collect();
        ops.reverse();
        Ok(ops)
    }

    /// The reconciliation loop for engines: every ACTIVE database with no
    /// operation under way should have a running engine. A dead engine is
    /// restarted; a running one (also one found after the agent restarted)
    /// is adopted as it is.
    async fn supervise(&self) {
        let interval = self.inner.svc.settings.supervise_interval;
        loop {
            // Only the leader supervises: a follower's view of the engines
            // would fight the leader's.
            if self.is_leader() {
                self.supervise_once().await;
            }
            tokio::time::sleep(interval).await;
        }
    }

    /// One pass of the supervisor.
    pub async fn supervise_once(&self) {
        let svc = &self.inner.svc;
        let dbs = match svc.store.list_databases().await {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "supervisor cannot read databases");
                return;
            }
        };
        let names: Vec<String> = dbs.iter().map(|d| d.name.clone()).collect();
        self.inner
            .observed
            .write()
            .unwrap()
            .retain(|k, _| names.contains(k));
        self.inner
            .archiving
            .write()
            .unwrap()
            .retain(|k, _| names.contains(k));
        self.run_schedules(&dbs).await;
        self.run_verify_schedules(&dbs).await;
        for db in dbs.iter().filter(|d| d.state == DatabaseState::Active) {
            // Resolved once per pass for both archiving and the health check.
            let spec = match svc.spec(db).await {
                Ok(spec) => spec,
                Err(e) => {
                    tracing::warn!(db = %db.name, error = %e, "engine check failed");
                    self.inner
                        .observed
                        .write()
                        .unwrap()
                        .insert(db.name.clone(), OperatingStatus::Offline);
                    continue;
                }
            };
            if let Some(spec) = &spec {
                self.archive_wal(db, spec).await;
            }
            if self.is_busy(&db.name) {
                continue;
            }
            let status = match svc.observe_engine(&db.name, spec.as_ref()).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(db = %db.name, error = %e, "engine check failed");
                    OperatingStatus::Offline
                }
            };
            self.inner
                .observed
                .write()
                .unwrap()
                .insert(db.name.clone(), status);
        }
    }
}

impl ControlPlane {
    /// Ships the WAL files a database's engine left in its spool to the
    /// backup store, oldest first, and records the archive's lag. Runs
    /// beside other operations on the database: WAL keeps coming.
    async fn archive_wal(&self, db: &DatabaseRecord, spec: &dbaas_drivers::EngineSpec) {
        let svc = &self.inner.svc;
        let Some(spool) = svc.drivers.runtime.wal_spool(spec) else {
            return;
        };
        let mut status = self
            .inner
            .archiving
            .read()
            .unwrap()
            .get(&db.name)
            .cloned()
            .unwrap_or_default();
        status.last_error = None;
        for file in dbaas_backup::wal::spooled(&spool) {
            let name = file
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            match dbaas_backup::wal::push(svc.backups.as_ref(), &db.name, &db.id, &file).await {
                Ok(()) => {
                    status.last_archived = Some(name);
                    status.last_archived_at = Some(Utc::now());
                }
                Err(e) => {
                    tracing::warn!(db = %db.name, error = %e, "archiving WAL failed; retrying");
                    status.last_error = Some(e.to_string());
                    break;
                }
            }
        }
        let left = dbaas_backup::wal::spooled(&spool);
        self.close_stale_wal(db, spec, &status, &left).await;
        status.pending_files = left.len();
        status.oldest_pending_seconds = left.first().and_then(|f| {
            let age = std::fs::metadata(f).ok()?.modified().ok()?.elapsed().ok()?;
            Some(age.as_secs())
        });
        self.inner
            .archiving
            .write()
            .unwrap()
            .insert(db.name.clone(), status);
    }
}

impl ControlPlane {
    /// Enforces archive_timeout from outside the engine: when the WAL file
    /// holding a database's last write has stayed unarchived for longer
    /// than the timeout, it is closed (`pg_switch_wal`) so that the engine
    /// archives it. PostgreSQL does this itself, but a promoted or
    /// restored server has been seen not to, leaving committed work out
    /// of the archive until a whole segment fills. An idle database has
    /// nothing unarchived, and is left alone.
    async fn close_stale_wal(
        &self,
        db: &DatabaseRecord,
        spec: &dbaas_drivers::EngineSpec,
        status: &WalArchiveStatus,
        spooled: &[std::path::PathBuf],
    ) {
        let svc = &self.inner.svc;
        let Some(timeout) = svc.settings.archive_timeout else {
            return;
        };
        let Ok(access) = svc.drivers.runtime.admin_access(spec).await else {
            return;
        };
        let Ok(file) = dbaas_postgres::last_written_wal_file(&access).await else {
            return;
        };
        // WAL file names of one timeline sort in write order.
        let archived = status
            .last_archived
            .as_deref()
            .is_some_and(|l| l.len() >= 24 && l[..24] >= *file.as_str())
            || spooled
                .iter()
                .any(|p| p.file_name().is_some_and(|n| n.to_string_lossy() == file));
        let due = {
            let mut seen = self.inner.unclosed_wal.lock().unwrap();
            if archived {
                seen.remove(&db.name);
                false
            } else {
                let now = std::time::Instant::now();
                let entry = seen.entry(db.name.clone()).or_insert((file.clone(), now));
                if entry.0 != file {
                    *entry = (file.clone(), now);
                }
                entry.1.elapsed() >= timeout
            }
        };
        if due {
            match dbaas_postgres::switch_wal(&access).await {
                Ok(()) => {
                    tracing::info!(db = %db.name, wal = %file, "closed a WAL file left open past archive_timeout");
                    self.inner.unclosed_wal.lock().unwrap().remove(&db.name);
                }
                Err(e) => {
                    tracing::warn!(db = %db.name, error = %e, "cannot close the current WAL file")
                }
            }
        }
    }
}

/// True when a cron `schedule` (if any) has fired since `since`.
fn due(schedule: Option<&str>, since: chrono::DateTime<Utc>, now: chrono::DateTime<Utc>) -> bool {
    schedule
        .and_then(|s| next_scheduled(s, since))
        .is_some_and(|next| next <= now)
}

/// "X/Y" (hex) as a 64-bit WAL position.
fn parse_lsn(s: &str) -> Option<u64> {
    let (hi, lo) = s.split_once('/')?;
    if hi.is_empty() || lo.is_empty() || hi.len() > 8 || lo.len() > 8 {
        return None;
    }
    Some((u64::from_str_radix(hi, 16).ok()? << 32) | u64::from_str_radix(lo, 16).ok()?)
}

fn backup_view(m: &dbaas_backup::BackupManifest) -> Backup {
    Backup {
        id: m.id.clone(),
        database: m.database.clone(),
        database_id: m.database_id.clone(),
        engine: m.engine.clone(),
        version: m.version.clone(),
        system_identifier: m.system_identifier.clone(),
        timeline: m.timeline,
        start_lsn: m.start_lsn.clone(),
        stop_lsn: m.stop_lsn.clone(),
        started_at: m.started_at,
        finished_at: m.finished_at,
        raw_bytes: m.raw_bytes,
        stored_bytes: m.stored_bytes(),
        segments: m.segments.len(),
        compression: format!("{}-{}", m.compression.algorithm, m.compression.level),
        verification: None,
    }
}

/// Where the agent's files live under its data directory.
pub fn connections_dir(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join("connections")
}

/// Delay before a failed unwind is tried again.
const UNDO_RETRY: Duration = Duration::from_secs(10);
