//! Every saga through the three checks of `dbaas_saga::testing`, with the
//! local drivers and real PostgreSQL: every step run twice, a failure at
//! each step in turn, and the unwind run twice.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use std::sync::Arc;

use async_trait::async_trait;
use dbaas_control::{
    backup_saga, create_saga, delete_backup_saga, delete_saga, restore_saga, sql_saga, verify_saga,
    ControlPlane,
};
use dbaas_drivers::{AddressDriver, Volume, VolumeDriver};
use dbaas_model::*;
use dbaas_saga::testing::{self, SagaFixture};
use dbaas_saga::{Failpoints, RunOptions, SagaDef};

struct World {
    dir: tempfile::TempDir,
    cp: ControlPlane,
    rec: OperationRecord,
}

fn new_plane() -> (tempfile::TempDir, ControlPlane) {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = tempfile::Builder::new()
        .prefix("dbsaga")
        .tempdir_in("/tmp")
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    let mut cfg = dbaas_config::AgentConfig::dev(dir.path().to_path_buf());
    cfg.local.address_pool = format!("127.{}.{}.0/24", 60 + std::process::id() % 30, 1 + n % 250);
    // A host pool, so that placement is part of every create and restore,
    // and Pacemaker groups (written to a CIB file of the pair).
    let cib = pair_cib(dir.path());
    cfg = dbaas_config::AgentConfig::parse(&format!(
        r#"data_dir = "{}"
local {{
  address_pool = "{}"
}}
drivers {{
  ha = "pacemaker"
}}
pacemaker {{
  cib_file = "{}"
  stand_in = true
}}
host_pair "pair-1" {{
  zone        = "az1"
  nomad_nodes = ["{NODE_A}", "{NODE_B}"]
  vip_port_id = "vip-1"
  server_ids  = ["11111111-2222-4333-8444-555555555555", "66666666-7777-4888-9999-aaaaaaaaaaaa"]
  subnet_id   = "bbbbbbbb-cccc-4ddd-8eee-ffffffffffff"
  capacity {{
    databases  = 5
    vcpus      = 8
    memory_mib = 8192
    volumes    = 5
  }}
}}
"#,
        cfg.data_dir.display(),
        cfg.local.address_pool,
        cib.display(),
    ))
    .unwrap();
    let store = dbaas_store::Store::open(&dir.path().join("state.redb")).unwrap();
    let mut svc = dbaas_control::build(&cfg, std::sync::Arc::new(store)).unwrap();
    // Cloud ids for the local volumes and addresses, as Cinder and Neutron
    // give them (the cluster manager needs them).
    svc.drivers.volumes = Arc::new(CloudVolumes(svc.drivers.volumes.clone()));
    svc.drivers.addresses = Arc::new(CloudAddresses(svc.drivers.addresses.clone()));
    (dir, ControlPlane::new(svc, Failpoints::none()))
}

const NAME: &str = "sagadb";
const NODE_A: &str = "db-1a";
const NODE_B: &str = "db-1b";

/// A lowercase UUID derived from `s`.
fn uuid_of(s: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    s.hash(&mut h);
    let a = h.finish();
    "salt".hash(&mut h);
    let b = h.finish();
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        b >> 52,
        b & 0xffff_ffff_ffff
    )
}

/// The local volumes, with a UUID for an id as Cinder gives.
struct CloudVolumes(Arc<dyn VolumeDriver>);

#[async_trait]
impl VolumeDriver for CloudVolumes {
    async fn ensure(
        &self,
        name: &str,
        size_gb: u32,
        operation: &str,
    ) -> dbaas_drivers::Result<Volume> {
        let v = self.0.ensure(name, size_gb, operation).await?;
        Ok(Volume {
            id: uuid_of(name),
            ..v
        })
    }
    async fn find(&self, name: &str) -> dbaas_drivers::Result<Option<Volume>> {
        Ok(self.0.find(name).await?.map(|v| Volume {
            id: uuid_of(name),
            ..v
        }))
    }
    async fn extend(&self, name: &str, size_gb: u32) -> dbaas_drivers::Result<Volume> {
        let v = self.0.extend(name, size_gb).await?;
        Ok(Volume {
            id: uuid_of(name),
            ..v
        })
    }
    async fn delete(&self, name: &str) -> dbaas_drivers::Result<()> {
        self.0.delete(name).await
    }
    async fn list(&self) -> dbaas_drivers::Result<Vec<String>> {
        self.0.list().await
    }
}

