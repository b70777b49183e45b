//! The sagas: create a database, delete it, run a SQL job.
//!
//! Each saga is an enum of its steps; `run` and `undo` match on it. Steps
//! find what they act on by the database's name *and* id (given in the
//! operation's parameters), so a step re-run after a crash acts on the same
//! incarnation of a database even if the name was reused since.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use dbaas_model::{DatabaseRecord, DatabaseState, SqlOutput};
use dbaas_saga::{SagaDef, Step, StepCtx, StepError};
use serde_json::{json, Value};

use crate::services::{driver_err, Services};

impl Services {
    /// The database an operation acts on, when it still exists.
    async fn find_db(&self, s: &StepCtx<'_>) -> Result<Option<DatabaseRecord>, StepError> {
        let id = s.params()["db_id"].as_str().unwrap_or_default();
        let db = self
            .store
            .get_database(s.target())
            .await
            .map_err(|e| StepError::new(e.to_string()))?;
        Ok(db.filter(|d| d.id == id))
    }

    async fn db(&self, s: &StepCtx<'_>) -> Result<DatabaseRecord, StepError> {
        self.find_db(s)
            .await?
            .ok_or_else(|| StepError::new(format!("database {} no longer exists", s.target())))
    }

    async fn set_state(&self, s: &StepCtx<'_>, state: DatabaseState) -> Result<(), StepError> {
        let id = s.params()["db_id"].as_str().unwrap_or_default().to_string();
        self.store
            .update_database(s.target(), &mut |d| {
                if d.id == id {
                    d.state = state;
                    d.error = None;
                    d.updated_at = Utc::now();
                }
            })
            .await
            .map_err(|e| StepError::new(e.to_string()))?;
        Ok(())
    }
}

fn store_err(e: dbaas_store::StoreError) -> StepError {
    StepError::new(e.to_string())
}

/// Steps of creating a database.
#[derive(Debug, Clone, Copy)]
pub enum CreateStep {
    /// The name was reserved when the request was accepted; undo frees it.
    ReserveName,
    /// A host pair of the pool takes the database (its capacity is held
    /// by the record from then on); nothing without a pool.
    PlaceDatabase,
    AllocateAddress,
    CreateVolume,
    /// The pair's cluster manager takes the volume, file systems and
    /// floating IP under its control (nothing without `drivers.ha`).
    EnsureHaGroup,
    InitializeEngine,
    StartEngine,
    CreateOwner,
    PublishConnection,
    MarkActive,
    /// Restore only: the data directory comes from a backup.
    RestoreData,
    /// Restore only: the source's owner role and database take the new
    /// database's name and a new password.
    AdoptOwner,
}

/// Restoring a backup into a new database: the create saga with the data
/// coming from the backup and the owner adopted from it.
pub fn restore_saga() -> SagaDef<Services> {
    use CreateStep::*;
    SagaDef {
        name: "restore_database",
        steps: [
            ReserveName,
            PlaceDatabase,
            AllocateAddress,
            CreateVolume,
            EnsureHaGroup,
            RestoreData,
            StartEngine,
            AdoptOwner,
            PublishConnection,
            MarkActive,
        ]
        .into_iter()
        .map(|s| Arc::new(s) as Arc<dyn Step<Services>>)
        .collect(),
    }
}

pub fn create_saga() -> SagaDef<Services> {
    use CreateStep::*;
    SagaDef {
        name: "create_database",
        steps: [
            ReserveName,
            PlaceDatabase,
            AllocateAddress,
            CreateVolume,
            EnsureHaGroup,
            InitializeEngine,
            StartEngine,
            CreateOwner,
            PublishConnection,
            MarkActive,
        ]
        .into_iter()
        .map(|s| Arc::new(s) as Arc<dyn Step<Services>>)
        .collect(),
    }
}

