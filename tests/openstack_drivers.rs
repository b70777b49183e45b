//! The create and delete workflows with real Cinder volumes and real
//! Neutron floating IPs (the agent's `drivers { volumes = "cinder"
//! addresses = "neutron" }`), as a plain member user of a real Keystone:
//! one volume and one floating IP per database, tagged with it, the
//! database reachable at that floating IP; none of either after a delete;
//! and after a kill -9 of the agent at any step and a restart, never a
//! second volume or floating IP, and `dbaas doctor` finds nothing.
//!
//! The engine runs here (the local runtime), in a directory standing in
//! for the volume's mount point, as the host pair's Filesystem resource
//! would mount it. The cloud's external network (203.0.113.0/24, a
//! documentation range) is made local to this machine for the test's
//! lifetime (`ip route add local ... dev lo`), as the pair's floating IP
//! agent would bring the address to the active host.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use common::cloud::start_openstack;
use common::{connect, Agent};
use dbaas_model::*;

/// The external network of `scripts/openstack`'s cloud.
const EXTERNAL_NETWORK: &str = "dbaas-ext";
const EXTERNAL_CIDR: &str = "203.0.113.0/24";

fn clouds_yaml() -> &'static PathBuf {
    static CLOUD: OnceLock<PathBuf> = OnceLock::new();
    CLOUD.get_or_init(|| {
        let clouds = start_openstack("cinder").join("clouds.yaml");
        // Floating IPs of the external network are local addresses here
        // until this process exits.
        let route = ["route", "add", "local", EXTERNAL_CIDR, "dev", "lo", "table", "local"];
        let added = std::process::Command::new("ip").args(route).status().unwrap();
        assert!(added.success(), "ip route add local {EXTERNAL_CIDR} (needs root)");
        let _ = std::process::Command::new("setsid")
            .args(["bash", "-c", r#"while kill -0 "$1" 2>/dev/null; do sleep 1; done; ip route del local "$2" dev lo table local"#, "unroute"])
            .arg(std::process::id().to_string())
            .arg(EXTERNAL_CIDR)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        clouds
    })
}

/// A tag of its own per agent, so that tests running side by side count
/// only their own volumes.
fn owner_tag() -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    format!("e2e{}n{n}", std::process::id())
}

fn mount_root(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("dbaas-e2e-mnt-{tag}"))
}

/// Nothing of the engines is left at the mount points, then the root
/// goes.
fn assert_mounts_empty(tag: &str) {
    let root = mount_root(tag);
    let left: Vec<_> = std::fs::read_dir(&root)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert_eq!(left, Vec::<PathBuf>::new(), "left at the mount points");
    let _ = std::fs::remove_dir(&root);
}

fn config(tag: &str) -> String {
    let mnt = mount_root(tag);
    format!(
        "drivers {{\n  volumes = \"cinder\"\n  addresses = \"neutron\"\n}}\nopenstack {{\n  cloud = \"dbaas\"\n  clouds_file = \"{}\"\n  volumes {{\n    mount_root = \"{}\"\n    owner_tag = \"{tag}\"\n  }}\n  addresses {{\n    external_network = \"{EXTERNAL_NETWORK}\"\n    owner_tag = \"{tag}\"\n  }}\n}}\n",
        clouds_yaml().display(),
        mnt.display()
    )
}

/// The volumes Cinder holds for this agent (not deleted ones), as
/// `(database instance, size)`.
async fn volumes(tag: &str) -> Vec<(String, u64)> {
    let cloud =
        dbaas_openstack::CloudConfig::from_clouds_yaml(clouds_yaml(), None, "dbaas").unwrap();
    let session = Arc::new(dbaas_openstack::Session::new(cloud).unwrap());
    let storage = dbaas_openstack::BlockStorage::new(session);
    let key = BTreeMap::from([(
        dbaas_openstack::METADATA_MANAGED_BY.to_string(),
        tag.to_string(),
    )]);
    let mut out: Vec<(String, u64)> = storage
        .find_volumes(&key)
        .await
        .unwrap()
        .into_iter()
        .filter(|v| !v.status.starts_with("delet"))
        .map(|v| {
            (
                v.metadata
                    .get(dbaas_openstack::METADATA_DB)
                    .cloned()
                    .unwrap_or_default(),
                v.size,
            )
        })
        .collect();
    out.sort();
    out
}

/// The metadata of the volumes Cinder holds for this agent.
async fn volume_metadata(tag: &str) -> Vec<BTreeMap<String, String>> {
    let cloud =
        dbaas_openstack::CloudConfig::from_clouds_yaml(clouds_yaml(), None, "dbaas").unwrap();
    let storage =
        dbaas_openstack::BlockStorage::new(Arc::new(dbaas_openstack::Session::new(cloud).unwrap()));
    let key = BTreeMap::from([(
        dbaas_openstack::METADATA_MANAGED_BY.to_string(),
        tag.to_string(),
    )]);
    storage
        .find_volumes(&key)
        .await
        .unwrap()
        .into_iter()
        .filter(|v| !v.status.starts_with("delet"))
        .map(|v| v.metadata)
        .collect()
}