/// The local addresses, with a floating IP id as Neutron gives.
struct CloudAddresses(Arc<dyn AddressDriver>);

#[async_trait]
impl AddressDriver for CloudAddresses {
    async fn ensure(&self, owner: &str) -> dbaas_drivers::Result<Endpoint> {
        self.0.ensure(owner).await
    }
    async fn find(&self, owner: &str) -> dbaas_drivers::Result<Option<Endpoint>> {
        self.0.find(owner).await
    }
    async fn release(&self, owner: &str) -> dbaas_drivers::Result<()> {
        self.0.release(owner).await
    }
    async fn list(&self) -> dbaas_drivers::Result<Vec<String>> {
        self.0.list().await
    }
    async fn cloud_id(&self, owner: &str) -> dbaas_drivers::Result<Option<String>> {
        Ok(self.0.find(owner).await?.map(|_| uuid_of(owner)))
    }
}

fn tool(cib: &Path, tool: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(Path::new("/usr/sbin").join(tool))
        .args(args)
        .env("CIB_file", cib)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {tool}: {e}; see scripts/setup"));
    assert!(out.status.success(), "{tool} {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A CIB file of the pair: both nodes online, carrying the pair attribute.
fn pair_cib(dir: &Path) -> std::path::PathBuf {
    let cib = dir.join("cib-empty.xml");
    let empty = std::process::Command::new("/usr/sbin/cibadmin")
        .arg("--empty")
        .output()
        .expect("cibadmin (see scripts/setup)");
    std::fs::write(&cib, empty.stdout).unwrap();
    for (id, node) in [(1, NODE_A), (2, NODE_B)] {
        let xml = format!(r#"<node id="{id}" uname="{node}"/>"#);
        tool(&cib, "cibadmin", &["--create", "-o", "nodes", "-X", &xml]);
        tool(
            &cib,
            "crm_attribute",
            &["--node", node, "--name", "dbaas-pair", "--update", "pair-1"],
        );
    }
    let running = dir.join("cib.xml");
    let out = std::process::Command::new("/usr/sbin/crm_simulate")
        .args(["-x", cib.to_str().unwrap(), "--quorum", "1"])
        .args(["--node-up", NODE_A, "--node-up", NODE_B])
        .args(["--save-output", running.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    running
}

/// The resource groups in the pair's CIB.
fn groups(dir: &Path) -> Vec<String> {
    tool(
        &dir.join("cib.xml"),
        "cibadmin",
        &["--query", "--scope", "resources"],
    )
    .split("<group id=\"")
    .skip(1)
    .filter_map(|s| s.split('"').next().map(str::to_string))
    .collect()
}

async fn create_db(cp: &ControlPlane) {
    let rec = cp
        .accept_create(CreateDatabaseRequest {
            name: NAME.into(),
            engine: None,
            version: None,
            size_gb: Some(1),
        })
        .await
        .unwrap();
    let done = run(
        cp,
        &create_saga(),
        rec,
        RunOptions::default(),
        &Failpoints::none(),
    )
    .await;
    assert_eq!(
        done.op.state,
        OperationState::Succeeded,
        "{:?}",
        done.op.error
    );
}

async fn run(
    cp: &ControlPlane,
    saga: &SagaDef<dbaas_control::Services>,
    rec: OperationRecord,
    options: RunOptions,
    fp: &Failpoints,
) -> OperationRecord {
    let done = cp
        .execute(saga, rec, options, fp)
        .await
        .expect("saga log written");
    cp.apply_outcome(&done).await;
    done
}

fn entries(dir: &Path, sub: &str) -> Vec<String> {
    std::fs::read_dir(dir.join(sub))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn postmasters(dir: &Path) -> usize {
    let needle = dir.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(&needle) && c.contains("pgdata"))
        .count()
}

/// The database works: ACTIVE, reachable with its credentials, its
/// connection file written, one engine running.
async fn assert_working(w: &World) {
    let db = w.cp.get_database(NAME).await.unwrap();
    assert_eq!(db.state, DatabaseState::Active, "{db:?}");
    assert_eq!(db.host_pair.as_deref(), Some("pair-1"));
    // The pair's cluster holds its group (one).
    assert_eq!(
        groups(w.dir.path()),
        [format!("g-dbaas-{NAME}-{}", &db.id[..8])]
    );
    let pool = w.cp.host_pool().await.unwrap();
    assert_eq!((pool[0].used.databases, pool[0].used.volumes), (1, 1));
    let conn = w.cp.connection(NAME).await.unwrap();
    let (client, c) = tokio_postgres::connect(&conn.uri, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(c);
    assert_eq!(
        client
            .query_one("SELECT 1", &[])
            .await
            .unwrap()
            .get::<_, i32>(0),
        1
    );
    assert!(w
        .dir
        .path()
        .join(format!("connections/{NAME}.yml"))
        .is_file());
    assert_eq!(postmasters(w.dir.path()), 1);
}

/// Nothing of the database exists.
async fn assert_nothing(w: &World) {
    assert_eq!(groups(w.dir.path()), Vec::<String>::new(), "groups remain");
    // Its pair's room is free again.
    let pool = w.cp.host_pool().await.unwrap();
    assert_eq!(pool[0].used.databases, 0, "{pool:?}");
    assert!(
        w.cp.list_databases().await.unwrap().is_empty(),
        "catalog rows remain"
    );
    assert_eq!(
        entries(w.dir.path(), "volumes"),
        Vec::<String>::new(),
        "volumes remain"
    );
    assert_eq!(
        entries(w.dir.path(), "s"),
        Vec::<String>::new(),
        "sockets remain"
    );
    assert_eq!(
        entries(w.dir.path(), "connections"),
        Vec::<String>::new(),
        "connection files remain"
    );
    assert_eq!(
        w.cp.services().store.list_addresses().await.unwrap(),
        vec![],
        "addresses remain"
    );
    assert_eq!(postmasters(w.dir.path()), 0, "engines remain");
}

fn stop_engines(dir: &Path) {
    for v in entries(dir, "volumes") {
        let pid =
            std::fs::read_to_string(dir.join("volumes").join(v).join("pgdata/postmaster.pid"));
        if let Some(pid) = pid
            .ok()
            .and_then(|p| p.lines().next().and_then(|l| l.trim().parse::<i32>().ok()))
        {
            let _ = nix_kill(pid);
        }
    }
}

fn nix_kill(pid: i32) -> std::io::Result<()> {
    let status = std::process::Command::new("kill")
        .arg("-9")
        .arg(pid.to_string())
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other("kill failed"))
    }
}

struct CreateFixture;

#[async_trait]
impl SagaFixture for CreateFixture {
    type World = World;
    fn saga_name(&self) -> &'static str {
        "create_database"
    }
    fn step_names(&self) -> Vec<&'static str> {
        create_saga().steps.iter().map(|s| s.name()).collect()
    }
    async fn setup(&self) -> World {
        let (dir, cp) = new_plane();
        let rec = cp
            .accept_create(CreateDatabaseRequest {
                name: NAME.into(),
                engine: None,
                version: None,
                size_gb: Some(1),
            })
            .await
            .unwrap();
        World { dir, cp, rec }
    }
    async fn run(&self, w: &World, options: RunOptions, fp: &Failpoints) -> OperationRecord {
        run(&w.cp, &create_saga(), w.rec.clone(), options, fp).await
    }
    async fn assert_done(&self, w: &World, _rec: &OperationRecord) {
        assert_working(w).await;
    }
    async fn assert_unchanged(&self, w: &World, _rec: &OperationRecord) {
        assert_nothing(w).await;
    }
    async fn assert_failed_then_retry(&self, _w: &World, rec: &OperationRecord) {
        panic!(
            "every step of create can be undone, yet it failed: {:?}",
            rec.op.error
        );
    }
    async fn teardown(&self, w: World) {
        stop_engines(w.dir.path());
    }
}

struct DeleteFixture;

#[async_trait]
impl SagaFixture for DeleteFixture {
    type World = World;
    fn saga_name(&self) -> &'static str {
        "delete_database"
    }
    fn step_names(&self) -> Vec<&'static str> {
        delete_saga().steps.iter().map(|s| s.name()).collect()
    }
    async fn setup(&self) -> World {
        let (dir, cp) = new_plane();
        create_db(&cp).await;
        let (rec, _) = cp.accept_delete(NAME).await.unwrap();
        World { dir, cp, rec }
    }
    async fn run(&self, w: &World, options: RunOptions, fp: &Failpoints) -> OperationRecord {
        run(&w.cp, &delete_saga(), w.rec.clone(), options, fp).await
    }
    async fn assert_done(&self, w: &World, _rec: &OperationRecord) {
        assert_nothing(w).await;
    }
    async fn assert_unchanged(&self, w: &World, _rec: &OperationRecord) {
        assert_working(w).await;
    }
    async fn assert_failed_then_retry(&self, w: &World, rec: &OperationRecord) {
        // Past the point of no return: the database shows the failure and
        // says how to finish; a new delete finishes.
        if let Ok(db) = w.cp.get_database(NAME).await {
            assert_eq!(db.state, DatabaseState::Error, "{db:?}");
            assert!(
                db.error.unwrap_or_default().contains("dbaas db delete"),
                "{:?}",
                rec.op.error
            );
            let (retry, new) = w.cp.accept_delete(NAME).await.unwrap();
            assert!(new);
            let done = run(
                &w.cp,
                &delete_saga(),
                retry,
                RunOptions::default(),
                &Failpoints::none(),
            )
            .await;
            assert_eq!(
                done.op.state,
                OperationState::Succeeded,
                "{:?}",
                done.op.error
            );
        }
        assert_nothing(w).await;
    }
    async fn teardown(&self, w: World) {
        stop_engines(w.dir.path());
    }
}

