//! The dbaas agent under test: the release binary, started as its own
//! process on a fresh data directory, a loopback address pool of its own and
//! port 0, as the end-to-end tests do.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use dbaas_client::Client;

/// The workspace root, where `target/` and `Cargo.lock` live.
fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors().nth(2).unwrap_or(here).to_path_buf()
}

/// The `dbaas` binary to benchmark: `DBAAS_BIN` (or `--dbaas-bin`) as given,
/// else `target/release/dbaas`, brought up to date by an offline
/// `cargo build --release --bin dbaas` (a no-op when it is current).
pub fn locate_binary(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(bin) = given {
        if !bin.is_file() {
            bail!("DBAAS_BIN={}: no such file", bin.display());
        }
        return Ok(bin);
    }
    let root = workspace_root();
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => std::env::current_dir()?.join(dir),
        None => root.join("target"),
    };
    let bin = target.join("release").join("dbaas");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("building the agent: cargo build --release --offline --bin dbaas");
    let built = Command::new(cargo)
        .args(["build", "--release", "--offline", "--bin", "dbaas"])
        .current_dir(&root)
        .stdin(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    match (built, bin.is_file()) {
        (true, true) => Ok(bin),
        (false, true) => {
            eprintln!("warning: the build failed; benchmarking the existing {}", bin.display());
            Ok(bin)
        }
        (_, false) => bail!(
            "{} is missing and could not be built; run `cargo build --release --bin dbaas` in {} or set DBAAS_BIN",
            bin.display(),
            root.display()
        ),
    }
}

/// A loopback /24 of this run's own (second octet 30-69, away from the
/// tests' 100-249 and the dev default 127.77.0.0/24).
fn unique_pool() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let n = u64::from(std::process::id()) * 7919 + u64::from(nanos);
    format!("127.{}.{}.0/24", 30 + n % 40, (n / 40) % 250 + 1)
}

/// A running agent. Dropping it kills the agent, kills any engine left
/// under its data directory and removes the directory.
pub struct Agent {
    dir: tempfile::TempDir,
    child: Option<Child>,
    pub client: Client,
    /// `http://127.0.0.1:PORT`.
    pub address: String,
}

impl Agent {
    pub fn start(bin: &Path) -> anyhow::Result<Agent> {
        Agent::start_with(bin, "")
    }

    /// Starts the agent with `extra` appended to its configuration (HCL).
    pub fn start_with(bin: &Path, extra: &str) -> anyhow::Result<Agent> {
        let dir = tempfile::Builder::new().prefix("dbb").tempdir_in("/tmp")?;
        let data = dir.path();
        let config = data.join("agent.hcl");
        let hcl = format!(
            "data_dir = \"{}\"\nlisten = \"127.0.0.1:0\"\nlocal {{\n  address_pool = \"{}\"\n}}\n{extra}",
            data.display(),
            unique_pool()
        );
        std::fs::write(&config, hcl)?;
        let log = std::fs::File::create(data.join("agent.log"))?;
        let child = Command::new(bin)
            .arg("agent")
            .arg("--config")
            .arg(&config)
            .env_remove("DBAAS_FAILPOINTS")
            .env_remove("DBAAS_LOG")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let mut agent = Agent {
            dir,
            child: Some(child),
            client: Client::new("http://127.0.0.1:1"),
            address: String::new(),
        };
        let addr_file = agent.dir.path().join("agent.addr");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(addr) = std::fs::read_to_string(&addr_file) {
                agent.address = addr.trim().to_string();
                agent.client = Client::new(&agent.address);
                return Ok(agent);
            }
            if let Some(status) = agent
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                bail!("the agent exited at start ({status}): {}", agent.log_tail());
            }
            if Instant::now() > deadline {
                bail!("the agent did not start within 30 s: {}", agent.log_tail());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The last lines of the agent's log, for error messages.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("agent.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        stop_engines(self.dir.path());
    }
}

/// Kills every engine whose data directory is under the agent's.
fn stop_engines(data_dir: &Path) {
    let Ok(volumes) = std::fs::read_dir(data_dir.join("volumes")) else {
        return;
    };
    for volume in volumes.flatten() {
        crate::create::kill_postmaster(&volume.path().join("pgdata"));
    }
}