#[async_trait]
impl Step<Services> for CreateStep {
    fn name(&self) -> &'static str {
        match self {
            CreateStep::ReserveName => "reserve_name",
            CreateStep::PlaceDatabase => "place_database",
            CreateStep::AllocateAddress => "allocate_address",
            CreateStep::CreateVolume => "create_volume",
            CreateStep::EnsureHaGroup => "ensure_ha_group",
            CreateStep::InitializeEngine => "initialize_engine",
            CreateStep::StartEngine => "start_engine",
            CreateStep::CreateOwner => "create_owner",
            CreateStep::PublishConnection => "publish_connection",
            CreateStep::MarkActive => "mark_active",
            CreateStep::RestoreData => "restore_data",
            CreateStep::AdoptOwner => "adopt_owner",
        }
    }

    async fn run(&self, svc: &Services, s: &StepCtx<'_>) -> Result<Value, StepError> {
        let db = svc.db(s).await?;
        let instance = Services::instance_name(&db);
        let d = &svc.drivers;
        match self {
            CreateStep::ReserveName => Ok(json!({ "instance": instance })),
            CreateStep::PlaceDatabase => {
                if svc.settings.host_pool.pairs().is_empty() {
                    return Ok(Value::Null);
                }
                let _held = svc.placement_lock.lock().await;
                // A re-run keeps the pair chosen before.
                let pair = match svc.db(s).await?.host_pair {
                    Some(p) => p,
                    None => {
                        let all = svc.store.list_databases().await.map_err(store_err)?;
                        crate::placement::place(&svc.settings.host_pool, &all, db.size_gb)
                            .map_err(StepError::new)?
                    }
                };
                let chosen = pair.clone();
                svc.store
                    .update_database(&db.name, &mut |r| {
                        if r.id == db.id {
                            r.host_pair = Some(chosen.clone());
                        }
                    })
                    .await
                    .map_err(store_err)?;
                Ok(json!({ "host_pair": pair }))
            }
            CreateStep::AllocateAddress => {
                let ep = d.addresses.ensure(&instance).await.map_err(driver_err)?;
                // Clients reach the database through its pair's VIP port.
                // Under a cluster manager, its floating-IP resource points
                // the address at the node holding the group instead.
                let vip_port = db
                    .host_pair
                    .as_ref()
                    .and_then(|p| svc.settings.host_pairs.get(p))
                    .map(|p| p.vip_port_id.as_str())
                    .filter(|p| !p.is_empty() && svc.settings.ha.is_none());
                if let Some(port) = vip_port {
                    d.addresses
                        .attach(&instance, port)
                        .await
                        .map_err(driver_err)?;
                }
                let ep2 = ep.clone();
                svc.store
                    .update_database(&db.name, &mut |r| {
                        if r.id == db.id {
                            r.endpoint = Some(ep2.clone());
                        }
                    })
                    .await
                    .map_err(store_err)?;
                Ok(json!({ "host": ep.host, "port": ep.port }))
            }
            CreateStep::CreateVolume => {
                let v = d
                    .volumes
                    .ensure(&instance, db.size_gb, s.op_id())
                    .await
                    .map_err(driver_err)?;
                Ok(json!({ "volume": v.id }))
            }
            CreateStep::EnsureHaGroup => match ha_group(svc, &db).await? {
                Some(group) => {
                    d.ha.ensure(&group).await.map_err(driver_err)?;
                    Ok(json!({ "group": group.database, "pair": group.pair.id }))
                }
                None => Ok(Value::Null),
            },
            CreateStep::InitializeEngine => {
                let spec = need_spec(svc, &db).await?;
                d.runtime
                    .ensure_initialized(&spec)
                    .await
                    .map_err(driver_err)?;
                Ok(Value::Null)
            }
            CreateStep::StartEngine => {
                let spec = need_spec(svc, &db).await?;
                d.runtime.ensure_running(&spec).await.map_err(driver_err)?;
                Ok(Value::Null)
            }
            CreateStep::CreateOwner => {
                let spec = need_spec(svc, &db).await?;
                let access = d.runtime.admin_access(&spec).await.map_err(driver_err)?;
                dbaas_postgres::ensure_owner(&access, &db.name, &db.name, &db.owner_password)
                    .await
                    .map_err(|e| {
                        StepError::new(format!("creating the owner role and database: {e}"))
                    })?;
                Ok(json!({ "database": db.name, "owner": db.name }))
            }
            CreateStep::PublishConnection => {
                svc.write_connection_file(&db)?;
                Ok(json!({ "file": svc.connection_file(&db.name) }))
            }
            CreateStep::MarkActive => {
                svc.set_state(s, DatabaseState::Active).await?;
                Ok(Value::Null)
            }
            CreateStep::RestoreData => {
                let spec = need_spec(svc, &db).await?;
                restore_data(svc, s, &spec).await?;
                d.runtime
                    .ensure_initialized(&spec)
                    .await
                    .map_err(driver_err)?;
                Ok(Value::Null)
            }
            CreateStep::AdoptOwner => {
                let spec = need_spec(svc, &db).await?;
                let access = d.runtime.admin_access(&spec).await.map_err(driver_err)?;
                let source = s.params()["source_database"].as_str().unwrap_or_default();
                dbaas_postgres::adopt_owner(&access, source, &db.name, &db.owner_password)
                    .await
                    .map_err(|e| {
                        StepError::new(format!("taking over the restored owner and database: {e}"))
                    })?;
                // Recovery is over: its settings and fetched WAL go.
                dbaas_postgres::clear_recovery_settings(&access)
                    .await
                    .map_err(|e| StepError::new(format!("clearing the recovery settings: {e}")))?;
                let _ = std::fs::remove_dir_all(spec.volume.mount_path.join("wal-restore"));
                Ok(json!({ "database": db.name, "owner": db.name }))
            }
        }
    }

    async fn undo(&self, svc: &Services, s: &StepCtx<'_>) -> Result<(), StepError> {
        // The record goes last (ReserveName), so every other undo can still
        // derive the instance name from it.
        let Some(db) = svc.find_db(s).await? else {
            return Ok(());
        };
        let instance = Services::instance_name(&db);
        let d = &svc.drivers;
        match self {
            CreateStep::ReserveName => svc
                .store
                .remove_database(&db.name, &db.id)
                .await
                .map_err(store_err),
            // The pair's capacity is free again once the record names it
            // no more.
            CreateStep::PlaceDatabase => svc
                .store
                .update_database(&db.name, &mut |r| {
                    if r.id == db.id {
                        r.host_pair = None;
                    }
                })
                .await
                .map(|_| ())
                .map_err(store_err),
            CreateStep::AllocateAddress => {
                d.addresses.release(&instance).await.map_err(driver_err)?;
                svc.store
                    .update_database(&db.name, &mut |r| {
                        if r.id == db.id {
                            r.endpoint = None;
                        }
                    })
                    .await
                    .map_err(store_err)?;
                Ok(())
            }
            CreateStep::CreateVolume => d.volumes.delete(&instance).await.map_err(driver_err),
            CreateStep::EnsureHaGroup => d.ha.remove(&instance).await.map_err(driver_err),
            CreateStep::InitializeEngine => match svc.spec(&db).await? {
                Some(spec) => d.runtime.destroy(&spec).await.map_err(driver_err),
                None => Ok(()),
            },
            CreateStep::StartEngine => match svc.spec(&db).await? {
                Some(spec) => d.runtime.stop(&spec).await.map_err(driver_err),
                None => Ok(()),
            },
            // The role and database live in the engine's data, which the
            // volume's undo removes.
            CreateStep::CreateOwner => Ok(()),
            CreateStep::PublishConnection => svc.remove_connection_file(&db.name),
            CreateStep::MarkActive => {
                svc.set_state(s, DatabaseState::Build).await?;
                Ok(())
            }
            CreateStep::RestoreData => match svc.spec(&db).await? {
                Some(spec) => d.runtime.destroy(&spec).await.map_err(driver_err),
                None => Ok(()),
            },
            // Inside the engine's data, which the volume's undo removes.
            CreateStep::AdoptOwner => Ok(()),
        }
    }
}

