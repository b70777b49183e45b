//! Against a real Keystone, Cinder and Neutron on 127.0.0.1, started once
//! per test binary by `scripts/openstack up` (or already running: set
//! `DBAAS_TEST_CLOUDS_YAML` to its clouds.yaml). A cloud that cannot start
//! fails every test with the script's own message; nothing is skipped.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dbaas_openstack::keystone::UserRef;
use dbaas_openstack::neutron::{FloatingIpCreate, FloatingIpCreateRequest, FloatingIpResponse};
use dbaas_openstack::testing::VipNetwork;
use dbaas_openstack::{
    ApiRequest, BlockStorage, CloudConfig, Credentials, FloatingIpKey, Networking, OpenStackError,
    Secret, Session, SessionOptions, METADATA_DB, METADATA_OP,
};
use reqwest::Method;
use serde_json::json;

struct Cloud {
    clouds_yaml: PathBuf,
    external_network: String,
}

/// Starts the cloud the first time it is asked for; every test waits on
/// the same start (OnceLock is the lock).
fn cloud() -> &'static Cloud {
    static CLOUD: OnceLock<Result<Cloud, String>> = OnceLock::new();
    let r = CLOUD.get_or_init(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
        if let Ok(p) = std::env::var("DBAAS_TEST_CLOUDS_YAML") {
            let clouds_yaml = PathBuf::from(p);
            return Ok(Cloud {
                external_network: external_network(&clouds_yaml),
                clouds_yaml,
            });
        }
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/openstack");
        let state = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("openstack-cloud");
        let t = std::time::Instant::now();
        let out = Command::new("bash")
            .arg(&script)
            .arg("up")
            .arg(&state)
            // The cloud goes down when this test binary exits, however.
            .env("OPENSTACK_OWNER_PID", std::process::id().to_string())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
        if !out.status.success() {
            return Err(format!(
                "`{} up {}` failed ({}):\n{}{}",
                script.display(),
                state.display(),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        eprintln!("cloud up in {:?}", t.elapsed());
        let clouds_yaml = state.join("clouds.yaml");
        Ok(Cloud {
            external_network: external_network(&clouds_yaml),
            clouds_yaml,
        })
    });
    match r {
        Ok(c) => c,
        Err(e) => panic!("the test OpenStack could not start: {e}"),
    }
}

/// Our script records the external network beside the clouds; another
/// cloud names it in DBAAS_TEST_EXTERNAL_NETWORK.
fn external_network(clouds_yaml: &std::path::Path) -> String {
    if let Ok(n) = std::env::var("DBAAS_TEST_EXTERNAL_NETWORK") {
        return n;
    }
    let text = std::fs::read_to_string(clouds_yaml)
        .unwrap_or_else(|e| panic!("{}: {e}", clouds_yaml.display()));
    let doc: serde_json::Value = serde_norway::from_str(&text).unwrap();
    doc["dbaas"]["external_network"]
        .as_str()
        .unwrap_or("dbaas-ext")
        .to_string()
}

fn config(cloud_name: &str) -> CloudConfig {
    let c = cloud();
    CloudConfig::from_clouds_yaml(&c.clouds_yaml, None, cloud_name)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn member() -> CloudConfig {
    config(&std::env::var("DBAAS_TEST_CLOUD").unwrap_or_else(|_| "dbaas".into()))
}

fn unique(prefix: &str) -> String {
    let n = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{}-{n}", std::process::id())
}

#[tokio::test]
async fn password_authentication_and_catalog() {
    let s = Session::new(member()).unwrap();
    let t = s.token().await.unwrap();
    assert_eq!(t.token.methods, vec!["password"]);
    let project = t.token.project.as_ref().unwrap();
    assert_eq!(project.name.as_deref(), Some("dbaas"));
    assert!(t
        .token
        .roles
        .iter()
        .any(|r| r.name.as_deref() == Some("member")));
    assert!(t.token.expires_at.0 > chrono::Utc::now() + chrono::Duration::minutes(30));
    for service in ["block-storage", "volumev3", "network", "identity"] {
        let url = s.endpoint(service).await.unwrap();
        assert!(url.starts_with("http://127.0.0.1:"), "{service}: {url}");
    }
    // The block-storage endpoint is the project's.
    assert!(s
        .endpoint("block-storage")
        .await
        .unwrap()
        .ends_with(&project.id));

    let mut wrong = member();
    if let Credentials::Password { password, .. } = &mut wrong.credentials {
        *password = Secret::new("not-the-password");
    }
    let e = Session::new(wrong).unwrap().token().await.unwrap_err();
    assert!(matches!(e, OpenStackError::Auth { .. }), "{e}");
    assert!(e.to_string().contains("HTTP 401"), "{e}");
}

#[tokio::test]
async fn application_credential_authentication() {
    let s = Session::new(member()).unwrap();
    let t = s.token().await.unwrap();
    let user_id = t.token.user.as_ref().unwrap().id.clone();
    let name = unique("dbaas-test");
    let created: serde_json::Value = s
        .send_json(
            &ApiRequest::new(
                "identity",
                Method::POST,
                format!("/users/{user_id}/application_credentials"),
            )
            .json(&json!({"application_credential": {"name": name}})),
        )
        .await
        .unwrap();
    let id = created["application_credential"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let secret = created["application_credential"]["secret"]
        .as_str()
        .unwrap()
        .to_string();

    let base = member();
    let by_id = CloudConfig {
        credentials: Credentials::ApplicationCredential {
            id: Some(id.clone()),
            name: None,
            user: None,
            secret: Secret::new(secret.clone()),
        },
        ..base.clone()
    };
    let by_name = CloudConfig {
        credentials: Credentials::ApplicationCredential {
            id: None,
            name: Some(name.clone()),
            user: Some(UserRef {
                id: Some(user_id.clone()),
                name: None,
                domain: None,
            }),
            secret: Secret::new(secret),
        },
        ..base
    };
    for cfg in [by_id, by_name] {
        let s2 = Session::new(cfg).unwrap();
        let t2 = s2.token().await.unwrap();
        assert_eq!(t2.token.methods, vec!["application_credential"]);
        assert_eq!(t2.token.application_credential.as_ref().unwrap().id, id);
        assert_eq!(t2.project_id(), t.project_id());
        // And it is good for Cinder.
        let _: serde_json::Value = s2
            .send_json(&ApiRequest::new("block-storage", Method::GET, "/volumes"))
            .await
            .unwrap();
    }
    s.send(&ApiRequest::new(
        "identity",
        Method::DELETE,
        format!("/users/{user_id}/application_credentials/{id}"),
    ))
    .await
    .unwrap();
}

#[tokio::test]
async fn token_renewed_near_expiry() {
    // Keystone's tokens here live an hour: a two-hour margin makes every
    // token "near expiry", so each use renews it.
    let eager = Session::with_options(
        member(),
        SessionOptions {
            renew_margin: Duration::from_secs(7200),
            ..SessionOptions::default()
        },
    )
    .unwrap();
    let a = eager.token().await.unwrap();
    let b = eager.token().await.unwrap();
    assert_ne!(
        a.value, b.value,
        "a token within the margin must be renewed"
    );
    assert!(b.token.issued_at >= a.token.issued_at);
    let _: serde_json::Value = eager
        .send_json(&ApiRequest::new("network", Method::GET, "/v2.0/networks"))
        .await
        .unwrap();

    let normal = Session::new(member()).unwrap();
    let a = normal.token().await.unwrap();
    let b = normal.token().await.unwrap();
    assert_eq!(a.value, b.value, "a fresh token is reused");
}

#[tokio::test]
async fn volume_create_find_again_extend_delete() {
    let cinder = BlockStorage::new(Arc::new(Session::new(member()).unwrap()));
    let db = unique("db");
    let meta: BTreeMap<String, String> = [
        (METADATA_DB.to_string(), db.clone()),
        (METADATA_OP.to_string(), "op-1".to_string()),
        ("dbaas-role".to_string(), "data".to_string()),
    ]
    .into();
    let name = format!("dbaas-{db}");
    let v = cinder.ensure_volume(&name, 1, &meta).await.unwrap();
    assert_eq!(v.status, "available");
    assert_eq!(v.size, 1);
    assert_eq!(v.name.as_deref(), Some(name.as_str()));
    assert_eq!(v.metadata, meta);

    // The step again (a retry after a crash): the same volume, no second.
    let again = cinder.ensure_volume(&name, 1, &meta).await.unwrap();
    assert_eq!(again.id, v.id);
    let key: BTreeMap<String, String> = [
        (METADATA_DB.to_string(), db.clone()),
        (METADATA_OP.to_string(), "op-1".to_string()),
    ]
    .into();
    assert_eq!(cinder.find_volumes(&key).await.unwrap().len(), 1);

    let missing_key: BTreeMap<String, String> = [(METADATA_DB.to_string(), db.clone())].into();
    let e = cinder
        .ensure_volume(&name, 1, &missing_key)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("dbaas-op"), "{e}");

    let grown = cinder.extend_volume(&v.id, 2).await.unwrap();
    assert_eq!(grown.size, 2);
    assert_eq!(grown.status, "available");
    // Repeating the extend does nothing.
    assert_eq!(cinder.extend_volume(&v.id, 2).await.unwrap().size, 2);

    cinder.delete_volume(&v.id).await.unwrap();
    assert!(cinder.get_volume(&v.id).await.unwrap().is_none());
    // Absent is success.
    cinder.delete_volume(&v.id).await.unwrap();
    assert!(cinder.find_volumes(&key).await.unwrap().is_empty());
}

#[tokio::test]
async fn floating_ip_allocate_retry_release() {
    let session = Arc::new(Session::new(member()).unwrap());
    let neutron = Networking::new(session.clone());
    let ext = &cloud().external_network;
    let owner = unique("db");
    let key = FloatingIpKey::new(format!("dbaas-{owner}"), &["dbaas", &owner]);

    let f = neutron.ensure_floating_ip(ext, &key).await.unwrap();
    assert!(
        f.floating_ip_address.starts_with("203.0.113."),
        "{}",
        f.floating_ip_address
    );
    assert_eq!(f.description.as_deref(), Some(key.description.as_str()));
    let mut tags = f.tags.clone();
    tags.sort();
    let mut want = key.tags.clone();
    want.sort();
    assert_eq!(tags, want);

    // A retry gets the same address.
    let again = neutron.ensure_floating_ip(ext, &key).await.unwrap();
    assert_eq!(again.id, f.id);
    assert_eq!(neutron.find_floating_ips(&key).await.unwrap().len(), 1);

    // A crash between create and tag: an address with our description and
    // no tags. The retry adopts it rather than allocating another.
    let owner2 = unique("db");
    let key2 = FloatingIpKey::new(format!("dbaas-{owner2}"), &["dbaas", &owner2]);
    let net = neutron.find_network(ext).await.unwrap();
    let orphan: FloatingIpResponse = session
        .send_json(
            &ApiRequest::new("network", Method::POST, "/v2.0/floatingips").json(
                &FloatingIpCreateRequest {
                    floatingip: FloatingIpCreate {
                        floating_network_id: net.id,
                        description: Some(key2.description.clone()),
                        ..FloatingIpCreate::default()
                    },
                },
            ),
        )
        .await
        .unwrap();
    assert!(orphan.floatingip.tags.is_empty());
    let adopted = neutron.ensure_floating_ip(ext, &key2).await.unwrap();
    assert_eq!(adopted.id, orphan.floatingip.id);
    assert!(adopted.tags.contains(&owner2));

    neutron.release_floating_ip(&key).await.unwrap();
    neutron.release_floating_ip(&key2).await.unwrap();
    assert!(neutron.find_floating_ips(&key).await.unwrap().is_empty());
    assert!(neutron.find_floating_ips(&key2).await.unwrap().is_empty());
    // Releasing what is not there succeeds.
    neutron.release_floating_ip(&key).await.unwrap();

    // Tags with a comma could never be found by the tag filter.
    let bad = FloatingIpKey::new("x", &["tag1,tag2"]);
    assert!(neutron.ensure_floating_ip(ext, &bad).await.is_err());
}

#[path = "real_cloud/fault_proxy.rs"]
mod fault_proxy;
#[path = "real_cloud/faults.rs"]
mod faults;

// ---- The driver adapters (dbaas_drivers::VolumeDriver / AddressDriver) ----

use dbaas_drivers::{AddressDriver, VolumeDriver};
use dbaas_openstack::{AddressSettings, CinderVolumes, NeutronFloatingIps, VolumeSettings};

fn member_session() -> Arc<Session> {
    Arc::new(Session::new(member()).unwrap())
}

fn volumes() -> CinderVolumes {
    CinderVolumes::new(member_session(), VolumeSettings::default())
}

fn addresses() -> NeutronFloatingIps {
    NeutronFloatingIps::new(
        member_session(),
        AddressSettings::new(cloud().external_network.clone()),
    )
    .unwrap()
}

#[tokio::test]
async fn volume_driver_ensure_twice_list_extend_delete_twice() {
    let drv = volumes();
    let name = unique("dbaas-vol");
    assert!(drv.find(&name).await.unwrap().is_none());

    let v = drv.ensure(&name, 1, "op-1").await.unwrap();
    assert_eq!(v.name, name);
    assert_eq!(v.size_gb, 1);
    assert_eq!(v.mount_path, PathBuf::from("/srv/dbaas").join(&name));
    let raw = drv.storage().get_volume(&v.id).await.unwrap().unwrap();
    assert_eq!(raw.status, "available");
    assert_eq!(raw.name.as_deref(), Some(name.as_str()));
    assert_eq!(raw.metadata.get("dbaas-db"), Some(&name));
    assert_eq!(
        raw.metadata.get("dbaas-managed-by").map(String::as_str),
        Some("dbaas")
    );
    assert_eq!(
        raw.metadata.get("dbaas-role").map(String::as_str),
        Some("data")
    );

    // The step again: the same volume, still one.
    let again = drv.ensure(&name, 1, "op-1").await.unwrap();
    assert_eq!(again, v);
    assert_eq!(
        drv.storage()
            .find_volumes(&drv.key(&name))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(drv.find(&name).await.unwrap(), Some(v.clone()));
    assert!(drv.list().await.unwrap().contains(&name));

    assert_eq!(drv.extend(&name, 2).await.unwrap().size_gb, 2);
    assert_eq!(drv.find(&name).await.unwrap().unwrap().size_gb, 2);

    drv.delete(&name).await.unwrap();
    assert!(drv.find(&name).await.unwrap().is_none());
    assert!(drv.storage().get_volume(&v.id).await.unwrap().is_none());
    assert!(!drv.list().await.unwrap().contains(&name));
    // Absent is success.
    drv.delete(&name).await.unwrap();

    // Another owner tag (a second control plane in the project) does not
    // list this one's volumes.
    let other: VolumeSettings =
        serde_json::from_value(json!({"owner_tag": "other-plane", "mount_root": "/mnt/db"}))
            .unwrap();
    let other = CinderVolumes::new(member_session(), other);
    assert_eq!(other.mount_path("x"), PathBuf::from("/mnt/db/x"));
    let mine = drv.ensure(&name, 1, "op-1").await.unwrap();
    assert!(!other.list().await.unwrap().contains(&name));
    assert!(other.find(&name).await.unwrap().is_none());
    drv.delete(&name).await.unwrap();
    assert!(drv.storage().get_volume(&mine.id).await.unwrap().is_none());
}

#[tokio::test]
async fn volume_driver_racing_creates_leave_one_volume() {
    let name = unique("dbaas-race");
    // Two agents (separate drivers, no shared lock) ensure at once.
    let (a, b) = (volumes(), volumes());
    let (va, vb) = tokio::join!(a.ensure(&name, 1, "op-1"), b.ensure(&name, 1, "op-1"));
    let (va, vb) = (va.unwrap(), vb.unwrap());
    assert_eq!(va.id, vb.id, "both agents must end with the same volume");
    let all = a.storage().find_volumes(&a.key(&name)).await.unwrap();
    assert_eq!(
        all.iter().map(|v| v.id.as_str()).collect::<Vec<_>>(),
        vec![va.id.as_str()],
        "exactly one volume remains"
    );
    // One driver, two concurrent calls.
    let (x, y) = tokio::join!(a.ensure(&name, 1, "op-1"), a.ensure(&name, 1, "op-1"));
    assert_eq!(x.unwrap().id, va.id);
    assert_eq!(y.unwrap().id, va.id);
    a.delete(&name).await.unwrap();
}

#[tokio::test]
async fn address_driver_ensure_twice_list_release_twice() {
    let drv = addresses();
    let owner = unique("dbaas-ip");
    assert!(drv.find(&owner).await.unwrap().is_none());
    let e = drv.ensure(&owner).await.unwrap();
    assert_eq!(e.port, 5432);
    assert!(e.host.starts_with("203.0.113."), "{}", e.host);
    let f = drv.floating_ip(&owner).await.unwrap().unwrap();
    assert_eq!(f.floating_ip_address, e.host);
    assert_eq!(
        f.description.as_deref(),
        Some(format!("dbaas:{owner}").as_str())
    );
    assert!(f.tags.contains(&"dbaas".to_string()));
    assert!(f.tags.contains(&format!("dbaas:{owner}")));
    assert_eq!(f.port_id, None);

    assert_eq!(drv.ensure(&owner).await.unwrap(), e);
    assert_eq!(
        drv.networking()
            .find_floating_ips(&drv.key(&owner))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(drv.find(&owner).await.unwrap(), Some(e.clone()));
    assert!(drv.list().await.unwrap().contains(&owner));

    drv.release(&owner).await.unwrap();
    assert!(drv.find(&owner).await.unwrap().is_none());
    assert!(!drv.list().await.unwrap().contains(&owner));
    drv.release(&owner).await.unwrap();

    // A tag that could not be filtered on is refused up front.
    let mut bad = AddressSettings::new("x");
    bad.owner_tag = "a,b".into();
    assert!(NeutronFloatingIps::new(member_session(), bad).is_err());
}

#[tokio::test]
async fn address_driver_racing_creates_leave_one_address() {
    let owner = unique("dbaas-iprace");
    let (a, b) = (addresses(), addresses());
    let (ea, eb) = tokio::join!(a.ensure(&owner), b.ensure(&owner));
    let (ea, eb) = (ea.unwrap(), eb.unwrap());
    assert_eq!(ea, eb, "both agents must end with the same address");
    let all = a
        .networking()
        .find_floating_ips(&a.key(&owner))
        .await
        .unwrap();
    assert_eq!(all.len(), 1, "{all:?}");
    let (x, y) = tokio::join!(a.ensure(&owner), a.ensure(&owner));
    assert_eq!(x.unwrap(), ea);
    assert_eq!(y.unwrap(), ea);
    a.release(&owner).await.unwrap();
}

#[tokio::test]
async fn address_driver_associates_with_the_vip_port() {
    let session = member_session();
    let ext = Networking::new(session.clone())
        .find_network(&cloud().external_network)
        .await
        .unwrap();
    let vip = VipNetwork::create(session.clone(), &ext.id, &unique("vipnet")).await;

    // Configured with the pair's VIP: the trait's ensure associates.
    let mut settings = AddressSettings::new(cloud().external_network.clone());
    settings.vip_port_id = Some(vip.port.clone());
    let drv = NeutronFloatingIps::new(session.clone(), settings).unwrap();
    let owner = unique("dbaas-vip");
    let e = drv.ensure(&owner).await.unwrap();
    let f = drv.floating_ip(&owner).await.unwrap().unwrap();
    assert_eq!(f.floating_ip_address, e.host);
    assert_eq!(f.port_id.as_deref(), Some(vip.port.as_str()));
    assert_eq!(f.fixed_ip_address.as_deref(), Some(vip.port_ip.as_str()));
    assert_eq!(f.router_id.as_deref(), Some(vip.router.as_str()));
    // Again: nothing changes.
    assert_eq!(drv.ensure(&owner).await.unwrap(), e);

    // A fixed address carries one floating IP: the next database's
    // address can take the port once this one is released.
    drv.release(&owner).await.unwrap();
    assert!(drv.find(&owner).await.unwrap().is_none());

    // Per call: an address made unassociated is associated later.
    let plain = addresses();
    let owner2 = unique("dbaas-vip");
    let f2 = plain.ensure_on(&owner2, None).await.unwrap();
    assert_eq!(f2.port_id, None);
    let f2b = plain.ensure_on(&owner2, Some(&vip.port)).await.unwrap();
    assert_eq!(f2b.id, f2.id);
    assert_eq!(f2b.port_id.as_deref(), Some(vip.port.as_str()));

    // Releasing an associated address works (and the port can then go).
    plain.release(&owner2).await.unwrap();
    assert!(plain.find(&owner2).await.unwrap().is_none());
    vip.delete().await;
}