struct SqlFixture;

#[async_trait]
impl SagaFixture for SqlFixture {
    type World = World;
    fn saga_name(&self) -> &'static str {
        "run_sql"
    }
    fn step_names(&self) -> Vec<&'static str> {
        sql_saga().steps.iter().map(|s| s.name()).collect()
    }
    async fn setup(&self) -> World {
        let (dir, cp) = new_plane();
        create_db(&cp).await;
        let rec = cp
            .accept_sql(
                NAME,
                SqlJobRequest {
                    sql: "SELECT 7 AS seven".into(),
                    database: None,
                },
            )
            .await
            .unwrap();
        World { dir, cp, rec }
    }
    async fn run(&self, w: &World, options: RunOptions, fp: &Failpoints) -> OperationRecord {
        run(&w.cp, &sql_saga(), w.rec.clone(), options, fp).await
    }
    async fn assert_done(&self, w: &World, rec: &OperationRecord) {
        let job = w.cp.get_sql_job(&rec.op.id).await.unwrap();
        let out = job.output.expect("output stored");
        assert_eq!(out.statements[0].columns, vec!["seven"]);
        assert_eq!(out.statements[0].rows, vec![vec![Some("7".to_string())]]);
        assert_working(w).await;
    }
    async fn assert_unchanged(&self, w: &World, rec: &OperationRecord) {
        assert!(w.cp.get_sql_job(&rec.op.id).await.unwrap().output.is_none());
        assert_working(w).await;
    }
    async fn assert_failed_then_retry(&self, w: &World, rec: &OperationRecord) {
        // A SQL job is not undone; the database is untouched by its
        // failure, and the job can be submitted again.
        assert_eq!(
            w.cp.get_sql_job(&rec.op.id).await.unwrap().state,
            OperationState::Failed
        );
        assert_working(w).await;
        let again =
            w.cp.accept_sql(
                NAME,
                SqlJobRequest {
                    sql: "SELECT 7 AS seven".into(),
                    database: None,
                },
            )
            .await
            .unwrap();
        let done = run(
            &w.cp,
            &sql_saga(),
            again,
            RunOptions::default(),
            &Failpoints::none(),
        )
        .await;
        assert_eq!(done.op.state, OperationState::Succeeded);
    }
    async fn teardown(&self, w: World) {
        stop_engines(w.dir.path());
    }
}