/// The resource group of `db` on its pair, when a cluster manager keeps
/// databases on their pairs (`drivers.ha`); its volume and floating IP
/// must exist.
async fn ha_group(
    svc: &Services,
    db: &DatabaseRecord,
) -> Result<Option<dbaas_drivers::ha::HaGroup>, StepError> {
    let Some(pm) = &svc.settings.ha else {
        return Ok(None);
    };
    let instance = Services::instance_name(db);
    let pair_id = db
        .host_pair
        .clone()
        .ok_or_else(|| StepError::new(format!("{} is placed on no host pair", db.name)))?;
    let pair =
        svc.settings.host_pairs.get(&pair_id).ok_or_else(|| {
            StepError::new(format!("host pair {pair_id:?} is no longer configured"))
        })?;
    let (server_ids, subnet_id) = crate::ha::pair_ids(&pair_id, pair).map_err(StepError::new)?;
    let d = &svc.drivers;
    let volume = d
        .volumes
        .find(&instance)
        .await
        .map_err(driver_err)?
        .ok_or_else(|| StepError::new(format!("the volume of {} is missing", db.name)))?;
    let endpoint = d
        .addresses
        .find(&instance)
        .await
        .map_err(driver_err)?
        .ok_or_else(|| StepError::new(format!("the address of {} is missing", db.name)))?;
    let address = endpoint.host.parse().map_err(|_| {
        StepError::new(format!(
            "the address of {} is not an IP address: {}",
            db.name, endpoint.host
        ))
    })?;
    let fip_id = d
        .addresses
        .cloud_id(&instance)
        .await
        .map_err(driver_err)?
        .ok_or_else(|| {
            StepError::new(
                "the address driver gives no floating IP id for the cluster to move: drivers.ha = \"pacemaker\" needs drivers.addresses = \"neutron\"",
            )
        })?;
    Ok(Some(crate::ha::group(
        pm,
        &pair_id,
        pair,
        server_ids,
        subnet_id,
        &instance,
        &volume.id,
        (fip_id, address),
    )))
}

