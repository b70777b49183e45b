//! SwiftStore with Keystone v3 password authentication, against a real
//! Keystone and a real Swift on 127.0.0.1.
//!
//! The test starts a throwaway OpenStack with `scripts/openstack up <tmp>`
//! (Keystone, plus the Cinder and Neutron it always brings; its watcher,
//! armed by OPENSTACK_OWNER_PID, stops it when this process exits), then a
//! Swift with `scripts/swift start --keystone <auth url>`, which adds a
//! proxy whose pipeline has authtoken + keystoneauth and registers it in
//! Keystone's catalog as the object-store endpoint. The user is the one
//! `scripts/openstack` makes (`member` of its project), read from the
//! clouds.yaml it writes. If anything cannot be started the test fails,
//! saying why: it is never skipped.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use bytes::Bytes;
use dbaas_objstore::{
    Error, KeystoneAuth, Metadata, ObjectStore, Secret, SwiftAuth, SwiftConfig, SwiftStore,
};

const SCRIPTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts");

/// The `auth:` values of one cloud in clouds.yaml (the flat layout
/// `scripts/openstack` writes: `key: value` under `auth:`).
fn cloud_auth(clouds_yaml: &str, cloud: &str) -> Result<Vec<(String, String)>, String> {
    let mut in_cloud = false;
    let mut in_auth = false;
    let mut out = Vec::new();
    for line in clouds_yaml.lines() {
        let indent = line.len() - line.trim_start().len();
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if indent == 2 {
            in_cloud = t == format!("{cloud}:");
            in_auth = false;
        } else if indent < 2 {
            in_cloud = false;
            in_auth = false;
        } else if in_cloud && indent == 4 {
            in_auth = t == "auth:";
        } else if in_cloud && in_auth && indent == 6 {
            if let Some((k, v)) = t.split_once(':') {
                out.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
    }
    if out.is_empty() {
        return Err(format!("clouds.yaml has no auth section for cloud {cloud}"));
    }
    Ok(out)
}

fn run(cmd: &mut Command, what: &str) -> Result<String, String> {
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{what} exited with {}:\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Once this process has exited (and the OPENSTACK_OWNER_PID watcher has
/// run `down`), stop again (idempotent, waits on its lock) and remove the
/// state directory.
fn remove_when_done(dir: &Path) {
    let _ = Command::new("setsid")
        .arg("bash")
        .arg("-c")
        .arg(r#"while kill -0 "$1" 2>/dev/null; do sleep 1; done; sleep 2; "$2" down "$3"; rm -rf "$3""#)
        .arg("cleanup")
        .arg(std::process::id().to_string())
        .arg(format!("{SCRIPTS}/openstack"))
        .arg(dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
}

struct Cloud {
    auth: KeystoneAuth,
}

fn start() -> Result<Cloud, String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let pid = std::process::id().to_string();
    let tmp = std::env::temp_dir();
    let os_dir: PathBuf = tmp.join(format!("dbaas-objstore-keystone-{pid}"));
    let swift_dir: PathBuf = tmp.join(format!("dbaas-objstore-swift-ks-{pid}"));

    let t = Instant::now();
    remove_when_done(&os_dir);
    run(
        Command::new(format!("{SCRIPTS}/openstack"))
            .arg("up")
            .arg(&os_dir)
            .env("OPENSTACK_OWNER_PID", &pid),
        &format!(
            "{SCRIPTS}/openstack up {} (it needs root and Debian's OpenStack packages)",
            os_dir.display()
        ),
    )?;
    eprintln!("openstack up in {:.1} s", t.elapsed().as_secs_f64());

    let clouds = std::fs::read_to_string(os_dir.join("clouds.yaml"))
        .map_err(|e| format!("{}/clouds.yaml: {e}", os_dir.display()))?;
    let member = cloud_auth(&clouds, "dbaas")?;
    let admin = cloud_auth(&clouds, "dbaas-admin")?;
    let get = |kv: &[(String, String)], k: &str| {
        kv.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| format!("clouds.yaml lacks auth.{k}"))
    };
    let auth_url = get(&member, "auth_url")?;
    if !auth_url.starts_with("http://127.0.0.1:") {
        return Err(format!(
            "Keystone at {auth_url}: this test only talks to 127.0.0.1"
        ));
    }

    let t = Instant::now();
    let out = run(
        Command::new(format!("{SCRIPTS}/swift"))
            .arg("start")
            .arg("--dir")
            .arg(&swift_dir)
            .arg("--until-pid")
            .arg(&pid)
            .arg("--keystone")
            .arg(&auth_url)
            .arg("--keystone-admin-password")
            .arg(get(&admin, "password")?),
        &format!(
            "{SCRIPTS}/swift start --dir {} --keystone {auth_url}",
            swift_dir.display()
        ),
    )?;
    eprintln!(
        "swift (keystone proxy) up in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    if !out
        .lines()
        .any(|l| l.starts_with("SWIFT_KEYSTONE_PROXY=http://127.0.0.1:"))
    {
        return Err(format!(
            "scripts/swift printed no SWIFT_KEYSTONE_PROXY:\n{out}"
        ));
    }

    Ok(Cloud {
        auth: KeystoneAuth {
            auth_url,
            username: get(&member, "username")?,
            password: Secret::new(get(&member, "password")?),
            project_name: get(&member, "project_name")?,
            user_domain_name: get(&member, "user_domain_name")?,
            project_domain_name: get(&member, "project_domain_name")?,
            region_name: Some("RegionOne".into()),
            interface: "public".into(),
        },
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn keystone_round_trip_and_wrong_password() {
    let t0 = Instant::now();
    let cloud = match tokio::task::spawn_blocking(start).await.unwrap() {
        Ok(c) => c,
        Err(e) => panic!("could not start Keystone and Swift for this test: {e}"),
    };

    let container = format!("ks-{}", std::process::id());
    let store = SwiftStore::new(SwiftConfig::new(
        SwiftAuth::Keystone(cloud.auth.clone()),
        container.as_str(),
    ))
    .unwrap();

    // put / get / list / delete, through a token and the catalog's endpoint.
    let mut meta = Metadata::new();
    meta.insert("kind".into(), "keystone-test".into());
    let data = Bytes::from_static(b"hello through keystone");
    let info = store.put("dir/a", data.clone(), &meta).await.unwrap();
    assert_eq!(info.size, data.len() as u64);
    store
        .put("dir/b", Bytes::from_static(b"second"), &Metadata::new())
        .await
        .unwrap();

    let got = store.get("dir/a").await.unwrap();
    assert_eq!(got.data, data);
    assert_eq!(
        got.info.metadata.get("kind").map(String::as_str),
        Some("keystone-test")
    );

    let names: Vec<String> = store
        .list("dir/")
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(names, ["dir/a", "dir/b"]);

    store.delete("dir/a").await.unwrap();
    store.delete("dir/b").await.unwrap();
    assert!(store.list("dir/").await.unwrap().is_empty());
    assert!(matches!(
        store.get("dir/a").await,
        Err(Error::NotFound { .. })
    ));

    // A wrong password: Keystone refuses it, reported as an auth error.
    let mut bad = cloud.auth.clone();
    bad.password = Secret::new("not-the-password");
    let bad_store = SwiftStore::new(SwiftConfig::new(SwiftAuth::Keystone(bad), container)).unwrap();
    let err = bad_store.list("").await.unwrap_err();
    match &err {
        Error::Auth { detail, .. } => assert!(detail.contains("401"), "{err}"),
        other => panic!("a wrong password should be an auth error, got: {other}"),
    }
    eprintln!("keystone test done in {:.1} s", t0.elapsed().as_secs_f64());
}
