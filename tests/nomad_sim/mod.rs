//! The Nomad simulator of the end-to-end tests (`dbaas-nomad-sim`) with a
//! task driver that runs an engine job's task as a real local PostgreSQL,
//! as Nomad's docker driver would run the official image:
//!
//! - the image `postgres:N` is PostgreSQL N from `/usr/lib/postgresql/N/bin`;
//! - the bind mount's `source` (the database's volume path) is the data
//!   directory's parent, as `target` is in the container, and `PGDATA` is
//!   mapped through it; an empty `PGDATA` is initialised (`initdb`, the
//!   superuser `POSTGRES_USER`), as the image's entrypoint does;
//! - the engine listens on the group's static port `db` on every address
//!   (a published docker port), without a unix socket (none is reachable
//!   from the agent in production);
//! - a stop sends the task's `kill_signal` and waits for the exit, then
//!   kills after its `kill_timeout`.
//!
//! Client authentication is the image's: `host all all all scram-sha-256`
//! from every address, loopback included. The superuser's password is
//! the one the job's template hands the image (`POSTGRES_PASSWORD` from the
//! job's Nomad variable `nomad/jobs/<job>`), read from the simulator the
//! driver is attached to; the agent administers the engine over TCP with
//! it (`EngineRuntime::admin_access`), and runs SQL jobs as the owner with
//! the owner's password.
//!
//! Test code only.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub use dbaas_nomad_sim::*;

use dbaas_nomad_sim::dbaas_nomad::Job;

/// What a started engine task was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineTask {
    pub alloc_id: String,
    pub node: String,
    pub job_id: String,
    pub port: u16,
    pub pgdata: PathBuf,
    pub superuser: String,
}

struct Running {
    task: EngineTask,
    child: tokio::process::Child,
    signal: nix::sys::signal::Signal,
    kill_timeout: Duration,
}

/// Runs engine tasks as local PostgreSQL processes.
#[derive(Default)]
pub struct PostgresTasks {
    running: Mutex<BTreeMap<String, Running>>,
    started: Mutex<Vec<EngineTask>>,
    /// The simulator whose variables hold the superusers' passwords.
    sim: std::sync::OnceLock<Sim>,
}

impl PostgresTasks {
    /// Reads the engines' passwords from `sim`'s variables from now on, as
    /// a job's template does.
    pub fn attach(&self, sim: Sim) {
        let _ = self.sim.set(sim);
    }

    /// The superuser password the job's variable holds for it.
    fn superuser_password(&self, job_id: &str) -> Result<String, String> {
        let sim = self
            .sim
            .get()
            .ok_or("the task driver is not attached to a simulator")?;
        let path = format!("nomad/jobs/{job_id}");
        sim.variable(&path)
            .and_then(|v| v.items.get("superuser_password").cloned())
            .ok_or_else(|| format!("template: no superuser_password in the variable {path}"))
    }

    /// Every engine task started so far.
    pub fn started(&self) -> Vec<EngineTask> {
        self.started.lock().unwrap().clone()
    }

    /// The allocations whose engine runs now.
    pub fn running(&self) -> Vec<String> {
        self.running.lock().unwrap().keys().cloned().collect()
    }
}

fn engine_user() -> Option<nix::unistd::User> {
    nix::unistd::geteuid()
        .is_root()
        .then(|| nix::unistd::User::from_name("postgres").ok().flatten())
        .flatten()
}

/// A command run as the engine user when the tests run as root
/// (PostgreSQL refuses root), never through a shell.
fn command(program: &Path) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(program);
    if let Some(u) = engine_user() {
        c.uid(u.uid.as_raw()).gid(u.gid.as_raw());
    }
    c.stdin(std::process::Stdio::null());
    c
}

fn give(path: &Path) -> Result<(), String> {
    if let Some(u) = engine_user() {
        nix::unistd::chown(path, Some(u.uid), Some(u.gid))
            .map_err(|e| format!("chown {}: {e}", path.display()))?;
    }
    Ok(())
}