async fn need_spec(
    svc: &Services,
    db: &DatabaseRecord,
) -> Result<dbaas_drivers::EngineSpec, StepError> {
    svc.spec(db)
        .await?
        .ok_or_else(|| StepError::new(format!("the volume or address of {} is missing", db.name)))
}

/// Steps of growing a database's data volume. The database keeps serving
/// throughout (volumes grow online). Nothing here can be undone — a volume
/// never shrinks — so a failure leaves the operation FAILED with its error
/// and the database as it was; a new resize retries (each step is
/// idempotent: a volume already so large is success).
#[derive(Debug, Clone, Copy)]
pub enum ResizeStep {
    ExtendVolume,
    RecordSize,
}

pub fn resize_saga() -> SagaDef<Services> {
    use ResizeStep::*;
    SagaDef {
        name: "resize_database",
        steps: [ExtendVolume, RecordSize]
            .into_iter()
            .map(|s| Arc::new(s) as Arc<dyn Step<Services>>)
            .collect(),
    }
}

/// The size an operation grows its database to.
fn requested_size(s: &StepCtx<'_>) -> Result<u32, StepError> {
    s.params()["size_gb"]
        .as_u64()
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| StepError::new("the operation names no size to grow to"))
}

#[async_trait]
impl Step<Services> for ResizeStep {
    fn name(&self) -> &'static str {
        match self {
            ResizeStep::ExtendVolume => "extend_volume",
            ResizeStep::RecordSize => "record_size",
        }
    }

    fn reversible(&self) -> bool {
        false
    }

    async fn run(&self, svc: &Services, s: &StepCtx<'_>) -> Result<Value, StepError> {
        let db = svc.db(s).await?;
        let size_gb = requested_size(s)?;
        match self {
            ResizeStep::ExtendVolume => {
                let instance = Services::instance_name(&db);
                let v = svc
                    .drivers
                    .volumes
                    .extend(&instance, size_gb)
                    .await
                    .map_err(driver_err)?;
                Ok(json!({ "volume": v.id, "size_gb": v.size_gb }))
            }
            ResizeStep::RecordSize => {
                svc.store
                    .update_database(&db.name, &mut |r| {
                        if r.id == db.id && r.size_gb < size_gb {
                            r.size_gb = size_gb;
                            r.updated_at = Utc::now();
                        }
                    })
                    .await
                    .map_err(store_err)?;
                Ok(json!({ "size_gb": size_gb }))
            }
        }
    }

    async fn undo(&self, _svc: &Services, _s: &StepCtx<'_>) -> Result<(), StepError> {
        Err(StepError::new(
            "a volume cannot shrink: a grown volume stays grown",
        ))
    }
}

/// Steps of deleting a database. From `destroy_engine` on, data is gone:
/// a failure there leaves the database in ERROR and a new delete finishes
/// the job.
#[derive(Debug, Clone, Copy)]
pub enum DeleteStep {
    MarkDeleting,
    UnpublishConnection,
    StopEngine,
    DestroyEngine,
    RemoveHaGroup,
    DeleteVolume,
    ReleaseAddress,
    ForgetDatabase,
}

pub fn delete_saga() -> SagaDef<Services> {
    use DeleteStep::*;
    SagaDef {
        name: "delete_database",
        steps: [
            MarkDeleting,
            UnpublishConnection,
            StopEngine,
            DestroyEngine,
            RemoveHaGroup,
            DeleteVolume,
            ReleaseAddress,
            ForgetDatabase,
        ]
        .into_iter()
        .map(|s| Arc::new(s) as Arc<dyn Step<Services>>)
        .collect(),
    }
}