async fn take_backup(cp: &ControlPlane) -> String {
    let rec = cp.accept_backup(NAME).await.unwrap();
    let id = rec.op.id.clone();
    let done = run(
        cp,
        &backup_saga(),
        rec,
        RunOptions::default(),
        &Failpoints::none(),
    )
    .await;
    assert_eq!(
        done.op.state,
        OperationState::Succeeded,
        "{:?}",
        done.op.error
    );
    id
}

/// Objects of the backup store whose names contain `needle`.
async fn stored(cp: &ControlPlane, needle: &str) -> Vec<String> {
    cp.services()
        .backups
        .list("")
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.name)
        .filter(|n| n.contains(needle))
        .collect()
}

struct BackupFixture;

#[async_trait]
impl SagaFixture for BackupFixture {
    type World = World;
    fn saga_name(&self) -> &'static str {
        "create_backup"
    }
    fn step_names(&self) -> Vec<&'static str> {
        backup_saga().steps.iter().map(|s| s.name()).collect()
    }
    async fn setup(&self) -> World {
        let (dir, cp) = new_plane();
        create_db(&cp).await;
        let rec = cp.accept_backup(NAME).await.unwrap();
        World { dir, cp, rec }
    }
    async fn run(&self, w: &World, options: RunOptions, fp: &Failpoints) -> OperationRecord {
        run(&w.cp, &backup_saga(), w.rec.clone(), options, fp).await
    }
    async fn assert_done(&self, w: &World, rec: &OperationRecord) {
        let listed = w.cp.list_backups(NAME, None).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].id, rec.op.id);
        assert_eq!(
            stored(&w.cp, &rec.op.id).await.len(),
            listed[0].segments + 1
        );
        assert_working(w).await;
    }
    async fn assert_unchanged(&self, w: &World, rec: &OperationRecord) {
        assert!(w.cp.list_backups(NAME, None).await.unwrap().is_empty());
        assert_eq!(stored(&w.cp, &rec.op.id).await, Vec::<String>::new());
        assert_working(w).await;
    }
    async fn assert_failed_then_retry(&self, _w: &World, rec: &OperationRecord) {
        panic!(
            "every step of a backup can be undone, yet it failed: {:?}",
            rec.op.error
        );
    }
    async fn teardown(&self, w: World) {
        stop_engines(w.dir.path());
    }
}

