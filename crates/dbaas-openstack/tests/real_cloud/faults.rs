//! Faults between dbaas and Cinder / Neutron: a proxy in front of each
//! breaks chosen requests (error statuses before or after the service
//! acted, connections closed, answers delayed past the client's timeout),
//! and every ensure / delete still ends with exactly one resource, or
//! none.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use dbaas_drivers::{AddressDriver, VolumeDriver};
use dbaas_openstack::{
    AddressSettings, CinderVolumes, NeutronFloatingIps, RetryPolicy, Session, SessionOptions,
    VolumeSettings,
};
use reqwest::Method;

use super::{addresses, cloud, member, unique, volumes};

use super::fault_proxy::{Fault, FaultProxy, Rule};

/// The client's whole-request timeout behind the proxies: a `DelayAfter`
/// longer than this is an answer lost after the service acted.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(8);

struct Proxied {
    session: Arc<Session>,
    cinder: FaultProxy,
    neutron: FaultProxy,
}

/// A member session whose Cinder and Neutron requests go through a proxy
/// each (the catalog's endpoints overridden, as clouds.yaml's
/// `*_endpoint_override` would).
async fn proxied() -> Proxied {
    let plain = Session::new(member()).unwrap();
    let mut overrides = BTreeMap::new();
    let mut proxies = Vec::new();
    for service in ["block-storage", "network"] {
        let url = reqwest::Url::parse(&plain.endpoint(service).await.unwrap()).unwrap();
        let origin = format!(
            "{}://{}:{}",
            url.scheme(),
            url.host_str().unwrap(),
            url.port_or_known_default().unwrap()
        );
        let proxy = FaultProxy::start(&origin).await;
        overrides.insert(
            service.to_string(),
            format!("{}{}", proxy.url(), url.path()),
        );
        proxies.push(proxy);
    }
    let options = SessionOptions {
        request_timeout: REQUEST_TIMEOUT,
        retry: RetryPolicy {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(500),
        },
        endpoint_overrides: overrides,
        ..SessionOptions::default()
    };
    let neutron = proxies.pop().unwrap();
    let cinder = proxies.pop().unwrap();
    let session = Arc::new(Session::with_options(member(), options).unwrap());
    // Authenticated up front: Keystone is not what these tests break.
    session.token().await.unwrap();
    Proxied {
        session,
        cinder,
        neutron,
    }
}

/// Faults on the create itself, and whether the service saw the request.
fn create_faults() -> Vec<(Fault, bool)> {
    vec![
        (Fault::StatusAfter(502), true),
        (Fault::StatusAfter(500), true),
        (Fault::StatusAfter(504), true),
        (Fault::ResetAfter, true),
        (
            Fault::DelayAfter(REQUEST_TIMEOUT + Duration::from_secs(2)),
            true,
        ),
        (Fault::StatusBefore(503), false),
        (Fault::StatusBefore(500), false),
        (Fault::ResetBefore, false),
    ]
}

#[tokio::test]
async fn volume_ensure_and_delete_through_faults_leave_exactly_one_then_none() {
    let mut runs = Vec::new();
    for (fault, applied) in create_faults() {
        let p = proxied().await;
        runs.push(tokio::spawn(async move {
            let drv = CinderVolumes::new(p.session.clone(), VolumeSettings::default());
            let name = unique("dbaas-fault");
            p.cinder.add(Rule::new(Method::POST, "/volumes", fault));
            // Lookups and polls fail too, once each way.
            p.cinder.add(Rule::new(
                Method::GET,
                "/volumes/detail",
                Fault::StatusBefore(503),
            ));
            p.cinder
                .add(Rule::new(Method::GET, "/volumes/", Fault::ResetBefore));
            let v = drv
                .ensure(&name, 1, "op-1")
                .await
                .unwrap_or_else(|e| panic!("{fault:?}: {e}"));
            let posts = p.cinder.count(&Method::POST, "/volumes");
            // A create the service may have applied is looked up, never
            // blindly sent again; one it never saw is sent again.
            assert_eq!(posts, if applied { 1 } else { 2 }, "{fault:?}");
            let plain = volumes();
            let all = plain
                .storage()
                .find_volumes(&plain.key(&name))
                .await
                .unwrap();
            assert_eq!(all.len(), 1, "{fault:?}: {all:?}");
            assert_eq!(all[0].id, v.id, "{fault:?}");
            assert_eq!(all[0].status, "available", "{fault:?}");

            // Delete through faults: the DELETE's answer lost, polls failing.
            p.cinder
                .add(Rule::new(Method::DELETE, "/volumes/", Fault::ResetAfter));
            p.cinder
                .add(Rule::new(Method::GET, "/volumes/", Fault::StatusBefore(500)).times(2));
            drv.delete(&name)
                .await
                .unwrap_or_else(|e| panic!("{fault:?}: delete: {e}"));
            assert!(plain.find(&name).await.unwrap().is_none(), "{fault:?}");
            assert!(plain.storage().get_volume(&v.id).await.unwrap().is_none());
            drv.delete(&name).await.unwrap();
            p.cinder.injected()
        }));
    }
    for r in runs {
        assert!(r.await.unwrap() >= 4, "every run met its faults");
    }
}

