//! Starting a real Swift for the store tests, with the project's script.

use std::collections::BTreeMap;
use std::process::Command;

/// Runs `scripts/swift start --dir <tmp>/<name>-<pid> --until-pid <pid>`
/// (plus `extra` arguments) and returns the `KEY=VALUE` lines it prints.
/// The script's watcher stops Swift and removes its state when this test
/// process exits.
pub fn start_swift(name: &str, extra: &[&str]) -> Result<BTreeMap<String, String>, String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/swift");
    let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
    let started = std::time::Instant::now();
    let out = Command::new(script)
        .arg("start")
        .arg("--dir")
        .arg(&dir)
        .arg("--until-pid")
        .arg(std::process::id().to_string())
        .args(extra)
        .output()
        .map_err(|e| format!("cannot run {script}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "Swift did not start ({script} start --dir {} exited with {}):\n{}\n\
             Run that command by hand to see why (it installs Debian's swift packages \
             if missing, so it needs apt and root or sudo).",
            dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    eprintln!("swift started in {:.1} s", started.elapsed().as_secs_f64());
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect())
}

/// The value the script printed for `key`.
pub fn printed(vars: &BTreeMap<String, String>, key: &str) -> Result<String, String> {
    vars.get(key)
        .cloned()
        .ok_or_else(|| format!("scripts/swift printed no {key}: {vars:?}"))
}