#[async_trait]
impl Step<Services> for DeleteStep {
    fn name(&self) -> &'static str {
        match self {
            DeleteStep::MarkDeleting => "mark_deleting",
            DeleteStep::UnpublishConnection => "unpublish_connection",
            DeleteStep::StopEngine => "stop_engine",
            DeleteStep::DestroyEngine => "destroy_engine",
            DeleteStep::RemoveHaGroup => "remove_ha_group",
            DeleteStep::DeleteVolume => "delete_volume",
            DeleteStep::ReleaseAddress => "release_address",
            DeleteStep::ForgetDatabase => "forget_database",
        }
    }

    fn reversible(&self) -> bool {
        matches!(
            self,
            DeleteStep::MarkDeleting | DeleteStep::UnpublishConnection | DeleteStep::StopEngine
        )
    }

    async fn run(&self, svc: &Services, s: &StepCtx<'_>) -> Result<Value, StepError> {
        // Past the point of no return a re-run may find the record gone
        // (ForgetDatabase done): that is success.
        let Some(db) = svc.find_db(s).await? else {
            return Ok(Value::Null);
        };
        let instance = Services::instance_name(&db);
        let d = &svc.drivers;
        match self {
            DeleteStep::MarkDeleting => svc.set_state(s, DatabaseState::Deleting).await?,
            DeleteStep::UnpublishConnection => svc.remove_connection_file(&db.name)?,
            DeleteStep::StopEngine => {
                if let Some(spec) = svc.spec(&db).await? {
                    d.runtime.stop(&spec).await.map_err(driver_err)?;
                }
            }
            DeleteStep::DestroyEngine => {
                if let Some(spec) = svc.spec(&db).await? {
                    d.runtime.destroy(&spec).await.map_err(driver_err)?;
                }
            }
            DeleteStep::RemoveHaGroup => d.ha.remove(&instance).await.map_err(driver_err)?,
            DeleteStep::DeleteVolume => d.volumes.delete(&instance).await.map_err(driver_err)?,
            DeleteStep::ReleaseAddress => {
                d.addresses.release(&instance).await.map_err(driver_err)?
            }
            DeleteStep::ForgetDatabase => svc
                .store
                .remove_database(&db.name, &db.id)
                .await
                .map_err(store_err)?,
        }
        Ok(Value::Null)
    }

    async fn undo(&self, svc: &Services, s: &StepCtx<'_>) -> Result<(), StepError> {
        let Some(db) = svc.find_db(s).await? else {
            return Ok(());
        };
        match self {
            DeleteStep::MarkDeleting => {
                let previous: DatabaseState =
                    serde_json::from_value(s.params()["previous_state"].clone())
                        .unwrap_or(DatabaseState::Active);
                svc.set_state(s, previous).await
            }
            DeleteStep::UnpublishConnection => {
                if db.endpoint.is_some() {
                    svc.write_connection_file(&db)?;
                }
                Ok(())
            }
            DeleteStep::StopEngine => {
                if let Some(spec) = svc.spec(&db).await? {
                    if svc
                        .drivers
                        .runtime
                        .status(&spec)
                        .await
                        .map_err(driver_err)?
                        != dbaas_drivers::EngineStatus::Absent
                    {
                        svc.drivers
                            .runtime
                            .ensure_running(&spec)
                            .await
                            .map_err(driver_err)?;
                    }
                }
                Ok(())
            }
            _ => Err(StepError::new(format!(
                "step {} cannot be undone",
                self.name()
            ))),
        }
    }
}

/// Steps of a SQL job.
#[derive(Debug, Clone, Copy)]
pub enum SqlStep {
    CheckDatabase,
    Execute,
}

pub fn sql_saga() -> SagaDef<Services> {
    SagaDef {
        name: "run_sql",
        steps: vec![Arc::new(SqlStep::CheckDatabase), Arc::new(SqlStep::Execute)],
    }
}