#[tokio::test]
async fn floating_ip_ensure_and_release_through_faults_leave_exactly_one_then_none() {
    let ext = cloud().external_network.clone();
    let mut runs = Vec::new();
    for (fault, applied) in create_faults() {
        let ext = ext.clone();
        let p = proxied().await;
        runs.push(tokio::spawn(async move {
            let drv =
                NeutronFloatingIps::new(p.session.clone(), AddressSettings::new(ext)).unwrap();
            let owner = unique("dbaas-fault");
            p.neutron
                .add(Rule::new(Method::POST, "/v2.0/floatingips", fault));
            p.neutron
                .add(Rule::new(Method::PUT, "/tags", Fault::StatusAfter(503)));
            p.neutron.add(Rule::new(
                Method::GET,
                "/v2.0/floatingips?",
                Fault::ResetBefore,
            ));
            let e = drv
                .ensure(&owner)
                .await
                .unwrap_or_else(|e| panic!("{fault:?}: {e}"));
            let posts = p.neutron.count(&Method::POST, "/v2.0/floatingips");
            assert_eq!(posts, if applied { 1 } else { 2 }, "{fault:?}");
            let plain = addresses();
            let all = plain
                .networking()
                .find_floating_ips(&plain.key(&owner))
                .await
                .unwrap();
            assert_eq!(all.len(), 1, "{fault:?}: {all:?}");
            assert_eq!(all[0].floating_ip_address, e.host, "{fault:?}");
            assert!(all[0].tags.contains(&format!("dbaas:{owner}")), "{fault:?}");

            p.neutron.add(Rule::new(
                Method::DELETE,
                "/v2.0/floatingips/",
                Fault::StatusAfter(502),
            ));
            p.neutron.add(Rule::new(
                Method::GET,
                "/v2.0/floatingips?",
                Fault::DelayBefore(Duration::from_millis(500)),
            ));
            drv.release(&owner)
                .await
                .unwrap_or_else(|e| panic!("{fault:?}: release: {e}"));
            assert!(plain.find(&owner).await.unwrap().is_none(), "{fault:?}");
            drv.release(&owner).await.unwrap();
            p.neutron.injected()
        }));
    }
    for r in runs {
        assert!(r.await.unwrap() >= 4, "every run met its faults");
    }
}

#[tokio::test]
async fn a_crash_after_the_create_was_accepted_leaves_one_volume_and_one_address() {
    let p = proxied().await;
    // The answers to the creates are held back: the "agent" dies while
    // waiting for them, after the cloud has acted.
    let hold = Fault::DelayAfter(Duration::from_secs(30));
    p.cinder.add(Rule::new(Method::POST, "/volumes", hold));
    p.neutron
        .add(Rule::new(Method::POST, "/v2.0/floatingips", hold));

    let name = unique("dbaas-crash");
    let drv = CinderVolumes::new(p.session.clone(), VolumeSettings::default());
    let plain = volumes();
    let key = plain.key(&name);
    let seen = tokio::select! {
        r = drv.ensure(&name, 1, "op-1") => panic!("ensure finished before the crash point: {r:?}"),
        id = async {
            loop {
                if let Some(v) = plain.storage().find_volumes(&key).await.unwrap().pop() {
                    break v.id;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        } => id,
    };
    // The ensure future is gone; the step runs again in a new agent.
    let after = volumes().ensure(&name, 1, "op-1").await.unwrap();
    assert_eq!(after.id, seen, "the re-run step adopts the volume");
    assert_eq!(plain.storage().find_volumes(&key).await.unwrap().len(), 1);
    plain.delete(&name).await.unwrap();
    assert!(plain.storage().find_volumes(&key).await.unwrap().is_empty());

    let owner = unique("dbaas-crash");
    let drv = NeutronFloatingIps::new(
        p.session.clone(),
        AddressSettings::new(cloud().external_network.clone()),
    )
    .unwrap();
    let plain = addresses();
    let key = plain.key(&owner);
    let seen = tokio::select! {
        r = drv.ensure(&owner) => panic!("ensure finished before the crash point: {r:?}"),
        id = async {
            loop {
                if let Some(f) = plain.networking().find_floating_ips(&key).await.unwrap().pop() {
                    break f.id;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        } => id,
    };
    // Untagged (the crash came before the tags): listed by its description.
    assert!(plain.list().await.unwrap().contains(&owner));
    let after = addresses().ensure(&owner).await.unwrap();
    let all = plain.networking().find_floating_ips(&key).await.unwrap();
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0].id, seen);
    assert_eq!(all[0].floating_ip_address, after.host);
    assert!(all[0].tags.contains(&format!("dbaas:{owner}")));
    plain.release(&owner).await.unwrap();
    assert!(plain
        .networking()
        .find_floating_ips(&key)
        .await
        .unwrap()
        .is_empty());
}