/// The floating IPs Neutron holds for this agent, as `(description,
/// address)`.
async fn floating_ips(tag: &str) -> Vec<(String, String)> {
    let cloud =
        dbaas_openstack::CloudConfig::from_clouds_yaml(clouds_yaml(), None, "dbaas").unwrap();
    let session = Arc::new(dbaas_openstack::Session::new(cloud).unwrap());
    let net = dbaas_openstack::Networking::new(session);
    let mut out: Vec<(String, String)> = net
        .list_floating_ips(&[("tags", tag)])
        .await
        .unwrap()
        .into_iter()
        .map(|f| (f.description.unwrap_or_default(), f.floating_ip_address))
        .collect();
    out.sort();
    out
}

/// Deleted volumes can linger a moment in `deleting`; wait until none is
/// left of this agent, and no floating IP either.
async fn wait_no_volumes(tag: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let left = volumes(tag).await;
        if left.is_empty() {
            assert_eq!(floating_ips(tag).await, vec![], "floating IPs remain");
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "volumes remain: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn works(agent: &Agent, name: &str) {
    let conn = agent.client.connection(name).await.unwrap();
    let pg = connect(&conn).await;
    assert_eq!(
        pg.query_one("SELECT 40 + 2", &[])
            .await
            .unwrap()
            .get::<_, i32>(0),
        42
    );
}

fn instance(db: &Database) -> String {
    format!("dbaas-{}-{}", db.name, &db.id[..8])
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_gets_one_cinder_volume_and_gives_it_back() {
    let tag = owner_tag();
    let mut agent = Agent::start_configured(None, &config(&tag));
    let created = agent.create("blocky").await;
    assert_eq!(created.state, OperationState::Succeeded);
    let db = agent.client.get_database("blocky").await.unwrap();
    assert_eq!(volumes(&tag).await, [(instance(&db), 1)]);
    // Its metadata names the database and the operation that made it.
    let meta = volume_metadata(&tag).await;
    assert_eq!(meta.len(), 1, "{meta:?}");
    assert_eq!(
        meta[0].get(dbaas_openstack::METADATA_DB),
        Some(&instance(&db))
    );
    assert_eq!(meta[0].get(dbaas_openstack::METADATA_OP), Some(&created.id));
    // Reached at its floating IP, which carries its name.
    let ep = db.endpoint.clone().unwrap();
    assert!(ep.host.starts_with("203.0.113."), "{ep:?}");
    assert_eq!(
        floating_ips(&tag).await,
        [(format!("{tag}:{}", instance(&db)), ep.host.clone())]
    );
    works(&agent, "blocky").await;
    assert_eq!(
        agent.client.doctor(false).await.unwrap(),
        DoctorReport::default()
    );

    // A resize grows the same Cinder volume (no second one), and the
    // database goes on working.
    let resize = agent.client.resize_database("blocky", 2).await.unwrap();
    let done = agent.wait(&resize.id).await;
    assert_eq!(done.state, OperationState::Succeeded, "{done:?}");
    assert_eq!(volumes(&tag).await, [(instance(&db), 2)]);
    assert_eq!(
        agent.client.get_database("blocky").await.unwrap().size_gb,
        2
    );
    works(&agent, "blocky").await;

    let del = agent.client.delete_database("blocky").await.unwrap();
    assert_eq!(agent.wait(&del.id).await.state, OperationState::Succeeded);
    wait_no_volumes(&tag).await;
    agent.assert_no_orphans().await;
    assert_mounts_empty(&tag);
}

/// A database placed on a host pair of the pool has its floating IP
/// associated with the pair's VIP port (a real port on a subnet behind a
/// router to the external network), and the delete releases it.
#[tokio::test(flavor = "multi_thread")]
async fn a_placed_database_is_reached_through_its_pairs_vip_port() {
    let tag = owner_tag();
    let cloud =
        dbaas_openstack::CloudConfig::from_clouds_yaml(clouds_yaml(), None, "dbaas").unwrap();
    let session = Arc::new(dbaas_openstack::Session::new(cloud).unwrap());
    let net = dbaas_openstack::Networking::new(session.clone());
    let ext = net.find_network(EXTERNAL_NETWORK).await.unwrap();
    let vip = dbaas_openstack::testing::VipNetwork::create(
        session.clone(),
        &ext.id,
        &format!("{tag}-pair"),
    )
    .await;
    let pool = format!(
        "host_pair \"pair-1\" {{\n  zone = \"az1\"\n  nomad_nodes = [\"n1\", \"n2\"]\n  vip_port_id = \"{}\"\n  capacity {{\n    databases = 4\n    vcpus = 8\n    memory_mib = 8192\n    volumes = 4\n  }}\n}}\n",
        vip.port
    );
    let mut agent = Agent::start_configured(None, &format!("{}{pool}", config(&tag)));
    let op = agent.create("pinned").await;
    assert_eq!(op.state, OperationState::Succeeded, "{op:?}");
    let db = agent.client.get_database("pinned").await.unwrap();
    assert_eq!(db.host_pair.as_deref(), Some("pair-1"));
    let fips = net
        .list_floating_ips(&[("tags", tag.as_str())])
        .await
        .unwrap();
    assert_eq!(fips.len(), 1, "{fips:?}");
    let f = &fips[0];
    assert_eq!(
        Some(&f.floating_ip_address),
        db.endpoint.as_ref().map(|e| &e.host)
    );
    assert_eq!(f.port_id.as_deref(), Some(vip.port.as_str()));
    assert_eq!(f.fixed_ip_address.as_deref(), Some(vip.port_ip.as_str()));
    assert_eq!(f.router_id.as_deref(), Some(vip.router.as_str()));
    works(&agent, "pinned").await;

    let del = agent.client.delete_database("pinned").await.unwrap();
    assert_eq!(agent.wait(&del.id).await.state, OperationState::Succeeded);
    wait_no_volumes(&tag).await;
    agent.assert_no_orphans().await;
    assert_mounts_empty(&tag);
    // The pair's port stays (it is the pair's), free for the next one.
    vip.delete().await;
}

/// Create is killed at `point`; after a restart it completes with exactly
/// one volume, and the delete leaves none.
async fn crash_during_create(point: &str) {
    let tag = owner_tag();
    let mut agent = Agent::start_configured(
        Some(&format!("create_database.{point}=crash")),
        &config(&tag),
    );
    let _ = agent
        .client
        .create_database(&CreateDatabaseRequest {
            name: "phoenix".into(),
            engine: None,
            version: None,
            size_gb: Some(1),
        })
        .await;
    let done = agent
        .resume_after_crash(
            Duration::from_secs(120),
            OperationKind::CreateDatabase,
            "phoenix",
        )
        .await;
    assert_eq!(
        done.state,
        OperationState::Succeeded,
        "after a crash at {point}: {done:?}"
    );
    let db = agent.client.get_database("phoenix").await.unwrap();
    assert_eq!(
        volumes(&tag).await,
        [(instance(&db), 1)],
        "one volume after a crash at {point}"
    );
    assert_eq!(
        floating_ips(&tag).await.len(),
        1,
        "one floating IP after a crash at {point}"
    );
    works(&agent, "phoenix").await;
    assert_eq!(
        agent.client.doctor(false).await.unwrap(),
        DoctorReport::default()
    );

    // And a delete killed at the same moment of its own saga.
    let del = agent.client.delete_database("phoenix").await.unwrap();
    assert_eq!(agent.wait(&del.id).await.state, OperationState::Succeeded);
    wait_no_volumes(&tag).await;
    agent.assert_no_orphans().await;
    assert_mounts_empty(&tag);
}

/// Delete is killed at `point`; after a restart it completes and leaves
/// no volume.
async fn crash_during_delete(point: &str) {
    let tag = owner_tag();
    let mut agent = Agent::start_configured(None, &config(&tag));
    assert_eq!(agent.create("ashes").await.state, OperationState::Succeeded);
    agent.restart(Some(&format!("delete_database.{point}=crash")));
    let _ = agent.client.delete_database("ashes").await;
    let done = agent
        .resume_after_crash(
            Duration::from_secs(120),
            OperationKind::DeleteDatabase,
            "ashes",
        )
        .await;
    assert_eq!(
        done.state,
        OperationState::Succeeded,
        "after a crash at {point}: {done:?}"
    );
    wait_no_volumes(&tag).await;
    agent.assert_no_orphans().await;
    assert_mounts_empty(&tag);
}

macro_rules! crashes {
    ($f:ident: $($test:ident => $point:literal,)*) => {$(
        #[tokio::test(flavor = "multi_thread")]
        async fn $test() {
            $f($point).await
        }
    )*};
}

crashes! { crash_during_create:
    create_killed_after_reserve_name => "reserve_name.after",
    create_killed_after_place_database => "place_database.after",
    create_killed_after_allocate_address => "allocate_address.after",
    create_killed_before_create_volume => "create_volume.before",
    create_killed_after_create_volume => "create_volume.after",
    create_killed_after_ensure_ha_group => "ensure_ha_group.after",
    create_killed_after_initialize_engine => "initialize_engine.after",
    create_killed_after_start_engine => "start_engine.after",
    create_killed_after_create_owner => "create_owner.after",
    create_killed_after_publish_connection => "publish_connection.after",
    create_killed_after_mark_active => "mark_active.after",
}

crashes! { crash_during_delete:
    delete_killed_after_mark_deleting => "mark_deleting.after",
    delete_killed_after_unpublish_connection => "unpublish_connection.after",
    delete_killed_after_stop_engine => "stop_engine.after",
    delete_killed_after_destroy_engine => "destroy_engine.after",
    delete_killed_after_remove_ha_group => "remove_ha_group.after",
    delete_killed_before_delete_volume => "delete_volume.before",
    delete_killed_after_delete_volume => "delete_volume.after",
    delete_killed_after_release_address => "release_address.after",
    delete_killed_after_forget_database => "forget_database.after",
}