#[async_trait]
impl Step<Services> for SqlStep {
    fn name(&self) -> &'static str {
        match self {
            SqlStep::CheckDatabase => "check_database",
            SqlStep::Execute => "execute",
        }
    }

    fn reversible(&self) -> bool {
        matches!(self, SqlStep::CheckDatabase)
    }

    /// A user's SQL is never run twice: after a crash mid-job its outcome
    /// is reported unknown instead.
    fn repeatable(&self) -> bool {
        matches!(self, SqlStep::CheckDatabase)
    }

    async fn run(&self, svc: &Services, s: &StepCtx<'_>) -> Result<Value, StepError> {
        let db = svc.db(s).await?;
        match self {
            SqlStep::CheckDatabase => {
                if db.state != DatabaseState::Active {
                    return Err(StepError::new(format!(
                        "database {} is {:?}; SQL jobs run on ACTIVE databases only",
                        db.name, db.state
                    )));
                }
                Ok(Value::Null)
            }
            SqlStep::Execute => {
                let spec = need_spec(svc, &db).await?;
                let access = svc
                    .drivers
                    .runtime
                    .admin_access(&spec)
                    .await
                    .map_err(driver_err)?;
                let database = s.params()["database"]
                    .as_str()
                    .unwrap_or(&db.name)
                    .to_string();
                let sql = s.params()["sql"].as_str().unwrap_or_default();
                let out: SqlOutput = dbaas_postgres::run_job(
                    &access,
                    (&db.name, &db.owner_password),
                    &database,
                    sql,
                    &svc.settings.sql_limits,
                )
                .await
                .map_err(|e| StepError::new(format!("could not run the SQL: {e}")))?;
                svc.store
                    .put_sql_output(s.op_id(), &out)
                    .await
                    .map_err(store_err)?;
                if let Some(e) = &out.error {
                    return Err(StepError::new(format!(
                        "SQL error {}: {}",
                        e.sqlstate, e.message
                    )));
                }
                Ok(json!({ "statements": out.statements.len() }))
            }
        }
    }

    async fn undo(&self, _svc: &Services, _s: &StepCtx<'_>) -> Result<(), StepError> {
        Ok(())
    }
}