/// The engine task of `job`, read as Nomad's docker driver reads it.
fn engine_task(
    alloc_id: &str,
    node: &SimNode,
    job: &Job,
) -> Result<(EngineTask, String, Running0), String> {
    let group = job
        .task_groups
        .iter()
        .flatten()
        .find(|g| g.name.as_deref() == Some("engine"))
        .ok_or("the job has no group \"engine\"")?;
    let task = group
        .tasks
        .iter()
        .flatten()
        .find(|t| t.name.as_deref() == Some("engine"))
        .ok_or("the group has no task \"engine\"")?;
    if task.driver.as_deref() != Some("docker") {
        return Err(format!("unexpected task driver {:?}", task.driver));
    }
    let config = task.config.clone().unwrap_or_default();
    let image = config["image"].as_str().ok_or("config.image is missing")?;
    let version = image
        .strip_prefix("postgres:")
        .filter(|v| v.chars().all(|c| c.is_ascii_digit()))
        .ok_or_else(|| format!("image {image:?} is not postgres:N"))?;
    let bin = PathBuf::from(format!("/usr/lib/postgresql/{version}/bin"));
    let mounts: Vec<serde_json::Value> = match &config["mount"] {
        serde_json::Value::Array(a) => a.clone(),
        serde_json::Value::Object(_) => vec![config["mount"].clone()],
        _ => Vec::new(),
    };
    let mount = mounts
        .iter()
        .find(|m| m["type"] == "bind")
        .ok_or("config.mount has no bind mount")?;
    let source = mount["source"].as_str().ok_or("mount.source is missing")?;
    let target = mount["target"].as_str().ok_or("mount.target is missing")?;
    let env = task.env.clone().unwrap_or_default();
    let pgdata_in = env.get("PGDATA").ok_or("env.PGDATA is missing")?;
    let rel = Path::new(pgdata_in)
        .strip_prefix(target)
        .map_err(|_| format!("PGDATA {pgdata_in} is not under the mount {target}"))?;
    let superuser = env
        .get("POSTGRES_USER")
        .cloned()
        .unwrap_or_else(|| "postgres".into());
    let port = group
        .networks
        .iter()
        .flatten()
        .flat_map(|n| n.reserved_ports.iter().flatten())
        .find(|p| p.label.as_deref() == Some("db"))
        .and_then(|p| p.value)
        .ok_or("the group has no static port \"db\"")?;
    let signal = match task.kill_signal.as_deref() {
        Some("SIGINT") => nix::sys::signal::Signal::SIGINT,
        Some("SIGQUIT") => nix::sys::signal::Signal::SIGQUIT,
        _ => nix::sys::signal::Signal::SIGTERM,
    };
    let kill_timeout = Duration::from_nanos(task.kill_timeout.unwrap_or(5_000_000_000) as u64);
    Ok((
        EngineTask {
            alloc_id: alloc_id.into(),
            node: node.name.clone(),
            job_id: job.id.clone().unwrap_or_default(),
            port: u16::try_from(port).map_err(|_| format!("port {port} out of range"))?,
            pgdata: Path::new(source).join(rel),
            superuser,
        },
        source.to_string(),
        Running0 {
            bin,
            signal,
            kill_timeout,
        },
    ))
}

struct Running0 {
    bin: PathBuf,
    signal: nix::sys::signal::Signal,
    kill_timeout: Duration,
}

async fn run(cmd: &mut tokio::process::Command, what: &str) -> Result<(), String> {
    let out = cmd.output().await.map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

#[async_trait]
impl TaskDriver for PostgresTasks {
    async fn start(&self, alloc_id: &str, node: &SimNode, job: &Job) -> Result<(), String> {
        let (task, volume, how) = engine_task(alloc_id, node, job)?;
        let volume = Path::new(&volume);
        std::fs::create_dir_all(volume).map_err(|e| format!("{}: {e}", volume.display()))?;
        give(volume)?;
        let pgdata = &task.pgdata;
        if !pgdata.join("PG_VERSION").is_file() {
            // The image's entrypoint: initdb into an empty PGDATA.
            std::fs::create_dir_all(pgdata).map_err(|e| format!("{}: {e}", pgdata.display()))?;
            give(pgdata)?;
            // POSTGRES_PASSWORD, given to initdb in a file only its user
            // reads, removed once used.
            let pwfile = volume.join(".pwfile");
            std::fs::write(&pwfile, self.superuser_password(&task.job_id)?)
                .map_err(|e| e.to_string())?;
            give(&pwfile)?;
            let made = run(
                command(&how.bin.join("initdb"))
                    .arg("-D")
                    .arg(pgdata)
                    .arg("-U")
                    .arg(&task.superuser)
                    .arg("-E")
                    .arg("UTF8")
                    .arg("--auth-local=trust")
                    .arg("--auth-host=scram-sha-256")
                    .arg(format!("--pwfile={}", pwfile.display())),
                "initdb",
            )
            .await;
            let _ = std::fs::remove_file(&pwfile);
            made?;
            let hba = "local all all trust\nhost all all all scram-sha-256\n";
            std::fs::write(pgdata.join("pg_hba.conf"), hba).map_err(|e| e.to_string())?;
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(volume.join("postgres.log"))
            .map_err(|e| e.to_string())?;
        let child = command(&how.bin.join("postgres"))
            .arg("-D")
            .arg(pgdata)
            .arg("-p")
            .arg(task.port.to_string())
            .arg("-c")
            .arg("listen_addresses=*")
            .arg("-c")
            .arg("unix_socket_directories=")
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("starting postgres: {e}"))?;
        let mut running = Running {
            task: task.clone(),
            child,
            signal: how.signal,
            kill_timeout: how.kill_timeout,
        };
        // Started: the postmaster says it accepts connections.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let status = std::fs::read_to_string(pgdata.join("postmaster.pid")).unwrap_or_default();
            if status.lines().nth(7).map(str::trim) == Some("ready") {
                break;
            }
            if let Ok(Some(exit)) = running.child.try_wait() {
                let tail = std::fs::read_to_string(volume.join("postgres.log")).unwrap_or_default();
                let last = tail.lines().rev().take(3).collect::<Vec<_>>().join(" / ");
                return Err(format!("postgres exited ({exit}): {last}"));
            }
            if Instant::now() > deadline {
                let _ = running.child.kill().await;
                return Err("postgres did not become ready".into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.started.lock().unwrap().push(task);
        self.running
            .lock()
            .unwrap()
            .insert(alloc_id.to_string(), running);
        Ok(())
    }

    async fn stop(&self, alloc_id: &str) {
        let Some(mut r) = self.running.lock().unwrap().remove(alloc_id) else {
            return;
        };
        if let Some(pid) = r.child.id() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), r.signal);
        }
        if tokio::time::timeout(r.kill_timeout, r.child.wait())
            .await
            .is_err()
        {
            let _ = r.child.kill().await;
        }
    }
}

impl Drop for PostgresTasks {
    fn drop(&mut self) {
        for (_, mut r) in std::mem::take(&mut *self.running.lock().unwrap()) {
            let _ = r.child.start_kill();
        }
    }
}
