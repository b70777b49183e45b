//! The wire types against the samples published in each project's API
//! reference (copied into `tests/contracts/`, see the PROVENANCE.md files):
//! every response sample decodes with its values as written in the file,
//! and every request sample is exactly what we encode after decoding it.

use std::collections::BTreeSet;
use std::path::PathBuf;

use dbaas_openstack::cinder::*;
use dbaas_openstack::heat::*;
use dbaas_openstack::keystone::*;
use dbaas_openstack::neutron::*;
use dbaas_openstack::{Secret, Timestamp};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

fn path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/contracts")
        .join(rel)
}

fn text(rel: &str) -> String {
    std::fs::read_to_string(path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn decode<T: DeserializeOwned>(rel: &str) -> T {
    serde_json::from_str(&text(rel)).unwrap_or_else(|e| panic!("{rel} does not decode: {e}"))
}

/// Decodes a request sample and checks that encoding it again gives the
/// same JSON value (so no field is lost, renamed, or invented).
fn round_trip<T: DeserializeOwned + Serialize>(rel: &str) -> T {
    let raw: Value = serde_json::from_str(&text(rel)).unwrap();
    let typed: T = decode(rel);
    let again = serde_json::to_value(&typed).unwrap();
    assert_eq!(again, raw, "{rel}: our encoding differs from the sample");
    typed
}

fn ts(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

/// Every sample file in tests/contracts is exercised by a test below.
#[test]
fn every_sample_is_covered() {
    let covered: BTreeSet<&str> = [
        "keystone/auth-password-project-id-scoped-request.json",
        "keystone/auth-password-project-name-scoped-request.json",
        "keystone/auth-application-credential-id-request.json",
        "keystone/auth-application-credential-name-request.json",
        "keystone/auth-password-project-scoped-response.json",
        "keystone/auth-password-project-scoped-response-admin-legacy.json",
        "keystone/auth-application-credential-response.json",
        "keystone/get-service-catalog-response.json",
        "cinder/volume-create-request.json",
        "cinder/volume-create-response.json",
        "cinder/volume-create-response-v3.65.json",
        "cinder/volume-create-response-v3.69.json",
        "cinder/volume-show-response.json",
        "cinder/volume-show-response-v3.65.json",
        "cinder/volume-show-response-v3.69.json",
        "cinder/volumes-list-response.json",
        "cinder/volumes-list-detailed-response.json",
        "cinder/volumes-list-detailed-response-v3.65.json",
        "cinder/volumes-list-detailed-response-v3.69.json",
        "cinder/volume-extend-request.json",
        "neutron/floatingip-create-request.json",
        "neutron/floatingip-create-response.json",
        "neutron/floatingip-show-response.json",
        "neutron/floatingip-update-request.json",
        "neutron/floatingip-update-response.json",
        "neutron/floatingip-disassociate-request.json",
        "neutron/floatingip-disassociate-response.json",
        "neutron/floating-ips-list-response.json",
        "neutron/floating-ip-pools-list-response.json",
        "neutron/port-create-request.json",
        "neutron/port-create-response.json",
        "heat/stack-create-request.json",
        "heat/stack-create-response.json",
        "heat/stack-show-response.json",
        "heat/stack-outputs-list-response.json",
        "heat/stack-output-show-response.json",
    ]
    .into_iter()
    .collect();
    let mut found = BTreeSet::new();
    for dir in ["keystone", "cinder", "neutron", "heat"] {
        assert!(
            path(dir).join("PROVENANCE.md").is_file(),
            "{dir}/PROVENANCE.md"
        );
        for e in std::fs::read_dir(path(dir)).unwrap() {
            let name = e.unwrap().file_name().into_string().unwrap();
            if name.ends_with(".json") {
                found.insert(format!("{dir}/{name}"));
            }
        }
    }
    let covered: BTreeSet<String> = covered.into_iter().map(String::from).collect();
    assert_eq!(found, covered, "samples and tests disagree");
}

// ---------------------------------------------------------------- Keystone

#[test]
fn keystone_password_project_id_request() {
    let r: AuthRequest = round_trip("keystone/auth-password-project-id-scoped-request.json");
    // Our constructor builds the same body.
    let built = AuthRequest::password(
        UserRef {
            id: Some("ee4dfb6e5540447cb3741905149d9b6e".into()),
            name: None,
            domain: None,
        },
        Secret::new("devstacker"),
        ProjectRef {
            id: Some("a6944d763bf64ee6a275f1263fae0352".into()),
            name: None,
            domain: None,
        },
    );
    assert_eq!(r, built);
    let pw = r.auth.identity.password.as_ref().unwrap();
    assert_eq!(pw.user.password.expose(), "devstacker");
    assert!(
        !format!("{r:?}").contains("devstacker"),
        "Debug leaks the password"
    );
}

#[test]
fn keystone_password_project_name_request() {
    let r: AuthRequest = round_trip("keystone/auth-password-project-name-scoped-request.json");
    let built = AuthRequest::password(
        UserRef {
            id: Some("ee4dfb6e5540447cb3741905149d9b6e".into()),
            name: None,
            domain: None,
        },
        Secret::new("devstacker"),
        ProjectRef {
            id: None,
            name: Some("admin".into()),
            domain: Some(DomainRef::id("default")),
        },
    );
    assert_eq!(r, built);
}

#[test]
fn keystone_application_credential_requests() {
    let by_id: AuthRequest = round_trip("keystone/auth-application-credential-id-request.json");
    assert_eq!(
        by_id,
        AuthRequest::application_credential_id(
            "423f19a4ac1e4f48bbb4180756e6eb6c",
            Secret::new("rEaqvJka48mpv")
        )
    );
    let by_name: AuthRequest = round_trip("keystone/auth-application-credential-name-request.json");
    assert_eq!(
        by_name,
        AuthRequest::application_credential_name(
            "monitoring",
            UserRef {
                id: Some("423f19a4ac1e4f48bbb4180756e6eb6c".into()),
                name: None,
                domain: None
            },
            Secret::new("rEaqvJka48mpv")
        )
    );
    assert!(by_name.auth.scope.is_none());
}

#[test]
fn keystone_password_token_response() {
    let r: TokenResponse = decode("keystone/auth-password-project-scoped-response.json");
    let t = &r.token;
    assert_eq!(t.expires_at, ts("2015-11-07T02:58:43.578887Z"));
    assert_eq!(t.issued_at, Some(ts("2015-11-07T01:58:43.578929Z")));
    assert_eq!(t.methods, vec!["password"]);
    assert_eq!(t.audit_ids, vec!["3T2dc1CGQxyJsHdDu1xkcw"]);
    assert_eq!(t.is_domain, Some(false));
    let p = t.project.as_ref().unwrap();
    assert_eq!(p.id, "a6944d763bf64ee6a275f1263fae0352");
    assert_eq!(p.name.as_deref(), Some("admin"));
    assert_eq!(p.domain.as_ref().unwrap().id, "default");
    let u = t.user.as_ref().unwrap();
    assert_eq!(u.id, "ee4dfb6e5540447cb3741905149d9b6e");
    // No time zone in this one: taken as UTC.
    assert_eq!(u.password_expires_at, Some(ts("2016-11-06T15:32:17Z")));
    assert_eq!(t.roles[0].name.as_deref(), Some("admin"));
    assert_eq!(t.catalog.len(), 1);
    let s = &t.catalog[0];
    assert_eq!(s.service_type, "identity");
    assert_eq!(s.name.as_deref(), Some("keystone"));
    assert_eq!(s.endpoints.len(), 3);
    assert_eq!(s.endpoints[1].interface, "admin");
    assert_eq!(
        s.endpoints[1].id.as_deref(),
        Some("8bfc846841ab441ca38471be6d164ced")
    );
    assert_eq!(
        find_endpoint(&t.catalog, "identity", "internal", Some("RegionOne")),
        Some("http://example.com/identity")
    );
    assert_eq!(
        find_endpoint(&t.catalog, "identity", "public", Some("Elsewhere")),
        None
    );
}

#[test]
fn keystone_legacy_token_response_with_full_catalog() {
    let r: TokenResponse =
        decode("keystone/auth-password-project-scoped-response-admin-legacy.json");
    let c = &r.token.catalog;
    assert_eq!(c.len(), 13);
    assert_eq!(r.token.expires_at, ts("2015-11-07T02:58:43.578887Z"));
    assert_eq!(
        find_endpoint(c, "network", "public", Some("RegionOne")),
        Some("http://23.253.248.171:9696/")
    );
    // `volume` (v1) is an alias of block-storage when nothing newer is listed.
    assert_eq!(
        find_endpoint(c, "block-storage", "admin", None),
        Some("http://23.253.248.171:8776/v1/a6944d763bf64ee6a275f1263fae0352")
    );
    assert_eq!(
        find_endpoint(c, "orchestration", "internal", None),
        Some("http://23.253.248.171:8004/v1/a6944d763bf64ee6a275f1263fae0352")
    );
    assert_eq!(find_endpoint(c, "placement", "public", None), None);
}

#[test]
fn keystone_application_credential_token_response() {
    let r: TokenResponse = decode("keystone/auth-application-credential-response.json");
    let t = &r.token;
    let ac = t.application_credential.as_ref().unwrap();
    assert_eq!(ac.id, "423f19a4ac1e4f48bbb4180756e6eb6c");
    assert_eq!(ac.name.as_deref(), Some("monitoring"));
    assert_eq!(ac.restricted, Some(true));
    assert_eq!(t.expires_at, ts("2018-01-15T22:14:05Z"));
    assert_eq!(t.methods, vec!["application_credential"]);
    assert_eq!(t.project.as_ref().unwrap().name.as_deref(), Some("demo"));
    assert_eq!(t.user.as_ref().unwrap().password_expires_at, None);
    assert_eq!(t.roles[0].id, "df8b7e3bf6fb49e9ba19122da2bae916");
    assert_eq!(
        find_endpoint(&t.catalog, "identity", "public", Some("RegionOne")),
        Some("http://example.com/identity")
    );
}

#[test]
fn keystone_catalog_response() {
    let r: CatalogResponse = decode("keystone/get-service-catalog-response.json");
    assert_eq!(r.catalog.len(), 1);
    assert_eq!(
        r.catalog[0].id.as_deref(),
        Some("4363ae44bdf34a3981fde3b823cb9aa2")
    );
    assert_eq!(r.catalog[0].endpoints[2].interface, "admin");
    // This form has `region` only, no `region_id`.
    assert_eq!(r.catalog[0].endpoints[2].region_id, None);
    assert_eq!(
        find_endpoint(&r.catalog, "identity", "admin", Some("RegionOne")),
        Some("http://localhost:5000")
    );
}

// ------------------------------------------------------------------ Cinder

#[test]
fn cinder_volume_create_request() {
    let r: VolumeCreateRequest = round_trip("cinder/volume-create-request.json");
    assert_eq!(r.volume.size, 10);
    // Explicit nulls stay nulls (not absent), empty metadata stays {}.
    assert_eq!(r.volume.name, Some(None));
    assert_eq!(r.volume.image_ref, Some(None));
    assert_eq!(r.volume.multiattach, Some(Some(false)));
    assert_eq!(r.volume.metadata, Some(Some(Default::default())));
    let hints = r.scheduler_hints.as_ref().unwrap();
    assert_eq!(
        hints["same_host"],
        json!([
            "a0cf03a5-d921-4877-bb5c-86d26cf818e1",
            "8c19174f-4220-44f0-824a-cd1eeef10287"
        ])
    );
    // What dbaas itself sends: only the fields it sets.
    let ours = VolumeCreateRequest::new(
        "dbaas-x",
        2,
        [("dbaas-db".to_string(), "x".to_string())].into(),
    );
    assert_eq!(
        serde_json::to_value(&ours).unwrap(),
        json!({"volume": {"size": 2, "name": "dbaas-x", "metadata": {"dbaas-db": "x"}}})
    );
}

fn check_new_volume(v: &Volume, id: &str, created: &str) {
    assert_eq!(v.id, id);
    assert_eq!(v.status, "creating");
    assert_eq!(v.size, 10);
    assert_eq!(v.name, None);
    assert_eq!(v.description, None);
    assert_eq!(v.availability_zone.as_deref(), Some("nova"));
    assert_eq!(v.bootable.as_deref(), Some("false"));
    assert_eq!(v.encrypted, Some(false));
    assert_eq!(v.multiattach, Some(false));
    assert!(v.attachments.is_empty());
    assert!(v.metadata.is_empty());
    assert_eq!(v.volume_type.as_deref(), Some("__DEFAULT__"));
    assert_eq!(
        v.user_id.as_deref(),
        Some("c853ca26-e8ea-4797-8a52-ee124a013d0e")
    );
    // Cinder writes no time zone: UTC.
    assert_eq!(v.created_at, Some(ts(&format!("{created}Z"))));
    assert_eq!(v.updated_at, None);
    assert_eq!(v.links.len(), 2);
    assert_eq!(v.links[0].rel, "self");
    assert!(v.links[0].href.ends_with(&format!("/volumes/{id}")));
}

#[test]
fn cinder_volume_create_responses() {
    let base: VolumeResponse = decode("cinder/volume-create-response.json");
    check_new_volume(
        &base.volume,
        "2b955850-f177-45f7-9f49-ecb2c256d161",
        "2018-11-28T06:21:12.715987",
    );
    assert_eq!(base.volume.consumes_quota, None);
    assert_eq!(base.volume.tenant_id, None);
    for (file, shared) in [
        ("cinder/volume-create-response-v3.65.json", Some(true)),
        ("cinder/volume-create-response-v3.69.json", None),
    ] {
        let r: VolumeResponse = decode(file);
        let v = &r.volume;
        check_new_volume(
            v,
            "2b955850-f177-45f7-9f49-ecb2c256d161",
            "2018-11-28T06:21:12.715987",
        );
        assert_eq!(v.shared_targets, shared, "{file}");
        assert_eq!(v.consumes_quota, Some(true));
        assert_eq!(
            v.volume_type_id.as_deref(),
            Some("5fed9d7c-401d-46e2-8e80-f30c70cb7e1d")
        );
        // The create answer has no `os-vol-*` attributes.
        assert_eq!(v.tenant_id, None);
        assert_eq!(v.group_id, None);
    }
}

#[test]
fn cinder_volume_show_responses() {
    let base: VolumeResponse = decode("cinder/volume-show-response.json");
    let raw: Value = serde_json::from_str(&text("cinder/volume-show-response.json")).unwrap();
    let v = &base.volume;
    assert_eq!(v.id, raw["volume"]["id"].as_str().unwrap());
    assert_eq!(v.status, raw["volume"]["status"].as_str().unwrap());
    assert_eq!(v.size, raw["volume"]["size"].as_u64().unwrap());
    assert_eq!(
        v.created_at,
        Some(ts(raw["volume"]["created_at"].as_str().unwrap()))
    );
    for (file, shared) in [
        ("cinder/volume-show-response-v3.65.json", Some(true)),
        ("cinder/volume-show-response-v3.69.json", None),
    ] {
        let r: VolumeResponse = decode(file);
        check_new_volume(
            &r.volume,
            "f7223234-1afc-4d19-bfa3-d19deb6235ef",
            "2018-11-29T06:50:07.770785",
        );
        assert_eq!(r.volume.shared_targets, shared, "{file}");
        assert_eq!(r.volume.consumes_quota, Some(true));
        assert_eq!(r.volume.migstat, None);
        assert_eq!(r.volume.cluster_name, None);
    }
}

#[test]
fn cinder_volume_lists() {
    let short: VolumeList = decode("cinder/volumes-list-response.json");
    assert_eq!(short.volumes.len(), 1);
    assert_eq!(short.volumes[0].id, "efa54464-8fab-47cd-a05a-be3e6b396188");
    assert_eq!(short.volumes[0].name, None);
    assert_eq!(short.volumes[0].links[1].rel, "bookmark");
    for file in [
        "cinder/volumes-list-detailed-response.json",
        "cinder/volumes-list-detailed-response-v3.65.json",
        "cinder/volumes-list-detailed-response-v3.69.json",
    ] {
        let raw: Value = serde_json::from_str(&text(file)).unwrap();
        let r: VolumeDetailList = decode(file);
        let raw_list = raw["volumes"].as_array().unwrap();
        assert_eq!(r.volumes.len(), raw_list.len(), "{file}");
        for (v, rv) in r.volumes.iter().zip(raw_list) {
            assert_eq!(v.id, rv["id"].as_str().unwrap(), "{file}");
            assert_eq!(v.status, rv["status"].as_str().unwrap(), "{file}");
            assert_eq!(v.size, rv["size"].as_u64().unwrap(), "{file}");
            assert_eq!(v.name.as_deref(), rv["name"].as_str(), "{file}");
            assert_eq!(v.volume_type.as_deref(), rv["volume_type"].as_str());
            assert_eq!(v.created_at, Some(ts(rv["created_at"].as_str().unwrap())));
            assert_eq!(v.consumes_quota, rv["consumes_quota"].as_bool(), "{file}");
            assert_eq!(
                v.tenant_id.as_deref(),
                rv["os-vol-tenant-attr:tenant_id"].as_str()
            );
        }
    }
    let v69: VolumeDetailList = decode("cinder/volumes-list-detailed-response-v3.69.json");
    assert_eq!(v69.volumes[0].id, "cb49b381-9012-40cb-b8ee-80c19a4801b5");
    assert_eq!(v69.volumes[0].shared_targets, None);
}

#[test]
fn cinder_volume_extend_request() {
    let r: VolumeExtendRequest = round_trip("cinder/volume-extend-request.json");
    assert_eq!(r, VolumeExtendRequest::new(3));
}

// ----------------------------------------------------------------- Neutron

#[test]
fn neutron_floatingip_create_request() {
    let r: FloatingIpCreateRequest = round_trip("neutron/floatingip-create-request.json");
    let f = &r.floatingip;
    assert_eq!(
        f.floating_network_id,
        "376da547-b977-4cfe-9cba-275c80debf57"
    );
    assert_eq!(
        f.port_id.as_deref(),
        Some("ce705c24-c1ef-408a-bda3-7bbd946164ab")
    );
    assert_eq!(
        f.subnet_id.as_deref(),
        Some("278d9507-36e7-403c-bb80-1d7093318fe6")
    );
    assert_eq!(f.description.as_deref(), Some("floating ip for testing"));
    assert_eq!(f.floating_ip_address.as_deref(), Some("172.24.4.228"));
}

fn check_fip_common(f: &FloatingIp) {
    assert_eq!(f.id, "2f245a7b-796b-4f26-9cf9-9e82d248fda7");
    assert_eq!(f.floating_ip_address, "172.24.4.228");
    assert_eq!(
        f.floating_network_id,
        "376da547-b977-4cfe-9cba-275c80debf57"
    );
    assert_eq!(
        f.router_id.as_deref(),
        Some("d23abc8d-2991-4a55-ba98-2aaea84cc72f")
    );
    assert_eq!(f.status.as_deref(), Some("ACTIVE"));
    assert_eq!(
        f.project_id.as_deref(),
        Some("4969c491a3c74ee4af974e6d800c62de")
    );
    assert_eq!(f.tenant_id, f.project_id);
    // Kept as published: one tag with a comma, not two tags.
    assert_eq!(f.tags, vec!["tag1,tag2".to_string()]);
    assert!(f.port_forwardings.is_empty());
}

#[test]
fn neutron_floatingip_create_and_show_responses() {
    for file in [
        "neutron/floatingip-create-response.json",
        "neutron/floatingip-show-response.json",
    ] {
        let r: FloatingIpResponse = decode(file);
        let f = &r.floatingip;
        check_fip_common(f);
        assert_eq!(f.fixed_ip_address.as_deref(), Some("10.0.0.3"));
        assert_eq!(
            f.port_id.as_deref(),
            Some("ce705c24-c1ef-408a-bda3-7bbd946164ab")
        );
        assert_eq!(f.description.as_deref(), Some("floating ip for testing"));
        assert_eq!(f.dns_domain.as_deref(), Some("my-domain.org."));
        assert_eq!(f.dns_name.as_deref(), Some("myfip"));
        assert_eq!(f.created_at, Some(ts("2016-12-21T01:36:04Z")));
        assert_eq!(f.revision_number, Some(1));
        let pd = f.port_details.as_ref().unwrap();
        assert_eq!(pd.device_owner.as_deref(), Some("compute:nova"));
        assert_eq!(pd.mac_address.as_deref(), Some("fa:16:3e:b1:3b:30"));
        assert_eq!(pd.admin_state_up, Some(true));
        assert_eq!(pd.name.as_deref(), Some(""));
        assert_eq!(
            f.qos_policy_id.as_deref(),
            Some("29d5e02e-d5ab-4929-bee4-4a9fc12e22ae")
        );
    }
    let show: FloatingIpResponse = decode("neutron/floatingip-show-response.json");
    assert_eq!(
        show.floatingip.qos_network_policy_id.as_deref(),
        Some("174dd0c1-a4eb-49d4-a807-ae80246d82f4")
    );
}

#[test]
fn neutron_floatingip_update_and_disassociate() {
    let req: FloatingIpUpdateRequest = round_trip("neutron/floatingip-update-request.json");
    assert_eq!(
        req.floatingip.port_id,
        Some(Some("fc861431-0e6c-4842-a0ed-e2363f9bc3a8".into()))
    );
    let resp: FloatingIpResponse = decode("neutron/floatingip-update-response.json");
    check_fip_common(&resp.floatingip);
    assert_eq!(
        resp.floatingip.fixed_ip_address.as_deref(),
        Some("10.0.0.4")
    );
    assert_eq!(resp.floatingip.revision_number, Some(3));
    assert_eq!(resp.floatingip.updated_at, Some(ts("2016-12-22T03:13:49Z")));

    // `"port_id": null` must be sent, not dropped: it is the disassociation.
    let dis: FloatingIpUpdateRequest = round_trip("neutron/floatingip-disassociate-request.json");
    assert_eq!(dis.floatingip.port_id, Some(None));
    let resp: FloatingIpResponse = decode("neutron/floatingip-disassociate-response.json");
    check_fip_common(&resp.floatingip);
    assert_eq!(resp.floatingip.port_id, None);
    assert_eq!(resp.floatingip.fixed_ip_address, None);
    assert_eq!(resp.floatingip.port_details, None);
    assert_eq!(resp.floatingip.description.as_deref(), Some("for test"));
    assert_eq!(resp.floatingip.dns_name, None);
}

#[test]
fn neutron_floatingip_list_and_pools() {
    let r: FloatingIpList = decode("neutron/floating-ips-list-response.json");
    assert_eq!(r.floatingips.len(), 3);
    let [a, b, c] = &r.floatingips[..] else {
        panic!()
    };
    assert_eq!(a.floating_ip_address, "172.24.4.228");
    assert_eq!(a.tags, vec!["tag1,tag2"]);
    assert_eq!(b.id, "61cea855-49cb-4846-997d-801b70c71bdd");
    assert_eq!(b.router_id, None);
    assert_eq!(b.status.as_deref(), Some("DOWN"));
    assert_eq!(b.port_details, None);
    assert_eq!(b.revision_number, Some(2));
    assert_eq!(c.dns_name.as_deref(), Some("myfip3"));
    assert!(c.tags.is_empty());
    assert_eq!(c.port_forwardings.len(), 2);
    let pf = &c.port_forwardings[1];
    assert_eq!(pf.protocol.as_deref(), Some("tcp"));
    assert_eq!(pf.internal_port, Some(16666));
    assert_eq!(pf.external_port, Some(8786));
    assert_eq!(pf.internal_ip_address.as_deref(), Some("10.0.0.18"));
    assert_eq!(c.created_at, Some(ts("2018-06-15T02:12:48Z")));

    let pools: FloatingIpPoolList = decode("neutron/floating-ip-pools-list-response.json");
    let p = &pools.floatingip_pools[0];
    assert_eq!(p.subnet_id, "cdec285c-b157-48aa-900c-e77f6bd958e5");
    assert_eq!(p.network_id, "db193ab3-96e3-4cb3-8fc5-05f4296d0324");
    assert_eq!(p.subnet_name.as_deref(), Some("public-subnet"));
    assert_eq!(p.cidr.as_deref(), Some("192.0.0.0/8"));
}

#[test]
fn neutron_port_create() {
    let req: PortCreateRequest = round_trip("neutron/port-create-request.json");
    assert_eq!(req.port.network_id, "a87cc70a-3e15-4acf-8205-9b711a3531b7");
    assert_eq!(req.port.name.as_deref(), Some("private-port"));
    assert_eq!(
        req.port.allowed_address_pairs.as_ref().unwrap()[0].ip_address,
        "12.12.11.12"
    );
    let r: PortResponse = decode("neutron/port-create-response.json");
    let p = &r.port;
    assert_eq!(p.id, "65c0ee9f-d634-4522-8954-51021b570b0d");
    assert_eq!(p.status.as_deref(), Some("DOWN"));
    assert_eq!(p.mac_address.as_deref(), Some("fa:16:3e:c9:cb:f0"));
    assert_eq!(p.fixed_ips[0].ip_address.as_deref(), Some("10.0.0.2"));
    assert_eq!(
        p.fixed_ips[0].subnet_id.as_deref(),
        Some("a0304c3a-4f08-4c43-88af-d796509c97d2")
    );
    assert_eq!(
        p.dns_assignment[0].fqdn.as_deref(),
        Some("myport.my-domain.org")
    );
    assert_eq!(p.extra_dhcp_opts[0].opt_value, "pxelinux.0");
    assert_eq!(p.extra_dhcp_opts[0].ip_version, Some(4));
    assert_eq!(
        p.security_groups,
        vec!["f0ac4394-7e4a-4409-9701-ba8be283dbc3"]
    );
    assert_eq!(p.tags, vec!["tag1,tag2"]);
    assert_eq!(p.data_plane_status, None);
    assert_eq!(p.description.as_deref(), Some(""));
    assert_eq!(p.revision_number, Some(1));
    // No time zone here either.
    assert_eq!(p.created_at, Some(ts("2016-03-08T20:19:41Z")));
    assert_eq!(p.trusted, Some(true));
}

// -------------------------------------------------------------------- Heat

#[test]
fn heat_stack_create() {
    let req: StackCreateRequest = round_trip("heat/stack-create-request.json");
    assert_eq!(req.stack_name, "teststack");
    assert_eq!(req.disable_rollback, Some(true));
    assert_eq!(req.timeout_mins, Some(60));
    assert_eq!(req.parameters.as_ref().unwrap()["flavor"], json!("m1.heat"));
    assert!(req.files.as_ref().unwrap().is_empty());
    let t = req.template.as_ref().unwrap();
    assert_eq!(t["heat_template_version"], json!("2013-05-23"));
    assert_eq!(
        t["resources"]["hello_world"]["type"],
        json!("OS::Nova::Server")
    );
    let r: StackCreateResponse = decode("heat/stack-create-response.json");
    assert_eq!(r.stack.id, "3095aefc-09fb-4bc7-b1f0-f21a304e864c");
    assert_eq!(r.stack.links[0].rel, "self");
    assert!(r.stack.links[0]
        .href
        .ends_with("/stacks/teststack/3095aefc-09fb-4bc7-b1f0-f21a304e864c"));
}

#[test]
fn heat_stack_show_and_outputs() {
    let r: StackResponse = decode("heat/stack-show-response.json");
    let s = &r.stack;
    assert_eq!(s.id, "3095aefc-09fb-4bc7-b1f0-f21a304e864c");
    assert_eq!(s.stack_name, "simple_stack");
    assert_eq!(s.stack_status, "CREATE_COMPLETE");
    assert_eq!(
        s.stack_status_reason.as_deref(),
        Some("Stack CREATE completed successfully")
    );
    assert_eq!(s.creation_time, Some(ts("2014-06-03T20:59:46Z")));
    assert_eq!(s.deletion_time, None);
    assert_eq!(s.updated_time, None);
    assert_eq!(s.tags, None);
    assert_eq!(s.timeout_mins, None);
    assert_eq!(s.disable_rollback, Some(true));
    assert!(s.outputs.is_empty());
    assert_eq!(s.parameters["OS::stack_name"], json!("simple_stack"));
    assert_eq!(s.stack_owner.as_deref(), Some("simple_username"));
    assert_eq!(
        s.stack_user_project_id.as_deref(),
        Some("65728b74-cfe7-4f17-9c15-11d4f686e591")
    );

    let l: StackOutputList = decode("heat/stack-outputs-list-response.json");
    assert_eq!(l.outputs.len(), 1);
    assert_eq!(l.outputs[0].output_key, "output name");
    assert_eq!(
        l.outputs[0].description.as_deref(),
        Some("output description")
    );
    assert_eq!(l.outputs[0].output_value, None);

    let o: StackOutputResponse = decode("heat/stack-output-show-response.json");
    assert_eq!(o.output.output_key, "output_name");
    assert_eq!(o.output.output_value, Some(json!("output_value")));
    assert_eq!(o.output.output_error.as_deref(), Some("error message"));
}

/// Fields newer than this crate are ignored rather than refused.
#[test]
fn unknown_fields_are_tolerated() {
    let mut raw: Value =
        serde_json::from_str(&text("cinder/volume-show-response-v3.69.json")).unwrap();
    raw["volume"]["a_field_from_3_99"] = json!({"nested": [1, 2]});
    let v: VolumeResponse = serde_json::from_value(raw).unwrap();
    assert_eq!(v.volume.id, "f7223234-1afc-4d19-bfa3-d19deb6235ef");
    let mut raw: Value =
        serde_json::from_str(&text("neutron/floatingip-show-response.json")).unwrap();
    raw["floatingip"]["new_thing"] = json!(true);
    let _: FloatingIpResponse = serde_json::from_value(raw).unwrap();
}