/// Downloads the backup named in the operation into the volume's data
/// directory, unless an earlier run already finished doing so.
async fn restore_data(
    svc: &Services,
    s: &StepCtx<'_>,
    spec: &dbaas_drivers::EngineSpec,
) -> Result<(), StepError> {
    let pgdata = spec.volume.mount_path.join("pgdata");
    if pgdata.join("PG_VERSION").is_file() {
        return Ok(());
    }
    let manifest_name = s.params()["manifest"].as_str().unwrap_or_default();
    let store = svc
        .backup_store(s.params()["store"].as_str())
        .map_err(StepError::new)?;
    let manifest = dbaas_backup::read_manifest(store.as_ref(), manifest_name)
        .await
        .map_err(|e| StepError::new(e.0))?;
    let tools = svc
        .drivers
        .runtime
        .tools(&spec.version)
        .ok_or_else(|| StepError::new("this agent's engine runtime cannot restore backups"))?;
    // A half-extracted directory of an earlier run is removed; this run
    // extracts into its own and renames it into place when complete.
    if let Ok(rd) = std::fs::read_dir(&spec.volume.mount_path) {
        for e in rd.flatten() {
            if e.file_name()
                .to_string_lossy()
                .starts_with("pgdata.restore.")
            {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    let tmp = spec
        .volume
        .mount_path
        .join(format!("pgdata.restore.{}", std::process::id()));
    dbaas_backup::restore(
        store.clone(),
        &manifest,
        &tmp,
        &tools,
        svc.settings.backup.parallelism,
    )
    .await
    .map_err(|e| StepError::new(e.0))?;
    let target_time = s.params()["target_time"].as_str();
    let target_lsn = s.params()["target_lsn"].as_str();
    if target_time.is_some() || target_lsn.is_some() {
        prepare_recovery(
            store.as_ref(),
            &manifest,
            spec,
            &tmp,
            &tools,
            target_time,
            target_lsn,
        )
        .await?;
    }
    std::fs::rename(&tmp, &pgdata)
        .map_err(|e| StepError::new(format!("moving the restored data into place: {e}")))?;
    Ok(())
}

/// Makes a restored data directory replay archived WAL up to the target,
/// then promote: the WAL is fetched into the volume first (checked for
/// gaps), and the recovery settings go to postgresql.auto.conf, from where
/// `adopt_owner` removes them once the database is up.
async fn prepare_recovery(
    store: &dyn dbaas_objstore::ObjectStore,
    manifest: &dbaas_backup::BackupManifest,
    spec: &dbaas_drivers::EngineSpec,
    pgdata: &std::path::Path,
    tools: &dbaas_drivers::EngineTools,
    target_time: Option<&str>,
    target_lsn: Option<&str>,
) -> Result<(), StepError> {
    use dbaas_backup::wal;
    let first =
        wal::segment_of(manifest.timeline, &manifest.start_lsn).map_err(|e| StepError::new(e.0))?;
    let last_needed = match target_lsn {
        Some(l) => Some(wal::segment_of(manifest.timeline, l).map_err(|e| StepError::new(e.0))?),
        None => None,
    };
    let wal_dir = spec.volume.mount_path.join("wal-restore");
    let _ = std::fs::remove_dir_all(&wal_dir);
    wal::fetch_for_restore(
        store,
        &manifest.database,
        &manifest.database_id,
        &first,
        last_needed.as_deref(),
        &wal_dir,
        tools,
    )
    .await
    .map_err(|e| StepError::new(e.0))?;
    let restore_command = format!(
        "cp {} \"%p\"",
        dbaas_postgres::shell_quote(&format!("{}/%f", wal_dir.display()))
    );
    // recovery_target_time does not take RFC 3339 ("T", "Z"): give it
    // PostgreSQL's own form, in UTC.
    let target_time = match target_time {
        Some(t) => Some(
            chrono::DateTime::parse_from_rfc3339(t)
                .map_err(|e| StepError::new(format!("target time {t:?}: {e}")))?
                .with_timezone(&chrono::Utc)
                .format("%Y-%m-%d %H:%M:%S%.6f+00")
                .to_string(),
        ),
        None => None,
    };
    let settings =
        dbaas_postgres::recovery_settings(&restore_command, target_time.as_deref(), target_lsn);
    let auto = pgdata.join("postgresql.auto.conf");
    let mut text = std::fs::read_to_string(&auto).unwrap_or_default();
    if !text.ends_with('\n') && !text.is_empty() {
        text.push('\n');
    }
    text.push_str(&settings);
    std::fs::write(&auto, text)
        .map_err(|e| StepError::new(format!("writing {}: {e}", auto.display())))?;
    let signal = pgdata.join("recovery.signal");
    std::fs::write(&signal, b"")
        .map_err(|e| StepError::new(format!("writing {}: {e}", signal.display())))?;
    for p in [&auto, &signal] {
        tools.give(p).map_err(StepError::new)?;
    }
    Ok(())
}

/// Steps of taking a base backup.
#[derive(Debug, Clone, Copy)]
pub enum BackupStep {
    CheckDatabase,
    TakeBackup,
}

pub fn backup_saga() -> SagaDef<Services> {
    SagaDef {
        name: "create_backup",
        steps: vec![
            Arc::new(BackupStep::CheckDatabase),
            Arc::new(BackupStep::TakeBackup),
        ],
    }
}

#[async_trait]
impl Step<Services> for BackupStep {
    fn name(&self) -> &'static str {
        match self {
            BackupStep::CheckDatabase => "check_database",
            BackupStep::TakeBackup => "take_backup",
        }
    }

    async fn run(&self, svc: &Services, s: &StepCtx<'_>) -> Result<Value, StepError> {
        let db = svc.db(s).await?;
        match self {
            BackupStep::CheckDatabase => {
                if db.state != DatabaseState::Active {
                    return Err(StepError::new(format!(
                        "database {} is {:?}; backups are taken of ACTIVE databases",
                        db.name, db.state
                    )));
                }
                Ok(Value::Null)
            }
            BackupStep::TakeBackup => {
                let spec = need_spec(svc, &db).await?;
                let tools = svc.drivers.runtime.tools(&db.version).ok_or_else(|| {
                    StepError::new("this agent's engine runtime cannot take backups")
                })?;
                let access = svc
                    .drivers
                    .runtime
                    .admin_access(&spec)
                    .await
                    .map_err(driver_err)?;
                let m = dbaas_backup::take(dbaas_backup::TakeRequest {
                    store: svc.backups.clone(),
                    access: &access,
                    tools: &tools,
                    database: &db.name,
                    database_id: &db.id,
                    engine: &db.engine,
                    version: &db.version,
                    backup_id: s.op_id(),
                    settings: &svc.settings.backup,
                })
                .await
                .map_err(|e| StepError::new(e.0))?;
                // Listed only once complete: the index names it after its
                // manifest is written (a crash before this re-runs the step).
                dbaas_backup::index_backup(svc.backups.as_ref(), &m)
                    .await
                    .map_err(|e| {
                        StepError::new(format!("recording the backup in the index: {e}"))
                    })?;
                Ok(
                    json!({ "segments": m.segments.len(), "stored_bytes": m.stored_bytes(), "stop_lsn": m.stop_lsn }),
                )
            }
        }
    }

    async fn undo(&self, svc: &Services, s: &StepCtx<'_>) -> Result<(), StepError> {
        if let BackupStep::TakeBackup = self {
            let id = s.params()["db_id"].as_str().unwrap_or_default();
            let prefix = dbaas_backup::backup_prefix(s.target(), id, s.op_id());
            dbaas_backup::delete_backup_objects(svc.backups.as_ref(), &prefix)
                .await
                .map_err(|e| StepError::new(e.0))?;
        }
        Ok(())
    }
}

/// Deleting a backup: its manifest first (it stops being listed), then its
/// segments. Cannot be undone.
#[derive(Debug, Clone, Copy)]
pub struct DeleteBackupStep;

pub fn delete_backup_saga() -> SagaDef<Services> {
    SagaDef {
        name: "delete_backup",
        steps: vec![Arc::new(DeleteBackupStep)],
    }
}

#[async_trait]
impl Step<Services> for DeleteBackupStep {
    fn name(&self) -> &'static str {
        "delete_objects"
    }
    fn reversible(&self) -> bool {
        false
    }
    async fn run(&self, svc: &Services, s: &StepCtx<'_>) -> Result<Value, StepError> {
        let prefix = s.params()["prefix"].as_str().unwrap_or_default();
        if !prefix.starts_with("backups/") || !prefix.ends_with('/') {
            return Err(StepError::new(format!(
                "refusing to delete under {prefix:?}"
            )));
        }
        dbaas_backup::delete_backup_objects(svc.backups.as_ref(), prefix)
            .await
            .map_err(|e| StepError::new(e.0))?;
        Ok(Value::Null)
    }
    async fn undo(&self, _svc: &Services, _s: &StepCtx<'_>) -> Result<(), StepError> {
        Err(StepError::new("a deleted backup cannot be brought back"))
    }
}

/// A restore drill: one step that restores the backup into a throw-away
/// engine, checks it, records the result beside the backup and removes the
/// engine. A bad backup fails the operation (and is recorded as such).
#[derive(Debug, Clone, Copy)]
pub struct DrillStep;

pub fn verify_saga() -> SagaDef<Services> {
    SagaDef {
        name: "verify_backup",
        steps: vec![Arc::new(DrillStep)],
    }
}

fn drill_dir(svc: &Services, s: &StepCtx<'_>) -> std::path::PathBuf {
    svc.settings.data_dir.join("verify").join(&s.op_id()[..8])
}

#[async_trait]
impl Step<Services> for DrillStep {
    fn name(&self) -> &'static str {
        "drill"
    }

    async fn run(&self, svc: &Services, s: &StepCtx<'_>) -> Result<Value, StepError> {
        let name = s.params()["manifest"].as_str().unwrap_or_default();
        let manifest = dbaas_backup::read_manifest(svc.backups.as_ref(), name)
            .await
            .map_err(|e| StepError::new(e.0))?;
        let tools = svc
            .drivers
            .runtime
            .tools(&manifest.version)
            .ok_or_else(|| {
                StepError::new("this agent's engine runtime cannot run restore drills")
            })?;
        let v = dbaas_backup::verify::drill(
            svc.backups.clone(),
            &manifest,
            &drill_dir(svc, s),
            &tools,
            svc.settings.backup.parallelism,
        )
        .await
        .map_err(|e| StepError::new(e.0))?;
        dbaas_backup::verify::record(svc.backups.as_ref(), &manifest, &v)
            .await
            .map_err(|e| StepError::new(e.0))?;
        if !v.ok {
            return Err(StepError::new(format!(
                "backup {} failed its restore drill: {}",
                manifest.id, v.detail
            )));
        }
        Ok(json!({ "detail": v.detail }))
    }

    async fn undo(&self, svc: &Services, s: &StepCtx<'_>) -> Result<(), StepError> {
        // The scratch engine is stopped with the programs of the backup's
        // own version.
        let version = s.params()["version"].as_str().unwrap_or_default();
        let Some(tools) = svc.drivers.runtime.tools(version) else {
            return Ok(());
        };
        dbaas_backup::verify::clean(&drill_dir(svc, s), &tools)
            .await
            .map_err(|e| StepError::new(e.0))
    }
}
