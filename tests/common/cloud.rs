//! A throwaway OpenStack (Keystone, Cinder, Neutron) for the end-to-end
//! tests, started by the project's own `scripts/openstack`; its watcher
//! stops it when the test process exits.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub const SCRIPTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts");

pub fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} exited with {}:\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Removes the state directory once this process has exited and the
/// OPENSTACK_OWNER_PID watcher has stopped the cloud.
fn remove_when_done(dir: &Path) {
    let _ = Command::new("setsid")
        .arg("bash")
        .arg("-c")
        .arg(r#"while kill -0 "$1" 2>/dev/null; do sleep 1; done; sleep 2; "$2" down "$3"; rm -rf "$3""#)
        .arg("cleanup")
        .arg(std::process::id().to_string())
        .arg(format!("{SCRIPTS}/openstack"))
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
}

/// Starts the cloud (`tag` names its state directory); returns that
/// directory, whose `clouds.yaml` names the member cloud `dbaas` and the
/// admin cloud `dbaas-admin`.
pub fn start_openstack(tag: &str) -> PathBuf {
    start_openstack_with(tag, &[])
}

/// As [`start_openstack`], with more arguments to `up` (`--with-heat`
/// adds Placement, Nova with its fake driver, and Heat).
pub fn start_openstack_with(tag: &str, extra: &[&str]) -> PathBuf {
    let pid = std::process::id().to_string();
    let dir = std::env::temp_dir().join(format!("dbaas-e2e-{tag}-{pid}"));
    remove_when_done(&dir);
    run(
        Command::new(format!("{SCRIPTS}/openstack"))
            .arg("up")
            .args(extra)
            .arg(&dir)
            .env("OPENSTACK_OWNER_PID", &pid),
        "scripts/openstack up (needs root and Debian's OpenStack packages)",
    );
    dir
}

/// The value of `key` under `clouds: <cloud>: auth:` in the flat
/// clouds.yaml that `scripts/openstack` writes.
pub fn auth_value(clouds_yaml: &str, cloud: &str, key: &str) -> String {
    let mut in_cloud = false;
    for line in clouds_yaml.lines() {
        let indent = line.len() - line.trim_start().len();
        let t = line.trim();
        if indent == 2 {
            in_cloud = t == format!("{cloud}:");
        } else if in_cloud && indent == 6 {
            if let Some(v) = t.strip_prefix(&format!("{key}:")) {
                return v.trim().to_string();
            }
        }
    }
    panic!("clouds.yaml has no {cloud}.auth.{key}:\n{clouds_yaml}")
}