const COPY: &str = "sagacopy";

struct RestoreFixture;

#[async_trait]
impl SagaFixture for RestoreFixture {
    type World = World;
    fn saga_name(&self) -> &'static str {
        "restore_database"
    }
    fn step_names(&self) -> Vec<&'static str> {
        restore_saga().steps.iter().map(|s| s.name()).collect()
    }
    async fn setup(&self) -> World {
        let (dir, cp) = new_plane();
        create_db(&cp).await;
        let id = take_backup(&cp).await;
        let req = RestoreDatabaseRequest {
            from: NAME.into(),
            backup: Some(id),
            size_gb: Some(1),
            ..Default::default()
        };
        let rec = cp.accept_restore(COPY, req).await.unwrap();
        World { dir, cp, rec }
    }
    async fn run(&self, w: &World, options: RunOptions, fp: &Failpoints) -> OperationRecord {
        run(&w.cp, &restore_saga(), w.rec.clone(), options, fp).await
    }
    async fn assert_done(&self, w: &World, _rec: &OperationRecord) {
        let copy = w.cp.get_database(COPY).await.unwrap();
        assert_eq!(copy.state, DatabaseState::Active);
        let conn = w.cp.connection(COPY).await.unwrap();
        assert_eq!(conn.user, COPY);
        let (client, c) = tokio_postgres::connect(&conn.uri, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(c);
        let db: String = client
            .query_one("SELECT current_database()", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(db, COPY);
        assert_eq!(postmasters(w.dir.path()), 2);
    }
    async fn assert_unchanged(&self, w: &World, _rec: &OperationRecord) {
        assert!(
            w.cp.get_database(COPY).await.is_err(),
            "no restored database"
        );
        assert_eq!(
            entries(w.dir.path(), "volumes").len(),
            1,
            "only the source's volume"
        );
        assert_eq!(
            entries(w.dir.path(), "connections"),
            vec![format!("{NAME}.yml")]
        );
        assert_eq!(
            w.cp.services().store.list_addresses().await.unwrap().len(),
            1
        );
        assert_working(w).await;
    }
    async fn assert_failed_then_retry(&self, _w: &World, rec: &OperationRecord) {
        panic!(
            "every step of a restore can be undone, yet it failed: {:?}",
            rec.op.error
        );
    }
    async fn teardown(&self, w: World) {
        stop_engines(w.dir.path());
    }
}

struct DeleteBackupFixture;

#[async_trait]
impl SagaFixture for DeleteBackupFixture {
    type World = World;
    fn saga_name(&self) -> &'static str {
        "delete_backup"
    }
    fn step_names(&self) -> Vec<&'static str> {
        delete_backup_saga()
            .steps
            .iter()
            .map(|s| s.name())
            .collect()
    }
    async fn setup(&self) -> World {
        let (dir, cp) = new_plane();
        create_db(&cp).await;
        let id = take_backup(&cp).await;
        let rec = cp.accept_delete_backup(&id).await.unwrap();
        World { dir, cp, rec }
    }
    async fn run(&self, w: &World, options: RunOptions, fp: &Failpoints) -> OperationRecord {
        run(&w.cp, &delete_backup_saga(), w.rec.clone(), options, fp).await
    }
    async fn assert_done(&self, w: &World, rec: &OperationRecord) {
        let id = rec.params["backup_id"].as_str().unwrap();
        assert!(w.cp.list_backups(NAME, None).await.unwrap().is_empty());
        assert_eq!(stored(&w.cp, id).await, Vec::<String>::new());
    }
    async fn assert_unchanged(&self, _w: &World, rec: &OperationRecord) {
        panic!(
            "deleting a backup cannot be undone, yet it unwound: {:?}",
            rec.op.error
        );
    }
    async fn assert_failed_then_retry(&self, w: &World, rec: &OperationRecord) {
        // The manifest went first: the backup is no longer listed, and
        // whatever is left of it is removed by running the saga again.
        assert!(w.cp.list_backups(NAME, None).await.unwrap().is_empty());
        let mut again = rec.clone();
        again.op.state = OperationState::Running;
        again.op.steps = delete_backup_saga().new_steps();
        let done = run(
            &w.cp,
            &delete_backup_saga(),
            again,
            RunOptions::default(),
            &Failpoints::none(),
        )
        .await;
        assert_eq!(done.op.state, OperationState::Succeeded);
        self.assert_done(w, &done).await;
    }
    async fn teardown(&self, w: World) {
        stop_engines(w.dir.path());
    }
}

struct VerifyFixture;

#[async_trait]
impl SagaFixture for VerifyFixture {
    type World = World;
    fn saga_name(&self) -> &'static str {
        "verify_backup"
    }
    fn step_names(&self) -> Vec<&'static str> {
        verify_saga().steps.iter().map(|s| s.name()).collect()
    }
    async fn setup(&self) -> World {
        let (dir, cp) = new_plane();
        create_db(&cp).await;
        let id = take_backup(&cp).await;
        let rec = cp.accept_verify(&id).await.unwrap();
        World { dir, cp, rec }
    }
    async fn run(&self, w: &World, options: RunOptions, fp: &Failpoints) -> OperationRecord {
        run(&w.cp, &verify_saga(), w.rec.clone(), options, fp).await
    }
    async fn assert_done(&self, w: &World, rec: &OperationRecord) {
        let id = rec.params["backup_id"].as_str().unwrap();
        let v =
            w.cp.get_backup(id)
                .await
                .unwrap()
                .verification
                .expect("recorded");
        assert!(v.ok, "{v:?}");
        assert_eq!(entries(w.dir.path(), "verify"), Vec::<String>::new());
        assert_working(w).await;
    }
    async fn assert_unchanged(&self, w: &World, _rec: &OperationRecord) {
        // No scratch engine or directory is left behind.
        assert_eq!(entries(w.dir.path(), "verify"), Vec::<String>::new());
        assert_working(w).await;
    }
    async fn assert_failed_then_retry(&self, _w: &World, rec: &OperationRecord) {
        panic!("a drill can be undone, yet it failed: {:?}", rec.op.error);
    }
    async fn teardown(&self, w: World) {
        stop_engines(w.dir.path());
    }
}

macro_rules! saga_checks {
    ($($fixture:ident: $twice:ident, $each:ident, $unwind:ident;)*) => {$(
        #[tokio::test(flavor = "multi_thread")]
        async fn $twice() {
            testing::check_every_step_twice(&$fixture).await
        }
        #[tokio::test(flavor = "multi_thread")]
        async fn $each() {
            testing::check_failure_at_each_step(&$fixture).await
        }
        #[tokio::test(flavor = "multi_thread")]
        async fn $unwind() {
            testing::check_unwind_twice(&$fixture).await
        }
    )*};
}

saga_checks! {
    CreateFixture: create_every_step_twice, create_failure_at_each_step_unwinds, create_unwind_twice;
    DeleteFixture: delete_every_step_twice, delete_failure_at_each_step, delete_unwind_twice;
    SqlFixture: sql_every_step_twice, sql_failure_at_each_step, sql_unwind_twice;
    BackupFixture: backup_every_step_twice, backup_failure_at_each_step_unwinds, backup_unwind_twice;
    RestoreFixture: restore_every_step_twice, restore_failure_at_each_step_unwinds, restore_unwind_twice;
    DeleteBackupFixture: delete_backup_every_step_twice, delete_backup_failure_at_each_step, delete_backup_unwind_twice;
    VerifyFixture: verify_every_step_twice, verify_failure_at_each_step_unwinds, verify_unwind_twice;
}
